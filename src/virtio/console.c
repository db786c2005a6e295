/*
 * virtio-console with MULTIPORT: the data path of each port (transmit
 * chains go to the port's sink at once; input is copied into receive
 * chains as it arrives, virtio_console_port_receive) and the control
 * protocol that announces the ports to the driver (DEVICE_READY ->
 * PORT_ADD each; PORT_READY -> CONSOLE_PORT or PORT_NAME, then PORT_OPEN:
 * the host side is always connected) and learns which ports the guest
 * opened.
 */
#include "virtio/console.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "util/compiler.h"
#include "util/le.h"
#include "util/log.h"

enum { CONSOLE_CTRL_RXQ = 2, CONSOLE_CTRL_TXQ = 3 };

#define CONSOLE_NUM_QUEUES (2 + 2 * VIRTIO_CONSOLE_MAX_PORTS)
#define CONSOLE_CTRL_SIZE 8 /* struct virtio_console_control: le32 id, le16 event, le16 value */
#define CONSOLE_CFG_SIZE 12 /* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr */

/* A control message waiting for a driver buffer (PORT_NAME's name comes from the port). */
typedef struct ConsoleCtrl {
    uint32_t id;
    uint16_t event, value;
} ConsoleCtrl;

typedef struct VirtioConsole {
    VirtioMmio vdev; /* first: container_of */
    VirtioConsolePort ports[VIRTIO_CONSOLE_MAX_PORTS];
    char names[VIRTIO_CONSOLE_MAX_PORTS][VIRTIO_CONSOLE_NAME_MAX + 1];
    /* The chains being served: apart, since a port's sink may send input while its output is served. */
    VirtqElem tx_elem, rx_elem, ctrl_elem;
    uint64_t bad; /* hostile control messages ignored */
    /* State (virtio_console_state_desc). */
    bool ready;                          /* the driver sent DEVICE_READY */
    bool open[VIRTIO_CONSOLE_MAX_PORTS]; /* the guest has the port open */
    uint32_t nctrl;
    ConsoleCtrl ctrl[VIRTIO_CONSOLE_CTRL_PENDING]; /* oldest first */
} VirtioConsole;

static VirtioConsole *console_of(VirtioMmio *v)
{
    return container_of(v, VirtioConsole, vdev);
}

static unsigned port_rxq(unsigned port)
{
    return port ? 2 + 2 * port : 0;
}

/* The port whose data queue q is (q is not a control queue). */
static unsigned queue_port(unsigned q)
{
    return q < 2 ? 0 : (q - 2) / 2;
}

static bool multiport(VirtioConsole *c)
{
    return virtio_mmio_has_feature(&c->vdev, VIRTIO_CONSOLE_F_MULTIPORT);
}

/* One log line for the first hostile message; the others are only counted. */
static void console_bad(VirtioConsole *c, const char *what, uint32_t id, uint16_t event)
{
    if (!c->bad++)
        log_warn("%s@0x%llx: control message (port %u, event %u) %s: ignored (further bad "
                 "messages are not logged)",
                 c->vdev.ops->name, (unsigned long long)c->vdev.cfg.base, id, event, what);
}

/* ---- data ---- */

static void console_output(VirtioConsole *c, unsigned port, const uint8_t *buf, size_t len)
{
    const VirtioConsolePort *p = &c->ports[port];
    if (p->present && p->tx)
        p->tx(p->opaque, buf, len); /* an absent port's output is dropped */
}

static void console_transmit(VirtioConsole *c, unsigned port)
{
    VirtioMmio *v = &c->vdev;
    unsigned q = port_rxq(port) + 1;
    bool pushed = false;
    while (virtq_pop(&v->vq[q], &c->tx_elem) == 1) {
        for (unsigned i = 0; i < c->tx_elem.n_out; i++)
            console_output(c, port, c->tx_elem.iov[i].iov_base, c->tx_elem.iov[i].iov_len);
        virtq_push(&v->vq[q], &c->tx_elem, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_notify_used(v, q);
}

size_t virtio_console_port_receive(VirtioMmio *v, unsigned port, const uint8_t *buf, size_t len)
{
    VirtioConsole *c = console_of(v);
    if (port >= VIRTIO_CONSOLE_MAX_PORTS || (port && !multiport(c)))
        return 0;
    unsigned qi = port_rxq(port);
    Virtq *q = &v->vq[qi];
    size_t done = 0;
    if (!virtio_mmio_running(v) || !q->ready)
        return 0;
    while (done < len && virtq_pop(q, &c->rx_elem) == 1) {
        size_t n = virtq_elem_write(&c->rx_elem, 0, buf + done, len - done);
        virtq_push(q, &c->rx_elem, (uint32_t)n);
        done += n;
    }
    if (done)
        virtio_mmio_notify_used(v, qi);
    return done;
}

size_t virtio_console_receive(VirtioMmio *v, const uint8_t *buf, size_t len)
{
    return virtio_console_port_receive(v, 0, buf, len);
}

/* ---- control: device -> driver ---- */

/* Copy waiting control messages into the driver's control buffers, oldest first. */
static void ctrl_flush(VirtioConsole *c)
{
    VirtioMmio *v = &c->vdev;
    Virtq *q = &v->vq[CONSOLE_CTRL_RXQ];
    unsigned sent = 0;
    while (sent < c->nctrl && virtio_mmio_running(v) && q->ready &&
           virtq_pop(q, &c->ctrl_elem) == 1) {
        const ConsoleCtrl *m = &c->ctrl[sent++];
        uint8_t msg[CONSOLE_CTRL_SIZE + VIRTIO_CONSOLE_NAME_MAX + 1];
        size_t len = CONSOLE_CTRL_SIZE;
        le_put(msg, 4, m->id);
        le_put(msg + 4, 2, m->event);
        le_put(msg + 6, 2, m->value);
        if (m->event == VIRTIO_CONSOLE_PORT_NAME) {
            size_t n = strlen(c->names[m->id]) + 1; /* with its NUL, as QEMU sends it */
            memcpy(msg + CONSOLE_CTRL_SIZE, c->names[m->id], n);
            len += n;
        }
        size_t n = virtq_elem_write(&c->ctrl_elem, 0, msg, len);
        if (n < len)
            console_bad(c, "does not fit the driver's control buffer", m->id, m->event);
        virtq_push(q, &c->ctrl_elem, (uint32_t)n);
    }
    if (!sent)
        return;
    c->nctrl -= sent;
    memmove(c->ctrl, c->ctrl + sent, c->nctrl * sizeof(c->ctrl[0]));
    virtio_mmio_notify_used(v, CONSOLE_CTRL_RXQ);
}

/* Queue a message for the driver (a driver that never reads them loses the newest). */
static void ctrl_send(VirtioConsole *c, uint32_t id, uint16_t event, uint16_t value)
{
    if (c->nctrl == VIRTIO_CONSOLE_CTRL_PENDING) {
        console_bad(c, "cannot be sent: the driver reads no control messages", id, event);
        return;
    }
    c->ctrl[c->nctrl++] = (ConsoleCtrl){id, event, value};
}

/* ---- control: driver -> device ---- */

static void ctrl_device_ready(VirtioConsole *c)
{
    c->ready = true;
    for (unsigned p = 0; p < VIRTIO_CONSOLE_MAX_PORTS; p++)
        if (c->ports[p].present)
            ctrl_send(c, p, VIRTIO_CONSOLE_DEVICE_ADD, 1);
}

/* The driver set the port up: tell it what the port is and that the host side is there. */
static void ctrl_port_ready(VirtioConsole *c, uint32_t id, uint16_t value)
{
    if (!value)
        return; /* the driver failed to add the port: nothing to tell it */
    if (c->ports[id].console)
        ctrl_send(c, id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
    else
        ctrl_send(c, id, VIRTIO_CONSOLE_PORT_NAME, 0);
    ctrl_send(c, id, VIRTIO_CONSOLE_PORT_OPEN, 1);
}

static void ctrl_handle(VirtioConsole *c, uint32_t id, uint16_t event, uint16_t value)
{
    if (event == VIRTIO_CONSOLE_DEVICE_READY) {
        if (value)
            ctrl_device_ready(c);
        return;
    }
    if (event != VIRTIO_CONSOLE_PORT_READY && event != VIRTIO_CONSOLE_PORT_OPEN)
        return console_bad(c, "has an event the driver does not send", id, event);
    if (!c->ready)
        return console_bad(c, "comes before DEVICE_READY", id, event);
    if (id >= VIRTIO_CONSOLE_MAX_PORTS || !c->ports[id].present)
        return console_bad(c, "names a port the device did not add", id, event);
    if (event == VIRTIO_CONSOLE_PORT_READY)
        ctrl_port_ready(c, id, value);
    else
        c->open[id] = value != 0;
}

static void ctrl_receive(VirtioConsole *c)
{
    VirtioMmio *v = &c->vdev;
    Virtq *q = &v->vq[CONSOLE_CTRL_TXQ];
    bool pushed = false;
    while (virtq_pop(q, &c->ctrl_elem) == 1) {
        uint8_t msg[CONSOLE_CTRL_SIZE];
        size_t n = virtq_elem_read(&c->ctrl_elem, 0, msg, sizeof(msg));
        virtq_push(q, &c->ctrl_elem, 0);
        pushed = true;
        if (n < sizeof(msg))
            console_bad(c, "is shorter than 8 bytes", 0, 0);
        else
            ctrl_handle(c, (uint32_t)le_get(msg, 4), (uint16_t)le_get(msg + 4, 2),
                        (uint16_t)le_get(msg + 6, 2));
    }
    if (pushed)
        virtio_mmio_notify_used(v, CONSOLE_CTRL_TXQ);
    ctrl_flush(c);
}

/* ---- the transport's hooks ---- */

static void console_queue_notify(VirtioMmio *v, unsigned q)
{
    VirtioConsole *c = console_of(v);
    if (q == CONSOLE_CTRL_RXQ) {
        ctrl_flush(c);
    } else if (q == CONSOLE_CTRL_TXQ) {
        ctrl_receive(c);
    } else if (q % 2) {
        console_transmit(c, queue_port(q));
    } else {
        const VirtioConsolePort *p = &c->ports[queue_port(q)];
        if (p->present && p->writable)
            p->writable(p->opaque); /* new receive buffers: the host side may send */
    }
}

static uint64_t console_config_read(VirtioMmio *v, uint64_t offset, unsigned size)
{
    static const uint8_t config[CONSOLE_CFG_SIZE] = {
        0,
        0,
        0,
        0, /* cols, rows: unknown (F_SIZE not offered) */
        VIRTIO_CONSOLE_MAX_PORTS,
        0,
        0,
        0, /* max_nr_ports */
    };
    return virtio_config_bytes(config, sizeof(config), offset, size);
}

static void console_config_write(VirtioMmio *v, uint64_t offset, unsigned size, uint64_t value)
{
    /* EMERG_WRITE is offered, so emerg_wr works at any time, even before negotiation. */
    if (offset == VIRTIO_CONSOLE_CFG_EMERG_WR) {
        uint8_t byte = (uint8_t)value;
        console_output(console_of(v), 0, &byte, 1);
    }
}

static void console_reset(VirtioMmio *v)
{
    VirtioConsole *c = console_of(v);
    c->ready = false;
    memset(c->open, 0, sizeof(c->open));
    c->nctrl = 0;
}

static void console_free(VirtioMmio *v)
{
    free(console_of(v));
}

/* ---- state ---- */

static const StateField ctrl_fields[] = {
    STATE_FIELD(ConsoleCtrl, id, STATE_U32, .max = VIRTIO_CONSOLE_MAX_PORTS - 1),
    STATE_FIELD(ConsoleCtrl, event, STATE_U16, .max = VIRTIO_CONSOLE_PORT_NAME),
    STATE_FIELD(ConsoleCtrl, value, STATE_U16),
    STATE_END,
};

static const StateDesc ctrl_desc = {
    .name = "virtio-console-ctrl",
    .version = 1,
    .min_version = 1,
    .size = sizeof(ConsoleCtrl),
    .fields = ctrl_fields,
};

static const StateField console_fields[] = {
    STATE_FIELD(VirtioConsole, ready, STATE_BOOL),
    STATE_FIELD(VirtioConsole, open, STATE_BOOL, .count = VIRTIO_CONSOLE_MAX_PORTS),
    STATE_FIELD(VirtioConsole, nctrl, STATE_U32, .max = VIRTIO_CONSOLE_CTRL_PENDING),
    STATE_FIELD(VirtioConsole, ctrl, STATE_STRUCT, .count = VIRTIO_CONSOLE_CTRL_PENDING,
                .sub = &ctrl_desc, .stride = sizeof(ConsoleCtrl)),
    STATE_END,
};

/* A waiting PORT_NAME must name a port this device has a name for. */
static int console_check(const void *staged, Error *err)
{
    const VirtioConsole *c = staged;
    for (uint32_t i = 0; i < c->nctrl; i++)
        if (!c->ports[c->ctrl[i].id].present)
            return error_set(err,
                             "virtio-console: a waiting message names port %u, which this "
                             "machine does not have",
                             c->ctrl[i].id);
    return 0;
}

const StateDesc virtio_console_state_desc = {
    .name = "virtio-console",
    .version = 1,
    .min_version = 1,
    .size = sizeof(VirtioConsole),
    .fields = console_fields,
    .check = console_check,
    .absent_ok = true,
};

static const VirtioDeviceOps console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .features = VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE) | VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT),
    .num_queues = CONSOLE_NUM_QUEUES,
    .queue_max = VIRTIO_CONSOLE_QUEUE_MAX,
    .config_read = console_config_read,
    .config_write = console_config_write,
    .queue_notify = console_queue_notify,
    .reset = console_reset,
    .free = console_free,
    .state = &virtio_console_state_desc,
};

bool virtio_console_port_open(VirtioMmio *v, unsigned port)
{
    VirtioConsole *c = console_of(v);
    return port < VIRTIO_CONSOLE_MAX_PORTS && c->open[port] && virtio_mmio_running(v);
}

uint64_t virtio_console_bad_messages(VirtioMmio *v)
{
    return console_of(v)->bad;
}

VirtioMmio *virtio_console_new(const VirtioMmioConfig *mcfg, const VirtioConsoleConfig *ccfg,
                               Error *err)
{
    VirtioConsole *c = calloc(1, sizeof(*c));
    if (!c) {
        error_set(err, "out of memory creating virtio-console");
        return NULL;
    }
    for (unsigned p = 0; p < VIRTIO_CONSOLE_MAX_PORTS; p++) {
        const char *name = ccfg->ports[p].name ? ccfg->ports[p].name : "";
        if (strlen(name) > VIRTIO_CONSOLE_NAME_MAX) {
            free(c);
            error_set(err, "virtio-console: port name '%s' is longer than %d bytes", name,
                      VIRTIO_CONSOLE_NAME_MAX);
            return NULL;
        }
        c->ports[p] = ccfg->ports[p];
        strcpy(c->names[p], name);
        c->ports[p].name = c->names[p];
    }
    virtio_mmio_init(&c->vdev, &console_ops, mcfg);
    return &c->vdev;
}
