/*
 * test_export.c - trit_trainer_export: a trained model infers identically.
 *
 * A tiny model (the PyTorch fixtures' config and initial weights,
 * tests/fixtures/train/<quant>/init.safetensors) is trained a few AdamW
 * steps with the trainer API, exported, loaded with trit_model_load, and
 * trit's inference logits are compared with the trainer's own forward
 * logits (trit_trainer_logits) on a batch: within 1e-4 of the largest
 * logit, for
 *   - the packed format (F32 norms/embeddings) of absmean, absmedian and
 *     binary models,
 *   - the master-weight format (online) of an absmean model (F32),
 *   - both formats in BF16 after rounding the trainer's parameters to bf16
 *     (what a default export stores),
 *   - the dense format of a quant-none model.
 * The packed weights are also unpacked and checked to dequantize (code /
 * weight_scale, the divide rule) to exactly the trainer's quantizer Q(W),
 * recomputed here from the latent weights. Then the refusals: master format
 * of a non-absmean model, an existing non-empty folder (left intact),
 * `both` for quant none; and the files `both` and --tokenizer add.
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tt.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "trit.h"
#include "trit_train.h"

#define LOGIT_TOL 1e-4
enum { BATCH = 2, SEQ = 32, STEPS = 3 };

static char tmproot[256];

static const char *const QUANTS[4] = {"absmean", "absmedian", "binary", "none"};

/* ==== helpers ==== */

/* A trainer of fixture q's config with quantizer q, batch BATCH x SEQ,
 * loaded from init.safetensors and trained STEPS steps on deterministic
 * random batches; NULL on failure (reported). */
static trit_trainer *trained(int q) {
    char path[512], eb[256];
    size_t len;
    snprintf(path, sizeof path, TT_FIXTURES "/train/%s/reference.json", QUANTS[q]);
    char *text = json_read_file(path, &len, eb, sizeof eb);
    CHECK(text != NULL, "%s", eb);
    if (!text) return NULL;
    json_doc *d = json_parse(text, len, eb, sizeof eb);
    free(text);
    CHECK(d != NULL, "%s: %s", path, eb);
    if (!d) return NULL;
    const json_value *c = json_get(json_root(d), "config");
    trit_train_config cfg = {json_get_int(c, "vocab_size", 0), json_get_int(c, "hidden_size", 0),
                             json_get_int(c, "intermediate_size", 0), json_get_int(c, "num_hidden_layers", 0),
                             json_get_int(c, "num_attention_heads", 0), json_get_int(c, "num_key_value_heads", 0),
                             json_get_int(c, "max_position_embeddings", 0), json_get_num(c, "rope_theta", 1e4),
                             json_get_num(c, "rms_norm_eps", 1e-5), json_get_bool(c, "tie_word_embeddings", 0)};
    json_free(d);
    trit_train_params p = trit_train_default_params();
    p.quant = (trit_quant)q;
    p.batch = BATCH;
    p.seq = SEQ;
    p.lr = 3e-3;
    p.warmup_steps = 1;
    p.n_threads = 2;
    trit_trainer *t = NULL;
    trit_error err = {0};
    CHECK(trit_trainer_new(&cfg, &p, &t, &err) == TRIT_OK, "%s", err.msg);
    if (!t) return NULL;
    snprintf(path, sizeof path, TT_FIXTURES "/train/%s/init.safetensors", QUANTS[q]);
    CHECK(trit_trainer_load(t, path, &err) == TRIT_OK, "%s", err.msg);
    int32_t ids[BATCH * (SEQ + 1)];
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(q + 1);
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < BATCH * (SEQ + 1); i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (int32_t)((s >> 33) % (uint64_t)cfg.vocab_size);
        }
        CHECK(trit_trainer_step(t, ids, NULL, &err) == TRIT_OK, "%s", err.msg);
    }
    return t;
}

/* The evaluation batch: BATCH x SEQ ids (no target column). */
static void eval_ids(int32_t *ids, int64_t vocab) {
    uint64_t s = 42;
    for (int i = 0; i < BATCH * SEQ; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)vocab);
    }
}

/* Exports t to tmproot/name with format fmt and dtype f32; 1 on success. */
static int export_to(const trit_trainer *t, const char *name, trit_export_format fmt, int f32, char *dir, size_t n) {
    snprintf(dir, n, "%s/%s", tmproot, name);
    trit_export_params p = trit_export_default_params();
    p.format = fmt;
    p.f32 = f32;
    trit_error err = {0};
    trit_status st = trit_trainer_export(t, dir, &p, &err);
    CHECK(st == TRIT_OK, "export %s: %s", name, err.msg);
    return st == TRIT_OK;
}

/* Loads dir with trit and returns max |trit - trainer| / max |trainer| over
 * the logits of the evaluation batch (INFINITY on failure). */
static double logit_error(trit_trainer *t, const char *dir, const char *what) {
    trit_model *m = NULL;
    trit_ctx *ctx = NULL;
    trit_error err = {0};
    CHECK(trit_model_load(dir, NULL, &m, &err) == TRIT_OK, "%s: %s", what, err.msg);
    if (!m) return INFINITY;
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = 2;
    CHECK(trit_ctx_new(m, &cp, &ctx, &err) == TRIT_OK, "%s: %s", what, err.msg);
    trit_model_info info;
    trit_model_get_info(m, &info);
    int64_t V = info.vocab_size;
    int32_t ids[BATCH * SEQ];
    eval_ids(ids, V);
    float *ref = malloc((size_t)(BATCH * SEQ * V) * sizeof(float)), *got = malloc((size_t)(SEQ * V) * sizeof(float));
    CHECK(trit_trainer_logits(t, ids, ref, &err) == TRIT_OK, "%s", err.msg);
    double dmax = 0, rmax = 0;
    for (int b = 0; ctx && b < BATCH; b++) {
        trit_ctx_truncate(ctx, 0);
        CHECK(trit_decode(ctx, ids + b * SEQ, SEQ, got, 1, &err) == TRIT_OK, "%s: %s", what, err.msg);
        for (int64_t i = 0; i < SEQ * V; i++) {
            double r = ref[b * SEQ * V + i], d = fabs((double)got[i] - r);
            if (!(d <= dmax)) dmax = d;
            if (fabs(r) > rmax) rmax = fabs(r);
        }
    }
    free(ref);
    free(got);
    trit_ctx_free(ctx);
    trit_model_free(m);
    return rmax > 0 ? dmax / rmax : dmax;
}

/* The trainer's quantizer Q(W) of one matrix, recomputed from the rules:
 * ternary kinds code/s with s = 1/max(mean|W| or lower median |W|, 1e-5);
 * binary sign(W - mean W) * mean|W|. */
static void reference_q(const float *w, int64_t n, int q, float *out) {
    double sa = 0, sm = 0;
    for (int64_t i = 0; i < n; i++) {
        sa += fabs((double)w[i]);
        sm += (double)w[i];
    }
    float mabs = (float)sa / (float)n, mean = (float)sm / (float)n;
    if (q == 2) {
        for (int64_t i = 0; i < n; i++) out[i] = w[i] - mean >= 0.0f ? mabs : -mabs;
        return;
    }
    float m = mabs;
    if (q == 1) { /* lower median by counting (n is small) */
        for (int64_t i = 0; i < n; i++) {
            int64_t below = 0, equal = 0;
            for (int64_t j = 0; j < n; j++) {
                below += fabsf(w[j]) < fabsf(w[i]);
                equal += fabsf(w[j]) == fabsf(w[i]);
            }
            if (below <= (n - 1) / 2 && (n - 1) / 2 < below + equal) m = fabsf(w[i]);
        }
    }
    if (!(m >= 1e-5f)) m = 1e-5f;
    float s = 1.0f / m;
    for (int64_t i = 0; i < n; i++) {
        float v = rintf(w[i] * s);
        v = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
        out[i] = v / s;
    }
}

/* Unpacks every packed linear of dir/model.safetensors and checks
 * code / weight_scale == Q(W) of the trainer's latent weights, bit for bit.
 * Returns the number of weights compared. */
static int64_t check_dequantized(trit_trainer *t, const char *dir, int q) {
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file *f = NULL;
    trit_error err = {0};
    CHECK(st_open(path, &f, &err) == TRIT_OK, "%s", err.msg);
    if (!f) return 0;
    int64_t compared = 0, bad = 0;
    for (size_t i = 0; i < trit_trainer_n_tensors(t); i++) {
        const char *nm = trit_trainer_tensor_name(t, i);
        if (!strstr(nm, "_proj.weight")) continue;
        const st_tensor *pk = st_find(f, nm);
        char sn[256];
        snprintf(sn, sizeof sn, "%.*s.weight_scale", (int)(strlen(nm) - 7), nm);
        const st_tensor *sc = st_find(f, sn);
        CHECK(pk && sc && pk->dtype == ST_U8 && sc->dtype == ST_F32 && sc->numel == 1, "%s: packed tensor or scale "
              "missing", nm);
        if (!pk || !sc || pk->dtype != ST_U8 || sc->dtype != ST_F32) continue;
        int64_t n = 0, rows, cols;
        float *w = trit_trainer_param(t, nm, &n);
        trit_trainer_tensor_shape(t, i, &rows, &cols);
        CHECK(pk->shape[0] == rows / 4 && pk->shape[1] == cols, "%s: packed shape", nm);
        float ws, *ref = malloc((size_t)n * sizeof(float));
        memcpy(&ws, sc->data, 4);
        reference_q(w, n, q, ref);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < cols; k++) {
                int code = (pk->data[(r % (rows / 4)) * cols + k] >> (2 * (r / (rows / 4)))) & 3;
                float deq = (float)(code - 1) / ws;
                bad += code == 3 || deq != ref[r * cols + k];
                compared++;
            }
        free(ref);
    }
    CHECK(bad == 0, "%s: %lld of %lld dequantized weights differ from the trainer's quantizer", QUANTS[q],
          (long long)bad, (long long)compared);
    st_close(f);
    return compared;
}

/* 1 if path exists. */
static int exists(const char *path) {
    struct stat s;
    return stat(path, &s) == 0;
}

/* Text of dir/name, malloc'ed ("" if unreadable). */
static char *read_text(const char *dir, const char *name) {
    char path[600], eb[256];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *t = json_read_file(path, &len, eb, sizeof eb);
    return t ? t : strdup("");
}

/* ==== tests ==== */

/* Packed (F32) of absmean, absmedian, binary; master (F32) of absmean. */
static void test_trained_model_infers_identically(void) {
    for (int q = 0; q < 3; q++) {
        trit_trainer *t = trained(q);
        if (!t) continue;
        char dir[512], name[64];
        snprintf(name, sizeof name, "%s_packed_f32", QUANTS[q]);
        if (export_to(t, name, TRIT_EXPORT_PACKED, 1, dir, sizeof dir)) {
            double e = logit_error(t, dir, name);
            int64_t n = check_dequantized(t, dir, q);
            CHECK(e <= LOGIT_TOL, "%s: trit logits vs trainer logits rel err %.3g > %g", name, e, LOGIT_TOL);
            printf("  %-9s packed f32: logits rel err %.2e vs the trainer's forward; %lld dequantized weights equal "
                   "Q(W)\n", QUANTS[q], e, (long long)n);
            char *cfg = read_text(dir, "config.json");
            CHECK(strstr(cfg, "\"quantization_mode\": \"offline\"") && strstr(cfg, "\"linear_class\": \"bitlinear\"") &&
                  strstr(cfg, "\"model_type\": \"bitnet\"") && strstr(cfg, "\"hidden_act\": \"relu2\""),
                  "%s: config.json lacks the bitnet offline quantization_config:\n%s", name, cfg);
            free(cfg);
        }
        if (q == 0) {
            snprintf(name, sizeof name, "%s_master_f32", QUANTS[q]);
            if (export_to(t, name, TRIT_EXPORT_MASTER, 1, dir, sizeof dir)) {
                double e = logit_error(t, dir, name);
                CHECK(e <= LOGIT_TOL, "%s: rel err %.3g > %g", name, e, LOGIT_TOL);
                printf("  %-9s master f32 (online): logits rel err %.2e\n", QUANTS[q], e);
                char *cfg = read_text(dir, "config.json");
                CHECK(strstr(cfg, "\"quantization_mode\": \"online\"") && strstr(cfg, "\"autobitlinear\""),
                      "%s: config.json:\n%s", name, cfg);
                free(cfg);
            }
        }
        trit_trainer_free(t);
    }
}

/* Default BF16 exports equal the trainer once its parameters are bf16. */
static void test_bf16_exports(void) {
    trit_trainer *t = trained(0);
    if (!t) return;
    for (size_t i = 0; i < trit_trainer_n_tensors(t); i++) {
        int64_t n = 0;
        float *p = trit_trainer_param(t, trit_trainer_tensor_name(t, i), &n);
        for (int64_t j = 0; j < n; j++) p[j] = trit_bf16_to_f32(trit_f32_to_bf16(p[j]));
    }
    char dir[512];
    if (export_to(t, "absmean_both_bf16", TRIT_EXPORT_BOTH, 0, dir, sizeof dir)) {
        double e = logit_error(t, dir, "packed bf16");
        CHECK(e <= LOGIT_TOL, "packed bf16: rel err %.3g", e);
        char sub[600];
        snprintf(sub, sizeof sub, "%s/bf16", dir);
        double e2 = logit_error(t, sub, "master bf16");
        CHECK(e2 <= LOGIT_TOL, "master bf16: rel err %.3g", e2);
        printf("  absmean   bf16 (params rounded to bf16): packed rel err %.2e, master (%s/bf16) rel err %.2e\n", e,
               "OUT", e2);
        st_file *f = NULL;
        char path[700];
        trit_error err = {0};
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        CHECK(st_open(path, &f, &err) == TRIT_OK, "%s", err.msg);
        const st_tensor *x = f ? st_find(f, "model.norm.weight") : NULL;
        CHECK(x && x->dtype == ST_BF16, "norms are stored as BF16 by default");
        st_close(f);
        char *cfg = read_text(sub, "config.json");
        CHECK(strstr(cfg, "\"torch_dtype\": \"bfloat16\"") != NULL, "bf16/config.json: %s", cfg);
        free(cfg);
    }
    trit_trainer_free(t);
}

/* quant none: a dense model without quantization_config. */
static void test_dense_none(void) {
    trit_trainer *t = trained(3);
    if (!t) return;
    char dir[512];
    if (export_to(t, "none_dense", TRIT_EXPORT_PACKED, 1, dir, sizeof dir)) {
        char *cfg = read_text(dir, "config.json");
        CHECK(strstr(cfg, "quantization_config") == NULL, "a quant-none export has no quantization_config:\n%s", cfg);
        free(cfg);
        double e = logit_error(t, dir, "none");
        CHECK(e <= LOGIT_TOL, "none dense: rel err %.3g", e);
        printf("  none      dense f32: logits rel err %.2e\n", e);
    }
    trit_error err = {0};
    trit_export_params p = trit_export_default_params();
    p.format = TRIT_EXPORT_BOTH;
    snprintf(dir, sizeof dir, "%s/none_both", tmproot);
    CHECK(trit_trainer_export(t, dir, &p, &err) == TRIT_ERR_ARG && !exists(dir), "both for quant none is refused");
    trit_trainer_free(t);
}

/* Refusals leave nothing behind; the tokenizer files are copied. */
static void test_refusals_and_files(void) {
    trit_trainer *t = trained(1);
    if (!t) return;
    trit_error err = {0};
    trit_export_params p = trit_export_default_params();
    char dir[512], path[600];
    p.format = TRIT_EXPORT_MASTER;
    snprintf(dir, sizeof dir, "%s/absmedian_master", tmproot);
    trit_status st = trit_trainer_export(t, dir, &p, &err);
    CHECK(st == TRIT_ERR_UNSUPPORTED && strstr(err.msg, "absmean") && !exists(dir),
          "master format of an absmedian model must be refused (got %d: %s)", (int)st, err.msg);
    /* a non-empty folder is never overwritten */
    snprintf(dir, sizeof dir, "%s/occupied", tmproot);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/keep.txt", dir);
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs("keep", fp);
        fclose(fp);
    }
    p = trit_export_default_params();
    st = trit_trainer_export(t, dir, &p, &err);
    CHECK(st == TRIT_ERR_IO && strstr(err.msg, "not empty"), "non-empty folder: %d %s", (int)st, err.msg);
    char *kept = read_text(dir, "keep.txt");
    CHECK(!strcmp(kept, "keep"), "the occupied folder is untouched");
    free(kept);
    /* tokenizer files and ids */
    char tokdir[512];
    snprintf(tokdir, sizeof tokdir, "%s/tok", tmproot);
    mkdir(tokdir, 0777);
    const char *tj = "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{}}}\n";
    const char *tc = "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}\n";
    snprintf(path, sizeof path, "%s/tokenizer.json", tokdir);
    fp = fopen(path, "w");
    if (fp) {
        fputs(tj, fp);
        fclose(fp);
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", tokdir);
    fp = fopen(path, "w");
    if (fp) {
        fputs(tc, fp);
        fclose(fp);
    }
    p.tokenizer = tokdir;
    p.bos_id = 1;
    p.eos_id = 2;
    snprintf(dir, sizeof dir, "%s/with_tok/", tmproot); /* a trailing slash is fine */
    CHECK(trit_trainer_export(t, dir, &p, &err) == TRIT_OK, "%s", err.msg);
    char *a = read_text(dir, "tokenizer.json"), *b = read_text(dir, "tokenizer_config.json");
    char *c = read_text(dir, "config.json"), *g = read_text(dir, "generation_config.json");
    CHECK(!strcmp(a, tj) && !strcmp(b, tc), "tokenizer files copied byte for byte");
    CHECK(strstr(c, "\"bos_token_id\": 1") && strstr(c, "\"eos_token_id\": 2") && strstr(g, "\"eos_token_id\": 2"),
          "bos/eos ids in config.json and generation_config.json:\n%s\n%s", c, g);
    free(a);
    free(b);
    free(c);
    free(g);
    /* no partial folders are left anywhere */
    DIR *d = opendir(tmproot);
    struct dirent *e;
    int partial = 0;
    while (d && (e = readdir(d))) partial += strstr(e->d_name, ".partial") != NULL;
    if (d) closedir(d);
    CHECK(partial == 0, "%d .partial folders left behind", partial);
    trit_trainer_free(t);
}

int main(void) {
    snprintf(tmproot, sizeof tmproot, "/tmp/trit-export-XXXXXX");
    if (!mkdtemp(tmproot)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_trained_model_infers_identically);
    RUN(test_bf16_exports);
    RUN(test_dense_none);
    RUN(test_refusals_and_files);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmproot);
    return TT_END();
}
