/*
 * ternary.c - activation and weight quantization rules (see ternary.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "quant/ternary.h"

/* See ternary.h. rintf rounds half to even in the default FP mode, as
 * torch.round does. */
float trit_act_quant(const float *x, int64_t n, int8_t *q, int32_t *sum) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    if (!(amax >= 1e-5f)) amax = 1e-5f; /* also maps NaN to the clamp */
    float scale = 127.0f / amax;
    int32_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = rintf(x[i] * scale);
        v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
        q[i] = (int8_t)v;
        s += q[i];
    }
    *sum = s;
    return scale;
}

/* See ternary.h. The mean is accumulated in double, then rounded to float
 * like torch's float32 mean. */
float trit_ternarize_pack(const trit_dmat *w, uint8_t *dst) {
    const int64_t N = w->N, K = w->K, Q = (N + 3) / 4;
    float *row = malloc((size_t)K * sizeof(float));
    if (!row) return NAN;
    double acc = 0;
    for (int64_t r = 0; r < N; r++) {
        trit_dmat_row(w, r, row);
        double rs = 0;
        for (int64_t k = 0; k < K; k++) rs += fabs((double)row[k]);
        acc += rs;
    }
    float mean = (float)(acc / (double)(N * K));
    if (!(mean >= 1e-5f)) mean = 1e-5f;
    float s = 1.0f / mean;
    memset(dst, 0x55, (size_t)(Q * K)); /* code 1 (= weight 0) everywhere */
    for (int64_t r = 0; r < N; r++) {
        trit_dmat_row(w, r, row);
        uint8_t *prow = dst + (r % Q) * K;
        int shift = 2 * (int)(r / Q);
        for (int64_t k = 0; k < K; k++) {
            float v = rintf(row[k] * s);
            v = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
            uint8_t code = (uint8_t)((int)v + 1);
            prow[k] = (uint8_t)((prow[k] & ~(3u << shift)) | (unsigned)(code << shift));
        }
    }
    free(row);
    return s;
}

/* Word-at-a-time OR-reduction first (fast, vectorizable); bytes are only
 * counted when some field holds code 3. */
int64_t trit_count_bad_codes(const uint8_t *codes, int64_t n) {
    uint64_t any = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, codes + i, 8);
        any |= w & (w >> 1) & 0x5555555555555555ull;
    }
    for (int64_t j = i; j < n; j++) any |= (uint64_t)(codes[j] & (codes[j] >> 1) & 0x55);
    if (!any) return 0;
    int64_t bad = 0;
    for (int64_t j = 0; j < n; j++) bad += ((codes[j] & (codes[j] >> 1)) & 0x55) != 0;
    return bad;
}

void trit_tmat_row(const trit_tmat *w, int64_t r, int8_t *out) {
    const uint8_t *prow = w->codes + (r % w->Q) * w->K;
    int shift = 2 * (int)(r / w->Q);
    for (int64_t k = 0; k < w->K; k++) out[k] = (int8_t)(((prow[k] >> shift) & 3) - 1);
}
