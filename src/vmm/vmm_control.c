/*
 * The control socket's commands (docs/control.md): thin adapters that
 * check a request's arguments, call the VMM's operation (vmm.h) and turn
 * its result into the reply.  Adding a command is one entry in
 * vmm_commands[].  A live snapshot answers later: its handler defers the
 * reply (control_defer) and the operation's completion sends it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/control.h"
#include "cpu/riscv.h"
#include "ui/screendump.h"
#include "util/compiler.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "vmm/vmm_int.h"

/* ---- the VM's state ---- */

static const char *vmm_priv_name(unsigned priv)
{
    switch (priv) {
    case PRV_M: return "M";
    case PRV_S: return "S";
    default: return "U";
    }
}

static json_t *cmd_status(void *opaque, json_t *args, Error *err)
{
    Vmm *v = opaque;
    const VmConfig *vm = machine_config(v->m);
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    return json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I}", "status",
                     machine_paused(v->m) ? "paused" : "running", "name", v->name, "harts",
                     (json_int_t)vm->nharts, "ram-size", (json_int_t)vm->ram_size, "uptime-ns",
                     (json_int_t)vmm_uptime_ns(v), "paused-ns",
                     (json_int_t)machine_paused_total_ns(v->m), "instructions",
                     (json_int_t)machine_instret(v->m));
}

static json_t *cmd_pause(void *opaque, json_t *args, Error *err)
{
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    vmm_pause(opaque);
    return json_pack("{s:s}", "status", "paused");
}

static json_t *cmd_resume(void *opaque, json_t *args, Error *err)
{
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    if (vmm_migrate_switching_over(opaque)) {
        error_set(err, "a migration is switching over: the VM stays paused until it ends");
        return NULL;
    }
    vmm_resume(opaque);
    return json_pack("{s:s}", "status", "running");
}

/* The reply goes out before the VMM exits: the server flushes it when it is freed. */
static json_t *cmd_quit(void *opaque, json_t *args, Error *err)
{
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    vmm_quit(opaque);
    return json_object();
}

/* The reply comes at once; the VM ends later, when (and if) the guest powers off. */
static json_t *cmd_powerdown(void *opaque, json_t *args, Error *err)
{
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    vmm_powerdown(opaque);
    return json_object();
}

static json_t *hart_entry(const Machine *m, unsigned i)
{
    MachineHartInfo h;
    char pc[24];
    machine_hart_info(m, i, &h);
    snprintf(pc, sizeof(pc), "0x%" PRIx64, h.pc);
    return json_pack("{s:I,s:s,s:s,s:b,s:b}", "id", (json_int_t)h.id, "pc", pc, "priv",
                     vmm_priv_name(h.priv), "halted", h.halted, "wfi", h.wfi);
}

static json_t *cmd_query_harts(void *opaque, json_t *args, Error *err)
{
    Vmm *v = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *list = json_array();
    for (unsigned i = 0; list && i < machine_config(v->m)->nharts; i++)
        json_array_append_new(list, hart_entry(v->m, i));
    return json_pack("{s:o*}", "harts", list);
}

static json_t *disk_entry(const Machine *m, unsigned n)
{
    const VmConfig *vm = machine_config(m);
    const VmDisk *d = &vm->disks[n];
    const char *format;
    uint64_t length;
    char dev[8];
    machine_disk_info(m, n, &format, &length);
    snprintf(dev, sizeof(dev), "vd%c", 'a' + n);
    return json_pack("{s:I,s:s,s:s,s:s?,s:b,s:I}", "slot",
                     (json_int_t)vmconfig_slot_of(vm, VM_DEV_BLK, n), "device", dev, "path",
                     d->path, "format", format, "read-only", d->read_only, "size",
                     (json_int_t)length);
}

static json_t *slot_entry(const Machine *m, unsigned n)
{
    MachineSlotInfo si;
    char base[24];
    machine_slot_info(m, n, &si);
    snprintf(base, sizeof(base), "0x%" PRIx64, si.base);
    return json_pack("{s:I,s:s,s:I,s:s}", "slot", (json_int_t)n, "base", base, "irq",
                     (json_int_t)si.irq, "kind", si.kind);
}

/* Network card n: its backend, MAC and slot (and its interface, socket, network or fd). */
static json_t *nic_entry(const VmConfig *vm, unsigned n)
{
    const NetConfig *nic = &vm->nics[n];
    char mac[NET_MAC_TEXT];
    net_mac_format(nic->mac, mac);
    json_t *j = json_pack("{s:s,s:s,s:I}", "backend", net_kind_name(nic->kind), "mac", mac, "slot",
                          (json_int_t)vmconfig_slot_of(vm, VM_DEV_NET, n));
    if (!j)
        return NULL;
    if (nic->kind == NET_TAP && nic->ifname[0])
        json_object_set_new(j, "ifname", json_string(nic->ifname));
    if (nic->kind == NET_SOCKET && nic->path[0])
        json_object_set_new(j, "path", json_string(nic->path));
    if (nic->kind == NET_NETWORK)
        json_object_set_new(j, "network", json_string(nic->network));
    if (nic->kind != NET_USER && nic->fd >= 0)
        json_object_set_new(j, "fd", json_integer(nic->fd));
    return j;
}

/* "nics": every card; "net": the first card or null (as before several cards). */
static json_t *cmd_query_devices(void *opaque, json_t *args, Error *err)
{
    Vmm *v = opaque;
    const VmConfig *vm = machine_config(v->m);
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *slots = json_array(), *disks = json_array(), *nics = json_array();
    for (unsigned n = 0; slots && n < MACHINE_VIRTIO_SLOTS; n++)
        json_array_append_new(slots, slot_entry(v->m, n));
    for (unsigned n = 0; disks && n < vm->ndisks; n++)
        json_array_append_new(disks, disk_entry(v->m, n));
    for (unsigned n = 0; nics && n < vm->nnics; n++)
        json_array_append_new(nics, nic_entry(vm, n));
    json_t *first = vm->nnics ? nic_entry(vm, 0) : json_null();
    return json_pack("{s:o*,s:o*,s:o*,s:o*}", "virtio", slots, "disks", disks, "nics", nics, "net",
                     first);
}

/* Disk n's counters (query-stats). */
static json_t *disk_stats(Machine *m, unsigned n)
{
    VirtioBlkStats st;
    virtio_blk_stats(machine_disk_device(m, n), &st);
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "path", machine_config(m)->disks[n].path,
                     "read-bytes", (json_int_t)st.read_bytes, "read-ops", (json_int_t)st.read_ops,
                     "write-bytes", (json_int_t)st.write_bytes, "write-ops",
                     (json_int_t)st.write_ops, "flush-ops", (json_int_t)st.flush_ops, "errors",
                     (json_int_t)st.errors);
}

/*
 * Network card n's counters (query-stats).  A tap counts the frames the
 * card refused as its own drops too: the larger of the two counts every
 * frame lost on the way in once.
 */
static json_t *nic_stats(Machine *m, unsigned n)
{
    VirtioMmio *dev = machine_nic_device(m, n);
    VirtioNetStats st;
    NetBackendStats bs = {0};
    char mac[NET_MAC_TEXT];
    virtio_net_stats(dev, &st);
    if (dev)
        net_backend_stats(virtio_net_backend(dev), &bs);
    net_mac_format(machine_config(m)->nics[n].mac, mac);
    json_t *j =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "mac", mac, "rx-bytes", (json_int_t)st.rx_bytes,
                  "rx-packets", (json_int_t)st.rx_frames, "tx-bytes", (json_int_t)st.tx_bytes,
                  "tx-packets", (json_int_t)st.tx_frames, "rx-dropped",
                  (json_int_t)(bs.rx_dropped > st.rx_dropped ? bs.rx_dropped : st.rx_dropped),
                  "tx-dropped", (json_int_t)(st.tx_dropped + bs.tx_dropped));
    if (j && dev)
        json_object_set_new(
            j, "link", json_string(net_backend_link_up(virtio_net_backend(dev)) ? "up" : "down"));
    if (j && st.ipv4) { /* the guest's own frames told it */
        char ip[16];
        snprintf(ip, sizeof(ip), "%u.%u.%u.%u", st.ipv4 >> 24, st.ipv4 >> 16 & 0xff,
                 st.ipv4 >> 8 & 0xff, st.ipv4 & 0xff);
        json_object_set_new(j, "ipv4", json_string(ip));
    }
    return j;
}

static json_t *cmd_query_stats(void *opaque, json_t *args, Error *err)
{
    Vmm *v = opaque;
    const VmConfig *vm = machine_config(v->m);
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    uint64_t insns = machine_instret(v->m), up = vmm_uptime_ns(v);
    uint64_t paused = machine_paused_total_ns(v->m), running = up > paused ? up - paused : 0;
    double mips = running ? (double)insns / ((double)running / 1e9) / 1e6 : 0;
    json_t *disks = json_array(), *nics = json_array();
    for (unsigned n = 0; disks && n < vm->ndisks; n++)
        json_array_append_new(disks, disk_stats(v->m, n));
    for (unsigned n = 0; nics && n < vm->nnics; n++)
        json_array_append_new(nics, nic_stats(v->m, n));
    return json_pack("{s:I,s:f,s:f,s:I,s:I,s:o*,s:o*,s:I}", "instructions", (json_int_t)insns,
                     "running-seconds", (double)running / 1e9, "mips", mips, "uptime-ns",
                     (json_int_t)up, "paused-ns", (json_int_t)paused, "disks", disks, "nics", nics,
                     "ram-touched", (json_int_t)machine_ram_resident(v->m));
}

/* {"card": N} with a connected SEQPACKET socket passed along: the card's new wire. */
static json_t *cmd_set_net_fd(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"card", NULL};
    Vmm *v = opaque;
    int fd = control_take_fd(v->control); /* ours now: closed on any failure */
    json_t *card = json_object_get(args, "card");
    json_int_t n = json_is_integer(card) ? json_integer_value(card) : -1;
    int rc = control_args_check(args, allowed, err);
    if (rc == 0 && (n < 0 || n > VMCONFIG_MAX_NICS))
        rc = error_set(err, "expected {\"card\": N}, N the card's index (with a socket passed "
                            "along)");
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (vmm_net_set_fd(v, (unsigned)n, fd, err) < 0)
        return NULL;
    return json_object();
}

/* {"file": PATH}: the scanout as a PNG (docs/display.md, "screendump"). */
static json_t *cmd_screendump(void *opaque, json_t *args, Error *err)
{
    static const char *const allowed[] = {"file", NULL};
    Vmm *v = opaque;
    const char *file;
    uint32_t w, h;
    if (control_args_check(args, allowed, err) < 0)
        return NULL;
    if (!args || json_unpack(args, "{s:s}", "file", &file) < 0 || !file[0])
        return error_set(err, "expected {\"file\": PATH} (a PNG file to write)"), NULL;
    VirtioMmio *gpu = machine_gpu_device(v->m);
    if (!gpu)
        return error_set(err, "the VM has no display (start it with --display)"), NULL;
    if (ui_screendump(gpu, file, &w, &h, err) < 0)
        return NULL;
    return json_pack("{s:s, s:i, s:i}", "file", file, "width", (int)w, "height", (int)h);
}

/* ---- the operations: save, suspend, snapshots ---- */

/* Where an operation that finishes at once leaves its reply. */
typedef struct Reply {
    json_t *ret;
    json_t *(*pack)(const VmmResult *r); /* the reply's members for this operation */
} Reply;

static void reply_now(void *opaque, const VmmResult *r, const Error *err)
{
    Reply *rep = opaque;
    rep->ret = r ? rep->pack(r) : NULL;
}

/* Run an operation that finishes before it returns; its reply, or NULL with err filled. */
static json_t *reply_of(int rc, Reply *rep, Error *err)
{
    if (rc < 0)
        return NULL;
    if (!rep->ret)
        error_set(err, "out of memory");
    return rep->ret;
}

static json_t *pack_save(const VmmResult *r)
{
    return json_pack("{s:s, s:I, s:f}", "file", r->file, "disk-bytes", (json_int_t)r->disk_bytes,
                     "pause-ms", r->pause_ms);
}

static json_t *pack_create(const VmmResult *r)
{
    return json_pack("{s:s, s:s, s:I, s:f, s:f, s:b}", "name", r->name, "file", r->file, "disks",
                     (json_int_t)r->disks, "pause-ms", r->pause_ms, "total-ms", r->total_ms,
                     "quiesced", r->quiesced);
}

static json_t *pack_revert(const VmmResult *r)
{
    return json_pack("{s:s, s:f}", "name", r->name, "pause-ms", r->pause_ms);
}

static json_t *pack_delete(const VmmResult *r)
{
    return json_pack("{s:s, s:b}", "name", r->name, "state-file", r->state_file);
}

static int save_args(json_t *args, const char **file, VmmSaveOpts *o, Error *err)
{
    static const char *const allowed[] = {"file", "compress", NULL};
    int c = 0;
    if (control_args_check(args, allowed, err) < 0)
        return -1;
    if (!args || json_unpack(args, "{s:s, s?b}", "file", file, "compress", &c) < 0)
        return error_set(err, "expected {\"file\": PATH, \"compress\": BOOL (optional)}");
    o->compress = c;
    return 0;
}

/* The state commands do not interleave with a live snapshot still finishing. */
static int vmm_idle(const Vmm *v, Error *err)
{
    if (vmm_busy(v))
        return error_set(err, "a snapshot is in progress: try again when it has finished");
    if (vmm_migrating(v))
        return error_set(err, "a migration is in progress");
    return 0;
}

static json_t *cmd_save(void *opaque, json_t *args, Error *err)
{
    const char *file;
    VmmSaveOpts o = {0};
    Reply rep = {.pack = pack_save};
    if (vmm_idle(opaque, err) < 0 || save_args(args, &file, &o, err) < 0)
        return NULL;
    return reply_of(vmm_save(opaque, file, &o, reply_now, &rep, err), &rep, err);
}

/* Save, then end the VMM (exit status 0): `hostel run --restore FILE` continues. */
static json_t *cmd_suspend(void *opaque, json_t *args, Error *err)
{
    const char *file;
    VmmSaveOpts o = {0};
    Reply rep = {.pack = pack_save};
    if (vmm_idle(opaque, err) < 0 || save_args(args, &file, &o, err) < 0)
        return NULL;
    return reply_of(vmm_suspend(opaque, file, &o, reply_now, &rep, err), &rep, err);
}

/* {"name": SNAPSHOT}, the only argument of snapshot-create, -revert and -delete. */
static int snapshot_args(const Vmm *v, json_t *args, const char **name, Error *err)
{
    static const char *const allowed[] = {"name", NULL};
    if (vmm_idle(v, err) < 0 || control_args_check(args, allowed, err) < 0)
        return -1;
    if (!args || json_unpack(args, "{s:s}", "name", name) < 0)
        return error_set(err, "expected {\"name\": SNAPSHOT}");
    return 0;
}

/* A live snapshot is durable (or failed): the deferred reply goes out. */
static void create_done(void *opaque, const VmmResult *r, const Error *err)
{
    control_complete(opaque, r ? pack_create(r) : NULL, err);
}

static json_t *cmd_snapshot_create(void *opaque, json_t *args, Error *err)
{
    Vmm *v = opaque;
    const char *name;
    if (snapshot_args(v, args, &name, err) < 0)
        return NULL;
    ControlPending *p = control_defer(v->control, err);
    if (!p)
        return NULL;
    if (vmm_snapshot_create_quiesced(v, name, create_done, p, err) < 0)
        control_complete(p, NULL, err);
    return NULL; /* answered by create_done */
}

static json_t *cmd_snapshot_revert(void *opaque, json_t *args, Error *err)
{
    const char *name;
    Reply rep = {.pack = pack_revert};
    if (snapshot_args(opaque, args, &name, err) < 0)
        return NULL;
    return reply_of(vmm_snapshot_revert(opaque, name, reply_now, &rep, err), &rep, err);
}

static json_t *cmd_snapshot_delete(void *opaque, json_t *args, Error *err)
{
    const char *name;
    Reply rep = {.pack = pack_delete};
    if (snapshot_args(opaque, args, &name, err) < 0)
        return NULL;
    return reply_of(vmm_snapshot_delete(opaque, name, reply_now, &rep, err), &rep, err);
}

/* ---- migration ---- */

static json_t *pack_migrate(const VmmResult *r)
{
    return json_pack("{s:i, s:I, s:f, s:f, s:i, s:b}", "rounds", (int)r->rounds, "bytes",
                     (json_int_t)r->bytes, "downtime-ms", r->downtime_ms, "total-ms", r->total_ms,
                     "throttle-pct", (int)r->throttle, "converged", r->converged);
}

/* The destination runs the VM (or the migration failed): the deferred reply goes out. */
static void migrate_done(void *opaque, const VmmResult *r, const Error *err)
{
    control_complete(opaque, r ? pack_migrate(r) : NULL, err);
}

static int migrate_args(json_t *args, VmmMigrateOpts *o, Error *err)
{
    static const char *const allowed[] = {
        "uri",      "downtime-limit-ms", "max-rounds", "auto-converge", "max-bandwidth",
        "compress", "compress-level",    "tls-creds",  "tls-hostname",  NULL};
    json_t *limit = NULL, *bw = NULL;
    int rounds = 0, converge = 1, level = 0;
    const char *compress = NULL;
    if (control_args_check(args, allowed, err) < 0)
        return -1;
    if (!args ||
        json_unpack(args, "{s:s, s?o, s?i, s?b, s?o, s?s, s?i, s?s, s?s}", "uri", &o->uri,
                    "downtime-limit-ms", &limit, "max-rounds", &rounds, "auto-converge", &converge,
                    "max-bandwidth", &bw, "compress", &compress, "compress-level", &level,
                    "tls-creds", &o->tls_creds, "tls-hostname", &o->tls_hostname) < 0 ||
        (limit && !json_is_number(limit)) || (bw && !json_is_number(bw)) || rounds < 0 ||
        rounds > 1000)
        return error_set(err, "expected {\"uri\": \"unix:PATH\" | \"tcp:HOST:PORT\", "
                              "\"downtime-limit-ms\": MS, \"max-rounds\": N (1-1000), "
                              "\"auto-converge\": BOOL, \"max-bandwidth\": BYTES/S, "
                              "\"compress\": \"zstd\" | \"none\", \"compress-level\": 1-19, "
                              "\"tls-creds\": DIR, \"tls-hostname\": NAME (all optional)}");
    if (compress && strcmp(compress, "zstd") != 0 && strcmp(compress, "none") != 0)
        return error_set(err, "compress: expected \"zstd\" or \"none\", not \"%s\"", compress);
    if (level && (level < 1 || level > 19 || !compress || strcmp(compress, "zstd") != 0))
        return error_set(err, "compress-level: expected 1-19, with \"compress\": \"zstd\"");
    o->compress_level = compress && !strcmp(compress, "zstd") ? (level ? level : 1) : 0;
    o->downtime_limit_ms = limit ? json_number_value(limit) : 0;
    if (limit && o->downtime_limit_ms <= 0)
        return error_set(err, "downtime-limit-ms: expected a positive number");
    o->max_bandwidth = bw ? json_number_value(bw) : 0;
    if (bw && o->max_bandwidth < 4096)
        return error_set(err, "max-bandwidth: expected at least 4096 bytes/s");
    o->max_rounds = (unsigned)rounds;
    o->no_auto_converge = !converge;
    return 0;
}

static json_t *cmd_migrate(void *opaque, json_t *args, Error *err)
{
    Vmm *v = opaque;
    VmmMigrateOpts o = {0};
    if (vmm_idle(v, err) < 0 || migrate_args(args, &o, err) < 0)
        return NULL;
    ControlPending *p = control_defer(v->control, err);
    if (!p)
        return NULL;
    if (vmm_migrate(v, &o, migrate_done, p, err) < 0)
        control_complete(p, NULL, err);
    return NULL; /* answered by migrate_done */
}

static json_t *cmd_query_migrate(void *opaque, json_t *args, Error *err)
{
    VmmMigrateInfo i;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    vmm_migrate_query(opaque, &i);
    json_t *r = json_pack("{s:s, s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:f}", "state", i.state,
                          "round", (int)i.round, "bytes", (json_int_t)i.bytes, "pages-remaining",
                          (json_int_t)i.pages_remaining, "dirty-pages-per-s", i.dirty_pages_per_s,
                          "bandwidth", i.bandwidth, "expected-downtime-ms", i.expected_downtime_ms,
                          "downtime-ms", i.downtime_ms, "total-ms", i.total_ms);
    if (r) {
        json_object_set_new(r, "throttle-pct", json_integer(i.throttle));
        json_object_set_new(r, "throttle-max-pct", json_integer(i.throttle_max));
    }
    if (r && i.error[0])
        json_object_set_new(r, "error", json_string(i.error));
    return r;
}

static json_t *cmd_migrate_cancel(void *opaque, json_t *args, Error *err)
{
    if (control_args_check(args, NULL, err) < 0 || vmm_migrate_cancel(opaque, err) < 0)
        return NULL;
    return json_object();
}

static json_t *cmd_snapshot_list(void *opaque, json_t *args, Error *err)
{
    VmmSnapshotInfo *list;
    size_t n;
    if (control_args_check(args, NULL, err) < 0 || vmm_snapshot_list(opaque, &list, &n, err) < 0)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "name", list[i].name, "date-sec",
                                             (json_int_t)list[i].date_sec, "disk-bytes",
                                             (json_int_t)list[i].disk_bytes));
    free(list);
    return json_pack("{s:o*}", "snapshots", arr);
}
/* The VM's commands; the server adds query-commands. */
static const ControlCommand vmm_commands[] = {
    {"status", cmd_status, "run state, name, harts, RAM size, uptime, instructions"},
    {"pause", cmd_pause, "stop the harts and the guest's clock (the VM keeps its state)"},
    {"resume", cmd_resume, "run a paused VM again; its clock goes on where it stopped"},
    {"quit", cmd_quit, "end the VM now (exit status 0), as C-a x does"},
    {"powerdown", cmd_powerdown, "ask the guest to power off: presses the power button"},
    {"query-harts", cmd_query_harts, "each hart's id, pc, privilege mode, halted and wfi"},
    {"query-devices", cmd_query_devices, "virtio slots and their kinds, disks, network cards"},
    {"query-stats", cmd_query_stats,
     "instructions, running time, MIPS, disk and network counters, RAM touched"},
    {"set-net-fd", cmd_set_net_fd,
     "put socket/network card {\"card\"} on the SEQPACKET socket passed with the request"},
    {"screendump", cmd_screendump, "write what the display shows to {\"file\"} as a PNG"},
    {"save", cmd_save, "save the VM's state to {\"file\"} and go on (compress: zstd RAM)"},
    {"suspend", cmd_suspend, "save the VM's state to {\"file\"}, then end the VMM"},
    {"snapshot-create", cmd_snapshot_create,
     "live snapshot {\"name\"}: memory plus an internal snapshot of every writable qcow2 disk "
     "(file systems frozen when a guest agent answers)"},
    {"snapshot-list", cmd_snapshot_list, "the VM's snapshots"},
    {"snapshot-revert", cmd_snapshot_revert, "go back to snapshot {\"name\"}: memory and disks"},
    {"snapshot-delete", cmd_snapshot_delete, "delete snapshot {\"name\"}"},
    {"migrate", cmd_migrate,
     "live-migrate to {\"uri\"} (downtime-limit-ms, max-rounds); answers once the "
     "destination runs the VM"},
    {"query-migrate", cmd_query_migrate,
     "migration progress: state, round, bytes, pages remaining, dirty rate, downtime"},
    {"migrate-cancel", cmd_migrate_cancel, "cancel a migration before its switch-over"},
};

/* ---- the socket ---- */

int vmm_control_open(Vmm *v, const char *path, const char *version, Error *err)
{
    size_t n = ARRAY_SIZE(vmm_commands);
    if (!(v->commands = malloc((n + vmm_agent_ncommands) * sizeof(ControlCommand))))
        return error_set(err, "out of memory");
    memcpy(v->commands, vmm_commands, sizeof(vmm_commands));
    memcpy(v->commands + n, vmm_agent_commands, vmm_agent_ncommands * sizeof(ControlCommand));
    ControlConfig cfg = {.path = path,
                         .vm_name = v->name,
                         .version = version,
                         .commands = v->commands,
                         .ncommands = n + vmm_agent_ncommands,
                         .opaque = v};
    v->control = control_server_new(v->loop, &cfg, err);
    return v->control ? 0 : -1;
}

static const char *vmm_stop_reason(const Vmm *v)
{
    switch (v->stats.why) {
    case VMM_STOP_GUEST: return "guest";
    case VMM_STOP_LIMIT: return "limit";
    case VMM_STOP_QUIT: return "quit";
    case VMM_STOP_CONTROL: return "quit";
    default: return "signal";
    }
}

void vmm_control_close(Vmm *v)
{
    if (!v->control) {
        free(v->commands);
        v->commands = NULL;
        return;
    }
    json_t *data = v->run_start_ns ? json_pack("{s:s}", "reason", vmm_stop_reason(v)) : NULL;
    control_server_event(v->control, "SHUTDOWN", data);
    control_server_free(v->control);
    v->control = NULL;
    free(v->commands);
    v->commands = NULL;
}
