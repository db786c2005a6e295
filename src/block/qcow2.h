/*
 * qcow2 driver internals, shared by the qcow2-*.c files (core: header,
 * caches, refcounts, cluster mapping, I/O, create; snapshots and check).
 *
 * On-disk facts follow QEMU's docs/interop/qcow2.txt.  Every table read
 * from the image is bounded (QCOW2_MAX_*) and every offset taken from it is
 * checked before use; a bad one gives "image is corrupt: ..." and marks
 * the image corrupt when it is open for writing.
 *
 * Crash safety: the refcount of a newly used cluster reaches the disk
 * (synced) before any L2/L1 entry pointing at it; an L2 table is written
 * before the L1 entry pointing at it; references are removed (synced)
 * before refcounts drop.  A crash can leak clusters, never corrupt.
 */
#ifndef HOSTEL_BLOCK_QCOW2_H
#define HOSTEL_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"
#include "block/file.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */

/* L1/L2 entry bits. */
#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO (1ull << 0)
#define QCOW2_L1_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED_MASK 0x7f000000000001ffull
#define QCOW2_L2_RESERVED_MASK 0x3f000000000001feull
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ull
/* Extended L2: 32 subclusters; bitmap low half = allocated, high half = reads zero. */
#define QCOW2_SUBCLUSTERS 32
#define QCOW2_BITMAP_ALLOC_ALL 0x00000000ffffffffull
#define QCOW2_BITMAP_ZERO_ALL 0xffffffff00000000ull

/* Header feature bits. */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ull << 1)

/* Header extension types. */
#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_DATA_FILE 0x44415441u

enum { QCOW2_COMPRESS_ZLIB = 0, QCOW2_COMPRESS_ZSTD = 1 };

/* Limits on what an image may ask us to load. */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_OFFSET (1ull << 56) /* host offsets must stay below */
#define QCOW2_MAX_VIRTUAL_SIZE (1ull << 62)
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104

typedef struct Qcow2Snapshot Qcow2Snapshot; /* qcow2-snapshot.h */

/*
 * A cache of cluster-sized metadata tables (L2 tables or refcount blocks)
 * kept in their on-disk (big-endian) form: hash lookup by host offset,
 * LRU eviction, dirty tables written back by qcow2_cache_flush.
 */
typedef struct Qcow2CacheEntry {
    uint64_t offset; /* host offset of the table, 0 = empty slot */
    uint8_t *data;   /* cluster_size bytes */
    bool dirty;
    int32_t hnext;      /* next slot in the hash chain, -1 = end */
    int32_t prev, next; /* LRU list (head = most recent) */
} Qcow2CacheEntry;

typedef struct Qcow2Cache {
    Qcow2CacheEntry *e;
    int32_t n;          /* slots */
    int32_t *hash;      /* nhash heads, -1 = empty */
    uint32_t nhash;     /* power of two */
    int32_t head, tail; /* LRU ends */
    uint32_t ndirty;
    bool is_l2; /* writing back an L2 table first flushes refcounts */
} Qcow2Cache;

/* A host range whose references were dropped; its refcounts drop at the next flush. */
typedef struct Qcow2Free {
    uint64_t off, len;
} Qcow2Free;

#define QCOW2_MAX_PENDING_FREES 512

/* One header extension kept as raw bytes, written back unchanged. */
typedef struct Qcow2Ext {
    uint32_t type, len;
    uint8_t *data;
} Qcow2Ext;

typedef struct Qcow2 {
    BlockDev bd;     /* first member; container_of(bd, Qcow2, bd) */
    BlockFile *file; /* == bd.file */
    /* header, host-endian */
    uint32_t version; /* 2 or 3 */
    uint32_t cluster_bits;
    uint64_t cluster_size;
    uint64_t size; /* virtual size */
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t *l1_table; /* in memory, host-endian, l1_size entries */
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t refcount_order; /* refcount_bits = 1 << refcount_order */
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompatible_features, compatible_features, autoclear_features;
    uint32_t header_length;
    uint8_t compression_type; /* QCOW2_COMPRESS_* */
    bool extended_l2;
    char *backing_file; /* as stored in the image, or NULL */
    char *backing_fmt;  /* backing format extension, or NULL */
    Qcow2Ext *exts;     /* extensions we keep as bytes (unknown, features, bitmaps) */
    int nb_exts;

    /* derived geometry */
    uint32_t l2_entry_size;   /* 8, or 16 with extended L2 */
    uint32_t l2_bits;         /* log2 of entries per L2 table */
    uint32_t subcluster_bits; /* log2 of the subcluster size (== cluster_bits without ext L2) */
    uint32_t refcount_bits;
    uint64_t refcount_max;     /* largest refcount the width holds */
    uint32_t refblock_bits;    /* log2 of entries per refcount block */
    uint64_t *refcount_table;  /* in memory, host-endian */
    uint64_t reftable_entries; /* refcount_table_clusters * cluster_size / 8 */
    uint64_t reftable_used;    /* entries up to the last non-zero one (qcow2_reftable_used) */

    Qcow2Cache l2_cache, rb_cache;
    uint64_t free_hint; /* every cluster index below this is in use */
    Qcow2Free pending[QCOW2_MAX_PENDING_FREES];
    int nb_pending;
    uint64_t compress_off; /* next free byte in the current compressed cluster, or 0 */
    bool lazy;             /* lazy refcounts on: refcount writes may lag L2 writes */
    bool l2_needs_sync;    /* refcounts changed or clusters handed out since the last
                                    ordering sync: sync before an L2 table is written */
    bool dirty_on_disk;    /* the dirty bit is set in the image header */
    bool corrupt_marked;

    /* per-request scratch (no malloc on the hot path) */
    uint8_t *cow_buf;   /* 2 * cluster_size bytes (head and tail of a write) */
    uint8_t *comp_buf;  /* 2 * cluster_size bytes, compressed data */
    uint8_t *dec_buf;   /* cluster_size bytes: the last cluster inflated */
    uint64_t dec_entry; /* its descriptor, valid while dec_valid */
    bool dec_valid;
    void *zstd_dctx, *zstd_cctx; /* created on first use */
    struct iovec iov_scratch[BLOCK_MAX_IOV + 4];

    Qcow2Snapshot *snapshots; /* owned by qcow2-snapshot.c */
} Qcow2;

Qcow2 *qcow2_of(BlockDev *bd);

/* ---- qcow2-header.c ---- */
/* Read and validate the header, extensions, backing name, L1 and refcount tables. */
int qcow2_load(Qcow2 *q, bool read_only, Error *err);
/* Rewrite the header (all fields incl. snapshot count/offset, l1 size/offset) and extensions. */
int qcow2_write_header(Qcow2 *q, Error *err);
/* Write q->l1_table (q->l1_size entries, big-endian) at q->l1_table_offset. */
int qcow2_write_l1(Qcow2 *q, Error *err);
/* Write one L1 entry of q->l1_table to disk. */
int qcow2_write_l1_entry(Qcow2 *q, uint32_t idx, Error *err);
/*
 * Mark the image corrupt in its header (incompatible bit 1) when writable,
 * fill err with "image is corrupt: <why>", return -1.
 */
int qcow2_corrupt(Qcow2 *q, Error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Set or clear incompatible feature bits in the header and sync. */
int qcow2_set_incompat(Qcow2 *q, uint64_t set, uint64_t clear, Error *err);

/* ---- qcow2-cache.c ---- */
int qcow2_cache_init(Qcow2 *q, Qcow2Cache *c, uint64_t bytes, bool is_l2, Error *err);
void qcow2_cache_destroy(Qcow2Cache *c);
/*
 * The table at host offset off (read from disk unless fresh: then zeroed).
 * The pointer stays valid until the next get on the same cache.
 */
uint8_t *qcow2_cache_get(Qcow2 *q, Qcow2Cache *c, uint64_t off, bool fresh, Error *err);
void qcow2_cache_mark_dirty(Qcow2Cache *c, const uint8_t *table);
/* Write the dirty tables of one cache (no sync). */
int qcow2_cache_write(Qcow2 *q, Qcow2Cache *c, Error *err);
/* Forget the table at off without writing it (it was freed). */
void qcow2_cache_forget(Qcow2Cache *c, uint64_t off);
/* Write every dirty cached L2 table and refcount block to the file (no sync). */
int qcow2_cache_flush(Qcow2 *q, Error *err);
/* Forget cached L2 tables (after SNAP rewrote L2/L1 on disk); call after flush. */
void qcow2_cache_drop(Qcow2 *q);

/* ---- qcow2-refcount.c ---- */
int qcow2_refcount_init(Qcow2 *q, Error *err);
/* Refcount of the host cluster with index idx (offset >> cluster_bits). */
int qcow2_refcount_get(Qcow2 *q, uint64_t idx, uint64_t *refcount, Error *err);
/* Set it (grows the refcount table as needed). */
int qcow2_refcount_set(Qcow2 *q, uint64_t idx, uint64_t refcount, Error *err);
/*
 * Add delta to the refcount of every cluster overlapping [off, off+len);
 * clusters that drop to 0 become free.  "image is corrupt: ..." on
 * underflow/overflow.
 */
int qcow2_refcount_update(Qcow2 *q, uint64_t off, uint64_t len, int64_t delta, Error *err);
/* Allocate `bytes` (rounded up to clusters) of contiguous host clusters with refcount 1. */
int64_t qcow2_alloc_clusters(Qcow2 *q, uint64_t bytes, Error *err);
/* Drop one reference of [off, off+len) after the next metadata flush (see flush order). */
int qcow2_free_later(Qcow2 *q, uint64_t off, uint64_t len, Error *err);
/*
 * Write caches in crash-safe order: refcounts, sync, L2 tables, sync, then
 * apply the pending frees.  sync: end with a sync of the file.
 */
int qcow2_flush_metadata(Qcow2 *q, bool sync, Error *err);

/* ---- qcow2-cluster.c ---- */
enum { QCOW2_MAP_UNALLOC, QCOW2_MAP_ZERO, QCOW2_MAP_DATA, QCOW2_MAP_COMPRESSED };

/* What the guest sees at one extent of this layer. */
typedef struct Qcow2Map {
    int type;       /* QCOW2_MAP_* */
    uint64_t host;  /* DATA: host offset of the extent's first byte;
                                    ZERO: nonzero when a (preallocated) cluster backs it */
    uint64_t len;   /* bytes with that state (host-contiguous for DATA) */
    uint64_t entry; /* the L2 entry (COMPRESSED: its descriptor) */
} Qcow2Map;

/* "image is corrupt" for a standard L2 entry with reserved bits or a bad host offset. */
int qcow2_entry_check(Qcow2 *q, uint64_t e, Error *err);
/*
 * Before writing [off, off+len) of the file in place through an entry read
 * from the image: refuse ("image is corrupt: ... overlaps the L1 table", the
 * image is marked corrupt) if it lands on metadata — the header, the L1
 * table, the refcount table, the snapshot table, a refcount block, or (data
 * writes, is_l2 false) an L2 table.  A hostile image's in-bounds but wrong
 * entry would otherwise make a guest write overwrite the image's own tables.
 */
int qcow2_overlap_check(Qcow2 *q, uint64_t off, uint64_t len, bool is_l2, Error *err);
/*
 * Recount reftable_used after the refcount table was loaded or replaced: the
 * overlap check scans only the used entries (a one-cluster table has 8192,
 * nearly all zero on most images, and a scan per write cost 40 % of random
 * write throughput).  Setting one entry updates it in place.
 */
void qcow2_reftable_used(Qcow2 *q);
/* Map [off, off+max) up to the end of its L2 table: the state of its first extent. */
int qcow2_map(Qcow2 *q, uint64_t off, uint64_t max, Qcow2Map *m, Error *err);
/* Host L2 table offset for guest offset, 0 if none; checks the L1 entry. */
int qcow2_l2_offset(Qcow2 *q, uint64_t guest_off, uint64_t *l2_off, Error *err);
/* Big-endian fields of the on-disk format. */
static inline uint32_t qcow2_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void qcow2_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint64_t qcow2_be64(const uint8_t *p)
{
    return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
           ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
           ((uint64_t)p[6] << 8) | (uint64_t)p[7];
}
static inline void qcow2_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
/* Read entry i of an L2 table (the bitmap too with extended L2, else 0). */
static inline uint64_t qcow2_l2_get(const Qcow2 *q, const uint8_t *l2, uint64_t i, uint64_t *bitmap)
{
    const uint8_t *p = l2 + i * q->l2_entry_size;
    *bitmap = q->extended_l2 ? qcow2_be64(p + 8) : 0;
    return qcow2_be64(p);
}
static inline void qcow2_l2_set(const Qcow2 *q, uint8_t *l2, uint64_t i, uint64_t entry,
                                uint64_t bitmap)
{
    uint8_t *p = l2 + i * q->l2_entry_size;
    qcow2_put_be64(p, entry);
    if (q->extended_l2)
        qcow2_put_be64(p + 8, bitmap);
}
/* Compressed cluster descriptor -> host offset and byte count (for check). */
void qcow2_compressed_extent(const Qcow2 *q, uint64_t l2_entry, uint64_t *off, uint64_t *len);

/*
 * Get the L2 table for guest_off ready for writing: allocated, COPIED (a
 * shared one is copied first), in the cache.  *l2 valid until the next L2 get.
 */
int qcow2_l2_for_write(Qcow2 *q, uint64_t guest_off, uint8_t **l2, Error *err);

/* ---- qcow2-io.c / qcow2-write.c / qcow2-ops.c ---- */
int qcow2_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err);
int qcow2_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err);
int qcow2_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err);
int qcow2_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap, Error *err);
int qcow2_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                 uint64_t *host_off, Error *err);
int qcow2_truncate(BlockDev *bd, uint64_t new_length, Error *err);
int qcow2_make_empty(BlockDev *bd, Error *err);
/* Make [off, off+len) unallocated in this layer (whole clusters dropped, partial zeroed). */
int qcow2_make_range_empty(Qcow2 *q, uint64_t off, uint64_t len, Error *err);
/* Grow the L1 table to at least `entries` (new table, header, old one freed). */
int qcow2_grow_l1(Qcow2 *q, uint64_t entries, Error *err);
/* Before the first change: set the dirty bit when refcounts are lazy. */
int qcow2_begin_write(Qcow2 *q, Error *err);
/* Read [off, off+len) of the layer below into iov (backing chain, zeroes past its end). */
int qcow2_read_below(Qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt, Error *err);
/* Read this layer's view of [off, off+len) (no range check; uses iov_scratch). */
int qcow2_read_layer(Qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt, Error *err);
void qcow2_iov_zero(const struct iovec *iov, int iovcnt);
uint64_t qcow2_iov_bytes(const struct iovec *iov, int iovcnt);

/* ---- qcow2-compress.c ---- */
/* Inflate one compressed cluster (descriptor l2_entry) into out (cluster_size bytes). */
int qcow2_read_compressed(Qcow2 *q, uint64_t l2_entry, uint8_t *out, Error *err);
int qcow2_write_compressed(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err);
/* Free the (de)compression contexts. */
void qcow2_compress_free(Qcow2 *q);

/* ---- qcow2-create.c ---- */
int qcow2_create(const char *path, const BlockCreateOpts *o, Error *err);

/* Sub-ranges of iovec arrays: copy [skip, skip+len) of iov into out (max entries). */
int qcow2_iov_slice(const struct iovec *iov, int iovcnt, uint64_t skip, uint64_t len,
                    struct iovec *out, int max);

#endif
