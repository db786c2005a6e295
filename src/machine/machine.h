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
 * host file descriptors and run limits.  None of it is saved or migrated.
 */
typedef struct MachineHost {
    uint64_t max_insns; /* stop after about this many instructions; 0 = no limit */
    int in_fd;          /* console input (UART receive): a tty, pipe or socket; -1 = none */
    int out_fd;         /* console output (UART, HTIF, SYS_write to fd 1) */
    int err_fd;         /* SYS_write to fd 2 */
} MachineHost;

/* Why machine_run() returned. */
typedef enum MachineStop {
    MACHINE_STOP_GUEST,   /* the guest ended the run (finisher, HTIF) */
    MACHINE_STOP_LIMIT,   /* max_insns reached */
    MACHINE_STOP_HOST,    /* the stop flag was set from outside (signal) */
    MACHINE_STOP_QUIT,    /* the user typed the console's quit escape (Ctrl-A x) */
    MACHINE_STOP_CONTROL, /* `quit` on the control socket */
} MachineStop;

typedef struct MachineStats {
    uint64_t instret; /* instructions retired by all harts, across resets */
    double seconds;   /* wall time spent in machine_run() */
    MachineStop why;
    bool suspended; /* why == MACHINE_STOP_CONTROL after a `suspend` */
} MachineStats;

/* What to boot (see machine_boot). Strings are copied. */
typedef struct MachineBoot {
    const char *kernel;  /* Linux Image (or ELF) */
    const char *initrd;  /* NULL for none */
    const char *cmdline; /* NULL for none */
    const char *bios;    /* NULL: built-in SBI; else M-mode firmware (OpenSBI fw_*.bin/ELF) */
} MachineBoot;

typedef struct Machine Machine;

/* Fill host with the defaults: no limit, stdin/stdout/stderr. */
void machine_host_default(MachineHost *host);

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
 * machine_kick().  Console input is read from in_fd only when epoll reports
 * it readable (the fd is not switched to non-blocking mode); at end of file
 * it is no longer read.
 * A guest reset request reloads the kernel and restarts the harts.
 * Returns the guest's exit status (0 = pass, 1..255 = failure; a failing
 * code whose low 8 bits are 0 becomes 1) when it ended the run, 0 for the
 * other stops (see machine_stats()), or -1 with err filled if a reset failed.
 */
int machine_run(Machine *m, Error *err);

struct Console;
/* Filter console input through c (escape keys) from now on; c must outlive the run. */
void machine_set_console(Machine *m, struct Console *c);

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

/* The control socket (docs/control.md). */
typedef struct MachineControlConfig {
    const char *path;    /* where to listen */
    const char *name;    /* the VM's name (status, "already running" message); NULL = none */
    const char *version; /* hostel's version, for the greeting */
} MachineControlConfig;

/*
 * Serve the control socket on the machine's event loop from now until
 * machine_free(), which sends clients a SHUTDOWN event and removes the
 * socket.  Requests are answered while machine_run() runs, paused or not.
 * Returns 0, or -1 with err filled (e.g. another VM listens on the path).
 */
int machine_control_open(Machine *m, const MachineControlConfig *c, Error *err);

/*
 * Pause: the harts stop before their next slice and machine_run() waits
 * in the event loop (devices, console and control socket are still served)
 * until machine_resume() or a stop.  The guest's clocks (time CSR, mtime,
 * RTC) stand still meanwhile: resuming moves them on by the time spent
 * paused.  Both are no-ops when already in that state; call them on the
 * VM thread (from an event-loop callback, or between runs).
 */
void machine_pause(Machine *m);
void machine_resume(Machine *m);
bool machine_paused(const Machine *m);

#endif
