/*
 * kernels_neon_dotprod.c - the ternary kernel for AArch64 cores with the
 * dot-product extension (ARMv8.2-A DotProd: sdot, FEAT_DotProd; e.g.
 * Cortex-A55/A76 and later, Neoverse N1/V1/N2, Apple M1). Built with
 * -march=armv8.2-a+dotprod (the Makefile's *_neon_dotprod.o rule) and called
 * only when trit_cpu_isa() reports TRIT_ISA_NEON_DOTPROD. Dense and 8-bit
 * kernels of that level are the plain NEON ones (kernels_neon.c).
 *
 * Each byte of a packed row q holds the codes of rows q, q+Q, q+2Q, q+3Q at
 * one column (bits 2g..2g+1 for row q + gQ). Instead of shifting every plane
 * down to {0,1,2}, the kernel masks planes 1 and 2 in place, which gives
 * codes times 4 and times 16 ({0,4,8}, {0,16,32}: still int8), and shifts
 * only plane 3 (b >> 6). sdot then sums 4 products of each plane with the
 * int8 activations into int32 lanes. At the end the plane sums are divided
 * back by 4 and 16 (exact: they are multiples). |16 * x.c| <= 4096 K, so
 * int32 is exact for K < 2^19; larger K goes to the plain NEON kernel.
 * Results are bit-identical to the scalar reference.
 */
#include "kernels/kernels.h"

#if defined(__aarch64__)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "kernels_neon_dotprod.c must be built with -march=armv8.2-a+dotprod (see the Makefile)"
#endif
#include <arm_neon.h>
#include "kernels/kernels_neon_common.h"

/* Largest K of the in-place plane trick (see the file comment). */
enum { TD_KMAX = 1 << 18 };

/* One 16-column step: code vector b of one packed row against T activation
 * vectors xv, into the int32 sums acc[t][g] (plane g scaled by 4^g for
 * g = 1, 2). */
TN_INLINE void td_step(uint8x16_t b, const int8x16_t *xv, const int T, int32x4_t acc[][4]) {
    int8x16_t p[4];
    p[0] = vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x03)));
    p[1] = vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0C)));
    p[2] = vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x30)));
    p[3] = vreinterpretq_s8_u8(vshrq_n_u8(b, 6));
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[t][g] = vdotq_s32(acc[t][g], p[g], xv[t]);
}

/* The sums (d0, d1, d2, d3 of tn_store) of one packed row (codes c [K])
 * against T <= 4 consecutive tokens (x [T][K]): out[t]. With T == 1 two
 * sets of accumulators (32 columns per iteration) hide the sdot latency. The
 * K % 16 tail goes through zero-padded stack copies. */
TN_INLINE void td_tile(const uint8_t *c, const int8_t *x, int64_t K, const int T, int32x4_t *out) {
    const int U = T == 1 ? 2 : 1;
    int32x4_t acc[2][4][4]; /* [u][t][g] */
#pragma GCC unroll 2
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[u][t][g] = vdupq_n_s32(0);
    int64_t k = 0;
    for (; k + 16 * U <= K; k += 16 * U) {
#pragma GCC unroll 2
        for (int u = 0; u < U; u++) {
            int8x16_t xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) xv[t] = vld1q_s8(x + t * K + k + 16 * u);
            td_step(vld1q_u8(c + k + 16 * u), xv, T, acc[u]);
        }
    }
    for (; k + 16 <= K; k += 16) { /* only when U > 1 */
        int8x16_t xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) xv[t] = vld1q_s8(x + t * K + k);
        td_step(vld1q_u8(c + k), xv, T, acc[0]);
    }
    if (k < K) { /* the last K % 16 columns */
        const int n = (int)(K - k);
        int8_t xb[4][16] = {{0}};
        uint8_t cb[16] = {0};
        int8x16_t xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < n; i++) xb[t][i] = x[t * K + k + i];
            xv[t] = vld1q_s8(xb[t]);
        }
        for (int i = 0; i < n; i++) cb[i] = c[k + i];
        td_step(vld1q_u8(cb), xv, T, acc[0]);
    }
    static const int32_t unscale[4] = {0, -2, -4, 0}; /* right shifts by 0, 2, 4, 0 */
    const int32x4_t sh = vld1q_s32(unscale);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        if (U == 2)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[0][t][g] = vaddq_s32(acc[0][t][g], acc[1][t][g]);
        out[t] = vshlq_s32(tn_hsum4(acc[0][t][0], acc[0][t][1], acc[0][t][2], acc[0][t][3]), sh);
    }
}

/* One out-of-line instance per tile shape: one packed row x T tokens. */
static void td_tile_1(const uint8_t *c, const int8_t *x, int64_t K, int32x4_t *out) { td_tile(c, x, K, 1, out); }
static void td_tile_2(const uint8_t *c, const int8_t *x, int64_t K, int32x4_t *out) { td_tile(c, x, K, 2, out); }
static void td_tile_3(const uint8_t *c, const int8_t *x, int64_t K, int32x4_t *out) { td_tile(c, x, K, 3, out); }
static void td_tile_4(const uint8_t *c, const int8_t *x, int64_t K, int32x4_t *out) { td_tile(c, x, K, 4, out); }

/* Token block of the GEMM path and the bytes of codes of one cache block. */
enum { TD_TB = 4, TD_CODE_BLOCK = 128 * 1024 };

/* Ternary matmul, NEON + dotprod: see trit_kernels.tmatmul and the file
 * comment. M == 1 walks the packed rows one at a time (one sequential
 * stream); M > 1 walks cache blocks of packed rows (about 128 KiB of codes)
 * and, within a block, groups of 4 tokens against one packed row at a time.
 * K > 2^18 goes to trit_tmatmul_neon. Bit-identical to the reference. */
void trit_tmatmul_neon_dotprod(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                               const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1) {
    const int64_t K = w->K;
    if (K > TD_KMAX || K < 1) {
        trit_tmatmul_neon(w, wdiv, xq, xs, xsum, M, y, ldy, q0, q1);
        return;
    }
    int64_t qb = M == 1 ? q1 - q0 : TD_CODE_BLOCK / K;
    if (qb < 4) qb = 4;
    for (int64_t qa = q0; qa < q1; qa += qb) {
        const int64_t qe = qa + qb < q1 ? qa + qb : q1;
        for (int64_t m = 0; m < M; m += TD_TB) {
            const int T = M - m < TD_TB ? (int)(M - m) : TD_TB;
            for (int64_t q = qa; q < qe; q++) {
                const uint8_t *c = w->codes + q * K;
                const int8_t *x = xq + m * K;
                int32x4_t S[TD_TB];
                switch (T) {
                case 4: td_tile_4(c, x, K, S); break;
                case 3: td_tile_3(c, x, K, S); break;
                case 2: td_tile_2(c, x, K, S); break;
                default: td_tile_1(c, x, K, S); break;
                }
                for (int t = 0; t < T; t++)
                    tn_store(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy, q, w->Q, w->N);
            }
        }
    }
}

#endif /* __aarch64__ */
