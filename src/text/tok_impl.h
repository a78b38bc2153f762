/*
 * tok_impl.h - the tokenizer's internal layout, shared by the files of
 * src/text/ that implement tokenizer.h (not part of any public API).
 *
 * A token has two byte strings in one pool:
 *   key  - the form the model merges and looks up: raw bytes for byte-level
 *          BPE (GPT-2 "Ġ" alphabet undone), the UTF-8 piece with "▁" for
 *          SentencePiece style;
 *   text - the bytes decoding prints: raw bytes, "▁" turned into a space,
 *          <0xNN> into the byte NN, a special token's own text.
 * Model tokens are found by key in `vocab` (open addressing); merges are a
 * second table from an (left id, right id) pair to (rank, merged id).
 */
#ifndef TRIT_TOK_IMPL_H
#define TRIT_TOK_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "text/tokenizer.h"

/* ======================================================================== */
/* Tokens and tables                                                         */
/* ======================================================================== */

enum {
    TT_NORMAL = 0,  /* ordinary model token                         */
    TT_SPECIAL = 1, /* special / control token (hidden by decoding)  */
    TT_ADDED = 2,   /* added token that is not special               */
    TT_BYTE = 3,    /* SentencePiece byte piece <0xNN>               */
    TT_UNK = 4,     /* the unknown token                             */
    TT_UNUSED = 5,  /* SentencePiece unused piece                    */
    TT_HOLE = 6     /* an id no file defines (decodes to nothing)    */
};

typedef struct {
    uint32_t key_off, key_len;
    uint32_t txt_off, txt_len;
    float score;
    uint8_t type;
} tok_entry;

typedef struct {
    uint8_t *p;
    size_t len, cap;
} tok_buf;

/* key -> id map over the entries: id + 1 (0 = empty) and the high half of
 * the key's hash, side by side so a probe touches one cache line. */
typedef struct {
    uint32_t id1, hash;
} tok_strslot;

typedef struct {
    tok_strslot *slot;
    size_t mask;
    size_t n;
} tok_strmap;

typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX = empty */
    uint32_t rank;
    int32_t id;
} tok_pair;

typedef struct {
    tok_pair *slot;
    size_t mask, n;
} tok_pairmap;

/* Added tokens (from added_tokens / specials of a family / SentencePiece
 * user-defined and control pieces), matched in the input text. */
typedef struct {
    int32_t id;
    uint32_t off, len; /* text in the pool */
    uint8_t special, lstrip, rstrip;
} tok_added;

/* ======================================================================== */
/* Normalizers and pre-tokenizers                                            */
/* ======================================================================== */

enum { NS_PREPEND, NS_REPLACE, NS_SQUEEZE /* trim and collapse runs of ' ' */ };
typedef struct {
    int kind;
    char *a, *b; /* prepend: a; replace: a -> b */
    size_t alen, blen;
} tok_norm;

enum {
    PS_REGEX,     /* Split(Regex) with a behaviour                      */
    PS_BYTELEVEL, /* optional prefix space, optional GPT-2 regex split   */
    PS_METASPACE, /* ' ' -> replacement, prepend scheme, optional split */
    PS_SPM_WORDS  /* split before each run of "▁" (safe for the vocab)  */
};
enum { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct {
    int kind;
    void *re;           /* PS_REGEX, PS_BYTELEVEL with use_regex         */
    int behavior;       /* PS_REGEX                                      */
    int add_prefix_space; /* PS_BYTELEVEL                                */
    int prepend;        /* PS_METASPACE scheme                           */
    int split;          /* PS_METASPACE                                  */
    char repl[8];       /* PS_METASPACE replacement (UTF-8)              */
    size_t repl_len;
} tok_pretok;

#define TOK_MAX_NORM 8
#define TOK_MAX_PRETOK 8

/* ======================================================================== */
/* The tokenizer                                                             */
/* ======================================================================== */

struct tok_tokenizer {
    char name[512];        /* file named in error messages                   */
    const char *kind;      /* "bpe" or "spm"                                 */
    int byte_level;        /* initial symbols are bytes (else UTF-8 chars)   */
    int ignore_merges;     /* a whole word found in the vocab is one token   */
    int byte_fallback;     /* unknown chars become <0xNN> tokens             */
    int fuse_unk;          /* consecutive unknowns give one unk              */
    int32_t unk_id;        /* -1: none                                       */
    int32_t byte_id[256];  /* byte-level: token of each byte; else <0xNN>    */

    tok_entry *ent;
    int32_t n_vocab, cap_vocab;
    tok_buf pool;
    tok_strmap vocab;      /* model tokens by key                            */
    tok_pairmap merges;

    tok_added *added;      /* by first byte, then longest first             */
    size_t n_added;
    uint32_t added_start[257]; /* added[added_start[b]..added_start[b+1]) start with b */
    int has_nonspecial_added;

    tok_norm norm[TOK_MAX_NORM];
    int n_norm;
    tok_pretok pre[TOK_MAX_PRETOK];
    int n_pre;
    const tok_regex_api *rx;

    int strip_lead_space;  /* decoding drops one leading space               */
    int spm_unk_surface;   /* decode unk as " \xE2\x81\x87 " (SentencePiece)  */
    int32_t bos_id, eos_id;
    int add_bos;
};

/* ======================================================================== */
/* vocab.c: pool, maps, byte-level alphabet                                   */
/* ======================================================================== */

/* Appends n bytes to the pool; returns the offset or UINT32_MAX on failure. */
uint32_t tok_pool_add(tok_buf *b, const void *s, size_t n);

/* Allocates a tokenizer with n_vocab holes; NULL on no memory. */
tok_tokenizer *tok_alloc(const char *name, int32_t n_vocab);
/* Grows the id space to n (new ids are holes); 0 on no memory. */
int tok_grow(tok_tokenizer *t, int32_t n);
/* Sets the strings of token id (key and decoded text); 0 on no memory. */
int tok_set(tok_tokenizer *t, int32_t id, const void *key, size_t klen,
            const void *txt, size_t tlen, int type);

static inline const uint8_t *tok_key(const tok_tokenizer *t, int32_t id, size_t *len) {
    *len = t->ent[id].key_len;
    return t->pool.p + t->ent[id].key_off;
}

/* Builds the key map over every token of type NORMAL / BYTE / UNK / UNUSED
 * (and SPECIAL / ADDED when their key is set). Returns 0 and fills err when
 * two of them have the same key, or on no memory. */
trit_status tok_build_vocab_map(tok_tokenizer *t, trit_error *err);
/* Id of the model token with key s[0..n), or -1. */
int32_t tok_vocab_get(const tok_tokenizer *t, const void *s, size_t n);
/* The same with h = tok_hash(s, n) given. */
int32_t tok_vocab_get_h(const tok_tokenizer *t, const void *s, size_t n, uint64_t h);

/* Merge table. tok_merge_add keeps the first (lowest) rank of a pair. */
int tok_merges_init(tok_pairmap *m, size_t expected);
int tok_merge_add(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
void tok_merges_free(tok_pairmap *m);
static inline const tok_pair *tok_merge_get(const tok_pairmap *m, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
    for (;;) {
        const tok_pair *p = &m->slot[i];
        if (p->key == key) return p;
        if (p->key == UINT64_MAX) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* GPT-2 byte-level alphabet: code point of each byte, and the inverse.
 * Converts a token string written in that alphabet to raw bytes in out
 * (capacity >= len); returns the byte count or -1 when a character is not
 * in the alphabet. */
uint32_t tok_byte_to_cp(uint8_t b);
long tok_bytelevel_decode(const char *s, size_t len, uint8_t *out);

/* 1 when a[0..n) == b[0..n): an inline compare for the short keys of the
 * hot paths (a libc memcmp call costs more than the compare itself). */
static inline int tok_bytes_eq(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    while (n >= 8) {
        uint64_t u, v;
        memcpy(&u, x, 8);
        memcpy(&v, y, 8);
        if (u != v) return 0;
        x += 8;
        y += 8;
        n -= 8;
    }
    while (n--)
        if (*x++ != *y++) return 0;
    return 1;
}

/* Hash of a byte string (used by the maps and the word cache). */
uint64_t tok_hash(const void *s, size_t n);

/* ======================================================================== */
/* UTF-8                                                                     */
/* ======================================================================== */

/* Length of the well-formed UTF-8 sequence at s[0..n) (n >= 1), or 0 when
 * s[0] does not start one; *maximal gets the length of the maximal subpart
 * to replace by U+FFFD (>= 1) when 0 is returned. */
size_t tok_utf8_len(const uint8_t *s, size_t n, size_t *maximal);

/* Length of a UTF-8 sequence from its lead byte (1 for invalid leads). */
static inline size_t tok_utf8_lead_len(uint8_t c) {
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
}

/* ======================================================================== */
/* bpe.c: merging one word                                                   */
/* ======================================================================== */

typedef struct tok_wordcache tok_wordcache;
tok_wordcache *tok_wordcache_new(size_t text_len); /* sized for a text */
void tok_wordcache_free(tok_wordcache *c);

/* Appends the ids of word w[0..n) (after pre-tokenization) to out.
 * `cache` may be NULL. */
trit_status tok_bpe_word(const tok_tokenizer *t, const uint8_t *w, size_t n,
                         tok_wordcache *cache, tok_ids *out, trit_error *err);

/* Appends one id; 0 on no memory. */
int tok_ids_push(tok_ids *v, int32_t id);

/* ======================================================================== */
/* Loaders                                                                   */
/* ======================================================================== */

trit_status tok_load_hf_json(const char *name, const char *data, size_t len,
                             const tok_load_params *p, tok_tokenizer **out,
                             trit_error *err);
/* cfg: tokenizer_config.json text (its added_tokens_decoder names the
 * special tokens) or NULL. */
trit_status tok_load_tiktoken(const char *name, const char *data, size_t len,
                              const char *cfg, size_t cfg_len,
                              const tok_load_params *p, tok_tokenizer **out,
                              trit_error *err);
trit_status tok_load_gpt2(const char *name, const char *vocab, size_t vlen,
                          const char *merges, size_t mlen,
                          const tok_load_params *p, tok_tokenizer **out,
                          trit_error *err);
trit_status tok_load_spm(const char *name, const uint8_t *data, size_t len,
                         tok_tokenizer **out, trit_error *err);

/* Common steps of the loaders (tokenizer.c). */
/* Registers an added token (its id must be < n_vocab). */
trit_status tok_add_added(tok_tokenizer *t, int32_t id, const char *s, size_t n,
                          int special, int lstrip, int rstrip, trit_error *err);
/* Sorts the added tokens and builds the first-byte index; call once all
 * are registered. */
void tok_finish_added(tok_tokenizer *t);
/* Adds a regex pre-tokenizer step; fails when no engine was given. */
trit_status tok_add_regex_step(tok_tokenizer *t, int kind, const char *pat,
                               size_t plen, int behavior, const tok_load_params *p,
                               trit_error *err);
/* Sets bos_id / eos_id, when still unset, to the usual names
 * (<s>, <|begin_of_text|>, ... / </s>, <|end_of_text|>, <|endoftext|>). */
void tok_guess_bos_eos(tok_tokenizer *t);
/* Registers the SentencePiece-style word split when no mergeable token
 * has a "▁" after another character (then merges never cross it). */
void tok_maybe_spm_words(tok_tokenizer *t);

#define TOK_GPT2_PATTERN \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define TOK_LLAMA3_PATTERN \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#endif /* TRIT_TOK_IMPL_H */
