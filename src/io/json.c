/*
 * json.c - strict RFC 8259 JSON parser and a small string builder.
 *
 * Parsing is recursive descent over a bounded buffer (the text need not be
 * NUL-terminated). Every node, string and child array of a document is
 * carved from a list of blocks owned by the json_doc, so json_free releases
 * everything at once. Children of an array / object being parsed are kept on
 * one scratch stack shared by all nesting levels and copied into the arena
 * when the container closes, so parsing is linear in the text size.
 *
 * Choices where RFC 8259 leaves room:
 *   - A leading UTF-8 byte order mark is skipped (RFC 8259 section 8.1).
 *   - Raw bytes inside strings must be valid UTF-8 (no overlong forms, no
 *     encoded surrogates, nothing above U+10FFFF).
 *   - A \u escape of an unpaired surrogate decodes to U+FFFD.
 *   - Duplicate object keys are kept in the key list; json_get returns the
 *     last one (as Python's json and most other readers do).
 *   - Numbers that overflow a double (e.g. 1e400) are an error; underflow
 *     gives 0 or a subnormal.
 *   - number.is_int is set for integer literals that fit int64 and for
 *     literals with a fraction / exponent whose exact value is an integer
 *     of magnitude < 2^53 (e.g. 4096.0, 1e4, 2.50e1), where the double is
 *     exact; 0.5e1 counts, 1.5 and 9007199254740993.0 do not.
 *   - Numbers are converted with strtod, so the process must use a locale
 *     whose decimal point is '.' (the C locale, which is the default).
 */
#include "io/json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_MAX_DEPTH 512
#define JSON_HASH_MIN 16               /* objects with more keys get a hash index */
#define JSON_MAX_FILE ((size_t)1 << 30) /* json_read_file limit: 1 GiB */

/* ======================================================================== */
/* Arena                                                                     */
/* ======================================================================== */

typedef struct json_block {
    struct json_block *next;
    size_t used, cap;
    unsigned char *data; /* points just after the header, 16-byte aligned */
} json_block;

struct json_doc {
    json_block *blocks;  /* newest first */
    size_t next_cap;     /* capacity of the next ordinary block */
    json_value *root;
};

#define JSON_BLOCK_HDR ((sizeof(json_block) + 15) & ~(size_t)15)
#define JSON_BLOCK_MAX ((size_t)4 << 20)

/* Returns `size` bytes aligned to `align` (a power of two <= 16) from the
 * document's blocks, adding a block when the newest one is full; NULL when
 * out of memory. Large requests get a block of their own. */
static void *arena_alloc(json_doc *d, size_t size, size_t align) {
    json_block *b = d->blocks;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off <= b->cap && size <= b->cap - off) {
            b->used = off + size;
            return b->data + off;
        }
    }
    size_t cap = d->next_cap;
    if (size > cap) cap = size;
    if (cap > SIZE_MAX - JSON_BLOCK_HDR) return NULL;
    json_block *nb = malloc(JSON_BLOCK_HDR + cap);
    if (!nb) return NULL;
    nb->data = (unsigned char *)nb + JSON_BLOCK_HDR;
    nb->cap = cap;
    nb->used = size;
    if (size == cap && b && b->cap - b->used > 256) {
        /* A dedicated big block: keep the current block as the newest so its
         * free space is still used. */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        d->blocks = nb;
        if (d->next_cap < JSON_BLOCK_MAX) d->next_cap *= 2;
    }
    return nb->data;
}

void json_free(json_doc *d) {
    if (!d) return;
    json_block *b = d->blocks;
    while (b) {
        json_block *next = b->next;
        free(b);
        b = next;
    }
    free(d);
}

const json_value *json_root(const json_doc *d) { return d ? d->root : NULL; }

/* ======================================================================== */
/* Object hash index                                                         */
/* ======================================================================== */

/* FNV-1a over len bytes. */
static uint64_t key_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Number of hash slots for an object of n keys (0: no index). */
static size_t index_cap(size_t n) {
    if (n <= JSON_HASH_MIN || n >= UINT32_MAX / 4) return 0;
    size_t cap = 64;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

/* The slot array of an object built by this parser, stored right after its
 * vals array (see make_object); NULL when the object has no index. The
 * layout check guards against objects not made by json_parse. */
static const uint32_t *object_index(const json_value *o, size_t *cap) {
    size_t n = o->u.object.n;
    *cap = index_cap(n);
    if (!*cap) return NULL;
    if ((const void *)o->u.object.key_lens != (const void *)(o->u.object.keys + n) ||
        (const void *)o->u.object.vals != (const void *)(o->u.object.key_lens + n))
        return NULL;
    return (const uint32_t *)(const void *)(o->u.object.vals + n);
}

/* ======================================================================== */
/* Parser state and errors                                                   */
/* ======================================================================== */

typedef struct {
    const char *k;
    size_t klen;
    json_value *v;
} json_ent;

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    json_doc *doc;
    char *err;
    size_t errlen;
    int failed;
    json_ent *stk;       /* children of the open containers */
    size_t nstk, capstk;
} json_parser;

/* Records the first error: "line L, column C: message" where L and C
 * (1-based, column in bytes) locate byte offset `at` of the text. */
#if defined(__GNUC__)
#define JSON_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JSON_PRINTF(a, b)
#endif
static void fail_at(json_parser *p, size_t at, const char *fmt, ...) JSON_PRINTF(3, 4);
static void fail_at(json_parser *p, size_t at, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    if (!p->err || !p->errlen) return;
    if (at > p->len) at = p->len;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at; i++) {
        if (p->s[i] == '\n') { line++; col = 1; }
        else col++;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "line %zu, column %zu: %s", line, col, msg);
}

/* Describes the byte at offset `at` for messages: "end of input", "'x'"
 * or "byte 0xNN". */
static const char *describe(const json_parser *p, size_t at, char *buf, size_t n) {
    if (at >= p->len) return "end of input";
    unsigned char c = p->s[at];
    if (c >= 0x21 && c < 0x7f) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static void fail_unexpected(json_parser *p, const char *expected) {
    char b[16];
    fail_at(p, p->pos, "unexpected %s, expected %s", describe(p, p->pos, b, sizeof b), expected);
}

static void fail_oom(json_parser *p) { fail_at(p, p->pos, "out of memory"); }

static void skip_ws(json_parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Pushes one child on the scratch stack; 0 when out of memory. */
static int push(json_parser *p, const char *k, size_t klen, json_value *v) {
    if (p->nstk == p->capstk) {
        size_t nc = p->capstk ? p->capstk * 2 : 64;
        if (nc > SIZE_MAX / sizeof(json_ent)) return 0;
        json_ent *ns = realloc(p->stk, nc * sizeof(json_ent));
        if (!ns) return 0;
        p->stk = ns;
        p->capstk = nc;
    }
    p->stk[p->nstk].k = k;
    p->stk[p->nstk].klen = klen;
    p->stk[p->nstk].v = v;
    p->nstk++;
    return 1;
}

static json_value *new_value(json_parser *p, json_type t) {
    json_value *v = arena_alloc(p->doc, sizeof(json_value), _Alignof(json_value));
    if (!v) { fail_oom(p); return NULL; }
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

/* ======================================================================== */
/* Strings                                                                   */
/* ======================================================================== */

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at s[i..i+4) (i+4 <= end); -1 if any is not hex. */
static long hex4(const unsigned char *s, size_t i, size_t end) {
    if (i + 4 > end) return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[i + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned long cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80) that
 * ends before `end`, or 0 if the bytes are not well-formed UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t end) {
    unsigned char c = s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;       /* no overlong forms     */
        if (c == 0xED) hi = 0x9F;       /* no UTF-16 surrogates  */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;       /* nothing above U+10FFFF */
    } else return 0;
    if (i + n > end) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    return n;
}

/* Parses the string literal at p->pos (which is '"') into a NUL-terminated
 * UTF-8 copy in the arena; sets *out / *outlen and returns 1, or records an
 * error and returns 0. */
static int parse_string(json_parser *p, const char **out, size_t *outlen) {
    const unsigned char *s = p->s;
    size_t open = p->pos, start = open + 1, j = start;
    /* Pass 1: find the closing quote, reject raw control characters. */
    while (j < p->len && s[j] != '"') {
        if (s[j] < 0x20) {
            fail_at(p, j, "control character (byte 0x%02x) inside a string; it must be escaped as \\u%04x",
                    s[j], s[j]);
            return 0;
        }
        j += s[j] == '\\' ? 2 : 1;
    }
    if (j >= p->len) {
        fail_at(p, open, "unterminated string");
        return 0;
    }
    size_t end = j;
    char *o = arena_alloc(p->doc, end - start + 1, 1); /* decoding never grows */
    if (!o) { fail_oom(p); return 0; }
    size_t n = 0;
    /* Pass 2: decode escapes and check UTF-8. */
    for (size_t i = start; i < end;) {
        unsigned char c = s[i];
        if (c < 0x80 && c != '\\') { o[n++] = (char)c; i++; continue; }
        if (c >= 0x80) {
            size_t k = utf8_seq(s, i, end);
            if (!k) { fail_at(p, i, "invalid UTF-8 byte 0x%02x inside a string", c); return 0; }
            memcpy(o + n, s + i, k);
            n += k;
            i += k;
            continue;
        }
        unsigned char e = s[i + 1]; /* i + 1 < end: pass 1 skipped escapes in pairs */
        switch (e) {
        case '"': o[n++] = '"'; i += 2; continue;
        case '\\': o[n++] = '\\'; i += 2; continue;
        case '/': o[n++] = '/'; i += 2; continue;
        case 'b': o[n++] = '\b'; i += 2; continue;
        case 'f': o[n++] = '\f'; i += 2; continue;
        case 'n': o[n++] = '\n'; i += 2; continue;
        case 'r': o[n++] = '\r'; i += 2; continue;
        case 't': o[n++] = '\t'; i += 2; continue;
        case 'u': break;
        default: {
            char b[16];
            fail_at(p, i + 1, "invalid escape: backslash followed by %s "
                    "(allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                    describe(p, i + 1, b, sizeof b));
            return 0;
        }
        }
        long cp = hex4(s, i + 2, end);
        if (cp < 0) { fail_at(p, i, "invalid \\u escape: expected 4 hex digits"); return 0; }
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = (i + 1 < end && s[i] == '\\' && s[i + 1] == 'u') ? hex4(s, i + 2, end) : -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else {
                cp = 0xFFFD; /* unpaired high surrogate */
            }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;     /* unpaired low surrogate */
        }
        n += put_utf8(o + n, (unsigned long)cp);
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    p->pos = end + 1;
    return 1;
}

/* ======================================================================== */
/* Numbers and literals                                                      */
/* ======================================================================== */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Whether the (grammar-checked) number literal s[a..end) without its sign,
 * whose integer digits end at int_end, has an integral value: with all its
 * digits as D (trailing zeros stripped, z of them) and F fraction digits,
 * the value is D x 10^(exp - F + z), integral when D is 0 or that power
 * is >= 0. */
static int literal_is_integral(const unsigned char *s, size_t a, size_t int_end, size_t end) {
    size_t frac_end = int_end, nfrac = 0;
    if (frac_end < end && s[frac_end] == '.') {
        frac_end++;
        while (frac_end < end && is_digit(s[frac_end])) { frac_end++; nfrac++; }
    }
    long long exp = 0;
    if (frac_end < end) { /* 'e' / 'E', optional sign, digits (saturated) */
        size_t k = frac_end + 1;
        int eneg = 0;
        if (s[k] == '+' || s[k] == '-') eneg = s[k++] == '-';
        for (; k < end; k++)
            if (exp < 1000000000) exp = exp * 10 + (s[k] - '0');
        if (eneg) exp = -exp;
    }
    long long z = 0;
    for (size_t k = frac_end; k-- > a;) {
        if (s[k] == '.') continue;
        if (s[k] != '0') return exp - (long long)nfrac + z >= 0;
        z++;
    }
    return 1; /* all digits are zero */
}

/* Parses a number at p->pos per the RFC 8259 grammar
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static json_value *parse_number(json_parser *p) {
    const unsigned char *s = p->s;
    size_t start = p->pos, i = start;
    int neg = 0, plain = 1;
    if (s[i] == '-') { neg = 1; i++; }
    if (i >= p->len || !is_digit(s[i])) {
        p->pos = i;
        fail_unexpected(p, "a digit in number");
        return NULL;
    }
    if (s[i] == '0') {
        i++;
        if (i < p->len && is_digit(s[i])) {
            fail_at(p, start, "numbers must not have leading zeros");
            return NULL;
        }
    } else {
        while (i < p->len && is_digit(s[i])) i++;
    }
    size_t int_end = i;
    if (i < p->len && s[i] == '.') {
        plain = 0;
        i++;
        if (i >= p->len || !is_digit(s[i])) {
            p->pos = i;
            fail_unexpected(p, "a digit after the decimal point");
            return NULL;
        }
        while (i < p->len && is_digit(s[i])) i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        plain = 0;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || !is_digit(s[i])) {
            p->pos = i;
            fail_unexpected(p, "a digit in the exponent");
            return NULL;
        }
        while (i < p->len && is_digit(s[i])) i++;
    }
    size_t nlen = i - start;
    char small[64], *buf = small;
    if (nlen >= sizeof small) {
        buf = malloc(nlen + 1);
        if (!buf) { fail_oom(p); return NULL; }
    }
    memcpy(buf, s + start, nlen);
    buf[nlen] = '\0';
    double d = strtod(buf, NULL);
    if (buf != small) free(buf);
    if (isinf(d)) {
        fail_at(p, start, "number is too large for a double");
        return NULL;
    }
    json_value *v = new_value(p, JSON_NUMBER);
    if (!v) return NULL;
    v->u.number.num = d;
    if (plain) {
        /* exact int64 when it fits: magnitude <= 2^63-1, or 2^63 if negative */
        uint64_t mag = 0, lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
        int fits = 1;
        for (size_t k = start + (size_t)neg; k < int_end; k++) {
            unsigned dig = (unsigned)(s[k] - '0');
            if (mag > (lim - dig) / 10) { fits = 0; break; }
            mag = mag * 10 + dig;
        }
        if (fits) {
            v->u.number.is_int = 1;
            v->u.number.i = neg ? (mag == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        }
    } else if (literal_is_integral(s, start + (size_t)neg, int_end, i) && fabs(d) < 9007199254740992.0) {
        /* below 2^53 the double holds the integer exactly */
        v->u.number.is_int = 1;
        v->u.number.i = (int64_t)d;
    }
    p->pos = i;
    return v;
}

/* Parses true / false / null at p->pos. */
static json_value *parse_literal(json_parser *p) {
    static const struct { const char *w; size_t n; json_type t; int b; } lits[] = {
        {"true", 4, JSON_BOOL, 1}, {"false", 5, JSON_BOOL, 0}, {"null", 4, JSON_NULL, 0}};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        if (p->s[p->pos] != (unsigned char)lits[k].w[0]) continue;
        if (p->len - p->pos < lits[k].n || memcmp(p->s + p->pos, lits[k].w, lits[k].n) != 0) {
            fail_at(p, p->pos, "invalid literal (expected '%s')", lits[k].w);
            return NULL;
        }
        json_value *v = new_value(p, lits[k].t);
        if (!v) return NULL;
        v->u.boolean = lits[k].b;
        p->pos += lits[k].n;
        return v;
    }
    fail_unexpected(p, "a value");
    return NULL;
}

/* ======================================================================== */
/* Containers                                                                */
/* ======================================================================== */

static json_value *parse_value(json_parser *p, int depth);

/* Builds the array value from scratch entries [mark, nstk) and pops them. */
static json_value *make_array(json_parser *p, size_t mark) {
    json_value *v = new_value(p, JSON_ARRAY);
    if (!v) return NULL;
    size_t n = p->nstk - mark;
    if (n) {
        json_value **items = arena_alloc(p->doc, n * sizeof *items, _Alignof(json_value *));
        if (!items) { fail_oom(p); return NULL; }
        for (size_t k = 0; k < n; k++) items[k] = p->stk[mark + k].v;
        v->u.array.items = items;
    }
    v->u.array.n = n;
    p->nstk = mark;
    return v;
}

/* Builds the object value from scratch entries [mark, nstk) and pops them.
 * Layout of the one allocation: keys[n], key_lens[n], vals[n] and, for more
 * than JSON_HASH_MIN keys, a uint32 slot table (slot = index + 1, 0 = empty,
 * linear probing, the last duplicate key wins). */
static json_value *make_object(json_parser *p, size_t mark) {
    json_value *v = new_value(p, JSON_OBJECT);
    if (!v) return NULL;
    size_t n = p->nstk - mark;
    v->u.object.n = n;
    if (!n) return v;
    size_t cap = index_cap(n);
    size_t per = sizeof(char *) + sizeof(size_t) + sizeof(json_value *);
    if (n > (SIZE_MAX - cap * sizeof(uint32_t)) / per) { fail_oom(p); return NULL; }
    char *mem = arena_alloc(p->doc, n * per + cap * sizeof(uint32_t), _Alignof(json_value *));
    if (!mem) { fail_oom(p); return NULL; }
    const char **keys = (const char **)(void *)mem;
    size_t *lens = (size_t *)(void *)(keys + n);
    json_value **vals = (json_value **)(void *)(lens + n);
    for (size_t k = 0; k < n; k++) {
        keys[k] = p->stk[mark + k].k;
        lens[k] = p->stk[mark + k].klen;
        vals[k] = p->stk[mark + k].v;
    }
    if (cap) {
        uint32_t *slots = (uint32_t *)(void *)(vals + n);
        memset(slots, 0, cap * sizeof *slots);
        for (size_t k = 0; k < n; k++) {
            size_t h = (size_t)key_hash(keys[k], lens[k]) & (cap - 1);
            while (slots[h]) {
                size_t o = slots[h] - 1;
                if (lens[o] == lens[k] && memcmp(keys[o], keys[k], lens[k]) == 0) break;
                h = (h + 1) & (cap - 1);
            }
            slots[h] = (uint32_t)(k + 1);
        }
    }
    v->u.object.keys = keys;
    v->u.object.key_lens = lens;
    v->u.object.vals = vals;
    p->nstk = mark;
    return v;
}

/* Parses an array at p->pos ('['); depth is the nesting level of it. */
static json_value *parse_array(json_parser *p, int depth) {
    size_t mark = p->nstk;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return make_array(p, mark);
    }
    for (;;) {
        json_value *v = parse_value(p, depth);
        if (!v) return NULL;
        if (!push(p, NULL, 0, v)) { fail_oom(p); return NULL; }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ']') {
                fail_at(p, p->pos, "trailing comma before ']'");
                return NULL;
            }
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return make_array(p, mark);
        }
        fail_unexpected(p, "',' or ']' in array");
        return NULL;
    }
}

/* Parses an object at p->pos ('{'); depth is the nesting level of it. */
static json_value *parse_object(json_parser *p, int depth) {
    size_t mark = p->nstk;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return make_object(p, mark);
    }
    for (;;) {
        if (p->pos >= p->len || p->s[p->pos] != '"') {
            fail_unexpected(p, "a string key in object");
            return NULL;
        }
        const char *k;
        size_t klen;
        if (!parse_string(p, &k, &klen)) return NULL;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            fail_unexpected(p, "':' after object key");
            return NULL;
        }
        p->pos++;
        json_value *v = parse_value(p, depth);
        if (!v) return NULL;
        if (!push(p, k, klen, v)) { fail_oom(p); return NULL; }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == '}') {
                fail_at(p, p->pos, "trailing comma before '}'");
                return NULL;
            }
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            return make_object(p, mark);
        }
        fail_unexpected(p, "',' or '}' in object");
        return NULL;
    }
}

/* Parses any value after optional whitespace; `depth` is the nesting level
 * of the enclosing container (0 at the root). */
static json_value *parse_value(json_parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) {
        fail_unexpected(p, "a value");
        return NULL;
    }
    unsigned char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        if (depth + 1 > JSON_MAX_DEPTH) {
            fail_at(p, p->pos, "nesting is deeper than %d levels", JSON_MAX_DEPTH);
            return NULL;
        }
        return c == '{' ? parse_object(p, depth + 1) : parse_array(p, depth + 1);
    }
    if (c == '"') {
        const char *s;
        size_t n;
        if (!parse_string(p, &s, &n)) return NULL;
        json_value *v = new_value(p, JSON_STRING);
        if (!v) return NULL;
        v->u.string.s = s;
        v->u.string.len = n;
        return v;
    }
    if (c == '-' || is_digit(c)) return parse_number(p);
    return parse_literal(p);
}

json_doc *json_parse(const char *text, size_t len, char *errbuf, size_t errlen) {
    if (errbuf && errlen) errbuf[0] = '\0';
    if (!text && len) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "no text given");
        return NULL;
    }
    json_doc *d = calloc(1, sizeof *d);
    if (!d) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    /* first block: a fraction of the text size, at least 4 KiB */
    d->next_cap = 4096;
    while (d->next_cap < len / 2 && d->next_cap < JSON_BLOCK_MAX) d->next_cap *= 2;
    json_parser p = {0};
    p.s = (const unsigned char *)(text ? text : "");
    p.len = len;
    p.doc = d;
    p.err = errbuf;
    p.errlen = errlen;
    if (len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0) p.pos = 3;
    json_value *root = parse_value(&p, 0);
    if (root) {
        skip_ws(&p);
        if (p.pos < p.len) fail_unexpected(&p, "end of input after the JSON value");
    }
    free(p.stk);
    if (p.failed || !root) {
        json_free(d);
        return NULL;
    }
    d->root = root;
    return d;
}

/* ======================================================================== */
/* Lookup helpers                                                            */
/* ======================================================================== */

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || !key || obj->type != JSON_OBJECT) return NULL;
    size_t n = obj->u.object.n, klen = strlen(key), cap;
    const uint32_t *slots = object_index(obj, &cap);
    if (slots) {
        size_t h = (size_t)key_hash(key, klen) & (cap - 1);
        while (slots[h]) {
            size_t k = slots[h] - 1;
            if (obj->u.object.key_lens[k] == klen && memcmp(obj->u.object.keys[k], key, klen) == 0)
                return obj->u.object.vals[k];
            h = (h + 1) & (cap - 1);
        }
        return NULL;
    }
    for (size_t k = n; k-- > 0;) /* from the end: the last duplicate wins */
        if (obj->u.object.key_lens[k] == klen && memcmp(obj->u.object.keys[k], key, klen) == 0)
            return obj->u.object.vals[k];
    return NULL;
}

const json_value *json_at(const json_value *arr, size_t i) {
    if (!arr || arr->type != JSON_ARRAY || i >= arr->u.array.n) return NULL;
    return arr->u.array.items[i];
}

size_t json_len(const json_value *v) {
    if (!v) return 0;
    if (v->type == JSON_ARRAY) return v->u.array.n;
    if (v->type == JSON_OBJECT) return v->u.object.n;
    return 0;
}

const char *json_str(const json_value *v) {
    return v && v->type == JSON_STRING ? v->u.string.s : NULL;
}

int json_int(const json_value *v, int64_t *out) {
    if (!v || v->type != JSON_NUMBER || !v->u.number.is_int) return 0;
    if (out) *out = v->u.number.i;
    return 1;
}

int json_num(const json_value *v, double *out) {
    if (!v || v->type != JSON_NUMBER) return 0;
    if (out) *out = v->u.number.num;
    return 1;
}

int json_bool(const json_value *v, int *out) {
    if (!v || v->type != JSON_BOOL) return 0;
    if (out) *out = v->u.boolean;
    return 1;
}

int64_t json_get_int(const json_value *obj, const char *key, int64_t def) {
    int64_t x;
    return json_int(json_get(obj, key), &x) ? x : def;
}

double json_get_num(const json_value *obj, const char *key, double def) {
    double x;
    return json_num(json_get(obj, key), &x) ? x : def;
}

const char *json_get_str(const json_value *obj, const char *key, const char *def) {
    const char *s = json_str(json_get(obj, key));
    return s ? s : def;
}

int json_get_bool(const json_value *obj, const char *key, int def) {
    int x;
    return json_bool(json_get(obj, key), &x) ? x : def;
}

/* ======================================================================== */
/* Files                                                                     */
/* ======================================================================== */

/* Reads the whole file at `path` (regular file, pipe, ...) into a malloc'ed
 * NUL-terminated buffer; *len (if not NULL) gets the byte count. Files over
 * 1 GiB, directories and read errors fail with "PATH: what; errno text". */
char *json_read_file(const char *path, size_t *len, char *errbuf, size_t errlen) {
    if (errbuf && errlen) errbuf[0] = '\0';
    if (len) *len = 0;
    if (!path) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "no file name given");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s: is a directory, expected a file", path);
        close(fd);
        return NULL;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > JSON_MAX_FILE) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: file is larger than 1 GiB (%lld bytes)", path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    /* +2: room for the NUL and for the read that sees EOF */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "%s: out of memory reading the file", path);
        close(fd);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) { /* keep room for the NUL */
            if (cap > JSON_MAX_FILE) {
                if (errbuf && errlen) snprintf(errbuf, errlen, "%s: file is larger than 1 GiB", path);
                goto fail;
            }
            size_t nc = cap * 2;
            char *nb = realloc(buf, nc);
            if (!nb) {
                if (errbuf && errlen) snprintf(errbuf, errlen, "%s: out of memory reading the file", path);
                goto fail;
            }
            buf = nb;
            cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errbuf && errlen) snprintf(errbuf, errlen, "%s: read failed: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > JSON_MAX_FILE) {
            if (errbuf && errlen) snprintf(errbuf, errlen, "%s: file is larger than 1 GiB", path);
            goto fail;
        }
    }
    close(fd);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* ======================================================================== */
/* String builder                                                            */
/* ======================================================================== */

/* Makes room for `extra` more bytes plus the NUL; 0 on overflow / OOM. */
static int sb_reserve(json_sb *b, size_t extra) {
    if (extra > SIZE_MAX - 1 - b->len) return 0;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 1;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) { nc = need; break; }
        nc *= 2;
    }
    char *nb = realloc(b->buf, nc);
    if (!nb) return 0;
    b->buf = nb;
    b->cap = nc;
    return 1;
}

static int sb_append(json_sb *b, const char *s, size_t n) {
    if (!sb_reserve(b, n)) return 0;
    if (n) memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 1;
}

int json_sb_puts(json_sb *b, const char *s) {
    if (!b) return 0;
    return sb_append(b, s ? s : "", s ? strlen(s) : 0);
}

int json_sb_printf(json_sb *b, const char *fmt, ...) {
    if (!b || !fmt) return 0;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    int ok = 0;
    if (n >= 0 && sb_reserve(b, (size_t)n)) {
        vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
        ok = 1;
    }
    va_end(ap2);
    return ok;
}

/* Appends s[0..len) as a quoted JSON string: '"' and '\\' are escaped,
 * control characters become \b \f \n \r \t or \u00XX, every other byte
 * (including UTF-8 sequences) is copied as is. */
int json_sb_quote(json_sb *b, const char *s, size_t len) {
    if (!b || (!s && len)) return 0;
    if (!sb_append(b, "\"", 1)) return 0;
    size_t run = 0; /* start of the pending run of plain bytes */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (!sb_append(b, s + run, i - run)) return 0;
        char esc[8];
        switch (c) {
        case '"': memcpy(esc, "\\\"", 3); break;
        case '\\': memcpy(esc, "\\\\", 3); break;
        case '\b': memcpy(esc, "\\b", 3); break;
        case '\f': memcpy(esc, "\\f", 3); break;
        case '\n': memcpy(esc, "\\n", 3); break;
        case '\r': memcpy(esc, "\\r", 3); break;
        case '\t': memcpy(esc, "\\t", 3); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); break;
        }
        if (!sb_append(b, esc, strlen(esc))) return 0;
        run = i + 1;
    }
    if (!sb_append(b, s ? s + run : "", len - run)) return 0;
    return sb_append(b, "\"", 1);
}

void json_sb_free(json_sb *b) {
    if (!b) return;
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}
