/*
 * tt.h - the smallest test harness: each test is a function; CHECK records a
 * failure with file:line and a message and the test continues. Every test
 * prints "PASS name" or "FAIL name" and main returns non-zero if any failed.
 * tests/run_tests.sh adds up the PASS/FAIL lines of all test programs.
 */
#ifndef TT_H
#define TT_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int failed_tests, passed_tests, cur_failed; } tt_state;
static tt_state tt_st;

#define CHECK(cond, ...) do { if (!(cond)) { \
    tt_st.cur_failed++; \
    fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

#define CHECK_NEAR(a, b, tol, what) do { double _a = (a), _b = (b); \
    CHECK(fabs(_a - _b) <= (tol), "%s: %.9g vs %.9g (tol %g)", what, _a, _b, (double)(tol)); } while (0)

#define RUN(fn) do { tt_st.cur_failed = 0; fn(); \
    if (tt_st.cur_failed) { tt_st.failed_tests++; printf("FAIL %s\n", #fn); } \
    else { tt_st.passed_tests++; printf("PASS %s\n", #fn); } fflush(stdout); } while (0)

#define TT_END() (printf("# %d passed, %d failed\n", tt_st.passed_tests, tt_st.failed_tests), \
                  tt_st.failed_tests ? 1 : 0)

/* Directory of test data, relative to the repo root (tests run from there). */
#define TT_FIXTURES "tests/fixtures"
#endif
