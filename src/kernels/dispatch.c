/*
 * dispatch.c - picks the kernel table for the CPU at run time.
 */
#include <string.h>
#include "kernels/kernels.h"

static const trit_kernels k_scalar = {"scalar", trit_tmatmul_scalar, trit_dmatmul_scalar,
                                      trit_bmatmul_scalar};
#if defined(__x86_64__)
static const trit_kernels k_avx2 = {"avx2", trit_tmatmul_avx2, trit_dmatmul_avx2,
                                    trit_bmatmul_avx2};
/* AVX2 cores with AVX-VNNI (no AVX-512): 256-bit vpdpbusd for the ternary
 * matmul (prompt processing 1.76x the vpmaddubsw kernel, decoding 1.13x; docs/PERF.md). */
static const trit_kernels k_avx2vnni = {"avx2-vnni", trit_tmatmul_avxvnni, trit_dmatmul_avx2,
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
    if (isa == TRIT_ISA_AVX2) return trit_cpu_has_avxvnni() ? &k_avx2vnni : &k_avx2;
#endif
#if defined(__aarch64__)
    if (isa == TRIT_ISA_NEON_DOTPROD) return &k_neon_dotprod;
    if (isa == TRIT_ISA_NEON) return &k_neon;
#endif
    (void)isa;
    return &k_scalar;
}

const trit_kernels *trit_kernels_get(void) { return trit_kernels_for(trit_cpu_isa()); }

const trit_kernels *trit_kernels_named(const char *name) {
    const trit_isa cpu = trit_cpu_isa_detected();
    if (!strcmp(name, "scalar")) return &k_scalar;
#if defined(__x86_64__)
    if (!strcmp(name, "avx2") && cpu >= TRIT_ISA_AVX2) return &k_avx2;
    if (!strcmp(name, "avx2-vnni") && cpu >= TRIT_ISA_AVX2 && trit_cpu_has_avxvnni()) return &k_avx2vnni;
    if (!strcmp(name, "avx512") && cpu >= TRIT_ISA_AVX512) return &k_avx512;
#endif
#if defined(__aarch64__)
    if (!strcmp(name, "neon") && cpu >= TRIT_ISA_NEON) return &k_neon;
    if (!strcmp(name, "neon_dotprod") && cpu >= TRIT_ISA_NEON_DOTPROD) return &k_neon_dotprod;
#endif
    (void)cpu;
    return NULL;
}
