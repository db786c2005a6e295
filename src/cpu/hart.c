/* Hart lifecycle: creation, reset, the time CSR, decoded-code invalidation. */
#include "cpu/hart.h"

#include <stdlib.h>
#include <string.h>

#include "cpu/bcache.h"

#define BCACHE_ARENA (32u << 20)
#define MISA_RV64 (2ull << 62)
#define MISA_EXT(c) (1ull << ((c) - 'A'))

uint64_t hart_time(const Hart *h)
{
    return guest_clock_ticks(h->clock);
}

void hart_set_irq(Hart *h, uint64_t mip_bit, bool level)
{
    if (level)
        __atomic_fetch_or(&h->mip, mip_bit, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_and(&h->mip, ~mip_bit, __ATOMIC_SEQ_CST);
}

void hart_invalidate_code(Hart *h, uint64_t page_pa)
{
    bcache_invalidate_page(h->bcache, page_pa);
}

/* Bus callback for a lone hart: a store is about to hit a page holding
 * decoded blocks (machines with several harts install their own). */
static void hart_code_write(void *opaque, uint64_t page_pa)
{
    Hart *h = opaque;
    hart_invalidate_code(h, page_pa);
    *bus_page_flags(h->bus, page_pa) &= (uint8_t)~BUS_PAGE_CODE;
}

Hart *hart_new(Bus *bus, uint64_t hartid, Error *err)
{
    Hart *h = calloc(1, sizeof(*h));
    if (!h) {
        error_set(err, "out of memory allocating a hart");
        return NULL;
    }
    h->bcache = bcache_new(BCACHE_ARENA);
    h->owns_bcache = true;
    h->jcache = calloc(1, sizeof(*h->jcache));
    if (!h->bcache || !h->jcache) {
        bcache_free(h->bcache);
        free(h->jcache);
        free(h);
        error_set(err, "out of memory allocating the decoded-block cache");
        return NULL;
    }
    h->jcache->gen = 1; /* zeroed entries (generation 0) never match */
    h->bus = bus;
    h->mhartid = hartid;
    h->stop = &h->stop_self;
    guest_clock_init(&h->own_clock); /* not reset by hart_reset: the ACLINT keeps harts in step */
    h->clock = &h->own_clock;
    bus->code_write = hart_code_write;
    bus->code_write_opaque = h;
    hart_reset(h, bus->ram_base);
    return h;
}

void hart_free(Hart *h)
{
    if (!h)
        return;
    if (h->owns_bcache)
        bcache_free(h->bcache);
    free(h->jcache);
    free(h);
}

void hart_share_bcache(Hart *h, Hart *from)
{
    if (h->owns_bcache)
        bcache_free(h->bcache);
    h->bcache = from->bcache;
    h->owns_bcache = false;
    jcache_flush(h->jcache);
}

void hart_reset(Hart *h, uint64_t reset_pc)
{
    memset(h->x, 0, sizeof(h->x));
    memset(h->f, 0, sizeof(h->f));
    h->pc = reset_pc;
    h->priv = PRV_M;
    h->fflags = h->frm = 0;
    h->mstatus = 0;
    h->misa = MISA_RV64 | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') |
              MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U');
    h->medeleg = h->mideleg = h->mie = h->mip = 0;
    h->mtvec = h->mscratch = h->mepc = h->mcause = h->mtval = 0;
    h->stvec = h->sscratch = h->sepc = h->scause = h->stval = h->satp = 0;
    h->mcounteren = h->scounteren = h->menvcfg = h->senvcfg = h->mcountinhibit = 0;
    h->stimecmp = ~0ull;
    memset(h->pmpcfg, 0, sizeof(h->pmpcfg));
    memset(h->pmpaddr, 0, sizeof(h->pmpaddr));
    h->instret = h->minstret_offset = h->mcycle_offset = 0;
    h->minstret_frozen = h->mcycle_frozen = 0;
    h->reservation = ~0ull;
    h->wfi = false;
    h->halted = false;
    hart_update_mmu(h);
    hart_tlb_flush(h);
    jcache_flush(h->jcache); /* blocks stay: they depend on memory only */
}
