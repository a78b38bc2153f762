#!/bin/sh
# CLI tests of binary (1-bit) models: `trit synth --binary` writes packed
# +-1 codes, trit runs them as 1-bit blocks (--binary auto, the default) with
# logits and generations identical to the 2-bit path (--binary off), and
# --binary force refuses a ternary model naming the tensor.
# Usage: sh tests/cli_binary.sh path/to/trit   (prints PASS/FAIL lines)
T=${1:-build/trit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1: $2"; }

"$T" synth --shape tiny --binary -o "$tmp/bin" 2>"$tmp/e" && "$T" synth --shape tiny -o "$tmp/tern" 2>>"$tmp/e" \
  && ok binary_synth || bad binary_synth "$(cat "$tmp/e")"
out=$("$T" info -m "$tmp/bin" 2>&1)
echo "$out" | grep -q "weights: *binary, 1-bit" && ok binary_info || bad binary_info "$out"
out=$("$T" info -m "$tmp/tern" 2>&1)
echo "$out" | grep -q "weights: *ternary" && ok binary_info_ternary_unchanged || bad binary_info_ternary_unchanged "$out"

# identical logits (prompt of 9 tokens, tiny has K = 256 and 688) on the 1-bit and 2-bit paths
ids="1 5 9 200 3 77 1000 4 42"
"$T" logits -m "$tmp/bin" --ids "$ids" -o "$tmp/auto.f32" -t 2 2>"$tmp/e" && \
  "$T" logits -m "$tmp/bin" --ids "$ids" -o "$tmp/off.f32" -t 2 --binary off 2>>"$tmp/e" && \
  "$T" logits -m "$tmp/bin" --ids "$ids" -o "$tmp/force.f32" -t 1 --binary force 2>>"$tmp/e" && \
  cmp -s "$tmp/auto.f32" "$tmp/off.f32" && cmp -s "$tmp/force.f32" "$tmp/off.f32" \
  && ok binary_logits_identical || bad binary_logits_identical "$(cat "$tmp/e")"
a=$("$T" generate -m "$tmp/bin" --ids "1 2 3" -n 12 --temp 0 --ignore-eos 2>/dev/null)
b=$(TRIT_BINARY=off "$T" generate -m "$tmp/bin" --ids "1 2 3" -n 12 --temp 0 --ignore-eos 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok binary_generate_identical || bad binary_generate_identical "[$a] vs [$b]"

# refusals
out=$("$T" logits -m "$tmp/tern" --ids "1 2" -o "$tmp/x.f32" --binary force 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "model.layers.0.self_attn.q_proj.weight' is not binary" \
  && ok binary_force_refuses_ternary || bad binary_force_refuses_ternary "$out"
out=$("$T" bench -m "$tmp/bin" --binary maybe 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q 'expects "auto", "off" or "force"' \
  && ok binary_bad_mode || bad binary_bad_mode "$out"
