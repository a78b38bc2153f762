#!/usr/bin/env python3
"""Training speed of the same BitNet b1.58 model in PyTorch on the CPU, for
comparison with trit (build/bench_train, bench/bench_train.c).

The model is scripts/make_train_fixtures.py's forward (the reference trit's
trainer matches in tests/test_train.c), restated here so that this script
needs nothing but torch: latent fp32 weights, BitLinear with straight-through
int8 per-token activation and absmean ternary weight quantizers, RMSNorm
pre-norms and sub-norms, GQA attention with RoPE, relu^2 GLU, tied
embeddings. One step = forward + cross-entropy + backward + gradient-norm
clipping + AdamW (decay on 2-D tensors), exactly what trit_trainer_step does.

    python3 bench/train_pytorch.py [--threads 2] [--steps 5] [--warmup 2]

Defaults as bench_train: D 512, F 1536, 4 layers, 8 heads / 4 kv heads,
vocab 4096, batch 4 x 256. Prints median / best step time, tokens/s and
the CPU seconds per step (all threads).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def actq(x, lam):
    s = 127 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    q = (x.detach() * s).round().clamp(-128, 127) / s
    return x + lam * (q - x).detach()


def wquant(w, lam):  # absmean ternary
    wd = w.detach()
    s = 1.0 / wd.abs().mean().clamp(min=1e-5)
    q = (wd * s).round().clamp(-1, 1) / s
    return w + lam * (q - w).detach()


def bitlinear(x, w, lam):
    return F.linear(actq(x, lam), wquant(w, lam))


def rmsnorm(x, w, eps):
    v = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(v + eps))


def rope(x, cos, sin):
    hd = x.shape[-1]
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def forward(p, ids, cfg, lam=1.0):
    D, H, KV, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    hd, eps = D // H, cfg["rms_norm_eps"]
    Bb, Tt = ids.shape
    x = p["model.embed_tokens.weight"][ids]
    pos = torch.arange(Tt)
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    f = pos[:, None].float() * inv[None, :]
    emb = torch.cat([f, f], dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((Tt, Tt), float("-inf")).triu(1)
    for i in range(L):
        pre = "model.layers.%d." % i
        n = rmsnorm(x, p[pre + "input_layernorm.weight"], eps)
        q = bitlinear(n, p[pre + "self_attn.q_proj.weight"], lam).view(Bb, Tt, H, hd).transpose(1, 2)
        k = bitlinear(n, p[pre + "self_attn.k_proj.weight"], lam).view(Bb, Tt, KV, hd).transpose(1, 2)
        v = bitlinear(n, p[pre + "self_attn.v_proj.weight"], lam).view(Bb, Tt, KV, hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = (q @ k.transpose(-1, -2)) * hd ** -0.5 + mask
        a = (att.softmax(-1) @ v).transpose(1, 2).reshape(Bb, Tt, D)
        a = rmsnorm(a, p[pre + "self_attn.attn_sub_norm.weight"], eps)
        x = x + bitlinear(a, p[pre + "self_attn.o_proj.weight"], lam)
        n = rmsnorm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = bitlinear(n, p[pre + "mlp.gate_proj.weight"], lam)
        u = bitlinear(n, p[pre + "mlp.up_proj.weight"], lam)
        h = rmsnorm(F.relu(g).pow(2) * u, p[pre + "mlp.ffn_sub_norm.weight"], eps)
        x = x + bitlinear(h, p[pre + "mlp.down_proj.weight"], lam)
    x = rmsnorm(x, p["model.norm.weight"], eps)
    return F.linear(x, p["model.embed_tokens.weight"])  # tied lm_head


def init_params(cfg, gen, std=0.02):
    D, F_, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // H
    p = {"model.embed_tokens.weight": torch.randn(V, D, generator=gen) * std}
    for i in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % i
        for name, shape in [("self_attn.q_proj", (H * hd, D)), ("self_attn.k_proj", (KV * hd, D)),
                            ("self_attn.v_proj", (KV * hd, D)), ("self_attn.o_proj", (D, H * hd)),
                            ("mlp.gate_proj", (F_, D)), ("mlp.up_proj", (F_, D)), ("mlp.down_proj", (D, F_))]:
            p[pre + name + ".weight"] = torch.randn(*shape, generator=gen) * std
        for name, n in [("input_layernorm", D), ("post_attention_layernorm", D),
                        ("self_attn.attn_sub_norm", D), ("mlp.ffn_sub_norm", F_)]:
            p[pre + name + ".weight"] = torch.ones(n)
    p["model.norm.weight"] = torch.ones(D)
    return {k: v.requires_grad_(True) for k, v in p.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--ffn", type=int, default=1536)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--foreach", action="store_true", help="AdamW(foreach=True) instead of the default loop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = dict(vocab_size=args.vocab, hidden_size=args.dim, intermediate_size=args.ffn,
               num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
               rms_norm_eps=1e-5, rope_theta=10000.0)
    gen = torch.Generator().manual_seed(1)
    p = init_params(cfg, gen)
    decay = [v for v in p.values() if v.dim() == 2]
    nodecay = [v for v in p.values() if v.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95), eps=1e-8, foreach=args.foreach)
    batch = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=gen)
    times, cpus = [], []
    loss = None
    for step in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = forward(p, batch[:, :-1], cfg)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        opt.step()
        el, cel = time.perf_counter() - t0, time.process_time() - c0
        if step >= args.warmup:
            times.append(el)
            cpus.append(cel)
    n_params = sum(v.numel() for v in p.values())
    tok = args.batch * args.seq
    med = sorted(times)[len(times) // 2]
    cpu = sum(cpus) / len(cpus)
    print("pytorch %s train: %.2fM params, batch %d x %d, %d threads: step %.1f ms median (best %.1f) = "
          "%.0f tokens/s median (best %.0f); CPU %.2f s/step = %.0f tokens per CPU second; last loss %.4f"
          % (torch.__version__, n_params / 1e6, args.batch, args.seq, args.threads, med * 1e3, min(times) * 1e3,
             tok / med, tok / min(times), cpu, tok / cpu, float(loss)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
