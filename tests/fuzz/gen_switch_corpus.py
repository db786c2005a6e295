#!/usr/bin/env python3
"""Write the seed corpus of fuzz_switch (see the input format in fuzz_switch.c).

Each seed is a small scenario that reaches a part of the switch: learning
and unicast, trunks and tags (priority, native, QinQ), DHCP and ARP for the
address learning, busy and gone outputs with flushes, an echoing output
(nesting), ageing, reconfiguration and a frame of NET_MAX_FRAME bytes (the
target zero-pads it, so the seed stays small).
Usage: gen_switch_corpus.py OUTDIR
"""
import os
import struct
import sys

BCAST = b"\xff" * 6


def mac(n):
    return bytes([2, 0, 0, 0, 0, n])


def port(trunk=False, isolated=False, uplink=False, spoof=False, vlan=0, allowed=0,
         b3=0, b4=0, me=0, rate=False, flood=False):
    """6 option bytes: vlan is the access byte (1 + vlan % 4) or the native VLAN (mod 5)."""
    b0 = trunk | isolated << 1 | uplink << 2 | spoof << 3 | rate << 6 | flood << 7
    return bytes([b0, vlan, allowed, b3, b4, me])


def eth(dst, src, typ, payload=b"", tci=None):
    tag = b"" if tci is None else struct.pack(">HH", 0x8100, tci)
    return dst + src + tag + struct.pack(">H", typ) + payload


def frame(p, f, big_len=None):
    """A frame op; big_len: op 3, a frame of big_len bytes (even) of which f is the start."""
    if big_len is None:
        return bytes([0, p]) + struct.pack("<H", len(f)) + f
    return bytes([3, p]) + struct.pack("<H", big_len // 2) + f


def tick(op, steps):
    """An op byte with time advancing by steps x 7 ms."""
    return bytes([op | steps << 3])


def dhcp_ack(dst, src, chaddr, yiaddr):
    bootp = bytearray(240)
    bootp[0] = 2
    bootp[16:20] = bytes(yiaddr)
    bootp[28:34] = chaddr
    bootp[236:240] = b"\x63\x82\x53\x63"
    payload = bytes(bootp) + bytes([53, 1, 5, 255])
    udp = struct.pack(">HHHH", 67, 68, 8 + len(payload), 0) + payload
    ip = bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 255, 255, 255, 255])
    return eth(dst, src, 0x0800, ip + udp)


def arp(src, ip):
    return eth(BCAST, src, 0x0806, struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + src + bytes(ip)
               + b"\0" * 10)


def setup(*ports):
    return bytes([len(ports) - 2]) + b"".join(ports)


ACC = lambda v=0, **k: port(vlan=v, **k)

SEEDS = {
    "learn-unicast": setup(ACC(), ACC(), ACC())
    + frame(0, eth(mac(2), mac(1), 0x88b5, b"x" * 50))
    + frame(1, eth(mac(1), mac(2), 0x88b5, b"y" * 50))
    + frame(2, eth(BCAST, mac(3), 0x88b5, b"z" * 50)),
    "trunk-tags": setup(port(trunk=True, vlan=1, allowed=0b0110), ACC(1), ACC(2),
                        port(trunk=True, vlan=2, allowed=0b0011))
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"a" * 46, tci=0xa002))
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"a" * 46, tci=0x0000))
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"a" * 46, tci=0x0001))
    + frame(1, eth(BCAST, mac(5), 0x88b5, b"b" * 50))
    + frame(3, eth(BCAST, mac(6), 0x88b5, b"c" * 50)),
    "qinq": setup(port(trunk=True, vlan=1, allowed=0b0111), ACC(0),
                  port(trunk=True, vlan=0, allowed=0b0010))
    + frame(0, eth(BCAST, mac(1), 0x8100, b"\x00\x03\x08\x00" + b"q" * 42, tci=0x0001))
    + frame(0, eth(BCAST, mac(1), 0x8100, b"\x00\x03\x08\x00" + b"q" * 42, tci=0x0002))
    + frame(1, eth(BCAST, mac(2), 0x88a8, b"\x00\x03\x08\x00" + b"q" * 46))
    + frame(1, eth(BCAST, mac(2), 0x8100, b"\x00\x03\x08\x00" + b"q" * 46)),
    "addresses": setup(ACC(), ACC(spoof=True, me=9), port(uplink=True))
    + frame(0, arp(mac(1), [10, 0, 0, 5]))
    + frame(2, dhcp_ack(BCAST, mac(4), mac(9), [10, 0, 0, 15]))
    + frame(2, dhcp_ack(mac(1), mac(4), mac(1), [10, 0, 0, 16])),
    "isolation": setup(ACC(isolated=True), ACC(isolated=True), port(uplink=True), ACC())
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"i" * 50))
    + frame(2, eth(BCAST, mac(3), 0x88b5, b"u" * 50))
    + frame(3, eth(mac(1), mac(4), 0x88b5, b"n" * 50)),
    "queues": setup(ACC(), ACC(b4=2), ACC())
    + bytes([5, 0x11])  # port 1 busy
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"1" * 50))
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"2" * 50))
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"3" * 50))
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"4" * 50))
    + bytes([4, 1])
    + bytes([5, 0x22])  # port 2 gone
    + frame(0, eth(BCAST, mac(1), 0x88b5, b"5" * 50)),
    "echo-loop": setup(ACC(), ACC(me=7), ACC(me=8))
    + bytes([5, 0x31, 5, 0x32])
    + frame(0, eth(BCAST, mac(1), 0x0806, b"e" * 50)),
    "limits": setup(ACC(rate=True, flood=True, b3=1), ACC(b3=2))
    + b"".join(frame(0, eth(BCAST, mac(1), 0x88b5, b"r" * 1000)) for _ in range(4))
    + tick(6, 31) + frame(0, eth(BCAST, mac(1), 0x88b5, b"r" * 60)),
    "reconfigure": setup(ACC(), port(trunk=True, vlan=1, allowed=1), ACC(1))
    + frame(0, eth(mac(2), mac(1), 0x88b5, b"s" * 50))
    + bytes([7, 0]) + port(trunk=True, vlan=0, allowed=0b1111)
    + bytes([7, 1]) + ACC(2)
    + frame(1, eth(mac(1), mac(2), 0x88b5, b"t" * 50))
    + tick(6, 31) + tick(6, 31),
    "big": setup(ACC(), port(trunk=True, vlan=0, allowed=1), ACC())
    + frame(0, eth(BCAST, mac(1), 0x0800), big_len=65550),  # zero-padded by the target
    "malformed": setup(ACC(), ACC())
    + frame(0, b"\xff" * 13)
    + frame(0, eth(BCAST, mac(1), 0x8100)[:16])
    + frame(0, eth(BCAST, BCAST, 0x0800, b"m" * 50))
    + frame(0, eth(BCAST, b"\0" * 6, 0x0800, b"m" * 50)),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
