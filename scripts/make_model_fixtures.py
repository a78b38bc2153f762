#!/usr/bin/env python3
"""Make the reference checkpoints and outputs that trit's parity tests use.

Run on a machine with torch + transformers (>= 5.x, BitNetForCausalLM):

    python3 scripts/make_model_fixtures.py --out tests/fixtures/models

For each checkpoint it
  1. builds a random-weight model with transformers itself (BitNetForCausalLM or
     LlamaForCausalLM), ternarizes its linear weights (absmean, round half to
     even) and writes a Hugging Face folder in one of the formats trit reads:
       bitnet_tied_gqa    packed uint8 + weight_scale, tied embeddings, GQA,
                          bf16 tensors, 2 shards + index, linear_class
                          autobitlinear (as the official 2B-4T config)
       bitnet_untied      packed, untied f16 lm_head, linear_class bitlinear,
                          rope_parameters, generation_config.json with 2 EOS ids
       bitnet_online_bf16 bf16 master weights, quantization_mode online
       llama_packed       LlamaForCausalLM + bitnet packed weights, f32 tensors,
                          explicit head_dim, llama3 rope scaling in the old
                          rope_theta/rope_scaling config style
  2. loads the folder back through transformers' own bitnet quantizer (float32,
     CPU, eager attention) and records logits for sequences of 1, 7 and 70
     tokens and a greedy continuation with the KV cache (model.generate).

For bitnet_tied_gqa the reference uses linear_class=bitlinear (the rule that
divides by weight_scale, which is how the official packed checkpoint's scale
must be read); the logits transformers' AutoBitLinear gives (multiplying) are
stored too, as "multiply_rule", so tests can show the two rules differ.
"""
import argparse
import json
import os
import shutil
import struct
import sys

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # no torch.compile on CPU

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, BitNetConfig, LlamaConfig  # noqa: E402
from transformers import BitNetForCausalLM, LlamaForCausalLM  # noqa: E402
from transformers.integrations.bitnet import pack_weights  # noqa: E402

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def ternarize(w):
    """absmean ternarization as transformers' WeightQuant: returns (codes, s) with
    w ~= codes / s, codes in {-1,0,1}, s = 1 / max(mean|w|, 1e-5)."""
    w = w.float()
    s = 1.0 / w.abs().mean().clamp(min=1e-5)
    q = (w * s).round().clamp(-1, 1)
    return q, s


def randomize_norms(sd, gen):
    for k in sd:
        if k.endswith("norm.weight") or k.endswith("layernorm.weight"):
            sd[k] = 0.5 + torch.rand(sd[k].shape, generator=gen)


def write_folder(path, config, tensors, dtype, shards=1, gen_config=None, config_edit=None, qc=None):
    os.makedirs(path, exist_ok=True)
    config.save_pretrained(path)
    cfg_path = os.path.join(path, "config.json")
    cfg = json.load(open(cfg_path))
    if qc is not None:
        cfg["quantization_config"] = qc
    if config_edit:
        config_edit(cfg)
    json.dump(cfg, open(cfg_path, "w"), indent=2)
    out = {}
    for k, v in tensors.items():
        out[k] = v if v.dtype == torch.uint8 else v.to(dtype)
        out[k] = out[k].contiguous()
    names = sorted(out)
    if shards == 1:
        save_file(out, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    else:
        per = (len(names) + shards - 1) // shards
        weight_map = {}
        total = 0
        for i in range(shards):
            part = {n: out[n] for n in names[i * per:(i + 1) * per]}
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
            save_file(part, os.path.join(path, fn), metadata={"format": "pt"})
            for n, t in part.items():
                weight_map[n] = fn
                total += t.numel() * t.element_size()
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
                  open(os.path.join(path, "model.safetensors.index.json"), "w"), indent=2)
    if gen_config is not None:
        json.dump(gen_config, open(os.path.join(path, "generation_config.json"), "w"), indent=2)


def quantized_tensors(model, n_layers, packed, gen, scale_jitter=True):
    """State dict of model with every decoder linear ternarized. packed=True:
    uint8 [out/4,in] + weight_scale (divide rule); False: master weights kept."""
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    randomize_norms(sd, gen)
    if not packed:
        return sd
    for i in range(n_layers):
        for lin in LINEARS:
            key = "model.layers.%d.%s.weight" % (i, lin)
            w = sd[key]
            if scale_jitter:  # spread the per-tensor scales so the rule matters
                w = w * (0.5 + 2.0 * torch.rand(1, generator=gen))
            q, s = ternarize(w)
            sd[key] = pack_weights(q.to(torch.int8).clone())
            sd[key.replace(".weight", ".weight_scale")] = s.reshape(1).float()
    return sd


# Inputs on which transformers' own int8 activation quantizer meets a value
# within a few float32 ulps of a rounding tie (x*scale = k + 0.5) are skipped:
# there the int8 code is decided by float summation order, so two correct
# implementations (torch on CPU vs GPU too) may round differently, and one
# flipped code moves a tiny model's logits by ~1%. Every other input is kept,
# so the 1e-3 parity bound still catches any error in the math.
TIE_ULPS = 16
TIES = {"near": 0}


def tie_hook(mod, args):
    x = args[0].float()
    scale = 127 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    t = x * scale
    dist = (t - t.floor() - 0.5).abs()
    tol = TIE_ULPS * 2.0 ** -24 * t.abs().clamp(min=1.0)
    if bool((dist <= tol).any()):
        TIES["near"] += 1


def load_hooked(path):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    for mod in model.modules():
        if type(mod).__name__ in ("BitLinear", "AutoBitLinear"):
            mod.register_forward_pre_hook(tie_hook)
    return model


def clean_logits(models, vocab, n, gen, tries=2000):
    """Random ids of length n on which no model meets a near-tie; returns
    (ids, [logits per model], redraws)."""
    for attempt in range(tries):
        ids = torch.randint(0, vocab, (n,), generator=gen).tolist()
        TIES["near"] = 0
        with torch.no_grad():
            rows = [m(torch.tensor([ids])).logits[0].float() for m in models]
        if TIES["near"] == 0:
            return ids, rows, attempt
    raise RuntimeError("no tie-free sequence of length %d found" % n)


def run_reference(path, vocab, lens, prompt_len, max_new, eos, gen):
    model = load_hooked(path)
    seqs, rows, redraws = [], [], []
    for n in lens:
        ids, r, k = clean_logits([model], vocab, n, gen)
        seqs.append(ids)
        rows.append(r[0])
        redraws.append(k)
    for attempt in range(2000):
        prompt = torch.randint(0, vocab, (prompt_len,), generator=gen).tolist()
        TIES["near"] = 0
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, prompt_len, dtype=torch.long),
                                 max_new_tokens=max_new, do_sample=False, eos_token_id=eos,
                                 pad_token_id=eos[0], use_cache=True)
        if TIES["near"] == 0:
            break
    gen_ids = out[0, prompt_len:].tolist()
    print("  %s: redraws per case %s" % (os.path.basename(path), redraws), flush=True)
    return seqs, rows, prompt, gen_ids


def save_reference(path, seqs, rows, prompt, gen, max_new, extra=None):
    ref_dir = os.path.join(path, "reference")
    os.makedirs(ref_dir, exist_ok=True)
    cases = []
    offset = 0
    with open(os.path.join(ref_dir, "logits.f32"), "wb") as f:
        for i, (ids, r) in enumerate(zip(seqs, rows)):
            buf = r.contiguous().numpy().astype("<f4").tobytes()
            f.write(buf)
            cases.append({"name": "seq%d_len%d" % (i, len(ids)), "ids": ids, "offset": offset,
                          "rows": r.shape[0], "vocab": r.shape[1],
                          "max_abs_logit": float(r.abs().max())})
            offset += r.numel()
        if extra:
            for name, ids, r in extra:
                f.write(r.contiguous().numpy().astype("<f4").tobytes())
                cases.append({"name": name, "ids": ids, "offset": offset, "rows": r.shape[0],
                              "vocab": r.shape[1], "max_abs_logit": float(r.abs().max()),
                              "alternative": True})
                offset += r.numel()
    meta = {"cases": cases,
            "greedy": [{"prompt": prompt, "max_new": max_new, "output": gen}],
            "transformers": transformers.__version__, "torch": torch.__version__}
    json.dump(meta, open(os.path.join(ref_dir, "reference.json"), "w"), indent=1)


LENS = [1, 7, 70]


def make_bitnet_tied_gqa(root, gen):
    name = "bitnet_tied_gqa"
    cfg = BitNetConfig(vocab_size=320, hidden_size=80, intermediate_size=212, num_hidden_layers=3,
                       num_attention_heads=5, num_key_value_heads=1, max_position_embeddings=256,
                       rms_norm_eps=1e-5, tie_word_embeddings=True, initializer_range=0.3,
                       bos_token_id=1, eos_token_id=2, pad_token_id=None,
                       rope_parameters={"rope_type": "default", "rope_theta": 500000.0})
    torch.manual_seed(1)
    model = BitNetForCausalLM(cfg)
    sd = quantized_tensors(model, cfg.num_hidden_layers, True, gen)
    sd.pop("lm_head.weight", None)
    path = os.path.join(root, name)
    qc = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "offline"}
    write_folder(path, cfg, sd, torch.bfloat16, shards=2, qc=qc)
    # reference with the dividing rule: same tensors, linear_class bitlinear
    tmp = path + "_bitlinear_tmp"
    shutil.copytree(path, tmp)
    c = json.load(open(os.path.join(tmp, "config.json")))
    c["quantization_config"]["linear_class"] = "bitlinear"
    json.dump(c, open(os.path.join(tmp, "config.json"), "w"), indent=2)
    seqs, rows, prompt, out = run_reference(tmp, cfg.vocab_size, LENS, 5, 24, [2], gen)
    shutil.rmtree(tmp)
    # what transformers' AutoBitLinear (multiplying) gives on the official-style config
    m2 = load_hooked(path)
    ids7, mult, _ = clean_logits([m2], cfg.vocab_size, 7, gen)
    save_reference(path, seqs, rows, prompt, out, 24, extra=[("multiply_rule", ids7, mult[0])])
    return name


def make_bitnet_untied(root, gen):
    name = "bitnet_untied"
    cfg = BitNetConfig(vocab_size=300, hidden_size=96, intermediate_size=260, num_hidden_layers=2,
                       num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=512,
                       rms_norm_eps=1e-5, tie_word_embeddings=False, initializer_range=0.3,
                       bos_token_id=1, eos_token_id=5,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    torch.manual_seed(2)
    model = BitNetForCausalLM(cfg)
    sd = quantized_tensors(model, cfg.num_hidden_layers, True, gen)
    path = os.path.join(root, name)
    qc = {"quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"}
    write_folder(path, cfg, sd, torch.float16, gen_config={"bos_token_id": 1, "eos_token_id": [5, 7]}, qc=qc)
    seqs, rows, prompt, out = run_reference(path, cfg.vocab_size, LENS, 5, 24, [5, 7], gen)
    save_reference(path, seqs, rows, prompt, out, 24)
    return name


def make_bitnet_online(root, gen):
    name = "bitnet_online_bf16"
    cfg = BitNetConfig(vocab_size=256, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                       rms_norm_eps=1e-5, tie_word_embeddings=True, initializer_range=0.3,
                       bos_token_id=1, eos_token_id=2,
                       rope_parameters={"rope_type": "default", "rope_theta": 500000.0})
    torch.manual_seed(3)
    model = BitNetForCausalLM(cfg)
    sd = quantized_tensors(model, cfg.num_hidden_layers, False, gen)
    sd.pop("lm_head.weight", None)
    path = os.path.join(root, name)
    qc = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"}
    write_folder(path, cfg, sd, torch.bfloat16, qc=qc)
    seqs, rows, prompt, out = run_reference(path, cfg.vocab_size, LENS, 5, 24, [2], gen)
    save_reference(path, seqs, rows, prompt, out, 24)
    return name


def make_llama_packed(root, gen):
    name = "llama_packed"
    rope = {"rope_type": "llama3", "rope_theta": 1000042.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    cfg = LlamaConfig(vocab_size=288, hidden_size=64, intermediate_size=200, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=48,
                      max_position_embeddings=512, rms_norm_eps=1e-6, tie_word_embeddings=False,
                      initializer_range=0.3, bos_token_id=1, eos_token_id=2, hidden_act="silu",
                      rope_parameters=rope)
    torch.manual_seed(4)
    model = LlamaForCausalLM(cfg)
    sd = quantized_tensors(model, cfg.num_hidden_layers, True, gen)
    path = os.path.join(root, name)
    qc = {"quant_method": "bitnet"}

    def old_style(c):  # rope_theta + rope_scaling, as the Llama3-8B-1.58 / Falcon3 configs
        c.pop("rope_parameters", None)
        c["rope_theta"] = rope["rope_theta"]
        c["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
    write_folder(path, cfg, sd, torch.float32, config_edit=old_style, qc=qc)
    seqs, rows, prompt, out = run_reference(path, cfg.vocab_size, LENS, 5, 24, [2], gen)
    save_reference(path, seqs, rows, prompt, out, 24)
    return name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/models")
    args = ap.parse_args()
    torch.set_num_threads(4)
    gen = torch.Generator().manual_seed(1234)
    os.makedirs(args.out, exist_ok=True)
    made = []
    failed = 0
    for fn in (make_bitnet_tied_gqa, make_bitnet_untied, make_bitnet_online, make_llama_packed):
        try:
            made.append(fn(args.out, gen))
            print("made", made[-1], flush=True)
        except Exception:
            import traceback
            traceback.print_exc()
            failed += 1
    print("transformers", transformers.__version__, "torch", torch.__version__)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
