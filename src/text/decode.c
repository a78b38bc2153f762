/*
 * decode.c - ids to text, streaming.
 *
 * Each token's decoded bytes are precomputed at load time (tok_entry.txt).
 * The decoder adds them to a small UTF-8 assembler: complete characters go
 * out at once, the bytes of an unfinished character wait (at most 3), and
 * an ill-formed sequence becomes U+FFFD per maximal subpart - the result of
 * decoding all ids at once with from_utf8_lossy / errors="replace".
 * Special tokens are skipped unless TOK_DECODE_SPECIAL; SentencePiece-style
 * tokenizers drop the space of the dummy prefix at the start.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* ======================================================================== */
/* Strings                                                                   */
/* ======================================================================== */

/* Contract: appends s[0..n) to b and keeps it NUL-terminated; 1 on
 * success, 0 on no memory. */
static int str_add(tok_str *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return 0;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 1;
}

/* Contract: releases the string and zeroes it (NULL accepted). */
void tok_str_free(tok_str *s) {
    if (!s) return;
    free(s->s);
    s->s = NULL;
    s->len = s->cap = 0;
}

/* ======================================================================== */
/* UTF-8 assembly                                                            */
/* ======================================================================== */

/* Contract: length of the sequence a lead byte starts, 0 if it starts none. */
static int seq_len(uint8_t c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Contract: 1 if c may be byte k (>= 1) of a sequence led by `lead`. */
static int cont_ok(uint8_t lead, int k, uint8_t c) {
    uint8_t lo = 0x80, hi = 0xBF;
    if (k == 1) {
        if (lead == 0xE0) lo = 0xA0;
        else if (lead == 0xED) hi = 0x9F;
        else if (lead == 0xF0) lo = 0x90;
        else if (lead == 0xF4) hi = 0x8F;
    }
    return c >= lo && c <= hi;
}

/* Contract: feeds bytes s[0..n) to the assembler, appending complete
 * characters and replacements to out; 0 on no memory. */
static int feed(tok_decoder *d, const uint8_t *s, size_t n, tok_str *out) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (d->npend == 0) {
            /* fast path: a run of complete ASCII */
            if (c < 0x80) {
                size_t j = i;
                while (j < n && s[j] < 0x80) j++;
                if (!str_add(out, (const char *)s + i, j - i)) return 0;
                i = j;
                continue;
            }
            if (!seq_len(c)) {
                if (!str_add(out, REPLACEMENT, 3)) return 0;
            } else {
                d->pend[0] = c;
                d->npend = 1;
            }
            i++;
            continue;
        }
        if (cont_ok(d->pend[0], d->npend, c)) {
            d->pend[d->npend++] = c;
            i++;
            if (d->npend == seq_len(d->pend[0])) {
                if (!str_add(out, (const char *)d->pend, (size_t)d->npend)) return 0;
                d->npend = 0;
            }
        } else {
            /* the pending bytes are a maximal subpart; c starts afresh */
            if (!str_add(out, REPLACEMENT, 3)) return 0;
            d->npend = 0;
        }
    }
    return 1;
}

/* ======================================================================== */
/* Decoder                                                                   */
/* ======================================================================== */

/* Contract: starts a stream over tokenizer t. */
void tok_decoder_init(tok_decoder *d, const tok_tokenizer *t, unsigned flags) {
    memset(d, 0, sizeof *d);
    d->t = t;
    d->flags = flags;
}

/* Contract: see tokenizer.h. */
trit_status tok_decoder_push(tok_decoder *d, int32_t id, tok_str *out, trit_error *err) {
    const tok_tokenizer *t = d->t;
    if (id < 0 || id >= t->n_vocab)
        return trit_fail(err, TRIT_ERR_VALUE, "%s: token id %d is out of range [0, %d)", t->name,
                         (int)id, (int)t->n_vocab);
    const tok_entry *e = &t->ent[id];
    if ((e->type == TT_SPECIAL || e->type == TT_UNK) && !(d->flags & TOK_DECODE_SPECIAL))
        return TRIT_OK;
    const uint8_t *s = t->pool.p + e->txt_off;
    size_t n = e->txt_len;
    if (e->type == TT_UNK && t->spm_unk_surface) {
        s = (const uint8_t *)" \xE2\x81\x87 ";
        n = 5;
    }
    if (!d->started && n > 0) {
        if (t->strip_lead_space && s[0] == ' ') {
            s++;
            n--;
        }
        d->started = 1;
    }
    if (!feed(d, s, n, out))
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory while decoding", t->name);
    return TRIT_OK;
}

/* Contract: see tokenizer.h. */
trit_status tok_decoder_flush(tok_decoder *d, tok_str *out, trit_error *err) {
    if (d->npend) {
        d->npend = 0;
        if (!str_add(out, REPLACEMENT, 3))
            return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory while decoding", d->t->name);
    }
    return TRIT_OK;
}

/* Contract: see tokenizer.h. */
trit_status tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                       tok_str *out, trit_error *err) {
    if (!t || !out || (!ids && n))
        return trit_fail(err, TRIT_ERR_ARG, "tok_decode: NULL argument");
    tok_decoder d;
    tok_decoder_init(&d, t, flags);
    if (!str_add(out, "", 0))
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory while decoding", t->name);
    for (size_t i = 0; i < n; i++) {
        trit_status st = tok_decoder_push(&d, ids[i], out, err);
        if (st != TRIT_OK) return st;
    }
    return tok_decoder_flush(&d, out, err);
}
