/*
 * bench_train.c - training speed of trit's trainer: tokens/s of full
 * optimizer steps (forward + backward + clipping + AdamW) on a BitNet b1.58
 * model, the same model and batch as bench/train_pytorch.py.
 *
 *   build/bench_train [-t THREADS] [--steps N] [--warmup N] [--quant absmean|absmedian|binary|none]
 *                     [--dim D] [--ffn F] [--layers L] [--heads H] [--kv-heads KV] [--vocab V]
 *                     [--batch B] [--seq T]
 *
 * Defaults: D 512, F 1536, 4 layers, 8 heads / 4 kv heads, vocab 4096, tied
 * embeddings (14.7M parameters), batch 4 x 256 tokens, 2 threads, absmean,
 * 2 warm-up steps then 5 timed steps. Token ids are uniform random (the
 * speed does not depend on them). Prints the median, mean and best step
 * time and tokens/s (batch x seq tokens per step), and the CPU time per
 * step (all threads; on a machine shared with other jobs, tokens per CPU
 * second times the thread count estimates the unloaded speed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "trit_train.h"

/* Parses argv[i + 1] as an integer in [lo, hi] into *out; exits on error. */
static int64_t arg_int(int argc, char **argv, int i, int64_t lo, int64_t hi) {
    if (i + 1 >= argc) {
        fprintf(stderr, "bench_train: %s needs a value\n", argv[i]);
        exit(1);
    }
    char *end;
    long long v = strtoll(argv[i + 1], &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "bench_train: %s %s: expected an integer in [%lld, %lld]\n", argv[i], argv[i + 1],
                (long long)lo, (long long)hi);
        exit(1);
    }
    return v;
}

/* CPU seconds used by the process so far (all threads). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* qsort comparator of doubles. */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    trit_train_config cfg = {4096, 512, 1536, 4, 8, 4, 1024, 10000.0, 1e-5, 1};
    trit_train_params p = trit_train_default_params();
    p.batch = 4;
    p.seq = 256;
    p.n_threads = 2;
    p.warmup_steps = 10;
    int64_t steps = 5, warm = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-t")) p.n_threads = (int)arg_int(argc, argv, i++, 1, 1024);
        else if (!strcmp(a, "--steps")) steps = arg_int(argc, argv, i++, 1, 100000);
        else if (!strcmp(a, "--warmup")) warm = arg_int(argc, argv, i++, 0, 100000);
        else if (!strcmp(a, "--dim")) cfg.hidden_size = arg_int(argc, argv, i++, 8, 1 << 16);
        else if (!strcmp(a, "--ffn")) cfg.intermediate_size = arg_int(argc, argv, i++, 8, 1 << 18);
        else if (!strcmp(a, "--layers")) cfg.n_layers = arg_int(argc, argv, i++, 1, 1024);
        else if (!strcmp(a, "--heads")) cfg.n_heads = arg_int(argc, argv, i++, 1, 1024);
        else if (!strcmp(a, "--kv-heads")) cfg.n_kv_heads = arg_int(argc, argv, i++, 1, 1024);
        else if (!strcmp(a, "--vocab")) cfg.vocab_size = arg_int(argc, argv, i++, 2, 1 << 22);
        else if (!strcmp(a, "--batch")) p.batch = arg_int(argc, argv, i++, 1, 1 << 16);
        else if (!strcmp(a, "--seq")) p.seq = arg_int(argc, argv, i++, 1, 1 << 16);
        else if (!strcmp(a, "--quant") && i + 1 < argc) {
            const char *q = argv[++i];
            p.quant = !strcmp(q, "absmean") ? TRIT_QUANT_ABSMEAN : !strcmp(q, "absmedian") ? TRIT_QUANT_ABSMEDIAN
                    : !strcmp(q, "binary") ? TRIT_QUANT_BINARY : !strcmp(q, "none") ? TRIT_QUANT_NONE : (trit_quant)-1;
        } else {
            fprintf(stderr, "bench_train: unknown option %s (see the comment at the top of bench/bench_train.c)\n", a);
            return 1;
        }
    }
    if (cfg.max_position < p.seq) cfg.max_position = p.seq;
    trit_trainer *t = NULL;
    trit_error err = {0};
    if (trit_trainer_new(&cfg, &p, &t, &err) != TRIT_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    trit_trainer_init_random(t, 1, 0.02f);
    int64_t per = p.batch * (p.seq + 1);
    int32_t *ids = malloc((size_t)per * sizeof(int32_t));
    uint64_t s = 12345;
    for (int64_t i = 0; i < per; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)cfg.vocab_size);
    }
    double *times = malloc((size_t)steps * sizeof(double)), total = 0, cpu = 0;
    float loss = 0;
    for (int64_t k = 0; k < warm + steps; k++) {
        trit_train_stats st;
        double t0 = trit_time_s(), c0 = cpu_s();
        if (trit_trainer_step(t, ids, &st, &err) != TRIT_OK) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
        double el = trit_time_s() - t0, cel = cpu_s() - c0;
        loss = st.loss;
        if (k >= warm) {
            times[k - warm] = el;
            total += el;
            cpu += cel;
        }
    }
    qsort(times, (size_t)steps, sizeof(double), cmp_double);
    double med = times[steps / 2], tok = (double)(p.batch * p.seq);
    printf("trit train: %.2fM params, batch %lld x %lld, %d threads, kernels %s: step %.1f ms median "
           "(%.1f mean, best %.1f) = %.0f tokens/s median (best %.0f); CPU %.2f s/step = %.0f tokens per CPU "
           "second; last loss %.4f\n",
           (double)trit_trainer_n_params(t) / 1e6, (long long)p.batch, (long long)p.seq, p.n_threads,
           trit_isa_name(), med * 1e3, total / (double)steps * 1e3, times[0] * 1e3, tok / med, tok / times[0],
           cpu / (double)steps, tok * (double)steps / cpu, (double)loss);
    free(times);
    free(ids);
    trit_trainer_free(t);
    return 0;
}
