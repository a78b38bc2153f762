/*
 * test_json.c - tests of the strict JSON parser, the lookup helpers,
 * json_read_file and the json_sb string builder, including exhaustive
 * truncation and random-mutation robustness checks.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "io/json.h"
#include "tt.h"

/* ==== helpers ==== */

/* Parses text[0..len) from an exact-size heap copy, so that any read past
 * the end is caught by ASan. err (if not NULL) receives the message. */
static json_doc *parse_n(const char *text, size_t len, char *err, size_t errlen) {
    char *copy = malloc(len ? len : 1);
    if (!copy) return NULL;
    if (len) memcpy(copy, text, len);
    json_doc *d = json_parse(copy, len, err, errlen);
    free(copy);
    return d;
}

static json_doc *parse(const char *text) { return parse_n(text, strlen(text), NULL, 0); }

/* 1 if text fails to parse with a non-empty "line L, column C" message. */
static int fails(const char *text, size_t len, char *err, size_t errlen) {
    err[0] = '\0';
    json_doc *d = parse_n(text, len, err, errlen);
    if (d) {
        json_free(d);
        return 0;
    }
    return strncmp(err, "line ", 5) == 0 && strstr(err, "column ") != NULL;
}

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Visits every node, checking the invariants a consumer relies on; returns
 * the number of nodes. */
static size_t walk(const json_value *v, int depth) {
    if (!v) return 0;
    size_t n = 1;
    switch (v->type) {
    case JSON_STRING:
        CHECK(v->u.string.s[v->u.string.len] == '\0', "string not NUL-terminated");
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_len(v); i++) n += walk(json_at(v, i), depth + 1);
        CHECK(json_at(v, json_len(v)) == NULL, "json_at past the end");
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.n; i++) {
            CHECK(v->u.object.keys[i][v->u.object.key_lens[i]] == '\0', "key not NUL-terminated");
            if (strlen(v->u.object.keys[i]) == v->u.object.key_lens[i])
                CHECK(json_get(v, v->u.object.keys[i]) != NULL, "key %s not found", v->u.object.keys[i]);
            n += walk(v->u.object.vals[i], depth + 1);
        }
        break;
    case JSON_NUMBER:
        CHECK(!isinf(v->u.number.num), "inf number");
        break;
    default:
        break;
    }
    CHECK(depth <= 512, "too deep");
    return n;
}

/* ==== valid documents ==== */

static void test_scalars_at_root(void) {
    json_doc *d = parse(" 42 ");
    CHECK(d && json_root(d)->type == JSON_NUMBER, "42");
    int64_t i = 0;
    CHECK(json_int(json_root(d), &i) && i == 42, "42 int");
    json_free(d);
    d = parse("\"hi\"");
    CHECK(d && strcmp(json_str(json_root(d)), "hi") == 0, "string root");
    json_free(d);
    d = parse("true");
    int b = 0;
    CHECK(d && json_bool(json_root(d), &b) && b == 1, "true");
    json_free(d);
    d = parse("\t\r\nfalse\n");
    CHECK(d && json_bool(json_root(d), &b) && b == 0, "false");
    json_free(d);
    d = parse("null");
    CHECK(d && json_root(d)->type == JSON_NULL, "null");
    json_free(d);
    d = parse("\xEF\xBB\xBF{}");
    CHECK(d && json_root(d)->type == JSON_OBJECT, "BOM skipped");
    json_free(d);
    CHECK(json_root(NULL) == NULL, "json_root(NULL)");
    json_free(NULL);
}

static void test_nested(void) {
    const char *t = "{\"model\": {\"layers\": [1, [2, [3, {\"x\": null}]], {}], \"name\": \"bitnet\"},"
                    " \"empty_a\": [], \"empty_o\": {}, \"flag\": false, \"pi\": 3.25}";
    json_doc *d = parse(t);
    CHECK(d != NULL, "parse");
    if (!d) return;
    const json_value *r = json_root(d);
    CHECK(json_len(r) == 5, "root keys %zu", json_len(r));
    CHECK(strcmp(r->u.object.keys[0], "model") == 0 && strcmp(r->u.object.keys[4], "pi") == 0, "key order");
    const json_value *layers = json_get(json_get(r, "model"), "layers");
    CHECK(json_len(layers) == 3, "layers len");
    CHECK(json_get_int(NULL, "x", -7) == -7, "NULL obj default");
    const json_value *inner = json_at(json_at(json_at(layers, 1), 1), 1);
    CHECK(inner && json_get(inner, "x") && json_get(inner, "x")->type == JSON_NULL, "deep null");
    CHECK(json_len(json_at(layers, 2)) == 0 && json_at(layers, 2)->type == JSON_OBJECT, "empty obj");
    CHECK(strcmp(json_get_str(json_get(r, "model"), "name", ""), "bitnet") == 0, "name");
    CHECK(json_len(json_get(r, "empty_a")) == 0 && json_at(json_get(r, "empty_a"), 0) == NULL, "empty arr");
    CHECK(json_get_bool(r, "flag", 1) == 0, "flag");
    CHECK(json_get_bool(r, "nope", 1) == 1, "bool default");
    CHECK(json_get_num(r, "pi", 0) == 3.25, "pi");
    CHECK(json_get_int(r, "pi", -1) == -1, "non-integral pi is not int");
    CHECK(json_get_str(r, "pi", "dflt") != NULL && strcmp(json_get_str(r, "pi", "dflt"), "dflt") == 0, "str default");
    CHECK(json_get(r, NULL) == NULL && json_get(NULL, "a") == NULL, "NULL key");
    CHECK(json_get(layers, "a") == NULL, "json_get on array");
    CHECK(json_at(r, 0) == NULL, "json_at on object");
    CHECK(json_len(json_get(r, "pi")) == 0 && json_len(NULL) == 0, "json_len of number");
    CHECK(json_str(NULL) == NULL && !json_int(NULL, NULL) && !json_num(NULL, NULL) && !json_bool(NULL, NULL),
          "NULL accessors");
    CHECK(walk(r, 0) == 16, "node count %zu", walk(r, 0));
    json_free(d);
}

static void test_strings_and_escapes(void) {
    json_doc *d = parse("[\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\", \"\\u0041\\u00e9\\u20AC\", "
                        "\"\\ud83d\\ude00\", \"x\\u0000y\", \"\\ud800\", \"\\udc00z\", \"\\ud800\\u0041\", "
                        "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\", \"\", \"\\uD834\\uDD1E\"]");
    CHECK(d != NULL, "parse");
    if (!d) return;
    const json_value *r = json_root(d);
    CHECK(strcmp(json_str(json_at(r, 0)), "a\"b\\c/d\be\ff\ng\rh\ti") == 0, "simple escapes");
    CHECK(strcmp(json_str(json_at(r, 1)), "A\xC3\xA9\xE2\x82\xAC") == 0, "BMP escapes");
    CHECK(strcmp(json_str(json_at(r, 2)), "\xF0\x9F\x98\x80") == 0, "surrogate pair");
    const json_value *z = json_at(r, 3);
    CHECK(z->u.string.len == 3 && memcmp(z->u.string.s, "x\0y", 4) == 0, "embedded NUL");
    CHECK(strcmp(json_str(json_at(r, 4)), "\xEF\xBF\xBD") == 0, "lone high -> U+FFFD");
    CHECK(strcmp(json_str(json_at(r, 5)), "\xEF\xBF\xBDz") == 0, "lone low -> U+FFFD");
    CHECK(strcmp(json_str(json_at(r, 6)), "\xEF\xBF\xBD" "A") == 0, "high + non-low");
    CHECK(strcmp(json_str(json_at(r, 7)), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == 0, "raw UTF-8");
    CHECK(json_str(json_at(r, 8)) && json_at(r, 8)->u.string.len == 0, "empty string");
    CHECK(strcmp(json_str(json_at(r, 9)), "\xF0\x9D\x84\x9E") == 0, "uppercase hex pair");
    json_free(d);
}

static void test_numbers(void) {
    json_doc *d = parse("[0, -0, 123, -123, 1.5, -1.5e-3, 1E+2, 2e0, 4096.0, 9223372036854775807, "
                        "-9223372036854775808, 9223372036854775808, -9223372036854775809, "
                        "123456789012345678901234567890, 1e-400, 0.1, 1e300, 9007199254740993.0]");
    CHECK(d != NULL, "parse");
    if (!d) return;
    const json_value *r = json_root(d);
    int64_t i;
    double x;
    CHECK(json_int(json_at(r, 0), &i) && i == 0, "0");
    CHECK(json_int(json_at(r, 1), &i) && i == 0, "-0");
    CHECK(json_int(json_at(r, 2), &i) && i == 123, "123");
    CHECK(json_int(json_at(r, 3), &i) && i == -123, "-123");
    CHECK(!json_int(json_at(r, 4), &i) && json_num(json_at(r, 4), &x) && x == 1.5, "1.5");
    CHECK(json_num(json_at(r, 5), &x) && x == -1.5e-3, "-1.5e-3");
    CHECK(json_int(json_at(r, 6), &i) && i == 100, "1E+2 integral");
    CHECK(json_int(json_at(r, 7), &i) && i == 2, "2e0");
    CHECK(json_int(json_at(r, 8), &i) && i == 4096, "4096.0");
    CHECK(json_int(json_at(r, 9), &i) && i == INT64_MAX, "INT64_MAX");
    CHECK(json_int(json_at(r, 10), &i) && i == INT64_MIN, "INT64_MIN");
    CHECK(!json_int(json_at(r, 11), &i) && json_num(json_at(r, 11), &x) && x == 9223372036854775808.0,
          "2^63 not int");
    CHECK(!json_int(json_at(r, 12), &i), "-2^63-1 not int");
    CHECK(!json_int(json_at(r, 13), &i) && json_num(json_at(r, 13), &x) && fabs(x / 1.2345678901234568e29 - 1) < 1e-15,
          "huge int as double");
    CHECK(json_num(json_at(r, 14), &x) && x == 0.0, "underflow to 0");
    CHECK(json_num(json_at(r, 15), &x) && x == 0.1, "0.1 exact strtod");
    CHECK(json_num(json_at(r, 16), &x) && x == 1e300 && !json_int(json_at(r, 16), &i), "1e300 too big for int");
    CHECK(!json_int(json_at(r, 17), &i), "inexact > 2^53 with fraction is not int");
    json_free(d);
    /* a long number literal goes through the heap copy */
    char big[400];
    memset(big, '7', sizeof big - 1);
    big[0] = '1';
    big[1] = '.';
    big[sizeof big - 1] = '\0';
    d = parse(big);
    CHECK(d && json_root(d)->type == JSON_NUMBER && fabs(json_root(d)->u.number.num - 1.7777777) < 1e-6,
          "long literal");
    json_free(d);
    /* integral values written with a fraction or exponent */
    d = parse("[0.5e1, 2.50e1, 1500e-2, 1500e-3, 0.0e-99999999999999, 1e-99999999999, 100e-2, 0.1e1, "
              "123.000e0, 1.5, -2.0E3, 9007199254740991.0]");
    static const int64_t want[] = {5, 25, 15, -1, 0, -1, 1, 1, 123, -1, -2000, 9007199254740991LL};
    for (size_t k = 0; d && k < sizeof want / sizeof want[0]; k++) {
        int is = json_int(json_at(json_root(d), k), &i);
        if (want[k] == -1) CHECK(!is, "item %zu should not be integral", k);
        else CHECK(is && i == want[k], "item %zu: %d %lld", k, is, (long long)i);
    }
    CHECK(d != NULL, "parse integral list");
    json_free(d);
}

static void test_duplicate_keys_last_wins(void) {
    json_doc *d = parse("{\"a\": 1, \"b\": 2, \"a\": 3}");
    CHECK(d && json_get_int(json_root(d), "a", 0) == 3 && json_len(json_root(d)) == 3, "small object");
    json_free(d);
    json_sb b = {0};
    json_sb_puts(&b, "{");
    for (int k = 0; k < 40; k++) json_sb_printf(&b, "\"k%d\": %d, ", k % 20, k);
    json_sb_puts(&b, "\"nul\\u0000x\": 5, \"nul\": 6}");
    d = parse(b.buf);
    CHECK(d != NULL, "parse");
    for (int k = 0; k < 20; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        CHECK(json_get_int(json_root(d), key, -1) == k + 20, "hashed dup %s", key);
    }
    CHECK(json_get_int(json_root(d), "nul", 0) == 6, "key with NUL is distinct");
    json_free(d);
    json_sb_free(&b);
}

static void test_big_object_lookup(void) {
    const int n = 100000;
    json_sb b = {0};
    int ok = json_sb_puts(&b, "{");
    for (int k = 0; k < n && ok; k++) ok = json_sb_printf(&b, "%s\"tok_%d\u00e9\":%d", k ? "," : "", k, k);
    ok = ok && json_sb_puts(&b, "}");
    CHECK(ok, "build");
    char err[256];
    clock_t c0 = clock();
    json_doc *d = parse_n(b.buf, b.len, err, sizeof err);
    CHECK(d != NULL, "parse: %s", err);
    if (d) {
        const json_value *r = json_root(d);
        CHECK(json_len(r) == (size_t)n, "len");
        int bad = 0;
        for (int rep = 0; rep < 3; rep++)
            for (int k = 0; k < n; k++) {
                char key[32];
                snprintf(key, sizeof key, "tok_%d\u00e9", k);
                if (json_get_int(r, key, -1) != k) bad++;
                snprintf(key, sizeof key, "tok_%d", k);
                if (json_get(r, key) != NULL) bad++;
            }
        CHECK(bad == 0, "%d lookups wrong", bad);
        CHECK(strcmp(r->u.object.keys[n - 1], "tok_99999\u00e9") == 0, "order kept");
    }
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    CHECK(secs < 10.0, "100k keys parse + 600k lookups took %.2f s (quadratic?)", secs);
    json_free(d);
    json_sb_free(&b);
}

static void test_depth_limit(void) {
    char *t = malloc(2 * 513 + 1);
    memset(t, '[', 512);
    memset(t + 512, ']', 512);
    json_doc *d = parse_n(t, 1024, NULL, 0);
    CHECK(d != NULL, "512 levels accepted");
    json_free(d);
    memset(t, '[', 513);
    memset(t + 513, ']', 513);
    char err[256];
    CHECK(fails(t, 1026, err, sizeof err) && strstr(err, "512"), "513 levels rejected: %s", err);
    /* objects count too */
    json_sb b = {0};
    for (int k = 0; k < 513; k++) json_sb_puts(&b, "{\"a\":");
    json_sb_puts(&b, "1");
    for (int k = 0; k < 513; k++) json_sb_puts(&b, "}");
    CHECK(fails(b.buf, b.len, err, sizeof err) && strstr(err, "deeper"), "deep objects: %s", err);
    json_sb_free(&b);
    /* very deep input must not blow the stack */
    size_t big = 1000000;
    char *deep = malloc(big);
    memset(deep, '[', big);
    CHECK(fails(deep, big, err, sizeof err), "1M '[' rejected");
    free(deep);
    free(t);
}

/* ==== malformed documents ==== */

static void test_malformed(void) {
    static const char *bad[] = {
        "", " ", "\n\t", "[1,]", "{\"a\":1,}", "[,1]", "{,}", "[1,,2]", "01", "-01", "00", "-", "--1", "+1",
        "1.", ".5", "1.e5", "1e", "1e+", "1E-", "0x10", "1.5.3", "Infinity", "-Infinity", "NaN", "[1 2]",
        "{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "'a'", "{\"a\"}", "{1:2}", "[", "]", "{", "}", "[}", "{]",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\uZZZZ\"", "\"\\", "\"\\\"", "\"a\tb\"",
        "\"a\nb\"", "\"\x01\"", "\"\x1f\"", "tru", "nul", "fals", "True", "NULL", "truex", "nullnull", "[1]x",
        "{} {}", "1 2", "[1]]", "{\"a\":1}}", "1e400", "-1e400", "[1e999]", "\"\xC0\x80\"", "\"\xED\xA0\x80\"",
        "\"\xF5\x80\x80\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xE0\x80\x80\"", "\"\xC3\"", "\"\xE2\x82\"",
        "\"\x80\"", "\"\xFF\"", "\xC3\xA9", "[\"\\ud800\\u\"]", "/* c */ 1", "1 // c", "[1,\n2,\n]",
        "\xEF\xBB\xBF", "\xEF\xBB", "[\x7f]", "{\"a\":1 \"b\":2}", "[true false]", "[-]", "[1.]", "[\"a\"\"b\"]",
    };
    char err[256];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK(fails(bad[k], strlen(bad[k]), err, sizeof err), "accepted or bad message for #%zu <%s>: %s", k,
              bad[k], err);
    /* a NUL byte inside the buffer is not whitespace */
    CHECK(fails("1\0", 2, err, sizeof err), "embedded NUL after value");
    CHECK(fails("\"a\0b\"", 5, err, sizeof err), "raw NUL in string");
    /* NULL text */
    CHECK(json_parse(NULL, 3, err, sizeof err) == NULL && err[0], "NULL text");
    json_doc *d = json_parse(NULL, 0, err, sizeof err);
    CHECK(d == NULL && err[0], "NULL empty text");
    /* errbuf may be NULL or tiny */
    CHECK(json_parse("[1,]", 4, NULL, 0) == NULL, "NULL errbuf");
    char tiny[4] = "zzz";
    CHECK(json_parse("[1,]", 4, tiny, sizeof tiny) == NULL && strlen(tiny) == 3, "tiny errbuf truncated");
}

static void test_error_positions(void) {
    char err[256];
    CHECK(fails("{\n  \"a\": 1,\n  \"b\": tru\n}", 24, err, sizeof err), "fails");
    CHECK(strstr(err, "line 3, column 8") != NULL, "position: %s", err);
    CHECK(fails("[1,\n2,\n]", 8, err, sizeof err) && strstr(err, "line 3, column 1") && strstr(err, "trailing comma"),
          "trailing comma: %s", err);
    CHECK(fails("{\"a\":01}", 8, err, sizeof err) && strstr(err, "column 6") && strstr(err, "leading zero"),
          "leading zero: %s", err);
    CHECK(fails("\"ab\\q\"", 6, err, sizeof err) && strstr(err, "escape") && strstr(err, "'q'"), "escape: %s", err);
    CHECK(fails("[\"\x01\"]", 5, err, sizeof err) && strstr(err, "control character"), "control: %s", err);
    CHECK(fails("[1] x", 5, err, sizeof err) && strstr(err, "column 5") && strstr(err, "'x'"), "trailing: %s", err);
    CHECK(fails("[1", 2, err, sizeof err) && strstr(err, "end of input"), "eof: %s", err);
    CHECK(fails("\"abc", 4, err, sizeof err) && strstr(err, "unterminated") && strstr(err, "column 1"),
          "unterminated: %s", err);
    CHECK(fails("1e400", 5, err, sizeof err) && strstr(err, "too large"), "range: %s", err);
    CHECK(fails("\"\xFF\"", 3, err, sizeof err) && strstr(err, "UTF-8") && strstr(err, "column 2"), "utf8: %s", err);
}

/* A document exercising every construct; its root is an object, so every
 * proper prefix is invalid. */
static const char *k_sample =
    "{\"vocab\": {\"a\": 0, \"b\\u00e9\": 1, \"\\ud83d\\ude00\": 2, \"q\\\"\": 3},\n"
    " \"merges\": [\"a b\", \"\\t c\"], \"n\": -12.5e-3, \"big\": 123456789012345678901,\n"
    " \"ok\": true, \"no\": false, \"nil\": null, \"deep\": [[[{\"x\": [0, 1e5, -0.0]}]]],\n"
    " \"utf\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\", \"e\": {}, \"ea\": [ ]}";

static void test_every_truncation_fails(void) {
    size_t len = strlen(k_sample);
    char err[256];
    json_doc *d = parse_n(k_sample, len, err, sizeof err);
    CHECK(d != NULL, "sample parses: %s", err);
    if (d) CHECK(walk(json_root(d), 0) > 20, "walk");
    json_free(d);
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++)
        if (!fails(k_sample, cut, err, sizeof err)) {
            if (bad++ < 5) fprintf(stderr, "  prefix of %zu bytes accepted or bad message: %s\n", cut, err);
        }
    CHECK(bad == 0, "%d truncations misbehaved", bad);
}

static void test_mutation_fuzz(void) {
    static const char interesting[] = "{}[]\",:\\u0123456789eE+-.tfn \n\t\x01\x7f\x80\xbf\xc3\xed\xf0\xff";
    size_t len = strlen(k_sample);
    char *buf = malloc(len + 8);
    char err[256];
    uint64_t seed = 0x5eed1234abcdULL;
    int accepted = 0, bad_msg = 0;
    for (int it = 0; it < 5000; it++) {
        memcpy(buf, k_sample, len);
        size_t n = len;
        int muts = 1 + (int)(rng_next(&seed) % 4);
        for (int m = 0; m < muts; m++) {
            uint64_t r = rng_next(&seed);
            size_t at = (size_t)(r >> 8) % n;
            switch (r % 4) {
            case 0: buf[at] = (char)(rng_next(&seed) & 0xff); break;
            case 1: buf[at] = interesting[rng_next(&seed) % (sizeof interesting - 1)]; break;
            case 2: memmove(buf + at, buf + at + 1, n - at - 1); n--; break; /* delete a byte */
            default: n = at + 1; break;                                       /* truncate */
            }
            if (n < 2) break;
        }
        err[0] = '\0';
        json_doc *d = parse_n(buf, n, err, sizeof err);
        if (d) {
            accepted++;
            walk(json_root(d), 0);
            json_free(d);
        } else if (strncmp(err, "line ", 5) != 0) {
            bad_msg++;
        }
    }
    CHECK(bad_msg == 0, "%d failures without a line:column message", bad_msg);
    CHECK(accepted > 0 && accepted < 5000, "accepted %d of 5000 mutants", accepted);
    free(buf);
}

/* ==== files and string builder ==== */

static void test_read_file(void) {
    char dir[] = "/tmp/trit_json_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create");
    if (!f) return;
    fputs(k_sample, f);
    fclose(f);
    size_t len = 0;
    char *text = json_read_file(path, &len, err, sizeof err);
    CHECK(text && len == strlen(k_sample) && strcmp(text, k_sample) == 0, "content: %s", err);
    json_doc *d = text ? json_parse(text, len, err, sizeof err) : NULL;
    CHECK(d && json_get_int(json_get(json_root(d), "vocab"), "q\"", -1) == 3, "parsed file");
    json_free(d);
    free(text);
    /* empty file */
    snprintf(path, sizeof path, "%s/empty.json", dir);
    f = fopen(path, "wb");
    if (f) fclose(f);
    text = json_read_file(path, &len, err, sizeof err);
    CHECK(text && len == 0 && text[0] == '\0', "empty file");
    free(text);
    unlink(path);
    /* missing file: message names the path and errno text */
    snprintf(path, sizeof path, "%s/missing.json", dir);
    text = json_read_file(path, &len, err, sizeof err);
    CHECK(!text && strstr(err, path) && strstr(err, strerror(ENOENT)), "missing: %s", err);
    /* a directory */
    text = json_read_file(dir, &len, err, sizeof err);
    CHECK(!text && strstr(err, dir) && strstr(err, "directory"), "dir: %s", err);
    CHECK(json_read_file(NULL, &len, err, sizeof err) == NULL && err[0], "NULL path");
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    unlink(path);
    CHECK(rmdir(dir) == 0, "cleanup");
}

static void test_sb_quote(void) {
    json_sb b = {0};
    CHECK(json_sb_quote(&b, "a\"b\\c\n\t\r\b\f\x01\x1f/\xC3\xA9", 15), "quote");
    CHECK(b.buf && strcmp(b.buf, "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f/\xC3\xA9\"") == 0, "escaped: %s", b.buf);
    json_sb_free(&b);
    CHECK(b.buf == NULL && b.len == 0 && b.cap == 0, "freed");
    CHECK(json_sb_quote(&b, "x\0y", 3) && strcmp(b.buf, "\"x\\u0000y\"") == 0, "NUL: %s", b.buf);
    json_sb_free(&b);
    CHECK(json_sb_quote(&b, NULL, 0) && strcmp(b.buf, "\"\"") == 0, "empty");
    CHECK(!json_sb_quote(&b, NULL, 3), "NULL with len");
    CHECK(json_sb_puts(&b, NULL) && json_sb_puts(&b, "xy") && strcmp(b.buf, "\"\"xy") == 0, "puts");
    json_sb_free(&b);
    /* printf beyond the first capacity */
    char big[3000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(json_sb_printf(&b, "<%s|%d>", big, 42) && b.len == sizeof big - 1 + 5, "printf len %zu", b.len);
    CHECK(b.buf[0] == '<' && strcmp(b.buf + b.len - 4, "|42>") == 0, "printf content");
    json_sb_free(&b);
    /* every byte string made of valid UTF-8 round-trips through quote + parse */
    uint64_t seed = 99;
    static const char *pieces[] = {"a", "\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xC3\xA9", "\xE2\x82\xAC",
                                   "\xF0\x9F\x98\x80", "/", " ", "u", "\\u"};
    int bad = 0;
    for (int it = 0; it < 2000; it++) {
        char s[256];
        size_t n = 0;
        int k = (int)(rng_next(&seed) % 20);
        for (int j = 0; j < k; j++) {
            const char *p = pieces[rng_next(&seed) % (sizeof pieces / sizeof pieces[0])];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        }
        if (rng_next(&seed) % 4 == 0) s[n++] = '\0';
        json_sb q = {0};
        json_sb_quote(&q, s, n);
        json_doc *d = parse_n(q.buf, q.len, NULL, 0);
        const json_value *v = json_root(d);
        if (!v || v->type != JSON_STRING || v->u.string.len != n || memcmp(v->u.string.s, s, n) != 0) bad++;
        json_free(d);
        json_sb_free(&q);
    }
    CHECK(bad == 0, "%d quote round trips failed", bad);
}

int main(void) {
    RUN(test_scalars_at_root);
    RUN(test_nested);
    RUN(test_strings_and_escapes);
    RUN(test_numbers);
    RUN(test_duplicate_keys_last_wins);
    RUN(test_big_object_lookup);
    RUN(test_depth_limit);
    RUN(test_malformed);
    RUN(test_error_positions);
    RUN(test_every_truncation_fails);
    RUN(test_mutation_fuzz);
    RUN(test_read_file);
    RUN(test_sb_quote);
    return TT_END();
}
