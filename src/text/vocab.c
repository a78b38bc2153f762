/*
 * vocab.c - storage of a tokenizer's tokens: the string pool, the key -> id
 * hash map, the (left, right) -> merge hash map, the GPT-2 byte-level
 * alphabet and UTF-8 validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"

/* ======================================================================== */
/* Hashing                                                                   */
/* ======================================================================== */

/* Contract: a 64-bit hash of s[0..n), eight bytes at a time. */
uint64_t tok_hash(const void *s, size_t n) {
    const uint8_t *p = s;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

/* ======================================================================== */
/* Pool and tokens                                                           */
/* ======================================================================== */

/* Contract: appends s[0..n) to the pool; returns its offset, or UINT32_MAX
 * when memory runs out or the pool would pass 4 GiB. */
uint32_t tok_pool_add(tok_buf *b, const void *s, size_t n) {
    if (b->len + n + 1 > UINT32_MAX) return UINT32_MAX;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) return UINT32_MAX;
        b->p = p;
        b->cap = cap;
    }
    uint32_t off = (uint32_t)b->len;
    if (n) memcpy(b->p + off, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return off;
}

/* Contract: a zeroed tokenizer whose n_vocab ids are all holes; NULL on no
 * memory. The name is truncated to fit. */
tok_tokenizer *tok_alloc(const char *name, int32_t n_vocab) {
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "(memory)");
    t->kind = "bpe";
    t->unk_id = t->bos_id = t->eos_id = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    if (!tok_grow(t, n_vocab)) {
        free(t);
        return NULL;
    }
    return t;
}

/* Contract: grows the id space to n ids (new ones are holes); 1 on success,
 * 0 on no memory. Never shrinks. */
int tok_grow(tok_tokenizer *t, int32_t n) {
    if (n <= t->n_vocab) return 1;
    if (n > t->cap_vocab) {
        int32_t cap = t->cap_vocab > 0 ? t->cap_vocab : 256;
        while (cap < n) cap = cap > INT32_MAX / 2 ? n : cap * 2;
        tok_entry *e = realloc(t->ent, (size_t)cap * sizeof *e);
        if (!e) return 0;
        t->ent = e;
        t->cap_vocab = cap;
    }
    memset(t->ent + t->n_vocab, 0, (size_t)(n - t->n_vocab) * sizeof *t->ent);
    for (int32_t i = t->n_vocab; i < n; i++) t->ent[i].type = TT_HOLE;
    t->n_vocab = n;
    return 1;
}

/* Contract: sets token id's key and decoded text (the text shares the key's
 * bytes when equal) and type; 1 on success, 0 on no memory. */
int tok_set(tok_tokenizer *t, int32_t id, const void *key, size_t klen,
            const void *txt, size_t tlen, int type) {
    tok_entry *e = &t->ent[id];
    uint32_t ko = tok_pool_add(&t->pool, key, klen);
    if (ko == UINT32_MAX) return 0;
    uint32_t to = ko;
    if (tlen != klen || (tlen && memcmp(key, txt, tlen) != 0)) {
        to = tok_pool_add(&t->pool, txt, tlen);
        if (to == UINT32_MAX) return 0;
    }
    e->key_off = ko;
    e->key_len = (uint32_t)klen;
    e->txt_off = to;
    e->txt_len = (uint32_t)tlen;
    e->type = (uint8_t)type;
    return 1;
}

/* ======================================================================== */
/* Key -> id map                                                             */
/* ======================================================================== */

/* Contract: true for the token types that are looked up by key. */
static int in_vocab_map(int type) { return type != TT_HOLE; }

/* Contract: builds t->vocab over every non-hole token with a non-empty key;
 * a second token with the same key is a format error naming both ids. */
trit_status tok_build_vocab_map(tok_tokenizer *t, trit_error *err) {
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2) cap *= 2;
    free(t->vocab.slot);
    t->vocab.slot = calloc(cap, sizeof *t->vocab.slot);
    t->vocab.mask = cap - 1;
    t->vocab.n = 0;
    if (!t->vocab.slot)
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory for the vocabulary", t->name);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->ent[id];
        if (!in_vocab_map(e->type) || e->key_len == 0) continue;
        const uint8_t *k = t->pool.p + e->key_off;
        uint64_t h = tok_hash(k, e->key_len);
        size_t i = (size_t)h & t->vocab.mask;
        for (;;) {
            uint32_t s = t->vocab.slot[i].id1;
            if (s == 0) break;
            const tok_entry *o = &t->ent[s - 1];
            if (t->vocab.slot[i].hash == (uint32_t)(h >> 32) && o->key_len == e->key_len &&
                memcmp(t->pool.p + o->key_off, k, e->key_len) == 0) {
                /* Added tokens may repeat a model token with the same id
                 * earlier; two different ids with one string is an error. */
                return trit_fail(err, TRIT_ERR_FORMAT,
                                 "%s: tokens %d and %d have the same text \"%.*s\"", t->name,
                                 (int)(s - 1), (int)id, (int)(e->key_len > 60 ? 60 : e->key_len),
                                 (const char *)k);
            }
            i = (i + 1) & t->vocab.mask;
        }
        t->vocab.slot[i].id1 = (uint32_t)id + 1;
        t->vocab.slot[i].hash = (uint32_t)(h >> 32);
        t->vocab.n++;
    }
    return TRIT_OK;
}

/* Contract: id of the token with key s[0..n) (any non-hole type), or -1. */
int32_t tok_vocab_get(const tok_tokenizer *t, const void *s, size_t n) {
    if (!t->vocab.slot || n == 0) return -1;
    return tok_vocab_get_h(t, s, n, tok_hash(s, n));
}

/* Contract: tok_vocab_get with h = tok_hash(s, n) already computed. */
int32_t tok_vocab_get_h(const tok_tokenizer *t, const void *s, size_t n, uint64_t h) {
    if (!t->vocab.slot || n == 0) return -1;
    size_t i = (size_t)h & t->vocab.mask;
    for (;;) {
        tok_strslot sl = t->vocab.slot[i];
        if (sl.id1 == 0) return -1;
        if (sl.hash == (uint32_t)(h >> 32)) {
            const tok_entry *e = &t->ent[sl.id1 - 1];
            if (e->key_len == n && tok_bytes_eq(t->pool.p + e->key_off, s, n))
                return (int32_t)(sl.id1 - 1);
        }
        i = (i + 1) & t->vocab.mask;
    }
}

/* ======================================================================== */
/* Merge map                                                                 */
/* ======================================================================== */

/* Contract: allocates an empty merge table for about `expected` pairs (load
 * factor <= 1/2); 1 on success, 0 on no memory. */
int tok_merges_init(tok_pairmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap *= 2;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return 0;
    for (size_t i = 0; i < cap; i++) m->slot[i].key = UINT64_MAX;
    m->mask = cap - 1;
    m->n = 0;
    return 1;
}

/* Contract: doubles the table; 1 on success, 0 on no memory. */
static int merges_grow(tok_pairmap *m) {
    tok_pairmap g;
    if (!tok_merges_init(&g, (m->mask + 1))) return 0;
    for (size_t i = 0; i <= m->mask; i++) {
        tok_pair p = m->slot[i];
        if (p.key == UINT64_MAX) continue;
        size_t j = (size_t)((p.key * 0x9E3779B97F4A7C15ull) >> 32) & g.mask;
        while (g.slot[j].key != UINT64_MAX) j = (j + 1) & g.mask;
        g.slot[j] = p;
        g.n++;
    }
    free(m->slot);
    *m = g;
    return 1;
}

/* Contract: records merge (a, b) -> id at `rank`; a pair already present
 * keeps its lower rank. 1 on success, 0 on no memory. */
int tok_merge_add(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    if (!m->slot && !tok_merges_init(m, 1024)) return 0;
    if ((m->n + 1) * 2 > m->mask + 1 && !merges_grow(m)) return 0;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
    for (;;) {
        tok_pair *p = &m->slot[i];
        if (p->key == key) {
            if (rank < p->rank) {
                p->rank = rank;
                p->id = id;
            }
            return 1;
        }
        if (p->key == UINT64_MAX) {
            p->key = key;
            p->rank = rank;
            p->id = id;
            m->n++;
            return 1;
        }
        i = (i + 1) & m->mask;
    }
}

/* Contract: releases the table (safe on a zeroed one). */
void tok_merges_free(tok_pairmap *m) {
    free(m->slot);
    m->slot = NULL;
    m->n = m->mask = 0;
}

/* ======================================================================== */
/* GPT-2 byte-level alphabet                                                 */
/* ======================================================================== */

/* Contract: true for the bytes that stand for themselves in the alphabet. */
static int byte_is_direct(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* Contract: the code point GPT-2's bytes_to_unicode gives byte b: itself for
 * printable Latin-1, else 256 + its index among the other bytes, which are
 * 0x00-0x20 (33), 0x7F-0xA0 (34) and 0xAD (1). */
uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_is_direct(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

/* Contract: the byte of code point cp in the alphabet, or -1. */
static int cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_direct(cp) ? (int)cp : -1;
    uint32_t k = cp - 256;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + (k - 33));
    if (k == 67) return 0xAD;
    return -1;
}

/* Contract: converts the alphabet string s[0..len) (UTF-8) to raw bytes in
 * out; returns the count, or -1 for malformed UTF-8 or a character outside
 * the alphabet. */
long tok_bytelevel_decode(const char *s, size_t len, uint8_t *out) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    long n = 0;
    while (i < len) {
        uint32_t cp;
        if (u[i] < 0x80) {
            cp = u[i++];
        } else if ((u[i] & 0xE0) == 0xC0 && i + 1 < len && (u[i + 1] & 0xC0) == 0x80) {
            cp = (uint32_t)(u[i] & 0x1F) << 6 | (u[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1; /* the alphabet only uses U+0021..U+0143 */
        }
        int b = cp_to_byte(cp);
        if (b < 0) return -1;
        out[n++] = (uint8_t)b;
    }
    return n;
}

/* ======================================================================== */
/* UTF-8                                                                     */
/* ======================================================================== */

/* Contract: see tok_impl.h. Follows the Unicode "maximal subpart" rule:
 * overlongs, surrogates and values above U+10FFFF are ill-formed. */
size_t tok_utf8_len(const uint8_t *s, size_t n, size_t *maximal) {
    uint8_t c = s[0];
    *maximal = 1;
    if (c < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c == 0xE0) { need = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 3;
    else if (c == 0xED) { need = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 3;
    else if (c == 0xF0) { need = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 4;
    else if (c == 0xF4) { need = 4; hi = 0x8F; }
    else return 0;
    for (size_t k = 1; k < need; k++) {
        if (k >= n) return 0;
        uint8_t d = s[k];
        uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (d < l || d > h) return 0;
        *maximal = k + 1;
    }
    return need;
}
