/*
 * Internal interface of the block executor (exec.c) and the helpers it
 * calls for the less frequent instruction groups.  Each helper returns 0,
 * or an exception cause with *tval set (EXEC_ILLEGAL asks the caller to
 * report an illegal instruction with the instruction bits as tval).
 */
#ifndef HOSTEL_CPU_EXEC_H
#define HOSTEL_CPU_EXEC_H

#include "cpu/decode.h"
#include "cpu/hart.h"

#define EXEC_ILLEGAL CAUSE_ILLEGAL_INSN

#define FP_BOX32 0xffffffff00000000ull

/* A single-precision operand: the low half if NaN-boxed, else the canonical NaN. */
static inline uint32_t fp_unbox(uint64_t v)
{
    return (v >> 32) == 0xffffffffu ? (uint32_t)v : 0x7fc00000u;
}

/*
 * Any F or D instruction, including FP loads and stores (exec_fp.c).  The
 * interpreter runs the hot ones inline and calls this for the rest; it stays
 * complete so a JIT (or a debugger's single step) can hand it any FP op.
 */
int exec_fp(Hart *h, const DecodedInsn *i, uint64_t *tval);
/* A extension: LR, SC and AMOs (exec_sys.c). */
int exec_amo(Hart *h, const DecodedInsn *i, uint64_t *tval);
/* Zicsr instructions (exec_sys.c); h->instret must be current. */
int exec_csr(Hart *h, const DecodedInsn *i);

#endif
