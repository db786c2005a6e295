/*
 * Reading and writing the state stream (format in stream.h, docs/state.md).
 * The reader treats the file as hostile: every length is checked against
 * the file and the caps before anything is allocated, and the CRC is
 * checked before any section is handed out.
 */
#include "state/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "state/stream_pages.h"
#include "state/stream_ram.h"
#include "util/io.h"
#include "util/le.h"

/* ---- writing ---- */

static int out_write(StreamOut *s, const void *buf, size_t len, bool crc, Error *err)
{
    if (stream_channel_write(s->ch, buf, len) < 0)
        return error_set_errno(err, errno, "cannot write the state stream");
    if (crc)
        s->crc = (uint32_t)crc32(s->crc, buf, (uInt)len);
    s->off += len;
    return 0;
}

int stream_out_begin(StreamOut *s, int fd, Error *err)
{
    stream_channel_file(&s->file, fd, false);
    return stream_out_begin_channel(s, &s->file, err);
}

int stream_out_begin_channel(StreamOut *s, StreamChannel *ch, Error *err)
{
    s->ch = ch;
    s->off = 0;
    s->crc = (uint32_t)crc32(0, NULL, 0);
    uint8_t h[STREAM_HEADER_SIZE] = {0};
    memcpy(h, STREAM_MAGIC, 8);
    le_put(h + 8, 2, STREAM_MAJOR);
    le_put(h + 10, 2, STREAM_MINOR);
    le_put(h + 12, 4, STREAM_HEADER_SIZE);
    return out_write(s, h, sizeof(h), true, err);
}

static int out_section_header(StreamOut *s, const char *tag, uint32_t instance, uint16_t version,
                              uint16_t flags, uint64_t len, Error *err)
{
    size_t tl = strlen(tag);
    if (tl == 0 || tl > STREAM_MAX_TAG)
        return error_set(err, "bad section tag '%s'", tag);
    uint8_t h[1 + STREAM_MAX_TAG + 16];
    h[0] = (uint8_t)tl;
    memcpy(h + 1, tag, tl);
    uint8_t *p = h + 1 + tl;
    le_put(p, 4, instance);
    le_put(p + 4, 2, version);
    le_put(p + 6, 2, flags);
    le_put(p + 8, 8, len);
    return out_write(s, h, 1 + tl + 16, true, err);
}

int stream_out_section(StreamOut *s, const char *tag, uint32_t instance, uint16_t version,
                       uint16_t flags, const void *payload, size_t len, Error *err)
{
    if (len > STREAM_MAX_SECTION)
        return error_set(err, "section %s is too large (%zu bytes)", tag, len);
    if (out_section_header(s, tag, instance, version, flags, len, err) < 0)
        return -1;
    return out_write(s, payload, len, true, err);
}

bool stream_page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[STREAM_PAGE];
    return memcmp(p, zero, STREAM_PAGE) == 0;
}

/* Is every mapping over [lo, hi) private anonymous memory (no file behind it)? */
static bool range_is_anonymous(uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char line[4352]; /* a path can be up to PATH_MAX */
    bool anon = f != NULL;
    while (anon && fgets(line, sizeof(line), f)) {
        unsigned long start, end, inode;
        char perms[8];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %7s %*x %*s %lu %n", &start, &end, perms, &inode, &path_at) < 4)
            anon = false;
        else if (start < hi && end > lo)
            anon = inode == 0 && perms[3] == 'p' && line[path_at] != '/';
    }
    if (f)
        fclose(f);
    return anon;
}

/*
 * Marks in map the pages of anonymous RAM that the host never populated
 * (pagemap: neither present nor swapped): they read as zeros, and testing
 * them by reading would fault each one in, which costs seconds for an idle
 * 512 MiB guest.  Returns false when that cannot be known (then every page
 * is read).
 */
static bool ram_untouched(const uint8_t *ram, uint64_t pages, uint8_t *map)
{
    enum { CHUNK = 4096 };
    if (sysconf(_SC_PAGESIZE) != STREAM_PAGE ||
        !range_is_anonymous((uintptr_t)ram, (uintptr_t)ram + pages * STREAM_PAGE))
        return false;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint64_t entry[CHUNK], base = (uintptr_t)ram / STREAM_PAGE;
    bool ok = true;
    for (uint64_t i = 0; ok && i < pages; i += CHUNK) {
        uint64_t n = pages - i < CHUNK ? pages - i : CHUNK;
        ok = io_pread_all(fd, entry, n * 8, (off_t)((base + i) * 8)) == 0;
        for (uint64_t j = 0; ok && j < n; j++) {
            if (!(entry[j] >> 62)) /* bit 63 present, bit 62 swapped */
                map[(i + j) / 8] |= (uint8_t)(1u << ((i + j) % 8));
        }
    }
    close(fd);
    return ok;
}

/* A bitmap of the pages that hold something other than zeros (caller frees). */
static uint8_t *ram_page_map(const uint8_t *ram, uint64_t pages, Error *err)
{
    uint64_t len = (pages + 7) / 8;
    uint8_t *map = calloc(1, len + 16), *untouched = calloc(1, len + 16);
    if (!map || !untouched) {
        free(map);
        free(untouched);
        error_set(err, "out of memory saving RAM");
        return NULL;
    }
    if (!ram_untouched(ram, pages, untouched))
        memset(untouched, 0, len);
    for (uint64_t i = 0; i < pages; i++) {
        if (!stream_map_bit(untouched, i) && !stream_page_is_zero(ram + i * STREAM_PAGE))
            map[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    free(untouched);
    return map;
}

uint8_t *stream_ram_present_map(const uint8_t *ram, uint64_t pages, Error *err)
{
    return ram_page_map(ram, pages, err);
}

/* Writes the present pages at their offsets, a run of them per call. */
static int out_ram_pages(StreamOut *s, const uint8_t *ram, uint64_t pages, const uint8_t *map,
                         uint64_t data_off, Error *err)
{
    for (uint64_t i = 0; i < pages;) {
        if (!stream_map_bit(map, i)) {
            i++;
            continue;
        }
        uint64_t n = 1;
        while (n < STREAM_RUN_PAGES && i + n < pages && stream_map_bit(map, i + n))
            n++;
        if (io_pwrite_all(s->ch->fd, ram + i * STREAM_PAGE, n * STREAM_PAGE,
                          (off_t)(data_off + i * STREAM_PAGE)) < 0)
            return error_set_errno(err, errno, "cannot write the state file");
        i += n;
    }
    return 0;
}

/* A channel that cannot seek: every page in order, absent ones as zeros (the file's holes). */
static int out_ram_pages_seq(StreamOut *s, const uint8_t *ram, uint64_t pages, const uint8_t *map,
                             Error *err)
{
    static const uint8_t zero[16 * STREAM_PAGE];
    for (uint64_t i = 0; i < pages;) {
        bool present = stream_map_bit(map, i);
        uint64_t n = 1, max = present ? STREAM_RUN_PAGES : sizeof(zero) / STREAM_PAGE;
        while (n < max && i + n < pages && stream_map_bit(map, i + n) == present)
            n++;
        if (out_write(s, present ? ram + i * STREAM_PAGE : zero, n * STREAM_PAGE, false, err) < 0)
            return -1;
        i += n;
    }
    return 0;
}

/*
 * The flat RAM section up to its data: section header, encoding, size, page
 * map and padding to a page boundary; *data_off is where page 0 goes.
 */
static int out_flat_head(StreamOut *s, uint64_t size, const uint8_t *map, uint16_t version,
                         uint16_t flags, uint64_t *data_off, Error *err)
{
    static const uint8_t pad[STREAM_PAGE];
    uint64_t map_len = (size / STREAM_PAGE + 7) / 8;
    /* payload = encoding u32 | reserved u32 | size u64 | map | pad | data */
    uint64_t hdr_end = s->off + 1 + 3 + 16 + 16 + map_len;
    *data_off = (hdr_end + STREAM_PAGE - 1) / STREAM_PAGE * STREAM_PAGE;
    uint8_t head[16];
    le_put(head, 4, STREAM_RAM_FLAT);
    le_put(head + 4, 4, 0);
    le_put(head + 8, 8, size);
    if (out_section_header(s, "ram", 0, version, flags, 16 + map_len + (*data_off - hdr_end) + size,
                           err) < 0 ||
        out_write(s, head, sizeof(head), true, err) < 0 ||
        out_write(s, map, map_len, true, err) < 0)
        return -1;
    return out_write(s, pad, *data_off - s->off, true, err);
}

/* After the pages: the file covers all of RAM (absent pages stay holes). */
static int out_flat_end(StreamOut *s, uint64_t data_off, uint64_t size, Error *err)
{
    if (!s->ch->seekable)
        return 0; /* the pages went in order: s->off is there already */
    s->off = data_off + size;
    if (ftruncate(s->ch->fd, (off_t)s->off) < 0 || lseek(s->ch->fd, (off_t)s->off, SEEK_SET) < 0)
        return error_set_errno(err, errno, "cannot write the state file");
    return 0;
}

/* Flat: map, padding to a page boundary, then present pages at their offsets. */
static int out_ram_flat(StreamOut *s, const uint8_t *ram, uint64_t size, Error *err)
{
    uint64_t pages = size / STREAM_PAGE, data_off;
    uint8_t *map = ram_page_map(ram, pages, err);
    if (!map)
        return -1;
    int rc = out_flat_head(s, size, map, 1, 0, &data_off, err);
    if (rc == 0)
        rc = s->ch->seekable ? out_ram_pages(s, ram, pages, map, data_off, err)
                             : out_ram_pages_seq(s, ram, pages, map, err);
    free(map);
    return rc < 0 ? -1 : out_flat_end(s, data_off, size, err);
}

/* The zstd encoding: runs compressed on worker threads (stream_ram.c), written in order. */
static int out_ram_zstd(StreamOut *s, const uint8_t *ram, uint64_t size, int level, Error *err)
{
    uint64_t pages = size / STREAM_PAGE;
    uint8_t *map = ram_page_map(ram, pages, err);
    if (!map)
        return -1;
    StreamZPart parts[STREAM_MAX_THREADS];
    unsigned n = 0;
    int rc = stream_ram_compress(ram, map, pages, level, 0, parts, &n, err);
    free(map);
    if (rc < 0)
        return -1;
    uint8_t head[16];
    uint64_t len = sizeof(head);
    for (unsigned i = 0; i < n; i++)
        len += parts[i].len;
    le_put(head, 4, STREAM_RAM_ZSTD);
    le_put(head + 4, 4, 0);
    le_put(head + 8, 8, size);
    rc = out_section_header(s, "ram", 0, 1, 0, len, err);
    if (rc == 0)
        rc = out_write(s, head, sizeof(head), true, err);
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = out_write(s, parts[i].buf, parts[i].len, true, err);
    stream_ram_compress_free(parts, n);
    return rc;
}

int stream_out_ram(StreamOut *s, const uint8_t *ram, uint64_t size, int encoding, int level,
                   Error *err)
{
    if (size % STREAM_PAGE)
        return error_set(err, "RAM size is not a multiple of 4 KiB");
    return encoding == STREAM_RAM_ZSTD ? out_ram_zstd(s, ram, size, level, err)
                                       : out_ram_flat(s, ram, size, err);
}

int stream_out_end(StreamOut *s, Error *err)
{
    if (out_section_header(s, "end", 0, 1, 0, 4, err) < 0)
        return -1;
    uint8_t c[4];
    le_put(c, 4, s->crc);
    return out_write(s, c, 4, false, err);
}

/* ---- reading ---- */

typedef struct Reader {
    StreamIn *s;
    uint64_t off, size;
    uint32_t crc;
    Error *err;
} Reader;

/* len bytes from a channel read in order; its end before them is a truncated stream. */
static int rd_seq(Reader *r, void *buf, uint64_t len)
{
    ssize_t n = stream_channel_read(&r->s->ch, buf, (size_t)len);
    if (n < 0)
        return error_set_errno(r->err, errno, "%s: cannot read the state stream", r->s->path);
    if ((uint64_t)n < len)
        return error_set(r->err, "%s: the state stream is truncated", r->s->path);
    return 0;
}

static int rd(Reader *r, void *buf, uint64_t len, bool crc)
{
    if (len > r->size - r->off)
        return error_set(r->err, "%s: the state file is truncated", r->s->path);
    if (r->s->sequential) {
        if (rd_seq(r, buf, len) < 0)
            return -1;
    } else if (io_pread_all(r->s->fd, buf, (size_t)len, r->off) < 0)
        return error_set_errno(r->err, errno, "%s: cannot read the state file", r->s->path);
    if (crc)
        r->crc = (uint32_t)crc32(r->crc, buf, (uInt)len);
    r->off += len;
    return 0;
}

/* CRC len bytes of the file from r->off without keeping them. */
static int rd_skip_crc(Reader *r, uint64_t len)
{
    uint8_t buf[65536];
    while (len) {
        uint64_t n = len < sizeof(buf) ? len : sizeof(buf);
        if (rd(r, buf, n, true) < 0)
            return -1;
        len -= n;
    }
    return 0;
}

static int rd_header(Reader *r)
{
    uint8_t h[STREAM_HEADER_SIZE];
    if (r->size < STREAM_HEADER_SIZE)
        return error_set(r->err, "%s: not a hostel state file (too short)", r->s->path);
    if (rd(r, h, sizeof(h), true) < 0)
        return -1;
    if (memcmp(h, STREAM_MAGIC, 8) != 0)
        return error_set(r->err, "%s: not a hostel state file", r->s->path);
    r->s->major = (uint16_t)le_get(h + 8, 2);
    r->s->minor = (uint16_t)le_get(h + 10, 2);
    uint32_t hlen = (uint32_t)le_get(h + 12, 4);
    if (r->s->major != STREAM_MAJOR)
        return error_set(r->err,
                         "%s: state format %u.%u is not supported (this hostel reads "
                         "%u.x)",
                         r->s->path, r->s->major, r->s->minor, STREAM_MAJOR);
    if (hlen < STREAM_HEADER_SIZE || hlen > STREAM_PAGE)
        return error_set(r->err, "%s: state file is corrupt: bad header length", r->s->path);
    return rd_skip_crc(r, hlen - STREAM_HEADER_SIZE);
}

static int rd_ram_seq(Reader *r, uint64_t rest);

static int rd_ram(Reader *r, const StreamSection *sec)
{
    StreamIn *s = r->s;
    uint8_t head[16];
    if (s->has_ram)
        return error_set(r->err, "%s: state file is corrupt: two RAM sections", s->path);
    if (sec->len < sizeof(head) || rd(r, head, sizeof(head), true) < 0)
        return sec->len < sizeof(head) ? error_set(r->err,
                                                   "%s: state file is corrupt: "
                                                   "short RAM section",
                                                   s->path)
                                       : -1;
    s->has_ram = true;
    s->ram_encoding = (int)le_get(head, 4);
    s->ram_size = le_get(head + 8, 8);
    if (s->ram_size % STREAM_PAGE || s->ram_size > STREAM_MAX_RAM)
        return error_set(r->err, "%s: state file is corrupt: bad RAM size", s->path);
    uint64_t rest = sec->len - sizeof(head);
    if (s->sequential)
        return rd_ram_seq(r, rest);
    if (s->ram_encoding == STREAM_RAM_ZSTD) {
        /* The bulk of a compressed file: its CRC is computed in parallel slices. */
        uint32_t crc;
        s->ram_runs_off = r->off;
        s->ram_runs_len = rest;
        if (stream_crc_range(s, r->off, rest, &crc, r->err) < 0)
            return -1;
        r->crc = (uint32_t)crc32_combine(r->crc, crc, (z_off_t)rest);
        r->off += rest;
        return 0;
    }
    if (s->ram_encoding != STREAM_RAM_FLAT)
        return error_set(r->err, "%s: state file is corrupt: unknown RAM encoding", s->path);
    uint64_t pages = s->ram_size / STREAM_PAGE, map_len = (pages + 7) / 8;
    uint64_t hdr_end = r->off + map_len;
    uint64_t data_off = (hdr_end + STREAM_PAGE - 1) / STREAM_PAGE * STREAM_PAGE;
    if (rest != map_len + (data_off - hdr_end) + s->ram_size)
        return error_set(r->err, "%s: state file is corrupt: RAM section length", s->path);
    if (!(s->ram_map = malloc(map_len ? map_len : 1)))
        return error_set(r->err, "out of memory reading %s", s->path);
    if (rd(r, s->ram_map, map_len, true) < 0 || rd_skip_crc(r, data_off - hdr_end) < 0)
        return -1;
    for (uint64_t i = 0; i < pages; i++)
        s->ram_pages_present += stream_map_bit(s->ram_map, i);
    s->ram_data_off = data_off;
    if (s->ram_size > r->size - r->off)
        return error_set(r->err, "%s: the state file is truncated", s->path);
    r->off += s->ram_size;
    return 0;
}

/* ---- RAM from a channel read in order (see stream_in_open_channel) ---- */

/* An anonymous mapping for received RAM: pages are taken only when written. */
static int staging_alloc(Reader *r)
{
    StreamIn *s = r->s;
    if (!s->ram_size)
        return 0;
    void *p = mmap(NULL, s->ram_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return error_set_errno(r->err, errno, "%s: cannot reserve memory to receive RAM", s->path);
    s->ram_staged = p;
    return 0;
}

/* n bytes of the stream that no one keeps (CRC'd when crc). */
static int rd_discard(Reader *r, uint64_t n, bool crc)
{
    uint8_t buf[16 * STREAM_PAGE];
    while (n) {
        uint64_t k = n < sizeof(buf) ? n : sizeof(buf);
        if (rd(r, buf, k, crc) < 0)
            return -1;
        n -= k;
    }
    return 0;
}

/* Flat RAM: the page map, the padding, then every page in order (absent ones dropped). */
static int rd_flat_seq(Reader *r, uint64_t rest)
{
    StreamIn *s = r->s;
    uint64_t pages = s->ram_size / STREAM_PAGE, map_len = (pages + 7) / 8;
    uint64_t hdr_end = r->off + map_len;
    uint64_t pad = (hdr_end + STREAM_PAGE - 1) / STREAM_PAGE * STREAM_PAGE - hdr_end;
    if (rest != map_len + pad + s->ram_size)
        return error_set(r->err, "%s: state file is corrupt: RAM section length", s->path);
    if (!(s->ram_map = malloc(map_len ? map_len : 1)))
        return error_set(r->err, "out of memory reading %s", s->path);
    if (rd(r, s->ram_map, map_len, true) < 0 || rd_skip_crc(r, pad) < 0 || staging_alloc(r) < 0)
        return -1;
    for (uint64_t i = 0; i < pages;) {
        bool present = stream_map_bit(s->ram_map, i);
        uint64_t n = 1;
        while (n < STREAM_RUN_PAGES && i + n < pages &&
               stream_map_bit(s->ram_map, i + n) == present)
            n++;
        int rc = present ? rd(r, s->ram_staged + i * STREAM_PAGE, n * STREAM_PAGE, false)
                         : rd_discard(r, n * STREAM_PAGE, false);
        if (rc < 0)
            return -1;
        s->ram_pages_present += present ? n : 0;
        i += n;
    }
    return 0;
}

/* One zstd run from the channel: header checked, frame read and decompressed into staging. */
static int rd_run_seq(Reader *r, uint64_t *left, uint64_t *next, uint8_t *buf, ZSTD_DCtx *dc)
{
    StreamIn *s = r->s;
    uint64_t pages = s->ram_size / STREAM_PAGE, at = r->off;
    uint8_t h[16];
    if (*left < sizeof(h) || rd(r, h, sizeof(h), true) < 0)
        return *left < sizeof(h)
                   ? error_set(r->err, "%s: state file is corrupt: RAM run header", s->path)
                   : -1;
    *left -= sizeof(h);
    uint64_t first = le_get(h, 8);
    uint32_t n = (uint32_t)le_get(h + 8, 4), len = (uint32_t)le_get(h + 12, 4);
    if (n == 0 || n > STREAM_RUN_PAGES || first < *next || first > pages || n > pages - first ||
        len > ZSTD_compressBound(STREAM_RUN_PAGES * STREAM_PAGE) || len > *left)
        return error_set(r->err, "%s: state file is corrupt: bad RAM run at offset %llu", s->path,
                         (unsigned long long)at);
    if (rd(r, buf, len, true) < 0)
        return -1;
    *left -= len;
    *next = first + n;
    size_t got = ZSTD_decompressDCtx(dc, s->ram_staged + first * STREAM_PAGE,
                                     (size_t)n * STREAM_PAGE, buf, len);
    if (ZSTD_isError(got) || got != (size_t)n * STREAM_PAGE || !stream_frame_has_checksum(buf, len))
        return error_set(r->err,
                         "%s: state file is corrupt: RAM run at page %llu does not decompress",
                         s->path, (unsigned long long)first);
    return 0;
}

/* zstd RAM: the runs in order, each decompressed as it arrives. */
static int rd_zstd_seq(Reader *r, uint64_t rest)
{
    uint8_t *buf = malloc(ZSTD_compressBound(STREAM_RUN_PAGES * STREAM_PAGE));
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    int rc =
        buf && dc ? staging_alloc(r) : error_set(r->err, "out of memory reading %s", r->s->path);
    uint64_t next = 0;
    while (rc == 0 && rest)
        rc = rd_run_seq(r, &rest, &next, buf, dc);
    free(buf);
    ZSTD_freeDCtx(dc);
    return rc;
}

static int rd_ram_seq(Reader *r, uint64_t rest)
{
    if (r->s->ram_encoding == STREAM_RAM_ZSTD)
        return rd_zstd_seq(r, rest);
    if (r->s->ram_encoding != STREAM_RAM_FLAT)
        return error_set(r->err, "%s: state file is corrupt: unknown RAM encoding", r->s->path);
    return rd_flat_seq(r, rest);
}

/* The RAM size a "ram-pages" section names: the first sets up staging, the others agree. */
static int rd_pages_size(Reader *r, uint64_t size)
{
    StreamIn *s = r->s;
    if (s->has_ram && s->ram_encoding != STREAM_RAM_PAGES)
        return error_set(r->err, "%s: state file is corrupt: two RAM sections", s->path);
    if (s->has_ram)
        return size == s->ram_size
                   ? 0
                   : error_set(r->err, "%s: state file is corrupt: RAM pages of another size",
                               s->path);
    if (size % STREAM_PAGE || size == 0 || size > STREAM_MAX_RAM)
        return error_set(r->err, "%s: state file is corrupt: bad RAM size", s->path);
    s->has_ram = true;
    s->ram_encoding = STREAM_RAM_PAGES;
    s->ram_size = size;
    return staging_alloc(r);
}

/* Apply a checked-size "ram-pages" payload to the staged RAM. */
static int rd_pages_apply(Reader *r, const uint8_t *buf, uint64_t len)
{
    StreamIn *s = r->s;
    uint64_t count = le_get(buf + 8, 4), at = 16, pages = s->ram_size / STREAM_PAGE;
    if (count == 0 || count > STREAM_PAGES_MAX)
        return error_set(r->err, "%s: state file is corrupt: bad RAM pages count", s->path);
    for (uint64_t i = 0; i < count; i++) {
        if (len - at < 8)
            return error_set(r->err, "%s: state file is corrupt: short RAM pages", s->path);
        uint64_t pg = le_get(buf + at, 8), idx = pg & ~STREAM_PAGE_ZERO;
        bool zero = (pg & STREAM_PAGE_ZERO) != 0;
        at += 8;
        if (idx >= pages || (!zero && len - at < STREAM_PAGE))
            return error_set(r->err, "%s: state file is corrupt: bad RAM page %llu", s->path,
                             (unsigned long long)idx);
        if (zero)
            memset(s->ram_staged + idx * STREAM_PAGE, 0, STREAM_PAGE);
        else
            memcpy(s->ram_staged + idx * STREAM_PAGE, buf + at, STREAM_PAGE);
        at += zero ? 0 : STREAM_PAGE;
        s->ram_pages_present++;
    }
    if (at != len)
        return error_set(r->err, "%s: state file is corrupt: RAM pages length", s->path);
    return 0;
}

/* A compressed section's entries, inflated behind a copy of its header. */
static int rd_pages_inflated(Reader *r, const uint8_t *buf, uint64_t len)
{
    uint8_t *plain = malloc(16 + STREAM_PAGES_ENTRIES_MAX);
    if (!plain)
        return error_set(r->err, "out of memory reading %s", r->s->path);
    Error e = {0};
    int64_t n = stream_pages_inflate(buf + 16, len - 16, plain + 16, &e);
    int rc = n < 0 ? error_set(r->err, "%s: state file is corrupt: %s", r->s->path, e.msg) : 0;
    if (rc == 0) {
        memcpy(plain, buf, 16);
        rc = rd_pages_apply(r, plain, 16 + (uint64_t)n);
    }
    free(plain);
    return rc;
}

/* The section's version and flags agree: 1 is plain, 2 may be compressed. */
static int rd_pages_flags(Reader *r, const StreamSection *sec, uint32_t flags)
{
    uint32_t known = sec->version >= 2 ? STREAM_PAGES_ZSTD : 0;
    if (sec->version < 1 || sec->version > 2)
        return error_set(r->err, "%s: RAM pages version %u is not supported", r->s->path,
                         sec->version);
    if (flags & ~known)
        return error_set(r->err, "%s: state file is corrupt: unknown RAM pages flags", r->s->path);
    return 0;
}

/* A "ram-pages" section (migration): applied at once, not kept in the section table. */
static int rd_pages(Reader *r, StreamSection *sec)
{
    StreamIn *s = r->s;
    if (!s->sequential)
        return error_set(r->err, "%s: state file is corrupt: RAM pages outside a migration stream",
                         s->path);
    if (sec->len < 16 || sec->len > 16 + ZSTD_compressBound(STREAM_PAGES_ENTRIES_MAX))
        return error_set(r->err, "%s: state file is corrupt: bad RAM pages section", s->path);
    uint8_t *buf = malloc(sec->len);
    if (!buf)
        return error_set(r->err, "out of memory reading %s", s->path);
    int rc = rd(r, buf, sec->len, true);
    uint32_t flags = rc == 0 ? (uint32_t)le_get(buf + 12, 4) : 0;
    if (rc == 0)
        rc = rd_pages_flags(r, sec, flags);
    if (rc == 0)
        rc = rd_pages_size(r, le_get(buf, 8));
    if (rc == 0)
        rc = flags & STREAM_PAGES_ZSTD ? rd_pages_inflated(r, buf, sec->len)
                                       : rd_pages_apply(r, buf, sec->len);
    free(buf);
    s->nsec--; /* the pages are in staging: no section to keep */
    return rc;
}

static int rd_end(Reader *r, const StreamSection *sec)
{
    uint8_t c[4];
    uint32_t want = r->crc;
    if (sec->len != 4 || rd(r, c, 4, false) < 0)
        return sec->len != 4
                   ? error_set(r->err, "%s: state file is corrupt: bad end section", r->s->path)
                   : -1;
    if ((uint32_t)le_get(c, 4) != want)
        return error_set(r->err, "%s: state file is corrupt: checksum mismatch", r->s->path);
    if (!r->s->sequential && r->off != r->size)
        return error_set(r->err, "%s: state file is corrupt: data after the end", r->s->path);
    return 1;
}

/* Tags are names ("hart", "virtio-net"): they end up in messages and JSON as they are. */
static bool tag_ok(const char *tag, uint8_t len)
{
    for (uint8_t i = 0; i < len; i++) {
        char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Read one section header and its payload; 1 at the end section, 0 otherwise, -1 on error. */
static int rd_section(Reader *r)
{
    StreamIn *s = r->s;
    uint8_t tl, h[16];
    if (r->off == r->size)
        return error_set(r->err, "%s: the state file is truncated (no end section)", s->path);
    if (rd(r, &tl, 1, true) < 0)
        return -1;
    if (tl == 0 || tl > STREAM_MAX_TAG)
        return error_set(r->err, "%s: state file is corrupt: bad section tag", s->path);
    if (s->nsec == STREAM_MAX_SECTIONS)
        return error_set(r->err, "%s: state file is corrupt: too many sections", s->path);
    StreamSection *sec = &s->sec[s->nsec];
    memset(sec, 0, sizeof(*sec));
    if (rd(r, sec->tag, tl, true) < 0 || rd(r, h, sizeof(h), true) < 0)
        return -1;
    if (!tag_ok(sec->tag, tl))
        return error_set(r->err, "%s: state file is corrupt: bad section tag", s->path);
    s->nsec++;
    sec->instance = (uint32_t)le_get(h, 4);
    sec->version = (uint16_t)le_get(h + 4, 2);
    sec->flags = (uint16_t)le_get(h + 6, 2);
    sec->len = le_get(h + 8, 8);
    sec->offset = r->off;
    if (sec->len > r->size - r->off)
        return error_set(r->err, "%s: the state file is truncated (section %s)", s->path, sec->tag);
    if (strcmp(sec->tag, "end") == 0)
        return rd_end(r, sec);
    if (strcmp(sec->tag, "ram") == 0)
        return rd_ram(r, sec);
    if (strcmp(sec->tag, STREAM_PAGES_TAG) == 0)
        return rd_pages(r, sec);
    if (sec->len > STREAM_MAX_SECTION)
        return error_set(r->err, "%s: state file is corrupt: section %s is too large", s->path,
                         sec->tag);
    if (!(sec->payload = malloc(sec->len ? sec->len : 1)))
        return error_set(r->err, "out of memory reading %s", s->path);
    return rd(r, sec->payload, sec->len, true);
}

int stream_in_open(StreamIn *s, const char *path, Error *err)
{
    return stream_in_open_with(s, path, &(StreamInOpts){0}, err);
}

/* s emptied, with its name and room for the section table; ch taken over. */
static int in_init(StreamIn *s, StreamChannel *ch, const char *name, const StreamInOpts *o,
                   Error *err)
{
    memset(s, 0, sizeof(*s));
    s->ch = *ch;
    s->fd = ch->seekable ? ch->fd : -1;
    s->sequential = !ch->seekable;
    s->opts = *o;
    s->path = strdup(name);
    s->sec = calloc(STREAM_MAX_SECTIONS, sizeof(*s->sec));
    if (!s->path || !s->sec) {
        stream_in_close(s);
        return error_set(err, "out of memory");
    }
    return 0;
}

/* Read and check the whole stream (s set up by in_init); closes s on failure. */
static int in_read(StreamIn *s, Error *err)
{
    struct stat st = {.st_size = 0};
    if (!s->sequential && fstat(s->fd, &st) < 0) {
        error_set_errno(err, errno, "%s: cannot open the state file", s->path);
        stream_in_close(s);
        return -1;
    }
    Reader r = {.s = s,
                .size = s->sequential ? UINT64_MAX : (uint64_t)st.st_size,
                .crc = (uint32_t)crc32(0, NULL, 0),
                .err = err};
    int rc = rd_header(&r);
    while (rc == 0)
        rc = rd_section(&r);
    /* Run headers are parsed once the CRC vouches for them: a flipped byte reads as such. */
    if (rc > 0 && !s->sequential && s->has_ram && s->ram_encoding == STREAM_RAM_ZSTD)
        rc = stream_runs_index(s, err);
    if (rc < 0) {
        stream_in_close(s);
        return -1;
    }
    return 0;
}

int stream_in_open_with(StreamIn *s, const char *path, const StreamInOpts *o, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        memset(s, 0, sizeof(*s));
        s->fd = -1;
        return error_set_errno(err, errno, "%s: cannot open the state file", path);
    }
    StreamChannel ch;
    stream_channel_file(&ch, fd, true);
    return stream_in_open_channel(s, &ch, path, o, err);
}

int stream_in_open_channel(StreamIn *s, StreamChannel *ch, const char *name, const StreamInOpts *o,
                           Error *err)
{
    if (in_init(s, ch, name, o, err) < 0)
        return -1;
    return in_read(s, err);
}

int stream_in_open_fd(StreamIn *s, int fd, const char *name, const StreamInOpts *o, Error *err)
{
    StreamChannel ch;
    int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (mine < 0 || stream_channel_for_fd(&ch, mine, true, err) < 0) {
        if (mine < 0)
            error_set_errno(err, errno, "%s: cannot read the state stream", name);
        else
            close(mine);
        memset(s, 0, sizeof(*s));
        s->fd = -1;
        return -1;
    }
    return stream_in_open_channel(s, &ch, name, o, err);
}

void stream_in_close(StreamIn *s)
{
    for (int i = 0; s->sec && i < s->nsec; i++)
        free(s->sec[i].payload);
    free(s->sec);
    free(s->ram_map);
    free(s->runs);
    free(s->path);
    if (s->ram_staged)
        munmap(s->ram_staged, s->ram_size);
    stream_channel_close(&s->ch);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

const StreamSection *stream_in_find(const StreamIn *s, const char *tag, uint32_t instance)
{
    for (int i = 0; i < s->nsec; i++) {
        if (s->sec[i].instance == instance && strcmp(s->sec[i].tag, tag) == 0)
            return &s->sec[i];
    }
    return NULL;
}

static int load_ram_flat(StreamIn *s, uint8_t *ram, uint64_t size, bool map, Error *err)
{
    if (map && size) {
        void *p = mmap(ram, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
                       s->fd, (off_t)s->ram_data_off);
        if (p == MAP_FAILED)
            return error_set_errno(err, errno, "%s: cannot map guest RAM", s->path);
        return 0;
    }
    for (uint64_t i = 0; i < size / STREAM_PAGE; i++) {
        if (!stream_map_bit(s->ram_map, i))
            continue;
        if (io_pread_all(s->fd, ram + i * STREAM_PAGE, STREAM_PAGE,
                         s->ram_data_off + i * STREAM_PAGE) < 0)
            return error_set_errno(err, errno, "%s: cannot read guest RAM", s->path);
    }
    return 0;
}

static int load_ram_zstd(StreamIn *s, uint8_t *ram, Error *err)
{
    StreamRamLoad *l = stream_ram_load_start(s, ram, err);
    if (!l)
        return -1;
    int rc = stream_ram_load_wait(l, err);
    stream_ram_load_free(l);
    return rc;
}

/* Received RAM put over ram: moved (no copy) where the kernel can, else copied. */
static int load_ram_staged(StreamIn *s, uint8_t *ram, uint64_t size, Error *err)
{
    if (!s->ram_staged)
        return size ? error_set(err, "%s: the received RAM was loaded already", s->path) : 0;
    if (mremap(s->ram_staged, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, ram) == MAP_FAILED) {
        memcpy(ram, s->ram_staged, size);
        munmap(s->ram_staged, size);
    }
    s->ram_staged = NULL;
    return 0;
}

int stream_in_load_ram(StreamIn *s, uint8_t *ram, uint64_t size, bool map, Error *err)
{
    if (!s->has_ram)
        return error_set(err, "%s: the state file has no RAM", s->path);
    if (size != s->ram_size)
        return error_set(err, "%s: RAM size mismatch", s->path);
    if (s->sequential)
        return load_ram_staged(s, ram, size, err);
    return s->ram_encoding == STREAM_RAM_ZSTD ? load_ram_zstd(s, ram, err)
                                              : load_ram_flat(s, ram, size, map, err);
}

/* ---- rewriting (clones) ---- */

static int copy_bytes(StreamIn *in, StreamOut *out, uint64_t off, uint64_t len, Error *err)
{
    uint8_t buf[65536];
    while (len) {
        size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
        if (io_pread_all(in->fd, buf, n, off) < 0)
            return error_set_errno(err, errno, "%s: cannot read the state file", in->path);
        if (out_write(out, buf, n, true, err) < 0)
            return -1;
        off += n;
        len -= n;
    }
    return 0;
}

/* The flat RAM section laid out afresh (the sections before it may have changed size). */
static int copy_flat_ram(StreamIn *in, StreamOut *out, const StreamSection *sec, Error *err)
{
    uint64_t data_off;
    if (out_flat_head(out, in->ram_size, in->ram_map, sec->version, sec->flags, &data_off, err) < 0)
        return -1;
    uint8_t page[STREAM_PAGE];
    for (uint64_t i = 0; i < in->ram_size / STREAM_PAGE; i++) {
        if (!stream_map_bit(in->ram_map, i))
            continue;
        if (io_pread_all(in->fd, page, STREAM_PAGE, in->ram_data_off + i * STREAM_PAGE) < 0 ||
            io_pwrite_all(out->ch->fd, page, STREAM_PAGE, data_off + i * STREAM_PAGE) < 0)
            return error_set_errno(err, errno, "%s: cannot copy RAM", in->path);
    }
    return out_flat_end(out, data_off, in->ram_size, err);
}

static const StreamEdit *edit_of(const StreamSection *sec, const StreamEdit *edits, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(sec->tag, edits[i].tag) && sec->instance == edits[i].instance)
            return &edits[i];
    return NULL;
}

int stream_rewrite(StreamIn *in, int fd, const StreamEdit *edits, int nedits, Error *err)
{
    StreamOut out;
    if (in->sequential)
        return error_set(err, "%s: only a state file can be rewritten", in->path);
    if (stream_out_begin(&out, fd, err) < 0)
        return -1;
    for (int i = 0; i < in->nsec; i++) {
        const StreamSection *sec = &in->sec[i];
        const StreamEdit *e;
        int rc;
        if (!strcmp(sec->tag, "end"))
            break;
        if (!strcmp(sec->tag, "ram"))
            rc = in->ram_encoding == STREAM_RAM_FLAT
                     ? copy_flat_ram(in, &out, sec, err)
                     : (out_section_header(&out, "ram", 0, sec->version, sec->flags, sec->len,
                                           err) < 0
                            ? -1
                            : copy_bytes(in, &out, sec->offset, sec->len, err));
        else if ((e = edit_of(sec, edits, nedits)))
            rc = stream_out_section(&out, e->tag, e->instance, e->version, sec->flags, e->payload,
                                    e->len, err);
        else
            rc = stream_out_section(&out, sec->tag, sec->instance, sec->version, sec->flags,
                                    sec->payload, sec->len, err);
        if (rc < 0)
            return -1;
    }
    return stream_out_end(&out, err);
}
