/*
 * Unit tests of the SiFive GPIO controller and its power button: the
 * registers gpio-sifive.c touches (input_val gated by input_en, outputs
 * looped back, write-1-to-clear pending bits that a held level sets again),
 * the line that follows the enabled pending bits, a press that gpio-keys
 * sees as a rising then a falling edge once its guest time has passed, and
 * a state round trip (registers, pins and a press in progress).
 */
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "tap.h"
#include "vfake.h"

static VFakeIrq irq = {.level = -1};

/* Forget what the line did so far (its controller hook stays). */
static void irq_forget(void)
{
    irq.level = -1;
    irq.raises = 0;
}

static uint32_t rd(SifiveGpio *g, uint64_t off)
{
    uint64_t v = ~0ull;
    ok(sifive_gpio_ops.read(g, off, 4, &v), "a read of %#llx is answered", (unsigned long long)off);
    return (uint32_t)v;
}

static void wr(SifiveGpio *g, uint64_t off, uint32_t v)
{
    ok(sifive_gpio_ops.write(g, off, 4, v), "a write of %#x to %#llx is taken", v,
       (unsigned long long)off);
}

/* What gpio-sifive's irq_enable does for an edge-both interrupt (gpio-keys). */
static void driver_enable(SifiveGpio *g)
{
    wr(g, SIFIVE_GPIO_OUTPUT_EN, 0);
    wr(g, SIFIVE_GPIO_INPUT_EN, 1);
    for (uint64_t ip = SIFIVE_GPIO_RISE_IP; ip <= SIFIVE_GPIO_LOW_IP; ip += 8)
        wr(g, ip, 1);
    wr(g, SIFIVE_GPIO_RISE_IE, 1);
    wr(g, SIFIVE_GPIO_FALL_IE, 1);
}

/* What gpio-sifive's irq_eoi does: clear every pending bit of the pin. */
static void driver_eoi(SifiveGpio *g)
{
    for (uint64_t ip = SIFIVE_GPIO_RISE_IP; ip <= SIFIVE_GPIO_LOW_IP; ip += 8)
        wr(g, ip, 1);
}

static void test_registers(void)
{
    SifiveGpio *g = vfake_sifive_gpio(&irq);
    ok(irq.level == -1, "creating the controller does not touch its line");
    sifive_gpio_set_input(g, 0, true);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 0, "a driven pin reads 0 while its input is disabled");
    ok(irq.level == -1, "and nothing is pending, nothing enabled: the line stays untouched");
    wr(g, SIFIVE_GPIO_INPUT_EN, 0xffffffff);
    ok(rd(g, SIFIVE_GPIO_INPUT_EN) == 1, "only the controller's pin takes the enable");
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 1, "with its input enabled the pin reads high");
    ok(rd(g, SIFIVE_GPIO_RISE_IP) == 1 && rd(g, SIFIVE_GPIO_HIGH_IP) == 1,
       "enabling the input saw a rising edge and the high level");
    wr(g, SIFIVE_GPIO_INPUT_VAL, 0);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 1, "input_val is read-only");
    wr(g, SIFIVE_GPIO_RISE_IP, 1);
    wr(g, SIFIVE_GPIO_HIGH_IP, 1);
    ok(rd(g, SIFIVE_GPIO_RISE_IP) == 0, "writing 1 clears the rise pending bit");
    ok(rd(g, SIFIVE_GPIO_HIGH_IP) == 1, "the high bit comes back while the pin stays high");
    wr(g, SIFIVE_GPIO_HIGH_IP, 0);
    ok(rd(g, SIFIVE_GPIO_HIGH_IP) == 1, "writing 0 to a pending register clears nothing");
    sifive_gpio_set_input(g, 0, false);
    ok(rd(g, SIFIVE_GPIO_FALL_IP) == 1 && rd(g, SIFIVE_GPIO_LOW_IP) == 1,
       "the pin going low sets fall and low pending");
    wr(g, SIFIVE_GPIO_OUTPUT_VAL, 1);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 0, "an output value is not on the pin until enabled");
    wr(g, SIFIVE_GPIO_OUTPUT_EN, 1);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 1, "an enabled output drives the pin (read back)");
    wr(g, SIFIVE_GPIO_OUT_XOR, 1);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 0, "out_xor inverts the output");
    uint64_t v = 0;
    ok(!sifive_gpio_ops.read(g, 0, 1, &v) && !sifive_gpio_ops.write(g, 2, 4, 0),
       "byte and misaligned accesses are refused");
    ok(rd(g, 0x80) == 0 && (wr(g, 0x80, 5), rd(g, 0x80) == 0), "past the registers: zero");
    sifive_gpio_set_input(g, 7, true);
    ok(!sifive_gpio_input(g, 7), "a pin the controller lacks cannot be driven");
    sifive_gpio_reset(g);
    ok(rd(g, SIFIVE_GPIO_OUTPUT_EN) == 0 && rd(g, SIFIVE_GPIO_INPUT_EN) == 0 &&
           rd(g, SIFIVE_GPIO_FALL_IP) == 0 && rd(g, SIFIVE_GPIO_OUT_XOR) == 0,
       "reset zeroes the registers");
    sifive_gpio_free(g);
}

static void test_line(void)
{
    SifiveGpio *g = vfake_sifive_gpio(&irq);
    irq_forget();
    driver_enable(g);
    ok(irq.raises == 0, "enabling the edge interrupts raises nothing");
    sifive_gpio_set_input(g, 0, true);
    ok(irq.level == 1 && irq.raises == 1 && irq.src == 13, "a rising edge raises source 13");
    sifive_gpio_set_input(g, 0, true);
    ok(irq.raises == 1, "driving the same level again is no new edge");
    driver_eoi(g);
    ok(irq.level == 0, "the driver's end of interrupt drops the line (high_ie is off)");
    sifive_gpio_set_input(g, 0, false);
    ok(irq.level == 1 && irq.raises == 2, "the falling edge raises it again");
    driver_eoi(g);
    ok(irq.level == 0, "and is acknowledged the same way");
    wr(g, SIFIVE_GPIO_FALL_IE, 0);
    sifive_gpio_set_input(g, 0, true);
    driver_eoi(g);
    sifive_gpio_set_input(g, 0, false);
    ok(irq.raises == 3 && irq.level == 0 && rd(g, SIFIVE_GPIO_FALL_IP) == 1,
       "a disabled edge is pending but does not raise the line");
    wr(g, SIFIVE_GPIO_LOW_IE, 1);
    ok(irq.level == 1, "a level interrupt enabled while the level holds raises the line");
    wr(g, SIFIVE_GPIO_LOW_IP, 1);
    ok(irq.level == 1, "and clearing it does not help while the pin stays low");
    sifive_gpio_free(g);
}

static void test_press(void)
{
    SifiveGpio *g = vfake_sifive_gpio(&irq);
    GuestClock clock;
    guest_clock_init(&clock);
    guest_clock_pause(&clock); /* time moves only when the test says */
    guest_clock_set_ticks(&clock, 0);
    sifive_gpio_set_clock(g, &clock);
    irq_forget();
    driver_enable(g);
    ok(sifive_gpio_next_deadline_ns(g) == UINT64_MAX, "nothing pressed: no deadline");
    sifive_gpio_press(g, SIFIVE_GPIO_POWER_PIN, SIFIVE_GPIO_PRESS_NS);
    ok(irq.level == 1 && rd(g, SIFIVE_GPIO_INPUT_VAL) == 1, "a press drives the pin and the line");
    ok(sifive_gpio_next_deadline_ns(g) == SIFIVE_GPIO_PRESS_NS, "released 100 ms of guest time on");
    driver_eoi(g);
    guest_clock_set_ticks(&clock, 6 * 10000); /* 6 ms: gpio-keys' debounce has run */
    sifive_gpio_poll(g);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 1,
       "after the debounce interval the button still reads pressed");
    sifive_gpio_press(g, SIFIVE_GPIO_POWER_PIN, SIFIVE_GPIO_PRESS_NS);
    ok(irq.raises == 1, "a second press while pressed is no new edge");
    guest_clock_set_ticks(&clock, 105 * 10000);
    sifive_gpio_poll(g);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 1, "it holds the button longer (from its own time)");
    guest_clock_set_ticks(&clock, 106 * 10000);
    ok(sifive_gpio_next_deadline_ns(g) == 0, "the deadline is due");
    sifive_gpio_poll(g);
    ok(rd(g, SIFIVE_GPIO_INPUT_VAL) == 0 && irq.level == 1 && irq.raises == 2,
       "the poll releases it: a falling edge");
    ok(sifive_gpio_next_deadline_ns(g) == UINT64_MAX, "and no deadline is left");
    sifive_gpio_free(g);
}

/* Save a device in the middle of a press, load it into a fresh one, finish the press there. */
static void test_state(void)
{
    SifiveGpio *g = vfake_sifive_gpio(&irq), *h = vfake_sifive_gpio(&irq);
    GuestClock clock;
    guest_clock_init(&clock);
    guest_clock_pause(&clock);
    guest_clock_set_ticks(&clock, 0);
    sifive_gpio_set_clock(g, &clock);
    sifive_gpio_set_clock(h, &clock);
    driver_enable(g);
    wr(g, SIFIVE_GPIO_PUE, 1);
    sifive_gpio_press(g, SIFIVE_GPIO_POWER_PIN, SIFIVE_GPIO_PRESS_NS);
    const StateDesc *d = &sifive_gpio_state_desc;
    size_t len = state_encoded_size(d, d->version, g);
    uint8_t *buf = malloc(len);
    state_encode(d, g, buf);
    void *staged = malloc(d->size);
    memcpy(staged, h, d->size);
    Error err = {0};
    irq_forget();
    ok(state_decode(d, d->version, buf, len, staged, &err) == 0, "the section decodes: %s",
       err.msg);
    state_commit(d, h, staged);
    ok(irq.level == 1, "the restored device drives its pending line");
    ok(rd(h, SIFIVE_GPIO_INPUT_EN) == 1 && rd(h, SIFIVE_GPIO_PUE) == 1 &&
           rd(h, SIFIVE_GPIO_RISE_IE) == 1 && rd(h, SIFIVE_GPIO_INPUT_VAL) == 1 &&
           sifive_gpio_input(h, 0),
       "registers and the pressed pin came back");
    ok(sifive_gpio_next_deadline_ns(h) == SIFIVE_GPIO_PRESS_NS, "and the press's release time");
    driver_eoi(h);
    guest_clock_set_ticks(&clock, 100 * 10000);
    sifive_gpio_poll(h);
    ok(!sifive_gpio_input(h, 0) && irq.level == 1, "the restored press is released on time");

    buf[0] = 2; /* reg[0] (input_val's slot) with a bit beyond the one pin */
    memcpy(staged, h, d->size);
    ok(state_decode(d, d->version, buf, len, staged, &err) < 0 && strstr(err.msg, "pin"),
       "a file with bits beyond the pins is refused: %s", err.msg);
    free(staged);
    free(buf);
    sifive_gpio_free(g);
    sifive_gpio_free(h);
}

int main(void)
{
    test_registers();
    test_line();
    test_press();
    test_state();
    return tap_done();
}
