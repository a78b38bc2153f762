/*
 * attention.c - causal grouped-query softmax attention (no KV cache: the
 * whole sequence at once). Query head h reads kv head h / (H/KV), as
 * repeat_interleave does in the reference.
 *
 * Memory is linear in T (FlashAttention-style recomputation): the T x T
 * probabilities are never stored. Rows are handled in blocks of
 * TR_ATTN_RB queries; a block's scores and probabilities (RB x T at most)
 * live in per-thread scratch. The forward pass keeps, per row, only the
 * softmax statistics (the row max and 1/sum); the backward pass recomputes
 * every block of probabilities from q, k and those statistics with the
 * very same float operations, so the recomputed P equals the forward's P
 * bit for bit.
 *
 * The products are matrix products through tr_gemm. The causal structure
 * lets a row block [r0, r1) stop at column r1 (the entries right of the
 * diagonal are exact zeros, and fma(0, b, c) = c), and every C element is
 * one fused multiply-add chain in ascending k: dk and dv, summed over the
 * row blocks in ascending order through C, get the same chain as one
 * product over the whole sequence would. Results do not depend on the
 * thread count or the kernel level.
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
    float *scratch;                 /* (n_threads, TR_ATTN_SCRATCH(T)) */
    float *out, *stat, *dq, *dk, *dv;
    const float *q, *k, *v, *dout, *stat_in;
    int64_t B, T, H, KV, hd;
    float scale;
} attn_task;

enum { RB = TR_ATTN_RB };

/* s (r1 - r0, r1), row stride T: the scores of query rows [r0, r1) of one
 * head against keys [0, r1), (q . k rounded to float) * scale as torch's
 * (q @ k^T) * hd**-0.5. Entries right of the diagonal are computed too (the
 * callers never read them). qh (T, row stride HD): the head's queries;
 * kb (T, row stride KVD): its kv head's keys. */
static void scores_block(const attn_task *a, float *gs, float *s, const float *qh, const float *kb, int64_t r0,
                         int64_t r1) {
    const int64_t T = a->T, HD = a->H * a->hd, KVD = a->KV * a->hd;
    /* S = q k^T: B(d, j) = k[j][d] */
    tr_gemm_op qk = {.C = s, .ldc = T, .A = qh + r0 * HD, .sam = HD, .sak = 1, .B = kb, .sbk = 1, .sbn = KVD,
                     .K = a->hd, .accumulate = 0};
    tr_gemm(a->ex->isa, gs, &qk, 0, r1 - r0, 0, r1);
    for (int64_t i = 0; i < r1 - r0; i++) {
        float *row = s + i * T;
        for (int64_t j = 0; j <= r0 + i; j++) row[j] *= a->scale;
    }
}

/* ==== forward ==== */

/* (batch, head) pairs [lo, hi), row block by row block: scores, softmax as
 * torch (exp(s - max) times 1/sum over s <= t, zeros above the diagonal),
 * out = P @ v; the row's (max, 1/sum) go to stat. */
static void attn_fwd_task(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t T = a->T, hd = a->hd, HD = a->H * hd, KVD = a->KV * hd, group = a->H / a->KV;
    float *gs = a->ex->scratch + (int64_t)ith * TR_GEMM_SCRATCH;
    float *p = a->scratch + (int64_t)ith * TR_ATTN_SCRATCH(T); /* (RB, T) one row block of P */
    int64_t lo, hi;
    trit_split(a->B * a->H, ith, nth, 1, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / a->H, h = u % a->H, kvh = h / group;
        const float *qh = a->q + b * T * HD + h * hd;
        const float *kb = a->k + b * T * KVD + kvh * hd, *vb = a->v + b * T * KVD + kvh * hd;
        float *st = a->stat + u * T * 2;
        for (int64_t r0 = 0; r0 < T; r0 += RB) {
            int64_t r1 = r0 + RB < T ? r0 + RB : T;
            scores_block(a, gs, p, qh, kb, r0, r1);
            for (int64_t i = 0; i < r1 - r0; i++) {
                int64_t t = r0 + i;
                float *row = p + i * T, mx = -INFINITY;
                for (int64_t s = 0; s <= t; s++) mx = row[s] > mx ? row[s] : mx;
                double sum = 0;
                for (int64_t s = 0; s <= t; s++) row[s] = tr_expf(row[s] - mx);
                for (int64_t s = 0; s <= t; s++) sum += row[s];
                float inv = 1.0f / (float)sum;
                for (int64_t s = 0; s <= t; s++) row[s] *= inv;
                for (int64_t s = t + 1; s < r1; s++) row[s] = 0.0f;
                st[2 * t] = mx;
                st[2 * t + 1] = inv;
            }
            /* out rows [r0, r1) = P[:, 0:r1] @ v[0:r1] */
            tr_gemm_op pv = {.C = a->out + b * T * HD + r0 * HD + h * hd, .ldc = HD, .A = p, .sam = T, .sak = 1,
                             .B = vb, .sbk = KVD, .sbn = 1, .K = r1, .accumulate = 0};
            tr_gemm(a->ex->isa, gs, &pv, 0, r1 - r0, 0, hd);
        }
    }
}

/* See train_ops.h. */
void tr_attention_forward(const tr_exec *ex, float *out, float *stat, float *scratch, const float *q,
                          const float *k, const float *v, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd) {
    attn_task a = {.ex = ex, .scratch = scratch, .out = out, .stat = stat, .q = q, .k = k, .v = v, .B = B, .T = T,
                   .H = H, .KV = KV, .hd = hd, .scale = (float)pow((double)hd, -0.5)};
    trit_pool_run(ex->pool, attn_fwd_task, &a);
}

/* ==== backward ==== */

/* (batch, kv head) pairs [lo, hi), each with its whole group of query heads
 * in order and every head's row blocks in ascending order, so dk and dv of
 * a kv head are summed by one thread in a fixed order. Per row block
 * [r0, r1) of a query head: P recomputed from the scores and stat,
 * dP = dout v^T, dS = P (dP - sum(P dP)) * scale, dq += dS k,
 * dk[0:r1] += dS^T q, dv[0:r1] += P^T dout. */
static void attn_bwd_task(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t T = a->T, hd = a->hd, HD = a->H * hd, KVD = a->KV * hd, group = a->H / a->KV;
    float *gs = a->ex->scratch + (int64_t)ith * TR_GEMM_SCRATCH;
    float *p = a->scratch + (int64_t)ith * TR_ATTN_SCRATCH(T); /* (RB, T) row block of P  */
    float *ds = p + RB * T;                                      /* (RB, T) row block of dS */
    const trit_isa isa = a->ex->isa;
    int64_t lo, hi;
    trit_split(a->B * a->KV, ith, nth, 1, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t b = u / a->KV, kvh = u % a->KV;
        const float *kb = a->k + b * T * KVD + kvh * hd, *vb = a->v + b * T * KVD + kvh * hd;
        float *dkb = a->dk + b * T * KVD + kvh * hd, *dvb = a->dv + b * T * KVD + kvh * hd;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
            const float *st = a->stat_in + (b * a->H + h) * T * 2;
            const float *qh = a->q + b * T * HD + h * hd, *go = a->dout + b * T * HD + h * hd;
            float *dqh = a->dq + b * T * HD + h * hd;
            for (int64_t r0 = 0; r0 < T; r0 += RB) {
                int64_t r1 = r0 + RB < T ? r0 + RB : T, m = r1 - r0;
                /* P: the forward's float operations on the same scores */
                scores_block(a, gs, p, qh, kb, r0, r1);
                for (int64_t i = 0; i < m; i++) {
                    int64_t t = r0 + i;
                    float *row = p + i * T, mx = st[2 * t], inv = st[2 * t + 1];
                    for (int64_t s = 0; s <= t; s++) row[s] = tr_expf(row[s] - mx);
                    for (int64_t s = 0; s <= t; s++) row[s] *= inv;
                    for (int64_t s = t + 1; s < r1; s++) row[s] = 0.0f;
                }
                /* dP = dout v^T (rows [r0, r1), columns [0, r1)) */
                tr_gemm_op dp = {.C = ds, .ldc = T, .A = go + r0 * HD, .sam = HD, .sak = 1, .B = vb, .sbk = 1,
                                 .sbn = KVD, .K = hd, .accumulate = 0};
                tr_gemm(isa, gs, &dp, 0, m, 0, r1);
                for (int64_t i = 0; i < m; i++) {
                    int64_t t = r0 + i;
                    const float *pr = p + i * T;
                    float *dr = ds + i * T;
                    double sum = 0;
                    for (int64_t s = 0; s <= t; s++) sum += (double)pr[s] * dr[s];
                    for (int64_t s = 0; s <= t; s++)
                        dr[s] = (float)((double)pr[s] * ((double)dr[s] - sum)) * a->scale;
                    for (int64_t s = t + 1; s < r1; s++) dr[s] = 0.0f;
                }
                /* dq rows [r0, r1) += dS[:, 0:r1] @ k[0:r1] */
                tr_gemm_op dq = {.C = dqh + r0 * HD, .ldc = HD, .A = ds, .sam = T, .sak = 1, .B = kb, .sbk = KVD,
                                 .sbn = 1, .K = r1, .accumulate = 1};
                tr_gemm(isa, gs, &dq, 0, m, 0, hd);
                /* dk rows [0, r1) += dS^T @ q[r0:r1]; dv rows [0, r1) += P^T @ dout[r0:r1] */
                tr_gemm_op dk = {.C = dkb, .ldc = KVD, .A = ds, .sam = 1, .sak = T, .B = qh + r0 * HD, .sbk = HD,
                                 .sbn = 1, .K = m, .accumulate = 1};
                tr_gemm(isa, gs, &dk, 0, r1, 0, hd);
                tr_gemm_op dv = {.C = dvb, .ldc = KVD, .A = p, .sam = 1, .sak = T, .B = go + r0 * HD, .sbk = HD,
                                 .sbn = 1, .K = m, .accumulate = 1};
                tr_gemm(isa, gs, &dv, 0, r1, 0, hd);
            }
        }
    }
}

/* See train_ops.h. */
void tr_attention_backward(const tr_exec *ex, float *dq, float *dk, float *dv, float *scratch, const float *dout,
                           const float *q, const float *k, const float *v, const float *stat, int64_t B, int64_t T,
                           int64_t H, int64_t KV, int64_t hd) {
    attn_task a = {.ex = ex, .scratch = scratch, .dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k,
                   .v = v, .stat_in = stat, .B = B, .T = T, .H = H, .KV = KV, .hd = hd,
                   .scale = (float)pow((double)hd, -0.5)};
    trit_pool_run(ex->pool, attn_bwd_task, &a);
}
