#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_migrate.c from a real migration stream.

Usage: gen_migrate_corpus.py STREAM OUT_DIR [ZSTD_STREAM]

STREAM is what a source VMM sent (`hostel migrate VM unix:SOCK` to a socket
that records it: a guest with a disk, a user-mode network card and the input
devices).  Its RAM is megabytes of `ram-pages` sections, far beyond what a
fuzzer mutates well, so every seed keeps the header, the configuration and
the device sections and only a few pages, with the CRC made right again:
  small.mig      two ram-pages sections of two pages each, every device section
  zero-page.mig  a section whose second entry is a zero page (bit 63, no bytes)
  override.mig   the same page sent twice (a later round overriding round 0)
  no-pages.mig   no ram-pages at all (an all-zero RAM)
  config.mig     the header and the configuration only, then the end
  zstd.mig       from ZSTD_STREAM (the same, sent with --compress zstd): its two
                 smallest compressed ram-pages sections as they were sent
"""

import pathlib
import struct
import sys
import zlib

from gen_state_corpus import section, sections

PAGE = 4096
ZERO = 1 << 63


def pages_of(payload):
    """(ram size, [(page, bytes or None)]) of a ram-pages payload."""
    ram, count = struct.unpack_from("<QI", payload, 0)
    off, out = 16, []
    for _ in range(count):
        (page,) = struct.unpack_from("<Q", payload, off)
        off += 8
        if page & ZERO:
            out.append((page & ~ZERO, None))
        else:
            out.append((page, payload[off:off + PAGE]))
            off += PAGE
    return ram, out


def ram_pages(ram, pages):
    body = b"".join(struct.pack("<Q", p | (ZERO if b is None else 0)) + (b or b"")
                    for p, b in pages)
    return section("ram-pages", 0, 1, 0, struct.pack("<QII", ram, len(pages), 0) + body)


def stream(header, secs):
    """The sections after the header, then the end: the CRC-32 of every byte before it."""
    body = header + b"".join(secs) + section("end", 0, 1, 0, b"\0" * 4)[:-4]
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def main():
    data = pathlib.Path(sys.argv[1]).read_bytes()
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    header, secs = sections(data)
    config = [section(*s) for s in secs if s[0] == "config"]
    devices = [section(*s) for s in secs if s[0] not in ("config", "ram-pages", "end")]
    rp = [pages_of(s[4]) for s in secs if s[0] == "ram-pages"]
    ram = rp[0][0]
    first, second = rp[0][1][:2], rp[-1][1][:2]
    seeds = {
        "small.mig": config + [ram_pages(ram, first), ram_pages(ram, second)] + devices,
        "zero-page.mig": config + [ram_pages(ram, [first[0], (second[0][0], None)])] + devices,
        "override.mig": config + [ram_pages(ram, first[:1]),
                                  ram_pages(ram, [(first[0][0], second[0][1])])] + devices,
        "no-pages.mig": config + devices,
        "config.mig": config,
    }
    if len(sys.argv) > 3:
        zheader, zsecs = sections(pathlib.Path(sys.argv[3]).read_bytes())
        packed = sorted((s for s in zsecs if s[0] == "ram-pages" and s[2] == 2),
                        key=lambda s: len(s[4]))[:2]
        seeds["zstd.mig"] = config + [section(*s) for s in packed] + devices
    for name, secs_out in seeds.items():
        (out / name).write_bytes(stream(header, secs_out))


if __name__ == "__main__":
    main()
