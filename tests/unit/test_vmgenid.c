/*
 * Unit tests of the VM generation ID device: a random ID at creation, a new
 * one (and a raised line) at each new generation, reads of any width that
 * compose the ID's bytes little-endian, and the read that drops the line.
 */
#include <string.h>

#include "hw/vmgenid.h"
#include "tap.h"

static int irq_level = -1;
static int irq_raises;
static void on_irq(IrqController *c, unsigned src, bool level)
{
    irq_level = level;
    irq_raises += level;
}
static IrqController irqc = {.set_irq = on_irq};

static uint64_t rd(VmGenId *g, uint64_t off, unsigned size)
{
    uint64_t v = ~0ull;
    ok(vmgenid_ops.read(g, off, size, &v), "a %u-byte read at %#llx is answered", size,
       (unsigned long long)off);
    return v;
}

int main(void)
{
    uint8_t a[VMGENID_ID_LEN], b[VMGENID_ID_LEN], zero[VMGENID_ID_LEN] = {0};
    VmGenId *g = vmgenid_new((IrqLine){&irqc, 12});
    VmGenId *h = vmgenid_new((IrqLine){&irqc, 12});
    vmgenid_get(g, a);
    vmgenid_get(h, b);
    ok(memcmp(a, zero, sizeof(a)) != 0, "a new device has a non-zero ID");
    ok(memcmp(a, b, sizeof(a)) != 0, "two devices have different IDs");
    ok(irq_level == -1, "creating a device does not touch its line");

    uint64_t lo = rd(g, 0, 8), hi = rd(g, 8, 8), v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | a[i];
    ok(lo == v, "the low 8 bytes read little-endian");
    v = 0;
    for (int i = 15; i >= 8; i--)
        v = v << 8 | a[i];
    ok(hi == v, "the high 8 bytes read little-endian");
    ok(rd(g, 3, 1) == a[3] && rd(g, 6, 2) == (uint64_t)(a[6] | a[7] << 8) &&
           rd(g, 12, 4) == (uint64_t)(a[12] | a[13] << 8 | a[14] << 16 | (uint64_t)a[15] << 24),
       "byte, half and word reads pick the same bytes");
    ok(rd(g, 16, 4) == 0 && rd(g, 0xff8, 8) == 0, "past the ID the window reads zero");
    ok(vmgenid_ops.write(g, 0, 8, 0) && (vmgenid_get(g, b), memcmp(a, b, sizeof(a)) == 0),
       "writes are ignored: the ID is read-only");

    irq_level = -1;
    vmgenid_next_generation(g);
    vmgenid_get(g, b);
    ok(memcmp(a, b, sizeof(a)) != 0, "a new generation has a new ID");
    ok(irq_level == 1 && irq_raises == 1, "and raises the line");
    rd(g, 20, 4);
    ok(irq_level == 1, "a read outside the ID leaves the line up");
    rd(g, 0, 4);
    ok(irq_level == 0, "reading the ID drops the line");

    for (int i = 0; i < 100; i++) {
        memcpy(a, b, sizeof(a));
        vmgenid_next_generation(g);
        vmgenid_get(g, b);
        if (memcmp(a, b, sizeof(a)) == 0)
            break;
    }
    ok(memcmp(a, b, sizeof(a)) != 0 && irq_raises == 101, "every generation changes the ID");

    vmgenid_free(g);
    vmgenid_free(h);
    return tap_done();
}
