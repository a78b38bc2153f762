/*
 * memory.c - aligned allocation and the activation arena.
 */
#include <stdlib.h>
#include <string.h>
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

/* ==== arena ==== */

/* Allocates the arena's single block; returns 1 on success. */
int trit_arena_init(trit_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->base = trit_aligned_alloc(bytes);
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
