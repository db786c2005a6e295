/*
 * Storage pools and their volumes (docs/mgmt.md, "Storage pools"):
 *
 *   DIR/storage-pools/NAME.json   a pool's definition, versioned, written
 *                                 atomically (mgmt_write_atomic):
 *                                 {"version": 1, "name", "kind": "dir", "path"}
 *   DIR/pools/default/            the default pool's directory (made at open)
 *   POOL/VOL.qcow2, POOL/VOL.raw  a volume: the extension is its format, so
 *                                 the format is never guessed from content
 *
 * A pool is a directory (kind "dir"; kind is a member so other kinds can
 * come).  A volume's name follows mgmt_name_check, so it is one path
 * component; a volume that resolves outside its pool (a symlink out) is
 * refused when opened, and so is a backing file outside the pool for
 * creates and clones.  Images are made, copied and resized with the block
 * layer (src/block), the code `hostel img` uses.
 *
 * Failures return a negative errno that classifies them (the API maps
 * them to statuses) and fill err with one line:
 *   -ENOENT  no such pool or volume
 *   -EEXIST  the name is taken
 *   -EINVAL  a bad size, format, kind or path
 *   -EBUSY   in use (a VM's disk, a volume's backing, a running VM's lock)
 *   -EXDEV   the volume or its backing chain escapes the pool
 *   -ECANCELED  the progress's cancel flag was raised
 *   -EIO     anything else (I/O, out of memory)
 * Nothing here is thread-safe; the API serialises calls.
 */
#ifndef HOSTEL_MGMT_POOL_H
#define HOSTEL_MGMT_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/store.h"
#include "util/error.h"

#define MGMT_POOL_DOC_VERSION 1 /* the pool document's version this code writes */
#define MGMT_POOL_DEFAULT "default"

typedef struct MgmtPool {
    char name[MGMT_NAME_MAX + 1];
    const char *kind; /* "dir" (static) */
    char *path;       /* the directory, canonical (realpath) when it exists */
} MgmtPool;

typedef struct MgmtPools MgmtPools;

/* What statvfs and the volumes say about a pool, in bytes. */
typedef struct MgmtPoolUsage {
    uint64_t capacity;   /* the file system's size */
    uint64_t available;  /* free for an unprivileged writer */
    uint64_t allocation; /* the volumes' allocations added */
    size_t volumes;      /* how many volumes */
} MgmtPoolUsage;

typedef struct MgmtVolume {
    char name[MGMT_NAME_MAX + 1];
    const char *format;  /* "qcow2" or "raw" (static) */
    char *path;          /* POOL/NAME.FORMAT */
    uint64_t size;       /* virtual size, bytes */
    uint64_t allocation; /* st_blocks * 512 */
    char *backing;       /* the backing volume's name, or NULL */
    char *backing_file;  /* a backing file that is no volume of the pool, or NULL */
} MgmtVolume;

/*
 * How a long call (clone, import, export) reports and is stopped: report
 * (may be NULL) is called with bytes done and the total after each
 * window; cancel (may be NULL), raised by another thread, makes the call
 * remove what it made and fail with -ECANCELED.
 */
typedef struct MgmtProgress {
    void (*report)(void *opaque, uint64_t done, uint64_t total);
    void *opaque;
    const atomic_bool *cancel;
} MgmtProgress;

/* A volume to make: name, format ("qcow2"/"raw"), size (0 with a backing: its size), backing. */
typedef struct MgmtVolumeCreate {
    const char *name;
    const char *format;
    uint64_t size;
    const char *backing; /* a volume of the same pool, or NULL (qcow2 only) */
} MgmtVolumeCreate;

/*
 * Open the pools of the state directory state_dir: read every
 * DIR/storage-pools/NAME.json (one that does not read is logged and
 * skipped, never deleted), define "default" at DIR/pools/default if it is
 * not, and make its directory.  Returns 0 with *out set, or < 0.
 */
int mgmt_pools_open(MgmtPools **out, const char *state_dir, Error *err);
void mgmt_pools_close(MgmtPools *p);

/* The pools, sorted by name: count, the i-th (valid until the next change), by name or NULL. */
size_t mgmt_pools_count(const MgmtPools *p);
const MgmtPool *mgmt_pools_at(const MgmtPools *p, size_t i);
const MgmtPool *mgmt_pools_find(const MgmtPools *p, const char *name);

/*
 * Define a pool: name (mgmt_name_check), kind "dir", path an absolute
 * existing directory that no other pool has.  The document is written
 * atomically.  Returns 0, or -EINVAL, -EEXIST, -EIO.
 */
int mgmt_pool_define(MgmtPools *p, const char *name, const char *kind, const char *path,
                     Error *err);

/*
 * Forget a pool's definition (its directory and files are left alone).
 * Returns 0, or -ENOENT, -EBUSY (the default pool, or one holding
 * volumes), -EIO.
 */
int mgmt_pool_undefine(MgmtPools *p, const char *name, Error *err);

/* statvfs of the pool's directory and its volumes' allocation. Returns 0 or < 0. */
int mgmt_pool_usage(const MgmtPool *pool, MgmtPoolUsage *u, Error *err);

/* The pool's document: {"version", "name", "kind", "path"}; NULL if out of memory. */
struct json_t *mgmt_pool_to_doc(const MgmtPool *pool);

/*
 * The pool's volumes sorted by name into *out (*n of them; free with
 * mgmt_volumes_free).  A file that is not a volume (another name, a
 * hidden or temporary file, an escaping symlink, an image that does not
 * open) is left out.  Returns 0 or < 0.
 */
int mgmt_volume_list(const MgmtPool *pool, MgmtVolume **out, size_t *n, Error *err);
void mgmt_volumes_free(MgmtVolume *v, size_t n);

/* One volume into *v (free with mgmt_volume_free). Returns 0, or -ENOENT, -EXDEV, -EIO. */
int mgmt_volume_get(const MgmtPool *pool, const char *name, MgmtVolume *v, Error *err);
void mgmt_volume_free(MgmtVolume *v);

/*
 * The VMs of store whose disks are the volume v (same file), their names
 * into names (at most max; the count is returned, which may be more).
 */
size_t mgmt_volume_users(const MgmtStore *store, const MgmtVolume *v, const char **names,
                         size_t max);

/*
 * Make an empty volume.  size must be a multiple of 512 above 0 (or 0
 * with a backing), at most 2^62; a backing volume needs format qcow2 and
 * must keep its chain inside the pool.  Returns 0, or -EINVAL, -EEXIST,
 * -ENOENT (no backing volume), -EXDEV, -EIO.
 */
int mgmt_volume_create(const MgmtPool *pool, const MgmtVolumeCreate *c, Error *err);

/*
 * Clone volume src as name: linked, a qcow2 over src (src becomes its
 * backing); else a full copy in src's format (its backing chain
 * flattened).  The copy is made under a hidden name and renamed at the
 * end, so a failure or a cancel leaves nothing.  Returns 0, or -ENOENT,
 * -EEXIST, -EXDEV, -ECANCELED, -EIO.
 */
int mgmt_volume_clone(const MgmtPool *pool, const char *src, const char *name, bool linked,
                      const MgmtProgress *progress, Error *err);

/*
 * Import the image at host_path (any format the block layer reads,
 * probed; its backing chain flattened) as volume name in format.
 * Returns 0, or -EINVAL (also for a missing or unreadable file), -EEXIST,
 * -ECANCELED, -EIO.
 */
int mgmt_volume_import(const MgmtPool *pool, const char *name, const char *host_path,
                       const char *format, const MgmtProgress *progress, Error *err);

/*
 * Export volume name to host_path (absolute; must not exist) in format
 * (NULL: the volume's), its backing chain flattened.  Returns 0, or
 * -ENOENT, -EINVAL, -EEXIST, -ECANCELED, -EIO.
 */
int mgmt_volume_export(const MgmtPool *pool, const char *name, const char *host_path,
                       const char *format, const MgmtProgress *progress, Error *err);

/*
 * Set a volume's virtual size.  Growing is always allowed; shrinking only
 * for raw volumes and with shrink set (the data past the end is lost).
 * Returns 0, or -ENOENT, -EINVAL, -EBUSY (a running VM holds it), -EIO.
 */
int mgmt_volume_resize(const MgmtPool *pool, const char *name, uint64_t size, bool shrink,
                       Error *err);

/*
 * Delete a volume's file.  Refused while another volume of the pool has
 * it as backing or a running VM holds it (the caller checks definitions
 * with mgmt_volume_users).  Returns 0, or -ENOENT, -EBUSY, -EXDEV, -EIO.
 */
int mgmt_volume_delete(const MgmtPool *pool, const char *name, Error *err);

/* "qcow2" or "raw" for a format name, or NULL. */
const char *mgmt_volume_format(const char *name);

/* target (a file's stat) is in the backing chain of the image at path (not path itself). */
struct stat;
bool mgmt_image_backs(const char *path, const struct stat *target);

#endif
