/*
 * linear.c - the fp32 linear layer y = x W^T without bias: lm_head uses it
 * directly, BitLinear on quantized operands (bitlinear.c). All three
 * products go through tr_gemm (gemm.c), split over output columns; each
 * output element is an ordered double sum computed by one thread, so the
 * results do not depend on the thread count.
 */
#include "train/train_ops.h"

typedef struct {
    trit_isa isa;
    float *out, *dinp, *dw;
    const float *inp, *w, *wt, *dout;
    int64_t N, IC, OC;
} mm_task;

/* ==== forward ==== */

/* Output features [lo, hi): out[:, lo:hi] = inp @ wt[:, lo:hi]. */
static void mm_fwd_task(void *arg, int ith, int nth) {
    mm_task *a = arg;
    int64_t lo, hi;
    trit_split(a->OC, ith, nth, 16, &lo, &hi);
    tr_gemm(a->isa, a->out, a->OC, a->inp, a->IC, 1, a->wt, a->OC, a->N, a->IC, lo, hi, 0);
}

/* See train_ops.h. */
void tr_matmul_forward(trit_pool *pool, trit_isa isa, float *out, const float *inp, const float *wt, int64_t N,
                       int64_t IC, int64_t OC) {
    mm_task a = {.isa = isa, .out = out, .inp = inp, .wt = wt, .N = N, .IC = IC, .OC = OC};
    trit_pool_run(pool, mm_fwd_task, &a);
}

/* ==== backward ==== */

/* Input features [lo, hi): dinp[:, lo:hi] += dout @ w[:, lo:hi] and
 * dw[:, lo:hi] += dout^T @ inp[:, lo:hi]. */
static void mm_bwd_task(void *arg, int ith, int nth) {
    mm_task *a = arg;
    int64_t lo, hi;
    trit_split(a->IC, ith, nth, 16, &lo, &hi);
    if (a->dinp) tr_gemm(a->isa, a->dinp, a->IC, a->dout, a->OC, 1, a->w, a->IC, a->N, a->OC, lo, hi, 1);
    tr_gemm(a->isa, a->dw, a->IC, a->dout, 1, a->OC, a->inp, a->IC, a->OC, a->N, lo, hi, 1);
}

/* See train_ops.h. */
void tr_matmul_backward(trit_pool *pool, trit_isa isa, float *dinp, float *dw, const float *dout, const float *inp,
                        const float *w, int64_t N, int64_t IC, int64_t OC) {
    mm_task a = {.isa = isa, .dinp = dinp, .dw = dw, .inp = inp, .w = w, .dout = dout, .N = N, .IC = IC, .OC = OC};
    trit_pool_run(pool, mm_bwd_task, &a);
}

/* ==== transpose ==== */

typedef struct {
    float *dst;
    const float *src;
    int64_t R, C;
} tr_task;

/* Destination rows [lo, hi) (= source columns), in 16x16 blocks. */
static void transpose_task(void *arg, int ith, int nth) {
    tr_task *a = arg;
    int64_t lo, hi;
    trit_split(a->C, ith, nth, 16, &lo, &hi);
    for (int64_t r0 = 0; r0 < a->R; r0 += 16) {
        int64_t r1 = r0 + 16 < a->R ? r0 + 16 : a->R;
        for (int64_t c = lo; c < hi; c++)
            for (int64_t r = r0; r < r1; r++) a->dst[c * a->R + r] = a->src[r * a->C + c];
    }
}

/* See train_ops.h. */
void tr_transpose(trit_pool *pool, float *dst, const float *src, int64_t R, int64_t C) {
    tr_task a = {.dst = dst, .src = src, .R = R, .C = C};
    trit_pool_run(pool, transpose_task, &a);
}
