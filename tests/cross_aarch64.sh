#!/bin/sh
# AArch64 (NEON) tests on an x86 host: cross-builds the core library and the
# tests that need only it (make cross-aarch64) and runs them under qemu-user:
# test_isa, test_kernels and test_models with CPU models with the dot product
# (max, neoverse-n1) and without it (cortex-a72, cortex-a53) and under each
# forced level (TRIT_ISA=scalar, neon, neon_dotprod); a few fast core tests
# once (AArch64 differs from x86 also in plain C: char is unsigned).
# Prints PASS/FAIL lines (one per test function and run) and a SKIP line when
# the cross tools are missing (make deps installs gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user). On an aarch64 host the native tests
# already cover this: SKIP.
cd "$(dirname "$0")/.." || exit 1
CROSS_CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
SYSROOT=${CROSS_SYSROOT:-/usr/aarch64-linux-gnu}
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)
case "$(uname -m)" in aarch64|arm64)
    echo "SKIP aarch64 cross tests: the host is aarch64 (the native tests run the NEON kernels)"; exit 0 ;;
esac
if ! command -v "$CROSS_CC" >/dev/null 2>&1 || [ -z "$QEMU" ] || [ ! -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
    echo "SKIP aarch64 cross tests: need $CROSS_CC, qemu-aarch64 and $SYSROOT (make deps installs gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
    exit 0
fi
log=$(mktemp); trap 'rm -f "$log"' EXIT
# (MAKEFLAGS of an enclosing make, e.g. make test, would pass its variables on)
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 cross-aarch64 CROSS_CC="$CROSS_CC" >"$log" 2>&1; then
    echo "FAIL aarch64 build (make cross-aarch64)"; tail -n 40 "$log"; exit 1
fi
if grep -Eq ':[0-9]+:[0-9]+: warning:' "$log"; then
    echo "FAIL aarch64 build: compiler warnings"; grep -E -A3 ':[0-9]+:[0-9]+: warning:' "$log" | head -n 40
else
    echo "PASS aarch64 build (make cross-aarch64, no warnings)"
fi
B=build-aarch64/core-tests
status=0
# run CPU TRIT_ISA EXPECTED TEST: one test program under qemu -cpu CPU with
# $TRIT_ISA (empty: unset) and $TRIT_EXPECT_ISA (empty: unset).
run() {
    cpu=$1; isa=$2; expect=$3; t=$4
    label="qemu-$cpu${isa:+ TRIT_ISA=$isa}"
    env ${isa:+TRIT_ISA=$isa} ${expect:+TRIT_EXPECT_ISA=$expect} timeout -k 10 300 "$QEMU" -L "$SYSROOT" -cpu "$cpu" "$B/$t" >"$log" 2>&1
    rc=$?
    [ "$rc" -eq 124 ] && echo "FAIL still running after 300 s (hang?), killed" >>"$log"
    sed -n "s/^\(PASS\|FAIL\) /\1 [$label] $t: /p" "$log"
    if [ "$rc" -ne 0 ]; then
        grep -q '^FAIL ' "$log" || echo "FAIL [$label] $t (exit $rc, no FAIL line)"
        echo "---- output of $t under $label ----"; tail -n 30 "$log"; status=1
    fi
}
# detection: with and without the dot product, and TRIT_ISA lowering only
run max "" neon_dotprod test_isa
run neoverse-n1 "" neon_dotprod test_isa
run cortex-a72 "" neon test_isa
run cortex-a53 "" neon test_isa
run cortex-a72 neon_dotprod neon test_isa
run max neon neon test_isa
run max scalar scalar test_isa
# kernels against the scalar reference on every level of the CPU model
run max "" "" test_kernels          # scalar, neon, neon_dotprod
run cortex-a72 "" "" test_kernels   # scalar, neon on a core without sdot
# whole models against the transformers fixtures, one forced level each
for isa in scalar neon neon_dotprod; do run max $isa "" test_models; done
run cortex-a72 "" "" test_models
# the rest of the core library (parsers, bad input, the trainer) once
for t in test_threads test_badinput test_json test_safetensors test_train test_binary test_tpack; do run max "" "" $t; done
exit $status
