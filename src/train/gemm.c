/*
 * gemm.c - the one matrix-multiply kernel of the trainer:
 *     C (M, Nc) (+)= A (M, K) @ B (K, Nc)
 * in float32, every C element computed as ONE fused multiply-add chain over
 * k = 0..K-1 in order:
 *     c = accumulate ? C_old : 0;  for k: c = fma(A[m][k], B[k][j], c)
 * The value of an element therefore depends on nothing but its inputs: not
 * on the tiling, the cache blocking, the thread that computes it or the
 * vector width. Every kernel level (the scalar reference here with fmaf,
 * the AVX2 and AVX-512 micro-kernels in gemm_avx2.c / gemm_avx512.c with
 * their FMA instructions) gives bit-identical output, and so does any split
 * of the output over threads.
 *
 * Structure (BLIS-style): for each block of KC k-values and NC columns, B is
 * packed into NR-wide k-major panels (zero padded); then for each block of
 * MC rows and each panel, the micro-kernel computes MR x NR tiles of C,
 * reading A in place through its two strides (a row block of A stays in the
 * L2 cache while the panels sweep over it), loading the tile from C (or
 * starting from zero for the first k block when not accumulating) and
 * storing only the valid rows and columns. Carrying the accumulator through
 * C between k blocks keeps the order of the chain: a float stored and
 * reloaded is the same float.
 */
#include <math.h>
#include <string.h>
#include "train/train_ops.h"

/* ==== scalar reference micro-kernel ==== */

enum { SC_MR = 4, SC_NR = 16 };

/* See the tr_ukernel_fn contract in train_ops.h; fmaf gives the same
 * correctly rounded fused multiply-add as the vector instructions. */
static void ukr_scalar(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *bp, float *c, int64_t ldc,
                       int mr, int nr, int load_c) {
    float acc[SC_MR][SC_NR];
    for (int i = 0; i < SC_MR; i++)
        for (int j = 0; j < SC_NR; j++) acc[i][j] = load_c && i < mr && j < nr ? c[i * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++, a += sak, bp += SC_NR)
        for (int i = 0; i < mr; i++) {
            float av = a[i * sam];
            for (int j = 0; j < SC_NR; j++) acc[i][j] = fmaf(av, bp[j], acc[i][j]);
        }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[i * ldc + j] = acc[i][j];
}

/* ==== micro-kernel table ==== */

typedef struct {
    int mr, nr;
    tr_ukernel_fn fn;
} ukr_desc;

/* The micro-kernel of kernel level isa (levels without one use the scalar
 * reference). */
static ukr_desc ukr_for(trit_isa isa) {
#if defined(__x86_64__)
    if (isa == TRIT_ISA_AVX512) return (ukr_desc){TR_UKR_AVX512_MR, TR_UKR_AVX512_NR, tr_ukr_avx512};
    if (isa == TRIT_ISA_AVX2) return (ukr_desc){TR_UKR_AVX2_MR, TR_UKR_AVX2_NR, tr_ukr_avx2};
#endif
    (void)isa;
    return (ukr_desc){SC_MR, SC_NR, ukr_scalar};
}

/* ==== packing ==== */

/* bp (ceil(nc/nr) panels of kc x nr, k-major) = B[k0 .. k0+kc, j0 .. j0+nc]
 * of op, columns past nc zero. */
static void pack_b(float *bp, const tr_gemm_op *op, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr) {
    const int64_t sbk = op->sbk, sbn = op->sbn;
    for (int64_t jj = 0; jj < nc; jj += nr, bp += kc * nr) {
        int64_t cols = nc - jj < nr ? nc - jj : nr;
        const float *src = op->B + k0 * sbk + (j0 + jj) * sbn;
        if (sbn == 1) { /* rows of B contiguous */
            for (int64_t k = 0; k < kc; k++) {
                float *dst = bp + k * nr;
                memcpy(dst, src + k * sbk, (size_t)cols * sizeof(float));
                for (int64_t j = cols; j < nr; j++) dst[j] = 0.0f;
            }
        } else { /* columns of B contiguous (or any strides): transpose in */
            for (int64_t j = 0; j < cols; j++) {
                const float *col = src + j * sbn;
                for (int64_t k = 0; k < kc; k++) bp[k * nr + j] = col[k * sbk];
            }
            for (int64_t k = 0; cols < nr && k < kc; k++)
                for (int64_t j = cols; j < nr; j++) bp[k * nr + j] = 0.0f;
        }
    }
}

/* ==== driver ==== */

/* See train_ops.h. */
void tr_gemm(trit_isa isa, float *scratch, const tr_gemm_op *op, int64_t m0, int64_t m1, int64_t j0, int64_t j1) {
    if (m0 >= m1 || j0 >= j1) return;
    const ukr_desc u = ukr_for(isa);
    const int64_t K = op->K, ldc = op->ldc;
    if (K <= 0) { /* empty sum: C = 0, or unchanged when accumulating */
        for (int64_t m = m0; !op->accumulate && m < m1; m++)
            memset(op->C + m * ldc + j0, 0, (size_t)(j1 - j0) * sizeof(float));
        return;
    }
    for (int64_t jc = j0; jc < j1; jc += TR_GEMM_NC) {
        int64_t nc = j1 - jc < TR_GEMM_NC ? j1 - jc : TR_GEMM_NC;
        for (int64_t pc = 0; pc < K; pc += TR_GEMM_KC) {
            int64_t kc = K - pc < TR_GEMM_KC ? K - pc : TR_GEMM_KC;
            int load_c = op->accumulate || pc > 0;
            pack_b(scratch, op, pc, kc, jc, nc, u.nr);
            for (int64_t ic = m0; ic < m1; ic += TR_GEMM_MC) {
                int64_t mc = m1 - ic < TR_GEMM_MC ? m1 - ic : TR_GEMM_MC;
                for (int64_t jr = 0; jr < nc; jr += u.nr) {
                    int nr = (int)(nc - jr < u.nr ? nc - jr : u.nr);
                    const float *bp = scratch + (jr / u.nr) * kc * u.nr;
                    for (int64_t ir = ic; ir < ic + mc; ir += u.mr) {
                        int mr = (int)(ic + mc - ir < u.mr ? ic + mc - ir : u.mr);
                        u.fn(kc, op->A + ir * op->sam + pc * op->sak, op->sam, op->sak, bp,
                             op->C + ir * ldc + jc + jr, ldc, mr, nr, load_c);
                    }
                }
            }
        }
    }
}

/* See train_ops.h. Columns are split whenever every thread gets at least
 * 128 of them: each thread then packs only its own part of B (A is read in
 * place by all), so no element of B is packed twice. */
void tr_gemm_part(int64_t M, int64_t Nc, int ith, int nth, int64_t *m0, int64_t *m1, int64_t *j0, int64_t *j1) {
    *m0 = 0;
    *m1 = M;
    *j0 = 0;
    *j1 = Nc;
    if (Nc >= 128 * (int64_t)nth || Nc >= M) trit_split(Nc, ith, nth, 64, j0, j1);
    else trit_split(M, ith, nth, 48, m0, m1);
}
