/*
 * checkpoint.c - saving and restoring the full training state, and loading
 * start weights for continual QAT (format in checkpoint.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/core.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"

static const char *const MOMENT_PREFIX[2] = {"optimizer.exp_avg.", "optimizer.exp_avg_sq."};

/* ======================================================================== */
/* Saving                                                                    */
/* ======================================================================== */

/* Appends the guard state as a JSON object to b; 0 on allocation failure. */
static int guard_json(json_sb *b, const tg_guard *g) {
    int ok = json_sb_printf(b, "{\"n\":%d,\"pos\":%d,\"skipped\":%lld,\"consecutive\":%lld,\"loss\":[", g->n, g->pos,
                            (long long)g->skipped, (long long)g->consecutive);
    for (int i = 0; i < TG_WINDOW; i++) ok = ok && json_sb_printf(b, i ? ",%.9g" : "%.9g", (double)g->loss[i]);
    ok = ok && json_sb_puts(b, "],\"norm\":[");
    for (int i = 0; i < TG_WINDOW; i++) ok = ok && json_sb_printf(b, i ? ",%.9g" : "%.9g", (double)g->norm[i]);
    return ok && json_sb_puts(b, "]}");
}

/* Builds the metadata object of s into b; 0 on allocation failure. */
static int metadata_json(json_sb *b, const tc_state *s, const char *config) {
    json_sb g = {0};
    char num[64];
    int ok = guard_json(&g, &s->guard);
    ok = ok && json_sb_puts(b, "{\"format\":\"pt\",\"trit.kind\":\"" TC_KIND "\",\"trit.version\":\"" TC_VERSION "\"");
    snprintf(num, sizeof num, "%lld", (long long)s->step);
    ok = ok && json_sb_puts(b, ",\"trit.step\":") && json_sb_quote(b, num, strlen(num));
    snprintf(num, sizeof num, "%016llx", (unsigned long long)s->rng);
    ok = ok && json_sb_puts(b, ",\"trit.rng\":") && json_sb_quote(b, num, strlen(num));
    snprintf(num, sizeof num, "%016llx", (unsigned long long)s->data_checksum);
    ok = ok && json_sb_puts(b, ",\"trit.data_checksum\":") && json_sb_quote(b, num, strlen(num));
    ok = ok && json_sb_puts(b, ",\"trit.guard\":") && json_sb_quote(b, g.buf, g.len);
    ok = ok && json_sb_puts(b, ",\"trit.config\":") && json_sb_quote(b, config, strlen(config));
    const char *run = s->run_json ? s->run_json : "{}";
    ok = ok && json_sb_puts(b, ",\"trit.run\":") && json_sb_quote(b, run, strlen(run)) && json_sb_puts(b, "}");
    json_sb_free(&g);
    return ok;
}

/* See checkpoint.h. */
trit_status tc_save(const char *path, trit_trainer *t, const tc_state *s, trit_error *err) {
    if (!trit_trainer_params_finite(t))
        return trit_fail(err, TRIT_ERR_VALUE, "%s: the parameters hold NaN or Inf values; the checkpoint was not "
                         "written", path);
    size_t n = trit_trainer_n_tensors(t);
    st_write_tensor *ts = calloc(3 * n, sizeof *ts);
    char **names = calloc(2 * n, sizeof *names);
    char *config = trit_train_config_to_json(&s->cfg);
    json_sb meta = {0};
    trit_status st = TRIT_OK;
    if (!ts || !names || !config || !metadata_json(&meta, s, config)) {
        st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n && st == TRIT_OK; i++) {
        const char *name = trit_trainer_tensor_name(t, i);
        int64_t R, C;
        trit_trainer_tensor_shape(t, i, &R, &C);
        for (int w = 0; w < 3; w++) {
            int64_t numel;
            const float *data = w == 0 ? trit_trainer_param(t, name, &numel) : trit_trainer_moment(t, name, w - 1, &numel);
            st_write_tensor *x = &ts[w * n + i];
            if (w == 0) {
                x->name = name;
            } else {
                size_t l = strlen(MOMENT_PREFIX[w - 1]) + strlen(name) + 1;
                char *nm = names[(w - 1) * n + i] = malloc(l);
                if (!nm) {
                    st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                snprintf(nm, l, "%s%s", MOMENT_PREFIX[w - 1], name);
                x->name = nm;
            }
            x->dtype = ST_F32;
            x->ndim = C ? 2 : 1;
            x->shape[0] = R;
            x->shape[1] = C;
            x->data = data;
            x->nbytes = (size_t)numel * sizeof(float);
        }
    }
    if (st == TRIT_OK) st = st_write(path, ts, 3 * n, meta.buf, err);
done:
    if (names)
        for (size_t i = 0; i < 2 * n; i++) free(names[i]);
    free(names);
    free(ts);
    free(config);
    json_sb_free(&meta);
    return st;
}

/* ======================================================================== */
/* Reading the state                                                         */
/* ======================================================================== */

/* Parses the guard JSON text into g (factor untouched); 0 if malformed. */
static int guard_parse(const char *text, tg_guard *g) {
    char jerr[128];
    json_doc *d = json_parse(text, strlen(text), jerr, sizeof jerr);
    if (!d) return 0;
    const json_value *r = json_root(d), *l = json_get(r, "loss"), *nm = json_get(r, "norm");
    int ok = l && nm && l->type == JSON_ARRAY && nm->type == JSON_ARRAY && json_len(l) == TG_WINDOW &&
             json_len(nm) == TG_WINDOW;
    g->n = (int)json_get_int(r, "n", -1);
    g->pos = (int)json_get_int(r, "pos", -1);
    g->skipped = json_get_int(r, "skipped", -1);
    g->consecutive = json_get_int(r, "consecutive", -1);
    ok = ok && g->n >= 0 && g->n <= TG_WINDOW && g->pos >= 0 && g->pos < TG_WINDOW && g->skipped >= 0 &&
         g->consecutive >= 0;
    for (int i = 0; ok && i < TG_WINDOW; i++) {
        double a, b;
        ok = json_num(json_at(l, (size_t)i), &a) && json_num(json_at(nm, (size_t)i), &b);
        g->loss[i] = (float)a;
        g->norm[i] = (float)b;
    }
    json_free(d);
    return ok;
}

/* Reads a hex u64 metadata value; 0 if absent or malformed. */
static int meta_hex(const st_file *f, const char *key, uint64_t *out) {
    const char *s = st_metadata(f, key);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (*end || errno) return 0;
    *out = v;
    return 1;
}

/* Reads the state of the open checkpoint f into s. */
static trit_status state_from(const st_file *f, const char *path, tc_state *s, trit_error *err) {
    memset(s, 0, sizeof *s);
    const char *kind = st_metadata(f, "trit.kind"), *ver = st_metadata(f, "trit.version");
    if (!kind || strcmp(kind, TC_KIND) != 0)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s is not a trit training checkpoint (no trit.kind metadata)", path);
    if (!ver || strcmp(ver, TC_VERSION) != 0)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: checkpoint version %s; this trit reads version " TC_VERSION,
                         path, ver ? ver : "(none)");
    const char *step = st_metadata(f, "trit.step"), *guard = st_metadata(f, "trit.guard");
    const char *config = st_metadata(f, "trit.config"), *run = st_metadata(f, "trit.run");
    char *end = NULL;
    long long sv = step ? strtoll(step, &end, 10) : -1;
    if (!step || *end || sv < 0 || !meta_hex(f, "trit.rng", &s->rng) ||
        !meta_hex(f, "trit.data_checksum", &s->data_checksum) || !guard || !guard_parse(guard, &s->guard) ||
        !config || !run)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: the checkpoint's training state (metadata trit.step, trit.rng, "
                         "trit.guard, trit.config, trit.run) is missing or malformed", path);
    s->step = sv;
    trit_error e2;
    if (trit_train_config_from_json(config, strlen(config), "trit.config", &s->cfg, &e2) != TRIT_OK)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: %s", path, e2.msg);
    s->run_json = strdup(run);
    if (!s->run_json) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    return TRIT_OK;
}

/* See checkpoint.h. */
trit_status tc_read_state(const char *path, tc_state *s, trit_error *err) {
    st_file *f = NULL;
    memset(s, 0, sizeof *s);
    trit_status st = st_open(path, &f, err);
    if (st != TRIT_OK) return st;
    st = state_from(f, path, s, err);
    st_close(f);
    if (st != TRIT_OK) tc_state_free(s);
    return st;
}

/* See checkpoint.h. */
void tc_state_free(tc_state *s) {
    if (!s) return;
    free(s->run_json);
    s->run_json = NULL;
}

/* ======================================================================== */
/* Restoring tensors                                                         */
/* ======================================================================== */

/* Copies tensor `name` of f (F32 of numel elements) to dst. */
static trit_status copy_f32(const st_file *f, const char *path, const char *name, float *dst, int64_t numel,
                            trit_error *err) {
    const st_tensor *x = st_find(f, name);
    if (!x) return trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor %s is missing", path, name);
    if (x->dtype != ST_F32 || x->numel != numel)
        return trit_fail(err, TRIT_ERR_MISMATCH, "%s: tensor %s is %s with %lld elements; the model needs F32 with "
                         "%lld", path, name, st_dtype_name(x->dtype), (long long)x->numel, (long long)numel);
    memcpy(dst, x->data, (size_t)numel * sizeof(float));
    return TRIT_OK;
}

/* See checkpoint.h. */
trit_status tc_restore(const char *path, trit_trainer *t, trit_error *err) {
    st_file *f = NULL;
    trit_status st = st_open(path, &f, err);
    if (st != TRIT_OK) return st;
    tc_state s;
    st = state_from(f, path, &s, err);
    tc_state_free(&s);
    char name[512];
    for (size_t i = 0; st == TRIT_OK && i < trit_trainer_n_tensors(t); i++) {
        const char *nm = trit_trainer_tensor_name(t, i);
        int64_t numel;
        float *p = trit_trainer_param(t, nm, &numel);
        st = copy_f32(f, path, nm, p, numel, err);
        for (int w = 0; w < 2 && st == TRIT_OK; w++) {
            snprintf(name, sizeof name, "%s%s", MOMENT_PREFIX[w], nm);
            st = copy_f32(f, path, name, trit_trainer_moment(t, nm, w, NULL), numel, err);
        }
    }
    if (st == TRIT_OK) trit_trainer_set_step(t, s.step);
    st_close(f);
    return st;
}

/* ======================================================================== */
/* Start weights (--init)                                                    */
/* ======================================================================== */

/* 1 if path exists and is a directory. */
static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 if path exists and is a regular file. */
static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The trit checkpoint file an --init source names, or "" when it is a
 * Hugging Face folder (config.json). */
static void init_checkpoint_path(const char *src, char *out, size_t cap) {
    out[0] = 0;
    if (is_file(src)) {
        snprintf(out, cap, "%s", src);
        return;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", src);
    if (is_file(p)) return;
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", src);
    if (is_file(p)) snprintf(out, cap, "%s", p);
}

/* See checkpoint.h. */
trit_status tc_init_config(const char *src, trit_train_config *cfg, trit_error *err) {
    char ck[4096], p[4096], eb[256];
    if (!is_dir(src) && !is_file(src)) return trit_fail(err, TRIT_ERR_IO, "--init %s: %s", src, strerror(ENOENT));
    init_checkpoint_path(src, ck, sizeof ck);
    if (ck[0]) {
        tc_state s;
        trit_status st = tc_read_state(ck, &s, err);
        if (st == TRIT_OK) *cfg = s.cfg;
        tc_state_free(&s);
        return st;
    }
    snprintf(p, sizeof p, "%s/config.json", src);
    size_t len;
    char *text = json_read_file(p, &len, eb, sizeof eb);
    if (!text)
        return trit_fail(err, TRIT_ERR_IO, "--init %s: no config.json or checkpoint.safetensors (%s)", src, eb);
    trit_status st = trit_train_config_from_json(text, len, p, cfg, err);
    free(text);
    return st;
}

/* Looks a tensor up by name in a file or a set of files. */
typedef const st_tensor *(*find_fn)(const void *set, const char *name);

/* find_fn over one safetensors file. */
static const st_tensor *find_in_file(const void *f, const char *name) { return st_find(f, name); }

/* find_fn over a sharded checkpoint. */
static const st_tensor *find_in_set(const void *s, const char *name) { return st_set_find(s, name); }

/* Copies every parameter of t from `set` (through find), converting to
 * fp32 and checking dtype, shape and finiteness. */
static trit_status load_params(trit_trainer *t, const void *set, find_fn find, const char *src, trit_error *err) {
    for (size_t i = 0; i < trit_trainer_n_tensors(t); i++) {
        const char *nm = trit_trainer_tensor_name(t, i);
        int64_t numel;
        float *dst = trit_trainer_param(t, nm, &numel);
        const st_tensor *x = find(set, nm);
        if (!x)
            return trit_fail(err, TRIT_ERR_MISMATCH, "--init %s: tensor %s is missing (check tie_word_embeddings and "
                             "the layer count in config.json)", src, nm);
        if (x->dtype != ST_F32 && x->dtype != ST_F16 && x->dtype != ST_BF16)
            return trit_fail(err, TRIT_ERR_UNSUPPORTED, "--init %s: tensor %s is stored as %s; continual QAT starts "
                             "from full-precision weights (F32, F16 or BF16 master weights, quantization_mode "
                             "online), not a packed ternary checkpoint", src, nm, st_dtype_name(x->dtype));
        if (x->numel != numel)
            return trit_fail(err, TRIT_ERR_MISMATCH, "--init %s: tensor %s has %lld elements, the config needs %lld",
                             src, nm, (long long)x->numel, (long long)numel);
        st_to_f32(x, dst);
        for (int64_t j = 0; j < numel; j++)
            if (!isfinite(dst[j]))
                return trit_fail(err, TRIT_ERR_VALUE, "--init %s: tensor %s holds NaN or Inf (element %lld)", src, nm,
                                 (long long)j);
    }
    return TRIT_OK;
}

/* See checkpoint.h. */
trit_status tc_init_weights(const char *src, trit_trainer *t, trit_error *err) {
    char ck[4096];
    init_checkpoint_path(src, ck, sizeof ck);
    trit_status st;
    if (ck[0]) {
        st_file *f = NULL;
        st = st_open(ck, &f, err);
        if (st != TRIT_OK) return st;
        st = load_params(t, f, find_in_file, ck, err);
        st_close(f);
    } else {
        st_set *s = NULL;
        st = st_set_open(src, &s, err);
        if (st != TRIT_OK) return st;
        st = load_params(t, s, find_in_set, src, err);
        st_set_close(s);
    }
    return st;
}
