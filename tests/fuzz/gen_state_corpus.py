#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_state.c from a real compressed state file.

Usage: gen_state_corpus.py STATE_FILE OUT_DIR

STATE_FILE is a zstd state file (`hostel ctl VM save '{"file": F, "compress":
true}'` of a guest with disks, a network card, several harts).  Its RAM runs
are megabytes, far beyond what a fuzzer mutates well, so every seed keeps
the file's header and device sections and only a few small runs (or none),
with the CRC made right again:
  full.state      every section, the two smallest RAM runs
  no-runs.state   every section, RAM with no run (all zero)
  no-net.state    without the network backend's section
  harts.state     the header, config, machine and hart sections only

The v1-*.state seeds were made the same way before the configuration
section became a VmConfig (version 2): they keep the version-1 reader
(one "net" card) under the fuzzer.
"""

import pathlib
import struct
import sys
import zlib


def sections(data):
    """[(tag, instance, version, flags, payload)] of a stream (header skipped)."""
    hdr_len = struct.unpack_from("<I", data, 12)[0]
    off, out = hdr_len, []
    while off < len(data):
        n = data[off]
        tag = data[off + 1:off + 1 + n].decode()
        inst, ver, flags, length = struct.unpack_from("<IHHQ", data, off + 1 + n)
        pay = off + 1 + n + 16
        out.append((tag, inst, ver, flags, data[pay:pay + length]))
        off = pay + length
        if tag == "end":
            break
    return data[:hdr_len], out


def section(tag, inst, ver, flags, payload):
    t = tag.encode()
    return bytes([len(t)]) + t + struct.pack("<IHHQ", inst, ver, flags, len(payload)) + payload


def small_runs(payload, keep):
    """The zstd RAM payload with only its `keep` smallest runs, in page order."""
    head, off, runs = payload[:16], 16, []
    while off + 16 <= len(payload):
        first, pages, zlen = struct.unpack_from("<QII", payload, off)
        runs.append((zlen, first, payload[off:off + 16 + zlen]))
        off += 16 + zlen
    chosen = sorted(sorted(runs)[:keep], key=lambda r: r[1])
    return head + b"".join(r[2] for r in chosen)


def stream(header, secs):
    body = header + b"".join(section(*s) for s in secs if s[0] != "end")
    body += b"\x03end" + struct.pack("<IHHQ", 0, 1, 0, 4)  # its payload: the CRC
    return body + struct.pack("<I", zlib.crc32(body))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = pathlib.Path(sys.argv[1]).read_bytes()
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    header, secs = sections(data)
    ram = next(s for s in secs if s[0] == "ram")
    if struct.unpack_from("<I", ram[4], 0)[0] == 0:
        sys.exit("gen_state_corpus: the state file must be compressed (zstd RAM)")

    def with_ram(keep):
        return [(t, i, v, f, small_runs(p, keep) if t == "ram" else p) for t, i, v, f, p in secs]

    seeds = {
        "full.state": with_ram(2),
        "no-runs.state": with_ram(0),
        "no-net.state": [s for s in with_ram(1) if s[0] != "slirp"],
        "harts.state": [s for s in with_ram(0) if s[0] in ("config", "machine", "hart", "ram")],
    }
    for name, secs_ in seeds.items():
        (out / name).write_bytes(stream(header, secs_))
        print(f"{out / name}: {(out / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
