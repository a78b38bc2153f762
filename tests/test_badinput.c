/*
 * test_badinput.c - corrupt, truncated and mismatched model folders must be
 * refused with the right status and a message naming the file and tensor,
 * never a crash (this program also runs under ASan/UBSan).
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tt.h"
#include "trit.h"
#include "io/safetensors.h"

static char tmproot[256];

/* ==== helpers ==== */

static int copy_file(const char *src, const char *dst) {
    FILE *a = fopen(src, "rb"), *b = a ? fopen(dst, "wb") : NULL;
    if (!a || !b) { if (a) fclose(a); return 0; }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    return fclose(b) == 0;
}

/* Copies fixture `name` (top-level files only) to a fresh folder; returns it. */
static const char *clone(const char *name, const char *tag) {
    static char dir[512];
    char src[512], s[1024], d[1024];
    snprintf(dir, sizeof dir, "%s/%s_%s", tmproot, name, tag);
    mkdir(dir, 0755);
    snprintf(src, sizeof src, TT_FIXTURES "/models/%s", name);
    DIR *dp = opendir(src);
    if (!dp) return dir;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "reference")) continue;
        snprintf(s, sizeof s, "%s/%s", src, e->d_name);
        snprintf(d, sizeof d, "%s/%s", dir, e->d_name);
        copy_file(s, d);
    }
    closedir(dp);
    return dir;
}

static void write_text(const char *dir, const char *file, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

/* Replaces `from` by `to` in dir/file (first occurrence). */
static void edit_text(const char *dir, const char *file, const char *from, const char *to) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "rb");
    if (!f) return;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *at = strstr(buf, from);
    CHECK(at != NULL, "edit: '%s' not in %s", from, p);
    if (!at) return;
    char out[70000];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
    write_text(dir, file, out);
}

typedef void (*tensor_edit)(st_write_tensor *t, void *scratch);

/* Rewrites dir/file with tensor `name` changed by fn (fn may point t->data at
 * scratch, a 1 MiB buffer holding a copy of the original data). */
static void rewrite(const char *dir, const char *file, const char *name, tensor_edit fn) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    st_file *f = NULL;
    trit_error err = {0};
    CHECK(st_open(p, &f, &err) == TRIT_OK, "%s", err.msg);
    if (!f) return;
    size_t n = st_count(f);
    st_write_tensor *ts = calloc(n, sizeof *ts);
    void *scratch = calloc(1, 1 << 20);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_get(f, i);
        ts[i].name = t->name;
        ts[i].dtype = t->dtype;
        ts[i].ndim = t->ndim;
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        ts[i].data = t->data;
        ts[i].nbytes = t->nbytes;
        if (!strcmp(t->name, name)) {
            memcpy(scratch, t->data, t->nbytes < (1u << 20) ? t->nbytes : (1u << 20));
            ts[i].data = scratch;
            fn(&ts[i], scratch);
            found = 1;
        }
    }
    CHECK(found, "tensor %s not in %s", name, p);
    CHECK(st_write(p, ts, n, NULL, &err) == TRIT_OK, "%s", err.msg);
    st_close(f);
    free(ts);
    free(scratch);
}

/* Loads dir and expects status want with all `needles` in the message. */
static void expect_fail_head(const char *what, const char *dir, int head, trit_status want, const char *n1,
                             const char *n2) {
    trit_model *m = NULL;
    trit_error err = {0};
    trit_model_params mp = trit_model_default_params();
    mp.lm_head_format = head;
    trit_status st = trit_model_load(dir, &mp, &m, &err);
    CHECK(st == want, "%s: status %s, want %s (%s)", what, trit_status_str(st), trit_status_str(want), err.msg);
    CHECK(m == NULL, "%s: model returned on failure", what);
    if (n1) CHECK(strstr(err.msg, n1) != NULL, "%s: message lacks \"%s\": %s", what, n1, err.msg);
    if (n2) CHECK(strstr(err.msg, n2) != NULL, "%s: message lacks \"%s\": %s", what, n2, err.msg);
    trit_model_free(m);
}

static void expect_fail(const char *what, const char *dir, trit_status want, const char *n1, const char *n2) {
    expect_fail_head(what, dir, TRIT_HEAD_AS_STORED, want, n1, n2);
}

/* tensor edits */
static void to_nan(st_write_tensor *t, void *s) {
    if (t->dtype == ST_F32) { float v = NAN; memcpy((char *)s + 4 * (t->nbytes / 8), &v, 4); }
    else { uint16_t h = 0x7fc0; memcpy((char *)s + 2 * (t->nbytes / 4), &h, 2); }
}
static void to_inf(st_write_tensor *t, void *s) { uint16_t h = 0x7c00; memcpy((char *)s + 2, &h, 2); (void)t; }
static void code3(st_write_tensor *t, void *s) { ((uint8_t *)s)[t->nbytes / 2] = 0xFF; }
static void zero_scale(st_write_tensor *t, void *s) { memset(s, 0, t->nbytes); }
static void as_f32_unpacked(st_write_tensor *t, void *s) {
    t->dtype = ST_F32;
    t->shape[0] *= 4;
    t->nbytes = (size_t)(t->shape[0] * t->shape[1]) * 4;
    memset(s, 0, t->nbytes);
}
static void wrong_shape(st_write_tensor *t, void *s) { t->shape[0] -= 1; t->nbytes = (size_t)(t->shape[0] * t->shape[1]) * (t->dtype == ST_U8 ? 1 : 2); (void)s; }
static void as_i32(st_write_tensor *t, void *s) { t->dtype = ST_I32; t->shape[0] /= 2; (void)s; }
static void as_i8(st_write_tensor *t, void *s) { t->dtype = ST_I8; (void)s; }

/* ==== tests ==== */

static void test_missing_files(void) {
    expect_fail("no folder", "/nonexistent/trit-model", TRIT_ERR_IO, "/nonexistent/trit-model", "config.json");
    const char *d = clone("bitnet_untied", "noweights");
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    remove(p);
    expect_fail("no safetensors", d, TRIT_ERR_IO, "model.safetensors", NULL);
    d = clone("bitnet_untied", "noconfig");
    snprintf(p, sizeof p, "%s/config.json", d);
    remove(p);
    expect_fail("no config", d, TRIT_ERR_IO, "config.json", NULL);
    d = clone("bitnet_tied_gqa", "noshard");
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", d);
    remove(p);
    expect_fail("missing shard", d, TRIT_ERR_IO, "model-00002-of-00002.safetensors", NULL);
}

static void test_bad_config(void) {
    const char *d = clone("bitnet_untied", "badjson");
    write_text(d, "config.json", "{\"model_type\": \"bitnet\", ");
    expect_fail("truncated JSON", d, TRIT_ERR_FORMAT, "config.json", NULL);
    d = clone("bitnet_untied", "empty");
    write_text(d, "config.json", "");
    expect_fail("empty config", d, TRIT_ERR_FORMAT, "config.json", NULL);
    d = clone("bitnet_untied", "type");
    edit_text(d, "config.json", "\"model_type\": \"bitnet\"", "\"model_type\": \"gpt2\"");
    expect_fail("unknown model_type", d, TRIT_ERR_UNSUPPORTED, "gpt2", "config.json");
    d = clone("bitnet_untied", "qm");
    edit_text(d, "config.json", "\"quant_method\": \"bitnet\"", "\"quant_method\": \"gptq\"");
    expect_fail("unknown quant method", d, TRIT_ERR_UNSUPPORTED, "gptq", NULL);
    d = clone("bitnet_untied", "mode");
    edit_text(d, "config.json", "\"quantization_mode\": \"offline\"", "\"quantization_mode\": \"sometimes\"");
    expect_fail("unknown quantization mode", d, TRIT_ERR_UNSUPPORTED, "sometimes", NULL);
    d = clone("llama_packed", "rope");
    edit_text(d, "config.json", "\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"");
    expect_fail("unsupported rope", d, TRIT_ERR_UNSUPPORTED, "yarn", NULL);
    d = clone("bitnet_untied", "heads");
    edit_text(d, "config.json", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4");
    expect_fail("heads not divisible", d, TRIT_ERR_FORMAT, "kv heads", NULL);
    d = clone("bitnet_untied", "neg");
    edit_text(d, "config.json", "\"hidden_size\": 96", "\"hidden_size\": -96");
    expect_fail("negative size", d, TRIT_ERR_FORMAT, "hidden_size", NULL);
    d = clone("bitnet_untied", "eos");
    edit_text(d, "generation_config.json", "7", "70000");
    expect_fail("eos outside vocab", d, TRIT_ERR_FORMAT, "eos_token_id", NULL);
}

static void test_shape_mismatch(void) {
    const char *d = clone("bitnet_untied", "hidden");
    edit_text(d, "config.json", "\"intermediate_size\": 260", "\"intermediate_size\": 264");
    expect_fail("ffn size", d, TRIT_ERR_MISMATCH, "model.layers.0.mlp.gate_proj.weight", "model.safetensors");
    d = clone("bitnet_untied", "layers");
    edit_text(d, "config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_fail("more layers than stored", d, TRIT_ERR_MISMATCH, "model.layers.2.", NULL);
    d = clone("bitnet_untied", "vocab");
    edit_text(d, "config.json", "\"vocab_size\": 300", "\"vocab_size\": 301");
    expect_fail("vocab", d, TRIT_ERR_MISMATCH, "model.embed_tokens.weight", NULL);
    d = clone("bitnet_untied", "tied");
    edit_text(d, "config.json", "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": false, \"x\": 1");
    rewrite(d, "model.safetensors", "model.layers.1.mlp.up_proj.weight", wrong_shape);
    expect_fail("packed shape", d, TRIT_ERR_MISMATCH, "model.layers.1.mlp.up_proj.weight", "[64, 96]");
}

static void test_dtype_mismatch(void) {
    const char *d = clone("bitnet_untied", "unpacked");
    rewrite(d, "model.safetensors", "model.layers.0.self_attn.q_proj.weight", as_f32_unpacked);
    expect_fail("float weight in offline mode", d, TRIT_ERR_MISMATCH, "model.layers.0.self_attn.q_proj.weight", "F32");
    d = clone("bitnet_untied", "i32");
    rewrite(d, "model.safetensors", "model.norm.weight", as_i32);
    expect_fail("integer norm", d, TRIT_ERR_MISMATCH, "model.norm.weight", "I32");
}

/* Packed weights stored as int8 (same bits) load and give the same logits. */
static void test_int8_packed_accepted(void) {
    const char *d = clone("bitnet_untied", "i8");
    rewrite(d, "model.safetensors", "model.layers.0.mlp.up_proj.weight", as_i8);
    trit_model *a = NULL, *b = NULL;
    trit_error err = {0};
    CHECK(trit_model_load(d, NULL, &a, &err) == TRIT_OK, "%s", err.msg);
    CHECK(trit_model_load(TT_FIXTURES "/models/bitnet_untied", NULL, &b, &err) == TRIT_OK, "%s", err.msg);
    if (a && b) {
        int32_t ids[5] = {3, 1, 4, 1, 5};
        float la[300], lb[300];
        trit_ctx *ca = NULL, *cb = NULL;
        trit_ctx_params cp = trit_ctx_default_params();
        cp.n_ctx = 8;
        cp.n_threads = 1;
        trit_ctx_new(a, &cp, &ca, &err);
        trit_ctx_new(b, &cp, &cb, &err);
        CHECK(trit_decode(ca, ids, 5, la, 0, &err) == TRIT_OK && trit_decode(cb, ids, 5, lb, 0, &err) == TRIT_OK, "%s", err.msg);
        CHECK(memcmp(la, lb, sizeof la) == 0, "int8-stored packed weights changed the logits");
        trit_ctx_free(ca);
        trit_ctx_free(cb);
    }
    trit_model_free(a);
    trit_model_free(b);
}

static void test_bad_values(void) {
    const char *d = clone("bitnet_untied", "nan");
    rewrite(d, "model.safetensors", "model.layers.1.post_attention_layernorm.weight", to_nan);
    expect_fail("NaN norm", d, TRIT_ERR_VALUE, "model.layers.1.post_attention_layernorm.weight", "NaN");
    d = clone("bitnet_untied", "inf");
    rewrite(d, "model.safetensors", "lm_head.weight", to_inf);
    expect_fail("Inf lm_head", d, TRIT_ERR_VALUE, "lm_head.weight", "Inf");
    expect_fail_head("Inf lm_head, q6 head", d, TRIT_HEAD_Q6, TRIT_ERR_VALUE, "lm_head.weight", "Inf");
    d = clone("bitnet_online_bf16", "nan_embed");
    rewrite(d, "model.safetensors", "model.embed_tokens.weight", to_nan);
    expect_fail_head("NaN tied embedding, q4 head", d, TRIT_HEAD_Q4, TRIT_ERR_VALUE, "model.embed_tokens.weight", "NaN");
    expect_fail("NaN tied embedding", d, TRIT_ERR_VALUE, "model.embed_tokens.weight", "NaN");
    d = clone("bitnet_online_bf16", "nan");
    rewrite(d, "model.safetensors", "model.layers.0.mlp.down_proj.weight", to_nan);
    expect_fail("NaN master weight", d, TRIT_ERR_VALUE, "model.layers.0.mlp.down_proj.weight", NULL);
    d = clone("bitnet_untied", "code3");
    rewrite(d, "model.safetensors", "model.layers.0.mlp.down_proj.weight", code3);
    expect_fail("code 3", d, TRIT_ERR_VALUE, "model.layers.0.mlp.down_proj.weight", "code 3");
    d = clone("bitnet_untied", "scale");
    rewrite(d, "model.safetensors", "model.layers.0.self_attn.v_proj.weight_scale", zero_scale);
    expect_fail("zero scale", d, TRIT_ERR_VALUE, "v_proj.weight_scale", NULL);
}

static void test_corrupt_files(void) {
    char p[1024];
    const char *d = clone("bitnet_untied", "trunc");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    CHECK(truncate(p, 100000) == 0, "truncate");
    expect_fail("truncated safetensors", d, TRIT_ERR_FORMAT, "model.safetensors", NULL);
    d = clone("bitnet_untied", "hdr");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    FILE *f = fopen(p, "r+b");
    uint64_t huge = 1ull << 40;
    if (f) { fwrite(&huge, 8, 1, f); fclose(f); }
    expect_fail("header length past the end", d, TRIT_ERR_FORMAT, "model.safetensors", NULL);
    d = clone("bitnet_untied", "tiny");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    CHECK(truncate(p, 3) == 0, "truncate");
    expect_fail("3-byte file", d, TRIT_ERR_FORMAT, "model.safetensors", NULL);
    /* every truncation point of the (small) llama fixture: error, never a crash */
    d = clone("llama_packed", "cuts");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    struct stat sb;
    stat(p, &sb);
    char orig[1024];
    snprintf(orig, sizeof orig, TT_FIXTURES "/models/llama_packed/model.safetensors");
    for (off_t cut = 0; cut < sb.st_size; cut += sb.st_size / 97 + 1) {
        copy_file(orig, p);
        CHECK(truncate(p, cut) == 0, "truncate");
        trit_model *m = NULL;
        trit_error err = {0};
        trit_status st = trit_model_load(d, NULL, &m, &err);
        CHECK(st != TRIT_OK && m == NULL, "cut at %lld loaded", (long long)cut);
    }
}

int main(void) {
    snprintf(tmproot, sizeof tmproot, "/tmp/trit-badinput-XXXXXX");
    if (!mkdtemp(tmproot)) { perror("mkdtemp"); return 1; }
    RUN(test_missing_files);
    RUN(test_bad_config);
    RUN(test_shape_mismatch);
    RUN(test_dtype_mismatch);
    RUN(test_bad_values);
    RUN(test_int8_packed_accepted);
    RUN(test_corrupt_files);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmproot);
    return TT_END();
}
