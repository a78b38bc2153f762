#!/usr/bin/env python3
"""A PyTorch replica of one `trit train` run, for the GPU machine.

    python3 scripts/train_replica.py --tokens RUN/tokens.bin --dim 768 --heads 12 --ffn 2048 \
        --steps 1600 --out t768.csv

It repeats what `trit train` does with the same options, step by step, in float32 (TF32 off):
  - the data: RUN/tokens.bin is trit's token cache (src/train/data.h); the same split (the last
    val_frac of each file's tokens, rounded down, is validation), the same training windows
    (splitmix64 seeded with seed ^ 0xD1B54A32D192ED03, rejection sampling, B draws per step) and
    the same fixed validation windows;
  - the initialization of trit_trainer_init_random (splitmix64 from the seed, Box-Muller in
    double, tensors in trit's order, layer after layer; norms 1);
  - the model: the forward of scripts/make_train_fixtures.py (the reference the trainer matches
    in tests/test_train.c), tied embeddings;
  - the optimizer: AdamW (foreach=False) with decay on 2-D tensors, global gradient-norm clip,
    linear warmup and the two-stage schedule of src/train/optim.c (tr_schedule).
The validation loss is the mean over the eval batches, every eval_every steps, as cmd_train.c.

It exists to run comparisons that take hours on the project's 2-core machine (the 2x-wide model
of models/default/README.md) in minutes on a GPU. Float rounding differs from trit's (another
summation order), so the curves agree closely but not bit for bit; runs that trit also made
show by how much. Writes a CSV like trit's log (step,loss,lr,grad_norm,val_loss,val_ppl).
"""
import argparse
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_train_fixtures as ref  # noqa: E402

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z):
    """splitmix64's output function on numpy uint64 values (wrapping)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class SplitMix:
    """splitmix64 as td_rng_next / rng_next in trit."""

    def __init__(self, state):
        self.s = state & M64

    def next(self):
        self.s = (self.s + GOLDEN) & M64
        return int(mix(np.uint64(self.s)))

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            r = self.next()
            if r < limit:
                return r % n


def splitmix_block(state, count):
    """The next `count` outputs of a splitmix64 whose state is `state`
    (vectorized; the state after them is state + count * GOLDEN)."""
    k = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(state) + k * np.uint64(GOLDEN)
    return mix(z), (state + count * GOLDEN) & M64


def normals(state, n):
    """n draws of rng_normal (trainer.c): two outputs per sample."""
    z, state = splitmix_block(state, 2 * n)
    u1 = ((z[0::2] >> np.uint64(11)).astype(np.float64) + 1.0) / 9007199254740993.0
    u2 = (z[1::2] >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2), state


def init_params(cfg, seed, std):
    """trit_trainer_init_random: tensors in trit's order, each [L][R][C]."""
    D, Fh, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    HD, KVD = D, D // H * KV
    order = [("model.embed_tokens.weight", None, (V, D)), ("input_layernorm", 1, (D,)),
             ("self_attn.q_proj", 1, (HD, D)), ("self_attn.k_proj", 1, (KVD, D)),
             ("self_attn.v_proj", 1, (KVD, D)), ("self_attn.attn_sub_norm", 1, (HD,)),
             ("self_attn.o_proj", 1, (D, HD)), ("post_attention_layernorm", 1, (D,)),
             ("mlp.gate_proj", 1, (Fh, D)), ("mlp.up_proj", 1, (Fh, D)), ("mlp.ffn_sub_norm", 1, (Fh,)),
             ("mlp.down_proj", 1, (D, Fh)), ("model.norm.weight", None, (D,))]
    p, state = {}, seed
    for name, per_layer, shape in order:
        for layer in range(L if per_layer else 1):
            full = "model.layers.%d.%s.weight" % (layer, name) if per_layer else name
            n = int(np.prod(shape))
            if len(shape) == 2:
                x, state = normals(state, n)
                p[full] = torch.from_numpy((x * std).astype(np.float32).reshape(shape))
            else:
                p[full] = torch.ones(shape, dtype=torch.float32)
    return p


def wquant(w, kind, lam):
    """The weight quantizer of make_train_fixtures.py with trit's float mean
    (bitlinear.c mean_f32: the sum in double, rounded to float, then divided
    by n in float), so that the scale, and the codes, agree with trit's."""
    if kind not in ("absmean", "binary"):
        return ref.wquant(w, kind, lam)
    wd = w.detach()
    n = torch.tensor(float(wd.numel()), dtype=torch.float32, device=wd.device)
    b = wd.double().abs().sum().float() / n
    if kind == "binary":
        a = wd.double().sum().float() / n
        q = torch.where(wd - a >= 0, torch.ones_like(wd), -torch.ones_like(wd)) * b
    else:
        s = 1.0 / b.clamp(min=1e-5)
        q = (wd * s).round().clamp(-1, 1) / s
    return w + lam * (q - w).detach()


def clip_grad_norm(params, max_norm):
    """tr_clip_grad_norm: the norm from squares summed in double; the
    coefficient min(1, max_norm / (norm + 1e-6)) in float, always applied."""
    ss = sum(p.grad.detach().double().pow(2).sum() for p in params)
    norm = ss.sqrt().float()
    if max_norm > 0:
        coef = ((1.0 / (norm + 1e-6)) * max_norm).clamp(max=1.0)
        for p in params:
            p.grad.detach().mul_(coef)
    return norm


def read_tokens(path, val_frac):
    """The token cache: returns (train, val) int64 arrays as td_split_make."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"TRITTOKS":
        raise SystemExit("%s: not a trit token cache" % path)
    n_tokens, = struct.unpack_from("<Q", blob, 16)
    n_files, = struct.unpack_from("<I", blob, 40)
    per_file = struct.unpack_from("<%dQ" % n_files, blob, 48)
    toks = np.frombuffer(blob, dtype="<u4", count=n_tokens, offset=48 + 8 * n_files).astype(np.int64)
    train, val, at = [], [], 0
    for n in per_file:
        v = int(float(n) * val_frac)
        train.append(toks[at:at + n - v])
        val.append(toks[at + n - v:at + n])
        at += n
    return np.concatenate(train), np.concatenate(val)


def schedule(a, step):
    """tr_schedule (two-stage or constant), returns (lr, weight_decay)."""
    if a.warmup > 0 and step < a.warmup:
        return a.lr * ((step + 1) / a.warmup), a.wd
    if a.schedule == "two-stage":
        half = a.steps // 2
        if step < half:
            return a.lr, a.wd
        start, ln = a.lr * 0.5, max(a.steps - half, 1)
        f = min((step - half) / ln, 1.0)
        return start + (a.min_lr - start) * f, 0.0
    return a.lr, a.wd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--quant", default="absmean")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=-1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--schedule", default="two-stage", choices=["two-stage", "constant"])
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-batches", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init-std", type=float, default=0.02)
    ap.add_argument("--val-frac", type=float, default=0.05)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--stop-after", type=int, default=0, help="stop after N steps (0: all)")
    a = ap.parse_args()
    if a.min_lr < 0:
        a.min_lr = a.lr / 10
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device(a.device)
    ref.wquant = wquant

    cfg = dict(ref.CFG, vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=a.ffn, num_hidden_layers=a.layers,
               num_attention_heads=a.heads, num_key_value_heads=a.heads, tie_word_embeddings=True,
               max_position_embeddings=a.ctx)
    train, val = read_tokens(a.tokens, a.val_frac)
    B, T, E = a.batch, a.ctx, a.eval_batches
    p = {k: v.to(dev).requires_grad_(True) for k, v in init_params(cfg, a.seed, a.init_std).items()}
    n_params = sum(v.numel() for v in p.values())
    decay = [v for v in p.values() if v.dim() == 2]
    nodecay = [v for v in p.values() if v.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    rng = SplitMix(a.seed ^ 0xD1B54A32D192ED03)
    K, span = E * B, len(val) - T - 1
    val_batches = []
    for i in range(E):
        starts = [min(int(float(i * B + b) * float(span) / float(K - 1)), span) for b in range(B)]
        val_batches.append(torch.from_numpy(np.stack([val[s:s + T + 1] for s in starts])).to(dev))
    print("params %d, train %d tokens, val %d tokens, device %s" % (n_params, len(train), len(val), dev), flush=True)

    def evaluate():
        with torch.no_grad():
            return sum(float(ref.loss_fn(p, vb, a.quant, 1.0, cfg)) for vb in val_batches) / E

    out = open(a.out, "w")
    out.write("step,loss,lr,grad_norm,val_loss,val_ppl\n")
    t0 = time.time()
    last = a.steps if a.stop_after <= 0 else min(a.steps, a.stop_after)
    for step in range(last):
        starts = [rng.below(len(train) - T) for _ in range(B)]
        batch = torch.from_numpy(np.stack([train[s:s + T + 1] for s in starts])).to(dev)
        lr, wd = schedule(a, step)
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = lr
        opt.param_groups[0]["weight_decay"] = wd
        opt.zero_grad()
        loss = ref.loss_fn(p, batch, a.quant, 1.0, cfg)
        loss.backward()
        norm = clip_grad_norm(list(p.values()), a.clip)
        opt.step()
        s = step + 1
        vl = evaluate() if a.eval_every > 0 and s % a.eval_every == 0 else None
        out.write("%d,%.8f,%.6g,%.8g,%s,%s\n" % (s, float(loss), lr, float(norm), "" if vl is None else "%.8f" % vl,
                                                 "" if vl is None else "%.4f" % math.exp(vl)))
        out.flush()
        if vl is not None or s == 1:
            print("step %d loss %.6f%s  %.1f s" % (s, float(loss), "" if vl is None else " val %.4f ppl %.2f" %
                                                 (vl, math.exp(vl)), time.time() - t0), flush=True)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
