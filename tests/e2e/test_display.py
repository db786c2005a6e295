"""The display's front ends (docs/display.md "VNC", "screendump") with the default guest.

`hostel run --display vnc=127.0.0.1:PORT,width=800,height=600` serves the screen to a real
VNC client (Debian's vncsnapshot), whose capture has the configured size; a raw RFB client
(below) sends key events that reach the guest's keyboard (/dev/input/eventN). The
screendump either writes a PNG of the configured size or, while the guest shows nothing
(no DRM driver drawing), fails with one clear line. A TCP address beyond loopback without
a password is refused. A command typed through VNC and its output are read back by OCR
(tesseract) from vncsnapshot's capture. After a live snapshot's revert the screen is what
it was when the snapshot was taken, and VNC keys still reach the shell.
"""

import re
import shutil
import socket
import struct
import subprocess
import time
import zlib

import pytest

from vmtest import HOSTEL, PROMPT, spawn, hostel, wait_exit

CMDLINE = "console=ttyS0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jpeg_size(data):
    """(width, height) from a JPEG's SOFn marker."""
    i = 2
    while i + 9 < len(data):
        assert data[i] == 0xFF, f"bad JPEG marker at {i}"
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF marker in the JPEG")


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    return struct.unpack(">II", data[16:24])


def png_lit_bytes(data):
    """How many bytes of an 8-bit RGB PNG's filtered scanlines are not zero. The scanlines of an
    all-black image are all zero whatever the filters, so 0 means black and more means pixels
    are lit (the row filter bytes are left out)."""
    width, height = png_size(data)
    i, idat = 8, b""
    while i < len(data):
        length, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"IDAT":
            idat += data[i + 8:i + 8 + length]
        i += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    assert len(raw) == stride * height, (len(raw), stride, height)
    return sum(1 for r in range(height) for b in raw[r * stride + 1:(r + 1) * stride] if b)


class Rfb:
    """A minimal RFB 3.8 client: security None, ClientInit, KeyEvent."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert self.recv(12) == b"RFB 003.008\n"
        self.s.sendall(b"RFB 003.008\n")
        n = self.recv(1)[0]
        assert 1 in self.recv(n), "security type None offered"
        self.s.sendall(b"\x01")
        assert self.recv(4) == b"\0\0\0\0"
        self.s.sendall(b"\x01")  # shared
        init = self.recv(24)
        self.width, self.height = struct.unpack(">HH", init[:4])
        self.recv(struct.unpack(">I", init[20:24])[0])

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            assert chunk, "the server closed the connection"
            data += chunk
        return data

    def key(self, keysym, down):
        self.s.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def type_line(self, text):
        """Press and release each character's key, then Return."""
        for sym in [ord(ch) for ch in text] + [0xFF0D]:
            self.key(sym, True)
            self.key(sym, False)

    def close(self):
        self.s.close()


def keyboard_event_node(child):
    """The guest's /dev/input/eventN of the virtio keyboard."""
    child.sendline("cat /proc/bus/input/devices; echo input-\"\"done")
    child.expect(r"input-done\r*\n")
    text = child.before.replace("\r", "")
    child.expect(PROMPT)
    for block in text.split("\n\n"):
        if 'N: Name="hostel virtio keyboard"' in block:
            return re.search(r"H: Handlers=.*(event\d+)", block).group(1)
    raise AssertionError(f"no virtio keyboard in {text!r}")


@pytest.fixture
def vnc_vm(guest, vm_env, tmp_path):
    port = free_port()
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    argv = [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--net", "none", "--name", "vnc",
            "--display", f"vnc=127.0.0.1:{port},width=800,height=600"]
    child = spawn(argv, vm_env, log)
    child.expect(PROMPT)
    yield child, port
    if child.isalive():
        child.sendline("poweroff")
        assert wait_exit(child) == 0


@pytest.mark.skipif(shutil.which("vncsnapshot") is None, reason="vncsnapshot not installed")
def test_vncsnapshot_captures_the_configured_size(vnc_vm, tmp_path):
    child, port = vnc_vm
    out = tmp_path / "screen.jpg"
    # vncsnapshot's DISPLAY# is the port minus 5900; "host::port" takes a port directly.
    proc = subprocess.run(["vncsnapshot", "-quiet", "-allowblank", f"127.0.0.1::{port}",
                           str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert jpeg_size(out.read_bytes()) == (800, 600)


def test_keys_reach_the_guest_keyboard(vnc_vm):
    child, port = vnc_vm
    node = keyboard_event_node(child)
    child.sendline(f"cat /dev/input/{node} > /tmp/ev & echo started-\"\"reader")
    child.expect("started-reader")
    child.expect(PROMPT)
    time.sleep(1)
    rfb = Rfb(port)
    assert (rfb.width, rfb.height) == (800, 600)
    for sym in (ord("a"), 0xFF0D):  # 'a', Return
        rfb.key(sym, True)
        rfb.key(sym, False)
    rfb.close()
    time.sleep(2)
    child.sendline("kill %1; od -An -tu2 -v -w24 /tmp/ev; echo ev-\"\"done")
    child.expect(r"ev-done\r*\n")
    text = child.before
    child.expect(PROMPT)
    # struct input_event on RV64: 16 bytes of time, then type, code, value (u16 u16 s32).
    events = [tuple(int(x) for x in line.split()[8:11])
              for line in text.replace("\r", "").split("\n") if len(line.split()) == 12]
    assert (1, 30, 1) in events and (1, 30, 0) in events, events  # KEY_A down, up
    assert (1, 28, 1) in events, events  # KEY_ENTER


def test_screendump(vnc_vm, vm_env, tmp_path):
    child, port = vnc_vm
    out = tmp_path / "shot.png"
    r = hostel(vm_env, "ctl", "vnc", "screendump", str(out))
    # the default guest's fbcon draws its terminal (the shell on tty1) on the display
    assert r.returncode == 0, r.stderr
    assert png_size(out.read_bytes()) == (800, 600)
    assert png_lit_bytes(out.read_bytes()) > 100, "the screen shows the guest's prompt (black: 0)"
    r = hostel(vm_env, "ctl", "vnc", "screendump", str(tmp_path / "no" / "x.png"))
    assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
    r = hostel(vm_env, "ctl", "vnc", "screendump", "{}")
    assert r.returncode == 1 and 'expected {"file": PATH}' in r.stderr, r.stderr


def test_no_display_and_open_tcp_refused(guest, vm_env, tmp_path):
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    argv = [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--net", "none", "--name", "nodisp"]
    child = spawn(argv, vm_env, log)
    child.expect(PROMPT)
    r = hostel(vm_env, "ctl", "nodisp", "screendump", str(tmp_path / "x.png"))
    assert r.returncode == 1 and "the VM has no display" in r.stderr, r.stderr
    child.sendline("poweroff")
    assert wait_exit(child) == 0
    r = hostel(vm_env, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
               "--net", "none", "--display", f"vnc=0.0.0.0:{free_port()}")
    assert r.returncode != 0 and "needs a password" in r.stderr, r.stderr


def vcs1(child):
    """The text of the guest's tty1 screen (what fbcon draws)."""
    child.sendline("tr -s ' ' < /dev/vcs1; echo; echo vcs-\"\"done")
    child.expect(r"vcs-done\r*\n")
    text = child.before
    child.expect(PROMPT)
    return text


def test_typing_through_vnc_runs_a_command_on_the_screen(vnc_vm, vm_env, tmp_path):
    """Keys from a VNC client reach the shell on tty1; its output is on the screen, in the
    guest's screen text and in a screendump that changed."""
    child, port = vnc_vm
    before = tmp_path / "before.png"
    assert hostel(vm_env, "ctl", "vnc", "screendump", str(before)).returncode == 0
    assert "9991" not in vcs1(child)
    rfb = Rfb(port)
    rfb.type_line("seq 9990 9992")
    rfb.close()
    deadline, text = time.monotonic() + 20, ""
    while time.monotonic() < deadline and "9991" not in text:
        time.sleep(0.5)
        text = vcs1(child)
    assert "seq 9990 9992" in text and "9991" in text, text  # the command, and its output
    after = tmp_path / "after.png"
    assert hostel(vm_env, "ctl", "vnc", "screendump", str(after)).returncode == 0
    assert after.read_bytes() != before.read_bytes(), "the screen changed"
    assert png_lit_bytes(after.read_bytes()) > png_lit_bytes(before.read_bytes())


@pytest.mark.skipif(shutil.which("vncsnapshot") is None or shutil.which("tesseract") is None,
                    reason="vncsnapshot or tesseract-ocr not installed")
def test_vnc_capture_reads_as_what_was_typed(vnc_vm, tmp_path):
    """A real VNC client's capture of the screen, read by OCR (tesseract): a command typed
    through VNC and its output are on it (the output only once the command ran)."""
    child, port = vnc_vm
    child.sendline("echo 0 > /sys/class/graphics/fbcon/cursor_blink; clear > /dev/tty1")
    child.expect(PROMPT)
    rfb = Rfb(port)
    rfb.type_line("seq 4241 4243")
    rfb.close()
    shot, text = tmp_path / "screen.jpg", ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1)
        r = subprocess.run(["vncsnapshot", "-quiet", "-allowblank", f"127.0.0.1::{port}",
                            str(shot)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        text = subprocess.run(["tesseract", str(shot), "-", "--psm", "6"], capture_output=True,
                              text=True, timeout=120).stdout
        if "4242" in text:
            break
    (tmp_path / "screen.txt").write_text(text)
    assert "seq 4241 4243" in text and "4242" in text.replace("seq 4241 4243", ""), text


def test_screen_and_keys_after_a_snapshot_revert(vnc_vm, vm_env, tmp_path):
    """A live snapshot of a VM with a display, the screen changed, the snapshot reverted:
    the screen is again what it was when the snapshot was taken (screendumps equal), and
    keys from a VNC client still reach the shell on tty1."""
    child, port = vnc_vm
    child.sendline("echo 0 > /sys/class/graphics/fbcon/cursor_blink; clear > /dev/tty1; "
                   "echo before-the-snapshot > /dev/tty1; sleep 1")
    child.expect(PROMPT)
    shots = {k: tmp_path / f"{k}.png" for k in ("taken", "changed", "reverted")}
    assert hostel(vm_env, "ctl", "vnc", "screendump", str(shots["taken"])).returncode == 0
    r = hostel(vm_env, "snapshot", "create", "vnc", "s1")
    assert r.returncode == 0, r.stderr
    child.sendline("echo after-the-snapshot > /dev/tty1; sleep 1")
    child.expect(PROMPT)
    assert hostel(vm_env, "ctl", "vnc", "screendump", str(shots["changed"])).returncode == 0
    assert shots["changed"].read_bytes() != shots["taken"].read_bytes()
    r = hostel(vm_env, "snapshot", "revert", "vnc", "s1")
    assert r.returncode == 0, r.stderr
    time.sleep(1)
    assert hostel(vm_env, "ctl", "vnc", "screendump", str(shots["reverted"])).returncode == 0
    assert shots["reverted"].read_bytes() == shots["taken"].read_bytes(), "the screen came back"
    rfb = Rfb(port)
    rfb.type_line("seq 7770 7772")
    rfb.close()
    deadline, text = time.monotonic() + 20, ""
    while time.monotonic() < deadline and "7771" not in text:
        time.sleep(0.5)
        text = vcs1(child)
    assert "7771" in text, text
