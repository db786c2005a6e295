"""Live snapshots whose pause does not wait for the disks (issue 5).

`snapshot-create` pauses the VM only to capture its state; the qcow2
snapshots and every sync happen after it runs again, behind a barrier at
the head of each disk's queue, and the reply comes when all is durable.

- A snapshot taken while the guest appends numbered, tagged lines to a file
  on its qcow2 disk (sync after each): after a revert the guest's memory and
  its disk agree (the loop goes on from its own count and the file stays
  1, 2, 3... without a gap or a repeat), nothing written after the snapshot
  is left, qemu-img check is clean and qemu-img lists the snapshot.
- The VM runs before the snapshot is complete: a `status` sent right behind
  `snapshot-create` on the same connection is answered first, "running";
  the reply has pause-ms <= total-ms.  A second snapshot-create and a save
  sent meanwhile are refused ("a snapshot is in progress").
- All disks or none: when one disk already has a snapshot of that name, the
  other disk's new snapshot is taken back and no state file is left.
- quit while a snapshot finishes: the VMM completes it, answers, exits 0.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time

import pexpect
import pytest

from vmtest import HOSTEL, TIMEOUT, PROMPT, hostel, wait_exit


pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                reason="qemu-img is not installed")


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=60)


def qcow2(path, size="64M", ext4=False):
    if ext4:
        raw = path.with_suffix(".raw")
        subprocess.run(["truncate", "-s", size, str(raw)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(raw)], check=True)
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(path)],
                       check=True)
        raw.unlink()
    else:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


def disk_snapshots(path):
    info = json.loads(qemu_img("info", "-U", "--output=json", str(path)).stdout)
    return [s["name"] for s in info.get("snapshots", [])]


def boot(guest, vm_env, tmp_path, name, disks):
    argv = ["run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", "--name", name]
    for d in disks:
        argv += ["-d", str(d)]
    child = pexpect.spawn(HOSTEL, argv, env=vm_env, encoding="utf-8", codec_errors="replace",
                          timeout=TIMEOUT, dimensions=(50, 200))
    child.logfile_read = open(tmp_path / f"{name}.log", "w", encoding="utf-8",
                              errors="replace")
    child.expect(PROMPT)
    return child


class Control:
    """A raw control connection: requests may be pipelined, replies matched by id."""

    def __init__(self, vm_env, name):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(os.path.join(vm_env["XDG_RUNTIME_DIR"], "hostel", f"{name}.sock"))
        self.buf = b""
        assert "hostel" in self.read()

    def read(self):
        """The next message (events included)."""
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the VM closed the control connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, *requests):
        """Send (command, arguments, id) requests in one write."""
        self.sock.sendall(b"".join(
            json.dumps({"execute": c, "arguments": a or {}, "id": i}).encode() + b"\n"
            for c, a, i in requests))

    def replies(self, n):
        """The next n replies, in arrival order (events skipped)."""
        out = []
        while len(out) < n:
            msg = self.read()
            if "event" not in msg:
                out.append(msg)
        return out

    def close(self):
        self.sock.close()


# Appends "N TAG" to /mnt/log and syncs, for N = 1, 2, 3...; TAG is read from /tmp/tag
# (guest memory) at each step.  Stops when /tmp/stop exists.
LOOP = ("echo A > /tmp/tag; (i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); read t < /tmp/tag; "
        "echo \"$i $t\" >> /mnt/log; sync; echo $i > /tmp/last; done; echo loop-""ended) & true")


def set_tag(child, tag):
    """Replace /tmp/tag atomically (the loop must never read it empty)."""
    guest_cmd(child, f"echo {tag} > /tmp/tag.new && mv /tmp/tag.new /tmp/tag", "TAGGED")


def guest_cmd(child, cmd, marker):
    child.sendline(f"{cmd}; echo {marker[:3]}\"\"{marker[3:]}")
    child.expect(marker)
    text = child.before
    child.expect(PROMPT)
    return text


def test_snapshot_while_the_guest_writes_its_disk(guest, vm_env, tmp_path):
    disk = qcow2(tmp_path / "disk.qcow2", ext4=True)
    child = boot(guest, vm_env, tmp_path, "live", [disk])
    guest_cmd(child, "mount /dev/vda /mnt && " + LOOP, "STARTED")
    time.sleep(1.5)
    ctl = Control(vm_env, "live")
    ctl.send(("snapshot-create", {"name": "s1"}, 1), ("status", None, 2),
             ("snapshot-create", {"name": "s2"}, 3), ("save", {"file": str(tmp_path / "x")}, 4))
    first, second, third, snap = ctl.replies(4)
    # Answered while the snapshot was finishing: the VM was running again.
    assert first["id"] == 2 and first["return"]["status"] == "running", first
    for r, i in ((second, 3), (third, 4)):
        assert r["id"] == i and "a snapshot is in progress" in r["error"]["desc"], r
    assert snap["id"] == 1, snap
    ret = snap["return"]
    assert ret["disks"] == 1 and 0 < ret["pause-ms"] <= ret["total-ms"], ret
    assert not (tmp_path / "x").exists()
    ctl.close()
    # After the snapshot the lines carry tag B; the revert must take them all back.
    time.sleep(0.5)
    set_tag(child, "B")
    time.sleep(1.0)
    out = guest_cmd(child, "grep -c ' B$' /mnt/log", "COUNTED")
    assert int(re.findall(r"^(\d+)\s*$", out.replace("\r", ""), re.M)[-1]) > 0, out
    r = hostel(vm_env, "snapshot", "revert", "live", "s1")
    assert r.returncode == 0, r.stderr
    # The loop goes on from the count in its (reverted) memory; mark what it writes now.
    set_tag(child, "C")
    time.sleep(1.0)
    child.sendline("touch /tmp/stop")
    child.expect("loop-ended")
    out = guest_cmd(child, "awk '$1 != NR {bad++} {n[$2]++} END {print \"lines\", NR, "
                    "\"bad\", bad+0, \"A\", n[\"A\"]+0, \"B\", n[\"B\"]+0, \"C\", n[\"C\"]+0}' "
                    "/mnt/log; echo last=$(cat /tmp/last)", "CHECKED")
    m = re.search(r"lines (\d+) bad (\d+) A (\d+) B (\d+) C (\d+)\s+last=(\d+)", out)
    assert m, out
    lines, bad, a, b, c, last = map(int, m.groups())
    assert bad == 0, f"memory and disk disagree after the revert: {out}"
    assert lines == last, f"the guest's count and its file differ: {out}"
    assert b == 0, f"lines written after the snapshot survived the revert: {out}"
    assert a > 0 and c > 0 and a + c == lines, out
    child.sendline("umount /mnt; poweroff")
    assert wait_exit(child) == 0
    chk = qemu_img("check", str(disk))
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert disk_snapshots(disk) == ["s1"]


def test_a_failing_disk_takes_back_the_others(guest, vm_env, tmp_path):
    d1 = qcow2(tmp_path / "d1.qcow2")
    d2 = qcow2(tmp_path / "d2.qcow2")
    assert qemu_img("snapshot", "-c", "s1", str(d2)).returncode == 0
    child = boot(guest, vm_env, tmp_path, "two", [d1, d2])
    r = hostel(vm_env, "snapshot", "create", "two", "s1")
    assert r.returncode == 1 and "already exists" in r.stderr, r.stderr
    snapdir = tmp_path / "state" / "hostel" / "snapshots" / "two"
    assert list(snapdir.iterdir()) == [], "a state file (or its temporary) was left behind"
    assert disk_snapshots(d1) == [], "the snapshot made on the other disk was not taken back"
    assert disk_snapshots(d2) == ["s1"]
    # The VM goes on, and the next snapshot works on both disks.
    guest_cmd(child, "echo alive", "ALIVE")
    r = hostel(vm_env, "snapshot", "create", "two", "s2")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in snapdir.iterdir()] == ["s2.state"]
    # d2's s1 has no state file (as after a VMM that died before its rename): delete
    # cleans it up; a name that is nowhere is still refused.
    r = hostel(vm_env, "snapshot", "delete", "two", "s1")
    assert r.returncode == 0, r.stderr
    r = hostel(vm_env, "snapshot", "delete", "two", "s9")
    assert r.returncode == 1 and "no snapshot named 's9'" in r.stderr, r.stderr
    child.sendline("poweroff")
    assert wait_exit(child) == 0
    for d, want in ((d1, ["s2"]), (d2, ["s2"])):
        assert disk_snapshots(d) == want
        chk = qemu_img("check", str(d))
        assert chk.returncode == 0, chk.stdout + chk.stderr


def test_quit_while_a_snapshot_finishes(guest, vm_env, tmp_path):
    disk = qcow2(tmp_path / "disk.qcow2")
    child = boot(guest, vm_env, tmp_path, "bye", [disk])
    ctl = Control(vm_env, "bye")
    ctl.send(("snapshot-create", {"name": "last"}, 1), ("quit", None, 2))
    got = {r["id"]: r for r in ctl.replies(2)}
    assert "return" in got[1] and got[1]["return"]["disks"] == 1, got
    assert "return" in got[2], got
    ctl.close()
    assert wait_exit(child) == 0
    snapdir = tmp_path / "state" / "hostel" / "snapshots" / "bye"
    assert [p.name for p in snapdir.iterdir()] == ["last.state"]
    assert disk_snapshots(disk) == ["last"]
    chk = qemu_img("check", str(disk))
    assert chk.returncode == 0, chk.stdout + chk.stderr
    r = hostel(vm_env, "state", "show", str(snapdir / "last.state"))
    assert r.returncode == 0, r.stderr
