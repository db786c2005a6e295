/*
 * virtio-input (virtio 1.2, 5.8) in two flavours: a PC keyboard (EV_KEY
 * with the keys of a 105-key keyboard, EV_REP, EV_LED) and a tablet, an
 * absolute pointer (EV_ABS ABS_X/ABS_Y over 0..VIRTIO_INPUT_ABS_MAX,
 * EV_KEY BTN_LEFT/RIGHT/MIDDLE, EV_REL REL_WHEEL), so a pointer lines up
 * with the guest's without acceleration.
 *
 * The driver reads what the device offers through the configuration space
 * (select/subsel/size and the union: name, ids, bitmaps, axis ranges).
 * Events go to the guest on the event queue (queue 0), one 8-byte
 * struct virtio_input_event per buffer; the driver sends LED changes on
 * the status queue (queue 1): they are recorded, anything else is ignored.
 *
 * A front end (a VNC server on its own thread) calls virtio_input_send_*
 * from any thread.  Each call appends its events and an EV_SYN to a
 * bounded buffer under a lock and asks the VM thread (through its event
 * loop) to copy them into the guest's buffers; a call never blocks on the
 * guest.  While the driver has no buffers posted, events wait; when the
 * buffer is full the oldest report (events up to an EV_SYN) is dropped
 * and counted.  Waiting events are part of the saved state.
 */
#ifndef HOSTEL_VIRTIO_INPUT_H
#define HOSTEL_VIRTIO_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/mmio.h"

struct EventLoop;

#define VIRTIO_ID_INPUT 18
#define VIRTIO_INPUT_QUEUE_MAX 64
#define VIRTIO_INPUT_PENDING 256   /* events waiting for guest buffers, at most */
#define VIRTIO_INPUT_ABS_MAX 32767 /* the tablet's axes run 0..this */
#define VIRTIO_INPUT_EVENT_SIZE 8  /* struct virtio_input_event: le16 type, code; le32 value */
#define VIRTIO_INPUT_CFG_SIZE 136  /* struct virtio_input_config: 8 bytes, then the union */

/* Configuration space selectors (virtio 1.2, 5.8.4). */
enum {
    VIRTIO_INPUT_CFG_UNSET = 0x00,
    VIRTIO_INPUT_CFG_ID_NAME = 0x01,
    VIRTIO_INPUT_CFG_ID_SERIAL = 0x02,
    VIRTIO_INPUT_CFG_ID_DEVIDS = 0x03,
    VIRTIO_INPUT_CFG_PROP_BITS = 0x10,
    VIRTIO_INPUT_CFG_EV_BITS = 0x11,
    VIRTIO_INPUT_CFG_ABS_INFO = 0x12,
};

/* The evdev codes the devices use (linux/input-event-codes.h). */
enum {
    VIRTIO_INPUT_EV_SYN = 0x00,
    VIRTIO_INPUT_EV_KEY = 0x01,
    VIRTIO_INPUT_EV_REL = 0x02,
    VIRTIO_INPUT_EV_ABS = 0x03,
    VIRTIO_INPUT_EV_LED = 0x11,
    VIRTIO_INPUT_EV_REP = 0x14,
    VIRTIO_INPUT_SYN_REPORT = 0,
    VIRTIO_INPUT_ABS_X = 0x00,
    VIRTIO_INPUT_ABS_Y = 0x01,
    VIRTIO_INPUT_REL_WHEEL = 0x08,
    VIRTIO_INPUT_BTN_LEFT = 0x110,
    VIRTIO_INPUT_BTN_RIGHT = 0x111,
    VIRTIO_INPUT_BTN_MIDDLE = 0x112,
    VIRTIO_INPUT_KEY_MAX = 0x2ff,
};

/* Buttons of virtio_input_send_buttons. */
#define VIRTIO_INPUT_BUTTON_LEFT 0x1
#define VIRTIO_INPUT_BUTTON_RIGHT 0x2
#define VIRTIO_INPUT_BUTTON_MIDDLE 0x4

typedef enum VirtioInputKind {
    VIRTIO_INPUT_KEYBOARD,
    VIRTIO_INPUT_TABLET,
} VirtioInputKind;

typedef struct VirtioInputConfig {
    VirtioInputKind kind;
    struct EventLoop
        *loop; /* the VM thread's loop: events sent from elsewhere are injected there */
} VirtioInputConfig;

/*
 * Create a virtio-input device.  Returns the transport part (map it with
 * virtio_mmio_ops, free it with virtio_mmio_free), or NULL with err filled.
 * Calls queued on the loop refer to the device: free it only once the
 * loop will not run again (or after evloop_free).
 */
VirtioMmio *virtio_input_new(const VirtioMmioConfig *mcfg, const VirtioInputConfig *icfg,
                             Error *err);

/* The device's section in the state tables (tag "virtio-input"). */
extern const struct StateDesc virtio_input_state_desc;

/*
 * The front end's calls, from any thread; v must come from
 * virtio_input_new().  Each queues its events and an EV_SYN and returns
 * 0, or -1 when the device does not have what it is asked for (a key on
 * the tablet, a code the keyboard lacks, a pointer on the keyboard):
 * nothing is queued then.
 *
 * send_key: evdev key code (KEY_A = 30, ...), pressed or released.
 * send_abs: the tablet's pointer to (x, y), clamped to 0..VIRTIO_INPUT_ABS_MAX.
 * send_buttons: the tablet's buttons now held (VIRTIO_INPUT_BUTTON_*):
 *   an EV_KEY for each that changed since the last call (none: no events).
 * send_wheel: the tablet's wheel by delta notches (positive: away from the user).
 */
int virtio_input_send_key(VirtioMmio *v, unsigned code, bool pressed);
int virtio_input_send_abs(VirtioMmio *v, int x, int y);
int virtio_input_send_buttons(VirtioMmio *v, unsigned buttons);
int virtio_input_send_wheel(VirtioMmio *v, int delta);

typedef struct VirtioInputStats {
    unsigned pending;   /* events waiting for guest buffers */
    uint64_t delivered; /* events written to guest buffers */
    uint64_t dropped;   /* events dropped because the buffer was full */
    uint32_t leds;      /* keyboard: the LEDs the guest set (bit n = LED code n) */
} VirtioInputStats;

/* Counters and LED state, from any thread. */
void virtio_input_stats(VirtioMmio *v, VirtioInputStats *st);

#endif
