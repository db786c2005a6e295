#!/usr/bin/env python3
"""Generate rv64f_round.S and rv64d_round.S: every rounding FP arithmetic
instruction in every rounding mode, static and dynamic, with exact flags.

Expected values come from exact rational arithmetic (fractions.Fraction)
rounded by the IEEE 754 rules below, independent of any FPU.  For each
operation three operand sets are chosen so that together they tell all
distinguishable rounding modes apart (the script asserts it):
  A: positive result, B: negative result, C: positive, other rounding side.
Run: python3 gen_fp_round.py   (rewrites the two .S files next to it)
"""
from fractions import Fraction as Fr
import math
import os

FMT = {'s': (8, 23), 'd': (11, 52)}
MODES = ['rne', 'rtz', 'rdn', 'rup', 'rmm']
NX, UF, OF = 1, 2, 4


def bits_of(x, f):
    """Encode an exactly representable normal Fraction (operand constants)."""
    b, flags = round_to(Fr(x), f, 'rne')
    assert flags == 0, (x, f)
    return b


def value_of(bits, f):
    e, m = FMT[f]
    exp = (bits >> m) & ((1 << e) - 1)
    man = bits & ((1 << m) - 1)
    assert 0 < exp < (1 << e) - 1, 'normal operands only'
    v = Fr((1 << m) + man, 1 << m) * Fr(2) ** (exp - ((1 << (e - 1)) - 1))
    return -v if bits >> (e + m) else v


def round_int(q, mode, neg):
    """Round the non-negative Fraction q to an integer; (n, inexact)."""
    n = q.numerator // q.denominator
    r = q - n
    if r == 0:
        return n, False
    half = Fr(1, 2)
    up = {'rne': r > half or (r == half and n % 2 == 1), 'rmm': r >= half,
          'rtz': False, 'rdn': neg, 'rup': not neg}[mode]
    return n + up, True


def round_to(x, f, mode):
    """Round the exact nonzero Fraction x to format f: (bits, flags).
    Tininess is detected after rounding, as RISC-V requires."""
    e, m = FMT[f]
    bias = (1 << (e - 1)) - 1
    neg = x < 0
    a = -x if neg else x
    ex = math.floor(math.log2(a))
    while Fr(2) ** ex > a:
        ex -= 1
    while Fr(2) ** (ex + 1) <= a:
        ex += 1
    n_unbounded, _ = round_int(a / Fr(2) ** (ex - m), mode, neg)
    tiny = n_unbounded * Fr(2) ** (ex - m) < Fr(2) ** (1 - bias)
    ex = max(ex, 1 - bias)
    n, inexact = round_int(a / Fr(2) ** (ex - m), mode, neg)
    if n >> (m + 1):
        n >>= 1
        ex += 1
    sign = (1 << (e + m)) if neg else 0
    flags = (NX if inexact else 0) | (UF if tiny and inexact else 0)
    if ex > bias:
        to_inf = {'rne': True, 'rmm': True, 'rtz': False, 'rdn': neg, 'rup': not neg}[mode]
        mag = ((1 << e) - 1) << m if to_inf else (((1 << e) - 1) << m) - 1
        return sign | mag, flags | OF | NX
    if n >> m == 0:
        return sign | n, flags
    return sign | ((ex + bias) << m) | (n - (1 << m)), flags


def sqrt_surrogate(x):
    """A Fraction that rounds exactly like sqrt(x) at these precisions."""
    k = 200
    num = x * Fr(4) ** k
    assert num.denominator == 1
    s = math.isqrt(num.numerator)
    return Fr(s, 2 ** k) if s * s == num.numerator else Fr(2 * s + 1, 2 ** (k + 1))


EXACT = {
    'fadd': lambda a, b: a + b,
    'fsub': lambda a, b: a - b,
    'fmul': lambda a, b: a * b,
    'fdiv': lambda a, b: a / b,
    'fsqrt': sqrt_surrogate,
    'fmadd': lambda a, b, c: a * b + c,
    'fmsub': lambda a, b, c: a * b - c,
    'fnmsub': lambda a, b, c: -(a * b) + c,
    'fnmadd': lambda a, b, c: -(a * b) - c,
}

def P2(k):
    return Fr(2) ** k


def operand_sets(f):
    """(op, description, [A, B, C]) with each set a tuple of exact operands."""
    u = P2(-23 if f == 's' else -52)          # ulp of [1, 2)
    big = 2 / u                               # 2^24 or 2^53: ulp there is 2
    h = P2(-12 if f == 's' else -26)          # (1+h)(1+h') gives a product tail
    h2 = h if f == 's' else h / 2             # h*h2 = u/2
    div = [(1, 3), (-1, 3), (1, 25)] if f == 's' else [(1, 5), (-1, 5), (1, 3)]
    sq = [5, 2, 10] if f == 's' else [2, 3, 5]
    c = P2(-10)
    fma_a = [(1 + h, 1 + h2), (-(1 + h), 1 + h2), (1 + 3 * h, 1 + h2)]
    return [
        ('fadd', '1 + u/2 (tie), -1 - u/2 (tie), 1 + 3u/4',
         [(1, u / 2), (-1, -u / 2), (1, 3 * u / 4)]),
        ('fsub', '(2^p+2) - 1 (tie), -(2^p+2) - 1 (tie), (2^p+2) - 1/2',
         [(big + 2, 1), (-(big + 2), 1), (big + 2, Fr(1, 2))]),
        ('fmul', '(1+h)(1+h\') = .. + u/2 (tie), its negation, (1+3h)(1+h\')',
         [s for s in fma_a]),
        ('fdiv', '%s/%s, %s/%s, %s/%s (never a tie)' % sum(div, ()),
         [(Fr(p), Fr(q)) for p, q in div]),
        ('fsqrt', 'sqrt(%d), sqrt(%d), sqrt(%d) (never a tie, never negative)' % tuple(sq),
         [(Fr(x),) for x in sq]),
        ('fmadd', 'fmul sets + 2^-10', [(a, b, c) for a, b in fma_a[:1]]
         + [(fma_a[1][0], fma_a[1][1], -c), (fma_a[2][0], fma_a[2][1], c)]),
        ('fmsub', 'fmul sets - (-2^-10)', [(fma_a[0][0], fma_a[0][1], -c),
                                           (fma_a[1][0], fma_a[1][1], c),
                                           (fma_a[2][0], fma_a[2][1], -c)]),
        ('fnmsub', '-(fmul sets with a negated) + 2^-10',
         [(-fma_a[0][0], fma_a[0][1], c), (fma_a[0][0], fma_a[0][1], -c),
          (-fma_a[2][0], fma_a[2][1], c)]),
        ('fnmadd', '-(fmul sets with a negated) - (-2^-10)',
         [(-fma_a[0][0], fma_a[0][1], -c), (fma_a[0][0], fma_a[0][1], c),
          (-fma_a[2][0], fma_a[2][1], -c)]),
    ]


def expected(op, f, operands, mode):
    return round_to(EXACT[op](*operands), f, mode)


def check_sets(op, f, sets):
    """The sets must separate every pair of modes that can differ for op."""
    sig = {m: tuple(expected(op, f, s, m) for s in sets) for m in MODES}
    need = {'fdiv': 4, 'fsqrt': 3}.get(op, 5)
    assert len(set(sig.values())) == need, (op, f, sig)


def hexs(x, f):
    return '0x%0*x' % (8 if f == 's' else 16, x)


def emit_case(out, n, op, f, rm, operands, mode):
    res, flags = expected(op, f, operands, mode)
    args = ', '.join(hexs(bits_of(x, f), f) for x in operands)
    head = '    FR%d_%s(%d, %s.%s, %s, %s, ' % (len(operands), f.upper(), n, op, f, rm, args)
    tail = '%s, 0x%02x)' % (hexs(res, f), flags)
    if len(head + tail) > 100:
        head += '\\\n' + ' ' * 10
    out.append(head + tail)


def generate(f):
    width = 'single' if f == 's' else 'double'
    ext = 'F' if f == 's' else 'D'
    out = ['/* GENERATED by gen_fp_round.py (exact rational reference): do not edit. */',
           '/*',
           ' * RV64%s rounding: fadd/fsub/fmul/fdiv/fsqrt/fmadd/fmsub/fnmsub/fnmadd.%s' % (ext, f),
           ' * in every static rounding mode (with frm = rmm, so a static field that is',
           ' * ignored shows) and with rm = dyn under every frm value, checking the',
           ' * result bits and the exact accrued flags after each.  u = ulp of 1.0 in',
           ' * %s precision; p = %d.' % (width, 24 if f == 's' else 53),
           ' */',
           '#include "user_macros.h"',
           '',
           'TEST_BEGIN',
           '    fsrmi 4                     /* frm = rmm during the static tests */']
    n = 1
    all_sets = operand_sets(f)
    for op, desc, sets in all_sets:
        check_sets(op, f, sets)
        out += ['', '    /* %s.%s static rm; sets: %s */' % (op, f, desc)]
        for s in sets:
            for mode in MODES:
                emit_case(out, n, op, f, mode, s, mode)
                n += 1
    for op, desc, sets in all_sets:
        out += ['', '    /* %s.%s rm = dyn, frm = each mode in turn (sets A, B, C) */' % (op, f)]
        for k, mode in enumerate(MODES):
            out.append('    fsrmi %d                     /* %s */' % (k, mode))
            for s in sets:
                emit_case(out, n, op, f, 'dyn', s, mode)
            n += 1
    assert n <= 251
    out += ['', '    TEST_PASS', '']
    return '\n'.join(out)


if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    for f, name in (('s', 'rv64f_round.S'), ('d', 'rv64d_round.S')):
        with open(os.path.join(here, name), 'w') as fh:
            fh.write(generate(f))
