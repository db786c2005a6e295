/*
 * The zstd RAM runs of a state stream (format in stream.h), read in
 * parallel: their CRC at open, their decompression afterwards.
 *
 * A restore starts the workers as soon as the file has passed its checks,
 * into a staging mapping of the loader's own, so they run while the
 * machine is built and its device sections are checked; it then waits for
 * them and moves the staging pages over guest RAM (mremap: no copy).
 * Nothing of the machine is touched before every run has decompressed and
 * passed its frame checksum.
 */
#ifndef HOSTEL_STATE_STREAM_RAM_H
#define HOSTEL_STATE_STREAM_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/stream.h"
#include "util/error.h"

#define STREAM_MAX_THREADS 8

/* Worker threads for s: opts.threads, or one per CPU the process may use; 1..STREAM_MAX_THREADS. */
unsigned stream_threads(const StreamIn *s);

/*
 * CRC-32 (zlib's, starting from 0) of len bytes of s's file at off, read in
 * slices on worker threads.  Returns 0, or -1 with err set.
 */
int stream_crc_range(const StreamIn *s, uint64_t off, uint64_t len, uint32_t *crc, Error *err);

/*
 * Index the zstd runs (s->ram_runs_off, s->ram_runs_len) into s->runs:
 * each header read and checked (inside RAM, ascending and disjoint, at most
 * STREAM_RUN_PAGES pages, frame within bounds).  Returns 0, or -1 with err
 * set ("state file is corrupt: ...").
 */
int stream_runs_index(StreamIn *s, Error *err);

/*
 * Does the zstd frame f carry a content checksum (RFC 8878: the magic
 * number, then the frame header descriptor, whose bit 2 is the checksum
 * flag)?  Our writer always sets it; a frame without one would go unchecked.
 */
bool stream_frame_has_checksum(const uint8_t *f, size_t len);

typedef struct StreamRamLoad StreamRamLoad;

/*
 * Start decompressing s's zstd runs on worker threads.  dst: the RAM to
 * fill (s->ram_size bytes, reading as zero), or NULL for a staging mapping
 * that stream_ram_load_move puts in place later (fully covered 2 MiB
 * blocks there get transparent huge pages: far fewer page faults, and no
 * page is populated that the file does not hold).  s must stay open until
 * stream_ram_load_free.  Returns NULL with err set if memory is short
 * (threads that cannot be created are not an error: stream_ram_load_wait
 * then does the work).
 */
StreamRamLoad *stream_ram_load_start(StreamIn *s, uint8_t *dst, Error *err);

/*
 * Decompress what the workers have not taken yet on the calling thread,
 * then wait for them.  Returns 0 once every run decompressed to its size
 * and passed its frame checksum, else -1 with err set (one bad run's
 * error; the workers are stopped early).
 */
int stream_ram_load_wait(StreamRamLoad *l, Error *err);

/*
 * After a successful wait on a staging load: move the loaded pages over
 * ram (s->ram_size bytes, a private anonymous mapping whose old contents
 * are dropped).  Falls back to copying a part that cannot be remapped;
 * cannot fail otherwise.
 */
void stream_ram_load_move(StreamRamLoad *l, uint8_t *ram);

/* Stop the workers if they still run, join them and free everything (NULL: nothing). */
void stream_ram_load_free(StreamRamLoad *l);

/* Compressed runs of one share of RAM, as they go into the file. */
typedef struct StreamZPart {
    uint8_t *buf;
    size_t len, cap;
} StreamZPart;

/*
 * Compress the pages of ram that map marks present (one bit per page, of
 * pages) into zstd runs for a save, on worker threads: threads of them (0:
 * one per CPU the process may use, fewer for a small RAM, at most
 * STREAM_MAX_THREADS), each taking an equal share of the present pages in
 * page order.  parts[0..*nparts) hold the runs in page order: the file
 * holds them one after the other.  Returns 0, or -1 with err set and
 * nothing left allocated.
 */
int stream_ram_compress(const uint8_t *ram, const uint8_t *map, uint64_t pages, int level,
                        unsigned threads, StreamZPart *parts, unsigned *nparts, Error *err);
void stream_ram_compress_free(StreamZPart *parts, unsigned n);

#endif
