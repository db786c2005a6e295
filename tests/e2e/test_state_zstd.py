"""Compressed state files (`hostel suspend --compress`), restored in parallel (issue 5).

The RAM of a compressed file is a series of zstd runs; a restore checks
their CRC in slices on worker threads and decompresses them on one worker
per CPU while the machine is built.  From the user's side:

- a guest holding 20 MiB of random data (about a hundred runs, a CRC read in
  several slices) is restored with that data intact;
- a run corrupted in the middle of the file (with the file's CRC left wrong,
  and made right again so only the run's own checks can catch it), a file
  cut inside a run, and a run header claiming more bytes than there are are
  each refused with one clear line, before anything runs (the ASan build
  also shows no leak: the workers are joined);
- `snapshot revert` to a compressed snapshot takes the same path: it brings
  the memory back, and a bad run is refused with the VM going on unchanged.
"""

import json
import os
import re
import subprocess
import tempfile
import zlib

import pytest

from vmtest import HOSTEL, PROMPT, spawn, hostel, wait_exit

CMDLINE = "console=ttyS0"
SHA = re.compile(r"([0-9a-f]{64})  /tmp/x")


def boot(guest, vm_env, log, name):
    child = spawn([HOSTEL, "run", "-m", "64M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                   "-p", CMDLINE, "--name", name], vm_env, log)
    child.expect(PROMPT)
    return child


def fill_ram(child):
    """20 MiB of random data in the guest's RAM (its root file system); returns its sha256."""
    child.sendline("dd if=/dev/urandom of=/tmp/x bs=1M count=20 2>/dev/null; "
                   "sha256sum /tmp/x")
    child.expect(SHA)
    digest = child.match.group(1)
    child.expect(PROMPT)
    return digest


def ram_runs(data):
    """(first page, pages, header offset, frame bytes) of each zstd run of a state file."""
    off = int.from_bytes(data[12:16], "little")
    while True:
        tl = data[off]
        tag = data[off + 1:off + 1 + tl].decode()
        length = int.from_bytes(data[off + 1 + tl + 8:off + 1 + tl + 16], "little")
        pay = off + 1 + tl + 16
        if tag == "ram":
            break
        off = pay + length
    assert int.from_bytes(data[pay:pay + 4], "little") == 1, "not a zstd RAM section"
    runs, o, end = [], pay + 16, pay + length
    while o < end:
        first = int.from_bytes(data[o:o + 8], "little")
        pages = int.from_bytes(data[o + 8:o + 12], "little")
        z = int.from_bytes(data[o + 12:o + 16], "little")
        runs.append((first, pages, o, z))
        o += 16 + z
    return runs


def with_crc(data):
    """The file with its end CRC made right for its (edited) contents."""
    return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "little")


def bad_run(data, how):
    """(edited file, the middle run's first page)."""
    data = bytearray(data)
    runs = ram_runs(data)
    first, _, hdr, z = runs[len(runs) // 2]
    if how == "flipped":
        data[hdr + 16 + z // 2] ^= 0x40
    elif how == "flipped, CRC made right":
        data[hdr + 16 + z // 2] ^= 0x40
        data = with_crc(bytes(data))
    elif how == "cut inside a run":
        data = data[:hdr + 16 + z // 2]
    elif how == "run longer than the file, CRC made right":
        data[hdr + 12:hdr + 16] = (z + len(data)).to_bytes(4, "little")
        data = with_crc(bytes(data))
    return bytes(data), first


@pytest.fixture(scope="module")
def zstd_state(guest, tmp_path_factory):
    """A compressed state file of a guest with 20 MiB of random data, and that data's sha256."""
    d = tmp_path_factory.mktemp("zstd")
    with tempfile.TemporaryDirectory(prefix="hsz") as run_dir:
        vm_env = dict(os.environ, XDG_RUNTIME_DIR=run_dir)
        log = open(d / "console.log", "w", encoding="utf-8", errors="replace")
        child = boot(guest, vm_env, log, "zs")
        digest = fill_ram(child)
        r = hostel(vm_env, "suspend", "--compress", "zs", str(d / "vm.state"))
        assert r.returncode == 0, r.stderr
        assert wait_exit(child) == 0
    return d / "vm.state", digest


def test_compressed_restore_brings_back_every_page(zstd_state, tmp_path):
    path, digest = zstd_state
    runs = ram_runs(path.read_bytes())
    assert len(runs) >= 20, "too few runs to share among workers"
    assert path.stat().st_size > 16 << 20, "the CRC would not be read in slices"
    with tempfile.TemporaryDirectory(prefix="hsz") as run_dir:
        vm_env = dict(os.environ, XDG_RUNTIME_DIR=run_dir)
        log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
        child = spawn([HOSTEL, "run", "--restore", str(path), "--name", "zs"], vm_env, log)
        child.sendline("sha256sum /tmp/x")
        child.expect(SHA)
        assert child.match.group(1) == digest, "restored RAM differs from the saved RAM"
        child.sendline("poweroff")
        assert wait_exit(child) == 0


@pytest.mark.parametrize("how,message", [
    ("flipped", "checksum mismatch"),
    ("flipped, CRC made right", "RAM run at page {first} does not decompress"),
    ("cut inside a run", "truncated"),
    ("run longer than the file, CRC made right", "bad RAM run"),
])
def test_bad_runs_are_refused(zstd_state, tmp_path, how, message):
    data, first = bad_run(zstd_state[0].read_bytes(), how)
    bad = tmp_path / "bad.state"
    bad.write_bytes(data)
    message = message.format(first=first)
    r = subprocess.run([HOSTEL, "run", "--restore", str(bad)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0], r.stderr
    assert "state file is corrupt" in lines[0] or "truncated" in lines[0]


def test_revert_to_a_compressed_snapshot(guest, tmp_path):
    with tempfile.TemporaryDirectory(prefix="hsz") as run_dir:
        vm_env = dict(os.environ, XDG_RUNTIME_DIR=run_dir, XDG_STATE_HOME=str(tmp_path / "st"))
        log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
        child = boot(guest, vm_env, log, "zr")
        digest = fill_ram(child)
        child.sendline("X=one")
        child.expect(PROMPT)
        r = hostel(vm_env, "snapshot", "create", "zr", "s1")
        assert r.returncode == 0, r.stderr
        # The snapshot's memory file, made again compressed (the guest has not run meanwhile).
        snap = tmp_path / "st" / "hostel" / "snapshots" / "zr" / "s1.state"
        assert snap.is_file()
        r = hostel(vm_env, "ctl", "zr", "save", json.dumps({"file": str(snap), "compress": True}))
        assert r.returncode == 0, r.stderr
        child.sendline("X=two; rm /tmp/x")
        child.expect(PROMPT)
        r = hostel(vm_env, "snapshot", "revert", "zr", "s1")
        assert r.returncode == 0, r.stderr
        child.sendline("echo X=[$X]; sha256sum /tmp/x")
        child.expect(r"X=\[(\w*)\]")
        assert child.match.group(1) == "one", "revert did not bring the shell's memory back"
        child.expect(SHA)
        assert child.match.group(1) == digest
        child.expect(PROMPT)
        # A bad run: refused, and the running VM is left as it was.
        good = snap.read_bytes()
        snap.write_bytes(bad_run(good, "flipped, CRC made right")[0])
        child.sendline("X=three")
        child.expect(PROMPT)
        r = hostel(vm_env, "snapshot", "revert", "zr", "s1")
        assert r.returncode != 0 and "does not decompress" in r.stderr, r.stderr
        child.sendline("echo X=[$X]; sha256sum /tmp/x")
        child.expect(r"X=\[(\w*)\]")
        assert child.match.group(1) == "three", "a refused revert changed the VM"
        child.expect(SHA)
        assert child.match.group(1) == digest
        child.sendline("poweroff")
        assert wait_exit(child) == 0
