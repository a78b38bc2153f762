/*
 * test_ops.c - the per-token ops of the forward pass (nn/ops.h) on every
 * kernel level this CPU has: activation quantization bit-identical to
 * trit_act_quant (ties included), rmsnorm / relu^2 GLU / attention
 * bit-identical to their scalar references and close to plain double
 * formulas, on odd lengths.
 */
#include "tt.h"
#include "nn/ops.h"
#include "quant/ternary.h"

static uint64_t rng = 88172645463325252ull;
static float rndf(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 40) / (double)(1ull << 23) - 1.0);
}

/* The levels this CPU can run, scalar first. */
static int levels(const nn_kernels **out) {
    int n = 0;
    out[n++] = nn_kernels_for(TRIT_ISA_SCALAR);
#if defined(__x86_64__)
    trit_isa best = trit_cpu_isa();
    if (best == TRIT_ISA_AVX2 || best == TRIT_ISA_AVX512) out[n++] = nn_kernels_for(TRIT_ISA_AVX2);
    if (best == TRIT_ISA_AVX512) out[n++] = nn_kernels_for(TRIT_ISA_AVX512);
#endif
    return n;
}

static const int64_t LENS[] = {1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 100, 129, 2560, 6913};
#define NLENS (sizeof LENS / sizeof LENS[0])

static int same_bits(const float *a, const float *b, int64_t n) { return !memcmp(a, b, (size_t)n * sizeof(float)); }

static void test_act_quant_bit_exact(void) {
    const nn_kernels *k[3];
    int nk = levels(k);
    printf("  levels:");
    for (int l = 0; l < nk; l++) printf(" %s", k[l]->name);
    printf("\n");
    for (size_t li = 0; li < NLENS; li++)
        for (int kind = 0; kind < 4; kind++) {
            int64_t n = LENS[li];
            float *x = malloc((size_t)n * 4);
            int8_t *q0 = malloc((size_t)n), *q1 = malloc((size_t)n);
            for (int64_t i = 0; i < n; i++) {
                float r = rndf();
                if (kind == 0) x[i] = r * 3.0f;
                /* max |x| = 127 -> scale 1: every k + 0.5 is a tie */
                else if (kind == 1) x[i] = (float)((int)(r * 126.0f)) + (i % 2 ? 0.5f : -0.5f);
                else if (kind == 2) x[i] = r * 1e-7f; /* below the 1e-5 clamp */
                else x[i] = i % 5 == 0 ? 0.0f : r * (i % 3 ? 1e3f : 1e-3f);
            }
            if (kind == 1) x[n / 2] = 127.0f;
            int32_t s0, s1;
            float sc0 = trit_act_quant(x, n, q0, &s0);
            for (int l = 0; l < nk; l++) {
                memset(q1, 0x7f, (size_t)n);
                float sc1 = k[l]->act_quant(x, n, q1, &s1);
                CHECK(sc0 == sc1 && s0 == s1 && !memcmp(q0, q1, (size_t)n), "%s n=%lld kind %d: scale %g/%g sum %d/%d",
                      k[l]->name, (long long)n, kind, sc0, sc1, s0, s1);
            }
            free(x); free(q0); free(q1);
        }
}

static void test_rmsnorm_levels(void) {
    const nn_kernels *k[3];
    int nk = levels(k);
    for (size_t li = 0; li < NLENS; li++) {
        int64_t n = LENS[li];
        float *x = malloc((size_t)n * 4), *w = malloc((size_t)n * 4), *o0 = malloc((size_t)n * 4), *o1 = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) { x[i] = rndf() * 4; w[i] = 1 + rndf() * 0.5f; }
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
        double r = 1 / sqrt(ss / n + 1e-5);
        for (int gain = 0; gain < 2; gain++) {
            nn_rmsnorm(o0, x, gain ? w : NULL, n, 1e-5f);
            for (int64_t i = 0; i < n; i++)
                CHECK(fabs(o0[i] - (gain ? w[i] : 1) * x[i] * r) <= 2e-6 * (fabs(x[i] * r) * 2 + 1e-3), "ref n=%lld", (long long)n);
            for (int l = 0; l < nk; l++) {
                k[l]->rmsnorm(o1, x, gain ? w : NULL, n, 1e-5f);
                CHECK(same_bits(o0, o1, n), "%s rmsnorm n=%lld gain %d", k[l]->name, (long long)n, gain);
            }
        }
        /* in place */
        memcpy(o1, x, (size_t)n * 4);
        k[nk - 1]->rmsnorm(o1, o1, w, n, 1e-5f);
        nn_rmsnorm(o0, x, w, n, 1e-5f);
        CHECK(same_bits(o0, o1, n), "in-place rmsnorm n=%lld", (long long)n);
        free(x); free(w); free(o0); free(o1);
    }
}

static void test_relu2_glu_levels(void) {
    const nn_kernels *k[3];
    int nk = levels(k);
    for (size_t li = 0; li < NLENS; li++) {
        int64_t n = LENS[li];
        float *g = malloc((size_t)n * 4), *u = malloc((size_t)n * 4), *o0 = malloc((size_t)n * 4), *o1 = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) { g[i] = rndf() * 3; u[i] = rndf() * 3; }
        g[0] = -0.0f;
        if (n > 3) g[3] = NAN;
        nn_relu2_glu(o0, g, u, n);
        CHECK(o0[0] == 0 && (n <= 3 || o0[3] == 0), "relu of -0 / NaN");
        for (int l = 0; l < nk; l++) {
            k[l]->relu2_glu(o1, g, u, n);
            CHECK(same_bits(o0, o1, n), "%s glu n=%lld", k[l]->name, (long long)n);
        }
        free(g); free(u); free(o0); free(o1);
    }
    float gg[3] = {-1, 2, 0.5f}, uu[3] = {3, 3, 2};
    nn_glu(gg, uu, 3, NN_ACT_RELU2);
    CHECK(gg[0] == 0 && gg[1] == 12 && gg[2] == 0.5f, "in-place relu2 %g %g %g", gg[0], gg[1], gg[2]);
}

static void test_expf(void) {
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        double want = exp((double)x), got = nn_expf(x);
        double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    CHECK(worst < 4e-7, "nn_expf worst relative error %.3g", worst);
    CHECK(nn_expf(0) == 1.0f, "e^0");
    CHECK(nn_expf(-1000.0f) > 0 && nn_expf(-1000.0f) < 1e-37f, "underflow clamp");
}

static void test_rope_table(void) {
    float inv[64], cs[128], a[128], b[128];
    for (int i = 0; i < 64; i++) inv[i] = powf(10000.0f, -(float)i / 64);
    for (int64_t pos = 0; pos < 5000; pos += 777) {
        for (int i = 0; i < 128; i++) a[i] = b[i] = rndf();
        nn_rope(a, 128, inv, pos);
        nn_rope_table(cs, 128, inv, pos);
        nn_rope_apply(b, 128, cs);
        CHECK(same_bits(a, b, 128), "rope table at pos %lld", (long long)pos);
    }
}

/* f16 conversions: every half widens and narrows back to itself (NaNs stay
 * NaN); narrowing rounds to nearest even, overflows to infinity, and agrees
 * with F16C's vcvtps2ph on random and boundary floats where the CPU has it. */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("f16c"))) static uint16_t hw_f2h(float f) { return (uint16_t)_cvtss_sh(f, 0); }
__attribute__((target("f16c"))) static float hw_h2f(uint16_t h) { return _cvtsh_ss(h); }
#endif
static void test_f16_conversions(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = nn_h2f((uint16_t)h);
        uint16_t back = nn_f2h(f);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) bad += !(f != f) || (back & 0x7c00) != 0x7c00 || !(back & 0x3ff);
        else bad += back != h;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    CHECK(nn_f2h(65504.0f) == 0x7bff && nn_f2h(65519.0f) == 0x7bff && nn_f2h(65520.0f) == 0x7c00, "overflow edge");
    CHECK(nn_f2h(1e9f) == 0x7c00 && nn_f2h(-1e9f) == 0xfc00 && nn_f2h(INFINITY) == 0x7c00, "overflow to inf");
    CHECK(nn_f2h(1.0f + 1.0f / 2048) == 0x3c00 && nn_f2h(1.0f + 3.0f / 2048) == 0x3c02, "ties to even");
    CHECK(nn_f2h(5.9604645e-8f) == 0x0001 && nn_f2h(2.9802322e-8f) == 0 && nn_f2h(2.98024e-8f) == 0x0001,
          "subnormal edges");
#if defined(__x86_64__)
    if (trit_cpu_isa() >= TRIT_ISA_AVX2) {
        int diff = 0;
        uint32_t st = 12345;
        for (int i = 0; i < 2000000; i++) {
            st = st * 1664525u + 1013904223u;
            uint32_t bits = st;
            if (i % 4 == 1) bits = (bits & 0x807fffffu) | ((uint32_t)(100 + (st >> 28)) << 23); /* near the half range */
            float f;
            memcpy(&f, &bits, 4);
            uint16_t a = nn_f2h(f), hw = hw_f2h(f);
            if (f != f) diff += !((a & 0x7c00) == 0x7c00 && (a & 0x3ff));
            else diff += a != hw;
        }
        for (uint32_t h = 0; h < 65536; h++) {
            float x = nn_h2f((uint16_t)h), y = hw_h2f((uint16_t)h);
            diff += memcmp(&x, &y, 4) != 0 && !(x != x && y != y);
        }
        CHECK(diff == 0, "%d conversions differ from F16C", diff);
    }
#endif
}

/* Attention on the block key layout against a double-precision softmax, and
 * every level bit-identical to the scalar reference, for float and f16
 * keys/values (each combination). */
static void test_attend_levels(void) {
    const nn_kernels *k[3];
    int nk = levels(k);
    const int64_t ns[] = {1, 2, 15, 16, 17, 33, 64, 65, 100, 129, 300};
    const int64_t hds[] = {2, 8, 12, 16, 24, 40, 48, 57, 64, 128, 144, 200};
    for (int kv16 = 0; kv16 < 4; kv16++)
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            int64_t n = ns[ni], hd = hds[hi], n16 = (n + 15) / 16 * 16;
            const int kh = kv16 & NN_K16, vh = kv16 & NN_V16;
            float *q = malloc((size_t)hd * 4), *kt = malloc((size_t)(n16 * hd) * 4), *v = malloc((size_t)(n * hd) * 4);
            uint16_t *kt16 = malloc((size_t)(n16 * hd) * 2), *v16 = malloc((size_t)(n * hd) * 2);
            float *kr = malloc((size_t)(n * hd) * 4), *sc = malloc((size_t)n16 * 4);
            float *o0 = malloc((size_t)hd * 4), *o1 = malloc((size_t)hd * 4);
            double *p = malloc((size_t)n * sizeof(double));
            for (int64_t i = 0; i < hd; i++) q[i] = rndf() * 2;
            for (int64_t i = 0; i < n16 * hd; i++) kt[i] = NAN; /* unwritten slots must not matter */
            for (int64_t i = 0; i < n16 * hd; i++) kt16[i] = 0x7e00;
            for (int64_t t = 0; t < n; t++)
                for (int64_t i = 0; i < hd; i++) {
                    float kx = rndf() * 2, vx = rndf();
                    kt16[nn_kt_index(t, i, hd)] = nn_f2h(kx);
                    v16[t * hd + i] = nn_f2h(vx);
                    if (kh) kx = nn_h2f(nn_f2h(kx)); /* the reference sees what the cache holds */
                    if (vh) vx = nn_h2f(nn_f2h(vx));
                    kr[t * hd + i] = kx;
                    kt[nn_kt_index(t, i, hd)] = kx;
                    v[t * hd + i] = vx;
                }
            const void *K = kh ? (const void *)kt16 : kt, *V = vh ? (const void *)v16 : v;
            float scale = 1.0f / sqrtf((float)hd);
            double mx = -INFINITY, z = 0;
            for (int64_t t = 0; t < n; t++) {
                double s = 0;
                for (int64_t i = 0; i < hd; i++) s += (double)q[i] * kr[t * hd + i];
                p[t] = s * scale;
                mx = p[t] > mx ? p[t] : mx;
            }
            for (int64_t t = 0; t < n; t++) z += p[t] = exp(p[t] - mx);
            nn_attend(o0, q, K, V, kv16, n, hd, scale, sc);
            for (int64_t i = 0; i < hd; i++) {
                double want = 0;
                for (int64_t t = 0; t < n; t++) want += p[t] / z * v[t * hd + i];
                CHECK(fabs(o0[i] - want) <= 2e-6, "attend kv16=%d n=%lld hd=%lld out[%lld] %.9g vs %.9g", kv16,
                      (long long)n, (long long)hd, (long long)i, o0[i], want);
            }
            for (int l = 0; l < nk; l++) {
                memset(o1, 0, (size_t)hd * 4);
                k[l]->attend(o1, q, K, V, kv16, n, hd, scale, sc);
                CHECK(same_bits(o0, o1, hd), "%s attend kv16=%d n=%lld hd=%lld", k[l]->name, kv16, (long long)n,
                      (long long)hd);
            }
            /* groups of 1..6 heads: each equals its single-head result */
            for (int64_t G = 1; G <= 6; G++) {
                float *qg = malloc((size_t)(G * hd) * 4), *og = malloc((size_t)(G * hd) * 4), *o2 = malloc((size_t)hd * 4);
                float *sg = malloc((size_t)(G * n16) * 4);
                for (int64_t i = 0; i < G * hd; i++) qg[i] = rndf() * 2;
                for (int l = 0; l < nk; l++) {
                    k[l]->attend_group(og, qg, G, K, V, kv16, n, hd, scale, sg);
                    for (int64_t g = 0; g < G; g++) {
                        nn_attend(o2, qg + g * hd, K, V, kv16, n, hd, scale, sc);
                        CHECK(same_bits(o2, og + g * hd, hd), "%s attend_group kv16=%d G=%lld head %lld n=%lld hd=%lld",
                              k[l]->name, kv16, (long long)G, (long long)g, (long long)n, (long long)hd);
                    }
                }
                free(qg); free(og); free(o2); free(sg);
            }
            free(q); free(kt); free(v); free(kt16); free(v16); free(kr); free(sc); free(o0); free(o1); free(p);
        }
}

int main(void) {
    RUN(test_act_quant_bit_exact);
    RUN(test_rmsnorm_levels);
    RUN(test_relu2_glu_levels);
    RUN(test_expf);
    RUN(test_rope_table);
    RUN(test_f16_conversions);
    RUN(test_attend_levels);
    return TT_END();
}
