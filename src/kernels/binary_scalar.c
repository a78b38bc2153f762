/*
 * binary_scalar.c - plain C reference of the binary (1-bit) matmul; see
 * binary.h for the format and the contract.
 */
#include "kernels/binary.h"
#include "io/safetensors.h"

/* S of one group: sum of +-x over the n <= 128 weights of block b (x points
 * at the group's first activation). Exact in int32. */
static int32_t q1_group_dot(const trit_q1_block *b, const int8_t *x, int64_t n) {
    int32_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t v = x[i];
        s += (b->qs[i >> 3] >> (i & 7)) & 1 ? v : -v;
    }
    return s;
}

/* Reference binary matmul: see binary.h. Uniform rows sum S over the whole
 * row in int32 (|S| <= 128 K), then apply d once; general rows add d[g] *
 * S[g] in f32, group by group in order. */
void trit_bmatmul_scalar(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                         int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    (void)xsum;
    const int64_t K = w->K, nb = w->nb;
    const float d0 = w->N > 0 && nb > 0 ? trit_fp16_to_f32(w->blocks[0].d) : 0.0f;
    for (int64_t n = n0; n < n1; n++) {
        const trit_q1_block *row = w->blocks + n * nb;
        for (int64_t m = 0; m < M; m++) {
            const int8_t *x = xq + m * K;
            float a;
            if (w->uniform) {
                int32_t S = 0;
                for (int64_t g = 0; g < nb; g++) {
                    int64_t k0 = g * TRIT_Q1_GROUP, len = K - k0 < TRIT_Q1_GROUP ? K - k0 : TRIT_Q1_GROUP;
                    S += q1_group_dot(&row[g], x + k0, len);
                }
                a = (float)S * d0;
            } else {
                a = 0.0f;
                for (int64_t g = 0; g < nb; g++) {
                    int64_t k0 = g * TRIT_Q1_GROUP, len = K - k0 < TRIT_Q1_GROUP ? K - k0 : TRIT_Q1_GROUP;
                    a += trit_fp16_to_f32(row[g].d) * (float)q1_group_dot(&row[g], x + k0, len);
                }
            }
            y[m * ldy + n] = a / (xs[m] * wdiv);
        }
    }
}
