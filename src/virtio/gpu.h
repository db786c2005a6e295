/*
 * virtio-gpu, 2D only (virtio 1.2, 5.7): one scanout, guest resources
 * with a host copy of their pixels, backing pages in guest RAM, transfers
 * to the host copy, flushes that mark a dirty rectangle, a cursor, and the
 * EDID of a monitor whose preferred mode is the configured size.
 *
 * The device runs on the VM thread.  Front ends (a VNC server, a
 * screendump) run on other threads and use the front-end API below: the
 * scanout's framebuffer is read under the device's lock, the dirty
 * rectangle is read and cleared under it, and a resize request is handed
 * to the VM thread through the event loop.
 */
#ifndef HOSTEL_VIRTIO_GPU_H
#define HOSTEL_VIRTIO_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/evloop.h"
#include "virtio/mmio.h"

#define VIRTIO_ID_GPU 16

/* Feature bits (5.7.3). */
#define VIRTIO_GPU_F_VIRGL 0
#define VIRTIO_GPU_F_EDID 1

/* Event bits of the configuration space (5.7.4). */
#define VIRTIO_GPU_EVENT_DISPLAY 1

/* Commands and responses (5.7.6.7). */
enum {
    VIRTIO_GPU_CMD_GET_DISPLAY_INFO = 0x0100,
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
    VIRTIO_GPU_CMD_UPDATE_CURSOR = 0x0300,
    VIRTIO_GPU_CMD_MOVE_CURSOR,
    VIRTIO_GPU_RESP_OK_NODATA = 0x1100,
    VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
    VIRTIO_GPU_RESP_OK_CAPSET_INFO,
    VIRTIO_GPU_RESP_OK_CAPSET,
    VIRTIO_GPU_RESP_OK_EDID,
    VIRTIO_GPU_RESP_ERR_UNSPEC = 0x1200,
    VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
    VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID,
    VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
    VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID,
    VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
};

#define VIRTIO_GPU_FLAG_FENCE 1

/* Pixel formats (5.7.6.8): 4 bytes per pixel, named by byte order in memory. */
enum {
    VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM = 1,
    VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM = 2,
    VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM = 3,
    VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM = 4,
    VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM = 67,
    VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM = 68,
    VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM = 121,
    VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM = 134,
};

/* Limits: what a guest may make the host hold. */
#define VIRTIO_GPU_QUEUE_MAX 256
#define VIRTIO_GPU_MAX_RESOURCES 256             /* live resources */
#define VIRTIO_GPU_MAX_HOST_BYTES (256ull << 20) /* their host copies together */
#define VIRTIO_GPU_MAX_DIM 16384                 /* resource width or height */
#define VIRTIO_GPU_MAX_BACKING_ENTRIES 16384     /* backing entries of all resources */
#define VIRTIO_GPU_MAX_CURSOR 64                 /* cursor image width and height */
#define VIRTIO_GPU_MIN_DISPLAY 16                /* display width or height */
#define VIRTIO_GPU_MAX_DISPLAY 4095              /* (EDID's 12-bit fields) */
#define VIRTIO_GPU_DEFAULT_WIDTH 1024
#define VIRTIO_GPU_DEFAULT_HEIGHT 768

typedef struct VirtioGpuConfig {
    uint32_t width, height; /* the display's size (0: the default 1024x768) */
    EventLoop *loop;        /* the VM thread's loop (resize requests); NULL: callers are on it */
} VirtioGpuConfig;

/*
 * Create a virtio-gpu device.  Returns the transport part (map it with
 * virtio_mmio_ops, free it with virtio_mmio_free), or NULL with err filled
 * (out of memory, a size outside VIRTIO_GPU_MIN_DISPLAY..MAX_DISPLAY).
 */
VirtioMmio *virtio_gpu_new(const VirtioMmioConfig *mcfg, const VirtioGpuConfig *gcfg, Error *err);

/* True if v is a virtio-gpu device. */
bool virtio_gpu_is(const VirtioMmio *v);

/* ---- the front-end API: any thread ---- */

typedef struct VirtioGpuRect {
    uint32_t x, y, width, height;
} VirtioGpuRect;

/* What the scanout shows: pixels is NULL when the guest shows nothing. */
typedef struct VirtioGpuFrame {
    uint32_t width, height; /* of the scanout rectangle */
    uint32_t stride;        /* bytes from one row to the next */
    uint32_t format;        /* VIRTIO_GPU_FORMAT_* (4 bytes per pixel) */
    const uint8_t *pixels;  /* the first pixel of the scanout rectangle */
} VirtioGpuFrame;

/*
 * Take the device's lock and describe the current framebuffer in f.  The
 * pixels stay valid and unchanged until virtio_gpu_frame_unlock; the
 * guest's next transfer waits meanwhile, so copy them out and unlock.
 */
void virtio_gpu_frame_lock(VirtioMmio *v, VirtioGpuFrame *f);
void virtio_gpu_frame_unlock(VirtioMmio *v);

/*
 * The union of the rectangles flushed to the scanout since the last call
 * (scanout coordinates), cleared.  False (r untouched) if nothing changed.
 */
bool virtio_gpu_take_dirty(VirtioMmio *v, VirtioGpuRect *r);

/*
 * Have fn(opaque) called whenever a flush or a new scanout dirties the
 * screen (on the VM thread, under the device's lock: fn must only wake its
 * front end, e.g. write an eventfd), so a front end need not poll.  NULL
 * fn: none.
 */
void virtio_gpu_set_notify(VirtioMmio *v, void (*fn)(void *opaque), void *opaque);

typedef struct VirtioGpuCursor {
    bool visible;
    uint32_t x, y;         /* position on the scanout */
    uint32_t hot_x, hot_y; /* hot spot inside the image */
    uint32_t width, height;
    uint32_t format;
    uint32_t serial; /* bumped at every image change */
    uint8_t image[VIRTIO_GPU_MAX_CURSOR * VIRTIO_GPU_MAX_CURSOR * 4]; /* width * 4 per row */
} VirtioGpuCursor;

/* A copy of the cursor (image taken at the guest's last UPDATE_CURSOR). */
void virtio_gpu_cursor(VirtioMmio *v, VirtioGpuCursor *c);

/* The display size the guest is told (GET_DISPLAY_INFO, EDID). */
void virtio_gpu_display_size(VirtioMmio *v, uint32_t *width, uint32_t *height);

/*
 * Ask the guest to use width x height: the display info changes and the
 * guest gets a display event (configuration change) on the VM thread.
 * Returns 0, or -1 with err filled (size out of range, out of memory).
 */
int virtio_gpu_request_resize(VirtioMmio *v, uint32_t width, uint32_t height, Error *err);

/* The 128-byte EDID 1.4 block of a monitor whose preferred mode is width x height. */
void virtio_gpu_build_edid(uint8_t edid[128], uint32_t width, uint32_t height);

#endif
