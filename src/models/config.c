/*
 * config.c - reads a Hugging Face config.json (and generation_config.json)
 * for the architectures trit runs: model_type "bitnet" (BitNetForCausalLM)
 * and "llama" (LlamaForCausalLM, e.g. with a bitnet quantization_config).
 * Defaults follow transformers' BitNetConfig / LlamaConfig.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "models/model.h"
#include "nn/ops.h"

/* ==== helpers ==== */

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads a positive integer key; returns 0 and fills err when absent/invalid
 * and required (def < 0), else uses def. */
static int get_pos_int(const json_value *root, const char *key, int64_t def, int64_t *out,
                       const char *path, trit_error *err) {
    const json_value *v = json_get(root, key);
    if (!v || v->type == JSON_NULL) {
        if (def < 0) {
            trit_fail(err, TRIT_ERR_FORMAT, "%s: required key \"%s\" is missing", path, key);
            return 0;
        }
        *out = def;
        return 1;
    }
    int64_t x;
    if (!json_int(v, &x) || x <= 0 || x > ((int64_t)1 << 31)) {
        trit_fail(err, TRIT_ERR_FORMAT, "%s: \"%s\" must be a positive integer", path, key);
        return 0;
    }
    *out = x;
    return 1;
}

/* Collects eos ids from an int or a list of ints; returns count (<= 8). */
static int read_ids(const json_value *v, int64_t *ids, int max) {
    int n = 0;
    int64_t x;
    if (!v) return 0;
    if (json_int(v, &x)) {
        if (x >= 0) ids[n++] = x;
    } else if (v->type == JSON_ARRAY) {
        for (size_t i = 0; i < json_len(v) && n < max; i++)
            if (json_int(json_at(v, i), &x) && x >= 0) ids[n++] = x;
    }
    return n;
}

/* ==== rope ==== */

/* Reads rope settings from rope_parameters (transformers >= 5) or
 * rope_theta + rope_scaling (older configs). */
static trit_status read_rope(const json_value *root, trit_config *c, double default_theta,
                             const char *path, trit_error *err) {
    const json_value *rp = json_get(root, "rope_parameters");
    const json_value *rs = json_get(root, "rope_scaling");
    const json_value *src = (rp && rp->type == JSON_OBJECT) ? rp : (rs && rs->type == JSON_OBJECT ? rs : NULL);
    c->rope_theta = json_get_num(root, "rope_theta", default_theta);
    if (rp && rp->type == JSON_OBJECT) c->rope_theta = json_get_num(rp, "rope_theta", c->rope_theta);
    if (!(c->rope_theta > 0)) return trit_fail(err, TRIT_ERR_FORMAT, "%s: rope_theta must be > 0", path);
    c->rope_type = ROPE_DEFAULT;
    c->rope_factor = 1;
    if (!src) return TRIT_OK;
    const char *type = json_get_str(src, "rope_type", json_get_str(src, "type", "default"));
    double prf = json_get_num(src, "partial_rotary_factor", json_get_num(root, "partial_rotary_factor", 1.0));
    if (prf != 1.0)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: partial_rotary_factor %g is not supported (only 1.0)", path, prf);
    if (!strcmp(type, "default")) return TRIT_OK;
    c->rope_factor = json_get_num(src, "factor", 1.0);
    if (!(c->rope_factor > 0)) return trit_fail(err, TRIT_ERR_FORMAT, "%s: rope factor must be > 0", path);
    if (!strcmp(type, "linear")) {
        c->rope_type = ROPE_LINEAR;
        return TRIT_OK;
    }
    if (!strcmp(type, "llama3")) {
        c->rope_type = ROPE_LLAMA3;
        c->rope_low_freq = json_get_num(src, "low_freq_factor", NAN);
        c->rope_high_freq = json_get_num(src, "high_freq_factor", NAN);
        c->rope_orig_max = json_get_int(src, "original_max_position_embeddings", -1);
        if (!(c->rope_low_freq > 0) || !(c->rope_high_freq > c->rope_low_freq) || c->rope_orig_max <= 0)
            return trit_fail(err, TRIT_ERR_FORMAT,
                             "%s: llama3 rope scaling needs low_freq_factor < high_freq_factor and "
                             "original_max_position_embeddings", path);
        return TRIT_OK;
    }
    return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                     "%s: rope type \"%s\" is not supported (supported: default, linear, llama3)", path, type);
}

/* See model.h. inv_freq[i] = 1 / theta^(2i/d) in float32, then scaled. */
void trit_rope_inv_freq(const trit_config *c, float *inv) {
    int64_t d = c->head_dim;
    for (int64_t i = 0; i < d / 2; i++) {
        float f = (float)(1.0 / pow(c->rope_theta, (double)(2 * i) / (double)d));
        if (c->rope_type == ROPE_LINEAR) {
            f = f / (float)c->rope_factor;
        } else if (c->rope_type == ROPE_LLAMA3) {
            double wavelen = 2 * M_PI / (double)f;
            double lo_wl = (double)c->rope_orig_max / c->rope_low_freq;
            double hi_wl = (double)c->rope_orig_max / c->rope_high_freq;
            float fs = wavelen > lo_wl ? f / (float)c->rope_factor : f;
            if (!(wavelen < hi_wl) && !(wavelen > lo_wl)) {
                double smooth = ((double)c->rope_orig_max / wavelen - c->rope_low_freq) /
                                (c->rope_high_freq - c->rope_low_freq);
                fs = (float)((1 - smooth) * fs / c->rope_factor + smooth * fs);
            }
            f = fs;
        }
        inv[i] = f;
    }
}

/* ==== config ==== */

void trit_config_free(trit_config *c) {
    for (int i = 0; i < c->n_skip; i++) free(c->skip_modules[i]);
    free(c->skip_modules);
    c->skip_modules = NULL;
    c->n_skip = 0;
}

/* Parses the quantization_config object (may be absent: dense model). */
static trit_status read_quant(const json_value *root, trit_config *c, const char *path, trit_error *err) {
    const json_value *q = json_get(root, "quantization_config");
    c->wfmt = WFMT_DENSE;
    if (!q || q->type == JSON_NULL) return TRIT_OK;
    if (q->type != JSON_OBJECT) return trit_fail(err, TRIT_ERR_FORMAT, "%s: quantization_config must be an object", path);
    const char *method = json_get_str(q, "quant_method", NULL);
    if (!method)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: quantization_config has no quant_method", path);
    if (strcmp(method, "bitnet") != 0)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: quant_method \"%s\" is not supported; trit runs \"bitnet\" (ternary) checkpoints",
                         path, method);
    const char *lc = json_get_str(q, "linear_class", "bitlinear");
    if (strcmp(lc, "bitlinear") && strcmp(lc, "autobitlinear"))
        return trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: linear_class \"%s\" is not supported", path, lc);
    c->autobitlinear = !strcmp(lc, "autobitlinear");
    const char *mode = json_get_str(q, "quantization_mode", "offline");
    if (!strcmp(mode, "offline")) c->wfmt = WFMT_PACKED_OFFLINE;
    else if (!strcmp(mode, "online")) c->wfmt = WFMT_ONLINE;
    else return trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: quantization_mode \"%s\" is not supported", path, mode);
    if (c->wfmt == WFMT_ONLINE && !c->autobitlinear)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: quantization_mode online needs linear_class autobitlinear (as transformers)", path);
    if (json_get_bool(q, "use_rms_norm", 0))
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: quantization_config.use_rms_norm (a norm inside each BitLinear) is not supported yet", path);
    const json_value *skip = json_get(q, "modules_to_not_convert");
    if (skip && skip->type == JSON_ARRAY) {
        size_t n = json_len(skip);
        c->skip_modules = calloc(n ? n : 1, sizeof(char *));
        if (!c->skip_modules) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const char *s = json_str(json_at(skip, i));
            if (!s) continue;
            c->skip_modules[c->n_skip] = strdup(s);
            if (!c->skip_modules[c->n_skip]) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
            c->n_skip++;
        }
    }
    return TRIT_OK;
}

/* See model.h. */
trit_status trit_config_load(const char *dir, trit_config *c, trit_error *err) {
    memset(c, 0, sizeof *c);
    char eb[512];
    char *path = path_join(dir, "config.json");
    if (!path) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    size_t len;
    char *text = json_read_file(path, &len, eb, sizeof eb);
    if (!text) {
        trit_status st = trit_fail(err, TRIT_ERR_IO, "%s; point -m at a Hugging Face model folder "
                                   "(config.json + model.safetensors)", eb);
        free(path);
        return st;
    }
    json_doc *doc = json_parse(text, len, eb, sizeof eb);
    free(text);
    trit_status st = TRIT_OK;
    if (!doc) {
        st = trit_fail(err, TRIT_ERR_FORMAT, "%s: invalid JSON: %s", path, eb);
        goto done;
    }
    const json_value *root = json_root(doc);
    if (root->type != JSON_OBJECT) {
        st = trit_fail(err, TRIT_ERR_FORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    const char *mt = json_get_str(root, "model_type", NULL);
    if (!mt) {
        st = trit_fail(err, TRIT_ERR_FORMAT, "%s: no \"model_type\"", path);
        goto done;
    }
    double default_theta;
    if (!strcmp(mt, "bitnet")) {
        c->arch = ARCH_BITNET;
        default_theta = 500000.0;
    } else if (!strcmp(mt, "llama")) {
        c->arch = ARCH_LLAMA;
        default_theta = 10000.0;
    } else {
        st = trit_fail(err, TRIT_ERR_UNSUPPORTED,
                       "%s: model_type \"%s\" is not supported (supported: bitnet, llama)", path, mt);
        goto done;
    }
    int bit = c->arch == ARCH_BITNET;
    if (!get_pos_int(root, "vocab_size", bit ? 128256 : 32000, &c->vocab, path, err) ||
        !get_pos_int(root, "hidden_size", bit ? 2560 : 4096, &c->dim, path, err) ||
        !get_pos_int(root, "intermediate_size", bit ? 6912 : 11008, &c->ffn, path, err) ||
        !get_pos_int(root, "num_hidden_layers", bit ? 30 : 32, &c->n_layers, path, err) ||
        !get_pos_int(root, "num_attention_heads", bit ? 20 : 32, &c->n_heads, path, err) ||
        !get_pos_int(root, "num_key_value_heads", c->n_heads, &c->n_kv_heads, path, err) ||
        !get_pos_int(root, "max_position_embeddings", 2048, &c->max_pos, path, err) ||
        !get_pos_int(root, "head_dim", c->dim / c->n_heads, &c->head_dim, path, err)) {
        st = err ? err->code : TRIT_ERR_FORMAT;
        goto done;
    }
    if (c->n_heads % c->n_kv_heads != 0 || c->head_dim % 2 != 0 || c->head_dim > 4096 || c->n_layers > 4096 ||
        (json_get(root, "head_dim") == NULL && c->dim % c->n_heads != 0)) {
        st = trit_fail(err, TRIT_ERR_FORMAT,
                       "%s: inconsistent attention shape (hidden %lld, heads %lld, kv heads %lld, head_dim %lld)",
                       path, (long long)c->dim, (long long)c->n_heads, (long long)c->n_kv_heads,
                       (long long)c->head_dim);
        goto done;
    }
    c->eps = (float)json_get_num(root, "rms_norm_eps", bit ? 1e-5 : 1e-6);
    if (!(c->eps > 0)) {
        st = trit_fail(err, TRIT_ERR_FORMAT, "%s: rms_norm_eps must be > 0", path);
        goto done;
    }
    const char *act = json_get_str(root, "hidden_act", bit ? "relu2" : "silu");
    if (!strcmp(act, "relu2")) c->act = NN_ACT_RELU2;
    else if (!strcmp(act, "silu") || !strcmp(act, "swish")) c->act = NN_ACT_SILU;
    else {
        st = trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (relu2, silu)", path, act);
        goto done;
    }
    c->tied = json_get_bool(root, "tie_word_embeddings", 0);
    c->attn_bias = json_get_bool(root, "attention_bias", 0);
    c->mlp_bias = json_get_bool(root, "mlp_bias", 0);
    if ((st = read_rope(root, c, default_theta, path, err)) != TRIT_OK) goto done;
    if ((st = read_quant(root, c, path, err)) != TRIT_OK) goto done;
    c->bos_id = json_get_int(root, "bos_token_id", -1);
    c->n_eos = read_ids(json_get(root, "eos_token_id"), c->eos_ids, 8);
    json_free(doc);
    doc = NULL;

    /* generation_config.json, when present, gives the EOS ids generate() uses */
    free(path);
    path = path_join(dir, "generation_config.json");
    if (!path) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    text = json_read_file(path, &len, eb, sizeof eb);
    if (text) {
        doc = json_parse(text, len, eb, sizeof eb);
        free(text);
        if (!doc) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: invalid JSON: %s", path, eb);
            goto done;
        }
        int64_t ids[8];
        int n = read_ids(json_get(json_root(doc), "eos_token_id"), ids, 8);
        for (int i = 0; i < n; i++) {
            int dup = 0;
            for (int j = 0; j < c->n_eos; j++) dup |= c->eos_ids[j] == ids[i];
            if (!dup && c->n_eos < 8) c->eos_ids[c->n_eos++] = ids[i];
        }
    }
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] >= c->vocab) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: eos_token_id %lld is outside the vocabulary (%lld)",
                           path, (long long)c->eos_ids[i], (long long)c->vocab);
            goto done;
        }
done:
    json_free(doc);
    free(path);
    if (st != TRIT_OK) trit_config_free(c);
    return st;
}
