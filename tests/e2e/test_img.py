"""End-to-end tests of `hostel img`, with qemu-img as the conformance peer.

Each command's normal use is checked against what qemu-img says about the
same image (info, map, check and measure JSON, compare messages), and images
hostel writes are checked with `qemu-img check` / `qemu-img compare`.  Bad
commands (missing file, wrong format, shrinking without --shrink, a missing
backing file, an image another process is writing) must print one line on
stderr, exit non-zero and leave the image's bytes as they were.

The hostel binary comes from $HOSTEL_BIN (default: build/hostel).  The tests
need qemu-img and qemu-io (Debian qemu-utils) and are skipped without them.
"""
import fcntl
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")
TIMEOUT = 60
MiB = 1 << 20

pytestmark = pytest.mark.skipif(QEMU_IMG is None or QEMU_IO is None,
                                reason="qemu-img / qemu-io (qemu-utils) not installed")


@pytest.fixture(scope="session", autouse=True)
def hostel_exists():
    if not os.access(HOSTEL, os.X_OK):
        pytest.fail(f"hostel binary not found at {HOSTEL}: build it or set HOSTEL_BIN")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run every test in its own directory so relative backing names resolve there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def img(*args, check=False):
    r = subprocess.run([HOSTEL, "img", *map(str, args)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    if check:
        assert r.returncode == 0, f"hostel img {' '.join(map(str, args))}: {r.stderr}"
    return r


def img_bytes(*args):
    """Run hostel img keeping stdout's bytes ("\r" of the progress bar included)."""
    r = subprocess.run([HOSTEL, "img", *map(str, args)], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def qimg(*args, check=True):
    r = subprocess.run([QEMU_IMG, *map(str, args)], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    if check:
        assert r.returncode == 0, f"qemu-img {' '.join(map(str, args))}: {r.stderr}"
    return r


def qio(path, *cmds, fmt="qcow2"):
    argv = [QEMU_IO, "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    r = subprocess.run(argv + [str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr


def jimg(*args):
    r = img(*args, check=True)
    return json.loads(r.stdout)


def jqemu(*args):
    return json.loads(qimg(*args).stdout)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def one_error_line(r, *fragments):
    """A failed command printed exactly one 'hostel img: ...' line with every fragment."""
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {r.stderr!r}"
    assert lines[0].startswith("hostel img: "), lines[0]
    for f in fragments:
        assert f in lines[0], f"{f!r} not in {lines[0]!r}"
    return lines[0]


def qemu_clean(path):
    r = qimg("check", "--output=json", path, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res.get("corruptions", 0) == 0 and res.get("leaks", 0) == 0, res


def qemu_same(a, b):
    r = qimg("compare", a, b, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def drop_compressed(entries):
    """qemu-img 7.2 map has no "compressed" field (added in 8.0)."""
    return [{k: v for k, v in e.items() if k != "compressed"} for e in entries]


def make_qcow2(path, size="64M", *opts, writes=()):
    qimg("create", "-q", "-f", "qcow2", *(["-o", ",".join(opts)] if opts else []), path, size)
    if writes:
        qio(path, *writes)
    return path


# A mix of data, zero clusters and holes: 2 data clusters, a zero cluster, one more data.
WRITES = ("write -P 0x11 0 128k", "write -z 1M 64k", "write -P 0x33 2M 64k")


# ------------------------------------------------------------------ help and usage

COMMANDS = ["create", "info", "check", "convert", "resize", "snapshot", "commit", "rebase",
            "compare", "map", "measure"]


def test_help_lists_every_command():
    r = img("--help", check=True)
    for c in COMMANDS:
        assert f"  {c} " in r.stdout
    assert img().returncode != 0


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help(cmd):
    r = img(cmd, "--help", check=True)
    assert r.stdout.startswith(f"usage: hostel img {cmd}")
    assert img("help", cmd, check=True).stdout == r.stdout


def test_usage_errors_are_one_line():
    one_error_line(img("frobnicate"), "unknown command 'frobnicate'")
    one_error_line(img("info", "--bogus", "x"), "unknown option '--bogus'", "info --help")
    one_error_line(img("info", "-f"), "'-f' needs an argument")
    one_error_line(img("info"), "expected one image file name")
    one_error_line(img("check", "-r", "some", "x"), "-r must be 'leaks' or 'all'")
    one_error_line(img("info", "--output=xml", "x"), "--output must be human or json")
    one_error_line(img("snapshot", "x"), "one of -l")
    one_error_line(img("rebase", "x"), "-b NEWBACKING is required")
    one_error_line(img("measure"), "--size N or one file name")


# ------------------------------------------------------------------ create and sizes

@pytest.mark.parametrize("size", ["1000", "1.5k", "0x1000", "1M", "07", "1b", "0", "2G", "0.5k"])
def test_create_sizes_as_qemu(size):
    img("create", "-q", "-f", "raw", "ours.raw", size, check=True)
    qimg("create", "-q", "-f", "raw", "theirs.raw", size)
    assert os.path.getsize("ours.raw") == os.path.getsize("theirs.raw")


@pytest.mark.parametrize("size", ["1.5", "abc", "1KiB", "9E", "-5", "1k "])
def test_create_bad_size(size):
    one_error_line(img("create", "-f", "raw", "bad.raw", "--", size), "size")
    assert not os.path.exists("bad.raw")


def test_create_prints_formatting_line():
    r = img("create", "-f", "qcow2", "a.qcow2", "1G", check=True)
    assert r.stdout.startswith("Formatting 'a.qcow2', fmt=qcow2 cluster_size=65536")
    assert "size=1073741824" in r.stdout
    assert img("create", "-q", "-f", "raw", "b.raw", "1M", check=True).stdout == ""


@pytest.mark.parametrize("opts,expect", [
    ("", {"cluster-size": 65536, "compat": "1.1", "refcount-bits": 16}),
    ("cluster_size=4k", {"cluster-size": 4096}),
    ("cluster_size=2M", {"cluster-size": 2 * MiB}),
    ("cluster_size=512", {"cluster-size": 512}),
    ("compat=0.10", {"compat": "0.10"}),
    ("compat=v3,lazy_refcounts=on", {"compat": "1.1", "lazy-refcounts": True}),
    ("extended_l2=on", {"extended-l2": True}),
    ("cluster_size=128k,extended_l2=on", {"extended-l2": True, "cluster-size": 131072}),
    ("compression_type=zstd", {"compression-type": "zstd"}),
    ("preallocation=metadata", {}),
    ("refcount_bits=16", {"refcount-bits": 16}),
])
def test_create_qcow2_options(opts, expect):
    args = ["-o", opts] if opts else []
    img("create", "-q", "-f", "qcow2", *args, "a.qcow2", "32M", check=True)
    info = jqemu("info", "--output=json", "a.qcow2")
    data = info["format-specific"]["data"]
    merged = {**data, "cluster-size": info["cluster-size"]}
    assert info["virtual-size"] == 32 * MiB
    for k, v in expect.items():
        assert merged[k] == v, (k, merged)
    qemu_clean("a.qcow2")


@pytest.mark.parametrize("opts,fragment", [
    ("cluster_size=1000", "power of two"),
    ("cluster_size=4M", "power of two"),
    ("extended_l2=on,cluster_size=4k", "16384"),
    ("compat=0.10,lazy_refcounts=on", "compat=1.1"),
    ("compat=2.0", "compatibility level"),
    ("refcount_bits=3", "power of two"),
    ("compression_type=lz4", "compression_type"),
    ("preallocation=sometimes", "preallocation"),
    ("bogus=1", "bogus"),
])
def test_create_bad_options(opts, fragment):
    one_error_line(img("create", "-f", "qcow2", "-o", opts, "a.qcow2", "1M"), fragment)
    assert not os.path.exists("a.qcow2")


def test_create_raw_rejects_qcow2_options():
    one_error_line(img("create", "-f", "raw", "-o", "cluster_size=4k", "a.raw", "1M"),
                   "cluster_size")
    one_error_line(img("create", "-f", "raw", "-b", "x", "a.raw", "1M"), "backing")
    one_error_line(img("create", "-f", "vmdk", "a.img", "1M"), "unknown image format 'vmdk'")


def test_create_options_help():
    r = img("create", "-f", "qcow2", "-o", "help", check=True)
    for k in ("cluster_size", "extended_l2", "compression_type", "preallocation", "compat",
              "lazy_refcounts", "refcount_bits", "backing_file", "backing_fmt"):
        assert k in r.stdout


def test_create_with_backing_takes_its_size():
    make_qcow2("base.qcow2", "48M")
    img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "top.qcow2", check=True)
    info = jqemu("info", "--output=json", "top.qcow2")
    assert info["virtual-size"] == 48 * MiB
    assert info["backing-filename"] == "base.qcow2"
    assert info["backing-filename-format"] == "qcow2"  # probed, as -F was not given
    qemu_clean("top.qcow2")


def test_create_missing_backing():
    one_error_line(img("create", "-f", "qcow2", "-b", "nonexist.qcow2", "top.qcow2"),
                   "nonexist.qcow2")
    assert not os.path.exists("top.qcow2")
    # -u: the backing file may not exist yet, but then the size must be given
    one_error_line(img("create", "-f", "qcow2", "-u", "-b", "nonexist.qcow2", "top.qcow2"),
                   "size")
    img("create", "-q", "-f", "qcow2", "-u", "-b", "nonexist.qcow2", "-F", "qcow2",
        "top.qcow2", "1M", check=True)
    assert jqemu("info", "--output=json", "-U", "top.qcow2")["backing-filename"] == \
        "nonexist.qcow2"


# ------------------------------------------------------------------ info

def test_info_raw_matches_qemu():
    qimg("create", "-q", "-f", "raw", "r.raw", "10M")
    qio("r.raw", "write -P 1 1M 64k", fmt="raw")
    assert jimg("info", "--output=json", "r.raw") == jqemu("info", "--output=json", "r.raw")
    assert img("info", "r.raw", check=True).stdout == qimg("info", "-f", "raw", "r.raw").stdout


def test_info_json_escapes_file_names():
    name = 'we"ird\\name\ttab.raw'
    qimg("create", "-q", "-f", "raw", name, "1M")
    info = jimg("info", "--output=json", name)
    assert info["filename"] == name
    assert info == jqemu("info", "--output=json", "-f", "raw", name)


def test_info_qcow2_matches_qemu():
    make_qcow2("a.qcow2", "1G", writes=WRITES)
    ours = jimg("info", "--json", "a.qcow2")
    assert ours == jqemu("info", "--output=json", "a.qcow2")
    assert img("info", "a.qcow2", check=True).stdout == qimg("info", "a.qcow2").stdout


@pytest.mark.parametrize("opts", ["compat=0.10", "cluster_size=4k,refcount_bits=64",
                                  "extended_l2=on,compression_type=zstd,lazy_refcounts=on"])
def test_info_qcow2_variants_match_qemu(opts):
    make_qcow2("a.qcow2", "16M", opts)
    assert jimg("info", "--output=json", "a.qcow2") == jqemu("info", "--output=json", "a.qcow2")
    assert img("info", "a.qcow2", check=True).stdout == qimg("info", "a.qcow2").stdout


def test_info_backing_chain_matches_qemu():
    os.mkdir("sub")
    make_qcow2("sub/base.qcow2", "32M", writes=("write -P 1 0 64k",))
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "sub/mid.qcow2")
    qimg("create", "-q", "-f", "qcow2", "-b", "sub/mid.qcow2", "-F", "qcow2", "top.qcow2")
    ours = jimg("info", "--output=json", "--backing-chain", "top.qcow2")
    assert ours == jqemu("info", "--output=json", "--backing-chain", "top.qcow2")
    assert [i["filename"] for i in ours] == ["top.qcow2", "sub/mid.qcow2", "sub/base.qcow2"]
    assert img("info", "--backing-chain", "top.qcow2", check=True).stdout == \
        qimg("info", "--backing-chain", "top.qcow2").stdout


def test_info_snapshots_match_qemu():
    make_qcow2("a.qcow2", "16M", writes=("write -P 1 0 64k",))
    qimg("snapshot", "-c", "first", "a.qcow2")
    qio("a.qcow2", "write -P 2 0 64k")
    qimg("snapshot", "-c", "second", "a.qcow2")
    ours = jimg("info", "--output=json", "a.qcow2")
    assert ours == jqemu("info", "--output=json", "a.qcow2")
    assert [s["name"] for s in ours["snapshots"]] == ["first", "second"]
    assert img("info", "a.qcow2", check=True).stdout == qimg("info", "a.qcow2").stdout


def test_info_does_not_need_the_backing_file():
    make_qcow2("base.qcow2", "8M")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2")
    os.unlink("base.qcow2")
    assert jimg("info", "--output=json", "top.qcow2")["backing-filename"] == "base.qcow2"
    one_error_line(img("map", "top.qcow2"), "base.qcow2")


def test_info_backing_loop_is_an_error():
    make_qcow2("a.qcow2", "8M")
    make_qcow2("b.qcow2", "8M")
    qimg("rebase", "-u", "-f", "qcow2", "-F", "qcow2", "-b", "b.qcow2", "a.qcow2")
    qimg("rebase", "-u", "-f", "qcow2", "-F", "qcow2", "-b", "a.qcow2", "b.qcow2")
    r = img("info", "--backing-chain", "a.qcow2")
    assert r.returncode != 0
    assert "loop" in r.stderr


# ------------------------------------------------------------------ map

def test_map_raw_matches_qemu():
    qimg("create", "-q", "-f", "raw", "r.raw", "10M")
    qio("r.raw", "write -P 1 1M 64k", "write -P 2 4M 1M", fmt="raw")
    ours = drop_compressed(jimg("map", "--output=json", "r.raw"))
    assert ours == jqemu("map", "--output=json", "-f", "raw", "r.raw")


def test_map_qcow2_chain_matches_qemu():
    make_qcow2("base.qcow2", "64M", writes=WRITES)
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2")
    qio("top.qcow2", "write -P 5 64k 64k", "write -z 2M 64k", "write -P 6 8M 192k")
    for f in ("base.qcow2", "top.qcow2"):
        ours = jimg("map", "--json", f)
        assert drop_compressed(ours) == jqemu("map", "--output=json", f)
        assert all(e["compressed"] is False for e in ours)
        assert img("map", f, check=True).stdout == qimg("map", f).stdout


def test_map_compressed_clusters():
    qimg("create", "-q", "-f", "raw", "src.raw", "4M")
    qio("src.raw", "write -P 7 0 256k", fmt="raw")
    qimg("convert", "-c", "-O", "qcow2", "src.raw", "c.qcow2")
    ours = jimg("map", "--output=json", "c.qcow2")
    assert drop_compressed(ours) == jqemu("map", "--output=json", "c.qcow2")
    assert ours[0]["compressed"] is True and "offset" not in ours[0]


# ------------------------------------------------------------------ check

def qcow2_header(path):
    h = Path(path).read_bytes()[:104]
    cluster_bits, = struct.unpack(">I", h[20:24])
    l1_offset, = struct.unpack(">Q", h[40:48])
    rt_offset, = struct.unpack(">Q", h[48:56])
    return 1 << cluster_bits, l1_offset, rt_offset


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def make_leak(path):
    """Clear the L2 entry of guest cluster 0: its data cluster stays counted (a leak)."""
    _, l1, _ = qcow2_header(path)
    raw = Path(path).read_bytes()
    l2 = struct.unpack(">Q", raw[l1:l1 + 8])[0] & 0x00fffffffffffe00
    patch(path, l2, bytes(8))


def make_corruption(path):
    """Set the refcount of guest cluster 0's data cluster to 0 while it is in use."""
    cs, l1, rt = qcow2_header(path)
    raw = Path(path).read_bytes()
    l2 = struct.unpack(">Q", raw[l1:l1 + 8])[0] & 0x00fffffffffffe00
    data = struct.unpack(">Q", raw[l2:l2 + 8])[0] & 0x00fffffffffffe00
    block = struct.unpack(">Q", raw[rt:rt + 8])[0]
    patch(path, block + 2 * (data // cs), bytes(2))


def check_both(path, *args):
    ours = img("check", "--output=json", *args, path)
    theirs = qimg("check", "--output=json", path, check=False)
    return ours, theirs


def test_check_clean_matches_qemu():
    make_qcow2("a.qcow2", "64M", writes=WRITES)
    ours, theirs = check_both("a.qcow2")
    assert ours.returncode == theirs.returncode == 0
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    r = img("check", "a.qcow2", check=True)
    assert "No errors were found on the image." in r.stdout
    assert r.stdout == qimg("check", "a.qcow2").stdout


def test_check_leaks_match_qemu_and_repair():
    make_qcow2("a.qcow2", "64M", writes=WRITES)
    make_leak("a.qcow2")
    ours, theirs = check_both("a.qcow2")
    assert ours.returncode == theirs.returncode == 3
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    human = img("check", "a.qcow2")
    assert human.returncode == 3
    assert "1 leaked clusters were found on the image." in human.stdout
    assert "This means waste of disk space, but no harm to data." in human.stdout
    assert human.stdout == qimg("check", "a.qcow2", check=False).stdout
    one_error_line(human, "a.qcow2", "leaked")  # what was found first, on stderr
    shutil.copy("a.qcow2", "theirs.qcow2")
    fixed = img("check", "-r", "leaks", "a.qcow2")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "The following inconsistencies were found and repaired" in fixed.stdout
    assert fixed.stdout == qimg("check", "-r", "leaks", "theirs.qcow2").stdout
    qemu_clean("a.qcow2")


def test_check_corruption_matches_qemu():
    make_qcow2("a.qcow2", "64M", writes=WRITES)
    make_corruption("a.qcow2")
    before = sha("a.qcow2")
    ours, theirs = check_both("a.qcow2")
    assert ours.returncode == theirs.returncode == 2
    o, t = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert o["corruptions"] == t["corruptions"] > 0
    human = img("check", "a.qcow2")
    assert human.returncode == 2
    assert "errors were found on the image." in human.stdout
    assert human.stdout == qimg("check", "a.qcow2", check=False).stdout
    assert sha("a.qcow2") == before  # a check without -r writes nothing
    shutil.copy("a.qcow2", "theirs.qcow2")
    fixed = img("check", "-r", "all", "a.qcow2")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert fixed.stdout == qimg("check", "-r", "all", "theirs.qcow2").stdout
    qemu_clean("a.qcow2")


def test_check_repair_opens_an_image_marked_corrupt():
    make_qcow2("m.qcow2", "16M", writes=WRITES)
    with open("m.qcow2", "r+b") as f:  # incompatible feature bit 1: corrupt
        f.seek(72)
        bits = int.from_bytes(f.read(8), "big") | 2
        f.seek(72)
        f.write(bits.to_bytes(8, "big"))
    assert jqemu("info", "--output=json", "m.qcow2")["format-specific"]["data"]["corrupt"] is True
    fixed = img("check", "-r", "all", "m.qcow2")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert jqemu("info", "--output=json", "m.qcow2")["format-specific"]["data"]["corrupt"] is False
    qemu_clean("m.qcow2")


def test_check_raw_is_not_supported():
    qimg("create", "-q", "-f", "raw", "r.raw", "1M")
    r = img("check", "r.raw")
    assert r.returncode == 63 == qimg("check", "-f", "raw", "r.raw", check=False).returncode
    one_error_line(r, "do not support checks")


# ------------------------------------------------------------------ measure

@pytest.mark.parametrize("size", ["0", "1M", "1.5G", "123456789", "4T"])
@pytest.mark.parametrize("opts", ["", "cluster_size=512", "cluster_size=2M", "refcount_bits=1",
                                  "cluster_size=4k,refcount_bits=64", "extended_l2=on",
                                  "preallocation=full,cluster_size=4k,refcount_bits=8"])
def test_measure_size_matches_qemu(size, opts):
    args = ["--output=json", "--size", size, "-O", "qcow2"] + (["-o", opts] if opts else [])
    theirs = qimg("measure", *args, check=False)
    ours = img("measure", *args)
    assert ours.returncode == theirs.returncode
    if theirs.returncode == 0:
        assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    else:
        one_error_line(ours, "too large")


def test_measure_files_match_qemu():
    qimg("create", "-q", "-f", "raw", "r.raw", "40M")
    qio("r.raw", "write -P 1 1M 100k", "write -P 2 20M 3M", "write -P 3 39M 1k", fmt="raw")
    make_qcow2("a.qcow2", "64M", writes=WRITES)
    for f in ("r.raw", "a.qcow2"):
        for o in ([], ["-o", "cluster_size=4k"], ["-o", "cluster_size=1M"]):
            args = ["--output=json", "-O", "qcow2", *o, f]
            assert jimg("measure", *args) == jqemu("measure", *args)
        assert jimg("measure", "--output=json", f) == jqemu("measure", "--output=json", f)
    r = img("measure", "--size", "1G", "-O", "qcow2", check=True)
    assert r.stdout == qimg("measure", "--size", "1G", "-O", "qcow2").stdout


# ------------------------------------------------------------------ convert

def raw_with_data(path, size="16M"):
    qimg("create", "-q", "-f", "raw", path, size)
    writes = ["write -P 0xaa 0 64k", "write -P 0xbb 5M 1M", "write -P 0xcc 15M 4k"]
    qio(path, *(writes if size == "16M" else writes[:1]), fmt="raw")
    return path


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


def test_convert_raw_to_qcow2_is_thin_and_identical():
    raw_with_data("src.raw")
    img("convert", "-O", "qcow2", "src.raw", "dst.qcow2", check=True)
    qemu_clean("dst.qcow2")
    qemu_same("src.raw", "dst.qcow2")
    data = [e for e in jqemu("map", "--output=json", "dst.qcow2") if e["data"]]
    assert sum(e["length"] for e in data) == 64 * 1024 + MiB + 64 * 1024  # whole clusters
    assert allocated_bytes("dst.qcow2") < 2 * MiB


def test_convert_qcow2_chain_to_raw():
    make_qcow2("base.qcow2", "16M", writes=WRITES)
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2")
    qio("top.qcow2", "write -P 9 64k 64k", "write -z 0 4k")
    img("convert", "-O", "raw", "top.qcow2", "out.raw", check=True)
    qemu_same("top.qcow2", "out.raw")
    assert os.path.getsize("out.raw") == 16 * MiB
    assert allocated_bytes("out.raw") < 2 * MiB


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
def test_convert_compressed(ctype):
    raw_with_data("src.raw")
    img("convert", "-c", "-O", "qcow2", "-o", f"compression_type={ctype}", "src.raw",
        "c.qcow2", check=True)
    qemu_clean("c.qcow2")
    qemu_same("src.raw", "c.qcow2")
    info = jqemu("info", "--output=json", "c.qcow2")
    assert info["format-specific"]["data"]["compression-type"] == ctype
    m = jqemu("map", "--output=json", "c.qcow2")
    assert any(e["data"] and "offset" not in e for e in m)  # compressed: no plain offset
    assert allocated_bytes("c.qcow2") < MiB


def test_convert_compressed_partial_last_cluster():
    Path("odd.raw").write_bytes(os.urandom(1000000))
    img("convert", "-c", "-O", "qcow2", "odd.raw", "odd.qcow2", check=True)
    qemu_clean("odd.qcow2")
    qemu_same("odd.raw", "odd.qcow2")


def test_readers_share_an_image():
    """Commands that only read open images read-only: a reader's shared lock lets them in."""
    chain()
    fd = hold_lock("top.qcow2", write=False)
    try:
        img("info", "top.qcow2", check=True)
        img("map", "top.qcow2", check=True)
        img("compare", "top.qcow2", "expect.raw", check=True)
        img("measure", "-O", "qcow2", "top.qcow2", check=True)
        img("convert", "-O", "raw", "top.qcow2", "copy.raw", check=True)
        img("snapshot", "-l", "top.qcow2", check=True)
        one_error_line(img("resize", "top.qcow2", "8M"), "in use by another process")
    finally:
        os.close(fd)


def test_convert_with_backing_writes_only_differences():
    raw_with_data("base.raw")
    shutil.copy("base.raw", "new.raw")
    qio("new.raw", "write -P 0x42 8M 64k", fmt="raw")
    img("convert", "-O", "qcow2", "-B", "base.raw", "-F", "raw", "new.raw", "ov.qcow2",
        check=True)
    qemu_clean("ov.qcow2")
    qemu_same("new.raw", "ov.qcow2")
    own = [e for e in jqemu("map", "--output=json", "ov.qcow2") if e["depth"] == 0 and e["data"]]
    assert sum(e["length"] for e in own) == 64 * 1024


def test_convert_concatenates_and_shows_progress():
    raw_with_data("a.raw", "2M")
    raw_with_data("b.raw", "16M")
    out = img_bytes("convert", "-p", "-O", "raw", "a.raw", "b.raw", "ab.raw")
    assert out.startswith(b"    (0.00/100%)\r") and out.endswith(b"    (100.00/100%)\r\n")
    ab = Path("ab.raw").read_bytes()
    assert ab == Path("a.raw").read_bytes() + Path("b.raw").read_bytes()


def test_convert_existing_target_n():
    raw_with_data("src.raw")
    qimg("create", "-q", "-f", "qcow2", "dst.qcow2", "16M")
    qio("dst.qcow2", "write -P 0x55 1M 2M")  # must be overwritten with the source's zeroes
    img("convert", "-n", "-O", "qcow2", "src.raw", "dst.qcow2", check=True)
    qemu_same("src.raw", "dst.qcow2")
    qemu_clean("dst.qcow2")
    qimg("create", "-q", "-f", "qcow2", "small.qcow2", "1M")
    one_error_line(img("convert", "-n", "-O", "qcow2", "src.raw", "small.qcow2"), "smaller")


def test_convert_compressed_raw_target_refused():
    raw_with_data("src.raw")
    one_error_line(img("convert", "-c", "-O", "raw", "src.raw", "dst.raw"), "compression")
    assert not os.path.exists("dst.raw")


# ------------------------------------------------------------------ resize

@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_resize(fmt):
    qimg("create", "-q", "-f", fmt, "a.img", "16M")
    qio("a.img", "write -P 3 15M 1M", fmt=fmt)
    r = img("resize", "a.img", "+16M", check=True)
    assert r.stdout == "Image resized.\n"
    assert jqemu("info", "--output=json", "a.img")["virtual-size"] == 32 * MiB
    img("resize", "-q", "a.img", "40M", check=True)
    img("resize", "--shrink", "-f", fmt, "a.img", "-8M", check=True)
    assert jqemu("info", "--output=json", "a.img")["virtual-size"] == 32 * MiB
    if fmt == "qcow2":
        qemu_clean("a.img")
    qimg("create", "-q", "-f", "raw", "ref.raw", "32M")
    qio("ref.raw", "write -P 3 15M 1M", fmt="raw")
    qemu_same("a.img", "ref.raw")


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_shrink_needs_flag_and_leaves_image(fmt):
    qimg("create", "-q", "-f", fmt, "a.img", "16M")
    before = sha("a.img")
    one_error_line(img("resize", "a.img", "8M"), "--shrink")
    one_error_line(img("resize", "a.img", "-1M"), "--shrink")
    one_error_line(img("resize", "--shrink", "a.img", "-1G"), "positive")
    one_error_line(img("resize", "a.img", "lots"), "size")
    assert sha("a.img") == before


# ------------------------------------------------------------------ snapshot

def test_snapshot_create_list_apply_delete():
    make_qcow2("a.qcow2", "16M", writes=("write -P 1 0 64k",))
    img("snapshot", "-c", "one", "a.qcow2", check=True)
    qio("a.qcow2", "write -P 2 0 64k")
    img("snapshot", "-c", "two", "a.qcow2", check=True)
    qemu_clean("a.qcow2")
    listing = img("snapshot", "-l", "a.qcow2", check=True).stdout
    assert listing == qimg("snapshot", "-l", "a.qcow2").stdout
    assert listing.startswith("Snapshot list:\nID        TAG ")
    theirs = jqemu("info", "--output=json", "a.qcow2")["snapshots"]
    assert [s["name"] for s in theirs] == ["one", "two"]
    img("snapshot", "-a", "one", "a.qcow2", check=True)
    qimg("create", "-q", "-f", "raw", "ref.raw", "16M")
    qio("ref.raw", "write -P 1 0 64k", fmt="raw")
    qemu_same("a.qcow2", "ref.raw")
    img("snapshot", "-d", "two", "a.qcow2", check=True)
    img("snapshot", "-d", "one", "a.qcow2", check=True)
    assert img("snapshot", "-l", "a.qcow2", check=True).stdout == ""
    qemu_clean("a.qcow2")


def test_snapshot_errors_leave_image():
    make_qcow2("a.qcow2", "16M", writes=("write -P 1 0 64k",))
    before = sha("a.qcow2")
    one_error_line(img("snapshot", "-a", "nosuch", "a.qcow2"), "nosuch")
    one_error_line(img("snapshot", "-d", "nosuch", "a.qcow2"), "nosuch")
    assert sha("a.qcow2") == before
    qimg("create", "-q", "-f", "raw", "r.raw", "1M")
    one_error_line(img("snapshot", "-c", "x", "r.raw"), "raw")


# ------------------------------------------------------------------ commit

def chain(base_writes=("write -P 1 0 1M",), top_writes=("write -P 2 512k 64k",)):
    make_qcow2("base.qcow2", "4M", writes=base_writes)
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2")
    qio("top.qcow2", *top_writes)
    img("convert", "-O", "raw", "top.qcow2", "expect.raw", check=True)


def top_layer_bytes(path):
    return sum(e["length"] for e in jqemu("map", "--output=json", path)
               if e["depth"] == 0 and e["present"])


def test_commit_empties_top():
    chain(top_writes=("write -P 2 512k 64k", "write -z 0 64k", "write -P 3 3M 64k"))
    r = img("commit", "top.qcow2", check=True)
    assert r.stdout == "Image committed.\n"
    qemu_same("base.qcow2", "expect.raw")
    qemu_same("top.qcow2", "expect.raw")
    assert top_layer_bytes("top.qcow2") == 0
    qemu_clean("base.qcow2")
    qemu_clean("top.qcow2")


def test_commit_d_keeps_top_and_progress():
    chain()
    r = img("commit", "-d", "-p", "top.qcow2", check=True)
    assert "(100.00/100%)" in r.stdout
    qemu_same("base.qcow2", "expect.raw")
    assert top_layer_bytes("top.qcow2") == 64 * 1024


def test_commit_into_deeper_base():
    make_qcow2("base.qcow2", "4M", writes=("write -P 1 0 1M",))
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2")
    qio("mid.qcow2", "write -P 4 1M 64k")
    qimg("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2")
    qio("top.qcow2", "write -P 5 0 64k")
    img("convert", "-O", "raw", "top.qcow2", "expect.raw", check=True)
    img("commit", "-b", "base.qcow2", "top.qcow2", check=True)
    qemu_same("base.qcow2", "expect.raw")
    qemu_same("top.qcow2", "expect.raw")
    qemu_clean("base.qcow2")
    one_error_line(img("commit", "-b", "nonexist.qcow2", "top.qcow2"), "nonexist.qcow2")


def test_commit_without_backing_fails():
    make_qcow2("a.qcow2", "4M")
    before = sha("a.qcow2")
    one_error_line(img("commit", "a.qcow2"), "backing file")
    assert sha("a.qcow2") == before


# ------------------------------------------------------------------ rebase

def test_rebase_safe_keeps_content():
    chain()
    make_qcow2("other.qcow2", "4M", writes=("write -P 7 0 2M",))
    img("rebase", "-b", "other.qcow2", "-F", "qcow2", "top.qcow2", check=True)
    assert jqemu("info", "--output=json", "top.qcow2")["backing-filename"] == "other.qcow2"
    qemu_same("top.qcow2", "expect.raw")
    qemu_clean("top.qcow2")


def test_rebase_remove_backing():
    chain()
    img("rebase", "-p", "-b", "", "top.qcow2", check=True)
    info = jqemu("info", "--output=json", "top.qcow2")
    assert "backing-filename" not in info
    qemu_same("top.qcow2", "expect.raw")
    qemu_clean("top.qcow2")


def test_rebase_unsafe_only_renames():
    chain()
    make_qcow2("other.qcow2", "4M", writes=("write -P 7 0 2M",))
    layer = top_layer_bytes("top.qcow2")
    img("rebase", "-u", "-b", "other.qcow2", "-F", "qcow2", "top.qcow2", check=True)
    assert jqemu("info", "--output=json", "top.qcow2")["backing-filename"] == "other.qcow2"
    assert top_layer_bytes("top.qcow2") == layer
    img("rebase", "-u", "-b", "not-there-yet.qcow2", "-F", "qcow2", "top.qcow2", check=True)
    assert jimg("info", "--output=json", "top.qcow2")["backing-filename"] == \
        "not-there-yet.qcow2"


def test_rebase_missing_new_backing_leaves_image():
    chain()
    before = sha("top.qcow2")
    one_error_line(img("rebase", "-b", "nonexist.qcow2", "top.qcow2"), "nonexist.qcow2")
    one_error_line(img("rebase", "-b", "top.qcow2", "top.qcow2"), "own backing file")
    assert sha("top.qcow2") == before


# ------------------------------------------------------------------ compare

def test_compare_messages_match_qemu():
    chain()
    cases = [("top.qcow2", "expect.raw"), ("base.qcow2", "top.qcow2")]
    shutil.copy("expect.raw", "diff.raw")
    qio("diff.raw", "write -P 9 1000 1", fmt="raw")
    cases.append(("top.qcow2", "diff.raw"))
    qimg("create", "-q", "-f", "raw", "big.raw", "5M")
    qimg("convert", "-n", "-O", "raw", "top.qcow2", "big.raw")
    cases.append(("top.qcow2", "big.raw"))
    shutil.copy("big.raw", "bigdiff.raw")
    qio("bigdiff.raw", "write -P 9 4200000 1", fmt="raw")
    cases.append(("top.qcow2", "bigdiff.raw"))
    for a, b in cases:
        for s in ([], ["-s"]):
            ours = img("compare", *s, a, b)
            theirs = qimg("compare", *s, a, b, check=False)
            assert ours.returncode == theirs.returncode, (a, b, s, ours.stderr)
            if not s or "block status" not in theirs.stdout:
                assert ours.stdout == theirs.stdout, (a, b, s)


def test_compare_errors_exit_2():
    qimg("create", "-q", "-f", "raw", "a.raw", "1M")
    r = img("compare", "a.raw", "nonexist.raw")
    assert r.returncode == 2
    one_error_line(r, "nonexist.raw")
    r = img("compare", "-f", "qcow2", "a.raw", "a.raw")
    assert r.returncode == 2


def test_compare_progress():
    raw_with_data("a.raw")
    shutil.copy("a.raw", "b.raw")
    out = img_bytes("compare", "-p", "a.raw", "b.raw")
    assert out.startswith(b"    (0.00/100%)\r") and b"(100.00/100%)\r" in out
    assert out.endswith(b"Images are identical.\n")


# ------------------------------------------------------------------ bad commands

def test_missing_file_every_command():
    qimg("create", "-q", "-f", "raw", "a.raw", "1M")
    for args in (["info"], ["check"], ["map"], ["measure"], ["snapshot", "-l"], ["commit"],
                 ["rebase", "-u", "-b", "b"], ["compare", "a.raw"]):
        one_error_line(img(*args, "nonexist.img"), "nonexist.img")
    one_error_line(img("resize", "nonexist.img", "1M"), "nonexist.img")
    one_error_line(img("convert", "nonexist.img", "out.raw"), "nonexist.img")
    assert not os.path.exists("out.raw")


def test_wrong_format_leaves_image():
    qimg("create", "-q", "-f", "raw", "r.raw", "1M")
    make_qcow2("a.qcow2", "1M")
    before = sha("r.raw"), sha("a.qcow2")
    one_error_line(img("info", "-f", "qcow2", "r.raw"), "r.raw")
    one_error_line(img("resize", "-f", "qcow2", "r.raw", "2M"), "r.raw")
    one_error_line(img("info", "-f", "vmdk", "r.raw"), "vmdk")
    one_error_line(img("resize", "-f", "nonsense", "a.qcow2", "2M"), "nonsense")
    assert (sha("r.raw"), sha("a.qcow2")) == before


def test_corrupt_image_is_one_line_and_untouched():
    make_qcow2("a.qcow2", "16M", writes=("write -P 1 0 64k",))
    patch("a.qcow2", 40, struct.pack(">Q", 0x12345))  # L1 table offset not cluster-aligned
    before = sha("a.qcow2")
    for args in (["info"], ["map"], ["check"], ["check", "-r", "all"], ["snapshot", "-c", "s"],
                 ["rebase", "-b", ""], ["commit"]):
        one_error_line(img(*args, "a.qcow2"), "image is corrupt")
    one_error_line(img("resize", "a.qcow2", "32M"), "image is corrupt")
    one_error_line(img("convert", "-O", "raw", "a.qcow2", "o.raw"), "image is corrupt")
    assert sha("a.qcow2") == before


F_OFD_SETLK = 37


def hold_lock(path, write=True):
    """Lock the whole file the way another hostel or QEMU writer would (an OFD lock)."""
    fd = os.open(path, os.O_RDWR)
    lock = struct.pack("hhqqi4x", fcntl.F_WRLCK if write else fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
    fcntl.fcntl(fd, F_OFD_SETLK, lock)
    return fd


def test_image_in_use_by_a_writer():
    chain()
    before = {f: sha(f) for f in ("top.qcow2", "base.qcow2")}
    fd = hold_lock("top.qcow2")
    try:
        for args in (["resize", "top.qcow2", "8M"], ["snapshot", "-c", "s", "top.qcow2"],
                     ["commit", "top.qcow2"], ["rebase", "-b", "", "top.qcow2"],
                     ["check", "-r", "all", "top.qcow2"], ["info", "top.qcow2"],
                     ["map", "top.qcow2"], ["convert", "-O", "raw", "top.qcow2", "o.raw"],
                     ["convert", "-n", "-O", "qcow2", "expect.raw", "top.qcow2"],
                     ["convert", "-O", "qcow2", "expect.raw", "top.qcow2"],
                     ["create", "-q", "-f", "qcow2", "top.qcow2", "1M"]):
            one_error_line(img(*args), "in use by another process")
        # -U: read-only commands may look at an image someone is writing
        assert jimg("info", "-U", "--output=json", "top.qcow2")["format"] == "qcow2"
    finally:
        os.close(fd)
    fd = hold_lock("base.qcow2", write=False)  # a reader of the base: commit must wait
    try:
        one_error_line(img("commit", "top.qcow2"), "in use by another process")
    finally:
        os.close(fd)
    assert {f: sha(f) for f in before} == before


# ------------------------------------------------------------------ random chains

def random_io(rng, path, size, n=8):
    """n random writes, zero writes and discards through qemu-io."""
    cmds = []
    for _ in range(n):
        length = rng.choice([512, 4096, 65536, 200000])
        off = rng.randrange(0, size - length) // 512 * 512
        kind = rng.random()
        if kind < 0.6:
            cmds.append(f"write -P {rng.randrange(1, 255)} {off} {length}")
        elif kind < 0.8:
            cmds.append(f"write -z {off} {length}")
        else:
            cmds.append(f"discard {off} {length}")
    qio(path, *cmds)


@pytest.mark.parametrize("opts,seed", [("cluster_size=4k", 3),
                                       ("cluster_size=128k,extended_l2=on", 4),
                                       ("compat=0.10", 11)])
def test_random_chain_commit_rebase_convert(opts, seed):
    """base <- mid <- top with random writes: every command keeps what the guest reads."""
    rng = random.Random(seed)
    size = 4 * MiB
    make_qcow2("base.qcow2", size, opts)
    random_io(rng, "base.qcow2", size)
    for name, below in (("mid.qcow2", "base.qcow2"), ("top.qcow2", "mid.qcow2")):
        qimg("create", "-q", "-f", "qcow2", "-o", opts, "-b", below, "-F", "qcow2", name)
        random_io(rng, name, size)
    make_qcow2("other.qcow2", size, opts)
    random_io(rng, "other.qcow2", size)
    qimg("convert", "-O", "raw", "top.qcow2", "expect.raw")
    originals = {f: Path(f).read_bytes() for f in ("base.qcow2", "mid.qcow2", "top.qcow2")}

    def restore():
        for f, data in originals.items():
            Path(f).write_bytes(data)

    img("commit", "top.qcow2", check=True)
    for f in ("top.qcow2", "mid.qcow2"):
        qemu_same(f, "expect.raw")
        qemu_clean(f)
    restore()
    img("commit", "-b", "base.qcow2", "top.qcow2", check=True)
    qemu_same("base.qcow2", "expect.raw")
    qemu_clean("base.qcow2")
    for new in ("other.qcow2", ""):
        restore()
        img("rebase", "-b", new, "top.qcow2", check=True)
        qemu_same("top.qcow2", "expect.raw")
        qemu_clean("top.qcow2")
    restore()
    convs = [["-o", opts], ["-B", "mid.qcow2", "-F", "qcow2", "-o", opts]]
    if "0.10" not in opts:
        convs.append(["-c", "-o", opts])
    for i, extra in enumerate(convs):
        img("convert", "-O", "qcow2", *extra, "top.qcow2", f"c{i}.qcow2", check=True)
        qemu_same(f"c{i}.qcow2", "expect.raw")
        qemu_clean(f"c{i}.qcow2")
    for a in ("top.qcow2", "other.qcow2"):
        ours, theirs = img("compare", a, "expect.raw"), qimg("compare", a, "expect.raw", check=False)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    args = ["measure", "--output=json", "-O", "qcow2", "-o", opts, "top.qcow2"]
    ours, theirs = jimg(*args), jqemu(*args)
    ours.pop("bitmaps", None), theirs.pop("bitmaps", None)
    assert ours == theirs
