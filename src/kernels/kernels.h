/*
 * kernels.h - the matrix kernels and their dispatch table.
 *
 * Every kernel has a plain C reference (kernels_scalar.c); ISA-specific files
 * (kernels_avx2.c, kernels_avx512.c, kernels_neon.c) provide faster versions
 * that must give identical integer results (ternary) or agree within float
 * rounding (dense). trit_kernels_get() picks the best level at run time.
 */
#ifndef TRIT_KERNELS_H
#define TRIT_KERNELS_H

#include <stdint.h>
#include "core/core.h"
#include "io/safetensors.h"
#include "kernels/binary.h"

/* A ternary matrix W [N x K] in the layout of Hugging Face packed BitNet
 * checkpoints: Q = ceil(N/4) packed rows of K bytes; output row r lives in
 * packed row r % Q at bits 2*(r / Q) (LSB first), code = w + 1 in {0,1,2}.
 * Rows >= N (padding) hold code 1 (weight 0). */
typedef struct {
    int64_t N, K, Q;
    const uint8_t *codes; /* [Q][K] */
} trit_tmat;

/* A dense matrix W [N x K], row-major, stored as F32, F16 or BF16. */
typedef struct {
    int64_t N, K;
    st_dtype dtype;
    const void *data;
} trit_dmat;

typedef struct {
    const char *name;
    /* y[m*ldy + r] = (x_q[m] . w[r]) / (xs[m] * wdiv) for every output row r
     * held by packed rows [q0, q1) (r = q + g*Q, g = 0..3, r < N), m < M.
     * xq: [M][K] int8 (row stride K); xs: per-token scale; xsum: per-token
     * sum of xq (lets kernels use unsigned codes: x.(c-1) = x.c - sum x). */
    void (*tmatmul)(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                    const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
    /* y[m*ldy + n] = x[m] . w[n] for n in [n0, n1), m < M; x: [M][K] f32. */
    void (*dmatmul)(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy,
                    int64_t n0, int64_t n1);
    /* binary (1-bit) weights x int8 tokens, rows [n0, n1): see binary.h. */
    trit_bmatmul_fn bmatmul;
} trit_kernels;

/* The table for a given level (falls back to scalar where a level lacks a
 * kernel). The AVX2 level's table is "avx2-vnni" on CPUs with AVX-VNNI. */
const trit_kernels *trit_kernels_for(trit_isa isa);
/* Every table this CPU can run, by name ("scalar", "avx2", "avx2-vnni",
 * "avx512", "neon", "neon_dotprod"); NULL when the CPU or the build lacks it
 * (tests use it to reach a table the dispatcher would not pick). */
const trit_kernels *trit_kernels_named(const char *name);
/* The table for trit_cpu_isa(). */
const trit_kernels *trit_kernels_get(void);

/* Scalar references (always available, used by tests). */
void trit_tmatmul_scalar(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                         const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
void trit_dmatmul_scalar(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy,
                         int64_t n0, int64_t n1);

#if defined(__x86_64__)
/* x86 levels (kernels_avx2.c, kernels_avx512.c; call only when the CPU has the
 * level): same contracts as the references above. tmatmul is bit-identical
 * to trit_tmatmul_scalar; dmatmul agrees within float rounding. */
void trit_tmatmul_avx2(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                       const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
void trit_dmatmul_avx2(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy,
                       int64_t n0, int64_t n1);
void trit_tmatmul_avx512(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                         const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
void trit_dmatmul_avx512(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy,
                         int64_t n0, int64_t n1);
/* kernels_avxvnni.c: AVX2 + AVX-VNNI; call only when trit_cpu_has_avxvnni(). */
void trit_tmatmul_avxvnni(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                          const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
#endif

#if defined(__aarch64__)
/* AArch64 levels (kernels_neon.c: base NEON, every AArch64 core;
 * kernels_neon_dotprod.c: call only when the CPU has the dotprod extension):
 * same contracts as the references above. tmatmul is bit-identical to
 * trit_tmatmul_scalar; dmatmul agrees within float rounding. */
void trit_tmatmul_neon(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                       const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
void trit_tmatmul_neon_dotprod(const trit_tmat *w, float wdiv, const int8_t *xq, const float *xs,
                               const int32_t *xsum, int64_t M, float *y, int64_t ldy, int64_t q0, int64_t q1);
void trit_dmatmul_neon(const trit_dmat *w, const float *x, int64_t M, float *y, int64_t ldy,
                       int64_t n0, int64_t n1);
#endif


/* Reads row n of a dense matrix into f32. */
void trit_dmat_row(const trit_dmat *w, int64_t n, float *out);

#endif /* TRIT_KERNELS_H */
