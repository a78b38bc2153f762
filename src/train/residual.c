/*
 * residual.c - the residual connection: out = a + b, gradient passed to both.
 */
#include "train/train_ops.h"

typedef struct {
    float *out, *da, *db;
    const float *a, *b, *dout;
    int64_t n;
} res_task;

/* ==== forward ==== */

static void res_fwd_task(void *arg, int ith, int nth) {
    res_task *r = arg;
    int64_t lo, hi;
    trit_split(r->n, ith, nth, 16, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) r->out[i] = r->a[i] + r->b[i];
}

/* See train_ops.h. */
void tr_residual_forward(trit_pool *pool, float *out, const float *a, const float *b, int64_t n) {
    res_task r = {.out = out, .a = a, .b = b, .n = n};
    trit_pool_run(pool, res_fwd_task, &r);
}

/* ==== backward ==== */

static void res_bwd_task(void *arg, int ith, int nth) {
    res_task *r = arg;
    int64_t lo, hi;
    trit_split(r->n, ith, nth, 16, &lo, &hi);
    if (r->da)
        for (int64_t i = lo; i < hi; i++) r->da[i] += r->dout[i];
    if (r->db)
        for (int64_t i = lo; i < hi; i++) r->db[i] += r->dout[i];
}

/* See train_ops.h. */
void tr_residual_backward(trit_pool *pool, float *da, float *db, const float *dout, int64_t n) {
    res_task r = {.da = da, .db = db, .dout = dout, .n = n};
    trit_pool_run(pool, res_bwd_task, &r);
}
