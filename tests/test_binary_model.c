/*
 * test_binary_model.c - binary models end to end: a tiny model trained a few
 * steps with `--quant binary` (the trainer API), exported packed (codes all
 * +-1 with a per-tensor weight_scale), is loaded three ways - binary_format
 * auto (repacked to 1-bit blocks), off (the 2-bit ternary path) and force -
 * and the logits of a prompt (one batched call) and of tokens decoded one at
 * a time must be bit-identical across the three, at every kernel level.
 * Two shapes: hidden 32 / ffn 64 (K below one group) and hidden 192 / ffn
 * 328 (K = 192, 328: partial last groups). Then the refusals: force on a
 * ternary (absmean) model names the tensor; force on a model without packed
 * linears (master weights) names the folder.
 */
#include <stdint.h>
#include <unistd.h>
#include "tt.h"
#include "trit.h"
#include "trit_train.h"
#include "core/core.h"

enum { SEQ = 12 };
static char tmproot[256];

/* Trains a random-initialized model of the given shape STEPS steps with
 * quantizer q and exports it (fmt) to tmproot/name; 1 on success. */
static int train_export(const char *name, int64_t hidden, int64_t ffn, trit_quant q, trit_export_format fmt,
                        char *dir, size_t n) {
    trit_train_config cfg = {96, hidden, ffn, 2, 4, 2, 64, 10000.0, 1e-5, 0};
    trit_train_params p = trit_train_default_params();
    p.quant = q;
    p.batch = 2;
    p.seq = 16;
    p.lr = 3e-3;
    p.warmup_steps = 1;
    p.n_threads = 2;
    trit_trainer *t = NULL;
    trit_error err = {0};
    CHECK(trit_trainer_new(&cfg, &p, &t, &err) == TRIT_OK, "%s", err.msg);
    if (!t) return 0;
    trit_trainer_init_random(t, 7, 0.05f);
    int32_t ids[2 * 17];
    uint64_t s = 12345;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 2 * 17; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (int32_t)((s >> 33) % 96);
        }
        CHECK(trit_trainer_step(t, ids, NULL, &err) == TRIT_OK, "%s", err.msg);
    }
    snprintf(dir, n, "%s/%s", tmproot, name);
    trit_export_params ep = trit_export_default_params();
    ep.format = fmt;
    trit_status st = trit_trainer_export(t, dir, &ep, &err);
    CHECK(st == TRIT_OK, "export %s: %s", name, err.msg);
    trit_trainer_free(t);
    return st == TRIT_OK;
}

/* Loads dir with binary_format mode; logits of the prompt (all positions,
 * one call: [SEQ][vocab]) then of SEQ more tokens one by one (each
 * [vocab]) into out [2*SEQ][vocab]. Returns the model's weight format
 * string (static) or NULL, with the error message in err. */
static const char *run(const char *dir, int mode, float *out, int64_t vocab, trit_error *err) {
    trit_model_params mp = trit_model_default_params();
    mp.binary_format = mode;
    trit_model *m = NULL;
    if (trit_model_load(dir, &mp, &m, err) != TRIT_OK) return NULL;
    trit_model_info info;
    trit_model_get_info(m, &info);
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = 2;
    trit_ctx *c = NULL;
    CHECK(trit_ctx_new(m, &cp, &c, err) == TRIT_OK, "%s", err->msg);
    int32_t ids[2 * SEQ];
    for (int i = 0; i < 2 * SEQ; i++) ids[i] = (int32_t)((i * 37 + 5) % vocab);
    CHECK(c && trit_decode(c, ids, SEQ, out, 1, err) == TRIT_OK, "%s", err->msg);
    for (int i = SEQ; c && i < 2 * SEQ; i++)
        CHECK(trit_decode(c, ids + i, 1, out + i * vocab, 0, err) == TRIT_OK, "%s", err->msg);
    trit_ctx_free(c);
    trit_model_free(m);
    return info.weight_format;
}

/* auto / off / force give bit-identical logits; auto and force report the
 * binary format, off the ternary one. */
static void check_identical(const char *dir, const char *what) {
    const int64_t V = 96;
    float *a = malloc((size_t)(2 * SEQ * V) * 4), *b = malloc((size_t)(2 * SEQ * V) * 4),
          *f = malloc((size_t)(2 * SEQ * V) * 4);
    trit_error err = {0};
    const char *fa = run(dir, TRIT_BINARY_AUTO, a, V, &err);
    CHECK(fa && strstr(fa, "binary"), "%s auto: %s", what, fa ? fa : err.msg);
    const char *fo = run(dir, TRIT_BINARY_OFF, b, V, &err);
    CHECK(fo && strstr(fo, "ternary"), "%s off: %s", what, fo ? fo : err.msg);
    const char *ff = run(dir, TRIT_BINARY_FORCE, f, V, &err);
    CHECK(ff && strstr(ff, "binary"), "%s force: %s", what, ff ? ff : err.msg);
    int64_t diff = 0, nonfinite = 0;
    double amax = 0;
    for (int64_t i = 0; i < 2 * SEQ * V; i++) {
        diff += a[i] != b[i] || f[i] != b[i];
        nonfinite += !isfinite(b[i]);
        if (fabs(b[i]) > amax) amax = fabs(b[i]);
    }
    CHECK(diff == 0, "%s: %lld logits differ between the 1-bit and 2-bit paths", what, (long long)diff);
    CHECK(nonfinite == 0 && amax > 0, "%s: degenerate logits (max %g)", what, amax);
    free(a); free(b); free(f);
}

static void test_binary_models_match_ternary_path(void) {
    char d1[512], d2[512];
    if (train_export("bin32", 32, 64, TRIT_QUANT_BINARY, TRIT_EXPORT_PACKED, d1, sizeof d1))
        check_identical(d1, "hidden 32");
    if (train_export("bin192", 192, 328, TRIT_QUANT_BINARY, TRIT_EXPORT_PACKED, d2, sizeof d2))
        check_identical(d2, "hidden 192");
}

/* force on a ternary model names the first non-binary tensor and its file;
 * on a master-weight model names the folder; auto loads both. */
static void test_force_refusals(void) {
    char d[512], dm[512];
    const int64_t V = 96;
    float *buf = malloc((size_t)(2 * SEQ * V) * 4);
    trit_error err = {0};
    if (train_export("tern", 64, 128, TRIT_QUANT_ABSMEAN, TRIT_EXPORT_PACKED, d, sizeof d)) {
        CHECK(run(d, TRIT_BINARY_FORCE, buf, V, &err) == NULL, "force accepted a ternary model");
        CHECK(strstr(err.msg, "model.safetensors") && strstr(err.msg, "model.layers.0.self_attn.q_proj.weight") &&
                  strstr(err.msg, "not binary"), "message: %s", err.msg);
        const char *fa = run(d, TRIT_BINARY_AUTO, buf, V, &err);
        CHECK(fa && strstr(fa, "ternary"), "auto on a ternary model: %s", fa ? fa : err.msg);
    }
    if (train_export("master", 64, 128, TRIT_QUANT_ABSMEAN, TRIT_EXPORT_MASTER, dm, sizeof dm)) {
        CHECK(run(dm, TRIT_BINARY_FORCE, buf, V, &err) == NULL, "force accepted a master-weight model");
        CHECK(strstr(err.msg, dm) && strstr(err.msg, "no packed linear"), "message: %s", err.msg);
    }
    CHECK(run(d, 7, buf, V, &err) == NULL && strstr(err.msg, "binary_format"), "bad mode: %s", err.msg);
    free(buf);
}

int main(void) {
    printf("# kernel level of this CPU: %s\n", trit_isa_name());
    snprintf(tmproot, sizeof tmproot, "/tmp/trit-binary-XXXXXX");
    if (!mkdtemp(tmproot)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_binary_models_match_ternary_path);
    RUN(test_force_refusals);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmproot);
    return TT_END();
}
