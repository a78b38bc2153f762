/*
 * kernels_neon_common.h - small inline helpers shared by the AArch64 ternary
 * kernels (kernels_neon.c, kernels_neon_dotprod.c). Include only from files
 * built for __aarch64__, after kernels/kernels.h.
 */
#ifndef TRIT_KERNELS_NEON_COMMON_H
#define TRIT_KERNELS_NEON_COMMON_H

#include <arm_neon.h>

#define TN_INLINE static inline __attribute__((always_inline))

/* Sums the 4 lanes of each of a, b, c, d into lanes 0..3. */
TN_INLINE int32x4_t tn_hsum4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

/* Writes the up to 4 outputs of packed row q for one token: S holds the
 * code dot products (d0, d1, d2, d3); y points at the token's output row
 * [N]. Same float expression as the scalar reference: (float)(d - xsum) /
 * denom, with denom = xs * wdiv computed by the caller. */
TN_INLINE void tn_store(int32x4_t S, int32_t xsum, float denom, float *y, int64_t q, int64_t Q, int64_t N) {
    const int32x4_t D = vsubq_s32(S, vdupq_n_s32(xsum));
    const float32x4_t f = vdivq_f32(vcvtq_f32_s32(D), vdupq_n_f32(denom));
    float o[4];
    vst1q_f32(o, f);
    if (q + 3 * Q < N) {
        y[q] = o[0];
        y[q + Q] = o[1];
        y[q + 2 * Q] = o[2];
        y[q + 3 * Q] = o[3];
    } else {
        for (int g = 0; g < 4; g++)
            if (q + g * Q < N) y[q + g * Q] = o[g];
    }
}

#endif /* TRIT_KERNELS_NEON_COMMON_H */
