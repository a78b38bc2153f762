/*
 * kernels_avxvnni.c - ternary x int8 matmul (tmatmul, the checkpoint's
 * stored 2-bit layout) for CPUs with AVX2 + AVX-VNNI but no AVX-512 (Intel
 * client cores since Alder Lake, for instance): the 256-bit VEX form of
 * vpdpbusd. Built with the Makefile's *_avxvnni.o flags; the dispatcher
 * (dispatch.c) uses it in the AVX2 table only when trit_cpu_has_avxvnni().
 *
 * The scheme is kernels_avx512.c's at half the width: the int8 activations
 * are dotted (u8 x s8, 4 products per int32 lane) with four cumulative masks
 * of each code byte, b & 0x03, b & 0x0f, b & 0x3f and b, whose neighbour
 * differences give 4^g x.code_g exactly (see that file). Per 32 code bytes
 * and token: 4 vpdpbusd, and 3 ands shared by the tokens of a tile, against
 * the plain AVX2 kernel's 3 shifts, 4 ands, 4 vpmaddubsw and 4 adds plus a
 * periodic widening. With 16 vector registers a tile is 1 packed row x 2
 * tokens (8 accumulators), or 1 x 1 with K unrolled twice for decoding.
 * Results are bit-identical to trit_tmatmul_scalar.
 */
#include <string.h>
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TK_INLINE static inline __attribute__((always_inline))

/* Largest K for the exact cumulative-mask scheme (as kernels_avx512.c). */
enum { TK_KMAX = 65536 };

/* acc + (4-byte dot products of u8 a with s8 b): VEX vpdpbusd. Inline asm
 * keeps the accumulators in place (as in kernels_avx512.c). */
TK_INLINE __m256i dpbusd(__m256i acc, __m256i a, __m256i b) {
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(a), "x"(b));
    return acc;
}

/* Sums the 8 int32 lanes of each of a, b, c, d into lanes 0..3. */
TK_INLINE __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
    __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
    __m256i s = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* Writes the up to 4 outputs of packed row q for one token: S holds the
 * cumulative sums (A03, A0f, A3f, Aff); y points at the token's output row. */
TK_INLINE void tk_store(__m128i S, int32_t xsum, float denom, float *y, int64_t q, int64_t Q, int64_t N) {
    __m128i D = _mm_sub_epi32(S, _mm_slli_si128(S, 4));
    D = _mm_srav_epi32(D, _mm_setr_epi32(0, 2, 4, 6));
    D = _mm_sub_epi32(D, _mm_set1_epi32(xsum));
    __m128 f = _mm_div_ps(_mm_cvtepi32_ps(D), _mm_set1_ps(denom));
    float o[4];
    _mm_storeu_ps(o, f);
    for (int g = 0; g < 4; g++)
        if (q + g * Q < N) y[q + g * Q] = o[g];
}

/* One 32-column step: code vector b of one packed row against T activation
 * vectors xv, into acc[t][0..3]; the three masks are shared by the tokens. */
TK_INLINE void tk_step(__m256i b, const __m256i *xv, const int T, __m256i acc[][4]) {
    const __m256i p0 = _mm256_and_si256(b, _mm256_set1_epi8(0x03));
    const __m256i p1 = _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
    const __m256i p2 = _mm256_and_si256(b, _mm256_set1_epi8(0x3f));
#pragma GCC unroll 2
    for (int t = 0; t < T; t++) {
        acc[t][0] = dpbusd(acc[t][0], p0, xv[t]);
        acc[t][1] = dpbusd(acc[t][1], p1, xv[t]);
        acc[t][2] = dpbusd(acc[t][2], p2, xv[t]);
        acc[t][3] = dpbusd(acc[t][3], b, xv[t]);
    }
}

/* The sums S of one packed row (codes c) against T <= 2 consecutive tokens
 * (x, row stride K): out[t]. U = 2 (with T = 1) unrolls K with a second set
 * of accumulators. The K % 32 tail goes through zero-padded copies (zero
 * activations and codes add nothing). */
TK_INLINE void tk_tile(const uint8_t *c, const int8_t *x, int64_t K, const int T, const int U, __m128i *out) {
    __m256i acc[2][2][4]; /* [u][t][g] */
#pragma GCC unroll 2
    for (int u = 0; u < U; u++)
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[u][t][g] = _mm256_setzero_si256();
    int64_t k = 0;
    for (; k + 32 * U <= K; k += 32 * U) {
#pragma GCC unroll 2
        for (int u = 0; u < U; u++) {
            __m256i xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_si256((const __m256i *)(x + t * K + k + 32 * u));
            tk_step(_mm256_loadu_si256((const __m256i *)(c + k + 32 * u)), xv, T, acc[u]);
        }
    }
    if (U > 1 && k + 32 <= K) {
        __m256i xv[2];
#pragma GCC unroll 2
        for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_si256((const __m256i *)(x + t * K + k));
        tk_step(_mm256_loadu_si256((const __m256i *)(c + k)), xv, T, acc[0]);
        k += 32;
    }
    if (k < K) {
        const size_t n = (size_t)(K - k);
        uint8_t cb[32] = {0};
        int8_t xb[2][32] = {{0}};
        memcpy(cb, c + k, n);
        __m256i xv[2];
        for (int t = 0; t < T; t++) {
            memcpy(xb[t], x + t * K + k, n);
            xv[t] = _mm256_loadu_si256((const __m256i *)xb[t]);
        }
        tk_step(_mm256_loadu_si256((const __m256i *)cb), xv, T, acc[0]);
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; t++) {
        if (U > 1)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[0][t][g] = _mm256_add_epi32(acc[0][t][g], acc[1][t][g]);
        out[t] = hsum4(acc[0][t][0], acc[0][t][1], acc[0][t][2], acc[0][t][3]);
    }
}

static void tk_tile_1(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 1, 2, out); }
static void tk_tile_2(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 2, 1, out); }

/* Token block of the GEMM path and the bytes of codes of one cache block. */
enum { TK_TB = 2, TK_CODE_BLOCK = 256 * 1024 };

/* Ternary matmul, AVX2 + AVX-VNNI: see trit_kernels.tmatmul and the file
 * comment. M == 1 (decoding) walks the packed rows one at a time (one
 * sequential stream); M > 1 walks cache blocks of packed rows (about 256 KiB
 * of codes, kept in L2) and, within a block, pairs of tokens against one
 * packed row at a time. Falls back to the scalar reference for K > 65536.
 * Bit-identical to the reference. */
void trit_tmatmul_avxvnni(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                          int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1) {
    const int64_t K = w->K;
    if (K > TK_KMAX || K < 1) {
        trit_tmatmul_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, q0, q1);
        return;
    }
    int64_t qb = M == 1 ? q1 - q0 : TK_CODE_BLOCK / K;
    if (qb < 4) qb = 4;
    for (int64_t qa = q0; qa < q1; qa += qb) {
        const int64_t qe = qa + qb < q1 ? qa + qb : q1;
        for (int64_t m = 0; m < M; m += TK_TB) {
            const int T = M - m < TK_TB ? (int)(M - m) : TK_TB;
            for (int64_t q = qa; q < qe; q++) {
                __m128i S[TK_TB];
                if (T == 2) tk_tile_2(w->codes + q * K, xq + m * K, K, S);
                else tk_tile_1(w->codes + q * K, xq + m * K, K, S);
                for (int t = 0; t < T; t++)
                    tk_store(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy, q, w->Q, w->N);
            }
        }
    }
}

#else
typedef int trit_kernels_avxvnni_unused;
#endif /* __x86_64__ */
