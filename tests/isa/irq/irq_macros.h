/*
 * Helpers for the interrupt ISA tests (tests/isa/irq): addresses of the
 * virt board's ACLINT, PLIC and UART (hart 0, which runs the tests), timer
 * and software-interrupt set-up, and bounded waits that fail the test
 * instead of hanging.  Include after test.h and priv_macros.h.
 */
#ifndef HOSTEL_TESTS_ISA_IRQ_MACROS_H
#define HOSTEL_TESTS_ISA_IRQ_MACROS_H

#define CLINT_BASE   0x2000000
#define MSIP0        CLINT_BASE                 /* msip of hart 0 */
#define MTIMECMP0    (CLINT_BASE + 0x4000)      /* mtimecmp of hart 0 */
#define MTIME        (CLINT_BASE + 0xbff8)
#define TICKS_PER_MS 10000                      /* 10 MHz timebase */

#define PLIC_BASE          0xc000000
#define PLIC_PRIO(src)     (PLIC_BASE + 4 * (src))
#define PLIC_PENDING       (PLIC_BASE + 0x1000)
#define PLIC_ENABLE(ctx)   (PLIC_BASE + 0x2000 + 0x80 * (ctx))
#define PLIC_THRESHOLD(ctx) (PLIC_BASE + 0x200000 + 0x1000 * (ctx))
#define PLIC_CLAIM(ctx)    (PLIC_THRESHOLD(ctx) + 4)
#define CTX_M0 0                                /* hart 0 M-mode */
#define CTX_S0 1                                /* hart 0 S-mode */

#define UART_BASE  0x10000000
#define UART_IER   1
#define UART_IER_THRI 2                         /* THR empty: raised at once */
#define UART_IRQ   10

/* 32-bit store of the constant val to addr (clobbers t0, t1). */
#define SW_CONST(addr, val)  li t0, addr; li t1, val; sw t1, 0(t0)
/* 32-bit load of addr into reg (clobbers t0). */
#define LW_ADDR(reg, addr)   li t0, addr; lwu reg, 0(t0)

/* mtimecmp0 = mtime + ticks (clobbers t0, t1, t2). */
#define TIMER_IN(ticks)                             \
    li t0, MTIME; ld t1, 0(t0);                     \
    li t2, ticks; add t1, t1, t2;                   \
    li t0, MTIMECMP0; sd t1, 0(t0)

/* mtimecmp0 = value (clobbers t0, t1). */
#define TIMER_AT(value)  li t0, MTIMECMP0; li t1, value; sd t1, 0(t0)
#define TIMER_OFF        TIMER_AT(-1)

#define MSIP_SET(v)      SW_CONST(MSIP0, v)

/* The UART's THR-empty interrupt drives PLIC source 10 high (on) or low (off). */
#define UART_IRQ_ON      li t0, UART_BASE; li t1, UART_IER_THRI; sb t1, UART_IER(t0)
#define UART_IRQ_OFF     li t0, UART_BASE; sb zero, UART_IER(t0)

/* reg = deadline: mtime + ms milliseconds (clobbers t0, t1). */
#define DEADLINE(reg, ms)                           \
    li t0, MTIME; ld reg, 0(t0);                    \
    li t1, (ms) * TICKS_PER_MS; add reg, reg, t1

/*
 * Spin (in any mode that can read the ACLINT) until the M handler resumes
 * at TRAP_RESUME; fail test n after 2 s.  Clobbers t0, t1, t2.
 */
#define SPIN_UNTIL_TRAP(n)                          \
    li TESTNUM, n;                                  \
    DEADLINE(t2, 2000);                             \
    li t0, MTIME;                                   \
81: ld t1, 0(t0);                                   \
    bltu t1, t2, 81b;                               \
    j test_fail

#endif
