/*
 * virtio-input: the configuration space each flavour describes itself
 * with, the bounded buffer front ends fill from their threads, and the
 * VM-thread side that moves it into the event queue and reads the status
 * queue.
 */
#include "virtio/input.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util/compiler.h"
#include "util/evloop.h"
#include "util/log.h"

enum { INPUT_EVENTQ = 0, INPUT_STATUSQ = 1 };

#define INPUT_BUS_VIRTUAL 0x06 /* BUS_VIRTUAL */
#define INPUT_VENDOR 0x0627    /* QEMU's, as the transport's vendor id */
#define INPUT_LED_MAX 0x0f

typedef struct VirtioInputEvent {
    uint16_t type, code;
    uint32_t value;
} VirtioInputEvent;

/* The state front ends share, copied under the lock for a save. */
typedef struct VirtioInputSaved {
    uint32_t buttons, leds;
    uint64_t delivered, dropped;
    uint32_t nevents;
    VirtioInputEvent events[VIRTIO_INPUT_PENDING]; /* the waiting events, oldest first */
} VirtioInputSaved;

typedef struct VirtioInput {
    VirtioMmio vdev; /* first: container_of */
    VirtioInputKind kind;
    EventLoop *loop;
    VirtqElem elem; /* the chain being served (VM thread) */
    /* Configuration space (VM thread): what the driver selected, what it reads. */
    uint8_t select, subsel;
    uint8_t config[VIRTIO_INPUT_CFG_SIZE];
    bool status_warned; /* one line for a misbehaving status queue */
    /* Shared with the front ends: under lock. */
    pthread_mutex_t lock;
    VirtioInputEvent ring[VIRTIO_INPUT_PENDING];
    unsigned head, count;
    bool call_scheduled;
    uint32_t buttons, leds;
    uint64_t delivered, dropped;
    /* What is under lock as saved (pre_save) and restored (post_load). */
    VirtioInputSaved saved;
} VirtioInput;

static VirtioInput *input_of(VirtioMmio *v)
{
    return container_of(v, VirtioInput, vdev);
}

/* ---- what each flavour offers ---- */

static void bit_set(uint8_t *map, unsigned bit)
{
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static bool bit_test(const uint8_t *map, size_t bytes, unsigned bit)
{
    return bit / 8 < bytes && (map[bit / 8] >> (bit % 8)) & 1;
}

/* The keys of a PC (105-key) keyboard: Esc..F12, the keypad, the extended block, meta, menu. */
static size_t keyboard_keys(uint8_t *map)
{
    static const struct {
        uint16_t first, last;
    } ranges[] = {
        {1, 83},    /* KEY_ESC .. KEY_KPDOT: the main block, F1-F10, the keypad */
        {86, 88},   /* KEY_102ND, KEY_F11, KEY_F12 */
        {96, 111},  /* KEY_KPENTER .. KEY_DELETE: right ctrl/alt, sysrq, arrows, ins/del */
        {113, 115}, /* KEY_MUTE, KEY_VOLUMEDOWN, KEY_VOLUMEUP */
        {117, 117}, /* KEY_KPEQUAL */
        {119, 119}, /* KEY_PAUSE */
        {125, 127}, /* KEY_LEFTMETA, KEY_RIGHTMETA, KEY_COMPOSE */
    };
    for (size_t r = 0; r < ARRAY_SIZE(ranges); r++)
        for (unsigned k = ranges[r].first; k <= ranges[r].last; k++)
            bit_set(map, k);
    return 16; /* up to KEY_COMPOSE (127) */
}

static size_t tablet_buttons(uint8_t *map)
{
    bit_set(map, VIRTIO_INPUT_BTN_LEFT);
    bit_set(map, VIRTIO_INPUT_BTN_RIGHT);
    bit_set(map, VIRTIO_INPUT_BTN_MIDDLE);
    return VIRTIO_INPUT_BTN_MIDDLE / 8 + 1;
}

/* EV_BITS for event type ev into map; returns the bitmap's size (0: the type is not offered). */
static size_t input_ev_bits(VirtioInputKind kind, unsigned ev, uint8_t *map)
{
    if (kind == VIRTIO_INPUT_KEYBOARD) {
        switch (ev) {
        case VIRTIO_INPUT_EV_KEY: return keyboard_keys(map);
        case VIRTIO_INPUT_EV_REP: return 1;                /* offered: Linux repeats keys itself */
        case VIRTIO_INPUT_EV_LED: map[0] = 0x07; return 1; /* LED_NUML, LED_CAPSL, LED_SCROLLL */
        default: return 0;
        }
    }
    switch (ev) {
    case VIRTIO_INPUT_EV_KEY: return tablet_buttons(map);
    case VIRTIO_INPUT_EV_REL: bit_set(map, VIRTIO_INPUT_REL_WHEEL); return 2;
    case VIRTIO_INPUT_EV_ABS: map[0] = 0x03; return 1; /* ABS_X, ABS_Y */
    default: return 0;
    }
}

static size_t put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return 2;
}

static size_t put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    return 2 + put_le16(p + 2, (uint16_t)(v >> 16));
}

/* The union for (select, subsel) into u (128 bytes, zeroed); returns its size. */
static size_t input_config_union(const VirtioInput *in, uint8_t *u)
{
    bool kbd = in->kind == VIRTIO_INPUT_KEYBOARD;
    switch (in->select) {
    case VIRTIO_INPUT_CFG_ID_NAME: {
        const char *name = kbd ? "hostel virtio keyboard" : "hostel virtio tablet";
        memcpy(u, name, strlen(name));
        return in->subsel ? 0 : strlen(name);
    }
    case VIRTIO_INPUT_CFG_ID_DEVIDS:
        if (in->subsel)
            return 0;
        put_le16(u, INPUT_BUS_VIRTUAL);
        put_le16(u + 2, INPUT_VENDOR);
        put_le16(u + 4, kbd ? 0x0001 : 0x0003); /* product: keyboard, tablet */
        put_le16(u + 6, 0x0001);
        return 8;
    case VIRTIO_INPUT_CFG_EV_BITS: return input_ev_bits(in->kind, in->subsel, u);
    case VIRTIO_INPUT_CFG_ABS_INFO:
        if (kbd || in->subsel > VIRTIO_INPUT_ABS_Y)
            return 0;
        put_le32(u, 0);                        /* min */
        put_le32(u + 4, VIRTIO_INPUT_ABS_MAX); /* max; fuzz, flat, res: 0 */
        return 20;
    default: return 0; /* UNSET, ID_SERIAL (none), PROP_BITS (none), unknown */
    }
}

/* Recompute the configuration space after select or subsel changed. */
static void input_config_update(VirtioInput *in)
{
    uint8_t *c = in->config;
    memset(c, 0, sizeof(in->config));
    c[0] = in->select;
    c[1] = in->subsel;
    size_t size = input_config_union(in, c + 8);
    c[2] = (uint8_t)size;
    if (!size)
        memset(c + 8, 0, sizeof(in->config) - 8); /* nothing offered: the union reads 0 */
}

static uint64_t input_config_read(VirtioMmio *v, uint64_t offset, unsigned size)
{
    VirtioInput *in = input_of(v);
    return virtio_config_bytes(in->config, sizeof(in->config), offset, size);
}

static void input_config_write(VirtioMmio *v, uint64_t offset, unsigned size, uint64_t value)
{
    VirtioInput *in = input_of(v);
    bool changed = false;
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint8_t byte = (uint8_t)(value >> (8 * i));
        if (offset + i == 0)
            in->select = byte, changed = true;
        else if (offset + i == 1)
            in->subsel = byte, changed = true;
        /* size and the union are the device's: writes are ignored */
    }
    if (changed)
        input_config_update(in);
}

/* ---- the buffer front ends fill (any thread) ---- */

/* Under lock: drop the oldest report (events up to and including an EV_SYN). */
static void ring_drop_report(VirtioInput *in)
{
    while (in->count) {
        VirtioInputEvent e = in->ring[in->head];
        in->head = (in->head + 1) % VIRTIO_INPUT_PENDING;
        in->count--;
        in->dropped++;
        if (e.type == VIRTIO_INPUT_EV_SYN)
            return;
    }
}

static void input_flush_call(void *opaque);

/* Under lock: make sure the VM thread will flush the buffer. */
static void input_schedule(VirtioInput *in)
{
    if (in->call_scheduled || !in->loop)
        return;
    in->call_scheduled = true;
    if (evloop_call(in->loop, input_flush_call, in) < 0)
        in->call_scheduled = false; /* the next send, or the driver's next kick, flushes */
}

/* Queue n events and an EV_SYN as one report. */
static void input_queue(VirtioInput *in, const VirtioInputEvent *ev, unsigned n)
{
    pthread_mutex_lock(&in->lock);
    while (in->count + n + 1 > VIRTIO_INPUT_PENDING)
        ring_drop_report(in);
    for (unsigned i = 0; i <= n; i++) {
        VirtioInputEvent e = i < n ? ev[i] : (VirtioInputEvent){VIRTIO_INPUT_EV_SYN, 0, 0};
        in->ring[(in->head + in->count) % VIRTIO_INPUT_PENDING] = e;
        in->count++;
    }
    input_schedule(in);
    pthread_mutex_unlock(&in->lock);
}

int virtio_input_send_key(VirtioMmio *v, unsigned code, bool pressed)
{
    VirtioInput *in = input_of(v);
    uint8_t map[16] = {0};
    size_t bytes = in->kind == VIRTIO_INPUT_KEYBOARD ? keyboard_keys(map) : 0;
    if (!bit_test(map, bytes, code))
        return -1;
    VirtioInputEvent e = {VIRTIO_INPUT_EV_KEY, (uint16_t)code, pressed};
    input_queue(in, &e, 1);
    return 0;
}

static uint32_t clamp_axis(int x)
{
    return x < 0 ? 0 : x > VIRTIO_INPUT_ABS_MAX ? VIRTIO_INPUT_ABS_MAX : (uint32_t)x;
}

int virtio_input_send_abs(VirtioMmio *v, int x, int y)
{
    VirtioInput *in = input_of(v);
    if (in->kind != VIRTIO_INPUT_TABLET)
        return -1;
    VirtioInputEvent e[2] = {{VIRTIO_INPUT_EV_ABS, VIRTIO_INPUT_ABS_X, clamp_axis(x)},
                             {VIRTIO_INPUT_EV_ABS, VIRTIO_INPUT_ABS_Y, clamp_axis(y)}};
    input_queue(in, e, 2);
    return 0;
}

int virtio_input_send_buttons(VirtioMmio *v, unsigned buttons)
{
    static const uint16_t codes[] = {VIRTIO_INPUT_BTN_LEFT, VIRTIO_INPUT_BTN_RIGHT,
                                     VIRTIO_INPUT_BTN_MIDDLE};
    VirtioInput *in = input_of(v);
    if (in->kind != VIRTIO_INPUT_TABLET || buttons > 7)
        return -1;
    VirtioInputEvent e[3];
    unsigned n = 0;
    pthread_mutex_lock(&in->lock);
    uint32_t changed = in->buttons ^ buttons;
    in->buttons = buttons;
    pthread_mutex_unlock(&in->lock);
    for (unsigned b = 0; b < ARRAY_SIZE(codes); b++)
        if (changed & (1u << b))
            e[n++] = (VirtioInputEvent){VIRTIO_INPUT_EV_KEY, codes[b], (buttons >> b) & 1};
    if (n)
        input_queue(in, e, n);
    return 0;
}

int virtio_input_send_wheel(VirtioMmio *v, int delta)
{
    VirtioInput *in = input_of(v);
    if (in->kind != VIRTIO_INPUT_TABLET)
        return -1;
    if (delta == 0)
        return 0;
    VirtioInputEvent e = {VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_WHEEL, (uint32_t)delta};
    input_queue(in, &e, 1);
    return 0;
}

void virtio_input_stats(VirtioMmio *v, VirtioInputStats *st)
{
    VirtioInput *in = input_of(v);
    pthread_mutex_lock(&in->lock);
    *st = (VirtioInputStats){
        .pending = in->count, .delivered = in->delivered, .dropped = in->dropped, .leds = in->leds};
    pthread_mutex_unlock(&in->lock);
}

/* ---- the VM thread: event queue ---- */

/* Under lock: copy waiting events into the guest's buffers, one per chain. */
static bool input_deliver(VirtioInput *in)
{
    VirtioMmio *v = &in->vdev;
    Virtq *q = &v->vq[INPUT_EVENTQ];
    bool pushed = false;
    while (in->count && virtio_mmio_running(v) && q->ready && virtq_pop(q, &in->elem) == 1) {
        VirtqElem *e = &in->elem;
        if (e->n_out || e->in_len < VIRTIO_INPUT_EVENT_SIZE) {
            virtio_mmio_set_broken(v, "event chain %u %s", e->head,
                                   e->n_out ? "has device-readable buffers"
                                            : "is shorter than an event (8 bytes)");
            break;
        }
        VirtioInputEvent ev = in->ring[in->head];
        uint8_t wire[VIRTIO_INPUT_EVENT_SIZE];
        put_le16(wire, ev.type);
        put_le16(wire + 2, ev.code);
        put_le32(wire + 4, ev.value);
        virtq_push(q, e, (uint32_t)virtq_elem_write(e, 0, wire, sizeof(wire)));
        in->head = (in->head + 1) % VIRTIO_INPUT_PENDING;
        in->count--;
        in->delivered++;
        pushed = true;
    }
    return pushed;
}

static void input_flush(VirtioInput *in)
{
    pthread_mutex_lock(&in->lock);
    bool pushed = input_deliver(in);
    pthread_mutex_unlock(&in->lock);
    if (pushed)
        virtio_mmio_notify_used(&in->vdev, INPUT_EVENTQ);
}

static void input_flush_call(void *opaque)
{
    VirtioInput *in = opaque;
    pthread_mutex_lock(&in->lock);
    in->call_scheduled = false;
    pthread_mutex_unlock(&in->lock);
    input_flush(in);
}

/* ---- the VM thread: status queue ---- */

/* One line per device (until a reset) for a status queue that breaks the rules. */
static void input_status_warn(VirtioInput *in, const char *what, unsigned head)
{
    if (in->status_warned)
        return;
    in->status_warned = true;
    log_warn("%s@0x%llx: status chain %u %s; ignored", in->vdev.ops->name,
             (unsigned long long)in->vdev.cfg.base, head, what);
}

/* One status event: an LED change is recorded, anything else ignored. */
static void input_status_event(VirtioInput *in, const uint8_t *w)
{
    unsigned type = w[0] | w[1] << 8, code = w[2] | w[3] << 8;
    uint32_t value = w[4] | w[5] << 8 | w[6] << 16 | (uint32_t)w[7] << 24;
    if (type != VIRTIO_INPUT_EV_LED || in->kind != VIRTIO_INPUT_KEYBOARD || code > INPUT_LED_MAX)
        return;
    pthread_mutex_lock(&in->lock);
    in->leds = value ? in->leds | 1u << code : in->leds & ~(1u << code);
    pthread_mutex_unlock(&in->lock);
}

static void input_status(VirtioInput *in)
{
    Virtq *q = &in->vdev.vq[INPUT_STATUSQ];
    VirtqElem *e = &in->elem;
    bool pushed = false;
    while (virtq_pop(q, e) == 1) {
        uint8_t w[VIRTIO_INPUT_EVENT_SIZE];
        if (e->n_in || e->out_len != VIRTIO_INPUT_EVENT_SIZE)
            input_status_warn(in, e->n_in ? "has device-writable buffers" : "is not one event",
                              e->head);
        else if (virtq_elem_read(e, 0, w, sizeof(w)) == sizeof(w))
            input_status_event(in, w);
        virtq_push(q, e, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_notify_used(&in->vdev, INPUT_STATUSQ);
}

static void input_queue_notify(VirtioMmio *v, unsigned q)
{
    VirtioInput *in = input_of(v);
    if (q == INPUT_STATUSQ)
        input_status(in);
    else
        input_flush(in); /* new buffers: what waits can go */
}

/* ---- reset, state, teardown ---- */

static void input_reset(VirtioMmio *v)
{
    VirtioInput *in = input_of(v);
    in->select = in->subsel = 0;
    in->status_warned = false;
    input_config_update(in);
    pthread_mutex_lock(&in->lock);
    in->leds = 0;             /* a new driver sets them again */
    in->dropped += in->count; /* events for the old driver are lost, as if unplugged */
    in->head = in->count = 0;
    pthread_mutex_unlock(&in->lock);
}

static void input_pre_save(void *live)
{
    VirtioInput *in = live;
    VirtioInputSaved *s = &in->saved;
    pthread_mutex_lock(&in->lock);
    s->buttons = in->buttons;
    s->leds = in->leds;
    s->delivered = in->delivered;
    s->dropped = in->dropped;
    s->nevents = in->count;
    for (unsigned i = 0; i < in->count; i++)
        s->events[i] = in->ring[(in->head + i) % VIRTIO_INPUT_PENDING];
    pthread_mutex_unlock(&in->lock);
}

static void input_post_load(void *live)
{
    VirtioInput *in = live;
    const VirtioInputSaved *s = &in->saved;
    input_config_update(in);
    pthread_mutex_lock(&in->lock);
    in->buttons = s->buttons;
    in->leds = s->leds;
    in->delivered = s->delivered;
    in->dropped = s->dropped;
    in->head = 0;
    in->count = s->nevents;
    memcpy(in->ring, s->events, s->nevents * sizeof(s->events[0]));
    if (in->count)
        input_schedule(in);
    pthread_mutex_unlock(&in->lock);
}

static const StateField input_event_fields[] = {
    STATE_FIELD(VirtioInputEvent, type, STATE_U16),
    STATE_FIELD(VirtioInputEvent, code, STATE_U16),
    STATE_FIELD(VirtioInputEvent, value, STATE_U32),
    STATE_END,
};

static const StateDesc input_event_desc = {
    .name = "virtio-input-event",
    .version = 1,
    .min_version = 1,
    .size = sizeof(VirtioInputEvent),
    .fields = input_event_fields,
};

/* A field of the saved copy, named as the member. */
#define SAVED_FIELD(field, ty, ...)                                                                \
    {                                                                                              \
        .name = #field, .type = (ty), .offset = offsetof(VirtioInput, saved.field), __VA_ARGS__    \
    }

static const StateField input_fields[] = {
    STATE_FIELD(VirtioInput, select, STATE_U8),
    STATE_FIELD(VirtioInput, subsel, STATE_U8),
    SAVED_FIELD(buttons, STATE_U32, .max = 7),
    SAVED_FIELD(leds, STATE_U32, .max = (1u << (INPUT_LED_MAX + 1)) - 1),
    SAVED_FIELD(delivered, STATE_U64),
    SAVED_FIELD(dropped, STATE_U64),
    SAVED_FIELD(nevents, STATE_U32, .max = VIRTIO_INPUT_PENDING),
    SAVED_FIELD(events, STATE_STRUCT, .count = VIRTIO_INPUT_PENDING, .sub = &input_event_desc,
                .stride = sizeof(VirtioInputEvent)),
    STATE_END,
};

const StateDesc virtio_input_state_desc = {
    .name = "virtio-input",
    .version = 1,
    .min_version = 1,
    .size = sizeof(VirtioInput),
    .fields = input_fields,
    .pre_save = input_pre_save,
    .post_load = input_post_load,
    .absent_ok = true,
};

static void input_free(VirtioMmio *v)
{
    VirtioInput *in = input_of(v);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

static const VirtioDeviceOps input_ops = {
    .name = "virtio-input",
    .device_id = VIRTIO_ID_INPUT,
    .num_queues = 2,
    .queue_max = VIRTIO_INPUT_QUEUE_MAX,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
    .free = input_free,
    .state = &virtio_input_state_desc,
};

VirtioMmio *virtio_input_new(const VirtioMmioConfig *mcfg, const VirtioInputConfig *icfg,
                             Error *err)
{
    if (icfg->kind != VIRTIO_INPUT_KEYBOARD && icfg->kind != VIRTIO_INPUT_TABLET) {
        error_set(err, "virtio-input: not a keyboard or a tablet");
        return NULL;
    }
    VirtioInput *in = calloc(1, sizeof(*in));
    if (!in) {
        error_set(err, "out of memory creating virtio-input");
        return NULL;
    }
    virtio_mmio_init(&in->vdev, &input_ops, mcfg);
    in->kind = icfg->kind;
    in->loop = icfg->loop;
    pthread_mutex_init(&in->lock, NULL);
    input_config_update(in);
    return &in->vdev;
}
