/*
 * template_parse.c - chat templates, part 2: the recursive-descent parser
 * (tokens from template_lex.c -> tree, see template_impl.h for the node
 * shapes) and tpl_parse.
 *
 * Operator precedence, loosest first, as Jinja's parser: `x if c else y`,
 * or, and, not, comparisons (== != < <= > >= in, not in), + -, ~,
 * * / // %, **, unary - +, then postfix (.attr [index] (call)) and filters
 * / tests (| f, is t) bind tightest: `a + b | trim` is `a + (b | trim)`.
 * Filter and test names are checked here, so a misspelt one is a parse
 * error naming it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "text/template_impl.h"

/* ======================================================================== */
/* Parser state                                                              */
/* ======================================================================== */

typedef tpl_tok tok;

typedef struct {
    const char *name;    /* template name for messages */
    tpl_arena *A;
    trit_error *err;
    int failed;
    tpl_tok *toks;
    size_t ntoks, i;
    int depth;
    int loops;           /* for loops open around the current statement */
} parser;

/* Contract: records "NAME line L: message" (first error wins); returns NULL
 * so parse functions can `return perr(...)`. */
static void *perr(parser *P, int line, const char *fmt, ...) TRIT_PRINTF(3, 4);
static void *perr(parser *P, int line, const char *fmt, ...) {
    if (P->failed) return NULL;
    P->failed = 1;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    trit_fail(P->err, TRIT_ERR_FORMAT, "%s line %d: %s", P->name, line, msg);
    return NULL;
}

/* Contract: copies s[0..n) into the arena, NUL-terminated; NULL on no memory. */
static char *pdup(parser *P, const char *s, size_t n) {
    char *d = tpl_alloc(P->A, n + 1);
    if (!d) return perr(P, 0, "out of memory");
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ======================================================================== */
/* Parser: helpers                                                           */
/* ======================================================================== */

/* Contract: token helpers: the current token, the one k ahead, advance
 * (never past K_EOF), and tests for an operator / a name. */
static const tok *cur(parser *P) { return &P->toks[P->i]; }
static const tok *peek(parser *P, size_t k) {
    size_t j = P->i + k < P->ntoks ? P->i + k : P->ntoks - 1;
    return &P->toks[j];
}
static void adv(parser *P) { if (P->i + 1 < P->ntoks) P->i++; }

static int is_op(const tok *t, const char *op) { return t->kind == K_OP && !strcmp(t->op, op); }
static int is_name(const tok *t, const char *nm) {
    size_t n = strlen(nm);
    return t->kind == K_NAME && t->n == n && !memcmp(t->s, nm, n);
}

/* Contract: a short description of token t for messages ("'foo'", "end of
 * tag '%}'", ...), in buf. */
static const char *describe(const tok *t, char *buf, size_t n) {
    switch (t->kind) {
    case K_EOF: return "end of template";
    case K_TEXT: return "template text";
    case K_VAR_BEGIN: return "'{{'";
    case K_VAR_END: return "'}}'";
    case K_BLOCK_BEGIN: return "'{%'";
    case K_BLOCK_END: return "'%}'";
    case K_NAME: snprintf(buf, n, "name '%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s); return buf;
    case K_INT: case K_FLOAT: return "a number";
    case K_STRING: return "a string";
    default: snprintf(buf, n, "'%s'", t->op); return buf;
    }
}

/* Contract: consumes the operator op or fails naming what was found. */
static int expect_op(parser *P, const char *op, const char *where) {
    if (is_op(cur(P), op)) { adv(P); return 0; }
    char b[80];
    perr(P, cur(P)->line, "expected '%s' %s, found %s", op, where, describe(cur(P), b, sizeof b));
    return -1;
}

/* Contract: consumes the end of a block tag or fails naming the tag. */
static int expect_block_end(parser *P, const char *tag) {
    if (cur(P)->kind == K_BLOCK_END) { adv(P); return 0; }
    char b[80];
    perr(P, cur(P)->line, "expected '%%}' to end '{%% %s %%}', found %s", tag, describe(cur(P), b, sizeof b));
    return -1;
}

/* Contract: a new node of `kind` on `line`. */
static tpl_node *node(parser *P, int kind, int line) {
    tpl_node *n = tpl_alloc(P->A, sizeof *n);
    if (!n) return perr(P, line, "out of memory");
    n->kind = (uint8_t)kind;
    n->line = line;
    return n;
}

/* A growable list of nodes used while parsing (malloc, copied to the arena
 * when done). */
typedef struct {
    tpl_node **v;
    size_t n, cap;
} nvec;

/* Contract: appends n; 0, or -1 on no memory. */
static int nvec_push(parser *P, nvec *v, tpl_node *n) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        tpl_node **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) { perr(P, 0, "out of memory"); return -1; }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = n;
    return 0;
}

/* Contract: moves the list into node n (n->v, n->nv); frees the vector. */
static int nvec_to(parser *P, nvec *v, tpl_node *n) {
    n->nv = v->n;
    if (v->n) {
        n->v = tpl_alloc(P->A, v->n * sizeof *n->v);
        if (!n->v) { free(v->v); perr(P, n->line, "out of memory"); return -1; }
        memcpy(n->v, v->v, v->n * sizeof *n->v);
    }
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
    return 0;
}

/* ======================================================================== */
/* Parser: expressions                                                       */
/* ======================================================================== */

static tpl_node *parse_expr(parser *P);
static tpl_node *parse_or(parser *P);
static tpl_node *parse_unary(parser *P, int with_filter);

/* Contract: 1 when token t can start an expression. */
static int starts_expr(const tok *t) {
    if (t->kind == K_NAME || t->kind == K_INT || t->kind == K_FLOAT || t->kind == K_STRING) return 1;
    return t->kind == K_OP && (!strcmp(t->op, "(") || !strcmp(t->op, "[") || !strcmp(t->op, "{") ||
                               !strcmp(t->op, "-") || !strcmp(t->op, "+"));
}

/* Contract: parses "(args)" after the '(' was seen: positional and
 * keyword (name=expr) arguments into n->v. */
static int parse_args(parser *P, tpl_node *n) {
    nvec v = {0};
    adv(P); /* ( */
    while (!is_op(cur(P), ")")) {
        if (is_op(cur(P), "*") || is_op(cur(P), "**")) {
            free(v.v);
            perr(P, cur(P)->line, "unsupported: *args / **kwargs in a call");
            return -1;
        }
        tpl_node *a;
        if (cur(P)->kind == K_NAME && is_op(peek(P, 1), "=")) {
            const tok *t = cur(P);
            adv(P);
            adv(P);
            a = parse_expr(P);
            if (a) {
                a->kw = pdup(P, t->s, t->n);
                a->kw_len = t->n;
            }
        } else {
            a = parse_expr(P);
        }
        if (!a || nvec_push(P, &v, a)) { free(v.v); return -1; }
        if (is_op(cur(P), ",")) { adv(P); continue; }
        if (!is_op(cur(P), ")")) {
            free(v.v);
            return expect_op(P, ")", "to close the argument list");
        }
    }
    adv(P);
    return nvec_to(P, &v, n);
}

/* Contract: parses a literal, name, parenthesized expression / tuple, list
 * or dict. */
static tpl_node *parse_primary(parser *P) {
    const tok *t = cur(P);
    char b[80];
    tpl_node *n;
    if (t->kind == K_NAME) {
        if (!(n = node(P, N_LIT, t->line))) return NULL;
        if (is_name(t, "true") || is_name(t, "True")) n->lit = tpl_bool(1);
        else if (is_name(t, "false") || is_name(t, "False")) n->lit = tpl_bool(0);
        else if (is_name(t, "none") || is_name(t, "None")) n->lit = tpl_none();
        else {
            n->kind = N_NAME;
            if (!(n->name = pdup(P, t->s, t->n))) return NULL;
            n->name_len = t->n;
        }
        adv(P);
        return n;
    }
    if (t->kind == K_STRING) {
        /* adjacent literals concatenate: 'a' 'b' == 'ab' */
        size_t total = 0, j = P->i;
        while (P->toks[j].kind == K_STRING) total += P->toks[j++].n;
        char *s = tpl_alloc(P->A, total + 1);
        if (!s || !(n = node(P, N_LIT, t->line))) return perr(P, t->line, "out of memory");
        size_t o = 0;
        while (cur(P)->kind == K_STRING) {
            memcpy(s + o, cur(P)->s, cur(P)->n);
            o += cur(P)->n;
            adv(P);
        }
        n->lit = tpl_strv(s, total);
        return n;
    }
    if (t->kind == K_INT || t->kind == K_FLOAT) {
        if (!(n = node(P, N_LIT, t->line))) return NULL;
        n->lit = t->kind == K_INT ? tpl_int(t->i) : tpl_float(t->f);
        adv(P);
        return n;
    }
    if (is_op(t, "(")) {
        adv(P);
        nvec v = {0};
        int tuple = 0;
        while (!is_op(cur(P), ")")) {
            tpl_node *e = parse_expr(P);
            if (!e || nvec_push(P, &v, e)) { free(v.v); return NULL; }
            if (!is_op(cur(P), ",")) break;
            tuple = 1;
            adv(P);
        }
        if (expect_op(P, ")", "to close '('")) { free(v.v); return NULL; }
        if (v.n == 1 && !tuple) {
            n = v.v[0];
            free(v.v);
            return n;
        }
        if (!(n = node(P, N_TUPLE, t->line)) || nvec_to(P, &v, n)) { free(v.v); return NULL; }
        return n;
    }
    if (is_op(t, "[")) {
        adv(P);
        nvec v = {0};
        while (!is_op(cur(P), "]")) {
            tpl_node *e = parse_expr(P);
            if (!e || nvec_push(P, &v, e)) { free(v.v); return NULL; }
            if (!is_op(cur(P), ",")) break;
            adv(P);
        }
        if (expect_op(P, "]", "to close the list '['")) { free(v.v); return NULL; }
        if (!(n = node(P, N_LIST, t->line)) || nvec_to(P, &v, n)) { free(v.v); return NULL; }
        return n;
    }
    if (is_op(t, "{")) {
        adv(P);
        nvec v = {0};
        while (!is_op(cur(P), "}")) {
            tpl_node *k = parse_expr(P);
            if (!k || expect_op(P, ":", "between a dict key and its value")) { free(v.v); return NULL; }
            tpl_node *e = parse_expr(P);
            if (!e || nvec_push(P, &v, k) || nvec_push(P, &v, e)) { free(v.v); return NULL; }
            if (!is_op(cur(P), ",")) break;
            adv(P);
        }
        if (expect_op(P, "}", "to close the dict '{'")) { free(v.v); return NULL; }
        if (!(n = node(P, N_DICT, t->line)) || nvec_to(P, &v, n)) { free(v.v); return NULL; }
        return n;
    }
    return perr(P, t->line, "expected an expression, found %s", describe(t, b, sizeof b));
}

/* Contract: parses ".name", "[index]", "[a:b:c]" and "(args)" after n. */
static tpl_node *parse_postfix(parser *P, tpl_node *n) {
    char b[80];
    while (n) {
        const tok *t = cur(P);
        if (is_op(t, ".")) {
            adv(P);
            const tok *nm = cur(P);
            tpl_node *x;
            if (nm->kind == K_NAME) {
                if (!(x = node(P, N_ATTR, t->line))) return NULL;
                if (!(x->name = pdup(P, nm->s, nm->n))) return NULL;
                x->name_len = nm->n;
            } else if (nm->kind == K_INT) { /* x.0 is x[0] */
                tpl_node *ix = node(P, N_LIT, t->line);
                if (!ix || !(x = node(P, N_INDEX, t->line))) return NULL;
                ix->lit = tpl_int(nm->i);
                x->b = ix;
            } else {
                return perr(P, t->line, "expected an attribute name after '.', found %s", describe(nm, b, sizeof b));
            }
            adv(P);
            x->a = n;
            n = x;
        } else if (is_op(t, "[")) {
            adv(P);
            tpl_node *parts[3] = {NULL, NULL, NULL};
            int slice = 0;
            for (int k = 0; k < 3; k++) {
                if (!is_op(cur(P), ":") && !is_op(cur(P), "]")) {
                    if (!(parts[k] = parse_expr(P))) return NULL;
                }
                if (k < 2 && is_op(cur(P), ":")) { slice = 1; adv(P); continue; }
                break;
            }
            if (!slice && parts[0] && is_op(cur(P), ",")) { /* x[a, b]: a tuple key */
                nvec tv = {0};
                if (nvec_push(P, &tv, parts[0])) return NULL;
                while (is_op(cur(P), ",")) {
                    adv(P);
                    if (is_op(cur(P), "]")) break;
                    tpl_node *e = parse_expr(P);
                    if (!e || nvec_push(P, &tv, e)) { free(tv.v); return NULL; }
                }
                tpl_node *tu = node(P, N_TUPLE, t->line);
                if (!tu || nvec_to(P, &tv, tu)) { free(tv.v); return NULL; }
                parts[0] = tu;
            }
            if (expect_op(P, "]", "to close the subscript '['")) return NULL;
            tpl_node *x = node(P, slice ? N_SLICE : N_INDEX, t->line);
            if (!x) return NULL;
            x->a = n;
            if (slice) {
                if (!(x->v = tpl_alloc(P->A, 3 * sizeof *x->v))) return perr(P, t->line, "out of memory");
                memcpy(x->v, parts, sizeof parts);
                x->nv = 3;
            } else {
                if (!parts[0]) return perr(P, t->line, "empty subscript '[]'");
                x->b = parts[0];
            }
            n = x;
        } else if (is_op(t, "(")) {
            tpl_node *x = node(P, N_CALL, t->line);
            if (!x) return NULL;
            x->a = n;
            if (parse_args(P, x)) return NULL;
            n = x;
        } else {
            break;
        }
    }
    return n;
}

/* Contract: parses "| filter(args)" and "is [not] test [arg]" after n. */
static tpl_node *parse_filters(parser *P, tpl_node *n) {
    char b[80];
    while (n) {
        const tok *t = cur(P);
        if (is_op(t, "|")) {
            adv(P);
            const tok *nm = cur(P);
            if (nm->kind != K_NAME)
                return perr(P, nm->line, "expected a filter name after '|', found %s", describe(nm, b, sizeof b));
            if (tpl_filter_find(nm->s, nm->n) < 0)
                return perr(P, nm->line, "unknown filter '%.*s'", (int)(nm->n > 60 ? 60 : nm->n), nm->s);
            tpl_node *x = node(P, N_FILTER, nm->line);
            if (!x || !(x->name = pdup(P, nm->s, nm->n))) return NULL;
            x->name_len = nm->n;
            x->a = n;
            adv(P);
            if (is_op(cur(P), "(") && parse_args(P, x)) return NULL;
            n = x;
        } else if (is_name(t, "is")) {
            adv(P);
            int neg = 0;
            if (is_name(cur(P), "not")) { neg = 1; adv(P); }
            const tok *nm = cur(P);
            if (nm->kind != K_NAME)
                return perr(P, nm->line, "expected a test name after 'is', found %s", describe(nm, b, sizeof b));
            if (tpl_test_find(nm->s, nm->n) < 0)
                return perr(P, nm->line, "unknown test '%.*s'", (int)(nm->n > 60 ? 60 : nm->n), nm->s);
            tpl_node *x = node(P, N_TEST, nm->line);
            if (!x || !(x->name = pdup(P, nm->s, nm->n))) return NULL;
            x->name_len = nm->n;
            x->op = (uint8_t)neg;
            x->a = n;
            adv(P);
            const tok *nx = cur(P);
            if (is_op(nx, "(")) {
                if (parse_args(P, x)) return NULL;
            } else if ((nx->kind == K_NAME || nx->kind == K_INT || nx->kind == K_FLOAT || nx->kind == K_STRING ||
                        is_op(nx, "[") || is_op(nx, "{")) &&
                       !is_name(nx, "else") && !is_name(nx, "or") && !is_name(nx, "and")) {
                /* as Jinja: any other name here is the test's argument */
                if (is_name(nx, "is")) return perr(P, nx->line, "tests cannot be chained ('is ... is')");
                tpl_node *arg = parse_postfix(P, parse_primary(P));
                if (!arg) return NULL;
                if (!(x->v = tpl_alloc(P->A, sizeof *x->v))) return perr(P, nx->line, "out of memory");
                x->v[0] = arg;
                x->nv = 1;
            }
            n = x;
        } else {
            break;
        }
    }
    return n;
}

/* Contract: unary minus / plus, then postfix and (with_filter) filters. */
static tpl_node *parse_unary(parser *P, int with_filter) {
    const tok *t = cur(P);
    if (++P->depth > TPL_MAX_DEPTH) return perr(P, t->line, "expression nested too deeply");
    tpl_node *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        adv(P);
        n = node(P, is_op(t, "-") ? N_NEG : N_POS, t->line);
        if (n && !(n->a = parse_unary(P, 0))) n = NULL;
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filters(P, n);
    P->depth--;
    return n;
}

/* Contract: builds a binary node. */
static tpl_node *bin(parser *P, int kind, int op, int line, tpl_node *a, tpl_node *b) {
    if (!a || !b) return NULL;
    tpl_node *n = node(P, kind, line);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

/* Contract: one precedence level each, left-associative: a ** b,
 * a * / // % b, a ~ b, a + - b. */
static tpl_node *parse_pow(parser *P) {
    tpl_node *n = parse_unary(P, 1);
    while (n && is_op(cur(P), "**")) {
        int line = cur(P)->line;
        adv(P);
        n = bin(P, N_BIN, OP_POW, line, n, parse_unary(P, 1));
    }
    return n;
}

static tpl_node *parse_math2(parser *P) {
    tpl_node *n = parse_pow(P);
    for (;;) {
        const tok *t = cur(P);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV
               : is_op(t, "%") ? OP_MOD : -1;
        if (!n || op < 0) return n;
        adv(P);
        n = bin(P, N_BIN, op, t->line, n, parse_pow(P));
    }
}

static tpl_node *parse_concat(parser *P) {
    tpl_node *n = parse_math2(P);
    while (n && is_op(cur(P), "~")) {
        int line = cur(P)->line;
        adv(P);
        n = bin(P, N_BIN, OP_CONCAT, line, n, parse_math2(P));
    }
    return n;
}

static tpl_node *parse_math1(parser *P) {
    tpl_node *n = parse_concat(P);
    for (;;) {
        const tok *t = cur(P);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (!n || op < 0) return n;
        adv(P);
        n = bin(P, N_BIN, op, t->line, n, parse_concat(P));
    }
}

/* Contract: a comparison chain a op b op c ... (one N_CMP node), or the
 * single operand. */
static tpl_node *parse_compare(parser *P) {
    tpl_node *first = parse_math1(P);
    if (!first) return NULL;
    nvec v = {0};
    uint8_t ops[64];
    size_t nops = 0;
    int line = cur(P)->line;
    for (;;) {
        const tok *t = cur(P);
        int op = is_op(t, "==") ? OP_EQ : is_op(t, "!=") ? OP_NE : is_op(t, "<") ? OP_LT : is_op(t, "<=") ? OP_LE
               : is_op(t, ">") ? OP_GT : is_op(t, ">=") ? OP_GE : is_name(t, "in") ? OP_IN
               : (is_name(t, "not") && is_name(peek(P, 1), "in")) ? OP_NOTIN : -1;
        if (op < 0) break;
        if (nops == sizeof ops) { free(v.v); return perr(P, t->line, "comparison chain too long"); }
        adv(P);
        if (op == OP_NOTIN) adv(P);
        if (!v.n && nvec_push(P, &v, first)) { free(v.v); return NULL; }
        tpl_node *rhs = parse_math1(P);
        if (!rhs || nvec_push(P, &v, rhs)) { free(v.v); return NULL; }
        ops[nops++] = (uint8_t)op;
    }
    if (!nops) return first;
    tpl_node *n = node(P, N_CMP, line);
    if (!n || nvec_to(P, &v, n)) { free(v.v); return NULL; }
    if (!(n->ops = tpl_alloc(P->A, nops))) return perr(P, line, "out of memory");
    memcpy(n->ops, ops, nops);
    return n;
}

/* Contract: `not x` (right-recursive), then a comparison. */
static tpl_node *parse_not(parser *P) {
    const tok *t = cur(P);
    if (is_name(t, "not")) {
        if (++P->depth > TPL_MAX_DEPTH) return perr(P, t->line, "expression nested too deeply");
        adv(P);
        tpl_node *n = node(P, N_NOT, t->line);
        if (n && !(n->a = parse_not(P))) n = NULL;
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

/* Contract: `a and b and ...`. */
static tpl_node *parse_and(parser *P) {
    tpl_node *n = parse_not(P);
    while (n && is_name(cur(P), "and")) {
        int line = cur(P)->line;
        adv(P);
        n = bin(P, N_AND, 0, line, n, parse_not(P));
    }
    return n;
}

/* Contract: `a or b or ...`. */
static tpl_node *parse_or(parser *P) {
    tpl_node *n = parse_and(P);
    while (n && is_name(cur(P), "or")) {
        int line = cur(P)->line;
        adv(P);
        n = bin(P, N_OR, 0, line, n, parse_and(P));
    }
    return n;
}

/* Contract: a full expression, with `x if c else y`. */
static tpl_node *parse_expr(parser *P) {
    if (++P->depth > TPL_MAX_DEPTH) return perr(P, cur(P)->line, "expression nested too deeply");
    tpl_node *n = parse_or(P);
    while (n && is_name(cur(P), "if")) {
        int line = cur(P)->line;
        adv(P);
        tpl_node *c = node(P, N_COND, line);
        if (!c || !(c->a = parse_or(P))) { n = NULL; break; }
        c->b = n;
        if (is_name(cur(P), "else")) { /* right-associative: a if b else c if d else e */
            adv(P);
            if (!(c->c = parse_expr(P))) { n = NULL; break; }
        }
        n = c;
    }
    P->depth--;
    return n;
}

/* Contract: an expression, or several separated by commas (a tuple), as
 * the right side of set, the iterable of for and the body of {{ }}.
 * with_cond = 0 parses the items without `if` (for loops use it). */
static tpl_node *parse_tuple(parser *P, int with_cond) {
    int line = cur(P)->line;
    tpl_node *first = with_cond ? parse_expr(P) : parse_or(P);
    if (!first || !is_op(cur(P), ",")) return first;
    nvec v = {0};
    if (nvec_push(P, &v, first)) return NULL;
    while (is_op(cur(P), ",")) {
        adv(P);
        if (!starts_expr(cur(P))) break;
        tpl_node *e = with_cond ? parse_expr(P) : parse_or(P);
        if (!e || nvec_push(P, &v, e)) { free(v.v); return NULL; }
    }
    tpl_node *n = node(P, N_TUPLE, line);
    if (!n || nvec_to(P, &v, n)) { free(v.v); return NULL; }
    return n;
}

/* ======================================================================== */
/* Parser: statements                                                        */
/* ======================================================================== */

static tpl_node *parse_body(parser *P, const char *const *ends, int *which, const char *opener, int open_line);

/* Contract: parses assignment targets "a", "a, b", "(a, b)" or "ns.attr"
 * (attr_ok) into v; consumes them. */
static int parse_targets(parser *P, nvec *v, int attr_ok, const char *tag) {
    char b[80];
    int paren = is_op(cur(P), "(");
    if (paren) adv(P);
    for (;;) {
        const tok *t = cur(P);
        if (t->kind != K_NAME) {
            perr(P, t->line, "expected a variable name in '{%% %s %%}', found %s", tag, describe(t, b, sizeof b));
            return -1;
        }
        tpl_node *n = node(P, N_NAME, t->line);
        if (!n || !(n->name = pdup(P, t->s, t->n))) return -1;
        n->name_len = t->n;
        adv(P);
        if (attr_ok && is_op(cur(P), ".")) {
            adv(P);
            const tok *a = cur(P);
            if (a->kind != K_NAME) {
                perr(P, a->line, "expected an attribute name after '.', found %s", describe(a, b, sizeof b));
                return -1;
            }
            tpl_node *x = node(P, N_ATTR, a->line);
            if (!x || !(x->name = pdup(P, a->s, a->n))) return -1;
            x->name_len = a->n;
            x->a = n;
            n = x;
            adv(P);
        }
        if (nvec_push(P, v, n)) return -1;
        if (!is_op(cur(P), ",")) break;
        adv(P);
    }
    if (paren && expect_op(P, ")", "to close the target list")) return -1;
    return 0;
}

/* Contract: parses the rest of "{% if cond %}" ... up to and including
 * "{% endif %}" (elif chains become nested S_IF nodes). */
static tpl_node *parse_if(parser *P, int line) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const end_only[] = {"endif", NULL};
    tpl_node *n = node(P, S_IF, line);
    /* as Jinja: the condition is parsed without `x if c else y` at its top */
    if (!n || !(n->a = parse_tuple(P, 0)) || expect_block_end(P, "if")) return NULL;
    int which;
    n->b = parse_body(P, ends, &which, "if", line);
    if (P->failed) return NULL;
    if (which == 0) { /* elif: the rest is a nested if */
        if (!(n->c = parse_if(P, cur(P)->line))) return NULL;
        return n;
    }
    if (which == 1) {
        if (expect_block_end(P, "else")) return NULL;
        n->c = parse_body(P, end_only, &which, "if", line);
        if (P->failed) return NULL;
    }
    if (expect_block_end(P, "endif")) return NULL;
    return n;
}

/* Contract: parses the rest of "{% for targets in iter [if cond] %}" up to
 * and including "{% endfor %}". */
static tpl_node *parse_for(parser *P, int line) {
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const end_only[] = {"endfor", NULL};
    char b[80];
    tpl_node *n = node(P, S_FOR, line);
    nvec tg = {0};
    if (!n || parse_targets(P, &tg, 0, "for") || nvec_to(P, &tg, n)) { free(tg.v); return NULL; }
    if (!is_name(cur(P), "in"))
        return perr(P, cur(P)->line, "expected 'in' in '{%% for %%}', found %s", describe(cur(P), b, sizeof b));
    adv(P);
    if (!(n->a = parse_tuple(P, 0))) return NULL;
    if (is_name(cur(P), "if")) {
        adv(P);
        if (!(n->d = parse_expr(P))) return NULL;
    }
    if (is_name(cur(P), "recursive")) return perr(P, cur(P)->line, "unsupported: recursive for loops");
    if (expect_block_end(P, "for")) return NULL;
    int which;
    P->loops++;
    n->b = parse_body(P, ends, &which, "for", line);
    P->loops--;
    if (P->failed) return NULL;
    if (which == 0) {
        if (expect_block_end(P, "else")) return NULL;
        n->c = parse_body(P, end_only, &which, "for", line);
        if (P->failed) return NULL;
    }
    if (expect_block_end(P, "endfor")) return NULL;
    return n;
}

/* Contract: parses the rest of "{% set ... %}": an assignment, or a block
 * assignment up to "{% endset %}". */
static tpl_node *parse_set(parser *P, int line) {
    static const char *const ends[] = {"endset", NULL};
    tpl_node *n = node(P, S_SET, line);
    nvec tg = {0};
    if (!n || parse_targets(P, &tg, 1, "set") || nvec_to(P, &tg, n)) { free(tg.v); return NULL; }
    if (is_op(cur(P), "=")) {
        adv(P);
        if (!(n->a = parse_tuple(P, 1)) || expect_block_end(P, "set")) return NULL;
        return n;
    }
    if (cur(P)->kind != K_BLOCK_END || n->nv != 1 || n->v[0]->kind != N_NAME) {
        char b[80];
        return perr(P, cur(P)->line, "expected '=' in '{%% set %%}', found %s", describe(cur(P), b, sizeof b));
    }
    adv(P);
    n->kind = S_SETBLOCK;
    n->name = n->v[0]->name;
    n->name_len = n->v[0]->name_len;
    int which;
    n->b = parse_body(P, ends, &which, "set", line);
    if (P->failed || expect_block_end(P, "endset")) return NULL;
    return n;
}

/* Contract: parses the rest of "{% macro name(params) %}" up to and
 * including "{% endmacro %}". */
static tpl_node *parse_macro(parser *P, int line) {
    static const char *const ends[] = {"endmacro", NULL};
    char b[80];
    const tok *t = cur(P);
    if (t->kind != K_NAME) return perr(P, t->line, "expected a macro name, found %s", describe(t, b, sizeof b));
    tpl_node *n = node(P, S_MACRO, line);
    if (!n || !(n->name = pdup(P, t->s, t->n))) return NULL;
    n->name_len = t->n;
    adv(P);
    nvec v = {0};
    if (expect_op(P, "(", "after the macro name")) return NULL;
    while (!is_op(cur(P), ")")) {
        const tok *p = cur(P);
        if (p->kind != K_NAME) {
            free(v.v);
            return perr(P, p->line, "expected a parameter name, found %s", describe(p, b, sizeof b));
        }
        tpl_node *pn = node(P, N_NAME, p->line);
        if (!pn || !(pn->name = pdup(P, p->s, p->n))) { free(v.v); return NULL; }
        pn->name_len = p->n;
        adv(P);
        if (is_op(cur(P), "=")) {
            adv(P);
            if (!(pn->a = parse_expr(P))) { free(v.v); return NULL; }
        }
        if (nvec_push(P, &v, pn)) { free(v.v); return NULL; }
        if (!is_op(cur(P), ",")) break;
        adv(P);
    }
    if (expect_op(P, ")", "to close the parameter list") || nvec_to(P, &v, n)) { free(v.v); return NULL; }
    if (expect_block_end(P, "macro")) return NULL;
    int which, loops = P->loops;
    P->loops = 0;
    n->b = parse_body(P, ends, &which, "macro", line);
    P->loops = loops;
    if (P->failed || expect_block_end(P, "endmacro")) return NULL;
    return n;
}

/* Contract: parses one "{% tag ... %}" statement (the "{%" and tag name
 * already consumed). */
static tpl_node *parse_tag(parser *P, const tok *tag) {
    static const char *const unsupported[] = {"include", "extends", "block", "call", "filter", "raw", "with",
                                              "import", "from", "autoescape", "do", "trans", NULL};
    static const char *const gen_end[] = {"endgeneration", NULL};
    int line = tag->line;
    if (is_name(tag, "if")) return parse_if(P, line);
    if (is_name(tag, "for")) return parse_for(P, line);
    if (is_name(tag, "set")) return parse_set(P, line);
    if (is_name(tag, "macro")) return parse_macro(P, line);
    if (is_name(tag, "break") || is_name(tag, "continue")) {
        int brk = is_name(tag, "break");
        if (!P->loops) return perr(P, line, "'{%% %s %%}' outside a for loop", brk ? "break" : "continue");
        tpl_node *n = node(P, brk ? S_BREAK : S_CONTINUE, line);
        if (!n || expect_block_end(P, brk ? "break" : "continue")) return NULL;
        return n;
    }
    if (is_name(tag, "generation")) { /* transformers' assistant-mask marker: renders its body */
        if (expect_block_end(P, "generation")) return NULL;
        tpl_node *n = node(P, S_IF, line), *t = node(P, N_LIT, line);
        if (!n || !t) return NULL;
        t->lit = tpl_bool(1);
        n->a = t;
        int which;
        n->b = parse_body(P, gen_end, &which, "generation", line);
        if (P->failed || expect_block_end(P, "endgeneration")) return NULL;
        return n;
    }
    for (int k = 0; unsupported[k]; k++)
        if (is_name(tag, unsupported[k]))
            return perr(P, line, "unsupported tag '{%% %s %%}' (chat templates may use if, for, set, macro, "
                        "break, continue, generation)", unsupported[k]);
    return perr(P, line, "unknown or misplaced tag '{%% %.*s %%}'", (int)(tag->n > 40 ? 40 : tag->n), tag->s);
}

/* Contract: parses statements until a "{% end %}" tag named in `ends`
 * (NULL-terminated; NULL: until the end of the template). The end tag's
 * name is consumed, its "%}" is not; *which is its index in ends.
 * Returns the chain of statements (NULL for an empty body; check
 * P->failed). */
static tpl_node *parse_body(parser *P, const char *const *ends, int *which, const char *opener, int open_line) {
    tpl_node *head = NULL, **tail = &head;
    char b[80];
    if (++P->depth > TPL_MAX_DEPTH) return perr(P, cur(P)->line, "blocks nested too deeply");
    for (;;) {
        const tok *t = cur(P);
        tpl_node *n = NULL;
        if (t->kind == K_EOF) {
            if (ends) {
                perr(P, open_line, "'{%% %s %%}' is never closed (expected '{%% end%s %%}')", opener, opener);
                return NULL;
            }
            break;
        }
        if (t->kind == K_TEXT) {
            if (!(n = node(P, S_TEXT, t->line))) return NULL;
            n->lit = tpl_strv(t->s, t->n);
            adv(P);
        } else if (t->kind == K_VAR_BEGIN) {
            adv(P);
            if (cur(P)->kind == K_VAR_END) return perr(P, t->line, "empty expression '{{ }}'");
            if (!(n = node(P, S_OUT, t->line)) || !(n->a = parse_tuple(P, 1))) return NULL;
            if (cur(P)->kind != K_VAR_END)
                return perr(P, cur(P)->line, "expected '}}', found %s", describe(cur(P), b, sizeof b));
            adv(P);
        } else if (t->kind == K_BLOCK_BEGIN) {
            adv(P);
            const tok *tag = cur(P);
            if (tag->kind != K_NAME)
                return perr(P, tag->line, "expected a tag name after '{%%', found %s", describe(tag, b, sizeof b));
            for (int k = 0; ends && ends[k]; k++)
                if (is_name(tag, ends[k])) {
                    *which = k;
                    adv(P);
                    P->depth--;
                    return head;
                }
            adv(P);
            if (!(n = parse_tag(P, tag))) return NULL;
        } else {
            return perr(P, t->line, "unexpected %s", describe(t, b, sizeof b));
        }
        *tail = n;
        while (n->next) n = n->next;
        tail = &n->next;
    }
    P->depth--;
    return head;
}

/* ======================================================================== */
/* Entry points                                                              */
/* ======================================================================== */

/* Contract: see template.h. */
trit_status tpl_parse(const char *name, const char *src, size_t len, tpl_template **out, trit_error *err) {
    *out = NULL;
    if (!name) name = "chat template";
    if (!src) return trit_fail(err, TRIT_ERR_ARG, "%s: no template text", name);
    tpl_template *t = calloc(1, sizeof *t);
    if (!t) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
    t->arena.limit = (size_t)1 << 30;
    parser P = {.name = name, .A = &t->arena, .err = err};
    /* Jinja's source normalization: newlines to \n, one trailing one dropped */
    char *s = tpl_alloc(&t->arena, len + 1);
    t->name = pdup(&P, name, strlen(name));
    if (!s || !t->name) {
        tpl_arena_free(&t->arena);
        free(t);
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", name);
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;
    if (tpl_lex(t->name, s, n, &t->arena, &P.toks, &P.ntoks, err) == 0) {
        int which;
        t->body = parse_body(&P, NULL, &which, "", 1);
    } else {
        P.failed = 1;
    }
    free(P.toks);
    if (P.failed) {
        tpl_free(t);
        return err ? err->code : TRIT_ERR_FORMAT;
    }
    *out = t;
    return TRIT_OK;
}

/* Contract: see template.h. */
void tpl_free(tpl_template *t) {
    if (!t) return;
    tpl_arena_free(&t->arena);
    free(t);
}

/* Contract: see template.h. */
const char *tpl_config_template(const json_value *config, size_t *len) {
    const json_value *ct = json_get(config, "chat_template");
    if (!ct) return NULL;
    if (ct->type == JSON_STRING) {
        if (len) *len = ct->u.string.len;
        return ct->u.string.s;
    }
    if (ct->type != JSON_ARRAY) return NULL;
    const json_value *pick = NULL;
    for (size_t i = 0; i < json_len(ct); i++) {
        const json_value *e = json_at(ct, i);
        const char *nm = json_get_str(e, "name", NULL);
        const json_value *tx = json_get(e, "template");
        if (!tx || tx->type != JSON_STRING) continue;
        if (!pick || (nm && !strcmp(nm, "default"))) pick = tx;
        if (nm && !strcmp(nm, "default")) break;
    }
    if (!pick) return NULL;
    if (len) *len = pick->u.string.len;
    return pick->u.string.s;
}
