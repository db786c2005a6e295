/*
 * hostel img compare [-f FMT] [-F FMT] [-s] [-p] [-q] [-U] A B
 *
 * Exit status as qemu-img's: 0 identical, 1 different, 2 error.  Images of
 * different sizes are equal when the longer one's extra part reads as
 * zeroes, unless -s (strict) is given; -s also requires the same
 * allocation status everywhere.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img/img_util.h"

enum { CMP_SAME = 0, CMP_DIFFERENT = 1, CMP_ERROR = 2 };

/* qemu-img reports the first differing 512-byte sector, not byte. */
#define CMP_SECTOR 512

typedef struct CompareArgs {
    const char *format1, *format2;
    const char *file1, *file2;
    bool strict, progress, quiet, share;
} CompareArgs;

typedef struct Compare {
    const CompareArgs *a;
    BlockDev *bd1, *bd2;
    uint8_t *buf1, *buf2;
    ImgProgress prog;
    uint64_t total; /* the longer image's size, for the progress bar */
    Error err;
} Compare;

static int compare_parse(CompareArgs *a, int argc, char **argv)
{
    static const struct option longopts[] = {{"force-share", no_argument, NULL, 'U'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":f:F:spqU", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': a->format1 = optarg; break;
        case 'F': a->format2 = optarg; break;
        case 's': a->strict = true; break;
        case 'p': a->progress = true; break;
        case 'q': a->quiet = true; break;
        case 'U': a->share = true; break;
        default: img_bad_option("compare", c, argv); return CMP_ERROR;
        }
    }
    if (argc - optind != 2) {
        img_usage_error("compare", "expected two image file names");
        return CMP_ERROR;
    }
    a->file1 = argv[optind];
    a->file2 = argv[optind + 1];
    return 0;
}

/* Print a verdict line unless -q; returns status. */
static int compare_say(Compare *c, int status, const char *fmt, uint64_t off)
{
    if (!c->a->quiet) {
        img_progress_end(&c->prog);
        printf(fmt, off);
    }
    return status;
}

/* Offset of the first differing sector in [0, n) of the two buffers, or n. */
static size_t compare_first_diff(const uint8_t *b1, const uint8_t *b2, size_t n)
{
    for (size_t i = 0; i < n; i += CMP_SECTOR) {
        size_t k = n - i < CMP_SECTOR ? n - i : CMP_SECTOR;
        if (memcmp(b1 + i, b2 + i, k) != 0)
            return i;
    }
    return n;
}

static int compare_chunk(Compare *c, uint64_t off, uint64_t len, uint64_t *done)
{
    uint64_t p1, p2, h;
    unsigned f1, f2, d;
    if (img_chain_status(c->bd1, off, len, &p1, &f1, &h, &d, &c->err) < 0 ||
        img_chain_status(c->bd2, off, len, &p2, &f2, &h, &d, &c->err) < 0)
        return -1;
    uint64_t n = img_min(img_min(p1, p2), IMG_CHUNK);
    const unsigned mask = BLOCK_ST_ALLOCATED | BLOCK_ST_DATA | BLOCK_ST_ZERO;
    *done = n;
    if (c->a->strict && (f1 & mask) != (f2 & mask))
        return compare_say(c, CMP_DIFFERENT,
                           "Strict mode: Offset %" PRIu64 " block status mismatch!\n", off);
    bool zero1 = (f1 & BLOCK_ST_ZERO) && !(f1 & BLOCK_ST_DATA);
    bool zero2 = (f2 & BLOCK_ST_ZERO) && !(f2 & BLOCK_ST_DATA);
    if (zero1 && zero2)
        return CMP_SAME;
    if (block_pread(c->bd1, off, c->buf1, n, &c->err) < 0 ||
        block_pread(c->bd2, off, c->buf2, n, &c->err) < 0)
        return -1;
    size_t diff = compare_first_diff(c->buf1, c->buf2, n);
    if (diff < n)
        return compare_say(c, CMP_DIFFERENT, "Content mismatch at offset %" PRIu64 "!\n",
                           off + diff);
    return CMP_SAME;
}

/* The longer image's extra part must read as zeroes. */
static int compare_tail(Compare *c, BlockDev *longer, uint64_t off, uint64_t end, uint64_t *done)
{
    uint64_t pnum, h;
    unsigned flags, d;
    if (img_chain_status(longer, off, end - off, &pnum, &flags, &h, &d, &c->err) < 0)
        return -1;
    uint64_t n = img_min(pnum, IMG_CHUNK);
    *done = n;
    if ((flags & BLOCK_ST_ZERO) && !(flags & BLOCK_ST_DATA))
        return CMP_SAME;
    if (block_pread(longer, off, c->buf1, n, &c->err) < 0)
        return -1;
    memset(c->buf2, 0, n);
    size_t diff = compare_first_diff(c->buf1, c->buf2, n);
    if (diff < n)
        return compare_say(c, CMP_DIFFERENT, "Content mismatch at offset %" PRIu64 "!\n",
                           off + diff);
    return CMP_SAME;
}

static int compare_images(Compare *c)
{
    uint64_t len1 = block_length(c->bd1), len2 = block_length(c->bd2);
    uint64_t common = img_min(len1, len2), done;
    BlockDev *longer = len1 > len2 ? c->bd1 : c->bd2;
    if (len1 != len2) {
        if (c->a->strict)
            return compare_say(c, CMP_DIFFERENT, "Strict mode: Image size mismatch!\n", 0);
        if (!c->a->quiet)
            printf("Warning: Image size mismatch!\n");
    }
    c->total = len1 > len2 ? len1 : len2;
    img_progress_start(&c->prog, c->a->progress && !c->a->quiet);
    for (uint64_t off = 0; off < c->total; off += done) {
        int r = off < common ? compare_chunk(c, off, common - off, &done)
                             : compare_tail(c, longer, off, c->total, &done);
        if (r != CMP_SAME)
            return r < 0 ? -1 : r;
        img_progress_update(&c->prog, off + done, c->total);
    }
    return compare_say(c, CMP_SAME, "Images are identical.\n", 0);
}

static int compare_open(Compare *c)
{
    unsigned flags = c->a->share ? IMG_OPEN_SHARE : 0;
    c->bd1 = img_open(c->a->file1, c->a->format1, flags, &c->err);
    if (c->bd1)
        c->bd2 = img_open(c->a->file2, c->a->format2, flags, &c->err);
    c->buf1 = malloc(IMG_CHUNK);
    c->buf2 = malloc(IMG_CHUNK);
    if (c->bd2 && (!c->buf1 || !c->buf2))
        return error_set(&c->err, "out of memory");
    return c->bd2 ? 0 : -1;
}

static int img_compare(int argc, char **argv)
{
    CompareArgs a = {0};
    int rc = compare_parse(&a, argc, argv);
    if (rc)
        return rc;
    Compare c = {.a = &a};
    rc = compare_open(&c) < 0 ? -1 : compare_images(&c);
    if (rc < 0) {
        img_progress_end(&c.prog);
        img_fail(&c.err);
        rc = CMP_ERROR;
    }
    block_close(c.bd1);
    block_close(c.bd2);
    free(c.buf1);
    free(c.buf2);
    return rc;
}

const ImgCommand img_cmd_compare = {
    .name = "compare",
    .run = img_compare,
    .summary = "compare the contents of two images",
    .usage = "usage: hostel img compare [-f FMT] [-F FMT] [-s] [-p] [-q] [-U] FILE1 FILE2\n\n"
             "Compare what a guest would read from two images (through their backing\n"
             "chains).  Exit status: 0 identical, 1 different, 2 error.  Images of\n"
             "different sizes match if the longer one's extra part reads as zeroes.\n\n"
             "  -f FMT   format of FILE1 (default: probed)\n"
             "  -F FMT   format of FILE2 (default: probed)\n"
             "  -s       strict: sizes and allocation status must match too\n"
             "  -p       show a progress bar\n"
             "  -q       quiet: only the exit status\n"
             "  -U       do not lock the images\n",
};
