/*
 * encode.c - text to ids: UTF-8 clean-up, added / special token matching,
 * normalizers, pre-tokenizer steps, then BPE per word (bpe.c).
 *
 * Pipeline for one call (the order of Hugging Face tokenizers):
 *   1. invalid UTF-8 becomes U+FFFD (maximal subparts);
 *   2. the text is cut at added tokens (leftmost, then longest match;
 *      special ones only with TOK_PARSE_SPECIAL); each piece in between is a
 *      "segment";
 *   3. each segment goes through the normalizers (Prepend, Replace);
 *   4. then through the pre-tokenizer steps in order, each step cutting
 *      its input into pieces handed one by one to the next step;
 *   5. each final piece is a word for BPE.
 * Working buffers, regex scratch and the word cache live in an `enc` owned
 * by the call (tok_encode) or by the caller (tok_encoder, kept between
 * calls), so a tokenizer can encode on several threads at once.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"

#define CACHE_MIN_BYTES 512 /* texts shorter than this skip the word cache */

typedef struct {
    const tok_tokenizer *t;
    tok_ids *out;
    trit_error *err;
    tok_wordcache *cache;
    void *scratch[TOK_MAX_PRETOK];
    tok_buf lvl[TOK_MAX_PRETOK]; /* step k's working copy */
    tok_buf nb[2];               /* normalizer ping-pong buffers */
} enc;

/* ======================================================================== */
/* Buffers                                                                   */
/* ======================================================================== */

/* Contract: makes room for n bytes in b (contents are not kept); 1 on
 * success, 0 on no memory. */
static int buf_reserve(tok_buf *b, size_t n) {
    if (n <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

/* Contract: the out-of-memory error of an encode call. */
static trit_status enc_nomem(enc *e) {
    return trit_fail(e->err, TRIT_ERR_NOMEM, "%s: out of memory while encoding", e->t->name);
}

/* ======================================================================== */
/* Pre-tokenizer steps                                                       */
/* ======================================================================== */

static trit_status run_step(enc *e, int k, const uint8_t *s, size_t n, int origin);

/* Contract: hands s[a..b) to step k+1 (empty pieces are dropped). */
static trit_status emit(enc *e, int k, const uint8_t *s, size_t a, size_t b, int origin) {
    if (b <= a) return TRIT_OK;
    return run_step(e, k + 1, s + a, b - a, origin && a == 0);
}

/* Contract: cuts s[0..n) at the matches of step k's regex according to
 * `behavior` and hands the pieces on. Empty matches cut nothing. */
static trit_status split_regex(enc *e, int k, const uint8_t *s, size_t n, int origin,
                               int behavior) {
    const tok_tokenizer *t = e->t;
    const tok_pretok *p = &t->pre[k];
    if (!e->scratch[k]) {
        e->scratch[k] = t->rx->scratch_new(p->re);
        if (!e->scratch[k]) return enc_nomem(e);
    }
    size_t last = 0, from = 0;
    trit_status st = TRIT_OK;
    while (from < n) {
        size_t ms, me;
        int r = t->rx->find(p->re, e->scratch[k], (const char *)s, n, from, &ms, &me);
        if (r < 0)
            return trit_fail(e->err, TRIT_ERR_VALUE,
                             "%s: the pre-tokenizer regex failed on the input (match limit?)",
                             t->name);
        if (r == 0) break;
        if (me <= ms) { /* empty match: move on one character */
            if (ms >= n) break;
            from = ms + tok_utf8_lead_len(s[ms]);
            continue;
        }
        switch (behavior) {
        case SPLIT_ISOLATED:
            if ((st = emit(e, k, s, last, ms, origin)) != TRIT_OK) return st;
            if ((st = emit(e, k, s, ms, me, origin)) != TRIT_OK) return st;
            last = me;
            break;
        case SPLIT_REMOVED:
            if ((st = emit(e, k, s, last, ms, origin)) != TRIT_OK) return st;
            last = me;
            break;
        case SPLIT_MERGED_PREV:
            if ((st = emit(e, k, s, last, me, origin)) != TRIT_OK) return st;
            last = me;
            break;
        default: /* SPLIT_MERGED_NEXT */
            if ((st = emit(e, k, s, last, ms, origin)) != TRIT_OK) return st;
            last = ms;
            break;
        }
        from = me;
    }
    return emit(e, k, s, last, n, origin);
}

/* Contract: Metaspace: spaces become the replacement, which is prepended
 * per the scheme (unless the piece already starts with it); with `split`
 * each replacement starts a new piece. */
static trit_status step_metaspace(enc *e, int k, const uint8_t *s, size_t n, int origin) {
    const tok_pretok *p = &e->t->pre[k];
    size_t rl = p->repl_len, spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    tok_buf *b = &e->lvl[k];
    if (!buf_reserve(b, n + (spaces + 1) * rl)) return enc_nomem(e);
    size_t o = 0;
    int starts = n > 0 && (s[0] == ' ' || (n >= rl && memcmp(s, p->repl, rl) == 0));
    if (!starts && (p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && origin))) {
        memcpy(b->p, p->repl, rl);
        o = rl;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(b->p + o, p->repl, rl);
            o += rl;
        } else {
            b->p[o++] = s[i];
        }
    }
    if (!p->split) return run_step(e, k + 1, b->p, o, origin);
    size_t last = 0;
    for (size_t i = 1; i + rl <= o; i++) {
        if (memcmp(b->p + i, p->repl, rl) == 0) {
            trit_status st = emit(e, k, b->p, last, i, origin);
            if (st != TRIT_OK) return st;
            last = i;
            i += rl - 1;
        }
    }
    return emit(e, k, b->p, last, o, origin);
}

/* Contract: cuts before every run of "▁" (E2 96 81) that follows another
 * character. */
static trit_status step_spm_words(enc *e, int k, const uint8_t *s, size_t n, int origin) {
    size_t last = 0;
    for (size_t i = 1; i + 3 <= n; i++) {
        if (s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81 &&
            !(i >= 3 && s[i - 3] == 0xE2 && s[i - 2] == 0x96 && s[i - 1] == 0x81)) {
            trit_status st = emit(e, k, s, last, i, origin);
            if (st != TRIT_OK) return st;
            last = i;
            i += 2;
        }
    }
    return emit(e, k, s, last, n, origin);
}

/* Contract: runs pre-tokenizer step k on s[0..n); past the last step the
 * piece is a word and goes to BPE. `origin`: the piece starts the text. */
static trit_status run_step(enc *e, int k, const uint8_t *s, size_t n, int origin) {
    const tok_tokenizer *t = e->t;
    if (n == 0) return TRIT_OK;
    if (k >= t->n_pre) return tok_bpe_word(t, s, n, e->cache, e->out, e->err);
    const tok_pretok *p = &t->pre[k];
    switch (p->kind) {
    case PS_REGEX:
        return split_regex(e, k, s, n, origin, p->behavior);
    case PS_BYTELEVEL:
        if (p->add_prefix_space && s[0] != ' ') {
            tok_buf *b = &e->lvl[k];
            if (!buf_reserve(b, n + 1)) return enc_nomem(e);
            b->p[0] = ' ';
            memcpy(b->p + 1, s, n);
            s = b->p;
            n++;
        }
        if (!p->re) return run_step(e, k + 1, s, n, origin);
        return split_regex(e, k, s, n, origin, SPLIT_ISOLATED);
    case PS_METASPACE:
        return step_metaspace(e, k, s, n, origin);
    default:
        return step_spm_words(e, k, s, n, origin);
    }
}

/* ======================================================================== */
/* Segments                                                                  */
/* ======================================================================== */

/* Contract: normalizes segment s[0..n) and pre-tokenizes it. */
static trit_status do_segment(enc *e, const uint8_t *s, size_t n, int origin) {
    const tok_tokenizer *t = e->t;
    if (n == 0) return TRIT_OK;
    for (int i = 0; i < t->n_norm; i++) {
        const tok_norm *m = &t->norm[i];
        tok_buf *b = &e->nb[i & 1];
        if (m->kind == NS_PREPEND) {
            if (!buf_reserve(b, n + m->alen)) return enc_nomem(e);
            memcpy(b->p, m->a, m->alen);
            memcpy(b->p + m->alen, s, n);
            n += m->alen;
        } else if (m->kind == NS_SQUEEZE) {
            if (!buf_reserve(b, n)) return enc_nomem(e);
            size_t o = 0;
            for (size_t j = 0; j < n; j++)
                if (s[j] != ' ' || (o > 0 && b->p[o - 1] != ' ')) b->p[o++] = s[j];
            while (o > 0 && b->p[o - 1] == ' ') o--;
            n = o;
            if (n == 0) return TRIT_OK;
        } else {
            size_t cnt = 0;
            for (size_t j = 0; j + m->alen <= n; j++)
                if (memcmp(s + j, m->a, m->alen) == 0) {
                    cnt++;
                    j += m->alen - 1;
                }
            size_t grow = m->blen > m->alen ? (m->blen - m->alen) * cnt : 0;
            if (!buf_reserve(b, n + grow + 1)) return enc_nomem(e);
            size_t o = 0;
            for (size_t j = 0; j < n;) {
                if (j + m->alen <= n && memcmp(s + j, m->a, m->alen) == 0) {
                    memcpy(b->p + o, m->b, m->blen);
                    o += m->blen;
                    j += m->alen;
                } else {
                    b->p[o++] = s[j++];
                }
            }
            n = o;
        }
        s = b->p;
    }
    return run_step(e, 0, s, n, origin);
}

/* Contract: 1 for the ASCII white space an added token's lstrip / rstrip
 * absorbs. */
static int is_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Contract: cuts s[0..n) at active added tokens and encodes the pieces. */
static trit_status do_text(enc *e, const uint8_t *s, size_t n, unsigned flags) {
    const tok_tokenizer *t = e->t;
    int parse_special = (flags & TOK_PARSE_SPECIAL) != 0;
    if (t->n_added == 0 || (!parse_special && !t->has_nonspecial_added))
        return do_segment(e, s, n, 1);
    size_t seg = 0;
    trit_status st;
    for (size_t i = 0; i < n;) {
        const tok_added *hit = NULL;
        for (uint32_t k = t->added_start[s[i]]; k < t->added_start[s[i] + 1]; k++) {
            const tok_added *a = &t->added[k];
            if ((a->special && !parse_special) || a->len > n - i) continue;
            if (memcmp(t->pool.p + a->off, s + i, a->len) == 0) {
                hit = a;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        size_t ms = i, me = i + hit->len;
        if (hit->lstrip)
            while (ms > seg && is_space(s[ms - 1])) ms--;
        if (hit->rstrip)
            while (me < n && is_space(s[me])) me++;
        if ((st = do_segment(e, s + seg, ms - seg, seg == 0)) != TRIT_OK) return st;
        if (!tok_ids_push(e->out, hit->id)) return enc_nomem(e);
        seg = i = me;
    }
    return do_segment(e, s + seg, n - seg, seg == 0);
}

/* ======================================================================== */
/* Entry point                                                               */
/* ======================================================================== */

/* Contract: returns text itself when it is valid UTF-8, else a malloc'ed
 * copy (*copy set) with each maximal ill-formed subpart replaced by U+FFFD;
 * NULL on no memory. */
static const uint8_t *sanitize(const uint8_t *s, size_t n, size_t *outn, uint8_t **copy) {
    size_t i = 0, mx;
    *copy = NULL;
    *outn = n;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = tok_utf8_len(s + i, n - i, &mx);
        if (!l) break;
        i += l;
    }
    if (i == n) return s;
    if (n > (SIZE_MAX - 16) / 3) return NULL;
    uint8_t *c = malloc(n * 3 + 16);
    if (!c) return NULL;
    memcpy(c, s, i);
    size_t o = i;
    while (i < n) {
        size_t l = s[i] < 0x80 ? 1 : tok_utf8_len(s + i, n - i, &mx);
        if (l) {
            memcpy(c + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(c + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += mx;
        }
    }
    *copy = c;
    *outn = o;
    return c;
}

/* Contract: releases what e holds (not e itself). */
static void enc_release(enc *e) {
    for (int k = 0; k < TOK_MAX_PRETOK; k++) {
        if (e->scratch[k]) e->t->rx->scratch_free(e->scratch[k]);
        free(e->lvl[k].p);
    }
    free(e->nb[0].p);
    free(e->nb[1].p);
    tok_wordcache_free(e->cache);
}

/* Contract: encodes with the state in e (buffers, regex scratch and cache
 * kept by the caller); see tok_encode. */
static trit_status enc_run(enc *e, const char *text, size_t len, unsigned flags, tok_ids *out,
                           trit_error *err) {
    const tok_tokenizer *t = e->t;
    if (!out || (!text && len)) return trit_fail(err, TRIT_ERR_ARG, "tok_encode: NULL argument");
    if ((flags & TOK_ADD_BOS) && t->bos_id >= 0 && !tok_ids_push(out, t->bos_id))
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory while encoding", t->name);
    if (len == 0) return TRIT_OK;
    uint8_t *copy;
    size_t n;
    const uint8_t *s = sanitize((const uint8_t *)text, len, &n, &copy);
    if (!s) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory while encoding", t->name);
    e->out = out;
    e->err = err;
    trit_status st = do_text(e, s, n, flags);
    e->out = NULL;
    e->err = NULL;
    free(copy);
    return st;
}

/* Contract: see tokenizer.h. On error out keeps the ids appended so far. */
trit_status tok_encode(const tok_tokenizer *t, const char *text, size_t len, unsigned flags,
                       tok_ids *out, trit_error *err) {
    if (!t) return trit_fail(err, TRIT_ERR_ARG, "tok_encode: NULL argument");
    enc e;
    memset(&e, 0, sizeof e);
    e.t = t;
    if (len >= CACHE_MIN_BYTES) e.cache = tok_wordcache_new(len); /* NULL: no cache */
    trit_status st = enc_run(&e, text, len, flags, out, err);
    enc_release(&e);
    return st;
}

/* ======================================================================== */
/* Reusable encoder                                                          */
/* ======================================================================== */

struct tok_encoder {
    enc e;
};

/* Contract: see tokenizer.h. The word cache has its largest size: it stays
 * valid across texts (a word's ids depend on the tokenizer only). */
tok_encoder *tok_encoder_new(const tok_tokenizer *t) {
    if (!t) return NULL;
    tok_encoder *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->e.t = t;
    x->e.cache = tok_wordcache_new(SIZE_MAX);
    if (!x->e.cache) {
        free(x);
        return NULL;
    }
    return x;
}

/* Contract: see tokenizer.h. */
void tok_encoder_free(tok_encoder *x) {
    if (!x) return;
    enc_release(&x->e);
    free(x);
}

/* Contract: see tokenizer.h. */
trit_status tok_encoder_encode(tok_encoder *x, const char *text, size_t len, unsigned flags,
                               tok_ids *out, trit_error *err) {
    if (!x) return trit_fail(err, TRIT_ERR_ARG, "tok_encoder_encode: NULL encoder");
    return enc_run(&x->e, text, len, flags, out, err);
}
