/*
 * Start-up code of the CPU benchmark ELFs (bare metal, M-mode, no firmware).
 *
 * Sets the stack, installs a trap handler that fails the run, enables the
 * FPU (mstatus.FS = Initial), clears .bss and calls main(); main's return
 * value goes to bench_finish: 0 = pass, otherwise a failure code.
 * bench_finish reports through QEMU virt's test finisher at 0x100000
 * (0x5555 = pass, 0x3333 | code << 16 = fail), so the emulator's exit
 * status is the result.
 */
#define FINISHER_BASE 0x100000
#define FINISHER_PASS 0x5555
#define FINISHER_FAIL 0x3333
#define FAIL_TRAP 3
#define MSTATUS_FS_INITIAL (1 << 13)

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    la sp, _stack_top
    la t0, bench_trap
    csrw mtvec, t0
    li t0, MSTATUS_FS_INITIAL
    csrs mstatus, t0
    csrwi fcsr, 0
    la t0, _bss_start
    la t1, _bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  call main
    j bench_finish

    .align 2
bench_trap:
    li a0, FAIL_TRAP
    /* fall through */

/* void bench_finish(int code): never returns. */
    .globl bench_finish
bench_finish:
    li t0, FINISHER_PASS
    beqz a0, 1f
    slli t0, a0, 16
    li t1, FINISHER_FAIL
    or t0, t0, t1
1:  li t1, FINISHER_BASE
    sw t0, 0(t1)
2:  wfi
    j 2b
