/*
 * template_builtins.c - chat templates, part 5: the filters, tests, string
 * and dict methods and global functions that templates may use, plus
 * tojson (as transformers defines it: json.dumps with ensure_ascii=False,
 * optional indent and sort_keys) and the UTF-8 helpers.
 *
 * Every builtin takes its arguments as Python would (positional, then by
 * keyword) and fails with a message naming itself on bad arguments.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "text/template_impl.h"

#define TPL_MAX_RANGE 1000000   /* items of one range() */

/* ======================================================================== */
/* UTF-8                                                                     */
/* ======================================================================== */

/* Contract: decodes the code point at s[0..n) (n >= 1) into *cp and
 * returns its length; an invalid or truncated sequence is one byte,
 * U+FFFD. */
static size_t utf8_next(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 1) { *cp = c; return 1; }
    if (len == 0 || len > n) { *cp = 0xFFFD; return 1; }
    uint32_t v = c & (0x7F >> len);
    for (size_t k = 1; k < len; k++) {
        if ((u[k] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        v = (v << 6) | (u[k] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = 0xFFFD; return 1; }
    *cp = v;
    return len;
}

/* Contract: see template_impl.h. */
size_t tpl_utf8_count(const char *s, size_t n) {
    size_t k = 0, i = 0;
    uint32_t cp;
    while (i < n) {
        i += utf8_next(s + i, n - i, &cp);
        k++;
    }
    return k;
}

/* Contract: see template_impl.h. */
size_t tpl_utf8_offset(const char *s, size_t n, size_t cp_index) {
    size_t i = 0;
    uint32_t cp;
    while (i < n && cp_index--) i += utf8_next(s + i, n - i, &cp);
    return i;
}

/* Contract: 1 when cp is whitespace for Python's str.isspace(). */
static int py_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

/* Contract: 1 when code point cp occurs in the UTF-8 string set[0..n). */
static int in_set(uint32_t cp, const char *set, size_t n) {
    size_t i = 0;
    uint32_t c;
    while (i < n) {
        i += utf8_next(set + i, n - i, &c);
        if (c == cp) return 1;
    }
    return 0;
}

/* Contract: the last code point ending at s[n] (n > 0): its start offset. */
static size_t utf8_prev(const char *s, size_t n) {
    size_t i = n - 1;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    uint32_t cp;
    if (i + utf8_next(s + i, n - i, &cp) != n) i = n - 1; /* not one sequence: the byte alone */
    return i;
}

/* ======================================================================== */
/* Argument helpers                                                          */
/* ======================================================================== */

/* Contract: see template_impl.h; i = (size_t)-1 looks up the keyword only. */
const tpl_value *tpl_arg(const tpl_args *a, size_t i, const char *kw) {
    if (i < a->n) return &a->pos[i];
    if (kw)
        for (size_t k = 0; k < a->nkw; k++)
            if (a->kwl[k] == strlen(kw) && !memcmp(a->kwn[k], kw, a->kwl[k])) return &a->kw[k];
    return NULL;
}

/* Contract: fails unless at most max positional arguments were given and
 * every keyword is one of the NULL-terminated list kws. */
static int check_args(tpl_rt *rt, int line, const char *what, const tpl_args *a, size_t max, const char *const *kws) {
    if (a->n > max) return tpl_fail(rt, line, "%s takes at most %zu arguments, %zu given", what, max, a->n);
    for (size_t k = 0; k < a->nkw; k++) {
        int ok = 0;
        for (size_t j = 0; kws && kws[j] && !ok; j++) ok = strlen(kws[j]) == a->kwl[k] && !memcmp(kws[j], a->kwn[k], a->kwl[k]);
        if (!ok) return tpl_fail(rt, line, "%s has no argument '%s'", what, a->kwn[k]);
    }
    return 0;
}

/* Contract: string argument (NULL when absent; fails when it is not a
 * string and not none). */
static int str_arg(tpl_rt *rt, int line, const char *what, const tpl_args *a, size_t i, const char *kw,
                   const tpl_value **out) {
    *out = NULL;
    const tpl_value *v = tpl_arg(a, i, kw);
    if (v && v->type == TV_NONE) v = NULL;
    if (v && v->type != TV_STR)
        return tpl_fail(rt, line, "%s: argument %s must be a string, not a '%s'", what, kw ? kw : "", tpl_type_name(*v));
    *out = v;
    return 0;
}

/* Contract: integer argument with a default. */
static int int_arg(tpl_rt *rt, int line, const char *what, const tpl_args *a, size_t i, const char *kw, int64_t def,
                   int64_t *out) {
    const tpl_value *v = tpl_arg(a, i, kw);
    *out = def;
    if (!v || v->type == TV_NONE) return 0;
    if (v->type == TV_INT) *out = v->u.i;
    else if (v->type == TV_BOOL) *out = v->u.b;
    else return tpl_fail(rt, line, "%s: argument %s must be an integer, not a '%s'", what, kw ? kw : "", tpl_type_name(*v));
    return 0;
}

/* Contract: x as a string value (str(x); undefined gives ""). */
static int as_str(tpl_rt *rt, int line, tpl_value x, tpl_value *out) { return tpl_to_string(rt, line, x, out); }

/* Contract: l as a list value (a tuple when tuple = 1). */
static tpl_value list_val(tpl_list *l, int tuple) {
    tpl_value v = {.type = TV_LIST};
    v.ns = (uint8_t)tuple;
    v.u.list = l;
    return v;
}

/* ======================================================================== */
/* String operations                                                         */
/* ======================================================================== */

/* Contract: strips (left / right) code points in chars (NULL: Python
 * whitespace) from s; the result refers into s. */
static tpl_value strip(tpl_value s, const tpl_value *chars, int left, int right) {
    const char *p = s.u.s.s;
    size_t a = 0, b = s.u.s.n;
    uint32_t cp;
    while (left && a < b) {
        size_t l = utf8_next(p + a, b - a, &cp);
        if (!(chars ? in_set(cp, chars->u.s.s, chars->u.s.n) : py_space(cp))) break;
        a += l;
    }
    while (right && b > a) {
        size_t st = utf8_prev(p + a, b - a) + a;
        utf8_next(p + st, b - st, &cp);
        if (!(chars ? in_set(cp, chars->u.s.s, chars->u.s.n) : py_space(cp))) break;
        b = st;
    }
    return tpl_strv(p + a, b - a);
}

/* Contract: a case-changed copy of s (ASCII letters only): mode 'u'
 * upper, 'l' lower, 'c' capitalize (first upper, rest lower), 't'
 * Python's str.title() (upper after anything but a letter; non-ASCII
 * bytes count as letters), 'T' Jinja's title filter (upper at the start
 * and after - ( { [ < or whitespace). */
static int change_case(tpl_rt *rt, int line, tpl_value s, char mode, tpl_value *out) {
    char *d = tpl_str_alloc(rt, line, s.u.s.s, s.u.s.n);
    if (!d) return -1;
    int boundary = 1;
    for (size_t i = 0; i < s.u.s.n; i++) {
        char c = d[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int up = mode == 'u' || (mode == 'c' && i == 0) || ((mode == 't' || mode == 'T') && boundary);
        if (alpha) d[i] = up ? (char)(c & ~0x20) : (char)(c | 0x20);
        if (mode == 't') boundary = !alpha && (unsigned char)c < 0x80;
        else if (mode == 'T') boundary = c && strchr("-({[< \t\n\r\f\v", c) != NULL;
    }
    *out = tpl_strv(d, s.u.s.n);
    return 0;
}

/* Contract: s with occurrences of old replaced by new (at most count when
 * count >= 0; an empty old inserts between characters, as Python). */
static int replace(tpl_rt *rt, int line, tpl_value s, tpl_value old, tpl_value nw, int64_t count, tpl_value *out) {
    tpl_buf b = {0};
    size_t i = 0;
    int64_t done = 0;
    const char *p = s.u.s.s;
    size_t n = s.u.s.n, on = old.u.s.n;
    int rc = 0;
    if (on == 0) {
        while (!rc && (count < 0 || done < count) && i <= n) {
            rc = tpl_buf_put(rt, line, &b, nw.u.s.s, nw.u.s.n);
            done++;
            if (i == n) { i++; break; }
            size_t l = tpl_utf8_offset(p + i, n - i, 1);
            if (!rc) rc = tpl_buf_put(rt, line, &b, p + i, l);
            i += l;
        }
        if (!rc && i < n) rc = tpl_buf_put(rt, line, &b, p + i, n - i);
    } else {
        while (!rc) {
            const char *hit = (count < 0 || done < count) && i + on <= n ? memmem(p + i, n - i, old.u.s.s, on) : NULL;
            if (!hit) { rc = tpl_buf_put(rt, line, &b, p + i, n - i); break; }
            size_t h = (size_t)(hit - p);
            rc = tpl_buf_put(rt, line, &b, p + i, h - i) || tpl_buf_put(rt, line, &b, nw.u.s.s, nw.u.s.n);
            i = h + on;
            done++;
        }
    }
    char *d = rc ? NULL : tpl_str_alloc(rt, line, b.s, b.n);
    size_t len = b.n;
    free(b.s);
    if (!d) return -1;
    *out = tpl_strv(d, len);
    return 0;
}

/* Contract: Python str.split(sep, maxsplit) into a list of strings that
 * refer into s. */
static int split(tpl_rt *rt, int line, tpl_value s, const tpl_value *sep, int64_t maxsplit, tpl_value *out) {
    tpl_list *l = tpl_list_new(rt, line, 0);
    if (!l) return -1;
    const char *p = s.u.s.s;
    size_t n = s.u.s.n, i = 0;
    uint32_t cp;
    int64_t done = 0;
    if (!sep) {
        for (;;) {
            while (i < n) { size_t k = utf8_next(p + i, n - i, &cp); if (!py_space(cp)) break; i += k; }
            if (i >= n) break;
            size_t j = i;
            if (maxsplit >= 0 && done >= maxsplit) {
                tpl_value rest = strip(tpl_strv(p + i, n - i), NULL, 0, 1);
                if (tpl_list_push(rt, line, l, rest)) return -1;
                break;
            }
            while (j < n) { size_t k = utf8_next(p + j, n - j, &cp); if (py_space(cp)) break; j += k; }
            if (tpl_list_push(rt, line, l, tpl_strv(p + i, j - i))) return -1;
            done++;
            i = j;
        }
    } else {
        if (sep->u.s.n == 0) return tpl_fail(rt, line, "split: empty separator");
        for (;;) {
            const char *hit = (maxsplit < 0 || done < maxsplit) && i + sep->u.s.n <= n
                                  ? memmem(p + i, n - i, sep->u.s.s, sep->u.s.n) : NULL;
            if (!hit) { if (tpl_list_push(rt, line, l, tpl_strv(p + i, n - i))) return -1; break; }
            size_t h = (size_t)(hit - p);
            if (tpl_list_push(rt, line, l, tpl_strv(p + i, h - i))) return -1;
            i = h + sep->u.s.n;
            done++;
        }
    }
    *out = list_val(l, 0);
    return 0;
}

/* Contract: str(item) for each item (or item[attribute]) joined by sep. */
static int join(tpl_rt *rt, int line, tpl_value seq, tpl_value sep, const tpl_value *attr, tpl_value *out) {
    tpl_list *items;
    if (tpl_iterate(rt, line, seq, &items)) return -1;
    tpl_buf b = {0};
    int rc = 0;
    for (size_t i = 0; i < items->n && !rc; i++) {
        tpl_value it = items->items[i];
        if (attr && it.type == TV_DICT) {
            const tpl_value *v = tpl_dict_getv(it.u.dict, *attr);
            it = v ? *v : tpl_undef("attribute", 9);
        }
        rc = (i && tpl_buf_put(rt, line, &b, sep.u.s.s, sep.u.s.n)) || tpl_str_of(rt, line, it, &b) ? -1 : 0;
    }
    char *d = rc ? NULL : tpl_str_alloc(rt, line, b.s, b.n);
    size_t len = b.n;
    free(b.s);
    if (!d) return -1;
    *out = tpl_strv(d, len);
    return 0;
}

/* ======================================================================== */
/* tojson                                                                    */
/* ======================================================================== */

/* Contract: appends s as a JSON string (json.dumps escapes; ascii = 1 also
 * escapes non-ASCII as \uXXXX with surrogate pairs). */
static int json_string(tpl_rt *rt, int line, const char *s, size_t n, int ascii, tpl_buf *b) {
    if (tpl_buf_put(rt, line, b, "\"", 1)) return -1;
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        size_t el = 0, len = 1;
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; el = 2; }
        else if (c == '\n') { memcpy(esc, "\\n", 2); el = 2; }
        else if (c == '\r') { memcpy(esc, "\\r", 2); el = 2; }
        else if (c == '\t') { memcpy(esc, "\\t", 2); el = 2; }
        else if (c == '\b') { memcpy(esc, "\\b", 2); el = 2; }
        else if (c == '\f') { memcpy(esc, "\\f", 2); el = 2; }
        else if (c < 0x20 || (ascii && c == 0x7f)) el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        else if (ascii && c >= 0x80) {
            uint32_t cp;
            len = utf8_next(s + i, n - i, &cp);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                el = (size_t)snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", cp);
            }
        }
        if (el) {
            if (tpl_buf_put(rt, line, b, s + run, i - run) || tpl_buf_put(rt, line, b, esc, el)) return -1;
            run = i + len;
        }
        i += len;
    }
    if (tpl_buf_put(rt, line, b, s + run, n - run)) return -1;
    return tpl_buf_put(rt, line, b, "\"", 1);
}

typedef struct {
    const char *indent;   /* NULL: one line */
    size_t indent_len;
    int ascii, sort_keys, depth;
} json_opts;

/* Contract: newline + indentation for nesting level lvl. */
static int json_nl(tpl_rt *rt, int line, const json_opts *o, int lvl, tpl_buf *b) {
    if (tpl_buf_put(rt, line, b, "\n", 1)) return -1;
    for (int k = 0; k < lvl; k++)
        if (tpl_buf_put(rt, line, b, o->indent, o->indent_len)) return -1;
    return 0;
}

/* Contract: appends json.dumps(v) to b. */
static int json_dump(tpl_rt *rt, int line, tpl_value v, const json_opts *o, int lvl, tpl_buf *b) {
    char tmp[64];
    if (lvl > TPL_MAX_DEPTH) return tpl_fail(rt, line, "tojson: value nested too deeply");
    switch (v.type) {
    case TV_NONE: return tpl_buf_put(rt, line, b, "null", 4);
    case TV_BOOL: return tpl_buf_put(rt, line, b, v.u.b ? "true" : "false", v.u.b ? 4 : 5);
    case TV_INT: case TV_FLOAT:
        if (v.type == TV_FLOAT && (isnan(v.u.f) || isinf(v.u.f)))
            return tpl_buf_put(rt, line, b, isnan(v.u.f) ? "NaN" : v.u.f < 0 ? "-Infinity" : "Infinity",
                               isnan(v.u.f) ? 3 : v.u.f < 0 ? 9 : 8);
        return tpl_str_of(rt, line, v, b);
    case TV_STR: return json_string(rt, line, v.u.s.s, v.u.s.n, o->ascii, b);
    case TV_LIST: {
        const tpl_list *l = v.u.list;
        if (!l->n) return tpl_buf_put(rt, line, b, "[]", 2);
        if (tpl_buf_put(rt, line, b, "[", 1)) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i && tpl_buf_put(rt, line, b, o->indent ? "," : ", ", o->indent ? 1 : 2)) return -1;
            if (o->indent && json_nl(rt, line, o, lvl + 1, b)) return -1;
            if (json_dump(rt, line, l->items[i], o, lvl + 1, b)) return -1;
        }
        if (o->indent && json_nl(rt, line, o, lvl, b)) return -1;
        return tpl_buf_put(rt, line, b, "]", 1);
    }
    case TV_DICT: {
        if (v.ns) break;
        const tpl_dict *d = v.u.dict;
        if (!d->n) return tpl_buf_put(rt, line, b, "{}", 2);
        size_t *ord = tpl_alloc(&rt->A, d->n * sizeof *ord);
        if (!ord) return tpl_fail(rt, line, "out of memory");
        for (size_t i = 0; i < d->n; i++) ord[i] = i;
        if (o->sort_keys) /* insertion sort: dicts in templates are small */
            for (size_t i = 1; i < d->n; i++)
                for (size_t j = i; j > 0; j--) {
                    int c;
                    if (tpl_compare(rt, line, d->keys[ord[j - 1]], d->keys[ord[j]], &c)) return -1;
                    if (c <= 0) break;
                    size_t t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
                }
        if (tpl_buf_put(rt, line, b, "{", 1)) return -1;
        for (size_t i = 0; i < d->n; i++) {
            tpl_value k = d->keys[ord[i]];
            if (i && tpl_buf_put(rt, line, b, o->indent ? "," : ", ", o->indent ? 1 : 2)) return -1;
            if (o->indent && json_nl(rt, line, o, lvl + 1, b)) return -1;
            if (k.type == TV_STR) {
                if (json_string(rt, line, k.u.s.s, k.u.s.n, o->ascii, b)) return -1;
            } else if (k.type == TV_INT || k.type == TV_FLOAT || k.type == TV_BOOL || k.type == TV_NONE) {
                tpl_buf kb = {0};
                int rc = k.type == TV_BOOL ? tpl_buf_put(rt, line, &kb, k.u.b ? "true" : "false", k.u.b ? 4 : 5)
                       : k.type == TV_NONE ? tpl_buf_put(rt, line, &kb, "null", 4) : tpl_str_of(rt, line, k, &kb);
                rc = rc || json_string(rt, line, kb.s, kb.n, 0, b);
                free(kb.s);
                if (rc) return -1;
            } else {
                return tpl_fail(rt, line, "tojson: keys must be str, int, float, bool or None, not '%s'",
                                tpl_type_name(k));
            }
            if (tpl_buf_put(rt, line, b, ": ", 2) || json_dump(rt, line, d->vals[ord[i]], o, lvl + 1, b)) return -1;
        }
        if (o->indent && json_nl(rt, line, o, lvl, b)) return -1;
        return tpl_buf_put(rt, line, b, "}", 1);
    }
    default: break;
    }
    snprintf(tmp, sizeof tmp, "%s", tpl_type_name(v));
    return tpl_fail(rt, line, "tojson: a '%s' is not JSON serializable", tmp);
}

/* ======================================================================== */
/* Filters                                                                   */
/* ======================================================================== */

typedef int (*filter_fn)(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out);

/* Filters: each gets the value x and the call's arguments a, and writes
 * its result to *out; 0 or -1 after tpl_fail. */

/* Contract: trim(chars=None): strip Python whitespace (or chars) at both ends of str(x). */
static int f_trim(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"chars", NULL};
    const tpl_value *chars;
    if (check_args(rt, line, "trim", a, 1, kw) || str_arg(rt, line, "trim", a, 0, "chars", &chars) ||
        as_str(rt, line, x, &x))
        return -1;
    *out = strip(x, chars, 1, 1);
    return 0;
}

/* Contract: length / count: code points of a string, items of a list or dict; 0 for undefined. */
static int f_length(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    if (check_args(rt, line, "length", a, 0, NULL)) return -1;
    switch (x.type) {
    case TV_STR: *out = tpl_int((int64_t)tpl_utf8_count(x.u.s.s, x.u.s.n)); return 0;
    case TV_LIST: *out = tpl_int((int64_t)x.u.list->n); return 0;
    case TV_DICT:
        if (x.ns == 2) { *out = *tpl_dict_get(x.u.dict, "length", 6); return 0; }
        if (x.ns) break;
        *out = tpl_int((int64_t)x.u.dict->n);
        return 0;
    case TV_UNDEF: *out = tpl_int(0); return 0;
    default: break;
    }
    return tpl_fail(rt, line, "length: a '%s' has no length", tpl_type_name(x));
}

/* Contract: shared body of the case filters (mode as change_case). */
static int case_filter(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out, char mode) {
    if (check_args(rt, line, "case filter", a, 0, NULL) || as_str(rt, line, x, &x)) return -1;
    return change_case(rt, line, x, mode, out);
}
/* Contract: upper, lower, capitalize, title of str(x) (ASCII letters; title as Jinja's filter). */
static int f_upper(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return case_filter(rt, line, x, a, out, 'u'); }
static int f_lower(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return case_filter(rt, line, x, a, out, 'l'); }
static int f_capitalize(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return case_filter(rt, line, x, a, out, 'c'); }
static int f_title(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return case_filter(rt, line, x, a, out, 'T'); }

/* Contract: default(value='', boolean=false): value when x is undefined (or falsy with boolean). */
static int f_default(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"default_value", "boolean", NULL};
    if (check_args(rt, line, "default", a, 2, kw)) return -1;
    const tpl_value *d = tpl_arg(a, 0, "default_value"), *bo = tpl_arg(a, 1, "boolean");
    int use = x.type == TV_UNDEF || (bo && tpl_truthy(*bo) && !tpl_truthy(x));
    *out = use ? (d ? *d : tpl_strv("", 0)) : x;
    return 0;
}

/* Contract: tojson(indent=None, ensure_ascii=False, sort_keys=False) as transformers' tojson. */
static int f_tojson(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"indent", "ensure_ascii", "sort_keys", "separators", NULL};
    if (check_args(rt, line, "tojson", a, 1, kw)) return -1;
    if (tpl_arg(a, (size_t)-1, "separators")) return tpl_fail(rt, line, "tojson: separators= is not supported");
    json_opts o = {0};
    const tpl_value *ind = tpl_arg(a, 0, "indent"), *asc = tpl_arg(a, (size_t)-1, "ensure_ascii"),
                    *sk = tpl_arg(a, (size_t)-1, "sort_keys");
    char spaces[65];
    if (ind && ind->type == TV_INT) {
        int64_t k = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : ind->u.i;
        memset(spaces, ' ', (size_t)k);
        spaces[k] = 0;
        o.indent = spaces;
        o.indent_len = (size_t)k;
    } else if (ind && ind->type == TV_STR) {
        o.indent = ind->u.s.s;
        o.indent_len = ind->u.s.n;
    } else if (ind && ind->type != TV_NONE) {
        return tpl_fail(rt, line, "tojson: indent must be an integer or a string");
    }
    o.ascii = asc && tpl_truthy(*asc);
    o.sort_keys = sk && tpl_truthy(*sk);
    tpl_buf b = {0};
    int rc = json_dump(rt, line, x, &o, 0, &b);
    char *d = rc ? NULL : tpl_str_alloc(rt, line, b.s, b.n);
    size_t n = b.n;
    free(b.s);
    if (!d) return -1;
    *out = tpl_strv(d, n);
    return 0;
}

/* Contract: string: str(x). */
static int f_string(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    if (check_args(rt, line, "string", a, 0, NULL)) return -1;
    return as_str(rt, line, x, out);
}

/* Contract: int(default=0, base=10): x as an integer (floats truncate, strings parse), else default. */
static int f_int(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"default", "base", NULL};
    int64_t def, base;
    if (check_args(rt, line, "int", a, 2, kw) || int_arg(rt, line, "int", a, 0, "default", 0, &def) ||
        int_arg(rt, line, "int", a, 1, "base", 10, &base))
        return -1;
    *out = tpl_int(def);
    if (x.type == TV_INT || x.type == TV_BOOL) *out = tpl_int(x.type == TV_INT ? x.u.i : x.u.b);
    else if (x.type == TV_FLOAT && x.u.f == x.u.f && fabs(x.u.f) < 9.2e18) *out = tpl_int((int64_t)x.u.f);
    else if (x.type == TV_STR && x.u.s.n < 64 && base >= 2 && base <= 36) {
        char buf[64], *end;
        memcpy(buf, x.u.s.s, x.u.s.n);
        buf[x.u.s.n] = 0;
        errno = 0;
        long long v = strtoll(buf, &end, (int)base);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (end != buf && !*end && !errno) *out = tpl_int(v);
        else {
            double f = strtod(buf, &end);
            while (*end == ' ' || *end == '\t' || *end == '\n') end++;
            if (end != buf && !*end && f == f && fabs(f) < 9.2e18) *out = tpl_int((int64_t)f);
        }
    }
    return 0;
}

/* Contract: float(default=0.0): x as a float, else default. */
static int f_float(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"default", NULL};
    if (check_args(rt, line, "float", a, 1, kw)) return -1;
    const tpl_value *d = tpl_arg(a, 0, "default");
    *out = d ? *d : tpl_float(0);
    if (x.type == TV_INT || x.type == TV_BOOL || x.type == TV_FLOAT)
        *out = tpl_float(x.type == TV_FLOAT ? x.u.f : x.type == TV_INT ? (double)x.u.i : x.u.b);
    else if (x.type == TV_STR && x.u.s.n < 64) {
        char buf[64], *end;
        memcpy(buf, x.u.s.s, x.u.s.n);
        buf[x.u.s.n] = 0;
        double f = strtod(buf, &end);
        if (end != buf && !*end) *out = tpl_float(f);
    }
    return 0;
}

/* Contract: list: the items of an iterable. */
static int f_list(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    tpl_list *l;
    if (check_args(rt, line, "list", a, 0, NULL) || tpl_iterate(rt, line, x, &l)) return -1;
    *out = list_val(l, 0);
    return 0;
}

/* Contract: first (last = 0) or last item of a sequence; undefined when
 * empty. */
static int first_last(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out, int last) {
    tpl_list *l;
    if (check_args(rt, line, last ? "last" : "first", a, 0, NULL) || tpl_iterate(rt, line, x, &l)) return -1;
    *out = l->n ? l->items[last ? l->n - 1 : 0] : tpl_undef(last ? "last" : "first", last ? 4 : 5);
    return 0;
}
/* Contract: first / last item (undefined when empty). */
static int f_first(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return first_last(rt, line, x, a, out, 0); }
static int f_last(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return first_last(rt, line, x, a, out, 1); }

/* Contract: join(d='', attribute=None): str() of the items joined by d. */
static int f_join(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"d", "attribute", NULL};
    const tpl_value *sep;
    if (check_args(rt, line, "join", a, 2, kw) || str_arg(rt, line, "join", a, 0, "d", &sep)) return -1;
    return join(rt, line, x, sep ? *sep : tpl_strv("", 0), tpl_arg(a, 1, "attribute"), out);
}

/* Contract: (key, value) tuples of a dict. */
static int dict_items(tpl_rt *rt, int line, tpl_value x, tpl_value *out) {
    if (x.type == TV_UNDEF) { tpl_list *l = tpl_list_new(rt, line, 0); if (!l) return -1; *out = list_val(l, 0); return 0; }
    if (x.type != TV_DICT) return tpl_fail(rt, line, "items: a '%s' is not a dict", tpl_type_name(x));
    tpl_list *l = tpl_list_new(rt, line, x.u.dict->n);
    if (!l) return -1;
    for (size_t i = 0; i < x.u.dict->n; i++) {
        tpl_list *p = tpl_list_new(rt, line, 2);
        if (!p) return -1;
        p->items[0] = x.u.dict->keys[i];
        p->items[1] = x.u.dict->vals[i];
        p->n = 2;
        l->items[l->n++] = list_val(p, 1);
    }
    *out = list_val(l, 0);
    return 0;
}

/* Contract: items: (key, value) tuples of a dict (none for undefined). */
static int f_items(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    if (check_args(rt, line, "items", a, 0, NULL)) return -1;
    return dict_items(rt, line, x, out);
}

/* Contract: replace(old, new, count=None) on str(x). */
static int f_replace(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"old", "new", "count", NULL};
    const tpl_value *o, *nw;
    int64_t count;
    if (check_args(rt, line, "replace", a, 3, kw) || str_arg(rt, line, "replace", a, 0, "old", &o) ||
        str_arg(rt, line, "replace", a, 1, "new", &nw) || int_arg(rt, line, "replace", a, 2, "count", -1, &count) ||
        as_str(rt, line, x, &x))
        return -1;
    if (!o || !nw) return tpl_fail(rt, line, "replace needs the old and the new string");
    return replace(rt, line, x, *o, *nw, count, out);
}

/* Contract: safe: x unchanged (no autoescaping in chat templates). */
static int f_safe(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    if (check_args(rt, line, "safe", a, 0, NULL)) return -1;
    *out = x;
    return 0;
}

/* Contract: abs of a number. */
static int f_abs(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    if (check_args(rt, line, "abs", a, 0, NULL)) return -1;
    if (x.type == TV_FLOAT) *out = tpl_float(fabs(x.u.f));
    else if (x.type == TV_INT && x.u.i != INT64_MIN) *out = tpl_int(x.u.i < 0 ? -x.u.i : x.u.i);
    else if (x.type == TV_BOOL) *out = tpl_int(x.u.b);
    else return tpl_fail(rt, line, "abs: bad operand '%s'", tpl_type_name(x));
    return 0;
}

/* Contract: reverse: a reversed list (a reversed string for strings). */
static int f_reverse(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    tpl_list *l;
    if (check_args(rt, line, "reverse", a, 0, NULL) || tpl_iterate(rt, line, x, &l)) return -1;
    tpl_list *r = tpl_list_new(rt, line, l->n);
    if (!r) return -1;
    for (size_t i = l->n; i-- > 0;) r->items[r->n++] = l->items[i];
    if (x.type != TV_STR) { *out = list_val(r, 0); return 0; }
    tpl_value sep = tpl_strv("", 0);
    return join(rt, line, list_val(r, 0), sep, NULL, out);
}

/* Contract: item.attribute, with dotted paths ("a.b") and integer parts. */
static tpl_value attr_path(tpl_value it, tpl_value attr) {
    if (attr.type != TV_STR) {
        if (it.type == TV_DICT) { const tpl_value *v = tpl_dict_getv(it.u.dict, attr); return v ? *v : tpl_undef("attribute", 9); }
        return tpl_undef("attribute", 9);
    }
    const char *p = attr.u.s.s, *e = p + attr.u.s.n;
    while (p <= e) {
        const char *dot = memchr(p, '.', (size_t)(e - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(e - p);
        const tpl_value *v = it.type == TV_DICT ? tpl_dict_get(it.u.dict, p, n) : NULL;
        if (!v && it.type == TV_LIST && n && n < 18 && strspn(p, "0123456789") >= n) {
            size_t k = (size_t)strtoull(p, NULL, 10);
            if (k < it.u.list->n) v = &it.u.list->items[k];
        }
        if (!v) return tpl_undef(p, n);
        it = *v;
        if (!dot) break;
        p = dot + 1;
    }
    return it;
}

/* Contract: map(attribute=..., default=...) or map('filter', args...). */
static int f_map(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    tpl_list *l;
    if (tpl_iterate(rt, line, x, &l)) return -1;
    tpl_list *r = tpl_list_new(rt, line, l->n);
    if (!r) return -1;
    const tpl_value *attr = tpl_arg(a, (size_t)-1, "attribute"), *def = tpl_arg(a, (size_t)-1, "default");
    if (attr) {
        for (size_t i = 0; i < l->n; i++) {
            tpl_value v = attr_path(l->items[i], *attr);
            r->items[r->n++] = v.type == TV_UNDEF && def ? *def : v;
        }
    } else {
        if (!a->n || a->pos[0].type != TV_STR) return tpl_fail(rt, line, "map needs a filter name or attribute=");
        tpl_args rest = *a;
        rest.pos++;
        rest.n--;
        for (size_t i = 0; i < l->n; i++)
            if (tpl_apply_filter(rt, line, a->pos[0], l->items[i], &rest, &r->items[r->n++])) return -1;
    }
    *out = list_val(r, 0);
    return 0;
}

/* Contract: select / reject (by_attr = 0) and selectattr / rejectattr:
 * keeps the items for which the test (truthiness when none is named)
 * is true (keep = 1) or false (keep = 0). */
static int select_items(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out, int by_attr, int keep) {
    tpl_list *l;
    if (tpl_iterate(rt, line, x, &l)) return -1;
    tpl_list *r = tpl_list_new(rt, line, l->n);
    if (!r) return -1;
    size_t k = 0;
    tpl_value attr = tpl_none();
    if (by_attr) {
        if (!a->n) return tpl_fail(rt, line, "selectattr / rejectattr need an attribute name");
        attr = a->pos[k++];
    }
    const tpl_value *test = NULL;
    if (k < a->n) {
        if (a->pos[k].type != TV_STR) return tpl_fail(rt, line, "select: the test name must be a string");
        test = &a->pos[k++];
    }
    tpl_args rest = *a;
    rest.pos += k;
    rest.n -= k;
    for (size_t i = 0; i < l->n; i++) {
        tpl_value v = by_attr ? attr_path(l->items[i], attr) : l->items[i];
        int res;
        if (test) { if (tpl_apply_test(rt, line, *test, v, &rest, &res)) return -1; }
        else res = tpl_truthy(v);
        if (!res == !keep) r->items[r->n++] = l->items[i];
    }
    *out = list_val(r, 0);
    return 0;
}
/* Contract: select / reject (test, args...) and selectattr / rejectattr (attribute, test, args...). */
static int f_select(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return select_items(rt, line, x, a, out, 0, 1); }
static int f_reject(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return select_items(rt, line, x, a, out, 0, 0); }
static int f_selectattr(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return select_items(rt, line, x, a, out, 1, 1); }
static int f_rejectattr(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return select_items(rt, line, x, a, out, 1, 0); }

/* Contract: equality for unique(): strings compare ignoring ASCII case
 * unless case_sensitive. */
static int same_item(tpl_value a, tpl_value b, int case_sensitive) {
    if (case_sensitive || a.type != TV_STR || b.type != TV_STR || a.u.s.n != b.u.s.n) return tpl_equal(a, b);
    for (size_t i = 0; i < a.u.s.n; i++) {
        char x = a.u.s.s[i], y = b.u.s.s[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x | 0x20);
        if (y >= 'A' && y <= 'Z') y = (char)(y | 0x20);
        if (x != y) return 0;
    }
    return 1;
}

/* Contract: unique(case_sensitive=False, attribute=None): items without repeats, first kept. */
static int f_unique(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"case_sensitive", "attribute", NULL};
    tpl_list *l;
    if (check_args(rt, line, "unique", a, 2, kw) || tpl_iterate(rt, line, x, &l)) return -1;
    const tpl_value *cs = tpl_arg(a, 0, "case_sensitive"), *attr = tpl_arg(a, 1, "attribute");
    tpl_list *r = tpl_list_new(rt, line, l->n);
    if (!r) return -1;
    for (size_t i = 0; i < l->n; i++) {
        int seen = 0;
        tpl_value v = attr ? attr_path(l->items[i], *attr) : l->items[i];
        for (size_t j = 0; j < r->n && !seen; j++)
            seen = same_item(attr ? attr_path(r->items[j], *attr) : r->items[j], v, cs && tpl_truthy(*cs));
        if (!seen) r->items[r->n++] = l->items[i];
    }
    *out = list_val(r, 0);
    return 0;
}

/* Contract: min (sign = -1) or max (sign = 1) of a sequence; undefined when empty. */
static int min_max(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out, int sign) {
    tpl_list *l;
    if (check_args(rt, line, sign < 0 ? "min" : "max", a, 0, NULL) || tpl_iterate(rt, line, x, &l)) return -1;
    *out = tpl_undef(sign < 0 ? "min" : "max", 3);
    for (size_t i = 0; i < l->n; i++) {
        int c = 0;
        if (i && tpl_compare(rt, line, l->items[i], *out, &c)) return -1;
        if (!i || c * sign > 0) *out = l->items[i];
    }
    return 0;
}
/* Contract: min / max of the items. */
static int f_min(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return min_max(rt, line, x, a, out, -1); }
static int f_max(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) { return min_max(rt, line, x, a, out, 1); }

/* Contract: sum(attribute=None, start=0) of numbers. */
static int f_sum(tpl_rt *rt, int line, tpl_value x, const tpl_args *a, tpl_value *out) {
    static const char *const kw[] = {"attribute", "start", NULL};
    tpl_list *l;
    if (check_args(rt, line, "sum", a, 2, kw) || tpl_iterate(rt, line, x, &l)) return -1;
    const tpl_value *attr = tpl_arg(a, 0, "attribute"), *start = tpl_arg(a, 1, "start");
    tpl_value acc = start ? *start : tpl_int(0);
    for (size_t i = 0; i < l->n; i++) {
        tpl_value v = attr ? attr_path(l->items[i], *attr) : l->items[i];
        int64_t r;
        if (acc.type == TV_INT && v.type == TV_INT) {
            if (__builtin_add_overflow(acc.u.i, v.u.i, &r)) return tpl_fail(rt, line, "sum: integer overflow");
            acc = tpl_int(r);
        } else if ((acc.type == TV_INT || acc.type == TV_FLOAT) && (v.type == TV_INT || v.type == TV_FLOAT)) {
            acc = tpl_float((acc.type == TV_INT ? (double)acc.u.i : acc.u.f) + (v.type == TV_INT ? (double)v.u.i : v.u.f));
        } else {
            return tpl_fail(rt, line, "sum: cannot add a '%s'", tpl_type_name(v));
        }
    }
    *out = acc;
    return 0;
}

static const struct { const char *name; filter_fn fn; } FILTERS[] = {
    {"trim", f_trim}, {"length", f_length}, {"count", f_length}, {"upper", f_upper}, {"lower", f_lower},
    {"capitalize", f_capitalize}, {"title", f_title}, {"default", f_default}, {"d", f_default},
    {"tojson", f_tojson}, {"string", f_string}, {"int", f_int}, {"float", f_float}, {"list", f_list},
    {"first", f_first}, {"last", f_last}, {"join", f_join}, {"items", f_items}, {"replace", f_replace},
    {"safe", f_safe}, {"abs", f_abs}, {"reverse", f_reverse}, {"map", f_map}, {"select", f_select},
    {"reject", f_reject}, {"selectattr", f_selectattr}, {"rejectattr", f_rejectattr}, {"unique", f_unique},
    {"min", f_min}, {"max", f_max}, {"sum", f_sum},
};
#define N_FILTERS (sizeof FILTERS / sizeof FILTERS[0])

/* ======================================================================== */
/* Tests                                                                     */
/* ======================================================================== */

static const char *const TESTS[] = {
    "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
    "mapping", "iterable", "sequence", "callable", "odd", "even", "divisibleby", "eq", "equalto", "ne",
    "lt", "lessthan", "le", "gt", "greaterthan", "ge", "in", "sameas", "lower", "upper",
};
#define N_TESTS (sizeof TESTS / sizeof TESTS[0])

/* Contract: runs test number idx of TESTS on x (argument in a) into *res. */
static int run_test(tpl_rt *rt, int line, int idx, tpl_value x, const tpl_args *a, int *res) {
    const char *t = TESTS[idx];
    const tpl_value *arg = tpl_arg(a, 0, "value");
    int need_arg = idx >= 16 && idx <= 27;
    if (need_arg && !arg) return tpl_fail(rt, line, "test '%s' needs an argument", t);
    int c;
    switch (idx) {
    case 0: *res = x.type != TV_UNDEF; break;
    case 1: *res = x.type == TV_UNDEF; break;
    case 2: *res = x.type == TV_NONE; break;
    case 3: *res = x.type == TV_STR; break;
    case 4: *res = x.type == TV_INT || x.type == TV_FLOAT || x.type == TV_BOOL; break;
    case 5: *res = x.type == TV_INT; break;
    case 6: *res = x.type == TV_FLOAT; break;
    case 7: *res = x.type == TV_BOOL; break;
    case 8: *res = x.type == TV_BOOL && x.u.b; break;
    case 9: *res = x.type == TV_BOOL && !x.u.b; break;
    case 10: *res = x.type == TV_DICT && !x.ns; break;
    case 11: *res = x.type == TV_LIST || x.type == TV_STR || (x.type == TV_DICT && x.ns != 1); break;
    case 12: *res = x.type == TV_LIST || x.type == TV_STR || (x.type == TV_DICT && !x.ns); break;
    case 13: *res = x.type == TV_FUNC || x.type == TV_MACRO; break;
    case 14: case 15: /* x % 2 == 1 / == 0, floats included */
        if (x.type == TV_FLOAT) {
            double m = fmod(x.u.f, 2.0);
            if (m < 0) m += 2.0;
            *res = idx == 14 ? m == 1.0 : m == 0.0;
            break;
        }
        if (x.type != TV_INT && x.type != TV_BOOL) return tpl_fail(rt, line, "test '%s' needs a number, not a '%s'", t, tpl_type_name(x));
        *res = (int)(((x.type == TV_INT ? x.u.i : x.u.b) & 1) == (idx == 14));
        break;
    case 16: { /* x % n == 0 */
        int xi = x.type == TV_INT || x.type == TV_BOOL, ai = arg->type == TV_INT || arg->type == TV_BOOL;
        if ((!xi && x.type != TV_FLOAT) || (!ai && arg->type != TV_FLOAT))
            return tpl_fail(rt, line, "divisibleby needs numbers, not '%s' and '%s'", tpl_type_name(x), tpl_type_name(*arg));
        if (xi && ai) {
            int64_t xv = x.type == TV_INT ? x.u.i : x.u.b, av = arg->type == TV_INT ? arg->u.i : arg->u.b;
            if (av == 0) return tpl_fail(rt, line, "divisibleby 0");
            *res = av == -1 || xv % av == 0;
        } else {
            double xv = x.type == TV_FLOAT ? x.u.f : (double)(x.type == TV_INT ? x.u.i : x.u.b);
            double av = arg->type == TV_FLOAT ? arg->u.f : (double)(arg->type == TV_INT ? arg->u.i : arg->u.b);
            if (av == 0) return tpl_fail(rt, line, "divisibleby 0");
            *res = fmod(xv, av) == 0;
        }
        break;
    }
    case 17: case 18: *res = tpl_equal(x, *arg); break;
    case 19: *res = !tpl_equal(x, *arg); break;
    case 27: /* sameas: identity; for values without identity, equality of the same type */
        *res = x.type == arg->type && tpl_equal(x, *arg);
        break;
    case 26: {
        if (arg->type == TV_STR) {
            if (x.type != TV_STR) return tpl_fail(rt, line, "test 'in' of a string needs a string");
            *res = x.u.s.n == 0 || (x.u.s.n <= arg->u.s.n && memmem(arg->u.s.s, arg->u.s.n, x.u.s.s, x.u.s.n));
        } else if (arg->type == TV_LIST) {
            *res = 0;
            for (size_t i = 0; i < arg->u.list->n && !*res; i++) *res = tpl_equal(x, arg->u.list->items[i]);
        } else if (arg->type == TV_DICT) {
            *res = tpl_dict_getv(arg->u.dict, x) != NULL;
        } else {
            return tpl_fail(rt, line, "test 'in' needs a sequence, not a '%s'", tpl_type_name(*arg));
        }
        break;
    }
    case 28: case 29: { /* str(x).islower() / isupper(): some cased letter, none of the other case */
        tpl_value s;
        if (as_str(rt, line, x, &s)) return -1;
        int cased = 0, wrong = 0;
        for (size_t i = 0; i < s.u.s.n; i++) {
            char ch = s.u.s.s[i];
            int lo = ch >= 'a' && ch <= 'z', up = ch >= 'A' && ch <= 'Z';
            cased |= lo | up;
            wrong |= idx == 28 ? up : lo;
        }
        *res = cased && !wrong;
        break;
    }
    default: /* 20..25 orderings */
        if (tpl_compare(rt, line, x, *arg, &c)) return -1;
        *res = c == 2 ? 0 : (idx == 20 || idx == 21) ? c < 0 : idx == 22 ? c <= 0 : (idx == 23 || idx == 24) ? c > 0 : c >= 0;
        break;
    }
    return 0;
}

/* ======================================================================== */
/* Methods                                                                   */
/* ======================================================================== */

/* Contract: 1 when the method name m[0..n) equals s. */
static int is_m(const char *m, size_t n, const char *s) { return strlen(s) == n && !memcmp(m, s, n); }

/* Contract: startswith / endswith with a string or a tuple of strings. */
static int affix(tpl_rt *rt, int line, tpl_value s, const tpl_value *arg, int end, int *res) {
    if (!arg) return tpl_fail(rt, line, "%s needs an argument", end ? "endswith" : "startswith");
    *res = 0;
    size_t cnt = arg->type == TV_LIST ? arg->u.list->n : 1;
    for (size_t i = 0; i < cnt && !*res; i++) {
        tpl_value p = arg->type == TV_LIST ? arg->u.list->items[i] : *arg;
        if (p.type != TV_STR) return tpl_fail(rt, line, "%s: expected a string, not a '%s'", end ? "endswith" : "startswith", tpl_type_name(p));
        *res = p.u.s.n <= s.u.s.n && !memcmp(s.u.s.s + (end ? s.u.s.n - p.u.s.n : 0), p.u.s.s, p.u.s.n);
    }
    return 0;
}

/* Contract: see template_impl.h. */
int tpl_method_run(tpl_rt *rt, int line, tpl_value x, const char *m, size_t n, const tpl_args *a, tpl_value *out) {
    const tpl_value *s1, *s2;
    int64_t k;
    int r;
    if (x.type == TV_STR) {
        if (is_m(m, n, "strip") || is_m(m, n, "lstrip") || is_m(m, n, "rstrip")) {
            if (check_args(rt, line, m, a, 1, NULL) || str_arg(rt, line, "strip", a, 0, NULL, &s1)) return -1;
            *out = strip(x, s1, m[0] != 'r', m[0] != 'l');
            return 0;
        }
        if (is_m(m, n, "upper") || is_m(m, n, "lower") || is_m(m, n, "capitalize") || is_m(m, n, "title")) {
            if (check_args(rt, line, "case method", a, 0, NULL)) return -1;
            return change_case(rt, line, x, m[0] == 'u' ? 'u' : m[0] == 'l' ? 'l' : m[0] == 'c' ? 'c' : 't', out);
        }
        if (is_m(m, n, "startswith") || is_m(m, n, "endswith")) {
            if (check_args(rt, line, "startswith / endswith", a, 1, NULL) || affix(rt, line, x, tpl_arg(a, 0, NULL), m[0] == 'e', &r))
                return -1;
            *out = tpl_bool(r);
            return 0;
        }
        if (is_m(m, n, "split")) {
            static const char *const kw[] = {"sep", "maxsplit", NULL};
            if (check_args(rt, line, "split", a, 2, kw) || str_arg(rt, line, "split", a, 0, "sep", &s1) ||
                int_arg(rt, line, "split", a, 1, "maxsplit", -1, &k))
                return -1;
            return split(rt, line, x, s1, k, out);
        }
        if (is_m(m, n, "replace")) {
            if (check_args(rt, line, "replace", a, 3, NULL) || str_arg(rt, line, "replace", a, 0, NULL, &s1) ||
                str_arg(rt, line, "replace", a, 1, NULL, &s2) || int_arg(rt, line, "replace", a, 2, NULL, -1, &k))
                return -1;
            if (!s1 || !s2) return tpl_fail(rt, line, "replace needs the old and the new string");
            return replace(rt, line, x, *s1, *s2, k, out);
        }
        if (is_m(m, n, "find") || is_m(m, n, "count")) {
            if (check_args(rt, line, m, a, 1, NULL) || str_arg(rt, line, m, a, 0, NULL, &s1)) return -1;
            if (!s1) return tpl_fail(rt, line, "%.*s needs a string", (int)n, m);
            int64_t cnt = 0, pos = -1;
            size_t i = 0;
            while (i + s1->u.s.n <= x.u.s.n) {
                const char *h = memmem(x.u.s.s + i, x.u.s.n - i, s1->u.s.s, s1->u.s.n);
                if (!h) break;
                if (pos < 0) pos = (int64_t)tpl_utf8_count(x.u.s.s, (size_t)(h - x.u.s.s));
                cnt++;
                i = (size_t)(h - x.u.s.s) + (s1->u.s.n ? s1->u.s.n : 1);
                if (m[0] == 'f') break;
            }
            *out = tpl_int(m[0] == 'f' ? pos : cnt);
            return 0;
        }
        if (is_m(m, n, "join")) {
            if (check_args(rt, line, "join", a, 1, NULL) || !a->n) return a->n ? -1 : tpl_fail(rt, line, "join needs a sequence");
            return join(rt, line, a->pos[0], x, NULL, out);
        }
    } else if (x.type == TV_DICT && !x.ns) {
        if (is_m(m, n, "items")) {
            if (check_args(rt, line, "items", a, 0, NULL)) return -1;
            return dict_items(rt, line, x, out);
        }
        if (is_m(m, n, "keys") || is_m(m, n, "values")) {
            if (check_args(rt, line, m, a, 0, NULL)) return -1;
            tpl_list *l = tpl_list_new(rt, line, x.u.dict->n);
            if (!l) return -1;
            for (size_t i = 0; i < x.u.dict->n; i++) l->items[l->n++] = m[0] == 'k' ? x.u.dict->keys[i] : x.u.dict->vals[i];
            *out = list_val(l, 0);
            return 0;
        }
        if (is_m(m, n, "get")) {
            if (check_args(rt, line, "get", a, 2, NULL) || !a->n) return a->n ? -1 : tpl_fail(rt, line, "get needs a key");
            const tpl_value *v = tpl_dict_getv(x.u.dict, a->pos[0]);
            *out = v ? *v : a->n > 1 ? a->pos[1] : tpl_none();
            return 0;
        }
    } else if (x.type == TV_LIST && (is_m(m, n, "append") || is_m(m, n, "pop") || is_m(m, n, "insert") ||
                                     is_m(m, n, "extend") || is_m(m, n, "remove") || is_m(m, n, "clear"))) {
        return tpl_fail(rt, line, "lists cannot be changed in a chat template (%.*s; transformers' sandbox refuses it "
                        "too); use namespace() attributes or + instead", (int)n, m);
    }
    return tpl_fail(rt, line, "a '%s' has no method '%.*s'", tpl_type_name(x), (int)(n > 60 ? 60 : n), m);
}

/* ======================================================================== */
/* Global functions                                                          */
/* ======================================================================== */

static const char *const FUNCS[] = {"namespace", "range", "raise_exception", "strftime_now", "dict"};
#define N_FUNCS (sizeof FUNCS / sizeof FUNCS[0])

/* Contract: see template_impl.h. */
int tpl_func_run(tpl_rt *rt, int line, int idx, const tpl_args *a, tpl_value *out) {
    switch (idx) {
    case 0: case 4: { /* namespace(k=v, ...) / dict(k=v, ...); a dict positional argument is copied in */
        tpl_dict *d = tpl_dict_new(rt, line, a->nkw + 1);
        if (!d) return -1;
        if (a->n > 1 || (a->n == 1 && a->pos[0].type != TV_DICT))
            return tpl_fail(rt, line, "%s() takes keyword arguments (or one dict)", FUNCS[idx]);
        if (a->n)
            for (size_t i = 0; i < a->pos[0].u.dict->n; i++)
                if (tpl_dict_set(rt, line, d, a->pos[0].u.dict->keys[i], a->pos[0].u.dict->vals[i])) return -1;
        for (size_t i = 0; i < a->nkw; i++)
            if (tpl_dict_set(rt, line, d, tpl_strv(a->kwn[i], a->kwl[i]), a->kw[i])) return -1;
        out->type = TV_DICT;
        out->ns = idx == 0;
        out->u.dict = d;
        return 0;
    }
    case 1: { /* range(stop) / range(start, stop[, step]) */
        int64_t v[3] = {0, 0, 1};
        if (a->nkw || a->n < 1 || a->n > 3) return tpl_fail(rt, line, "range() takes 1 to 3 integer arguments");
        for (size_t i = 0; i < a->n; i++) {
            if (a->pos[i].type != TV_INT && a->pos[i].type != TV_BOOL)
                return tpl_fail(rt, line, "range() arguments must be integers, not '%s'", tpl_type_name(a->pos[i]));
            v[a->n == 1 ? 1 : i] = a->pos[i].type == TV_INT ? a->pos[i].u.i : a->pos[i].u.b;
        }
        if (v[2] == 0) return tpl_fail(rt, line, "range() step must not be zero");
        double cnt = v[2] > 0 ? ceil(((double)v[1] - (double)v[0]) / (double)v[2])
                              : ceil(((double)v[0] - (double)v[1]) / (double)-v[2]);
        if (cnt < 0) cnt = 0;
        if (cnt > TPL_MAX_RANGE) return tpl_fail(rt, line, "range() of more than %d items", TPL_MAX_RANGE);
        tpl_list *l = tpl_list_new(rt, line, (size_t)cnt);
        if (!l) return -1;
        for (size_t i = 0; i < (size_t)cnt; i++) l->items[l->n++] = tpl_int(v[0] + (int64_t)i * v[2]);
        *out = list_val(l, 0);
        return 0;
    }
    case 2: { /* raise_exception(message) */
        tpl_buf b = {0};
        if (a->n && tpl_str_of(rt, line, a->pos[0], &b)) { free(b.s); return -1; }
        tpl_fail(rt, line, "raise_exception: %s", b.s ? b.s : "(no message)");
        free(b.s);
        if (rt->err) rt->err->code = TRIT_ERR_VALUE;
        return -1;
    }
    case 3: { /* strftime_now(format) */
        if (a->n != 1 || a->pos[0].type != TV_STR || a->pos[0].u.s.n > 200)
            return tpl_fail(rt, line, "strftime_now() takes one format string");
        char fmt[256], buf[512];
        memcpy(fmt, a->pos[0].u.s.s, a->pos[0].u.s.n);
        fmt[a->pos[0].u.s.n] = 0;
        struct tm tm;
        time_t t = rt->now ? (time_t)rt->now : time(NULL);
        if (!(rt->now ? gmtime_r(&t, &tm) : localtime_r(&t, &tm))) return tpl_fail(rt, line, "strftime_now: bad time");
        size_t n = fmt[0] ? strftime(buf, sizeof buf, fmt, &tm) : 0;
        char *s = tpl_str_alloc(rt, line, buf, n);
        if (!s) return -1;
        *out = tpl_strv(s, n);
        return 0;
    }
    default: return tpl_fail(rt, line, "internal error: function %d", idx);
    }
}

/* ======================================================================== */
/* Lookup by name                                                            */
/* ======================================================================== */

/* Contract: see template_impl.h. */
int tpl_filter_find(const char *name, size_t n) {
    for (size_t i = 0; i < N_FILTERS; i++)
        if (is_m(name, n, FILTERS[i].name)) return (int)i;
    return -1;
}

/* Contract: see template_impl.h. */
int tpl_test_find(const char *name, size_t n) {
    for (size_t i = 0; i < N_TESTS; i++)
        if (is_m(name, n, TESTS[i])) return (int)i;
    return -1;
}

/* Contract: see template_impl.h. */
int tpl_func_find(const char *name, size_t n) {
    for (size_t i = 0; i < N_FUNCS; i++)
        if (is_m(name, n, FUNCS[i])) return (int)i;
    return -1;
}

/* Contract: see template_impl.h. */
const char *tpl_func_name(int idx) { return idx >= 0 && (size_t)idx < N_FUNCS ? FUNCS[idx] : "?"; }

/* Contract: see template_impl.h. */
int tpl_filter_run(tpl_rt *rt, int line, int idx, tpl_value x, const tpl_args *args, tpl_value *out) {
    if (idx < 0 || (size_t)idx >= N_FILTERS) return tpl_fail(rt, line, "unknown filter");
    return FILTERS[idx].fn(rt, line, x, args, out);
}

/* Contract: see template_impl.h. */
int tpl_test_run(tpl_rt *rt, int line, int idx, tpl_value x, const tpl_args *args, int *res) {
    if (idx < 0 || (size_t)idx >= N_TESTS) return tpl_fail(rt, line, "unknown test");
    return run_test(rt, line, idx, x, args, res);
}

/* Contract: see template_impl.h. */
int tpl_apply_test(tpl_rt *rt, int line, tpl_value name, tpl_value v, const tpl_args *args, int *res) {
    int idx = tpl_test_find(name.u.s.s, name.u.s.n);
    if (idx < 0) return tpl_fail(rt, line, "unknown test '%.*s'", (int)(name.u.s.n > 60 ? 60 : name.u.s.n), name.u.s.s);
    return run_test(rt, line, idx, v, args, res);
}

/* Contract: see template_impl.h. */
int tpl_apply_filter(tpl_rt *rt, int line, tpl_value name, tpl_value v, const tpl_args *args, tpl_value *out) {
    int idx = tpl_filter_find(name.u.s.s, name.u.s.n);
    if (idx < 0) return tpl_fail(rt, line, "unknown filter '%.*s'", (int)(name.u.s.n > 60 ? 60 : name.u.s.n), name.u.s.s);
    return FILTERS[idx].fn(rt, line, v, args, out);
}
