/*
 * test_isa.c - kernel level selection: $TRIT_ISA lowers (never raises) the
 * detected level, every level name maps to its kernel table (levels of
 * another architecture to the scalar one), and, when $TRIT_EXPECT_ISA is
 * set, the level in effect is that one. tests/cross_aarch64.sh runs it
 * under qemu with CPU models with and without the dot product to check the
 * AArch64 detection.
 */
#include <stdint.h>
#include "tt.h"
#include "kernels/kernels.h"

static const struct {
    const char *name;
    trit_isa isa;
} levels[] = {{"scalar", TRIT_ISA_SCALAR},
              {"avx2", TRIT_ISA_AVX2},
              {"avx512", TRIT_ISA_AVX512},
              {"neon", TRIT_ISA_NEON},
              {"neon_dotprod", TRIT_ISA_NEON_DOTPROD}};
enum { N_LEVELS = sizeof levels / sizeof levels[0] };

/* The value of $TRIT_ISA when the program started ("" if unset). */
static char env0[64];

/* Whether the rule of trit_cpu_isa lets want replace the detected best. */
static int may_lower(trit_isa want, trit_isa best) {
    return want == TRIT_ISA_SCALAR || want == best || (want == TRIT_ISA_AVX2 && best == TRIT_ISA_AVX512) ||
           (want == TRIT_ISA_NEON && best == TRIT_ISA_NEON_DOTPROD);
}

/* $TRIT_EXPECT_ISA (set by the cross test script) names the level that
 * detection plus the initial $TRIT_ISA must give. */
static void test_expected_level(void) {
    const char *want = getenv("TRIT_EXPECT_ISA");
    printf("# detected level with TRIT_ISA=\"%s\": %s (expected: %s)\n", env0, trit_isa_name(),
           want ? want : "any");
    if (want) CHECK(!strcmp(trit_isa_name(), want), "level %s, expected %s", trit_isa_name(), want);
}

/* Every name: allowed ones give that level, the others the detected best;
 * unknown names and the empty string give the best. */
static void test_env_lowers_never_raises(void) {
    unsetenv("TRIT_ISA");
    const trit_isa best = trit_cpu_isa();
#if defined(__x86_64__)
    CHECK(best == TRIT_ISA_SCALAR || best == TRIT_ISA_AVX2 || best == TRIT_ISA_AVX512, "x86 level %d", (int)best);
#elif defined(__aarch64__)
    CHECK(best == TRIT_ISA_NEON || best == TRIT_ISA_NEON_DOTPROD || best == TRIT_ISA_SCALAR, "aarch64 level %d",
          (int)best);
#endif
    for (int i = 0; i < N_LEVELS; i++) {
        setenv("TRIT_ISA", levels[i].name, 1);
        const trit_isa got = trit_cpu_isa(), want = may_lower(levels[i].isa, best) ? levels[i].isa : best;
        CHECK(got == want, "TRIT_ISA=%s on %s: got %s, want %s", levels[i].name, trit_isa_str(best),
              trit_isa_str(got), trit_isa_str(want));
        CHECK(!strcmp(trit_isa_name(), trit_isa_str(got)), "trit_isa_name %s", trit_isa_name());
    }
    setenv("TRIT_ISA", "bogus", 1);
    CHECK(trit_cpu_isa() == best, "unknown name");
    setenv("TRIT_ISA", "", 1);
    CHECK(trit_cpu_isa() == best, "empty name");
    if (env0[0]) setenv("TRIT_ISA", env0, 1);
    else unsetenv("TRIT_ISA");
}

/* Level names round-trip through trit_isa_str; the table of a level of this
 * architecture carries its name, other levels get the scalar table. */
static void test_tables(void) {
    for (int i = 0; i < N_LEVELS; i++) {
        CHECK(!strcmp(trit_isa_str(levels[i].isa), levels[i].name), "name of level %d", (int)levels[i].isa);
        const trit_kernels *k = trit_kernels_for(levels[i].isa);
        int native = levels[i].isa == TRIT_ISA_SCALAR;
#if defined(__x86_64__)
        native |= levels[i].isa == TRIT_ISA_AVX2 || levels[i].isa == TRIT_ISA_AVX512;
#elif defined(__aarch64__)
        native |= levels[i].isa == TRIT_ISA_NEON || levels[i].isa == TRIT_ISA_NEON_DOTPROD;
#endif
        /* the AVX2 level's table is "avx2-vnni" on CPUs with AVX-VNNI */
        const char *want = !native ? "scalar"
                         : levels[i].isa == TRIT_ISA_AVX2 && trit_cpu_has_avxvnni() ? "avx2-vnni" : levels[i].name;
        CHECK(!strcmp(k->name, want), "table of %s: %s, want %s", levels[i].name, k->name, want);
        CHECK(k->tmatmul && k->dmatmul && k->bmatmul, "table of %s has every kernel", levels[i].name);
    }
}

int main(void) {
    const char *e = getenv("TRIT_ISA");
    snprintf(env0, sizeof env0, "%s", e ? e : "");
    RUN(test_expected_level);
    RUN(test_env_lowers_never_raises);
    RUN(test_tables);
    return TT_END();
}
