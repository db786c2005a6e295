/*
 * Unit tests of address translation and the soft TLB: Sv39/Sv48 walks,
 * superpages, permission checks (U/SUM/MXR), A/D updates, TLB refill and
 * flush, misaligned accesses across pages, code-page write tracking, and
 * the dirty log (pages marked by stores and DMA, nothing touched while off).
 */
#include <string.h>

#include "cpu/hart.h"
#include "tap.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)
#define ROOT (RAM_BASE + 0x100000) /* page-table pages from here */
#define DATA (RAM_BASE + 0x200000) /* 2 MiB aligned: also a megapage target */

static Bus bus;
static Hart *h;
static uint64_t next_table;

static uint64_t *pa_ptr(uint64_t pa)
{
    return (uint64_t *)bus_ram_ptr(&bus, pa, 8);
}

static uint64_t new_table(void)
{
    uint64_t t = next_table;
    next_table += 4096;
    memset(bus_ram_ptr(&bus, t, 4096), 0, 4096);
    return t;
}

/* Map va at the given level (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB) in an Sv39 tree. */
static uint64_t *map(uint64_t va, uint64_t pa, unsigned level, uint64_t flags)
{
    uint64_t table = ROOT;
    for (int l = 2; l > (int)level; l--) {
        uint64_t *pte = pa_ptr(table + ((va >> (12 + 9 * l)) & 0x1ff) * 8);
        if (!(*pte & PTE_V))
            *pte = (new_table() >> 12) << 10 | PTE_V;
        table = (*pte >> 10) << 12;
    }
    uint64_t *pte = pa_ptr(table + ((va >> (12 + 9 * level)) & 0x1ff) * 8);
    *pte = (pa >> 12) << 10 | flags | PTE_V;
    return pte;
}

static void setup(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0 || !(h = hart_new(&bus, 0, &err))) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
}

static void enter_sv39(unsigned priv, uint64_t sum)
{
    next_table = ROOT;
    new_table();
    h->priv = priv;
    h->mstatus = sum;
    csr_write(h, CSR_SATP, (uint64_t)SATP_MODE_SV39 << SATP_MODE_SHIFT | ROOT >> 12);
    hart_update_mmu(h);
}

static void test_bare_refill(void)
{
    uint64_t v = 0, tval = 0;
    h->priv = PRV_M;
    hart_update_mmu(h);
    hart_tlb_flush(h);
    *pa_ptr(DATA) = 0x1122334455667788ull;
    ok(mem_load_slow(h, DATA, 8, &v, &tval) == 0 && v == 0x1122334455667788ull,
       "bare M-mode load reads RAM");
    TlbEntry *e = &h->tlb[ACC_LOAD][MMU_M][(DATA >> 12) & (TLB_SIZE - 1)];
    ok(e->tag == DATA && e->tag + e->addend == (uintptr_t)bus_ram_ptr(&bus, DATA, 1),
       "the load refilled the TLB with one-add addend");
    ok(mem_load_slow(h, 0x1000, 8, &v, &tval) == CAUSE_LOAD_ACCESS && tval == 0x1000,
       "load from a hole is an access fault with tval");
    hart_tlb_flush(h);
    ok(e->tag == TLB_EMPTY, "flush empties the TLB");
}

static void test_sv39_4k(void)
{
    uint64_t v = 0, pa = 0, tval = 0;
    enter_sv39(PRV_S, 0);
    uint64_t *pte = map(0x1000, DATA, 0, PTE_R | PTE_W);
    *pa_ptr(DATA + 8) = 42;
    ok(mem_load_slow(h, 0x1008, 8, &v, &tval) == 0 && v == 42, "Sv39 4 KiB load");
    ok((*pte & PTE_A) && !(*pte & PTE_D), "load set A, not D");
    ok(mem_store_slow(h, 0x1010, 8, 7, &tval) == 0 && *pa_ptr(DATA + 16) == 7, "store");
    ok(*pte & PTE_D, "store set D");
    ok(mmu_translate(h, 0x1fff, ACC_FETCH, MMU_S, &pa) == CAUSE_FETCH_PAGE_FAULT,
       "no X: fetch page fault");
    ok(mmu_translate(h, 0x2000, ACC_LOAD, MMU_S, &pa) == CAUSE_LOAD_PAGE_FAULT,
       "unmapped: load page fault");
    ok(mmu_translate(h, 1ull << 38, ACC_LOAD, MMU_S, &pa) == CAUSE_LOAD_PAGE_FAULT,
       "non-canonical address faults");
    *pte = (*pte & ~(uint64_t)(PTE_R | PTE_W)) | PTE_W;
    ok(mmu_translate(h, 0x1000, ACC_STORE, MMU_S, &pa) == CAUSE_STORE_PAGE_FAULT,
       "W without R is reserved");
}

static void test_superpages(void)
{
    uint64_t pa = 0;
    enter_sv39(PRV_S, 0);
    map(0x40200000, DATA, 1, PTE_R);
    ok(mmu_translate(h, 0x40212345, ACC_LOAD, MMU_S, &pa) == 0 && pa == DATA + 0x12345,
       "2 MiB megapage keeps the low 21 bits");
    map(0x80000000, 0x80000000, 2, PTE_R | PTE_X);
    ok(mmu_translate(h, 0x80123456, ACC_FETCH, MMU_S, &pa) == 0 && pa == 0x80123456,
       "1 GiB gigapage");
    map(0x40400000, DATA + 0x1000, 1, PTE_R);
    ok(mmu_translate(h, 0x40400000, ACC_LOAD, MMU_S, &pa) == CAUSE_LOAD_PAGE_FAULT,
       "misaligned megapage faults");
}

static void test_user_bits(void)
{
    uint64_t pa = 0, v = 0, tval = 0;
    enter_sv39(PRV_S, 0);
    map(0x3000, DATA, 0, PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
    map(0x4000, DATA, 0, PTE_X | PTE_A);
    ok(mmu_translate(h, 0x3000, ACC_LOAD, MMU_S, &pa) == CAUSE_LOAD_PAGE_FAULT,
       "S cannot load a U page without SUM");
    ok(mmu_translate(h, 0x3000, ACC_LOAD, MMU_S_SUM, &pa) == 0, "S loads a U page with SUM");
    ok(mmu_translate(h, 0x3000, ACC_FETCH, MMU_S_SUM, &pa) == CAUSE_FETCH_PAGE_FAULT,
       "S never fetches from a U page");
    ok(mmu_translate(h, 0x3000, ACC_STORE, MMU_U, &pa) == 0, "U stores to its page");
    ok(mmu_translate(h, 0x4000, ACC_LOAD, MMU_S, &pa) == CAUSE_LOAD_PAGE_FAULT,
       "execute-only page is not readable");
    h->mstatus |= MSTATUS_MXR;
    ok(mmu_translate(h, 0x4000, ACC_LOAD, MMU_S, &pa) == 0, "MXR makes it readable");
    h->mstatus = MSTATUS_SUM;
    hart_update_mmu(h);
    ok(h->mmu_data == MMU_S_SUM && h->mmu_fetch == MMU_S, "SUM selects its own MMU index");
    ok(mem_load_slow(h, 0x3000, 4, &v, &tval) == 0 &&
           h->tlb[ACC_LOAD][MMU_S_SUM][3].tag == 0x3000 &&
           h->tlb[ACC_LOAD][MMU_S][3].tag == TLB_EMPTY,
       "refill goes to the SUM index only");
}

static void test_mprv(void)
{
    enter_sv39(PRV_M, 0);
    h->mstatus = MSTATUS_MPRV | (uint64_t)PRV_U << MSTATUS_MPP_SHIFT;
    hart_update_mmu(h);
    ok(h->mmu_data == MMU_U && h->mmu_fetch == MMU_M, "MPRV: data as MPP, fetch as M");
}

static void test_misaligned_cross_page(void)
{
    uint64_t v = 0, tval = 0;
    enter_sv39(PRV_S, 0);
    map(0x5000, DATA, 0, PTE_R | PTE_W);
    memcpy(bus_ram_ptr(&bus, DATA + 0xffc, 4), "\x01\x02\x03\x04", 4);
    ok(mem_load_slow(h, 0x5ffd, 2, &v, &tval) == 0 && v == 0x0302, "misaligned in-page load");
    ok(mem_load_slow(h, 0x5ffe, 4, &v, &tval) == CAUSE_LOAD_PAGE_FAULT && tval == 0x6000,
       "page-crossing load faults on the second page, tval = its start");
    ok(mem_store_slow(h, 0x5ffe, 4, 0xaabbccdd, &tval) == CAUSE_STORE_PAGE_FAULT &&
           *(uint8_t *)bus_ram_ptr(&bus, DATA + 0xffe, 1) == 0x03,
       "a faulting page-crossing store writes nothing");
    map(0x6000, DATA + 0x1000, 0, PTE_R | PTE_W);
    ok(mem_store_slow(h, 0x5ffe, 4, 0xaabbccdd, &tval) == 0 &&
           *(uint16_t *)bus_ram_ptr(&bus, DATA + 0xffe, 2) == 0xccdd &&
           *(uint16_t *)bus_ram_ptr(&bus, DATA + 0x1000, 2) == 0xaabb,
       "page-crossing store splits across both frames");
}

static void test_code_pages(void)
{
    uint64_t tval = 0;
    h->priv = PRV_M;
    h->mstatus = 0;
    hart_update_mmu(h);
    hart_tlb_flush(h);
    uint64_t page = DATA + 0x3000;
    ok(mem_store_slow(h, page, 8, 1, &tval) == 0 &&
           h->tlb[ACC_STORE][MMU_M][(page >> 12) & (TLB_SIZE - 1)].tag == page,
       "store to a data page refills the store TLB");
    *bus_page_flags(&bus, page) |= BUS_PAGE_CODE;
    hart_tlb_flush_store_page(h, page);
    ok(h->tlb[ACC_STORE][MMU_M][(page >> 12) & (TLB_SIZE - 1)].tag == TLB_EMPTY,
       "marking a page as code drops its store TLB entry");
    ok(mem_store_slow(h, page + 8, 8, 2, &tval) == 0 &&
           !(*bus_page_flags(&bus, page) & BUS_PAGE_CODE),
       "a store to a code page invalidates it (flag cleared)");
}

/* A store as the interpreter's STORE macro does it: a TLB hit writes host memory directly. */
static bool store8(uint64_t va, uint64_t val, bool *fast)
{
    uint64_t tval;
    TlbEntry *e = &h->tlb[ACC_STORE][h->mmu_data][(va >> 12) & (TLB_SIZE - 1)];
    *fast = e->tag == (va & ~0xfffull);
    if (*fast) {
        memcpy((void *)(uintptr_t)(va + e->addend), &val, 8);
        return true;
    }
    return mem_store_slow(h, va, 8, val, &tval) == 0;
}

static void flush_stores_hook(void *opaque, uint64_t page_pa)
{
    hart_tlb_flush_store_page(opaque, page_pa);
}

static bool store_tlb_empty(void)
{
    for (unsigned m = 0; m < MMU_COUNT; m++)
        for (unsigned i = 0; i < TLB_SIZE; i++)
            if (h->tlb[ACC_STORE][m][i].tag != TLB_EMPTY)
                return false;
    return true;
}

/* The bitmap of a sync holds exactly the pages (offsets from RAM_BASE / 4 KiB) in want. */
static bool dirty_exactly(const uint64_t *want, unsigned n)
{
    static uint8_t bitmap[RAM_SIZE / 4096 / 8], expect[RAM_SIZE / 4096 / 8];
    memset(expect, 0, sizeof(expect));
    for (unsigned i = 0; i < n; i++)
        expect[want[i] / 8] |= (uint8_t)(1u << (want[i] % 8));
    uint64_t count = bus_dirty_log_sync(&bus, bitmap);
    return count == n && memcmp(bitmap, expect, sizeof(bitmap)) == 0;
}

static void test_dirty_log(void)
{
    static uint8_t before[RAM_SIZE / 4096];
    uint64_t a = DATA + 0x10000, b = DATA + 0x20000, c = DATA + 0x30000;
    uint64_t pa_ = (a - RAM_BASE) / 4096, pb = (b - RAM_BASE) / 4096, pc = (c - RAM_BASE) / 4096;
    bool fast1, fast2;
    h->priv = PRV_M;
    h->mstatus = 0;
    hart_update_mmu(h);
    hart_tlb_flush(h);
    bus.code_marked = flush_stores_hook;
    bus.code_marked_opaque = h;

    memcpy(before, bus.page_flags, sizeof(before));
    ok(store8(a, 1, &fast1) && store8(a, 2, &fast2) && !fast1 && fast2 && store8(b, 3, &fast1),
       "log off: the first store refills, the next one hits the TLB");
    bus_notify_dma_write(&bus, c, 100);
    ok(memcmp(before, bus.page_flags, sizeof(before)) == 0,
       "log off: stores and DMA change no flag byte");

    bus_dirty_log_start(&bus);
    ok(store_tlb_empty(), "starting the log drops every store-TLB entry");
    ok(store8(a, 4, &fast1) && !fast1 && store8(a, 5, &fast2) && fast2,
       "log on: the first store to a clean page takes the slow path, then the TLB hits");
    ok(store8(b + 8, 6, &fast1), "a store to a second page");
    bus_notify_dma_write(&bus, c + 4000, 200); /* crosses into the next page */
    ok(dirty_exactly((uint64_t[]){pa_, pb, pc, pc + 1}, 4),
       "sync: exactly the pages stored to and written by DMA");
    ok(store_tlb_empty() && !(*bus_page_flags(&bus, a) & BUS_PAGE_DIRTY),
       "sync clears the bits and drops the store-TLB entries");
    ok(store8(a, 7, &fast1) && !fast1 && dirty_exactly((uint64_t[]){pa_}, 1),
       "after a sync the next store to a page is seen again");
    ok(dirty_exactly(NULL, 0), "a sync with nothing written is empty");
    uint64_t tval;
    ok(mem_store_slow(h, b + 0xffc, 8, 9, &tval) == 0 && dirty_exactly((uint64_t[]){pb, pb + 1}, 2),
       "a misaligned store across two pages marks both");

    /* A page-crossing store that faults on its second page has translated the first. */
    enter_sv39(PRV_S, 0);
    map(0x7000, c, 0, PTE_R | PTE_W | PTE_A | PTE_D);
    ok(mem_store_slow(h, 0x7ffc, 8, 12, &tval) == CAUSE_STORE_PAGE_FAULT &&
           store8(0x7000, 13, &fast1) && dirty_exactly((uint64_t[]){pc}, 1),
       "no store-TLB entry for a clean page, even one a faulting store translated");
    h->priv = PRV_M;
    hart_update_mmu(h);

    bus_dirty_log_stop(&bus);
    memcpy(before, bus.page_flags, sizeof(before));
    ok(store8(a, 10, &fast1) && store8(c, 11, &fast2), "log stopped: stores go on");
    bus_notify_dma_write(&bus, b, 10);
    ok(memcmp(before, bus.page_flags, sizeof(before)) == 0,
       "log stopped: no flag byte changes any more");
    bus.code_marked = NULL;
}

static void test_sv48(void)
{
    uint64_t pa = 0;
    next_table = ROOT;
    uint64_t root = new_table(), l2 = new_table(), l1 = new_table(), l0 = new_table();
    uint64_t va = 0x0000123456789000ull & ((1ull << 47) - 1);
    *pa_ptr(root + ((va >> 39) & 0x1ff) * 8) = (l2 >> 12) << 10 | PTE_V;
    *pa_ptr(l2 + ((va >> 30) & 0x1ff) * 8) = (l1 >> 12) << 10 | PTE_V;
    *pa_ptr(l1 + ((va >> 21) & 0x1ff) * 8) = (l0 >> 12) << 10 | PTE_V;
    *pa_ptr(l0 + ((va >> 12) & 0x1ff) * 8) = (DATA >> 12) << 10 | PTE_V | PTE_R;
    h->priv = PRV_S;
    csr_write(h, CSR_SATP, (uint64_t)SATP_MODE_SV48 << SATP_MODE_SHIFT | root >> 12);
    ok(h->satp >> SATP_MODE_SHIFT == SATP_MODE_SV48, "satp accepts Sv48");
    ok(mmu_translate(h, va + 0x10, ACC_LOAD, MMU_S, &pa) == 0 && pa == DATA + 0x10,
       "Sv48 four-level walk");
    h->priv = PRV_M;
    csr_write(h, CSR_SATP, (uint64_t)10 << SATP_MODE_SHIFT);
    ok(h->satp >> SATP_MODE_SHIFT == SATP_MODE_SV48, "unsupported satp mode is ignored");
}

int main(void)
{
    setup();
    test_bare_refill();
    test_sv39_4k();
    test_superpages();
    test_user_bits();
    test_mprv();
    test_misaligned_cross_page();
    test_code_pages();
    test_dirty_log();
    test_sv48();
    hart_free(h);
    bus_destroy(&bus);
    return tap_done();
}
