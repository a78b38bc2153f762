/*
 * test_kernels.c - every kernel level the machine has against the plain C
 * reference and against a naive unpacked computation, on odd shapes; and the
 * quantization rules (round half to even, clamps, scales) against hand
 * computed values.
 */
#include <stdint.h>
#include "tt.h"
#include "kernels/kernels.h"
#include "quant/ternary.h"
#include "io/safetensors.h"
#include "nn/ops.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) { return (float)((double)rnd() / 2097152.0 / 1024.0 - 1.0); } /* ~[-1,1) */

/* Packs random ternary weights [N x K] and returns them unpacked in w. */
static uint8_t *random_tmat(int64_t N, int64_t K, int8_t *w, trit_tmat *t) {
    int64_t Q = (N + 3) / 4;
    uint8_t *codes = malloc((size_t)(Q * K));
    memset(codes, 0x55, (size_t)(Q * K));
    for (int64_t r = 0; r < N; r++)
        for (int64_t k = 0; k < K; k++) {
            int v = (int)(rnd() % 3) - 1;
            w[r * K + k] = (int8_t)v;
            uint8_t *b = &codes[(r % Q) * K + k];
            int sh = 2 * (int)(r / Q);
            *b = (uint8_t)((*b & ~(3 << sh)) | ((v + 1) << sh));
        }
    *t = (trit_tmat){N, K, Q, codes};
    return codes;
}

/* Kernel tables to test: scalar and every table this CPU runs, up to
 * $TRIT_ISA's level (both AVX2 variants where the CPU has AVX-VNNI). */
static int n_tables(const trit_kernels **kt) {
    static const char *const names[] = {"scalar", "avx2", "avx2-vnni", "avx512", "neon", "neon_dotprod"};
    static const trit_isa level[] = {TRIT_ISA_SCALAR, TRIT_ISA_AVX2, TRIT_ISA_AVX2, TRIT_ISA_AVX512, TRIT_ISA_NEON,
                                     TRIT_ISA_NEON_DOTPROD};
    int n = 0;
    const trit_isa best = trit_cpu_isa();
    for (int i = 0; i < 6; i++) {
        const trit_kernels *k = trit_kernels_named(names[i]);
        int allowed = level[i] == TRIT_ISA_SCALAR || level[i] == best ||
                      (level[i] == TRIT_ISA_AVX2 && best == TRIT_ISA_AVX512) ||
                      (level[i] == TRIT_ISA_NEON && best == TRIT_ISA_NEON_DOTPROD);
        if (k && allowed) kt[n++] = k;
    }
    return n;
}

static void test_tmatmul_all_levels_match_naive(void) {
    const int64_t shapes[][3] = {{4, 1, 1}, {4, 7, 1}, {8, 33, 3}, {12, 64, 2}, {20, 100, 5}, {36, 255, 1},
                                 {16, 256, 4}, {44, 129, 7}, {128, 513, 2}, {4, 1000, 1}, {6, 17, 2}};
    const trit_kernels *tables[6];
    const int nt = n_tables(tables);
    for (int ti = 0; ti < nt; ti++) {
        const trit_kernels *kt = tables[ti];
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            int8_t *w = malloc((size_t)(N * K));
            trit_tmat t;
            uint8_t *codes = random_tmat(N, K, w, &t);
            int8_t *xq = malloc((size_t)(M * K));
            float xs[8];
            int32_t xsum[8];
            for (int64_t m = 0; m < M; m++) {
                float x[1024];
                for (int64_t k = 0; k < K; k++) x[k] = rndf() * 3;
                if (m == 0 && K > 2) { x[0] = 1000; x[1] = -1000; } /* saturating values */
                xs[m] = trit_act_quant(x, K, xq + m * K, &xsum[m]);
            }
            float *y = malloc((size_t)(M * N) * 4), *yr = malloc((size_t)(M * N) * 4);
            for (int64_t i = 0; i < M * N; i++) y[i] = yr[i] = NAN;
            float wdiv = 1.7f;
            /* whole range, then a split in two ranges of packed rows */
            kt->tmatmul(&t, wdiv, xq, xs, xsum, M, y, N, 0, t.Q);
            trit_tmatmul_scalar(&t, wdiv, xq, xs, xsum, M, yr, N, 0, t.Q / 2);
            trit_tmatmul_scalar(&t, wdiv, xq, xs, xsum, M, yr, N, t.Q / 2, t.Q);
            for (int64_t m = 0; m < M; m++)
                for (int64_t r = 0; r < N; r++) {
                    int32_t acc = 0;
                    for (int64_t k = 0; k < K; k++) acc += xq[m * K + k] * w[r * K + k];
                    float want = (float)acc / (xs[m] * wdiv);
                    CHECK(y[m * N + r] == want && yr[m * N + r] == want,
                          "%s N=%lld K=%lld M=%lld m=%lld r=%lld: %g / %g vs %g", kt->name, (long long)N, (long long)K,
                          (long long)M, (long long)m, (long long)r, y[m * N + r], yr[m * N + r], want);
                }
            free(w); free(codes); free(xq); free(y); free(yr);
        }
    }
}

static void test_dmatmul_dtypes(void) {
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 2}, {17, 33, 3}, {5, 4100, 2}, {9, 129, 1}};
    for (int isa = 0; isa <= (int)trit_cpu_isa(); isa++) {
        const trit_kernels *kt = trit_kernels_for((trit_isa)isa);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(M * K) * 4);
            uint16_t *wh = malloc((size_t)(N * K) * 2), *wb = malloc((size_t)(N * K) * 2);
            for (int64_t i = 0; i < N * K; i++) {
                wf[i] = rndf();
                wh[i] = trit_f32_to_fp16(wf[i]);
                wb[i] = trit_f32_to_bf16(wf[i]);
            }
            for (int64_t i = 0; i < M * K; i++) x[i] = rndf();
            st_dtype dts[3] = {ST_F32, ST_F16, ST_BF16};
            const void *data[3] = {wf, wh, wb};
            for (int d = 0; d < 3; d++) {
                trit_dmat W = {N, K, dts[d], data[d]};
                float *y = malloc((size_t)(M * N) * 4);
                kt->dmatmul(&W, x, M, y, N, 0, N);
                float *row = malloc((size_t)K * 4);
                for (int64_t n = 0; n < N; n++) {
                    trit_dmat_row(&W, n, row);
                    for (int64_t m = 0; m < M; m++) {
                        double want = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            want += (double)x[m * K + k] * row[k];
                            mag += fabs((double)x[m * K + k] * row[k]);
                        }
                        CHECK(fabs(y[m * N + n] - want) <= 1e-5 * mag + 1e-6, "%s dtype %s N=%lld K=%lld: %g vs %g",
                              kt->name, st_dtype_name(dts[d]), (long long)N, (long long)K, y[m * N + n], want);
                    }
                }
                free(row);
                free(y);
            }
            free(wf); free(x); free(wh); free(wb);
        }
    }
}



/* Random int8 activations [M x K] over the full range (-128 included), their
 * sums, and scales. */
static void random_acts(int64_t M, int64_t K, int8_t *xq, float *xs, int32_t *xsum) {
    for (int64_t m = 0; m < M; m++) {
        int32_t s = 0;
        for (int64_t k = 0; k < K; k++) {
            uint32_t r = rnd();
            int v = (r & 7) == 0 ? ((r & 8) ? 127 : -128) : (int)((r >> 4) % 256) - 128;
            xq[m * K + k] = (int8_t)v;
            s += v;
        }
        xsum[m] = s;
        xs[m] = 0.5f + (float)(rnd() % 1000) / 7.0f;
    }
}

/* Exact naive result of the packed rule for every (m, r). */
static void naive_tmatmul(const int8_t *w, int64_t N, int64_t K, const int8_t *xq, const float *xs, int64_t M,
                          float wdiv, float *want) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t r = 0; r < N; r++) {
            int32_t acc = 0;
            for (int64_t k = 0; k < K; k++) acc += xq[m * K + k] * w[r * K + k];
            want[m * N + r] = (float)acc / (xs[m] * wdiv);
        }
}

/* Runs kt->tmatmul over [q0, q1) into y (stride ldy, pre-filled with a
 * sentinel) and checks: rows of the range equal want exactly, every other
 * element keeps the sentinel. Returns the number of mismatches. */
static int check_trange(const trit_kernels *kt, const trit_tmat *t, float wdiv, const int8_t *xq, const float *xs,
                        const int32_t *xsum, int64_t M, int64_t ldy, int64_t q0, int64_t q1, const float *want,
                        float *y) {
    const float sentinel = -12345.5f;
    for (int64_t i = 0; i < M * ldy; i++) y[i] = sentinel;
    kt->tmatmul(t, wdiv, xq, xs, xsum, M, y, ldy, q0, q1);
    int bad = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < ldy; j++) {
            int in = j < t->N && j % t->Q >= q0 && j % t->Q < q1;
            float got = y[m * ldy + j], exp = in ? want[m * t->N + j] : sentinel;
            if (got != exp && bad++ < 3)
                fprintf(stderr, "  %s N=%lld K=%lld M=%lld [%lld,%lld) ldy=%lld: y[%lld][%lld] = %.9g, want %.9g\n",
                        kt->name, (long long)t->N, (long long)t->K, (long long)M, (long long)q0, (long long)q1,
                        (long long)ldy, (long long)m, (long long)j, got, exp);
        }
    return bad;
}

/* Every level against the naive rule, bit for bit, on K around every vector
 * width (1..6912), N = 4..131 (with N % 4 != 0 the last packed rows hold
 * fewer than 4 outputs), M = 1..9, and row ranges that start and end off any
 * alignment; outputs outside the range (and the ldy padding) must stay
 * untouched. */
static void test_tmatmul_odd_shapes(void) {
    const int64_t Ks[] = {1, 31, 32, 33, 63, 64, 65, 127, 255, 256, 257, 1000, 2560, 6912};
    const int64_t Ns[] = {4, 5, 6, 7, 8, 12, 13, 20, 44, 128, 131};
    const trit_kernels *lv[6];
    const int nl = n_tables(lv);
    int bad = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
            const int64_t K = Ks[ki], N = Ns[ni], Mmax = 9;
            int8_t *w = malloc((size_t)(N * K));
            trit_tmat t;
            uint8_t *codes = random_tmat(N, K, w, &t);
            int8_t *xq = malloc((size_t)(Mmax * K));
            float xs[9], *want = malloc((size_t)(Mmax * N) * 4), *y = malloc((size_t)(Mmax * (N + 3)) * 4);
            int32_t xsum[9];
            random_acts(Mmax, K, xq, xs, xsum);
            const float wdiv = 1.3f + (float)ki;
            naive_tmatmul(w, N, K, xq, xs, Mmax, wdiv, want);
            for (int64_t M = 1; M <= Mmax; M++) {
                /* the naive result for the first M tokens is the first M rows of want */
                const int64_t Q = t.Q;
                const int64_t cuts[][2] = {{0, Q}, {0, 1}, {1, Q}, {Q / 3, Q - Q / 3}, {Q - 1, Q}, {1, Q - 1}};
                for (int l = 0; l < nl; l++) {
                    const trit_kernels *kt = lv[l];
                    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                        if (cuts[c][0] >= cuts[c][1]) continue;
                        /* every range with ldy = N; the full range also with a padded stride */
                        bad += check_trange(kt, &t, wdiv, xq, xs, xsum, M, N, cuts[c][0], cuts[c][1], want, y);
                        if (c == 0) bad += check_trange(kt, &t, wdiv, xq, xs, xsum, M, N + 3, 0, Q, want, y);
                    }
                }
            }
            free(w); free(codes); free(xq); free(want); free(y);
        }
    CHECK(bad == 0, "%d mismatches (first ones above)", bad);
}

/* Extreme values: all codes 2 (or 0) against activations all -128 (or 127)
 * at the largest K of the fast path (65536, where 64 * d3 is closest to the
 * int32 limit) and just past it (scalar fallback), at the largest K of the
 * NEON dotprod kernel's scaled planes (2^18) and just past it (plain NEON
 * fallback); and random codes with saturating activations at K = 6912. */
static void test_tmatmul_extremes(void) {
    const trit_kernels *lv[6];
    const int nl = n_tables(lv);
    const int64_t Ks[] = {6912, 65536, 65537, 262144, 262145};
    const int64_t N = 8, M = 3;
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
        const int64_t K = Ks[ki];
        for (int pat = 0; pat < 3; pat++) {
            int8_t *w = malloc((size_t)(N * K));
            trit_tmat t;
            uint8_t *codes = random_tmat(N, K, w, &t);
            if (pat < 2) { /* rows 0..3 (bits 0..7 of packed row 0) all +1 or all -1; rows 4..7 random */
                for (int64_t k = 0; k < K; k++) {
                    codes[k] = pat == 0 ? 0xAA : 0x00;
                    for (int64_t r = 0; r < 8; r += 2) w[r * K + k] = (int8_t)(pat == 0 ? 1 : -1);
                }
            }
            int8_t *xq = malloc((size_t)(M * K));
            float xs[3] = {1.0f, 0.37f, 3.0f};
            int32_t xsum[3];
            for (int64_t m = 0; m < M; m++) {
                int32_t s = 0;
                for (int64_t k = 0; k < K; k++) {
                    int v = m == 0 ? -128 : m == 1 ? 127 : ((k & 1) ? 127 : -128);
                    xq[m * K + k] = (int8_t)v;
                    s += v;
                }
                xsum[m] = s;
            }
            float *want = malloc((size_t)(M * N) * 4), *y = malloc((size_t)(M * N) * 4);
            naive_tmatmul(w, N, K, xq, xs, M, 2.0f, want);
            int bad = 0;
            for (int l = 0; l < nl; l++) {
                const trit_kernels *kt = lv[l];
                for (int64_t Mi = 1; Mi <= M; Mi += 2)
                    bad += check_trange(kt, &t, 2.0f, xq, xs, xsum, Mi, N, 0, t.Q, want, y);
            }
            CHECK(bad == 0, "K=%lld pattern %d: %d mismatches", (long long)K, pat, bad);
            free(w); free(codes); free(xq); free(want); free(y);
        }
    }
}

/* Dense kernels of every level on odd shapes (K around 8/16/32-wide blocks,
 * M = 1..9, row ranges off any alignment, padded ldy), every dtype, within
 * float rounding of a double-precision dot product; outputs outside [n0, n1)
 * stay untouched. */
static void test_dmatmul_odd_shapes(void) {
    /* (N, K); the last two span several row blocks of the x86 M > 1 path
     * (256 KiB of weights each) */
    const int64_t shapes[][2] = {{13, 1},  {13, 7},   {13, 15},  {13, 16},   {13, 17},   {13, 31},   {13, 33},
                                 {13, 64}, {13, 100}, {13, 257}, {13, 2560}, {13, 4100}, {70, 2560}, {70, 4100}};
    const int64_t Mmax = 9;
    const trit_kernels *lv[6];
    const int nl = n_tables(lv);
    int bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t N = shapes[si][0], K = shapes[si][1], ldy = N + 2;
        float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(Mmax * K) * 4);
        uint16_t *wh = malloc((size_t)(N * K) * 2), *wb = malloc((size_t)(N * K) * 2);
        for (int64_t i = 0; i < N * K; i++) {
            wf[i] = rndf();
            wh[i] = trit_f32_to_fp16(wf[i]);
            wb[i] = trit_f32_to_bf16(wf[i]);
        }
        for (int64_t i = 0; i < Mmax * K; i++) x[i] = rndf() * 4;
        const st_dtype dts[3] = {ST_F32, ST_F16, ST_BF16};
        const void *data[3] = {wf, wh, wb};
        float *row = malloc((size_t)K * 4), *y = malloc((size_t)(Mmax * ldy) * 4);
        double *want = malloc((size_t)(Mmax * N) * sizeof(double)), *mag = malloc((size_t)(Mmax * N) * sizeof(double));
        for (int d = 0; d < 3; d++) {
            trit_dmat W = {N, K, dts[d], data[d]};
            for (int64_t n = 0; n < N; n++) {
                trit_dmat_row(&W, n, row);
                for (int64_t m = 0; m < Mmax; m++) {
                    double s = 0, a = 0;
                    for (int64_t k = 0; k < K; k++) {
                        s += (double)x[m * K + k] * row[k];
                        a += fabs((double)x[m * K + k] * row[k]);
                    }
                    want[m * N + n] = s;
                    mag[m * N + n] = a;
                }
            }
            const int64_t cuts[][2] = {{0, N}, {1, N - 1}, {5, 6}, {3, N - 2}};
            for (int l = 0; l < nl; l++) {
                const trit_kernels *kt = lv[l];
                for (int64_t M = 1; M <= Mmax; M++)
                    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                        const int64_t n0 = cuts[c][0], n1 = cuts[c][1];
                        for (int64_t i = 0; i < Mmax * ldy; i++) y[i] = -777.0f;
                        kt->dmatmul(&W, x, M, y, ldy, n0, n1);
                        for (int64_t m = 0; m < Mmax; m++)
                            for (int64_t j = 0; j < ldy; j++) {
                                float got = y[m * ldy + j];
                                int ok;
                                if (m < M && j >= n0 && j < n1)
                                    ok = fabs(got - want[m * N + j]) <= 2e-6 * mag[m * N + j] + 1e-30;
                                else
                                    ok = got == -777.0f;
                                if (!ok && bad++ < 3)
                                    fprintf(stderr, "  %s %s K=%lld M=%lld [%lld,%lld): y[%lld][%lld] = %.9g, want %.9g\n",
                                            kt->name, st_dtype_name(dts[d]), (long long)K, (long long)M, (long long)n0,
                                            (long long)n1, (long long)m, (long long)j, got,
                                            m < M && j >= n0 && j < n1 ? want[m * N + j] : -777.0);
                            }
                    }
            }
        }
        free(wf); free(x); free(wh); free(wb); free(row); free(y); free(want); free(mag);
    }
    CHECK(bad == 0, "%d mismatches (first ones above)", bad);
}

/* The table of each level names its level; trit_kernels_get follows
 * trit_cpu_isa (which $TRIT_ISA lowers). */
static void test_dispatch(void) {
    const trit_kernels *k = trit_kernels_get();
    CHECK(k == trit_kernels_for(trit_cpu_isa()), "get != for(cpu)");
    CHECK(!strcmp(trit_kernels_for(TRIT_ISA_SCALAR)->name, "scalar"), "scalar table");
#if defined(__x86_64__)
    CHECK(!strcmp(trit_kernels_for(TRIT_ISA_AVX2)->name, trit_cpu_has_avxvnni() ? "avx2-vnni" : "avx2"), "avx2 table");
    CHECK(trit_kernels_named("nonsense") == NULL && trit_kernels_named("scalar") == trit_kernels_for(TRIT_ISA_SCALAR),
          "named tables");
    CHECK(!strcmp(trit_kernels_for(TRIT_ISA_AVX512)->name, "avx512"), "avx512 table");
#elif defined(__aarch64__)
    CHECK(!strcmp(trit_kernels_for(TRIT_ISA_NEON)->name, "neon"), "neon table");
    CHECK(!strcmp(trit_kernels_for(TRIT_ISA_NEON_DOTPROD)->name, "neon_dotprod"), "neon_dotprod table");
#endif
    CHECK(!strncmp(k->name, trit_isa_str(trit_cpu_isa()), strlen(trit_isa_str(trit_cpu_isa()))) ||
              !strcmp(k->name, "scalar"), "table %s for level %s", k->name, trit_isa_str(trit_cpu_isa()));
}

/* transformers: scale = 127 / max(max|x|, 1e-5); q = clamp(round(x*scale)). */
static void test_act_quant_rules(void) {
    float x[5] = {0.5f, -1.0f, 0.25f, 127.0f / 254.0f, 0.0f};
    int8_t q[5];
    int32_t sum;
    float s = trit_act_quant(x, 5, q, &sum);
    CHECK(s == 127.0f, "scale %g", s);
    /* 0.5*127 = 63.5 -> 64 (half to even), 0.25*127 = 31.75 -> 32, 127/254*127 = 63.5 -> 64 */
    CHECK(q[0] == 64 && q[1] == -127 && q[2] == 32 && q[3] == 64 && q[4] == 0, "q = %d %d %d %d %d", q[0], q[1],
          q[2], q[3], q[4]);
    CHECK(sum == 64 - 127 + 32 + 64, "sum %d", sum);
    float y[3] = {2.5f / 127.0f, 1.0f, -1.0f}; /* 2.5 -> 2 (even) */
    trit_act_quant(y, 3, q, &sum);
    CHECK(q[0] == 2 && q[1] == 127 && q[2] == -127, "half-even: %d %d %d", q[0], q[1], q[2]);
    float z[4] = {0, 0, 0, 0};
    s = trit_act_quant(z, 4, q, &sum);
    CHECK(s == 127.0f / 1e-5f && q[0] == 0 && sum == 0, "all-zero row: scale %g", s);
    float tiny[2] = {1e-7f, -2e-7f}; /* below the 1e-5 clamp */
    trit_act_quant(tiny, 2, q, &sum);
    CHECK(q[0] == 1 && q[1] == -3, "clamped scale: %d %d", q[0], q[1]); /* 1.27 -> 1, -2.54 -> -3 */
}

/* absmean ternarization: s = 1/mean|W|, w = clamp(round(W*s), -1, 1). */
static void test_ternarize_rule(void) {
    float W[2][4] = {{0.3f, -0.05f, 0.1f, -0.9f}, {0.2f, 0.0f, -0.15f, 0.5f}};
    /* mean|W| = (0.3+0.05+0.1+0.9+0.2+0+0.15+0.5)/8 = 0.275 -> s = 3.6363...
     * W*s: 1.09->1, -0.18->0, 0.36->0, -3.27->-1, 0.73->1, 0, -0.545->-1, 1.82->1 */
    int8_t want[2][4] = {{1, 0, 0, -1}, {1, 0, -1, 1}};
    trit_dmat d = {2, 4, ST_F32, W};
    uint8_t packed[4];
    float s = trit_ternarize_pack(&d, packed);
    CHECK_NEAR(s, 1.0 / 0.275, 1e-5, "scale");
    trit_tmat t = {2, 4, 1, packed};
    for (int r = 0; r < 2; r++) {
        int8_t row[4];
        trit_tmat_row(&t, r, row);
        for (int k = 0; k < 4; k++) CHECK(row[k] == want[r][k], "W[%d][%d] -> %d, want %d", r, k, row[k], want[r][k]);
    }
    CHECK(trit_count_bad_codes(packed, 4) == 0, "no code 3");
    uint8_t bad[3] = {0x55, 0x57, 0xC0};
    CHECK(trit_count_bad_codes(bad, 3) == 2, "code 3 detection");
}

static void test_ops(void) {
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 0.5f, 2, 1}, out[4];
    nn_rmsnorm(out, x, w, 4, 0);
    double r = 1 / sqrt(7.5);
    CHECK_NEAR(out[0], 1 * r, 1e-6, "rms0");
    CHECK_NEAR(out[1], 2 * r * 0.5, 1e-6, "rms1");
    CHECK_NEAR(out[2], 3 * r * 2, 1e-6, "rms2");
    float s[3] = {1, 2, 3};
    nn_softmax(s, 3);
    double z = exp(1) + exp(2) + exp(3);
    CHECK_NEAR(s[2], exp(3) / z, 1e-6, "softmax");
    float q[4] = {1, 0, 0, 1}, inv[2] = {1.0f, 0.5f};
    nn_rope(q, 4, inv, 2); /* pairs (q0,q2) by angle 2, (q1,q3) by angle 1 */
    CHECK_NEAR(q[0], cos(2.0), 1e-6, "rope a");
    CHECK_NEAR(q[2], sin(2.0), 1e-6, "rope b");
    CHECK_NEAR(q[1], -sin(1.0), 1e-6, "rope c");
    CHECK_NEAR(q[3], cos(1.0), 1e-6, "rope d");
    float g[3] = {-1, 2, 0.5f}, u[3] = {3, 3, 2};
    nn_glu(g, u, 3, NN_ACT_RELU2);
    CHECK(g[0] == 0 && g[1] == 12 && g[2] == 0.5f, "relu2 %g %g %g", g[0], g[1], g[2]);
}

int main(void) {
    printf("# kernel level of this CPU: %s\n", trit_isa_name());
    RUN(test_tmatmul_all_levels_match_naive);
    RUN(test_dmatmul_dtypes);
    RUN(test_tmatmul_odd_shapes);
    RUN(test_tmatmul_extremes);
    RUN(test_dmatmul_odd_shapes);
    RUN(test_dispatch);
    RUN(test_act_quant_rules);
    RUN(test_ternarize_rule);
    RUN(test_ops);
    return TT_END();
}
