#!/bin/sh
# CLI tests of `trit train` (argument: the trit binary). Prints PASS/FAIL lines.
# A tiny model (dim 32, 2 layers, ctx 16) on tests/fixtures/train_cli/text.txt
# with the 384-id byte-level BPE tokenizer of the same folder (made by
# `trit tokenizer train`, see tests/fixtures/train_cli/README.md):
#   - loss decreases; log.csv, loss.svg and the progress line are well-formed;
#   - 12 steps straight == 6 steps + --resume 6 steps (log rows and the final
#     checkpoint, bit for bit); resume reads the token cache; fixed options
#     cannot change on resume;
#   - SIGINT saves a resumable checkpoint and exits 130;
#   - bad input fails with a clear message and keeps the previous checkpoint:
#     missing / empty / non-regular data file, tokenizer vs model vocabulary,
#     NaN loss (a diverging learning rate), disk full on checkpoint write
#     (the temporary file is a symlink to /dev/full), unwritable run folder;
#   - --init (continual QAT) from a run and from a Hugging Face folder;
#     --config.
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
D="--tokenizer $FX --data $FX/text.txt"
TINY="--dim 32 --layers 2 --heads 2 --ctx 16 --batch 4 -t 1"

# ---- a short run: loss, log, plot, progress ----
R=$tmp/run
if "$TRIT" train -o "$R" $D $TINY --steps 30 --lr 1e-2 --warmup 3 --eval-every 10 --eval-batches 2 \
    --log-every 5 >"$tmp/out" 2>"$tmp/err"; then
    pass train_runs
else
    fail train_runs "exit $?: $(tail -n 5 "$tmp/err")"
fi
[ -s "$R/checkpoint.safetensors" ] && [ -s "$R/log.csv" ] && [ -s "$R/loss.svg" ] && [ -s "$R/tokens.bin" ] &&
    ! ls "$R" | grep -q tmp && pass train_files || fail train_files "$(ls -la "$R")"
# loss: mean of the first 5 steps vs the last 5
first=$(sed -n '2,6p' "$R/log.csv" | cut -d, -f2 | awk '{s+=$1} END {printf "%.4f", s/NR}')
last=$(tail -n 5 "$R/log.csv" | cut -d, -f2 | awk '{s+=$1} END {printf "%.4f", s/NR}')
awk -v a="$first" -v b="$last" 'BEGIN {exit !(b < a - 0.3)}' && pass "loss_decreases ($first -> $last)" ||
    fail loss_decreases "first 5 steps $first, last 5 $last"
# CSV: header, 30 rows of 8 fields, steps 1..30, validation on 10, 20, 30
head -n 1 "$R/log.csv" | grep -qx 'step,loss,lr,grad_norm,tok_s,val_loss,val_ppl,skipped' &&
    [ "$(awk -F, 'NR > 1 && NF == 8 && $1 == NR - 1 && $2 > 0 && $4 > 0' "$R/log.csv" | wc -l)" -eq 30 ] &&
    [ "$(awk -F, 'NR > 1 && $6 != ""' "$R/log.csv" | cut -d, -f1 | tr '\n' ' ')" = "10 20 30 " ] &&
    pass csv_wellformed || fail csv_wellformed "$(cat "$R/log.csv")"
# SVG: one document with axes, labels, the series and the legend
head -c 200 "$R/loss.svg" | grep -q '<svg' && tail -n 1 "$R/loss.svg" | grep -q '</svg>' &&
    [ "$(grep -c '<svg' "$R/loss.svg")" -eq 1 ] && grep -q '<polyline' "$R/loss.svg" &&
    grep -q '>step<' "$R/loss.svg" && grep -q 'validation loss' "$R/loss.svg" && grep -q '<circle' "$R/loss.svg" &&
    pass svg_wellformed || fail svg_wellformed "$(head -c 300 "$R/loss.svg")"
if command -v xmllint >/dev/null 2>&1; then
    xmllint --noout "$R/loss.svg" 2>"$tmp/x" && pass svg_xml_valid || fail svg_xml_valid "$(cat "$tmp/x")"
fi
grep -q '^step 30/30  loss [0-9.]*  lr [0-9.e+-]*  gnorm [0-9.]*  [0-9]* tok/s  ETA ' "$tmp/err" &&
    grep -q '^step 5/30 ' "$tmp/err" && grep -q 'eval at step 10: val loss [0-9.]*, perplexity [0-9.]*' "$tmp/err" &&
    grep -q 'done: 30 steps' "$tmp/err" && pass progress_lines || fail progress_lines "$(cat "$tmp/err")"

# ---- resume reproduces the uninterrupted run exactly ----
RS="$D $TINY --steps 12 --lr 1e-2 --warmup 3 --eval-every 4 --eval-batches 2 --schedule cosine"
"$TRIT" train -o "$tmp/straight" $RS 2>"$tmp/err" || fail resume_straight_run "$(tail -n 3 "$tmp/err")"
# (the first half on 2 threads: the trainer is bit-exact across thread counts)
"$TRIT" train -o "$tmp/split" $RS --stop-after 6 -t 2 2>"$tmp/err1" &&
    grep -q 'continue with: trit train -o .* --resume' "$tmp/err1" || fail resume_stop_after "$(tail -n 3 "$tmp/err1")"
[ "$(tail -n 1 "$tmp/split/log.csv" | cut -d, -f1)" = 6 ] || fail resume_stop_after "log ends at $(tail -n 1 "$tmp/split/log.csv")"
"$TRIT" train -o "$tmp/split" --resume -t 1 2>"$tmp/err2" || fail resume_run "$(tail -n 3 "$tmp/err2")"
cut -d, -f1-4,6 "$tmp/straight/log.csv" >"$tmp/a"
cut -d, -f1-4,6 "$tmp/split/log.csv" >"$tmp/b"
[ "$(wc -l <"$tmp/a")" -eq 13 ] && cmp -s "$tmp/a" "$tmp/b" && pass resume_same_losses ||
    fail resume_same_losses "$(diff "$tmp/a" "$tmp/b" | head -n 6 | tr '\n' ' ')"
cmp -s "$tmp/straight/checkpoint.safetensors" "$tmp/split/checkpoint.safetensors" && pass resume_same_checkpoint ||
    fail resume_same_checkpoint "final checkpoints differ"
grep -q 'read from the token cache' "$tmp/err2" && grep -q 'continuing from step 6 of 12' "$tmp/err2" &&
    pass resume_uses_cache || fail resume_uses_cache "$(cat "$tmp/err2")"
expect_err resume_fixed_option "cannot change when resuming" "$TRIT" train -o "$tmp/split" --resume --dim 64
expect_err new_run_refuses_existing "--resume" "$TRIT" train -o "$tmp/split" $RS
expect_err resume_without_checkpoint "holds no checkpoint" "$TRIT" train -o "$tmp/nothing" --resume
"$TRIT" train -o "$tmp/split" --resume >/dev/null 2>"$tmp/err" && grep -q 'already complete' "$tmp/err" &&
    pass resume_complete_run || fail resume_complete_run "$(cat "$tmp/err")"

# ---- Ctrl-C: finish the step, save, say how to resume, exit 130 ----
"$TRIT" train -o "$tmp/int" $D $TINY --steps 1000000 --eval-every 0 --log-every 1 >/dev/null 2>"$tmp/ierr" &
pid=$!
n=0
while [ $n -lt 300 ] && ! grep -q '^step ' "$tmp/ierr" 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
kill -INT $pid
wait $pid
rc=$?
saved=$(tail -n 1 "$tmp/int/log.csv" | cut -d, -f1)
if [ $rc -eq 130 ] && grep -q 'resume with: trit train -o .* --resume' "$tmp/ierr" && [ -s "$tmp/int/checkpoint.safetensors" ]
then pass sigint_saves; else fail sigint_saves "exit $rc: $(tail -n 3 "$tmp/ierr")"; fi
"$TRIT" train -o "$tmp/int" --resume --stop-after 2 >/dev/null 2>"$tmp/err" &&
    [ "$(tail -n 1 "$tmp/int/log.csv" | cut -d, -f1)" = $((saved + 2)) ] && pass sigint_resumable ||
    fail sigint_resumable "saved at $saved: $(tail -n 3 "$tmp/err")"

# ---- bad input ----
: >"$tmp/empty.txt"
expect_err err_missing_data "cannot read data file /nonexistent/a.txt" \
    "$TRIT" train -o "$tmp/e1" --tokenizer $FX --data /nonexistent/a.txt $TINY
expect_err err_empty_data "data file $tmp/empty.txt is empty" \
    "$TRIT" train -o "$tmp/e2" --tokenizer $FX --data "$FX/text.txt,$tmp/empty.txt" $TINY
expect_err err_data_is_dir "not a regular file" "$TRIT" train -o "$tmp/e3" --tokenizer $FX --data "$tmp" $TINY
expect_err err_vocab_mismatch "has 384 ids but the model's vocabulary has 100" \
    "$TRIT" train -o "$tmp/e4" $D $TINY --vocab 100
expect_err err_init_vocab_mismatch "do not belong together" \
    "$TRIT" train -o "$tmp/e5" $D --init tests/fixtures/models/bitnet_online_bf16 --ctx 16
expect_err err_no_data "--data" "$TRIT" train -o "$tmp/e6" --tokenizer $FX $TINY
expect_err err_bad_tokenizer "tokenizer" "$TRIT" train -o "$tmp/e7" --tokenizer /nonexistent --data $FX/text.txt
expect_err err_bad_quant "--quant" "$TRIT" train -o "$tmp/e8" $D --quant ternary
expect_err err_bad_shape "heads" "$TRIT" train -o "$tmp/e9" $D --dim 30 --heads 4 --ctx 16
expect_err err_unknown_option "unknown option" "$TRIT" train -o "$tmp/e10" $D --frobnicate
printf 'x' >"$tmp/plainfile"
expect_err err_run_dir_unwritable "cannot create the run folder" "$TRIT" train -o "$tmp/plainfile/run" $D $TINY
expect_err err_val_split_too_small "validation split" "$TRIT" train -o "$tmp/e11" $D --dim 32 --heads 2 --layers 1 \
    --ctx 512 --val-frac 0.01

# NaN loss: a diverging learning rate; the run stops, the checkpoint of step 6 stays
N=$tmp/nan
"$TRIT" train -o "$N" $D $TINY --steps 6 --eval-every 0 2>/dev/null
cp "$N/checkpoint.safetensors" "$tmp/keep"
expect_err err_nan_loss "consecutive steps were skipped" "$TRIT" train -o "$N" --resume --steps 40 --lr 1e6 --max-skips 3
grep -q 'non-finite' "$tmp/err" && grep -q 'step 6' "$tmp/err" && cmp -s "$N/checkpoint.safetensors" "$tmp/keep" &&
    pass nan_keeps_checkpoint || fail nan_keeps_checkpoint "$(tail -n 2 "$tmp/err")"
# disk full: the checkpoint's temporary file leads to /dev/full
if [ -w /dev/full ] && ln -s /dev/full "$N/checkpoint.safetensors.tmp"; then
    expect_err err_disk_full "No space left on device" "$TRIT" train -o "$N" --resume --steps 8 --save-every 1
    grep -q 'previous checkpoint (step 6) is intact' "$tmp/err" && cmp -s "$N/checkpoint.safetensors" "$tmp/keep" &&
        ! [ -e "$N/checkpoint.safetensors.tmp" ] && pass disk_full_keeps_checkpoint ||
        fail disk_full_keeps_checkpoint "$(tail -n 2 "$tmp/err")"
    "$TRIT" train -o "$N" --resume --steps 8 >/dev/null 2>&1 && pass resume_after_disk_full ||
        fail resume_after_disk_full "could not resume"
else
    echo "SKIP err_disk_full (no /dev/full)"
fi

# ---- continual QAT and --config ----
"$TRIT" train -o "$tmp/qat" $D $TINY --init "$R" --lambda-ramp 3 --steps 4 --eval-every 0 --log-every 1 \
    2>"$tmp/err" && l1=$(sed -n 2p "$tmp/qat/log.csv" | cut -d, -f2) &&
    awk -v a="$l1" 'BEGIN {exit !(a < 5.6)}' && pass init_from_run ||
    fail init_from_run "step 1 loss ${l1:-?}: $(tail -n 2 "$tmp/err")"
if "$TRIT" synth --shape tiny --format bf16 --vocab 384 -o "$tmp/hf" >/dev/null 2>&1 &&
    "$TRIT" synth --shape tiny --vocab 384 -o "$tmp/hfpacked" >/dev/null 2>&1; then
    "$TRIT" train -o "$tmp/qat2" $D --init "$tmp/hf" --lambda-ramp 2 --steps 2 --ctx 16 --batch 2 --eval-every 0 \
        -t 1 2>"$tmp/err" && grep -q 'dim 256, 4 layers' "$tmp/err" && pass init_from_hf ||
        fail init_from_hf "$(tail -n 2 "$tmp/err")"
    expect_err err_init_packed "full-precision" "$TRIT" train -o "$tmp/qat3" $D --init "$tmp/hfpacked" --ctx 16
else
    echo "SKIP init_from_hf (trit synth failed)"
fi
printf '{"model_type": "bitnet", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,\n' >"$tmp/cfg.json"
printf ' "num_attention_heads": 2, "max_position_embeddings": 16, "tie_word_embeddings": false}\n' >>"$tmp/cfg.json"
"$TRIT" train -o "$tmp/cfg" $D --config "$tmp/cfg.json" --batch 2 --steps 2 --eval-every 0 -t 1 2>"$tmp/err" &&
    grep -q 'dim 32, 1 layers, 2/2 heads, ffn 64, vocab 384)' "$tmp/err" && pass config_file ||
    fail config_file "$(tail -n 2 "$tmp/err")"
printf '{"model_type": "llama", "hidden_size": 32}' >"$tmp/llama.json"
expect_err err_config_llama "bitnet" "$TRIT" train -o "$tmp/cfg2" $D --config "$tmp/llama.json"

# ---- the token cache is rebuilt when the data change ----
cp $FX/text.txt "$tmp/t.txt"
"$TRIT" train -o "$tmp/cache" --tokenizer $FX --data "$tmp/t.txt" $TINY --steps 2 --eval-every 0 2>/dev/null
echo "One more line of text." >>"$tmp/t.txt"
"$TRIT" train -o "$tmp/cache" --resume --steps 3 2>"$tmp/err" && grep -q 'changed' "$tmp/err" &&
    grep -q 'will not reproduce' "$tmp/err" && pass cache_rebuilt_on_change || fail cache_rebuilt_on_change "$(cat "$tmp/err")"

[ "$fails" -eq 0 ]
