/*
 * IEEE 754-2008 arithmetic for the RISC-V F and D extensions.
 *
 * Values travel as raw bit patterns: binary32 as uint32_t, binary64 as
 * uint64_t.  NaN-boxing is the caller's job (exec.c unboxes before calling
 * and boxes results).  Every function:
 *   - takes a resolved rounding mode rm (FPU_RNE..FPU_RMM; the caller has
 *     already replaced DYN with frm and rejected reserved values),
 *   - ORs the exception flags it raises into *flags (FPU_NX..FPU_NV),
 *   - returns RISC-V results: any NaN result is the canonical NaN
 *     (0x7fc00000 / 0x7ff8000000000000), conversions to integers saturate
 *     as the ISA specifies, tininess is detected after rounding.
 * The functions are pure: no global state, safe to call from any thread.
 */
#ifndef HOSTEL_CPU_FPU_H
#define HOSTEL_CPU_FPU_H

#include <stdint.h>

enum { FPU_RNE = 0, FPU_RTZ = 1, FPU_RDN = 2, FPU_RUP = 3, FPU_RMM = 4, FPU_DYN = 7 };
enum { FPU_NX = 1, FPU_UF = 2, FPU_OF = 4, FPU_DZ = 8, FPU_NV = 16 };

#define F32_CANON_NAN 0x7fc00000u
#define F64_CANON_NAN 0x7ff8000000000000ull

/* binary32 */
uint32_t f32_add(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_sub(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_mul(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_div(uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t f32_sqrt(uint32_t a, int rm, uint32_t *flags);
/* a*b+c with a single rounding (fmadd; callers flip sign bits for the others) */
uint32_t f32_fma(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags);
uint32_t f32_min(uint32_t a, uint32_t b, uint32_t *flags);
uint32_t f32_max(uint32_t a, uint32_t b, uint32_t *flags);
int f32_eq(uint32_t a, uint32_t b, uint32_t *flags); /* quiet: NV only on sNaN */
int f32_lt(uint32_t a, uint32_t b, uint32_t *flags); /* signaling: NV on any NaN */
int f32_le(uint32_t a, uint32_t b, uint32_t *flags);
uint64_t f32_classify(uint32_t a); /* the fclass bit mask */
int32_t f32_to_i32(uint32_t a, int rm, uint32_t *flags);
uint32_t f32_to_u32(uint32_t a, int rm, uint32_t *flags);
int64_t f32_to_i64(uint32_t a, int rm, uint32_t *flags);
uint64_t f32_to_u64(uint32_t a, int rm, uint32_t *flags);
uint32_t i32_to_f32(int32_t v, int rm, uint32_t *flags);
uint32_t u32_to_f32(uint32_t v, int rm, uint32_t *flags);
uint32_t i64_to_f32(int64_t v, int rm, uint32_t *flags);
uint32_t u64_to_f32(uint64_t v, int rm, uint32_t *flags);

/* binary64 */
uint64_t f64_add(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_sub(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_mul(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_div(uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t f64_sqrt(uint64_t a, int rm, uint32_t *flags);
uint64_t f64_fma(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags);
uint64_t f64_min(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t f64_max(uint64_t a, uint64_t b, uint32_t *flags);
int f64_eq(uint64_t a, uint64_t b, uint32_t *flags);
int f64_lt(uint64_t a, uint64_t b, uint32_t *flags);
int f64_le(uint64_t a, uint64_t b, uint32_t *flags);
uint64_t f64_classify(uint64_t a);
int32_t f64_to_i32(uint64_t a, int rm, uint32_t *flags);
uint32_t f64_to_u32(uint64_t a, int rm, uint32_t *flags);
int64_t f64_to_i64(uint64_t a, int rm, uint32_t *flags);
uint64_t f64_to_u64(uint64_t a, int rm, uint32_t *flags);
uint64_t i32_to_f64(int32_t v, int rm, uint32_t *flags);
uint64_t u32_to_f64(uint32_t v, int rm, uint32_t *flags);
uint64_t i64_to_f64(int64_t v, int rm, uint32_t *flags);
uint64_t u64_to_f64(uint64_t v, int rm, uint32_t *flags);

/* conversions between formats */
uint64_t f32_to_f64(uint32_t a, uint32_t *flags);
uint32_t f64_to_f32(uint64_t a, int rm, uint32_t *flags);

#endif
