/*
 * Saving and restoring a whole machine: which sections a stream holds, in
 * what order, and the two-phase load (decode and check every section into
 * staging copies, then RAM, then commit).  The format is in
 * src/state/stream.h and docs/state.md; each device's fields are in its own
 * table next to its code.
 */
#include "machine/machine_state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "machine/machine_int.h"
#include "state/state.h"
#include "state/stream.h"
#include "state/stream_ram.h"
#include "util/io.h"
#include "util/log.h"
#include "block/block.h"
#include "block/file.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/input.h"
#include "virtio/net.h"

/* ---- the machine's own section ---- */

static int machine_state_check(const void *staged, Error *err)
{
    const Machine *m = staged;
    if (!m->linux_boot)
        return error_set(err, "machine: only a booted Linux machine can be restored");
    for (unsigned i = 0; i < m->nharts; i++) {
        if (m->hsm[i] < 0 || m->hsm[i] > 6)
            return error_set(err, "machine.hsm[%u]: %d is not an SBI HSM state", i, m->hsm[i]);
    }
    return 0;
}

static const StateField machine_fields[] = {
    STATE_FIELD(Machine, linux_boot, STATE_BOOL),
    STATE_FIELD(Machine, hsm, STATE_U32, .count = MACHINE_MAX_HARTS,
                .count_of = STATE_COUNT_OF(Machine, nharts)),
    STATE_FIELD(Machine, instret_base, STATE_U64),
    STATE_FIELD(Machine, rom, STATE_BYTES, .count = VIRT_ROM_SIZE),
    STATE_END,
};

static const StateDesc machine_state_desc = {
    .name = "machine",
    .version = 1,
    .min_version = 1,
    .size = sizeof(Machine),
    .fields = machine_fields,
    .check = machine_state_check,
};

/* ---- blob parts: state a library keeps in its own format ---- */

/*
 * A part whose state is an opaque blob rather than a table (libslirp's
 * state through a network backend).  check runs in the first phase of a
 * restore and must not change obj; load runs in the commit phase, after
 * every table part has been committed.
 */
typedef struct PartBlobOps {
    int (*save)(void *obj, uint8_t **blob, size_t *len, uint16_t *version, Error *err);
    int (*check)(void *obj, uint16_t version, const uint8_t *blob, size_t len, Error *err);
    int (*load)(void *obj, uint16_t version, const uint8_t *blob, size_t len, Error *err);
} PartBlobOps;

static int net_blob_save(void *obj, uint8_t **blob, size_t *len, uint16_t *version, Error *err)
{
    *version = net_backend_state_version(obj);
    return net_backend_save(obj, blob, len, err);
}

static int net_blob_check(void *obj, uint16_t version, const uint8_t *blob, size_t len, Error *err)
{
    return net_backend_check(obj, version, blob, len, err);
}

static int net_blob_load(void *obj, uint16_t version, const uint8_t *blob, size_t len, Error *err)
{
    return net_backend_load(obj, version, blob, len, err);
}

static const PartBlobOps net_blob_ops = {
    .save = net_blob_save,
    .check = net_blob_check,
    .load = net_blob_load,
};

/* ---- the list of (section, object) pairs of a machine ---- */

typedef struct Part {
    char tag[STREAM_MAX_TAG + 1];
    uint32_t instance;
    const StateDesc *desc;   /* a table part, or */
    const PartBlobOps *blob; /* a blob part */
    void *obj;
    void *staged;             /* restore, table part: the decoded copy */
    const StreamSection *sec; /* restore, blob part: the checked section */
} Part;

#define MAX_PARTS (1 + MACHINE_MAX_HARTS + 3 * MACHINE_MAX_DEVICES)

static void part_add(Part *parts, int *n, const char *tag, uint32_t instance, const StateDesc *desc,
                     void *obj)
{
    Part *p = &parts[(*n)++];
    snprintf(p->tag, sizeof(p->tag), "%s", tag);
    p->instance = instance;
    p->desc = desc;
    p->obj = obj;
    p->blob = NULL;
    p->staged = NULL;
    p->sec = NULL;
}

static void part_add_blob(Part *parts, int *n, const char *tag, uint32_t instance,
                          const PartBlobOps *blob, void *obj)
{
    part_add(parts, n, tag, instance, NULL, obj);
    parts[*n - 1].blob = blob;
}

/* A network card's backend state (tag "slirp", instance: the card's slot). */
static void part_add_net(Part *parts, int *n, VirtioMmio *v, unsigned slot)
{
    if (v->ops->device_id != VIRTIO_ID_NET)
        return;
    NetBackend *b = virtio_net_backend(v);
    const char *tag = net_backend_state_tag(b);
    if (tag)
        part_add_blob(parts, n, tag, slot, &net_blob_ops, b);
}

/* A virtio slot's sections after the transport's: the device type's own, its backend's. */
static void part_add_virtio(Part *parts, int *n, VirtioMmio *v)
{
    unsigned slot = v->dev.instance;
    if (v->ops->state)
        part_add(parts, n, v->ops->name, slot, v->ops->state, v);
    part_add_net(parts, n, v, slot);
}

/*
 * Every section of m, in save (and commit) order: the machine, the harts,
 * then the devices in the board table's order (virt.c), each device's
 * section tagged with its ops' name and numbered by its instance.
 * Returns the count.
 */
static int machine_parts(Machine *m, Part *parts)
{
    int n = 0;
    part_add(parts, &n, "machine", 0, &machine_state_desc, m);
    for (unsigned i = 0; i < m->nharts; i++)
        part_add(parts, &n, "hart", i, &hart_state_desc, m->harts[i]);
    for (unsigned i = 0; i < m->ndevices; i++) {
        Device *d = m->devices[i];
        if (d->ops->state)
            part_add(parts, &n, d->ops->name, d->instance, d->ops->state, d);
        if (d->ops == &virtio_mmio_device_ops)
            part_add_virtio(parts, &n, (VirtioMmio *)d);
    }
    return n;
}

/* ---- the configuration section (JSON): what --restore rebuilds ---- */

/* *slot = path made absolute (as it is when realpath cannot resolve it). */
static int set_abs(char **slot, const char *path)
{
    char abs[PATH_MAX];
    return vmconfig_set_string(slot, path && realpath(path, abs) ? abs : path, NULL);
}

/* The machine's definition with what it booted, file paths absolute: VmConfig JSON text. */
static char *config_text(const Machine *m)
{
    VmConfig c;
    if (vmconfig_copy(&c, &m->vm, NULL) < 0)
        return NULL;
    int rc = set_abs(&c.boot.kernel, m->boot.kernel) | set_abs(&c.boot.initrd, m->boot.initrd) |
             set_abs(&c.boot.bios, m->boot.bios) |
             vmconfig_set_string(&c.boot.cmdline, m->boot.cmdline, NULL);
    for (unsigned i = 0; i < c.ndisks; i++)
        rc |= set_abs(&c.disks[i].path, c.disks[i].path);
    char *text = rc ? NULL : vmconfig_to_text(&c);
    vmconfig_free(&c);
    return text;
}

int machine_state_config_decode(const StreamSection *sec, VmConfig *vm, Error *err)
{
    json_error_t jerr;
    vmconfig_default(vm);
    if (sec->version != 1 && sec->version != MACHINE_CONFIG_VERSION)
        return error_set(err, "configuration version %u is not supported (1 or %u)", sec->version,
                         MACHINE_CONFIG_VERSION);
    json_t *j = json_loadb((const char *)sec->payload, sec->len, 0, &jerr);
    if (!j)
        return error_set(err, "not JSON: %s", jerr.text);
    int rc = sec->version == 1 ? vmconfig_from_json_v1(j, vm, err) : vmconfig_from_json(j, vm, err);
    json_decref(j);
    return rc;
}

/* ---- saving ---- */

void machine_quiesce(Machine *m)
{
    for (unsigned s = 0; s < MACHINE_VIRTIO_SLOTS; s++) {
        VirtioMmio *v = m->virtio[s];
        if (v && v->ops->quiesce)
            v->ops->quiesce(v);
    }
}

void machine_drain(Machine *m)
{
    for (unsigned s = 0; s < MACHINE_VIRTIO_SLOTS; s++) {
        VirtioMmio *v = m->virtio[s];
        if (virtio_blk_disk(v))
            virtio_blk_drain(v);
        else if (v && v->ops->quiesce)
            v->ops->quiesce(v);
    }
}

static int save_blob_part(StreamOut *out, const Part *p, Error *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    uint16_t version = 0;
    Error e = {0};
    if (p->blob->save(p->obj, &blob, &len, &version, &e) < 0)
        return error_set(err, "%s[%u]: %s", p->tag, p->instance, e.msg);
    int rc = stream_out_section(out, p->tag, p->instance, version, 0, blob, len, err);
    free(blob);
    return rc;
}

static int save_part(StreamOut *out, const Part *p, Error *err)
{
    if (p->blob)
        return save_blob_part(out, p, err);
    if (p->desc->pre_save)
        p->desc->pre_save(p->obj);
    size_t len = state_encoded_size(p->desc, p->desc->version, p->obj);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return error_set(err, "out of memory saving %s", p->tag);
    state_encode(p->desc, p->obj, buf);
    int rc = stream_out_section(out, p->tag, p->instance, p->desc->version, 0, buf, len, err);
    free(buf);
    return rc;
}

static int save_config(Machine *m, StreamOut *out, Error *err)
{
    char *cfg = config_text(m);
    if (!cfg)
        return error_set(err, "out of memory saving the configuration");
    int rc = stream_out_section(out, "config", 0, MACHINE_CONFIG_VERSION, 0, cfg, strlen(cfg), err);
    free(cfg);
    return rc;
}

int machine_save_devices(Machine *m, StreamOut *out, Error *err)
{
    Part parts[MAX_PARTS];
    int n = machine_parts(m, parts), rc = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = save_part(out, &parts[i], err);
    return rc;
}

static int save_stream(Machine *m, int fd, const MachineSaveOpts *o, Error *err)
{
    StreamOut out;
    int rc = stream_out_begin(&out, fd, err);
    if (rc == 0)
        rc = save_config(m, &out, err);
    if (rc == 0)
        rc = machine_save_devices(m, &out, err);
    if (rc == 0)
        rc = stream_out_ram(&out, m->bus.ram, m->bus.ram_size,
                            o->compress ? STREAM_RAM_ZSTD : STREAM_RAM_FLAT,
                            o->level ? o->level : 3, err);
    if (rc == 0)
        rc = stream_out_end(&out, err);
    return rc;
}

/* Only a booted kernel's machine has the state a restore rebuilds. */
static int save_allowed(const Machine *m, Error *err)
{
    if (!m->linux_boot)
        return error_set(err, "only a machine that booted a kernel (not a bare-metal program) "
                              "can be saved");
    return 0;
}

int machine_save_config(Machine *m, StreamOut *out, Error *err)
{
    if (save_allowed(m, err) < 0)
        return -1;
    return save_config(m, out, err);
}

int machine_disks_lock(Machine *m, bool lock, Error *err)
{
    for (unsigned i = 0; i < m->vm.ndisks; i++) {
        BlockDev *bd = virtio_blk_disk(machine_disk_device(m, i));
        if (!bd || bd->read_only || !bd->file || bd->file->fd < 0)
            continue;
        if (!lock)
            block_unlock_fd(bd->file->fd);
        else if (block_lock_fd(bd->file->fd, true, bd->file->path, err) < 0)
            return -1;
    }
    return 0;
}

int machine_save(Machine *m, const char *path, const MachineSaveOpts *o, Error *err)
{
    if (save_allowed(m, err) < 0)
        return -1;
    machine_quiesce(m);
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return error_set(err, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return error_set_errno(err, errno, "%s: cannot create the state file", path);
    int rc = save_stream(m, fd, o, err);
    if (rc == 0 && fsync(fd) < 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", path);
    if (close(fd) < 0 && rc == 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", path);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = error_set_errno(err, errno, "%s: cannot write the state file", path);
    if (rc < 0) {
        unlink(tmp);
        return -1;
    }
    io_sync_dir_of(path);
    return 0;
}

/* ---- the state file, opened for a restore ---- */

struct MachineStateFile {
    StreamIn in;
    StreamRamLoad *ram_load; /* zstd RAM being decompressed since open, or NULL */
    VmConfig vm;             /* the configuration section */
    MachineBoot boot;        /* vm.boot's strings */
};

static int parse_config(MachineStateFile *f, Error *err)
{
    const StreamSection *sec = stream_in_find(&f->in, "config", 0);
    Error e = {0};
    if (!sec)
        return error_set(err, "%s: state file has no configuration section", f->in.path);
    if (machine_state_config_decode(sec, &f->vm, &e) < 0)
        return error_set(err, "%s: state file is corrupt: bad configuration: %s", f->in.path,
                         e.msg);
    if (!f->vm.boot.kernel)
        return error_set(err, "%s: state file is corrupt: bad configuration: boot.kernel: missing",
                         f->in.path);
    const VmBoot *b = &f->vm.boot;
    f->boot = (MachineBoot){
        .kernel = b->kernel, .initrd = b->initrd, .cmdline = b->cmdline, .bios = b->bios};
    return 0;
}

MachineStateFile *machine_state_open_channel(StreamChannel *ch, const char *name, Error *err)
{
    MachineStateFile *f = calloc(1, sizeof(*f));
    if (!f) {
        stream_channel_close(ch);
        error_set(err, "out of memory");
        return NULL;
    }
    if (stream_in_open_channel(&f->in, ch, name, &(StreamInOpts){0}, err) < 0) {
        free(f);
        return NULL;
    }
    if (parse_config(f, err) < 0) {
        machine_state_close(f);
        return NULL;
    }
    return f;
}

MachineStateFile *machine_state_open(const char *path, Error *err)
{
    MachineStateFile *f = calloc(1, sizeof(*f));
    if (!f) {
        error_set(err, "out of memory");
        return NULL;
    }
    if (stream_in_open(&f->in, path, err) < 0) {
        free(f);
        return NULL;
    }
    if (parse_config(f, err) < 0) {
        machine_state_close(f);
        return NULL;
    }
    /*
     * The file passed every check: its compressed RAM is decompressed from
     * now on, while the caller builds the machine (or, for a revert, the VM
     * still runs).  If that cannot start, the restore reads it itself.
     * A stream read in order has its RAM staged already.
     */
    if (f->in.ram_encoding == STREAM_RAM_ZSTD && !f->in.sequential)
        f->ram_load = stream_ram_load_start(&f->in, NULL, NULL);
    return f;
}

void machine_state_close(MachineStateFile *f)
{
    if (!f)
        return;
    stream_ram_load_free(f->ram_load);
    stream_in_close(&f->in);
    vmconfig_free(&f->vm);
    free(f);
}

const VmConfig *machine_state_config(const MachineStateFile *f)
{
    return &f->vm;
}

const MachineBoot *machine_state_boot(const MachineStateFile *f)
{
    return &f->boot;
}

/* ---- restoring ---- */

static bool section_expected(const StreamSection *sec, const Part *parts, int n)
{
    if (!strcmp(sec->tag, "config") || !strcmp(sec->tag, "ram") || !strcmp(sec->tag, "end"))
        return true;
    for (int i = 0; i < n; i++) {
        if (parts[i].instance == sec->instance && strcmp(parts[i].tag, sec->tag) == 0)
            return true;
    }
    return (sec->flags & STREAM_SEC_OPTIONAL) != 0;
}

/* Phase 1: every section decoded into a staging copy and checked; nothing live changes. */
static int stage_parts(MachineStateFile *f, Part *parts, int n, Error *err)
{
    for (int i = 0; i < f->in.nsec; i++) {
        if (!section_expected(&f->in.sec[i], parts, n))
            return error_set(err, "%s: section %s[%u] does not belong to this machine", f->in.path,
                             f->in.sec[i].tag, f->in.sec[i].instance);
    }
    for (int i = 0; i < n; i++) {
        Part *p = &parts[i];
        const StreamSection *sec = stream_in_find(&f->in, p->tag, p->instance);
        if (!sec && p->desc && p->desc->absent_ok)
            continue; /* nothing staged: the object keeps its state */
        if (!sec)
            return error_set(err, "%s: the state file has no %s[%u] section", f->in.path, p->tag,
                             p->instance);
        Error e = {0};
        if (p->blob) {
            if (p->blob->check(p->obj, sec->version, sec->payload, sec->len, &e) < 0)
                return error_set(err, "%s: %s[%u]: %s", f->in.path, p->tag, p->instance, e.msg);
            p->sec = sec;
            continue;
        }
        if (!(p->staged = malloc(p->desc->size)))
            return error_set(err, "out of memory restoring %s", p->tag);
        memcpy(p->staged, p->obj, p->desc->size);
        if (state_decode(p->desc, sec->version, sec->payload, sec->len, p->staged, &e) < 0)
            return error_set(err, "%s: %s[%u]: %s", f->in.path, p->tag, p->instance, e.msg);
    }
    return 0;
}

static int check_same_machine(const Machine *m, const MachineStateFile *f, Error *err)
{
    if (f->vm.ram_size != m->vm.ram_size || f->vm.nharts != m->nharts)
        return error_set(err,
                         "%s: saved from a machine with %llu MiB and %u harts (this one: "
                         "%llu MiB, %u harts)",
                         f->in.path, (unsigned long long)(f->vm.ram_size >> 20), f->vm.nharts,
                         (unsigned long long)(m->vm.ram_size >> 20), m->nharts);
    for (unsigned s = 0; s < MACHINE_VIRTIO_SLOTS; s++) {
        VmSlot a = f->vm.devices[s], b = m->vm.devices[s];
        char in_file[24], here[24];
        if (a.kind == b.kind && a.index == b.index)
            continue;
        vmconfig_slot_format(a, in_file, sizeof(in_file));
        vmconfig_slot_format(b, here, sizeof(here));
        return error_set(err, "%s: virtio slot %u holds %s in the file, %s here", f->in.path, s,
                         in_file, here);
    }
    return 0;
}

/*
 * Zero guest RAM without touching it: a fresh anonymous mapping in its place
 * (as bus_init made it) reads as zeros and takes a page only when written.
 * A memset faults in every page, seconds for 512 MiB where faults are dear.
 */
static void ram_clear(uint8_t *ram, uint64_t size)
{
    if (mmap(ram, size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
        memset(ram, 0, size);
}

/* Phase 1's RAM check: the file's RAM fits, and staged runs all decompressed. */
static int check_ram(const Machine *m, MachineStateFile *f, Error *err)
{
    if (!f->in.has_ram)
        return error_set(err, "%s: the state file has no RAM", f->in.path);
    if (f->in.ram_size != m->bus.ram_size)
        return error_set(err,
                         "%s: state file is corrupt: its RAM is %llu bytes, its "
                         "configuration says %llu",
                         f->in.path, (unsigned long long)f->in.ram_size,
                         (unsigned long long)m->bus.ram_size);
    return f->ram_load ? stream_ram_load_wait(f->ram_load, err) : 0;
}

/* Phase 2's RAM: the staged runs moved in, or the file's pages mapped or read. */
static int load_ram(Machine *m, MachineStateFile *f, bool map_ram, Error *err)
{
    if (f->ram_load) {
        stream_ram_load_move(f->ram_load, m->bus.ram);
        stream_ram_load_free(f->ram_load);
        f->ram_load = NULL;
        return 0;
    }
    if (!map_ram || f->in.ram_encoding != STREAM_RAM_FLAT)
        ram_clear(m->bus.ram, m->bus.ram_size);
    return stream_in_load_ram(&f->in, m->bus.ram, m->bus.ram_size, map_ram, err);
}

/*
 * The cards' rings are the restored ones: a backend that was waiting for
 * the guest to post receive buffers (a revert of a running VM) looks again,
 * and the card takes the transmit ring's frames, rather than either waiting
 * for a notification the guest already sent.
 */
static void net_cards_ready(Machine *m)
{
    for (unsigned i = 0; i < m->ndevices; i++) {
        VirtioMmio *v = (VirtioMmio *)m->devices[i];
        if (m->devices[i]->ops == &virtio_mmio_device_ops && v->ops->device_id == VIRTIO_ID_NET) {
            net_backend_rx_ready(virtio_net_backend(v));
            net_backend_tx_ready(virtio_net_backend(v));
        }
    }
}

int machine_restore_with(Machine *m, MachineStateFile *f, bool map_ram,
                         int (*before_commit)(void *opaque, Error *err), void *opaque, Error *err)
{
    if (check_same_machine(m, f, err) < 0)
        return -1;
    Part parts[MAX_PARTS];
    int n = machine_parts(m, parts);
    int rc = stage_parts(f, parts, n, err);
    if (rc == 0)
        rc = check_ram(m, f, err);
    if (rc == 0 && before_commit)
        rc = before_commit(opaque, err);
    if (rc == 0) {
        /* Phase 2: RAM, then every part; code decoded from the old RAM goes. */
        machine_quiesce(m);
        machine_invalidate_code(m);
        rc = load_ram(m, f, map_ram, err);
    }
    for (int i = 0; rc == 0 && i < n; i++)
        if (parts[i].desc && parts[i].staged)
            state_commit(parts[i].desc, parts[i].obj, parts[i].staged);
    /* Blobs were checked in phase 1; a load that fails anyway leaves a fresh backend. */
    for (int i = 0; rc == 0 && i < n; i++) {
        Part *p = &parts[i];
        Error e = {0};
        if (p->blob && p->blob->load(p->obj, p->sec->version, p->sec->payload, p->sec->len, &e) < 0)
            rc = error_set(err, "%s: %s[%u]: %s", f->in.path, p->tag, p->instance, e.msg);
    }
    for (int i = 0; i < n; i++)
        free(parts[i].staged);
    if (rc == 0)
        net_cards_ready(m);
    if (rc == 0)
        rc = machine_set_boot(m, &f->boot, err);
    if (rc == 0) /* this memory starts a new life: the guest must reseed its RNG */
        vmgenid_next_generation(m->vmgenid);
    return rc;
}

int machine_restore(Machine *m, MachineStateFile *f, bool map_ram, Error *err)
{
    return machine_restore_with(m, f, map_ram, NULL, NULL, err);
}

/* ---- printing ---- */

/* The table of a section tag, for printing a file without a machine. */
static const StateDesc *desc_of_tag(const char *tag)
{
    if (strcmp(tag, "machine") == 0)
        return &machine_state_desc;
    if (strcmp(tag, "hart") == 0)
        return &hart_state_desc;
    if (strcmp(tag, virtio_input_state_desc.name) == 0)
        return &virtio_input_state_desc; /* a virtio device type's own section */
    if (strcmp(tag, virtio_console_state_desc.name) == 0)
        return &virtio_console_state_desc;
    const DeviceOps *ops = virt_ops_of_tag(tag); /* the board's devices */
    return ops ? ops->state : NULL;
}

/* msg as a JSON string (messages can quote what a damaged file holds: not always UTF-8). */
static json_t *json_message(const char *msg)
{
    json_t *j = json_string(msg);
    return j ? j : json_string("(not UTF-8)");
}

/*
 * Set "config" to the configuration section as the codec reads it (a
 * format-1 file's one "net" shown as "nics"); when it does not read, to the
 * JSON as it is (or null), with "config-error" saying why.
 */
static void describe_config(json_t *doc, const StreamSection *cfg)
{
    VmConfig vm;
    Error e = {0};
    if (cfg && machine_state_config_decode(cfg, &vm, &e) == 0) {
        json_t *j = vmconfig_to_json(&vm);
        vmconfig_free(&vm);
        if (j) {
            json_object_set_new(doc, "config", j);
            return;
        }
        snprintf(e.msg, sizeof(e.msg), "out of memory");
    }
    json_t *raw = cfg ? json_loadb((const char *)cfg->payload, cfg->len, 0, NULL) : NULL;
    json_object_set_new(doc, "config", raw ? raw : json_null());
    json_object_set_new(doc, "config-error",
                        json_message(cfg ? e.msg : "no configuration section"));
}

/* libslirp's own format, shown as it is: hex. */
static json_t *describe_blob(const StreamSection *s)
{
    char *hex = malloc(s->len * 2 + 1);
    if (!hex)
        return json_null();
    for (uint64_t i = 0; i < s->len; i++)
        snprintf(hex + 2 * i, 3, "%02x", s->payload[i]);
    hex[s->len * 2] = '\0';
    json_t *j = json_string(hex);
    free(hex);
    return j;
}

static json_t *describe_section(const StreamSection *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "tag", json_message(s->tag));
    json_object_set_new(o, "instance", json_integer(s->instance));
    json_object_set_new(o, "version", json_integer(s->version));
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->len));
    const StateDesc *d = desc_of_tag(s->tag);
    void *obj = d ? calloc(1, d->size) : NULL;
    Error e = {0};
    if (obj && state_decode_any(d, s->version, s->payload, s->len, obj, &e) == 0)
        json_object_set_new(o, "state", state_to_json(d, obj));
    else if (d)
        json_object_set_new(o, "error", json_message(e.msg));
    else if (strcmp(s->tag, "slirp") == 0)
        json_object_set_new(o, "blob", describe_blob(s));
    free(obj);
    return o;
}

static json_t *describe_ram(const StreamIn *in)
{
    json_t *o = json_pack("{s:I, s:s}", "bytes", (json_int_t)in->ram_size, "encoding",
                          in->ram_encoding == STREAM_RAM_ZSTD    ? "zstd"
                          : in->ram_encoding == STREAM_RAM_PAGES ? "pages"
                                                                 : "flat");
    if (in->ram_encoding == STREAM_RAM_FLAT)
        json_object_set_new(o, "pages-present", json_integer((json_int_t)in->ram_pages_present));
    return o;
}

/* Describe the open stream in, and close it. */
static json_t *describe_stream(StreamIn *in)
{
    char format[32];
    snprintf(format, sizeof(format), "%u.%u", in->major, in->minor);
    json_t *doc = json_pack("{s:s}", "format", format), *sections = json_array();
    describe_config(doc, stream_in_find(in, "config", 0));
    for (int i = 0; i < in->nsec; i++) {
        const StreamSection *s = &in->sec[i];
        if (!strcmp(s->tag, "config") || !strcmp(s->tag, "ram") || !strcmp(s->tag, "end"))
            continue;
        json_array_append_new(sections, describe_section(s));
    }
    json_object_set_new(doc, "sections", sections);
    json_object_set_new(doc, "ram", describe_ram(in));
    stream_in_close(in);
    return doc;
}

json_t *machine_state_describe(const char *path, Error *err)
{
    StreamIn in;
    if (stream_in_open(&in, path, err) < 0)
        return NULL;
    return describe_stream(&in);
}

json_t *machine_state_describe_fd(int fd, const char *name, Error *err)
{
    StreamIn in;
    if (stream_in_open_fd(&in, fd, name, &(StreamInOpts){0}, err) < 0)
        return NULL;
    return describe_stream(&in);
}

/* ---- a save into an open file (live snapshots: src/vmm/vmm_snapshot.c) ---- */

int machine_save_fd(Machine *m, int fd, const MachineSaveOpts *o, Error *err)
{
    return save_allowed(m, err) < 0 ? -1 : save_stream(m, fd, o, err);
}
