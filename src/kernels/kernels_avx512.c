/*
 * kernels_avx512.c - AVX-512 (F + BW + VL + DQ + VNNI) kernels for the table
 * of kernels.h. Built with the ISA flags of the Makefile's *_avx512.o rule and
 * called only when trit_cpu_isa() reports TRIT_ISA_AVX512.
 *
 * Ternary x int8 (tmatmul): each byte of a packed row q holds the codes of
 * rows q, q+Q, q+2Q, q+3Q at one column. Instead of splitting a byte into four
 * planes with shifts, the kernel dots the int8 activations (vpdpbusd: u8 x s8,
 * 4 products per int32 lane) with four cumulative masks of the byte:
 *   A03 = x.(b & 0x03) = d0            A0f = x.(b & 0x0f) = d0 + 4 d1
 *   A3f = x.(b & 0x3f) = A0f + 16 d2   Aff = x.b          = A3f + 64 d3
 * where d_g = x.code_g. Differences of neighbours give 4^g d_g exactly (the
 * int32 arithmetic wraps, but the true value 4^g d_g fits while K <= 65536),
 * an arithmetic shift gives d_g, and x.(c - 1) = d_g - sum(x). This costs 3
 * ands per 64 code bytes (shared by every token of a block) and no shifts.
 * The final value is the same float expression as the scalar reference, so
 * results are bit-identical.
 *
 * Dense (dmatmul): weights are widened to f32 in registers (bf16: zero-extend
 * and shift left 16; f16: vcvtph2ps), then FMA into accumulators per token;
 * each widened weight vector is reused by every token of a block.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TK_INLINE static inline __attribute__((always_inline))

/* ==== ternary x int8 ==== */

/* Largest K for the exact cumulative-mask scheme (64 * 256 * K < 2^31). */
enum { TK_KMAX = 65536 };

/* acc + (4-byte dot products of u8 a with s8 b), as vpdpbusd. Inline asm
 * because GCC 12 wraps the intrinsic in register copies that spill the
 * accumulators of a tile; the asm form keeps them in place. */
TK_INLINE __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

/* Sums the 16 int32 lanes of each of a, b, c, d into lanes 0..3. */
TK_INLINE __m128i hsum4_epi32(__m512i a, __m512i b, __m512i c, __m512i d) {
    __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
    __m256i s2 = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1));
}

/* Writes the up to 4 outputs of packed row q for one token: S holds
 * (A03, A0f, A3f, Aff) as defined above; y points at the token's output row. */
TK_INLINE void tk_store(__m128i S, int32_t xsum, float denom, float *y, int64_t q, int64_t Q, int64_t N) {
    __m128i D = _mm_sub_epi32(S, _mm_slli_si128(S, 4));
    D = _mm_srav_epi32(D, _mm_setr_epi32(0, 2, 4, 6));
    D = _mm_sub_epi32(D, _mm_set1_epi32(xsum));
    __m128 f = _mm_div_ps(_mm_cvtepi32_ps(D), _mm_set1_ps(denom));
    float o[4];
    _mm_storeu_ps(o, f);
    if (q + 3 * Q < N) {
        y[q] = o[0];
        y[q + Q] = o[1];
        y[q + 2 * Q] = o[2];
        y[q + 3 * Q] = o[3];
    } else {
        for (int g = 0; g < 4; g++)
            if (q + g * Q < N) y[q + g * Q] = o[g];
    }
}

/* One 64-column step of a tile: code vector b of one packed row against T
 * activation vectors xv, into acc[t][0..3]. The three masks are shared by
 * the T tokens. */
TK_INLINE void tk_step(__m512i b, const __m512i *xv, const int T, __m512i acc[][4]) {
    const __m512i p0 = _mm512_and_si512(b, _mm512_set1_epi8(0x03));
    const __m512i p1 = _mm512_and_si512(b, _mm512_set1_epi8(0x0f));
    const __m512i p2 = _mm512_and_si512(b, _mm512_set1_epi8(0x3f));
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        acc[t][0] = dpbusd(acc[t][0], p0, xv[t]);
        acc[t][1] = dpbusd(acc[t][1], p1, xv[t]);
        acc[t][2] = dpbusd(acc[t][2], p2, xv[t]);
        acc[t][3] = dpbusd(acc[t][3], b, xv[t]);
    }
}

/* The sums S (see tk_store) of one packed row (codes c) against T <= 4
 * consecutive tokens (x, row stride K): out[t]. The 4*T*U accumulators stay
 * in registers. U = 2 (used with T = 1) unrolls K with two sets of
 * accumulators, so one packed row streams without waiting on the vpdpbusd
 * latency. The K % 64 tail uses zero-masked loads (zero activations and
 * codes contribute nothing). */
TK_INLINE void tk_tile(const uint8_t *c, const int8_t *x, int64_t K, const int T, const int U, __m128i *out) {
    __m512i acc[2][4][4]; /* [u][t][g] */
#pragma GCC unroll 2
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[u][t][g] = _mm512_setzero_si512();
    int64_t k = 0;
    for (; k + 64 * U <= K; k += 64 * U) {
#pragma GCC unroll 2
        for (int u = 0; u < U; u++) {
            __m512i xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_si512(x + t * K + k + 64 * u);
            tk_step(_mm512_loadu_si512(c + k + 64 * u), xv, T, acc[u]);
        }
    }
    if (U > 1 && k + 64 <= K) {
        __m512i xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) xv[t] = _mm512_loadu_si512(x + t * K + k);
        tk_step(_mm512_loadu_si512(c + k), xv, T, acc[0]);
        k += 64;
    }
    if (k < K) {
        const __mmask64 mk = ((uint64_t)1 << (K - k)) - 1;
        __m512i xv[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) xv[t] = _mm512_maskz_loadu_epi8(mk, x + t * K + k);
        tk_step(_mm512_maskz_loadu_epi8(mk, c + k), xv, T, acc[0]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
#pragma GCC unroll 2
        for (int u = 1; u < U; u++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[0][t][g] = _mm512_add_epi32(acc[0][t][g], acc[u][t][g]);
        out[t] = hsum4_epi32(acc[0][t][0], acc[0][t][1], acc[0][t][2], acc[0][t][3]);
    }
}

/* One out-of-line instance per tile shape: one packed row x T tokens; the
 * one-token tile unrolls K twice. */
static void tk_tile_1(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 1, 2, out); }
static void tk_tile_2(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 2, 1, out); }
static void tk_tile_3(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 3, 1, out); }
static void tk_tile_4(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 4, 1, out); }

typedef void (*tk_tile_fn)(const uint8_t *, const int8_t *, int64_t, __m128i *);

/* Token block of the GEMM path and the bytes of codes of one cache block. */
enum { TK_TB = 4, TK_CODE_BLOCK = 256 * 1024 };

/* Runs the T-token tile at packed row q, token m, and stores the outputs. */
static void tk_run(int T, const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                   float *y, int64_t ldy, int64_t q, int64_t m) {
    static const tk_tile_fn by_t[TK_TB + 1] = {NULL, tk_tile_1, tk_tile_2, tk_tile_3, tk_tile_4};
    const int64_t K = w->K;
    __m128i S[TK_TB];
    by_t[T](w->codes + q * K, xq + m * K, K, S);
    for (int t = 0; t < T; t++) tk_store(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy, q, w->Q, w->N);
}

/* Ternary matmul, AVX-512 VNNI: see trit_kernels.tmatmul and the file
 * comment. M == 1 (decoding) walks the packed rows one at a time, so the
 * codes stream sequentially from memory (measured faster than interleaving
 * several rows, whose streams the prefetchers follow worse). M > 1 (prompts)
 * walks cache blocks of packed rows (about 256 KiB of codes, kept in L2) and,
 * within a block, blocks of up to 4 tokens against one packed row at a time,
 * so each code vector feeds 16 vpdpbusd (5 or 6 tokens measured no faster).
 * Falls back to the scalar reference for K > 65536. Bit-identical to the
 * reference. */
void trit_tmatmul_avx512(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                         const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1) {
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
            for (int64_t q = qa; q < qe; q++) tk_run(T, w, wdiv, xq, xs, xsum, y, ldy, q, m);
        }
    }
}

/* ==== dense ==== */

enum { DT_F32, DT_BF16, DT_F16 };

/* The 16 weights at p widened to f32; masked: only the lanes in mk (others 0). */
TK_INLINE __m512 dm_load(const void *p, const int dt, const int masked, __mmask16 mk) {
    if (dt == DT_F32) return masked ? _mm512_maskz_loadu_ps(mk, p) : _mm512_loadu_ps(p);
    __m256i h = masked ? _mm256_maskz_loadu_epi16(mk, p) : _mm256_loadu_si256((const __m256i *)p);
    if (dt == DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* Dot products of K weights from wr with T <= 4 activation rows (x, row
 * stride ldx): out[t]. U sets of accumulators unroll K so that the FMA
 * latency is hidden with few tokens; each widened weight vector feeds the T
 * tokens. */
TK_INLINE void dm_tile(const uint8_t *wr, const float *x, int64_t ldx, int64_t K, const int T, const int U,
                       const int dt, float *out) {
    const size_t es = dt == DT_F32 ? 4 : 2;
    __m512 acc[4][4]; /* [u][t] */
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[u][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 * U <= K; k += 16 * U) {
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            const __m512 wv = dm_load(wr + (size_t)(k + 16 * u) * es, dt, 0, 0);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                acc[u][t] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + t * ldx + k + 16 * u), acc[u][t]);
        }
    }
    for (; k + 16 <= K; k += 16) { /* only when U > 1 */
        const __m512 wv = dm_load(wr + (size_t)k * es, dt, 0, 0);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[0][t] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + t * ldx + k), acc[0][t]);
    }
    if (k < K) {
        const __mmask16 mk = (__mmask16)((1u << (K - k)) - 1);
        const __m512 wv = dm_load(wr + (size_t)k * es, dt, 1, mk);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[0][t] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mk, x + t * ldx + k), acc[0][t]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
#pragma GCC unroll 4
        for (int u = 1; u < U; u++) acc[0][t] = _mm512_add_ps(acc[0][t], acc[u][t]);
        out[t] = _mm512_reduce_add_ps(acc[0][t]);
    }
}

/* Bytes of weight rows in one block of the M > 1 path: every block of 4
 * tokens passes over the block's rows (kept in L2), and while the first
 * token block computes row n it prefetches the same row of the next block.
 * Without the prefetches the weights stream poorly from memory once several
 * tokens' FMAs wait on each load (measured with 4 tokens: about 40% slower;
 * thread CPU time, 2B-4T lm_head rows). */
enum { DM_BLOCK = 256 * 1024 };

/* Prefetches the bytes [p, p + n) into the caches. */
TK_INLINE void prefetch_range(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i += 64) _mm_prefetch((const char *)(p + i), _MM_HINT_T0);
}

/* Rows [n0, n1) x all M tokens for one dtype. M == 1 walks one weight row at
 * a time with 4 accumulators (a single sequential stream, measured faster
 * than interleaving rows); M > 1 works on row blocks as described above, each
 * weight vector feeding 4 tokens (2 accumulators each). */
TK_INLINE void dm_all(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0,
                      int64_t n1, const int dt) {
    const int64_t K = w->K;
    const size_t rs = (size_t)K * (dt == DT_F32 ? 4 : 2);
    const uint8_t *base = (const uint8_t *)w->data;
    float o[4];
    if (M == 1) {
        for (int64_t n = n0; n < n1; n++) {
            dm_tile(base + (size_t)n * rs, x, K, K, 1, 4, dt, o);
            y[n] = o[0];
        }
        return;
    }
    const int64_t rb = DM_BLOCK / (int64_t)rs > 4 ? DM_BLOCK / (int64_t)rs : 4;
    for (int64_t na = n0; na < n1; na += rb) {
        const int64_t ne = na + rb < n1 ? na + rb : n1;
        for (int64_t m = 0; m < M; m += 4) {
            const int T = M - m < 4 ? (int)(M - m) : 4;
            for (int64_t n = na; n < ne; n++) {
                const uint8_t *wr = base + (size_t)n * rs;
                if (m == 0 && n + rb < n1) prefetch_range(wr + (size_t)rb * rs, rs);
                switch (T) {
                case 4: dm_tile(wr, x + m * K, K, K, 4, 2, dt, o); break;
                case 3: dm_tile(wr, x + m * K, K, K, 3, 2, dt, o); break;
                case 2: dm_tile(wr, x + m * K, K, K, 2, 2, dt, o); break;
                default: dm_tile(wr, x + m * K, K, K, 1, 4, dt, o); break;
                }
                for (int t = 0; t < T; t++) y[(m + t) * ldy + n] = o[t];
            }
        }
    }
}

static void dm_f32(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    dm_all(w, x, M, y, ldy, n0, n1, DT_F32);
}
static void dm_bf16(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    dm_all(w, x, M, y, ldy, n0, n1, DT_BF16);
}
static void dm_f16(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0, int64_t n1) {
    dm_all(w, x, M, y, ldy, n0, n1, DT_F16);
}

/* Dense matmul, AVX-512: see trit_kernels.dmatmul. F32, F16 and BF16
 * weights (other dtypes go to the scalar reference); f32 accumulation in a
 * different order than the reference (agrees within float rounding). */
void trit_dmatmul_avx512(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0,
                         int64_t n1) {
    if (n0 >= n1 || M < 1) return;
    switch (w->dtype) {
    case ST_F32: dm_f32(w, x, M, y, ldy, n0, n1); break;
    case ST_BF16: dm_bf16(w, x, M, y, ldy, n0, n1); break;
    case ST_F16: dm_f16(w, x, M, y, ldy, n0, n1); break;
    default: trit_dmatmul_scalar(w, x, M, y, ldy, n0, n1); break;
    }
}

#endif /* __x86_64__ */
