/*
 * template_impl.h - internals shared by the chat template files:
 *   template_lex.c       arena; lexer: source -> tokens
 *   template_parse.c     parser: tokens -> syntax tree; tpl_parse
 *   template_value.c     values: truth, equality, order, str(), repr()
 *   template_eval.c      scopes, operators, expressions, statements; tpl_render
 *   template_builtins.c  filters, tests, methods, global functions, tojson
 * Nothing here is used outside src/text/template_*.c.
 */
#ifndef TRIT_TEMPLATE_IMPL_H
#define TRIT_TEMPLATE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "trit.h"
#include "text/template.h"

/* ======================================================================== */
/* Limits                                                                    */
/* ======================================================================== */

#define TPL_MAX_OUTPUT ((size_t)32 << 20)    /* bytes of rendered text        */
#define TPL_MAX_ARENA ((size_t)256 << 20)    /* bytes of values per render    */
#define TPL_MAX_STEPS ((uint64_t)10000000)   /* statements + expressions run  */
#define TPL_MAX_DEPTH 200                    /* parser / evaluator nesting    */

/* ======================================================================== */
/* Arena                                                                     */
/* ======================================================================== */

/* Bump allocator: blocks chained newest first, freed all at once. */
typedef struct tpl_block tpl_block;
typedef struct {
    tpl_block *head;
    size_t total;      /* bytes of all blocks */
    size_t limit;      /* tpl_alloc fails beyond this */
} tpl_arena;

/* Zeroed, 16-byte aligned memory from a; NULL when out of memory or over
 * the arena's limit. */
void *tpl_alloc(tpl_arena *a, size_t n);
void tpl_arena_free(tpl_arena *a);

/* ======================================================================== */
/* Tokens (template_lex.c)                                                   */
/* ======================================================================== */

typedef enum {
    K_EOF, K_TEXT, K_VAR_BEGIN, K_VAR_END, K_BLOCK_BEGIN, K_BLOCK_END,
    K_NAME, K_INT, K_FLOAT, K_STRING, K_OP
} tpl_tkind;

typedef struct {
    uint8_t kind;        /* tpl_tkind */
    char op[3];          /* K_OP: the operator, NUL-terminated */
    int line;
    const char *s;       /* K_TEXT / K_NAME / K_STRING: bytes (source or arena) */
    size_t n;
    int64_t i;           /* K_INT */
    double f;            /* K_FLOAT */
} tpl_tok;

/* Splits the normalized source src[0..len) into tokens with the whitespace
 * rules applied: a malloc'ed array *toks of *ntoks tokens ending with
 * K_EOF (text points into src; decoded strings into A). On error returns
 * -1 with "NAME line L: message" in err. */
int tpl_lex(const char *name, const char *src, size_t len, tpl_arena *A, tpl_tok **toks, size_t *ntoks,
            trit_error *err);

/* ======================================================================== */
/* Values                                                                    */
/* ======================================================================== */

typedef enum {
    TV_UNDEF, TV_NONE, TV_BOOL, TV_INT, TV_FLOAT, TV_STR,
    TV_LIST,   /* list or tuple (immutable in the sandbox)                */
    TV_DICT,   /* dict; namespace() objects are dicts with ns = 1          */
    TV_FUNC,   /* global function (index into the builtin table)           */
    TV_MACRO   /* {% macro %} defined in the template                       */
} tpl_vtype;

typedef struct tpl_list tpl_list;
typedef struct tpl_dict tpl_dict;
typedef struct tpl_node tpl_node;

typedef struct {
    uint8_t type;     /* tpl_vtype */
    uint8_t ns;       /* TV_DICT: 1 namespace object (attributes assignable),
                         2 loop object; TV_LIST: 1 tuple */
    union {
        int b;
        int64_t i;
        double f;
        struct { const char *s; size_t n; } s;  /* TV_STR; TV_UNDEF: its name */
        tpl_list *list;
        tpl_dict *dict;
        int func;
        const tpl_node *macro;
    } u;
} tpl_value;

struct tpl_list {
    size_t n, cap;
    tpl_value *items;
};

struct tpl_dict {
    size_t n, cap;
    tpl_value *keys, *vals;   /* keys in insertion order */
};

/* ======================================================================== */
/* Syntax tree                                                               */
/* ======================================================================== */

typedef enum {
    /* expressions */
    N_LIT, N_NAME, N_LIST, N_TUPLE, N_DICT, N_ATTR, N_INDEX, N_SLICE, N_CALL,
    N_FILTER, N_TEST, N_NOT, N_NEG, N_POS, N_BIN, N_AND, N_OR, N_COND, N_CMP,
    /* statements */
    S_TEXT, S_OUT, S_IF, S_FOR, S_SET, S_SETBLOCK, S_MACRO, S_BREAK, S_CONTINUE
} tpl_kind;

/* binary and comparison operators (tpl_node.op) */
typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN
} tpl_op;

/* One node of the tree; the fields used depend on kind:
 *   N_LIT      lit
 *   N_NAME     name
 *   N_LIST/N_TUPLE  v[0..nv)        N_DICT  v = k0, v0, k1, v1, ...
 *   N_ATTR     a.name               N_INDEX a[b]
 *   N_SLICE    a[v0:v1:v2] (NULL parts omitted), nv = 3
 *   N_CALL     a(v...), each argument's kw set for keyword arguments
 *   N_FILTER   a | name(v...)       N_TEST  a is [not: op=1] name(v...)
 *   N_NOT/N_NEG/N_POS  a            N_BIN   a op b     N_AND/N_OR  a, b
 *   N_COND     b if a else c (c NULL: undefined)
 *   N_CMP      v0 ops[0] v1 ops[1] v2 ... (nv operands, nv-1 operators)
 *   S_TEXT     lit (string)         S_OUT   a
 *   S_IF       if a: b else c       (elif is a nested S_IF in c)
 *   S_FOR      for targets v in a [if cond: d] : b else c
 *   S_SET      v = targets (N_NAME / N_ATTR), a = value
 *   S_SETBLOCK name = render(b)
 *   S_MACRO    name(v = params as N_NAME, each default in its a): b
 * Statements of one body are chained by next. */
struct tpl_node {
    uint8_t kind, op;
    int line;
    const char *name;       /* NUL-terminated, in the parse arena */
    size_t name_len;
    const char *kw;         /* keyword argument name or NULL */
    size_t kw_len;
    tpl_value lit;
    tpl_node *a, *b, *c, *d;
    tpl_node **v;
    size_t nv;
    uint8_t *ops;           /* N_CMP operators */
    tpl_node *next;
};

struct tpl_template {
    tpl_arena arena;        /* every node and literal */
    tpl_node *body;
    char *name;             /* for error messages */
};

/* ======================================================================== */
/* Rendering state                                                           */
/* ======================================================================== */

/* A growable output buffer (malloc'ed). */
typedef struct {
    char *s;
    size_t n, cap;
} tpl_buf;

/* One scope: names bound by set / for / macro parameters. */
typedef struct tpl_frame tpl_frame;
struct tpl_frame {
    tpl_frame *parent;
    size_t n, cap;
    const char **names;
    size_t *lens;
    tpl_value *vals;
};

/* Evaluated call arguments. */
typedef struct {
    size_t n, nkw;
    tpl_value *pos;
    const char **kwn;
    size_t *kwl;
    tpl_value *kw;
} tpl_args;

typedef struct {
    const tpl_template *t;
    tpl_arena A;            /* values of this render */
    tpl_buf *out;           /* where text goes (captures swap it) */
    tpl_frame *globals;     /* context variables + template-level sets */
    tpl_frame *scope;       /* innermost scope */
    trit_error *err;
    int failed;
    int depth;
    int loop_ctl;           /* 1: break, 2: continue pending */
    uint64_t steps;
    int64_t now;
} tpl_rt;

/* ---- errors (template_value.c) ---- */
/* Records "NAME line L: message" in rt->err (first error wins); returns -1. */
int tpl_fail(tpl_rt *rt, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- value helpers (template_value.c; tpl_call_value in template_eval.c) ---- */
tpl_value tpl_undef(const char *name, size_t n);
tpl_value tpl_none(void);
tpl_value tpl_bool(int b);
tpl_value tpl_int(int64_t i);
tpl_value tpl_float(double f);
tpl_value tpl_strv(const char *s, size_t n);   /* refers to s, no copy */
/* A writable string of n bytes (+ NUL) in the render arena, a copy of s
 * when s is not NULL; NULL on failure (after tpl_fail). */
char *tpl_str_alloc(tpl_rt *rt, int line, const char *s, size_t n);
tpl_list *tpl_list_new(tpl_rt *rt, int line, size_t cap);
int tpl_list_push(tpl_rt *rt, int line, tpl_list *l, tpl_value v);     /* 0 / -1 */
tpl_dict *tpl_dict_new(tpl_rt *rt, int line, size_t cap);
int tpl_dict_set(tpl_rt *rt, int line, tpl_dict *d, tpl_value k, tpl_value v);
const tpl_value *tpl_dict_get(const tpl_dict *d, const char *key, size_t n);
const tpl_value *tpl_dict_getv(const tpl_dict *d, tpl_value key);
int tpl_truthy(tpl_value v);
int tpl_equal(tpl_value a, tpl_value b);
/* Three-way comparison of numbers or strings into *cmp; -1 when they are
 * not comparable (after tpl_fail). */
int tpl_compare(tpl_rt *rt, int line, tpl_value a, tpl_value b, int *cmp);
const char *tpl_type_name(tpl_value v);
/* Appends Python's str(v) / repr(v) to b; -1 on failure (after tpl_fail). */
int tpl_str_of(tpl_rt *rt, int line, tpl_value v, tpl_buf *b);
int tpl_repr_of(tpl_rt *rt, int line, tpl_value v, tpl_buf *b);
/* str(v) as a string value (strings are returned as they are). */
int tpl_to_string(tpl_rt *rt, int line, tpl_value v, tpl_value *out);
/* Items of an iterable (list, tuple, dict keys, string characters,
 * undefined: none) as a list; -1 for anything else. */
int tpl_iterate(tpl_rt *rt, int line, tpl_value v, tpl_list **out);
/* Calls a macro or builtin function value. */
int tpl_call_value(tpl_rt *rt, int line, tpl_value fn, const tpl_args *args, tpl_value *out);
/* Runs the test / filter named by the string value `name` on v with args
 * (select / map). */
int tpl_apply_test(tpl_rt *rt, int line, tpl_value name, tpl_value v, const tpl_args *args, int *res);
int tpl_apply_filter(tpl_rt *rt, int line, tpl_value name, tpl_value v, const tpl_args *args,
                     tpl_value *out);

/* ---- buffers (template_value.c) ---- */
int tpl_buf_put(tpl_rt *rt, int line, tpl_buf *b, const char *s, size_t n);

/* ---- UTF-8 helpers (template_builtins.c) ---- */
/* Number of code points of s[0..n) (bytes of invalid sequences count one each). */
size_t tpl_utf8_count(const char *s, size_t n);
/* Byte offset of code point index cp (clamped to n). */
size_t tpl_utf8_offset(const char *s, size_t n, size_t cp);

/* ---- builtins (template_builtins.c) ---- */
/* Index of a filter / test / global function by name, or -1. */
int tpl_filter_find(const char *name, size_t n);
int tpl_test_find(const char *name, size_t n);
int tpl_func_find(const char *name, size_t n);
const char *tpl_func_name(int idx);
int tpl_filter_run(tpl_rt *rt, int line, int idx, tpl_value x, const tpl_args *args, tpl_value *out);
int tpl_test_run(tpl_rt *rt, int line, int idx, tpl_value x, const tpl_args *args, int *res);
int tpl_func_run(tpl_rt *rt, int line, int idx, const tpl_args *args, tpl_value *out);
/* x.name(args): string and dict methods. */
int tpl_method_run(tpl_rt *rt, int line, tpl_value x, const char *name, size_t n,
                   const tpl_args *args, tpl_value *out);
/* Argument number i or keyword `kw` (NULL when absent). */
const tpl_value *tpl_arg(const tpl_args *a, size_t i, const char *kw);

#endif /* TRIT_TEMPLATE_IMPL_H */
