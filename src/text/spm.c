/*
 * spm.c - loads a SentencePiece model (tokenizer.model, a protobuf
 * ModelProto) of type BPE, such as Llama-2's.
 *
 * The protobuf is read by hand; every length and offset is checked against
 * the end of its enclosing message. Used fields:
 *   ModelProto     1 pieces (repeated), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece  1 piece, 2 score (float), 3 type
 *   TrainerSpec    3 model_type (2 = BPE), 24 treat_whitespace_as_suffix,
 *                  35 byte_fallback, 40..42 unk / bos / eos ids
 *   NormalizerSpec 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                  4 remove_extra_whitespaces, 5 escape_whitespaces
 * Encoding follows SentencePiece's BPE: the text (spaces as "▁", a dummy
 * "▁" in front) starts as characters; the adjacent pair whose concatenation
 * is the best-scoring piece merges first, the leftmost on ties. The scores
 * become merge ranks (equal scores, equal ranks) so bpe.c does the work.
 * Characters without a piece fall back to <0xNN> pieces or <unk>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"

#define MAX_PIECES (1 << 24)

/* ======================================================================== */
/* Protobuf reading                                                          */
/* ======================================================================== */

typedef struct {
    const uint8_t *p, *end;
} pb;

/* Contract: reads a base-128 varint (at most 10 bytes); 0 when truncated
 * or too long. */
static int pb_varint(pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return 0;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

/* Contract: reads a field key; 0 at a malformed key (field 0). */
static int pb_key(pb *r, uint32_t *field, int *wt) {
    uint64_t k;
    if (!pb_varint(r, &k) || (k >> 3) == 0 || (k >> 3) > UINT32_MAX) return 0;
    *field = (uint32_t)(k >> 3);
    *wt = (int)(k & 7);
    return 1;
}

/* Contract: reads a length-delimited payload into sub; 0 if it overruns. */
static int pb_bytes(pb *r, pb *sub) {
    uint64_t n;
    if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return 0;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 1;
}

/* Contract: skips a value of wire type wt; 0 if malformed or truncated. */
static int pb_skip(pb *r, int wt) {
    uint64_t v;
    pb sub;
    switch (wt) {
    case 0: return pb_varint(r, &v);
    case 1:
        if (r->end - r->p < 8) return 0;
        r->p += 8;
        return 1;
    case 2: return pb_bytes(r, &sub);
    case 5:
        if (r->end - r->p < 4) return 0;
        r->p += 4;
        return 1;
    default: return 0; /* groups (3, 4) and 6, 7 do not occur */
    }
}

/* Contract: reads a little-endian float (wire type 5); 0 if truncated. */
static int pb_float(pb *r, float *f) {
    if (r->end - r->p < 4) return 0;
    uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    memcpy(f, &u, 4);
    r->p += 4;
    return 1;
}

/* ======================================================================== */
/* Model                                                                     */
/* ======================================================================== */

typedef struct {
    int model_type, byte_fallback, ws_suffix;
    int64_t unk_id, bos_id, eos_id;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    const uint8_t *norm_name;
    size_t norm_name_len, charsmap_len;
} spm_spec;

typedef struct {
    const uint8_t *s;
    size_t n;
    float score;
    int type;
} spm_piece;

/* Contract: reads a TrainerSpec's fields of interest; 0 if malformed. */
static int read_trainer(pb r, spm_spec *sp) {
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v;
        if (!pb_key(&r, &f, &wt)) return 0;
        if (wt == 0 && (f == 3 || f == 24 || f == 35 || (f >= 40 && f <= 42))) {
            if (!pb_varint(&r, &v)) return 0;
            int64_t iv = (int64_t)(int32_t)(uint32_t)v; /* int32 fields: -1 is sign-extended */
            if (f == 3) sp->model_type = (int)v;
            else if (f == 24) sp->ws_suffix = v != 0;
            else if (f == 35) sp->byte_fallback = v != 0;
            else if (f == 40) sp->unk_id = iv;
            else if (f == 41) sp->bos_id = iv;
            else sp->eos_id = iv;
        } else if (!pb_skip(&r, wt)) {
            return 0;
        }
    }
    return 1;
}

/* Contract: reads a NormalizerSpec's fields of interest; 0 if malformed. */
static int read_normalizer(pb r, spm_spec *sp) {
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v;
        pb sub;
        if (!pb_key(&r, &f, &wt)) return 0;
        if (wt == 2 && (f == 1 || f == 2)) {
            if (!pb_bytes(&r, &sub)) return 0;
            if (f == 1) {
                sp->norm_name = sub.p;
                sp->norm_name_len = (size_t)(sub.end - sub.p);
            } else {
                sp->charsmap_len = (size_t)(sub.end - sub.p);
            }
        } else if (wt == 0 && f >= 3 && f <= 5) {
            if (!pb_varint(&r, &v)) return 0;
            if (f == 3) sp->add_dummy_prefix = v != 0;
            else if (f == 4) sp->remove_extra_ws = v != 0;
            else sp->escape_ws = v != 0;
        } else if (!pb_skip(&r, wt)) {
            return 0;
        }
    }
    return 1;
}

/* Contract: reads one SentencePiece message; 0 if malformed. */
static int read_piece(pb r, spm_piece *pc) {
    pc->s = NULL;
    pc->n = 0;
    pc->score = 0;
    pc->type = 1;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v;
        pb sub;
        if (!pb_key(&r, &f, &wt)) return 0;
        if (f == 1 && wt == 2) {
            if (!pb_bytes(&r, &sub)) return 0;
            pc->s = sub.p;
            pc->n = (size_t)(sub.end - sub.p);
        } else if (f == 2 && wt == 5) {
            if (!pb_float(&r, &pc->score)) return 0;
        } else if (f == 3 && wt == 0) {
            if (!pb_varint(&r, &v)) return 0;
            pc->type = (int)(v > 100 ? 100 : v);
        } else if (!pb_skip(&r, wt)) {
            return 0;
        }
    }
    return 1;
}

/* Contract: 1 if s is "<0xNN>"; the byte in *b. */
static int byte_piece(const uint8_t *s, size_t n, uint8_t *b) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return 0;
    unsigned v = 0;
    for (int i = 3; i < 5; i++) {
        unsigned c = s[i];
        unsigned d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
        if (d > 15) return 0;
        v = v * 16 + d;
    }
    *b = (uint8_t)v;
    return 1;
}

/* Contract: the decoded text of a piece ("▁" -> ' ') into out (room n). */
static size_t piece_text(const uint8_t *s, size_t n, uint8_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
            out[o++] = ' ';
            i += 3;
        } else {
            out[o++] = s[i++];
        }
    }
    return o;
}

typedef struct {
    float score;
    int32_t id;
} scored;

/* Contract: qsort order of pieces: higher score first, then lower id. */
static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Contract: builds the merge table: each normal piece, cut at every
 * character boundary into two normal pieces, is that pair's merge, ranked
 * by score (equal scores share a rank). */
static trit_status spm_merges(tok_tokenizer *t, trit_error *err) {
    size_t n = 0;
    scored *v = malloc((size_t)t->n_vocab * sizeof *v + 1);
    uint32_t *rank = malloc((size_t)t->n_vocab * sizeof *rank + 1);
    if (!v || !rank || !tok_merges_init(&t->merges, (size_t)t->n_vocab * 2)) {
        free(v);
        free(rank);
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", t->name);
    }
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->ent[id].type == TT_NORMAL) v[n++] = (scored){t->ent[id].score, id};
    qsort(v, n, sizeof *v, cmp_scored);
    uint32_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && v[i].score != v[i - 1].score) r++;
        rank[v[i].id] = r;
    }
    trit_status st = TRIT_OK;
    for (size_t i = 0; i < n && st == TRIT_OK; i++) {
        int32_t id = v[i].id;
        size_t len;
        const uint8_t *k = tok_key(t, id, &len);
        for (size_t cut = tok_utf8_lead_len(k[0]); cut < len; cut += tok_utf8_lead_len(k[cut])) {
            int32_t a = tok_vocab_get(t, k, cut), b = tok_vocab_get(t, k + cut, len - cut);
            if (a < 0 || b < 0 || t->ent[a].type != TT_NORMAL || t->ent[b].type != TT_NORMAL)
                continue;
            if (!tok_merge_add(&t->merges, a, b, rank[id], id))
                st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", t->name);
        }
    }
    free(v);
    free(rank);
    return st;
}

/* ======================================================================== */
/* Entry point                                                               */
/* ======================================================================== */

/* Contract: the format error of a malformed model. */
static trit_status bad(trit_error *err, const char *name, const char *what) {
    return trit_fail(err, TRIT_ERR_FORMAT, "%s: malformed SentencePiece model: %s", name, what);
}

/* Contract: adds a normalizer step (a, b copied). */
static int add_norm(tok_tokenizer *t, int kind, const char *a, const char *b) {
    tok_norm *m = &t->norm[t->n_norm];
    m->kind = kind;
    m->alen = strlen(a);
    m->blen = strlen(b);
    m->a = malloc(m->alen + 1);
    m->b = malloc(m->blen + 1);
    if (!m->a || !m->b) {
        free(m->a);
        free(m->b);
        m->a = m->b = NULL;
        return 0;
    }
    memcpy(m->a, a, m->alen + 1);
    memcpy(m->b, b, m->blen + 1);
    t->n_norm++;
    return 1;
}

/* Contract: see tok_impl.h. */
trit_status tok_load_spm(const char *name, const uint8_t *data, size_t len, tok_tokenizer **out,
                         trit_error *err) {
    *out = NULL;
    spm_spec sp = {.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2,
                   .add_dummy_prefix = 1, .remove_extra_ws = 1, .escape_ws = 1};
    pb r = {data, data + len};
    size_t npieces = 0;
    /* Pass 1: count pieces, read the specs, check the framing. */
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        pb sub;
        if (!pb_key(&r, &f, &wt)) return bad(err, name, "bad field key");
        if (wt == 2 && f <= 3) {
            if (!pb_bytes(&r, &sub)) return bad(err, name, "truncated message");
            if (f == 1) {
                spm_piece pc;
                if (!read_piece(sub, &pc)) return bad(err, name, "truncated piece");
                if (++npieces > MAX_PIECES) return bad(err, name, "too many pieces");
            } else if (f == 2) {
                if (!read_trainer(sub, &sp)) return bad(err, name, "truncated trainer_spec");
            } else if (!read_normalizer(sub, &sp)) {
                return bad(err, name, "truncated normalizer_spec");
            }
        } else if (!pb_skip(&r, wt)) {
            return bad(err, name, "truncated field");
        }
    }
    if (npieces == 0) return bad(err, name, "no pieces");
    if (sp.model_type != 2)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: SentencePiece model type %d is not supported (only BPE = 2)", name,
                         sp.model_type);
    if (sp.charsmap_len > 0 &&
        !(sp.norm_name_len == 8 && memcmp(sp.norm_name, "identity", 8) == 0))
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: SentencePiece normalizer \"%.*s\" is not supported (only identity)",
                         name, (int)(sp.norm_name_len > 40 ? 40 : sp.norm_name_len),
                         sp.norm_name ? (const char *)sp.norm_name : "");
    if (sp.ws_suffix)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: treat_whitespace_as_suffix is not supported", name);

    tok_tokenizer *t = tok_alloc(name, (int32_t)npieces);
    uint8_t *tbuf = NULL;
    if (!t) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
    t->kind = "spm";
    t->byte_fallback = sp.byte_fallback;
    t->strip_lead_space = sp.add_dummy_prefix;
    t->spm_unk_surface = 1;
    trit_status st = TRIT_OK;
    /* Pass 2: the pieces. */
    r = (pb){data, data + len};
    int32_t id = 0;
    while (r.p < r.end && st == TRIT_OK) {
        uint32_t f;
        int wt;
        pb sub;
        if (!pb_key(&r, &f, &wt)) { /* pass 1 validated the framing */
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: malformed protobuf key", name);
            break;
        }
        if (!(wt == 2 && f == 1)) {
            if (!pb_skip(&r, wt)) { st = trit_fail(err, TRIT_ERR_FORMAT, "%s: truncated protobuf field", name); break; }
            continue;
        }
        if (!pb_bytes(&r, &sub)) { st = trit_fail(err, TRIT_ERR_FORMAT, "%s: truncated piece", name); break; }
        spm_piece pc;
        read_piece(sub, &pc);
        if (pc.n == 0 || pc.n > 4096) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: piece %d is empty or too long", name, (int)id);
            break;
        }
        uint8_t *nb = realloc(tbuf, pc.n);
        if (!nb) {
            st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
        tbuf = nb;
        size_t tl = piece_text(pc.s, pc.n, tbuf);
        uint8_t b;
        int type;
        switch (pc.type) {
        case 1: type = TT_NORMAL; break;
        case 2: type = TT_UNK; break;
        case 3: type = TT_SPECIAL; break;
        case 4: type = TT_ADDED; break;
        case 5: type = TT_UNUSED; break;
        case 6: type = TT_BYTE; break;
        default:
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: piece %d has unknown type %d", name, (int)id,
                           pc.type);
            continue;
        }
        if (type == TT_BYTE) {
            if (!byte_piece(pc.s, pc.n, &b)) {
                st = trit_fail(err, TRIT_ERR_FORMAT, "%s: byte piece %d is not <0xNN>", name, (int)id);
                continue;
            }
            tbuf[0] = b;
            tl = 1;
            if (t->byte_id[b] < 0) t->byte_id[b] = id;
        }
        if (!tok_set(t, id, pc.s, pc.n, tbuf, tl, type)) {
            st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
            continue;
        }
        t->ent[id].score = pc.score;
        id++;
    }
    free(tbuf);
    if (st == TRIT_OK) st = tok_build_vocab_map(t, err);
    /* Control pieces are special tokens, user-defined ones always match. */
    for (int32_t i = 0; i < t->n_vocab && st == TRIT_OK; i++) {
        int ty = t->ent[i].type;
        if (ty != TT_SPECIAL && ty != TT_ADDED) continue;
        size_t kl;
        const uint8_t *k = tok_key(t, i, &kl);
        char tmp[4096];
        memcpy(tmp, k, kl);
        st = tok_add_added(t, i, tmp, kl, ty == TT_SPECIAL, 0, 0, err);
    }
    if (st == TRIT_OK) {
        tok_finish_added(t);
        st = spm_merges(t, err);
    }
    if (st == TRIT_OK) {
        if (sp.unk_id >= 0 && sp.unk_id < t->n_vocab) {
            t->unk_id = (int32_t)sp.unk_id;
            t->ent[t->unk_id].type = TT_UNK;
        }
        if (sp.bos_id >= 0 && sp.bos_id < t->n_vocab) t->bos_id = (int32_t)sp.bos_id;
        if (sp.eos_id >= 0 && sp.eos_id < t->n_vocab) t->eos_id = (int32_t)sp.eos_id;
        t->add_bos = t->bos_id >= 0;
        int ok = 1;
        if (sp.remove_extra_ws) ok = ok && add_norm(t, NS_SQUEEZE, "", "");
        if (sp.add_dummy_prefix) ok = ok && add_norm(t, NS_PREPEND, " ", "");
        if (sp.escape_ws) ok = ok && add_norm(t, NS_REPLACE, " ", "\xE2\x96\x81");
        if (!ok) st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
        tok_maybe_spm_words(t);
    }
    if (st != TRIT_OK) {
        tok_free(t);
        return st;
    }
    *out = t;
    return TRIT_OK;
}
