/*
 * virtio-gpu command handlers.  A chain is a request (header and fixed
 * part, then for ATTACH_BACKING its entries) followed by the response
 * buffer.  Every guest value is copied out once and checked: a short
 * request, a response buffer too small for the answer, an unknown command
 * and every bad id, rectangle, offset or backing entry is answered with
 * the matching VIRTIO_GPU_RESP_ERR_* and logged once per kind.  Commands
 * run in order on the VM thread and each is answered before the next
 * starts, so fenced commands complete in order.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/bus.h"
#include "util/compiler.h"
#include "virtio/gpu_int.h"

#define GPU_REQ_MAX 64     /* the largest fixed request part (56 bytes) */
#define GPU_RESP_MAX 1056  /* the largest response (EDID) */
#define GPU_ENTRY_SIZE 16  /* struct virtio_gpu_mem_entry */
#define GPU_MAX_SCANOUTS 1 /* scanout ids 0 .. GPU_MAX_SCANOUTS-1 */

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

static void wr32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static VirtioGpuRect rd_rect(const uint8_t *p)
{
    return (VirtioGpuRect){rd32(p), rd32(p + 4), rd32(p + 8), rd32(p + 12)};
}

/* True if rect is non-empty and lies inside a width x height resource. */
static bool rect_inside(const VirtioGpuRect *r, uint32_t width, uint32_t height)
{
    return r->width && r->height && (uint64_t)r->x + r->width <= width &&
           (uint64_t)r->y + r->height <= height;
}

/* What a handler sees of one request. */
typedef struct GpuReq {
    const VirtqElem *e;
    const uint8_t *req; /* the fixed part, header included */
    uint8_t *data;      /* response payload after the header */
} GpuReq;

/* The resource named at offset off of the request, or NULL after logging. */
static GpuResource *req_resource(VirtioGpu *g, const GpuReq *q, unsigned off, const char *cmd)
{
    uint32_t id = rd32(q->req + off);
    GpuResource *r = id ? gpu_resource(g, id) : NULL;
    if (!r)
        gpu_log_once(g, GPU_LOG_RESOURCE_ID, "%s: no resource %u", cmd, id);
    return r;
}

/* ---- the control queue ---- */

static uint32_t cmd_display_info(VirtioGpu *g, const GpuReq *q)
{
    uint8_t *m = q->data; /* pmodes[0]: rect, enabled, flags; the other 15 stay zero */
    wr32(m + 8, g->width);
    wr32(m + 12, g->height);
    wr32(m + 16, 1);
    return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static uint32_t cmd_get_edid(VirtioGpu *g, const GpuReq *q)
{
    if (!virtio_mmio_has_feature(&g->vdev, VIRTIO_GPU_F_EDID)) {
        gpu_log_once(g, GPU_LOG_UNKNOWN_COMMAND, "GET_EDID without VIRTIO_GPU_F_EDID");
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    uint32_t scanout = rd32(q->req + GPU_HDR_SIZE);
    if (scanout >= GPU_MAX_SCANOUTS) {
        gpu_log_once(g, GPU_LOG_SCANOUT_ID, "GET_EDID: no scanout %u", scanout);
        return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    }
    wr32(q->data, GPU_EDID_SIZE);
    memcpy(q->data + 8, g->edid, GPU_EDID_SIZE);
    return VIRTIO_GPU_RESP_OK_EDID;
}

static uint32_t create_check(VirtioGpu *g, uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
    if (!id || gpu_resource(g, id)) {
        gpu_log_once(g, GPU_LOG_RESOURCE_ID, "RESOURCE_CREATE_2D: resource id %u %s", id,
                     id ? "is in use" : "is reserved");
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    if (!gpu_format_ok(format) || !w || !h || w > VIRTIO_GPU_MAX_DIM || h > VIRTIO_GPU_MAX_DIM) {
        gpu_log_once(g, GPU_LOG_PARAMETER, "RESOURCE_CREATE_2D: format %u %ux%u not supported",
                     format, w, h);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    uint64_t bytes = (uint64_t)w * h * GPU_BPP;
    if (g->nres >= VIRTIO_GPU_MAX_RESOURCES || bytes > VIRTIO_GPU_MAX_HOST_BYTES - g->host_bytes) {
        gpu_log_once(g, GPU_LOG_OUT_OF_MEMORY,
                     "RESOURCE_CREATE_2D: %ux%u over the limits (%u resources, %llu MiB)", w, h,
                     VIRTIO_GPU_MAX_RESOURCES,
                     (unsigned long long)(VIRTIO_GPU_MAX_HOST_BYTES >> 20));
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_create_2d(VirtioGpu *g, const GpuReq *q)
{
    const uint8_t *p = q->req + GPU_HDR_SIZE;
    uint32_t id = rd32(p), format = rd32(p + 4), w = rd32(p + 8), h = rd32(p + 12);
    uint32_t st = create_check(g, id, format, w, h);
    if (st != VIRTIO_GPU_RESP_OK_NODATA)
        return st;
    GpuResource *r = NULL;
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES && !r; i++)
        if (!g->res[i].id)
            r = &g->res[i];
    uint8_t *pixels = r ? calloc((size_t)w * h, GPU_BPP) : NULL;
    if (!pixels) {
        gpu_log_once(g, GPU_LOG_OUT_OF_MEMORY, "RESOURCE_CREATE_2D: out of host memory");
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    *r = (GpuResource){.id = id, .format = format, .width = w, .height = h, .pixels = pixels};
    g->nres++;
    g->host_bytes += (uint64_t)w * h * GPU_BPP;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_unref(VirtioGpu *g, const GpuReq *q)
{
    GpuResource *r = req_resource(g, q, GPU_HDR_SIZE, "RESOURCE_UNREF");
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    gpu_resource_free(g, r);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Read and check the n entries after the fixed part into ents. */
static uint32_t backing_read(VirtioGpu *g, const GpuReq *q, uint32_t n, GpuEntry *ents,
                             uint64_t *total)
{
    *total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t raw[GPU_ENTRY_SIZE];
        virtq_elem_read(q->e, 32 + (uint64_t)i * GPU_ENTRY_SIZE, raw, sizeof(raw));
        ents[i] = (GpuEntry){rd64(raw), rd32(raw + 8)};
        if (!ents[i].len || !bus_ram_ptr(g->vdev.cfg.bus, ents[i].addr, ents[i].len)) {
            gpu_log_once(g, GPU_LOG_BACKING,
                         "RESOURCE_ATTACH_BACKING: entry %u (0x%llx+0x%x) is not in guest RAM", i,
                         (unsigned long long)ents[i].addr, ents[i].len);
            return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        }
        *total += ents[i].len;
    }
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_attach_backing(VirtioGpu *g, const GpuReq *q)
{
    GpuResource *r = req_resource(g, q, GPU_HDR_SIZE, "RESOURCE_ATTACH_BACKING");
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    uint32_t n = rd32(q->req + GPU_HDR_SIZE + 4);
    if (r->ents || !n) {
        gpu_log_once(g, GPU_LOG_BACKING, "RESOURCE_ATTACH_BACKING: resource %u %s", r->id,
                     n ? "already has a backing" : "with no entries");
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    if (n > VIRTIO_GPU_MAX_BACKING_ENTRIES - g->total_ents) {
        gpu_log_once(g, GPU_LOG_OUT_OF_MEMORY,
                     "RESOURCE_ATTACH_BACKING: %u entries over the limit of %u", n,
                     VIRTIO_GPU_MAX_BACKING_ENTRIES);
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    if (q->e->out_len < 32 + (uint64_t)n * GPU_ENTRY_SIZE) {
        gpu_log_once(g, GPU_LOG_SHORT_REQUEST,
                     "RESOURCE_ATTACH_BACKING: %u entries announced, "
                     "fewer sent",
                     n);
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    GpuEntry *ents = malloc((size_t)n * sizeof(*ents));
    if (!ents)
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    uint64_t total;
    uint32_t st = backing_read(g, q, n, ents, &total);
    if (st != VIRTIO_GPU_RESP_OK_NODATA) {
        free(ents);
        return st;
    }
    r->ents = ents;
    r->nents = n;
    r->backing_len = total;
    g->total_ents += n;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_detach_backing(VirtioGpu *g, const GpuReq *q)
{
    GpuResource *r = req_resource(g, q, GPU_HDR_SIZE, "RESOURCE_DETACH_BACKING");
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!r->ents) {
        gpu_log_once(g, GPU_LOG_BACKING, "RESOURCE_DETACH_BACKING: resource %u has no backing",
                     r->id);
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    g->total_ents -= r->nents;
    free(r->ents);
    r->ents = NULL;
    r->nents = 0;
    r->backing_len = 0;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_set_scanout(VirtioGpu *g, const GpuReq *q)
{
    const uint8_t *p = q->req + GPU_HDR_SIZE;
    VirtioGpuRect rect = rd_rect(p);
    uint32_t scanout = rd32(p + 16), id = rd32(p + 20);
    if (scanout >= GPU_MAX_SCANOUTS) {
        gpu_log_once(g, GPU_LOG_SCANOUT_ID, "SET_SCANOUT: no scanout %u", scanout);
        return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    }
    if (!id) { /* disable the scanout */
        g->scanout_res = 0;
        return VIRTIO_GPU_RESP_OK_NODATA;
    }
    GpuResource *r = req_resource(g, q, GPU_HDR_SIZE + 20, "SET_SCANOUT");
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!rect_inside(&rect, r->width, r->height)) {
        gpu_log_once(g, GPU_LOG_RECT, "SET_SCANOUT: %ux%u+%u+%u is not inside resource %u (%ux%u)",
                     rect.width, rect.height, rect.x, rect.y, r->id, r->width, r->height);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    g->scanout_res = r->id;
    g->scanout_rect = rect;
    gpu_mark_dirty(g, &(VirtioGpuRect){0, 0, rect.width, rect.height});
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_transfer(VirtioGpu *g, const GpuReq *q)
{
    const uint8_t *p = q->req + GPU_HDR_SIZE;
    VirtioGpuRect rect = rd_rect(p);
    uint64_t offset = rd64(p + 16);
    GpuResource *r = req_resource(g, q, GPU_HDR_SIZE + 24, "TRANSFER_TO_HOST_2D");
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!rect_inside(&rect, r->width, r->height)) {
        gpu_log_once(g, GPU_LOG_RECT,
                     "TRANSFER_TO_HOST_2D: %ux%u+%u+%u is not inside resource %u (%ux%u)",
                     rect.width, rect.height, rect.x, rect.y, r->id, r->width, r->height);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    /* The last byte read: offset + stride * (height - 1) + width * bpp (< 2^33 past offset). */
    uint64_t span =
        (uint64_t)r->width * GPU_BPP * (rect.height - 1) + (uint64_t)rect.width * GPU_BPP;
    if (!r->ents || offset > r->backing_len || span > r->backing_len - offset) {
        gpu_log_once(g, GPU_LOG_BACKING,
                     "TRANSFER_TO_HOST_2D: resource %u: offset %llu + %llu bytes is outside its "
                     "backing (%llu bytes)",
                     r->id, (unsigned long long)offset, (unsigned long long)span,
                     (unsigned long long)r->backing_len);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    gpu_copy_from_backing(g, r, &rect, offset);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_flush(VirtioGpu *g, const GpuReq *q)
{
    VirtioGpuRect rect = rd_rect(q->req + GPU_HDR_SIZE);
    GpuResource *r = req_resource(g, q, GPU_HDR_SIZE + 16, "RESOURCE_FLUSH");
    if (!r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!rect_inside(&rect, r->width, r->height)) {
        gpu_log_once(g, GPU_LOG_RECT, "RESOURCE_FLUSH: %ux%u+%u+%u is not inside resource %u",
                     rect.width, rect.height, rect.x, rect.y, r->id);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    if (g->scanout_res != r->id)
        return VIRTIO_GPU_RESP_OK_NODATA;
    /* Intersect with the scanout rectangle, in scanout coordinates. */
    const VirtioGpuRect *s = &g->scanout_rect;
    uint64_t x0 = rect.x > s->x ? rect.x : s->x, y0 = rect.y > s->y ? rect.y : s->y;
    uint64_t x1 = (uint64_t)rect.x + rect.width, y1 = (uint64_t)rect.y + rect.height;
    if (x1 > (uint64_t)s->x + s->width)
        x1 = (uint64_t)s->x + s->width;
    if (y1 > (uint64_t)s->y + s->height)
        y1 = (uint64_t)s->y + s->height;
    if (x0 < x1 && y0 < y1)
        gpu_mark_dirty(g, &(VirtioGpuRect){(uint32_t)(x0 - s->x), (uint32_t)(y0 - s->y),
                                           (uint32_t)(x1 - x0), (uint32_t)(y1 - y0)});
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* ---- the cursor queue ---- */

static uint32_t cursor_scanout_check(VirtioGpu *g, const GpuReq *q, const char *cmd)
{
    uint32_t scanout = rd32(q->req + GPU_HDR_SIZE);
    if (scanout < GPU_MAX_SCANOUTS)
        return VIRTIO_GPU_RESP_OK_NODATA;
    gpu_log_once(g, GPU_LOG_SCANOUT_ID, "%s: no scanout %u", cmd, scanout);
    return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
}

static uint32_t cmd_update_cursor(VirtioGpu *g, const GpuReq *q)
{
    const uint8_t *p = q->req + GPU_HDR_SIZE; /* pos (scanout, x, y, pad), id, hot_x, hot_y */
    uint32_t st = cursor_scanout_check(g, q, "UPDATE_CURSOR");
    if (st != VIRTIO_GPU_RESP_OK_NODATA)
        return st;
    uint32_t id = rd32(p + 16);
    GpuResource *r = id ? req_resource(g, q, GPU_HDR_SIZE + 16, "UPDATE_CURSOR") : NULL;
    if (id && !r)
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (r && (r->width > VIRTIO_GPU_MAX_CURSOR || r->height > VIRTIO_GPU_MAX_CURSOR)) {
        gpu_log_once(g, GPU_LOG_PARAMETER, "UPDATE_CURSOR: resource %u is %ux%u (at most %ux%u)",
                     id, r->width, r->height, VIRTIO_GPU_MAX_CURSOR, VIRTIO_GPU_MAX_CURSOR);
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    g->cursor_res = id;
    g->cursor.x = rd32(p + 4);
    g->cursor.y = rd32(p + 8);
    g->cursor.hot_x = rd32(p + 20);
    g->cursor.hot_y = rd32(p + 24);
    g->cursor.visible = r != NULL;
    if (r)
        gpu_cursor_image(g, r);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_move_cursor(VirtioGpu *g, const GpuReq *q)
{
    uint32_t st = cursor_scanout_check(g, q, "MOVE_CURSOR");
    if (st != VIRTIO_GPU_RESP_OK_NODATA)
        return st;
    g->cursor.x = rd32(q->req + GPU_HDR_SIZE + 4);
    g->cursor.y = rd32(q->req + GPU_HDR_SIZE + 8);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* ---- dispatch ---- */

typedef struct GpuCmd {
    uint32_t type;
    const char *name;
    bool cursor;       /* a cursor-queue command */
    uint32_t req_len;  /* the fixed part, header included */
    uint32_t resp_len; /* the success response */
    uint32_t (*fn)(VirtioGpu *g, const GpuReq *q);
} GpuCmd;

static const GpuCmd gpu_cmds[] = {
    {VIRTIO_GPU_CMD_GET_DISPLAY_INFO, "GET_DISPLAY_INFO", false, 24, 24 + 16 * 24,
     cmd_display_info},
    {VIRTIO_GPU_CMD_GET_EDID, "GET_EDID", false, 32, 32 + 1024, cmd_get_edid},
    {VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, "RESOURCE_CREATE_2D", false, 40, 24, cmd_create_2d},
    {VIRTIO_GPU_CMD_RESOURCE_UNREF, "RESOURCE_UNREF", false, 32, 24, cmd_unref},
    {VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, "RESOURCE_ATTACH_BACKING", false, 32, 24,
     cmd_attach_backing},
    {VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, "RESOURCE_DETACH_BACKING", false, 32, 24,
     cmd_detach_backing},
    {VIRTIO_GPU_CMD_SET_SCANOUT, "SET_SCANOUT", false, 48, 24, cmd_set_scanout},
    {VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, "TRANSFER_TO_HOST_2D", false, 56, 24, cmd_transfer},
    {VIRTIO_GPU_CMD_RESOURCE_FLUSH, "RESOURCE_FLUSH", false, 48, 24, cmd_flush},
    {VIRTIO_GPU_CMD_UPDATE_CURSOR, "UPDATE_CURSOR", true, 56, 24, cmd_update_cursor},
    {VIRTIO_GPU_CMD_MOVE_CURSOR, "MOVE_CURSOR", true, 56, 24, cmd_move_cursor},
};

static const GpuCmd *gpu_cmd_find(uint32_t type, bool cursor)
{
    for (unsigned i = 0; i < ARRAY_SIZE(gpu_cmds); i++)
        if (gpu_cmds[i].type == type && gpu_cmds[i].cursor == cursor)
            return &gpu_cmds[i];
    return NULL;
}

/* Check the chain's sizes against cmd and run it; returns the response type. */
static uint32_t gpu_run(VirtioGpu *g, const GpuCmd *cmd, const VirtqElem *e, const uint8_t *req,
                        uint8_t *resp)
{
    if (e->out_len < cmd->req_len) {
        gpu_log_once(g, GPU_LOG_SHORT_REQUEST, "%s: request of %llu bytes (%u needed)", cmd->name,
                     (unsigned long long)e->out_len, cmd->req_len);
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    if (!cmd->cursor && e->in_len < cmd->resp_len) { /* cursor commands need no answer */
        gpu_log_once(g, GPU_LOG_SMALL_RESPONSE, "%s: response buffer of %llu bytes (%u needed)",
                     cmd->name, (unsigned long long)e->in_len, cmd->resp_len);
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    GpuReq q = {.e = e, .req = req, .data = resp + GPU_HDR_SIZE};
    pthread_mutex_lock(&g->lock);
    uint32_t type = cmd->fn(g, &q);
    pthread_mutex_unlock(&g->lock);
    return type;
}

uint32_t gpu_handle(VirtioGpu *g, const VirtqElem *e, bool cursor)
{
    uint8_t req[GPU_REQ_MAX] = {0};
    uint8_t resp[GPU_RESP_MAX] = {0};
    size_t got = virtq_elem_read(e, 0, req, sizeof(req));
    uint32_t type = VIRTIO_GPU_RESP_ERR_UNSPEC, cmd_type = rd32(req);
    const GpuCmd *cmd = got >= GPU_HDR_SIZE ? gpu_cmd_find(cmd_type, cursor) : NULL;
    if (got < GPU_HDR_SIZE)
        gpu_log_once(g, GPU_LOG_SHORT_REQUEST, "request of %zu bytes has no header", got);
    else if (!cmd)
        gpu_log_once(g, GPU_LOG_UNKNOWN_COMMAND, "unknown %s command 0x%x",
                     cursor ? "cursor" : "control", cmd_type);
    else
        type = gpu_run(g, cmd, e, req, resp);
    if (e->in_len < GPU_HDR_SIZE) {
        if (!cursor) /* the cursor queue's buffers usually have no response part */
            gpu_log_once(g, GPU_LOG_SMALL_RESPONSE, "response buffer of %llu bytes",
                         (unsigned long long)e->in_len);
        return 0;
    }
    /* The answer: type, the request's fence flag, fence id, context and ring index. */
    wr32(resp, type);
    wr32(resp + 4, rd32(req + 4) & VIRTIO_GPU_FLAG_FENCE);
    memcpy(resp + 8, req + 8, 16);
    uint32_t len = GPU_HDR_SIZE;
    if (type == VIRTIO_GPU_RESP_OK_DISPLAY_INFO || type == VIRTIO_GPU_RESP_OK_EDID)
        len = cmd->resp_len;
    return (uint32_t)virtq_elem_write(e, 0, resp, len);
}
