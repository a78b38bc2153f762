/*
 * cmd_train.c - `trit train`: quantization-aware training of a BitNet b1.58
 * model on text files, around the trainer core (include/trit_train.h).
 *
 *   trit train -o RUN_DIR --tokenizer PATH --data FILE[,FILE...] [model] [training] [--resume]
 *
 * RUN_DIR holds everything of a run:
 *   tokens.bin               token cache (src/train/data.h)
 *   checkpoint.safetensors   parameters + AdamW moments + loop state
 *                            (src/train/checkpoint.h), written atomically
 *   log.csv                  one row per step (src/train/runlog.h)
 *   loss.svg                 train / validation loss vs step (src/train/plot.h)
 *
 * Options are described by one table (OPTS): how to parse them, whether a
 * resumed run may change them, and their help text. The resolved options
 * are stored in the checkpoint (trit.run) as strings; `--resume` reads them
 * back, refuses changes to the ones that define the run (model, data,
 * quantizer, batch, seed) and lets the others (steps, learning rate,
 * intervals, threads) change with a note.
 *
 * Reproducibility: the loop state (step, data RNG, spike guard) is saved
 * with the tensors, evaluation uses fixed batches and does not touch the
 * training state, and the trainer is bit-exact across thread counts, so a
 * run that is stopped and resumed writes the same log rows (step, loss, lr,
 * grad_norm, val_loss) as one that is not.
 *
 * Signals: the first SIGINT / SIGTERM sets a flag; the loop finishes the
 * step, saves, prints how to resume and exits 130 (SIGINT) / 143. A second
 * one kills the process (the checkpoint on disk is always a complete one).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"
#include "io/json.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/guard.h"
#include "train/plot.h"
#include "train/runlog.h"
#include "trit_train.h"

#define C "train"

/* The signal that asked the run to stop (0: none). The only global. */
static volatile sig_atomic_t g_stop_signal = 0;

/* ======================================================================== */
/* Options                                                                   */
/* ======================================================================== */

typedef struct {
    /* data and model (fixed for a run) */
    const char *tokenizer, *data, *config, *init, *quant;
    int64_t dim, layers, heads, kv_heads, ffn, vocab, ctx, untied, batch, seed;
    double rope_theta, norm_eps, init_std, val_frac;
    /* training (may change on --resume) */
    const char *schedule;
    int64_t steps, warmup, lambda_ramp, eval_every, eval_batches, save_every, log_every, threads, max_skips;
    double lr, min_lr, wd, clip, beta1, beta2, spike;
    /* this invocation only */
    int64_t stop_after;
} run_opts;

typedef enum { K_INT, K_NUM, K_STR, K_FLAG } opt_kind;

/* How --resume treats an option. */
enum {
    R_FIXED = 1,    /* must not change                                       */
    R_FREE = 0,     /* may change (the numbers change too); restored from the
                       checkpoint when not given                              */
    R_SAFE = 2,     /* as R_FREE, but the training numbers do not depend on it */
    R_NONE = -1     /* not saved: applies to one invocation                  */
};

typedef struct {
    const char *name;      /* long option without "--"                        */
    const char *alias;     /* e.g. "-t", or NULL                              */
    opt_kind kind;
    size_t off;            /* offset in run_opts                              */
    int resume;            /* R_FIXED / R_FREE / R_NONE                       */
    double lo, hi;         /* numeric range                                   */
    const char *arg, *help;
} opt_def;

#define O(f) offsetof(run_opts, f)
static const opt_def OPTS[] = {
    {"tokenizer", NULL, K_STR, O(tokenizer), R_FIXED, 0, 0, "PATH", "tokenizer.json, tokenizer.model or a folder with one"},
    {"data", NULL, K_STR, O(data), R_FIXED, 0, 0, "F[,F]", "text files (comma-separated; repeatable)"},
    {"config", NULL, K_STR, O(config), R_FIXED, 0, 0, "JSON", "model shape from a Hugging Face BitNet config.json (flags override)"},
    {"init", NULL, K_STR, O(init), R_FIXED, 0, 0, "DIR", "continual QAT: start from a full-precision checkpoint (HF folder or run)"},
    {"dim", NULL, K_INT, O(dim), R_FIXED, 2, 1 << 16, "D", "hidden size (default 256)"},
    {"layers", NULL, K_INT, O(layers), R_FIXED, 1, 1024, "L", "decoder layers (default 4)"},
    {"heads", NULL, K_INT, O(heads), R_FIXED, 1, 1024, "H", "attention heads (default 4)"},
    {"kv-heads", NULL, K_INT, O(kv_heads), R_FIXED, 1, 1024, "K", "key/value heads (default: heads)"},
    {"ffn", NULL, K_INT, O(ffn), R_FIXED, 1, 1 << 20, "F", "feed-forward size (default 8/3 dim, rounded up to 32)"},
    {"vocab", NULL, K_INT, O(vocab), R_FIXED, 1, 1 << 24, "V", "vocabulary (default: the tokenizer's)"},
    {"ctx", NULL, K_INT, O(ctx), R_FIXED, 1, 1 << 16, "T", "tokens per training sequence (default 256)"},
    {"rope-theta", NULL, K_NUM, O(rope_theta), R_FIXED, 1e-3, 1e12, "X", "RoPE base (default 10000)"},
    {"norm-eps", NULL, K_NUM, O(norm_eps), R_FIXED, 1e-12, 1, "X", "RMSNorm epsilon (default 1e-5)"},
    {"untied", NULL, K_FLAG, O(untied), R_FIXED, 0, 1, NULL, "separate lm_head (default: tied to the embeddings)"},
    {"quant", NULL, K_STR, O(quant), R_FIXED, 0, 0, "Q", "absmean (b1.58) | absmedian | binary | none (default absmean)"},
    {"batch", NULL, K_INT, O(batch), R_FIXED, 1, 1 << 16, "B", "sequences per step (default 8)"},
    {"seed", NULL, K_INT, O(seed), R_FIXED, 0, 9007199254740992.0, "S", "initialization and data-order seed (default 1)"},
    {"val-frac", NULL, K_NUM, O(val_frac), R_FIXED, 0, 0.5, "X", "last fraction of each file used for validation (0.05)"},
    {"init-std", NULL, K_NUM, O(init_std), R_FIXED, 1e-6, 10, "X", "std of the random initialization (default 0.02)"},
    {"steps", NULL, K_INT, O(steps), R_FREE, 1, 1e12, "N", "optimizer steps of the whole run (default 1000)"},
    {"lr", NULL, K_NUM, O(lr), R_FREE, 1e-12, 1e6, "LR", "peak learning rate (default 1.5e-3)"},
    {"min-lr", NULL, K_NUM, O(min_lr), R_FREE, 0, 1e6, "LR", "final learning rate of two-stage / cosine (default lr/10)"},
    {"warmup", NULL, K_INT, O(warmup), R_FREE, 0, 1e12, "W", "linear warmup steps (default min(100, steps/10))"},
    {"schedule", NULL, K_STR, O(schedule), R_FREE, 0, 0, "S", "constant | two-stage (BitNet, default) | cosine"},
    {"wd", NULL, K_NUM, O(wd), R_FREE, 0, 1e3, "WD", "AdamW weight decay on matrices (default 0.1)"},
    {"clip", NULL, K_NUM, O(clip), R_FREE, 0, 1e9, "C", "global gradient-norm clip, 0 = off (default 1)"},
    {"beta1", NULL, K_NUM, O(beta1), R_FREE, 0, 0.999999, "B", "AdamW beta1 (default 0.9)"},
    {"beta2", NULL, K_NUM, O(beta2), R_FREE, 0, 0.999999, "B", "AdamW beta2 (default 0.95)"},
    {"lambda-ramp", NULL, K_INT, O(lambda_ramp), R_FREE, 0, 1e12, "N", "quantization strength 0 -> 1 over N steps (default 0)"},
    {"eval-every", NULL, K_INT, O(eval_every), R_SAFE, 0, 1e12, "K", "validation every K steps, 0 = off (default 100)"},
    {"eval-batches", NULL, K_INT, O(eval_batches), R_SAFE, 1, 1e6, "E", "validation batches (default 8)"},
    {"save-every", NULL, K_INT, O(save_every), R_SAFE, 0, 1e12, "K", "checkpoint every K steps, 0 = at the end only (500)"},
    {"log-every", NULL, K_INT, O(log_every), R_SAFE, 1, 1e12, "N", "progress line every N steps when not a terminal (10)"},
    {"spike", NULL, K_NUM, O(spike), R_FREE, 0, 1e9, "X", "skip steps with loss or grad norm > X x recent median, 0 = off (10)"},
    {"max-skips", NULL, K_INT, O(max_skips), R_SAFE, 1, 1e9, "N", "stop after N consecutive skipped steps (default 10)"},
    {"threads", "-t", K_INT, O(threads), R_SAFE, 0, 1024, "N", "threads (default: all CPUs)"},
    {"stop-after", NULL, K_INT, O(stop_after), R_NONE, 0, 1e12, "N", "save and stop after N steps of this invocation"},
};
#undef O
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

/* Contract: fills o with the defaults (0 / -1 mark values derived later). */
static void opts_default(run_opts *o) {
    memset(o, 0, sizeof *o);
    o->quant = "absmean";
    o->schedule = "two-stage";
    o->dim = 256;
    o->layers = 4;
    o->heads = 4;
    o->ctx = 256;
    o->rope_theta = 10000.0;
    o->norm_eps = 1e-5;
    o->batch = 8;
    o->seed = 1;
    o->val_frac = 0.05;
    o->init_std = 0.02;
    o->steps = 1000;
    o->lr = 1.5e-3;
    o->min_lr = -1;
    o->warmup = -1;
    o->wd = 0.1;
    o->clip = 1.0;
    o->beta1 = 0.9;
    o->beta2 = 0.95;
    o->eval_every = 100;
    o->eval_batches = 8;
    o->save_every = 500;
    o->log_every = 10;
    o->spike = 10.0;
    o->max_skips = 10;
}

/* Contract: the field of option d in o. */
static void *opt_field(const opt_def *d, run_opts *o) { return (char *)o + d->off; }

/* Contract: parses val for option d into o; `from` names the source in
 * the error ("--lr" or "the checkpoint"). Returns 1, or 0 after printing. */
static int opt_set(const opt_def *d, run_opts *o, const char *val, const char *from) {
    void *f = opt_field(d, o);
    if (!val) return cli_error(C, "--%s expects a value", d->name), 0;
    switch (d->kind) {
    case K_STR:
        *(const char **)f = *val ? val : NULL; /* "" (how an unset path is saved) is unset */
        return 1;
    case K_FLAG:
        if (strcmp(val, "0") && strcmp(val, "1")) return cli_error(C, "%s: --%s must be 0 or 1", from, d->name), 0;
        *(int64_t *)f = val[0] == '1';
        return 1;
    case K_INT: {
        int64_t v;
        if (!cli_int(C, from, val, (int64_t)d->lo, (int64_t)d->hi, &v)) return 0;
        *(int64_t *)f = v;
        return 1;
    }
    case K_NUM: {
        double v;
        if (!cli_float(C, from, val, &v)) return 0;
        if (!isfinite(v) || v < d->lo || v > d->hi)
            return cli_error(C, "%s expects a number in [%g, %g], got \"%s\"", from, d->lo, d->hi, val), 0;
        *(double *)f = v;
        return 1;
    }
    }
    return 0;
}

/* Contract: the canonical text of option d's value in o (how it is saved
 * and compared on --resume). */
static void opt_canon(const opt_def *d, run_opts *o, char *buf, size_t cap) {
    void *f = opt_field(d, o);
    switch (d->kind) {
    case K_STR: snprintf(buf, cap, "%s", *(const char **)f ? *(const char **)f : ""); break;
    case K_FLAG:
    case K_INT: snprintf(buf, cap, "%lld", (long long)*(int64_t *)f); break;
    case K_NUM: snprintf(buf, cap, "%.17g", *(double *)f); break;
    }
}

/* Contract: the index in OPTS of the option called name (no dashes); the
 * name must exist. */
static size_t opt_index(const char *name) {
    size_t k = 0;
    while (k < N_OPTS - 1 && strcmp(OPTS[k].name, name) != 0) k++;
    return k;
}

/* Contract: the option called `arg` ("--lr" or an alias), or NULL. */
static const opt_def *opt_find(const char *arg) {
    for (size_t i = 0; i < N_OPTS; i++) {
        if (OPTS[i].alias && strcmp(arg, OPTS[i].alias) == 0) return &OPTS[i];
        if (arg[0] == '-' && arg[1] == '-' && strcmp(arg + 2, OPTS[i].name) == 0) return &OPTS[i];
    }
    return NULL;
}

/* Contract: the saved options (every R_FIXED / R_FREE one) as a JSON
 * object of strings; malloc'ed, NULL when out of memory. */
static char *opts_json(run_opts *o) {
    json_sb b = {0};
    int ok = json_sb_puts(&b, "{");
    char v[4096];
    for (size_t i = 0, k = 0; ok && i < N_OPTS; i++) {
        if (OPTS[i].resume == R_NONE) continue;
        opt_canon(&OPTS[i], o, v, sizeof v);
        ok = json_sb_puts(&b, k++ ? "," : "") && json_sb_quote(&b, OPTS[i].name, strlen(OPTS[i].name)) &&
             json_sb_puts(&b, ":") && json_sb_quote(&b, v, strlen(v));
    }
    ok = ok && json_sb_puts(&b, "}");
    if (!ok) {
        json_sb_free(&b);
        return NULL;
    }
    return b.buf;
}

/* Contract: merges the options saved in a checkpoint (JSON root `saved`)
 * into o: options not given take the saved value; a given R_FIXED option
 * must equal it (else an error); a changed R_FREE one prints a note.
 * Returns 1, or 0 after printing the error. */
static int opts_merge(run_opts *o, const unsigned char *given, const json_value *saved) {
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt_def *d = &OPTS[i];
        if (d->resume == R_NONE) continue;
        const char *sv = json_get_str(saved, d->name, NULL);
        if (!sv) continue; /* saved by an older trit: keep the default */
        if (!given[i]) {
            if (!opt_set(d, o, sv, "the checkpoint's options")) return 0;
            continue;
        }
        char now[4096], old[4096];
        opt_canon(d, o, now, sizeof now);
        run_opts tmp = *o;
        if (!opt_set(d, &tmp, sv, "the checkpoint's options")) return 0;
        opt_canon(d, &tmp, old, sizeof old);
        if (strcmp(now, old) == 0) continue;
        if (d->resume == R_FIXED)
            return cli_error(C, "--%s cannot change when resuming (the run was started with \"%s\", now \"%s\"); "
                             "start a new run in another folder instead", d->name, old, now), 0;
        if (d->resume == R_FREE)
            fprintf(stderr, "trit train: note: --%s changed from %s to %s; the run will not reproduce an "
                    "uninterrupted one\n", d->name, old, now);
    }
    return 1;
}

/* Contract: prints the usage. */
static void usage(void) {
    printf("usage: trit train -o RUN_DIR --tokenizer PATH --data FILE[,FILE...] [options]\n"
           "       trit train -o RUN_DIR --resume [options that may change]\n"
           "Quantization-aware training of a BitNet b1.58 model on text. RUN_DIR receives tokens.bin\n"
           "(token cache), checkpoint.safetensors, log.csv and loss.svg.\n"
           "  -o, --output DIR        run folder (created)\n"
           "  --resume                continue the run in RUN_DIR from its checkpoint; options marked *\n"
           "                          may change, the others are taken from the checkpoint\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s--%s%s%s", OPTS[i].alias ? OPTS[i].alias : "", OPTS[i].alias ? ", " : "",
                 OPTS[i].name, OPTS[i].arg ? " " : "", OPTS[i].arg ? OPTS[i].arg : "");
        printf("  %-23s %s%s\n", left, OPTS[i].resume == R_FIXED ? "" : "* ", OPTS[i].help);
    }
    printf("Ctrl-C finishes the current step, saves the checkpoint and exits (status 130).\n");
}

/* ======================================================================== */
/* Small helpers                                                             */
/* ======================================================================== */

/* Contract: signal handler: records the first signal and says what will
 * happen (write(2) is async-signal-safe); SA_RESETHAND makes a second one
 * act as default (terminate). */
static void on_signal(int sig) {
    static const char msg[] = "\ntrit train: interrupt: finishing the current step, then saving the checkpoint "
                              "(interrupt again to quit without saving)\n";
    g_stop_signal = sig;
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

/* Contract: installs on_signal for SIGINT and SIGTERM. */
static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Contract: tokenization cancel hook: nonzero once a signal arrived. */
static int cancel_requested(void *user) {
    (void)user;
    return g_stop_signal != 0;
}

/* Contract: creates dir and its missing parents; 1 on success (also when
 * it exists), 0 with errno set. */
static int make_dirs(const char *dir) {
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        return 0;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) return 0;
        p[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return 0;
    }
    return 1;
}

/* Contract: 1 if path names an existing file. */
static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Contract: formats seconds as h:mm:ss or m:ss into buf. */
static void fmt_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

/* Contract: maps a quantizer name to its enum; -1 if unknown. */
static int parse_quant(const char *s) {
    static const char *const names[] = {"absmean", "absmedian", "binary", "none"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* Contract: maps a schedule name to its enum; -1 if unknown. */
static int parse_schedule(const char *s) {
    if (strcmp(s, "constant") == 0) return TRIT_SCHED_CONSTANT;
    if (strcmp(s, "two-stage") == 0) return TRIT_SCHED_TWO_STAGE;
    if (strcmp(s, "cosine") == 0) return TRIT_SCHED_COSINE;
    return -1;
}

/* ======================================================================== */
/* Progress display                                                          */
/* ======================================================================== */

typedef struct {
    int tty;             /* stderr is a terminal: one updating line        */
    int open;            /* a \r line is on screen without its newline      */
    double last_print;   /* time of the last line                           */
} progress;

/* Contract: ends an open progress line so that a message can follow. */
static void progress_break(progress *p) {
    if (p->open) fputc('\n', stderr);
    p->open = 0;
}

/* Contract: prints "trit train: <message>" as a full line on stderr (after
 * ending an open progress line). */
static void say(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(progress *p, const char *fmt, ...) {
    progress_break(p);
    va_list ap;
    va_start(ap, fmt);
    fputs("trit train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Contract: tokenization progress callback (bytes and tokens so far). */
static void on_tokenize(void *user, uint64_t done, uint64_t total, uint64_t tokens) {
    progress *p = user;
    double now = trit_time_s();
    if (done < total && now - p->last_print < (p->tty ? 0.2 : 5.0)) return;
    p->last_print = now;
    fprintf(stderr, "%strit train: tokenizing %.1f / %.1f MB, %llu tokens%s", p->tty ? "\r" : "", (double)done / 1e6,
            (double)total / 1e6, (unsigned long long)tokens, p->tty ? "\033[K" : "\n");
    p->open = p->tty;
}

/* ======================================================================== */
/* The run                                                                   */
/* ======================================================================== */

typedef struct {
    run_opts o;
    char dir[4096], ckpt[4200], cache[4200], csv[4200], svg[4200];
    trit_train_config cfg;
    trit_trainer *t;
    td_split split;
    uint64_t rng, data_checksum;
    tg_guard guard;
    tl_log log;
    int64_t saved_step;  /* step of the checkpoint on disk, -1: none */
    int32_t *ids;        /* one batch */
    progress pg;
} run;

/* Contract: mean validation loss over the fixed batches; NaN if a batch
 * fails (message printed). */
static float evaluate(run *r) {
    int64_t B = r->o.batch, T = r->o.ctx, E = r->o.eval_batches;
    double sum = 0;
    for (int64_t i = 0; i < E; i++) {
        float loss;
        trit_error err = {0};
        td_val_batch(&r->split, i, E, B, T, r->ids);
        if (trit_trainer_eval(r->t, r->ids, &loss, &err) != TRIT_OK) {
            say(&r->pg, "evaluation failed: %s", err.msg);
            return NAN;
        }
        sum += loss;
    }
    return (float)(sum / (double)E);
}

/* Contract: rewrites loss.svg from the log (train loss, its moving
 * average, validation loss); a failure is reported but not fatal. */
static void write_plot(run *r) {
    size_t n = r->log.n, nv = 0;
    double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    double *ys = malloc((n ? n : 1) * sizeof *ys), *vx = malloc((n ? n : 1) * sizeof *vx);
    double *vy = malloc((n ? n : 1) * sizeof *vy);
    if (!x || !y || !ys || !vx || !vy) {
        say(&r->pg, "warning: out of memory drawing %s", r->svg);
    } else {
        double ema = NAN, a = n > 50 ? 2.0 / (1.0 + (double)n / 25.0) : 0.3;
        for (size_t i = 0; i < n; i++) {
            const tl_row *row = &r->log.rows[i];
            x[i] = (double)row->step;
            y[i] = row->loss;
            if (isfinite(y[i])) ema = isfinite(ema) ? ema + a * (y[i] - ema) : y[i];
            ys[i] = ema;
            if (isfinite(row->val_loss)) {
                vx[nv] = (double)row->step;
                vy[nv++] = row->val_loss;
            }
        }
        tp_series s[3] = {
            {x, y, n, "train loss", "#9ecae1", 1.0, 0, 0.9},
            {x, ys, n, "train loss (moving average)", "#1f5fa8", 2.0, 0, 1.0},
            {vx, vy, nv, "validation loss", "#e6550d", 1.5, 1, 1.0},
        };
        trit_error err = {0};
        char title[256];
        snprintf(title, sizeof title, "trit train: %s, %lld x %lld tokens per step", r->o.quant,
                 (long long)r->o.batch, (long long)r->o.ctx);
        if (tp_write_svg(r->svg, title, "step", "cross-entropy loss (nats)", s, nv ? 3 : 2, &err) != TRIT_OK)
            say(&r->pg, "warning: %s", err.msg);
    }
    free(x);
    free(y);
    free(ys);
    free(vx);
    free(vy);
}

/* Contract: saves the checkpoint at step `step`; on failure prints a
 * clear error (the previous checkpoint is untouched) and returns 0. */
static int save(run *r, int64_t step) {
    char *run_json = opts_json(&r->o);
    tc_state s;
    memset(&s, 0, sizeof s);
    s.step = step;
    s.rng = r->rng;
    s.data_checksum = r->data_checksum;
    s.guard = r->guard;
    s.cfg = r->cfg;
    s.run_json = run_json;
    trit_error err = {0};
    trit_status st = run_json ? tc_save(r->ckpt, r->t, &s, &err) : trit_fail(&err, TRIT_ERR_NOMEM, "out of memory");
    free(run_json);
    if (st != TRIT_OK) {
        progress_break(&r->pg);
        char prev[128];
        if (r->saved_step >= 0) snprintf(prev, sizeof prev, "the previous checkpoint (step %lld) is intact",
                                         (long long)r->saved_step);
        else snprintf(prev, sizeof prev, "no checkpoint was written");
        cli_error(C, "saving the checkpoint at step %lld failed: %s; %s", (long long)step, err.msg, prev);
        return 0;
    }
    r->saved_step = step;
    return 1;
}

/* Contract: prints the progress line of a step (on a terminal at most 10
 * times a second, otherwise every log_every steps; always for the first
 * step of the invocation and the last of the run). tok_s is the recent
 * training speed, eta the estimated seconds left. Returns 1 if printed. */
static int show_progress(run *r, const trit_train_stats *s, double tok_s, double eta, int first, int last) {
    double now = trit_time_s();
    int due = r->pg.tty ? (first || last || now - r->pg.last_print >= 0.1)
                        : (first || last || s->step % r->o.log_every == 0);
    if (!due) return 0;
    r->pg.last_print = now;
    char e[32], skipped[48] = "";
    fmt_duration(eta, e, sizeof e);
    if (r->guard.skipped) snprintf(skipped, sizeof skipped, "  skipped %lld", (long long)r->guard.skipped);
    fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.2e  gnorm %.3f  %.0f tok/s  ETA %s%s%s", r->pg.tty ? "\r" : "",
            (long long)s->step, (long long)r->o.steps, (double)s->loss, s->lr, (double)s->grad_norm, tok_s, e, skipped,
            r->pg.tty ? "\033[K" : "\n");
    r->pg.open = r->pg.tty;
    fflush(stderr);
    return 1;
}

/* Contract: the training loop from the trainer's current step. Returns the
 * exit code: 0 done or stopped by --stop-after, 130/143 interrupted (saved),
 * 1 on an error (the last checkpoint kept). */
static int train_loop(run *r) {
    run_opts *o = &r->o;
    int64_t B = o->batch, T = o->ctx, step = trit_trainer_get_step(r->t), done_here = 0;
    double t_start = trit_time_s(), t_train = 0, tok_window = 0, t_window = 0;
    float last_val = NAN, last_loss = NAN;
    int stopped_early = 0;
    while (step < o->steps) {
        if (g_stop_signal) break;
        td_train_batch(&r->split, &r->rng, B, T, r->ids);
        double t0 = trit_time_s();
        trit_train_stats s;
        trit_error err = {0};
        trit_status st = trit_trainer_prepare(r->t, r->ids, &s, &err);
        if (st != TRIT_OK && st != TRIT_ERR_VALUE) {
            progress_break(&r->pg);
            return cli_error(C, "step %lld: %s", (long long)step + 1, err.msg);
        }
        float median;
        tg_verdict v = tg_check(&r->guard, s.loss, s.grad_norm, &median);
        if (v != TG_ACCEPT) {
            tg_reject(&r->guard);
            char why[128] = "";
            if (v == TG_LOSS_SPIKE || v == TG_NORM_SPIKE)
                snprintf(why, sizeof why, " (recent median %.4g, limit %gx)", (double)median, o->spike);
            say(&r->pg, "step %lld skipped: %s: loss %g, grad norm %g%s", (long long)step + 1, tg_verdict_str(v),
                (double)s.loss, (double)s.grad_norm, why);
            if (r->guard.consecutive >= o->max_skips) {
                char prev[sizeof r->dir + 64];
                if (r->saved_step >= 0)
                    snprintf(prev, sizeof prev, "the last checkpoint (step %lld) in %s was kept", (long long)r->saved_step,
                             r->dir);
                else snprintf(prev, sizeof prev, "no checkpoint was written");
                cli_error(C, "stopping: %lld consecutive steps were skipped (%s at step %lld); %s. The run diverged: "
                          "resume with a lower --lr or check the data", (long long)r->guard.consecutive,
                          tg_verdict_str(v), (long long)step + 1, prev);
                return 1;
            }
            continue;
        }
        trit_trainer_apply(r->t);
        tg_accept(&r->guard, s.loss, s.grad_norm);
        double dt = trit_time_s() - t0;
        step = s.step;
        done_here++;
        t_train += dt;
        tok_window += (double)(B * T);
        t_window += dt;
        last_loss = s.loss;
        tl_row row = {step, s.loss, s.grad_norm, s.lr, dt > 0 ? (double)(B * T) / dt : 0, NAN, r->guard.skipped};
        int last = step == o->steps;
        int eval = r->split.n_val > 0 && o->eval_every > 0 && (step % o->eval_every == 0 || last);
        if (eval) {
            row.val_loss = last_val = evaluate(r);
        }
        if (tl_append(&r->log, &row, &err) != TRIT_OK) {
            progress_break(&r->pg);
            return cli_error(C, "%s", err.msg);
        }
        double per_step = (trit_time_s() - t_start) / (double)done_here;
        if (show_progress(r, &s, t_window > 0 ? tok_window / t_window : 0, per_step * (double)(o->steps - step),
                          done_here == 1, last)) {
            tok_window = 0;
            t_window = 0;
        }
        if (eval) {
            say(&r->pg, "eval at step %lld: val loss %.4f, perplexity %.2f", (long long)step, (double)row.val_loss,
                exp((double)row.val_loss));
            write_plot(r);
        }
        if (o->save_every > 0 && step % o->save_every == 0 && step != o->steps) {
            if (!save(r, step)) return 1;
            if (!eval) write_plot(r);
        }
        if (o->stop_after > 0 && done_here >= o->stop_after && step < o->steps) {
            stopped_early = 1;
            break;
        }
    }
    progress_break(&r->pg);
    if (r->saved_step != step && !save(r, step)) return 1;
    write_plot(r);
    if (g_stop_signal) {
        fprintf(stderr, "trit train: interrupted: saved step %lld/%lld to %s\n"
                "trit train: resume with: trit train -o %s --resume\n", (long long)step, (long long)o->steps, r->ckpt,
                r->dir);
        return g_stop_signal == SIGTERM ? 143 : 130;
    }
    if (stopped_early) {
        fprintf(stderr, "trit train: stopped after %lld steps (--stop-after) at step %lld/%lld; saved to %s\n"
                "trit train: continue with: trit train -o %s --resume\n", (long long)done_here, (long long)step,
                (long long)o->steps, r->ckpt, r->dir);
        return 0;
    }
    char el[32];
    fmt_duration(trit_time_s() - t_start, el, sizeof el);
    fprintf(stderr, "trit train: done: %lld steps, last loss %.4f", (long long)step, (double)last_loss);
    if (isfinite(last_val)) fprintf(stderr, ", val loss %.4f (perplexity %.2f)", (double)last_val, exp((double)last_val));
    fprintf(stderr, ", %lld skipped, %s (%.0f tok/s in training); checkpoint %s, log %s, plot %s\n",
            (long long)r->guard.skipped, el, t_train > 0 ? (double)done_here * (double)(B * T) / t_train : 0.0,
            r->ckpt, r->csv, r->svg);
    return 0;
}

/* ======================================================================== */
/* Setup                                                                     */
/* ======================================================================== */

/* Contract: resolves the model config of a new run into r->cfg from
 * --init, --config and the shape flags (given[] says which were given),
 * and writes the resolved shape back into the options. 1, or 0 after
 * printing the error. */
static int resolve_model(run *r, const unsigned char *given, const tok_tokenizer *tk) {
    run_opts *o = &r->o;
    trit_train_config *c = &r->cfg;
    trit_error err = {0};
    int base = 0;
    memset(c, 0, sizeof *c);
    if (o->init && o->config) return cli_error(C, "give --init or --config, not both (--init brings its config)"), 0;
    if (o->init) {
        if (tc_init_config(o->init, c, &err) != TRIT_OK) return cli_error(C, "%s", err.msg), 0;
        base = 1;
    } else if (o->config) {
        char eb[256];
        size_t len;
        char *text = json_read_file(o->config, &len, eb, sizeof eb);
        if (!text) return cli_error(C, "--config: %s", eb), 0;
        trit_status st = trit_train_config_from_json(text, len, o->config, c, &err);
        free(text);
        if (st != TRIT_OK) return cli_error(C, "%s", err.msg), 0;
        base = 1;
    }
    struct {
        const char *name;
        int64_t *opt, *field;
    } sizes[] = {
        {"dim", &o->dim, &c->hidden_size},     {"layers", &o->layers, &c->n_layers},
        {"heads", &o->heads, &c->n_heads},     {"kv-heads", &o->kv_heads, &c->n_kv_heads},
        {"ffn", &o->ffn, &c->intermediate_size}, {"vocab", &o->vocab, &c->vocab_size},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (given[opt_index(sizes[i].name)]) {
            if (o->init && *sizes[i].field != *sizes[i].opt)
                return cli_error(C, "--%s %lld conflicts with the --init checkpoint's config (%lld)", sizes[i].name,
                                 (long long)*sizes[i].opt, (long long)*sizes[i].field), 0;
            *sizes[i].field = *sizes[i].opt;
        } else if (!base) {
            *sizes[i].field = *sizes[i].opt; /* the default; 0 for derived ones */
        }
    }
    if (!base) {
        c->rope_theta = o->rope_theta;
        c->rms_norm_eps = o->norm_eps;
        c->tie_embeddings = !o->untied;
    } else {
        if (o->init && (given[opt_index("rope-theta")] || given[opt_index("norm-eps")] || given[opt_index("untied")]))
            return cli_error(C, "--rope-theta, --norm-eps and --untied come from the --init checkpoint's config"), 0;
        if (given[opt_index("rope-theta")]) c->rope_theta = o->rope_theta;
        if (given[opt_index("norm-eps")]) c->rms_norm_eps = o->norm_eps;
        if (given[opt_index("untied")]) c->tie_embeddings = 0;
    }
    if (c->n_kv_heads <= 0) c->n_kv_heads = c->n_heads;
    if (c->intermediate_size <= 0) c->intermediate_size = (c->hidden_size * 8 / 3 + 31) / 32 * 32;
    if (c->vocab_size <= 0) c->vocab_size = tok_n_vocab(tk);
    if (c->max_position > 0 && !given[opt_index("ctx")] && o->ctx > c->max_position) o->ctx = c->max_position;
    if (c->max_position <= 0) c->max_position = o->ctx;
    if (o->ctx > c->max_position)
        return cli_error(C, "--ctx %lld is longer than the model's max_position_embeddings (%lld)", (long long)o->ctx,
                         (long long)c->max_position), 0;
    o->dim = c->hidden_size;
    o->layers = c->n_layers;
    o->heads = c->n_heads;
    o->kv_heads = c->n_kv_heads;
    o->ffn = c->intermediate_size;
    o->vocab = c->vocab_size;
    o->rope_theta = c->rope_theta;
    o->norm_eps = c->rms_norm_eps;
    o->untied = !c->tie_embeddings;
    return 1;
}

/* Contract: loads the data (token cache or tokenization), checks it
 * against the model vocabulary, and splits it. 1, or 0 after printing. */
static int load_data(run *r, const tok_tokenizer *tk, int resuming, uint64_t saved_checksum) {
    char *list = strdup(r->o.data);
    const char **files = calloc(strlen(r->o.data) + 1, sizeof *files);
    size_t nf = 0;
    int ok = 0;
    td_corpus corpus;
    memset(&corpus, 0, sizeof corpus);
    if (!list || !files) {
        cli_error(C, "out of memory");
        goto done;
    }
    for (char *s = strtok(list, ","); s; s = strtok(NULL, ","))
        if (*s) files[nf++] = s;
    if (!nf) {
        cli_error(C, "--data names no file");
        goto done;
    }
    td_source src = {files, nf, r->o.tokenizer, tk, r->cache, (int)(r->o.threads ? r->o.threads : trit_cpu_count()),
                     on_tokenize, cancel_requested, &r->pg};
    trit_error err = {0};
    double t0 = trit_time_s();
    if (td_corpus_load(&src, &corpus, &err) != TRIT_OK) {
        progress_break(&r->pg);
        if (g_stop_signal) {
            cli_error(C, "interrupted while tokenizing; nothing was saved");
            goto done;
        }
        cli_error(C, "%s", err.msg);
        goto done;
    }
    progress_break(&r->pg);
    if (corpus.from_cache)
        say(&r->pg, "data: %llu tokens from %zu file(s), read from the token cache %s",
            (unsigned long long)corpus.n_tokens, nf, r->cache);
    else
        say(&r->pg, "data: %llu tokens from %zu file(s), tokenized in %.1f s (%s) into %s",
            (unsigned long long)corpus.n_tokens, nf, trit_time_s() - t0, corpus.note, r->cache);
    if ((int64_t)corpus.max_id >= r->cfg.vocab_size) {
        cli_error(C, "the data holds token id %u but the model's vocabulary has %lld ids; the tokenizer and the "
                  "model do not belong together", corpus.max_id, (long long)r->cfg.vocab_size);
        goto done;
    }
    r->data_checksum = corpus.checksum;
    if (resuming && saved_checksum != corpus.checksum)
        say(&r->pg, "warning: the training data differ from the ones the checkpoint was trained on (files changed "
            "since); the resumed run will not reproduce an uninterrupted one");
    if (td_split_make(&corpus, r->o.val_frac, &r->split, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }
    int need_val = r->o.eval_every > 0 && r->o.val_frac > 0;
    if (td_split_check(&r->split, r->o.ctx, need_val, &err) != TRIT_OK) {
        cli_error(C, "%s", err.msg);
        goto done;
    }
    say(&r->pg, "split: %llu training tokens, %llu validation tokens", (unsigned long long)r->split.n_train,
        (unsigned long long)r->split.n_val);
    ok = 1;
done:
    td_corpus_free(&corpus);
    free(files);
    free(list);
    return ok;
}

/* Contract: `trit train` (argv[0] is "train"). */
int cmd_train(int argc, char **argv) {
    run *r = calloc(1, sizeof *r);
    if (!r) return cli_error(C, "out of memory");
    run_opts *o = &r->o;
    opts_default(o);
    unsigned char given[N_OPTS] = {0};
    const char *outdir = NULL;
    char *data_joined = NULL;
    int resume = 0, rc = 1;
    tc_state rs;
    memset(&rs, 0, sizeof rs);
    json_doc *saved = NULL;
    tok_tokenizer *tk = NULL;
    r->saved_step = -1;
    r->pg.tty = isatty(2);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            rc = 0;
            goto done;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) { cli_error(C, "%s expects a folder", a); goto done; }
            outdir = argv[++i];
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else {
            const opt_def *d = opt_find(a);
            if (!d) { cli_error(C, "unknown option \"%s\" (see trit train -h)", a); goto done; }
            const char *val = d->kind == K_FLAG ? "1" : (i + 1 < argc ? argv[++i] : NULL);
            if (d->off == offsetof(run_opts, data) && given[d - OPTS]) { /* repeated --data: append */
                size_t l = strlen(o->data) + (val ? strlen(val) : 0) + 2;
                char *j = malloc(l);
                if (!j || !val) { free(j); cli_error(C, "--data expects a file"); goto done; }
                snprintf(j, l, "%s,%s", o->data, val);
                free(data_joined);
                o->data = data_joined = j;
                continue;
            }
            if (!opt_set(d, o, val, a)) goto done;
            given[d - OPTS] = 1;
        }
    }
    if (!outdir) { cli_error(C, "no run folder given; use -o RUN_DIR"); goto done; }
    size_t dl = strlen(outdir);
    while (dl > 1 && outdir[dl - 1] == '/') dl--;
    if (dl >= sizeof r->dir) { cli_error(C, "-o: path too long"); goto done; }
    memcpy(r->dir, outdir, dl);
    r->dir[dl] = 0;
    snprintf(r->ckpt, sizeof r->ckpt, "%s/checkpoint.safetensors", r->dir);
    snprintf(r->cache, sizeof r->cache, "%s/tokens.bin", r->dir);
    snprintf(r->csv, sizeof r->csv, "%s/log.csv", r->dir);
    snprintf(r->svg, sizeof r->svg, "%s/loss.svg", r->dir);

    trit_error err = {0};
    if (resume) {
        if (!file_exists(r->ckpt)) {
            cli_error(C, "--resume: %s holds no checkpoint (%s is missing)", r->dir, r->ckpt);
            goto done;
        }
        if (tc_read_state(r->ckpt, &rs, &err) != TRIT_OK) { cli_error(C, "--resume: %s", err.msg); goto done; }
        char eb[256];
        saved = json_parse(rs.run_json, strlen(rs.run_json), eb, sizeof eb);
        if (!saved || json_root(saved)->type != JSON_OBJECT) {
            cli_error(C, "--resume: %s: the saved options (trit.run) are malformed: %s", r->ckpt, eb);
            goto done;
        }
        if (!opts_merge(o, given, json_root(saved))) goto done;
        r->cfg = rs.cfg;
        r->saved_step = rs.step;
    } else {
        if (file_exists(r->ckpt)) {
            cli_error(C, "%s already holds a run (%s); continue it with --resume, or choose another -o", r->dir,
                      r->ckpt);
            goto done;
        }
    }
    if (!o->tokenizer) { cli_error(C, "no tokenizer given; use --tokenizer PATH (tokenizer.json or a folder)"); goto done; }
    if (!o->data) { cli_error(C, "no training data given; use --data FILE[,FILE...]"); goto done; }
    int quant = parse_quant(o->quant), sched = parse_schedule(o->schedule);
    if (quant < 0) { cli_error(C, "--quant \"%s\": use absmean, absmedian, binary or none", o->quant); goto done; }
    if (sched < 0) { cli_error(C, "--schedule \"%s\": use constant, two-stage or cosine", o->schedule); goto done; }
    install_signals();

    tok_load_params tp = tok_default_load_params();
    tp.regex = tok_pcre2_api();
    if (tok_load(o->tokenizer, &tp, &tk, &err) != TRIT_OK) { cli_error(C, "--tokenizer: %s", err.msg); goto done; }
    if (!resume && !resolve_model(r, given, tk)) goto done;
    if (tok_n_vocab(tk) > r->cfg.vocab_size) {
        cli_error(C, "the tokenizer %s has %d ids but the model's vocabulary has %lld; they do not belong together "
                  "(%s)", o->tokenizer, (int)tok_n_vocab(tk), (long long)r->cfg.vocab_size,
                  o->init ? "use the --init model's own tokenizer" : "raise --vocab, or leave it out to use the "
                  "tokenizer's size");
        goto done;
    }
    if (o->warmup < 0) o->warmup = o->steps / 10 < 100 ? o->steps / 10 : 100;
    if (o->min_lr < 0) o->min_lr = o->lr / 10;

    trit_train_params p = trit_train_default_params();
    p.quant = (trit_quant)quant;
    p.lambda_ramp_steps = o->lambda_ramp;
    p.batch = o->batch;
    p.seq = o->ctx;
    p.lr = o->lr;
    p.min_lr = o->min_lr;
    p.beta1 = o->beta1;
    p.beta2 = o->beta2;
    p.weight_decay = o->wd;
    p.grad_clip = o->clip;
    p.warmup_steps = o->warmup;
    p.total_steps = o->steps;
    p.schedule = (trit_lr_schedule)sched;
    p.n_threads = (int)o->threads;
    if (trit_trainer_new(&r->cfg, &p, &r->t, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
    r->ids = malloc((size_t)(o->batch * (o->ctx + 1)) * sizeof *r->ids);
    if (!r->ids) { cli_error(C, "out of memory"); goto done; }
    if (resume) {
        if (tc_restore(r->ckpt, r->t, &err) != TRIT_OK) { cli_error(C, "--resume: %s", err.msg); goto done; }
        r->rng = rs.rng;
        r->guard = rs.guard;
    } else {
        if (o->init) {
            if (tc_init_weights(o->init, r->t, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }
        } else {
            trit_trainer_init_random(r->t, (uint64_t)o->seed, (float)o->init_std);
        }
        r->rng = (uint64_t)o->seed ^ 0xD1B54A32D192ED03ull;
        tg_init(&r->guard, 0);
    }
    r->guard.factor = o->spike;
    if (!resume && !make_dirs(r->dir)) {
        cli_error(C, "cannot create the run folder %s: %s", r->dir, strerror(errno));
        goto done;
    }
    if (!load_data(r, tk, resume, rs.data_checksum)) {
        if (g_stop_signal) rc = g_stop_signal == SIGTERM ? 143 : 130;
        goto done;
    }
    if (tl_open(&r->log, r->csv, resume ? rs.step : -1, &err) != TRIT_OK) { cli_error(C, "%s", err.msg); goto done; }

    int64_t step = trit_trainer_get_step(r->t);
    say(&r->pg, "%s %s: %lld parameters (dim %lld, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld%s), quant %s, "
        "%lld x %lld tokens per step, %s schedule, lr %g, %d threads, %.0f MiB of parameter state and %.0f MiB "
        "of activations", resume ? "resuming" : "new run", r->dir,
        (long long)trit_trainer_n_params(r->t), (long long)r->cfg.hidden_size, (long long)r->cfg.n_layers,
        (long long)r->cfg.n_heads, (long long)r->cfg.n_kv_heads, (long long)r->cfg.intermediate_size,
        (long long)r->cfg.vocab_size, r->cfg.tie_embeddings ? ", tied" : "", o->quant, (long long)o->batch,
        (long long)o->ctx, o->schedule, o->lr, o->threads ? (int)o->threads : trit_cpu_count(),
        (double)trit_trainer_n_params(r->t) * 4.0 * 5.0 / 1048576.0,
        (double)trit_trainer_activation_bytes(r->t) / 1048576.0);
    if (step >= o->steps) {
        say(&r->pg, "the run is already complete (step %lld of %lld); raise --steps to train further",
            (long long)step, (long long)o->steps);
        rc = 0;
        goto done;
    }
    if (resume) say(&r->pg, "continuing from step %lld of %lld", (long long)step, (long long)o->steps);
    rc = train_loop(r);

done:
    tl_close(&r->log);
    free(r->ids);
    trit_trainer_free(r->t);
    td_split_free(&r->split);
    tok_free(tk);
    json_free(saved);
    tc_state_free(&rs);
    free(data_joined);
    free(r);
    return rc;
}
