/*
 * bench_tpack.c - GEMV (M = 1, weights streamed from memory) and GEMM
 * (M = 128) of the ternary kernels on the BitNet-b1.58-2B-4T shapes, for the
 * Hugging Face layout (tmatmul) and the repacked layouts of tpack.h (I2,
 * T1, TL), with 1 and 2 threads (the work split by rows as in forward.c).
 *
 * Cold GEMV: a pool of copies of the matrix (768 MiB; huge pages asked for
 * with madvise, as the loader does), one call per copy, so codes stream from
 * memory. GB/s counts the bytes of the format read. Median of 5 runs, wall
 * clock (--cputime: CPU time of the calling thread, 1 thread only).
 *
 *   build/bench_tpack [--isa scalar|avx2|avx512] [--quick] [--cputime] [--threads N] [--shape q|gate|down|kv]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "kernels/kernels.h"
#include "kernels/tpack.h"

enum { RUNS = 5, MG = 128, HF = 0 };

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static int use_cpu;
/* Seconds: wall clock, or with --cputime the calling thread's CPU time. */
static double now_s(void) {
    if (!use_cpu) return trit_now();
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double med(double *v) {
    qsort(v, RUNS, sizeof *v, cmpd);
    return v[RUNS / 2];
}

/* Fills n bytes with valid codes of format fmt (HF and I2: 2-bit fields
 * 0..2; T1: any byte; TL: 5-bit fields < 27). */
static void fill(uint8_t *p, size_t n, int fmt) {
    if (fmt == TRIT_TPK_T1) {
        for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
    } else if (fmt == TRIT_TPK_TL) {
        for (size_t i = 0; i + 1 < n; i += 2) {
            uint64_t r = rnd();
            uint16_t v = (uint16_t)((r % 27) | ((r >> 8) % 27) << 5 | ((r >> 16) % 27) << 10);
            memcpy(p + i, &v, 2);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd();
            p[i] = (uint8_t)((r % 3) | ((r >> 8) % 3) << 2 | ((r >> 16) % 3) << 4 | ((r >> 24) % 3) << 6);
        }
    }
}

typedef struct {
    int fmt;
    const trit_kernels *hk;
    const trit_tpk_kernels *tk;
    trit_tmat hf;
    trit_tpk tp;
    const int8_t *xq;
    const float *xs;
    const int32_t *xsum;
    int64_t M;
    float *y;
} job;

static void job_run(void *arg, int ith, int nth) {
    job *j = arg;
    int64_t lo, hi;
    if (j->fmt == HF) {
        trit_split(j->hf.Q, ith, nth, 4, &lo, &hi);
        if (lo < hi) j->hk->tmatmul(&j->hf, 1.5f, j->xq, j->xs, j->xsum, j->M, j->y, j->hf.N, lo, hi);
    } else {
        trit_split(j->tp.N, ith, nth, TRIT_TPK_ALIGN, &lo, &hi);
        if (lo < hi) j->tk->mm[j->fmt](&j->tp, 1.5f, j->xq, j->xs, j->xsum, j->M, j->y, j->tp.N, lo, hi);
    }
}

static const char *fname(int f) {
    return f == HF ? "hf" : f == TRIT_TPK_I2 ? "i2" : f == TRIT_TPK_T1 ? "t1 (1.6b)" : "tl (lut)";
}

int main(int argc, char **argv) {
    int quick = 0, nthreads = 2;
    trit_isa isa = trit_cpu_isa();
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--cputime")) use_cpu = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *n = argv[++i];
            isa = !strcmp(n, "scalar") ? TRIT_ISA_SCALAR : !strcmp(n, "avx2") ? TRIT_ISA_AVX2 : TRIT_ISA_AVX512;
        } else {
            fprintf(stderr, "usage: bench_tpack [--isa L] [--quick] [--threads N] [--shape q|gate|down|kv]\n");
            return 2;
        }
    }
    const size_t pool_bytes = quick ? ((size_t)64 << 20) : ((size_t)768 << 20);
    uint8_t *pool = NULL;
    if (posix_memalign((void **)&pool, 2 << 20, pool_bytes)) return 1;
    madvise(pool, pool_bytes, MADV_HUGEPAGE);
    trit_pool *tp1 = trit_pool_new(1), *tpn = trit_pool_new(nthreads);
    int8_t *xq = malloc((size_t)MG * 6912);
    float xs[MG], *y = malloc((size_t)MG * 6912 * 4);
    int32_t xsum[MG];
    for (int64_t i = 0; i < (int64_t)MG * 6912; i++) xq[i] = (int8_t)(rnd() % 255 - 127);
    for (int m = 0; m < MG; m++) {
        xs[m] = 0.01f;
        xsum[m] = 0; /* any value: timing only */
    }
    printf("# bench_tpack: level %s, cold GEMV (pool %zu MiB, median of %d, wall clock), GEMM M = %d\n",
           trit_isa_str(isa), pool_bytes >> 20, RUNS, MG);
    printf("| shape   | K    | N    | format    | MB    | GEMV 1t us | GB/s  | GEMV %dt us | GB/s  | GEMM %dt us | GOPS  |\n",
           nthreads, nthreads);
    printf("| ------- | ---- | ---- | --------- | ----- | ---------- | ----- | ---------- | ----- | ---------- | ----- |\n");
    const struct { int64_t K, N; const char *n; } shapes[] = {
        {2560, 2560, "q"}, {2560, 6912, "gate"}, {6912, 2560, "down"}, {2560, 640, "kv"}};
    for (size_t s = 0; s < 4; s++) {
        if (only && strcmp(only, shapes[s].n)) continue;
        const int64_t K = shapes[s].K, N = shapes[s].N;
        for (int fmt = HF; fmt <= TRIT_TPK_TL; fmt++) {
            job j = {fmt, trit_kernels_for(isa), trit_tpk_kernels_for(isa), {N, K, (N + 3) / 4, NULL}, {0}, xq, xs,
                     xsum, 1, y};
            size_t mat = fmt == HF ? (size_t)(j.hf.Q * K) : trit_tpk_geometry(&j.tp, fmt, N, K);
            mat = (mat + 4095) & ~(size_t)4095;
            fill(pool, pool_bytes, fmt);
            const int64_t copies = (int64_t)(pool_bytes / mat);
            double t1[RUNS], tn[RUNS], tg[RUNS];
            for (int pass = 0; pass < 2; pass++) {
                trit_pool *p = pass ? tpn : tp1;
                double *t = pass ? tn : t1;
                for (int r = 0; r < RUNS; r++) {
                    double t0 = now_s();
                    for (int64_t c = 0; c < copies; c++) {
                        j.hf.codes = pool + c * mat;
                        j.tp.data = pool + c * mat;
                        trit_pool_run(p, job_run, &j);
                    }
                    t[r] = (now_s() - t0) / (double)copies;
                }
            }
            j.M = MG;
            j.hf.codes = pool;
            j.tp.data = pool;
            trit_pool_run(tpn, job_run, &j);
            for (int r = 0; r < RUNS; r++) {
                double t0 = now_s();
                trit_pool_run(tpn, job_run, &j);
                tg[r] = now_s() - t0;
                if (quick) { for (int i = r + 1; i < RUNS; i++) tg[i] = tg[r]; break; }
            }
            double a = med(t1), b = med(tn), g = med(tg);
            size_t bytes = fmt == HF ? (size_t)(j.hf.Q * K) : (size_t)(trit_tpk_bands(&j.tp) * j.tp.band_bytes);
            printf("| %-7s | %4lld | %4lld | %-9s | %5.2f | %10.1f | %5.1f | %10.1f | %5.1f | %10.0f | %5.0f |\n",
                   shapes[s].n, (long long)K, (long long)N, fname(fmt), (double)bytes / 1e6, a * 1e6,
                   (double)bytes / a / 1e9, b * 1e6, (double)bytes / b / 1e9, g * 1e6,
                   2.0 * MG * (double)N * (double)K / g / 1e9);
            fflush(stdout);
        }
    }
    trit_pool_free(tp1);
    trit_pool_free(tpn);
    free(pool); free(xq); free(y);
    return 0;
}
