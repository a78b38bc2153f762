/*
 * bench_head.c - the lm_head of BitNet-b1.58-2B-4T (N = 128256, K = 2560):
 * load-time conversion speed of each block-quantized format, and the time
 * of one matrix-vector product (M = 1, what each generated token needs) and
 * of a small batch (M = 16) on 1 thread and on -t threads, against the bf16
 * kernel the stored head uses. Every matrix is larger than the caches, so
 * M = 1 streams it from memory: GB/s counts the matrix bytes read.
 * Figures are medians of 5 wall-clock runs (--best: the fastest). A plain
 * read of the bf16 matrix ("read") gives the memory bandwidth to compare.
 *
 * --cputime times the 1-thread rows with the thread's CPU time (robust on a
 * machine shared with other work).
 *
 *   build/bench_head [-t 2] [--best] [--quick] [--cputime] [--isa scalar|avx2|avx512] [--fmt q8|q6|q4]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include "kernels/head.h"
#include "io/safetensors.h"

enum { RUNS = 5 };

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median (or with best the minimum) of n timings; sorts v. */
static double pick(double *v, int n, int best) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return best ? v[0] : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Memory with transparent huge pages requested, as the model loader does. */
static void *huge_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "bench_head: out of memory (%zu bytes)\n", n);
        exit(1);
    }
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

/* One pool job: quantization of row groups, or a matmul over rows. */
typedef struct {
    int op; /* 0 quantize, 1 hmatmul, 2 dmatmul, 3 plain read of src (bandwidth) */
    trit_hq_fmt fmt;
    const trit_dmat *src;
    void *tiles;
    const trit_hmat *h;
    const trit_head_kernels *hk;
    const trit_kernels *dk;
    const trit_hq_act *xa;
    const float *x;
    float *y;
    int64_t M, N;
} job;

static void task(void *arg, int ith, int nth) {
    job *j = arg;
    int64_t lo, hi;
    trit_split(j->N, ith, nth, TRIT_HQ_ROWS, &lo, &hi);
    if (lo >= hi) return;
    if (j->op == 0) trit_hq_quantize_rows(j->fmt, j->src, lo, hi, j->tiles);
    else if (j->op == 1) j->hk->hmatmul(j->h, j->xa, j->M, j->y, j->N, lo, hi);
    else if (j->op == 3) { /* sum of 64-bit words of rows [lo, hi) */
        const uint64_t *p = (const uint64_t *)j->src->data + (size_t)lo * (size_t)j->src->K / 4;
        size_t n = (size_t)(hi - lo) * (size_t)j->src->K / 4;
        uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            a0 += p[i] ^ p[i + 4];
            a1 += p[i + 1] ^ p[i + 5];
            a2 += p[i + 2] ^ p[i + 6];
            a3 += p[i + 3] ^ p[i + 7];
        }
        j->y[ith] = (float)(a0 + a1 + a2 + a3);
    }
    else j->dk->dmatmul(j->src, j->x, j->M, j->y, j->N, lo, hi);
}

/* CPU seconds used by the process so far (all threads). */
static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU seconds of the calling thread. */
static double thread_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int use_cputime; /* --cputime: 1-thread timings in thread CPU time */

/* Median wall seconds of RUNS runs of job j on pool p (with --cputime and a
 * 1-thread pool: the thread's CPU seconds, which time spent descheduled by
 * other work does not inflate); *cpu gets the median process CPU seconds
 * (threads waiting in the pool spin briefly, so with several threads it
 * slightly overstates the work). */
static double time_job(trit_pool *p, job *j, int best, double *cpu) {
    double t[RUNS], c[RUNS];
    const int tc = use_cputime && trit_pool_size(p) == 1;
    trit_pool_run(p, task, j); /* warm-up (page faults, pool start) */
    for (int r = 0; r < RUNS; r++) {
        double t0 = tc ? thread_cpu_s() : trit_now(), c0 = cpu_s();
        trit_pool_run(p, task, j);
        t[r] = (tc ? thread_cpu_s() : trit_now()) - t0;
        c[r] = cpu_s() - c0;
    }
    if (cpu) *cpu = pick(c, RUNS, best);
    return pick(t, RUNS, best);
}

int main(int argc, char **argv) {
    int threads = 2, best = 0, quick = 0, only_fmt = -1;
    trit_isa isa = trit_cpu_isa();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--best")) best = 1;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--cputime")) use_cputime = 1;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *n = argv[++i];
            isa = !strcmp(n, "scalar") ? TRIT_ISA_SCALAR : !strcmp(n, "avx2") ? TRIT_ISA_AVX2 : TRIT_ISA_AVX512;
            if (isa > trit_cpu_isa()) { fprintf(stderr, "bench_head: this CPU lacks %s\n", n); return 2; }
        } else if (!strcmp(argv[i], "--fmt") && i + 1 < argc) {
            const char *n = argv[++i];
            only_fmt = !strcmp(n, "q8") ? TRIT_HQ_Q8 : !strcmp(n, "q6") ? TRIT_HQ_Q6 : TRIT_HQ_Q4;
        } else {
            fprintf(stderr, "usage: bench_head [-t N] [--best] [--quick] [--cputime] [--isa scalar|avx2|avx512] [--fmt q8|q6|q4]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    const int64_t N = quick ? 16384 : 128256, K = 2560, B = K / TRIT_HQ_BLOCK, MB = 16;
    const size_t wbytes = (size_t)(N * K) * 2;
    uint16_t *wb = huge_alloc(wbytes);
    uint64_t s = 7;
    for (size_t i = 0; i < (size_t)(N * K); i++) { /* roughly normal, std ~0.02 */
        uint64_t r = next_rand(&s);
        float f = (float)((int)(r & 1023) + (int)((r >> 10) & 1023) + (int)((r >> 20) & 1023) - 1534) * 4e-5f;
        wb[i] = trit_f32_to_bf16(f);
    }
    float *x = malloc((size_t)(MB * K) * 4), *y = malloc((size_t)(MB * N) * 4);
    trit_hq_act *xa = malloc((size_t)(MB * B) * sizeof *xa);
    for (int64_t i = 0; i < MB * K; i++) x[i] = (float)(next_rand(&s) % 2001) / 1000.0f - 1.0f;
    for (int64_t m = 0; m < MB; m++) trit_hq_quantize_act(x + m * K, K, xa + m * B);
    trit_dmat W = {N, K, ST_BF16, wb};
    const trit_head_kernels *hk = trit_head_kernels_for(isa);
    const trit_kernels *dk = trit_kernels_for(isa);
    const int tn[2] = {1, threads};
    trit_pool *pools[2] = {trit_pool_new(1), trit_pool_new(threads)};

    printf("# bench_head: lm_head %lld x %lld, kernels %s / %s, %s of %d runs, %s\n", (long long)N, (long long)K,
           hk->name, dk->name, best ? "fastest" : "median", RUNS,
           use_cputime ? "1 thread: thread CPU time, more threads: wall clock" : "wall clock");
    printf("| format | bytes MiB | threads | convert s (cpu) | M=1 us | M=1 GB/s | M=16 us | M=16 GOPS |\n");
    printf("| ------ | --------: | ------: | --------------: | -----: | -------: | ------: | --------: |\n");
    const double ops = 2.0 * (double)N * (double)K;
    for (int ti = 0; ti < (threads > 1 ? 2 : 1); ti++) {
        job rd = {.op = 3, .src = &W, .y = y, .N = N};
        double tr = time_job(pools[ti], &rd, best, NULL);
        printf("| read   | %9.1f | %7d | %15s | %6.0f | %8.1f | %7s | %9s |\n", (double)wbytes / 1048576.0, tn[ti], "-",
               tr * 1e6, (double)wbytes / tr / 1e9, "-", "-");
        job j = {.op = 2, .src = &W, .dk = dk, .x = x, .y = y, .M = 1, .N = N};
        double t1 = time_job(pools[ti], &j, best, NULL);
        j.M = MB;
        double tm = time_job(pools[ti], &j, best, NULL);
        printf("| bf16   | %9.1f | %7d | %15s | %6.0f | %8.1f | %7.0f | %9.1f |\n", (double)wbytes / 1048576.0, tn[ti],
               "-", t1 * 1e6, (double)wbytes / t1 / 1e9, tm * 1e6, ops * MB / tm / 1e9);
        fflush(stdout);
    }
    for (int f = 0; f < 3; f++) {
        if (only_fmt >= 0 && f != only_fmt) continue;
        trit_hq_fmt fmt = (trit_hq_fmt)f;
        size_t hb = trit_hq_bytes(fmt, N, K);
        void *tiles = huge_alloc(hb);
        trit_hmat H = {fmt, N, K, tiles};
        for (int ti = 0; ti < (threads > 1 ? 2 : 1); ti++) {
            job q = {.op = 0, .fmt = fmt, .src = &W, .tiles = tiles, .N = N};
            double cq, tq = time_job(pools[ti], &q, best, &cq);
            job j = {.op = 1, .h = &H, .hk = hk, .xa = xa, .y = y, .M = 1, .N = N};
            double t1 = time_job(pools[ti], &j, best, NULL);
            j.M = MB;
            double tm = time_job(pools[ti], &j, best, NULL);
            printf("| %-6s | %9.1f | %7d | %6.3f (%6.3f) | %6.0f | %8.1f | %7.0f | %9.1f |\n", trit_hq_name(fmt),
                   (double)hb / 1048576.0, tn[ti], tq, cq, t1 * 1e6, (double)hb / t1 / 1e9, tm * 1e6, ops * MB / tm / 1e9);
            fflush(stdout);
        }
        munmap(tiles, hb);
    }
    trit_pool_free(pools[0]);
    trit_pool_free(pools[1]);
    munmap(wb, wbytes);
    free(x); free(y); free(xa);
    return 0;
}
