/*
 * loss.c - softmax cross-entropy over the vocabulary, mean over tokens
 * (F.cross_entropy with the default reduction).
 */

/* The exponential loops vectorize only when comparisons are known not to
 * trap (trit never enables floating-point traps); results are unchanged.
 * (Set before the includes, so that the headers' inline helpers get the
 * same options and are inlined.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include "train/train_ops.h"

typedef struct {
    float *losses, *probs, *dlogits;
    const float *logits, *probs_in;
    const int32_t *targets;
    int64_t N, V;
    float dloss;
} ce_task;

/* ==== forward ==== */

/* Tokens [lo, hi): e_i = exp(x_i - max) in float (tr_expf), summed in
 * double; loss = max + log(sum) - x[target]; probs = e_i / sum (probs may
 * be the logits themselves: x[target] is read first). */
static void ce_fwd_task(void *arg, int ith, int nth) {
    ce_task *a = arg;
    int64_t lo, hi;
    trit_split(a->N, ith, nth, 1, &lo, &hi);
    const int64_t V = a->V;
    for (int64_t n = lo; n < hi; n++) {
        const float *x = a->logits + n * V;
        float *p = a->probs + n * V;
        float mx = -INFINITY;
        for (int64_t i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
        const float xt = x[a->targets[n]];
        double sum = 0;
        for (int64_t i = 0; i < V; i++) p[i] = tr_expf(x[i] - mx);
        for (int64_t i = 0; i < V; i++) sum += (double)p[i];
        a->losses[n] = (float)((double)mx + log(sum) - (double)xt);
        const float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < V; i++) p[i] *= inv;
    }
}

/* See train_ops.h. The mean is taken in double over the float losses. */
double tr_crossentropy_forward(trit_pool *pool, float *losses, float *probs, const float *logits,
                               const int32_t *targets, int64_t N, int64_t V) {
    ce_task a = {.losses = losses, .probs = probs, .logits = logits, .targets = targets, .N = N, .V = V};
    trit_pool_run(pool, ce_fwd_task, &a);
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += losses[n];
    return s / (double)N;
}

/* ==== backward ==== */

/* Tokens [lo, hi): d logits = p * dloss - onehot * dloss (torch's order). */
static void ce_bwd_task(void *arg, int ith, int nth) {
    ce_task *a = arg;
    int64_t lo, hi;
    trit_split(a->N, ith, nth, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *p = a->probs_in + n * a->V;
        float *d = a->dlogits + n * a->V;
        int32_t tg = a->targets[n];
        if (d == p) {
            for (int64_t i = 0; i < a->V; i++) d[i] = p[i] * a->dloss - (i == tg ? a->dloss : 0.0f);
        } else {
            for (int64_t i = 0; i < a->V; i++) d[i] += p[i] * a->dloss - (i == tg ? a->dloss : 0.0f);
        }
    }
}

/* See train_ops.h. */
void tr_crossentropy_backward(trit_pool *pool, float *dlogits, const float *probs, const int32_t *targets,
                              int64_t N, int64_t V, float dloss) {
    ce_task a = {.dlogits = dlogits, .probs_in = probs, .targets = targets, .N = N, .V = V, .dloss = dloss};
    trit_pool_run(pool, ce_bwd_task, &a);
}
