#!/bin/sh
# CLI tests of trit perplexity (and the --lm-head formats) on models/default,
# scored on tests/fixtures/train_cli/text.txt (5 KB of English prose, which
# the Shakespeare-trained model has not seen: its perplexity is high but
# finite and stable).
# Usage: sh tests/cli_perplexity.sh path/to/trit   (prints PASS/FAIL lines)
T=${1:-build/trit}
M=models/default
TXT=tests/fixtures/train_cli/text.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1: $2"; }
ppl_of() { sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)$/\1/p' "$1"; }

# runs, prints one running value per window and the final estimate
"$T" perplexity -m $M -f $TXT -c 64 -t 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
p=$(ppl_of "$tmp/out")
[ $rc -eq 0 ] && [ -n "$p" ] && ok ppl_runs || bad ppl_runs "rc $rc: $(cat "$tmp/out" "$tmp/err")"
n=$(grep -o '\[[0-9]*\]' "$tmp/out" | wc -l)
w=$(sed -n 's/.* \([0-9]*\) windows of 64 tokens.*/\1/p' "$tmp/err")
[ -n "$w" ] && [ "$n" -eq "$w" ] && [ "$n" -ge 10 ] && ok ppl_windows || bad ppl_windows "$n values, $w windows: $(cat "$tmp/err")"
awk -v p="$p" 'BEGIN { exit !(p > 20 && p < 5000) }' && ok ppl_range || bad ppl_range "PPL $p"
grep -q "s per window" "$tmp/err" && grep -q "tokens scored" "$tmp/err" && ok ppl_timings || bad ppl_timings "$(cat "$tmp/err")"

# deterministic, and the same with other thread / batch settings
"$T" perplexity -m $M -f $TXT -c 64 -t 1 -b 7 >"$tmp/out1" 2>/dev/null
[ "$(ppl_of "$tmp/out1")" = "$p" ] && ok ppl_threads_batch_agree || bad ppl_threads_batch_agree "$(ppl_of "$tmp/out1") vs $p"

# --chunks limits the windows; the default window is min(512, max_position_embeddings)
maxpos=$(sed -n 's/.*"max_position_embeddings": *\([0-9]*\).*/\1/p' $M/config.json)
[ "$maxpos" -gt 512 ] && maxpos=512
"$T" perplexity -m $M -f $TXT --chunks 2 >"$tmp/out2" 2>"$tmp/err2"
[ "$(grep -o '\[[0-9]*\]' "$tmp/out2" | wc -l)" -eq 2 ] && grep -q "windows of $maxpos tokens" "$tmp/err2" \
  && ok ppl_chunks || bad ppl_chunks "$(cat "$tmp/out2" "$tmp/err2")"

# an f16 KV cache costs almost nothing on this trained model (measured 0.02%; bound 0.5%)
"$T" perplexity -m $M -f $TXT -c 64 -t 2 -ctk f16 -ctv f16 >"$tmp/o_kv" 2>"$tmp/e_kv"
pk=$(ppl_of "$tmp/o_kv")
[ -n "$pk" ] && awk -v a="$pk" -v b="$p" 'BEGIN { exit !(a != b && a < b * 1.005 && a > b * 0.995) }' \
  && ok ppl_kv_f16_close || bad ppl_kv_f16_close "f16 $pk vs f32 $p: $(cat "$tmp/e_kv")"
"$T" perplexity -m $M -f $TXT -c 64 -ctk q4 >/dev/null 2>"$tmp/e_kv" && bad ppl_kv_bad_type "exit 0" || \
  { grep -q 'cache-type-k expects "f32" or "f16"' "$tmp/e_kv" && ok ppl_kv_bad_type || bad ppl_kv_bad_type "$(cat "$tmp/e_kv")"; }

# each quantized head costs little perplexity (q8 < 1%, q6 < 2%, q4 < 8% here)
for h in q8:1.01 q6:1.02 q4:1.08; do
  f=${h%%:*}; lim=${h#*:}
  "$T" perplexity -m $M -f $TXT -c 64 -t 2 --lm-head $f >"$tmp/o_$f" 2>"$tmp/e_$f"
  q=$(ppl_of "$tmp/o_$f")
  grep -q "lm_head $f" "$tmp/e_$f" && awk -v a="$p" -v b="$q" -v l="$lim" 'BEGIN { exit !(b > 0 && b / a < l && a / b < l) }' \
    && ok "ppl_head_$f" || bad "ppl_head_$f" "PPL $q vs $p (stored): $(cat "$tmp/e_$f")"
done

# errors: clear messages, non-zero exit
"$T" perplexity -m $M -f "$tmp/none.txt" 2>"$tmp/e" && bad err_no_file "exit 0" || \
  { grep -q "cannot open" "$tmp/e" && ok err_no_file || bad err_no_file "$(cat "$tmp/e")"; }
printf 'To be, or not to be.' > "$tmp/short.txt"
"$T" perplexity -m $M -f "$tmp/short.txt" -c 64 2>"$tmp/e" && bad err_short_text "exit 0" || \
  { grep -q "tokens; a window of -c 64" "$tmp/e" && ok err_short_text || bad err_short_text "$(cat "$tmp/e")"; }
"$T" perplexity -m $M -f $TXT -c 4096 2>"$tmp/e" && bad err_ctx_too_big "exit 0" || \
  { grep -q "max_position_embeddings" "$tmp/e" && ok err_ctx_too_big || bad err_ctx_too_big "$(cat "$tmp/e")"; }
"$T" perplexity -m $M -f $TXT --lm-head q5 2>"$tmp/e" && bad err_bad_head "exit 0" || \
  { grep -q '"stored", "q8", "q6" or "q4"' "$tmp/e" && ok err_bad_head || bad err_bad_head "$(cat "$tmp/e")"; }
"$T" perplexity -m $M 2>"$tmp/e" && bad err_no_f "exit 0" || { grep -q -- "-f FILE" "$tmp/e" && ok err_no_f || bad err_no_f "$(cat "$tmp/e")"; }
# a hidden size that is not a multiple of 32 cannot take a quantized head
"$T" generate -m tests/fixtures/models/bitnet_tied_gqa --ids "1 2 3" -n 2 --lm-head q4 2>"$tmp/e" && bad err_head_k "exit 0" || \
  { grep -q "multiple of 32" "$tmp/e" && grep -q "hidden_size" "$tmp/e" && ok err_head_k || bad err_head_k "$(cat "$tmp/e")"; }

# the other commands take every head format
for f in q8 q6 q4; do
  out=$("$T" bench -m $M -p 8 -n 4 -r 1 -t 2 --lm-head $f 2>&1)
  echo "$out" | grep -q "lm_head $f" && echo "$out" | grep -q "tg4" && ok "bench_head_$f" || bad "bench_head_$f" "$out"
done
"$T" logits -m $M --ids "1 2 3 4" -o "$tmp/l.f32" --lm-head q6 2>/dev/null
[ "$(wc -c < "$tmp/l.f32")" -eq $((4 * 4096 * 4)) ] && ok logits_head_q6 || bad logits_head_q6 "size"
out=$(printf '/exit\n' | "$T" chat -m $M --lm-head q4 2>&1)
echo "$out" | grep -q "error" && bad chat_head_q4 "$out" || ok chat_head_q4
