/*
 * HTIF device (Spike fesvr / QEMU hw/char/riscv_htif.c semantics).
 *
 * A command is the 64-bit value written to tohost:
 *   device = bits 63..56, command = bits 55..48, payload = bits 47..0.
 * It is taken when the upper half has been written (a 64-bit sd, or the
 * second of two 32-bit sw); the low half alone is only stored.  Supported:
 *   device 0 command 0, payload odd:  exit with code payload >> 1 (0 = pass);
 *   device 0 command 0, payload even: payload is the guest-physical address
 *       of a syscall block uint64_t magic[8] = {n, a0, a1, a2, ...}:
 *       SYS_write (64) to fd 1 or 2 and SYS_exit (93); the return value goes
 *       to magic[0] and fromhost becomes 1;
 *   device 1 command 1: console putchar(payload & 0xff); fromhost becomes
 *       device/command | 0x100 | char, as Spike and QEMU answer.
 * Anything else is logged once and ignored.  tohost reads back 0 after a
 * command has been taken.
 */
#include "hw/htif.h"
#include "util/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define HTIF_PAYLOAD_MASK ((1ull << 48) - 1)
#define HTIF_SYS_WRITE 64
#define HTIF_SYS_EXIT 93
#define HTIF_MAGIC_WORDS 8

struct Htif {
    HtifConfig cfg;
    uint64_t tohost;   /* pending (partially written) command */
    uint64_t fromhost; /* last response; the guest clears it */
    bool warned;       /* an unsupported request was logged already */
};

Htif *htif_new(const HtifConfig *cfg)
{
    Htif *h = calloc(1, sizeof(*h));
    if (h)
        h->cfg = *cfg;
    return h;
}

void htif_free(Htif *h)
{
    free(h);
}

void htif_reset(Htif *h)
{
    h->tohost = h->fromhost = 0;
}

static void htif_warn_once(Htif *h, const char *what, uint64_t value)
{
    if (!h->warned)
        log_warn("HTIF: %s 0x%llx ignored (further ones silently)", what,
                 (unsigned long long)value);
    h->warned = true;
}

/* SYS_write(fd, buf, len): returns len or a negative errno, as the proxy kernel does. */
static int64_t htif_sys_write(Htif *h, uint64_t fd, uint64_t buf, uint64_t len)
{
    if (fd != 1 && fd != 2)
        return -EBADF;
    const uint8_t *p = bus_ram_ptr(h->cfg.bus, buf, len);
    if (!p)
        return -EFAULT;
    (fd == 1 ? h->cfg.out : h->cfg.err)(h->cfg.out_opaque, p, len);
    return (int64_t)len;
}

static void htif_exit(Htif *h, uint64_t code)
{
    h->cfg.exit(h->cfg.opaque, code != 0, (int)(code & 0x7fffffff));
}

/* Run the syscall block at guest-physical address pa. */
static void htif_syscall(Htif *h, uint64_t pa)
{
    const uint8_t *block = bus_ram_ptr(h->cfg.bus, pa, HTIF_MAGIC_WORDS * 8);
    if (!block || pa % 8) {
        htif_warn_once(h, "syscall block outside RAM or misaligned at", pa);
        h->fromhost = 1;
        return;
    }
    uint64_t magic[HTIF_MAGIC_WORDS];
    memcpy(magic, block, sizeof(magic));
    int64_t ret;
    switch (magic[0]) {
    case HTIF_SYS_WRITE: ret = htif_sys_write(h, magic[1], magic[2], magic[3]); break;
    case HTIF_SYS_EXIT: htif_exit(h, magic[1]); return;
    default: htif_warn_once(h, "unsupported syscall", magic[0]); ret = -ENOSYS;
    }
    bus_write(h->cfg.bus, pa, 8, (uint64_t)ret);
    h->fromhost = 1;
}

static void htif_putchar(Htif *h, uint64_t command, uint8_t ch)
{
    h->cfg.out(h->cfg.out_opaque, &ch, 1);
    h->fromhost = (command >> 48 << 48) | 0x100 | ch;
}

static void htif_command(Htif *h, uint64_t command)
{
    unsigned device = command >> 56, cmd = (command >> 48) & 0xff;
    uint64_t payload = command & HTIF_PAYLOAD_MASK;
    if (device == 0 && cmd == 0 && (payload & 1))
        htif_exit(h, payload >> 1);
    else if (device == 0 && cmd == 0)
        htif_syscall(h, payload);
    else if (device == 1 && cmd == 1)
        htif_putchar(h, command, payload & 0xff);
    else
        htif_warn_once(h, "unsupported command", command);
}

static uint64_t htif_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Replace size bytes at byte offset of word with value. */
static uint64_t htif_merge(uint64_t word, uint64_t offset, unsigned size, uint64_t value)
{
    unsigned shift = (unsigned)offset * 8;
    uint64_t mask = htif_mask(size) << shift;
    return (word & ~mask) | ((value << shift) & mask);
}

static bool htif_tohost_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    Htif *h = opaque;
    *value = (h->tohost >> (offset * 8)) & htif_mask(size);
    return true;
}

static bool htif_tohost_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    Htif *h = opaque;
    h->tohost = htif_merge(h->tohost, offset, size, value);
    if (offset + size == HTIF_REG_SIZE) {
        uint64_t command = h->tohost;
        h->tohost = 0;
        if (command)
            htif_command(h, command);
    }
    return true;
}

static bool htif_fromhost_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    Htif *h = opaque;
    *value = (h->fromhost >> (offset * 8)) & htif_mask(size);
    return true;
}

static bool htif_fromhost_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    Htif *h = opaque;
    h->fromhost = htif_merge(h->fromhost, offset, size, value);
    return true;
}

const MmioOps htif_tohost_ops = {
    .read = htif_tohost_read,
    .write = htif_tohost_write,
};

const MmioOps htif_fromhost_ops = {
    .read = htif_fromhost_read,
    .write = htif_fromhost_write,
};
