/*
 * The Machine's internals, shared by the files that make up the machine
 * (machine.c: devices and run loop; firmware.c: booting and built-in SBI).
 * Nothing outside src/machine/ includes this (but tests/unit/test_board.c).
 */
#ifndef HOSTEL_MACHINE_MACHINE_INT_H
#define HOSTEL_MACHINE_MACHINE_INT_H

#include <jansson.h>

#include "cpu/hart.h"
#include "hw/bus.h"
#include "hw/device.h"
#include "hw/fdt.h"
#include "hw/goldfish_rtc.h"
#include "hw/htif.h"
#include "hw/uart16550.h"
#include "hw/vmgenid.h"
#include "machine/boot.h"
#include "machine/console.h"
#include "machine/elf.h"
#include "machine/machine.h"
#include "machine/virt.h"
#include "util/evloop.h"
#include "virtio/mmio.h"

/*
 * Instructions per hart per turn.  Timers are polled between turns, so this
 * bounds how late a timer interrupt is: ~0.3 ms of guest time at 300 MIPS.
 */
#define MACHINE_SLICE 100000ull
#define MACHINE_INPUT_BUF 65536 /* console bytes read ahead of the UART FIFO */
/*
 * Longest idle wait: bounds how long a stop request from a signal handler
 * that did not call machine_kick() can go unnoticed (it may land just
 * before the wait starts).  One wake-up a second costs nothing.
 */
#define MACHINE_IDLE_MAX_NS 1000000000ull
#define MACHINE_MAX_DEVICES 24 /* instances the device table may build */

struct Machine {
    VmConfig vm;      /* the definition it was built from (owned copy) */
    MachineHost host; /* fds and limits the process lends it */
    Bus bus;
    Hart *harts[MACHINE_MAX_HARTS];
    unsigned nharts;
    Device *devices[MACHINE_MAX_DEVICES]; /* built from virt_devices[], in its order */
    unsigned ndevices;
    IrqController *irq_controller; /* the PLIC's lines, once it is built */
    /* Devices the board talks to itself (they are in devices[] too). */
    Uart16550 *uart;
    GoldfishRtc *rtc;
    VmGenId *vmgenid;
    Htif *htif;                 /* NULL unless the kernel defines tohost; not a table device */
    ElfFile *kernel;            /* bare-metal ELF, kept open to reload it on reset */
    MachineBoot boot;           /* what machine_boot() was asked to load (for resets) */
    bool linux_boot;            /* booted through machine_boot (firmware or built-in SBI) */
    int hsm[MACHINE_MAX_HARTS]; /* SBI HSM state of each hart (built-in firmware) */
    volatile bool stop;         /* every hart's *stop points here */
    bool exited;                /* the guest ended the run */
    int exit_status;            /* 0..255, valid when exited */
    bool reset_requested;
    uint64_t instret_base; /* instructions retired before the last reset */
    MachineStats stats;
    EventLoop *loop;
    int in_fd;                         /* watched console input, -1 when none or at end of file */
    uint8_t in_buf[MACHINE_INPUT_BUF]; /* read but not yet taken by the UART */
    size_t in_len;
    bool in_paused;                     /* reading in_fd is paused: in_buf is full */
    Console *console;                   /* filters typed input (Ctrl-A escapes); NULL = raw bytes */
    uint8_t rom[VIRT_ROM_SIZE];         /* boot ROM: the reset vector (firmware boots) */
    unsigned vconsole_slot;             /* the virtio-console's slot */
    uint8_t hvc_buf[MACHINE_INPUT_BUF]; /* console input not yet taken by virtio-console */
    size_t hvc_len;
    VirtioMmio *virtio[MACHINE_VIRTIO_SLOTS]; /* as vm.devices lays them out */
    bool quit;                                /* the user asked to quit (Ctrl-A x) */
    struct MachineDiskInfo {
        const char *format;         /* the opened image's format ("raw", "qcow2") */
        uint64_t length;            /* bytes the guest sees */
    } disk_info[MACHINE_MAX_DISKS]; /* by disk index */
    /* pause and the control socket (machine_control.c) */
    bool paused;                      /* the harts do not run; the event loop still does */
    GuestClock clock;                 /* guest time: harts, ACLINT and RTC read it */
    uint64_t run_start_ns;            /* host CLOCK_MONOTONIC when machine_run began; 0 before */
    bool control_quit;                /* `quit` came through the control socket */
    struct ControlServer *control;    /* NULL when there is no control socket */
    char *name;                       /* the VM's name for status, or NULL */
    bool suspended;                   /* `suspend` saved the state: the VMM ends */
    struct SnapshotJob *snapshot_job; /* a live snapshot finishing (machine_snapshot.c) */
};

/* Device-facing hooks implemented in machine.c. */
void machine_guest_exit(void *opaque, bool failed, int code);
void machine_guest_reset(void *opaque);
/* Write guest console output to host.out_fd (dropped if the console is gone). */
void machine_console_write(void *opaque, const uint8_t *buf, size_t len);
/* Reset every device to its power-on state (before restarting the harts). */
void machine_reset_devices(Machine *m);
/*
 * The virtio row's constructor (virt.c): the device the configuration puts
 * in slot a->instance (disks, network card, rng, console, placeholders).
 * a->opaque is the Machine.  NULL with err filled.
 */
Device *machine_virtio_create(const DeviceArgs *a, Error *err);

/* ---- the device table's walks (virt.c) ---- */

/* Build and map every device of virt_devices[]. Returns 0, or -1 with err filled. */
int virt_create_devices(Machine *m, Error *err);
/* The built device of these ops and instance (its struct begins with the Device), or NULL. */
void *virt_find(const Machine *m, const DeviceOps *ops, unsigned instance);
/* Reset, then free, every built device, backwards through the table. */
void virt_reset_devices(Machine *m);
void virt_free_devices(Machine *m);
/* Write every device's nodes (inside /soc), in table order. */
void virt_fdt_devices(const Machine *m, DeviceTree *dt);
/* Timers raise what has come due (between hart slices). */
void virt_poll_devices(Machine *m);
/* Host ns until the devices' next deadline (0 = due, UINT64_MAX = none). */
uint64_t virt_next_deadline_ns(const Machine *m);
/* Drop decoded code for every RAM page before rewriting RAM. */
void machine_invalidate_code(Machine *m);
/* Build the device tree of the board into dt. Returns 0 or -1. */
int machine_build_fdt(Machine *m, const BootLayout *lay, DeviceTree *dt, Error *err);
/*
 * While paused, move the guest's clocks forward over the pause so far (as a
 * resume would) and restart the pause from now: a save then records the
 * time the guest saw when it stopped.
 */
void machine_settle_clock(Machine *m);
/* Devices finish in-flight requests; disks are flushed (before a save or snapshot). */
void machine_quiesce(Machine *m);
/* machine_restore, calling before_commit (if set) once every section passed its checks. */
struct MachineStateFile;
int machine_restore_with(Machine *m, struct MachineStateFile *f, bool map_ram,
                         int (*before_commit)(void *opaque, Error *err), void *opaque, Error *err);
/* The state commands of the control socket (machine_snapshot.c). */
json_t *machine_cmd_save(void *opaque, json_t *args, Error *err);
json_t *machine_cmd_suspend(void *opaque, json_t *args, Error *err);
json_t *machine_cmd_snapshot_create(void *opaque, json_t *args, Error *err);
json_t *machine_cmd_snapshot_list(void *opaque, json_t *args, Error *err);
json_t *machine_cmd_snapshot_revert(void *opaque, json_t *args, Error *err);
json_t *machine_cmd_snapshot_delete(void *opaque, json_t *args, Error *err);
/* Wait for a live snapshot still finishing and send its reply (before teardown). */
void machine_snapshot_finish(Machine *m);
/*
 * Write m's state into fd as machine_save does, without quiescing devices
 * first, syncing or renaming: the caller does those (a live snapshot makes
 * the file durable while the guest runs again).  Returns 0 or -1.
 */
struct MachineSaveOpts;
int machine_save_fd(Machine *m, int fd, const struct MachineSaveOpts *o, Error *err);
/* Remember what to boot on a reset, without loading it (a restored machine). */
int machine_set_boot(Machine *m, const MachineBoot *boot, Error *err);
/* (Re)load everything machine_boot() loads and restart the harts. */
int machine_boot_load(Machine *m, Error *err);
/* Instructions retired by every hart since the machine was built. */
uint64_t machine_instret(const Machine *m);
/* Host nanoseconds spent paused so far, the current pause included (machine_control.c). */
uint64_t machine_paused_total_ns(const Machine *m);
/* Send SHUTDOWN to control clients and close the socket (machine_control.c). */
void machine_control_close(Machine *m);

#endif
