/*
 * test_models.c - parity of trit with Hugging Face transformers on the
 * reference checkpoints in tests/fixtures/models (made by
 * scripts/make_model_fixtures.py with transformers itself).
 *
 * For every checkpoint and case: max |logit diff| <= 1e-3 * max |ref logit|,
 * and greedy generation with the KV cache gives the same tokens as
 * transformers' generate(). Also: chunked / token-by-token prompt processing
 * and different thread counts give the same logits, and the wrong
 * weight_scale rule (multiplying) is caught.
 */
#include <stdint.h>
#include "tt.h"
#include "trit.h"
#include "io/json.h"

#define REL_TOL 1e-3

static const char *MODELS[] = {"bitnet_tied_gqa", "bitnet_untied", "bitnet_online_bf16", "llama_packed"};
#define N_MODELS (sizeof MODELS / sizeof MODELS[0])

typedef struct {
    json_doc *doc;
    const json_value *root;
    float *logits;
    size_t n_logits;
} reference;

/* Loads reference.json + logits.f32 of a fixture model; 0 on failure. */
static int load_ref(const char *model, reference *r) {
    char path[512], eb[256];
    size_t len;
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, TT_FIXTURES "/models/%s/reference/reference.json", model);
    char *text = json_read_file(path, &len, eb, sizeof eb);
    CHECK(text != NULL, "%s", eb);
    if (!text) return 0;
    r->doc = json_parse(text, len, eb, sizeof eb);
    free(text);
    CHECK(r->doc != NULL, "%s: %s", path, eb);
    if (!r->doc) return 0;
    r->root = json_root(r->doc);
    snprintf(path, sizeof path, TT_FIXTURES "/models/%s/reference/logits.f32", model);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    r->n_logits = (size_t)sz / 4;
    r->logits = malloc((size_t)sz);
    size_t got = fread(r->logits, 4, r->n_logits, f);
    fclose(f);
    CHECK(got == r->n_logits, "short read of %s", path);
    return got == r->n_logits;
}

static void free_ref(reference *r) {
    json_free(r->doc);
    free(r->logits);
}

static int32_t *ids_of(const json_value *arr, int64_t *n) {
    *n = (int64_t)json_len(arr);
    int32_t *ids = malloc((size_t)(*n ? *n : 1) * sizeof *ids);
    for (int64_t i = 0; i < *n; i++) {
        int64_t v = -1;
        json_int(json_at(arr, (size_t)i), &v);
        ids[i] = (int32_t)v;
    }
    return ids;
}

static trit_model *load_model_wf(const char *name, int multiply, int weights_format) {
    char dir[512];
    snprintf(dir, sizeof dir, TT_FIXTURES "/models/%s", name);
    trit_model_params mp = trit_model_default_params();
    mp.weight_scale_multiply = multiply;
    mp.weights_format = weights_format;
    trit_model *m = NULL;
    trit_error err = {0};
    trit_status st = trit_model_load(dir, &mp, &m, &err);
    CHECK(st == TRIT_OK, "loading %s: %s", dir, err.msg);
    return m;
}

static trit_model *load_model(const char *name, int multiply) {
    return load_model_wf(name, multiply, trit_model_default_params().weights_format);
}

/* Logits of all positions of ids, fed in chunks of `chunk` tokens with
 * n_batch `batch` and `threads` threads. Caller frees. */
static float *run_logits_kv(trit_model *m, const int32_t *ids, int64_t n, int64_t chunk, int64_t batch, int threads,
                            int type_k, int type_v) {
    trit_model_info info;
    trit_model_get_info(m, &info);
    trit_ctx_params cp = trit_ctx_default_params();
    cp.type_k = type_k;
    cp.type_v = type_v;
    cp.n_threads = threads;
    cp.n_ctx = n;
    cp.n_batch = batch;
    trit_ctx *c = NULL;
    trit_error err = {0};
    CHECK(trit_ctx_new(m, &cp, &c, &err) == TRIT_OK, "%s", err.msg);
    if (!c) return NULL;
    float *out = calloc((size_t)(n * info.vocab_size), sizeof(float));
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t k = n - i < chunk ? n - i : chunk;
        trit_status st = trit_decode(c, ids + i, k, out + i * info.vocab_size, 1, &err);
        CHECK(st == TRIT_OK, "%s", err.msg);
    }
    trit_ctx_free(c);
    return out;
}

static float *run_logits(trit_model *m, const int32_t *ids, int64_t n, int64_t chunk, int64_t batch, int threads) {
    return run_logits_kv(m, ids, n, chunk, batch, threads, TRIT_KV_F32, TRIT_KV_F32);
}

/* max |a-b| over n values */
static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (!(x <= d)) d = x; /* NaN propagates as failure */
    }
    return d;
}

static double worst_rel = 0;

/* ==== tests ==== */

static void test_logits_match_transformers(void) {
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        reference r;
        if (!load_ref(MODELS[mi], &r)) continue;
        trit_model *m = load_model(MODELS[mi], 0);
        const json_value *cases = json_get(r.root, "cases");
        for (size_t ci = 0; m && ci < json_len(cases); ci++) {
            const json_value *c = json_at(cases, ci);
            if (json_get_bool(c, "alternative", 0)) continue;
            int64_t n, off = json_get_int(c, "offset", 0), vocab = json_get_int(c, "vocab", 0);
            int32_t *ids = ids_of(json_get(c, "ids"), &n);
            float *got = run_logits(m, ids, n, n, 512, 2);
            double maxref = json_get_num(c, "max_abs_logit", 1);
            double d = got ? max_diff(got, r.logits + off, (size_t)(n * vocab)) : INFINITY;
            double rel = d / maxref;
            if (rel > worst_rel) worst_rel = rel;
            CHECK(rel <= REL_TOL, "%s %s: max |diff| %.3g = %.3g of max |logit|", MODELS[mi],
                  json_get_str(c, "name", "?"), d, rel);
            printf("  %-20s %-12s max|diff| %.2e  (%.2e of max|logit|)\n", MODELS[mi], json_get_str(c, "name", "?"),
                   d, rel);
            free(got);
            free(ids);
        }
        trit_model_free(m);
        free_ref(&r);
    }
}

/* Token-by-token decoding (1 token per call: the path where every thread
 * makes a linear's input itself, the SIMD attention over the cache) and
 * chunks of 3 give transformers' logits at every position of the longest
 * case, with 1, 2 and 3 threads. */
static void test_decode_matches_transformers(void) {
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        reference r;
        if (!load_ref(MODELS[mi], &r)) continue;
        trit_model *m = load_model(MODELS[mi], 0);
        const json_value *cases = json_get(r.root, "cases");
        for (size_t ci = 0; m && ci < json_len(cases); ci++) {
            const json_value *c = json_at(cases, ci);
            if (json_get_bool(c, "alternative", 0) || json_len(json_get(c, "ids")) < 32) continue;
            int64_t n, off = json_get_int(c, "offset", 0), vocab = json_get_int(c, "vocab", 0);
            int32_t *ids = ids_of(json_get(c, "ids"), &n);
            double maxref = json_get_num(c, "max_abs_logit", 1);
            for (int v = 0; v < 3; v++) {
                int64_t chunk = v == 2 ? 3 : 1;
                int threads = v == 0 ? 1 : v == 1 ? 2 : 3;
                float *got = run_logits(m, ids, n, chunk, 512, threads);
                double d = got ? max_diff(got, r.logits + off, (size_t)(n * vocab)) : INFINITY;
                CHECK(d / maxref <= REL_TOL, "%s %s chunk %lld, %d threads: max |diff| %.3g of max |logit|", MODELS[mi],
                      json_get_str(c, "name", "?"), (long long)chunk, threads, d / maxref);
                if (d / maxref > worst_rel) worst_rel = d / maxref;
                free(got);
            }
            free(ids);
        }
        trit_model_free(m);
        free_ref(&r);
    }
}

static void test_greedy_matches_transformers(void) {
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        reference r;
        if (!load_ref(MODELS[mi], &r)) continue;
        trit_model *m = load_model(MODELS[mi], 0);
        const json_value *g = json_at(json_get(r.root, "greedy"), 0);
        int64_t np, nw;
        int32_t *prompt = ids_of(json_get(g, "prompt"), &np);
        int32_t *want = ids_of(json_get(g, "output"), &nw);
        int64_t max_new = json_get_int(g, "max_new", 0);
        trit_model_info info;
        trit_model_get_info(m, &info);
        trit_ctx_params cp = trit_ctx_default_params();
        cp.n_threads = 2;
        cp.n_ctx = np + max_new;
        trit_ctx *c = NULL;
        trit_error err = {0};
        CHECK(trit_ctx_new(m, &cp, &c, &err) == TRIT_OK, "%s", err.msg);
        float *logits = malloc((size_t)info.vocab_size * sizeof(float));
        trit_sampler_params sp = trit_sampler_default_params();
        sp.temperature = 0;
        trit_sampler *s = trit_sampler_new(&sp, info.vocab_size);
        int64_t n = 0;
        int32_t got[256];
        CHECK(trit_decode(c, prompt, np, logits, 0, &err) == TRIT_OK, "%s", err.msg);
        while (n < max_new) {
            int32_t t = trit_sample(s, logits);
            got[n++] = t;
            int eos = 0;
            for (int e = 0; e < info.n_eos; e++) eos |= info.eos_ids[e] == t;
            if (eos || n == max_new) break;
            CHECK(trit_decode(c, &t, 1, logits, 0, &err) == TRIT_OK, "%s", err.msg);
        }
        CHECK(n == nw, "%s: generated %lld tokens, transformers %lld", MODELS[mi], (long long)n, (long long)nw);
        for (int64_t i = 0; i < n && i < nw; i++)
            CHECK(got[i] == want[i], "%s: token %lld is %d, transformers gives %d", MODELS[mi], (long long)i, got[i],
                  want[i]);
        trit_sampler_free(s);
        free(logits);
        trit_ctx_free(c);
        trit_model_free(m);
        free(prompt);
        free(want);
        free_ref(&r);
    }
}

/* The packed weight_scale divides. Multiplying (what AutoBitLinear does with
 * the official config) must give clearly different logits, and trit's debug
 * multiply mode must reproduce transformers' AutoBitLinear output. */
static void test_scale_rule_is_checked(void) {
    reference r;
    if (!load_ref("bitnet_tied_gqa", &r)) return;
    trit_model *div = load_model("bitnet_tied_gqa", 0), *mul = load_model("bitnet_tied_gqa", 1);
    const json_value *cases = json_get(r.root, "cases");
    int seen_alt = 0;
    for (size_t ci = 0; div && mul && ci < json_len(cases); ci++) {
        const json_value *c = json_at(cases, ci);
        int64_t n, off = json_get_int(c, "offset", 0), vocab = json_get_int(c, "vocab", 0);
        double maxref = json_get_num(c, "max_abs_logit", 1);
        int32_t *ids = ids_of(json_get(c, "ids"), &n);
        float *a = run_logits(div, ids, n, n, 512, 1), *b = run_logits(mul, ids, n, n, 512, 1);
        double dd = max_diff(a, r.logits + off, (size_t)(n * vocab)) / maxref;
        double dm = max_diff(b, r.logits + off, (size_t)(n * vocab)) / maxref;
        if (json_get_bool(c, "alternative", 0)) {
            seen_alt = 1; /* reference made by AutoBitLinear, which multiplies */
            CHECK(dm <= REL_TOL, "multiply mode vs transformers AutoBitLinear: %.3g", dm);
            CHECK(dd > 100 * REL_TOL, "divide rule should differ from AutoBitLinear: %.3g", dd);
        } else {
            CHECK(dd <= REL_TOL, "divide rule: %.3g", dd);
            CHECK(dm > 100 * REL_TOL, "the wrong (multiply) rule went unnoticed: %.3g", dm);
        }
        free(a);
        free(b);
        free(ids);
    }
    CHECK(seen_alt, "fixture lacks the multiply_rule case");
    trit_model_free(div);
    trit_model_free(mul);
    free_ref(&r);
}

/* Prompt processing in chunks, token by token, small batches, 1..3 threads:
 * all give the same logits as one batch (bit-identical for the ternary part;
 * tiny float differences allowed). */
static void test_chunking_and_threads_agree(void) {
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        trit_model *m = load_model(MODELS[mi], 0);
        if (!m) continue;
        trit_model_info info;
        trit_model_get_info(m, &info);
        int32_t ids[37];
        for (int i = 0; i < 37; i++) ids[i] = (int32_t)((i * 7919 + 13) % info.vocab_size);
        float *base = run_logits(m, ids, 37, 37, 512, 1);
        struct { int64_t chunk, batch; int threads; } v[] = {{1, 512, 1}, {5, 512, 2}, {37, 4, 3}, {37, 37, 2}, {11, 3, 2}};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
            float *o = run_logits(m, ids, 37, v[k].chunk, v[k].batch, v[k].threads);
            double d = max_diff(base, o, (size_t)(37 * info.vocab_size));
            CHECK(d <= 1e-4, "%s: chunk %lld batch %lld threads %d differs by %.3g", MODELS[mi], (long long)v[k].chunk,
                  (long long)v[k].batch, v[k].threads, d);
            free(o);
        }
        free(base);
        trit_model_free(m);
    }
}

/* Every weights format (repacked 2-bit, 1.6-bit, lookup-table, as stored)
 * gives bit-identical logits, token by token (GEMV) and in one batch (GEMM),
 * with 1 and 2 threads. */
static void test_weights_formats_identical(void) {
    const int fmts[] = {TRIT_WEIGHTS_2BIT, TRIT_WEIGHTS_1P6BIT, TRIT_WEIGHTS_LUT, TRIT_WEIGHTS_AUTO};
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        trit_model *s = load_model_wf(MODELS[mi], 0, TRIT_WEIGHTS_STORED);
        if (!s) continue;
        trit_model_info info;
        trit_model_get_info(s, &info);
        int32_t ids[23];
        for (int i = 0; i < 23; i++) ids[i] = (int32_t)((i * 7907 + 5) % info.vocab_size);
        const size_t n = (size_t)(23 * info.vocab_size);
        float *b1 = run_logits(s, ids, 23, 23, 512, 1), *b2 = run_logits(s, ids, 23, 1, 512, 2);
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            trit_model *m = load_model_wf(MODELS[mi], 0, fmts[f]);
            if (!m) continue;
            float *o1 = run_logits(m, ids, 23, 23, 512, 1), *o2 = run_logits(m, ids, 23, 1, 512, 2);
            CHECK(memcmp(o1, b1, n * 4) == 0 && memcmp(o2, b2, n * 4) == 0,
                  "%s: weights format %d differs from stored (batch %.3g, token by token %.3g)", MODELS[mi], fmts[f],
                  max_diff(o1, b1, n), max_diff(o2, b2, n));
            free(o1);
            free(o2);
            trit_model_free(m);
        }
        free(b1);
        free(b2);
        trit_model_free(s);
    }
    /* auto picks the 2-bit bands on AVX-512 and the stored layout elsewhere */
    trit_model *a = load_model_wf(MODELS[0], 0, TRIT_WEIGHTS_AUTO);
    if (a) {
        trit_model_info info;
        trit_model_get_info(a, &info);
        const int bands = strstr(info.weight_format, "repacked 2-bit bands") != NULL;
        CHECK(bands == !strcmp(trit_isa_name(), "avx512"), "auto on %s gave \"%s\"", trit_isa_name(),
              info.weight_format);
        trit_model_free(a);
    }
}

/* The context refuses tokens past its size and ids outside the vocabulary,
 * and truncation lets a conversation be rewound. */
static void test_context_limits(void) {
    trit_model *m = load_model("bitnet_untied", 0);
    if (!m) return;
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_ctx = 8;
    cp.n_threads = 1;
    trit_ctx *c = NULL;
    trit_error err = {0};
    CHECK(trit_ctx_new(m, &cp, &c, &err) == TRIT_OK, "%s", err.msg);
    int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(trit_decode(c, ids, 9, NULL, 0, &err) == TRIT_ERR_CONTEXT, "9 tokens in a context of 8");
    CHECK(strstr(err.msg, "context") != NULL, "message: %s", err.msg);
    int32_t bad = 100000;
    CHECK(trit_decode(c, &bad, 1, NULL, 0, &err) == TRIT_ERR_VALUE, "out-of-vocab id");
    CHECK(trit_decode(c, ids, 6, NULL, 0, &err) == TRIT_OK, "%s", err.msg);
    CHECK(trit_ctx_n_past(c) == 6, "n_past %lld", (long long)trit_ctx_n_past(c));
    trit_ctx_truncate(c, 2);
    CHECK(trit_ctx_n_past(c) == 2, "truncate");
    CHECK(trit_decode(c, ids, 6, NULL, 0, &err) == TRIT_OK, "%s", err.msg);
    trit_ctx_free(c);
    trit_model_free(m);
}

/* An f16 KV cache (keys, values or both) gives the same logits for 1 and 3
 * threads, bit for bit, and stays near the float one: these tiny random
 * models amplify any perturbation (a changed int8 rounding of an activation
 * moves their logits by percents), so the bound here only catches a broken
 * cache; tests/cli_perplexity.sh checks the cost on the trained default
 * model (0.02% of perplexity). An unknown cache type is refused. */
static void test_kv_f16(void) {
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        trit_model *m = load_model(MODELS[mi], 0);
        if (!m) continue;
        trit_model_info info;
        trit_model_get_info(m, &info);
        int32_t ids[29];
        for (int i = 0; i < 29; i++) ids[i] = (int32_t)((i * 4409 + 3) % info.vocab_size);
        const size_t n = (size_t)(29 * info.vocab_size);
        float *ref = run_logits(m, ids, 29, 29, 512, 1);
        double maxref = 0;
        for (size_t i = 0; ref && i < n; i++) maxref = fabs(ref[i]) > maxref ? fabs(ref[i]) : maxref;
        const int types[3][2] = {{TRIT_KV_F16, TRIT_KV_F16}, {TRIT_KV_F16, TRIT_KV_F32}, {TRIT_KV_F32, TRIT_KV_F16}};
        for (int t = 0; t < 3; t++) {
            for (int chunk = 1; chunk <= 29; chunk += 28) {
                float *a = run_logits_kv(m, ids, 29, chunk, 512, 1, types[t][0], types[t][1]);
                float *b = run_logits_kv(m, ids, 29, chunk, 512, 3, types[t][0], types[t][1]);
                if (a && b && ref) {
                    CHECK(memcmp(a, b, n * 4) == 0, "%s kv %d/%d chunk %d: 1 and 3 threads differ (%.3g)", MODELS[mi],
                          types[t][0], types[t][1], chunk, max_diff(a, b, n));
                    double d = max_diff(a, ref, n) / maxref;
                    CHECK(d > 0 && d < 0.25, "%s kv %d/%d: %.3g of max |logit| from the float cache", MODELS[mi],
                          types[t][0], types[t][1], d);
                }
                free(a);
                free(b);
            }
        }
        free(ref);
        trit_ctx_params cp = trit_ctx_default_params();
        cp.type_v = 7;
        trit_ctx *c = NULL;
        trit_error err = {0};
        CHECK(trit_ctx_new(m, &cp, &c, &err) == TRIT_ERR_ARG && !c && strstr(err.msg, "KV cache type"), "%s",
              err.msg);
        trit_model_free(m);
    }
}

/* The profile counts one call of each layer step per layer and forward
 * call, one head per logits row request, times that add up to at most the
 * wall time, and resets to zero. */
static void test_profile(void) {
    trit_model *m = load_model("bitnet_untied", 0);
    if (!m) return;
    trit_model_info info;
    trit_model_get_info(m, &info);
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = 2;
    cp.n_batch = 4;
    trit_ctx *c = NULL;
    trit_error err = {0};
    CHECK(trit_ctx_new(m, &cp, &c, &err) == TRIT_OK, "%s", err.msg);
    if (!c) { trit_model_free(m); return; }
    float *logits = malloc((size_t)info.vocab_size * sizeof(float));
    int32_t ids[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    double t0 = trit_time_s();
    CHECK(trit_decode(c, ids, 10, logits, 0, &err) == TRIT_OK, "%s", err.msg); /* 3 forward calls (4+4+2), 1 head */
    for (int i = 0; i < 3; i++) CHECK(trit_decode(c, ids + i, 1, logits, 0, &err) == TRIT_OK, "%s", err.msg);
    double wall = trit_time_s() - t0;
    trit_profile p;
    trit_ctx_get_profile(c, &p);
    const int64_t L = info.n_layers, calls = 3 + 3;
    double sum = 0;
    for (int i = 0; i < TRIT_PROF_N; i++) {
        int64_t want = i == TRIT_PROF_EMBED ? calls : i == TRIT_PROF_HEAD ? 1 + 3 : calls * L;
        CHECK(p.calls[i] == want, "step %s: %lld calls, want %lld", trit_profile_step_name(i), (long long)p.calls[i],
              (long long)want);
        CHECK(p.seconds[i] >= 0, "step %d: %g s", i, p.seconds[i]);
        sum += p.seconds[i];
    }
    CHECK(sum > 0 && sum <= wall * 1.001 + 1e-6, "profile %g s for %g s of decoding", sum, wall);
    CHECK(strcmp(trit_profile_step_name(TRIT_PROF_ATTN), "attention") == 0 && strcmp(trit_profile_step_name(99), "?") == 0,
          "step names");
    trit_ctx_reset_profile(c);
    trit_ctx_get_profile(c, &p);
    for (int i = 0; i < TRIT_PROF_N; i++) CHECK(p.calls[i] == 0 && p.seconds[i] == 0, "reset step %d", i);
    free(logits);
    trit_ctx_free(c);
    trit_model_free(m);
}

/* The 8-bit lm_head stays close to the exact one (its error is the price of
 * half the bytes per token) and keeps greedy choices on these models. */
static void test_q8_head_close(void) {
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        char dir[512];
        snprintf(dir, sizeof dir, TT_FIXTURES "/models/%s", MODELS[mi]);
        trit_model_params mp = trit_model_default_params();
        mp.lm_head_format = TRIT_HEAD_Q8;
        trit_model *q = NULL, *e = load_model(MODELS[mi], 0);
        trit_error err = {0};
        trit_status st = trit_model_load(dir, &mp, &q, &err);
        trit_model_info ei;
        if (e) trit_model_get_info(e, &ei);
        if (e && ei.hidden_size % 32 != 0) { /* groups of 32 need hidden % 32 == 0: refused clearly */
            CHECK(st == TRIT_ERR_UNSUPPORTED && strstr(err.msg, "multiple of 32"), "%s: %s", MODELS[mi], err.msg);
            trit_model_free(q);
            trit_model_free(e);
            continue;
        }
        CHECK(st == TRIT_OK, "%s", err.msg);
        if (!q || !e) { trit_model_free(q); trit_model_free(e); continue; }
        trit_model_info info;
        trit_model_get_info(q, &info);
        CHECK(!strncmp(info.lm_head_format, "q8", 2), "head format %s", info.lm_head_format);
        int32_t ids[23];
        for (int i = 0; i < 23; i++) ids[i] = (int32_t)((i * 131 + 7) % info.vocab_size);
        float *a = run_logits(e, ids, 23, 23, 512, 2), *b = run_logits(q, ids, 23, 23, 512, 2);
        double mx = 0, d = max_diff(a, b, (size_t)(23 * info.vocab_size));
        int same = 0;
        for (int64_t i = 0; i < 23 * info.vocab_size; i++) mx = fabs(a[i]) > mx ? fabs(a[i]) : mx;
        for (int r = 0; r < 23; r++) {
            int64_t ia = 0, ib = 0;
            for (int64_t v = 1; v < info.vocab_size; v++) {
                if (a[r * info.vocab_size + v] > a[r * info.vocab_size + ia]) ia = v;
                if (b[r * info.vocab_size + v] > b[r * info.vocab_size + ib]) ib = v;
            }
            same += ia == ib;
        }
        printf("  %-20s q8 lm_head: max|diff| %.3g of max|logit| %.3g, argmax equal %d/23\n", MODELS[mi], d, mx, same);
        CHECK(d <= 0.02 * mx, "%s: q8 head differs by %.3g", MODELS[mi], d);
        CHECK(same >= 21, "%s: q8 head changed %d of 23 argmaxes", MODELS[mi], 23 - same);
        free(a);
        free(b);
        trit_model_free(q);
        trit_model_free(e);
    }
}

int main(void) {
    RUN(test_logits_match_transformers);
    RUN(test_decode_matches_transformers);
    RUN(test_greedy_matches_transformers);
    RUN(test_scale_rule_is_checked);
    RUN(test_chunking_and_threads_agree);
    RUN(test_context_limits);
    RUN(test_weights_formats_identical);
    RUN(test_profile);
    RUN(test_kv_f16);
    RUN(test_q8_head_close);
    printf("# worst logit error vs transformers: %.3g of max |logit|\n", worst_rel);
    return TT_END();
}
