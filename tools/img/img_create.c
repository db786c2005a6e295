/*
 * hostel img create [-f raw|qcow2] [-b BACKING [-F FMT]] [-o OPTS] [-u] [-q] FILE [SIZE]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img/img_util.h"

typedef struct CreateArgs {
    const char *format;
    const char *file;
    bool unsafe; /* -u: do not open the backing file */
    bool quiet;
    bool size_given;
    uint64_t size;
    ImgCreateOpts co;
} CreateArgs;

static int create_parse(CreateArgs *a, int argc, char **argv, Error *err)
{
    const char *backing = NULL, *backing_fmt = NULL;
    int c;
    while ((c = getopt(argc, argv, ":f:b:F:o:uq")) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 'b': backing = optarg; break;
        case 'F': backing_fmt = optarg; break;
        case 'o':
            if (img_create_opts_add(&a->co, optarg, err) < 0)
                return img_fail(err);
            break;
        case 'u': a->unsafe = true; break;
        case 'q': a->quiet = true; break;
        default: return img_bad_option("create", c, argv);
        }
    }
    if (img_create_opts_parse(&a->co, err) < 0)
        return img_error("%s", err->msg);
    if (a->co.help)
        return 0;
    if (optind >= argc)
        return img_usage_error("create", "expected an image file name");
    if (argc - optind > 2)
        return img_usage_error("create", "unexpected argument '%s'", argv[optind + 2]);
    a->file = argv[optind];
    if (optind + 1 < argc) {
        if (!img_parse_size(argv[optind + 1], &a->size))
            return img_error("invalid image size '%s': use k, M, G, T, P or E suffixes "
                             "(at most 8 EiB - 1)",
                             argv[optind + 1]);
        a->size_given = true;
    }
    if (backing)
        a->co.o.backing_file = backing;
    if (backing_fmt)
        a->co.o.backing_fmt = backing_fmt;
    if (a->co.size_set && !a->size_given) {
        a->size = a->co.o.size;
        a->size_given = true;
    }
    return 0;
}

/*
 * Open the backing file as the new image will (its name relative to the
 * new image's directory) for its size and format.  With -u a backing file
 * that cannot be opened is fine as long as the size is known.
 */
static int create_check_backing(CreateArgs *a, Error *err)
{
    BlockCreateOpts *o = &a->co.o;
    char *path = block_backing_path(a->file, o->backing_file);
    if (!path)
        return img_error("out of memory");
    BlockDev *bd = img_open(path, o->backing_fmt, IMG_OPEN_NO_BACKING | IMG_OPEN_SHARE, err);
    free(path);
    if (!bd && a->unsafe && a->size_given)
        return 0;
    if (!bd && a->unsafe)
        return img_error("%s: image creation needs a size (cannot open the backing file "
                         "for its size: %s)",
                         a->file, err->msg);
    if (!bd)
        return img_error("%s: cannot open backing file: %s", a->file, err->msg);
    if (!a->size_given) {
        a->size = block_length(bd);
        a->size_given = true;
    }
    if (!o->backing_fmt)
        o->backing_fmt = bd->drv->format; /* static string: outlives bd */
    block_close(bd);
    return 0;
}

static void create_print(const CreateArgs *a)
{
    const BlockCreateOpts *o = &a->co.o;
    printf("Formatting '%s', fmt=%s", a->file, a->format);
    if (strcmp(a->format, "qcow2") == 0)
        printf(" cluster_size=%" PRIu32 " extended_l2=%s",
               o->cluster_size ? o->cluster_size : 65536, o->extended_l2 ? "on" : "off");
    if (o->preallocation)
        printf(" preallocation=%s", o->preallocation);
    if (strcmp(a->format, "qcow2") == 0)
        printf(" compression_type=%s", o->compression_type ? o->compression_type : "zlib");
    printf(" size=%" PRIu64, o->size);
    if (o->backing_file)
        printf(" backing_file=%s", o->backing_file);
    if (o->backing_fmt)
        printf(" backing_fmt=%s", o->backing_fmt);
    if (strcmp(a->format, "qcow2") == 0) {
        if (o->compat)
            printf(" compat=%s", o->compat == 2 ? "0.10" : "1.1");
        printf(" lazy_refcounts=%s refcount_bits=%u", o->lazy_refcounts ? "on" : "off",
               o->refcount_bits ? o->refcount_bits : 16);
    }
    putchar('\n');
    fflush(stdout);
}

/* Check the options, settle size and backing format, create the file. */
static int create_run(CreateArgs *a, Error *err)
{
    if (img_create_opts_check(&a->co, a->format, err) < 0)
        return img_error("%s: %s", a->file, err->msg);
    if (a->co.o.backing_file) {
        int rc = create_check_backing(a, err);
        if (rc)
            return rc;
    }
    if (!a->size_given)
        return img_error("%s: image creation needs a size", a->file);
    a->co.o.size = (a->size + 511) & ~511ull; /* qemu-img rounds up to sectors */
    if (!a->quiet)
        create_print(a);
    return block_create(a->file, a->format, &a->co.o, err) < 0 ? img_fail(err) : 0;
}

static int img_create(int argc, char **argv)
{
    CreateArgs a = {.format = "raw"};
    Error err = {0};
    int rc = create_parse(&a, argc, argv, &err);
    if (rc == 0 && a.co.help)
        img_create_opts_help(a.format);
    else if (rc == 0)
        rc = create_run(&a, &err);
    img_create_opts_free(&a.co);
    return rc;
}

const ImgCommand img_cmd_create = {
    .name = "create",
    .run = img_create,
    .summary = "create a new image (raw or qcow2, optionally over a backing file)",
    .usage =
        "usage: hostel img create [-f FMT] [-b BACKING [-F BACKING_FMT]] [-o OPTS] [-u] [-q]\n"
        "                         FILE [SIZE]\n\n"
        "Create FILE of SIZE bytes (k, M, G, T, P, E suffixes; rounded up to 512).\n"
        "With a backing file SIZE defaults to the backing file's size.\n\n"
        "  -f FMT          raw (default) or qcow2\n"
        "  -b BACKING      backing file, relative to FILE's directory unless absolute\n"
        "  -F BACKING_FMT  format of the backing file (default: probed)\n"
        "  -o OPTS         KEY=VALUE,...: cluster_size, extended_l2=on|off,\n"
        "                  compression_type=zlib|zstd, preallocation=off|metadata|falloc|full,\n"
        "                  compat=0.10|1.1|v2|v3, lazy_refcounts=on|off, refcount_bits,\n"
        "                  backing_file, backing_fmt, size; '-o help' lists them\n"
        "  -u              unsafe: do not open the backing file (it may not exist yet)\n"
        "  -q              quiet: no 'Formatting ...' line\n",
};
