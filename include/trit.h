/*
 * trit.h - public C API of trit, an engine for 1.58-bit (ternary) and 1-bit
 * neural networks.
 *
 * Conventions
 *   - Every object is an opaque handle created by a *_load / *_new function
 *     and released by the matching *_free function (NULL is accepted).
 *   - Every fallible call returns a trit_status and, when `err` is not NULL,
 *     fills it with a message that names the file / tensor involved and says
 *     what to do. The library never calls exit() and never prints.
 *   - Parameter structs are obtained from *_default_params() and then edited,
 *     so new fields can be added without breaking callers.
 *   - Counts and sizes are int64_t / size_t.
 */
#ifndef TRIT_H
#define TRIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRIT_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum {
    TRIT_OK = 0,
    TRIT_ERR_IO,          /* file missing, unreadable, short read, write failed */
    TRIT_ERR_FORMAT,      /* corrupt or truncated file, malformed JSON/header   */
    TRIT_ERR_MISMATCH,    /* shapes / dtypes that do not match config.json      */
    TRIT_ERR_UNSUPPORTED, /* unknown model_type, quant method, dtype, ...       */
    TRIT_ERR_VALUE,       /* NaN / Inf weights, out-of-range ids                */
    TRIT_ERR_ARG,         /* invalid argument from the caller                   */
    TRIT_ERR_NOMEM,       /* allocation failed                                  */
    TRIT_ERR_CONTEXT      /* context (KV cache) is full                         */
} trit_status;

typedef struct {
    trit_status code;
    char msg[1024];
} trit_error;

/* Short constant name of a status code, e.g. "format error". */
const char *trit_status_str(trit_status s);

/* ------------------------------------------------------------------------ */
/* Runtime                                                                   */
/* ------------------------------------------------------------------------ */

/* Name of the kernel level in use ("scalar", "avx2", "avx512", "neon").
 * The environment variable TRIT_ISA (same names) forces a lower level. */
const char *trit_isa_name(void);

/* Number of online CPUs (>= 1). */
int trit_cpu_count(void);

/* Monotonic wall-clock time in seconds, for timings. */
double trit_time_s(void);

/* ------------------------------------------------------------------------ */
/* Models                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct trit_model trit_model;

typedef struct {
    int check_values;   /* 1: reject NaN/Inf in float weights at load (default 1) */
    int weight_scale_multiply; /* debug only: apply the packed weight_scale by
                                  multiplying instead of dividing (wrong rule,
                                  kept so tests can prove they catch it)       */
    int lm_head_format;  /* TRIT_HEAD_AS_STORED (default, exact) or a copy
                            quantized at load in blocks of 32 with a bf16
                            scale: TRIT_HEAD_Q8 (8.5 bits/weight), _Q6 (6.5),
                            _Q4 (4.5); fewer bytes read per token, a small
                            accuracy cost. Needs hidden_size % 32 == 0.       */
    int weights_format;  /* ternary linears: TRIT_WEIGHTS_AUTO (default: the
                            fastest layout for this CPU, 2BIT on AVX-512,
                            STORED elsewhere), TRIT_WEIGHTS_STORED (the
                            checkpoint's 2-bit layout in place, no
                            repacking), TRIT_WEIGHTS_2BIT (repacked at load
                            into bands of rows, in memory with 2 MiB pages
                            where the system allows), TRIT_WEIGHTS_1P6BIT (5
                            trits per byte: fewest bytes, AVX-512 only is
                            fast) or TRIT_WEIGHTS_LUT (lookup-table kernel,
                            16/9 bits, AVX-512 only is fast). All give
                            identical results; docs/PERF.md compares them.  */
    int binary_format;   /* packed linears whose codes are all +-1 (binary
                            models): TRIT_BINARY_AUTO (default, 0) repacks
                            them at load into 1-bit blocks (1.125 bits per
                            weight read instead of 2, identical logits);
                            TRIT_BINARY_OFF keeps the 2-bit codes;
                            TRIT_BINARY_FORCE fails unless every packed
                            linear is binary                                 */
    int n_threads;       /* threads for load-time conversion (0 = all CPUs) */
} trit_model_params;

enum { TRIT_HEAD_AS_STORED = 0, TRIT_HEAD_Q8 = 1, TRIT_HEAD_Q6 = 2, TRIT_HEAD_Q4 = 3 };
enum { TRIT_WEIGHTS_STORED = 0, TRIT_WEIGHTS_2BIT = 1, TRIT_WEIGHTS_1P6BIT = 2, TRIT_WEIGHTS_LUT = 3,
       TRIT_WEIGHTS_AUTO = 4 };
enum { TRIT_BINARY_AUTO = 0, TRIT_BINARY_OFF = 1, TRIT_BINARY_FORCE = 2 };

trit_model_params trit_model_default_params(void);

/* Loads a Hugging Face model directory (config.json + model.safetensors or a
 * sharded model.safetensors.index.json). Weights are memory-mapped. */
trit_status trit_model_load(const char *dir, const trit_model_params *params,
                            trit_model **out, trit_error *err);
void trit_model_free(trit_model *m);

typedef struct {
    const char *arch;        /* "bitnet" or "llama"                          */
    const char *weight_format; /* "ternary-packed-offline", "ternary-online" */
    const char *lm_head_format; /* "bf16", "f16", "f32" (as stored), "q8 ...", "q6 ...", "q4 ..." */
    int64_t vocab_size, hidden_size, intermediate_size;
    int64_t n_layers, n_heads, n_kv_heads, head_dim, max_position;
    double rope_theta, rms_norm_eps;
    int tied_embeddings;
    int64_t n_params;        /* parameters as in the checkpoint              */
    int64_t file_bytes;      /* bytes of all safetensors files               */
    int64_t weight_bytes;    /* bytes of weights as used for compute         */
    int64_t bos_id;          /* -1 if none                                   */
    int n_eos;
    int64_t eos_ids[8];
} trit_model_info;

void trit_model_get_info(const trit_model *m, trit_model_info *info);

/* Bytes of KV cache for n_ctx positions with keys of type_k and values of
 * type_v (TRIT_KV_F32 / TRIT_KV_F16). */
int64_t trit_model_kv_bytes(const trit_model *m, int64_t n_ctx, int type_k, int type_v);

/* ------------------------------------------------------------------------ */
/* Inference contexts                                                        */
/* ------------------------------------------------------------------------ */

typedef struct trit_ctx trit_ctx;

typedef struct {
    int n_threads;     /* 0 = number of online CPUs                       */
    int64_t n_ctx;     /* KV cache positions; 0 = min(max_position, 4096) */
    int64_t n_batch;   /* max tokens per forward call (prompt chunk); 0 = 512 */
    int type_k, type_v; /* cache element types: TRIT_KV_F32 (default, exact)
                           or TRIT_KV_F16 (half the memory and the bytes read
                           per token; keys/values rounded to f16)          */
} trit_ctx_params;

enum { TRIT_KV_F32 = 0, TRIT_KV_F16 = 1 };

trit_ctx_params trit_ctx_default_params(void);
trit_status trit_ctx_new(const trit_model *m, const trit_ctx_params *p,
                         trit_ctx **out, trit_error *err);
void trit_ctx_free(trit_ctx *c);

/* Number of positions currently held in the KV cache. */
int64_t trit_ctx_n_past(const trit_ctx *c);
/* Drops cached positions >= n_keep (n_keep <= n_past). */
void trit_ctx_truncate(trit_ctx *c, int64_t n_keep);

/* Where the time of trit_decode goes: wall-clock seconds per step of the
 * forward pass, summed over every call since the context was made or last
 * reset (always measured: two clock reads per step). */
enum {
    TRIT_PROF_EMBED,     /* embedding rows                                  */
    TRIT_PROF_ATTN_IN,   /* input norm + quantization, q/k/v projections    */
    TRIT_PROF_ROPE,      /* RoPE, keys and values into the cache            */
    TRIT_PROF_ATTN,      /* attention over the cache                        */
    TRIT_PROF_ATTN_OUT,  /* sub-norm, o_proj, residual add                  */
    TRIT_PROF_FFN_IN,    /* norm + quantization, gate/up projections        */
    TRIT_PROF_FFN_OUT,   /* GLU, sub-norm, down_proj, residual add          */
    TRIT_PROF_HEAD,      /* final norm and lm_head                          */
    TRIT_PROF_N
};
typedef struct {
    double seconds[TRIT_PROF_N];
    int64_t calls[TRIT_PROF_N];
} trit_profile;

/* Name of profile step i ("attention", ...); "?" out of range. */
const char *trit_profile_step_name(int i);
void trit_ctx_get_profile(const trit_ctx *c, trit_profile *out);
void trit_ctx_reset_profile(trit_ctx *c);

/* Runs the model on n tokens that follow the cached ones. When `logits` is not
 * NULL it receives float32 logits: all n rows ([n x vocab], row-major) when
 * all_logits is 1, else only the last row ([vocab]). Prompts are processed as
 * matrices, in chunks of n_batch. */
trit_status trit_decode(trit_ctx *c, const int32_t *tokens, int64_t n,
                        float *logits, int all_logits, trit_error *err);

/* ------------------------------------------------------------------------ */
/* Sampling                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct trit_sampler trit_sampler;

typedef struct {
    float temperature;     /* <= 0: greedy (default 0.8)          */
    int top_k;             /* <= 0: off (default 40)              */
    float top_p;           /* >= 1: off (default 0.95)            */
    float min_p;           /* <= 0: off (default 0.05)            */
    float repeat_penalty;  /* 1: off (default 1.0)                */
    int repeat_last_n;     /* tokens considered (default 64)      */
    uint64_t seed;         /* default 0xC0FFEE                    */
} trit_sampler_params;

trit_sampler_params trit_sampler_default_params(void);
trit_sampler *trit_sampler_new(const trit_sampler_params *p, int64_t vocab_size);
void trit_sampler_free(trit_sampler *s);
/* Picks the next token from logits[vocab] (logits may be modified). */
int32_t trit_sample(trit_sampler *s, float *logits);
/* Tells the sampler a token was emitted (for the repetition penalty). */
void trit_sampler_accept(trit_sampler *s, int32_t token);

#ifdef __cplusplus
}
#endif
#endif /* TRIT_H */
