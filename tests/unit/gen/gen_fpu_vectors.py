#!/usr/bin/env python3
"""Generate FPU test vectors whose expected results come from QEMU.

Builds a corpus of inputs (edge cases, boundary values, targeted hard cases
such as rounding ties, after-rounding underflow, cancellation in fma, and
seeded random values) for every operation listed in fpu_ops.h and every
rounding mode, runs them on qemu-system-riscv64 (-M virt) through the
bare-metal probe fpu_probe.c, and writes a C header of
{op, rm, a, b, c, result, fflags} rows for tests/unit/test_fpu.c.

Needs riscv64-linux-gnu-gcc and qemu-system-riscv64 at generation time only.
    gen_fpu_vectors.py                      # rewrites tests/unit/fpu_vectors.h
    gen_fpu_vectors.py --scale 40 --out /tmp/big.h --seed 7   # a larger corpus
"""
import argparse
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
RMS = [0, 1, 2, 3, 4]  # RNE RTZ RDN RUP RMM


class Fmt:
    def __init__(self, p, ebits):
        self.p, self.ebits = p, ebits
        self.width = p + ebits
        self.bias = (1 << (ebits - 1)) - 1
        self.emax = self.bias
        self.emin = 1 - self.bias
        self.mmask = (1 << (p - 1)) - 1
        self.emask = (1 << ebits) - 1

    def pack(self, sign, efield, mant):
        efield = max(0, min(self.emask, efield))
        return (sign << (self.width - 1)) | (efield << (self.p - 1)) | (mant & self.mmask)

    def normal(self, sign, e, mant):
        """sign, unbiased exponent (clamped to the finite range), mantissa bits."""
        return self.pack(sign, max(1, min(self.emask - 1, e + self.bias)), mant)

    def efield(self, bits):
        return (bits >> (self.p - 1)) & self.emask

    def specials(self):
        f, m = self, self.mmask
        v = [0, f.pack(0, 0, 1), f.pack(0, 0, m), f.pack(0, 0, 0x12345 & m), f.pack(0, 1, 0),
             f.pack(0, 1, 1), f.normal(0, 0, 0), f.normal(0, 0, 1 << (f.p - 2)),
             f.normal(0, 0, m), f.normal(0, 1, 0), f.normal(0, -1, 0), f.normal(0, 1, 1 << (f.p - 2)),
             f.normal(0, 0, 1), f.pack(0, f.emask - 1, m), f.pack(0, f.emask - 1, m - 1),
             f.pack(0, f.emask, 0)]
        v += [x | (1 << (f.width - 1)) for x in v]
        nans = [f.pack(0, f.emask, 1 << (f.p - 2)), f.pack(0, f.emask, (1 << (f.p - 2)) | 0x123),
                f.pack(1, f.emask, 1 << (f.p - 2)), f.pack(0, f.emask, 1), f.pack(0, f.emask, m >> 1),
                f.pack(1, f.emask, 0x5)]
        return v + nans

    def small_specials(self):
        """A short list for cross products of 3 operands."""
        f = self
        return [0, 1 << (f.width - 1), f.pack(0, 0, 3), f.normal(0, 0, 0), f.normal(1, 1, 1 << (f.p - 2)),
                f.pack(0, f.emask - 1, f.mmask), f.pack(0, f.emask, 0), f.pack(1, f.emask, 0),
                f.pack(0, f.emask, 1 << (f.p - 2)), f.pack(0, f.emask, 1)]


F32, F64 = Fmt(24, 8), Fmt(53, 11)


def sparse_mant(fmt, rng):
    """A mantissa with only its top k bits random: products and sums of such values are often
    exact or exact ties."""
    k = rng.randint(0, fmt.p - 1)
    return (rng.getrandbits(k) << (fmt.p - 1 - k)) if k else 0


def rand_float(fmt, rng, emin=None, emax=None):
    r = rng.random()
    sign = rng.getrandbits(1)
    if r < 0.15:
        return rng.getrandbits(fmt.width)
    if emin is None:
        emin, emax = fmt.emin - fmt.p, fmt.emax
    e = rng.randint(emin, emax)
    mant = sparse_mant(fmt, rng) if r < 0.5 else rng.getrandbits(fmt.p - 1)
    if e < fmt.emin:  # subnormal: shift the significand down
        sig = ((1 << (fmt.p - 1)) | mant) >> (fmt.emin - e)
        return fmt.pack(sign, 0, sig)
    return fmt.normal(sign, e, mant)


def near(fmt, bits, rng, k=3):
    """bits moved by a few ulps (staying in the same sign half)."""
    sign = bits >> (fmt.width - 1)
    mag = bits & ((1 << (fmt.width - 1)) - 1)
    mag = max(0, min(fmt.pack(0, fmt.emask, 0), mag + rng.randint(-k, k)))
    return (sign << (fmt.width - 1)) | mag


def step(fmt, bits, k):
    """bits moved by exactly k ulps in magnitude (clamped to [0, inf])."""
    sign = bits >> (fmt.width - 1)
    mag = max(0, min(fmt.pack(0, fmt.emask, 0), (bits & ((1 << (fmt.width - 1)) - 1)) + k))
    return (sign << (fmt.width - 1)) | mag


def f64_bits(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]


def f64_val(b):
    return struct.unpack('<d', struct.pack('<Q', b))[0]


def f32_bits(x):
    try:
        return struct.unpack('<I', struct.pack('<f', x))[0]
    except OverflowError:
        return 0x7f800000 if x > 0 else 0xff800000


def f32_val(b):
    return struct.unpack('<f', struct.pack('<I', b))[0]


def to_bits(fmt, x):
    return f32_bits(x) if fmt is F32 else f64_bits(x)


def val(fmt, b):
    return f32_val(b) if fmt is F32 else f64_val(b)


# ---- operand generators per operation kind ----------------------------------------------

def gen_binary(fmt, op, rng, n, cross):
    out = []
    sp = fmt.specials()
    for a in sp:
        for b in sp:
            if rng.random() < cross:
                out.append((a, b, 0))
    for _ in range(n):
        a = rand_float(fmt, rng)
        kind = rng.random()
        if op in ('ADD', 'SUB') and kind < 0.5:
            # close exponents: cancellation, ties at exponent distance p, p+1
            d = rng.choice([0, 1, 2, fmt.p - 1, fmt.p, fmt.p + 1, fmt.p + 2, rng.randint(0, fmt.p + 4)])
            e = fmt.efield(a) - d
            b = fmt.pack(rng.getrandbits(1), max(e, 0), sparse_mant(fmt, rng) if rng.random() < 0.5
                         else rng.getrandbits(fmt.p - 1))
        elif op == 'MUL' and kind < 0.25:
            a, b = tie_product(fmt, rng)
        elif op in ('MUL', 'DIV') and kind < 0.6:
            # results near the underflow or overflow threshold
            ea = rng.randint(fmt.emin // 2, fmt.emax // 2)
            target = rng.choice([fmt.emin, fmt.emin - 1, fmt.emin - rng.randint(1, fmt.p + 2), fmt.emax,
                                 fmt.emax + 1])
            eb = target - ea if op == 'MUL' else ea - target
            mant_b = sparse_mant(fmt, rng) if rng.random() < 0.5 else rng.getrandbits(fmt.p - 1)
            a = fmt.normal(rng.getrandbits(1), ea, rng.getrandbits(fmt.p - 1))
            b = fmt.normal(rng.getrandbits(1), eb, mant_b)
            if rng.random() < 0.4:
                b = near_threshold_partner(fmt, op, a, target, rng)
        elif op in ('MIN', 'MAX', 'EQ', 'LT', 'LE') and kind < 0.4:
            b = rng.choice([a, a ^ (1 << (fmt.width - 1)), near(fmt, a, rng, 1), rng.choice(sp)])
        else:
            b = rand_float(fmt, rng)
        if rng.random() < 0.5:
            a, b = b, a
        out.append((a, b, 0))
    return out


def tie_product(fmt, rng):
    """Two odd significands whose product has p+1 bits: an exact rounding tie (or p+2 bits)."""
    la = rng.randint(2, fmt.p - 1)
    lb = fmt.p + rng.choice([1, 2]) - la + 1
    lb = max(1, min(fmt.p, lb))
    A = rng.getrandbits(la - 1) | (1 << (la - 1)) | 1
    B = rng.getrandbits(max(lb - 1, 0)) | (1 << (lb - 1)) | 1
    ea = rng.randint(-20, 20)
    if rng.random() < 0.3:  # put the product in the subnormal range
        ea = fmt.emin - rng.randint(-2, fmt.p)
    return (int_to_fmt(fmt, A, ea, rng.getrandbits(1)), int_to_fmt(fmt, B, 0, rng.getrandbits(1)))


def int_to_fmt(fmt, sig, e, sign):
    """sig (< 2^p) * 2^e scaled so the leading bit lands at exponent e."""
    n = sig.bit_length()
    mant = (sig << (fmt.p - n)) & fmt.mmask
    return fmt.normal(sign, e, mant)


def near_threshold_partner(fmt, op, a, target, rng):
    """b such that a*b (or a/b) lands a few ulps from 2^target."""
    va = abs(val(fmt, a))
    try:
        t = 2.0 ** target
        x = t / va if op == 'MUL' else va / t
    except (OverflowError, ZeroDivisionError):
        return a
    b = to_bits(fmt, x)
    if fmt.efield(b) in (0, fmt.emask):
        return a
    return near(fmt, b, rng, 4) | (rng.getrandbits(1) << (fmt.width - 1))


def gen_fma(fmt, rng, n, cross):
    out = []
    sp = fmt.small_specials()
    for a in sp:
        for b in sp:
            for c in sp:
                if rng.random() < cross:
                    out.append((a, b, c))
    for _ in range(n):
        kind = rng.random()
        a, b = rand_float(fmt, rng, -30, 30), rand_float(fmt, rng, -30, 30)
        if kind < 0.35:
            a, b = tie_product(fmt, rng)
        va, vb = val(fmt, a), val(fmt, b)
        prod = va * vb if va == va and vb == vb else 0.0
        if kind < 0.2 and prod != 0.0:  # tie product plus a value on a coarser grid: often a tie
            e = math.frexp(prod)[1] + rng.choice([-1, 0, 0, 1, 2])
            c = to_bits(fmt, rng.choice([1, -1]) * math.ldexp(1 + rng.getrandbits(6) / 64.0, e))
        elif kind < 0.5:  # cancellation: c close to -(a*b)
            c = near(fmt, to_bits(fmt, -prod), rng, 3)
        elif kind < 0.65:  # c far below a*b: sticky bits only
            c = to_bits(fmt, prod * 2.0 ** -rng.randint(fmt.p - 2, fmt.p + 3) * rng.choice([1, -1]))
            c = near(fmt, c, rng, 2)
        elif kind < 0.8:  # product near underflow
            ea = rng.randint(fmt.emin // 2, fmt.emin // 4)
            a = fmt.normal(rng.getrandbits(1), ea, rng.getrandbits(fmt.p - 1))
            b = fmt.normal(rng.getrandbits(1), fmt.emin - ea + rng.randint(-3, 1), rng.getrandbits(fmt.p - 1))
            c = rng.choice([0, 1 << (fmt.width - 1), rand_float(fmt, rng, fmt.emin - fmt.p, fmt.emin + 1)])
        else:
            c = rand_float(fmt, rng)
        out.append((a, b, c))
    return out


def gen_unary(fmt, rng, n, sqrt=False):
    out = [(x, 0, 0) for x in fmt.specials()]
    for _ in range(n):
        x = rand_float(fmt, rng)
        if sqrt and rng.random() < 0.3:  # exact squares and near-squares
            s = rng.getrandbits(fmt.p // 2) | 1
            x = near(fmt, int_to_fmt(fmt, s * s, rng.randint(-40, 40), 0), rng, 1)
        elif sqrt and rng.random() < 0.8:
            x &= (1 << (fmt.width - 1)) - 1
        out.append((x, 0, 0))
    return out


def gen_to_int(fmt, rng, n, keep):
    """Edge cases (each kept with probability `keep`) and n random values."""
    out = [(x, 0, 0) for x in fmt.specials()]
    bounds = [2.0 ** 31, 2.0 ** 32, 2.0 ** 63, 2.0 ** 64]
    for bnd in bounds:
        for s in (1, -1):
            for m in (1, 0.5, 2):
                b = to_bits(fmt, s * bnd * m)
                for k in range(-3, 4):
                    out.append((step(fmt, b, k), 0, 0))
    for h in range(-8, 9):  # halves and quarters: ties of the integer rounding
        for q in (0.25, 0.5, 0.75, 0.0):
            out.append((to_bits(fmt, h + q), 0, 0))
            out.append((to_bits(fmt, -(h + q)), 0, 0))
    for _ in range(n):
        e = rng.randint(-3, 66)
        x = fmt.normal(rng.getrandbits(1), e, sparse_mant(fmt, rng) if rng.random() < 0.5
                       else rng.getrandbits(fmt.p - 1))
        if rng.random() < 0.1:
            x = rand_float(fmt, rng)
        out.append((x, 0, 0))
    return [t for t in out[:-n] if rng.random() < keep] + out[-n:]


def gen_from_int(width, signed, p, rng, n):
    vals = [0, 1, 2, 3, (1 << width) - 1, (1 << (width - 1)) - 1, 1 << (width - 1), (1 << (width - 1)) + 1]
    for k in (p, p + 1, p + 2):
        if k < width:
            for d in (-3, -2, -1, 0, 1, 2, 3):
                vals.append(((1 << k) + d) % (1 << width))
                vals.append((-(1 << k) - d) % (1 << width))
    for _ in range(n):
        L = rng.randint(1, width)
        v = rng.getrandbits(L) | (1 << (L - 1))
        if rng.random() < 0.4:  # keep p+1 significant bits: often an exact tie
            sh = max(0, L - p - 1)
            v = (v >> sh) << sh
        if signed and rng.random() < 0.5:
            v = -v
        vals.append(v % (1 << width))
    return [(v, 0, 0) for v in vals]


def gen_f64_to_f32(rng, n):
    out = [(x, 0, 0) for x in F64.specials()]
    f32max = f64_bits(f32_val(0x7f7fffff))
    pts = [f32max, f64_bits(2.0 ** 128), f64_bits(2.0 ** -126), f64_bits(2.0 ** -149), f64_bits(2.0 ** -150),
           f64_bits(1.5 * 2.0 ** -149), f64_bits((2.0 - 2.0 ** -23) * 2.0 ** -127),
           f64_bits(2.0 ** 128 - 2.0 ** 103), f64_bits(2.0 ** -126 - 2.0 ** -151)]
    for pt in pts:
        for _ in range(6):
            x = pt + rng.choice([0, 1, -1, rng.randint(-(1 << 30), 1 << 30), 1 << 28, -(1 << 28)])
            out.append((x | (rng.getrandbits(1) << 63), 0, 0))
    for _ in range(n):
        r = rng.random()
        if r < 0.3:  # f32 value with a few extra bits, ties at bit 29 of the f64 mantissa
            x = f64_bits(f32_val(rand_float(F32, rng))) ^ (rng.choice([1 << 28, 3 << 27, 1, 1 << 29]))
        elif r < 0.6:
            x = rand_float(F64, rng, -160, 130)
        else:
            x = rand_float(F64, rng)
        out.append((x, 0, 0))
    return out


# ---- assembling the corpus --------------------------------------------------------------

ROUNDING = {'ADD', 'SUB', 'MUL', 'DIV', 'SQRT', 'FMADD', 'FMSUB', 'FNMSUB', 'FNMADD'}


def build_corpus(ops, scale, rng):
    rows = []

    def add(op, triples, rms):
        for rm in rms:
            for (a, b, c) in triples:
                rows.append((op, rm, a, b, c))

    n = max(2, round(12 * scale))
    cross = min(1.0, 0.08 * scale)
    for name in ops:
        m = re.match(r'(F32|F64)_(\w+)$', name)
        if m and m.group(2) in ROUNDING | {'MIN', 'MAX', 'EQ', 'LT', 'LE', 'CLASS'}:
            fmt = F32 if m.group(1) == 'F32' else F64
            kind = m.group(2)
            if kind in ('ADD', 'SUB', 'MUL', 'DIV'):
                add(name, gen_binary(fmt, kind, rng, n, cross), RMS)
            elif kind in ('MIN', 'MAX', 'EQ', 'LT', 'LE'):
                add(name, gen_binary(fmt, kind, rng, 4 * n, 2 * cross), [0])
            elif kind == 'SQRT':
                add(name, gen_unary(fmt, rng, 2 * n, sqrt=True), RMS)
            elif kind == 'CLASS':
                add(name, gen_unary(fmt, rng, 2 * n), [0])
            else:
                add(name, gen_fma(fmt, rng, n if kind == 'FMADD' else n // 3, cross), RMS)
            continue
        m = re.match(r'(F32|F64)_TO_([IU])(32|64)$', name)
        if m:
            fmt = F32 if m.group(1) == 'F32' else F64
            add(name, gen_to_int(fmt, rng, n, min(1.0, 0.25 * scale)), RMS)
            continue
        m = re.match(r'([IU])(32|64)_TO_(F32|F64)$', name)
        if m:
            p = 24 if m.group(3) == 'F32' else 53
            add(name, gen_from_int(int(m.group(2)), m.group(1) == 'I', p, rng, 2 * n), RMS)
            continue
        if name == 'F32_TO_F64':
            add(name, gen_unary(F32, rng, 2 * n), [0])
        elif name == 'F64_TO_F32':
            add(name, gen_f64_to_f32(rng, 2 * n), RMS)
        else:
            sys.exit('gen_fpu_vectors: no generator for ' + name)
    return rows


def op_names():
    with open(os.path.join(HERE, 'fpu_ops.h')) as f:
        text = f.read()
    body = text[text.index('#define FPU_OPS(X)'):text.index('#define FPU_OP_ENUM')]
    return re.findall(r'X\((\w+)\)', body)


def run_qemu(rows, tmp, timeout):
    with open(os.path.join(tmp, 'probe_inputs.h'), 'w') as f:
        f.write('static const ProbeVec probe_vecs[] = {\n')
        for (op, rm, a, b, c) in rows:
            f.write('{OP_%s,%d,%#x,%#x,%#x},\n' % (op, rm, a, b, c))
        f.write('};\n')
    elf = os.path.join(tmp, 'probe.elf')
    subprocess.run(['riscv64-linux-gnu-gcc', '-march=rv64gc', '-mabi=lp64d', '-O2', '-ffreestanding',
                    '-nostdlib', '-nostartfiles', '-static', '-mcmodel=medany', '-fno-pic', '-no-pie',
                    '-Wl,--build-id=none', '-Wl,--no-warn-rwx-segments',
                    '-T', os.path.join(ROOT, 'tests/isa/common/link.ld'), '-I', HERE, '-I', tmp,
                    os.path.join(HERE, 'probe_start.S'), os.path.join(HERE, 'fpu_probe.c'), '-o', elf],
                   check=True)
    out = subprocess.run(['timeout', '-k', '5', str(timeout), 'qemu-system-riscv64', '-M', 'virt',
                          '-bios', 'none', '-nographic', '-monitor', 'none', '-kernel', elf],
                         check=True, stdout=subprocess.PIPE).stdout.decode()
    res = re.findall(r'^([0-9a-f]{16}) ([0-9a-f]{2})$', out, re.M)
    if len(res) != len(rows):
        sys.exit('gen_fpu_vectors: expected %d results from QEMU, got %d' % (len(rows), len(res)))
    return [(int(r, 16), int(fl, 16)) for (r, fl) in res]


def main():
    for tool in ('riscv64-linux-gnu-gcc', 'qemu-system-riscv64'):
        if not shutil.which(tool):
            sys.exit('gen_fpu_vectors: %s not found (needed to produce the vectors)' % tool)
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests/unit/fpu_vectors.h'))
    ap.add_argument('--scale', type=float, default=0.5,
                    help='corpus size: 12*scale random vectors per op and mode, plus edge cases')
    ap.add_argument('--seed', type=int, default=20240601)
    ap.add_argument('--batch', type=int, default=100000)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = build_corpus(op_names(), args.scale, rng)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(0, len(rows), args.batch):
            chunk = rows[i:i + args.batch]
            results += run_qemu(chunk, tmp, 60 + len(chunk) // 500)
    qver = subprocess.run(['qemu-system-riscv64', '--version'], stdout=subprocess.PIPE,
                          check=True).stdout.decode().split('\n')[0]
    with open(args.out, 'w') as f:
        f.write('/*\n * FPU test vectors: expected results and fflags produced by\n * %s\n'
                ' * (-M virt) running tests/unit/gen/fpu_probe.c.  Generated by\n'
                ' * tests/unit/gen/gen_fpu_vectors.py --scale %g --seed %d: do not edit.\n'
                ' * Row: op, rounding mode, operands a b c, result (f32 in the low 32 bits,\n'
                ' * integers as the 64-bit register value), fflags.\n */\n'
                % (qver, args.scale, args.seed))
        f.write('/* clang-format off */\n')
        f.write('static const FpuVector fpu_vectors[] = {\n')
        for (op, rm, a, b, c), (r, fl) in zip(rows, results):
            if op.endswith('F32') or (op.startswith('F32_') and op[4:] in ROUNDING | {'MIN', 'MAX'}):
                r &= 0xffffffff
            f.write('{OP_%s,%d,%#x,%#x,%#x,%#x,%#x},\n' % (op, rm, a, b, c, r, fl))
        f.write('};\n/* clang-format on */\n')
    print('gen_fpu_vectors: %d vectors -> %s' % (len(rows), args.out))


if __name__ == '__main__':
    main()
