/*
 * test_train.c - parity of trit's trainer with the PyTorch reference in
 * tests/fixtures/train (made by scripts/make_train_fixtures.py).
 *
 * Per quantizer (absmean, absmedian, binary, none), from init.safetensors:
 *   - loss of batch 0 within 1e-5 relative of reference.json "loss0";
 *   - every parameter's gradient within 1e-4 (max |diff| / max |ref| of the
 *     tensor) of grads.safetensors;
 *   - 20 AdamW steps (batch k = batches[k % n]): each loss within 1e-5
 *     relative of "losses", and the final parameters within 1e-4 of
 *     final.safetensors.
 * Also: 1 and 2 threads agree, and so do the kernel levels (bit for bit);
 * lambda = 0 trains exactly like `none`; tied embeddings get the sum of
 * the embedding and lm_head gradients; the schedules give the documented
 * values; bad ids / mismatched checkpoints are refused.
 * Long sequences: the attention op at T = 520 against a plain O(T^2)
 * double-precision reference (every kernel level, 1 and 2 threads, bit for
 * bit), and the trainer's activation memory is linear in T (T = 256, 512,
 * 1024, a step at T = 1024 runs).
 */
#include <stdint.h>
#include "tt.h"
#include "trit_train.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "train/train_ops.h"
#include "trit.h"

#define LOSS_TOL 1e-5
#define GRAD_TOL 1e-4
#define PARAM_TOL 1e-4

static const char *QUANTS[] = {"absmean", "absmedian", "binary", "none", "absmean_tied", "absmean_lam05"};
#define N_QUANTS (sizeof QUANTS / sizeof QUANTS[0])

/* ==== fixtures ==== */

typedef struct {
    char dir[256];
    json_doc *doc;
    const json_value *root;
    trit_train_config cfg;
    trit_train_params p;
    int n_batches;
    int32_t *batches; /* [n_batches][batch][seq+1] */
    int64_t steps;
} fixture;

/* Loads reference.json of fixture q into fx; 0 on failure. */
static int load_fixture(const char *q, fixture *fx) {
    char path[512], eb[256];
    size_t len;
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, TT_FIXTURES "/train/%s", q);
    snprintf(path, sizeof path, "%s/reference.json", fx->dir);
    char *text = json_read_file(path, &len, eb, sizeof eb);
    CHECK(text != NULL, "%s", eb);
    if (!text) return 0;
    fx->doc = json_parse(text, len, eb, sizeof eb);
    free(text);
    CHECK(fx->doc != NULL, "%s: %s", path, eb);
    if (!fx->doc) return 0;
    const json_value *r = fx->root = json_root(fx->doc), *c = json_get(r, "config");
    fx->cfg.vocab_size = json_get_int(c, "vocab_size", 0);
    fx->cfg.hidden_size = json_get_int(c, "hidden_size", 0);
    fx->cfg.intermediate_size = json_get_int(c, "intermediate_size", 0);
    fx->cfg.n_layers = json_get_int(c, "num_hidden_layers", 0);
    fx->cfg.n_heads = json_get_int(c, "num_attention_heads", 0);
    fx->cfg.n_kv_heads = json_get_int(c, "num_key_value_heads", 0);
    fx->cfg.max_position = json_get_int(c, "max_position_embeddings", 0);
    fx->cfg.rope_theta = json_get_num(c, "rope_theta", 10000.0);
    fx->cfg.rms_norm_eps = json_get_num(c, "rms_norm_eps", 1e-5);
    fx->cfg.tie_embeddings = json_get_bool(c, "tie_word_embeddings", 0);
    trit_train_params *p = &fx->p;
    *p = trit_train_default_params();
    const char *quant = json_get_str(r, "quant", "");
    p->quant = !strcmp(quant, "absmean") ? TRIT_QUANT_ABSMEAN : !strcmp(quant, "absmedian") ? TRIT_QUANT_ABSMEDIAN
             : !strcmp(quant, "binary") ? TRIT_QUANT_BINARY : TRIT_QUANT_NONE;
    p->lambda = (float)json_get_num(r, "lambda", 1.0);
    p->batch = json_get_int(r, "batch", 0);
    p->seq = json_get_int(r, "seq", 0);
    p->lr = json_get_num(r, "lr", 0);
    p->warmup_steps = json_get_int(r, "warmup", 0);
    p->weight_decay = json_get_num(r, "weight_decay", 0);
    p->grad_clip = json_get_num(r, "clip", 0);
    json_num(json_at(json_get(r, "betas"), 0), &p->beta1);
    json_num(json_at(json_get(r, "betas"), 1), &p->beta2);
    p->eps = json_get_num(r, "eps", 0);
    p->schedule = TRIT_SCHED_CONSTANT;
    fx->steps = json_get_int(r, "steps", 0);
    p->total_steps = fx->steps;
    const json_value *bs = json_get(r, "batches");
    fx->n_batches = (int)json_len(bs);
    int64_t per = p->batch * (p->seq + 1);
    fx->batches = calloc((size_t)(fx->n_batches * per + 1), sizeof(int32_t));
    for (int k = 0; k < fx->n_batches; k++)
        for (int64_t b = 0; b < p->batch; b++)
            for (int64_t i = 0; i <= p->seq; i++) {
                int64_t v = -1;
                json_int(json_at(json_at(json_at(bs, (size_t)k), (size_t)b), (size_t)i), &v);
                fx->batches[k * per + b * (p->seq + 1) + i] = (int32_t)v;
            }
    CHECK(fx->n_batches > 0 && fx->steps > 0 && p->batch > 0, "%s: incomplete reference", path);
    return fx->n_batches > 0 && fx->steps > 0 && p->batch > 0;
}

static void free_fixture(fixture *fx) {
    json_free(fx->doc);
    free(fx->batches);
}

static const int32_t *batch_of(const fixture *fx, int64_t step) {
    return fx->batches + (step % fx->n_batches) * fx->p.batch * (fx->p.seq + 1);
}

/* A trainer with fx's settings and n_threads, loaded from init.safetensors. */
static trit_trainer *new_trainer(const fixture *fx, int n_threads) {
    trit_train_params p = fx->p;
    p.n_threads = n_threads;
    trit_trainer *t = NULL;
    trit_error err = {0};
    trit_status st = trit_trainer_new(&fx->cfg, &p, &t, &err);
    CHECK(st == TRIT_OK, "%s: %s", fx->dir, err.msg);
    if (st != TRIT_OK) return NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/init.safetensors", fx->dir);
    st = trit_trainer_load(t, path, &err);
    CHECK(st == TRIT_OK, "%s", err.msg);
    if (st != TRIT_OK) {
        trit_trainer_free(t);
        return NULL;
    }
    return t;
}

/* ==== comparisons ==== */

/* max |a-b| / max |b| over n values (NaN gives infinity). */
static double rel_err(const float *a, const float *b, int64_t n) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (!(x <= d)) d = x;
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    if (d != d) return INFINITY;
    return m > 0 ? d / m : d;
}

/* Compares every tensor of the trainer (parameters or gradients) with the
 * file; checks each against tol and returns the worst relative error, its
 * tensor name in worst_name. */
static double compare_all(trit_trainer *t, const char *path, int grads, double tol, char *worst_name,
                          size_t wn) {
    st_file *f = NULL;
    trit_error err = {0};
    CHECK(st_open(path, &f, &err) == TRIT_OK, "%s", err.msg);
    if (!f) return INFINITY;
    double worst = 0;
    snprintf(worst_name, wn, "-");
    CHECK(st_count(f) == trit_trainer_n_tensors(t), "%s: %zu tensors, trainer has %zu", path, st_count(f),
          trit_trainer_n_tensors(t));
    for (size_t i = 0; i < trit_trainer_n_tensors(t); i++) {
        const char *name = trit_trainer_tensor_name(t, i);
        const st_tensor *x = st_find(f, name);
        int64_t n = 0;
        const float *got = grads ? trit_trainer_gradient(t, name, &n) : trit_trainer_param(t, name, &n);
        CHECK(x && x->dtype == ST_F32 && x->numel == n, "%s: tensor %s missing or of another size", path, name);
        if (!x || x->dtype != ST_F32 || x->numel != n) continue;
        float *ref = malloc((size_t)n * sizeof(float));
        memcpy(ref, x->data, (size_t)n * sizeof(float));
        double e = rel_err(got, ref, n);
        free(ref);
        CHECK(e <= tol, "%s: %s %s rel err %.3g > %g", path, grads ? "gradient of" : "parameter", name, e, tol);
        if (!(e <= worst)) {
            worst = e;
            snprintf(worst_name, wn, "%s", name);
        }
    }
    st_close(f);
    return worst;
}

/* ==== tests ==== */

/* Loss and every gradient of batch 0, then 20 AdamW steps, per quantizer. */
static void test_parity_with_pytorch(void) {
    for (size_t qi = 0; qi < N_QUANTS; qi++) {
        fixture fx;
        if (!load_fixture(QUANTS[qi], &fx)) continue;
        trit_trainer *t = new_trainer(&fx, 2);
        if (!t) {
            free_fixture(&fx);
            continue;
        }
        char path[512], gname[128], pname[128];
        trit_error err = {0};
        float loss = NAN;
        CHECK(trit_trainer_grad(t, batch_of(&fx, 0), &loss, &err) == TRIT_OK, "%s", err.msg);
        double ref0 = json_get_num(fx.root, "loss0", 0);
        double loss_rel = fabs(loss - ref0) / fabs(ref0);
        CHECK(loss_rel <= LOSS_TOL, "%s: loss0 %.9g vs %.9g (rel %.3g)", QUANTS[qi], loss, ref0, loss_rel);
        snprintf(path, sizeof path, "%s/grads.safetensors", fx.dir);
        double grad_rel = compare_all(t, path, 1, GRAD_TOL, gname, sizeof gname);
        trit_trainer_free(t);

        /* 20 steps from the initial parameters */
        t = new_trainer(&fx, 2);
        if (!t) {
            free_fixture(&fx);
            continue;
        }
        const json_value *losses = json_get(fx.root, "losses"), *norms = json_get(fx.root, "grad_norms");
        double worst_step = 0, worst_norm = 0;
        int64_t worst_at = 0;
        for (int64_t s = 0; s < fx.steps; s++) {
            trit_train_stats stt;
            trit_status st = trit_trainer_step(t, batch_of(&fx, s), &stt, &err);
            CHECK(st == TRIT_OK, "%s step %lld: %s", QUANTS[qi], (long long)s, err.msg);
            double ref = NAN, rn = NAN;
            json_num(json_at(losses, (size_t)s), &ref);
            json_num(json_at(norms, (size_t)s), &rn);
            double e = fabs(stt.loss - ref) / fabs(ref), en = fabs(stt.grad_norm - rn) / fabs(rn);
            CHECK(e <= LOSS_TOL, "%s step %lld: loss %.9g vs %.9g (rel %.3g)", QUANTS[qi], (long long)s,
                  stt.loss, ref, e);
            if (!(e <= worst_step)) {
                worst_step = e;
                worst_at = s;
            }
            if (!(en <= worst_norm)) worst_norm = en;
        }
        snprintf(path, sizeof path, "%s/final.safetensors", fx.dir);
        double final_rel = compare_all(t, path, 0, PARAM_TOL, pname, sizeof pname);
        printf("  %-13s loss0 rel %.2e | grads worst rel %.2e (%s) | %lld-step losses worst rel %.2e (step %lld), "
               "grad norms %.2e | final params worst rel %.2e (%s)\n",
               QUANTS[qi], loss_rel, grad_rel, gname, (long long)fx.steps, worst_step, (long long)worst_at,
               worst_norm, final_rel, pname);
        trit_trainer_free(t);
        free_fixture(&fx);
    }
}

/* Five steps with 1 and with 2 threads give the same parameters. */
static void test_threads_agree(void) {
    const char *qs[] = {"absmedian", "binary"};
    for (size_t qi = 0; qi < 2; qi++) {
        fixture fx;
        if (!load_fixture(qs[qi], &fx)) continue;
        trit_trainer *a = new_trainer(&fx, 1), *b = new_trainer(&fx, 2);
        trit_error err = {0};
        for (int64_t s = 0; a && b && s < 5; s++) {
            CHECK(trit_trainer_step(a, batch_of(&fx, s), NULL, &err) == TRIT_OK, "%s", err.msg);
            CHECK(trit_trainer_step(b, batch_of(&fx, s), NULL, &err) == TRIT_OK, "%s", err.msg);
        }
        double worst = 0;
        int identical = 1;
        for (size_t i = 0; a && b && i < trit_trainer_n_tensors(a); i++) {
            const char *name = trit_trainer_tensor_name(a, i);
            int64_t n = 0, m = 0;
            const float *pa = trit_trainer_param(a, name, &n), *pb = trit_trainer_param(b, name, &m);
            CHECK(n == m, "%s sizes differ", name);
            double e = rel_err(pa, pb, n);
            worst = e > worst ? e : worst;
            identical &= memcmp(pa, pb, (size_t)n * sizeof(float)) == 0;
        }
        CHECK(worst <= 1e-6, "%s: 1 vs 2 threads differ by %.3g", qs[qi], worst);
        printf("  %-9s 1 vs 2 threads: worst rel %.2e (%s)\n", qs[qi], worst,
               identical ? "bit-identical" : "not bit-identical");
        trit_trainer_free(a);
        trit_trainer_free(b);
        free_fixture(&fx);
    }
}

/* Runs `steps` steps of fixture q with quantizer kind / lambda under the
 * kernel level `isa` ("" = best); returns the trainer (caller frees). */
static trit_trainer *run_steps(const fixture *fx, trit_quant kind, float lambda, const char *isa, int steps) {
    trit_train_params p = fx->p;
    p.quant = kind;
    p.lambda = lambda;
    p.n_threads = 2;
    if (*isa) setenv("TRIT_ISA", isa, 1);
    trit_trainer *t = NULL;
    trit_error err = {0};
    trit_status st = trit_trainer_new(&fx->cfg, &p, &t, &err);
    unsetenv("TRIT_ISA");
    CHECK(st == TRIT_OK, "%s", err.msg);
    if (!t) return NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/init.safetensors", fx->dir);
    CHECK(trit_trainer_load(t, path, &err) == TRIT_OK, "%s", err.msg);
    for (int s = 0; s < steps; s++)
        CHECK(trit_trainer_step(t, batch_of(fx, s), NULL, &err) == TRIT_OK, "%s", err.msg);
    return t;
}

/* 1 if every parameter of a and b is bit-identical. */
static int same_params(trit_trainer *a, trit_trainer *b) {
    int same = a && b && trit_trainer_n_tensors(a) == trit_trainer_n_tensors(b);
    for (size_t i = 0; same && i < trit_trainer_n_tensors(a); i++) {
        const char *name = trit_trainer_tensor_name(a, i);
        int64_t n = 0, m = 0;
        const float *pa = trit_trainer_param(a, name, &n), *pb = trit_trainer_param(b, name, &m);
        same = n == m && memcmp(pa, pb, (size_t)n * sizeof(float)) == 0;
    }
    return same;
}

/* The matrix kernel computes every element as one float FMA chain in a
 * fixed order (fmaf in the scalar reference, vfmadd in AVX2 / AVX-512) and
 * the integer forward uses the bit-identical ternary kernels: every kernel
 * level gives the same bits. */
static void test_isa_levels_agree(void) {
    fixture fx;
    if (!load_fixture("absmean", &fx)) return;
    trit_trainer *best = run_steps(&fx, fx.p.quant, 1.0f, "", 3);
    const char *levels[] = {"avx2", "scalar"};
    for (int i = 0; i < 2; i++) {
        trit_trainer *t = run_steps(&fx, fx.p.quant, 1.0f, levels[i], 3);
        CHECK(same_params(best, t), "%s differs from %s after 3 steps", levels[i], trit_isa_name());
        trit_trainer_free(t);
    }
    trit_trainer_free(best);
    free_fixture(&fx);
}

/* Strength 0 is full precision: with lambda = 0 every quantizer trains
 * exactly (bit for bit) like `none`, which matches its PyTorch reference. */
static void test_lambda_zero_is_none(void) {
    fixture fx;
    if (!load_fixture("none", &fx)) return;
    trit_trainer *ref = run_steps(&fx, TRIT_QUANT_NONE, 1.0f, "", 4);
    const trit_quant kinds[] = {TRIT_QUANT_ABSMEAN, TRIT_QUANT_ABSMEDIAN, TRIT_QUANT_BINARY};
    for (int i = 0; i < 3; i++) {
        trit_trainer *t = run_steps(&fx, kinds[i], 0.0f, "", 4);
        CHECK(same_params(ref, t), "quantizer %d with lambda 0 differs from none", (int)kinds[i]);
        trit_trainer_free(t);
    }
    trit_trainer_free(ref);
    /* the ramp: 0 at step 0, half way at ramp/2, full from the ramp on */
    trit_train_params p = fx.p;
    p.lambda = 1.0f;
    p.lambda_ramp_steps = 10;
    trit_trainer *t = NULL;
    trit_error err = {0};
    CHECK(trit_trainer_new(&fx.cfg, &p, &t, &err) == TRIT_OK, "%s", err.msg);
    if (t) {
        CHECK_NEAR(trit_trainer_lambda(t, 0), 0.0, 0, "lambda at step 0");
        CHECK_NEAR(trit_trainer_lambda(t, 5), 0.5, 1e-7, "lambda at step 5");
        CHECK_NEAR(trit_trainer_lambda(t, 10), 1.0, 0, "lambda at step 10");
        CHECK_NEAR(trit_trainer_lambda(t, 99), 1.0, 0, "lambda at step 99");
        trit_trainer_free(t);
    }
    free_fixture(&fx);
}

/* Tied embeddings (not in the fixtures) against the untied model with
 * lm_head = embed: same loss, and the tied gradient is the sum of the two. */
static void test_tied_equals_untied_sum(void) {
    fixture fx;
    if (!load_fixture("absmean", &fx)) return;
    trit_trainer *u = new_trainer(&fx, 2), *t = NULL;
    trit_train_config cfg = fx.cfg;
    cfg.tie_embeddings = 1;
    trit_train_params p = fx.p;
    p.n_threads = 2;
    trit_error err = {0};
    CHECK(trit_trainer_new(&cfg, &p, &t, &err) == TRIT_OK, "%s", err.msg);
    if (u && t) {
        int64_t n = 0, m = 0;
        float *ue = trit_trainer_param(u, "model.embed_tokens.weight", &n);
        memcpy(trit_trainer_param(u, "lm_head.weight", &m), ue, (size_t)n * sizeof(float));
        CHECK(trit_trainer_param(t, "lm_head.weight", NULL) == NULL, "a tied model has no lm_head tensor");
        for (size_t i = 0; i < trit_trainer_n_tensors(t); i++) {
            const char *name = trit_trainer_tensor_name(t, i);
            float *dst = trit_trainer_param(t, name, &m);
            const float *src = trit_trainer_param(u, name, &n);
            if (src && n == m) memcpy(dst, src, (size_t)n * sizeof(float));
        }
        float lu = 0, lt = 1;
        CHECK(trit_trainer_grad(u, batch_of(&fx, 0), &lu, &err) == TRIT_OK, "%s", err.msg);
        CHECK(trit_trainer_grad(t, batch_of(&fx, 0), &lt, &err) == TRIT_OK, "%s", err.msg);
        CHECK(lu == lt, "tied loss %.9g vs untied %.9g", lt, lu);
        const float *ge = trit_trainer_gradient(u, "model.embed_tokens.weight", &n);
        const float *gh = trit_trainer_gradient(u, "lm_head.weight", &m);
        const float *gt = trit_trainer_gradient(t, "model.embed_tokens.weight", &m);
        float *sum = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) sum[i] = ge[i] + gh[i];
        double e = rel_err(gt, sum, n);
        CHECK(e <= 1e-6, "tied embedding gradient vs embed + lm_head gradients: rel %.3g", e);
        free(sum);
        for (size_t i = 1; i < trit_trainer_n_tensors(t); i++) { /* every other gradient is the same */
            const char *name = trit_trainer_tensor_name(t, i);
            const float *a = trit_trainer_gradient(t, name, &m), *b = trit_trainer_gradient(u, name, &n);
            CHECK(n == m && rel_err(a, b, n) == 0, "%s gradient differs between tied and untied", name);
        }
    }
    trit_trainer_free(t);
    trit_trainer_free(u);
    free_fixture(&fx);
}

/* Warmup, constant, two-stage and cosine schedules at chosen steps. */
static void test_schedules(void) {
    trit_train_config cfg = {64, 32, 64, 1, 4, 2, 64, 10000.0, 1e-5, 1};
    trit_train_params p = trit_train_default_params();
    p.batch = 1;
    p.seq = 4;
    p.n_threads = 1;
    p.lr = 1e-3;
    p.min_lr = 1e-4;
    p.warmup_steps = 10;
    p.total_steps = 110;
    p.stage2_scale = 0.5;
    const trit_lr_schedule kinds[] = {TRIT_SCHED_CONSTANT, TRIT_SCHED_TWO_STAGE, TRIT_SCHED_COSINE};
    for (int k = 0; k < 3; k++) {
        p.schedule = kinds[k];
        trit_trainer *t = NULL;
        trit_error err = {0};
        CHECK(trit_trainer_new(&cfg, &p, &t, &err) == TRIT_OK, "%s", err.msg);
        if (!t) continue;
        double lr, wd;
        trit_trainer_schedule(t, 0, &lr, &wd);
        CHECK_NEAR(lr, 1e-4, 1e-12, "warmup step 0");
        trit_trainer_schedule(t, 9, &lr, &wd);
        CHECK_NEAR(lr, 1e-3, 1e-12, "warmup end");
        CHECK_NEAR(wd, 0.1, 1e-12, "weight decay during warmup");
        trit_trainer_schedule(t, 54, &lr, &wd);
        double want54 = k == 2 ? 1e-4 + 0.9e-3 * 0.5 * (1 + cos(M_PI * 44.0 / 100.0)) : 1e-3;
        CHECK_NEAR(lr, want54, 1e-12, "step 54");
        trit_trainer_schedule(t, 55, &lr, &wd);
        double want55 = k == 0 ? 1e-3 : k == 1 ? 5e-4 : 1e-4 + 0.9e-3 * 0.5 * (1 + cos(M_PI * 45.0 / 100.0));
        CHECK_NEAR(lr, want55, 1e-12, "step 55 (two-stage drop)");
        CHECK_NEAR(wd, k == 1 ? 0.0 : 0.1, 1e-12, "weight decay after half way");
        trit_trainer_schedule(t, 110, &lr, &wd);
        CHECK_NEAR(lr, k == 0 ? 1e-3 : 1e-4, 1e-12, "last step");
        trit_trainer_free(t);
    }
}

/* Out-of-range ids and a checkpoint of another shape are refused. */
static void test_bad_input(void) {
    fixture fx;
    if (!load_fixture("absmean", &fx)) return;
    trit_trainer *t = new_trainer(&fx, 1);
    if (t) {
        int64_t n = fx.p.batch * (fx.p.seq + 1);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        memcpy(ids, batch_of(&fx, 0), (size_t)n * sizeof *ids);
        ids[n - 1] = (int32_t)fx.cfg.vocab_size;
        trit_error err = {0};
        float loss;
        CHECK(trit_trainer_grad(t, ids, &loss, &err) == TRIT_ERR_VALUE, "id = vocab accepted");
        CHECK(strstr(err.msg, "vocabulary") != NULL, "message: %s", err.msg);
        free(ids);
        trit_trainer_free(t);
    }
    /* tied config against an untied checkpoint: lm_head.weight is extra */
    trit_train_config cfg = fx.cfg;
    cfg.tie_embeddings = !cfg.tie_embeddings;
    trit_trainer *u = NULL;
    trit_error err = {0};
    CHECK(trit_trainer_new(&cfg, &fx.p, &u, &err) == TRIT_OK, "%s", err.msg);
    if (u) {
        char path[512];
        snprintf(path, sizeof path, "%s/init.safetensors", fx.dir);
        CHECK(trit_trainer_load(u, path, &err) == TRIT_ERR_MISMATCH, "tie mismatch accepted");
        CHECK(strstr(err.msg, "lm_head.weight") != NULL, "message: %s", err.msg);
        trit_trainer_free(u);
    }
    free_fixture(&fx);
}

/* ==== long sequences ==== */

/* Uniform random floats in [-r, r) from the 64-bit state *s. */
static void fill_random(float *x, int64_t n, float r, uint64_t *s) {
    for (int64_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = r * (2.0f * (float)(*s >> 40) / 16777216.0f - 1.0f);
    }
}

/* Plain causal GQA attention in double, O(T^2) memory per (b, h) pass:
 * out (N, H*hd) and the gradients dq (N, H*hd), dk, dv (N, KV*hd) of
 * sum(out * dout), with P (T, T) computed and kept whole. */
static void attention_reference(double *out, double *dq, double *dk, double *dv, const float *q, const float *k,
                                const float *v, const float *dout, int64_t B, int64_t T, int64_t H, int64_t KV,
                                int64_t hd) {
    const int64_t HD = H * hd, KVD = KV * hd;
    const double scale = 1.0 / sqrt((double)hd);
    double *P = malloc((size_t)(T * T) * sizeof *P), *dS = malloc((size_t)(T * T) * sizeof *dS);
    memset(out, 0, (size_t)(B * T * HD) * sizeof *out);
    memset(dq, 0, (size_t)(B * T * HD) * sizeof *dq);
    memset(dk, 0, (size_t)(B * T * KVD) * sizeof *dk);
    memset(dv, 0, (size_t)(B * T * KVD) * sizeof *dv);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t kvh = h / (H / KV);
            const float *qh = q + b * T * HD + h * hd, *go = dout + b * T * HD + h * hd;
            const float *kb = k + b * T * KVD + kvh * hd, *vb = v + b * T * KVD + kvh * hd;
            for (int64_t t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0, pdp = 0;
                for (int64_t j = 0; j <= t; j++) {
                    double d = 0;
                    for (int64_t e = 0; e < hd; e++) d += (double)qh[t * HD + e] * kb[j * KVD + e];
                    P[t * T + j] = d * scale;
                    mx = d * scale > mx ? d * scale : mx;
                }
                for (int64_t j = 0; j <= t; j++) sum += P[t * T + j] = exp(P[t * T + j] - mx);
                for (int64_t j = 0; j <= t; j++) {
                    P[t * T + j] /= sum;
                    double dp = 0;
                    for (int64_t e = 0; e < hd; e++) {
                        out[b * T * HD + t * HD + h * hd + e] += P[t * T + j] * vb[j * KVD + e];
                        dp += (double)go[t * HD + e] * vb[j * KVD + e];
                    }
                    dS[t * T + j] = dp;
                    pdp += P[t * T + j] * dp;
                }
                for (int64_t j = 0; j <= t; j++) dS[t * T + j] = P[t * T + j] * (dS[t * T + j] - pdp) * scale;
            }
            for (int64_t t = 0; t < T; t++)
                for (int64_t j = 0; j <= t; j++)
                    for (int64_t e = 0; e < hd; e++) {
                        dq[b * T * HD + t * HD + h * hd + e] += dS[t * T + j] * kb[j * KVD + e];
                        dk[b * T * KVD + j * KVD + kvh * hd + e] += dS[t * T + j] * qh[t * HD + e];
                        dv[b * T * KVD + j * KVD + kvh * hd + e] += P[t * T + j] * go[t * HD + e];
                    }
        }
    free(P);
    free(dS);
}

/* max |a - ref| / max |ref| over n values. */
static double rel_err_ref(const float *a, const double *ref, int64_t n) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]);
        d = e > d || e != e ? e : d;
        m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
    }
    return d != d ? INFINITY : d / m;
}

/* The linear-memory attention (row blocks recomputed in the backward pass)
 * at T = 520 (not a multiple of the row block), 4 query heads on 2 kv
 * heads, against attention_reference: outputs and gradients within 1e-5;
 * every kernel level and 1 or 2 threads give the same bits. */
static void test_attention_long_reference(void) {
    const int64_t B = 2, T = 520, H = 4, KV = 2, hd = 16, N = B * T, HD = H * hd, KVD = KV * hd;
    float *in = malloc((size_t)(N * (2 * HD + 2 * KVD)) * sizeof *in);
    float *q = in, *k = q + N * HD, *v = k + N * KVD, *dout = v + N * KVD;
    uint64_t seed = 7;
    fill_random(q, N * HD, 2.0f, &seed); /* scores up to ~8: a peaked softmax */
    fill_random(k, N * KVD, 1.0f, &seed);
    fill_random(v, N * KVD, 1.0f, &seed);
    fill_random(dout, N * HD, 1.0f, &seed);
    double *ref = malloc((size_t)(2 * N * HD + 2 * N * KVD) * sizeof *ref);
    double *rout = ref, *rdq = rout + N * HD, *rdk = rdq + N * HD, *rdv = rdk + N * KVD;
    attention_reference(rout, rdq, rdk, rdv, q, k, v, dout, B, T, H, KV, hd);

    const int64_t nres = 2 * N * HD + 2 * N * KVD + B * H * T * 2;
    float *first = malloc((size_t)nres * sizeof *first), *res = malloc((size_t)nres * sizeof *res);
    trit_isa best = trit_cpu_isa(), levels[3] = {TRIT_ISA_SCALAR, best, TRIT_ISA_AVX2};
    int n_levels = best == TRIT_ISA_AVX512 ? 3 : best == TRIT_ISA_SCALAR ? 1 : 2, runs = 0;
    for (int li = 0; li < n_levels; li++)
        for (int nth = 1; nth <= 2; nth++) {
            trit_pool *pool = trit_pool_new(nth);
            float *gs = trit_aligned_alloc((size_t)(nth * TR_GEMM_SCRATCH) * sizeof(float));
            float *as = trit_aligned_alloc((size_t)(nth * TR_ATTN_SCRATCH(T)) * sizeof(float));
            if (!pool || !gs || !as) {
                CHECK(0, "out of memory");
                break;
            }
            tr_exec ex = {pool, levels[li], gs};
            float *out = res, *dq = out + N * HD, *dk = dq + N * HD, *dv = dk + N * KVD, *stat = dv + N * KVD;
            memset(res, 0, (size_t)nres * sizeof *res);
            tr_attention_forward(&ex, out, stat, as, q, k, v, B, T, H, KV, hd);
            tr_attention_backward(&ex, dq, dk, dv, as, dout, q, k, v, stat, B, T, H, KV, hd);
            if (runs++ == 0) {
                memcpy(first, res, (size_t)nres * sizeof *res);
                double eo = rel_err_ref(out, rout, N * HD), eq = rel_err_ref(dq, rdq, N * HD);
                double ek = rel_err_ref(dk, rdk, N * KVD), ev = rel_err_ref(dv, rdv, N * KVD);
                CHECK(eo <= 1e-5 && eq <= 1e-5 && ek <= 1e-5 && ev <= 1e-5,
                      "T %lld vs the O(T^2) reference: out %.3g dq %.3g dk %.3g dv %.3g", (long long)T, eo, eq, ek,
                      ev);
                printf("  T %lld vs O(T^2) double reference: out %.2e, dq %.2e, dk %.2e, dv %.2e (worst rel)\n",
                       (long long)T, eo, eq, ek, ev);
            } else {
                CHECK(memcmp(first, res, (size_t)nres * sizeof *res) == 0, "%s, %d threads: not bit-identical to "
                      "%s, 1 thread", trit_isa_str(levels[li]), nth, trit_isa_str(levels[0]));
            }
            trit_aligned_free(as);
            trit_aligned_free(gs);
            trit_pool_free(pool);
        }
    free(first);
    free(res);
    free(ref);
    free(in);
}

/* Activation memory of a tiny model (dim 16, 2 layers, 2 heads, batch 2)
 * at T = 256, 512, 1024 grows linearly: the step from 512 to 1024 is twice
 * the step from 256 to 512 (within 1%: each buffer is padded to 64 bytes;
 * quadratic growth would make it 3 times), and the total stays below what
 * the T x T probabilities alone took before (2 x 2 x 2 x 1024^2 floats).
 * A training step at T = 1024 runs with a finite loss. */
static void test_long_context_memory_linear(void) {
    trit_train_config cfg = {64, 16, 32, 2, 2, 2, 1024, 10000.0, 1e-5, 0};
    size_t bytes[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        trit_train_params p = trit_train_default_params();
        p.batch = 2;
        p.seq = 256 << i;
        p.n_threads = 2;
        trit_trainer *t = NULL;
        trit_error err = {0};
        CHECK(trit_trainer_new(&cfg, &p, &t, &err) == TRIT_OK, "T %lld: %s", (long long)p.seq, err.msg);
        if (!t) return;
        bytes[i] = trit_trainer_activation_bytes(t);
        if (i == 2) {
            trit_trainer_init_random(t, 3, 0.02f);
            int64_t n = p.batch * (p.seq + 1);
            int32_t *ids = malloc((size_t)n * sizeof *ids);
            for (int64_t j = 0; j < n; j++) ids[j] = (int32_t)((j * 37 + j / 5) % cfg.vocab_size);
            trit_train_stats st;
            CHECK(trit_trainer_step(t, ids, &st, &err) == TRIT_OK, "%s", err.msg);
            CHECK(isfinite(st.loss) && isfinite(st.grad_norm), "T 1024: loss %g, grad norm %g", (double)st.loss,
                  (double)st.grad_norm);
            free(ids);
        }
        trit_trainer_free(t);
    }
    double d1 = (double)bytes[1] - (double)bytes[0], d2 = (double)bytes[2] - (double)bytes[1];
    CHECK(d1 > 0 && fabs(d2 - 2 * d1) <= 0.01 * d2, "activation bytes %zu, %zu, %zu at T 256, 512, 1024: not "
          "linear in T", bytes[0], bytes[1], bytes[2]);
    CHECK(bytes[2] < (size_t)32 << 20, "%zu activation bytes at T 1024", bytes[2]);
    printf("  activation memory at T 256 / 512 / 1024: %.1f / %.1f / %.1f KiB\n", (double)bytes[0] / 1024,
           (double)bytes[1] / 1024, (double)bytes[2] / 1024);
}

int main(void) {
    RUN(test_parity_with_pytorch);
    RUN(test_threads_agree);
    RUN(test_isa_levels_agree);
    RUN(test_lambda_zero_is_none);
    RUN(test_tied_equals_untied_sum);
    RUN(test_schedules);
    RUN(test_bad_input);
    RUN(test_attention_long_reference);
    RUN(test_long_context_memory_linear);
    return TT_END();
}
