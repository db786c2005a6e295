/*
 * The virt board's memory map and device table, and the walks over the
 * devices the table built.  The machine (machine.c) owns the harts, RAM
 * and the run loop; everything it does to "every device" goes through the
 * functions here, in the table's order (or backwards, where it says so).
 */
#include "machine/virt.h"

#include <string.h>

#include "hw/aclint.h"
#include "hw/goldfish_rtc.h"
#include "hw/plic.h"
#include "hw/sifive_gpio.h"
#include "hw/test_finisher.h"
#include "hw/uart16550.h"
#include "hw/vmgenid.h"
#include "machine/machine_int.h"
#include "util/compiler.h"
#include "virtio/mmio.h"

const MemMapEntry virt_memmap[VIRT_MEMMAP_COUNT] = {
    [VIRT_ROM] = {0x1000, VIRT_ROM_SIZE},
    [VIRT_TEST] = {0x100000, FINISHER_SIZE},
    [VIRT_RTC] = {0x101000, GOLDFISH_RTC_SIZE},
    [VIRT_VMGENID] = {0x102000, VMGENID_SIZE},
    [VIRT_GPIO] = {0x103000, SIFIVE_GPIO_SIZE}, /* free in QEMU virt */
    [VIRT_ACLINT] = {0x2000000, ACLINT_SIZE},
    [VIRT_PLIC] = {0xc000000, PLIC_SIZE},
    [VIRT_UART0] = {0x10000000, UART16550_SIZE},
    [VIRT_VIRTIO] = {0x10001000, VIRTIO_MMIO_SIZE},
    [VIRT_DRAM] = {0x80000000, 0},
};

/*
 * The board's devices, built in this order after the harts (an interrupt
 * controller before the rows that have a line), written into the device
 * tree and saved in this order; reset and freed backwards (a device lowers
 * its line before the PLIC resets; the PLIC outlives its sources).
 *
 * A new device needs: one file in src/hw/ whose struct begins with a
 * Device, a DeviceOps (name = its state section tag, unique), a constructor
 * taking DeviceArgs; an entry in virt_memmap (and a PLIC source if it
 * interrupts); and one row here.  A state section is then saved, restored
 * and printed, and the device reset, described and freed, with no other
 * change.  (State files written before it existed lack its section: give
 * the row's device no state, or teach the restore a default, before
 * adding a stateful device to a board whose files must still load.)
 */
const VirtDevice virt_devices[] = {
    {.map = VIRT_TEST, .ops = &test_finisher_device_ops, .create = test_finisher_create},
    {.map = VIRT_ACLINT, .ops = &aclint_device_ops, .create = aclint_create},
    {.map = VIRT_PLIC, .ops = &plic_device_ops, .create = plic_create},
    {.map = VIRT_UART0,
     .irq = VIRT_UART0_IRQ,
     .ops = &uart16550_device_ops,
     .create = uart16550_create},
    {.map = VIRT_RTC,
     .irq = VIRT_RTC_IRQ,
     .ops = &goldfish_rtc_device_ops,
     .create = goldfish_rtc_create},
    {.map = VIRT_VMGENID,
     .irq = VIRT_VMGENID_IRQ,
     .ops = &vmgenid_device_ops,
     .create = vmgenid_create},
    {.map = VIRT_GPIO,
     .irq = VIRT_GPIO_IRQ,
     .ops = &sifive_gpio_device_ops,
     .create = sifive_gpio_create}, /* one line per pin: SIFIVE_GPIO_PINS sources */
    {.map = VIRT_VIRTIO,
     .irq = VIRT_VIRTIO_IRQ,
     .count = MACHINE_VIRTIO_SLOTS,
     .ops = &virtio_mmio_device_ops,
     .create = machine_virtio_create}, /* the board picks each slot's device */
};

const unsigned virt_ndevices = ARRAY_SIZE(virt_devices);

unsigned virt_row_count(const VirtDevice *r)
{
    return r->count ? r->count : 1;
}

const DeviceOps *virt_ops_of_tag(const char *tag)
{
    for (unsigned i = 0; i < virt_ndevices; i++) {
        if (virt_devices[i].ops->state && strcmp(virt_devices[i].ops->name, tag) == 0)
            return virt_devices[i].ops;
    }
    return NULL;
}

/* ---- building ---- */

/* The arguments of instance n of row r. */
static DeviceArgs virt_args(Machine *m, const VirtDevice *r, unsigned n)
{
    const MemMapEntry *e = &virt_memmap[r->map];
    DeviceArgs a = {.base = e->base + (uint64_t)n * e->size,
                    .size = e->size,
                    .instance = n,
                    .harts = m->harts,
                    .nharts = m->nharts,
                    .bus = &m->bus,
                    .console_out = machine_serial_write,
                    .console_opaque = m,
                    .clock = &m->clock,
                    .power_exit = machine_guest_exit,
                    .power_reset = machine_guest_reset,
                    .opaque = m};
    if (r->irq)
        a.irq = (IrqLine){.ctl = m->irq_controller, .src = r->irq + n};
    return a;
}

/* Build, map and record instance n of row r. */
static int virt_add(Machine *m, const VirtDevice *r, unsigned n, Error *err)
{
    if (r->irq && !m->irq_controller)
        return error_set(err, "%s: no interrupt controller is built before it", r->ops->name);
    if (m->ndevices == MACHINE_MAX_DEVICES)
        return error_set(err, "%s: more than %d devices", r->ops->name, MACHINE_MAX_DEVICES);
    DeviceArgs a = virt_args(m, r, n);
    Device *d = r->create(&a, err);
    if (!d)
        return -1;
    m->devices[m->ndevices++] = d;
    if (d->irq_controller)
        m->irq_controller = d->irq_controller;
    return device_map(d, &m->bus, err);
}

int virt_create_devices(Machine *m, Error *err)
{
    for (unsigned i = 0; i < virt_ndevices; i++) {
        for (unsigned n = 0; n < virt_row_count(&virt_devices[i]); n++) {
            if (virt_add(m, &virt_devices[i], n, err) < 0)
                return -1;
        }
    }
    return 0;
}

void *virt_find(const Machine *m, const DeviceOps *ops, unsigned instance)
{
    for (unsigned i = 0; i < m->ndevices; i++) {
        if (m->devices[i]->ops == ops && m->devices[i]->instance == instance)
            return m->devices[i];
    }
    return NULL;
}

/* ---- the walks ---- */

void virt_reset_devices(Machine *m)
{
    for (unsigned i = m->ndevices; i-- > 0;)
        device_reset(m->devices[i]);
}

void virt_free_devices(Machine *m)
{
    for (unsigned i = m->ndevices; i-- > 0;)
        device_free(m->devices[i]);
    m->ndevices = 0;
}

void virt_fdt_devices(const Machine *m, DeviceTree *dt)
{
    for (unsigned i = 0; i < m->ndevices; i++)
        device_fdt(m->devices[i], dt, m->nharts);
}

void virt_poll_devices(Machine *m)
{
    for (unsigned i = 0; i < m->ndevices; i++) {
        if (m->devices[i]->ops->poll)
            m->devices[i]->ops->poll(m->devices[i]);
    }
}

uint64_t virt_next_deadline_ns(const Machine *m)
{
    uint64_t ns = UINT64_MAX;
    for (unsigned i = 0; i < m->ndevices; i++) {
        const Device *d = m->devices[i];
        uint64_t t = d->ops->next_deadline_ns ? d->ops->next_deadline_ns(d) : UINT64_MAX;
        ns = t < ns ? t : ns;
    }
    return ns;
}
