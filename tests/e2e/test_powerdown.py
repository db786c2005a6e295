"""The power button: `powerdown` on the control socket asks the guest to power off.

Boots the default guest (busybox acpid runs `poweroff` on KEY_POWER) and checks what a
user sees: the POWERDOWN event and the `{}` reply, the guest's shutdown messages on the
console, and `hostel run` exiting 0 by itself soon after (SHUTDOWN reason "guest"); a
paused guest gets the press when it resumes.
A guest that does not handle the button (booted with `rdinit=/bin/sh`: no acpid) gets
the key press (two edges on the GPIO interrupt) and keeps running until `quit`.
State files hold the controller's `gpio` section; one written before it existed (the
section taken out) still restores.
"""

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time

import pexpect
import pytest
from statestream import sections, stream

REPO = pathlib.Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
CMDLINE = "console=ttyS0 earlycon=sbi"
SOCK_TIMEOUT_S = 30
POWEROFF_S = 20  # from the reply to the VMM's exit (the sanitizer build is slow)


@pytest.fixture
def runtime_dir(monkeypatch):
    """A private, short $XDG_RUNTIME_DIR (socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="hpwr") as d:
        monkeypatch.setenv("XDG_RUNTIME_DIR", d)
        yield pathlib.Path(d)


def run_argv(guest, name, cmdline=CMDLINE):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", cmdline, "--name", name, "--net", "none"]


class Client:
    """A control-socket connection that keeps the events it reads."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(SOCK_TIMEOUT_S)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")
        self.events = []
        assert "hostel" in self.read()

    def read(self):
        line = self.file.readline()
        assert line.endswith(b"\n"), f"connection closed: {line!r}"
        return json.loads(line)

    def call(self, execute):
        """Send a request; return its reply (events before it are kept in self.events)."""
        self.sock.sendall(json.dumps({"execute": execute}).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" not in msg:
                return msg
            self.events.append(msg)

    def rest(self):
        """The events until the VM closes the connection."""
        for line in self.file:
            self.events.append(json.loads(line))
        return self.events

    def close(self):
        self.file.close()
        self.sock.close()


def wait_socket(path, child):
    deadline = time.monotonic() + SOCK_TIMEOUT_S
    while not path.exists():
        assert child.isalive() and time.monotonic() < deadline, "no control socket"
        time.sleep(0.1)


def button_interrupts(g):
    """How often the power button's interrupt fired, from the guest's /proc/interrupts
    ("IRQ:  count-per-hart...  sifive-gpio  0 Edge  Power Button")."""
    line = g.check("grep 'Power Button' /proc/interrupts")
    fields = line.split(":", 1)[1].split()
    counts = [int(f) for f in fields[:next(i for i, f in enumerate(fields) if not f.isdigit())]]
    return sum(counts)


def test_powerdown_powers_off_an_acpid_guest(guest, boot, runtime_dir):
    g = boot(run_argv(guest, "pwr"))
    assert "Power Button" in g.check("cat /proc/bus/input/devices")
    assert g.check("ps | grep -c '[a]cpid'") == "1"
    client = Client(runtime_dir / "hostel" / "pwr.sock")
    assert client.call("powerdown") == {"return": {}}
    assert client.events == [{"event": "POWERDOWN"}], "the event comes before the reply"
    t0 = time.monotonic()
    g.child.expect_exact("hostel: power button pressed, powering off", timeout=POWEROFF_S)
    g.child.expect_exact("The system is going down NOW!", timeout=POWEROFF_S)
    g.child.expect(pexpect.EOF, timeout=POWEROFF_S)
    took = time.monotonic() - t0
    assert g.close() == 0
    assert took < POWEROFF_S
    assert client.rest()[-1] == {"event": "SHUTDOWN", "data": {"reason": "guest"}}
    client.close()


def test_a_paused_guest_sees_the_press_when_resumed(guest, boot, runtime_dir):
    g = boot(run_argv(guest, "pwr-p"))
    client = Client(runtime_dir / "hostel" / "pwr-p.sock")
    assert client.call("pause") == {"return": {"status": "paused"}}
    assert client.call("powerdown") == {"return": {}}
    time.sleep(2)
    assert g.child.isalive() and client.call("status")["return"]["status"] == "paused"
    assert client.call("resume") == {"return": {"status": "running"}}
    g.child.expect_exact("hostel: power button pressed, powering off", timeout=POWEROFF_S)
    g.child.expect(pexpect.EOF, timeout=POWEROFF_S)
    assert g.close() == 0
    client.close()


def test_powerdown_is_ignored_by_a_guest_without_acpid(guest, boot, runtime_dir):
    g = boot(run_argv(guest, "pwr-sh", CMDLINE + " rdinit=/bin/sh"), wait=False)
    g.child.expect(r"# $", timeout=180)
    # The prompt the console helpers expect (built so that its echo does not match it).
    g.child.sendline('P=hostel; export PS1="$P:~# "; mount -t proc proc /proc')
    g.child.expect(r"hostel:[^\r\n]*# $")
    assert "sifive-gpio" in g.check("grep 'Power Button' /proc/interrupts")
    before = button_interrupts(g)
    client = Client(runtime_dir / "hostel" / "pwr-sh.sock")
    assert client.call("powerdown") == {"return": {}}
    # The press and its release (100 ms of guest time) reach the guest as two edges.
    deadline = time.monotonic() + 20
    while button_interrupts(g) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert button_interrupts(g) == before + 2
    time.sleep(2)
    assert g.check("echo still-$((40 + 2))") == "still-42"
    assert client.call("status")["return"]["status"] == "running"
    assert client.call("quit") == {"return": {}}
    g.child.expect(pexpect.EOF, timeout=30)
    assert g.close() == 0
    assert client.rest()[-1] == {"event": "SHUTDOWN", "data": {"reason": "quit"}}
    client.close()


# --- State files: the controller's section, and files written before it existed.

def stream_without(data, drop):
    """The stream (zstd RAM: every section is in line) without the sections tagged drop."""
    header, secs = sections(data)
    return stream(header, [sec for sec in secs if sec[0] != drop])


def test_state_files_with_and_without_the_gpio_section(guest, boot, runtime_dir, tmp_path):
    g = boot(run_argv(guest, "pwr-st"))
    client = Client(runtime_dir / "hostel" / "pwr-st.sock")
    state = tmp_path / "vm.state"
    client.sock.sendall(json.dumps({"execute": "suspend", "arguments": {
        "file": str(state), "compress": True}}).encode() + b"\n")
    while "event" in (reply := client.read()):
        pass
    assert "return" in reply, reply
    g.child.expect(pexpect.EOF, timeout=60)
    assert g.close() == 0
    client.close()
    shown = subprocess.run([HOSTEL, "state", "show", str(state)], capture_output=True,
                           text=True, timeout=60)
    gpio = [s for s in json.loads(shown.stdout)["sections"] if s["tag"] == "gpio"]
    assert len(gpio) == 1 and gpio[0]["state"]["reg"][1] == 1, "input_en of the button's pin"

    # A file from before the power button: it restores, the guest runs on.
    old = tmp_path / "old.state"
    old.write_bytes(stream_without(state.read_bytes(), "gpio"))
    tags = [t for t, *_ in sections(old.read_bytes())[1]]
    assert "gpio" not in tags and "rtc" in tags
    r = boot([HOSTEL, "run", "--restore", str(old)], wait=False)
    r.child.sendline("echo restored-$((6 * 7))")
    r.child.expect_exact("restored-42", timeout=60)
    r.child.sendline("poweroff")
    r.child.expect(pexpect.EOF, timeout=60)
    assert r.close() == 0
