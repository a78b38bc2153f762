/*
 * trainer.c - the public trainer API (trit_train.h): creation, parameter
 * I/O by Hugging Face names, and the optimizer step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/safetensors.h"
#include "train/train_model.h"
#include "train/train_ops.h"

/* ======================================================================== */
/* Creation                                                                  */
/* ======================================================================== */

/* See trit_train.h. */
trit_train_params trit_train_default_params(void) {
    trit_train_params p;
    memset(&p, 0, sizeof p);
    p.quant = TRIT_QUANT_ABSMEAN;
    p.lambda = 1.0f;
    p.batch = 8;
    p.seq = 256;
    p.lr = 3e-3;
    p.min_lr = 3e-4;
    p.beta1 = 0.9;
    p.beta2 = 0.95;
    p.eps = 1e-8;
    p.weight_decay = 0.1;
    p.grad_clip = 1.0;
    p.warmup_steps = 100;
    p.total_steps = 1000;
    p.schedule = TRIT_SCHED_CONSTANT;
    p.stage2_scale = 0.5;
    p.n_threads = 0;
    return p;
}

/* Checks cfg and p; fills t->c. */
static trit_status check_config(const trit_train_config *cfg, const trit_train_params *p, tr_config *c,
                                trit_error *err) {
    if (cfg->vocab_size <= 0 || cfg->hidden_size <= 0 || cfg->intermediate_size <= 0 || cfg->n_layers <= 0 ||
        cfg->n_heads <= 0 || cfg->n_kv_heads <= 0)
        return trit_fail(err, TRIT_ERR_ARG, "model sizes must be positive (vocab %lld, hidden %lld, "
                         "intermediate %lld, layers %lld, heads %lld, kv heads %lld)",
                         (long long)cfg->vocab_size, (long long)cfg->hidden_size, (long long)cfg->intermediate_size,
                         (long long)cfg->n_layers, (long long)cfg->n_heads, (long long)cfg->n_kv_heads);
    if (cfg->hidden_size % cfg->n_heads || cfg->n_heads % cfg->n_kv_heads || (cfg->hidden_size / cfg->n_heads) % 2)
        return trit_fail(err, TRIT_ERR_ARG, "hidden size %lld must split into %lld heads of even size, and the "
                         "heads into %lld kv groups", (long long)cfg->hidden_size, (long long)cfg->n_heads,
                         (long long)cfg->n_kv_heads);
    if (cfg->vocab_size > INT32_MAX)
        return trit_fail(err, TRIT_ERR_ARG, "vocabulary of %lld ids does not fit int32", (long long)cfg->vocab_size);
    if (p->batch <= 0 || p->seq <= 0 || (cfg->max_position > 0 && p->seq > cfg->max_position))
        return trit_fail(err, TRIT_ERR_ARG, "batch %lld x sequence %lld: both must be positive and the sequence "
                         "at most max_position %lld", (long long)p->batch, (long long)p->seq,
                         (long long)cfg->max_position);
    if ((int)p->quant < 0 || p->quant > TRIT_QUANT_NONE || !(p->lambda >= 0.0f && p->lambda <= 1.0f))
        return trit_fail(err, TRIT_ERR_ARG, "unknown quantizer %d or lambda %g outside [0, 1]", (int)p->quant,
                         (double)p->lambda);
    if (p->lambda_ramp_steps < 0)
        return trit_fail(err, TRIT_ERR_ARG, "negative lambda ramp (%lld steps)", (long long)p->lambda_ramp_steps);
    if (!(p->lr >= 0) || !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) ||
        !(p->eps > 0) || !(p->weight_decay >= 0) || p->n_threads < 0 || !(cfg->rms_norm_eps > 0) ||
        !(cfg->rope_theta > 0))
        return trit_fail(err, TRIT_ERR_ARG, "invalid optimizer or model hyper-parameter (lr %g, betas %g %g, "
                         "eps %g, weight decay %g, threads %d, rms_norm_eps %g, rope_theta %g)", p->lr, p->beta1,
                         p->beta2, p->eps, p->weight_decay, p->n_threads, cfg->rms_norm_eps, cfg->rope_theta);
    /* a double-precision estimate of every buffer, so that no size_t product
     * below can overflow: parameters x 6 copies plus the saved activations
     * (attention: 2 floats per head and token) and the per-thread scratch */
    double L = (double)cfg->n_layers, D = (double)cfg->hidden_size, F = (double)cfg->intermediate_size;
    double V = (double)cfg->vocab_size, N = (double)p->batch * (double)p->seq, T = (double)p->seq;
    double nth = p->n_threads > 0 ? p->n_threads : trit_n_cpus(); /* per-thread scratch */
    double floats = 6.0 * (2 * V * D + L * (4 * D * D + 3 * D * F + 2 * D + F)) +
                    L * N * (8 * D + 6 * F) + 2 * L * N * (double)cfg->n_heads + 2 * N * V +
                    nth * (2.0 * TR_ATTN_RB * T + (double)TR_GEMM_SCRATCH);
    if (floats * 4.0 > 0x1p50)
        return trit_fail(err, TRIT_ERR_NOMEM, "model and batch need about %.3g bytes; use a smaller model or "
                         "batch", floats * 4.0);
    memset(c, 0, sizeof *c);
    c->V = cfg->vocab_size;
    c->D = cfg->hidden_size;
    c->F = cfg->intermediate_size;
    c->L = cfg->n_layers;
    c->H = cfg->n_heads;
    c->KV = cfg->n_kv_heads;
    c->hd = c->D / c->H;
    c->HD = c->H * c->hd;
    c->KVD = c->KV * c->hd;
    c->W = c->D > c->F ? c->D : c->F;
    c->W = c->HD > c->W ? c->HD : c->W;
    c->eps = (float)cfg->rms_norm_eps;
    c->theta = cfg->rope_theta;
    c->tied = cfg->tie_embeddings != 0;
    c->max_pos = cfg->max_position > 0 ? cfg->max_position : 0;
    return TRIT_OK;
}

/* See trit_train.h. */
trit_status trit_trainer_new(const trit_train_config *cfg, const trit_train_params *params, trit_trainer **out,
                             trit_error *err) {
    *out = NULL;
    trit_train_params p = params ? *params : trit_train_default_params();
    tr_config c;
    trit_status st = check_config(cfg, &p, &c, err);
    if (st != TRIT_OK) return st;
    trit_trainer *t = calloc(1, sizeof *t);
    if (!t) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    t->c = c;
    t->p = p;
    t->B = p.batch;
    t->T = p.seq;
    t->N = p.batch * p.seq;
    t->isa = trit_cpu_isa();
    t->pool = trit_pool_new(p.n_threads ? p.n_threads : trit_n_cpus());
    if (!t->pool || !tr_model_alloc(t)) {
        double mb = (double)t->n_params * 4.0 * 6.0 / 1048576.0;
        trit_trainer_free(t);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory allocating the trainer (%.1f MiB of parameter "
                         "state plus activations for %lld x %lld tokens); use a smaller batch or model",
                         mb, (long long)p.batch, (long long)p.seq);
    }
    *out = t;
    return TRIT_OK;
}

/* See trit_train.h. */
void trit_trainer_free(trit_trainer *t) {
    if (!t) return;
    tr_model_free(t);
    trit_pool_free(t->pool);
    free(t);
}

/* ======================================================================== */
/* Parameters                                                                */
/* ======================================================================== */

/* splitmix64: the next 64 random bits of *s. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A standard normal sample (Box-Muller). */
static double rng_normal(uint64_t *s) {
    double u1 = ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* See trit_train.h. Also resets the AdamW state and the step counter. */
void trit_trainer_init_random(trit_trainer *t, uint64_t seed, float std) {
    uint64_t s = seed;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        int64_t L, R, C;
        tr_param_shape(&t->c, i, &L, &R, &C);
        float *p = *tr_param_slot(&t->params, i);
        for (size_t j = 0; j < t->sizes[i]; j++) p[j] = C ? (float)(rng_normal(&s) * std) : 1.0f;
    }
    memset(t->adam_mem, 0, 2 * t->n_params * sizeof(float));
    t->step = 0;
}

/* See trit_train.h. */
trit_status trit_trainer_load(trit_trainer *t, const char *path, trit_error *err) {
    st_file *f = NULL;
    trit_status st = st_open(path, &f, err);
    if (st != TRIT_OK) return st;
    for (size_t i = 0; i < t->n_tensors; i++) {
        const st_tensor *x = st_find(f, t->names[i]);
        int64_t numel, R, C;
        float *dst = tr_tensor_view(t, &t->params, i, &numel, &R, &C);
        if (!x) {
            st = trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor %s is missing", path, t->names[i]);
            break;
        }
        int ok = C ? (x->ndim == 2 && x->shape[0] == R && x->shape[1] == C) : (x->ndim == 1 && x->shape[0] == R);
        if (!ok) {
            st = trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor %s has shape [%lld%s%lld], the config needs "
                           "[%lld%s%lld]", path, t->names[i], (long long)(x->ndim > 0 ? x->shape[0] : 0),
                           x->ndim > 1 ? ", " : "", (long long)(x->ndim > 1 ? x->shape[1] : 0), (long long)R,
                           C ? ", " : "", (long long)C);
            break;
        }
        if (!st_to_f32(x, dst)) {
            st = trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s; use F32, F16 or BF16", path,
                           t->names[i], st_dtype_name(x->dtype));
            break;
        }
        for (int64_t j = 0; j < numel; j++)
            if (!isfinite(dst[j])) {
                st = trit_fail(err, TRIT_ERR_VALUE, "%s: tensor %s holds a NaN or Inf at element %lld", path,
                               t->names[i], (long long)j);
                break;
            }
        if (st != TRIT_OK) break;
    }
    if (st == TRIT_OK && st_count(f) != t->n_tensors) {
        for (size_t i = 0; i < st_count(f); i++) {
            const char *name = st_get(f, i)->name;
            size_t j = 0;
            while (j < t->n_tensors && strcmp(t->names[j], name) != 0) j++;
            if (j == t->n_tensors) {
                st = trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor %s is not part of this model (check "
                               "tie_embeddings and the layer count)", path, name);
                break;
            }
        }
    }
    st_close(f);
    return st;
}

/* See trit_train.h. */
trit_status trit_trainer_save(const trit_trainer *t, const char *path, trit_error *err) {
    st_write_tensor *ts = calloc(t->n_tensors, sizeof *ts);
    if (!ts) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_tensors; i++) {
        int64_t numel, R, C;
        const float *src = tr_tensor_view(t, &t->params, i, &numel, &R, &C);
        ts[i].name = t->names[i];
        ts[i].dtype = ST_F32;
        ts[i].ndim = C ? 2 : 1;
        ts[i].shape[0] = R;
        ts[i].shape[1] = C;
        ts[i].data = src;
        ts[i].nbytes = (size_t)numel * sizeof(float);
    }
    trit_status st = st_write(path, ts, t->n_tensors, NULL, err);
    free(ts);
    return st;
}

/* See trit_train.h. */
size_t trit_trainer_n_tensors(const trit_trainer *t) { return t->n_tensors; }

/* See trit_train.h. */
const char *trit_trainer_tensor_name(const trit_trainer *t, size_t i) {
    return i < t->n_tensors ? t->names[i] : NULL;
}

/* Index of the tensor called name, or n_tensors. */
static size_t find_tensor(const trit_trainer *t, const char *name) {
    size_t i = 0;
    while (i < t->n_tensors && strcmp(t->names[i], name) != 0) i++;
    return i;
}

/* See trit_train.h. */
float *trit_trainer_param(trit_trainer *t, const char *name, int64_t *numel) {
    size_t i = find_tensor(t, name);
    return i < t->n_tensors ? tr_tensor_view(t, &t->params, i, numel, NULL, NULL) : NULL;
}

/* See trit_train.h. */
const float *trit_trainer_gradient(const trit_trainer *t, const char *name, int64_t *numel) {
    size_t i = find_tensor(t, name);
    return i < t->n_tensors ? tr_tensor_view(t, &t->grads, i, numel, NULL, NULL) : NULL;
}

/* See trit_train.h. */
int64_t trit_trainer_n_params(const trit_trainer *t) { return (int64_t)t->n_params; }

/* See trit_train.h. */
size_t trit_trainer_activation_bytes(const trit_trainer *t) { return t->n_acts * sizeof(float); }

/* ======================================================================== */
/* Training                                                                  */
/* ======================================================================== */

/* Splits a batch of B x (T+1) ids into t->inputs and t->targets. */
static trit_status set_batch(trit_trainer *t, const int32_t *ids, trit_error *err) {
    for (int64_t b = 0; b < t->B; b++)
        for (int64_t i = 0; i <= t->T; i++) {
            int32_t id = ids[b * (t->T + 1) + i];
            if (id < 0 || id >= t->c.V)
                return trit_fail(err, TRIT_ERR_VALUE, "token id %d (sequence %lld, position %lld) is outside the "
                                 "vocabulary 0..%lld", id, (long long)b, (long long)i, (long long)t->c.V - 1);
            if (i < t->T) t->inputs[b * t->T + i] = id;
            if (i > 0) t->targets[b * t->T + i - 1] = id;
        }
    return TRIT_OK;
}

/* See trit_train.h. */
trit_status trit_trainer_eval(trit_trainer *t, const int32_t *ids, float *loss, trit_error *err) {
    trit_status st = set_batch(t, ids, err);
    if (st != TRIT_OK) return st;
    *loss = (float)tr_model_forward(t);
    return TRIT_OK;
}

/* See trit_train.h. */
trit_status trit_trainer_logits(trit_trainer *t, const int32_t *ids, float *logits, trit_error *err) {
    for (int64_t n = 0; n < t->N; n++) {
        if (ids[n] < 0 || ids[n] >= t->c.V)
            return trit_fail(err, TRIT_ERR_VALUE, "token id %d (sequence %lld, position %lld) is outside the "
                             "vocabulary 0..%lld", ids[n], (long long)(n / t->T), (long long)(n % t->T),
                             (long long)t->c.V - 1);
        t->inputs[n] = ids[n];
    }
    tr_model_logits(t);
    memcpy(logits, t->acts.logits, (size_t)(t->N * t->c.V) * sizeof(float));
    return TRIT_OK;
}

/* See trit_train.h. */
trit_status trit_trainer_grad(trit_trainer *t, const int32_t *ids, float *loss, trit_error *err) {
    trit_status st = set_batch(t, ids, err);
    if (st != TRIT_OK) return st;
    *loss = (float)tr_model_forward(t);
    tr_model_backward(t);
    return TRIT_OK;
}

/* See trit_train.h. */
void trit_trainer_schedule(const trit_trainer *t, int64_t step, double *lr, double *weight_decay) {
    tr_schedule(&t->p, step, lr, weight_decay);
}

/* See trit_train.h. */
float trit_trainer_lambda(const trit_trainer *t, int64_t step) { return tr_lambda(&t->p, step); }

/* See trit_train.h. Weight decay goes to 2-D tensors only (embeddings,
 * linears, lm_head), as the reference's two parameter groups. */
trit_status trit_trainer_step(trit_trainer *t, const int32_t *ids, trit_train_stats *stats, trit_error *err) {
    float loss;
    trit_status st = trit_trainer_grad(t, ids, &loss, err);
    if (st != TRIT_OK) return st;
    double lr, wd;
    tr_schedule(&t->p, t->step, &lr, &wd);
    float norm = tr_clip_grad_norm(t->pool, t->grads_mem, t->n_params, t->p.grad_clip);
    if (stats) {
        stats->step = t->step + 1;
        stats->loss = loss;
        stats->grad_norm = norm;
        stats->lr = lr;
        stats->weight_decay = wd;
        stats->lambda = tr_lambda(&t->p, t->step);
    }
    if (!isfinite(loss) || !isfinite(norm))
        return trit_fail(err, TRIT_ERR_VALUE, "step %lld: loss %g, gradient norm %g; the step was skipped "
                         "(lower the learning rate or check the data)", (long long)t->step + 1, (double)loss,
                         (double)norm);
    t->step++;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        if (!t->sizes[i]) continue;
        int64_t C;
        tr_param_shape(&t->c, i, NULL, NULL, &C);
        tr_adamw_update(t->pool, *tr_param_slot(&t->params, i), *tr_param_slot(&t->grads, i),
                        *tr_param_slot(&t->m, i), *tr_param_slot(&t->v, i), t->sizes[i], lr, C ? wd : 0.0,
                        t->p.beta1, t->p.beta2, t->p.eps, t->step);
    }
    return TRIT_OK;
}
