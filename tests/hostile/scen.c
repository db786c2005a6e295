/* Outcome checks, failure reports and virtio-blk builders shared by the scenarios. */
#include "scen.h"

#define RNG_BYTES 64

int fail(int kind, const char *what, uint64_t value)
{
    static const char *const names[] = {"?", "recovery", "outcome", "data", "setup"};
    uart_puts("  FAIL (");
    uart_puts(names[kind >= FAIL_RECOVER && kind <= FAIL_SETUP ? kind : 0]);
    uart_puts("): ");
    uart_puts(what);
    uart_puts(" ");
    uart_hex(value);
    uart_puts("\n");
    return kind;
}

int expect_broken(Dev *d, bool queue_live)
{
    if (!dev_wait_status(d, ST_NEEDS_RESET))
        return fail(FAIL_OUTCOME, "DEVICE_NEEDS_RESET not set; Status", dev_read(d, VM_STATUS));
    uint32_t isr = dev_read(d, VM_INTERRUPT_STATUS);
    if (queue_live && !(isr & ISR_CONFIG))
        return fail(FAIL_OUTCOME, "no configuration-change interrupt; InterruptStatus", isr);
    if (queue_live && dev_used_idx(d) != 0)
        return fail(FAIL_DATA, "a broken device published used elements; used idx",
                    dev_used_idx(d));
    return 0;
}

int expect_blk_status(Dev *d, uint16_t head, uint8_t status)
{
    if (!dev_wait_used(d, 1))
        return fail(FAIL_OUTCOME, "request not completed; used idx", dev_used_idx(d));
    uint32_t id, len;
    dev_used_elem(d, 0, &id, &len);
    if (id != head)
        return fail(FAIL_DATA, "used element names another chain", id);
    uint8_t got = *phys(BUF_STATUS);
    if (got != status)
        return fail(FAIL_OUTCOME, "wrong request status", got);
    if (dev_read(d, VM_STATUS) & ST_NEEDS_RESET)
        return fail(FAIL_OUTCOME, "device broken by a request with a defined error",
                    dev_read(d, VM_STATUS));
    return 0;
}

uint8_t disk_byte(uint64_t offset)
{
    return (uint8_t)((offset >> 9) * 29 + (offset & 511) * 7 + 0x5a);
}

uint8_t written_byte(unsigned i)
{
    return (uint8_t)(0xc3 + i * 13);
}

bool disk_matches(uint64_t buf, uint64_t sector, size_t len)
{
    volatile uint8_t *p = phys(buf);
    for (size_t i = 0; i < len; i++)
        if (p[i] != disk_byte(sector * SECTOR + i))
            return false;
    return true;
}

void blk_hdr(uint64_t at, uint32_t type, uint64_t sector)
{
    volatile uint8_t *p = phys(at);
    *(volatile uint32_t *)p = type;
    *(volatile uint32_t *)(p + 4) = 0;
    *(volatile uint64_t *)(p + 8) = sector;
    *phys(BUF_STATUS) = 0xff;
}

void blk_chain(uint64_t table, unsigned first, uint32_t type, uint64_t sector, uint32_t len)
{
    uint16_t data_flags = DESC_F_NEXT | (type == BLK_T_IN ? DESC_F_WRITE : 0);
    blk_hdr(BUF_HDR, type, sector);
    desc_put(table, first, BUF_HDR, 16, DESC_F_NEXT, first + 1);
    desc_put(table, first + 1, BUF_DATA, len, data_flags, first + 2);
    desc_put(table, first + 2, BUF_STATUS, 1, DESC_F_WRITE, 0);
}

int recover_blk(Ctx *c)
{
    if (dev_start(&c->blk, FEATS, &queue_default) != 0)
        return FAIL_RECOVER;
    phys_fill(BUF_DATA, 0, SECTOR);
    blk_chain(Q_DESC, 0, BLK_T_IN, 0, SECTOR);
    dev_submit(&c->blk, 0);
    if (expect_blk_status(&c->blk, 0, BLK_S_OK) != 0)
        return FAIL_RECOVER;
    uint32_t id, len;
    dev_used_elem(&c->blk, 0, &id, &len);
    if (len != SECTOR + 1)
        return fail(FAIL_RECOVER, "read of sector 0: used length", len);
    if (!disk_matches(BUF_DATA, 0, SECTOR))
        return fail(FAIL_RECOVER, "read of sector 0: wrong data at", BUF_DATA);
    return 0;
}

int recover_rng(Ctx *c)
{
    if (dev_start(&c->rng, FEATS, &queue_default) != 0)
        return FAIL_RECOVER;
    phys_fill(BUF_DATA, 0, RNG_BYTES);
    desc_put(Q_DESC, 0, BUF_DATA, RNG_BYTES, DESC_F_WRITE, 0);
    dev_submit(&c->rng, 0);
    if (!dev_wait_used(&c->rng, 1))
        return fail(FAIL_RECOVER, "rng request not completed; used idx", dev_used_idx(&c->rng));
    uint32_t id, len;
    dev_used_elem(&c->rng, 0, &id, &len);
    if (id != 0 || len != RNG_BYTES)
        return fail(FAIL_RECOVER, "rng used element: length", len);
    if (phys_all(BUF_DATA, 0, RNG_BYTES))
        return fail(FAIL_RECOVER, "rng wrote only zeros at", BUF_DATA);
    return 0;
}
