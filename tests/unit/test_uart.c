/*
 * Unit tests of the 16550 UART's receive side as the built-in SBI console
 * reads it (uart16550_getc): order, emptiness, the FIFO-off holding
 * register, and the receive interrupt line.
 */
#include <string.h>

#include "tap.h"
#include "vfake.h"

enum { IER = 1, FCR = 2, LSR = 5, LSR_DR = 0x01 };

static VFakeIrq irq = {.level = -1};

static void wr(Uart16550 *u, uint64_t reg, uint64_t v)
{
    uart16550_ops.write(u, reg, 1, v);
}

static uint64_t rd(Uart16550 *u, uint64_t reg)
{
    uint64_t v = 0;
    uart16550_ops.read(u, reg, 1, &v);
    return v;
}

int main(void)
{
    Uart16550 *u = vfake_uart(&irq, (UartConfig){.out_fd = -1});
    ok(uart16550_getc(u) == -1, "an empty UART gives -1");

    /* FIFO off (how Linux's 8250 driver leaves an unopened port): one byte is held. */
    ok(uart16550_receive(u, (const uint8_t *)"ab", 2) == 1, "FIFO off: one byte taken");
    ok(uart16550_getc(u) == 'a', "getc returns the held byte");
    ok(uart16550_getc(u) == -1 && !(rd(u, LSR) & LSR_DR), "and leaves the UART empty");

    wr(u, FCR, 1);
    wr(u, IER, 1); /* receive interrupt */
    ok(uart16550_receive(u, (const uint8_t *)"xyz", 3) == 3 && irq.level == 1,
       "FIFO on: bytes taken, the receive line is up");
    ok(uart16550_getc(u) == 'x' && uart16550_getc(u) == 'y', "getc keeps arrival order");
    ok(irq.level == 1, "the line stays up while a byte is left");
    ok(irq.src == 10, "the line is the source it was given (%u)", irq.src);
    ok(uart16550_getc(u) == 'z' && irq.level == 0, "taking the last byte lowers the line");
    ok(uart16550_getc(u) == -1, "then the UART is empty again");
    uart16550_free(u);
    return tap_done();
}
