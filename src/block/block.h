/*
 * Block backends: disk images behind one ops table per format (raw,
 * qcow2), in the manner of QEMU's BlockDriver and kvmtool's
 * disk-image ops.  A format embeds BlockDev as the first member of its own
 * state and gets back to it with container_of.
 *
 * The block_*() wrappers check every range against the image length
 * before calling the format, so formats only see in-range requests.
 * Offsets and lengths are in bytes.  A BlockDev may be used from one
 * thread at a time (the device's worker thread); open and close happen on
 * the VM thread.
 *
 * Images opened for writing are locked (an OFD write lock on the file), so
 * two VMs cannot write one image; a read-only open takes a shared lock, so
 * it cannot open an image another VM is writing either.
 */
#ifndef HOSTEL_BLOCK_BLOCK_H
#define HOSTEL_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

/* Most iovecs one request may carry (the kernel's IOV_MAX). */
#define BLOCK_MAX_IOV 1024

typedef struct BlockDriver BlockDriver;
typedef struct BlockFile BlockFile;

typedef struct BlockDev {
    const BlockDriver *drv;
    bool read_only;
    uint64_t length;          /* bytes the guest sees */
    char *filename;           /* as given to open (malloc'd, freed by block_close) */
    BlockFile *file;          /* the host file the format reads (see file.h) */
    struct BlockDev *backing; /* next image down the chain, or NULL (closed with this one) */
    uint32_t cluster_size;    /* allocation unit (raw: 0) */
} BlockDev;

/* How to open an image; zero-initialise and set what you need. */
typedef struct BlockOpenOpts {
    const char *format; /* "raw", "qcow2" or NULL to probe the header */
    bool read_only;
    bool no_backing;         /* do not open the backing chain (info, rebase -u) */
    bool no_lock;            /* do not lock (qemu-img -U); read-only opens only */
    bool repair;             /* open read-write even if marked corrupt (img check -r) */
    uint64_t l2_cache_bytes; /* qcow2 L2 cache size; 0 = default (covers 8 GiB, >= 1 MiB) */
    unsigned depth;          /* internal: position in a backing chain (loop guard) */
} BlockOpenOpts;

/* Longest backing chain followed before giving up ("backing chain too deep or a loop"). */
#define BLOCK_MAX_CHAIN 256

/* block_status() flags for one extent of one layer. */
enum {
    BLOCK_ST_ALLOCATED = 1 << 0,  /* this layer defines the content (else: look below) */
    BLOCK_ST_DATA = 1 << 1,       /* reads come from host data at *host_off */
    BLOCK_ST_ZERO = 1 << 2,       /* reads return zeroes */
    BLOCK_ST_COMPRESSED = 1 << 3, /* data is a compressed cluster */
    BLOCK_ST_OFFSET = 1 << 4,     /* *host_off is valid (uncompressed data) */
};

/* Image creation parameters (qemu-img create -o). */
typedef struct BlockCreateOpts {
    uint64_t size;            /* virtual size in bytes (0 with a backing file: its size) */
    const char *backing_file; /* stored as given (relative to the new image's directory) */
    const char *backing_fmt;  /* "raw"/"qcow2"/NULL (probe) */
    uint32_t cluster_size;    /* 0 = 65536 */
    int compat;               /* 2 = "0.10" (v2), 3 = "1.1" (v3, default); 0 = default */
    bool lazy_refcounts;
    unsigned refcount_bits; /* 0 = 16 */
    bool extended_l2;
    const char *compression_type; /* "zlib" (default) or "zstd" */
    const char *preallocation;    /* "off" (default), "metadata", "falloc", "full" */
} BlockCreateOpts;

/* One internal snapshot (qcow2 snapshot table entry). */
typedef struct BlockSnapshot {
    char id[32];
    char *name; /* malloc'd */
    uint64_t vm_state_size;
    uint64_t disk_size; /* virtual size when taken */
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount; /* -1 when not recorded */
} BlockSnapshot;

/* `img check` results; names follow qemu-img check --output=json. */
typedef struct BlockCheckResult {
    int64_t corruptions, leaks, check_errors;
    int64_t corruptions_fixed, leaks_fixed;
    uint64_t image_end_offset;
    uint64_t total_clusters, allocated_clusters, fragmented_clusters, compressed_clusters;
    char first_problem[256]; /* a human line describing the first problem found */
} BlockCheckResult;

enum { BLOCK_FIX_LEAKS = 1, BLOCK_FIX_ERRORS = 2 };

/* Format details for `img info` (strings malloc'd or NULL; freed by block_info_free). */
typedef struct BlockInfo {
    const char *format;
    uint64_t virtual_size, actual_size;
    uint32_t cluster_size;
    char *backing_file, *backing_fmt, *full_backing_file;
    bool dirty;
    /* qcow2 "format-specific" */
    const char *compat; /* "0.10" or "1.1" */
    bool lazy_refcounts, corrupt, extended_l2;
    unsigned refcount_bits;
    const char *compression_type;
    BlockSnapshot *snapshots;
    int nb_snapshots;
} BlockInfo;

struct BlockDriver {
    const char *format; /* "raw", "qcow2" */
    /* Score how well the first bytes of a file match (0 = not this format). */
    int (*probe)(const uint8_t *buf, size_t len);
    /* Open an image on f (ownership of f passes to the driver, also on failure). */
    BlockDev *(*open)(BlockFile *f, const BlockOpenOpts *o, Error *err);
    /* Read / write iov (total bytes at offset, in range).  0, or -1 with err filled. */
    int (*readv)(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err);
    int (*writev)(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err);
    /* Make completed writes durable. */
    int (*flush)(BlockDev *bd, Error *err);
    /* Drop [offset, offset+len); later reads return zeroes or the backing file's data. */
    int (*discard)(BlockDev *bd, uint64_t offset, uint64_t len, Error *err);
    /* Make [offset, offset+len) read as zeroes; may deallocate if may_unmap. */
    int (*write_zeroes)(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap, Error *err);
    void (*close)(BlockDev *bd);
    /* Optional below (NULL: "operation not supported for format X"). */
    /* Status of [offset, offset+len) in this layer: flags for the first *pnum bytes. */
    int (*status)(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                  uint64_t *host_off, Error *err);
    /* Change the virtual size (shrinking allowed; the CLI asks for --shrink). */
    int (*truncate)(BlockDev *bd, uint64_t new_length, Error *err);
    /* Write one whole cluster compressed (offset cluster-aligned, len = cluster or tail). */
    int (*write_compressed)(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err);
    /* Deallocate everything in this layer so reads fall through to the backing file. */
    int (*make_empty)(BlockDev *bd, Error *err);
    /* Point the header at another backing file (NULL = none), data untouched. */
    int (*set_backing)(BlockDev *bd, const char *file, const char *fmt, Error *err);
    int (*create)(const char *path, const BlockCreateOpts *o, Error *err);
    int (*info)(BlockDev *bd, BlockInfo *info, Error *err);
    int (*check)(BlockDev *bd, BlockCheckResult *res, unsigned fix, Error *err);
    int (*snapshot_create)(BlockDev *bd, const BlockSnapshot *sn, Error *err);
    int (*snapshot_list)(BlockDev *bd, BlockSnapshot **list, int *count, Error *err);
    int (*snapshot_apply)(BlockDev *bd, const char *id_or_name, Error *err);
    int (*snapshot_delete)(BlockDev *bd, const char *id_or_name, Error *err);
};

extern const BlockDriver block_raw_driver;
extern const BlockDriver block_qcow2_driver;

/* The driver for a format name, or NULL. */
const BlockDriver *block_driver_find(const char *format);

/*
 * Open an image.  format NULL probes the header (qcow2 magic, else raw).
 * Fails with one clear line: missing or unreadable file, unknown format,
 * "image is corrupt: ...", "image is in use by another process" when
 * locked, a missing backing file, a backing chain that loops.
 */
BlockDev *block_open(const char *path, const char *format, bool read_only, Error *err);
BlockDev *block_open_opts(const char *path, const BlockOpenOpts *o, Error *err);
/* Open an image on an already-open host file (tests: fault injection). */
BlockDev *block_open_file(BlockFile *f, const BlockOpenOpts *o, Error *err);

/*
 * Does the image look bootable, as a PC's firmware judges a disk: its first
 * sector ends with the boot signature 0x55 0xAA (an MBR, GPT's protective
 * MBR, or a FAT boot sector)?  Opens the image read-only (format NULL:
 * probed).  Returns 1 or 0, or -1 with err filled (the image cannot be
 * opened: block_open's messages).
 */
int block_probe_bootable(const char *path, const char *format, Error *err);

/* Create an image of the given format. */
int block_create(const char *path, const char *format, const BlockCreateOpts *o, Error *err);

/* Close the image, its backing chain, and release the locks (NULL is ignored). */
void block_close(BlockDev *bd);

/* Size in bytes. */
uint64_t block_length(const BlockDev *bd);

/*
 * Request wrappers: reject writes to read-only images, ranges past the
 * end, more than BLOCK_MAX_IOV iovecs; then call the format.  Return 0, or
 * -1 with err filled.
 */
int block_readv(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err);
int block_writev(BlockDev *bd, uint64_t offset, const struct iovec *iov, int iovcnt, Error *err);
int block_pread(BlockDev *bd, uint64_t offset, void *buf, size_t len, Error *err);
int block_pwrite(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err);
int block_flush(BlockDev *bd, Error *err);
int block_discard(BlockDev *bd, uint64_t offset, uint64_t len, Error *err);
int block_write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len, bool may_unmap, Error *err);

/*
 * Allocation status of [offset, offset+len) in this layer (raw: all data).
 * *pnum gets the length of the first extent that has the same flags.
 */
int block_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                 uint64_t *host_off, Error *err);
/*
 * The same through the backing chain: *depth is the layer that defines the
 * extent (0 = bd), or the chain's length with flags 0 when no layer does
 * (reads as zeroes).
 */
int block_status_chain(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                       uint64_t *host_off, unsigned *depth, Error *err);

/* Optional operations: "PATH: FORMAT images do not support OP" when absent. */
int block_truncate(BlockDev *bd, uint64_t new_length, Error *err);
int block_write_compressed(BlockDev *bd, uint64_t offset, const void *buf, size_t len, Error *err);
int block_make_empty(BlockDev *bd, Error *err);
int block_set_backing(BlockDev *bd, const char *file, const char *fmt, Error *err);
int block_info(BlockDev *bd, BlockInfo *info, Error *err);
void block_info_free(BlockInfo *info);
int block_check(BlockDev *bd, BlockCheckResult *res, unsigned fix, Error *err);
int block_snapshot_create(BlockDev *bd, const BlockSnapshot *sn, Error *err);
int block_snapshot_list(BlockDev *bd, BlockSnapshot **list, int *count, Error *err);
void block_snapshot_list_free(BlockSnapshot *list, int count);
int block_snapshot_apply(BlockDev *bd, const char *id_or_name, Error *err);
int block_snapshot_delete(BlockDev *bd, const char *id_or_name, Error *err);

/*
 * Resolve a backing file name stored in image `image_path` the way QEMU
 * does: absolute names as they are, relative ones against the directory of
 * image_path.  Returns a malloc'd path.
 */
char *block_backing_path(const char *image_path, const char *backing);

/*
 * Lock fd's whole file with an open-file-description lock: shared when
 * !exclusive, exclusive otherwise.  Returns 0, or -1 with err filled
 * ("PATH: image is in use by another process" on a conflict).  Filesystems
 * without OFD lock support are accepted unlocked.  The lock goes away when
 * fd is closed.
 */
int block_lock_fd(int fd, bool exclusive, const char *path, Error *err);

/*
 * Drop fd's lock (block_lock_fd's) while keeping fd open: a migration
 * hands a shared image over to the destination VMM at the switch-over,
 * and takes it back with block_lock_fd if the destination fails.
 */
void block_unlock_fd(int fd);

#endif
