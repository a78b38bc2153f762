#!/bin/sh
# CLI tests of `trit export` (argument: the trit binary). Prints PASS/FAIL lines.
#   - a `trit train` run folder (tiny model on tests/fixtures/train_cli) exports
#     to a packed Hugging Face folder with the run's quantizer and the
#     tokenizer's files and BOS/EOS ids; trit loads it and computes logits;
#   - --format both writes the master weights in OUT/bf16 too; the online
#     format is refused for a binary run; quant none gives a dense model;
#   - a bare parameter file needs --config; the PyTorch fixture's parameters
#     export with it; a tokenizer larger than the model is refused;
#   - an existing non-empty folder is refused and kept; no .partial folder is
#     left after a failure.
# (That the exported model infers exactly as the trainer is tests/test_export.c.)
cd "$(dirname "$0")/.." || exit 1
TRIT=${1:-build/trit}
case $TRIT in /*) ;; *) TRIT=$PWD/$TRIT ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
# expect_err NAME WANT CMD...: exit status 1 and WANT in stderr
expect_err() {
    name=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$want" "$tmp/err"; then pass "$name"
    else fail "$name" "exit $rc, stderr: $(tail -c 400 "$tmp/err")"; fi
}
FX=tests/fixtures/train_cli
TINY="--tokenizer $FX --data $FX/text.txt --dim 32 --layers 2 --heads 2 --ctx 16 --batch 4 -t 1 --steps 4 --warmup 1"

# ---- a binary run exported packed, with its tokenizer ----
if "$TRIT" train -o "$tmp/run_bin" $TINY --quant binary >"$tmp/out" 2>"$tmp/err"; then
    pass export_train_run
else
    fail export_train_run "exit $?: $(tail -n 3 "$tmp/err")"
fi
O=$tmp/bin_packed
if "$TRIT" export --checkpoint "$tmp/run_bin" -o "$O" --tokenizer "$FX" >"$tmp/out" 2>"$tmp/err"; then
    pass export_run_packed
else
    fail export_run_packed "exit $?: $(cat "$tmp/err")"
fi
[ -s "$O/config.json" ] && [ -s "$O/generation_config.json" ] && [ -s "$O/model.safetensors" ] &&
    cmp -s "$O/tokenizer.json" "$FX/tokenizer.json" && cmp -s "$O/tokenizer_config.json" "$FX/tokenizer_config.json" &&
    pass export_files || fail export_files "$(ls -la "$O" 2>&1)"
grep -q '"quantization_mode": "offline"' "$O/config.json" && grep -q '"linear_class": "bitlinear"' "$O/config.json" &&
    grep -q '"model_type": "bitnet"' "$O/config.json" && grep -q '"tie_word_embeddings"' "$O/config.json" &&
    grep -q '"eos_token_id": [0-9]' "$O/config.json" && pass export_config || fail export_config "$(cat "$O/config.json")"
grep -q 'quantizer binary' "$tmp/err" && head -c 4096 "$O/model.safetensors" | grep -q 'quant binary' &&
    pass export_quant_from_run || fail export_quant_from_run "$(cat "$tmp/err")"
head -c 4096 "$O/model.safetensors" | grep -q '"q_proj.weight_scale\|self_attn.q_proj.weight_scale' &&
    head -c 4096 "$O/model.safetensors" | grep -q '"dtype":"U8"' && pass export_packed_tensors ||
    fail export_packed_tensors "$(head -c 600 "$O/model.safetensors")"
"$TRIT" info -m "$O" >"$tmp/out" 2>&1 && grep -q "packed" "$tmp/out" && pass export_info || fail export_info "$(cat "$tmp/out")"
"$TRIT" logits -m "$O" --ids "1 2 3 4" -o "$tmp/l.f32" >"$tmp/out" 2>&1 && [ -s "$tmp/l.f32" ] &&
    pass export_logits || fail export_logits "$(cat "$tmp/out")"
expect_err export_binary_no_online "absmean" "$TRIT" export --checkpoint "$tmp/run_bin" -o "$tmp/bin_b16" --format bf16
[ -e "$tmp/bin_b16" ] && fail export_refusal_leaves_nothing "$(ls "$tmp/bin_b16")" || pass export_refusal_leaves_nothing

# ---- an absmean run: both formats; --quant none: dense ----
"$TRIT" train -o "$tmp/run_mean" $TINY >"$tmp/out" 2>"$tmp/err" || fail export_train_run_absmean "$(tail -n 3 "$tmp/err")"
O=$tmp/mean_both
if "$TRIT" export --checkpoint "$tmp/run_mean/checkpoint.safetensors" -o "$O" --format both --dtype f32 \
    >"$tmp/out" 2>"$tmp/err"; then
    grep -q '"quantization_mode": "offline"' "$O/config.json" && grep -q '"quantization_mode": "online"' "$O/f32/config.json" &&
        grep -q '"torch_dtype": "float32"' "$O/f32/config.json" &&
        "$TRIT" logits -m "$O/f32" --ids "5 6 7" -o "$tmp/l2.f32" >/dev/null 2>&1 && pass export_both ||
        fail export_both "$(ls -R "$O"; cat "$O/f32/config.json")"
else
    fail export_both "exit $?: $(cat "$tmp/err")"
fi
O=$tmp/mean_dense
"$TRIT" export --checkpoint "$tmp/run_mean" -o "$O" --quant none >"$tmp/out" 2>"$tmp/err" &&
    ! grep -q quantization_config "$O/config.json" && "$TRIT" info -m "$O" 2>&1 | grep -q "dense" &&
    pass export_none_dense || fail export_none_dense "$(cat "$tmp/err")"

# ---- a bare parameter file (the PyTorch fixture's initial weights) ----
P=tests/fixtures/train/absmean/init.safetensors
expect_err export_needs_config "--config" "$TRIT" export --checkpoint "$P" -o "$tmp/p1"
cat >"$tmp/cfg.json" <<'EOF'
{"model_type": "bitnet", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
 "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
 "tie_word_embeddings": false, "max_position_embeddings": 64}
EOF
"$TRIT" export --checkpoint "$P" --config "$tmp/cfg.json" -o "$tmp/p2" --quant absmedian >"$tmp/out" 2>"$tmp/err" &&
    "$TRIT" logits -m "$tmp/p2" --ids "1 2 3" -o "$tmp/l3.f32" >/dev/null 2>&1 && grep -q "absmedian" "$tmp/err" &&
    pass export_params_file || fail export_params_file "$(cat "$tmp/err")"
expect_err export_tokenizer_vocab "do not belong together" \
    "$TRIT" export --checkpoint "$P" --config "$tmp/cfg.json" -o "$tmp/p3" --tokenizer "$FX"
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$tmp/cfg.json" >"$tmp/cfg3.json"
expect_err export_config_mismatch "missing" "$TRIT" export --checkpoint "$P" --config "$tmp/cfg3.json" -o "$tmp/p4"

# ---- refusals ----
mkdir "$tmp/keep" && echo precious >"$tmp/keep/notes.txt"
expect_err export_nonempty "not empty" "$TRIT" export --checkpoint "$P" --config "$tmp/cfg.json" -o "$tmp/keep"
[ "$(cat "$tmp/keep/notes.txt")" = precious ] && pass export_nonempty_kept || fail export_nonempty_kept "changed"
expect_err export_bad_format "unknown --format" "$TRIT" export --checkpoint "$P" -o "$tmp/p5" --format int4
expect_err export_no_source "neither" "$TRIT" export --checkpoint "$tmp" -o "$tmp/p6"
ls "$tmp" | grep -q partial && fail export_no_partial_left "$(ls "$tmp")" || pass export_no_partial_left
exit $((fails > 0))
