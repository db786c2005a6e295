#!/usr/bin/python3
"""Live-migration benchmark: hostel beside QEMU 7.2 TCG, in one run, on loopback.

For the default guest (kernel + initramfs, 512 MiB of RAM, 1 hart) under each
emulator, one fresh boot per workload and emulator:

- idle: the guest sits at its shell;
- idle-zstd: the same, hostel migrating with `compress: zstd`; QEMU's column
  is its idle run at its defaults (the target: fewer than half its bytes);
- busy: a shell loop `while :; do :; done` in the background (CPU busy, a
  working set of a few pages);
- rewrite: 200 MiB of non-zero data in a tmpfs mounted in the guest
  (/mnt/rw/big, written once from `yes`), rewritten in place in a loop as fast as the guest
  can: `dd if=/mnt/rw/big of=/mnt/rw/big bs=1M conv=notrunc` (every page
  of the file is written again on every pass; non-zero, so neither VMM can
  send it as a zero page).  One pass is timed first with busybox `time`
  (the guest's rewrite rate).

Then a destination VMM is started and the VM migrated to it over a unix
socket:

- hostel: `hostel run --incoming unix:PATH --name DST`, the `migrate` command
  on the source's control socket (its reply gives total-ms, downtime-ms,
  bytes, rounds), `query-migrate` polled every 20 ms on a second connection;
- QEMU: `qemu-system-riscv64 -M virt -m 512M ... -incoming unix:PATH -qmp
  unix:...`, `migrate` through QMP on the source, `query-migrate` polled every
  20 ms until `completed` (total-time, downtime, ram.transferred,
  ram.dirty-sync-count).

Both with their defaults (hostel: downtime limit 10 ms, 30 rounds at most;
QEMU: downtime limit 300 ms, max-bandwidth as 7.2 ships it).  A migration not
completed after --cap seconds (60) is cancelled (`migrate-cancel` /
`migrate_cancel`) and counts as "did not converge".

An outside observer: while the VM migrates, the host types one character
every millisecond on the guest's serial console (both the source's and the
destination's), the guest runs `cat > /dev/null` in the foreground, and its
tty echoes each character; the longest time with no echo on either console
between the migrate request and 0.5 s after its end is the downtime as the
console's user sees it (the same gap measured over 1 s before the migration
is printed beside it).

Prints one table, hostel and QEMU side by side with the ratio hostel/QEMU,
and PASS/MISS against issue 13's targets.  See docs/bench.md ("Live
migration (bench/migrate)").

Exit status: 0 = every boot and migration ran (not converging is a result,
not a failure); 1 = something failed (the table is still printed, FAIL in
its cells); 2 = usage error; 3 = with --check, a target was missed.
"""

import argparse
import fcntl
import os
import pathlib
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pexpect

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import benchlib  # noqa: E402  (bench/benchlib.py)

REPO = pathlib.Path(__file__).resolve().parents[2]


boot = benchlib.load("bench_boot", "bench/boot/run.py")
state = benchlib.load("bench_state", "bench/state/run.py")
Guest, BenchError, Control = boot.Guest, boot.BenchError, state.Control

MEM_MIB = 512
SETTLE_S = 3.0  # after the workload starts, before the migration
POLL_S = 0.02
REWRITE_MIB = 200
# Non-zero data: a ~1.5 KB line of numbers repeated.
# The guest has no /dev/shm: a tmpfs of our own holds the file.
BIG = "/mnt/rw/big"
PREPARE_REWRITE = (f"mkdir -p /mnt/rw && mount -t tmpfs -o size={REWRITE_MIB + 8}m tmpfs /mnt/rw"
                   f' && yes "$(seq -s x 1 400)" | head -c {REWRITE_MIB << 20} > {BIG}'
                   f" && ls -l {BIG}")
REWRITE_PASS = f"dd if={BIG} of={BIG} bs=1M conv=notrunc 2>/dev/null"
WORKLOADS = {
    "idle": None,
    "idle-zstd": None,  # hostel with --compress zstd; QEMU's column is its idle run (defaults)
    "busy": "(while :; do :; done) & true",
    "rewrite": f"(while :; do {REWRITE_PASS}; done) & true",
}
TARGET_IDLE_DOWNTIME_MS = 5.0
TARGET_IDLE_TOTAL_MS = 500.0
TARGET_REWRITE_DOWNTIME_MS = 20.0
TARGET_ZSTD_SENT_RATIO = 0.5
COMPRESS = {"idle-zstd": {"compress": "zstd"}}  # hostel's migrate arguments per workload
QEMU_SAME_AS = {"idle-zstd": "idle"}  # QEMU runs once for both (its defaults)  # bytes sent with compression against QEMU's idle migration


def progress(text):
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the outside observer

class EchoObserver:
    """Types a character every `interval` s on consoles; notes when echoes come back.

    The guest's shell runs `cat > /dev/null`, so its tty (canonical mode, echo on)
    echoes each character.  Writes are non-blocking: a console whose VMM does not
    read (a destination still waiting for its stream) drops what does not fit.
    """

    def __init__(self, guest, interval=0.001):
        self.interval = interval
        self.guests = []
        self.times = []  # monotonic instants of reads holding an echo
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.add(guest)
        self.threads = [threading.Thread(target=self._write, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]
        for t in self.threads:
            t.start()

    def add(self, guest):
        fd = guest.child.child_fd
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        with self.lock:
            self.guests.append((guest, fd, flags))

    def _fds(self):
        with self.lock:
            return [(g, fd) for g, fd, _ in self.guests]

    def _write(self):
        n, next_t = 0, time.monotonic()
        while not self.stop_event.is_set():
            n += 1
            data = b"\n" if n % 64 == 0 else b"."
            for _, fd in self._fds():
                try:
                    os.write(fd, data)
                except OSError:
                    pass  # full (not read) or gone (the VMM ended)
            next_t += self.interval
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()

    def _read(self):
        dead = set()
        while not self.stop_event.is_set():
            fds = [(g, fd) for g, fd in self._fds() if fd not in dead]
            if not fds:
                time.sleep(0.01)
                continue
            ready, _, _ = select.select([fd for _, fd in fds], [], [], 0.01)
            now = time.monotonic()
            for g, fd in fds:
                if fd not in ready:
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    dead.add(fd)
                    continue
                g.log.write(data.decode("utf-8", "replace"))
                if b"." in data:
                    with self.lock:
                        self.times.append(now)

    def longest_gap(self, t0, t1):
        """Longest interval without an echo within [t0, t1] (ms), or None."""
        with self.lock:
            times = [t for t in self.times if t0 <= t <= t1]
        if not times:
            return None
        points = [t0] + times + [t1]
        return max(b - a for a, b in zip(points, points[1:])) * 1e3

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(5)
        for _, fd, flags in self.guests:
            try:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)
            except OSError:
                pass


def start_observer(guest):
    """Put `cat > /dev/null` in the foreground and start typing at it."""
    guest.child.sendline("cat > /dev/null")
    time.sleep(0.5)
    try:  # what pexpect had buffered (the command's echo)
        guest.child.read_nonblocking(65536, timeout=0.1)
    except (pexpect.TIMEOUT, pexpect.EOF):
        pass
    return EchoObserver(guest)


def end_observer(guest):
    """End the foreground `cat` with an end of file (Ctrl-D at the start of a line).

    Not Ctrl-C: QEMU's stdio keeps the terminal's signals, so Ctrl-C would end QEMU.
    """
    guest.child.send("\n\x04")
    guest.expect(boot.PROMPT, 20, "prompt after the observer")


# ---------------------------------------------------------------- one migration

def prepare(guest, workload, result, timeout):
    if workload == "rewrite":
        guest.run(PREPARE_REWRITE, timeout)
        # busybox time reports on stderr: the timed pass keeps dd's stderr.
        out = guest.run(f"time {REWRITE_PASS.replace(' 2>/dev/null', '')}", timeout)
        secs = boot.parse_real(guest.name, REWRITE_PASS, out)
        result["rewrite_rate"] = (REWRITE_MIB << 20) / secs / 1e6
    if WORKLOADS[workload]:
        guest.run(WORKLOADS[workload], timeout)


def wait_path(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise BenchError(f"{path} never appeared")
        time.sleep(0.005)


def observe(opts, src, workload, result, start_dst, migrate):
    """Common frame: workload, observer, destination, migration, checks."""
    prepare(src, workload, result, opts.timeout)
    time.sleep(SETTLE_S)
    obs = start_observer(src) if opts.observer else None
    dst = None
    try:
        if obs:
            time.sleep(1.0)
            now = time.monotonic()
            result["echo_before"] = obs.longest_gap(now - 1.0, now)
        dst = start_dst()
        if obs:
            obs.add(dst)
        t0 = time.monotonic()
        migrate(result)
        t1 = time.monotonic()
        if obs:
            time.sleep(0.5)
            if result["converged"]:
                result["echo_gap"] = obs.longest_gap(t0, t1 + 0.5)
    finally:
        if obs:
            obs.stop()
    # The guest goes on where it runs now: its console answers, its timer works.
    alive = dst if result["converged"] else src
    try:
        if obs:
            end_observer(alive)
        alive.run("sleep 1; echo still-alive", 30)
        if workload == "rewrite":
            alive.run(f"test $(stat -c %s {BIG}) -eq {REWRITE_MIB << 20}", 30)
        result["alive"] = True
    except BenchError as e:
        result["alive"] = False
        result["alive_error"] = str(e)
    return dst


def hostel_boot(opts, name):
    argv = [opts.hostel, "run", "-m", f"{MEM_MIB}M", "-c", "1", "-k", str(opts.guest / "Image"),
            "-i", str(opts.guest / "initramfs.cpio.gz"), "-p", boot.CMDLINE, "--name", name]
    if opts.hostel_net:
        argv += ["--net", opts.hostel_net]
    guest = Guest(f"hostel {name}", argv, opts.work / f"{name}.log", opts.boot_timeout)
    guest.wait_prompt()
    return guest


def hostel_migrate_call(opts, ctl_path, uri, result, extra=None):
    """migrate on one connection, query-migrate on another; cancel after the cap."""
    ctl, poll = Control(ctl_path, timeout=opts.cap + 120), Control(ctl_path)
    reply, error = {}, []

    def call():
        try:
            reply.update(ctl.call("migrate", {"uri": uri, **(extra or {})})[0])
        except (BenchError, OSError) as e:
            error.append(str(e))

    thread = threading.Thread(target=call, daemon=True)
    t0 = time.monotonic()
    thread.start()
    last, cancelled = {}, False
    while thread.is_alive():
        try:
            last = poll.call("query-migrate")[0] or last
        except (BenchError, OSError):
            pass  # the source ended: the reply is on its way
        if not cancelled and time.monotonic() - t0 > opts.cap:
            cancelled = True
            try:
                poll.call("migrate-cancel")
            except (BenchError, OSError) as e:
                progress(f"migrate-cancel: {e}")
        thread.join(POLL_S)
    ctl.close()
    poll.close()
    if reply:
        result.update(converged=True, total=reply["total-ms"], downtime=reply["downtime-ms"],
                      sent=reply["bytes"], rounds=reply["rounds"],
                      forced=reply["rounds"] >= 30)
    elif cancelled:
        result.update(converged=False, total=(time.monotonic() - t0) * 1e3,
                      sent=last.get("bytes"), rounds=last.get("round"))
    else:
        raise BenchError(f"hostel migrate failed: {error[0] if error else 'no reply'}")


def hostel_run(opts, workload, result):
    src = hostel_boot(opts, f"src-{workload}")
    sock = opts.work / f"mig-{workload}.sock"
    ctl_path = opts.work / "hostel" / f"src-{workload}.sock"
    dst_name = f"dst-{workload}"

    def start_dst():
        g = Guest(f"hostel {dst_name}", [opts.hostel, "run", "--incoming", f"unix:{sock}",
                                         "--name", dst_name],
                  opts.work / f"{dst_name}.log", opts.boot_timeout)
        wait_path(sock)
        return g

    dst = None
    try:
        dst = observe(opts, src, workload, result, start_dst,
                      lambda r: hostel_migrate_call(opts, ctl_path, f"unix:{sock}", r,
                                                    COMPRESS.get(workload)))
        if result["converged"]:
            src.expect(pexpect.EOF, 60, "the source's exit after the migration")
    finally:
        src.close()
        if dst:
            dst.close()
        Guest.close_all()


def qemu_argv(opts, name, extra=()):
    return [opts.qemu, "-M", "virt", "-smp", "1", "-m", f"{MEM_MIB}M", "-nographic",
            "-kernel", str(opts.guest / "Image"), "-initrd", str(opts.guest / "initramfs.cpio.gz"),
            "-append", boot.CMDLINE, "-qmp", f"unix:{opts.work / name}.qmp,server=on,wait=off",
            *extra]


def qemu_migrate_call(opts, qmp, uri, result):
    qmp.call("migrate", {"uri": uri})
    t0 = time.monotonic()
    cancelled = False
    while True:
        info = qmp.call("query-migrate")[0]
        status = info.get("status")
        ram = info.get("ram", {})
        if status == "completed":
            result.update(converged=True, total=info["total-time"], downtime=info["downtime"],
                          sent=ram.get("transferred"), rounds=ram.get("dirty-sync-count"))
            return
        if status == "cancelled" and cancelled:
            result.update(converged=False, total=(time.monotonic() - t0) * 1e3)
            return
        if status in ("failed", "cancelled"):
            raise BenchError(f"qemu migration {status}: {info.get('error-desc', '')}")
        if ram:
            result.update(sent=ram.get("transferred"), rounds=ram.get("dirty-sync-count"))
        if not cancelled and time.monotonic() - t0 > opts.cap:
            cancelled = True
            qmp.call("migrate_cancel")
        time.sleep(POLL_S)


def qemu_run(opts, workload, result):
    name = f"qsrc-{workload}"
    src = Guest(f"qemu {name}", qemu_argv(opts, name), opts.work / f"{name}.log",
                opts.boot_timeout)
    sock = opts.work / f"qmig-{workload}.sock"
    dst_name = f"qdst-{workload}"
    qmp = None
    dst = None

    def start_dst():
        g = Guest(f"qemu {dst_name}", qemu_argv(opts, dst_name, ["-incoming", f"unix:{sock}"]),
                  opts.work / f"{dst_name}.log", opts.boot_timeout)
        wait_path(sock)
        return g

    try:
        src.wait_prompt()
        qmp = Control(opts.work / f"{name}.qmp", qmp=True)
        if not opts.qemu_params:
            opts.qemu_params = qmp.call("query-migrate-parameters")[0]
        dst = observe(opts, src, workload, result, start_dst,
                      lambda r: qemu_migrate_call(opts, qmp, f"unix:{sock}", r))
        result["forced"] = False
    finally:
        if qmp:
            try:
                qmp.call("quit")
            except (BenchError, OSError):
                pass
            qmp.close()
        src.close()
        if dst:
            dst.close()
        Guest.close_all()


# ---------------------------------------------------------------- the table

# (key, label, unit)
FIGURES = [
    ("converged", "converged within the cap", "cap"),
    ("total", "total time", "ms"),
    ("downtime", "downtime, as the VMM reports it", "ms"),
    ("echo_gap", "downtime, observed: longest console echo gap", "ms"),
    ("echo_before", "  console echo gap before migrating (1 s)", "ms"),
    ("sent", "sent", "MiB"),
    ("rounds", "rounds (qemu: dirty-sync-count)", ""),
    ("forced", "switch-over forced by max-rounds", ""),
    ("alive", "guest goes on afterwards (console, sleep 1)", ""),
    ("rewrite_rate", "guest's rewrite rate (one pass, before)", "MB/s"),
]


def targets(workload, key):
    """(text, predicate on hostel's value) or None."""
    if workload == "idle" and key == "downtime":
        return f"<= {TARGET_IDLE_DOWNTIME_MS:g}", lambda v: v <= TARGET_IDLE_DOWNTIME_MS
    if workload == "idle" and key == "total":
        return f"< {TARGET_IDLE_TOTAL_MS:g}", lambda v: v < TARGET_IDLE_TOTAL_MS
    if workload == "rewrite" and key == "converged":
        return "yes", lambda v: v
    if workload == "rewrite" and key == "downtime":
        return f"< {TARGET_REWRITE_DOWNTIME_MS:g}", lambda v: v < TARGET_REWRITE_DOWNTIME_MS
    return None


def combine(values):
    """The median of the runs' values (booleans: all of them)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if isinstance(values[0], bool):
        return all(values)
    return statistics.median(values)


def fmt(value, unit, cap):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else (f"no ({cap:g} s)" if unit == "cap" else "no")
    if unit == "MiB":
        return f"{value / (1 << 20):.1f}"
    if unit == "":
        return f"{value:g}"
    return f"{value:.1f}"


def figure(samples, failed, emu, workload, key):
    if emu == "qemu":
        workload = QEMU_SAME_AS.get(workload, workload)
    runs = samples.get((emu, workload))
    if not runs:
        return "FAIL" if (emu, workload) in failed else None
    value = combine([r.get(key) for r in runs])
    if key in ("total", "downtime", "echo_gap") and not combine(
            [r.get("converged") for r in runs]):
        if key != "total":
            return None
    return value


def print_table(opts, samples, failed):
    head = ["workload / figure", "hostel", "qemu", "hostel/qemu", "target", "verdict"]
    rows, verdicts = [], []
    for workload in opts.workloads:
        rows.append([f"{workload}:", "", "", "", "", ""])
        for key, label, unit in FIGURES:
            if key == "rewrite_rate" and workload != "rewrite":
                continue
            if key.startswith("echo") and not opts.observer:
                continue
            h = figure(samples, failed, "hostel", workload, key)
            q = figure(samples, failed, "qemu", workload, key)
            if key == "forced" and q is False:
                q = None
            ratio = "-"
            if isinstance(h, (int, float)) and not isinstance(h, bool) and \
                    isinstance(q, (int, float)) and not isinstance(q, bool) and q:
                ratio = f"{h / q:.2f}"
            target, mark = "", ""
            t = targets(workload, key)
            if workload in COMPRESS and key == "sent":
                r = TARGET_ZSTD_SENT_RATIO
                t = (f"< {r:g}x qemu", lambda v, q=q: isinstance(q, (int, float)) and v < r * q)
            if t:
                target = t[0]
                if h == "FAIL":
                    mark = "FAIL"
                elif ("hostel", workload) not in samples:
                    mark = "n/a"  # not run (--no-hostel)
                elif h is None:
                    mark = "MISS"  # e.g. the downtime of a migration that never completed
                else:
                    mark = "PASS" if t[1](h) else "MISS"
                verdicts.append(mark)
            hs = h if h == "FAIL" else fmt(h, unit, opts.cap)
            qs = q if q == "FAIL" else fmt(q, unit, opts.cap)
            rows.append([f"  {label}" + (f" ({unit})" if unit not in ("", "cap") else ""), hs, qs, ratio,
                         target, mark])
    benchlib.print_table(head, rows)
    return verdicts


def print_notes(opts, broken):
    notes = [
        "hostel downtime: from the source's pause to the destination's `running` line "
        "(the destination has loaded everything); qemu downtime: its query-migrate "
        "`downtime`, from the source's stop to the end of the stream, measured by the source",
        "sent: hostel's `bytes` (the whole stream); qemu's ram.transferred (RAM only)",
        "rounds: hostel's pre-copy rounds (round 0 included); qemu's dirty-sync-count "
        "(bitmap syncs, one at the start and one at the switch-over included)",
    ]
    if opts.qemu_params:
        p = opts.qemu_params
        notes.append(f"qemu parameters: downtime-limit {p.get('downtime-limit')} ms, "
                     f"max-bandwidth {p.get('max-bandwidth', 0) / (1 << 20):g} MiB/s")
    notes += broken
    for note in notes:
        print(f"note: {note}")


def print_header(opts):
    qemu_version = subprocess.run([opts.qemu, "--version"], capture_output=True, text=True,
                                  timeout=60).stdout.splitlines()[:1]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench/migrate: {opts.hostel} vs {' '.join(qemu_version) or opts.qemu}")
    print(f"guest: {opts.guest} (Image + initramfs), {MEM_MIB} MiB RAM, 1 hart; unix socket; "
          f"cap {opts.cap:g} s; median of {opts.runs}")
    print(f"host: {os.cpu_count()} CPUs, load average {load}")


# ---------------------------------------------------------------- the run

def run_all(opts):
    samples, failed, failures, broken = {}, set(), [], []
    for run in range(1, opts.runs + 1):
        done = set()
        for asked in opts.workloads:
            for emu, fn in (("hostel", hostel_run), ("qemu", qemu_run)):
                if (emu == "qemu" and opts.no_qemu) or (emu == "hostel" and opts.no_hostel):
                    continue
                workload = QEMU_SAME_AS.get(asked, asked) if emu == "qemu" else asked
                if (emu, workload) in done:
                    continue  # one QEMU run serves both workloads
                done.add((emu, workload))
                progress(f"run {run}: {emu} {workload}")
                result = {}
                try:
                    fn(opts, workload, result)
                    samples.setdefault((emu, workload), []).append(result)
                    progress(f"  {result}")
                    if not result["alive"]:
                        where = "destination" if result["converged"] else "source"
                        broken.append(f"{emu} {workload}: the guest at the {where} does not "
                                      f"go on after the migration: {result['alive_error']}")
                        if emu == "hostel":
                            failures.append(broken[-1])
                except (BenchError, OSError, KeyError) as e:
                    failed.add((emu, workload))
                    failures.append(f"{emu} {workload}: {e}")
                    progress(f"FAILED: {emu} {workload}: {e}")
    return samples, failed, failures, broken


def parse_workloads(text):
    names = [x for x in text.split(",") if x]
    bad = [n for n in names if n not in WORKLOADS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--only takes {','.join(WORKLOADS)}, not {text!r}")
    return names


def parse_options(argv):
    p = argparse.ArgumentParser(
        prog="bench/migrate/run.py",
        description="Live-migrate the default guest (512 MiB, idle, CPU-busy, rewriting "
                    "200 MiB) between two hostel VMMs and between two QEMUs on loopback; "
                    "total time, downtime, bytes, rounds, convergence.")
    p.add_argument("build_dir", nargs="?", default="build",
                   help="meson build directory holding hostel (default: build); "
                        "$HOSTEL_BIN overrides the binary")
    p.add_argument("--runs", "-n", type=boot.positive(int), default=1,
                   help="migrations per workload and emulator, each from a fresh boot "
                        "(default 1; the median is shown)")
    p.add_argument("--only", dest="workloads", type=parse_workloads,
                   default=list(WORKLOADS), help="comma-separated: " + ",".join(WORKLOADS))
    p.add_argument("--cap", type=boot.positive(float), default=60.0,
                   help="seconds after which a migration is cancelled (default 60)")
    p.add_argument("--no-observer", dest="observer", action="store_false",
                   help="no console echo observer (the guest stays at its prompt)")
    p.add_argument("--no-qemu", action="store_true", help="hostel only")
    p.add_argument("--no-hostel", action="store_true", help="QEMU only")
    p.add_argument("--hostel-net", help="give hostel this --net (default: hostel's default)")
    p.add_argument("--guest", help="guest directory with Image and initramfs.cpio.gz "
                   "(default: $HOSTEL_GUEST_DIR, else what guest/build.sh prints)")
    p.add_argument("--boot-timeout", type=boot.positive(int), default=boot.BOOT_TIMEOUT_S,
                   help=f"seconds allowed for a boot ({boot.BOOT_TIMEOUT_S})")
    p.add_argument("--timeout", type=boot.positive(int), default=600,
                   help="seconds allowed for one guest command (600)")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    p.add_argument("--keep-logs", action="store_true", help="keep the console logs")
    return p.parse_args(argv), p


def resolve_tools(opts, parser):
    opts.hostel = os.environ.get("HOSTEL_BIN") or str(pathlib.Path(opts.build_dir) / "hostel")
    if not os.access(opts.hostel, os.X_OK):
        parser.error(f"{opts.hostel}: not an executable (build hostel or set HOSTEL_BIN)")
    opts.hostel = str(pathlib.Path(opts.hostel).resolve())
    opts.qemu = os.environ.get("QEMU_BIN") or shutil.which("qemu-system-riscv64")
    if not opts.qemu:
        if not opts.no_qemu:
            parser.error("qemu-system-riscv64 not found (install it, set QEMU_BIN, "
                         "or use --no-qemu)")
        opts.qemu = "qemu-system-riscv64"


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv):
    opts, parser = parse_options(argv)
    resolve_tools(opts, parser)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    opts.work = pathlib.Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    os.environ["XDG_RUNTIME_DIR"] = str(opts.work)  # the named VMs' control sockets
    opts.qemu_params = None
    failures, verdicts = [], []
    try:
        opts.guest = boot.find_guest(opts)
        print_header(opts)
        sys.stdout.flush()
        samples, failed, failures, broken = run_all(opts)
        print()
        verdicts = print_table(opts, samples, failed)
        print_notes(opts, broken)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except BenchError as e:
        print(f"bench/migrate: {e}", file=sys.stderr)
        failures = failures or [str(e)]
    except KeyboardInterrupt:
        failures = failures or ["interrupted"]
    finally:
        Guest.close_all()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    if failures or opts.keep_logs:
        print(f"logs: {opts.work}", file=sys.stderr)
    else:
        shutil.rmtree(opts.work, ignore_errors=True)
    if failures:
        return 1
    return 3 if opts.check and "MISS" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
