#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_console.c: scripts of a driver's actions (see its header).

Usage: gen_console_corpus.py OUT_DIR
  handshake   control buffers, DEVICE_READY, PORT_READY and PORT_OPEN of port 1, then data
              both ways on it (what Linux does)
  hostile     short, unknown and out-of-range control messages, then a flood of PORT_READY
              with no control buffers
  reset       a handshake cut by a reset, then done again
  raw         descriptors with addresses and lengths outside RAM, indirect and looping flags
"""

import pathlib
import struct
import sys


def ctrl(id_, event, value, length=8):
    return bytes([0, length]) + struct.pack("<IHH", id_, event, value)


def ctrl_bufs(n, size=64):
    return bytes([1, size]) * n


def out(port, data):
    return bytes([2 | port << 3, len(data)]) + data


def rxbuf(port, size):
    return bytes([3 | port << 3, size])


def host(port, n):
    return bytes([4 | port << 3, n])


def handshake():
    return (ctrl_bufs(8) + ctrl(0, 0, 1) + ctrl(1, 3, 1) + ctrl(1, 6, 1) + rxbuf(1, 64) +
            out(1, b'{"return": {}}\n') + host(1, 40) + rxbuf(1, 16) + host(1, 40))


def main():
    d = pathlib.Path(sys.argv[1])
    d.mkdir(parents=True, exist_ok=True)
    seeds = {
        "handshake": handshake(),
        "hostile": (ctrl_bufs(2) + ctrl(1, 6, 1) + ctrl(0, 0, 1, 5) + ctrl(0, 0, 1) +
                    ctrl(7, 3, 1) + ctrl(0xffffffff, 6, 1) + ctrl(1, 1, 1) + ctrl(1, 0xffff, 1) +
                    ctrl(1, 3, 1) * 20 + out(0, b"no port 0") + host(0, 10)),
        "reset": handshake()[:30] + bytes([6, 0]) + handshake(),
        "raw": (handshake() +
                bytes([7, 4]) + struct.pack("<QIHH", 0xfffffffffffff000, 0x1000, 2, 0) +
                bytes([7, 3]) + struct.pack("<QIHH", 0x80018000, 8, 4, 0) +
                bytes([7, 5]) + struct.pack("<QIHH", 0x80018000, 0xffffffff, 1, 0) +
                bytes([5, 0x14]) + struct.pack("<I", 0)),  # a register write (queue select)
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)
        print(f"{d / name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
