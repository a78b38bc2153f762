/*
 * bpe_train.c - byte-level BPE training, Hugging Face BpeTrainer's
 * algorithm (see bpe_train.h for the rules it follows).
 *
 * Data:
 *   words  - distinct pre-tokenized pieces with their counts (a hash map
 *            over a byte pool while feeding); for training each word
 *            becomes an array of token ids in one shared array `sym`;
 *   tokens - every id's string in Hugging Face's form (bytes written in the
 *            GPT-2 byte-level alphabet; specials as given), with a map from
 *            string to id (a merge that rebuilds an existing string reuses
 *            its id, as Hugging Face does);
 *   pairs  - `pc`: pair -> count over all words (signed, never removed);
 *            `heap`: candidate merges, each holding a count and the words it
 *            was seen in; the top is re-inserted with the current count when
 *            its count is stale, and accepted when it is current;
 *   step   - per merge, the pairs that gained occurrences and their words,
 *            pushed to the heap after the merge (a generation-stamped map so
 *            that it need not be cleared).
 * The counting follows Hugging Face's Word::merge exactly (a merged pair's
 * own count is not reduced; overlapping occurrences are), so that even its
 * corner cases give the same merges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bpe_train.h"
#include "text/tok_impl.h"

#define NO_KEY UINT64_MAX

/* ======================================================================== */
/* Small helpers                                                             */
/* ======================================================================== */

/* Contract: makes *p (of *cap elements of `elem` bytes) hold at least
 * `need` elements, doubling; 1 on success, 0 on no memory or overflow. */
static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return 0;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* Contract: hash of a 64-bit pair key (the high bits are the good ones). */
static inline uint64_t key_hash(uint64_t k) {
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ull;
    k ^= k >> 29;
    return k;
}

/* Contract: the key of pair (a, b); keys order as (a, b) lexicographically. */
static inline uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t)a << 32 | b; }

/* ======================================================================== */
/* Pair counts: key -> signed count (open addressing, never shrinks)         */
/* ======================================================================== */

typedef struct {
    uint64_t key;
    int64_t count;
} pc_slot;

typedef struct {
    pc_slot *slot;
    size_t mask, n;
} pc_map;

/* Contract: an empty map with room for about `expected` keys; 1 / 0 (no
 * memory). */
static int pc_init(pc_map *m, size_t expected) {
    size_t cap = 1024;
    while (cap < expected * 2) cap *= 2;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return 0;
    for (size_t i = 0; i < cap; i++) m->slot[i].key = NO_KEY;
    m->mask = cap - 1;
    m->n = 0;
    return 1;
}

/* Contract: the slot of `key`, or NULL when absent. */
static pc_slot *pc_find(const pc_map *m, uint64_t key) {
    size_t i = (size_t)(key_hash(key) >> 20) & m->mask;
    for (;;) {
        pc_slot *s = &m->slot[i];
        if (s->key == key) return s;
        if (s->key == NO_KEY) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* Contract: the slot of `key`, inserted with count 0 when absent; NULL on
 * no memory (while growing). */
static pc_slot *pc_get(pc_map *m, uint64_t key) {
    if ((m->n + 1) * 2 > m->mask + 1) {
        pc_map g;
        if (!pc_init(&g, m->mask + 1)) return NULL;
        for (size_t i = 0; i <= m->mask; i++) {
            if (m->slot[i].key == NO_KEY) continue;
            size_t j = (size_t)(key_hash(m->slot[i].key) >> 20) & g.mask;
            while (g.slot[j].key != NO_KEY) j = (j + 1) & g.mask;
            g.slot[j] = m->slot[i];
        }
        g.n = m->n;
        free(m->slot);
        *m = g;
    }
    size_t i = (size_t)(key_hash(key) >> 20) & m->mask;
    for (;;) {
        pc_slot *s = &m->slot[i];
        if (s->key == key) return s;
        if (s->key == NO_KEY) {
            s->key = key;
            s->count = 0;
            m->n++;
            return s;
        }
        i = (i + 1) & m->mask;
    }
}

/* ======================================================================== */
/* Word lists and the step map: key -> list of word indices                  */
/* ======================================================================== */

typedef struct {
    uint64_t key;
    uint32_t *pos;
    uint32_t n, cap;
} wlist;

/* Contract: appends word w to l unless it is already its last element;
 * 1 / 0 (no memory). */
static int wlist_add(wlist *l, uint32_t w) {
    if (l->n && l->pos[l->n - 1] == w) return 1;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        if (cap < l->cap) return 0;
        uint32_t *p = realloc(l->pos, (size_t)cap * sizeof *p);
        if (!p) return 0;
        l->pos = p;
        l->cap = cap;
    }
    l->pos[l->n++] = w;
    return 1;
}

typedef struct {
    uint64_t key;
    uint32_t gen, idx;
} lm_slot;

/* key -> wlist, emptied in O(1) by bumping `gen`. */
typedef struct {
    lm_slot *slot;
    size_t mask, n;
    uint32_t gen;
    wlist *list;
    size_t n_list, cap_list;
} list_map;

/* Contract: an empty map; 1 / 0 (no memory). */
static int lm_init(list_map *m, size_t expected) {
    size_t cap = 256;
    while (cap < expected * 2) cap *= 2;
    m->slot = calloc(cap, sizeof *m->slot);
    if (!m->slot) return 0;
    m->mask = cap - 1;
    m->n = 0;
    m->gen = 1;
    m->list = NULL;
    m->n_list = m->cap_list = 0;
    return 1;
}

/* Contract: forgets every key (the lists must have been taken or freed). */
static void lm_clear(list_map *m) {
    m->n = 0;
    m->n_list = 0;
    if (++m->gen == 0) { /* wrapped: really clear */
        memset(m->slot, 0, (m->mask + 1) * sizeof *m->slot);
        m->gen = 1;
    }
}

/* Contract: the list of `key`, created empty when absent; NULL on no
 * memory. */
static wlist *lm_get(list_map *m, uint64_t key) {
    if ((m->n + 1) * 2 > m->mask + 1) {
        size_t cap = (m->mask + 1) * 2;
        lm_slot *s = calloc(cap, sizeof *s);
        if (!s) return NULL;
        for (size_t i = 0; i <= m->mask; i++) {
            if (m->slot[i].gen != m->gen) continue;
            size_t j = (size_t)(key_hash(m->slot[i].key) >> 20) & (cap - 1);
            while (s[j].gen == m->gen) j = (j + 1) & (cap - 1);
            s[j] = m->slot[i];
        }
        free(m->slot);
        m->slot = s;
        m->mask = cap - 1;
    }
    size_t i = (size_t)(key_hash(key) >> 20) & m->mask;
    for (;;) {
        lm_slot *s = &m->slot[i];
        if (s->gen != m->gen) {
            void *lp = m->list;
            if (!grow(&lp, &m->cap_list, m->n_list + 1, sizeof *m->list)) return NULL;
            m->list = lp;
            s->gen = m->gen;
            s->key = key;
            s->idx = (uint32_t)m->n_list;
            m->list[m->n_list] = (wlist){key, NULL, 0, 0};
            m->n_list++;
            m->n++;
            return &m->list[s->idx];
        }
        if (s->key == key) return &m->list[s->idx];
        i = (i + 1) & m->mask;
    }
}

/* Contract: frees the map and any list still in it. */
static void lm_free(list_map *m) {
    for (size_t i = 0; i < m->n_list; i++) free(m->list[i].pos);
    free(m->list);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* ======================================================================== */
/* Heap of candidate merges                                                  */
/* ======================================================================== */

typedef struct {
    uint64_t count;
    uint64_t key;
    uint32_t *pos;
    uint32_t n;
} cand;

/* Contract: true when a is popped before b: higher count, then the smaller
 * (left, right) pair (Hugging Face's Merge ordering). */
static inline int cand_before(const cand *a, const cand *b) {
    return a->count > b->count || (a->count == b->count && a->key < b->key);
}

/* Contract: restores the heap order below index i (n entries). */
static void sift_down(cand *h, size_t n, size_t i) {
    cand x = h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t c = l + 1 < n && cand_before(&h[l + 1], &h[l]) ? l + 1 : l;
        if (!cand_before(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Contract: moves entry i up to its place. */
static void sift_up(cand *h, size_t i) {
    cand x = h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

/* ======================================================================== */
/* The trainer                                                               */
/* ======================================================================== */

typedef struct {
    size_t off;     /* bytes in wbytes */
    uint32_t len;
    uint32_t hash;  /* high half of the hash, to skip compares */
    uint64_t count;
} word;

typedef struct {
    size_t off;     /* bytes in tstr */
    uint32_t len;
} tspan;

struct tok_trainer {
    tok_train_params p;
    char **special;        /* copies, deduplicated */
    size_t n_special;
    char *pattern;
    void *re, *scratch;

    /* words */
    uint8_t *wbytes;
    size_t wbytes_len, wbytes_cap;
    word *words;
    size_t n_words, cap_words;
    uint32_t *wmap;        /* word index + 1, 0 = empty */
    size_t wmap_mask;
    uint64_t total_words;
    uint8_t *line;         /* a sanitized line */
    size_t line_cap;

    /* tokens, in Hugging Face's string form */
    uint8_t *tstr;
    size_t tstr_len, tstr_cap;
    tspan *tok;
    size_t n_tok, cap_tok;
    uint32_t *tmap;        /* token id + 1 */
    size_t tmap_mask;

    /* merges: left, right, result */
    uint32_t (*merges)[3];
    size_t n_merges, cap_merges;
    int trained;
};

/* Contract: see bpe_train.h. */
const char *tok_train_pattern(const char *name) {
    if (!name) return NULL;
    if (strcmp(name, "gpt2") == 0) return TOK_GPT2_PATTERN;
    if (strcmp(name, "llama3") == 0) return TOK_LLAMA3_PATTERN;
    return NULL;
}

/* Contract: see bpe_train.h. */
tok_train_params tok_train_default_params(void) {
    tok_train_params p;
    memset(&p, 0, sizeof p);
    p.vocab_size = 8192;
    p.pattern = TOK_LLAMA3_PATTERN;
    p.progress_every = 1000;
    return p;
}

/* Contract: the out-of-memory error of the trainer. */
static trit_status nomem(trit_error *err) {
    return trit_fail(err, TRIT_ERR_NOMEM, "tokenizer training: out of memory");
}

/* Contract: a malloc'ed NUL-ended copy of s; NULL on no memory. */
static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (c) memcpy(c, s, n + 1);
    return c;
}

/* Contract: 1 when s[0..n) is well-formed UTF-8. */
static int utf8_ok(const uint8_t *s, size_t n) {
    size_t mx;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = tok_utf8_len(s + i, n - i, &mx);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

/* Contract: releases everything (NULL accepted). */
void tok_trainer_free(tok_trainer *tr) {
    if (!tr) return;
    for (size_t i = 0; i < tr->n_special; i++) free(tr->special[i]);
    free(tr->special);
    free(tr->pattern);
    if (tr->scratch) tr->p.regex->scratch_free(tr->scratch);
    if (tr->re) tr->p.regex->free(tr->re);
    free(tr->wbytes);
    free(tr->words);
    free(tr->wmap);
    free(tr->line);
    free(tr->tstr);
    free(tr->tok);
    free(tr->tmap);
    free(tr->merges);
    free(tr);
}

/* Contract: see bpe_train.h. */
trit_status tok_trainer_new(const tok_train_params *p, tok_trainer **out, trit_error *err) {
    *out = NULL;
    if (!p || !p->regex || !p->pattern || !*p->pattern)
        return trit_fail(err, TRIT_ERR_ARG, "tokenizer training: a regex engine and a pattern are needed");
    if (p->n_special > 4096)
        return trit_fail(err, TRIT_ERR_ARG, "tokenizer training: too many special tokens (%zu)", p->n_special);
    if (p->vocab_size < 256 + (int64_t)p->n_special || p->vocab_size > (1 << 24))
        return trit_fail(err, TRIT_ERR_ARG,
                         "tokenizer training: vocab size %d must be between 256 + %zu special "
                         "tokens and %d", (int)p->vocab_size, p->n_special, 1 << 24);
    tok_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return nomem(err);
    tr->p = *p;
    if (!tr->p.progress_every) tr->p.progress_every = 1000;
    tr->pattern = dup_str(p->pattern);
    tr->special = calloc(p->n_special + 1, sizeof *tr->special);
    if (!tr->pattern || !tr->special) goto oom;
    for (size_t i = 0; i < p->n_special; i++) {
        const char *s = p->special[i];
        if (!s || !*s || !utf8_ok((const uint8_t *)s, strlen(s))) {
            tok_trainer_free(tr);
            return trit_fail(err, TRIT_ERR_ARG,
                             "tokenizer training: special token %zu is empty or not UTF-8", i + 1);
        }
        int dup = 0;
        for (size_t k = 0; k < tr->n_special; k++) dup |= strcmp(tr->special[k], s) == 0;
        if (dup) continue; /* Hugging Face keeps the first */
        if (!(tr->special[tr->n_special] = dup_str(s))) goto oom;
        tr->n_special++;
    }
    tr->p.special = NULL;
    tr->p.pattern = tr->pattern;
    char eb[256];
    tr->re = p->regex->compile(tr->pattern, strlen(tr->pattern), eb, sizeof eb);
    if (!tr->re) {
        tok_trainer_free(tr);
        return trit_fail(err, TRIT_ERR_ARG, "tokenizer training: bad pre-tokenizer pattern: %s", eb);
    }
    tr->scratch = p->regex->scratch_new(tr->re);
    tr->wmap = calloc(1 << 16, sizeof *tr->wmap);
    if (!tr->scratch || !tr->wmap) goto oom;
    tr->wmap_mask = (1 << 16) - 1;
    *out = tr;
    return TRIT_OK;
oom:
    tok_trainer_free(tr);
    return nomem(err);
}

/* ======================================================================== */
/* Feeding: words and their counts                                          */
/* ======================================================================== */

/* Contract: doubles the word map; 1 / 0 (no memory). */
static int wmap_grow(tok_trainer *tr) {
    size_t cap = (tr->wmap_mask + 1) * 2;
    uint32_t *m = calloc(cap, sizeof *m);
    if (!m) return 0;
    for (size_t i = 0; i < tr->n_words; i++) {
        const word *w = &tr->words[i];
        size_t j = (size_t)tok_hash(tr->wbytes + w->off, w->len) & (cap - 1);
        while (m[j]) j = (j + 1) & (cap - 1);
        m[j] = (uint32_t)i + 1;
    }
    free(tr->wmap);
    tr->wmap = m;
    tr->wmap_mask = cap - 1;
    return 1;
}

/* Contract: counts one occurrence of word s[0..n) (n > 0); 1 / 0 (no
 * memory or more than 4 G distinct words). */
static int add_word(tok_trainer *tr, const uint8_t *s, size_t n) {
    uint64_t h = tok_hash(s, n);
    size_t i = (size_t)h & tr->wmap_mask;
    for (;;) {
        uint32_t id1 = tr->wmap[i];
        if (!id1) break;
        word *w = &tr->words[id1 - 1];
        if (w->hash == (uint32_t)(h >> 32) && w->len == n && memcmp(tr->wbytes + w->off, s, n) == 0) {
            w->count++;
            tr->total_words++;
            return 1;
        }
        i = (i + 1) & tr->wmap_mask;
    }
    if (n > UINT32_MAX || tr->n_words >= UINT32_MAX - 1) return 0;
    void *wp = tr->words, *bp = tr->wbytes;
    if (!grow(&wp, &tr->cap_words, tr->n_words + 1, sizeof *tr->words)) return 0;
    tr->words = wp;
    if (!grow(&bp, &tr->wbytes_cap, tr->wbytes_len + n, 1)) return 0;
    tr->wbytes = bp;
    memcpy(tr->wbytes + tr->wbytes_len, s, n);
    tr->words[tr->n_words] = (word){tr->wbytes_len, (uint32_t)n, (uint32_t)(h >> 32), 1};
    tr->wbytes_len += n;
    tr->wmap[i] = (uint32_t)++tr->n_words;
    tr->total_words++;
    if (tr->n_words * 2 > tr->wmap_mask + 1 && !wmap_grow(tr)) return 0;
    return 1;
}

/* Contract: a copy of s[0..n) in tr->line with each maximal ill-formed
 * UTF-8 subpart replaced by U+FFFD; NULL on no memory. */
static const uint8_t *sanitize_line(tok_trainer *tr, const uint8_t *s, size_t n, size_t *outn) {
    void *lp = tr->line;
    if (n > (SIZE_MAX - 16) / 3 || !grow(&lp, &tr->line_cap, n * 3 + 16, 1)) return NULL;
    tr->line = lp;
    size_t o = 0, mx;
    for (size_t i = 0; i < n;) {
        size_t l = s[i] < 0x80 ? 1 : tok_utf8_len(s + i, n - i, &mx);
        if (l) {
            memcpy(tr->line + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(tr->line + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += mx;
        }
    }
    *outn = o;
    return tr->line;
}

/* Contract: counts the pieces of one line: the regex matches and the text
 * between them (Split with the Isolated behaviour; empty matches cut
 * nothing). */
static trit_status feed_line(tok_trainer *tr, const uint8_t *s, size_t n, trit_error *err) {
    if (!utf8_ok(s, n)) {
        s = sanitize_line(tr, s, n, &n);
        if (!s) return nomem(err);
    }
    size_t last = 0, from = 0;
    while (from < n) {
        size_t ms, me;
        int r = tr->p.regex->find(tr->re, tr->scratch, (const char *)s, n, from, &ms, &me);
        if (r < 0)
            return trit_fail(err, TRIT_ERR_VALUE,
                             "tokenizer training: the pre-tokenizer regex failed (match limit?)");
        if (r == 0) break;
        if (me <= ms) {
            if (ms >= n) break;
            from = ms + tok_utf8_lead_len(s[ms]);
            continue;
        }
        if (ms > last && !add_word(tr, s + last, ms - last)) return nomem(err);
        if (!add_word(tr, s + ms, me - ms)) return nomem(err);
        last = from = me;
    }
    if (n > last && !add_word(tr, s + last, n - last)) return nomem(err);
    return TRIT_OK;
}

/* Contract: see bpe_train.h. Lines end after each '\n', as Hugging Face's
 * training from files reads them. */
trit_status tok_trainer_feed(tok_trainer *tr, const char *text, size_t len, trit_error *err) {
    if (!tr || (!text && len)) return trit_fail(err, TRIT_ERR_ARG, "tok_trainer_feed: NULL argument");
    if (tr->trained)
        return trit_fail(err, TRIT_ERR_ARG, "tok_trainer_feed: the trainer has already trained");
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < len;) {
        const uint8_t *nl = memchr(s + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - s) + 1 : len;
        trit_status st = feed_line(tr, s + i, e - i, err);
        if (st != TRIT_OK) return st;
        i = e;
    }
    return TRIT_OK;
}

/* Contract: see bpe_train.h. */
size_t tok_trainer_n_words(const tok_trainer *tr, uint64_t *total) {
    if (total) *total = tr->total_words;
    return tr->n_words;
}

/* ======================================================================== */
/* Tokens                                                                    */
/* ======================================================================== */

/* Contract: id of the token string s[0..n), or -1. */
static int64_t tok_lookup(const tok_trainer *tr, const uint8_t *s, size_t n) {
    size_t i = (size_t)tok_hash(s, n) & tr->tmap_mask;
    for (;;) {
        uint32_t id1 = tr->tmap[i];
        if (!id1) return -1;
        uint32_t id = id1 - 1;
        if (tr->tok[id].len == n && memcmp(tr->tstr + tr->tok[id].off, s, n) == 0) return id;
        i = (i + 1) & tr->tmap_mask;
    }
}

/* Contract: adds token string s[0..n) with the next id (the caller checked
 * it is new); returns the id, or -1 on no memory. */
static int64_t tok_new(tok_trainer *tr, const uint8_t *s, size_t n) {
    if ((tr->n_tok + 1) * 2 > tr->tmap_mask + 1) {
        size_t cap = (tr->tmap_mask + 1) * 2;
        uint32_t *m = calloc(cap, sizeof *m);
        if (!m) return -1;
        for (size_t id = 0; id < tr->n_tok; id++) {
            size_t j = (size_t)tok_hash(tr->tstr + tr->tok[id].off, tr->tok[id].len) & (cap - 1);
            while (m[j]) j = (j + 1) & (cap - 1);
            m[j] = (uint32_t)id + 1;
        }
        free(tr->tmap);
        tr->tmap = m;
        tr->tmap_mask = cap - 1;
    }
    void *tp = tr->tok, *sp = tr->tstr;
    if (n > UINT32_MAX || !grow(&tp, &tr->cap_tok, tr->n_tok + 1, sizeof *tr->tok)) return -1;
    tr->tok = tp;
    if (!grow(&sp, &tr->tstr_cap, tr->tstr_len + n, 1)) return -1;
    tr->tstr = sp;
    memcpy(tr->tstr + tr->tstr_len, s, n);
    size_t id = tr->n_tok++;
    tr->tok[id] = (tspan){tr->tstr_len, (uint32_t)n};
    tr->tstr_len += n;
    size_t i = (size_t)tok_hash(s, n) & tr->tmap_mask;
    while (tr->tmap[i]) i = (i + 1) & tr->tmap_mask;
    tr->tmap[i] = (uint32_t)id + 1;
    return (int64_t)id;
}

/* Contract: the id of s[0..n), added when new; -1 on no memory. */
static int64_t tok_intern(tok_trainer *tr, const uint8_t *s, size_t n) {
    int64_t id = tok_lookup(tr, s, n);
    return id >= 0 ? id : tok_new(tr, s, n);
}

/* Contract: writes the UTF-8 form of code point cp (< 0x800) to o; returns
 * its length. */
static size_t put_cp(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    o[0] = (uint8_t)(0xC0 | cp >> 6);
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
}

/* ======================================================================== */
/* Training                                                                  */
/* ======================================================================== */

typedef struct {
    tok_trainer *tr;
    uint32_t *sym;       /* every word's ids */
    size_t *wstart;
    uint32_t *wlen;
    pc_map pc;
    list_map step;
    cand *heap;
    size_t n_heap, cap_heap;
    int oom;
} run;

/* Contract: adds `delta` to the count of pair key; when `w` is not
 * UINT32_MAX, records that word w gained the pair. Sets r->oom on no
 * memory. */
static inline void change(run *r, uint64_t key, int64_t delta, uint32_t w) {
    pc_slot *s = pc_get(&r->pc, key);
    if (!s) {
        r->oom = 1;
        return;
    }
    s->count += delta;
    if (w != UINT32_MAX) {
        wlist *l = lm_get(&r->step, key);
        if (!l || !wlist_add(l, w)) r->oom = 1;
    }
}

/* Contract: merges every (a, b) of word w, left to right without overlap,
 * into z, and records the pair changes as Hugging Face's Word::merge does. */
static void merge_word(run *r, uint32_t w, uint32_t a, uint32_t b, uint32_t z) {
    uint32_t *x = r->sym + r->wstart[w];
    uint32_t n = r->wlen[w];
    int64_t c = (int64_t)r->tr->words[w].count;
    for (uint32_t i = 0; i + 1 < n; i++) {
        if (x[i] != a || x[i + 1] != b) continue;
        if (i > 0) {
            change(r, pair_key(x[i - 1], a), -c, UINT32_MAX);
            change(r, pair_key(x[i - 1], z), c, w);
        }
        x[i] = z;
        memmove(x + i + 1, x + i + 2, (size_t)(n - i - 2) * sizeof *x);
        n--;
        if (i + 1 < n) {
            change(r, pair_key(b, x[i + 1]), -c, UINT32_MAX);
            change(r, pair_key(z, x[i + 1]), c, w);
        }
    }
    r->wlen[w] = n;
}

/* Contract: pushes a candidate; 1 / 0 (no memory). */
static int heap_push(run *r, cand c) {
    void *hp = r->heap;
    if (!grow(&hp, &r->cap_heap, r->n_heap + 1, sizeof *r->heap)) return 0;
    r->heap = hp;
    r->heap[r->n_heap] = c;
    sift_up(r->heap, r->n_heap++);
    return 1;
}

/* Contract: moves the lists of the step map whose pair count is positive
 * to the heap (Hugging Face pushes a new candidate holding only the words
 * that gained the pair, with the pair's whole count) and frees the others;
 * 1 / 0 (no memory). */
static int flush_step(run *r) {
    int ok = 1;
    for (size_t i = 0; i < r->step.n_list; i++) {
        wlist *l = &r->step.list[i];
        const pc_slot *s = pc_find(&r->pc, l->key); /* present: change() made it */
        if (ok && s && s->count > 0) {
            if (heap_push(r, (cand){(uint64_t)s->count, l->key, l->pos, l->n})) {
                l->pos = NULL;
                continue;
            }
            ok = 0;
        }
        free(l->pos);
        l->pos = NULL;
    }
    lm_clear(&r->step);
    return ok;
}

/* Contract: builds the per-word id arrays, the pair counts and the first
 * heap (one candidate per pair, with every word holding it). */
static trit_status setup(run *r, const uint32_t *byte_id, trit_error *err) {
    tok_trainer *tr = r->tr;
    size_t nw = tr->n_words;
    r->sym = malloc((tr->wbytes_len + 1) * sizeof *r->sym);
    r->wstart = malloc((nw + 1) * sizeof *r->wstart);
    r->wlen = malloc((nw + 1) * sizeof *r->wlen);
    if (!r->sym || !r->wstart || !r->wlen) return nomem(err);
    size_t o = 0;
    for (size_t w = 0; w < nw; w++) {
        const uint8_t *s = tr->wbytes + tr->words[w].off;
        r->wstart[w] = o;
        r->wlen[w] = tr->words[w].len;
        for (uint32_t i = 0; i < tr->words[w].len; i++) r->sym[o++] = byte_id[s[i]];
    }
    if (!pc_init(&r->pc, nw) || !lm_init(&r->step, nw)) return nomem(err);
    for (size_t w = 0; w < nw; w++) {
        const uint32_t *x = r->sym + r->wstart[w];
        int64_t c = (int64_t)tr->words[w].count;
        for (uint32_t i = 0; i + 1 < r->wlen[w]; i++) change(r, pair_key(x[i], x[i + 1]), c, (uint32_t)w);
        if (r->oom) return nomem(err);
    }
    r->cap_heap = r->step.n_list + 16;
    r->heap = malloc(r->cap_heap * sizeof *r->heap);
    if (!r->heap) return nomem(err);
    for (size_t i = 0; i < r->step.n_list; i++) {
        wlist *l = &r->step.list[i];
        const pc_slot *s = pc_find(&r->pc, l->key);
        r->heap[r->n_heap++] = (cand){(uint64_t)s->count, l->key, l->pos, l->n};
        l->pos = NULL;
    }
    lm_clear(&r->step);
    for (size_t i = r->n_heap / 2; i-- > 0;) sift_down(r->heap, r->n_heap, i);
    return TRIT_OK;
}

/* Contract: records merge (a, b) -> z; 1 / 0 (no memory). */
static int add_merge(tok_trainer *tr, uint32_t a, uint32_t b, uint32_t z) {
    void *mp = tr->merges;
    if (!grow(&mp, &tr->cap_merges, tr->n_merges + 1, sizeof *tr->merges)) return 0;
    tr->merges = mp;
    tr->merges[tr->n_merges][0] = a;
    tr->merges[tr->n_merges][1] = b;
    tr->merges[tr->n_merges][2] = z;
    tr->n_merges++;
    return 1;
}

/* Contract: the merge loop (Hugging Face's BpeTrainer::do_train step 5). */
static trit_status merge_loop(run *r, trit_error *err) {
    tok_trainer *tr = r->tr;
    size_t target = (size_t)tr->p.vocab_size > tr->n_tok ? (size_t)tr->p.vocab_size - tr->n_tok : 0;
    uint8_t *cat = NULL;
    size_t cat_cap = 0;
    trit_status st = TRIT_OK;
    tok_train_progress pr = {0, target, 0, 0};
    while (tr->n_tok < (size_t)tr->p.vocab_size && r->n_heap > 0) {
        cand top = r->heap[0];
        const pc_slot *s = pc_find(&r->pc, top.key); /* present: counted before */
        if (top.count != (uint64_t)s->count) { /* stale: re-insert with the current count */
            r->heap[0].count = (uint64_t)s->count;
            sift_down(r->heap, r->n_heap, 0);
            continue;
        }
        r->heap[0] = r->heap[--r->n_heap];
        if (r->n_heap) sift_down(r->heap, r->n_heap, 0);
        if (top.count < 1 || tr->p.min_frequency > top.count) {
            free(top.pos);
            break;
        }
        uint32_t a = (uint32_t)(top.key >> 32), b = (uint32_t)top.key;
        size_t la = tr->tok[a].len, lb = tr->tok[b].len;
        void *cp = cat;
        if (!grow(&cp, &cat_cap, la + lb, 1)) {
            free(top.pos);
            st = nomem(err);
            break;
        }
        cat = cp;
        memcpy(cat, tr->tstr + tr->tok[a].off, la);
        memcpy(cat + la, tr->tstr + tr->tok[b].off, lb);
        int64_t z = tok_intern(tr, cat, la + lb);
        if (z < 0 || !add_merge(tr, a, b, (uint32_t)z)) {
            free(top.pos);
            st = nomem(err);
            break;
        }
        for (uint32_t i = 0; i < top.n; i++) merge_word(r, top.pos[i], a, b, (uint32_t)z);
        free(top.pos);
        if (r->oom || !flush_step(r)) {
            st = nomem(err);
            break;
        }
        if (tr->p.progress && tr->n_merges % tr->p.progress_every == 0) {
            pr.merges_done = tr->n_merges;
            pr.vocab = (int32_t)tr->n_tok;
            tr->p.progress(tr->p.progress_user, &pr);
        }
    }
    free(cat);
    if (st == TRIT_OK && tr->p.progress) {
        pr.merges_done = tr->n_merges;
        pr.vocab = (int32_t)tr->n_tok;
        pr.done = 1;
        tr->p.progress(tr->p.progress_user, &pr);
    }
    return st;
}

/* Contract: see bpe_train.h. */
trit_status tok_trainer_train(tok_trainer *tr, trit_error *err) {
    if (!tr) return trit_fail(err, TRIT_ERR_ARG, "tok_trainer_train: NULL trainer");
    if (tr->trained) return trit_fail(err, TRIT_ERR_ARG, "tok_trainer_train: already trained");
    tr->trained = 1;
    tr->tmap = calloc(1024, sizeof *tr->tmap);
    if (!tr->tmap) return nomem(err);
    tr->tmap_mask = 1023;
    /* 1. specials, 2. the 256 bytes in code point order */
    for (size_t i = 0; i < tr->n_special; i++)
        if (tok_new(tr, (const uint8_t *)tr->special[i], strlen(tr->special[i])) < 0) return nomem(err);
    uint32_t byte_id[256];
    uint8_t by_cp[324]; /* code points 0x21..0x143 */
    int have[324] = {0};
    for (int c = 0; c < 256; c++) {
        uint32_t cp = tok_byte_to_cp((uint8_t)c);
        by_cp[cp] = (uint8_t)c;
        have[cp] = 1;
    }
    for (uint32_t cp = 0; cp < 324; cp++) {
        if (!have[cp]) continue;
        uint8_t u[2];
        size_t n = put_cp(u, cp);
        int64_t id = tok_intern(tr, u, n);
        if (id < 0) return nomem(err);
        byte_id[by_cp[cp]] = (uint32_t)id;
    }
    /* 3.-5. words, pair counts, merges */
    run r;
    memset(&r, 0, sizeof r);
    r.tr = tr;
    trit_status st = setup(&r, byte_id, err);
    if (st == TRIT_OK) st = merge_loop(&r, err);
    for (size_t i = 0; i < r.n_heap; i++) free(r.heap[i].pos);
    free(r.heap);
    lm_free(&r.step);
    free(r.pc.slot);
    free(r.sym);
    free(r.wstart);
    free(r.wlen);
    return st;
}

/* Contract: see bpe_train.h. */
int32_t tok_trainer_vocab_size(const tok_trainer *tr) { return (int32_t)tr->n_tok; }

/* Contract: see bpe_train.h. */
size_t tok_trainer_n_merges(const tok_trainer *tr) { return tr->n_merges; }

/* ======================================================================== */
/* JSON output                                                               */
/* ======================================================================== */

/* Contract: appends s[0..n) to o; 1 / 0 (no memory). */
static int put(tok_str *o, const void *s, size_t n) {
    void *p = o->s;
    if (!grow(&p, &o->cap, o->len + n + 1, 1)) return 0;
    o->s = p;
    memcpy(o->s + o->len, s, n);
    o->len += n;
    o->s[o->len] = 0;
    return 1;
}

/* Contract: appends a NUL-ended string. */
static int puts_(tok_str *o, const char *s) { return put(o, s, strlen(s)); }

/* Contract: appends s[0..n) as a JSON string literal (quotes, backslashes
 * and control characters escaped; other bytes as they are). */
static int put_json_str(tok_str *o, const uint8_t *s, size_t n) {
    if (!put(o, "\"", 1)) return 0;
    size_t run0 = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (!put(o, s + run0, i - run0)) return 0;
        char e[8];
        switch (c) {
        case '"': memcpy(e, "\\\"", 3); break;
        case '\\': memcpy(e, "\\\\", 3); break;
        case '\n': memcpy(e, "\\n", 3); break;
        case '\r': memcpy(e, "\\r", 3); break;
        case '\t': memcpy(e, "\\t", 3); break;
        case '\b': memcpy(e, "\\b", 3); break;
        case '\f': memcpy(e, "\\f", 3); break;
        default: snprintf(e, sizeof e, "\\u%04x", c); break;
        }
        if (!puts_(o, e)) return 0;
        run0 = i + 1;
    }
    return put(o, s + run0, n - run0) && put(o, "\"", 1);
}

/* Contract: appends the added_tokens entries of the specials. */
static int put_added(const tok_trainer *tr, tok_str *o) {
    for (size_t i = 0; i < tr->n_special; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s\n    {\"id\": %zu, \"content\": ", i ? "," : "", i);
        if (!puts_(o, b) ||
            !put_json_str(o, (const uint8_t *)tr->special[i], strlen(tr->special[i])) ||
            !puts_(o, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                      "\"normalized\": false, \"special\": true}"))
            return 0;
    }
    return 1;
}

/* Contract: 1 when merge k's pair is merged again later: Hugging Face keeps
 * only the last rank of a pair, so the earlier ones are left out. `last`
 * maps each pair to the index of its last merge. */
static int superseded(const tok_trainer *tr, const pc_map *last, size_t k) {
    uint64_t key = pair_key(tr->merges[k][0], tr->merges[k][1]);
    size_t i = (size_t)(key_hash(key) >> 20) & last->mask;
    for (;;) {
        const pc_slot *s = &last->slot[i];
        if (s->key == key) return (size_t)s->count != k;
        if (s->key == NO_KEY) return 0;
        i = (i + 1) & last->mask;
    }
}

/* Contract: see bpe_train.h. */
trit_status tok_trainer_json(const tok_trainer *tr, tok_str *o, trit_error *err) {
    if (!tr || !tr->trained) return trit_fail(err, TRIT_ERR_ARG, "tok_trainer_json: not trained");
    pc_map last; /* pair -> index of its last merge */
    if (!pc_init(&last, tr->n_merges)) return nomem(err);
    for (size_t k = 0; k < tr->n_merges; k++) {
        pc_slot *s = pc_get(&last, pair_key(tr->merges[k][0], tr->merges[k][1]));
        if (!s) {
            free(last.slot);
            return nomem(err);
        }
        s->count = (int64_t)k;
    }
    int ok = puts_(o, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                      "  \"added_tokens\": [") &&
             put_added(tr, o) &&
             puts_(o, tr->n_special ? "\n  ],\n" : "],\n") &&
             puts_(o, "  \"normalizer\": null,\n  \"pre_tokenizer\": {\n    \"type\": \"Sequence\",\n"
                      "    \"pretokenizers\": [\n      {\"type\": \"Split\", \"pattern\": {\"Regex\": ") &&
             put_json_str(o, (const uint8_t *)tr->pattern, strlen(tr->pattern)) &&
             puts_(o, "}, \"behavior\": \"Isolated\", \"invert\": false},\n"
                      "      {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
                      "\"use_regex\": false}\n    ]\n  },\n"
                      "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                      "\"trim_offsets\": false, \"use_regex\": false},\n"
                      "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                      "\"trim_offsets\": true, \"use_regex\": false},\n"
                      "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n"
                      "    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
                      "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
                      "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {");
    for (size_t id = 0; ok && id < tr->n_tok; id++) {
        char b[40];
        ok = puts_(o, id ? ",\n      " : "\n      ") &&
             put_json_str(o, tr->tstr + tr->tok[id].off, tr->tok[id].len);
        snprintf(b, sizeof b, ": %zu", id);
        ok = ok && puts_(o, b);
    }
    ok = ok && puts_(o, "\n    },\n    \"merges\": [");
    int first = 1;
    for (size_t k = 0; ok && k < tr->n_merges; k++) {
        if (superseded(tr, &last, k)) continue;
        uint32_t a = tr->merges[k][0], b = tr->merges[k][1];
        ok = puts_(o, first ? "\n      [" : ",\n      [") &&
             put_json_str(o, tr->tstr + tr->tok[a].off, tr->tok[a].len) && puts_(o, ", ") &&
             put_json_str(o, tr->tstr + tr->tok[b].off, tr->tok[b].len) && puts_(o, "]");
        first = 0;
    }
    ok = ok && puts_(o, "\n    ]\n  }\n}\n");
    free(last.slot);
    return ok ? TRIT_OK : nomem(err);
}

/* Contract: index of the first special whose text contains one of the
 * needles (ASCII case-insensitive), or -1. */
static long find_special(const tok_trainer *tr, const char *const *needles) {
    for (size_t i = 0; i < tr->n_special; i++) {
        for (const char *const *n = needles; *n; n++) {
            size_t nl = strlen(*n), sl = strlen(tr->special[i]);
            for (size_t j = 0; j + nl <= sl; j++) {
                size_t k = 0;
                while (k < nl) {
                    char c = tr->special[i][j + k];
                    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
                    if (c != (*n)[k]) break;
                    k++;
                }
                if (k == nl) return (long)i;
            }
        }
    }
    return -1;
}

/* Contract: appends `"key": "special"` or `"key": null`. */
static int put_token_field(const tok_trainer *tr, tok_str *o, const char *key, long i) {
    if (!puts_(o, "  \"") || !puts_(o, key) || !puts_(o, "\": ")) return 0;
    if (i < 0) return puts_(o, "null");
    return put_json_str(o, (const uint8_t *)tr->special[i], strlen(tr->special[i]));
}

/* Contract: see bpe_train.h. EOS is the first special that looks like an
 * end token (else the first special); BOS one that looks like a begin
 * token (else none); BOS is never added by default. */
trit_status tok_trainer_config_json(const tok_trainer *tr, tok_str *o, trit_error *err) {
    if (!tr || !tr->trained) return trit_fail(err, TRIT_ERR_ARG, "tok_trainer_config_json: not trained");
    static const char *const eos_names[] = {"endoftext", "end_of_text", "eos", "</s>", "eot", NULL};
    static const char *const bos_names[] = {"begin_of_text", "bos", "<s>", "startoftext", NULL};
    long eos = find_special(tr, eos_names), bos = find_special(tr, bos_names);
    if (eos < 0 && tr->n_special > 0) eos = 0;
    int ok = puts_(o, "{\n  \"added_tokens_decoder\": {");
    for (size_t i = 0; ok && i < tr->n_special; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s\n    \"%zu\": {\"content\": ", i ? "," : "", i);
        ok = puts_(o, b) &&
             put_json_str(o, (const uint8_t *)tr->special[i], strlen(tr->special[i])) &&
             puts_(o, ", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, "
                      "\"single_word\": false, \"special\": true}");
    }
    ok = ok && puts_(o, tr->n_special ? "\n  },\n" : "},\n") &&
         puts_(o, "  \"add_bos_token\": false,\n  \"add_eos_token\": false,\n") &&
         put_token_field(tr, o, "bos_token", bos) && puts_(o, ",\n") &&
         put_token_field(tr, o, "eos_token", eos) && puts_(o, ",\n") &&
         puts_(o, "  \"clean_up_tokenization_spaces\": false,\n"
                  "  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n");
    return ok ? TRIT_OK : nomem(err);
}
