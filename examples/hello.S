/*
 * The bare-metal demo that `make run` boots until the Linux guest lands:
 * prints a greeting and the hart's identity through the 16550 UART, then
 * powers off through the test finisher.  Runs unchanged under
 *   qemu-system-riscv64 -M virt -bios none -nographic -kernel hello.elf
 */
#define UART 0x10000000
#define FINISHER 0x100000

    .section .text.init
    .globl _start
_start:
    la sp, stack_top
    la a0, msg_hello
    call puts
    la a0, msg_misa
    call puts
    csrr s0, misa            /* print the extension letters of misa */
    li s1, 0
1:  srl t0, s0, s1
    andi t0, t0, 1
    beqz t0, 2f
    addi a0, s1, 'A'
    call putc
2:  addi s1, s1, 1
    li t0, 26
    blt s1, t0, 1b
    la a0, msg_instret
    call puts
    rdinstret a0
    call putdec
    la a0, msg_bye
    call puts
    li t0, 0x5555
    li t1, FINISHER
    sw t0, 0(t1)
3:  wfi
    j 3b

/* putc(a0): wait for THR empty (LSR bit 5), then write the byte */
putc:
    li t0, UART
1:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    sb a0, 0(t0)
    ret

/* puts(a0): NUL-terminated string */
puts:
    addi sp, sp, -16
    sd ra, 8(sp)
    sd s0, 0(sp)
    mv s0, a0
1:  lbu a0, 0(s0)
    beqz a0, 2f
    call putc
    addi s0, s0, 1
    j 1b
2:  ld s0, 0(sp)
    ld ra, 8(sp)
    addi sp, sp, 16
    ret

/* putdec(a0): unsigned decimal */
putdec:
    addi sp, sp, -48
    sd ra, 40(sp)
    addi t2, sp, 32
    sb zero, 0(t2)
    li t3, 10
1:  remu t4, a0, t3
    divu a0, a0, t3
    addi t4, t4, '0'
    addi t2, t2, -1
    sb t4, 0(t2)
    bnez a0, 1b
    mv a0, t2
    call puts
    ld ra, 40(sp)
    addi sp, sp, 48
    ret

    .section .rodata
msg_hello:   .asciz "Hello from a bare-metal RV64 program running on hostel.\n"
msg_misa:    .asciz "misa extensions: RV64"
msg_instret: .asciz "\ninstructions retired so far: "
msg_bye:     .asciz "\nPowering off through the test finisher.\n"

    .bss
    .align 4
    .space 4096
stack_top:
