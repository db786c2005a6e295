/* Goldfish RTC: time registers, one alarm, one interrupt line. */
#include "hw/goldfish_rtc.h"

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "hw/clock.h"
#include "state/state.h"

enum {
    RTC_TIME_LOW = 0x00,
    RTC_TIME_HIGH = 0x04,
    RTC_ALARM_LOW = 0x08,
    RTC_ALARM_HIGH = 0x0c,
    RTC_IRQ_ENABLED = 0x10,
    RTC_CLEAR_ALARM = 0x14,
    RTC_ALARM_STATUS = 0x18,
    RTC_CLEAR_INTERRUPT = 0x1c,
};

struct GoldfishRtc {
    Device dev; /* first: the Device is the GoldfishRtc; dev.irq is its line */
    /* guest time = host realtime + offset - (clock's pauses since paused_mark) */
    int64_t offset_ns;
    uint64_t paused_mark; /* guest_clock_paused_ns when offset_ns was last folded */
    GuestClock *clock;    /* own_clock, or the machine's (goldfish_rtc_set_clock) */
    GuestClock own_clock;
    uint32_t time_high;  /* latched by a read of TIME_LOW */
    uint64_t alarm_ns;   /* guest time of the alarm */
    uint32_t alarm_high; /* written before ALARM_LOW arms the alarm */
    bool alarm_armed;
    bool irq_enabled;
    bool irq_pending;
};

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t guest_ns(const GoldfishRtc *r)
{
    return host_ns() + (uint64_t)r->offset_ns - (guest_clock_paused_ns(r->clock) - r->paused_mark);
}

/* Take the pauses so far into offset_ns (which is then what the state holds). */
static void fold_pauses(GoldfishRtc *r)
{
    uint64_t p = guest_clock_paused_ns(r->clock);
    r->offset_ns -= (int64_t)(p - r->paused_mark);
    r->paused_mark = p;
}

void goldfish_rtc_set_clock(GoldfishRtc *r, GuestClock *clock)
{
    fold_pauses(r);
    r->clock = clock;
    r->paused_mark = guest_clock_paused_ns(clock);
}

static void update_irq(GoldfishRtc *r)
{
    irq_line_set(&r->dev.irq, r->irq_pending && r->irq_enabled);
}

void goldfish_rtc_poll(GoldfishRtc *r)
{
    if (r->alarm_armed && guest_ns(r) >= r->alarm_ns) {
        r->alarm_armed = false;
        r->irq_pending = true;
        update_irq(r);
    }
}

void goldfish_rtc_shift(GoldfishRtc *r, int64_t delta_ns)
{
    r->offset_ns += delta_ns; /* the alarm is in guest time: it keeps its distance */
}

uint64_t goldfish_rtc_next_deadline_ns(const GoldfishRtc *r)
{
    if (!r->alarm_armed)
        return UINT64_MAX;
    uint64_t now = guest_ns(r);
    return r->alarm_ns > now ? r->alarm_ns - now : 0;
}

static bool rtc_read(void *opaque, uint64_t off, unsigned size, uint64_t *value)
{
    GoldfishRtc *r = opaque;
    uint64_t now;
    if (size != 4)
        return false;
    switch (off) {
    case RTC_TIME_LOW:
        now = guest_ns(r);
        r->time_high = (uint32_t)(now >> 32);
        *value = (uint32_t)now;
        return true;
    case RTC_TIME_HIGH: *value = r->time_high; return true;
    case RTC_ALARM_LOW: *value = (uint32_t)r->alarm_ns; return true;
    case RTC_ALARM_HIGH: *value = (uint32_t)(r->alarm_ns >> 32); return true;
    case RTC_IRQ_ENABLED: *value = r->irq_enabled; return true;
    case RTC_ALARM_STATUS: *value = r->alarm_armed; return true;
    }
    *value = 0;
    return true;
}

static bool rtc_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    GoldfishRtc *r = opaque;
    uint64_t now = guest_ns(r);
    if (size != 4)
        return false;
    switch (off) {
    case RTC_TIME_LOW:
        r->offset_ns += (int64_t)(((now >> 32) << 32 | (uint32_t)value) - now);
        break;
    case RTC_TIME_HIGH:
        r->offset_ns += (int64_t)(((uint64_t)value << 32 | (uint32_t)now) - now);
        break;
    case RTC_ALARM_HIGH: r->alarm_high = (uint32_t)value; break;
    case RTC_ALARM_LOW:
        r->alarm_ns = (uint64_t)r->alarm_high << 32 | (uint32_t)value;
        r->alarm_armed = true;
        goldfish_rtc_poll(r);
        break;
    case RTC_IRQ_ENABLED:
        r->irq_enabled = value & 1;
        update_irq(r);
        break;
    case RTC_CLEAR_ALARM: r->alarm_armed = false; break;
    case RTC_CLEAR_INTERRUPT:
        r->irq_pending = false;
        update_irq(r);
        break;
    }
    return true;
}

const MmioOps goldfish_rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
};

GoldfishRtc *goldfish_rtc_new(IrqLine irq)
{
    GoldfishRtc *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->dev = (Device){.ops = &goldfish_rtc_device_ops, .size = GOLDFISH_RTC_SIZE, .irq = irq};
    guest_clock_init(&r->own_clock);
    r->clock = &r->own_clock;
    return r;
}

void goldfish_rtc_free(GoldfishRtc *r)
{
    free(r);
}

void goldfish_rtc_reset(GoldfishRtc *r)
{
    r->alarm_armed = r->irq_enabled = r->irq_pending = false;
    r->alarm_ns = 0;
    r->alarm_high = r->time_high = 0;
    update_irq(r);
}

static void rtc_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint64_t base = d->base;
    unsigned irq = d->irq.src;
    dt_begin_at(dt, "rtc", base);
    dt_prop_str(dt, "compatible", "google,goldfish-rtc");
    dt_prop_reg(dt, base, GOLDFISH_RTC_SIZE);
    dt_prop_u32(dt, "interrupt-parent", FDT_PHANDLE_PLIC);
    dt_prop_u32(dt, "interrupts", irq);
    dt_end(dt);
}

/* ---- state ---- */

/*
 * The offset from the host's wall clock is what is saved: a restored guest
 * sees the wall-clock time move on by the time it spent suspended, as a
 * laptop does after a resume (its monotonic clocks do not: see aclint.c).
 * The pauses of the guest clock are folded into it first.
 */
static void rtc_pre_save(void *live)
{
    fold_pauses(live);
}

static void rtc_post_load(void *live)
{
    GoldfishRtc *r = live;
    r->paused_mark = guest_clock_paused_ns(r->clock);
    update_irq(r);
}

static const StateField rtc_fields[] = {
    STATE_FIELD(GoldfishRtc, offset_ns, STATE_U64),
    STATE_FIELD(GoldfishRtc, time_high, STATE_U32),
    STATE_FIELD(GoldfishRtc, alarm_ns, STATE_U64),
    STATE_FIELD(GoldfishRtc, alarm_high, STATE_U32),
    STATE_FIELD(GoldfishRtc, alarm_armed, STATE_BOOL),
    STATE_FIELD(GoldfishRtc, irq_enabled, STATE_BOOL),
    STATE_FIELD(GoldfishRtc, irq_pending, STATE_BOOL),
    STATE_END,
};

const StateDesc goldfish_rtc_state_desc = {
    .name = "rtc",
    .version = 1,
    .min_version = 1,
    .size = sizeof(GoldfishRtc),
    .fields = rtc_fields,
    .pre_save = rtc_pre_save,
    .post_load = rtc_post_load,
};

/* ---- the device ---- */

static void rtc_device_reset(Device *d)
{
    goldfish_rtc_reset((GoldfishRtc *)d);
}

static void rtc_device_poll(Device *d)
{
    goldfish_rtc_poll((GoldfishRtc *)d);
}

static uint64_t rtc_device_deadline(const Device *d)
{
    return goldfish_rtc_next_deadline_ns((const GoldfishRtc *)d);
}

static void rtc_device_free(Device *d)
{
    goldfish_rtc_free((GoldfishRtc *)d);
}

const DeviceOps goldfish_rtc_device_ops = {
    .name = "rtc",
    .mmio = &goldfish_rtc_ops,
    .reset = rtc_device_reset,
    .fdt = rtc_fdt,
    .state = &goldfish_rtc_state_desc,
    .poll = rtc_device_poll,
    .next_deadline_ns = rtc_device_deadline,
    .free = rtc_device_free,
};

Device *goldfish_rtc_create(const DeviceArgs *a, Error *err)
{
    GoldfishRtc *r = goldfish_rtc_new(a->irq);
    if (!r) {
        error_set(err, "out of memory creating the RTC");
        return NULL;
    }
    device_place(&r->dev, a);
    if (a->clock)
        goldfish_rtc_set_clock(r, a->clock);
    return &r->dev;
}
