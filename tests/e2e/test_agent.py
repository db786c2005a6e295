"""The guest agent (docs/agent.md) with Debian's own qemu-guest-agent, and one console.

Debian's riscv64 qemu-guest-agent (trixie: Debian 12 has no riscv64 port) and the shared
libraries it needs, fetched from the system's own Debian mirror and checked against the
archive's index by scripts/debian-qga.py, sit on an ext4 disk (qcow2) that the default
guest mounts.  The guest runs Debian's unmodified qemu-ga on
/dev/virtio-ports/org.qemu.guest_agent.0: the symlink udev makes from the port's name in
/sys/class/virtio-ports, made here by the test because the busybox guest has no udev (the
Debian image's udev makes it itself).

- the agent's port: named org.qemu.guest_agent.0 in the guest;
- before qemu-ga runs, agent-ping fails at once with "no guest agent";
- agent-ping, agent-info (Debian's version), agent-osinfo (the guest's kernel),
  agent-interfaces (the guest's own IP address on eth0), agent-fsfreeze / -status /
  agent-fsthaw, agent-set-password (the hash in the guest's /etc/passwd changes);
- a live snapshot while the guest writes a file: quiesced through the agent, and the
  snapshot's disk passes `e2fsck -fn`; without the agent the snapshot says not quiesced;
- agent-shutdown: the guest powers off, the VMM exits with status 0;
- one console: every line once on the default serial console, no hvc for virtio-console;
  `--console virtio` puts the shell on virtio-console's hvc and the UART's output is not
  mixed in.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import struct
import time

import pexpect
import pytest

from vmtest import HOSTEL, PROMPT, REPO, TIMEOUT, hostel, spawn, wait_exit
from statestream import sections, stream

PORT = "org.qemu.guest_agent.0"
QGA_LIBS = "/mnt/usr/lib/riscv64-linux-gnu"
QGA = (f"/mnt/usr/lib/ld-linux-riscv64-lp64d.so.1 --library-path {QGA_LIBS} "
       f"/mnt/usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/{PORT} -t /run "
       "-f /run/qga.pid -l /tmp/qga.log -d")


@pytest.fixture(scope="session")
def qga_image():
    """Debian's qemu-guest-agent on an ext4 image (cached); skips when the archive is
    unreachable, fails on any other error."""
    p = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "debian-qga.py")],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        if re.search(r"urlopen error|Temporary failure|Network is unreachable|timed out",
                     p.stderr):
            pytest.skip(f"Debian's archive is unreachable: {p.stderr.strip()[-200:]}")
        pytest.fail(f"scripts/debian-qga.py failed: {p.stderr[-2000:]}")
    return pathlib.Path(p.stdout.strip().splitlines()[-1])


@pytest.fixture
def qga_disk(qga_image, tmp_path):
    """A writable qcow2 copy of the agent's image (internal snapshots need qcow2)."""
    disk = tmp_path / "qga.qcow2"
    p = subprocess.run([HOSTEL, "img", "convert", "-O", "qcow2", str(qga_image), str(disk)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return disk


class Vm:
    """The default guest with the agent's disk, driven on its serial console."""

    def __init__(self, guest, env, tmp_path, name, disk, *extra, cmdline="console=ttyS0"):
        self.env, self.name = env, name
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        argv = [HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                "-p", cmdline, "--name", name, *extra]
        if disk:
            argv += ["-d", str(disk)]
        self.child = spawn(argv, env, self.log)
        self.child.expect(PROMPT)

    def sh(self, command, timeout=TIMEOUT):
        """Run a shell command that must succeed; its output."""
        self.child.sendline(f'{command}; echo "@@""RC=$?@@"')
        self.child.expect(r"@@RC=(\d+)@@", timeout=timeout)
        out, rc = self.child.before, int(self.child.match.group(1))
        self.child.expect(PROMPT, timeout=timeout)
        lines = out.replace("\r", "").split("\n")
        end = next((i for i, line in enumerate(lines) if '"@@""RC=' in line), -1)
        out = "\n".join(lines[end + 1:]).strip("\n")
        assert rc == 0, f"`{command}` exited {rc}: {out!r}"
        return out

    def start_agent(self):
        """Mount the agent's disk, name the port as udev would, start Debian's qemu-ga."""
        self.sh("mount /dev/vda /mnt && mkdir -p /dev/virtio-ports")
        self.sh("for p in /sys/class/virtio-ports/*; do [ -s $p/name ] && "
                "ln -sf /dev/${p##*/} /dev/virtio-ports/$(cat $p/name); done; true")
        self.sh(QGA)
        deadline = time.monotonic() + 60
        while self.ctl_raw("agent-ping").returncode != 0:
            assert time.monotonic() < deadline, "qemu-ga never answered agent-ping"
            time.sleep(0.5)

    def ctl_raw(self, command, arguments=None):
        args = ["ctl", self.name, command] + ([json.dumps(arguments)] if arguments else [])
        return hostel(self.env, *args)

    def ctl(self, command, arguments=None):
        p = self.ctl_raw(command, arguments)
        assert p.returncode == 0, f"hostel ctl {command}: {p.returncode} {p.stderr!r}"
        return json.loads(p.stdout)

    def quit(self):
        self.ctl("quit")
        return wait_exit(self.child)


def test_agent_with_debian_qemu_guest_agent(guest, qga_image, qga_disk, vm_env, tmp_path):
    vm = Vm(guest, vm_env, tmp_path, "qga", qga_disk)
    assert vm.sh("cat /sys/class/virtio-ports/*/name") == PORT
    t0 = time.monotonic()
    p = vm.ctl_raw("agent-ping")
    assert p.returncode == 1 and "no guest agent" in p.stderr and time.monotonic() - t0 < 10
    vm.start_agent()

    t0 = time.monotonic()
    assert vm.ctl("agent-ping") == {}
    ping_s = time.monotonic() - t0
    info = vm.ctl("agent-info")
    debian = (qga_image.parent.name.split("_", 1)[1]).split("+")[0]  # "10.0.13"
    assert info["version"] == debian, (info["version"], qga_image)
    names = {c["name"] for c in info["supported_commands"] if c["enabled"]}
    assert {"guest-ping", "guest-get-osinfo", "guest-network-get-interfaces", "guest-shutdown",
            "guest-fsfreeze-freeze", "guest-set-user-password"} <= names
    osinfo = vm.ctl("agent-osinfo")
    assert osinfo["machine"] == "riscv64"
    assert osinfo["kernel-release"] == vm.sh("uname -r")

    # The guest's own address on eth0, as the agent reports it.
    deadline = time.monotonic() + 60
    while not (addr := vm.sh("ip -4 -o addr show eth0 | sed -n 's/.* inet \\([0-9.]*\\).*/\\1/p'")):
        assert time.monotonic() < deadline, "eth0 never got an address"
        time.sleep(1)
    ifs = {i["name"]: i for i in vm.ctl("agent-interfaces")["interfaces"]}
    assert "lo" in ifs and "eth0" in ifs
    assert addr in [a["ip-address"] for a in ifs["eth0"].get("ip-addresses", [])]
    mac = vm.sh("cat /sys/class/net/eth0/address")
    assert ifs["eth0"]["hardware-address"] == mac

    assert vm.ctl("agent-fsfreeze-status") == {"status": "thawed"}
    assert vm.ctl("agent-fsfreeze")["frozen"] >= 1
    assert vm.ctl("agent-fsfreeze-status") == {"status": "frozen"}
    assert vm.ctl("agent-fsthaw")["thawed"] >= 1
    assert vm.ctl("agent-fsfreeze-status") == {"status": "thawed"}
    vm.sh("echo after-thaw > /mnt/written && sync")

    before = vm.sh("grep ^root: /etc/passwd")
    assert vm.ctl("agent-set-password", {"user": "root", "password": "n3w-s3cret"}) == {}
    after = vm.sh("grep ^root: /etc/passwd")
    assert after.split(":")[1] != before.split(":")[1] and after.split(":")[1]
    p = vm.ctl_raw("agent-set-password", {"user": "nosuchuser", "password": "x"})
    assert p.returncode == 1 and "refused" in p.stderr

    # guest-shutdown runs /sbin/shutdown -P +0 (systemd's on Debian); busybox has poweroff.
    vm.sh("printf '#!/bin/sh\\nexec /sbin/poweroff\\n' > /sbin/shutdown && chmod +x /sbin/shutdown")
    assert vm.ctl("agent-shutdown") == {}
    assert wait_exit(vm.child) == 0
    print(f"agent-ping round trip {ping_s * 1000:.0f} ms")


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_snapshot_quiesced_by_the_agent(guest, qga_disk, vm_env, tmp_path):
    vm = Vm(guest, vm_env, tmp_path, "quiesce", qga_disk)
    vm.start_agent()
    # A writer that never stops: a snapshot without a freeze catches ext4 mid-transaction.
    vm.sh("mkdir -p /mnt/data && (i=0; while :; do echo line-$i >> /mnt/data/log; "
          "i=$((i+1)); [ $((i % 50)) = 0 ] && sync; done) >/dev/null 2>&1 & "
          "echo $! > /run/writer.pid")
    time.sleep(2)
    t0 = time.monotonic()
    r = vm.ctl("snapshot-create", {"name": "frozen"})
    took = time.monotonic() - t0
    assert r["name"] == "frozen" and r["quiesced"] is True and r["disks"] == 1
    print(f"quiesced snapshot: {took * 1000:.0f} ms in all, pause {r['pause-ms']:.1f} ms")
    assert vm.ctl("agent-fsfreeze-status") == {"status": "thawed"}
    assert int(vm.sh("wc -l < /mnt/data/log")) > 0
    vm.sh("kill $(cat /run/writer.pid)")
    vm.sh("kill $(cat /run/qga.pid)")
    r = vm.ctl("snapshot-create", {"name": "plain"})
    assert r["quiesced"] is False
    assert vm.quit() == 0

    # The quiesced snapshot's file system is clean as it stands (no journal to replay).
    copy, raw = tmp_path / "copy.qcow2", tmp_path / "frozen.raw"
    shutil.copy(qga_disk, copy)
    for args in (["snapshot", "-a", "frozen", str(copy)],
                 ["convert", "-f", "qcow2", "-O", "raw", str(copy), str(raw)]):
        p = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    fsck = subprocess.run(["e2fsck", "-fn", str(raw)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PATH=os.environ["PATH"] + ":/sbin:/usr/sbin"))
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "needs_recovery" not in subprocess.run(
        ["dumpe2fs", "-h", str(raw)], capture_output=True, text=True,
        env=dict(os.environ, PATH=os.environ["PATH"] + ":/sbin:/usr/sbin")).stdout


def test_one_console(guest, vm_env, tmp_path):
    # The default: the serial console only; virtio-console has no console port (no hvc1).
    vm = Vm(guest, vm_env, tmp_path, "con1", None)
    assert vm.sh("cat /sys/class/tty/console/active") == "ttyS0"
    ports = vm.sh("ls /sys/class/virtio-ports | cat").split()
    assert len(ports) == 1 and ports[0].endswith("p1"), ports  # the agent's; no console port
    assert vm.quit() == 0
    text = vm.log_path.read_text(errors="replace")
    assert text.count("hostel guest ready") == 1
    assert text.count("Linux version") == 1

    # --console virtio: the shell is on virtio-console's hvc; the UART is not attached.
    vm = Vm(guest, vm_env, tmp_path, "con2", None, "--console", "virtio",
            cmdline="console=hvc1")
    assert vm.sh("cat /sys/class/tty/console/active") == "hvc1"
    assert vm.sh("readlink /proc/$$/fd/0") == "/dev/hvc1"
    ports = vm.sh("ls /sys/class/virtio-ports | cat").split()
    assert sorted(p[-2:] for p in ports) == ["p0", "p1"], ports  # the console's and the agent's
    vm.sh("echo uart-$((6*7)) > /dev/ttyS0")
    assert vm.ctl("query-devices")["virtio"]
    assert vm.quit() == 0
    text = vm.log_path.read_text(errors="replace")
    assert text.count("hostel guest ready") == 1
    assert "uart-42" not in text.replace("uart-$((6*7))", "")


def test_console_option_refused(guest):
    p = subprocess.run([HOSTEL, "run", "-k", str(guest.kernel), "--console", "vga"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "--console 'vga': expected serial (ttyS0) or virtio (hvc0)" in p.stderr
    p = subprocess.run([HOSTEL, "run", "-k", str(guest.kernel), "--console", "hvc0",
                        "--print-config"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout)["console"] == "virtio"


def test_hosteld_addresses_and_stop_through_the_agent(guest, qga_disk, tmp_path):
    """hosteld: GET /1.0/vms/NAME lists the guest's addresses from its agent (and
    `hostel info` prints them); a stop asks the agent first, so a guest deaf to the power
    button (acpid killed) still shuts down cleanly, nothing forced."""
    from test_mgmt_console import attach
    from test_mgmt_lifecycle import Daemon, console_log, daemon_hostel, wait_for
    d = Daemon(tmp_path, guest).start()
    try:
        d.create("ga", config={"disks": [{"path": str(qga_disk)}]})
        assert d.act("ga", "start")["status"] == "success"
        wait_for(lambda: "hostel guest ready" in console_log(d, "ga"), timeout=90)
        r = d.request("GET", "/1.0/vms/ga")
        assert r.status == 200 and "addresses" not in r.json  # no agent yet
        c = attach(d, "ga")
        c.expect("attached to ga")
        c.send("\r")
        c.expect(PROMPT)
        for line in ("mount /dev/vda /mnt && mkdir -p /dev/virtio-ports",
                     "for p in /sys/class/virtio-ports/*; do [ -s $p/name ] && "
                     "ln -sf /dev/${p##*/} /dev/virtio-ports/$(cat $p/name); done",
                     QGA, "killall acpid",
                     "printf '#!/bin/sh\\nexec /sbin/poweroff\\n' > /sbin/shutdown",
                     "chmod +x /sbin/shutdown"):
            c.send(line + "\r")
            c.expect(PROMPT)
        c.send("\x01d")
        c.expect(pexpect.EOF)

        def addresses():
            got = d.request("GET", "/1.0/vms/ga", timeout=30)
            return got.json.get("addresses") if got.status == 200 else None
        addrs = wait_for(lambda: [a for a in addresses() or [] if a["family"] == "ipv4"],
                         timeout=90, step=1)
        assert addrs[0]["interface"] == "eth0" and addrs[0]["address"] == "10.0.2.15", addrs
        show = subprocess.run([daemon_hostel(), "info", "ga"], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, HOSTEL_SOCKET=d.sock))
        assert "address:     10.0.2.15/24 (eth0)" in show.stdout, show.stdout + show.stderr
        t0 = time.monotonic()
        op = d.act("ga", "stop", timeout=30)
        assert op["status"] == "success" and op["result"]["forced"] is False, op
        assert "reboot: Power down" in console_log(d, "ga")
        st = d.vm_state("ga")
        assert st["last_exit"]["reason"] == "guest" and st["last_exit"]["clean"] is True
        print(f"stop through the agent took {time.monotonic() - t0:.2f} s")
    finally:
        d.cleanup()


def test_state_saved_before_multiport_restores(guest, vm_env, tmp_path):
    """A state file from before MULTIPORT (virtio-console with 2 queues and no section of
    its own), made from a new one, still restores: the console's new queues are reset and
    the guest's serial shell goes on."""
    vm = Vm(guest, vm_env, tmp_path, "old", None)
    new = tmp_path / "new.state"
    vm.ctl("save", {"file": str(new), "compress": True})  # zstd RAM: no page alignment to keep
    assert vm.quit() == 0
    header, secs = sections(new.read_bytes())
    inst = next(s[1] for s in secs if s[0] == "virtio-console")
    old = []
    for tag, i, ver, flags, p in secs:
        if tag == "virtio-console":
            continue  # the old device had no section
        if tag == "virtio" and i == inst:
            fixed = 41  # features, selectors, status, isr, generation, broken
            kicks = p[fixed + 4:fixed + 4 + 6]
            vqs = p[fixed + 4 + 6 + 4:]
            assert struct.unpack_from("<I", p, fixed)[0] == 6 and len(vqs) == 6 * 37
            features = struct.unpack_from("<QQ", p, 0)
            p = (struct.pack("<QQ", *(f & ~(1 << 1) for f in features)) + p[16:fixed] +
                 struct.pack("<I", 2) + kicks[:2] + struct.pack("<I", 2) + vqs[:2 * 37])
        old.append((tag, i, ver, flags, p))
    crafted = tmp_path / "old.state"
    crafted.write_bytes(stream(header, old))
    log = open(tmp_path / "restored.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "--restore", str(crafted), "--name", "old"], vm_env, log)
    child.sendline("echo restored-$((6*7))")
    child.expect("restored-42")
    child.expect(PROMPT)
    assert hostel(vm_env, "ctl", "old", "quit").returncode == 0
    assert wait_exit(child) == 0
