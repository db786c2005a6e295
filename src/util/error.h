/*
 * Error reporting convention for all of hostel's library code.
 *
 * A function that can fail returns a negative number, false or NULL and, when
 * the caller passed a non-NULL Error, fills it with one human-readable line.
 * On success the Error is left untouched.  Only main() prints and exits.
 */
#ifndef HOSTEL_UTIL_ERROR_H
#define HOSTEL_UTIL_ERROR_H

#include <stdarg.h>

typedef struct Error {
    int code;      /* errno-style code, 0 when not errno-related */
    char msg[512]; /* one line, no trailing newline */
} Error;

/* Fill err (if non-NULL) with a formatted message; returns -1 for chaining. */
int error_set(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like error_set, appending ": strerror(errnum)"; returns -1. */
int error_set_errno(Error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
