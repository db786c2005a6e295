"""query-stats' device counters, end to end.

Boots the default guest with a raw disk and user networking, writes and
reads the disk with dd and fetches a file from the host over HTTP, then
checks through `hostel ctl NAME query-stats` that the disk's and the
card's counters moved by at least what the guest did, and that the guest
RAM touched is within the VM's RAM and grows when the guest fills memory.
"""

import json
import os
import pathlib
import subprocess

import pytest

from test_net import http_root, wait_for_lease  # noqa: F401  (fixture)

REPO = pathlib.Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN", str(REPO / "build" / "hostel"))
MIB = 1 << 20


def ctl(env, name, command):
    p = subprocess.run([HOSTEL, "ctl", name, command], capture_output=True, text=True,
                       timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"hostel ctl {command}: {p.returncode} {p.stderr!r}"
    return json.loads(p.stdout)


def test_query_stats_counts_disk_and_network_io(guest, boot, vm_env, http_root, tmp_path,
                                                monkeypatch):
    for k, v in vm_env.items():
        monkeypatch.setenv(k, v)
    root, http_port = http_root
    (root / "file").write_bytes(os.urandom(256 * 1024))
    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (8 * MIB))
    g = boot([HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
              "-p", "console=ttyS0", "--name", "st1", "-d", str(disk),
              "--net", "user,mac=52:54:00:12:34:56"])
    before = ctl(vm_env, "st1", "query-stats")
    assert before["disks"][0]["path"] == str(disk)
    assert before["nics"][0]["mac"] == "52:54:00:12:34:56"
    assert 0 < before["ram-touched"] <= 256 * MIB
    for key in ("instructions", "running-seconds", "mips", "uptime-ns", "paused-ns"):
        assert key in before  # the members query-stats always had

    g.check("dd if=/dev/urandom of=/dev/vda bs=64k count=32 && sync", timeout=120)
    g.check("echo 3 > /proc/sys/vm/drop_caches")
    g.check("dd if=/dev/vda of=/dev/null bs=64k count=48", timeout=120)
    wait_for_lease(g)
    g.check(f"wget -q -T 30 -O /dev/null http://10.0.2.2:{http_port}/file", timeout=120)
    g.check("mkdir -p /tmp && dd if=/dev/urandom of=/tmp/fill bs=1M count=32", timeout=120)
    after = ctl(vm_env, "st1", "query-stats")

    d0, d1 = before["disks"][0], after["disks"][0]
    assert d1["write-bytes"] - d0["write-bytes"] >= 2 * MIB
    assert d1["write-ops"] > d0["write-ops"]
    assert d1["read-bytes"] - d0["read-bytes"] >= 3 * MIB
    assert d1["read-ops"] > d0["read-ops"]
    assert d1["flush-ops"] >= d0["flush-ops"] and d1["errors"] == 0
    n0, n1 = before["nics"][0], after["nics"][0]
    assert n1["rx-bytes"] - n0["rx-bytes"] >= 256 * 1024
    assert n1["rx-packets"] - n0["rx-packets"] >= 256 * 1024 // 1514
    assert n1["tx-packets"] > n0["tx-packets"] and n1["tx-bytes"] > n0["tx-bytes"]
    assert n1["rx-dropped"] >= 0
    assert after["ram-touched"] - before["ram-touched"] >= 24 * MIB
    assert after["ram-touched"] <= 256 * MIB
    assert g.poweroff() == 0
