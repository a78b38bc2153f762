/*
 * bitlinear.c - BitLinear for training: the weight and activation
 * quantizers with straight-through estimators (STE).
 *
 * Forward uses  x_q = x + lam * (A(x) - x)  and  W_q = W + lam * (Q(W) - W)
 * where the difference is a constant for autograd, so the backward treats
 * both quantizers as the identity: dX = dY @ W_q, dW = dY^T @ X_q.
 * The float operations follow PyTorch's order so the quantized codes are the
 * ones PyTorch (and trit's inference, quant/ternary.c) computes:
 *   activations (per token): s = 127 / max(max|x|, 1e-5); A(x) = clamp(rint(x*s), -128, 127) / s
 *   absmean:   s = 1 / max(mean|W|, 1e-5);   Q(W) = clamp(rint(W*s), -1, 1) / s
 *   absmedian: same with the lower median of |W| (torch.median)
 *   binary:    a = mean(W), b = mean|W|;     Q(W) = (W - a >= 0 ? b : -b)
 * rintf rounds half to even in the default rounding mode, as torch.round.
 */
#include <math.h>
#include <string.h>
#include "train/train_ops.h"

/* ==== weight quantizers ==== */

/* torch's float mean: the sum (taken exactly here, rounded to float), then
 * divided by n in float. abs_values selects mean|x| instead of mean x. */
static float mean_f32(const float *x, int64_t n, int abs_values) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += abs_values ? fabs((double)x[i]) : (double)x[i];
    return (float)s / (float)n;
}

/* k-th smallest of a[0..n) (0-based), reordering a: quickselect with a
 * median-of-three pivot and Hoare partitioning. */
static float select_kth(float *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi];
        float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k]; /* between the two parts: equal to the pivot */
    }
    return a[k];
}

/* wq = w + lam * (clamp(rint(w*s), -1, 1)/s - w). */
static void ternary_ste(float *wq, const float *w, int64_t n, float m, float lam) {
    if (!(m >= 1e-5f)) m = 1e-5f;
    float s = 1.0f / m;
    for (int64_t i = 0; i < n; i++) {
        float t = rintf(w[i] * s);
        t = t < -1.0f ? -1.0f : (t > 1.0f ? 1.0f : t);
        wq[i] = w[i] + lam * (t / s - w[i]);
    }
}

/* See train_ops.h. */
void tr_quantize_weight(float *wq, const float *w, int64_t n, trit_quant kind, float lam, float *scratch) {
    switch (kind) {
    case TRIT_QUANT_ABSMEAN:
        ternary_ste(wq, w, n, mean_f32(w, n, 1), lam);
        break;
    case TRIT_QUANT_ABSMEDIAN:
        for (int64_t i = 0; i < n; i++) scratch[i] = fabsf(w[i]);
        ternary_ste(wq, w, n, select_kth(scratch, n, (n - 1) / 2), lam); /* lower median */
        break;
    case TRIT_QUANT_BINARY: {
        float a = mean_f32(w, n, 0), b = mean_f32(w, n, 1);
        for (int64_t i = 0; i < n; i++) {
            float q = w[i] - a >= 0.0f ? b : -b;
            wq[i] = w[i] + lam * (q - w[i]);
        }
        break;
    }
    case TRIT_QUANT_NONE:
    default:
        if (wq != w) memcpy(wq, w, (size_t)n * sizeof(float));
        break;
    }
}

/* ==== activation quantizer ==== */

typedef struct {
    float *xq;
    const float *x;
    int64_t N, C;
    float lam;
} actq_task;

/* Tokens [lo, hi): per-token absmax int8 quantization with STE. */
static void actq_task_fn(void *arg, int ith, int nth) {
    actq_task *a = arg;
    int64_t lo, hi;
    trit_split(a->N, ith, nth, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *x = a->x + n * a->C;
        float *y = a->xq + n * a->C;
        float amax = 0.0f;
        for (int64_t i = 0; i < a->C; i++) {
            float v = fabsf(x[i]);
            amax = v > amax ? v : amax;
        }
        if (!(amax >= 1e-5f)) amax = 1e-5f;
        float s = 127.0f / amax;
        for (int64_t i = 0; i < a->C; i++) {
            float q = rintf(x[i] * s);
            q = q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q);
            y[i] = x[i] + a->lam * (q / s - x[i]);
        }
    }
}

/* See train_ops.h. */
void tr_quantize_act(trit_pool *pool, float *xq, const float *x, int64_t N, int64_t C, trit_quant kind,
                     float lam) {
    if (kind == TRIT_QUANT_NONE) {
        if (xq != x) memcpy(xq, x, (size_t)(N * C) * sizeof(float));
        return;
    }
    actq_task a = {.xq = xq, .x = x, .N = N, .C = C, .lam = lam};
    trit_pool_run(pool, actq_task_fn, &a);
}

/* ==== BitLinear ==== */

/* See train_ops.h. */
void tr_bitlinear_forward(trit_pool *pool, trit_isa isa, float *out, const float *xq, const float *wqt, int64_t N,
                          int64_t IC, int64_t OC) {
    tr_matmul_forward(pool, isa, out, xq, wqt, N, IC, OC);
}

/* See train_ops.h. The STE makes d x_q / d x and d W_q / d W the identity,
 * so the gradients of the quantized operands are those of the latent ones. */
void tr_bitlinear_backward(trit_pool *pool, trit_isa isa, float *dx, float *dw, const float *dout, const float *xq,
                           const float *wq, int64_t N, int64_t IC, int64_t OC) {
    tr_matmul_backward(pool, isa, dx, dw, dout, xq, wq, N, IC, OC);
}
