/* UART output, memory helpers and timer waits for the hostile-guest program. */
#include "hw.h"

#define UART_THR 0
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define UART_SPIN_MAX 100000

static void uart_putc(char ch)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;
    for (int i = 0; i < UART_SPIN_MAX && !(uart[UART_LSR] & UART_LSR_THRE); i++)
        ;
    uart[UART_THR] = (uint8_t)ch;
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

void uart_hex(uint64_t v)
{
    uart_puts("0x");
    int shift = 60;
    while (shift > 0 && !((v >> shift) & 0xf))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        uart_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

void phys_fill(uint64_t addr, uint8_t byte, size_t len)
{
    volatile uint8_t *p = phys(addr);
    for (size_t i = 0; i < len; i++)
        p[i] = byte;
}

bool phys_all(uint64_t addr, uint8_t byte, size_t len)
{
    volatile uint8_t *p = phys(addr);
    for (size_t i = 0; i < len; i++)
        if (p[i] != byte)
            return false;
    return true;
}

void delay_us(uint64_t us)
{
    uint64_t end = mtime() + us * (MTIME_HZ / 1000000);
    for (uint64_t spins = 0; mtime() < end && spins < us * 1000; spins++)
        ;
}

void *memset(void *dst, int c, size_t n)
{
    volatile uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const volatile uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
    return dst;
}
