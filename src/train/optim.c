/*
 * optim.c - learning-rate schedules, global gradient-norm clipping and
 * AdamW, following PyTorch 2.x (torch.optim.AdamW with foreach=False and
 * torch.nn.utils.clip_grad_norm_, the versions that made the reference
 * fixtures) operation by operation in float32.
 */

/* The AdamW loop vectorizes only when sqrtf needs no errno and comparisons
 * cannot trap (the square root of v >= 0 never sets errno; trit never
 * enables floating-point traps): results are unchanged.
 * (Set before the includes, so that the headers' inline helpers get the
 * same options and are inlined.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno", "no-trapping-math")
#endif

#include <math.h>
#include "train/train_ops.h"

/* ==== schedule ==== */

/* See train_ops.h. Warmup: lr * (step+1)/warmup for step < warmup. Then
 *   constant:  lr
 *   two-stage: lr until total/2, then lr*stage2_scale decaying linearly to
 *              min_lr at total, with weight decay 0 (BitNet b1.58)
 *   cosine:    min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2. */
void tr_schedule(const trit_train_params *p, int64_t step, double *lr, double *weight_decay) {
    *weight_decay = p->weight_decay;
    if (p->warmup_steps > 0 && step < p->warmup_steps) {
        *lr = p->lr * ((double)(step + 1) / (double)p->warmup_steps);
        return;
    }
    switch (p->schedule) {
    case TRIT_SCHED_TWO_STAGE: {
        int64_t half = p->total_steps / 2;
        if (step < half) {
            *lr = p->lr;
        } else {
            double start = p->lr * p->stage2_scale;
            int64_t len = p->total_steps - half > 1 ? p->total_steps - half : 1;
            double f = (double)(step - half) / (double)len;
            f = f > 1.0 ? 1.0 : f;
            *lr = start + (p->min_lr - start) * f;
            *weight_decay = 0.0;
        }
        break;
    }
    case TRIT_SCHED_COSINE: {
        int64_t len = p->total_steps - p->warmup_steps > 1 ? p->total_steps - p->warmup_steps : 1;
        double f = (double)(step - p->warmup_steps) / (double)len;
        f = f < 0.0 ? 0.0 : (f > 1.0 ? 1.0 : f);
        *lr = p->min_lr + (p->lr - p->min_lr) * 0.5 * (1.0 + cos(M_PI * f));
        break;
    }
    case TRIT_SCHED_CONSTANT:
    default:
        *lr = p->lr;
        break;
    }
}

/* See train_ops.h. */
float tr_lambda(const trit_train_params *p, int64_t step) {
    if (p->lambda_ramp_steps <= 0 || step >= p->lambda_ramp_steps) return p->lambda;
    return (float)((double)p->lambda * (double)(step < 0 ? 0 : step) / (double)p->lambda_ramp_steps);
}

/* ==== clipping ==== */

typedef struct {
    float *g, *p, *m, *v;
    const float *grad;
    size_t n;
    int64_t chunk;        /* elements per chunk of the sum of squares */
    double *partial;      /* one sum per chunk                        */
    float coef;
    float decay, one_b1, b2, one_b2, bc2_sqrt, eps, neg_step;
} opt_task;

static void scale_task(void *arg, int ith, int nth) {
    opt_task *a = arg;
    int64_t lo, hi;
    trit_split((int64_t)a->n, ith, nth, 16, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) a->g[i] *= a->coef;
}

/* Chunks of squares of this thread: partial[c] = sum over chunk c of g^2,
 * in order, in double. */
static void sumsq_task(void *arg, int ith, int nth) {
    opt_task *a = arg;
    int64_t nch = ((int64_t)a->n + a->chunk - 1) / a->chunk, lo, hi;
    trit_split(nch, ith, nth, 1, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        int64_t i0 = c * a->chunk, i1 = i0 + a->chunk < (int64_t)a->n ? i0 + a->chunk : (int64_t)a->n;
        double ss = 0;
        for (int64_t i = i0; i < i1; i++) ss += (double)a->g[i] * a->g[i];
        a->partial[c] = ss;
    }
}

/* See train_ops.h. The sum of squares is taken in double over TR_SUM_CHUNKS
 * fixed chunks (their sums added in order), so it does not depend on the
 * thread count; as torch, the coefficient is reciprocal(norm + 1e-6) *
 * max_norm clamped to 1 and always applied. */
float tr_clip_grad_norm(trit_pool *pool, float *g, size_t n, double max_norm) {
    double partial[TR_SUM_CHUNKS], ss = 0;
    int64_t chunk = ((int64_t)n + TR_SUM_CHUNKS - 1) / TR_SUM_CHUNKS;
    if (chunk < 4096) chunk = 4096;
    opt_task s = {.g = g, .n = n, .chunk = chunk, .partial = partial};
    trit_pool_run(pool, sumsq_task, &s);
    for (int64_t c = 0; c < ((int64_t)n + chunk - 1) / chunk; c++) ss += partial[c];
    float norm = (float)sqrt(ss);
    if (max_norm <= 0) return norm;
    float coef = (1.0f / (norm + 1e-6f)) * (float)max_norm;
    if (coef > 1.0f) coef = 1.0f;
    opt_task a = {.g = g, .n = n, .coef = coef};
    trit_pool_run(pool, scale_task, &a);
    return norm;
}

/* ==== AdamW ==== */

/* Elements [lo, hi), each float operation as in _single_tensor_adamw:
 * p.mul_(1 - lr*wd); m.lerp_(g, 1-b1) (= m + w*(g - m) for w < 0.5);
 * v.mul_(b2).addcmul_(g, g, value=1-b2); denom = sqrt(v)/sqrt(bc2) + eps;
 * p.addcdiv_(m, denom, value=-lr/bc1). */
static void adamw_task(void *arg, int ith, int nth) {
    opt_task *a = arg;
    int64_t lo, hi;
    trit_split((int64_t)a->n, ith, nth, 16, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        float g = a->grad[i];
        float p = a->p[i] * a->decay;
        float m = a->m[i] + a->one_b1 * (g - a->m[i]);
        float v = a->v[i] * a->b2 + a->one_b2 * g * g;
        float denom = sqrtf(v) / a->bc2_sqrt + a->eps;
        a->p[i] = p + a->neg_step * m / denom;
        a->m[i] = m;
        a->v[i] = v;
    }
}

/* See train_ops.h. Python-side scalars are computed in double and rounded
 * to float where torch converts them. */
void tr_adamw_update(trit_pool *pool, float *p, const float *g, float *m, float *v, size_t n, double lr,
                     double wd, double beta1, double beta2, double eps, int64_t t) {
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    opt_task a = {.grad = g, .p = p, .m = m, .v = v, .n = n,
                  .decay = (float)(1.0 - lr * wd), .one_b1 = (float)(1.0 - beta1),
                  .b2 = (float)beta2, .one_b2 = (float)(1.0 - beta2), .bc2_sqrt = (float)sqrt(bc2),
                  .eps = (float)eps, .neg_step = (float)(-(lr / bc1))};
    trit_pool_run(pool, adamw_task, &a);
}
