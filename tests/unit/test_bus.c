/*
 * Unit tests for the bus: RAM accesses of every size, MMIO dispatch,
 * region overlap rejection, page flags of MMIO overlays inside RAM, and the
 * code-write callback that keeps decoded blocks coherent.
 */
#include <string.h>

#include "hw/bus.h"
#include "tap.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)

/* A fake device that records the last access. */
typedef struct FakeDev {
    uint64_t last_offset, last_value;
    unsigned last_size, reads, writes;
    bool refuse;
} FakeDev;

static bool fake_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    FakeDev *d = opaque;
    d->reads++;
    d->last_offset = offset;
    d->last_size = size;
    *value = 0xd0000000 + offset;
    return !d->refuse;
}

static bool fake_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    FakeDev *d = opaque;
    d->writes++;
    d->last_offset = offset;
    d->last_size = size;
    d->last_value = value;
    return !d->refuse;
}

static const MmioOps fake_ops = {.read = fake_read, .write = fake_write};

/* code_write callback: counts calls and clears the flag, as the CPU side does. */
typedef struct CodeWatch {
    Bus *bus;
    unsigned calls;
    uint64_t last_page;
} CodeWatch;

static void watch_code_write(void *opaque, uint64_t page_pa)
{
    CodeWatch *w = opaque;
    w->calls++;
    w->last_page = page_pa;
    *bus_page_flags(w->bus, page_pa) &= (uint8_t)~BUS_PAGE_CODE;
}

static void test_init_errors(void)
{
    Bus b;
    Error err = {0};
    ok(bus_init(&b, RAM_BASE, 0, &err) < 0 && err.msg[0], "zero-sized RAM is refused: %s", err.msg);
    ok(bus_init(&b, RAM_BASE, 12345, &err) < 0, "RAM size not a page multiple is refused");
    ok(bus_init(&b, ~0ull & ~0xfffull, 1ull << 20, &err) < 0,
       "RAM wrapping the address space is refused");
}

static void test_ram_sizes(Bus *b)
{
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (unsigned i = 0; i < 4; i++) {
        unsigned size = sizes[i];
        uint64_t pa = RAM_BASE + 0x100 + 8 * i;
        uint64_t v = 0x8877665544332211ull, got = 0;
        uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
        ok(bus_write(b, pa, size, v), "RAM write of %u bytes", size);
        ok(bus_read(b, pa, size, &got), "RAM read of %u bytes", size);
        is_u64(got, v & mask, "RAM read of %u bytes returns what was written", size);
        const uint8_t *host = b->ram + (pa - RAM_BASE);
        ok(host[0] == 0x11 && (size < 2 || host[1] == 0x22), "RAM is little-endian (%u bytes)",
           size);
    }
    uint64_t got = 0;
    bus_write(b, RAM_BASE + 0x200, 8, 0x0102030405060708ull);
    bus_read(b, RAM_BASE + 0x204, 4, &got);
    is_u64(got, 0x01020304, "upper half of a 64-bit store reads back at +4");
}

static void test_ram_bounds(Bus *b)
{
    uint64_t v;
    ok(!bus_read(b, RAM_BASE - 8, 8, &v), "read below RAM faults");
    ok(!bus_read(b, RAM_BASE + RAM_SIZE, 1, &v), "read just past RAM faults");
    ok(bus_read(b, RAM_BASE + RAM_SIZE - 8, 8, &v), "last 8 bytes of RAM are readable");
    ok(!bus_write(b, RAM_BASE + RAM_SIZE - 4, 8, 0), "write straddling RAM's end faults");
    ok(!bus_read(b, RAM_BASE, 3, &v), "a 3-byte access is refused");
    ok(!bus_write(b, 0, 4, 0), "write where nothing lives faults");
}

static void test_mmio_dispatch(Bus *b, FakeDev *d)
{
    Error err = {0};
    ok(bus_add_mmio(b, "fake", 0x10000000, 0x100, &fake_ops, d, &err) == 0, "add MMIO region");
    uint64_t v = 0;
    ok(bus_read(b, 0x10000010, 4, &v), "MMIO read succeeds");
    is_u64(v, 0xd0000010, "MMIO read returns the device's value");
    is_u64(d->last_offset, 0x10, "MMIO read gets the offset relative to the base");
    is_u64(d->last_size, 4, "MMIO read gets the access size");
    ok(bus_write(b, 0x100000f8, 8, 0x1234), "MMIO write succeeds");
    ok(d->last_offset == 0xf8 && d->last_size == 8 && d->last_value == 0x1234,
       "MMIO write gets offset, size and value");
    ok(!bus_read(b, 0x100000fc, 8, &v), "access straddling a region's end faults");
    d->refuse = true;
    ok(!bus_write(b, 0x10000000, 1, 0), "a device refusing the access makes it fault");
    d->refuse = false;
    const MmioRegion *r = bus_find_mmio(b, 0x100000ff);
    ok(r && strcmp(r->name, "fake") == 0, "bus_find_mmio finds the region by its last byte");
    ok(bus_find_mmio(b, 0x10000100) == NULL, "bus_find_mmio: one past the end is not in it");
}

static void test_overlaps(Bus *b, FakeDev *d)
{
    Error err = {0};
    ok(bus_add_mmio(b, "clash", 0x100000ff, 0x10, &fake_ops, d, &err) < 0,
       "overlapping the end of a region is refused");
    ok(strstr(err.msg, "clash") && strstr(err.msg, "fake"), "the error names both: %s", err.msg);
    ok(bus_add_mmio(b, "cover", 0x0fffff00, 0x1000, &fake_ops, d, &err) < 0,
       "covering a region is refused");
    ok(bus_add_mmio(b, "next", 0x10000100, 0x100, &fake_ops, d, &err) == 0,
       "an adjacent region is accepted");
    ok(bus_add_mmio(b, "empty", 0x20000000, 0, &fake_ops, d, &err) < 0,
       "a zero-sized region is refused");
    ok(bus_add_mmio(b, "wrap", ~0ull - 4, 0x10, &fake_ops, d, &err) < 0,
       "a region wrapping the address space is refused");
}

static void test_full(Bus *b, FakeDev *d)
{
    Error err = {0};
    int fails = 0;
    while (b->nregions < BUS_MAX_REGIONS)
        fails += bus_add_mmio(b, "filler", 0x30000000 + b->nregions * 0x1000ull, 0x1000, &fake_ops,
                              d, &err) < 0;
    ok(fails == 0, "the table fills up to BUS_MAX_REGIONS");
    ok(bus_add_mmio(b, "extra", 0x40000000, 0x1000, &fake_ops, d, &err) < 0 &&
           strstr(err.msg, "full"),
       "one more region is refused: %s", err.msg);
}

static void test_overlay_pages(Bus *b, FakeDev *d)
{
    Error err = {0};
    uint64_t base = RAM_BASE + 0x2ff8; /* 16 bytes straddling pages 2 and 3 */
    ok(bus_add_mmio(b, "overlay", base, 16, &fake_ops, d, &err) == 0,
       "an MMIO region inside RAM is accepted");
    ok(*bus_page_flags(b, RAM_BASE + 0x2000) & BUS_PAGE_MMIO, "first overlaid page is MMIO");
    ok(*bus_page_flags(b, RAM_BASE + 0x3000) & BUS_PAGE_MMIO, "second overlaid page is MMIO");
    ok(!(*bus_page_flags(b, RAM_BASE + 0x1000) & BUS_PAGE_MMIO), "page before is not MMIO");
    ok(!(*bus_page_flags(b, RAM_BASE + 0x4000) & BUS_PAGE_MMIO), "page after is not MMIO");
    uint64_t v = 0;
    bus_read(b, base + 8, 8, &v);
    is_u64(v, 0xd0000008, "a read inside the overlay goes to the device");
    ok(bus_write(b, RAM_BASE + 0x2000, 8, 0x55) && bus_read(b, RAM_BASE + 0x2000, 8, &v) &&
           v == 0x55,
       "the rest of an overlaid page is still RAM");
}

static void test_code_write(Bus *b, FakeDev *d)
{
    CodeWatch w = {.bus = b};
    b->code_write = watch_code_write;
    b->code_write_opaque = &w;
    *bus_page_flags(b, RAM_BASE + 0x5000) |= BUS_PAGE_CODE;
    bus_write(b, RAM_BASE + 0x5010, 4, 1);
    bus_write(b, RAM_BASE + 0x5ff8, 8, 2);
    is_u64(w.calls, 1, "code_write is called once for two stores to one code page");
    is_u64(w.last_page, RAM_BASE + 0x5000, "code_write gets the page's address");
    uint64_t v = 0;
    bus_read(b, RAM_BASE + 0x5010, 4, &v);
    is_u64(v, 1, "the store to the code page still happened");
    bus_write(b, RAM_BASE + 0x6000, 4, 3);
    is_u64(w.calls, 1, "a store to a page without code does not call code_write");
    bus_read(b, RAM_BASE + 0x5000, 4, &v);
    *bus_page_flags(b, RAM_BASE + 0x7000) |= BUS_PAGE_CODE;
    bus_read(b, RAM_BASE + 0x7000, 4, &v);
    is_u64(w.calls, 1, "loads never call code_write");
    bus_write(b, 0x10000000, 4, 0);
    is_u64(w.calls, 1, "MMIO stores never call code_write");
}

/* A boot ROM: loads read it, stores fault, fetches get a host pointer. */
static void test_rom(Bus *b)
{
    static uint8_t rom[4096] = {0x97, 0x02, 0x00, 0x00, 0x13, 0x86};
    Error err = {0};
    uint64_t v = 0;
    ok(bus_add_rom(b, "rom", 0x1000, sizeof(rom), rom, &err) == 0, "ROM at 0x1000: %s", err.msg);
    ok(bus_read(b, 0x1000, 4, &v) && v == 0x297, "ROM reads as memory");
    ok(!bus_write(b, 0x1000, 4, 0), "ROM stores fault");
    ok(rom[0] == 0x97, "and change nothing");
    ok(bus_rom_ptr(b, 0x1004, 2) == rom + 4, "fetch pointer into the ROM");
    ok(bus_rom_ptr(b, 0x1ffe, 4) == NULL, "no pointer past the ROM's end");
    ok(bus_rom_ptr(b, RAM_BASE, 2) == NULL, "RAM is not ROM");
}

int main(void)
{
    test_init_errors();
    Bus b;
    Error err = {0};
    ok(bus_init(&b, RAM_BASE, RAM_SIZE, &err) == 0, "16 MiB of RAM at 0x80000000: %s", err.msg);
    ok(b.ram && b.page_flags && b.ram_size == RAM_SIZE, "RAM and page flags are allocated");
    FakeDev d = {0};
    test_ram_sizes(&b);
    test_ram_bounds(&b);
    test_mmio_dispatch(&b, &d);
    test_overlaps(&b, &d);
    test_overlay_pages(&b, &d);
    test_code_write(&b, &d);
    bus_destroy(&b);
    ok(bus_init(&b, RAM_BASE, RAM_SIZE, &err) == 0, "a fresh bus");
    test_rom(&b);
    test_full(&b, &d);
    bus_destroy(&b);
    ok(b.ram == NULL && b.page_flags == NULL, "bus_destroy releases RAM and flags");
    return tap_done();
}
