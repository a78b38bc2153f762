/*
 * gemm_avx2.c - AVX2 + FMA micro-kernel of the trainer's GEMM (gemm.c): a
 * TR_UKR_AVX2_MR x TR_UKR_AVX2_NR tile of C, NR/8 ymm accumulators per row;
 * A is read in place, B from its packed panel.
 * Built with the ISA flags of the Makefile's *_avx2.o rule and called only
 * when the kernel level is AVX2 or higher.
 *
 * Each accumulator lane runs the fused multiply-add chain over k in order
 * (vfmadd231ps rounds once per step, exactly as fmaf), so the tile equals
 * the scalar reference bit for bit.
 */
#include "train/train_ops.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR TR_UKR_AVX2_MR
#define NV (TR_UKR_AVX2_NR / 8) /* vectors per row */

/* See the tr_ukernel_fn contract in train_ops.h. Partial rows are read and
 * written through the lane masks of vmaskmovps; rows past mr repeat row
 * mr-1 (never stored), so A is only read inside its mr rows. */
void tr_ukr_avx2(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *bp, float *c, int64_t ldc,
                 int mr, int nr, int load_c) {
    __m256 acc[MR][NV];
    __m256i mask[NV];
    int64_t off[MR];
    for (int i = 0; i < MR; i++) off[i] = (i < mr ? i : mr - 1) * sam;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < NV; v++) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * v), lane);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = load_c && i < mr ? _mm256_maskload_ps(c + i * ldc + 8 * v, mask[v]) : _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++, a += sak, bp += TR_UKR_AVX2_NR) {
        __m256 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(bp + 8 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + off[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(av, b[v], acc[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        if (i < mr)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) _mm256_maskstore_ps(c + i * ldc + 8 * v, mask[v], acc[i][v]);
}

#endif /* __x86_64__ */
