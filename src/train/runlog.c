/*
 * runlog.c - log.csv of a training run (runlog.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/atomic.h"
#include "io/json.h"
#include "train/runlog.h"

/* ======================================================================== */
/* Rows                                                                      */
/* ======================================================================== */

/* See runlog.h. Floats use %.9g, which gives float32 values back exactly. */
void tl_format(const tl_row *r, char *buf, size_t cap) {
    char val[64] = "", ppl[64] = "";
    if (isfinite(r->val_loss)) {
        snprintf(val, sizeof val, "%.9g", (double)r->val_loss);
        snprintf(ppl, sizeof ppl, "%.6g", exp((double)r->val_loss));
    }
    snprintf(buf, cap, "%lld,%.9g,%.9g,%.9g,%.1f,%s,%s,%lld", (long long)r->step, (double)r->loss, r->lr,
             (double)r->grad_norm, r->tok_s, val, ppl, (long long)r->skipped);
}

/* Parses a number field ending at ',' / end of line; empty gives NaN.
 * Advances *p past the comma. 0 on a malformed field. */
static int field(const char **p, double *out) {
    const char *s = *p;
    if (*s == ',' || *s == 0 || *s == '\n' || *s == '\r') {
        *out = NAN;
    } else {
        char *end;
        errno = 0;
        *out = strtod(s, &end);
        if (end == s || errno == ERANGE) return 0;
        s = end;
    }
    while (*s == ' ') s++;
    if (*s == ',') s++;
    else if (*s != 0 && *s != '\n' && *s != '\r') return 0;
    *p = s;
    return 1;
}

/* See runlog.h. */
int tl_parse(const char *line, tl_row *r) {
    double v[8];
    const char *p = line;
    for (int i = 0; i < 8; i++)
        if (!field(&p, &v[i])) return 0;
    if (!isfinite(v[0]) || !isfinite(v[7])) return 0;
    r->step = (int64_t)v[0];
    r->loss = (float)v[1];
    r->lr = v[2];
    r->grad_norm = (float)v[3];
    r->tok_s = v[4];
    r->val_loss = (float)v[5];
    r->skipped = (int64_t)v[7];
    return 1;
}

/* Appends r to the in-memory rows; 0 on allocation failure. */
static int push(tl_log *log, const tl_row *r) {
    if (log->n == log->cap) {
        size_t cap = log->cap ? 2 * log->cap : 256;
        tl_row *p = realloc(log->rows, cap * sizeof *p);
        if (!p) return 0;
        log->rows = p;
        log->cap = cap;
    }
    log->rows[log->n++] = *r;
    return 1;
}

/* ======================================================================== */
/* File                                                                      */
/* ======================================================================== */

/* See runlog.h. */
trit_status tl_open(tl_log *log, const char *path, int64_t keep_steps, trit_error *err) {
    memset(log, 0, sizeof *log);
    log->path = strdup(path);
    json_sb keep = {0};
    int ok = log->path && json_sb_puts(&keep, TL_HEADER "\n");
    if (ok && keep_steps >= 0) {
        FILE *f = fopen(path, "r");
        char line[512];
        int first = 1;
        while (ok && f && fgets(line, sizeof line, f)) {
            tl_row r;
            if (first) { /* the header */
                first = 0;
                continue;
            }
            if (!tl_parse(line, &r) || r.step > keep_steps) continue;
            size_t l = strlen(line);
            if (l && line[l - 1] != '\n') continue; /* a row cut by a crash */
            ok = push(log, &r) && json_sb_puts(&keep, line);
        }
        if (f) fclose(f);
    }
    if (!ok) {
        json_sb_free(&keep);
        tl_close(log);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory reading %s", path);
    }
    const void *parts[1] = {keep.buf};
    size_t lens[1] = {keep.len};
    trit_status st = trit_write_atomic(path, parts, lens, 1, 0, err);
    json_sb_free(&keep);
    if (st == TRIT_OK && !(log->f = fopen(path, "a")))
        st = trit_fail(err, TRIT_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
    if (st != TRIT_OK) tl_close(log);
    return st;
}

/* See runlog.h. */
trit_status tl_append(tl_log *log, const tl_row *r, trit_error *err) {
    char line[512];
    tl_format(r, line, sizeof line);
    if (!push(log, r)) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    if (fprintf(log->f, "%s\n", line) < 0 || fflush(log->f) != 0)
        return trit_fail(err, TRIT_ERR_IO, "cannot write %s: %s", log->path, strerror(errno));
    return TRIT_OK;
}

/* See runlog.h. */
void tl_close(tl_log *log) {
    if (!log) return;
    if (log->f) fclose(log->f);
    free(log->rows);
    free(log->path);
    memset(log, 0, sizeof *log);
}
