#!/bin/sh
# compare_peers.sh - trit against peer engines (llama.cpp, ik_llama.cpp, bitnet.cpp, ...)
# on one model shape, measured interleaved in the same session (issue 4).
#
# It builds nothing: point it at peer binaries and GGUF files you built yourself
# (docs/PERF.md says how). Every round runs, one after another,
#   trit bench -m MODEL -p P -n N -t T -r R --json [--lm-head H]   for each H in TRIT_LM_HEADS
#   PEER_BENCH -m GGUF -p P -n N -t T -r R -o json [EXTRA ARGS]      for each peer
# and the whole round is repeated ROUNDS times, the starting engine rotating by one
# each round so no engine always runs first (or right after a slow one). The table
# gives, per engine, the median over all repetitions of all rounds (and min-max),
# then trit / peer ratios of those medians.
#
# Usage: bench/compare_peers.sh [options] [--peer LABEL BENCH_BIN GGUF "EXTRA ARGS"]...
#   --trit BIN        trit binary (env TRIT, default build/trit)
#   --model DIR       trit model folder (env MODEL, default /tmp/2b4t)
#   --rounds N        rounds (env ROUNDS, default 3)
#   -p N / -n N       prompt / generated tokens (env P, N; default 128 / 64)
#   -t N              threads (env THREADS, default 2)
#   -r N              repetitions per run (env REPS, default 3)
#   --lm-heads "L"    trit configurations (env TRIT_LM_HEADS): lm_head modes H, or
#                     WF:H pairs adding --weights-format WF (e.g. "stored q6 1.6bit:q6");
#                     default "stored q8" when `trit bench -h` lists --lm-head and q8,
#                     else "stored")
#   --out DIR         keep the raw JSON/log of every run there (env OUT, default a temp dir)
#   --peer LABEL BENCH_BIN GGUF "EXTRA ARGS"   any llama-bench-compatible peer (repeatable)
# Peers from the environment (each used when both of its variables are set):
#   LLAMA_BENCH + LLAMA_TQ2 (and/or LLAMA_TQ1)   llama.cpp llama-bench with TQ2_0 / TQ1_0 GGUFs
#   IK_BENCH + IK_IQ2BN                          ik_llama.cpp llama-bench, IQ2_BN GGUF, run with -rtr 1
#   BITNET_BENCH + BITNET_I2S                    bitnet.cpp llama-bench, I2_S GGUF
#
# Note: llama-bench's tg test generates from an empty context, trit bench's generation
# follows its pp prompt (positions P..P+N-1): slightly more attention work for trit.
set -eu

TRIT=${TRIT:-build/trit}
MODEL=${MODEL:-/tmp/2b4t}
ROUNDS=${ROUNDS:-3}
P=${P:-128}
N=${N:-64}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
OUT=${OUT:-}
PY=${PYTHON:-python3}

die() { echo "compare_peers: $*" >&2; exit 1; }

PEERS_FILE=$(mktemp)   # one peer per line: LABEL<TAB>BIN<TAB>GGUF<TAB>EXTRA
trap 'rm -f "$PEERS_FILE"' EXIT
add_peer() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$PEERS_FILE"; }

while [ $# -gt 0 ]; do
    case $1 in
        --trit) TRIT=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        -p) P=$2; shift 2 ;;
        -n) N=$2; shift 2 ;;
        -t) THREADS=$2; shift 2 ;;
        -r) REPS=$2; shift 2 ;;
        --lm-heads) TRIT_LM_HEADS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --peer) [ $# -ge 5 ] || die "--peer needs LABEL BENCH_BIN GGUF \"EXTRA ARGS\""
                add_peer "$2" "$3" "$4" "$5"; shift 5 ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

if [ -n "${LLAMA_BENCH:-}" ] && [ -n "${LLAMA_TQ2:-}" ]; then
    add_peer "llama.cpp TQ2_0" "$LLAMA_BENCH" "$LLAMA_TQ2" ""
fi
if [ -n "${LLAMA_BENCH:-}" ] && [ -n "${LLAMA_TQ1:-}" ]; then
    add_peer "llama.cpp TQ1_0" "$LLAMA_BENCH" "$LLAMA_TQ1" ""
fi
if [ -n "${IK_BENCH:-}" ] && [ -n "${IK_IQ2BN:-}" ]; then
    add_peer "ik_llama.cpp IQ2_BN -rtr 1" "$IK_BENCH" "$IK_IQ2BN" "-rtr 1"
fi
if [ -n "${BITNET_BENCH:-}" ] && [ -n "${BITNET_I2S:-}" ]; then
    add_peer "bitnet.cpp I2_S" "$BITNET_BENCH" "$BITNET_I2S" ""
fi

[ -x "$TRIT" ] || die "trit binary $TRIT not found (run make)"
[ -d "$MODEL" ] || die "model folder $MODEL not found (trit synth --shape 2b4t -o $MODEL)"
command -v "$PY" >/dev/null 2>&1 || die "$PY not found (needed to read the JSON results)"
while IFS="$(printf '\t')" read -r label bin gguf extra; do
    [ -x "$bin" ] || die "$label: bench binary $bin not found or not executable"
    [ -f "$gguf" ] || die "$label: GGUF file $gguf not found"
done <"$PEERS_FILE"

if [ -z "${TRIT_LM_HEADS:-}" ]; then
    TRIT_LM_HEADS=stored
    if "$TRIT" bench -h 2>&1 | grep -q -- '--lm-head.*q8'; then TRIT_LM_HEADS="stored q8"; fi
fi
if [ -z "$OUT" ]; then OUT=$(mktemp -d); fi
mkdir -p "$OUT"

# Engine list: index<TAB>label<TAB>kind; kind "trit:HEAD" or "peer:LINE_NO".
ENGINES="$OUT/engines.tsv"
: >"$ENGINES"
i=0
for h in $TRIT_LM_HEADS; do
    printf '%d\ttrit (lm_head %s)\ttrit:%s\n' $i "$h" "$h" >>"$ENGINES"; i=$((i + 1))
done
ln=0
while IFS="$(printf '\t')" read -r label bin gguf extra; do
    ln=$((ln + 1)); printf '%d\t%s\tpeer:%d\n' $i "$label" $ln >>"$ENGINES"; i=$((i + 1))
done <"$PEERS_FILE"
NE=$i

echo "compare_peers: $NE engines x $ROUNDS rounds, pp$P / tg$N, $THREADS threads, $REPS reps per run; raw results in $OUT" >&2

run_engine() {   # run_engine INDEX ROUND
    line=$(sed -n "$(($1 + 1))p" "$ENGINES")
    label=$(printf '%s' "$line" | cut -f2)
    kind=$(printf '%s' "$line" | cut -f3)
    f="$OUT/e$1.r$2"
    echo "  round $2: $label" >&2
    case $kind in
        trit:*)
            h=${kind#trit:}; wf=
            case $h in *:*) wf=${h%%:*}; h=${h#*:} ;; esac
            set -- "$TRIT" bench -m "$MODEL" -p "$P" -n "$N" -t "$THREADS" -r "$REPS" --json
            if [ "$h" != stored ]; then set -- "$@" --lm-head "$h"; fi
            if [ -n "$wf" ]; then set -- "$@" --weights-format "$wf"; fi
            "$@" >"$f.out" 2>"$f.err" || die "$label failed (see $f.err)"
            tail -n 1 "$f.out" >"$f.json" ;;
        peer:*)
            pl=$(sed -n "${kind#peer:}p" "$PEERS_FILE")
            bin=$(printf '%s' "$pl" | cut -f2); gguf=$(printf '%s' "$pl" | cut -f3)
            extra=$(printf '%s' "$pl" | cut -f4)
            # shellcheck disable=SC2086  # EXTRA ARGS are split on purpose
            "$bin" -m "$gguf" -p "$P" -n "$N" -t "$THREADS" -r "$REPS" -o json $extra \
                >"$f.json" 2>"$f.err" || die "$label failed (see $f.err)"
            ;;
    esac
}

r=1
while [ $r -le "$ROUNDS" ]; do
    k=0
    while [ $k -lt "$NE" ]; do
        run_engine $(((k + r - 1) % NE)) $r
        k=$((k + 1))
    done
    r=$((r + 1))
done

"$PY" - "$OUT" "$NE" "$ROUNDS" "$P" "$N" "$THREADS" "$REPS" <<'EOF'
import json, os, statistics, sys
out, ne, rounds, P, N, T, R = sys.argv[1], *map(int, sys.argv[2:])
engines = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "engines.tsv"))]

def samples(path, kind):
    """(pp samples, tg samples) in tokens/s from one run's JSON."""
    d = json.load(open(path))
    if kind.startswith("trit:"):
        return d.get("pp_samples", []), d.get("tg_samples", [])
    pp, tg = [], []
    for t in d:                      # llama-bench: one object per test
        if t.get("n_prompt", 0) > 0 and t.get("n_gen", 0) == 0:
            pp += t["samples_ts"]
        elif t.get("n_gen", 0) > 0 and t.get("n_prompt", 0) == 0:
            tg += t["samples_ts"]
    return pp, tg

res = []
for idx, label, kind in engines:
    pp, tg = [], []
    for r in range(1, rounds + 1):
        a, b = samples(os.path.join(out, f"e{idx}.r{r}.json"), kind)
        pp += a; tg += b
    res.append((label, kind, pp, tg))

def med(v): return statistics.median(v) if v else float("nan")
def cell(v): return f"{med(v):.1f} ({min(v):.1f}-{max(v):.1f})" if v else "-"

print(f"pp{P} / tg{N} tokens/s, {T} threads: median over {rounds} rounds x {R} repetitions (min-max)\n")
print(f"| engine | pp{P} t/s | tg{N} t/s |")
print("| --- | ---: | ---: |")
for label, kind, pp, tg in res:
    print(f"| {label} | {cell(pp)} | {cell(tg)} |")
trits = [x for x in res if x[1].startswith("trit:")]
peers = [x for x in res if not x[1].startswith("trit:")]
if peers:
    print(f"\nRatios trit / peer (of the medians; > 1: trit faster)\n")
    print(f"| trit | peer | pp{P} | tg{N} |")
    print("| --- | --- | ---: | ---: |")
    for tl, _, tpp, ttg in trits:
        for pl, _, ppp, ptg in peers:
            rp = med(tpp) / med(ppp) if ppp and tpp else float("nan")
            rt = med(ttg) / med(ptg) if ptg and ttg else float("nan")
            print(f"| {tl} | {pl} | {rp:.2f}x | {rt:.2f}x |")
EOF
