/*
 * binary_avx512.c - AVX-512 (F + BW + VL + VNNI) binary matmul; see binary.h
 * for the format and the contract. Built with the ISA flags of the
 * Makefile's *_avx512.o rule and called only when trit_cpu_isa() reports
 * TRIT_ISA_AVX512.
 *
 * Per block of 128 weights: the two 64-bit halves of the sign bits are loaded
 * straight into mask registers, and one zero-masking byte move per half
 * expands them to 64 bytes of {0, 2}; vpdpbusd (u8 x s8, 4 products per
 * int32 lane) against the activations gives 2 * sum(x where bit set) in 16
 * lanes. A tile is 4 consecutive rows x up to 4 tokens: each activation
 * vector feeds the 4 rows, each expanded bit vector the tokens, and the 4
 * rows' lanes are reduced together at the end.
 *   uniform matrices: the int32 lanes run over the whole row; at the end
 *     S = hsum - xsum (the token's sum of x), then (float)S * d - the
 *     reference's expression, so results are bit-identical;
 *   general matrices (4 rows x 1 token): each block's lanes start from
 *     -X[g] (minus the token's sum of x over the group, in lane 0), are
 *     converted to f32 and FMA'd with the group scale into a float
 *     accumulator: within float rounding of the reference.
 * The tail block of K % 128 weights uses zero-masked activation loads, so
 * bits past K contribute nothing.
 *
 * Cost: per 64 weights a mask load, a masked move and a vpdpbusd (the
 * ternary kernel needs 1.75 vector ops per 64 weights: 4 rows share each
 * code byte), so with the matrix in cache the binary GEMV is about 1.6x
 * slower than the ternary one on Zen 5; it reads 0.56x the bytes, which
 * wins where decoding is bound by memory bandwidth. The 4-row tile reads 4
 * interleaved streams, which the hardware prefetchers follow poorly, so
 * decoding prefetches 2 tiles ahead (measured: 2560 x 2560 cold GEMV 95 ->
 * 59 us).
 */
#include <string.h>
#include "kernels/binary.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define BQ_INLINE static inline __attribute__((always_inline))

/* Largest K of the SIMD path (group sums of a token block live on the
 * stack: 4 x 512 int32); larger K goes to the reference. */
enum { BQ_KMAX = 65536, BQ_NBMAX = BQ_KMAX / TRIT_Q1_GROUP, BQ_TB = 4, BQ_BLOCK_BYTES = 256 * 1024 };

/* acc + (4-byte dot products of u8 a with s8 b): vpdpbusd, as inline asm so
 * that GCC 12 keeps the accumulators of a tile in place (see
 * kernels_avx512.c). */
BQ_INLINE __m512i bq_dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/* Mask of the first n (0..64) byte lanes. */
BQ_INLINE __mmask64 bq_lanes(int64_t n) {
    return n >= 64 ? ~(__mmask64)0 : n <= 0 ? (__mmask64)0 : (((__mmask64)1 << n) - 1);
}

/* The 64 sign bits at p as a mask (bit i = weight i). */
BQ_INLINE __mmask64 bq_bits(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return _cvtu64_mask64(v);
}

/* Bits to bytes: 2 where the bit is set, else 0. */
BQ_INLINE __m512i bq_expand(__mmask64 k) { return _mm512_maskz_mov_epi8(k, _mm512_set1_epi8(2)); }

/* The f16 scale of a block broadcast as f32. */
BQ_INLINE __m512 bq_scale(const trit_q1_block *b) { return _mm512_cvtph_ps(_mm256_set1_epi16((short)b->d)); }

/* A vector whose lanes sum to v (v in lane 0, zeros elsewhere). */
BQ_INLINE __m512i bq_lane0(int32_t v) { return _mm512_zextsi128_si512(_mm_cvtsi32_si128(v)); }

/* negx[t][g] = -(sum of the T tokens' activations over group g), for the
 * general path. x: [T][K] (row stride K). */
static void bq_group_sums(const int8_t *x, int T, int64_t K, int64_t nb, int32_t negx[][BQ_NBMAX]) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int t = 0; t < T; t++)
        for (int64_t g = 0; g < nb; g++) {
            const int64_t k0 = g * TRIT_Q1_GROUP, len = K - k0;
            const int8_t *p = x + t * K + k0;
            __m512i s = bq_dpbusd(_mm512_setzero_si512(), ones, _mm512_maskz_loadu_epi8(bq_lanes(len), p));
            if (len > 64) s = bq_dpbusd(s, ones, _mm512_maskz_loadu_epi8(bq_lanes(len - 64), p + 64));
            negx[t][g] = -_mm512_reduce_add_epi32(s);
        }
}

/* Sums the 16 int32 lanes of each of a, b, c, d into lanes 0..3. */
BQ_INLINE __m128i bq_hsum4_epi32(__m512i a, __m512i b, __m512i c, __m512i d) {
    __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
    __m256i s2 = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1));
}

/* Sums the 16 f32 lanes of each of a, b, c, d into lanes 0..3. */
BQ_INLINE __m128 bq_hsum4_ps(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
    __m256 s2 = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(s2), _mm256_extractf128_ps(s2, 1));
}

/* Rows per tile: the 4 rows' sums are reduced together (bq_hsum4_*) and
 * share every activation load. */
enum { BQ_R = 4, BQ_PF = 2 };

/* Uniform path: 4 rows (blocks rp[r]) x T <= 4 tokens (x, row stride K).
 * With T = 1 each row keeps one accumulator per half block (8 vpdpbusd
 * chains), else one per (row, token) (4 T chains). out[t][r] =
 * (float)(S - xsum[t]) * d0 (the reference's expression). pf: NULL, or a
 * later tile's first block, prefetched while this tile computes. */
BQ_INLINE void bq_tile_uni(const trit_q1_block *const *rp, const int8_t *x, int64_t K, const int T, float d0,
                           const int32_t *xsum, const char *pf, float out[][BQ_R]) {
    const int64_t nb = trit_q1_blocks(K), full = K / TRIT_Q1_GROUP, tail = K % TRIT_Q1_GROUP;
    const int NA = T == 1 ? 2 : T;
    __m512i acc[BQ_R][4];
#pragma GCC unroll 4
    for (int r = 0; r < BQ_R; r++)
#pragma GCC unroll 4
        for (int a = 0; a < NA; a++) acc[r][a] = _mm512_setzero_si512();
    for (int64_t g = 0; g < nb; g++) {
        const int64_t xo = g * TRIT_Q1_GROUP, len = g < full ? TRIT_Q1_GROUP : tail;
        if (pf) { /* 128 bytes per block of 72 bytes read: covers the tile at pf */
            _mm_prefetch(pf + 128 * g, _MM_HINT_T0);
            _mm_prefetch(pf + 128 * g + 64, _MM_HINT_T0);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            if (h == 1 && len <= 64) break;
            __m512i xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                xv[t] = g < full ? _mm512_loadu_si512(x + t * K + xo + 64 * h)
                                 : _mm512_maskz_loadu_epi8(bq_lanes(len - 64 * h), x + t * K + xo + 64 * h);
#pragma GCC unroll 4
            for (int r = 0; r < BQ_R; r++) {
                const __m512i e = bq_expand(bq_bits(rp[r][g].qs + 8 * h));
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    const int a = T == 1 ? h : t;
                    acc[r][a] = bq_dpbusd(acc[r][a], e, xv[t]);
                }
            }
        }
    }
    if (T == 1)
#pragma GCC unroll 4
        for (int r = 0; r < BQ_R; r++) acc[r][0] = _mm512_add_epi32(acc[r][0], acc[r][1]);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        const int a = T == 1 ? 0 : t;
        __m128i S = bq_hsum4_epi32(acc[0][a], acc[1][a], acc[2][a], acc[3][a]);
        S = _mm_sub_epi32(S, _mm_set1_epi32(xsum[t]));
        _mm_storeu_ps(out[t], _mm_mul_ps(_mm_cvtepi32_ps(S), _mm_set1_ps(d0)));
    }
}

/* General path: 4 rows x 1 token. Each block's lanes start from -X[g] (in
 * lane 0), get 2 * the masked sum, and are FMA'd in f32 with the block's
 * scale. out[r]: the numerator sum_g d_g S_g. pf: as for bq_tile_uni. */
BQ_INLINE void bq_tile_gen(const trit_q1_block *const *rp, const int8_t *x, int64_t K, const int32_t *negx,
                           const char *pf, float *out) {
    const int64_t nb = trit_q1_blocks(K), full = K / TRIT_Q1_GROUP, tail = K % TRIT_Q1_GROUP;
    __m512 facc[BQ_R];
#pragma GCC unroll 4
    for (int r = 0; r < BQ_R; r++) facc[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nb; g++) {
        const int64_t xo = g * TRIT_Q1_GROUP, len = g < full ? TRIT_Q1_GROUP : tail;
        if (pf) {
            _mm_prefetch(pf + 128 * g, _MM_HINT_T0);
            _mm_prefetch(pf + 128 * g + 64, _MM_HINT_T0);
        }
        const __m512i x0 = g < full ? _mm512_loadu_si512(x + xo) : _mm512_maskz_loadu_epi8(bq_lanes(len), x + xo);
        const __m512i x1 = g < full ? _mm512_loadu_si512(x + xo + 64)
                                    : _mm512_maskz_loadu_epi8(bq_lanes(len - 64), x + xo + 64);
        const __m512i init = bq_lane0(negx[g]);
#pragma GCC unroll 4
        for (int r = 0; r < BQ_R; r++) {
            const trit_q1_block *b = &rp[r][g];
            __m512i s = bq_dpbusd(init, bq_expand(bq_bits(b->qs)), x0);
            s = bq_dpbusd(s, bq_expand(bq_bits(b->qs + 8)), x1);
            facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), bq_scale(b), facc[r]);
        }
    }
    _mm_storeu_ps(out, bq_hsum4_ps(facc[0], facc[1], facc[2], facc[3]));
}

typedef void (*bq_uni_fn)(const trit_q1_block *const *, const int8_t *, int64_t, float, const int32_t *,
                          const char *, float (*)[BQ_R]);

/* Out-of-line instances of the uniform tile for T = 1..4 tokens. */
#define BQ_INST(name, T)                                                                                           \
    static void name(const trit_q1_block *const *rp, const int8_t *x, int64_t K, float d0, const int32_t *xsum,   \
                     const char *pf, float out[][BQ_R]) {                                                          \
        bq_tile_uni(rp, x, K, T, d0, xsum, pf, out);                                                               \
    }
BQ_INST(bq_u1, 1)
BQ_INST(bq_u2, 2)
BQ_INST(bq_u3, 3)
BQ_INST(bq_u4, 4)

static void bq_g1(const trit_q1_block *const *rp, const int8_t *x, int64_t K, const int32_t *negx, const char *pf,
                  float *out) {
    bq_tile_gen(rp, x, K, negx, pf, out);
}

/* Binary matmul, AVX-512 VNNI: see binary.h and the file comment. Tiles are
 * 4 consecutive rows (fewer at the end: the missing ones repeat the last
 * row and are not stored) x up to 4 tokens (uniform) or 1 token (general).
 * M == 1 (decoding) streams the rows in order; M > 1 (prompts) walks blocks
 * of rows of about 256 KiB (kept in L2), and within a block every token
 * tile passes over the block's rows. K > 65536 goes to the reference. */
void trit_bmatmul_avx512(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                         int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    const int64_t K = w->K, nb = w->nb;
    if (n0 >= n1 || M < 1) return;
    if (K > BQ_KMAX || K < 1) {
        trit_bmatmul_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, n0, n1);
        return;
    }
    static const bq_uni_fn uni[BQ_TB + 1] = {NULL, bq_u1, bq_u2, bq_u3, bq_u4};
    const float d0 = w->uniform ? _cvtsh_ss(w->blocks[0].d) : 0.0f;
    const int TB = w->uniform ? BQ_TB : 1;
    int32_t negx[BQ_NBMAX];
    int64_t rb = M == 1 ? n1 - n0 : BQ_BLOCK_BYTES / (nb * (int64_t)sizeof(trit_q1_block));
    rb = rb < BQ_R ? BQ_R : rb / BQ_R * BQ_R;
    float out[BQ_TB][BQ_R];
    for (int64_t na = n0; na < n1; na += rb) {
        const int64_t ne = na + rb < n1 ? na + rb : n1;
        for (int64_t m = 0; m < M; m += TB) {
            const int T = M - m < TB ? (int)(M - m) : TB;
            const int8_t *x = xq + m * K;
            if (!w->uniform) bq_group_sums(x, 1, K, nb, (int32_t(*)[BQ_NBMAX])negx);
            for (int64_t n = na; n < ne; n += BQ_R) {
                const int R = ne - n < BQ_R ? (int)(ne - n) : BQ_R;
                const trit_q1_block *rp[BQ_R];
                for (int r = 0; r < BQ_R; r++) rp[r] = w->blocks + (n + (r < R ? r : R - 1)) * nb;
                /* decoding: prefetch the tile BQ_PF tiles ahead (4 rows interleaved
                 * by blocks stream poorly from memory on their own) */
                const char *pf = M == 1 && n + (BQ_PF + 1) * BQ_R <= n1
                                     ? (const char *)(w->blocks + (n + BQ_PF * BQ_R) * nb) : NULL;
                if (w->uniform) uni[T](rp, x, K, d0, xsum + m, pf, out);
                else bq_g1(rp, x, K, negx, pf, out[0]);
                for (int t = 0; t < T; t++)
                    for (int r = 0; r < R; r++) y[(m + t) * ldy + n + r] = out[t][r] / (xs[m + t] * wdiv);
            }
        }
    }
}

#endif /* __x86_64__ */
