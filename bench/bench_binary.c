/*
 * bench_binary.c - single-thread timings of the binary (1-bit) matmul
 * against the ternary one on the BitNet-b1.58-2B-4T shapes (K x N = 2560 x
 * 2560, 2560 x 6912, 6912 x 2560), GEMV (M = 1; "hot": one matrix in cache,
 * "cold": a pool of copies larger than the caches, as in decoding) and GEMM
 * (M = 128). Binary matrices are timed uniform (one scale: what the loader
 * makes from a +-1 checkpoint) and general (a scale per group of 128).
 * Times are the thread's CPU time (robust on a shared machine), median of 5.
 *
 *   build/bench_binary [--isa scalar|avx2|avx512]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/kernels.h"
#include "quant/ternary.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { RUNS = 5, POOL_BYTES = 192 << 20 };

typedef struct {
    int kind; /* 0 ternary, 1 binary uniform, 2 binary general */
    const trit_kernels *k;
    trit_tmat *t;
    trit_bmat *b;
    int64_t npool, M;
    const int8_t *xq;
    const float *xs;
    const int32_t *xsum;
    float *y;
} job;

/* Seconds per call (median of RUNS runs of `calls` calls). */
static double time_job(const job *j, int calls) {
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = cpu_s();
        for (int c = 0; c < calls; c++) {
            int64_t p = c % j->npool;
            if (j->kind == 0)
                j->k->tmatmul(&j->t[p], 1.5f, j->xq, j->xs, j->xsum, j->M, j->y, j->t[p].N, 0, j->t[p].Q);
            else
                j->k->bmatmul(&j->b[p], 1.5f, j->xq, j->xs, j->xsum, j->M, j->y, j->b[p].N, 0, j->b[p].N);
        }
        t[r] = (cpu_s() - t0) / calls;
    }
    qsort(t, RUNS, sizeof t[0], cmpd);
    return t[RUNS / 2];
}

int main(int argc, char **argv) {
    trit_isa isa = trit_cpu_isa();
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--isa"))
            isa = !strcmp(argv[i + 1], "scalar") ? TRIT_ISA_SCALAR : !strcmp(argv[i + 1], "avx2") ? TRIT_ISA_AVX2
                                                                                                    : TRIT_ISA_AVX512;
    const trit_kernels *k = trit_kernels_for(isa);
    printf("level %s; times: thread CPU, median of %d\n", k->name, RUNS);
    printf("%-6s %-6s %-5s %-8s %-6s %10s %8s %8s\n", "K", "N", "M", "kind", "cache", "us/call", "GB/s", "GOPS");
    const int64_t shapes[][2] = {{2560, 2560}, {2560, 6912}, {6912, 2560}};
    for (int s = 0; s < 3; s++) {
        const int64_t K = shapes[s][0], N = shapes[s][1], Q = N / 4, nb = trit_q1_blocks(K);
        const size_t tb = (size_t)(Q * K), bb = (size_t)(N * nb) * sizeof(trit_q1_block);
        const int64_t Mmax = 128;
        int8_t *xq = malloc((size_t)(Mmax * K));
        float xs[128], *y = malloc((size_t)(Mmax * N) * 4);
        int32_t xsum[128];
        for (int64_t m = 0; m < Mmax; m++) {
            float *x = malloc((size_t)K * 4);
            for (int64_t i = 0; i < K; i++) x[i] = (float)((int64_t)(rnd() % 2001) - 1000) / 1000.0f;
            xs[m] = trit_act_quant(x, K, xq + m * K, &xsum[m]);
            free(x);
        }
        for (int kind = 0; kind < 3; kind++) {
            const size_t bytes = kind == 0 ? tb : bb;
            const int64_t pool = (int64_t)(POOL_BYTES / bytes) + 1;
            uint8_t *mem = malloc(bytes * (size_t)pool);
            for (size_t i = 0; i < bytes * (size_t)pool; i++) mem[i] = (uint8_t)rnd();
            trit_tmat *t = calloc((size_t)pool, sizeof *t);
            trit_bmat *b = calloc((size_t)pool, sizeof *b);
            for (int64_t p = 0; p < pool; p++) {
                uint8_t *base = mem + (size_t)p * bytes;
                if (kind == 0) {
                    for (size_t i = 0; i < bytes; i++) base[i] &= 0xAA; /* codes 0/2 */
                    t[p] = (trit_tmat){N, K, Q, base};
                } else {
                    trit_q1_block *bl = (trit_q1_block *)(void *)base;
                    for (int64_t i = 0; i < N * nb; i++)
                        bl[i].d = kind == 1 ? 0x3C00 : (uint16_t)(0x3000 + (rnd() & 0x0FFF));
                    b[p] = (trit_bmat){N, K, nb, kind == 1, bl};
                }
            }
            static const char *names[3] = {"ternary", "bin-uni", "bin-gen"};
            for (int cfg = 0; cfg < 3; cfg++) {
                const int64_t M = cfg == 2 ? 128 : 1;
                const int cold = cfg == 1;
                job j = {kind, k, t, b, cold ? pool : 1, M, xq, xs, xsum, y};
                int calls = cold ? (int)pool : M == 1 ? 200 : 3;
                double sec = time_job(&j, calls);
                printf("%-6lld %-6lld %-5lld %-8s %-6s %10.1f %8.2f %8.1f\n", (long long)K, (long long)N, (long long)M,
                       names[kind], M > 1 ? "-" : cold ? "cold" : "hot", sec * 1e6, (double)bytes / sec / 1e9,
                       2.0 * (double)(M * N * K) / sec / 1e9);
                fflush(stdout);
            }
            free(mem); free(t); free(b);
        }
        free(xq); free(y);
    }
    return 0;
}
