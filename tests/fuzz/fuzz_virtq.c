/*
 * libFuzzer target for the split virtqueue walker.  The input is a queue
 * setup, a small script of driver/device actions and the initial content
 * of a 16 KiB guest RAM:
 *
 *   0  u16 queue size           2  u8 flags (1 = INDIRECT_DESC, 2 = EVENT_IDX)
 *   3  u8 script length n       4  i32 x3: desc, avail, used addresses - RAM base
 *   16 script[n]                16+n  RAM image (zero-padded)
 *
 * Script byte b: action b & 3, argument b >> 2:
 *   0 pop up to arg % 8 + 1 chains, touch every buffer, push them back
 *     (keep them in flight instead when arg >= 48);
 *   1 the driver advances the available index by arg;
 *   2 ask whether an interrupt is due;
 *   3 reset the queue and enable it again (or leave it disabled if arg is odd).
 *
 * Besides ASan/UBSan, the target checks that every popped buffer lies
 * inside guest RAM and that the element's bookkeeping is consistent, and
 * traps otherwise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtq.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x4000ull
#define HDR_SIZE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Bus bus;
static Virtq q;
static VirtqElem elem;
static uint8_t scratch[4096];

static void on_fail(void *opaque, unsigned index, const char *msg)
{
}

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static uint64_t addr_of(const uint8_t *p)
{
    int32_t off;
    memcpy(&off, p, 4);
    return RAM_BASE + (uint64_t)(int64_t)off;
}

/* Every segment inside RAM, gpa consistent, counts and totals consistent. */
static void check_elem(const VirtqElem *e)
{
    uint64_t out = 0, in = 0;
    check(e->n_out + e->n_in <= q.num && e->head < q.num);
    for (unsigned i = 0; i < e->n_out + e->n_in; i++) {
        const uint8_t *p = e->iov[i].iov_base;
        size_t len = e->iov[i].iov_len;
        check(len > 0 && p >= bus.ram && len <= RAM_SIZE &&
              p - bus.ram <= (ptrdiff_t)(RAM_SIZE - len));
        check(e->gpa[i] - RAM_BASE == (uint64_t)(p - bus.ram));
        *(i < e->n_out ? &out : &in) += len;
    }
    check(out == e->out_len && in == e->in_len);
}

/* Read all readable bytes, fill all writable ones, slice both parts. */
static void touch_elem(const VirtqElem *e)
{
    for (uint64_t off = 0; off < e->out_len; off += sizeof(scratch))
        virtq_elem_read(e, off, scratch, sizeof(scratch));
    memset(scratch, 0xa5, sizeof(scratch));
    for (uint64_t off = 0; off < e->in_len; off += sizeof(scratch))
        virtq_elem_write(e, off, scratch, sizeof(scratch));
    static struct iovec iov[VIRTQ_MAX_SIZE];
    if (e->out_len > 1)
        check(virtq_elem_slice(e, false, 1, e->out_len - 1, iov, VIRTQ_MAX_SIZE) >= 0);
    check(virtq_elem_slice(e, true, 0, e->in_len + 1, iov, VIRTQ_MAX_SIZE) == -1);
}

static void op_pop(unsigned arg)
{
    for (unsigned i = 0; i <= arg % 8; i++) {
        if (virtq_pop(&q, &elem) != 1)
            return;
        check_elem(&elem);
        touch_elem(&elem);
        if (arg < 48)
            virtq_push(&q, &elem, arg * 97u);
    }
}

static void op_advance(unsigned arg)
{
    uint8_t *idx = bus_ram_ptr(&bus, q.avail_addr + 2, 2);
    if (idx && (q.avail_addr & 1) == 0) {
        uint16_t v;
        memcpy(&v, idx, 2);
        v = (uint16_t)(v + arg);
        memcpy(idx, &v, 2);
    }
}

static void setup_queue(const uint8_t *hdr)
{
    virtq_reset(&q);
    memcpy(&q.num, hdr, 2);
    q.desc_addr = addr_of(hdr + 4);
    q.avail_addr = addr_of(hdr + 8);
    q.used_addr = addr_of(hdr + 12);
    virtq_enable(&q, hdr[2] & 1, hdr[2] & 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!bus.ram) {
        Error err;
        if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0)
            abort();
        virtq_init(&q, &bus, 0, VIRTQ_MAX_SIZE, on_fail, NULL);
    }
    if (size < HDR_SIZE)
        return 0;
    size_t nscript = data[3];
    if (size < HDR_SIZE + nscript)
        return 0;
    const uint8_t *script = data + HDR_SIZE, *image = script + nscript;
    size_t image_len = size - HDR_SIZE - nscript;
    memset(bus.ram, 0, RAM_SIZE);
    memcpy(bus.ram, image, image_len < RAM_SIZE ? image_len : RAM_SIZE);
    setup_queue(data);
    for (size_t i = 0; i < nscript; i++) {
        unsigned arg = script[i] >> 2;
        switch (script[i] & 3) {
        case 0: op_pop(arg); break;
        case 1: op_advance(arg); break;
        case 2: virtq_need_irq(&q); break;
        default:
            setup_queue(data);
            if (arg & 1)
                virtq_disable(&q);
            break;
        }
    }
    return 0;
}
