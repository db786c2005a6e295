/* SiFive GPIO controller with the board's power button: registers, lines, presses. */
#include "hw/sifive_gpio.h"

#include <stddef.h>
#include <stdlib.h>

#include "state/state.h"

#define PIN_MASK ((uint32_t)((1ull << SIFIVE_GPIO_PINS) - 1))
#define REG(off) ((off) / 4)

struct SifiveGpio {
    Device dev;                      /* first: the Device is the SifiveGpio */
    uint32_t reg[SIFIVE_GPIO_NREGS]; /* by offset / 4; reg[INPUT_VAL] unused (computed) */
    uint32_t ext;                    /* levels driven on the pins from outside */
    uint32_t last;                   /* sampled inputs at the last update (edges) */
    uint32_t held;                   /* pins a press drives, released at release_ns */
    uint64_t release_ns;             /* guest ns when the held pins go low */
    uint32_t lines;                  /* levels last driven on the lines (derived) */
    GuestClock *clock;               /* own_clock, or the machine's */
    GuestClock own_clock;
};

/* The level on each pin: its output where the output is enabled, else what drives it. */
static uint32_t pin_levels(const SifiveGpio *g)
{
    const uint32_t *r = g->reg;
    uint32_t out = r[REG(SIFIVE_GPIO_OUTPUT_VAL)] ^ r[REG(SIFIVE_GPIO_OUT_XOR)];
    uint32_t oe = r[REG(SIFIVE_GPIO_OUTPUT_EN)];
    return ((out & oe) | (g->ext & ~oe)) & PIN_MASK;
}

/* What the input stage sees: the levels of the pins whose input is enabled. */
static uint32_t sampled(const SifiveGpio *g)
{
    return pin_levels(g) & g->reg[REG(SIFIVE_GPIO_INPUT_EN)];
}

static uint32_t pending(const SifiveGpio *g)
{
    const uint32_t *r = g->reg;
    return (r[REG(SIFIVE_GPIO_RISE_IP)] & r[REG(SIFIVE_GPIO_RISE_IE)]) |
           (r[REG(SIFIVE_GPIO_FALL_IP)] & r[REG(SIFIVE_GPIO_FALL_IE)]) |
           (r[REG(SIFIVE_GPIO_HIGH_IP)] & r[REG(SIFIVE_GPIO_HIGH_IE)]) |
           (r[REG(SIFIVE_GPIO_LOW_IP)] & r[REG(SIFIVE_GPIO_LOW_IE)]);
}

/* Drive the lines whose level changed (all of them when force). */
static void drive_lines(SifiveGpio *g, bool force)
{
    uint32_t now = pending(g) & PIN_MASK;
    for (unsigned i = 0; i < SIFIVE_GPIO_PINS; i++) {
        uint32_t bit = 1u << i;
        if (!force && ((now ^ g->lines) & bit) == 0)
            continue;
        IrqLine l = {g->dev.irq.ctl, g->dev.irq.src + i};
        irq_line_set(&l, (now & bit) != 0);
    }
    g->lines = now;
}

/* Latch edges and levels of the sampled inputs, then drive the lines. */
static void update(SifiveGpio *g)
{
    uint32_t v = sampled(g), *r = g->reg;
    r[REG(SIFIVE_GPIO_RISE_IP)] |= v & ~g->last;
    r[REG(SIFIVE_GPIO_FALL_IP)] |= ~v & g->last;
    r[REG(SIFIVE_GPIO_HIGH_IP)] |= v;
    r[REG(SIFIVE_GPIO_LOW_IP)] |= ~v & PIN_MASK;
    g->last = v;
    drive_lines(g, false);
}

static bool is_pending_reg(uint64_t off)
{
    return off == SIFIVE_GPIO_RISE_IP || off == SIFIVE_GPIO_FALL_IP || off == SIFIVE_GPIO_HIGH_IP ||
           off == SIFIVE_GPIO_LOW_IP;
}

/* 32-bit accesses only; past the last register the window reads zero. */
static bool gpio_read(void *opaque, uint64_t off, unsigned size, uint64_t *value)
{
    SifiveGpio *g = opaque;
    if (size != 4 || (off & 3))
        return false;
    if (off == SIFIVE_GPIO_INPUT_VAL)
        *value = sampled(g);
    else
        *value = off < SIFIVE_GPIO_NREGS * 4 ? g->reg[REG(off)] : 0;
    return true;
}

/* Pending bits: write 1 to clear. input_val is read-only. */
static bool gpio_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    SifiveGpio *g = opaque;
    if (size != 4 || (off & 3))
        return false;
    if (off == SIFIVE_GPIO_INPUT_VAL || off >= SIFIVE_GPIO_NREGS * 4)
        return true;
    if (is_pending_reg(off))
        g->reg[REG(off)] &= ~(uint32_t)value;
    else
        g->reg[REG(off)] = (uint32_t)value & PIN_MASK;
    update(g);
    return true;
}

const MmioOps sifive_gpio_ops = {
    .read = gpio_read,
    .write = gpio_write,
};

SifiveGpio *sifive_gpio_new(IrqLine irq)
{
    SifiveGpio *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->dev = (Device){.ops = &sifive_gpio_device_ops, .size = SIFIVE_GPIO_SIZE, .irq = irq};
    guest_clock_init(&g->own_clock);
    g->clock = &g->own_clock;
    return g;
}

void sifive_gpio_set_clock(SifiveGpio *g, GuestClock *clock)
{
    g->clock = clock;
}

void sifive_gpio_free(SifiveGpio *g)
{
    free(g);
}

void sifive_gpio_reset(SifiveGpio *g)
{
    for (unsigned i = 0; i < SIFIVE_GPIO_NREGS; i++)
        g->reg[i] = 0;
    g->last = sampled(g);
    drive_lines(g, true);
}

void sifive_gpio_set_input(SifiveGpio *g, unsigned pin, bool level)
{
    if (pin >= SIFIVE_GPIO_PINS)
        return;
    g->ext = level ? g->ext | 1u << pin : g->ext & ~(1u << pin);
    g->held &= ~(1u << pin); /* a level set from outside ends a press */
    update(g);
}

void sifive_gpio_press(SifiveGpio *g, unsigned pin, uint64_t hold_ns)
{
    if (pin >= SIFIVE_GPIO_PINS)
        return;
    sifive_gpio_set_input(g, pin, true);
    g->held |= 1u << pin;
    g->release_ns = guest_clock_ns(g->clock) + hold_ns;
}

bool sifive_gpio_input(const SifiveGpio *g, unsigned pin)
{
    return pin < SIFIVE_GPIO_PINS && (g->ext >> pin & 1);
}

void sifive_gpio_poll(SifiveGpio *g)
{
    if (!g->held || guest_clock_ns(g->clock) < g->release_ns)
        return;
    g->ext &= ~g->held;
    g->held = 0;
    update(g);
}

uint64_t sifive_gpio_next_deadline_ns(const SifiveGpio *g)
{
    if (!g->held)
        return UINT64_MAX;
    uint64_t now = guest_clock_ns(g->clock);
    return g->release_ns > now ? g->release_ns - now : 0;
}

/* The controller, one interrupt per pin, and the power button on its pin. */
static void gpio_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint32_t irqs[SIFIVE_GPIO_PINS], button[3] = {FDT_PHANDLE_GPIO, SIFIVE_GPIO_POWER_PIN, 0};
    (void)nharts;
    for (unsigned i = 0; i < SIFIVE_GPIO_PINS; i++)
        irqs[i] = d->irq.src + i;
    dt_begin_at(dt, "gpio", d->base);
    dt_prop_str(dt, "compatible", "sifive,gpio0");
    dt_prop_reg(dt, d->base, SIFIVE_GPIO_SIZE);
    dt_prop_u32(dt, "interrupt-parent", FDT_PHANDLE_PLIC);
    dt_prop_cells(dt, "interrupts", irqs, SIFIVE_GPIO_PINS);
    dt_prop_empty(dt, "gpio-controller");
    dt_prop_u32(dt, "#gpio-cells", 2);
    dt_prop_u32(dt, "ngpios", SIFIVE_GPIO_PINS);
    dt_prop_empty(dt, "interrupt-controller");
    dt_prop_u32(dt, "#interrupt-cells", 2);
    dt_prop_u32(dt, "#address-cells", 0);
    dt_prop_u32(dt, "phandle", FDT_PHANDLE_GPIO);
    dt_end(dt);
    dt_begin(dt, "gpio-keys");
    dt_prop_str(dt, "compatible", "gpio-keys");
    dt_prop_str(dt, "label", "Power Button"); /* the input device's name */
    dt_begin(dt, "power");
    dt_prop_str(dt, "label", "Power Button");
    dt_prop_u32(dt, "linux,code", 116);    /* KEY_POWER */
    dt_prop_cells(dt, "gpios", button, 3); /* <&gpio pin GPIO_ACTIVE_HIGH> */
    dt_end(dt);
    dt_end(dt);
}

/* ---- state ---- */

/* A file's registers and pins stay within the controller's pins. */
static int gpio_check(const void *staged, Error *err)
{
    const SifiveGpio *g = staged;
    uint32_t bits = g->ext | g->last | g->held;
    for (unsigned i = 0; i < SIFIVE_GPIO_NREGS; i++)
        bits |= g->reg[i];
    if (bits & ~PIN_MASK)
        return error_set(err, "a bit is set beyond the controller's %d pin(s)", SIFIVE_GPIO_PINS);
    return 0;
}

static void gpio_post_load(void *live)
{
    drive_lines(live, true);
}

static const StateField gpio_fields[] = {
    STATE_FIELD(SifiveGpio, reg, STATE_U32, .count = SIFIVE_GPIO_NREGS),
    STATE_FIELD(SifiveGpio, ext, STATE_U32),
    STATE_FIELD(SifiveGpio, last, STATE_U32),
    STATE_FIELD(SifiveGpio, held, STATE_U32),
    STATE_FIELD(SifiveGpio, release_ns, STATE_U64),
    STATE_END,
};

const StateDesc sifive_gpio_state_desc = {
    .name = "gpio",
    .version = 1,
    .min_version = 1,
    .size = sizeof(SifiveGpio),
    .fields = gpio_fields,
    .check = gpio_check,
    .post_load = gpio_post_load,
    .absent_ok = true, /* files from before the power button restore with it released */
};

/* ---- the device ---- */

static void gpio_device_reset(Device *d)
{
    sifive_gpio_reset((SifiveGpio *)d);
}

static void gpio_device_poll(Device *d)
{
    sifive_gpio_poll((SifiveGpio *)d);
}

static uint64_t gpio_device_deadline(const Device *d)
{
    return sifive_gpio_next_deadline_ns((const SifiveGpio *)d);
}

static void gpio_device_free(Device *d)
{
    sifive_gpio_free((SifiveGpio *)d);
}

const DeviceOps sifive_gpio_device_ops = {
    .name = "gpio",
    .mmio = &sifive_gpio_ops,
    .reset = gpio_device_reset,
    .fdt = gpio_fdt,
    .state = &sifive_gpio_state_desc,
    .poll = gpio_device_poll,
    .next_deadline_ns = gpio_device_deadline,
    .free = gpio_device_free,
};

Device *sifive_gpio_create(const DeviceArgs *a, Error *err)
{
    SifiveGpio *g = sifive_gpio_new(a->irq);
    if (!g) {
        error_set(err, "out of memory creating the GPIO controller");
        return NULL;
    }
    device_place(&g->dev, a);
    if (a->clock)
        sifive_gpio_set_clock(g, a->clock);
    return &g->dev;
}
