/*
 * cmd_chat.c - `trit chat`: interactive multi-turn chat with the model's own
 * chat template.
 *
 * Each turn
 *   1. reads one line at the "> " prompt (stdin may be a pipe: lines are
 *      then echoed after the prompt so the transcript reads like a session);
 *   2. renders the whole conversation with the chat_template of
 *      tokenizer_config.json (or chat_template.jinja beside it, or
 *      --template FILE) and add_generation_prompt, and tokenizes it with
 *      special tokens recognised and no extra BOS (the template writes it);
 *   3. prompt caching: the ids already in the KV cache are compared with the
 *      new rendering, the cache is cut to their common prefix and only the
 *      rest is decoded;
 *   4. streams the answer until an EOS id of the model, the tokenizer's EOS,
 *      or an end-of-turn token that the template writes (<|eot_id|>,
 *      <|im_end|>, ... as tok_find finds them), -n tokens, or a full
 *      context; the answer joins the history.
 * When the rendering would not leave room in the context, the oldest
 * user/assistant exchanges are dropped (the system message stays) and the
 * conversation is rendered again; the cached prefix shrinks accordingly.
 *
 * Ctrl-C during an answer stops it and keeps what was produced; Ctrl-C at
 * the prompt, end of input or "/exit" quit; "/reset" forgets the
 * conversation and the cache. A model without a chat template gets a plain
 * "User: ...\nAssistant:" format (said on stderr).
 *
 * The SIGINT handler sets the one signal flag of this tool; nothing else is
 * global.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "io/json.h"
#include "text/template.h"
#include "text/tokenizer.h"

/* ======================================================================== */
/* Signal flag                                                               */
/* ======================================================================== */

static volatile sig_atomic_t g_interrupted; /* set by SIGINT, cleared by the turn loop */

/* Contract: SIGINT handler: only records the signal. */
static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

/* ======================================================================== */
/* State                                                                     */
/* ======================================================================== */

typedef struct {
    tpl_message *v;         /* role / content are malloc'ed */
    size_t n, cap;
} history;

typedef struct {
    /* model */
    trit_model *model;
    trit_model_info info;
    trit_ctx *ctx;
    int64_t n_ctx;
    trit_sampler *smp;
    trit_sampler_params sp;
    float *logits;
    /* text */
    tok_tokenizer *tk;
    tpl_template *tpl;      /* NULL: the plain fallback format */
    json_doc *cfg;          /* tokenizer_config.json (variables), may be NULL */
    int32_t stop[24];
    int n_stop;
    /* conversation */
    history h;
    const char *system;
    int32_t *cache;         /* ids held in the KV cache, in order */
    size_t n_cache;
    int64_t n_predict;      /* < 0: until a stop token or a full context */
    int turn;
} chat;

/* Contract: appends a message (copies of role and content); 0 or -1. */
static int hist_push(history *h, const char *role, const char *content, size_t len) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        tpl_message *v = realloc(h->v, cap * sizeof *v);
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    char *r = strdup(role), *c = malloc(len + 1);
    if (!r || !c) { free(r); free(c); return -1; }
    memcpy(c, content, len);
    c[len] = 0;
    h->v[h->n].role = r;
    h->v[h->n].content = c;
    h->n++;
    return 0;
}

/* Contract: removes messages [i, j). */
static void hist_remove(history *h, size_t i, size_t j) {
    for (size_t k = i; k < j; k++) {
        free((char *)h->v[k].role);
        free((char *)h->v[k].content);
    }
    if (j < h->n) memmove(h->v + i, h->v + j, (h->n - j) * sizeof *h->v);
    h->n -= j - i;
}

/* Contract: removes every message. */
static void hist_clear(history *h) { hist_remove(h, 0, h->n); }

/* ======================================================================== */
/* Setup                                                                     */
/* ======================================================================== */

static void usage(void) {
    printf("usage: trit chat -m DIR [options]\n"
           "  -m DIR              model folder (config.json, *.safetensors, tokenizer files)\n"
           "  --system TEXT       system message\n"
           "  -n N                most tokens per answer (default: until end of turn or full context)\n"
           "  -t N                threads (default: all CPUs)\n"
           "  -c N                context size (default: min(max_position_embeddings, 4096))\n"
           "  -b N                prompt batch size (default 512)\n"
           "  --temp T            temperature, 0 = greedy (default 0.8)\n"
           "  --top-k K           (default 40, 0 = off)\n"
           "  --top-p P           (default 0.95, 1 = off)\n"
           "  --min-p P           (default 0.05, 0 = off)\n"
           "  --repeat-penalty R  (default 1.0 = off)\n"
           "  --repeat-last-n N   tokens the penalty looks at (default 64)\n"
           "  --seed S            sampling seed (default 0xC0FFEE)\n"
           "  --tokenizer PATH    tokenizer file or folder (default: the model folder)\n"
           "  --template FILE     chat template (Jinja) to use instead of the model's\n"
           CLI_MODEL_OPTS_HELP
           "At the \"> \" prompt: a line is one user message; /reset forgets the conversation, /exit quits.\n"
           "Ctrl-C stops an answer (and keeps it); at the prompt it quits. Timings go to stderr.\n");
}

/* Contract: folder holding tokenizer_config.json: the --tokenizer path when
 * it is a folder, its parent when it is a file, else the model folder;
 * written to buf. */
static void config_dir(const char *dir, const char *tok_path, char *buf, size_t n) {
    struct stat st;
    const char *p = tok_path ? tok_path : dir;
    snprintf(buf, n, "%s", p);
    if (tok_path && stat(tok_path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(buf, '/');
        if (slash) *slash = 0;
        else snprintf(buf, n, ".");
    }
}

/* Contract: reads a whole file into a NUL-terminated malloc'ed buffer or
 * NULL (message in eb). */
static char *read_text(const char *path, size_t *len, char *eb, size_t ebn) {
    return json_read_file(path, len, eb, ebn);
}

/* Contract: loads the chat template: --template FILE, else
 * chat_template.jinja, else tokenizer_config.json's chat_template; keeps the
 * config JSON for its variables. *src receives a malloc'ed copy of the
 * template text (for the end-of-turn token search). Returns 0, or 1 after
 * printing an error. A missing template is not an error (S->tpl NULL). */
static int load_template(chat *S, const char *C, const char *cdir, const char *tpl_file, char **src) {
    char path[4096], eb[256], name[4200];
    size_t len = 0;
    *src = NULL;
    if (snprintf(path, sizeof path, "%s/tokenizer_config.json", cdir) >= (int)sizeof path)
        return cli_error(C, "the tokenizer path is too long");
    char *cfg_text = access(path, R_OK) == 0 ? read_text(path, &len, eb, sizeof eb) : NULL;
    if (cfg_text) {
        S->cfg = json_parse(cfg_text, len, eb, sizeof eb);
        free(cfg_text);
        if (!S->cfg) return cli_error(C, "%s: malformed JSON: %s", path, eb);
    }
    char *text = NULL;
    if (tpl_file) {
        if (!(text = read_text(tpl_file, &len, eb, sizeof eb))) return cli_error(C, "--template %s: %s", tpl_file, eb);
        snprintf(name, sizeof name, "%s", tpl_file);
    } else {
        if (snprintf(path, sizeof path, "%s/chat_template.jinja", cdir) < (int)sizeof path && access(path, R_OK) == 0) {
            if (!(text = read_text(path, &len, eb, sizeof eb))) return cli_error(C, "%s: %s", path, eb);
            snprintf(name, sizeof name, "%s", path);
        } else if (S->cfg) {
            const char *t = tpl_config_template(json_root(S->cfg), &len);
            if (t && (text = malloc(len + 1))) {
                memcpy(text, t, len);
                text[len] = 0;
            }
            snprintf(name, sizeof name, "%s/tokenizer_config.json chat_template", cdir);
        }
    }
    if (!text) return 0;
    trit_error err = {0};
    if (tpl_parse(name, text, len, &S->tpl, &err) != TRIT_OK) {
        free(text);
        return cli_error(C, "%s", err.msg);
    }
    *src = text;
    return 0;
}

/* Contract: collects the ids that end an answer: the model's EOS ids, the
 * tokenizer's EOS and the end-of-turn tokens the template writes. */
static void collect_stops(chat *S, const char *tpl_src) {
    static const char *const eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|eom_id|>", "<end_of_turn>",
                                      "<|end_of_turn|>", "<|endoftext|>", "</s>", "<|END_OF_TURN_TOKEN|>"};
    int32_t cand[24];
    int nc = 0;
    for (int i = 0; i < S->info.n_eos && nc < 8; i++) cand[nc++] = (int32_t)S->info.eos_ids[i];
    if (tok_eos_id(S->tk) >= 0) cand[nc++] = tok_eos_id(S->tk);
    for (size_t i = 0; tpl_src && i < sizeof eot / sizeof eot[0]; i++)
        if (strstr(tpl_src, eot[i])) {
            int32_t id = tok_find(S->tk, eot[i], strlen(eot[i]));
            if (id >= 0) cand[nc++] = id;
        }
    for (int i = 0; i < nc; i++) {
        int dup = 0;
        for (int j = 0; j < S->n_stop; j++) dup |= S->stop[j] == cand[i];
        if (!dup) S->stop[S->n_stop++] = cand[i];
    }
}

/* ======================================================================== */
/* Rendering and context fitting                                             */
/* ======================================================================== */

/* Contract: the conversation as prompt text (with the generation prompt),
 * malloc'ed into *out; 0, or -1 with the message in err. */
static int render(chat *S, char **out, size_t *len, trit_error *err) {
    if (S->tpl) {
        tpl_render_params p = tpl_default_render_params();
        p.messages = S->h.v;
        p.n_messages = S->h.n;
        p.add_generation_prompt = 1;
        p.config = S->cfg ? json_root(S->cfg) : NULL;
        return tpl_render(S->tpl, &p, out, len, err) == TRIT_OK ? 0 : -1;
    }
    json_sb b = {0}; /* fallback: "System\n\nUser: ...\nAssistant: ...\n" */
    int ok = 1;
    for (size_t i = 0; i < S->h.n && ok; i++) {
        const tpl_message *m = &S->h.v[i];
        if (!strcmp(m->role, "system")) ok = json_sb_printf(&b, "%s\n\n", m->content);
        else if (!strcmp(m->role, "user")) ok = json_sb_printf(&b, "User: %s\nAssistant:", m->content);
        else ok = json_sb_printf(&b, " %s\n", m->content);
    }
    if (!ok || !b.buf) {
        json_sb_free(&b);
        if (!ok) { snprintf(err->msg, sizeof err->msg, "out of memory"); return -1; }
        b.buf = calloc(1, 1);
        if (!b.buf) { snprintf(err->msg, sizeof err->msg, "out of memory"); return -1; }
    }
    *out = b.buf;
    *len = b.len;
    return 0;
}

/* Contract: renders and tokenizes the conversation into ids, dropping the
 * oldest user/assistant exchanges (never the system message or the newest
 * user message) until the prompt plus `reserve` tokens fit the context.
 * Returns 0, or -1 with a message in err (render error, or a prompt that
 * cannot fit). *dropped counts removed messages. */
static int build_prompt(chat *S, int64_t reserve, tok_ids *ids, int *dropped, trit_error *err) {
    *dropped = 0;
    for (;;) {
        char *text = NULL;
        size_t len = 0;
        if (render(S, &text, &len, err)) return -1;
        unsigned flags = TOK_PARSE_SPECIAL | (!S->tpl && tok_add_bos_default(S->tk) ? TOK_ADD_BOS : 0u);
        ids->n = 0;
        trit_status st = tok_encode(S->tk, text, len, flags, ids, err);
        free(text);
        if (st != TRIT_OK) return -1;
        if ((int64_t)ids->n + reserve <= S->n_ctx) return 0;
        /* drop the oldest exchange: the first non-system message up to the next user message */
        size_t i = 0;
        while (i < S->h.n && !strcmp(S->h.v[i].role, "system")) i++;
        size_t j = i + 1;
        while (j < S->h.n && strcmp(S->h.v[j].role, "user")) j++;
        if (i + 1 >= S->h.n || j >= S->h.n) { /* only the newest message is left */
            if ((int64_t)ids->n < S->n_ctx) return 0; /* fits, with less room to answer */
            snprintf(err->msg, sizeof err->msg, "the message needs %zu tokens with the template, but the context "
                     "holds %lld; raise -c or write less", ids->n, (long long)S->n_ctx);
            return -1;
        }
        *dropped += (int)(j - i);
        hist_remove(&S->h, i, j);
    }
}

/* ======================================================================== */
/* One turn                                                                  */
/* ======================================================================== */

/* Contract: 1 when id ends an answer. */
static int is_stop(const chat *S, int32_t id) {
    for (int i = 0; i < S->n_stop; i++)
        if (S->stop[i] == id) return 1;
    return 0;
}

/* Contract: appends n ids to the cache record (it has room for n_ctx). */
static void cache_push(chat *S, const int32_t *ids, size_t n) {
    memcpy(S->cache + S->n_cache, ids, n * sizeof *ids);
    S->n_cache += n;
}

/* Contract: answers the user message just added to the history: prompt
 * (cached prefix + new ids), streamed generation, history update, timings.
 * Returns 0 (also when the turn failed softly and the user may go on) or
 * -1 on a fatal model error. */
static int run_turn(chat *S, const char *C) {
    trit_error err = {0};
    tok_ids ids = {0};
    int dropped = 0;
    int64_t reserve = S->n_predict >= 0 ? (S->n_predict < S->n_ctx / 2 ? S->n_predict : S->n_ctx / 2) : S->n_ctx / 4;
    if (build_prompt(S, reserve, &ids, &dropped, &err)) {
        cli_error(C, "%s", err.msg);
        hist_remove(&S->h, S->h.n - 1, S->h.n); /* forget the message that could not be answered */
        tok_ids_free(&ids);
        return 0;
    }
    if (dropped)
        fprintf(stderr, "trit chat: the conversation outgrew the context; dropped the %d oldest message%s\n", dropped,
                dropped == 1 ? "" : "s");
    if (ids.n == 0) {
        cli_error(C, "the chat template rendered an empty prompt");
        hist_remove(&S->h, S->h.n - 1, S->h.n);
        tok_ids_free(&ids);
        return 0;
    }
    /* prompt caching: keep the common prefix, decode the rest */
    size_t keep = 0;
    while (keep < S->n_cache && keep < ids.n && S->cache[keep] == ids.ids[keep]) keep++;
    if (keep == ids.n) keep--; /* at least one id must run to get logits */
    trit_ctx_truncate(S->ctx, (int64_t)keep);
    S->n_cache = keep;
    size_t n_new = ids.n - keep;
    double t0 = trit_time_s();
    if (trit_decode(S->ctx, ids.ids + keep, (int64_t)n_new, S->logits, 0, &err) != TRIT_OK) {
        tok_ids_free(&ids);
        cli_error(C, "%s", err.msg);
        return -1;
    }
    double t_prompt = trit_time_s() - t0;
    cache_push(S, ids.ids + keep, n_new);
    for (size_t i = keep; i < ids.n; i++) trit_sampler_accept(S->smp, ids.ids[i]);

    /* generation */
    tok_decoder dec;
    tok_decoder_init(&dec, S->tk, 0);
    tok_str answer = {0}, piece = {0};
    int64_t n_gen = 0;
    const char *why = "end of turn";
    t0 = trit_time_s();
    for (;;) {
        if (g_interrupted) { why = "interrupted"; break; }
        if (S->n_predict >= 0 && n_gen >= S->n_predict) { why = "-n limit"; break; }
        int32_t tok = trit_sample(S->smp, S->logits);
        if (is_stop(S, tok)) break;
        trit_sampler_accept(S->smp, tok);
        n_gen++;
        piece.len = 0;
        if (tok_decoder_push(&dec, tok, &piece, &err) == TRIT_OK && piece.len) {
            fwrite(piece.s, 1, piece.len, stdout);
            fflush(stdout);
            size_t at = answer.len;
            char *s = realloc(answer.s, at + piece.len + 1);
            if (s) {
                memcpy(s + at, piece.s, piece.len);
                s[at + piece.len] = 0;
                answer.s = s;
                answer.len = at + piece.len;
            }
        }
        if (S->n_predict >= 0 && n_gen >= S->n_predict) { why = "-n limit"; break; }
        if ((int64_t)S->n_cache >= S->n_ctx) { why = "context full"; break; }
        if (trit_decode(S->ctx, &tok, 1, S->logits, 0, &err) != TRIT_OK) {
            tok_str_free(&answer);
            tok_str_free(&piece);
            tok_ids_free(&ids);
            cli_error(C, "%s", err.msg);
            return -1;
        }
        cache_push(S, &tok, 1);
    }
    double t_gen = trit_time_s() - t0;
    piece.len = 0;
    if (tok_decoder_flush(&dec, &piece, &err) == TRIT_OK && piece.len) {
        fwrite(piece.s, 1, piece.len, stdout);
        char *s = realloc(answer.s, answer.len + piece.len + 1);
        if (s) {
            memcpy(s + answer.len, piece.s, piece.len);
            answer.s = s;
            answer.len += piece.len;
            s[answer.len] = 0;
        }
    }
    printf("\n");
    fflush(stdout);
    if (hist_push(&S->h, "assistant", answer.s ? answer.s : "", answer.len)) cli_error(C, "out of memory");
    fprintf(stderr, "trit chat: turn %d | prompt %zu tokens (%zu cached, %zu new) in %.3f s, %.1f tok/s | "
            "answer %lld tokens in %.3f s, %.1f tok/s (%s) | context %zu/%lld\n", S->turn, ids.n, keep, n_new,
            t_prompt, n_new / (t_prompt > 0 ? t_prompt : 1e-9), (long long)n_gen, t_gen,
            n_gen / (t_gen > 0 ? t_gen : 1e-9), why, S->n_cache, (long long)S->n_ctx);
    tok_str_free(&answer);
    tok_str_free(&piece);
    tok_ids_free(&ids);
    return 0;
}

/* Contract: forgets the conversation (keeping the system message), empties
 * the KV cache and restarts the sampler, so the next turn runs as in a
 * fresh session. Returns 0, or 1 after an error. */
static int reset(chat *S, const char *C) {
    hist_clear(&S->h);
    if (S->system && hist_push(&S->h, "system", S->system, strlen(S->system))) return cli_error(C, "out of memory");
    trit_ctx_truncate(S->ctx, 0);
    S->n_cache = 0;
    trit_sampler_free(S->smp);
    S->smp = trit_sampler_new(&S->sp, S->info.vocab_size);
    if (!S->smp) return cli_error(C, "invalid sampling parameters");
    return 0;
}

/* ======================================================================== */
/* Command                                                                   */
/* ======================================================================== */

/* Contract: see cli.h. */
int cmd_chat(int argc, char **argv) {
    const char *C = "chat", *dir = NULL, *tok_path = NULL, *tpl_file = NULL;
    cli_model_opts mo = {NULL, NULL, NULL, NULL, NULL};
    int64_t n_threads = 0, n_ctx = 0, n_batch = 0, v;
    double f;
    chat S;
    memset(&S, 0, sizeof S);
    S.sp = trit_sampler_default_params();
    S.n_predict = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEXT() (i++, val)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = NEXT();
        else if (!strcmp(a, "--system")) { S.system = NEXT(); if (!S.system) return cli_error(C, "--system expects a text"); }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (!cli_int(C, a, NEXT(), -1, 1 << 24, &S.n_predict)) return 1; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_int(C, a, NEXT(), 1, 1024, &n_threads)) return 1; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if (!cli_int(C, a, NEXT(), 8, 1 << 24, &n_ctx)) return 1; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { if (!cli_int(C, a, NEXT(), 1, 1 << 16, &n_batch)) return 1; }
        else if (!strcmp(a, "--temp")) { if (!cli_float(C, a, NEXT(), &f)) return 1; S.sp.temperature = (float)f; }
        else if (!strcmp(a, "--top-k")) { if (!cli_int(C, a, NEXT(), 0, 1 << 30, &v)) return 1; S.sp.top_k = (int)v; }
        else if (!strcmp(a, "--top-p")) { if (!cli_float(C, a, NEXT(), &f)) return 1; S.sp.top_p = (float)f; }
        else if (!strcmp(a, "--min-p")) { if (!cli_float(C, a, NEXT(), &f)) return 1; S.sp.min_p = (float)f; }
        else if (!strcmp(a, "--repeat-penalty")) { if (!cli_float(C, a, NEXT(), &f)) return 1; S.sp.repeat_penalty = (float)f; }
        else if (!strcmp(a, "--repeat-last-n")) { if (!cli_int(C, a, NEXT(), 0, 1 << 24, &v)) return 1; S.sp.repeat_last_n = (int)v; }
        else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) { if (!cli_int(C, a, NEXT(), 0, INT64_MAX, &v)) return 1; S.sp.seed = (uint64_t)v; }
        else if (!strcmp(a, "--tokenizer")) tok_path = NEXT();
        else if (!strcmp(a, "--template")) tpl_file = NEXT();
        else if (cli_model_opt(a, val, &mo)) i++;
        else return cli_error(C, "unknown option \"%s\" (see trit chat -h)", a);
#undef NEXT
    }
    if (!dir) return cli_error(C, "no model given; use -m DIR");

    int rc = 1;
    char *tpl_src = NULL, *line = NULL;
    size_t line_cap = 0;
    trit_error err = {0};
    tok_load_params tp = tok_default_load_params();
    tp.regex = tok_pcre2_api();
    if (tok_load(tok_path ? tok_path : dir, &tp, &S.tk, &err) != TRIT_OK) {
        cli_error(C, "%s; chat needs the model's tokenizer (tokenizer.json or tokenizer.model)", err.msg);
        goto done;
    }
    char cdir[4096];
    config_dir(dir, tok_path, cdir, sizeof cdir);
    if (load_template(&S, C, cdir, tpl_file, &tpl_src)) goto done;
    if (!(S.model = cli_load_model_opts(C, dir, &mo))) goto done;
    trit_model_get_info(S.model, &S.info);
    if (tok_n_vocab(S.tk) > S.info.vocab_size) {
        cli_error(C, "the tokenizer has %d ids but the model's vocabulary has %lld; they do not belong together",
                  (int)tok_n_vocab(S.tk), (long long)S.info.vocab_size);
        goto done;
    }
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = (int)n_threads;
    cp.n_batch = n_batch;
    cp.n_ctx = n_ctx;
    if (!cli_ctx_opts(C, &mo, &cp)) goto done;
    if (trit_ctx_new(S.model, &cp, &S.ctx, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    S.n_ctx = n_ctx ? n_ctx : (S.info.max_position < 4096 ? S.info.max_position : 4096);
    S.logits = malloc((size_t)S.info.vocab_size * sizeof(float));
    S.cache = malloc((size_t)S.n_ctx * sizeof(int32_t));
    if (!S.logits || !S.cache) { cli_error(C, "out of memory"); goto done; }
    collect_stops(&S, tpl_src);
    if (reset(&S, C)) goto done;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C interrupts a read at the prompt */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    int tty = isatty(0);
    if (!S.tpl)
        fprintf(stderr, "trit chat: %s has no chat_template; using a plain \"User: ...\\nAssistant:\" format\n", cdir);
    fprintf(stderr, "trit chat: context %lld tokens, %d stop ids, %s. /reset forgets, /exit quits, Ctrl-C stops an "
            "answer.\n", (long long)S.n_ctx, S.n_stop, S.tpl ? "model chat template" : "plain format");
    for (;;) {
        g_interrupted = 0;
        printf("> ");
        fflush(stdout);
        errno = 0;
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) { /* end of input, or Ctrl-C at the prompt */
            printf("\n");
            rc = 0;
            break;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (!tty) { printf("%s\n", line); fflush(stdout); }
        if (got == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) { rc = 0; break; }
        if (!strcmp(line, "/reset")) {
            if (reset(&S, C)) break;
            fprintf(stderr, "trit chat: conversation reset\n");
            continue;
        }
        if (hist_push(&S.h, "user", line, (size_t)got)) { cli_error(C, "out of memory"); break; }
        S.turn++;
        if (run_turn(&S, C)) break;
        if (g_interrupted) fprintf(stderr, "trit chat: answer stopped (Ctrl-C); it stays in the conversation\n");
    }
    signal(SIGINT, SIG_DFL);
done:
    free(line);
    free(tpl_src);
    hist_clear(&S.h);
    free(S.h.v);
    free(S.cache);
    free(S.logits);
    trit_sampler_free(S.smp);
    trit_ctx_free(S.ctx);
    trit_model_free(S.model);
    tpl_free(S.tpl);
    json_free(S.cfg);
    tok_free(S.tk);
    return rc;
}
