"""VM state from the user's side (issue 5): suspend/restore, live snapshots, bad files.

- Determinism: a guest job prints a running sha256 chain and appends it to a file
  on an ext4 disk; the VM is suspended and restored 20 times at random moments
  (the first during boot, the rest while the chain runs and writes to the disk).
  Every chain line arrives once, in order, with the right hash, and the file on
  the disk equals an uninterrupted run's.
- Live snapshot: a file written and synced before the snapshot is there after a
  revert, one written after it is gone; the qcow2 disk passes qemu-img check and
  lists the snapshot.
- Corrupted, truncated, foreign and future-version state files are refused by
  `hostel run --restore` with one clear line, before anything runs.
"""

import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import tempfile
import time

import pexpect
import pytest

from vmtest import HOSTEL, PROMPT, spawn, hostel, wait_exit

CMDLINE = "console=ttyS0"
CHAIN = re.compile(r"chain (\d+) ([0-9a-f]{64})")


def expected_chain(n, seed="hostel"):
    """What `echo $h | sha256sum` gives, step after step (echo adds a newline)."""
    h, out = seed, []
    for i in range(1, n + 1):
        h = hashlib.sha256((h + "\n").encode()).hexdigest()
        out.append((i, h))
    return out


def make_ext4(path, size_mb=16):
    subprocess.run(["truncate", "-s", f"{size_mb}M", str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(path)], check=True)


def suspend(vm_env, name, state):
    deadline = time.time() + 30
    while True:  # a VMM that just started may not listen yet
        r = hostel(vm_env, "suspend", name, str(state))
        if r.returncode == 0 or "no VM named" not in r.stderr or time.time() > deadline:
            break
        time.sleep(0.05)
    assert r.returncode == 0, f"hostel suspend: {r.stderr}"


# Runs in the background until /tmp/stop exists, so its length does not depend on speed.
JOB = ("(mount /dev/vda /mnt && h=hostel; i=0; while [ ! -e /tmp/stop ]; do "
       "h=$(echo $h | sha256sum | cut -c1-64); i=$((i+1)); echo \"chain $i $h\"; "
       "echo \"chain $i $h\" >> /mnt/chain.txt; done; sync; echo chain-fin\"\"ished) &")


def test_suspend_restore_twenty_times_is_invisible(guest, vm_env, tmp_path):
    disk = tmp_path / "disk.img"
    make_ext4(disk)
    state = tmp_path / "vm.state"
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    rng = random.Random(1234)
    first = [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
             "-p", CMDLINE, "-d", str(disk), "--name", "det"]
    child = spawn(first, vm_env, log)
    # 1: during boot, before the shell is up.
    time.sleep(0.4)
    suspend(vm_env, "det", state)
    assert wait_exit(child) == 0
    child = spawn([HOSTEL, "run", "--restore", str(state), "--name", "det"], vm_env, log)
    child.expect(PROMPT)
    child.sendline(JOB)
    cycles = 1
    while cycles < 21:
        # 2..21: at random moments while the chain runs and appends to the disk.
        deadline = time.time() + rng.uniform(0.2, 1.2)
        while time.time() < deadline:
            child.expect([CHAIN, pexpect.TIMEOUT], timeout=0.1)
        suspend(vm_env, "det", state)
        assert wait_exit(child) == 0
        cycles += 1
        child = spawn([HOSTEL, "run", "--restore", str(state), "--name", "det"], vm_env, log)
    child.sendline("touch /tmp/stop")
    child.expect("chain-finished")
    # The whole console transcript across the 21 VMMs: a line the guest was printing when it
    # was suspended is completed by the restored VM, so join around hostel's own message.
    log.flush()
    text = (tmp_path / "console.log").read_text(errors="replace").replace("\r", "")
    text = text.replace("\nhostel: suspended (continue with hostel run --restore FILE)\n", "")
    seen = [(int(n), h) for n, h in CHAIN.findall(text)]
    assert len(seen) >= 10, "the chain hardly ran"
    want = expected_chain(len(seen))
    assert seen == want, "chain lines lost, repeated or wrong across suspends"
    child.sendline("umount /mnt; poweroff")
    assert wait_exit(child) == 0
    text = "".join(f"chain {i} {h}\n" for i, h in want)
    got = subprocess.run(["debugfs", "-R", "cat /chain.txt", str(disk)], capture_output=True,
                         text=True, timeout=60).stdout
    assert got == text, "the file the guest wrote to its disk differs from an uninterrupted run"




def boot_shell(child):
    child.expect(PROMPT)


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_live_snapshot_revert_brings_back_memory_and_disk(guest, vm_env, tmp_path):
    raw = tmp_path / "base.img"
    make_ext4(raw)
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk)],
                   check=True)
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                   "-p", CMDLINE, "-d", str(disk), "--name", "snap"], vm_env, log)
    boot_shell(child)
    child.sendline("mount /dev/vda /mnt && echo before > /mnt/a && sync && echo mem=one")
    child.expect("mem=one")
    child.expect(PROMPT)
    r = hostel(vm_env, "ctl", "snap", "snapshot-create", '{"name": "s1"}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["disks"] == 1
    child.sendline("echo after > /mnt/b && sync && X=changed && echo wrote-b")
    child.expect("wrote-b")
    child.expect(PROMPT)
    listing = json.loads(hostel(vm_env, "ctl", "snap", "snapshot-list").stdout)
    assert [s["name"] for s in listing["snapshots"]] == ["s1"]
    r = hostel(vm_env, "snapshot", "revert", "snap", "s1")
    assert r.returncode == 0, r.stderr
    # The guest is back where the snapshot was taken: a is there, b and X are not.
    child.sendline('test -e /mnt/b && echo B-IS""-THERE || echo B-IS""-GONE; echo X=[$X]; '
                   'cat /mnt/a')
    child.expect("B-IS-(THERE|GONE)")
    assert child.match.group(1) == "GONE", "a file written after the snapshot survived revert"
    child.expect(r"X=\[(\w*)\]")
    assert child.match.group(1) == "", "shell memory was not reverted"
    child.expect("before")
    assert hostel(vm_env, "snapshot", "delete", "snap", "s1").returncode == 0
    child.sendline("umount /mnt; poweroff")
    assert wait_exit(child) == 0
    chk = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(disk)],
                                     capture_output=True, text=True).stdout)
    assert not info.get("snapshots"), "snapshot delete left the disk snapshot behind"


def test_snapshot_needs_qcow2(guest, vm_env, tmp_path):
    disk = tmp_path / "raw.img"
    make_ext4(disk)
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                   "-p", CMDLINE, "-d", str(disk), "--name", "rawsnap"], vm_env, log)
    boot_shell(child)
    r = hostel(vm_env, "snapshot", "create", "rawsnap", "s1")
    assert r.returncode == 1 and "need qcow2" in r.stderr, r.stderr
    child.sendline("echo still-alive")
    child.expect("still-alive")
    child.sendline("poweroff")
    assert wait_exit(child) == 0


@pytest.fixture(scope="module")
def saved_state(guest, tmp_path_factory):
    """One good state file of a booted guest (no network card: libslirp's section is a blob,
    not a state table, see test_state_net.py)."""
    d = tmp_path_factory.mktemp("saved")
    with tempfile.TemporaryDirectory(prefix="hst") as run_dir:
        vm_env = dict(os.environ, XDG_RUNTIME_DIR=run_dir)
        log = open(d / "console.log", "w", encoding="utf-8", errors="replace")
        child = spawn([HOSTEL, "run", "-m", "64M", "-k", str(guest.kernel), "-i",
                       str(guest.initrd), "-p", CMDLINE, "--name", "good", "--net", "none"],
                      vm_env, log)
        child.expect(PROMPT)
        suspend(vm_env, "good", d / "good.state")
        assert wait_exit(child) == 0
    return d / "good.state"


def corrupt(src, dst, how):
    data = bytearray(src.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 3]
    elif how == "flipped":
        data[200] ^= 0x40  # inside the configuration or a device section
    elif how == "foreign":
        data[:8] = b"QFI\xfb\0\0\0\3"
    elif how == "future":
        data[8:10] = (2).to_bytes(2, "little")
    elif how == "empty":
        data = bytearray()
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("how,message", [
    ("truncated", "truncated"),
    ("flipped", "checksum mismatch"),
    ("foreign", "not a hostel state file"),
    ("future", "2.0 is not supported"),
    ("empty", "not a hostel state file"),
])
def test_bad_state_files_are_refused(saved_state, tmp_path, how, message):
    bad = corrupt(saved_state, tmp_path / f"{how}.state", how)
    r = subprocess.run([HOSTEL, "run", "--restore", str(bad)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0], r.stderr
    s = subprocess.run([HOSTEL, "state", "show", str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert s.returncode == 1 and message in s.stderr


def test_state_show_prints_every_device(saved_state):
    r = subprocess.run([HOSTEL, "state", "show", str(saved_state)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == "1.0" and doc["config"]["ram-size"] == 64 << 20
    tags = [s["tag"] for s in doc["sections"]]
    for t in ("machine", "hart", "aclint", "plic", "uart", "rtc", "virtio"):
        assert t in tags
    hart = next(s for s in doc["sections"] if s["tag"] == "hart")["state"]
    assert hart["priv"] in (0, 1) and len(hart["x"]) == 32
    # Every table section is shown, the virtio transports with their queues too.
    unshown = [(s["tag"], s.get("error")) for s in doc["sections"] if "state" not in s]
    assert unshown == [], unshown
    blk = next(s for s in doc["sections"] if s["tag"] == "virtio")["state"]
    assert blk["status"] & 4 and blk["vq"][0]["num"] > 0  # DRIVER_OK, a queue set up


def test_state_show_reads_a_pipe(saved_state, tmp_path):
    # `state show -` reads the stream in order from standard input, as a
    # socket would carry it: same output as from the file; cut short, refused.
    want = subprocess.run([HOSTEL, "state", "show", str(saved_state)], capture_output=True,
                          text=True, timeout=60)
    cat = subprocess.Popen(["cat", str(saved_state)], stdout=subprocess.PIPE)
    r = subprocess.run([HOSTEL, "state", "show", "-"], stdin=cat.stdout, capture_output=True,
                       text=True, timeout=60)
    cat.wait()
    assert r.returncode == 0 and r.stdout == want.stdout, r.stderr
    data = saved_state.read_bytes()
    r = subprocess.run([HOSTEL, "state", "show", "-"], input=data[:len(data) // 2],
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and b"truncated" in r.stderr, r.stderr


def test_restore_refuses_machine_options(saved_state):
    r = subprocess.run([HOSTEL, "run", "--restore", str(saved_state), "-m", "256M"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "-m" in r.stderr and "state file" in r.stderr


def disk_file(image, name, tmp_path):
    """Read /name from an ext4 image (any format qemu-img reads) on the host."""
    raw = tmp_path / (pathlib.Path(image).name + ".raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    r = subprocess.run(["debugfs", "-R", f"cat /{name}", str(raw)], capture_output=True,
                       text=True, timeout=60)
    raw.unlink()
    return r.stdout


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_linked_clones_of_a_suspended_vm_run_together_and_diverge(guest, vm_env, tmp_path):
    base = tmp_path / "base.img"
    make_ext4(base)
    state = tmp_path / "vm.state"
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                   "-p", CMDLINE, "-d", str(base), "--net", "user", "--name", "orig"], vm_env, log)
    boot_shell(child)
    child.sendline("mount /dev/vda /mnt && echo shared > /mnt/common && sync && echo ready-1")
    child.expect("ready-1")
    child.expect(PROMPT)
    suspend(vm_env, "orig", state)
    assert wait_exit(child) == 0
    base_sum = hashlib.sha256(base.read_bytes()).hexdigest()
    clone = tmp_path / "clone.state"
    r = hostel(vm_env, "clone", str(state), str(clone))
    assert r.returncode == 0, r.stderr
    again = hostel(vm_env, "clone", str(state), str(clone))
    assert again.returncode == 1 and "exists" in again.stderr
    shows = [json.loads(hostel(vm_env, "state", "show", str(s)).stdout)["config"]
             for s in (state, clone)]
    assert shows[0]["nics"][0]["mac"] != shows[1]["nics"][0]["mac"], "the clone kept the MAC address"
    disks = [pathlib.Path(c["disks"][0]["path"]) for c in shows]
    assert disks[0] != disks[1] and base not in disks
    vms = [spawn([HOSTEL, "run", "--restore", str(s), "--name", n], vm_env, log)
           for s, n in ((state, "orig"), (clone, "copy"))]
    for vm, n in zip(vms, ("orig", "copy")):
        vm.sendline(f"echo {n} > /mnt/who && cat /mnt/common && sync && echo wrote-{n}")
    for vm, n in zip(vms, ("orig", "copy")):
        vm.expect("shared")
        vm.expect(f"wrote-{n}")
        vm.sendline("umount /mnt; poweroff")
    for vm in vms:
        assert wait_exit(vm) == 0
    assert hashlib.sha256(base.read_bytes()).hexdigest() == base_sum, "the base disk changed"
    for d, n in zip(disks, ("orig", "copy")):
        chk = subprocess.run(["qemu-img", "check", str(d)], capture_output=True, text=True)
        assert chk.returncode == 0, chk.stdout
        assert disk_file(d, "who", tmp_path) == f"{n}\n"
        assert disk_file(d, "common", tmp_path) == "shared\n"


def test_clone_of_a_disk_linked_and_full(vm_env, tmp_path):
    base = tmp_path / "base.img"
    make_ext4(base)
    assert hostel(vm_env, "clone", str(base), str(tmp_path / "l.qcow2")).returncode == 0
    assert hostel(vm_env, "clone", "--full", str(base), str(tmp_path / "f.qcow2")).returncode == 0
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json",
                                      str(tmp_path / "l.qcow2")], capture_output=True,
                                     text=True).stdout)
    assert info["backing-filename"] == str(base)
    full = json.loads(subprocess.run(["qemu-img", "info", "--output=json",
                                      str(tmp_path / "f.qcow2")], capture_output=True,
                                     text=True).stdout)
    assert "backing-filename" not in full
    for img in ("l.qcow2", "f.qcow2"):
        cmp = subprocess.run(["qemu-img", "compare", str(base), str(tmp_path / img)],
                             capture_output=True, text=True)
        assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    missing = hostel(vm_env, "clone", str(tmp_path / "nope.img"), str(tmp_path / "x.qcow2"))
    assert missing.returncode == 1 and "nope.img" in missing.stderr
