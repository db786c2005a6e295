/*
 * virtio-gpu driven through its virtqueues the way a guest driver does:
 * display info, EDID (checksum, preferred mode), a full create -> attach
 * -> set_scanout -> transfer -> flush sequence checked through the
 * front-end API (framebuffer and dirty rectangle), fences, the cursor,
 * a resize request, reset, a state save and restore; and every hostile
 * request answered with its error while the device stays up.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "tap.h"
#include "vfake.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)
#define QAREA(q) (RAM_BASE + 0x10000ull * (q))
#define REQ (RAM_BASE + 0x40000)
#define RESP (RAM_BASE + 0x50000)
#define FB (RAM_BASE + 0x100000)     /* resource 1's backing, in three pieces */
#define CURSOR (RAM_BASE + 0x200000) /* resource 2's backing */
#define W 64
#define H 32
#define STRIDE (W * 4)

static Bus bus;
static VFakeIrq irq;
static VirtioMmio *v;
static VFakeQueue ctrlq, curq;
static uint8_t rq[4096];
static uint32_t last_len; /* used length of the last command */

/* The three backing pieces of resource 1: offset in the resource, guest address, length. */
static const struct {
    uint32_t off;
    uint64_t addr;
    uint32_t len;
} pieces[3] = {{0, FB + 0x10000, 3000}, {3000, FB, 2000}, {5000, FB + 0x20000, W *H * 4 - 5000}};

static void put32(uint8_t *p, uint32_t x)
{
    x = htole32(x);
    memcpy(p, &x, 4);
}

static void put64(uint8_t *p, uint64_t x)
{
    x = htole64(x);
    memcpy(p, &x, 8);
}

static uint32_t get32(uint64_t pa)
{
    return vfake_get32(&bus, pa);
}

/* Start a request of type in rq (zeroed), with flags and fence id. */
static void hdr(uint32_t type, uint32_t flags, uint64_t fence)
{
    memset(rq, 0, sizeof(rq));
    put32(rq, type);
    put32(rq + 4, flags);
    put64(rq + 8, fence);
}

/* Send rq (len bytes) on queue d with a resp_len-byte response buffer; the response type. */
static uint32_t send_on(VFakeQueue *d, size_t len, uint32_t resp_len)
{
    memcpy(vfake_ram(&bus, REQ), rq, len);
    memset(vfake_ram(&bus, RESP), 0xee, 2048);
    VFakeSeg s[2] = {{REQ, (uint32_t)len, false}, {RESP, resp_len, true}};
    uint16_t before = vfake_used_idx(d);
    vfake_add(d, s, resp_len ? 2 : 1);
    vfake_kick(d);
    if (vfake_used_idx(d) != (uint16_t)(before + 1))
        return 0xdead;
    last_len = vfake_used_len(d, before);
    d->used_seen++;
    return last_len >= 4 ? get32(RESP) : 0;
}

static uint32_t sendc(size_t len)
{
    return send_on(&ctrlq, len, 2048);
}

static uint32_t create(uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
    hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 0, 0);
    put32(rq + 24, id);
    put32(rq + 28, format);
    put32(rq + 32, w);
    put32(rq + 36, h);
    return sendc(40);
}

/* ATTACH_BACKING of n (addr, len) entries; sent = entries actually in the request. */
static uint32_t attach(uint32_t id, uint32_t n, const uint64_t *addr, const uint32_t *len,
                       uint32_t sent)
{
    hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, 0, 0);
    put32(rq + 24, id);
    put32(rq + 28, n);
    for (uint32_t i = 0; i < sent; i++) {
        put64(rq + 32 + 16 * i, addr[i]);
        put32(rq + 40 + 16 * i, len[i]);
    }
    return sendc(32 + 16 * sent);
}

static uint32_t rect_cmd(uint32_t type, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    hdr(type, 0, 0);
    put32(rq + 24, x);
    put32(rq + 28, y);
    put32(rq + 32, w);
    put32(rq + 36, h);
    return 0;
}

static uint32_t set_scanout(uint32_t scanout, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
                            uint32_t h)
{
    rect_cmd(VIRTIO_GPU_CMD_SET_SCANOUT, x, y, w, h);
    put32(rq + 40, scanout);
    put32(rq + 44, id);
    return sendc(48);
}

static uint32_t transfer(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                         uint64_t offset)
{
    rect_cmd(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, x, y, w, h);
    put64(rq + 40, offset);
    put32(rq + 48, id);
    return sendc(56);
}

static uint32_t flush(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    rect_cmd(VIRTIO_GPU_CMD_RESOURCE_FLUSH, x, y, w, h);
    put32(rq + 40, id);
    return sendc(48);
}

static uint32_t simple(uint32_t type, uint32_t id)
{
    hdr(type, 0, 0);
    put32(rq + 24, id);
    return sendc(32);
}

/* Byte at offset off of resource 1's backing, as the guest wrote it (generation gen). */
static uint8_t pix(uint32_t off, unsigned gen)
{
    return (uint8_t)(off * 13 + (off >> 8) + gen * 101);
}

static uint8_t *backing_byte(uint32_t off)
{
    for (int i = 0; i < 3; i++)
        if (off >= pieces[i].off && off < pieces[i].off + pieces[i].len)
            return vfake_ram(&bus, pieces[i].addr + off - pieces[i].off);
    return NULL;
}

static void draw(unsigned gen)
{
    for (uint32_t off = 0; off < W * H * 4; off++)
        *backing_byte(off) = pix(off, gen);
}

/* Does the framebuffer's rectangle (scanout coordinates) hold generation gen? */
static bool frame_holds(const VirtioGpuFrame *f, uint32_t sx, uint32_t sy, uint32_t x, uint32_t y,
                        uint32_t w, uint32_t h, unsigned gen)
{
    for (uint32_t r = y; r < y + h; r++)
        for (uint32_t b = x * 4; b < (x + w) * 4; b++)
            if (f->pixels[r * f->stride + b] != pix((sy + r) * STRIDE + sx * 4 + b, gen))
                return false;
    return true;
}

static void setup(const VirtioGpuConfig *cfg)
{
    Error err;
    v = vfake_virtio_gpu(&bus, 0x10001000, &irq, cfg, &err);
    vfake_negotiate(v, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_GPU_F_EDID));
    vfake_queue(&ctrlq, v, 0, 16, QAREA(0));
    vfake_queue(&curq, v, 1, 16, QAREA(1));
    vfake_driver_ok(v);
}

static void test_identity(void)
{
    is_u64(vfake_rd(v, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_GPU, "device id 16");
    ok(vfake_device_features(v) & VIRTIO_BIT(VIRTIO_GPU_F_EDID), "VIRTIO_GPU_F_EDID offered");
    ok(!(vfake_device_features(v) & VIRTIO_BIT(VIRTIO_GPU_F_VIRGL)), "no virgl");
    is_u64(vfake_rd(v, VIRTIO_MMIO_CONFIG + 8), 1, "one scanout");
    is_u64(vfake_rd(v, VIRTIO_MMIO_CONFIG + 0), 0, "no event pending");
}

static void test_display_info(uint32_t w, uint32_t h)
{
    hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0, 0);
    is_u64(sendc(24), VIRTIO_GPU_RESP_OK_DISPLAY_INFO, "GET_DISPLAY_INFO answered");
    is_u64(last_len, 24 + 16 * 24, "display info is 408 bytes");
    ok(get32(RESP + 24) == 0 && get32(RESP + 28) == 0 && get32(RESP + 32) == w &&
           get32(RESP + 36) == h && get32(RESP + 40) == 1,
       "scanout 0 is %ux%u and enabled", w, h);
    is_u64(get32(RESP + 24 + 24 + 16), 0, "scanout 1 is disabled");
}

/* Check an EDID block: header, checksum, preferred mode w x h; true if all hold. */
static bool edid_ok(const uint8_t *e, uint32_t w, uint32_t h)
{
    static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    uint8_t sum = 0;
    for (int i = 0; i < 128; i++)
        sum += e[i];
    const uint8_t *d = e + 54;
    uint32_t hact = d[2] | (uint32_t)(d[4] >> 4) << 8, vact = d[5] | (uint32_t)(d[7] >> 4) << 8;
    return !memcmp(e, header, 8) && sum == 0 && e[18] == 1 && e[19] == 4 && (d[0] | d[1]) &&
           hact == w && vact == h;
}

static void test_edid(uint32_t w, uint32_t h)
{
    hdr(VIRTIO_GPU_CMD_GET_EDID, 0, 0);
    is_u64(sendc(32), VIRTIO_GPU_RESP_OK_EDID, "GET_EDID answered");
    is_u64(last_len, 32 + 1024, "EDID response is 1056 bytes");
    is_u64(get32(RESP + 24), 128, "one 128-byte block");
    ok(edid_ok(vfake_ram(&bus, RESP + 32), w, h), "EDID 1.4, checksum right, preferred mode %ux%u",
       w, h);
    hdr(VIRTIO_GPU_CMD_GET_EDID, 0, 0);
    put32(rq + 24, 1);
    is_u64(sendc(32), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "GET_EDID of scanout 1 refused");
}

static void test_edid_sizes(void)
{
    uint8_t e[128];
    static const uint32_t sizes[][2] = {{640, 480}, {1920, 1080}, {3840, 2160}, {4095, 4095}};
    bool all = true;
    for (unsigned i = 0; i < 4; i++) {
        virtio_gpu_build_edid(e, sizes[i][0], sizes[i][1]);
        all &= edid_ok(e, sizes[i][0], sizes[i][1]);
    }
    ok(all, "EDID valid for 640x480 to 4095x4095");
}

static void attach_fb(void)
{
    uint64_t a[3];
    uint32_t l[3];
    for (int i = 0; i < 3; i++) {
        a[i] = pieces[i].addr;
        l[i] = pieces[i].len;
    }
    is_u64(attach(1, 3, a, l, 3), VIRTIO_GPU_RESP_OK_NODATA, "attach a backing of 3 entries");
}

static void test_sequence(void)
{
    VirtioGpuFrame f;
    VirtioGpuRect d;
    is_u64(create(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W, H), VIRTIO_GPU_RESP_OK_NODATA,
           "create a 64x32 B8G8R8X8 resource");
    attach_fb();
    virtio_gpu_frame_lock(v, &f);
    ok(f.pixels == NULL, "no framebuffer before SET_SCANOUT");
    virtio_gpu_frame_unlock(v);
    is_u64(set_scanout(0, 1, 0, 0, W, H), VIRTIO_GPU_RESP_OK_NODATA, "set scanout 0");
    draw(0);
    is_u64(transfer(1, 0, 0, W, H, 0), VIRTIO_GPU_RESP_OK_NODATA, "transfer it all");
    virtio_gpu_take_dirty(v, &d);
    is_u64(flush(1, 0, 0, W, H), VIRTIO_GPU_RESP_OK_NODATA, "flush it all");
    ok(virtio_gpu_take_dirty(v, &d) && d.x == 0 && d.y == 0 && d.width == W && d.height == H,
       "the front end sees the whole screen dirty");
    ok(!virtio_gpu_take_dirty(v, &d), "and then nothing");
    virtio_gpu_frame_lock(v, &f);
    ok(f.pixels && f.width == W && f.height == H && f.stride == STRIDE &&
           f.format == VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
       "framebuffer 64x32, stride 256, B8G8R8X8");
    ok(f.pixels && frame_holds(&f, 0, 0, 0, 0, W, H, 0), "framebuffer = what the guest drew");
    virtio_gpu_frame_unlock(v);

    draw(1); /* a partial update: rows 4..11, columns 8..23 */
    is_u64(transfer(1, 8, 4, 16, 8, 4 * STRIDE + 8 * 4), VIRTIO_GPU_RESP_OK_NODATA,
           "transfer a rectangle");
    is_u64(flush(1, 8, 4, 16, 8), VIRTIO_GPU_RESP_OK_NODATA, "flush it");
    ok(virtio_gpu_take_dirty(v, &d) && d.x == 8 && d.y == 4 && d.width == 16 && d.height == 8,
       "dirty rectangle 16x8+8+4");
    virtio_gpu_frame_lock(v, &f);
    ok(frame_holds(&f, 0, 0, 8, 4, 16, 8, 1) && frame_holds(&f, 0, 0, 0, 0, W, 4, 0) &&
           frame_holds(&f, 0, 0, 24, 4, W - 24, 8, 0),
       "the rectangle changed, the rest did not");
    virtio_gpu_frame_unlock(v);

    transfer(1, 0, 0, W, H, 0);
    is_u64(set_scanout(0, 1, 16, 8, 32, 16), VIRTIO_GPU_RESP_OK_NODATA, "scan out a sub-rectangle");
    virtio_gpu_take_dirty(v, &d);
    flush(1, 0, 0, 24, 12);
    ok(virtio_gpu_take_dirty(v, &d) && d.x == 0 && d.y == 0 && d.width == 8 && d.height == 4,
       "a flush is clipped to the scanout, in its coordinates");
    flush(1, 50, 28, 4, 4);
    ok(!virtio_gpu_take_dirty(v, &d), "a flush outside the scanout dirties nothing");
    virtio_gpu_frame_lock(v, &f);
    ok(f.width == 32 && f.height == 16 && frame_holds(&f, 16, 8, 0, 0, 32, 16, 1),
       "the framebuffer is the sub-rectangle");
    virtio_gpu_frame_unlock(v);
    set_scanout(0, 1, 0, 0, W, H);
}

static void test_fence(void)
{
    hdr(VIRTIO_GPU_CMD_RESOURCE_FLUSH, VIRTIO_GPU_FLAG_FENCE, 0x1234567890ull);
    put32(rq + 32, 1);
    put32(rq + 36, 1);
    put32(rq + 40, 1);
    put32(rq + 16, 5); /* ctx_id */
    is_u64(sendc(48), VIRTIO_GPU_RESP_OK_NODATA, "fenced flush");
    ok(get32(RESP + 4) == VIRTIO_GPU_FLAG_FENCE && get32(RESP + 8) == 0x34567890 &&
           get32(RESP + 12) == 0x12 && get32(RESP + 16) == 5,
       "response carries the fence flag, fence id and context");
    /* Two fenced commands in one kick complete in order. */
    VFakeSeg s[4] = {
        {REQ, 48, false}, {RESP, 24, true}, {REQ + 0x100, 48, false}, {RESP + 0x100, 24, true}};
    put64(rq + 8, 1);
    memcpy(vfake_ram(&bus, REQ), rq, 48);
    put64(rq + 8, 2);
    memcpy(vfake_ram(&bus, REQ + 0x100), rq, 48);
    uint16_t before = vfake_used_idx(&ctrlq), head1 = ctrlq.next_desc;
    vfake_add(&ctrlq, s, 2);
    vfake_add(&ctrlq, s + 2, 2);
    vfake_kick(&ctrlq);
    ctrlq.used_seen += 2;
    uint32_t first = vfake_get32(&bus, ctrlq.used + 4 + 8 * (before % ctrlq.num));
    ok(vfake_used_idx(&ctrlq) == (uint16_t)(before + 2) && first == head1 && get32(RESP + 8) == 1 &&
           get32(RESP + 0x108) == 2,
       "fences 1 then 2 answered in order");
}

static void test_cursor(void)
{
    VirtioGpuCursor *c = malloc(sizeof(*c));
    is_u64(create(2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64), VIRTIO_GPU_RESP_OK_NODATA,
           "create a 64x64 cursor resource");
    uint64_t a = CURSOR;
    uint32_t l = 64 * 64 * 4;
    memset(vfake_ram(&bus, CURSOR), 0x5a, l);
    attach(2, 1, &a, &l, 1);
    is_u64(transfer(2, 0, 0, 64, 64, 0), VIRTIO_GPU_RESP_OK_NODATA, "transfer the cursor");
    hdr(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0);
    put32(rq + 28, 100);
    put32(rq + 32, 200);
    put32(rq + 40, 2);
    put32(rq + 44, 3);
    put32(rq + 48, 4);
    is_u64(send_on(&curq, 56, 24), VIRTIO_GPU_RESP_OK_NODATA, "UPDATE_CURSOR on the cursor queue");
    virtio_gpu_cursor(v, c);
    ok(c->visible && c->x == 100 && c->y == 200 && c->hot_x == 3 && c->hot_y == 4 &&
           c->width == 64 && c->height == 64 && c->image[0] == 0x5a &&
           c->image[64 * 64 * 4 - 1] == 0x5a,
       "cursor position, hot spot and image recorded");
    uint32_t serial = c->serial;
    hdr(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 0);
    put32(rq + 28, 7);
    put32(rq + 32, 9);
    send_on(&curq, 56, 0);
    is_u64(last_len, 0, "a cursor command without a response buffer is returned empty");
    virtio_gpu_cursor(v, c);
    ok(c->x == 7 && c->y == 9 && c->serial == serial && c->visible, "MOVE_CURSOR moved it");
    hdr(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0);
    is_u64(send_on(&curq, 56, 24), VIRTIO_GPU_RESP_OK_NODATA, "UPDATE_CURSOR with resource 0");
    virtio_gpu_cursor(v, c);
    ok(!c->visible, "hides the cursor");
    hdr(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0);
    put32(rq + 40, 1); /* 64x32 is fine */
    put32(rq + 24, 3);
    is_u64(send_on(&curq, 56, 24), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "cursor on scanout 3");
    hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0, 0);
    is_u64(send_on(&curq, 24, 512), VIRTIO_GPU_RESP_ERR_UNSPEC,
           "control commands are not served on the cursor queue");
    free(c);
}

static void test_hostile(void)
{
    uint64_t a[2];
    uint32_t l[2] = {4096, 4096};
    hdr(0x0199, 0, 0);
    is_u64(sendc(24), VIRTIO_GPU_RESP_ERR_UNSPEC, "unknown command");
    hdr(VIRTIO_GPU_CMD_GET_CAPSET_INFO, 0, 0);
    is_u64(sendc(32), VIRTIO_GPU_RESP_ERR_UNSPEC, "3D command (capset info)");
    hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 0, 0);
    is_u64(sendc(30), VIRTIO_GPU_RESP_ERR_UNSPEC, "short request");
    is_u64(sendc(10), VIRTIO_GPU_RESP_ERR_UNSPEC, "request without a header");
    hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0, 0);
    is_u64(send_on(&ctrlq, 24, 100), VIRTIO_GPU_RESP_ERR_UNSPEC, "response buffer too small");
    is_u64(last_len, 24, "the error header fits");
    send_on(&ctrlq, 24, 8);
    is_u64(last_len, 0, "a response buffer below a header gets nothing");
    hdr(VIRTIO_GPU_CMD_GET_EDID, 0, 0);
    is_u64(send_on(&ctrlq, 32, 512), VIRTIO_GPU_RESP_ERR_UNSPEC, "EDID response buffer too small");

    is_u64(create(0, 2, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "resource id 0");
    is_u64(create(1, 2, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "duplicate resource id");
    is_u64(create(9, 99, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "unknown format");
    is_u64(create(9, 2, 0, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "width 0");
    is_u64(create(9, 2, 0x80000000u, 0x80000000u), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "width*height overflowing 64 bits after *4");
    is_u64(create(9, 2, 16384, 16384), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
           "a 1 GiB resource is over the host memory cap");
    is_u64(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 77), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
           "unref of an unknown resource");
    is_u64(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
           "unref of resource 0");

    create(3, 2, 32, 32);
    a[0] = RAM_BASE + RAM_SIZE - 2048;
    is_u64(attach(3, 1, a, l, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "backing entry running past the end of RAM");
    a[0] = 0x1000;
    is_u64(attach(3, 1, a, l, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "backing entry below RAM");
    a[0] = RAM_BASE;
    a[1] = 0xfffffffffffff000ull;
    is_u64(attach(3, 2, a, l, 2), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "backing entry whose end overflows");
    l[0] = 0;
    is_u64(attach(3, 1, a, l, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "empty backing entry");
    l[0] = 4096;
    is_u64(attach(3, 0xffffffffu, a, l, 1), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
           "4 G backing entries");
    is_u64(attach(3, 100, a, l, 1), VIRTIO_GPU_RESP_ERR_UNSPEC, "100 entries announced, 1 sent");
    is_u64(attach(77, 1, a, l, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
           "attach to an unknown resource");
    is_u64(transfer(3, 0, 0, 32, 32, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "transfer without a backing");
    is_u64(simple(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 3), VIRTIO_GPU_RESP_ERR_UNSPEC,
           "detach without a backing");
    a[0] = FB + 0x40000;
    is_u64(attach(3, 1, a, l, 1), VIRTIO_GPU_RESP_OK_NODATA, "attach one page to a 4 KiB resource");
    is_u64(attach(3, 1, a, l, 1), VIRTIO_GPU_RESP_ERR_UNSPEC, "attach twice");

    is_u64(transfer(3, 0, 0, 33, 32, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "transfer wider than the resource");
    is_u64(transfer(3, 0xffffffffu, 0, 2, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "transfer whose x + width wraps");
    is_u64(transfer(3, 0, 31, 1, 2, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "transfer below the resource");
    is_u64(transfer(3, 0, 0, 0, 0, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, "empty transfer");
    is_u64(transfer(3, 0, 0, 32, 32, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "offset makes the transfer read past the backing");
    is_u64(transfer(3, 0, 0, 1, 1, 0xfffffffffffffffcull), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "offset overflowing");
    is_u64(transfer(3, 0, 0, 32, 32, 0), VIRTIO_GPU_RESP_OK_NODATA, "the exact fit works");
    is_u64(transfer(77, 0, 0, 1, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
           "transfer to an unknown resource");
    is_u64(flush(3, 0, 0, 64, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "flush out of the resource");
    is_u64(flush(0, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "flush of resource 0");

    is_u64(set_scanout(1, 3, 0, 0, 32, 32), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "scanout 1");
    is_u64(set_scanout(0xffffffffu, 3, 0, 0, 32, 32), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID,
           "scanout 0xffffffff");
    is_u64(set_scanout(0, 3, 0, 0, 33, 32), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "scanout rectangle bigger than the resource");
    is_u64(set_scanout(0, 3, 1, 0, 32, 32), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
           "scanout rectangle shifted out of the resource");
    is_u64(set_scanout(0, 77, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
           "scanout of an unknown resource");
    is_u64(simple(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 3), VIRTIO_GPU_RESP_OK_NODATA, "detach");
    is_u64(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 3), VIRTIO_GPU_RESP_OK_NODATA, "unref");

    uint32_t made = 0, st;
    while ((st = create(1000 + made, 2, 1, 1)) == VIRTIO_GPU_RESP_OK_NODATA && made < 1000)
        made++;
    ok(st == VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY && made + 2 == VIRTIO_GPU_MAX_RESOURCES,
       "the %uth resource is refused (made %u)", VIRTIO_GPU_MAX_RESOURCES + 1, made);
    for (uint32_t i = 0; i < made; i++)
        simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 1000 + i);
    ok(!vfake_broken(v), "the device is not broken");
    test_display_info(1024, 768);
}

static void test_resize(void)
{
    Error err;
    ok(virtio_gpu_request_resize(v, 8, 600, &err) < 0, "resize to 8x600 refused: %s", err.msg);
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    ok(virtio_gpu_request_resize(v, 800, 600, &err) == 0, "resize to 800x600");
    ok(vfake_rd(v, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG,
       "configuration-change interrupt");
    is_u64(vfake_rd(v, VIRTIO_MMIO_CONFIG + 0), VIRTIO_GPU_EVENT_DISPLAY, "display event pending");
    test_display_info(800, 600);
    test_edid(800, 600);
    vfake_wr(v, VIRTIO_MMIO_CONFIG + 4, VIRTIO_GPU_EVENT_DISPLAY);
    is_u64(vfake_rd(v, VIRTIO_MMIO_CONFIG + 0), 0, "events_clear clears it");
    uint32_t w, h;
    virtio_gpu_display_size(v, &w, &h);
    ok(w == 800 && h == 600, "front end sees 800x600");
}

/* Save v, restore into a fresh device: its screen is the same. */
static void test_state(void)
{
    const StateDesc *d = v->ops->state;
    VirtioGpuFrame f;
    d->pre_save(v);
    size_t n = state_encoded_size(d, d->version, v);
    uint8_t *buf = malloc(n);
    state_encode(d, v, buf);
    Error err;
    VirtioGpuConfig cfg = {0};
    VirtioMmio *v2 = vfake_virtio_gpu(&bus, 0x10002000, &irq, &cfg, &err);
    void *staged = malloc(d->size);
    memcpy(staged, v2, d->size);
    int rc = state_decode(d, d->version, buf, n, staged, &err);
    ok(rc == 0, "state decodes (%zu bytes)", n);
    if (rc == 0)
        state_commit(d, v2, staged);
    virtio_gpu_frame_lock(v2, &f);
    ok(f.pixels && f.width == W && f.height == H && frame_holds(&f, 0, 0, 0, 0, W, H, 1),
       "the restored device shows the same screen (rebuilt from guest RAM)");
    virtio_gpu_frame_unlock(v2);
    VirtioGpuRect r;
    ok(virtio_gpu_take_dirty(v2, &r) && r.width == W && r.height == H,
       "and marks it all dirty for the front end");
    uint32_t w, h;
    virtio_gpu_display_size(v2, &w, &h);
    ok(w == 800 && h == 600, "display size restored");

    /* A stream whose scanout names a resource it does not have is refused. */
    memcpy(staged, v2, d->size);
    uint8_t *bad = malloc(n);
    memcpy(bad, buf, n);
    put32(bad + 12, 4242); /* scanout_res: after width, height, events_read */
    ok(state_decode(d, d->version, bad, n, staged, &err) < 0, "bad scanout refused: %s", err.msg);
    memcpy(bad, buf, n);
    put32(bad + 0, 5000); /* width above the maximum */
    ok(state_decode(d, d->version, bad, n, staged, &err) < 0, "bad width refused: %s", err.msg);
    free(bad);
    free(staged);
    free(buf);
    virtio_mmio_free(v2);
}

static void test_unref_scanout_and_reset(void)
{
    VirtioGpuFrame f;
    is_u64(simple(VIRTIO_GPU_CMD_RESOURCE_UNREF, 1), VIRTIO_GPU_RESP_OK_NODATA,
           "unref the scanout's resource");
    virtio_gpu_frame_lock(v, &f);
    ok(!f.pixels, "the scanout shows nothing");
    virtio_gpu_frame_unlock(v);
    vfake_wr(v, VIRTIO_MMIO_STATUS, 0);
    vfake_negotiate(v, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    vfake_queue(&ctrlq, v, 0, 16, QAREA(0));
    vfake_queue(&curq, v, 1, 16, QAREA(1));
    vfake_driver_ok(v);
    is_u64(create(2, 2, 8, 8), VIRTIO_GPU_RESP_OK_NODATA,
           "after a reset, resource 2 is free again");
    hdr(VIRTIO_GPU_CMD_GET_EDID, 0, 0);
    is_u64(sendc(32), VIRTIO_GPU_RESP_ERR_UNSPEC, "GET_EDID without the feature is refused");
}

int main(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    VirtioGpuConfig bad = {.width = 5000, .height = 100};
    ok(vfake_virtio_gpu(&bus, 0x10001000, &irq, &bad, &err) == NULL, "5000x100 refused: %s",
       err.msg);
    setup(&(VirtioGpuConfig){0});
    test_identity();
    test_display_info(1024, 768);
    test_edid(1024, 768);
    test_edid_sizes();
    test_sequence();
    test_fence();
    test_cursor();
    test_hostile();
    test_resize();
    test_state();
    test_unref_scanout_and_reset();
    virtio_mmio_free(v);
    bus_destroy(&bus);
    return tap_done();
}
