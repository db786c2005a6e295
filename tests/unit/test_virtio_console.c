/*
 * virtio-console driven through its registers (rings built by hand):
 *   - a driver without MULTIPORT: port 0's transmit, receive and the
 *     emergency write;
 *   - MULTIPORT: DEVICE_READY adds exactly the ports the board has;
 *     PORT_READY answers with CONSOLE_PORT or PORT_NAME and PORT_OPEN;
 *     the guest opening the agent port; data both ways on port 1; the
 *     writable callback when the driver posts receive buffers;
 *   - hostile control messages (short, unknown event, unknown port, before
 *     DEVICE_READY, a flood the driver never reads): ignored with one log
 *     line, the device keeps working;
 *   - the state table: open ports and waiting messages survive a save and
 *     load; a waiting message for a port the machine lacks is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "tap.h"
#include "util/le.h"
#include "util/log.h"
#include "vfake.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QAREA(q) (RAM_BASE + 0x10000ull * (q))
#define CTRL_BUF (RAM_BASE + 0x100000) /* control receive buffers, 0x100 apart */
#define CTRL_OUT (RAM_BASE + 0x180000) /* messages the driver sends, 0x10 apart */
#define DATA (RAM_BASE + 0x200000)
#define QNUM 16
#define AGENT "org.qemu.guest_agent.0"

static Bus bus;
static VFakeIrq irq;
static int log_lines;

static void count_sink(void *opaque, LogLevel level, const char *line, size_t len)
{
    log_lines++;
}

/* What a port's host side saw. */
typedef struct Sink {
    char out[256];
    size_t len;
    int writable;
} Sink;

static Sink sinks[VIRTIO_CONSOLE_MAX_PORTS];

static void sink_tx(void *opaque, const uint8_t *buf, size_t len)
{
    Sink *s = opaque;
    for (size_t i = 0; i < len && s->len < sizeof(s->out) - 1; i++)
        s->out[s->len++] = (char)buf[i];
}

static void sink_writable(void *opaque)
{
    ((Sink *)opaque)->writable++;
}

static VirtioMmio *console_new(bool console_port, uint64_t base)
{
    memset(sinks, 0, sizeof(sinks));
    VirtioConsoleConfig cfg = {
        .ports = {{.present = console_port, .console = true, .tx = sink_tx, .opaque = &sinks[0]},
                  {.present = true,
                   .name = AGENT,
                   .tx = sink_tx,
                   .writable = sink_writable,
                   .opaque = &sinks[1]}}};
    Error err;
    VirtioMmio *v = vfake_virtio_console(&bus, base, &irq, &cfg, &err);
    if (!v)
        printf("Bail out! %s\n", err.msg);
    return v;
}

/* ---- a driver without MULTIPORT ---- */

static void test_single_port(void)
{
    VirtioMmio *v = console_new(true, 0x10003000);
    ok(v && vfake_rd(v, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_CONSOLE, "virtio-console device id 3");
    ok(vfake_device_features(v) & VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT), "MULTIPORT is offered");
    ok(virtio_console_receive(v, (const uint8_t *)"x", 1) == 0, "no input before the driver runs");
    vfake_negotiate(v, ~VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT));
    VFakeQueue rx, tx;
    vfake_queue(&rx, v, 0, 8, QAREA(0));
    vfake_queue(&tx, v, 1, 8, QAREA(1));
    vfake_driver_ok(v);
    memcpy(vfake_ram(&bus, DATA), "hello, world", 12);
    VFakeSeg out[2] = {{DATA, 7, false}, {DATA + 7, 5, false}};
    vfake_add(&tx, out, 2);
    vfake_kick(&tx);
    ok(sinks[0].len == 12 && memcmp(sinks[0].out, "hello, world", 12) == 0 &&
           vfake_used_idx(&tx) == 1,
       "transmit reaches port 0's output");
    VFakeSeg in = {DATA + 0x100, 4, true};
    vfake_add(&rx, &in, 1);
    vfake_kick(&rx);
    ok(virtio_console_receive(v, (const uint8_t *)"abcdef", 6) == 4 &&
           vfake_used_len(&rx, 0) == 4 && memcmp(vfake_ram(&bus, DATA + 0x100), "abcd", 4) == 0,
       "receive fills the posted buffer and takes 4 of 6 bytes");
    ok(virtio_console_receive(v, (const uint8_t *)"ef", 2) == 0, "no buffer left: nothing taken");
    ok(virtio_console_port_receive(v, 1, (const uint8_t *)"ef", 2) == 0,
       "port 1 takes nothing without MULTIPORT");
    sinks[0].len = 0;
    virtio_mmio_ops.write(v, VIRTIO_MMIO_CONFIG + VIRTIO_CONSOLE_CFG_EMERG_WR, 4, 'Z');
    ok(sinks[0].len == 1 && sinks[0].out[0] == 'Z', "emergency write");
    virtio_mmio_free(v);
}

/* ---- MULTIPORT ---- */

typedef struct Driver {
    VirtioMmio *v;
    VFakeQueue q[6];
    unsigned ctrl_seen; /* control messages read so far */
    unsigned ctrl_sent;
} Driver;

/* Post n control receive buffers of 0x100 bytes (from index first). */
static void post_ctrl_bufs(Driver *d, unsigned first, unsigned n)
{
    for (unsigned i = first; i < first + n; i++) {
        VFakeSeg s = {CTRL_BUF + 0x100ull * i, 0x100, true};
        vfake_add(&d->q[2], &s, 1);
    }
    vfake_kick(&d->q[2]);
}

static void bringup(Driver *d, VirtioMmio *v, unsigned ctrl_bufs)
{
    memset(d, 0, sizeof(*d));
    d->v = v;
    vfake_negotiate(v, ~0ull);
    for (unsigned i = 0; i < 6; i++)
        vfake_queue(&d->q[i], v, i, QNUM, QAREA(i + 1));
    vfake_driver_ok(v);
    if (ctrl_bufs)
        post_ctrl_bufs(d, 0, ctrl_bufs);
}

/* The driver sends a control message of len bytes (8 = a whole one). */
static void send_ctrl_len(Driver *d, uint32_t id, uint16_t event, uint16_t value, uint32_t len)
{
    uint64_t pa = CTRL_OUT + 0x10ull * (d->ctrl_sent++ % 256);
    uint8_t *p = vfake_ram(&bus, pa);
    le_put(p, 4, id);
    le_put(p + 4, 2, event);
    le_put(p + 6, 2, value);
    VFakeSeg s = {pa, len, false};
    vfake_add(&d->q[3], &s, 1);
    vfake_kick(&d->q[3]);
}

static void send_ctrl(Driver *d, uint32_t id, uint16_t event, uint16_t value)
{
    send_ctrl_len(d, id, event, value, 8);
}

/* The next message the device sent; false if there is none. name gets PORT_NAME's name. */
static bool next_ctrl(Driver *d, uint32_t *id, uint16_t *event, uint16_t *value, char *name)
{
    if (d->ctrl_seen == vfake_used_idx(&d->q[2]))
        return false;
    uint32_t len = vfake_used_len(&d->q[2], (uint16_t)d->ctrl_seen);
    const uint8_t *p = vfake_ram(&bus, CTRL_BUF + 0x100ull * d->ctrl_seen++);
    *id = (uint32_t)le_get(p, 4);
    *event = (uint16_t)le_get(p + 4, 2);
    *value = (uint16_t)le_get(p + 6, 2);
    if (name) {
        size_t n = len > 8 ? len - 8 : 0;
        memcpy(name, p + 8, n);
        name[n] = 0;
    }
    return true;
}

static bool expect_ctrl(Driver *d, uint32_t id, uint16_t event, uint16_t value)
{
    uint32_t i;
    uint16_t e, val;
    return next_ctrl(d, &i, &e, &val, NULL) && i == id && e == event && val == value;
}

static void test_multiport(void)
{
    VirtioMmio *v = console_new(true, 0x10003000);
    Driver d;
    bringup(&d, v, 8);
    ok(vfake_rd8(v, VIRTIO_MMIO_CONFIG + 4) == VIRTIO_CONSOLE_MAX_PORTS, "max_nr_ports");
    send_ctrl(&d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
    ok(expect_ctrl(&d, 0, VIRTIO_CONSOLE_DEVICE_ADD, 1) &&
           expect_ctrl(&d, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1),
       "DEVICE_READY: both ports are added");
    send_ctrl(&d, 0, VIRTIO_CONSOLE_PORT_READY, 1);
    ok(expect_ctrl(&d, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1) &&
           expect_ctrl(&d, 0, VIRTIO_CONSOLE_PORT_OPEN, 1),
       "port 0 ready: it is the console port, and the host side is open");
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_READY, 1);
    uint32_t id;
    uint16_t ev, val;
    char name[300];
    ok(next_ctrl(&d, &id, &ev, &val, name) && id == 1 && ev == VIRTIO_CONSOLE_PORT_NAME &&
           strcmp(name, AGENT) == 0,
       "port 1 ready: its name is " AGENT);
    ok(expect_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 1), "port 1: the host side is open");
    ok(!virtio_console_port_open(v, 1), "the guest has not opened port 1 yet");
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    ok(virtio_console_port_open(v, 1), "the guest opened port 1");
    memcpy(vfake_ram(&bus, DATA), "{\"execute\"}", 11);
    VFakeSeg out = {DATA, 11, false};
    vfake_add(&d.q[5], &out, 1);
    vfake_kick(&d.q[5]);
    ok(sinks[1].len == 11 && memcmp(sinks[1].out, "{\"execute\"}", 11) == 0 && sinks[0].len == 0,
       "port 1's output reaches port 1's sink only");
    VFakeSeg in = {DATA + 0x100, 64, true};
    int writable = sinks[1].writable;
    vfake_add(&d.q[4], &in, 1);
    vfake_kick(&d.q[4]);
    ok(sinks[1].writable == writable + 1,
       "posting receive buffers on port 1 calls its writable hook");
    ok(virtio_console_port_receive(v, 1, (const uint8_t *)"{\"return\"}", 10) == 10 &&
           vfake_used_len(&d.q[4], 0) == 10 &&
           memcmp(vfake_ram(&bus, DATA + 0x100), "{\"return\"}", 10) == 0,
       "input on port 1 fills its receive buffer");
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
    ok(!virtio_console_port_open(v, 1), "the guest closed port 1");
    ok(virtio_console_bad_messages(v) == 0 && !vfake_broken(v), "no complaint on the way");
    vfake_wr(v, VIRTIO_MMIO_STATUS, 0);
    ok(!virtio_console_port_open(v, 1), "a reset closes the ports");
    virtio_mmio_free(v);
}

static void test_absent_console_port(void)
{
    VirtioMmio *v = console_new(false, 0x10003000);
    Driver d;
    bringup(&d, v, 8);
    send_ctrl(&d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
    uint32_t id;
    uint16_t ev, val;
    ok(expect_ctrl(&d, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1) && !next_ctrl(&d, &id, &ev, &val, NULL),
       "without a console port only port 1 is added");
    memcpy(vfake_ram(&bus, DATA), "boo", 3);
    VFakeSeg out = {DATA, 3, false};
    vfake_add(&d.q[1], &out, 1);
    vfake_kick(&d.q[1]);
    ok(sinks[0].len == 0 && vfake_used_idx(&d.q[1]) == 1,
       "output on the absent port is consumed and dropped");
    virtio_mmio_free(v);
}

static void test_hostile(void)
{
    VirtioMmio *v = console_new(true, 0x10003000);
    Driver d;
    bringup(&d, v, 4);
    log_lines = 0;
    log_set_sink(count_sink, NULL);
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    send_ctrl_len(&d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1, 5);
    send_ctrl(&d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
    send_ctrl(&d, 7, VIRTIO_CONSOLE_PORT_READY, 1);
    send_ctrl(&d, 0xffffffffu, VIRTIO_CONSOLE_PORT_OPEN, 1);
    send_ctrl(&d, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1);
    send_ctrl(&d, 1, 0xffff, 1);
    ok(virtio_console_bad_messages(v) == 6 && log_lines == 1,
       "6 bad messages (before ready, short, 2 unknown ports, 2 unknown events): one log line");
    ok(!vfake_broken(v) && !virtio_console_port_open(v, 1), "the device stays up, nothing opened");
    ok(expect_ctrl(&d, 0, VIRTIO_CONSOLE_DEVICE_ADD, 1) &&
           expect_ctrl(&d, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1),
       "the good DEVICE_READY among them was served");
    /* A driver that never reads: the waiting messages are capped. */
    for (unsigned i = 0; i < 3 * VIRTIO_CONSOLE_CTRL_PENDING; i++)
        send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_READY, 1);
    ok(log_lines == 1 && virtio_console_bad_messages(v) > 6,
       "a flood of PORT_READY while the driver reads nothing: capped, no more log lines");
    post_ctrl_bufs(&d, 4, 12);
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    ok(virtio_console_port_open(v, 1) && !vfake_broken(v), "the port still opens afterwards");
    log_set_sink(NULL, NULL);
    virtio_mmio_free(v);
}

/* ---- state ---- */

static void test_state(void)
{
    VirtioMmio *a = console_new(true, 0x10003000);
    Driver d;
    bringup(&d, a, 2);
    send_ctrl(&d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1); /* PORT_ADD x2 take both buffers */
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_READY, 1);   /* PORT_NAME, PORT_OPEN wait */
    send_ctrl(&d, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    const StateDesc *desc = &virtio_console_state_desc;
    size_t len = state_encoded_size(desc, desc->version, a);
    uint8_t *buf = malloc(len);
    state_encode(desc, a, buf);
    VirtioMmio *b = console_new(true, 0x10004000);
    void *staged = malloc(desc->size);
    memcpy(staged, b, desc->size);
    Error err = {0};
    int rc = state_decode(desc, desc->version, buf, len, staged, &err);
    ok(rc == 0, "the saved section decodes (%s)", rc ? err.msg : "ok");
    Driver e;
    bringup(&e, b, 0);
    if (rc == 0)
        state_commit(desc, b, staged);
    ok(virtio_console_port_open(b, 1), "restored: the guest's agent port is open");
    post_ctrl_bufs(&e, 0, 4);
    char name[300];
    uint32_t id;
    uint16_t ev, val;
    ok(next_ctrl(&e, &id, &ev, &val, name) && ev == VIRTIO_CONSOLE_PORT_NAME &&
           strcmp(name, AGENT) == 0 && expect_ctrl(&e, 1, VIRTIO_CONSOLE_PORT_OPEN, 1),
       "restored: the waiting messages are delivered");
    /* A machine without the console port cannot take a waiting message for port 0. */
    VirtioMmio *c = console_new(false, 0x10005000);
    Driver f;
    bringup(&f, a, 0);
    send_ctrl(&f, 0, VIRTIO_CONSOLE_DEVICE_READY, 1); /* PORT_ADD 0 and 1 wait */
    len = state_encoded_size(desc, desc->version, a);
    buf = realloc(buf, len);
    state_encode(desc, a, buf);
    memcpy(staged, c, desc->size);
    ok(state_decode(desc, desc->version, buf, len, staged, &err) < 0,
       "a waiting message for a port the machine lacks is refused: %s", err.msg);
    free(staged);
    free(buf);
    virtio_mmio_free(a);
    virtio_mmio_free(b);
    virtio_mmio_free(c);
}

int main(void)
{
    Error err;
    if (bus_init(&bus, RAM_BASE, RAM_SIZE, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    test_single_port();
    test_multiport();
    test_absent_console_port();
    test_hostile();
    test_state();
    bus_destroy(&bus);
    return tap_done();
}
