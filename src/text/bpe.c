/*
 * bpe.c - BPE merging of one pre-tokenized word, shared by byte-level BPE
 * (ranks from merges or tiktoken) and SentencePiece BPE (ranks from scores).
 *
 * The word starts as one symbol per byte (byte-level) or per UTF-8
 * character. The adjacent pair with the lowest merge rank is merged, the
 * leftmost one on ties, until no pair has a merge. Symbols form a doubly
 * linked list over an array. Short words find the best pair by a scan over
 * cached pair ranks (O(n) per merge, small n); long words use a binary heap
 * of candidate pairs whose stale entries are dropped when popped, so a word
 * of n symbols costs O(n log n) - SentencePiece text can be one long word.
 *
 * A small direct-mapped cache, owned by one encode call (or by a
 * tok_encoder, across calls), remembers the ids of recent short words; it is
 * looked at before anything else, the vocabulary map included.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"

#define SCAN_MAX 48   /* words with more symbols use the heap */
#define STACK_SYMS 256

/* ======================================================================== */
/* Id vectors                                                                */
/* ======================================================================== */

/* Contract: appends id to v, growing it; 1 on success, 0 on no memory. */
int tok_ids_push(tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p) return 0;
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 1;
}

/* Contract: releases the ids and zeroes v (NULL accepted). */
void tok_ids_free(tok_ids *v) {
    if (!v) return;
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

/* ======================================================================== */
/* Word cache                                                                */
/* ======================================================================== */

#define WC_MIN_SLOTS 64
#define WC_MAX_SLOTS 4096
#define WC_KEY 22
#define WC_IDS 8

typedef struct {
    uint64_t h;
    uint8_t klen, nids; /* klen 0: empty slot */
    uint8_t key[WC_KEY];
    int32_t ids[WC_IDS];
} wc_slot;

struct tok_wordcache {
    size_t mask;
    wc_slot slot[];
};

/* Contract: an empty cache sized for a text of text_len bytes (a slot per
 * 8 bytes, 64 to 4096 slots, so that short texts do not pay for zeroing a
 * big one), or NULL on no memory. */
tok_wordcache *tok_wordcache_new(size_t text_len) {
    size_t n = WC_MIN_SLOTS;
    while (n < WC_MAX_SLOTS && n * 8 < text_len) n *= 2;
    tok_wordcache *c = calloc(1, sizeof *c + n * sizeof(wc_slot));
    if (c) c->mask = n - 1;
    return c;
}

/* Contract: releases the cache (NULL accepted). */
void tok_wordcache_free(tok_wordcache *c) { free(c); }

/* ======================================================================== */
/* Merging                                                                   */
/* ======================================================================== */

typedef struct {
    int32_t id;      /* -1: unknown character (no merges), -2: merged away */
    int32_t prev, next;
    uint32_t start, len;
    uint32_t rank;   /* scan mode: rank of the pair (this, next) */
    int32_t to;      /* scan mode: id that pair merges into      */
} sym;

typedef struct {
    uint32_t rank, left, right;
    int32_t lid, rid;
} cand;

/* Contract: true when heap entry a comes before b (lower rank, then left). */
static int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

/* Contract: adds c to the binary heap h of *n entries (room checked by the
 * caller). */
static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

/* Contract: removes and returns the first entry of the non-empty heap. */
static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m) break;
        size_t c = l + 1 < m && cand_less(&h[l + 1], &h[l]) ? l + 1 : l;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

/* Contract: the merge of the pair (s[i], its next), or NULL. */
static const tok_pair *pair_of(const tok_tokenizer *t, const sym *s, int32_t i) {
    int32_t j = s[i].next;
    if (j < 0 || s[i].id < 0 || s[j].id < 0) return NULL;
    return tok_merge_get(&t->merges, s[i].id, s[j].id);
}

/* Contract: merges s[i] with its next symbol into id `to`. */
static void merge_at(sym *s, int32_t i, int32_t to) {
    int32_t j = s[i].next;
    s[i].id = to;
    s[i].len += s[j].len;
    s[i].next = s[j].next;
    if (s[j].next >= 0) s[s[j].next].prev = i;
    s[j].id = -2;
}

/* Contract: sets the cached pair rank of s[i] (scan mode). */
static void scan_update(const tok_tokenizer *t, sym *s, int32_t i) {
    const tok_pair *p = pair_of(t, s, i);
    s[i].rank = p ? p->rank : UINT32_MAX;
    s[i].to = p ? p->id : -1;
}

/* Contract: merges the n symbols by scanning for the best pair each time. */
static void merge_scan(const tok_tokenizer *t, sym *s, int32_t n) {
    for (int32_t i = 0; i < n; i++) scan_update(t, s, i);
    for (;;) {
        int32_t best = -1;
        uint32_t br = UINT32_MAX;
        for (int32_t i = 0; i >= 0; i = s[i].next)
            if (s[i].rank < br) {
                br = s[i].rank;
                best = i;
            }
        if (best < 0) return;
        merge_at(s, best, s[best].to);
        scan_update(t, s, best);
        if (s[best].prev >= 0) scan_update(t, s, s[best].prev);
    }
}

/* Contract: pushes the candidate pair starting at s[i], if it merges. */
static void push_cand(const tok_tokenizer *t, const sym *s, int32_t i, cand *h, size_t *nh) {
    const tok_pair *p = pair_of(t, s, i);
    if (!p) return;
    cand c = {p->rank, (uint32_t)i, (uint32_t)s[i].next, s[i].id, s[s[i].next].id};
    heap_push(h, nh, c);
}

/* Contract: merges the n symbols with a heap of candidates (h has room for
 * 2n entries: n initial pairs and at most 2 pushes per merge, n-1 merges,
 * minus the pops that precede them). */
static void merge_heap(const tok_tokenizer *t, sym *s, int32_t n, cand *h) {
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < n; i++) push_cand(t, s, i, h, &nh);
    while (nh) {
        cand c = heap_pop(h, &nh);
        int32_t l = (int32_t)c.left, r = (int32_t)c.right;
        if (s[l].id != c.lid || s[l].next != r || s[r].id != c.rid) continue; /* stale */
        const tok_pair *p = tok_merge_get(&t->merges, c.lid, c.rid);
        merge_at(s, l, p->id);
        if (s[l].prev >= 0) push_cand(t, s, s[l].prev, h, &nh);
        if (s[l].next >= 0) push_cand(t, s, l, h, &nh);
    }
}

/* Contract: appends the ids of an unknown span w[0..n): byte tokens when
 * byte fallback is on and they exist, else the unk id (once for a run when
 * fuse_unk; *last_unk tracks the run), else nothing (as HF does). */
static int emit_unknown(const tok_tokenizer *t, const uint8_t *w, size_t n, tok_ids *out,
                        int *last_unk) {
    if (t->byte_fallback) {
        int ok = 1;
        for (size_t i = 0; i < n; i++)
            if (t->byte_id[w[i]] < 0) ok = 0;
        if (ok) {
            for (size_t i = 0; i < n; i++)
                if (!tok_ids_push(out, t->byte_id[w[i]])) return 0;
            *last_unk = 0;
            return 1;
        }
    }
    if (t->unk_id < 0) return 1;
    if (t->fuse_unk && *last_unk) return 1;
    *last_unk = 1;
    return tok_ids_push(out, t->unk_id);
}

/* Contract: see tok_impl.h. */
trit_status tok_bpe_word(const tok_tokenizer *t, const uint8_t *w, size_t n,
                         tok_wordcache *cache, tok_ids *out, trit_error *err) {
    if (n == 0) return TRIT_OK;
    /* The cache first: frequent words are found there without touching the
     * (large, cache-missing) vocabulary map. */
    wc_slot *slot = NULL;
    uint64_t h = tok_hash(w, n);
    if (cache && n <= WC_KEY) {
        slot = &cache->slot[h & cache->mask];
        if (slot->h == h && slot->klen == n && tok_bytes_eq(slot->key, w, n)) {
            for (int i = 0; i < slot->nids; i++)
                if (!tok_ids_push(out, slot->ids[i])) goto nomem;
            return TRIT_OK;
        }
    }
    if (t->ignore_merges) {
        int32_t id = tok_vocab_get_h(t, w, n, h);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) goto nomem;
            if (slot) {
                slot->h = h;
                slot->klen = (uint8_t)n;
                slot->nids = 1;
                memcpy(slot->key, w, n);
                slot->ids[0] = id;
            }
            return TRIT_OK;
        }
    }
    if (n > UINT32_MAX / 2)
        return trit_fail(err, TRIT_ERR_ARG, "%s: text piece too long (%zu bytes)", t->name, n);

    /* Initial symbols. */
    sym stack_syms[STACK_SYMS];
    sym *s = stack_syms;
    cand *heap = NULL;
    if (n > STACK_SYMS) {
        s = malloc(n * sizeof *s);
        if (!s) goto nomem;
    }
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t len = t->byte_level ? 1 : tok_utf8_lead_len(w[i]);
        if (i + len > n) len = n - i;
        int32_t id = t->byte_level ? t->byte_id[w[i]] : tok_vocab_get(t, w + i, len);
        s[ns] = (sym){id, ns - 1, ns + 1, (uint32_t)i, (uint32_t)len, UINT32_MAX, -1};
        ns++;
        i += len;
    }
    s[ns - 1].next = -1;

    if (ns <= SCAN_MAX) {
        merge_scan(t, s, ns);
    } else {
        heap = malloc((size_t)ns * 2 * sizeof *heap);
        if (!heap) goto nomem_free;
        merge_heap(t, s, ns, heap);
    }

    size_t first = out->n;
    int last_unk = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        if (s[i].id >= 0) {
            if (!tok_ids_push(out, s[i].id)) goto nomem_free;
            last_unk = 0;
        } else if (!emit_unknown(t, w + s[i].start, s[i].len, out, &last_unk)) {
            goto nomem_free;
        }
    }
    if (slot && out->n - first <= WC_IDS) {
        slot->h = h;
        slot->klen = (uint8_t)n;
        slot->nids = (uint8_t)(out->n - first);
        memcpy(slot->key, w, n);
        memcpy(slot->ids, out->ids + first, (out->n - first) * sizeof(int32_t));
    }
    free(heap);
    if (s != stack_syms) free(s);
    return TRIT_OK;

nomem_free:
    free(heap);
    if (s != stack_syms) free(s);
nomem:
    return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory while encoding", t->name);
}
