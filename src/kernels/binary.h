/*
 * binary.h - binary (1-bit) weights: a block format like Q1_0_g128 of 1-bit
 * models such as PrismML's Bonsai (128 sign bits + one f16 scale per group of
 * 128 weights of a row, 1.125 bits per weight) and its matmul kernels against
 * the int8 per-token activations of BitNet (trit_act_quant).
 *
 * Format
 *   A row of K weights is ceil(K/128) blocks. Block g holds the weights
 *   k = 128 g + i (i < 128): w = +d if bit i is set, else -d, where bit i is
 *   bit i % 8 of qs[i / 8] (LSB first; a little-endian 64-bit load of qs
 *   gives bit i of the word for weight i) and d is the f16 scale (>= 0).
 *   When K % 128 != 0 the last block is partial: its bits past K are
 *   ignored by every kernel (written as 0). Any K >= 1 is supported.
 *   The scale is f16, as in Q1_0_g128: 2 bytes per 128 weights. Checkpoints
 *   with one float scale per tensor keep that scale outside the blocks (the
 *   kernels' divisor wdiv, as the ternary kernels have) and store d = 1 in
 *   every block, so nothing is rounded to f16 and logits are bit-identical
 *   to the 2-bit ternary path (see trit_q1_from_codes in quant/binary.h).
 *
 * Arithmetic (why the kernels need no sign multiply)
 *   Per group, sum_i sign_i x_i = 2 sum(x_i where bit i set) - sum_i x_i.
 *   The SIMD kernels expand 64 bits to 64 bytes of {0, 2} with one masked
 *   move (AVX-512BW) or shuffle/and/min (AVX2) and take u8 x s8 dot products
 *   (vpdpbusd / vpmaddubsw) with the activations, so 2 * the masked sum comes
 *   out directly; the group's sum of x is subtracted per group (general
 *   matrices) or once per row as the token's xsum (uniform matrices).
 */
#ifndef TRIT_BINARY_H
#define TRIT_BINARY_H

#include <stdint.h>

#define TRIT_Q1_GROUP 128

/* One group of 128 binary weights: 18 bytes. */
typedef struct {
    uint16_t d;       /* f16 scale of the group, >= 0                       */
    uint8_t qs[16];   /* sign bits: bit i%8 of qs[i/8] set -> weight i = +d */
} trit_q1_block;

_Static_assert(sizeof(trit_q1_block) == 18, "trit_q1_block must be 2 + 16 bytes (no padding)");

/* A binary matrix W [N x K]: row n is blocks [n*nb, (n+1)*nb). */
typedef struct {
    int64_t N, K;
    int64_t nb;                  /* blocks per row, ceil(K / 128)           */
    int uniform;                 /* 1: every block's d equals blocks[0].d, so
                                    kernels may sum a whole row in int32     */
    const trit_q1_block *blocks; /* [N][nb]                                 */
} trit_bmat;

/* Blocks per row for K weights. */
static inline int64_t trit_q1_blocks(int64_t K) { return (K + TRIT_Q1_GROUP - 1) / TRIT_Q1_GROUP; }

/*
 * The binary matmul contract (trit_kernels.bmatmul), for rows n in [n0, n1)
 * and tokens m < M:
 *   S[g] = sum over k < K of group g of (bit ? xq[m][k] : -xq[m][k])  (int)
 *   general: y[m*ldy + n] = (sum_g d[g] * S[g]) / (xs[m] * wdiv)
 *            the sum in f32 in an order of the kernel's choosing (levels
 *            agree within float rounding; exactly when every d[g] * S[g]
 *            and partial sum is an integer below 2^24, e.g. d = 1);
 *   uniform: y[m*ldy + n] = ((float)(sum_g S[g]) * d[0]) / (xs[m] * wdiv)
 *            (integer sum, then exactly this float expression: every level
 *            is bit-identical, and with d = 1 it is the ternary kernels'
 *            expression (float)acc / (xs * wdiv)).
 * xq: [M][K] int8 (row stride K); xs: per-token scale; xsum: per-token sum
 * of xq (used by uniform matrices). Outputs outside [n0, n1) are untouched.
 */
typedef void (*trit_bmatmul_fn)(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs,
                                const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1);

/* Plain C reference (kernels/binary_scalar.c). */
void trit_bmatmul_scalar(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                         int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1);
#if defined(__x86_64__)
/* x86 levels (binary_avx2.c, binary_avx512.c): call only when the CPU has the
 * level. Same contract as the reference. */
void trit_bmatmul_avx2(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                       int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1);
void trit_bmatmul_avx512(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                         int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1);
#endif

#endif /* TRIT_BINARY_H */
