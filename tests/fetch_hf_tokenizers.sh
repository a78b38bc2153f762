#!/bin/sh
# Installs Hugging Face `tokenizers` for Node (npm tokenizers@0.23.2: the Rust
# library, same version as the Python package; its native binaries ship in the
# package) into build/npm/hf/ once, for the tests that compare with it.
# Prints the module path. Exit status: 0 ready; 1 node / npm missing, the
# registry unreachable or the module does not load here (tests then SKIP).
cd "$(dirname "$0")/.." || exit 1
dest=build/npm/hf
mod=$dest/node_modules/tokenizers
command -v node >/dev/null 2>&1 || { echo "fetch_hf_tokenizers: node not installed" >&2; exit 1; }
loads() { node -e "require('./$mod')" >/dev/null 2>&1; }
if ! loads; then
    command -v npm >/dev/null 2>&1 || { echo "fetch_hf_tokenizers: npm not installed" >&2; exit 1; }
    mkdir -p "$dest" || exit 1
    # a failed install is not retried for 10 minutes (the tests call this twice)
    if [ -n "$(find "$dest/failed" -mmin -10 2>/dev/null)" ]; then
        echo "fetch_hf_tokenizers: npm install failed less than 10 minutes ago ($dest/npm.err)" >&2; exit 1; fi
    timeout 300 npm install --silent --no-audit --no-fund --prefix "$dest" tokenizers@0.23.2 >/dev/null 2>"$dest/npm.err" || {
        touch "$dest/failed"
        echo "fetch_hf_tokenizers: npm install tokenizers@0.23.2 failed:" >&2; tail -n 3 "$dest/npm.err" >&2; exit 1; }
    rm -f "$dest/failed"
    loads || { echo "fetch_hf_tokenizers: the tokenizers module does not load on this machine" >&2; exit 1; }
fi
echo "$PWD/$mod"
exit 0
