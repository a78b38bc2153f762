#!/bin/sh
# CLI tests of `trit tokenizer train` (argument: the trit binary).
# Trains small vocabularies on tests/fixtures/tokenizer/train_text.txt and
# checks the files, the ids and the round trip through `trit tokenize` /
# `trit detokenize`. With node and the npm `tokenizers` package (Hugging Face
# tokenizers, fetched by tests/fetch_hf_tokenizers.sh) it also checks that
# HF loads the trained tokenizer.json and gives the same ids as trit on every
# case of tests/fixtures/tokenizer/corpus.json, and that HF's own BpeTrainer
# learns the same merges in the same order; without them those print SKIP.
cd "$(dirname "$0")/.." || exit 1
TRIT=${1:-build/trit}
case $TRIT in /*) ;; *) TRIT=$PWD/$TRIT ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
expect() { if [ "$3" = "$2" ]; then pass "$1"; else fail "$1" "got [$3], want [$2]"; fi; }
expect_err() {
    name=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$want" "$tmp/err"; then pass "$name"
    else fail "$name" "exit $rc, stderr: $(head -c 300 "$tmp/err")"; fi
}
TEXT=tests/fixtures/tokenizer/train_text.txt
CORPUS=tests/fixtures/tokenizer/corpus.json
SPECIALS='<|endoftext|>,<|pad|>'

# ---- errors ----
expect_err train_no_subcommand "subcommand" "$TRIT" tokenizer
expect_err train_no_vocab "vocab-size" "$TRIT" tokenizer train -o "$tmp/x" $TEXT
expect_err train_no_files "input file" "$TRIT" tokenizer train --vocab-size 300 -o "$tmp/x"
expect_err train_small_vocab "vocab-size" "$TRIT" tokenizer train --vocab-size 100 -o "$tmp/x" $TEXT
expect_err train_too_small_for_specials "special" "$TRIT" tokenizer train --vocab-size 257 --special "a,b" -o "$tmp/x" $TEXT
expect_err train_bad_pattern "pattern" "$TRIT" tokenizer train --vocab-size 300 --pattern nope -o "$tmp/x" $TEXT
expect_err train_missing_file "/nonexistent/file.txt" "$TRIT" tokenizer train --vocab-size 300 -o "$tmp/x" /nonexistent/file.txt
expect_err train_bad_option "unknown" "$TRIT" tokenizer train --vocab-size 300 --frobnicate -o "$tmp/x" $TEXT
printf 'x' >"$tmp/plainfile"
expect_err train_output_not_dir "$tmp/plainfile" "$TRIT" tokenizer train --vocab-size 300 -o "$tmp/plainfile" $TEXT

# ---- training ----
T=$tmp/tok
if "$TRIT" tokenizer train --vocab-size 500 --special "$SPECIALS" -o "$T" $TEXT 2>"$tmp/log"; then
    if [ -s "$T/tokenizer.json" ] && [ -s "$T/tokenizer_config.json" ] && ! ls "$T" | grep -q tmp; then
        pass train_writes_files
    else fail train_writes_files "$(ls -la "$T")"; fi
    grep -q "merges 242/242" "$tmp/log" && pass train_progress_line || fail train_progress_line "$(cat "$tmp/log")"
else
    fail train "$(tail -n 3 "$tmp/log")"
fi
"$TRIT" tokenizer train --vocab-size 500 --special "$SPECIALS" -o "$tmp/tok2" -q $TEXT
cmp -s "$T/tokenizer.json" "$tmp/tok2/tokenizer.json" && pass train_deterministic ||
    fail train_deterministic "two runs wrote different files"
expect train_special_id_0 "0" "$(printf '<|endoftext|>' | "$TRIT" tokenize -m "$T" --special)"
expect train_special_pad "1" "$(printf '<|pad|>' | "$TRIT" tokenize -m "$T" --special)"
expect_err train_vocab_size "out of range" "$TRIT" detokenize -m "$T" --ids "500"
"$TRIT" detokenize -m "$T" --ids "499" >/dev/null 2>&1 && pass train_id_499 || fail train_id_499 "id 499 missing"
grep -q '"eos_token": "<|endoftext|>"' "$T/tokenizer_config.json" && pass train_config_eos ||
    fail train_config_eos "$(cat "$T/tokenizer_config.json")"

# ---- round trips ----
printf 'Grüße aus Köln! 東京 🙂👨‍👩‍👧\n\tcode: x += 1;  \n\nnever seen: ꙮ \001\177\n' >"$tmp/text2"
for f in $TEXT "$tmp/text2"; do
    ids=$("$TRIT" tokenize -m "$T" <"$f") &&
        "$TRIT" detokenize -m "$T" --ids "$ids" >"$tmp/back" &&
        cmp -s "$f" "$tmp/back" && pass "roundtrip_$(basename "$f")" ||
        fail "roundtrip_$(basename "$f")" "$(od -c "$tmp/back" | head -3)"
done
n=$(wc -c <"$TEXT"); k=$("$TRIT" tokenize -m "$T" <$TEXT | wc -w)
[ "$k" -lt $((n * 7 / 10)) ] && pass train_compresses || fail train_compresses "$k tokens for $n bytes"
# GPT-2 pattern and min-frequency
"$TRIT" tokenizer train --vocab-size 2000 --pattern gpt2 --min-frequency 3 -o "$tmp/g2" -q $TEXT &&
    grep -q "'s|'t|'re|'ve|'m|'ll|'d| ?" "$tmp/g2/tokenizer.json" && pass train_gpt2_pattern ||
    fail train_gpt2_pattern "no gpt2 pattern"
ids=$("$TRIT" tokenize -m "$tmp/g2" <$TEXT) && "$TRIT" detokenize -m "$tmp/g2" --ids "$ids" >"$tmp/back" &&
    cmp -s $TEXT "$tmp/back" && pass roundtrip_gpt2_minfreq || fail roundtrip_gpt2_minfreq "differs"
nv=$(grep -c '^      "' "$tmp/g2/tokenizer.json")
[ "$nv" -gt 256 ] && [ "$nv" -lt 2000 ] && pass train_min_frequency_stops ||
    fail train_min_frequency_stops "$nv lines of vocab and merges"

# ---- Hugging Face tokenizers ----
if ! mod=$(sh tests/fetch_hf_tokenizers.sh 2>"$tmp/fetch"); then
    echo "SKIP Hugging Face comparisons: $(tail -n 1 "$tmp/fetch")"
    [ "$fails" -eq 0 ]
    exit
fi
HF="node tests/tools/hf_tokenizers.js $mod"
# every corpus case and the training text, joined by <|endoftext|>: one run
if $HF encode "$T/tokenizer.json" $CORPUS $TEXT '<|endoftext|>' "$tmp/all" >"$tmp/hfout" 2>"$tmp/err"; then
    got=$("$TRIT" tokenize -m "$T" --special <"$tmp/all.txt")
    want=$(cat "$tmp/all.ids")
    if [ "$got" = "$want" ] && [ -n "$got" ]; then pass "hf_encodes_like_trit ($(cat "$tmp/hfout"))"
    else
        echo "$got" | tr ' ' '\n' >"$tmp/got"; echo "$want" | tr ' ' '\n' >"$tmp/want"
        fail hf_encodes_like_trit "ids differ: $(diff "$tmp/got" "$tmp/want" | head -n 6 | tr '\n' ' ')"
    fi
else
    fail hf_encodes_like_trit "HF could not load or encode: $(tail -n 3 "$tmp/err")"
fi
for p in llama3 gpt2; do
    "$TRIT" tokenizer train --vocab-size 30000 --pattern $p -o "$tmp/full_$p" -q $TEXT &&
    $HF train $TEXT $p "$tmp/hf_$p.json" >/dev/null 2>"$tmp/err" &&
    $HF compare "$tmp/hf_$p.json" "$tmp/full_$p/tokenizer.json" >"$tmp/cmp" 2>&1 &&
    grep -q "merges: HF \([0-9]*\), ours \1," "$tmp/cmp" && pass "hf_trainer_same_merges_$p" ||
    fail "hf_trainer_same_merges_$p" "$(cat "$tmp/cmp" "$tmp/err" | tail -n 4)"
done
$HF compare "$tmp/hf_llama3.json" "$T/tokenizer.json" >"$tmp/cmp" 2>&1 && pass hf_trainer_same_prefix_500 ||
    fail hf_trainer_same_prefix_500 "$(cat "$tmp/cmp")"
[ "$fails" -eq 0 ]
