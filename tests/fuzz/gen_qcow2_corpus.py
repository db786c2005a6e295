#!/usr/bin/env python3
"""Write the seed corpus of fuzz_qcow2 (see the input format in fuzz_qcow2.c).

Images are made by qemu-img and qemu-io (QEMU is the conformance peer), in
many variants: v2 and v3, cluster sizes 512 B to 2 MiB, zlib and zstd
compressed clusters, extended L2 entries, internal snapshots, a backing
file, refcount widths 1 to 64, lazy refcounts left dirty, preallocated
metadata, a huge virtual size.  Then a few hand-broken images (fields out
of range, references past the end, the corrupt bit) so the fuzzer starts
next to the checks.

Each seed is kept small: trailing zeroes are dropped (reads past the end
of the image read zeroes) and images that are still large become sparse
inputs ("HSPZ" + {u64 offset, u16 length, bytes} records).
The corpus directory also holds inputs this script does not make:
fuzz-<sha1> (inputs the fuzzer found that reach code the seeds do not, kept
as regression inputs) and found-* (slow or crashing inputs, kept once fixed).
Usage: gen_qcow2_corpus.py [OUTDIR]   (default: tests/fuzz/corpus/qcow2)
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_PLAIN = 6 * 1024  # larger images are written sparse
L2_MASK = 0x00FFFFFFFFFFFE00


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def create(path, size, opts="", backing=None):
    cmd = ["qemu-img", "create", "-f", "qcow2", "-q"]
    if opts:
        cmd += ["-o", opts]
    if backing:
        cmd += ["-b", backing, "-F", "raw"]
    run(*cmd, path, str(size))


def io(path, *cmds, fmt="qcow2", may_abort=False):
    args = ["qemu-io", "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    r = subprocess.run(args + [path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0 and not may_abort:
        raise RuntimeError("qemu-io %s: %s" % (cmds, r.stderr.decode()))


def scribble(path, cs, compressed=False):
    """Data, zeroes and a discard spread over the first clusters (with large
    clusters only a sector of data per cluster, so that seeds stay small)."""
    d = min(cs, 1024)
    cmds = [
        "write -P 0x11 0 %d" % d,
        "write -P 0x22 %d %d" % (cs * 2 + cs // 2 - d // 2, d),
        "write -z %d %d" % (cs * 5, cs),
        "write -P 0x33 %d %d" % (cs * 7, 512),
        "discard %d %d" % (cs * 7, cs),
        "write -P 0x44 %d %d" % (cs * 9, d),
        "write -P 0x45 %d %d" % (cs * 10 + cs - 512, 512),
    ]
    if compressed:
        cmds += ["write -c -P 0x55 %d %d" % (cs * 12, cs),
                 "write -c -P 0x66 %d %d" % (cs * 13, cs)]
    io(path, *cmds)


def sparse(data):
    """HSPZ records for the non-zero runs of data (gaps under 64 bytes merged)."""
    out = bytearray(b"HSPZ")
    i, n = 0, len(data)
    while i < n:
        while i < n and data[i] == 0:
            i += 1
        if i >= n:
            break
        j, gap = i, 0
        while j < n and gap < 64 and j - i < 65535:
            gap = gap + 1 if data[j] == 0 else 0
            j += 1
        end = j - gap
        out += struct.pack("<QH", i, end - i) + data[i:end]
        i = j
    return bytes(out)


def encode(data):
    data = data.rstrip(b"\0")
    if len(data) <= MAX_PLAIN:
        return data
    sp = sparse(data)
    return sp if len(sp) < len(data) else data


def header(data):
    (magic, version, bfo, bfs, cbits, size, crypt, l1_size, l1_off, rt_off, rt_clusters,
     nb_snap, snap_off) = struct.unpack_from(">IIQIIQIIQQIIQ", data, 0)
    return dict(version=version, cluster_bits=cbits, l1_size=l1_size, l1_off=l1_off,
                rt_off=rt_off, nb_snap=nb_snap, snap_off=snap_off)


def l2_entry_offset(data, index=0):
    """File offset of the L2 entry `index` under L1 entry 0."""
    h = header(data)
    l1e = struct.unpack_from(">Q", data, h["l1_off"])[0]
    return (l1e & L2_MASK) + 8 * index


def broken(base):
    """Hand-broken variants of a small v3 image with data (name -> bytes)."""
    h = header(base)
    out = {}

    def put(name, fmt, off, val):
        b = bytearray(base)
        struct.pack_into(fmt, b, off, val)
        out[name] = bytes(b)

    put("bad-version", ">I", 4, 4)
    put("cluster-bits-8", ">I", 20, 8)
    put("cluster-bits-22", ">I", 20, 22)
    put("cluster-bits-63", ">I", 20, 63)
    put("size-2p63", ">Q", 24, 1 << 63)
    put("encrypted", ">I", 32, 1)
    put("l1-size-huge", ">I", 36, 0x7FFFFFFF)
    put("l1-offset-past-eof", ">Q", 40, 1 << 50)
    put("l1-offset-unaligned", ">Q", 40, h["l1_off"] + 8)
    put("l1-offset-zero", ">Q", 40, 0)
    put("refcount-table-unaligned", ">Q", 48, h["rt_off"] + 1)
    put("refcount-table-huge", ">I", 56, 0x7FFFFFFF)
    put("refcount-table-zero", ">I", 56, 0)
    put("snapshots-many", ">I", 60, 0x7FFFFFFF)
    put("snapshots-past-eof", ">Q", 64, 1 << 40)
    put("snapshots-at-header", ">I", 60, 3)
    put("backing-name-past-eof", ">Q", 8, 1 << 40)
    b = bytearray(base)
    struct.pack_into(">QI", b, 8, 0x1F0, 1000)  # a name running past the header cluster
    out["backing-name-long"] = bytes(b)
    put("corrupt-bit", ">Q", 72, 2)
    put("unknown-incompatible", ">Q", 72, 1 << 10)
    put("dirty-bit", ">Q", 72, 1)
    put("refcount-order-7", ">I", 96, 7)
    put("header-length-short", ">I", 100, 50)
    put("header-length-huge", ">I", 100, 0xFFFFFFF0)
    put("compression-unknown", ">I", 72, 1 << 3)
    l2 = l2_entry_offset(base)
    put("l2-entry-to-header", ">Q", l2, (1 << 63) | 0)
    put("l2-entry-past-eof", ">Q", l2, (1 << 63) | (1 << 45))
    put("l2-entry-unaligned", ">Q", l2, (1 << 63) | 0x10200)
    put("l2-entry-reserved-bits", ">Q", l2, (1 << 63) | 0x7E00000000000000 | 0x1000)
    put("l2-compressed-huge", ">Q", l2, (1 << 62) | 0x3FFFFFFFFFFFFFFF)
    put("l2-compressed-past-eof", ">Q", l2, (1 << 62) | 0x00FFFFFFFF000000)
    l1 = h["l1_off"]
    put("l1-entry-to-l1", ">Q", l1, (1 << 63) | l1)
    put("l1-entry-past-eof", ">Q", l1, (1 << 63) | (1 << 44))
    put("l1-entry-unaligned", ">Q", l1, (1 << 63) | (l1 + 0x40))
    put("refcount-entry-to-header", ">Q", h["rt_off"], 0)
    put("refcount-entry-past-eof", ">Q", h["rt_off"], 1 << 44)
    return out


def make_images(tmp):
    """Yield (name, path) of the qemu-made seed images."""
    raw = os.path.join(tmp, "base.raw")
    with open(raw, "wb") as f:
        f.write(bytes(range(256)) * 64)

    def img(name):
        return os.path.join(tmp, name + ".qcow2")

    variants = [
        ("v3-512-empty", 1 << 20, "cluster_size=512", False),
        ("v3-512-data", 1 << 20, "cluster_size=512", True),
        ("v2-512-data", 1 << 20, "cluster_size=512,compat=0.10", True),
        ("v3-1k-data", 1 << 20, "cluster_size=1024", True),
        ("v3-4k-data", 4 << 20, "cluster_size=4096", True),
        ("v2-4k-data", 4 << 20, "cluster_size=4096,compat=0.10", True),
        ("v3-64k-data", 16 << 20, "cluster_size=65536", True),
        ("v3-2m-data", 64 << 20, "cluster_size=2097152", True),
        ("extl2-16k-data", 4 << 20, "cluster_size=16384,extended_l2=on", True),
        ("extl2-64k-data", 16 << 20, "cluster_size=65536,extended_l2=on", True),
        ("metadata-prealloc-512", 64 << 10, "cluster_size=512,preallocation=metadata", False),
        ("huge-1p-2m", 1 << 50, "cluster_size=2097152", False),
        ("huge-1t-4k", 1 << 40, "cluster_size=4096", False),
    ]
    for bits in (1, 2, 4, 8, 32, 64):
        variants.append(("refcount%d-512-data" % bits, 1 << 20,
                         "cluster_size=512,refcount_bits=%d" % bits, True))
    for name, size, opts, data in variants:
        p = img(name)
        create(p, size, opts)
        if data:
            cs = int(opts.split("cluster_size=")[1].split(",")[0])
            scribble(p, cs)
        yield name, p

    for ctype in ("zlib", "zstd"):
        for cs in (512, 4096, 65536):
            p = img("compressed-%s-%d" % (ctype, cs))
            create(p, 4 << 20 if cs < 65536 else 16 << 20,
                   "cluster_size=%d,compression_type=%s" % (cs, ctype))
            scribble(p, cs, compressed=True)
            yield "compressed-%s-%d" % (ctype, cs), p

    p = img("v2-compressed-512")
    create(p, 1 << 20, "cluster_size=512,compat=0.10")
    scribble(p, 512, compressed=True)
    yield "v2-compressed-512", p

    p = img("backing-raw-512")
    create(p, 1 << 20, "cluster_size=512", backing="base.raw")
    io(p, "write -P 0x77 1024 1536")
    yield "backing-raw-512", p

    p = img("snapshots-512")
    create(p, 1 << 20, "cluster_size=512")
    scribble(p, 512)
    run("qemu-img", "snapshot", "-c", "first", p)
    io(p, "write -P 0x88 0 2048", "discard 4608 512")
    run("qemu-img", "snapshot", "-c", "second", p)
    io(p, "write -z 0 1024")
    yield "snapshots-512", p

    p = img("v2-snapshots-512")
    create(p, 1 << 20, "cluster_size=512,compat=0.10")
    scribble(p, 512)
    run("qemu-img", "snapshot", "-c", "only", p)
    io(p, "write -P 0x99 512 512")
    yield "v2-snapshots-512", p

    p = img("snapshot-deleted-512")
    create(p, 1 << 20, "cluster_size=512")
    scribble(p, 512)
    run("qemu-img", "snapshot", "-c", "a", p)
    run("qemu-img", "snapshot", "-c", "b", p)
    run("qemu-img", "snapshot", "-d", "a", p)
    yield "snapshot-deleted-512", p

    p = img("lazy-dirty-512")
    create(p, 1 << 20, "cluster_size=512,lazy_refcounts=on")
    io(p, "write -P 0xab 0 4096", "write -P 0xcd 8192 1024", "flush", "abort", may_abort=True)
    yield "lazy-dirty-512", p

    p = img("resized-512")
    create(p, 1 << 20, "cluster_size=512")
    scribble(p, 512)
    run("qemu-img", "resize", "-q", p, "3M")
    yield "resized-512", p


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "qcow2")
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="hostel-qcow2-corpus.")
    seeds = {}
    try:
        for name, path in make_images(tmp):
            with open(path, "rb") as f:
                seeds[name] = f.read()
        for name, data in broken(seeds["v3-512-data"]).items():
            seeds["broken-" + name] = data
    finally:
        shutil.rmtree(tmp)
    total = 0
    for name, data in sorted(seeds.items()):
        enc = encode(data)
        with open(os.path.join(out, name), "wb") as f:
            f.write(enc)
        total += len(enc)
    print("%d seeds, %d bytes in %s" % (len(seeds), total, out))


if __name__ == "__main__":
    main()
