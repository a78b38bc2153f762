/*
 * rope.c - rotary position embedding, rotate-half ("NeoX") layout: the pair
 * (x[i], x[i + hd/2]) is rotated by pos * inv_freq[i].
 */
#include <math.h>
#include "train/train_ops.h"

/* ==== tables ==== */

/* See train_ops.h. As the reference: inv = 1 / theta ** (arange(0, hd, 2) / hd)
 * in float32, angle = float(pos) * inv in float32, cos/sin rounded to float. */
void tr_rope_tables(float *cos_t, float *sin_t, int64_t T, int64_t hd, double theta) {
    int64_t half = hd / 2;
    for (int64_t i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)hd;
        float inv = 1.0f / (float)pow((double)(float)theta, (double)e);
        for (int64_t t = 0; t < T; t++) {
            float ang = (float)t * inv;
            cos_t[t * half + i] = (float)cos((double)ang);
            sin_t[t * half + i] = (float)sin((double)ang);
        }
    }
}

/* ==== forward / backward ==== */

typedef struct {
    float *x;
    const float *cos_t, *sin_t;
    int64_t B, T, nh, hd;
    int inverse;
} rope_task;

/* Tokens [lo, hi). Forward: (a, b) -> (a c - b s, b c + a s), the float
 * order of x*cos + cat(-x2, x1)*sin. Backward applies the transpose:
 * (da, db) -> (da c + db s, db c - da s). */
static void rope_task_fn(void *arg, int ith, int nth) {
    rope_task *r = arg;
    int64_t lo, hi, half = r->hd / 2;
    trit_split(r->B * r->T, ith, nth, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *c = r->cos_t + (n % r->T) * half, *s = r->sin_t + (n % r->T) * half;
        for (int64_t h = 0; h < r->nh; h++) {
            float *x = r->x + (n * r->nh + h) * r->hd;
            for (int64_t i = 0; i < half; i++) {
                float a = x[i], b = x[i + half];
                if (!r->inverse) {
                    x[i] = a * c[i] - b * s[i];
                    x[i + half] = b * c[i] + a * s[i];
                } else {
                    x[i] = a * c[i] + b * s[i];
                    x[i + half] = b * c[i] - a * s[i];
                }
            }
        }
    }
}

/* See train_ops.h. */
void tr_rope_forward(trit_pool *pool, float *x, const float *cos_t, const float *sin_t, int64_t B, int64_t T,
                     int64_t nh, int64_t hd) {
    rope_task r = {.x = x, .cos_t = cos_t, .sin_t = sin_t, .B = B, .T = T, .nh = nh, .hd = hd, .inverse = 0};
    trit_pool_run(pool, rope_task_fn, &r);
}

/* See train_ops.h. */
void tr_rope_backward(trit_pool *pool, float *dx, const float *cos_t, const float *sin_t, int64_t B, int64_t T,
                      int64_t nh, int64_t hd) {
    rope_task r = {.x = dx, .cos_t = cos_t, .sin_t = sin_t, .B = B, .T = T, .nh = nh, .hd = hd, .inverse = 1};
    trit_pool_run(pool, rope_task_fn, &r);
}
