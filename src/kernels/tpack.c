/*
 * tpack.c - repacked ternary layouts (see tpack.h): geometry, packing from
 * the Hugging Face layout, element access, the scalar reference kernel and
 * the per-level kernel tables.
 */
#include <stdlib.h>
#include <string.h>
#include "kernels/tpack.h"

/* See tpack.h. */
size_t trit_tpk_geometry(trit_tpk *t, int fmt, int64_t N, int64_t K) {
    memset(t, 0, sizeof *t);
    if (N < 1 || K < 1) return 0;
    t->fmt = fmt;
    t->N = N;
    t->K = K;
    switch (fmt) {
    case TRIT_TPK_I2:
        t->Kp = (K + 63) / 64 * 64;
        t->rows = 16;
        t->band_bytes = 4 * t->Kp;
        break;
    case TRIT_TPK_T1:
        t->Kp = (K + 319) / 320 * 320;
        t->rows = 8;
        t->band_bytes = 8 * t->Kp / 5;
        break;
    case TRIT_TPK_TL:
        t->Kp = (K + 8) / 9 * 9;
        t->rows = 32;
        t->band_bytes = 64 * t->Kp / 9;
        break;
    default: return 0;
    }
    return (size_t)(trit_tpk_bands(t) * t->band_bytes);
}

/* ==== packing ==== */

/* Source of one output row in the HF layout: its packed row and bit shift;
 * p = NULL for padding rows (r >= N). */
typedef struct {
    const uint8_t *p;
    int sh;
} hf_row;

static hf_row hf_src(const trit_tmat *s, int64_t r) {
    hf_row h = {NULL, 0};
    if (r < s->N) {
        h.p = s->codes + (r % s->Q) * s->K;
        h.sh = 2 * (int)(r / s->Q);
    }
    return h;
}

/* Code of row h at column k (1 = weight 0 for padding). */
static inline unsigned hf_code(hf_row h, int64_t k, int64_t K) {
    return h.p && k < K ? (unsigned)(h.p[k] >> h.sh) & 3u : 1u;
}

/* I2 band b: quad by quad, column by column (the inner loops vectorize). */
static void pack_i2_band(const trit_tmat *s, const trit_tpk *t, uint8_t *band, int64_t b) {
    const int64_t K = t->K, nch = t->Kp / 64;
    for (int j = 0; j < 4; j++) {
        hf_row h[4];
        for (int f = 0; f < 4; f++) h[f] = hf_src(s, 16 * b + 4 * j + f);
        for (int64_t kc = 0; kc < nch; kc++) {
            uint8_t *o = band + kc * 256 + 64 * j;
            const int64_t k0 = kc * 64;
            if (k0 + 64 <= K && h[0].p && h[1].p && h[2].p && h[3].p) {
                const uint8_t *p0 = h[0].p + k0, *p1 = h[1].p + k0, *p2 = h[2].p + k0, *p3 = h[3].p + k0;
                const int s0 = h[0].sh, s1 = h[1].sh, s2 = h[2].sh, s3 = h[3].sh;
                for (int c = 0; c < 64; c++)
                    o[c] = (uint8_t)(((p0[c] >> s0) & 3) | ((p1[c] >> s1) & 3) << 2 | ((p2[c] >> s2) & 3) << 4 |
                                     ((p3[c] >> s3) & 3) << 6);
            } else {
                for (int c = 0; c < 64; c++) {
                    unsigned v = 0;
                    for (int f = 0; f < 4; f++) v |= hf_code(h[f], k0 + c, K) << (2 * f);
                    o[c] = (uint8_t)v;
                }
            }
        }
    }
}

/* T1 band b: row by row, 64 bytes (320 columns) at a time. */
static void pack_t1_band(const trit_tmat *s, const trit_tpk *t, uint8_t *band, int64_t b) {
    const int64_t K = t->K, nbl = t->Kp / 320;
    for (int f = 0; f < 8; f++) {
        hf_row h = hf_src(s, 8 * b + f);
        for (int64_t kb = 0; kb < nbl; kb++) {
            uint8_t *o = band + kb * 512 + 64 * f;
            const int64_t k0 = kb * 320;
            if (h.p && k0 + 320 <= K) {
                const uint8_t *p = h.p + k0;
                const int sh = h.sh;
                uint16_t v[64];
                for (int c = 0; c < 64; c++) v[c] = (uint16_t)((p[c] >> sh) & 3);
                for (int i = 1; i < 5; i++)
                    for (int c = 0; c < 64; c++) v[c] = (uint16_t)(v[c] * 3 + ((p[64 * i + c] >> sh) & 3));
                for (int c = 0; c < 64; c++) o[c] = (uint8_t)((uint16_t)(v[c] * 256 + 242) / 243);
            } else {
                for (int c = 0; c < 64; c++) {
                    unsigned v = 0;
                    for (int i = 0; i < 5; i++) v = v * 3 + hf_code(h, k0 + 64 * i + c, K);
                    o[c] = (uint8_t)((v * 256u + 242u) / 243u);
                }
            }
        }
    }
}

/* TL band b: lane by lane (one row each), group by group. */
static void pack_tl_band(const trit_tmat *s, const trit_tpk *t, uint8_t *band, int64_t b) {
    const int64_t K = t->K, ng = t->Kp / 9;
    for (int f = 0; f < 32; f++) {
        hf_row h = hf_src(s, 32 * b + f);
        for (int64_t g = 0; g < ng; g++) {
            unsigned lane = 0;
            for (int sub = 0; sub < 3; sub++) {
                const int64_t k = 9 * g + 3 * sub;
                unsigned idx = hf_code(h, k, K) + 3 * hf_code(h, k + 1, K) + 9 * hf_code(h, k + 2, K);
                lane |= idx << (5 * sub);
            }
            uint16_t v = (uint16_t)lane;
            memcpy(band + g * 64 + 2 * f, &v, 2);
        }
    }
}

/* See tpack.h. */
void trit_tpk_pack_hf(const trit_tmat *src, const trit_tpk *dst, uint8_t *dst_buf, int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
        uint8_t *band = dst_buf + b * dst->band_bytes;
        switch (dst->fmt) {
        case TRIT_TPK_I2: pack_i2_band(src, dst, band, b); break;
        case TRIT_TPK_T1: pack_t1_band(src, dst, band, b); break;
        case TRIT_TPK_TL: pack_tl_band(src, dst, band, b); break;
        default: break;
        }
    }
}

/* ==== element access ==== */

/* The T1 digit i (0..4) of byte q. */
static inline int t1_digit(unsigned q, int i) {
    for (int j = 0; j < i; j++) q = (q * 3) & 255;
    return (int)((q * 3) >> 8);
}

/* See tpack.h. */
int trit_tpk_code(const trit_tpk *t, int64_t r, int64_t k) {
    const uint8_t *band = t->data + (r / t->rows) * t->band_bytes;
    const int64_t f = r % t->rows;
    switch (t->fmt) {
    case TRIT_TPK_I2: return (band[(k / 64) * 256 + 64 * (f / 4) + k % 64] >> (2 * (f % 4))) & 3;
    case TRIT_TPK_T1: {
        const int64_t kb = k / 320, i = (k % 320) / 64, c = k % 64;
        return t1_digit(band[kb * 512 + 64 * f + c], (int)i);
    }
    case TRIT_TPK_TL: {
        const int64_t g = k / 9, sub = (k % 9) / 3, e = k % 3;
        uint16_t v;
        memcpy(&v, band + g * 64 + 2 * f, 2);
        int idx = (v >> (5 * sub)) & 31;
        return e == 0 ? idx % 3 : e == 1 ? (idx / 3) % 3 : idx / 9;
    }
    default: return 1;
    }
}

/* ==== scalar reference ==== */

/* Codes of row r, columns [0, K), into out. */
static void row_codes(const trit_tpk *t, int64_t r, uint8_t *out) {
    const uint8_t *band = t->data + (r / t->rows) * t->band_bytes;
    const int64_t f = r % t->rows, K = t->K;
    if (t->fmt == TRIT_TPK_I2) {
        const uint8_t *p = band + 64 * (f / 4);
        const int sh = 2 * (int)(f % 4);
        for (int64_t k = 0; k < K; k++) out[k] = (uint8_t)((p[(k / 64) * 256 + k % 64] >> sh) & 3);
    } else if (t->fmt == TRIT_TPK_T1) {
        for (int64_t kb = 0; kb * 320 < K; kb++) {
            const uint8_t *p = band + kb * 512 + 64 * f;
            for (int c = 0; c < 64; c++) {
                unsigned q = p[c];
                for (int i = 0; i < 5; i++) {
                    const int64_t k = kb * 320 + 64 * i + c;
                    if (k < K) out[k] = (uint8_t)((q * 3) >> 8);
                    q = (q * 3) & 255;
                }
            }
        }
    } else {
        for (int64_t k = 0; k < K; k++) out[k] = (uint8_t)trit_tpk_code(t, r, k);
    }
}

/* Reference kernel for every format: see trit_tpk_fn. Each row is decoded to
 * codes once per call, then dotted exactly in int32 with every token. */
void trit_tpk_mm_scalar(const trit_tpk *w, float wdiv, const int8_t *xq, const float *xs, const int32_t *xsum,
                        int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t K = w->K;
    uint8_t stackbuf[4096];
    uint8_t *codes = K <= (int64_t)sizeof stackbuf ? stackbuf : malloc((size_t)K);
    for (int64_t r = r0; r < r1 && r < w->N; r++) {
        if (codes) row_codes(w, r, codes);
        for (int64_t m = 0; m < M; m++) {
            const int8_t *x = xq + m * K;
            int32_t s = 0;
            if (codes)
                for (int64_t k = 0; k < K; k++) s += x[k] * codes[k];
            else /* no memory for a row buffer: element by element */
                for (int64_t k = 0; k < K; k++) s += x[k] * trit_tpk_code(w, r, k);
            y[m * ldy + r] = (float)(s - xsum[m]) / (xs[m] * wdiv);
        }
    }
    if (codes != stackbuf) free(codes);
}

/* ==== tables ==== */

static const trit_tpk_kernels k_scalar = {"scalar", {NULL, trit_tpk_mm_scalar, trit_tpk_mm_scalar, trit_tpk_mm_scalar}};
#if defined(__x86_64__)
static const trit_tpk_kernels k_avx2 = {"avx2", {NULL, trit_tpk_i2_avx2, trit_tpk_t1_avx2, trit_tpk_mm_scalar}};
static const trit_tpk_kernels k_avx512 = {"avx512", {NULL, trit_tpk_i2_avx512, trit_tpk_t1_avx512, trit_tpk_tl_avx512}};
#endif

/* See tpack.h. */
const trit_tpk_kernels *trit_tpk_kernels_for(trit_isa isa) {
#if defined(__x86_64__)
    if (isa == TRIT_ISA_AVX512) return &k_avx512;
    if (isa == TRIT_ISA_AVX2) return &k_avx2;
#endif
    (void)isa;
    return &k_scalar;
}

const trit_tpk_kernels *trit_tpk_kernels_get(void) { return trit_tpk_kernels_for(trit_cpu_isa()); }
