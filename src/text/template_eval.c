/*
 * template_eval.c - chat templates, part 4: expression evaluation,
 * statements with Jinja's scoping (each for-loop iteration and each macro
 * call is a new scope; if does not open one; namespace() objects are the
 * only values that can be changed through set), and tpl_render.
 *
 * Every value of one render lives in that render's arena (strings coming
 * from the template, the messages or the JSON variables are referenced, not
 * copied); the arena is dropped when the render ends.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "text/template_impl.h"

#define TPL_MAX_EVAL_DEPTH 1000   /* nested evaluations (expressions, calls) */

/* Contract: number helpers: is v a bool / int / float; its value as double / int64. */
static int is_num(tpl_value v) { return v.type == TV_BOOL || v.type == TV_INT || v.type == TV_FLOAT; }
static double num_f(tpl_value v) { return v.type == TV_FLOAT ? v.u.f : v.type == TV_INT ? (double)v.u.i : v.u.b; }
static int64_t num_i(tpl_value v) { return v.type == TV_INT ? v.u.i : v.u.b; }

/* ======================================================================== */
/* Scopes                                                                    */
/* ======================================================================== */

/* Contract: a new empty scope under parent; NULL after tpl_fail. */
static tpl_frame *frame_new(tpl_rt *rt, int line, tpl_frame *parent) {
    tpl_frame *f = tpl_alloc(&rt->A, sizeof *f);
    if (!f) { tpl_fail(rt, line, "out of memory"); return NULL; }
    f->parent = parent;
    return f;
}

/* Contract: binds name in frame f (replacing an existing binding). */
static int frame_set(tpl_rt *rt, int line, tpl_frame *f, const char *name, size_t n, tpl_value v) {
    for (size_t i = 0; i < f->n; i++)
        if (f->lens[i] == n && !memcmp(f->names[i], name, n)) { f->vals[i] = v; return 0; }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        const char **nn = tpl_alloc(&rt->A, cap * sizeof *nn);
        size_t *nl = tpl_alloc(&rt->A, cap * sizeof *nl);
        tpl_value *nv = tpl_alloc(&rt->A, cap * sizeof *nv);
        if (!nn || !nl || !nv) return tpl_fail(rt, line, "out of memory");
        if (f->n) {
            memcpy(nn, f->names, f->n * sizeof *nn);
            memcpy(nl, f->lens, f->n * sizeof *nl);
            memcpy(nv, f->vals, f->n * sizeof *nv);
        }
        f->names = nn;
        f->lens = nl;
        f->vals = nv;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->lens[f->n] = n;
    f->vals[f->n++] = v;
    return 0;
}

/* Contract: the value of name in the scope chain, then the builtin
 * functions; undefined (carrying the name) when absent. */
static tpl_value lookup(tpl_rt *rt, const char *name, size_t n) {
    for (tpl_frame *f = rt->scope; f; f = f->parent)
        for (size_t i = f->n; i-- > 0;)
            if (f->lens[i] == n && !memcmp(f->names[i], name, n)) return f->vals[i];
    int fi = tpl_func_find(name, n);
    if (fi >= 0) { tpl_value v = {.type = TV_FUNC}; v.u.func = fi; return v; }
    return tpl_undef(name, n);
}

/* ======================================================================== */
/* Operators                                                                 */
/* ======================================================================== */

/* Contract: fails with "'x' is undefined" when v is undefined; 0 otherwise. */
static int need_defined(tpl_rt *rt, int line, tpl_value v) {
    if (v.type != TV_UNDEF) return 0;
    return tpl_fail(rt, line, "'%.*s' is undefined", (int)v.u.s.n, v.u.s.s);
}

/* Contract: the source spelling of operator op. */
static const char *op_name(int op) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=",
                                        "in", "not in"};
    return names[op];
}

/* Contract: a repeated n times (string or list); n <= 0 gives an empty one. */
static int repeat(tpl_rt *rt, int line, tpl_value a, int64_t n, tpl_value *out) {
    if (n < 0) n = 0;
    if (a.type == TV_STR) {
        if (a.u.s.n && (uint64_t)n > TPL_MAX_ARENA / a.u.s.n) return tpl_fail(rt, line, "string repetition too large");
        char *s = tpl_str_alloc(rt, line, NULL, a.u.s.n * (size_t)n);
        if (!s) return -1;
        for (int64_t k = 0; k < n; k++) memcpy(s + (size_t)k * a.u.s.n, a.u.s.s, a.u.s.n);
        *out = tpl_strv(s, a.u.s.n * (size_t)n);
        return 0;
    }
    size_t m = a.u.list->n;
    if (m && (uint64_t)n > TPL_MAX_ARENA / sizeof(tpl_value) / m) return tpl_fail(rt, line, "list repetition too large");
    tpl_list *l = tpl_list_new(rt, line, m * (size_t)n);
    if (!l) return -1;
    for (int64_t k = 0; k < n; k++)
        for (size_t i = 0; i < m; i++) l->items[l->n++] = a.u.list->items[i];
    *out = a;
    out->u.list = l;
    return 0;
}

/* Contract: evaluates a op b for the arithmetic and concatenation operators
 * with Python semantics (int overflow is an error). */
static int binop(tpl_rt *rt, int line, int op, tpl_value a, tpl_value b, tpl_value *out) {
    if (op == OP_CONCAT) {
        tpl_buf buf = {0};
        if (tpl_str_of(rt, line, a, &buf) || tpl_str_of(rt, line, b, &buf)) { free(buf.s); return -1; }
        char *s = tpl_str_alloc(rt, line, buf.s, buf.n);
        size_t n = buf.n;
        free(buf.s);
        if (!s) return -1;
        *out = tpl_strv(s, n);
        return 0;
    }
    if (op == OP_MOD && a.type == TV_STR)
        return tpl_fail(rt, line, "'%%' string formatting is not supported; build the text with ~ or +");
    if (need_defined(rt, line, a) || need_defined(rt, line, b)) return -1;
    if (is_num(a) && is_num(b)) {
        int fl = a.type == TV_FLOAT || b.type == TV_FLOAT;
        int64_t x = num_i(a), y = num_i(b), r;
        double fx = num_f(a), fy = num_f(b);
        switch (op) {
        case OP_ADD:
            if (fl) { *out = tpl_float(fx + fy); return 0; }
            if (__builtin_add_overflow(x, y, &r)) break;
            *out = tpl_int(r);
            return 0;
        case OP_SUB:
            if (fl) { *out = tpl_float(fx - fy); return 0; }
            if (__builtin_sub_overflow(x, y, &r)) break;
            *out = tpl_int(r);
            return 0;
        case OP_MUL:
            if (fl) { *out = tpl_float(fx * fy); return 0; }
            if (__builtin_mul_overflow(x, y, &r)) break;
            *out = tpl_int(r);
            return 0;
        case OP_DIV:
            if (fy == 0) return tpl_fail(rt, line, "division by zero");
            *out = tpl_float(fx / fy);
            return 0;
        case OP_FLOORDIV: case OP_MOD:
            if (fl ? fy == 0 : y == 0) return tpl_fail(rt, line, "division by zero");
            if (fl) {
                double q = floor(fx / fy), m = fmod(fx, fy);
                if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
                *out = tpl_float(op == OP_FLOORDIV ? q : m);
                return 0;
            }
            if (x == INT64_MIN && y == -1) break;
            {
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
                *out = tpl_int(op == OP_FLOORDIV ? q : m);
            }
            return 0;
        case OP_POW:
            if (fl || y < 0) { *out = tpl_float(pow(fx, fy)); return 0; }
            r = 1;
            for (int64_t k = 0; k < y; k++) {
                if (__builtin_mul_overflow(r, x, &r)) return tpl_fail(rt, line, "integer overflow in '**'");
                if (r == 0 || r == 1) break;
            }
            *out = tpl_int(r);
            return 0;
        default: break;
        }
        if (op <= OP_POW) return tpl_fail(rt, line, "integer overflow in '%s'", op_name(op));
    }
    if (op == OP_ADD && a.type == TV_STR && b.type == TV_STR) {
        char *s = tpl_str_alloc(rt, line, NULL, a.u.s.n + b.u.s.n);
        if (!s) return -1;
        memcpy(s, a.u.s.s, a.u.s.n);
        memcpy(s + a.u.s.n, b.u.s.s, b.u.s.n);
        *out = tpl_strv(s, a.u.s.n + b.u.s.n);
        return 0;
    }
    if (op == OP_ADD && a.type == TV_LIST && b.type == TV_LIST) {
        tpl_list *l = tpl_list_new(rt, line, a.u.list->n + b.u.list->n);
        if (!l) return -1;
        for (size_t i = 0; i < a.u.list->n; i++) l->items[l->n++] = a.u.list->items[i];
        for (size_t i = 0; i < b.u.list->n; i++) l->items[l->n++] = b.u.list->items[i];
        *out = a;
        out->u.list = l;
        return 0;
    }
    if (op == OP_MUL && (a.type == TV_STR || a.type == TV_LIST) && (b.type == TV_INT || b.type == TV_BOOL))
        return repeat(rt, line, a, num_i(b), out);
    if (op == OP_MUL && (b.type == TV_STR || b.type == TV_LIST) && (a.type == TV_INT || a.type == TV_BOOL))
        return repeat(rt, line, b, num_i(a), out);
    return tpl_fail(rt, line, "unsupported operand types for %s: '%s' and '%s'", op_name(op), tpl_type_name(a),
                    tpl_type_name(b));
}

/* Contract: Python's `x in y` into *res. */
static int contains(tpl_rt *rt, int line, tpl_value x, tpl_value y, int *res) {
    *res = 0;
    if (y.type == TV_UNDEF) return 0;
    if (y.type == TV_STR) {
        if (x.type != TV_STR)
            return tpl_fail(rt, line, "'in <string>' needs a string on the left, not a '%s'", tpl_type_name(x));
        *res = x.u.s.n == 0 || (x.u.s.n <= y.u.s.n && memmem(y.u.s.s, y.u.s.n, x.u.s.s, x.u.s.n) != NULL);
        return 0;
    }
    if (y.type == TV_LIST) {
        for (size_t i = 0; i < y.u.list->n && !*res; i++) *res = tpl_equal(x, y.u.list->items[i]);
        return 0;
    }
    if (y.type == TV_DICT) {
        *res = tpl_dict_getv(y.u.dict, x) != NULL;
        return 0;
    }
    return tpl_fail(rt, line, "a '%s' does not support 'in'", tpl_type_name(y));
}

/* Contract: one comparison of a chain. */
static int compare_op(tpl_rt *rt, int line, int op, tpl_value a, tpl_value b, int *res) {
    int c;
    switch (op) {
    case OP_EQ: *res = tpl_equal(a, b); return 0;
    case OP_NE: *res = !tpl_equal(a, b); return 0;
    case OP_IN: return contains(rt, line, a, b, res);
    case OP_NOTIN: if (contains(rt, line, a, b, res)) return -1; *res = !*res; return 0;
    default:
        if (tpl_compare(rt, line, a, b, &c)) return -1;
        *res = c == 2 ? 0 : op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
        return 0;
    }
}

/* ======================================================================== */
/* Expressions                                                               */
/* ======================================================================== */

static int eval(tpl_rt *rt, const tpl_node *n, tpl_value *out);
static int exec_body(tpl_rt *rt, const tpl_node *n);

/* Contract: counts one step and one level of nesting; fails past the
 * limits. Pair with rt->depth-- on return. */
static int enter(tpl_rt *rt, int line) {
    if (++rt->steps > TPL_MAX_STEPS)
        return tpl_fail(rt, line, "the template runs too long (over %llu steps; an endless loop?)",
                        (unsigned long long)TPL_MAX_STEPS);
    if (++rt->depth > TPL_MAX_EVAL_DEPTH) {
        rt->depth--;
        return tpl_fail(rt, line, "nested too deeply (recursive macro?)");
    }
    return 0;
}

/* Contract: evaluates the argument nodes v[0..nv) of a call / filter /
 * test into a (positional and keyword). */
static int eval_args(tpl_rt *rt, const tpl_node *n, tpl_args *a) {
    memset(a, 0, sizeof *a);
    if (!n->nv) return 0;
    a->pos = tpl_alloc(&rt->A, n->nv * sizeof *a->pos);
    a->kw = tpl_alloc(&rt->A, n->nv * sizeof *a->kw);
    a->kwn = tpl_alloc(&rt->A, n->nv * sizeof *a->kwn);
    a->kwl = tpl_alloc(&rt->A, n->nv * sizeof *a->kwl);
    if (!a->pos || !a->kw || !a->kwn || !a->kwl) return tpl_fail(rt, n->line, "out of memory");
    for (size_t i = 0; i < n->nv; i++) {
        tpl_value v;
        if (eval(rt, n->v[i], &v)) return -1;
        if (n->v[i]->kw) {
            a->kwn[a->nkw] = n->v[i]->kw;
            a->kwl[a->nkw] = n->v[i]->kw_len;
            a->kw[a->nkw++] = v;
        } else {
            if (a->nkw) return tpl_fail(rt, n->line, "a positional argument follows a keyword argument");
            a->pos[a->n++] = v;
        }
    }
    return 0;
}

/* Contract: Python slice bounds of a sequence of length len into
 * *start, *step and the item count *count. */
static int slice_bounds(tpl_rt *rt, int line, const tpl_value parts[3], int64_t len, int64_t *start, int64_t *step,
                        int64_t *count) {
    int64_t st = 1;
    for (int k = 0; k < 3; k++)
        if (parts[k].type != TV_NONE && parts[k].type != TV_UNDEF && parts[k].type != TV_INT && parts[k].type != TV_BOOL)
            return tpl_fail(rt, line, "slice indices must be integers, not '%s'", tpl_type_name(parts[k]));
    if (parts[2].type == TV_INT || parts[2].type == TV_BOOL) st = num_i(parts[2]);
    if (st == 0) return tpl_fail(rt, line, "slice step cannot be zero");
    int64_t lo, hi;
    int has0 = parts[0].type == TV_INT || parts[0].type == TV_BOOL, has1 = parts[1].type == TV_INT || parts[1].type == TV_BOOL;
    if (st > 0) {
        lo = has0 ? num_i(parts[0]) : 0;
        hi = has1 ? num_i(parts[1]) : len;
        if (lo < 0) lo = lo + len < 0 ? 0 : lo + len;
        if (hi < 0) hi = hi + len < 0 ? 0 : hi + len;
        if (lo > len) lo = len;
        if (hi > len) hi = len;
        *count = hi > lo ? (hi - lo + st - 1) / st : 0;
    } else {
        lo = has0 ? num_i(parts[0]) : len - 1;
        hi = has1 ? num_i(parts[1]) : -1 - len;
        if (lo < 0) lo = lo + len < 0 ? -1 : lo + len;
        if (lo >= len) lo = len - 1;
        if (hi < 0) hi = hi + len < 0 ? -1 : hi + len;
        if (hi >= len) hi = len - 1;
        *count = lo > hi ? (lo - hi + (-st) - 1) / (-st) : 0;
    }
    *start = lo;
    *step = st;
    return 0;
}

/* Contract: x[a:b:c] for lists and strings (code points). */
static int eval_slice(tpl_rt *rt, const tpl_node *n, tpl_value x, tpl_value *out) {
    tpl_value parts[3] = {tpl_none(), tpl_none(), tpl_none()};
    for (int k = 0; k < 3; k++)
        if (n->v[k] && eval(rt, n->v[k], &parts[k])) return -1;
    if (need_defined(rt, n->line, x)) return -1;
    int64_t start, step, count;
    if (x.type == TV_LIST) {
        if (slice_bounds(rt, n->line, parts, (int64_t)x.u.list->n, &start, &step, &count)) return -1;
        tpl_list *l = tpl_list_new(rt, n->line, (size_t)count);
        if (!l) return -1;
        for (int64_t k = 0; k < count; k++) l->items[l->n++] = x.u.list->items[start + k * step];
        *out = x;
        out->u.list = l;
        return 0;
    }
    if (x.type == TV_STR) {
        tpl_list *cps;
        if (tpl_iterate(rt, n->line, x, &cps) ||
            slice_bounds(rt, n->line, parts, (int64_t)cps->n, &start, &step, &count))
            return -1;
        if (step == 1) {
            size_t a = count ? (size_t)(cps->items[start].u.s.s - x.u.s.s) : 0;
            size_t b = count ? (size_t)(cps->items[start + count - 1].u.s.s - x.u.s.s) +
                               cps->items[start + count - 1].u.s.n : 0;
            *out = tpl_strv(x.u.s.s + a, b - a);
            return 0;
        }
        tpl_buf b = {0};
        for (int64_t k = 0; k < count; k++) {
            tpl_value c = cps->items[start + k * step];
            if (tpl_buf_put(rt, n->line, &b, c.u.s.s, c.u.s.n)) { free(b.s); return -1; }
        }
        char *s = tpl_str_alloc(rt, n->line, b.s, b.n);
        size_t len = b.n;
        free(b.s);
        if (!s) return -1;
        *out = tpl_strv(s, len);
        return 0;
    }
    /* Jinja compiles slices to plain Python subscripts: anything but a
     * sequence is an error (unlike x[i], which gives undefined) */
    return tpl_fail(rt, n->line, "a '%s' cannot be sliced", tpl_type_name(x));
}

/* Contract: x[key]: list / string index (negative from the end), dict key;
 * undefined when missing (as Jinja's getitem). */
static int get_item(tpl_rt *rt, int line, tpl_value x, tpl_value key, tpl_value *out) {
    if (need_defined(rt, line, x)) return -1;
    *out = tpl_undef("item", 4);
    if (x.type == TV_DICT) {
        const tpl_value *v = tpl_dict_getv(x.u.dict, key);
        if (v) *out = *v;
        else if (key.type == TV_STR) *out = tpl_undef(key.u.s.s, key.u.s.n);
        return 0;
    }
    if ((x.type == TV_LIST || x.type == TV_STR) && (key.type == TV_INT || key.type == TV_BOOL)) {
        int64_t i = num_i(key);
        char nm[48];
        int nl = snprintf(nm, sizeof nm, "index %lld", (long long)i);
        char *name = tpl_str_alloc(rt, line, nm, (size_t)nl);
        if (!name) return -1;
        *out = tpl_undef(name, (size_t)nl); /* out of range */
        if (x.type == TV_LIST) {
            int64_t len = (int64_t)x.u.list->n;
            if (i < 0) i += len;
            if (i >= 0 && i < len) *out = x.u.list->items[i];
            return 0;
        }
        int64_t len = (int64_t)tpl_utf8_count(x.u.s.s, x.u.s.n);
        if (i < 0) i += len;
        if (i >= 0 && i < len) {
            size_t a = tpl_utf8_offset(x.u.s.s, x.u.s.n, (size_t)i);
            size_t b = a + tpl_utf8_offset(x.u.s.s + a, x.u.s.n - a, 1);
            *out = tpl_strv(x.u.s.s + a, b - a);
        }
        return 0;
    }
    return 0;
}

/* Contract: evaluates a call node: methods (x.name(...)), macros and
 * builtin functions. */
static int eval_call(tpl_rt *rt, const tpl_node *n, tpl_value *out) {
    const tpl_node *callee = n->a;
    tpl_args args;
    if (callee->kind == N_ATTR) {
        tpl_value obj;
        if (eval(rt, callee->a, &obj) || need_defined(rt, n->line, obj)) return -1;
        if (obj.type == TV_DICT) {
            const tpl_value *f = tpl_dict_get(obj.u.dict, callee->name, callee->name_len);
            if (f && (f->type == TV_FUNC || f->type == TV_MACRO)) {
                if (eval_args(rt, n, &args)) return -1;
                return tpl_call_value(rt, n->line, *f, &args, out);
            }
        }
        if (eval_args(rt, n, &args)) return -1;
        return tpl_method_run(rt, n->line, obj, callee->name, callee->name_len, &args, out);
    }
    tpl_value fn;
    if (eval(rt, callee, &fn)) return -1;
    if (fn.type == TV_UNDEF)
        return tpl_fail(rt, n->line, "'%.*s' is undefined (called as a function)", (int)fn.u.s.n, fn.u.s.s);
    if (eval_args(rt, n, &args)) return -1;
    return tpl_call_value(rt, n->line, fn, &args, out);
}

/* Contract: evaluates expression n into *out; 0 or -1 (error in rt). */
static int eval(tpl_rt *rt, const tpl_node *n, tpl_value *out) {
    if (enter(rt, n->line)) return -1;
    int rc = 0;
    tpl_value a, b;
    tpl_args args;
    switch (n->kind) {
    case N_LIT: *out = n->lit; break;
    case N_NAME: *out = lookup(rt, n->name, n->name_len); break;
    case N_LIST: case N_TUPLE: {
        tpl_list *l = tpl_list_new(rt, n->line, n->nv);
        if (!l) { rc = -1; break; }
        for (size_t i = 0; i < n->nv && !rc; i++) rc = eval(rt, n->v[i], &l->items[l->n++]);
        out->type = TV_LIST;
        out->ns = n->kind == N_TUPLE;
        out->u.list = l;
        break;
    }
    case N_DICT: {
        tpl_dict *d = tpl_dict_new(rt, n->line, n->nv / 2);
        if (!d) { rc = -1; break; }
        for (size_t i = 0; i + 1 < n->nv && !rc; i += 2)
            rc = eval(rt, n->v[i], &a) || eval(rt, n->v[i + 1], &b) || tpl_dict_set(rt, n->line, d, a, b) ? -1 : 0;
        out->type = TV_DICT;
        out->ns = 0;
        out->u.dict = d;
        break;
    }
    case N_ATTR:
        if ((rc = eval(rt, n->a, &a))) break;
        if (a.type == TV_UNDEF) {
            rc = tpl_fail(rt, n->line, "'%.*s' is undefined (reading its attribute '%s')", (int)a.u.s.n, a.u.s.s,
                          n->name);
            break;
        }
        *out = tpl_undef(n->name, n->name_len);
        if (a.type == TV_DICT) {
            const tpl_value *v = tpl_dict_get(a.u.dict, n->name, n->name_len);
            if (v) *out = *v;
        }
        break;
    case N_INDEX:
        rc = eval(rt, n->a, &a) || eval(rt, n->b, &b) || get_item(rt, n->line, a, b, out) ? -1 : 0;
        break;
    case N_SLICE:
        rc = eval(rt, n->a, &a) || eval_slice(rt, n, a, out) ? -1 : 0;
        break;
    case N_CALL: rc = eval_call(rt, n, out); break;
    case N_FILTER:
        rc = eval(rt, n->a, &a) || eval_args(rt, n, &args) ||
             tpl_filter_run(rt, n->line, tpl_filter_find(n->name, n->name_len), a, &args, out) ? -1 : 0;
        break;
    case N_TEST: {
        int r = 0;
        rc = eval(rt, n->a, &a) || eval_args(rt, n, &args) ||
             tpl_test_run(rt, n->line, tpl_test_find(n->name, n->name_len), a, &args, &r) ? -1 : 0;
        *out = tpl_bool(n->op ? !r : r);
        break;
    }
    case N_NOT:
        if (!(rc = eval(rt, n->a, &a))) *out = tpl_bool(!tpl_truthy(a));
        break;
    case N_NEG: case N_POS:
        if ((rc = eval(rt, n->a, &a))) break;
        if (a.type == TV_FLOAT) *out = tpl_float(n->kind == N_NEG ? -a.u.f : a.u.f);
        else if (a.type == TV_INT || a.type == TV_BOOL) {
            int64_t i = num_i(a);
            if (n->kind == N_NEG && i == INT64_MIN) rc = tpl_fail(rt, n->line, "integer overflow in unary '-'");
            else *out = tpl_int(n->kind == N_NEG ? -i : i);
        } else if (a.type == TV_UNDEF) {
            rc = need_defined(rt, n->line, a);
        } else {
            rc = tpl_fail(rt, n->line, "bad operand type for unary %s: '%s'", n->kind == N_NEG ? "-" : "+",
                          tpl_type_name(a));
        }
        break;
    case N_BIN:
        rc = eval(rt, n->a, &a) || eval(rt, n->b, &b) || binop(rt, n->line, n->op, a, b, out) ? -1 : 0;
        break;
    case N_AND: case N_OR:
        if ((rc = eval(rt, n->a, &a))) break;
        if ((n->kind == N_AND) == !tpl_truthy(a)) *out = a;
        else rc = eval(rt, n->b, out);
        break;
    case N_COND:
        if ((rc = eval(rt, n->a, &a))) break;
        if (tpl_truthy(a)) rc = eval(rt, n->b, out);
        else if (n->c) rc = eval(rt, n->c, out);
        else *out = tpl_undef("else", 4);
        break;
    case N_CMP: {
        int r = 1;
        if ((rc = eval(rt, n->v[0], &a))) break;
        for (size_t i = 0; i + 1 < n->nv && r && !rc; i++) {
            rc = eval(rt, n->v[i + 1], &b) || compare_op(rt, n->line, n->ops[i], a, b, &r) ? -1 : 0;
            a = b;
        }
        *out = tpl_bool(r);
        break;
    }
    default:
        rc = tpl_fail(rt, n->line, "internal error: statement node %d used as an expression", n->kind);
        break;
    }
    rt->depth--;
    return rc ? -1 : 0;
}

/* ======================================================================== */
/* Calls                                                                     */
/* ======================================================================== */

/* Contract: renders body into a fresh buffer and returns it as a string
 * value (set blocks and macro calls). */
static int capture(tpl_rt *rt, int line, const tpl_node *body, tpl_value *out) {
    tpl_buf buf = {0}, *saved = rt->out;
    rt->out = &buf;
    int rc = exec_body(rt, body);
    rt->out = saved;
    char *s = rc ? NULL : tpl_str_alloc(rt, line, buf.s, buf.n);
    size_t n = buf.n;
    free(buf.s);
    if (!s) return -1;
    *out = tpl_strv(s, n);
    return 0;
}

/* Contract: see template_impl.h. Macro parameters bind positional
 * arguments first, then keywords; missing ones take their default (or are
 * undefined). */
int tpl_call_value(tpl_rt *rt, int line, tpl_value fn, const tpl_args *args, tpl_value *out) {
    if (fn.type == TV_FUNC) return tpl_func_run(rt, line, fn.u.func, args, out);
    if (fn.type != TV_MACRO) return tpl_fail(rt, line, "a '%s' cannot be called", tpl_type_name(fn));
    const tpl_node *m = fn.u.macro;
    if (args->n > m->nv)
        return tpl_fail(rt, line, "macro '%s' takes %zu arguments, %zu given", m->name, m->nv, args->n);
    if (enter(rt, line)) return -1;
    int rc = -1;
    tpl_frame *f = frame_new(rt, line, rt->globals), *saved = rt->scope;
    if (!f) goto out;
    for (size_t k = 0; k < args->nkw; k++) {
        size_t p = 0;
        while (p < m->nv && !(m->v[p]->name_len == args->kwl[k] && !memcmp(m->v[p]->name, args->kwn[k], args->kwl[k])))
            p++;
        if (p == m->nv) {
            tpl_fail(rt, line, "macro '%s' has no parameter '%s'", m->name, args->kwn[k]);
            goto out;
        }
        if (p < args->n) {
            tpl_fail(rt, line, "macro '%s' got parameter '%s' twice", m->name, args->kwn[k]);
            goto out;
        }
    }
    rt->scope = f;
    for (size_t p = 0; p < m->nv; p++) {
        const tpl_node *pn = m->v[p];
        tpl_value v = tpl_undef(pn->name, pn->name_len);
        int given = 0;
        if (p < args->n) { v = args->pos[p]; given = 1; }
        for (size_t k = 0; k < args->nkw && !given; k++)
            if (args->kwl[k] == pn->name_len && !memcmp(args->kwn[k], pn->name, pn->name_len)) { v = args->kw[k]; given = 1; }
        if (!given && pn->a && eval(rt, pn->a, &v)) goto out;
        if (frame_set(rt, line, f, pn->name, pn->name_len, v)) goto out;
    }
    rc = capture(rt, line, m->b, out);
out:
    rt->scope = saved;
    rt->depth--;
    return rc;
}

/* ======================================================================== */
/* Statements                                                                */
/* ======================================================================== */

/* Contract: assigns v to one target (a name in the innermost scope, or an
 * attribute of a namespace object). */
static int assign(tpl_rt *rt, const tpl_node *t, tpl_value v) {
    if (t->kind == N_NAME) return frame_set(rt, t->line, rt->scope, t->name, t->name_len, v);
    tpl_value ns = lookup(rt, t->a->name, t->a->name_len);
    if (ns.type != TV_DICT || !ns.ns)
        return tpl_fail(rt, t->line, "cannot set '%s.%s': '%s' is a '%s', not a namespace()", t->a->name, t->name,
                        t->a->name, tpl_type_name(ns));
    return tpl_dict_set(rt, t->line, ns.u.dict, tpl_strv(t->name, t->name_len), v);
}

/* Contract: binds the targets v[0..nv) of a set / for to value (unpacking
 * a list or tuple when there are several). */
static int bind_targets(tpl_rt *rt, const tpl_node *n, tpl_value value) {
    if (n->nv == 1) return assign(rt, n->v[0], value);
    if (value.type != TV_LIST || value.u.list->n != n->nv)
        return tpl_fail(rt, n->line, "cannot unpack a '%s'%s into %zu names", tpl_type_name(value),
                        value.type == TV_LIST ? " of another length" : "", n->nv);
    for (size_t i = 0; i < n->nv; i++)
        if (assign(rt, n->v[i], value.u.list->items[i])) return -1;
    return 0;
}

/* Contract: runs a for loop (filtered by `if`, with the loop object and
 * an else body that runs when nothing was iterated). */
static int exec_for(tpl_rt *rt, const tpl_node *n) {
    tpl_value it;
    tpl_list *items;
    if (eval(rt, n->a, &it) || tpl_iterate(rt, n->line, it, &items)) return -1;
    tpl_frame *saved = rt->scope;
    if (n->d) { /* loop filter: evaluated with the targets bound */
        tpl_list *kept = tpl_list_new(rt, n->line, items->n);
        if (!kept) return -1;
        for (size_t i = 0; i < items->n; i++) {
            tpl_value keep;
            rt->scope = frame_new(rt, n->line, saved);
            if (!rt->scope || bind_targets(rt, n, items->items[i]) || eval(rt, n->d, &keep)) { rt->scope = saved; return -1; }
            rt->scope = saved;
            if (tpl_truthy(keep)) kept->items[kept->n++] = items->items[i];
        }
        items = kept;
    }
    /* As Jinja's generated code: the else body runs unless some iteration
     * reached the end of the loop body (break / continue skip that mark). */
    int completed = 0;
    size_t len = items->n;
    /* one scope and one loop object for the whole loop: the scope is
     * emptied each iteration (sets do not survive into the next one) and
     * the loop object advances in place, like Jinja's LoopContext */
    static const char *const keys[] = {"index0", "index", "revindex", "revindex0", "first", "last", "length",
                                       "depth", "depth0", "previtem", "nextitem"};
    tpl_frame *f = frame_new(rt, n->line, saved);
    tpl_dict *loop = f ? tpl_dict_new(rt, n->line, 12) : NULL;
    if (!loop) return -1;
    for (int k = 0; k < 11; k++) loop->keys[k] = tpl_strv(keys[k], strlen(keys[k]));
    loop->n = 11;
    tpl_value lv = {.type = TV_DICT, .ns = 2};
    lv.u.dict = loop;
    for (size_t i = 0; i < len; i++) {
        if (++rt->steps > TPL_MAX_STEPS) /* empty bodies count too */
            return tpl_fail(rt, n->line, "the template runs too long (over %llu steps; an endless loop?)",
                            (unsigned long long)TPL_MAX_STEPS);
        tpl_value vals[11] = {tpl_int((int64_t)i), tpl_int((int64_t)i + 1), tpl_int((int64_t)(len - i)),
                              tpl_int((int64_t)(len - i - 1)), tpl_bool(i == 0), tpl_bool(i + 1 == len),
                              tpl_int((int64_t)len), tpl_int(1), tpl_int(0),
                              i > 0 ? items->items[i - 1] : tpl_undef("previtem", 8),
                              i + 1 < len ? items->items[i + 1] : tpl_undef("nextitem", 8)};
        memcpy(loop->vals, vals, sizeof vals);
        f->n = 0;
        rt->scope = f;
        int rc = frame_set(rt, n->line, f, "loop", 4, lv) || bind_targets(rt, n, items->items[i]) ||
                 exec_body(rt, n->b) ? -1 : 0;
        rt->scope = saved;
        if (rc) return -1;
        completed |= rt->loop_ctl == 0;
        if (rt->loop_ctl == 1) { rt->loop_ctl = 0; break; }
        rt->loop_ctl = 0;
    }
    return completed ? 0 : exec_body(rt, n->c);
}

/* Contract: runs a chain of statements; stops early when a break or
 * continue is pending (rt->loop_ctl) for the enclosing loop to handle. */
static int exec_body(tpl_rt *rt, const tpl_node *n) {
    for (; n; n = n->next) {
        if (enter(rt, n->line)) return -1;
        int rc = 0;
        tpl_value v;
        switch (n->kind) {
        case S_TEXT: rc = tpl_buf_put(rt, n->line, rt->out, n->lit.u.s.s, n->lit.u.s.n); break;
        case S_OUT: rc = eval(rt, n->a, &v) || tpl_str_of(rt, n->line, v, rt->out) ? -1 : 0; break;
        case S_IF:
            if (!(rc = eval(rt, n->a, &v))) rc = exec_body(rt, tpl_truthy(v) ? n->b : n->c);
            break;
        case S_FOR: rc = exec_for(rt, n); break;
        case S_SET: rc = eval(rt, n->a, &v) || bind_targets(rt, n, v) ? -1 : 0; break;
        case S_SETBLOCK:
            rc = capture(rt, n->line, n->b, &v) || frame_set(rt, n->line, rt->scope, n->name, n->name_len, v) ? -1 : 0;
            break;
        case S_MACRO:
            v.type = TV_MACRO;
            v.ns = 0;
            v.u.macro = n;
            rc = frame_set(rt, n->line, rt->scope, n->name, n->name_len, v);
            break;
        case S_BREAK: rt->loop_ctl = 1; break;
        case S_CONTINUE: rt->loop_ctl = 2; break;
        default: rc = tpl_fail(rt, n->line, "internal error: expression node %d used as a statement", n->kind); break;
        }
        rt->depth--;
        if (rc) return -1;
        if (rt->loop_ctl) return 0;
    }
    return 0;
}

/* ======================================================================== */
/* Rendering                                                                 */
/* ======================================================================== */

/* Contract: converts a JSON value into a template value (strings are
 * referenced). */
static int from_json(tpl_rt *rt, const json_value *j, tpl_value *out) {
    switch (j->type) {
    case JSON_NULL: *out = tpl_none(); return 0;
    case JSON_BOOL: *out = tpl_bool(j->u.boolean); return 0;
    case JSON_NUMBER: *out = j->u.number.is_int ? tpl_int(j->u.number.i) : tpl_float(j->u.number.num); return 0;
    case JSON_STRING: *out = tpl_strv(j->u.string.s, j->u.string.len); return 0;
    case JSON_ARRAY: {
        tpl_list *l = tpl_list_new(rt, 0, j->u.array.n);
        if (!l) return -1;
        for (size_t i = 0; i < j->u.array.n; i++)
            if (from_json(rt, j->u.array.items[i], &l->items[l->n++])) return -1;
        out->type = TV_LIST;
        out->ns = 0;
        out->u.list = l;
        return 0;
    }
    default: {
        tpl_dict *d = tpl_dict_new(rt, 0, j->u.object.n);
        if (!d) return -1;
        for (size_t i = 0; i < j->u.object.n; i++) {
            tpl_value v;
            if (from_json(rt, j->u.object.vals[i], &v) ||
                tpl_dict_set(rt, 0, d, tpl_strv(j->u.object.keys[i], j->u.object.key_lens[i]), v))
                return -1;
        }
        out->type = TV_DICT;
        out->ns = 0;
        out->u.dict = d;
        return 0;
    }
    }
}

/* Contract: the text of a special token in tokenizer_config.json (a string
 * or an object with "content"), or NULL. */
static const json_value *token_text(const json_value *v) {
    if (v && v->type == JSON_STRING) return v;
    const json_value *c = json_get(v, "content");
    return c && c->type == JSON_STRING ? c : NULL;
}

/* Contract: binds the variables of a render in the global scope. */
static int bind_globals(tpl_rt *rt, const tpl_render_params *p) {
    tpl_frame *g = rt->globals;
    tpl_value v;
    const json_value *cfg = p->config;
    if (cfg && cfg->type == JSON_OBJECT) {
        for (size_t i = 0; i < cfg->u.object.n; i++) {
            const char *k = cfg->u.object.keys[i];
            size_t kl = cfg->u.object.key_lens[i];
            const json_value *val = cfg->u.object.vals[i], *s = NULL;
            if (val->type == JSON_STRING) s = val;
            else if (kl > 6 && !memcmp(k + kl - 6, "_token", 6)) s = token_text(val);
            if (s) {
                if (frame_set(rt, 0, g, k, kl, tpl_strv(s->u.string.s, s->u.string.len))) return -1;
            } else if (!strcmp(k, "additional_special_tokens") && val->type == JSON_ARRAY) {
                tpl_list *l = tpl_list_new(rt, 0, val->u.array.n);
                if (!l) return -1;
                for (size_t j = 0; j < val->u.array.n; j++) {
                    const json_value *t = token_text(val->u.array.items[j]);
                    if (t) l->items[l->n++] = tpl_strv(t->u.string.s, t->u.string.len);
                }
                v.type = TV_LIST;
                v.ns = 0;
                v.u.list = l;
                if (frame_set(rt, 0, g, k, kl, v)) return -1;
            }
        }
    }
    const json_value *ex = p->extra;
    if (ex && ex->type == JSON_OBJECT)
        for (size_t i = 0; i < ex->u.object.n; i++)
            if (from_json(rt, ex->u.object.vals[i], &v) ||
                frame_set(rt, 0, g, ex->u.object.keys[i], ex->u.object.key_lens[i], v))
                return -1;
    if (p->bos_token && frame_set(rt, 0, g, "bos_token", 9, tpl_strv(p->bos_token, strlen(p->bos_token)))) return -1;
    if (p->eos_token && frame_set(rt, 0, g, "eos_token", 9, tpl_strv(p->eos_token, strlen(p->eos_token)))) return -1;
    if (p->messages_json) {
        if (from_json(rt, p->messages_json, &v)) return -1;
    } else {
        tpl_list *l = tpl_list_new(rt, 0, p->n_messages);
        if (!l) return -1;
        for (size_t i = 0; i < p->n_messages; i++) {
            tpl_dict *d = tpl_dict_new(rt, 0, 2);
            const char *r = p->messages[i].role ? p->messages[i].role : "";
            const char *c = p->messages[i].content ? p->messages[i].content : "";
            if (!d || tpl_dict_set(rt, 0, d, tpl_strv("role", 4), tpl_strv(r, strlen(r))) ||
                tpl_dict_set(rt, 0, d, tpl_strv("content", 7), tpl_strv(c, strlen(c))))
                return -1;
            l->items[l->n].type = TV_DICT;
            l->items[l->n].ns = 0;
            l->items[l->n++].u.dict = d;
        }
        v.type = TV_LIST;
        v.ns = 0;
        v.u.list = l;
    }
    if (frame_set(rt, 0, g, "messages", 8, v)) return -1;
    return frame_set(rt, 0, g, "add_generation_prompt", 21, tpl_bool(p->add_generation_prompt));
}

/* Contract: see template.h. */
tpl_render_params tpl_default_render_params(void) {
    tpl_render_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* Contract: see template.h. */
trit_status tpl_render(const tpl_template *t, const tpl_render_params *p, char **out, size_t *out_len,
                       trit_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !p) return trit_fail(err, TRIT_ERR_ARG, "tpl_render: no template or parameters");
    tpl_buf buf = {0};
    tpl_rt rt;
    memset(&rt, 0, sizeof rt);
    rt.t = t;
    rt.A.limit = TPL_MAX_ARENA;
    rt.out = &buf;
    rt.err = err;
    rt.now = p->now;
    rt.globals = frame_new(&rt, 0, NULL);
    rt.scope = rt.globals;
    int rc = !rt.globals || bind_globals(&rt, p) || exec_body(&rt, t->body) ? -1 : 0;
    if (rc && !rt.failed) tpl_fail(&rt, 0, "out of memory");
    if (!rc && !buf.s && !(buf.s = calloc(1, 1))) rc = tpl_fail(&rt, 0, "out of memory");
    tpl_arena_free(&rt.A);
    if (rc) {
        free(buf.s);
        return err ? err->code : TRIT_ERR_FORMAT;
    }
    *out = buf.s;
    if (out_len) *out_len = buf.n;
    return TRIT_OK;
}
