/*
 * binary.c - making binary (1-bit) weights (see quant/binary.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "quant/binary.h"

/* See binary.h. The mean is accumulated in double and rounded to f32, then
 * to f16 (round to nearest even). */
void trit_q1_quantize_row(const float *w, int64_t K, trit_q1_block *dst) {
    const int64_t nb = trit_q1_blocks(K);
    for (int64_t g = 0; g < nb; g++) {
        const int64_t k0 = g * TRIT_Q1_GROUP, len = K - k0 < TRIT_Q1_GROUP ? K - k0 : TRIT_Q1_GROUP;
        trit_q1_block *b = &dst[g];
        memset(b->qs, 0, sizeof b->qs);
        double s = 0;
        for (int64_t i = 0; i < len; i++) {
            float v = w[k0 + i];
            s += fabs((double)v);
            if (v >= 0.0f) b->qs[i >> 3] |= (uint8_t)(1u << (i & 7));
        }
        float d = (float)(s / (double)len);
        b->d = trit_f32_to_fp16(d < 65504.0f ? d : 65504.0f);
    }
}

/* See binary.h. */
int trit_q1_quantize(const trit_dmat *w, trit_q1_block *dst) {
    float *row = malloc((size_t)(w->K > 0 ? w->K : 1) * sizeof(float));
    if (!row) return 0;
    const int64_t nb = trit_q1_blocks(w->K);
    for (int64_t n = 0; n < w->N; n++) {
        trit_dmat_row(w, n, row);
        trit_q1_quantize_row(row, w->K, dst + n * nb);
    }
    free(row);
    return 1;
}

/* See binary.h. A byte holds only codes 0 and 2 iff the low bit of every
 * field is clear: OR-reduce b & 0x55 a word at a time, per 4 KiB chunk so a
 * ternary matrix is rejected after its first chunk. */
int trit_codes_binary(const uint8_t *codes, int64_t n) {
    const int64_t CH = 4096;
    for (int64_t c0 = 0; c0 < n; c0 += CH) {
        const int64_t c1 = c0 + CH < n ? c0 + CH : n;
        uint64_t any = 0;
        int64_t i = c0;
        for (; i + 8 <= c1; i += 8) {
            uint64_t v;
            memcpy(&v, codes + i, 8);
            any |= v & 0x5555555555555555ull;
        }
        for (; i < c1; i++) any |= codes[i] & 0x55u;
        if (any) return 0;
    }
    return 1;
}

/* Packs the bits (at position `shift` of each byte) of 8 bytes into one byte,
 * byte i -> bit i: the multiply moves bit 8i to bit 56 + i with no carries. */
static inline uint8_t gather8(uint64_t v, int shift) {
    return (uint8_t)((((v >> shift) & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56);
}

/* See binary.h. Row r is bit 2*(r/Q)+1 (the high bit of its code) of packed
 * row r % Q; each packed row is read for its (up to) 4 output rows while it
 * is in cache. */
void trit_q1_from_codes(const trit_tmat *t, trit_q1_block *dst) {
    const int64_t N = t->N, K = t->K, Q = t->Q, nb = trit_q1_blocks(K);
    for (int64_t q = 0; q < Q; q++) {
        const uint8_t *prow = t->codes + q * K;
        for (int j = 0; j < 4; j++) {
            const int64_t r = q + j * Q;
            if (r >= N) break;
            const int shift = 2 * j + 1;
            trit_q1_block *row = dst + r * nb;
            for (int64_t g = 0; g < nb; g++) {
                const int64_t k0 = g * TRIT_Q1_GROUP, len = K - k0 < TRIT_Q1_GROUP ? K - k0 : TRIT_Q1_GROUP;
                trit_q1_block *b = &row[g];
                b->d = 0x3C00; /* 1.0 in f16 */
                memset(b->qs, 0, sizeof b->qs);
                int64_t i = 0;
                for (; i + 8 <= len; i += 8) {
                    uint64_t v;
                    memcpy(&v, prow + k0 + i, 8);
                    b->qs[i >> 3] = gather8(v, shift);
                }
                for (; i < len; i++) b->qs[i >> 3] |= (uint8_t)(((prow[k0 + i] >> shift) & 1u) << (i & 7));
            }
        }
    }
}
