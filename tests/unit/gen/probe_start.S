/* Entry of the FPU probe: stack, FP unit on, run main, stop QEMU (virt finisher). */
    .section .text.init
    .globl _start
_start:
    la sp, _stack_top
    li t0, (1 << 13)
    csrs mstatus, t0
    csrwi fcsr, 0
    call main
    li t0, 0x5555
    li t1, 0x100000
    sw t0, 0(t1)
1:  j 1b
