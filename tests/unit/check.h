/*
 * check.h — assertions for the C unit tests. They never vanish under NDEBUG,
 * print both values on failure, and keep going so that one run reports every
 * failing case. Each test program ends with check_summary(), which prints
 * "N passed, N failed" and returns the exit status.
 *
 *   CHECK(cond)                  CHECK_EQ_INT(got, want)
 *   CHECK_EQ_STR(got, want)      CHECK_EQ_DBL(got, want, eps)
 *   CHECK_MSG(cond, fmt, ...)
 */
#ifndef LODESTAR_TESTS_CHECK_H
#define LODESTAR_TESTS_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static long check_passed_, check_failed_;

#define CHECK_REPORT_(ok, ...)                                   \
    do {                                                         \
        if (ok) {                                                \
            check_passed_++;                                     \
        } else {                                                 \
            check_failed_++;                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fputc('\n', stderr);                                 \
        }                                                        \
    } while (0)

#define CHECK(cond) CHECK_REPORT_((cond), "%s", #cond)
#define CHECK_MSG(cond, ...) CHECK_REPORT_((cond), __VA_ARGS__)

#define CHECK_EQ_INT(got, want)                                                        \
    do {                                                                               \
        long long g_ = (long long)(got), w_ = (long long)(want);                       \
        CHECK_REPORT_(g_ == w_, "%s == %s: got %lld, want %lld", #got, #want, g_, w_); \
    } while (0)

#define CHECK_EQ_STR(got, want)                                                                  \
    do {                                                                                         \
        const char *g_ = (got), *w_ = (want);                                                    \
        int ok_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;                                   \
        CHECK_REPORT_(ok_, "%s == %s: got \"%s\", want \"%s\"", #got, #want, g_ ? g_ : "(null)", \
                      w_ ? w_ : "(null)");                                                       \
    } while (0)

#define CHECK_EQ_DBL(got, want, eps)                                           \
    do {                                                                       \
        double g_ = (got), w_ = (want);                                        \
        CHECK_REPORT_(fabs(g_ - w_) <= (eps) || (isnan(g_) && isnan(w_)),      \
                      "%s == %s: got %.17g, want %.17g", #got, #want, g_, w_); \
    } while (0)

static inline int check_summary(void)
{
    printf("%ld passed, %ld failed\n", check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
