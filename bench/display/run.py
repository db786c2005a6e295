#!/usr/bin/python3
"""Display benchmark: hostel's VNC server beside QEMU 7.2's, in one run.

For the default guest (kernel + initramfs, 256 MiB, 1 hart, a virtio-gpu at
1024x768 with fbcon and a shell on tty1, a virtio keyboard and tablet) under
each emulator:

- hostel: `hostel run ... --display vnc=127.0.0.1:PORT` (libvncserver);
- QEMU: `qemu-system-riscv64 -M virt ... -global virtio-mmio.force-legacy=false
  -device virtio-gpu-device,xres=1024,yres=768 -device virtio-keyboard-device
  -device virtio-tablet-device -vnc 127.0.0.1:N` (virtio-gpu is a modern-only
  device: QEMU's virt board gives legacy virtio-mmio transports unless told).

A small RFB 3.8 client of our own (security None, 32-bit true colour,
encodings Raw or ZRLE: a ZRLE rectangle is its length and zlib bytes, counted,
not decoded) measures, always asking for the next incremental update as soon
as one arrives (as noVNC and most viewers do):

- idle: bytes and updates a second over 10 s with the shell at its prompt
  (fbcon's cursor blink off): dirty rectangles should make this ~0;
- redraw: the guest writes two prepared screenfuls of random text to tty1
  in turn as fast as it can (fbcon scrolls and redraws the whole screen:
  the guest's DRM fbdev emulation does not flush what is written to
  /dev/fb0, under QEMU either); frames a second seen by the client (the
  updated area over 10 s divided by the screen's), bytes per frame, and the
  guest's own screenfuls a second, with Raw and with ZRLE;
- key to pixel: a key press sent through RFB ('a' on the shell of tty1)
  until the first update with pixels in it; 20 presses (each followed by a
  BackSpace), median and 90th percentile;
- host CPU: the VMM's CPU over 10 s at the idle prompt with the client
  attached (polling as above), against a boot of the same VM without a
  display (hostel: no --display; QEMU: no virtio-gpu/input, no VNC).

Prints one table, hostel and QEMU side by side with the ratio, and
PASS/MISS against issue 14's targets (key to pixel < 50 ms; idle CPU with
a client < 1.5x without a display).  See docs/bench.md ("Display").

Exit status: 0 = every step ran; 1 = a step failed (the table is still
printed); 2 = usage error; 3 = with --check, a target was missed.
"""

import argparse
import os
import pathlib
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import benchlib  # noqa: E402  (bench/benchlib.py)

REPO = pathlib.Path(__file__).resolve().parents[2]


boot = benchlib.load("bench_boot", "bench/boot/run.py")
Guest, BenchError = boot.Guest, boot.BenchError

WIDTH, HEIGHT = 1024, 768
MEM_MIB = 256
MEASURE_S = 10.0
KEY_PRESSES = 20
ENC_RAW, ENC_COPYRECT, ENC_ZRLE = 0, 1, 16
TARGET_KEY_MS = 50.0
TARGET_CPU_RATIO = 1.5
TEXT = (WIDTH // 8) * (HEIGHT // 16)  # a screenful of fbcon's 8x16 font
PREPARE = ("echo 0 > /sys/class/graphics/fbcon/cursor_blink; "
           f"tr -dc 'a-zA-Z0-9' < /dev/urandom | head -c {2 * TEXT} > /tmp/t && "
           f"head -c {TEXT} /tmp/t > /tmp/ta && tail -c {TEXT} /tmp/t > /tmp/tb && "
           "ls -l /tmp/ta /tmp/tb")
# Two screenfuls of text in turn on tty1: fbcon scrolls and redraws the whole screen.
REDRAW = ("(n=0; while [ ! -e /tmp/stop ]; do cat /tmp/ta > /dev/tty1; cat /tmp/tb > /dev/tty1; "
          "n=$((n+2)); echo $n > /tmp/frames; done) & true")


def progress(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- a minimal RFB client

class Rfb:
    """RFB 3.8, security None, shared; 32-bit true colour; Raw or ZRLE; key events."""

    def __init__(self, port, encoding, timeout=20):
        self.bytes = 0
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"no VNC server on port {port}") from None
                time.sleep(0.1)
        if self.recv(12)[:4] != b"RFB ":
            raise BenchError("not an RFB server")
        self.s.sendall(b"RFB 003.008\n")
        n = self.recv(1)[0]
        if n == 0 or 1 not in self.recv(n):
            raise BenchError("the VNC server does not offer security type None")
        self.s.sendall(b"\x01")
        if self.recv(4) != b"\0\0\0\0":
            raise BenchError("RFB security handshake failed")
        self.s.sendall(b"\x01")
        init = self.recv(24)
        self.width, self.height = struct.unpack(">HH", init[:4])
        self.recv(struct.unpack(">I", init[20:24])[0])
        # 32 bpp, depth 24, little-endian, true colour, 8 bits a channel (R at 16, G 8, B 0)
        self.s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        encs = [encoding, ENC_COPYRECT]
        self.s.sendall(struct.pack(f">BxH{len(encs)}i", 2, len(encs), *encs))
        self.bytes = 0

    def recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise BenchError("the VNC server closed the connection")
            buf += chunk
        self.bytes += n
        return bytes(buf)

    def request(self, incremental=True):
        self.s.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.width,
                                   self.height))

    def key(self, keysym):
        self.s.sendall(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0, keysym))

    def update(self, timeout):
        """The next FramebufferUpdate's (area in pixels, rectangles), or None on time-out.
        Other server messages are read and skipped."""
        self.s.settimeout(timeout)
        try:
            while True:
                kind = self.recv(1)[0]
                self.s.settimeout(20)
                if kind == 0:
                    return self._rects()
                if kind == 2:  # Bell
                    continue
                if kind == 3:  # ServerCutText
                    self.recv(3)
                    self.recv(struct.unpack(">I", self.recv(4))[0])
                    continue
                if kind == 1:  # SetColourMapEntries
                    self.recv(3)
                    self.recv(6 * struct.unpack(">H", self.recv(2))[0])
                    continue
                raise BenchError(f"unexpected RFB server message {kind}")
        except socket.timeout:
            return None

    def _rects(self):
        n = struct.unpack(">xH", self.recv(3))[0]
        area = 0
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.recv(12))
            if enc == ENC_RAW:
                self.recv(w * h * 4)
            elif enc == ENC_COPYRECT:
                self.recv(4)
            elif enc == ENC_ZRLE:
                self.recv(struct.unpack(">I", self.recv(4))[0])
            else:
                raise BenchError(f"unexpected rectangle encoding {enc}")
            area += w * h
        return area, n

    def close(self):
        self.s.close()


class Poller:
    """A client that asks for the next update as soon as one arrives, on a thread."""

    def __init__(self, port, encoding):
        self.rfb = Rfb(port, encoding)
        self.rfb.request(incremental=False)
        self.rfb.update(30)
        self.area = self.updates = 0
        self.error = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            self.rfb.request()
            while not self.stop.is_set():
                got = self.rfb.update(0.2)
                if got:  # one request outstanding at a time, as viewers do
                    self.area += got[0]
                    self.updates += 1
                    self.rfb.request()
        except (BenchError, OSError) as e:
            self.error = str(e)

    def sample(self):
        return self.rfb.bytes, self.area, self.updates

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.rfb.close()
        if self.error:
            raise BenchError(f"VNC client: {self.error}")


# ---------------------------------------------------------------- the measures

def window(poller, seconds, pid=None):
    """Bytes, screen-frames and updates a second over `seconds`; the VMM's CPU % if pid."""
    b0, a0, u0 = poller.sample()
    c0, t0 = (boot.cpu_seconds(pid) if pid else 0), time.monotonic()
    time.sleep(seconds)
    b1, a1, u1 = poller.sample()
    c1, t1 = (boot.cpu_seconds(pid) if pid else 0), time.monotonic()
    dt = t1 - t0
    return {"bytes_s": (b1 - b0) / dt, "fps": (a1 - a0) / (WIDTH * HEIGHT) / dt,
            "updates_s": (u1 - u0) / dt, "frame_bytes": (b1 - b0) / max(a1 - a0, 1) *
            WIDTH * HEIGHT, "cpu": 100.0 * (c1 - c0) / dt}


def key_latencies(port):
    """Milliseconds from a key press to the first update with pixels, KEY_PRESSES times."""
    rfb = Rfb(port, ENC_ZRLE)
    rfb.request(incremental=False)
    rfb.update(30)
    out = []
    try:
        for i in range(KEY_PRESSES):
            rfb.request()
            while rfb.update(0.3) is not None:  # drain what the last BackSpace drew
                rfb.request()
            t0 = time.perf_counter()  # one request outstanding, nothing left to draw
            rfb.key(ord("a"))
            while True:
                got = rfb.update(5)
                if got is None:
                    raise BenchError(f"key {i}: no update within 5 s")
                if got[0]:
                    out.append((time.perf_counter() - t0) * 1e3)
                    break
                rfb.request()
            rfb.key(0xFF08)  # BackSpace
    finally:
        rfb.close()
    return out


def guest_frames(guest):
    out = guest.run("cat /tmp/frames 2>/dev/null || echo 0")
    return int(out.split()[-1])


def measure_display(guest, port, result):
    guest.run(PREPARE, 120)
    poller = Poller(port, ENC_ZRLE)
    try:
        time.sleep(1.0)
        idle = window(poller, MEASURE_S, guest.pid)
        result.update(idle_bytes_s=idle["bytes_s"], idle_updates_s=idle["updates_s"],
                      cpu_display=idle["cpu"])
    finally:
        poller.close()
    lat = key_latencies(port)
    result.update(key_median=statistics.median(lat),
                  key_p90=sorted(lat)[int(0.9 * (len(lat) - 1))])
    guest.run(REDRAW)
    try:
        for name, enc in (("raw", ENC_RAW), ("zrle", ENC_ZRLE)):
            poller = Poller(port, enc)
            try:
                time.sleep(1.0)
                f0 = guest_frames(guest)
                w = window(poller, MEASURE_S)
                f1 = guest_frames(guest)
            finally:
                poller.close()
            result[f"{name}_fps"] = w["fps"]
            result[f"{name}_frame_kib"] = w["frame_bytes"] / 1024
            result[f"{name}_guest_fps"] = (f1 - f0) / MEASURE_S
    finally:
        guest.run("touch /tmp/stop; sleep 1")


def idle_cpu_without_display(opts, emu, result):
    argv = (hostel_argv if emu == "hostel" else qemu_argv)(opts, None)
    g = Guest(f"{emu} nodisplay", argv, opts.work / f"{emu}-nodisplay.log", opts.boot_timeout)
    try:
        g.wait_prompt()
        time.sleep(1.0)
        result["cpu_plain"] = boot.idle_cpu_percent(g.pid, MEASURE_S)
        g.poweroff()
    finally:
        g.close()


def hostel_argv(opts, port):
    argv = [opts.hostel, "run", "-m", f"{MEM_MIB}M", "-c", "1", "-k", str(opts.guest / "Image"),
            "-i", str(opts.guest / "initramfs.cpio.gz"), "-p", boot.CMDLINE, "--net", "none"]
    if port:
        argv += ["--display", f"vnc=127.0.0.1:{port},width={WIDTH},height={HEIGHT}", "--input"]
    return argv


def qemu_argv(opts, port):
    argv = [opts.qemu, "-M", "virt", "-smp", "1", "-m", f"{MEM_MIB}M", "-display", "none",
            "-serial", "stdio", "-monitor", "none", "-nic", "none",
            "-kernel", str(opts.guest / "Image"), "-initrd", str(opts.guest / "initramfs.cpio.gz"),
            "-append", boot.CMDLINE]
    if port:
        argv += ["-global", "virtio-mmio.force-legacy=false",
                 "-device", f"virtio-gpu-device,xres={WIDTH},yres={HEIGHT}",
                 "-device", "virtio-keyboard-device", "-device", "virtio-tablet-device",
                 "-vnc", f"127.0.0.1:{port - 5900}"]
    return argv


def free_port():
    for port in range(5990, 6090):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise BenchError("no free port in 5990-6089")


def run_emulator(opts, emu, result):
    idle_cpu_without_display(opts, emu, result)
    port = free_port()
    argv = (hostel_argv if emu == "hostel" else qemu_argv)(opts, port)
    g = Guest(f"{emu} display", argv, opts.work / f"{emu}-display.log", opts.boot_timeout)
    try:
        g.wait_prompt()
        measure_display(g, port, result)
        g.poweroff()
    finally:
        g.close()


# ---------------------------------------------------------------- the table

FIGURES = [  # key, label, unit
    ("idle_bytes_s", "idle screen: bytes/s sent to the client", "B/s"),
    ("idle_updates_s", "idle screen: updates/s", "/s"),
    ("raw_fps", "redraw, Raw: frames/s the client sees", "fps"),
    ("raw_frame_kib", "redraw, Raw: KiB per frame", "KiB"),
    ("raw_guest_fps", "redraw, Raw: frames/s the guest draws", "fps"),
    ("zrle_fps", "redraw, ZRLE: frames/s the client sees", "fps"),
    ("zrle_frame_kib", "redraw, ZRLE: KiB per frame", "KiB"),
    ("zrle_guest_fps", "redraw, ZRLE: frames/s the guest draws", "fps"),
    ("key_median", "key press to pixels, median", "ms"),
    ("key_p90", "key press to pixels, 90th percentile", "ms"),
    ("cpu_plain", "idle VM without a display: host CPU", "%"),
    ("cpu_display", "idle VM, VNC client attached: host CPU", "%"),
    ("cpu_ratio", "  with a client / without a display", "x"),
]


def target(key, r):
    if key == "key_median":
        v = r.get(key)
        return f"< {TARGET_KEY_MS:g}", v is not None and v < TARGET_KEY_MS
    if key == "cpu_ratio":
        v = r.get(key)
        return f"< {TARGET_CPU_RATIO:g}", v is not None and v < TARGET_CPU_RATIO
    return None


def print_table(results, failed):
    for r in results.values():
        if r.get("cpu_plain") and r.get("cpu_display") is not None:
            r["cpu_ratio"] = r["cpu_display"] / r["cpu_plain"]
    head = ["figure", "hostel", "qemu", "hostel/qemu", "target", "verdict"]
    rows, verdicts = [], []
    h, q = results.get("hostel", {}), results.get("qemu", {})
    for key, label, unit in FIGURES:
        hv, qv = h.get(key), q.get(key)
        cells = []
        for emu, v in (("hostel", hv), ("qemu", qv)):
            cells.append("FAIL" if emu in failed and v is None else
                         "-" if v is None else f"{v:.2f}" if v < 10 else f"{v:.1f}")
        ratio = f"{hv / qv:.2f}" if hv is not None and qv else "-"
        t = target(key, h)
        mark = ""
        if t:
            mark = "PASS" if t[1] else ("FAIL" if "hostel" in failed else "MISS")
            verdicts.append(mark)
        rows.append([f"{label} ({unit})", *cells, ratio, t[0] if t else "", mark])
    benchlib.print_table(head, rows)
    return verdicts


# ---------------------------------------------------------------- main

def parse_options(argv):
    p = argparse.ArgumentParser(
        description="VNC display benchmark: hostel beside QEMU (docs/bench.md, Display)")
    p.add_argument("build_dir", nargs="?", default="build",
                   help="meson build directory with hostel (default: build)")
    p.add_argument("--no-qemu", action="store_true", help="hostel only")
    p.add_argument("--guest", help="guest directory with Image and initramfs.cpio.gz "
                   "(default: $HOSTEL_GUEST_DIR, else guest/build.sh's)")
    p.add_argument("--boot-timeout", type=boot.positive(int), default=boot.BOOT_TIMEOUT_S,
                   help="seconds to reach the prompt (default 300)")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    return p.parse_args(argv)


def on_signal(signum, _frame):
    Guest.close_all()
    sys.exit(128 + signum)


def main(argv):
    opts = parse_options(argv)
    build = pathlib.Path(opts.build_dir)
    opts.hostel = os.environ.get("HOSTEL_BIN", str(build / "hostel"))
    opts.qemu = os.environ.get("QEMU_BIN", "qemu-system-riscv64")
    if not os.access(opts.hostel, os.X_OK):
        print(f"bench/display: no hostel at {opts.hostel} (build first)", file=sys.stderr)
        return 2
    opts.guest = pathlib.Path(opts.guest or os.environ.get("HOSTEL_GUEST_DIR") or
                              subprocess.run([str(REPO / "guest" / "build.sh")],
                                             capture_output=True, text=True,
                                             check=True).stdout.strip())
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    emus = ["hostel"] + ([] if opts.no_qemu else ["qemu"])
    results, failed = {}, set()
    with tempfile.TemporaryDirectory(prefix="hostel-bench-display-") as work:
        opts.work = pathlib.Path(work)
        qemu_version = "" if opts.no_qemu else subprocess.run(
            [opts.qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"bench/display: {opts.hostel} vs {qemu_version or '(no qemu)'}")
        print(f"guest: {opts.guest}, {MEM_MIB} MiB, 1 hart, {WIDTH}x{HEIGHT}; "
              f"host: {os.cpu_count()} CPUs, load average {load}")
        for emu in emus:
            progress(f"{emu}")
            results[emu] = {}
            try:
                run_emulator(opts, emu, results[emu])
                progress(f"  {results[emu]}")
            except (BenchError, OSError) as e:
                failed.add(emu)
                progress(f"FAILED: {emu}: {e}")
            finally:
                Guest.close_all()
        verdicts = print_table(results, failed)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    if failed:
        return 1
    return 3 if opts.check and "MISS" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
