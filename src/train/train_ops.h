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
 *   - Sums are accumulated in double and rounded once, except where a
 *     comment says the float operation order of PyTorch is reproduced.
 */
#ifndef TRIT_TRAIN_OPS_H
#define TRIT_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "core/core.h"
#include "trit_train.h"

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

/* Columns [j0, j1) of C (M, *) (+)= A (M, K) @ B (K, *): element (m, k) of A
 * is A[m*sam + k*sak]; B and C are row-major with row strides ldb, ldc.
 * Each C element is summed over k = 0..K-1 in order in double and rounded
 * once (together with its old value when accumulate is 1). Bit-identical
 * for every isa. */
void tr_gemm(trit_isa isa, float *C, int64_t ldc, const float *A, int64_t sam, int64_t sak, const float *B,
             int64_t ldb, int64_t M, int64_t K, int64_t j0, int64_t j1, int accumulate);

/* ======================================================================== */
/* linear.c: plain fp32 linear (lm_head, and the core of BitLinear)          */
/* ======================================================================== */

/* out (N, OC) = inp (N, IC) @ W^T, given wt (IC, OC) = W transposed. */
void tr_matmul_forward(trit_pool *pool, trit_isa isa, float *out, const float *inp, const float *wt, int64_t N,
                       int64_t IC, int64_t OC);
/* dinp (N, IC) += dout (N, OC) @ w (OC, IC);  dw (OC, IC) += dout^T @ inp.
 * dinp may be NULL (not needed). */
void tr_matmul_backward(trit_pool *pool, trit_isa isa, float *dinp, float *dw, const float *dout, const float *inp,
                        const float *w, int64_t N, int64_t IC, int64_t OC);
/* dst (C, R) = src (R, C) transposed. */
void tr_transpose(trit_pool *pool, float *dst, const float *src, int64_t R, int64_t C);

/* ======================================================================== */
/* bitlinear.c: quantizers with straight-through estimators                  */
/* ======================================================================== */

/* wq (n) = w + lam * (Q(w) - w) with the weight quantizer `kind` over the
 * whole tensor (one scale per matrix). TRIT_QUANT_NONE copies w. scratch
 * holds n floats (used by absmedian). */
void tr_quantize_weight(float *wq, const float *w, int64_t n, trit_quant kind, float lam, float *scratch);

/* xq (N, C) = x + lam * (A(x) - x) per token, A = int8 absmax quantization
 * (127/max|x|, round half to even, clamp [-128, 127], dequantized).
 * TRIT_QUANT_NONE copies x. xq may equal x. */
void tr_quantize_act(trit_pool *pool, float *xq, const float *x, int64_t N, int64_t C, trit_quant kind,
                     float lam);

/* A BitLinear on already quantized operands: out = xq @ wq^T, given
 * wqt (IC, OC) = wq transposed. */
void tr_bitlinear_forward(trit_pool *pool, trit_isa isa, float *out, const float *xq, const float *wqt, int64_t N,
                          int64_t IC, int64_t OC);
/* Straight-through: the quantizers pass gradients unchanged, so
 * dx += dout @ wq and dw += dout^T @ xq (gradients w.r.t. the latent x, W). */
void tr_bitlinear_backward(trit_pool *pool, trit_isa isa, float *dx, float *dw, const float *dout, const float *xq,
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

/* q (N, H*hd), k, v (N, KV*hd); head h reads kv head h / (H/KV).
 * att (B, H, T, T) = softmax(q k^T / sqrt(hd) + causal mask) (zeros above
 * the diagonal); out (N, H*hd) = att @ v. scratch: n_threads * hd * T floats. */
void tr_attention_forward(trit_pool *pool, trit_isa isa, float *out, float *att, float *scratch, const float *q,
                          const float *k, const float *v, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd);
/* dq, dk, dv += gradients; datt (B, H, T, T) receives the gradient of the
 * pre-softmax scores; scratch as for the forward. */
void tr_attention_backward(trit_pool *pool, trit_isa isa, float *dq, float *dk, float *dv, float *datt,
                           float *scratch, const float *dout, const float *q, const float *k, const float *v,
                           const float *att, int64_t B, int64_t T, int64_t H, int64_t KV, int64_t hd);

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
