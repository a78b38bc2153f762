/*
 * ops_avx2.c - AVX2 + FMA versions of the per-token ops of the forward pass
 * (see ops.h). Same float operations in the same order as the scalar
 * references, so results are bit-identical (tests/test_ops.c).
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "nn/ops.h"
#include "quant/ternary.h"

/* Lane mask of the first `left` of 8 lanes (all when left >= 8). */
static inline __m256i mask8(int64_t left) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)), idx);
}

/* ==== activation quantization (trit_act_quant's rule) ==== */

float nn_act_quant_avx2(const float *x, int64_t n, int8_t *q, int32_t *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmax = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        __m256 a = _mm256_and_ps(_mm256_maskload_ps(x + i, mask8(n - i)), absmask);
        vmax = _mm256_max_ps(a, vmax); /* a NaN is skipped, as the scalar compare does */
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1)));
    if (!(amax >= 1e-5f)) amax = 1e-5f;
    const float scale = 127.0f / amax;
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i vsum = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        /* rint(x*scale) in the default rounding mode; |x*scale| <= 127 so packing saturates nothing */
        __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
        __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), vs));
        __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), vs));
        __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), vs));
        vsum = _mm256_add_epi32(vsum, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
        __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
        __m256i abcd = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), perm);
        _mm256_storeu_si256((__m256i *)(q + i), abcd);
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(vsum), _mm256_extracti128_si256(vsum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    int32_t s = _mm_cvtsi128_si32(s4);
    for (; i < n; i++) { /* the scalar rule */
        float v = rintf(x[i] * scale);
        v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
        q[i] = (int8_t)v;
        s += q[i];
    }
    *sum = s;
    return scale;
}

/* ==== rmsnorm ==== */

void nn_rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps) {
    __m256d a[8]; /* a[k]: lanes 4k..4k+3 of the 32 interleaved double sums */
    for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_pd();
    for (int64_t i = 0; i < n; i += 32)
        for (int h = 0; h < 4; h++) {
            __m256 u = _mm256_maskload_ps(x + i + 8 * h, mask8(n - i - 8 * h));
            __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(u)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1));
            a[2 * h] = _mm256_fmadd_pd(lo, lo, a[2 * h]); /* exact products: fma == add */
            a[2 * h + 1] = _mm256_fmadd_pd(hi, hi, a[2 * h + 1]);
        }
    for (int k = 0; k < 4; k++) a[k] = _mm256_add_pd(a[k], a[k + 4]); /* w = 16 */
    for (int k = 0; k < 2; k++) a[k] = _mm256_add_pd(a[k], a[k + 2]); /* w = 8 */
    __m256d b = _mm256_add_pd(a[0], a[1]);                              /* w = 4 */
    __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1)); /* w = 2 */
    double ss = _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));                  /* w = 1 */
    float var = (float)(ss / (double)n);
    const float rs = 1.0f / sqrtf(var + eps);
    const __m256 r = _mm256_set1_ps(rs);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), r);
        if (w) v = _mm256_mul_ps(_mm256_loadu_ps(w + i), v);
        _mm256_storeu_ps(out + i, v);
    }
    for (; i < n; i++) {
        float v = x[i] * rs;
        out[i] = w ? w[i] * v : v;
    }
}

/* ==== GLU ==== */

void nn_relu2_glu_avx2(float *out, const float *gate, const float *up, int64_t n) {
    const __m256 zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_max_ps(_mm256_loadu_ps(gate + i), zero); /* NaN, -0 -> +0 as the scalar */
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, g), _mm256_loadu_ps(up + i)));
    }
    if (i < n) nn_relu2_glu(out + i, gate + i, up + i, n - i);
}

/* ==== attention ==== */

/* nn_expf on 8 lanes, operation for operation. */
static inline __m256 expf8(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x); /* (x < -87 ? -87 : x); a NaN x stays NaN */
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), magic), magic);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693145751953125f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(1.42860682030941723e-06f)));
    __m256 p = _mm256_mul_ps(r, _mm256_set1_ps(1.38888889e-3f));
    p = _mm256_mul_ps(r, _mm256_add_ps(_mm256_set1_ps(8.33333333e-3f), p));
    p = _mm256_mul_ps(r, _mm256_add_ps(_mm256_set1_ps(4.16666667e-2f), p));
    p = _mm256_mul_ps(r, _mm256_add_ps(_mm256_set1_ps(1.66666667e-1f), p));
    p = _mm256_mul_ps(r, _mm256_add_ps(_mm256_set1_ps(0.5f), p));
    p = _mm256_mul_ps(r, _mm256_add_ps(_mm256_set1_ps(1.0f), p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f), p);
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#define AT_INLINE static inline __attribute__((always_inline))

/* Lanes (mask m, others 0) of 8 keys or values of a float (h == 0) or f16
 * (h != 0, widened exactly) cache from element i on. `exists`: the 8
 * elements lie inside the cache's memory (an f16 load reads all of them,
 * then masks; a float load touches only the lanes in m). */
AT_INLINE __m256 kv_ld8(const void *p, int64_t i, const int h, __m256i m, int exists) {
    if (!h) return _mm256_maskload_ps((const float *)p + i, m);
    if (!exists) return _mm256_setzero_ps();
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_and_ps(x, _mm256_castsi256_ps(m));
}
/* All 8 lanes from element i on. */
AT_INLINE __m256 kv_ldu8(const void *p, int64_t i, const int h) {
    if (h) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_loadu_ps((const float *)p + i);
}
/* The first k < 8 lanes from element i on (others 0), reading only those. */
AT_INLINE __m256 kv_ldn8(const void *p, int64_t i, const int h, int64_t k) {
    if (!h) return _mm256_maskload_ps((const float *)p + i, mask8(k));
    uint16_t b[8] = {0};
    memcpy(b, (const uint16_t *)p + i, (size_t)k * sizeof b[0]);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b));
}

/* scores [n] (written up to n rounded up to 16) -> their softmax, given the
 * lane-wise maxima vmax of the n scores: nn_attend's e_t, Z (16 lane sums)
 * and division, operation for operation. */
AT_INLINE void softmax_row8(float *scores, int64_t n, __m256 vmax) {
    const int64_t nb = (n + 15) / 16;
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    const __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(_mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1))));
    /* e_t and the 16 lane sums (za: lanes 0-7, zb: lanes 8-15) */
    __m256 za = _mm256_setzero_ps(), zb = za;
    for (int64_t b = 0; b < nb; b++) {
        __m256 ea = expf8(_mm256_sub_ps(_mm256_loadu_ps(scores + b * 16), mx));
        __m256 eb = expf8(_mm256_sub_ps(_mm256_loadu_ps(scores + b * 16 + 8), mx));
        _mm256_storeu_ps(scores + b * 16, ea);
        _mm256_storeu_ps(scores + b * 16 + 8, eb);
        za = _mm256_add_ps(za, _mm256_and_ps(ea, _mm256_castsi256_ps(mask8(n - b * 16))));
        zb = _mm256_add_ps(zb, _mm256_and_ps(eb, _mm256_castsi256_ps(mask8(n - b * 16 - 8))));
    }
    __m256 z8 = _mm256_add_ps(za, zb);                                                  /* w = 8 */
    __m128 z4 = _mm_add_ps(_mm256_castps256_ps128(z8), _mm256_extractf128_ps(z8, 1));  /* w = 4 */
    __m128 z2 = _mm_add_ps(z4, _mm_movehl_ps(z4, z4));                                  /* w = 2 */
    float zsum = _mm_cvtss_f32(_mm_add_ss(z2, _mm_shuffle_ps(z2, z2, 1)));              /* w = 1 */
    const __m256 inv = _mm256_set1_ps(1.0f / zsum);
    for (int64_t t = 0; t < nb * 16; t += 8) _mm256_storeu_ps(scores + t, _mm256_mul_ps(_mm256_loadu_ps(scores + t), inv));
}

AT_INLINE void attend_body(float *out, const float *q, const void *kt, const void *v, const int kh, const int vh,
                           int64_t n, int64_t hd, float scale, float *scores) {
    const int64_t bs = hd * NN_KV_BLOCK, nb = (n + 15) / 16;
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    /* scores: one FMA chain over i per key; 2 blocks of 16 keys at a time
     * (4 independent chains), the last ones masked: keys past n are not
     * written yet, and a block past the end is not read at all */
    for (int64_t b = 0; b < nb; b += 2) {
        const int64_t k0 = b * bs, k1 = k0 + bs;
        const int e1 = b + 1 < nb; /* the second block exists */
        const __m256i m0 = mask8(n - b * 16), m1 = mask8(n - b * 16 - 8);
        const __m256i m2 = mask8(n - b * 16 - 16), m3 = mask8(n - b * 16 - 24);
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        /* the next pair of blocks is prefetched over the hd steps (a long context's keys come
         * from memory; see ops_avx512.c) */
        const char *pf = (const char *)nn_kv_at(kt, k0 + 2 * bs, kh);
        for (int64_t i = 0; i < hd; i++) {
            _mm_prefetch(pf + i * 32 * (kh ? 2 : 4), _MM_HINT_T0);
            if (!kh) _mm_prefetch(pf + i * 128 + 64, _MM_HINT_T0);
            __m256 qi = _mm256_set1_ps(q[i]);
            s0 = _mm256_fmadd_ps(qi, kv_ld8(kt, k0 + i * 16, kh, m0, 1), s0);
            s1 = _mm256_fmadd_ps(qi, kv_ld8(kt, k0 + i * 16 + 8, kh, m1, 1), s1);
            s2 = _mm256_fmadd_ps(qi, kv_ld8(kt, k1 + i * 16, kh, m2, e1), s2);
            s3 = _mm256_fmadd_ps(qi, kv_ld8(kt, k1 + i * 16 + 8, kh, m3, e1), s3);
        }
        __m256 sv[4] = {_mm256_mul_ps(s0, vscale), _mm256_mul_ps(s1, vscale), _mm256_mul_ps(s2, vscale),
                        _mm256_mul_ps(s3, vscale)};
        __m256i mv[4] = {m0, m1, m2, m3};
        for (int j = 0; j < 4 && b + j / 2 < nb; j++) {
            /* a NaN score is skipped, as the scalar compare does */
            vmax = _mm256_blendv_ps(vmax, _mm256_max_ps(sv[j], vmax), _mm256_castsi256_ps(mv[j]));
            _mm256_storeu_ps(scores + b * 16 + j * 8, sv[j]);
        }
    }
    softmax_row8(scores, n, vmax);
    /* out = sum_t p_t v_t: one FMA chain over t per output, 64 outputs at a time */
    int64_t i0 = 0;
    for (; i0 + 64 <= hd; i0 += 64) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0, o6 = o0, o7 = o0;
        int64_t vt = i0;
        for (int64_t t = 0; t < n; t++, vt += hd) {
            const char *vp = (const char *)nn_kv_at(v, vt + 16 * hd, vh); /* the row 16 ahead */
            _mm_prefetch(vp, _MM_HINT_T0);
            _mm_prefetch(vp + 64, _MM_HINT_T0);
            if (!vh) {
                _mm_prefetch(vp + 128, _MM_HINT_T0);
                _mm_prefetch(vp + 192, _MM_HINT_T0);
            }
            __m256 p = _mm256_set1_ps(scores[t]);
            o0 = _mm256_fmadd_ps(p, kv_ldu8(v, vt, vh), o0);
            o1 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 8, vh), o1);
            o2 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 16, vh), o2);
            o3 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 24, vh), o3);
            o4 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 32, vh), o4);
            o5 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 40, vh), o5);
            o6 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 48, vh), o6);
            o7 = _mm256_fmadd_ps(p, kv_ldu8(v, vt + 56, vh), o7);
        }
        _mm256_storeu_ps(out + i0, o0);
        _mm256_storeu_ps(out + i0 + 8, o1);
        _mm256_storeu_ps(out + i0 + 16, o2);
        _mm256_storeu_ps(out + i0 + 24, o3);
        _mm256_storeu_ps(out + i0 + 32, o4);
        _mm256_storeu_ps(out + i0 + 40, o5);
        _mm256_storeu_ps(out + i0 + 48, o6);
        _mm256_storeu_ps(out + i0 + 56, o7);
    }
    for (; i0 < hd; i0 += 8) {
        const __m256i m = mask8(hd - i0);
        __m256 o0 = _mm256_setzero_ps();
        for (int64_t t = 0; t < n; t++)
            o0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[t]),
                                 hd - i0 >= 8 ? kv_ldu8(v, t * hd + i0, vh) : kv_ldn8(v, t * hd + i0, vh, hd - i0), o0);
        _mm256_maskstore_ps(out + i0, m, o0);
    }
}

void nn_attend_avx2(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n, int64_t hd,
                    float scale, float *scores) {
    switch (kv16 & 3) { /* one specialized body per cache type */
    case 0: attend_body(out, q, kt, v, 0, 0, n, hd, scale, scores); break;
    case NN_K16: attend_body(out, q, kt, v, 1, 0, n, hd, scale, scores); break;
    case NN_V16: attend_body(out, q, kt, v, 0, 1, n, hd, scale, scores); break;
    default: attend_body(out, q, kt, v, 1, 1, n, hd, scale, scores); break;
    }
}

/* Scores of G (2..4) queries q [G][hd] against the keys: one block of 16
 * keys x G queries at a time (2G independent chains), each key vector loaded
 * once for the G queries; the same FMA chain per score as attend_body.
 * Row g at scores + g * ld; vmax[g] its lane-wise maxima. */
AT_INLINE void group_scores8(const int G, const float *q, const void *kt, const int kh, int64_t n, int64_t hd,
                             float scale, float *scores, int64_t ld, __m256 *vmax) {
    const int64_t bs = hd * NN_KV_BLOCK, nb = (n + 15) / 16;
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int g = 0; g < G; g++) vmax[g] = _mm256_set1_ps(-INFINITY);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t k0 = b * bs;
        const __m256i m0 = mask8(n - b * 16), m1 = mask8(n - b * 16 - 8);
        __m256 s[4][2];
        for (int g = 0; g < G; g++) s[g][0] = s[g][1] = _mm256_setzero_ps();
        const char *pf = (const char *)nn_kv_at(kt, k0 + bs, kh); /* the next block, over the hd steps */
        for (int64_t i = 0; i < hd; i++) {
            _mm_prefetch(pf + i * 16 * (kh ? 2 : 4), _MM_HINT_T0);
            const __m256 ka = kv_ld8(kt, k0 + i * 16, kh, m0, 1), kb = kv_ld8(kt, k0 + i * 16 + 8, kh, m1, 1);
            for (int g = 0; g < G; g++) {
                const __m256 qi = _mm256_set1_ps(q[g * hd + i]);
                s[g][0] = _mm256_fmadd_ps(qi, ka, s[g][0]);
                s[g][1] = _mm256_fmadd_ps(qi, kb, s[g][1]);
            }
        }
        for (int g = 0; g < G; g++) {
            const __m256 a = _mm256_mul_ps(s[g][0], vscale), c = _mm256_mul_ps(s[g][1], vscale);
            /* a NaN score is skipped, as the scalar compare does */
            vmax[g] = _mm256_blendv_ps(vmax[g], _mm256_max_ps(a, vmax[g]), _mm256_castsi256_ps(m0));
            vmax[g] = _mm256_blendv_ps(vmax[g], _mm256_max_ps(c, vmax[g]), _mm256_castsi256_ps(m1));
            _mm256_storeu_ps(scores + g * ld + b * 16, a);
            _mm256_storeu_ps(scores + g * ld + b * 16 + 8, c);
        }
    }
}

/* out [G][hd] = sum_t p[g][t] v_t for G (2..4) probability rows at p + g * ld:
 * one FMA chain over t per output (as attend_body), 16 outputs x G queries at
 * a time, each value vector loaded once for the G queries. */
AT_INLINE void group_values8(const int G, float *out, const float *p, int64_t ld, const void *v, const int vh,
                             int64_t n, int64_t hd) {
    for (int64_t i0 = 0; i0 < hd; i0 += 16) {
        const int64_t left = hd - i0;
        __m256 o[4][2];
        for (int g = 0; g < G; g++) o[g][0] = o[g][1] = _mm256_setzero_ps();
        int64_t vt = i0;
        if (left >= 16) {
            for (int64_t t = 0; t < n; t++, vt += hd) {
                _mm_prefetch((const char *)nn_kv_at(v, vt + 16 * hd, vh), _MM_HINT_T0); /* the row 16 ahead */
                const __m256 va = kv_ldu8(v, vt, vh), vb = kv_ldu8(v, vt + 8, vh);
                for (int g = 0; g < G; g++) {
                    const __m256 pg = _mm256_set1_ps(p[g * ld + t]);
                    o[g][0] = _mm256_fmadd_ps(pg, va, o[g][0]);
                    o[g][1] = _mm256_fmadd_ps(pg, vb, o[g][1]);
                }
            }
            for (int g = 0; g < G; g++) {
                _mm256_storeu_ps(out + g * hd + i0, o[g][0]);
                _mm256_storeu_ps(out + g * hd + i0 + 8, o[g][1]);
            }
        } else { /* the last 1..15 outputs: only they are read and written */
            for (int64_t t = 0; t < n; t++, vt += hd) {
                const __m256 va = left >= 8 ? kv_ldu8(v, vt, vh) : kv_ldn8(v, vt, vh, left);
                const __m256 vb = left > 8 ? kv_ldn8(v, vt + 8, vh, left - 8) : _mm256_setzero_ps();
                for (int g = 0; g < G; g++) {
                    const __m256 pg = _mm256_set1_ps(p[g * ld + t]);
                    o[g][0] = _mm256_fmadd_ps(pg, va, o[g][0]);
                    o[g][1] = _mm256_fmadd_ps(pg, vb, o[g][1]);
                }
            }
            for (int g = 0; g < G; g++) {
                _mm256_maskstore_ps(out + g * hd + i0, mask8(left), o[g][0]);
                _mm256_maskstore_ps(out + g * hd + i0 + 8, mask8(left - 8), o[g][1]);
            }
        }
    }
}

AT_INLINE void attend_group8(const int G, float *out, const float *q, const void *kt, const void *v, const int kh,
                             const int vh, int64_t n, int64_t hd, float scale, float *scores) {
    const int64_t ld = (n + 15) / 16 * 16;
    __m256 vmax[4];
    group_scores8(G, q, kt, kh, n, hd, scale, scores, ld, vmax);
    for (int g = 0; g < G; g++) softmax_row8(scores + g * ld, n, vmax[g]);
    group_values8(G, out, scores, ld, v, vh, n, hd);
}

/* Up to 4 heads at a time (one key and value load for all of them; a long
 * context's cache is read once per group instead of once per head); a single
 * head left over runs attend_body. */
AT_INLINE void attend_group_t8(float *out, const float *q, int64_t G, const void *kt, const void *v, const int kh,
                               const int vh, int64_t n, int64_t hd, float scale, float *scores) {
    for (int64_t g = 0; g < G; g += 4) {
        switch (G - g < 4 ? (int)(G - g) : 4) { /* one specialized body per group size */
        case 1: attend_body(out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        case 2: attend_group8(2, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        case 3: attend_group8(3, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        default: attend_group8(4, out + g * hd, q + g * hd, kt, v, kh, vh, n, hd, scale, scores); break;
        }
    }
}
static void attend_group8_ff(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n,
                             int64_t hd, float sc, float *s) { attend_group_t8(o, q, G, k, v, 0, 0, n, hd, sc, s); }
static void attend_group8_hf(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n,
                             int64_t hd, float sc, float *s) { attend_group_t8(o, q, G, k, v, 1, 0, n, hd, sc, s); }
static void attend_group8_fh(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n,
                             int64_t hd, float sc, float *s) { attend_group_t8(o, q, G, k, v, 0, 1, n, hd, sc, s); }
static void attend_group8_hh(float *o, const float *q, int64_t G, const void *k, const void *v, int64_t n,
                             int64_t hd, float sc, float *s) { attend_group_t8(o, q, G, k, v, 1, 1, n, hd, sc, s); }

void nn_attend_group_avx2(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16, int64_t n,
                          int64_t hd, float scale, float *scores) {
    static void (*const by_type[4])(float *, const float *, int64_t, const void *, const void *, int64_t, int64_t,
                                    float, float *) = {attend_group8_ff, attend_group8_hf, attend_group8_fh,
                                                       attend_group8_hh};
    by_type[kv16 & 3](out, q, G, kt, v, n, hd, scale, scores);
}

#else
typedef int trit_ops_avx2_unused;
#endif
