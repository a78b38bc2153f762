/*
 * ops.c - row-wise float32 ops (see ops.h): the scalar references and the
 * dispatch table.
 */
#include <math.h>
#include <string.h>
#include "nn/ops.h"
#include "quant/ternary.h"

/* ==== normalization ==== */

void nn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double lane[NN_SS_LANES] = {0};
    for (int64_t i = 0; i < n; i++) lane[i % NN_SS_LANES] += (double)x[i] * x[i];
    for (int wd = NN_SS_LANES / 2; wd >= 1; wd /= 2)
        for (int j = 0; j < wd; j++) lane[j] += lane[j + wd];
    float var = (float)(lane[0] / (double)n);
    float r = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * r;
        out[i] = w ? w[i] * v : v;
    }
}

/* ==== rotary embedding ==== */

void nn_rope_table(float *cs, int64_t head_dim, const float *inv_freq, int64_t pos) {
    int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        float ang = (float)pos * inv_freq[i]; /* float32 product, as torch */
        cs[i] = (float)cos((double)ang);
        cs[half + i] = (float)sin((double)ang);
    }
}

void nn_rope_apply(float *x, int64_t head_dim, const float *cs) {
    int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        float c = cs[i], s = cs[half + i];
        float a = x[i], b = x[i + half];
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}

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
        nn_relu2_glu(gate, gate, up, n);
    } else {
        for (int64_t i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1.0f + expf(-g)) * up[i];
        }
    }
}

void nn_relu2_glu(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i] > 0 ? gate[i] : 0.0f;
        out[i] = g * g * up[i];
    }
}

/* ==== attention ==== */

/* Element i of a key or value cache of float (h == 0) or f16 (h != 0). */
static inline float kv_at(const void *p, int64_t i, int h) {
    return h ? nn_h2f(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

void nn_attend(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n, int64_t head_dim,
               float scale, float *scores) {
    const int kh = kv16 & NN_K16, vh = kv16 & NN_V16;
    float mx = -INFINITY;
    for (int64_t t = 0; t < n; t++) {
        float s = 0;
        for (int64_t i = 0; i < head_dim; i++) s = fmaf(q[i], kv_at(kt, nn_kt_index(t, i, head_dim), kh), s);
        scores[t] = s * scale;
        mx = scores[t] > mx ? scores[t] : mx;
    }
    float lane[16] = {0};
    for (int64_t t = 0; t < n; t++) {
        scores[t] = nn_expf(scores[t] - mx);
        lane[t % 16] += scores[t];
    }
    for (int wd = 8; wd >= 1; wd /= 2)
        for (int j = 0; j < wd; j++) lane[j] += lane[j + wd];
    float inv = 1.0f / lane[0];
    for (int64_t i = 0; i < head_dim; i++) out[i] = 0.0f;
    for (int64_t t = 0; t < n; t++) {
        float p = scores[t] * inv;
        for (int64_t i = 0; i < head_dim; i++) out[i] = fmaf(p, kv_at(v, t * head_dim + i, vh), out[i]);
    }
}

void nn_attend_group(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16, int64_t n,
                     int64_t head_dim, float scale, float *scores) {
    for (int64_t g = 0; g < G; g++)
        nn_attend(out + g * head_dim, q + g * head_dim, kt, v, kv16, n, head_dim, scale, scores);
}

/* ==== dispatch ==== */

static const nn_kernels k_scalar = {"scalar", trit_act_quant, nn_rmsnorm, nn_relu2_glu, nn_attend,
                                    nn_attend_group};
#if defined(__x86_64__)
static const nn_kernels k_avx2 = {"avx2", nn_act_quant_avx2, nn_rmsnorm_avx2, nn_relu2_glu_avx2, nn_attend_avx2,
                                  nn_attend_group_avx2};
static const nn_kernels k_avx512 = {"avx512", nn_act_quant_avx512, nn_rmsnorm_avx512, nn_relu2_glu_avx512,
                                    nn_attend_avx512, nn_attend_group_avx512};
#endif

const nn_kernels *nn_kernels_for(trit_isa isa) {
#if defined(__x86_64__)
    if (isa == TRIT_ISA_AVX512) return &k_avx512;
    if (isa == TRIT_ISA_AVX2) return &k_avx2;
#endif
    (void)isa;
    return &k_scalar;
}

const nn_kernels *nn_kernels_get(void) { return nn_kernels_for(trit_cpu_isa()); }
