#!/usr/bin/python3
"""Debian boot benchmark: the debian-13 image booted from its disk under hostel and QEMU.

In one run, one emulator after the other (N times each), the same image (a fresh qcow2
overlay per boot, so every boot is a first boot), the same firmware (Debian's OpenSBI
fw_dynamic.bin + U-Boot qemu-riscv64_smode) and the same cloud-init seed (made by
`hostel run --cloud-init`: root's console password), 1 GiB, one hart, one user-mode
network card, it measures host seconds from the emulator's start to:

- U-Boot's banner, and U-Boot's "Starting kernel" (the firmware's share);
- the login prompt on ttyS0 (`HOSTNAME login:`);
- `systemctl is-system-running --wait` answering (logged in as root on the console),
  and what it answered;

and for hostel the instructions the harts retired to the end of the run (--stats). It
prints one table with the ratio hostel/QEMU.  See docs/bench.md ("Debian boot").

Usage: bench/boot/debian.py [BUILD] [--image FILE] [--runs N] [--no-qemu] [--to-login]
Without --image, `hostel image build debian-13` makes (or takes from its cache) the image.
Exit status: 0 = every boot succeeded; 1 = one failed (its cells read FAIL); 2 = usage.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pexpect

REPO = pathlib.Path(__file__).resolve().parents[2]
OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
HOSTNAME = "bench"
PASSWORD = "bench-boot"
USER_DATA = f"""#cloud-config
hostname: {HOSTNAME}
bootcmd:
  # until hostel gives one console (ttyS0), a getty on hvc0 shares the typed input
  - [systemctl, mask, serial-getty@hvc0.service]
runcmd:
  - [systemctl, reset-failed, serial-getty@hvc0.service]
chpasswd:
  expire: false
  users:
    - {{name: root, password: {PASSWORD}, type: text}}
"""
TIMEOUT_S = 1800
MARKS = [("uboot", "U-Boot 20", "U-Boot banner"),
         ("kernel", "Starting kernel", "U-Boot starts the kernel"),
         ("login", f"{HOSTNAME} login: ", "login prompt on ttyS0")]


class BenchError(Exception):
    pass


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv))}: {r.stderr.strip()}")
    return r.stdout


def seed_path(hostel, work):
    """The seed disk hostel makes for USER_DATA (QEMU attaches the same file)."""
    ud = work / "user-data.yaml"
    ud.write_text(USER_DATA)
    cfg = json.loads(run([hostel, "run", "--bios", OPENSBI, "-k", UBOOT, "--cloud-init", str(ud),
                          "--print-config"], env=dict(os.environ, HOSTEL_CACHE=str(work))))
    return cfg["disks"][-1]["path"]


def hostel_argv(hostel, disk, seed):
    return [hostel, "run", "--stats", "-m", "1G", "--bios", OPENSBI, "-k", UBOOT,
            "-d", str(disk), "-d", f"{seed},ro,format=raw", "--net", "user"]


def qemu_argv(qemu, disk, seed):
    return [qemu, "-M", "virt", "-m", "1G", "-smp", "1", "-nographic", "-monitor", "none",
            "-bios", OPENSBI, "-kernel", UBOOT,
            "-drive", f"file={disk},if=none,id=d0,format=qcow2",
            "-device", "virtio-blk-device,drive=d0",
            "-drive", f"file={seed},if=none,id=d1,format=raw,readonly=on",
            "-device", "virtio-blk-device,drive=d1",
            "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]


def boot_once(argv, log, to_login=False):
    """One boot: seconds to each mark, to is-system-running and its answer."""
    res = {}
    start = time.monotonic()
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          timeout=TIMEOUT_S, dimensions=(50, 200))
    child.logfile_read = log
    try:
        for key, text, _ in MARKS:
            child.expect_exact(text)
            res[key] = time.monotonic() - start
        if to_login:
            return res
        for _ in range(10):  # a getty that starts again (first boot settling) eats input
            time.sleep(3)
            child.sendline("root")
            if child.expect_exact(["Password: ", f"{HOSTNAME} login: "]) == 1:
                continue
            child.sendline(PASSWORD)
            if child.expect([f"root@{HOSTNAME}:~# ", f"{HOSTNAME} login: "]) == 0:
                break
        else:
            raise BenchError("root could not log in (10 tries)")
        child.sendline("systemctl is-system-running --wait; echo @@DONE$((6*7))")
        child.expect(r"(\w+)\r?\n@@DONE42")
        res["running"] = time.monotonic() - start
        res["state"] = child.match.group(1)
        child.sendline("poweroff")
        child.expect(pexpect.EOF, timeout=600)
        child.close()
        if child.exitstatus != 0:
            raise BenchError(f"exit status {child.exitstatus}")
    except (pexpect.TIMEOUT, pexpect.EOF) as e:
        raise BenchError(f"{type(e).__name__} after {time.monotonic() - start:.0f} s "
                         f"(log: {log.name})") from None
    finally:
        if child.isalive():
            child.close(force=True)
    return res


def instructions(log_path):
    m = re.findall(r"^instructions: (\d+)", pathlib.Path(log_path).read_text(errors="replace"),
                   re.M)
    return int(m[-1]) if m else None


def bench(name, make_argv, hostel, image, seed, runs, work, to_login=False):
    out = []
    for i in range(runs):
        disk = work / f"{name}-{i}.qcow2"
        run([hostel, "img", "create", "-f", "qcow2", "-b", str(image), "-F", "qcow2", str(disk)])
        log_path = work / f"{name}-{i}.log"
        with open(log_path, "w", encoding="utf-8", errors="replace") as log:
            try:
                r = boot_once(make_argv(disk, seed), log, to_login)
            except BenchError as e:
                print(f"{name} run {i + 1}: {e}", file=sys.stderr)
                r = None
        if r is not None and name == "hostel":
            r["insns"] = instructions(log_path)
        out.append(r)
        disk.unlink()
    return out


def cell(results, key, fmt="{:.1f}"):
    vals = [r[key] for r in results if r and r.get(key) is not None]
    if not vals or len(vals) < len(results):
        return "FAIL"
    return fmt.format(min(vals)) if not isinstance(vals[0], str) else "/".join(sorted(set(vals)))


def table(h, q):
    rows = [(label, key) for key, _, label in MARKS]
    if any(r and "running" in r for r in h):
        rows += [("systemctl is-system-running answered", "running"), ("  its answer", "state")]
    print(f"{'(host seconds from start, best of runs)':<40} {'hostel':>10} {'QEMU 7.2':>10} "
          f"{'ratio':>7}")
    for label, key in rows:
        hc, qc = cell(h, key), cell(q, key) if q else "-"
        ratio = ""
        try:
            ratio = f"{float(hc) / float(qc):.2f}"
        except ValueError:
            pass
        print(f"{label:<40} {hc:>10} {qc:>10} {ratio:>7}")
    insns = [r["insns"] for r in h if r and r.get("insns")]
    if insns:
        print(f"{'hostel: instructions retired (to poweroff)':<40} {min(insns) / 1e9:>9.2f}G")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=str(REPO / "build"))
    ap.add_argument("--image", help="the debian-13 qcow2 (default: hostel image build)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--to-login", action="store_true",
                    help="stop at the login prompt (no console login, no is-system-running)")
    opts = ap.parse_args()
    hostel = str(pathlib.Path(opts.build) / "hostel")
    qemu = shutil.which("qemu-system-riscv64")
    if not os.access(hostel, os.X_OK):
        ap.error(f"{hostel} is not built")
    for f in (OPENSBI, UBOOT):
        if not os.path.isfile(f):
            ap.error(f"{f} is missing (scripts/deps.sh)")
    with tempfile.TemporaryDirectory(prefix="hostel-bench-debian-") as tmp:
        work = pathlib.Path(tmp)
        image = opts.image
        if not image:
            image = str(work / "debian-13.qcow2")
            t = time.monotonic()
            run([hostel, "image", "build", "debian-13", "-o", image])
            print(f"image: hostel image build debian-13: {time.monotonic() - t:.0f} s")
        seed = seed_path(hostel, work)
        h = bench("hostel", lambda d, s: hostel_argv(hostel, d, s), hostel, image, seed,
                  opts.runs, work, opts.to_login)
        q = None
        if qemu and not opts.no_qemu:
            q = bench("qemu", lambda d, s: qemu_argv(qemu, d, s), hostel, image, seed, opts.runs,
                      work, opts.to_login)
        table(h, q)
        ok = all(h) and (q is None or all(q))
        if not ok:
            keep = pathlib.Path(tempfile.mkdtemp(prefix="hostel-bench-debian-logs-"))
            for f in work.glob("*.log"):
                shutil.copy(f, keep)
            print(f"logs: {keep}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
