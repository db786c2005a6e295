/*
 * Start-up of the hostile-guest program (bare metal, M-mode, no firmware):
 * stack, a trap handler that fails the run with code 255, main(), then the
 * result through QEMU virt's test finisher at 0x100000 (0x5555 = pass,
 * 0x3333 | code << 16 = fail), so the emulator's exit status is main's
 * return value.
 */
#define FINISHER_BASE 0x100000
#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333
#define FAIL_TRAP 255

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    la sp, _stack_top
    la t0, trap
    csrw mtvec, t0
    csrw mie, zero
    call main
    j finish

    .align 2
trap:
    li a0, FAIL_TRAP
    /* fall through */

/* void finish(int code): never returns. */
    .globl finish
finish:
    li t0, FINISHER_PASS
    beqz a0, 1f
    slli t0, a0, 16
    li t1, FINISHER_FAIL
    or t0, t0, t1
1:  li t1, FINISHER_BASE
    sw t0, 0(t1)
2:  wfi
    j 2b
