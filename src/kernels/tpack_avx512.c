/*
 * tpack_avx512.c - AVX-512 (F + BW + VL + VNNI) kernels for the repacked
 * ternary layouts of tpack.h. Built with the Makefile's *_avx512.o flags and
 * called only when trit_cpu_isa() reports TRIT_ISA_AVX512.
 *
 * I2 uses the cumulative-mask vpdpbusd scheme of kernels_avx512.c (dot the
 * int8 activations with b & 0x03, b & 0x0f, b & 0x3f and b; neighbour
 * differences give 4^g x.code_g), but a band's 4 quads share one activation
 * vector per 64 columns and the band is one contiguous stream: per 256 code
 * bytes, 1 activation load, 4 code loads, 12 ands and 16 vpdpbusd into 16
 * accumulators, reduced once per band into 16 outputs.
 *
 * T1 dots each 64-byte row vector q with the 5 activation vectors of its
 * block as (3 x.q_i - x.q_{i+1}) / 256 (see tpack.h): 10 vpdpbusd and 10
 * byte adds per 320 weights, no digit extraction. Prompts (M > 1) decode
 * blocks of T1 bands into I2 bands in an L2-sized scratch and run the I2
 * GEMM on them, so the decode cost is shared by all tokens.
 *
 * TL builds, per token and per 3 columns, the 32-entry int16 table of
 * sums d0 x0 + d1 x1 + d2 x2 (d in {-1,0,1}, index d0+1 + 3(d1+1) + 9(d2+1))
 * and looks up 32 rows at once with vpermw (which reads only the low 5 bits
 * of each 16-bit index, so 3 indices share a lane: shifts by 5 and 10).
 * Sums stay exact in int16 for 16 groups, then widen to int32.
 */
#include <stdlib.h>
#include "kernels/tpack_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TP_INLINE static inline __attribute__((always_inline))

/* acc + u8 a . s8 b per 4 bytes (vpdpbusd; inline asm keeps accumulators in
 * place, as in kernels_avx512.c). */
TP_INLINE __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/* Lane i of the result = sum of the 16 lanes of v[i], i < 16. */
TP_INLINE __m512i hsum16(const __m512i *v) {
    __m512i q[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        __m512i a = v[4 * g], b = v[4 * g + 1], c = v[4 * g + 2], d = v[4 * g + 3];
        __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
        __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
        q[g] = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
    }
    __m512i u01 = _mm512_add_epi32(_mm512_shuffle_i32x4(q[0], q[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_i32x4(q[0], q[1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512i u23 = _mm512_add_epi32(_mm512_shuffle_i32x4(q[2], q[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_i32x4(q[2], q[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Sums the 16 int32 lanes of each of a, b, c, d into lanes 0..3. */
TP_INLINE __m128i hsum4(__m512i a, __m512i b, __m512i c, __m512i d) {
    __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
    __m256i s2 = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1));
}

/* Mask of the first n (0..16) lanes. */
TP_INLINE __mmask16 first16(int64_t n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

/* Activations of columns [k, k + 64) with zeros at and past K. */
TP_INLINE __m512i load_x(const int8_t *x, int64_t k, int64_t K) {
    if (k + 64 <= K) return _mm512_loadu_si512(x + k);
    if (k >= K) return _mm512_setzero_si512();
    return _mm512_maskz_loadu_epi8(((uint64_t)1 << (K - k)) - 1, x + k);
}

/* ==== I2 ==== */

enum { I2_KMAX = 65536, T1_KMAX = 32768 };

/* One 64-column chunk of a band (4 quads at c) against x into acc[4j + g]. */
TP_INLINE void i2_chunk(const uint8_t *c, __m512i x, __m512i *acc) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512i b = _mm512_load_si512(c + 64 * j);
        acc[4 * j + 0] = dpbusd(acc[4 * j + 0], _mm512_and_si512(b, _mm512_set1_epi8(0x03)), x);
        acc[4 * j + 1] = dpbusd(acc[4 * j + 1], _mm512_and_si512(b, _mm512_set1_epi8(0x0f)), x);
        acc[4 * j + 2] = dpbusd(acc[4 * j + 2], _mm512_and_si512(b, _mm512_set1_epi8(0x3f)), x);
        acc[4 * j + 3] = dpbusd(acc[4 * j + 3], b, x);
    }
}

/* Turns the 16 cumulative sums of a band (lane 4j + g: A_g of quad j) into
 * outputs y[0..n) for one token: x.code = (A_g - A_{g-1}) >> 2g, minus xsum. */
TP_INLINE void i2_store16(__m512i S, int32_t xsum, float denom, float *y, int64_t n) {
    __m512i D = _mm512_sub_epi32(S, _mm512_bslli_epi128(S, 4));
    D = _mm512_srav_epi32(D, _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6));
    D = _mm512_sub_epi32(D, _mm512_set1_epi32(xsum));
    __m512 f = _mm512_div_ps(_mm512_cvtepi32_ps(D), _mm512_set1_ps(denom));
    _mm512_mask_storeu_ps(y, first16(n), f);
}

/* GEMV of bands [b0, b1) (band b0 at `bands`) for one token. */
static void i2_gemv(const trit_tpk *w, const uint8_t *bands, int64_t b0, int64_t b1, const int8_t *x, int32_t xsum,
                    float denom, float *y) {
    const int64_t K = w->K, nfull = K / 64, nch = w->Kp / 64;
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *band = bands + (b - b0) * w->band_bytes;
        __m512i acc[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
        for (int64_t kc = 0; kc < nfull; kc++) i2_chunk(band + kc * 256, _mm512_loadu_si512(x + kc * 64), acc);
        if (nfull < nch) i2_chunk(band + nfull * 256, load_x(x, nfull * 64, K), acc);
        i2_store16(hsum16(acc), xsum, denom, y + 16 * b, w->N - 16 * b);
    }
}

/* T tokens (x, row stride K) x one quad (codes at c, 64 bytes per 256):
 * cumulative sums out[t] (A03, A0f, A3f, Aff). */
TP_INLINE void i2_tile(const uint8_t *c, const int8_t *x, int64_t K, int64_t nch, const int T, __m128i *out) {
    __m512i acc[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[t][g] = _mm512_setzero_si512();
    const int64_t nfull = K / 64;
    for (int64_t kc = 0; kc < nch; kc++) {
        const __m512i b = _mm512_load_si512(c + kc * 256);
        const __m512i p0 = _mm512_and_si512(b, _mm512_set1_epi8(0x03));
        const __m512i p1 = _mm512_and_si512(b, _mm512_set1_epi8(0x0f));
        const __m512i p2 = _mm512_and_si512(b, _mm512_set1_epi8(0x3f));
        __m512i xv[4];
        if (kc < nfull) {
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_si512(x + t * K + kc * 64);
        } else {
            for (int t = 0; t < T; t++) xv[t] = load_x(x + t * K, kc * 64, K);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            acc[t][0] = dpbusd(acc[t][0], p0, xv[t]);
            acc[t][1] = dpbusd(acc[t][1], p1, xv[t]);
            acc[t][2] = dpbusd(acc[t][2], p2, xv[t]);
            acc[t][3] = dpbusd(acc[t][3], b, xv[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) out[t] = hsum4(acc[t][0], acc[t][1], acc[t][2], acc[t][3]);
}

static void i2_tile_1(const uint8_t *c, const int8_t *x, int64_t K, int64_t nch, __m128i *o) { i2_tile(c, x, K, nch, 1, o); }
static void i2_tile_2(const uint8_t *c, const int8_t *x, int64_t K, int64_t nch, __m128i *o) { i2_tile(c, x, K, nch, 2, o); }
static void i2_tile_3(const uint8_t *c, const int8_t *x, int64_t K, int64_t nch, __m128i *o) { i2_tile(c, x, K, nch, 3, o); }
static void i2_tile_4(const uint8_t *c, const int8_t *x, int64_t K, int64_t nch, __m128i *o) { i2_tile(c, x, K, nch, 4, o); }
typedef void (*i2_tile_fn)(const uint8_t *, const int8_t *, int64_t, int64_t, __m128i *);

/* Outputs of one quad (rows r .. r+3, those < N) for one token. */
TP_INLINE void i2_store4(__m128i S, int32_t xsum, float denom, float *y, int64_t n) {
    __m128i D = _mm_sub_epi32(S, _mm_slli_si128(S, 4));
    D = _mm_srav_epi32(D, _mm_setr_epi32(0, 2, 4, 6));
    D = _mm_sub_epi32(D, _mm_set1_epi32(xsum));
    __m128 f = _mm_div_ps(_mm_cvtepi32_ps(D), _mm_set1_ps(denom));
    _mm_mask_storeu_ps(y, (__mmask8)(n >= 4 ? 0xf : (1u << n) - 1), f);
}

/* Four tokens (x, row stride K) x one quad (codes at c): the outputs of
 * rows r .. r+3 (those < N: n = N - r) for the 4 tokens, y + t * ldy.
 * As i2_tile (T = 4) + i2_store4, but the 16 accumulators are reduced by
 * one 16-lane tree (lane 4t + g: A_g of token t) and the output arithmetic
 * runs on all 16 lanes at once: the per-tile epilogue costs a third of 4
 * separate ones (GEMM 2560 x 6912 x 128 on one thread: ~2% faster, 390
 * GMAC/s against a measured vpdpbusd peak of ~420). Same integer sums and
 * the same float expression per output: identical bits. */
static void i2_tile4_store(const uint8_t *c, const int8_t *x, int64_t K, int64_t nch, const int32_t *xsum,
                           const float *xs, float wdiv, float *y, int64_t ldy, int64_t n) {
    __m512i acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    const int64_t nfull = K / 64;
    for (int64_t kc = 0; kc < nch; kc++) {
        const __m512i b = _mm512_load_si512(c + kc * 256);
        const __m512i p0 = _mm512_and_si512(b, _mm512_set1_epi8(0x03));
        const __m512i p1 = _mm512_and_si512(b, _mm512_set1_epi8(0x0f));
        const __m512i p2 = _mm512_and_si512(b, _mm512_set1_epi8(0x3f));
        __m512i xv[4];
        if (kc < nfull) {
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) xv[t] = _mm512_loadu_si512(x + t * K + kc * 64);
        } else {
            for (int t = 0; t < 4; t++) xv[t] = load_x(x + t * K, kc * 64, K);
        }
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            acc[4 * t + 0] = dpbusd(acc[4 * t + 0], p0, xv[t]);
            acc[4 * t + 1] = dpbusd(acc[4 * t + 1], p1, xv[t]);
            acc[4 * t + 2] = dpbusd(acc[4 * t + 2], p2, xv[t]);
            acc[4 * t + 3] = dpbusd(acc[4 * t + 3], b, xv[t]);
        }
    }
    const __m512i S = hsum16(acc);
    __m512i D = _mm512_sub_epi32(S, _mm512_bslli_epi128(S, 4));
    D = _mm512_srav_epi32(D, _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6));
    const __m128i xs4 = _mm_loadu_si128((const __m128i *)xsum);
    const __m512i xsv = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                                 _mm512_castsi128_si512(xs4));
    D = _mm512_sub_epi32(D, xsv);
    const __m128 den4 = _mm_mul_ps(_mm_loadu_ps(xs), _mm_set1_ps(wdiv));
    const __m512 den = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                             _mm512_castps128_ps512(den4));
    const __m512 f = _mm512_div_ps(_mm512_cvtepi32_ps(D), den);
    const __mmask8 mk = (__mmask8)(n >= 4 ? 0xf : (1u << n) - 1);
    _mm_mask_storeu_ps(y, mk, _mm512_castps512_ps128(f));
    _mm_mask_storeu_ps(y + ldy, mk, _mm512_extractf32x4_ps(f, 1));
    _mm_mask_storeu_ps(y + 2 * ldy, mk, _mm512_extractf32x4_ps(f, 2));
    _mm_mask_storeu_ps(y + 3 * ldy, mk, _mm512_extractf32x4_ps(f, 3));
}

/* Token block of the GEMM and bytes of codes per cache block. */
enum { I2_TB = 4, I2_CODE_BLOCK = 256 * 1024 };

/* GEMM of bands [b0, b1) (band b0 at `bands`), M tokens: cache blocks of
 * bands, then blocks of up to 4 tokens against one quad at a time. */
static void i2_gemm(const trit_tpk *w, const uint8_t *bands, int64_t b0, int64_t b1, float wdiv, const int8_t *xq,
                    const float *xs, const int32_t *xsum, int64_t M, float *y, int64_t ldy) {
    static const i2_tile_fn by_t[I2_TB + 1] = {NULL, i2_tile_1, i2_tile_2, i2_tile_3, i2_tile_4};
    const int64_t K = w->K, nch = w->Kp / 64;
    int64_t bb = I2_CODE_BLOCK / w->band_bytes;
    if (bb < 1) bb = 1;
    for (int64_t ba = b0; ba < b1; ba += bb) {
        const int64_t be = ba + bb < b1 ? ba + bb : b1;
        for (int64_t m = 0; m < M; m += I2_TB) {
            const int T = M - m < I2_TB ? (int)(M - m) : I2_TB;
            for (int64_t b = ba; b < be; b++)
                for (int j = 0; j < 4; j++) {
                    const int64_t r = 16 * b + 4 * j;
                    if (r >= w->N) break;
                    if (T == 4) {
                        i2_tile4_store(bands + (b - b0) * w->band_bytes + 64 * j, xq + m * K, K, nch, xsum + m, xs + m,
                                       wdiv, y + m * ldy + r, ldy, w->N - r);
                        continue;
                    }
                    __m128i S[I2_TB];
                    by_t[T](bands + (b - b0) * w->band_bytes + 64 * j, xq + m * K, K, nch, S);
                    for (int t = 0; t < T; t++)
                        i2_store4(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy + r, w->N - r);
                }
        }
    }
}

/* I2 kernel: see trit_tpk_fn. M == 1 streams each band once (GEMV); M > 1
 * runs the GEMM. Falls back to the reference for K > 65536. */
void trit_tpk_i2_avx512(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->K > I2_KMAX) {
        trit_tpk_mm_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, r0, r1);
        return;
    }
    const int64_t b0 = r0 / 16, b1 = (r1 + 15) / 16;
    if (b0 >= b1) return;
    const uint8_t *bands = w->data + b0 * w->band_bytes;
    if (M == 1) i2_gemv(w, bands, b0, b1, xq, xsum[0], xs[0] * wdiv, y);
    else i2_gemm(w, bands, b0, b1, wdiv, xq, xs, xsum, M, y, ldy);
}

/* ==== T1 ==== */

/* GEMV of T1 bands [b0, b1) for one token (see the file comment). */
static void t1_gemv(const trit_tpk *w, int64_t b0, int64_t b1, const int8_t *x, int32_t xsum, float denom, float *y) {
    const int64_t K = w->K, nbl = w->Kp / 320, nfull = K / 320;
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *band = w->data + b * w->band_bytes;
        __m512i acc[16]; /* A[f] at f, B[f] at 8 + f */
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
        for (int64_t kb = 0; kb < nbl; kb++) {
            const uint8_t *blk = band + kb * 512;
            __m512i xv[5];
            if (kb < nfull) {
#pragma GCC unroll 5
                for (int i = 0; i < 5; i++) xv[i] = _mm512_loadu_si512(x + kb * 320 + 64 * i);
            } else {
                for (int i = 0; i < 5; i++) xv[i] = load_x(x, kb * 320 + 64 * i, K);
            }
#pragma GCC unroll 8
            for (int f = 0; f < 8; f++) {
                __m512i q = _mm512_load_si512(blk + 64 * f);
#pragma GCC unroll 5
                for (int i = 0; i < 5; i++) {
                    acc[f] = dpbusd(acc[f], q, xv[i]);
                    q = _mm512_add_epi8(_mm512_add_epi8(q, q), q);
                    acc[8 + f] = dpbusd(acc[8 + f], q, xv[i]);
                }
            }
        }
        const __m512i S = hsum16(acc);
        const __m256i A = _mm512_castsi512_si256(S), B = _mm512_extracti64x4_epi64(S, 1);
        __m256i D = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_add_epi32(A, _mm256_add_epi32(A, A)), B), 8);
        D = _mm256_sub_epi32(D, _mm256_set1_epi32(xsum));
        const __m256 f = _mm256_div_ps(_mm256_cvtepi32_ps(D), _mm256_set1_ps(denom));
        const int64_t n = w->N - 8 * b;
        _mm256_mask_storeu_ps(y + 8 * b, (__mmask8)(n >= 8 ? 0xff : (1u << n) - 1), f);
    }
}

/* T1 kernel: see trit_tpk_fn and the file comment. M > 1 decodes blocks of
 * bands into I2 in a scratch buffer (per call) and runs the I2 GEMM; when
 * that buffer cannot be had, every token runs the GEMV. Falls back to the
 * reference for K > 32768. */
void trit_tpk_t1_avx512(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->K > T1_KMAX) {
        trit_tpk_mm_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, r0, r1);
        return;
    }
    trit_tpk g2;
    trit_tpk_geometry(&g2, TRIT_TPK_I2, w->N, w->K);
    int64_t nb2 = TPK_T1_SCRATCH / g2.band_bytes;
    if (nb2 < 1) nb2 = 1;
    uint8_t *scratch = M > 1 ? trit_aligned_alloc((size_t)(nb2 * g2.band_bytes)) : NULL;
    if (!scratch) {
        const int64_t b0 = r0 / 8, b1 = (r1 + 7) / 8;
        for (int64_t m = 0; m < M; m++)
            t1_gemv(w, b0, b1, xq + m * w->K, xsum[m], xs[m] * wdiv, y + m * ldy);
        trit_aligned_free(scratch);
        return;
    }
    const int64_t c0 = r0 / 16, c1 = (r1 + 15) / 16;
    for (int64_t ca = c0; ca < c1; ca += nb2) {
        const int64_t ce = ca + nb2 < c1 ? ca + nb2 : c1;
        for (int64_t c = ca; c < ce; c++) tpk_t1_band_to_i2(w, c, g2.Kp, scratch + (c - ca) * g2.band_bytes);
        i2_gemm(&g2, scratch, ca, ce, wdiv, xq, xs, xsum, M, y, ldy);
    }
    trit_aligned_free(scratch);
}

/* ==== TL ==== */

/* Groups of 9 columns per table chunk (3 tables each; 384 tables = 24 KiB). */
enum { TL_CHUNK = 128 };

/* Tables of groups [g0, g0 + n) for token x: tab[3 i + s][idx] = sum over
 * e < 3 of (digit_e(idx) - 1) x[9 (g0 + i) + 3 s + e], x = 0 past K. */
static void tl_tables(const int8_t *x, int64_t K, int64_t g0, int64_t n, __m512i *tab) {
    static const int16_t dg[3][32] = {
        {-1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, 0, 0, 0, 0, 0},
        {-1, -1, -1, 0, 0, 0, 1, 1, 1, -1, -1, -1, 0, 0, 0, 1, 1, 1, -1, -1, -1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0},
        {-1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}};
    const __m512i d0 = _mm512_loadu_si512(dg[0]), d1 = _mm512_loadu_si512(dg[1]), d2 = _mm512_loadu_si512(dg[2]);
    for (int64_t t = 0; t < 3 * n; t++) {
        const int64_t k = 9 * g0 + 3 * t;
        const int x0 = k < K ? x[k] : 0, x1 = k + 1 < K ? x[k + 1] : 0, x2 = k + 2 < K ? x[k + 2] : 0;
        __m512i v = _mm512_mullo_epi16(d0, _mm512_set1_epi16((short)x0));
        v = _mm512_add_epi16(v, _mm512_mullo_epi16(d1, _mm512_set1_epi16((short)x1)));
        tab[t] = _mm512_add_epi16(v, _mm512_mullo_epi16(d2, _mm512_set1_epi16((short)x2)));
    }
}

/* One token: bands [b0, b1), the int32 sums kept in y (as int32 bits)
 * between table chunks. */
static void tl_gemv(const trit_tpk *w, int64_t b0, int64_t b1, const int8_t *x, float denom, float *y) {
    const int64_t ng = w->Kp / 9;
    __m512i tab[3 * TL_CHUNK];
    for (int64_t g0 = 0; g0 < ng; g0 += TL_CHUNK) {
        const int64_t n = ng - g0 < TL_CHUNK ? ng - g0 : TL_CHUNK;
        tl_tables(x, w->K, g0, n, tab);
        for (int64_t b = b0; b < b1; b++) {
            const uint8_t *p = w->data + b * w->band_bytes + g0 * 64;
            const int64_t nr = w->N - 32 * b;
            const __mmask16 mlo = first16(nr), mhi = first16(nr - 16);
            __m512i lo = g0 ? _mm512_maskz_loadu_epi32(mlo, y + 32 * b) : _mm512_setzero_si512();
            __m512i hi = g0 ? _mm512_maskz_loadu_epi32(mhi, y + 32 * b + 16) : _mm512_setzero_si512();
            for (int64_t i = 0; i < n; i += 16) {
                const int64_t ie = i + 16 < n ? i + 16 : n;
                __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
                int64_t k = i;
                for (; k + 2 <= ie; k += 2) {
                    const __m512i v = _mm512_load_si512(p + k * 64), u = _mm512_load_si512(p + k * 64 + 64);
                    a0 = _mm512_add_epi16(a0, _mm512_permutexvar_epi16(v, tab[3 * k]));
                    a1 = _mm512_add_epi16(a1, _mm512_permutexvar_epi16(u, tab[3 * k + 3]));
                    a0 = _mm512_add_epi16(a0, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 5), tab[3 * k + 1]));
                    a1 = _mm512_add_epi16(a1, _mm512_permutexvar_epi16(_mm512_srli_epi16(u, 5), tab[3 * k + 4]));
                    a0 = _mm512_add_epi16(a0, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 10), tab[3 * k + 2]));
                    a1 = _mm512_add_epi16(a1, _mm512_permutexvar_epi16(_mm512_srli_epi16(u, 10), tab[3 * k + 5]));
                }
                if (k < ie) {
                    const __m512i v = _mm512_load_si512(p + k * 64);
                    a0 = _mm512_add_epi16(a0, _mm512_permutexvar_epi16(v, tab[3 * k]));
                    a0 = _mm512_add_epi16(a0, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 5), tab[3 * k + 1]));
                    a0 = _mm512_add_epi16(a0, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 10), tab[3 * k + 2]));
                }
                /* each of a0, a1 holds at most 8 groups (|sum| <= 8 * 3 * 384) */
                lo = _mm512_add_epi32(lo, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(a0)));
                hi = _mm512_add_epi32(hi, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(a0, 1)));
                lo = _mm512_add_epi32(lo, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(a1)));
                hi = _mm512_add_epi32(hi, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(a1, 1)));
            }
            if (g0 + n < ng) {
                _mm512_mask_storeu_epi32(y + 32 * b, mlo, lo);
                _mm512_mask_storeu_epi32(y + 32 * b + 16, mhi, hi);
            } else {
                const __m512 dn = _mm512_set1_ps(denom);
                _mm512_mask_storeu_ps(y + 32 * b, mlo, _mm512_div_ps(_mm512_cvtepi32_ps(lo), dn));
                _mm512_mask_storeu_ps(y + 32 * b + 16, mhi, _mm512_div_ps(_mm512_cvtepi32_ps(hi), dn));
            }
        }
    }
}

/* TL kernel: see trit_tpk_fn; one token at a time (tables per token).
 * Falls back to the reference for K > 65536. */
void trit_tpk_tl_avx512(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->K > I2_KMAX) {
        trit_tpk_mm_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, r0, r1);
        return;
    }
    const int64_t b0 = r0 / 32, b1 = (r1 + 31) / 32;
    for (int64_t m = 0; m < M; m++) tl_gemv(w, b0, b1, xq + m * w->K, xs[m] * wdiv, y + m * ldy);
}

#endif /* __x86_64__ */
