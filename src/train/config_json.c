/*
 * config_json.c - the trainer's model configuration read from and written
 * as a Hugging Face BitNet config.json (trit_train.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/json.h"
#include "trit_train.h"

/* ======================================================================== */
/* Reading                                                                   */
/* ======================================================================== */

/* Reads integer key of obj into *out (def if absent); 0 with err when the
 * value is not an integer in [lo, hi] or absent and required. */
static int get_size(const json_value *obj, const char *key, int required, int64_t def, int64_t lo, const char *what,
                    int64_t *out, trit_error *err) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) {
        if (required) {
            trit_fail(err, TRIT_ERR_FORMAT, "%s: \"%s\" is missing", what, key);
            return 0;
        }
        *out = def;
        return 1;
    }
    if (!json_int(v, out) || *out < lo || *out > ((int64_t)1 << 31)) {
        trit_fail(err, TRIT_ERR_FORMAT, "%s: \"%s\" must be an integer >= %lld", what, key, (long long)lo);
        return 0;
    }
    return 1;
}

/* See trit_train.h. */
trit_status trit_train_config_from_json(const char *text, size_t len, const char *what, trit_train_config *cfg,
                                        trit_error *err) {
    char jerr[256];
    memset(cfg, 0, sizeof *cfg);
    json_doc *d = json_parse(text, len, jerr, sizeof jerr);
    if (!d) return trit_fail(err, TRIT_ERR_FORMAT, "%s: not valid JSON (%s)", what, jerr);
    const json_value *r = json_root(d);
    trit_status st = TRIT_OK;
    const char *mt = json_get_str(r, "model_type", "bitnet"), *act = json_get_str(r, "hidden_act", "relu2");
    if (r->type != JSON_OBJECT) {
        st = trit_fail(err, TRIT_ERR_FORMAT, "%s: not a JSON object", what);
    } else if (strcmp(mt, "bitnet") != 0) {
        st = trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: model_type \"%s\": the trainer trains model_type \"bitnet\" "
                       "(BitNetForCausalLM) only", what, mt);
    } else if (strcmp(act, "relu2") != 0) {
        st = trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: hidden_act \"%s\": BitNet uses relu2", what, act);
    } else if (!get_size(r, "hidden_size", 1, 0, 1, what, &cfg->hidden_size, err) ||
               !get_size(r, "intermediate_size", 1, 0, 1, what, &cfg->intermediate_size, err) ||
               !get_size(r, "num_hidden_layers", 1, 0, 1, what, &cfg->n_layers, err) ||
               !get_size(r, "num_attention_heads", 1, 0, 1, what, &cfg->n_heads, err) ||
               !get_size(r, "num_key_value_heads", 0, cfg->n_heads, 1, what, &cfg->n_kv_heads, err) ||
               !get_size(r, "vocab_size", 0, 0, 0, what, &cfg->vocab_size, err) ||
               !get_size(r, "max_position_embeddings", 0, 0, 0, what, &cfg->max_position, err)) {
        st = err ? err->code : TRIT_ERR_FORMAT;
    } else {
        cfg->rope_theta = json_get_num(r, "rope_theta", 500000.0);
        const json_value *rp = json_get(r, "rope_parameters");
        if (rp && rp->type == JSON_OBJECT) cfg->rope_theta = json_get_num(rp, "rope_theta", cfg->rope_theta);
        cfg->rms_norm_eps = json_get_num(r, "rms_norm_eps", 1e-5);
        cfg->tie_embeddings = json_get_bool(r, "tie_word_embeddings", 0);
        if (!(cfg->rope_theta > 0) || !(cfg->rms_norm_eps > 0))
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: rope_theta and rms_norm_eps must be > 0", what);
    }
    json_free(d);
    return st;
}

/* ======================================================================== */
/* Writing                                                                   */
/* ======================================================================== */

/* See trit_train.h. Doubles use %.17g so that reading gives them back. */
char *trit_train_config_to_json(const trit_train_config *c) {
    json_sb b = {0};
    int ok = json_sb_printf(&b,
                            "{\n  \"architectures\": [\"BitNetForCausalLM\"],\n  \"model_type\": \"bitnet\",\n"
                            "  \"hidden_act\": \"relu2\",\n  \"vocab_size\": %lld,\n  \"hidden_size\": %lld,\n"
                            "  \"intermediate_size\": %lld,\n  \"num_hidden_layers\": %lld,\n"
                            "  \"num_attention_heads\": %lld,\n  \"num_key_value_heads\": %lld,\n"
                            "  \"max_position_embeddings\": %lld,\n  \"rope_theta\": %.17g,\n"
                            "  \"rms_norm_eps\": %.17g,\n  \"tie_word_embeddings\": %s\n}\n",
                            (long long)c->vocab_size, (long long)c->hidden_size, (long long)c->intermediate_size,
                            (long long)c->n_layers, (long long)c->n_heads, (long long)c->n_kv_heads,
                            (long long)c->max_position, c->rope_theta, c->rms_norm_eps,
                            c->tie_embeddings ? "true" : "false");
    if (!ok) {
        json_sb_free(&b);
        return NULL;
    }
    return b.buf;
}
