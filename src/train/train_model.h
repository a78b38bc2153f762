/*
 * train_model.h - memory layout and forward/backward of the BitNet b1.58
 * decoder being trained (llm.c style).
 *
 * Memory: ONE allocation for all parameters, one for their gradients (same
 * layout), one for the AdamW moments (m then v, same layout), one for the
 * quantized weights the BitLinears use, one for every activation and
 * backward scratch buffer. Per-layer tensors are stacked over layers: layer
 * l of an (L, R, C) tensor starts at l*R*C.
 *
 * Model (transformers' BitNetForCausalLM with latent weights):
 *   x = embed[ids]
 *   per layer: h = x + o(attn_sub_norm(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))))
 *              x = h + down(ffn_sub_norm(relu(gate(n2(h)))^2 * up(n2(h))))
 *   logits = lm_head(norm(x)); loss = mean cross-entropy.
 */
#ifndef TRIT_TRAIN_MODEL_H
#define TRIT_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "trit_train.h"

/* ======================================================================== */
/* Sizes                                                                     */
/* ======================================================================== */

typedef struct {
    int64_t V, D, F, L;      /* vocab, hidden, intermediate, layers          */
    int64_t H, KV, hd;       /* query heads, kv heads, head dim              */
    int64_t HD, KVD;         /* H*hd, KV*hd                                  */
    int64_t W;               /* max(D, HD, F): widest row of a linear input  */
    float eps;               /* rms_norm_eps                                 */
    double theta;            /* rope_theta                                   */
    int tied;                /* lm_head = embed                              */
    int64_t max_pos;         /* max_position_embeddings of the config (0: not given) */
} tr_config;

/* ======================================================================== */
/* Parameters (also the layout of gradients, AdamW moments, quantized weights) */
/* ======================================================================== */

enum {
    TP_EMBED, TP_ATTN_NORM, TP_WQ, TP_WK, TP_WV, TP_ATTN_SUB_NORM, TP_WO, TP_FFN_NORM,
    TP_WGATE, TP_WUP, TP_FFN_SUB_NORM, TP_WDOWN, TP_FINAL_NORM, TP_LM_HEAD, TR_N_PARAM_TENSORS
};

typedef struct {
    float *embed;          /* (V, D)      model.embed_tokens.weight                       */
    float *attn_norm;      /* (L, D)      model.layers.l.input_layernorm.weight           */
    float *wq;             /* (L, HD, D)  model.layers.l.self_attn.q_proj.weight          */
    float *wk;             /* (L, KVD, D) model.layers.l.self_attn.k_proj.weight          */
    float *wv;             /* (L, KVD, D) model.layers.l.self_attn.v_proj.weight          */
    float *attn_sub_norm;  /* (L, HD)     model.layers.l.self_attn.attn_sub_norm.weight   */
    float *wo;             /* (L, D, HD)  model.layers.l.self_attn.o_proj.weight          */
    float *ffn_norm;       /* (L, D)      model.layers.l.post_attention_layernorm.weight  */
    float *wgate;          /* (L, F, D)   model.layers.l.mlp.gate_proj.weight             */
    float *wup;            /* (L, F, D)   model.layers.l.mlp.up_proj.weight               */
    float *ffn_sub_norm;   /* (L, F)      model.layers.l.mlp.ffn_sub_norm.weight          */
    float *wdown;          /* (L, D, F)   model.layers.l.mlp.down_proj.weight             */
    float *final_norm;     /* (D)         model.norm.weight                               */
    float *lm_head;        /* (V, D)      lm_head.weight; NULL when tied (embed is used)  */
} tr_params;

/* Shape of parameter tensor `i`: `layers` stacked (R, C) matrices, C = 0 for
 * vectors. Returns the number of floats (0 for lm_head when tied). */
size_t tr_param_shape(const tr_config *c, int i, int64_t *layers, int64_t *rows, int64_t *cols);

/* 1 if tensor i is a linear weight quantized by BitLinear. */
int tr_param_is_bitlinear(int i);

/* Slot i of a tr_params (the pointer of tensor i). */
float **tr_param_slot(tr_params *p, int i);

/* Points the slots of p into `base` (laid out in enum order, each tensor
 * sizes[i] floats); slots of size 0 become NULL. */
void tr_params_point(tr_params *p, float *base, const size_t sizes[TR_N_PARAM_TENSORS]);

/* ======================================================================== */
/* Activations (N = B*T tokens)                                              */
/* ======================================================================== */

typedef struct {
    /* saved by the forward pass for the backward pass */
    float *x;         /* (L+1, N, D)  residual stream entering layer l; x[L] feeds the final norm */
    float *rstd1;     /* (L, N)       1/rms of x, input_layernorm                 */
    float *n1q;       /* (L, N, D)    normed x after the activation quantizer (q/k/v input) */
    float *q;         /* (L, N, HD)   queries after RoPE                          */
    float *k;         /* (L, N, KVD)  keys after RoPE                             */
    float *v;         /* (L, N, KVD)  values                                      */
    float *att_stat;  /* (L, B, H, T, 2) softmax row max and 1/sum (P is recomputed) */
    float *a;         /* (L, N, HD)   attention output (input of attn_sub_norm)   */
    float *rstd_a;    /* (L, N)                                                   */
    float *aq;        /* (L, N, HD)   sub-normed, quantized: input of o_proj      */
    float *h;         /* (L, N, D)    residual stream after the attention block   */
    float *rstd2;     /* (L, N)       post_attention_layernorm                    */
    float *n2q;       /* (L, N, D)    normed h, quantized: gate/up input          */
    float *g;         /* (L, N, F)    gate_proj output                            */
    float *u;         /* (L, N, F)    up_proj output                              */
    float *glu;       /* (L, N, F)    relu(g)^2 * u (input of ffn_sub_norm)       */
    float *rstd_h;    /* (L, N)                                                   */
    float *hq;        /* (L, N, F)    sub-normed, quantized: down_proj input      */
    float *xf;        /* (N, D)       final-normed x, lm_head input               */
    float *rstdf;     /* (N)                                                      */
    float *logits;    /* (N, V)       logits -> probabilities -> dlogits           */
    float *losses;    /* (N)          per-token cross-entropy                     */
    /* forward temporaries */
    float *tmp;       /* (N, W)       normalized rows before quantization         */
    float *tmp2;      /* (N, D)       o_proj / down_proj output                   */
    /* backward buffers */
    float *dres;      /* (N, D)       gradient of the residual stream             */
    float *dxf;       /* (N, D)       gradient of xf                              */
    float *dlin;      /* (N, W)       gradient of a BitLinear input (dn1q, daq, dn2q, dhq) */
    float *dnorm;     /* (N, W)       gradient of a sub-norm input (da, dglu)     */
    float *dg;        /* (N, F)                                                   */
    float *du;        /* (N, F)                                                   */
    float *dq;        /* (N, HD)                                                  */
    float *dk;        /* (N, KVD)                                                 */
    float *dv;        /* (N, KVD)                                                 */
    float *attscr;    /* (n_threads, TR_ATTN_SCRATCH(T)) attention row-block scratch */
    float *wscratch;  /* (max linear numel) scratch of the weight quantizer       */
    float *gscratch;  /* (n_threads, TR_GEMM_SCRATCH) packing scratch of tr_gemm  */
} tr_acts;

/* ======================================================================== */
/* The trainer                                                               */
/* ======================================================================== */

struct trit_trainer {
    tr_config c;
    trit_train_params p;
    trit_pool *pool;
    int64_t B, T, N;                 /* batch, sequence length, B*T          */
    size_t sizes[TR_N_PARAM_TENSORS];/* floats of each parameter tensor      */
    size_t n_params;                 /* floats of all parameters             */
    float *params_mem;               /* (n_params)                           */
    float *grads_mem;                /* (n_params)                           */
    float *adam_mem;                 /* (2, n_params): m then v              */
    float *wq_mem;                   /* (n_params) quantized weights W_q (BitLinear slots only)        */
    float *acts_mem;                 /* (n_acts) every activation            */
    size_t n_acts;                   /* floats of acts_mem                   */
    tr_params params, grads, m, v, wq;
    /* integer forward (quantization strength 1): the ternary codes of every
     * BitLinear matrix packed as trit_tmat (ceil(R/4), C) per layer, their
     * divisors, and the int8 codes of the current BitLinear input */
    uint8_t *wpack_mem;              /* all packed matrices                  */
    size_t wpack_off[TR_N_PARAM_TENSORS]; /* byte offset of tensor i's layer 0 */
    float *wdiv;                     /* (TR_N_PARAM_TENSORS, L) divisors     */
    int8_t *wcodes;                  /* (largest BitLinear matrix) codes     */
    int8_t *xq8;                     /* (N, W) int8 codes of a BitLinear input */
    float *xscale;                   /* (N) their per-token scales           */
    int32_t *xsum;                   /* (N) their per-token sums             */
    trit_isa isa;                    /* kernel level of tr_gemm              */
    tr_acts acts;
    float *rope_cos, *rope_sin;      /* (T, hd/2) each                       */
    int32_t *inputs, *targets;       /* (N) each                             */
    int64_t step;                    /* optimizer steps taken                */
    /* Hugging Face tensors: name, parameter tensor, layer */
    size_t n_tensors;
    char **names;
    int *tensor_param;
    int64_t *tensor_layer;
};

/* Allocates every buffer of t for t->c, t->B, t->T (fields set by the
 * caller); returns 0 on allocation failure (t is then freed by
 * tr_model_free). Parameters, gradients and moments start at zero. */
int tr_model_alloc(trit_trainer *t);
void tr_model_free(trit_trainer *t);

/* Float view of Hugging Face tensor i (a layer slice of a stacked tensor)
 * inside a tr_params laid out like t->params; *numel receives its size. */
float *tr_tensor_view(const trit_trainer *t, const tr_params *p, size_t i, int64_t *numel, int64_t *rows,
                      int64_t *cols);

/* Forward pass on t->inputs / t->targets (quantizing the weights first);
 * returns the mean loss and leaves the activations for tr_model_backward. */
double tr_model_forward(trit_trainer *t);

/* The forward pass up to the logits (t->acts.logits, (N, V)) on t->inputs,
 * without the loss. */
void tr_model_logits(trit_trainer *t);

/* Backward pass after tr_model_forward: overwrites t->grads. */
void tr_model_backward(trit_trainer *t);

#endif /* TRIT_TRAIN_MODEL_H */
