/*
 * binary.h - making binary (1-bit) weights in the block format of
 * kernels/binary.h: from float weights (sign + group absmean) and from HF
 * packed 2-bit codes that are all +-1.
 */
#ifndef TRIT_QUANT_BINARY_H
#define TRIT_QUANT_BINARY_H
#include <stdint.h>
#include "kernels/kernels.h"

/* Quantizes one row w[K] into trit_q1_blocks(K) blocks: per group of 128
 * (the last one partial when K % 128 != 0) d = mean |w| over the group's
 * weights (f32 mean rounded to f16, clamped to 65504), bit = (w >= 0), so
 * w ~ +-d; bits past K are 0. This is the least-squares scale for the signs.
 * Inputs must be finite. */
void trit_q1_quantize_row(const float *w, int64_t K, trit_q1_block *dst);

/* Quantizes a dense matrix row by row (rows read with trit_dmat_row) into
 * dst [N][trit_q1_blocks(K)]. Returns 0 when out of memory (a row buffer). */
int trit_q1_quantize(const trit_dmat *w, trit_q1_block *dst);

/* 1 if every 2-bit code of the n bytes is 0 or 2 (weights -1 / +1: a
 * binary matrix stored as packed ternary codes), else 0. Stops at the first
 * byte that holds a code 1 or 3. */
int trit_codes_binary(const uint8_t *codes, int64_t n);

/* Repacks a packed ternary matrix whose codes are all 0 or 2 (check with
 * trit_codes_binary) into dst [N][trit_q1_blocks(K)]: bit = code >> 1, and
 * d = 1 in every block (the per-tensor scale stays the kernels' wdiv), so
 * the matrix is uniform and trit_kernels.bmatmul gives exactly what
 * tmatmul gives. Codes 1 or 3 would be read as -1 / +1. */
void trit_q1_from_codes(const trit_tmat *t, trit_q1_block *dst);

#endif
