"""Boot the default Linux guest under hostel and check what a user sees.

Covers: the shell with 1 and 4 harts, poweroff and reboot, C-a x, booting
through Debian's OpenSBI (fw_dynamic and fw_jump), U-Boot behind OpenSBI,
--dump-dtb, and one clear error line for bad boot input.
"""

import os
import pathlib
import shutil
import subprocess

import pexpect
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN", str(REPO / "build" / "hostel"))
OPENSBI = pathlib.Path("/usr/lib/riscv64-linux-gnu/opensbi/generic")
UBOOT = pathlib.Path("/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin")
CMDLINE = "console=ttyS0 earlycon=sbi"


def hostel_argv(guest, *extra):
    return [HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, *extra]


@pytest.mark.parametrize("harts", [1, 4])
def test_shell_with_harts(guest, boot, harts):
    g = boot(hostel_argv(guest, "-c", str(harts)))
    assert g.check("uname -m") == "riscv64"
    assert g.check("grep -c ^processor /proc/cpuinfo") == str(harts)
    assert g.check("cat /sys/devices/system/cpu/online") == ("0" if harts == 1 else
                                                             f"0-{harts - 1}")
    assert g.poweroff() == 0


def test_default_guest_without_k(guest, boot, tmp_path):
    """`hostel run` alone boots the cached default guest (the README's first command)."""
    env_cache = tmp_path / "cache"
    env_cache.mkdir()
    (env_cache / "guest").symlink_to(guest.directory)
    os.environ["HOSTEL_CACHE"] = str(env_cache)
    try:
        g = boot([HOSTEL, "run"])
    finally:
        del os.environ["HOSTEL_CACHE"]
    assert "console=ttyS0" in g.check("cat /proc/cmdline")
    assert g.poweroff() == 0


def test_reboot_boots_again(guest, boot):
    g = boot(hostel_argv(guest))
    g.child.sendline("reboot")
    g.wait_ready()
    assert g.check("cat /proc/uptime").split(".")[0] in ("0", "1", "2", "3")
    assert g.poweroff() == 0


def test_ctrl_a_x_quits(guest, boot):
    g = boot(hostel_argv(guest))
    g.child.send("\x01x")
    g.child.expect(pexpect.EOF, timeout=30)
    assert g.close() == 0


def test_timer_and_rtc(guest, boot):
    g = boot(hostel_argv(guest))
    g.check("time true")  # user-mode rdtime (busybox time, the vDSO) must not trap
    start = float(g.check("cut -d' ' -f1 /proc/uptime"))
    g.check("sleep 1")
    assert float(g.check("cut -d' ' -f1 /proc/uptime")) - start >= 1.0
    year = int(g.check("date +%Y"))
    assert year >= 2024, "the goldfish RTC gives the host's date"
    assert g.poweroff() == 0


@pytest.mark.parametrize("firmware", ["fw_dynamic.bin", "fw_jump.bin"])
def test_opensbi_boots_the_same_kernel(guest, boot, firmware):
    fw = OPENSBI / firmware
    if not fw.is_file():
        pytest.skip(f"{fw} is not installed (Debian package opensbi)")
    g = boot(hostel_argv(guest, "--bios", str(fw), "-c", "2"))
    assert g.check("grep -c ^processor /proc/cpuinfo") == "2"
    assert g.poweroff() == 0
    log = pathlib.Path(g.log.name).read_text(errors="replace")
    assert "OpenSBI" in log


def test_uboot_prompt_behind_opensbi(boot, tmp_path):
    fw = OPENSBI / "fw_dynamic.bin"
    if not fw.is_file() or not UBOOT.is_file():
        pytest.skip("Debian packages opensbi and u-boot-qemu are needed")
    g = boot([HOSTEL, "run", "-m", "256M", "--bios", str(fw), "-k", str(UBOOT)], wait=False)
    if g.child.expect(["=> ", "Hit any key to stop autoboot"], timeout=60) == 1:
        g.child.send(" ")
        g.child.expect("=> ", timeout=30)
    g.child.sendline("version")
    g.child.expect("U-Boot 20", timeout=30)
    g.child.send("\x01x")
    g.child.expect(pexpect.EOF, timeout=30)
    assert g.close() == 0


def test_dump_dtb_is_valid(guest, tmp_path):
    dtb = tmp_path / "virt.dtb"
    r = subprocess.run([HOSTEL, "run", "-c", "2", "-k", str(guest.kernel), "-p", "quiet",
                        "--dump-dtb", str(dtb)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    if shutil.which("dtc") is None:
        pytest.skip("dtc is not installed (Debian package device-tree-compiler)")
    dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True,
                         text=True, timeout=60)
    assert dts.returncode == 0, dts.stderr
    for needle in ("cpu@1", 'bootargs = "quiet"', "riscv,plic0", "ns16550a",
                   "google,goldfish-rtc", "syscon-poweroff", "sifive,clint0", "sifive,gpio0",
                   "gpio-keys", "linux,code = <0x74>"):
        assert needle in dts.stdout


@pytest.mark.parametrize("args,message", [
    (["-k", "/nonexistent/Image"], "/nonexistent/Image"),
    (["-k", "/etc/hostname"], "not a RISC-V Linux Image"),
    (["-c", "9"], "1 to 8 harts"),
    (["-m", "8M"], "memory below 16 MiB"),
])
def test_bad_boot_input(guest, args, message):
    argv = [HOSTEL, "run", "-i", str(guest.initrd)] + args
    if "-k" not in args:
        argv += ["-k", str(guest.kernel)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_missing_initrd_is_one_line(guest):
    r = subprocess.run([HOSTEL, "run", "-k", str(guest.kernel), "-i", "/nonexistent.cpio"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "/nonexistent.cpio" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_console_on_hvc0_and_quit(guest, boot):
    """With console=hvc0 (the guest kernel's SBI console; virtio-console is hvc1) the
    shell reads the SBI console: every typed byte reaches it, the first one too (it used
    to stay in the UART's receive buffer), and C-a x still quits although the guest never
    reads ttyS0."""
    g = boot([HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
              "-p", "console=hvc0"])
    assert g.check("echo hvc-$((6*7))") == "hvc-42"
    assert g.check("cat /sys/class/tty/console/active") == "hvc0"
    g.child.send("\x01x")
    g.child.expect(pexpect.EOF, timeout=30)
    assert g.close() == 0
