/*
 * head_avx2.c - block-quantized lm_head kernel, AVX2 with vpmaddubsw (for
 * CPUs without AVX-VNNI); the code is in head_avx2_impl.h.
 */
#define HQ_FN trit_hmatmul_avx2
#include "kernels/head_avx2_impl.h"
