/*
 * The VNC server of a VM's display (libvncserver): the scanout of a
 * virtio-gpu to any number of RFB clients, their keys to the virtio-input
 * keyboard and their pointer to the tablet.
 *
 * The server runs on its own thread, woken when the guest flushes (the
 * device's notify hook), when a client sends something, or after
 * VNC_INTERVAL_MS.  It takes the GPU's dirty rectangle, copies those pixels
 * into its own framebuffer under the device's lock (the guest waits only
 * for that copy), and lets
 * libvncserver send them to each client as it can; a scanout of another
 * size replaces the framebuffer (clients that know DesktopSize or
 * ExtendedDesktopSize are told).  Input calls never wait for the guest
 * (virtio/input.h).  A slow or hostile client delays only the server's
 * thread (and is dropped after VNC_CLIENT_WAIT_MS without progress).
 */
#ifndef HOSTEL_UI_VNC_H
#define HOSTEL_UI_VNC_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/mmio.h"

#define VNC_INTERVAL_MS 200     /* the longest sleep: a cursor change is seen this late */
#define VNC_MAX_CLIENTS 16      /* more connections are closed at once */
#define VNC_CLIENT_WAIT_MS 5000 /* a client that takes no bytes that long is dropped */
#define VNC_PASSWORD_MAX 8      /* VNC authentication uses 8 bytes of the password */

typedef struct VncServer VncServer;

typedef struct VncConfig {
    /* "HOST:PORT" (IPv4 address or name, "[IPv6]:PORT") or "unix:PATH" */
    const char *listen;
    /*
     * A file whose first line is the password (VNC authentication); NULL:
     * none, allowed only on a unix socket or a loopback address.
     */
    const char *password_file;
    VirtioMmio *gpu;      /* the virtio-gpu (required) */
    VirtioMmio *keyboard; /* the virtio-input keyboard; NULL: keys are ignored */
    VirtioMmio *tablet;   /* the virtio-input tablet; NULL: the pointer is ignored */
} VncConfig;

/*
 * Listen and start the server's thread.  Returns the server, or NULL
 * with err filled: a malformed address, a TCP address other than loopback
 * without a password, an unreadable or empty password file, the address
 * in use.
 */
VncServer *vnc_server_new(const VncConfig *cfg, Error *err);

/* Stop the thread, close every client and the listener (a unix socket is removed). */
void vnc_server_free(VncServer *s);

/* The address it listens on ("127.0.0.1:5901", "unix:/path": the port chosen for port 0). */
const char *vnc_server_address(const VncServer *s);

/*
 * What an RFB client's pointer event means for the tablet: x, y on a
 * width x height framebuffer scaled to 0..VIRTIO_INPUT_ABS_MAX, the RFB
 * button mask (1 left, 2 middle, 4 right, 8 wheel up, 16 wheel down) as
 * VIRTIO_INPUT_BUTTON_*, and the wheel notches (+1 up, -1 down) pressed
 * since the previous mask prev.
 */
typedef struct VncPointer {
    int x, y;
    unsigned buttons;
    int wheel;
} VncPointer;
void vnc_pointer_map(int x, int y, uint32_t width, uint32_t height, int mask, int prev,
                     VncPointer *out);

#endif
