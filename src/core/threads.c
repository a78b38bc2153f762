/*
 * threads.c - the persistent thread pool.
 *
 * Workers are created once. A job is published by storing (fn, arg) and
 * bumping a generation counter; the caller takes part as thread 0, then
 * waits until every worker has bumped the completion counter. Both sides
 * spin on their counter for a bounded time (jobs arrive back to back during
 * a forward pass, microseconds apart) and only then sleep on a condition
 * variable, so a dispatch + completion costs two cache-line transfers while
 * the threads are busy, and no CPU while they are idle.
 *
 * Sleep protocol (no lost wake-ups): a sleeper increments its `*_sleepers`
 * count under the mutex and re-checks its counter before waiting; the other
 * side changes the counter first and then reads the sleeper count (both
 * sequentially consistent), taking the mutex to broadcast only when someone
 * sleeps. Either the waker sees the sleeper or the sleeper sees the change.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"

/* How long a waiting thread spins before it sleeps. Long enough to bridge
 * the serial gaps between the jobs of a forward pass (sampling a token
 * included), short enough not to burn a core while an application idles. */
#define SPIN_NS 300000LL
#define YIELD_NS 50000LL

struct worker { struct trit_pool *p; int ith; };

struct trit_pool {
    int n;                                  /* threads including the caller  */
    pthread_t *tid;
    struct worker *w;
    trit_task_fn fn;                        /* the job (written before gen)  */
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    _Alignas(64) atomic_uint gen;           /* job generation                */
    atomic_int stop;
    atomic_int job_sleepers;                /* workers asleep waiting on gen */
    _Alignas(64) atomic_int done;           /* workers finished this job     */
    atomic_int done_sleeper;                /* the caller sleeps on done     */
};

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Called every 256 spins: returns 0 once SPIN_NS have passed since the
 * first call (*t0 = 0 before it). Past YIELD_NS the spinner also yields its
 * core, which lets a thread it waits for run when the machine has more
 * runnable threads than cores. */
static int spin_tick(long long *t0) {
    long long t = now_ns();
    if (!*t0) *t0 = t;
    if (t - *t0 > SPIN_NS) return 0;
    if (t - *t0 > YIELD_NS) sched_yield();
    return 1;
}

/* Spins until *v != old (returns 1) or SPIN_NS passed (returns 0). */
static int spin_while_uint(atomic_uint *v, unsigned old) {
    long long t0 = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return 1;
        cpu_relax();
        if ((i & 255) == 0 && !spin_tick(&t0)) return 0;
    }
}

/* Spins until *v == want (returns 1) or SPIN_NS passed (returns 0). */
static int spin_until_int(atomic_int *v, int want) {
    long long t0 = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) == want) return 1;
        cpu_relax();
        if ((i & 255) == 0 && !spin_tick(&t0)) return 0;
    }
}

/* ==== workers ==== */

static void *worker_main(void *vw) {
    struct worker *w = vw;
    struct trit_pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        if (!spin_while_uint(&p->gen, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->job_sleepers, 1);
            while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->cv_job, &p->mu);
            atomic_fetch_sub(&p->job_sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
        p->fn(p->arg, w->ith, p->n);
        atomic_fetch_add(&p->done, 1); /* seq_cst: ordered before the sleeper check */
        if (atomic_load(&p->done_sleeper)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* Publishes the job in p->fn/arg (or the stop flag) to the workers. */
static void publish(struct trit_pool *p) {
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: release of fn/arg/done, before the sleeper check */
    if (atomic_load(&p->job_sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_job);
        pthread_mutex_unlock(&p->mu);
    }
}

/* ==== pool ==== */

/* Creates a pool of n_threads (>= 1; the caller counts as one). NULL on failure. */
trit_pool *trit_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 512) n_threads = 512;
    struct trit_pool *p = trit_aligned_alloc(sizeof *p);
    if (!p) return NULL;
    *p = (struct trit_pool){0};
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_job, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->job_sleepers, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->done_sleeper, 0);
    p->tid = calloc((size_t)n_threads, sizeof *p->tid);
    p->w = calloc((size_t)n_threads, sizeof *p->w);
    if (!p->tid || !p->w) { free(p->tid); free(p->w); trit_aligned_free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        p->w[i].p = p;
        p->w[i].ith = i;
        if (pthread_create(&p->tid[i], NULL, worker_main, &p->w[i]) != 0) {
            p->n = i; /* run with the threads we got (workers read n only inside a job) */
            break;
        }
    }
    return p;
}

/* Stops and joins the workers, then frees the pool. */
void trit_pool_free(trit_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    publish(p);
    for (int i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_job);
    pthread_cond_destroy(&p->cv_done);
    free(p->tid);
    free(p->w);
    trit_aligned_free(p);
}

int trit_pool_size(const trit_pool *p) { return p ? p->n : 1; }

/* Runs fn(arg, ith, nth) on every thread of the pool and waits for all.
 * One caller at a time; fn must not call trit_pool_run on the same pool. */
void trit_pool_run(trit_pool *p, trit_task_fn fn, void *arg) {
    if (!p || p->n == 1) { fn(arg, 0, 1); return; }
    const int workers = p->n - 1;
    p->fn = fn;
    p->arg = arg;
    publish(p);
    fn(arg, 0, p->n);
    if (!spin_until_int(&p->done, workers)) {
        pthread_mutex_lock(&p->mu);
        /* A read-modify-write, not a plain seq_cst store: the store-then-load
         * order below must hold on every implementation. qemu-user (aarch64
         * guest on x86) turns a seq_cst store + load pair (STLR, LDAR) into a
         * plain store and load, which x86 may reorder: the last worker then
         * misses the sleeper and the caller sleeps for ever (seen in a test
         * run). An exchange is a locked instruction there and a full
         * barrier everywhere. */
        atomic_exchange(&p->done_sleeper, 1);
        while (atomic_load(&p->done) != workers) pthread_cond_wait(&p->cv_done, &p->mu);
        atomic_store(&p->done_sleeper, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Number of online CPUs, at least 1. */
int trit_n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

/* Monotonic clock in seconds. */
double trit_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int trit_cpu_count(void) { return trit_n_cpus(); }

double trit_time_s(void) { return trit_now(); }
