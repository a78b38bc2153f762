/*
 * kernels_neon.c - ARMv8-A Advanced SIMD (NEON) kernels for the table of
 * kernels.h, for every AArch64 core (NEON is part of the base architecture;
 * no extension is used here, the file is built with the default -march).
 * The dotprod (sdot) ternary kernel lives in kernels_neon_dotprod.c.
 *
 * Ternary x int8 (tmatmul): each byte of a packed row q holds the codes of
 * rows q, q+Q, q+2Q, q+3Q at one column. The kernel splits 16 code bytes into
 * four planes of codes {0,1,2} (shift + mask) and multiplies each with the
 * int8 activations into int16 lanes (smlal/smlal2: |code * x| <= 256), which
 * accumulate over up to 32 steps of 16 columns without overflow before
 * sadalp widens adjacent pairs into int32. The four sums are d_g = x.code_g,
 * and x.(c - 1) = d_g - sum(x). The final value is the same float
 * expression as the scalar reference: results are bit-identical.
 *
 * Dense (dmatmul): weights widened to f32 in registers (bf16: shll #16; f16:
 * fcvtl, part of base AArch64), fmla into accumulators per token; each
 * widened weight vector is reused by every token of a block.
 */
#include "kernels/kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* tn_store, tn_hsum4, TN_INLINE: shared with kernels_neon_dotprod.c. */
#include "kernels/kernels_neon_common.h"

/* ==== ternary x int8 ==== */

/* One 16-column step: code vector b of one packed row against T activation
 * vectors xv, into the int16 sums s16[t][g][h]. With H == 2 the low and high
 * halves go to separate accumulators (more independent chains for T == 1);
 * each step adds at most 512 in magnitude to a lane. */
TN_INLINE void tn_step(uint8x16_t b, const int8x16_t *xv, const int T, const int H, int16x8_t s16[][4][2]) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    int8x16_t p[4];
    p[0] = vreinterpretq_s8_u8(vandq_u8(b, m3));
    p[1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b, 2), m3));
    p[2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b, 4), m3));
    p[3] = vreinterpretq_s8_u8(vshrq_n_u8(b, 6));
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            s16[t][g][0] = vmlal_s8(s16[t][g][0], vget_low_s8(p[g]), vget_low_s8(xv[t]));
            s16[t][g][H - 1] = vmlal_high_s8(s16[t][g][H - 1], p[g], xv[t]);
        }
}

/* 16-column steps summed in int16 before widening: 32 * 512 < 32768. */
enum { TN_STEPS16 = 32 };

/* The sums (see tn_store) of one packed row (codes c [K]) against T <= 2
 * consecutive tokens (x [T][K]): out[t]. The K % 16 tail goes through
 * zero-padded stack copies. */
TN_INLINE void tn_tile(const uint8_t *c, const int8_t *x, int64_t K, const int T, int32x4_t *out) {
    const int H = T == 1 ? 2 : 1;
    int32x4_t acc[2][4];
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[t][g] = vdupq_n_s32(0);
    int64_t k = 0;
    while (k < K) {
        const int64_t kend = K - k > 16 * TN_STEPS16 ? k + 16 * TN_STEPS16 : K;
        int16x8_t s16[2][4][2];
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) s16[t][g][0] = s16[t][g][1] = vdupq_n_s16(0);
        for (; k + 16 <= kend; k += 16) {
            int8x16_t xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) xv[t] = vld1q_s8(x + t * K + k);
            tn_step(vld1q_u8(c + k), xv, T, H, s16);
        }
        if (k < kend) { /* the last K % 16 columns */
            const int n = (int)(kend - k);
            int8_t xb[2][16] = {{0}};
            uint8_t cb[16] = {0};
            int8x16_t xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                for (int i = 0; i < n; i++) xb[t][i] = x[t * K + k + i];
                xv[t] = vld1q_s8(xb[t]);
            }
            for (int i = 0; i < n; i++) cb[i] = c[k + i];
            tn_step(vld1q_u8(cb), xv, T, H, s16);
            k = kend;
        }
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                acc[t][g] = vpadalq_s16(acc[t][g], s16[t][g][0]);
                if (H == 2) acc[t][g] = vpadalq_s16(acc[t][g], s16[t][g][1]);
            }
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; t++) out[t] = tn_hsum4(acc[t][0], acc[t][1], acc[t][2], acc[t][3]);
}

/* One out-of-line instance per tile shape: one packed row x T tokens. */
static void tn_tile_1(const uint8_t *c, const int8_t *x, int64_t K, int32x4_t *out) { tn_tile(c, x, K, 1, out); }
static void tn_tile_2(const uint8_t *c, const int8_t *x, int64_t K, int32x4_t *out) { tn_tile(c, x, K, 2, out); }

/* Token block of the GEMM path and the bytes of codes of one cache block. */
enum { TN_TB = 2, TN_CODE_BLOCK = 128 * 1024 };

/* Ternary matmul, NEON: see trit_kernels.tmatmul and the file comment.
 * M == 1 walks the packed rows one at a time (one sequential stream); M > 1
 * walks cache blocks of packed rows (about 128 KiB of codes) and, within a
 * block, pairs of tokens against one packed row at a time. Exact in int32
 * for K < 2^23 (as the reference). Bit-identical to the reference. */
void trit_tmatmul_neon(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                       int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1) {
    const int64_t K = w->K;
    if (K < 1) {
        trit_tmatmul_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, q0, q1);
        return;
    }
    int64_t qb = M == 1 ? q1 - q0 : TN_CODE_BLOCK / K;
    if (qb < 4) qb = 4;
    for (int64_t qa = q0; qa < q1; qa += qb) {
        const int64_t qe = qa + qb < q1 ? qa + qb : q1;
        for (int64_t m = 0; m < M; m += TN_TB) {
            const int T = M - m < TN_TB ? (int)(M - m) : TN_TB;
            for (int64_t q = qa; q < qe; q++) {
                int32x4_t S[TN_TB];
                if (T == 2) tn_tile_2(w->codes + q * K, xq + m * K, K, S);
                else tn_tile_1(w->codes + q * K, xq + m * K, K, S);
                for (int t = 0; t < T; t++)
                    tn_store(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy, q, w->Q, w->N);
            }
        }
    }
}

/* ==== dense ==== */

enum { DT_F32, DT_BF16, DT_F16 };

/* 8 weights from p widened to f32 (lo, hi). */
TN_INLINE void dn_load8(const uint8_t *p, const int dt, float32x4_t *lo, float32x4_t *hi) {
    if (dt == DT_F32) {
        *lo = vld1q_f32((const float *)p);
        *hi = vld1q_f32((const float *)p + 4);
    } else if (dt == DT_BF16) {
        const uint16x8_t h = vld1q_u16((const uint16_t *)p);
        *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        *hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
    } else {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)p));
        *lo = vcvt_f32_f16(vget_low_f16(h));
        *hi = vcvt_high_f32_f16(h);
    }
}

/* One weight widened to f32 (for the K % 8 tail). */
TN_INLINE float dn_one(const uint8_t *p, const int dt) {
    float f;
    if (dt == DT_F32) {
        __builtin_memcpy(&f, p, 4);
    } else {
        uint16_t h;
        __builtin_memcpy(&h, p, 2);
        if (dt == DT_BF16) {
            uint32_t u = (uint32_t)h << 16;
            __builtin_memcpy(&f, &u, 4);
        } else {
            f = trit_fp16_to_f32(h);
        }
    }
    return f;
}

/* Dot products of K weights from wr with T <= 4 activation rows (x, row
 * stride ldx): out[t]. U groups of 8 columns per iteration, each with its own
 * two accumulators per token, hide the fmla latency; each widened weight
 * vector feeds the T tokens. The K % 8 tail is added in scalar code. */
TN_INLINE void dn_tile(const uint8_t *wr, const float *x, int64_t ldx, int64_t K, const int T, const int U,
                       const int dt, float *out) {
    const size_t es = dt == DT_F32 ? 4 : 2;
    float32x4_t acc[4][4][2]; /* [u][t][half] */
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[u][t][0] = acc[u][t][1] = vdupq_n_f32(0);
    int64_t k = 0;
    for (; k + 8 * U <= K; k += 8 * U) {
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            float32x4_t lo, hi;
            dn_load8(wr + (size_t)(k + 8 * u) * es, dt, &lo, &hi);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                const float *xp = x + t * ldx + k + 8 * u;
                acc[u][t][0] = vfmaq_f32(acc[u][t][0], lo, vld1q_f32(xp));
                acc[u][t][1] = vfmaq_f32(acc[u][t][1], hi, vld1q_f32(xp + 4));
            }
        }
    }
    for (; k + 8 <= K; k += 8) { /* only when U > 1 */
        float32x4_t lo, hi;
        dn_load8(wr + (size_t)k * es, dt, &lo, &hi);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float *xp = x + t * ldx + k;
            acc[0][t][0] = vfmaq_f32(acc[0][t][0], lo, vld1q_f32(xp));
            acc[0][t][1] = vfmaq_f32(acc[0][t][1], hi, vld1q_f32(xp + 4));
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        float32x4_t a = vaddq_f32(acc[0][t][0], acc[0][t][1]);
#pragma GCC unroll 4
        for (int u = 1; u < U; u++) a = vaddq_f32(a, vaddq_f32(acc[u][t][0], acc[u][t][1]));
        float s = vaddvq_f32(a);
        for (int64_t j = k; j < K; j++) s += dn_one(wr + (size_t)j * es, dt) * x[t * ldx + j];
        out[t] = s;
    }
}

/* Bytes of weight rows in one block of the M > 1 path: every block of 4
 * tokens passes over the block's rows (kept in L2), and while the first
 * token block computes row n it prefetches the same row of the next block
 * (as the x86 kernels). */
enum { DN_BLOCK = 256 * 1024 };

/* Prefetches the bytes [p, p + n) into the caches. */
TN_INLINE void dn_prefetch(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i += 64) __builtin_prefetch(p + i, 0, 3);
}

/* Rows [n0, n1) x all M tokens for one dtype. M == 1 walks one weight row at
 * a time with 4 x 2 accumulators (one sequential stream); M > 1 works on row
 * blocks as described above, each weight vector feeding 4 tokens. */
TN_INLINE void dn_all(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0,
                      int64_t n1, const int dt) {
    const int64_t K = w->K;
    const size_t rs = (size_t)K * (dt == DT_F32 ? 4 : 2);
    const uint8_t *base = (const uint8_t *)w->data;
    float o[4];
    if (M == 1) {
        for (int64_t n = n0; n < n1; n++) {
            dn_tile(base + (size_t)n * rs, x, K, K, 1, 4, dt, o);
            y[n] = o[0];
        }
        return;
    }
    const int64_t rb = DN_BLOCK / (int64_t)rs > 4 ? DN_BLOCK / (int64_t)rs : 4;
    for (int64_t na = n0; na < n1; na += rb) {
        const int64_t ne = na + rb < n1 ? na + rb : n1;
        for (int64_t m = 0; m < M; m += 4) {
            const int T = M - m < 4 ? (int)(M - m) : 4;
            for (int64_t n = na; n < ne; n++) {
                const uint8_t *wr = base + (size_t)n * rs;
                if (m == 0 && n + rb < n1) dn_prefetch(wr + (size_t)rb * rs, rs);
                switch (T) {
                case 4: dn_tile(wr, x + m * K, K, K, 4, 1, dt, o); break;
                case 3: dn_tile(wr, x + m * K, K, K, 3, 1, dt, o); break;
                case 2: dn_tile(wr, x + m * K, K, K, 2, 2, dt, o); break;
                default: dn_tile(wr, x + m * K, K, K, 1, 4, dt, o); break;
                }
                for (int t = 0; t < T; t++) y[(m + t) * ldy + n] = o[t];
            }
        }
    }
}

static void dn_f32(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    dn_all(w, x, M, y, ldy, n0, n1, DT_F32);
}
static void dn_bf16(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    dn_all(w, x, M, y, ldy, n0, n1, DT_BF16);
}
static void dn_f16(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    dn_all(w, x, M, y, ldy, n0, n1, DT_F16);
}

/* Dense matmul, NEON: see trit_kernels.dmatmul. F32, F16 and BF16 weights
 * (other dtypes go to the scalar reference); f32 accumulation in a different
 * order than the reference (agrees within float rounding). */
void trit_dmatmul_neon(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0,
                       int64_t n1) {
    if (n0 >= n1 || M < 1) return;
    switch (w->dtype) {
    case ST_F32: dn_f32(w, x, M, y, ldy, n0, n1); break;
    case ST_BF16: dn_bf16(w, x, M, y, ldy, n0, n1); break;
    case ST_F16: dn_f16(w, x, M, y, ldy, n0, n1); break;
    default: trit_dmatmul_scalar(w, x, M, y, ldy, n0, n1); break;
    }
}

#endif /* __aarch64__ */
