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
    cli_model_opts o = {lm_head, NULL, NULL, NULL, NULL};
    return cli_load_model_opts(cmd, dir, &o);
}

/* See cli.h. */
int cli_model_opt(const char *a, const char *val, cli_model_opts *o) {
    if (!val) val = ""; /* a flag without its value: reported as a bad value at load */
    if (!strcmp(a, "--lm-head")) o->lm_head = val;
    else if (!strcmp(a, "--weights-format")) o->weights = val;
    else if (!strcmp(a, "--binary")) o->binary = val;
    else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) o->cache_k = val;
    else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) o->cache_v = val;
    else return 0;
    return 1;
}

/* Looks s up among names[0..n) for option opt; *out = values[i]. Prints an
 * error listing the choices and returns 0 when s is unknown. */
static int cli_choice(const char *cmd, const char *opt, const char *s, const char *const *names,
                      const int *values, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) { *out = values[i]; return 1; }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? (i + 1 < n ? ", " : " or ") : "",
                 names[i]);
    cli_error(cmd, "%s expects %s, got \"%s\"", opt, list, s);
    return 0;
}

int cli_ctx_opts(const char *cmd, const cli_model_opts *o, trit_ctx_params *cp) {
    static const char *const kv_n[] = {"f32", "f16"};
    static const int kv_v[] = {TRIT_KV_F32, TRIT_KV_F16};
    if (o->cache_k && !cli_choice(cmd, "--cache-type-k", o->cache_k, kv_n, kv_v, 2, &cp->type_k)) return 0;
    if (o->cache_v && !cli_choice(cmd, "--cache-type-v", o->cache_v, kv_n, kv_v, 2, &cp->type_v)) return 0;
    return 1;
}

trit_model *cli_load_model_opts(const char *cmd, const char *dir, const cli_model_opts *o) {
    static const char *const head_n[] = {"stored", "q8", "q6", "q4"}, *const wf_n[] = {"auto", "2bit", "1.6bit", "lut", "stored"},
                             *const bin_n[] = {"auto", "off", "force"};
    static const int head_v[] = {TRIT_HEAD_AS_STORED, TRIT_HEAD_Q8, TRIT_HEAD_Q6, TRIT_HEAD_Q4},
                     wf_v[] = {TRIT_WEIGHTS_AUTO, TRIT_WEIGHTS_2BIT, TRIT_WEIGHTS_1P6BIT, TRIT_WEIGHTS_LUT,
                             TRIT_WEIGHTS_STORED},
                     bin_v[] = {TRIT_BINARY_AUTO, TRIT_BINARY_OFF, TRIT_BINARY_FORCE};
    trit_model_params mp = trit_model_default_params();
    const char *binary = o->binary ? o->binary : getenv("TRIT_BINARY");
    if (o->lm_head && !cli_choice(cmd, "--lm-head", o->lm_head, head_n, head_v, 4, &mp.lm_head_format)) return NULL;
    if (o->weights && !cli_choice(cmd, "--weights-format", o->weights, wf_n, wf_v, 5, &mp.weights_format))
        return NULL;
    if (binary && !cli_choice(cmd, o->binary ? "--binary" : "$TRIT_BINARY", binary, bin_n, bin_v, 3,
                              &mp.binary_format))
        return NULL;
    if (!dir) {
        cli_error(cmd, "no model given; use -m DIR (a Hugging Face folder with config.json and model.safetensors)");
        return NULL;
    }
    trit_model *m = NULL;
    trit_error err = {0};
    if (getenv("TRIT_DEBUG_SCALE_MULTIPLY")) mp.weight_scale_multiply = 1; /* tests only */
    if (trit_model_load(dir, &mp, &m, &err) != TRIT_OK) {
        cli_error(cmd, "%s", err.msg);
        return NULL;
    }
    return m;
}

double cli_huge_page_share(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    double rss = 0, huge = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Rss:", 4)) rss = atof(line + 4);
        else if (!strncmp(line, "AnonHugePages:", 14)) huge += atof(line + 14);
        else if (!strncmp(line, "FilePmdMapped:", 14)) huge += atof(line + 14);
    }
    fclose(f);
    return rss > 0 ? huge / rss : -1;
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
