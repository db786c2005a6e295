/*
 * The guest-physical address space: RAM (one lazily reserved anonymous
 * mapping) and a short table of MMIO regions, searched linearly because a
 * board has only a handful of them.  See bus.h for the page-flag contract.
 */
#include "hw/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hostel assumes a little-endian host (guest RAM is accessed with memcpy)"
#endif

int bus_init(Bus *b, uint64_t ram_base, uint64_t ram_size, Error *err)
{
    memset(b, 0, sizeof(*b));
    if (ram_size == 0 || ram_size % BUS_PAGE_SIZE || ram_base % BUS_PAGE_SIZE)
        return error_set(err, "guest RAM size and base must be non-zero multiples of 4 KiB");
    if (ram_base + ram_size < ram_base)
        return error_set(err, "guest RAM 0x%llx+0x%llx does not fit the address space",
                         (unsigned long long)ram_base, (unsigned long long)ram_size);
    void *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        return error_set_errno(err, errno, "cannot reserve %llu MiB of guest RAM",
                               (unsigned long long)(ram_size >> 20));
    b->page_flags = calloc(ram_size >> BUS_PAGE_SHIFT, 1);
    if (!b->page_flags) {
        munmap(ram, ram_size);
        return error_set(err, "cannot allocate page flags for %llu MiB of guest RAM",
                         (unsigned long long)(ram_size >> 20));
    }
    b->ram = ram;
    b->ram_base = ram_base;
    b->ram_size = ram_size;
    return 0;
}

void bus_destroy(Bus *b)
{
    if (b->ram)
        munmap(b->ram, b->ram_size);
    free(b->page_flags);
    memset(b, 0, sizeof(*b));
}

/* True if [base, base+size) and [rbase, rbase+rsize) share a byte; sizes > 0, no wrap. */
static bool ranges_overlap(uint64_t base, uint64_t size, uint64_t rbase, uint64_t rsize)
{
    return base < rbase + rsize && rbase < base + size;
}

/* Mark every RAM page that [base, base+size) touches as BUS_PAGE_MMIO. */
static void bus_mark_mmio_pages(Bus *b, uint64_t base, uint64_t size)
{
    if (!b->ram || !ranges_overlap(base, size, b->ram_base, b->ram_size))
        return;
    uint64_t first = base > b->ram_base ? base : b->ram_base;
    uint64_t end = base + size;
    uint64_t ram_end = b->ram_base + b->ram_size;
    if (end > ram_end)
        end = ram_end;
    for (uint64_t pa = first & ~(BUS_PAGE_SIZE - 1); pa < end; pa += BUS_PAGE_SIZE)
        *bus_page_flags(b, pa) |= BUS_PAGE_MMIO;
}

int bus_add_mmio(Bus *b, const char *name, uint64_t base, uint64_t size, const MmioOps *ops,
                 void *opaque, Error *err)
{
    if (size == 0 || base + size < base)
        return error_set(err, "MMIO region %s at 0x%llx has a bad size 0x%llx", name,
                         (unsigned long long)base, (unsigned long long)size);
    if (b->nregions == BUS_MAX_REGIONS)
        return error_set(err, "cannot add MMIO region %s: the bus is full (%d regions)", name,
                         BUS_MAX_REGIONS);
    for (unsigned i = 0; i < b->nregions; i++) {
        const MmioRegion *r = &b->regions[i];
        if (ranges_overlap(base, size, r->base, r->size))
            return error_set(err, "MMIO region %s 0x%llx-0x%llx overlaps %s 0x%llx-0x%llx", name,
                             (unsigned long long)base, (unsigned long long)(base + size - 1),
                             r->name, (unsigned long long)r->base,
                             (unsigned long long)(r->base + r->size - 1));
    }
    b->regions[b->nregions++] =
        (MmioRegion){.name = name, .base = base, .size = size, .ops = ops, .opaque = opaque};
    bus_mark_mmio_pages(b, base, size);
    return 0;
}

const MmioRegion *bus_find_mmio(const Bus *b, uint64_t pa)
{
    for (unsigned i = 0; i < b->nregions; i++) {
        const MmioRegion *r = &b->regions[i];
        if (pa - r->base < r->size)
            return r;
    }
    return NULL;
}

/* True if the access [pa, pa+size) lies wholly inside r (straddling accesses fault). */
static bool bus_mmio_fits(const MmioRegion *r, uint64_t pa, unsigned size)
{
    return pa - r->base + size <= r->size;
}

static bool bus_size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

bool bus_read(Bus *b, uint64_t pa, unsigned size, uint64_t *value)
{
    if (!bus_size_ok(size))
        return false;
    const MmioRegion *r = bus_find_mmio(b, pa);
    if (r)
        return bus_mmio_fits(r, pa, size) && r->ops->read &&
               r->ops->read(r->opaque, pa - r->base, size, value);
    const uint8_t *p = bus_ram_ptr(b, pa, size);
    if (!p)
        return false;
    uint64_t v = 0;
    memcpy(&v, p, size);
    *value = v;
    return true;
}

bool bus_write(Bus *b, uint64_t pa, unsigned size, uint64_t value)
{
    if (!bus_size_ok(size))
        return false;
    const MmioRegion *r = bus_find_mmio(b, pa);
    if (r)
        return bus_mmio_fits(r, pa, size) && r->ops->write &&
               r->ops->write(r->opaque, pa - r->base, size, value);
    uint8_t *p = bus_ram_ptr(b, pa, size);
    if (!p)
        return false;
    if ((*bus_page_flags(b, pa) & BUS_PAGE_CODE) && b->code_write)
        b->code_write(b->code_write_opaque, pa & ~(BUS_PAGE_SIZE - 1));
    bus_mark_dirty(b, pa);
    memcpy(p, &value, size);
    return true;
}

void bus_notify_dma_write(Bus *b, uint64_t pa, uint64_t len)
{
    if (len == 0 || (!b->code_write && !b->dirty_log))
        return;
    uint64_t end = pa + len - 1;
    if (end < pa || pa < b->ram_base || end - b->ram_base >= b->ram_size)
        return;
    for (uint64_t p = pa & ~(BUS_PAGE_SIZE - 1); p <= end; p += BUS_PAGE_SIZE) {
        if ((*bus_page_flags(b, p) & BUS_PAGE_CODE) && b->code_write)
            b->code_write(b->code_write_opaque, p);
        bus_mark_dirty(b, p);
    }
}

/* Clear every BUS_PAGE_DIRTY bit; with bitmap, record them there first. */
static uint64_t dirty_collect(Bus *b, uint8_t *bitmap)
{
    uint64_t pages = b->ram_size >> BUS_PAGE_SHIFT, n = 0;
    if (bitmap)
        memset(bitmap, 0, (pages + 7) / 8);
    for (uint64_t i = 0; i < pages; i++) {
        if (!(b->page_flags[i] & BUS_PAGE_DIRTY))
            continue;
        b->page_flags[i] &= (uint8_t)~BUS_PAGE_DIRTY;
        if (bitmap)
            bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
        n++;
    }
    return n;
}

/* Every hart drops its store-TLB entries: the next store to a clean page is seen. */
static void dirty_flush_stores(Bus *b)
{
    if (b->code_marked)
        b->code_marked(b->code_marked_opaque, BUS_ALL_PAGES);
}

void bus_dirty_log_start(Bus *b)
{
    dirty_collect(b, NULL);
    b->dirty_log = true;
    dirty_flush_stores(b);
}

uint64_t bus_dirty_log_sync(Bus *b, uint8_t *bitmap)
{
    uint64_t n = dirty_collect(b, bitmap);
    dirty_flush_stores(b);
    return n;
}

void bus_dirty_log_stop(Bus *b)
{
    b->dirty_log = false;
    dirty_collect(b, NULL);
}

static bool rom_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    const MmioRegion *r = opaque;
    uint64_t v = 0;
    if (offset + size > r->size)
        return false;
    memcpy(&v, r->rom + offset, size); /* little-endian host */
    *value = v;
    return true;
}

static bool rom_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    return false; /* read-only: the hart takes an access fault */
}

static const MmioOps rom_ops = {
    .read = rom_read,
    .write = rom_write,
};

int bus_add_rom(Bus *b, const char *name, uint64_t base, uint64_t size, const uint8_t *bytes,
                Error *err)
{
    if (bus_add_mmio(b, name, base, size, &rom_ops, NULL, err) < 0)
        return -1;
    MmioRegion *r = &b->regions[b->nregions - 1];
    r->opaque = r;
    r->rom = bytes;
    return 0;
}

const uint8_t *bus_rom_ptr(const Bus *b, uint64_t pa, uint64_t len)
{
    const MmioRegion *r = bus_find_mmio(b, pa);
    if (!r || !r->rom || pa - r->base + len > r->size)
        return NULL;
    return r->rom + (pa - r->base);
}
