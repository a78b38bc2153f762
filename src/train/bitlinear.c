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
 * Rounding is half to even (round_even below, = rintf), as torch.round.
 */

/* The element loops below vectorize only when comparisons are known not to
 * trap (trit never enables floating-point traps); results are unchanged.
 * (Set before the includes, so that the headers' inline helpers get the
 * same options and are inlined.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <string.h>
#include "kernels/kernels.h"
#include "train/train_ops.h"

/* ==== rounding ==== */

/* rintf(x) (round half to even) for the quantizers, in a form the compiler
 * vectorizes: x is first clamped to [-256, 256] (every caller clamps the
 * result to [-128, 127] or [-1, 1] afterwards, so this changes nothing),
 * then (x + 1.5*2^23) - 1.5*2^23 rounds to an integer in the default
 * rounding mode, exactly as rintf for |x| < 2^22. NaN stays NaN. The sign
 * of a zero result may differ from rintf's, which no caller can observe
 * (0/s and -0/s give the same sums). */
static inline float round_even(float x) {
    const float magic = 12582912.0f;
    x = x < -256.0f ? -256.0f : x;
    x = x > 256.0f ? 256.0f : x;
    return (x + magic) - magic;
}

/* ==== weight quantizers ==== */

/* Elements per chunk of the parallel sums: fixed by n alone (never by the
 * thread count) so that the result is the same for any number of threads. */
static int64_t sum_chunk(int64_t n) {
    int64_t c = (n + TR_SUM_CHUNKS - 1) / TR_SUM_CHUNKS;
    return c < 4096 ? 4096 : c;
}

typedef struct {
    const float *w;
    float *wq;
    int8_t *codes;
    int64_t n, chunk;
    int abs_values;
    double *partial;       /* one double sum per chunk */
    trit_quant kind;
    float s, a, b, lam;    /* ternary divisor s; binary threshold a and magnitude b */
} wq_task;

/* Chunks of this thread: partial[c] = sum over chunk c, in order, in double
 * (of |w| when abs_values). */
static void sum_task(void *arg, int ith, int nth) {
    wq_task *t = arg;
    int64_t nch = (t->n + t->chunk - 1) / t->chunk, lo, hi;
    trit_split(nch, ith, nth, 1, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        int64_t i0 = c * t->chunk, i1 = i0 + t->chunk < t->n ? i0 + t->chunk : t->n;
        double s = 0;
        if (t->abs_values)
            for (int64_t i = i0; i < i1; i++) s += fabs((double)t->w[i]);
        else
            for (int64_t i = i0; i < i1; i++) s += (double)t->w[i];
        t->partial[c] = s;
    }
}

/* torch's float mean: the sum (taken in double over fixed chunks, whose sums
 * are added in order), rounded to float, then divided by n in float.
 * abs_values selects mean|x| instead of mean x. */
static float mean_f32(trit_pool *pool, const float *x, int64_t n, int abs_values) {
    double partial[TR_SUM_CHUNKS];
    wq_task t = {.w = x, .n = n, .chunk = sum_chunk(n), .abs_values = abs_values, .partial = partial};
    int64_t nch = (n + t.chunk - 1) / t.chunk;
    if (nch > 1) trit_pool_run(pool, sum_task, &t);
    else sum_task(&t, 0, 1);
    double s = 0;
    for (int64_t c = 0; c < nch; c++) s += partial[c];
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

/* Elements of this thread: wq = w + lam * (Q(w) - w) and/or the codes
 * (whichever of t->wq, t->codes is not NULL). */
static void apply_task(void *arg, int ith, int nth) {
    wq_task *t = arg;
    int64_t lo, hi;
    trit_split(t->n, ith, nth, 64, &lo, &hi);
    const float *w = t->w;
    if (t->kind == TRIT_QUANT_BINARY) {
        for (int64_t i = lo; i < hi; i++) {
            int pos = w[i] - t->a >= 0.0f;
            if (t->wq) t->wq[i] = w[i] + t->lam * ((pos ? t->b : -t->b) - w[i]);
            if (t->codes) t->codes[i] = (int8_t)(pos ? 1 : -1);
        }
        return;
    }
    const float s = t->s, lam = t->lam;
    float *wq = t->wq;
    int8_t *codes = t->codes;
    if (wq && codes) {
        for (int64_t i = lo; i < hi; i++) {
            float q = round_even(w[i] * s);
            q = q < -1.0f ? -1.0f : q;
            q = q > 1.0f ? 1.0f : q;
            wq[i] = w[i] + lam * (q / s - w[i]);
            codes[i] = (int8_t)q;
        }
    } else if (wq) {
        for (int64_t i = lo; i < hi; i++) {
            float q = round_even(w[i] * s);
            q = q < -1.0f ? -1.0f : q;
            q = q > 1.0f ? 1.0f : q;
            wq[i] = w[i] + lam * (q / s - w[i]);
        }
    } else if (codes) {
        for (int64_t i = lo; i < hi; i++) {
            float q = round_even(w[i] * s);
            q = q < -1.0f ? -1.0f : q;
            q = q > 1.0f ? 1.0f : q;
            codes[i] = (int8_t)q;
        }
    }
}

/* Fills the quantizer parameters of w (n) into t: s for the ternary kinds,
 * a and b for binary. */
static void weight_params(trit_pool *pool, wq_task *t, const float *w, int64_t n, trit_quant kind, float *scratch) {
    t->w = w;
    t->n = n;
    t->kind = kind;
    if (kind == TRIT_QUANT_BINARY) {
        t->a = mean_f32(pool, w, n, 0);
        t->b = mean_f32(pool, w, n, 1);
        return;
    }
    float m;
    if (kind == TRIT_QUANT_ABSMEDIAN) {
        for (int64_t i = 0; i < n; i++) scratch[i] = fabsf(w[i]);
        m = select_kth(scratch, n, (n - 1) / 2); /* lower median, as torch.median */
    } else {
        m = mean_f32(pool, w, n, 1);
    }
    if (!(m >= 1e-5f)) m = 1e-5f;
    t->s = 1.0f / m;
}

/* The divisor of the dividing rule for the quantizer's parameters: s for
 * the ternary kinds (Q(w) = code / s exactly); for binary a float d with
 * 1/d == b whenever one of the floats nearest 1/b has it. */
static float divisor(const wq_task *t) {
    if (t->kind != TRIT_QUANT_BINARY) return t->s;
    float d = 1.0f / t->b;
    for (int k = 0; k < 4; k++) {
        float up = d, dn = d;
        for (int i = 0; i < k; i++) {
            up = nextafterf(up, INFINITY);
            dn = nextafterf(dn, 0.0f);
        }
        if (1.0f / up == t->b) return up;
        if (1.0f / dn == t->b) return dn;
    }
    return d;
}

/* See train_ops.h. */
void tr_quantize_weight(trit_pool *pool, float *wq, int8_t *codes, float *div, const float *w, int64_t n,
                        trit_quant kind, float lam, float *scratch) {
    if (kind == TRIT_QUANT_NONE) {
        if (wq && wq != w) memcpy(wq, w, (size_t)n * sizeof(float));
        return;
    }
    wq_task t = {.wq = wq, .codes = codes, .lam = lam};
    weight_params(pool, &t, w, n, kind, scratch);
    if (div) *div = divisor(&t);
    if (wq || codes) trit_pool_run(pool, apply_task, &t);
}

typedef struct {
    uint8_t *dst;
    const int8_t *codes;
    int64_t rows, cols;
} pack_task;

/* Packed rows of this thread: each byte gathers the codes of rows q, q+Q,
 * q+2Q, q+3Q (padding rows past `rows` get code 1). */
static void pack_task_fn(void *arg, int ith, int nth) {
    const pack_task *a = arg;
    const int64_t Q = (a->rows + 3) / 4, C = a->cols;
    int64_t lo, hi;
    trit_split(Q, ith, nth, 1, &lo, &hi);
    for (int64_t q = lo; q < hi; q++) {
        uint8_t *prow = a->dst + q * C;
        const int8_t *c[4];
        for (int g = 0; g < 4; g++) c[g] = q + g * Q < a->rows ? a->codes + (q + g * Q) * C : NULL;
        for (int64_t k = 0; k < C; k++) {
            unsigned b = 0;
            for (int g = 0; g < 4; g++) b |= (unsigned)((c[g] ? c[g][k] + 1 : 1) << (2 * g));
            prow[k] = (uint8_t)b;
        }
    }
}

/* See train_ops.h. */
void tr_pack_codes(trit_pool *pool, uint8_t *dst, const int8_t *codes, int64_t rows, int64_t cols) {
    pack_task a = {dst, codes, rows, cols};
    trit_pool_run(pool, pack_task_fn, &a);
}

/* ==== activation quantizer ==== */

typedef struct {
    float *xq;
    const float *x;
    int8_t *q8;
    float *scale;
    int32_t *qsum;
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
        /* max |x| as the largest magnitude bit pattern: for floats that are
         * not NaN the order of |x| is the order of (bits & 0x7fffffff) as
         * integers, and an integer max vectorizes (a NaN, already a diverged
         * run, then gives amax NaN, clamped below like a zero row) */
        int32_t mbits = 0;
        for (int64_t i = 0; i < a->C; i++) {
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            int32_t m = (int32_t)(u & 0x7fffffffu);
            mbits = m > mbits ? m : mbits;
        }
        float amax;
        memcpy(&amax, &mbits, sizeof amax);
        if (!(amax >= 1e-5f)) amax = 1e-5f;
        const float s = 127.0f / amax, lam = a->lam;
        if (a->q8) {
            int8_t *q8 = a->q8 + n * a->C;
            int32_t sum = 0;
            for (int64_t i = 0; i < a->C; i++) {
                float q = round_even(x[i] * s);
                q = q < -128.0f ? -128.0f : q;
                q = q > 127.0f ? 127.0f : q;
                int8_t c = (int8_t)q;
                q8[i] = c;
                sum += c;
                y[i] = x[i] + lam * (q / s - x[i]); /* after reading x[i]: y may be x */
            }
            a->scale[n] = s;
            a->qsum[n] = sum;
            continue;
        }
        for (int64_t i = 0; i < a->C; i++) {
            float q = round_even(x[i] * s);
            q = q < -128.0f ? -128.0f : q;
            q = q > 127.0f ? 127.0f : q;
            y[i] = x[i] + lam * (q / s - x[i]);
        }
    }
}

/* See train_ops.h. */
void tr_quantize_act(trit_pool *pool, float *xq, const float *x, int64_t N, int64_t C, trit_quant kind,
                     float lam, int8_t *q8, float *scale, int32_t *qsum) {
    if (kind == TRIT_QUANT_NONE) {
        if (xq != x) memcpy(xq, x, (size_t)(N * C) * sizeof(float));
        return;
    }
    actq_task a = {.xq = xq, .x = x, .q8 = q8, .scale = scale, .qsum = qsum, .N = N, .C = C, .lam = lam};
    trit_pool_run(pool, actq_task_fn, &a);
}

/* ==== BitLinear ==== */

/* See train_ops.h. */
void tr_bitlinear_forward(const tr_exec *ex, float *out, const float *xq, const float *wq, int64_t N, int64_t IC,
                          int64_t OC) {
    tr_matmul_forward(ex, out, xq, wq, N, IC, OC);
}

typedef struct {
    const trit_kernels *kt;
    const trit_tmat *w;
    float wdiv;
    const int8_t *q8;
    const float *scale;
    const int32_t *qsum;
    float *out;
    int64_t N;
} tfwd_task;

/* Packed rows of this thread: all N tokens x the output rows they hold. */
static void tfwd_task_fn(void *arg, int ith, int nth) {
    const tfwd_task *a = arg;
    int64_t lo, hi;
    trit_split(a->w->Q, ith, nth, 1, &lo, &hi);
    if (lo < hi) a->kt->tmatmul(a->w, a->wdiv, a->q8, a->scale, a->qsum, a->N, a->out, a->w->N, lo, hi);
}

/* See train_ops.h. */
void tr_bitlinear_forward_codes(const tr_exec *ex, float *out, const int8_t *q8, const float *scale,
                                const int32_t *qsum, const uint8_t *wpack, float wdiv, int64_t N, int64_t IC,
                                int64_t OC) {
    trit_tmat w = {OC, IC, (OC + 3) / 4, wpack};
    tfwd_task a = {trit_kernels_for(ex->isa), &w, wdiv, q8, scale, qsum, out, N};
    trit_pool_run(ex->pool, tfwd_task_fn, &a);
}

/* See train_ops.h. The STE makes d x_q / d x and d W_q / d W the identity,
 * so the gradients of the quantized operands are those of the latent ones. */
void tr_bitlinear_backward(const tr_exec *ex, float *dx, float *dw, const float *dout, const float *xq,
                           const float *wq, int64_t N, int64_t IC, int64_t OC) {
    tr_matmul_backward(ex, dx, dw, dout, xq, wq, N, IC, OC);
}
