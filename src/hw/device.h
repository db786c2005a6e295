/*
 * The device interface: what every device of a board has in common, so the
 * board can build, wire, reset, describe, save and free its devices by
 * walking one table (src/machine/virt.c) instead of naming each one.
 *
 * A device embeds a Device as its FIRST member: a Device pointer is then
 * also the device's own pointer (the opaque of its MmioOps, the object of
 * its StateDesc), and container_of gets back to the device.  Its DeviceOps
 * table, filled with designated initialisers, says what the device is:
 * its name (which is also the tag of its state section), its MMIO
 * callbacks, and the optional hooks below.
 *
 * Interrupts go through an IrqLine: a controller (the PLIC) and a source
 * number on it.  Devices raise and lower their line with irq_line_set();
 * a line with no controller goes nowhere.
 *
 * Device ops are for set-up and the slow path: the harts reach a device's
 * registers through the bus's MmioOps as before, with no indirection added.
 */
#ifndef HOSTEL_HW_DEVICE_H
#define HOSTEL_HW_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"
#include "hw/fdt.h"
#include "util/io.h"
#include "util/error.h"

struct Hart;
struct StateDesc;

/* Something interrupt lines lead to (the PLIC embeds one). */
typedef struct IrqController {
    /* Drive source src's line to level. */
    void (*set_irq)(struct IrqController *c, unsigned src, bool level);
} IrqController;

/* One interrupt line: a source on a controller (ctl NULL: not wired). */
typedef struct IrqLine {
    IrqController *ctl;
    unsigned src; /* the controller's source number (also the device tree's "interrupts") */
} IrqLine;

/* Drive the line; nothing happens on a line that is not wired. */
static inline void irq_line_set(const IrqLine *l, bool level)
{
    if (l->ctl)
        l->ctl->set_irq(l->ctl, l->src, level);
}

typedef struct Device Device;

/* What a kind of device is and does; every hook but name and free may be NULL. */
typedef struct DeviceOps {
    const char *name;    /* the device's name, and the tag of its state section */
    const MmioOps *mmio; /* its registers (opaque: the Device); NULL = none */
    /* Back to the power-on state (machine reset). */
    void (*reset)(Device *d);
    /* Write the device's node(s) into dt (inside /soc); nharts: the board's harts. */
    void (*fdt)(const Device *d, DeviceTree *dt, unsigned nharts);
    /* Save/restore table; its object is the Device (the device struct). NULL = no state. */
    const struct StateDesc *state;
    /* Timers: raise what has come due (called between hart slices). */
    void (*poll)(Device *d);
    /* Timers: host ns until the next deadline (0 = due now, UINT64_MAX = none). */
    uint64_t (*next_deadline_ns)(const Device *d);
    /* Release the device and everything it holds. */
    void (*free)(Device *d);
} DeviceOps;

/* The part every device begins with. */
struct Device {
    const DeviceOps *ops;
    uint64_t base;     /* guest-physical address of its registers */
    uint64_t size;     /* bytes of its register window */
    IrqLine irq;       /* its interrupt line (ctl NULL: none) */
    unsigned instance; /* which of its kind on the board: its state section instance */
    /* An interrupt controller offers its input lines here (the PLIC); NULL otherwise. */
    IrqController *irq_controller;
};

/*
 * What the board gives a device it builds: its place (base, size, line,
 * instance) and the board's resources; each device takes what it needs.
 */
typedef struct DeviceArgs {
    uint64_t base;
    uint64_t size;
    IrqLine irq;
    unsigned instance;
    struct Hart *const *harts; /* the board's harts (interrupt controllers, timers) */
    unsigned nharts;
    Bus *bus;                 /* guest memory (DMA) */
    ConsoleOutFn console_out; /* console output: console_out(console_opaque, buf, len) */
    void *console_opaque;
    struct GuestClock *clock; /* the board's guest clock (timers follow it); NULL: their own */
    /* The guest asked to end the run (failed, code) or to reset: the board's power hooks. */
    void (*power_exit)(void *opaque, bool failed, int code);
    void (*power_reset)(void *opaque);
    void *opaque; /* the board: for power hooks and board-side constructors */
} DeviceArgs;

/* A device constructor: NULL with err filled on failure. */
typedef Device *(*DeviceCreateFn)(const DeviceArgs *a, Error *err);

/* Put d where a says: base, size, line, instance (a constructor sets d->ops itself). */
static inline void device_place(Device *d, const DeviceArgs *a)
{
    d->base = a->base;
    d->size = a->size;
    d->irq = a->irq;
    d->instance = a->instance;
}

/* Map d's registers (if any) on the bus at d->base, named after its ops. Returns 0, or -1
 * with err filled. */
int device_map(Device *d, Bus *bus, Error *err);

/* The generic walks over one device (NULL-safe where it says so). */
void device_reset(Device *d);
void device_free(Device *d); /* NULL is ignored */
void device_fdt(const Device *d, DeviceTree *dt, unsigned nharts);

#endif
