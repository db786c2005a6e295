/*
 * Bare-metal helpers of the hostile-guest program: MMIO accessors with
 * fences, the 16550 UART for progress lines, the ACLINT timer for bounded
 * waits, and the guest memory map this program relies on.
 */
#ifndef HOSTEL_TESTS_HOSTILE_HW_H
#define HOSTEL_TESTS_HOSTILE_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (64ull << 20) /* the test runs with -m 64M */
#define RAM_END (RAM_BASE + RAM_SIZE)

#define UART_BASE 0x10000000ul
#define MTIME_ADDR 0x200bff8ul
#define MTIME_HZ 10000000ull

static inline uint32_t mmio_read32(uintptr_t addr)
{
    __asm__ volatile("fence iorw, iorw" ::: "memory");
    uint32_t v = *(volatile uint32_t *)addr;
    __asm__ volatile("fence iorw, iorw" ::: "memory");
    return v;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
    __asm__ volatile("fence iorw, iorw" ::: "memory");
    *(volatile uint32_t *)addr = v;
    __asm__ volatile("fence iorw, iorw" ::: "memory");
}

/* Guest-physical memory as volatile bytes (this program runs without paging). */
static inline volatile uint8_t *phys(uint64_t addr)
{
    return (volatile uint8_t *)(uintptr_t)addr;
}

/* The ACLINT machine timer. */
static inline uint64_t mtime(void)
{
    return *(volatile uint64_t *)MTIME_ADDR;
}

/* Print a string / a hex number on the UART. */
void uart_puts(const char *s);
void uart_hex(uint64_t v);

/* Fill or compare guest memory. */
void phys_fill(uint64_t addr, uint8_t byte, size_t len);
bool phys_all(uint64_t addr, uint8_t byte, size_t len);

/* Busy-wait about `us` microseconds (by the timer, bounded). */
void delay_us(uint64_t us);

/* Never returns: the result through the test finisher (start.S). */
void finish(int code) __attribute__((noreturn));

/* Freestanding code still gets calls to these from the compiler. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

#endif
