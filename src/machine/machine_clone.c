/*
 * `hostel clone`: a new VM (or disk) from an existing one.
 *
 * From a disk image: a linked clone is a qcow2 overlay whose backing file
 * is the source (the source must not be written afterwards); a full clone
 * is a thin qcow2 copy of its content.
 *
 * From a state file (a suspended VM): every writable disk is cloned as
 * above, and the clone gets a fresh identity: a new random MAC address (its
 * name comes with `run --restore --name`) and the state of a new user-mode
 * network (no DHCP lease: the source's lease names the source's MAC).  Its
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
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "block/block.h"
#include "machine/machine_state.h"
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

/* A locally administered, unicast MAC address. */
static void random_mac(char *out, size_t size)
{
    uint8_t m[6];
    if (getrandom(m, sizeof(m), 0) != (ssize_t)sizeof(m))
        memset(m, 0x5a, sizeof(m));
    m[0] = (uint8_t)((m[0] & 0xfe) | 0x02);
    snprintf(out, size, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* At most one network card (slirp section) per VM, plus the config. */
#define MAX_EDITS 2

/*
 * What a brand-new user-mode network saves (no leases, no sockets), taken
 * from a fresh libslirp instance rather than by editing libslirp's bytes.
 * Without a user network in the file there is nothing to do (*blob NULL).
 */
static int fresh_net_state(StreamIn *in, StreamEdit *edit, uint8_t **blob, Error *err)
{
    *blob = NULL;
    NetConfig cfg;
    net_config_default(&cfg);
    cfg.kind = NET_USER; /* no forwards: no host port is bound */
    EventLoop *loop = evloop_new(err);
    NetBackend *b = loop ? net_backend_new(&cfg, loop, err) : NULL;
    int rc = b ? 0 : -1;
    const char *tag = b ? net_backend_state_tag(b) : NULL;
    const StreamSection *sec = NULL;
    for (int i = 0; rc == 0 && tag && i < in->nsec && !sec; i++)
        if (!strcmp(in->sec[i].tag, tag))
            sec = &in->sec[i];
    if (sec) {
        *edit = (StreamEdit){
            .tag = sec->tag, .instance = sec->instance, .version = net_backend_state_version(b)};
        rc = net_backend_save(b, blob, &edit->len, err);
        edit->payload = *blob;
    }
    net_backend_free(b);
    evloop_free(loop);
    return rc;
}

/* Write in with a new config (and the edits before it) to path, atomically. */
static int write_state(StreamIn *in, json_t *config, StreamEdit *edits, int nedits,
                       const char *path, Error *err)
{
    char tmp[PATH_MAX], *text = json_dumps(config, JSON_COMPACT);
    if (!text)
        return error_set(err, "out of memory");
    edits[nedits++] = (StreamEdit){.tag = "config",
                                   .instance = 0,
                                   .payload = text,
                                   .len = strlen(text),
                                   .version = stream_in_find(in, "config", 0)->version};
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
    char paths[2 * 8][PATH_MAX];
    int n;
} Made;

static void undo(Made *made)
{
    while (made->n)
        unlink(made->paths[--made->n]);
}

/* Clone each writable disk of config (rewriting its path); src_config gets overlays too. */
static int clone_state_disks(json_t *config, json_t *src_config, const char *src, const char *dst,
                             bool full, Made *made, Error *err)
{
    json_t *disks = json_object_get(config, "disks"), *d;
    size_t i;
    json_array_foreach(disks, i, d)
    {
        const char *p = json_string_value(json_object_get(d, "path"));
        char path[PATH_MAX];
        if (!p || i >= 8 || strlen(p) >= sizeof(path))
            return error_set(err, "%s: state file is corrupt: bad disk entry", src);
        strcpy(path, p); /* d's path is replaced below */
        if (json_is_true(json_object_get(d, "read-only")))
            continue; /* shared as it is: nobody writes it */
        char *mine = made->paths[made->n];
        snprintf(mine, PATH_MAX, "%s.vd%c.qcow2", dst, (int)('a' + i));
        if (clone_disk(path, mine, full, err) < 0)
            return -1;
        made->n++;
        json_object_set_new(d, "path", json_string(mine));
        json_object_set_new(d, "format", json_string("qcow2"));
        if (full)
            continue;
        char *theirs = made->paths[made->n];
        snprintf(theirs, PATH_MAX, "%s.vd%c.qcow2", src, (int)('a' + i));
        if (clone_linked(path, theirs, err) < 0)
            return -1;
        made->n++;
        json_t *sd = json_array_get(json_object_get(src_config, "disks"), i);
        json_object_set_new(sd, "path", json_string(theirs));
        json_object_set_new(sd, "format", json_string("qcow2"));
    }
    return 0;
}

static int clone_state(const char *src, const char *dst, bool full, Error *err)
{
    StreamIn in;
    if (stream_in_open(&in, src, err) < 0)
        return -1;
    const StreamSection *sec = stream_in_find(&in, "config", 0);
    json_t *config = sec ? json_loadb((const char *)sec->payload, sec->len, 0, NULL) : NULL;
    json_t *src_config = config ? json_deep_copy(config) : NULL;
    Made made = {.n = 0};
    int rc = json_is_object(config) && src_config
                 ? 0
                 : error_set(err, "%s: state file is corrupt: bad configuration", src);
    if (rc == 0)
        rc = clone_state_disks(config, src_config, src, dst, full, &made, err);
    json_t *net = json_object_get(config, "net");
    if (rc == 0 && json_is_object(net)) {
        char mac[18];
        random_mac(mac, sizeof(mac));
        json_object_set_new(net, "mac", json_string(mac));
    }
    StreamEdit edits[MAX_EDITS], src_edits[MAX_EDITS];
    uint8_t *net_blob = NULL;
    if (rc == 0)
        rc = fresh_net_state(&in, &edits[0], &net_blob, err);
    if (rc == 0)
        rc = write_state(&in, config, edits, net_blob ? 1 : 0, dst, err);
    if (rc == 0 && !full && (rc = write_state(&in, src_config, src_edits, 0, src, err)) < 0)
        unlink(dst);
    free(net_blob);
    if (rc < 0)
        undo(&made);
    json_decref(config);
    json_decref(src_config);
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
