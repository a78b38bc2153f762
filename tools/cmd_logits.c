/*
 * cmd_logits.c - `trit logits`: float32 logits of every position of a token
 * sequence, row-major [n_ids x vocab], written atomically (temp + rename).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static void usage(void) {
    printf("usage: trit logits -m DIR --ids \"1 2 3\" -o FILE [-t N] [-b N] [--lm-head stored|q8|q6|q4]\n"
           "       [--weights-format auto|2bit|1.6bit|lut|stored] [--binary auto|off|force]\n"
           "Writes float32 little-endian logits [n_ids x vocab] for every position.\n");
}

int cmd_logits(int argc, char **argv) {
    const char *C = "logits", *dir = NULL, *ids_s = NULL, *out = NULL;
    cli_model_opts mo = {NULL, NULL, NULL, NULL, NULL};
    int64_t n_threads = 0, n_batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "-m")) { dir = val; i++; }
        else if (!strcmp(a, "--ids")) { ids_s = val; i++; }
        else if (!strcmp(a, "-o")) { out = val; i++; }
        else if (cli_model_opt(a, val, &mo)) i++;
        else if (!strcmp(a, "-t")) { if (!cli_int(C, a, val, 1, 1024, &n_threads)) return 1; i++; }
        else if (!strcmp(a, "-b")) { if (!cli_int(C, a, val, 1, 1 << 16, &n_batch)) return 1; i++; }
        else return cli_error(C, "unknown option \"%s\" (see trit logits -h)", a);
    }
    if (!ids_s || !out) return cli_error(C, "need --ids \"1 2 3\" and -o FILE");
    int32_t *toks = NULL;
    char eb[256];
    int64_t n = cli_parse_ids(ids_s, &toks, eb, sizeof eb);
    if (n < 0) return cli_error(C, "--ids: %s", eb);
    if (n == 0) { free(toks); return cli_error(C, "--ids: no token ids"); }
    trit_model *m = cli_load_model_opts(C, dir, &mo);
    if (!m) { free(toks); return 1; }
    trit_model_info info;
    trit_model_get_info(m, &info);
    int rc = 1;
    trit_ctx *ctx = NULL;
    float *logits = NULL;
    char *tmp = NULL;
    FILE *f = NULL;
    trit_error err = {0};
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = (int)n_threads;
    cp.n_batch = n_batch;
    cp.n_ctx = n;
    if (!cli_ctx_opts(C, &mo, &cp)) goto done;
    size_t count = (size_t)n * (size_t)info.vocab_size;
    logits = malloc(count * sizeof(float));
    if (!logits) { cli_error(C, "out of memory for %lld x %lld logits", (long long)n, (long long)info.vocab_size); goto done; }
    if (trit_ctx_new(m, &cp, &ctx, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    double t0 = trit_time_s();
    if (trit_decode(ctx, toks, n, logits, 1, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    double dt = trit_time_s() - t0;
    size_t tl = strlen(out) + 16;
    tmp = malloc(tl);
    if (!tmp) { cli_error(C, "out of memory"); goto done; }
    snprintf(tmp, tl, "%s.tmp%ld", out, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) { cli_error(C, "cannot create %s: %s", tmp, strerror(errno)); goto done; }
    if (fwrite(logits, sizeof(float), count, f) != count || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        cli_error(C, "writing %s failed: %s; %s was left unchanged", tmp, strerror(errno), out);
        fclose(f);
        f = NULL;
        remove(tmp);
        goto done;
    }
    if (fclose(f) != 0) { f = NULL; cli_error(C, "writing %s failed: %s", tmp, strerror(errno)); remove(tmp); goto done; }
    f = NULL;
    if (rename(tmp, out) != 0) { cli_error(C, "cannot rename %s to %s: %s", tmp, out, strerror(errno)); remove(tmp); goto done; }
    fprintf(stderr, "trit: wrote %lld x %lld float32 logits to %s (%.1f tok/s)\n", (long long)n,
            (long long)info.vocab_size, out, n / (dt > 0 ? dt : 1e-9));
    rc = 0;
done:
    free(tmp);
    trit_ctx_free(ctx);
    trit_model_free(m);
    free(logits);
    free(toks);
    return rc;
}
