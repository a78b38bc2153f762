/*
 * tokenizer.c - finding and loading a tokenizer (which file, which format),
 * tokenizer_config.json (BOS / EOS), added and special tokens, the
 * information getters and tok_free. Encoding is in encode.c, decoding in
 * decode.c, the formats in hf_json.c, tiktoken.c and spm.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/json.h"
#include "text/tok_impl.h"

/* ======================================================================== */
/* Files                                                                     */
/* ======================================================================== */

/* Contract: 1 if path names a directory. */
static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Contract: 1 if path names a regular file. */
static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Contract: writes dir + "/" + name into out (size n); 0 if it does not fit. */
static int join(char *out, size_t n, const char *dir, const char *name) {
    int k = snprintf(out, n, "%s/%s", dir, name);
    return k > 0 && (size_t)k < n;
}

/* Contract: the directory part of path into out ("." when none). */
static void dirname_of(const char *path, char *out, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, n, ".");
    } else if (slash == path) {
        snprintf(out, n, "/");
    } else {
        snprintf(out, n, "%.*s", (int)(slash - path), path);
    }
}

/* Contract: the file name part of path. */
static const char *basename_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Contract: reads a whole file (NUL-terminated, malloc'ed) or fails with an
 * I/O error naming it. */
static trit_status read_all(const char *path, char **data, size_t *len, trit_error *err) {
    char eb[256];
    *data = json_read_file(path, len, eb, sizeof eb);
    if (!*data) return trit_fail(err, TRIT_ERR_IO, "%s: cannot read tokenizer file: %s", path, eb);
    return TRIT_OK;
}

/* ======================================================================== */
/* Loading                                                                   */
/* ======================================================================== */

/* Contract: default load parameters (no regex engine). */
tok_load_params tok_default_load_params(void) {
    tok_load_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* Contract: 1 when data looks like a tiktoken file: its first line is base64
 * text, one space and a decimal rank. */
static int looks_tiktoken(const char *d, size_t n) {
    size_t i = 0;
    while (i < n && (((d[i] | 32) >= 'a' && (d[i] | 32) <= 'z') || (d[i] >= '0' && d[i] <= '9') ||
                     d[i] == '+' || d[i] == '/' || d[i] == '='))
        i++;
    if (i == 0 || i >= n || d[i] != ' ') return 0;
    size_t j = ++i;
    while (i < n && d[i] >= '0' && d[i] <= '9') i++;
    return i > j && (i == n || d[i] == '\n' || d[i] == '\r');
}

/* Contract: reads `key` of a tokenizer_config.json (a string, or an object
 * with "content"), or NULL. */
static const char *config_token(const json_value *cfg, const char *key) {
    const json_value *v = json_get(cfg, key);
    if (json_str(v)) return json_str(v);
    return json_get_str(v, "content", NULL);
}

/* Contract: applies tokenizer_config.json (BOS / EOS names, add_bos_token)
 * to t; a malformed config is a format error naming `name`. */
static trit_status apply_config(tok_tokenizer *t, const char *name, const char *cfg, size_t len,
                                trit_error *err) {
    char eb[256];
    json_doc *doc = json_parse(cfg, len, eb, sizeof eb);
    if (!doc) return trit_fail(err, TRIT_ERR_FORMAT, "%s: malformed JSON: %s", name, eb);
    const json_value *root = json_root(doc);
    if (root->type != JSON_OBJECT) {
        json_free(doc);
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: expected a JSON object", name);
    }
    const char *bos = config_token(root, "bos_token");
    const char *eos = config_token(root, "eos_token");
    if (bos) {
        int32_t id = tok_find(t, bos, strlen(bos));
        if (id >= 0) t->bos_id = id;
    }
    if (eos) {
        int32_t id = tok_find(t, eos, strlen(eos));
        if (id >= 0) t->eos_id = id;
    }
    int b;
    if (json_bool(json_get(root, "add_bos_token"), &b)) t->add_bos = b;
    json_free(doc);
    return TRIT_OK;
}

/* Contract: see tokenizer.h. */
trit_status tok_load_mem(const char *kind, const char *name, const char *data, size_t len,
                         const char *data2, size_t len2, const char *config, size_t config_len,
                         const tok_load_params *p, tok_tokenizer **out, trit_error *err) {
    tok_load_params defp = tok_default_load_params();
    if (!p) p = &defp;
    *out = NULL;
    if (!name) name = "(memory)";
    if (!kind || !data) return trit_fail(err, TRIT_ERR_ARG, "%s: no tokenizer data", name);
    trit_status st;
    tok_tokenizer *t = NULL;
    if (strcmp(kind, "tokenizer.json") == 0) {
        st = tok_load_hf_json(name, data, len, p, &t, err);
    } else if (strcmp(kind, "tiktoken") == 0) {
        st = tok_load_tiktoken(name, data, len, config, config_len, p, &t, err);
    } else if (strcmp(kind, "spm") == 0) {
        st = tok_load_spm(name, (const uint8_t *)data, len, &t, err);
    } else if (strcmp(kind, "gpt2") == 0) {
        if (!data2) return trit_fail(err, TRIT_ERR_ARG, "%s: GPT-2 tokenizer needs merges", name);
        st = tok_load_gpt2(name, data, len, data2, len2, p, &t, err);
    } else {
        return trit_fail(err, TRIT_ERR_ARG, "%s: unknown tokenizer kind \"%s\"", name, kind);
    }
    if (st != TRIT_OK) {
        tok_free(t);
        return st;
    }
    if (config) {
        st = apply_config(t, "tokenizer_config.json", config, config_len, err);
        if (st != TRIT_OK) {
            tok_free(t);
            return st;
        }
    }
    *out = t;
    return TRIT_OK;
}

/* Contract: loads the file(s) of one kind plus the optional config. */
static trit_status load_files(const char *kind, const char *file, const char *file2,
                              const char *cfgpath, const tok_load_params *p, tok_tokenizer **out,
                              trit_error *err) {
    char *d = NULL, *d2 = NULL, *c = NULL;
    size_t n = 0, n2 = 0, nc = 0;
    trit_status st = read_all(file, &d, &n, err);
    if (st == TRIT_OK && file2) st = read_all(file2, &d2, &n2, err);
    if (st == TRIT_OK && cfgpath && is_file(cfgpath)) st = read_all(cfgpath, &c, &nc, err);
    if (st == TRIT_OK) {
        if (strcmp(kind, "model") == 0) {
            if (n > 0 && (unsigned char)d[0] == 0x0A) kind = "spm";
            else if (looks_tiktoken(d, n)) kind = "tiktoken";
            else
                st = trit_fail(err, TRIT_ERR_FORMAT,
                               "%s: neither a SentencePiece model (protobuf) nor a tiktoken "
                               "file (base64 token and rank per line)",
                               file);
        }
    }
    if (st == TRIT_OK) {
        st = tok_load_mem(kind, file, d, n, d2, n2, c, nc, p, out, err);
        if (st != TRIT_OK && c && err && strstr(err->msg, "tokenizer_config.json:") == err->msg) {
            /* name the config file with its full path */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s%s", cfgpath, err->msg + strlen("tokenizer_config.json"));
            snprintf(err->msg, sizeof err->msg, "%s", msg);
        }
    }
    free(d);
    free(d2);
    free(c);
    return st;
}

/* Contract: finds the GPT-2 vocabulary (vocab.json / encoder.json) and
 * merges (merges.txt / vocab.bpe) in dir; 1 when both exist. */
static int find_gpt2(const char *dir, char *voc, char *mer, size_t n) {
    static const char *const vn[] = {"vocab.json", "encoder.json"};
    static const char *const mn[] = {"merges.txt", "vocab.bpe"};
    int hv = 0, hm = 0;
    for (int i = 0; i < 2 && !hv; i++) hv = join(voc, n, dir, vn[i]) && is_file(voc);
    for (int i = 0; i < 2 && !hm; i++) hm = join(mer, n, dir, mn[i]) && is_file(mer);
    return hv && hm;
}

/* Contract: see tokenizer.h. */
trit_status tok_load(const char *path, const tok_load_params *p, tok_tokenizer **out,
                     trit_error *err) {
    *out = NULL;
    if (!path || !*path) return trit_fail(err, TRIT_ERR_ARG, "no tokenizer path given");
    char dir[4096], f1[4096], f2[4096], cfg[4096];
    if (is_dir(path)) {
        snprintf(dir, sizeof dir, "%s", path);
        if (!join(cfg, sizeof cfg, dir, "tokenizer_config.json"))
            return trit_fail(err, TRIT_ERR_ARG, "%s: path too long", path);
        if (join(f1, sizeof f1, dir, "tokenizer.json") && is_file(f1))
            return load_files("tokenizer.json", f1, NULL, cfg, p, out, err);
        if (join(f1, sizeof f1, dir, "tokenizer.model") && is_file(f1))
            return load_files("model", f1, NULL, cfg, p, out, err);
        if (find_gpt2(dir, f1, f2, sizeof f1)) return load_files("gpt2", f1, f2, cfg, p, out, err);
        return trit_fail(err, TRIT_ERR_IO,
                         "%s: no tokenizer found (looked for tokenizer.json, tokenizer.model, "
                         "vocab.json/encoder.json with merges.txt/vocab.bpe)",
                         path);
    }
    if (!is_file(path)) return trit_fail(err, TRIT_ERR_IO, "%s: no such file or directory", path);
    dirname_of(path, dir, sizeof dir);
    if (!join(cfg, sizeof cfg, dir, "tokenizer_config.json"))
        return trit_fail(err, TRIT_ERR_ARG, "%s: path too long", path);
    const char *base = basename_of(path);
    if (strcmp(base, "vocab.json") == 0 || strcmp(base, "encoder.json") == 0 ||
        strcmp(base, "merges.txt") == 0 || strcmp(base, "vocab.bpe") == 0) {
        if (!find_gpt2(dir, f1, f2, sizeof f1))
            return trit_fail(err, TRIT_ERR_IO,
                             "%s: GPT-2 tokenizer needs both vocab.json/encoder.json and "
                             "merges.txt/vocab.bpe in %s",
                             path, dir);
        return load_files("gpt2", f1, f2, cfg, p, out, err);
    }
    size_t bl = strlen(base);
    if (bl >= 5 && strcmp(base + bl - 5, ".json") == 0)
        return load_files("tokenizer.json", path, NULL, cfg, p, out, err);
    return load_files("model", path, NULL, cfg, p, out, err);
}

/* Contract: releases t and everything it owns (NULL accepted). */
void tok_free(tok_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].re && t->rx) t->rx->free(t->pre[i].re);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->ent);
    free(t->pool.p);
    free(t->vocab.slot);
    tok_merges_free(&t->merges);
    free(t->added);
    free(t);
}

/* ======================================================================== */
/* Added tokens and pre-tokenizer steps                                      */
/* ======================================================================== */

/* Contract: see tok_impl.h. A model token with the same id keeps its key
 * (so merges can still produce it) and takes the added token's type and
 * text; a new id gets no key. Two added tokens with one id or one text are
 * a format error. */
trit_status tok_add_added(tok_tokenizer *t, int32_t id, const char *s, size_t n, int special,
                          int lstrip, int rstrip, trit_error *err) {
    if (id < 0 || n == 0 || n > 4096)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: added token %d has a bad id or length", t->name,
                         (int)id);
    for (size_t i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        if (a->id == id)
            return trit_fail(err, TRIT_ERR_FORMAT, "%s: duplicate added token id %d", t->name,
                             (int)id);
        if (a->len == n && memcmp(t->pool.p + a->off, s, n) == 0)
            return trit_fail(err, TRIT_ERR_FORMAT,
                             "%s: added token \"%.*s\" appears with ids %d and %d", t->name,
                             (int)(n > 60 ? 60 : n), s, (int)a->id, (int)id);
    }
    if (id >= t->n_vocab && !tok_grow(t, id + 1)) goto nomem;
    if (t->n_added % 64 == 0) {
        tok_added *p = realloc(t->added, (t->n_added + 64) * sizeof *p);
        if (!p) goto nomem;
        t->added = p;
    }
    tok_entry *e = &t->ent[id];
    int type = special ? TT_SPECIAL : TT_ADDED;
    if (e->type == TT_HOLE) {
        if (!tok_set(t, id, "", 0, s, n, type)) goto nomem;
    } else {
        uint32_t off = tok_pool_add(&t->pool, s, n);
        if (off == UINT32_MAX) goto nomem;
        e->txt_off = off;
        e->txt_len = (uint32_t)n;
        e->type = (uint8_t)type;
    }
    uint32_t off = t->ent[id].txt_off;
    t->added[t->n_added++] = (tok_added){id, off, (uint32_t)n, (uint8_t)(special != 0),
                                         (uint8_t)(lstrip != 0), (uint8_t)(rstrip != 0)};
    if (!special) t->has_nonspecial_added = 1;
    return TRIT_OK;
nomem:
    return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory for added tokens", t->name);
}

/* Contract: insertion sort of the added tokens by first byte, then length
 * descending (so the first match at a position is the longest); fills the
 * first-byte index. */
void tok_finish_added(tok_tokenizer *t) {
    const uint8_t *pool = t->pool.p;
    for (size_t i = 1; i < t->n_added; i++) {
        tok_added x = t->added[i];
        size_t j = i;
        while (j > 0) {
            const tok_added *y = &t->added[j - 1];
            uint8_t fx = pool[x.off], fy = pool[y->off];
            if (fy < fx || (fy == fx && y->len >= x.len)) break;
            t->added[j] = t->added[j - 1];
            j--;
        }
        t->added[j] = x;
    }
    size_t k = 0;
    for (int b = 0; b <= 256; b++) {
        while (b < 256 && k < t->n_added && pool[t->added[k].off] < b) k++;
        t->added_start[b] = (uint32_t)(b == 256 ? t->n_added : k);
    }
}

/* Contract: see tok_impl.h. */
trit_status tok_add_regex_step(tok_tokenizer *t, int kind, const char *pat, size_t plen,
                               int behavior, const tok_load_params *p, trit_error *err) {
    if (t->n_pre >= TOK_MAX_PRETOK)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED, "%s: too many pre-tokenizer steps", t->name);
    tok_pretok *s = &t->pre[t->n_pre];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->behavior = behavior;
    if (pat) {
        if (!p || !p->regex)
            return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                             "%s: this tokenizer needs a regex engine (link the PCRE2 "
                             "pre-tokenizer, tok_pcre2_api())",
                             t->name);
        if (t->rx && t->rx != p->regex)
            return trit_fail(err, TRIT_ERR_ARG, "%s: two regex engines", t->name);
        t->rx = p->regex;
        char eb[256] = "";
        s->re = t->rx->compile(pat, plen, eb, sizeof eb);
        if (!s->re)
            return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                             "%s: cannot compile pre-tokenizer regex \"%.*s\": %s", t->name,
                             (int)(plen > 200 ? 200 : plen), pat, eb);
    }
    t->n_pre++;
    return TRIT_OK;
}

/* Contract: see tok_impl.h. "▁" is E2 96 81. */
void tok_maybe_spm_words(tok_tokenizer *t) {
    if (t->n_pre >= TOK_MAX_PRETOK) return;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->ent[id];
        if (e->type != TT_NORMAL) continue;
        const uint8_t *k = t->pool.p + e->key_off;
        for (uint32_t i = 3; i + 3 <= e->key_len; i++)
            if (k[i] == 0xE2 && k[i + 1] == 0x96 && k[i + 2] == 0x81 &&
                !(k[i - 3] == 0xE2 && k[i - 2] == 0x96 && k[i - 1] == 0x81))
                return;
    }
    tok_pretok *s = &t->pre[t->n_pre++];
    memset(s, 0, sizeof *s);
    s->kind = PS_SPM_WORDS;
}

/* Contract: see tok_impl.h. */
void tok_guess_bos_eos(tok_tokenizer *t) {
    static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<|startoftext|>"};
    static const char *const eos[] = {"<|end_of_text|>", "</s>", "<|endoftext|>"};
    for (int i = 0; i < 3 && t->bos_id < 0; i++) t->bos_id = tok_find(t, bos[i], strlen(bos[i]));
    for (int i = 0; i < 3 && t->eos_id < 0; i++) t->eos_id = tok_find(t, eos[i], strlen(eos[i]));
}

/* ======================================================================== */
/* Information                                                               */
/* ======================================================================== */

int32_t tok_n_vocab(const tok_tokenizer *t) { return t->n_vocab; }
int32_t tok_bos_id(const tok_tokenizer *t) { return t->bos_id; }
int32_t tok_eos_id(const tok_tokenizer *t) { return t->eos_id; }
int tok_add_bos_default(const tok_tokenizer *t) { return t->add_bos && t->bos_id >= 0; }
const char *tok_kind(const tok_tokenizer *t) { return t->kind; }

/* Contract: 1 for special / control tokens (and the unknown token). */
int tok_is_special(const tok_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return 0;
    int ty = t->ent[id].type;
    return ty == TT_SPECIAL || ty == TT_UNK;
}

/* Contract: see tokenizer.h: added tokens by text first, then model tokens
 * by key. */
int32_t tok_find(const tok_tokenizer *t, const char *s, size_t n) {
    if (!s || n == 0) return -1;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->pool.p + t->added[i].off, s, n) == 0)
            return t->added[i].id;
    return tok_vocab_get(t, s, n);
}

/* Contract: see tokenizer.h. */
const char *tok_token_text(const tok_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    *len = t->ent[id].txt_len;
    return (const char *)t->pool.p + t->ent[id].txt_off;
}
