/*
 * attention.c - causal grouped-query softmax attention (no KV cache: the
 * whole sequence at once). Query head h reads kv head h / (H/KV), as
 * repeat_interleave does in the reference. The products are T x T x hd
 * matrix products through tr_gemm; the causal structure lets row blocks
 * skip the all-zero parts of P and dS (dropped terms are exact zeros).
 */

/* The softmax loops vectorize only when comparisons are known not to trap
 * (trit never enables floating-point traps); results are unchanged.
 * (Set before the includes, so that the headers' inline helpers get the
 * same options and are inlined.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include "train/train_ops.h"

typedef struct {
    const tr_exec *ex;
    float *out, *att, *dq, *dk, *dv, *datt;
    const float *q, *k, *v, *dout, *att_in;
    int64_t B, T, H, KV, hd;
    float scale;
} attn_task;

/* Rows of the T x T products are handled in blocks of RB rows, so that the
 * causal structure skips the blocks that hold only zeros. */
enum { RB = 64 };

/* Lower-triangular product: rows [r0, r1) of C, for every row block only
 * the columns [0, r1) (the entries right of the diagonal are computed or
 * not, and are never read). */
static void gemm_lower_rows(const tr_exec *ex, float *gs, const tr_gemm_op *op, int64_t T, int64_t nc) {
    for (int64_t r0 = 0; r0 < T; r0 += RB) {
        int64_t r1 = r0 + RB < T ? r0 + RB : T;
        tr_gemm(ex->isa, gs, op, r0, r1, 0, nc < 0 ? r1 : nc);
    }
}

/* C (T, nc) (+)= L (T, T) @ B where L is lower triangular (element (m, k)
 * of L is 0 for k > m): row block [r0, r1) sums k over [0, r1) only, the
 * dropped terms being exact zeros (fma(0, b, c) = c). */
static void gemm_lower_a(const tr_exec *ex, float *gs, tr_gemm_op op, int64_t T, int64_t nc) {
    for (int64_t r0 = 0; r0 < T; r0 += RB) {
        int64_t r1 = r0 + RB < T ? r0 + RB : T;
        op.K = r1;
        tr_gemm(ex->isa, gs, &op, r0, r1, 0, nc);
    }
}

/* C (T, nc) (+)= U (T, T) @ B where U is upper triangular (element (m, k)
 * is 0 for k < m): row block [r0, r1) sums k over [r0, T) only, starting
 * the chain at k = r0 (the skipped leading terms are exact zeros). */
static void gemm_upper_a(const tr_exec *ex, float *gs, const tr_gemm_op *op0, int64_t T, int64_t nc) {
    for (int64_t r0 = 0; r0 < T; r0 += RB) {
        int64_t r1 = r0 + RB < T ? r0 + RB : T;
        tr_gemm_op op = *op0;
        op.A += r0 * op.sak;
        op.B += r0 * op.sbk;
        op.K = T - r0;
        tr_gemm(ex->isa, gs, &op, r0, r1, 0, nc);
    }
}

/* ==== forward ==== */

/* (batch, head) pairs [lo, hi). Scores are (q.k rounded to float) * scale
 * as torch's (q @ k^T) * hd**-0.5; softmax as torch: exp(s - max) times
 * 1/sum over s <= t, zeros above the diagonal; out = P @ v. */
static void attn_fwd_task(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t T = a->T, hd = a->hd, HD = a->H * hd, KVD = a->KV * hd, group = a->H / a->KV;
    float *gs = a->ex->scratch + (int64_t)ith * TR_GEMM_SCRATCH;
    int64_t lo, hi;
    trit_split(a->B * a->H, ith, nth, 1, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / a->H, h = u % a->H, kvh = h / group;
        const float *kb = a->k + b * T * KVD + kvh * hd, *vb = a->v + b * T * KVD + kvh * hd;
        float *p = a->att + u * T * T;
        /* S = q k^T: B(d, s) = k[s][d] */
        tr_gemm_op qk = {.C = p, .ldc = T, .A = a->q + b * T * HD + h * hd, .sam = HD, .sak = 1, .B = kb, .sbk = 1,
                         .sbn = KVD, .K = hd, .accumulate = 0};
        gemm_lower_rows(a->ex, gs, &qk, T, -1);
        for (int64_t t = 0; t < T; t++) {
            float *row = p + t * T, mx = -INFINITY;
            for (int64_t s = 0; s <= t; s++) {
                row[s] *= a->scale;
                mx = row[s] > mx ? row[s] : mx;
            }
            double sum = 0;
            for (int64_t s = 0; s <= t; s++) row[s] = tr_expf(row[s] - mx);
            for (int64_t s = 0; s <= t; s++) sum += row[s];
            float inv = 1.0f / (float)sum;
            for (int64_t s = 0; s <= t; s++) row[s] *= inv;
            for (int64_t s = t + 1; s < T; s++) row[s] = 0.0f;
        }
        tr_gemm_op pv = {.C = a->out + b * T * HD + h * hd, .ldc = HD, .A = p, .sam = T, .sak = 1, .B = vb,
                         .sbk = KVD, .sbn = 1, .K = T, .accumulate = 0};
        gemm_lower_a(a->ex, gs, pv, T, hd);
    }
}

/* See train_ops.h. */
void tr_attention_forward(const tr_exec *ex, float *out, float *att, const float *q, const float *k, const float *v,
                          int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd) {
    attn_task a = {.ex = ex, .out = out, .att = att, .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .KV = KV,
                   .hd = hd, .scale = (float)pow((double)hd, -0.5)};
    trit_pool_run(ex->pool, attn_fwd_task, &a);
}

/* ==== backward ==== */

/* (batch, kv head) pairs [lo, hi), each with its whole group of query heads
 * in order, so dk and dv of a kv head are summed by one thread in a fixed
 * order. Per query head: dP = dout v^T, dS = P (dP - sum(P dP)) * scale
 * (into datt), dq += dS k, dk += dS^T q, dv += P^T dout. */
static void attn_bwd_task(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t T = a->T, hd = a->hd, HD = a->H * hd, KVD = a->KV * hd, group = a->H / a->KV;
    float *gs = a->ex->scratch + (int64_t)ith * TR_GEMM_SCRATCH;
    int64_t lo, hi;
    trit_split(a->B * a->KV, ith, nth, 1, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / a->KV, kvh = u % a->KV;
        const float *kb = a->k + b * T * KVD + kvh * hd, *vb = a->v + b * T * KVD + kvh * hd;
        float *dkb = a->dk + b * T * KVD + kvh * hd, *dvb = a->dv + b * T * KVD + kvh * hd;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
            const float *p = a->att_in + (b * a->H + h) * T * T;
            const float *go = a->dout + b * T * HD + h * hd, *qh = a->q + b * T * HD + h * hd;
            float *ds = a->datt + (b * a->H + h) * T * T;
            tr_gemm_op dp = {.C = ds, .ldc = T, .A = go, .sam = HD, .sak = 1, .B = vb, .sbk = 1, .sbn = KVD,
                             .K = hd, .accumulate = 0};
            gemm_lower_rows(a->ex, gs, &dp, T, -1); /* dP = dout v^T (lower triangle) */
            for (int64_t t = 0; t < T; t++) {
                const float *pr = p + t * T;
                float *dr = ds + t * T;
                double sum = 0;
                for (int64_t s = 0; s <= t; s++) sum += (double)pr[s] * dr[s];
                for (int64_t s = 0; s <= t; s++) dr[s] = (float)((double)pr[s] * ((double)dr[s] - sum)) * a->scale;
                for (int64_t s = t + 1; s < T; s++) dr[s] = 0.0f;
            }
            tr_gemm_op dq = {.C = a->dq + b * T * HD + h * hd, .ldc = HD, .A = ds, .sam = T, .sak = 1, .B = kb,
                             .sbk = KVD, .sbn = 1, .K = T, .accumulate = 1};
            gemm_lower_a(a->ex, gs, dq, T, hd);
            tr_gemm_op dk = {.C = dkb, .ldc = KVD, .A = ds, .sam = 1, .sak = T, .B = qh, .sbk = HD, .sbn = 1,
                             .K = T, .accumulate = 1};
            gemm_upper_a(a->ex, gs, &dk, T, hd);
            tr_gemm_op dv = {.C = dvb, .ldc = KVD, .A = p, .sam = 1, .sak = T, .B = go, .sbk = HD, .sbn = 1,
                             .K = T, .accumulate = 1};
            gemm_upper_a(a->ex, gs, &dv, T, hd);
        }
    }
}

/* See train_ops.h. */
void tr_attention_backward(const tr_exec *ex, float *dq, float *dk, float *dv, float *datt, const float *dout,
                           const float *q, const float *k, const float *v, const float *att, int64_t B, int64_t T,
                           int64_t H, int64_t KV, int64_t hd) {
    attn_task a = {.ex = ex, .dq = dq, .dk = dk, .dv = dv, .datt = datt, .dout = dout,
                   .q = q, .k = k, .v = v, .att_in = att, .B = B, .T = T, .H = H, .KV = KV, .hd = hd,
                   .scale = (float)pow((double)hd, -0.5)};
    trit_pool_run(ex->pool, attn_bwd_task, &a);
}
