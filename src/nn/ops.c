/*
 * ops.c - row-wise float32 ops (see ops.h).
 */
#include <math.h>
#include <string.h>
#include "nn/ops.h"

/* ==== normalization ==== */

void nn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float var = (float)(ss / (double)n);
    float r = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * r;
        out[i] = w ? w[i] * v : v;
    }
}

/* ==== rotary embedding ==== */

void nn_rope(float *x, int64_t head_dim, const float *inv_freq, int64_t pos) {
    int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        float ang = (float)pos * inv_freq[i]; /* float32 product, as torch */
        float c = (float)cos((double)ang), s = (float)sin((double)ang);
        float a = x[i], b = x[i + half];
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

/* ==== softmax / activations ==== */

void nn_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void nn_glu(float *gate, const float *up, int64_t n, int act) {
    if (act == NN_ACT_RELU2) {
        for (int64_t i = 0; i < n; i++) {
            float g = gate[i] > 0 ? gate[i] : 0.0f;
            gate[i] = g * g * up[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1.0f + expf(-g)) * up[i];
        }
    }
}

/* ==== attention ==== */

void nn_attend(float *out, const float *q, const float *k, const float *v, int64_t n_kv,
               int64_t kv_stride, int64_t head_dim, float scale, float *scores) {
    for (int64_t t = 0; t < n_kv; t++) {
        const float *kt = k + t * kv_stride;
        float s = 0;
        for (int64_t i = 0; i < head_dim; i++) s += q[i] * kt[i];
        scores[t] = s * scale;
    }
    nn_softmax(scores, n_kv);
    memset(out, 0, (size_t)head_dim * sizeof(float));
    for (int64_t t = 0; t < n_kv; t++) {
        const float *vt = v + t * kv_stride;
        float p = scores[t];
        for (int64_t i = 0; i < head_dim; i++) out[i] += p * vt[i];
    }
}
