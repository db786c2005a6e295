/*
 * hostel img convert [-f FMT] [-O FMT] [-c] [-p] [-o OPTS] [-B BACKING [-F FMT]] [-n]
 *                    [-U] [-q] SRC... DST
 *
 * The sources (concatenated) are copied window by window.  Windows and
 * clusters that read as zeroes are not written, so the target stays thin;
 * when the target already has content (-n, or a backing file from -B) only
 * what differs from what it reads now is written.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img/img_util.h"
#include "util/zero.h"

#define CONV_MAX_SRC 64

typedef struct ConvertArgs {
    const char *src_fmt, *dst_fmt;
    const char *backing, *backing_fmt; /* -B, -F */
    const char *srcs[CONV_MAX_SRC];
    int nsrc;
    const char *dst;
    bool compress, progress, no_create, share, quiet;
    ImgCreateOpts co;
} ConvertArgs;

typedef struct Convert {
    ConvertArgs *a;
    BlockDev *src[CONV_MAX_SRC];
    BlockDev *dst;
    uint64_t total;     /* bytes to copy: the sources' sizes added */
    uint32_t gran;      /* unit of zero detection and of compressed writes */
    bool dst_blank;     /* the target reads as zeroes everywhere (fresh, no backing) */
    uint8_t *buf, *cur; /* the window from the sources / as the target reads it now */
    ImgProgress prog;
    Error err;
} Convert;

static int convert_parse(ConvertArgs *a, int argc, char **argv)
{
    static const struct option longopts[] = {{"force-share", no_argument, NULL, 'U'},
                                             {NULL, 0, NULL, 0}};
    int c;
    Error err = {0};
    while ((c = getopt_long(argc, argv, ":f:O:co:B:F:npUqt:T:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': a->src_fmt = optarg; break;
        case 'O': a->dst_fmt = optarg; break;
        case 'c': a->compress = true; break;
        case 'o':
            if (img_create_opts_add(&a->co, optarg, &err) < 0)
                return img_fail(&err);
            break;
        case 'B': a->backing = optarg; break;
        case 'F': a->backing_fmt = optarg; break;
        case 'n': a->no_create = true; break;
        case 'p': a->progress = true; break;
        case 'U': a->share = true; break;
        case 'q': a->quiet = true; break;
        case 't':
        case 'T': break; /* qemu-img's cache modes: accepted, the target is flushed */
        default: return img_bad_option("convert", c, argv);
        }
    }
    if (argc - optind < 2)
        return img_usage_error("convert", "expected a source and a target file name");
    if (argc - optind - 1 > CONV_MAX_SRC)
        return img_usage_error("convert", "at most %d source images", CONV_MAX_SRC);
    for (int i = optind; i < argc - 1; i++)
        a->srcs[a->nsrc++] = argv[i];
    a->dst = argv[argc - 1];
    if (img_create_opts_parse(&a->co, &err) < 0)
        return img_error("%s: %s", a->dst, err.msg);
    if (a->no_create && (a->co.buf || a->backing))
        return img_usage_error("convert", "-n uses the existing target: no -o or -B");
    return 0;
}

static int convert_open_sources(Convert *c)
{
    unsigned flags = c->a->share ? IMG_OPEN_SHARE : 0;
    for (int i = 0; i < c->a->nsrc; i++) {
        c->src[i] = img_open(c->a->srcs[i], c->a->src_fmt, flags, &c->err);
        if (!c->src[i])
            return -1;
        c->total += block_length(c->src[i]);
    }
    return 0;
}

/* Create the target as -O/-o/-B say, sized to hold the sources. */
static int convert_create(Convert *c)
{
    ConvertArgs *a = c->a;
    BlockCreateOpts *o = &a->co.o;
    if (a->backing) {
        o->backing_file = a->backing;
        o->backing_fmt = a->backing_fmt;
    }
    if (img_create_opts_check(&a->co, a->dst_fmt, &c->err) < 0)
        return -1;
    if (o->backing_file && !o->backing_fmt) {
        char *path = block_backing_path(a->dst, o->backing_file);
        o->backing_fmt = path ? img_probe_format(path, &c->err) : NULL;
        free(path);
        if (!o->backing_fmt)
            return error_set(&c->err, "%s: cannot open backing file: %s", a->dst, c->err.msg);
    }
    if (a->co.size_set && o->size < c->total)
        return error_set(&c->err,
                         "%s: size=%" PRIu64 " is smaller than the sources (%" PRIu64 " bytes)",
                         a->dst, o->size, c->total);
    if (!a->co.size_set)
        o->size = (c->total + 511) & ~511ull;
    return block_create(a->dst, a->dst_fmt, o, &c->err);
}

static int convert_open_target(Convert *c)
{
    ConvertArgs *a = c->a;
    if (a->compress && a->dst_fmt && strcmp(a->dst_fmt, "raw") == 0)
        return error_set(&c->err, "%s: raw images do not support compression (-c)", a->dst);
    if (!a->no_create && convert_create(c) < 0)
        return -1;
    c->dst = img_open(a->dst, a->dst_fmt, IMG_OPEN_RW, &c->err); /* -n without -O: probed */
    if (!c->dst)
        return -1;
    if (block_length(c->dst) < c->total)
        return error_set(&c->err,
                         "%s: the target (%" PRIu64 " bytes) is smaller than the "
                         "sources (%" PRIu64 " bytes)",
                         a->dst, block_length(c->dst), c->total);
    c->dst_blank = !a->no_create && !c->dst->backing;
    c->gran = c->dst->cluster_size ? c->dst->cluster_size : 4096;
    c->buf = malloc(IMG_CHUNK);
    c->cur = malloc(IMG_CHUNK);
    if (!c->buf || !c->cur)
        return error_set(&c->err, "out of memory");
    return 0;
}

/* Read [off, off+n) of the concatenated sources; *zero: the range is known to read as zeroes. */
static int convert_read(Convert *c, uint64_t off, uint8_t *buf, uint64_t n, bool *zero)
{
    *zero = true;
    for (int i = 0; i < c->a->nsrc && n; i++) {
        uint64_t len = block_length(c->src[i]);
        if (off >= len) {
            off -= len;
            continue;
        }
        uint64_t k = img_min(n, len - off), pnum, h;
        for (uint64_t done = 0; done < k && *zero; done += pnum) {
            unsigned flags, depth;
            if (img_chain_status(c->src[i], off + done, k - done, &pnum, &flags, &h, &depth,
                                 &c->err) < 0)
                return -1;
            *zero = (flags & BLOCK_ST_ZERO) && !(flags & BLOCK_ST_DATA);
        }
        if (*zero)
            memset(buf, 0, k);
        else if (block_pread(c->src[i], off, buf, k, &c->err) < 0)
            return -1;
        buf += k;
        n -= k;
        off = 0;
    }
    return 0;
}

/* Write one unit [off, off+n) whose new content is data. */
static int convert_put(Convert *c, uint64_t off, const uint8_t *data, uint64_t n)
{
    bool zero = buf_is_zero(data, n);
    if (zero)
        return block_write_zeroes(c->dst, off, n, !c->dst->backing, &c->err);
    if (c->a->compress)
        return block_write_compressed(c->dst, off, data, n, &c->err);
    return block_pwrite(c->dst, off, data, n, &c->err);
}

/* Copy one window: each unit written unless the target already reads the same. */
static int convert_window(Convert *c, uint64_t off, uint64_t n)
{
    bool src_zero;
    if (convert_read(c, off, c->buf, n, &src_zero) < 0)
        return -1;
    if (src_zero && c->dst_blank)
        return 0;
    if (c->a->compress) { /* a compressed write covers a whole cluster: pad the last one */
        uint64_t whole = (n + c->gran - 1) / c->gran * c->gran;
        uint64_t padded = img_min(whole, block_length(c->dst) - off);
        memset(c->buf + n, 0, padded - n);
        n = padded;
    }
    if (!c->dst_blank && block_pread(c->dst, off, c->cur, n, &c->err) < 0)
        return -1;
    for (uint64_t u = 0; u < n; u += c->gran) {
        uint64_t k = img_min(c->gran, n - u);
        bool same =
            c->dst_blank ? buf_is_zero(c->buf + u, k) : memcmp(c->buf + u, c->cur + u, k) == 0;
        if (!same && convert_put(c, off + u, c->buf + u, k) < 0)
            return -1;
    }
    return 0;
}

/*
 * Bytes from off (window-aligned) that a blank target can skip: the whole
 * windows of the zero extent of the source there.  0 if none.
 */
static int convert_skip(Convert *c, uint64_t off, uint64_t *skip)
{
    *skip = 0;
    if (!c->dst_blank)
        return 0;
    for (int i = 0; i < c->a->nsrc; i++) {
        uint64_t len = block_length(c->src[i]), pnum, h;
        unsigned flags, depth;
        if (off >= len) {
            off -= len;
            continue;
        }
        if (img_chain_status(c->src[i], off, len - off, &pnum, &flags, &h, &depth, &c->err) < 0)
            return -1;
        if ((flags & BLOCK_ST_ZERO) && !(flags & BLOCK_ST_DATA))
            *skip = pnum / IMG_CHUNK * IMG_CHUNK;
        return 0;
    }
    return 0;
}

static int convert_copy(Convert *c)
{
    uint64_t skip;
    img_progress_start(&c->prog, c->a->progress && !c->a->quiet);
    for (uint64_t off = 0; off < c->total; off += skip ? skip : IMG_CHUNK) {
        if (convert_skip(c, off, &skip) < 0)
            return -1;
        if (!skip && convert_window(c, off, img_min(IMG_CHUNK, c->total - off)) < 0)
            return -1;
        img_progress_update(&c->prog, img_min(off + (skip ? skip : IMG_CHUNK), c->total), c->total);
    }
    img_progress_end(&c->prog);
    return block_flush(c->dst, &c->err);
}

static int img_convert(int argc, char **argv)
{
    ConvertArgs a = {0};
    int rc = convert_parse(&a, argc, argv);
    if (rc) {
        img_create_opts_free(&a.co);
        return rc;
    }
    if (!a.dst_fmt && !a.no_create)
        a.dst_fmt = "raw";
    Convert c = {.a = &a};
    if (a.co.help)
        img_create_opts_help(a.dst_fmt ? a.dst_fmt : "raw");
    else if (convert_open_sources(&c) < 0 || convert_open_target(&c) < 0 || convert_copy(&c) < 0) {
        img_progress_end(&c.prog);
        rc = img_fail(&c.err);
    }
    block_close(c.dst);
    for (int i = 0; i < a.nsrc; i++)
        block_close(c.src[i]);
    free(c.buf);
    free(c.cur);
    img_create_opts_free(&a.co);
    return rc;
}

const ImgCommand img_cmd_convert = {
    .name = "convert",
    .run = img_convert,
    .summary = "copy images into a new image of any format (thin, optionally compressed)",
    .usage =
        "usage: hostel img convert [-f FMT] [-O FMT] [-c] [-p] [-o OPTS] [-B BACKING [-F FMT]]\n"
        "                          [-n] [-U] [-q] SRC... DST\n\n"
        "Copy what a guest reads from SRC (through its backing chain; several sources\n"
        "are concatenated) into DST.  Parts that read as zeroes are not written, so\n"
        "DST stays thin.\n\n"
        "  -f FMT      format of the sources (default: probed)\n"
        "  -O FMT      format of DST: raw (default) or qcow2\n"
        "  -c          write compressed clusters (qcow2; compression_type from -o)\n"
        "  -o OPTS     creation options, as for 'create' ('-o help' lists them)\n"
        "  -B BACKING  give DST this backing file; only what differs from it is written\n"
        "  -F FMT      format of BACKING (default: probed)\n"
        "  -n          do not create DST: write into the existing image\n"
        "  -p          show a progress bar\n"
        "  -U          do not lock the sources\n"
        "  -q          quiet\n",
};
