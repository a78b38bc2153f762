#!/bin/sh
# CLI tests of trit synth (random-weight checkpoints) and trit bench.
# Usage: sh tests/cli_synth_bench.sh path/to/trit   (prints PASS/FAIL lines)
# Only the tiny shape is written here (1.3 MB); the 2b4t shape is 1.2 GB.
T=${1:-build/trit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# synth writes a complete folder and nothing else
"$T" synth --shape tiny -o "$tmp/tiny" 2>"$tmp/e" && [ -f "$tmp/tiny/config.json" ] && \
  [ -f "$tmp/tiny/generation_config.json" ] && [ -s "$tmp/tiny/model.safetensors" ] \
  && ok synth_tiny || bad synth_tiny "$(cat "$tmp/e")"
ls "$tmp" | grep -q partial && bad synth_no_partial_left "$(ls "$tmp")" || ok synth_no_partial_left
grep -q '"quantization_mode": "offline"' "$tmp/tiny/config.json" && grep -q '"model_type": "bitnet"' "$tmp/tiny/config.json" \
  && ok synth_config || bad synth_config "$(cat "$tmp/tiny/config.json")"

# trit loads it and runs it
out=$("$T" info -m "$tmp/tiny" 2>&1)
echo "$out" | grep -q "architecture: *bitnet" && echo "$out" | grep -q "vocab: *1024" && echo "$out" | grep -q "packed" \
  && ok synth_info || bad synth_info "$out"
got=$("$T" generate -m "$tmp/tiny" --ids "1 2 3" -n 8 --temp 0 --ignore-eos 2>"$tmp/e")
n=$(echo "$got" | wc -w)
[ "$n" -eq 8 ] && ok synth_generate || bad synth_generate "got [$got] $(cat "$tmp/e")"
big=0; for id in $got; do [ "$id" -ge 1024 ] && big=1; done
[ $big -eq 0 ] && ok synth_generate_ids_in_vocab || bad synth_generate_ids_in_vocab "[$got]"

# the same seed gives the same bytes; another seed does not
"$T" synth --shape tiny -o "$tmp/tiny2" -t 1 2>/dev/null
"$T" synth --shape tiny -o "$tmp/tiny3" --seed 2 2>/dev/null
cmp -s "$tmp/tiny/model.safetensors" "$tmp/tiny2/model.safetensors" && ok synth_deterministic || bad synth_deterministic "seed 1 twice differs"
cmp -s "$tmp/tiny/model.safetensors" "$tmp/tiny3/model.safetensors" && bad synth_seed_matters "seeds 1 and 2 equal" || ok synth_seed_matters

# master-weight (online) format
"$T" synth --shape tiny --format bf16 -o "$tmp/tb16" 2>"$tmp/e" && "$T" info -m "$tmp/tb16" 2>&1 | grep -q "online" \
  && ok synth_bf16 || bad synth_bf16 "$(cat "$tmp/e")"

# an existing non-empty folder is refused and left as it was
mkdir "$tmp/keep" && echo precious > "$tmp/keep/notes.txt"
"$T" synth --shape tiny -o "$tmp/keep" 2>"$tmp/e" && bad synth_refuses_nonempty "exit 0" || \
  { grep -q "not empty" "$tmp/e" && ok synth_refuses_nonempty || bad synth_refuses_nonempty "$(cat "$tmp/e")"; }
[ "$(ls "$tmp/keep")" = "notes.txt" ] && [ "$(cat "$tmp/keep/notes.txt")" = precious ] \
  && ok synth_nonempty_untouched || bad synth_nonempty_untouched "$(ls -la "$tmp/keep")"
# an empty folder is filled (replaced by the finished one)
mkdir "$tmp/empty"
"$T" synth --shape tiny -o "$tmp/empty/" 2>"$tmp/e" && [ -s "$tmp/empty/model.safetensors" ] \
  && ok synth_empty_dir || bad synth_empty_dir "$(cat "$tmp/e")"
# a file in the way, a missing parent
echo x > "$tmp/afile"
"$T" synth --shape tiny -o "$tmp/afile" 2>"$tmp/e" && bad synth_file_in_way "exit 0" || ok synth_file_in_way
"$T" synth --shape tiny -o "$tmp/no/such/dir" 2>"$tmp/e" && bad synth_missing_parent "exit 0" || \
  { grep -q "error" "$tmp/e" && [ ! -e "$tmp/no" ] && ok synth_missing_parent || bad synth_missing_parent "$(cat "$tmp/e")"; }
ls "$tmp" | grep -q partial && bad synth_no_partial_after_errors "$(ls "$tmp")" || ok synth_no_partial_after_errors

# bad arguments
"$T" synth --shape 13b -o "$tmp/x" 2>"$tmp/e" && bad synth_bad_shape "exit 0" || \
  { grep -q "unknown shape" "$tmp/e" && grep -q "2b4t" "$tmp/e" && ok synth_bad_shape || bad synth_bad_shape "$(cat "$tmp/e")"; }
[ ! -e "$tmp/x" ] && ok synth_bad_shape_no_output || bad synth_bad_shape_no_output "$tmp/x exists"
"$T" synth --shape tiny --format int4 -o "$tmp/x" 2>/dev/null && bad synth_bad_format "exit 0" || ok synth_bad_format
"$T" synth --shape tiny 2>/dev/null && bad synth_no_output "exit 0" || ok synth_no_output
"$T" synth -h | grep -q "bitnet_b1_58-large shape" && ok synth_help || bad synth_help "700m not described"

# The threads share out each linear's rows dynamically (whoever is free takes
# the next chunk): the logits must not depend on the thread count or on the
# schedule, bit for bit, for a prompt (-b 64) and token by token (-b 1), with
# each weight layout and head format.
ids=$(seq 3 7 400 | tr '\n' ' ')
"$T" synth --shape tiny --binary -o "$tmp/tinybin" 2>/dev/null
for cfg in "tiny stored stored" "tiny auto stored" "tiny 1.6bit q6" "tiny 2bit q8" "tiny lut q4" "tinybin auto q6"; do
  set -- $cfg
  m=$1; shift
  allsame=1
  for b in 64 1; do
    "$T" logits -m "$tmp/$m" --ids "$ids" -o "$tmp/l1" -t 1 -b $b --weights-format $1 --lm-head $2 2>"$tmp/e" || allsame=0
    for t in 2 3 5 2 3; do
      "$T" logits -m "$tmp/$m" --ids "$ids" -o "$tmp/lt" -t $t -b $b --weights-format $1 --lm-head $2 2>>"$tmp/e" || allsame=0
      cmp -s "$tmp/l1" "$tmp/lt" || { allsame=0; echo "differs: $1/$2 -b $b -t $t" >>"$tmp/e"; }
    done
  done
  [ $allsame -eq 1 ] && ok "logits_threads_bit_identical_${m}_$1_$2" || bad "logits_threads_bit_identical_${m}_$1_$2" "$(cat "$tmp/e")"
done

# bench: table and a JSON object as the last line of stdout
"$T" bench -m "$tmp/tiny" -p 16 -n 8 -r 2 -t 2 --json >"$tmp/b" 2>"$tmp/e"; rc=$?
last=$(tail -n 1 "$tmp/b")
[ $rc -eq 0 ] && ok bench_runs || bad bench_runs "exit $rc: $(cat "$tmp/e")"
case "$last" in "{"*"}") ok bench_json_object ;; *) bad bench_json_object "last line [$last]" ;; esac
for k in pp_tok_s tg_tok_s peak_rss_mib pp_sd tg_sd load_s weight_mib huge_page_share; do
  v=$(echo "$last" | sed -n "s/.*\"$k\":\([0-9.e+-]*\).*/\1/p")
  [ -n "$v" ] && ok "bench_key_$k" || bad "bench_key_$k" "[$last]"
done
v=$(echo "$last" | sed -n 's/.*"tg_tok_s":\([0-9.e+-]*\).*/\1/p')
case "$v" in 0|0.0|"") bad bench_tg_positive "tg_tok_s=$v" ;; *) ok bench_tg_positive ;; esac
echo "$last" | grep -q '"threads":2' && echo "$last" | grep -q '"isa":"' && ok bench_json_fields || bad bench_json_fields "[$last]"
echo "$last" | grep -q '"nonfinite_logits":0' && ok bench_logits_finite || bad bench_logits_finite "[$last]"
grep -q "pp16" "$tmp/b" && grep -q "tg8" "$tmp/b" && ok bench_table || bad bench_table "$(cat "$tmp/b")"
# repetitions reuse one context (its cache holds p + n + 1 positions, so a rep that
# did not start empty would fail); --fresh-ctx makes one per repetition
"$T" bench -m "$tmp/tiny" -p 16 -n 8 -r 3 -t 2 --fresh-ctx --json >"$tmp/b" 2>"$tmp/e" && \
  tail -n 1 "$tmp/b" | grep -q '"nonfinite_logits":0' && ok bench_fresh_ctx || bad bench_fresh_ctx "$(cat "$tmp/e")"
"$T" bench -m "$tmp/tiny" -p 0 -n 4 -r 1 >/dev/null 2>&1 && ok bench_tg_only || bad bench_tg_only "exit non-zero"
"$T" bench -m "$tmp/tiny" -p 8 -n 4 -r 1 -t 2 --profile >"$tmp/b" 2>"$tmp/e"
grep -q "profile, prompt (pp8)" "$tmp/b" && grep -q "profile, generation (tg4)" "$tmp/b" && \
  [ "$(grep -c '^  attention ' "$tmp/b")" -eq 2 ] && [ "$(grep -c '^  outside the forward pass ' "$tmp/b")" -eq 2 ] \
  && ok bench_profile || bad bench_profile "$(cat "$tmp/b" "$tmp/e")"
"$T" bench -p 16 2>"$tmp/e" && bad bench_no_model "exit 0" || ok bench_no_model
"$T" bench -m "$tmp/tiny" -p 0 -n 0 2>/dev/null && bad bench_nothing "exit 0" || ok bench_nothing
"$T" bench -m "$tmp/tiny" -p 5000 -n 1 2>"$tmp/e" && bad bench_too_long "exit 0" || \
  { grep -q "max_position" "$tmp/e" && ok bench_too_long || bad bench_too_long "$(cat "$tmp/e")"; }
"$T" bench -m "$tmp/tiny" -r x 2>/dev/null && bad bench_bad_r "exit 0" || ok bench_bad_r
[ $fails -eq 0 ]
