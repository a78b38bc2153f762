/*
 * core.h - internal services shared by every part of the library:
 * error reporting, checked allocation, the persistent thread pool, the
 * activation arena and CPU feature detection.
 */
#ifndef TRIT_CORE_H
#define TRIT_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "trit.h"

#if defined(__GNUC__)
#define TRIT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TRIT_PRINTF(a, b)
#endif

/* ======================================================================== */
/* Errors                                                                    */
/* ======================================================================== */

/* Fills err (if not NULL) with code and a formatted message; returns code. */
trit_status trit_fail(trit_error *err, trit_status code, const char *fmt, ...) TRIT_PRINTF(3, 4);

/* ======================================================================== */
/* Memory                                                                    */
/* ======================================================================== */

/* 64-byte aligned allocation; returns NULL on failure or overflow. */
void *trit_aligned_alloc(size_t bytes);
void trit_aligned_free(void *p);
/* The same for large blocks: 2 MiB aligned, transparent huge pages advised. */
void *trit_large_alloc(size_t bytes);

/* Multiplies a*b into *out; returns 0 on overflow. */
static inline int trit_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Bump allocator for activations: one allocation, carved in 64-byte
 * aligned pieces, reset between forward calls. */
typedef struct {
    uint8_t *base;
    size_t size, used, peak;
} trit_arena;

int trit_arena_init(trit_arena *a, size_t bytes);   /* 1 on success */
void *trit_arena_alloc(trit_arena *a, size_t bytes); /* NULL if full  */
void trit_arena_reset(trit_arena *a);
void trit_arena_free(trit_arena *a);

/* ======================================================================== */
/* Thread pool                                                               */
/* ======================================================================== */

/* A persistent pool: n-1 worker threads that sleep between jobs plus the
 * calling thread. trit_pool_run(p, fn, arg) calls fn(arg, ith, nth) once on
 * each of the nth threads and returns when all have finished. */
typedef struct trit_pool trit_pool;
typedef void (*trit_task_fn)(void *arg, int ith, int nth);

trit_pool *trit_pool_new(int n_threads);
void trit_pool_free(trit_pool *p);
int trit_pool_size(const trit_pool *p);
void trit_pool_run(trit_pool *p, trit_task_fn fn, void *arg);

/* Splits [0, n) into nth near-equal parts and returns part ith as [*lo, *hi),
 * aligned to `align` elements (except the last bound). */
static inline void trit_split(int64_t n, int ith, int nth, int64_t align,
                              int64_t *lo, int64_t *hi) {
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

/* Number of online CPUs (>= 1). */
int trit_n_cpus(void);

/* ======================================================================== */
/* CPU features                                                              */
/* ======================================================================== */

typedef enum {
    TRIT_ISA_SCALAR = 0,
    TRIT_ISA_AVX2 = 1,
    TRIT_ISA_AVX512 = 2, /* F + BW + VL + VNNI */
    TRIT_ISA_NEON = 3,         /* AArch64 Advanced SIMD (every AArch64 core) */
    TRIT_ISA_NEON_DOTPROD = 4  /* NEON + dot product (sdot/udot, ARMv8.2-A DotProd) */
} trit_isa;

/* Best level the CPU supports, lowered by $TRIT_ISA if set. */
trit_isa trit_cpu_isa(void);
trit_isa trit_cpu_isa_detected(void); /* the same, without $TRIT_ISA */
const char *trit_isa_str(trit_isa isa);
/* 1 if the CPU has AVX-VNNI (256-bit VEX vpdpbusd), else 0. */
int trit_cpu_has_avxvnni(void);

/* Monotonic time in seconds. */
double trit_now(void);

#endif /* TRIT_CORE_H */
