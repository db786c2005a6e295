/*
 * SiFive GPIO controller ("sifive,gpio0", Linux's drivers/gpio/gpio-sifive.c)
 * with the board's power button on pin 0: a "gpio-keys" node maps the pin to
 * KEY_POWER, which Linux's input layer reports and a guest's acpid or
 * systemd-logind turns into an orderly power-off.
 *
 * Registers (32-bit, one bit per pin; the FU540 manual's layout): input_val
 * reads the pins whose input is enabled; rise/fall/high/low interrupt
 * pending bits latch the sampled inputs' edges and levels and are cleared by
 * writing 1 (a level bit is set again at once while its level holds).  Each
 * pin has its own PLIC line (pin i: the device's source + i), high while one
 * of its pending bits is enabled.  The host drives pins from outside with
 * sifive_gpio_set_input() and sifive_gpio_press() (a press held for a time
 * of guest time, then released by the poll).
 */
#ifndef HOSTEL_HW_SIFIVE_GPIO_H
#define HOSTEL_HW_SIFIVE_GPIO_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/device.h"

#define SIFIVE_GPIO_SIZE 0x1000
#define SIFIVE_GPIO_PINS 1      /* pins (and PLIC lines) of the board's controller */
#define SIFIVE_GPIO_POWER_PIN 0 /* the power button (gpio-keys, KEY_POWER, active high) */
/* How long a press holds the pin: longer than gpio-keys' 5 ms debounce and its work. */
#define SIFIVE_GPIO_PRESS_NS (100ull * 1000 * 1000)

/* Register offsets. */
enum {
    SIFIVE_GPIO_INPUT_VAL = 0x00,
    SIFIVE_GPIO_INPUT_EN = 0x04,
    SIFIVE_GPIO_OUTPUT_EN = 0x08,
    SIFIVE_GPIO_OUTPUT_VAL = 0x0c,
    SIFIVE_GPIO_PUE = 0x10,
    SIFIVE_GPIO_DS = 0x14,
    SIFIVE_GPIO_RISE_IE = 0x18,
    SIFIVE_GPIO_RISE_IP = 0x1c,
    SIFIVE_GPIO_FALL_IE = 0x20,
    SIFIVE_GPIO_FALL_IP = 0x24,
    SIFIVE_GPIO_HIGH_IE = 0x28,
    SIFIVE_GPIO_HIGH_IP = 0x2c,
    SIFIVE_GPIO_LOW_IE = 0x30,
    SIFIVE_GPIO_LOW_IP = 0x34,
    SIFIVE_GPIO_IOF_EN = 0x38,
    SIFIVE_GPIO_IOF_SEL = 0x3c,
    SIFIVE_GPIO_OUT_XOR = 0x40,
    SIFIVE_GPIO_NREGS = 0x44 / 4,
};

/* The SifiveGpio begins with its Device (a Device pointer is the SifiveGpio). */
typedef struct SifiveGpio SifiveGpio;

extern const MmioOps sifive_gpio_ops;

/* Its device ops: "gpio" (state tag), registers, reset, fdt, state, poll, deadline. */
extern const DeviceOps sifive_gpio_device_ops;

/* Save/restore table (the object is the SifiveGpio). */
extern const struct StateDesc sifive_gpio_state_desc;

/*
 * A controller whose pin i drives line irq.src + i on irq.ctl ({NULL}: no
 * lines), with a clock of its own until sifive_gpio_set_clock.  NULL when out
 * of memory.
 */
SifiveGpio *sifive_gpio_new(IrqLine irq);
/* Follow clock (the machine's guest clock) for the release of presses. */
void sifive_gpio_set_clock(SifiveGpio *g, GuestClock *clock);
void sifive_gpio_free(SifiveGpio *g);
/* Registers back to zero; what drives the pins from outside (and a press) stays. */
void sifive_gpio_reset(SifiveGpio *g);

/* Drive pin (< SIFIVE_GPIO_PINS; others are ignored) from outside to level. */
void sifive_gpio_set_input(SifiveGpio *g, unsigned pin, bool level);
/* Drive pin high now and low again hold_ns of guest time later (a press extends a press). */
void sifive_gpio_press(SifiveGpio *g, unsigned pin, uint64_t hold_ns);
/* The level driven on pin from outside. */
bool sifive_gpio_input(const SifiveGpio *g, unsigned pin);
/* Release the pressed pins whose time has come. */
void sifive_gpio_poll(SifiveGpio *g);
/* Host ns until the next release (0 = due, UINT64_MAX = nothing pressed). */
uint64_t sifive_gpio_next_deadline_ns(const SifiveGpio *g);

/*
 * The board's constructor: at a->base, pin i on line a->irq.src + i, timed by
 * a->clock.  Its device-tree nodes: the controller (sifive,gpio0) and a
 * gpio-keys power button on SIFIVE_GPIO_POWER_PIN.  NULL with err filled.
 */
Device *sifive_gpio_create(const DeviceArgs *a, Error *err);

#endif
