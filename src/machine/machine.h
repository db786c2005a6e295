/*
 * A machine: guest RAM and devices on a bus, the harts, and the loop that
 * runs them until the guest ends the run (test finisher, HTIF), a limit is
 * reached, or the host asks it to stop.  The memory map follows QEMU's
 * virt board so the same programs run on both.
 */
#ifndef HOSTEL_MACHINE_MACHINE_H
#define HOSTEL_MACHINE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/vmconfig.h"
#include "net/net.h"
#include "util/io.h"
#include "util/error.h"

/* The memory map and the device table are in machine/virt.h (virt.c). */

#define MACHINE_MAX_HARTS VMCONFIG_MAX_HARTS
#define MACHINE_MIN_RAM VMCONFIG_MIN_RAM
#define MACHINE_MAX_RAM VMCONFIG_MAX_RAM
#define MACHINE_DEFAULT_RAM VMCONFIG_DEFAULT_RAM

#define MACHINE_VIRTIO_SLOTS VMCONFIG_SLOTS  /* virtio-mmio slots; slot n: PLIC source 1 + n */
#define MACHINE_MAX_DISKS VMCONFIG_MAX_DISKS /* slots left for rng and console */

/*
 * What the process lends a machine, apart from its definition (VmConfig):
 * console output sinks and run limits.  None of it is saved or migrated.
 * Console input is the VMM's (src/vmm/): it hands bytes to the board with
 * machine_console_input().
 *
 * Console output (UART, virtio-console, SBI console, HTIF putchar and
 * SYS_write to fd 1) goes to console_out(console_opaque, buf, len), on the
 * VM thread; with console_out NULL it is written to out_fd (dropped when
 * the fd fails).  HTIF's SYS_write to fd 2 goes to console_err the same
 * way, or to err_fd.
 */
typedef struct MachineHost {
    uint64_t max_insns;       /* stop after about this many instructions; 0 = no limit */
    ConsoleOutFn console_out; /* console output; NULL = write to out_fd */
    ConsoleOutFn console_err; /* SYS_write to fd 2; NULL = write to err_fd */
    void *console_opaque;     /* both sinks' opaque */
    int out_fd;               /* console output when console_out is NULL */
    int err_fd;               /* SYS_write to fd 2 when console_err is NULL */
} MachineHost;

/* Why machine_run() returned. */
typedef enum MachineStop {
    MACHINE_STOP_GUEST, /* the guest ended the run (finisher, HTIF) */
    MACHINE_STOP_LIMIT, /* max_insns reached */
    MACHINE_STOP_HOST,  /* the stop flag was set from outside (signal, the VMM) */
} MachineStop;

typedef struct MachineStats {
    uint64_t instret; /* instructions retired by all harts, across resets */
    double seconds;   /* wall time spent in machine_run() */
    MachineStop why;
} MachineStats;

/* What to boot (see machine_boot). Strings are copied. */
typedef struct MachineBoot {
    const char *kernel;  /* Linux Image (or ELF) */
    const char *initrd;  /* NULL for none */
    const char *cmdline; /* NULL for none */
    const char *bios;    /* NULL: built-in SBI; else M-mode firmware (OpenSBI fw_*.bin/ELF) */
} MachineBoot;

typedef struct Machine Machine;

/* Fill host with the defaults: no limit, no sinks, stdout/stderr. */
void machine_host_default(MachineHost *host);

/*
 * Send console output to out (and SYS_write to fd 2 to err) from now on,
 * in place of the sinks MachineHost gave; NULL = the host's fd as above.
 * Call on the VM thread (between runs or from its event loop).
 */
void machine_set_console_out(Machine *m, ConsoleOutFn out, ConsoleOutFn err, void *opaque);

/*
 * Build the machine vm defines (checked with vmconfig_check; vm's boot
 * member is not used: see machine_boot) with what host lends it: RAM,
 * fixed devices, harts, and the virtio slots as vm->devices lays them out.
 * vm is copied.  Returns NULL with err filled.
 */
Machine *machine_new(const VmConfig *vm, const MachineHost *host, Error *err);
void machine_free(Machine *m);

/*
 * Load an ELF kernel or bare-metal program (used as-is: no firmware runs
 * first).  Every hart starts at its entry point in M-mode with a0 = hartid,
 * a1 = 0.  If the ELF defines tohost (and fromhost), HTIF is mapped there.
 * Returns 0, or -1 with err filled; call once, before machine_run().
 */
int machine_load_kernel(Machine *m, const char *path, Error *err);

/*
 * Boot a Linux kernel (or any S-mode payload) the way QEMU virt does: the
 * kernel at RAM + text_offset, initrd and device tree at the top of RAM.
 * Without bios the harts start in S-mode at the kernel (a0 = hartid,
 * a1 = FDT) with SBI served in C; secondary harts wait for SBI HSM.  With
 * bios, every hart starts in M-mode at the firmware (loaded at RAM base) with
 * a0 = hartid, a1 = FDT, a2 = OpenSBI's fw_dynamic info.  A reset reloads
 * all of it.  Returns 0, or -1 with err filled; call once, before machine_run().
 */
int machine_boot(Machine *m, const MachineBoot *boot, Error *err);

/*
 * Write the device tree the board would give the guest to path (as
 * `--dump-dtb`). Returns 0, or -1 with err filled.
 */
int machine_dump_dtb(Machine *m, const MachineBoot *boot, const char *path, Error *err);

/*
 * Run until the guest ends the run, max_insns is reached or the stop flag
 * is set.  When every hart waits in WFI the thread sleeps (no CPU use)
 * until the next timer deadline, console input, an event-loop call, or
 * machine_kick().  Before each turn of the harts the feed hook runs (see
 * machine_set_feed_hook).
 * A guest reset request reloads the kernel and restarts the harts.
 * Returns the guest's exit status (0 = pass, 1..255 = failure; a failing
 * code whose low 8 bits are 0 becomes 1) when it ended the run, 0 for the
 * other stops (see machine_stats()), or -1 with err filled if a reset failed.
 */
int machine_run(Machine *m, Error *err);

/* The flag that stops machine_run() soon when set (async-signal-safe to set). */
volatile bool *machine_stop_flag(Machine *m);

/*
 * Wake machine_run() from an idle wait (every hart in WFI) so it notices
 * the stop flag at once; otherwise it may take up to a second.
 * Async-signal-safe and thread-safe: call it after setting the flag.
 */
void machine_kick(Machine *m);

/* Statistics of the last machine_run(). */
void machine_stats(const Machine *m, MachineStats *st);

/*
 * Pause: the harts stop before their next slice and machine_run() waits
 * in the event loop (devices and whatever the VMM watches are still
 * served) until machine_resume() or a stop.  The guest's clocks (time CSR, mtime,
 * RTC) stand still meanwhile: resuming moves them on by the time spent
 * paused.  Both are no-ops when already in that state; call them on the
 * VM thread (from an event-loop callback, or between runs).
 */
void machine_pause(Machine *m);
void machine_resume(Machine *m);
bool machine_paused(const Machine *m);

/*
 * Press the board's power button (pin SIFIVE_GPIO_POWER_PIN of its GPIO
 * controller, KEY_POWER to Linux) and release it SIFIVE_GPIO_PRESS_NS of
 * guest time later: a guest that handles the key powers off in order.  A
 * press while pressed holds it longer; a paused VM sees it when it resumes.
 */
void machine_power_button(Machine *m);

/* ---- what the VMM (src/vmm/) reads and drives ---- */

/* The event loop machine_run() serves: the VMM adds its fds (console, control socket) to it. */
struct EventLoop *machine_event_loop(Machine *m);

/*
 * fn(opaque) offers the console input the VMM holds (machine_console_input):
 * the board calls it on the VM thread before each turn of the harts and
 * when the SBI console reads an empty UART.  fn = NULL removes it.
 */
void machine_set_feed_hook(Machine *m, void (*fn)(void *opaque), void *opaque);

/* The console's input ports: the UART (and the SBI console) and virtio-console. */
typedef enum MachineConsolePort {
    MACHINE_CONSOLE_UART,
    MACHINE_CONSOLE_VIRTIO,
} MachineConsolePort;

/* The port the definition makes the console (VmConfig.console): the other one takes no input. */
MachineConsolePort machine_console_port(const Machine *m);

/*
 * Offer len typed bytes to the guest on port.  Returns how many it took
 * (the port's receive queue may be full: offer the rest later); 0 when the
 * board has no such port.
 */
size_t machine_console_input(Machine *m, MachineConsolePort port, const uint8_t *buf, size_t len);

/* ---- the guest agent's port (virtio-console port 1) ---- */

#define MACHINE_AGENT_PORT_NAME "org.qemu.guest_agent.0"

/* The host side of the guest agent's port; callbacks on the VM thread. */
typedef struct MachineAgentSink {
    void (*rx)(void *opaque, const uint8_t *buf, size_t len); /* bytes the guest sent */
    void (*writable)(void *opaque); /* the guest posted receive buffers: send more */
    void *opaque;
} MachineAgentSink;

/* Send the agent port's traffic to s from now on (copied; NULL: the guest's bytes are dropped). */
void machine_set_agent_sink(Machine *m, const MachineAgentSink *s);

/* Offer len bytes to the guest on the agent port; returns how many it took (maybe 0). */
size_t machine_agent_send(Machine *m, const uint8_t *buf, size_t len);

/* True when a guest program has the agent port open. */
bool machine_agent_open(Machine *m);

/* The definition the machine was built from. */
const VmConfig *machine_config(const Machine *m);

/* Instructions retired by every hart since the machine was built. */
uint64_t machine_instret(const Machine *m);

/* Host nanoseconds spent paused so far, the current pause included. */
uint64_t machine_paused_total_ns(const Machine *m);

/* Guest time in nanoseconds (the harts' time CSR; stands still while paused). */
uint64_t machine_guest_ns(const Machine *m);

/* What a hart is doing (query-harts); i < config's nharts. */
typedef struct MachineHartInfo {
    unsigned id;
    uint64_t pc;
    unsigned priv; /* 0 = U, 1 = S, 3 = M */
    bool halted;
    bool wfi;
} MachineHartInfo;
void machine_hart_info(const Machine *m, unsigned i, MachineHartInfo *out);

/* A virtio slot (query-devices): base, PLIC source and kind ("empty" for none). */
typedef struct MachineSlotInfo {
    uint64_t base;
    unsigned irq;
    const char *kind;
} MachineSlotInfo;
void machine_slot_info(const Machine *m, unsigned slot, MachineSlotInfo *out);

/* Disk i's opened format ("raw", "qcow2") and the bytes the guest sees. */
void machine_disk_info(const Machine *m, unsigned i, const char **format, uint64_t *length);

struct VirtioMmio;
/* Disk i's virtio-blk device (for disk jobs: virtio/blk.h), or NULL. */
struct VirtioMmio *machine_disk_device(Machine *m, unsigned i);

/* Network card i's virtio-net device (for its counters: virtio/net.h), or NULL. */
struct VirtioMmio *machine_nic_device(Machine *m, unsigned i);

/*
 * The virtio-input keyboard (tablet false) or tablet, for a front end
 * (virtio/input.h: virtio_input_send_*), or NULL when the VM has none.
 */
struct VirtioMmio *machine_input_device(Machine *m, bool tablet);

/* The virtio-gpu, for a front end (virtio/gpu.h), or NULL when the VM has no display. */
struct VirtioMmio *machine_gpu_device(Machine *m);

/*
 * Bytes of guest RAM resident in host memory (mincore over the RAM
 * mapping): the pages the guest touched, or a restore brought in.  0 if
 * the kernel cannot tell.
 */
uint64_t machine_ram_resident(const Machine *m);

/* Guest RAM (host pointer) and its size in bytes: a migration reads it while the guest runs. */
uint8_t *machine_ram(Machine *m, uint64_t *size);

/*
 * The bus's dirty-page log (bus_dirty_log_start/sync/stop, src/hw/bus.h),
 * for a migration.  Call on the VM thread.  sync fills bitmap (one bit per
 * RAM page) and returns the number of dirty pages.
 */
void machine_dirty_log_start(Machine *m);
uint64_t machine_dirty_log_sync(Machine *m, uint8_t *bitmap);
void machine_dirty_log_stop(Machine *m);

/*
 * Throttle the harts (a migration's auto-converge): after every turn in
 * which they ran for t host ns, they sleep t * pct / (100 - pct) ns, so
 * they get (100 - pct) % of the host time they would take; the event loop,
 * devices and the guest's clocks go on meanwhile.  pct is capped at 99;
 * 0 lifts the throttle.  Call on the VM thread.
 */
void machine_set_throttle(Machine *m, unsigned pct);
unsigned machine_throttle(const Machine *m);

#endif
