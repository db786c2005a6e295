/*
 * The Goldfish real-time clock (QEMU virt: 0x101000, IRQ 11): wall-clock
 * time in nanoseconds since the epoch, settable by the guest (kept as an
 * offset from the host clock), and a one-shot alarm that raises its
 * interrupt line when the time passes it (checked by goldfish_rtc_poll).
 */
#ifndef HOSTEL_HW_GOLDFISH_RTC_H
#define HOSTEL_HW_GOLDFISH_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/device.h"

#define GOLDFISH_RTC_SIZE 0x1000

/* The GoldfishRtc begins with its Device (a Device pointer is the GoldfishRtc). */
typedef struct GoldfishRtc GoldfishRtc;

extern const MmioOps goldfish_rtc_ops;

/* Its device ops: "rtc" (state tag), registers, reset, fdt, state, poll, deadline. */
extern const DeviceOps goldfish_rtc_device_ops;

/* An RTC whose alarm drives irq ({NULL}: no line). NULL when out of memory. */
GoldfishRtc *goldfish_rtc_new(IrqLine irq);
/*
 * Follow clock (the machine's guest clock) from now on: the RTC stands
 * still while it is paused.  Until then the RTC has a clock of its own.
 */
void goldfish_rtc_set_clock(GoldfishRtc *r, GuestClock *clock);
void goldfish_rtc_free(GoldfishRtc *r);

/* Save/restore table (the object is the GoldfishRtc). */
extern const struct StateDesc goldfish_rtc_state_desc;
void goldfish_rtc_reset(GoldfishRtc *r);
/* Fire the alarm if its time has come. */
void goldfish_rtc_poll(GoldfishRtc *r);
/*
 * Move the guest's time by delta_ns (negative: back), alarm included: after
 * a pause of d ns, a shift of -d makes the clock go on where it stopped.
 */
void goldfish_rtc_shift(GoldfishRtc *r, int64_t delta_ns);
/* Host nanoseconds until the armed alarm fires, or UINT64_MAX. */
uint64_t goldfish_rtc_next_deadline_ns(const GoldfishRtc *r);

/*
 * The board's constructor: at a->base, line a->irq (its device-tree node:
 * google,goldfish-rtc).  NULL with err filled.
 */
Device *goldfish_rtc_create(const DeviceArgs *a, Error *err);

#endif
