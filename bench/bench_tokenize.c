/*
 * bench_tokenize.c - encode throughput of trit's tokenizer on a text file,
 * single thread: MB/s (10^6 bytes of input per second) as the median of N
 * runs, in three ways:
 *   file  - the whole file in one tok_encode call;
 *   lines - one tok_encode call per line (each line keeps its '\n'; the ids
 *           of all lines together);
 *   lines+encoder - the same with one tok_encoder kept across the calls (its
 *           word cache stays warm), the API for encoding many short texts. The load time
 * of the tokenizer is reported apart and not counted. Beside the wall-clock
 * median, the median CPU time of the thread is given as "cpu MB/s": on a
 * machine shared with other work it is the steadier figure.
 *
 *   build/bench_tokenize -m TOKENIZER FILE [-r RUNS] [--ids-out PREFIX]
 *
 * TOKENIZER is anything `trit tokenize -m` accepts. With --ids-out the ids
 * of the last run are written to PREFIX.file.ids and PREFIX.lines.ids
 * (space-separated, one line each) for comparison with another tokenizer
 * (bench/hf_tokenize_bench.js writes the same files for Hugging Face's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/tokenizer.h"

enum { MAX_RUNS = 101 };

/* Contract: seconds of a monotonic clock. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Contract: CPU seconds used by the calling thread. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Contract: prints the message and exits with status 1. */
static void die(const char *msg, const char *arg) {
    fprintf(stderr, "bench_tokenize: %s%s\n", msg, arg ? arg : "");
    exit(1);
}

/* Contract: reads the whole file into a malloc'ed buffer (exits on failure). */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open ", path);
    if (fseek(f, 0, SEEK_END) != 0) die("cannot seek ", path);
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) die("cannot size ", path);
    char *buf = malloc((size_t)n + 1);
    if (!buf) die("out of memory reading ", path);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) die("short read of ", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Contract: qsort order of doubles. */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Contract: encodes text[0..n) into ids (emptied first): whole (mode 0),
 * per line (1), or per line through the encoder x (2); exits on an error. */
static void encode(const tok_tokenizer *t, tok_encoder *x, const char *text, size_t n, int mode,
                   tok_ids *ids) {
    trit_error err;
    ids->n = 0;
    if (mode == 0) {
        if (tok_encode(t, text, n, 0, ids, &err) != TRIT_OK) die(err.msg, NULL);
        return;
    }
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - text) + 1 : n;
        trit_status st = mode == 1 ? tok_encode(t, text + i, e - i, 0, ids, &err)
                                   : tok_encoder_encode(x, text + i, e - i, 0, ids, &err);
        if (st != TRIT_OK) die(err.msg, NULL);
        i = e;
    }
}

/* Contract: writes the ids space-separated on one line to path. */
static void write_ids(const char *path, const tok_ids *ids) {
    FILE *f = fopen(path, "w");
    if (!f) die("cannot create ", path);
    for (size_t i = 0; i < ids->n; i++) fprintf(f, i ? " %d" : "%d", (int)ids->ids[i]);
    fputc('\n', f);
    if (fclose(f) != 0) die("cannot write ", path);
}

/* Contract: parses the options, loads the tokenizer and the file, times the
 * three modes and prints one line each; exits 1 on any failure. */
int main(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *ids_out = NULL;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ids-out") == 0 && i + 1 < argc) ids_out = argv[++i];
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else die("usage: bench_tokenize -m TOKENIZER FILE [-r RUNS] [--ids-out PREFIX]", NULL);
    }
    if (!model || !file) die("usage: bench_tokenize -m TOKENIZER FILE [-r RUNS] [--ids-out PREFIX]", NULL);
    if (runs < 1 || runs > MAX_RUNS) die("-r must be in 1..101", NULL);

    size_t n;
    char *text = read_file(file, &n);
    tok_load_params lp = tok_default_load_params();
    lp.regex = tok_pcre2_api();
    tok_tokenizer *t;
    trit_error err;
    double t0 = now_s();
    if (tok_load(model, &lp, &t, &err) != TRIT_OK) die(err.msg, NULL);
    double load = now_s() - t0;
    printf("tokenizer %s (%d ids), loaded in %.3f s\n", model, (int)tok_n_vocab(t), load);
    printf("file %s: %zu bytes; single thread, median of %d runs\n", file, n, runs);

    tok_ids ids = {0};
    tok_encoder *x = tok_encoder_new(t);
    if (!x) die("out of memory", NULL);
    static const char *const names[] = {"file", "lines", "lines+encoder"};
    int32_t *line_ids = NULL; /* ids of mode 1, to check mode 2 */
    size_t n_line_ids = 0;
    for (int mode = 0; mode < 3; mode++) {
        double secs[MAX_RUNS], cpu[MAX_RUNS];
        encode(t, x, text, n, mode, &ids); /* warm-up */
        for (int r = 0; r < runs; r++) {
            double a = now_s(), c = cpu_s();
            encode(t, x, text, n, mode, &ids);
            secs[r] = now_s() - a;
            cpu[r] = cpu_s() - c;
        }
        qsort(secs, (size_t)runs, sizeof secs[0], cmp_double);
        qsort(cpu, (size_t)runs, sizeof cpu[0], cmp_double);
        double med = secs[runs / 2], cmed = cpu[runs / 2];
        printf("trit %-13s %9zu ids  %8.1f ms  %7.2f MB/s  cpu %7.2f MB/s  (wall min %.1f ms, max %.1f ms)\n",
               names[mode], ids.n, med * 1e3, (double)n / med / 1e6, (double)n / cmed / 1e6,
               secs[0] * 1e3, secs[runs - 1] * 1e3);
        if (mode == 1) {
            line_ids = malloc((ids.n + 1) * sizeof *line_ids);
            if (!line_ids) die("out of memory", NULL);
            memcpy(line_ids, ids.ids, ids.n * sizeof *line_ids);
            n_line_ids = ids.n;
        } else if (mode == 2 && (ids.n != n_line_ids ||
                                 memcmp(ids.ids, line_ids, ids.n * sizeof *ids.ids) != 0)) {
            die("tok_encoder_encode gave other ids than tok_encode", NULL);
        }
        if (ids_out && mode < 2) {
            size_t pl = strlen(ids_out) + 16;
            char *p = malloc(pl);
            if (!p) die("out of memory", NULL);
            snprintf(p, pl, "%s.%s.ids", ids_out, mode ? "lines" : "file");
            write_ids(p, &ids);
            free(p);
        }
    }
    tok_ids_free(&ids);
    free(line_ids);
    tok_encoder_free(x);
    tok_free(t);
    free(text);
    return 0;
}
