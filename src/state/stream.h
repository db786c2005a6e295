/*
 * The VM state stream (suspend files, snapshots, later migration): one
 * format, described in docs/state.md.
 *
 *   header   "HOSTELVM" | major u16 | minor u16 | header bytes u32 | flags u32 | reserved u64
 *   sections tag length u8 | tag | instance u32 | version u16 | flags u16 | length u64 | payload
 *            ... "ram" (RAM pages) ... "end" (payload: CRC-32 of every byte before it)
 *
 * All integers little-endian.  A section flagged STREAM_SEC_OPTIONAL may be
 * skipped by a reader that does not know its tag; any other unknown tag is
 * refused.  A newer major is refused; a newer minor is read.
 *
 * RAM ("ram" section) comes in two encodings:
 *   flat: the payload is a page map (one bit per 4 KiB page: 1 = present)
 *         followed, at the next 4 KiB boundary of the file, by a RAM-sized
 *         region where page i lives at its own offset; absent pages are
 *         holes.  A restore maps that region privately, so RAM is read
 *         lazily and the first instruction runs at once.
 *   zstd: runs of present pages: start page u64 | pages u32 | compressed
 *         bytes u32 | zstd frame (with its content checksum); runs are in
 *         ascending page order, disjoint, of at most STREAM_RUN_PAGES
 *         pages each, so they can be decompressed in parallel
 *         (stream_ram.h).
 * The CRC covers the header, every section header and payload, and the
 * page map; flat page contents are not read at restore (that is the point
 * of the flat encoding), zstd runs carry their own checksums.
 */
#ifndef HOSTEL_STATE_STREAM_H
#define HOSTEL_STATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/channel.h"
#include "util/error.h"

#define STREAM_MAGIC "HOSTELVM"
#define STREAM_MAJOR 1
#define STREAM_MINOR 0
#define STREAM_HEADER_SIZE 28
#define STREAM_PAGE 4096u
#define STREAM_MAX_TAG 32
#define STREAM_MAX_SECTION (16u << 20) /* device sections; RAM is not capped by this */
#define STREAM_MAX_SECTIONS 4096
#define STREAM_MAX_RAM (1ull << 40) /* refuse a stream claiming more RAM than this */
#define STREAM_RUN_PAGES 256u       /* pages per zstd run at most: 1 MiB */

enum {
    STREAM_SEC_OPTIONAL = 1 << 0, /* a reader that does not know the tag may skip it */
};

enum { STREAM_RAM_FLAT = 0, STREAM_RAM_ZSTD = 1, STREAM_RAM_PAGES = 2 };

/*
 * Migration's RAM (docs/migration.md): "ram-pages" sections, which may
 * repeat (a later one's pages override an earlier one's).  Payload:
 *   RAM size u64 | count u32 | flags u32 | entries
 * where the entries are count x (page u64 | 4096 bytes), bit 63 of page
 * (STREAM_PAGE_ZERO) meaning the page is all zeros and no bytes follow.
 * Section version 1: flags 0.  Version 2 may set STREAM_PAGES_ZSTD: the
 * entries are one zstd frame (content size and checksum in it).  Only a
 * stream read in order carries them; its reader applies them to the staged
 * RAM as they come (ram_encoding STREAM_RAM_PAGES).  At most
 * STREAM_PAGES_MAX pages per section.  Writing: stream_pages.h.
 */
#define STREAM_PAGES_TAG "ram-pages"
#define STREAM_PAGES_MAX 256u
#define STREAM_PAGE_ZERO (1ull << 63)
#define STREAM_PAGES_ZSTD 1u /* flags: the entries are a zstd frame (section version 2) */
#define STREAM_PAGES_ENTRIES_MAX ((size_t)STREAM_PAGES_MAX * (8 + STREAM_PAGE))

/*
 * Writing: sequential, through a channel.  To a file (a temp file; see
 * state_save in docs) flat RAM pages go to their offsets and absent pages
 * stay holes; to a channel that cannot seek (a pipe, a socket) the same
 * bytes are sent in order, absent pages as zeros, so what arrives is the
 * file's content byte for byte.
 */
typedef struct StreamOut {
    StreamChannel file; /* the channel over fd of stream_out_begin */
    StreamChannel *ch;  /* where the bytes go */
    uint64_t off;       /* bytes written so far */
    uint32_t crc;       /* CRC-32 of those bytes (except flat page contents) */
} StreamOut;

/* Start a stream in fd, a regular file at offset 0 (not closed by the stream). */
int stream_out_begin(StreamOut *s, int fd, Error *err);
/* Start a stream on ch (any kind); ch must outlive s. */
int stream_out_begin_channel(StreamOut *s, StreamChannel *ch, Error *err);
int stream_out_section(StreamOut *s, const char *tag, uint32_t instance, uint16_t version,
                       uint16_t flags, const void *payload, size_t len, Error *err);
/* The "ram" section; encoding STREAM_RAM_FLAT or STREAM_RAM_ZSTD (level 1..19). */
int stream_out_ram(StreamOut *s, const uint8_t *ram, uint64_t size, int encoding, int level,
                   Error *err);
int stream_out_end(StreamOut *s, Error *err);

/*
 * A bitmap (one bit per page, malloc'd: free it) of the pages of ram that
 * hold something other than zeros; pages the host never populated are
 * known without reading them.  NULL with err set when out of memory.
 */
uint8_t *stream_ram_present_map(const uint8_t *ram, uint64_t pages, Error *err);

/* One section of a stream being read. */
typedef struct StreamSection {
    char tag[STREAM_MAX_TAG + 1];
    uint32_t instance;
    uint16_t version, flags;
    uint64_t offset; /* of the payload in the file */
    uint64_t len;
    uint8_t *payload; /* malloc'd copy (NULL for "ram") */
} StreamSection;

/* One zstd RAM run, as indexed by stream_in_open. */
typedef struct StreamRun {
    uint64_t first; /* guest page */
    uint64_t off;   /* file offset of its zstd frame */
    uint32_t pages;
    uint32_t len; /* frame bytes */
} StreamRun;

/* How a stream is read; zero is the default (tests force the other paths). */
typedef struct StreamInOpts {
    unsigned threads; /* zstd RAM workers: 0 = one per usable CPU, at most 8 */
    bool copy_ram;    /* put staged RAM in place by copying instead of remapping */
} StreamInOpts;

/*
 * A whole stream, read and checked (structure, sizes, CRC) by stream_in_open.
 * From a file, sections are read at their offsets and RAM stays in the file
 * until stream_in_load_ram (mapped, or decompressed on worker threads).
 * From a channel that cannot seek, everything is read in order at open:
 * sections into memory, RAM into ram_staged (below), and only a stream
 * whose final CRC holds is handed out.
 */
typedef struct StreamIn {
    int fd;              /* the file (-1 for a sequential channel) */
    StreamChannel ch;    /* where the bytes come from */
    bool sequential;     /* read in order from ch; no offsets */
    uint8_t *ram_staged; /* sequential: RAM as received (anonymous, ram_size bytes), or NULL */
    char *path;          /* the file's path, or the name given for a channel */
    StreamInOpts opts;
    uint16_t major, minor;
    StreamSection *sec;
    int nsec;
    /* the "ram" section, decoded */
    bool has_ram;
    int ram_encoding;
    uint64_t ram_size;
    uint64_t ram_pages_present;
    uint8_t *ram_map;      /* flat: page map (ram_size / 4 KiB bits) */
    uint64_t ram_data_off; /* flat: file offset of page 0 */
    uint64_t ram_runs_off; /* zstd: file offset of the first run */
    uint64_t ram_runs_len;
    StreamRun *runs; /* zstd: every run, checked */
    uint64_t nruns;
} StreamIn;

/*
 * Open and validate path; one clear error for truncated/corrupt/foreign/newer
 * files.  The CRC of zstd RAM runs is computed on worker threads.
 */
int stream_in_open(StreamIn *s, const char *path, Error *err);
int stream_in_open_with(StreamIn *s, const char *path, const StreamInOpts *o, Error *err);
/*
 * Open and validate the stream that ch carries (name: for messages).  A
 * seekable channel is read as a file; any other is read in order up to the
 * end section (whatever follows on ch is left unread), with the same
 * checks: lengths capped before anything is allocated, RAM run headers and
 * frames checked as they come, the CRC checked at the end.  A stream that
 * stops early is "truncated", never a hang (unless the writer keeps the
 * channel open and silent).  s takes ch over: stream_in_close closes it.
 *
 * RAM from a channel is received into a staging mapping, not into guest
 * RAM: the CRC that vouches for the stream comes last, and a restore (or a
 * revert of a running VM) must change nothing until it holds.  A migration
 * target whose machine has not run yet could receive straight into RAM;
 * staging costs one mremap at commit and keeps one rule for every caller.
 */
int stream_in_open_channel(StreamIn *s, StreamChannel *ch, const char *name, const StreamInOpts *o,
                           Error *err);
/* stream_in_open_channel on the channel that fits fd; fd stays the caller's. */
int stream_in_open_fd(StreamIn *s, int fd, const char *name, const StreamInOpts *o, Error *err);
void stream_in_close(StreamIn *s);
/* The section with this tag and instance, or NULL. */
const StreamSection *stream_in_find(const StreamIn *s, const char *tag, uint32_t instance);
/*
 * Fill ram (size bytes, already zero) from the stream.  Flat: map the file's
 * pages over it privately (MAP_FIXED, lazy) when map is true, else read them.
 * zstd: decompress the runs straight into it on worker threads
 * (stream_ram.h has the asynchronous form).  A stream read from a channel:
 * move its staged RAM over ram (once).
 */
int stream_in_load_ram(StreamIn *s, uint8_t *ram, uint64_t size, bool map, Error *err);

/* A section a rewrite replaces: its new payload and version. */
typedef struct StreamEdit {
    const char *tag;
    uint32_t instance;
    uint16_t version;
    const void *payload;
    size_t len;
} StreamEdit;

/*
 * Write a copy of the stream in to fd with the sections that edits name
 * replaced (the other sections and RAM verbatim, holes kept).  An edit
 * naming no section of in is ignored.  in must have been read from a file.
 */
int stream_rewrite(StreamIn *in, int fd, const StreamEdit *edits, int nedits, Error *err);

/* Bit i of a page map (the flat encoding's, and a save's list of present pages). */
static inline bool stream_map_bit(const uint8_t *map, uint64_t i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

#endif
