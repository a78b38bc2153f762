/*
 * test_safetensors.c - tests of the safetensors reader / writer, sharded
 * sets, half-precision conversions, and robustness against corrupt,
 * truncated and randomly mutated files.
 */
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json.h"
#include "io/safetensors.h"
#include "tt.h"

/* ==== helpers ==== */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

/* Creates a fresh temporary folder (path in buf). */
static int make_tmpdir(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/trit_st_XXXXXX");
    return mkdtemp(buf) != NULL;
}

/* Removes a temporary folder and everything in it. */
static void remove_tree(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(buf, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Reads a whole file into a malloc'ed buffer. */
static uint8_t *read_bytes(const char *path, size_t *n) {
    char err[256];
    return (uint8_t *)json_read_file(path, n, err, sizeof err);
}

/* Writes a raw safetensors-like file: 8-byte length hlen (little-endian),
 * the header text, then dlen bytes of data (a byte pattern). */
static void write_raw(const char *path, uint64_t hlen, const char *hdr, size_t dlen) {
    size_t h = strlen(hdr), n = 8 + h + dlen;
    uint8_t *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, hdr, h);
    for (size_t i = 0; i < dlen; i++) b[8 + h + i] = (uint8_t)(i * 7 + 1);
    CHECK(write_bytes(path, b, n), "write %s", path);
    free(b);
}

/* Opens path expecting failure with `code` and a message that contains
 * the file path and every string of `subs` (NULL-terminated list). */
static void expect_open_fail(const char *path, trit_status code, const char *label, const char *const *subs) {
    st_file *f = (st_file *)1;
    trit_error e = {0};
    trit_status s = st_open(path, &f, &e);
    CHECK(s == code && e.code == code, "%s: status %d, want %d (%s)", label, (int)s, (int)code, e.msg);
    CHECK(f == NULL, "%s: out not cleared", label);
    CHECK(strstr(e.msg, path) != NULL, "%s: message lacks the path: %s", label, e.msg);
    for (; subs && *subs; subs++)
        CHECK(strstr(e.msg, *subs) != NULL, "%s: message lacks \"%s\": %s", label, *subs, e.msg);
    if (s == TRIT_OK) st_close(f);
}

/* ==== dtypes and half precision ==== */

static void test_dtype_table(void) {
    static const char *names[] = {"F32", "F16", "BF16", "U8", "I8", "I16", "I32", "I64", "F64", "BOOL",
                                  "U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};
    static const size_t sizes[] = {4, 2, 2, 1, 1, 2, 4, 8, 8, 1, 2, 4, 8, 1, 1};
    for (int t = 0; t < ST_UNKNOWN; t++) {
        CHECK(strcmp(st_dtype_name((st_dtype)t), names[t]) == 0, "name %d", t);
        CHECK(st_dtype_size((st_dtype)t) == sizes[t], "size %d", t);
    }
    CHECK(st_dtype_size(ST_UNKNOWN) == 0 && st_dtype_size((st_dtype)99) == 0, "unknown size");
    CHECK(strcmp(st_dtype_name(ST_UNKNOWN), "unknown") == 0, "unknown name");
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_fp16(void) {
    CHECK(trit_fp16_to_f32(0x3c00) == 1.0f && trit_fp16_to_f32(0xc000) == -2.0f, "1, -2");
    CHECK(trit_fp16_to_f32(0x7bff) == 65504.0f, "max");
    CHECK(trit_fp16_to_f32(0x0001) == 0x1p-24f && trit_fp16_to_f32(0x03ff) == 1023 * 0x1p-24f, "subnormals");
    CHECK(trit_fp16_to_f32(0x0400) == 0x1p-14f, "min normal");
    CHECK(isinf(trit_fp16_to_f32(0x7c00)) && trit_fp16_to_f32(0xfc00) < 0, "inf");
    CHECK(fbits(trit_fp16_to_f32(0x8000)) == 0x80000000u, "-0");
    CHECK(isnan(trit_fp16_to_f32(0x7e00)) && isnan(trit_fp16_to_f32(0x7c01)) && isnan(trit_fp16_to_f32(0xfd00)),
          "nan");
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = trit_fp16_to_f32((uint16_t)h);
        uint16_t back = trit_f32_to_fp16(f);
        if (isnan(f)) {
            if ((back & 0x7c00) != 0x7c00 || !(back & 0x3ff) || (back & 0x8000) != (h & 0x8000)) bad++;
        } else if (back != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    /* rounding: around every midpoint between neighbouring finite halves */
    bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        for (int sg = 0; sg < 2; sg++) {
            uint16_t s = (uint16_t)(sg ? 0x8000 : 0);
            float a = trit_fp16_to_f32((uint16_t)(h | s)), b = trit_fp16_to_f32((uint16_t)((h + 1) | s));
            float mid = (a + b) / 2; /* exact: needs 12 significant bits */
            uint16_t even = (uint16_t)(((h & 1) ? h + 1 : h) | s);
            if (trit_f32_to_fp16(mid) != even) bad++;
            if (trit_f32_to_fp16(nextafterf(mid, a)) != (h | s)) bad++;
            if (trit_f32_to_fp16(nextafterf(mid, b)) != ((h + 1) | s)) bad++;
        }
    }
    CHECK(bad == 0, "%d midpoint roundings wrong", bad);
    CHECK(trit_f32_to_fp16(65519.99f) == 0x7bff && trit_f32_to_fp16(65520.0f) == 0x7c00, "overflow boundary");
    CHECK(trit_f32_to_fp16(-1e10f) == 0xfc00 && trit_f32_to_fp16(INFINITY) == 0x7c00, "overflow to inf");
    CHECK(trit_f32_to_fp16(0x1p-25f) == 0 && trit_f32_to_fp16(nextafterf(0x1p-25f, 1)) == 1, "tiny");
    CHECK(trit_f32_to_fp16(1e-30f) == 0 && trit_f32_to_fp16(-1e-30f) == 0x8000 && trit_f32_to_fp16(-0.0f) == 0x8000,
          "underflow keeps sign");
    CHECK(trit_f32_to_fp16(bitsf(0x7f800001u)) != 0x7c00 && isnan(trit_fp16_to_f32(trit_f32_to_fp16(NAN))),
          "nan stays nan");
#if defined(__FLT16_MAX__) && defined(__x86_64__)
    /* compare with the compiler's own conversion on random bit patterns */
    uint64_t seed = 7;
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        float f = bitsf((uint32_t)rng_next(&seed));
        if (isnan(f)) continue;
        _Float16 r = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &r, 2);
        if (trit_f32_to_fp16(f) != rb) bad++;
    }
    CHECK(bad == 0, "%d conversions differ from _Float16", bad);
#endif
}

static void test_bf16(void) {
    CHECK(trit_bf16_to_f32(0x3f80) == 1.0f && trit_bf16_to_f32(0xc000) == -2.0f, "1, -2");
    CHECK(trit_bf16_to_f32(0x0001) == bitsf(0x00010000u), "subnormal");
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = trit_bf16_to_f32((uint16_t)h);
        uint16_t back = trit_f32_to_bf16(f);
        if (isnan(f) ? !isnan(trit_bf16_to_f32(back)) : back != h) bad++;
    }
    CHECK(bad == 0, "%d bf16 do not round-trip", bad);
    bad = 0;
    for (uint32_t h = 0; h < 0x7f7f; h++) {
        uint32_t lo = h << 16, mid = lo + 0x8000;
        uint16_t even = (uint16_t)((h & 1) ? h + 1 : h);
        if (trit_f32_to_bf16(bitsf(mid)) != even) bad++;
        if (trit_f32_to_bf16(bitsf(mid - 1)) != h) bad++;
        if (trit_f32_to_bf16(bitsf(mid + 1)) != h + 1) bad++;
        if (trit_f32_to_bf16(bitsf(mid | 0x80000000u)) != (even | 0x8000)) bad++;
    }
    CHECK(bad == 0, "%d bf16 roundings wrong", bad);
    CHECK(trit_f32_to_bf16(FLT_MAX) == 0x7f80 && trit_f32_to_bf16(-INFINITY) == 0xff80, "overflow");
    CHECK(isnan(trit_bf16_to_f32(trit_f32_to_bf16(bitsf(0x7f800001u)))), "low-payload NaN stays NaN");
    CHECK(isnan(trit_bf16_to_f32(trit_f32_to_bf16(bitsf(0xffffffffu)))), "NaN with all bits");
}

/* ==== round trips ==== */

static void test_roundtrip_all_dtypes(void) {
    char dir[64], path[128];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_write_tensor ts[ST_UNKNOWN + 4];
    uint8_t data[ST_UNKNOWN][6 * 8];
    size_t n = 0;
    for (int t = 0; t < ST_UNKNOWN; t++) {
        for (size_t i = 0; i < sizeof data[t]; i++) data[t][i] = (uint8_t)(t * 31 + i * 3);
        char *name = malloc(32);
        snprintf(name, 32, "layer.%d.%s", t, st_dtype_name((st_dtype)t));
        ts[n] = (st_write_tensor){name, (st_dtype)t, 2, {2, 3}, data[t], 6 * st_dtype_size((st_dtype)t)};
        n++;
    }
    static const float scalar = 3.5f, vals[3] = {1.0f, -2.5f, 1e-3f};
    ts[n++] = (st_write_tensor){"scalar", ST_F32, 0, {0}, &scalar, 4};
    ts[n++] = (st_write_tensor){"empty", ST_BF16, 2, {0, 5}, NULL, 0};
    ts[n++] = (st_write_tensor){"empty2", ST_I64, 3, {3, 0, 2}, data[0], 0};
    ts[n++] = (st_write_tensor){"v\"q\\\xC3\xA9", ST_F32, 1, {3}, vals, 12};
    trit_error e = {0};
    trit_status s = st_write(path, ts, n, "{\"format\": \"pt\", \"note\": \"a\\nb\"}", &e);
    CHECK(s == TRIT_OK, "st_write: %s", e.msg);

    size_t flen = 0;
    uint8_t *raw = read_bytes(path, &flen);
    uint64_t hlen = 0;
    for (int i = 7; raw && i >= 0; i--) hlen = (hlen << 8) | raw[i];
    CHECK(raw && hlen % 8 == 0 && hlen + 8 <= flen && raw[8] == '{', "header padded to 8: %llu",
          (unsigned long long)hlen);
    if (raw && hlen % 8 == 0 && hlen + 8 <= flen) {
        size_t end = 8 + (size_t)hlen;
        while (end > 8 && raw[end - 1] == ' ') end--;
        CHECK(raw[end - 1] == '}' && 8 + hlen - end < 8, "padding is fewer than 8 spaces");
    }
    free(raw);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "tmp file renamed away");

    st_file *f = NULL;
    s = st_open(path, &f, &e);
    CHECK(s == TRIT_OK && f, "st_open: %s", e.msg);
    if (f) {
        CHECK(st_count(f) == n, "count %zu", st_count(f));
        CHECK(st_file_size(f) == (int64_t)flen && strcmp(st_path(f), path) == 0, "size / path");
        for (size_t i = 0; i < n; i++) {
            const st_tensor *t = st_get(f, i);
            CHECK(t && strcmp(t->name, ts[i].name) == 0, "order %zu", i);
            if (!t) continue;
            CHECK(st_find(f, ts[i].name) == t, "find %s", ts[i].name);
            CHECK(t->dtype == ts[i].dtype && t->ndim == ts[i].ndim, "dtype/ndim %s", t->name);
            int64_t numel = 1;
            for (int d = 0; d < t->ndim; d++) {
                CHECK(t->shape[d] == ts[i].shape[d], "shape %s", t->name);
                numel *= t->shape[d];
            }
            CHECK(t->numel == numel && t->nbytes == ts[i].nbytes, "numel %s", t->name);
            CHECK(t->nbytes == 0 || memcmp(t->data, ts[i].data, t->nbytes) == 0, "data %s", t->name);
            CHECK(t->file == st_path(f), "file");
        }
        CHECK(st_find(f, "missing") == NULL && st_find(f, NULL) == NULL && st_get(f, n) == NULL, "misses");
        /* conversions */
        float out[6];
        const st_tensor *sc = st_find(f, "scalar");
        CHECK(sc && sc->ndim == 0 && sc->numel == 1 && st_to_f32(sc, out) && out[0] == 3.5f, "scalar");
        const st_tensor *v = st_find(f, "v\"q\\\xC3\xA9");
        CHECK(v && st_to_f32(v, out) && out[0] == 1.0f && out[1] == -2.5f && out[2] == 1e-3f, "F32 values");
        const st_tensor *em = st_find(f, "empty");
        CHECK(em && em->numel == 0 && em->nbytes == 0 && st_to_f32(em, NULL), "empty convert");
        for (int t = 0; t < ST_UNKNOWN; t++) {
            const st_tensor *x = st_get(f, (size_t)t);
            int conv = st_to_f32(x, out);
            int want = t == ST_F32 || t == ST_F16 || t == ST_BF16 || t == ST_F64 || t == ST_I8 || t == ST_U8;
            CHECK(conv == want, "st_to_f32 support for %s", st_dtype_name((st_dtype)t));
            if (!conv) continue;
            const uint8_t *p = data[t];
            for (int k = 0; k < 6; k++) {
                float ref;
                switch (t) {
                case ST_F32: { uint32_t u; memcpy(&u, p + 4 * k, 4); ref = bitsf(u); break; }
                case ST_F16: ref = trit_fp16_to_f32((uint16_t)(p[2 * k] | p[2 * k + 1] << 8)); break;
                case ST_BF16: ref = trit_bf16_to_f32((uint16_t)(p[2 * k] | p[2 * k + 1] << 8)); break;
                case ST_F64: { double d; memcpy(&d, p + 8 * k, 8); ref = (float)d; break; }
                case ST_I8: ref = (float)(int8_t)p[k]; break;
                default: ref = (float)p[k]; break;
                }
                CHECK(memcmp(&ref, &out[k], 4) == 0 || (isnan(ref) && isnan(out[k])), "%s[%d]: %g vs %g",
                      st_dtype_name((st_dtype)t), k, ref, out[k]);
            }
        }
        st_close(f);
    }
    /* the folder opens as a single-file set */
    st_set *set = NULL;
    s = st_set_open(dir, &set, &e);
    CHECK(s == TRIT_OK && st_set_count(set) == n, "set: %s", e.msg);
    CHECK(st_set_find(set, "scalar") && st_set_get(set, 0) && st_set_get(set, n) == NULL, "set find");
    CHECK(st_set_bytes(set) == (int64_t)flen, "set bytes");
    st_set_close(set);
    for (int t = 0; t < ST_UNKNOWN; t++) free((char *)ts[t].name);
    st_close(NULL);
    st_set_close(NULL);
    CHECK(st_count(NULL) == 0 && st_get(NULL, 0) == NULL && st_find(NULL, "a") == NULL && st_path(NULL) == NULL,
          "NULL handles");
    remove_tree(dir);
}

static void test_empty_and_many(void) {
    char dir[64], path[128];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/e.safetensors", dir);
    trit_error e = {0};
    CHECK(st_write(path, NULL, 0, NULL, &e) == TRIT_OK, "empty write: %s", e.msg);
    st_file *f = NULL;
    CHECK(st_open(path, &f, &e) == TRIT_OK && st_count(f) == 0, "empty open: %s", e.msg);
    st_close(f);
    /* many tensors: every one must be found (hash lookup) */
    enum { N = 3000 };
    st_write_tensor *ts = calloc(N, sizeof *ts);
    char (*names)[48] = calloc(N, 48);
    int16_t *vals = calloc(N, sizeof *vals);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], 48, "model.layers.%d.mlp.up_proj.weight", i);
        vals[i] = (int16_t)i;
        ts[i] = (st_write_tensor){names[i], ST_I16, 1, {1}, &vals[i], 2};
    }
    CHECK(st_write(path, ts, N, NULL, &e) == TRIT_OK, "many write: %s", e.msg);
    CHECK(st_open(path, &f, &e) == TRIT_OK, "many open: %s", e.msg);
    int bad = 0;
    for (int i = 0; f && i < N; i++) {
        const st_tensor *t = st_find(f, names[i]);
        int16_t v = 0;
        if (!t) { bad++; continue; }
        memcpy(&v, t->data, 2);
        if (v != i || t != st_get(f, (size_t)i)) bad++;
    }
    CHECK(bad == 0, "%d lookups wrong", bad);
    st_close(f);
    free(ts);
    free(names);
    free(vals);
    remove_tree(dir);
}

static void test_write_errors(void) {
    char dir[64], path[128], tmp[140];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float x[4] = {1, 2, 3, 4};
    trit_error e = {0};
    st_write_tensor good = {"a", ST_F32, 1, {4}, x, 16};
    st_write_tensor dup[2] = {good, good};
    CHECK(st_write(path, dup, 2, NULL, &e) == TRIT_ERR_ARG, "dup");
    CHECK(strstr(e.msg, "'a'") && strstr(e.msg, path), "dup message: %s", e.msg);
    st_write_tensor badn = {"a", ST_F32, 1, {4}, x, 12};
    CHECK(st_write(path, &badn, 1, NULL, &e) == TRIT_ERR_ARG && strstr(e.msg, "nbytes"), "nbytes: %s", e.msg);
    st_write_tensor nul = {"a", ST_F32, 1, {4}, NULL, 16};
    CHECK(st_write(path, &nul, 1, NULL, &e) == TRIT_ERR_ARG, "NULL data");
    st_write_tensor meta = {"__metadata__", ST_F32, 1, {4}, x, 16};
    CHECK(st_write(path, &meta, 1, NULL, &e) == TRIT_ERR_ARG, "__metadata__ name");
    st_write_tensor noname = {NULL, ST_F32, 1, {4}, x, 16};
    CHECK(st_write(path, &noname, 1, NULL, &e) == TRIT_ERR_ARG, "NULL name");
    st_write_tensor unk = {"a", ST_UNKNOWN, 1, {4}, x, 16};
    CHECK(st_write(path, &unk, 1, NULL, &e) == TRIT_ERR_ARG, "unknown dtype");
    st_write_tensor deep = {"a", ST_U8, 9, {1, 1, 1, 1, 1, 1, 1, 1}, x, 1};
    CHECK(st_write(path, &deep, 1, NULL, &e) == TRIT_ERR_ARG, "ndim 9");
    st_write_tensor neg = {"a", ST_U8, 1, {-4}, x, 0};
    CHECK(st_write(path, &neg, 1, NULL, &e) == TRIT_ERR_ARG, "negative dim");
    st_write_tensor ovf = {"a", ST_U8, 2, {INT64_MAX, 4}, x, 0};
    CHECK(st_write(path, &ovf, 1, NULL, &e) == TRIT_ERR_ARG, "overflow");
    st_write_tensor badutf = {"a\xff", ST_F32, 1, {4}, x, 16};
    CHECK(st_write(path, &badutf, 1, NULL, &e) == TRIT_ERR_ARG && strstr(e.msg, "UTF-8"), "utf8: %s", e.msg);
    CHECK(st_write(path, &good, 1, "[1]", &e) == TRIT_ERR_ARG, "metadata array");
    CHECK(st_write(path, &good, 1, "{\"a\": 1}", &e) == TRIT_ERR_ARG, "metadata number");
    CHECK(st_write(path, &good, 1, "{\"a\": ", &e) == TRIT_ERR_ARG, "metadata bad json");
    CHECK(st_write(NULL, &good, 1, NULL, &e) == TRIT_ERR_ARG, "NULL path");
    CHECK(access(path, F_OK) != 0 && access(tmp, F_OK) != 0, "nothing written on argument errors");

    /* an existing file survives a failed write */
    CHECK(st_write(path, &good, 1, NULL, &e) == TRIT_OK, "good: %s", e.msg);
    size_t n0 = 0, n1 = 0;
    uint8_t *before = read_bytes(path, &n0);
    CHECK(mkdir(tmp, 0755) == 0, "block the tmp name with a folder");
    float y[2] = {9, 9};
    st_write_tensor other = {"b", ST_F32, 1, {2}, y, 8};
    trit_status s = st_write(path, &other, 1, NULL, &e);
    CHECK(s == TRIT_ERR_IO && strstr(e.msg, path), "io error: %d %s", (int)s, e.msg);
    uint8_t *after = read_bytes(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "existing file untouched");
    free(before);
    free(after);
    rmdir(tmp);
    /* folder that does not exist */
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.safetensors", dir);
    s = st_write(nodir, &good, 1, NULL, &e);
    CHECK(s == TRIT_ERR_IO && strstr(e.msg, nodir) && strstr(e.msg, strerror(ENOENT)), "missing dir: %s", e.msg);
    remove_tree(dir);
}

/* ==== corrupt files ==== */

typedef struct {
    const char *label, *hdr;
    size_t dlen;
    const char *sub1, *sub2;
} corrupt_case;

static void test_corrupt_headers(void) {
    static const corrupt_case cases[] = {
        {"not json", "{\"w\": {\"dtype\": \"F32\", ", 0, "not valid JSON", NULL},
        {"array header", "[1, 2]", 0, "not a JSON object", NULL},
        {"garbage header", "\x01\x02\x03\x04", 0, "not valid JSON", NULL},
        {"entry not object", "{\"w\": 5}", 0, "'w'", "not a JSON object"},
        {"no dtype", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'w'", "dtype"},
        {"dtype number", "{\"w\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'w'", "dtype"},
        {"unknown dtype", "{\"w\": {\"dtype\": \"F4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'w'",
         "unknown dtype \"F4\""},
        {"no shape", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "'w'", "shape"},
        {"shape not array", "{\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4, "'w'",
         "shape"},
        {"negative shape", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "'w'",
         "shape[0] is not a non-negative integer"},
        {"fractional shape", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 1.5], \"data_offsets\": [0, 12]}}", 12,
         "'w'", "shape[1]"},
        {"string shape", "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8, "'w'",
         "shape[0]"},
        {"9 dims", "{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1,
         "'w'", "9 dimensions"},
        {"shape overflow", "{\"w\": {\"dtype\": \"U8\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 0]}}",
         0, "'w'", "overflows"},
        {"bytes overflow", "{\"w\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 0]}}",
         0, "'w'", "overflow"},
        {"no offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "'w'", "data_offsets"},
        {"one offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "'w'",
         "data_offsets"},
        {"three offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8, "'w'",
         "data_offsets"},
        {"negative offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "'w'",
         "data_offsets"},
        {"end before begin", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8, "'w'",
         "end 4 is before begin 8"},
        {"offsets past end", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 10, "'w'",
         "end 16 is past the end of the data (10 bytes)"},
        {"huge offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [9223372036854775800, "
                         "9223372036854775804]}}", 8, "'w'", "past the end"},
        {"size mismatch", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", 16, "'w'",
         "need 16 bytes"},
        {"dtype size mismatch", "{\"w\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16,
         "'w'", "need 8 bytes"},
        {"overlap", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, "
                    "\"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24, "'a'", "'b'"},
        {"same range", "{\"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [4, 8]}, "
                       "\"a\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "overlap", NULL},
        {"duplicate name", "{\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, "
                           "\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}", 2, "'w'", "twice"},
        {"NUL in name", "{\"w\\u0000x\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "'w?x'",
         "NUL"},
        {"metadata not object", "{\"__metadata__\": [1]}", 0, "__metadata__", NULL},
        {"metadata number", "{\"__metadata__\": {\"format\": \"pt\", \"n\": 3}}", 0, "__metadata__", "'n'"},
        {"metadata twice", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "twice", NULL},
    };
    char dir[64], path[128];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const corrupt_case *c = &cases[k];
        write_raw(path, strlen(c->hdr), c->hdr, c->dlen);
        const char *subs[3] = {c->sub1, c->sub2, NULL};
        expect_open_fail(path, TRIT_ERR_FORMAT, c->label, subs);
    }
    /* valid oddities: gaps, trailing bytes, a zero-byte tensor inside another
     * range, space padding, an empty header */
    static const char *fine[] = {
        "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [4, 6]}, "
        "\"z\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [5, 5]}, "
        "\"s\": {\"dtype\": \"I16\", \"shape\": [], \"data_offsets\": [8, 10], \"extra\": 1}}      ",
        "{}",
        "{\"__metadata__\": {\"format\": \"pt\"}}",
    };
    for (size_t k = 0; k < sizeof fine / sizeof fine[0]; k++) {
        write_raw(path, strlen(fine[k]), fine[k], 16);
        st_file *f = NULL;
        trit_error e = {0};
        CHECK(st_open(path, &f, &e) == TRIT_OK, "fine #%zu: %s", k, e.msg);
        if (k == 0 && f) {
            CHECK(st_count(f) == 3 && st_find(f, "s")->ndim == 0 && st_find(f, "s")->numel == 1, "oddities");
            CHECK(st_find(f, "z")->numel == 0 && st_find(f, "a")->data[0] == (uint8_t)(4 * 7 + 1), "data");
        }
        st_close(f);
    }
    remove_tree(dir);
}

static void test_corrupt_framing(void) {
    char dir[64], path[128];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/frame.safetensors", dir);
    const char *subs_short[] = {"too short", NULL};
    for (size_t n = 0; n < 8; n++) {
        CHECK(write_bytes(path, "\x02\0\0\0\0\0\0", n), "write");
        expect_open_fail(path, TRIT_ERR_FORMAT, "short file", subs_short);
    }
    const char *hdr = "{\"w\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}";
    const char *subs_past[] = {"header length", "past the end of the file", NULL};
    write_raw(path, 1000, hdr, 4);
    expect_open_fail(path, TRIT_ERR_FORMAT, "header length past EOF", subs_past);
    write_raw(path, strlen(hdr) + 5, hdr, 4);
    expect_open_fail(path, TRIT_ERR_FORMAT, "header length one past EOF", subs_past);
    write_raw(path, UINT64_MAX, hdr, 4);
    expect_open_fail(path, TRIT_ERR_FORMAT, "header length 2^64-1", subs_past);
    write_raw(path, (uint64_t)1 << 63, hdr, 4);
    expect_open_fail(path, TRIT_ERR_FORMAT, "header length 2^63", subs_past);
    /* header length swallowing the data: the JSON then has trailing bytes */
    const char *subs_json[] = {"not valid JSON", NULL};
    write_raw(path, strlen(hdr) + 4, hdr, 4);
    expect_open_fail(path, TRIT_ERR_FORMAT, "header includes data", subs_json);
    write_raw(path, 0, hdr, 4);
    expect_open_fail(path, TRIT_ERR_FORMAT, "zero header length", subs_json);
    /* truncated data */
    const char *subs_trunc[] = {"'w'", "past the end of the data", "re-download", NULL};
    write_raw(path, strlen(hdr), hdr, 3);
    expect_open_fail(path, TRIT_ERR_FORMAT, "truncated data", subs_trunc);
    /* a header over the 100 MB limit, in a sparse file */
    FILE *fp = fopen(path, "wb");
    uint64_t big = 100000001;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(big >> (8 * i));
    int ok = fp && fwrite(le, 1, 8, fp) == 8 && fputc('{', fp) != EOF && fclose(fp) == 0;
    CHECK(ok && truncate(path, (off_t)(8 + big + 8)) == 0, "sparse file");
    const char *subs_big[] = {"100 MB", NULL};
    expect_open_fail(path, TRIT_ERR_FORMAT, "huge header", subs_big);
    /* I/O errors */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", dir);
    const char *subs_missing[] = {"missing.safetensors", NULL};
    expect_open_fail(missing, TRIT_ERR_IO, "missing file", subs_missing);
    expect_open_fail(dir, TRIT_ERR_IO, "folder", NULL);
    trit_error e = {0};
    st_file *f = NULL;
    CHECK(st_open(NULL, &f, &e) == TRIT_ERR_ARG && st_open(path, NULL, NULL) == TRIT_ERR_ARG, "args");
    remove_tree(dir);
}

/* Opens many truncated / mutated variants of a valid file: each must fail
 * cleanly or open with every tensor inside the file. */
static void test_fuzz_files(void) {
    char dir[64], path[128];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/fuzz.safetensors", dir);
    uint16_t h[12];
    float fv[6];
    int8_t iv[5] = {-1, 2, -3, 4, -5};
    for (int i = 0; i < 12; i++) h[i] = trit_f32_to_bf16((float)i - 5.5f);
    for (int i = 0; i < 6; i++) fv[i] = (float)i * 0.25f;
    st_write_tensor ts[] = {
        {"model.embed_tokens.weight", ST_BF16, 2, {3, 4}, h, 24},
        {"model.norm.weight", ST_F32, 1, {6}, fv, 24},
        {"q", ST_I8, 1, {5}, iv, 5},
        {"s", ST_F16, 0, {0}, h, 2},
        {"empty", ST_U8, 1, {0}, NULL, 0},
    };
    trit_error e = {0};
    CHECK(st_write(path, ts, 5, "{\"format\":\"pt\"}", &e) == TRIT_OK, "write: %s", e.msg);
    size_t len = 0;
    uint8_t *orig = read_bytes(path, &len);
    CHECK(orig && len > 40, "read");
    if (!orig) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
    static const char interesting[] = "{}[]\",:0123456789-e. \\\x80\xff";
    uint8_t *buf = malloc(len);
    uint64_t seed = 0xfeedbeefULL;
    int opened = 0, failed = 0, bad = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, len);
        size_t n = len;
        uint64_t r = rng_next(&seed);
        int mode = (int)(r % 5);
        if (mode == 0) {
            n = (size_t)(rng_next(&seed) % len);                        /* truncate */
        } else if (mode == 4) {
            buf[rng_next(&seed) % 8] = (uint8_t)rng_next(&seed);         /* length field */
        } else {
            int muts = 1 + (int)(rng_next(&seed) % 3);
            for (int m = 0; m < muts; m++) {
                size_t at = 8 + (size_t)(rng_next(&seed) % (mode == 3 ? len - 8 : hlen));
                buf[at] = mode == 1 ? (uint8_t)rng_next(&seed)
                                    : (uint8_t)interesting[rng_next(&seed) % (sizeof interesting - 1)];
            }
        }
        if (!write_bytes(path, buf, n)) { bad++; continue; }
        st_file *f = NULL;
        e.msg[0] = '\0';
        trit_status s = st_open(path, &f, &e);
        if (s != TRIT_OK) {
            failed++;
            if (s != TRIT_ERR_FORMAT || !strstr(e.msg, path)) bad++;
            continue;
        }
        opened++;
        for (size_t i = 0; i < st_count(f); i++) {
            const st_tensor *t = st_get(f, i);
            unsigned sum = 0;
            for (size_t k = 0; k < t->nbytes; k++) sum += t->data[k]; /* ASan / SEGV if outside */
            if (t->nbytes > (size_t)st_file_size(f) || st_find(f, t->name) != t) bad++;
            if (t->numel <= 64) {
                float out[64];
                st_to_f32(t, out);
            }
            (void)sum;
        }
        st_close(f);
    }
    CHECK(bad == 0, "%d fuzz cases misbehaved", bad);
    CHECK(opened > 0 && failed > 0, "opened %d, failed %d", opened, failed);
    free(buf);
    free(orig);
    remove_tree(dir);
}

/* ==== sharded sets ==== */

static void write_shard(const char *dir, const char *name, const char *const *tensors, int n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    st_write_tensor ts[8];
    static const float v[4] = {1, 2, 3, 4};
    for (int i = 0; i < n; i++) ts[i] = (st_write_tensor){tensors[i], ST_F32, 1, {4}, v, 16};
    trit_error e = {0};
    CHECK(st_write(path, ts, (size_t)n, NULL, &e) == TRIT_OK, "shard %s: %s", name, e.msg);
}

static void write_index(const char *dir, const char *json) {
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK(write_bytes(path, json, strlen(json)), "index");
}

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

/* Expects st_set_open(dir) to fail with code and every string of subs in
 * the message. */
static void expect_set_fail(const char *dir, trit_status code, const char *label, const char *const *subs) {
    st_set *s = (st_set *)1;
    trit_error e = {0};
    trit_status rc = st_set_open(dir, &s, &e);
    CHECK(rc == code, "%s: status %d, want %d (%s)", label, (int)rc, (int)code, e.msg);
    CHECK(s == NULL, "%s: out not cleared", label);
    for (; subs && *subs; subs++)
        CHECK(strstr(e.msg, *subs) != NULL, "%s: message lacks \"%s\": %s", label, *subs, e.msg);
    if (rc == TRIT_OK) st_set_close(s);
}

static void test_sharded_ok(void) {
    char dir[64];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    const char *s1[] = {"a", "b"}, *s2[] = {"c", "extra"};
    write_shard(dir, SHARD1, s1, 2);
    write_shard(dir, SHARD2, s2, 2);
    write_shard(dir, "model.safetensors", s1, 1); /* ignored: the index wins */
    write_index(dir, "{\"metadata\": {\"total_size\": 48}, \"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \""
                SHARD2 "\", \"b\": \"" SHARD1 "\"}}");
    st_set *s = NULL;
    trit_error e = {0};
    CHECK(st_set_open(dir, &s, &e) == TRIT_OK, "open: %s", e.msg);
    if (s) {
        CHECK(st_set_count(s) == 4, "count %zu", st_set_count(s));
        const char *names[] = {"a", "b", "c", "extra"};
        for (int i = 0; i < 4; i++) {
            const st_tensor *t = st_set_find(s, names[i]);
            CHECK(t && strcmp(t->name, names[i]) == 0 && st_set_get(s, (size_t)i) == t, "find %s", names[i]);
            CHECK(t && strstr(t->file, i < 2 ? SHARD1 : SHARD2), "file of %s", names[i]);
            float out[4];
            CHECK(t && st_to_f32(t, out) && out[3] == 4.0f, "data of %s", names[i]);
        }
        CHECK(st_set_find(s, "zzz") == NULL && st_set_find(s, NULL) == NULL && st_set_get(s, 4) == NULL, "misses");
        char p[256];
        int64_t total = 0;
        st_file *f;
        for (int k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s/%s", dir, k ? SHARD2 : SHARD1);
            if (st_open(p, &f, &e) == TRIT_OK) total += st_file_size(f);
            st_close(f);
        }
        CHECK(st_set_bytes(s) == total, "bytes %lld vs %lld", (long long)st_set_bytes(s), (long long)total);
    }
    st_set_close(s);
    /* a trailing slash on the folder is fine */
    char dir2[80];
    snprintf(dir2, sizeof dir2, "%s/", dir);
    CHECK(st_set_open(dir2, &s, &e) == TRIT_OK && st_set_count(s) == 4, "trailing slash: %s", e.msg);
    st_set_close(s);
    remove_tree(dir);
}

static void test_sharded_errors(void) {
    char dir[64];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    const char *s1[] = {"a", "b"}, *s2[] = {"c"}, *s2dup[] = {"c", "a"};
    write_shard(dir, SHARD1, s1, 2);
    write_shard(dir, SHARD2, s2, 1);

    write_index(dir, "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"d\": \"" SHARD2 "\"}}");
    const char *miss[] = {"'d'", SHARD2, "index.json", NULL};
    expect_set_fail(dir, TRIT_ERR_FORMAT, "tensor missing from shard", miss);

    write_index(dir, "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \"" SHARD1 "\", \"b\": \"" SHARD1 "\", "
                "\"x\": \"" SHARD2 "\"}}");
    const char *wrong0[] = {"'c'", SHARD1, NULL};
    expect_set_fail(dir, TRIT_ERR_FORMAT, "tensor in a shard not listed for it", wrong0);
    write_index(dir, "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \"" SHARD1 "\", \"b\": \"" SHARD2 "\"}}");
    const char *wrong[] = {"'c'", "is stored in", SHARD1, SHARD2, NULL};
    expect_set_fail(dir, TRIT_ERR_FORMAT, "tensor in the other shard", wrong);

    write_shard(dir, SHARD2, s2dup, 2);
    write_index(dir, "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \"" SHARD2 "\"}}");
    const char *dup[] = {"'a'", "two shards", SHARD1, SHARD2, NULL};
    expect_set_fail(dir, TRIT_ERR_FORMAT, "tensor in two shards", dup);
    write_shard(dir, SHARD2, s2, 1);

    static const char *bad_names[] = {"../" SHARD1, "sub/" SHARD1, "/etc/passwd", "..", ".", "", "a\\\\b",
                                      "x\\u0000y"};
    for (size_t k = 0; k < sizeof bad_names / sizeof bad_names[0]; k++) {
        char idx[256];
        snprintf(idx, sizeof idx, "{\"weight_map\": {\"a\": \"%s\"}}", bad_names[k]);
        write_index(dir, idx);
        const char *sub[] = {"'a'", "plain file name", NULL};
        expect_set_fail(dir, TRIT_ERR_FORMAT, bad_names[k], sub);
    }

    write_index(dir, "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"x\": \"model-00003-of-00003.safetensors\"}}");
    const char *gone[] = {"model-00003-of-00003.safetensors", strerror(ENOENT), "index.json", NULL};
    expect_set_fail(dir, TRIT_ERR_IO, "missing shard file", gone);

    char p[256];
    snprintf(p, sizeof p, "%s/" SHARD2, dir);
    CHECK(write_bytes(p, "\x10\0\0\0\0\0\0\0{\"c\": 1}        ", 24), "corrupt shard");
    write_index(dir, "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \"" SHARD2 "\"}}");
    const char *corrupt[] = {SHARD2, "'c'", NULL};
    expect_set_fail(dir, TRIT_ERR_FORMAT, "corrupt shard", corrupt);
    write_shard(dir, SHARD2, s2, 1);

    static const char *bad_index[] = {"{\"weight_map\": [1]}", "{\"metadata\": {}}", "{\"weight_map\": {}}",
                                      "{\"weight_map\": {\"a\": 5}}", "[]", "{\"weight_map\": {\"a\": \"x\",}}", ""};
    for (size_t k = 0; k < sizeof bad_index / sizeof bad_index[0]; k++) {
        write_index(dir, bad_index[k]);
        const char *sub[] = {"model.safetensors.index.json", NULL};
        expect_set_fail(dir, TRIT_ERR_FORMAT, bad_index[k], sub);
    }
    remove_tree(dir);
}

static void test_set_folder_errors(void) {
    char dir[64], p[128];
    CHECK(make_tmpdir(dir, sizeof dir), "mkdtemp");
    const char *none[] = {dir, "no model.safetensors or model.safetensors.index.json found", "-m", NULL};
    expect_set_fail(dir, TRIT_ERR_IO, "empty folder", none);
    snprintf(p, sizeof p, "%s/nope", dir);
    const char *nodir[] = {p, strerror(ENOENT), NULL};
    expect_set_fail(p, TRIT_ERR_IO, "missing folder", nodir);
    CHECK(write_bytes(p, "x", 1), "file");
    const char *notdir[] = {p, "not a folder", NULL};
    expect_set_fail(p, TRIT_ERR_IO, "file instead of folder", notdir);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK(write_bytes(p, "abc", 3), "short model");
    const char *shortf[] = {p, "too short", NULL};
    expect_set_fail(dir, TRIT_ERR_FORMAT, "short single file", shortf);
    trit_error e;
    st_set *s = NULL;
    CHECK(st_set_open(NULL, &s, &e) == TRIT_ERR_ARG, "NULL dir");
    CHECK(st_set_count(NULL) == 0 && st_set_find(NULL, "a") == NULL && st_set_bytes(NULL) == 0, "NULL set");
    remove_tree(dir);
}

int main(void) {
    RUN(test_dtype_table);
    RUN(test_fp16);
    RUN(test_bf16);
    RUN(test_roundtrip_all_dtypes);
    RUN(test_empty_and_many);
    RUN(test_write_errors);
    RUN(test_corrupt_headers);
    RUN(test_corrupt_framing);
    RUN(test_fuzz_files);
    RUN(test_sharded_ok);
    RUN(test_sharded_errors);
    RUN(test_set_folder_errors);
    return TT_END();
}
