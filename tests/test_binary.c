/*
 * test_binary.c - binary (1-bit) weights: the block format's quantization
 * (error bound on odd lengths), every kernel level against the plain C
 * reference and a naive computation on odd shapes (K not a multiple of 128,
 * one row, many rows, M = 1 and M > 1, row ranges, padded ldy), extreme
 * values, and the repacking of +-1 packed ternary codes, which must give
 * exactly the ternary kernels' outputs.
 */
#include <stdint.h>
#include "tt.h"
#include "kernels/kernels.h"
#include "quant/binary.h"
#include "quant/ternary.h"
#include "io/safetensors.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) { return (float)((double)rnd() / 2097152.0 / 1024.0 - 1.0); } /* ~[-1,1) */

/* Levels to test: scalar and every level up to the CPU's (or $TRIT_ISA's). */
static int n_levels(trit_isa *lv) {
    int n = 0;
    trit_isa best = trit_cpu_isa();
    lv[n++] = TRIT_ISA_SCALAR;
    if (best == TRIT_ISA_AVX2 || best == TRIT_ISA_AVX512) lv[n++] = TRIT_ISA_AVX2;
    if (best == TRIT_ISA_AVX512) lv[n++] = TRIT_ISA_AVX512;
    if (best == TRIT_ISA_NEON) lv[n++] = TRIT_ISA_NEON;
    return n;
}

/* Random int8 activations [M x K] over the full range (-128 included), their
 * sums and scales. */
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

/* Scale kinds of a random matrix: uniform (one d, flag set), general with
 * random d, general with every d = 1 (flag clear: exact integers). */
enum { SC_UNIFORM, SC_RANDOM, SC_ONES };

/* Random binary matrix [N x K]: signs in sg (+-1), blocks allocated; bits
 * past K are random garbage (kernels must ignore them). */
static trit_q1_block *random_bmat(int64_t N, int64_t K, int kind, int8_t *sg, trit_bmat *w) {
    const int64_t nb = trit_q1_blocks(K);
    trit_q1_block *b = malloc((size_t)(N * nb) * sizeof *b);
    const uint16_t d0 = trit_f32_to_fp16(0.75f + (float)(rnd() % 100) / 64.0f);
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < nb; g++) {
            trit_q1_block *B = &b[n * nb + g];
            for (int i = 0; i < 16; i++) B->qs[i] = (uint8_t)rnd();
            B->d = kind == SC_UNIFORM ? d0 : kind == SC_ONES ? 0x3C00 : trit_f32_to_fp16(0.01f + (float)(rnd() % 4096) / 1024.0f);
            for (int64_t i = 0; i < TRIT_Q1_GROUP && g * TRIT_Q1_GROUP + i < K; i++)
                sg[n * K + g * TRIT_Q1_GROUP + i] = (int8_t)((B->qs[i >> 3] >> (i & 7)) & 1 ? 1 : -1);
        }
    *w = (trit_bmat){N, K, nb, kind == SC_UNIFORM, b};
    return b;
}

/* Naive result: want[m][n] = sum_g d_g S_g / (xs * wdiv) (numerator in
 * double, then the contract's float division), and the magnitude
 * sum_g d_g sum_k |x_k| / (xs * wdiv) (which bounds every partial sum a
 * kernel may form) for the tolerance. */
static void naive(const trit_bmat *w, const int8_t *sg, const int8_t *xq, const float *xs, int64_t M, float wdiv,
                  double *want, double *mag) {
    const int64_t N = w->N, K = w->K, nb = w->nb;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double a = 0, am = 0;
            int64_t S = 0;
            for (int64_t g = 0; g < nb; g++) {
                int64_t s = 0, sa = 0;
                for (int64_t k = g * TRIT_Q1_GROUP; k < K && k < (g + 1) * TRIT_Q1_GROUP; k++) {
                    s += (int64_t)sg[n * K + k] * xq[m * K + k];
                    sa += abs(xq[m * K + k]);
                }
                double d = trit_fp16_to_f32(w->blocks[n * nb + g].d);
                a += d * (double)s;
                am += d * (double)sa;
                S += s;
            }
            /* the contract's float expression (exact for uniform and all-ones
             * scales, where the numerator is exact) */
            const float num = w->uniform ? (float)S * trit_fp16_to_f32(w->blocks[0].d) : (float)a;
            want[m * N + n] = (double)(num / (xs[m] * wdiv));
            mag[m * N + n] = am / ((double)xs[m] * wdiv);
        }
}

/* Runs kt->bmatmul on rows [n0, n1) into y (stride ldy, sentinel-filled) and
 * checks: in-range outputs equal want exactly when `exact`, else within
 * float rounding; all others keep the sentinel. Returns mismatches. */
static int check_range(const trit_kernels *kt, const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs,
                       const int32_t *xsum, int64_t M, int64_t ldy, int64_t n0, int64_t n1, const double *want,
                       const double *mag, int exact, float *y) {
    const float sentinel = -12345.5f;
    for (int64_t i = 0; i < M * ldy; i++) y[i] = sentinel;
    kt->bmatmul(w, wdiv, xq, xs, xsum, M, y, ldy, n0, n1);
    int bad = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < ldy; j++) {
            const int in = j >= n0 && j < n1;
            const float got = y[m * ldy + j];
            int ok;
            if (!in) ok = got == sentinel;
            else if (exact) ok = got == (float)want[m * w->N + j];
            else ok = fabs(got - want[m * w->N + j]) <= 3e-6 * mag[m * w->N + j] + 1e-30;
            if (!ok && bad++ < 3)
                fprintf(stderr, "  %s %s N=%lld K=%lld M=%lld [%lld,%lld) ldy=%lld: y[%lld][%lld] = %.9g, want %.9g\n",
                        kt->name, w->uniform ? "uniform" : "general", (long long)w->N, (long long)w->K, (long long)M,
                        (long long)n0, (long long)n1, (long long)ldy, (long long)m, (long long)j, got,
                        in ? want[m * w->N + j] : sentinel);
        }
    return bad;
}

/* The block format: 18 bytes, f16 scale first, bit i of the row's group in
 * qs[i/8] bit i%8. */
static void test_block_layout(void) {
    CHECK(sizeof(trit_q1_block) == 18, "sizeof %zu", sizeof(trit_q1_block));
    float w[10] = {0.5f, -0.25f, 0.0f, -1.0f, 1.0f, 2.0f, -2.0f, 0.25f, -0.5f, 1.5f};
    trit_q1_block b[1];
    trit_q1_quantize_row(w, 10, b);
    /* signs + - + - + + - + | - + -> bits 0b10110101, 0b10 */
    CHECK(b[0].qs[0] == 0xB5 && b[0].qs[1] == 0x02, "bits %02x %02x", b[0].qs[0], b[0].qs[1]);
    for (int i = 2; i < 16; i++) CHECK(b[0].qs[i] == 0, "bits past K must be 0 (qs[%d] = %02x)", i, b[0].qs[i]);
    CHECK(fabsf(trit_fp16_to_f32(b[0].d) - 0.9f) < 0.9f / 2048, "d = %g, want mean|w| = 0.9",
          trit_fp16_to_f32(b[0].d));
    CHECK(trit_q1_blocks(1) == 1 && trit_q1_blocks(128) == 1 && trit_q1_blocks(129) == 2, "block counts");
}

/* Quantization error on odd lengths: signs exact, d = mean|w| within f16
 * rounding, and the squared error per group equals the least-squares optimum
 * sum w^2 - n mean^2 plus the f16 term n (d - mean)^2. A bf16 matrix gives
 * the same blocks as its rows converted to f32. */
static void test_quantize_error_bound(void) {
    const int64_t Ks[] = {1, 7, 64, 127, 128, 129, 255, 300, 1000, 2560};
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
        const int64_t K = Ks[ki], nb = trit_q1_blocks(K);
        float *w = malloc((size_t)K * 4);
        for (int64_t k = 0; k < K; k++) w[k] = k % 11 == 5 ? 0.0f : rndf() * (k % 3 ? 0.1f : 2.0f);
        trit_q1_block *b = malloc((size_t)nb * sizeof *b);
        trit_q1_quantize_row(w, K, b);
        for (int64_t g = 0; g < nb; g++) {
            const int64_t k0 = g * TRIT_Q1_GROUP, len = K - k0 < TRIT_Q1_GROUP ? K - k0 : TRIT_Q1_GROUP;
            double sa = 0, s2 = 0, err = 0;
            const double d = trit_fp16_to_f32(b[g].d);
            int badbits = 0;
            for (int64_t i = 0; i < len; i++) {
                const double v = w[k0 + i];
                const int bit = (b[g].qs[i >> 3] >> (i & 7)) & 1;
                badbits += bit != (v >= 0);
                sa += fabs(v);
                s2 += v * v;
                err += (v - (bit ? d : -d)) * (v - (bit ? d : -d));
            }
            for (int64_t i = len; i < TRIT_Q1_GROUP; i++) badbits += (b[g].qs[i >> 3] >> (i & 7)) & 1;
            const double mean = sa / (double)len;
            CHECK(badbits == 0, "K=%lld group %lld: %d wrong bits", (long long)K, (long long)g, badbits);
            CHECK(fabs(d - mean) <= mean / 2048.0 + 1e-12, "K=%lld group %lld: d %g vs mean|w| %g", (long long)K,
                  (long long)g, d, mean);
            const double bound = s2 - (double)len * mean * mean + (double)len * (d - mean) * (d - mean);
            CHECK(err <= bound * (1 + 1e-9) + 1e-12 * s2 && err >= bound * (1 - 1e-6) - 1e-9 * s2,
                  "K=%lld group %lld: squared error %g vs least squares %g", (long long)K, (long long)g, err, bound);
            CHECK(err <= s2 + 1e-12, "worse than zero weights");
        }
        /* matrix form from bf16 rows */
        const int64_t N = 3;
        uint16_t *wb = malloc((size_t)(N * K) * 2);
        float *row = malloc((size_t)K * 4);
        for (int64_t i = 0; i < N * K; i++) wb[i] = trit_f32_to_bf16(rndf());
        trit_q1_block *bm = malloc((size_t)(N * nb) * sizeof *bm), *br = malloc((size_t)nb * sizeof *br);
        trit_dmat W = {N, K, ST_BF16, wb};
        CHECK(trit_q1_quantize(&W, bm), "quantize matrix");
        for (int64_t n = 0; n < N; n++) {
            trit_dmat_row(&W, n, row);
            trit_q1_quantize_row(row, K, br);
            CHECK(!memcmp(br, bm + n * nb, (size_t)nb * sizeof *br), "K=%lld row %lld differs", (long long)K,
                  (long long)n);
        }
        free(w); free(b); free(wb); free(row); free(bm); free(br);
    }
}

/* Every level against the naive rule on K around every vector width and
 * group boundary (1..6912), N = 1..131, M = 1..9, row ranges off any
 * alignment, padded ldy; uniform matrices and all-ones scales exactly,
 * random scales within float rounding. The scalar reference is held to
 * the same standard. */
static void test_bmatmul_odd_shapes(void) {
    const int64_t Ks[] = {1, 31, 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 1000, 2560, 6912};
    const int64_t Ns[] = {1, 2, 5, 17, 64, 131};
    trit_isa lv[4];
    const int nl = n_levels(lv);
    int bad = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
            for (int kind = 0; kind < 3; kind++) {
                const int64_t K = Ks[ki], N = Ns[ni], Mmax = 9;
                int8_t *sg = malloc((size_t)(N * K));
                trit_bmat w;
                trit_q1_block *blocks = random_bmat(N, K, kind, sg, &w);
                int8_t *xq = malloc((size_t)(Mmax * K));
                float xs[9], *y = malloc((size_t)(Mmax * (N + 3)) * 4);
                int32_t xsum[9];
                double *want = malloc((size_t)(Mmax * N) * 8), *mag = malloc((size_t)(Mmax * N) * 8);
                random_acts(Mmax, K, xq, xs, xsum);
                const float wdiv = 1.3f + (float)ki;
                naive(&w, sg, xq, xs, Mmax, wdiv, want, mag);
                const int exact = kind != SC_RANDOM;
                for (int64_t M = 1; M <= Mmax; M += (N > 20 && M > 2 ? 3 : 1)) {
                    const int64_t cuts[][2] = {{0, N}, {0, 1}, {1, N}, {N / 3, N - N / 3}, {N - 1, N}};
                    for (int l = 0; l < nl; l++) {
                        const trit_kernels *kt = trit_kernels_for(lv[l]);
                        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
                            if (cuts[c][0] >= cuts[c][1]) continue;
                            bad += check_range(kt, &w, wdiv, xq, xs, xsum, M, N, cuts[c][0], cuts[c][1], want, mag,
                                               exact, y);
                            if (c == 0)
                                bad += check_range(kt, &w, wdiv, xq, xs, xsum, M, N + 3, 0, N, want, mag, exact, y);
                        }
                    }
                }
                free(sg); free(blocks); free(xq); free(y); free(want); free(mag);
            }
    CHECK(bad == 0, "%d mismatches (first ones above)", bad);
}

/* Extreme values at the largest K of the SIMD paths (65536: |S| = 2^23) and
 * just past it (reference fallback): all bits set / clear against
 * activations all -128 / 127 / alternating, uniform and all-ones scales,
 * exactly. */
static void test_bmatmul_extremes(void) {
    trit_isa lv[4];
    const int nl = n_levels(lv);
    const int64_t Ks[] = {6912, 65536, 65537};
    const int64_t N = 3, M = 3;
    for (size_t ki = 0; ki < 3; ki++) {
        const int64_t K = Ks[ki], nb = trit_q1_blocks(K);
        for (int kind = 0; kind < 3; kind += 2) {
            int8_t *sg = malloc((size_t)(N * K));
            trit_bmat w;
            trit_q1_block *blocks = random_bmat(N, K, kind, sg, &w);
            for (int64_t g = 0; g < nb; g++) { /* row 0 all +1, row 1 all -1, row 2 random */
                memset(blocks[g].qs, 0xFF, 16);
                memset(blocks[nb + g].qs, 0x00, 16);
            }
            for (int64_t k = 0; k < K; k++) {
                sg[k] = 1;
                sg[K + k] = -1;
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
            double *want = malloc((size_t)(M * N) * 8), *mag = malloc((size_t)(M * N) * 8);
            float *y = malloc((size_t)(M * N) * 4);
            naive(&w, sg, xq, xs, M, 2.0f, want, mag);
            int bad = 0;
            for (int l = 0; l < nl; l++)
                for (int64_t Mi = 1; Mi <= M; Mi += 2)
                    bad += check_range(trit_kernels_for(lv[l]), &w, 2.0f, xq, xs, xsum, Mi, N, 0, N, want, mag, 1, y);
            CHECK(bad == 0, "K=%lld kind %d: %d mismatches", (long long)K, kind, bad);
            free(sg); free(blocks); free(xq); free(want); free(mag); free(y);
        }
    }
}

/* Packed ternary codes that are all +-1 (N % 4 == 0 as in checkpoints, and
 * N % 4 != 0 with padded packed rows): detected as binary, repacked, and
 * bmatmul of every level equals the ternary reference bit for bit. A single
 * code 1 (weight 0) or 3 makes the matrix non-binary. */
static void test_repack_matches_ternary(void) {
    const int64_t shapes[][2] = {{4, 1}, {8, 129}, {12, 200}, {20, 256}, {64, 688}, {7, 300}, {128, 2560}};
    trit_isa lv[4];
    const int nl = n_levels(lv);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t N = shapes[s][0], K = shapes[s][1], Q = (N + 3) / 4, M = 6, nb = trit_q1_blocks(K);
        uint8_t *codes = malloc((size_t)(Q * K));
        for (int64_t i = 0; i < Q * K; i++) { /* every field 0 or 2; fields of padding rows too */
            uint32_t r = rnd();
            codes[i] = (uint8_t)(((r & 1) << 1) | ((r & 2) << 2) | ((r & 4) << 3) | ((r & 8) << 4));
        }
        trit_tmat t = {N, K, Q, codes};
        CHECK(trit_codes_binary(codes, Q * K), "N=%lld K=%lld: +-1 codes not detected", (long long)N, (long long)K);
        trit_q1_block *b = malloc((size_t)(N * nb) * sizeof *b);
        trit_q1_from_codes(&t, b);
        trit_bmat w = {N, K, nb, 1, b};
        int8_t *row = malloc((size_t)K);
        int badw = 0;
        for (int64_t r = 0; r < N; r++) {
            trit_tmat_row(&t, r, row);
            for (int64_t k = 0; k < K; k++)
                badw += row[k] != (((b[r * nb + k / 128].qs[(k % 128) >> 3] >> (k & 7)) & 1) ? 1 : -1);
            for (int64_t g = 0; g < nb; g++) badw += b[r * nb + g].d != 0x3C00;
        }
        CHECK(badw == 0, "N=%lld K=%lld: %d repacked weights differ", (long long)N, (long long)K, badw);
        int8_t *xq = malloc((size_t)(M * K));
        float xs[6], *yt = malloc((size_t)(M * N) * 4), *yb = malloc((size_t)(M * N) * 4);
        int32_t xsum[6];
        random_acts(M, K, xq, xs, xsum);
        for (int64_t Mi = 1; Mi <= M; Mi++) {
            trit_tmatmul_scalar(&t, 1.7f, xq, xs, xsum, Mi, yt, N, 0, Q);
            for (int l = 0; l < nl; l++) {
                const trit_kernels *kt = trit_kernels_for(lv[l]);
                kt->bmatmul(&w, 1.7f, xq, xs, xsum, Mi, yb, N, 0, N);
                int bad = 0;
                for (int64_t i = 0; i < Mi * N; i++) bad += yb[i] != yt[i];
                CHECK(bad == 0, "%s N=%lld K=%lld M=%lld: %d outputs differ from the ternary kernel", kt->name,
                      (long long)N, (long long)K, (long long)Mi, bad);
            }
        }
        codes[Q * K / 2] = (uint8_t)(codes[Q * K / 2] | 0x10); /* one field 2 -> 3 or 0 -> 1 */
        CHECK(!trit_codes_binary(codes, Q * K), "code 1/3 not rejected");
        codes[Q * K / 2] = 0x55;
        CHECK(!trit_codes_binary(codes, Q * K), "code 1 not rejected");
        free(codes); free(b); free(row); free(xq); free(yt); free(yb);
    }
    uint8_t none[1] = {0};
    CHECK(trit_codes_binary(none, 0) && trit_codes_binary(none, 1), "empty / all -1");
}

/* Every table has a binary kernel. */
static void test_dispatch(void) {
    trit_isa lv[4];
    const int nl = n_levels(lv);
    for (int l = 0; l < nl; l++) CHECK(trit_kernels_for(lv[l])->bmatmul != NULL, "level %d has no bmatmul", (int)lv[l]);
}

int main(void) {
    printf("# kernel level of this CPU: %s\n", trit_isa_name());
    RUN(test_block_layout);
    RUN(test_quantize_error_bound);
    RUN(test_bmatmul_odd_shapes);
    RUN(test_bmatmul_extremes);
    RUN(test_repack_matches_ternary);
    RUN(test_dispatch);
    return TT_END();
}
