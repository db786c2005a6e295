/*
 * Split virtqueue core: ring setup checks, the bounded descriptor-chain
 * walker, used-ring publication and the interrupt decision.  See virtq.h
 * for the contract; every guest value is copied out of RAM once and then
 * checked, so a driver changing a descriptor behind our back cannot make
 * us use an unchecked value.
 */
#include "virtio/virtq.h"

#include <endian.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "state/state.h"

/* Offsets inside the areas (virtio 1.2, 2.7.5-2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_IDX 2
#define USED_RING 4

/* A descriptor copied out of guest memory. */
typedef struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} Desc;

/* ---- guest memory accessors (areas are aligned by virtq_enable's checks) ---- */

static uint16_t load16(const uint8_t *p, int order)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, order));
}

static void store16(uint8_t *p, uint16_t v, int order)
{
    __atomic_store_n((uint16_t *)p, htole16(v), order);
}

static void store32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

static Desc desc_load(const uint8_t *table, unsigned i)
{
    const uint8_t *p = table + (size_t)i * VIRTQ_DESC_SIZE;
    Desc d;
    memcpy(&d.addr, p, 8);
    memcpy(&d.len, p + 8, 4);
    memcpy(&d.flags, p + 12, 2);
    memcpy(&d.next, p + 14, 2);
    d.addr = le64toh(d.addr);
    d.len = le32toh(d.len);
    d.flags = le16toh(d.flags);
    d.next = le16toh(d.next);
    return d;
}

/* Byte offset of used_event in the available ring / avail_event in the used ring. */
static size_t used_event_off(const Virtq *q)
{
    return AVAIL_RING + 2u * q->num;
}
static size_t avail_event_off(const Virtq *q)
{
    return USED_RING + 8u * q->num;
}

/* ---- errors ---- */

/* Mark the queue broken and report why, once.  Returns -1. */
static int virtq_fail(Virtq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int virtq_fail(Virtq *q, const char *fmt, ...)
{
    if (q->broken)
        return -1;
    q->broken = true;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (q->fail)
        q->fail(q->fail_opaque, q->index, msg);
    return -1;
}

/* ---- setup ---- */

void virtq_init(Virtq *q, Bus *bus, unsigned index, uint16_t max, VirtqFailFn fail, void *opaque)
{
    memset(q, 0, sizeof(*q));
    q->bus = bus;
    q->index = index;
    q->max = max > VIRTQ_MAX_SIZE ? VIRTQ_MAX_SIZE : max;
    q->fail = fail;
    q->fail_opaque = opaque;
    virtq_reset(q);
}

void virtq_reset(Virtq *q)
{
    uint32_t gen = q->gen + 1;
    q->num = q->max;
    q->num_written = q->max;
    q->desc_addr = q->avail_addr = q->used_addr = 0;
    q->ready = q->broken = q->indirect = q->event_idx = false;
    q->desc = q->avail = q->used = NULL;
    q->last_avail = q->used_idx = q->inuse = q->signalled_used = 0;
    q->signalled_valid = false;
    q->gen = gen;
}

/* Host pointer to an area of the queue, or NULL after failing the queue. */
static uint8_t *virtq_area(Virtq *q, const char *what, uint64_t addr, uint64_t len, uint64_t align)
{
    if (addr % align) {
        virtq_fail(q, "%s area 0x%llx is not %llu-byte aligned", what, (unsigned long long)addr,
                   (unsigned long long)align);
        return NULL;
    }
    uint8_t *p = bus_ram_ptr(q->bus, addr, len);
    if (!p)
        virtq_fail(q, "%s area 0x%llx+0x%llx is outside RAM", what, (unsigned long long)addr,
                   (unsigned long long)len);
    return p;
}

bool virtq_enable(Virtq *q, bool indirect, bool event_idx)
{
    unsigned n = q->num;
    if (n == 0 || n > q->max || (n & (n - 1))) {
        /* a QueueNum above 16 bits is stored as 0: report what was written */
        unsigned shown = q->num_written > 0xffff ? q->num_written : n;
        virtq_fail(q, "queue size %u: must be a power of two in 1..%u", shown, q->max);
        return false;
    }
    q->desc = virtq_area(q, "descriptor", q->desc_addr, (uint64_t)VIRTQ_DESC_SIZE * n, 16);
    q->avail = q->desc ? virtq_area(q, "driver", q->avail_addr, 6 + 2ull * n, 2) : NULL;
    q->used = q->avail ? virtq_area(q, "device", q->used_addr, 6 + 8ull * n, 4) : NULL;
    if (!q->used)
        return false;
    q->indirect = indirect;
    q->event_idx = event_idx;
    q->last_avail = q->used_idx = q->inuse = 0;
    q->signalled_valid = false;
    q->ready = true;
    q->gen++;
    return true;
}

bool virtq_remap(Virtq *q)
{
    q->desc = q->avail = q->used = NULL;
    q->gen++;
    if (!q->ready || q->broken)
        return true;
    unsigned n = q->num, last = q->last_avail, used = q->used_idx;
    bool indirect = q->indirect, event_idx = q->event_idx, sig = q->signalled_valid;
    uint16_t signalled = q->signalled_used;
    if (!virtq_enable(q, indirect, event_idx))
        return false;
    q->num = (uint16_t)n;
    q->last_avail = (uint16_t)last;
    q->used_idx = (uint16_t)used;
    q->signalled_used = signalled;
    q->signalled_valid = sig;
    return true;
}

void virtq_disable(Virtq *q)
{
    q->ready = false;
    q->gen++;
}

/* ---- popping a chain ---- */

/* Append one (non-indirect) descriptor's buffer to e. */
static int elem_add(Virtq *q, VirtqElem *e, const Desc *d)
{
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    if (!writable && e->n_in)
        return virtq_fail(q, "chain %u has a device-readable buffer after a writable one", e->head);
    uint64_t *total = writable ? &e->in_len : &e->out_len;
    if (d->len > VIRTQ_MAX_CHAIN_BYTES - *total)
        return virtq_fail(q, "chain %u has more than 4 GiB of %s buffers", e->head,
                          writable ? "writable" : "readable");
    if (d->len == 0)
        return 0;
    uint8_t *p = bus_ram_ptr(q->bus, d->addr, d->len);
    if (!p)
        return virtq_fail(q, "chain %u: buffer 0x%llx+0x%x is outside RAM", e->head,
                          (unsigned long long)d->addr, d->len);
    unsigned i = e->n_out + e->n_in; /* < q->num <= VIRTQ_MAX_SIZE: the walk counts */
    e->iov[i] = (struct iovec){.iov_base = p, .iov_len = d->len};
    e->gpa[i] = d->addr;
    *total += d->len;
    if (writable)
        e->n_in++;
    else
        e->n_out++;
    return 0;
}

/* Check an indirect descriptor and switch the walk to its table. */
static int enter_indirect(Virtq *q, const VirtqElem *e, const Desc *d, bool nested,
                          const uint8_t **table, unsigned *size)
{
    if (!q->indirect)
        return virtq_fail(q, "chain %u uses an indirect table without INDIRECT_DESC", e->head);
    if (nested)
        return virtq_fail(q, "chain %u has an indirect descriptor inside an indirect table",
                          e->head);
    if (d->flags & VIRTQ_DESC_F_NEXT)
        return virtq_fail(q, "chain %u has an indirect descriptor with NEXT set", e->head);
    if (d->len == 0 || d->len % VIRTQ_DESC_SIZE || d->len / VIRTQ_DESC_SIZE > q->num)
        return virtq_fail(q, "chain %u: indirect table of %u bytes (need 16..%u, multiple of 16)",
                          e->head, d->len, (unsigned)q->num * VIRTQ_DESC_SIZE);
    *table = bus_ram_ptr(q->bus, d->addr, d->len);
    if (!*table)
        return virtq_fail(q, "chain %u: indirect table 0x%llx+0x%x is outside RAM", e->head,
                          (unsigned long long)d->addr, d->len);
    *size = d->len / VIRTQ_DESC_SIZE;
    return 0;
}

/*
 * Walk the chain starting at e->head.  At most q->num buffer descriptors
 * are accepted in all (direct and indirect together, as the spec bounds a
 * chain by the queue size), which also ends any loop.
 */
static int walk_chain(Virtq *q, VirtqElem *e)
{
    const uint8_t *table = q->desc;
    unsigned size = q->num, i = e->head, count = 0;
    bool in_indirect = false;
    for (;;) {
        if (i >= size)
            return virtq_fail(q, "chain %u: descriptor index %u out of range (table of %u)",
                              e->head, i, size);
        Desc d = desc_load(table, i);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (enter_indirect(q, e, &d, in_indirect, &table, &size) < 0)
                return -1;
            in_indirect = true;
            i = 0;
            continue;
        }
        if (++count > q->num)
            return virtq_fail(q, "chain %u is longer than the queue size %u (a loop?)", e->head,
                              q->num);
        if (elem_add(q, e, &d) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        i = d.next;
    }
}

/* The driver's available index, checked against our position. -1 if it jumped too far. */
static int avail_pending(Virtq *q)
{
    uint16_t idx = load16(q->avail + AVAIL_IDX, __ATOMIC_ACQUIRE);
    uint16_t pending = (uint16_t)(idx - q->last_avail);
    if (pending > q->num)
        return virtq_fail(q, "available index moved from %u to %u (queue size %u)", q->last_avail,
                          idx, q->num);
    return pending;
}

/* Write avail_event: ask the driver to notify when it adds slot last_avail. */
static void set_avail_event(Virtq *q)
{
    size_t off = avail_event_off(q);
    store16(q->used + off, q->last_avail, __ATOMIC_RELAXED);
    bus_notify_dma_write(q->bus, q->used_addr + off, 2);
}

/* Pending chains; with EVENT_IDX an empty queue re-arms the driver's notification. */
static int avail_wait(Virtq *q)
{
    int pending = avail_pending(q);
    if (pending != 0 || !q->event_idx)
        return pending;
    set_avail_event(q);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* avail_event store before the idx re-read */
    return avail_pending(q);
}

int virtq_avail(Virtq *q)
{
    if (q->broken)
        return -1;
    return q->ready ? avail_wait(q) : 0;
}

int virtq_pop(Virtq *q, VirtqElem *e)
{
    if (q->broken)
        return -1;
    if (!q->ready)
        return 0;
    int pending = avail_wait(q);
    if (pending <= 0)
        return pending;
    if (q->inuse >= q->num)
        return virtq_fail(q, "more than %u chains in flight", q->num);
    uint16_t slot = q->last_avail % q->num;
    uint16_t head = load16(q->avail + AVAIL_RING + 2u * slot, __ATOMIC_RELAXED);
    q->last_avail++;
    if (q->event_idx)
        set_avail_event(q);
    e->head = head;
    e->gen = q->gen;
    e->n_out = e->n_in = 0;
    e->out_len = e->in_len = 0;
    if (head >= q->num)
        return virtq_fail(q, "head descriptor index %u out of range (size %u)", head, q->num);
    if (walk_chain(q, e) < 0)
        return -1;
    q->inuse++;
    return 1;
}

/* ---- returning a chain ---- */

/* Tell the bus which guest bytes the device wrote: the first `written` writable bytes. */
static void elem_notify_dma(Virtq *q, const VirtqElem *e, uint64_t written)
{
    for (unsigned i = e->n_out; i < e->n_out + e->n_in && written; i++) {
        uint64_t n = e->iov[i].iov_len < written ? e->iov[i].iov_len : written;
        bus_notify_dma_write(q->bus, e->gpa[i], n);
        written -= n;
    }
}

void virtq_push(Virtq *q, const VirtqElem *e, uint32_t written)
{
    if (!q->ready || q->broken || e->gen != q->gen)
        return;
    if (written > e->in_len)
        written = (uint32_t)e->in_len;
    elem_notify_dma(q, e, written);
    size_t off = USED_RING + 8u * (q->used_idx % q->num);
    store32(q->used + off, e->head);
    store32(q->used + off + 4, written);
    bus_notify_dma_write(q->bus, q->used_addr + off, 8);
    bus_notify_dma_write(q->bus, q->used_addr + USED_IDX, 2);
    q->used_idx++;
    store16(q->used + USED_IDX, q->used_idx, __ATOMIC_RELEASE); /* element before idx */
    if (q->inuse)
        q->inuse--;
}

bool virtq_need_irq(Virtq *q)
{
    if (!q->ready || q->broken)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* used idx store before the flags/event read */
    if (!q->event_idx)
        return !(load16(q->avail + AVAIL_FLAGS, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t old = q->signalled_used, now = q->used_idx;
    bool valid = q->signalled_valid;
    q->signalled_used = now;
    q->signalled_valid = true;
    uint16_t event = load16(q->avail + used_event_off(q), __ATOMIC_RELAXED);
    return !valid || (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

/* ---- copying to and from a chain ---- */

/* Copy between buf and segments [first, first+n) of e starting at offset. */
static size_t elem_copy(const VirtqElem *e, unsigned first, unsigned n, uint64_t offset, void *buf,
                        size_t len, bool to_guest)
{
    size_t done = 0;
    for (unsigned i = first; i < first + n && done < len; i++) {
        size_t seg = e->iov[i].iov_len;
        if (offset >= seg) {
            offset -= seg;
            continue;
        }
        size_t k = seg - offset < len - done ? seg - offset : len - done;
        uint8_t *g = (uint8_t *)e->iov[i].iov_base + offset;
        if (to_guest)
            memcpy(g, (uint8_t *)buf + done, k);
        else
            memcpy((uint8_t *)buf + done, g, k);
        done += k;
        offset = 0;
    }
    return done;
}

size_t virtq_elem_read(const VirtqElem *e, uint64_t offset, void *buf, size_t len)
{
    return elem_copy(e, 0, e->n_out, offset, buf, len, false);
}

size_t virtq_elem_write(const VirtqElem *e, uint64_t offset, const void *buf, size_t len)
{
    return elem_copy(e, e->n_out, e->n_in, offset, (void *)buf, len, true);
}

int virtq_elem_slice(const VirtqElem *e, bool writable, uint64_t offset, uint64_t len,
                     struct iovec *out, unsigned max)
{
    unsigned first = writable ? e->n_out : 0, n = writable ? e->n_in : e->n_out;
    uint64_t total = writable ? e->in_len : e->out_len;
    if (offset > total || len > total - offset)
        return -1;
    unsigned k = 0;
    for (unsigned i = first; i < first + n && len; i++) {
        uint64_t seg = e->iov[i].iov_len;
        if (offset >= seg) {
            offset -= seg;
            continue;
        }
        if (k == max)
            return -1;
        uint64_t take = seg - offset < len ? seg - offset : len;
        out[k++] =
            (struct iovec){.iov_base = (uint8_t *)e->iov[i].iov_base + offset, .iov_len = take};
        len -= take;
        offset = 0;
    }
    return (int)k;
}

/* ---- state ---- */

static int virtq_state_check(const void *staged, Error *err)
{
    const Virtq *q = staged;
    if (q->num == 0 || q->num > q->max || (q->num & (q->num - 1)))
        return error_set(err, "virtq %u: size %u is not a power of two in 1..%u", q->index, q->num,
                         q->max);
    /* Devices finish every chain before a save: none can be in flight. */
    if (q->ready && !q->broken && q->last_avail != q->used_idx)
        return error_set(err, "virtq %u: %u chains in flight", q->index,
                         (uint16_t)(q->last_avail - q->used_idx));
    return 0;
}

static const StateField virtq_fields[] = {
    STATE_FIELD(Virtq, num, STATE_U16),
    STATE_FIELD(Virtq, desc_addr, STATE_U64),
    STATE_FIELD(Virtq, avail_addr, STATE_U64),
    STATE_FIELD(Virtq, used_addr, STATE_U64),
    STATE_FIELD(Virtq, ready, STATE_BOOL),
    STATE_FIELD(Virtq, broken, STATE_BOOL),
    STATE_FIELD(Virtq, indirect, STATE_BOOL),
    STATE_FIELD(Virtq, event_idx, STATE_BOOL),
    STATE_FIELD(Virtq, last_avail, STATE_U16),
    STATE_FIELD(Virtq, used_idx, STATE_U16),
    STATE_FIELD(Virtq, signalled_used, STATE_U16),
    STATE_FIELD(Virtq, signalled_valid, STATE_BOOL),
    STATE_END,
};

static void virtq_state_reset(void *obj)
{
    virtq_reset(obj);
}

const StateDesc virtq_state_desc = {
    .name = "virtq",
    .version = 1,
    .min_version = 1,
    .size = sizeof(Virtq),
    .fields = virtq_fields,
    .check = virtq_state_check,
    .reset = virtq_state_reset,
};
