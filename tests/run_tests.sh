#!/bin/sh
# Runs every test program (normal and ASan/UBSan builds) and every CLI test
# script, then prints the total as "N passed, N failed".
# A program that exits non-zero without printing a FAIL line (a crash, a
# sanitizer report) counts as one failure; so does one that runs past
# TEST_TIMEOUT seconds (a hang: exit 124).
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
limit=${TEST_TIMEOUT:-600}
run_one() { # label, command...
    label=$1; shift
    timeout -k 10 "$limit" "$@" >"$log" 2>&1; rc=$?
    [ "$rc" -eq 124 ] && echo "FAIL still running after $limit s (hang?), killed" >>"$log"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $label (exit $rc, no FAIL line)"; fi
    grep -E '^(PASS|FAIL|SKIP) ' "$log" | sed "s|^|[$label] |"
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then echo "---- output of $label ----"; tail -n 40 "$log"; fi
    pass=$((pass + p)); fail=$((fail + f))
}
for t in build/tests/test_*; do
    [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
for t in build-asan/tests/test_*; do
    [ -x "$t" ] && run_one "asan/$(basename "$t")" "$t"
done
for s in tests/cli_*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" sh "$s" build/trit
    [ -x build-asan/trit ] && run_one "asan/$(basename "$s")" sh "$s" build-asan/trit
done
# AArch64 NEON kernels: cross-built and run under qemu-user (SKIP without the tools)
limit=1500 # many programs, each with its own limit of 300 s
run_one aarch64 sh tests/cross_aarch64.sh
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
