/*
 * binary_avx2.c - AVX2 binary matmul; see binary.h for the format and the
 * contract. Built with the ISA flags of the Makefile's *_avx2.o rule and
 * called only when trit_cpu_isa() reports at least TRIT_ISA_AVX2.
 *
 * Per 32 weights, the 4 bytes of sign bits are broadcast, each byte
 * replicated over 8 lanes (vpshufb), tested against 1, 2, 4, ..., 128 (and)
 * and clamped to {0, 1} (unsigned min). vpmaddubsw with the int8
 * activations then sums pairs (|pair| <= 256, so the 4 vectors of a block fit
 * int16), and vpmaddwd with 2 widens a block's sums to int32 as
 * 2 * sum(x where bit set). The expanded bits are shared by the up to 4
 * tokens of a tile. Uniform matrices keep int32 lanes over the whole row and
 * subtract the token's xsum at the end (bit-identical to the reference);
 * general matrices subtract the group's sum of x, convert each block to f32
 * and FMA it with the block's scale (within float rounding). The tail block
 * of K % 128 weights reads the activations from a zero-padded copy.
 */
#include <string.h>
#include "kernels/binary.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define B2_INLINE static inline __attribute__((always_inline))

enum { B2_KMAX = 65536, B2_NBMAX = B2_KMAX / TRIT_Q1_GROUP, B2_TB = 4, B2_BLOCK_BYTES = 256 * 1024 };

/* The 32 sign bits at p (weights 0..31 of a chunk) as bytes in {0, 1}. */
B2_INLINE __m256i b2_expand(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                          3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
    __m256i e = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    return _mm256_min_epu8(_mm256_and_si256(e, bit), _mm256_set1_epi8(1));
}

/* One block for T tokens: s[t] (8 int32 lanes) = 2 * sum(x where bit set)
 * over the block; xp[t] points at the block's 128 activations of token t. */
B2_INLINE void b2_block(const trit_q1_block *b, const int8_t *const *xp, const int T, __m256i *s) {
    __m256i s16[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m256i e = b2_expand(b->qs + 4 * c);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const __m256i p = _mm256_maddubs_epi16(e, _mm256_loadu_si256((const __m256i *)(xp[t] + 32 * c)));
            s16[t] = c ? _mm256_add_epi16(s16[t], p) : p;
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) s[t] = _mm256_madd_epi16(s16[t], _mm256_set1_epi16(2));
}

/* Sum of the 8 int32 lanes of v. */
B2_INLINE int32_t b2_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Sum of the 8 f32 lanes of v. */
B2_INLINE float b2_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One row against T <= 4 tokens (x, row stride K); the tail block (if any)
 * reads xt[t] (128 zero-padded activations). out[t]: the numerator of the
 * contract. negx[t][g]: minus token t's sum of x over group g (general). */
B2_INLINE void b2_tile(const trit_q1_block *row, const int8_t *x, int64_t K, const int8_t (*xt)[TRIT_Q1_GROUP],
                       const int T, const int uni, float d0, const int32_t *xsum, const int32_t negx[][B2_NBMAX],
                       float *out) {
    const int64_t nb = trit_q1_blocks(K), full = K / TRIT_Q1_GROUP;
    __m256i acc[4];
    __m256 facc[4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        acc[t] = _mm256_setzero_si256();
        facc[t] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < nb; g++) {
        const int8_t *xp[4];
        __m256i s[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) xp[t] = g < full ? x + t * K + g * TRIT_Q1_GROUP : xt[t];
        b2_block(row + g, xp, T, s);
        if (uni) {
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[t] = _mm256_add_epi32(acc[t], s[t]);
        } else {
            const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)row[g].d));
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                const __m256i v = _mm256_add_epi32(s[t], _mm256_zextsi128_si256(_mm_cvtsi32_si128(negx[t][g])));
                facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), d, facc[t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        out[t] = uni ? (float)(b2_hsum_epi32(acc[t]) - xsum[t]) * d0 : b2_hsum_ps(facc[t]);
}

typedef void (*b2_tile_fn)(const trit_q1_block *, const int8_t *, int64_t, const int8_t (*)[TRIT_Q1_GROUP], float,
                           const int32_t *, const int32_t (*)[B2_NBMAX], float *);

#define B2_INST(name, T, UNI)                                                                                     \
    static void name(const trit_q1_block *r, const int8_t *x, int64_t K, const int8_t (*xt)[TRIT_Q1_GROUP],        \
                     float d0, const int32_t *xsum, const int32_t negx[][B2_NBMAX], float *out) {                  \
        b2_tile(r, x, K, xt, T, UNI, d0, xsum, negx, out);                                                         \
    }
B2_INST(b2_u1, 1, 1)
B2_INST(b2_u2, 2, 1)
B2_INST(b2_u3, 3, 1)
B2_INST(b2_u4, 4, 1)
B2_INST(b2_g1, 1, 0)
B2_INST(b2_g2, 2, 0)
B2_INST(b2_g3, 3, 0)
B2_INST(b2_g4, 4, 0)

/* Binary matmul, AVX2: see binary.h and the file comment. Same loop order as
 * the AVX-512 level (rows streamed for M == 1; 256 KiB row blocks x 4-token
 * tiles for M > 1). K > 65536 goes to the reference. */
void trit_bmatmul_avx2(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                       int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    const int64_t K = w->K, nb = w->nb, full = K / TRIT_Q1_GROUP, tail = K % TRIT_Q1_GROUP;
    if (n0 >= n1 || M < 1) return;
    if (K > B2_KMAX || K < 1) {
        trit_bmatmul_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, n0, n1);
        return;
    }
    static const b2_tile_fn uni[B2_TB + 1] = {NULL, b2_u1, b2_u2, b2_u3, b2_u4};
    static const b2_tile_fn gen[B2_TB + 1] = {NULL, b2_g1, b2_g2, b2_g3, b2_g4};
    const float d0 = w->uniform ? _cvtsh_ss(w->blocks[0].d) : 0.0f;
    int32_t negx[B2_TB][B2_NBMAX];
    int8_t xt[B2_TB][TRIT_Q1_GROUP];
    int64_t rb = M == 1 ? n1 - n0 : B2_BLOCK_BYTES / (nb * (int64_t)sizeof(trit_q1_block));
    if (rb < 4) rb = 4;
    float out[B2_TB];
    for (int64_t na = n0; na < n1; na += rb) {
        const int64_t ne = na + rb < n1 ? na + rb : n1;
        for (int64_t m = 0; m < M; m += B2_TB) {
            const int T = M - m < B2_TB ? (int)(M - m) : B2_TB;
            const int8_t *x = xq + m * K;
            for (int t = 0; t < T; t++) {
                memset(xt[t], 0, TRIT_Q1_GROUP);
                if (tail) memcpy(xt[t], x + t * K + full * TRIT_Q1_GROUP, (size_t)tail);
                if (w->uniform) continue;
                for (int64_t g = 0; g < nb; g++) {
                    const int64_t k0 = g * TRIT_Q1_GROUP, k1 = k0 + TRIT_Q1_GROUP < K ? k0 + TRIT_Q1_GROUP : K;
                    int32_t s = 0;
                    for (int64_t k = k0; k < k1; k++) s += x[t * K + k];
                    negx[t][g] = -s;
                }
            }
            const b2_tile_fn fn = w->uniform ? uni[T] : gen[T];
            for (int64_t n = na; n < ne; n++) {
                fn(w->blocks + n * nb, x, K, (const int8_t(*)[TRIT_Q1_GROUP])xt, d0, xsum + m,
                   (const int32_t(*)[B2_NBMAX])negx, out);
                for (int t = 0; t < T; t++) y[(m + t) * ldy + n] = out[t] / (xs[m + t] * wdiv);
            }
        }
    }
}

#endif /* __x86_64__ */
