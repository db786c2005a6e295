"""qcow2 disks under a real guest (issue 4): virtio-blk over our qcow2 driver.

- The guest's ext4 root disk as a qcow2 image: write a file, sync, power off;
  the image passes `qemu-img check`; boot again and read the file back.
- Linked clones: two overlays on one base image; two VMs boot at the same time,
  one from each, and each writes only to its own overlay: the base is
  unchanged, both overlays pass `qemu-img check`, and each holds its own VM's
  file and not the other's (read on the host with debugfs).
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HOSTEL_BUILD", REPO / "build"))
HOSTEL = os.environ.get("HOSTEL_BIN", str(BUILD / "hostel"))
QIO = BUILD / "tests" / "block" / "qio"

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                reason="qemu-img (qemu-utils) is not installed")


def argv(guest, *extra):
    return [HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", *extra]


def qemu_check(image):
    r = subprocess.run(["qemu-img", "check", "--output=json", str(image)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"qemu-img check {image}: {r.stdout}{r.stderr}"
    res = json.loads(r.stdout)
    assert all(res.get(k, 0) == 0 for k in ("corruptions", "leaks", "check-errors")), res


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def guest_file_on_host(image, tmp_path, name):
    """The content of /NAME in the image's ext4 file system (None if absent), through
    QEMU's view of the image and debugfs."""
    raw = tmp_path / f"view-{pathlib.Path(image).stem}.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True,
                   timeout=120)
    r = subprocess.run(["debugfs", "-R", f"cat /{name}", str(raw)], capture_output=True,
                       timeout=60)
    raw.unlink()
    if r.returncode != 0 or b"File not found" in r.stderr:
        return None
    return r.stdout


def write_file(g, name, kib):
    """Mount /dev/vda, write KiB of random data to /mnt/NAME, sync, unmount; its sha256."""
    g.check("mkdir -p /mnt && mount /dev/vda /mnt")
    assert g.check("cat /mnt/etc/hostel-rootfs").startswith("hostel rootfs")
    g.check(f"dd if=/dev/urandom of=/mnt/{name} bs=1024 count={kib} 2>/dev/null")
    digest = g.check(f"sha256sum /mnt/{name}").split()[0]
    g.check("sync && umount /mnt")
    return digest


@pytest.fixture
def base(guest, tmp_path):
    """The guest's root file system as a qcow2 image (64 KiB clusters, v3)."""
    path = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(guest.rootfs),
                    str(path)], check=True, timeout=120)
    return path


def test_qcow2_root_disk_write_reboot_read(guest, boot, base, tmp_path):
    g = boot(argv(guest, "-d", str(base)))
    written = write_file(g, "data", 3000)
    assert g.poweroff() == 0
    qemu_check(base)

    g = boot(argv(guest, "-d", f"{base},format=qcow2"))
    g.check("mkdir -p /mnt && mount /dev/vda /mnt")
    assert g.check("sha256sum /mnt/data").split()[0] == written
    g.check("umount /mnt")
    assert g.poweroff() == 0
    qemu_check(base)
    if shutil.which("debugfs"):
        assert hashlib.sha256(guest_file_on_host(base, tmp_path, "data")).hexdigest() == written


def test_linked_clones_boot_together(guest, boot, base, tmp_path):
    clones = []
    for name in ("a", "b"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F",
                        "qcow2", f"{name}.qcow2"], check=True, cwd=tmp_path, timeout=60)
        clones.append(tmp_path / f"{name}.qcow2")
    base_digest = sha256(base)

    vms = [boot(argv(guest, "-d", str(c)), wait=False) for c in clones]  # boot side by side
    for g in vms:
        g.wait_ready()
    if QIO.is_file():  # the shared base is locked against writers while the clones run
        r = subprocess.run([str(QIO), str(base), "info"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode != 0 and "in use" in r.stderr, r.stderr
    digests = {name: write_file(g, f"from-{name}", 1000 + 500 * i)
               for i, (name, g) in enumerate(zip("ab", vms))}
    for g in vms:
        assert g.poweroff() == 0

    assert sha256(base) == base_digest
    for c in clones:
        qemu_check(c)
    if shutil.which("debugfs"):
        for name, clone in zip("ab", clones):
            other = "b" if name == "a" else "a"
            mine = guest_file_on_host(clone, tmp_path, f"from-{name}")
            assert mine is not None and hashlib.sha256(mine).hexdigest() == digests[name]
            assert guest_file_on_host(clone, tmp_path, f"from-{other}") is None
        assert guest_file_on_host(base, tmp_path, "from-a") is None
