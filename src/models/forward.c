/*
 * forward.c - inference contexts and the forward pass of BitNet b1.58 and
 * Llama-BitNet decoders.
 *
 * One layer, for a batch of M tokens at positions p0..p0+M-1:
 *   xn = rmsnorm(x, input_layernorm);            q,k,v = BitLinear(xn)
 *   rope(q, k); append k, v to the KV cache;     a = causal GQA attention
 *   bitnet: a = rmsnorm(a, attn_sub_norm)        x += o_proj(a)
 *   xn = rmsnorm(x, post_attention_layernorm);   g, u = gate/up(xn)
 *   h = relu(g)^2 * u (bitnet, then ffn_sub_norm) or silu(g) * u (llama)
 *   x += down_proj(h)
 * then logits = lm_head(rmsnorm(x, norm)). A BitLinear quantizes its input to
 * int8 per token, so inputs shared by several projections are quantized once.
 *
 * Every step runs on the persistent pool, one pool job per step:
 *   linears   (norm + quantization of the input rows, then up to 3 linears,
 *              then the residual add x += y on each thread's own outputs)
 *   rope      (RoPE of q and k, k and v appended to the cache; for one token
 *              this is done by the attention tasks themselves)
 *   attention (one task per (token, KV head), or per (token, head) without GQA)
 * A linear's input (norm + int8 quantization, with the GLU folded in for
 * down_proj) is made per token. For a few tokens (decode) every thread makes
 * all of it into its own buffers, which costs less than a second job; for a
 * prompt the rows are split over the threads in a job of their own.
 * Decode runs 5 jobs per layer, a prompt 10.
 * Within a job the threads take work from a shared counter (chunks of rows
 * for the linears, tasks for attention) instead of fixed shares, so a thread
 * that is slowed down (another process, a descheduled virtual CPU) does not
 * hold the others up at the end of every job. The rows a thread computes do
 * not change the arithmetic, so logits are bit-identical for any thread
 * count and schedule.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "models/model.h"
#include "nn/ops.h"
#include "quant/ternary.h"

/* Up to this many tokens, each thread makes a linear's input itself. */
#define SMALL_M 4

/* The int8 input of a linear: rows of xn (f32, for dense linears) and their
 * quantization. Row stride = the linear's K. */
typedef struct {
    float *xn;                  /* [M][K]                                   */
    int8_t *xq;                 /* [M][K]                                   */
    float *xs;                  /* per-token scale [M]                      */
    int32_t *xsum;              /* per-token sum of xq [M]                  */
} lin_input;

struct trit_ctx {
    const trit_model *m;
    const trit_kernels *kern;
    const trit_tpk_kernels *tpk; /* repacked ternary layouts */
    const nn_kernels *nk;
    trit_pool *pool;
    int64_t n_ctx, n_batch, n_past;
    int64_t n_ctx16;            /* n_ctx rounded up to NN_KV_BLOCK           */
    /* KV cache. K: [n_layers][n_kv_heads][n_ctx16/16][head_dim][16] (ops.h's
     * block layout); V: [n_layers][n_kv_heads][n_ctx][head_dim]           */
    void *kcache, *vcache;      /* float, or f16 (uint16_t) per kv16        */
    int kv16;                   /* NN_K16 | NN_V16 (nn/ops.h)               */
    trit_arena arena;
    /* activations, [n_batch][...] each (carved from the arena)             */
    float *x;                   /* residual stream [B][D]                    */
    lin_input in;               /* shared linear input [B][W]               */
    lin_input *tin;             /* per-thread linear inputs [nth], [SMALL_M][W] each */
    float *q, *k, *v;           /* [B][HD], [B][KVD], [B][KVD]              */
    float *att;                 /* [B][HD]                                  */
    float *g, *u;               /* [B][F]                                   */
    float *tmp;                 /* [B][D]                                   */
    float *rope_cs;             /* RoPE cos/sin per batch token [B][head_dim] */
    float *scores;              /* [n_threads][heads per KV head][n_ctx16]  */
    trit_profile prof;          /* time per forward step (trit.h)           */
    const trit_head_kernels *hkern; /* block-quantized lm_head kernels      */
    trit_hq_act *hxa;           /* its activation blocks [B][D/32], or NULL */
    int64_t width;              /* W = max(D, HD, F)                        */
};

/* ==== pool jobs ==== */

enum { JOB_NORM_QUANT, JOB_LINEARS, JOB_ROPE_STORE, JOB_ATTN };

typedef struct {
    const trit_linear *lin;
    float *y;                   /* [M][lin->out]                            */
} lin_task;

typedef struct {
    int op;
    trit_ctx *c;
    int64_t M, p0, layer;
    /* norm+quant: the input of the linears */
    const float *src;           /* [M][n]                                   */
    const float *up;            /* GLU: src is the gate, up [M][n] (stride ld); else NULL */
    const float *w;             /* norm weight or NULL                      */
    int64_t n, ld;              /* row length and stride of src             */
    int quant;                  /* also quantize xn into xq                 */
    int norm;                   /* 0: xn = src (no normalization)           */
    int hquant;                 /* also quantize xn into hxa (quantized lm_head) */
    /* linears */
    lin_task lins[3];
    int n_lins;
    int own_input;              /* each thread makes the input (norm+quant) itself */
    _Atomic int64_t next;       /* linears: the next unit to hand out (run_linears) */
    int fused_rope;             /* attention of one token also does its RoPE + cache store */
    float *residual;            /* x [M][out] += y of lins[0] (or NULL)     */
} job;

/* Rows [lo,hi) of a linear's input: xn = rmsnorm(h) (or h), h = src or the
 * GLU act(src) * up; then xq, xs, xsum = its int8 quantization. */
static void do_norm_quant(job *j, int64_t lo, int64_t hi, const lin_input *in) {
    trit_ctx *c = j->c;
    for (int64_t m = lo; m < hi; m++) {
        float *xn = in->xn + m * j->n; /* rows packed with stride n = the next linear's K */
        const float *h = j->src + m * j->ld;
        if (j->up) {
            if (c->m->cfg.act == NN_ACT_RELU2) {
                c->nk->relu2_glu(xn, h, j->up + m * j->ld, j->n);
            } else {
                memcpy(xn, h, (size_t)j->n * sizeof(float));
                nn_glu(xn, j->up + m * j->ld, j->n, c->m->cfg.act);
            }
            h = xn;
        }
        if (j->norm) c->nk->rmsnorm(xn, h, j->w, j->n, c->m->cfg.eps);
        else if (h != xn) memcpy(xn, h, (size_t)j->n * sizeof(float));
        if (j->quant) in->xs[m] = c->nk->act_quant(xn, j->n, in->xq + m * j->n, &in->xsum[m]);
        if (j->hquant) trit_hq_quantize_act(xn, j->n, c->hxa + m * (j->n / TRIT_HQ_BLOCK));
    }
}

/* Output rows [lo, hi) of M tokens (row stride lin->out): y += bias, then
 * residual += y (each when present). */
static void add_bias_residual(const trit_linear *lin, float *y, float *residual, int64_t M, int64_t lo, int64_t hi) {
    const int64_t N = lin->out;
    for (int64_t m = 0; m < M; m++) {
        if (lin->bias)
            for (int64_t r = lo; r < hi; r++) y[m * N + r] += lin->bias[r];
        if (residual)
            for (int64_t r = lo; r < hi; r++) residual[m * N + r] += y[m * N + r];
    }
}

/* ==== linears: work units and their scheduling ==== */

/* Units of work of a linear and their alignment: packed rows (4 output rows
 * each) for the stored ternary layout, output rows for every other kind.
 * *unit_bytes: weight bytes read per unit (to size chunks). */
static int64_t lin_units(const trit_linear *lin, int64_t *align, int64_t *unit_bytes) {
    const int64_t K = lin->in;
    switch (lin->kind) {
    case LIN_TERNARY:
        if (lin->tp.data) { *align = TRIT_TPK_ALIGN; *unit_bytes = K / 4 + 1; return lin->out; }
        *align = 1; *unit_bytes = K; return lin->t.Q;
    case LIN_BINARY: *align = 16; *unit_bytes = K / 8 + 1; return lin->out;
    case LIN_HQ: *align = TRIT_HQ_ROWS; *unit_bytes = K; return lin->out;
    default: *align = 4; *unit_bytes = K * (lin->d.dtype == ST_F32 ? 4 : 2); return lin->out;
    }
}

/* Units [lo, hi) of linear `lin` (see lin_units) on M rows of input `in`
 * (f32 rows in in->xn for dense linears, int8 rows in in->xq for ternary and
 * binary ones, c->hxa for block-quantized ones; row stride lin->in), then
 * y += bias and, with `residual`, residual[m][r] += y[m][r] on the output
 * rows r of those units. */
static void run_linear_units(trit_ctx *c, const trit_linear *lin, const lin_input *in, float *y, float *residual,
                             int64_t M, int64_t lo, int64_t hi) {
    const int64_t N = lin->out;
    if (lo >= hi) return;
    if (lin->kind == LIN_TERNARY && lin->tp.data) {
        c->tpk->mm[lin->tp.fmt](&lin->tp, lin->wdiv, in->xq, in->xs, in->xsum, M, y, N, lo, hi);
        add_bias_residual(lin, y, residual, M, lo, hi);
    } else if (lin->kind == LIN_TERNARY) { /* packed rows q in [lo, hi): output rows q + g*Q */
        c->kern->tmatmul(&lin->t, lin->wdiv, in->xq, in->xs, in->xsum, M, y, N, lo, hi);
        if (lin->bias || residual)
            for (int64_t g = 0; g < 4; g++) {
                int64_t r0 = lo + g * lin->t.Q, r1 = hi + g * lin->t.Q < N ? hi + g * lin->t.Q : N;
                if (r0 < r1) add_bias_residual(lin, y, residual, M, r0, r1);
            }
    } else if (lin->kind == LIN_BINARY) {
        c->kern->bmatmul(&lin->b, lin->wdiv, in->xq, in->xs, in->xsum, M, y, N, lo, hi);
        add_bias_residual(lin, y, residual, M, lo, hi);
    } else if (lin->kind == LIN_HQ) {
        c->hkern->hmatmul(&lin->hq, c->hxa, M, y, N, lo, hi);
    } else {
        c->kern->dmatmul(&lin->d, in->xn, M, y, N, lo, hi);
        add_bias_residual(lin, y, residual, M, lo, hi);
    }
}

/* Smallest chunk, in weight bytes: one token (decode) streams the weights;
 * several tokens reuse each chunk's codes from L2 for every token block, so
 * their chunks are larger (64 KiB: small enough that the last chunk of a
 * job, which one thread runs while the other may wait, stays short). */
#define CHUNK_MIN_BYTES (16 * 1024)
#define CHUNK_MIN_BYTES_GEMM (64 * 1024)

/* Runs this thread's chunks of the job's linears (guided self-scheduling):
 * the threads take chunks from one shared counter over the units of all the
 * linears in order, each chunk a 1/(2 nth) share of the units left (at
 * least CHUNK_MIN_BYTES of weights, aligned, within one linear). A thread
 * that is slow or descheduled for a while takes fewer chunks instead of
 * holding up the others; every output row is computed by exactly one thread
 * with the same arithmetic, so results do not depend on the schedule. */
static void run_linears(job *j, const lin_input *in, int nth) {
    int64_t units[3], align[3], minu[3], end[3], total = 0;
    for (int i = 0; i < j->n_lins; i++) {
        int64_t ub;
        units[i] = lin_units(j->lins[i].lin, &align[i], &ub);
        int64_t mb = j->M > 1 ? CHUNK_MIN_BYTES_GEMM : CHUNK_MIN_BYTES;
        minu[i] = (mb / ub + align[i]) / align[i] * align[i]; /* >= align */
        total += units[i];
        end[i] = total;
    }
    int64_t start = atomic_load_explicit(&j->next, memory_order_relaxed);
    for (;;) {
        if (start >= total) return;
        int i = 0;
        while (start >= end[i]) i++;
        const int64_t base = end[i] - units[i];
        int64_t size = (total - start) / (2 * nth);
        if (size < minu[i]) size = minu[i];
        size = (size + align[i] - 1) / align[i] * align[i];
        if (start + size > end[i]) size = end[i] - start;
        if (!atomic_compare_exchange_weak_explicit(&j->next, &start, start + size, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue; /* start now holds the current counter */
        run_linear_units(j->c, j->lins[i].lin, in, j->lins[i].y, i == 0 ? j->residual : NULL, j->M, start - base,
                         start + size - base);
        start = atomic_load_explicit(&j->next, memory_order_relaxed);
    }
}

/* K cache block array of (layer, kv head), and the V rows. */
static void *k_cache(trit_ctx *c, int64_t layer, int64_t kvh) {
    const trit_config *cf = &c->m->cfg;
    const int64_t i = (layer * cf->n_kv_heads + kvh) * c->n_ctx16 * cf->head_dim;
    return (char *)c->kcache + i * (c->kv16 & NN_K16 ? 2 : 4);
}
static void *v_cache(trit_ctx *c, int64_t layer, int64_t kvh) {
    const trit_config *cf = &c->m->cfg;
    const int64_t i = (layer * cf->n_kv_heads + kvh) * c->n_ctx * cf->head_dim;
    return (char *)c->vcache + i * (c->kv16 & NN_V16 ? 2 : 4);
}

/* RoPE on key head h of token m (its cos/sin table made), then its key and
 * value go into the cache at position p0 + m. */
static void rope_store_kv(trit_ctx *c, const job *j, int64_t m, int64_t h) {
    const trit_config *cf = &c->m->cfg;
    const int64_t hd = cf->head_dim, KVD = cf->n_kv_heads * hd, pos = j->p0 + m;
    float *k = c->k + m * KVD + h * hd;
    nn_rope_apply(k, hd, c->rope_cs + m * hd);
    const float *v = c->v + m * KVD + h * hd;
    if (c->kv16 & NN_K16) {
        uint16_t *kc = k_cache(c, j->layer, h);
        for (int64_t i = 0; i < hd; i++) kc[nn_kt_index(pos, i, hd)] = nn_f2h(k[i]);
    } else {
        float *kc = k_cache(c, j->layer, h);
        for (int64_t i = 0; i < hd; i++) kc[nn_kt_index(pos, i, hd)] = k[i];
    }
    if (c->kv16 & NN_V16) {
        uint16_t *vc = (uint16_t *)v_cache(c, j->layer, h) + pos * hd;
        for (int64_t i = 0; i < hd; i++) vc[i] = nn_f2h(v[i]);
    } else {
        memcpy((float *)v_cache(c, j->layer, h) + pos * hd, v, (size_t)hd * sizeof(float));
    }
}

/* RoPE on q and k of rows [lo,hi), then k and v go into the cache. Layer 0
 * also makes the rows' cos/sin tables, which the later layers reuse. */
static void do_rope_store(job *j, int64_t lo, int64_t hi) {
    trit_ctx *c = j->c;
    const trit_config *cf = &c->m->cfg;
    const int64_t hd = cf->head_dim, HD = cf->n_heads * hd;
    for (int64_t m = lo; m < hi; m++) {
        float *cs = c->rope_cs + m * hd;
        if (j->layer == 0) nn_rope_table(cs, hd, c->m->inv_freq, j->p0 + m);
        for (int64_t h = 0; h < cf->n_heads; h++) nn_rope_apply(c->q + m * HD + h * hd, hd, cs);
        for (int64_t h = 0; h < cf->n_kv_heads; h++) rope_store_kv(c, j, m, h);
    }
}

/* Attention. Tasks are (token, KV head) pairs whose query heads run together
 * (each key and value is loaded once for the group; same results as head by
 * head), or (token, head) pairs without grouped-query attention. The threads take tasks one at a time from a
 * shared counter, the last tokens (the longest causal rows) first, so that
 * they finish together. */
static void do_attn(job *j, int ith, int nth) {
    trit_ctx *c = j->c;
    const trit_config *cf = &c->m->cfg;
    const int64_t hd = cf->head_dim, H = cf->n_heads, HD = H * hd, KVH = cf->n_kv_heads;
    const int64_t group = H / KVH;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (int64_t)ith * group * c->n_ctx16;
    const int by_group = group > 1; /* each key and value loaded once per group (measured faster also for one
                                       token: 46 -> 37 us per 2B-4T layer, despite 5 tasks on 2 threads) */
    const int64_t per_token = by_group ? KVH : H;
    const int64_t n_tasks = j->M * per_token;
    for (int64_t t; (t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < n_tasks;) {
        const int64_t i = n_tasks - 1 - t;
        int64_t m = i / per_token, n_kv = j->p0 + m + 1; /* causal: positions 0..p0+m */
        if (j->fused_rope) { /* one token: this task's key/value head and query heads (see forward_layers) */
            const int64_t kvh = by_group ? i % KVH : (i % H) / group, h0 = by_group ? kvh * group : i % H;
            rope_store_kv(c, j, m, kvh);
            for (int64_t h = h0; h < h0 + (by_group ? group : 1); h++)
                nn_rope_apply(c->q + m * HD + h * hd, hd, c->rope_cs + m * hd);
        }
        if (by_group) {
            int64_t kvh = i % KVH, h = kvh * group;
            c->nk->attend_group(c->att + m * HD + h * hd, c->q + m * HD + h * hd, group, k_cache(c, j->layer, kvh),
                                v_cache(c, j->layer, kvh), c->kv16, n_kv, hd, scale, scores);
        } else {
            int64_t h = i % H, kvh = h / group;
            c->nk->attend(c->att + m * HD + h * hd, c->q + m * HD + h * hd, k_cache(c, j->layer, kvh),
                          v_cache(c, j->layer, kvh), c->kv16, n_kv, hd, scale, scores);
        }
    }
}

static void job_task(void *arg, int ith, int nth) {
    job *j = arg;
    trit_ctx *c = j->c;
    int64_t lo, hi;
    switch (j->op) {
    case JOB_NORM_QUANT:
        trit_split(j->M, ith, nth, 1, &lo, &hi);
        do_norm_quant(j, lo, hi, &c->in);
        break;
    case JOB_LINEARS: {
        const lin_input *in = &c->in;
        if (j->own_input) {
            in = &c->tin[ith];
            do_norm_quant(j, 0, j->M, in);
        }
        run_linears(j, in, nth);
        break;
    }
    case JOB_ROPE_STORE:
        trit_split(j->M, ith, nth, 1, &lo, &hi);
        do_rope_store(j, lo, hi);
        break;
    case JOB_ATTN:
        do_attn(j, ith, nth);
        break;
    }
}

/* ==== steps ==== */

/* A job computing the input of linears: rmsnorm(src, w) (or src when norm is
 * 0; with `up`, of the GLU act(src) * up), quantized. */
static job input_job(trit_ctx *c, int64_t M, const float *src, const float *up, int64_t n, const float *w, int norm) {
    job j = {.op = JOB_NORM_QUANT, .c = c, .M = M, .src = src, .up = up, .ld = n, .w = w, .n = n, .quant = 1,
             .norm = norm};
    return j;
}

/* Runs up to 3 linears on the input described by input job `j`; with
 * `residual`, residual += output of the first. */
static void linears(job j, const trit_linear *a, float *ya, float *residual, const trit_linear *b, float *yb,
                    const trit_linear *d, float *yd) {
    trit_ctx *c = j.c;
    if (j.M <= SMALL_M) {
        j.own_input = 1;
    } else {
        trit_pool_run(c->pool, job_task, &j);
    }
    j.op = JOB_LINEARS;
    atomic_store_explicit(&j.next, 0, memory_order_relaxed);
    j.residual = residual;
    j.lins[j.n_lins++] = (lin_task){a, ya};
    if (b) j.lins[j.n_lins++] = (lin_task){b, yb};
    if (d) j.lins[j.n_lins++] = (lin_task){d, yd};
    trit_pool_run(c->pool, job_task, &j);
}

/* Adds the time since *t to profile step `step` and restarts *t. */
static void prof_step(trit_ctx *c, int step, double *t) {
    double now = trit_now();
    c->prof.seconds[step] += now - *t;
    c->prof.calls[step]++;
    *t = now;
}

/* Runs M tokens (M <= n_batch) at positions n_past.. through all layers,
 * leaving the final hidden states in c->x. */
static void forward_layers(trit_ctx *c, const int32_t *tokens, int64_t M) {
    const trit_model *m = c->m;
    const trit_config *cf = &m->cfg;
    const int64_t D = cf->dim, F = cf->ffn, HD = cf->n_heads * cf->head_dim;
    const int64_t p0 = c->n_past;
    double t = trit_now();
    for (int64_t i = 0; i < M; i++) trit_model_embed_row(m, tokens[i], c->x + i * D);
    prof_step(c, TRIT_PROF_EMBED, &t);
    for (int64_t l = 0; l < cf->n_layers; l++) {
        const trit_layer *L = &m->layers[l];
        /* attention block */
        linears(input_job(c, M, c->x, NULL, D, L->attn_norm, 1), &L->q, c->q, NULL, &L->k, c->k, &L->v, c->v);
        prof_step(c, TRIT_PROF_ATTN_IN, &t);
        job j = {.op = JOB_ROPE_STORE, .c = c, .M = M, .p0 = p0, .layer = l};
        if (M == 1) {
            /* one token: each attention task first ropes and stores its own key/value head and ropes
             * its query heads (it needs no other task's key), saving a job per layer */
            if (l == 0) nn_rope_table(c->rope_cs, cf->head_dim, m->inv_freq, p0);
            j.fused_rope = 1;
        } else {
            trit_pool_run(c->pool, job_task, &j);
        }
        prof_step(c, TRIT_PROF_ROPE, &t);
        j.op = JOB_ATTN;
        atomic_store_explicit(&j.next, 0, memory_order_relaxed);
        trit_pool_run(c->pool, job_task, &j);
        prof_step(c, TRIT_PROF_ATTN, &t);
        /* bitnet normalizes the attention output; llama feeds it as is */
        linears(input_job(c, M, c->att, NULL, HD, L->attn_sub_norm, L->attn_sub_norm != NULL), &L->o, c->tmp, c->x,
                NULL, NULL, NULL, NULL);
        prof_step(c, TRIT_PROF_ATTN_OUT, &t);
        /* feed-forward block: the GLU is made with down_proj's input */
        linears(input_job(c, M, c->x, NULL, D, L->ffn_norm, 1), &L->gate, c->g, NULL, &L->up, c->u, NULL, NULL);
        prof_step(c, TRIT_PROF_FFN_IN, &t);
        linears(input_job(c, M, c->g, c->u, F, L->ffn_sub_norm, L->ffn_sub_norm != NULL), &L->down, c->tmp, c->x,
                NULL, NULL, NULL, NULL);
        prof_step(c, TRIT_PROF_FFN_OUT, &t);
    }
}

/* ==== contexts ==== */

trit_ctx_params trit_ctx_default_params(void) {
    trit_ctx_params p = {0, 0, 0, TRIT_KV_F32, TRIT_KV_F32};
    return p;
}

void trit_ctx_free(trit_ctx *c) {
    if (!c) return;
    trit_pool_free(c->pool);
    trit_aligned_free(c->kcache);
    trit_aligned_free(c->vcache);
    trit_arena_free(&c->arena);
    free(c);
}

/* See trit.h. Sizes the arena for n_batch tokens. */
trit_status trit_ctx_new(const trit_model *m, const trit_ctx_params *p, trit_ctx **out, trit_error *err) {
    *out = NULL;
    trit_ctx_params d = p ? *p : trit_ctx_default_params();
    const trit_config *cf = &m->cfg;
    if (d.n_ctx < 0 || d.n_batch < 0 || d.n_threads < 0)
        return trit_fail(err, TRIT_ERR_ARG, "negative context size, batch or thread count");
    if ((d.type_k != TRIT_KV_F32 && d.type_k != TRIT_KV_F16) || (d.type_v != TRIT_KV_F32 && d.type_v != TRIT_KV_F16))
        return trit_fail(err, TRIT_ERR_ARG, "unknown KV cache type (key %d, value %d): use TRIT_KV_F32 or TRIT_KV_F16",
                         d.type_k, d.type_v);
    if (d.n_ctx == 0) d.n_ctx = cf->max_pos < 4096 ? cf->max_pos : 4096;
    if (d.n_batch == 0) d.n_batch = 512;
    if (d.n_batch > d.n_ctx) d.n_batch = d.n_ctx;
    if (d.n_threads == 0) d.n_threads = trit_n_cpus();
    trit_ctx *c = calloc(1, sizeof *c);
    if (!c) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->kern = trit_kernels_get();
    c->tpk = trit_tpk_kernels_get();
    c->nk = nn_kernels_get();
    c->n_ctx = d.n_ctx;
    c->n_batch = d.n_batch;
    c->n_ctx16 = (d.n_ctx + NN_KV_BLOCK - 1) / NN_KV_BLOCK * NN_KV_BLOCK;
    const int64_t D = cf->dim, F = cf->ffn, HD = cf->n_heads * cf->head_dim, KVD = cf->n_kv_heads * cf->head_dim;
    c->kv16 = (d.type_k == TRIT_KV_F16 ? NN_K16 : 0) | (d.type_v == TRIT_KV_F16 ? NN_V16 : 0);
    const size_t kbytes = (size_t)(cf->n_layers * c->n_ctx16 * KVD) * (d.type_k == TRIT_KV_F16 ? 2 : 4);
    const size_t vbytes = (size_t)(cf->n_layers * c->n_ctx * KVD) * (d.type_v == TRIT_KV_F16 ? 2 : 4);
    c->kcache = trit_large_alloc(kbytes);
    c->vcache = trit_large_alloc(vbytes);
    c->pool = trit_pool_new(d.n_threads);
    c->width = D > HD ? D : HD;
    if (F > c->width) c->width = F;
    const int64_t B = c->n_batch, W = c->width, T = trit_pool_size(c->pool), SM = B < SMALL_M ? B : SMALL_M;
    const int64_t G = cf->n_heads / cf->n_kv_heads; /* query heads per KV head */
    /* every piece below, rounded up to 64 bytes */
    const int64_t sizes[] = {B * D * 4, B * D * 4, B * W * 4, B * W, B * 4, B * 4, B * HD * 4, B * HD * 4,
                             B * KVD * 4, B * KVD * 4, B * F * 4, B * F * 4, B * cf->head_dim * 4, T * G * c->n_ctx16 * 4,
                             T * (int64_t)sizeof(lin_input)};
    size_t need = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) need += (size_t)(sizes[i] + 63) / 64 * 64;
    need += (size_t)T * (size_t)((SM * W * 4 + 63) / 64 * 64 + (SM * W + 63) / 64 * 64 + 2 * 64);
    const size_t hxa_bytes = m->lm_head.kind == LIN_HQ ? (size_t)(B * (D / TRIT_HQ_BLOCK)) * sizeof(trit_hq_act) : 0;
    need += hxa_bytes + 64;
    if (!c->kcache || !c->vcache || !c->pool || !trit_arena_init(&c->arena, need)) {
        trit_ctx_free(c);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory allocating a context of %lld positions "
                         "(KV cache %.1f MiB); use a smaller context or an f16 cache", (long long)d.n_ctx,
                         (double)(kbytes + vbytes) / 1048576.0);
    }
    trit_arena *a = &c->arena;
    c->x = trit_arena_alloc(a, (size_t)(B * D) * 4);
    c->tmp = trit_arena_alloc(a, (size_t)(B * D) * 4);
    c->in.xn = trit_arena_alloc(a, (size_t)(B * W) * 4);
    c->in.xq = trit_arena_alloc(a, (size_t)(B * W));
    c->in.xs = trit_arena_alloc(a, (size_t)B * 4);
    c->in.xsum = trit_arena_alloc(a, (size_t)B * 4);
    c->q = trit_arena_alloc(a, (size_t)(B * HD) * 4);
    c->att = trit_arena_alloc(a, (size_t)(B * HD) * 4);
    c->k = trit_arena_alloc(a, (size_t)(B * KVD) * 4);
    c->v = trit_arena_alloc(a, (size_t)(B * KVD) * 4);
    c->g = trit_arena_alloc(a, (size_t)(B * F) * 4);
    c->u = trit_arena_alloc(a, (size_t)(B * F) * 4);
    c->rope_cs = trit_arena_alloc(a, (size_t)(B * cf->head_dim) * 4);
    c->scores = trit_arena_alloc(a, (size_t)(T * G * c->n_ctx16) * 4);
    c->tin = trit_arena_alloc(a, (size_t)T * sizeof(lin_input));
    for (int64_t t = 0; c->tin && t < T; t++) {
        c->tin[t].xn = trit_arena_alloc(a, (size_t)(SM * W) * 4);
        c->tin[t].xq = trit_arena_alloc(a, (size_t)(SM * W));
        c->tin[t].xs = trit_arena_alloc(a, (size_t)SM * 4);
        c->tin[t].xsum = trit_arena_alloc(a, (size_t)SM * 4);
    }
    c->hkern = trit_head_kernels_get();
    c->hxa = hxa_bytes ? trit_arena_alloc(a, hxa_bytes) : NULL;
    if (!c->tin || !c->tin[T - 1].xsum || (hxa_bytes && !c->hxa)) { /* sizing bug: fail loudly rather than corrupt memory */
        trit_ctx_free(c);
        return trit_fail(err, TRIT_ERR_NOMEM, "internal error: activation arena too small");
    }
    *out = c;
    return TRIT_OK;
}

int64_t trit_ctx_n_past(const trit_ctx *c) { return c->n_past; }

void trit_ctx_truncate(trit_ctx *c, int64_t n_keep) {
    if (n_keep >= 0 && n_keep < c->n_past) c->n_past = n_keep;
}

/* Final norm + lm_head for M rows of c->x into logits (row stride vocab). */
static void head(trit_ctx *c, const float *x, int64_t M, float *logits) {
    const trit_model *m = c->m;
    double t = trit_now();
    job j = {.op = JOB_NORM_QUANT, .c = c, .M = M, .src = x, .ld = m->cfg.dim, .w = m->final_norm,
             .n = m->cfg.dim, .quant = m->lm_head.kind == LIN_TERNARY, .norm = 1,
             .hquant = m->lm_head.kind == LIN_HQ};
    trit_pool_run(c->pool, job_task, &j);
    job h = {.op = JOB_LINEARS, .c = c, .M = M};
    h.lins[h.n_lins++] = (lin_task){&m->lm_head, logits};
    trit_pool_run(c->pool, job_task, &h);
    prof_step(c, TRIT_PROF_HEAD, &t);
}

/* ==== profile ==== */

const char *trit_profile_step_name(int i) {
    static const char *const names[TRIT_PROF_N] = {"embedding", "q,k,v (norm, quantize, 3 linears)", "rope + cache",
                                                   "attention", "o_proj (+ sub-norm)", "gate, up (norm, quantize)",
                                                   "down (glu, sub-norm)", "lm_head (final norm)"};
    return i >= 0 && i < TRIT_PROF_N ? names[i] : "?";
}

void trit_ctx_get_profile(const trit_ctx *c, trit_profile *out) { *out = c->prof; }

void trit_ctx_reset_profile(trit_ctx *c) { memset(&c->prof, 0, sizeof c->prof); }

/* See trit.h. */
trit_status trit_decode(trit_ctx *c, const int32_t *tokens, int64_t n, float *logits, int all_logits,
                        trit_error *err) {
    const trit_config *cf = &c->m->cfg;
    if (n <= 0) return trit_fail(err, TRIT_ERR_ARG, "no tokens to decode");
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cf->vocab)
            return trit_fail(err, TRIT_ERR_VALUE, "token id %d at position %lld is outside the vocabulary (0..%lld)",
                             tokens[i], (long long)i, (long long)cf->vocab - 1);
    if (c->n_past + n > c->n_ctx)
        return trit_fail(err, TRIT_ERR_CONTEXT, "context full: %lld cached + %lld new tokens > %lld positions; "
                         "start a new context or raise the context size (-c)", (long long)c->n_past, (long long)n,
                         (long long)c->n_ctx);
    for (int64_t done = 0; done < n;) {
        int64_t M = n - done < c->n_batch ? n - done : c->n_batch;
        forward_layers(c, tokens + done, M);
        c->n_past += M;
        if (logits) {
            if (all_logits) {
                head(c, c->x, M, logits + done * cf->vocab);
            } else if (done + M == n) {
                head(c, c->x + (M - 1) * cf->dim, 1, logits);
            }
        }
        done += M;
    }
    return TRIT_OK;
}
