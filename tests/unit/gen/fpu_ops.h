/*
 * The FPU operations covered by the QEMU-generated test vectors, as an
 * X-macro list shared by the RISC-V probe (fpu_probe.c, run under QEMU),
 * the generator (gen_fpu_vectors.py parses the names) and test_fpu.c.
 * Append only: the position of a name is its number in the vector files.
 */
#ifndef HOSTEL_TESTS_FPU_OPS_H
#define HOSTEL_TESTS_FPU_OPS_H

/* clang-format off */
#define FPU_OPS(X)                                                                            \
    X(F32_ADD) X(F32_SUB) X(F32_MUL) X(F32_DIV) X(F32_SQRT)                                  \
    X(F32_FMADD) X(F32_FMSUB) X(F32_FNMSUB) X(F32_FNMADD)                                    \
    X(F32_MIN) X(F32_MAX) X(F32_EQ) X(F32_LT) X(F32_LE) X(F32_CLASS)                         \
    X(F32_TO_I32) X(F32_TO_U32) X(F32_TO_I64) X(F32_TO_U64)                                  \
    X(I32_TO_F32) X(U32_TO_F32) X(I64_TO_F32) X(U64_TO_F32)                                  \
    X(F64_ADD) X(F64_SUB) X(F64_MUL) X(F64_DIV) X(F64_SQRT)                                  \
    X(F64_FMADD) X(F64_FMSUB) X(F64_FNMSUB) X(F64_FNMADD)                                    \
    X(F64_MIN) X(F64_MAX) X(F64_EQ) X(F64_LT) X(F64_LE) X(F64_CLASS)                         \
    X(F64_TO_I32) X(F64_TO_U32) X(F64_TO_I64) X(F64_TO_U64)                                  \
    X(I32_TO_F64) X(U32_TO_F64) X(I64_TO_F64) X(U64_TO_F64)                                  \
    X(F32_TO_F64) X(F64_TO_F32)
/* clang-format on */

#define FPU_OP_ENUM(name) OP_##name,
enum { FPU_OPS(FPU_OP_ENUM) OP_COUNT };

#endif
