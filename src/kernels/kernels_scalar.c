/*
 * kernels_scalar.c - plain C reference kernels. Written so that compilers can
 * vectorize the inner loops, but with no ISA-specific code.
 */
#include <math.h>
#include <string.h>
#include "kernels/kernels.h"

/* ==== ternary x int8 ==== */

/* Reference ternary matmul: see trit_kernels.tmatmul. The four output rows of
 * a packed row share each weight byte, so one pass over the byte row yields
 * four dot products. Sums are exact in int32 (|x| <= 128, K < 2^23). */
void trit_tmatmul_scalar(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                         const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1) {
    const int64_t K = w->K, Q = w->Q, N = w->N;
    for (int64_t q = q0; q < q1; q++) {
        const uint8_t *row = w->codes + q * K;
        for (int64_t m = 0; m < M; m++) {
            const int8_t *x = xq + m * K;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int64_t k = 0; k < K; k++) {
                int32_t b = row[k], xv = x[k];
                s0 += xv * (b & 3);
                s1 += xv * ((b >> 2) & 3);
                s2 += xv * ((b >> 4) & 3);
                s3 += xv * (b >> 6);
            }
            int32_t s[4] = {s0 - xsum[m], s1 - xsum[m], s2 - xsum[m], s3 - xsum[m]};
            float denom = xs[m] * wdiv;
            for (int g = 0; g < 4; g++) {
                int64_t r = q + g * Q;
                if (r < N) y[m * ldy + r] = (float)s[g] / denom;
            }
        }
    }
}

/* ==== dense ==== */

/* Converts row n of w to f32 in out[K]. */
void trit_dmat_row(const trit_dmat *w, int64_t n, float *out) {
    const int64_t K = w->K;
    if (w->dtype == ST_F32) {
        memcpy(out, (const float *)w->data + n * K, (size_t)K * sizeof(float));
    } else if (w->dtype == ST_BF16) {
        const uint16_t *p = (const uint16_t *)w->data + n * K;
        for (int64_t k = 0; k < K; k++) {
            uint32_t u = (uint32_t)p[k] << 16;
            memcpy(&out[k], &u, 4);
        }
    } else { /* F16 */
        const uint16_t *p = (const uint16_t *)w->data + n * K;
        for (int64_t k = 0; k < K; k++) out[k] = trit_fp16_to_f32(p[k]);
    }
}

/* f32 dot product with 8 partial sums (vectorizable, accurate). */
static float dot_f32(const float *a, const float *b, int64_t K) {
    float acc[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[k + j] * b[k + j];
    for (; k < K; k++) acc[0] += a[k] * b[k];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Reference dense matmul: see trit_kernels.dmatmul. Rows that are not f32
 * are converted 1 row at a time into a stack buffer when K is small enough,
 * else element by element. */
void trit_dmatmul_scalar(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy,
                         int64_t n0, int64_t n1) {
    const int64_t K = w->K;
    float buf[4096];
    for (int64_t n = n0; n < n1; n++) {
        const float *wr;
        if (w->dtype == ST_F32) {
            wr = (const float *)w->data + n * K;
        } else if (K <= 4096) {
            trit_dmat_row(w, n, buf);
            wr = buf;
        } else {
            for (int64_t m = 0; m < M; m++) {
                double s = 0;
                for (int64_t k0 = 0; k0 < K; k0 += 4096) {
                    int64_t kk = K - k0 < 4096 ? K - k0 : 4096;
                    trit_dmat sub = {1, kk, w->dtype, NULL};
                    size_t es = w->dtype == ST_F32 ? 4 : 2;
                    sub.data = (const uint8_t *)w->data + ((size_t)n * (size_t)K + (size_t)k0) * es;
                    trit_dmat_row(&sub, 0, buf);
                    s += dot_f32(x + m * K + k0, buf, kk);
                }
                y[m * ldy + n] = (float)s;
            }
            continue;
        }
        for (int64_t m = 0; m < M; m++) y[m * ldy + n] = dot_f32(x + m * K, wr, K);
    }
}

