/*
 * kernels_avx2.c - AVX2 + FMA + F16C kernels for the table of kernels.h.
 * Built with the ISA flags of the Makefile's *_avx2.o rule and called only
 * when trit_cpu_isa() reports TRIT_ISA_AVX2 or better.
 *
 * Ternary x int8 (tmatmul): each byte of a packed row q holds the codes of
 * rows q, q+Q, q+2Q, q+3Q at one column. The kernel splits 32 code bytes into
 * four planes of codes {0,1,2} (shift + mask) and dots each with the int8
 * activations with vpmaddubsw (u8 x s8, adjacent pairs summed into int16,
 * at most 512 in magnitude). These int16 sums accumulate over up to 32 steps
 * without overflow before vpmaddwd with ones widens them to int32, which
 * halves the multiplier-port work of widening every step. The four sums are
 * d_g = x.code_g, and x.(c - 1) = d_g - sum(x). The final value is the same
 * float expression as the scalar reference: results are bit-identical.
 *
 * Dense (dmatmul): weights widened to f32 in registers (bf16: zero-extend and
 * shift left 16; f16: vcvtph2ps), FMA into accumulators per token; each
 * widened weight vector is reused by every token of a block.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TK_INLINE static inline __attribute__((always_inline))

/* ==== ternary x int8 ==== */

/* Largest K of the fast path (as the AVX-512 kernel; int32 sums are exact far
 * beyond it). */
enum { TK_KMAX = 65536 };

/* Sums the 8 int32 lanes of each of a, b, c, d into lanes 0..3. */
TK_INLINE __m128i hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* Writes the up to 4 outputs of packed row q for one token: S holds
 * (d0, d1, d2, d3); y points at the token's output row. */
TK_INLINE void tk_store(__m128i S, int32_t xsum, float denom, float *y, int64_t q, int64_t Q, int64_t N) {
    __m128i D = _mm_sub_epi32(S, _mm_set1_epi32(xsum));
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

/* One 32-column step of a tile: code vector b of one packed row against T
 * activation vectors xv, into the int16 sums s16[t][0..3]. The planes are
 * shared by the T tokens. */
TK_INLINE void tk_step(__m256i b, const __m256i *xv, const int T, __m256i s16[][4]) {
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

/* 32-column steps summed in int16 before widening: each step adds at most
 * 512 in magnitude per lane, so 32 steps stay within int16. */
enum { TK_STEPS16 = 32 };

/* The sums (see tk_store) of one packed row (codes c) against T <= 2
 * consecutive tokens (x, row stride K): out[t]. Widening to int32 happens
 * once per TK_STEPS16 steps. The K % 32 tail goes through zero-padded stack
 * copies. */
TK_INLINE void tk_tile(const uint8_t *c, const int8_t *x, int64_t K, const int T, __m128i *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[2][4];
#pragma GCC unroll 2
    for (int t = 0; t < T; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[t][g] = _mm256_setzero_si256();
    int64_t k = 0;
    while (k < K) {
        const int64_t kend = K - k > 32 * TK_STEPS16 ? k + 32 * TK_STEPS16 : K;
        __m256i s16[2][4];
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) s16[t][g] = _mm256_setzero_si256();
        for (; k + 32 <= kend; k += 32) {
            __m256i xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_si256((const __m256i *)(x + t * K + k));
            tk_step(_mm256_loadu_si256((const __m256i *)(c + k)), xv, T, s16);
        }
        if (k < kend) { /* the last K % 32 columns */
            const int n = (int)(kend - k);
            int8_t xb[2][32] = {{0}};
            uint8_t cb[32] = {0};
            __m256i xv[2];
#pragma GCC unroll 2
            for (int t = 0; t < T; t++) {
                for (int i = 0; i < n; i++) xb[t][i] = x[t * K + k + i];
                xv[t] = _mm256_loadu_si256((const __m256i *)xb[t]);
            }
            for (int i = 0; i < n; i++) cb[i] = c[k + i];
            tk_step(_mm256_loadu_si256((const __m256i *)cb), xv, T, s16);
            k = kend;
        }
#pragma GCC unroll 2
        for (int t = 0; t < T; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) acc[t][g] = _mm256_add_epi32(acc[t][g], _mm256_madd_epi16(s16[t][g], ones));
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; t++) out[t] = hsum4_epi32(acc[t][0], acc[t][1], acc[t][2], acc[t][3]);
}

/* One out-of-line instance per tile shape: one packed row x T tokens. */
static void tk_tile_1(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 1, out); }
static void tk_tile_2(const uint8_t *c, const int8_t *x, int64_t K, __m128i *out) { tk_tile(c, x, K, 2, out); }

/* Token block of the GEMM path and the bytes of codes of one cache block. */
enum { TK_TB = 2, TK_CODE_BLOCK = 128 * 1024 };

/* Runs the T-token tile at packed row q, token m, and stores the outputs. */
static void tk_run(int T, const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                   float *y, int64_t ldy, int64_t q, int64_t m) {
    const int64_t K = w->K;
    __m128i S[TK_TB];
    if (T == 2) tk_tile_2(w->codes + q * K, xq + m * K, K, S);
    else tk_tile_1(w->codes + q * K, xq + m * K, K, S);
    for (int t = 0; t < T; t++) tk_store(S[t], xsum[m + t], xs[m + t] * wdiv, y + (m + t) * ldy, q, w->Q, w->N);
}

/* Ternary matmul, AVX2: see trit_kernels.tmatmul and the file comment.
 * M == 1 walks the packed rows one at a time (one sequential stream); M > 1
 * walks cache blocks of packed rows (about 128 KiB of codes) and, within a
 * block, pairs of tokens against one packed row at a time (16 ymm registers
 * hold no more). Falls back to the scalar reference for K > 65536.
 * Bit-identical to the reference. */
void trit_tmatmul_avx2(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
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
            for (int64_t q = qa; q < qe; q++) tk_run(T, w, wdiv, xq, xs, xsum, y, ldy, q, m);
        }
    }
}

/* ==== dense ==== */

enum { DT_F32, DT_BF16, DT_F16 };

/* 8 weights from p widened to f32. */
TK_INLINE __m256 dm_load(const void *p, const int dt) {
    if (dt == DT_F32) return _mm256_loadu_ps((const float *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (dt == DT_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* One weight widened to f32 (for the K % 8 tail). */
TK_INLINE float dm_one(const uint8_t *p, const int dt) {
    float f;
    if (dt == DT_F32) {
        __builtin_memcpy(&f, p, 4);
    } else {
        uint16_t h;
        __builtin_memcpy(&h, p, 2);
        if (dt == DT_BF16) {
            uint32_t u = (uint32_t)h << 16;
            __builtin_memcpy(&f, &u, 4);
        } else {
            f = trit_fp16_to_f32(h);
        }
    }
    return f;
}

/* Sums the 8 lanes of v. */
TK_INLINE float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Dot products of K weights from wr with T <= 4 activation rows (x, row
 * stride ldx): out[t]. U sets of accumulators unroll K to hide the FMA
 * latency; each widened weight vector feeds the T tokens. The K % 8 tail is
 * added in scalar code. */
TK_INLINE void dm_tile(const uint8_t *wr, const float *x, int64_t ldx, int64_t K, const int T, const int U,
                       const int dt, float *out) {
    const size_t es = dt == DT_F32 ? 4 : 2;
    __m256 acc[4][4]; /* [u][t] */
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[u][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 * U <= K; k += 8 * U) {
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            const __m256 wv = dm_load(wr + (size_t)(k + 8 * u) * es, dt);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                acc[u][t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * ldx + k + 8 * u), acc[u][t]);
        }
    }
    for (; k + 8 <= K; k += 8) { /* only when U > 1 */
        const __m256 wv = dm_load(wr + (size_t)k * es, dt);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[0][t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * ldx + k), acc[0][t]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
#pragma GCC unroll 4
        for (int u = 1; u < U; u++) acc[0][t] = _mm256_add_ps(acc[0][t], acc[u][t]);
        float s = hsum_ps(acc[0][t]);
        for (int64_t j = k; j < K; j++) s += dm_one(wr + (size_t)j * es, dt) * x[t * ldx + j];
        out[t] = s;
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

/* Dense matmul, AVX2: see trit_kernels.dmatmul. F32, F16 and BF16 weights
 * (other dtypes go to the scalar reference); f32 accumulation in a different
 * order than the reference (agrees within float rounding). */
void trit_dmatmul_avx2(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy, int64_t n0,
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
