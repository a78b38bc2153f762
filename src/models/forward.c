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
 * Every step runs on the persistent pool; each step is one pool job.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "models/model.h"
#include "nn/ops.h"
#include "quant/ternary.h"

struct trit_ctx {
    const trit_model *m;
    const trit_kernels *kern;
    const trit_tpk_kernels *tpk; /* repacked ternary layouts */
    trit_pool *pool;
    int64_t n_ctx, n_batch, n_past;
    float *kcache, *vcache;     /* [n_layers][n_ctx][kv_dim]                */
    trit_arena arena;
    /* activations, [n_batch][...] each (carved from the arena)             */
    float *x;                   /* residual stream [B][D]                    */
    float *xn;                  /* normalized input of a linear [B][K], K <= W */
    int8_t *xq;                 /* its int8 quantization [B][K]             */
    float *xs;                  /* per-token scale [B]                      */
    int32_t *xsum;              /* per-token sum of xq [B]                  */
    float *q, *k, *v;           /* [B][HD], [B][KVD], [B][KVD]              */
    float *att;                 /* [B][HD]                                  */
    float *g, *u;               /* [B][F]                                   */
    float *tmp;                 /* [B][D]                                   */
    float *scores;              /* [n_threads][n_ctx]                       */
    const trit_head_kernels *hkern; /* block-quantized lm_head kernels      */
    trit_hq_act *hxa;           /* its activation blocks [B][D/32], or NULL */
    int64_t width;              /* W = max(D, HD, F)                        */
};

/* ==== pool jobs ==== */

enum { JOB_NORM_QUANT, JOB_LINEARS, JOB_ROPE_STORE, JOB_ATTN, JOB_GLU, JOB_ADD };

typedef struct {
    const trit_linear *lin;
    float *y;                   /* [M][lin->out]                            */
} lin_task;

typedef struct {
    int op;
    trit_ctx *c;
    int64_t M, p0, layer;
    /* norm+quant */
    const float *src;           /* [M][n]                                   */
    const float *w;             /* norm weight or NULL                      */
    int64_t n, ld;              /* row length and stride of src             */
    int quant;                  /* also quantize xn into xq                 */
    int norm;                   /* 0: xn = src (no normalization)           */
    int hquant;                 /* also quantize xn into hxa (quantized lm_head) */
    /* linears */
    lin_task lins[3];
    int n_lins;
    const float *lin_in;        /* f32 input rows (dense linears)           */
    /* add */
    float *dst;
    const float *add;
} job;

/* Rows [lo,hi) of a norm (+ quantization) job. */
static void do_norm_quant(job *j, int64_t lo, int64_t hi) {
    trit_ctx *c = j->c;
    for (int64_t m = lo; m < hi; m++) {
        float *xn = c->xn + m * j->n; /* rows packed with stride n = the next linear's K */
        if (j->norm) nn_rmsnorm(xn, j->src + m * j->ld, j->w, j->n, c->m->cfg.eps);
        else memcpy(xn, j->src + m * j->ld, (size_t)j->n * sizeof(float));
        if (j->quant) c->xs[m] = trit_act_quant(xn, j->n, c->xq + m * j->n, &c->xsum[m]);
        if (j->hquant) trit_hq_quantize_act(xn, j->n, c->hxa + m * (j->n / TRIT_HQ_BLOCK));
    }
}

/* Thread ith's share of linear `lin` on M rows. The f32 input rows (xn) and
 * their int8 quantization (xq) have row stride lin->in (see do_norm_quant). */
static void run_linear(trit_ctx *c, const trit_linear *lin, const float *in, float *y, int64_t M,
                       int ith, int nth) {
    const int64_t N = lin->out;
    int64_t lo, hi;
    if (lin->kind == LIN_TERNARY && lin->tp.data) {
        trit_split(N, ith, nth, TRIT_TPK_ALIGN, &lo, &hi);
        if (lo >= hi) return;
        c->tpk->mm[lin->tp.fmt](&lin->tp, lin->wdiv, c->xq, c->xs, c->xsum, M, y, N, lo, hi);
        if (lin->bias)
            for (int64_t m = 0; m < M; m++)
                for (int64_t r = lo; r < hi; r++) y[m * N + r] += lin->bias[r];
    } else if (lin->kind == LIN_TERNARY) {
        trit_split(lin->t.Q, ith, nth, 4, &lo, &hi);
        if (lo >= hi) return;
        c->kern->tmatmul(&lin->t, lin->wdiv, c->xq, c->xs, c->xsum, M, y, N, lo, hi);
        if (lin->bias)
            for (int64_t m = 0; m < M; m++)
                for (int64_t g = 0; g < 4; g++)
                    for (int64_t q = lo; q < hi; q++) {
                        int64_t r = q + g * lin->t.Q;
                        if (r < N) y[m * N + r] += lin->bias[r];
                    }
    } else if (lin->kind == LIN_BINARY) {
        trit_split(N, ith, nth, 16, &lo, &hi);
        if (lo >= hi) return;
        c->kern->bmatmul(&lin->b, lin->wdiv, c->xq, c->xs, c->xsum, M, y, N, lo, hi);
        if (lin->bias)
            for (int64_t m = 0; m < M; m++)
                for (int64_t r = lo; r < hi; r++) y[m * N + r] += lin->bias[r];
    } else if (lin->kind == LIN_HQ) { /* row groups of 16 per thread */
        trit_split(N, ith, nth, TRIT_HQ_ROWS, &lo, &hi);
        if (lo < hi) c->hkern->hmatmul(&lin->hq, c->hxa, M, y, N, lo, hi);
    } else {
        trit_split(N, ith, nth, 4, &lo, &hi);
        if (lo >= hi) return;
        c->kern->dmatmul(&lin->d, in, M, y, N, lo, hi);
        if (lin->bias)
            for (int64_t m = 0; m < M; m++)
                for (int64_t r = lo; r < hi; r++) y[m * N + r] += lin->bias[r];
    }
}

/* RoPE on q and k of rows [lo,hi), then k and v go into the cache. */
static void do_rope_store(job *j, int64_t lo, int64_t hi) {
    trit_ctx *c = j->c;
    const trit_config *cf = &c->m->cfg;
    const int64_t hd = cf->head_dim, HD = cf->n_heads * hd, KVD = cf->n_kv_heads * hd;
    for (int64_t m = lo; m < hi; m++) {
        int64_t pos = j->p0 + m;
        for (int64_t h = 0; h < cf->n_heads; h++) nn_rope(c->q + m * HD + h * hd, hd, c->m->inv_freq, pos);
        for (int64_t h = 0; h < cf->n_kv_heads; h++) nn_rope(c->k + m * KVD + h * hd, hd, c->m->inv_freq, pos);
        size_t off = (size_t)((j->layer * c->n_ctx + pos) * KVD);
        memcpy(c->kcache + off, c->k + m * KVD, (size_t)KVD * sizeof(float));
        memcpy(c->vcache + off, c->v + m * KVD, (size_t)KVD * sizeof(float));
    }
}

/* Attention for (token, head) pairs [lo,hi). */
static void do_attn(job *j, int64_t lo, int64_t hi, int ith) {
    trit_ctx *c = j->c;
    const trit_config *cf = &c->m->cfg;
    const int64_t hd = cf->head_dim, H = cf->n_heads, HD = H * hd, KVD = cf->n_kv_heads * hd;
    const int64_t group = H / cf->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (int64_t)ith * c->n_ctx;
    const float *kc = c->kcache + j->layer * c->n_ctx * KVD;
    const float *vc = c->vcache + j->layer * c->n_ctx * KVD;
    for (int64_t i = lo; i < hi; i++) {
        int64_t m = i / H, h = i % H, kvh = h / group;
        int64_t n_kv = j->p0 + m + 1; /* causal: positions 0..p0+m */
        nn_attend(c->att + m * HD + h * hd, c->q + m * HD + h * hd, kc + kvh * hd, vc + kvh * hd, n_kv, KVD, hd,
                  scale, scores);
    }
}

static void job_task(void *arg, int ith, int nth) {
    job *j = arg;
    trit_ctx *c = j->c;
    int64_t lo, hi;
    switch (j->op) {
    case JOB_NORM_QUANT:
        trit_split(j->M, ith, nth, 1, &lo, &hi);
        do_norm_quant(j, lo, hi);
        break;
    case JOB_LINEARS:
        for (int i = 0; i < j->n_lins; i++) run_linear(c, j->lins[i].lin, j->lin_in, j->lins[i].y, j->M, ith, nth);
        break;
    case JOB_ROPE_STORE:
        trit_split(j->M, ith, nth, 1, &lo, &hi);
        do_rope_store(j, lo, hi);
        break;
    case JOB_ATTN:
        trit_split(j->M * c->m->cfg.n_heads, ith, nth, 1, &lo, &hi);
        do_attn(j, lo, hi, ith);
        break;
    case JOB_GLU:
        trit_split(j->M, ith, nth, 1, &lo, &hi);
        for (int64_t m = lo; m < hi; m++) nn_glu(c->g + m * j->n, c->u + m * j->n, j->n, c->m->cfg.act);
        break;
    case JOB_ADD:
        trit_split(j->M * j->n, ith, nth, 16, &lo, &hi);
        for (int64_t i = lo; i < hi; i++) j->dst[i] += j->add[i];
        break;
    }
}

/* ==== steps ==== */

/* xn = rmsnorm(src, w) (or a copy of src when norm is 0), quantized to xq. */
static void norm_quant(trit_ctx *c, const float *src, int64_t ld, const float *w, int64_t n, int64_t M, int norm) {
    job j = {.op = JOB_NORM_QUANT, .c = c, .M = M, .src = src, .ld = ld, .w = w, .n = n, .quant = 1, .norm = norm};
    trit_pool_run(c->pool, job_task, &j);
}

static void linears(trit_ctx *c, int64_t M, const trit_linear *a, float *ya, const trit_linear *b, float *yb,
                    const trit_linear *d, float *yd) {
    job j = {.op = JOB_LINEARS, .c = c, .M = M, .lin_in = c->xn};
    j.lins[j.n_lins++] = (lin_task){a, ya};
    if (b) j.lins[j.n_lins++] = (lin_task){b, yb};
    if (d) j.lins[j.n_lins++] = (lin_task){d, yd};
    trit_pool_run(c->pool, job_task, &j);
}

static void add_rows(trit_ctx *c, float *dst, const float *src, int64_t M, int64_t n) {
    job j = {.op = JOB_ADD, .c = c, .M = M, .n = n, .dst = dst, .add = src};
    trit_pool_run(c->pool, job_task, &j);
}

/* Runs M tokens (M <= n_batch) at positions n_past.. through all layers,
 * leaving the final hidden states in c->x. */
static void forward_layers(trit_ctx *c, const int32_t *tokens, int64_t M) {
    const trit_model *m = c->m;
    const trit_config *cf = &m->cfg;
    const int64_t D = cf->dim, F = cf->ffn, HD = cf->n_heads * cf->head_dim;
    const int64_t p0 = c->n_past;
    for (int64_t i = 0; i < M; i++) trit_model_embed_row(m, tokens[i], c->x + i * D);
    for (int64_t l = 0; l < cf->n_layers; l++) {
        const trit_layer *L = &m->layers[l];
        /* attention block */
        norm_quant(c, c->x, D, L->attn_norm, D, M, 1);
        linears(c, M, &L->q, c->q, &L->k, c->k, &L->v, c->v);
        job j = {.op = JOB_ROPE_STORE, .c = c, .M = M, .p0 = p0, .layer = l};
        trit_pool_run(c->pool, job_task, &j);
        j.op = JOB_ATTN;
        trit_pool_run(c->pool, job_task, &j);
        /* bitnet normalizes the attention output; llama feeds it as is */
        norm_quant(c, c->att, HD, L->attn_sub_norm, HD, M, L->attn_sub_norm != NULL);
        linears(c, M, &L->o, c->tmp, NULL, NULL, NULL, NULL);
        add_rows(c, c->x, c->tmp, M, D);
        /* feed-forward block */
        norm_quant(c, c->x, D, L->ffn_norm, D, M, 1);
        linears(c, M, &L->gate, c->g, &L->up, c->u, NULL, NULL);
        job g = {.op = JOB_GLU, .c = c, .M = M, .n = F};
        trit_pool_run(c->pool, job_task, &g);
        norm_quant(c, c->g, F, L->ffn_sub_norm, F, M, L->ffn_sub_norm != NULL);
        linears(c, M, &L->down, c->tmp, NULL, NULL, NULL, NULL);
        add_rows(c, c->x, c->tmp, M, D);
    }
}

/* ==== contexts ==== */

trit_ctx_params trit_ctx_default_params(void) {
    trit_ctx_params p = {0, 0, 0};
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
    if (d.n_ctx == 0) d.n_ctx = cf->max_pos < 4096 ? cf->max_pos : 4096;
    if (d.n_batch == 0) d.n_batch = 512;
    if (d.n_batch > d.n_ctx) d.n_batch = d.n_ctx;
    if (d.n_threads == 0) d.n_threads = trit_n_cpus();
    trit_ctx *c = calloc(1, sizeof *c);
    if (!c) return trit_fail(err, TRIT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->kern = trit_kernels_get();
    c->tpk = trit_tpk_kernels_get();
    c->n_ctx = d.n_ctx;
    c->n_batch = d.n_batch;
    const int64_t D = cf->dim, F = cf->ffn, HD = cf->n_heads * cf->head_dim, KVD = cf->n_kv_heads * cf->head_dim;
    size_t kv = (size_t)(cf->n_layers * c->n_ctx * KVD) * sizeof(float);
    c->kcache = trit_aligned_alloc(kv);
    c->vcache = trit_aligned_alloc(kv);
    c->pool = trit_pool_new(d.n_threads);
    c->width = D > HD ? D : HD;
    if (F > c->width) c->width = F;
    const int64_t B = c->n_batch, W = c->width;
    const size_t hxa_bytes = m->lm_head.kind == LIN_HQ ? (size_t)(B * (D / TRIT_HQ_BLOCK)) * sizeof(trit_hq_act) : 0;
    size_t need = (size_t)(B * (D * 2 + W * 2 + HD * 2 + KVD * 2 + F * 2) * 4 + B * W + B * 8 +
                           (int64_t)trit_pool_size(c->pool) * c->n_ctx * 4) + 64 * 16 + hxa_bytes + 64;
    if (!c->kcache || !c->vcache || !c->pool || !trit_arena_init(&c->arena, need)) {
        trit_ctx_free(c);
        return trit_fail(err, TRIT_ERR_NOMEM, "out of memory allocating a context of %lld positions "
                         "(KV cache %.1f MiB); use a smaller context", (long long)d.n_ctx, 2.0 * (double)kv / 1048576.0);
    }
    trit_arena *a = &c->arena;
    c->x = trit_arena_alloc(a, (size_t)(B * D) * 4);
    c->tmp = trit_arena_alloc(a, (size_t)(B * D) * 4);
    c->xn = trit_arena_alloc(a, (size_t)(B * W) * 4);
    c->xq = trit_arena_alloc(a, (size_t)(B * W));
    c->xs = trit_arena_alloc(a, (size_t)B * 4);
    c->xsum = trit_arena_alloc(a, (size_t)B * 4);
    c->q = trit_arena_alloc(a, (size_t)(B * HD) * 4);
    c->att = trit_arena_alloc(a, (size_t)(B * HD) * 4);
    c->k = trit_arena_alloc(a, (size_t)(B * KVD) * 4);
    c->v = trit_arena_alloc(a, (size_t)(B * KVD) * 4);
    c->g = trit_arena_alloc(a, (size_t)(B * F) * 4);
    c->u = trit_arena_alloc(a, (size_t)(B * F) * 4);
    c->scores = trit_arena_alloc(a, (size_t)((int64_t)trit_pool_size(c->pool) * c->n_ctx) * 4);
    c->hkern = trit_head_kernels_get();
    c->hxa = hxa_bytes ? trit_arena_alloc(a, hxa_bytes) : NULL;
    if (!c->scores || (hxa_bytes && !c->hxa)) { /* sizing bug: fail loudly rather than corrupt memory */
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
    job j = {.op = JOB_NORM_QUANT, .c = c, .M = M, .src = x, .ld = m->cfg.dim, .w = m->final_norm,
             .n = m->cfg.dim, .quant = m->lm_head.kind == LIN_TERNARY, .norm = 1,
             .hquant = m->lm_head.kind == LIN_HQ};
    trit_pool_run(c->pool, job_task, &j);
    job h = {.op = JOB_LINEARS, .c = c, .M = M, .lin_in = c->xn};
    h.lins[h.n_lins++] = (lin_task){&m->lm_head, logits};
    trit_pool_run(c->pool, job_task, &h);
}

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
