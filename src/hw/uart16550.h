/*
 * A 16550A UART (QEMU virt's serial at 0x10000000, reg-shift 0, byte
 * registers at offsets 0..7), enough for OpenSBI's uart8250 driver and
 * Linux's 8250 driver: transmit, receive FIFO, divisor latch, interrupt
 * identification, loopback and scratch registers.
 */
#ifndef HOSTEL_HW_UART16550_H
#define HOSTEL_HW_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/device.h"

#define UART16550_SIZE 0x100
#define UART16550_FIFO_SIZE 16

typedef struct UartConfig {
    /* Transmitted bytes go to tx(tx_opaque, &byte, 1), or, when tx is NULL, to out_fd. */
    ConsoleOutFn tx;
    void *tx_opaque;
    int out_fd;
    IrqLine irq; /* driven when its level changes; {NULL} while nothing is wired */
} UartConfig;

/* The Uart16550 begins with its Device (a Device pointer is the Uart16550). */
typedef struct Uart16550 Uart16550;

/* Its device ops: "uart" (state tag), registers, reset, fdt (ns16550a), state. */
extern const DeviceOps uart16550_device_ops;

/* MMIO ops; the opaque pointer is the Uart16550. */
extern const MmioOps uart16550_ops;

/* Create a UART in its reset state. Returns NULL only when out of memory. */
Uart16550 *uart16550_new(const UartConfig *cfg);
void uart16550_free(Uart16550 *u);

/* Save/restore table (the object is the Uart16550). */
extern const struct StateDesc uart16550_state_desc;

/* Return every register to its power-on value and empty the receive FIFO. */
void uart16550_reset(Uart16550 *u);

/*
 * Feed received bytes (host input) into the receive FIFO.  Returns how many
 * were accepted (fewer than len when the FIFO is full: the caller keeps the
 * rest and retries later, which acts as flow control).
 */
size_t uart16550_receive(Uart16550 *u, const uint8_t *buf, size_t len);

/*
 * Take the oldest received byte, as firmware polling LSR and RBR would
 * (the built-in SBI console reads the UART's input this way); -1 when the
 * receive FIFO is empty.
 */
int uart16550_getc(Uart16550 *u);

/* The board's constructor: output to a->console_out, line a->irq.  NULL with err filled. */
Device *uart16550_create(const DeviceArgs *a, Error *err);

#endif
