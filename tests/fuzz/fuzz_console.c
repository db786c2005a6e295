/*
 * libFuzzer target for virtio-console's MULTIPORT device (src/virtio/
 * console.c) driven by a hostile driver: the input is a script of actions
 * on a device whose six queues a small driver set up in 128 KiB of guest
 * RAM (queue q's rings at RAM + 0x4000 * q, 16 entries each; buffers from
 * RAM + 0x18000).  Each action is one byte b and its operands:
 *
 *   b % 8 = 0  a control message: 1 length byte (0..15) then 8 bytes
 *              (id, event, value) on the control transmit queue, kicked;
 *          1   a control receive buffer of 1 length byte (0..255) bytes;
 *          2   output on port (b >> 3) & 1: 1 length byte, that many bytes;
 *          3   a receive buffer of 1 length byte on port (b >> 3) & 1;
 *          4   host input on port (b >> 3) & 1: 1 length byte, from RAM;
 *          5   a raw register write: 1 byte offset / 4, 4 bytes value;
 *          6   the driver resets the device and sets it up again;
 *          7   a raw descriptor at a queue: 1 byte queue, 16 bytes desc, kicked.
 *
 * At the end the device's state is encoded, decoded into a fresh device and
 * committed.  Besides ASan/UBSan the target checks that output only
 * reaches the ports the board has and that every used length fits its
 * buffer, and traps otherwise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util/le.h"
#include "util/log.h"
#include "virtio/console.h"
#include "virtio/virtio.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x20000ull
#define QNUM 16
#define BUFS (RAM_BASE + 0x18000)
#define NQ 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Bus bus;

#include "vdriver.h"
static size_t port_bytes[VIRTIO_CONSOLE_MAX_PORTS];

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static void port_tx(void *opaque, const uint8_t *buf, size_t len)
{
    uintptr_t p = (uintptr_t)opaque;
    check(p == 1); /* port 0 is absent on this board */
    port_bytes[p] += len;
}

static void port_writable(void *opaque)
{
}

static void quiet(void *opaque, LogLevel level, const char *line, size_t len)
{
}

static uint32_t buf_off; /* bump allocator in the buffer area */

/* A buffer of len bytes (copied from src when not NULL). */
static uint64_t alloc_buf(const uint8_t *src, uint32_t len)
{
    if (buf_off + len > RAM_SIZE - (BUFS - RAM_BASE))
        buf_off = 0;
    uint64_t pa = BUFS + buf_off;
    if (src)
        memcpy(ram(pa), src, len);
    buf_off += len;
    return pa;
}

/* One descriptor chain of one buffer on queue q, made available and kicked. */
static void add(VirtioMmio *v, unsigned q, uint64_t pa, uint32_t len, bool write)
{
    Drv *d = &drv[q];
    uint16_t idx = d->next_desc++ % QNUM;
    uint8_t *desc = ram(qarea(q) + 16ull * idx);
    le_put(desc, 8, pa);
    le_put(desc + 8, 4, len);
    le_put(desc + 12, 2, write ? 2 : 0);
    le_put(desc + 14, 2, 0);
    if (write && len > d->lens[idx])
        d->lens[idx] = len;
    uint8_t *avail = ram(qarea(q) + 0x1000);
    le_put(avail + 4 + 2 * (d->avail_idx % QNUM), 2, idx);
    le_put(avail + 2, 2, ++d->avail_idx);
    wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* Every used element's length fits the largest buffer its descriptor had. */
static void check_used(void)
{
    for (unsigned q = 0; q < NQ; q++) {
        const uint8_t *used = ram(qarea(q) + 0x2000);
        uint16_t n = (uint16_t)le_get(used + 2, 2);
        for (uint16_t i = 0; i < n && i < QNUM; i++) {
            uint32_t id = (uint32_t)le_get(used + 4 + 8 * i, 4);
            uint32_t len = (uint32_t)le_get(used + 8 + 8 * i, 4);
            check(id < QNUM && len <= drv[q].lens[id]);
        }
    }
}

static VirtioMmio *make(void)
{
    VirtioConsoleConfig cfg = {
        .ports = {{.present = false, .console = true, .tx = port_tx, .opaque = (void *)0},
                  {.present = true,
                   .name = "org.qemu.guest_agent.0",
                   .tx = port_tx,
                   .writable = port_writable,
                   .opaque = (void *)1}}};
    VirtioMmioConfig m = {.bus = &bus, .base = 0x10001000};
    Error err;
    VirtioMmio *v = virtio_console_new(&m, &cfg, &err);
    check(v != NULL);
    return v;
}

static void save_and_load(VirtioMmio *v)
{
    const StateDesc *d = &virtio_console_state_desc;
    size_t len = state_encoded_size(d, d->version, v);
    uint8_t *buf = malloc(len);
    check(buf != NULL);
    state_encode(d, v, buf);
    VirtioMmio *w = make();
    void *staged = malloc(d->size);
    check(staged != NULL);
    memcpy(staged, w, d->size);
    Error err;
    check(state_decode(d, d->version, buf, len, staged, &err) == 0);
    state_commit(d, w, staged);
    free(staged);
    free(buf);
    virtio_mmio_free(w);
}

static void step(VirtioMmio *v, const uint8_t **p, const uint8_t *end)
{
    uint8_t b = *(*p)++;
    unsigned port = (b >> 3) & 1, q;
    uint8_t n = *p < end ? *(*p)++ : 0, tmp[256];
    switch (b % 8) {
    case 0: {
        uint8_t msg[16] = {0};
        size_t have = (size_t)(end - *p) < 8 ? (size_t)(end - *p) : 8;
        memcpy(msg, *p, have);
        *p += have;
        add(v, 3, alloc_buf(msg, n % 16), n % 16, false);
        break;
    }
    case 1: add(v, 2, alloc_buf(NULL, n), n, true); break;
    case 2: {
        size_t have = (size_t)(end - *p) < n ? (size_t)(end - *p) : n;
        add(v, port ? 5 : 1, alloc_buf(*p, (uint32_t)have), (uint32_t)have, false);
        *p += have;
        break;
    }
    case 3: add(v, port ? 4 : 0, alloc_buf(NULL, n), n, true); break;
    case 4:
        memset(tmp, 'x', n);
        check(virtio_console_port_receive(v, port, tmp, n) <= n);
        break;
    case 5: {
        uint8_t val[4] = {0};
        size_t have = (size_t)(end - *p) < 4 ? (size_t)(end - *p) : 4;
        memcpy(val, *p, have);
        *p += have;
        wr(v, (uint64_t)n * 4 % 0x200, (uint32_t)le_get(val, 4));
        break;
    }
    case 6: setup(v); break;
    case 7: {
        q = n % NQ;
        uint8_t desc[16] = {0};
        size_t have = (size_t)(end - *p) < 16 ? (size_t)(end - *p) : 16;
        memcpy(desc, *p, have);
        *p += have;
        uint16_t idx = drv[q].next_desc++ % QNUM;
        memcpy(ram(qarea(q) + 16ull * idx), desc, 16);
        drv[q].lens[idx] = UINT32_MAX; /* anything goes: the walker bounds it */
        uint8_t *avail = ram(qarea(q) + 0x1000);
        le_put(avail + 4 + 2 * (drv[q].avail_idx % QNUM), 2, idx);
        le_put(avail + 2, 2, ++drv[q].avail_idx);
        wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, q);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        Error err;
        if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0)
            return 0;
        log_set_sink(quiet, NULL); /* a hostile message's one line, for every input */
        ready = true;
    }
    memset(bus.ram, 0, RAM_SIZE);
    buf_off = 0;
    VirtioMmio *v = make();
    setup(v);
    const uint8_t *p = data, *end = data + size;
    while (p < end)
        step(v, &p, end);
    check_used();
    save_and_load(v);
    virtio_mmio_free(v);
    return 0;
}
