#!/usr/bin/env python3
"""Reference for trit's trainer: a tiny BitNet b1.58 model written in plain
PyTorch (float32, CPU), the exact math `trit train` implements.

    python3 scripts/make_train_fixtures.py --out tests/fixtures/train

Writes, per quantizer (absmean, absmedian, binary, none), and for two variants
(absmean_tied: tied embeddings; absmean_lam05: continual-QAT strength
lambda = 0.5, i.e. half-way through a --lambda-ramp):
  <q>/init.safetensors     initial fp32 parameters (HF BitNet tensor names)
  <q>/grads.safetensors    gradients of the loss on batch 0 (same names)
  <q>/reference.json       config, batch token ids, loss of batch 0, and the
                           losses of 20 AdamW steps (plus grad norms)

Model (= transformers' BitNetForCausalLM with latent weights):
  x = embed[ids]
  per layer: h = x + o(attn_sub_norm(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))))
             x = h + down(ffn_sub_norm(relu(gate(n2(h)))^2 * up(n2(h))))
  logits = lm_head(norm(x)) (lm_head = embed when tied); loss = mean CE.
Every linear except lm_head is a BitLinear with straight-through estimators:
  x_q = x + lam * (actq(x) - x).detach(),  actq: per token 127/max|x| int8, round half even
  W_q = W + lam * (wq(W) - W).detach()
  absmean:   s = 1/max(mean|W|,1e-5);   wq = clamp(round(W*s),-1,1)/s
  absmedian: s = 1/max(median|W|,1e-5); wq = clamp(round(W*s),-1,1)/s   (torch.median: lower median)
  binary:    a = mean(W); b = mean|W|;  wq = sign(W - a) * b   (sign(0) = +1)
  none:      no weight or activation quantization
AdamW: betas (0.9, 0.95), eps 1e-8, decoupled weight decay 0.1 on 2-D tensors
(embed, lm_head, linears) only; global grad-norm clip 1.0; LR linear warmup
over 5 steps to 3e-3, then constant.
Batch k of the 20 steps is batches[k % n_batches]."""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
try:
    from safetensors.torch import save_file
except ImportError:  # a minimal writer (F32 tensors only) where the package is missing
    def save_file(tensors, path):
        hdr, off, blobs = {}, 0, []
        for k in sorted(tensors):
            b = tensors[k].detach().to(torch.float32).contiguous().numpy().tobytes()
            hdr[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
            off += len(b)
            blobs.append(b)
        h = json.dumps(hdr, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(path, "wb") as f:
            f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))

CFG = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
           max_position_embeddings=64)
B, T, N_BATCHES, STEPS = 2, 8, 3, 20
LR, WARMUP, WD, CLIP, BETAS, EPS = 3e-3, 5, 0.1, 1.0, (0.9, 0.95), 1e-8
TIE_ULPS = 16
TIES = {"n": 0}


def near_tie(t):
    d = (t - t.floor() - 0.5).abs()
    return int((d <= TIE_ULPS * 2.0 ** -24 * t.abs().clamp(min=1.0)).sum())


def actq(x, lam):
    s = 127 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    t = x.detach() * s
    TIES["n"] += near_tie(t)
    q = t.round().clamp(-128, 127) / s
    return x + lam * (q - x).detach()


def wquant(w, kind, lam):
    if kind == "none":
        return w
    wd = w.detach()
    if kind in ("absmean", "absmedian"):
        m = wd.abs().mean() if kind == "absmean" else wd.abs().flatten().median()
        s = 1.0 / m.clamp(min=1e-5)
        t = wd * s
        TIES["n"] += near_tie(t)
        q = t.round().clamp(-1, 1) / s
    elif kind == "binary":
        a, b = wd.mean(), wd.abs().mean()
        q = torch.where(wd - a >= 0, torch.ones_like(wd), -torch.ones_like(wd)) * b
    else:
        raise ValueError(kind)
    return w + lam * (q - w).detach()


def bitlinear(x, w, kind, lam):
    if kind == "none":
        return F.linear(x, w)
    return F.linear(actq(x, lam), wquant(w, kind, lam))


def rmsnorm(x, w, eps):
    v = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(v + eps))


def rope(x, pos, theta):  # x [B, H, T, hd], rotate-half
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64, device=x.device).float() / hd))
    f = pos[:, None].float() * inv[None, :]
    emb = torch.cat([f, f], dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def forward(p, ids, kind, lam, cfg=CFG):
    D, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps = D // H, cfg["rms_norm_eps"]
    Bb, Tt = ids.shape
    x = p["model.embed_tokens.weight"][ids]
    pos = torch.arange(Tt, device=ids.device)
    mask = torch.full((Tt, Tt), float("-inf"), device=ids.device).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % i
        n = rmsnorm(x, p[pre + "input_layernorm.weight"], eps)
        q = bitlinear(n, p[pre + "self_attn.q_proj.weight"], kind, lam).view(Bb, Tt, H, hd).transpose(1, 2)
        k = bitlinear(n, p[pre + "self_attn.k_proj.weight"], kind, lam).view(Bb, Tt, KV, hd).transpose(1, 2)
        v = bitlinear(n, p[pre + "self_attn.v_proj.weight"], kind, lam).view(Bb, Tt, KV, hd).transpose(1, 2)
        q, k = rope(q, pos, cfg["rope_theta"]), rope(k, pos, cfg["rope_theta"])
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = (q @ k.transpose(-1, -2)) * hd ** -0.5 + mask
        a = (att.softmax(-1) @ v).transpose(1, 2).reshape(Bb, Tt, D)
        a = rmsnorm(a, p[pre + "self_attn.attn_sub_norm.weight"], eps)
        x = x + bitlinear(a, p[pre + "self_attn.o_proj.weight"], kind, lam)
        n = rmsnorm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = bitlinear(n, p[pre + "mlp.gate_proj.weight"], kind, lam)
        u = bitlinear(n, p[pre + "mlp.up_proj.weight"], kind, lam)
        h = rmsnorm(F.relu(g).pow(2) * u, p[pre + "mlp.ffn_sub_norm.weight"], eps)
        x = x + bitlinear(h, p[pre + "mlp.down_proj.weight"], kind, lam)
    x = rmsnorm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else p["lm_head.weight"]
    return F.linear(x, head)


def init_params(cfg, gen):
    D, F_, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // H
    p = {"model.embed_tokens.weight": torch.randn(V, D, generator=gen) * 0.5}
    for i in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % i
        for name, shape in [("self_attn.q_proj", (H * hd, D)), ("self_attn.k_proj", (KV * hd, D)),
                            ("self_attn.v_proj", (KV * hd, D)), ("self_attn.o_proj", (D, H * hd)),
                            ("mlp.gate_proj", (F_, D)), ("mlp.up_proj", (F_, D)), ("mlp.down_proj", (D, F_))]:
            p[pre + name + ".weight"] = torch.randn(*shape, generator=gen) * 0.1
        for name, n in [("input_layernorm", D), ("post_attention_layernorm", D),
                        ("self_attn.attn_sub_norm", D), ("mlp.ffn_sub_norm", F_)]:
            p[pre + name + ".weight"] = 0.8 + 0.4 * torch.rand(n, generator=gen)
    p["model.norm.weight"] = 0.8 + 0.4 * torch.rand(D, generator=gen)
    if not cfg["tie_word_embeddings"]:
        p["lm_head.weight"] = torch.randn(V, D, generator=gen) * 0.5
    return p


def loss_fn(p, batch, kind, lam, cfg=CFG):
    logits = forward(p, batch[:, :-1], kind, lam, cfg)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def train(p0, batches, kind, lam, cfg=CFG):
    p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    decay = [v for k, v in p.items() if v.dim() == 2]
    nodecay = [v for k, v in p.items() if v.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS, foreach=False)
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        lr = LR * min(1.0, (step + 1) / WARMUP)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = loss_fn(p, batches[step % len(batches)], kind, lam, cfg)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(p.values()), CLIP)
        opt.step()
        losses.append(float(loss))
        norms.append(float(norm))
        lrs.append(lr)
    return losses, norms, lrs, {k: v.detach().clone() for k, v in p.items()}


def make(out, kind, seed, name=None, tie=False, lam=1.0):
    cfg = dict(CFG, tie_word_embeddings=tie)
    best = None
    for attempt in range(400):
        gen = torch.Generator().manual_seed(seed * 1000 + attempt)
        p0 = init_params(cfg, gen)
        batches = [torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=gen) for _ in range(N_BATCHES)]
        TIES["n"] = 0
        p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
        loss = loss_fn(p, batches[0], kind, lam, cfg)
        loss.backward()
        ties0 = TIES["n"]
        TIES["n"] = 0
        losses, norms, lrs, final = train(p0, batches, kind, lam, cfg)
        ties = TIES["n"]
        if best is None or (ties0, ties) < best[0]:
            best = ((ties0, ties), attempt, p0, batches, loss, p, losses, norms, lrs, final)
        if ties0 == 0 and ties == 0:
            break
    (ties0, ties), attempt, p0, batches, loss, p, losses, norms, lrs, final = best
    d = os.path.join(out, name or kind)
    os.makedirs(d, exist_ok=True)
    save_file({k: v.contiguous() for k, v in p0.items()}, os.path.join(d, "init.safetensors"))
    save_file({k: v.grad.contiguous() for k, v in p.items()}, os.path.join(d, "grads.safetensors"))
    save_file({k: v.contiguous() for k, v in final.items()}, os.path.join(d, "final.safetensors"))
    ref = {"config": cfg, "quant": kind, "lambda": lam, "batch": B, "seq": T,
           "batches": [b.tolist() for b in batches], "loss0": float(loss),
           "steps": STEPS, "lr": LR, "warmup": WARMUP, "weight_decay": WD, "clip": CLIP,
           "betas": list(BETAS), "eps": EPS, "losses": losses, "grad_norms": norms, "lrs": lrs,
           "near_ties_step0": ties0, "near_ties_20_steps": ties, "draw": attempt,
           "torch": torch.__version__}
    json.dump(ref, open(os.path.join(d, "reference.json"), "w"), indent=1)
    print("%-13s draw %3d near-ties step0 %d, 20 steps %d, loss0 %.6f -> %.6f" %
          (name or kind, attempt, ties0, ties, float(loss), losses[-1]), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/train")
    ap.add_argument("--only", default="absmean,absmedian,binary,none,absmean_tied,absmean_lam05",
                    help="fixtures to write (comma-separated)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # name: (quantizer, seed, tied embeddings, lambda)
    all_fx = {"absmean": ("absmean", 1, False, 1.0), "absmedian": ("absmedian", 2, False, 1.0),
              "binary": ("binary", 3, False, 1.0), "none": ("none", 4, False, 1.0),
              "absmean_tied": ("absmean", 5, True, 1.0), "absmean_lam05": ("absmean", 6, False, 0.5)}
    for name in args.only.split(","):
        kind, seed, tie, lam = all_fx[name]
        make(args.out, kind, seed, name, tie, lam)
    return 0


if __name__ == "__main__":
    sys.exit(main())
