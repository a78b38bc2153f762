/*
 * model.h - in-memory form of a decoder-only BitNet / Llama-BitNet model.
 *
 * Large tensors are used in place from the memory-mapped safetensors files
 * (packed ternary weights, bf16/f16 embeddings); only small tensors (norm
 * weights, biases) and online-ternarized weights are owned copies.
 */
#ifndef TRIT_MODEL_H
#define TRIT_MODEL_H

#include <stdint.h>
#include "trit.h"
#include "core/core.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "kernels/tpack.h"
#include "kernels/head.h"

typedef enum { ARCH_BITNET = 0, ARCH_LLAMA = 1 } trit_arch;
typedef enum { WFMT_DENSE = 0, WFMT_PACKED_OFFLINE = 1, WFMT_ONLINE = 2 } trit_wfmt;
typedef enum { LIN_TERNARY = 0, LIN_DENSE = 1, LIN_HQ = 2, LIN_BINARY = 3 } trit_lin_kind;
typedef enum { ROPE_DEFAULT = 0, ROPE_LINEAR = 1, ROPE_LLAMA3 = 2 } trit_rope_type;

/* One linear layer y = x W^T (+ b). Ternary layers quantize x to int8 per
 * token and compute y = (x_q . w_q) / (x_scale * wdiv); dense layers use the
 * float weights directly (as transformers does for modules it does not
 * convert, e.g. lm_head). */
typedef struct {
    trit_lin_kind kind;
    int64_t in, out;
    trit_tmat t;       /* ternary: codes in place or in `owned`          */
    float wdiv;        /* ternary: divisor (stored weight_scale, or 1/mean|W|) */
    trit_dmat d;       /* dense                                          */
    trit_hmat hq;      /* block-quantized (lm_head with TRIT_HEAD_Q8/Q6/Q4) */
    void *hq_owned;    /* hq.tiles storage (mmap, hq_bytes long)         */
    size_t hq_bytes;
    trit_bmat b;       /* binary: 1-bit blocks in `owned`, divisor wdiv  */
    uint8_t *owned;    /* ternary codes made at load (online mode)       */
    trit_tpk tp;       /* ternary: repacked layout (tp.data in the model's
                          tp_buf), used instead of t when tp.data != NULL */
    float *bias;       /* [out] or NULL, owned                           */
} trit_linear;

typedef struct {
    float *attn_norm;      /* input_layernorm [D]                         */
    float *attn_sub_norm;  /* bitnet: [n_heads*head_dim], else NULL       */
    float *ffn_norm;       /* post_attention_layernorm [D]                */
    float *ffn_sub_norm;   /* bitnet: [F], else NULL                      */
    trit_linear q, k, v, o, gate, up, down;
} trit_layer;

typedef struct {
    trit_arch arch;
    int64_t vocab, dim, ffn, n_layers, n_heads, n_kv_heads, head_dim, max_pos;
    float eps;
    int act;               /* NN_ACT_RELU2 / NN_ACT_SILU                  */
    int tied;
    int attn_bias, mlp_bias;
    /* rope */
    trit_rope_type rope_type;
    double rope_theta, rope_factor, rope_low_freq, rope_high_freq;
    int64_t rope_orig_max;
    /* quantization */
    trit_wfmt wfmt;
    int autobitlinear;     /* config said linear_class autobitlinear      */
    char **skip_modules;   /* modules_to_not_convert (owned strings)      */
    int n_skip;
    /* tokens */
    int64_t bos_id;
    int n_eos;
    int64_t eos_ids[8];
} trit_config;

struct trit_model {
    char *dir;
    trit_config cfg;
    st_set *st;
    trit_dmat embed;       /* [vocab][dim], in place                      */
    int embed_drop;        /* 1: the table serves only lookups (tied head
                              quantized): rows are read with pread (embed_fd)
                              or, failing that, unmapped after each lookup  */
    int embed_fd;          /* the embedding's file, open for reading, or -1 */
    uint64_t embed_offset; /* the table's byte offset in that file          */
    trit_linear lm_head;   /* dense; may alias embed                      */
    float *final_norm;     /* [dim]                                       */
    trit_layer *layers;
    float *inv_freq;       /* [head_dim/2]                                */
    int64_t n_params, weight_bytes;
    int64_t n_packed_lin, n_binary_lin; /* packed quantized linears; of them repacked to binary */
    trit_model_params params;
    void *tp_buf;          /* repacked ternary weights (one mapping) or NULL */
    size_t tp_bytes;
};

/* Parses config.json (+ generation_config.json for EOS ids) of dir into cfg.
 * Errors name the file and the key. */
trit_status trit_config_load(const char *dir, trit_config *cfg, trit_error *err);
void trit_config_free(trit_config *cfg);

/* Repacks every ternary linear into tpack format fmt (repack.c): fills
 * lin->tp, sets m->tp_buf, releases the source codes. */
trit_status trit_model_repack(trit_model *m, int fmt, trit_error *err);

/* Called by the loader for every packed ternary linear `name` (tensor w,
 * codes already checked) of a model being loaded: counts it and, as
 * m->params.binary_format says, repacks it to binary blocks when its codes
 * are all +-1, or fails (TRIT_BINARY_FORCE) when they are not
 * (models/binary_load.c). */
trit_status trit_linear_to_binary(trit_model *m, trit_linear *lin, const st_tensor *w, trit_error *err);

/* After all layers are loaded: with TRIT_BINARY_FORCE, fails when the model
 * has no packed linear at all (e.g. master weights, a dense model). */
trit_status trit_model_check_binary(const trit_model *m, trit_error *err);

/* Token tok's embedding row into out[dim] (f32). With embed_drop, the row is
 * read from the file (or its pages unmapped again), so lookups do not grow
 * the resident set. */
void trit_model_embed_row(const trit_model *m, int32_t tok, float *out);

/* Computes the rotary inverse frequencies [head_dim/2] as transformers does
 * for the configured rope type. */
void trit_rope_inv_freq(const trit_config *cfg, float *inv_freq);

#endif /* TRIT_MODEL_H */
