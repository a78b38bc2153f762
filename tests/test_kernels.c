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

static void test_tmatmul_all_levels_match_naive(void) {
    const int64_t shapes[][3] = {{4, 1, 1}, {4, 7, 1}, {8, 33, 3}, {12, 64, 2}, {20, 100, 5}, {36, 255, 1},
                                 {16, 256, 4}, {44, 129, 7}, {128, 513, 2}, {4, 1000, 1}, {6, 17, 2}};
    for (int isa = 0; isa <= TRIT_ISA_NEON; isa++) {
        if (isa > (int)trit_cpu_isa() && !(isa == TRIT_ISA_SCALAR)) continue;
        const trit_kernels *kt = trit_kernels_for((trit_isa)isa);
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
    RUN(test_act_quant_rules);
    RUN(test_ternarize_rule);
    RUN(test_ops);
    return TT_END();
}
