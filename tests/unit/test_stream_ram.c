/*
 * zstd RAM of the state stream read in parallel (src/state/stream_ram.c):
 * exact round trips with one worker and with many, straight into RAM and
 * through a staging area (moved or copied into place), and bad runs
 * refused with their error whichever worker meets them, nothing written
 * where the RAM was going.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "state/stream.h"
#include "state/stream_ram.h"
#include "tap.h"
#include "util/le.h"

#define PAGE STREAM_PAGE

static uint8_t *fresh(size_t size)
{
    return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Threads of this process now (entries of /proc/self/task), or -1. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void fill_random(uint8_t *p, size_t len, uint64_t *x)
{
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t v = rnd(x);
        memcpy(p + i, &v, 8);
    }
}

/*
 * A RAM image with runs of every kind: 4 MiB of random pages (full 2 MiB
 * blocks: huge pages in staging), random pages between zero ones (runs of
 * three pages), one page repeated (compressible), 18 MiB of random pages (a
 * compressed size that the CRC reads in several slices), sparse single
 * pages, and a size that is not a whole number of 2 MiB blocks.
 */
#define IMG_PAGES 10243u

static uint8_t *make_image(void)
{
    uint8_t *ram = fresh((size_t)IMG_PAGES * PAGE), repeated[PAGE];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    fill_random(repeated, PAGE, &x);
    fill_random(ram, 1024 * PAGE, &x);
    for (unsigned p = 1024; p < 2048; p++) {
        if (p % 4 != 3)
            fill_random(ram + (size_t)p * PAGE, PAGE, &x);
    }
    for (unsigned p = 2048; p < 4096; p++) {
        if (p % 100 != 0)
            memcpy(ram + (size_t)p * PAGE, repeated, PAGE);
    }
    fill_random(ram + 4096 * PAGE, 4608 * PAGE, &x);
    memset(ram + (4096 + 700) * PAGE, 0, PAGE);
    for (unsigned p = 8704; p < IMG_PAGES; p += 97)
        fill_random(ram + (size_t)p * PAGE, PAGE, &x);
    ram[(size_t)IMG_PAGES * PAGE - 1] = 0x5a;
    return ram;
}

static char *tmp_path(void)
{
    char *path = strdup("/tmp/hostel-test-stream-ram-XXXXXX");
    close(mkstemp(path));
    return path;
}

/* A stream with a device section, ram (a zstd section, or payload as given) and end. */
static int write_file(const char *path, const uint8_t *ram, size_t size, const uint8_t *payload,
                      size_t len)
{
    Error err = {0};
    int fd = open(path, O_WRONLY | O_TRUNC);
    StreamOut s;
    int rc = stream_out_begin(&s, fd, &err);
    if (rc == 0)
        rc = stream_out_section(&s, "dev", 0, 1, 0, "bytes", 5, &err);
    if (rc == 0)
        rc = ram ? stream_out_ram(&s, ram, size, STREAM_RAM_ZSTD, 1, &err)
                 : stream_out_section(&s, "ram", 0, 1, 0, payload, len, &err);
    if (rc == 0)
        rc = stream_out_end(&s, &err);
    close(fd);
    if (rc)
        printf("# write_file: %s\n", err.msg);
    return rc;
}

/* Load through a staging area, moved (or copied, per in's options) over a dirty RAM. */
static bool staged_round_trip(StreamIn *in, const uint8_t *want, size_t size)
{
    Error err = {0};
    uint8_t *ram = fresh(size);
    memset(ram, 0xee, size); /* every page the image has as zero must read as zero again */
    StreamRamLoad *l = stream_ram_load_start(in, NULL, &err);
    bool good = l && stream_ram_load_wait(l, &err) == 0;
    if (good)
        stream_ram_load_move(l, ram);
    stream_ram_load_free(l);
    good = good && memcmp(ram, want, size) == 0;
    if (!good)
        printf("# %s\n", err.msg);
    munmap(ram, size);
    return good;
}

static void test_round_trips(void)
{
    static const unsigned threads[] = {1, 3, 13};
    const size_t size = (size_t)IMG_PAGES * PAGE;
    uint8_t *img = make_image();
    char *path = tmp_path();
    ok(write_file(path, img, size, NULL, 0) == 0, "a %zu KiB RAM image written as zstd",
       size >> 10);
    for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
        StreamIn in;
        Error err = {0};
        StreamInOpts o = {.threads = threads[i]};
        ok(stream_in_open_with(&in, path, &o, &err) == 0, "opened with %u threads: %s", threads[i],
           err.msg);
        ok(in.nruns > 2 * STREAM_MAX_THREADS, "%llu runs", (unsigned long long)in.nruns);
        uint8_t *ram = fresh(size);
        ok(stream_in_load_ram(&in, ram, size, false, &err) == 0 && memcmp(ram, img, size) == 0,
           "decompressed straight into RAM by %u workers: identical %s", threads[i], err.msg);
        munmap(ram, size);
        ok(staged_round_trip(&in, img, size), "staged and moved into place: identical");
        if (threads[i] == 3) {
            in.opts.copy_ram = true; /* the fallback of a move */
            ok(staged_round_trip(&in, img, size), "staged and copied into place: identical");
        }
        stream_in_close(&in);
    }
    unlink(path);
    free(path);
    munmap(img, size);
}

/* A save's compression on 1..8 threads gives runs that restore to the same RAM. */
static void test_parallel_compression(void)
{
    static const unsigned threads[] = {1, 2, 5, 8};
    /* The image's first 3000 pages: their runs fit a section written the generic way. */
    const unsigned pages = 3000;
    const size_t size = (size_t)pages * PAGE;
    uint8_t *img = make_image(), *map = calloc((pages + 7) / 8, 1);
    static const uint8_t zero[PAGE];
    for (unsigned p = 0; p < pages; p++)
        if (memcmp(img + (size_t)p * PAGE, zero, PAGE))
            map[p / 8] |= (uint8_t)(1u << (p % 8));
    char *path = tmp_path();
    for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
        StreamZPart parts[STREAM_MAX_THREADS];
        unsigned n = 0;
        Error err = {0};
        int rc = stream_ram_compress(img, map, pages, 1, threads[i], parts, &n, &err);
        ok(rc == 0 && n == threads[i], "compressed by %u threads: %s", threads[i], err.msg);
        size_t len = 16;
        bool all_busy = true;
        for (unsigned t = 0; rc == 0 && t < n; t++) {
            len += parts[t].len;
            all_busy &= parts[t].len > 0;
        }
        ok(rc == 0 && all_busy, "every thread had a share of the pages");
        uint8_t *payload = malloc(len), *q = payload + 16;
        le_put(payload, 4, STREAM_RAM_ZSTD);
        le_put(payload + 4, 4, 0);
        le_put(payload + 8, 8, size);
        for (unsigned t = 0; rc == 0 && t < n; t++, q += parts[t - 1].len)
            memcpy(q, parts[t].buf, parts[t].len);
        stream_ram_compress_free(parts, n);
        StreamIn in;
        uint8_t *ram = fresh(size);
        bool same = rc == 0 && write_file(path, NULL, size, payload, len) == 0 &&
                    stream_in_open(&in, path, &err) == 0;
        if (same) {
            same =
                stream_in_load_ram(&in, ram, size, false, &err) == 0 && memcmp(ram, img, size) == 0;
            stream_in_close(&in);
        }
        ok(same, "and they restore to the same RAM %s", err.msg);
        munmap(ram, size);
        free(payload);
    }
    unlink(path);
    free(path);
    free(map);
    munmap(img, (size_t)IMG_PAGES * PAGE);
}

/* Recompute the end section's CRC: an edited file then fails only where it is wrong. */
static void fix_crc(const char *path)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    uint8_t *buf = malloc((size_t)st.st_size), c[4];
    pread(fd, buf, (size_t)st.st_size, 0);
    le_put(c, 4, (uint32_t)crc32(0, buf, (uInt)(st.st_size - 4)));
    pwrite(fd, c, 4, st.st_size - 4);
    free(buf);
    close(fd);
}

static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    pread(fd, &b, 1, (off_t)off);
    b ^= 0x40;
    pwrite(fd, &b, 1, (off_t)off);
    close(fd);
}

/* A run in the middle of the big image, corrupt inside a valid file: every path refuses it. */
static void test_bad_run_in_the_middle(void)
{
    const size_t size = (size_t)IMG_PAGES * PAGE;
    uint8_t *img = make_image();
    char *path = tmp_path();
    write_file(path, img, size, NULL, 0);
    StreamIn in;
    Error err = {0};
    bool opens = stream_in_open(&in, path, &err) == 0;
    ok(opens, "the image opens: %s", err.msg);
    StreamRun bad = opens ? in.runs[in.nruns / 2] : (StreamRun){0};
    stream_in_close(&in);
    if (!opens)
        goto out;
    flip_byte(path, bad.off + bad.len / 2);
    ok(stream_in_open(&in, path, &err) < 0 && strstr(err.msg, "checksum mismatch"),
       "a flipped byte in a run: %s", err.msg);
    fix_crc(path);
    char want[64];
    snprintf(want, sizeof(want), "RAM run at page %llu does not decompress",
             (unsigned long long)bad.first);
    for (unsigned t = 1; t <= STREAM_MAX_THREADS; t += STREAM_MAX_THREADS - 1) {
        StreamInOpts o = {.threads = t};
        ok(stream_in_open_with(&in, path, &o, &err) == 0, "with its CRC made right it opens");
        uint8_t *ram = fresh(size);
        Error e1 = {0}, e2 = {0};
        ok(stream_in_load_ram(&in, ram, size, false, &e1) < 0 && strstr(e1.msg, want) &&
               strstr(e1.msg, "state file is corrupt"),
           "%u workers, straight: %s", t, e1.msg);
        memset(ram, 0xee, size);
        StreamRamLoad *l = stream_ram_load_start(&in, NULL, &e2);
        ok(l && stream_ram_load_wait(l, &e2) < 0 && strstr(e2.msg, want), "%u workers, staged: %s",
           t, e2.msg);
        stream_ram_load_free(l);
        bool untouched = true;
        for (size_t i = 0; i < size; i += PAGE)
            untouched = untouched && ram[i] == 0xee;
        ok(untouched, "nothing reached RAM");
        munmap(ram, size);
        stream_in_close(&in);
    }
    /* Abandoned while the workers run: they are stopped and joined (ASan: no leak). */
    StreamInOpts many = {.threads = STREAM_MAX_THREADS};
    ok(stream_in_open_with(&in, path, &many, &err) == 0, "reopened");
    int threads = count_threads();
    StreamRamLoad *running = stream_ram_load_start(&in, NULL, &err);
    ok(running != NULL, "a load started: %s", running ? "" : err.msg);
    stream_ram_load_free(running);
    stream_in_close(&in);
    ok(threads > 0 && count_threads() == threads,
       "a load freed while running leaves no worker thread (%d threads before, %d after)", threads,
       count_threads());
    truncate(path, (off_t)(bad.off + bad.len / 2));
    ok(stream_in_open(&in, path, &err) < 0 && strstr(err.msg, "truncated"),
       "a file cut inside a run: %s", err.msg);
out:
    unlink(path);
    free(path);
    munmap(img, size);
}

/* ---- hand-made RAM sections ---- */

#define CRAFT_PAGES 64u

typedef struct Craft {
    uint8_t buf[1 << 20];
    size_t len;
} Craft;

static void craft_put(Craft *c, const void *p, size_t n)
{
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

static void craft_head(Craft *c)
{
    uint8_t h[16] = {0};
    le_put(h, 4, STREAM_RAM_ZSTD);
    le_put(h + 8, 8, (uint64_t)CRAFT_PAGES * PAGE);
    c->len = 0;
    craft_put(c, h, sizeof(h));
}

static void craft_header(Craft *c, uint64_t first, uint32_t pages, uint32_t z)
{
    uint8_t h[16];
    le_put(h, 8, first);
    le_put(h + 8, 4, pages);
    le_put(h + 12, 4, z);
    craft_put(c, h, sizeof(h));
}

/*
 * A run of pages pages whose frame holds data_pages pages of the byte
 * first + 1, cut bytes short, with its middle byte flipped if flip.
 */
static void craft_run_flip(Craft *c, uint64_t first, uint32_t pages, uint32_t data_pages,
                           bool checksum, int cut, bool flip)
{
    static uint8_t data[STREAM_RUN_PAGES * PAGE], frame[STREAM_RUN_PAGES * PAGE + 1024];
    memset(data, (int)first + 1, sizeof(data));
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, checksum);
    size_t z = ZSTD_compress2(cc, frame, sizeof(frame), data, (size_t)data_pages * PAGE);
    ZSTD_freeCCtx(cc);
    frame[z / 2] ^= flip ? 0x5a : 0;
    craft_header(c, first, pages, (uint32_t)z - cut);
    craft_put(c, frame, z - cut);
}

static void craft_run(Craft *c, uint64_t first, uint32_t pages, uint32_t data_pages, bool checksum,
                      int cut)
{
    craft_run_flip(c, first, pages, data_pages, checksum, cut, false);
}

static void craft_good(Craft *c)
{
    craft_head(c);
    craft_run(c, 0, 8, 8, true, 0);
    craft_run(c, 10, 10, 10, true, 0);
    craft_run(c, 40, 24, 24, true, 0);
}

static void craft_bad_frame(Craft *c)
{
    craft_head(c);
    craft_run_flip(c, 0, 8, 8, true, 0, true);
    craft_run(c, 10, 10, 10, true, 0);
}

static void craft_short_data(Craft *c)
{
    craft_head(c);
    craft_run(c, 0, 8, 8, true, 0);
    craft_run(c, 10, 10, 9, true, 0);
}

static void craft_no_checksum(Craft *c)
{
    craft_head(c);
    craft_run(c, 10, 10, 10, false, 0);
}

static void craft_cut_frame(Craft *c)
{
    craft_head(c);
    craft_run(c, 10, 10, 10, true, 6);
}

static void craft_overlap(Craft *c)
{
    craft_head(c);
    craft_run(c, 10, 10, 10, true, 0);
    craft_run(c, 19, 4, 4, true, 0);
}

static void craft_descending(Craft *c)
{
    craft_head(c);
    craft_run(c, 30, 4, 4, true, 0);
    craft_run(c, 10, 4, 4, true, 0);
}

static void craft_past_ram(Craft *c)
{
    craft_head(c);
    craft_run(c, 60, 8, 8, true, 0);
}

static void craft_empty_run(Craft *c)
{
    craft_head(c);
    craft_run(c, 10, 0, 1, true, 0);
}

static void craft_long_run(Craft *c)
{
    craft_head(c);
    craft_header(c, 0, STREAM_RUN_PAGES + 1, 0);
}

static void craft_past_section(Craft *c)
{
    craft_head(c);
    craft_header(c, 10, 1, 100);
    craft_put(c, "abc", 3);
}

static void craft_half_header(Craft *c)
{
    craft_good(c);
    craft_put(c, "0123456789", 10);
}

static void test_crafted_runs(void)
{
    static Craft c;
    static const struct {
        void (*make)(Craft *c);
        const char *what, *want;
        bool opens;
    } cases[] = {
        {craft_bad_frame, "a frame that does not decode", "run at page 0 does not decompress",
         true},
        {craft_short_data, "a frame one page short", "run at page 10 does not decompress", true},
        {craft_no_checksum, "a frame without its checksum", "run at page 10 does not", true},
        {craft_cut_frame, "a frame cut short", "run at page 10 does not decompress", true},
        {craft_overlap, "overlapping runs", "bad RAM run", false},
        {craft_descending, "runs out of order", "bad RAM run", false},
        {craft_past_ram, "a run past the end of RAM", "bad RAM run", false},
        {craft_empty_run, "a run of no pages", "bad RAM run", false},
        {craft_long_run, "a run of 257 pages", "bad RAM run", false},
        {craft_past_section, "a frame past its section", "bad RAM run", false},
        {craft_half_header, "half a run header", "RAM run header", false},
    };
    const size_t size = (size_t)CRAFT_PAGES * PAGE;
    char *path = tmp_path();
    Error err = {0};
    StreamIn in;
    craft_good(&c);
    write_file(path, NULL, 0, c.buf, c.len);
    uint8_t *ram = fresh(size);
    ok(stream_in_open(&in, path, &err) == 0 &&
           stream_in_load_ram(&in, ram, size, false, &err) == 0 && ram[9 * PAGE] == 0 &&
           ram[10 * PAGE] == 11 && ram[63 * PAGE + PAGE - 1] == 41 && ram[20 * PAGE] == 0,
       "hand-made runs load: %s", err.msg);
    stream_in_close(&in);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cases[i].make(&c);
        write_file(path, NULL, 0, c.buf, c.len);
        memset(&err, 0, sizeof(err));
        int rc = stream_in_open(&in, path, &err);
        if (rc == 0) {
            rc = stream_in_load_ram(&in, ram, size, false, &err);
            stream_in_close(&in);
            ok(cases[i].opens && rc < 0 && strstr(err.msg, cases[i].want),
               "%s: opens, refused at load: %s", cases[i].what, err.msg);
        } else {
            ok(!cases[i].opens && strstr(err.msg, cases[i].want), "%s: refused at open: %s",
               cases[i].what, err.msg);
        }
    }
    munmap(ram, size);
    unlink(path);
    free(path);
}

int main(void)
{
    test_round_trips();
    test_parallel_compression();
    test_bad_run_in_the_middle();
    test_crafted_runs();
    return tap_done();
}
