/*
 * tiktoken.c - byte-level BPE files without a tokenizer.json:
 *   - tiktoken tokenizer.model: one "base64(token bytes) rank" per line.
 *     The rank is the id; a pair of tokens merges into the token that is
 *     their concatenation, at that token's rank (tiktoken's rule), so the
 *     merge table holds every split of every token into two tokens.
 *     Special tokens come from the model family (known by the vocabulary
 *     size: 128,000 ranks = Llama-3) or from added_tokens_decoder in
 *     tokenizer_config.json when one is given.
 *   - GPT-2 encoder.json / vocab.json (token -> id, in the byte alphabet)
 *     and vocab.bpe / merges.txt ("a b" per line, rank = line order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "text/tok_impl.h"

#define MAX_RANK (1 << 24)
#define MAX_TOKEN_BYTES 4096

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Contract: the value of a base64 digit, or -1. */
static int b64(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Contract: decodes standard base64 s[0..n) (padding optional) into out
 * (room for 3n/4 + 3 bytes); returns the length or -1 when malformed. */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
    while (n > 0 && s[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    long o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

/* Contract: the Llama-3 special token name of id 128000 + i (i < 256), as
 * Meta's tokenizer defines them, into buf. */
static void llama3_special(int i, char *buf, size_t n) {
    static const char *const named[] = {
        "<|begin_of_text|>", "<|end_of_text|>", NULL, NULL, NULL, NULL,
        "<|start_header_id|>", "<|end_header_id|>", NULL, "<|eot_id|>"};
    if (i < 10 && named[i]) {
        snprintf(buf, n, "%s", named[i]);
        return;
    }
    int r = i < 6 ? i - 2 : i == 8 ? 4 : i - 5; /* reserved numbering skips the named ones */
    snprintf(buf, n, "<|reserved_special_token_%d|>", r);
}

/* Contract: registers the special tokens listed in a config's
 * added_tokens_decoder ({"id": {"content": ..., "special": ...}}); *found
 * tells whether the config had any. */
static trit_status config_specials(tok_tokenizer *t, const char *cfg, size_t len, int *found,
                                   trit_error *err) {
    *found = 0;
    char eb[256];
    json_doc *doc = json_parse(cfg, len, eb, sizeof eb);
    if (!doc) return trit_fail(err, TRIT_ERR_FORMAT, "tokenizer_config.json: malformed JSON: %s", eb);
    const json_value *atd = json_get(json_root(doc), "added_tokens_decoder");
    trit_status st = TRIT_OK;
    for (size_t i = 0; i < json_len(atd) && atd->type == JSON_OBJECT && st == TRIT_OK; i++) {
        char *end;
        long id = strtol(atd->u.object.keys[i], &end, 10);
        const json_value *v = atd->u.object.vals[i];
        const json_value *c = json_get(v, "content");
        if (*end || id < 0 || id >= MAX_RANK || !c || c->type != JSON_STRING) {
            st = trit_fail(err, TRIT_ERR_FORMAT,
                           "tokenizer_config.json: bad added_tokens_decoder entry \"%.40s\"",
                           atd->u.object.keys[i]);
            break;
        }
        if (id < t->n_vocab && t->ent[id].type != TT_HOLE && t->ent[id].type != TT_SPECIAL) continue;
        st = tok_add_added(t, (int32_t)id, c->u.string.s, c->u.string.len,
                           json_get_bool(v, "special", 1), json_get_bool(v, "lstrip", 0),
                           json_get_bool(v, "rstrip", 0), err);
        *found = 1;
    }
    json_free(doc);
    return st;
}

/* ======================================================================== */
/* tiktoken                                                                  */
/* ======================================================================== */

/* Contract: builds tiktoken's merge table: for every token of two or more
 * bytes and every cut into two tokens, (left, right) -> token at its rank. */
static trit_status tiktoken_merges(tok_tokenizer *t, trit_error *err) {
    if (!tok_merges_init(&t->merges, (size_t)t->n_vocab * 2))
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", t->name);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->ent[id].type != TT_NORMAL || t->ent[id].key_len < 2) continue;
        size_t n;
        const uint8_t *k = tok_key(t, id, &n);
        for (size_t cut = 1; cut < n; cut++) {
            int32_t a = tok_vocab_get(t, k, cut);
            if (a < 0) continue;
            int32_t b = tok_vocab_get(t, k + cut, n - cut);
            if (b < 0) continue;
            if (!tok_merge_add(&t->merges, a, b, (uint32_t)id, id))
                return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", t->name);
        }
    }
    return TRIT_OK;
}

/* Contract: see tok_impl.h. */
trit_status tok_load_tiktoken(const char *name, const char *data, size_t len, const char *cfg,
                              size_t cfg_len, const tok_load_params *p, tok_tokenizer **out,
                              trit_error *err) {
    *out = NULL;
    tok_tokenizer *t = tok_alloc(name, 0);
    uint8_t buf[MAX_TOKEN_BYTES];
    if (!t) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
    t->byte_level = 1;
    t->ignore_merges = 1;
    trit_status st = TRIT_OK;
    size_t line = 0, i = 0;
    while (i < len && st == TRIT_OK) {
        line++;
        size_t e = i;
        while (e < len && data[e] != '\n') e++;
        size_t le = e;
        if (le > i && data[le - 1] == '\r') le--;
        if (le > i) {
            const char *sp = memchr(data + i, ' ', le - i);
            char *end = NULL;
            long rank = -1;
            long nb = -1;
            if (sp && (size_t)(sp - (data + i)) <= (MAX_TOKEN_BYTES / 3) * 4 && sp + 1 < data + le) {
                nb = b64_decode(data + i, (size_t)(sp - (data + i)), buf);
                char num[16];
                size_t nl = (size_t)(data + le - (sp + 1));
                if (nl < sizeof num) {
                    memcpy(num, sp + 1, nl);
                    num[nl] = 0;
                    rank = num[0] >= '0' && num[0] <= '9' ? strtol(num, &end, 10) : -1;
                    if (end && *end) rank = -1;
                }
            }
            if (nb <= 0 || rank < 0 || rank >= MAX_RANK) {
                st = trit_fail(err, TRIT_ERR_FORMAT,
                               "%s: line %zu is not \"base64-token rank\"", name, line);
                break;
            }
            if (rank >= t->n_vocab && !tok_grow(t, (int32_t)rank + 1)) {
                st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
                break;
            }
            if (t->ent[rank].type != TT_HOLE) {
                st = trit_fail(err, TRIT_ERR_FORMAT, "%s: line %zu: rank %ld is given twice", name,
                               line, rank);
                break;
            }
            if (!tok_set(t, (int32_t)rank, buf, (size_t)nb, buf, (size_t)nb, TT_NORMAL))
                st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
        }
        i = e + 1;
    }
    if (st == TRIT_OK && t->n_vocab == 0) st = trit_fail(err, TRIT_ERR_FORMAT, "%s: no tokens", name);
    if (st == TRIT_OK) st = tok_build_vocab_map(t, err);
    for (int c = 0; c < 256 && st == TRIT_OK; c++) {
        uint8_t b = (uint8_t)c;
        t->byte_id[c] = tok_vocab_get(t, &b, 1);
        if (t->byte_id[c] < 0)
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: byte 0x%02x has no token", name, c);
    }
    if (st == TRIT_OK) st = tiktoken_merges(t, err);
    int32_t base = t->n_vocab;
    int found = 0;
    if (st == TRIT_OK && cfg) st = config_specials(t, cfg, cfg_len, &found, err);
    if (st == TRIT_OK && !found) {
        if (base != 128000) {
            st = trit_fail(err, TRIT_ERR_UNSUPPORTED,
                           "%s: unknown tiktoken model family (%d ranks; only Llama-3's 128000 "
                           "are known) and no tokenizer_config.json with added_tokens_decoder",
                           name, (int)base);
        } else {
            for (int k = 0; k < 256 && st == TRIT_OK; k++) {
                char nm[64];
                llama3_special(k, nm, sizeof nm);
                st = tok_add_added(t, base + k, nm, strlen(nm), 1, 0, 0, err);
            }
        }
    }
    if (st == TRIT_OK) {
        tok_finish_added(t);
        st = tok_add_regex_step(t, PS_REGEX, TOK_LLAMA3_PATTERN, strlen(TOK_LLAMA3_PATTERN),
                                SPLIT_ISOLATED, p, err);
    }
    if (st != TRIT_OK) {
        tok_free(t);
        return st;
    }
    tok_guess_bos_eos(t);
    t->add_bos = t->bos_id >= 0;
    *out = t;
    return TRIT_OK;
}

/* ======================================================================== */
/* GPT-2 files                                                               */
/* ======================================================================== */

/* Contract: see tok_impl.h. */
trit_status tok_load_gpt2(const char *name, const char *vocab, size_t vlen, const char *merges,
                          size_t mlen, const tok_load_params *p, tok_tokenizer **out,
                          trit_error *err) {
    *out = NULL;
    char eb[256];
    json_doc *doc = json_parse(vocab, vlen, eb, sizeof eb);
    if (!doc) return trit_fail(err, TRIT_ERR_FORMAT, "%s: malformed JSON: %s", name, eb);
    const json_value *v = json_root(doc);
    tok_tokenizer *t = tok_alloc(name, 0);
    trit_status st = TRIT_OK;
    uint8_t *kb = NULL;
    if (!t) {
        st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    t->byte_level = 1;
    if (v->type != JSON_OBJECT) {
        st = trit_fail(err, TRIT_ERR_FORMAT, "%s: expected an object of token -> id", name);
        goto done;
    }
    int32_t maxid = -1;
    for (size_t i = 0; i < json_len(v); i++) {
        int64_t id;
        if (!json_int(v->u.object.vals[i], &id) || id < 0 || id >= MAX_RANK) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: token \"%.40s\" has a bad id", name,
                           v->u.object.keys[i]);
            goto done;
        }
        if (id > maxid) maxid = (int32_t)id;
    }
    if (!tok_grow(t, maxid + 1) || !(kb = malloc(MAX_TOKEN_BYTES))) {
        st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    for (size_t i = 0; i < json_len(v); i++) {
        int64_t id;
        json_int(v->u.object.vals[i], &id);
        const char *s = v->u.object.keys[i];
        size_t sl = v->u.object.key_lens[i];
        if (t->ent[id].type != TT_HOLE) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: id %d is given twice", name, (int)id);
            goto done;
        }
        long k = sl < MAX_TOKEN_BYTES ? tok_bytelevel_decode(s, sl, kb) : -1;
        const uint8_t *key = k >= 0 ? kb : (const uint8_t *)s;
        size_t kl = k >= 0 ? (size_t)k : sl;
        if (kl == 0 || kl >= MAX_TOKEN_BYTES) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: token id %d is empty or too long", name, (int)id);
            goto done;
        }
        if (!tok_set(t, (int32_t)id, key, kl, key, kl, TT_NORMAL)) {
            st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
    }
    if ((st = tok_build_vocab_map(t, err)) != TRIT_OK) goto done;
    for (int c = 0; c < 256; c++) {
        uint8_t b = (uint8_t)c;
        t->byte_id[c] = tok_vocab_get(t, &b, 1);
    }
    if (!tok_merges_init(&t->merges, 65536)) {
        st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    size_t line = 0, rank = 0;
    for (size_t i = 0; i < mlen;) {
        size_t e = i;
        while (e < mlen && merges[e] != '\n') e++;
        size_t le = e;
        if (le > i && merges[le - 1] == '\r') le--;
        line++;
        if (le > i && !(line == 1 && merges[i] == '#')) {
            const char *a = merges + i, *sp = memchr(a, ' ', le - i);
            size_t al = sp ? (size_t)(sp - a) : 0, bl = sp ? (size_t)(merges + le - sp - 1) : 0;
            long ka = -1, kbn = -1;
            if (sp && al > 0 && bl > 0 && al + bl < MAX_TOKEN_BYTES / 2 && !memchr(sp + 1, ' ', bl)) {
                ka = tok_bytelevel_decode(a, al, kb);
                kbn = ka >= 0 ? tok_bytelevel_decode(sp + 1, bl, kb + ka) : -1;
            }
            int32_t ia = ka > 0 ? tok_vocab_get(t, kb, (size_t)ka) : -1;
            int32_t ib = kbn > 0 ? tok_vocab_get(t, kb + ka, (size_t)kbn) : -1;
            int32_t ic = ia >= 0 && ib >= 0 ? tok_vocab_get(t, kb, (size_t)(ka + kbn)) : -1;
            if (ic < 0) {
                st = trit_fail(err, TRIT_ERR_FORMAT,
                               "merges file of %s: line %zu is not \"a b\" with a, b and ab in "
                               "the vocabulary",
                               name, line);
                goto done;
            }
            if (!tok_merge_add(&t->merges, ia, ib, (uint32_t)rank++, ic)) {
                st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
                goto done;
            }
        }
        i = e + 1;
    }
    int32_t eot = tok_vocab_get(t, "<|endoftext|>", 13);
    if (eot >= 0) {
        if ((st = tok_add_added(t, eot, "<|endoftext|>", 13, 1, 0, 0, err)) != TRIT_OK) goto done;
        t->bos_id = t->eos_id = eot;
    }
    tok_finish_added(t);
    st = tok_add_regex_step(t, PS_BYTELEVEL, TOK_GPT2_PATTERN, strlen(TOK_GPT2_PATTERN),
                            SPLIT_ISOLATED, p, err);
done:
    free(kb);
    json_free(doc);
    if (st != TRIT_OK) {
        tok_free(t);
        return st;
    }
    *out = t;
    return TRIT_OK;
}
