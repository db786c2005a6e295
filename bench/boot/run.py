#!/usr/bin/python3
"""Boot benchmark: the same Linux guest under hostel and under qemu-system-riscv64.

In one run, for each hart count, it boots the default guest (kernel + initramfs)
under hostel and under QEMU's `virt` board (Debian's OpenSBI as firmware), one
emulator after the other, N times each, and measures per boot:

- boot to prompt: host seconds from the emulator's process start to the first
  shell prompt on its serial console;
- two CPU workloads, timed by the guest's own busybox `time` (real seconds):
  `gzip -9` of 8 MiB of /dev/urandom data already in the guest's /tmp (the
  data is generated before, untimed, and the result is checked by a round trip)
  and `head -c 64M /dev/zero | sha256sum` (the digest is checked);
- idle host CPU: CPU time the emulator process (all its threads) uses over 10 s
  while the guest sits at its prompt (from 5 s after the prompt), as a
  percentage of one core;
- memory: the emulator's resident set, the part of it that is guest RAM (the
  anonymous mapping whose size is the RAM size), and the rest: the VMM's overhead.

It prints one table with both emulators side by side, the ratio hostel/QEMU and
PASS/MISS against the targets of issue 3.  See docs/bench.md ("Boot benchmark").

Exit status: 0 = every boot and guest command succeeded; 1 = one failed (the
table is still printed, failed cells read FAIL); 2 = usage error; 3 = with
--check, a target was missed.
"""

import argparse
import glob
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pexpect

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import benchlib  # noqa: E402  (bench/benchlib.py)

REPO = pathlib.Path(__file__).resolve().parents[2]
BANNER = "hostel guest ready"
PROMPT = re.compile(r"hostel:[^\r\n]*# $")
CMDLINE = "console=ttyS0"
BOOT_TIMEOUT_S = 300
SHORT_TIMEOUT_S = 60
SETTLE_S = 5.0  # after the prompt, before the idle window: the guest ends its start-up

GZIP_BYTES = 8 << 20
SHA_BYTES = 64 << 20
PREPARE_GZIP = f"head -c {GZIP_BYTES} /dev/urandom > /tmp/r"
TIMED_GZIP = "time gzip -9 -c /tmp/r > /tmp/r.gz"
CHECK_GZIP = "gzip -dc /tmp/r.gz | cmp - /tmp/r && rm -f /tmp/r /tmp/r.gz"
TIMED_SHA = f"time sh -c 'head -c {SHA_BYTES} /dev/zero | sha256sum'"
SHA_EXPECT = hashlib.sha256(bytes(SHA_BYTES)).hexdigest()

TIME_LINE = re.compile(r"^(real|user|sys)\s+(?:(\d+)h\s*)?(\d+)m\s*([\d.]+)s\s*$", re.M)

# (key, label, unit, how N boots combine, target kind)
METRICS = [
    ("boot", "boot to prompt", "s", min, "boot"),
    ("gzip", "gzip -9 8 MiB, guest real", "s", min, None),
    ("sha", "sha256sum 64 MiB, guest real", "s", min, None),
    ("idle", "idle guest, host CPU", "% core", min, "idle"),
    ("rss", "VMM resident set, total", "MiB", max, None),
    ("ram", "  of which guest RAM touched", "MiB", max, None),
    ("overhead", "  VMM overhead (the rest)", "MiB", max, "overhead"),
]
BOOT_RATIO_TARGET = 1.5
OVERHEAD_TARGET_MIB = 20.0


class BenchError(Exception):
    """A boot or a guest command failed; the message says which and how."""


# ---------------------------------------------------------------- the guest console

class Guest:
    """One emulator process whose stdio is the guest's serial console."""

    live = []  # every Guest not yet closed, killed on the way out

    def __init__(self, name, argv, log_path, boot_timeout=BOOT_TIMEOUT_S):
        self.name = name
        self.boot_timeout = boot_timeout
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.started = time.perf_counter()
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=SHORT_TIMEOUT_S,
                                   dimensions=(50, 200))
        self.child.logfile_read = self.log
        self.pid = self.child.pid
        Guest.live.append(self)

    def expect(self, pattern, timeout, what, exact=False):
        """Wait for pattern; raise BenchError on time-out or end of output."""
        try:
            if exact:
                return self.child.expect_exact(pattern, timeout=timeout)
            return self.child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise BenchError(f"{self.name}: no {what} after {timeout} s") from None
        except pexpect.EOF:
            raise BenchError(f"{self.name}: the emulator exited while waiting for "
                             f"{what} (status {self._status()})") from None

    def wait_prompt(self):
        """Wait for the init banner and the first prompt; return seconds since spawn."""
        self.expect(BANNER, self.boot_timeout, "init banner", exact=True)
        self.expect(PROMPT, self.boot_timeout, "shell prompt")
        return time.perf_counter() - self.started

    def run(self, command, timeout=SHORT_TIMEOUT_S):
        """Run one shell command; return its output; raise BenchError if it fails."""
        self.child.sendline(f'echo @@S""TART@@; {command}; echo "@@""RC=$?@@"')
        self.expect("@@START@@", timeout, f"start of `{command}`", exact=True)
        self.expect(r"@@RC=(\d+)@@", timeout, f"end of `{command}`")
        output = self.child.before.replace("\r", "").strip("\n")
        status = int(self.child.match.group(1))
        self.expect(PROMPT, timeout, f"prompt after `{command}`")
        if status != 0:
            raise BenchError(f"{self.name}: `{command}` exited {status}: "
                             f"{output.strip()[-300:]!r}")
        return output

    def poweroff(self):
        """Power the guest off; raise BenchError unless the emulator exits 0."""
        self.child.sendline("poweroff")
        self.expect(pexpect.EOF, SHORT_TIMEOUT_S, "exit after poweroff")
        status = self.close()
        if status != 0:
            raise BenchError(f"{self.name}: exit status {status} after poweroff")

    def close(self):
        """Kill the emulator if it still runs; return its exit status (None if killed)."""
        if self in Guest.live:
            Guest.live.remove(self)
        try:
            self.child.close(force=self.child.isalive())
        except pexpect.ExceptionPexpect:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        return self._status()

    def _status(self):
        if self.child.signalstatus is not None:
            return f"signal {self.child.signalstatus}"
        return self.child.exitstatus

    @classmethod
    def close_all(cls):
        for guest in list(cls.live):
            guest.close()


# ---------------------------------------------------------------- host-side probes

def cpu_seconds(pid):
    """CPU time used so far by every thread of pid (schedstat ns, else stat ticks)."""
    stats = glob.glob(f"/proc/{pid}/task/*/schedstat")
    if stats:
        total = 0
        for path in stats:
            try:
                with open(path) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that just exited
        return total / 1e9
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pid, seconds):
    """Percentage of one core pid uses over `seconds` of wall time."""
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.perf_counter()
    return 100.0 * (c1 - c0) / (t1 - t0)


def smaps_mappings(pid):
    """Yield (header fields, Size kB, Rss kB) for each mapping of pid."""
    header, size = None, 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                header = line.split()
            elif line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:"):
                yield header, size, int(line.split()[1])


def total_rss_kib(pid):
    """Resident set of pid in KiB: smaps_rollup's Rss, else VmRSS."""
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Rss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1])
        except OSError:
            continue
    raise BenchError(f"cannot read the resident set of pid {pid}")


def memory_mib(name, pid, ram_mib):
    """(total RSS, guest RAM touched, overhead) of pid in MiB.

    Guest RAM is the anonymous mapping whose size is exactly the RAM size; its
    Rss is the guest RAM actually touched.
    """
    ram = [rss for header, size, rss in smaps_mappings(pid)
           if size == ram_mib * 1024 and len(header) == 5 and header[4] == "0"]
    if len(ram) != 1:
        raise BenchError(f"{name}: found {len(ram)} anonymous mappings of {ram_mib} MiB "
                         "in /proc/PID/smaps, expected exactly one (the guest RAM)")
    total = total_rss_kib(pid)
    return total / 1024, ram[0] / 1024, (total - ram[0]) / 1024


# ---------------------------------------------------------------- one boot

def parse_real(name, command, output):
    """Seconds of the `real` line busybox `time` printed in output."""
    for m in TIME_LINE.finditer(output):
        if m.group(1) == "real":
            return int(m.group(2) or 0) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
    raise BenchError(f"{name}: no `real` line from `{command}`: {output[-300:]!r}")


def run_workloads(guest, timeout):
    """Time both workloads in the guest; return {'gzip': s, 'sha': s}."""
    guest.run(PREPARE_GZIP, timeout)
    gzip_s = parse_real(guest.name, TIMED_GZIP, guest.run(TIMED_GZIP, timeout))
    guest.run(CHECK_GZIP, timeout)
    out = guest.run(TIMED_SHA, timeout)
    if SHA_EXPECT not in out:
        raise BenchError(f"{guest.name}: wrong sha256 of {SHA_BYTES} zero bytes: {out!r}")
    return {"gzip": gzip_s, "sha": parse_real(guest.name, TIMED_SHA, out)}


def one_boot(name, argv, opts, log_path, results):
    """Boot once and fill results (a dict) with every figure measured.

    A failed workload does not stop the idle and memory figures; the first
    failure is raised (BenchError) once the emulator is closed.
    """
    guest = Guest(name, argv, log_path, opts.boot_timeout)
    errors = []
    try:
        results["boot"] = guest.wait_prompt()
        time.sleep(SETTLE_S)
        results["idle"] = idle_cpu_percent(guest.pid, opts.idle_seconds)
        if not opts.no_workloads:
            try:
                results.update(run_workloads(guest, opts.timeout))
            except BenchError as e:
                errors.append(e)
        rss, ram, overhead = memory_mib(name, guest.pid, opts.mem)
        results.update(rss=rss, ram=ram, overhead=overhead)
        guest.poweroff()
    finally:
        guest.close()
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- command lines

def hostel_argv(opts, harts):
    argv = [opts.hostel, "run", "-m", f"{opts.mem}M", "-c", str(harts),
            "-k", str(opts.guest / "Image"), "-i", str(opts.guest / "initramfs.cpio.gz"),
            "-p", CMDLINE]
    if opts.hostel_bios:
        argv += ["--bios", opts.hostel_bios]
    if getattr(opts, "hostel_net", None):
        argv += ["--net", opts.hostel_net]
    return argv


def qemu_argv(opts, harts):
    return [opts.qemu, "-M", "virt", "-smp", str(harts), "-m", f"{opts.mem}M", "-nographic",
            "-kernel", str(opts.guest / "Image"), "-initrd", str(opts.guest / "initramfs.cpio.gz"),
            "-append", CMDLINE]


EMULATORS = [("hostel", hostel_argv), ("qemu", qemu_argv)]


# ---------------------------------------------------------------- the run

def progress(text):
    print(text, file=sys.stderr, flush=True)


def describe(results):
    fmt = {"boot": "boot {:.2f} s", "gzip": "gzip {:.2f} s", "sha": "sha256 {:.2f} s",
           "idle": "idle {:.2f} %", "overhead": "overhead {:.1f} MiB"}
    return ", ".join(f.format(results[k]) for k, f in fmt.items() if k in results)


def run_all(opts, log_dir):
    """Boot every (harts, emulator) opts.runs times; return (samples, failures).

    samples[(emulator, harts)][metric] is the list of values of the good boots.
    Runs of the two emulators alternate, so a change in host load hits both.
    """
    samples, failures = {}, []
    for harts in opts.harts:
        for run in range(1, opts.runs + 1):
            for emu, make_argv in EMULATORS:
                name = f"{emu} -c {harts} run {run}"
                log = log_dir / f"{emu}-c{harts}-run{run}.log"
                results = {}
                try:
                    one_boot(name, make_argv(opts, harts), opts, log, results)
                    progress(f"{name}: {describe(results)}")
                except BenchError as e:
                    failures.append(f"{e} (console log: {log})")
                    progress(f"FAILED: {e}")
                cell = samples.setdefault((emu, harts), {})
                for key, value in results.items():
                    cell.setdefault(key, []).append(value)
    return samples, failures


def verdict(kind, hostel, qemu):
    """PASS/MISS of one target; FAIL when a value is missing, '' without a target."""
    if kind is None:
        return ""
    if hostel is None or (qemu is None and kind != "overhead"):
        return "FAIL"
    if kind == "overhead":
        return "PASS" if hostel < OVERHEAD_TARGET_MIB else "MISS"
    if kind == "boot":
        return "PASS" if hostel <= BOOT_RATIO_TARGET * qemu else "MISS"
    return "PASS" if hostel < qemu else "MISS"


TARGET_TEXT = {"boot": f"<= {BOOT_RATIO_TARGET}x qemu", "idle": "< qemu",
               "overhead": f"< {OVERHEAD_TARGET_MIB:.0f} MiB", None: ""}


def fmt(value, unit):
    if value is None:
        return "FAIL"
    return f"{value:.1f}" if unit == "MiB" else f"{value:.2f}"


def table_rows(opts, samples):
    """Yield (cells, verdict) for every row of the table."""
    for harts in opts.harts:
        for key, label, unit, combine, kind in METRICS:
            if opts.no_workloads and key in ("gzip", "sha"):
                continue
            values = []
            for emu, _ in EMULATORS:
                got = samples.get((emu, harts), {}).get(key)
                values.append(combine(got) if got else None)
            hostel, qemu = values
            ratio = f"{hostel / qemu:.2f}" if hostel is not None and qemu else "-"
            mark = verdict(kind, hostel, qemu)
            yield ([f"{label} ({unit})", str(harts), fmt(hostel, unit), fmt(qemu, unit),
                    ratio, TARGET_TEXT[kind], mark], mark)


def print_table(opts, samples):
    """Print the side-by-side table; return the list of verdicts."""
    head = ["metric", "harts", "hostel", "qemu", "hostel/qemu", "target", "verdict"]
    rows = list(table_rows(opts, samples))
    benchlib.print_table(head, [r[0] for r in rows])
    return [r[1] for r in rows]


def print_header(opts):
    qemu_version = subprocess.run([opts.qemu, "--version"], capture_output=True, text=True,
                                  timeout=SHORT_TIMEOUT_S).stdout.splitlines()[:1]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench/boot: {opts.hostel} vs {' '.join(qemu_version) or opts.qemu}")
    print(f"guest: {opts.guest} (Image + initramfs), {opts.mem} MiB RAM, "
          f"cmdline \"{CMDLINE}\"; hostel firmware: "
          f"{opts.hostel_bios or 'built-in SBI'}; qemu firmware: its default (OpenSBI)")
    print(f"boots: best of {opts.runs} (memory: worst of {opts.runs}); "
          f"host: {os.cpu_count()} CPUs, load average {load}")


# ---------------------------------------------------------------- options

def parse_harts(text):
    try:
        harts = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of hart counts: {text!r}") from None
    if not harts or any(not 1 <= h <= 8 for h in harts):
        raise argparse.ArgumentTypeError(f"hart counts must be 1 to 8: {text!r}")
    return harts


def positive(kind):
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
        return value
    return check


def parse_options(argv):
    p = argparse.ArgumentParser(
        prog="bench/boot/run.py",
        description="Boot the default Linux guest under hostel and QEMU; compare boot "
                    "time, guest CPU work, idle host CPU and VMM memory.")
    p.add_argument("build_dir", nargs="?", default="build",
                   help="meson build directory holding hostel (default: build); "
                        "$HOSTEL_BIN overrides the binary")
    p.add_argument("--runs", "-n", type=positive(int), default=3,
                   help="boots per emulator and hart count (default 3)")
    p.add_argument("--harts", type=parse_harts, default=[1, 4],
                   help="comma-separated hart counts (default 1,4)")
    p.add_argument("--quick", action="store_true", help="one run, 1 hart only")
    p.add_argument("--guest", help="guest directory with Image and initramfs.cpio.gz "
                   "(default: $HOSTEL_GUEST_DIR, else what guest/build.sh prints)")
    p.add_argument("--mem", type=positive(int), default=256, help="guest RAM in MiB (256)")
    p.add_argument("--idle-seconds", type=positive(float), default=10.0,
                   help="length of the idle window (default 10)")
    p.add_argument("--boot-timeout", type=positive(int), default=BOOT_TIMEOUT_S,
                   help=f"seconds allowed for a boot to reach its prompt ({BOOT_TIMEOUT_S})")
    p.add_argument("--timeout", type=positive(int), default=600,
                   help="seconds allowed for one guest command (default 600)")
    p.add_argument("--hostel-net", help="give hostel this --net (e.g. none, to compare with "
                   "a build from before the default network card)")
    p.add_argument("--hostel-bios", help="boot hostel through this M-mode firmware "
                   "(e.g. OpenSBI's fw_dynamic.bin) instead of its built-in SBI")
    p.add_argument("--no-workloads", action="store_true", help="skip gzip and sha256sum")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    p.add_argument("--keep-logs", action="store_true", help="keep the console logs")
    opts = p.parse_args(argv)
    if opts.quick:
        opts.runs, opts.harts = 1, [1]
    return opts, p


def find_guest(opts):
    """Directory of the guest images (guest/build.sh reuses its cache)."""
    given = opts.guest or os.environ.get("HOSTEL_GUEST_DIR")
    if not given:
        proc = subprocess.run(["bash", str(REPO / "guest" / "build.sh")], text=True,
                              stdout=subprocess.PIPE, timeout=5400)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise BenchError(f"guest/build.sh failed (status {proc.returncode})")
        given = lines[-1]
    guest = pathlib.Path(given)
    for image in ("Image", "initramfs.cpio.gz"):
        if not (guest / image).is_file():
            raise BenchError(f"{guest / image}: no such file")
    return guest


def resolve_tools(opts, parser):
    opts.hostel = os.environ.get("HOSTEL_BIN") or str(pathlib.Path(opts.build_dir) / "hostel")
    if not os.access(opts.hostel, os.X_OK):
        parser.error(f"{opts.hostel}: not an executable (build hostel or set HOSTEL_BIN)")
    opts.qemu = os.environ.get("QEMU_BIN") or shutil.which("qemu-system-riscv64")
    if not opts.qemu:
        parser.error("qemu-system-riscv64 not found (install it or set QEMU_BIN)")
    if opts.hostel_bios and not os.path.isfile(opts.hostel_bios):
        parser.error(f"{opts.hostel_bios}: no such file")


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv):
    opts, parser = parse_options(argv)
    resolve_tools(opts, parser)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    log_dir = pathlib.Path(tempfile.mkdtemp(prefix="bench-boot-"))
    try:
        opts.guest = find_guest(opts)
        print_header(opts)
        sys.stdout.flush()
        samples, failures = run_all(opts, log_dir)
        print()
        verdicts = print_table(opts, samples)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except BenchError as e:
        print(f"bench/boot: {e}", file=sys.stderr)
        return 1
    finally:
        Guest.close_all()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    if failures or opts.keep_logs:
        print(f"console logs: {log_dir}", file=sys.stderr)
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    if failures:
        return 1
    return 3 if opts.check and "MISS" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
