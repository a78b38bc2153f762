/*
 * cmd_generate.c - `trit generate`: prompt processing as one batch, then
 * token-by-token generation with the KV cache and a sampler, streamed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "text/tokenizer.h"

static void usage(void) {
    printf("usage: trit generate -m DIR (-p TEXT | --ids \"1 2 3\") [options]\n"
           "  -m DIR              Hugging Face model folder (config.json + *.safetensors)\n"
           "  -p TEXT             prompt text (needs the model's tokenizer)\n"
           "  --ids \"1 2 3\"       prompt as token ids; output is then token ids\n"
           "  -n N                tokens to generate (default 128)\n"
           "  -t N                threads (default: all CPUs)\n"
           "  -c N                context size (default: prompt + n, at most max_position_embeddings)\n"
           "  -b N                prompt batch size (default 512)\n"
           "  --temp T            temperature, 0 = greedy (default 0.8)\n"
           "  --top-k K           (default 40, 0 = off)\n"
           "  --top-p P           (default 0.95, 1 = off)\n"
           "  --min-p P           (default 0.05, 0 = off)\n"
           "  --repeat-penalty R  (default 1.0 = off)\n"
           "  --repeat-last-n N   tokens the penalty looks at (default 64)\n"
           "  --seed S            sampling seed (default 0xC0FFEE)\n"
           "  --ignore-eos        keep generating after an end-of-sequence token\n"
           "  --bos / --no-bos    force / suppress the BOS token (default: as the tokenizer config says)\n"
           "  --no-special        treat special-token text in the prompt as plain text\n"
           "  --tokenizer PATH    tokenizer file or folder (default: the model folder)\n"
           CLI_MODEL_OPTS_HELP);
}

int cmd_generate(int argc, char **argv) {
    const char *C = "generate", *dir = NULL, *prompt = NULL, *ids_s = NULL;
    int64_t n_predict = 128, n_threads = 0, n_ctx = 0, n_batch = 0, v;
    int ignore_eos = 0, bos = -1, special = 1;
    const char *tok_path = NULL;
    cli_model_opts mo = {NULL, NULL, NULL, NULL, NULL};
    double f;
    trit_sampler_params sp = trit_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEXT() (i++, val)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = NEXT();
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = NEXT();
        else if (!strcmp(a, "--ids")) ids_s = NEXT();
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (!cli_int(C, a, NEXT(), 0, 1 << 24, &n_predict)) return 1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_int(C, a, NEXT(), 1, 1024, &n_threads)) return 1; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if (!cli_int(C, a, NEXT(), 1, 1 << 24, &n_ctx)) return 1; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { if (!cli_int(C, a, NEXT(), 1, 1 << 16, &n_batch)) return 1; }
        else if (!strcmp(a, "--temp")) { if (!cli_float(C, a, NEXT(), &f)) return 1; sp.temperature = (float)f; }
        else if (!strcmp(a, "--top-k")) { if (!cli_int(C, a, NEXT(), 0, 1 << 30, &v)) return 1; sp.top_k = (int)v; }
        else if (!strcmp(a, "--top-p")) { if (!cli_float(C, a, NEXT(), &f)) return 1; sp.top_p = (float)f; }
        else if (!strcmp(a, "--min-p")) { if (!cli_float(C, a, NEXT(), &f)) return 1; sp.min_p = (float)f; }
        else if (!strcmp(a, "--repeat-penalty")) { if (!cli_float(C, a, NEXT(), &f)) return 1; sp.repeat_penalty = (float)f; }
        else if (!strcmp(a, "--repeat-last-n")) { if (!cli_int(C, a, NEXT(), 0, 1 << 24, &v)) return 1; sp.repeat_last_n = (int)v; }
        else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) { if (!cli_int(C, a, NEXT(), 0, INT64_MAX, &v)) return 1; sp.seed = (uint64_t)v; }
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = 1;
        else if (!strcmp(a, "--bos")) bos = 1;
        else if (!strcmp(a, "--no-bos")) bos = 0;
        else if (!strcmp(a, "--no-special")) special = 0;
        else if (!strcmp(a, "--tokenizer")) tok_path = NEXT();
        else if (cli_model_opt(a, val, &mo)) i++;
        else return cli_error(C, "unknown option \"%s\" (see trit generate -h)", a);
#undef NEXT
    }
    if (!dir) return cli_error(C, "no model given; use -m DIR");
    if (!prompt && !ids_s) return cli_error(C, "no prompt given; use -p TEXT or --ids \"1 2 3\"");
    if (prompt && ids_s) return cli_error(C, "give either -p TEXT or --ids, not both");
    int32_t *toks = NULL;
    char eb[256];
    int64_t n_prompt;
    tok_tokenizer *tk = NULL;
    if (ids_s) {
        n_prompt = cli_parse_ids(ids_s, &toks, eb, sizeof eb);
        if (n_prompt < 0) return cli_error(C, "--ids: %s", eb);
    } else {
        trit_error terr = {0};
        tok_load_params tp = tok_default_load_params();
        tp.regex = tok_pcre2_api();
        if (tok_load(tok_path ? tok_path : dir, &tp, &tk, &terr) != TRIT_OK)
            return cli_error(C, "%s; a text prompt needs the model's tokenizer (tokenizer.json or tokenizer.model), "
                             "or pass token ids with --ids", terr.msg);
        tok_ids enc = {0};
        unsigned flags = (special ? TOK_PARSE_SPECIAL : 0u) |
                         ((bos == 1 || (bos == -1 && tok_add_bos_default(tk))) ? TOK_ADD_BOS : 0u);
        if (tok_encode(tk, prompt, strlen(prompt), flags, &enc, &terr) != TRIT_OK) {
            tok_free(tk);
            return cli_error(C, "%s", terr.msg);
        }
        toks = enc.ids;
        n_prompt = (int64_t)enc.n;
    }
    if (n_prompt == 0) { free(toks); tok_free(tk); return cli_error(C, "the prompt is empty"); }

    double t_load = trit_time_s();
    trit_model *m = cli_load_model_opts(C, dir, &mo);
    if (!m) { free(toks); tok_free(tk); return 1; }
    t_load = trit_time_s() - t_load;
    trit_model_info info;
    trit_model_get_info(m, &info);
    if (tk && tok_n_vocab(tk) > info.vocab_size) {
        cli_error(C, "the tokenizer has %d ids but the model's vocabulary has %lld; they do not belong together",
                  (int)tok_n_vocab(tk), (long long)info.vocab_size);
        free(toks);
        tok_free(tk);
        trit_model_free(m);
        return 1;
    }
    tok_decoder dec;
    tok_str piece = {0};
    if (tk) {
        tok_decoder_init(&dec, tk, 0);
        fputs(prompt, stdout);
        fflush(stdout);
    }
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = (int)n_threads;
    cp.n_batch = n_batch;
    cp.n_ctx = n_ctx ? n_ctx : n_prompt + n_predict;
    if (cp.n_ctx > info.max_position && !n_ctx) cp.n_ctx = info.max_position;
    int rc = 1;
    trit_ctx *ctx = NULL;
    trit_sampler *smp = NULL;
    float *logits = malloc((size_t)info.vocab_size * sizeof(float));
    trit_error err = {0};
    if (!logits) { cli_error(C, "out of memory"); goto done; }
    if (!cli_ctx_opts(C, &mo, &cp)) goto done;
    if (n_prompt > cp.n_ctx) {
        cli_error(C, "the prompt has %lld tokens but the context holds %lld; raise -c", (long long)n_prompt,
                  (long long)cp.n_ctx);
        goto done;
    }
    if (trit_ctx_new(m, &cp, &ctx, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    smp = trit_sampler_new(&sp, info.vocab_size);
    if (!smp) { cli_error(C, "invalid sampling parameters"); goto done; }
    for (int64_t i = 0; i < n_prompt; i++) trit_sampler_accept(smp, toks[i]);

    double t0 = trit_time_s();
    if (trit_decode(ctx, toks, n_prompt, logits, 0, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    double t_prompt = trit_time_s() - t0;
    int64_t n_gen = 0;
    t0 = trit_time_s();
    for (; n_gen < n_predict; ) {
        int32_t tok = trit_sample(smp, logits);
        trit_sampler_accept(smp, tok);
        n_gen++;
        int is_eos = 0;
        for (int e = 0; e < info.n_eos; e++) is_eos |= info.eos_ids[e] == tok;
        if (tk) {
            piece.len = 0;
            if (tok_decoder_push(&dec, tok, &piece, &err) == TRIT_OK && piece.len) fwrite(piece.s, 1, piece.len, stdout);
        } else {
            printf("%s%d", n_gen > 1 ? " " : "", tok);
        }
        fflush(stdout);
        if (is_eos && !ignore_eos) break;
        if (n_gen == n_predict) break;
        if (trit_ctx_n_past(ctx) >= cp.n_ctx) { fprintf(stderr, "\ntrit generate: context full (%lld positions)\n",
                                                        (long long)cp.n_ctx); break; }
        if (trit_decode(ctx, &tok, 1, logits, 0, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    }
    double t_gen = trit_time_s() - t0;
    if (tk) {
        piece.len = 0;
        if (tok_decoder_flush(&dec, &piece, &err) == TRIT_OK && piece.len) fwrite(piece.s, 1, piece.len, stdout);
    }
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "trit: load %.2f s | prompt %lld tokens in %.3f s (%.1f tok/s) | generated %lld tokens in %.3f s "
            "(%.1f tok/s) | %d threads, kernels %s | peak RSS %.1f MiB\n", t_load, (long long)n_prompt, t_prompt,
            n_prompt / (t_prompt > 0 ? t_prompt : 1e-9), (long long)n_gen, t_gen,
            (n_gen > 1 ? n_gen - 1 : 0) / (t_gen > 0 ? t_gen : 1e-9), cp.n_threads ? cp.n_threads : trit_cpu_count(),
            trit_isa_name(), cli_peak_rss_mib());
    rc = 0;
done:
    tok_str_free(&piece);
    tok_free(tk);
    trit_sampler_free(smp);
    trit_ctx_free(ctx);
    trit_model_free(m);
    free(logits);
    free(toks);
    return rc;
}
