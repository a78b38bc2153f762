/*
 * binary_load.c - binary models at load: a packed ternary linear whose codes
 * are all 0 or 2 (weights -1 / +1, what `trit export` writes for
 * `--quant binary`) is repacked into the 1-bit blocks of kernels/binary.h,
 * so each decoded token reads 1.125 bits per weight instead of 2.
 *
 * The per-tensor weight_scale stays the kernels' divisor wdiv and every
 * block gets d = 1 (exact in f16), so the matrix is uniform and bmatmul
 * computes (float)acc / (xs * wdiv) with the same integer acc as the
 * ternary kernel: logits are bit-identical to the 2-bit path.
 */
#include <sys/mman.h>
#include <unistd.h>
#include "models/model.h"
#include "quant/binary.h"

/* Gives the kernel back the pages of the mapped codes [p, p + n) once they
 * have been repacked (they fault back in from the page cache if read). */
static void drop_pages(const uint8_t *p, size_t n) {
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + n) & ~(pg - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

/* See model.h. */
trit_status trit_linear_to_binary(trit_model *m, trit_linear *lin, const st_tensor *w, trit_error *err) {
    const int mode = m->params.binary_format;
    m->n_packed_lin++;
    if (mode == TRIT_BINARY_OFF) return TRIT_OK;
    if (mode != TRIT_BINARY_AUTO && mode != TRIT_BINARY_FORCE)
        return trit_fail(err, TRIT_ERR_ARG, "binary_format %d is not one of auto (0), off (1), force (2)", mode);
    if (!trit_codes_binary(w->data, w->numel)) {
        if (mode == TRIT_BINARY_AUTO) return TRIT_OK;
        return trit_fail(err, TRIT_ERR_VALUE,
                         "%s: tensor '%s' is not binary: its packed codes hold weights 0 (code 1) or the invalid "
                         "code 3, so it cannot use the 1-bit format that binary_format force (--binary force) "
                         "requires; load it with --binary auto or off", w->file, w->name);
    }
    const trit_tmat t = lin->t;
    const int64_t nb = trit_q1_blocks(t.K);
    size_t bytes;
    if (!trit_mul_ok((size_t)(t.N * nb), sizeof(trit_q1_block), &bytes))
        return trit_fail(err, TRIT_ERR_NOMEM, "'%s' is too large to repack", w->name);
    trit_q1_block *b = trit_aligned_alloc(bytes);
    if (!b)
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory repacking '%s' to 1-bit (%.1f MiB)", w->name,
                         (double)bytes / 1048576.0);
    trit_q1_from_codes(&t, b);
    drop_pages(t.codes, (size_t)w->nbytes);
    lin->kind = LIN_BINARY;
    lin->b = (trit_bmat){t.N, t.K, nb, 1, b};
    lin->owned = (uint8_t *)b;
    m->weight_bytes += (int64_t)bytes - (int64_t)w->nbytes;
    m->n_binary_lin++;
    return TRIT_OK;
}

/* See model.h. */
trit_status trit_model_check_binary(const trit_model *m, trit_error *err) {
    if (m->params.binary_format == TRIT_BINARY_FORCE && m->n_binary_lin == 0)
        return trit_fail(err, TRIT_ERR_UNSUPPORTED,
                         "%s: binary_format force (--binary force) needs packed binary weights (quantization_mode "
                         "\"offline\", codes all +-1), but this model has no packed linear layers", m->dir);
    return TRIT_OK;
}
