/*
 * What pool.c and pool_volume.c share and nobody else needs: failing with
 * a classified code (pool.h lists them).  Private to src/mgmt.
 */
#ifndef HOSTEL_MGMT_POOL_INT_H
#define HOSTEL_MGMT_POOL_INT_H

#include "util/error.h"

/* Fill err (if not NULL) with the formatted line; returns code (a negative errno). */
int pool_fail(Error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same with ": strerror(errnum)" appended. */
int pool_fail_errno(Error *err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
