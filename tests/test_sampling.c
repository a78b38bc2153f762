/*
 * test_sampling.c - tests of the token sampler (src/text/sampling.c):
 * greedy, top-k, softmax/temperature, top-p, min-p, repetition penalty,
 * determinism, NaN/inf handling, tiny and large vocabularies.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trit.h"
#include "tt.h"

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Parameters with every filter off at temperature temp and the given seed. */
static trit_sampler_params plain_params(float temp, uint64_t seed) {
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

/* Samples from a private copy of logits[0..n) (trit_sample modifies its
 * input). n <= 4096. */
static int32_t sample_copy(trit_sampler *s, const float *logits, int n) {
    float buf[4096];
    memcpy(buf, logits, (size_t)n * sizeof *buf);
    return trit_sample(s, buf);
}

/* Draws `draws` tokens from logits[0..n) with s and counts them in
 * counts[0..n); returns the number of out-of-range results (should be 0). */
static int histogram(trit_sampler *s, const float *logits, int n, int draws, int *counts) {
    int bad = 0;
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int i = 0; i < draws; i++) {
        int32_t t = sample_copy(s, logits, n);
        if (t < 0 || t >= n) bad++;
        else counts[t]++;
    }
    return bad;
}

/* Softmax of logits[0..n) / temp into out[0..n), in double. */
static void ref_softmax(const float *logits, int n, double temp, double *out) {
    double mx = -INFINITY, z = 0.0;
    for (int i = 0; i < n; i++) if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < n; i++) z += (out[i] = exp((logits[i] - mx) / temp));
    for (int i = 0; i < n; i++) out[i] /= z;
}

/* Deterministic pseudo-random float in about [-scale, scale] (test data). */
static float test_rand(uint64_t *x, float scale) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return ((float)(*x >> 40) / (float)(1u << 24) * 2.0f - 1.0f) * scale;
}

/* Seconds on the monotonic clock. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ======================================================================== */
/* Construction                                                              */
/* ======================================================================== */

static void test_default_params(void) {
    trit_sampler_params p = trit_sampler_default_params();
    CHECK_NEAR(p.temperature, 0.8, 1e-6, "temperature");
    CHECK(p.top_k == 40, "top_k %d", p.top_k);
    CHECK_NEAR(p.top_p, 0.95, 1e-6, "top_p");
    CHECK_NEAR(p.min_p, 0.05, 1e-6, "min_p");
    CHECK_NEAR(p.repeat_penalty, 1.0, 0, "repeat_penalty");
    CHECK(p.repeat_last_n == 64, "repeat_last_n %d", p.repeat_last_n);
    CHECK(p.seed == 0xC0FFEE, "seed %llu", (unsigned long long)p.seed);
}

static void test_new_bad_args(void) {
    trit_sampler_params p = trit_sampler_default_params();
    CHECK(trit_sampler_new(&p, 0) == NULL, "vocab 0 must fail");
    CHECK(trit_sampler_new(&p, -5) == NULL, "negative vocab must fail");
    CHECK(trit_sampler_new(&p, (int64_t)INT32_MAX + 1) == NULL, "vocab beyond int32 must fail");
    trit_sampler *s = trit_sampler_new(NULL, 10); /* NULL params: defaults */
    CHECK(s != NULL, "NULL params should mean defaults");
    float l[10] = {0, 0, 0, 9, 0, 0, 0, 0, 0, 0};
    CHECK(trit_sample(NULL, l) == 0, "NULL sampler");
    CHECK(trit_sample(s, NULL) == 0, "NULL logits");
    trit_sampler_accept(NULL, 3);  /* must not crash */
    trit_sampler_accept(s, -1);    /* out of range: ignored */
    trit_sampler_accept(s, 10);
    trit_sampler_free(s);
    trit_sampler_free(NULL);
}

/* ======================================================================== */
/* Greedy and top-k                                                          */
/* ======================================================================== */

static void test_greedy_argmax_and_ties(void) {
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = 0.0f;
    trit_sampler *s = trit_sampler_new(&p, 6);
    CHECK(s != NULL, "new");
    if (!s) return;
    const float a[6] = {0.1f, -2.0f, 3.5f, 3.4f, -10.0f, 1.0f};
    CHECK(sample_copy(s, a, 6) == 2, "argmax");
    const float ties[6] = {1.0f, 7.0f, 2.0f, 7.0f, 7.0f, -1.0f};
    for (int i = 0; i < 10; i++) CHECK(sample_copy(s, ties, 6) == 1, "lowest id on ties");
    const float negs[6] = {-5.0f, -3.0f, -3.0f, -4.0f, -9.0f, -3.5f};
    CHECK(sample_copy(s, negs, 6) == 1, "all negative");
    trit_sampler_free(s);

    /* Negative and NaN temperatures are greedy too; filters are ignored. */
    const float temps[3] = {-1.0f, NAN, 0.0f};
    for (int t = 0; t < 3; t++) {
        p = trit_sampler_default_params();
        p.temperature = temps[t];
        p.top_k = 2;
        p.top_p = 0.01f;
        p.min_p = 0.99f;
        s = trit_sampler_new(&p, 6);
        CHECK(s != NULL, "new");
        if (!s) return;
        CHECK(sample_copy(s, a, 6) == 2, "greedy at temperature %g", (double)temps[t]);
        trit_sampler_free(s);
    }
}

static void test_top_k1_equals_greedy(void) {
    enum { V = 300 };
    float l[V];
    uint64_t x = 7;
    const float temps[5] = {0.05f, 0.7f, 1.0f, 5.0f, 1000.0f};
    for (int t = 0; t < 5; t++) {
        trit_sampler_params p = plain_params(temps[t], 99 + (uint64_t)t);
        p.top_k = 1;
        p.top_p = 0.9f;
        p.min_p = 0.05f;
        trit_sampler *s = trit_sampler_new(&p, V);
        CHECK(s != NULL, "new");
        if (!s) return;
        for (int round = 0; round < 50; round++) {
            for (int i = 0; i < V; i++) l[i] = test_rand(&x, 4.0f);
            if (round % 5 == 0) { l[17] = 9.0f; l[200] = 9.0f; } /* a tie */
            int best = 0;
            for (int i = 1; i < V; i++) if (l[i] > l[best]) best = i;
            int32_t got = sample_copy(s, l, V);
            CHECK(got == best, "temp %g round %d: %d vs greedy %d", (double)temps[t], round, got, best);
        }
        trit_sampler_free(s);
    }
}

static void test_top_k_restricts_support(void) {
    enum { V = 10, N = 6000 };
    const float l[V] = {0.5f, 2.0f, -1.0f, 1.9f, 0.0f, 1.8f, 1.0f, -3.0f, 0.7f, 1.1f};
    int counts[V];
    trit_sampler_params p = plain_params(2.0f, 5);
    p.top_k = 3;
    trit_sampler *s = trit_sampler_new(&p, V);
    CHECK(s != NULL, "new");
    if (!s) return;
    CHECK(histogram(s, l, V, N, counts) == 0, "ids in range");
    for (int i = 0; i < V; i++) {
        int in = (i == 1 || i == 3 || i == 5);
        if (in) CHECK(counts[i] > N / 5, "token %d of the top 3 drawn %d times", i, counts[i]);
        else CHECK(counts[i] == 0, "token %d outside the top 3 drawn %d times", i, counts[i]);
    }
    /* Within the top 3 the distribution is softmax(l / 2) renormalised. */
    const float top[3] = {2.0f, 1.9f, 1.8f};
    double ref[3];
    ref_softmax(top, 3, 2.0, ref);
    CHECK_NEAR(counts[1] / (double)N, ref[0], 0.025, "p(1)");
    CHECK_NEAR(counts[3] / (double)N, ref[1], 0.025, "p(3)");
    CHECK_NEAR(counts[5] / (double)N, ref[2], 0.025, "p(5)");
    trit_sampler_free(s);

    /* Ties at the top-k boundary: the lower ids are kept. */
    const float flat[V] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    p.top_k = 4;
    s = trit_sampler_new(&p, V);
    CHECK(s != NULL, "new");
    if (!s) return;
    CHECK(histogram(s, flat, V, 2000, counts) == 0, "ids in range");
    for (int i = 0; i < V; i++) {
        if (i < 4) CHECK(counts[i] > 300, "tied token %d drawn %d times", i, counts[i]);
        else CHECK(counts[i] == 0, "tied token %d beyond k drawn %d times", i, counts[i]);
    }
    trit_sampler_free(s);

    /* k >= vocab is off: every token can come out. */
    p.top_k = V;
    s = trit_sampler_new(&p, V);
    CHECK(s != NULL, "new");
    if (!s) return;
    CHECK(histogram(s, flat, V, 2000, counts) == 0, "ids in range");
    for (int i = 0; i < V; i++) CHECK(counts[i] > 100, "token %d drawn %d times", i, counts[i]);
    trit_sampler_free(s);
}

/* ======================================================================== */
/* Randomness                                                                */
/* ======================================================================== */

static void test_determinism_and_seed(void) {
    enum { V = 50, N = 500 };
    float l[V];
    uint64_t x = 3;
    for (int i = 0; i < V; i++) l[i] = test_rand(&x, 2.0f);
    trit_sampler_params p = trit_sampler_default_params();
    p.seed = 1234;
    trit_sampler *a = trit_sampler_new(&p, V), *b = trit_sampler_new(&p, V);
    p.seed = 1235;
    trit_sampler *c = trit_sampler_new(&p, V);
    CHECK(a && b && c, "new");
    if (!a || !b || !c) goto done;
    int same_ab = 1, diff_ac = 0;
    for (int i = 0; i < N; i++) {
        int32_t ta = sample_copy(a, l, V), tb = sample_copy(b, l, V), tc = sample_copy(c, l, V);
        if (ta != tb) same_ab = 0;
        if (ta != tc) diff_ac++;
        l[ta] += 0.01f; /* the logits sequence evolves with the output */
        trit_sampler_accept(a, ta);
        trit_sampler_accept(b, tb);
        trit_sampler_accept(c, tc);
    }
    CHECK(same_ab, "same seed must give the same tokens");
    CHECK(diff_ac > N / 10, "another seed should differ (%d of %d differ)", diff_ac, N);
done:
    trit_sampler_free(a);
    trit_sampler_free(b);
    trit_sampler_free(c);
}

static void test_distribution_matches_softmax(void) {
    enum { V = 6, N = 20000 };
    const float l[V] = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f};
    const float temps[2] = {1.0f, 0.5f};
    int counts[V];
    double ref[V];
    for (int t = 0; t < 2; t++) {
        trit_sampler_params p = plain_params(temps[t], 42);
        trit_sampler *s = trit_sampler_new(&p, V);
        CHECK(s != NULL, "new");
        if (!s) return;
        CHECK(histogram(s, l, V, N, counts) == 0, "ids in range");
        ref_softmax(l, V, temps[t], ref);
        for (int i = 0; i < V; i++) {
            char what[64];
            snprintf(what, sizeof what, "temp %g p(%d)", (double)temps[t], i);
            CHECK_NEAR(counts[i] / (double)N, ref[i], 0.015, what);
        }
        trit_sampler_free(s);
    }
}

/* ======================================================================== */
/* Top-p and min-p                                                           */
/* ======================================================================== */

static void test_top_p_nucleus(void) {
    enum { V = 4, N = 12000 };
    /* Probabilities 0.25, 0.10, 0.50, 0.15 at temperature 1. */
    const float l[V] = {logf(0.25f), logf(0.10f), logf(0.50f), logf(0.15f)};
    int counts[V];
    struct { float top_p; double expect[V]; } cases[] = {
        {0.70f, {0.25 / 0.75, 0.0, 0.50 / 0.75, 0.0}},        /* {2, 0}    */
        {0.80f, {0.25 / 0.90, 0.0, 0.50 / 0.90, 0.15 / 0.90}}, /* {2, 0, 3} */
        {0.40f, {0.0, 0.0, 1.0, 0.0}},                         /* {2}       */
        {0.0f, {0.0, 0.0, 1.0, 0.0}},                          /* at least 1 */
        {1.0f, {0.25, 0.10, 0.50, 0.15}},                      /* off       */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        trit_sampler_params p = plain_params(1.0f, 11 + c);
        p.top_p = cases[c].top_p;
        trit_sampler *s = trit_sampler_new(&p, V);
        CHECK(s != NULL, "new");
        if (!s) return;
        CHECK(histogram(s, l, V, N, counts) == 0, "ids in range");
        for (int i = 0; i < V; i++) {
            char what[64];
            snprintf(what, sizeof what, "top_p %g p(%d)", (double)cases[c].top_p, i);
            if (cases[c].expect[i] == 0.0) CHECK(counts[i] == 0, "%s: drawn %d times", what, counts[i]);
            else CHECK_NEAR(counts[i] / (double)N, cases[c].expect[i], 0.02, what);
        }
        trit_sampler_free(s);
    }
}

/* A nearly flat distribution whose nucleus is larger than the sampler's
 * first partial selection, so the remaining candidates must be sorted. */
static void test_top_p_flat_large_nucleus(void) {
    enum { V = 2000, N = 6000 };
    static float l[V];
    double z = 0.0, cum = 0.0;
    for (int i = 0; i < V; i++) { l[i] = -0.001f * (float)i; z += exp(l[i]); }
    const float top_p = 0.5f;
    int k = 0;
    while (k < V && cum < top_p * z) cum += exp(l[k++]);
    CHECK(k > 300 && k < 1000, "nucleus size %d", k);
    /* Shuffle ids so that id order tells nothing about the order of logits. */
    static float sh[V];
    static int perm[V];
    uint64_t x = 5;
    for (int i = 0; i < V; i++) perm[i] = i;
    for (int i = V - 1; i > 0; i--) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((x >> 33) % (uint64_t)(i + 1));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (int i = 0; i < V; i++) sh[perm[i]] = l[i]; /* token perm[i] has rank i */
    static int rank_of[V];
    for (int i = 0; i < V; i++) rank_of[perm[i]] = i;

    trit_sampler_params p = plain_params(1.0f, 77);
    p.top_p = top_p;
    trit_sampler *s = trit_sampler_new(&p, V);
    CHECK(s != NULL, "new");
    if (!s) return;
    int max_rank = -1, outside = 0;
    for (int i = 0; i < N; i++) {
        int32_t t = sample_copy(s, sh, V);
        if (t < 0 || t >= V) { outside++; continue; }
        int r = rank_of[t];
        if (r >= k + 1) outside++; /* +1: rounding at the boundary */
        if (r > max_rank) max_rank = r;
    }
    CHECK(outside == 0, "%d draws outside the nucleus of %d", outside, k);
    CHECK(max_rank >= k - 40, "nucleus tail never reached: max rank %d of %d", max_rank, k);
    trit_sampler_free(s);
}

/* Equal logits: the nucleus is made of the lowest ids, also when it is
 * larger than the first partial selection (full sort, which must keep ties
 * in id order). */
static void test_top_p_ties_keep_lowest_ids(void) {
    enum { V = 1000, N = 4000 };
    static float l[V];
    for (int i = 0; i < V; i++) l[i] = 0.25f;
    trit_sampler_params p = plain_params(1.0f, 13);
    p.top_p = 0.4505f; /* 451 tokens: 450 hold 0.450, 451 hold 0.451 */
    trit_sampler *s = trit_sampler_new(&p, V);
    CHECK(s != NULL, "new");
    if (!s) return;
    int max_id = -1, outside = 0;
    for (int i = 0; i < N; i++) {
        int32_t t = sample_copy(s, l, V);
        if (t < 0 || t > 450) outside++;
        if (t > max_id) max_id = t;
    }
    CHECK(outside == 0, "%d draws beyond id 450", outside);
    CHECK(max_id >= 420, "max id %d", max_id);
    trit_sampler_free(s);
}

/* The top-k path (heap while reading) and the top-p path (partial then full
 * sort) must keep the same candidates in the same order: with the worst
 * token at probability 0, top_k = V-1 and top_k off give equal streams. */
static void test_top_k_and_top_p_paths_agree(void) {
    enum { V = 3000, N = 300 };
    static float l[V];
    uint64_t x = 9;
    for (int i = 0; i < V; i++) l[i] = test_rand(&x, 1.0f);
    l[1234] = -1000.0f; /* expf(-1000) == 0 */
    trit_sampler_params p = plain_params(1.0f, 2024);
    p.top_p = 0.9f;
    p.top_k = 0;
    trit_sampler *a = trit_sampler_new(&p, V);
    p.top_k = V - 1;
    trit_sampler *b = trit_sampler_new(&p, V);
    CHECK(a && b, "new");
    if (a && b) {
        int diff = 0;
        for (int i = 0; i < N; i++) if (sample_copy(a, l, V) != sample_copy(b, l, V)) diff++;
        CHECK(diff == 0, "%d of %d draws differ between the two paths", diff, N);
    }
    trit_sampler_free(a);
    trit_sampler_free(b);
}

static void test_min_p(void) {
    enum { V = 4, N = 12000 };
    /* Probabilities 0.15, 0.50, 0.05, 0.30 at temperature 1. */
    const float l[V] = {logf(0.15f), logf(0.50f), logf(0.05f), logf(0.30f)};
    int counts[V];
    struct { float min_p; double expect[V]; } cases[] = {
        {0.2f, {0.15 / 0.95, 0.50 / 0.95, 0.0, 0.30 / 0.95}}, /* drops 0.05 (< 0.1)  */
        {0.5f, {0.0, 0.50 / 0.80, 0.0, 0.30 / 0.80}},         /* keeps >= 0.25      */
        {2.0f, {0.0, 1.0, 0.0, 0.0}},                          /* only the top token */
        {0.0f, {0.15, 0.50, 0.05, 0.30}},                      /* off                */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        trit_sampler_params p = plain_params(1.0f, 31 + c);
        p.min_p = cases[c].min_p;
        trit_sampler *s = trit_sampler_new(&p, V);
        CHECK(s != NULL, "new");
        if (!s) return;
        CHECK(histogram(s, l, V, N, counts) == 0, "ids in range");
        for (int i = 0; i < V; i++) {
            char what[64];
            snprintf(what, sizeof what, "min_p %g p(%d)", (double)cases[c].min_p, i);
            if (cases[c].expect[i] == 0.0) CHECK(counts[i] == 0, "%s: drawn %d times", what, counts[i]);
            else CHECK_NEAR(counts[i] / (double)N, cases[c].expect[i], 0.02, what);
        }
        trit_sampler_free(s);
    }

    /* min-p sees temperature-scaled probabilities: relative weights
     * 1 : 0.6 : 0.35 become 1 : 0.36 : 0.1225 at temperature 0.5. */
    const float l2[3] = {0.0f, logf(0.6f), logf(0.35f)}; /* 1 : 0.6 : 0.35 */
    trit_sampler_params p = plain_params(0.5f, 8);
    p.min_p = 0.3f; /* token 2 passes at temperature 1, not at 0.5 */
    trit_sampler *s = trit_sampler_new(&p, 3);
    CHECK(s != NULL, "new");
    if (!s) return;
    CHECK(histogram(s, l2, 3, 6000, counts) == 0, "ids in range");
    CHECK(counts[2] == 0, "token 2 below min_p at temperature 0.5 drawn %d times", counts[2]);
    CHECK_NEAR(counts[1] / 6000.0, 0.36 / 1.36, 0.02, "p(1)");
    trit_sampler_free(s);
}

/* ======================================================================== */
/* Repetition penalty                                                        */
/* ======================================================================== */

/* Greedy choice of a sampler with penalty pen over window n after accepting
 * hist[0..nh), on logits[0..V). */
static int32_t greedy_after(const float *logits, int V, float pen, int n,
                            const int32_t *hist, int nh) {
    trit_sampler_params p = trit_sampler_default_params();
    p.temperature = 0.0f;
    p.repeat_penalty = pen;
    p.repeat_last_n = n;
    trit_sampler *s = trit_sampler_new(&p, V);
    if (!s) return -100;
    for (int i = 0; i < nh; i++) trit_sampler_accept(s, hist[i]);
    int32_t t = sample_copy(s, logits, V);
    trit_sampler_free(s);
    return t;
}

static void test_repeat_penalty(void) {
    const float pos[3] = {2.0f, 1.9f, 1.0f};
    const int32_t h0[1] = {0};
    CHECK(greedy_after(pos, 3, 1.0f, 64, h0, 1) == 0, "penalty 1 is off");
    CHECK(greedy_after(pos, 3, 1.5f, 64, h0, 0) == 0, "empty history");
    CHECK(greedy_after(pos, 3, 1.5f, 64, h0, 1) == 1, "2.0 / 1.5 < 1.9 must change the choice");
    CHECK(greedy_after(pos, 3, 1.5f, 0, h0, 1) == 0, "repeat_last_n 0 is off");

    /* Window: only the last repeat_last_n accepted tokens count. */
    const int32_t h1[3] = {0, 2, 2};
    CHECK(greedy_after(pos, 3, 1.5f, 2, h1, 3) == 0, "token 0 left the window of 2");
    CHECK(greedy_after(pos, 3, 1.5f, 3, h1, 3) == 1, "token 0 inside the window of 3");
    const int32_t h2[5] = {0, 2, 2, 2, 0};
    CHECK(greedy_after(pos, 3, 1.5f, 2, h2, 5) == 1, "ring wrapped, token 0 back in the window");

    /* Long windows (the history grows as tokens arrive): 300 distinct
     * tokens accepted, token 0 first. */
    {
        enum { V = 400 };
        static float wl[V];
        static int32_t wh[300];
        for (int i = 0; i < V; i++) wl[i] = -5.0f;
        wl[0] = 2.0f;
        wl[V - 1] = 1.9f;
        for (int i = 0; i < 300; i++) wh[i] = i;
        CHECK(greedy_after(wl, V, 1.5f, 1000, wh, 300) == V - 1, "window 1000");
        CHECK(greedy_after(wl, V, 1.5f, 300, wh, 300) == V - 1, "window 300");
        CHECK(greedy_after(wl, V, 1.5f, 299, wh, 300) == 0, "window 299");
        CHECK(greedy_after(wl, V, 1.5f, 100, wh, 300) == 0, "window 100");
        CHECK(greedy_after(wl, V, 1.5f, 1 << 30, wh, 300) == V - 1, "huge window");
    }

    /* Each distinct token is penalised once however often it occurs:
     * 2.0 / 1.5 = 1.33 > 1.2, while 2.0 / 1.5^2 = 0.89 would lose. */
    const float once[2] = {2.0f, 1.2f};
    const int32_t h3[3] = {0, 0, 0};
    CHECK(greedy_after(once, 2, 1.5f, 64, h3, 3) == 0, "penalised more than once");

    /* Non-positive logits are multiplied: -1 * 1.5 = -1.5 < -1.2. */
    const float neg[2] = {-1.0f, -1.2f};
    CHECK(greedy_after(neg, 2, 1.5f, 64, h0, 1) == 1, "negative logit must be multiplied");
    const float zero[2] = {0.0f, -0.1f};
    CHECK(greedy_after(zero, 2, 1.5f, 64, h0, 1) == 0, "0 * penalty stays 0");

    /* A penalty below 1 boosts; invalid penalties are off. */
    const float boost[2] = {1.0f, 1.5f};
    CHECK(greedy_after(boost, 2, 0.5f, 64, h0, 1) == 0, "penalty 0.5 doubles 1.0");
    CHECK(greedy_after(pos, 3, -2.0f, 64, h0, 1) == 0, "negative penalty is off");
    CHECK(greedy_after(pos, 3, NAN, 64, h0, 1) == 0, "NaN penalty is off");

    /* The penalty also shapes sampling: a penalised token disappears. */
    trit_sampler_params p = plain_params(1.0f, 3);
    p.repeat_penalty = 1000.0f;
    p.repeat_last_n = 4;
    trit_sampler *s = trit_sampler_new(&p, 3);
    CHECK(s != NULL, "new");
    if (!s) return;
    const float l[3] = {5.0f, 4.0f, -30.0f};
    int n0 = 0;
    for (int i = 0; i < 200; i++) n0 += sample_copy(s, l, 3) == 0;
    CHECK(n0 > 100, "before the penalty token 0 drawn %d of 200 times", n0);
    trit_sampler_accept(s, 0); /* 5 / 1000 against 4: p(0) about 2% */
    n0 = 0;
    for (int i = 0; i < 200; i++) n0 += sample_copy(s, l, 3) == 0;
    CHECK(n0 < 15, "penalised token still drawn %d of 200 times", n0);
    trit_sampler_free(s);
}

/* ======================================================================== */
/* Robustness                                                                */
/* ======================================================================== */

static void test_nan_inf(void) {
    const float temps[2] = {0.0f, 1.0f};
    for (int t = 0; t < 2; t++) {
        trit_sampler_params p = plain_params(temps[t], 21);
        p.repeat_penalty = 1.3f;
        trit_sampler *s = trit_sampler_new(&p, 4);
        CHECK(s != NULL, "new");
        if (!s) return;
        trit_sampler_accept(s, 0); /* penalty applied to a NaN logit too */
        const float a[4] = {NAN, 1.0f, NAN, -INFINITY};
        for (int i = 0; i < 50; i++) CHECK(sample_copy(s, a, 4) == 1, "NaN treated as -inf (temp %g)", (double)temps[t]);
        const float allnan[4] = {NAN, NAN, NAN, NAN};
        CHECK(sample_copy(s, allnan, 4) == 0, "all NaN -> 0");
        const float allinf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        CHECK(sample_copy(s, allinf, 4) == 0, "all -inf -> 0");
        const float mix[4] = {-INFINITY, NAN, -INFINITY, NAN};
        CHECK(sample_copy(s, mix, 4) == 0, "NaN and -inf -> 0");
        const float one[4] = {-INFINITY, NAN, -INFINITY, -3.0f};
        CHECK(sample_copy(s, one, 4) == 3, "single finite token");
        const float pinf[4] = {0.0f, INFINITY, 5.0f, FLT_MAX};
        for (int i = 0; i < 50; i++) CHECK(sample_copy(s, pinf, 4) == 1, "+inf beats FLT_MAX");
        const float pinf2[4] = {NAN, -INFINITY, INFINITY, -INFINITY};
        CHECK(sample_copy(s, pinf2, 4) == 2, "lone +inf among NaN and -inf");
        const float big[4] = {-FLT_MAX, FLT_MAX, 0.0f, -FLT_MAX};
        for (int i = 0; i < 20; i++) CHECK(sample_copy(s, big, 4) == 1, "huge logits");
        trit_sampler_free(s);
    }
    /* Two +inf: greedy takes the lower id, sampling takes either. */
    trit_sampler_params p = plain_params(0.0f, 1);
    trit_sampler *s = trit_sampler_new(&p, 3);
    const float two[3] = {INFINITY, 0.0f, INFINITY};
    CHECK(s && sample_copy(s, two, 3) == 0, "greedy with two +inf");
    trit_sampler_free(s);
    p = plain_params(1.0f, 1);
    s = trit_sampler_new(&p, 3);
    CHECK(s != NULL, "new");
    if (!s) return;
    int counts[3];
    CHECK(histogram(s, two, 3, 400, counts) == 0, "ids in range");
    CHECK(counts[1] == 0 && counts[0] > 100 && counts[2] > 100,
          "two +inf: %d %d %d", counts[0], counts[1], counts[2]);
    trit_sampler_free(s);

    /* Tiny and infinite temperatures stay finite. */
    const float l[3] = {1.0f, 3.0f, 2.0f};
    p = plain_params(1e-38f, 1);
    s = trit_sampler_new(&p, 3);
    CHECK(s && sample_copy(s, l, 3) == 1, "tiny temperature is argmax");
    trit_sampler_free(s);
    p = plain_params(INFINITY, 1);
    s = trit_sampler_new(&p, 3);
    CHECK(s != NULL, "new");
    if (!s) return;
    CHECK(histogram(s, l, 3, 3000, counts) == 0, "ids in range");
    CHECK(counts[0] > 800 && counts[1] > 800 && counts[2] > 800,
          "infinite temperature is uniform: %d %d %d", counts[0], counts[1], counts[2]);
    const float big[3] = {-FLT_MAX, FLT_MAX, FLT_MAX};
    CHECK(histogram(s, big, 3, 400, counts) == 0, "ids in range");
    CHECK(counts[0] == 0 && counts[1] > 100 && counts[2] > 100,
          "infinite temperature, overflowing differences: %d %d %d", counts[0], counts[1], counts[2]);
    trit_sampler_free(s);
}

static void test_vocab_one(void) {
    trit_sampler_params ps[2] = {trit_sampler_default_params(), plain_params(1.0f, 3)};
    ps[0].repeat_penalty = 1.2f;
    for (int k = 0; k < 2; k++) {
        trit_sampler *s = trit_sampler_new(&ps[k], 1);
        CHECK(s != NULL, "new");
        if (!s) return;
        const float vals[4] = {0.0f, -5.0f, NAN, -INFINITY};
        for (int i = 0; i < 4; i++) {
            float l = vals[i];
            int32_t t = trit_sample(s, &l);
            CHECK(t == 0, "vocab 1 returned %d", t);
            trit_sampler_accept(s, t);
        }
        trit_sampler_free(s);
    }
}

/* ======================================================================== */
/* Large vocabulary                                                          */
/* ======================================================================== */

static void test_large_vocab(void) {
    enum { V = 128256, N = 200 };
    float *base = malloc((size_t)V * sizeof *base), *buf = malloc((size_t)V * sizeof *buf);
    CHECK(base && buf, "malloc");
    if (!base || !buf) { free(base); free(buf); return; }
    uint64_t x = 17;
    for (int i = 0; i < V; i++) base[i] = test_rand(&x, 6.0f);

    struct { const char *name; int top_k; float top_p, min_p, pen; } cfg[] = {
        {"defaults", 40, 0.95f, 0.05f, 1.0f},
        {"top_p only", 0, 0.95f, 0.0f, 1.0f},
        {"min_p only", 0, 1.0f, 0.05f, 1.0f},
        {"no filters", 0, 1.0f, 0.0f, 1.0f},
        {"large k + penalty", 5000, 0.9f, 0.0f, 1.1f},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        trit_sampler_params p = trit_sampler_default_params();
        p.top_k = cfg[c].top_k;
        p.top_p = cfg[c].top_p;
        p.min_p = cfg[c].min_p;
        p.repeat_penalty = cfg[c].pen;
        trit_sampler *s = trit_sampler_new(&p, V);
        CHECK(s != NULL, "new");
        if (!s) break;
        int bad = 0;
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            memcpy(buf, base, (size_t)V * sizeof *buf);
            buf[(i * 7919) % V] = 9.0f; /* vary the row a little */
            int32_t t = trit_sample(s, buf);
            if (t < 0 || t >= V) bad++;
            trit_sampler_accept(s, t);
        }
        double dt = now_s() - t0;
        CHECK(bad == 0, "%s: %d ids out of range", cfg[c].name, bad);
        printf("# large vocab %-18s %.3f ms/token (incl. copy of the row)\n",
               cfg[c].name, 1e3 * dt / N);
        trit_sampler_free(s);
    }
    free(base);
    free(buf);
}

int main(void) {
    RUN(test_default_params);
    RUN(test_new_bad_args);
    RUN(test_greedy_argmax_and_ties);
    RUN(test_top_k1_equals_greedy);
    RUN(test_top_k_restricts_support);
    RUN(test_determinism_and_seed);
    RUN(test_distribution_matches_softmax);
    RUN(test_top_p_nucleus);
    RUN(test_top_p_flat_large_nucleus);
    RUN(test_top_p_ties_keep_lowest_ids);
    RUN(test_top_k_and_top_p_paths_agree);
    RUN(test_min_p);
    RUN(test_repeat_penalty);
    RUN(test_nan_inf);
    RUN(test_vocab_one);
    RUN(test_large_vocab);
    return TT_END();
}
