/*
 * Unit tests of the size parser (util/size.h): qemu-img's syntax, which
 * `hostel img` uses as it is, and the two widenings `hostel run` asks for
 * (a plain number is MiB; "KB"/"KiB" forms).
 */
#include <string.h>

#include "tap.h"
#include "util/size.h"

static const unsigned RUN = SIZE_PLAIN_MIB | SIZE_LONG_UNITS;

/* s parses under flags to want bytes. */
static void accepts(const char *s, unsigned flags, uint64_t want)
{
    uint64_t got = 0;
    Error err = {0};
    int rc = size_parse(s, flags, &got, &err);
    ok(rc == 0 && got == want, "'%s' (flags %u) is %" PRIu64 " bytes", s, flags, want);
    if (rc == 0 && got != want)
        printf("#   got %" PRIu64 "\n", got);
}

/* s is refused under flags, with a message, and the output is left alone. */
static void refuses(const char *s, unsigned flags)
{
    uint64_t got = 12345;
    Error err = {0};
    int rc = size_parse(s, flags, &got, &err);
    ok(rc < 0 && got == 12345 && strstr(err.msg, "size") != NULL, "'%s' (flags %u) is refused", s,
       flags);
}

int main(void)
{
    /* qemu-img's rules: test_img.py's create sizes, compared there with qemu-img. */
    accepts("1000", 0, 1000);
    accepts("1.5k", 0, 1536);
    accepts("0x1000", 0, 4096);
    accepts("1M", 0, 1u << 20);
    accepts("07", 0, 7);
    accepts("1b", 0, 1);
    accepts("1B", 0, 1);
    accepts("0", 0, 0);
    accepts("2G", 0, 2ull << 30);
    accepts("0.5k", 0, 512);
    accepts("  4k", 0, 4096);
    accepts("1T", 0, 1ull << 40);
    accepts("3P", 0, 3ull << 50);
    accepts("7E", 0, 7ull << 60);
    accepts("9223372036854775807", 0, INT64_MAX);
    refuses("1.5", 0); /* no fraction of a byte */
    refuses("1.5b", 0);
    refuses("abc", 0);
    refuses("1KiB", 0); /* qemu-img has no long forms */
    refuses("1MB", 0);
    refuses("9E", 0); /* above INT64_MAX */
    refuses("-5", 0);
    refuses("1k ", 0);
    refuses("", 0);
    refuses("1.", 0);
    refuses("0x", 0);
    refuses("0x1k", 0);
    refuses("99999999999999999999", 0);
    refuses("12x", 0);

    /* hostel run's options: plain numbers are MiB, the long forms are powers of 1024. */
    accepts("256", RUN, 256ull << 20);
    accepts("512M", RUN, 512ull << 20);
    accepts("512m", RUN, 512ull << 20);
    accepts("512MB", RUN, 512ull << 20);
    accepts("512MiB", RUN, 512ull << 20);
    accepts("16384K", RUN, 16384ull << 10);
    accepts("16384KiB", RUN, 16384ull << 10);
    accepts("2G", RUN, 2ull << 30);
    accepts("2T", RUN, 2ull << 40);
    accepts("20001K", RUN, 20001ull << 10);
    accepts("1b", RUN, 1);
    refuses("12x", RUN);
    refuses("1bB", RUN); /* "B" and "iB" follow a unit of 1024 or more */
    refuses("1MiBs", RUN);
    refuses("1Mi", RUN);
    refuses("99999999999999999999G", RUN);
    refuses("8E", RUN);
    refuses("1.5", RUN); /* a fraction needs its unit written */
    return tap_done();
}
