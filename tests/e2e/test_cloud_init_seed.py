"""`hostel run --cloud-init USER-DATA[,meta-data=FILE][,network-config=FILE]`: the NoCloud seed.

The seed is read back on the host with mtools (what the guest's cloud-init reads: a FAT
file system labelled CIDATA with user-data and meta-data at its root), its place in the VM
(the last disk, read-only, never the disk the firmware boots) and the errors.  A guest
reading it through cloud-init is tests/e2e/test_debian_image.py.
"""

import json
import os
import shutil
import subprocess

import pytest

from vmtest import HOSTEL

USER_DATA = "#cloud-config\nhostname: seeded\nruncmd:\n  - [touch, /var/tmp/ran]\n"


@pytest.fixture(autouse=True)
def tools():
    for t in ("mtype", "mlabel"):
        if shutil.which(t) is None:
            pytest.skip("mtools is missing (scripts/deps.sh)")
    if shutil.which("mkfs.vfat") is None and not os.path.exists("/usr/sbin/mkfs.vfat") and \
            not os.path.exists("/sbin/mkfs.vfat"):
        pytest.skip("dosfstools is missing (scripts/deps.sh)")


@pytest.fixture
def env(guest, tmp_path):
    """A cache of the test's own (seeds land there) that has the default guest."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "guest").symlink_to(guest.directory)
    return dict(os.environ, HOSTEL_CACHE=str(cache))


def config(env, *args):
    r = subprocess.run([HOSTEL, "run", *args, "--print-config"], env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def mtype(image, name):
    r = subprocess.run(["mtype", "-i", image, f"::{name}"], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_seed_holds_the_files_under_the_cidata_label(guest, env, tmp_path):
    ud = tmp_path / "user-data.yaml"
    ud.write_text(USER_DATA)
    net = tmp_path / "net.yaml"
    net.write_text("version: 2\nethernets: {eth0: {dhcp4: true}}\n")
    c = config(env, "--cloud-init", f"{ud},network-config={net}", "--name", "web1")
    seed = c["disks"][-1]
    assert seed["read-only"] is True and seed["format"] == "raw"
    assert seed["path"].startswith(str(tmp_path / "cache" / "cidata"))
    assert mtype(seed["path"], "user-data") == USER_DATA
    assert mtype(seed["path"], "network-config") == net.read_text()
    meta = mtype(seed["path"], "meta-data")
    assert meta.startswith("instance-id: iid-hostel-") and "local-hostname: web1\n" in meta
    label = subprocess.run(["mlabel", "-s", "-i", seed["path"], "::"], capture_output=True,
                           text=True, timeout=30, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    assert "CIDATA" in label.stdout
    # the same files: the same seed; other files: another seed (a new instance-id)
    assert config(env, "--cloud-init", f"{ud},network-config={net}", "--name",
                  "web1")["disks"][-1]["path"] == seed["path"]
    ud.write_text(USER_DATA + "# changed\n")
    other = config(env, "--cloud-init", str(ud), "--name", "web1")["disks"][-1]["path"]
    assert other != seed["path"]
    assert mtype(other, "meta-data").split("\n")[0] != meta.split("\n")[0]


def test_given_meta_data_is_kept_verbatim(guest, env, tmp_path):
    ud = tmp_path / "ud"
    ud.write_text(USER_DATA)
    md = tmp_path / "md"
    md.write_text("instance-id: mine-1\nlocal-hostname: given\n")
    seed = config(env, "--cloud-init", f"{ud},meta-data={md}")["disks"][-1]["path"]
    assert mtype(seed, "meta-data") == md.read_text()


def test_seed_is_the_last_disk_and_not_booted(guest, env, tmp_path):
    """Without -d the seed (a FAT boot sector ends 55 AA) must not be booted by firmware."""
    ud = tmp_path / "ud"
    ud.write_text(USER_DATA)
    c = config(env, "--cloud-init", str(ud))
    assert c["boot"]["bios"] is None and c["boot"]["kernel"].endswith("/Image")
    data = tmp_path / "data.img"
    data.write_bytes(bytes(1 << 20))
    c = config(env, "-d", str(data), "--cloud-init", str(ud), "-d", str(data) + ",ro")
    assert [d["path"] for d in c["disks"][:2]] == [str(data)] * 2
    assert "cidata" in c["disks"][2]["path"]


def test_guest_sees_the_seed_read_only(guest, boot, env, tmp_path):
    ud = tmp_path / "ud"
    ud.write_text(USER_DATA)
    os.environ["HOSTEL_CACHE"] = env["HOSTEL_CACHE"]
    try:
        g = boot([HOSTEL, "run", "-k", str(guest.kernel), "-i", str(guest.initrd), "-p",
                  "console=ttyS0", "--net", "none", "--cloud-init", str(ud)])
    finally:
        del os.environ["HOSTEL_CACHE"]
    assert g.check("cat /sys/block/vda/ro") == "1"
    assert g.check("head -c 512 /dev/vda | grep -c CIDATA") == "1"
    assert g.poweroff() == 0


@pytest.mark.parametrize("spec,message", [
    ("{tmp}/missing.yaml", "missing.yaml: No such file"),
    ("{ud},colour=blue", "unknown option 'colour'"),
    ("{ud},meta-data=", "expected USER-DATA"),
    ("{ud},meta-data={ud},meta-data={ud}", "expected USER-DATA"),
    ("{big}", "at most 1 MiB"),
    ("{tmp}", "not a regular file"),
])
def test_bad_seed_is_one_line(guest, env, tmp_path, spec, message):
    ud = tmp_path / "ud"
    ud.write_text(USER_DATA)
    big = tmp_path / "big"
    big.write_bytes(b"#" * ((1 << 20) + 1))
    r = subprocess.run([HOSTEL, "run", "--cloud-init", spec.format(tmp=tmp_path, ud=ud, big=big),
                        "--print-config"], env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_cloud_init_with_restore_is_refused(env, tmp_path):
    ud = tmp_path / "ud"
    ud.write_text(USER_DATA)
    r = subprocess.run([HOSTEL, "run", "--restore", str(tmp_path / "x.state"), "--cloud-init",
                        str(ud)], env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--cloud-init" in r.stderr
