/*
 * 16550A UART model.  Transmission is instantaneous (THR and the shift
 * register are always empty), so LSR always reports THRE|TEMT.  Received
 * bytes wait in a FIFO (16 bytes, 1 with FIFOs disabled); when it is full
 * uart16550_receive() accepts less and the host keeps the rest.  Interrupt
 * identification follows the 16550 priorities; the line is reported through
 * its IrqLine whenever its level changes.
 */
#include "hw/uart16550.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/state.h"

/* Register offsets (reg-shift 0). */
enum {
    REG_RBR_THR_DLL = 0,
    REG_IER_DLM = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

enum { IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08 };
enum { IIR_NO_INT = 0x01, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_FIFO_ON = 0xc0 };
enum { FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02 };
enum { LCR_DLAB = 0x80 };
enum { MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10 };
enum { LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40 };
enum { MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80 };

struct Uart16550 {
    Device dev; /* first: the Device is the Uart16550; dev.irq is its line */
    UartConfig cfg;
    uint8_t ier, lcr, mcr, scr, fcr;
    uint8_t dll, dlm;  /* divisor latch (stored; the line rate is not modelled) */
    bool thr_ipending; /* THR-empty interrupt pending (cleared by IIR read) */
    bool irq_level;    /* last level driven on dev.irq */
    uint8_t rx[UART16550_FIFO_SIZE];
    unsigned rx_head, rx_count;
};

Uart16550 *uart16550_new(const UartConfig *cfg)
{
    Uart16550 *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->dev = (Device){.ops = &uart16550_device_ops, .size = UART16550_SIZE, .irq = cfg->irq};
    u->cfg = *cfg;
    return u;
}

void uart16550_free(Uart16550 *u)
{
    free(u);
}

static void uart_update_irq(Uart16550 *u);

void uart16550_reset(Uart16550 *u)
{
    Device dev = u->dev;
    UartConfig cfg = u->cfg;
    bool level = u->irq_level;
    memset(u, 0, sizeof(*u));
    u->dev = dev;
    u->cfg = cfg;
    u->irq_level = level;
    uart_update_irq(u); /* lowers the line if it was up */
}

static unsigned uart_rx_capacity(const Uart16550 *u)
{
    return (u->fcr & FCR_ENABLE) ? UART16550_FIFO_SIZE : 1;
}

/* The interrupt identification value (without the FIFO bits). */
static uint8_t uart_iir_id(const Uart16550 *u)
{
    if ((u->ier & IER_RDI) && u->rx_count)
        return IIR_RDI;
    if ((u->ier & IER_THRI) && u->thr_ipending)
        return IIR_THRI;
    return IIR_NO_INT;
}

static void uart_update_irq(Uart16550 *u)
{
    bool level = uart_iir_id(u) != IIR_NO_INT;
    if (level == u->irq_level)
        return;
    u->irq_level = level;
    irq_line_set(&u->dev.irq, level);
}

static bool uart_rx_push(Uart16550 *u, uint8_t byte)
{
    if (u->rx_count >= uart_rx_capacity(u))
        return false;
    u->rx[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = byte;
    u->rx_count++;
    return true;
}

static uint8_t uart_rx_pop(Uart16550 *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t byte = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
    u->rx_count--;
    return byte;
}

size_t uart16550_receive(Uart16550 *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    while (n < len && uart_rx_push(u, buf[n]))
        n++;
    uart_update_irq(u);
    return n;
}

int uart16550_getc(Uart16550 *u)
{
    if (!u->rx_count)
        return -1;
    int c = uart_rx_pop(u);
    uart_update_irq(u);
    return c;
}

static void uart_output(Uart16550 *u, uint8_t byte)
{
    if (u->cfg.tx) {
        u->cfg.tx(u->cfg.tx_opaque, &byte, 1);
        return;
    }
    while (write(u->cfg.out_fd, &byte, 1) < 0 && errno == EINTR)
        continue; /* other errors (closed pipe...) drop the byte, as a cut cable would */
}

static void uart_write_thr(Uart16550 *u, uint8_t byte)
{
    if (u->mcr & MCR_LOOP)
        uart_rx_push(u, byte); /* a full FIFO loses the byte (overrun) */
    else
        uart_output(u, byte);
    u->thr_ipending = true; /* transmission is instantaneous */
}

static void uart_write_ier(Uart16550 *u, uint8_t value)
{
    /*
     * Enabling the THR interrupt with THR empty (always, here) raises it at
     * once, even if an IIR read had acknowledged it; disabling forgets it.
     * Drivers (Linux's 8250 THRE test, Windows) rely on this, as in QEMU.
     */
    if ((value ^ u->ier) & IER_THRI)
        u->thr_ipending = value & IER_THRI;
    u->ier = value & 0x0f;
}

static void uart_write_fcr(Uart16550 *u, uint8_t value)
{
    if ((value ^ u->fcr) & FCR_ENABLE || (value & FCR_CLEAR_RX))
        u->rx_head = u->rx_count = 0;
    u->fcr = value & 0xc9; /* enable, DMA mode, trigger level */
}

static uint8_t uart_read_iir(Uart16550 *u)
{
    uint8_t id = uart_iir_id(u);
    if (id == IIR_THRI)
        u->thr_ipending = false; /* reading IIR acknowledges THR empty */
    return id | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
}

static uint8_t uart_read_msr(const Uart16550 *u)
{
    if (!(u->mcr & MCR_LOOP))
        return MSR_DCD | MSR_DSR | MSR_CTS;
    uint8_t m = u->mcr;
    return ((m & MCR_RTS) ? MSR_CTS : 0) | ((m & MCR_DTR) ? MSR_DSR : 0) |
           ((m & MCR_OUT1) ? MSR_RI : 0) | ((m & MCR_OUT2) ? MSR_DCD : 0);
}

static uint8_t uart_read_reg(Uart16550 *u, unsigned reg)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (reg) {
    case REG_RBR_THR_DLL: return dlab ? u->dll : uart_rx_pop(u);
    case REG_IER_DLM: return dlab ? u->dlm : u->ier;
    case REG_IIR_FCR: return uart_read_iir(u);
    case REG_LCR: return u->lcr;
    case REG_MCR: return u->mcr;
    case REG_LSR: return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
    case REG_MSR: return uart_read_msr(u);
    case REG_SCR: return u->scr;
    default: return 0;
    }
}

static void uart_write_reg(Uart16550 *u, unsigned reg, uint8_t value)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (reg) {
    case REG_RBR_THR_DLL:
        if (dlab)
            u->dll = value;
        else
            uart_write_thr(u, value);
        break;
    case REG_IER_DLM:
        if (dlab)
            u->dlm = value;
        else
            uart_write_ier(u, value);
        break;
    case REG_IIR_FCR: uart_write_fcr(u, value); break;
    case REG_LCR: u->lcr = value; break;
    case REG_MCR: u->mcr = value & 0x1f; break;
    case REG_SCR: u->scr = value; break;
    default: break; /* LSR and MSR are read-only */
    }
}

static bool uart_mmio_read(void *opaque, uint64_t offset, unsigned size, uint64_t *value)
{
    Uart16550 *u = opaque;
    *value = offset <= REG_SCR ? uart_read_reg(u, (unsigned)offset) : 0;
    uart_update_irq(u);
    return true;
}

static bool uart_mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    Uart16550 *u = opaque;
    if (offset <= REG_SCR)
        uart_write_reg(u, (unsigned)offset, (uint8_t)value);
    uart_update_irq(u);
    return true;
}

const MmioOps uart16550_ops = {
    .read = uart_mmio_read,
    .write = uart_mmio_write,
};

static void uart_fdt(const Device *d, DeviceTree *dt, unsigned nharts)
{
    uint64_t base = d->base;
    unsigned irq = d->irq.src;
    dt_begin_at(dt, "serial", base);
    dt_prop_str(dt, "compatible", "ns16550a");
    dt_prop_reg(dt, base, UART16550_SIZE);
    dt_prop_u32(dt, "clock-frequency", 3686400);
    dt_prop_u32(dt, "interrupt-parent", FDT_PHANDLE_PLIC);
    dt_prop_u32(dt, "interrupts", irq);
    dt_end(dt);
}

/* ---- state ---- */

static int uart_state_check(const void *staged, Error *err)
{
    const Uart16550 *u = staged;
    if (u->rx_count > uart_rx_capacity(u))
        return error_set(err, "uart.rx_count: %u bytes do not fit the receive buffer", u->rx_count);
    return 0;
}

static void uart_post_load(void *live)
{
    uart_update_irq(live);
}

static const StateField uart_fields[] = {
    STATE_FIELD(Uart16550, ier, STATE_U8, .max = 0x0f),
    STATE_FIELD(Uart16550, lcr, STATE_U8),
    STATE_FIELD(Uart16550, mcr, STATE_U8, .max = 0x1f),
    STATE_FIELD(Uart16550, scr, STATE_U8),
    STATE_FIELD(Uart16550, fcr, STATE_U8),
    STATE_FIELD(Uart16550, dll, STATE_U8),
    STATE_FIELD(Uart16550, dlm, STATE_U8),
    STATE_FIELD(Uart16550, thr_ipending, STATE_BOOL),
    STATE_FIELD(Uart16550, rx, STATE_BYTES, .count = UART16550_FIFO_SIZE),
    STATE_FIELD(Uart16550, rx_head, STATE_U32, .max = UART16550_FIFO_SIZE - 1),
    STATE_FIELD(Uart16550, rx_count, STATE_U32, .max = UART16550_FIFO_SIZE),
    STATE_END,
};

const StateDesc uart16550_state_desc = {
    .name = "uart",
    .version = 1,
    .min_version = 1,
    .size = sizeof(Uart16550),
    .fields = uart_fields,
    .check = uart_state_check,
    .post_load = uart_post_load,
};

/* ---- the device ---- */

static void uart_device_reset(Device *d)
{
    uart16550_reset((Uart16550 *)d);
}

static void uart_device_free(Device *d)
{
    uart16550_free((Uart16550 *)d);
}

const DeviceOps uart16550_device_ops = {
    .name = "uart",
    .mmio = &uart16550_ops,
    .reset = uart_device_reset,
    .fdt = uart_fdt,
    .state = &uart16550_state_desc,
    .free = uart_device_free,
};

Device *uart16550_create(const DeviceArgs *a, Error *err)
{
    UartConfig cfg = {
        .tx = a->console_out, .tx_opaque = a->console_opaque, .out_fd = -1, .irq = a->irq};
    Uart16550 *u = uart16550_new(&cfg);
    if (!u) {
        error_set(err, "out of memory creating the UART");
        return NULL;
    }
    device_place(&u->dev, a);
    return &u->dev;
}
