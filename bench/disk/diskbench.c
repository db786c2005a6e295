/*
 * diskbench: time requests through hostel's block layer, with the
 * vocabulary of `qemu-img bench` so bench/disk/run.py gives both tools the
 * same arguments and both walk the same offsets:
 *
 *   diskbench [-f FMT] [-w] [-c COUNT] [-s BUFSIZE] [-S STEP] [-o OFFSET]
 *             [--pattern=BYTE] [-l L2_CACHE_BYTES] IMAGE
 *
 * COUNT requests of BUFSIZE bytes, one at a time (queue depth 1), the
 * first at OFFSET, each next one STEP bytes further, wrapping modulo the
 * image size as qemu-img 7.2 does.  A STEP that is an odd number of
 * BUFSIZE blocks larger than a big fraction of the image scatters the
 * requests over the whole image: the "random" rows of run.py.
 *
 * The clock runs from the first request to the last completion; the flush
 * and close after it are not timed (qemu-img bench's are not either).
 * Writes go to the host page cache, as qemu-img bench's do with its
 * default cache mode (writeback).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/block.h"

typedef struct BenchOpts {
    BlockOpenOpts open;
    const char *path;
    bool write;
    uint64_t count, bufsize, step, offset;
    uint8_t pattern;
} BenchOpts;

static int bench_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default: break;
    }
    if (errno || end == s || *end || s[0] == '-' || (shift && v > (UINT64_MAX >> shift))) {
        fprintf(stderr, "diskbench: '%s' is not a number\n", s);
        return -1;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: diskbench [-f FMT] [-w] [-c COUNT] [-s BUFSIZE] [-S STEP] "
                 "[-o OFFSET] [--pattern=BYTE] [-l L2_CACHE_BYTES] IMAGE\n");
}

/* One option that takes a value: the u64 it sets, or NULL. */
static uint64_t *bench_value_opt(BenchOpts *o, const char *opt, uint64_t *l2)
{
    if (strcmp(opt, "-c") == 0)
        return &o->count;
    if (strcmp(opt, "-s") == 0)
        return &o->bufsize;
    if (strcmp(opt, "-S") == 0)
        return &o->step;
    if (strcmp(opt, "-o") == 0)
        return &o->offset;
    if (strcmp(opt, "-l") == 0)
        return l2;
    return NULL;
}

/* 0 = go on, 1 = --help printed, -1 = usage error. */
static int bench_parse(BenchOpts *o, int argc, char **argv)
{
    *o = (BenchOpts){.count = 75000, .bufsize = 4096};
    bool step_set = false;
    uint64_t l2 = 0, pat = 0, *v;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            bench_usage(stdout);
            return 1;
        } else if (strcmp(argv[i], "-w") == 0) {
            o->write = true;
        } else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
            o->open.format = argv[++i];
        } else if (strncmp(argv[i], "--pattern=", 10) == 0) {
            if (bench_parse_u64(argv[i] + 10, &pat) < 0 || pat > 255)
                return -1;
        } else if ((v = bench_value_opt(o, argv[i], &l2)) && i + 1 < argc) {
            if (bench_parse_u64(argv[++i], v) < 0)
                return -1;
            step_set |= v == &o->step;
        } else {
            bench_usage(stderr);
            return -1;
        }
    }
    if (argc - i != 1 || o->bufsize == 0 || o->bufsize > (1u << 30)) {
        bench_usage(stderr);
        return -1;
    }
    o->path = argv[i];
    o->open.read_only = !o->write;
    o->open.l2_cache_bytes = l2;
    o->pattern = (uint8_t)pat;
    if (!step_set)
        o->step = o->bufsize;
    return 0;
}

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run the requests; returns the seconds they took, or -1 with err filled. */
static double bench_run(BlockDev *bd, const BenchOpts *o, uint8_t *buf, Error *err)
{
    uint64_t size = block_length(bd), off = o->offset;
    double start = bench_now();
    for (uint64_t n = 0; n < o->count; n++) {
        int rc = o->write ? block_pwrite(bd, off, buf, (size_t)o->bufsize, err)
                          : block_pread(bd, off, buf, (size_t)o->bufsize, err);
        if (rc < 0)
            return -1;
        off = (off + o->step) % size;
    }
    return bench_now() - start;
}

int main(int argc, char **argv)
{
    BenchOpts o;
    int p = bench_parse(&o, argc, argv);
    if (p != 0)
        return p > 0 ? 0 : 2;
    Error err = {0};
    BlockDev *bd = block_open_opts(o.path, &o.open, &err);
    if (!bd) {
        fprintf(stderr, "diskbench: %s\n", err.msg);
        return 1;
    }
    uint8_t *buf = malloc((size_t)o.bufsize);
    double secs = -1;
    if (!buf)
        snprintf(err.msg, sizeof(err.msg), "out of memory");
    else if (block_length(bd) < o.bufsize || o.offset > block_length(bd) - o.bufsize)
        snprintf(err.msg, sizeof(err.msg), "the image is smaller than one request");
    else {
        memset(buf, o.pattern, (size_t)o.bufsize);
        printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, 1 in parallel "
               "(starting at offset %" PRIu64 ", step size %" PRIu64 ")\n",
               o.count, o.write ? "write" : "read", o.bufsize, o.offset, o.step);
        secs = bench_run(bd, &o, buf, &err);
    }
    if (secs >= 0 && block_flush(bd, &err) < 0)
        secs = -1;
    block_close(bd);
    free(buf);
    if (secs < 0) {
        fprintf(stderr, "diskbench: %s: %s\n", o.path, err.msg);
        return 1;
    }
    printf("Run completed in %.3f seconds.\n", secs);
    return 0;
}
