/*
 * export.c - writes a trainer's model as a Hugging Face checkpoint folder
 * that trit_model_load and transformers' BitNetForCausalLM read
 * (trit_trainer_export in trit_train.h).
 *
 * Formats
 *   packed (quantization_mode offline, linear_class bitlinear): every
 *     BitLinear weight W (out, in) is quantized exactly as the trainer's
 *     forward at full strength does it (tr_quantize_weight) and stored as uint8
 *     [out/4, in]: row r in packed row r % (out/4) at bits 2*(r / (out/4)),
 *     code = w + 1 (the README's layout). Each linear gets a per-tensor
 *     weight_scale (F32, shape [1]) read with the DIVIDING rule
 *     y = (x_q . w_q) / (act_scale * weight_scale), so the dequantized weight
 *     is code / weight_scale:
 *       absmean, absmedian: weight_scale = s = 1/max(mean|W| (median|W|), 1e-5),
 *         the trainer's own float divisor, so code / weight_scale is
 *         bit for bit the trainer's Q(W) = code / s;
 *       binary: codes +-1, weight_scale = 1/b (b = mean|W|), chosen among
 *         the floats nearest 1/b so that 1 / weight_scale == b whenever such
 *         a float exists.
 *     The scale is kept in F32 whatever the float dtype: rounding it to bf16
 *     would change every output of the layer by up to 0.4%.
 *   master (quantization_mode online, linear_class autobitlinear): the
 *     latent weights themselves; loaders ternarize them at load with
 *     absmean, so this format is refused for other quantizers.
 *   quant none: a plain dense BitNet model without quantization_config.
 * Embeddings, norms and an untied lm_head are stored in BF16 (default) or
 * F32 (exact: the trainer's values).
 *
 * The folder is built as OUT.partial-PID next to OUT and renamed to OUT
 * when complete; an existing non-empty OUT is refused, so a finished export
 * is never overwritten and a failed one leaves nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/atomic.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "train/train_model.h"
#include "train/train_ops.h"

/* ======================================================================== */
/* Parameters                                                                */
/* ======================================================================== */

/* See trit_train.h. */
trit_export_params trit_export_default_params(void) {
    trit_export_params p;
    memset(&p, 0, sizeof p);
    p.format = TRIT_EXPORT_PACKED;
    p.f32 = 0;
    p.tokenizer = NULL;
    p.bos_id = -1;
    p.eos_id = -1;
    p.max_position = 0;
    return p;
}

/* ======================================================================== */
/* Tensors                                                                   */
/* ======================================================================== */

typedef struct {
    st_write_tensor *t;
    void **owned;        /* buffer of each tensor (freed at the end) */
    size_t n, cap;
} ex_list;

/* Appends a tensor owning `data` (malloc'ed; taken over, so freed here on
 * failure); returns 0 on allocation failure. */
static int ex_add(ex_list *L, const char *name, st_dtype dt, int ndim, int64_t d0, int64_t d1, void *data,
                  size_t nbytes) {
    char *nm = strdup(name);
    if (nm && L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 64;
        st_write_tensor *t = realloc(L->t, cap * sizeof *t);
        if (t) L->t = t;
        void **o = t ? realloc(L->owned, cap * sizeof *o) : NULL;
        if (o) L->owned = o;
        if (t && o) L->cap = cap;
    }
    if (!nm || !data || L->n == L->cap) {
        free(nm);
        free(data);
        return 0;
    }
    st_write_tensor *t = &L->t[L->n];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = dt;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->data = data;
    t->nbytes = nbytes;
    L->owned[L->n++] = data;
    return 1;
}

/* Frees every tensor of L. */
static void ex_free(ex_list *L) {
    for (size_t i = 0; i < L->n; i++) {
        free((void *)L->t[i].name);
        free(L->owned[i]);
    }
    free(L->t);
    free(L->owned);
    memset(L, 0, sizeof *L);
}

/* Appends the float tensor x (rows x cols, cols 0 for a vector) as F32 or
 * BF16 (round to nearest even); 0 on allocation failure. */
static int ex_add_float(ex_list *L, const char *name, const float *x, int64_t rows, int64_t cols, int f32) {
    size_t n = (size_t)(rows * (cols ? cols : 1));
    void *buf = malloc(n * (f32 ? 4 : 2) + 1);
    if (!buf) return 0;
    if (f32) memcpy(buf, x, n * 4);
    else
        for (size_t i = 0; i < n; i++) ((uint16_t *)buf)[i] = trit_f32_to_bf16(x[i]);
    return ex_add(L, name, f32 ? ST_F32 : ST_BF16, cols ? 2 : 1, rows, cols, buf, n * (f32 ? 4 : 2));
}

/* Builds the tensor list of t in `fmt` (PACKED, MASTER; DENSE for quant
 * none is MASTER without quantization). */
static trit_status build_tensors(const trit_trainer *t, trit_export_format fmt, int f32, ex_list *L,
                                 trit_error *err) {
    const int packed = fmt == TRIT_EXPORT_PACKED && t->p.quant != TRIT_QUANT_NONE;
    int8_t *codes = t->wcodes; /* the trainer's buffer of the largest BitLinear matrix */
    char name[200];
    for (size_t i = 0; i < t->n_tensors; i++) {
        int64_t numel, R, C;
        float *x = tr_tensor_view(t, &t->params, i, &numel, &R, &C);
        const char *nm = t->names[i];
        if (!packed || !tr_param_is_bitlinear(t->tensor_param[i])) {
            if (!ex_add_float(L, nm, x, R, C, f32)) goto nomem;
            continue;
        }
        if (R % 4 != 0)
            return trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s has %lld output rows; the packed format stores 4 rows "
                             "per byte and needs a multiple of 4 (use the master-weight format, --format bf16)", nm,
                             (long long)R);
        float div;
        tr_quantize_weight(t->pool, NULL, codes, &div, x, numel, t->p.quant, 1.0f, t->acts.wscratch);
        uint8_t *pk = malloc((size_t)(R / 4 * C));
        if (!pk) goto nomem;
        tr_pack_codes(t->pool, pk, codes, R, C);
        if (!ex_add(L, nm, ST_U8, 2, R / 4, C, pk, (size_t)(R / 4 * C))) goto nomem;
        float *ws = malloc(sizeof(float));
        if (!ws) goto nomem;
        *ws = div;
        size_t base = strlen(nm) - strlen(".weight"); /* every linear is called "<module>.weight" */
        snprintf(name, sizeof name, "%.*s.weight_scale", (int)base, nm);
        if (!ex_add(L, name, ST_F32, 1, 1, 0, ws, sizeof(float))) goto nomem;
    }
    return TRIT_OK;
nomem:
    return trit_fail(err, TRIT_ERR_NOMEM, "out of memory building the exported tensors");
}

/* ======================================================================== */
/* JSON files                                                                */
/* ======================================================================== */

/* config.json of t in `fmt` into b; 0 on allocation failure. */
static int config_json(const trit_trainer *t, trit_export_format fmt, const trit_export_params *p, json_sb *b) {
    const tr_config *c = &t->c;
    int64_t maxpos = p->max_position > 0 ? p->max_position : c->max_pos > 0 ? c->max_pos : t->T;
    char eps[32]; /* the shortest decimal that reads back as the float eps */
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(eps, sizeof eps, "%.*g", digits, (double)c->eps);
        if (strtof(eps, NULL) == c->eps) break;
    }
    int ok = json_sb_printf(b,
        "{\n"
        "  \"architectures\": [\"BitNetForCausalLM\"],\n"
        "  \"model_type\": \"bitnet\",\n"
        "  \"vocab_size\": %lld,\n"
        "  \"hidden_size\": %lld,\n"
        "  \"intermediate_size\": %lld,\n"
        "  \"num_hidden_layers\": %lld,\n"
        "  \"num_attention_heads\": %lld,\n"
        "  \"num_key_value_heads\": %lld,\n"
        "  \"hidden_act\": \"relu2\",\n"
        "  \"max_position_embeddings\": %lld,\n"
        "  \"rms_norm_eps\": %s,\n"
        "  \"rope_theta\": %.17g,\n"
        "  \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": %.17g},\n"
        "  \"attention_bias\": false,\n"
        "  \"attention_dropout\": 0.0,\n"
        "  \"initializer_range\": 0.02,\n"
        "  \"tie_word_embeddings\": %s,\n"
        "  \"use_cache\": true,\n"
        "  \"torch_dtype\": \"%s\"",
        (long long)c->V, (long long)c->D, (long long)c->F, (long long)c->L, (long long)c->H, (long long)c->KV,
        (long long)maxpos, eps, c->theta, c->theta, c->tied ? "true" : "false",
        p->f32 ? "float32" : "bfloat16");
    /* explicit nulls: otherwise transformers falls back to BitNetConfig's
     * Llama-3 defaults (128000 / 128001), outside a small vocabulary */
    if (ok) ok = p->bos_id >= 0 ? json_sb_printf(b, ",\n  \"bos_token_id\": %lld", (long long)p->bos_id)
                                : json_sb_puts(b, ",\n  \"bos_token_id\": null");
    if (ok) ok = p->eos_id >= 0 ? json_sb_printf(b, ",\n  \"eos_token_id\": %lld", (long long)p->eos_id)
                                : json_sb_puts(b, ",\n  \"eos_token_id\": null");
    if (ok) ok = json_sb_puts(b, ",\n  \"pad_token_id\": null");
    if (ok && t->p.quant != TRIT_QUANT_NONE)
        ok = json_sb_printf(b, ",\n  \"quantization_config\": {\"quant_method\": \"bitnet\", \"linear_class\": \"%s\", "
                            "\"quantization_mode\": \"%s\"}",
                            fmt == TRIT_EXPORT_PACKED ? "bitlinear" : "autobitlinear",
                            fmt == TRIT_EXPORT_PACKED ? "offline" : "online");
    return ok && json_sb_puts(b, "\n}\n");
}

/* generation_config.json into b; 0 on allocation failure. */
static int gen_config_json(const trit_export_params *p, json_sb *b) {
    int ok = json_sb_puts(b, "{\n");
    if (ok && p->bos_id >= 0) ok = json_sb_printf(b, "  \"bos_token_id\": %lld,\n", (long long)p->bos_id);
    if (ok && p->eos_id >= 0) ok = json_sb_printf(b, "  \"eos_token_id\": %lld,\n", (long long)p->eos_id);
    return ok && json_sb_puts(b, "  \"do_sample\": false\n}\n");
}

/* ======================================================================== */
/* Files and folders                                                         */
/* ======================================================================== */

/* Writes n bytes to dir/name (created, must not exist) and fsyncs it. */
static trit_status write_file(const char *dir, const char *name, const void *data, size_t n, trit_error *err) {
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return trit_fail(err, TRIT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    const uint8_t *p = data;
    int ok = 1;
    while (ok && n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            ok = 0;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (ok && fsync(fd) != 0) ok = 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) return trit_fail(err, TRIT_ERR_IO, "writing %s failed: %s (check free disk space)", path, strerror(e));
    return TRIT_OK;
}

/* Copies the file src to dir/name. */
static trit_status copy_file(const char *src, const char *dir, const char *name, trit_error *err) {
    char eb[256];
    size_t len;
    char *text = json_read_file(src, &len, eb, sizeof eb);
    if (!text) return trit_fail(err, TRIT_ERR_IO, "tokenizer: %s", eb);
    trit_status st = write_file(dir, name, text, len, err);
    free(text);
    return st;
}

/* 1 if path is a regular file. */
static int is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* Copies tokenizer.json and, when present beside it, tokenizer_config.json
 * and special_tokens_map.json from tok (a tokenizer.json file or a folder
 * holding one) into dir. */
static trit_status copy_tokenizer(const char *tok, const char *dir, trit_error *err) {
    char base[4096], path[4352];
    struct stat s;
    if (stat(tok, &s) != 0) return trit_fail(err, TRIT_ERR_IO, "tokenizer %s: %s", tok, strerror(errno));
    if (S_ISDIR(s.st_mode)) {
        snprintf(base, sizeof base, "%s", tok);
        snprintf(path, sizeof path, "%s/tokenizer.json", base);
        if (!is_file(path))
            return trit_fail(err, TRIT_ERR_IO, "tokenizer %s: the folder has no tokenizer.json (export copies a "
                             "Hugging Face tokenizer.json + tokenizer_config.json)", tok);
    } else {
        snprintf(base, sizeof base, "%s", tok);
        char *slash = strrchr(base, '/');
        if (slash) *slash = 0;
        else snprintf(base, sizeof base, ".");
        snprintf(path, sizeof path, "%s", tok);
    }
    trit_status st = copy_file(path, dir, "tokenizer.json", err);
    static const char *const extra[2] = {"tokenizer_config.json", "special_tokens_map.json"};
    for (int i = 0; st == TRIT_OK && i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", base, extra[i]);
        if (is_file(path)) st = copy_file(path, dir, extra[i], err);
    }
    return st;
}

/* Removes dir and every file and folder below it (best effort). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4352];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat s;
            if (lstat(p, &s) == 0 && S_ISDIR(s.st_mode)) remove_tree(p);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Writes one complete checkpoint (config.json, generation_config.json,
 * model.safetensors, tokenizer files) of t in fmt into the folder dir. */
static trit_status write_checkpoint(const trit_trainer *t, trit_export_format fmt, const trit_export_params *p,
                                    const char *dir, trit_error *err) {
    ex_list L = {0};
    json_sb cfg = {0}, gen = {0}, meta = {0};
    trit_status st = build_tensors(t, fmt, p->f32, &L, err);
    if (st != TRIT_OK) goto done;
    const char *qn[] = {"absmean", "absmedian", "binary", "none"};
    if (!config_json(t, fmt, p, &cfg) || !gen_config_json(p, &gen) ||
        !json_sb_printf(&meta, "{\"format\":\"pt\",\"trit.export\":\"quant %s, step %lld, %s\"}", qn[t->p.quant],
                        (long long)t->step, t->p.quant == TRIT_QUANT_NONE ? "dense"
                        : fmt == TRIT_EXPORT_PACKED ? "packed ternary (offline)" : "master weights (online)")) {
        st = trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
        goto done;
    }
    char path[4352];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((st = st_write(path, L.t, L.n, meta.buf, err)) != TRIT_OK) goto done;
    if ((st = write_file(dir, "config.json", cfg.buf, cfg.len, err)) != TRIT_OK) goto done;
    if ((st = write_file(dir, "generation_config.json", gen.buf, gen.len, err)) != TRIT_OK) goto done;
    if (p->tokenizer) st = copy_tokenizer(p->tokenizer, dir, err);
done:
    ex_free(&L);
    json_sb_free(&cfg);
    json_sb_free(&gen);
    json_sb_free(&meta);
    return st;
}

/* ======================================================================== */
/* Entry                                                                     */
/* ======================================================================== */

/* See trit_train.h. */
trit_status trit_trainer_export(const trit_trainer *t, const char *out_dir, const trit_export_params *params,
                                trit_error *err) {
    trit_export_params p = params ? *params : trit_export_default_params();
    if (!out_dir || !*out_dir) return trit_fail(err, TRIT_ERR_ARG, "export: no output folder given");
    if ((int)p.format < 0 || p.format > TRIT_EXPORT_BOTH)
        return trit_fail(err, TRIT_ERR_ARG, "export: unknown format %d", (int)p.format);
    if (p.format != TRIT_EXPORT_PACKED && t->p.quant != TRIT_QUANT_ABSMEAN && t->p.quant != TRIT_QUANT_NONE)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED, "export: the master-weight format (quantization_mode online) is "
                         "ternarized by its readers with absmean (transformers' AutoBitLinear and trit both), so it "
                         "would not reproduce a model trained with the %s quantizer; export it packed",
                         t->p.quant == TRIT_QUANT_ABSMEDIAN ? "absmedian" : "binary");
    if (p.format == TRIT_EXPORT_BOTH && t->p.quant == TRIT_QUANT_NONE)
        return trit_fail(err, TRIT_ERR_ARG, "export: a full-precision model (quant none) has one dense format; "
                         "export it with the packed or bf16 format");
    if (p.bos_id >= t->c.V || p.eos_id >= t->c.V)
        return trit_fail(err, TRIT_ERR_ARG, "export: bos id %lld / eos id %lld outside the vocabulary of %lld",
                         (long long)p.bos_id, (long long)p.eos_id, (long long)t->c.V);
    /* the final name without trailing slashes, and its parent */
    char out[4096], tmp[4200], sub[4300];
    size_t ol = strlen(out_dir);
    while (ol > 1 && out_dir[ol - 1] == '/') ol--;
    if (ol >= sizeof out - 64) return trit_fail(err, TRIT_ERR_ARG, "export: output path is too long");
    memcpy(out, out_dir, ol);
    out[ol] = 0;
    struct stat s;
    if (stat(out, &s) == 0) {
        if (!S_ISDIR(s.st_mode))
            return trit_fail(err, TRIT_ERR_IO, "export: %s exists and is not a folder; choose another output", out);
        if (!trit_dir_is_empty(out))
            return trit_fail(err, TRIT_ERR_IO, "export: %s exists and is not empty; export never overwrites: remove "
                             "it or choose another output", out);
    } else if (errno != ENOENT) {
        return trit_fail(err, TRIT_ERR_IO, "export: cannot access %s: %s", out, strerror(errno));
    }
    snprintf(tmp, sizeof tmp, "%s.partial-%ld", out, (long)getpid());
    remove_tree(tmp); /* a leftover of an earlier process with the same id */
    if (mkdir(tmp, 0777) != 0)
        return trit_fail(err, TRIT_ERR_IO, "export: cannot create %s: %s", tmp, strerror(errno));
    trit_status st = write_checkpoint(t, p.format == TRIT_EXPORT_MASTER ? TRIT_EXPORT_MASTER : TRIT_EXPORT_PACKED,
                                      &p, tmp, err);
    if (st == TRIT_OK && p.format == TRIT_EXPORT_BOTH) {
        snprintf(sub, sizeof sub, "%s/%s", tmp, p.f32 ? "f32" : "bf16");
        if (mkdir(sub, 0777) != 0) st = trit_fail(err, TRIT_ERR_IO, "export: cannot create %s: %s", sub, strerror(errno));
        else st = write_checkpoint(t, TRIT_EXPORT_MASTER, &p, sub, err);
        if (st == TRIT_OK) trit_sync_dir(sub);
    }
    if (st == TRIT_OK) {
        trit_sync_dir(tmp);
        if (rename(tmp, out) != 0)
            st = trit_fail(err, TRIT_ERR_IO, "export: cannot move the finished folder to %s: %s", out,
                           errno == ENOTEMPTY || errno == EEXIST ? "it is no longer empty" : strerror(errno));
    }
    if (st != TRIT_OK) {
        remove_tree(tmp);
        return st;
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    if (!slash) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) parent[1] = 0;
    else *slash = 0;
    trit_sync_dir(parent);
    return TRIT_OK;
}
