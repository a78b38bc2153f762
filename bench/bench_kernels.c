/*
 * bench_kernels.c - single-thread timings of the matrix kernels of every
 * kernel level this CPU has, on the BitNet-b1.58-2B-4T shapes:
 *   tmatmul GEMV (M = 1) and GEMM (M = 128) for K x N = 2560 x 2560 (q/o),
 *   2560 x 6912 (gate/up), 6912 x 2560 (down), 2560 x 640 (k/v);
 *   dmatmul bf16 GEMV for the lm_head, N = 128256, K = 2560.
 * GEMV is timed twice: "hot" (one matrix, called again and again, so its
 * codes stay in cache) and "cold" (a pool of copies larger than the caches,
 * one call per copy, so codes stream from memory as in decoding). Each figure
 * is the median of 5 runs of wall-clock time; on a machine shared with other
 * work, --cputime times with the thread's CPU time instead (time spent
 * descheduled does not count) and --best reports the fastest run. GB/s
 * counts weight bytes read; GOPS counts 2*M*N*K (multiply + add). A plain
 * read of a large buffer gives the single-thread memory bandwidth for
 * comparison.
 *
 *   build/bench_kernels [--quick] [--best] [--cputime] [--isa scalar|avx2|avx512|neon|neon_dotprod]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/kernels.h"
#include "quant/ternary.h"

enum { RUNS = 5 };

/* Command-line options. */
typedef struct {
    int quick;   /* smaller pools and fewer repetitions (a smoke test)      */
    int best;    /* report the fastest run instead of the median            */
    int cputime; /* time with CLOCK_THREAD_CPUTIME_ID instead of wall clock */
} bopts;

/* Seconds on the clock the options select. */
static double clock_s(const bopts *o) {
    if (!o->cputime) return trit_now();
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *xmalloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64)) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median (or with best the minimum) of n timings; sorts v. */
static double median(double *v, int n, int best) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    if (best) return v[0];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Fills n bytes with valid packed ternary codes (each 2-bit field 0..2). */
static void fill_codes(uint8_t *p, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next_rand(s);
        p[i] = (uint8_t)((r % 3) | ((r >> 8) % 3) << 2 | ((r >> 16) % 3) << 4 | ((r >> 24) % 3) << 6);
    }
}

/* Single-thread read bandwidth over a buffer of n bytes (GB/s, median). */
static double read_bw(const uint8_t *buf, size_t n, const bopts *o) {
    double t[RUNS];
    volatile uint64_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = clock_s(o);
        uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const uint64_t *p = (const uint64_t *)buf;
        for (size_t i = 0; i + 8 <= n / 8; i += 8) {
            a0 += p[i] ^ p[i + 4];
            a1 += p[i + 1] ^ p[i + 5];
            a2 += p[i + 2] ^ p[i + 6];
            a3 += p[i + 3] ^ p[i + 7];
        }
        sink += a0 + a1 + a2 + a3;
        t[r] = clock_s(o) - t0;
    }
    (void)sink;
    return (double)n / median(t, RUNS, o->best) / 1e9;
}

typedef struct {
    int64_t K, N;
    const char *what;
} shape;

/* Times tmatmul of kt on one shape: GEMV hot and cold, GEMM (M = 128). */
static void bench_tmat(const trit_kernels *kt, shape sh, uint8_t *pool, size_t pool_bytes, const bopts *o) {
    const int64_t K = sh.K, N = sh.N, Q = (N + 3) / 4, MG = 128;
    const size_t mat = (size_t)(Q * K);
    const int64_t copies = (int64_t)(pool_bytes / mat);
    int8_t *xq = xmalloc((size_t)(MG * K));
    float *xs = xmalloc((size_t)MG * sizeof(float)), *y = xmalloc((size_t)(MG * N) * sizeof(float));
    int32_t *xsum = xmalloc((size_t)MG * sizeof(int32_t));
    uint64_t s = 12345;
    for (int64_t m = 0; m < MG; m++) {
        int32_t sum = 0;
        for (int64_t k = 0; k < K; k++) {
            xq[m * K + k] = (int8_t)(next_rand(&s) % 255 - 127);
            sum += xq[m * K + k];
        }
        xsum[m] = sum;
        xs[m] = 0.01f;
    }
    double t[RUNS];
    /* GEMV hot: repeat one matrix for about 10 ms */
    trit_tmat w = {N, K, Q, pool};
    double t0 = clock_s(o);
    kt->tmatmul(&w, 1.5f, xq, xs, xsum, 1, y, N, 0, Q);
    double one = clock_s(o) - t0;
    int reps = (int)(0.01 / (one > 1e-7 ? one : 1e-7)) + 1;
    if (o->quick && reps > 3) reps = 3;
    for (int r = 0; r < RUNS; r++) {
        t0 = clock_s(o);
        for (int i = 0; i < reps; i++) kt->tmatmul(&w, 1.5f, xq, xs, xsum, 1, y, N, 0, Q);
        t[r] = (clock_s(o) - t0) / reps;
    }
    double hot = median(t, RUNS, o->best);
    /* GEMV cold: one call per copy of the pool */
    int64_t nc = o->quick && copies > 8 ? 8 : copies;
    for (int r = 0; r < RUNS; r++) {
        t0 = clock_s(o);
        for (int64_t c = 0; c < nc; c++) {
            trit_tmat wc = {N, K, Q, pool + (size_t)c * mat};
            kt->tmatmul(&wc, 1.5f, xq, xs, xsum, 1, y, N, 0, Q);
        }
        t[r] = (clock_s(o) - t0) / (double)nc;
    }
    double cold = median(t, RUNS, o->best);
    /* GEMM M = 128 on one (cached) matrix, after one untimed call */
    kt->tmatmul(&w, 1.5f, xq, xs, xsum, MG, y, N, 0, Q);
    for (int r = 0; r < RUNS; r++) {
        t0 = clock_s(o);
        kt->tmatmul(&w, 1.5f, xq, xs, xsum, MG, y, N, 0, Q);
        t[r] = clock_s(o) - t0;
        if (o->quick) {
            for (int i = r + 1; i < RUNS; i++) t[i] = t[r];
            break;
        }
    }
    double gemm = median(t, RUNS, o->best);
    const double ops1 = 2.0 * (double)N * (double)K;
    printf("| %-6s | tmatmul %-9s | %5lld | %5lld | %8.1f | %6.1f | %6.1f | %8.1f | %6.1f | %9.0f | %7.1f |\n", kt->name,
           sh.what, (long long)K, (long long)N, hot * 1e6, (double)mat / hot / 1e9, ops1 / hot / 1e9, cold * 1e6,
           (double)mat / cold / 1e9, gemm * 1e6, ops1 * MG / gemm / 1e9);
    fflush(stdout);
    free(xq); free(xs); free(y); free(xsum);
}

/* Times dmatmul of kt on the bf16 lm_head (M = 1; streams from memory). */
static void bench_lm_head(const trit_kernels *kt, const uint16_t *wb, int64_t N, int64_t K, const bopts *o) {
    float *x = xmalloc((size_t)K * sizeof(float)), *y = xmalloc((size_t)N * sizeof(float));
    uint64_t s = 99;
    for (int64_t k = 0; k < K; k++) x[k] = (float)(next_rand(&s) % 2001) / 1000.0f - 1.0f;
    trit_dmat w = {N, K, ST_BF16, wb};
    int64_t n1 = o->quick ? N / 16 : N;
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = clock_s(o);
        kt->dmatmul(&w, x, 1, y, N, 0, n1);
        t[r] = clock_s(o) - t0;
    }
    double tm = median(t, RUNS, o->best);
    double bytes = (double)n1 * (double)K * 2;
    printf("| %-6s | dmatmul bf16 lm_head | %5lld | %6lld | %8.1f | %6.1f | %6.1f |\n", kt->name, (long long)K,
           (long long)n1, tm * 1e6, bytes / tm / 1e9, 2.0 * (double)n1 * (double)K / tm / 1e9);
    fflush(stdout);
    free(x); free(y);
}

int main(int argc, char **argv) {
    bopts opt = {0, 0, 0};
    const bopts *o = &opt;
    int only = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) opt.quick = 1;
        else if (!strcmp(argv[i], "--best")) opt.best = 1;
        else if (!strcmp(argv[i], "--cputime")) opt.cputime = 1;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *n = argv[++i];
            only = !strcmp(n, "scalar") ? TRIT_ISA_SCALAR : !strcmp(n, "avx2") ? TRIT_ISA_AVX2
                   : !strcmp(n, "avx512") ? TRIT_ISA_AVX512 : !strcmp(n, "neon") ? TRIT_ISA_NEON
                   : !strcmp(n, "neon_dotprod") ? TRIT_ISA_NEON_DOTPROD : -2;
            if (only == -2) { fprintf(stderr, "bench_kernels: unknown level %s\n", n); return 2; }
        } else {
            fprintf(stderr, "usage: bench_kernels [--quick] [--best] [--cputime] [--isa scalar|avx2|avx512|neon|neon_dotprod]\n");
            return 2;
        }
    }
    const trit_isa best = trit_cpu_isa();
    trit_isa levels[4];
    int nl = 0;
    levels[nl++] = TRIT_ISA_SCALAR;
    if (best == TRIT_ISA_AVX2 || best == TRIT_ISA_AVX512) levels[nl++] = TRIT_ISA_AVX2;
    if (best == TRIT_ISA_AVX512) levels[nl++] = TRIT_ISA_AVX512;
    if (best == TRIT_ISA_NEON || best == TRIT_ISA_NEON_DOTPROD) levels[nl++] = TRIT_ISA_NEON;
    if (best == TRIT_ISA_NEON_DOTPROD) levels[nl++] = TRIT_ISA_NEON_DOTPROD;

    const size_t pool_bytes = o->quick ? ((size_t)64 << 20) : ((size_t)768 << 20);
    uint8_t *pool = xmalloc(pool_bytes);
    uint64_t s = 7;
    fill_codes(pool, pool_bytes, &s);
    printf("# bench_kernels: 1 thread, best level %s, %s of %d runs, %s%s\n", trit_isa_str(best),
           o->best ? "fastest" : "median", RUNS, o->cputime ? "thread CPU time" : "wall clock",
           o->quick ? " (quick)" : "");
    printf("# single-thread read bandwidth over %zu MiB: %.1f GB/s\n", pool_bytes >> 20, read_bw(pool, pool_bytes, o));
    printf("# GEMV hot: one matrix again and again (cache-resident where it fits); cold: one call per copy of a\n"
           "# %zu MiB pool (streams from memory). GEMM: M = 128 tokens. GOPS = 2*M*N*K / s.\n\n",
           pool_bytes >> 20);
    printf("| level  | kernel            |     K |     N | hot us   | GB/s   | GOPS   | cold us  | GB/s   | GEMM us   | GOPS    |\n");
    printf("| ------ | ----------------- | ----- | ----- | -------- | ------ | ------ | -------- | ------ | --------- | ------- |\n");
    const shape shapes[] = {{2560, 2560, "q/o"}, {2560, 6912, "gate/up"}, {6912, 2560, "down"}, {2560, 640, "k/v"}};
    for (int l = 0; l < nl; l++) {
        if (only >= 0 && (int)levels[l] != only) continue;
        const trit_kernels *kt = trit_kernels_for(levels[l]);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) bench_tmat(kt, shapes[i], pool, pool_bytes, o);
    }
    free(pool);

    const int64_t VN = 128256, VK = 2560;
    uint16_t *wb = xmalloc((size_t)(VN * VK) * 2);
    for (size_t i = 0; i < (size_t)(VN * VK); i++) {
        uint64_t r = next_rand(&s);
        float f = (float)(int64_t)(r % 20001 - 10000) * 1e-6f;
        wb[i] = trit_f32_to_bf16(f);
    }
    printf("\n| level  | kernel               |     K |      N | us       | GB/s   | GOPS   |\n");
    printf("| ------ | -------------------- | ----- | ------ | -------- | ------ | ------ |\n");
    for (int l = 0; l < nl; l++) {
        if (only >= 0 && (int)levels[l] != only) continue;
        bench_lm_head(trit_kernels_for(levels[l]), wb, VN, VK, o);
    }
    free(wb);
    return 0;
}
