/*
 * virtio-console, one port: transmit chains are written to the output
 * at once; input is copied into receive chains as they become available
 * (virtio_console_receive), one chain per call of the loop.
 */
#include "virtio/console.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/compiler.h"
#include "util/io.h"

enum { CONSOLE_RXQ = 0, CONSOLE_TXQ = 1 };

/* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr */
#define CONSOLE_CFG_SIZE 12

typedef struct VirtioConsole {
    VirtioMmio vdev; /* first: container_of */
    VirtioConsoleConfig cfg;
    VirtqElem elem; /* the chain being served */
} VirtioConsole;

static VirtioConsole *console_of(VirtioMmio *v)
{
    return container_of(v, VirtioConsole, vdev);
}

static void console_output(VirtioConsole *c, const uint8_t *buf, size_t len)
{
    if (c->cfg.tx) {
        c->cfg.tx(c->cfg.tx_opaque, buf, len);
        return;
    }
    io_write_all(c->cfg.out_fd, buf, len); /* a closed output drops the bytes */
}

static void console_transmit(VirtioConsole *c)
{
    VirtioMmio *v = &c->vdev;
    bool pushed = false;
    while (virtq_pop(&v->vq[CONSOLE_TXQ], &c->elem) == 1) {
        for (unsigned i = 0; i < c->elem.n_out; i++)
            console_output(c, c->elem.iov[i].iov_base, c->elem.iov[i].iov_len);
        virtq_push(&v->vq[CONSOLE_TXQ], &c->elem, 0);
        pushed = true;
    }
    if (pushed)
        virtio_mmio_notify_used(v, CONSOLE_TXQ);
}

static void console_queue_notify(VirtioMmio *v, unsigned q)
{
    if (q == CONSOLE_TXQ)
        console_transmit(console_of(v));
    /* Receive buffers are used when input arrives (virtio_console_receive). */
}

size_t virtio_console_receive(VirtioMmio *v, const uint8_t *buf, size_t len)
{
    VirtioConsole *c = console_of(v);
    Virtq *q = &v->vq[CONSOLE_RXQ];
    size_t done = 0;
    if (!virtio_mmio_running(v) || !q->ready)
        return 0;
    while (done < len && virtq_pop(q, &c->elem) == 1) {
        size_t n = virtq_elem_write(&c->elem, 0, buf + done, len - done);
        virtq_push(q, &c->elem, (uint32_t)n);
        done += n;
    }
    if (done)
        virtio_mmio_notify_used(v, CONSOLE_RXQ);
    return done;
}

static uint64_t console_config_read(VirtioMmio *v, uint64_t offset, unsigned size)
{
    static const uint8_t config[CONSOLE_CFG_SIZE] = {
        0, 0, 0, 0, /* cols, rows: unknown (F_SIZE not offered) */
        1, 0, 0, 0, /* max_nr_ports */
    };
    return virtio_config_bytes(config, sizeof(config), offset, size);
}

static void console_config_write(VirtioMmio *v, uint64_t offset, unsigned size, uint64_t value)
{
    /* EMERG_WRITE is offered, so emerg_wr works at any time, even before negotiation. */
    if (offset == VIRTIO_CONSOLE_CFG_EMERG_WR) {
        uint8_t byte = (uint8_t)value;
        console_output(console_of(v), &byte, 1);
    }
}

static void console_free(VirtioMmio *v)
{
    free(console_of(v));
}

static const VirtioDeviceOps console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .features = VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
    .num_queues = 2,
    .queue_max = VIRTIO_CONSOLE_QUEUE_MAX,
    .config_read = console_config_read,
    .config_write = console_config_write,
    .queue_notify = console_queue_notify,
    .free = console_free,
};

VirtioMmio *virtio_console_new(const VirtioMmioConfig *mcfg, const VirtioConsoleConfig *ccfg,
                               Error *err)
{
    VirtioConsole *c = malloc(sizeof(*c));
    if (!c) {
        error_set(err, "out of memory creating virtio-console");
        return NULL;
    }
    virtio_mmio_init(&c->vdev, &console_ops, mcfg);
    c->cfg = *ccfg;
    return &c->vdev;
}
