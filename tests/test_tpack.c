/*
 * test_tpack.c - the repacked ternary layouts (src/kernels/tpack.h): packing
 * round trips from the Hugging Face layout, the T1 base-3 code on all 243
 * digit patterns, and every format's kernel on every level the machine has
 * against a naive unpacked computation (bit-identical floats) on odd and
 * edge shapes, whole and split into row ranges.
 */
#include <stdint.h>
#include "tt.h"
#include "kernels/kernels.h"
#include "kernels/tpack.h"
#include "quant/ternary.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Random ternary W [N x K] (w) in the HF layout (t, codes returned). */
static uint8_t *random_hf(int64_t N, int64_t K, int8_t *w, trit_tmat *t) {
    int64_t Q = (N + 3) / 4;
    uint8_t *codes = malloc((size_t)(Q * K));
    memset(codes, 0x55, (size_t)(Q * K));
    for (int64_t r = 0; r < N; r++)
        for (int64_t k = 0; k < K; k++) {
            int v = (int)(rnd() % 3) - 1;
            w[r * K + k] = (int8_t)v;
            uint8_t *b = &codes[(r % Q) * K + k];
            int sh = 2 * (int)(r / Q);
            *b = (uint8_t)((*b & ~(3 << sh)) | ((v + 1) << sh));
        }
    *t = (trit_tmat){N, K, Q, codes};
    return codes;
}

static const char *fmt_name(int f) { return f == TRIT_TPK_I2 ? "I2" : f == TRIT_TPK_T1 ? "T1" : "TL"; }

/* The T1 code: q = ceil(256 v / 243) gives back the 5 digits of v. */
static void test_t1_code_all_patterns(void) {
    for (unsigned v = 0; v < 243; v++) {
        unsigned q = (v * 256 + 242) / 243, qi = q;
        CHECK(q <= 255, "v=%u q=%u", v, q);
        unsigned want[5], x = v;
        for (int i = 4; i >= 0; i--) { want[i] = x % 3; x /= 3; }
        for (int i = 0; i < 5; i++) {
            unsigned d = (qi * 3) >> 8, next = (qi * 3) & 255;
            CHECK(d == want[i], "v=%u digit %d: %u vs %u", v, i, d, want[i]);
            CHECK(3 * qi - next == 256 * d, "v=%u digit %d: 3q - q' = %u", v, i, 3 * qi - next);
            CHECK(d == (unsigned)(qi >= 86) + (unsigned)(qi >= 171), "v=%u digit %d: compare form", v, i);
            qi = next;
        }
    }
}

/* Packs W into fmt; returns the buffer (t->data set). */
static uint8_t *pack(const trit_tmat *hf, int fmt, trit_tpk *t) {
    size_t n = trit_tpk_geometry(t, fmt, hf->N, hf->K);
    uint8_t *buf = trit_aligned_alloc(n);
    memset(buf, 0xAA, n); /* the packer must write every byte */
    int64_t nb = trit_tpk_bands(t);
    trit_tpk_pack_hf(hf, t, buf, 0, nb / 2); /* two ranges, as two threads would */
    trit_tpk_pack_hf(hf, t, buf, nb / 2, nb);
    t->data = buf;
    return buf;
}

static void test_pack_round_trip(void) {
    const int64_t shapes[][2] = {{4, 1}, {16, 64}, {20, 65}, {36, 320}, {44, 321}, {8, 9}, {100, 700}, {64, 1000}};
    for (int fmt = TRIT_TPK_I2; fmt <= TRIT_TPK_TL; fmt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], K = shapes[s][1];
            int8_t *w = malloc((size_t)(N * K));
            trit_tmat hf;
            uint8_t *codes = random_hf(N, K, w, &hf);
            trit_tpk t;
            uint8_t *buf = pack(&hf, fmt, &t);
            int bad = 0;
            for (int64_t r = 0; r < N; r++)
                for (int64_t k = 0; k < K; k++) bad += trit_tpk_code(&t, r, k) != w[r * K + k] + 1;
            /* padding (rows past N up to the band, columns past K up to Kp) is weight 0 */
            for (int64_t r = 0; r < trit_tpk_bands(&t) * t.rows; r++)
                for (int64_t k = 0; k < t.Kp; k++)
                    if (r >= N || k >= K) bad += trit_tpk_code(&t, r, k) != 1;
            CHECK(bad == 0, "%s N=%lld K=%lld: %d codes differ", fmt_name(fmt), (long long)N, (long long)K, bad);
            trit_aligned_free(buf);
            free(codes);
            free(w);
        }
}

static void test_kernels_all_levels(void) {
    /* N, K, M: K below, at and past the blocks (64, 320, 9), N = 1 and not a
     * multiple of 4/8/16/32, many rows, one token and several */
    const int64_t shapes[][3] = {{1, 1, 1},    {4, 7, 1},     {5, 64, 2},    {16, 65, 1},  {17, 319, 3},
                                 {33, 320, 1}, {40, 321, 5},  {8, 9, 4},     {3, 1000, 1}, {130, 641, 2},
                                 {64, 2560, 1}, {96, 700, 9}, {256, 130, 1}, {48, 1920, 6}};
    for (int isa = 0; isa <= (int)TRIT_ISA_NEON; isa++) {
        if (isa > (int)trit_cpu_isa()) continue;
        const trit_tpk_kernels *kt = trit_tpk_kernels_for((trit_isa)isa);
        for (int fmt = TRIT_TPK_I2; fmt <= TRIT_TPK_TL; fmt++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int64_t N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
                int8_t *w = malloc((size_t)(N * K));
                trit_tmat hf;
                uint8_t *codes = random_hf(N, K, w, &hf);
                trit_tpk t;
                uint8_t *buf = pack(&hf, fmt, &t);
                int8_t *xq = malloc((size_t)(M * K));
                float xs[16];
                int32_t xsum[16];
                float *x = malloc((size_t)K * sizeof(float));
                for (int64_t m = 0; m < M; m++) {
                    for (int64_t k = 0; k < K; k++) x[k] = (float)((int)(rnd() % 2001) - 1000) / 300.0f;
                    xs[m] = trit_act_quant(x, K, xq + m * K, &xsum[m]);
                    if (m == 0) { /* extreme activations */
                        for (int64_t k = 0; k < K; k += 3) xq[k] = (int8_t)(k % 2 ? 127 : -128);
                        int32_t sum = 0;
                        for (int64_t k = 0; k < K; k++) sum += xq[k];
                        xsum[0] = sum;
                    }
                }
                float *y = malloc((size_t)(M * N) * 4), *y2 = malloc((size_t)(M * N) * 4);
                for (int64_t i = 0; i < M * N; i++) y[i] = y2[i] = NAN;
                const float wdiv = 1.3f;
                kt->mm[fmt](&t, wdiv, xq, xs, xsum, M, y, N, 0, N);
                /* split at a multiple of TRIT_TPK_ALIGN, as the thread split does */
                int64_t mid = (N / 2) / TRIT_TPK_ALIGN * TRIT_TPK_ALIGN;
                kt->mm[fmt](&t, wdiv, xq, xs, xsum, M, y2, N, 0, mid);
                kt->mm[fmt](&t, wdiv, xq, xs, xsum, M, y2, N, mid, N);
                int bad = 0;
                for (int64_t m = 0; m < M; m++)
                    for (int64_t r = 0; r < N; r++) {
                        int32_t acc = 0;
                        for (int64_t k = 0; k < K; k++) acc += xq[m * K + k] * w[r * K + k];
                        float want = (float)acc / (xs[m] * wdiv);
                        if (!(y[m * N + r] == want && y2[m * N + r] == want)) {
                            if (bad++ < 3)
                                CHECK(0, "%s %s N=%lld K=%lld M=%lld m=%lld r=%lld: %g / %g vs %g", kt->name,
                                      fmt_name(fmt), (long long)N, (long long)K, (long long)M, (long long)m,
                                      (long long)r, y[m * N + r], y2[m * N + r], want);
                        }
                    }
                CHECK(bad == 0, "%s %s N=%lld K=%lld M=%lld: %d outputs differ", kt->name, fmt_name(fmt),
                      (long long)N, (long long)K, (long long)M, bad);
                /* and the same bits as the HF-layout kernel of the level */
                const trit_kernels *hk = trit_kernels_for((trit_isa)isa);
                hk->tmatmul(&hf, wdiv, xq, xs, xsum, M, y2, N, 0, hf.Q);
                CHECK(memcmp(y, y2, (size_t)(M * N) * 4) == 0, "%s %s N=%lld K=%lld: differs from tmatmul",
                      kt->name, fmt_name(fmt), (long long)N, (long long)K);
                free(x); free(y); free(y2); free(xq);
                trit_aligned_free(buf);
                free(codes);
                free(w);
            }
    }
}

int main(void) {
    RUN(test_t1_code_all_patterns);
    RUN(test_pack_round_trip);
    RUN(test_kernels_all_levels);
    return TT_END();
}
