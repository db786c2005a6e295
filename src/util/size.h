/*
 * Sizes on command lines: one parser for `hostel run -m`, the disk options
 * and `hostel img`, with one rule set (docs/cli.md, "Sizes"):
 *
 *   - a decimal number, optionally with a fraction, then an optional unit
 *     letter: b or B (bytes), k K M G T P E (powers of 1024, either case);
 *     a fraction needs a unit other than bytes ("1.5k" is 1536);
 *   - or "0x" and a hexadecimal number of bytes, without a unit;
 *   - leading blanks are skipped; nothing may follow; at most INT64_MAX
 *     bytes (qemu-img's limits, so `hostel img` reads sizes as it does).
 *
 * Two flags widen it for `hostel run`'s options, as lkvm and QEMU read -m:
 * SIZE_PLAIN_MIB makes a number without a unit MiB, and SIZE_LONG_UNITS
 * accepts "B" or "iB" after the unit letter ("512MB" and "512MiB" are
 * both 512 MiB: powers of 1024 either way).
 */
#ifndef HOSTEL_UTIL_SIZE_H
#define HOSTEL_UTIL_SIZE_H

#include <stdint.h>

#include "util/error.h"

enum {
    SIZE_PLAIN_MIB = 1 << 0,  /* a number without a unit is MiB (else bytes) */
    SIZE_LONG_UNITS = 1 << 1, /* "KB"/"KiB" ... "EB"/"EiB" as well as "K" ... "E" */
};

/*
 * Parse s by the rules above into *bytes.  Returns 0, or -1 with err
 * saying why (bad syntax, or more than INT64_MAX bytes); *bytes is then
 * unchanged.
 */
int size_parse(const char *s, unsigned flags, uint64_t *bytes, Error *err);

#endif
