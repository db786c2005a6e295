/*
 * zstd RAM runs read in parallel (see stream_ram.h).  Runs are disjoint,
 * so workers write their pages without locks; they take runs in file
 * order from one atomic counter, which balances runs of any size.
 *
 * Page faults, not decompression, are most of a restore's cost on the
 * hosts we run on (a first write to a 4 KiB page costs microseconds even
 * after MADV_POPULATE_WRITE): that is why a staging load gives fully
 * covered 2 MiB blocks transparent huge pages.
 */
#include "state/stream_ram.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/io.h"
#include "util/le.h"

#define HUGE_PAGES 512u /* 4 KiB pages per 2 MiB transparent huge page */
#define HUGE_BYTES (HUGE_PAGES * STREAM_PAGE)
#define MAX_HUGE_RANGES 256      /* caps the mappings a staged RAM splits into */
#define CRC_SLICE_MIN (8u << 20) /* a thread is not worth less than this */
#define CRC_BUF (256u << 10)

/* CPUs this process may run on (its affinity mask: a pinned VMM gets no more workers). */
static long cpus_usable(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

unsigned stream_threads(const StreamIn *s)
{
    long n = s->opts.threads ? (long)s->opts.threads : cpus_usable();
    return n < 1 ? 1 : n > STREAM_MAX_THREADS ? STREAM_MAX_THREADS : (unsigned)n;
}

/* ---- a few threads ---- */

typedef struct Workers {
    pthread_t tid[STREAM_MAX_THREADS];
    unsigned n;
} Workers;

/*
 * Start up to n threads, thread i running fn(args + i * stride).  Returns
 * how many started (the caller does the rest of the work itself).  They
 * block every signal: the VMM's handlers belong to its own threads.
 */
static unsigned workers_start(Workers *w, unsigned n, void *(*fn)(void *), void *args,
                              size_t stride)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->n = 0;
    while (w->n < n && w->n < STREAM_MAX_THREADS &&
           pthread_create(&w->tid[w->n], NULL, fn, (char *)args + w->n * stride) == 0)
        w->n++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return w->n;
}

static void workers_join(Workers *w)
{
    for (unsigned i = 0; i < w->n; i++)
        pthread_join(w->tid[i], NULL);
    w->n = 0;
}

/* ---- the CRC of the runs, at open ---- */

typedef struct CrcSlice {
    int fd;
    uint64_t off, len;
    uint32_t crc;
    int errnum; /* 0, or why the slice could not be read */
} CrcSlice;

static void *crc_slice(void *arg)
{
    CrcSlice *c = arg;
    uint8_t *buf = malloc(CRC_BUF);
    c->crc = (uint32_t)crc32(0, NULL, 0);
    c->errnum = buf ? 0 : ENOMEM;
    for (uint64_t done = 0; done < c->len && !c->errnum;) {
        size_t n = c->len - done < CRC_BUF ? (size_t)(c->len - done) : CRC_BUF;
        if (io_pread_all(c->fd, buf, n, c->off + done) < 0)
            c->errnum = errno;
        else
            c->crc = (uint32_t)crc32(c->crc, buf, (uInt)n);
        done += n;
    }
    free(buf);
    return NULL;
}

int stream_crc_range(const StreamIn *s, uint64_t off, uint64_t len, uint32_t *crc, Error *err)
{
    uint64_t want = len / CRC_SLICE_MIN;
    unsigned n = stream_threads(s);
    n = want < 1 ? 1 : want < n ? (unsigned)want : n;
    CrcSlice sl[STREAM_MAX_THREADS];
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = len / n * i, b = i + 1 == n ? len : len / n * (i + 1);
        sl[i] = (CrcSlice){.fd = s->fd, .off = off + a, .len = b - a};
    }
    Workers w;
    unsigned started = workers_start(&w, n - 1, crc_slice, &sl[1], sizeof(sl[0]));
    for (unsigned i = 1 + started; i < n; i++)
        crc_slice(&sl[i]);
    crc_slice(&sl[0]);
    workers_join(&w);
    *crc = (uint32_t)crc32(0, NULL, 0);
    for (unsigned i = 0; i < n; i++) {
        if (sl[i].errnum)
            return error_set_errno(err, sl[i].errnum, "%s: cannot read the state file", s->path);
        *crc = (uint32_t)crc32_combine(*crc, sl[i].crc, (z_off_t)sl[i].len);
    }
    return 0;
}

/* ---- the index of runs, at open ---- */

static int runs_append(StreamIn *s, uint64_t *cap, const StreamRun *r)
{
    if (s->nruns == *cap) {
        uint64_t ncap = *cap ? *cap * 2 : 64;
        StreamRun *n = realloc(s->runs, ncap * sizeof(*n));
        if (!n)
            return -1;
        s->runs = n;
        *cap = ncap;
    }
    s->runs[s->nruns++] = *r;
    return 0;
}

int stream_runs_index(StreamIn *s, Error *err)
{
    uint64_t off = s->ram_runs_off, end = off + s->ram_runs_len;
    uint64_t pages = s->ram_size / STREAM_PAGE, next = 0, cap = 0;
    size_t frame_max = ZSTD_compressBound(STREAM_RUN_PAGES * STREAM_PAGE);
    while (off < end) {
        uint8_t h[16];
        if (end - off < sizeof(h))
            return error_set(err, "%s: state file is corrupt: RAM run header", s->path);
        if (io_pread_all(s->fd, h, sizeof(h), off) < 0)
            return error_set_errno(err, errno, "%s: cannot read the state file", s->path);
        off += sizeof(h);
        StreamRun r = {.first = le_get(h, 8),
                       .off = off,
                       .pages = (uint32_t)le_get(h + 8, 4),
                       .len = (uint32_t)le_get(h + 12, 4)};
        if (r.pages == 0 || r.pages > STREAM_RUN_PAGES || r.first < next || r.first > pages ||
            r.pages > pages - r.first || r.len > frame_max || r.len > end - off)
            return error_set(err, "%s: state file is corrupt: bad RAM run at offset %llu", s->path,
                             (unsigned long long)(off - sizeof(h)));
        if (runs_append(s, &cap, &r) < 0)
            return error_set(err, "out of memory reading %s", s->path);
        next = r.first + r.pages;
        off += r.len;
    }
    return 0;
}

/* ---- decompression ---- */

typedef struct Range {
    uint64_t lo, hi; /* pages */
} Range;

struct StreamRamLoad {
    StreamIn *s;
    uint8_t *dst;                /* where runs go: the caller's RAM or staging */
    uint8_t *staging;            /* our own mapping, or NULL */
    Range huge[MAX_HUGE_RANGES]; /* staging: the parts advised to use huge pages */
    unsigned nhuge;
    atomic_uint_fast64_t next; /* the next run to take */
    atomic_bool stop;          /* a run failed or the load is abandoned */
    pthread_mutex_t lock;      /* guards bad and err */
    uint64_t bad;              /* the failed run (UINT64_MAX: none) */
    Error err;
    Workers w;
};

static void load_fail(StreamRamLoad *l, uint64_t run, const Error *e)
{
    pthread_mutex_lock(&l->lock);
    if (run < l->bad) {
        l->bad = run;
        l->err = *e;
    }
    pthread_mutex_unlock(&l->lock);
    atomic_store(&l->stop, true);
}

bool stream_frame_has_checksum(const uint8_t *f, size_t len)
{
    return len >= 5 && le_get(f, 4) == 0xFD2FB528u && (f[4] & 0x04);
}

/* Decompress one run into place: its size and its frame checksum must match. */
static int load_run(StreamRamLoad *l, const StreamRun *r, uint8_t *buf, ZSTD_DCtx *dc, Error *err)
{
    StreamIn *s = l->s;
    size_t bytes = (size_t)r->pages * STREAM_PAGE;
    uint8_t *dst = l->dst + r->first * STREAM_PAGE;
    if (io_pread_all(s->fd, buf, r->len, r->off) < 0)
        return error_set_errno(err, errno, "%s: cannot read the state file", s->path);
#ifdef MADV_POPULATE_WRITE
    /* One call maps the run's pages for a fraction of what a fault per page costs. */
    (void)madvise(dst, bytes, MADV_POPULATE_WRITE);
#endif
    size_t got = ZSTD_decompressDCtx(dc, dst, bytes, buf, r->len);
    if (ZSTD_isError(got) || got != bytes || !stream_frame_has_checksum(buf, r->len))
        return error_set(err,
                         "%s: state file is corrupt: RAM run at page %llu does not "
                         "decompress",
                         s->path, (unsigned long long)r->first);
    return 0;
}

static void *load_main(void *arg)
{
    StreamRamLoad *l = arg;
    uint8_t *buf = malloc(ZSTD_compressBound(STREAM_RUN_PAGES * STREAM_PAGE));
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!buf || !dc) {
        Error e = {0};
        error_set(&e, "out of memory reading %s", l->s->path);
        load_fail(l, 0, &e);
    }
    while (!atomic_load(&l->stop)) {
        uint64_t i = atomic_fetch_add(&l->next, 1);
        if (i >= l->s->nruns)
            break;
        Error e = {0};
        if (load_run(l, &l->s->runs[i], buf, dc, &e) < 0)
            load_fail(l, i, &e);
    }
    free(buf);
    ZSTD_freeDCtx(dc);
    return NULL;
}

/* A RAM-sized mapping aligned to 2 MiB, so huge pages fit it (and a 2 MiB-aligned RAM). */
static uint8_t *staging_map(uint64_t size)
{
    uint8_t *p = mmap(NULL, size + HUGE_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t start = (uintptr_t)p, a = (start + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
    if (a > start)
        munmap(p, a - start);
    if (start + HUGE_BYTES > a)
        munmap((void *)(a + size), start + HUGE_BYTES - a);
    return (uint8_t *)a;
}

/* Pages of each 2 MiB block the runs hold (caller frees). */
static uint16_t *block_cover(const StreamIn *s, uint64_t blocks)
{
    uint16_t *cover = calloc(blocks ? blocks : 1, sizeof(*cover));
    for (uint64_t i = 0; cover && i < s->nruns; i++) {
        uint64_t p = s->runs[i].first, end = p + s->runs[i].pages;
        while (p < end) {
            uint64_t b = p / HUGE_PAGES,
                     stop = (b + 1) * HUGE_PAGES < end ? (b + 1) * HUGE_PAGES : end;
            if (b < blocks)
                cover[b] = (uint16_t)(cover[b] + (stop - p));
            p = stop;
        }
    }
    return cover;
}

/* Advise huge pages for the staging's fully covered blocks, as at most MAX_HUGE_RANGES ranges. */
static void staging_advise(StreamRamLoad *l)
{
    uint64_t blocks = l->s->ram_size / HUGE_BYTES;
    uint16_t *cover = block_cover(l->s, blocks);
    for (uint64_t b = 0; cover && b < blocks && l->nhuge < MAX_HUGE_RANGES; b++) {
        if (cover[b] != HUGE_PAGES)
            continue;
        uint64_t e = b + 1;
        while (e < blocks && cover[e] == HUGE_PAGES)
            e++;
        if (madvise(l->staging + b * HUGE_BYTES, (e - b) * HUGE_BYTES, MADV_HUGEPAGE) == 0)
            l->huge[l->nhuge++] = (Range){b * HUGE_PAGES, e * HUGE_PAGES};
        b = e;
    }
    free(cover);
}

StreamRamLoad *stream_ram_load_start(StreamIn *s, uint8_t *dst, Error *err)
{
    if (!s->has_ram || s->ram_encoding != STREAM_RAM_ZSTD) {
        error_set(err, "%s: the state file has no compressed RAM", s->path);
        return NULL;
    }
    StreamRamLoad *l = calloc(1, sizeof(*l));
    if (!l) {
        error_set(err, "out of memory reading %s", s->path);
        return NULL;
    }
    l->s = s;
    l->bad = UINT64_MAX;
    atomic_init(&l->next, 0);
    atomic_init(&l->stop, false);
    pthread_mutex_init(&l->lock, NULL);
    if (!dst && s->ram_size && !(l->staging = staging_map(s->ram_size))) {
        error_set_errno(err, errno, "%s: cannot reserve memory to restore RAM", s->path);
        stream_ram_load_free(l);
        return NULL;
    }
    if (l->staging)
        staging_advise(l);
    l->dst = dst ? dst : l->staging;
    unsigned n = stream_threads(s);
    workers_start(&l->w, s->nruns < n ? (unsigned)s->nruns : n, load_main, l, 0);
    return l;
}

int stream_ram_load_wait(StreamRamLoad *l, Error *err)
{
    load_main(l);
    workers_join(&l->w);
    if (l->bad == UINT64_MAX)
        return 0;
    if (err)
        *err = l->err;
    return -1;
}

/* The first run that ends after page lo (runs are sorted and disjoint). */
static uint64_t first_run_after(const StreamIn *s, uint64_t lo)
{
    uint64_t a = 0, b = s->nruns;
    while (a < b) {
        uint64_t mid = a + (b - a) / 2;
        if (s->runs[mid].first + s->runs[mid].pages <= lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

/* Put pages [lo, hi) of the staging in place by copying what the runs hold there. */
static void copy_pages(StreamRamLoad *l, uint8_t *ram, uint64_t lo, uint64_t hi)
{
    const StreamIn *s = l->s;
    uint8_t *p = ram + lo * STREAM_PAGE;
    size_t len = (size_t)(hi - lo) * STREAM_PAGE;
    /* Zeros without touching a page, as in a fresh guest. */
    if (mmap(p, len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
        memset(p, 0, len);
    for (uint64_t i = first_run_after(s, lo); i < s->nruns && s->runs[i].first < hi; i++) {
        uint64_t a = s->runs[i].first > lo ? s->runs[i].first : lo;
        uint64_t b =
            s->runs[i].first + s->runs[i].pages < hi ? s->runs[i].first + s->runs[i].pages : hi;
        memcpy(ram + a * STREAM_PAGE, l->staging + a * STREAM_PAGE, (b - a) * STREAM_PAGE);
    }
}

/* Move staging pages [lo, hi) (within one of its mappings) over ram, or copy them. */
static void move_pages(StreamRamLoad *l, uint8_t *ram, uint64_t lo, uint64_t hi)
{
    if (lo == hi)
        return;
    size_t len = (size_t)(hi - lo) * STREAM_PAGE;
    uint8_t *from = l->staging + lo * STREAM_PAGE, *to = ram + lo * STREAM_PAGE;
    if (!l->s->opts.copy_ram &&
        mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) != MAP_FAILED)
        return;
    copy_pages(l, ram, lo, hi);
    munmap(from, len);
}

void stream_ram_load_move(StreamRamLoad *l, uint8_t *ram)
{
    uint64_t pages = l->s->ram_size / STREAM_PAGE, at = 0;
    if (!l->staging)
        return;
    /* mremap moves one mapping at a time: the huge ranges split the staging. */
    for (unsigned i = 0; i < l->nhuge; i++) {
        move_pages(l, ram, at, l->huge[i].lo);
        move_pages(l, ram, l->huge[i].lo, l->huge[i].hi);
        at = l->huge[i].hi;
    }
    move_pages(l, ram, at, pages);
    l->staging = NULL;
}

void stream_ram_load_free(StreamRamLoad *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    workers_join(&l->w);
    if (l->staging)
        munmap(l->staging, l->s->ram_size);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* ---- compressing RAM for a save ---- */

#define COMPRESS_MIN_PAGES 2048u /* 8 MiB present per thread at least */

typedef struct ZJob {
    const uint8_t *ram, *map;
    uint64_t lo, hi; /* the pages [lo, hi) this thread compresses */
    int level;
    StreamZPart *part;
    Error err;
    int rc;
} ZJob;

/*
 * Room for the runs of npages pages whatever they compress to (a run's
 * header and zstd's worst case add less than 128 bytes per page), in one
 * mapping never grown: page faults, not compression, would otherwise take
 * much of a save's time, so it asks for huge pages.  Only what is written
 * is ever populated.
 */
static int zpart_reserve(StreamZPart *p, uint64_t npages, Error *err)
{
    size_t cap = (size_t)npages * (STREAM_PAGE + 128) + STREAM_PAGE;
    void *m =
        mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return error_set(err, "out of memory compressing RAM");
    madvise(m, cap, MADV_HUGEPAGE);
    *p = (StreamZPart){.buf = m, .cap = cap};
    return 0;
}

static int zpart_run(ZSTD_CCtx *cc, StreamZPart *p, const uint8_t *src, uint64_t first,
                     uint32_t pages, Error *err)
{
    size_t bound = ZSTD_compressBound((size_t)pages * STREAM_PAGE) + 16;
    if (p->len + bound > p->cap) /* cannot happen: the reservation covers the worst case */
        return error_set(err, "compressed RAM overflows its buffer");
    uint8_t *h = p->buf + p->len;
    size_t z = ZSTD_compress2(cc, h + 16, bound - 16, src, (size_t)pages * STREAM_PAGE);
    if (ZSTD_isError(z))
        return error_set(err, "zstd: %s", ZSTD_getErrorName(z));
    le_put(h, 8, first);
    le_put(h + 8, 4, pages);
    le_put(h + 12, 4, z);
    p->len += 16 + z;
    return 0;
}

static void *zjob_run(void *arg)
{
    ZJob *j = arg;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    j->rc = cc ? 0 : error_set(&j->err, "out of memory compressing RAM");
    if (j->rc == 0)
        j->rc = zpart_reserve(j->part, j->hi - j->lo, &j->err);
    if (cc) {
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, j->level);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    }
    for (uint64_t i = j->lo; j->rc == 0 && i < j->hi;) {
        if (!stream_map_bit(j->map, i)) {
            i++;
            continue;
        }
        uint32_t n = 1;
        while (n < STREAM_RUN_PAGES && i + n < j->hi && stream_map_bit(j->map, i + n))
            n++;
        j->rc = zpart_run(cc, j->part, j->ram + i * STREAM_PAGE, i, n, &j->err);
        i += n;
    }
    ZSTD_freeCCtx(cc);
    return NULL;
}

int stream_ram_compress(const uint8_t *ram, const uint8_t *map, uint64_t pages, int level,
                        unsigned threads, StreamZPart *parts, unsigned *nparts, Error *err)
{
    uint64_t present = 0;
    for (uint64_t i = 0; i < pages; i++)
        present += stream_map_bit(map, i);
    /* threads given (tests): exactly that many, whatever the size. */
    uint64_t want_n = threads ? threads : (uint64_t)cpus_usable();
    if (!threads && present / COMPRESS_MIN_PAGES < want_n)
        want_n = present / COMPRESS_MIN_PAGES;
    unsigned n = want_n < 1                    ? 1
                 : want_n > STREAM_MAX_THREADS ? STREAM_MAX_THREADS
                                               : (unsigned)want_n;
    /* Equal shares of the present pages (the work), cut at page boundaries. */
    ZJob jobs[STREAM_MAX_THREADS];
    uint64_t lo = 0, seen = 0;
    for (unsigned t = 0; t < n; t++) {
        uint64_t want = present * (t + 1) / n, hi = lo;
        while (hi < pages && (t + 1 == n || seen < want))
            seen += stream_map_bit(map, hi++);
        parts[t] = (StreamZPart){0};
        jobs[t] =
            (ZJob){.ram = ram, .map = map, .lo = lo, .hi = hi, .level = level, .part = &parts[t]};
        lo = hi;
    }
    *nparts = n;
    Workers w;
    unsigned started = n > 1 ? workers_start(&w, n - 1, zjob_run, &jobs[1], sizeof(jobs[0])) : 0;
    zjob_run(&jobs[0]);
    for (unsigned t = 1 + started; t < n; t++) /* threads that could not start */
        zjob_run(&jobs[t]);
    if (n > 1)
        workers_join(&w);
    for (unsigned t = 0; t < n; t++) {
        if (jobs[t].rc < 0) {
            *err = jobs[t].err;
            stream_ram_compress_free(parts, n);
            return -1;
        }
    }
    return 0;
}

void stream_ram_compress_free(StreamZPart *parts, unsigned n)
{
    for (unsigned t = 0; t < n; t++) {
        if (parts[t].buf)
            munmap(parts[t].buf, parts[t].cap);
        parts[t] = (StreamZPart){0};
    }
}
