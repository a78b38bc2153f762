/*
 * data.h - training data for `trit train`: text files are tokenized once
 * into a binary token cache, split into a training and a validation stream,
 * and cut into batches of random windows drawn with a seeded RNG.
 *
 * Token cache (little-endian):
 *   offset  0  char[8]  magic "TRITTOKS"
 *           8  u32      format version (1)
 *          12  u32      tokenizer vocabulary size (tok_n_vocab)
 *          16  u64      number of tokens
 *          24  u64      source key: FNV-1a 64 of the tokenizer path and the
 *                       size + mtime of the tokenizer file(s), then of every
 *                       data file's path, size and mtime, in order
 *          32  u64      payload checksum (td_checksum of the token bytes)
 *          40  u32      number of data files
 *          44  u32      0
 *          48  u64[n]   tokens of each file
 *              u32[]    the tokens, file after file
 * A cache whose magic, version, vocabulary, source key, sizes or payload
 * checksum do not match is rebuilt.
 *
 * Each file is encoded as one document: BOS first when the tokenizer adds
 * it by default, EOS last when the tokenizer has one. Large files are cut at
 * line starts into chunks of about 1 MiB that are encoded in parallel.
 *
 * Split: the last val_frac of each file's tokens (rounded down) goes to the
 * validation stream, the rest to the training stream; each stream is the
 * concatenation of its parts in file order.
 *
 * Batches: a training batch is B windows of T+1 consecutive tokens whose
 * starts are drawn uniformly from the training stream with the splitmix64
 * generator whose 64-bit state the caller keeps (and checkpoints), so equal
 * states give equal batches. Validation batches are fixed: n_batches x B
 * windows spread evenly over the validation stream.
 */
#ifndef TRIT_TRAIN_DATA_H
#define TRIT_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "text/tokenizer.h"
#include "trit.h"

#define TD_CACHE_MAGIC "TRITTOKS"
#define TD_CACHE_VERSION 1u
#define TD_CACHE_HEADER 48

/* ======================================================================== */
/* Corpus: the token cache                                                   */
/* ======================================================================== */

/* Progress of tokenization: bytes of text encoded so far out of the total,
 * and tokens produced. */
typedef void (*td_progress_fn)(void *user, uint64_t bytes_done, uint64_t bytes_total, uint64_t tokens);

typedef struct {
    const char *const *files;     /* text files, in order                       */
    size_t n_files;
    const char *tokenizer_path;   /* as given to tok_load (part of the source key) */
    const tok_tokenizer *tok;
    const char *cache_path;       /* where the cache lives (read, else written) */
    int n_threads;                /* tokenization threads (>= 1)                */
    td_progress_fn progress;      /* optional, called between chunk waves       */
    /* optional: polled between chunk waves; nonzero stops tokenization with
     * TRIT_ERR_ARG "interrupted" */
    int (*cancel)(void *user);
    void *user;
} td_source;

typedef struct {
    uint32_t *tokens;             /* n_tokens, file after file                  */
    uint64_t n_tokens;
    uint64_t *file_tokens;        /* n_files: tokens of each file               */
    size_t n_files;
    uint32_t vocab;               /* tokenizer vocabulary when cached           */
    uint32_t max_id;              /* largest id present                         */
    uint64_t checksum;            /* payload checksum                           */
    int from_cache;               /* 1: read from the cache, 0: tokenized now   */
    char note[160];               /* why the cache was (re)built, "" if read    */
} td_corpus;

/* Reads the cache at src->cache_path if it matches the sources, else
 * tokenizes every file and writes the cache atomically. Errors name the
 * file: unreadable (with the system error), empty, no tokens, cache not
 * writable. */
trit_status td_corpus_load(const td_source *src, td_corpus *out, trit_error *err);
void td_corpus_free(td_corpus *c);

/* The source key described above (0 never occurs); 0 with err filled when a
 * file cannot be stat'ed. */
uint64_t td_source_key(const td_source *src, trit_error *err);

/* Checksum of n 32-bit tokens (a 64-bit multiplicative hash). */
uint64_t td_checksum(const uint32_t *tokens, uint64_t n);

/* ======================================================================== */
/* Split and batches                                                         */
/* ======================================================================== */

typedef struct {
    int32_t *train, *val;
    uint64_t n_train, n_val;
} td_split;

/* Splits corpus c (see the top of this file); val_frac in [0, 1). */
trit_status td_split_make(const td_corpus *c, double val_frac, td_split *out, trit_error *err);
void td_split_free(td_split *s);

/* The next 64 random bits of the splitmix64 state *s. */
uint64_t td_rng_next(uint64_t *s);

/* A uniform integer in [0, n) (n >= 1), without modulo bias. */
uint64_t td_rng_below(uint64_t *s, uint64_t n);

/* Fills out (B x (T+1) ids, row-major) with B random training windows,
 * advancing *rng. The training stream must hold at least T+1 tokens
 * (td_split_check). */
void td_train_batch(const td_split *s, uint64_t *rng, int64_t B, int64_t T, int32_t *out);

/* Fills out with validation batch `index` of n_batches (fixed windows). */
void td_val_batch(const td_split *s, int64_t index, int64_t n_batches, int64_t B, int64_t T, int32_t *out);

/* Checks that the streams can give windows of T+1 tokens (the validation
 * stream only when need_val); TRIT_ERR_ARG with advice otherwise. */
trit_status td_split_check(const td_split *s, int64_t T, int need_val, trit_error *err);

#endif /* TRIT_TRAIN_DATA_H */
