/*
 * ternary.h - the quantization rules of BitNet b1.58, exactly as
 * Hugging Face transformers applies them (so logits match).
 */
#ifndef TRIT_TERNARY_H
#define TRIT_TERNARY_H
#include <stdint.h>
#include "kernels/kernels.h"

/* Per-token int8 activation quantization (transformers' BitLinear/ActQuant):
 * scale = 127 / max(max|x|, 1e-5) in float32, q = clamp(rint(x*scale), -128, 127)
 * with round half to even. Returns scale; *sum receives the sum of q. */
float trit_act_quant(const float *x, int64_t n, int8_t *q, int32_t *sum);

/* Online ternarization of a master weight W [N x K] (transformers'
 * WeightQuant): s = 1 / max(mean|W|, 1e-5), w = clamp(rint(W*s), -1, 1).
 * Packs into the HF row-group layout (dst: [ceil(N/4)][K] bytes) and returns
 * s, which is the divisor of the packed rule (y = acc / (xs * s)).
 * Weights are read with trit_dmat_row. */
float trit_ternarize_pack(const trit_dmat *w, uint8_t *dst);

/* Counts bytes holding the invalid code 3 in a packed ternary buffer. */
int64_t trit_count_bad_codes(const uint8_t *codes, int64_t n);

/* Unpacks row r of a packed matrix into int8 weights {-1,0,1} (for tests). */
void trit_tmat_row(const trit_tmat *w, int64_t r, int8_t *out);

#endif
