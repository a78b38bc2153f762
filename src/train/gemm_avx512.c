/*
 * gemm_avx512.c - AVX-512 micro-kernel of the trainer's GEMM (gemm.c):
 * a TR_UKR_AVX512_MR x TR_UKR_AVX512_NR tile of C, NR/16 vectors per row
 * held in zmm accumulators; A is read in place (one broadcast per row and
 * k), B from its packed panel. Built with the ISA flags of the Makefile's
 * *_avx512.o rule and called only when the kernel level is AVX-512.
 *
 * Each accumulator lane runs the fused multiply-add chain over k in order
 * (vfmadd231ps rounds once per step, exactly as fmaf), so the tile equals
 * the scalar reference bit for bit.
 */
#include "train/train_ops.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR TR_UKR_AVX512_MR
#define NV (TR_UKR_AVX512_NR / 16) /* vectors per row */

/* See the tr_ukernel_fn contract in train_ops.h. Rows past mr repeat row
 * mr-1 (never stored), so A is only read inside its mr rows. */
void tr_ukr_avx512(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *bp, float *c, int64_t ldc,
                   int mr, int nr, int load_c) {
    __m512 acc[MR][NV];
    __mmask16 mask[NV];
    int64_t off[MR];
    for (int v = 0; v < NV; v++) {
        int left = nr - 16 * v;
        mask[v] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1u) : (__mmask16)0;
    }
    for (int i = 0; i < MR; i++) off[i] = (i < mr ? i : mr - 1) * sam;
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[i][v] = load_c && i < mr ? _mm512_maskz_loadu_ps(mask[v], c + i * ldc + 16 * v) : _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++, a += sak, bp += TR_UKR_AVX512_NR) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[off[i]]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
        if (i < mr)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(c + i * ldc + 16 * v, mask[v], acc[i][v]);
}

#endif /* __x86_64__ */
