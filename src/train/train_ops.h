/*
 * train_ops.h - the forward/backward pairs of the trainer (llm.c style):
 * every op works on whole (N = batch x seq)-token arrays, spreads its work
 * over the thread pool and gives bit-identical results for any thread count
 * (each output element is computed by one thread in a fixed order).
 *
 * Conventions
 *   - Shapes are written (rows, cols), row-major; N = B*T tokens.
 *   - *_forward writes its outputs (=).
 *   - *_backward ACCUMULATES (+=) into every gradient it produces, inputs and
 *     weights alike, so gradients from several consumers add up; callers zero
 *     the buffers first.
 *   - Matrix products (tr_gemm) are float32 fused multiply-add chains in a
 *     fixed order; other sums are accumulated in double and rounded once,
 *     except where a comment says the float operation order of PyTorch is
 *     reproduced.
 */
#ifndef TRIT_TRAIN_OPS_H
#define TRIT_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "core/core.h"
#include "trit_train.h"

/* ======================================================================== */
/* Shared math                                                               */
/* ======================================================================== */

/* e^x in float for x <= 88 (x < -87 gives e^-87 instead of a smaller
 * number), within 3 ulp: x = n ln2 + r with n = rint(x / ln2), a degree-6
 * Taylor polynomial of e^r (|r| <= 0.35), times 2^n built in the exponent
 * bits. Written so that loops over it vectorize (the softmaxes of the loss
 * and of attention). */
static inline float tr_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f +
              r * 1.38888889e-3f)))));
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* ======================================================================== */
/* embedding.c                                                               */
/* ======================================================================== */

/* out (N, D) = wte[ids[n]] for each token n; ids must be in [0, V). */
void tr_embedding_forward(trit_pool *pool, float *out, const int32_t *ids, const float *wte, int64_t N,
                          int64_t D);
/* dwte (V, D) += scatter of dout (N, D) onto the rows ids[n]. */
void tr_embedding_backward(trit_pool *pool, float *dwte, const float *dout, const int32_t *ids, int64_t N,
                           int64_t D);

/* ======================================================================== */
/* rmsnorm.c                                                                 */
/* ======================================================================== */

/* out (N, C) = w * (x * rstd), rstd (N) = 1/sqrt(mean(x^2) + eps), in the
 * float operation order of PyTorch. */
void tr_rmsnorm_forward(trit_pool *pool, float *out, float *rstd, const float *inp, const float *w, int64_t N,
                        int64_t C, float eps);
/* dinp (N, C) += d out/d inp . dout;  dw (C) += sum_n dout * inp * rstd. */
void tr_rmsnorm_backward(trit_pool *pool, float *dinp, float *dw, const float *dout, const float *inp,
                         const float *w, const float *rstd, int64_t N, int64_t C);

/* ======================================================================== */
/* gemm.c                                                                    */
/* ======================================================================== */

/* Blocking of tr_gemm: KC k-values, MC rows and NC columns per block. */
enum { TR_GEMM_KC = 256, TR_GEMM_MC = 96, TR_GEMM_NC = 512 };

/* Floats of scratch one tr_gemm call needs (one packed block of B). */
#define TR_GEMM_SCRATCH ((int64_t)TR_GEMM_KC * TR_GEMM_NC)

/* What the ops need to run: the thread pool, the kernel level of tr_gemm,
 * and trit_pool_size(pool) * TR_GEMM_SCRATCH floats of 64-byte aligned
 * scratch (thread ith uses the ith slice). */
typedef struct {
    trit_pool *pool;
    trit_isa isa;
    float *scratch;
} tr_exec;

/* One matrix product C (M, Nc) (+)= A (M, K) @ B (K, Nc). Element (m, k) of
 * A is A[m*sam + k*sak], element (k, j) of B is B[k*sbk + j*sbn] (any
 * layout: row-major, transposed, a strided view); C is row-major with row
 * stride ldc. accumulate: 1 adds to C, 0 overwrites it. */
typedef struct {
    float *C;
    int64_t ldc;
    const float *A;
    int64_t sam, sak;
    const float *B;
    int64_t sbk, sbn;
    int64_t K;
    int accumulate;
} tr_gemm_op;

/* Rows [m0, m1) x columns [j0, j1) of op. Each C element is one fused
 * multiply-add chain over k = 0..K-1 in order, starting from its old value
 * when accumulating, else from 0: bit-identical for every isa and every
 * split of the output. scratch: TR_GEMM_SCRATCH floats, 64-byte aligned. */
void tr_gemm(trit_isa isa, float *scratch, const tr_gemm_op *op, int64_t m0, int64_t m1, int64_t j0, int64_t j1);

/* Part ith of nth of an (M, Nc) output for multi-threaded tr_gemm calls:
 * near-equal aligned pieces of the columns (of the rows when there are too
 * few columns to share). */
void tr_gemm_part(int64_t M, int64_t Nc, int ith, int nth, int64_t *m0, int64_t *m1, int64_t *j0, int64_t *j1);

/* Micro-kernel: the mr x nr top-left part (1 <= mr <= MR, 1 <= nr <= NR) of
 * an MR x NR tile of C (row stride ldc) = (load_c ? C : 0) + the fused
 * multiply-add chains over k = 0..kc-1 of A (element (i, k) at
 * a[i*sam + k*sak], rows i < mr only are read) and bp (kc x NR, k-major,
 * zero padded past nr, 64-byte aligned). */
typedef void (*tr_ukernel_fn)(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *bp, float *c,
                              int64_t ldc, int mr, int nr, int load_c);

/* gemm_avx512.c / gemm_avx2.c (x86-64 only; call only on CPUs with the ISA). */
enum { TR_UKR_AVX512_MR = 8, TR_UKR_AVX512_NR = 32, TR_UKR_AVX2_MR = 6, TR_UKR_AVX2_NR = 16 };
void tr_ukr_avx512(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *bp, float *c, int64_t ldc,
                   int mr, int nr, int load_c);
void tr_ukr_avx2(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *bp, float *c, int64_t ldc,
                 int mr, int nr, int load_c);

/* ======================================================================== */
/* linear.c: plain fp32 linear (lm_head, and the core of BitLinear)          */
/* ======================================================================== */

/* out (N, OC) = inp (N, IC) @ w^T, w (OC, IC). */
void tr_matmul_forward(const tr_exec *ex, float *out, const float *inp, const float *w, int64_t N, int64_t IC,
                       int64_t OC);
/* dinp (N, IC) += dout (N, OC) @ w (OC, IC);  dw (OC, IC) += dout^T @ inp.
 * dinp may be NULL (not needed). */
void tr_matmul_backward(const tr_exec *ex, float *dinp, float *dw, const float *dout, const float *inp,
                        const float *w, int64_t N, int64_t IC, int64_t OC);

/* ======================================================================== */
/* bitlinear.c: quantizers with straight-through estimators                  */
/* ======================================================================== */

/* Chunks of the parallel sums of the weight quantizers (fixed, so the sums
 * do not depend on the thread count). */
enum { TR_SUM_CHUNKS = 1024 };

/* The weight quantizer `kind` over the whole tensor w (n) (one scale per
 * matrix), any of three outputs (NULL: not wanted):
 *   wq (n)    = w + lam * (Q(w) - w), the straight-through forward weight
 *               (TRIT_QUANT_NONE copies w);
 *   codes (n) = Q(w) as integers in {-1, 0, 1} ({-1, 1} for binary);
 *   *div      = the divisor of the dividing rule, Q(w) = code / div: the
 *               ternary kinds' s (exactly); for binary 1/b (b = mean|w|),
 *               chosen so that 1/div == b when a float allows it.
 * codes and div are meaningless for TRIT_QUANT_NONE. scratch holds n floats
 * (used by absmedian). */
void tr_quantize_weight(trit_pool *pool, float *wq, int8_t *codes, float *div, const float *w, int64_t n,
                        trit_quant kind, float lam, float *scratch);

/* Packs codes (rows, cols) in {-1, 0, 1} into dst (ceil(rows/4), cols) in the
 * layout of packed BitNet checkpoints (trit_tmat): row r in packed row
 * r % Q at bits 2*(r / Q), code + 1; padding rows hold code 1. */
void tr_pack_codes(trit_pool *pool, uint8_t *dst, const int8_t *codes, int64_t rows, int64_t cols);

/* xq (N, C) = x + lam * (A(x) - x) per token, A = int8 absmax quantization
 * (127/max|x|, round half to even, clamp [-128, 127], dequantized).
 * TRIT_QUANT_NONE copies x. xq may equal x. When q8 is not NULL, also the
 * int8 codes q8 (N, C), their per-token scale (N) (A(x) = q8 / scale) and
 * per-token sums qsum (N), as trit_act_quant gives them to the kernels. */
void tr_quantize_act(trit_pool *pool, float *xq, const float *x, int64_t N, int64_t C, trit_quant kind,
                     float lam, int8_t *q8, float *scale, int32_t *qsum);

/* A BitLinear on already quantized operands: out (N, OC) = xq @ wq^T,
 * wq (OC, IC). */
void tr_bitlinear_forward(const tr_exec *ex, float *out, const float *xq, const float *wq, int64_t N, int64_t IC,
                          int64_t OC);
/* A BitLinear at full quantization strength on integer operands:
 * out (N, OC) = (q8 . code) / (scale * wdiv) per token and output, with the
 * ternary inference kernel (kernels.h tmatmul: exact integer sums, the same
 * float expression as trit's inference); q8, scale, qsum from
 * tr_quantize_act, wpack (ceil(OC/4), IC) from tr_pack_codes, wdiv the
 * divisor of tr_quantize_weight. */
void tr_bitlinear_forward_codes(const tr_exec *ex, float *out, const int8_t *q8, const float *scale,
                                const int32_t *qsum, const uint8_t *wpack, float wdiv, int64_t N, int64_t IC,
                                int64_t OC);
/* Straight-through: the quantizers pass gradients unchanged, so
 * dx += dout @ wq and dw += dout^T @ xq (gradients w.r.t. the latent x, W). */
void tr_bitlinear_backward(const tr_exec *ex, float *dx, float *dw, const float *dout, const float *xq,
                           const float *wq, int64_t N, int64_t IC, int64_t OC);

/* ======================================================================== */
/* rope.c                                                                    */
/* ======================================================================== */

/* cos, sin (T, hd/2) of pos * inv_freq[i], inv_freq[i] = 1/theta^(2i/hd),
 * computed in float32 as PyTorch does. */
void tr_rope_tables(float *cos_t, float *sin_t, int64_t T, int64_t hd, double theta);
/* Rotate-half RoPE in place on x (B*T, nh*hd); token n is at position n % T. */
void tr_rope_forward(trit_pool *pool, float *x, const float *cos_t, const float *sin_t, int64_t B, int64_t T,
                     int64_t nh, int64_t hd);
/* In place: dx (B*T, nh*hd) = R(pos)^T dy (the inverse rotation). */
void tr_rope_backward(trit_pool *pool, float *dx, const float *cos_t, const float *sin_t, int64_t B, int64_t T,
                      int64_t nh, int64_t hd);

/* ======================================================================== */
/* attention.c: causal grouped-query softmax attention                       */
/* ======================================================================== */

/* Query rows per block of the attention passes (the T x T products are
 * computed one block of rows at a time). */
enum { TR_ATTN_RB = 64 };

/* Floats of per-thread scratch the attention passes need for sequences of
 * T tokens: one row block of probabilities and one of their gradients. */
#define TR_ATTN_SCRATCH(T) ((int64_t)2 * TR_ATTN_RB * (int64_t)(T))

/* q (N, H*hd), k, v (N, KV*hd), N = B*T; head h reads kv head h / (H/KV).
 * out (N, H*hd) = P @ v with P (B, H, T, T) = softmax(q k^T / sqrt(hd) +
 * causal mask), which is not stored: stat (B, H, T, 2) receives each row's
 * softmax statistics (max of the scaled scores, 1/sum of the exponentials),
 * all that tr_attention_backward needs besides q, k, v. scratch:
 * trit_pool_size(ex->pool) * TR_ATTN_SCRATCH(T) floats. Memory O(B*H*T). */
void tr_attention_forward(const tr_exec *ex, float *out, float *stat, float *scratch, const float *q,
                          const float *k, const float *v, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd);
/* dq (N, H*hd), dk, dv (N, KV*hd) += gradients of the attention given
 * dout (N, H*hd), the forward's inputs and its stat (B, H, T, 2); P is
 * recomputed block by block, bit-identical to the forward's. scratch as
 * for the forward pass. */
void tr_attention_backward(const tr_exec *ex, float *dq, float *dk, float *dv, float *scratch, const float *dout,
                           const float *q, const float *k, const float *v, const float *stat, int64_t B, int64_t T,
                           int64_t H, int64_t KV, int64_t hd);

/* ======================================================================== */
/* glu.c: relu^2 gated linear unit                                           */
/* ======================================================================== */

/* out (n) = relu(g)^2 * u. */
void tr_relu2_glu_forward(trit_pool *pool, float *out, const float *g, const float *u, int64_t n);
/* dg += dout * u * 2 relu(g);  du += dout * relu(g)^2. */
void tr_relu2_glu_backward(trit_pool *pool, float *dg, float *du, const float *dout, const float *g,
                           const float *u, int64_t n);

/* ======================================================================== */
/* residual.c                                                                */
/* ======================================================================== */

/* out (n) = a + b (out may equal a). */
void tr_residual_forward(trit_pool *pool, float *out, const float *a, const float *b, int64_t n);
/* da += dout; db += dout (either may be NULL; NULL skips it). */
void tr_residual_backward(trit_pool *pool, float *da, float *db, const float *dout, int64_t n);

/* ======================================================================== */
/* loss.c: softmax cross-entropy                                             */
/* ======================================================================== */

/* losses (N) = logsumexp(logits[n]) - logits[n][targets[n]]; probs (N, V) =
 * softmax(logits) (probs may equal logits). Returns the mean loss. */
double tr_crossentropy_forward(trit_pool *pool, float *losses, float *probs, const float *logits,
                               const int32_t *targets, int64_t N, int64_t V);
/* dlogits (N, V) += (probs - onehot(targets)) * dloss (dloss = 1/N for the
 * mean); dlogits may equal probs, then it is overwritten instead. */
void tr_crossentropy_backward(trit_pool *pool, float *dlogits, const float *probs, const int32_t *targets,
                              int64_t N, int64_t V, float dloss);

/* ======================================================================== */
/* optim.c: schedule, clipping, AdamW                                        */
/* ======================================================================== */

/* Learning rate and weight decay at 0-based step `step` under p's schedule. */
void tr_schedule(const trit_train_params *p, int64_t step, double *lr, double *weight_decay);

/* Quantization strength at 0-based step `step`: p->lambda, ramped linearly
 * from 0 over p->lambda_ramp_steps steps when that is positive. */
float tr_lambda(const trit_train_params *p, int64_t step);

/* Global L2 norm of g (n) as torch.nn.utils.clip_grad_norm_ computes it,
 * then g *= min(1, max_norm / (norm + 1e-6)) (skipped if max_norm <= 0).
 * Returns the norm before clipping. */
float tr_clip_grad_norm(trit_pool *pool, float *g, size_t n, double max_norm);

/* One AdamW step (torch.optim.AdamW, foreach=False, step t >= 1) on n
 * parameters: p *= 1 - lr*wd; m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2;
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
void tr_adamw_update(trit_pool *pool, float *p, const float *g, float *m, float *v, size_t n, double lr,
                     double wd, double beta1, double beta2, double eps, int64_t t);

#endif /* TRIT_TRAIN_OPS_H */
