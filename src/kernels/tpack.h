/*
 * tpack.h - repacked compute layouts for ternary weights and their kernels.
 *
 * The Hugging Face packed layout (trit_tmat) puts rows r, r+Q, r+2Q, r+3Q in
 * one byte. The loader repacks it once into one of these layouts, each made
 * of "bands" of consecutive output rows stored as one contiguous stream, so
 * that a GEMV reads every band front to back and each activation vector
 * loaded feeds several rows:
 *
 *  TRIT_TPK_I2 (2 bits per weight): bands of 16 rows. K is padded to Kp, a
 *    multiple of 64. A band is Kp/64 chunks of 256 bytes; chunk kc holds 4
 *    "quads" of 64 bytes; byte c of quad j holds the codes (w + 1) of rows
 *    16b + 4j + f (f = 0..3, at bits 2f) at column 64 kc + c.
 *    Band bytes: 4 Kp.
 *
 *  TRIT_TPK_T1 (1.6 bits per weight, 5 trits per byte): bands of 8 rows. K is
 *    padded to Kp, a multiple of 320. A band is Kp/320 blocks of 512 bytes;
 *    block kb holds 64 bytes per row f (at 64 f); byte c holds the codes
 *    d_i = w + 1 of columns 320 kb + 64 i + c, i = 0..4, as
 *      q = ceil(256 v / 243),  v = sum_i d_i 3^(4-i)        (q <= 255).
 *    Digits come back in order as d_i = floor(3 q_i / 256) with q_0 = q and
 *    q_{i+1} = 3 q_i mod 256; since 3 q_i - q_{i+1} = 256 d_i, the dot
 *    product of a plane with activations x is (3 x.q_i - x.q_{i+1}) / 256,
 *    two u8 x s8 dot products and no per-byte digit extraction.
 *    Band bytes: 8 Kp / 5.
 *
 *  TRIT_TPK_TL (lookup table, 16/9 bits per weight): bands of 32 rows. K is
 *    padded to Kp, a multiple of 9. A band is Kp/9 groups of 64 bytes: 32
 *    uint16 lanes, lane f for row 32b + f; bits 5s..5s+4 (s = 0..2) hold the
 *    index d0 + 3 d1 + 9 d2 (0..26) of the codes of columns 9g + 3s + 0..2.
 *    The GEMV builds, per token and per 3 columns, the 27 exact int16 sums of
 *    +-x and looks them up (vpermw); see tpack_avx512.c.
 *    Band bytes: 64 Kp / 9.
 *
 * Padding weights (rows >= N, columns >= K) are 0 (code 1). Every kernel
 * computes y[m*ldy + r] = (x_q[m] . w[r]) / (xs[m] * wdiv) with an exact
 * int32 dot product, the same float expression as trit_tmatmul_scalar, so all
 * formats and levels give bit-identical results.
 */
#ifndef TRIT_TPACK_H
#define TRIT_TPACK_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"

typedef enum { TRIT_TPK_I2 = 1, TRIT_TPK_T1 = 2, TRIT_TPK_TL = 3 } trit_tpk_fmt;

/* A repacked ternary matrix W [N x K]. */
typedef struct {
    int fmt;             /* trit_tpk_fmt                                  */
    int64_t N, K;
    int64_t Kp;          /* K padded to the format's column block          */
    int64_t rows;        /* rows per band: 16 (I2), 8 (T1), 32 (TL)        */
    int64_t band_bytes;  /* bytes of one band                              */
    const uint8_t *data; /* [ceil(N/rows)][band_bytes]                     */
} trit_tpk;

/* Fills the geometry of t for a format and shape (data = NULL); returns the
 * bytes the packed matrix needs, or 0 for an unknown format or empty shape. */
size_t trit_tpk_geometry(trit_tpk *t, int fmt, int64_t N, int64_t K);

/* Number of bands of t. */
static inline int64_t trit_tpk_bands(const trit_tpk *t) { return (t->N + t->rows - 1) / t->rows; }

/* Packs bands [b0, b1) of dst (geometry set, dst_buf its storage) from the
 * Hugging Face layout src (same N, K). Bands are independent, so threads may
 * pack disjoint ranges. */
void trit_tpk_pack_hf(const trit_tmat *src, const trit_tpk *dst, uint8_t *dst_buf, int64_t b0, int64_t b1);

/* Code (w + 1, 0..2) of row r, column k of t (r < N, k < K); for tests. */
int trit_tpk_code(const trit_tpk *t, int64_t r, int64_t k);

/* Row ranges given to kernels start at a multiple of TRIT_TPK_ALIGN and end
 * at one or at N (a multiple of every format's band). */
enum { TRIT_TPK_ALIGN = 32 };

/* y[m*ldy + r] = (x_q[m] . w[r]) / (xs[m] * wdiv) for rows r in [r0, r1),
 * m < M (r0, r1: see TRIT_TPK_ALIGN). xq: [M][K] int8 (row
 * stride K); xs: per-token scale; xsum: per-token sum of xq. */
typedef void (*trit_tpk_fn)(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs,
                            const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);

/* The kernels of one level, per format (index trit_tpk_fmt). */
typedef struct {
    const char *name;
    trit_tpk_fn mm[4];
} trit_tpk_kernels;

/* The table of a level (levels without their own kernel for a format use
 * the scalar reference), and the table for trit_cpu_isa(). */
const trit_tpk_kernels *trit_tpk_kernels_for(trit_isa isa);
const trit_tpk_kernels *trit_tpk_kernels_get(void);

/* Scalar references, one per format. */
void trit_tpk_mm_scalar(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);

#if defined(__x86_64__)
/* tpack_avx512.c: I2 (GEMV + GEMM), T1 (GEMV + GEMM), TL (GEMV; M > 1 runs
 * one token at a time). tpack_avx2.c: I2 and T1. Bit-identical to the
 * reference; call only when the CPU has the level. */
void trit_tpk_i2_avx512(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);
void trit_tpk_t1_avx512(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);
void trit_tpk_tl_avx512(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);
void trit_tpk_i2_avx2(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                      int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);
void trit_tpk_t1_avx2(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                      int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1);
#endif

#endif /* TRIT_TPACK_H */
