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
 * lanes. The expanded bits are shared by the up to 4 tokens of a tile.
 *   uniform matrices: the int32 lanes run over the whole row; at the end
 *     S = hsum - xsum (the token's sum of x), then (float)S * d - the
 *     reference's expression, so results are bit-identical;
 *   general matrices: each block's lanes start from -X[g] (minus the
 *     token's sum of x over the group, in lane 0, computed once per token
 *     block), are converted to f32 and FMA'd with the group scale into a
 *     float accumulator: within float rounding of the reference.
 * The tail block of K % 128 weights uses zero-masked activation loads, so
 * bits past K contribute nothing.
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

/* One block for T tokens, uniform path: acc[t] += 2 * (x where bit) over the
 * block's first len (1..128) weights; xo is the offset of the block in each
 * token's row. */
BQ_INLINE void bq_step_uni(const trit_q1_block *b, const int8_t *x, int64_t K, int64_t xo, int64_t len, const int T,
                           const int masked, __m512i acc[][2]) {
    const __m512i b0 = bq_expand(bq_bits(b->qs)), b1 = bq_expand(bq_bits(b->qs + 8));
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        const int8_t *p = x + t * K + xo;
        if (!masked) {
            acc[t][0] = bq_dpbusd(acc[t][0], b0, _mm512_loadu_si512(p));
            acc[t][1] = bq_dpbusd(acc[t][1], b1, _mm512_loadu_si512(p + 64));
        } else {
            acc[t][0] = bq_dpbusd(acc[t][0], b0, _mm512_maskz_loadu_epi8(bq_lanes(len), p));
            if (len > 64) acc[t][1] = bq_dpbusd(acc[t][1], b1, _mm512_maskz_loadu_epi8(bq_lanes(len - 64), p + 64));
        }
    }
}

/* One block g for T tokens, general path: facc[t] += d * S[g] (lanes). */
BQ_INLINE void bq_step_gen(const trit_q1_block *b, const int8_t *x, int64_t K, int64_t g, int64_t len, const int T,
                           const int masked, const int32_t negx[][BQ_NBMAX], __m512 *facc) {
    const int64_t xo = g * TRIT_Q1_GROUP;
    const __m512i b0 = bq_expand(bq_bits(b->qs)), b1 = bq_expand(bq_bits(b->qs + 8));
    const __m512 d = bq_scale(b);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        const int8_t *p = x + t * K + xo;
        __m512i s = bq_lane0(negx[t][g]);
        if (!masked) {
            s = bq_dpbusd(s, b0, _mm512_loadu_si512(p));
            s = bq_dpbusd(s, b1, _mm512_loadu_si512(p + 64));
        } else {
            s = bq_dpbusd(s, b0, _mm512_maskz_loadu_epi8(bq_lanes(len), p));
            if (len > 64) s = bq_dpbusd(s, b1, _mm512_maskz_loadu_epi8(bq_lanes(len - 64), p + 64));
        }
        facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, facc[t]);
    }
}

/* One row (blocks `row`) against T <= 4 tokens (x, row stride K): out[t] is
 * the numerator of the contract (before the division by xs * wdiv). U = 2
 * (with T = 1) alternates two sets of accumulators over the blocks so that
 * a single row streams without waiting on the vpdpbusd / FMA latency. */
BQ_INLINE void bq_tile(const trit_q1_block *row, const int8_t *x, int64_t K, const int T, const int U, const int uni,
                       float d0, const int32_t *xsum, const int32_t negx[][BQ_NBMAX], float *out) {
    const int64_t full = K / TRIT_Q1_GROUP, tail = K % TRIT_Q1_GROUP;
    int64_t g = 0;
    if (uni) {
        __m512i acc[2][4][2]; /* [u][t][half] */
#pragma GCC unroll 2
        for (int u = 0; u < U; u++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[u][t][0] = acc[u][t][1] = _mm512_setzero_si512();
        for (; g + U <= full; g += U)
#pragma GCC unroll 2
            for (int u = 0; u < U; u++)
                bq_step_uni(row + g + u, x, K, (g + u) * TRIT_Q1_GROUP, TRIT_Q1_GROUP, T, 0, acc[u]);
        for (; g < full; g++) bq_step_uni(row + g, x, K, g * TRIT_Q1_GROUP, TRIT_Q1_GROUP, T, 0, acc[0]);
        if (tail) bq_step_uni(row + g, x, K, g * TRIT_Q1_GROUP, tail, T, 1, acc[0]);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m512i s = _mm512_add_epi32(acc[0][t][0], acc[0][t][1]);
#pragma GCC unroll 2
            for (int u = 1; u < U; u++) s = _mm512_add_epi32(s, _mm512_add_epi32(acc[u][t][0], acc[u][t][1]));
            out[t] = (float)(_mm512_reduce_add_epi32(s) - xsum[t]) * d0;
        }
    } else {
        __m512 facc[2][4]; /* [u][t] */
#pragma GCC unroll 2
        for (int u = 0; u < U; u++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) facc[u][t] = _mm512_setzero_ps();
        for (; g + U <= full; g += U)
#pragma GCC unroll 2
            for (int u = 0; u < U; u++) bq_step_gen(row + g + u, x, K, g + u, TRIT_Q1_GROUP, T, 0, negx, facc[u]);
        for (; g < full; g++) bq_step_gen(row + g, x, K, g, TRIT_Q1_GROUP, T, 0, negx, facc[0]);
        if (tail) bq_step_gen(row + g, x, K, g, tail, T, 1, negx, facc[0]);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
#pragma GCC unroll 2
            for (int u = 1; u < U; u++) facc[0][t] = _mm512_add_ps(facc[0][t], facc[u][t]);
            out[t] = _mm512_reduce_add_ps(facc[0][t]);
        }
    }
}

typedef void (*bq_tile_fn)(const trit_q1_block *, const int8_t *, int64_t, float, const int32_t *,
                           const int32_t (*)[BQ_NBMAX], float *);

/* Out-of-line instances: T tokens, uniform (u) or general (g). */
#define BQ_INST(name, T, U, UNI)                                                                                   \
    static void name(const trit_q1_block *r, const int8_t *x, int64_t K, float d0, const int32_t *xsum,           \
                     const int32_t negx[][BQ_NBMAX], float *out) {                                                 \
        bq_tile(r, x, K, T, U, UNI, d0, xsum, negx, out);                                                          \
    }
BQ_INST(bq_u1, 1, 2, 1)
BQ_INST(bq_u2, 2, 1, 1)
BQ_INST(bq_u3, 3, 1, 1)
BQ_INST(bq_u4, 4, 1, 1)
BQ_INST(bq_g1, 1, 2, 0)
BQ_INST(bq_g2, 2, 1, 0)
BQ_INST(bq_g3, 3, 1, 0)
BQ_INST(bq_g4, 4, 1, 0)

/* Binary matmul, AVX-512 VNNI: see binary.h and the file comment. M == 1
 * (decoding) streams the rows one after another; M > 1 (prompts) walks
 * blocks of rows of about 256 KiB (kept in L2) and, within a block, tiles
 * of one row x up to 4 tokens, so each expanded bit vector feeds 4 tokens.
 * K > 65536 goes to the reference. */
void trit_bmatmul_avx512(const trit_bmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                         int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    const int64_t K = w->K, nb = w->nb;
    if (n0 >= n1 || M < 1) return;
    if (K > BQ_KMAX || K < 1) {
        trit_bmatmul_scalar(w, wdiv, xq, xs, xsum, M, y, ldy, n0, n1);
        return;
    }
    static const bq_tile_fn uni[BQ_TB + 1] = {NULL, bq_u1, bq_u2, bq_u3, bq_u4};
    static const bq_tile_fn gen[BQ_TB + 1] = {NULL, bq_g1, bq_g2, bq_g3, bq_g4};
    const float d0 = w->uniform ? _cvtsh_ss(w->blocks[0].d) : 0.0f;
    int32_t negx[BQ_TB][BQ_NBMAX];
    int64_t rb = M == 1 ? n1 - n0 : BQ_BLOCK_BYTES / (nb * (int64_t)sizeof(trit_q1_block));
    if (rb < 4) rb = 4;
    float out[BQ_TB];
    for (int64_t na = n0; na < n1; na += rb) {
        const int64_t ne = na + rb < n1 ? na + rb : n1;
        for (int64_t m = 0; m < M; m += BQ_TB) {
            const int T = M - m < BQ_TB ? (int)(M - m) : BQ_TB;
            const int8_t *x = xq + m * K;
            const bq_tile_fn fn = w->uniform ? uni[T] : gen[T];
            if (!w->uniform) bq_group_sums(x, T, K, nb, negx);
            for (int64_t n = na; n < ne; n++) {
                fn(w->blocks + n * nb, x, K, d0, xsum + m, (const int32_t(*)[BQ_NBMAX])negx, out);
                for (int t = 0; t < T; t++) y[(m + t) * ldy + n] = out[t] / (xs[m + t] * wdiv);
            }
        }
    }
}

#endif /* __x86_64__ */
