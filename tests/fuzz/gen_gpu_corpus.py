#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_gpu.c: scripts of a driver's actions (see its header).

Usage: gen_gpu_corpus.py OUT_DIR
  modeset   what Linux's virtio-gpu driver does: display info, EDID, a 64x48 resource with
            its backing, scanout, transfer, flush (fenced), a cursor, a front end reading the
            screen, a resize asked by the front end
  hostile   a huge resource, backing past RAM, rectangles outside the resource, a scanout
            of another id, unref of the scanout's resource, commands of unknown types
  reset     a modeset cut by a reset, then done again
  raw       descriptors with addresses and lengths outside RAM, indirect and looping flags
"""

import pathlib
import struct
import sys

TYPES = ["display", "create", "unref", "scanout", "flush", "transfer", "attach", "detach",
         "capset_info", "capset", "edid", "cursor", "3d", "bogus"]


def ctrl(kind, body=b"", resp=64, fence=False):
    return (bytes([0 | (8 if fence else 0), TYPES.index(kind), len(body)]) + body +
            bytes([(resp + 7) // 8]))


def rect(x, y, w, h):
    return struct.pack("<IIII", x, y, w, h)


def attach(res, entries):
    out = bytes([2, res, len(entries)])
    for off64, length in entries:
        out += struct.pack("<HH", off64, length // 4)
    return out


def cursor(res, x, y, move=False):
    return bytes([1 | (8 if move else 0)]) + struct.pack("<IIIIIIII", 0, x, y, 0, res, 0, 0, 0)


FRONT = bytes([3])


def resize(w, h):
    return bytes([4]) + struct.pack("<HH", w, h)


def modeset():
    return (ctrl("display", resp=408) + ctrl("edid", struct.pack("<II", 0, 0), resp=1056) +
            ctrl("create", struct.pack("<IIII", 1, 1, 64, 48)) +
            attach(1, [(0, 64 * 48 * 4)]) +
            ctrl("scanout", rect(0, 0, 64, 48) + struct.pack("<II", 0, 1)) +
            ctrl("transfer", rect(0, 0, 64, 48) + struct.pack("<QII", 0, 1, 0)) +
            ctrl("flush", rect(0, 0, 64, 48) + struct.pack("<II", 1, 0), fence=True) +
            ctrl("create", struct.pack("<IIII", 2, 1, 64, 64)) +
            attach(2, [(256, 64 * 64 * 4)]) +
            ctrl("transfer", rect(0, 0, 64, 64) + struct.pack("<QII", 0, 2, 0)) +
            cursor(2, 10, 10) + cursor(2, 20, 30, move=True) + FRONT + resize(80, 60) +
            ctrl("display", resp=408) + FRONT)


def main():
    d = pathlib.Path(sys.argv[1])
    d.mkdir(parents=True, exist_ok=True)
    seeds = {
        "modeset": modeset(),
        "hostile": (ctrl("create", struct.pack("<IIII", 3, 1, 4096, 4096)) +
                    ctrl("create", struct.pack("<IIII", 4, 99, 16, 16)) +
                    ctrl("create", struct.pack("<IIII", 0, 1, 16, 16)) +
                    ctrl("create", struct.pack("<IIII", 5, 1, 16, 16)) +
                    attach(5, [(0xffff, 0xfffc), (0, 8), (12000, 4096)]) +
                    ctrl("transfer", rect(8, 8, 16, 16) + struct.pack("<QII", 1 << 40, 5, 0)) +
                    ctrl("scanout", rect(0, 0, 17, 16) + struct.pack("<II", 0, 5)) +
                    ctrl("scanout", rect(0, 0, 16, 16) + struct.pack("<II", 7, 5)) +
                    ctrl("scanout", rect(0, 0, 16, 16) + struct.pack("<II", 0, 5)) +
                    ctrl("unref", struct.pack("<II", 5, 0)) + FRONT +
                    ctrl("flush", rect(0, 0, 0xffffffff, 0xffffffff) + struct.pack("<II", 5, 0)) +
                    ctrl("detach", struct.pack("<II", 9, 0)) + ctrl("3d") + ctrl("bogus") +
                    cursor(77, 5000, 5000) + resize(0, 0) + resize(65535, 65535) +
                    ctrl("display", resp=8) + FRONT),
        "reset": modeset()[:40] + bytes([6]) + modeset(),
        "raw": (modeset() +
                bytes([7, 0]) + struct.pack("<QIHH", 0xfffffffffffff000, 0x1000, 2, 0) +
                bytes([7, 1]) + struct.pack("<QIHH", 0x80008000, 16, 4, 0) +
                bytes([7, 0]) + struct.pack("<QIHH", 0x80008000, 0xffffffff, 1, 0) +
                bytes([5, 0x14]) + struct.pack("<I", 0) + FRONT),
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)
        print(f"{d / name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
