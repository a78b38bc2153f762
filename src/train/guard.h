/*
 * guard.h - the spike guard of the training loop: a step whose loss or
 * gradient norm is not finite, or exceeds `factor` times the median of the
 * recent accepted steps, is skipped (not applied). The loop stops after too
 * many consecutive skips. The whole state is plain data, saved in the
 * checkpoint so that a resumed run decides exactly as the uninterrupted one.
 */
#ifndef TRIT_TRAIN_GUARD_H
#define TRIT_TRAIN_GUARD_H

#include <stdint.h>

#define TG_WINDOW 32      /* accepted steps the medians look at              */
#define TG_MIN_HISTORY 8  /* spikes are judged once this many steps are held */

typedef enum {
    TG_ACCEPT = 0,        /* apply the step                                  */
    TG_NONFINITE,         /* loss or gradient norm is NaN or Inf             */
    TG_LOSS_SPIKE,        /* loss > factor * median loss                     */
    TG_NORM_SPIKE         /* gradient norm > factor * median gradient norm   */
} tg_verdict;

typedef struct {
    double factor;               /* <= 0: only non-finite values are skipped */
    int n, pos;                  /* values held (<= TG_WINDOW), next slot    */
    float loss[TG_WINDOW], norm[TG_WINDOW];
    int64_t skipped;             /* steps skipped in the whole run           */
    int64_t consecutive;         /* skipped since the last accepted step     */
} tg_guard;

/* An empty guard with the given spike factor. */
void tg_init(tg_guard *g, double factor);

/* The verdict on a step with this loss and gradient norm; *median (if not
 * NULL) receives the median the value was compared with (0 if none). */
tg_verdict tg_check(const tg_guard *g, float loss, float grad_norm, float *median);

/* Records an accepted step (its values join the window). */
void tg_accept(tg_guard *g, float loss, float grad_norm);

/* Records a skipped step. */
void tg_reject(tg_guard *g);

/* Short description of a verdict ("loss spike", ...). */
const char *tg_verdict_str(tg_verdict v);

#endif /* TRIT_TRAIN_GUARD_H */
