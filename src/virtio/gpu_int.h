/*
 * virtio-gpu internals shared by gpu.c (the device, the front-end API, the
 * EDID, the state table) and gpu_cmd.c (the command handlers).
 */
#ifndef HOSTEL_VIRTIO_GPU_INT_H
#define HOSTEL_VIRTIO_GPU_INT_H

#include <pthread.h>

#include "virtio/gpu.h"

#define GPU_HDR_SIZE 24 /* struct virtio_gpu_ctrl_hdr */
#define GPU_BPP 4
#define GPU_EDID_SIZE 128

/* One backing entry: guest-physical pages (checked to lie in RAM at attach). */
typedef struct GpuEntry {
    uint64_t addr;
    uint32_t len;
} GpuEntry;

/* A resource; id 0 marks a free slot of the table. */
typedef struct GpuResource {
    uint32_t id, format, width, height;
    uint8_t *pixels; /* host copy, width * GPU_BPP bytes per row */
    GpuEntry *ents;  /* backing, NULL when detached */
    uint32_t nents;
    uint64_t backing_len; /* bytes of all entries */
} GpuResource;

/* The flat form of one resource in the state table. */
typedef struct GpuResSave {
    uint32_t id, format, width, height;
    uint32_t first, count; /* its entries in the saved entry arrays */
} GpuResSave;

/* Kinds of guest mistakes, each logged once (bits of VirtioGpu.logged). */
typedef enum GpuLogKind {
    GPU_LOG_SHORT_REQUEST,
    GPU_LOG_SMALL_RESPONSE,
    GPU_LOG_UNKNOWN_COMMAND,
    GPU_LOG_RESOURCE_ID,
    GPU_LOG_PARAMETER,
    GPU_LOG_SCANOUT_ID,
    GPU_LOG_OUT_OF_MEMORY,
    GPU_LOG_BACKING,
    GPU_LOG_RECT,
} GpuLogKind;

typedef struct VirtioGpu {
    VirtioMmio vdev; /* first: container_of */
    VirtqElem elem;
    EventLoop *loop;
    GpuResource res[VIRTIO_GPU_MAX_RESOURCES]; /* VM thread; pixels also under lock */
    uint32_t nres;
    uint64_t host_bytes;
    uint32_t total_ents;
    uint32_t logged;      /* GpuLogKind bits */
    uint32_t events_read; /* configuration space */
    uint8_t edid[GPU_EDID_SIZE];

    pthread_mutex_t lock; /* protects what front ends read, below */
    uint32_t width, height;
    uint32_t want_width, want_height; /* a resize request on its way to the VM thread */
    uint32_t scanout_res;             /* 0: scanout disabled */
    VirtioGpuRect scanout_rect;
    bool dirty;
    VirtioGpuRect dirty_rect;
    uint32_t cursor_res;
    VirtioGpuCursor cursor;
    void (*notify)(void *opaque); /* virtio_gpu_set_notify's */
    void *notify_opaque;

    /* The state table's flat copy (filled by pre_save, read by post_load). */
    uint32_t save_nres, save_nents;
    GpuResSave save_res[VIRTIO_GPU_MAX_RESOURCES];
    uint64_t save_addr[VIRTIO_GPU_MAX_BACKING_ENTRIES];
    uint32_t save_len[VIRTIO_GPU_MAX_BACKING_ENTRIES];
} VirtioGpu;

/* Serve one chain of the control (cursor = false) or cursor queue; returns the bytes written. */
uint32_t gpu_handle(VirtioGpu *g, const VirtqElem *e, bool cursor);

/* One of the formats of 5.7.6.8 (all 4 bytes per pixel). */
bool gpu_format_ok(uint32_t format);

/* The resource with id (non-zero), or NULL. */
GpuResource *gpu_resource(VirtioGpu *g, uint32_t id);

/* Free a resource's host copy and backing and its slot. */
void gpu_resource_free(VirtioGpu *g, GpuResource *r);

/* Copy rows [y, y+h) x [x, x+w) of the backing at offset into the host copy (checked before). */
void gpu_copy_from_backing(VirtioGpu *g, GpuResource *r, const VirtioGpuRect *rect,
                           uint64_t offset);

/* Log one line about a guest mistake of this kind, the first time only. */
void gpu_log_once(VirtioGpu *g, GpuLogKind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Add rect (scanout coordinates) to the dirty rectangle; lock held. */
void gpu_mark_dirty(VirtioGpu *g, const VirtioGpuRect *rect);

/* Take a copy of the cursor image from resource r (at most 64x64); lock held. */
void gpu_cursor_image(VirtioGpu *g, const GpuResource *r);

#endif
