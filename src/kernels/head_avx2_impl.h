/*
 * head_avx2_impl.h - the 256-bit block-quantized lm_head kernel, included by
 * head_avx2.c (vpmaddubsw) and head_avxvnni.c (AVX-VNNI vpdpbusd, with
 * HQ_AVXVNNI defined). HQ_FN names the function to define.
 *
 * A tile's 64-byte code vectors (byte 4*r + j = row r, column 4*t + j) are
 * taken as two halves, rows 0-7 and rows 8-15. Block sums are exact in
 * int32 on both paths:
 *   - AVX-VNNI: vpdpbusd from -off * sum(x), as the AVX-512 kernel.
 *   - vpmaddubsw (u8 x s8 -> s16 pairs, saturating): q4 codes <= 15 and q6
 *     codes <= 63 against |x| <= 127 cannot saturate (pairs of steps summed
 *     in s16 stay below 2 * 63 * 127 * 2 = 32004); q8 codes would (255 *
 *     127 * 2), so q8 uses the signed weights q = u ^ 0x80 (|q| <= 127) with
 *     |q| x sign(x, q), whose sums need no offset correction.
 * Then per block the reference's fmaf(isum, dw * dx, acc), in its order:
 * bit-identical to trit_hmatmul_scalar.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "kernels/head.h"

#define HQ_INLINE static inline __attribute__((always_inline))

/* 8 bf16 row scales at d as f32. */
HQ_INLINE __m256 scales8(const uint16_t *d) {
    __m128i h = _mm_loadu_si128((const __m128i *)d);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The eight code vectors of half `h` (rows 8h..8h+7) of a tile. Without
 * AVX-VNNI, q8 vectors hold the signed weights q instead of the codes. */
HQ_INLINE void unpack(trit_hq_fmt fmt, const void *tile, int h, __m256i v[8]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (fmt == TRIT_HQ_Q8) {
        const trit_hq8_tile *t = tile;
        for (int i = 0; i < 8; i++) {
            v[i] = _mm256_loadu_si256((const __m256i *)(t->qs[i] + 32 * h));
#ifndef HQ_AVXVNNI
            v[i] = _mm256_xor_si256(v[i], _mm256_set1_epi8((char)0x80));
#endif
        }
    } else if (fmt == TRIT_HQ_Q4) {
        const trit_hq4_tile *t = tile;
        for (int p = 0; p < 4; p++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(t->qs[p] + 32 * h));
            v[p] = _mm256_and_si256(x, m4);
            v[p + 4] = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
        }
    } else {
        const trit_hq6_tile *t = tile;
        const __m256i m30 = _mm256_set1_epi8(0x30);
        __m256i h0 = _mm256_loadu_si256((const __m256i *)(t->qh[0] + 32 * h));
        __m256i h1 = _mm256_loadu_si256((const __m256i *)(t->qh[1] + 32 * h));
        __m256i hs[8] = {_mm256_slli_epi16(h0, 4), _mm256_slli_epi16(h0, 2), h0, _mm256_srli_epi16(h0, 2),
                         _mm256_slli_epi16(h1, 4), _mm256_slli_epi16(h1, 2), h1, _mm256_srli_epi16(h1, 2)};
        for (int p = 0; p < 4; p++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(t->ql[p] + 32 * h));
            v[p] = _mm256_or_si256(_mm256_and_si256(x, m4), _mm256_and_si256(hs[p], m30));
            v[p + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(x, 4), m4), _mm256_and_si256(hs[p + 4], m30));
        }
    }
}

/* The 4 activation bytes at p in every lane (a broadcast load). */
HQ_INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Exact block sums of 8 rows for one token: sum (u - off) * x. */
HQ_INLINE __m256i block_dot(trit_hq_fmt fmt, const __m256i v[8], const trit_hq_act *a) {
    const int32_t off = trit_hq_offset(fmt);
#ifdef HQ_AVXVNNI
    __m256i s0 = _mm256_set1_epi32(-off * a->sum), s1 = _mm256_setzero_si256();
    for (int i = 0; i < 8; i += 2) {
        s0 = _mm256_dpbusd_avx_epi32(s0, v[i], bcast4(a->qs + 4 * i));
        s1 = _mm256_dpbusd_avx_epi32(s1, v[i + 1], bcast4(a->qs + 4 * i + 4));
    }
    return _mm256_add_epi32(s0, s1);
#else
    const __m256i ones = _mm256_set1_epi16(1);
    if (fmt == TRIT_HQ_Q8) {
        __m256i s = _mm256_setzero_si256();
        for (int i = 0; i < 8; i++) {
            __m256i x = bcast4(a->qs + 4 * i);
            __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(v[i]), _mm256_sign_epi8(x, v[i]));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
        }
        return s;
    }
    __m256i s = _mm256_set1_epi32(-off * a->sum);
    for (int i = 0; i < 8; i += 2) {
        __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(v[i], bcast4(a->qs + 4 * i)),
                                     _mm256_maddubs_epi16(v[i + 1], bcast4(a->qs + 4 * i + 4)));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
    }
    return s;
#endif
}

/* Row group g for tokens m0..m0+MB-1; rows [lo, hi) of the group are stored. */
HQ_INLINE void group(trit_hq_fmt fmt, int MB, const trit_hmat *w, const trit_hq_act *xa, int64_t m0, float *y,
                     int64_t ldy, int64_t g, int lo, int hi) {
    const int64_t B = w->K / TRIT_HQ_BLOCK;
    const size_t tb = trit_hq_tile_bytes(fmt);
    const uint8_t *tg = (const uint8_t *)w->tiles + (size_t)(g * B) * tb;
    __m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()}, {_mm256_setzero_ps(), _mm256_setzero_ps()}};
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *t = tg + (size_t)b * tb;
        for (int h = 0; h < 2; h++) {
            __m256i v[8];
            unpack(fmt, t, h, v);
            __m256 dw = scales8((const uint16_t *)t + 8 * h);
            for (int j = 0; j < MB; j++) {
                const trit_hq_act *a = xa + (m0 + j) * B + b;
                __m256 f = _mm256_cvtepi32_ps(block_dot(fmt, v, a));
                acc[j][h] = _mm256_fmadd_ps(f, _mm256_mul_ps(dw, _mm256_set1_ps(a->d)), acc[j][h]);
            }
        }
    }
    for (int j = 0; j < MB; j++) {
        float *yr = y + (m0 + j) * ldy + g * TRIT_HQ_ROWS;
        if (lo == 0 && hi == TRIT_HQ_ROWS) {
            _mm256_storeu_ps(yr, acc[j][0]);
            _mm256_storeu_ps(yr + 8, acc[j][1]);
        } else {
            float o[16];
            _mm256_storeu_ps(o, acc[j][0]);
            _mm256_storeu_ps(o + 8, acc[j][1]);
            for (int r = lo; r < hi; r++) yr[r] = o[r];
        }
    }
}

/* All row groups touching [n0, n1), tokens in pairs. */
HQ_INLINE void hmatmul(trit_hq_fmt fmt, const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                       int64_t n0, int64_t n1) {
    for (int64_t g = n0 / TRIT_HQ_ROWS; g * TRIT_HQ_ROWS < n1; g++) {
        int64_t r0 = g * TRIT_HQ_ROWS;
        int lo = (int)((n0 > r0 ? n0 : r0) - r0), hi = (int)((n1 < r0 + 16 ? n1 : r0 + 16) - r0);
        int64_t m0 = 0;
        for (; m0 + 2 <= M; m0 += 2) group(fmt, 2, w, xa, m0, y, ldy, g, lo, hi);
        if (m0 < M) group(fmt, 1, w, xa, m0, y, ldy, g, lo, hi);
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
void HQ_FN(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    if (n0 >= n1 || M < 1) return;
    switch (w->fmt) {
    case TRIT_HQ_Q8: hm_q8(w, xa, M, y, ldy, n0, n1); break;
    case TRIT_HQ_Q6: hm_q6(w, xa, M, y, ldy, n0, n1); break;
    default: hm_q4(w, xa, M, y, ldy, n0, n1); break;
    }
}

#endif /* __x86_64__ */
