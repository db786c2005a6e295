"""`hostel switch`'s vxlan and tap uplinks against the Linux kernel (root).

VXLAN interop: two network namespaces joined by a veth pair play two hosts.
In one, `hostel switch` runs with a vxlan uplink (VNI 42) whose peer is the
other; in the other, Linux's own `vxlan` device on VNI 42 with an address.
A port of the switch (a socketpair held by the test) sends an ARP request
and an ICMP echo request, built by hand, to that address and gets the
answers: frames crossed the tunnel both ways, and the switch learned the
Linux device's address behind its peer.  A datagram from outside the peer
list and one of another VNI are dropped and counted.

Tap uplink: a tap interface with an address in a namespace; a port of the
switch pings the host's address through it.

Skipped with the reason when not root or when namespaces, veth or vxlan
devices cannot be made.
"""

import uuid

import pytest

from netns import ip, netns_exec, unavailable
from switchtest import (ETH_IP, HOSTEL, Switch, arp_request, eth, icmp_echo, mac_of, parse_arp,
                        parse_ipv4, wait_for)

VNI = 42


REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


@pytest.fixture
def hosts():
    """Namespaces sw (192.168.77.1, the switch's host) and lx (192.168.77.2, Linux's vxlan)."""
    tag = uuid.uuid4().hex[:6]
    sw, lx = f"hsw-sw-{tag}", f"hsw-lx-{tag}"
    ip("netns", "add", sw)
    ip("netns", "add", lx)
    try:
        ip("link", "add", f"v{tag}a", "netns", sw, "type", "veth", "peer", "name", f"v{tag}b",
           "netns", lx)
        for ns, dev, addr in ((sw, f"v{tag}a", "192.168.77.1"), (lx, f"v{tag}b", "192.168.77.2")):
            netns_exec(ns, "ip", "link", "set", "lo", "up")
            netns_exec(ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
            netns_exec(ns, "ip", "link", "set", dev, "up")
        netns_exec(lx, "ip", "link", "add", "vx0", "type", "vxlan", "id", str(VNI), "remote",
                   "192.168.77.1", "local", "192.168.77.2", "dstport", "4789", "dev", f"v{tag}b")
        netns_exec(lx, "ip", "addr", "add", "10.42.0.2/24", "dev", "vx0")
        netns_exec(lx, "ip", "link", "set", "vx0", "up")
        yield sw, lx
    finally:
        ip("netns", "del", sw, check=False)
        ip("netns", "del", lx, check=False)


def test_vxlan_interop_with_linux(tmp_path, hosts):
    sw_ns, lx_ns = hosts
    s = Switch(tmp_path, {"name": "ovl", "uplinks": [
        {"kind": "vxlan", "name": "vx", "vni": VNI, "local": "192.168.77.1",
         "peers": ["192.168.77.2"]}]}, netns=sw_ns)
    try:
        me = mac_of(1)
        a = s.add_port("a", mac=me)
        lx_mac = netns_exec(lx_ns, "cat", "/sys/class/net/vx0/address").stdout.strip()

        a.send(arp_request(me, "10.42.0.1", "10.42.0.2"))
        rep = a.recv_match(lambda f: (r := parse_arp(f)) and r[0] == 2 and r[2] == "10.42.0.2")
        assert rep, "Linux's vxlan device answers the ARP request sent through the tunnel"
        assert parse_arp(rep)[1] == lx_mac and rep[:6] == bytes.fromhex(me.replace(":", ""))

        a.send(eth(lx_mac, me, ETH_IP, icmp_echo("10.42.0.1", "10.42.0.2", 0x4242, 1)))
        pong = a.recv_match(lambda f: (p := parse_ipv4(f)) and p[2] == 1 and p[3][0] == 0)
        assert pong, "and the ICMP echo request"
        src, dst, _, body = parse_ipv4(pong)
        assert (src, dst) == ("10.42.0.2", "10.42.0.1") and body[4:6] == b"\x42\x42"

        vx = s.port("vx")
        assert vx["kind"] == "vxlan" and vx["mode"] == "trunk" and vx["native"] == 1
        c = vx["counters"]
        assert c["rx-packets"] >= 2 and c["tx-packets"] >= 2 and c["remote-macs"] >= 1, c
        fdb = {e["mac"]: e["port"] for e in s.ctl.call("query-fdb")["fdb"]}
        assert fdb.get(lx_mac) == "vx" and fdb.get(me) == "a"

        # Datagrams from outside the peer list, and of another VNI, are dropped and counted.
        hdr = bytes([8, 0, 0, 0, 0, 0, VNI + 1, 0]) + b"\xff" * 6 + bytes(6) + b"\x88\xb5" + bytes(46)
        stranger = netns_exec(sw_ns, "python3", "-c", (
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto(bytes.fromhex('{hdr.hex()}'), ('192.168.77.1', 4789))"))
        assert stranger.returncode == 0
        assert wait_for(lambda: s.port("vx")["counters"]["drop-peer"] == 1)
        netns_exec(lx_ns, "python3", "-c", (
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.sendto(bytes.fromhex('{hdr.hex()}'), ('192.168.77.1', 4789))"))
        assert wait_for(lambda: s.port("vx")["counters"]["drop-vni"] == 1)
    finally:
        assert s.stop() == 0


def test_tap_uplink(tmp_path, hosts):
    sw_ns, _ = hosts
    netns_exec(sw_ns, "ip", "tuntap", "add", "dev", "hn-t", "mode", "tap")
    netns_exec(sw_ns, "ip", "addr", "add", "10.9.0.1/24", "dev", "hn-t")
    netns_exec(sw_ns, "ip", "link", "set", "hn-t", "up")
    s = Switch(tmp_path, {"name": "int", "uplinks": [
        {"kind": "tap", "name": "host", "ifname": "hn-t"}]}, netns=sw_ns)
    try:
        me = mac_of(7)
        a = s.add_port("a", mac=me)
        a.send(arp_request(me, "10.9.0.7", "10.9.0.1"))
        rep = a.recv_match(lambda f: (r := parse_arp(f)) and r[0] == 2 and r[2] == "10.9.0.1")
        assert rep, "the host answers ARP through the tap uplink"
        host_mac = parse_arp(rep)[1]
        a.send(eth(host_mac, me, ETH_IP, icmp_echo("10.9.0.7", "10.9.0.1", 9, 1)))
        assert a.recv_match(lambda f: (p := parse_ipv4(f)) and p[2] == 1 and p[3][0] == 0
                            and p[0] == "10.9.0.1"), "and ping"
        host = s.port("host")
        assert host["kind"] == "tap" and host["uplink"] is True and host["stats"]["rx-frames"] >= 2
    finally:
        assert s.stop() == 0


def test_tap_uplink_missing_is_one_line(tmp_path, hosts):
    sw_ns, _ = hosts
    cfg = tmp_path / "c.json"
    cfg.write_text('{"name": "x", "uplinks": [{"kind": "tap", "name": "h", "ifname": "lo"}]}')
    p = netns_exec(sw_ns, HOSTEL, "switch",
                   "--config", str(cfg), "--control", str(tmp_path / "c.sock"), check=False)
    assert p.returncode == 1 and "uplink h: tap lo:" in p.stderr and "not a tap" in p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
