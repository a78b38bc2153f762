/*
 * ops_avx512.c - AVX-512 versions of the per-token ops of the forward pass
 * (see ops.h). Each one performs the same float operations in the same order
 * as its scalar reference in ops.c and quant/ternary.c, so results are
 * bit-identical (tests/test_ops.c).
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include "nn/ops.h"

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

/* ==== activation quantization (trit_act_quant's rule) ==== */

float nn_act_quant_avx512(const float *x, int64_t n, int8_t *q, int32_t *sum) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 vmax = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __m512 a = _mm512_and_ps(_mm512_maskz_loadu_ps(tail_mask(n - i), x + i), absmask);
        vmax = _mm512_max_ps(a, vmax); /* a NaN is skipped, as the scalar compare does */
    }
    float amax = _mm512_reduce_max_ps(vmax);
    if (!(amax >= 1e-5f)) amax = 1e-5f;
    const float scale = 127.0f / amax;
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    __m512i vsum = _mm512_setzero_si512();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        /* rint(x*scale) in the default rounding mode (half to even), then the clamp */
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, m, v);
        vsum = _mm512_add_epi32(vsum, v); /* masked-off lanes loaded 0 -> 0 */
    }
    *sum = _mm512_reduce_add_epi32(vsum);
    return scale;
}

/* ==== rmsnorm ==== */

void nn_rmsnorm_avx512(float *out, const float *x, const float *w, int64_t n, float eps) {
    /* lanes 0-7, 8-15, 16-23, 24-31 of the 32 interleaved double sums */
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < n; i += 32) {
        __m512 u = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        __m512 v = _mm512_maskz_loadu_ps(n - i > 16 ? tail_mask(n - i - 16) : 0, x + i + 16);
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(u));
        __m512d d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1)));
        __m512d d2 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d d3 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        /* the products of floats are exact in double: fma == add of the product */
        a0 = _mm512_fmadd_pd(d0, d0, a0);
        a1 = _mm512_fmadd_pd(d1, d1, a1);
        a2 = _mm512_fmadd_pd(d2, d2, a2);
        a3 = _mm512_fmadd_pd(d3, d3, a3);
    }
    a0 = _mm512_add_pd(a0, a2); /* w = 16 */
    a1 = _mm512_add_pd(a1, a3);
    a0 = _mm512_add_pd(a0, a1); /* w = 8 */
    __m256d b = _mm256_add_pd(_mm512_castpd512_pd256(a0), _mm512_extractf64x4_pd(a0, 1)); /* w = 4 */
    __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));      /* w = 2 */
    double ss = _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));                       /* w = 1 */
    float var = (float)(ss / (double)n);
    const __m512 r = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r);
        if (w) v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + i), v);
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

/* ==== GLU ==== */

void nn_relu2_glu_avx512(float *out, const float *gate, const float *up, int64_t n) {
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 g = _mm512_max_ps(_mm512_maskz_loadu_ps(m, gate + i), zero); /* NaN, -0 -> +0 as the scalar */
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(g, g), _mm512_maskz_loadu_ps(m, up + i)));
    }
}

/* ==== attention ==== */

/* nn_expf on 16 lanes, operation for operation. */
static inline __m512 expf16(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x); /* (x < -87 ? -87 : x); a NaN x stays NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x);
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), magic), magic);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693145751953125f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(1.42860682030941723e-06f)));
    __m512 p = _mm512_mul_ps(r, _mm512_set1_ps(1.38888889e-3f));
    p = _mm512_mul_ps(r, _mm512_add_ps(_mm512_set1_ps(8.33333333e-3f), p));
    p = _mm512_mul_ps(r, _mm512_add_ps(_mm512_set1_ps(4.16666667e-2f), p));
    p = _mm512_mul_ps(r, _mm512_add_ps(_mm512_set1_ps(1.66666667e-1f), p));
    p = _mm512_mul_ps(r, _mm512_add_ps(_mm512_set1_ps(0.5f), p));
    p = _mm512_mul_ps(r, _mm512_add_ps(_mm512_set1_ps(1.0f), p));
    p = _mm512_add_ps(_mm512_set1_ps(1.0f), p);
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* scores[0..n) = softmax of the scores whose lane-wise maximum is vmax, as
 * nn_attend: e_t = nn_expf(s_t - max), 16 lane sums added pairwise,
 * p_t = e_t * (1 / sum). Writes up to n rounded up to 16. */
static inline void softmax_scores(float *scores, int64_t n, __m512 vmax) {
    const int64_t nb = (n + 15) / 16;
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    /* e_t and the 16 lane sums */
    __m512 z = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __mmask16 m = tail_mask(n - b * 16);
        __m512 e = expf16(_mm512_sub_ps(_mm512_loadu_ps(scores + b * 16), mx));
        _mm512_storeu_ps(scores + b * 16, e);
        z = _mm512_mask_add_ps(z, m, z, e);
    }
    __m256 z8 = _mm256_add_ps(_mm512_castps512_ps256(z),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1))); /* w = 8 */
    __m128 z4 = _mm_add_ps(_mm256_castps256_ps128(z8), _mm256_extractf128_ps(z8, 1));             /* w = 4 */
    __m128 z2 = _mm_add_ps(z4, _mm_movehl_ps(z4, z4));                                             /* w = 2 */
    float zsum = _mm_cvtss_f32(_mm_add_ss(z2, _mm_shuffle_ps(z2, z2, 1)));                         /* w = 1 */
    const __m512 inv = _mm512_set1_ps(1.0f / zsum);
    for (int64_t b = 0; b < nb; b++) _mm512_storeu_ps(scores + b * 16, _mm512_mul_ps(_mm512_loadu_ps(scores + b * 16), inv));
}

#define AT_INLINE static inline __attribute__((always_inline))

/* Lanes (mask m, others 0) of a float (h == 0) or f16 (h != 0, widened
 * exactly) key or value cache from element i on. */
AT_INLINE __m512 kv_ld(const void *p, int64_t i, const int h, __mmask16 m) {
    if (h) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}
AT_INLINE __m512 kv_ld16(const void *p, int64_t i, const int h) {
    if (h) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    return _mm512_loadu_ps((const float *)p + i);
}

AT_INLINE void attend_body(float *out, const float *q, const void *kt, const void *v, const int kh, const int vh,
                           int64_t n, int64_t hd, float scale, float *scores) {
    const int64_t bs = hd * NN_KV_BLOCK, nb = (n + 15) / 16;
    const __m512 vscale = _mm512_set1_ps(scale);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    /* scores: one FMA chain over i per key; 4 blocks of 16 keys at a time
     * (4 independent chains), the last ones masked: keys past n are not
     * written yet, and a block past the end is not read at all */
    for (int64_t b = 0; b < nb; b += 4) {
        const int64_t k0 = b * bs;
        __mmask16 m[4];
        for (int j = 0; j < 4; j++) m[j] = b + j < nb ? tail_mask(n - (b + j) * 16) : 0;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t i = 0; i < hd; i++) {
            __m512 qi = _mm512_set1_ps(q[i]);
            s0 = _mm512_fmadd_ps(qi, kv_ld(kt, k0 + i * 16, kh, m[0]), s0);
            s1 = _mm512_fmadd_ps(qi, kv_ld(kt, k0 + bs + i * 16, kh, m[1]), s1);
            s2 = _mm512_fmadd_ps(qi, kv_ld(kt, k0 + 2 * bs + i * 16, kh, m[2]), s2);
            s3 = _mm512_fmadd_ps(qi, kv_ld(kt, k0 + 3 * bs + i * 16, kh, m[3]), s3);
        }
        __m512 sv[4] = {_mm512_mul_ps(s0, vscale), _mm512_mul_ps(s1, vscale), _mm512_mul_ps(s2, vscale),
                        _mm512_mul_ps(s3, vscale)};
        for (int j = 0; j < 4 && b + j < nb; j++) {
            vmax = _mm512_mask_max_ps(vmax, m[j], sv[j], vmax); /* a NaN score is skipped, as the scalar compare does */
            _mm512_storeu_ps(scores + (b + j) * 16, sv[j]);
        }
    }
    softmax_scores(scores, n, vmax);
    /* out = sum_t p_t v_t: one FMA chain over t per output, 128 outputs at a time */
    int64_t i0 = 0;
    for (; i0 + 128 <= hd; i0 += 128) {
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0, o6 = o0, o7 = o0;
        int64_t vt = i0;
        for (int64_t t = 0; t < n; t++, vt += hd) {
            __m512 p = _mm512_set1_ps(scores[t]);
            o0 = _mm512_fmadd_ps(p, kv_ld16(v, vt, vh), o0);
            o1 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 16, vh), o1);
            o2 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 32, vh), o2);
            o3 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 48, vh), o3);
            o4 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 64, vh), o4);
            o5 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 80, vh), o5);
            o6 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 96, vh), o6);
            o7 = _mm512_fmadd_ps(p, kv_ld16(v, vt + 112, vh), o7);
        }
        _mm512_storeu_ps(out + i0, o0);
        _mm512_storeu_ps(out + i0 + 16, o1);
        _mm512_storeu_ps(out + i0 + 32, o2);
        _mm512_storeu_ps(out + i0 + 48, o3);
        _mm512_storeu_ps(out + i0 + 64, o4);
        _mm512_storeu_ps(out + i0 + 80, o5);
        _mm512_storeu_ps(out + i0 + 96, o6);
        _mm512_storeu_ps(out + i0 + 112, o7);
    }
    for (; i0 < hd; i0 += 16) {
        const __mmask16 m = tail_mask(hd - i0);
        __m512 o0 = _mm512_setzero_ps();
        for (int64_t t = 0; t < n; t++) o0 = _mm512_fmadd_ps(_mm512_set1_ps(scores[t]), kv_ld(v, t * hd + i0, vh, m), o0);
        _mm512_mask_storeu_ps(out + i0, m, o0);
    }
}

void nn_attend_avx512(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n, int64_t hd,
                      float scale, float *scores) {
    switch (kv16 & 3) { /* one specialized body per cache type */
    case 0: attend_body(out, q, kt, v, 0, 0, n, hd, scale, scores); break;
    case NN_K16: attend_body(out, q, kt, v, 1, 0, n, hd, scale, scores); break;
    case NN_V16: attend_body(out, q, kt, v, 0, 1, n, hd, scale, scores); break;
    default: attend_body(out, q, kt, v, 1, 1, n, hd, scale, scores); break;
    }
}

/* Scores of G (1..4) queries q [G][hd] against the keys, for
 * nn_attend_group_avx512: 2 blocks of 16 keys x G queries at a time (2G
 * independent chains), each key block loaded once for the G queries.
 * scores row g at scores + g * ld; vmax[g] their lane-wise maxima. */
AT_INLINE void group_scores(const int G, const float *q, const void *kt, const int kh, int64_t n, int64_t hd,
                            float scale, float *scores, int64_t ld, __m512 *vmax) {
    const int64_t bs = hd * NN_KV_BLOCK, nb = (n + 15) / 16;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int g = 0; g < G; g++) vmax[g] = _mm512_set1_ps(-INFINITY);
    for (int64_t b = 0; b < nb; b += 2) {
        const int64_t k0 = b * bs;
        const __mmask16 m0 = tail_mask(n - b * 16), m1 = b + 1 < nb ? tail_mask(n - b * 16 - 16) : 0;
        __m512 s[4][2];
        for (int g = 0; g < G; g++) s[g][0] = s[g][1] = _mm512_setzero_ps();
        /* the next pair of blocks (2 bs elements) is prefetched over the hd steps: a long
         * context's keys come from memory, and 2 streams per thread are too few to hide it */
        const char *pf = (const char *)nn_kv_at(kt, k0 + 2 * bs, kh);
        for (int64_t i = 0; i < hd; i++) {
            _mm_prefetch(pf + i * 32 * (kh ? 2 : 4), _MM_HINT_T0);
            if (!kh) _mm_prefetch(pf + i * 128 + 64, _MM_HINT_T0);
            __m512 ka = kv_ld(kt, k0 + i * 16, kh, m0), kb = kv_ld(kt, k0 + bs + i * 16, kh, m1);
            for (int g = 0; g < G; g++) {
                __m512 qi = _mm512_set1_ps(q[g * hd + i]);
                s[g][0] = _mm512_fmadd_ps(qi, ka, s[g][0]);
                s[g][1] = _mm512_fmadd_ps(qi, kb, s[g][1]);
            }
        }
        for (int g = 0; g < G; g++) {
            __m512 a = _mm512_mul_ps(s[g][0], vscale), c = _mm512_mul_ps(s[g][1], vscale);
            vmax[g] = _mm512_mask_max_ps(vmax[g], m0, a, vmax[g]); /* a NaN score is skipped */
            _mm512_storeu_ps(scores + g * ld + b * 16, a);
            if (b + 1 < nb) {
                vmax[g] = _mm512_mask_max_ps(vmax[g], m1, c, vmax[g]);
                _mm512_storeu_ps(scores + g * ld + b * 16 + 16, c);
            }
        }
    }
}

/* out [G][hd] = sum_t p[g][t] v_t for G (1..4) probability rows at p + g * ld:
 * one FMA chain over t per output, 64 outputs x G queries at a time, each
 * value vector loaded once for the G queries. */
enum { VPF = 16 }; /* value rows prefetched ahead */

AT_INLINE void group_values(const int G, float *out, const float *p, int64_t ld, const void *v, const int vh,
                            int64_t n, int64_t hd) {
    for (int64_t i0 = 0; i0 < hd; i0 += 64) {
        __mmask16 m[4];
        for (int j = 0; j < 4; j++) m[j] = hd - i0 - 16 * j > 0 ? tail_mask(hd - i0 - 16 * j) : 0;
        __m512 o[4][4];
        for (int g = 0; g < G; g++)
            for (int j = 0; j < 4; j++) o[g][j] = _mm512_setzero_ps();
        int64_t vt = i0;
        for (int64_t t = 0; t < n; t++, vt += hd) {
            /* the same 64 values of the row VPF ahead (their 256 or 128 bytes) */
            const char *pf = (const char *)nn_kv_at(v, vt + VPF * hd, vh);
            _mm_prefetch(pf, _MM_HINT_T0);
            _mm_prefetch(pf + 64, _MM_HINT_T0);
            if (!vh) {
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                _mm_prefetch(pf + 192, _MM_HINT_T0);
            }
            __m512 v0 = kv_ld(v, vt, vh, m[0]), v1 = kv_ld(v, vt + 16, vh, m[1]);
            __m512 v2 = kv_ld(v, vt + 32, vh, m[2]), v3 = kv_ld(v, vt + 48, vh, m[3]);
            for (int g = 0; g < G; g++) {
                __m512 pg = _mm512_set1_ps(p[g * ld + t]);
                o[g][0] = _mm512_fmadd_ps(pg, v0, o[g][0]);
                o[g][1] = _mm512_fmadd_ps(pg, v1, o[g][1]);
                o[g][2] = _mm512_fmadd_ps(pg, v2, o[g][2]);
                o[g][3] = _mm512_fmadd_ps(pg, v3, o[g][3]);
            }
        }
        for (int g = 0; g < G; g++)
            for (int j = 0; j < 4; j++) _mm512_mask_storeu_ps(out + g * hd + i0 + 16 * j, m[j], o[g][j]);
    }
}

AT_INLINE void attend_group4(const int G, float *out, const float *q, const void *kt, const void *v, const int kh,
                             const int vh, int64_t n, int64_t hd, float scale, float *scores) {
    const int64_t ld = (n + 15) / 16 * 16;
    __m512 vmax[4];
    group_scores(G, q, kt, kh, n, hd, scale, scores, ld, vmax);
    for (int g = 0; g < G; g++) softmax_scores(scores + g * ld, n, vmax[g]);
    group_values(G, out, scores, ld, v, vh, n, hd);
}

/* One out-of-line body per cache type; the group size is a switch inside. */
AT_INLINE void attend_group_t(float *out, const float *q, int64_t G, const void *kt, const void *v, const int kh,
                              const int vh, int64_t n, int64_t hd, float scale, float *scores) {
    for (int64_t g = 0; g < G; g += 4) {
        switch (G - g < 4 ? (int)(G - g) : 4) { /* one specialized body per group size */
        case 1: attend_group4(1, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        case 2: attend_group4(2, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        case 3: attend_group4(3, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        default: attend_group4(4, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        }
    }
}
static void attend_group_ff(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n, int64_t hd,
                            float sc, float *s) { attend_group_t(o, q, G, k, v, 0, 0, n, hd, sc, s); }
static void attend_group_hf(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n, int64_t hd,
                            float sc, float *s) { attend_group_t(o, q, G, k, v, 1, 0, n, hd, sc, s); }
static void attend_group_fh(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n, int64_t hd,
                            float sc, float *s) { attend_group_t(o, q, G, k, v, 0, 1, n, hd, sc, s); }
static void attend_group_hh(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n, int64_t hd,
                            float sc, float *s) { attend_group_t(o, q, G, k, v, 1, 1, n, hd, sc, s); }

void nn_attend_group_avx512(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16, int64_t n,
                            int64_t hd, float scale, float *scores) {
    static void (*const by_type[4])(float *, const float *, int64_t, const void *, const void *, int64_t, int64_t,
                                    float, float *) = {attend_group_ff, attend_group_hf, attend_group_fh,
                                                       attend_group_hh};
    by_type[kv16 & 3](out, q, G, kt, v, n, hd, scale, scores);
}

#else
typedef int trit_ops_avx512_unused;
#endif
