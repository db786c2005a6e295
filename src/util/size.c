/* The size parser (see size.h for the rules). */
#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Bytes per unit letter; 0 if c is not one. */
static uint64_t size_unit(char c)
{
    switch (tolower((unsigned char)c)) {
    case 'b': return 1;
    case 'k': return 1ull << 10;
    case 'm': return 1ull << 20;
    case 'g': return 1ull << 30;
    case 't': return 1ull << 40;
    case 'p': return 1ull << 50;
    case 'e': return 1ull << 60;
    default: return 0;
    }
}

/* The unit that suffix (what follows the number) names; 0 if none of the allowed ones. */
static uint64_t size_suffix(const char *suffix, unsigned flags)
{
    if (!*suffix)
        return flags & SIZE_PLAIN_MIB ? 1ull << 20 : 1;
    uint64_t unit = size_unit(suffix[0]);
    const char *rest = suffix + 1;
    if (!unit || !*rest)
        return unit;
    bool long_form = strcmp(rest, "B") == 0 || strcmp(rest, "iB") == 0;
    return (flags & SIZE_LONG_UNITS) && unit > 1 && long_form ? unit : 0;
}

static int size_parse_hex(const char *s, uint64_t *bytes, Error *err)
{
    char *end;
    errno = 0;
    if (!isxdigit((unsigned char)s[2]))
        return error_set(err, "'%s' is not a size", s);
    unsigned long long v = strtoull(s + 2, &end, 16);
    if (errno || *end || v > INT64_MAX)
        return error_set(err, "'%s' is not a size (hex: digits only, at most 2^63-1)", s);
    *bytes = v;
    return 0;
}

/* The digits of a fraction after '.': value / scale (later digits cannot matter). */
static const char *size_fraction(const char *s, unsigned __int128 *frac, unsigned __int128 *scale)
{
    for (; isdigit((unsigned char)*s); s++) {
        if (*scale < 1000000000000000000ull) {
            *frac = *frac * 10 + (unsigned)(*s - '0');
            *scale *= 10;
        }
    }
    return s;
}

int size_parse(const char *text, unsigned flags, uint64_t *bytes, Error *err)
{
    const char *s = text;
    while (isspace((unsigned char)*s))
        s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return size_parse_hex(s, bytes, err);
    if (!isdigit((unsigned char)*s))
        return error_set(err, "'%s' is not a size", text);
    unsigned __int128 whole = 0, frac = 0, scale = 1;
    for (; isdigit((unsigned char)*s); s++) {
        whole = whole * 10 + (unsigned)(*s - '0');
        if (whole > INT64_MAX)
            return error_set(err, "'%s' is too large a size", text);
    }
    bool has_frac = *s == '.';
    if (has_frac) {
        if (!isdigit((unsigned char)*++s))
            return error_set(err, "'%s' is not a size", text);
        s = size_fraction(s, &frac, &scale);
    }
    uint64_t unit = size_suffix(s, flags);
    if (!unit || (has_frac && (!*s || unit == 1)))
        return error_set(err, "'%s' is not a size", text); /* no fractions of a byte */
    unsigned __int128 v = whole * unit + frac * unit / scale;
    if (v > INT64_MAX)
        return error_set(err, "'%s' is too large a size", text);
    *bytes = (uint64_t)v;
    return 0;
}
