/*
 * head_avxvnni.c - block-quantized lm_head kernel, AVX2 + AVX-VNNI (256-bit
 * vpdpbusd); the code is in head_avx2_impl.h. Built with -mavxvnni, so call
 * it only when trit_cpu_has_avxvnni().
 */
#define HQ_FN trit_hmatmul_avxvnni
#define HQ_AVXVNNI 1
#include "kernels/head_avx2_impl.h"
