/*
 * template_lex.c - chat templates, part 1: the arena and the lexer (source
 * -> tokens). Text between tags becomes K_TEXT tokens with Jinja's
 * whitespace rules applied (transformers renders with trim_blocks=True and
 * lstrip_blocks=True):
 *   - "{%-", "{{-", "{#-" strip all whitespace before the tag; "-%}",
 *     "-}}", "-#}" strip all whitespace after it;
 *   - lstrip_blocks: spaces and tabs between the start of a line and a
 *     "{%" or "{#" tag are removed (not with "{%+");
 *   - trim_blocks: one newline right after "%}" or "#}" is removed (not
 *     with "+%}").
 * Inside tags: names, integers, floats, strings (Python escapes) and
 * operators; "}}" / "%}" end a tag only outside brackets, as in Jinja.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "text/template_impl.h"

/* ======================================================================== */
/* Arena                                                                     */
/* ======================================================================== */

struct tpl_block {
    tpl_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define TPL_BLOCK_MIN ((size_t)64 << 10)

/* Contract: see template_impl.h. */
void *tpl_alloc(tpl_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    tpl_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > TPL_BLOCK_MIN ? n : TPL_BLOCK_MIN;
        if (cap > SIZE_MAX - sizeof(tpl_block) || a->total + cap > a->limit) return NULL;
        b = malloc(sizeof(tpl_block) + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        a->total += cap;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

/* Contract: see template_impl.h. */
void tpl_arena_free(tpl_arena *a) {
    tpl_block *b = a->head;
    while (b) {
        tpl_block *nx = b->next;
        free(b);
        b = nx;
    }
    a->head = NULL;
    a->total = 0;
}

/* ======================================================================== */
/* Lexer state                                                               */
/* ======================================================================== */

typedef struct {
    const char *name;    /* template name for messages */
    tpl_arena *A;
    trit_error *err;
    int failed;
    const char *src;
    size_t len, pos;
    int line;
    tpl_tok *toks;
    size_t n, cap;
} lexer;

/* Contract: records "NAME line L: message" (first error wins). */
static void perr(lexer *P, int line, const char *fmt, ...) TRIT_PRINTF(3, 4);
static void perr(lexer *P, int line, const char *fmt, ...) {
    if (P->failed) return;
    P->failed = 1;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    trit_fail(P->err, TRIT_ERR_FORMAT, "%s line %d: %s", P->name, line, msg);
}

/* Contract: appends t to the token array; 0 on success, -1 on no memory. */
static int push_tok(lexer *P, tpl_tok t) {
    if (P->n == P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        tpl_tok *v = realloc(P->toks, cap * sizeof *v);
        if (!v) { perr(P, t.line, "out of memory"); return -1; }
        P->toks = v;
        P->cap = cap;
    }
    P->toks[P->n++] = t;
    return 0;
}


/* ======================================================================== */
/* Lexer                                                                     */
/* ======================================================================== */

/* Contract: character classes of the lexer (ASCII). */
static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Contract: counts newlines in s[0..n). */
static int count_lines(const char *s, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

/* Contract: appends code point cp as UTF-8 to d (at least 4 bytes free);
 * returns the bytes written. Surrogates and values above U+10FFFF become
 * U+FFFD. */
static size_t put_utf8(char *d, uint32_t cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12)); d[1] = (char)(0x80 | ((cp >> 6) & 63)); d[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18)); d[1] = (char)(0x80 | ((cp >> 12) & 63));
    d[2] = (char)(0x80 | ((cp >> 6) & 63)); d[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Contract: value of `digits` hex digits at s, or -1 if one is not hex. */
static int64_t hexval(const char *s, int digits) {
    int64_t v = 0;
    for (int k = 0; k < digits; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Contract: lexes a quoted string literal starting at P->pos (the quote)
 * with Python escapes (\n \t \r \\ \' \" \a \b \f \v \0 \xNN \uNNNN
 * \UNNNNNNNN; an unknown escape keeps its backslash, as Python does). */
static int lex_string(lexer *P) {
    char q = P->src[P->pos];
    int line0 = P->line;
    size_t i = P->pos + 1, end = i;
    while (end < P->len && P->src[end] != q) end += P->src[end] == '\\' ? 2 : 1;
    if (end >= P->len) { perr(P, line0, "unterminated string literal"); return -1; }
    char *d = tpl_alloc(P->A, (end - i) * 2 + 8);
    if (!d) { perr(P, line0, "out of memory"); return -1; }
    size_t o = 0;
    while (i < end) {
        char c = P->src[i];
        if (c != '\\') { d[o++] = c; i++; continue; }
        char e = P->src[i + 1];
        i += 2;
        switch (e) {
        case 'n': d[o++] = '\n'; break;
        case 't': d[o++] = '\t'; break;
        case 'r': d[o++] = '\r'; break;
        case '\\': d[o++] = '\\'; break;
        case '\'': d[o++] = '\''; break;
        case '"': d[o++] = '"'; break;
        case 'a': d[o++] = '\a'; break;
        case 'b': d[o++] = '\b'; break;
        case 'f': d[o++] = '\f'; break;
        case 'v': d[o++] = '\v'; break;
        case '0': d[o++] = '\0'; break;
        case '\n': break; /* line continuation */
        case 'x': case 'u': case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            int64_t v = i + (size_t)nd <= end ? hexval(P->src + i, nd) : -1;
            if (v < 0) { perr(P, P->line, "bad \\%c escape in a string literal", e); return -1; }
            i += (size_t)nd;
            o += put_utf8(d + o, (uint32_t)v);
            break;
        }
        default: d[o++] = '\\'; d[o++] = e; break;
        }
    }
    d[o] = 0;
    tpl_tok t = {.kind = K_STRING, .line = line0, .s = d, .n = o};
    P->line += count_lines(P->src + P->pos, end + 1 - P->pos);
    P->pos = end + 1;
    return push_tok(P, t);
}

/* Contract: lexes the inside of a "{{" (var = 1) or "{%" tag up to and
 * including its end; sets *strip_after when it ends with "-", *no_trim
 * with "+". Returns 0 or -1. */
static int lex_tag(lexer *P, int var, int open_line, int *strip_after, int *no_trim) {
    char closers[TPL_MAX_DEPTH]; /* closers expected for the open ( [ { */
    int depth = 0;
    char endc = var ? '}' : '%';
    for (;;) {
        while (P->pos < P->len && is_ws(P->src[P->pos])) P->line += P->src[P->pos++] == '\n';
        if (P->pos >= P->len) {
            if (depth)
                perr(P, open_line, "unclosed '%c' in a '%s' tag (expected '%c')", closers[depth - 1] == ')' ? '('
                     : closers[depth - 1] == ']' ? '[' : '{', var ? "{{" : "{%", closers[depth - 1]);
            else
                perr(P, open_line, "unclosed '%s' tag (no matching '%s')", var ? "{{" : "{%", var ? "}}" : "%}");
            return -1;
        }
        const char *s = P->src + P->pos;
        size_t left = P->len - P->pos;
        if (depth == 0) {
            size_t k = (s[0] == '-' || s[0] == '+') ? 1 : 0;
            if (left >= k + 2 && s[k] == endc && s[k + 1] == '}') {
                *strip_after = s[0] == '-';
                *no_trim = s[0] == '+';
                P->pos += k + 2;
                tpl_tok t = {.kind = var ? K_VAR_END : K_BLOCK_END, .line = P->line};
                return push_tok(P, t);
            }
        }
        char c = s[0];
        tpl_tok t = {.line = P->line};
        if (is_name0(c)) {
            size_t n = 1;
            while (n < left && (is_name0(s[n]) || is_digit(s[n]))) n++;
            t.kind = K_NAME;
            t.s = s;
            t.n = n;
            P->pos += n;
        } else if (is_digit(c)) {
            size_t n = 0;
            int isf = 0;
            while (n < left && (is_digit(s[n]) || s[n] == '_')) n++;
            if (n + 1 < left && s[n] == '.' && is_digit(s[n + 1])) {
                isf = 1;
                n++;
                while (n < left && (is_digit(s[n]) || s[n] == '_')) n++;
            }
            if (n < left && (s[n] == 'e' || s[n] == 'E')) {
                size_t m = n + 1;
                if (m < left && (s[m] == '+' || s[m] == '-')) m++;
                if (m < left && is_digit(s[m])) {
                    isf = 1;
                    n = m;
                    while (n < left && is_digit(s[n])) n++;
                }
            }
            char buf[64];
            size_t bl = 0;
            for (size_t k = 0; k < n && bl < sizeof buf - 1; k++)
                if (s[k] != '_') buf[bl++] = s[k];
            buf[bl] = 0;
            errno = 0;
            if (isf) {
                t.kind = K_FLOAT;
                t.f = strtod(buf, NULL);
            } else {
                t.kind = K_INT;
                t.i = strtoll(buf, NULL, 10);
                if (errno || n >= sizeof buf - 1) { perr(P, P->line, "integer literal %s is too large", buf); return -1; }
            }
            P->pos += n;
        } else if (c == '\'' || c == '"') {
            if (lex_string(P)) return -1;
            continue;
        } else {
            static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">="};
            t.kind = K_OP;
            size_t n = 0;
            for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
                if (left >= 2 && s[0] == ops2[k][0] && s[1] == ops2[k][1]) n = 2;
            if (!n && strchr("+-*/%~<>=()[]{},.:|", c) && c) n = 1;
            if (!n) {
                if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
                    perr(P, P->line, "unexpected byte 0x%02x inside a tag", (unsigned char)c);
                else
                    perr(P, P->line, "unexpected character '%c' inside a tag", c);
                return -1;
            }
            memcpy(t.op, s, n);
            t.op[n] = 0;
            if (c == '(' || c == '[' || c == '{') {
                if (depth == TPL_MAX_DEPTH) { perr(P, P->line, "brackets nested too deeply"); return -1; }
                closers[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
            } else if (c == ')' || c == ']' || c == '}') {
                if (depth == 0 || closers[depth - 1] != c) {
                    if (depth) perr(P, P->line, "unexpected '%c', expected '%c'", c, closers[depth - 1]);
                    else perr(P, P->line, "unexpected '%c'", c);
                    return -1;
                }
                depth--;
            }
            P->pos += n;
        }
        if (push_tok(P, t)) return -1;
    }
}

/* Contract: turns the whole source into tokens, applying the whitespace
 * rules described at the top of this file. */
static int lex_all(lexer *P) {
    int strip_next = 0, trim_next = 0;
    while (P->pos <= P->len) {
        /* the text up to the next tag */
        size_t start = P->pos, tag = P->len;
        for (size_t k = start; k + 1 < P->len; k++)
            if (P->src[k] == '{' && (P->src[k + 1] == '{' || P->src[k + 1] == '%' || P->src[k + 1] == '#')) {
                tag = k;
                break;
            }
        size_t a = start, b = tag;
        if (strip_next) while (a < b && is_ws(P->src[a])) a++;
        else if (trim_next && a < b && P->src[a] == '\n') a++;
        char kind = tag < P->len ? P->src[tag + 1] : 0;
        char mod = tag + 2 < P->len ? P->src[tag + 2] : 0;
        if (tag < P->len && mod == '-') {
            while (b > a && is_ws(P->src[b - 1])) b--;
        } else if (tag < P->len && (kind == '%' || kind == '#') && mod != '+') {
            size_t lp = b;
            while (lp > a && (P->src[lp - 1] == ' ' || P->src[lp - 1] == '\t')) lp--;
            int line_start = lp == 0 || P->src[lp - 1] == '\n';
            if (line_start) b = lp;
        }
        int text_line = P->line + count_lines(P->src + start, a - start);
        P->line += count_lines(P->src + start, tag - start);
        if (b > a) {
            tpl_tok t = {.kind = K_TEXT, .line = text_line, .s = P->src + a, .n = b - a};
            if (push_tok(P, t)) return -1;
        }
        if (tag >= P->len) break;
        int open_line = P->line;
        P->pos = tag + 2 + (mod == '-' || (mod == '+' && kind != '{'));
        strip_next = trim_next = 0;
        if (kind == '#') {
            size_t e = P->pos;
            while (e + 1 < P->len && !(P->src[e] == '#' && P->src[e + 1] == '}')) e++;
            if (e + 1 >= P->len) { perr(P, open_line, "unclosed comment '{#' (no matching '#}')"); return -1; }
            char pm = e > P->pos ? P->src[e - 1] : 0;
            strip_next = pm == '-';
            trim_next = pm != '-' && pm != '+';
            P->line += count_lines(P->src + P->pos, e - P->pos);
            P->pos = e + 2;
            continue;
        }
        int var = kind == '{', strip_after = 0, no_trim = 0;
        tpl_tok t = {.kind = var ? K_VAR_BEGIN : K_BLOCK_BEGIN, .line = open_line};
        if (push_tok(P, t) || lex_tag(P, var, open_line, &strip_after, &no_trim)) return -1;
        strip_next = strip_after;
        trim_next = !var && !strip_after && !no_trim;
    }
    tpl_tok t = {.kind = K_EOF, .line = P->line};
    return push_tok(P, t);
}

/* ======================================================================== */
/* Entry point                                                               */
/* ======================================================================== */

/* Contract: see template_impl.h. */
int tpl_lex(const char *name, const char *src, size_t len, tpl_arena *A, tpl_tok **toks, size_t *ntoks,
            trit_error *err) {
    lexer L = {.name = name, .A = A, .err = err, .src = src, .len = len, .line = 1};
    int rc = lex_all(&L);
    if (rc || L.failed) {
        free(L.toks);
        *toks = NULL;
        *ntoks = 0;
        return -1;
    }
    *toks = L.toks;
    *ntoks = L.n;
    return 0;
}
