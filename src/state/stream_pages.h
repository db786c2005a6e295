/*
 * Writing migration's "ram-pages" sections (format in stream.h), plain or
 * zstd-compressed, and undoing the compression when reading.
 */
#ifndef HOSTEL_STATE_STREAM_PAGES_H
#define HOSTEL_STATE_STREAM_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/stream.h"
#include "util/error.h"

/* How pages are packed: a zstd context and its buffers (one per sending thread). */
typedef struct StreamPagesZstd StreamPagesZstd;

/* A packer compressing at level (1..19).  NULL with err set when out of memory. */
StreamPagesZstd *stream_pages_zstd_new(int level, Error *err);
void stream_pages_zstd_free(StreamPagesZstd *z);

/*
 * One "ram-pages" section with pages[0..n) of ram (ram_size bytes; n <=
 * STREAM_PAGES_MAX): each page is copied first, so a page the guest writes
 * meanwhile goes out whole (as it was at some instant; the dirty log sends
 * it again).  A zero page goes as its index alone, or not at all when
 * skip_zero (round 0: the receiver starts from zeros).  With z the entries
 * go as a zstd frame (version 2) unless that is not smaller.  No section
 * when nothing is left.  *bytes (if set) gets the bytes written.  Returns
 * 0, or -1 with err set.
 */
int stream_out_ram_pages(StreamOut *s, const uint8_t *ram, uint64_t ram_size, const uint64_t *pages,
                         unsigned n, bool skip_zero, StreamPagesZstd *z, uint64_t *bytes,
                         Error *err);

/*
 * The entries of a compressed section: frame (len bytes) decompressed into
 * out (STREAM_PAGES_ENTRIES_MAX bytes).  Refused unless the frame names its
 * content size, at most that bound, and carries a checksum that holds.
 * Returns the entries' length, or -1 with err set (the message says what
 * is wrong, without the stream's name).
 */
int64_t stream_pages_inflate(const uint8_t *frame, size_t len, uint8_t *out, Error *err);

/* Is the 4 KiB page at p all zeros? */
bool stream_page_is_zero(const uint8_t *p);

#endif
