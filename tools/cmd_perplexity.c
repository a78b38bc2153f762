/*
 * cmd_perplexity.c - `trit perplexity`: perplexity of a model on a text
 * file, measured the way llama.cpp's llama-perplexity does it:
 *
 *   - the whole file is tokenized once (no special-token parsing);
 *   - it is cut into non-overlapping windows of c tokens (the tail that does
 *     not fill a window is dropped); when the tokenizer adds BOS, the first
 *     token of each window is replaced by BOS;
 *   - each window is evaluated from an empty context, and only its second
 *     half is scored: the logits at positions c/2 .. c-2 predict the tokens
 *     at c/2+1 .. c-1 (so every scored token has at least c/2 tokens of
 *     context);
 *   - PPL = exp(mean negative log-likelihood) over all scored tokens, with
 *     the standard error of that mean carried to the PPL (delta method):
 *     PPL * sqrt(var(nll) / (count - 1)).
 *
 * The running PPL after each window goes to stdout as "[i]x.xxxx,", then
 * the line "Final estimate: PPL = x +/- y". Progress and timings go to
 * stderr.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "text/tokenizer.h"

static void usage(void) {
    printf("usage: trit perplexity -m DIR -f FILE [options]\n"
           "Perplexity of the model on a text file (llama-perplexity's method: windows of -c tokens,\n"
           "the second half of each window scored).\n"
           "  -m DIR            model folder (with its tokenizer, or give --tokenizer)\n"
           "  -f FILE           text file\n"
           "  -c N              window (context) size in tokens (default: 512, at most max_position_embeddings)\n"
           "  --chunks N        evaluate at most N windows (default: all)\n"
           "  -t N              threads (default: all CPUs)\n"
           "  -b N              batch size (default: the window size)\n"
           CLI_MODEL_OPTS_HELP
           "  --tokenizer PATH  tokenizer file or folder (default: the model folder)\n");
}

/* Reads a whole file into a malloc'ed buffer; NULL (message printed) on failure. */
static char *read_all(const char *C, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(C, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    const char *why = !buf ? "out of memory" : ferror(f) ? strerror(errno) : NULL;
    fclose(f);
    if (why) {
        cli_error(C, "reading %s failed (%s)", path, why);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* -log softmax(row)[target] for one row of vocab logits. */
static double nll_of(const float *row, int64_t vocab, int32_t target) {
    float mx = row[0];
    for (int64_t v = 1; v < vocab; v++) mx = row[v] > mx ? row[v] : mx;
    double s = 0;
    for (int64_t v = 0; v < vocab; v++) s += exp((double)row[v] - mx);
    return log(s) + mx - (double)row[target];
}

/* `trit perplexity`: see the file comment. Returns the exit code. */
int cmd_perplexity(int argc, char **argv) {
    const char *C = "perplexity", *dir = NULL, *file = NULL, *tok_path = NULL;
    cli_model_opts mo = {NULL, NULL, NULL, NULL, NULL};
    int64_t n_ctx = 0, max_chunks = -1, n_threads = 0, n_batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEXT() (i++, val)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = NEXT();
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) file = NEXT();
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if (!cli_int(C, a, NEXT(), 4, 1 << 20, &n_ctx)) return 1; }
        else if (!strcmp(a, "--chunks")) { if (!cli_int(C, a, NEXT(), 1, INT64_MAX, &max_chunks)) return 1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_int(C, a, NEXT(), 1, 1024, &n_threads)) return 1; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { if (!cli_int(C, a, NEXT(), 1, 1 << 20, &n_batch)) return 1; }
        else if (cli_model_opt(a, val, &mo)) i++;
        else if (!strcmp(a, "--tokenizer")) tok_path = NEXT();
        else return cli_error(C, "unknown option \"%s\" (see trit perplexity -h)", a);
#undef NEXT
    }
    if (!dir) return cli_error(C, "no model given; use -m DIR");
    if (!file) return cli_error(C, "no text given; use -f FILE");

    int rc = 1;
    char *text = NULL;
    tok_tokenizer *tk = NULL;
    tok_ids ids = {0};
    trit_model *m = NULL;
    trit_ctx *ctx = NULL;
    float *logits = NULL;
    trit_error err = {0};
    size_t len = 0;
    if (!(text = read_all(C, file, &len))) goto done;
    tok_load_params tp = tok_default_load_params();
    tp.regex = tok_pcre2_api();
    if (tok_load(tok_path ? tok_path : dir, &tp, &tk, &err) != TRIT_OK) {
        cli_error(C, "%s; perplexity needs the model's tokenizer (tokenizer.json or tokenizer.model)", err.msg);
        goto done;
    }
    double t0 = trit_time_s();
    if (tok_encode(tk, text, len, 0, &ids, &err) != TRIT_OK) { cli_error(C, "%s: %s", file, err.msg); goto done; }
    double t_tok = trit_time_s() - t0;
    const int32_t bos = tok_add_bos_default(tk) ? tok_bos_id(tk) : -1;

    t0 = trit_time_s();
    if (!(m = cli_load_model_opts(C, dir, &mo))) goto done;
    double t_load = trit_time_s() - t0;
    trit_model_info info;
    trit_model_get_info(m, &info);
    if (tok_n_vocab(tk) > info.vocab_size) {
        cli_error(C, "the tokenizer has %d ids but the model's vocabulary has %lld; they do not belong together",
                  (int)tok_n_vocab(tk), (long long)info.vocab_size);
        goto done;
    }
    if (n_ctx == 0) n_ctx = info.max_position < 512 ? info.max_position : 512;
    if (n_ctx > info.max_position) {
        cli_error(C, "-c %lld is more than the model's max_position_embeddings (%lld)", (long long)n_ctx,
                  (long long)info.max_position);
        goto done;
    }
    const int64_t n_tok = (int64_t)ids.n, first = n_ctx / 2, vocab = info.vocab_size;
    int64_t n_chunks = n_tok / n_ctx;
    if (n_chunks == 0) {
        cli_error(C, "%s has %lld tokens; a window of -c %lld needs at least that many (use a longer text or a "
                  "smaller -c)", file, (long long)n_tok, (long long)n_ctx);
        goto done;
    }
    if (max_chunks > 0 && n_chunks > max_chunks) n_chunks = max_chunks;
    fprintf(stderr, "trit perplexity: %s: %lld bytes, %lld tokens (tokenized in %.2f s); %lld windows of %lld tokens, "
            "scoring the last %lld of each; model loaded in %.2f s, lm_head %s\n", file, (long long)len,
            (long long)n_tok, t_tok, (long long)n_chunks, (long long)n_ctx, (long long)(n_ctx - 1 - first), t_load,
            info.lm_head_format);

    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = (int)n_threads;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch ? n_batch : n_ctx;
    if (!cli_ctx_opts(C, &mo, &cp)) goto done;
    if (trit_ctx_new(m, &cp, &ctx, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    logits = malloc((size_t)(n_ctx - first) * (size_t)vocab * sizeof(float));
    if (!logits) {
        cli_error(C, "out of memory for %lld x %lld logits", (long long)(n_ctx - first), (long long)vocab);
        goto done;
    }
    double nll = 0, nll2 = 0, t_eval = 0;
    int64_t count = 0;
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        int32_t *win = ids.ids + ch * n_ctx;
        int32_t keep = win[0];
        if (bos >= 0) win[0] = bos;
        trit_ctx_truncate(ctx, 0);
        double t1 = trit_time_s();
        /* first half: context only (no logits); second half: logits of every position */
        trit_status st = trit_decode(ctx, win, first, NULL, 0, &err);
        if (st == TRIT_OK) st = trit_decode(ctx, win + first, n_ctx - first, logits, 1, &err);
        win[0] = keep;
        if (st != TRIT_OK) { cli_error(C, "window %lld: %s", (long long)ch + 1, err.msg); goto done; }
        for (int64_t j = first; j < n_ctx - 1; j++) {
            double v = nll_of(logits + (j - first) * vocab, vocab, win[j + 1]);
            nll += v;
            nll2 += v * v;
            count++;
        }
        double dt = trit_time_s() - t1;
        t_eval += dt;
        if (ch == 0) {
            double eta = dt * (double)(n_chunks - 1);
            fprintf(stderr, "trit perplexity: %.2f s per window, ETA %.0f min %.0f s\n", dt, floor(eta / 60),
                    fmod(eta, 60));
        }
        printf("[%lld]%.4f,", (long long)ch + 1, exp(nll / (double)count));
        fflush(stdout);
    }
    double mean = nll / (double)count, var = nll2 / (double)count - mean * mean, ppl = exp(mean);
    double ppl_err = count > 1 && var > 0 ? ppl * sqrt(var / (double)(count - 1)) : 0;
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, ppl_err);
    fprintf(stderr, "trit perplexity: %lld tokens scored, %.2f s evaluating (%.1f tok/s), %d threads, kernels %s, "
            "peak RSS %.1f MiB\n", (long long)count, t_eval, (double)(n_chunks * n_ctx) / (t_eval > 0 ? t_eval : 1e-9),
            n_threads ? (int)n_threads : trit_cpu_count(), trit_isa_name(), cli_peak_rss_mib());
    rc = 0;
done:
    free(logits);
    trit_ctx_free(ctx);
    trit_model_free(m);
    tok_ids_free(&ids);
    tok_free(tk);
    free(text);
    return rc;
}
