/*
 * attention.c - causal grouped-query softmax attention (no KV cache: the
 * whole sequence at once). Query head h reads kv head h / (H/KV), as
 * repeat_interleave does in the reference. The products are T x T x hd
 * matrix products through tr_gemm (entries above the diagonal hold exact
 * zeros of P or dS, so they add nothing).
 */
#include <math.h>
#include "train/train_ops.h"

typedef struct {
    trit_isa isa;
    float *out, *att, *dq, *dk, *dv, *datt, *scratch;
    const float *q, *k, *v, *dout, *att_in;
    int64_t B, T, H, KV, hd;
    float scale;
} attn_task;

/* dst (hd, T) = the T rows of hd values at src (row stride ld), transposed. */
static void transpose_rows(float *dst, const float *src, int64_t T, int64_t hd, int64_t ld) {
    for (int64_t s = 0; s < T; s++)
        for (int64_t d = 0; d < hd; d++) dst[d * T + s] = src[s * ld + d];
}

/* ==== forward ==== */

/* (batch, head) pairs [lo, hi). Scores are (q.k rounded to float) * scale
 * as torch's (q @ k^T) * hd**-0.5; softmax as torch: exp(s - max) times
 * 1/sum over s <= t, zeros above the diagonal; out = P @ v. */
static void attn_fwd_task(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t T = a->T, hd = a->hd, HD = a->H * hd, KVD = a->KV * hd, group = a->H / a->KV;
    float *kt = a->scratch + (int64_t)ith * hd * T; /* (hd, T) keys of the current kv head, transposed */
    int64_t lo, hi, cached = -1;
    trit_split(a->B * a->H, ith, nth, 1, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / a->H, h = u % a->H, kvh = h / group;
        const float *kb = a->k + b * T * KVD + kvh * hd, *vb = a->v + b * T * KVD + kvh * hd;
        if (cached != b * a->KV + kvh) {
            transpose_rows(kt, kb, T, hd, KVD);
            cached = b * a->KV + kvh;
        }
        float *p = a->att + u * T * T;
        tr_gemm(a->isa, p, T, a->q + b * T * HD + h * hd, HD, 1, kt, T, T, hd, 0, T, 0);
        for (int64_t t = 0; t < T; t++) {
            float *row = p + t * T, mx = -INFINITY;
            for (int64_t s = 0; s <= t; s++) {
                row[s] *= a->scale;
                mx = row[s] > mx ? row[s] : mx;
            }
            double sum = 0;
            for (int64_t s = 0; s <= t; s++) {
                row[s] = expf(row[s] - mx);
                sum += row[s];
            }
            float inv = 1.0f / (float)sum;
            for (int64_t s = 0; s <= t; s++) row[s] *= inv;
            for (int64_t s = t + 1; s < T; s++) row[s] = 0.0f;
        }
        tr_gemm(a->isa, a->out + b * T * HD + h * hd, HD, p, T, 1, vb, KVD, T, T, 0, hd, 0);
    }
}

/* See train_ops.h. */
void tr_attention_forward(trit_pool *pool, trit_isa isa, float *out, float *att, float *scratch, const float *q,
                          const float *k, const float *v, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd) {
    attn_task a = {.isa = isa, .out = out, .att = att, .scratch = scratch, .q = q, .k = k, .v = v, .B = B, .T = T,
                   .H = H, .KV = KV, .hd = hd, .scale = (float)pow((double)hd, -0.5)};
    trit_pool_run(pool, attn_fwd_task, &a);
}

/* ==== backward ==== */

/* (batch, kv head) pairs [lo, hi), each with its whole group of query heads
 * in order, so dk and dv of a kv head are summed by one thread in a fixed
 * order. Per query head: dP = dout v^T, dS = P (dP - sum(P dP)) * scale
 * (into datt), dq += dS k, dk += dS^T q, dv += P^T dout. */
static void attn_bwd_task(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t T = a->T, hd = a->hd, HD = a->H * hd, KVD = a->KV * hd, group = a->H / a->KV;
    float *vt = a->scratch + (int64_t)ith * hd * T; /* (hd, T) values transposed */
    int64_t lo, hi;
    trit_split(a->B * a->KV, ith, nth, 1, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / a->KV, kvh = u % a->KV;
        const float *kb = a->k + b * T * KVD + kvh * hd, *vb = a->v + b * T * KVD + kvh * hd;
        float *dkb = a->dk + b * T * KVD + kvh * hd, *dvb = a->dv + b * T * KVD + kvh * hd;
        transpose_rows(vt, vb, T, hd, KVD);
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
            const float *p = a->att_in + (b * a->H + h) * T * T;
            const float *go = a->dout + b * T * HD + h * hd, *qh = a->q + b * T * HD + h * hd;
            float *ds = a->datt + (b * a->H + h) * T * T;
            tr_gemm(a->isa, ds, T, go, HD, 1, vt, T, T, hd, 0, T, 0); /* dP */
            for (int64_t t = 0; t < T; t++) {
                const float *pr = p + t * T;
                float *dr = ds + t * T;
                double sum = 0;
                for (int64_t s = 0; s <= t; s++) sum += (double)pr[s] * dr[s];
                for (int64_t s = 0; s <= t; s++) dr[s] = (float)((double)pr[s] * ((double)dr[s] - sum)) * a->scale;
                for (int64_t s = t + 1; s < T; s++) dr[s] = 0.0f;
            }
            tr_gemm(a->isa, a->dq + b * T * HD + h * hd, HD, ds, T, 1, kb, KVD, T, T, 0, hd, 1);
            tr_gemm(a->isa, dkb, KVD, ds, 1, T, qh, HD, T, T, 0, hd, 1);
            tr_gemm(a->isa, dvb, KVD, p, 1, T, go, HD, T, T, 0, hd, 1);
        }
    }
}

/* See train_ops.h. */
void tr_attention_backward(trit_pool *pool, trit_isa isa, float *dq, float *dk, float *dv, float *datt,
                           float *scratch, const float *dout, const float *q, const float *k, const float *v,
                           const float *att, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd) {
    attn_task a = {.isa = isa, .dq = dq, .dk = dk, .dv = dv, .datt = datt, .scratch = scratch, .dout = dout,
                   .q = q, .k = k, .v = v, .att_in = att, .B = B, .T = T, .H = H, .KV = KV, .hd = hd,
                   .scale = (float)pow((double)hd, -0.5)};
    trit_pool_run(pool, attn_bwd_task, &a);
}
