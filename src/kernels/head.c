/*
 * head.c - block-quantized lm_head (see head.h): the q8/q6/q4 formats, the
 * weight and activation quantizers, the scalar reference kernel that
 * defines every level's result, and the run-time choice of kernel.
 */
#include <math.h>
#include <string.h>
#include "kernels/head.h"

/* ==== formats ==== */

const char *trit_hq_name(trit_hq_fmt fmt) { return fmt == TRIT_HQ_Q8 ? "q8" : fmt == TRIT_HQ_Q6 ? "q6" : "q4"; }

size_t trit_hq_bytes(trit_hq_fmt fmt, int64_t N, int64_t K) {
    return (size_t)((N + TRIT_HQ_ROWS - 1) / TRIT_HQ_ROWS) * (size_t)(K / TRIT_HQ_BLOCK) * trit_hq_tile_bytes(fmt);
}

/* Round half to even for |v| < 2^22 (exact; vectorizes, unlike rintf). */
static inline float rne(float v) { return (v + 12582912.0f) - 12582912.0f; }

static inline float bf16_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* f32 -> bf16 with the magnitude rounded up (never below |f|), so a scale
 * rounded to bf16 still maps the block's extreme value inside the range. */
static inline uint16_t bf16_up(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (u & 0xffffu) u += 0x10000u;
    return (uint16_t)(u >> 16);
}

/* ==== weight quantization ==== */

/* Quantizes 32 weights w into codes u (see head.h); returns the bf16 scale.
 * Sets *bad when a weight is NaN or infinite (the codes are then
 * meaningless but defined). */
static uint16_t quant_block(trit_hq_fmt fmt, const float *w, uint8_t *u, int *bad) {
    const int off = trit_hq_offset(fmt);
    float hi = 0, lo = 0;
    int nf = 0;
    for (int i = 0; i < TRIT_HQ_BLOCK; i++) {
        hi = w[i] > hi ? w[i] : hi;
        lo = w[i] < lo ? w[i] : lo;
        nf |= !(fabsf(w[i]) < INFINITY);
    }
    *bad |= nf;
    float d, qlo, qhi;
    if (fmt == TRIT_HQ_Q8) {
        d = (hi > -lo ? hi : -lo) / 127.0f;
        qlo = -127.0f, qhi = 127.0f;
    } else { /* the value of largest magnitude maps to the lowest code */
        float mx = hi >= -lo ? hi : lo, n = fmt == TRIT_HQ_Q6 ? 32.0f : 8.0f;
        d = mx / -n;
        qlo = -n, qhi = n - 1;
    }
    uint16_t d16 = bf16_up(d);
    float inv = 1.0f / bf16_f32(d16);
    if (d == 0 || !(fabsf(inv) < INFINITY)) { /* all zero, or too small for a finite inverse */
        memset(u, off, TRIT_HQ_BLOCK);
        return 0;
    }
    for (int i = 0; i < TRIT_HQ_BLOCK; i++) {
        float v = rne(w[i] * inv);
        v = v > qlo ? v : qlo; /* also maps NaN to qlo */
        v = v < qhi ? v : qhi;
        u[i] = (uint8_t)((int)v + off);
    }
    return d16;
}

/* Packs the codes u[16][32] of a tile's rows (as 8 little-endian words of 4
 * codes per row) into tile t, after its 16 scales. Word p of row r holds
 * columns 4p..4p+3, which is exactly the 4-byte group the layout puts at
 * byte 4*r of step p, so packing is a word transpose (plus nibble merges). */
static void pack_tile(trit_hq_fmt fmt, void *t, const uint16_t *d, const uint32_t u[TRIT_HQ_ROWS][8]) {
    memcpy(t, d, TRIT_HQ_ROWS * 2); /* d[16] leads every tile struct */
    uint32_t *q = (uint32_t *)((uint8_t *)t + TRIT_HQ_ROWS * 2); /* [steps][16] words */
    if (fmt == TRIT_HQ_Q8) {
        for (int s = 0; s < 8; s++)
            for (int r = 0; r < TRIT_HQ_ROWS; r++) q[s * 16 + r] = u[r][s];
    } else if (fmt == TRIT_HQ_Q4) { /* codes <= 15: a word shifted by 4 moves each code to its byte's high nibble */
        for (int p = 0; p < 4; p++)
            for (int r = 0; r < TRIT_HQ_ROWS; r++) q[p * 16 + r] = u[r][p] | u[r][p + 4] << 4;
    } else {
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        for (int p = 0; p < 4; p++)
            for (int r = 0; r < TRIT_HQ_ROWS; r++) q[p * 16 + r] = (u[r][p] & m4) | (u[r][p + 4] & m4) << 4;
        for (int h = 0; h < 2; h++)
            for (int r = 0; r < TRIT_HQ_ROWS; r++) {
                uint32_t v = 0;
                for (int s = 0; s < 4; s++) v |= (u[r][4 * h + s] >> 4 & m2) << (2 * s);
                q[64 + h * 16 + r] = v;
            }
    }
}

/* Reads the 32 codes of row r of tile t into u; returns the row's scale. */
static float get_codes(trit_hq_fmt fmt, const void *t, int r, uint8_t *u) {
    if (fmt == TRIT_HQ_Q8) {
        const trit_hq8_tile *q = t;
        for (int s = 0; s < 8; s++) memcpy(u + 4 * s, &q->qs[s][4 * r], 4);
        return bf16_f32(q->d[r]);
    } else if (fmt == TRIT_HQ_Q4) {
        const trit_hq4_tile *q = t;
        for (int p = 0; p < 4; p++)
            for (int j = 0; j < 4; j++) {
                u[4 * p + j] = q->qs[p][4 * r + j] & 15;
                u[16 + 4 * p + j] = q->qs[p][4 * r + j] >> 4;
            }
        return bf16_f32(q->d[r]);
    } else {
        const trit_hq6_tile *q = t;
        for (int p = 0; p < 4; p++)
            for (int j = 0; j < 4; j++) {
                u[4 * p + j] = q->ql[p][4 * r + j] & 15;
                u[16 + 4 * p + j] = q->ql[p][4 * r + j] >> 4;
            }
        for (int s = 0; s < 8; s++)
            for (int j = 0; j < 4; j++)
                u[4 * s + j] |= (uint8_t)(((q->qh[s / 4][4 * r + j] >> (2 * (s % 4))) & 3) << 4);
        return bf16_f32(q->d[r]);
    }
}

/* Converts n values of a float dtype starting at element i0 of src to f32. */
static void to_f32(const trit_dmat *w, size_t i0, int64_t n, float *out) {
    if (w->dtype == ST_F32) {
        memcpy(out, (const float *)w->data + i0, (size_t)n * 4);
    } else if (w->dtype == ST_BF16) {
        const uint16_t *p = (const uint16_t *)w->data + i0;
        for (int64_t k = 0; k < n; k++) {
            uint32_t u = (uint32_t)p[k] << 16;
            memcpy(&out[k], &u, 4);
        }
    } else {
        const uint16_t *p = (const uint16_t *)w->data + i0;
        for (int64_t k = 0; k < n; k++) out[k] = trit_fp16_to_f32(p[k]);
    }
}

/* See head.h. A tile's 16 rows x 32 columns are read (as f32), quantized
 * and packed together. */
int64_t trit_hq_quantize_rows(trit_hq_fmt fmt, const trit_dmat *w, int64_t r0, int64_t r1, void *tiles) {
    int64_t first_bad = -1;
    const int64_t K = w->K, B = K / TRIT_HQ_BLOCK;
    const size_t tb = trit_hq_tile_bytes(fmt);
    const int off = trit_hq_offset(fmt);
    float buf[TRIT_HQ_BLOCK];
    uint32_t u[TRIT_HQ_ROWS][8];
    uint16_t d[TRIT_HQ_ROWS];
    for (int64_t g = r0 / TRIT_HQ_ROWS; g * TRIT_HQ_ROWS < r1; g++) {
        int64_t n0 = g * TRIT_HQ_ROWS, nr = r1 - n0 < TRIT_HQ_ROWS ? r1 - n0 : TRIT_HQ_ROWS;
        if (w->N - n0 < nr) nr = w->N - n0;
        for (int64_t b = 0; b < B; b++) {
            for (int r = 0; r < TRIT_HQ_ROWS; r++) {
                if (r >= nr) { /* padding row: weight 0 */
                    memset(u[r], off, sizeof u[r]);
                    d[r] = 0;
                    continue;
                }
                to_f32(w, (size_t)(n0 + r) * (size_t)K + (size_t)b * TRIT_HQ_BLOCK, TRIT_HQ_BLOCK, buf);
                int bad = 0;
                d[r] = quant_block(fmt, buf, (uint8_t *)u[r], &bad);
                for (int i = 0; bad && i < TRIT_HQ_BLOCK; i++) {
                    int64_t at = (n0 + r) * K + b * TRIT_HQ_BLOCK + i;
                    if (!(fabsf(buf[i]) < INFINITY) && (first_bad < 0 || at < first_bad)) first_bad = at;
                }
            }
            pack_tile(fmt, (uint8_t *)tiles + (size_t)(g * B + b) * tb, d, u);
        }
    }
    return first_bad;
}

/* See head.h. */
void trit_hq_dequant_row(const trit_hmat *w, int64_t n, float *out) {
    const int64_t B = w->K / TRIT_HQ_BLOCK;
    const size_t tb = trit_hq_tile_bytes(w->fmt);
    const int off = trit_hq_offset(w->fmt);
    uint8_t u[TRIT_HQ_BLOCK];
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *t = (const uint8_t *)w->tiles + (size_t)((n / TRIT_HQ_ROWS) * B + b) * tb;
        float d = get_codes(w->fmt, t, (int)(n % TRIT_HQ_ROWS), u);
        for (int i = 0; i < TRIT_HQ_BLOCK; i++) out[b * TRIT_HQ_BLOCK + i] = d * (float)(u[i] - off);
    }
}

/* ==== activations ==== */

/* See head.h. */
void trit_hq_quantize_act(const float *x, int64_t K, trit_hq_act *out) {
    for (int64_t b = 0; b < K / TRIT_HQ_BLOCK; b++) {
        const float *xb = x + b * TRIT_HQ_BLOCK;
        float amax = 0;
        for (int i = 0; i < TRIT_HQ_BLOCK; i++) {
            float a = fabsf(xb[i]);
            amax = a > amax ? a : amax;
        }
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        if (!(inv < INFINITY)) inv = 0; /* amax subnormal: the block is treated as zero */
        int32_t sum = 0;
        for (int i = 0; i < TRIT_HQ_BLOCK; i++) {
            float v = rne(xb[i] * inv);
            v = v > -127.0f ? v : -127.0f;
            v = v < 127.0f ? v : 127.0f;
            out[b].qs[i] = (int8_t)(int)v;
            sum += (int)v;
        }
        out[b].d = inv > 0 ? amax / 127.0f : 0.0f;
        out[b].sum = sum;
    }
}

/* ==== reference kernel ==== */

/* Reference head matmul (head.h defines the result). Each row's codes are
 * unpacked once per block; y holds the running sums (a float stored and
 * reloaded is unchanged, so this is the same sequence of fmaf). */
void trit_hmatmul_scalar(const trit_hmat *w, const trit_hq_act *xa, int64_t M, float *y, int64_t ldy,
                         int64_t n0, int64_t n1) {
    const int64_t B = w->K / TRIT_HQ_BLOCK;
    const size_t tb = trit_hq_tile_bytes(w->fmt);
    const int32_t off = trit_hq_offset(w->fmt);
    uint8_t u[TRIT_HQ_BLOCK];
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t m = 0; m < M; m++) y[m * ldy + n] = 0.0f;
        for (int64_t b = 0; b < B; b++) {
            const uint8_t *t = (const uint8_t *)w->tiles + (size_t)((n / TRIT_HQ_ROWS) * B + b) * tb;
            float dw = get_codes(w->fmt, t, (int)(n % TRIT_HQ_ROWS), u);
            for (int64_t m = 0; m < M; m++) {
                const trit_hq_act *a = xa + m * B + b;
                int32_t s = -off * a->sum;
                for (int i = 0; i < TRIT_HQ_BLOCK; i++) s += (int32_t)u[i] * a->qs[i];
                y[m * ldy + n] = fmaf((float)s, dw * a->d, y[m * ldy + n]);
            }
        }
    }
}

/* ==== dispatch ==== */

static const trit_head_kernels hk_scalar = {"scalar", trit_hmatmul_scalar};
#if defined(__x86_64__)
static const trit_head_kernels hk_avx2 = {"avx2", trit_hmatmul_avx2};
static const trit_head_kernels hk_avxvnni = {"avx2-vnni", trit_hmatmul_avxvnni};
static const trit_head_kernels hk_avx512 = {"avx512", trit_hmatmul_avx512};
#endif

/* See head.h. */
const trit_head_kernels *trit_head_kernels_for(trit_isa isa) {
#if defined(__x86_64__)
    if (isa == TRIT_ISA_AVX512) return &hk_avx512;
    if (isa == TRIT_ISA_AVX2) return trit_cpu_has_avxvnni() ? &hk_avxvnni : &hk_avx2;
#endif
    (void)isa;
    return &hk_scalar;
}

const trit_head_kernels *trit_head_kernels_get(void) { return trit_head_kernels_for(trit_cpu_isa()); }
