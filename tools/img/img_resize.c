/*
 * hostel img resize [-f FMT] [--shrink] [-q] FILE [+|-]SIZE
 *
 * SIZE is taken off the end of the command line before option parsing, as
 * qemu-img does, so "-1G" is a size and not an option.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "img/img_util.h"

enum { OPT_SHRINK = 256 };

static const struct option resize_long[] = {
    {"shrink", no_argument, NULL, OPT_SHRINK},
    {NULL, 0, NULL, 0},
};

typedef struct ResizeArgs {
    const char *format;
    const char *file;
    const char *size;
    bool shrink;
    bool quiet;
} ResizeArgs;

static int resize_parse(ResizeArgs *a, int argc, char **argv)
{
    if (argc < 3)
        return img_usage_error("resize", "expected an image file name and a size");
    a->size = argv[--argc];
    int c;
    while ((c = getopt_long(argc, argv, ":f:q", resize_long, NULL)) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 'q': a->quiet = true; break;
        case OPT_SHRINK: a->shrink = true; break;
        default: return img_bad_option("resize", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage_error("resize", "expected one image file name and a size");
    a->file = argv[optind];
    return 0;
}

/* The new size from "+N", "-N" or "N" relative to cur; false (message printed) if invalid. */
static bool resize_target(const char *arg, uint64_t cur, uint64_t *out)
{
    uint64_t n;
    int sign = arg[0] == '+' ? 1 : arg[0] == '-' ? -1 : 0;
    if (!img_parse_size(arg + (sign != 0), &n)) {
        img_error("invalid image size '%s': use k, M, G, T, P or E suffixes", arg);
        return false;
    }
    if (sign < 0 && n > cur) {
        img_error("new image size must be positive (%" PRIu64 " - %" PRIu64 ")", cur, n);
        return false;
    }
    if (sign > 0 && n > (uint64_t)INT64_MAX - cur) {
        img_error("new image size is too large");
        return false;
    }
    *out = sign > 0 ? cur + n : sign < 0 ? cur - n : n;
    return true;
}

static int img_resize(int argc, char **argv)
{
    ResizeArgs a = {0};
    int rc = resize_parse(&a, argc, argv);
    if (rc)
        return rc;
    Error err = {0};
    BlockDev *bd = img_open(a.file, a.format, IMG_OPEN_RW | IMG_OPEN_NO_BACKING, &err);
    if (!bd)
        return img_fail(&err);
    uint64_t cur = block_length(bd), target;
    if (!resize_target(a.size, cur, &target))
        rc = IMG_EXIT_FAIL;
    else if (target < cur && !a.shrink)
        rc = img_error("%s: shrinking from %" PRIu64 " to %" PRIu64 " bytes deletes the data "
                       "past the new end: use --shrink to do it",
                       a.file, cur, target);
    else if (target != cur && (block_truncate(bd, target, &err) < 0 || block_flush(bd, &err) < 0))
        rc = img_fail(&err);
    block_close(bd);
    if (rc == 0 && !a.quiet)
        printf("Image resized.\n");
    return rc;
}

const ImgCommand img_cmd_resize = {
    .name = "resize",
    .run = img_resize,
    .summary = "change an image's virtual size",
    .usage = "usage: hostel img resize [-f FMT] [--shrink] [-q] FILE [+|-]SIZE\n\n"
             "Set FILE's virtual size to SIZE, or grow (+) or shrink (-) it by SIZE.\n\n"
             "  -f FMT     raw or qcow2 (default: probed)\n"
             "  --shrink   allow making the image smaller (the data past the new end is lost)\n"
             "  -q         quiet: no 'Image resized.' line\n",
};
