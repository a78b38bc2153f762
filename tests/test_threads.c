/*
 * test_threads.c - the thread pool under stress: many tiny jobs, every thread
 * count from 1 to 9, pauses long enough for the workers to fall asleep, and
 * pools made and freed repeatedly. Each job checks that every thread ran
 * exactly once with the right (ith, nth) and saw the previous job's writes.
 */
#include <stdatomic.h>
#include <time.h>
#include "tt.h"
#include "core/core.h"

#define MAXT 16

typedef struct {
    int nth_expected;
    long gen;                 /* job number, set by the caller before each job */
    long seen[MAXT];          /* thread i writes gen here                     */
    long sum[MAXT];           /* per-thread running sums                      */
    atomic_int calls, bad;
} state;

static void check_task(void *arg, int ith, int nth) {
    state *s = arg;
    atomic_fetch_add(&s->calls, 1);
    if (nth != s->nth_expected || ith < 0 || ith >= nth) { atomic_fetch_add(&s->bad, 1); return; }
    /* the previous job's write of this slot (maybe by this thread) is visible */
    if (s->seen[ith] != s->gen - 1) atomic_fetch_add(&s->bad, 1);
    s->seen[ith] = s->gen;
    /* plain (non-atomic) work that the caller checks after the job */
    for (int k = 0; k < 1 + (int)(s->gen % 7); k++) s->sum[ith] += s->gen + k;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void run_many(int nthreads, int jobs, int pause_every) {
    trit_pool *p = trit_pool_new(nthreads);
    CHECK(p != NULL, "pool of %d", nthreads);
    if (!p) return;
    int nth = trit_pool_size(p);
    CHECK(nth == nthreads, "pool size %d, asked %d", nth, nthreads);
    static state s;
    memset(&s, 0, sizeof s);
    s.nth_expected = nth;
    for (int i = 0; i < MAXT; i++) s.seen[i] = 0;
    long want_sum = 0;
    for (long j = 1; j <= jobs; j++) {
        s.gen = j;
        trit_pool_run(p, check_task, &s);
        for (int k = 0; k < 1 + (int)(j % 7); k++) want_sum += j + k;
        /* the caller sees every thread's plain writes once run returns */
        for (int i = 0; i < nth; i++)
            if (s.seen[i] != j) { CHECK(0, "%d threads, job %ld: thread %d saw %ld", nth, j, i, s.seen[i]); j = jobs; }
        if (pause_every && j % pause_every == 0) sleep_us(j % (3 * pause_every) == 0 ? 1500 : 50);
    }
    CHECK(atomic_load(&s.calls) == (long)jobs * nth, "%d threads: %d calls for %d jobs", nth, atomic_load(&s.calls), jobs);
    CHECK(atomic_load(&s.bad) == 0, "%d threads: %d bad calls", nth, atomic_load(&s.bad));
    for (int i = 0; i < nth; i++) CHECK(s.sum[i] == want_sum, "%d threads: thread %d sum %ld != %ld", nth, i, s.sum[i], want_sum);
    trit_pool_free(p);
}

/* Back-to-back tiny jobs: the spinning path. */
static void test_pool_tiny_jobs(void) {
    for (int t = 1; t <= 9; t++) run_many(t, t <= 4 ? 20000 : 3000, 0);
}

/* Pauses between jobs, some longer than the spin budget: the sleep path and
 * its wake-ups, mixed with the spinning path. */
static void test_pool_sleep_wake(void) {
    for (int t = 2; t <= 5; t++) run_many(t, 400, 20);
}

/* Workers that finish around the time the caller stops spinning (the
 * pool's spin budget is 300 us): the caller goes to sleep on the completion
 * count while the last worker finishes, over and over. A lost wake-up here
 * hangs the test (the runner's timeout catches it). */
typedef struct { long gen; atomic_long done; } slow_state;

static void busy_us(long us) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

static void slow_task(void *arg, int ith, int nth) {
    slow_state *s = arg;
    if (ith == nth - 1) busy_us(200 + (s->gen * 37) % 250); /* 200..449 us: both sides of the spin budget */
    atomic_fetch_add(&s->done, 1);
}

static void test_pool_slow_worker(void) {
    for (int t = 2; t <= 3; t++) {
        trit_pool *p = trit_pool_new(t);
        CHECK(p != NULL, "pool");
        if (!p) return;
        static slow_state s;
        s.gen = 0;
        atomic_store(&s.done, 0);
        const long jobs = 1500;
        for (long j = 1; j <= jobs; j++) {
            s.gen = j;
            trit_pool_run(p, slow_task, &s);
            if (atomic_load(&s.done) != j * t) { CHECK(0, "job %ld returned before every thread finished", j); break; }
        }
        trit_pool_free(p);
    }
}

/* Pools made and freed at once and after one job (workers still starting,
 * workers spinning, workers asleep). */
static void test_pool_create_free(void) {
    for (int i = 0; i < 200; i++) {
        trit_pool *p = trit_pool_new(1 + i % 6);
        CHECK(p != NULL, "pool");
        if (!p) return;
        if (i % 3) {
            static state s;
            memset(&s, 0, sizeof s);
            s.nth_expected = trit_pool_size(p);
            s.gen = 1;
            trit_pool_run(p, check_task, &s);
            CHECK(atomic_load(&s.bad) == 0, "bad call");
            if (i % 3 == 2) sleep_us(i % 2 ? 10 : 1000);
        }
        trit_pool_free(p);
    }
    trit_pool_run(NULL, check_task, &(state){.nth_expected = 1, .gen = 1});
}

/* trit_split covers [0, n) exactly with aligned, ordered parts. */
static void test_split(void) {
    for (int64_t n = 0; n < 300; n += 7)
        for (int nth = 1; nth <= 9; nth++)
            for (int64_t al = 1; al <= 16; al *= 4) {
                int64_t prev = 0;
                for (int i = 0; i < nth; i++) {
                    int64_t lo, hi;
                    trit_split(n, i, nth, al, &lo, &hi);
                    CHECK(lo == prev && hi >= lo && hi <= n, "split n=%lld nth=%d", (long long)n, nth);
                    CHECK(lo % al == 0 || lo == n, "alignment");
                    prev = hi;
                }
                CHECK(prev == n, "split covers n=%lld", (long long)n);
            }
}

int main(void) {
    RUN(test_pool_tiny_jobs);
    RUN(test_pool_sleep_wake);
    RUN(test_pool_slow_worker);
    RUN(test_pool_create_free);
    RUN(test_split);
    return TT_END();
}
