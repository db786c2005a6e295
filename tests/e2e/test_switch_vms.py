"""Two real guests on one `hostel switch`, without hosteld.

The switch listens (`--listen PATH`) and has a slirp uplink on
10.77.0.0/24; two VMs run with `--net socket,path=PATH`, so each is a port
listen-N. Each guest's udhcpc gets a lease from the uplink (.15 and .16),
the guests ping each other through the switch, one downloads a file from
an HTTP server on the host's loopback through the NAT (10.77.0.2), and the
switch's query-ports shows both ports with their leased addresses. When a
guest powers off, its port goes.
"""

import hashlib
import os
import time

import pytest

from switchtest import HOSTEL, Switch, wait_for
from test_net import http_root  # noqa: F401  (fixture)

LEASE_TIMEOUT_S = 60
MACS = ["52:54:00:77:00:01", "52:54:00:77:00:02"]


def argv(guest, listen, mac):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", "--net", f"socket,path={listen},mac={mac}"]


def lease(g):
    """The address udhcpc configured on eth0 (polled), failing the test after a while."""
    deadline = time.monotonic() + LEASE_TIMEOUT_S
    out = ""
    while time.monotonic() < deadline:
        out = g.check("ip -4 addr show eth0")
        for word in out.split():
            if word.startswith("10.77.0.") and word.endswith("/24"):
                return word[:-3]
        time.sleep(1)
    pytest.fail(f"eth0 got no DHCP lease from the switch's NAT in {LEASE_TIMEOUT_S} s: {out!r}")


def test_two_guests_on_one_switch(guest, boot, tmp_path, http_root):
    root, http_port = http_root
    data = os.urandom(100 * 1024)
    (root / "file").write_bytes(data)
    sw = Switch(tmp_path, {"name": "lan", "uplinks": [
        {"kind": "slirp", "name": "nat", "subnet": "10.77.0.0/24"}]}, listen=True)
    try:
        gs = [boot(argv(guest, sw.listen_path, mac), wait=False) for mac in MACS]
        for g in gs:
            g.wait_ready()
        addrs = [lease(g) for g in gs]
        assert sorted(addrs) == ["10.77.0.15", "10.77.0.16"], addrs
        assert "default via 10.77.0.2" in gs[0].check("ip route")

        out = gs[0].check(f"ping -c 3 -W 5 {addrs[1]}", timeout=60)
        assert "3 packets received" in out, out
        out = gs[1].check(f"ping -c 2 -W 5 {addrs[0]}", timeout=60)
        assert "2 packets received" in out, out

        gs[1].check(f"U=http://10.77.0.2:{http_port}")
        out = gs[1].check("wget -q -T 30 -O - $U/file | sha256sum", timeout=120)
        assert out.split()[0] == hashlib.sha256(data).hexdigest(), "a download through the NAT"

        listen = [p for p in sw.ctl.call("query-ports")["ports"] if p["kind"] == "listen"]
        assert sorted(p["name"] for p in listen) == ["listen-0", "listen-1"]
        assert sorted(p["ipv4"] for p in listen) == ["10.77.0.15", "10.77.0.16"]
        assert all(p["stats"]["rx-frames"] > 5 and p["stats"]["tx-frames"] > 5 for p in listen)
        assert [p["transport"] for p in listen] == ["ring", "ring"], \
            "the VMMs asked for shared-memory rings and got them"
        fdb = {e["mac"] for e in sw.ctl.call("query-fdb")["fdb"]}
        assert set(MACS) <= fdb

        assert gs[0].poweroff() == 0
        assert wait_for(lambda: len([p for p in sw.ctl.call("query-ports")["ports"]
                                     if p["kind"] == "listen"]) == 1), \
            "a VM that exits takes its listen port with it"
        assert gs[1].poweroff() == 0
    finally:
        assert sw.stop() == 0
