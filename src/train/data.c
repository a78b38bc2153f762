/*
 * data.c - token cache, train/validation split and batch sampling for
 * `trit train` (format and rules in data.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/core.h"
#include "io/atomic.h"
#include "train/data.h"

#define TD_CHUNK ((size_t)1 << 20)  /* bytes of text per encoding task         */
#define TD_WAVE_PER_THREAD 4        /* chunks per thread between progress calls */

/* ======================================================================== */
/* Hashing                                                                   */
/* ======================================================================== */

/* FNV-1a 64 of n bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Adds a string (with its terminating NUL, so that "ab","c" != "a","bc"). */
static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s, strlen(s) + 1); }

/* Adds the size and modification time of path (a `what` file, for the
 * message) to h; 0 with err if stat fails. */
static uint64_t fnv_stat(uint64_t h, const char *path, const char *what, trit_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        trit_fail(err, TRIT_ERR_IO, "cannot read %s %s: %s", what, path, strerror(errno));
        return 0;
    }
    int64_t v[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
    return fnv(h, v, sizeof v);
}

/* See data.h. */
uint64_t td_checksum(const uint32_t *tokens, uint64_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (uint64_t i = 0; i < n; i++) h = (h ^ tokens[i]) * 0xff51afd7ed558ccdull + 0x632be59bd9b4e019ull;
    return h ^ (h >> 29);
}

/* See data.h. For a tokenizer folder the files tok_load may read count. */
uint64_t td_source_key(const td_source *src, trit_error *err) {
    static const char *const tok_files[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                                            "vocab.json", "encoder.json", "merges.txt", "vocab.bpe"};
    uint64_t h = fnv_str(0xcbf29ce484222325ull, "trit token cache v1");
    h = fnv_str(h, src->tokenizer_path);
    if (!(h = fnv_stat(h, src->tokenizer_path, "tokenizer", err))) return 0;
    struct stat st;
    if (stat(src->tokenizer_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        for (size_t i = 0; i < sizeof tok_files / sizeof tok_files[0]; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", src->tokenizer_path, tok_files[i]);
            if (stat(p, &st) != 0) continue;
            h = fnv_str(h, tok_files[i]);
            if (!(h = fnv_stat(h, p, "tokenizer file", err))) return 0;
        }
    }
    for (size_t i = 0; i < src->n_files; i++) {
        h = fnv_str(h, src->files[i]);
        if (!(h = fnv_stat(h, src->files[i], "data file", err))) return 0;
    }
    return h ? h : 1;
}

/* ======================================================================== */
/* Little-endian fields                                                      */
/* ======================================================================== */

/* Stores v at p, little-endian, in `bytes` bytes. */
static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Reads a little-endian value of `bytes` bytes at p. */
static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Converts n tokens between host order and little-endian (in place). */
static void tokens_le(uint32_t *t, uint64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (uint64_t i = 0; i < n; i++) t[i] = __builtin_bswap32(t[i]);
#else
    (void)t;
    (void)n;
#endif
}

/* ======================================================================== */
/* Reading the cache                                                         */
/* ======================================================================== */

/* Reads exactly n bytes; 1 on success. */
static int read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

/* Tries to load the cache into out; 1 on success, 0 with out->note saying
 * why it cannot be used (out is then left empty). */
static int cache_read(const td_source *src, uint64_t key, td_corpus *out) {
    FILE *f = fopen(src->cache_path, "rb");
    if (!f) {
        snprintf(out->note, sizeof out->note, "no token cache yet");
        return 0;
    }
    unsigned char h[TD_CACHE_HEADER];
    const char *why = NULL;
    uint64_t n = 0, nf = 0;
    if (!read_exact(f, h, sizeof h) || memcmp(h, TD_CACHE_MAGIC, 8) != 0) why = "not a token cache";
    else if (get_le(h + 8, 4) != TD_CACHE_VERSION) why = "written by another version";
    else if (get_le(h + 12, 4) != (uint64_t)tok_n_vocab(src->tok)) why = "made with another tokenizer";
    else if (get_le(h + 24, 8) != key) why = "the data files or the tokenizer changed";
    else if ((nf = get_le(h + 40, 4)) != src->n_files) why = "made from other files";
    n = get_le(h + 16, 8);
    struct stat st;
    if (!why && (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size != TD_CACHE_HEADER + 8 * nf + 4 * n ||
                 n > ((uint64_t)1 << 40)))
        why = "truncated or corrupt";
    if (!why) {
        out->file_tokens = calloc(nf ? nf : 1, sizeof *out->file_tokens);
        out->tokens = malloc(n ? n * sizeof(uint32_t) : 1);
        unsigned char *ft = malloc(nf * 8 + 1);
        uint64_t sum = 0;
        if (!out->file_tokens || !out->tokens || !ft) why = "out of memory";
        else if (!read_exact(f, ft, nf * 8) || !read_exact(f, out->tokens, n * sizeof(uint32_t))) why = "unreadable";
        for (uint64_t i = 0; !why && i < nf; i++) sum += out->file_tokens[i] = get_le(ft + 8 * i, 8);
        free(ft);
        if (!why && sum != n) why = "truncated or corrupt";
        if (!why) {
            tokens_le(out->tokens, n);
            if (td_checksum(out->tokens, n) != get_le(h + 32, 8)) why = "checksum mismatch (corrupt)";
        }
    }
    fclose(f);
    if (why) {
        free(out->tokens);
        free(out->file_tokens);
        out->tokens = NULL;
        out->file_tokens = NULL;
        snprintf(out->note, sizeof out->note, "token cache %s", why);
        return 0;
    }
    out->n_tokens = n;
    out->n_files = (size_t)nf;
    out->vocab = (uint32_t)get_le(h + 12, 4);
    out->checksum = get_le(h + 32, 8);
    out->from_cache = 1;
    out->note[0] = 0;
    return 1;
}

/* ======================================================================== */
/* Tokenizing                                                                */
/* ======================================================================== */

/* Reads a whole regular file into a malloc'ed buffer. */
static trit_status read_text(const char *path, char **buf, size_t *len, trit_error *err) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return trit_fail(err, TRIT_ERR_IO, "cannot read data file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return trit_fail(err, TRIT_ERR_IO, "data file %s is not a regular file", path);
    }
    if (st.st_size == 0) {
        fclose(f);
        return trit_fail(err, TRIT_ERR_ARG, "data file %s is empty", path);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        fclose(f);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory reading %s (%zu bytes)", path, n);
    }
    size_t got = fread(b, 1, n, f);
    int e = errno;
    fclose(f);
    if (got != n) {
        free(b);
        return trit_fail(err, TRIT_ERR_IO, "cannot read data file %s: %s", path,
                         got < n ? (e ? strerror(e) : "short read") : "file changed while reading");
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return TRIT_OK;
}

/* 1 for the ASCII whitespace bytes pre-tokenizers group together. */
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* End of the chunk starting at `from`: the first line start at or after
 * from + TD_CHUNK whose first byte is not whitespace (so no whitespace run
 * is cut), or len. */
static size_t chunk_end(const char *text, size_t len, size_t from) {
    if (len - from <= TD_CHUNK) return len;
    for (size_t p = from + TD_CHUNK; p < len; p++)
        if (text[p - 1] == '\n' && !is_space(text[p])) return p;
    return len;
}

typedef struct {
    const tok_tokenizer *tok;
    const char *text;
    const size_t *bounds;  /* chunk c spans [bounds[c], bounds[c+1])    */
    size_t first, count;   /* chunks of this wave                      */
    tok_ids *outs;         /* count                                    */
    trit_status *sts;      /* count                                    */
    trit_error *errs;      /* count                                    */
} enc_job;

/* Pool task: encodes the wave's chunks ith, ith+nth, ... */
static void enc_task(void *arg, int ith, int nth) {
    enc_job *j = arg;
    for (size_t k = (size_t)ith; k < j->count; k += (size_t)nth) {
        size_t c = j->first + k;
        j->sts[k] = tok_encode(j->tok, j->text + j->bounds[c], j->bounds[c + 1] - j->bounds[c], 0, &j->outs[k],
                               &j->errs[k]);
    }
}

/* A growable token array. */
typedef struct {
    uint32_t *t;
    uint64_t n, cap;
} tokvec;

/* Appends n ids; 0 on allocation failure. */
static int tv_push(tokvec *v, const int32_t *ids, uint64_t n) {
    if (v->n + n > v->cap) {
        uint64_t cap = v->cap ? v->cap : 4096;
        while (cap < v->n + n) cap *= 2;
        uint32_t *p = realloc(v->t, cap * sizeof *p);
        if (!p) return 0;
        v->t = p;
        v->cap = cap;
    }
    for (uint64_t i = 0; i < n; i++) v->t[v->n + i] = (uint32_t)ids[i];
    v->n += n;
    return 1;
}

/* Encodes one file's text (already read) onto v, chunk waves in parallel.
 * done/total count bytes for the progress callback. */
static trit_status encode_text(const td_source *src, trit_pool *pool, const char *path, const char *text, size_t len,
                               tokvec *v, uint64_t *done, uint64_t total, trit_error *err) {
    size_t nb = 1, cap = 16;
    size_t *bounds = malloc(cap * sizeof *bounds);
    if (!bounds) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    bounds[0] = 0;
    while (bounds[nb - 1] < len) {
        if (nb == cap) {
            size_t *p = realloc(bounds, 2 * cap * sizeof *p);
            if (!p) {
                free(bounds);
                return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
            }
            bounds = p;
            cap *= 2;
        }
        bounds[nb] = chunk_end(text, len, bounds[nb - 1]);
        nb++;
    }
    size_t n_chunks = nb - 1, wave = (size_t)trit_pool_size(pool) * TD_WAVE_PER_THREAD;
    tok_ids *outs = calloc(wave, sizeof *outs);
    trit_status *sts = calloc(wave, sizeof *sts);
    trit_error *errs = calloc(wave, sizeof *errs);
    trit_status st = (outs && sts && errs) ? TRIT_OK : trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    for (size_t first = 0; st == TRIT_OK && first < n_chunks; first += wave) {
        if (src->cancel && src->cancel(src->user)) {
            st = trit_fail(err, TRIT_ERR_ARG, "interrupted while tokenizing %s", path);
            break;
        }
        enc_job j = {src->tok, text, bounds, first, n_chunks - first < wave ? n_chunks - first : wave, outs, sts, errs};
        trit_pool_run(pool, enc_task, &j);
        for (size_t k = 0; k < j.count; k++) {
            if (st == TRIT_OK && sts[k] != TRIT_OK)
                st = trit_fail(err, sts[k], "tokenizing %s: %s", path, errs[k].msg);
            if (st == TRIT_OK && !tv_push(v, outs[k].ids, outs[k].n))
                st = trit_fail(err, TRIT_ERR_NOMEM, "out of memory holding the tokens of %s", path);
            tok_ids_free(&outs[k]);
            *done += bounds[first + k + 1] - bounds[first + k];
        }
        if (src->progress) src->progress(src->user, *done, total, v->n);
    }
    free(outs);
    free(sts);
    free(errs);
    free(bounds);
    return st;
}

/* Tokenizes every file into out (BOS / EOS per document). */
static trit_status tokenize_all(const td_source *src, td_corpus *out, trit_error *err) {
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < src->n_files; i++) {
        struct stat st;
        if (stat(src->files[i], &st) == 0) total += (uint64_t)st.st_size;
    }
    out->file_tokens = calloc(src->n_files ? src->n_files : 1, sizeof *out->file_tokens);
    trit_pool *pool = trit_pool_new(src->n_threads > 0 ? src->n_threads : 1);
    if (!out->file_tokens || !pool) {
        trit_pool_free(pool);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    }
    int32_t bos = tok_add_bos_default(src->tok) ? tok_bos_id(src->tok) : -1, eos = tok_eos_id(src->tok);
    tokvec v = {0};
    trit_status st = TRIT_OK;
    for (size_t i = 0; st == TRIT_OK && i < src->n_files; i++) {
        char *text;
        size_t len;
        uint64_t start = v.n;
        st = read_text(src->files[i], &text, &len, err);
        if (st != TRIT_OK) break;
        if (bos >= 0 && !tv_push(&v, &bos, 1)) st = trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
        if (st == TRIT_OK) st = encode_text(src, pool, src->files[i], text, len, &v, &done, total, err);
        free(text);
        if (st == TRIT_OK && v.n == start + (bos >= 0))
            st = trit_fail(err, TRIT_ERR_ARG, "data file %s gives no tokens", src->files[i]);
        if (st == TRIT_OK && eos >= 0 && !tv_push(&v, &eos, 1)) st = trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
        out->file_tokens[i] = v.n - start;
    }
    trit_pool_free(pool);
    if (st != TRIT_OK) {
        free(v.t);
        return st;
    }
    out->tokens = v.t ? v.t : malloc(1);
    out->n_tokens = v.n;
    out->n_files = src->n_files;
    out->vocab = (uint32_t)tok_n_vocab(src->tok);
    out->checksum = td_checksum(out->tokens, out->n_tokens);
    return TRIT_OK;
}

/* Writes out to src->cache_path atomically. */
static trit_status cache_write(const td_source *src, uint64_t key, td_corpus *c, trit_error *err) {
    size_t hl = TD_CACHE_HEADER + 8 * c->n_files;
    unsigned char *h = calloc(hl, 1);
    if (!h) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    memcpy(h, TD_CACHE_MAGIC, 8);
    put_le(h + 8, TD_CACHE_VERSION, 4);
    put_le(h + 12, c->vocab, 4);
    put_le(h + 16, c->n_tokens, 8);
    put_le(h + 24, key, 8);
    put_le(h + 32, c->checksum, 8);
    put_le(h + 40, c->n_files, 4);
    for (size_t i = 0; i < c->n_files; i++) put_le(h + TD_CACHE_HEADER + 8 * i, c->file_tokens[i], 8);
    tokens_le(c->tokens, c->n_tokens);
    const void *parts[2] = {h, c->tokens};
    size_t lens[2] = {hl, (size_t)c->n_tokens * sizeof(uint32_t)};
    trit_error e2;
    trit_status st = trit_write_atomic(src->cache_path, parts, lens, 2, 0, &e2);
    tokens_le(c->tokens, c->n_tokens);
    free(h);
    if (st != TRIT_OK) return trit_fail(err, st, "cannot write the token cache: %s", e2.msg);
    return TRIT_OK;
}

/* See data.h. */
trit_status td_corpus_load(const td_source *src, td_corpus *out, trit_error *err) {
    memset(out, 0, sizeof *out);
    if (src->n_files == 0) return trit_fail(err, TRIT_ERR_ARG, "no data files given");
    uint64_t key = td_source_key(src, err);
    if (!key) return err ? err->code : TRIT_ERR_IO;
    if (!cache_read(src, key, out)) {
        char note[sizeof out->note];
        memcpy(note, out->note, sizeof note);
        trit_status st = tokenize_all(src, out, err);
        if (st == TRIT_OK) st = cache_write(src, key, out, err);
        if (st != TRIT_OK) {
            td_corpus_free(out);
            return st;
        }
        memcpy(out->note, note, sizeof note);
    }
    for (uint64_t i = 0; i < out->n_tokens; i++)
        if (out->tokens[i] > out->max_id) out->max_id = out->tokens[i];
    return TRIT_OK;
}

/* See data.h. */
void td_corpus_free(td_corpus *c) {
    if (!c) return;
    free(c->tokens);
    free(c->file_tokens);
    memset(c, 0, sizeof *c);
}

/* ======================================================================== */
/* Split                                                                     */
/* ======================================================================== */

/* See data.h. */
trit_status td_split_make(const td_corpus *c, double val_frac, td_split *out, trit_error *err) {
    memset(out, 0, sizeof *out);
    if (!(val_frac >= 0.0 && val_frac < 1.0))
        return trit_fail(err, TRIT_ERR_ARG, "the validation fraction %g is outside [0, 1)", val_frac);
    uint64_t nv = 0;
    for (size_t i = 0; i < c->n_files; i++) nv += (uint64_t)((double)c->file_tokens[i] * val_frac);
    out->n_val = nv;
    out->n_train = c->n_tokens - nv;
    out->train = malloc((out->n_train ? out->n_train : 1) * sizeof(int32_t));
    out->val = malloc((nv ? nv : 1) * sizeof(int32_t));
    if (!out->train || !out->val) {
        td_split_free(out);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory splitting %llu tokens", (unsigned long long)c->n_tokens);
    }
    uint64_t pos = 0, it = 0, iv = 0;
    for (size_t i = 0; i < c->n_files; i++) {
        uint64_t n = c->file_tokens[i], v = (uint64_t)((double)n * val_frac);
        for (uint64_t k = 0; k < n - v; k++) out->train[it++] = (int32_t)c->tokens[pos + k];
        for (uint64_t k = n - v; k < n; k++) out->val[iv++] = (int32_t)c->tokens[pos + k];
        pos += n;
    }
    return TRIT_OK;
}

/* See data.h. */
void td_split_free(td_split *s) {
    if (!s) return;
    free(s->train);
    free(s->val);
    memset(s, 0, sizeof *s);
}

/* See data.h. */
trit_status td_split_check(const td_split *s, int64_t T, int need_val, trit_error *err) {
    if (s->n_train < (uint64_t)T + 1)
        return trit_fail(err, TRIT_ERR_ARG, "the training split has %llu tokens, fewer than ctx + 1 = %lld; add "
                         "data or lower --ctx", (unsigned long long)s->n_train, (long long)T + 1);
    if (need_val && s->n_val < (uint64_t)T + 1)
        return trit_fail(err, TRIT_ERR_ARG, "the validation split has %llu tokens, fewer than ctx + 1 = %lld; "
                         "raise --val-frac, add data, or turn evaluation off with --eval-every 0",
                         (unsigned long long)s->n_val, (long long)T + 1);
    return TRIT_OK;
}

/* ======================================================================== */
/* Batches                                                                   */
/* ======================================================================== */

/* See data.h. */
uint64_t td_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* See data.h. Rejection sampling: draws below the largest multiple of n. */
uint64_t td_rng_below(uint64_t *s, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, r;
    do r = td_rng_next(s);
    while (r >= limit);
    return r % n;
}

/* See data.h. */
void td_train_batch(const td_split *s, uint64_t *rng, int64_t B, int64_t T, int32_t *out) {
    uint64_t n_starts = s->n_train - (uint64_t)T;
    for (int64_t b = 0; b < B; b++) {
        uint64_t start = td_rng_below(rng, n_starts);
        memcpy(out + b * (T + 1), s->train + start, (size_t)(T + 1) * sizeof(int32_t));
    }
}

/* See data.h. Window k of K = n_batches * B starts at k * (n_val - T - 1) /
 * (K - 1), so the first starts at 0 and the last ends at the stream's end. */
void td_val_batch(const td_split *s, int64_t index, int64_t n_batches, int64_t B, int64_t T, int32_t *out) {
    uint64_t K = (uint64_t)(n_batches * B), span = s->n_val - (uint64_t)T - 1;
    for (int64_t b = 0; b < B; b++) {
        uint64_t k = (uint64_t)(index * B + b);
        uint64_t start = K > 1 ? (uint64_t)((double)k * (double)span / (double)(K - 1)) : 0;
        if (start > span) start = span;
        memcpy(out + b * (T + 1), s->val + start, (size_t)(T + 1) * sizeof(int32_t));
    }
}
