/*
 * pretok_pcre2.c - the regex engine of the pre-tokenizers, on PCRE2.
 *
 * Patterns are compiled with PCRE2_UTF | PCRE2_UCP, so \p{L}, \p{N} and
 * (?i:...) follow Unicode, with \s rewritten to Unicode White_Space as
 * Oniguruma (used by Hugging Face) has it, and JIT-compiled when the library
 * supports it.
 * Subjects are valid UTF-8 (tok_encode cleans its input first), so matches
 * pass PCRE2_NO_UTF_CHECK: checking the whole subject on every call would
 * make pre-tokenization quadratic.
 *
 * This file is linked into libtrit_tools.a only (tools and tests): the core
 * library reaches it through the tok_regex_api table.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"

typedef struct {
    pcre2_code *code;
    int jit;
} rx;

typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *stack;
} rx_scratch;

/* ======================================================================== */
/* Pattern translation                                                       */
/* ======================================================================== */

/* Hugging Face compiles pre-tokenizer regexes with Oniguruma, whose \s is
 * Unicode White_Space. PCRE2's \s with UCP also matches U+180E, so \s and
 * \S are spelled out as this set (the members, for use inside a class). */
#define WHITE_SPACE "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}" \
                    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Contract: appends s to out (room checked by the caller's sizing). */
static size_t put(char *out, size_t o, const char *s) {
    size_t n = strlen(s);
    memcpy(out + o, s, n);
    return o + n;
}

/* Contract: a malloc'ed copy of pattern[0..plen) with \s / \S replaced
 * by the White_Space set (inside a class: its members; \S inside a class
 * is left to PCRE2); NULL on no memory. */
static char *translate(const char *pat, size_t plen, size_t *outlen) {
    size_t cap = plen * (sizeof WHITE_SPACE + 4) + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t o = 0;
    int in_class = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < plen) {
            char d = pat[i + 1];
            if (d == 's') o = put(out, o, in_class ? WHITE_SPACE : "[" WHITE_SPACE "]");
            else if (d == 'S' && !in_class) o = put(out, o, "[^" WHITE_SPACE "]");
            else {
                out[o++] = c;
                out[o++] = d;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            out[o++] = c;
            if (i + 1 < plen && pat[i + 1] == '^') out[o++] = pat[++i];
            if (i + 1 < plen && pat[i + 1] == ']') out[o++] = pat[++i]; /* literal ] first */
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        out[o++] = c;
    }
    out[o] = 0;
    *outlen = o;
    return out;
}

/* ======================================================================== */
/* Engine functions                                                          */
/* ======================================================================== */

/* Contract: compiles pattern[0..plen) (UTF, UCP, \s as White_Space) and
 * JIT-compiles it when possible; NULL with PCRE2's message and offset in
 * errbuf on failure. */
static void *rx_compile(const char *pattern, size_t plen, char *errbuf, size_t errlen) {
    int ec;
    PCRE2_SIZE eo;
    size_t tl;
    char *tr = translate(pattern, plen, &tl);
    if (!tr) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)tr, tl, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    free(tr);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(errbuf, errlen, "%s at offset %zu", (const char *)msg, (size_t)eo);
        return NULL;
    }
    rx *r = malloc(sizeof *r);
    if (!r) {
        pcre2_code_free(code);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    r->code = code;
    r->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return r;
}

/* Contract: releases a compiled regex (NULL accepted). */
static void rx_free(void *re) {
    rx *r = re;
    if (!r) return;
    pcre2_code_free(r->code);
    free(r);
}

/* Contract: match data for one thread; NULL on no memory. The JIT stack
 * (up to 1 MiB) is only made when a match needs more than the 32 KiB PCRE2
 * gives by default: creating and freeing it maps and unmaps memory, which
 * would dominate encoding many short texts. */
static void *rx_scratch_new(void *re) {
    rx *r = re;
    rx_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->md = pcre2_match_data_create_from_pattern(r->code, NULL);
    s->mc = pcre2_match_context_create(NULL);
    if (!s->md || !s->mc) {
        pcre2_match_data_free(s->md);
        pcre2_match_context_free(s->mc);
        free(s);
        return NULL;
    }
    return s;
}

/* Contract: releases matching state (NULL accepted). */
static void rx_scratch_free(void *scratch) {
    rx_scratch *s = scratch;
    if (!s) return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mc);
    if (s->stack) pcre2_jit_stack_free(s->stack);
    free(s);
}

/* Contract: see tok_regex_api.find. */
static int rx_find(void *re, void *scratch, const char *s, size_t n, size_t from, size_t *ms,
                   size_t *me) {
    rx *r = re;
    rx_scratch *sc = scratch;
    int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, sc->md, sc->mc);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && r->jit && !sc->stack) {
        /* first match that needs a bigger JIT stack: make one, try again */
        sc->stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (!sc->stack) return -1;
        pcre2_jit_stack_assign(sc->mc, NULL, sc->stack);
        rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, sc->md, sc->mc);
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

/* ======================================================================== */
/* Table                                                                     */
/* ======================================================================== */

static const tok_regex_api PCRE2_API = {rx_compile, rx_free, rx_scratch_new, rx_scratch_free,
                                        rx_find};

/* Contract: the PCRE2 engine's function table (static, never freed). */
const tok_regex_api *tok_pcre2_api(void) { return &PCRE2_API; }
