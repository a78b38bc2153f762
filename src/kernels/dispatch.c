/*
 * dispatch.c - picks the kernel table for the CPU at run time.
 */
#include "kernels/kernels.h"

static const trit_kernels k_scalar = {"scalar", trit_tmatmul_scalar, trit_dmatmul_scalar};

/* Returns the table for isa; levels without their own kernels yet use the
 * best lower table. */
const trit_kernels *trit_kernels_for(trit_isa isa) {
    (void)isa;
    return &k_scalar;
}

const trit_kernels *trit_kernels_get(void) { return trit_kernels_for(trit_cpu_isa()); }
