/*
 * ops.h - row-wise neural network ops in float32. Each works on one row (one
 * token) so callers can spread rows over threads.
 */
#ifndef TRIT_OPS_H
#define TRIT_OPS_H
#include <stdint.h>

/* out[n] = w[n] * x[n] / sqrt(mean(x^2) + eps)   (w may be NULL: no gain).
 * As transformers: normalize in float32, then multiply by the weight. */
void nn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* RoPE rotate-half ("NeoX") style on one head vector of head_dim values:
 * for i < head_dim/2: (a, b) = (x[i], x[i + head_dim/2]) rotated by
 * angle = pos * inv_freq[i], with the angle computed in float32 as torch does. */
void nn_rope(float *x, int64_t head_dim, const float *inv_freq, int64_t pos);

/* In-place numerically stable softmax over n values. */
void nn_softmax(float *x, int64_t n);

/* gate[i] = act(gate[i]) * up[i]; act is relu(x)^2 (kind 0) or silu (kind 1). */
enum { NN_ACT_RELU2 = 0, NN_ACT_SILU = 1 };
void nn_glu(float *gate, const float *up, int64_t n, int act);

/* One causal attention row: q [head_dim] against keys/values of positions
 * 0..n_kv-1 stored with stride kv_stride floats; writes out [head_dim].
 * scores is scratch of n_kv floats. */
void nn_attend(float *out, const float *q, const float *k, const float *v, int64_t n_kv,
               int64_t kv_stride, int64_t head_dim, float scale, float *scores);

#endif
