/*
 * json.h - a strict JSON (RFC 8259) parser building an immutable tree.
 *
 * All values of one document live in one allocation owned by json_doc.
 * Strings are decoded (escapes, \uXXXX with surrogate pairs) to UTF-8 and
 * NUL-terminated; their byte length is kept too since they may hold "\u0000".
 * Objects keep their keys in document order.
 */
#ifndef TRIT_JSON_H
#define TRIT_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    union {
        int boolean;
        struct { double num; int is_int; int64_t i; } number; /* is_int: integral literal that fits int64 */
        struct { const char *s; size_t len; } string;
        struct { json_value **items; size_t n; } array;
        struct { const char **keys; size_t *key_lens; json_value **vals; size_t n; } object;
    } u;
};

typedef struct json_doc json_doc;

/* Parses text[0..len). On error returns NULL and writes a message with the
 * line and column into errbuf. Nesting deeper than 512 levels is an error. */
json_doc *json_parse(const char *text, size_t len, char *errbuf, size_t errlen);
void json_free(json_doc *d);
const json_value *json_root(const json_doc *d);

/* Lookup helpers; all accept NULL and return NULL / the default on misses. */
const json_value *json_get(const json_value *obj, const char *key);
const json_value *json_at(const json_value *arr, size_t i);
size_t json_len(const json_value *arr_or_obj);
const char *json_str(const json_value *v);                 /* NULL if not string */
int json_int(const json_value *v, int64_t *out);           /* 1 if integral number */
int json_num(const json_value *v, double *out);            /* 1 if number */
int json_bool(const json_value *v, int *out);              /* 1 if bool */
int64_t json_get_int(const json_value *obj, const char *key, int64_t def);
double json_get_num(const json_value *obj, const char *key, double def);
const char *json_get_str(const json_value *obj, const char *key, const char *def);
int json_get_bool(const json_value *obj, const char *key, int def);

/* Reads a whole file into a NUL-terminated malloc'ed buffer (max 1 GiB).
 * Returns NULL and fills errbuf on failure. */
char *json_read_file(const char *path, size_t *len, char *errbuf, size_t errlen);

/* ---- writing ---- */
/* Appends s as a JSON string literal (with quotes and escapes) to a growing
 * buffer; returns 0 on allocation failure. */
typedef struct { char *buf; size_t len, cap; } json_sb;
int json_sb_puts(json_sb *b, const char *s);
int json_sb_printf(json_sb *b, const char *fmt, ...);
int json_sb_quote(json_sb *b, const char *s, size_t len);
void json_sb_free(json_sb *b);

#endif /* TRIT_JSON_H */
