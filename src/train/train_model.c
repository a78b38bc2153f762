/*
 * train_model.c - parameter/activation layout and the forward and backward
 * passes of the BitNet b1.58 decoder (see train_model.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/train_model.h"
#include "train/train_ops.h"

/* ======================================================================== */
/* Parameter layout                                                          */
/* ======================================================================== */

/* See train_model.h. */
size_t tr_param_shape(const tr_config *c, int i, int64_t *layers, int64_t *rows, int64_t *cols) {
    int64_t L = 1, R = 0, C = 0;
    switch (i) {
    case TP_EMBED: R = c->V; C = c->D; break;
    case TP_ATTN_NORM: L = c->L; R = c->D; break;
    case TP_WQ: L = c->L; R = c->HD; C = c->D; break;
    case TP_WK: L = c->L; R = c->KVD; C = c->D; break;
    case TP_WV: L = c->L; R = c->KVD; C = c->D; break;
    case TP_ATTN_SUB_NORM: L = c->L; R = c->HD; break;
    case TP_WO: L = c->L; R = c->D; C = c->HD; break;
    case TP_FFN_NORM: L = c->L; R = c->D; break;
    case TP_WGATE: L = c->L; R = c->F; C = c->D; break;
    case TP_WUP: L = c->L; R = c->F; C = c->D; break;
    case TP_FFN_SUB_NORM: L = c->L; R = c->F; break;
    case TP_WDOWN: L = c->L; R = c->D; C = c->F; break;
    case TP_FINAL_NORM: R = c->D; break;
    case TP_LM_HEAD: R = c->tied ? 0 : c->V; C = c->D; break;
    default: break;
    }
    if (layers) *layers = L;
    if (rows) *rows = R;
    if (cols) *cols = C;
    return (size_t)(L * R * (C ? C : 1));
}

/* See train_model.h. */
int tr_param_is_bitlinear(int i) {
    return i == TP_WQ || i == TP_WK || i == TP_WV || i == TP_WO || i == TP_WGATE || i == TP_WUP || i == TP_WDOWN;
}

/* See train_model.h. */
float **tr_param_slot(tr_params *p, int i) {
    switch (i) {
    case TP_EMBED: return &p->embed;
    case TP_ATTN_NORM: return &p->attn_norm;
    case TP_WQ: return &p->wq;
    case TP_WK: return &p->wk;
    case TP_WV: return &p->wv;
    case TP_ATTN_SUB_NORM: return &p->attn_sub_norm;
    case TP_WO: return &p->wo;
    case TP_FFN_NORM: return &p->ffn_norm;
    case TP_WGATE: return &p->wgate;
    case TP_WUP: return &p->wup;
    case TP_FFN_SUB_NORM: return &p->ffn_sub_norm;
    case TP_WDOWN: return &p->wdown;
    case TP_FINAL_NORM: return &p->final_norm;
    default: return &p->lm_head;
    }
}

/* See train_model.h. */
void tr_params_point(tr_params *p, float *base, const size_t sizes[TR_N_PARAM_TENSORS]) {
    size_t off = 0;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        *tr_param_slot(p, i) = sizes[i] ? base + off : NULL;
        off += sizes[i];
    }
}

/* Per-layer suffix (or full name) of each parameter tensor. */
static const char *const PARAM_NAMES[TR_N_PARAM_TENSORS] = {
    "model.embed_tokens.weight", "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.attn_sub_norm.weight", "self_attn.o_proj.weight",
    "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.ffn_sub_norm.weight",
    "mlp.down_proj.weight", "model.norm.weight", "lm_head.weight"};

/* Builds the Hugging Face tensor list of t in checkpoint order: embed,
 * then per layer the 11 layer tensors, final norm, lm_head (if untied).
 * Returns 0 on allocation failure. */
static int build_tensor_list(trit_trainer *t) {
    const tr_config *c = &t->c;
    size_t n = 2 + 11 * (size_t)c->L + (c->tied ? 0 : 1), k = 0;
    t->names = calloc(n, sizeof *t->names);
    t->tensor_param = calloc(n, sizeof *t->tensor_param);
    t->tensor_layer = calloc(n, sizeof *t->tensor_layer);
    if (!t->names || !t->tensor_param || !t->tensor_layer) return 0;
    t->n_tensors = n;
    char buf[160];
    for (int64_t l = -1; l <= c->L; l++) {
        int first = l < 0 ? TP_EMBED : (l == c->L ? TP_FINAL_NORM : TP_ATTN_NORM);
        int last = l < 0 ? TP_EMBED : (l == c->L ? (c->tied ? TP_FINAL_NORM : TP_LM_HEAD) : TP_WDOWN);
        for (int i = first; i <= last; i++) {
            if (l >= 0 && l < c->L) snprintf(buf, sizeof buf, "model.layers.%lld.%s", (long long)l, PARAM_NAMES[i]);
            else snprintf(buf, sizeof buf, "%s", PARAM_NAMES[i]);
            t->names[k] = strdup(buf);
            if (!t->names[k]) return 0;
            t->tensor_param[k] = i;
            t->tensor_layer[k] = l >= 0 && l < c->L ? l : 0;
            k++;
        }
    }
    return k == n;
}

/* See train_model.h. */
float *tr_tensor_view(const trit_trainer *t, const tr_params *p, size_t i, int64_t *numel, int64_t *rows,
                      int64_t *cols) {
    int pi = t->tensor_param[i];
    int64_t R, C;
    tr_param_shape(&t->c, pi, NULL, &R, &C);
    int64_t per = R * (C ? C : 1);
    if (numel) *numel = per;
    if (rows) *rows = R;
    if (cols) *cols = C;
    tr_params view = *p; /* tr_param_slot needs a mutable struct; p is not changed */
    return *tr_param_slot(&view, pi) + t->tensor_layer[i] * per;
}

/* ======================================================================== */
/* Allocation                                                                */
/* ======================================================================== */

/* Lays out every activation of t in `base`, or only measures when base is
 * NULL. Each buffer starts on a 64-byte boundary. Returns the number of
 * floats needed. */
static size_t layout_acts(trit_trainer *t, float *base) {
    const tr_config *c = &t->c;
    const size_t L = (size_t)c->L, N = (size_t)t->N, D = (size_t)c->D, F = (size_t)c->F, HD = (size_t)c->HD,
                 KVD = (size_t)c->KVD, W = (size_t)c->W, V = (size_t)c->V;
    const size_t BHT2 = (size_t)(t->B * c->H * t->T * 2), nth = (size_t)trit_pool_size(t->pool);
    size_t maxlin = 0;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        int64_t R, C;
        tr_param_shape(c, i, NULL, &R, &C);
        if (tr_param_is_bitlinear(i) && (size_t)(R * C) > maxlin) maxlin = (size_t)(R * C);
    }
    tr_acts *a = &t->acts;
    struct { float **dst; size_t n; } items[] = {
        {&a->x, (L + 1) * N * D}, {&a->rstd1, L * N}, {&a->n1q, L * N * D}, {&a->q, L * N * HD},
        {&a->k, L * N * KVD}, {&a->v, L * N * KVD}, {&a->att_stat, L * BHT2}, {&a->a, L * N * HD},
        {&a->rstd_a, L * N}, {&a->aq, L * N * HD}, {&a->h, L * N * D}, {&a->rstd2, L * N},
        {&a->n2q, L * N * D}, {&a->g, L * N * F}, {&a->u, L * N * F}, {&a->glu, L * N * F},
        {&a->rstd_h, L * N}, {&a->hq, L * N * F}, {&a->xf, N * D}, {&a->rstdf, N}, {&a->logits, N * V},
        {&a->losses, N}, {&a->tmp, N * W}, {&a->tmp2, N * D}, {&a->dres, N * D}, {&a->dxf, N * D},
        {&a->dlin, N * W}, {&a->dnorm, N * W}, {&a->dg, N * F}, {&a->du, N * F}, {&a->dq, N * HD},
        {&a->dk, N * KVD}, {&a->dv, N * KVD}, {&a->attscr, nth * (size_t)TR_ATTN_SCRATCH(t->T)},
        {&a->wscratch, maxlin}, {&a->gscratch, nth * (size_t)TR_GEMM_SCRATCH},
    };
    size_t off = 0;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (base) *items[i].dst = base + off;
        off += (items[i].n + 15) & ~(size_t)15;
    }
    return off;
}

/* See train_model.h. */
int tr_model_alloc(trit_trainer *t) {
    t->n_params = 0;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        t->sizes[i] = tr_param_shape(&t->c, i, NULL, NULL, NULL);
        t->n_params += t->sizes[i];
    }
    size_t np = t->n_params, nacts = t->n_acts = layout_acts(t, NULL);
    t->params_mem = trit_aligned_alloc(np * sizeof(float));
    t->grads_mem = trit_aligned_alloc(np * sizeof(float));
    t->adam_mem = trit_aligned_alloc(2 * np * sizeof(float));
    t->wq_mem = trit_aligned_alloc(np * sizeof(float));
    t->acts_mem = trit_aligned_alloc(nacts * sizeof(float));
    size_t half = (size_t)(t->c.hd / 2) * (size_t)t->T;
    t->rope_cos = trit_aligned_alloc(half * sizeof(float));
    t->rope_sin = trit_aligned_alloc(half * sizeof(float));
    t->inputs = trit_aligned_alloc((size_t)t->N * sizeof(int32_t));
    t->targets = trit_aligned_alloc((size_t)t->N * sizeof(int32_t));
    size_t packed = 0, maxlin = 0;
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        int64_t L, R, C;
        tr_param_shape(&t->c, i, &L, &R, &C);
        t->wpack_off[i] = packed;
        if (!tr_param_is_bitlinear(i)) continue;
        packed += (size_t)(L * ((R + 3) / 4) * C);
        if ((size_t)(R * C) > maxlin) maxlin = (size_t)(R * C);
    }
    t->wpack_mem = trit_aligned_alloc(packed);
    t->wdiv = calloc((size_t)(TR_N_PARAM_TENSORS * t->c.L), sizeof(float));
    t->wcodes = trit_aligned_alloc(maxlin);
    t->xq8 = trit_aligned_alloc((size_t)(t->N * t->c.W));
    t->xscale = trit_aligned_alloc((size_t)t->N * sizeof(float));
    t->xsum = trit_aligned_alloc((size_t)t->N * sizeof(int32_t));
    if (!t->params_mem || !t->grads_mem || !t->adam_mem || !t->wq_mem || !t->acts_mem || !t->rope_cos ||
        !t->rope_sin || !t->inputs || !t->targets || !t->wpack_mem || !t->wdiv || !t->wcodes || !t->xq8 ||
        !t->xscale || !t->xsum || !build_tensor_list(t))
        return 0;
    memset(t->wpack_mem, 0x55, packed);
    memset(t->params_mem, 0, np * sizeof(float));
    memset(t->grads_mem, 0, np * sizeof(float));
    memset(t->adam_mem, 0, 2 * np * sizeof(float));
    memset(t->wq_mem, 0, np * sizeof(float));
    memset(t->acts_mem, 0, nacts * sizeof(float));
    memset(t->inputs, 0, (size_t)t->N * sizeof(int32_t));
    memset(t->targets, 0, (size_t)t->N * sizeof(int32_t));
    tr_params_point(&t->params, t->params_mem, t->sizes);
    tr_params_point(&t->grads, t->grads_mem, t->sizes);
    tr_params_point(&t->m, t->adam_mem, t->sizes);
    tr_params_point(&t->v, t->adam_mem + np, t->sizes);
    tr_params_point(&t->wq, t->wq_mem, t->sizes);
    layout_acts(t, t->acts_mem);
    tr_rope_tables(t->rope_cos, t->rope_sin, t->T, t->c.hd, t->c.theta);
    return 1;
}

/* See train_model.h. */
void tr_model_free(trit_trainer *t) {
    trit_aligned_free(t->params_mem);
    trit_aligned_free(t->grads_mem);
    trit_aligned_free(t->adam_mem);
    trit_aligned_free(t->wq_mem);
    trit_aligned_free(t->acts_mem);
    trit_aligned_free(t->rope_cos);
    trit_aligned_free(t->rope_sin);
    trit_aligned_free(t->inputs);
    trit_aligned_free(t->targets);
    trit_aligned_free(t->wpack_mem);
    free(t->wdiv);
    trit_aligned_free(t->wcodes);
    trit_aligned_free(t->xq8);
    trit_aligned_free(t->xscale);
    trit_aligned_free(t->xsum);
    for (size_t i = 0; t->names && i < t->n_tensors; i++) free(t->names[i]);
    free(t->names);
    free(t->tensor_param);
    free(t->tensor_layer);
}

/* ======================================================================== */
/* Forward                                                                   */
/* ======================================================================== */

/* W_q of every BitLinear (one scale per layer's matrix) into t->wq; with
 * codes, also their packed ternary codes and divisors (integer forward). */
static void quantize_weights(trit_trainer *t, float lam, int codes) {
    for (int i = 0; i < TR_N_PARAM_TENSORS; i++) {
        if (!tr_param_is_bitlinear(i)) continue;
        int64_t L, R, C;
        tr_param_shape(&t->c, i, &L, &R, &C);
        float *src = *tr_param_slot(&t->params, i), *dst = *tr_param_slot(&t->wq, i);
        for (int64_t l = 0; l < L; l++) {
            tr_quantize_weight(t->pool, dst + l * R * C, codes ? t->wcodes : NULL, &t->wdiv[i * t->c.L + l],
                               src + l * R * C, R * C, t->p.quant, lam, t->acts.wscratch);
            if (codes) tr_pack_codes(t->pool, t->wpack_mem + t->wpack_off[i] + (size_t)(l * ((R + 3) / 4) * C), t->wcodes, R, C);
        }
    }
}

/* norm (N, C) of inp with gain w into the BitLinear input `xq` through the
 * activation quantizer (t->acts.tmp holds the unquantized rows); with
 * codes, also the int8 codes into t->xq8 / xscale / xsum. */
static void norm_quant(trit_trainer *t, float *xq, float *rstd, const float *inp, const float *w, int64_t C,
                       float lam, int codes) {
    tr_rmsnorm_forward(t->pool, t->acts.tmp, rstd, inp, w, t->N, C, t->c.eps);
    tr_quantize_act(t->pool, xq, t->acts.tmp, t->N, C, t->p.quant, lam, codes ? t->xq8 : NULL, t->xscale, t->xsum);
}

/* BitLinear i of layer l: out (N, OC) from the input xq (N, IC), through the
 * integer kernel (on the codes norm_quant left) or the float product with
 * the straight-through weight. */
static void bitlinear(trit_trainer *t, const tr_exec *ex, int codes, int i, int64_t l, float *out, const float *xq,
                      int64_t IC, int64_t OC) {
    if (codes)
        tr_bitlinear_forward_codes(ex, out, t->xq8, t->xscale, t->xsum,
                                   t->wpack_mem + t->wpack_off[i] + (size_t)(l * ((OC + 3) / 4) * IC),
                                   t->wdiv[i * t->c.L + l], t->N, IC, OC);
    else
        tr_bitlinear_forward(ex, out, xq, *tr_param_slot(&t->wq, i) + l * OC * IC, t->N, IC, OC);
}

/* See train_model.h. The quantization strength is that of step t->step. */
void tr_model_logits(trit_trainer *t) {
    const tr_config *c = &t->c;
    const int64_t N = t->N, D = c->D, F = c->F, HD = c->HD, KVD = c->KVD, BHT2 = t->B * c->H * t->T * 2;
    tr_params *P = &t->params;
    tr_acts *a = &t->acts;
    trit_pool *pool = t->pool;
    const tr_exec ex_ = {t->pool, t->isa, a->gscratch}, *ex = &ex_;
    const float lam = tr_lambda(&t->p, t->step);
    /* at full strength the BitLinears run on integer codes, exactly as
     * trit's inference does (the float straight-through values, equal up to
     * rounding, stay for the backward pass) */
    const int ints = lam == 1.0f && t->p.quant != TRIT_QUANT_NONE;
    quantize_weights(t, lam, ints);
    tr_embedding_forward(pool, a->x, t->inputs, P->embed, N, D);
    for (int64_t l = 0; l < c->L; l++) {
        float *x = a->x + l * N * D, *xnext = a->x + (l + 1) * N * D;
        float *n1q = a->n1q + l * N * D, *q = a->q + l * N * HD, *k = a->k + l * N * KVD, *v = a->v + l * N * KVD;
        float *ast = a->att_stat + l * BHT2, *at = a->a + l * N * HD, *aq = a->aq + l * N * HD, *h = a->h + l * N * D;
        float *n2q = a->n2q + l * N * D, *g = a->g + l * N * F, *u = a->u + l * N * F;
        float *glu = a->glu + l * N * F, *hq = a->hq + l * N * F;
        /* attention block */
        norm_quant(t, n1q, a->rstd1 + l * N, x, P->attn_norm + l * D, D, lam, ints);
        bitlinear(t, ex, ints, TP_WQ, l, q, n1q, D, HD);
        bitlinear(t, ex, ints, TP_WK, l, k, n1q, D, KVD);
        bitlinear(t, ex, ints, TP_WV, l, v, n1q, D, KVD);
        tr_rope_forward(pool, q, t->rope_cos, t->rope_sin, t->B, t->T, c->H, c->hd);
        tr_rope_forward(pool, k, t->rope_cos, t->rope_sin, t->B, t->T, c->KV, c->hd);
        tr_attention_forward(ex, at, ast, a->attscr, q, k, v, t->B, t->T, c->H, c->KV, c->hd);
        norm_quant(t, aq, a->rstd_a + l * N, at, P->attn_sub_norm + l * HD, HD, lam, ints);
        bitlinear(t, ex, ints, TP_WO, l, a->tmp2, aq, HD, D);
        tr_residual_forward(pool, h, x, a->tmp2, N * D);
        /* feed-forward block */
        norm_quant(t, n2q, a->rstd2 + l * N, h, P->ffn_norm + l * D, D, lam, ints);
        bitlinear(t, ex, ints, TP_WGATE, l, g, n2q, D, F);
        bitlinear(t, ex, ints, TP_WUP, l, u, n2q, D, F);
        tr_relu2_glu_forward(pool, glu, g, u, N * F);
        norm_quant(t, hq, a->rstd_h + l * N, glu, P->ffn_sub_norm + l * F, F, lam, ints);
        bitlinear(t, ex, ints, TP_WDOWN, l, a->tmp2, hq, F, D);
        tr_residual_forward(pool, xnext, h, a->tmp2, N * D);
    }
    const float *head = c->tied ? P->embed : P->lm_head;
    tr_rmsnorm_forward(pool, a->xf, a->rstdf, a->x + c->L * N * D, P->final_norm, N, D, c->eps);
    tr_matmul_forward(ex, a->logits, a->xf, head, N, D, c->V); /* lm_head: plain fp32 linear */
}

/* See train_model.h. */
double tr_model_forward(trit_trainer *t) {
    tr_model_logits(t);
    return tr_crossentropy_forward(t->pool, t->acts.losses, t->acts.logits, t->acts.logits, t->targets, t->N,
                                   t->c.V);
}

/* ======================================================================== */
/* Backward                                                                  */
/* ======================================================================== */

/* Zeroes n floats. */
static void zero(float *p, int64_t n) { memset(p, 0, (size_t)n * sizeof(float)); }

/* See train_model.h. The residual stream's gradient a->dres passes through
 * each residual connection unchanged (its backward is the identity on both
 * branches); each block's branch adds its input gradient to it through the
 * pre-norm's backward. */
void tr_model_backward(trit_trainer *t) {
    const tr_config *c = &t->c;
    const int64_t N = t->N, D = c->D, F = c->F, HD = c->HD, KVD = c->KVD, BHT2 = t->B * c->H * t->T * 2;
    tr_params *P = &t->params, *Q = &t->wq, *G = &t->grads;
    tr_acts *a = &t->acts;
    trit_pool *pool = t->pool;
    const tr_exec ex_ = {t->pool, t->isa, a->gscratch}, *ex = &ex_;
    memset(t->grads_mem, 0, t->n_params * sizeof(float));
    /* loss, lm_head, final norm */
    tr_crossentropy_backward(pool, a->logits, a->logits, t->targets, N, c->V, 1.0f / (float)N);
    zero(a->dxf, N * D);
    tr_matmul_backward(ex, a->dxf, c->tied ? G->embed : G->lm_head, a->logits, a->xf,
                       c->tied ? P->embed : P->lm_head, N, D, c->V);
    zero(a->dres, N * D);
    tr_rmsnorm_backward(pool, a->dres, G->final_norm, a->dxf, a->x + c->L * N * D, P->final_norm, a->rstdf, N, D);
    for (int64_t l = c->L - 1; l >= 0; l--) {
        const float *x = a->x + l * N * D, *n1q = a->n1q + l * N * D, *q = a->q + l * N * HD;
        const float *k = a->k + l * N * KVD, *v = a->v + l * N * KVD, *ast = a->att_stat + l * BHT2;
        const float *at = a->a + l * N * HD, *aq = a->aq + l * N * HD, *h = a->h + l * N * D;
        const float *n2q = a->n2q + l * N * D, *g = a->g + l * N * F, *u = a->u + l * N * F;
        const float *glu = a->glu + l * N * F, *hq = a->hq + l * N * F;
        /* feed-forward block: dres is d loss / d x_{l+1} = d/d h (pass-through) + the branch */
        zero(a->dlin, N * F);
        tr_bitlinear_backward(ex, a->dlin, G->wdown + l * D * F, a->dres, hq, Q->wdown + l * D * F, N, F, D);
        zero(a->dnorm, N * F);
        tr_rmsnorm_backward(pool, a->dnorm, G->ffn_sub_norm + l * F, a->dlin, glu, P->ffn_sub_norm + l * F,
                            a->rstd_h + l * N, N, F);
        zero(a->dg, N * F);
        zero(a->du, N * F);
        tr_relu2_glu_backward(pool, a->dg, a->du, a->dnorm, g, u, N * F);
        zero(a->dlin, N * D);
        tr_bitlinear_backward(ex, a->dlin, G->wgate + l * F * D, a->dg, n2q, Q->wgate + l * F * D, N, D, F);
        tr_bitlinear_backward(ex, a->dlin, G->wup + l * F * D, a->du, n2q, Q->wup + l * F * D, N, D, F);
        tr_rmsnorm_backward(pool, a->dres, G->ffn_norm + l * D, a->dlin, h, P->ffn_norm + l * D, a->rstd2 + l * N,
                            N, D);
        /* attention block: dres is now d loss / d h */
        zero(a->dlin, N * HD);
        tr_bitlinear_backward(ex, a->dlin, G->wo + l * D * HD, a->dres, aq, Q->wo + l * D * HD, N, HD, D);
        zero(a->dnorm, N * HD);
        tr_rmsnorm_backward(pool, a->dnorm, G->attn_sub_norm + l * HD, a->dlin, at, P->attn_sub_norm + l * HD,
                            a->rstd_a + l * N, N, HD);
        zero(a->dq, N * HD);
        zero(a->dk, N * KVD);
        zero(a->dv, N * KVD);
        tr_attention_backward(ex, a->dq, a->dk, a->dv, a->attscr, a->dnorm, q, k, v, ast, t->B, t->T, c->H, c->KV,
                              c->hd);
        tr_rope_backward(pool, a->dq, t->rope_cos, t->rope_sin, t->B, t->T, c->H, c->hd);
        tr_rope_backward(pool, a->dk, t->rope_cos, t->rope_sin, t->B, t->T, c->KV, c->hd);
        zero(a->dlin, N * D);
        tr_bitlinear_backward(ex, a->dlin, G->wq + l * HD * D, a->dq, n1q, Q->wq + l * HD * D, N, D, HD);
        tr_bitlinear_backward(ex, a->dlin, G->wk + l * KVD * D, a->dk, n1q, Q->wk + l * KVD * D, N, D, KVD);
        tr_bitlinear_backward(ex, a->dlin, G->wv + l * KVD * D, a->dv, n1q, Q->wv + l * KVD * D, N, D, KVD);
        tr_rmsnorm_backward(pool, a->dres, G->attn_norm + l * D, a->dlin, x, P->attn_norm + l * D, a->rstd1 + l * N,
                            N, D);
    }
    tr_embedding_backward(pool, G->embed, a->dres, t->inputs, N, D);
}
