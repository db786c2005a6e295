#!/usr/bin/python3
"""Management benchmark: hosteld's API, its VM starts, its memory and its re-attach.

One run, on a hosteld of its own (a temporary state directory, no rate
limit), measures the figures of issue 11's "Benchmark (bench/mgmt)":

1. create + start: from the `POST /1.0/vms` of a VM with the default guest
   (then `PUT .../state {"action": "start"}`) to the first byte on its
   console socket and to the shell's answer to `echo bench-$((6*7))` typed
   at its prompt; beside it, `hostel run` alone on the same machine
   definition (the engine's own boot, its console on a pty), best of --runs.
2. API latency, p50/p99 of --requests requests each on one keep-alive
   connection over the unix socket, with --vms VMs defined: `GET
   /1.0/vms?recursion=1`, `GET /1.0/vms`, and `GET /1.0/vms/NAME/state` of a
   running VM.
3. The daemon's resident set (VmRSS) with no VM, with --vms defined, and
   with --autostart of them running.
4. Autostart: --autostart of the VMs are defined with "autostart": true
   (--autostart-mem MiB each); hosteld is restarted and the time from its
   spawn is taken until all are `running` in the API, until all have printed
   their first console byte, and until all have answered the echo.
5. Re-attach: with those VMs running, hosteld is killed with SIGKILL and
   started again; the time from its spawn until `GET /1.0/vms?recursion=1`
   lists them all running, and whether their pids are unchanged. Done twice:
   right after the autostart (the guests just booted, their VMMs still
   busy) and after the guests idled --settle seconds.

Every VMM started is killed at the end, whatever happened (RUN/*/pid and
every pid seen). Figures are printed beside their targets; exit 0 unless
something failed (1), 2 on a usage error, 3 with --check when a target is
missed. See docs/bench.md ("Management (bench/mgmt)").
"""

import argparse
import http.client
import importlib.util
import math
import os
import pathlib
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import pexpect

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from hosteld import BenchError, Console, Daemon  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_boot", REPO / "bench" / "boot" / "run.py")
boot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(boot)

PROMPT = re.compile(r"hostel:[^\r\n]*# ")
TARGET_LIST_P99_MS = 20.0
TARGET_SHELL_S = 1.5
TARGET_RSS_MIB = 30.0
TARGET_REATTACH_S = 1.0
WARMUP = 20

# The nearest published peer figure found offline (docs/bench.md, "Peers"): context only.
LXD_LIST_200 = ("LXD: `lxc ls` of 200 containers 0.70 s wall, CLI included "
                "(github.com/canonical/lxd/issues/11042)")


def progress(text):
    print(text, file=sys.stderr, flush=True)


def ms(seconds):
    return seconds * 1000.0


def percentile(values, p):
    """The p-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100.0 * len(ordered))))
    return ordered[rank - 1]


# ---------------------------------------------------------------- 1. create + start

def watch_consoles(consoles, deadline, poll=None):
    """Drive the consoles until each has answered or the deadline passes.

    poll, when given, is called about every 20 ms (e.g. to read the API).
    A console whose socket is not there yet is retried on every turn.
    """
    sel = selectors.DefaultSelector()
    waiting = list(consoles)
    next_poll = 0.0
    try:
        while time.perf_counter() < deadline:
            for c in [c for c in waiting if c.sock is None]:
                if c.try_connect():
                    sel.register(c, selectors.EVENT_READ)
            # poll often while a socket is awaited: the guest prints from its first instant
            unconnected = any(c.sock is None for c in waiting)
            for key, _ in sel.select(timeout=0.001 if unconnected else 0.005):
                c = key.fileobj
                if not c.on_readable():
                    sel.unregister(c)
                    waiting.remove(c)
                    c.close()
                elif c.done():
                    sel.unregister(c)
                    waiting.remove(c)
            if poll and time.perf_counter() >= next_poll:
                poll()
                next_poll = time.perf_counter() + 0.02
            if not waiting and (poll is None or poll.finished()):
                return
    finally:
        sel.close()


def daemon_create_start(d, name, timeout):
    """Create and start one VM; return (first byte s, shell answer s) from the create
    and the bytes of history the VMM had when the console was reached."""
    console = Console(name, d.console_path(name), PROMPT)
    t0 = time.perf_counter()
    d.create(name)
    op = d.act(name, "start")
    try:
        watch_consoles([console], t0 + timeout)
    finally:
        console.close()
    d.wait(op)
    d.vm_state(name)
    if console.t_answer is None:
        raise BenchError(f"{name}: no shell answer within {timeout} s "
                         f"(console: {console.out[-200:]!r})")
    return console.t_first - t0, console.t_answer - t0, console.history


def engine_boot(hostel, config, log_path, timeout):
    """`hostel run --config` alone: (first byte s, shell answer s) from its spawn."""
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        t0 = time.perf_counter()
        child = pexpect.spawn(hostel, ["run", "--config", str(config)], encoding="utf-8",
                              codec_errors="replace", timeout=timeout, dimensions=(50, 200))
        child.logfile_read = log
        try:
            child.expect(r"[\s\S]")
            t_first = time.perf_counter() - t0
            child.expect(PROMPT)
            child.sendline("echo bench-$((6*7))")
            child.expect_exact("bench-42")
            t_answer = time.perf_counter() - t0
            child.sendline("poweroff")
            child.expect(pexpect.EOF, timeout=60)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            raise BenchError(f"hostel run --config {config}: {type(e).__name__} "
                             f"(log: {log_path})") from None
        finally:
            child.close(force=True)
    return t_first, t_answer


def engine_socket_boot(hostel, config, sock_path, log_path, timeout):
    """`hostel run --config --console-socket` alone, its console read as the daemon's
    VMs' are: (first byte s, shell answer s, history bytes at connect) from its spawn."""
    console = Console("hostel run", sock_path, PROMPT)
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([hostel, "run", "--config", str(config), "--console-socket",
                                 str(sock_path)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            watch_consoles([console], t0 + timeout)
            if console.t_answer is None:
                raise BenchError(f"hostel run --console-socket: no shell answer within "
                                 f"{timeout} s (log: {log_path})")
            console.sock.sendall(b"poweroff\n")
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise BenchError("hostel run --console-socket: no exit within 60 s of "
                             "poweroff") from None
        finally:
            console.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return console.t_first - t0, console.t_answer - t0, console.history


def bench_create_start(opts, d, results):
    """Alternate daemon create+start and engine boots; keep the best of each."""
    daemon_first, daemon_shell, engine_first, engine_shell, histories = [], [], [], [], []
    sock_first, sock_shell = [], []
    for run in range(1, opts.runs + 1):
        name = f"cs-{run}"
        first, shell, history = daemon_create_start(d, name, opts.boot_timeout)
        daemon_first.append(first)
        daemon_shell.append(shell)
        histories.append(history)
        config = d.state / "vmdata" / name / "config.json"
        e_first, e_shell = engine_boot(opts.hostel, config, opts.work / f"engine-{run}.log",
                                       opts.boot_timeout)
        engine_first.append(e_first)
        engine_shell.append(e_shell)
        s_first, s_shell, _ = engine_socket_boot(opts.hostel, config, opts.work / "engine.sock",
                                                 opts.work / f"engine-sock-{run}.log",
                                                 opts.boot_timeout)
        sock_first.append(s_first)
        sock_shell.append(s_shell)
        progress(f"create+start run {run}: first byte {ms(first):.0f} ms (history at "
                 f"connect {history} B), shell {ms(shell):.0f} ms; hostel run alone: "
                 f"pty {ms(e_first):.0f} / {ms(e_shell):.0f} ms, console socket "
                 f"{ms(s_first):.0f} / {ms(s_shell):.0f} ms")
        if run > 1:  # cs-1 stays running for the state latency
            d.wait(d.act(name, "stop", force=True))
    best = daemon_first.index(min(daemon_first))
    results.update(cs_first=min(daemon_first), cs_first_history=histories[best],
                   cs_shell=min(daemon_shell), engine_first=min(engine_first),
                   engine_shell=min(engine_shell), sock_first=min(sock_first),
                   sock_shell=min(sock_shell),
                   cs_shell_all=daemon_shell, engine_shell_all=engine_shell)


# ---------------------------------------------------------------- 2. API latency

def define_vms(d, opts, existing):
    """Define VMs up to opts.vms in all; the first opts.autostart of them autostart."""
    names, auto = [], []
    cfg = {"ram-size": opts.autostart_mem << 20}
    t0 = time.perf_counter()
    for i in range(max(0, opts.vms - existing)):
        name = f"vm-{i:03d}"
        if i < opts.autostart:
            d.create(name, autostart=True, config=cfg)
            auto.append(name)
        else:
            d.create(name)
        names.append(name)
    elapsed = time.perf_counter() - t0
    if len(auto) < opts.autostart:
        raise BenchError(f"--vms {opts.vms} leaves room for only {len(auto)} autostart VMs")
    return names, auto, elapsed


def latency(d, path, count, check):
    """p50, p99, max (ms) of count GETs of path on the kept connection."""
    status, body = d.get(path)
    if status != 200:
        raise BenchError(f"GET {path}: {status} {body[:200]!r}")
    check(body)
    for _ in range(WARMUP):
        d.get(path)
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        status, _ = d.get(path)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise BenchError(f"GET {path}: {status}")
    return ms(percentile(times, 50)), ms(percentile(times, 99)), ms(max(times))


def bench_latency(opts, d, results, total):
    import json

    def listed(full):
        def check(body):
            vms = json.loads(body)["vms"]
            if len(vms) != total or (full and not isinstance(vms[0], dict)):
                raise BenchError(f"GET /1.0/vms lists {len(vms)} VMs, expected {total}")
        return check

    def running(body):
        if json.loads(body)["status"] != "running":
            raise BenchError("cs-1 is not running")

    results["lat_list_full"] = latency(d, "/1.0/vms?recursion=1", opts.requests, listed(True))
    results["lat_list"] = latency(d, "/1.0/vms", opts.requests, listed(False))
    results["lat_state"] = latency(d, "/1.0/vms/cs-1/state", opts.requests, running)
    for key, what in (("lat_list_full", "list?recursion=1"), ("lat_list", "list"),
                      ("lat_state", "state")):
        p50, p99, top = results[key]
        progress(f"GET {what}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms")


# ---------------------------------------------------------------- 4. autostart

class StatePoll:
    """Polls GET /1.0/vms?recursion=1 during a daemon start: when the API first
    answers and when every name in `names` is first listed running."""

    def __init__(self, d, names, t0):
        self.d, self.names, self.t0 = d, set(names), t0
        self.t_api = self.t_running = None
        self.running = 0
        self.running_at_first = None  # how many were listed running in the first answer

    def __call__(self):
        if self.t_running is not None:
            return
        try:
            states = self.d.states()
        except (OSError, http.client.HTTPException, BenchError, ValueError) as e:
            if isinstance(e, BenchError) and self.t_api is None:
                raise
            return
        now = time.perf_counter()
        self.running = sum(1 for n in self.names if states.get(n) == "running")
        if self.t_api is None:
            self.t_api, self.running_at_first = now, self.running
        if self.running == len(self.names):
            self.t_running = now

    def finished(self):
        return self.t_running is not None


def bench_autostart(opts, d, auto, results):
    """Restart hosteld; time its autostart of the `auto` VMs."""
    d.stop()
    consoles = [Console(n, d.console_path(n), PROMPT) for n in auto]
    t0 = time.perf_counter()
    d.spawn()
    poll = StatePoll(d, auto, t0)
    try:
        watch_consoles(consoles, t0 + opts.autostart_timeout, poll)
    finally:
        for c in consoles:
            c.close()
    d.pid_files()
    firsts = [c.t_first for c in consoles if c.t_first is not None]
    answers = [c.t_answer for c in consoles if c.t_answer is not None]
    results.update(
        as_api=(poll.t_api - t0) if poll.t_api else None,
        as_running=(poll.t_running - t0) if poll.t_running else None,
        as_first=(max(firsts) - t0) if len(firsts) == len(auto) else None,
        as_shell=(max(answers) - t0) if len(answers) == len(auto) else None,
        as_counts=(poll.running, len(firsts), len(answers)))
    if answers:
        results["as_shell_median"] = statistics.median(answers) - t0
    progress(f"autostart of {len(auto)}: running {poll.running}, first byte {len(firsts)}, "
             f"shell {len(answers)}; all running at {fmt_s(results['as_running'])}, all "
             f"first bytes at {fmt_s(results['as_first'])}, all shells at "
             f"{fmt_s(results['as_shell'])}")
    if poll.t_running is None:
        raise BenchError(f"only {poll.running} of {len(auto)} autostart VMs running after "
                         f"{opts.autostart_timeout} s")


# ---------------------------------------------------------------- 5. re-attach

def bench_reattach(d, auto, results, phase):
    """kill -9 hosteld with the VMs running; time its restart to all re-attached.

    results["re_" + phase] gets {api, all, first, changed}: seconds to the first
    answer, to all listed running, how many the first answer listed running,
    and the VMs whose pid is not the one before."""
    before = {n: d.vm_state(n)["pid"] for n in auto}
    d.stop(signal.SIGKILL)
    t0 = time.perf_counter()
    d.spawn()
    poll = StatePoll(d, auto, t0)
    deadline = t0 + 30
    while not poll.finished() and time.perf_counter() < deadline:
        poll()
        if not poll.finished():
            if d.proc.poll() is not None:
                raise BenchError(f"hosteld exited {d.proc.returncode}: {d.log_tail()}")
            time.sleep(0.002)
    if not poll.finished():
        raise BenchError(f"after kill -9 and restart, {poll.running} of {len(auto)} "
                         "VMs listed running within 30 s")
    after = {n: d.vm_state(n).get("pid") for n in auto}
    changed = [n for n in auto if after[n] != before[n]]
    results["re_" + phase] = {"api": poll.t_api - t0, "all": poll.t_running - t0,
                              "changed": changed, "first": poll.running_at_first}
    progress(f"re-attach, {phase}: API up {ms(poll.t_api - t0):.0f} ms listing "
             f"{poll.running_at_first} running, all {len(auto)} running "
             f"{ms(poll.t_running - t0):.0f} ms, pids changed: {len(changed)}")


# ---------------------------------------------------------------- the table

def fmt_s(value):
    return "FAIL" if value is None else f"{value:.2f} s"


def verdict(value, limit):
    if value is None:
        return "FAIL"
    return "met" if value < limit else "missed"


def rows(opts, r):
    """(figure, hostel, beside it, target, verdict) rows from the results."""
    out = []
    n, a = opts.vms, opts.autostart
    if "lat_list_full" in r:
        for key, what, target in (
                ("lat_list_full", f"GET /1.0/vms?recursion=1, {n} VMs", True),
                ("lat_list", f"GET /1.0/vms, {n} VMs", False),
                ("lat_state", "GET /1.0/vms/NAME/state, running", False)):
            p50, p99, top = r[key]
            out.append((f"{what}: p50 / p99 (max)", f"{p50:.2f} / {p99:.2f} ({top:.1f}) ms",
                        LXD_LIST_200 if target else "no peer figure offline",
                        f"p99 < {TARGET_LIST_P99_MS:.0f} ms" if target else "",
                        verdict(p99, TARGET_LIST_P99_MS) if target else ""))
    if "cs_first" in r:
        # history at connect: the guest had printed before the socket was reached
        bound = "<= " if r["cs_first_history"] else ""
        out.append(("create+start -> first console byte", f"{bound}{ms(r['cs_first']):.0f} ms",
                    f"hostel run alone: {ms(r['sock_first']):.0f} ms console socket, "
                    f"{ms(r['engine_first']):.0f} ms pty", "", ""))
        out.append(("create+start -> shell answers echo", f"{ms(r['cs_shell']):.0f} ms",
                    f"hostel run alone: {ms(r['sock_shell']):.0f} ms console socket "
                    f"(daemon {ms(r['cs_shell'] - r['sock_shell']):+.0f} ms), "
                    f"{ms(r['engine_shell']):.0f} ms pty",
                    f"< {TARGET_SHELL_S} s", verdict(r["cs_shell"], TARGET_SHELL_S)))
    for key, what, target in (("rss0", "hosteld VmRSS, 0 VMs", False),
                              ("rssN", f"hosteld VmRSS, {n} VMs defined", True),
                              ("rssR", f"hosteld VmRSS, {n} defined, {a} running", False)):
        if key in r:
            out.append((what, f"{r[key] / 1024:.1f} MiB", "",
                        f"< {TARGET_RSS_MIB:.0f} MiB" if target else "",
                        verdict(r[key] / 1024, TARGET_RSS_MIB) if target else ""))
    if "define_s" in r:
        out.append((f"define {r['defined']} VMs (POST, one connection)",
                    f"{r['define_s']:.2f} s ({r['defined'] / r['define_s']:.0f}/s)", "", "", ""))
    if "as_counts" in r:
        running, firsts, shells = r["as_counts"]
        out.append((f"autostart {a}: API answers", fmt_s(r["as_api"]), "", "", ""))
        out.append((f"autostart {a}: all running in the API", fmt_s(r["as_running"]),
                    f"{running}/{a}", "", ""))
        out.append((f"autostart {a}: all printed a first byte", fmt_s(r["as_first"]),
                    f"{firsts}/{a}", "", ""))
        out.append((f"autostart {a}: all shells answered", fmt_s(r["as_shell"]),
                    f"{shells}/{a}; median {fmt_s(r.get('as_shell_median'))}", "", ""))
    for phase, when in (("booted", "guests just booted"),
                        ("idle", f"guests idle {opts.settle} s")):
        ra = r.get("re_" + phase)
        if not ra:
            continue
        out.append((f"kill -9 + restart, {when}: API answers", f"{ms(ra['api']):.0f} ms",
                    f"listing {ra['first']}/{a} running", "", ""))
        changed = ra["changed"]
        out.append((f"kill -9 + restart, {when}: all {a} running", f"{ms(ra['all']):.0f} ms",
                    "pids unchanged" if not changed else f"{len(changed)} pids CHANGED",
                    f"< {TARGET_REATTACH_S:.0f} s",
                    "missed" if changed else verdict(ra["all"], TARGET_REATTACH_S)))
    return out


def print_table(table):
    head = ("figure", "hostel", "beside it", "target", "verdict")
    cells = [head] + table
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


# ---------------------------------------------------------------- options and main

def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def parse_options(argv):
    p = argparse.ArgumentParser(
        prog="bench/mgmt/run.py",
        description="Measure hosteld: API latency with many VMs defined, create+start to "
                    "shell (vs hostel run alone), daemon RSS, autostart of many VMs, and "
                    "re-attach after kill -9.")
    p.add_argument("build_dir", nargs="?", default="build",
                   help="meson build directory holding hostel and hosteld (default: build)")
    p.add_argument("--vms", type=positive, default=200, help="VMs defined (default 200)")
    p.add_argument("--autostart", type=positive, default=50,
                   help="of them, started by autostart and re-attached (default 50)")
    p.add_argument("--autostart-mem", type=positive, default=64,
                   help="RAM of each autostart VM in MiB (default 64)")
    p.add_argument("--requests", type=positive, default=1000,
                   help="requests per latency figure (default 1000)")
    p.add_argument("--runs", type=positive, default=5,
                   help="create+start and engine boots, best kept (default 5)")
    p.add_argument("--guest", help="guest directory with Image and initramfs.cpio.gz "
                   "(default: $HOSTEL_GUEST_DIR, else what guest/build.sh prints)")
    p.add_argument("--boot-timeout", type=positive, default=120,
                   help="seconds for one VM to answer at its shell (default 120)")
    p.add_argument("--autostart-timeout", type=positive, default=400,
                   help="seconds for all autostart VMs to answer (default 400)")
    p.add_argument("--settle", type=positive, default=10,
                   help="seconds the guests idle before the second re-attach (default 10)")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    p.add_argument("--keep", action="store_true", help="keep the state directory and logs")
    opts = p.parse_args(argv)
    if opts.autostart + opts.runs > opts.vms:
        p.error(f"--vms {opts.vms} must be at least --autostart + --runs "
                f"({opts.autostart + opts.runs})")
    build = pathlib.Path(opts.build_dir)
    opts.hostel = os.environ.get("HOSTEL_BIN") or str(build / "hostel")
    opts.hosteld = os.environ.get("HOSTELD_BIN") or str(build / "hosteld")
    for exe in (opts.hostel, opts.hosteld):
        if not os.access(exe, os.X_OK):
            p.error(f"{exe}: not an executable (build it: ninja -C {build})")
    return opts


def run(opts, d, results):
    d.start()
    d.get("/1.0/vms")
    results["rss0"] = d.rss_kib()
    bench_create_start(opts, d, results)
    names, auto, elapsed = define_vms(d, opts, existing=opts.runs)
    results.update(define_s=elapsed, defined=len(names))
    progress(f"defined {len(names)} VMs in {elapsed:.2f} s")
    total = opts.vms
    bench_latency(opts, d, results, total)
    results["rssN"] = d.rss_kib()
    d.wait(d.act("cs-1", "stop", force=True))  # the autostart VMs get the CPUs
    bench_autostart(opts, d, auto, results)
    results["rssR"] = d.rss_kib()
    bench_reattach(d, auto, results, "booted")  # their VMMs still busy with the boot's tail
    time.sleep(opts.settle)
    bench_reattach(d, auto, results, "idle")


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv):
    opts = parse_options(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    opts.work = pathlib.Path(tempfile.mkdtemp(prefix="bench-mgmt-"))
    results, failed = {}, None
    d = None
    try:
        opts.guest = boot.find_guest(opts)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"bench/mgmt: {opts.hosteld} and {opts.hostel}; guest {opts.guest}")
        print(f"{opts.vms} VMs defined, {opts.autostart} autostart ({opts.autostart_mem} MiB "
              f"each), {opts.requests} requests a figure, best of {opts.runs} create+start; "
              f"host: {os.cpu_count()} CPUs, load average {load}")
        sys.stdout.flush()
        d = Daemon(opts.hosteld, opts.work, opts.guest)
        run(opts, d, results)
    except (BenchError, boot.BenchError, OSError) as e:
        failed = str(e)
    finally:
        if d is not None:
            d.stop()
            d.kill_vmms()
    print()
    table = rows(opts, results)
    print_table(table)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        print(f"bench/mgmt: FAILED: {failed} (files kept in {opts.work})", file=sys.stderr)
        return 1
    if opts.keep:
        print(f"state and logs: {opts.work}", file=sys.stderr)
    else:
        shutil.rmtree(opts.work, ignore_errors=True)
    return 3 if opts.check and any(row[4] in ("missed", "FAIL") for row in table) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
