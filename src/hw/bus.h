/*
 * The guest-physical address space of one machine: one RAM region plus a
 * table of MMIO regions.  Harts reach RAM through their soft TLBs (one add
 * from guest address to host address) and fall back to bus_read/bus_write
 * for MMIO, for pages that hold decoded code, and for misses.
 *
 * Each RAM page has a flag byte:
 *   BUS_PAGE_CODE  decoded blocks exist for this page: stores must take the
 *                  slow path so the blocks are invalidated first;
 *   BUS_PAGE_MMIO  an MMIO region overlaps this RAM page (e.g. HTIF tohost):
 *                  every access must take the slow path;
 *   BUS_PAGE_DIRTY the page was written since the last bus_dirty_log_sync
 *                  (only kept while the dirty log is on).
 *
 * The dirty log (for migration) costs nothing on a hart's store fast path:
 * while it is on, store-TLB entries are made only for pages already dirty,
 * so the first store to a clean page takes the slow path, which marks it
 * and then refills.  A sync clears the bits and makes every hart drop its
 * store entries (code_marked with BUS_ALL_PAGES), so the next store to each
 * page is seen again.  While the log is off no flag byte is touched.
 */
#ifndef HOSTEL_HW_BUS_H
#define HOSTEL_HW_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define BUS_PAGE_SHIFT 12
#define BUS_PAGE_SIZE (1ull << BUS_PAGE_SHIFT)
#define BUS_MAX_REGIONS 32

enum { BUS_PAGE_CODE = 1, BUS_PAGE_MMIO = 2, BUS_PAGE_DIRTY = 4 };

/* code_marked's page_pa meaning "every page": drop all store-TLB entries. */
#define BUS_ALL_PAGES (~0ull)

/*
 * MMIO callbacks.  offset is relative to the region base, size is 1, 2, 4
 * or 8.  Return false to signal an access fault to the hart.
 */
typedef struct MmioOps {
    bool (*read)(void *opaque, uint64_t offset, unsigned size, uint64_t *value);
    bool (*write)(void *opaque, uint64_t offset, unsigned size, uint64_t value);
} MmioOps;

typedef struct MmioRegion {
    const char *name;
    uint64_t base;
    uint64_t size;
    const MmioOps *ops;
    void *opaque;
    const uint8_t *rom; /* non-NULL: read-only memory the harts may execute (boot ROM) */
} MmioRegion;

typedef struct Bus {
    uint8_t *ram;        /* host mapping of guest RAM (MAP_NORESERVE) */
    uint64_t ram_base;   /* guest-physical address of RAM's first byte */
    uint64_t ram_size;   /* bytes, multiple of BUS_PAGE_SIZE */
    uint8_t *page_flags; /* one BUS_PAGE_* byte per RAM page */
    MmioRegion regions[BUS_MAX_REGIONS];
    unsigned nregions;
    /* Called when a store hits a BUS_PAGE_CODE page, before the store. */
    void (*code_write)(void *opaque, uint64_t page_pa);
    void *code_write_opaque;
    /* Called when a page becomes BUS_PAGE_CODE (or, with BUS_ALL_PAGES, when
     * the dirty log starts or syncs): every hart must drop its store-TLB
     * entries for it (so its next store takes the slow path). */
    void (*code_marked)(void *opaque, uint64_t page_pa);
    void *code_marked_opaque;
    bool dirty_log; /* BUS_PAGE_DIRTY is kept (bus_dirty_log_start) */
} Bus;

/* Reserve RAM lazily. Returns 0, or -1 with err filled. */
int bus_init(Bus *b, uint64_t ram_base, uint64_t ram_size, Error *err);
void bus_destroy(Bus *b);

/* Add an MMIO region. Fails (-1) on overlap with another region or when full. */
int bus_add_mmio(Bus *b, const char *name, uint64_t base, uint64_t size, const MmioOps *ops,
                 void *opaque, Error *err);

/* Host pointer to guest-physical pa if [pa, pa+len) lies inside RAM, else NULL. */
static inline uint8_t *bus_ram_ptr(const Bus *b, uint64_t pa, uint64_t len)
{
    uint64_t off = pa - b->ram_base;
    if (pa < b->ram_base || off > b->ram_size || len > b->ram_size - off)
        return 0;
    return b->ram + off;
}

/* Flags byte of the RAM page holding pa; pa must be inside RAM. */
static inline uint8_t *bus_page_flags(const Bus *b, uint64_t pa)
{
    return &b->page_flags[(pa - b->ram_base) >> BUS_PAGE_SHIFT];
}

/*
 * Slow-path accesses (MMIO, or RAM when not via a TLB).  pa must be
 * naturally aligned for size.  Return false on an access fault (no device,
 * or the device refused).  bus_write invalidates decoded code first.
 */
bool bus_read(Bus *b, uint64_t pa, unsigned size, uint64_t *value);
bool bus_write(Bus *b, uint64_t pa, unsigned size, uint64_t value);

/*
 * A store is about to write the RAM page holding pa (pa inside RAM): mark it
 * dirty when the log is on.  The harts' slow store paths and bus_write call
 * it; one test and no write when the log is off.
 */
static inline void bus_mark_dirty(Bus *b, uint64_t pa)
{
    if (b->dirty_log)
        *bus_page_flags(b, pa) |= BUS_PAGE_DIRTY;
}

/*
 * A device wrote guest RAM [pa, pa+len) directly (DMA): invalidate decoded
 * code in those pages, and mark them dirty while the dirty log is on.  Call it on the VM thread, before the guest is told
 * the write completed.  Addresses outside RAM are ignored.
 */
void bus_notify_dma_write(Bus *b, uint64_t pa, uint64_t len);

/*
 * Map size bytes of read-only memory at base (a boot ROM): loads read it,
 * stores fault, and harts may fetch instructions from it (through
 * bus_rom_ptr, never through a TLB).  bytes must outlive the bus.
 */
int bus_add_rom(Bus *b, const char *name, uint64_t base, uint64_t size, const uint8_t *bytes,
                Error *err);
/* Host pointer to [pa, pa+len) inside a ROM region, or NULL. */
const uint8_t *bus_rom_ptr(const Bus *b, uint64_t pa, uint64_t len);

/*
 * The dirty log, for migration.  start: clear every BUS_PAGE_DIRTY bit and
 * make the harts drop their store-TLB entries, so that every page written
 * from now on is marked.  sync: copy the dirty set into bitmap (one bit per
 * RAM page, bit i of byte i / 8 for page i; (ram_size / 4 KiB + 7) / 8
 * bytes, overwritten), clear it, and make the harts drop their store
 * entries again; returns the number of dirty pages.  stop: no more marking
 * (the bits are cleared).  Call all three on the thread that runs the
 * harts, as the DMA notifications are.
 */
void bus_dirty_log_start(Bus *b);
uint64_t bus_dirty_log_sync(Bus *b, uint8_t *bitmap);
void bus_dirty_log_stop(Bus *b);

/* The MMIO region containing pa, or NULL. */
const MmioRegion *bus_find_mmio(const Bus *b, uint64_t pa);

#endif
