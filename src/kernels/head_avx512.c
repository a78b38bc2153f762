/*
 * head_avx512.c - block-quantized lm_head kernel, AVX-512 VNNI (see head.h).
 *
 * A tile (16 rows x 32 columns) unpacks into eight 64-byte vectors of
 * unsigned codes, byte 4*r + j = row r, column 4*t + j. For each token,
 * vpdpbusd against the broadcast activation bytes 4t..4t+3 accumulates row
 * r's block sum in lane r, starting from -off * sum(x) so the code offset
 * cancels exactly; then one fused multiply-add per block applies
 * dw[r] * dx. These are the reference's operations in its order: the
 * results are bit-identical to trit_hmatmul_scalar.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "kernels/head.h"

#define HQ_INLINE static inline __attribute__((always_inline))

/* The 16 bf16 row scales at d as f32. */
HQ_INLINE __m512 scales16(const uint16_t *d) {
    __m256i h = _mm256_loadu_si256((const __m256i *)d);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The eight code vectors of a tile of format fmt. */
HQ_INLINE void unpack(trit_hq_fmt fmt, const void *tile, __m512i v[8]) {
    const __m512i m4 = _mm512_set1_epi8(15);
    if (fmt == TRIT_HQ_Q8) {
        const trit_hq8_tile *t = tile;
        for (int i = 0; i < 8; i++) v[i] = _mm512_loadu_si512(t->qs[i]);
    } else if (fmt == TRIT_HQ_Q4) {
        const trit_hq4_tile *t = tile;
        for (int p = 0; p < 4; p++) {
            __m512i x = _mm512_loadu_si512(t->qs[p]);
            v[p] = _mm512_and_si512(x, m4);
            v[p + 4] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
        }
    } else {
        const trit_hq6_tile *t = tile;
        const __m512i m30 = _mm512_set1_epi8(0x30);
        __m512i h0 = _mm512_loadu_si512(t->qh[0]), h1 = _mm512_loadu_si512(t->qh[1]);
        /* the 2 high bits of step t sit at bits 2*(t%4) of qh[t/4]; move them to bits 4-5 */
        __m512i hs[8] = {_mm512_slli_epi16(h0, 4), _mm512_slli_epi16(h0, 2), h0, _mm512_srli_epi16(h0, 2),
                         _mm512_slli_epi16(h1, 4), _mm512_slli_epi16(h1, 2), h1, _mm512_srli_epi16(h1, 2)};
        for (int p = 0; p < 4; p++) {
            __m512i x = _mm512_loadu_si512(t->ql[p]);
            __m512i lo = _mm512_and_si512(x, m4), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
            v[p] = _mm512_ternarylogic_epi32(lo, hs[p], m30, 0xF8);        /* lo | (hs & 0x30) */
            v[p + 4] = _mm512_ternarylogic_epi32(hi, hs[p + 4], m30, 0xF8);
        }
    }
}

/* The 4 activation bytes at p in every lane (a broadcast load). */
HQ_INLINE __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Exact block sum per row for one token: sum (u - off) * x. */
HQ_INLINE __m512i block_dot(const __m512i v[8], const trit_hq_act *a, int32_t off) {
    __m512i s0 = _mm512_set1_epi32(-off * a->sum), s1 = _mm512_setzero_si512();
    for (int i = 0; i < 8; i += 2) {
        s0 = _mm512_dpbusd_epi32(s0, v[i], bcast4(a->qs + 4 * i));
        s1 = _mm512_dpbusd_epi32(s1, v[i + 1], bcast4(a->qs + 4 * i + 4));
    }
    return _mm512_add_epi32(s0, s1);
}

/* Row group g (rows 16g..16g+15, lanes `mask` stored) for tokens m0..m0+MB-1. */
HQ_INLINE void group(trit_hq_fmt fmt, int MB, const trit_hmat *w, const trit_hq_act *xa, int64_t m0, float *y,
                     int64_t ldy, int64_t g, __mmask16 mask) {
    const int64_t B = w->K / TRIT_HQ_BLOCK;
    const size_t tb = trit_hq_tile_bytes(fmt);
    const int32_t off = trit_hq_offset(fmt);
    const uint8_t *tg = (const uint8_t *)w->tiles + (size_t)(g * B) * tb;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *t = tg + (size_t)b * tb;
        __m512i v[8];
        unpack(fmt, t, v);
        __m512 dw = scales16((const uint16_t *)t);
        for (int j = 0; j < MB; j++) {
            const trit_hq_act *a = xa + (m0 + j) * B + b;
            __m512 f = _mm512_cvtepi32_ps(block_dot(v, a, off));
            acc[j] = _mm512_fmadd_ps(f, _mm512_mul_ps(dw, _mm512_set1_ps(a->d)), acc[j]);
        }
    }
    for (int j = 0; j < MB; j++) _mm512_mask_storeu_ps(y + (m0 + j) * ldy + g * TRIT_HQ_ROWS, mask, acc[j]);
}

/* All row groups touching [n0, n1), tokens in groups of up to 4. */
HQ_INLINE void hmatmul(trit_hq_fmt fmt, const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                       int64_t n0, int64_t n1) {
    for (int64_t g = n0 / TRIT_HQ_ROWS; g * TRIT_HQ_ROWS < n1; g++) {
        int64_t r0 = g * TRIT_HQ_ROWS;
        int lo = (int)((n0 > r0 ? n0 : r0) - r0), hi = (int)((n1 < r0 + 16 ? n1 : r0 + 16) - r0);
        __mmask16 mask = (__mmask16)((((1u << hi) - 1u) >> lo) << lo);
        int64_t m0 = 0;
        for (; m0 + 4 <= M; m0 += 4) group(fmt, 4, w, xa, m0, y, ldy, g, mask);
        switch (M - m0) {
        case 3: group(fmt, 3, w, xa, m0, y, ldy, g, mask); break;
        case 2: group(fmt, 2, w, xa, m0, y, ldy, g, mask); break;
        case 1: group(fmt, 1, w, xa, m0, y, ldy, g, mask); break;
        default: break;
        }
    }
}

static void hm_q8(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    hmatmul(TRIT_HQ_Q8, w, xa, M, y, ldy, n0, n1);
}
static void hm_q6(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    hmatmul(TRIT_HQ_Q6, w, xa, M, y, ldy, n0, n1);
}
static void hm_q4(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    hmatmul(TRIT_HQ_Q4, w, xa, M, y, ldy, n0, n1);
}

/* See head.h (trit_hmatmul_fn). */
void trit_hmatmul_avx512(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy, int64_t n0,
                         int64_t n1) {
    if (n0 >= n1 || M < 1) return;
    switch (w->fmt) {
    case TRIT_HQ_Q8: hm_q8(w, xa, M, y, ldy, n0, n1); break;
    case TRIT_HQ_Q6: hm_q6(w, xa, M, y, ldy, n0, n1); break;
    default: hm_q4(w, xa, M, y, ldy, n0, n1); break;
    }
}

#endif /* __x86_64__ */
