/*
 * guard.c - the loss / gradient-norm spike guard (guard.h).
 */
#include <math.h>
#include <string.h>
#include "train/guard.h"

/* ======================================================================== */
/* Median                                                                    */
/* ======================================================================== */

/* Median of v[0..n) (n >= 1; mean of the two middle values for even n). */
static float median_of(const float *v, int n) {
    float s[TG_WINDOW];
    memcpy(s, v, (size_t)n * sizeof *s);
    for (int i = 1; i < n; i++) { /* insertion sort: n <= 32 */
        float x = s[i];
        int j = i - 1;
        while (j >= 0 && s[j] > x) {
            s[j + 1] = s[j];
            j--;
        }
        s[j + 1] = x;
    }
    return n % 2 ? s[n / 2] : 0.5f * (s[n / 2 - 1] + s[n / 2]);
}

/* ======================================================================== */
/* Guard                                                                     */
/* ======================================================================== */

/* See guard.h. */
void tg_init(tg_guard *g, double factor) {
    memset(g, 0, sizeof *g);
    g->factor = factor;
}

/* See guard.h. */
tg_verdict tg_check(const tg_guard *g, float loss, float grad_norm, float *median) {
    if (median) *median = 0.0f;
    if (!isfinite(loss) || !isfinite(grad_norm)) return TG_NONFINITE;
    if (g->factor <= 0 || g->n < TG_MIN_HISTORY) return TG_ACCEPT;
    float ml = median_of(g->loss, g->n), mn = median_of(g->norm, g->n);
    if ((double)loss > g->factor * (double)ml) {
        if (median) *median = ml;
        return TG_LOSS_SPIKE;
    }
    if ((double)grad_norm > g->factor * (double)mn) {
        if (median) *median = mn;
        return TG_NORM_SPIKE;
    }
    return TG_ACCEPT;
}

/* See guard.h. */
void tg_accept(tg_guard *g, float loss, float grad_norm) {
    g->loss[g->pos] = loss;
    g->norm[g->pos] = grad_norm;
    g->pos = (g->pos + 1) % TG_WINDOW;
    if (g->n < TG_WINDOW) g->n++;
    g->consecutive = 0;
}

/* See guard.h. */
void tg_reject(tg_guard *g) {
    g->skipped++;
    g->consecutive++;
}

/* See guard.h. */
const char *tg_verdict_str(tg_verdict v) {
    switch (v) {
    case TG_ACCEPT: return "accepted";
    case TG_NONFINITE: return "non-finite loss or gradient norm";
    case TG_LOSS_SPIKE: return "loss spike";
    case TG_NORM_SPIKE: return "gradient-norm spike";
    }
    return "?";
}
