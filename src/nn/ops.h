/*
 * ops.h - row-wise neural network ops in float32. Each works on one row (one
 * token) so callers can spread rows over threads.
 *
 * The ops the forward pass runs per token have SIMD versions (ops_avx2.c,
 * ops_avx512.c) behind the nn_kernels table. Each one computes exactly the
 * same operations in the same order as its scalar reference here, so every
 * level gives the same bits (tests/test_ops.c checks this): the reductions
 * have a fixed lane structure (documented per op) that the scalar code
 * follows too.
 */
#ifndef TRIT_OPS_H
#define TRIT_OPS_H
#include <stdint.h>
#include <string.h>
#include "core/core.h"

/* out[n] = w[n] * (x[n] * r), r = 1 / sqrtf(float(sum x^2 / n) + eps)
 * (w may be NULL: no gain). As transformers: normalize in float32, then
 * multiply by the weight. The sum of squares is taken in double (exact
 * products) over NN_SS_LANES interleaved lanes (lane j sums the i = j mod 32
 * in order), then the lanes are added pairwise: lane j += lane j + w for
 * w = 16, 8, 4, 2, 1. out may equal x. */
#define NN_SS_LANES 32
void nn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* RoPE rotate-half ("NeoX") style on one head vector of head_dim values:
 * for i < head_dim/2: (a, b) = (x[i], x[i + head_dim/2]) rotated by
 * angle = pos * inv_freq[i], with the angle computed in float32 as torch does. */
void nn_rope(float *x, int64_t head_dim, const float *inv_freq, int64_t pos);
/* The same in two steps: cs [head_dim] = cos of the angles, then their sines
 * (one table per position, shared by every head and layer) ... */
void nn_rope_table(float *cs, int64_t head_dim, const float *inv_freq, int64_t pos);
/* ... and the rotation of x [head_dim] by such a table. */
void nn_rope_apply(float *x, int64_t head_dim, const float *cs);

/* In-place numerically stable softmax over n values. */
void nn_softmax(float *x, int64_t n);

/* gate[i] = act(gate[i]) * up[i]; act is relu(x)^2 (kind 0) or silu (kind 1). */
enum { NN_ACT_RELU2 = 0, NN_ACT_SILU = 1 };
void nn_glu(float *gate, const float *up, int64_t n, int act);

/* e^x in float for x <= 88 (x < -87 gives e^-87), within 3 ulp: x = n ln2 + r
 * with n = rint(x / ln2), a degree-6 Taylor polynomial of e^r, times 2^n
 * built in the exponent bits. Separate multiplies and adds in this order
 * (no FMA), so the SIMD versions reproduce it bit for bit. */
static inline float nn_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f +
              r * 1.38888889e-3f)))));
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Key cache layout of one KV head: keys in blocks of NN_KV_BLOCK positions,
 * dimension-major inside a block, so that one vector load holds one
 * dimension of 16 consecutive keys: key t, dimension i is at
 * kt[(t / 16) * head_dim * 16 + i * 16 + t % 16]. */
#define NN_KV_BLOCK 16
static inline int64_t nn_kt_index(int64_t t, int64_t i, int64_t head_dim) {
    return (t / NN_KV_BLOCK) * head_dim * NN_KV_BLOCK + i * NN_KV_BLOCK + t % NN_KV_BLOCK;
}

/* IEEE binary16 bits <-> float. Widening is exact; narrowing rounds to
 * nearest, ties to even (as F16C's vcvtps2ph with rounding mode 0): values
 * past the largest half become infinities, NaNs stay NaNs (quiet). */
static inline float nn_h2f(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    uint32_t bits;
    if (e == 0x1f) bits = sign | 0x7f800000u | (m << 13);        /* inf, NaN */
    else if (e) bits = sign | ((e + 112) << 23) | (m << 13);      /* normal */
    else if (!m) bits = sign;                                      /* zero */
    else {                                                         /* subnormal: m * 2^-24 */
        int sh = 0;
        uint32_t mm = m;
        while (!(mm & 0x400)) { mm <<= 1; sh++; }
        bits = sign | ((uint32_t)(113 - sh) << 23) | ((mm & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
static inline uint16_t nn_f2h(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff)); /* NaN, quieted */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  /* rounds past 65504: inf (inf itself too) */
    if (ax >= 0x38800000u) {                                  /* normal half */
        uint32_t r = ax - 0x38000000u;                        /* rebias the exponent (127 -> 15) */
        r = r + 0xfff + ((r >> 13) & 1);                      /* round to nearest even at bit 13 */
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax < 0x33000000u) return sign;                        /* below half the smallest subnormal: 0 */
    /* subnormal half: the 24-bit significand shifted right, rounded to even */
    const uint32_t e = ax >> 23, mant = (ax & 0x7fffff) | 0x800000;
    const uint32_t sh = 126 - e;                              /* 14..24 */
    uint32_t q = mant >> sh, rem = mant & ((1u << sh) - 1), half = 1u << (sh - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

/* Key and value caches are float32 or binary16 (f16, half the bytes):
 * kv16 flags of the attention functions. */
enum { NN_K16 = 1, NN_V16 = 2 };

/* Address of element i of a key or value cache of f16 (h != 0) or float. */
static inline const void *nn_kv_at(const void *p, int64_t i, int h) {
    return (const char *)p + i * (h ? 2 : 4);
}

/* One causal attention row: out [head_dim] = sum_t p_t v_t over t < n, with
 *   s_t = (fma chain over i in order: s = fmaf(q[i], k_t[i], s)) * scale,
 *   e_t = nn_expf(s_t - max s), Z = sum of e_t over 16 lanes (lane j adds the
 *   t = j mod 16 in order; lanes then added pairwise, w = 8, 4, 2, 1),
 *   p_t = e_t * (1 / Z),  out[i] = fma chain over t in order of p_t v_t[i].
 * q [head_dim]; kt: keys in the block layout above (n > 0 positions); v [n][head_dim];
 * keys and values are float, or f16 (widened exactly) where kv16 has NN_K16 / NN_V16.
 * scores: scratch of n rounded up to 16 floats. Any head_dim >= 1. */
void nn_attend(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n, int64_t head_dim,
               float scale, float *scores);

/* nn_attend for the G query heads that share one KV head (grouped-query
 * attention): q and out are [G][head_dim]; the results equal G nn_attend
 * calls bit for bit (the SIMD versions load each key and value once for
 * several heads). scores: scratch of G * (n rounded up to 16) floats. */
void nn_attend_group(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16, int64_t n,
                     int64_t head_dim, float scale, float *scores);

/* ==== dispatch ==== */

typedef struct {
    const char *name;
    /* trit_act_quant (quant/ternary.h), bit-identical to it */
    float (*act_quant)(const float *x, int64_t n, int8_t *q, int32_t *sum);
    /* nn_rmsnorm */
    void (*rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps);
    /* out[i] = relu(gate[i])^2 * up[i] (nn_glu's relu2 out of place; out may equal gate) */
    void (*relu2_glu)(float *out, const float *gate, const float *up, int64_t n);
    /* nn_attend */
    void (*attend)(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n,
                   int64_t head_dim, float scale, float *scores);
    /* nn_attend_group */
    void (*attend_group)(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16,
                         int64_t n, int64_t head_dim, float scale, float *scores);
} nn_kernels;

/* Scalar reference of relu2_glu. */
void nn_relu2_glu(float *out, const float *gate, const float *up, int64_t n);

/* The table for a level (the caller makes sure the CPU has it; levels
 * without their own code use the scalar table), and for trit_cpu_isa(). */
const nn_kernels *nn_kernels_for(trit_isa isa);
const nn_kernels *nn_kernels_get(void);

#if defined(__x86_64__)
float nn_act_quant_avx2(const float *x, int64_t n, int8_t *q, int32_t *sum);
void nn_rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps);
void nn_relu2_glu_avx2(float *out, const float *gate, const float *up, int64_t n);
void nn_attend_avx2(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n,
                    int64_t head_dim, float scale, float *scores);
void nn_attend_group_avx2(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16,
                          int64_t n, int64_t head_dim, float scale, float *scores);
float nn_act_quant_avx512(const float *x, int64_t n, int8_t *q, int32_t *sum);
void nn_rmsnorm_avx512(float *out, const float *x, const float *w, int64_t n, float eps);
void nn_relu2_glu_avx512(float *out, const float *gate, const float *up, int64_t n);
void nn_attend_avx512(float *out, const float *q, const void *kt, const void *v, int kv16, int64_t n,
                      int64_t head_dim, float scale, float *scores);
void nn_attend_group_avx512(float *out, const float *q, int64_t G, const void *kt, const void *v, int kv16,
                            int64_t n, int64_t head_dim, float scale, float *scores);
#endif

#endif
