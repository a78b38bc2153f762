/*
 * tpack_avx2.c - AVX2 kernels for the repacked ternary layouts of tpack.h
 * (I2 and T1; TL has no AVX2 kernel and uses the reference). Built with the
 * Makefile's *_avx2.o flags; called only when the CPU has AVX2.
 *
 * I2: one quad (4 rows) at a time against 1 or 2 tokens, as kernels_avx2.c
 * does on the Hugging Face layout: the 32 code bytes of a step split into
 * four planes (shift + mask), vpmaddubsw with the activations, int16 sums
 * widened to int32 every 32 steps. The quad's codes are 64 of every 256
 * bytes of its band.
 * T1: blocks of bands are decoded to I2 in a scratch buffer (per call, kept
 * in L2) and run through the I2 kernel.
 */
#include "kernels/tpack_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TP_INLINE static inline __attribute__((always_inline))

enum { I2_KMAX = 65536, STEPS16 = 32, I2_TB = 2, I2_CODE_BLOCK = 128 * 1024 };

/* Sums the 8 int32 lanes of each of a, b, c, d into lanes 0..3. */
TP_INLINE __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* One 32-column step: codes b against T activation vectors xv into s16. */
TP_INLINE void step(__m256i b, const __m256i *xv, const int T, __m256i s16[][4]) {
    const __m256i m3 = _mm256_set1_epi8(0x03);
    __m256i p[4];
    p[0] = _mm256_and_si256(b, m3);
    p[1] = _mm256_and_si256(_mm256_srli_epi16(b, 2), m3);
    p[2] = _mm256_and_si256(_mm256_srli_epi16(b, 4), m3);
    p[3] = _mm256_and_si256(_mm256_srli_epi16(b, 6), m3);
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) s16[t][g] = _mm256_add_epi16(s16[t][g], _mm256_maddubs_epi16(p[g], xv[t]));
}

/* Code groups (256 bytes: 64 columns of a band) prefetched ahead. */
enum { PF_GROUPS = 32 };

/* Sums x.code_g (g = 0..3) of one quad (codes at c, 64 of every 256 bytes)
 * against T tokens (x, row stride K): out[t]. With pf (the band's first
 * quad), also prefetches the whole 256-byte groups PF_GROUPS ahead: the
 * quads touch every fourth cache line of the band, a stride the hardware
 * prefetchers follow poorly (decoding ran at 2.5 GB/s without this), and
 * the later quads of the band then find their lines in L1/L2. */
TP_INLINE void tile(const uint8_t *c, const int8_t *x, int64_t K, const int T, const int pf, __m128i *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[2][4];
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[t][g] = _mm256_setzero_si256();
    int64_t k = 0;
    while (k < K) {
        const int64_t kend = K - k > 32 * STEPS16 ? k + 32 * STEPS16 : K;
        __m256i s16[2][4];
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) s16[t][g] = _mm256_setzero_si256();
        for (; k + 32 <= kend; k += 32) {
            if (pf && k % 64 == 0) {
                const char *g = (const char *)c + (k / 64 + PF_GROUPS) * 256;
                _mm_prefetch(g, _MM_HINT_T0);
                _mm_prefetch(g + 64, _MM_HINT_T0);
                _mm_prefetch(g + 128, _MM_HINT_T0);
                _mm_prefetch(g + 192, _MM_HINT_T0);
            }
            __m256i xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_si256((const __m256i *)(x + t * K + k));
            step(_mm256_load_si256((const __m256i *)(c + (k / 64) * 256 + k % 64)), xv, T, s16);
        }
        if (k < kend) { /* the last K % 32 columns: zero-padded activations */
            const int n = (int)(kend - k);
            int8_t xb[2][32] = {{0}};
            __m256i xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                for (int i = 0; i < n; i++) xb[t][i] = x[t * K + k + i];
                xv[t] = _mm256_loadu_si256((const __m256i *)xb[t]);
            }
            step(_mm256_load_si256((const __m256i *)(c + (k / 64) * 256 + k % 64)), xv, T, s16);
            k = kend;
        }
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[t][g] = _mm256_add_epi32(acc[t][g], _mm256_madd_epi16(s16[t][g], ones));
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; t++) out[t] = hsum4(acc[t][0], acc[t][1], acc[t][2], acc[t][3]);
}

static void tile_1(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tile(c, x, K, 1, 0, out); }
static void tile_2(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tile(c, x, K, 2, 0, out); }
static void tile_1pf(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tile(c, x, K, 1, 1, out); }
static void tile_2pf(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tile(c, x, K, 2, 1, out); }

/* Outputs of rows r .. r+3 (those < N, n = N - r) for one token. */
TP_INLINE void store4(__m128i S, int32_t xsum, float denom, float *y, int64_t n) {
    __m128i D = _mm_sub_epi32(S, _mm_set1_epi32(xsum));
    __m128 f = _mm_div_ps(_mm_cvtepi32_ps(D), _mm_set1_ps(denom));
    float o[4];
    _mm_storeu_ps(o, f);
    for (int g = 0; g < 4 && g < n; g++) y[g] = o[g];
}

/* Bands [b0, b1) (band b0 at `bands`), M tokens: cache blocks of bands,
 * pairs of tokens against one quad at a time. */
static void i2_run(const trit_tpk *w, const uint8_t *bands, int64_t b0, int64_t b1, float wdiv, const int8_t *xq,
                   const float *xs, const int32_t *xsum, int64_t M, float *y, int64_t ldy) {
    const int64_t K = w->K;
    int64_t bb = M == 1 ? b1 - b0 : I2_CODE_BLOCK / w->band_bytes;
    if (bb < 1) bb = 1;
    for (int64_t ba = b0; ba < b1; ba += bb) {
        const int64_t be = ba + bb < b1 ? ba + bb : b1;
        for (int64_t m = 0; m < M; m += I2_TB) {
            const int T = M - m < I2_TB ? (int)(M - m) : I2_TB;
            for (int64_t b = ba; b < be; b++)
                for (int j = 0; j < 4; j++) {
                    const int64_t r = 16 * b + 4 * j;
                    if (r >= w->N) break;
                    __m128i S[I2_TB];
                    const uint8_t *c = bands + (b - b0) * w->band_bytes + 64 * j;
                    if (T == 2) (j ? tile_2 : tile_2pf)(c, xq + m * K, K, S);
                    else (j ? tile_1 : tile_1pf)(c, xq + m * K, K, S);
                    for (int t = 0; t < T; t++)
                        store4(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy + r, w->N - r);
                }
        }
    }
}

/* I2 kernel, AVX2: see trit_tpk_fn and the file comment. */
void trit_tpk_i2_avx2(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                      int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->K > I2_KMAX) {
        trit_tpk_mm_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, r0, r1);
        return;
    }
    const int64_t b0 = r0 / 16, b1 = (r1 + 15) / 16;
    if (b0 < b1) i2_run(w, w->data + b0 * w->band_bytes, b0, b1, wdiv, xq, xs, xsum, M, y, ldy);
}

/* T1 kernel, AVX2: see trit_tpk_fn and the file comment; the reference
 * when no scratch buffer can be had. */
void trit_tpk_t1_avx2(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                      int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    trit_tpk g2;
    trit_tpk_geometry(&g2, TRIT_TPK_I2, w->N, w->K);
    int64_t nb2 = (M == 1 ? 32 * 1024 : TPK_T1_SCRATCH) / g2.band_bytes;
    if (nb2 < 1) nb2 = 1;
    uint8_t *scratch = w->K <= I2_KMAX ? trit_aligned_alloc((size_t)(nb2 * g2.band_bytes)) : NULL;
    if (!scratch) {
        trit_tpk_mm_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, r0, r1);
        return;
    }
    const int64_t c0 = r0 / 16, c1 = (r1 + 15) / 16;
    for (int64_t ca = c0; ca < c1; ca += nb2) {
        const int64_t ce = ca + nb2 < c1 ? ca + nb2 : c1;
        for (int64_t c = ca; c < ce; c++) tpk_t1_band_to_i2(w, c, g2.Kp, scratch + (c - ca) * g2.band_bytes);
        i2_run(&g2, scratch, ca, ce, wdiv, xq, xs, xsum, M, y, ldy);
    }
    trit_aligned_free(scratch);
}

#endif /* __x86_64__ */
