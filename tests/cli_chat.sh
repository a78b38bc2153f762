#!/bin/sh
# CLI tests of `trit chat`: the model's chat template, prompt caching, /reset,
# history kept within the context, the plain fallback format, template
# errors, Ctrl-C during an answer.
# The model is a tiny random-weight checkpoint (trit synth) with the Llama-3
# vocabulary, paired with the real Llama-3 tokenizer files from
# build/npm/llama3 (tests/fetch_tokenizers.sh); without them: SKIP.
# Usage: sh tests/cli_chat.sh path/to/trit   (prints PASS/FAIL/SKIP lines)
T=${1:-build/trit}
L=build/npm/llama3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "PASS $1"; }
bad()  { echo "FAIL $1: $2"; fails=$((fails + 1)); }

if [ ! -f $L/tokenizer.json ] || [ ! -f $L/tokenizer_config.json ]; then
  echo "SKIP cli_chat (no $L: run tests/fetch_tokenizers.sh)"
  exit 0
fi
if ! "$T" synth --shape tiny --vocab 128256 -o "$tmp/m" >"$tmp/synth" 2>&1; then
  bad synth "$(cat "$tmp/synth")"
  exit 1
fi
cp $L/tokenizer.json $L/tokenizer_config.json "$tmp/m/"

# stats of turn $2 in stderr file $1: "prompt P tokens (C cached, N new)"
cached()  { sed -n "s/.*turn $2 | prompt [0-9]* tokens (\([0-9]*\) cached.*/\1/p" "$1"; }
prompt()  { sed -n "s/.*turn $2 | prompt \([0-9]*\) tokens.*/\1/p" "$1"; }
context() { sed -n "s/.*turn $2 | .*| context \([0-9]*\)\/.*/\1/p" "$1"; }
# the answer after the prompt line "> $2" (its first occurrence counted $3 times) in transcript $1
answer()  { awk -v q="> $2" -v k="${3:-1}" '$0 == q { n++; if (n == k) { on = 1; next } } on && /^> / { exit } on { print }' "$1"; }

# ---- three turns, /reset, the first question again, /exit --------------------
printf 'Hello!\nWhat is a ternary weight?\nThanks.\n/reset\nHello!\n/exit\n' > "$tmp/in"
"$T" chat -m "$tmp/m" -n 5 --temp 0 -t 2 < "$tmp/in" > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 0 ] && ok chat_exit_0 || bad chat_exit_0 "exit $rc: $(cat "$tmp/err")"
[ "$(cached "$tmp/err" 1)" = 0 ] && ok chat_first_turn_uncached || bad chat_first_turn_uncached "$(cat "$tmp/err")"
c2=$(cached "$tmp/err" 2); c3=$(cached "$tmp/err" 3)
[ -n "$c2" ] && [ "$c2" -gt 0 ] && ok chat_prompt_cache_turn2 || bad chat_prompt_cache_turn2 "$(cat "$tmp/err")"
[ -n "$c3" ] && [ "$c3" -gt "$c2" ] && ok chat_prompt_cache_turn3 || bad chat_prompt_cache_turn3 "$(cat "$tmp/err")"
# turn 2 reuses at least turn 1's prompt (the answer too where its text tokenizes
# back to the sampled ids), never more than the cache held
p1=$(prompt "$tmp/err" 1); x1=$(context "$tmp/err" 1)
[ -n "$p1" ] && [ "$c2" -ge "$p1" ] && [ "$c2" -le "$x1" ] && ok chat_cache_reuses_prompt \
  || bad chat_cache_reuses_prompt "$(cat "$tmp/err")"
grep -q "conversation reset" "$tmp/err" && [ "$(cached "$tmp/err" 4)" = 0 ] && \
  [ "$(prompt "$tmp/err" 4)" = "$(prompt "$tmp/err" 1)" ] && ok chat_reset || bad chat_reset "$(cat "$tmp/err")"
grep -q "answer [0-5] tokens in .* tok/s" "$tmp/err" && ok chat_timings || bad chat_timings "$(cat "$tmp/err")"
a1=$(answer "$tmp/out" "Hello!" 1); a4=$(answer "$tmp/out" "Hello!" 2)
a2=$(answer "$tmp/out" "What is a ternary weight?"); a3=$(answer "$tmp/out" "Thanks.")
[ -n "$a1$a2$a3" ] && ok chat_transcript_has_answers || bad chat_transcript_has_answers "$(cat "$tmp/out")"
[ -n "$a1" ] && [ "$a1" = "$a4" ] && ok chat_reset_same_answer || bad chat_reset_same_answer "[$a1] vs [$a4]"
grep -q "^> /exit$" "$tmp/out" && ok chat_prompts_echoed || bad chat_prompts_echoed "$(cat "$tmp/out")"

# ---- a small context: the oldest exchanges are dropped, the system message stays cached
printf 'one\ntwo\nthree\nfour\nfive\n' | "$T" chat -m "$tmp/m" -n 8 --temp 0 -t 2 -c 64 --system "Be brief." \
  > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q "turn 5 |" "$tmp/err" && ok chat_small_context || bad chat_small_context "exit $rc: $(cat "$tmp/err")"
grep -q "dropped the" "$tmp/err" && ok chat_history_dropped || bad chat_history_dropped "$(cat "$tmp/err")"
over=0
for k in 1 2 3 4 5; do c=$(context "$tmp/err" $k); [ -n "$c" ] && [ "$c" -le 64 ] || over=1; done
[ $over -eq 0 ] && ok chat_within_context || bad chat_within_context "$(cat "$tmp/err")"
d=$(grep -n "dropped the" "$tmp/err" | head -n 1 | cut -d: -f1)
t=$(sed -n "$((d + 1))p" "$tmp/err" | sed -n 's/.*turn \([0-9]*\) |.*/\1/p')
cd_=$(cached "$tmp/err" "$t"); cp_=$(context "$tmp/err" $((t - 1)))
[ -n "$cd_" ] && [ "$cd_" -gt 0 ] && [ "$cd_" -lt "$cp_" ] && ok chat_cache_shrinks_after_drop \
  || bad chat_cache_shrinks_after_drop "turn $t cached [$cd_] of [$cp_]: $(cat "$tmp/err")"

# ---- no chat_template: plain format, said on stderr
mkdir "$tmp/plain" && cp "$tmp/m"/*.json "$tmp/m/model.safetensors" "$tmp/plain/" && rm "$tmp/plain/tokenizer_config.json"
printf 'Hi\n' | "$T" chat -m "$tmp/plain" -n 3 --temp 0 -t 2 > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q "no chat_template" "$tmp/err" && grep -q "turn 1 |" "$tmp/err" && ok chat_plain_fallback \
  || bad chat_plain_fallback "exit $rc: $(cat "$tmp/err")"

# ---- a template error ends that turn, not the session
printf "{{ raise_exception('one turn only, please') }}" > "$tmp/raise.j2"
printf 'a\nb\n' | "$T" chat -m "$tmp/m" --template "$tmp/raise.j2" -n 2 -t 2 > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "one turn only, please" "$tmp/err")" -eq 2 ] && ok chat_template_error \
  || bad chat_template_error "exit $rc: $(cat "$tmp/err")"
printf '{%% for m in messages %%}' > "$tmp/broken.j2"
"$T" chat -m "$tmp/m" --template "$tmp/broken.j2" < /dev/null > /dev/null 2> "$tmp/err" && bad chat_broken_template "exit 0" \
  || { grep -q "broken.j2 line 1: .*never closed" "$tmp/err" && ok chat_broken_template || bad chat_broken_template "$(cat "$tmp/err")"; }

# ---- Ctrl-C during an answer stops it, keeps it, and the chat goes on
# (greedy answers of this model run until the context is full, so each one is
# still streaming when the signal comes)
size() { echo $(($(wc -c < "$1"))); }
mkfifo "$tmp/fifo"
"$T" chat -m "$tmp/m" --temp 0 -t 2 -c 1024 < "$tmp/fifo" > "$tmp/out" 2> "$tmp/err" &
pid=$!
exec 3> "$tmp/fifo"
echo "Tell me a long story." >&3
i=0; while [ $i -lt 300 ] && [ "$(size "$tmp/out")" -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
i=0; while [ $i -lt 300 ] && ! grep -q "turn 1 |" "$tmp/err"; do sleep 0.1; i=$((i + 1)); done
s1=$(size "$tmp/out")
echo "And then?" >&3
i=0; while [ $i -lt 300 ] && [ "$(size "$tmp/out")" -lt $((s1 + 40)) ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
i=0; while [ $i -lt 300 ] && ! grep -q "turn 2 |" "$tmp/err"; do sleep 0.1; i=$((i + 1)); done
echo "/exit" >&3
exec 3>&-
wait $pid; rc=$?
[ $rc -eq 0 ] && [ "$(grep -c "answer stopped" "$tmp/err")" -eq 2 ] && grep -q "turn 1 | .*(interrupted)" "$tmp/err" \
  && ok chat_ctrl_c_stops_answer || bad chat_ctrl_c_stops_answer "exit $rc: $(cat "$tmp/err")"
# the stopped answer stays in the conversation: turn 2 finds it in the cache
c2=$(cached "$tmp/err" 2); x1=$(context "$tmp/err" 1); p1=$(prompt "$tmp/err" 1)
[ -n "$c2" ] && [ -n "$p1" ] && [ "$c2" -gt "$p1" ] && [ "$c2" -le "$x1" ] && ok chat_ctrl_c_keeps_answer \
  || bad chat_ctrl_c_keeps_answer "turn 2 cached [$c2], turn 1 prompt [$p1]: $(cat "$tmp/err")"

# ---- usage errors
"$T" chat 2> "$tmp/err" && bad chat_err_no_model "exit 0" || { grep -q -- "-m DIR" "$tmp/err" && ok chat_err_no_model || bad chat_err_no_model "$(cat "$tmp/err")"; }
"$T" chat -m tests/fixtures/models/bitnet_untied < /dev/null 2> "$tmp/err" && bad chat_err_no_tokenizer "exit 0" \
  || { grep -q "tokenizer" "$tmp/err" && ok chat_err_no_tokenizer || bad chat_err_no_tokenizer "$(cat "$tmp/err")"; }
[ $fails -eq 0 ]
