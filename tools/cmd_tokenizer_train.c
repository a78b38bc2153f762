/*
 * cmd_tokenizer_train.c - `trit tokenizer train`: trains a byte-level BPE
 * tokenizer and writes it as Hugging Face files.
 *
 *   trit tokenizer train --vocab-size N -o DIR [--min-frequency F]
 *                        [--special "<|endoftext|>,..."] [--pattern gpt2|llama3]
 *                        [--quiet] FILES...
 *
 * Writes DIR/tokenizer.json and DIR/tokenizer_config.json (each through a
 * temporary file renamed into place), creating DIR when needed. Progress
 * (merges done, rate, ETA) goes to stderr. The algorithm and its parity with
 * Hugging Face's BpeTrainer are described in src/text/bpe_train.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "text/bpe_train.h"

#define C "tokenizer train"

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* Contract: seconds of a monotonic clock. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    double t0, last;
    int tty, quiet, printed;
} progress_state;

/* Contract: prints the progress line (throttled: 5 per second on a
 * terminal, where it rewrites one line, else one line every 5 s) and the
 * final one. */
static void on_progress(void *user, const tok_train_progress *p) {
    progress_state *ps = user;
    if (ps->quiet) return;
    double t = now_s(), el = t - ps->t0;
    if (!p->done && t - ps->last < (ps->tty ? 0.2 : 5.0)) return;
    ps->last = t;
    double rate = el > 0 ? (double)p->merges_done / el : 0;
    double pct = p->merges_target ? 100.0 * (double)p->merges_done / (double)p->merges_target : 100.0;
    if (pct > 100) pct = 100;
    char eta[32] = "";
    if (!p->done && rate > 0 && p->merges_target > p->merges_done)
        snprintf(eta, sizeof eta, ", ETA %.0f s", (double)(p->merges_target - p->merges_done) / rate);
    fprintf(stderr, "%strit %s: merges %zu/%zu (%.1f%%), %.0f merges/s, %.1f s%s%s",
            ps->tty ? "\r" : "", C, p->merges_done, p->merges_target, pct, rate, el, eta,
            ps->tty ? "\033[K" : "\n");
    if (ps->tty && p->done) fputc('\n', stderr);
    ps->printed = 1;
}

/* Contract: reads a whole file into a malloc'ed buffer; NULL (errno set)
 * on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *p = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Contract: creates directory `dir` and its missing parents; 1 on success
 * (also when it exists), 0 with errno set. */
static int make_dirs(const char *dir) {
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) return 0;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return 0;
        }
        p[i] = c;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return 0;
    }
    return 1;
}

/* Contract: writes data[0..len) to dir/name through dir/name.tmpPID and a
 * rename; prints the error and returns 0 on failure (the target is then
 * unchanged). */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len) {
    size_t pl = strlen(dir) + strlen(name) + 2, tl = pl + 32;
    char *path = malloc(pl), *tmp = malloc(tl);
    int ok = 0;
    if (!path || !tmp) {
        cli_error(C, "out of memory");
        goto done;
    }
    snprintf(path, pl, "%s/%s", dir, name);
    snprintf(tmp, tl, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        cli_error(C, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    int wr = fwrite(data, 1, len, f) == len;
    int cl = fclose(f) == 0;
    if (!wr || !cl) {
        cli_error(C, "writing %s failed: %s; %s was left unchanged", tmp, strerror(errno), path);
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        cli_error(C, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
        goto done;
    }
    ok = 1;
done:
    free(path);
    free(tmp);
    return ok;
}

/* Contract: prints the usage to f. */
static void usage(FILE *f) {
    fprintf(f,
            "usage: trit tokenizer train --vocab-size N -o DIR [--min-frequency F]\n"
            "           [--special \"<|endoftext|>,...\"] [--pattern gpt2|llama3] [--quiet] FILES...\n"
            "  Trains a byte-level BPE tokenizer (Hugging Face BpeTrainer's algorithm: 256 byte\n"
            "  tokens, then the most frequent pair is merged until N ids, specials included) and\n"
            "  writes DIR/tokenizer.json and DIR/tokenizer_config.json.\n"
            "  --special      special tokens, comma-separated (repeatable); ids 0, 1, ...\n"
            "  --pattern      pre-tokenizer regex: llama3 (default) or gpt2\n"
            "  --min-frequency  stop when the best pair occurs fewer times (default 0)\n");
}

/* ======================================================================== */
/* Command                                                                   */
/* ======================================================================== */

/* Contract: `trit tokenizer train ...` (argv[0] is "train"). */
static int tokenizer_train(int argc, char **argv) {
    int64_t vocab = -1, minf = 0;
    const char *outdir = NULL, *pattern_name = "llama3";
    int quiet = 0;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    char **specials = calloc((size_t)argc * 2 + 2, sizeof *specials);
    char *spec_buf = NULL;
    size_t n_files = 0, n_spec = 0, spec_len = 0;
    int rc = 1;
    tok_trainer *tr = NULL;
    tok_str js = {0}, cfg = {0};
    if (!files || !specials) {
        cli_error(C, "out of memory");
        goto done;
    }
    /* specials are collected in one buffer of NUL-separated strings */
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--special") == 0 && i + 1 < argc) {
            size_t l = strlen(argv[++i]);
            char *b = realloc(spec_buf, spec_len + l + 2);
            if (!b) {
                cli_error(C, "out of memory");
                goto done;
            }
            spec_buf = b;
            memcpy(spec_buf + spec_len, argv[i], l);
            spec_buf[spec_len + l] = ',';
            spec_len += l + 1;
            spec_buf[spec_len] = 0;
        } else if (strcmp(s, "--vocab-size") == 0 && i + 1 < argc) {
            if (!cli_int(C, s, argv[++i], 257, 1 << 24, &vocab)) goto done;
        } else if (strcmp(s, "--min-frequency") == 0 && i + 1 < argc) {
            if (!cli_int(C, s, argv[++i], 0, INT64_MAX, &minf)) goto done;
        } else if ((strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0) && i + 1 < argc) {
            outdir = argv[++i];
        } else if (strcmp(s, "--pattern") == 0 && i + 1 < argc) {
            pattern_name = argv[++i];
        } else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (s[0] == '-' && s[1] != 0) {
            cli_error(C, "unknown or incomplete option \"%s\" (see --help)", s);
            goto done;
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (vocab < 0 || !outdir || n_files == 0) {
        cli_error(C, "--vocab-size N, -o DIR and at least one input file are required (see --help)");
        goto done;
    }
    const char *pattern = tok_train_pattern(pattern_name);
    if (!pattern) {
        cli_error(C, "--pattern must be gpt2 or llama3, got \"%s\"", pattern_name);
        goto done;
    }
    if (spec_buf) { /* cut "a,b,c," into strings */
        char *p = spec_buf;
        for (char *q; (q = strchr(p, ',')) != NULL; p = q + 1) {
            *q = 0;
            if (*p) specials[n_spec++] = p;
        }
    }

    tok_train_params tp = tok_train_default_params();
    tp.vocab_size = (int32_t)vocab;
    tp.min_frequency = (uint64_t)minf;
    tp.special = (const char *const *)specials;
    tp.n_special = n_spec;
    tp.pattern = pattern;
    tp.regex = tok_pcre2_api();
    progress_state ps = {now_s(), 0, isatty(2), quiet, 0};
    tp.progress = on_progress;
    tp.progress_user = &ps;
    trit_error err;
    if (tok_trainer_new(&tp, &tr, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }

    double t0 = now_s();
    size_t bytes = 0;
    for (size_t i = 0; i < n_files; i++) {
        size_t len;
        char *text = read_file(files[i], &len);
        if (!text) {
            cli_error(C, "cannot read %s: %s", files[i], strerror(errno));
            goto done;
        }
        trit_status st = tok_trainer_feed(tr, text, len, &err);
        free(text);
        if (st != TRIT_OK) {
            cli_error(C, "%s: %s", files[i], err.msg);
            goto done;
        }
        bytes += len;
    }
    uint64_t total;
    size_t distinct = tok_trainer_n_words(tr, &total);
    double t1 = now_s();
    if (!quiet)
        fprintf(stderr, "trit %s: %zu file(s), %.2f MB, %llu words (%zu distinct) in %.2f s\n", C,
                n_files, (double)bytes / 1e6, (unsigned long long)total, distinct, t1 - t0);

    ps.t0 = ps.last = now_s();
    if (tok_trainer_train(tr, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }
    double t2 = now_s();
    if (tok_trainer_json(tr, &js, &err) != TRIT_OK || tok_trainer_config_json(tr, &cfg, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }
    if (!make_dirs(outdir)) {
        cli_error(C, "cannot create directory %s: %s", outdir, strerror(errno));
        goto done;
    }
    if (!write_atomic(outdir, "tokenizer.json", js.s, js.len) ||
        !write_atomic(outdir, "tokenizer_config.json", cfg.s, cfg.len))
        goto done;
    if (!quiet) {
        fprintf(stderr, "trit %s: %d ids (%zu special, 256 bytes, %zu merges) in %.2f s; wrote %s/tokenizer.json",
                C, (int)tok_trainer_vocab_size(tr), n_spec, tok_trainer_n_merges(tr), t2 - t1, outdir);
        if (tok_trainer_vocab_size(tr) < vocab)
            fprintf(stderr, " (fewer than %lld ids: no pair left to merge%s)", (long long)vocab,
                    minf > 0 ? " at --min-frequency" : "");
        fputc('\n', stderr);
    }
    rc = 0;
done:
    tok_str_free(&js);
    tok_str_free(&cfg);
    tok_trainer_free(tr);
    free(spec_buf);
    free(specials);
    free(files);
    return rc;
}

/* Contract: see cli.h; dispatches `trit tokenizer <sub>`. */
int cmd_tokenizer(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return tokenizer_train(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "trit tokenizer: expected a subcommand: train\n");
    usage(stderr);
    return 1;
}
