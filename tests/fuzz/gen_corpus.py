#!/usr/bin/env python3
"""Write the seed corpus of fuzz_virtq (see the input format in fuzz_virtq.c).

Each seed is a small, readable scenario: valid direct and indirect chains,
event-index traffic, and the classic hostile cases, so that the fuzzer
starts from inputs that reach deep into the walker.
Usage: gen_corpus.py OUTDIR
"""
import os
import struct
import sys

NEXT, WRITE, INDIRECT = 1, 2, 4
DESC, AVAIL, USED, ITAB, BUF = 0x000, 0x100, 0x200, 0x300, 0x1000
RAM = 0x4000


def seed(num, flags, script, descs=(), heads=(), itab=(), avail_idx=None,
         addrs=(DESC, AVAIL, USED)):
    ram = bytearray(RAM)
    for i, (addr, length, fl, nxt) in enumerate(descs):
        struct.pack_into("<QIHH", ram, DESC + 16 * i, addr, length, fl, nxt)
    for i, (addr, length, fl, nxt) in enumerate(itab):
        struct.pack_into("<QIHH", ram, ITAB + 16 * i, addr, length, fl, nxt)
    for i, h in enumerate(heads):
        struct.pack_into("<H", ram, AVAIL + 4 + 2 * (i % max(num, 1)), h)
    struct.pack_into("<H", ram, AVAIL + 2, len(heads) if avail_idx is None else avail_idx)
    # Trim trailing zeroes: the target zero-pads the RAM image.
    image = bytes(ram).rstrip(b"\0")
    hdr = struct.pack("<HBBiii", num, flags, len(script), *addrs)
    return hdr + bytes(script) + image


POP = lambda n=1, arg=0: ((arg * 8 + n - 1) << 2) | 0
ADV = lambda n: (n << 2) | 1
IRQ = 2
RESET = 3

SEEDS = {
    "simple": seed(8, 0, [POP(), IRQ],
                   descs=[(0x80000000 + BUF, 16, NEXT, 1), (0x80000000 + BUF + 16, 512, WRITE, 0)],
                   heads=[0]),
    "two_chains": seed(8, 2, [POP(2, 3), IRQ, ADV(1), POP(), IRQ],
                       descs=[(0x80000000 + BUF, 16, NEXT, 1), (0x80000000 + BUF + 64, 1, WRITE, 0),
                              (0x80000000 + BUF + 128, 100, 0, 0)],
                       heads=[0, 2, 2]),
    "indirect": seed(8, 1, [POP(), IRQ],
                     descs=[(0x80000000 + ITAB, 48, INDIRECT, 0)],
                     itab=[(0x80000000 + BUF, 16, NEXT, 1),
                           (0x80000000 + BUF + 32, 512, NEXT | WRITE, 2),
                           (0x80000000 + BUF + 600, 1, WRITE, 0)],
                     heads=[0]),
    "direct_then_indirect": seed(16, 3, [POP(), IRQ, RESET, POP()],
                                 descs=[(0x80000000 + BUF, 16, NEXT, 1),
                                        (0x80000000 + ITAB, 32, INDIRECT, 0)],
                                 itab=[(0x80000000 + BUF + 32, 64, WRITE | NEXT, 1),
                                       (0x80000000 + BUF + 96, 1, WRITE, 0)],
                                 heads=[0]),
    "loop": seed(8, 0, [POP()],
                 descs=[(0x80000000 + BUF, 8, NEXT, 1), (0x80000000 + BUF, 8, NEXT, 0)], heads=[0]),
    "outside_ram": seed(8, 0, [POP()], descs=[(0x1000, 8, 0, 0)], heads=[0]),
    "nested_indirect": seed(8, 1, [POP()], descs=[(0x80000000 + ITAB, 16, INDIRECT, 0)],
                            itab=[(0x80000000 + ITAB, 16, INDIRECT, 0)], heads=[0]),
    "bad_size": seed(6, 0, [POP()], heads=[0]),
    "avail_jump": seed(4, 2, [POP(), ADV(60), POP()], descs=[(0x80000000 + BUF, 8, WRITE, 0)],
                       heads=[0], avail_idx=1),
    "misaligned_used": seed(8, 0, [POP()], heads=[0], addrs=(DESC, AVAIL, USED + 2)),
}


def main():
    default = os.path.join(os.path.dirname(__file__), "corpus", "virtq")
    out = sys.argv[1] if len(sys.argv) > 1 else default
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
