"""`hostel volume` and `hostel pool` against a real hosteld (docs/cli.md):
the table and --json outputs, what the daemon then holds, data through
import, clone and export, relative host paths made absolute, and errors
as one line with exit status 1 (the daemon's) or 2 (usage).  No guest is
booted.
"""

import json
import os
import subprocess

import pytest

from mgmtd import REPO, running

HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
MIB = 1 << 20
VOLS = "/1.0/storage-pools/default/volumes"


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path)


def hostel(d, *args, cwd=None):
    e = dict(os.environ, HOSTEL_SOCKET=d.sock)
    return subprocess.run([HOSTEL, *args], capture_output=True, text=True, timeout=60, env=e,
                          cwd=cwd)


def one_line_error(r, status=1, contains=None):
    assert r.returncode == status, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hostel"), r.stderr
    if contains:
        assert contains in lines[0], lines[0]


def test_create_list_resize_delete(daemon):
    r = hostel(daemon, "volume", "create", "default/v1", "--size", "10G")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("created default/v1: qcow2, 10G, ")
    assert hostel(daemon, "volume", "create", "r1", "--size", "4M", "--format", "raw").returncode == 0
    r = hostel(daemon, "volume", "create", "c1", "--backing", "v1")
    assert r.returncode == 0 and "backing v1" in r.stdout, r.stderr
    r = hostel(daemon, "volume", "list")
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()]
    assert rows[0] == ["NAME", "FORMAT", "SIZE", "ALLOCATED", "BACKING", "USED", "BY"]
    assert [(x[0], x[1], x[2], x[4]) for x in rows[1:]] == [
        ("c1", "qcow2", "10G", "v1"), ("r1", "raw", "4M", "-"), ("v1", "qcow2", "10G", "-")]
    r = hostel(daemon, "volume", "list", "default", "--json")
    got = json.loads(r.stdout)
    assert got == daemon.request("GET", VOLS).json
    r = hostel(daemon, "volume", "resize", "default/r1", "8M")
    assert r.returncode == 0 and daemon.request("GET", f"{VOLS}/r1").json["size"] == 8 * MIB
    one_line_error(hostel(daemon, "volume", "resize", "r1", "2M"), 1, "shrink")
    assert hostel(daemon, "volume", "resize", "r1", "2M", "--shrink").returncode == 0
    assert daemon.request("GET", f"{VOLS}/r1").json["size"] == 2 * MIB
    r = hostel(daemon, "volume", "info", "r1")
    assert r.returncode == 0 and "default/r1: raw, 2M" in r.stdout
    one_line_error(hostel(daemon, "volume", "delete", "v1"), 1, "backing of volume 'c1'")
    r = hostel(daemon, "volume", "delete", "default/c1")
    assert r.returncode == 0 and r.stdout == "deleted default/c1\n"
    assert daemon.request("GET", f"{VOLS}/c1").status == 404
    r = hostel(daemon, "volume", "delete", "v1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {}


def test_import_clone_export(daemon, tmp_path):
    src = tmp_path / "src.img"
    with open(src, "wb") as f:
        f.truncate(4 * MIB)
        f.seek(MIB)
        f.write(b"data" * 1000)
    r = hostel(daemon, "volume", "import", "base", "src.img", cwd=tmp_path)  # relative: made absolute
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("imported default/base: qcow2, 4M")
    r = hostel(daemon, "volume", "clone", "default/base", "thin", "--linked")
    assert r.returncode == 0 and "backing base" in r.stdout, r.stderr
    r = hostel(daemon, "volume", "clone", "base", "full", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["backing"] is None
    for name in ("thin", "full"):
        r = hostel(daemon, "volume", "export", name, f"{name}.raw", "--format", "raw", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"exported {name} to {tmp_path}/{name}.raw (raw)\n"
        assert (tmp_path / f"{name}.raw").read_bytes() == src.read_bytes()
    one_line_error(hostel(daemon, "volume", "export", "full", str(tmp_path / "full.raw")), 1,
                   "exists")
    one_line_error(hostel(daemon, "volume", "import", "x", str(tmp_path / "missing.img")), 1,
                   "No such file")
    one_line_error(hostel(daemon, "volume", "clone", "base", "other/x"), 2, "NEW")


def test_pools(daemon, tmp_path):
    d = tmp_path / "p2"
    d.mkdir()
    r = hostel(daemon, "pool", "create", "p2", "p2", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == f"created pool p2 at {d}\n", r.stderr
    assert hostel(daemon, "volume", "create", "p2/v", "--size", "1M").returncode == 0
    assert (d / "v.qcow2").exists()
    r = hostel(daemon, "pool", "list")
    rows = [l.split() for l in r.stdout.splitlines()]
    assert rows[0] == ["NAME", "KIND", "SIZE", "AVAILABLE", "ALLOCATED", "VOLUMES", "PATH"]
    assert [(x[0], x[1], x[5], x[6]) for x in rows[1:]] == [
        ("default", "dir", "0", os.path.realpath(daemon.state / "pools" / "default")),
        ("p2", "dir", "1", str(d))]
    r = hostel(daemon, "pool", "list", "--json")

    def steady(pools):  # the free space moves with everything else on the disk
        return [{k: v for k, v in p.items() if k != "available"} for p in pools["pools"]]

    assert steady(json.loads(r.stdout)) == steady(daemon.request("GET", "/1.0/storage-pools").json)
    one_line_error(hostel(daemon, "pool", "delete", "p2"), 1, "holds 1 volumes")
    one_line_error(hostel(daemon, "pool", "delete", "default"), 1, "default pool")
    assert hostel(daemon, "volume", "delete", "p2/v").returncode == 0
    assert hostel(daemon, "pool", "delete", "p2").returncode == 0 and d.is_dir()


def test_errors_are_one_line(daemon):
    one_line_error(hostel(daemon, "volume", "create", "v"), 2, "--size")
    one_line_error(hostel(daemon, "volume", "create", "v", "--size", "1Q"), 2, "1Q")
    one_line_error(hostel(daemon, "volume", "create", "../v", "--size", "1M"), 2, "POOL/VOL")
    one_line_error(hostel(daemon, "volume", "create", "a/b/c", "--size", "1M"), 2, "POOL/VOL")
    one_line_error(hostel(daemon, "volume", "create", "v", "--size", "1M", "--linked"), 2,
                   "--linked")
    one_line_error(hostel(daemon, "volume", "create", ".v", "--size", "1M"), 1, "name")
    one_line_error(hostel(daemon, "volume", "create", "v", "--size", "1M", "--format", "vmdk"), 1,
                   "format")
    one_line_error(hostel(daemon, "volume", "frob"), 2, "frob")
    one_line_error(hostel(daemon, "volume", "info", "nope"), 1, "no volume 'nope'")
    one_line_error(hostel(daemon, "volume", "list", "nopool"), 1, "no pool named 'nopool'")
    one_line_error(hostel(daemon, "volume", "resize", "v"), 2)
    r = hostel(daemon, "volume", "--help")
    assert r.returncode == 0 and "clone POOL/SRC NEW" in r.stdout and "--json" in r.stdout
    assert hostel(daemon, "pool", "list", "--help").returncode == 0
    assert "volume" in hostel(daemon, "help").stdout


def test_no_daemon(tmp_path):
    e = dict(os.environ, HOSTEL_SOCKET=str(tmp_path / "none.sock"))
    r = subprocess.run([HOSTEL, "volume", "list"], capture_output=True, text=True, env=e,
                       timeout=30)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "hosteld" in r.stderr
