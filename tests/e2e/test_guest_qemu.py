"""The default guest (guest/build.sh) boots under the peer, qemu-system-riscv64 -M virt.

These tests check the recipe itself: a kernel that boots on the virt board with OpenSBI,
an initramfs that reaches a shell with job control, SMP, virtio-blk with the ext4 root
disk, virtio-net with DHCP, and a clean power-off that ends QEMU with status 0. The same
guest is what hostel must boot; these results are the reference. The last tests check
build.sh's own logic (deb-src derivation, config checks, recipe hash, cache reuse)
without QEMU or a build.
"""

import os
import pathlib
import shutil
import subprocess

import pytest



def rootfs_marker(guest):
    """The text /etc/hostel-rootfs must hold: the recipe hash from BUILD-INFO."""
    info = dict(line.split(": ", 1) for line in
                (guest.directory / "BUILD-INFO").read_text().splitlines())
    return f"hostel rootfs {info['recipe-hash']}"


def qemu_argv(qemu, guest, smp=1, append="console=ttyS0", extra=()):
    return [qemu, "-M", "virt", "-m", "256M", "-smp", str(smp), "-nographic",
            "-kernel", str(guest.kernel), "-initrd", str(guest.initrd),
            "-append", append, *extra]


def disk_args(path):
    return ["-drive", f"file={path},format=raw,if=none,id=d0",
            "-device", "virtio-blk-device,drive=d0"]


@pytest.fixture
def disk_copy(guest, tmp_path):
    """A private copy of rootfs.ext4 (the cached image is never written)."""
    path = tmp_path / "rootfs.ext4"
    shutil.copyfile(guest.rootfs, path)
    return path


def test_boots_to_a_shell_on_riscv64(qemu_riscv64, guest, boot):
    console = boot(qemu_argv(qemu_riscv64, guest))
    assert console.check("uname -m") == "riscv64"
    assert console.check("cat /proc/1/comm") == "init"
    assert console.poweroff() == 0


def test_shell_has_a_controlling_tty(qemu_riscv64, guest, boot):
    console = boot(qemu_argv(qemu_riscv64, guest))
    assert console.check("tty") == "/dev/ttyS0"
    # Job control needs the controlling tty: a background job is listed and killable.
    console.check("sleep 300 & true")
    assert "sleep 300" in console.check("jobs")
    console.check("kill %1")
    assert console.poweroff() == 0


def test_smp2_lists_two_harts(qemu_riscv64, guest, boot):
    console = boot(qemu_argv(qemu_riscv64, guest, smp=2))
    assert console.check("grep -c '^processor' /proc/cpuinfo") == "2"
    harts = console.check("grep '^hart' /proc/cpuinfo | tr -d ' \\t'").split("\n")
    assert sorted(harts) == ["hart:0", "hart:1"]
    assert console.poweroff() == 0


def test_kernel_filesystems_are_mounted(qemu_riscv64, guest, boot):
    console = boot(qemu_argv(qemu_riscv64, guest))
    mounts = console.check("cat /proc/mounts")
    for mount_point, fstype in (("/proc", "proc"), ("/sys", "sysfs"), ("/dev", "devtmpfs"),
                                ("/tmp", "tmpfs")):
        assert f" {mount_point} {fstype} " in mounts
    assert "<LOOPBACK,UP," in console.check("ip link show lo")
    assert console.check("hostname") == "hostel"
    assert console.poweroff() == 0


def test_rootfs_disk_mounts_over_virtio_blk(qemu_riscv64, guest, boot, disk_copy):
    console = boot(qemu_argv(qemu_riscv64, guest, extra=disk_args(disk_copy)))
    status, _ = console.run("test -e /etc/hostel-rootfs")
    assert status == 1, "the marker must only be on the disk, not in the initramfs"
    console.check("mount -t ext4 /dev/vda /mnt")
    assert console.check("cat /mnt/etc/hostel-rootfs") == rootfs_marker(guest)
    console.check("echo written-by-guest > /mnt/root/hello")
    assert console.poweroff() == 0
    # The shutdown path unmounted the disk cleanly and the write reached it.
    fsck = subprocess.run(["e2fsck", "-fn", str(disk_copy)], capture_output=True, timeout=60)
    assert fsck.returncode == 0, fsck.stdout.decode() + fsck.stderr.decode()
    cat = subprocess.run(["debugfs", "-R", "cat /root/hello", str(disk_copy)],
                         capture_output=True, text=True, timeout=60)
    assert cat.stdout.strip() == "written-by-guest"


def test_rootdisk_option_switches_root(qemu_riscv64, guest, boot, disk_copy):
    argv = qemu_argv(qemu_riscv64, guest, append="console=ttyS0 hostel.rootdisk=/dev/vda",
                     extra=disk_args(disk_copy))
    console = boot(argv)
    assert console.check("cat /etc/hostel-rootfs") == rootfs_marker(guest)
    assert "/dev/vda / ext4 rw" in console.check("cat /proc/mounts")
    assert console.poweroff() == 0


def test_dhcp_configures_virtio_net(qemu_riscv64, guest, boot):
    # QEMU's user-mode network: its DHCP server runs inside QEMU and the guest sends
    # nothing else, so no packet leaves the host. (restrict=on would drop the router.)
    net = ["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]
    console = boot(qemu_argv(qemu_riscv64, guest, extra=net))
    # udhcpc runs in the background: wait (bounded) until it installed the default route.
    console.check("i=0; until ip route | grep -q default || [ $i -ge 100 ];"
                  " do sleep 0.1; i=$((i+1)); done")
    assert "inet 10.0.2.15/24" in console.check("ip -4 addr show eth0")
    assert "default via 10.0.2.2 dev eth0" in console.check("ip route")
    assert console.poweroff() == 0


# --- The recipe's own logic (guest/build.sh functions); these need neither QEMU nor a build.

BUILD_SH = pathlib.Path(__file__).resolve().parents[2] / "guest" / "build.sh"


def build_fn(script, env=None, timeout=30):
    """Run bash code with guest/build.sh's functions loaded; return the CompletedProcess."""
    return subprocess.run(["bash", "-c", f'source "{BUILD_SH}"; set +eE; trap - ERR; {script}'],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_deb_src_is_derived_from_deb822_stanzas(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://archive.invalid/debian\nSuites: stable\n"
                       "Components: main\n\n"
                       "Types: deb\nEnabled: no\nURIs: http://off.invalid/debian\n"
                       "Suites: stable\nComponents: main\n\n"
                       "Types: deb-src\nURIs: http://src.invalid/debian\nSuites: stable\n"
                       "Components: main\n")
    out = build_fn(f'deb822_to_src "{sources}"').stdout
    stanzas = [s for s in out.split("\n\n") if s.strip()]
    assert stanzas == ["Types: deb-src\nURIs: http://archive.invalid/debian\nSuites: stable\n"
                       "Components: main"]


def test_config_check_names_every_dropped_option(tmp_path):
    frag = tmp_path / "frag.config"
    frag.write_text("# comment\nCONFIG_KEPT=y\nCONFIG_DROPPED=y\nCONFIG_NUM=8\n"
                    "# CONFIG_OFF is not set\n# CONFIG_TURNED_ON is not set\n")
    conf = tmp_path / ".config"
    conf.write_text("CONFIG_KEPT=y\n# CONFIG_DROPPED is not set\nCONFIG_NUM=64\n"
                    "# CONFIG_OFF is not set\nCONFIG_TURNED_ON=y\n")
    res = build_fn(f'verify_config "{frag}" "{conf}"')
    assert res.returncode == 1
    reported = res.stderr.splitlines()[1:]
    assert len(reported) == 3, res.stderr
    for name in ("CONFIG_DROPPED=y", "CONFIG_NUM=8", "CONFIG_TURNED_ON"):
        assert any(name in line for line in reported), res.stderr
    assert "CONFIG_KEPT" not in res.stderr and "CONFIG_OFF" not in res.stderr
    conf.write_text("CONFIG_KEPT=y\nCONFIG_DROPPED=y\nCONFIG_NUM=8\nCONFIG_OTHER=y\n")
    assert build_fn(f'verify_config "{frag}" "{conf}"').returncode == 0


def test_fragment_overrides_config_symbols(tmp_path):
    frag = tmp_path / "frag.config"
    frag.write_text("CONFIG_STATIC=y\n# CONFIG_TC is not set\n")
    conf = tmp_path / ".config"
    conf.write_text("# CONFIG_STATIC is not set\nCONFIG_TC=y\nCONFIG_TC_INGRESS=y\nCONFIG_A=1\n")
    assert build_fn(f'apply_fragment "{frag}" "{conf}"').returncode == 0
    lines = conf.read_text().splitlines()
    assert sorted(lines) == sorted(["CONFIG_TC_INGRESS=y", "CONFIG_A=1", "CONFIG_STATIC=y",
                                    "# CONFIG_TC is not set"])


def test_recipe_hash_covers_recipe_files_but_not_docs(tmp_path):
    copy = tmp_path / "guest"
    shutil.copytree(BUILD_SH.parent, copy)

    def recipe_hash():
        res = subprocess.run(["bash", str(copy / "build.sh"), "--hash"], capture_output=True,
                             text=True, timeout=30, check=True)
        return res.stdout.strip()

    first = recipe_hash()
    assert len(first) == 16 and int(first, 16) >= 0
    (copy / "README.md").write_text("docs only\n")
    assert recipe_hash() == first
    with open(copy / "kernel.config", "a") as f:
        f.write("CONFIG_EXTRA=y\n")
    assert recipe_hash() != first


def test_cached_outputs_are_reused_without_building(tmp_path):
    cache = tmp_path / "cache"
    recipe_hash = subprocess.run(["bash", str(BUILD_SH), "--hash"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.strip()
    done = cache / f"guest-{recipe_hash}"
    done.mkdir(parents=True)
    for name in ("Image", "initramfs.cpio.gz", "rootfs.ext4"):
        (done / name).write_text("x")
    res = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, timeout=10,
                         env={**os.environ, "HOSTEL_CACHE": str(cache)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(done)
    assert os.readlink(cache / "guest") == done.name
    assert not (cache / f"build-{recipe_hash}").exists()
