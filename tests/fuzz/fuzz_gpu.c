/*
 * libFuzzer target for virtio-gpu (src/virtio/gpu.c, gpu_cmd.c) driven by a
 * hostile driver and read by a front end: the input is a script of actions
 * on a device whose two queues a small driver set up in 1 MiB of guest RAM
 * (queue q's rings at RAM + 0x4000 * q, 16 entries each; request and
 * response buffers from RAM + 0x8000; backing pages from RAM + 0x20000).
 * Each action is one byte b and its operands:
 *
 *   b % 8 = 0  a control command: 1 byte picks the type (of the 2D commands
 *              and a few others), 1 byte the body's length (0..63), the
 *              body, 1 byte the response buffer's length / 8; chained and
 *              kicked (b's bit 3 asks for a fence);
 *          1   a cursor command (update or move by b's bit 3): 32 body bytes;
 *          2   ATTACH_BACKING of a resource (1 byte id): 1 byte entry count
 *              (0..7), each entry 2 bytes of address (RAM + 0x20000 + n * 64:
 *              it may run past RAM) and 2 bytes of length (n * 4);
 *          3   the front end: the dirty rectangle taken, the framebuffer
 *              read whole under the lock, the cursor read;
 *          4   a resize asked by the front end: 2 + 2 bytes (width, height);
 *          5   a raw register write: 1 byte offset / 4, 4 bytes value;
 *          6   the driver resets the device and sets it up again;
 *          7   a raw descriptor at a queue: 1 byte queue, 16 bytes desc, kicked.
 *
 * At the end the device's state is encoded, decoded into a fresh device and
 * committed (pixels rebuilt from the backing in RAM).  Besides ASan/UBSan
 * the target checks that every used length fits its buffer, and that the
 * frame the front end sees lies inside its own pixels, and traps otherwise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util/le.h"
#include "util/log.h"
#include "virtio/gpu.h"
#include "virtio/virtio.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x100000ull
#define QNUM 16
#define BUFS (RAM_BASE + 0x8000)
#define BUFS_END (RAM_BASE + 0x20000)
#define BACKING (RAM_BASE + 0x20000)
#define NQ 2
#define HDR 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Bus bus;

#include "vdriver.h"

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static void quiet(void *opaque, LogLevel level, const char *line, size_t len)
{
}

static uint32_t buf_off; /* bump allocator in the buffer area */

/* A buffer of len bytes (copied from src when not NULL). */
static uint64_t alloc_buf(const uint8_t *src, uint32_t len)
{
    if (BUFS + buf_off + len > BUFS_END)
        buf_off = 0;
    uint64_t pa = BUFS + buf_off;
    if (src)
        memcpy(ram(pa), src, len);
    else
        memset(ram(pa), 0, len);
    buf_off += len;
    return pa;
}

static void write_desc(unsigned q, uint16_t idx, uint64_t pa, uint32_t len, uint16_t flags,
                       uint16_t next)
{
    uint8_t *desc = ram(qarea(q) + 16ull * idx);
    le_put(desc, 8, pa);
    le_put(desc + 8, 4, len);
    le_put(desc + 12, 2, flags);
    le_put(desc + 14, 2, next);
}

static void publish(VirtioMmio *v, unsigned q, uint16_t head)
{
    uint8_t *avail = ram(qarea(q) + 0x1000);
    le_put(avail + 4 + 2 * (drv[q].avail_idx % QNUM), 2, head);
    le_put(avail + 2, 2, ++drv[q].avail_idx);
    wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* A request and its response buffer, chained, on queue q; made available and kicked. */
static void command(VirtioMmio *v, unsigned q, const uint8_t *req, uint32_t len, uint32_t resp)
{
    Drv *d = &drv[q];
    uint16_t head = d->next_desc++ % QNUM, tail = d->next_desc++ % QNUM;
    write_desc(q, head, alloc_buf(req, len), len, 1 /* NEXT */, tail);
    write_desc(q, tail, alloc_buf(NULL, resp), resp, 2 /* WRITE */, 0);
    d->lens[head] = resp > d->lens[head] ? resp : d->lens[head];
    publish(v, q, head);
}

/* Every used element's length fits the writable bytes its chain had. */
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
    VirtioMmioConfig m = {.bus = &bus, .base = 0x10001000};
    VirtioGpuConfig g = {.width = 64, .height = 48};
    Error err;
    VirtioMmio *v = virtio_gpu_new(&m, &g, &err);
    check(v != NULL);
    return v;
}

static void save_and_load(VirtioMmio *v)
{
    const StateDesc *d = v->ops->state;
    size_t len = state_encoded_size(d, d->version, v);
    uint8_t *buf = malloc(len);
    check(buf != NULL);
    state_encode(d, v, buf);
    VirtioMmio *w = make();
    void *staged = malloc(d->size);
    check(staged != NULL);
    memcpy(staged, w, d->size);
    Error err;
    if (state_decode(d, d->version, buf, len, staged, &err) == 0)
        state_commit(d, w, staged);
    free(staged);
    free(buf);
    virtio_mmio_free(w);
}

/* What a VNC server or a screendump does: every byte of the frame it is shown is read. */
static void front_end(VirtioMmio *v)
{
    VirtioGpuRect r;
    virtio_gpu_take_dirty(v, &r);
    VirtioGpuFrame f;
    virtio_gpu_frame_lock(v, &f);
    if (f.pixels) {
        check(f.stride >= (size_t)f.width * 4);
        volatile uint8_t sum = 0;
        for (uint32_t y = 0; y < f.height; y++)
            for (size_t x = 0; x < (size_t)f.width * 4; x++)
                sum += f.pixels[y * f.stride + x];
    }
    virtio_gpu_frame_unlock(v);
    VirtioGpuCursor c;
    virtio_gpu_cursor(v, &c);
}

static const uint32_t types[] = {
    VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
    VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
    VIRTIO_GPU_CMD_RESOURCE_UNREF,
    VIRTIO_GPU_CMD_SET_SCANOUT,
    VIRTIO_GPU_CMD_RESOURCE_FLUSH,
    VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
    VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
    VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
    VIRTIO_GPU_CMD_GET_CAPSET_INFO,
    VIRTIO_GPU_CMD_GET_CAPSET,
    VIRTIO_GPU_CMD_GET_EDID,
    VIRTIO_GPU_CMD_UPDATE_CURSOR,
    0x0200 /* a 3D command */,
    0xdead,
};

/* Up to n bytes of the script into dst (zeros past its end). */
static void take(const uint8_t **p, const uint8_t *end, uint8_t *dst, size_t n)
{
    size_t have = (size_t)(end - *p) < n ? (size_t)(end - *p) : n;
    memcpy(dst, *p, have);
    memset(dst + have, 0, n - have);
    *p += have;
}

static void control(VirtioMmio *v, uint8_t sel, const uint8_t **p, const uint8_t *end,
                    uint8_t flags)
{
    uint8_t req[HDR + 64] = {0}, n = 0, resp = 0;
    take(p, end, &n, 1);
    n %= 64;
    le_put(req, 4, types[sel % (sizeof(types) / sizeof(types[0]))]);
    le_put(req + 4, 4, flags & 1 ? VIRTIO_GPU_FLAG_FENCE : 0);
    le_put(req + 8, 8, sel);
    take(p, end, req + HDR, n);
    take(p, end, &resp, 1);
    command(v, 0, req, HDR + n, resp * 8u);
}

static void attach(VirtioMmio *v, uint8_t id, const uint8_t **p, const uint8_t *end)
{
    uint8_t req[HDR + 8 + 7 * 16] = {0}, n = 0;
    take(p, end, &n, 1);
    n %= 8;
    le_put(req, 4, VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING);
    le_put(req + HDR, 4, id);
    le_put(req + HDR + 4, 4, n);
    for (unsigned i = 0; i < n; i++) {
        uint8_t e[4];
        take(p, end, e, 4);
        le_put(req + HDR + 8 + 16 * i, 8, BACKING + le_get(e, 2) * 64ull);
        le_put(req + HDR + 8 + 16 * i + 8, 4, (uint32_t)le_get(e + 2, 2) * 4);
    }
    command(v, 0, req, HDR + 8 + 16u * n, 24);
}

static void step(VirtioMmio *v, const uint8_t **p, const uint8_t *end)
{
    uint8_t b = *(*p)++, n = 0, buf[24];
    switch (b % 8) {
    case 0:
        take(p, end, &n, 1);
        control(v, n, p, end, b >> 3);
        break;
    case 1: {
        uint8_t req[HDR + 32] = {0};
        le_put(req, 4, b & 8 ? VIRTIO_GPU_CMD_MOVE_CURSOR : VIRTIO_GPU_CMD_UPDATE_CURSOR);
        take(p, end, req + HDR, 32);
        command(v, 1, req, sizeof(req), 24);
        break;
    }
    case 2:
        take(p, end, &n, 1);
        attach(v, n, p, end);
        break;
    case 3: front_end(v); break;
    case 4: {
        Error err;
        take(p, end, buf, 4);
        virtio_gpu_request_resize(v, (uint32_t)le_get(buf, 2), (uint32_t)le_get(buf + 2, 2), &err);
        break;
    }
    case 5:
        take(p, end, buf, 5);
        wr(v, (uint64_t)buf[0] * 4 % 0x200, (uint32_t)le_get(buf + 1, 4));
        break;
    case 6: setup(v); break;
    case 7: {
        take(p, end, buf, 1);
        unsigned q = buf[0] % NQ;
        uint8_t desc[16];
        take(p, end, desc, 16);
        uint16_t idx = drv[q].next_desc++ % QNUM;
        memcpy(ram(qarea(q) + 16ull * idx), desc, 16);
        drv[q].lens[idx] = UINT32_MAX; /* anything goes: the walker bounds it */
        publish(v, q, idx);
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
        log_set_sink(quiet, NULL); /* a hostile command's one line, for every input */
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
    front_end(v);
    save_and_load(v);
    virtio_mmio_free(v);
    return 0;
}
