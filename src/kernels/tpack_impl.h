/*
 * tpack_impl.h - helpers shared by the ISA files of tpack (included by
 * tpack_avx2.c and tpack_avx512.c, compiled with each file's ISA flags so the
 * plain C loops vectorize for that level).
 */
#ifndef TRIT_TPACK_IMPL_H
#define TRIT_TPACK_IMPL_H

#include <string.h>
#include "kernels/tpack.h"

/* Decodes the rows of T1 bands (8 rows each) into I2 bands (16 rows each):
 * I2 band `beta` of a matrix with T1 geometry t1 (rows 16 beta .. +15 come
 * from T1 bands 2 beta and 2 beta + 1) into out[4 * Kp2], Kp2 = K rounded
 * up to 64 (the I2 geometry's Kp). Rows past N get code 1. Digit i of a T1
 * byte q is [q_i >= 86] + [q_i >= 171] with q_{i+1} = 3 q_i mod 256. */
static inline void tpk_t1_band_to_i2(const trit_tpk *t1, int64_t beta, int64_t Kp2, uint8_t *out) {
    const int64_t nch2 = Kp2 / 64, nbl = t1->Kp / 320;
    for (int j = 0; j < 4; j++) {
        const int64_t tb = 2 * beta + j / 2;
        if (tb * 8 + 4 * (j % 2) >= t1->N) { /* rows past N */
            for (int64_t kc = 0; kc < nch2; kc++) memset(out + kc * 256 + 64 * j, 0x55, 64);
            continue;
        }
        const uint8_t *base = t1->data + tb * t1->band_bytes;
        for (int64_t kb = 0; kb < nbl; kb++) {
            uint8_t o[5][64];
            memset(o, 0, sizeof o);
            for (int g = 0; g < 4; g++) {
                const uint8_t *p = base + kb * 512 + 64 * (4 * (j % 2) + g);
                for (int c = 0; c < 64; c++) {
                    uint8_t q = p[c];
                    for (int i = 0; i < 5; i++) {
                        uint8_t d = (uint8_t)((q >= 86) + (q >= 171));
                        o[i][c] = (uint8_t)(o[i][c] | (d << (2 * g)));
                        q = (uint8_t)(q * 3);
                    }
                }
            }
            for (int i = 0; i < 5; i++) {
                const int64_t kc = 5 * kb + i;
                if (kc < nch2) memcpy(out + kc * 256 + 64 * j, o[i], 64);
            }
        }
    }
}

/* Bytes of I2 codes decoded from T1 per block of the T1 GEMM paths. */
enum { TPK_T1_SCRATCH = 192 * 1024 };

#endif /* TRIT_TPACK_IMPL_H */
