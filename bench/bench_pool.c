/*
 * bench_pool.c - cost of one thread-pool job (dispatch + completion).
 *
 *   build/bench_pool [-t THREADS] [-n JOBS]
 *
 * Runs JOBS back-to-back jobs on a pool and reports the wall time per job:
 * empty jobs (pure synchronization), jobs that touch one cache line per
 * thread, and jobs separated by a 1 ms pause on the caller (the workers have
 * gone to sleep: the wake-up path). Medians of 5 rounds.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"

typedef struct { _Alignas(64) long v; } slot;
typedef struct { slot s[64]; } tiny_state;

static void empty_task(void *arg, int ith, int nth) { (void)arg; (void)ith; (void)nth; }

static void tiny_task(void *arg, int ith, int nth) {
    tiny_state *t = arg;
    t->s[ith].v++;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void pause_ns(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    int threads = 2, jobs = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) jobs = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [-t threads] [-n jobs]\n", argv[0]); return 2; }
    }
    trit_pool *p = trit_pool_new(threads);
    if (!p) { fprintf(stderr, "no pool\n"); return 1; }
    tiny_state st = {0};
    printf("pool of %d threads, %d jobs per round, median of 5 rounds\n", trit_pool_size(p), jobs);
    const char *names[3] = {"empty job", "tiny job (1 line/thread)", "job after 1 ms idle"};
    for (int kind = 0; kind < 3; kind++) {
        int n = kind == 2 ? 200 : jobs;
        double r[5];
        for (int round = 0; round < 5; round++) {
            double tot = 0;
            if (kind < 2) {
                double t0 = trit_now();
                for (int j = 0; j < n; j++) trit_pool_run(p, kind ? tiny_task : empty_task, &st);
                tot = trit_now() - t0;
            } else {
                for (int j = 0; j < n; j++) {
                    pause_ns(1000000);
                    double t0 = trit_now();
                    trit_pool_run(p, empty_task, &st);
                    tot += trit_now() - t0;
                }
            }
            r[round] = tot / n * 1e6;
        }
        qsort(r, 5, sizeof r[0], cmp_d);
        printf("  %-26s %8.3f us/job (min %.3f, max %.3f)\n", names[kind], r[2], r[0], r[4]);
    }
    trit_pool_free(p);
    return 0;
}
