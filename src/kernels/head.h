/*
 * head.h - block-quantized lm_head: 8-, 6- and 4-bit weight formats, int8
 * activations, and their matrix-vector kernels.
 *
 * The lm_head (vocab x hidden, e.g. 128256 x 2560) is the largest matrix read
 * per generated token. Its weights are quantized at load in blocks of 32
 * along K with one bf16 scale per block and row:
 *
 *   format  codes u (unsigned)   weight w = d * (u - off)        bits/weight
 *   q8      u = q + 128, 8 bits  q in [-127, 127], d = amax/127  8.5
 *   q6      u = q + 32,  6 bits  q in [-32, 31],  d = -max/32    6.5
 *   q4      u = q + 8,   4 bits  q in [-8, 7],    d = -max/8     4.5
 *
 * (max: the signed value of largest magnitude in the block, so it maps to
 * the code -32 / -8 exactly and the asymmetric range is fully used.)
 *
 * Layout: tiles of 16 rows x 32 columns. A tile stores the 16 row scales and
 * the codes interleaved so that one 64-byte vector holds 4 consecutive codes
 * of each of the 16 rows (byte 4*r + j = row r, column 4*t + j): a VNNI
 * dot-product instruction against the 4 matching activation bytes
 * (broadcast) then accumulates one block partial sum per row and lane. Tiles
 * are ordered [row group][K/32], so a row group streams contiguously.
 *
 * Activations are quantized per token in blocks of 32 (trit_hq_act: a float
 * scale, the int8 codes and their sum). The result of every kernel is
 * defined by the scalar reference:
 *
 *   isum_b = sum_k (u[n][k] - off) * xq[m][k]      exact int32, per block b
 *   acc    = fmaf((float)isum_b, dw[n][b] * dx[m][b], acc)   for b = 0, 1, ...
 *   y[m][n] = acc                                   (acc starts at 0)
 *
 * and every ISA kernel computes exactly these operations in this order, so
 * all levels give identical bits.
 */
#ifndef TRIT_HEAD_H
#define TRIT_HEAD_H

#include <assert.h>
#include <stdint.h>
#include "core/core.h"
#include "kernels/kernels.h"

#define TRIT_HQ_BLOCK 32 /* columns per block (one scale)  */
#define TRIT_HQ_ROWS 16  /* rows per tile                  */

typedef enum { TRIT_HQ_Q8 = 0, TRIT_HQ_Q6 = 1, TRIT_HQ_Q4 = 2 } trit_hq_fmt;

/* q8 tile: qs[t][4*r + j] = u[r][4*t + j], t = 0..7. */
typedef struct {
    uint16_t d[TRIT_HQ_ROWS];  /* bf16 scale per row */
    uint8_t qs[8][64];
} trit_hq8_tile;
static_assert(sizeof(trit_hq8_tile) == 544, "q8 tile: 32 + 512 bytes");

/* q6 tile: low 4 bits as in q4 (ql[p] low nibbles: t = p, high nibbles:
 * t = p + 4); high 2 bits qh[t / 4][4*r + j] at bits 2*(t % 4). */
typedef struct {
    uint16_t d[TRIT_HQ_ROWS];
    uint8_t ql[4][64];
    uint8_t qh[2][64];
} trit_hq6_tile;
static_assert(sizeof(trit_hq6_tile) == 416, "q6 tile: 32 + 256 + 128 bytes");

/* q4 tile: qs[p][4*r + j] = u[r][4*p + j] | u[r][16 + 4*p + j] << 4, p = 0..3. */
typedef struct {
    uint16_t d[TRIT_HQ_ROWS];
    uint8_t qs[4][64];
} trit_hq4_tile;
static_assert(sizeof(trit_hq4_tile) == 288, "q4 tile: 32 + 256 bytes");

/* One token's block of 32 quantized activations: x ~= d * qs, qs in
 * [-127, 127], sum = sum of qs. */
typedef struct {
    float d;
    int32_t sum;
    int8_t qs[TRIT_HQ_BLOCK];
} trit_hq_act;
static_assert(sizeof(trit_hq_act) == 40, "activation block: 8 + 32 bytes");

/* A block-quantized matrix W [N x K]: ceil(N/16) * (K/32) tiles of `fmt`.
 * Rows >= N of the last row group are zero (code off, scale 0). */
typedef struct {
    trit_hq_fmt fmt;
    int64_t N, K;
    const void *tiles;
} trit_hmat;

/* Bytes of one tile of fmt (544, 416 or 288). */
static inline size_t trit_hq_tile_bytes(trit_hq_fmt fmt) {
    return fmt == TRIT_HQ_Q8 ? sizeof(trit_hq8_tile) : fmt == TRIT_HQ_Q6 ? sizeof(trit_hq6_tile) : sizeof(trit_hq4_tile);
}
/* Code offset of fmt (128, 32, 8). */
static inline int trit_hq_offset(trit_hq_fmt fmt) { return fmt == TRIT_HQ_Q8 ? 128 : fmt == TRIT_HQ_Q6 ? 32 : 8; }
/* Short name ("q8", "q6", "q4"). */
const char *trit_hq_name(trit_hq_fmt fmt);
/* Bytes of the tiles of an N x K matrix (K a multiple of 32). */
size_t trit_hq_bytes(trit_hq_fmt fmt, int64_t N, int64_t K);

/* Quantizes rows [r0, r1) of the dense matrix w (F32, F16 or BF16; w->K a
 * multiple of 32; r0 a multiple of 16) into the tiles of those row groups
 * in `tiles` (the whole matrix's tile array, laid out as trit_hmat). When r1
 * is not a multiple of 16 it must be w->N: the rows past N are zero-filled.
 * Row groups are independent, so threads may convert disjoint ranges.
 * Returns the element index (row * K + column) of the first NaN or infinite
 * weight in the rows, or -1 when all are finite. */
int64_t trit_hq_quantize_rows(trit_hq_fmt fmt, const trit_dmat *w, int64_t r0, int64_t r1, void *tiles);

/* Dequantizes row n of w into out[K] (tests, debugging). */
void trit_hq_dequant_row(const trit_hmat *w, int64_t n, float *out);

/* Quantizes one token x[K] (K a multiple of 32) into out[K/32]: per block
 * d = amax/127, qs = round-half-even(x * 127/amax) clamped to [-127, 127]
 * (all zero when amax is 0). */
void trit_hq_quantize_act(const float *x, int64_t K, trit_hq_act *out);

/* y[m*ldy + n] = row n of w . token m, for n in [n0, n1), m < M, as defined
 * in the file comment; xa: [M][K/32] activation blocks. */
typedef void (*trit_hmatmul_fn)(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                                int64_t n0, int64_t n1);

typedef struct {
    const char *name;
    trit_hmatmul_fn hmatmul;
} trit_head_kernels;

/* The head kernels of a level ("avx2" becomes "avx2-vnni" when the CPU has
 * AVX-VNNI); trit_head_kernels_get uses trit_cpu_isa(). */
const trit_head_kernels *trit_head_kernels_for(trit_isa isa);
const trit_head_kernels *trit_head_kernels_get(void);

void trit_hmatmul_scalar(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                         int64_t n0, int64_t n1);
#if defined(__x86_64__)
/* Call only when the CPU has the level (avxvnni: AVX2 + AVX-VNNI). */
void trit_hmatmul_avx2(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                       int64_t n0, int64_t n1);
void trit_hmatmul_avxvnni(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                          int64_t n0, int64_t n1);
void trit_hmatmul_avx512(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                         int64_t n0, int64_t n1);
#endif

#endif /* TRIT_HEAD_H */
