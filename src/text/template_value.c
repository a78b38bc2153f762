/*
 * template_value.c - chat templates, part 3: template values with Python
 * semantics: truth, equality across number types, ordering, str() and
 * repr() (floats print as Python's shortest repr), iteration; plus the
 * error and output-buffer helpers of a render.
 *
 * Values live in the render's arena; strings coming from the template, the
 * messages or the JSON variables are referenced, not copied.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "text/template_impl.h"

/* ======================================================================== */
/* Errors and buffers                                                        */
/* ======================================================================== */

/* Contract: see template_impl.h. */
int tpl_fail(tpl_rt *rt, int line, const char *fmt, ...) {
    if (rt->failed) return -1;
    rt->failed = 1;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    trit_fail(rt->err, TRIT_ERR_FORMAT, "%s line %d: %s", rt->t->name, line, msg);
    return -1;
}

/* Contract: see template_impl.h. */
int tpl_buf_put(tpl_rt *rt, int line, tpl_buf *b, const char *s, size_t n) {
    if (!n) return 0;
    if (n > TPL_MAX_OUTPUT || b->n + n > TPL_MAX_OUTPUT)
        return tpl_fail(rt, line, "the rendered text exceeds %zu MiB", TPL_MAX_OUTPUT >> 20);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) return tpl_fail(rt, line, "out of memory");
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

/* ======================================================================== */
/* Values                                                                    */
/* ======================================================================== */

/* Contract: constructors of scalar values (see template_impl.h). */
tpl_value tpl_undef(const char *name, size_t n) { tpl_value v = {.type = TV_UNDEF}; v.u.s.s = name; v.u.s.n = n; return v; }
tpl_value tpl_none(void) { tpl_value v = {.type = TV_NONE}; return v; }
tpl_value tpl_bool(int b) { tpl_value v = {.type = TV_BOOL}; v.u.b = b != 0; return v; }
tpl_value tpl_int(int64_t i) { tpl_value v = {.type = TV_INT}; v.u.i = i; return v; }
tpl_value tpl_float(double f) { tpl_value v = {.type = TV_FLOAT}; v.u.f = f; return v; }
tpl_value tpl_strv(const char *s, size_t n) { tpl_value v = {.type = TV_STR}; v.u.s.s = s ? s : ""; v.u.s.n = n; return v; }

/* Contract: see template_impl.h. */
char *tpl_str_alloc(tpl_rt *rt, int line, const char *s, size_t n) {
    char *d = n < TPL_MAX_ARENA ? tpl_alloc(&rt->A, n + 1) : NULL;
    if (!d) {
        tpl_fail(rt, line, "out of memory (a render may use at most %zu MiB of values)", TPL_MAX_ARENA >> 20);
        return NULL;
    }
    if (s && n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Contract: see template_impl.h. */
tpl_list *tpl_list_new(tpl_rt *rt, int line, size_t cap) {
    tpl_list *l = tpl_alloc(&rt->A, sizeof *l);
    if (l && cap) {
        l->items = cap < TPL_MAX_ARENA / sizeof(tpl_value) ? tpl_alloc(&rt->A, cap * sizeof(tpl_value)) : NULL;
        l->cap = cap;
        if (!l->items) l = NULL;
    }
    if (!l) tpl_fail(rt, line, "out of memory (a render may use at most %zu MiB of values)", TPL_MAX_ARENA >> 20);
    return l;
}

/* Contract: see template_impl.h. */
int tpl_list_push(tpl_rt *rt, int line, tpl_list *l, tpl_value v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        tpl_value *it = cap < TPL_MAX_ARENA / sizeof *it ? tpl_alloc(&rt->A, cap * sizeof *it) : NULL;
        if (!it) return tpl_fail(rt, line, "out of memory (a render may use at most %zu MiB of values)",
                                 TPL_MAX_ARENA >> 20);
        if (l->n) memcpy(it, l->items, l->n * sizeof *it);
        l->items = it;
        l->cap = cap;
    }
    l->items[l->n++] = v;
    return 0;
}

/* Contract: see template_impl.h. */
tpl_dict *tpl_dict_new(tpl_rt *rt, int line, size_t cap) {
    tpl_dict *d = tpl_alloc(&rt->A, sizeof *d);
    if (d && cap) {
        d->keys = tpl_alloc(&rt->A, cap * sizeof(tpl_value));
        d->vals = tpl_alloc(&rt->A, cap * sizeof(tpl_value));
        d->cap = cap;
        if (!d->keys || !d->vals) d = NULL;
    }
    if (!d) tpl_fail(rt, line, "out of memory (a render may use at most %zu MiB of values)", TPL_MAX_ARENA >> 20);
    return d;
}

/* Contract: see template_impl.h. Keys are looked up by equality. */
const tpl_value *tpl_dict_getv(const tpl_dict *d, tpl_value key) {
    for (size_t i = 0; i < d->n; i++)
        if (tpl_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

/* Contract: see template_impl.h. */
const tpl_value *tpl_dict_get(const tpl_dict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].type == TV_STR && d->keys[i].u.s.n == n && !memcmp(d->keys[i].u.s.s, key, n))
            return &d->vals[i];
    return NULL;
}

/* Contract: see template_impl.h. Replaces the value of an existing key. */
int tpl_dict_set(tpl_rt *rt, int line, tpl_dict *d, tpl_value k, tpl_value v) {
    for (size_t i = 0; i < d->n; i++)
        if (tpl_equal(d->keys[i], k)) { d->vals[i] = v; return 0; }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        tpl_value *nk = tpl_alloc(&rt->A, cap * sizeof *nk), *nv = tpl_alloc(&rt->A, cap * sizeof *nv);
        if (!nk || !nv) return tpl_fail(rt, line, "out of memory");
        if (d->n) {
            memcpy(nk, d->keys, d->n * sizeof *nk);
            memcpy(nv, d->vals, d->n * sizeof *nv);
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = cap;
    }
    d->keys[d->n] = k;
    d->vals[d->n++] = v;
    return 0;
}

/* Contract: see template_impl.h (Python truth). */
int tpl_truthy(tpl_value v) {
    switch (v.type) {
    case TV_UNDEF: case TV_NONE: return 0;
    case TV_BOOL: return v.u.b;
    case TV_INT: return v.u.i != 0;
    case TV_FLOAT: return v.u.f != 0;
    case TV_STR: return v.u.s.n != 0;
    case TV_LIST: return v.u.list->n != 0;
    case TV_DICT: return v.ns || v.u.dict->n != 0;
    default: return 1;
    }
}

/* Contract: number helpers: is v a bool / int / float; its value as double / int64. */
static int is_num(tpl_value v) { return v.type == TV_BOOL || v.type == TV_INT || v.type == TV_FLOAT; }
static double num_f(tpl_value v) { return v.type == TV_FLOAT ? v.u.f : v.type == TV_INT ? (double)v.u.i : v.u.b; }
static int64_t num_i(tpl_value v) { return v.type == TV_INT ? v.u.i : v.u.b; }

/* Contract: see template_impl.h (Python ==; numbers across types). */
int tpl_equal(tpl_value a, tpl_value b) {
    if (is_num(a) && is_num(b)) {
        if (a.type != TV_FLOAT && b.type != TV_FLOAT) return num_i(a) == num_i(b);
        return num_f(a) == num_f(b);
    }
    if (a.type != b.type) return 0;
    switch (a.type) {
    case TV_UNDEF: case TV_NONE: return 1;
    case TV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.s, b.u.s.s, a.u.s.n);
    case TV_LIST:
        if (a.u.list->n != b.u.list->n) return 0;
        for (size_t i = 0; i < a.u.list->n; i++)
            if (!tpl_equal(a.u.list->items[i], b.u.list->items[i])) return 0;
        return 1;
    case TV_DICT:
        if (a.ns || b.ns) return a.u.dict == b.u.dict;
        if (a.u.dict->n != b.u.dict->n) return 0;
        for (size_t i = 0; i < a.u.dict->n; i++) {
            const tpl_value *o = tpl_dict_getv(b.u.dict, a.u.dict->keys[i]);
            if (!o || !tpl_equal(a.u.dict->vals[i], *o)) return 0;
        }
        return 1;
    case TV_FUNC: return a.u.func == b.u.func;
    case TV_MACRO: return a.u.macro == b.u.macro;
    default: return 0;
    }
}

/* Contract: see template_impl.h. */
const char *tpl_type_name(tpl_value v) {
    switch (v.type) {
    case TV_UNDEF: return "undefined";
    case TV_NONE: return "NoneType";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_FLOAT: return "float";
    case TV_STR: return "str";
    case TV_LIST: return v.ns ? "tuple" : "list";
    case TV_DICT: return v.ns == 1 ? "Namespace" : v.ns == 2 ? "LoopContext" : "dict";
    case TV_FUNC: return "function";
    default: return "macro";
    }
}

/* Contract: see template_impl.h (numbers, strings, lists lexicographically). */
int tpl_compare(tpl_rt *rt, int line, tpl_value a, tpl_value b, int *cmp) {
    if (is_num(a) && is_num(b)) {
        if (a.type != TV_FLOAT && b.type != TV_FLOAT) *cmp = num_i(a) < num_i(b) ? -1 : num_i(a) > num_i(b);
        else {
            double x = num_f(a), y = num_f(b);
            if (x != x || y != y) { *cmp = 2; return 0; } /* NaN: every ordering is false */
            *cmp = x < y ? -1 : x > y;
        }
        return 0;
    }
    if (a.type == TV_STR && b.type == TV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int c = n ? memcmp(a.u.s.s, b.u.s.s, n) : 0;
        *cmp = c < 0 ? -1 : c > 0 ? 1 : a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
        return 0;
    }
    if (a.type == TV_LIST && b.type == TV_LIST) {
        size_t n = a.u.list->n < b.u.list->n ? a.u.list->n : b.u.list->n;
        for (size_t i = 0; i < n; i++) {
            if (tpl_equal(a.u.list->items[i], b.u.list->items[i])) continue;
            return tpl_compare(rt, line, a.u.list->items[i], b.u.list->items[i], cmp);
        }
        *cmp = a.u.list->n < b.u.list->n ? -1 : a.u.list->n > b.u.list->n;
        return 0;
    }
    if (a.type == TV_UNDEF || b.type == TV_UNDEF) {
        tpl_value u = a.type == TV_UNDEF ? a : b;
        return tpl_fail(rt, line, "'%.*s' is undefined", (int)u.u.s.n, u.u.s.s);
    }
    return tpl_fail(rt, line, "cannot order a '%s' and a '%s'", tpl_type_name(a), tpl_type_name(b));
}

/* ======================================================================== */
/* str() and repr()                                                          */
/* ======================================================================== */

/* Contract: writes Python's repr(x) of a float into buf (>= 40 bytes):
 * the shortest decimal that reads back as x, fixed notation for exponents
 * -4..15 (with ".0" for integral values), else d.ddde+XX. */
static void float_repr(double x, char *buf) {
    if (x != x) { strcpy(buf, "nan"); return; }
    if (isinf(x)) { strcpy(buf, x < 0 ? "-inf" : "inf"); return; }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int ex = atoi(q + 1);
    char *o = buf;
    if (neg) *o++ = '-';
    if (ex >= -4 && ex < 16) {
        if (ex < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int k = 0; k < -ex - 1; k++) *o++ = '0';
            for (int k = 0; k < nd; k++) *o++ = digits[k];
        } else {
            for (int k = 0; k <= ex; k++) *o++ = k < nd ? digits[k] : '0';
            *o++ = '.';
            if (nd > ex + 1) for (int k = ex + 1; k < nd; k++) *o++ = digits[k];
            else *o++ = '0';
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int k = 1; k < nd; k++) *o++ = digits[k];
        }
        sprintf(o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
}

/* Contract: appends Python's repr of the string s[0..n). */
static int str_repr(tpl_rt *rt, int line, const char *s, size_t n, tpl_buf *b) {
    char q = '\'';
    if (memchr(s, '\'', n) && !memchr(s, '"', n)) q = '"';
    if (tpl_buf_put(rt, line, b, &q, 1)) return -1;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t el = 0;
        if (c == (unsigned char)q || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; el = 2; }
        else if (c == '\n') el = (size_t)snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r') el = (size_t)snprintf(esc, sizeof esc, "\\r");
        else if (c == '\t') el = (size_t)snprintf(esc, sizeof esc, "\\t");
        else if (c < 0x20 || c == 0x7f) el = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        if (!el) continue;
        if (tpl_buf_put(rt, line, b, s + run, i - run) || tpl_buf_put(rt, line, b, esc, el)) return -1;
        run = i + 1;
    }
    if (tpl_buf_put(rt, line, b, s + run, n - run)) return -1;
    return tpl_buf_put(rt, line, b, &q, 1);
}

/* Contract: see template_impl.h. */
int tpl_repr_of(tpl_rt *rt, int line, tpl_value v, tpl_buf *b) {
    if (v.type == TV_STR) return str_repr(rt, line, v.u.s.s, v.u.s.n, b);
    if (v.type == TV_LIST) {
        const tpl_list *l = v.u.list;
        if (tpl_buf_put(rt, line, b, v.ns ? "(" : "[", 1)) return -1;
        for (size_t i = 0; i < l->n; i++)
            if ((i && tpl_buf_put(rt, line, b, ", ", 2)) || tpl_repr_of(rt, line, l->items[i], b)) return -1;
        if (v.ns && l->n == 1 && tpl_buf_put(rt, line, b, ",", 1)) return -1;
        return tpl_buf_put(rt, line, b, v.ns ? ")" : "]", 1);
    }
    if (v.type == TV_DICT && v.ns == 2) {
        const tpl_value *i = tpl_dict_get(v.u.dict, "index", 5), *n = tpl_dict_get(v.u.dict, "length", 6);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "<LoopContext %lld/%lld>", (long long)i->u.i, (long long)n->u.i);
        return tpl_buf_put(rt, line, b, tmp, strlen(tmp));
    }
    if (v.type == TV_DICT) {
        const tpl_dict *d = v.u.dict;
        if (tpl_buf_put(rt, line, b, v.ns ? "<Namespace {" : "{", v.ns ? 12 : 1)) return -1;
        for (size_t i = 0; i < d->n; i++)
            if ((i && tpl_buf_put(rt, line, b, ", ", 2)) || tpl_repr_of(rt, line, d->keys[i], b) ||
                tpl_buf_put(rt, line, b, ": ", 2) || tpl_repr_of(rt, line, d->vals[i], b))
                return -1;
        return tpl_buf_put(rt, line, b, v.ns ? "}>" : "}", v.ns ? 2 : 1);
    }
    if (v.type == TV_UNDEF) return tpl_buf_put(rt, line, b, "Undefined", 9);
    return tpl_str_of(rt, line, v, b);
}

/* Contract: see template_impl.h. */
int tpl_str_of(tpl_rt *rt, int line, tpl_value v, tpl_buf *b) {
    char tmp[64];
    switch (v.type) {
    case TV_UNDEF: return 0;
    case TV_NONE: return tpl_buf_put(rt, line, b, "None", 4);
    case TV_BOOL: return tpl_buf_put(rt, line, b, v.u.b ? "True" : "False", v.u.b ? 4 : 5);
    case TV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return tpl_buf_put(rt, line, b, tmp, strlen(tmp));
    case TV_FLOAT: float_repr(v.u.f, tmp); return tpl_buf_put(rt, line, b, tmp, strlen(tmp));
    case TV_STR: return tpl_buf_put(rt, line, b, v.u.s.s, v.u.s.n);
    case TV_FUNC:
        snprintf(tmp, sizeof tmp, "<function %s>", tpl_func_name(v.u.func));
        return tpl_buf_put(rt, line, b, tmp, strlen(tmp));
    case TV_MACRO:
        snprintf(tmp, sizeof tmp, "<macro %.40s>", v.u.macro->name);
        return tpl_buf_put(rt, line, b, tmp, strlen(tmp));
    default: return tpl_repr_of(rt, line, v, b);
    }
}

/* Contract: see template_impl.h. */
int tpl_to_string(tpl_rt *rt, int line, tpl_value v, tpl_value *out) {
    if (v.type == TV_STR) { *out = v; return 0; }
    tpl_buf b = {0};
    if (tpl_str_of(rt, line, v, &b)) { free(b.s); return -1; }
    char *s = tpl_str_alloc(rt, line, b.s, b.n);
    size_t n = b.n;
    free(b.s);
    if (!s) return -1;
    *out = tpl_strv(s, n);
    return 0;
}

/* Contract: see template_impl.h. */
int tpl_iterate(tpl_rt *rt, int line, tpl_value v, tpl_list **out) {
    if (v.type == TV_LIST) { *out = v.u.list; return 0; }
    if (v.type == TV_UNDEF) return (*out = tpl_list_new(rt, line, 0)) ? 0 : -1;
    if (v.type == TV_DICT && !v.ns) {
        tpl_list *l = tpl_list_new(rt, line, v.u.dict->n);
        if (!l) return -1;
        for (size_t i = 0; i < v.u.dict->n; i++) l->items[l->n++] = v.u.dict->keys[i];
        *out = l;
        return 0;
    }
    if (v.type == TV_STR) {
        tpl_list *l = tpl_list_new(rt, line, tpl_utf8_count(v.u.s.s, v.u.s.n));
        if (!l) return -1;
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t j = tpl_utf8_offset(v.u.s.s + i, v.u.s.n - i, 1) + i;
            l->items[l->n++] = tpl_strv(v.u.s.s + i, j - i);
            i = j;
        }
        *out = l;
        return 0;
    }
    return tpl_fail(rt, line, "a '%s' cannot be iterated over", tpl_type_name(v));
}

