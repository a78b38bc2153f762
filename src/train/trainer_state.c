/*
 * trainer_state.c - the parts of the trainer API (trit_train.h) that a
 * training loop needs beyond trit_trainer_step: the step counter and the
 * AdamW moments (for checkpoints), and the step split in two halves so that
 * a guard can look at the loss and the gradient norm before the update.
 *
 * trit_trainer_prepare + trit_trainer_apply perform the same operations in
 * the same order as trit_trainer_step (trainer.c), so a run made of them is
 * bit for bit the run trit_trainer_step makes.
 */
#include <math.h>
#include <string.h>
#include "train/train_model.h"
#include "train/train_ops.h"

/* ======================================================================== */
/* State                                                                     */
/* ======================================================================== */

/* See trit_train.h. */
int64_t trit_trainer_get_step(const trit_trainer *t) { return t->step; }

/* See trit_train.h. */
void trit_trainer_set_step(trit_trainer *t, int64_t step) { t->step = step < 0 ? 0 : step; }

/* See trit_train.h. The moments share the parameters' layout, so the view
 * of tensor i in t->m / t->v is the one of t->params. */
float *trit_trainer_moment(trit_trainer *t, const char *name, int which, int64_t *numel) {
    if (which != 0 && which != 1) return NULL;
    for (size_t i = 0; i < t->n_tensors; i++)
        if (strcmp(t->names[i], name) == 0) return tr_tensor_view(t, which ? &t->v : &t->m, i, numel, NULL, NULL);
    return NULL;
}

/* See trit_train.h. */
void trit_trainer_tensor_shape(const trit_trainer *t, size_t i, int64_t *rows, int64_t *cols) {
    int64_t numel, R = 0, C = 0;
    if (i < t->n_tensors) tr_tensor_view(t, &t->params, i, &numel, &R, &C);
    *rows = R;
    *cols = C;
}

/* See trit_train.h. */
int trit_trainer_params_finite(const trit_trainer *t) {
    const float *p = t->params_mem;
    int ok = 1;
    for (size_t i = 0; i < t->n_params; i++) ok &= isfinite(p[i]) != 0;
    return ok;
}

/* ======================================================================== */
/* The step in two halves                                                    */
/* ======================================================================== */

/* See trit_train.h. Mirrors the first half of trit_trainer_step. */
trit_status trit_trainer_prepare(trit_trainer *t, const int32_t *ids, trit_train_stats *stats, trit_error *err) {
    float loss;
    trit_status st = trit_trainer_grad(t, ids, &loss, err);
    if (st != TRIT_OK) return st;
    double lr, wd;
    tr_schedule(&t->p, t->step, &lr, &wd);
    float norm = tr_clip_grad_norm(t->pool, t->grads_mem, t->n_params, t->p.grad_clip);
    stats->step = t->step + 1;
    stats->loss = loss;
    stats->grad_norm = norm;
    stats->lr = lr;
    stats->weight_decay = wd;
    stats->lambda = tr_lambda(&t->p, t->step);
    if (!isfinite(loss) || !isfinite(norm))
        return trit_fail(err, TRIT_ERR_VALUE, "step %lld: loss %g, gradient norm %g (not finite)",
                         (long long)t->step + 1, (double)loss, (double)norm);
    return TRIT_OK;
}

/* See trit_train.h. Mirrors the second half of trit_trainer_step. */
void trit_trainer_apply(trit_trainer *t) {
    double lr, wd;
    tr_schedule(&t->p, t->step, &lr, &wd);
    t->step++;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        if (!t->sizes[i]) continue;
        int64_t C;
        tr_param_shape(&t->c, i, NULL, NULL, &C);
        tr_adamw_update(t->pool, *tr_param_slot(&t->params, i), *tr_param_slot(&t->grads, i),
                        *tr_param_slot(&t->m, i), *tr_param_slot(&t->v, i), t->sizes[i], lr, C ? wd : 0.0,
                        t->p.beta1, t->p.beta2, t->p.eps, t->step);
    }
}
