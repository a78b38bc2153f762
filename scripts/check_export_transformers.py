#!/usr/bin/env python3
"""Load folders written by `trit export` with Hugging Face transformers and
write their logits, to compare with `trit logits` (run on the GPU machine;
CPU is fine, nothing is downloaded).

    python3 scripts/check_export_transformers.py --ids "1 2 3 4" --out-dir /tmp/hf \\
        EXPORT_DIR [EXPORT_DIR/bf16 ...] [--trit build/trit]

For each folder: AutoModelForCausalLM.from_pretrained(folder, float32, eager
attention), logits of the ids as one sequence, written to
OUT_DIR/<folder path with / -> _>.f32: float32 little-endian, row-major
[n_ids x vocab], the format of `trit logits -o`. With --trit, also runs
`trit logits` on the folder and prints max |hf - trit| / max |hf|; exits 1
if any folder fails to load or exceeds --tol (default 1e-3, the engine's
parity bound with transformers).
"""
import argparse
import os
import subprocess
import sys

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def f32_bytes(t):
    """float32 little-endian bytes of tensor t, row-major (numpy not needed)."""
    t = t.detach().float().cpu().contiguous()
    try:
        return t.numpy().astype("<f4").tobytes()
    except Exception:  # torch built without numpy
        import struct
        return struct.pack("<%df" % t.numel(), *t.flatten().tolist())


def load(folder):
    kw = dict(attn_implementation="eager", local_files_only=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw)
    except TypeError:  # transformers 4.x names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, **kw)
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--ids", required=True, help='token ids, e.g. "1 2 3"')
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--trit", help="path of the trit binary: compare with `trit logits`")
    ap.add_argument("--tol", type=float, default=1e-3)
    args = ap.parse_args()
    ids = [int(x) for x in args.ids.replace(",", " ").split()]
    os.makedirs(args.out_dir, exist_ok=True)
    failed = 0
    for folder in args.folders:
        name = folder.strip("/").replace("/", "_") or "model"
        out = os.path.join(args.out_dir, name + ".f32")
        try:
            model = load(folder)
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float().contiguous()
        except Exception as e:  # report and go on with the other folders
            print("%s: transformers could not run it: %s: %s" % (folder, type(e).__name__, e), flush=True)
            failed += 1
            continue
        with open(out, "wb") as f:
            f.write(f32_bytes(logits))
        line = "%s: %s %d x %d logits -> %s" % (folder, type(model).__name__, logits.shape[0], logits.shape[1], out)
        if args.trit:
            tout = out[:-4] + ".trit.f32"
            r = subprocess.run([args.trit, "logits", "-m", folder, "--ids", " ".join(map(str, ids)), "-o", tout],
                               capture_output=True, text=True)
            if r.returncode != 0:
                line += "; trit logits failed: " + r.stderr.strip()
                failed += 1
            else:
                with open(tout, "rb") as f:
                    t = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(logits.shape)
                err = float((t - logits).abs().max() / logits.abs().max().clamp(min=1e-30))
                ok = err <= args.tol
                failed += 0 if ok else 1
                line += "; trit vs transformers: max rel err %.3g (%s)" % (err, "ok" if ok else "FAIL")
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
