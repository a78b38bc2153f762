/*
 * cli.c - argument parsing and error helpers shared by the subcommands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "trit %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* See cli.h. Accepts whitespace and/or commas as separators. */
int64_t cli_parse_ids(const char *s, int32_t **out, char *errbuf, size_t errlen) {
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) { snprintf(errbuf, errlen, "out of memory"); return -1; }
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n' && *end != '\r')) {
            snprintf(errbuf, errlen, "malformed token id list near \"%.20s\" (expected non-negative integers "
                     "separated by spaces or commas)", p);
            free(ids);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            int32_t *t = realloc(ids, cap * sizeof *ids);
            if (!t) { free(ids); snprintf(errbuf, errlen, "out of memory"); return -1; }
            ids = t;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    return (int64_t)n;
}

int cli_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end || errno || v < lo || v > hi) {
        cli_error(cmd, "%s expects an integer in [%lld, %lld], got \"%s\"", opt, (long long)lo, (long long)hi,
                  s ? s : "(nothing)");
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *cmd, const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || errno) {
        cli_error(cmd, "%s expects a number, got \"%s\"", opt, s ? s : "(nothing)");
        return 0;
    }
    *out = v;
    return 1;
}

trit_model *cli_load_model(const char *cmd, const char *dir) { return cli_load_model_head(cmd, dir, NULL); }

trit_model *cli_load_model_head(const char *cmd, const char *dir, const char *lm_head) {
    int fmt = TRIT_HEAD_AS_STORED;
    if (lm_head) {
        if (!strcmp(lm_head, "q8")) fmt = TRIT_HEAD_Q8;
        else if (!strcmp(lm_head, "q6")) fmt = TRIT_HEAD_Q6;
        else if (!strcmp(lm_head, "q4")) fmt = TRIT_HEAD_Q4;
        else if (strcmp(lm_head, "stored")) {
            cli_error(cmd, "--lm-head expects stored, q8, q6 or q4, got \"%s\"", lm_head);
            return NULL;
        }
    }
    if (!dir) {
        cli_error(cmd, "no model given; use -m DIR (a Hugging Face folder with config.json and model.safetensors)");
        return NULL;
    }
    trit_model *m = NULL;
    trit_error err = {0};
    trit_model_params mp = trit_model_default_params();
    if (getenv("TRIT_DEBUG_SCALE_MULTIPLY")) mp.weight_scale_multiply = 1; /* tests only */
    mp.lm_head_format = fmt;
    if (trit_model_load(dir, &mp, &m, &err) != TRIT_OK) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return m;
}

double cli_peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) { v = atof(line + 6) / 1024.0; break; }
    fclose(f);
    return v;
}
