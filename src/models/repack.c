/*
 * repack.c - converts a loaded model's ternary linears from the Hugging Face
 * packed layout into a compute layout of kernels/tpack.h (2-bit I2, 1.6-bit
 * T1 or the lookup-table TL), chosen by trit_model_params.weights_format.
 *
 * All packed matrices share one anonymous mapping (huge pages requested:
 * fewer TLB misses while streaming weights). Bands are packed in parallel;
 * after each matrix the pages of its source are released (MADV_DONTNEED on
 * the file mapping, or the online-ternarized copy freed), so peak memory
 * stays near the packed size instead of holding both copies.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "models/model.h"

/* One matrix to pack, split by bands over the pool. */
typedef struct {
    const trit_tmat *src;
    const trit_tpk *dst;
    uint8_t *buf;
} pack_job;

static void pack_task(void *arg, int ith, int nth) {
    pack_job *j = arg;
    int64_t lo, hi;
    trit_split(trit_tpk_bands(j->dst), ith, nth, 1, &lo, &hi);
    if (lo < hi) trit_tpk_pack_hf(j->src, j->dst, j->buf, lo, hi);
}

/* Drops the whole pages of [p, p + n) from memory (file-backed: they fault
 * back in from the page cache if read again). */
static void release_pages(const void *p, size_t n) {
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + n) & ~(pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

/* Bytes reserved per matrix: its packed size rounded up to 4 KiB. */
static size_t slot_bytes(const trit_linear *l, int fmt) {
    trit_tpk g;
    size_t n = trit_tpk_geometry(&g, fmt, l->out, l->in);
    return (n + 4095) & ~(size_t)4095;
}

/* See model.h. */
trit_status trit_model_repack(trit_model *m, int fmt, trit_error *err) {
    const int64_t L = m->cfg.n_layers;
    size_t total = 0;
    for (int64_t i = 0; i < L; i++) {
        trit_layer *ly = &m->layers[i];
        trit_linear *ls[7] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
        for (int j = 0; j < 7; j++)
            if (ls[j]->kind == LIN_TERNARY) total += slot_bytes(ls[j], fmt);
    }
    if (total == 0) return TRIT_OK;
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory repacking the ternary weights (%.0f MiB)", m->dir,
                         (double)total / 1048576.0);
#ifdef MADV_HUGEPAGE
    madvise(base, total, MADV_HUGEPAGE);
#endif
    m->tp_buf = base;
    m->tp_bytes = total;
    trit_pool *pool = trit_pool_new(trit_n_cpus());
    uint8_t *at = base;
    for (int64_t i = 0; i < L; i++) {
        trit_layer *ly = &m->layers[i];
        trit_linear *ls[7] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
        for (int j = 0; j < 7; j++) {
            trit_linear *l = ls[j];
            if (l->kind != LIN_TERNARY) continue;
            trit_tpk g;
            size_t n = trit_tpk_geometry(&g, fmt, l->out, l->in);
            pack_job pj = {&l->t, &g, at};
            if (pool) trit_pool_run(pool, pack_task, &pj);
            else trit_tpk_pack_hf(&l->t, &g, at, 0, trit_tpk_bands(&g));
            g.data = at;
            l->tp = g;
            m->weight_bytes += (int64_t)n - l->t.Q * l->t.K;
            if (l->owned) { /* online-ternarized codes: no longer needed */
                trit_aligned_free(l->owned);
                l->owned = NULL;
                l->t.codes = NULL;
            } else {
                release_pages(l->t.codes, (size_t)(l->t.Q * l->t.K));
            }
            at += slot_bytes(l, fmt);
        }
    }
    trit_pool_free(pool);
    return TRIT_OK;
}
