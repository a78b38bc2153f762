/*
 * glu.c - the relu^2 gated linear unit of BitNet's feed-forward block:
 * out = relu(g)^2 * u.
 */

/* The element loops vectorize only when comparisons are known not to trap
 * (trit never enables floating-point traps); results are unchanged.
 * (Set before the includes, so that the headers' inline helpers get the
 * same options and are inlined.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "train/train_ops.h"

typedef struct {
    float *out, *dg, *du;
    const float *g, *u, *dout;
    int64_t n;
} glu_task;

/* ==== forward ==== */

/* relu(g).pow(2) * u in float, as PyTorch (pow(x, 2) is x*x exactly). */
static void glu_fwd_task(void *arg, int ith, int nth) {
    const glu_task *a = arg;
    int64_t lo, hi;
    trit_split(a->n, ith, nth, 16, &lo, &hi);
    float *out = a->out;
    const float *g = a->g, *u = a->u;
    for (int64_t i = lo; i < hi; i++) {
        float r = g[i] > 0.0f ? g[i] : 0.0f;
        out[i] = r * r * u[i];
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
    const glu_task *a = arg;
    int64_t lo, hi;
    trit_split(a->n, ith, nth, 16, &lo, &hi);
    float *du = a->du, *dg = a->dg;
    const float *g = a->g, *u = a->u, *dout = a->dout;
    for (int64_t i = lo; i < hi; i++) {
        float r = g[i] > 0.0f ? g[i] : 0.0f;
        float d = dout[i];
        du[i] += d * (r * r);
        dg[i] += d * u[i] * (2.0f * r);
    }
}

/* See train_ops.h. */
void tr_relu2_glu_backward(trit_pool *pool, float *dg, float *du, const float *dout, const float *g,
                           const float *u, int64_t n) {
    glu_task a = {.dg = dg, .du = du, .g = g, .u = u, .dout = dout, .n = n};
    trit_pool_run(pool, glu_bwd_task, &a);
}
