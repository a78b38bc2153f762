/*
 * cpu.c - CPU feature detection for kernel dispatch.
 */
#include <stdlib.h>
#include <string.h>
#include "core/core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* Reads XCR0 to learn which register states the OS saves. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static trit_isa detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return TRIT_ISA_SCALAR;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return TRIT_ISA_SCALAR;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 6) != 6) return TRIT_ISA_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return TRIT_ISA_SCALAR;
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int vnni = (c >> 11) & 1;
    int zmm_os = (xcr0 & 0xe6) == 0xe6;
    if (avx512f && avx512bw && avx512vl && avx512dq && vnni && zmm_os && avx2 && fma) return TRIT_ISA_AVX512;
    if (avx2 && fma && f16c) return TRIT_ISA_AVX2;
    return TRIT_ISA_SCALAR;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

/* The kernel's hwcaps: NEON (asimd) and the dot product (asimddp). The f16
 * conversions used by the dense kernels (fcvtl) are base AArch64, so FPHP /
 * ASIMDHP are not needed. */
static trit_isa detect(void) {
    unsigned long hw = getauxval(AT_HWCAP);
    if (!(hw & HWCAP_ASIMD)) return TRIT_ISA_SCALAR;
    if (hw & HWCAP_ASIMDDP) return TRIT_ISA_NEON_DOTPROD;
    return TRIT_ISA_NEON;
}
#elif defined(__aarch64__) && defined(__APPLE__)
/* Every Apple arm64 core (M1 and later) has the dot product. */
static trit_isa detect(void) { return TRIT_ISA_NEON_DOTPROD; }
#elif defined(__aarch64__)
static trit_isa detect(void) { return TRIT_ISA_NEON; }
#else
static trit_isa detect(void) { return TRIT_ISA_SCALAR; }
#endif

const char *trit_isa_str(trit_isa isa) {
    switch (isa) {
    case TRIT_ISA_AVX2: return "avx2";
    case TRIT_ISA_AVX512: return "avx512";
    case TRIT_ISA_NEON: return "neon";
    case TRIT_ISA_NEON_DOTPROD: return "neon_dotprod";
    default: return "scalar";
    }
}

/* Best supported level, lowered (never raised) by $TRIT_ISA. */
trit_isa trit_cpu_isa(void) {
    trit_isa best = detect();
    const char *env = getenv("TRIT_ISA");
    if (env && *env) {
        trit_isa want = best;
        if (!strcmp(env, "scalar")) want = TRIT_ISA_SCALAR;
        else if (!strcmp(env, "avx2")) want = TRIT_ISA_AVX2;
        else if (!strcmp(env, "avx512")) want = TRIT_ISA_AVX512;
        else if (!strcmp(env, "neon")) want = TRIT_ISA_NEON;
        else if (!strcmp(env, "neon_dotprod")) want = TRIT_ISA_NEON_DOTPROD;
        int ok = want == TRIT_ISA_SCALAR || want == best ||
                 (want == TRIT_ISA_AVX2 && best == TRIT_ISA_AVX512) ||
                 (want == TRIT_ISA_NEON && best == TRIT_ISA_NEON_DOTPROD);
        if (ok) return want;
    }
    return best;
}

/* Best supported level, whatever $TRIT_ISA says. */
trit_isa trit_cpu_isa_detected(void) { return detect(); }

const char *trit_isa_name(void) { return trit_isa_str(trit_cpu_isa()); }

/* Does the CPU have AVX-VNNI (the VEX-encoded 256-bit vpdpbusd: CPUID leaf 7
 * subleaf 1, EAX bit 4) with the AVX state enabled by the OS? $TRIT_ISA does
 * not affect it (callers use it only at the AVX2 level); $TRIT_NO_AVXVNNI
 * (set, not "0") turns it off, to measure the plain AVX2 kernels. */
int trit_cpu_has_avxvnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    const char *off = getenv("TRIT_NO_AVXVNNI");
    if (off && *off && strcmp(off, "0") != 0) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0;
    if ((read_xcr0() & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 4) & 1;
#else
    return 0;
#endif
}
