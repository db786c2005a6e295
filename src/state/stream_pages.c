/*
 * Migration's "ram-pages" sections (format in stream.h): packing pages,
 * with an optional zstd frame over the entries, and unpacking that frame.
 */
#include "state/stream_pages.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "state/stream_ram.h"
#include "util/le.h"

#define HEADER 16 /* RAM size u64 | count u32 | flags u32 */

struct StreamPagesZstd {
    ZSTD_CCtx *cctx;
    uint8_t *frame; /* ZSTD_compressBound(STREAM_PAGES_ENTRIES_MAX) + HEADER */
};

StreamPagesZstd *stream_pages_zstd_new(int level, Error *err)
{
    StreamPagesZstd *z = calloc(1, sizeof(*z));
    if (z) {
        z->cctx = ZSTD_createCCtx();
        z->frame = malloc(HEADER + ZSTD_compressBound(STREAM_PAGES_ENTRIES_MAX));
    }
    if (!z || !z->cctx || !z->frame ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1))) {
        stream_pages_zstd_free(z);
        error_set(err, "cannot set up zstd compression (level %d)", level);
        return NULL;
    }
    return z;
}

void stream_pages_zstd_free(StreamPagesZstd *z)
{
    if (!z)
        return;
    ZSTD_freeCCtx(z->cctx);
    free(z->frame);
    free(z);
}

/* Copy pages[0..n) into buf's entries; returns their length, *count the entries (or -1). */
static int64_t pack(const uint8_t *ram, uint64_t ram_size, const uint64_t *pages, unsigned n,
                    bool skip_zero, uint8_t *buf, uint32_t *count, Error *err)
{
    uint8_t *p = buf;
    *count = 0;
    for (unsigned i = 0; i < n; i++) {
        if (pages[i] >= ram_size / STREAM_PAGE)
            return error_set(err, "page %llu is outside RAM", (unsigned long long)pages[i]);
        memcpy(p + 8, ram + pages[i] * STREAM_PAGE, STREAM_PAGE);
        bool zero = stream_page_is_zero(p + 8);
        if (zero && skip_zero)
            continue;
        le_put(p, 8, pages[i] | (zero ? STREAM_PAGE_ZERO : 0));
        p += zero ? 8 : 8 + STREAM_PAGE;
        (*count)++;
    }
    return p - buf;
}

/* The section from buf's entries (len bytes), compressed through z when that is smaller. */
static int out_section(StreamOut *s, uint64_t ram_size, uint32_t count, uint8_t *buf, size_t len,
                       StreamPagesZstd *z, Error *err)
{
    uint8_t *sec = buf;
    size_t sec_len = HEADER + len;
    uint16_t version = 1;
    uint32_t flags = 0;
    if (z) {
        size_t c = ZSTD_compress2(z->cctx, z->frame + HEADER,
                                  ZSTD_compressBound(STREAM_PAGES_ENTRIES_MAX), buf + HEADER, len);
        if (ZSTD_isError(c))
            return error_set(err, "zstd: %s", ZSTD_getErrorName(c));
        if (c < len) {
            sec = z->frame;
            sec_len = HEADER + c;
            version = 2;
            flags = STREAM_PAGES_ZSTD;
        }
    }
    le_put(sec, 8, ram_size);
    le_put(sec + 8, 4, count);
    le_put(sec + 12, 4, flags);
    return stream_out_section(s, STREAM_PAGES_TAG, 0, version, 0, sec, sec_len, err);
}

int stream_out_ram_pages(StreamOut *s, const uint8_t *ram, uint64_t ram_size, const uint64_t *pages,
                         unsigned n, bool skip_zero, StreamPagesZstd *z, uint64_t *bytes,
                         Error *err)
{
    uint64_t before = s->off;
    if (n > STREAM_PAGES_MAX)
        return error_set(err, "too many pages for one section (%u)", n);
    uint8_t *buf = malloc(HEADER + (size_t)n * (8 + STREAM_PAGE));
    if (!buf)
        return error_set(err, "out of memory sending RAM");
    uint32_t count;
    int64_t len = pack(ram, ram_size, pages, n, skip_zero, buf + HEADER, &count, err);
    int rc = len < 0 ? -1 : 0;
    if (rc == 0 && count)
        rc = out_section(s, ram_size, count, buf, (size_t)len, z, err);
    free(buf);
    if (bytes)
        *bytes = s->off - before;
    return rc;
}

int64_t stream_pages_inflate(const uint8_t *frame, size_t len, uint8_t *out, Error *err)
{
    unsigned long long size = ZSTD_getFrameContentSize(frame, len);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > STREAM_PAGES_ENTRIES_MAX)
        return error_set(err, "bad compressed RAM pages");
    if (!stream_frame_has_checksum(frame, len))
        return error_set(err, "compressed RAM pages without a checksum");
    size_t got = ZSTD_decompress(out, STREAM_PAGES_ENTRIES_MAX, frame, len);
    if (ZSTD_isError(got) || got != size)
        return error_set(err, "compressed RAM pages do not decompress: %s",
                         ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
    return (int64_t)got;
}
