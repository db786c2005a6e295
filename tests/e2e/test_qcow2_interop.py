"""qcow2 interop with QEMU, both ways (issue 4).

Ours -> QEMU: images created by `hostel img create` (the cluster size x
v2/v3 matrix) or by our block layer (qio --create) and written by our block
layer through tests/block/qio: each cluster size, v2 and v3, backing chains
with relative names, zlib and zstd compressed clusters, extended L2, internal
snapshots, and random writes, zero-writes, discards and resizes.  `qemu-img
check` must find no error and no leak, and `qemu-img compare` must match a
raw reference file that got the same writes (qio's `random` writes both).
tests/e2e/test_img.py covers `hostel img`'s other commands against qemu-img.

QEMU -> ours: images made by `qemu-img create/convert/snapshot/resize` with
the same options and written by `qemu-io` at random; our block layer must
read them back byte for byte as QEMU does (QEMU's view is `qemu-img convert
-O raw`), find them clean as `qemu-img check` does, and then write to them
without QEMU finding anything wrong.
"""

import json
import os
import pathlib
import random
import shutil
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HOSTEL_BUILD", REPO / "build"))
QIO = BUILD / "tests" / "block" / "qio"
HOSTEL = pathlib.Path(os.environ.get("HOSTEL_BIN", BUILD / "hostel"))

SIZE = 16 << 20
OPS = 100  # random operations per pass


def ops_for(cluster):
    """Fewer operations on 512-byte clusters: every write there touches many L2 and
    refcount blocks, and both QEMU and we sync between their updates."""
    return OPS // 3 if cluster < 4096 else OPS

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None
                                or shutil.which("qemu-io") is None,
                                reason="qemu-img/qemu-io (qemu-utils) are not installed")


# ---------------------------------------------------------------- tools

def run(argv, cwd=None):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120,
                       cwd=cwd)
    assert r.returncode == 0, f"{' '.join(map(str, argv))} exited {r.returncode}:\n" \
                              f"{r.stdout[-2000:]}{r.stderr[-2000:]}"
    return r.stdout


def qio(image, *cmds, fmt=None, read_only=False, create=None, cwd=None):
    if not QIO.is_file():
        pytest.fail(f"{QIO} is not built")
    argv = [QIO] + (["-f", fmt] if fmt else []) + (["-r"] if read_only else [])
    argv += (["--create", create] if create else []) + [image, *cmds]
    return run(argv, cwd=cwd)


def hostel_img(*args, cwd=None):
    return run([HOSTEL, "img", *args], cwd=cwd)


def qemu_img(*args, cwd=None):
    return run(["qemu-img", *args], cwd=cwd)


def qemu_io(image, cmds, fmt="qcow2"):
    argv = ["qemu-io", "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    out = run(argv + [image])
    assert "failed" not in out, out[-2000:]


def create_opts(size=SIZE, **o):
    """qemu-img's -o list (and qio --create's) from keyword arguments."""
    return ",".join([f"size={size}"] + [f"{k}={v}" for k, v in o.items()])


def qemu_create(img, size=SIZE, **o):
    opts = ",".join(f"{k}={v}" for k, v in o.items())
    qemu_img("create", "-q", "-f", "qcow2", *(["-o", opts] if opts else []), img, str(size))


def qemu_check(image):
    """qemu-img check must exit 0 and report no corruption, leak or check error."""
    r = subprocess.run(["qemu-img", "check", "--output=json", str(image)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"qemu-img check {image}: exit {r.returncode}\n" \
                              f"{r.stdout}{r.stderr}"
    res = json.loads(r.stdout)
    for key in ("corruptions", "leaks", "check-errors"):
        assert res.get(key, 0) == 0, f"qemu-img check {image}: {res}"
    return res


def qemu_compare(image, ref, fmt="qcow2"):
    """qemu-img compare: same content (allocation may differ) and same size."""
    r = subprocess.run(["qemu-img", "compare", "-f", fmt, "-F", "raw", str(image),
                        str(ref)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"qemu-img compare {image} {ref}: {r.stdout}{r.stderr}"
    assert "size mismatch" not in r.stdout + r.stderr, f"{image} {ref}: {r.stdout}{r.stderr}"


def qemu_info(image, fmt="qcow2"):
    return json.loads(qemu_img("info", "--output=json", "-f", fmt, image))


def blank_raw(path, size=SIZE):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def resize_raw(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def to_raw(image, out, fmt="qcow2", snapshot=None):
    """QEMU's view of an image (or of one of its internal snapshots) as a raw file."""
    args = ["convert", "-f", fmt, "-O", "raw"]
    if snapshot:
        args += ["-l", f"snapshot.name={snapshot}"]
    qemu_img(*args, image, out)
    return out


def qemu_random_cmds(seed, size, count, cluster=65536, compressed=False):
    """qemu-io commands: pattern writes (some byte-granular), zero-writes, discards and,
    with compressed, whole-cluster compressed writes (QEMU compresses only into
    clusters never written, so those go to clusters no command touched yet)."""
    rnd = random.Random(seed)
    cmds, touched = [], set()
    for _ in range(count):
        kind = rnd.random()
        if compressed and kind >= 0.9:
            fresh = [c for c in range(size // cluster) if c not in touched]
            if fresh:
                c = rnd.choice(fresh)
                touched.add(c)
                cmds.append(f"write -c -P {rnd.randrange(1, 256)} {c * cluster} {cluster}")
            continue
        gran = 1 if rnd.random() < 0.2 else 512
        n = max(gran, rnd.randrange(1, rnd.choice([4096, 65536, 262144, 1 << 20])) // gran * gran)
        off = rnd.randrange(size - n + 1) // gran * gran
        touched.update(range(off // cluster, (off + n - 1) // cluster + 1))
        if kind < 0.6:
            cmds.append(f"write -P {rnd.randrange(1, 256)} {off} {n}")
        elif kind < 0.75:
            cmds.append(f"write -z {'-u ' if rnd.random() < 0.5 else ''}{off} {n}")
        else:
            cmds.append(f"discard {off} {n}")
    return cmds


def ours_agrees_with_qemu(image, work, dump=False):
    """Our layer reads QEMU's view byte for byte (with dump: also through a convert to
    raw of ours and `hostel img compare`), and our check finds the image clean as
    QEMU's does."""
    ref = to_raw(image, work / "view.raw")
    qemu_check(image)
    qio(image, f"compare {ref}", "check", read_only=True)
    if dump:
        dumped = work / "view-ours.raw"
        qio(image, f"dump {dumped}", read_only=True)
        assert dumped.read_bytes() == ref.read_bytes()
        hostel_img("compare", "-f", "qcow2", "-F", "raw", image, ref)
    return ref


def ours_writes_then_qemu_checks(image, ref, seed, compressed=False, ops=OPS):
    """Our random writes on top of an image; QEMU must agree with the reference."""
    qio(image, f"random {'-c ' if compressed else ''}{seed} {ops} {ref}")
    qemu_check(image)
    qemu_compare(image, ref)


@pytest.fixture
def work(tmp_path):
    """A directory for the images: in /dev/shm when there is one, because both QEMU and
    our driver sync between metadata updates and syncs dominate on a busy disk (the
    crash tests cover ordering; these cover the format)."""
    shm = pathlib.Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    d = pathlib.Path(tempfile.mkdtemp(prefix="qcow2-interop-", dir=shm))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


V2_V3 = [pytest.param("0.10", id="v2"), pytest.param("1.1", id="v3")]
CLUSTERS = [pytest.param(c, id=f"{c // 1024}k" if c >= 1024 else f"{c}b")
            for c in (512, 4096, 65536, 2 << 20)]


# ---------------------------------------------------------------- ours -> QEMU

@pytest.mark.parametrize("compat", V2_V3)
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_ours_random_writes(work, cluster, compat):
    """Made by `hostel img create`, written through our block layer."""
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    hostel_img("create", "-f", "qcow2", "-o", f"cluster_size={cluster},compat={compat}", img,
               str(SIZE))
    qio(img, f"random {cluster + len(compat)} {ops_for(cluster)} {ref}")
    info = qemu_info(img)
    assert info["cluster-size"] == cluster
    assert info["format-specific"]["data"]["compat"] == compat
    assert info["format-specific"]["data"]["refcount-bits"] == 16
    qemu_check(img)
    qemu_compare(img, ref)
    qio(img, "check", read_only=True)


@pytest.mark.parametrize("opts", [
    pytest.param(dict(extended_l2="on", cluster_size=65536), id="extl2-64k"),
    pytest.param(dict(extended_l2="on", cluster_size=2 << 20), id="extl2-2m"),
    pytest.param(dict(lazy_refcounts="on"), id="lazy-refcounts"),
])
def test_ours_v3_features(work, opts):
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    qio(img, f"random 7 {OPS} {ref}", create=create_opts(compat="1.1", **opts))
    data = qemu_info(img)["format-specific"]["data"]
    if "extended_l2" in opts:
        assert data["extended-l2"] is True
    else:
        assert data["lazy-refcounts"] is True
    qemu_check(img)
    qemu_compare(img, ref)


def test_ours_extended_l2_over_backing(work):
    """Subclusters: a 4 KiB write into a 2 MiB cluster of an overlay allocates one 64 KiB
    subcluster; the rest of the cluster still reads from the backing file."""
    base, top = work / "base.qcow2", work / "top.qcow2"
    ref = blank_raw(work / "ref.raw")
    qio(base, f"random 11 {OPS} {ref}", create=create_opts())
    qio(top, "write -P 0x5a 69632 4096",
        create=create_opts(cluster_size=2 << 20, extended_l2="on",
                           backing_file="base.qcow2", backing_fmt="qcow2"), cwd=work)
    with open(ref, "r+b") as f:
        f.seek(69632)
        f.write(b"\x5a" * 4096)
    extents = json.loads(qemu_img("map", "--output=json", top))
    # Extents this layer defines (data, or a hole in the file QEMU reports as zero), merged.
    mine = []
    for e in (e for e in extents if e["depth"] == 0):
        if mine and mine[-1][0] + mine[-1][1] == e["start"]:
            mine[-1] = (mine[-1][0], mine[-1][1] + e["length"])
        else:
            mine.append((e["start"], e["length"]))
    assert mine == [(65536, 65536)], extents
    qemu_check(top)
    qemu_compare(top, ref)
    qio(top, f"random 12 {OPS} {ref}")
    qemu_check(top)
    qemu_compare(top, ref)


def test_ours_refcount_width_other_than_16(work):
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    r = subprocess.run([QIO, "--create", create_opts(refcount_bits=8), img,
                        f"random 3 {OPS} {ref}"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        # The issue asks for 16-bit refcounts on write only: a refusal must be one line.
        assert len(r.stderr.strip().splitlines()) == 1 and "refcount" in r.stderr, r.stderr
        pytest.skip(f"our create refuses refcount_bits=8: {r.stderr.strip()}")
    assert qemu_info(img)["format-specific"]["data"]["refcount-bits"] == 8
    qemu_check(img)
    qemu_compare(img, ref)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("base_fmt", ["qcow2", "raw"])
def test_ours_backing_chain(work, depth, base_fmt):
    """A chain written layer by layer; relative backing names resolved against the
    image's directory (QEMU runs from another directory)."""
    d = work / "images"
    d.mkdir()
    ref = blank_raw(work / "ref.raw")
    names = [f"base.{base_fmt}"] + [f"layer{i}.qcow2" for i in range(1, depth)]
    qio(d / names[0], f"random 100 {OPS} {ref}", fmt=base_fmt,
        create=create_opts(cluster_size=4096) if base_fmt == "qcow2" else f"size={SIZE}")
    for i in range(1, depth):
        below = base_fmt if i == 1 else "qcow2"
        qio(d / names[i], f"random {100 + i} {OPS} {ref}", fmt="qcow2", cwd=d,
            create=create_opts(backing_file=names[i - 1], backing_fmt=below))
    top = d / names[-1]
    chain = json.loads(qemu_img("info", "--output=json", "--backing-chain", top, cwd=REPO))
    assert [pathlib.Path(c["filename"]).name for c in chain] == names[::-1]
    assert chain[0]["backing-filename"] == names[-2]
    for name in names[1:]:
        qemu_check(d / name)
    if base_fmt == "qcow2":
        qemu_check(d / names[0])
    qemu_compare(top, ref)


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
@pytest.mark.parametrize("cluster", [pytest.param(4096, id="4k"), pytest.param(65536, id="64k")])
def test_ours_compressed(work, ctype, cluster):
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    qio(img, f"write -c -P 0x3c 0 {4 * cluster}", create=create_opts(
        cluster_size=cluster, compression_type=ctype))
    with open(ref, "r+b") as f:
        f.write(b"\x3c" * (4 * cluster))
    qio(img, f"random -c 21 {2 * OPS} {ref}")
    data = qemu_info(img)["format-specific"]["data"]
    assert data.get("compression-type", "zlib") == ctype
    res = qemu_check(img)
    assert res.get("compressed-clusters", 0) > 0, res
    qemu_compare(img, ref)


@pytest.mark.parametrize("compat", V2_V3)
def test_ours_resize(work, compat):
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    qio(img, f"random 31 {OPS} {ref}", create=create_opts(compat=compat))
    for step, size in enumerate((SIZE + (8 << 20) + 4096, SIZE - (5 << 20), SIZE + (2 << 20))):
        qio(img, f"resize {size}")
        resize_raw(ref, size)
        qio(img, f"random {32 + step} {OPS} {ref}")
        assert qemu_info(img)["virtual-size"] == size
        qemu_check(img)
        qemu_compare(img, ref)


@pytest.mark.parametrize("compat", V2_V3)
def test_ours_snapshots(work, compat):
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    states = {}
    qio(img, f"random 41 {OPS} {ref}", create=create_opts(compat=compat, cluster_size=4096))
    for i, name in enumerate(("s1", "s2")):
        states[name] = shutil.copyfile(ref, work / f"{name}.raw")
        qio(img, f"snapshot -c {name}", f"random {42 + i} {OPS} {ref}")
    qemu_check(img)
    qemu_compare(img, ref)
    listed = [s["name"] for s in qemu_info(img).get("snapshots", [])]
    assert listed == ["s1", "s2"]
    for name, state in states.items():  # QEMU reads each snapshot as it was
        qemu_compare(to_raw(img, work / f"q-{name}.raw", snapshot=name), state, fmt="raw")
    # QEMU applies our snapshot...
    theirs = shutil.copyfile(img, work / "theirs.qcow2")
    qemu_img("snapshot", "-a", "s1", theirs)
    qemu_check(theirs)
    qemu_compare(theirs, states["s1"])
    # ...and we apply, write, delete: QEMU still finds everything in order.
    qio(img, "snapshot -a s2", f"compare {states['s2']}", "snapshot -d s1",
        f"random 45 {OPS} {states['s2']}")
    qemu_check(img)
    qemu_compare(img, states["s2"])
    assert [s["name"] for s in qemu_info(img).get("snapshots", [])] == ["s2"]


def test_ours_snapshot_keeps_size(work):
    """Applying a snapshot taken before a resize brings the old size back."""
    img, ref = work / "a.qcow2", blank_raw(work / "ref.raw")
    qio(img, f"random 51 {OPS} {ref}", "snapshot -c small", f"resize {SIZE * 2}",
        "write -P 0x77 0 64k", create=create_opts())
    qio(img, "snapshot -a small", f"compare {ref}")
    assert qemu_info(img)["virtual-size"] == SIZE
    qemu_check(img)
    qemu_compare(img, ref)


# ---------------------------------------------------------------- QEMU -> ours

@pytest.mark.parametrize("compat", V2_V3)
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_qemu_random_writes(work, cluster, compat):
    img = work / "q.qcow2"
    qemu_create(img, cluster_size=cluster, compat=compat)
    qemu_io(img, qemu_random_cmds(cluster + len(compat), SIZE, ops_for(cluster), cluster,
                                  compressed=cluster <= 65536))
    ref = ours_agrees_with_qemu(img, work, dump=True)
    ours_writes_then_qemu_checks(img, ref, 71, ops=ops_for(cluster))


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 32, 64])
def test_qemu_refcount_widths(work, bits):
    """Any refcount width reads; snapshots make refcounts above 1."""
    img = work / "q.qcow2"
    qemu_create(img, refcount_bits=bits, cluster_size=4096)
    qemu_io(img, qemu_random_cmds(bits, SIZE, OPS // 2, 4096))
    if bits > 1:
        qemu_img("snapshot", "-c", "s", img)
        qemu_io(img, qemu_random_cmds(bits + 100, SIZE, OPS // 2, 4096))
    ours_agrees_with_qemu(img, work)


def mixed_data(size, seed):
    """Compressible text, random bytes and zeroes, in 64 KiB pieces."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        kind = rnd.randrange(3)
        if kind == 0:
            out += (f"line {rnd.randrange(1000)} of some compressible text\n" * 2000).encode()[:65536]
        elif kind == 1:
            out += rnd.randbytes(65536)
        else:
            out += bytes(65536)
    return bytes(out[:size])


@pytest.mark.parametrize("ctype,cluster", [("zlib", 65536), ("zstd", 65536), ("zlib", 4096),
                                           ("zstd", 2 << 20)])
def test_qemu_convert_compressed(work, ctype, cluster):
    src = work / "src.raw"
    src.write_bytes(mixed_data(SIZE, cluster))
    img = work / "c.qcow2"
    qemu_img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
             f"cluster_size={cluster},compression_type={ctype}", src, img)
    assert qemu_check(img).get("compressed-clusters", 0) > 0
    qio(img, f"compare {src}", "check", read_only=True)
    # Overwrite parts of compressed clusters: QEMU must still agree.
    ours_writes_then_qemu_checks(img, shutil.copyfile(src, work / "ref.raw"), 81)


@pytest.mark.parametrize("compat", V2_V3)
def test_qemu_snapshots(work, compat):
    img = work / "q.qcow2"
    qemu_create(img, compat=compat, cluster_size=4096)
    for i, name in enumerate(("s1", "s2")):
        qemu_io(img, qemu_random_cmds(90 + i, SIZE, OPS // 2, 4096))
        qemu_img("snapshot", "-c", name, img)
    qemu_io(img, qemu_random_cmds(99, SIZE, OPS // 2, 4096))
    ours_agrees_with_qemu(img, work)
    listed = qio(img, "snapshot -l", read_only=True).split("\n")
    assert [line.split()[1] for line in listed if line] == ["s1", "s2"]
    for name in ("s1", "s2"):
        state = to_raw(img, work / f"{name}.raw", snapshot=name)
        mine = shutil.copyfile(img, work / f"mine-{name}.qcow2")
        qio(mine, f"snapshot -a {name}", f"compare {state}")
        qemu_check(mine)
        qemu_compare(mine, state)


@pytest.mark.parametrize("compat", V2_V3)
def test_qemu_resize(work, compat):
    img = work / "q.qcow2"
    qemu_create(img, compat=compat)
    qemu_io(img, qemu_random_cmds(111, SIZE, OPS // 2))
    qemu_img("resize", "-q", img, "+9M")
    qemu_io(img, qemu_random_cmds(112, SIZE + (9 << 20), OPS // 2))
    qemu_img("resize", "-q", "--shrink", img, str(SIZE - (3 << 20)))
    ref = ours_agrees_with_qemu(img, work)
    ours_writes_then_qemu_checks(img, ref, 113)


@pytest.mark.parametrize("base_fmt", ["qcow2", "raw"])
@pytest.mark.parametrize("compat", V2_V3)
def test_qemu_backing_chain(work, base_fmt, compat):
    d = work / "images"
    d.mkdir()
    names = [f"base.{base_fmt}", "mid.qcow2", "top.qcow2"]
    qemu_img("create", "-q", "-f", base_fmt, d / names[0], str(SIZE))
    qemu_io(d / names[0], qemu_random_cmds(120, SIZE, OPS // 2), fmt=base_fmt)
    for i in (1, 2):
        fmt = base_fmt if i == 1 else "qcow2"
        qemu_img("create", "-q", "-f", "qcow2", "-o", f"compat={compat}", "-b", names[i - 1],
                 "-F", fmt, names[i], cwd=d)
        qemu_io(d / names[i], qemu_random_cmds(120 + i, SIZE, OPS // 2))
    ref = to_raw(d / "top.qcow2", work / "view.raw")
    qio(d / "top.qcow2", f"compare {ref}", "info", read_only=True, cwd=REPO)
    ours_writes_then_qemu_checks(d / "top.qcow2", ref, 123)
    qemu_check(d / "mid.qcow2")


@pytest.mark.parametrize("cluster", [pytest.param(65536, id="64k"),
                                     pytest.param(2 << 20, id="2m")])
def test_qemu_extended_l2(work, cluster):
    """Subcluster bitmaps written by QEMU, alone and over a backing file."""
    base, top = work / "base.qcow2", work / "top.qcow2"
    qemu_create(base)
    qemu_io(base, qemu_random_cmds(130, SIZE, OPS // 2))
    qemu_img("create", "-q", "-f", "qcow2", "-o",
             f"cluster_size={cluster},extended_l2=on", "-b", "base.qcow2", "-F", "qcow2",
             "top.qcow2", cwd=work)
    small = [c for c in qemu_random_cmds(131, SIZE, OPS) if int(c.split()[-1]) <= 65536]
    qemu_io(top, small)
    ref = ours_agrees_with_qemu(top, work)
    ours_writes_then_qemu_checks(top, ref, 132)


def test_hostel_img_check_agrees(work):
    """`hostel img check --output=json` (when it exists) reports what qemu-img does."""
    img = work / "q.qcow2"
    qemu_create(img, cluster_size=4096)
    qemu_io(img, qemu_random_cmds(140, SIZE, OPS, 4096, compressed=True))
    r = subprocess.run([HOSTEL, "img", "check", "--output=json", img], capture_output=True,
                       text=True, timeout=60)
    if "not implemented" in r.stderr or "unknown" in r.stderr:
        pytest.skip(f"hostel img check --output=json: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    ours, theirs = json.loads(r.stdout), qemu_check(img)
    for key in ("check-errors", "image-end-offset", "total-clusters", "allocated-clusters",
                "compressed-clusters", "fragmented-clusters"):
        assert ours.get(key, 0) == theirs.get(key, 0), (key, ours, theirs)
