/*
 * dispatch.c - picks the kernel table for the CPU at run time.
 */
#include "kernels/kernels.h"

static const trit_kernels k_scalar = {"scalar", trit_tmatmul_scalar, trit_dmatmul_scalar,
                                      trit_bmatmul_scalar};
#if defined(__x86_64__)
static const trit_kernels k_avx2 = {"avx2", trit_tmatmul_avx2, trit_dmatmul_avx2,
                                    trit_bmatmul_avx2};
static const trit_kernels k_avx512 = {"avx512", trit_tmatmul_avx512, trit_dmatmul_avx512,
                                      trit_bmatmul_avx512};
#endif
#if defined(__aarch64__)
/* No NEON binary kernel yet: the scalar reference. */
static const trit_kernels k_neon = {"neon", trit_tmatmul_neon, trit_dmatmul_neon,
                                    trit_bmatmul_scalar};
static const trit_kernels k_neon_dotprod = {"neon_dotprod", trit_tmatmul_neon_dotprod, trit_dmatmul_neon,
                                            trit_bmatmul_scalar};
#endif

/* Returns the table for isa (the caller makes sure the CPU has that level);
 * levels without their own kernels on this architecture use the scalar
 * table. */
const trit_kernels *trit_kernels_for(trit_isa isa) {
#if defined(__x86_64__)
    if (isa == TRIT_ISA_AVX512) return &k_avx512;
    if (isa == TRIT_ISA_AVX2) return &k_avx2;
#endif
#if defined(__aarch64__)
    if (isa == TRIT_ISA_NEON_DOTPROD) return &k_neon_dotprod;
    if (isa == TRIT_ISA_NEON) return &k_neon;
#endif
    (void)isa;
    return &k_scalar;
}

const trit_kernels *trit_kernels_get(void) { return trit_kernels_for(trit_cpu_isa()); }
