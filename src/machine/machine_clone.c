/*
 * `hostel clone`: a new VM (or disk) from an existing one.
 *
 * From a disk image: a linked clone is a qcow2 overlay whose backing file
 * is the source (the source must not be written afterwards); a full clone
 * is a thin qcow2 copy of its content.
 *
 * From a state file (a suspended VM): every writable disk is cloned as
 * above, and the clone gets a fresh identity: a new random MAC address for
 * each network card (its name comes with `run --restore --name`) and the
 * state of a new user-mode network for each user card (no DHCP lease: the
 * source's lease names the source's MAC).  Its
 * RNG is reseeded by the guest when the VM generation ID device tells it
 * that it was restored (hw/vmgenid.c), as every restore does.  A linked clone turns the
 * source's disks into shared read-only bases: the source VM is moved onto
 * overlays of its own (its state file is rewritten to point at them), so
 * neither VM can change the other's disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "machine/machine_state.h"
#include "machine/vmconfig.h"
#include "net/net.h"
#include "state/stream.h"
#include "util/io.h"
#include "util/zero.h"

#define CLONE_CHUNK (1u << 20)

static bool is_state_file(const char *path)
{
    char magic[8] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool yes = fd >= 0 && read(fd, magic, 8) == 8 && memcmp(magic, STREAM_MAGIC, 8) == 0;
    if (fd >= 0)
        close(fd);
    return yes;
}

/*
 * An overlay at dst over src (its format probed; src is opened to check it
 * exists).  A src that cannot be resolved fails with its errno in err->code.
 */
static int clone_linked(const char *src, const char *dst, Error *err)
{
    char abs[PATH_MAX];
    if (!realpath(src, abs))
        return error_set_errno(err, errno, "%s", src);
    BlockOpenOpts o = {.read_only = true, .no_backing = true};
    BlockDev *bd = block_open_opts(abs, &o, err);
    if (!bd)
        return -1;
    BlockCreateOpts c = {
        .size = block_length(bd), .backing_file = abs, .backing_fmt = bd->drv->format};
    block_close(bd);
    return block_create(dst, "qcow2", &c, err);
}

/* A thin qcow2 copy of src's content (its whole backing chain flattened). */
static int clone_full(const char *src, const char *dst, Error *err)
{
    BlockOpenOpts o = {.read_only = true};
    BlockDev *in = block_open_opts(src, &o, err);
    if (!in)
        return -1;
    BlockCreateOpts c = {.size = block_length(in)};
    BlockDev *out = NULL;
    uint8_t *buf = malloc(CLONE_CHUNK);
    int rc = buf ? block_create(dst, "qcow2", &c, err) : error_set(err, "out of memory");
    if (rc == 0)
        rc = (out = block_open(dst, "qcow2", false, err)) ? 0 : -1;
    for (uint64_t off = 0; rc == 0 && off < block_length(in); off += CLONE_CHUNK) {
        uint64_t n = block_length(in) - off < CLONE_CHUNK ? block_length(in) - off : CLONE_CHUNK;
        rc = block_pread(in, off, buf, (size_t)n, err);
        if (rc == 0 && !buf_is_zero(buf, (size_t)n)) /* zeroes stay unallocated: thin */
            rc = block_pwrite(out, off, buf, (size_t)n, err);
    }
    if (rc == 0)
        rc = block_flush(out, err);
    block_close(out);
    block_close(in);
    free(buf);
    if (rc < 0)
        unlink(dst);
    return rc;
}

static int clone_disk(const char *src, const char *dst, bool full, Error *err)
{
    return full ? clone_full(src, dst, err) : clone_linked(src, dst, err);
}

/* A user network's section per card, plus the config. */
#define MAX_EDITS (VMCONFIG_SLOTS + 1)

/*
 * What a brand-new user-mode network saves (no leases, no sockets), taken
 * from a fresh libslirp instance rather than by editing libslirp's bytes,
 * replaces every user network's section of in (one edit each, sharing
 * *blob).  Without a user network in the file there is nothing to do.
 */
static int fresh_net_state(StreamIn *in, StreamEdit *edits, int *nedits, uint8_t **blob, Error *err)
{
    *blob = NULL;
    NetConfig cfg;
    net_config_default(&cfg);
    cfg.kind = NET_USER; /* no forwards: no host port is bound */
    cfg.nfwd = 0;
    EventLoop *loop = evloop_new(err);
    NetBackend *b = loop ? net_backend_new(&cfg, loop, err) : NULL;
    int rc = b ? 0 : -1;
    const char *tag = b ? net_backend_state_tag(b) : NULL;
    size_t len = 0;
    for (int i = 0; rc == 0 && tag && i < in->nsec && *nedits < MAX_EDITS - 1; i++) {
        const StreamSection *sec = &in->sec[i];
        if (strcmp(sec->tag, tag) != 0)
            continue;
        if (!*blob && (rc = net_backend_save(b, blob, &len, err)) < 0)
            break;
        edits[(*nedits)++] = (StreamEdit){.tag = sec->tag,
                                          .instance = sec->instance,
                                          .version = net_backend_state_version(b),
                                          .payload = *blob,
                                          .len = len};
    }
    net_backend_free(b);
    evloop_free(loop);
    return rc;
}

/* Write in with a new config (and the edits before it) to path, atomically. */
static int write_state(StreamIn *in, const VmConfig *config, StreamEdit *edits, int nedits,
                       const char *path, Error *err)
{
    char tmp[PATH_MAX], *text = vmconfig_to_text(config);
    if (!text)
        return error_set(err, "out of memory");
    edits[nedits++] = (StreamEdit){.tag = "config",
                                   .instance = 0,
                                   .payload = text,
                                   .len = strlen(text),
                                   .version = MACHINE_CONFIG_VERSION};
    snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp), rc = -1;
    if (fd < 0)
        error_set_errno(err, errno, "%s: cannot create the state file", path);
    else if (stream_rewrite(in, fd, edits, nedits, err) == 0 && fsync(fd) == 0)
        rc = 0;
    if (fd >= 0 && close(fd) < 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", path);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", path);
    if (rc == 0)
        io_sync_dir_of(path);
    if (rc < 0 && fd >= 0)
        unlink(tmp);
    free(text);
    return rc;
}

typedef struct Made {
    char paths[2 * VMCONFIG_MAX_DISKS][PATH_MAX];
    int n;
} Made;

static void undo(Made *made)
{
    while (made->n)
        unlink(made->paths[--made->n]);
}

/* Point disk d at a new qcow2 image. */
static int set_qcow2(VmDisk *d, const char *path, Error *err)
{
    return vmconfig_set_string(&d->path, path, err) < 0 ||
                   vmconfig_set_string(&d->format, "qcow2", err) < 0
               ? -1
               : 0;
}

/* Clone each writable disk of config (rewriting its path); src_config gets overlays too. */
static int clone_state_disks(VmConfig *config, VmConfig *src_config, const char *src,
                             const char *dst, bool full, Made *made, Error *err)
{
    for (unsigned i = 0; i < config->ndisks; i++) {
        VmDisk *d = &config->disks[i];
        if (d->read_only)
            continue; /* shared as it is: nobody writes it */
        char *mine = made->paths[made->n];
        snprintf(mine, PATH_MAX, "%s.vd%c.qcow2", dst, (int)('a' + i));
        if (clone_disk(d->path, mine, full, err) < 0)
            return -1;
        made->n++;
        if (set_qcow2(d, mine, err) < 0)
            return -1;
        if (full)
            continue;
        char *theirs = made->paths[made->n];
        snprintf(theirs, PATH_MAX, "%s.vd%c.qcow2", src, (int)('a' + i));
        if (clone_linked(src_config->disks[i].path, theirs, err) < 0)
            return -1;
        made->n++;
        if (set_qcow2(&src_config->disks[i], theirs, err) < 0)
            return -1;
    }
    return 0;
}

/* The configuration of the state file in (nothing to free on failure). */
static int read_config(StreamIn *in, const char *src, VmConfig *cfg, Error *err)
{
    const StreamSection *sec = stream_in_find(in, "config", 0);
    Error e = {0};
    vmconfig_default(cfg);
    if (!sec)
        return error_set(err, "%s: state file has no configuration section", src);
    if (machine_state_config_decode(sec, cfg, &e) < 0)
        return error_set(err, "%s: state file is corrupt: bad configuration: %s", src, e.msg);
    return 0;
}

static int clone_state(const char *src, const char *dst, bool full, Error *err)
{
    StreamIn in;
    VmConfig config, src_config;
    if (stream_in_open(&in, src, err) < 0)
        return -1;
    vmconfig_default(&src_config);
    Made made = {.n = 0};
    int rc = read_config(&in, src, &config, err);
    if (rc == 0)
        rc = vmconfig_copy(&src_config, &config, err);
    if (rc == 0)
        rc = clone_state_disks(&config, &src_config, src, dst, full, &made, err);
    vmconfig_fresh_macs(&config);
    StreamEdit edits[MAX_EDITS], src_edits[MAX_EDITS];
    int nedits = 0;
    uint8_t *net_blob = NULL;
    if (rc == 0)
        rc = fresh_net_state(&in, edits, &nedits, &net_blob, err);
    if (rc == 0)
        rc = write_state(&in, &config, edits, nedits, dst, err);
    if (rc == 0 && !full && (rc = write_state(&in, &src_config, src_edits, 0, src, err)) < 0)
        unlink(dst);
    free(net_blob);
    if (rc < 0)
        undo(&made);
    vmconfig_free(&config);
    vmconfig_free(&src_config);
    stream_in_close(&in);
    return rc;
}

int machine_clone(const char *src, const char *dst, bool full, Error *err)
{
    if (access(dst, F_OK) == 0)
        return error_set(err, "%s exists: clone to a new name", dst);
    if (access(src, R_OK) < 0)
        return error_set_errno(err, errno, "%s", src);
    return is_state_file(src) ? clone_state(src, dst, full, err) : clone_disk(src, dst, full, err);
}
