/*
 * IEEE 754 binary32/binary64 arithmetic with RISC-V F/D semantics.
 *
 * Two engines give bit-identical results and flags (the unit test checks
 * both against QEMU):
 *  - host (x86-64): + - * / sqrt, fma (on CPUs with FMA) and f64->f32 run
 *    on SSE, which is IEEE 754 and, like RISC-V, detects tininess after
 *    rounding, so its flags map one to one onto fflags; NaN results become
 *    the canonical NaN.  The common case (round to nearest, NX already
 *    raised, ordinary operands and result) is plain C arithmetic.  Otherwise
 *    one asm block loads the guest mode into MXCSR, operates, reads the
 *    flags and restores the default MXCSR (0x1f80), so the compiler can
 *    neither fold the operation nor run any other code in the guest's mode.
 *    The host is assumed to run in that default mode outside this file.
 *  - soft: integer code (unpack, exact operation kept with a sticky bit,
 *    one rounding in round_pack) for RMM, which no host has, for fma on
 *    CPUs without FMA, and for everything on other hosts or when built with
 *    -DHOSTEL_FPU_SOFT.
 * Conversions with integers, comparisons, min/max and fclass are integer
 * code in both builds.
 */
#include "cpu/fpu.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && !defined(HOSTEL_FPU_SOFT)
#define FPU_HOST_SSE 1
#else
#define FPU_HOST_SSE 0
#endif

typedef unsigned __int128 u128;

/* ---- formats and classification ------------------------------------------------------- */

typedef struct {
    int mant_bits; /* stored fraction bits: 23 or 52 (precision p = mant_bits + 1) */
    int bias;      /* 127 or 1023: emax = bias, emin = 1 - bias */
    int width;     /* 32 or 64 */
} FpFormat;

static const FpFormat fmt32 = {23, 127, 32};
static const FpFormat fmt64 = {52, 1023, 64};

static inline uint64_t sign_bit(const FpFormat *f)
{
    return 1ull << (f->width - 1);
}
static inline uint64_t inf_bits(const FpFormat *f)
{
    return (uint64_t)(2 * f->bias + 1) << f->mant_bits;
}
static inline uint64_t quiet_bit(const FpFormat *f)
{
    return 1ull << (f->mant_bits - 1);
}
static inline uint64_t canon_nan(const FpFormat *f)
{
    return inf_bits(f) | quiet_bit(f);
}
static inline uint64_t magnitude(const FpFormat *f, uint64_t x)
{
    return x & (sign_bit(f) - 1);
}
static inline int sign_of(const FpFormat *f, uint64_t x)
{
    return (x >> (f->width - 1)) & 1;
}
static inline bool is_nan(const FpFormat *f, uint64_t x)
{
    return magnitude(f, x) > inf_bits(f);
}
static inline bool is_inf(const FpFormat *f, uint64_t x)
{
    return magnitude(f, x) == inf_bits(f);
}
static inline bool is_zero(const FpFormat *f, uint64_t x)
{
    return magnitude(f, x) == 0;
}
static inline bool is_snan(const FpFormat *f, uint64_t x)
{
    return is_nan(f, x) && !(x & quiet_bit(f));
}
static inline uint64_t signed_zero(const FpFormat *f, int sign)
{
    return sign ? sign_bit(f) : 0;
}

/* NaN result of an operation: NV when an input is a signalling NaN, canonical NaN out. */
static uint64_t nan_result(const FpFormat *f, uint64_t a, uint64_t b, uint64_t c, uint32_t *flags)
{
    if (is_snan(f, a) || is_snan(f, b) || is_snan(f, c))
        *flags |= FPU_NV;
    return canon_nan(f);
}

static uint64_t invalid_result(const FpFormat *f, uint32_t *flags)
{
    *flags |= FPU_NV;
    return canon_nan(f);
}

/* A finite non-zero value x as sig * 2^exp (sig has the implicit bit for normals). */
static void unpack(const FpFormat *f, uint64_t x, int *exp, uint64_t *sig)
{
    int field = (int)((x >> f->mant_bits) & (2 * f->bias + 1));
    uint64_t mant = x & ((1ull << f->mant_bits) - 1);

    if (field == 0) {
        *exp = 1 - f->bias - f->mant_bits;
        *sig = mant;
    } else {
        *exp = field - f->bias - f->mant_bits;
        *sig = mant | (1ull << f->mant_bits);
    }
}

/* ---- rounding ----------------------------------------------------------------------- */

static inline int clz64(uint64_t x)
{
    return __builtin_clzll(x);
}
static inline int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? clz64(hi) : 64 + clz64((uint64_t)x);
}

/* x >> n, with any bit shifted out ORed into bit 0 (the sticky bit). */
static inline uint64_t shift_right_jam(uint64_t x, int n)
{
    if (n == 0)
        return x;
    if (n >= 64)
        return x != 0;
    return (x >> n) | ((x << (64 - n)) != 0);
}

static inline u128 shift_right_jam128(u128 x, int n)
{
    if (n == 0)
        return x;
    if (n >= 128)
        return x != 0;
    return (x >> n) | ((x << (128 - n)) != 0);
}

/* A non-zero 128-bit significand narrowed to 64 bits (sticky kept); *exp follows. */
static uint64_t narrow128(u128 x, int *exp)
{
    int excess = 64 - clz128(x);

    if (excess <= 0)
        return (uint64_t)x;
    *exp += excess;
    return (uint64_t)shift_right_jam128(x, excess);
}

/* Whether to add one unit to `kept` given the discarded part rem (half = its midpoint). */
static inline bool round_up(int rm, int sign, uint64_t kept, uint64_t rem, uint64_t half)
{
    switch (rm) {
    case FPU_RNE: return rem > half || (rem == half && (kept & 1));
    case FPU_RMM: return rem >= half;
    case FPU_RDN: return rem && sign;
    case FPU_RUP: return rem && !sign;
    default: return false;
    }
}

static uint64_t overflow_result(const FpFormat *f, int sign, int rm, uint32_t *flags)
{
    bool to_inf =
        rm == FPU_RNE || rm == FPU_RMM || (rm == FPU_RDN && sign) || (rm == FPU_RUP && !sign);

    *flags |= FPU_OF | FPU_NX;
    return signed_zero(f, sign) | (to_inf ? inf_bits(f) : inf_bits(f) - 1);
}

/*
 * Round (-1)^sign * sig * 2^exp (sig != 0, bit 0 possibly a sticky bit with at
 * least two bits of margin below the rounding position) to format f.  Tininess
 * is detected after rounding: the value is tiny when rounding it to p bits
 * with an unbounded exponent gives less than 2^emin.
 */
static uint64_t round_pack(const FpFormat *f, int sign, int exp, uint64_t sig, int rm,
                           uint32_t *flags)
{
    int lz = clz64(sig), shift = 63 - f->mant_bits, emin = 1 - f->bias;
    int e = exp - lz + 63; /* exponent of the leading bit */
    uint64_t kept, rem, half = 1ull << (shift - 1), bits;
    bool tiny = false;

    sig <<= lz;
    if (e > f->bias)
        return overflow_result(f, sign, rm, flags);
    if (e < emin) {
        /* not tiny only if just below 2^emin and rounding to p bits reaches 2^emin */
        kept = sig >> shift;
        kept += round_up(rm, sign, kept, sig & ((1ull << shift) - 1), half);
        tiny = e < emin - 1 || kept >> (f->mant_bits + 1) == 0;
        sig = shift_right_jam(sig, emin - e);
        e = emin;
    }
    kept = sig >> shift;
    rem = sig & ((1ull << shift) - 1);
    kept += round_up(rm, sign, kept, rem, half);
    if (rem)
        *flags |= tiny ? FPU_NX | FPU_UF : FPU_NX;
    /* the implicit bit of kept carries into the exponent field; subnormals have field 0 */
    bits = ((uint64_t)(e + f->bias - 1) << f->mant_bits) + kept;
    if (bits >= inf_bits(f))
        return overflow_result(f, sign, rm, flags);
    return signed_zero(f, sign) | bits;
}

/* ---- soft arithmetic ------------------------------------------------------------------ */

/* The zero an exact cancellation x - x produces: -0 when rounding down, else +0. */
static inline uint64_t cancel_zero(const FpFormat *f, int rm)
{
    return signed_zero(f, rm == FPU_RDN);
}

/* sig * 2^exp shifted so its leading bit is at bit `top` (sig != 0). */
static inline void normalize_to(uint64_t *sig, int *exp, int top)
{
    int s = clz64(*sig) - (63 - top);

    *sig <<= s;
    *exp -= s;
}

static uint64_t soft_add(const FpFormat *f, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    int sa = sign_of(f, a), sb = sign_of(f, b), ea, eb;
    uint64_t ma, mb;

    if (is_nan(f, a) || is_nan(f, b))
        return nan_result(f, a, b, 0, flags);
    if (is_inf(f, a))
        return is_inf(f, b) && sa != sb ? invalid_result(f, flags) : a;
    if (is_inf(f, b))
        return b;
    if (is_zero(f, a))
        return is_zero(f, b) && sa != sb ? cancel_zero(f, rm) : b;
    if (is_zero(f, b))
        return a;
    unpack(f, a, &ea, &ma);
    unpack(f, b, &eb, &mb);
    normalize_to(&ma, &ea, 62);
    normalize_to(&mb, &eb, 62);
    if (ea < eb || (ea == eb && ma < mb)) { /* make a the larger magnitude */
        uint64_t tm = ma;
        int te = ea, ts = sa;
        ma = mb, ea = eb, sa = sb;
        mb = tm, eb = te, sb = ts;
    }
    mb = shift_right_jam(mb, ea - eb);
    if (sa == sb)
        return round_pack(f, sa, ea, ma + mb, rm, flags);
    if (ma == mb)
        return cancel_zero(f, rm);
    return round_pack(f, sa, ea, ma - mb, rm, flags);
}

static uint64_t soft_mul(const FpFormat *f, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    int sign = sign_of(f, a) ^ sign_of(f, b), ea, eb;
    uint64_t ma, mb;

    if (is_nan(f, a) || is_nan(f, b))
        return nan_result(f, a, b, 0, flags);
    if (is_inf(f, a) || is_inf(f, b)) {
        if (is_zero(f, a) || is_zero(f, b))
            return invalid_result(f, flags);
        return signed_zero(f, sign) | inf_bits(f);
    }
    if (is_zero(f, a) || is_zero(f, b))
        return signed_zero(f, sign);
    unpack(f, a, &ea, &ma);
    unpack(f, b, &eb, &mb);
    ea += eb;
    mb = narrow128((u128)ma * mb, &ea);
    return round_pack(f, sign, ea, mb, rm, flags);
}

static uint64_t soft_div(const FpFormat *f, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    int sign = sign_of(f, a) ^ sign_of(f, b), ea, eb;
    uint64_t ma, mb, q;
    u128 num;

    if (is_nan(f, a) || is_nan(f, b))
        return nan_result(f, a, b, 0, flags);
    if (is_inf(f, a))
        return is_inf(f, b) ? invalid_result(f, flags) : signed_zero(f, sign) | inf_bits(f);
    if (is_inf(f, b))
        return signed_zero(f, sign);
    if (is_zero(f, b)) {
        if (is_zero(f, a))
            return invalid_result(f, flags);
        *flags |= FPU_DZ;
        return signed_zero(f, sign) | inf_bits(f);
    }
    if (is_zero(f, a))
        return signed_zero(f, sign);
    unpack(f, a, &ea, &ma);
    unpack(f, b, &eb, &mb);
    normalize_to(&ma, &ea, 62);
    normalize_to(&mb, &eb, 62);
    num = (u128)ma << 63; /* quotient in [2^62, 2^64): at least 63 bits */
    q = (uint64_t)(num / mb);
    q |= (num % mb) != 0;
    return round_pack(f, sign, ea - eb - 63, q, rm, flags);
}

/*
 * floor(sqrt(n)) for 2^124 <= n < 2^126; *inexact when n is not a square.  A
 * double estimate (off by at most ~2^10) and one Newton step land within one
 * of the root; exact integer checks finish.
 */
static uint64_t isqrt128(u128 n, bool *inexact)
{
    uint64_t r = (uint64_t)sqrt((double)n);

    r = (uint64_t)((r + n / r) >> 1);
    while ((u128)r * r > n)
        r--;
    while ((u128)(r + 1) * (r + 1) <= n)
        r++;
    *inexact = (u128)r * r != n;
    return r;
}

static uint64_t soft_sqrt(const FpFormat *f, uint64_t a, int rm, uint32_t *flags)
{
    int e, shift;
    uint64_t m, root;
    bool inexact;

    if (is_nan(f, a))
        return nan_result(f, a, 0, 0, flags);
    if (is_zero(f, a))
        return a;
    if (sign_of(f, a))
        return invalid_result(f, flags);
    if (is_inf(f, a))
        return a;
    unpack(f, a, &e, &m);
    /* shift m to bit 124 or 125 keeping e even: the root then has 63 bits */
    shift = clz64(m) + 64 - 3;
    if ((e - shift) & 1)
        shift++;
    root = isqrt128((u128)m << shift, &inexact);
    return round_pack(f, 0, (e - shift) / 2, root | inexact, rm, flags);
}

/* The product a*b is finite and non-zero, c finite: round a*b + c once. */
static uint64_t fma_finite(const FpFormat *f, uint64_t a, uint64_t b, uint64_t c, int rm,
                           uint32_t *flags)
{
    int sp = sign_of(f, a) ^ sign_of(f, b), sc = sign_of(f, c), ea, eb, ec, ep, top;
    uint64_t ma, mb, mc = 0;
    u128 p, q;

    unpack(f, a, &ea, &ma);
    unpack(f, b, &eb, &mb);
    ep = ea + eb;
    p = (u128)ma * mb;
    if (is_zero(f, c)) {
        ma = narrow128(p, &ep);
        return round_pack(f, sp, ep, ma, rm, flags);
    }
    top = clz128(p) - 2; /* leading bit to 125 */
    p <<= top;
    ep -= top;
    unpack(f, c, &ec, &mc);
    q = (u128)mc << (clz128(mc) - 2);
    ec -= clz128(mc) - 2;
    if (ec > ep || (ec == ep && q > p)) { /* make p the larger magnitude */
        u128 t = p;
        int te = ep, ts = sp;
        p = q, ep = ec, sp = sc;
        q = t, ec = te, sc = ts;
    }
    q = shift_right_jam128(q, ep - ec);
    if (sp != sc && p == q)
        return cancel_zero(f, rm);
    p = sp == sc ? p + q : p - q;
    mc = narrow128(p, &ep);
    return round_pack(f, sp, ep, mc, rm, flags);
}

static uint64_t soft_fma(const FpFormat *f, uint64_t a, uint64_t b, uint64_t c, int rm,
                         uint32_t *flags)
{
    int sp = sign_of(f, a) ^ sign_of(f, b), sc = sign_of(f, c);
    bool inf_zero = (is_inf(f, a) && is_zero(f, b)) || (is_zero(f, a) && is_inf(f, b));

    if (is_nan(f, a) || is_nan(f, b) || is_nan(f, c)) {
        if (inf_zero) /* RISC-V: invalid even when c is a quiet NaN */
            *flags |= FPU_NV;
        return nan_result(f, a, b, c, flags);
    }
    if (inf_zero)
        return invalid_result(f, flags);
    if (is_inf(f, a) || is_inf(f, b))
        return is_inf(f, c) && sc != sp ? invalid_result(f, flags)
                                        : signed_zero(f, sp) | inf_bits(f);
    if (is_inf(f, c))
        return c;
    if (is_zero(f, a) || is_zero(f, b)) {
        if (!is_zero(f, c))
            return c;
        return sp == sc ? c : cancel_zero(f, rm);
    }
    return fma_finite(f, a, b, c, rm, flags);
}

/* ---- conversions, comparisons, classification (integer code in every build) ------------- */

/* |m * 2^e| rounded to an integer per rm; false when it does not fit in 64 bits. */
static bool round_to_integer(uint64_t m, int e, int sign, int rm, uint64_t *mag, bool *inexact)
{
    uint64_t kept = 0, rem = 1, half = 2; /* e <= -64: 0 < |x| < 1/2 */

    if (e >= 0) {
        if (e >= 64 || clz64(m) < e)
            return false;
        *mag = m << e;
        *inexact = false;
        return true;
    }
    if (e > -64) {
        kept = m >> -e;
        rem = m & ((1ull << -e) - 1);
        half = 1ull << (-e - 1);
    }
    *inexact = rem != 0;
    *mag = kept + round_up(rm, sign, kept, rem, half);
    return true;
}

/*
 * fcvt to a `width`-bit integer: NaN gives the largest value, out-of-range
 * values saturate; both raise NV (and then not NX).  Returns the two's
 * complement bit pattern.
 */
static uint64_t soft_to_int(const FpFormat *f, uint64_t x, int rm, bool is_signed, int width,
                            uint32_t *flags)
{
    int sign = sign_of(f, x), e;
    uint64_t max = is_signed ? (1ull << (width - 1)) - 1 : ~0ull >> (64 - width);
    uint64_t neg_max = is_signed ? 1ull << (width - 1) : 0; /* largest negative magnitude */
    uint64_t m, mag;
    bool inexact;

    if (is_zero(f, x))
        return 0;
    if (is_nan(f, x)) {
        *flags |= FPU_NV;
        return max;
    }
    unpack(f, x, &e, &m);
    if (is_inf(f, x) || !round_to_integer(m, e, sign, rm, &mag, &inexact) ||
        mag > (sign ? neg_max : max)) {
        *flags |= FPU_NV;
        return sign ? 0 - neg_max : max;
    }
    if (inexact)
        *flags |= FPU_NX;
    return sign ? 0 - mag : mag;
}

/* An integer (magnitude and sign) rounded to format f. */
static uint64_t soft_from_int(const FpFormat *f, uint64_t mag, int sign, int rm, uint32_t *flags)
{
    return mag ? round_pack(f, sign, 0, mag, rm, flags) : 0;
}

/* a < b for non-NaN values; with signed_zeros, -0 < +0 (fmin/fmax), else they are equal. */
static bool less_than(const FpFormat *f, uint64_t a, uint64_t b, bool signed_zeros)
{
    int sa = sign_of(f, a), sb = sign_of(f, b);

    if (!signed_zeros && is_zero(f, a) && is_zero(f, b))
        return false;
    if (sa != sb)
        return sa;
    return sa ? magnitude(f, a) > magnitude(f, b) : magnitude(f, a) < magnitude(f, b);
}

static int soft_eq(const FpFormat *f, uint64_t a, uint64_t b, uint32_t *flags)
{
    if (is_nan(f, a) || is_nan(f, b)) {
        if (is_snan(f, a) || is_snan(f, b))
            *flags |= FPU_NV;
        return 0;
    }
    return a == b || (is_zero(f, a) && is_zero(f, b));
}

/* flt (or_equal = 0) and fle (or_equal = 1): any NaN operand raises NV. */
static int soft_lt_le(const FpFormat *f, uint64_t a, uint64_t b, bool or_equal, uint32_t *flags)
{
    if (is_nan(f, a) || is_nan(f, b)) {
        *flags |= FPU_NV;
        return 0;
    }
    return or_equal ? !less_than(f, b, a, false) : less_than(f, a, b, false);
}

/* RISC-V fmin/fmax (IEEE 754-2019 minimumNumber/maximumNumber). */
static uint64_t soft_minmax(const FpFormat *f, uint64_t a, uint64_t b, bool want_max,
                            uint32_t *flags)
{
    if (is_snan(f, a) || is_snan(f, b))
        *flags |= FPU_NV;
    if (is_nan(f, a))
        return is_nan(f, b) ? canon_nan(f) : b;
    if (is_nan(f, b))
        return a;
    return less_than(f, a, b, true) != want_max ? a : b;
}

static uint64_t soft_classify(const FpFormat *f, uint64_t x)
{
    int neg = sign_of(f, x);

    if (is_nan(f, x))
        return is_snan(f, x) ? 1u << 8 : 1u << 9;
    if (is_inf(f, x))
        return neg ? 1u << 0 : 1u << 7;
    if (is_zero(f, x))
        return neg ? 1u << 3 : 1u << 4;
    if (magnitude(f, x) < (1ull << f->mant_bits))
        return neg ? 1u << 2 : 1u << 5;
    return neg ? 1u << 1 : 1u << 6;
}

/* Conversion between formats of a non-NaN value (exact when widening). */
static uint64_t soft_convert(const FpFormat *to, const FpFormat *from, uint64_t x, int rm,
                             uint32_t *flags)
{
    int sign = sign_of(from, x), e;
    uint64_t m;

    if (is_inf(from, x))
        return signed_zero(to, sign) | inf_bits(to);
    if (is_zero(from, x))
        return signed_zero(to, sign);
    unpack(from, x, &e, &m);
    return round_pack(to, sign, e, m, rm, flags);
}

/* ---- host engine (x86-64 SSE) ---------------------------------------------------------- */

enum { HOST_ADD, HOST_SUB, HOST_MUL, HOST_DIV, HOST_SQRT };

#if FPU_HOST_SSE

#define USE_HOST(rm) ((rm) != FPU_RMM)

/* MXCSR per rounding mode: exceptions masked, flags clear, DAZ/FTZ off, RC in bits 13-14. */
static const uint32_t mxcsr_rm[8] = {0x1f80, 0x7f80, 0x3f80, 0x5f80,
                                     0x1f80, 0x1f80, 0x1f80, 0x1f80};
static const uint32_t mxcsr_default = 0x1f80;

/*
 * One asm block loads the mode, operates (x = x op y), reads the flags and
 * restores the default MXCSR, so no other code ever runs in the guest's mode.
 */
#define SSE_OP(insn, dst, src, csr, st)                                                            \
    asm volatile("ldmxcsr %[c]\n\t" insn " %[y], %[x]\n\tstmxcsr %[s]\n\tldmxcsr %[d]"             \
                 : [x] "+x"(dst), [s] "=m"(st)                                                     \
                 : [y] "x"(src), [c] "m"(csr), [d] "m"(mxcsr_default))

/* z = x * y + z, same pattern. */
#define SSE_FMA(insn, mul1, mul2, acc, csr, st)                                                    \
    asm volatile("ldmxcsr %[c]\n\t" insn " %[y], %[x], %[z]\n\tstmxcsr %[s]\n\tldmxcsr %[d]"       \
                 : [z] "+x"(acc), [s] "=m"(st)                                                     \
                 : [x] "x"(mul1), [y] "x"(mul2), [c] "m"(csr), [d] "m"(mxcsr_default))

/* MXCSR flags (IE DE ZE OE UE PE in bits 0-5) as fflags; DE has no RISC-V meaning. */
static inline uint32_t sse_flags(uint32_t st)
{
    return ((st & 1) << 4) | ((st & 4) << 1) | ((st >> 1) & 4) | ((st >> 3) & 2) | ((st >> 5) & 1);
}

/*
 * Fast path.  With rm = RNE and NX already in *flags (the usual state of a
 * guest's fflags: only software clears them), an operation whose operands
 * are zero or normal and whose result is normal or exact can raise nothing
 * new, so it runs as plain host arithmetic in the default round-to-nearest
 * mode, without the slow MXCSR load.  NaN, infinite or subnormal operands,
 * and results that overflow or may be tiny take the full path (this is
 * QEMU's "hardfloat" idea).
 */
static inline bool fast_ok(int rm, const uint32_t *flags)
{
    return rm == FPU_RNE && (*flags & FPU_NX);
}

static inline bool zero_or_normal(const FpFormat *f, uint64_t x)
{
    uint64_t e = x & inf_bits(f);

    return (e != 0 && e != inf_bits(f)) || is_zero(f, x);
}

/* A fast-path result r of op on a, b needs no flag besides NX. */
static inline bool fast_result_ok(const FpFormat *f, int op, uint64_t a, uint64_t b, uint64_t r)
{
    uint64_t m = magnitude(f, r), min_normal = 1ull << f->mant_bits;

    switch (op) {
    case HOST_ADD:
    case HOST_SUB: return m < inf_bits(f); /* tiny sums of normals are exact */
    case HOST_SQRT: return true;
    case HOST_MUL: return (m > min_normal && m < inf_bits(f)) || is_zero(f, a) || is_zero(f, b);
    default: return (m > min_normal && m < inf_bits(f)) || is_zero(f, a);
    }
}

/* Operands the fast path takes: zero or normal, no 0 divisor, no negative square root. */
static inline bool fast_operands_ok(const FpFormat *f, int op, uint64_t a, uint64_t b)
{
    if (!zero_or_normal(f, a) || !zero_or_normal(f, b))
        return false;
    if (op == HOST_DIV)
        return !is_zero(f, b);
    return op != HOST_SQRT || !sign_of(f, a) || is_zero(f, a);
}

static inline bool fast_f32(int op, uint32_t a, uint32_t b, uint32_t *r)
{
    float x, y;

    if (!fast_operands_ok(&fmt32, op, a, b))
        return false;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    switch (op) {
    case HOST_ADD: x += y; break;
    case HOST_SUB: x -= y; break;
    case HOST_MUL: x *= y; break;
    case HOST_DIV: x /= y; break;
    default: asm("sqrtss %1, %0" : "=x"(x) : "x"(y)); break;
    }
    memcpy(r, &x, 4);
    return fast_result_ok(&fmt32, op, a, b, *r);
}

static inline bool fast_f64(int op, uint64_t a, uint64_t b, uint64_t *r)
{
    double x, y;

    if (!fast_operands_ok(&fmt64, op, a, b))
        return false;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    switch (op) {
    case HOST_ADD: x += y; break;
    case HOST_SUB: x -= y; break;
    case HOST_MUL: x *= y; break;
    case HOST_DIV: x /= y; break;
    default: asm("sqrtsd %1, %0" : "=x"(x) : "x"(y)); break;
    }
    memcpy(r, &x, 8);
    return fast_result_ok(&fmt64, op, a, b, *r);
}

static inline uint32_t host_f32(int op, uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    float x, y;
    uint32_t st, r;

    if (fast_ok(rm, flags) && fast_f32(op, a, b, &r))
        return r;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    switch (op) {
    case HOST_ADD: SSE_OP("addss", x, y, mxcsr_rm[rm], st); break;
    case HOST_SUB: SSE_OP("subss", x, y, mxcsr_rm[rm], st); break;
    case HOST_MUL: SSE_OP("mulss", x, y, mxcsr_rm[rm], st); break;
    case HOST_DIV: SSE_OP("divss", x, y, mxcsr_rm[rm], st); break;
    default: SSE_OP("sqrtss", x, y, mxcsr_rm[rm], st); break;
    }
    *flags |= sse_flags(st);
    memcpy(&r, &x, 4);
    return is_nan(&fmt32, r) ? F32_CANON_NAN : r;
}

static inline uint64_t host_f64(int op, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    double x, y;
    uint32_t st;
    uint64_t r;

    if (fast_ok(rm, flags) && fast_f64(op, a, b, &r))
        return r;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    switch (op) {
    case HOST_ADD: SSE_OP("addsd", x, y, mxcsr_rm[rm], st); break;
    case HOST_SUB: SSE_OP("subsd", x, y, mxcsr_rm[rm], st); break;
    case HOST_MUL: SSE_OP("mulsd", x, y, mxcsr_rm[rm], st); break;
    case HOST_DIV: SSE_OP("divsd", x, y, mxcsr_rm[rm], st); break;
    default: SSE_OP("sqrtsd", x, y, mxcsr_rm[rm], st); break;
    }
    *flags |= sse_flags(st);
    memcpy(&r, &x, 8);
    return is_nan(&fmt64, r) ? F64_CANON_NAN : r;
}

static inline bool host_has_fma(void)
{
    return __builtin_cpu_supports("fma");
}

/* A NaN fma result: the host may not raise NV for inf*0 + qNaN, RISC-V does. */
static uint64_t host_fma_nan(const FpFormat *f, uint64_t a, uint64_t b, uint32_t *flags)
{
    if ((is_inf(f, a) && is_zero(f, b)) || (is_zero(f, a) && is_inf(f, b)))
        *flags |= FPU_NV;
    return canon_nan(f);
}

/* Fast path of fma: operands zero or normal, result normal. */
static inline bool fast_fma_ok(const FpFormat *f, uint64_t a, uint64_t b, uint64_t c)
{
    return zero_or_normal(f, a) && zero_or_normal(f, b) && zero_or_normal(f, c);
}

static inline bool normal_result(const FpFormat *f, uint64_t r)
{
    return magnitude(f, r) > (1ull << f->mant_bits) && magnitude(f, r) < inf_bits(f);
}

static inline uint32_t host_fma32(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags)
{
    float x, y, z;
    uint32_t st, r;

    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    memcpy(&z, &c, 4);
    if (fast_ok(rm, flags) && fast_fma_ok(&fmt32, a, b, c)) {
        float w = z;

        asm("vfmadd231ss %2, %1, %0" : "+x"(w) : "x"(x), "x"(y));
        memcpy(&r, &w, 4);
        if (normal_result(&fmt32, r))
            return r;
    }
    SSE_FMA("vfmadd231ss", x, y, z, mxcsr_rm[rm], st);
    *flags |= sse_flags(st);
    memcpy(&r, &z, 4);
    return is_nan(&fmt32, r) ? (uint32_t)host_fma_nan(&fmt32, a, b, flags) : r;
}

static inline uint64_t host_fma64(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags)
{
    double x, y, z;
    uint32_t st;
    uint64_t r;

    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    memcpy(&z, &c, 8);
    if (fast_ok(rm, flags) && fast_fma_ok(&fmt64, a, b, c)) {
        double w = z;

        asm("vfmadd231sd %2, %1, %0" : "+x"(w) : "x"(x), "x"(y));
        memcpy(&r, &w, 8);
        if (normal_result(&fmt64, r))
            return r;
    }
    SSE_FMA("vfmadd231sd", x, y, z, mxcsr_rm[rm], st);
    *flags |= sse_flags(st);
    memcpy(&r, &z, 8);
    return is_nan(&fmt64, r) ? host_fma_nan(&fmt64, a, b, flags) : r;
}

/* f64 -> f32 for a non-NaN value. */
static inline uint32_t host_narrow(uint64_t a, int rm, uint32_t *flags)
{
    double y;
    float x = 0;
    uint32_t st, r;

    memcpy(&y, &a, 8);
    if (fast_ok(rm, flags) && zero_or_normal(&fmt64, a)) {
        x = (float)y;
        memcpy(&r, &x, 4);
        if (normal_result(&fmt32, r) || is_zero(&fmt64, a))
            return r;
    }
    SSE_OP("cvtsd2ss", x, y, mxcsr_rm[rm], st);
    *flags |= sse_flags(st);
    memcpy(&r, &x, 4);
    return r;
}

#else /* no host engine: USE_HOST is 0 and these are never evaluated */

#define USE_HOST(rm) 0
#define host_has_fma() false
#define host_f32(op, a, b, rm, flags) 0
#define host_f64(op, a, b, rm, flags) 0
#define host_fma32(a, b, c, rm, flags) 0
#define host_fma64(a, b, c, rm, flags) 0
#define host_narrow(a, rm, flags) 0

#endif

/* ---- binary32 ----------------------------------------------------------------------------- */

uint32_t f32_add(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f32(HOST_ADD, a, b, rm, flags);
    return (uint32_t)soft_add(&fmt32, a, b, rm, flags);
}

uint32_t f32_sub(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f32(HOST_SUB, a, b, rm, flags);
    return (uint32_t)soft_add(&fmt32, a, b ^ 0x80000000u, rm, flags);
}

uint32_t f32_mul(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f32(HOST_MUL, a, b, rm, flags);
    return (uint32_t)soft_mul(&fmt32, a, b, rm, flags);
}

uint32_t f32_div(uint32_t a, uint32_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f32(HOST_DIV, a, b, rm, flags);
    return (uint32_t)soft_div(&fmt32, a, b, rm, flags);
}

/*
 * A square root is never halfway between two floats (the square of a
 * (p+1)-bit midpoint has more than p significant bits, and square roots are
 * never subnormal), so RMM gives the RNE result and flags.
 */
uint32_t f32_sqrt(uint32_t a, int rm, uint32_t *flags)
{
    if (USE_HOST(FPU_RNE))
        return host_f32(HOST_SQRT, a, a, rm == FPU_RMM ? FPU_RNE : rm, flags);
    return (uint32_t)soft_sqrt(&fmt32, a, rm, flags);
}

uint32_t f32_fma(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags)
{
    if (USE_HOST(rm) && host_has_fma())
        return host_fma32(a, b, c, rm, flags);
    return (uint32_t)soft_fma(&fmt32, a, b, c, rm, flags);
}

uint32_t f32_min(uint32_t a, uint32_t b, uint32_t *flags)
{
    return (uint32_t)soft_minmax(&fmt32, a, b, false, flags);
}

uint32_t f32_max(uint32_t a, uint32_t b, uint32_t *flags)
{
    return (uint32_t)soft_minmax(&fmt32, a, b, true, flags);
}

int f32_eq(uint32_t a, uint32_t b, uint32_t *flags)
{
    return soft_eq(&fmt32, a, b, flags);
}
int f32_lt(uint32_t a, uint32_t b, uint32_t *flags)
{
    return soft_lt_le(&fmt32, a, b, false, flags);
}
int f32_le(uint32_t a, uint32_t b, uint32_t *flags)
{
    return soft_lt_le(&fmt32, a, b, true, flags);
}
uint64_t f32_classify(uint32_t a)
{
    return soft_classify(&fmt32, a);
}

int32_t f32_to_i32(uint32_t a, int rm, uint32_t *flags)
{
    return (int32_t)(uint32_t)soft_to_int(&fmt32, a, rm, true, 32, flags);
}

uint32_t f32_to_u32(uint32_t a, int rm, uint32_t *flags)
{
    return (uint32_t)soft_to_int(&fmt32, a, rm, false, 32, flags);
}

int64_t f32_to_i64(uint32_t a, int rm, uint32_t *flags)
{
    return (int64_t)soft_to_int(&fmt32, a, rm, true, 64, flags);
}

uint64_t f32_to_u64(uint32_t a, int rm, uint32_t *flags)
{
    return soft_to_int(&fmt32, a, rm, false, 64, flags);
}

uint32_t i32_to_f32(int32_t v, int rm, uint32_t *flags)
{
    return (uint32_t)soft_from_int(&fmt32, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, rm, flags);
}

uint32_t u32_to_f32(uint32_t v, int rm, uint32_t *flags)
{
    return (uint32_t)soft_from_int(&fmt32, v, 0, rm, flags);
}

uint32_t i64_to_f32(int64_t v, int rm, uint32_t *flags)
{
    return (uint32_t)soft_from_int(&fmt32, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, rm, flags);
}

uint32_t u64_to_f32(uint64_t v, int rm, uint32_t *flags)
{
    return (uint32_t)soft_from_int(&fmt32, v, 0, rm, flags);
}

/* ---- binary64 ----------------------------------------------------------------------------- */

uint64_t f64_add(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f64(HOST_ADD, a, b, rm, flags);
    return soft_add(&fmt64, a, b, rm, flags);
}

uint64_t f64_sub(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f64(HOST_SUB, a, b, rm, flags);
    return soft_add(&fmt64, a, b ^ (1ull << 63), rm, flags);
}

uint64_t f64_mul(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f64(HOST_MUL, a, b, rm, flags);
    return soft_mul(&fmt64, a, b, rm, flags);
}

uint64_t f64_div(uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (USE_HOST(rm))
        return host_f64(HOST_DIV, a, b, rm, flags);
    return soft_div(&fmt64, a, b, rm, flags);
}

uint64_t f64_sqrt(uint64_t a, int rm, uint32_t *flags) /* RMM: see f32_sqrt */
{
    if (USE_HOST(FPU_RNE))
        return host_f64(HOST_SQRT, a, a, rm == FPU_RMM ? FPU_RNE : rm, flags);
    return soft_sqrt(&fmt64, a, rm, flags);
}

uint64_t f64_fma(uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags)
{
    if (USE_HOST(rm) && host_has_fma())
        return host_fma64(a, b, c, rm, flags);
    return soft_fma(&fmt64, a, b, c, rm, flags);
}

uint64_t f64_min(uint64_t a, uint64_t b, uint32_t *flags)
{
    return soft_minmax(&fmt64, a, b, false, flags);
}

uint64_t f64_max(uint64_t a, uint64_t b, uint32_t *flags)
{
    return soft_minmax(&fmt64, a, b, true, flags);
}

int f64_eq(uint64_t a, uint64_t b, uint32_t *flags)
{
    return soft_eq(&fmt64, a, b, flags);
}
int f64_lt(uint64_t a, uint64_t b, uint32_t *flags)
{
    return soft_lt_le(&fmt64, a, b, false, flags);
}
int f64_le(uint64_t a, uint64_t b, uint32_t *flags)
{
    return soft_lt_le(&fmt64, a, b, true, flags);
}
uint64_t f64_classify(uint64_t a)
{
    return soft_classify(&fmt64, a);
}

int32_t f64_to_i32(uint64_t a, int rm, uint32_t *flags)
{
    return (int32_t)(uint32_t)soft_to_int(&fmt64, a, rm, true, 32, flags);
}

uint32_t f64_to_u32(uint64_t a, int rm, uint32_t *flags)
{
    return (uint32_t)soft_to_int(&fmt64, a, rm, false, 32, flags);
}

int64_t f64_to_i64(uint64_t a, int rm, uint32_t *flags)
{
    return (int64_t)soft_to_int(&fmt64, a, rm, true, 64, flags);
}

uint64_t f64_to_u64(uint64_t a, int rm, uint32_t *flags)
{
    return soft_to_int(&fmt64, a, rm, false, 64, flags);
}

uint64_t i32_to_f64(int32_t v, int rm, uint32_t *flags)
{
    return soft_from_int(&fmt64, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, rm, flags);
}

uint64_t u32_to_f64(uint32_t v, int rm, uint32_t *flags)
{
    return soft_from_int(&fmt64, v, 0, rm, flags);
}

uint64_t i64_to_f64(int64_t v, int rm, uint32_t *flags)
{
    return soft_from_int(&fmt64, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, rm, flags);
}

uint64_t u64_to_f64(uint64_t v, int rm, uint32_t *flags)
{
    return soft_from_int(&fmt64, v, 0, rm, flags);
}

/* ---- between formats ---------------------------------------------------------------------- */

uint64_t f32_to_f64(uint32_t a, uint32_t *flags)
{
    if (is_nan(&fmt32, a)) {
        if (is_snan(&fmt32, a))
            *flags |= FPU_NV;
        return F64_CANON_NAN;
    }
    return soft_convert(&fmt64, &fmt32, a, FPU_RNE, flags);
}

uint32_t f64_to_f32(uint64_t a, int rm, uint32_t *flags)
{
    if (is_nan(&fmt64, a)) {
        if (is_snan(&fmt64, a))
            *flags |= FPU_NV;
        return F32_CANON_NAN;
    }
    if (USE_HOST(rm))
        return host_narrow(a, rm, flags);
    return (uint32_t)soft_convert(&fmt32, &fmt64, a, rm, flags);
}
