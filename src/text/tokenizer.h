/*
 * tokenizer.h - internal API of the tokenizers: text <-> token ids, exactly
 * as Hugging Face `tokenizers` / SentencePiece / tiktoken produce them.
 *
 * Supported files (tok_load detects which from the path):
 *   - Hugging Face tokenizer.json, model "BPE": byte-level (GPT-2, Llama-3,
 *     Falcon3: pre-tokenizer Split(regex) / ByteLevel) or SentencePiece style
 *     (Llama-2 converted: normalizer Prepend+Replace or pre-tokenizer
 *     Metaspace, byte_fallback);
 *   - tiktoken tokenizer.model (base64 token, space, rank per line; special
 *     tokens from the model family, Llama-3 here);
 *   - SentencePiece tokenizer.model (protobuf, model type BPE, Llama-2);
 *   - GPT-2 encoder.json / vocab.json + vocab.bpe / merges.txt.
 * A directory is searched for tokenizer.json, then tokenizer.model, then the
 * GPT-2 pair; tokenizer_config.json beside the file sets BOS / EOS.
 *
 * Regex pre-tokenizers need a regex engine, passed in at load time as a
 * table of functions (tok_regex_api) so that the core library depends on
 * libc only; tok_pcre2_api() (src/text/pretok_pcre2.c, in libtrit_tools.a)
 * is the PCRE2 implementation used by the tools and tests.
 *
 * A loaded tokenizer is immutable: tok_encode / tok_decode may be called
 * from several threads at once. A tok_decoder is one stream's state, a
 * tok_encoder one thread's.
 */
#ifndef TRIT_TOKENIZER_H
#define TRIT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "trit.h"

/* ======================================================================== */
/* Regex engine hook                                                         */
/* ======================================================================== */

/* Functions of a regex engine. Patterns use the syntax of Hugging Face
 * pre-tokenizers (\p{L}, \p{N}, (?i:...), lookahead); subjects are valid
 * UTF-8 (the tokenizer sanitizes input first) and need not be NUL-ended. */
typedef struct tok_regex_api {
    /* Compiles a pattern of plen bytes; NULL with a message in errbuf on
     * failure. */
    void *(*compile)(const char *pattern, size_t plen, char *errbuf, size_t errlen);
    void (*free)(void *re);
    /* Per-thread matching state for one compiled regex; NULL on no memory. */
    void *(*scratch_new)(void *re);
    void (*scratch_free)(void *scratch);
    /* Finds the leftmost match in s[0..n) that starts at or after `from`.
     * Returns 1 and sets [*ms, *me), 0 when there is none, -1 on an engine
     * error (e.g. a match limit). */
    int (*find)(void *re, void *scratch, const char *s, size_t n, size_t from,
                size_t *ms, size_t *me);
} tok_regex_api;

/* The PCRE2 engine (UTF + UCP, JIT when available). Defined in
 * pretok_pcre2.c, which only the tools and tests link. */
const tok_regex_api *tok_pcre2_api(void);

/* ======================================================================== */
/* Loading                                                                   */
/* ======================================================================== */

typedef struct tok_tokenizer tok_tokenizer;

typedef struct {
    const tok_regex_api *regex; /* NULL: tokenizers with a regex fail to load */
} tok_load_params;

tok_load_params tok_default_load_params(void);

/* Loads the tokenizer at `path` (a directory or one of the files named at
 * the top of this header). On failure *out is NULL and err names the file
 * and the problem. */
trit_status tok_load(const char *path, const tok_load_params *p,
                     tok_tokenizer **out, trit_error *err);

/* Loads from memory: `kind` is "tokenizer.json", "tiktoken", "spm" or
 * "gpt2" (then data2/len2 hold the merges file and data/len the vocab
 * JSON); `config` is the text of tokenizer_config.json or NULL. `name` is
 * used in error messages. */
trit_status tok_load_mem(const char *kind, const char *name,
                         const char *data, size_t len,
                         const char *data2, size_t len2,
                         const char *config, size_t config_len,
                         const tok_load_params *p, tok_tokenizer **out,
                         trit_error *err);

void tok_free(tok_tokenizer *t);

/* ======================================================================== */
/* Information                                                               */
/* ======================================================================== */

/* Number of ids (highest id + 1, added tokens included). */
int32_t tok_n_vocab(const tok_tokenizer *t);
/* BOS / EOS ids, -1 when the tokenizer has none. */
int32_t tok_bos_id(const tok_tokenizer *t);
int32_t tok_eos_id(const tok_tokenizer *t);
/* 1 when the model's configuration adds BOS to every encoded text
 * (tokenizer_config.json add_bos_token, or a post-processor template that
 * starts with it). tok_encode only adds BOS when asked by TOK_ADD_BOS. */
int tok_add_bos_default(const tok_tokenizer *t);
/* Short name of the tokenizer kind: "bpe" (byte-level) or "spm". */
const char *tok_kind(const tok_tokenizer *t);
/* 1 when id is a special (control) token, hidden by decoding by default. */
int tok_is_special(const tok_tokenizer *t, int32_t id);
/* Id of the token whose text is s[0..n) (added / special tokens included,
 * e.g. "<|eot_id|>"), or -1. */
int32_t tok_find(const tok_tokenizer *t, const char *s, size_t n);
/* Decoded bytes of one token (specials: their text); NULL for a bad id. */
const char *tok_token_text(const tok_tokenizer *t, int32_t id, size_t *len);

/* ======================================================================== */
/* Encoding                                                                  */
/* ======================================================================== */

enum {
    TOK_ADD_BOS = 1,       /* prepend the BOS id (if the tokenizer has one) */
    TOK_PARSE_SPECIAL = 2  /* recognise special tokens written in the text  */
};

/* A growable array of ids. Zero-initialise; free with tok_ids_free. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} tok_ids;

void tok_ids_free(tok_ids *v);

/* Appends the ids of text[0..len) to out. Invalid UTF-8 is read as U+FFFD
 * per maximal subpart (as Python's bytes.decode(errors="replace")).
 * Non-special added tokens are always recognised; special ones only with
 * TOK_PARSE_SPECIAL. */
trit_status tok_encode(const tok_tokenizer *t, const char *text, size_t len,
                       unsigned flags, tok_ids *out, trit_error *err);

/* A reusable encoding state for one thread: keeps the regex scratch, the
 * buffers and a cache of word ids between calls, so that encoding many
 * short texts (lines of a data set, chat turns) costs no per-call setup and
 * frequent words are found in the cache. Ids are those of tok_encode. */
typedef struct tok_encoder tok_encoder;

tok_encoder *tok_encoder_new(const tok_tokenizer *t); /* NULL on no memory */
void tok_encoder_free(tok_encoder *e);
trit_status tok_encoder_encode(tok_encoder *e, const char *text, size_t len,
                               unsigned flags, tok_ids *out, trit_error *err);

/* ======================================================================== */
/* Decoding                                                                  */
/* ======================================================================== */

enum {
    TOK_DECODE_SPECIAL = 1 /* print special tokens (hidden by default) */
};

/* A growable byte string, NUL-terminated when len > 0. Zero-initialise. */
typedef struct {
    char *s;
    size_t len, cap;
} tok_str;

void tok_str_free(tok_str *s);

/* Streaming decoder: each push appends to `out` only text whose UTF-8
 * characters are complete; bytes of an unfinished character wait for the
 * next token. Invalid sequences become U+FFFD (maximal subpart). */
typedef struct {
    const tok_tokenizer *t;
    unsigned flags;
    int started;         /* a visible byte has been produced */
    int npend;           /* bytes of an unfinished character */
    unsigned char pend[4];
} tok_decoder;

void tok_decoder_init(tok_decoder *d, const tok_tokenizer *t, unsigned flags);
/* Appends the text completed by token `id`. TRIT_ERR_VALUE for a bad id. */
trit_status tok_decoder_push(tok_decoder *d, int32_t id, tok_str *out,
                             trit_error *err);
/* Ends the stream: an unfinished character becomes U+FFFD. */
trit_status tok_decoder_flush(tok_decoder *d, tok_str *out, trit_error *err);

/* Decodes ids[0..n) at once (push each, then flush) and appends to out. */
trit_status tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n,
                       unsigned flags, tok_str *out, trit_error *err);

#endif /* TRIT_TOKENIZER_H */
