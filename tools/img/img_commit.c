/*
 * hostel img commit [-f FMT] [-d] [-b BASE] [-p] [-q] FILE
 *
 * FILE and the layers down to BASE are opened on their own, without their
 * chains and read-only (FILE read-write when it is emptied): only what they
 * allocate themselves is read.  BASE is opened read-write with its own
 * chain, so zeroes written into it stay zeroes and partial clusters are
 * filled from below.  For every range one of the upper layers allocates,
 * the topmost one's content is written into BASE; then FILE is emptied so
 * reads fall through to BASE again (not with -d, nor with -b, as in
 * qemu-img).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img/img_util.h"

typedef struct CommitArgs {
    const char *format;
    const char *file;
    const char *base; /* -b: commit into this image of the chain */
    bool keep;        /* -d, or implied by -b: leave FILE's data in place */
    bool progress, quiet;
} CommitArgs;

typedef struct Commit {
    const CommitArgs *a;
    BlockDev *layers[BLOCK_MAX_CHAIN + 1]; /* [0] = FILE ... [n-1] = BASE */
    int n;
    uint8_t *buf;
    ImgProgress prog;
    Error err;
} Commit;

static int commit_parse(CommitArgs *a, int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, ":f:t:db:pq")) != -1) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 't': break; /* qemu-img's cache mode: accepted, writes are flushed anyway */
        case 'd': a->keep = true; break;
        case 'b':
            a->base = optarg;
            a->keep = true;
            break;
        case 'p': a->progress = true; break;
        case 'q': a->quiet = true; break;
        default: return img_bad_option("commit", c, argv);
        }
    }
    if (optind != argc - 1)
        return img_usage_error("commit", "expected one image file name");
    a->file = argv[optind];
    return 0;
}

/* Backing file path and format of layer bd (malloc'd), or NULL path if none. */
static int commit_backing_of(BlockDev *bd, char **path, char **fmt, Error *err)
{
    BlockInfo in;
    *path = *fmt = NULL;
    if (block_info(bd, &in, err) < 0)
        return -1;
    if (in.backing_file) {
        *path = in.full_backing_file ? strdup(in.full_backing_file)
                                     : block_backing_path(bd->filename, in.backing_file);
        *fmt = in.backing_fmt ? strdup(in.backing_fmt) : NULL;
    }
    block_info_free(&in);
    return 0;
}

static bool commit_same_file(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

/* The path of the next layer to open, or NULL (err set) when the chain ends early. */
static char *commit_next(Commit *c, char **fmt)
{
    char *path;
    if (commit_backing_of(c->layers[c->n - 1], &path, fmt, &c->err) < 0)
        return NULL;
    if (!path && c->n == 1)
        error_set(&c->err, "%s: image does not have a backing file", c->a->file);
    else if (!path)
        error_set(&c->err, "did not find '%s' in the backing chain of '%s'", c->a->base,
                  c->a->file);
    return path;
}

/* Open FILE, then each backing file until BASE (-b) or the first one; BASE read-write. */
static int commit_open(Commit *c)
{
    unsigned top_flags = IMG_OPEN_NO_BACKING | (c->a->keep ? 0 : IMG_OPEN_RW);
    c->layers[0] = img_open(c->a->file, c->a->format, top_flags, &c->err);
    if (!c->layers[0])
        return -1;
    c->n = 1;
    for (;;) {
        char *fmt = NULL, *path = commit_next(c, &fmt);
        if (!path)
            return -1;
        bool is_base = !c->a->base || commit_same_file(path, c->a->base);
        if (!is_base && c->n == BLOCK_MAX_CHAIN)
            error_set(&c->err, "%s: backing chain too deep or a loop", c->a->file);
        else
            c->layers[c->n] =
                img_open(path, fmt, is_base ? IMG_OPEN_RW : IMG_OPEN_NO_BACKING, &c->err);
        free(path);
        free(fmt);
        if (!c->layers[c->n])
            return -1;
        c->n++;
        if (is_base)
            return 0;
    }
}

/*
 * The layer above BASE that defines [off, off+len) first, for *pnum bytes:
 * its index, or -1 when none does (BASE's own data stays).
 */
static int commit_owner(Commit *c, uint64_t off, uint64_t len, uint64_t *pnum, unsigned *flags)
{
    *pnum = len;
    for (int i = 0; i < c->n - 1; i++) {
        BlockDev *l = c->layers[i];
        if (off >= block_length(l))
            continue; /* a shorter layer: nothing here */
        uint64_t h, n = img_min(*pnum, block_length(l) - off);
        if (block_status(l, off, n, pnum, flags, &h, &c->err) < 0)
            return -2;
        if (*flags & BLOCK_ST_ALLOCATED)
            return i;
    }
    return -1;
}

static int commit_range(Commit *c, uint64_t off, uint64_t len, uint64_t *done)
{
    unsigned flags;
    BlockDev *base = c->layers[c->n - 1];
    int owner = commit_owner(c, off, len, done, &flags);
    if (owner < -1)
        return -1;
    if (owner < 0)
        return 0;
    *done = img_min(*done, IMG_CHUNK);
    if ((flags & BLOCK_ST_ZERO) && !(flags & BLOCK_ST_DATA))
        return block_write_zeroes(base, off, *done, !base->backing, &c->err);
    if (block_pread(c->layers[owner], off, c->buf, *done, &c->err) < 0)
        return -1;
    return block_pwrite(base, off, c->buf, *done, &c->err);
}

static int commit_copy(Commit *c)
{
    BlockDev *top = c->layers[0], *base = c->layers[c->n - 1];
    uint64_t len = block_length(top), done;
    if (len > block_length(base) && block_truncate(base, len, &c->err) < 0)
        return -1;
    if (!(c->buf = malloc(IMG_CHUNK)))
        return error_set(&c->err, "out of memory");
    img_progress_start(&c->prog, c->a->progress && !c->a->quiet);
    for (uint64_t off = 0; off < len; off += done) {
        if (commit_range(c, off, len - off, &done) < 0)
            return -1;
        img_progress_update(&c->prog, off + done, len);
    }
    if (block_flush(base, &c->err) < 0)
        return -1;
    if (!c->a->keep && (block_make_empty(top, &c->err) < 0 || block_flush(top, &c->err) < 0))
        return -1;
    img_progress_end(&c->prog);
    return 0;
}

static int img_commit(int argc, char **argv)
{
    CommitArgs a = {0};
    int rc = commit_parse(&a, argc, argv);
    if (rc)
        return rc;
    Commit c = {.a = &a};
    if (commit_open(&c) < 0 || commit_copy(&c) < 0) {
        img_progress_end(&c.prog);
        rc = img_fail(&c.err);
    }
    for (int i = 0; i <= c.n && i <= BLOCK_MAX_CHAIN; i++)
        block_close(c.layers[i]);
    free(c.buf);
    if (rc == 0 && !a.quiet)
        printf("Image committed.\n");
    return rc;
}

const ImgCommand img_cmd_commit = {
    .name = "commit",
    .run = img_commit,
    .summary = "write an overlay's data into its backing file",
    .usage = "usage: hostel img commit [-f FMT] [-d] [-b BASE] [-p] [-q] FILE\n\n"
             "Write the data FILE holds into its backing file, then empty FILE so it reads\n"
             "through to the backing file again.\n\n"
             "  -f FMT    format of FILE (default: probed)\n"
             "  -d        keep FILE's data (do not empty it)\n"
             "  -b BASE   commit into BASE, further down the chain: the data of every\n"
             "            layer above BASE goes into it (implies -d)\n"
             "  -p        show a progress bar\n"
             "  -q        quiet: no 'Image committed.' line\n",
};
