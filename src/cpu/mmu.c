/*
 * Address translation (Sv39/Sv48 with superpages and hardware A/D update),
 * the soft TLBs, and the slow paths of loads, stores and fetches.
 *
 * A TLB entry maps one guest virtual page to host memory for one access
 * kind under one MMU index; entries are only made for RAM pages, so every
 * hit is a plain host access.  Store entries are not made for pages that
 * hold decoded code (so the first store invalidates the blocks) or that an
 * MMIO region overlaps, nor, while the bus's dirty log is on, for pages not
 * yet dirty (so the first store marks the page: bus.h).
 */
#include <string.h>

#include "cpu/bcache.h"
#include "cpu/hart.h"
#include "util/compiler.h"

static const int page_fault[ACC_COUNT] = {CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_PAGE_FAULT,
                                          CAUSE_STORE_PAGE_FAULT};
static const int access_fault[ACC_COUNT] = {CAUSE_FETCH_ACCESS, CAUSE_LOAD_ACCESS,
                                            CAUSE_STORE_ACCESS};

void hart_tlb_flush(Hart *h)
{
    memset(h->tlb, 0xff, sizeof(h->tlb));
    jcache_flush(h->jcache);
}

void hart_tlb_flush_store_page(Hart *h, uint64_t page_pa)
{
    if (page_pa == BUS_ALL_PAGES) {
        memset(h->tlb[ACC_STORE], 0xff, sizeof(h->tlb[ACC_STORE]));
        return;
    }
    uint8_t *host = bus_ram_ptr(h->bus, page_pa, BUS_PAGE_SIZE);
    if (!host)
        return;
    for (unsigned m = 0; m < MMU_COUNT; m++) {
        for (unsigned i = 0; i < TLB_SIZE; i++) {
            TlbEntry *e = &h->tlb[ACC_STORE][m][i];
            if (e->tag != TLB_EMPTY && e->tag + e->addend == (uintptr_t)host)
                e->tag = TLB_EMPTY;
        }
    }
}

static unsigned data_mmu_index(const Hart *h)
{
    unsigned p = h->priv;
    if (p == PRV_M && (h->mstatus & MSTATUS_MPRV))
        p = (unsigned)((h->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
    if (p == PRV_M)
        return MMU_M;
    if (p == PRV_S)
        return (h->mstatus & MSTATUS_SUM) ? MMU_S_SUM : MMU_S;
    return MMU_U;
}

void hart_update_mmu(Hart *h)
{
    h->mmu_fetch = h->priv == PRV_M ? MMU_M : h->priv == PRV_S ? MMU_S : MMU_U;
    h->mmu_data = data_mmu_index(h);
}

/* Read a PTE (guest-physical, must be RAM). */
static uint64_t *pte_ptr(Hart *h, uint64_t pa)
{
    if (pa & 7)
        return NULL;
    return (uint64_t *)bus_ram_ptr(h->bus, pa, 8);
}

static bool leaf_permitted(const Hart *h, uint64_t pte, int acc, unsigned mmu_idx)
{
    bool user = pte & PTE_U;
    if (mmu_idx == MMU_U && !user)
        return false;
    if (mmu_idx != MMU_U && user && (acc == ACC_FETCH || mmu_idx != MMU_S_SUM))
        return false;
    switch (acc) {
    case ACC_FETCH: return pte & PTE_X;
    case ACC_LOAD: return (pte & PTE_R) || ((pte & PTE_X) && (h->mstatus & MSTATUS_MXR));
    default: return pte & PTE_W;
    }
}

/* Set A (and D for stores) atomically; false if the PTE changed under us. */
static bool update_ad(Hart *h, uint64_t pte_pa, uint64_t *ptep, uint64_t pte, int acc)
{
    uint64_t want = pte | PTE_A | (acc == ACC_STORE ? PTE_D : 0);
    if (want == pte)
        return true;
    bus_mark_dirty(h->bus, pte_pa); /* the walk writes the page table */
    return __atomic_compare_exchange_n(ptep, &pte, want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int walk(Hart *h, uint64_t va, int acc, unsigned mmu_idx, uint64_t *pa)
{
    unsigned mode = (unsigned)(h->satp >> SATP_MODE_SHIFT);
    int levels = mode == SATP_MODE_SV48 ? 4 : 3;
    unsigned vabits = 12 + 9 * (unsigned)levels;
    int64_t sva = (int64_t)(va << (64 - vabits)) >> (64 - vabits);
    if ((uint64_t)sva != va)
        return page_fault[acc];

    uint64_t base = (h->satp & SATP_PPN_MASK) << 12;
    for (int i = levels - 1; i >= 0; i--) {
    retry:;
        uint64_t idx = (va >> (12 + 9 * i)) & 0x1ff;
        uint64_t *ptep = pte_ptr(h, base + idx * 8);
        if (!ptep)
            return access_fault[acc];
        uint64_t pte = __atomic_load_n(ptep, __ATOMIC_RELAXED);
        uint64_t ppn = (pte >> 10) & ((1ull << 44) - 1);
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
            return page_fault[acc];
        if (!(pte & (PTE_R | PTE_X))) {
            if (pte & (PTE_A | PTE_D | PTE_U))
                return page_fault[acc];
            base = ppn << 12;
            continue;
        }
        uint64_t lowmask = (1ull << (9 * i)) - 1;
        if ((ppn & lowmask) || !leaf_permitted(h, pte, acc, mmu_idx))
            return page_fault[acc];
        if (!update_ad(h, base + idx * 8, ptep, pte, acc))
            goto retry;
        *pa = ((ppn & ~lowmask) << 12) | (va & ((lowmask << 12) | 0xfff));
        return 0;
    }
    return page_fault[acc];
}

int mmu_translate(Hart *h, uint64_t va, int acc, unsigned mmu_idx, uint64_t *pa)
{
    unsigned mode = (unsigned)(h->satp >> SATP_MODE_SHIFT);
    if (mmu_idx == MMU_M || mode == SATP_MODE_BARE) {
        *pa = va;
        return 0;
    }
    return walk(h, va, acc, mmu_idx, pa);
}

/* Make a TLB entry for va -> pa if pa is plain RAM suitable for acc. */
static void tlb_fill(Hart *h, int acc, unsigned mmu_idx, uint64_t va, uint64_t pa)
{
    uint64_t page_pa = pa & ~(BUS_PAGE_SIZE - 1);
    uint8_t *host = bus_ram_ptr(h->bus, page_pa, BUS_PAGE_SIZE);
    if (!host)
        return;
    uint8_t flags = *bus_page_flags(h->bus, page_pa);
    if ((flags & BUS_PAGE_MMIO) ||
        (acc == ACC_STORE &&
         ((flags & BUS_PAGE_CODE) || (h->bus->dirty_log && !(flags & BUS_PAGE_DIRTY)))))
        return;
    uint64_t page_va = va & ~(BUS_PAGE_SIZE - 1);
    TlbEntry *e = &h->tlb[acc][mmu_idx][(va >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
    e->tag = page_va;
    e->addend = (uintptr_t)host - (uintptr_t)page_va;
}

/* Translate and refill; for data accesses under the current data MMU index. */
static int translate_fill(Hart *h, uint64_t va, int acc, uint64_t *pa)
{
    unsigned idx = acc == ACC_FETCH ? h->mmu_fetch : h->mmu_data;
    int cause = mmu_translate(h, va, acc, idx, pa);
    if (cause == 0)
        tlb_fill(h, acc, idx, va, *pa);
    return cause;
}

/* Before writing [pa, pa+len) of RAM: invalidate decoded code there, mark it dirty. */
static void note_ram_write(Hart *h, uint64_t pa)
{
    Bus *b = h->bus;
    if (!bus_ram_ptr(b, pa, 1))
        return;
    if ((*bus_page_flags(b, pa) & BUS_PAGE_CODE) && b->code_write)
        b->code_write(b->code_write_opaque, pa & ~(BUS_PAGE_SIZE - 1));
    bus_mark_dirty(b, pa);
}

/* Aligned access of size bytes at pa: RAM directly, else MMIO. */
static int phys_access(Hart *h, uint64_t pa, unsigned size, uint64_t *val, int acc)
{
    if (acc == ACC_STORE)
        return bus_write(h->bus, pa, size, *val) ? 0 : access_fault[acc];
    return bus_read(h->bus, pa, size, val) ? 0 : access_fault[acc];
}

/*
 * A misaligned access: translate every page it touches first (so a fault
 * changes nothing), then move the bytes one by one.
 */
static int misaligned(Hart *h, uint64_t va, unsigned size, uint64_t *val, int acc, uint64_t *tval)
{
    uint64_t last = va + size - 1, pa0, pa1 = 0;
    unsigned first_len = size;
    int cause = translate_fill(h, va, acc, &pa0);
    if (cause) {
        *tval = va;
        return cause;
    }
    if ((va ^ last) >> BUS_PAGE_SHIFT) {
        uint64_t next = last & ~(BUS_PAGE_SIZE - 1);
        first_len = (unsigned)(next - va);
        cause = translate_fill(h, next, acc, &pa1);
        if (cause) {
            *tval = next;
            return cause;
        }
    }
    uint64_t v = acc == ACC_STORE ? *val : 0;
    for (unsigned i = 0; i < size; i++) {
        uint64_t pa = i < first_len ? pa0 + i : pa1 + (i - first_len);
        uint64_t byte = (v >> (8 * i)) & 0xff;
        cause = phys_access(h, pa, 1, &byte, acc);
        if (cause) {
            *tval = va + i;
            return cause;
        }
        if (acc != ACC_STORE)
            v |= byte << (8 * i);
    }
    if (acc != ACC_STORE)
        *val = v;
    return 0;
}

int mem_load_slow(Hart *h, uint64_t va, unsigned size, uint64_t *val, uint64_t *tval)
{
    uint64_t pa;
    if (va & (size - 1))
        return misaligned(h, va, size, val, ACC_LOAD, tval);
    int cause = translate_fill(h, va, ACC_LOAD, &pa);
    if (!cause)
        cause = phys_access(h, pa, size, val, ACC_LOAD);
    if (cause)
        *tval = va;
    return cause;
}

int mem_store_slow(Hart *h, uint64_t va, unsigned size, uint64_t val, uint64_t *tval)
{
    uint64_t pa;
    if (va & (size - 1))
        return misaligned(h, va, size, &val, ACC_STORE, tval);
    int cause = mmu_translate(h, va, ACC_STORE, h->mmu_data, &pa);
    if (!cause) {
        note_ram_write(h, pa);
        tlb_fill(h, ACC_STORE, h->mmu_data, va, pa);
        cause = phys_access(h, pa, size, &val, ACC_STORE);
    }
    if (cause)
        *tval = va;
    return cause;
}

int mem_fetch_pa(Hart *h, uint64_t va, uintptr_t *host, uint64_t *pa)
{
    TlbEntry *e = &h->tlb[ACC_FETCH][h->mmu_fetch][(va >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
    if (likely(e->tag == (va & ~(BUS_PAGE_SIZE - 1)))) {
        *host = va + e->addend;
        *pa = (uint64_t)(*host - (uintptr_t)h->bus->ram) + h->bus->ram_base;
        return 0;
    }
    int cause = translate_fill(h, va, ACC_FETCH, pa);
    if (cause)
        return cause;
    const uint8_t *p = bus_ram_ptr(h->bus, *pa, 2);
    if (!p)
        p = bus_rom_ptr(h->bus, *pa, 2); /* boot ROM: fetched without a TLB entry */
    if (!p)
        return CAUSE_FETCH_ACCESS;
    *host = (uintptr_t)p;
    return 0;
}

int mem_fetch_host(Hart *h, uint64_t va, uintptr_t *host)
{
    uint64_t pa;
    return mem_fetch_pa(h, va, host, &pa);
}

int mem_amo_host(Hart *h, uint64_t va, unsigned size, uintptr_t *host)
{
    TlbEntry *e = &h->tlb[ACC_STORE][h->mmu_data][(va >> BUS_PAGE_SHIFT) & (TLB_SIZE - 1)];
    if (va & (size - 1))
        return CAUSE_MISALIGNED_STORE;
    if (likely(e->tag == (va & ~(BUS_PAGE_SIZE - 1)))) {
        *host = va + e->addend;
        return 0;
    }
    uint64_t pa;
    int cause = mmu_translate(h, va, ACC_STORE, h->mmu_data, &pa);
    if (cause)
        return cause;
    uint8_t *p = bus_ram_ptr(h->bus, pa, size);
    if (!p || (*bus_page_flags(h->bus, pa) & BUS_PAGE_MMIO))
        return CAUSE_STORE_ACCESS;
    note_ram_write(h, pa);
    tlb_fill(h, ACC_STORE, h->mmu_data, va, pa);
    *host = (uintptr_t)p;
    return 0;
}
