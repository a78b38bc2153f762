/*
 * threads.c - the persistent thread pool.
 *
 * Workers are created once and wait on a condition variable between jobs,
 * so a forward pass costs no thread creation. A job is published by bumping
 * a generation counter; the caller takes part as thread 0 and then waits
 * until every worker has reported completion. Workers spin briefly before
 * sleeping, since jobs arrive back to back during a forward pass.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"

struct trit_pool {
    int n;                       /* threads including the caller */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    trit_task_fn fn;
    void *arg;
    atomic_uint_fast64_t gen;    /* job generation */
    atomic_int pending;          /* workers still running the current job */
    atomic_int stop;
    struct worker { struct trit_pool *p; int ith; } *w;
};

/* ==== workers ==== */

static void *worker_main(void *vw) {
    struct worker *w = vw;
    struct trit_pool *p = w->p;
    uint_fast64_t seen = 0;
    for (;;) {
        /* spin a little, then sleep until the generation changes */
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
               !atomic_load(&p->stop) && spins < 4000) {
            spins++;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        if (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_job, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->arg, w->ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* ==== pool ==== */

/* Creates a pool of n_threads (>= 1; the caller counts as one). NULL on failure. */
trit_pool *trit_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 512) n_threads = 512;
    struct trit_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_job, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    p->tid = calloc((size_t)n_threads, sizeof *p->tid);
    p->w = calloc((size_t)n_threads, sizeof *p->w);
    if (!p->tid || !p->w) { free(p->tid); free(p->w); free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        p->w[i].p = p;
        p->w[i].ith = i;
        if (pthread_create(&p->tid[i], NULL, worker_main, &p->w[i]) != 0) {
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    return p;
}

/* Stops and joins the workers, then frees the pool. */
void trit_pool_free(trit_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_job);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_job);
    pthread_cond_destroy(&p->cv_done);
    free(p->tid);
    free(p->w);
    free(p);
}

int trit_pool_size(const trit_pool *p) { return p ? p->n : 1; }

/* Runs fn(arg, ith, nth) on every thread of the pool and waits for all. */
void trit_pool_run(trit_pool *p, trit_task_fn fn, void *arg) {
    if (!p || p->n == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_job);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < 4000) {
        spins++;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->cv_done, &p->mu);
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
