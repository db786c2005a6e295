"""The control socket of a running VM, seen from the user's side.

Boots the default guest with `--name` (sockets under a private
$XDG_RUNTIME_DIR) and drives it with `hostel ctl`, `hostel pause`,
`hostel resume` and a raw socket: status and the query commands, malformed
requests, a second VM with the same name, a stale socket, pause (no host CPU
use, no guest progress, the guest's clock stands still), resume, and quit.
"""

import json
import os
import pathlib
import re
import socket
import stat
import subprocess
import tempfile
import time

import pexpect
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
CMDLINE = "console=ttyS0 earlycon=sbi"
CTL_TIMEOUT_S = 30


@pytest.fixture
def runtime_dir(monkeypatch):
    """A private, short $XDG_RUNTIME_DIR (socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="hctl") as d:
        monkeypatch.setenv("XDG_RUNTIME_DIR", d)
        yield pathlib.Path(d)


def run_argv(guest, name, *extra):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--name", name, *extra]


def hostel(*args):
    return subprocess.run([HOSTEL, *args], capture_output=True, text=True,
                          timeout=CTL_TIMEOUT_S, stdin=subprocess.DEVNULL)


def ctl(name, command, arguments=None):
    """`hostel ctl NAME COMMAND`: the parsed return value; fails the test on an error."""
    args = ["ctl", name, command] + ([json.dumps(arguments)] if arguments is not None else [])
    p = hostel(*args)
    assert p.returncode == 0, f"hostel ctl {command}: {p.returncode} {p.stderr!r}"
    return json.loads(p.stdout)


class Raw:
    """A raw connection to a control socket: send lines, read lines."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(CTL_TIMEOUT_S)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")
        self.greeting = self.read()

    def read(self):
        line = self.file.readline()
        assert line.endswith(b"\n"), f"connection closed: {line!r}"
        return json.loads(line)

    def call(self, text):
        self.sock.sendall(text.encode() + b"\n")
        return self.read()

    def close(self):
        self.file.close()
        self.sock.close()


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(child, quiet_s):
    """Everything the console prints until it is silent for quiet_s seconds."""
    out, child.buffer = child.buffer, ""
    while True:
        try:
            out += child.read_nonblocking(65536, timeout=quiet_s)
        except pexpect.TIMEOUT:
            return out


def test_status_queries_errors_and_quit(guest, boot, runtime_dir, tmp_path):
    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (1 << 20))
    g = boot(run_argv(guest, "vm-a", "-d", f"{disk},ro", "--net", "none"))  # slots: blk, rng, ...
    sock = runtime_dir / "hostel" / "vm-a.sock"
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600

    st = ctl("vm-a", "status")
    assert st["status"] == "running" and st["name"] == "vm-a" and st["harts"] == 1
    assert st["ram-size"] == 128 << 20 and st["instructions"] > 0 and st["uptime-ns"] > 0
    harts = ctl("vm-a", "query-harts")["harts"]
    assert [h["id"] for h in harts] == [0] and harts[0]["priv"] in ("S", "U")
    devices = ctl("vm-a", "query-devices")
    assert devices["disks"] == [{"slot": 0, "device": "vda", "path": str(disk),
                                 "format": "raw", "read-only": True, "size": 1 << 20}]
    assert [v["kind"] for v in devices["virtio"][:3]] == ["virtio-blk", "virtio-rng",
                                                         "virtio-console"]
    assert ctl("vm-a", "query-stats")["mips"] > 0
    names = {c["name"] for c in ctl("vm-a", "query-commands")["commands"]}
    assert {"status", "pause", "resume", "quit", "query-harts", "query-devices",
            "query-stats", "query-commands"} <= names

    # Bad requests get an error reply and the VM goes on.
    raw = Raw(sock)
    assert raw.greeting["hostel"]["protocol"] == 1
    assert "malformed JSON" in raw.call('{"execute": "status"')["error"]["desc"]
    assert raw.call('{"execute": "nope", "id": 3}') == {
        "error": {"class": "CommandNotFound",
                  "desc": 'unknown command "nope" (see query-commands)'}, "id": 3}
    assert raw.call('{"execute": "status", "id": "x"}')["return"]["status"] == "running"
    raw.sock.sendall(b"x" * 70000)
    assert "longer than 65536" in raw.read()["error"]["desc"]
    raw.close()
    p = hostel("ctl", "vm-a", "pause", "[1]")
    assert p.returncode == 2 and "not a JSON object" in p.stderr
    p = hostel("ctl", "vm-a", "status", '{"verbose": true}')
    assert p.returncode == 1 and p.stderr == 'hostel: unexpected argument "verbose"\n'
    assert g.check("echo still-alive") == "still-alive"

    # A second VM with the same name is refused; the first keeps its socket.
    p = hostel(*run_argv(guest, "vm-a")[1:])
    assert p.returncode == 1 and "a VM named vm-a is already running" in p.stderr
    assert ctl("vm-a", "status")["status"] == "running"

    # quit: the reply arrives, then the VM exits 0 and removes its socket.
    assert ctl("vm-a", "quit") == {}
    g.child.expect(pexpect.EOF, timeout=30)
    assert g.close() == 0
    assert not sock.exists()
    p = hostel("ctl", "vm-a", "status")
    assert p.returncode == 1 and p.stderr == "hostel: no VM named vm-a is running\n"
    p = hostel("pause", str(runtime_dir / "nothing.sock"))
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "no VM is listening" in p.stderr


def test_stale_socket_is_replaced(guest, runtime_dir):
    """A VM killed with SIGKILL leaves its socket; the next VM of that name takes it over."""
    argv = run_argv(guest, "vm-s")
    first = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    sock = runtime_dir / "hostel" / "vm-s.sock"
    deadline = time.monotonic() + 30
    while hostel("ctl", "vm-s", "status").returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    first.kill()
    first.wait()
    assert sock.exists(), "SIGKILL leaves the socket behind"
    second = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while hostel("ctl", "vm-s", "status").returncode != 0 and time.monotonic() < deadline:
            assert second.poll() is None, second.stderr.read()
            time.sleep(0.1)
        assert ctl("vm-s", "quit") == {}
        assert second.wait(timeout=30) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    assert not sock.exists()


def test_pause_stops_cpu_progress_and_clock(guest, boot, runtime_dir):
    g = boot(run_argv(guest, "vm-p"))
    # A guest loop that prints a counter: it must print nothing while paused.
    g.child.sendline("for i in $(seq 1 25); do echo tick$i; sleep 0.2; done; echo loop-done")
    g.child.expect(r"tick3\r", timeout=30)
    assert hostel("pause", "vm-p").returncode == 0
    before = drain(g.child, 0.5)
    seen = [int(n) for n in re.findall(r"tick(\d+)", before)]
    last = max(seen, default=3)
    assert last < 25, "the loop must still have work left while paused"

    st1 = ctl("vm-p", "status")
    assert st1["status"] == "paused"
    cpu0, t0 = cpu_seconds(g.child.pid), time.monotonic()
    silence = drain(g.child, 1.5)
    cpu1, t1 = cpu_seconds(g.child.pid), time.monotonic()
    assert silence == "", f"the paused guest printed {silence!r}"
    usage = (cpu1 - cpu0) / (t1 - t0)
    assert usage < 0.10, f"a paused VM used {usage:.0%} of a core"
    assert ctl("vm-p", "status")["instructions"] == st1["instructions"]

    assert hostel("resume", "vm-p").returncode == 0
    assert ctl("vm-p", "status")["status"] == "running"
    g.child.expect(rf"tick{last + 1}\r", timeout=30)
    g.child.expect_exact("loop-done", timeout=60)
    g.child.expect(r"hostel:[^\r\n]*# $", timeout=30)

    # The guest's clock stands still while paused: 3 s of host time, < 1.5 s for the guest.
    u0, h0 = float(g.check("cut -d' ' -f1 /proc/uptime")), time.monotonic()
    assert hostel("pause", "vm-p").returncode == 0
    time.sleep(3)
    assert hostel("resume", "vm-p").returncode == 0
    u1, h1 = float(g.check("cut -d' ' -f1 /proc/uptime")), time.monotonic()
    assert h1 - h0 >= 3.0
    assert u1 - u0 < 1.5, f"guest time moved {u1 - u0:.2f} s over a 3 s pause"
    stats = ctl("vm-p", "query-stats")
    assert stats["paused-ns"] >= 4_000_000_000
    # Timers still work after the resume (no lost or stormed timer).
    start = time.monotonic()
    g.check("sleep 1")
    assert 0.9 < time.monotonic() - start < 10
    assert g.poweroff() == 0


def minimal_elf(path, code):
    """An RV64 ELF with one loadable segment of code at 0x80000000 (entry there)."""
    import struct
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 243, 1, 0x80000000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 120, 0x80000000, 0x80000000, len(code), len(code),
                       0x1000)
    path.write_bytes(ehdr + phdr + code)
    return path


def test_trap_storm_keeps_the_vm_answering(runtime_dir, tmp_path):
    """An illegal instruction whose trap vector (mtvec = 0) is not memory retires
    nothing, forever: the VM must still serve its control socket and quit."""
    elf = minimal_elf(tmp_path / "storm.elf", b"\0\0\0\0")
    sock = runtime_dir / "storm.sock"
    p = subprocess.Popen([HOSTEL, "run", "--bios", "none", "-k", str(elf), "--control", str(sock)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + CTL_TIMEOUT_S
        while not sock.exists() and time.time() < deadline:
            time.sleep(0.05)
        st = ctl(str(sock), "status")
        assert st["status"] == "running" and st["instructions"] == 0
        assert ctl(str(sock), "query-harts")["harts"][0]["priv"] == "M"
        ctl(str(sock), "quit")
        assert p.wait(timeout=CTL_TIMEOUT_S) == 0
    finally:
        p.kill()
        p.wait()
