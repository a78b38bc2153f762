/*
 * linear.c - the fp32 linear layer y = x W^T without bias: lm_head uses it
 * directly, BitLinear on quantized operands (bitlinear.c). All three
 * products go through tr_gemm (gemm.c); each thread computes one block of
 * the output (tr_gemm_part), and every output element is a fixed-order FMA
 * chain, so the results do not depend on the thread count.
 */
#include "train/train_ops.h"

typedef struct {
    const tr_exec *ex;
    float *out, *dinp, *dw;
    const float *inp, *w, *dout;
    int64_t N, IC, OC;
} mm_task;

/* This thread's scratch slice. */
static float *scratch_of(const tr_exec *ex, int ith) { return ex->scratch + (int64_t)ith * TR_GEMM_SCRATCH; }

/* ==== forward ==== */

/* This thread's block of out (N, OC) = inp @ w^T (B(k, j) = w[j][k]). */
static void mm_fwd_task(void *arg, int ith, int nth) {
    mm_task *a = arg;
    int64_t m0, m1, j0, j1;
    tr_gemm_op op = {.C = a->out, .ldc = a->OC, .A = a->inp, .sam = a->IC, .sak = 1, .B = a->w, .sbk = 1,
                     .sbn = a->IC, .K = a->IC, .accumulate = 0};
    tr_gemm_part(a->N, a->OC, ith, nth, &m0, &m1, &j0, &j1);
    tr_gemm(a->ex->isa, scratch_of(a->ex, ith), &op, m0, m1, j0, j1);
}

/* See train_ops.h. */
void tr_matmul_forward(const tr_exec *ex, float *out, const float *inp, const float *w, int64_t N, int64_t IC,
                       int64_t OC) {
    mm_task a = {.ex = ex, .out = out, .inp = inp, .w = w, .N = N, .IC = IC, .OC = OC};
    trit_pool_run(ex->pool, mm_fwd_task, &a);
}

/* ==== backward ==== */

/* This thread's blocks of dinp (N, IC) += dout @ w and of
 * dw (OC, IC) += dout^T @ inp. */
static void mm_bwd_task(void *arg, int ith, int nth) {
    mm_task *a = arg;
    int64_t m0, m1, j0, j1;
    float *scr = scratch_of(a->ex, ith);
    if (a->dinp) {
        tr_gemm_op op = {.C = a->dinp, .ldc = a->IC, .A = a->dout, .sam = a->OC, .sak = 1, .B = a->w, .sbk = a->IC,
                         .sbn = 1, .K = a->OC, .accumulate = 1};
        tr_gemm_part(a->N, a->IC, ith, nth, &m0, &m1, &j0, &j1);
        tr_gemm(a->ex->isa, scr, &op, m0, m1, j0, j1);
    }
    tr_gemm_op op = {.C = a->dw, .ldc = a->IC, .A = a->dout, .sam = 1, .sak = a->OC, .B = a->inp, .sbk = a->IC,
                     .sbn = 1, .K = a->N, .accumulate = 1};
    tr_gemm_part(a->OC, a->IC, ith, nth, &m0, &m1, &j0, &j1);
    tr_gemm(a->ex->isa, scr, &op, m0, m1, j0, j1);
}

/* See train_ops.h. */
void tr_matmul_backward(const tr_exec *ex, float *dinp, float *dw, const float *dout, const float *inp,
                        const float *w, int64_t N, int64_t IC, int64_t OC) {
    mm_task a = {.ex = ex, .dinp = dinp, .dw = dw, .inp = inp, .w = w, .dout = dout, .N = N, .IC = IC, .OC = OC};
    trit_pool_run(ex->pool, mm_bwd_task, &a);
}
