/* Built-in SBI: one small function per SBI call, grouped by extension. */
#include "machine/sbi.h"

#include "cpu/bcache.h"

enum {
    EXT_LEGACY_SET_TIMER = 0x00,
    EXT_LEGACY_PUTCHAR = 0x01,
    EXT_LEGACY_GETCHAR = 0x02,
    EXT_LEGACY_CLEAR_IPI = 0x03,
    EXT_LEGACY_SEND_IPI = 0x04,
    EXT_LEGACY_FENCE_I = 0x05,
    EXT_LEGACY_SFENCE_VMA = 0x06,
    EXT_LEGACY_SFENCE_VMA_ASID = 0x07,
    EXT_LEGACY_SHUTDOWN = 0x08,
    EXT_BASE = 0x10,
    EXT_TIME = 0x54494d45,
    EXT_IPI = 0x735049,
    EXT_RFENCE = 0x52464e43,
    EXT_HSM = 0x48534d,
    EXT_SRST = 0x53525354,
    EXT_DBCN = 0x4442434e,
};

/* Registers of the call. */
#define A(n) (h->x[10 + (n)])

typedef struct SbiRet {
    int64_t error;
    uint64_t value;
} SbiRet;

static SbiRet ok(uint64_t v)
{
    return (SbiRet){SBI_SUCCESS, v};
}
static SbiRet err(int64_t e)
{
    return (SbiRet){e, 0};
}

static bool known_extension(uint64_t ext)
{
    switch (ext) {
    case EXT_BASE:
    case EXT_TIME:
    case EXT_IPI:
    case EXT_RFENCE:
    case EXT_HSM:
    case EXT_SRST:
    case EXT_DBCN: return true;
    }
    return ext <= EXT_LEGACY_SHUTDOWN;
}

static SbiRet base(const SbiPlatform *p, Hart *h)
{
    switch (A(6)) {
    case 0: return ok(SBI_SPEC_VERSION);
    case 1: return ok(SBI_IMPL_ID_HOSTEL);
    case 2: return ok(1);
    case 3: return ok(known_extension(A(0)));
    case 4:
    case 5:
    case 6: return ok(0); /* mvendorid, marchid, mimpid */
    }
    return err(SBI_ERR_NOT_SUPPORTED);
}

/*
 * Apply fn to every hart selected by (mask, base); base == -1 selects all.
 * Returns SBI_ERR_INVALID_PARAM if a selected hart does not exist.
 */
static int64_t for_harts(const SbiPlatform *p, uint64_t mask, uint64_t base,
                         void (*fn)(const SbiPlatform *, Hart *))
{
    unsigned n = p->nharts(p->opaque);
    if (base == ~0ull) {
        for (unsigned i = 0; i < n; i++)
            fn(p, p->hart(p->opaque, i));
        return SBI_SUCCESS;
    }
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!((mask >> bit) & 1))
            continue;
        if (base + bit >= n || base + bit < base)
            return SBI_ERR_INVALID_PARAM;
        fn(p, p->hart(p->opaque, (unsigned)(base + bit)));
    }
    return SBI_SUCCESS;
}

static void raise_ssip(const SbiPlatform *p, Hart *t)
{
    hart_set_irq(t, MIP_SSIP, true);
}

static void fence_all(const SbiPlatform *p, Hart *t)
{
    hart_tlb_flush(t); /* remote fences flush the whole TLB: always sufficient */
}

static SbiRet rfence(const SbiPlatform *p, Hart *h)
{
    if (A(6) > 6)
        return err(SBI_ERR_NOT_SUPPORTED);
    if (A(6) >= 3) /* the hypervisor fences: no H extension */
        return err(SBI_ERR_NOT_SUPPORTED);
    return err(for_harts(p, A(0), A(1), fence_all));
}

static SbiRet hsm(const SbiPlatform *p, Hart *h)
{
    switch (A(6)) {
    case 0:
        if (A(0) >= p->nharts(p->opaque))
            return err(SBI_ERR_INVALID_PARAM);
        return err(p->hart_start(p->opaque, (unsigned)A(0), A(1), A(2)));
    case 1: p->hart_stop(p->opaque, h); return ok(0);
    case 2:
        if (A(0) >= p->nharts(p->opaque))
            return err(SBI_ERR_INVALID_PARAM);
        return ok((uint64_t)p->hart_state(p->opaque, (unsigned)A(0)));
    case 3:
        if (A(0) != 0) /* only the default retentive suspend: a WFI */
            return err(SBI_ERR_NOT_SUPPORTED);
        h->wfi = !(h->mip & h->mie);
        return ok(0);
    }
    return err(SBI_ERR_NOT_SUPPORTED);
}

static SbiRet srst(const SbiPlatform *p, Hart *h)
{
    if (A(6) != 0)
        return err(SBI_ERR_NOT_SUPPORTED);
    if (A(0) > SBI_RESET_WARM || A(1) > 1)
        return err(SBI_ERR_INVALID_PARAM);
    p->system_reset(p->opaque, (uint32_t)A(0), (uint32_t)A(1));
    return ok(0);
}

/* DBCN: the buffer is a guest-physical address (a1 low, a2 high bits). */
static SbiRet dbcn(const SbiPlatform *p, Hart *h)
{
    uint64_t len = A(0), pa = A(1);
    if (A(6) == 2) {
        uint8_t c = (uint8_t)A(0);
        p->console_write(p->opaque, &c, 1);
        return ok(0);
    }
    if (A(6) > 1)
        return err(SBI_ERR_NOT_SUPPORTED);
    if (A(2) != 0)
        return err(SBI_ERR_INVALID_PARAM);
    uint8_t *buf = bus_ram_ptr(h->bus, pa, len);
    if (!buf)
        return err(SBI_ERR_INVALID_PARAM);
    if (A(6) == 0) {
        p->console_write(p->opaque, buf, len);
        return ok(len);
    }
    uint64_t n = 0;
    int c;
    while (n < len && (c = p->console_read(p->opaque)) >= 0)
        buf[n++] = (uint8_t)c;
    bus_notify_dma_write(h->bus, pa, n);
    return ok(n);
}

/* Legacy extensions (0.1): the result is in a0 only. */
static bool legacy(const SbiPlatform *p, Hart *h)
{
    uint8_t c = (uint8_t)A(0);
    switch (h->x[17]) {
    case EXT_LEGACY_SET_TIMER:
        p->set_timer(p->opaque, h, A(0));
        A(0) = 0;
        break;
    case EXT_LEGACY_PUTCHAR:
        p->console_write(p->opaque, &c, 1);
        A(0) = 0;
        break;
    case EXT_LEGACY_GETCHAR: A(0) = (uint64_t)(int64_t)p->console_read(p->opaque); break;
    case EXT_LEGACY_CLEAR_IPI:
        hart_set_irq(h, MIP_SSIP, false);
        A(0) = 0;
        break;
    case EXT_LEGACY_SHUTDOWN: p->system_reset(p->opaque, SBI_RESET_SHUTDOWN, 0); break;
    default: {
        /* send_ipi and the fences take a virtual address of a hart mask */
        uint64_t mask = 0, tval;
        if (A(0) && mem_load_slow(h, A(0), 8, &mask, &tval)) {
            A(0) = (uint64_t)SBI_ERR_INVALID_ADDRESS;
            break;
        }
        bool ipi = h->x[17] == EXT_LEGACY_SEND_IPI;
        int64_t e = for_harts(p, mask, A(0) ? 0 : ~0ull, ipi ? raise_ssip : fence_all);
        A(0) = (uint64_t)e;
    }
    }
    return true;
}

bool sbi_ecall(const SbiPlatform *p, Hart *h)
{
    uint64_t ext = h->x[17];
    SbiRet r;
    if (ext <= EXT_LEGACY_SHUTDOWN)
        return legacy(p, h);
    switch (ext) {
    case EXT_BASE: r = base(p, h); break;
    case EXT_TIME:
        if (A(6) != 0) {
            r = err(SBI_ERR_NOT_SUPPORTED);
            break;
        }
        p->set_timer(p->opaque, h, A(0));
        r = ok(0);
        break;
    case EXT_IPI:
        r = A(6) == 0 ? err(for_harts(p, A(0), A(1), raise_ssip)) : err(SBI_ERR_NOT_SUPPORTED);
        break;
    case EXT_RFENCE: r = rfence(p, h); break;
    case EXT_HSM: r = hsm(p, h); break;
    case EXT_SRST: r = srst(p, h); break;
    case EXT_DBCN: r = dbcn(p, h); break;
    default: r = err(SBI_ERR_NOT_SUPPORTED); break;
    }
    A(0) = (uint64_t)r.error;
    A(1) = r.value;
    return true;
}
