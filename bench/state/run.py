#!/usr/bin/python3
"""State benchmark: suspend, restore and live snapshots of the default guest.

It boots the default Linux guest (kernel + initramfs, 512 MiB of RAM) under
hostel and measures, for the guest idle at its prompt and again after the
guest has filled a tmpfs with 400 MiB of /dev/urandom data:

- pause: round trip of the control socket's `pause` request (the VM stops
  its harts before the reply), and of the `hostel pause NAME` command;
- save: how long the guest stands still while `save` writes its state to a
  file (the reply's "pause-ms", measured by the VMM), with flat RAM and with
  zstd (`"compress": true`), and the file's size (apparent and on disk);
- suspend: the same for `suspend` (flat), which then ends the VMM;
- restore: from the start of `hostel run --restore FILE` (its exec)
  to its run loop's first guest slice (HOSTEL_TRACE_START=1 makes hostel
  print that instant on CLOCK_MONOTONIC) and to the shell's answer to an
  `echo` typed on the console, for the flat and the zstd files;
- live snapshot: the guest's stand-still of `snapshot-create` ("pause-ms")
  and the time until the snapshot is durable ("total-ms"; the round trip
  for a hostel that does not report it), for a VM without disks and, in a
  second boot, one with a qcow2 disk, idle and while the guest writes to
  the disk (64 KiB direct writes, a sync after every 16).  --snapshots-only
  measures only these.

QEMU (`qemu-system-riscv64 -M virt`, same kernel, initramfs and RAM) does the
equivalent through QMP in the same run unless --no-qemu: `stop` round trip,
`stop` + `migrate "exec:cat > FILE"` + `cont` (the stand-still of a save),
`savevm` with a qcow2 disk (QEMU's snapshot stops the VM throughout), and
`-incoming "exec:cat FILE"` to running (query-status) and to the shell's echo.

Figures are printed, not checked (exit 0 unless something failed, 1 then;
with --check, 3 when a target of issue 5 is missed). See docs/bench.md.
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import pexpect

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import benchlib  # noqa: E402  (bench/benchlib.py)

REPO = pathlib.Path(__file__).resolve().parents[2]
boot = benchlib.load("bench_boot", "bench/boot/run.py")
Guest, BenchError = boot.Guest, boot.BenchError

MEM_MIB = 512
DIRTY_MIB = 400
SETTLE_S = 5.0
CMD_TIMEOUT_S = 300
# The guest's /dev/shm holds at most half of RAM: a tmpfs of our own holds the 400 MiB.
DIRTY_CMD = (f"mkdir -p /mnt/dirty && mount -t tmpfs -o size={DIRTY_MIB + 16}m tmpfs /mnt/dirty"
             f" && dd if=/dev/urandom of=/mnt/dirty/x bs=1M count={DIRTY_MIB} 2>/dev/null"
             f" && ls -l /mnt/dirty/x")
TARGETS_MS = {"suspend-idle": 300.0, "restore-insn-idle": 50.0, "snapshot-idle": 100.0}


def progress(text):
    print(text, file=sys.stderr, flush=True)


def mib(nbytes):
    return nbytes / (1 << 20)


# ---------------------------------------------------------------- control sockets

class Control:
    """A line-delimited JSON client: hostel's control socket or QEMU's QMP."""

    def __init__(self, path, qmp=False, timeout=CMD_TIMEOUT_S):
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(str(path))
                break
            except OSError as e:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise BenchError(f"{path}: cannot connect: {e}") from None
                time.sleep(0.005)
        self.file = self.sock.makefile("rwb")
        self._read()  # greeting
        if qmp:
            self.call("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise BenchError("control socket closed")
        return json.loads(line)

    def call(self, command, args=None):
        """Send one request; return (its "return" member, round-trip seconds)."""
        req = {"execute": command}
        if args is not None:
            req["arguments"] = args
        t0 = time.perf_counter()
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        while True:
            msg = self._read()
            if "event" not in msg:
                break
        dt = time.perf_counter() - t0
        if "error" in msg:
            raise BenchError(f"{command}: {msg['error'].get('desc', msg['error'])}")
        return msg.get("return"), dt

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


class ExecGuest(Guest):
    """A Guest whose child notes the time just before its exec: t0 is then process start.

    The fork and pty set-up of pexpect (tens of ms on a loaded host) are not
    the emulator's start-up.  The child writes CLOCK_MONOTONIC to a file
    (pexpect closes inherited descriptors before preexec_fn runs).
    """

    def __init__(self, name, argv, log_path, boot_timeout=boot.BOOT_TIMEOUT_S):
        stamp_path = pathlib.Path(str(log_path) + ".exec")

        def stamp():
            with open(stamp_path, "w") as f:
                f.write(repr(time.monotonic()))

        self.name, self.boot_timeout = name, boot_timeout
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.started = time.perf_counter()
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                                   timeout=boot.SHORT_TIMEOUT_S, dimensions=(50, 200),
                                   preexec_fn=stamp)
        self.child.logfile_read = self.log
        self.pid = self.child.pid
        Guest.live.append(self)
        # pexpect.spawn returns once the exec succeeded: the stamp is written.
        self.t0 = float(stamp_path.read_text())


def file_sizes(path):
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


# ---------------------------------------------------------------- hostel

class HostelVM:
    """A hostel guest with a console (pexpect) and a control socket."""

    def __init__(self, opts, name, argv, log):
        self.opts, self.name = opts, name
        self.sock_path = opts.work / "run" / "hostel" / f"{name}.sock"
        self.guest = ExecGuest(f"hostel {name}", [opts.hostel] + argv + ["--name", name], log,
                               opts.boot_timeout)
        self.t0 = self.guest.t0
        self.ctl = None

    def connect(self):
        self.ctl = Control(self.sock_path)
        return self.ctl

    def quit(self):
        if self.ctl:
            try:
                self.ctl.call("quit")
            except (BenchError, OSError):
                pass
            self.ctl.close()
        try:
            self.guest.expect(pexpect.EOF, 30, "exit after quit")
        finally:
            self.guest.close()


def hostel_boot(opts, name, disk=None):
    argv = ["run", "-m", f"{MEM_MIB}M", "-k", str(opts.guest / "Image"),
            "-i", str(opts.guest / "initramfs.cpio.gz"), "-p", boot.CMDLINE]
    if disk:
        argv += ["-d", str(disk)]
    if opts.hostel_net:
        argv += ["--net", opts.hostel_net]
    vm = HostelVM(opts, name, argv, opts.work / f"{name}.log")
    progress(f"hostel {name}: booting")
    vm.guest.wait_prompt()
    vm.connect()
    time.sleep(SETTLE_S)
    return vm


def hostel_pause(opts, vm, res, label):
    rtt, cli = [], []
    for _ in range(opts.runs):
        rtt.append(vm.ctl.call("pause")[1] * 1e3)
        vm.ctl.call("resume")
        time.sleep(0.2)
    for _ in range(opts.runs):
        t0 = time.perf_counter()
        subprocess.run([opts.hostel, "pause", vm.name], check=True, capture_output=True)
        cli.append((time.perf_counter() - t0) * 1e3)
        subprocess.run([opts.hostel, "resume", vm.name], check=True, capture_output=True)
        time.sleep(0.2)
    res[f"pause-rtt-{label}"] = rtt
    res[f"pause-cli-{label}"] = cli


def hostel_saves(opts, vm, res, label):
    """save flat and zstd opts.runs times each; keep the last file of each for restores."""
    files = {}
    for kind in ("flat", "zstd"):
        pauses = []
        for i in range(opts.runs):
            path = opts.work / f"{label}-{kind}-{i}.state"
            ret, _ = vm.ctl.call("save", {"file": str(path), "compress": kind == "zstd"})
            pauses.append(ret["pause-ms"])
            res[f"size-{kind}-{label}"] = file_sizes(path)
            if kind in files:
                files[kind].unlink()
            files[kind] = path
            time.sleep(0.5)
        res[f"save-{kind}-{label}"] = pauses
        progress(f"hostel {label}: save {kind} pause-ms {pauses}, "
                 f"{mib(res[f'size-{kind}-{label}'][1]):.1f} MiB on disk")
    return files


def hostel_snapshots(opts, vm, res, key):
    pauses, totals = [], []
    for i in range(opts.runs):
        ret, rtt = vm.ctl.call("snapshot-create", {"name": f"s{i}"})
        pauses.append(ret["pause-ms"])
        totals.append(ret.get("total-ms", rtt * 1e3))
        vm.ctl.call("snapshot-delete", {"name": f"s{i}"})
        time.sleep(0.5)
    res[key] = pauses
    res[f"{key}-total"] = totals
    progress(f"hostel {key}: pause-ms {pauses}, total-ms {totals}")


# Rewrites 1 MiB of the disk in 64 KiB direct writes, then syncs, until /tmp/stop-writer.
DISK_WRITER = ("(i=0; while [ ! -e /tmp/stop-writer ]; do dd if=/dev/zero of=/dev/vda bs=64k "
               "count=16 seek=$((i % 1024 * 16)) oflag=direct 2>/dev/null; sync; i=$((i+1)); "
               "done) & true")


def run_hostel_disk_snapshots(opts, res):
    disk = opts.work / "disk.qcow2"
    subprocess.run([opts.hostel, "img", "create", "-f", "qcow2", str(disk), "1G"], check=True,
                   capture_output=True)
    vm = hostel_boot(opts, "bench-disk", disk)
    try:
        hostel_snapshots(opts, vm, res, "snapshot-qcow2-idle")
        vm.guest.run(DISK_WRITER, CMD_TIMEOUT_S)
        time.sleep(1.0)
        hostel_snapshots(opts, vm, res, "snapshot-qcow2-busy")
        vm.guest.run("touch /tmp/stop-writer; wait", CMD_TIMEOUT_S)
    finally:
        vm.quit()


def run_hostel_snapshots_only(opts, res):
    vm = hostel_boot(opts, "bench")
    try:
        hostel_snapshots(opts, vm, res, "snapshot-nodisk-idle")
    finally:
        vm.quit()
    run_hostel_disk_snapshots(opts, res)


def hostel_restore(opts, path, res, key):
    """Restore path opts.runs times: to the first guest slice and to the shell's echo."""
    insn, shell = [], []
    for i in range(opts.runs):
        name = f"restore-{i}"
        vm = HostelVM(opts, name, ["run", "--restore", str(path)],
                      opts.work / f"{key}-{i}.log")
        try:
            vm.guest.expect(r"run loop starts at monotonic ([\d.]+) s", 60, "run loop start")
            insn.append((float(vm.guest.child.match.group(1)) - vm.t0) * 1e3)
            vm.guest.child.sendline('echo "@@RE""STORED@@"')
            vm.guest.expect("@@RESTORED@@", 120, "the shell's echo", exact=True)
            shell.append((time.monotonic() - vm.t0) * 1e3)
            vm.connect()
        finally:
            vm.quit()
    res[f"restore-insn-{key}"] = insn
    res[f"restore-shell-{key}"] = shell
    progress(f"hostel restore {key}: first slice {insn} ms, shell {shell} ms")


def run_hostel(opts, res):
    if opts.snapshots_only:
        run_hostel_snapshots_only(opts, res)
        return
    vm = hostel_boot(opts, "bench")
    try:
        files = {}
        for label in ("idle", "dirty"):
            if label == "dirty":
                progress(f"hostel: dirtying {DIRTY_MIB} MiB")
                vm.guest.run(DIRTY_CMD, CMD_TIMEOUT_S)
                time.sleep(SETTLE_S)
            hostel_pause(opts, vm, res, label)
            files[label] = hostel_saves(opts, vm, res, label)
            hostel_snapshots(opts, vm, res, f"snapshot-nodisk-{label}")
        path = opts.work / "suspend.state"
        ret, _ = vm.ctl.call("suspend", {"file": str(path)})
        res["suspend-flat-dirty"] = [ret["pause-ms"]]
        vm.guest.expect(pexpect.EOF, 60, "exit after suspend")
    finally:
        vm.quit()
    for label, by_kind in files.items():
        for kind, path in by_kind.items():
            hostel_restore(opts, path, res, f"{kind}-{label}")
    # A fresh idle guest for suspend itself (the save above is the same work, without the exit).
    vm = hostel_boot(opts, "bench-suspend")
    try:
        path = opts.work / "suspend-idle.state"
        ret, _ = vm.ctl.call("suspend", {"file": str(path)})
        res["suspend-flat-idle"] = [ret["pause-ms"]]
        res["size-suspend-idle"] = file_sizes(path)
        vm.guest.expect(pexpect.EOF, 60, "exit after suspend")
    finally:
        vm.quit()
    run_hostel_disk_snapshots(opts, res)


# ---------------------------------------------------------------- QEMU

class QemuVM:
    def __init__(self, opts, name, extra):
        self.qmp_path = opts.work / f"{name}.qmp"
        argv = [opts.qemu, "-M", "virt", "-m", f"{MEM_MIB}M", "-nographic",
                "-kernel", str(opts.guest / "Image"),
                "-initrd", str(opts.guest / "initramfs.cpio.gz"), "-append", boot.CMDLINE,
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"] + extra
        self.guest = ExecGuest(f"qemu {name}", argv, opts.work / f"{name}.log",
                               opts.boot_timeout)
        self.t0 = self.guest.t0
        self.qmp = None

    def connect(self):
        self.qmp = Control(self.qmp_path, qmp=True)
        return self.qmp

    def wait_migration(self):
        while True:
            info, _ = self.qmp.call("query-migrate")
            status = info.get("status")
            if status == "completed":
                return info
            if status in ("failed", "cancelled"):
                raise BenchError(f"qemu migration {status}: {info.get('error-desc', '')}")
            time.sleep(0.002)

    def quit(self):
        if self.qmp:
            try:
                self.qmp.call("quit")
            except (BenchError, OSError):
                pass
            self.qmp.close()
        try:
            self.guest.expect(pexpect.EOF, 30, "exit after quit")
        except BenchError:
            pass
        self.guest.close()


def qemu_boot(opts, name, extra=()):
    vm = QemuVM(opts, name, list(extra))
    progress(f"qemu {name}: booting")
    vm.guest.wait_prompt()
    vm.connect()
    vm.qmp.call("migrate-set-parameters", {"max-bandwidth": 1 << 40})
    time.sleep(SETTLE_S)
    return vm


def qemu_save(opts, vm, res, label):
    rtt, pauses, path = [], [], None
    for _ in range(opts.runs):
        rtt.append(vm.qmp.call("stop")[1] * 1e3)
        vm.qmp.call("cont")
        time.sleep(0.2)
    for i in range(opts.runs):
        if path:
            path.unlink()
        path = opts.work / f"qemu-{label}-{i}.mig"
        t0 = time.perf_counter()
        vm.qmp.call("stop")
        vm.qmp.call("migrate", {"uri": f"exec:cat > {path}"})
        vm.wait_migration()
        vm.qmp.call("cont")
        pauses.append((time.perf_counter() - t0) * 1e3)
        time.sleep(0.5)
    res[f"q-pause-rtt-{label}"] = rtt
    res[f"q-save-{label}"] = pauses
    res[f"q-size-{label}"] = file_sizes(path)
    progress(f"qemu {label}: stop+migrate+cont {pauses} ms, {mib(file_sizes(path)[1]):.1f} MiB")
    return path


def qemu_restore(opts, path, res, label):
    running, shell = [], []
    for i in range(opts.runs):
        vm = QemuVM(opts, f"qemu-restore-{label}-{i}", ["-incoming", f"exec:cat {path}"])
        try:
            vm.connect()
            while (status := vm.qmp.call("query-status")[0].get("status")) == "inmigrate":
                time.sleep(0.002)
            if status == "paused":  # the file was saved from a stopped VM: it stays stopped
                vm.qmp.call("cont")
            elif status != "running":
                raise BenchError(f"qemu -incoming: status {status}")
            running.append((time.monotonic() - vm.t0) * 1e3)
            vm.guest.child.sendline('echo "@@RE""STORED@@"')
            vm.guest.expect("@@RESTORED@@", 120, "the shell's echo", exact=True)
            shell.append((time.monotonic() - vm.t0) * 1e3)
        finally:
            vm.quit()
    res[f"q-restore-insn-{label}"] = running
    res[f"q-restore-shell-{label}"] = shell
    progress(f"qemu restore {label}: running {running} ms, shell {shell} ms")


def run_qemu(opts, res):
    vm = qemu_boot(opts, "qemu")
    files = {}
    try:
        for label in ("idle", "dirty"):
            if label == "dirty":
                progress(f"qemu: dirtying {DIRTY_MIB} MiB")
                vm.guest.run(DIRTY_CMD, CMD_TIMEOUT_S)
                time.sleep(SETTLE_S)
            files[label] = qemu_save(opts, vm, res, label)
    finally:
        vm.quit()
    for label, path in files.items():
        qemu_restore(opts, path, res, label)
    disk = opts.work / "qemu-disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "1G"], check=True,
                   capture_output=True)
    vm = qemu_boot(opts, "qemu-disk", ["-drive", f"file={disk},if=none,id=d0,format=qcow2",
                                       "-device", "virtio-blk-device,drive=d0"])
    try:
        pauses = []
        for i in range(opts.runs):
            _, dt = vm.qmp.call("human-monitor-command", {"command-line": f"savevm s{i}"})
            pauses.append(dt * 1e3)
            vm.qmp.call("human-monitor-command", {"command-line": f"delvm s{i}"})
            time.sleep(0.5)
        res["q-snapshot-qcow2-idle"] = pauses
        progress(f"qemu savevm {pauses} ms")
    finally:
        vm.quit()


# ---------------------------------------------------------------- the table

ROWS = [
    # (label, hostel key, qemu key, unit, target key)
    ("pause: control round trip, idle", "pause-rtt-idle", "q-pause-rtt-idle", "ms", None),
    ("pause: control round trip, dirty", "pause-rtt-dirty", "q-pause-rtt-dirty", "ms", None),
    ("pause: `hostel pause` command, idle", "pause-cli-idle", None, "ms", None),
    ("save flat: guest stand-still, idle", "save-flat-idle", "q-save-idle", "ms", None),
    ("save zstd: guest stand-still, idle", "save-zstd-idle", None, "ms", None),
    ("suspend flat: guest stand-still, idle", "suspend-flat-idle", None, "ms",
     "suspend-idle"),
    ("save flat: guest stand-still, dirty", "save-flat-dirty", "q-save-dirty", "ms", None),
    ("save zstd: guest stand-still, dirty", "save-zstd-dirty", None, "ms", None),
    ("suspend flat: guest stand-still, dirty", "suspend-flat-dirty", None, "ms", None),
    ("file flat, idle: apparent / on disk", "size-flat-idle", "q-size-idle", "MiB", None),
    ("file zstd, idle: apparent / on disk", "size-zstd-idle", None, "MiB", None),
    ("file flat, dirty: apparent / on disk", "size-flat-dirty", "q-size-dirty", "MiB", None),
    ("file zstd, dirty: apparent / on disk", "size-zstd-dirty", None, "MiB", None),
    ("restore flat idle: to first instruction", "restore-insn-flat-idle", "q-restore-insn-idle",
     "ms", "restore-insn-idle"),
    ("restore flat idle: to shell echo", "restore-shell-flat-idle", "q-restore-shell-idle",
     "ms", None),
    ("restore zstd idle: to first instruction", "restore-insn-zstd-idle", None, "ms", None),
    ("restore zstd idle: to shell echo", "restore-shell-zstd-idle", None, "ms", None),
    ("restore flat dirty: to first instruction", "restore-insn-flat-dirty",
     "q-restore-insn-dirty", "ms", None),
    ("restore flat dirty: to shell echo", "restore-shell-flat-dirty", "q-restore-shell-dirty",
     "ms", None),
    ("restore zstd dirty: to first instruction", "restore-insn-zstd-dirty", None, "ms", None),
    ("restore zstd dirty: to shell echo", "restore-shell-zstd-dirty", None, "ms", None),
    ("live snapshot, no disk, idle: pause", "snapshot-nodisk-idle", None, "ms", "snapshot-idle"),
    ("live snapshot, no disk, idle: until durable", "snapshot-nodisk-idle-total", None, "ms",
     None),
    ("live snapshot, qcow2 disk, idle: pause", "snapshot-qcow2-idle", "q-snapshot-qcow2-idle",
     "ms", "snapshot-idle"),
    ("live snapshot, qcow2 disk, idle: until durable", "snapshot-qcow2-idle-total",
     "q-snapshot-qcow2-idle", "ms", None),
    ("live snapshot, qcow2 disk, guest writing: pause", "snapshot-qcow2-busy", None, "ms", None),
    ("live snapshot, qcow2 disk, guest writing: until durable", "snapshot-qcow2-busy-total",
     None, "ms", None),
    ("live snapshot, no disk, dirty: pause", "snapshot-nodisk-dirty", None, "ms", None),
    ("live snapshot, no disk, dirty: until durable", "snapshot-nodisk-dirty-total", None, "ms",
     None),
]


def cell(value, unit):
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{mib(value[0]):.1f} / {mib(value[1]):.1f}"
    if len(value) == 1:
        return f"{value[0]:.1f}"
    return f"{statistics.median(value):.1f} ({min(value):.1f}-{max(value):.1f})"


def print_table(res, snapshots_only=False):
    head = ["metric", "unit", "hostel", "qemu", "target", "verdict"]
    rows, verdicts = [], []
    for label, hkey, qkey, unit, tkey in ROWS:
        if snapshots_only and not hkey.startswith("snapshot-"):
            continue
        h, q = res.get(hkey), res.get(qkey) if qkey else None
        target, mark = "", ""
        if tkey:
            target = f"< {TARGETS_MS[tkey]:.0f}"
            mark = "FAIL" if h is None else (
                "PASS" if statistics.median(h) < TARGETS_MS[tkey] else "MISS")
            verdicts.append(mark)
        rows.append([label, unit, cell(h, unit), cell(q, unit) if qkey else "", target, mark])
    benchlib.print_table(head, rows)
    return verdicts


# ---------------------------------------------------------------- main

def parse_options(argv):
    p = argparse.ArgumentParser(
        prog="bench/state/run.py",
        description="Time pause, save/suspend, restore and live snapshots of the default "
                    "guest (512 MiB) under hostel, idle and after dirtying 400 MiB; "
                    "QEMU's equivalents side by side.")
    p.add_argument("build_dir", nargs="?", default="build",
                   help="meson build directory holding hostel (default: build); "
                        "$HOSTEL_BIN overrides the binary")
    p.add_argument("--runs", "-n", type=boot.positive(int), default=3,
                   help="repetitions of each measurement (default 3; the median is shown)")
    p.add_argument("--guest", help="guest directory with Image and initramfs.cpio.gz "
                   "(default: $HOSTEL_GUEST_DIR, else what guest/build.sh prints)")
    p.add_argument("--boot-timeout", type=boot.positive(int), default=boot.BOOT_TIMEOUT_S,
                   help=f"seconds allowed for a boot ({boot.BOOT_TIMEOUT_S})")
    p.add_argument("--no-qemu", action="store_true", help="measure hostel only")
    p.add_argument("--hostel-net", help="give hostel this --net (e.g. none, to compare with a "
                   "build from before the default network card)")
    p.add_argument("--no-hostel", action="store_true", help="measure QEMU only")
    p.add_argument("--snapshots-only", action="store_true",
                   help="measure only hostel's live snapshots (no disk and qcow2; no QEMU)")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    p.add_argument("--keep", action="store_true", help="keep the work directory (state "
                   "files, console logs)")
    return p.parse_args(argv), p


def resolve_tools(opts, parser):
    opts.hostel = os.environ.get("HOSTEL_BIN") or str(pathlib.Path(opts.build_dir) / "hostel")
    if not os.access(opts.hostel, os.X_OK):
        parser.error(f"{opts.hostel}: not an executable (build hostel or set HOSTEL_BIN)")
    opts.hostel = str(pathlib.Path(opts.hostel).resolve())
    opts.qemu = None
    if not opts.no_qemu and not opts.snapshots_only:
        opts.qemu = os.environ.get("QEMU_BIN") or shutil.which("qemu-system-riscv64")
        if not opts.qemu:
            progress("bench/state: qemu-system-riscv64 not found: hostel only")


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv):
    opts, parser = parse_options(argv)
    resolve_tools(opts, parser)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    opts.work = pathlib.Path(tempfile.mkdtemp(prefix="bench-state-"))
    # Sockets and snapshot memory go under the work directory, not the user's.
    os.environ["XDG_RUNTIME_DIR"] = str(opts.work / "run")
    os.environ["XDG_STATE_HOME"] = str(opts.work / "state")
    os.environ["HOSTEL_TRACE_START"] = "1"
    (opts.work / "run").mkdir(mode=0o700)
    res, failed = {}, []
    try:
        opts.guest = boot.find_guest(opts)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"bench/state: {opts.hostel}; guest {opts.guest}, {MEM_MIB} MiB RAM; "
              f"dirty = {DIRTY_MIB} MiB of /dev/urandom in a tmpfs")
        print(f"median of {opts.runs} (min-max); host: {os.cpu_count()} CPUs, "
              f"load average {load}")
        sys.stdout.flush()
        for name, run in (("hostel", run_hostel), ("qemu", run_qemu)):
            if (name == "qemu" and not opts.qemu) or (name == "hostel" and opts.no_hostel):
                continue
            try:
                run(opts, res)
            except (BenchError, OSError, subprocess.CalledProcessError) as e:
                failed.append(f"{name}: {e}")
                progress(f"FAILED: {name}: {e}")
            finally:
                Guest.close_all()
        print()
        verdicts = print_table(res, opts.snapshots_only)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except BenchError as e:
        print(f"bench/state: {e}", file=sys.stderr)
        return 1
    finally:
        Guest.close_all()
        if opts.keep or failed:
            print(f"work directory: {opts.work}", file=sys.stderr)
        else:
            shutil.rmtree(opts.work, ignore_errors=True)
    for f in failed:
        print(f"FAILED: {f}", file=sys.stderr)
    if failed:
        return 1
    return 3 if opts.check and "MISS" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
