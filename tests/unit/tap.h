/*
 * A tiny TAP producer for unit tests: one binary per module, each check a
 * numbered "ok"/"not ok" line, the plan printed at the end, exit status 1
 * if anything failed and 77 for a skip (meson's convention).
 */
#ifndef HOSTEL_TESTS_TAP_H
#define HOSTEL_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                              \
    do {                                                                                           \
        int ok_c_ = !!(cond);                                                                      \
        tap_n++;                                                                                   \
        if (!ok_c_)                                                                                \
            tap_failed++;                                                                          \
        printf("%sok %d - ", ok_c_ ? "" : "not ", tap_n);                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        if (!ok_c_)                                                                                \
            printf("#   at %s:%d: %s\n", __FILE__, __LINE__, #cond);                               \
    } while (0)

#define is_u64(got, want, ...)                                                                     \
    do {                                                                                           \
        uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                                      \
        ok(g_ == w_, __VA_ARGS__);                                                                 \
        if (g_ != w_)                                                                              \
            printf("#   got 0x%016" PRIx64 " want 0x%016" PRIx64 "\n", g_, w_);                    \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
