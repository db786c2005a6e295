/*
 * Shared helpers of `hostel img`: error lines, sizes, progress, opening
 * images and walking backing chains.
 */
#include "img/img_util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/file.h"
#include "util/size.h"

int img_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout); /* keep the error after anything already printed */
    fputs("hostel img: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return IMG_EXIT_FAIL;
}

int img_fail(const Error *err)
{
    return img_error("%s", err->msg[0] ? err->msg : "unknown error");
}

int img_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return img_error("%s: %s (see 'hostel img %s --help')", cmd, msg, cmd);
}

int img_bad_option(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return img_usage_error(cmd, "option '%s' needs an argument", arg);
    if (optopt && arg[0] == '-' && arg[1] != '-')
        return img_usage_error(cmd, "unknown option '-%c'", optopt);
    return img_usage_error(cmd, "unknown option '%s'", arg);
}

void img_getopt_reset(void)
{
    optind = 0; /* 0 makes glibc re-initialise its scanning state */
    opterr = 0;
}

/* ---- sizes ---- */

json_t *img_json_str(const char *s)
{
    return json_string_nocheck(s);
}

void img_json_print(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(v);
}

bool img_parse_size(const char *s, uint64_t *out)
{
    return size_parse(s, 0, out, NULL) == 0;
}

void img_size_str(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    /* The next unit from 1000 of the current one on, so three digits suffice. */
    int i = 0;
    double threshold = 1000.0;
    while (i < 6 && (double)bytes >= threshold) {
        i++;
        threshold *= 1024.0;
    }
    snprintf(buf, len, "%0.3g %s", (double)bytes / (double)(1ull << (10 * i)), units[i]);
}

bool img_parse_output(const char *arg, ImgOutput *out)
{
    if (strcmp(arg, "human") == 0)
        *out = IMG_OUT_HUMAN;
    else if (strcmp(arg, "json") == 0)
        *out = IMG_OUT_JSON;
    else
        return false;
    return true;
}

/* ---- progress ---- */

void img_progress_start(ImgProgress *p, bool enabled)
{
    p->enabled = enabled;
    p->shown = 0.0;
    if (enabled) {
        printf("    (%.2f/100%%)\r", 0.0);
        fflush(stdout);
    }
}

void img_progress_update(ImgProgress *p, uint64_t done, uint64_t total)
{
    if (!p->enabled)
        return;
    double pct = total ? (double)done * 100.0 / (double)total : 100.0;
    if (pct > 100.0)
        pct = 100.0;
    if (pct - p->shown < 1.0 && pct < 100.0)
        return; /* redraw once per percent at most */
    if (pct == p->shown)
        return;
    p->shown = pct;
    printf("    (%.2f/100%%)\r", pct);
    fflush(stdout);
}

void img_progress_end(ImgProgress *p)
{
    if (!p->enabled)
        return;
    if (p->shown < 100.0)
        printf("    (%.2f/100%%)\r", 100.0);
    putchar('\n');
    fflush(stdout);
    p->enabled = false;
}

/* ---- images ---- */

BlockDev *img_open(const char *path, const char *format, unsigned flags, Error *err)
{
    BlockOpenOpts o = {
        .format = format,
        .read_only = !(flags & IMG_OPEN_RW),
        .no_backing = (flags & IMG_OPEN_NO_BACKING) != 0,
        .no_lock = (flags & IMG_OPEN_SHARE) != 0,
        .repair = (flags & IMG_OPEN_REPAIR) != 0,
    };
    return block_open_opts(path, &o, err);
}

unsigned img_chain_length(const BlockDev *bd)
{
    unsigned n = 0;
    for (; bd; bd = bd->backing)
        n++;
    return n;
}

BlockDev *img_chain_layer(BlockDev *bd, unsigned d)
{
    while (bd && d--)
        bd = bd->backing;
    return bd;
}

/*
 * The raw driver calls a whole file data.  Split that like qemu-img's
 * file layer does, with SEEK_DATA/SEEK_HOLE, so holes of sparse raw images
 * show as zeroes (map, measure, compare -s agree with qemu-img).
 */
static void img_raw_refine(BlockDev *layer, uint64_t offset, uint64_t *pnum, unsigned *flags)
{
    int fd = layer->file ? layer->file->fd : -1;
    if (layer->drv != &block_raw_driver || fd < 0)
        return;
    off_t data = lseek(fd, (off_t)offset, SEEK_DATA);
    if (data < 0 && errno != ENXIO)
        return;                                /* no SEEK_DATA here: keep "data" */
    if (data < 0 || (uint64_t)data > offset) { /* a hole first (ENXIO: up to the end) */
        if (data >= 0)
            *pnum = img_min(*pnum, (uint64_t)data - offset);
        *flags = (*flags & ~BLOCK_ST_DATA) | BLOCK_ST_ZERO;
        return;
    }
    off_t hole = lseek(fd, (off_t)offset, SEEK_HOLE);
    if (hole > (off_t)offset)
        *pnum = img_min(*pnum, (uint64_t)hole - offset);
}

int img_chain_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                     uint64_t *host_off, unsigned *depth, Error *err)
{
    if (block_status_chain(bd, offset, len, pnum, flags, host_off, depth, err) < 0)
        return -1;
    unsigned bottom = img_chain_length(bd) - 1;
    if (!(*flags & BLOCK_ST_ALLOCATED)) {
        *flags = BLOCK_ST_ZERO; /* below the chain (or past a short backing file): zeroes */
        *host_off = 0;
    }
    if (*depth > bottom)
        *depth = bottom;
    else if (*flags & BLOCK_ST_DATA)
        img_raw_refine(img_chain_layer(bd, *depth), offset, pnum, flags);
    return 0;
}

const char *img_probe_format(const char *path, Error *err)
{
    BlockOpenOpts o = {.read_only = true, .no_backing = true, .no_lock = true};
    BlockDev *bd = block_open_opts(path, &o, err);
    if (!bd)
        return NULL;
    const char *fmt = bd->drv->format;
    block_close(bd);
    return fmt;
}
