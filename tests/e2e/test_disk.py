"""virtio-blk end to end: what a user does with a disk image.

Write a file on the ext4 root disk, sync, power off, boot again and read it
back with the same sha256; a read-only disk refuses writes in the guest; an
image in use by a running VM cannot be opened for writing by another.
"""

import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN", str(REPO / "build" / "hostel"))


def argv(guest, *extra):
    return [HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", *extra]


@pytest.fixture
def disk(guest, tmp_path):
    path = tmp_path / "root.ext4"
    shutil.copyfile(guest.rootfs, path)
    return path


def test_write_sync_poweroff_read_back(guest, boot, disk):
    g = boot(argv(guest, "-d", str(disk)))
    g.check("mkdir -p /mnt && mount /dev/vda /mnt")
    assert g.check("cat /mnt/etc/hostel-rootfs").startswith("hostel rootfs")
    g.check("dd if=/dev/urandom of=/mnt/data bs=1024 count=3000 2>/dev/null")
    written = g.check("sha256sum /mnt/data").split()[0]
    g.check("sync && umount /mnt")
    assert g.poweroff() == 0

    g = boot(argv(guest, "-d", str(disk)))
    g.check("mkdir -p /mnt && mount /dev/vda /mnt")
    assert g.check("sha256sum /mnt/data").split()[0] == written
    g.check("umount /mnt")
    assert g.poweroff() == 0
    if shutil.which("e2fsck"):
        r = subprocess.run(["e2fsck", "-fn", str(disk)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_read_only_disk_refuses_writes(guest, boot, disk):
    before = disk.read_bytes()
    g = boot(argv(guest, "-d", f"{disk},ro"))
    assert g.check("cat /sys/block/vda/ro") == "1"
    g.check("mkdir -p /mnt && mount -o ro /dev/vda /mnt")
    status, _ = g.run("touch /mnt/x")
    assert status != 0
    status, _ = g.run("dd if=/dev/zero of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null")
    assert status != 0
    assert g.poweroff() == 0
    assert disk.read_bytes() == before


def test_two_disks_and_entropy(guest, boot, disk, tmp_path):
    second = tmp_path / "blank.img"
    second.write_bytes(b"\0" * (8 << 20))
    g = boot(argv(guest, "-d", str(disk), "-d", str(second)))
    assert g.check("cat /sys/block/vdb/size") == str((8 << 20) // 512)
    assert g.check("head -c 4096 /dev/hwrng | wc -c") == "4096"
    assert g.poweroff() == 0


def test_image_in_use_is_refused(guest, boot, disk):
    g = boot(argv(guest, "-d", str(disk)))
    r = subprocess.run(argv(guest, "-d", str(disk)), capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another process" in lines[0], r.stderr
    assert g.poweroff() == 0


def test_missing_disk_is_one_line(guest):
    r = subprocess.run(argv(guest, "-d", "/nonexistent/disk.img"), capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent/disk.img" in lines[0], r.stderr
