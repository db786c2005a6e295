/*
 * The volumes of a pool (pool.h): POOL/NAME.qcow2 or POOL/NAME.raw, made,
 * copied, resized and read with the block layer.  Every way in goes
 * through vol_find, which refuses a volume resolving outside its pool;
 * creates and clones check the backing chain stays in the pool.  New
 * images are written under a hidden temporary name and linked into place
 * at the end (link fails rather than replace), so a failure, a cancel or
 * a crash never leaves half a volume under a volume's name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "mgmt/pool.h"
#include "mgmt/pool_int.h"
#include "util/io.h"
#include "util/zero.h"

#define COPY_CHUNK (2u << 20)                          /* bytes read per window when copying */
#define COPY_UNIT 65536u                               /* a unit of zero detection in a window */
#define VOLUME_SIZE_MAX (1ull << 62)                   /* qcow2's largest virtual size */
static const char *const formats[] = {"qcow2", "raw"}; /* also the order of lookups */

const char *mgmt_volume_format(const char *name)
{
    for (size_t i = 0; name && i < 2; i++)
        if (strcmp(name, formats[i]) == 0)
            return formats[i];
    return NULL;
}

/* POOL/NAME.FMT into buf. */
static int vol_path(const MgmtPool *pool, const char *name, const char *fmt, char *buf, size_t size,
                    Error *err)
{
    if (snprintf(buf, size, "%s/%s.%s", pool->path, name, fmt) >= (int)size)
        return pool_fail(err, -EINVAL, "%.200s/%s: path too long", pool->path, name);
    return 0;
}

/* The volume name of FILE = NAME.FMT into name, its format into *fmt; false if it is none. */
static bool vol_name_of(const char *file, char name[MGMT_NAME_MAX + 1], const char **fmt)
{
    const char *dot = strrchr(file, '.');
    if (!dot || (size_t)(dot - file) > MGMT_NAME_MAX || !(*fmt = mgmt_volume_format(dot + 1)))
        return false;
    memcpy(name, file, (size_t)(dot - file));
    name[dot - file] = '\0';
    return mgmt_name_check(name, NULL);
}

/* path (which exists) resolves to a regular file directly in the pool's directory. */
static int inside_pool(const MgmtPool *pool, const char *path, Error *err)
{
    char *real = realpath(path, NULL);
    struct stat st;
    size_t n = strlen(pool->path);
    bool in = real && strncmp(real, pool->path, n) == 0 && real[n] == '/' &&
              !strchr(real + n + 1, '/') && stat(real, &st) == 0 && S_ISREG(st.st_mode);
    free(real);
    if (!in)
        return pool_fail(err, -EXDEV,
                         "%.200s leads out of pool '%s' (or is no regular file): refused", path,
                         pool->name);
    return 0;
}

/*
 * The volume called name: its path into buf and format into *fmt.
 * -EINVAL for a bad name, -ENOENT when neither NAME.qcow2 nor NAME.raw
 * exists, -EXDEV when it resolves out of the pool.
 */
static int vol_find(const MgmtPool *pool, const char *name, char *buf, size_t size,
                    const char **fmt, Error *err)
{
    struct stat st;
    if (!mgmt_name_check(name, err))
        return -EINVAL;
    for (size_t i = 0; i < 2; i++) {
        int rc = vol_path(pool, name, formats[i], buf, size, err);
        if (rc < 0)
            return rc;
        if (lstat(buf, &st) < 0)
            continue;
        *fmt = formats[i];
        return inside_pool(pool, buf, err);
    }
    error_set(err, "no volume '%s' in pool '%s'", name, pool->name);
    return -ENOENT;
}

/* No volume (of any format) is called name: else -EEXIST (or -EINVAL for a bad name). */
static int vol_name_free(const MgmtPool *pool, const char *name, Error *err)
{
    char path[PATH_MAX];
    struct stat st;
    if (!mgmt_name_check(name, err))
        return -EINVAL;
    for (size_t i = 0; i < 2; i++) {
        int rc = vol_path(pool, name, formats[i], path, sizeof(path), err);
        if (rc < 0)
            return rc;
        if (lstat(path, &st) == 0)
            return pool_fail(err, -EEXIST, "a volume named '%s' exists in pool '%s'", name,
                             pool->name);
    }
    return 0;
}

/* A running VM (or any process) holds the file's write lock: -EBUSY. */
static int vol_busy(const char *path, const char *name, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    bool busy = fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    if (fd >= 0)
        close(fd);
    return busy ? pool_fail(err, -EBUSY, "volume '%s' is in use by a running VM", name) : 0;
}

static BlockDev *open_one(const char *path, const char *fmt, Error *err)
{
    BlockOpenOpts o = {.format = fmt, .read_only = true, .no_backing = true, .no_lock = true};
    return block_open_opts(path, &o, err);
}

/* ---- reading a volume ---- */

void mgmt_volume_free(MgmtVolume *v)
{
    free(v->path);
    free(v->backing);
    free(v->backing_file);
    v->path = v->backing = v->backing_file = NULL;
}

void mgmt_volumes_free(MgmtVolume *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        mgmt_volume_free(&v[i]);
    free(v);
}

/* What an image's header says: its size and its backing file. */
typedef struct ImageHead {
    uint64_t size;
    char *backing;           /* resolved as QEMU does (malloc'd), or NULL */
    const char *backing_fmt; /* "qcow2", "raw", or NULL: not recorded (or another) */
} ImageHead;

/* Read the header of the image at path (format fmt, NULL: probed) into *h. */
static int image_head(const char *path, const char *fmt, ImageHead *h, Error *err)
{
    BlockInfo info = {0};
    BlockDev *bd = open_one(path, fmt, err);
    memset(h, 0, sizeof(*h));
    if (!bd)
        return -EIO;
    int rc = block_info(bd, &info, err) < 0 ? -EIO : 0;
    h->size = block_length(bd);
    if (rc == 0 && info.backing_file) {
        h->backing_fmt = mgmt_volume_format(info.backing_fmt);
        if (!(h->backing = block_backing_path(path, info.backing_file)))
            rc = pool_fail(err, -EIO, "out of memory");
    }
    block_info_free(&info);
    block_close(bd);
    return rc;
}

/* Sort a resolved backing path into v: a volume of the pool (by name), else a foreign file. */
static int set_backing(const MgmtPool *pool, MgmtVolume *v, char *backing)
{
    char name[MGMT_NAME_MAX + 1];
    const char *fmt, *slash = strrchr(backing, '/');
    char *real = realpath(backing, NULL);
    size_t n = strlen(pool->path);
    bool in = real && strncmp(real, pool->path, n) == 0 && real[n] == '/' &&
              !strchr(real + n + 1, '/') && vol_name_of(slash ? slash + 1 : backing, name, &fmt);
    free(real);
    if (in) {
        free(backing);
        v->backing = strdup(name);
        return v->backing ? 0 : -EIO;
    }
    v->backing_file = backing;
    return 0;
}

/* Fill v for the volume at path (format fmt, found by vol_find). */
static int vol_read(const MgmtPool *pool, const char *name, const char *path, const char *fmt,
                    MgmtVolume *v, Error *err)
{
    struct stat st;
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->format = fmt;
    if (!(v->path = strdup(path)))
        return pool_fail(err, -EIO, "out of memory");
    if (stat(path, &st) < 0) {
        mgmt_volume_free(v);
        return pool_fail_errno(err, -EIO, errno, "%.200s", path);
    }
    v->allocation = (uint64_t)st.st_blocks * 512;
    ImageHead h;
    int rc = image_head(path, fmt, &h, err);
    v->size = h.size;
    if (rc == 0 && h.backing && set_backing(pool, v, h.backing) < 0)
        rc = pool_fail(err, -EIO, "out of memory");
    else if (rc < 0)
        free(h.backing);
    if (rc < 0)
        mgmt_volume_free(v);
    return rc;
}

int mgmt_volume_get(const MgmtPool *pool, const char *name, MgmtVolume *v, Error *err)
{
    char path[PATH_MAX];
    const char *fmt;
    int rc = vol_find(pool, name, path, sizeof(path), &fmt, err);
    return rc < 0 ? rc : vol_read(pool, name, path, fmt, v, err);
}

static int vol_cmp(const void *a, const void *b)
{
    return strcmp(((const MgmtVolume *)a)->name, ((const MgmtVolume *)b)->name);
}

/* One directory entry: appended to *out when it is a volume that reads. */
static int list_entry(const MgmtPool *pool, const char *file, MgmtVolume **out, size_t *n)
{
    char name[MGMT_NAME_MAX + 1], path[PATH_MAX];
    const char *fmt, *found;
    MgmtVolume v;
    if (!vol_name_of(file, name, &fmt) ||
        vol_find(pool, name, path, sizeof(path), &found, NULL) < 0 || found != fmt ||
        vol_read(pool, name, path, fmt, &v, NULL) < 0)
        return 0; /* not a volume, the other format of a name, escaping, or unreadable */
    MgmtVolume *a = realloc(*out, (*n + 1) * sizeof(*a));
    if (!a) {
        mgmt_volume_free(&v);
        return -EIO;
    }
    a[(*n)++] = v;
    *out = a;
    return 0;
}

int mgmt_volume_list(const MgmtPool *pool, MgmtVolume **out, size_t *n, Error *err)
{
    *out = NULL;
    *n = 0;
    DIR *dir = opendir(pool->path);
    if (!dir)
        return pool_fail_errno(err, errno == ENOENT ? -ENOENT : -EIO, errno,
                               "pool '%s': cannot read %.200s", pool->name, pool->path);
    struct dirent *d;
    int rc = 0;
    while (rc == 0 && (d = readdir(dir)) != NULL)
        rc = d->d_name[0] == '.' ? 0 : list_entry(pool, d->d_name, out, n);
    closedir(dir);
    if (rc < 0) {
        mgmt_volumes_free(*out, *n);
        *out = NULL;
        *n = 0;
        return pool_fail(err, -EIO, "out of memory");
    }
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), vol_cmp);
    return 0;
}

size_t mgmt_volume_users(const MgmtStore *store, const MgmtVolume *v, const char **names,
                         size_t max)
{
    struct stat vs, ds;
    size_t count = 0;
    if (stat(v->path, &vs) < 0)
        return 0;
    for (size_t i = 0; i < mgmt_store_count(store); i++) {
        const MgmtVm *vm = mgmt_store_at(store, i);
        for (unsigned d = 0; d < vm->config.ndisks; d++) {
            const char *p = vm->config.disks[d].path;
            if (!p || stat(p, &ds) < 0 || ds.st_dev != vs.st_dev || ds.st_ino != vs.st_ino)
                continue;
            if (count < max)
                names[count] = vm->name;
            count++;
            break;
        }
    }
    return count;
}

/* ---- checks for new volumes ---- */

/* The chain under the image at path (format fmt) stays in the pool: else -EXDEV. */
static int chain_inside(const MgmtPool *pool, const char *path, const char *fmt, Error *err)
{
    ImageHead h = {.backing = strdup(path), .backing_fmt = fmt};
    int rc = h.backing ? 0 : pool_fail(err, -EIO, "out of memory");
    for (unsigned depth = 0; rc == 0 && h.backing; depth++) {
        char *cur = h.backing;
        if (depth > BLOCK_MAX_CHAIN)
            rc = pool_fail(err, -EXDEV, "%.200s: backing chain too deep or a loop", path);
        else if ((rc = inside_pool(pool, cur, err)) == 0)
            rc = image_head(cur, h.backing_fmt, &h, err);
        free(cur);
    }
    return rc;
}

static int size_check(uint64_t size, bool zero_ok, Error *err)
{
    if ((size == 0 && !zero_ok) || size % 512 || size > VOLUME_SIZE_MAX)
        return pool_fail(err, -EINVAL, "size: %llu is not a multiple of 512 from 512 to 2^62 bytes",
                         (unsigned long long)size);
    return 0;
}

/* ---- making a new image under a temporary name ---- */

/* A new image being written: its temporary path and where it goes. */
typedef struct NewImage {
    char tmp[PATH_MAX];
    char final[PATH_MAX];
} NewImage;

/* Reserve DIR/.BASE.part-XXXXXX for final (DIR/BASE). */
static int new_image_begin(NewImage *ni, const char *final, Error *err)
{
    const char *slash = strrchr(final, '/');
    snprintf(ni->final, sizeof(ni->final), "%s", final);
    if (!slash || snprintf(ni->tmp, sizeof(ni->tmp), "%.*s/.%s.part-XXXXXX", (int)(slash - final),
                           final, slash + 1) >= (int)sizeof(ni->tmp))
        return pool_fail(err, -EINVAL, "%.200s: path too long", final);
    int fd = mkstemp(ni->tmp);
    if (fd < 0) {
        ni->tmp[0] = '\0';
        return pool_fail_errno(err, -EIO, errno, "cannot create a file beside %.200s", final);
    }
    close(fd);
    return 0;
}

/* Link the finished image into place (never replacing a file), drop the temporary name. */
static int new_image_commit(NewImage *ni, Error *err)
{
    int rc = 0;
    if (link(ni->tmp, ni->final) < 0)
        rc = errno == EEXIST ? pool_fail(err, -EEXIST, "%.200s exists", ni->final)
                             : pool_fail_errno(err, -EIO, errno, "cannot link %.200s", ni->final);
    unlink(ni->tmp);
    ni->tmp[0] = '\0';
    io_sync_dir_of(ni->final);
    return rc;
}

static void new_image_abort(NewImage *ni)
{
    if (ni->tmp[0])
        unlink(ni->tmp);
    ni->tmp[0] = '\0';
}

/* Create an image at ni's temporary path; on failure it is removed. */
static int new_image_create(NewImage *ni, const char *fmt, const BlockCreateOpts *o, Error *err)
{
    if (block_create(ni->tmp, fmt, o, err) < 0) {
        new_image_abort(ni);
        return -EIO;
    }
    return 0;
}

/* ---- copying ---- */

static bool cancelled(const MgmtProgress *pr)
{
    return pr && pr->cancel && atomic_load(pr->cancel);
}

/* [off, off+n) of src reads as zeroes through its whole chain: *zero. */
static int window_zero(BlockDev *src, uint64_t off, uint64_t n, bool *zero, Error *err)
{
    uint64_t pnum, host;
    unsigned flags, depth;
    *zero = true;
    for (uint64_t done = 0; done < n && *zero; done += pnum) {
        if (block_status_chain(src, off + done, n - done, &pnum, &flags, &host, &depth, err) < 0)
            return -EIO;
        *zero =
            !(flags & BLOCK_ST_ALLOCATED) || ((flags & BLOCK_ST_ZERO) && !(flags & BLOCK_ST_DATA));
        if (pnum == 0)
            return pool_fail(err, -EIO, "block status made no progress");
    }
    return 0;
}

/* Copy one window to a blank dst: only the units that are not zeroes are written. */
static int copy_window(BlockDev *src, BlockDev *dst, uint64_t off, uint64_t n, uint8_t *buf,
                       Error *err)
{
    bool zero;
    if (window_zero(src, off, n, &zero, err) < 0)
        return -EIO;
    if (zero)
        return 0;
    if (block_pread(src, off, buf, n, err) < 0)
        return -EIO;
    for (uint64_t u = 0; u < n; u += COPY_UNIT) {
        uint64_t k = n - u < COPY_UNIT ? n - u : COPY_UNIT;
        if (!buf_is_zero(buf + u, k) && block_pwrite(dst, off + u, buf + u, k, err) < 0)
            return -EIO;
    }
    return 0;
}

/* What src reads (its chain flattened) into dst, fresh and at least as large. */
static int copy_image(BlockDev *src, BlockDev *dst, const MgmtProgress *pr, Error *err)
{
    uint64_t total = block_length(src);
    uint8_t *buf = malloc(COPY_CHUNK);
    int rc = buf ? 0 : (pool_fail(err, -EIO, "out of memory"));
    for (uint64_t off = 0; rc == 0 && off < total; off += COPY_CHUNK) {
        uint64_t n = total - off < COPY_CHUNK ? total - off : COPY_CHUNK;
        if (cancelled(pr))
            rc = pool_fail(err, -ECANCELED, "cancelled");
        else
            rc = copy_window(src, dst, off, n, buf, err);
        if (rc == 0 && pr && pr->report)
            pr->report(pr->opaque, off + n, total);
    }
    free(buf);
    if (rc == 0 && block_flush(dst, err) < 0)
        rc = -EIO;
    return rc;
}

/*
 * A new image at final in fmt holding what src reads: made at a temporary
 * name, copied, linked into place.
 */
static int copy_to_new(BlockDev *src, const char *final, const char *fmt, const MgmtProgress *pr,
                       Error *err)
{
    NewImage ni;
    BlockCreateOpts o = {.size = (block_length(src) + 511) & ~511ull};
    int rc = new_image_begin(&ni, final, err);
    if (rc < 0 || (rc = new_image_create(&ni, fmt, &o, err)) < 0)
        return rc;
    BlockDev *dst = block_open(ni.tmp, fmt, false, err);
    rc = dst ? copy_image(src, dst, pr, err) : -EIO;
    block_close(dst);
    if (rc == 0)
        return new_image_commit(&ni, err);
    new_image_abort(&ni);
    return rc;
}

/* ---- create, clone, import, export ---- */

/* The backing volume of a create: in the pool, its chain too; fills o and *size. */
static int create_backing(const MgmtPool *pool, const char *backing, BlockCreateOpts *o, char *path,
                          size_t size, Error *err)
{
    const char *fmt;
    int rc = vol_find(pool, backing, path, size, &fmt, err);
    if (rc < 0 || (rc = chain_inside(pool, path, fmt, err)) < 0)
        return rc;
    BlockDev *bd = open_one(path, fmt, err);
    if (!bd)
        return -EIO;
    if (o->size == 0)
        o->size = (block_length(bd) + 511) & ~511ull;
    block_close(bd);
    o->backing_file = strrchr(path, '/') + 1; /* relative: the pool can move */
    o->backing_fmt = fmt;
    return 0;
}

int mgmt_volume_create(const MgmtPool *pool, const MgmtVolumeCreate *c, Error *err)
{
    const char *fmt = mgmt_volume_format(c->format);
    char final[PATH_MAX], backing[PATH_MAX];
    BlockCreateOpts o = {.size = c->size};
    NewImage ni;
    int rc = vol_name_free(pool, c->name, err);
    if (rc < 0)
        return rc;
    if (!fmt)
        return pool_fail(err, -EINVAL, "format: '%.32s' is not qcow2 or raw", c->format);
    if ((rc = size_check(c->size, c->backing != NULL, err)) < 0)
        return rc;
    if (c->backing && fmt != formats[0])
        return pool_fail(err, -EINVAL, "backing: only qcow2 volumes have a backing volume");
    if (c->backing &&
        (rc = create_backing(pool, c->backing, &o, backing, sizeof(backing), err)) < 0)
        return rc;
    if ((rc = vol_path(pool, c->name, fmt, final, sizeof(final), err)) < 0 ||
        (rc = new_image_begin(&ni, final, err)) < 0 ||
        (rc = new_image_create(&ni, fmt, &o, err)) < 0)
        return rc;
    return new_image_commit(&ni, err);
}

/* A linked clone: a qcow2 volume over src. */
static int clone_linked(const MgmtPool *pool, const char *src, const char *name, Error *err)
{
    MgmtVolumeCreate c = {.name = name, .format = "qcow2", .backing = src};
    return mgmt_volume_create(pool, &c, err);
}

int mgmt_volume_clone(const MgmtPool *pool, const char *src, const char *name, bool linked,
                      const MgmtProgress *progress, Error *err)
{
    char path[PATH_MAX], final[PATH_MAX];
    const char *fmt;
    int rc = vol_name_free(pool, name, err);
    if (rc < 0 || (rc = vol_find(pool, src, path, sizeof(path), &fmt, err)) < 0 ||
        (rc = vol_busy(path, src, err)) < 0)
        return rc;
    if (linked)
        return clone_linked(pool, src, name, err);
    if ((rc = chain_inside(pool, path, fmt, err)) < 0 ||
        (rc = vol_path(pool, name, fmt, final, sizeof(final), err)) < 0)
        return rc;
    BlockDev *s = block_open(path, fmt, true, err);
    if (!s)
        return -EIO;
    rc = copy_to_new(s, final, fmt, progress, err);
    block_close(s);
    return rc;
}

int mgmt_volume_import(const MgmtPool *pool, const char *name, const char *host_path,
                       const char *format, const MgmtProgress *progress, Error *err)
{
    const char *fmt = mgmt_volume_format(format);
    char final[PATH_MAX];
    struct stat st;
    int rc = vol_name_free(pool, name, err);
    if (rc < 0)
        return rc;
    if (!fmt)
        return pool_fail(err, -EINVAL, "format: '%.32s' is not qcow2 or raw", format);
    if (host_path[0] != '/')
        return pool_fail(err, -EINVAL, "import: '%.200s' is not an absolute path", host_path);
    if (stat(host_path, &st) < 0)
        return pool_fail_errno(err, -EINVAL, errno, "import: %.200s", host_path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return pool_fail(err, -EINVAL, "import: %.200s is not a file", host_path);
    if ((rc = vol_path(pool, name, fmt, final, sizeof(final), err)) < 0)
        return rc;
    BlockDev *s = block_open(host_path, NULL, true, err);
    if (!s)
        return -EINVAL;
    rc = copy_to_new(s, final, fmt, progress, err);
    block_close(s);
    return rc;
}

int mgmt_volume_export(const MgmtPool *pool, const char *name, const char *host_path,
                       const char *format, const MgmtProgress *progress, Error *err)
{
    char path[PATH_MAX];
    const char *fmt, *out_fmt;
    struct stat st;
    int rc = vol_find(pool, name, path, sizeof(path), &fmt, err);
    if (rc < 0)
        return rc;
    out_fmt = format ? mgmt_volume_format(format) : fmt;
    if (!out_fmt)
        return pool_fail(err, -EINVAL, "format: '%.32s' is not qcow2 or raw", format);
    if (host_path[0] != '/')
        return pool_fail(err, -EINVAL, "path: '%.200s' is not an absolute path", host_path);
    if (lstat(host_path, &st) == 0)
        return pool_fail(err, -EEXIST, "path: %.200s exists", host_path);
    if ((rc = chain_inside(pool, path, fmt, err)) < 0 || (rc = vol_busy(path, name, err)) < 0)
        return rc;
    BlockDev *s = block_open(path, fmt, true, err);
    if (!s)
        return -EIO;
    rc = copy_to_new(s, host_path, out_fmt, progress, err);
    block_close(s);
    return rc;
}

/* ---- resize, delete ---- */

int mgmt_volume_resize(const MgmtPool *pool, const char *name, uint64_t size, bool shrink,
                       Error *err)
{
    char path[PATH_MAX];
    const char *fmt;
    int rc = vol_find(pool, name, path, sizeof(path), &fmt, err);
    if (rc < 0 || (rc = size_check(size, false, err)) < 0 || (rc = vol_busy(path, name, err)) < 0)
        return rc;
    BlockOpenOpts o = {.format = fmt, .no_backing = true};
    BlockDev *bd = block_open_opts(path, &o, err);
    if (!bd)
        return -EIO;
    uint64_t cur = block_length(bd);
    if (size < cur && fmt != formats[1])
        rc = pool_fail(err, -EINVAL, "size: a qcow2 volume cannot shrink (%llu < %llu bytes)",
                       (unsigned long long)size, (unsigned long long)cur);
    else if (size < cur && !shrink)
        rc = pool_fail(err, -EINVAL,
                       "size: shrinking loses the data past the new end: "
                       "ask for it with shrink (hostel volume resize --shrink)");
    else if (size != cur && (block_truncate(bd, size, err) < 0 || block_flush(bd, err) < 0))
        rc = -EIO;
    block_close(bd);
    return rc;
}

/* Another volume of the pool has name as backing: -EBUSY. */
static int backing_users(const MgmtPool *pool, const char *name, Error *err)
{
    MgmtVolume *v;
    size_t n;
    int rc = mgmt_volume_list(pool, &v, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (v[i].backing && strcmp(v[i].backing, name) == 0)
            rc = pool_fail(err, -EBUSY, "volume '%s' is the backing of volume '%s'", name,
                           v[i].name);
    mgmt_volumes_free(v, n);
    return rc;
}

int mgmt_volume_delete(const MgmtPool *pool, const char *name, Error *err)
{
    char path[PATH_MAX];
    const char *fmt;
    int rc = vol_find(pool, name, path, sizeof(path), &fmt, err);
    if (rc < 0 || (rc = vol_busy(path, name, err)) < 0 || (rc = backing_users(pool, name, err)) < 0)
        return rc;
    if (unlink(path) < 0)
        return pool_fail_errno(err, -EIO, errno, "cannot remove %.200s", path);
    io_sync_dir_of(path);
    return 0;
}

bool mgmt_image_backs(const char *path, const struct stat *target)
{
    ImageHead h = {0};
    Error err = {0};
    char *cur = strdup(path);
    const char *fmt = NULL;
    bool found = false;
    for (unsigned depth = 0; cur && !found && depth <= BLOCK_MAX_CHAIN; depth++) {
        if (image_head(cur, fmt, &h, &err) < 0)
            break;
        free(cur);
        cur = h.backing;
        fmt = h.backing_fmt;
        struct stat st;
        found = cur && stat(cur, &st) == 0 && st.st_dev == target->st_dev &&
                st.st_ino == target->st_ino;
    }
    free(cur);
    return found;
}
