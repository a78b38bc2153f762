/*
 * safetensors.c - validated, memory-mapped reading of .safetensors files,
 * sharded checkpoints (model.safetensors.index.json), dtype conversion and
 * atomic writing.
 *
 * Trust model: a safetensors file is untrusted input. Every number of the
 * header is checked before it is used to form a pointer: the header length
 * against the file size, each tensor's data_offsets against the data size
 * and against dtype size x product(shape), and the data ranges of different
 * tensors against each other (no overlaps; zero-byte tensors overlap
 * nothing). Gaps between tensors and bytes after the last one are allowed.
 * Keys of a tensor entry other than dtype / shape / data_offsets are ignored.
 * The file must not be truncated by another process while it is mapped
 * (that would raise SIGBUS on access, as with any mapping).
 */
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/atomic.h"
#include "io/json.h"

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* as the reference implementation */
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"
#define ST_REDOWNLOAD "the file is truncated or corrupt - re-download it"

/* ======================================================================== */
/* Dtypes                                                                    */
/* ======================================================================== */

static const struct { const char *name; size_t size; } st_dtypes[ST_UNKNOWN] = {
    [ST_F32] = {"F32", 4},   [ST_F16] = {"F16", 2},   [ST_BF16] = {"BF16", 2},
    [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},     [ST_I16] = {"I16", 2},
    [ST_I32] = {"I32", 4},   [ST_I64] = {"I64", 8},   [ST_F64] = {"F64", 8},
    [ST_BOOL] = {"BOOL", 1}, [ST_U16] = {"U16", 2},   [ST_U32] = {"U32", 4},
    [ST_U64] = {"U64", 8},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *st_dtype_name(st_dtype t) {
    return (unsigned)t < ST_UNKNOWN ? st_dtypes[t].name : "unknown";
}

size_t st_dtype_size(st_dtype t) {
    return (unsigned)t < ST_UNKNOWN ? st_dtypes[t].size : 0;
}

static st_dtype dtype_from_name(const char *s) {
    for (int t = 0; t < ST_UNKNOWN; t++)
        if (strcmp(s, st_dtypes[t].name) == 0) return (st_dtype)t;
    return ST_UNKNOWN;
}

/* ======================================================================== */
/* Name index (open addressing over an array of names)                       */
/* ======================================================================== */

typedef struct {
    const char **names; /* names[i] of entry i, not owned */
    uint32_t *slots;    /* entry index + 1, 0 = empty     */
    size_t cap, n, max;
} name_index;

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Prepares an empty index for up to max entries; 0 when out of memory. */
static int nx_init(name_index *x, size_t max) {
    memset(x, 0, sizeof *x);
    if (max >= UINT32_MAX / 4) return 0;
    x->cap = 16;
    while (x->cap < 2 * max) x->cap *= 2;
    x->max = max;
    x->slots = calloc(x->cap, sizeof *x->slots);
    x->names = calloc(max ? max : 1, sizeof *x->names);
    return x->slots && x->names;
}

static void nx_free(name_index *x) {
    free(x->slots);
    free(x->names);
    memset(x, 0, sizeof *x);
}

/* Index of `name`, or SIZE_MAX when absent. */
static size_t nx_find(const name_index *x, const char *name) {
    if (!x->cap || !name) return SIZE_MAX;
    size_t h = (size_t)name_hash(name) & (x->cap - 1);
    while (x->slots[h]) {
        size_t i = x->slots[h] - 1;
        if (strcmp(x->names[i], name) == 0) return i;
        h = (h + 1) & (x->cap - 1);
    }
    return SIZE_MAX;
}

/* Adds `name` as entry x->n unless present. Returns SIZE_MAX when added,
 * else the index of the entry already holding the name (nothing added).
 * The caller guarantees x->n < x->max. */
static size_t nx_add(name_index *x, const char *name) {
    size_t h = (size_t)name_hash(name) & (x->cap - 1);
    while (x->slots[h]) {
        size_t i = x->slots[h] - 1;
        if (strcmp(x->names[i], name) == 0) return i;
        h = (h + 1) & (x->cap - 1);
    }
    x->names[x->n] = name;
    x->slots[h] = (uint32_t)(x->n + 1);
    x->n++;
    return SIZE_MAX;
}

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Copies a name from an untrusted file into buf for use in a message:
 * non-printable bytes become '?', long names are cut with "...". */
static const char *printable(const char *s, size_t len, char *buf, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (o + 4 >= n && len > o) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* dir + "/" + name in a new malloc'ed string (NULL when out of memory). */
static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + (size_t)slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + (size_t)slash, name, b + 1);
    return p;
}

/* ======================================================================== */
/* Single file                                                               */
/* ======================================================================== */

struct st_file {
    char *path;
    uint8_t *map;
    size_t map_size;
    json_doc *doc;      /* parsed header; owns the tensor names */
    st_tensor *t;
    size_t n;
    name_index ix;
};

typedef struct { uint64_t begin, end; size_t idx; } st_range;

static int range_cmp(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Reads a JSON number that must be a non-negative integer into *out. */
static int get_uint(const json_value *v, uint64_t *out) {
    int64_t i;
    if (!json_int(v, &i) || i < 0) return 0;
    *out = (uint64_t)i;
    return 1;
}

/* Validates one header entry `v` named `name` (length nlen) and fills *t and
 * *r (its data range, relative to the data section of `dsize` bytes). */
static trit_status check_entry(st_file *f, const char *name, size_t nlen, const json_value *v,
                               uint64_t dsize, st_tensor *t, st_range *r, trit_error *err) {
    char nb[160];
    const char *pn = printable(name, nlen, nb, sizeof nb), *path = f->path;
    if (strlen(name) != nlen)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': the name contains a NUL character; %s",
                         path, pn, ST_REDOWNLOAD);
    if (!v || v->type != JSON_OBJECT)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': header entry is not a JSON object; %s",
                         path, pn, ST_REDOWNLOAD);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->file = f->path;

    const char *ds = json_str(json_get(v, "dtype"));
    if (!ds)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"; %s",
                         path, pn, ST_REDOWNLOAD);
    t->dtype = dtype_from_name(ds);
    if (t->dtype == ST_UNKNOWN) {
        char db[40];
        return trit_fail(err, TRIT_ERR_FORMAT,
                         "%s: tensor '%s': unknown dtype \"%s\" (known: F32 F16 BF16 F64 I8 I16 I32 I64 "
                         "U8 U16 U32 U64 BOOL F8_E4M3 F8_E5M2); the file is corrupt or uses a dtype trit "
                         "does not support - re-export it with a supported dtype",
                         path, pn, printable(ds, strlen(ds), db, sizeof db));
    }

    const json_value *shape = json_get(v, "shape");
    if (!shape || shape->type != JSON_ARRAY)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"; %s",
                         path, pn, ST_REDOWNLOAD);
    if (json_len(shape) > ST_MAX_DIMS)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': shape has %zu dimensions, more than the %d "
                         "supported; the file is corrupt or not a model trit can load",
                         path, pn, json_len(shape), ST_MAX_DIMS);
    t->ndim = (int)json_len(shape);
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (!get_uint(json_at(shape, (size_t)d), &dim))
            return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer; %s",
                             path, pn, d, ST_REDOWNLOAD);
        if (dim != 0 && numel > (uint64_t)INT64_MAX / dim)
            return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': the product of the shape overflows 64 bits; %s",
                             path, pn, ST_REDOWNLOAD);
        numel *= dim;
        t->shape[d] = (int64_t)dim;
    }
    size_t esz = st_dtype_size(t->dtype);
    if (numel > (uint64_t)INT64_MAX / esz || numel * esz > SIZE_MAX)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': %llu elements of %s overflow the byte size; %s",
                         path, pn, (unsigned long long)numel, ds, ST_REDOWNLOAD);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)(numel * esz);

    const json_value *offs = json_get(v, "data_offsets");
    uint64_t b, e;
    if (!offs || offs->type != JSON_ARRAY || json_len(offs) != 2 || !get_uint(json_at(offs, 0), &b) ||
        !get_uint(json_at(offs, 1), &e))
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be an array of two "
                         "non-negative integers [begin, end]; %s", path, pn, ST_REDOWNLOAD);
    if (e < b)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': data_offsets end %llu is before begin %llu; %s",
                         path, pn, (unsigned long long)e, (unsigned long long)b, ST_REDOWNLOAD);
    if (e > dsize)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': data_offsets end %llu is past the end of the "
                         "data (%llu bytes); %s", path, pn, (unsigned long long)e, (unsigned long long)dsize,
                         ST_REDOWNLOAD);
    if (e - b != (uint64_t)t->nbytes)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s': data_offsets cover %llu bytes but %s x %lld "
                         "elements need %zu bytes; %s", path, pn, (unsigned long long)(e - b), ds,
                         (long long)t->numel, t->nbytes, ST_REDOWNLOAD);
    r->begin = b;
    r->end = e;
    return TRIT_OK;
}

/* Checks "__metadata__": an object whose values are all strings. */
static trit_status check_metadata(const st_file *f, const json_value *m, trit_error *err) {
    if (!m || m->type != JSON_OBJECT)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object; %s",
                         f->path, ST_REDOWNLOAD);
    for (size_t i = 0; i < m->u.object.n; i++) {
        if (m->u.object.vals[i]->type != JSON_STRING) {
            char kb[120];
            return trit_fail(err, TRIT_ERR_FORMAT, "%s: \"__metadata__\" value of '%s' is not a string; %s",
                             f->path, printable(m->u.object.keys[i], m->u.object.key_lens[i], kb, sizeof kb),
                             ST_REDOWNLOAD);
        }
    }
    return TRIT_OK;
}

/* Parses and validates the header of the mapped file f (map / map_size set):
 * fills f->doc, f->t, f->n and the name index. */
static trit_status parse_header(st_file *f, trit_error *err) {
    uint64_t fsize = f->map_size, hlen = le64(f->map);
    if (hlen > fsize - 8)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: header length %llu is past the end of the file (%llu bytes); %s",
                         f->path, (unsigned long long)hlen, (unsigned long long)fsize, ST_REDOWNLOAD);
    if (hlen > ST_MAX_HEADER)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit; the file is "
                         "corrupt or not a safetensors file", f->path, (unsigned long long)hlen);
    uint64_t dsize = fsize - 8 - hlen;
    char jerr[256];
    f->doc = json_parse((const char *)f->map + 8, (size_t)hlen, jerr, sizeof jerr);
    if (!f->doc)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: the header is not valid JSON (%s); the file is corrupt or "
                         "not a safetensors file - re-download it", f->path, jerr);
    const json_value *root = json_root(f->doc);
    if (root->type != JSON_OBJECT)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: the header is not a JSON object; the file is corrupt or "
                         "not a safetensors file - re-download it", f->path);

    size_t nkeys = root->u.object.n, nmeta = 0;
    for (size_t i = 0; i < nkeys; i++) {
        if (strcmp(root->u.object.keys[i], "__metadata__") != 0) continue;
        if (++nmeta > 1)
            return trit_fail(err, TRIT_ERR_FORMAT, "%s: \"__metadata__\" appears twice in the header; %s",
                             f->path, ST_REDOWNLOAD);
        trit_status s = check_metadata(f, root->u.object.vals[i], err);
        if (s) return s;
    }
    size_t n = nkeys - nmeta;
    f->t = calloc(n ? n : 1, sizeof *f->t);
    st_range *rg = calloc(n ? n : 1, sizeof *rg);
    if (!f->t || !rg || !nx_init(&f->ix, n)) {
        free(rg);
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory reading the header", f->path);
    }
    const uint8_t *data = f->map + 8 + hlen;
    trit_status s = TRIT_OK;
    for (size_t i = 0; i < nkeys && !s; i++) {
        const char *name = root->u.object.keys[i];
        if (strcmp(name, "__metadata__") == 0) continue;
        st_tensor *t = &f->t[f->n];
        s = check_entry(f, name, root->u.object.key_lens[i], root->u.object.vals[i], dsize, t, &rg[f->n], err);
        if (s) break;
        if (nx_add(&f->ix, name) != SIZE_MAX) {
            char nb[160];
            s = trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s' appears twice in the header; %s", f->path,
                          printable(name, strlen(name), nb, sizeof nb), ST_REDOWNLOAD);
            break;
        }
        t->data = data + rg[f->n].begin;
        t->file_offset = (uint64_t)(t->data - f->map);
        rg[f->n].idx = f->n;
        f->n++;
    }
    if (!s) {
        /* no two non-empty ranges may share a byte */
        size_t m = 0;
        for (size_t i = 0; i < f->n; i++)
            if (rg[i].end > rg[i].begin) rg[m++] = rg[i];
        qsort(rg, m, sizeof *rg, range_cmp);
        for (size_t i = 1; i < m && !s; i++) {
            if (rg[i].begin < rg[i - 1].end) {
                char b1[120], b2[120];
                const st_tensor *a = &f->t[rg[i - 1].idx], *b = &f->t[rg[i].idx];
                s = trit_fail(err, TRIT_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) "
                              "overlap in the data; %s", f->path, printable(a->name, strlen(a->name), b1, sizeof b1),
                              (unsigned long long)rg[i - 1].begin, (unsigned long long)rg[i - 1].end,
                              printable(b->name, strlen(b->name), b2, sizeof b2),
                              (unsigned long long)rg[i].begin, (unsigned long long)rg[i].end, ST_REDOWNLOAD);
            }
        }
    }
    free(rg);
    return s;
}

trit_status st_open(const char *path, st_file **out, trit_error *err) {
    if (out) *out = NULL;
    if (!path || !out) return trit_fail(err, TRIT_ERR_ARG, "st_open: no path or no output given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return trit_fail(err, TRIT_ERR_IO, "%s: cannot open: %s; check the path and the file's permissions",
                         path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return trit_fail(err, TRIT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return trit_fail(err, TRIT_ERR_IO, "%s: not a regular file; expected a .safetensors file", path);
    }
    if (st.st_size < 8) {
        close(fd);
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: the file is only %lld bytes, too short for the 8-byte "
                         "header length of a safetensors file; %s", path, (long long)st.st_size, ST_REDOWNLOAD);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return trit_fail(err, TRIT_ERR_IO, "%s: the file is too large to map on this system", path);
    }
    st_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        close(fd);
        free(f);
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        st_close(f);
        return trit_fail(err, TRIT_ERR_IO, "%s: cannot map the file: %s", path, strerror(map_errno));
    }
#ifdef MADV_HUGEPAGE
    /* Weights are streamed every token: ask for 2 MiB page-cache folios,
     * mapped whole, when the file is read in (advice only; measured ~30%
     * faster generation from the stored layout than with 4 KiB pages). */
    madvise(map, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
    f->map = map;
    f->map_size = (size_t)st.st_size;
    trit_status s = parse_header(f, err);
    if (s) {
        st_close(f);
        return s;
    }
    *out = f;
    return TRIT_OK;
}

void st_close(st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    json_free(f->doc);
    nx_free(&f->ix);
    free(f->t);
    free(f->path);
    free(f);
}

size_t st_count(const st_file *f) { return f ? f->n : 0; }

const st_tensor *st_get(const st_file *f, size_t i) {
    return f && i < f->n ? &f->t[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    if (!f) return NULL;
    size_t i = nx_find(&f->ix, name);
    return i == SIZE_MAX ? NULL : &f->t[i];
}

int64_t st_file_size(const st_file *f) { return f ? (int64_t)f->map_size : 0; }

const char *st_path(const st_file *f) { return f ? f->path : NULL; }

/* See safetensors.h. The header document stays parsed while f is open. */
const char *st_metadata(const st_file *f, const char *key) {
    if (!f || !f->doc) return NULL;
    const json_value *m = json_get(json_root(f->doc), "__metadata__");
    return json_str(json_get(m, key));
}

/* ======================================================================== */
/* Sets of files (sharded checkpoints)                                       */
/* ======================================================================== */

struct st_set {
    st_file **files;
    size_t nfiles;
    const st_tensor **all; /* every tensor of every file, in file order */
    size_t n;
    name_index ix;
    int64_t bytes;
};

void st_set_close(st_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nfiles; i++) st_close(s->files[i]);
    free(s->files);
    free(s->all);
    nx_free(&s->ix);
    free(s);
}

/* Indexes every tensor of s->files; a name found in two files is an error
 * naming both (`what` is the index path or the file path, for messages). */
static trit_status set_index(st_set *s, const char *what, trit_error *err) {
    size_t total = 0;
    for (size_t i = 0; i < s->nfiles; i++) total += st_count(s->files[i]);
    s->all = calloc(total ? total : 1, sizeof *s->all);
    if (!s->all || !nx_init(&s->ix, total))
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory indexing tensors", what);
    for (size_t i = 0; i < s->nfiles; i++) {
        s->bytes += st_file_size(s->files[i]);
        for (size_t k = 0; k < st_count(s->files[i]); k++) {
            const st_tensor *t = st_get(s->files[i], k);
            size_t prev = nx_add(&s->ix, t->name);
            if (prev != SIZE_MAX) {
                char nb[160];
                return trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s' is stored in two shards, %s and %s; the "
                                 "checkpoint is inconsistent - re-download the model", what,
                                 printable(t->name, strlen(t->name), nb, sizeof nb), s->all[prev]->file, t->file);
            }
            s->all[s->n++] = t;
        }
    }
    return TRIT_OK;
}

/* Shard names must be plain file names inside the model folder. */
static int plain_file_name(const char *s, size_t len) {
    if (len == 0 || strlen(s) != len) return 0;
    if (strchr(s, '/') || strchr(s, '\\') || strstr(s, "..")) return 0;
    return strcmp(s, ".") != 0;
}

/* Opens the shards named by the "weight_map" of the index file (already
 * parsed into `root`) and cross-checks the map against their contents. */
static trit_status open_sharded(st_set *s, const char *dir, const char *ipath, const json_value *root,
                                trit_error *err) {
    char nb[160], fb[160];
    const json_value *wm = json_get(root, "weight_map");
    if (!wm || wm->type != JSON_OBJECT || wm->u.object.n == 0)
        return trit_fail(err, TRIT_ERR_FORMAT, "%s: missing, empty or non-object \"weight_map\"; the index is "
                         "corrupt - re-download the model", ipath);
    size_t n = wm->u.object.n;
    name_index shards; /* distinct shard names -> s->files[i] */
    int ok = nx_init(&shards, n);
    s->files = calloc(n, sizeof *s->files);
    if (!ok || !s->files) {
        nx_free(&shards);
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", ipath);
    }
    trit_status st = TRIT_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const char *tn = wm->u.object.keys[i];
        const json_value *v = wm->u.object.vals[i];
        const char *pn = printable(tn, wm->u.object.key_lens[i], nb, sizeof nb);
        if (!v || v->type != JSON_STRING) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: weight_map entry of tensor '%s' is not a file name "
                           "string; the index is corrupt - re-download the model", ipath, pn);
            break;
        }
        const char *fname = v->u.string.s;
        if (!plain_file_name(fname, v->u.string.len)) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s' is mapped to '%s', which is not a plain file "
                           "name in the model folder (no '/', '\\' or '..' allowed); fix or re-download the index",
                           ipath, pn, printable(fname, v->u.string.len, fb, sizeof fb));
            break;
        }
        if (nx_find(&shards, fname) != SIZE_MAX) continue;
        char *path = join_path(dir, fname);
        if (!path) {
            st = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", ipath);
            break;
        }
        st_file *f = NULL;
        trit_error sub = {0};
        st = st_open(path, &f, &sub);
        free(path);
        if (st) {
            trit_fail(err, st, "%s (shard listed in %s)", sub.msg, ipath);
            break;
        }
        nx_add(&shards, fname);
        s->files[s->nfiles++] = f;
    }
    if (!st) st = set_index(s, ipath, err);
    for (size_t i = 0; i < n && !st; i++) {
        const char *tn = wm->u.object.keys[i];
        const char *fname = wm->u.object.vals[i]->u.string.s;
        size_t fi = nx_find(&shards, fname), ti;
        if (strlen(tn) != wm->u.object.key_lens[i] || (ti = nx_find(&s->ix, tn)) == SIZE_MAX) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s' is listed for shard %s but that file does not "
                           "contain it; the download is incomplete or mixes versions - re-download the model",
                           ipath, printable(tn, wm->u.object.key_lens[i], nb, sizeof nb), fname);
        } else if (s->all[ti]->file != st_path(s->files[fi])) {
            st = trit_fail(err, TRIT_ERR_FORMAT, "%s: tensor '%s' is listed for shard %s but is stored in %s; "
                           "the index does not match the shards - re-download the model", ipath,
                           printable(tn, strlen(tn), nb, sizeof nb), fname, s->all[ti]->file);
        }
    }
    nx_free(&shards);
    return st;
}

trit_status st_set_open(const char *dir, st_set **out, trit_error *err) {
    if (out) *out = NULL;
    if (!dir || !out) return trit_fail(err, TRIT_ERR_ARG, "st_set_open: no folder or no output given");
    struct stat st;
    if (stat(dir, &st) != 0)
        return trit_fail(err, TRIT_ERR_IO, "%s: cannot open the model folder: %s; point -m at a Hugging Face "
                         "model folder", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return trit_fail(err, TRIT_ERR_IO, "%s: not a folder; point -m at a Hugging Face model folder "
                         "(holding config.json and model.safetensors)", dir);
    st_set *s = calloc(1, sizeof *s);
    char *ipath = join_path(dir, ST_INDEX_NAME), *spath = join_path(dir, ST_SINGLE_NAME);
    trit_status rc = TRIT_OK;
    if (!s || !ipath || !spath) {
        rc = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", dir);
    } else if (stat(ipath, &st) == 0) {
        char jerr[512];
        size_t len;
        char *text = json_read_file(ipath, &len, jerr, sizeof jerr);
        if (!text) {
            rc = trit_fail(err, TRIT_ERR_IO, "%s", jerr);
        } else {
            json_doc *doc = json_parse(text, len, jerr, sizeof jerr);
            free(text);
            if (!doc)
                rc = trit_fail(err, TRIT_ERR_FORMAT, "%s: not valid JSON (%s); re-download the model", ipath, jerr);
            else if (json_root(doc)->type != JSON_OBJECT)
                rc = trit_fail(err, TRIT_ERR_FORMAT, "%s: not a JSON object; re-download the model", ipath);
            else
                rc = open_sharded(s, dir, ipath, json_root(doc), err);
            json_free(doc);
        }
    } else if (errno != ENOENT) {
        rc = trit_fail(err, TRIT_ERR_IO, "%s: cannot access: %s", ipath, strerror(errno));
    } else if (stat(spath, &st) == 0 || errno != ENOENT) {
        s->files = calloc(1, sizeof *s->files);
        if (!s->files) rc = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", dir);
        else rc = st_open(spath, &s->files[0], err);
        if (!rc) {
            s->nfiles = 1;
            rc = set_index(s, spath, err);
        }
    } else {
        rc = trit_fail(err, TRIT_ERR_IO, "%s: no %s or %s found; point -m at a Hugging Face model folder",
                       dir, ST_SINGLE_NAME, ST_INDEX_NAME);
    }
    free(ipath);
    free(spath);
    if (rc) {
        st_set_close(s);
        return rc;
    }
    *out = s;
    return TRIT_OK;
}

const st_tensor *st_set_find(const st_set *s, const char *name) {
    if (!s) return NULL;
    size_t i = nx_find(&s->ix, name);
    return i == SIZE_MAX ? NULL : s->all[i];
}

size_t st_set_count(const st_set *s) { return s ? s->n : 0; }

const st_tensor *st_set_get(const st_set *s, size_t i) {
    return s && i < s->n ? s->all[i] : NULL;
}

int64_t st_set_bytes(const st_set *s) { return s ? s->bytes : 0; }

/* ======================================================================== */
/* Conversions                                                               */
/* ======================================================================== */

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Exact: normals, subnormals, +-0, +-inf and NaN (payload kept). */
float trit_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) { /* zero or subnormal: m x 2^-24, exact in float */
        float v = (float)m * 0x1p-24f;
        return f32_from_bits(f32_bits(v) | sign);
    }
    if (e == 31) return f32_from_bits(sign | 0x7f800000u | (m << 13));
    return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

float trit_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* Round to nearest, ties to even; overflow gives inf, NaN stays a (quiet)
 * NaN with the sign and top payload bits kept. */
uint16_t trit_f32_to_fp16(float f) {
    uint32_t x = f32_bits(f), ax = x & 0x7fffffffu;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x1ff));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (ax >= 0x38800000u) {                                 /* normal half */
        uint32_t r = ax - 0x38000000u;                       /* rebias 127 -> 15 */
        r += 0xfff + ((r >> 13) & 1);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) return sign;                      /* <= 2^-25 rounds to 0 */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - (ax >> 23); /* 14..24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

uint16_t trit_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x0040); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int st_to_f32(const st_tensor *t, float *dst) {
    if (!t || (!dst && t->numel)) return 0;
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        for (size_t i = 0; i < n; i++, p += 4)
            dst[i] = f32_from_bits((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                   (uint32_t)p[3] << 24);
        return 1;
    case ST_F16:
        for (size_t i = 0; i < n; i++, p += 2) dst[i] = trit_fp16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return 1;
    case ST_BF16:
        for (size_t i = 0; i < n; i++, p += 2) dst[i] = trit_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return 1;
    case ST_F64:
        for (size_t i = 0; i < n; i++, p += 8) {
            uint64_t u = le64(p);
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = (float)d;
        }
        return 1;
    case ST_I8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i];
        return 1;
    case ST_U8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)p[i];
        return 1;
    default:
        return 0;
    }
}

/* ======================================================================== */
/* Writing                                                                   */
/* ======================================================================== */

/* Checks the tensors to write and builds the header JSON (padded with
 * spaces to a multiple of 8 bytes) into *h. */
static trit_status build_header(const char *path, const st_write_tensor *ts, size_t n, const char *metadata_json,
                                json_sb *h, trit_error *err) {
    name_index ix;
    if (!nx_init(&ix, n)) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
    trit_status rc = TRIT_OK;
    int ok = json_sb_puts(h, "{");
    if (metadata_json) {
        char jerr[256];
        json_doc *md = json_parse(metadata_json, strlen(metadata_json), jerr, sizeof jerr);
        const json_value *m = json_root(md);
        if (!md || m->type != JSON_OBJECT) {
            rc = trit_fail(err, TRIT_ERR_ARG, "%s: metadata is not a JSON object (%s)", path,
                           md ? "another JSON type" : jerr);
        } else {
            ok = ok && json_sb_puts(h, "\"__metadata__\":{");
            for (size_t i = 0; i < m->u.object.n && !rc; i++) {
                const json_value *v = m->u.object.vals[i];
                if (v->type != JSON_STRING) {
                    rc = trit_fail(err, TRIT_ERR_ARG, "%s: metadata value of '%s' is not a string", path,
                                   m->u.object.keys[i]);
                    break;
                }
                ok = ok && (i == 0 || json_sb_puts(h, ",")) &&
                     json_sb_quote(h, m->u.object.keys[i], m->u.object.key_lens[i]) && json_sb_puts(h, ":") &&
                     json_sb_quote(h, v->u.string.s, v->u.string.len);
            }
            ok = ok && json_sb_puts(h, "}");
        }
        json_free(md);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const st_write_tensor *t = &ts[i];
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || strcmp(t->name, "__metadata__") == 0) {
            rc = trit_fail(err, TRIT_ERR_ARG, "%s: tensor %zu has an invalid name '%s'", path, i, name);
            break;
        }
        if (nx_add(&ix, t->name) != SIZE_MAX) {
            rc = trit_fail(err, TRIT_ERR_ARG, "%s: tensor '%s' is given twice", path, name);
            break;
        }
        if ((unsigned)t->dtype >= ST_UNKNOWN || t->ndim < 0 || t->ndim > ST_MAX_DIMS) {
            rc = trit_fail(err, TRIT_ERR_ARG, "%s: tensor '%s': invalid dtype or ndim %d", path, name, t->ndim);
            break;
        }
        size_t numel = 1;
        int bad = 0;
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0 || !trit_mul_ok(numel, (size_t)t->shape[d], &numel)) bad = 1;
        size_t bytes;
        if (bad || !trit_mul_ok(numel, st_dtype_size(t->dtype), &bytes) || bytes > (uint64_t)INT64_MAX - off) {
            rc = trit_fail(err, TRIT_ERR_ARG, "%s: tensor '%s': invalid or overflowing shape", path, name);
            break;
        }
        if (bytes != t->nbytes || (bytes && !t->data)) {
            rc = trit_fail(err, TRIT_ERR_ARG, "%s: tensor '%s': nbytes %zu does not match %s x %zu elements "
                           "(%zu bytes) or data is NULL", path, name, t->nbytes, st_dtype_name(t->dtype),
                           numel, bytes);
            break;
        }
        ok = ok && (i == 0 && !metadata_json ? 1 : json_sb_puts(h, ",")) &&
             json_sb_quote(h, t->name, strlen(t->name)) &&
             json_sb_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            ok = ok && json_sb_printf(h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        ok = ok && json_sb_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                  (unsigned long long)(off + bytes));
        off += bytes;
    }
    nx_free(&ix);
    if (rc) return rc;
    ok = ok && json_sb_puts(h, "}");
    while (ok && h->len % 8) ok = json_sb_puts(h, " ");
    if (!ok) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory building the header", path);
    if (h->len > ST_MAX_HEADER)
        return trit_fail(err, TRIT_ERR_ARG, "%s: the header would be %zu bytes, over the 100 MB limit", path, h->len);
    /* names are copied byte for byte; make sure a reader will accept them */
    char jerr[256];
    json_doc *chk = json_parse(h->buf, h->len, jerr, sizeof jerr);
    if (!chk)
        return trit_fail(err, TRIT_ERR_ARG, "%s: a tensor or metadata name is not valid UTF-8 (%s)", path, jerr);
    json_free(chk);
    return TRIT_OK;
}

trit_status st_write(const char *path, const st_write_tensor *ts, size_t n, const char *metadata_json,
                     trit_error *err) {
    if (!path || (n && !ts)) return trit_fail(err, TRIT_ERR_ARG, "st_write: no path or no tensors given");
    json_sb h = {0};
    trit_status rc = build_header(path, ts, n, metadata_json, &h, err);
    if (rc) {
        json_sb_free(&h);
        return rc;
    }
    /* length prefix, header, then every tensor's bytes, written atomically */
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    const void **parts = malloc((n + 2) * sizeof *parts);
    size_t *lens = malloc((n + 2) * sizeof *lens);
    if (!parts || !lens) {
        rc = trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
    } else {
        parts[0] = len8;
        lens[0] = 8;
        parts[1] = h.buf;
        lens[1] = h.len;
        for (size_t i = 0; i < n; i++) {
            parts[i + 2] = ts[i].data;
            lens[i + 2] = ts[i].nbytes;
        }
        rc = trit_write_atomic(path, (const void *const *)parts, lens, n + 2, 1, err);
    }
    free(parts);
    free(lens);
    json_sb_free(&h);
    return rc;
}
