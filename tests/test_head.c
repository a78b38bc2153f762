/*
 * test_head.c - the block-quantized lm_head (src/kernels/head.h):
 *   - q8/q6/q4 weight quantization error bounds on odd row counts (padding
 *     rows of the last tile are zero), and the activation quantizer;
 *   - every kernel level this CPU has (scalar, avx2 with vpmaddubsw,
 *     avx2 + AVX-VNNI, avx512) bit-identical to the scalar reference, which
 *     itself agrees with a double-precision dot of the dequantized operands,
 *     on M = 1 and M > 1 and row ranges that split tiles;
 *   - end to end: the fixture models with each head format give logits close
 *     to the exact (stored) head, identical for any thread count and batch
 *     split, and a hidden size that is not a multiple of 32 is refused with
 *     a clear message.
 */
#include <stdint.h>
#include "tt.h"
#include "trit.h"
#include "kernels/head.h"
#include "io/safetensors.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) { return (float)((double)rnd() / 2097152.0 / 1024.0 - 1.0); } /* ~[-1,1) */

/* Approximately normal (sum of 4 uniforms), scaled. */
static float rndn(float s) { return s * (rndf() + rndf() + rndf() + rndf()) * 0.866f; }

static const trit_hq_fmt FMTS[] = {TRIT_HQ_Q8, TRIT_HQ_Q6, TRIT_HQ_Q4};

/* Fills a [N x K] bf16 matrix with varied blocks: normal values, outliers,
 * all-zero blocks, single non-zero blocks, negative extremes. */
static void fill_weights(uint16_t *w, int64_t N, int64_t K) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < K / 32; b++) {
            int kind = (int)(rnd() % 8);
            float s = kind == 7 ? 1e-3f : 0.05f;
            for (int i = 0; i < 32; i++) {
                float v = rndn(s);
                if (kind == 1 && i == 5) v = 0.9f;        /* positive outlier */
                if (kind == 2 && i == 30) v = -0.7f;      /* negative outlier */
                if (kind == 3) v = 0;                     /* all zero */
                if (kind == 4) v = i == 17 ? -0.02f : 0;  /* one value */
                w[n * K + b * 32 + i] = trit_f32_to_bf16(v);
            }
        }
}

/* Quantizes a bf16 matrix into a fresh tile array (in two row ranges, as
 * threads would). Caller frees. */
static void *quantize(trit_hq_fmt fmt, const uint16_t *w, int64_t N, int64_t K) {
    size_t bytes = trit_hq_bytes(fmt, N, K);
    void *t = malloc(bytes);
    memset(t, 0xAB, bytes); /* garbage: every byte must be written */
    trit_dmat d = {N, K, ST_BF16, w};
    int64_t mid = (N / 2) / 16 * 16;
    trit_hq_quantize_rows(fmt, &d, 0, mid, t);
    trit_hq_quantize_rows(fmt, &d, mid, N, t);
    return t;
}

static void test_formats(void) {
    CHECK(trit_hq_tile_bytes(TRIT_HQ_Q8) == 544 && trit_hq_tile_bytes(TRIT_HQ_Q6) == 416 &&
          trit_hq_tile_bytes(TRIT_HQ_Q4) == 288, "tile sizes");
    /* bits per weight: 8.5, 6.5, 4.5 */
    CHECK(trit_hq_bytes(TRIT_HQ_Q8, 32, 64) * 8 == (size_t)(32 * 64 * 17 / 2), "q8 bits");
    CHECK(trit_hq_bytes(TRIT_HQ_Q6, 32, 64) * 8 == (size_t)(32 * 64 * 13 / 2), "q6 bits");
    CHECK(trit_hq_bytes(TRIT_HQ_Q4, 32, 64) * 8 == (size_t)(32 * 64 * 9 / 2), "q4 bits");
    CHECK(trit_hq_bytes(TRIT_HQ_Q4, 17, 64) == 2 * 2 * 288, "padded row group");
    CHECK(!strcmp(trit_hq_name(TRIT_HQ_Q6), "q6") && trit_hq_offset(TRIT_HQ_Q6) == 32, "q6 name/offset");
}

/* |w - dequant(w)| per element against the format's bound (relative to the
 * block's largest magnitude, with the bf16 scale rounded up by < 2^-7), RMS
 * error of normal-looking weights, zero padding rows. */
static void test_quantize_error(void) {
    const int64_t shapes[][2] = {{1, 32}, {17, 96}, {33, 64}, {5, 2560}, {31, 160}};
    for (size_t f = 0; f < 3; f++) {
        trit_hq_fmt fmt = FMTS[f];
        double lim = fmt == TRIT_HQ_Q8 ? 0.5 / 127 : fmt == TRIT_HQ_Q6 ? 1.0 / 32 : 1.0 / 8;
        double rms_lim = fmt == TRIT_HQ_Q8 ? 0.006 : fmt == TRIT_HQ_Q6 ? 0.025 : 0.11;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], K = shapes[s][1];
            uint16_t *w = malloc((size_t)(N * K) * 2);
            fill_weights(w, N, K);
            trit_hmat H = {fmt, N, K, quantize(fmt, w, N, K)};
            float *row = malloc((size_t)K * 4);
            double se = 0, ss = 0;
            int bad = 0;
            for (int64_t n = 0; n < N; n++) {
                trit_hq_dequant_row(&H, n, row);
                for (int64_t b = 0; b < K / 32; b++) {
                    double amax = 0;
                    for (int i = 0; i < 32; i++) amax = fmax(amax, fabs(trit_bf16_to_f32(w[n * K + b * 32 + i])));
                    for (int i = 0; i < 32; i++) {
                        double v = trit_bf16_to_f32(w[n * K + b * 32 + i]), e = fabs(v - row[b * 32 + i]);
                        if (e > lim * amax * (1 + 1.0 / 128) + 1e-30 && bad++ < 3)
                            CHECK(0, "%s N=%lld K=%lld row %lld col %lld: %g -> %g (block max %g)", trit_hq_name(fmt),
                                  (long long)N, (long long)K, (long long)n, (long long)(b * 32 + i), v, row[b * 32 + i], amax);
                        if (amax == 0) CHECK(row[b * 32 + i] == 0, "zero block must stay zero");
                        if (amax > 0.2 || amax < 0.01) continue; /* normal-looking blocks only for the RMS */
                        se += e * e;
                        ss += v * v;
                    }
                }
            }
            CHECK(ss == 0 || sqrt(se / ss) <= rms_lim, "%s: relative RMS error %.4f > %.4f", trit_hq_name(fmt), sqrt(se / ss), rms_lim);
            if (s == 3) printf("  %s: relative RMS error %.4f\n", trit_hq_name(fmt), sqrt(se / ss));
            for (int64_t n = N; n < (N + 15) / 16 * 16; n++) { /* padding rows */
                trit_hq_dequant_row(&H, n, row);
                int nz = 0;
                for (int64_t k = 0; k < K; k++) nz += row[k] != 0;
                CHECK(nz == 0, "%s: padding row %lld has %d non-zero weights", trit_hq_name(fmt), (long long)n, nz);
            }
            free(row);
            free((void *)H.tiles);
            free(w);
        }
    }
}

/* The conversion reports the first non-finite weight (the model loader's
 * NaN/Inf check of a quantized head), and -1 for a finite matrix. */
static void test_quantize_nonfinite(void) {
    const int64_t N = 40, K = 96;
    uint16_t *w = malloc((size_t)(N * K) * 2);
    fill_weights(w, N, K);
    void *t = malloc(trit_hq_bytes(TRIT_HQ_Q8, N, K)); /* the largest tiles */
    trit_dmat d = {N, K, ST_BF16, w};
    CHECK(trit_hq_quantize_rows(TRIT_HQ_Q4, &d, 0, N, t) == -1, "finite matrix");
    w[35 * K + 70] = 0x7fc0;                   /* NaN */
    w[33 * K + 5] = 0xff80;                    /* -Inf */
    CHECK(trit_hq_quantize_rows(TRIT_HQ_Q8, &d, 0, 32, t) == -1, "rows 0-31 are finite");
    int64_t at = trit_hq_quantize_rows(TRIT_HQ_Q6, &d, 32, N, t);
    CHECK(at == 33 * K + 5, "first non-finite at %lld, want %lld", (long long)at, (long long)(33 * K + 5));
    free(t);
    free(w);
}

/* Activation blocks: |x - d*q| <= d/2, sum of codes, zero and huge blocks. */
static void test_act_quant(void) {
    enum { K = 160 };
    float x[K];
    for (int k = 0; k < K; k++) x[k] = rndn(2.0f);
    for (int k = 32; k < 64; k++) x[k] = 0;       /* zero block */
    x[70] = 1e30f;                                /* huge outlier */
    for (int k = 96; k < 128; k++) x[k] = 1e-40f; /* subnormal block: treated as zero */
    x[150] = -30.0f;
    trit_hq_act a[K / 32];
    trit_hq_quantize_act(x, K, a);
    for (int b = 0; b < K / 32; b++) {
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            sum += a[b].qs[i];
            CHECK(a[b].qs[i] >= -127 && a[b].qs[i] <= 127, "code range");
            double e = fabs(x[b * 32 + i] - (double)a[b].d * a[b].qs[i]);
            if (b != 3) CHECK(e <= 0.5 * a[b].d * 1.0001 + 1e-30, "block %d elem %d: %g vs %g * %d", b, i, x[b * 32 + i], a[b].d, a[b].qs[i]);
        }
        CHECK(sum == a[b].sum, "block %d sum %d vs %d", b, sum, a[b].sum);
    }
    CHECK(a[1].d == 0 && a[1].sum == 0, "zero block");
    CHECK(a[3].d == 0 && a[3].sum == 0, "subnormal block is zero");
    CHECK(a[2].qs[70 - 64] == 127, "outlier maps to 127");
    CHECK(a[4].qs[150 - 128] == -127, "block extreme maps to -127");
}

typedef struct {
    const char *name;
    trit_hmatmul_fn fn;
} level;

/* The kernel levels this CPU can run. */
static int levels(level *out) {
    int n = 0;
    out[n++] = (level){"scalar", trit_hmatmul_scalar};
#if defined(__x86_64__)
    if (trit_cpu_isa() >= TRIT_ISA_AVX2 && trit_cpu_isa() != TRIT_ISA_NEON) {
        out[n++] = (level){"avx2", trit_hmatmul_avx2};
        if (trit_cpu_has_avxvnni()) out[n++] = (level){"avx2-vnni", trit_hmatmul_avxvnni};
    }
    if (trit_cpu_isa() == TRIT_ISA_AVX512) out[n++] = (level){"avx512", trit_hmatmul_avx512};
#endif
    return n;
}

/* Every level equals the scalar reference bit for bit; the reference agrees
 * with a double dot of the dequantized operands. Row ranges split tiles,
 * output rows are written once (sentinel column N untouched). */
static void test_kernels_match_reference(void) {
    const int64_t shapes[][3] = {{1, 32, 1}, {17, 96, 1}, {33, 64, 3}, {70, 2560, 1}, {16, 32, 5},
                                 {5, 160, 9}, {100, 320, 4}, {47, 256, 2}, {129, 64, 7}};
    level L[4];
    int nl = levels(L);
    printf("  levels:");
    for (int i = 0; i < nl; i++) printf(" %s", L[i].name);
    printf("\n");
    for (size_t f = 0; f < 3; f++) {
        trit_hq_fmt fmt = FMTS[f];
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s][0], K = shapes[s][1], M = shapes[s][2], B = K / 32, ld = N + 1;
            uint16_t *w = malloc((size_t)(N * K) * 2);
            fill_weights(w, N, K);
            trit_hmat H = {fmt, N, K, quantize(fmt, w, N, K)};
            float *x = malloc((size_t)(M * K) * 4);
            for (int64_t i = 0; i < M * K; i++) x[i] = rndn(1.0f);
            if (K >= 64) x[40] = 60.0f; /* an outlier block */
            trit_hq_act *xa = malloc((size_t)(M * B) * sizeof *xa);
            for (int64_t m = 0; m < M; m++) trit_hq_quantize_act(x + m * K, K, xa + m * B);
            float *ref = malloc((size_t)(M * ld) * 4), *y = malloc((size_t)(M * ld) * 4);
            for (int64_t i = 0; i < M * ld; i++) ref[i] = NAN;
            trit_hmatmul_scalar(&H, xa, M, ref, ld, 0, N);
            /* the reference against the dequantized operands in double */
            float *wr = malloc((size_t)K * 4);
            for (int64_t n = 0; n < N; n++) {
                trit_hq_dequant_row(&H, n, wr);
                for (int64_t m = 0; m < M; m++) {
                    double want = 0, mag = 0;
                    for (int64_t k = 0; k < K; k++) {
                        double p = (double)wr[k] * xa[m * B + k / 32].d * xa[m * B + k / 32].qs[k % 32];
                        want += p;
                        mag += fabs(p);
                    }
                    CHECK(fabs(ref[m * ld + n] - want) <= 1e-5 * mag + 1e-30, "%s N=%lld K=%lld: reference %g vs %g",
                          trit_hq_name(fmt), (long long)N, (long long)K, ref[m * ld + n], want);
                }
            }
            for (int li = 0; li < nl; li++) {
                for (int64_t i = 0; i < M * ld; i++) y[i] = NAN;
                int64_t cut = N / 2 + (N > 2); /* rarely a multiple of 16 */
                L[li].fn(&H, xa, M, y, ld, 0, cut);
                L[li].fn(&H, xa, M, y, ld, cut, N);
                int diff = 0;
                for (int64_t m = 0; m < M; m++) {
                    CHECK(isnan(y[m * ld + N]), "%s wrote past its rows", L[li].name);
                    diff += memcmp(y + m * ld, ref + m * ld, (size_t)N * 4) != 0;
                }
                CHECK(diff == 0, "%s %s N=%lld K=%lld M=%lld: %d token rows differ from the reference", L[li].name,
                      trit_hq_name(fmt), (long long)N, (long long)K, (long long)M, diff);
                /* M = 1 on a single row inside a tile */
                float one[5] = {NAN, NAN, NAN, NAN, NAN};
                if (N > 3) {
                    L[li].fn(&H, xa, 1, one, 1, 3, 4);
                    CHECK(!memcmp(&one[3], &ref[3], 4) && isnan(one[2]) && isnan(one[4]), "%s single row: %g vs %g",
                          L[li].name, one[3], ref[3]);
                }
            }
            free(wr); free(ref); free(y); free(xa); free(x); free((void *)H.tiles); free(w);
        }
    }
}

/* ==== end to end ==== */

static const char *MODELS[] = {"bitnet_tied_gqa", "bitnet_untied", "bitnet_online_bf16", "llama_packed"};
#define N_MODELS (sizeof MODELS / sizeof MODELS[0])

static trit_model *load(const char *name, int head, trit_error *err) {
    char dir[512];
    snprintf(dir, sizeof dir, TT_FIXTURES "/models/%s", name);
    trit_model_params mp = trit_model_default_params();
    mp.lm_head_format = head;
    trit_model *m = NULL;
    trit_model_load(dir, &mp, &m, err);
    return m;
}

/* All-position logits of ids (chunks of `chunk`, n_batch `batch`). */
static float *logits_of(trit_model *m, const int32_t *ids, int64_t n, int64_t chunk, int64_t batch, int threads) {
    trit_model_info info;
    trit_model_get_info(m, &info);
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_threads = threads;
    cp.n_ctx = n;
    cp.n_batch = batch;
    trit_ctx *c = NULL;
    trit_error err = {0};
    CHECK(trit_ctx_new(m, &cp, &c, &err) == TRIT_OK, "%s", err.msg);
    if (!c) return NULL;
    float *out = calloc((size_t)(n * info.vocab_size), sizeof(float));
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t k = n - i < chunk ? n - i : chunk;
        CHECK(trit_decode(c, ids + i, k, out + i * info.vocab_size, 1, &err) == TRIT_OK, "%s", err.msg);
    }
    trit_ctx_free(c);
    return out;
}

static void test_models_close_to_exact_head(void) {
    const int heads[] = {TRIT_HEAD_Q8, TRIT_HEAD_Q6, TRIT_HEAD_Q4};
    const double rel_lim[] = {0.02, 0.05, 0.2}; /* max |diff| / max |logit| */
    const double rms_lim[] = {0.01, 0.03, 0.12}; /* RMS diff / RMS logit */
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        trit_error err = {0};
        trit_model *e = load(MODELS[mi], TRIT_HEAD_AS_STORED, &err);
        CHECK(e != NULL, "%s", err.msg);
        if (!e) continue;
        trit_model_info ei;
        trit_model_get_info(e, &ei);
        int32_t ids[23];
        for (int i = 0; i < 23; i++) ids[i] = (int32_t)((i * 131 + 7) % ei.vocab_size);
        float *a = logits_of(e, ids, 23, 23, 512, 2);
        const size_t nv = (size_t)(23 * ei.vocab_size);
        for (int h = 0; h < 3; h++) {
            trit_model *q = load(MODELS[mi], heads[h], &err);
            if (ei.hidden_size % 32 != 0) { /* blocks of 32 need hidden % 32 == 0: refused clearly */
                CHECK(!q && err.code == TRIT_ERR_UNSUPPORTED && strstr(err.msg, "multiple of 32") &&
                      strstr(err.msg, "hidden_size") && strstr(err.msg, MODELS[mi]), "%s: %s", MODELS[mi], err.msg);
                trit_model_free(q);
                continue;
            }
            CHECK(q != NULL, "%s: %s", MODELS[mi], err.msg);
            if (!q) continue;
            trit_model_info qi;
            trit_model_get_info(q, &qi);
            const char *want = heads[h] == TRIT_HEAD_Q8 ? "q8" : heads[h] == TRIT_HEAD_Q6 ? "q6" : "q4";
            CHECK(!strncmp(qi.lm_head_format, want, 2), "head format %s", qi.lm_head_format);
            CHECK(qi.weight_bytes < ei.weight_bytes, "quantized head reads fewer bytes");
            float *b = logits_of(q, ids, 23, 23, 512, 2);
            double mx = 0, d = 0, se = 0, ss = 0;
            int same = 0;
            for (size_t i = 0; i < nv; i++) {
                mx = fmax(mx, fabs(a[i]));
                double x = fabs((double)a[i] - b[i]);
                d = x > d || x != x ? x : d;
                se += x * x;
                ss += (double)a[i] * a[i];
            }
            for (int r = 0; r < 23; r++) {
                int64_t ia = 0, ib = 0;
                for (int64_t v = 1; v < ei.vocab_size; v++) {
                    if (a[r * ei.vocab_size + v] > a[r * ei.vocab_size + ia]) ia = v;
                    if (b[r * ei.vocab_size + v] > b[r * ei.vocab_size + ib]) ib = v;
                }
                same += ia == ib;
            }
            printf("  %-20s %s: max|diff| %.3g of max|logit| %.3g (%.4f), RMS %.4f, argmax equal %d/23\n", MODELS[mi],
                   want, d, mx, d / mx, sqrt(se / ss), same);
            CHECK(d <= rel_lim[h] * mx, "%s %s: max diff %.3g of %.3g", MODELS[mi], want, d, mx);
            CHECK(sqrt(se / ss) <= rms_lim[h], "%s %s: RMS diff %.4f", MODELS[mi], want, sqrt(se / ss));
            if (h < 2) CHECK(same >= 21, "%s %s changed %d of 23 argmaxes", MODELS[mi], want, 23 - same);
            /* the quantized head is exact integer + fixed float order: identical
             * for any batch split and thread count */
            float *c1 = logits_of(q, ids, 23, 1, 512, 1), *c2 = logits_of(q, ids, 23, 7, 5, 3);
            CHECK(c1 && !memcmp(b, c1, nv * 4), "%s %s: token by token differs", MODELS[mi], want);
            CHECK(c2 && !memcmp(b, c2, nv * 4), "%s %s: chunks/threads differ", MODELS[mi], want);
            free(c1);
            free(c2);
            free(b);
            trit_model_free(q);
        }
        free(a);
        trit_model_free(e);
    }
}

int main(void) {
    RUN(test_formats);
    RUN(test_quantize_error);
    RUN(test_quantize_nonfinite);
    RUN(test_act_quant);
    RUN(test_kernels_match_reference);
    RUN(test_models_close_to_exact_head);
    return TT_END();
}
