/*
 * rmsnorm.c - RMSNorm with a gain: out = w * (x * rstd),
 * rstd = 1/sqrt(mean(x^2) + eps).
 */
#include <math.h>
#include "train/train_ops.h"

typedef struct {
    float *out, *rstd, *dinp, *dw;
    const float *inp, *w, *dout, *rstd_in;
    int64_t N, C;
    float eps;
} norm_task;

/* ==== forward ==== */

/* PyTorch order: v = sum(x^2) / C in float (the sum taken exactly, then
 * rounded), r = 1/sqrt(v + eps), out = w * (x * r). */
static void norm_fwd_task(void *arg, int ith, int nth) {
    norm_task *a = arg;
    int64_t lo, hi;
    trit_split(a->N, ith, nth, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *x = a->inp + n * a->C;
        float *y = a->out + n * a->C;
        double ss = 0;
        for (int64_t i = 0; i < a->C; i++) {
            float sq = x[i] * x[i];
            ss += (double)sq;
        }
        float v = (float)ss / (float)a->C;
        float r = 1.0f / sqrtf(v + a->eps);
        a->rstd[n] = r;
        for (int64_t i = 0; i < a->C; i++) y[i] = a->w[i] * (x[i] * r);
    }
}

/* See train_ops.h. */
void tr_rmsnorm_forward(trit_pool *pool, float *out, float *rstd, const float *inp, const float *w, int64_t N,
                        int64_t C, float eps) {
    norm_task a = {.out = out, .rstd = rstd, .inp = inp, .w = w, .N = N, .C = C, .eps = eps};
    trit_pool_run(pool, norm_fwd_task, &a);
}

/* ==== backward ==== */

/* Rows [lo, hi): with dn = dout * w,
 * dx_i = r dn_i - (r^3 / C) x_i sum_j dn_j x_j. */
static void norm_bwd_rows_task(void *arg, int ith, int nth) {
    norm_task *a = arg;
    int64_t lo, hi;
    trit_split(a->N, ith, nth, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *x = a->inp + n * a->C, *dy = a->dout + n * a->C;
        float *dx = a->dinp + n * a->C;
        double r = a->rstd_in[n], dot = 0;
        for (int64_t i = 0; i < a->C; i++) dot += (double)dy[i] * a->w[i] * x[i];
        double c = r * r * r * dot / (double)a->C;
        for (int64_t i = 0; i < a->C; i++) dx[i] += (float)(r * ((double)dy[i] * a->w[i]) - c * x[i]);
    }
}

/* Columns [lo, hi): dw_i = sum_n dout[n][i] * (x[n][i] * r_n), summed over
 * n in order in double, 16 columns at a time so rows are read contiguously. */
static void norm_bwd_cols_task(void *arg, int ith, int nth) {
    norm_task *a = arg;
    int64_t lo, hi;
    trit_split(a->C, ith, nth, 16, &lo, &hi);
    double acc[16];
    for (int64_t i0 = lo; i0 < hi; i0 += 16) {
        int64_t w = hi - i0 < 16 ? hi - i0 : 16;
        for (int64_t j = 0; j < w; j++) acc[j] = 0;
        for (int64_t n = 0; n < a->N; n++) {
            const float *x = a->inp + n * a->C + i0, *dy = a->dout + n * a->C + i0;
            float r = a->rstd_in[n];
            for (int64_t j = 0; j < w; j++) acc[j] += (double)dy[j] * (x[j] * r); /* x*r: the forward's value */
        }
        for (int64_t j = 0; j < w; j++) a->dw[i0 + j] += (float)acc[j];
    }
}

/* See train_ops.h. */
void tr_rmsnorm_backward(trit_pool *pool, float *dinp, float *dw, const float *dout, const float *inp,
                         const float *w, const float *rstd, int64_t N, int64_t C) {
    norm_task a = {.dinp = dinp, .dw = dw, .inp = inp, .w = w, .dout = dout, .rstd_in = rstd, .N = N, .C = C};
    trit_pool_run(pool, norm_bwd_rows_task, &a);
    trit_pool_run(pool, norm_bwd_cols_task, &a);
}
