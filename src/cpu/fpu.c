/*
 * IEEE 754 binary32/binary64 arithmetic with RISC-V F/D semantics.
 *
 * Two engines give bit-identical results and flags:
 *  - host: on x86-64, + - * / sqrt, fma (when the CPU has FMA) and f64->f32
 *    run on SSE with the guest rounding mode loaded into MXCSR.  Each
 *    operation is a single asm block (load MXCSR, operate, store MXCSR), so
 *    the compiler can neither constant-fold it nor move it away from the
 *    mode switch.  SSE is IEEE 754 and, like RISC-V, detects tininess after
 *    rounding, so its flags map one to one onto fflags; NaN results are then
 *    replaced by the canonical NaN.  MXCSR is left in its default state
 *    (0x1f80: round to nearest, all exceptions masked).
 *  - soft: an integer-only core (unpack, exact operation kept with a sticky
 *    bit, one rounding in round_pack) used for RMM (no host has it), for fma
 *    on CPUs without FMA, and for everything on other hosts or when built
 *    with -DHOSTEL_FPU_SOFT (the unit test runs both builds).
 * Conversions with integers, comparisons, min/max and fclass are integer
 * code in both builds.
 */
#include "cpu/fpu.h"

#include <stdbool.h>
#include <string.h>

#include "util/compiler.h"

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

static inline uint64_t sign_bit(const FpFormat *f) { return 1ull << (f->width - 1); }
static inline uint64_t inf_bits(const FpFormat *f)
{
    return (uint64_t)(2 * f->bias + 1) << f->mant_bits;
}
static inline uint64_t quiet_bit(const FpFormat *f) { return 1ull << (f->mant_bits - 1); }
static inline uint64_t canon_nan(const FpFormat *f) { return inf_bits(f) | quiet_bit(f); }
static inline uint64_t magnitude(const FpFormat *f, uint64_t x) { return x & (sign_bit(f) - 1); }
static inline int sign_of(const FpFormat *f, uint64_t x) { return (x >> (f->width - 1)) & 1; }
static inline bool is_nan(const FpFormat *f, uint64_t x) { return magnitude(f, x) > inf_bits(f); }
static inline bool is_inf(const FpFormat *f, uint64_t x) { return magnitude(f, x) == inf_bits(f); }
static inline bool is_zero(const FpFormat *f, uint64_t x) { return magnitude(f, x) == 0; }
static inline bool is_snan(const FpFormat *f, uint64_t x)
{
    return is_nan(f, x) && !(x & quiet_bit(f));
}
static inline uint64_t signed_zero(const FpFormat *f, int sign) { return sign ? sign_bit(f) : 0; }

/* NaN result of an operation: NV when an input is a signalling NaN, canonical NaN out. */
static uint64_t nan_result(const FpFormat *f, uint64_t a, uint64_t b, uint64_t c,
                           uint32_t *flags)
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

static inline int clz64(uint64_t x) { return __builtin_clzll(x); }
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
    bool to_inf = rm == FPU_RNE || rm == FPU_RMM || (rm == FPU_RDN && sign) ||
                  (rm == FPU_RUP && !sign);

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
        kept = sig >> shift;
        rem = sig & ((1ull << shift) - 1);
        tiny = e < emin - 1 || ((kept + round_up(rm, sign, kept, rem, half)) >> (f->mant_bits + 1)) == 0;
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

/* floor(sqrt(n)) for n < 2^126, digit by digit; *inexact when n is not a square. */
static uint64_t isqrt128(u128 n, bool *inexact)
{
    u128 rem = 0, root = 0;

    for (int i = 0; i < 64; i++) {
        root <<= 1;
        rem = (rem << 2) | (n >> 126);
        n <<= 2;
        if (rem >= (root << 1) + 1) {
            rem -= (root << 1) + 1;
            root |= 1;
        }
    }
    *inexact = rem != 0;
    return (uint64_t)root;
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
