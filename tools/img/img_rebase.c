/*
 * hostel img rebase [-f FMT] [-u] -b NEWBACKING [-F FMT] [-p] [-q] FILE
 *
 * Safe mode: wherever FILE does not hold its own data, what the old
 * backing chain reads is compared with what the new one reads, and FILE
 * gets a copy of the old content where they differ; then the header names
 * the new backing file.  FILE is opened with its old chain, so the format
 * knows zeroes written over it must stay zeroes and fills the rest of a
 * cluster from it.  -u only rewrites the name.  -b "" removes the backing
 * file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img/img_util.h"
#include "util/zero.h"

typedef struct RebaseArgs {
    const char *format, *file;
    const char *backing, *backing_fmt; /* -b, -F */
    bool unsafe, progress, quiet;
} RebaseArgs;

typedef struct Rebase {
    const RebaseArgs *a;
    BlockDev *top, *new; /* new: NULL for none; the old chain is top->backing */
    uint8_t *obuf, *nbuf;
    ImgProgress prog;
    Error err;
} Rebase;

static int rebase_parse(RebaseArgs *a, int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, ":f:t:T:ub:F:pqU")) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 't':
        case 'T': break; /* qemu-img's cache modes: accepted, not needed */
        case 'u': a->unsafe = true; break;
        case 'b': a->backing = optarg; break;
        case 'F': a->backing_fmt = optarg; break;
        case 'p': a->progress = true; break;
        case 'q': a->quiet = true; break;
        case 'U': break; /* the backing files are opened shared anyway */
        default: return img_bad_option("rebase", c, argv);
        }
    }
    if (!a->backing)
        return img_usage_error("rebase", "-b NEWBACKING is required (\"\" removes it)");
    if (optind != argc - 1)
        return img_usage_error("rebase", "expected one image file name");
    a->file = argv[optind];
    return 0;
}

static bool rebase_same_file(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

/* Open the new backing file (relative to FILE) read-only with its chain. */
static int rebase_open_new(Rebase *r)
{
    if (!r->a->backing[0])
        return 0;
    char *path = block_backing_path(r->a->file, r->a->backing);
    if (!path)
        return error_set(&r->err, "out of memory");
    if (rebase_same_file(path, r->a->file))
        error_set(&r->err, "%s: an image cannot be its own backing file", r->a->file);
    else
        r->new = img_open(path, r->a->backing_fmt, 0, &r->err);
    free(path);
    return r->new ? 0 : -1;
}

/* Read [off, off+n) of a backing chain; past its end (or without one) zeroes. */
static int rebase_read(Rebase *r, BlockDev *bd, uint64_t off, uint8_t *buf, uint64_t n)
{
    uint64_t len = bd ? block_length(bd) : 0, k = off < len ? img_min(n, len - off) : 0;
    if (k && block_pread(bd, off, buf, k, &r->err) < 0)
        return -1;
    memset(buf + k, 0, n - k);
    return 0;
}

/* Bytes from off that chain bd (NULL: none) reads as zeroes without reading data; 0 if none. */
static int rebase_zero_run(Rebase *r, BlockDev *bd, uint64_t off, uint64_t n, uint64_t *run)
{
    uint64_t len = bd ? block_length(bd) : 0, h;
    unsigned flags, depth;
    *run = n;
    if (off >= len)
        return 0;
    if (img_chain_status(bd, off, img_min(n, len - off), run, &flags, &h, &depth, &r->err) < 0)
        return -1;
    if (!(flags & BLOCK_ST_ZERO) || (flags & BLOCK_ST_DATA))
        *run = 0;
    return 0;
}

/* Copy the units of [off, off+n) where the old and new chains differ. */
static int rebase_chunk(Rebase *r, uint64_t off, uint64_t n)
{
    if (rebase_read(r, r->top->backing, off, r->obuf, n) < 0 ||
        rebase_read(r, r->new, off, r->nbuf, n) < 0)
        return -1;
    uint64_t unit = r->top->cluster_size ? r->top->cluster_size : 65536;
    for (uint64_t u = 0; u < n;) {
        uint64_t end = img_min(n, ((off + u) / unit + 1) * unit - off), k = end - u;
        if (memcmp(r->obuf + u, r->nbuf + u, k) != 0) {
            int rc = buf_is_zero(r->obuf + u, k)
                         ? block_write_zeroes(r->top, off + u, k, false, &r->err)
                         : block_pwrite(r->top, off + u, r->obuf + u, k, &r->err);
            if (rc < 0)
                return -1;
        }
        u = end;
    }
    return 0;
}

/* [off, off+n) is unallocated in FILE: skip what both chains read as zeroes, compare the rest. */
static int rebase_fill(Rebase *r, uint64_t off, uint64_t n)
{
    while (n) {
        uint64_t k = img_min(n, IMG_CHUNK), z_old, z_new;
        if (rebase_zero_run(r, r->top->backing, off, n, &z_old) < 0 ||
            rebase_zero_run(r, r->new, off, n, &z_new) < 0)
            return -1;
        if (z_old && z_new)
            k = img_min(z_old, z_new);
        else if (rebase_chunk(r, off, k) < 0)
            return -1;
        off += k;
        n -= k;
    }
    return 0;
}

static int rebase_copy(Rebase *r)
{
    uint64_t len = block_length(r->top), pnum, h;
    if (!(r->obuf = malloc(IMG_CHUNK)) || !(r->nbuf = malloc(IMG_CHUNK)))
        return error_set(&r->err, "out of memory");
    img_progress_start(&r->prog, r->a->progress && !r->a->quiet);
    for (uint64_t off = 0; off < len; off += pnum) {
        unsigned flags;
        if (block_status(r->top, off, len - off, &pnum, &flags, &h, &r->err) < 0)
            return -1;
        if (!(flags & BLOCK_ST_ALLOCATED) && rebase_fill(r, off, pnum) < 0)
            return -1;
        img_progress_update(&r->prog, off + pnum, len);
    }
    img_progress_end(&r->prog);
    return 0;
}

/* The format to record: -F, else the new backing file's (probed) format if it opens. */
static const char *rebase_new_format(Rebase *r)
{
    if (r->a->backing_fmt || !r->a->backing[0])
        return r->a->backing_fmt;
    if (r->new)
        return r->new->drv->format;
    char *path = block_backing_path(r->a->file, r->a->backing);
    Error ignored;
    const char *fmt = path ? img_probe_format(path, &ignored) : NULL;
    free(path);
    return fmt;
}

static int rebase_run(Rebase *r)
{
    const RebaseArgs *a = r->a;
    unsigned flags = IMG_OPEN_RW | (a->unsafe ? IMG_OPEN_NO_BACKING : 0);
    r->top = img_open(a->file, a->format, flags, &r->err);
    if (!r->top)
        return -1;
    if (!a->unsafe && (rebase_open_new(r) < 0 || rebase_copy(r) < 0))
        return -1;
    const char *fmt = rebase_new_format(r);
    if (block_set_backing(r->top, a->backing[0] ? a->backing : NULL, fmt, &r->err) < 0)
        return -1;
    return block_flush(r->top, &r->err);
}

static int img_rebase(int argc, char **argv)
{
    RebaseArgs a = {0};
    int rc = rebase_parse(&a, argc, argv);
    if (rc)
        return rc;
    Rebase r = {.a = &a};
    if (rebase_run(&r) < 0) {
        img_progress_end(&r.prog);
        rc = img_fail(&r.err);
    }
    block_close(r.new);
    block_close(r.top);
    free(r.obuf);
    free(r.nbuf);
    return rc;
}

const ImgCommand img_cmd_rebase = {
    .name = "rebase",
    .run = img_rebase,
    .summary = "change an overlay's backing file, keeping what the guest reads",
    .usage = "usage: hostel img rebase [-f FMT] [-u] -b NEWBACKING [-F FMT] [-p] [-q] FILE\n\n"
             "Make NEWBACKING (relative to FILE's directory unless absolute) FILE's backing\n"
             "file.  Where FILE has no data of its own and the old and new backing files\n"
             "differ, the old content is copied into FILE first, so the guest reads the\n"
             "same disk.  -b \"\" removes the backing file (FILE then holds everything).\n\n"
             "  -f FMT          format of FILE (default: probed)\n"
             "  -u              unsafe: only rewrite the backing file name (no copying; the\n"
             "                  files need not exist)\n"
             "  -b NEWBACKING   the new backing file, or \"\" for none\n"
             "  -F FMT          format of NEWBACKING (default: probed)\n"
             "  -p              show a progress bar\n"
             "  -q              quiet\n",
};
