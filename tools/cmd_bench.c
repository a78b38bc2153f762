/*
 * cmd_bench.c - `trit bench`: prompt processing (pp) and generation (tg)
 * speed of a model, in the manner of llama-bench.
 *
 * Every repetition starts from an empty KV cache of one context (as
 * llama-bench clears its context's memory between repetitions):
 *   pp: one trit_decode call on p random token ids (logits of the last row);
 *   tg: then n tokens one at a time, each the argmax of the previous logits.
 * One warm-up repetition (the full prompt and one generated token, which
 * touches every weight, the activation buffers and the KV cache, and starts
 * the thread pool) runs first and is not counted. With --fresh-ctx each
 * repetition makes a new context instead, so that the first touch of its
 * buffers (page faults) is part of every repetition, as for a program's first
 * prompt. Results are mean +/- sample standard deviation over the -r
 * repetitions; the effective bandwidth of tg is the model's compute weight
 * bytes (trit_model_info.weight_bytes) times generated tokens/s.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "io/json.h"

/* Prints the options of `trit bench` to stdout. */
static void usage(void) {
    printf("usage: trit bench -m DIR [-p 128] [-n 64] [-t N] [-r 3] [--lm-head F] [--profile] [--json]\n"
           "Measures prompt processing (pp) and generation (tg) tokens/s, like llama-bench.\n"
           "  -m DIR        model folder (e.g. one made by `trit synth --shape 2b4t -o DIR`)\n"
           "  -p N          prompt tokens, processed by one decode call (default 128; 0 skips pp)\n"
           "  -n N          tokens generated one at a time after the prompt (default 64; 0 skips tg)\n"
           "  -t N          threads (default: all CPUs)\n"
           "  -r N          repetitions after one warm-up (default 3)\n"
           "  --no-warmup   skip the warm-up repetition\n"
           "  --fresh-ctx   a new context per repetition (its first page faults counted, as for a\n"
           "                program's first prompt); by default one context, emptied between reps\n"
           "  --seed S      seed of the random prompt ids (default 1)\n"
           CLI_MODEL_OPTS_HELP
           "  --profile     also print where the time goes: each step of the forward pass, per\n"
           "                prompt and per generated token\n"
           "  --json        also print the results as one JSON object on the last line of stdout\n"
           "Each repetition starts from an empty KV cache; pp and tg are reported as mean +/- sd.\n");
}

/* splitmix64 step: advances *s and returns 64 well-mixed bits. */
static uint64_t bench_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Index of the largest of v[0..n) (the first on ties; NaN never wins). */
static int32_t bench_argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best] || (v[best] != v[best] && v[i] == v[i])) best = i;
    return (int32_t)best;
}

/* Number of non-finite values in v[0..n). */
static int64_t bench_nonfinite(const float *v, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += !isfinite(v[i]);
    return k;
}

typedef struct {
    trit_model *m;
    trit_ctx_params cp;
    int64_t vocab, n_prompt, n_gen;
    float *logits;
    int32_t *ids;
    uint64_t rng;
    int64_t nonfinite;          /* non-finite logits seen (summed over reps) */
    int counting;               /* 0 during the warm-up                     */
    trit_profile prof_pp, prof_tg; /* summed over the counted reps          */
    trit_ctx *ctx;              /* the context reused by the repetitions    */
    int fresh;                  /* --fresh-ctx: a new context per repetition */
    double t_pp, t_tg;          /* their wall time                          */
} bench_run;

/* acc += p, step by step. */
static void bench_prof_add(trit_profile *acc, const trit_profile *p) {
    for (int i = 0; i < TRIT_PROF_N; i++) {
        acc->seconds[i] += p->seconds[i];
        acc->calls[i] += p->calls[i];
    }
}

/* Prints where the time of a phase went: per unit (a prompt or a token) and
 * as a share of the phase's wall time, whose rest is outside the forward
 * pass (argmax of the logits, context set-up). */
static void bench_prof_print(const char *title, const trit_profile *p, double wall, double units, const char *unit) {
    if (wall <= 0 || units <= 0) return;
    printf("\nprofile, %s (wall time per %s, share of the phase):\n", title, unit);
    double sum = 0;
    for (int i = 0; i < TRIT_PROF_N; i++) {
        printf("  %-36s %9.3f ms %6.1f%%\n", trit_profile_step_name(i), 1e3 * p->seconds[i] / units,
               100.0 * p->seconds[i] / wall);
        sum += p->seconds[i];
    }
    printf("  %-36s %9.3f ms %6.1f%%\n", "outside the forward pass", 1e3 * (wall - sum) / units,
           100.0 * (wall - sum) / wall);
}

/* One repetition from an empty KV cache (of b->ctx, made on first use, or of
 * a new context with b->fresh): pp on n_prompt random ids, then n_gen greedy
 * single-token steps. Stores the seconds taken in *t_pp and *t_gen. Returns 0
 * on success, else prints the error and returns 1. */
static int bench_rep(bench_run *b, int64_t n_gen, double *t_pp, double *t_gen) {
    const char *C = "bench";
    trit_error err = {0};
    *t_pp = *t_gen = 0;
    if (b->fresh) {
        trit_ctx_free(b->ctx);
        b->ctx = NULL;
    }
    if (!b->ctx && trit_ctx_new(b->m, &b->cp, &b->ctx, &err) != TRIT_OK) return cli_error(C, "%s", err.msg);
    trit_ctx *ctx = b->ctx;
    trit_ctx_truncate(ctx, 0);
    trit_ctx_reset_profile(ctx);
    for (int64_t i = 0; i < b->n_prompt; i++) b->ids[i] = (int32_t)(bench_rand(&b->rng) % (uint64_t)b->vocab);
    int32_t tok = (int32_t)(bench_rand(&b->rng) % (uint64_t)b->vocab);
    if (b->n_prompt > 0) {
        double t0 = trit_time_s();
        if (trit_decode(ctx, b->ids, b->n_prompt, b->logits, 0, &err) != TRIT_OK) goto fail;
        *t_pp = trit_time_s() - t0;
        trit_profile p;
        trit_ctx_get_profile(ctx, &p);
        if (b->counting) bench_prof_add(&b->prof_pp, &p), b->t_pp += *t_pp;
        trit_ctx_reset_profile(ctx);
        b->nonfinite += bench_nonfinite(b->logits, b->vocab);
        tok = bench_argmax(b->logits, b->vocab);
    }
    double t0 = trit_time_s();
    for (int64_t i = 0; i < n_gen; i++) {
        if (trit_decode(ctx, &tok, 1, b->logits, 0, &err) != TRIT_OK) goto fail;
        tok = bench_argmax(b->logits, b->vocab);
    }
    *t_gen = trit_time_s() - t0;
    if (b->counting && n_gen > 0) {
        trit_profile p;
        trit_ctx_get_profile(ctx, &p);
        bench_prof_add(&b->prof_tg, &p);
        b->t_tg += *t_gen;
    }
    if (n_gen > 0) b->nonfinite += bench_nonfinite(b->logits, b->vocab);
    return 0;
fail:
    return cli_error(C, "%s", err.msg);
}

/* Mean and sample standard deviation (0 for fewer than 2 values) of v[0..n). */
static void bench_stats(const double *v, int64_t n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    *mean = n ? s / (double)n : 0;
    for (int64_t i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (double)(n - 1)) : 0;
}

/* Appends ",\"key\":value" to b, writing 0 for a non-finite value (JSON has
 * no NaN/Inf); returns 0 on allocation failure. */
static int bench_jnum(json_sb *b, const char *key, double v) {
    return json_sb_printf(b, ",\"%s\":%.6g", key, isfinite(v) ? v : 0.0);
}

/* Appends ",\"key\":[v0,v1,...]" to b; returns 0 on allocation failure. */
static int bench_jarr(json_sb *b, const char *key, const double *v, int64_t n) {
    int ok = json_sb_printf(b, ",\"%s\":[", key);
    for (int64_t i = 0; ok && i < n; i++) ok = json_sb_printf(b, i ? ",%.6g" : "%.6g", isfinite(v[i]) ? v[i] : 0.0);
    return ok && json_sb_puts(b, "]");
}

/* Short name of a model folder for the table: its last path component. */
static const char *bench_short_name(const char *dir, char *buf, size_t len) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(buf, len, "%.*s", (int)(n - s), dir + s);
    return buf;
}

/* `trit bench`: see the file comment and usage(). Returns the exit code: 0
 * on success, 1 after printing an error (bad option, model that does not
 * load, context that cannot be made, failed decode). */
int cmd_bench(int argc, char **argv) {
    const char *C = "bench", *dir = NULL;
    cli_model_opts mo = {NULL, NULL, NULL, NULL, NULL};
    int64_t n_prompt = 128, n_gen = 64, n_threads = 0, reps = 3, seed = 1;
    int json = 0, warmup = 1, profile = 0, fresh = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!val) return cli_error(C, "-m needs a folder");
            dir = val;
            i++;
        }
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { if (!cli_int(C, a, val, 0, 1 << 16, &n_prompt)) return 1; i++; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { if (!cli_int(C, a, val, 0, 1 << 20, &n_gen)) return 1; i++; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_int(C, a, val, 1, 1024, &n_threads)) return 1; i++; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) { if (!cli_int(C, a, val, 1, 1000, &reps)) return 1; i++; }
        else if (!strcmp(a, "--seed")) { if (!cli_int(C, a, val, 0, INT64_MAX, &seed)) return 1; i++; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--profile")) profile = 1;
        else if (cli_model_opt(a, val, &mo)) i++;
        else if (!strcmp(a, "--no-warmup")) warmup = 0;
        else if (!strcmp(a, "--fresh-ctx")) fresh = 1;
        else return cli_error(C, "unknown option \"%s\" (see trit bench -h)", a);
    }
    if (!dir) return cli_error(C, "no model given; use -m DIR (make one with `trit synth --shape 2b4t -o DIR`)");
    if (n_prompt == 0 && n_gen == 0) return cli_error(C, "nothing to measure: -p and -n are both 0");

    double t_load = trit_time_s();
    trit_model *m = cli_load_model_opts(C, dir, &mo);
    if (!m) return 1;
    t_load = trit_time_s() - t_load;
    trit_model_info info;
    trit_model_get_info(m, &info);

    int rc = 1;
    bench_run b = {0};
    double *pp = NULL, *tg = NULL;
    json_sb js = {0};
    int64_t n_ctx = n_prompt + n_gen + 1;
    if (n_ctx > info.max_position) {
        cli_error(C, "-p %lld + -n %lld needs %lld positions but the model has max_position_embeddings %lld",
                  (long long)n_prompt, (long long)n_gen, (long long)n_ctx, (long long)info.max_position);
        goto done;
    }
    b.m = m;
    b.fresh = fresh;
    b.cp = trit_ctx_default_params();
    b.cp.n_threads = (int)n_threads;
    b.cp.n_ctx = n_ctx;
    b.cp.n_batch = n_prompt > 0 ? n_prompt : 1; /* the prompt is one matrix */
    if (!cli_ctx_opts(C, &mo, &b.cp)) goto done;
    b.vocab = info.vocab_size;
    b.n_prompt = n_prompt;
    b.n_gen = n_gen;
    b.rng = (uint64_t)seed;
    b.logits = malloc((size_t)info.vocab_size * sizeof(float));
    b.ids = malloc((size_t)(n_prompt > 0 ? n_prompt : 1) * sizeof(int32_t));
    pp = calloc((size_t)reps, sizeof *pp);
    tg = calloc((size_t)reps, sizeof *tg);
    if (!b.logits || !b.ids || !pp || !tg) {
        cli_error(C, "out of memory");
        goto done;
    }
    int threads = n_threads > 0 ? (int)n_threads : trit_cpu_count();
    fprintf(stderr, "trit bench: %s, %s, %d threads, kernels %s, load %.2f s\n", dir, info.weight_format, threads,
            trit_isa_name(), t_load);
    double tp, tgen;
    if (warmup) {
        if (bench_rep(&b, n_gen > 0 ? 1 : 0, &tp, &tgen)) goto done;
        fprintf(stderr, "  warm-up done (%.2f s)\n", tp + tgen);
    }
    b.counting = 1;
    for (int64_t r = 0; r < reps; r++) {
        if (bench_rep(&b, n_gen, &tp, &tgen)) goto done;
        pp[r] = n_prompt > 0 ? (double)n_prompt / (tp > 0 ? tp : 1e-9) : 0;
        tg[r] = n_gen > 0 ? (double)n_gen / (tgen > 0 ? tgen : 1e-9) : 0;
        fprintf(stderr, "  rep %lld/%lld: pp%lld %.2f t/s, tg%lld %.2f t/s\n", (long long)r + 1, (long long)reps,
                (long long)n_prompt, pp[r], (long long)n_gen, tg[r]);
    }
    if (b.nonfinite)
        fprintf(stderr, "trit bench: warning: %lld non-finite logits seen; the model's weights may be broken\n",
                (long long)b.nonfinite);
    double pp_m, pp_sd, tg_m, tg_sd;
    bench_stats(pp, reps, &pp_m, &pp_sd);
    bench_stats(tg, reps, &tg_m, &tg_sd);
    double gbs = (double)info.weight_bytes * tg_m / 1e9, rss = cli_peak_rss_mib(), huge = cli_huge_page_share();
    double kv_mib = (double)trit_model_kv_bytes(m, n_ctx, b.cp.type_k, b.cp.type_v) / 1048576.0;
    double wmib = (double)info.weight_bytes / 1048576.0, fmib = (double)info.file_bytes / 1048576.0;

    char name[256], size[32], params[32], test[32];
    bench_short_name(dir, name, sizeof name);
    if (info.weight_bytes >= ((int64_t)1 << 30)) snprintf(size, sizeof size, "%.2f GiB", wmib / 1024.0);
    else snprintf(size, sizeof size, "%.2f MiB", wmib);
    if (info.n_params >= 1000000000) snprintf(params, sizeof params, "%.2f B", (double)info.n_params / 1e9);
    else snprintf(params, sizeof params, "%.2f M", (double)info.n_params / 1e6);
    printf("| %-20s | %10s | %8s | %-7s | %7s | %7s | %20s |\n", "model", "size", "params", "isa", "threads", "test",
           "t/s");
    printf("| -------------------- | ---------: | -------: | ------- | ------: | ------- | -------------------: |\n");
    if (n_prompt > 0) {
        snprintf(test, sizeof test, "pp%lld", (long long)n_prompt);
        printf("| %-20.20s | %10s | %8s | %-7s | %7d | %7s | %11.2f ± %6.2f |\n", name, size, params, trit_isa_name(),
               threads, test, pp_m, pp_sd);
    }
    if (n_gen > 0) {
        snprintf(test, sizeof test, "tg%lld", (long long)n_gen);
        printf("| %-20.20s | %10s | %8s | %-7s | %7d | %7s | %11.2f ± %6.2f |\n", name, size, params, trit_isa_name(),
               threads, test, tg_m, tg_sd);
    }
    printf("\n%s: %s, lm_head %s, load %.3f s, weights %.1f MiB (files %.1f MiB), KV cache %.1f MiB for %lld positions\n", name,
           info.weight_format, info.lm_head_format, t_load, wmib, fmib, kv_mib, (long long)n_ctx);
    if (n_gen > 0) printf("tg effective bandwidth: %.2f GB/s (weight bytes x tokens/s)\n", gbs);
    printf("peak RSS: %.1f MiB (%.2fx weights + KV cache)\n", rss, rss / (wmib + kv_mib));
    if (huge >= 0) printf("resident memory in 2 MiB pages: %.0f%%\n", 100.0 * huge);
    if (profile) {
        char t[64];
        snprintf(t, sizeof t, "prompt (pp%lld)", (long long)n_prompt);
        bench_prof_print(t, &b.prof_pp, b.t_pp, (double)reps, "prompt");
        snprintf(t, sizeof t, "generation (tg%lld)", (long long)n_gen);
        bench_prof_print(t, &b.prof_tg, b.t_tg, (double)(reps * n_gen), "token");
    }

    if (json) {
        int ok = json_sb_puts(&js, "{\"model\":") && json_sb_quote(&js, dir, strlen(dir)) &&
                 json_sb_puts(&js, ",\"lm_head\":") &&
                 json_sb_quote(&js, info.lm_head_format, strlen(info.lm_head_format)) &&
                 json_sb_puts(&js, ",\"weight_format\":") &&
                 json_sb_quote(&js, info.weight_format, strlen(info.weight_format)) &&
                 json_sb_printf(&js, ",\"arch\":\"%s\",\"isa\":\"%s\",\"threads\":%d,"
                                "\"n_prompt\":%lld,\"n_gen\":%lld,\"reps\":%lld,\"n_params\":%lld",
                                info.arch, trit_isa_name(), threads, (long long)n_prompt,
                                (long long)n_gen, (long long)reps, (long long)info.n_params) &&
                 bench_jnum(&js, "load_s", t_load) && bench_jnum(&js, "weight_mib", wmib) &&
                 bench_jnum(&js, "file_mib", fmib) && bench_jnum(&js, "kv_mib", kv_mib) &&
                 bench_jnum(&js, "pp_tok_s", pp_m) && bench_jnum(&js, "pp_sd", pp_sd) &&
                 bench_jnum(&js, "tg_tok_s", tg_m) && bench_jnum(&js, "tg_sd", tg_sd) &&
                 bench_jnum(&js, "tg_gb_s", gbs) && bench_jnum(&js, "peak_rss_mib", rss) &&
                 bench_jnum(&js, "huge_page_share", huge) &&
                 bench_jarr(&js, "pp_samples", pp, reps) && bench_jarr(&js, "tg_samples", tg, reps) &&
                 json_sb_printf(&js, ",\"nonfinite_logits\":%lld}", (long long)b.nonfinite);
        if (!ok) {
            cli_error(C, "out of memory");
            goto done;
        }
        printf("%s\n", js.buf);
    }
    fflush(stdout);
    rc = 0;
done:
    json_sb_free(&js);
    free(pp);
    free(tg);
    free(b.logits);
    free(b.ids);
    trit_ctx_free(b.ctx);
    trit_model_free(m);
    return rc;
}
