/*
 * memory.c - aligned allocation and the activation arena.
 */
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include "core/core.h"

/* ==== aligned allocation ==== */

/* Returns a 64-byte aligned block of `bytes` (rounded up), or NULL. */
void *trit_aligned_alloc(size_t bytes) {
    if (bytes > SIZE_MAX - 64) return NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, n) != 0) return NULL;
    return p;
}

void trit_aligned_free(void *p) { free(p); }

/* Large blocks (KV cache, activation arena) start on a 2 MiB boundary and
 * ask for transparent huge pages, so that first touching them costs one page
 * fault per 2 MiB instead of one per 4 KiB (a fresh context's first prompt
 * otherwise spends several percent of its time in page faults). Memory is
 * still only committed when touched. Freed with trit_aligned_free. */
void *trit_large_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge) return trit_aligned_alloc(bytes);
    if (bytes > SIZE_MAX - huge) return NULL;
    size_t n = (bytes + huge - 1) & ~(huge - 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, n) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, n, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

/* ==== arena ==== */

/* Allocates the arena's single block; returns 1 on success. */
int trit_arena_init(trit_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->base = trit_large_alloc(bytes);
    if (!a->base) return 0;
    a->size = bytes;
    return 1;
}

/* Returns a 64-byte aligned piece of `bytes`, or NULL if the arena is full. */
void *trit_arena_alloc(trit_arena *a, size_t bytes) {
    size_t n = (bytes + 63) & ~(size_t)63;
    if (bytes > SIZE_MAX - 64 || n > a->size - a->used) return NULL;
    void *p = a->base + a->used;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void trit_arena_reset(trit_arena *a) { a->used = 0; }

void trit_arena_free(trit_arena *a) {
    trit_aligned_free(a->base);
    memset(a, 0, sizeof *a);
}
