/*
 * glu.c - the relu^2 gated linear unit of BitNet's feed-forward block:
 * out = relu(g)^2 * u.
 */
#include "train/train_ops.h"

typedef struct {
    float *out, *dg, *du;
    const float *g, *u, *dout;
    int64_t n;
} glu_task;

/* ==== forward ==== */

/* relu(g).pow(2) * u in float, as PyTorch (pow(x, 2) is x*x exactly). */
static void glu_fwd_task(void *arg, int ith, int nth) {
    glu_task *a = arg;
    int64_t lo, hi;
    trit_split(a->n, ith, nth, 16, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        float r = a->g[i] > 0.0f ? a->g[i] : 0.0f;
        a->out[i] = r * r * a->u[i];
    }
}

/* See train_ops.h. */
void tr_relu2_glu_forward(trit_pool *pool, float *out, const float *g, const float *u, int64_t n) {
    glu_task a = {.out = out, .g = g, .u = u, .n = n};
    trit_pool_run(pool, glu_fwd_task, &a);
}

/* ==== backward ==== */

/* d/dg relu(g)^2 = 2 relu(g) (0 for g <= 0, as torch's relu gradient). */
static void glu_bwd_task(void *arg, int ith, int nth) {
    glu_task a = *(glu_task *)arg;
    int64_t lo, hi;
    trit_split(a.n, ith, nth, 16, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        float r = a.g[i] > 0.0f ? a.g[i] : 0.0f;
        float d = a.dout[i];
        a.du[i] += d * (r * r);
        a.dg[i] += d * a.u[i] * (2.0f * r);
    }
}

/* See train_ops.h. */
void tr_relu2_glu_backward(trit_pool *pool, float *dg, float *du, const float *dout, const float *g,
                           const float *u, int64_t n) {
    glu_task a = {.dg = dg, .du = du, .g = g, .u = u, .dout = dout, .n = n};
    trit_pool_run(pool, glu_bwd_task, &a);
}
