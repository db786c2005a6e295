/*
 * The machine's side of the control socket: pause and resume, and the
 * commands a running VM answers (docs/control.md).  Adding a command is
 * one entry in machine_commands[].
 *
 * Pause stops the harts at the next slice boundary; the run loop then
 * waits in the event loop, so the control socket, console input and device
 * backends are still served while no guest code runs.  The guest's clock
 * (hw/clock.h: the harts' time CSR, mtime, the RTC) stops too and goes on
 * from there at resume, so guest time has no jump and no timer fires late
 * in a burst.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "machine/machine_int.h"
#include "util/compiler.h"
#include "util/timer.h"

/* ---- pause / resume ---- */

static void machine_event(Machine *m, const char *name, json_t *data)
{
    if (m->control)
        control_server_event(m->control, name, data);
    else
        json_decref(data);
}

bool machine_paused(const Machine *m)
{
    return m->paused;
}

void machine_pause(Machine *m)
{
    if (m->paused)
        return;
    m->paused = true;
    guest_clock_pause(&m->clock); /* time CSR, mtime, RTC: frozen while paused */
    machine_event(m, "STOP", NULL);
}

void machine_resume(Machine *m)
{
    if (!m->paused)
        return;
    guest_clock_resume(&m->clock);
    m->paused = false;
    machine_event(m, "RESUME", NULL);
}

void machine_settle_clock(Machine *m)
{
    guest_clock_settle(&m->clock);
}

uint64_t machine_paused_total_ns(const Machine *m)
{
    return guest_clock_paused_ns(&m->clock);
}

/* ---- commands ---- */

static const char *machine_priv_name(unsigned priv)
{
    switch (priv) {
    case PRV_M: return "M";
    case PRV_S: return "S";
    default: return "U";
    }
}

static uint64_t machine_uptime_ns(const Machine *m)
{
    return m->run_start_ns ? timer_now_ns() - m->run_start_ns : 0;
}

static json_t *cmd_status(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    return json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I}", "status", m->paused ? "paused" : "running",
                     "name", m->name, "harts", (json_int_t)m->nharts, "ram-size",
                     (json_int_t)m->vm.ram_size, "uptime-ns", (json_int_t)machine_uptime_ns(m),
                     "paused-ns", (json_int_t)machine_paused_total_ns(m), "instructions",
                     (json_int_t)machine_instret(m));
}

static json_t *cmd_pause(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    machine_pause(m);
    return json_pack("{s:s}", "status", "paused");
}

static json_t *cmd_resume(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    machine_resume(m);
    return json_pack("{s:s}", "status", "running");
}

/* The reply goes out before the VMM exits: the server flushes it when it is freed. */
static json_t *cmd_quit(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    m->control_quit = true;
    m->stop = true;
    return json_object();
}

static json_t *hart_entry(const Hart *h)
{
    char pc[24];
    snprintf(pc, sizeof(pc), "0x%" PRIx64, h->pc);
    return json_pack("{s:I,s:s,s:s,s:b,s:b}", "id", (json_int_t)h->mhartid, "pc", pc, "priv",
                     machine_priv_name(h->priv), "halted", h->halted, "wfi", h->wfi);
}

static json_t *cmd_query_harts(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *list = json_array();
    for (unsigned i = 0; list && i < m->nharts; i++)
        json_array_append_new(list, hart_entry(m->harts[i]));
    return json_pack("{s:o*}", "harts", list);
}

static json_t *disk_entry(const Machine *m, unsigned n)
{
    const VmDisk *d = &m->vm.disks[n];
    char dev[8];
    snprintf(dev, sizeof(dev), "vd%c", 'a' + n);
    return json_pack("{s:I,s:s,s:s,s:s?,s:b,s:I}", "slot",
                     (json_int_t)vmconfig_slot_of(&m->vm, VM_DEV_BLK, n), "device", dev, "path",
                     d->path, "format", m->disk_info[n].format, "read-only", d->read_only, "size",
                     (json_int_t)m->disk_info[n].length);
}

static json_t *slot_entry(const Machine *m, unsigned n)
{
    const VirtioMmio *v = m->virtio[n];
    char base[24];
    snprintf(base, sizeof(base), "0x%" PRIx64, v->cfg.base);
    return json_pack("{s:I,s:s,s:I,s:s}", "slot", (json_int_t)n, "base", base, "irq",
                     (json_int_t)v->cfg.irq.src, "kind",
                     v->ops->device_id ? v->ops->name : "empty");
}

/* Network card n: its backend, MAC and slot (and a tap's interface). */
static json_t *nic_entry(const Machine *m, unsigned n)
{
    const NetConfig *nic = &m->vm.nics[n];
    char mac[NET_MAC_TEXT];
    net_mac_format(nic->mac, mac);
    json_t *j = json_pack("{s:s,s:s,s:I}", "backend", net_kind_name(nic->kind), "mac", mac, "slot",
                          (json_int_t)vmconfig_slot_of(&m->vm, VM_DEV_NET, n));
    if (j && nic->kind == NET_TAP)
        json_object_set_new(j, "ifname", json_string(nic->ifname));
    return j;
}

/* "nics": every card; "net": the first card or null (as before several cards). */
static json_t *cmd_query_devices(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    json_t *slots = json_array(), *disks = json_array(), *nics = json_array();
    for (unsigned n = 0; slots && n < MACHINE_VIRTIO_SLOTS; n++)
        json_array_append_new(slots, slot_entry(m, n));
    for (unsigned n = 0; disks && n < m->vm.ndisks; n++)
        json_array_append_new(disks, disk_entry(m, n));
    for (unsigned n = 0; nics && n < m->vm.nnics; n++)
        json_array_append_new(nics, nic_entry(m, n));
    json_t *first = m->vm.nnics ? nic_entry(m, 0) : json_null();
    return json_pack("{s:o*,s:o*,s:o*,s:o*}", "virtio", slots, "disks", disks, "nics", nics, "net",
                     first);
}

static json_t *cmd_query_stats(void *opaque, json_t *args, Error *err)
{
    Machine *m = opaque;
    if (control_args_check(args, NULL, err) < 0)
        return NULL;
    uint64_t insns = machine_instret(m), up = machine_uptime_ns(m);
    uint64_t paused = machine_paused_total_ns(m), running = up > paused ? up - paused : 0;
    double mips = running ? (double)insns / ((double)running / 1e9) / 1e6 : 0;
    return json_pack("{s:I,s:f,s:f,s:I,s:I}", "instructions", (json_int_t)insns, "running-seconds",
                     (double)running / 1e9, "mips", mips, "uptime-ns", (json_int_t)up, "paused-ns",
                     (json_int_t)paused);
}

/* The VM's commands; the server adds query-commands. */
static const ControlCommand machine_commands[] = {
    {"status", cmd_status, "run state, name, harts, RAM size, uptime, instructions"},
    {"pause", cmd_pause, "stop the harts and the guest's clock (the VM keeps its state)"},
    {"resume", cmd_resume, "run a paused VM again; its clock goes on where it stopped"},
    {"quit", cmd_quit, "end the VM now (exit status 0), as C-a x does"},
    {"query-harts", cmd_query_harts, "each hart's id, pc, privilege mode, halted and wfi"},
    {"query-devices", cmd_query_devices, "virtio slots and their kinds, disks, network cards"},
    {"query-stats", cmd_query_stats, "instructions, running time and MIPS"},
    {"save", machine_cmd_save, "save the VM's state to {\"file\"} and go on (compress: zstd RAM)"},
    {"suspend", machine_cmd_suspend, "save the VM's state to {\"file\"}, then end the VMM"},
    {"snapshot-create", machine_cmd_snapshot_create,
     "live snapshot {\"name\"}: memory plus an internal snapshot of every writable qcow2 disk"},
    {"snapshot-list", machine_cmd_snapshot_list, "the VM's snapshots"},
    {"snapshot-revert", machine_cmd_snapshot_revert,
     "go back to snapshot {\"name\"}: memory and disks"},
    {"snapshot-delete", machine_cmd_snapshot_delete, "delete snapshot {\"name\"}"},
};

/* ---- the socket ---- */

int machine_control_open(Machine *m, const MachineControlConfig *c, Error *err)
{
    if (m->control)
        return error_set(err, "the control socket is already open");
    free(m->name);
    m->name = c->name ? strdup(c->name) : NULL;
    ControlConfig cfg = {.path = c->path,
                         .vm_name = c->name,
                         .version = c->version,
                         .commands = machine_commands,
                         .ncommands = ARRAY_SIZE(machine_commands),
                         .opaque = m};
    m->control = control_server_new(m->loop, &cfg, err);
    return m->control ? 0 : -1;
}

static const char *machine_stop_reason(const Machine *m)
{
    switch (m->stats.why) {
    case MACHINE_STOP_GUEST: return "guest";
    case MACHINE_STOP_LIMIT: return "limit";
    case MACHINE_STOP_QUIT: return "quit";
    case MACHINE_STOP_CONTROL: return "quit";
    default: return "signal";
    }
}

void machine_control_close(Machine *m)
{
    if (m->control) {
        json_t *data =
            m->run_start_ns ? json_pack("{s:s}", "reason", machine_stop_reason(m)) : NULL;
        control_server_event(m->control, "SHUTDOWN", data);
        control_server_free(m->control);
        m->control = NULL;
    }
    free(m->name);
    m->name = NULL;
}
