"""Booting from a disk as a PC does: `hostel run -d DISK` with no -k.

The disks are made in the test from the default guest's kernel and initramfs
(images/mkdisk.sh: sfdisk, mkfs.ext4 -d or mkfs.vfat + mcopy; no root, no
mounts), with an extlinux.conf in u-boot-menu's format.  Debian's OpenSBI and
U-Boot (qemu-riscv64_smode) boot it: U-Boot must find the virtio-blk disk,
read the file system and boot the kernel with the append line.
"""

import json
import pathlib
import shutil
import subprocess

import pexpect
import pytest

from vmtest import HOSTEL, REPO

MKDISK = REPO / "images" / "mkdisk.sh"
OPENSBI = pathlib.Path("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin")
UBOOT = pathlib.Path("/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin")
MARK = "hostel.test=extlinux"

EXTLINUX = """## /boot/extlinux/extlinux.conf (as u-boot-update writes it)
default l0
menu title U-Boot menu
prompt 0
timeout 1

label l0
\tmenu label hostel test guest
\tlinux /boot/vmlinux
\tinitrd /boot/initrd.img
\tappend console=ttyS0 earlycon=sbi {mark}
"""


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None and
               not pathlib.Path("/usr/sbin", t).exists() and not pathlib.Path("/sbin", t).exists()]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)} (scripts/deps.sh installs them)")


@pytest.fixture
def firmware():
    if not OPENSBI.is_file() or not UBOOT.is_file():
        pytest.skip("Debian packages opensbi and u-boot-qemu are needed (scripts/deps.sh)")


def make_disk(guest, tmp_path, fs="ext4", table="gpt", mark=MARK):
    """A disk whose one partition holds /boot/{vmlinux,initrd.img,extlinux/extlinux.conf}."""
    need("sfdisk", "mkfs.ext4", *(("mkfs.vfat", "mcopy") if fs == "vfat" else ()))
    tree = tmp_path / f"tree-{fs}"
    (tree / "boot" / "extlinux").mkdir(parents=True)
    shutil.copy(guest.kernel, tree / "boot" / "vmlinux")
    shutil.copy(guest.initrd, tree / "boot" / "initrd.img")
    (tree / "boot" / "extlinux" / "extlinux.conf").write_text(EXTLINUX.format(mark=mark))
    disk = tmp_path / f"disk-{fs}-{table}.img"
    r = subprocess.run(["bash", str(MKDISK), "-o", str(disk), "--size", "24M", "--table", table,
                        "--id", "test", f"{fs}:rest:{tree}:boot"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return disk


def print_config(*args):
    r = subprocess.run([HOSTEL, "run", *args, "--print-config"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_extlinux_on_ext4_gpt_boots_and_reboots(guest, boot, firmware, tmp_path):
    disk = make_disk(guest, tmp_path)
    g = boot([HOSTEL, "run", "-d", f"{disk},format=raw", "--net", "none"])
    assert MARK in g.check("cat /proc/cmdline"), "the kernel got extlinux.conf's append line"
    assert g.check("cat /sys/block/vda/vda1/partition") == "1"
    g.child.sendline("reboot")
    g.wait_ready()
    assert g.poweroff() == 0
    log = pathlib.Path(g.log.name).read_text(errors="replace")
    assert log.count("U-Boot 20") >= 2, "the reboot went through the firmware again"
    assert "Found /boot/extlinux/extlinux.conf" in log
    assert "OpenSBI" in log


def test_extlinux_on_vfat_dos_qcow2(guest, boot, firmware, tmp_path):
    raw = make_disk(guest, tmp_path, fs="vfat", table="dos")
    qcow = tmp_path / "disk.qcow2"
    r = subprocess.run([HOSTEL, "img", "convert", "-O", "qcow2", str(raw), str(qcow)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    g = boot([HOSTEL, "run", "-d", str(qcow), "-m", "256M", "--net", "none"])
    assert MARK in g.check("cat /proc/cmdline")
    assert g.poweroff() == 0


def test_disk_boot_defaults(guest, firmware, tmp_path):
    """Which boot a command line gets: firmware for a partitioned first disk, else the guest."""
    disk = make_disk(guest, tmp_path)
    c = print_config("-d", str(disk))
    assert c["boot"]["bios"] == str(OPENSBI) and c["boot"]["kernel"] == str(UBOOT)
    assert c["ram-size"] == 1 << 30, "a disk boot gets 1 GiB unless -m says"
    assert print_config("-d", str(disk), "-m", "300M")["ram-size"] == 300 << 20
    own = tmp_path / "fw.bin"
    shutil.copy(OPENSBI, own)
    assert print_config("-d", str(disk), "--bios", str(own))["boot"]["bios"] == str(own)
    # -k, -i or a disk without a partition table keep the kernel boot
    assert print_config("-d", str(disk), "-k", str(guest.kernel))["boot"]["bios"] is None
    c = print_config("-d", str(disk), "-i", str(guest.initrd))["boot"]
    assert c["kernel"].endswith("/Image") and c["bios"] is None
    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\0" * (1 << 20))
    c = print_config("-d", str(blank))
    assert c["boot"]["kernel"].endswith("/Image") and c["boot"]["bios"] is None
    assert c["ram-size"] == 128 << 20


def test_missing_disk_is_one_line(guest, tmp_path):
    r = subprocess.run([HOSTEL, "run", "-d", str(tmp_path / "nope.img")], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "nope.img" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_uboot_without_bootable_partition_stops_at_prompt(guest, boot, firmware, tmp_path):
    """A partitioned disk with nothing to boot: U-Boot says so and waits at its prompt."""
    empty = tmp_path / "empty"
    empty.mkdir()
    disk = tmp_path / "nothing.img"
    r = subprocess.run(["bash", str(MKDISK), "-o", str(disk), "--size", "8M",
                        f"ext4:rest:{empty}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    g = boot([HOSTEL, "run", "-d", str(disk), "-m", "256M", "--net", "none"], wait=False)
    g.child.expect("Scanning virtio 0:1", timeout=120)
    g.child.expect("=> ", timeout=120)
    g.child.send("\x01x")
    g.child.expect(pexpect.EOF, timeout=30)
    assert g.close() == 0
