/*
 * gemm.c - the one matrix-multiply kernel of the trainer:
 *     C (M, Nc) (+)= A (M, K) @ B (K, Nc)
 * with every C element accumulated over k = 0..K-1 IN ORDER in one double
 * accumulator and rounded to float once. Products of two floats are exact in
 * double, so the result does not depend on FMA contraction, on the vector
 * width, on tiling or on the thread count: every ISA variant and every split
 * gives bit-identical output.
 *
 * A is addressed with two strides (element (m, k) at A[m*sam + k*sak]) so
 * the same kernel serves X @ W^T (with W transposed), dY @ W and dY^T @ X.
 * Tiles of 4 rows x 16 columns keep 8 vectors of 8 doubles in registers;
 * the code uses GCC vector extensions and is compiled once per ISA
 * (AVX-512, AVX2, baseline) with run-time selection.
 */
#include <string.h>
#include "train/train_ops.h"

#define MR 4   /* rows of a register tile    */
#define NR 16  /* columns of a register tile */

typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

typedef struct {
    float *C;
    const float *A, *B;
    int64_t ldc, sam, sak, ldb, M, K;
    int accumulate;
} gemm_args;

/* ==== kernel body (instantiated per ISA) ==== */

/* Macros rather than functions: a function returning a 64-byte vector
 * would change the ABI between the ISA variants. */

/* v (v8d) = the 8 floats at p (any alignment) as doubles. */
#define LOAD8(v, p) do { v8f f_; memcpy(&f_, (p), sizeof f_); (v) = __builtin_convertvector(f_, v8d); } while (0)

/* Stores acc (v8d) as 8 floats at p, added to their old values if accum. */
#define STORE8(p, acc, accum) do { v8d s_ = (acc); if (accum) { v8d o_; LOAD8(o_, (p)); s_ += o_; } \
        v8f f_ = __builtin_convertvector(s_, v8f); memcpy((p), &f_, sizeof f_); } while (0)

/* One full MR x NR tile at C (rows m.., columns j..). */
static inline __attribute__((always_inline)) void tile_full(const gemm_args *g, int64_t m, int64_t j) {
    v8d c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
    const float *a = g->A + m * g->sam, *b = g->B + j;
    const int64_t sam = g->sam, sak = g->sak, ldb = g->ldb;
    for (int64_t k = 0; k < g->K; k++, a += sak, b += ldb) {
        v8d b0, b1;
        LOAD8(b0, b);
        LOAD8(b1, b + 8);
        double a0 = a[0], a1 = a[sam], a2 = a[2 * sam], a3 = a[3 * sam];
        c00 += a0 * b0;
        c01 += a0 * b1;
        c10 += a1 * b0;
        c11 += a1 * b1;
        c20 += a2 * b0;
        c21 += a2 * b1;
        c30 += a3 * b0;
        c31 += a3 * b1;
    }
    float *c = g->C + m * g->ldc + j;
    STORE8(c, c00, g->accumulate);
    STORE8(c + 8, c01, g->accumulate);
    c += g->ldc;
    STORE8(c, c10, g->accumulate);
    STORE8(c + 8, c11, g->accumulate);
    c += g->ldc;
    STORE8(c, c20, g->accumulate);
    STORE8(c + 8, c21, g->accumulate);
    c += g->ldc;
    STORE8(c, c30, g->accumulate);
    STORE8(c + 8, c31, g->accumulate);
}

/* One row m, 8 columns from j (the column tail of 8-wide panels). */
static inline __attribute__((always_inline)) void tile_row8(const gemm_args *g, int64_t m, int64_t j) {
    v8d acc = {0};
    const float *a = g->A + m * g->sam, *b = g->B + j;
    for (int64_t k = 0; k < g->K; k++, a += g->sak, b += g->ldb) {
        v8d bv;
        LOAD8(bv, b);
        acc += a[0] * bv;
    }
    STORE8(g->C + m * g->ldc + j, acc, g->accumulate);
}

/* One element (row m, column j): the same ordered double sum. */
static inline __attribute__((always_inline)) void tile_one(const gemm_args *g, int64_t m, int64_t j) {
    double acc = 0;
    const float *a = g->A + m * g->sam, *b = g->B + j;
    for (int64_t k = 0; k < g->K; k++, a += g->sak, b += g->ldb) acc += (double)a[0] * b[0];
    float *c = g->C + m * g->ldc + j;
    *c = g->accumulate ? (float)((double)*c + acc) : (float)acc;
}

/* Columns [j0, j1) of C: 16-column panels (B panel reused by all rows),
 * then 8-column and single-column tails; rows in tiles of 4 then singles. */
static inline __attribute__((always_inline)) void gemm_body(const gemm_args *g, int64_t j0, int64_t j1) {
    int64_t j = j0;
    for (; j + NR <= j1; j += NR) {
        int64_t m = 0;
        for (; m + MR <= g->M; m += MR) tile_full(g, m, j);
        for (; m < g->M; m++) {
            tile_row8(g, m, j);
            tile_row8(g, m, j + 8);
        }
    }
    for (; j + 8 <= j1; j += 8)
        for (int64_t m = 0; m < g->M; m++) tile_row8(g, m, j);
    for (; j < j1; j++)
        for (int64_t m = 0; m < g->M; m++) tile_one(g, m, j);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,avx2,fma"))) static void gemm_avx512(const gemm_args *g, int64_t j0,
                                                                              int64_t j1) {
    gemm_body(g, j0, j1);
}
__attribute__((target("avx2,fma"))) static void gemm_avx2(const gemm_args *g, int64_t j0, int64_t j1) {
    gemm_body(g, j0, j1);
}
#endif

static void gemm_base(const gemm_args *g, int64_t j0, int64_t j1) { gemm_body(g, j0, j1); }

/* ==== entry ==== */

/* See train_ops.h. */
void tr_gemm(trit_isa isa, float *C, int64_t ldc, const float *A, int64_t sam, int64_t sak, const float *B,
             int64_t ldb, int64_t M, int64_t K, int64_t j0, int64_t j1, int accumulate) {
    gemm_args g = {.C = C, .A = A, .B = B, .ldc = ldc, .sam = sam, .sak = sak, .ldb = ldb, .M = M, .K = K,
                   .accumulate = accumulate};
    if (j0 >= j1 || M <= 0) return;
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa == TRIT_ISA_AVX512) {
        gemm_avx512(&g, j0, j1);
        return;
    }
    if (isa == TRIT_ISA_AVX2) {
        gemm_avx2(&g, j0, j1);
        return;
    }
#endif
    gemm_base(&g, j0, j1);
}
