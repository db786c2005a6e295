/*
 * virtio-gpu: the device around the command handlers of gpu_cmd.c (its
 * queues, configuration space, reset and teardown), resources' host copies
 * and backing, the front-end API, the EDID, and the state table.
 *
 * State: resources (id, format, size), their backing entries, the scanout,
 * the cursor and the display size are saved; the host copies of the pixels
 * are not.  A restore rebuilds each host copy from its backing in guest RAM
 * (which the state holds anyway): the guest draws into the backing and
 * transfers from it, so that is what the screen showed, give or take a
 * frame the guest had drawn and not yet transferred, and a state file does
 * not carry a second copy of every framebuffer.
 */
#include "virtio/gpu.h"

#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/bus.h"
#include "state/state.h"
#include "util/compiler.h"
#include "util/log.h"
#include "virtio/gpu_int.h"

#define GPU_QUEUES 2 /* controlq, cursorq */
enum {
    GPU_CFG_EVENTS_READ = 0,
    GPU_CFG_EVENTS_CLEAR = 4,
    GPU_CFG_NUM_SCANOUTS = 8,
    GPU_CFG_SIZE = 16
};

static VirtioGpu *gpu_of(VirtioMmio *v)
{
    return container_of(v, VirtioGpu, vdev);
}

/* ---- helpers for the command handlers ---- */

bool gpu_format_ok(uint32_t f)
{
    switch (f) {
    case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
    case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM:
    case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
    case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
    case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
    case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
    case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
    case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: return true;
    default: return false;
    }
}

void gpu_log_once(VirtioGpu *g, GpuLogKind kind, const char *fmt, ...)
{
    if (g->logged & (1u << kind))
        return;
    g->logged |= 1u << kind;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("%s@0x%llx: %s (such errors are not logged again)", g->vdev.ops->name,
             (unsigned long long)g->vdev.cfg.base, msg);
}

GpuResource *gpu_resource(VirtioGpu *g, uint32_t id)
{
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES && id; i++)
        if (g->res[i].id == id)
            return &g->res[i];
    return NULL;
}

void gpu_resource_free(VirtioGpu *g, GpuResource *r)
{
    if (g->scanout_res == r->id)
        g->scanout_res = 0;
    if (g->cursor_res == r->id) {
        g->cursor_res = 0;
        g->cursor.visible = false;
    }
    g->nres--;
    g->host_bytes -= (uint64_t)r->width * r->height * GPU_BPP;
    g->total_ents -= r->nents;
    free(r->pixels);
    free(r->ents);
    *r = (GpuResource){0};
}

/* Copy len bytes of r's backing from offset src to dst, starting at entry *ei (at *estart). */
static void backing_row(const VirtioGpu *g, const GpuResource *r, uint64_t src, uint8_t *dst,
                        size_t len, uint32_t *ei, uint64_t *estart)
{
    while (*ei < r->nents && *estart + r->ents[*ei].len <= src) {
        *estart += r->ents[*ei].len;
        (*ei)++;
    }
    uint64_t js = *estart;
    for (uint32_t j = *ei; len && j < r->nents; j++) {
        const GpuEntry *en = &r->ents[j];
        uint64_t in = src > js ? src - js : 0;
        size_t n = en->len - in < len ? (size_t)(en->len - in) : len;
        const uint8_t *p = bus_ram_ptr(g->vdev.cfg.bus, en->addr + in, n);
        if (p)
            memcpy(dst, p, n);
        else
            memset(dst, 0, n); /* cannot happen: entries were checked at attach */
        dst += n;
        len -= n;
        src += n;
        js += en->len;
    }
}

void gpu_copy_from_backing(VirtioGpu *g, GpuResource *r, const VirtioGpuRect *rect, uint64_t offset)
{
    size_t stride = (size_t)r->width * GPU_BPP, row = (size_t)rect->width * GPU_BPP;
    uint32_t ei = 0;
    uint64_t estart = 0;
    for (uint32_t h = 0; h < rect->height; h++) {
        uint8_t *dst = r->pixels + (rect->y + h) * stride + (size_t)rect->x * GPU_BPP;
        backing_row(g, r, offset + stride * h, dst, row, &ei, &estart);
    }
}

void gpu_mark_dirty(VirtioGpu *g, const VirtioGpuRect *rect)
{
    if (g->notify)
        g->notify(g->notify_opaque);
    if (!g->dirty) {
        g->dirty_rect = *rect;
        g->dirty = true;
        return;
    }
    VirtioGpuRect *d = &g->dirty_rect;
    uint64_t x0 = d->x < rect->x ? d->x : rect->x, y0 = d->y < rect->y ? d->y : rect->y;
    uint64_t x1 = (uint64_t)d->x + d->width, y1 = (uint64_t)d->y + d->height;
    if ((uint64_t)rect->x + rect->width > x1)
        x1 = (uint64_t)rect->x + rect->width;
    if ((uint64_t)rect->y + rect->height > y1)
        y1 = (uint64_t)rect->y + rect->height;
    *d = (VirtioGpuRect){(uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0)};
}

void gpu_cursor_image(VirtioGpu *g, const GpuResource *r)
{
    VirtioGpuCursor *c = &g->cursor;
    c->width = r->width;
    c->height = r->height;
    c->format = r->format;
    c->serial++;
    memcpy(c->image, r->pixels, (size_t)r->width * r->height * GPU_BPP);
}

/* ---- the EDID ---- */

static void edid_detailed_timing(uint8_t *d, uint32_t w, uint32_t h)
{
    /* Reduced-blanking style timings at 60 Hz (the clock capped at 655.35 MHz). */
    uint32_t hblank = 160, hfront = 48, hsync = 32, vblank = 35, vfront = 3, vsync = 6;
    uint64_t clock = (uint64_t)(w + hblank) * (h + vblank) * 60 / 10000;
    if (clock > 0xffff)
        clock = 0xffff;
    uint32_t wmm = w * 264 / 1000, hmm = h * 264 / 1000; /* 96 dpi */
    d[0] = (uint8_t)clock;
    d[1] = (uint8_t)(clock >> 8);
    d[2] = (uint8_t)w;
    d[3] = (uint8_t)hblank;
    d[4] = (uint8_t)(((w >> 8) & 0xf) << 4 | ((hblank >> 8) & 0xf));
    d[5] = (uint8_t)h;
    d[6] = (uint8_t)vblank;
    d[7] = (uint8_t)(((h >> 8) & 0xf) << 4 | ((vblank >> 8) & 0xf));
    d[8] = (uint8_t)hfront;
    d[9] = (uint8_t)hsync;
    d[10] = (uint8_t)((vfront & 0xf) << 4 | (vsync & 0xf));
    d[11] = 0;
    d[12] = (uint8_t)wmm;
    d[13] = (uint8_t)hmm;
    d[14] = (uint8_t)(((wmm >> 8) & 0xf) << 4 | ((hmm >> 8) & 0xf));
    d[17] = 0x1e; /* digital separate sync, both polarities positive */
}

/* A display descriptor (18 bytes) of tag with a text of up to 13 characters. */
static void edid_text(uint8_t *d, uint8_t tag, const char *text)
{
    d[3] = tag;
    memset(d + 5, ' ', 13);
    size_t n = strlen(text);
    memcpy(d + 5, text, n);
    if (n < 13)
        d[5 + n] = '\n';
}

void virtio_gpu_build_edid(uint8_t e[128], uint32_t width, uint32_t height)
{
    static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    static const uint8_t chroma[10] = {0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54};
    memset(e, 0, 128);
    memcpy(e, header, 8);
    e[8] = 0x22; /* "HST": (8 << 10) | (19 << 5) | 20, big-endian */
    e[9] = 0x74;
    e[10] = 0x01; /* product 1 */
    e[16] = 1;    /* week 1 of */
    e[17] = 34;   /* 2024 */
    e[18] = 1;    /* EDID 1.4 */
    e[19] = 4;
    e[20] = 0xa5;                                      /* digital, 8 bits per colour, DisplayPort */
    e[21] = (uint8_t)((width * 264 / 1000 + 5) / 10);  /* cm */
    e[22] = (uint8_t)((height * 264 / 1000 + 5) / 10); /* cm */
    e[23] = 120;                                       /* gamma 2.2 */
    e[24] = 0x06; /* sRGB, the preferred timing is the native mode */
    memcpy(e + 25, chroma, sizeof(chroma));
    for (int i = 38; i < 54; i++)
        e[i] = 1; /* no standard timings */
    edid_detailed_timing(e + 54, width, height);
    edid_text(e + 72, 0xfc, "hostel");
    edid_text(e + 90, 0xfe, "virtio-gpu");
    e[108 + 3] = 0x10; /* dummy descriptor */
    uint8_t sum = 0;
    for (int i = 0; i < 127; i++)
        sum += e[i];
    e[127] = (uint8_t)(0x100 - sum);
}

/* ---- the queues, configuration space, reset ---- */

static void gpu_queue_notify(VirtioMmio *v, unsigned q)
{
    VirtioGpu *g = gpu_of(v);
    bool pushed = false;
    while (virtq_pop(&v->vq[q], &g->elem) == 1) {
        virtq_push(&v->vq[q], &g->elem, gpu_handle(g, &g->elem, q == 1));
        pushed = true;
    }
    if (pushed)
        virtio_mmio_notify_used(v, q);
}

static uint64_t gpu_config_read(VirtioMmio *v, uint64_t offset, unsigned size)
{
    VirtioGpu *g = gpu_of(v);
    uint8_t cfg[GPU_CFG_SIZE] = {0};
    memcpy(cfg + GPU_CFG_EVENTS_READ, &(uint32_t){htole32(g->events_read)}, 4);
    cfg[GPU_CFG_NUM_SCANOUTS] = 1;
    return virtio_config_bytes(cfg, sizeof(cfg), offset, size);
}

static void gpu_config_write(VirtioMmio *v, uint64_t offset, unsigned size, uint64_t value)
{
    if (offset == GPU_CFG_EVENTS_CLEAR && size == 4)
        gpu_of(v)->events_read &= ~(uint32_t)value;
}

static void gpu_free_resources(VirtioGpu *g)
{
    pthread_mutex_lock(&g->lock);
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++)
        if (g->res[i].id)
            gpu_resource_free(g, &g->res[i]);
    g->scanout_res = 0;
    g->dirty = false;
    pthread_mutex_unlock(&g->lock);
}

static void gpu_reset(VirtioMmio *v)
{
    VirtioGpu *g = gpu_of(v);
    gpu_free_resources(g);
    g->events_read = 0;
}

static void gpu_free(VirtioMmio *v)
{
    VirtioGpu *g = gpu_of(v);
    gpu_free_resources(g);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* ---- state ---- */

static int gpu_check_res(const VirtioGpu *g, uint32_t i, uint64_t *bytes, Error *err)
{
    const GpuResSave *r = &g->save_res[i];
    if (!r->id || !gpu_format_ok(r->format) || !r->width || !r->height ||
        r->width > VIRTIO_GPU_MAX_DIM || r->height > VIRTIO_GPU_MAX_DIM)
        return error_set(err, "virtio-gpu: resource %u (id %u) is not valid", i, r->id);
    for (uint32_t j = 0; j < i; j++)
        if (g->save_res[j].id == r->id)
            return error_set(err, "virtio-gpu: resource id %u appears twice", r->id);
    if ((uint64_t)r->first + r->count > g->save_nents)
        return error_set(err, "virtio-gpu: resource %u's backing is out of range", r->id);
    *bytes += (uint64_t)r->width * r->height * GPU_BPP;
    return 0;
}

static const GpuResSave *saved_res(const VirtioGpu *g, uint32_t id)
{
    for (uint32_t i = 0; i < g->save_nres && id; i++)
        if (g->save_res[i].id == id)
            return &g->save_res[i];
    return NULL;
}

static int gpu_state_check(const void *staged, Error *err)
{
    const VirtioGpu *g = staged;
    uint64_t bytes = 0;
    if (g->width < VIRTIO_GPU_MIN_DISPLAY || g->height < VIRTIO_GPU_MIN_DISPLAY)
        return error_set(err, "virtio-gpu: display %ux%u is too small", g->width, g->height);
    for (uint32_t i = 0; i < g->save_nres; i++)
        if (gpu_check_res(g, i, &bytes, err) < 0)
            return -1;
    if (bytes > VIRTIO_GPU_MAX_HOST_BYTES)
        return error_set(err, "virtio-gpu: resources of %llu bytes", (unsigned long long)bytes);
    const GpuResSave *s = saved_res(g, g->scanout_res), *c = saved_res(g, g->cursor_res);
    const VirtioGpuRect *sr = &g->scanout_rect;
    if (g->scanout_res &&
        (!s || !sr->width || !sr->height || (uint64_t)sr->x + sr->width > s->width ||
         (uint64_t)sr->y + sr->height > s->height))
        return error_set(err, "virtio-gpu: the scanout's resource or rectangle is not valid");
    if (g->cursor_res &&
        (!c || c->width > VIRTIO_GPU_MAX_CURSOR || c->height > VIRTIO_GPU_MAX_CURSOR))
        return error_set(err, "virtio-gpu: the cursor's resource is not valid");
    return 0;
}

static void gpu_pre_save(void *live)
{
    VirtioGpu *g = live;
    uint32_t n = 0, e = 0;
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        const GpuResource *r = &g->res[i];
        if (!r->id)
            continue;
        g->save_res[n++] = (GpuResSave){r->id, r->format, r->width, r->height, e, r->nents};
        for (uint32_t j = 0; j < r->nents; j++, e++) {
            g->save_addr[e] = r->ents[j].addr;
            g->save_len[e] = r->ents[j].len;
        }
    }
    g->save_nres = n;
    g->save_nents = e;
}

/* Rebuild saved resource s (its host copy from its backing); false if out of memory. */
static bool gpu_restore_res(VirtioGpu *g, const GpuResSave *s, GpuResource *r)
{
    *r = (GpuResource){.id = s->id, .format = s->format, .width = s->width, .height = s->height};
    r->pixels = calloc((size_t)s->width * s->height, GPU_BPP);
    r->ents = s->count ? malloc((size_t)s->count * sizeof(GpuEntry)) : NULL;
    if (!r->pixels || (s->count && !r->ents)) {
        free(r->pixels);
        free(r->ents);
        *r = (GpuResource){0};
        return false;
    }
    g->nres++;
    g->host_bytes += (uint64_t)s->width * s->height * GPU_BPP;
    for (uint32_t j = 0; j < s->count; j++) {
        GpuEntry en = {g->save_addr[s->first + j], g->save_len[s->first + j]};
        if (!en.len || !bus_ram_ptr(g->vdev.cfg.bus, en.addr, en.len)) {
            log_warn("virtio-gpu: restored resource %u's backing is outside RAM: detached", s->id);
            free(r->ents);
            r->ents = NULL;
            r->nents = 0;
            r->backing_len = 0;
            return true;
        }
        r->ents[r->nents++] = en;
        r->backing_len += en.len;
    }
    g->total_ents += r->nents;
    uint64_t stride = (uint64_t)s->width * GPU_BPP;
    VirtioGpuRect all = {0, 0, s->width, (uint32_t)(r->backing_len / stride)};
    if (all.height > s->height)
        all.height = s->height;
    if (all.height)
        gpu_copy_from_backing(g, r, &all, 0);
    return true;
}

static void gpu_post_load(void *live)
{
    VirtioGpu *g = live;
    uint32_t scanout = g->scanout_res, cursor = g->cursor_res;
    VirtioGpuRect rect = g->scanout_rect;
    bool visible = g->cursor.visible;
    gpu_free_resources(g);
    pthread_mutex_lock(&g->lock);
    for (uint32_t i = 0; i < g->save_nres; i++)
        if (!gpu_restore_res(g, &g->save_res[i], &g->res[i]))
            log_warn("virtio-gpu: out of memory restoring resource %u", g->save_res[i].id);
    GpuResource *c = gpu_resource(g, cursor);
    g->scanout_res = gpu_resource(g, scanout) ? scanout : 0;
    g->scanout_rect = rect;
    g->cursor_res = c ? cursor : 0;
    g->cursor.visible = c && visible;
    if (c)
        gpu_cursor_image(g, c);
    if (g->scanout_res)
        gpu_mark_dirty(g, &(VirtioGpuRect){0, 0, rect.width, rect.height});
    pthread_mutex_unlock(&g->lock);
    virtio_gpu_build_edid(g->edid, g->width, g->height);
}

static const StateField gpu_rect_fields[] = {
    STATE_FIELD(VirtioGpuRect, x, STATE_U32),
    STATE_FIELD(VirtioGpuRect, y, STATE_U32),
    STATE_FIELD(VirtioGpuRect, width, STATE_U32),
    STATE_FIELD(VirtioGpuRect, height, STATE_U32),
    STATE_END,
};

static const StateDesc gpu_rect_desc = {
    .name = "rect",
    .version = 1,
    .min_version = 1,
    .size = sizeof(VirtioGpuRect),
    .fields = gpu_rect_fields,
};

static const StateField gpu_res_fields[] = {
    STATE_FIELD(GpuResSave, id, STATE_U32),
    STATE_FIELD(GpuResSave, format, STATE_U32),
    STATE_FIELD(GpuResSave, width, STATE_U32, .max = VIRTIO_GPU_MAX_DIM),
    STATE_FIELD(GpuResSave, height, STATE_U32, .max = VIRTIO_GPU_MAX_DIM),
    STATE_FIELD(GpuResSave, first, STATE_U32, .max = VIRTIO_GPU_MAX_BACKING_ENTRIES),
    STATE_FIELD(GpuResSave, count, STATE_U32, .max = VIRTIO_GPU_MAX_BACKING_ENTRIES),
    STATE_END,
};

static const StateDesc gpu_res_desc = {
    .name = "resource",
    .version = 1,
    .min_version = 1,
    .size = sizeof(GpuResSave),
    .fields = gpu_res_fields,
};

static const StateField gpu_fields[] = {
    STATE_FIELD(VirtioGpu, width, STATE_U32, .max = VIRTIO_GPU_MAX_DISPLAY),
    STATE_FIELD(VirtioGpu, height, STATE_U32, .max = VIRTIO_GPU_MAX_DISPLAY),
    STATE_FIELD(VirtioGpu, events_read, STATE_U32, .max = VIRTIO_GPU_EVENT_DISPLAY),
    STATE_FIELD(VirtioGpu, scanout_res, STATE_U32),
    STATE_FIELD(VirtioGpu, scanout_rect, STATE_STRUCT, .sub = &gpu_rect_desc,
                .stride = sizeof(VirtioGpuRect)),
    STATE_FIELD(VirtioGpu, cursor_res, STATE_U32),
    STATE_FIELD(VirtioGpu, cursor.visible, STATE_BOOL),
    STATE_FIELD(VirtioGpu, cursor.x, STATE_U32),
    STATE_FIELD(VirtioGpu, cursor.y, STATE_U32),
    STATE_FIELD(VirtioGpu, cursor.hot_x, STATE_U32),
    STATE_FIELD(VirtioGpu, cursor.hot_y, STATE_U32),
    STATE_FIELD(VirtioGpu, save_nres, STATE_U32, .max = VIRTIO_GPU_MAX_RESOURCES),
    STATE_FIELD(VirtioGpu, save_nents, STATE_U32, .max = VIRTIO_GPU_MAX_BACKING_ENTRIES),
    STATE_FIELD(VirtioGpu, save_res, STATE_STRUCT, .count = VIRTIO_GPU_MAX_RESOURCES,
                .sub = &gpu_res_desc, .stride = sizeof(GpuResSave)),
    STATE_FIELD(VirtioGpu, save_addr, STATE_U64, .count = VIRTIO_GPU_MAX_BACKING_ENTRIES),
    STATE_FIELD(VirtioGpu, save_len, STATE_U32, .count = VIRTIO_GPU_MAX_BACKING_ENTRIES),
    STATE_END,
};

static const StateDesc gpu_state_desc = {
    .name = "virtio-gpu",
    .version = 1,
    .min_version = 1,
    .size = sizeof(VirtioGpu),
    .fields = gpu_fields,
    .check = gpu_state_check,
    .pre_save = gpu_pre_save,
    .post_load = gpu_post_load,
    .absent_ok = true,
};

static const VirtioDeviceOps gpu_ops = {
    .name = "virtio-gpu",
    .device_id = VIRTIO_ID_GPU,
    .features = VIRTIO_BIT(VIRTIO_GPU_F_EDID),
    .num_queues = GPU_QUEUES,
    .queue_max = VIRTIO_GPU_QUEUE_MAX,
    .config_read = gpu_config_read,
    .config_write = gpu_config_write,
    .queue_notify = gpu_queue_notify,
    .reset = gpu_reset,
    .free = gpu_free,
    .state = &gpu_state_desc,
};

/* ---- construction ---- */

static int gpu_size_check(uint32_t w, uint32_t h, Error *err)
{
    if (w < VIRTIO_GPU_MIN_DISPLAY || w > VIRTIO_GPU_MAX_DISPLAY || h < VIRTIO_GPU_MIN_DISPLAY ||
        h > VIRTIO_GPU_MAX_DISPLAY)
        return error_set(err, "display size %ux%u: width and height must be %d to %d", w, h,
                         VIRTIO_GPU_MIN_DISPLAY, VIRTIO_GPU_MAX_DISPLAY);
    return 0;
}

VirtioMmio *virtio_gpu_new(const VirtioMmioConfig *mcfg, const VirtioGpuConfig *gcfg, Error *err)
{
    uint32_t w = gcfg->width ? gcfg->width : VIRTIO_GPU_DEFAULT_WIDTH;
    uint32_t h = gcfg->height ? gcfg->height : VIRTIO_GPU_DEFAULT_HEIGHT;
    if (gpu_size_check(w, h, err) < 0)
        return NULL;
    VirtioGpu *g = calloc(1, sizeof(*g));
    if (!g) {
        error_set(err, "out of memory creating virtio-gpu");
        return NULL;
    }
    virtio_mmio_init(&g->vdev, &gpu_ops, mcfg);
    g->loop = gcfg->loop;
    g->width = w;
    g->height = h;
    virtio_gpu_build_edid(g->edid, w, h);
    pthread_mutex_init(&g->lock, NULL);
    return &g->vdev;
}

bool virtio_gpu_is(const VirtioMmio *v)
{
    return v && v->ops == &gpu_ops;
}

/* ---- the front-end API ---- */

void virtio_gpu_frame_lock(VirtioMmio *v, VirtioGpuFrame *f)
{
    VirtioGpu *g = gpu_of(v);
    pthread_mutex_lock(&g->lock);
    *f = (VirtioGpuFrame){0};
    GpuResource *r = gpu_resource(g, g->scanout_res);
    if (!r)
        return;
    const VirtioGpuRect *s = &g->scanout_rect;
    f->width = s->width;
    f->height = s->height;
    f->stride = r->width * GPU_BPP;
    f->format = r->format;
    f->pixels = r->pixels + (size_t)s->y * f->stride + (size_t)s->x * GPU_BPP;
}

void virtio_gpu_frame_unlock(VirtioMmio *v)
{
    pthread_mutex_unlock(&gpu_of(v)->lock);
}

void virtio_gpu_set_notify(VirtioMmio *v, void (*fn)(void *opaque), void *opaque)
{
    VirtioGpu *g = gpu_of(v);
    pthread_mutex_lock(&g->lock);
    g->notify = fn;
    g->notify_opaque = opaque;
    pthread_mutex_unlock(&g->lock);
}

bool virtio_gpu_take_dirty(VirtioMmio *v, VirtioGpuRect *r)
{
    VirtioGpu *g = gpu_of(v);
    pthread_mutex_lock(&g->lock);
    bool dirty = g->dirty;
    if (dirty)
        *r = g->dirty_rect;
    g->dirty = false;
    pthread_mutex_unlock(&g->lock);
    return dirty;
}

void virtio_gpu_cursor(VirtioMmio *v, VirtioGpuCursor *c)
{
    VirtioGpu *g = gpu_of(v);
    pthread_mutex_lock(&g->lock);
    *c = g->cursor;
    pthread_mutex_unlock(&g->lock);
}

void virtio_gpu_display_size(VirtioMmio *v, uint32_t *width, uint32_t *height)
{
    VirtioGpu *g = gpu_of(v);
    pthread_mutex_lock(&g->lock);
    *width = g->width;
    *height = g->height;
    pthread_mutex_unlock(&g->lock);
}

/* On the VM thread: apply the last requested size and tell the guest. */
static void gpu_apply_resize(void *opaque)
{
    VirtioGpu *g = opaque;
    pthread_mutex_lock(&g->lock);
    bool changed = g->want_width && (g->want_width != g->width || g->want_height != g->height);
    if (changed) {
        g->width = g->want_width;
        g->height = g->want_height;
    }
    g->want_width = g->want_height = 0;
    pthread_mutex_unlock(&g->lock);
    if (!changed)
        return;
    virtio_gpu_build_edid(g->edid, g->width, g->height);
    g->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
    virtio_mmio_config_changed(&g->vdev);
}

int virtio_gpu_request_resize(VirtioMmio *v, uint32_t width, uint32_t height, Error *err)
{
    VirtioGpu *g = gpu_of(v);
    if (gpu_size_check(width, height, err) < 0)
        return -1;
    pthread_mutex_lock(&g->lock);
    g->want_width = width;
    g->want_height = height;
    pthread_mutex_unlock(&g->lock);
    if (!g->loop) {
        gpu_apply_resize(g);
        return 0;
    }
    if (evloop_call(g->loop, gpu_apply_resize, g) < 0)
        return error_set(err, "out of memory queueing a display resize");
    return 0;
}
