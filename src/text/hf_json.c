/*
 * hf_json.c - loads a Hugging Face tokenizer.json whose model is BPE.
 *
 * Read parts: model (vocab, merges as "a b" strings or [a, b] pairs,
 * unk_token, byte_fallback, fuse_unk, ignore_merges), added_tokens,
 * normalizer (Sequence / Prepend / Replace), pre_tokenizer (Sequence /
 * Split / ByteLevel / Metaspace), post_processor (TemplateProcessing: BOS)
 * and decoder (ByteLevel / Metaspace / Sequence of Replace, ByteFallback,
 * Fuse, Strip). Anything else that changes the ids is refused with an
 * "unsupported" error naming it, never silently ignored.
 *
 * The tokenizer is byte-level when a ByteLevel pre-tokenizer or decoder is
 * present: vocab and merges are then written in GPT-2's byte alphabet and
 * are turned back into raw bytes here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "text/tok_impl.h"

#define MAX_IDS (1 << 24) /* refuse vocabularies above 16.7 M ids */

typedef struct {
    tok_tokenizer *t;
    const tok_load_params *p;
    trit_error *err;
    const char *name;
    uint8_t *tmp;       /* scratch for converted strings */
    size_t tmp_cap;
    /* decoder settings gathered before the token texts are made */
    int dec_bytefallback;
    int dec_replace_meta; /* replace "▁" (or the Metaspace replacement) by ' ' */
    char meta[8];
    size_t meta_len;
} hf;

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Contract: a format error about the file. */
#define BAD(h, ...) trit_fail((h)->err, TRIT_ERR_FORMAT, __VA_ARGS__)

/* Contract: makes tmp hold at least n bytes; 0 on no memory. */
static int tmp_reserve(hf *h, size_t n) {
    if (n <= h->tmp_cap) return 1;
    size_t cap = h->tmp_cap ? h->tmp_cap : 256;
    while (cap < n) cap *= 2;
    uint8_t *p = realloc(h->tmp, cap);
    if (!p) return 0;
    h->tmp = p;
    h->tmp_cap = cap;
    return 1;
}

/* Contract: the key bytes of a token string s[0..n): raw bytes for
 * byte-level tokenizers (the string itself when it is not in the byte
 * alphabet), else s. Points at h->tmp or s; NULL on no memory. */
static const uint8_t *to_key(hf *h, const char *s, size_t n, size_t *kn) {
    if (!h->t->byte_level) {
        *kn = n;
        return (const uint8_t *)s;
    }
    if (!tmp_reserve(h, n + 1)) return NULL;
    long k = tok_bytelevel_decode(s, n, h->tmp);
    if (k < 0) {
        *kn = n;
        return (const uint8_t *)s;
    }
    *kn = (size_t)k;
    return h->tmp;
}

/* Contract: 1 if s is "<0xNN>" with two hex digits; the byte in *b. */
static int byte_piece(const char *s, size_t n, uint8_t *b) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return 0;
    unsigned v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : 99;
        if (d > 15) return 0;
        v = v * 16 + d;
    }
    *b = (uint8_t)v;
    return 1;
}

/* Contract: the text a SentencePiece-style token decodes to: the piece
 * with the replacement turned into spaces (when the decoder does that).
 * Points at h->tmp or s; NULL on no memory. */
static const uint8_t *to_text(hf *h, const char *s, size_t n, size_t *tn) {
    if (!h->dec_replace_meta || h->meta_len == 0) {
        *tn = n;
        return (const uint8_t *)s;
    }
    if (!tmp_reserve(h, n + 1)) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + h->meta_len <= n && memcmp(s + i, h->meta, h->meta_len) == 0) {
            h->tmp[o++] = ' ';
            i += h->meta_len;
        } else {
            h->tmp[o++] = (uint8_t)s[i++];
        }
    }
    *tn = o;
    return h->tmp;
}

/* Contract: the string of a {"String": s} / {"Regex": r} pattern object;
 * *is_regex tells which. NULL when neither. */
static const char *pattern_of(const json_value *pat, size_t *len, int *is_regex) {
    const json_value *v = json_get(pat, "Regex");
    *is_regex = v != NULL;
    if (!v) v = json_get(pat, "String");
    if (!v || v->type != JSON_STRING) return NULL;
    *len = v->u.string.len;
    return v->u.string.s;
}

/* ======================================================================== */
/* Normalizer                                                                */
/* ======================================================================== */

static trit_status add_norm(hf *h, int kind, const char *a, size_t al, const char *b, size_t bl) {
    tok_tokenizer *t = h->t;
    if (t->n_norm >= TOK_MAX_NORM)
        return trit_fail(h->err, TRIT_ERR_UNSUPPORTED, "%s: too many normalizers", h->name);
    tok_norm *m = &t->norm[t->n_norm];
    m->kind = kind;
    m->a = malloc(al + 1);
    m->b = malloc(bl + 1);
    if (!m->a || !m->b) {
        free(m->a);
        free(m->b);
        m->a = m->b = NULL;
        return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
    }
    memcpy(m->a, a, al);
    memcpy(m->b, b, bl);
    m->alen = al;
    m->blen = bl;
    t->n_norm++;
    return TRIT_OK;
}

/* Contract: registers one normalizer (recursing into Sequence). */
static trit_status load_normalizer(hf *h, const json_value *n, int depth) {
    if (!n || n->type == JSON_NULL) return TRIT_OK;
    const char *type = json_get_str(n, "type", NULL);
    if (!type || depth > 8) return BAD(h, "%s: normalizer without a type", h->name);
    if (strcmp(type, "Sequence") == 0) {
        const json_value *list = json_get(n, "normalizers");
        if (!list || list->type != JSON_ARRAY)
            return BAD(h, "%s: normalizer Sequence without a \"normalizers\" list", h->name);
        for (size_t i = 0; i < json_len(list); i++) {
            trit_status st = load_normalizer(h, json_at(list, i), depth + 1);
            if (st != TRIT_OK) return st;
        }
        return TRIT_OK;
    }
    if (strcmp(type, "Prepend") == 0) {
        const json_value *v = json_get(n, "prepend");
        if (!v || v->type != JSON_STRING || v->u.string.len == 0)
            return BAD(h, "%s: normalizer Prepend without a \"prepend\" string", h->name);
        return add_norm(h, NS_PREPEND, v->u.string.s, v->u.string.len, "", 0);
    }
    if (strcmp(type, "Replace") == 0) {
        size_t pl;
        int is_re;
        const char *pat = pattern_of(json_get(n, "pattern"), &pl, &is_re);
        const json_value *c = json_get(n, "content");
        if (!pat || pl == 0 || !c || c->type != JSON_STRING)
            return BAD(h, "%s: normalizer Replace needs a non-empty pattern and a content",
                       h->name);
        if (is_re)
            return trit_fail(h->err, TRIT_ERR_UNSUPPORTED,
                             "%s: normalizer Replace with a regex pattern is not supported",
                             h->name);
        return add_norm(h, NS_REPLACE, pat, pl, c->u.string.s, c->u.string.len);
    }
    return trit_fail(h->err, TRIT_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported",
                     h->name, type);
}

/* ======================================================================== */
/* Pre-tokenizer                                                             */
/* ======================================================================== */

/* Contract: 1 when the pre-tokenizer tree has a ByteLevel step. */
static int has_bytelevel(const json_value *pt, int depth) {
    if (!pt || depth > 8) return 0;
    const char *type = json_get_str(pt, "type", "");
    if (strcmp(type, "ByteLevel") == 0) return 1;
    const json_value *list = json_get(pt, "pretokenizers");
    for (size_t i = 0; i < json_len(list); i++)
        if (has_bytelevel(json_at(list, i), depth + 1)) return 1;
    return 0;
}

/* Contract: the split behaviour named s, or -1. */
static int behavior_of(const char *s) {
    if (!s) return SPLIT_ISOLATED;
    if (strcmp(s, "Isolated") == 0) return SPLIT_ISOLATED;
    if (strcmp(s, "Removed") == 0) return SPLIT_REMOVED;
    if (strcmp(s, "MergedWithPrevious") == 0) return SPLIT_MERGED_PREV;
    if (strcmp(s, "MergedWithNext") == 0) return SPLIT_MERGED_NEXT;
    return -1;
}

/* Contract: registers a Split step; literal patterns are escaped into a
 * regex. */
static trit_status load_split(hf *h, const json_value *n) {
    size_t pl;
    int is_re;
    const char *pat = pattern_of(json_get(n, "pattern"), &pl, &is_re);
    if (!pat || pl == 0) return BAD(h, "%s: pre-tokenizer Split without a pattern", h->name);
    int beh = behavior_of(json_get_str(n, "behavior", NULL));
    if (beh < 0)
        return trit_fail(h->err, TRIT_ERR_UNSUPPORTED,
                         "%s: Split behavior \"%s\" is not supported", h->name,
                         json_get_str(n, "behavior", ""));
    if (json_get_bool(n, "invert", 0))
        return trit_fail(h->err, TRIT_ERR_UNSUPPORTED, "%s: Split with invert is not supported",
                         h->name);
    if (is_re) return tok_add_regex_step(h->t, PS_REGEX, pat, pl, beh, h->p, h->err);
    char *esc = malloc(pl * 2 + 1);
    if (!esc) return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
    size_t o = 0;
    for (size_t i = 0; i < pl; i++) {
        unsigned char c = (unsigned char)pat[i];
        if (c < 0x80 && !((c | 32) >= 'a' && (c | 32) <= 'z') && !(c >= '0' && c <= '9') && c != ' ')
            esc[o++] = '\\';
        esc[o++] = (char)c;
    }
    trit_status st = tok_add_regex_step(h->t, PS_REGEX, esc, o, beh, h->p, h->err);
    free(esc);
    return st;
}

/* Contract: registers one pre-tokenizer (recursing into Sequence). */
static trit_status load_pretok(hf *h, const json_value *n, int depth) {
    if (!n || n->type == JSON_NULL) return TRIT_OK;
    tok_tokenizer *t = h->t;
    const char *type = json_get_str(n, "type", NULL);
    if (!type || depth > 8) return BAD(h, "%s: pre-tokenizer without a type", h->name);
    if (strcmp(type, "Sequence") == 0) {
        const json_value *list = json_get(n, "pretokenizers");
        if (!list || list->type != JSON_ARRAY)
            return BAD(h, "%s: pre-tokenizer Sequence without a \"pretokenizers\" list", h->name);
        for (size_t i = 0; i < json_len(list); i++) {
            trit_status st = load_pretok(h, json_at(list, i), depth + 1);
            if (st != TRIT_OK) return st;
        }
        return TRIT_OK;
    }
    if (strcmp(type, "Split") == 0) return load_split(h, n);
    if (strcmp(type, "ByteLevel") == 0) {
        int use_regex = json_get_bool(n, "use_regex", 1);
        int prefix = json_get_bool(n, "add_prefix_space", 0);
        if (!use_regex && !prefix) return TRIT_OK; /* only the byte mapping */
        const char *pat = use_regex ? TOK_GPT2_PATTERN : NULL;
        trit_status st = tok_add_regex_step(t, PS_BYTELEVEL, pat, pat ? strlen(pat) : 0,
                                            SPLIT_ISOLATED, h->p, h->err);
        if (st == TRIT_OK) t->pre[t->n_pre - 1].add_prefix_space = prefix;
        return st;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = json_get_str(n, "replacement", "\xE2\x96\x81");
        size_t rl = strlen(rep);
        if (rl == 0 || rl > 4)
            return BAD(h, "%s: Metaspace replacement must be one character", h->name);
        const char *scheme = json_get_str(n, "prepend_scheme", NULL);
        int prep;
        if (!scheme) prep = json_get_bool(n, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
        else if (strcmp(scheme, "always") == 0) prep = PREPEND_ALWAYS;
        else if (strcmp(scheme, "first") == 0) prep = PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0) prep = PREPEND_NEVER;
        else return BAD(h, "%s: unknown Metaspace prepend_scheme \"%s\"", h->name, scheme);
        trit_status st = tok_add_regex_step(t, PS_METASPACE, NULL, 0, 0, h->p, h->err);
        if (st != TRIT_OK) return st;
        tok_pretok *s = &t->pre[t->n_pre - 1];
        memcpy(s->repl, rep, rl);
        s->repl_len = rl;
        s->prepend = prep;
        s->split = json_get_bool(n, "split", 1);
        return TRIT_OK;
    }
    return trit_fail(h->err, TRIT_ERR_UNSUPPORTED, "%s: pre-tokenizer \"%s\" is not supported",
                     h->name, type);
}

/* ======================================================================== */
/* Decoder and post-processor                                                */
/* ======================================================================== */

/* Contract: reads the decoder into h / t (strip and replace settings). */
static trit_status load_decoder(hf *h, const json_value *n, int depth) {
    if (!n || n->type == JSON_NULL) return TRIT_OK;
    const char *type = json_get_str(n, "type", NULL);
    if (!type || depth > 8) return BAD(h, "%s: decoder without a type", h->name);
    if (strcmp(type, "Sequence") == 0) {
        const json_value *list = json_get(n, "decoders");
        for (size_t i = 0; i < json_len(list); i++) {
            trit_status st = load_decoder(h, json_at(list, i), depth + 1);
            if (st != TRIT_OK) return st;
        }
        return TRIT_OK;
    }
    if (strcmp(type, "ByteFallback") == 0) {
        h->dec_bytefallback = 1;
    } else if (strcmp(type, "Replace") == 0) {
        size_t pl;
        int is_re;
        const char *pat = pattern_of(json_get(n, "pattern"), &pl, &is_re);
        const char *c = json_get_str(n, "content", NULL);
        if (pat && !is_re && c && strcmp(c, " ") == 0 && pl > 0 && pl < sizeof h->meta) {
            h->dec_replace_meta = 1;
            memcpy(h->meta, pat, pl);
            h->meta_len = pl;
        }
    } else if (strcmp(type, "Strip") == 0) {
        const char *c = json_get_str(n, "content", " ");
        if (strcmp(c, " ") == 0 && json_get_int(n, "start", 0) >= 1) h->t->strip_lead_space = 1;
    } else if (strcmp(type, "Metaspace") == 0) {
        const char *rep = json_get_str(n, "replacement", "\xE2\x96\x81");
        size_t rl = strlen(rep);
        if (rl > 0 && rl < sizeof h->meta) {
            h->dec_replace_meta = 1;
            memcpy(h->meta, rep, rl);
            h->meta_len = rl;
        }
        const char *scheme = json_get_str(n, "prepend_scheme", NULL);
        int strip = scheme ? strcmp(scheme, "never") != 0 : json_get_bool(n, "add_prefix_space", 1);
        if (strip) h->t->strip_lead_space = 1;
    }
    /* ByteLevel, Fuse and others need nothing: texts are raw bytes */
    return TRIT_OK;
}

/* Contract: a TemplateProcessing (possibly inside a Sequence) whose single
 * template starts with a special token sets BOS and add_bos. */
static void load_post(hf *h, const json_value *n, int depth) {
    if (!n || depth > 8) return;
    const char *type = json_get_str(n, "type", "");
    if (strcmp(type, "Sequence") == 0) {
        const json_value *list = json_get(n, "processors");
        for (size_t i = 0; i < json_len(list); i++) load_post(h, json_at(list, i), depth + 1);
        return;
    }
    if (strcmp(type, "TemplateProcessing") != 0) return;
    const json_value *first = json_at(json_get(n, "single"), 0);
    const char *name = json_get_str(json_get(first, "SpecialToken"), "id", NULL);
    if (!name) return;
    const json_value *spec = json_get(json_get(n, "special_tokens"), name);
    int64_t id;
    if (!json_int(json_at(json_get(spec, "ids"), 0), &id) || id < 0 || id >= h->t->n_vocab) {
        id = tok_find(h->t, name, strlen(name));
        if (id < 0) return;
    }
    h->t->bos_id = (int32_t)id;
    h->t->add_bos = 1;
}

/* ======================================================================== */
/* Model                                                                     */
/* ======================================================================== */

/* Contract: fills the vocabulary from model.vocab. */
static trit_status load_vocab(hf *h, const json_value *vocab) {
    tok_tokenizer *t = h->t;
    size_t n = json_len(vocab);
    int32_t maxid = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t id;
        if (!json_int(vocab->u.object.vals[i], &id) || id < 0 || id >= MAX_IDS)
            return BAD(h, "%s: vocab entry \"%.60s\" has a bad id", h->name, vocab->u.object.keys[i]);
        if (id > maxid) maxid = (int32_t)id;
    }
    if (!tok_grow(t, maxid + 1)) return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
    for (size_t i = 0; i < n; i++) {
        int64_t id;
        json_int(vocab->u.object.vals[i], &id);
        const char *s = vocab->u.object.keys[i];
        size_t sl = vocab->u.object.key_lens[i];
        if (t->ent[id].type != TT_HOLE)
            return BAD(h, "%s: vocab id %d is given twice (\"%.60s\")", h->name, (int)id, s);
        size_t kl, tl;
        const uint8_t *k = to_key(h, s, sl, &kl);
        if (!k) return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
        uint8_t b;
        int type = TT_NORMAL;
        const uint8_t *tx = k;
        tl = kl;
        if (!t->byte_level) {
            if (t->byte_fallback && byte_piece(s, sl, &b)) {
                type = TT_BYTE;
                tx = &b;
                tl = 1;
                if (t->byte_id[b] < 0) t->byte_id[b] = (int32_t)id;
            } else {
                tx = to_text(h, s, sl, &tl);
                if (!tx) return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
            }
        }
        if (sl == 0) return BAD(h, "%s: vocab has an empty token (id %d)", h->name, (int)id);
        if (!tok_set(t, (int32_t)id, k, kl, tx, tl, type))
            return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
    }
    return TRIT_OK;
}

/* Contract: splits a merge into its two sides (string "a b" or [a, b]). */
static int merge_sides(const json_value *m, const char **a, size_t *al, const char **b, size_t *bl) {
    if (m->type == JSON_STRING) {
        const char *s = m->u.string.s, *sp = memchr(s, ' ', m->u.string.len);
        if (!sp || memchr(sp + 1, ' ', m->u.string.len - (size_t)(sp + 1 - s))) return 0;
        *a = s;
        *al = (size_t)(sp - s);
        *b = sp + 1;
        *bl = m->u.string.len - *al - 1;
        return *al > 0 && *bl > 0;
    }
    if (m->type == JSON_ARRAY && json_len(m) == 2 && json_str(json_at(m, 0)) && json_str(json_at(m, 1))) {
        *a = json_at(m, 0)->u.string.s;
        *al = json_at(m, 0)->u.string.len;
        *b = json_at(m, 1)->u.string.s;
        *bl = json_at(m, 1)->u.string.len;
        return *al > 0 && *bl > 0;
    }
    return 0;
}

/* Contract: fills the merge table from model.merges (rank = position). */
static trit_status load_merges(hf *h, const json_value *merges) {
    tok_tokenizer *t = h->t;
    size_t n = json_len(merges);
    if (n > UINT32_MAX - 1) return BAD(h, "%s: too many merges", h->name);
    if (!tok_merges_init(&t->merges, n))
        return trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
    uint8_t *cat = NULL;
    size_t catcap = 0;
    trit_status st = TRIT_OK;
    for (size_t i = 0; i < n && st == TRIT_OK; i++) {
        const char *a, *b;
        size_t al, bl, kl;
        if (!merge_sides(json_at(merges, i), &a, &al, &b, &bl)) {
            st = BAD(h, "%s: merge %zu is not \"a b\" or [\"a\", \"b\"]", h->name, i);
            break;
        }
        const uint8_t *k = to_key(h, a, al, &kl);
        if (k && kl + bl + 4 > catcap) {
            uint8_t *c2 = realloc(cat, 2 * (kl + bl + 4));
            if (c2) {
                cat = c2;
                catcap = 2 * (kl + bl + 4);
            } else {
                k = NULL;
            }
        }
        if (!k) {
            st = trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
            break;
        }
        int32_t ia = tok_vocab_get(t, k, kl);
        memcpy(cat, k, kl);
        size_t l1 = kl;
        k = to_key(h, b, bl, &kl);
        if (!k) {
            st = trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
            break;
        }
        int32_t ib = tok_vocab_get(t, k, kl);
        memcpy(cat + l1, k, kl);
        int32_t ic = tok_vocab_get(t, cat, l1 + kl);
        if (ia < 0 || ib < 0 || ic < 0) {
            st = BAD(h, "%s: merge %zu (\"%.*s\" + \"%.*s\") uses a token missing from the vocab",
                     h->name, i, (int)(al > 40 ? 40 : al), a, (int)(bl > 40 ? 40 : bl), b);
            break;
        }
        if (!tok_merge_add(&t->merges, ia, ib, (uint32_t)i, ic))
            st = trit_fail(h->err, TRIT_ERR_NOMEM, "%s: out of memory", h->name);
    }
    free(cat);
    return st;
}

/* Contract: reads the "model" object into t. */
static trit_status load_model(hf *h, const json_value *model) {
    tok_tokenizer *t = h->t;
    if (!model || model->type != JSON_OBJECT) return BAD(h, "%s: no \"model\" object", h->name);
    const char *type = json_get_str(model, "type", NULL);
    const json_value *vocab = json_get(model, "vocab"), *merges = json_get(model, "merges");
    if (!type && merges) type = "BPE";
    if (!type) return BAD(h, "%s: model has no \"type\"", h->name);
    if (strcmp(type, "BPE") != 0)
        return trit_fail(h->err, TRIT_ERR_UNSUPPORTED,
                         "%s: model type \"%s\" is not supported (only BPE)", h->name, type);
    if (!vocab || vocab->type != JSON_OBJECT)
        return BAD(h, "%s: model.vocab must be an object", h->name);
    if (!merges || merges->type != JSON_ARRAY)
        return BAD(h, "%s: model.merges must be an array", h->name);
    const char *pre = json_get_str(model, "continuing_subword_prefix", NULL);
    const char *suf = json_get_str(model, "end_of_word_suffix", NULL);
    if ((pre && *pre) || (suf && *suf))
        return trit_fail(h->err, TRIT_ERR_UNSUPPORTED,
                         "%s: BPE with continuing_subword_prefix / end_of_word_suffix is not "
                         "supported", h->name);
    double dropout;
    if (json_num(json_get(model, "dropout"), &dropout) && dropout > 0)
        return trit_fail(h->err, TRIT_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", h->name);
    t->byte_fallback = json_get_bool(model, "byte_fallback", 0);
    t->fuse_unk = json_get_bool(model, "fuse_unk", 0);
    t->ignore_merges = json_get_bool(model, "ignore_merges", 0);
    trit_status st = load_vocab(h, vocab);
    if (st != TRIT_OK) return st;
    if ((st = tok_build_vocab_map(t, h->err)) != TRIT_OK) return st;
    if (t->byte_level) {
        for (int c = 0; c < 256; c++) {
            uint8_t b = (uint8_t)c;
            t->byte_id[c] = tok_vocab_get(t, &b, 1);
        }
    }
    const char *unk = json_get_str(model, "unk_token", NULL);
    if (unk) {
        t->unk_id = tok_vocab_get(t, unk, strlen(unk));
        if (t->unk_id >= 0) t->ent[t->unk_id].type = TT_UNK;
    }
    return load_merges(h, merges);
}

/* Contract: reads added_tokens. */
static trit_status load_added(hf *h, const json_value *list) {
    if (!list || list->type == JSON_NULL) return TRIT_OK;
    if (list->type != JSON_ARRAY) return BAD(h, "%s: added_tokens must be an array", h->name);
    for (size_t i = 0; i < json_len(list); i++) {
        const json_value *a = json_at(list, i);
        int64_t id;
        const json_value *c = json_get(a, "content");
        if (!json_int(json_get(a, "id"), &id) || id < 0 || id >= MAX_IDS || !c ||
            c->type != JSON_STRING || c->u.string.len == 0)
            return BAD(h, "%s: added token %zu needs an id and a non-empty content", h->name, i);
        trit_status st = tok_add_added(h->t, (int32_t)id, c->u.string.s, c->u.string.len,
                                       json_get_bool(a, "special", 0), json_get_bool(a, "lstrip", 0),
                                       json_get_bool(a, "rstrip", 0), h->err);
        if (st != TRIT_OK) return st;
    }
    tok_finish_added(h->t);
    return TRIT_OK;
}

/* ======================================================================== */
/* Entry point                                                               */
/* ======================================================================== */

/* Contract: see tok_impl.h. */
trit_status tok_load_hf_json(const char *name, const char *data, size_t len,
                             const tok_load_params *p, tok_tokenizer **out, trit_error *err) {
    *out = NULL;
    char eb[256];
    json_doc *doc = json_parse(data, len, eb, sizeof eb);
    if (!doc) return trit_fail(err, TRIT_ERR_FORMAT, "%s: malformed JSON: %s", name, eb);
    hf h;
    memset(&h, 0, sizeof h);
    h.p = p;
    h.err = err;
    h.name = name;
    trit_status st = TRIT_OK;
    const json_value *root = json_root(doc);
    h.t = tok_alloc(name, 0);
    if (!h.t) {
        st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    if (root->type != JSON_OBJECT) {
        st = BAD(&h, "%s: expected a JSON object", name);
        goto done;
    }
    const json_value *pre = json_get(root, "pre_tokenizer"), *dec = json_get(root, "decoder");
    h.t->byte_level = has_bytelevel(pre, 0) || strcmp(json_get_str(dec, "type", ""), "ByteLevel") == 0;
    h.t->kind = h.t->byte_level ? "bpe" : "spm";
    if ((st = load_decoder(&h, dec, 0)) != TRIT_OK) goto done;
    if (!h.t->byte_level && !h.dec_replace_meta) {
        /* SentencePiece style without a decoder: still print spaces */
        h.dec_replace_meta = 1;
        memcpy(h.meta, "\xE2\x96\x81", 3);
        h.meta_len = 3;
    }
    if ((st = load_model(&h, json_get(root, "model"))) != TRIT_OK) goto done;
    if ((st = load_added(&h, json_get(root, "added_tokens"))) != TRIT_OK) goto done;
    if ((st = load_normalizer(&h, json_get(root, "normalizer"), 0)) != TRIT_OK) goto done;
    if ((st = load_pretok(&h, pre, 0)) != TRIT_OK) goto done;
    if (!h.t->byte_level) tok_maybe_spm_words(h.t);
    load_post(&h, json_get(root, "post_processor"), 0);
    tok_guess_bos_eos(h.t);
done:
    free(h.tmp);
    json_free(doc);
    if (st != TRIT_OK) {
        tok_free(h.t);
        return st;
    }
    *out = h.t;
    return TRIT_OK;
}
