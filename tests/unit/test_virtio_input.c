/*
 * virtio-input driven through its registers (rings built by hand):
 *   - the configuration space of both flavours for every selector (name,
 *     serial, ids, property bits, event bitmaps, axis ranges, unknown ones);
 *   - events delivered in order, each report closed by EV_SYN, through the
 *     event loop; events waiting while the driver has no buffers; a full
 *     buffer dropping the oldest reports, counted; a front end on another
 *     thread;
 *   - the status queue: LEDs recorded, garbage ignored with one log line;
 *   - hostile event chains (readable, too short, outside RAM): the device
 *     needs a reset (one log line) and works again after it;
 *   - the state table: waiting events and LEDs survive a save and load.
 */
#include <pthread.h>
#include <string.h>

#include "state/state.h"
#include "tap.h"
#include "util/evloop.h"
#include "util/log.h"
#include "vfake.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QAREA(q) (RAM_BASE + 0x10000ull * (q))
#define BUF (RAM_BASE + 0x100000)
#define STATUS_BUF (RAM_BASE + 0x80000)
#define QNUM 64

static Bus bus;
static EventLoop *loop;
static VFakeIrq irq;
static int log_lines;
static char last_log[512];

static void count_sink(void *opaque, LogLevel level, const char *line, size_t len)
{
    log_lines++;
    while (len && line[len - 1] == '\n')
        len--;
    snprintf(last_log, sizeof(last_log), "%.*s", (int)len, line);
}

/* One byte written to the configuration space (as Linux's virtio_cwrite8). */
static void cfg_write8(VirtioMmio *v, uint64_t off, uint8_t val)
{
    virtio_mmio_ops.write(v, VIRTIO_MMIO_CONFIG + off, 1, val);
}

/* Select (select, subsel); returns the size the device reports. */
static unsigned cfg_select(VirtioMmio *v, uint8_t select, uint8_t subsel)
{
    cfg_write8(v, 0, select);
    cfg_write8(v, 1, subsel);
    return vfake_rd8(v, VIRTIO_MMIO_CONFIG + 2);
}

static uint8_t cfg_u8(VirtioMmio *v, unsigned i)
{
    return vfake_rd8(v, VIRTIO_MMIO_CONFIG + 8 + i);
}

static uint32_t cfg_u32(VirtioMmio *v, unsigned i)
{
    uint64_t x;
    virtio_mmio_ops.read(v, VIRTIO_MMIO_CONFIG + 8 + i, 4, &x);
    return (uint32_t)x;
}

static bool cfg_bit(VirtioMmio *v, unsigned bit)
{
    return (cfg_u8(v, bit / 8) >> (bit % 8)) & 1;
}

static bool cfg_string_is(VirtioMmio *v, const char *want)
{
    size_t n = strlen(want);
    for (size_t i = 0; i < n; i++)
        if (cfg_u8(v, (unsigned)i) != (uint8_t)want[i])
            return false;
    return true;
}

static VirtioMmio *new_input(VirtioInputKind kind, uint64_t base)
{
    Error err;
    VirtioInputConfig c = {.kind = kind, .loop = loop};
    VirtioMmio *v = vfake_virtio_input(&bus, base, &irq, &c, &err);
    if (!v)
        printf("# %s\n", err.msg);
    return v;
}

static void test_keyboard_config(VirtioMmio *v)
{
    ok(vfake_rd(v, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_INPUT, "device id 18");
    ok(vfake_device_features(v) & VIRTIO_BIT(VIRTIO_F_VERSION_1), "VERSION_1 offered");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_UNSET, 0) == 0, "UNSET: size 0");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ID_NAME, 0) == 22 &&
           cfg_string_is(v, "hostel virtio keyboard"),
       "ID_NAME: 'hostel virtio keyboard'");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ID_SERIAL, 0) == 0 && cfg_u8(v, 0) == 0,
       "ID_SERIAL: none (size 0, union zero)");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ID_DEVIDS, 0) == 8 && cfg_u8(v, 0) == 0x06 &&
           cfg_u8(v, 2) == 0x27 && cfg_u8(v, 3) == 0x06 && cfg_u8(v, 4) == 1,
       "ID_DEVIDS: BUS_VIRTUAL, vendor 0x0627, product 1");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_PROP_BITS, 0) == 0, "PROP_BITS: none");
    unsigned size = cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_KEY);
    ok(size == 16 && cfg_bit(v, 1) && cfg_bit(v, 30) && cfg_bit(v, 28) && cfg_bit(v, 88) &&
           cfg_bit(v, 103) && cfg_bit(v, 125) && !cfg_bit(v, 0) && !cfg_bit(v, 84) &&
           !cfg_bit(v, 116),
       "EV_BITS/EV_KEY: Esc, A, Enter, F12, Up, Meta; not KEY_RESERVED, 84 or Power (size %u)",
       size);
    ok(cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_REP) == 1, "EV_BITS/EV_REP offered");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_LED) == 1 && cfg_u8(v, 0) == 0x07,
       "EV_BITS/EV_LED: num, caps, scroll lock");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_ABS) == 0 &&
           cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_REL) == 0 &&
           cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_SYN) == 0,
       "EV_BITS: no EV_ABS, EV_REL, EV_SYN");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ABS_INFO, 0) == 0, "ABS_INFO: none on a keyboard");
    ok(cfg_select(v, 0x7f, 3) == 0 && cfg_u8(v, 0) == 0, "an unknown selector: size 0");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ID_NAME, 1) == 0, "ID_NAME with a subsel: size 0");
    virtio_mmio_ops.write(v, VIRTIO_MMIO_CONFIG + 2, 1, 99);
    ok(vfake_rd8(v, VIRTIO_MMIO_CONFIG + 2) == 0, "size is read-only");
    virtio_mmio_ops.write(v, VIRTIO_MMIO_CONFIG, 2, VIRTIO_INPUT_CFG_EV_BITS | 1 << 8);
    ok(vfake_rd8(v, VIRTIO_MMIO_CONFIG + 2) == 16, "a 2-byte write sets select and subsel");
}

static void test_tablet_config(VirtioMmio *v)
{
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ID_NAME, 0) == 20 && cfg_string_is(v, "hostel virtio tablet"),
       "tablet ID_NAME");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ID_DEVIDS, 0) == 8 && cfg_u8(v, 4) == 3, "tablet product 3");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_ABS) == 1 && cfg_u8(v, 0) == 0x03,
       "EV_BITS/EV_ABS: ABS_X, ABS_Y");
    unsigned size = cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_KEY);
    ok(size == 35 && cfg_bit(v, VIRTIO_INPUT_BTN_LEFT) && cfg_bit(v, VIRTIO_INPUT_BTN_RIGHT) &&
           cfg_bit(v, VIRTIO_INPUT_BTN_MIDDLE) && !cfg_bit(v, 30) && !cfg_bit(v, 0x113),
       "EV_BITS/EV_KEY: left, right, middle buttons only (size %u)", size);
    ok(cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_REL) == 2 && cfg_u8(v, 0) == 0 &&
           cfg_u8(v, 1) == 1,
       "EV_BITS/EV_REL: REL_WHEEL");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_REP) == 0 &&
           cfg_select(v, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_LED) == 0,
       "no EV_REP, EV_LED on a tablet");
    for (uint8_t axis = 0; axis < 2; axis++)
        ok(cfg_select(v, VIRTIO_INPUT_CFG_ABS_INFO, axis) == 20 && cfg_u32(v, 0) == 0 &&
               cfg_u32(v, 4) == VIRTIO_INPUT_ABS_MAX && cfg_u32(v, 8) == 0 && cfg_u32(v, 12) == 0 &&
               cfg_u32(v, 16) == 0,
           "ABS_INFO %s: 0..32767, no fuzz, flat, resolution", axis ? "ABS_Y" : "ABS_X");
    ok(cfg_select(v, VIRTIO_INPUT_CFG_ABS_INFO, 2) == 0, "ABS_INFO ABS_Z: none");
}

/* ---- the driver side ---- */

static unsigned posted; /* event buffers made available so far (buffer k at BUF + 8k) */

/* Reset and bring the device up; no event buffers yet. */
static void bringup(VirtioMmio *v, VFakeQueue *evq, VFakeQueue *stq)
{
    vfake_negotiate(v, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX));
    vfake_queue(evq, v, 0, QNUM, QAREA(0));
    vfake_queue(stq, v, 1, QNUM, QAREA(1));
    vfake_driver_ok(v);
    posted = 0;
    memset(vfake_ram(&bus, BUF), 0xff, 0x10000);
}

/* Post n more 8-byte event buffers and notify. */
static void post(VFakeQueue *evq, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        VFakeSeg s = {BUF + 8ull * posted++, 8, true};
        vfake_add(evq, &s, 1);
    }
    vfake_kick(evq);
}

/* Post n more buffers, at most a queue's worth outstanding, letting the device use them. */
static void post_all(VFakeQueue *evq, unsigned n)
{
    while (n) {
        unsigned room = QNUM - (posted - vfake_used_idx(evq)), k = room < n ? room : n;
        post(evq, k);
        n -= k;
    }
}

/* Event k as the device wrote it. */
static bool event_is(unsigned k, uint16_t type, uint16_t code, uint32_t value)
{
    uint8_t *p = vfake_ram(&bus, BUF + 8ull * k);
    uint16_t t = (uint16_t)(p[0] | p[1] << 8), c = (uint16_t)(p[2] | p[3] << 8);
    uint32_t val = p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24;
    if (t == type && c == code && val == value)
        return true;
    printf("#   event %u: type %u code %u value %u; want %u %u %u\n", k, t, c, val, type, code,
           value);
    return false;
}

static bool syn_at(unsigned k)
{
    return event_is(k, VIRTIO_INPUT_EV_SYN, 0, 0);
}

static void run_loop(void)
{
    while (evloop_run_once(loop, 0) > 0)
        ;
}

static VirtioInputStats stats(VirtioMmio *v)
{
    VirtioInputStats st;
    virtio_input_stats(v, &st);
    return st;
}

static void test_keys(VirtioMmio *v, VFakeQueue *evq)
{
    post(evq, 8);
    ok(virtio_input_send_key(v, 30, true) == 0 && virtio_input_send_key(v, 30, false) == 0,
       "KEY_A pressed and released");
    ok(vfake_used_idx(evq) == 0, "nothing delivered before the VM thread's loop runs");
    run_loop();
    ok(vfake_used_idx(evq) == 4 && vfake_used_len(evq, 0) == 8, "four events delivered, 8 bytes");
    ok(event_is(0, VIRTIO_INPUT_EV_KEY, 30, 1) && syn_at(1) &&
           event_is(2, VIRTIO_INPUT_EV_KEY, 30, 0) && syn_at(3),
       "in order: press, SYN, release, SYN");
    ok(irq.level == 1, "used-buffer interrupt raised");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    ok(virtio_input_send_key(v, 116, true) < 0 && virtio_input_send_key(v, 0, true) < 0 &&
           virtio_input_send_key(v, 5000, true) < 0,
       "keys the keyboard lacks are refused");
    ok(virtio_input_send_abs(v, 1, 1) < 0 && virtio_input_send_buttons(v, 1) < 0 &&
           virtio_input_send_wheel(v, 1) < 0,
       "pointer calls on the keyboard are refused");
    run_loop();
    ok(vfake_used_idx(evq) == 4 && stats(v).pending == 0, "refused calls queue nothing");
}

static void test_waiting_and_overflow(VirtioMmio *v, VFakeQueue *evq)
{
    unsigned used = vfake_used_idx(evq); /* 4 buffers are still posted */
    virtio_input_send_key(v, 2, true);
    virtio_input_send_key(v, 3, true);
    virtio_input_send_key(v, 2, false);
    run_loop();
    ok(vfake_used_idx(evq) == used + 4 && stats(v).pending == 2,
       "with 4 buffers for 6 events, 2 wait");
    post(evq, 2);
    ok(vfake_used_idx(evq) == used + 6 && event_is(posted - 2, VIRTIO_INPUT_EV_KEY, 2, 0) &&
           syn_at(posted - 1),
       "new buffers take the waiting events at the driver's notify");
    ok(stats(v).pending == 0 && stats(v).dropped == 0, "nothing waits, nothing dropped");
    /* 300 reports of 2 events with no buffer: 256 events fit, the oldest reports go. */
    for (unsigned i = 0; i < 300; i++)
        virtio_input_send_key(v, 2 + i % 10, i & 1);
    run_loop();
    VirtioInputStats st = stats(v);
    ok(st.pending == VIRTIO_INPUT_PENDING && st.dropped == 600 - VIRTIO_INPUT_PENDING,
       "overflow: %u wait, %llu dropped", st.pending, (unsigned long long)st.dropped);
    unsigned first = posted;
    post(evq, 4);
    ok(event_is(first, VIRTIO_INPUT_EV_KEY, 2 + 172 % 10, 0) && syn_at(first + 1) &&
           event_is(first + 2, VIRTIO_INPUT_EV_KEY, 2 + 173 % 10, 1),
       "the newest 128 reports are kept, whole");
    post_all(evq, VIRTIO_INPUT_PENDING - 4);
    ok(stats(v).pending == 0 && event_is(posted - 2, VIRTIO_INPUT_EV_KEY, 2 + 299 % 10, 1),
       "all delivered, the last is the last sent");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
}

static void test_tablet_events(VirtioMmio *v, VFakeQueue *evq)
{
    ok(virtio_input_send_abs(v, 100, 40000) == 0 && virtio_input_send_abs(v, -5, 7) == 0,
       "two pointer moves");
    ok(virtio_input_send_buttons(v, VIRTIO_INPUT_BUTTON_LEFT | VIRTIO_INPUT_BUTTON_MIDDLE) == 0 &&
           virtio_input_send_buttons(v, VIRTIO_INPUT_BUTTON_MIDDLE) == 0 &&
           virtio_input_send_buttons(v, VIRTIO_INPUT_BUTTON_MIDDLE) == 0,
       "buttons: left+middle, middle, middle again");
    ok(virtio_input_send_wheel(v, -2) == 0 && virtio_input_send_wheel(v, 0) == 0, "wheel");
    ok(virtio_input_send_key(v, 30, true) < 0 && virtio_input_send_buttons(v, 8) < 0,
       "a key or an unknown button on the tablet is refused");
    post(evq, 20);
    run_loop();
    ok(event_is(0, VIRTIO_INPUT_EV_ABS, 0, 100) &&
           event_is(1, VIRTIO_INPUT_EV_ABS, 1, VIRTIO_INPUT_ABS_MAX) && syn_at(2) &&
           event_is(3, VIRTIO_INPUT_EV_ABS, 0, 0) && event_is(4, VIRTIO_INPUT_EV_ABS, 1, 7) &&
           syn_at(5),
       "absolute moves, clamped to 0..32767, each with SYN");
    ok(event_is(6, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_LEFT, 1) &&
           event_is(7, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_MIDDLE, 1) && syn_at(8) &&
           event_is(9, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_LEFT, 0) && syn_at(10),
       "button changes only, then SYN");
    ok(event_is(11, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_WHEEL, (uint32_t)-2) && syn_at(12) &&
           vfake_used_idx(evq) == 13,
       "wheel -2 then SYN; no events for an unchanged state or a zero wheel");
    vfake_wr(v, VIRTIO_MMIO_INTERRUPT_ACK, 3);
}

/* ---- a front end on another thread ---- */

#define THREAD_REPORTS 120

static void *front_end(void *opaque)
{
    for (unsigned i = 0; i < THREAD_REPORTS; i++)
        virtio_input_send_key(opaque, 2 + i % 50, i & 1);
    return NULL;
}

static void test_thread(VirtioMmio *v, VFakeQueue *evq)
{
    uint64_t dropped = stats(v).dropped;
    pthread_t t;
    pthread_create(&t, NULL, front_end, v);
    unsigned want = 2 * THREAD_REPORTS;
    for (int spins = 0; spins < 2000 && vfake_used_idx(evq) < want; spins++) {
        unsigned used = vfake_used_idx(evq), room = QNUM - (posted - used);
        if (posted < want)
            post(evq, room < want - posted ? room : want - posted);
        evloop_run_once(loop, 1000000);
    }
    pthread_join(t, NULL);
    bool in_order = vfake_used_idx(evq) == want;
    for (unsigned i = 0; in_order && i < THREAD_REPORTS; i++)
        in_order = event_is(2 * i, VIRTIO_INPUT_EV_KEY, (uint16_t)(2 + i % 50), i & 1) &&
                   syn_at(2 * i + 1);
    ok(in_order, "%u reports sent from another thread arrive whole and in order", THREAD_REPORTS);
    ok(stats(v).dropped == dropped, "none dropped");
}

/* ---- status queue and hostile chains ---- */

static void put_event(uint64_t pa, uint16_t type, uint16_t code, uint32_t value)
{
    uint8_t *p = vfake_ram(&bus, pa);
    p[0] = (uint8_t)type, p[1] = (uint8_t)(type >> 8);
    p[2] = (uint8_t)code, p[3] = (uint8_t)(code >> 8);
    for (int i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)(value >> (8 * i));
}

static void test_status(VirtioMmio *v, VFakeQueue *stq)
{
    put_event(STATUS_BUF, VIRTIO_INPUT_EV_LED, 1, 1);      /* LED_CAPSL on */
    put_event(STATUS_BUF + 8, VIRTIO_INPUT_EV_LED, 0, 1);  /* LED_NUML on */
    put_event(STATUS_BUF + 16, VIRTIO_INPUT_EV_LED, 1, 0); /* LED_CAPSL off */
    for (int i = 0; i < 3; i++) {
        VFakeSeg s = {STATUS_BUF + 8ull * i, 8, false};
        vfake_add(stq, &s, 1);
    }
    vfake_kick(stq);
    ok(vfake_used_idx(stq) == 3 && stats(v).leds == 0x1, "LED events recorded: num lock on");
    log_lines = 0;
    put_event(STATUS_BUF + 32, 0x55, 0x1234, 7);             /* an unknown type: ignored */
    put_event(STATUS_BUF + 48, VIRTIO_INPUT_EV_LED, 200, 1); /* an LED out of range */
    VFakeSeg bad[4][2] = {
        {{STATUS_BUF + 32, 8, false}},
        {{STATUS_BUF + 48, 8, false}},
        {{STATUS_BUF, 3, false}},                             /* too short */
        {{STATUS_BUF, 8, false}, {STATUS_BUF + 64, 8, true}}, /* a writable buffer */
    };
    for (int i = 0; i < 4; i++)
        vfake_add(stq, bad[i], i == 3 ? 2 : 1);
    vfake_kick(stq);
    ok(vfake_used_idx(stq) == 7 && !vfake_broken(v) && stats(v).leds == 0x1,
       "status garbage is returned and ignored; the device stays up");
    ok(log_lines == 1 && strstr(last_log, "status chain"), "one log line: %s", last_log);
    vfake_add(stq, bad[2], 1);
    vfake_kick(stq);
    ok(log_lines == 1, "no second line for more garbage");
}

/* A bad event chain breaks the device with one line; it works again after a reset. */
static void hostile_event_chain(VirtioMmio *v, VFakeQueue *evq, VFakeQueue *stq,
                                const VFakeSeg *segs, unsigned n, const char *what,
                                const char *want_log)
{
    bringup(v, evq, stq);
    vfake_add(evq, segs, n);
    vfake_kick(evq);
    log_lines = 0;
    virtio_input_send_key(v, 30, true);
    run_loop();
    ok(vfake_broken(v) && log_lines == 1 && strstr(last_log, want_log),
       "%s: device needs reset, one line: %s", what, last_log);
    bringup(v, evq, stq);
    ok(stats(v).pending == 0, "%s: the reset dropped the waiting events", what);
    post(evq, 4);
    virtio_input_send_key(v, 30, false);
    run_loop();
    ok(!vfake_broken(v) && vfake_used_idx(evq) == 2 && event_is(0, VIRTIO_INPUT_EV_KEY, 30, 0) &&
           syn_at(1),
       "%s: after a reset events are delivered", what);
}

static void test_hostile(VirtioMmio *v, VFakeQueue *evq, VFakeQueue *stq)
{
    VFakeSeg readable[1] = {{BUF, 8, false}};
    hostile_event_chain(v, evq, stq, readable, 1, "a device-readable event buffer",
                        "device-readable");
    VFakeSeg mixed[2] = {{BUF, 8, false}, {BUF + 8, 8, true}};
    hostile_event_chain(v, evq, stq, mixed, 2, "a readable then writable chain", "device-readable");
    VFakeSeg shortbuf[1] = {{BUF, 4, true}};
    hostile_event_chain(v, evq, stq, shortbuf, 1, "a 4-byte event buffer", "shorter than an event");
    VFakeSeg outside[1] = {{RAM_BASE + RAM_SIZE - 4, 8, true}};
    hostile_event_chain(v, evq, stq, outside, 1, "a buffer crossing the end of RAM", "queue 0");
    VFakeSeg split[2] = {{BUF, 4, true}, {BUF + 0x100, 4, true}};
    bringup(v, evq, stq);
    vfake_add(evq, split, 2);
    vfake_kick(evq);
    virtio_input_send_key(v, 30, false);
    run_loop();
    uint8_t *a = vfake_ram(&bus, BUF), *b = vfake_ram(&bus, BUF + 0x100);
    ok(!vfake_broken(v) && vfake_used_len(evq, 0) == 8 && a[0] == 1 && a[2] == 30 && b[0] == 0,
       "an event split over two 4-byte buffers is written across them");
    run_loop();
}

/* ---- state ---- */

static void test_state(void)
{
    VirtioMmio *a = new_input(VIRTIO_INPUT_KEYBOARD, 0x10003000);
    VirtioMmio *b = new_input(VIRTIO_INPUT_KEYBOARD, 0x10004000);
    if (!a || !b)
        return;
    VFakeQueue evq, stq;
    bringup(a, &evq, &stq);
    put_event(STATUS_BUF, VIRTIO_INPUT_EV_LED, 1, 1);
    VFakeSeg s = {STATUS_BUF, 8, false};
    vfake_add(&stq, &s, 1);
    vfake_kick(&stq);
    virtio_input_send_key(a, 44, true);
    virtio_input_send_key(a, 44, false);
    run_loop();
    cfg_select(a, VIRTIO_INPUT_CFG_EV_BITS, VIRTIO_INPUT_EV_LED);
    const StateDesc *d = &virtio_input_state_desc;
    if (d->pre_save)
        d->pre_save(a);
    size_t len = state_encoded_size(d, d->version, a);
    uint8_t *buf = malloc(len);
    state_encode(d, a, buf);
    size_t bsize = d->size;
    void *staged = malloc(bsize);
    memcpy(staged, b, bsize);
    Error err = {0};
    int rc = state_decode(d, d->version, buf, len, staged, &err);
    ok(rc == 0, "the saved section decodes (%s)", rc ? err.msg : "ok");
    bringup(b, &evq, &stq);
    if (rc == 0)
        state_commit(d, b, staged);
    VirtioInputStats st = stats(b);
    ok(st.pending == 4 && st.leds == 0x2, "restored: 4 events wait, caps lock on");
    ok(vfake_rd8(b, VIRTIO_MMIO_CONFIG + 2) == 1 && cfg_u8(b, 0) == 0x07,
       "restored: the selected configuration reads the same");
    post(&evq, 4);
    run_loop();
    ok(event_is(0, VIRTIO_INPUT_EV_KEY, 44, 1) && syn_at(1) &&
           event_is(2, VIRTIO_INPUT_EV_KEY, 44, 0) && syn_at(3),
       "restored: the waiting events are delivered");
    buf[len - 1] ^= 0;                    /* a count beyond the buffer is refused */
    uint8_t *p = buf + 2 + 4 + 4 + 8 + 8; /* select, subsel, buttons, leds, delivered, dropped */
    p[0] = 0xff, p[1] = 0xff;
    memcpy(staged, b, bsize);
    ok(state_decode(d, d->version, buf, len, staged, &err) < 0,
       "a count of waiting events beyond the buffer is refused: %s", err.msg);
    free(staged);
    free(buf);
    virtio_mmio_free(a);
    virtio_mmio_free(b);
}

int main(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0 || !(loop = evloop_new(&err))) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    log_set_sink(count_sink, NULL);
    VirtioMmio *kbd = new_input(VIRTIO_INPUT_KEYBOARD, 0x10001000);
    VirtioMmio *tab = new_input(VIRTIO_INPUT_TABLET, 0x10002000);
    ok(kbd && tab, "keyboard and tablet created");
    if (!kbd || !tab)
        return tap_done();
    test_keyboard_config(kbd);
    test_tablet_config(tab);
    VFakeQueue evq, stq;
    bringup(kbd, &evq, &stq);
    test_keys(kbd, &evq);
    test_waiting_and_overflow(kbd, &evq);
    bringup(kbd, &evq, &stq);
    test_thread(kbd, &evq);
    test_status(kbd, &stq);
    test_hostile(kbd, &evq, &stq);
    bringup(tab, &evq, &stq);
    test_tablet_events(tab, &evq);
    test_state();
    virtio_mmio_free(kbd);
    virtio_mmio_free(tab);
    evloop_free(loop);
    bus_destroy(&bus);
    log_set_sink(NULL, NULL);
    return tap_done();
}
