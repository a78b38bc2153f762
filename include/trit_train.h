/*
 * trit_train.h - public C API of trit's trainer: quantization-aware training
 * of BitNet b1.58 decoders (the architecture trit_model runs) on the CPU.
 *
 * The model is kept as fp32 latent weights. Every linear layer except
 * lm_head is a BitLinear: its input is quantized per token to int8 and its
 * weight to ternary (or binary), with straight-through estimators, so the
 * forward pass is the one inference runs. Optimizer: AdamW with decoupled
 * weight decay on 2-D tensors, global gradient-norm clipping and a learning
 * rate schedule. Tensors use the Hugging Face BitNet names
 * ("model.layers.0.self_attn.q_proj.weight", ...).
 *
 * Conventions are those of trit.h: opaque handle, *_default_params(), every
 * fallible call returns a trit_status and fills a trit_error; the library
 * never prints or exits.
 */
#ifndef TRIT_TRAIN_H
#define TRIT_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "trit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* Weight quantizer of the BitLinear layers. */
typedef enum {
    TRIT_QUANT_ABSMEAN = 0,   /* ternary, s = 1/mean|W|  (BitNet b1.58)             */
    TRIT_QUANT_ABSMEDIAN = 1, /* ternary, s = 1/median|W| (b1.58 Reloaded)          */
    TRIT_QUANT_BINARY = 2,    /* sign(W - mean W) * mean|W| (1-bit BitNet)          */
    TRIT_QUANT_NONE = 3       /* full precision: no weight or activation quantization */
} trit_quant;

/* Learning-rate schedule (all start with a linear warmup). */
typedef enum {
    TRIT_SCHED_CONSTANT = 0,  /* warmup, then lr                                    */
    TRIT_SCHED_TWO_STAGE = 1, /* BitNet: lr until half way, then lr*stage2_scale
                                 decaying linearly to min_lr, weight decay 0        */
    TRIT_SCHED_COSINE = 2     /* warmup, then cosine from lr to min_lr              */
} trit_lr_schedule;

/* Shape of the model (the fields of a Hugging Face BitNet config.json). */
typedef struct {
    int64_t vocab_size, hidden_size, intermediate_size;
    int64_t n_layers, n_heads, n_kv_heads;
    int64_t max_position;     /* longest sequence the trainer accepts            */
    double rope_theta, rms_norm_eps;
    int tie_embeddings;       /* 1: lm_head is the embedding matrix              */
} trit_train_config;

typedef struct {
    trit_quant quant;         /* default TRIT_QUANT_ABSMEAN                       */
    float lambda;             /* quantization strength in [0,1]: the forward uses
                                 x + lambda*(Q(x) - x) (default 1)                 */
    int64_t lambda_ramp_steps;/* continual QAT: the strength grows linearly from 0
                                 at step 0 to `lambda` at this step (0: constant)  */
    int64_t batch, seq;       /* sequences per step and tokens per sequence
                                 (a batch holds batch x (seq+1) ids; default 8x256) */
    double lr, min_lr;        /* peak and final learning rate (3e-3, 3e-4)        */
    double beta1, beta2, eps; /* AdamW (0.9, 0.95, 1e-8)                          */
    double weight_decay;      /* decoupled, on 2-D tensors only (0.1)             */
    double grad_clip;         /* global L2 norm; <= 0: off (1.0)                  */
    int64_t warmup_steps;     /* linear warmup (default 100)                      */
    int64_t total_steps;      /* for the two-stage and cosine schedules (1000)    */
    trit_lr_schedule schedule;/* default TRIT_SCHED_CONSTANT                      */
    double stage2_scale;      /* two-stage: lr factor of the second stage (0.5)   */
    int n_threads;            /* 0 = number of online CPUs                        */
} trit_train_params;

trit_train_params trit_train_default_params(void);

/* ------------------------------------------------------------------------ */
/* Trainer                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct trit_trainer trit_trainer;

/* Statistics of one optimizer step. */
typedef struct {
    int64_t step;             /* 1-based number of the step just taken            */
    float loss;               /* mean cross-entropy of the batch (before update)  */
    float grad_norm;          /* global L2 norm of the gradients, before clipping */
    double lr, weight_decay;  /* values used by this step                         */
    float lambda;             /* quantization strength used by this step          */
} trit_train_stats;

/* Creates a trainer with zeroed parameters (load or initialize them next).
 * All memory (parameters, gradients, AdamW state, activations for
 * batch x seq tokens) is allocated here. */
trit_status trit_trainer_new(const trit_train_config *cfg, const trit_train_params *params,
                             trit_trainer **out, trit_error *err);
void trit_trainer_free(trit_trainer *t);

/* Random initialization: embeddings and linears N(0, std^2), norms 1. */
void trit_trainer_init_random(trit_trainer *t, uint64_t seed, float std);

/* Loads every parameter from a safetensors file with Hugging Face names
 * (F32/F16/BF16). Every tensor the model needs must be present with the
 * right shape; extra tensors are an error too. */
trit_status trit_trainer_load(trit_trainer *t, const char *path, trit_error *err);

/* Writes the fp32 latent parameters to a safetensors file (atomically). */
trit_status trit_trainer_save(const trit_trainer *t, const char *path, trit_error *err);

/* Forward + backward on one batch of batch x (seq+1) token ids, row-major:
 * inputs are ids[:, :seq], targets ids[:, 1:]. Gradients are overwritten
 * (not accumulated). *loss receives the mean cross-entropy. Uses the
 * quantization strength of the next step. */
trit_status trit_trainer_grad(trit_trainer *t, const int32_t *ids, float *loss, trit_error *err);

/* Forward only: mean cross-entropy of one batch (for validation). */
trit_status trit_trainer_eval(trit_trainer *t, const int32_t *ids, float *loss, trit_error *err);

/* One optimizer step: gradients of the batch, clipping, schedule, AdamW.
 * A non-finite loss or gradient norm leaves the parameters untouched and
 * returns TRIT_ERR_VALUE. */
trit_status trit_trainer_step(trit_trainer *t, const int32_t *ids, trit_train_stats *stats, trit_error *err);

/* Learning rate and weight decay the schedule gives to 0-based step `step`. */
void trit_trainer_schedule(const trit_trainer *t, int64_t step, double *lr, double *weight_decay);

/* Quantization strength used at 0-based step `step`. */
float trit_trainer_lambda(const trit_trainer *t, int64_t step);

/* Parameters and their gradients by Hugging Face name; NULL if the model has
 * no such tensor. *numel (if not NULL) receives the number of floats. */
size_t trit_trainer_n_tensors(const trit_trainer *t);
const char *trit_trainer_tensor_name(const trit_trainer *t, size_t i);
float *trit_trainer_param(trit_trainer *t, const char *name, int64_t *numel);
const float *trit_trainer_gradient(const trit_trainer *t, const char *name, int64_t *numel);
int64_t trit_trainer_n_params(const trit_trainer *t);

/* Bytes of the trainer's activation buffers (what the forward pass saves
 * for the backward pass, plus backward and per-thread scratch): linear in
 * batch x seq; attention keeps 2 floats per head and token, not the
 * seq x seq probabilities. */
size_t trit_trainer_activation_bytes(const trit_trainer *t);

/* ------------------------------------------------------------------------ */
/* Training state and the two halves of a step (src/train/trainer_state.c)   */
/* ------------------------------------------------------------------------ */

/* Optimizer steps taken so far: the 0-based index of the next step. */
int64_t trit_trainer_get_step(const trit_trainer *t);

/* Sets the step counter, when restoring a checkpoint: the schedule, the
 * lambda ramp and AdamW's bias correction continue from `step` (>= 0). */
void trit_trainer_set_step(trit_trainer *t, int64_t step);

/* AdamW moment of the tensor called name: which = 0 is the first moment
 * (PyTorch's exp_avg), 1 the second (exp_avg_sq). NULL if there is no such
 * tensor or which is not 0 or 1; *numel (if not NULL) receives the size. */
float *trit_trainer_moment(trit_trainer *t, const char *name, int which, int64_t *numel);

/* First half of trit_trainer_step: gradients of the batch, clipped, and
 * *stats (which must not be NULL) filled exactly as trit_trainer_step fills
 * it; the parameters, the moments and the step counter are untouched. A
 * non-finite loss or gradient norm returns TRIT_ERR_VALUE (stats filled).
 * The caller decides whether to apply the step (trit_trainer_apply) or to
 * drop it (simply not applying it: a spike guard). */
trit_status trit_trainer_prepare(trit_trainer *t, const int32_t *ids, trit_train_stats *stats, trit_error *err);

/* Second half: the AdamW update with the gradients held by the trainer
 * (those of the last successful trit_trainer_prepare; trit_trainer_eval in
 * between does not change them) and the schedule of the current step, then
 * step + 1. prepare + apply equals trit_trainer_step bit for bit. */
void trit_trainer_apply(trit_trainer *t);

/* Shape of Hugging Face tensor i: rows x cols for a matrix; for a vector
 * rows is its length and cols 0. Both 0 for an index out of range. */
void trit_trainer_tensor_shape(const trit_trainer *t, size_t i, int64_t *rows, int64_t *cols);

/* 1 if every parameter is finite (checked before a checkpoint is saved). */
int trit_trainer_params_finite(const trit_trainer *t);

/* ------------------------------------------------------------------------ */
/* Model configuration as JSON (src/train/config_json.c)                     */
/* ------------------------------------------------------------------------ */

/* Reads a Hugging Face BitNet config.json text: hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads (required),
 * num_key_value_heads (default: the heads), vocab_size (default 0: the
 * caller picks), max_position_embeddings (default 0), rope_theta or
 * rope_parameters.rope_theta (500000), rms_norm_eps (1e-5),
 * tie_word_embeddings (false). model_type, if present, must be "bitnet" and
 * hidden_act "relu2". `what` names the text in messages. */
trit_status trit_train_config_from_json(const char *text, size_t len, const char *what, trit_train_config *cfg,
                                        trit_error *err);

/* The config as a Hugging Face BitNet config.json object (architectures,
 * model_type, sizes, rope_theta, rms_norm_eps, tie_word_embeddings,
 * hidden_act; no quantization_config). malloc'ed, NUL-terminated; NULL when
 * out of memory. */
char *trit_train_config_to_json(const trit_train_config *cfg);

/* ------------------------------------------------------------------------ */
/* Inference-side views and export to Hugging Face (src/train/export.c)      */
/* ------------------------------------------------------------------------ */

/* Logits of the trainer's forward pass (at the quantization strength of the
 * next step) for batch x seq input ids (row-major, no target column):
 * logits receives batch * seq * vocab floats, row-major. Gradients and
 * parameters are untouched. */
trit_status trit_trainer_logits(trit_trainer *t, const int32_t *ids, float *logits, trit_error *err);

/* Weight format of an export. */
typedef enum {
    TRIT_EXPORT_PACKED = 0, /* quantization_mode offline: uint8 [out/4, in] ternary codes + weight_scale */
    TRIT_EXPORT_MASTER = 1, /* quantization_mode online: the latent weights (absmean models only)         */
    TRIT_EXPORT_BOTH = 2    /* packed in the folder, master weights in its subfolder bf16/ (f32/ with f32) */
} trit_export_format;

typedef struct {
    trit_export_format format; /* default TRIT_EXPORT_PACKED                                     */
    int f32;                   /* 1: embeddings, norms, lm_head (and master weights) in F32,
                                  exactly the trainer's values; 0: BF16 (default)                 */
    const char *tokenizer;     /* NULL, or a tokenizer.json file or a folder holding one:
                                  tokenizer.json (+ tokenizer_config.json, special_tokens_map.json
                                  when present) are copied into the folder                        */
    int64_t bos_id, eos_id;    /* written to config.json and generation_config.json; -1: none    */
    int64_t max_position;      /* max_position_embeddings; 0: the config's, else the sequence    */
} trit_export_params;

trit_export_params trit_export_default_params(void);

/* Writes the model as a Hugging Face checkpoint folder out_dir that trit
 * and transformers (BitNetForCausalLM) load: config.json (model_type
 * bitnet, the bitnet quantization_config of the format; none for quant
 * none, which is written as a dense model), generation_config.json,
 * model.safetensors and the tokenizer files. Packed weights hold exactly
 * the trainer's quantized weights at full strength: codes w + 1 in the
 * row-group layout and a per-tensor F32 weight_scale read with the divide
 * rule (y = x_q.w_q / (act_scale * weight_scale)). The master format is
 * refused for absmedian and binary models (its readers ternarize with
 * absmean). The folder is written as out_dir.partial-PID and renamed when
 * complete; an existing non-empty out_dir is refused. */
trit_status trit_trainer_export(const trit_trainer *t, const char *out_dir, const trit_export_params *p,
                                trit_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TRIT_TRAIN_H */
