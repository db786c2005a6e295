/*
 * Guest side of a CPU benchmark workload: runs the kernel, compares its
 * checksum with BENCH_EXPECT (from the header the host reference program
 * generated, passed with -include) and returns the result to crt0.S.
 * On a mismatch it also prints both values on the virt UART (ns16550 at
 * 0x10000000) to help whoever debugs the emulator.
 */
#include "bench.h"

#ifndef BENCH_EXPECT
#error "BENCH_EXPECT undefined: build with -include of the generated reference header"
#endif

/* Size of the run: the workload's full repetitions unless -DBENCH_REPS=N. */
#ifndef BENCH_REPS
#define BENCH_REPS bench_reps
#endif

#define UART_BASE 0x10000000UL
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define RAM_END 0x90000000UL /* 0x80000000 + 256 MiB (-m 256M) */

void bench_finish(int code) __attribute__((noreturn));
int main(void);

extern char _heap_start[];
static uintptr_t heap_next = (uintptr_t)_heap_start;

static void uart_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;
    for (int spin = 0; spin < 100000 && !(uart[UART_LSR] & UART_LSR_THRE); spin++)
        ;
    uart[0] = (uint8_t)c;
}

static void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

static void uart_puthex(uint64_t v)
{
    uart_puts("0x");
    for (int shift = 60; shift >= 0; shift -= 4)
        uart_putc("0123456789abcdef"[(v >> shift) & 15]);
}

/* Bump allocator over the RAM above the stack; nothing is ever freed. */
void *bench_alloc(size_t size)
{
    uintptr_t p = (heap_next + 63) & ~(uintptr_t)63;
    if (size > RAM_END - p)
        bench_fail(BENCH_FAIL_NOMEM);
    heap_next = p + size;
    return (void *)p;
}

void bench_fail(int code)
{
    bench_finish(code);
}

int main(void)
{
    uint64_t sum = bench_run(BENCH_REPS);
    if (sum == BENCH_EXPECT)
        return 0;
    uart_puts("bench: checksum ");
    uart_puthex(sum);
    uart_puts(" != expected ");
    uart_puthex(BENCH_EXPECT);
    uart_puts("\n");
    return BENCH_FAIL_CHECKSUM;
}
