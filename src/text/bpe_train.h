/*
 * bpe_train.h - training a byte-level BPE tokenizer (GPT-2 / Llama-3 style)
 * that Hugging Face `tokenizers` loads and encodes identically.
 *
 * The algorithm is the one of Hugging Face's BpeTrainer, so that the same
 * text and settings give the same vocabulary and merges:
 *   1. each input is cut into lines (each keeps its '\n'), each line into
 *      pieces by the pre-tokenizer regex (Split, Isolated); a piece is a
 *      word, and equal words are counted;
 *   2. ids: the special tokens first (in the order given), then the 256 byte
 *      tokens ordered by the code point GPT-2's byte-to-unicode map gives
 *      them ("!" .. "~", "¡" .. "¬", "®" .. "ÿ", then "Ā" (byte 0) ..);
 *   3. repeatedly the most frequent adjacent pair of the words is merged
 *      into a new token; ties go to the pair with the smaller (left id,
 *      right id). Pair counts are updated incrementally from the words that
 *      held the pair (pair -> words index, max-heap with lazy re-insertion
 *      of stale counts), with the same bookkeeping as Hugging Face's so that
 *      its rare corner cases (a merge that re-creates an existing token)
 *      also come out the same;
 *   4. training stops at vocab_size ids (specials included), when no pair is
 *      left, or when the best pair occurs fewer than min_frequency times.
 * Invalid UTF-8 in the input is read as U+FFFD (Hugging Face refuses it).
 *
 * The result is written as the text of a tokenizer.json (model BPE with
 * vocab + merges, added_tokens for the specials, pre-tokenizer
 * Sequence[Split(regex, Isolated), ByteLevel(no prefix space, no regex)],
 * ByteLevel decoder and post-processor) and of a tokenizer_config.json.
 *
 * Uses libc only; the regex engine comes in through tok_regex_api.
 */
#ifndef TRIT_BPE_TRAIN_H
#define TRIT_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* Progress report, given to the callback during tok_trainer_train. */
typedef struct {
    size_t merges_done;   /* merges made so far                         */
    size_t merges_target; /* merges needed to reach vocab_size          */
    int32_t vocab;        /* ids so far (specials + bytes + merged)     */
    int done;             /* 1 on the last report                       */
} tok_train_progress;

typedef struct {
    int32_t vocab_size;        /* total ids wanted, specials and bytes included */
    uint64_t min_frequency;    /* pairs seen fewer times are never merged */
    const char *const *special; /* special tokens (ids 0, 1, ...), UTF-8  */
    size_t n_special;
    const char *pattern;       /* pre-tokenizer regex (TOK_TRAIN_PATTERN_*) */
    const tok_regex_api *regex; /* engine for `pattern` (required)         */
    /* Called about every `progress_every` merges and once at the end;
     * NULL for none. */
    void (*progress)(void *user, const tok_train_progress *p);
    void *progress_user;
    size_t progress_every;     /* 0: 1000 */
} tok_train_params;

/* The two pre-tokenizer patterns offered by `trit tokenizer train`. */
const char *tok_train_pattern(const char *name); /* "gpt2" / "llama3", else NULL */

tok_train_params tok_train_default_params(void);

typedef struct tok_trainer tok_trainer;

/* A trainer with no words yet; the params (and the strings they point to)
 * are copied. Fails on a bad parameter or a pattern that does not compile. */
trit_status tok_trainer_new(const tok_train_params *p, tok_trainer **out, trit_error *err);
void tok_trainer_free(tok_trainer *tr);

/* Counts the words of text[0..len) (one file: cut into lines, then by the
 * regex). May be called once per input file, before tok_trainer_train. */
trit_status tok_trainer_feed(tok_trainer *tr, const char *text, size_t len, trit_error *err);

/* Number of distinct words counted so far, and their total count. */
size_t tok_trainer_n_words(const tok_trainer *tr, uint64_t *total);

/* Learns the merges. Call once, after feeding. */
trit_status tok_trainer_train(tok_trainer *tr, trit_error *err);

/* After training: ids in the vocabulary and merges made. */
int32_t tok_trainer_vocab_size(const tok_trainer *tr);
size_t tok_trainer_n_merges(const tok_trainer *tr);

/* After training: appends the text of tokenizer.json / tokenizer_config.json
 * to out. */
trit_status tok_trainer_json(const tok_trainer *tr, tok_str *out, trit_error *err);
trit_status tok_trainer_config_json(const tok_trainer *tr, tok_str *out, trit_error *err);

#endif /* TRIT_BPE_TRAIN_H */
