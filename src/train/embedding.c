/*
 * embedding.c - token embedding lookup and its scatter-add backward.
 */
#include <string.h>
#include "train/train_ops.h"

/* ==== forward ==== */

typedef struct {
    float *out;
    const int32_t *ids;
    const float *wte;
    float *dwte;
    const float *dout;
    int64_t N, D;
} embed_task;

/* Copies the embedding rows of tokens [lo, hi). */
static void embed_fwd_task(void *arg, int ith, int nth) {
    embed_task *a = arg;
    int64_t lo, hi;
    trit_split(a->N, ith, nth, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++)
        memcpy(a->out + n * a->D, a->wte + (int64_t)a->ids[n] * a->D, (size_t)a->D * sizeof(float));
}

/* See train_ops.h. */
void tr_embedding_forward(trit_pool *pool, float *out, const int32_t *ids, const float *wte, int64_t N,
                          int64_t D) {
    embed_task a = {.out = out, .ids = ids, .wte = wte, .N = N, .D = D};
    trit_pool_run(pool, embed_fwd_task, &a);
}

/* ==== backward ==== */

/* Each thread owns the columns [lo, hi) of every row, so tokens sharing an id
 * are added in token order whatever the thread count. */
static void embed_bwd_task(void *arg, int ith, int nth) {
    embed_task *a = arg;
    int64_t lo, hi;
    trit_split(a->D, ith, nth, 16, &lo, &hi);
    for (int64_t n = 0; n < a->N; n++) {
        float *dst = a->dwte + (int64_t)a->ids[n] * a->D;
        const float *src = a->dout + n * a->D;
        for (int64_t i = lo; i < hi; i++) dst[i] += src[i];
    }
}

/* See train_ops.h. */
void tr_embedding_backward(trit_pool *pool, float *dwte, const float *dout, const int32_t *ids, int64_t N,
                           int64_t D) {
    embed_task a = {.ids = ids, .dwte = dwte, .dout = dout, .N = N, .D = D};
    trit_pool_run(pool, embed_bwd_task, &a);
}
