/*
 * Unit tests of the virt board's device table (src/machine/virt.c): every
 * device named once, state tags unique and in the order state files hold
 * them, memory ranges inside the map and apart, and a built machine whose
 * walks reset and free every device exactly once (sources before the PLIC).
 */
#include <string.h>

#include "hw/plic.h"
#include "machine/machine_int.h"
#include "machine/virt.h"
#include "tap.h"
#include "util/compiler.h"
#include "virtio/mmio.h"

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static void test_names(void)
{
    bool unique = true, tags_ok = true;
    for (unsigned i = 0; i < virt_ndevices; i++) {
        const DeviceOps *o = virt_devices[i].ops;
        ok(o && o->name && o->free && virt_devices[i].create, "row %u (%s) has ops, free, create",
           i, o && o->name ? o->name : "?");
        for (unsigned j = i + 1; j < virt_ndevices; j++) {
            if (virt_devices[j].ops == o || strcmp(virt_devices[j].ops->name, o->name) == 0)
                unique = false;
        }
        /* Tags the stream keeps for itself or the machine's own sections. */
        static const char *const reserved[] = {"machine", "hart", "config", "ram", "end"};
        for (unsigned k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
            tags_ok &= strcmp(o->name, reserved[k]) != 0;
        if (o->state)
            tags_ok &= virt_ops_of_tag(o->name) == o;
    }
    ok(unique, "every device kind is in one row, under a name of its own");
    ok(tags_ok, "state tags are not reserved and find their own ops");
    ok(virt_ops_of_tag("nonesuch") == NULL && virt_ops_of_tag("test-finisher") == NULL,
       "unknown tags and stateless devices have no state table");
}

/* The state sections of the board's devices, in the order files written so far hold them. */
static void test_state_order(void)
{
    static const char *const want[] = {"aclint", "plic", "uart", "rtc", "gpio", "virtio"};
    unsigned n = 0;
    bool same = true;
    for (unsigned i = 0; i < virt_ndevices; i++) {
        const DeviceOps *o = virt_devices[i].ops;
        if (!o->state)
            continue;
        same &= n < 6 && strcmp(o->name, want[n]) == 0;
        n++;
    }
    ok(same && n == 6, "state sections: aclint, plic, uart, rtc, gpio, virtio (%u sections)", n);
    ok(virt_row_count(&virt_devices[virt_ndevices - 1]) == MACHINE_VIRTIO_SLOTS,
       "the virtio row has one instance per slot");
}

static void test_memmap(void)
{
    const MemMapEntry *dram = &virt_memmap[VIRT_DRAM];
    bool inside = true, apart = true;
    for (unsigned i = 0; i < virt_ndevices; i++) {
        const VirtDevice *r = &virt_devices[i];
        const MemMapEntry *e = &virt_memmap[r->map];
        uint64_t len = e->size * virt_row_count(r);
        inside &=
            r->map < VIRT_DRAM && e->size > 0 && e->base + len <= dram->base &&
            !ranges_overlap(e->base, len, virt_memmap[VIRT_ROM].base, virt_memmap[VIRT_ROM].size);
        for (unsigned j = i + 1; j < virt_ndevices; j++) {
            const VirtDevice *q = &virt_devices[j];
            const MemMapEntry *f = &virt_memmap[q->map];
            apart &= r->map != q->map &&
                     !ranges_overlap(e->base, len, f->base, f->size * virt_row_count(q));
        }
    }
    ok(inside, "every device's window lies in the map, below RAM, off the boot ROM");
    ok(apart, "no two devices share a map entry or overlap");
    ok(virt_memmap[VIRT_UART0].base == 0x10000000 && virt_memmap[VIRT_VIRTIO].base == 0x10001000 &&
           virt_memmap[VIRT_PLIC].base == 0xc000000 && virt_memmap[VIRT_ACLINT].base == 0x2000000 &&
           virt_memmap[VIRT_RTC].base == 0x101000 && virt_memmap[VIRT_TEST].base == 0x100000 &&
           virt_memmap[VIRT_VMGENID].base == 0x102000 && virt_memmap[VIRT_GPIO].base == 0x103000 &&
           virt_memmap[VIRT_ROM].base == 0x1000 && dram->base == 0x80000000,
       "the map is QEMU virt's (vmgenid and the GPIO in its free space)");
}

/* ---- a built machine, its devices' ops swapped for counting copies ---- */

static struct Spy {
    DeviceOps ops;
    const DeviceOps *real;
    int resets, frees, reset_seq;
} spies[MACHINE_MAX_DEVICES];
static int seq;

static struct Spy *spy_of(const Device *d)
{
    return container_of(d->ops, struct Spy, ops);
}

static void spy_reset(Device *d)
{
    struct Spy *s = spy_of(d);
    s->resets++;
    s->reset_seq = ++seq;
    d->ops = s->real; /* the device's own reset may look at its ops */
    s->real->reset(d);
    d->ops = &s->ops;
}

static void spy_free(Device *d)
{
    struct Spy *s = spy_of(d);
    s->frees++;
    d->ops = s->real;
    s->real->free(d);
}

static unsigned spy_on(Machine *m)
{
    for (unsigned i = 0; i < m->ndevices; i++) {
        Device *d = m->devices[i];
        spies[i].real = d->ops;
        spies[i].ops = *d->ops;
        spies[i].ops.reset = d->ops->reset ? spy_reset : NULL;
        spies[i].ops.free = spy_free;
        d->ops = &spies[i].ops;
    }
    return m->ndevices;
}

static void test_built(Machine *m)
{
    unsigned want = 0;
    bool placed = true;
    for (unsigned i = 0; i < virt_ndevices; i++)
        want += virt_row_count(&virt_devices[i]);
    is_u64(m->ndevices, want, "machine_new built one device per table instance");
    unsigned k = 0;
    for (unsigned i = 0; i < virt_ndevices; i++) {
        const VirtDevice *r = &virt_devices[i];
        for (unsigned n = 0; n < virt_row_count(r) && k < m->ndevices; n++, k++) {
            const Device *d = m->devices[k];
            const MmioRegion *reg = bus_find_mmio(&m->bus, d->base);
            uint64_t base = virt_memmap[r->map].base + n * virt_memmap[r->map].size;
            placed &= d->ops == r->ops && d->instance == n && d->base == base &&
                      d->irq.src == (r->irq ? r->irq + n : 0) &&
                      (r->irq == 0) == (d->irq.ctl == NULL) && reg && reg->opaque == d;
        }
    }
    ok(placed, "each device has its row's ops, instance, base, line, and its window on the bus");
    ok(m->irq_controller &&
           m->irq_controller == ((Device *)virt_find(m, &plic_device_ops, 0))->irq_controller,
       "the lines lead to the PLIC");
    ok(virt_find(m, &virtio_mmio_device_ops, 3) == m->virtio[3], "virt_find finds slot 3");
}

static void test_walks(Machine *m)
{
    unsigned n = spy_on(m);
    int plic_seq = 0, last_source_seq = 0;
    bool once = true;
    machine_reset_devices(m);
    for (unsigned i = 0; i < n; i++) {
        const Device *d = m->devices[i];
        once &= spies[i].resets == (spies[i].real->reset ? 1 : 0);
        if (spies[i].real == &plic_device_ops)
            plic_seq = spies[i].reset_seq;
        else if (d->irq.ctl && spies[i].reset_seq > last_source_seq)
            last_source_seq = spies[i].reset_seq;
    }
    ok(once, "machine_reset_devices resets every device with a reset hook once");
    ok(plic_seq > last_source_seq && last_source_seq > 0,
       "every interrupt source resets before the PLIC (%d < %d)", last_source_seq, plic_seq);
    machine_free(m);
    bool freed = true;
    for (unsigned i = 0; i < n; i++)
        freed &= spies[i].frees == 1;
    ok(freed, "machine_free frees each of the %u devices once", n);
}

int main(void)
{
    test_names();
    test_state_order();
    test_memmap();
    VmConfig vm;
    MachineHost host;
    Error err = {0};
    vmconfig_default(&vm);
    machine_host_default(&host);
    host.out_fd = -1;
    vm.ram_size = 16ull << 20;
    vm.nharts = 2;
    Machine *m = machine_new(&vm, &host, &err);
    ok(m != NULL, "a default machine builds: %s", m ? "yes" : err.msg);
    if (m) {
        test_built(m);
        test_walks(m);
    }
    return tap_done();
}
