"""Guests on hosteld's networks that reach host interfaces (root): a bridged network, and a
VXLAN overlay across "hosts" with Linux's own `vxlan` device as a third member (issue 16).

The hosts are network namespaces joined by a "wire" (a Linux bridge in a namespace of its
own, one veth per host, underlay 192.168.88.0/24):

    host a  192.168.88.1  hosteld: network ovl (vxlan, VNI 4242, peers b and c) and
                          network br (bridged, its host bridge BRIDGE made by hosteld);
                          vm1: eth0 on ovl 10.88.0.1, eth1 on br 192.168.99.1
    host b  192.168.88.2  hosteld: network ovl (vxlan, VNI 4242, peers a and c); vm2: eth0
                          on ovl 10.88.0.2
    host c  192.168.88.3  Linux: vx0 (vxlan VNI 4242, head-end replication to a and b)
                          10.88.0.3
    lan                   a veth whose other end is a port of BRIDGE in host a: 192.168.99.2

Each hosteld runs in its host's namespace (`ip netns exec`), so its switches, taps and
VMMs are there too. The two VMs boot once for the module.

Skipped with the reason when not root or when namespaces, veth pairs, vxlan devices or
bridges cannot be made.
"""

import re
import uuid

import pytest

from netns import ip, netns_exec, netns_ping, unavailable
from test_mgmt_networks import Console, NsDaemon, start_vm

VNI = 4242
UNDERLAY = {"a": "192.168.88.1", "b": "192.168.88.2", "c": "192.168.88.3"}
OVERLAY = {"vm1": "10.88.0.1", "vm2": "10.88.0.2", "linux": "10.88.0.3"}
LAN = {"vm1": "192.168.99.1", "peer": "192.168.99.2"}
BRIDGE = "hbr0"
FILE_KIB = 300


class Hosts:
    """The namespaces (by role), the daemons, the consoles and the VMs' MACs."""

    def __init__(self):
        self.ns = {}
        self.daemons = []
        self.con = {}
        self.mac = {}


def received(out):
    m = re.search(r"(\d+) packets received", out)
    assert m, out
    return int(m.group(1))


def ping(con, addr, count=3):
    """Packets received by a ping in the guest."""
    return received(con.run(f"ping -c {count} -i 0.3 -W 5 {addr}", timeout=60)[1])


def card_mac(d, vm, card):
    return d.request("GET", f"/1.0/vms/{vm}").json["config"]["nics"][card]["mac"]


def make_wire(h, tag):
    """The namespaces, the underlay, Linux's vxlan device in c and the LAN host's end."""
    for role in ("wire", "a", "b", "c", "lan"):
        h.ns[role] = f"hn{role}-{tag}"
        ip("netns", "add", h.ns[role])
        netns_exec(h.ns[role], "ip", "link", "set", "lo", "up")
    r = netns_exec(h.ns["wire"], "ip", "link", "add", "br0", "type", "bridge", check=False)
    if r.returncode:
        pytest.skip(f"cannot create a bridge: {r.stderr.strip()}")
    netns_exec(h.ns["wire"], "ip", "link", "set", "br0", "up")
    for host, addr in UNDERLAY.items():
        dev = f"u{host}{tag}"
        ip("link", "add", dev, "netns", h.ns[host], "type", "veth", "peer", "name", f"w{host}",
           "netns", h.ns["wire"])
        netns_exec(h.ns["wire"], "ip", "link", "set", f"w{host}", "master", "br0", "up")
        netns_exec(h.ns[host], "ip", "addr", "add", f"{addr}/24", "dev", dev)
        netns_exec(h.ns[host], "ip", "link", "set", dev, "up")
    c = h.ns["c"]
    netns_exec(c, "ip", "link", "add", "vx0", "type", "vxlan", "id", str(VNI), "dstport", "4789",
               "local", UNDERLAY["c"], "dev", f"uc{tag}")
    for host in ("a", "b"):  # broadcast and unknown unicast go to both (head-end replication)
        netns_exec(c, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst",
                   UNDERLAY[host])
    netns_exec(c, "ip", "addr", "add", f"{OVERLAY['linux']}/24", "dev", "vx0")
    netns_exec(c, "ip", "link", "set", "vx0", "up")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, request):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    guest = request.getfixturevalue("guest")  # not built when the test is skipped
    tag = uuid.uuid4().hex[:6]
    h = Hosts()
    h.tag = tag
    try:
        make_wire(h, tag)
        da = NsDaemon(tmp_path_factory.mktemp("host-a"), guest, h.ns["a"]).start()
        h.daemons.append(da)
        db = NsDaemon(tmp_path_factory.mktemp("host-b"), guest, h.ns["b"]).start()
        h.daemons.append(db)
        for d, me in ((da, "a"), (db, "b")):
            d.network("ovl", kind="vxlan", vxlan={
                "vni": VNI, "local": UNDERLAY[me],
                "peers": [UNDERLAY[x] for x in ("a", "b", "c") if x != me]})
        da.network("br", kind="bridged", bridge=BRIDGE)
        # the LAN host: a veth pair, one end a port of the bridge hosteld made in host a
        ip("link", "add", f"lp{tag}", "netns", h.ns["a"], "type", "veth", "peer", "name",
           "lan0", "netns", h.ns["lan"])
        netns_exec(h.ns["a"], "ip", "link", "set", f"lp{tag}", "master", BRIDGE, "up")
        netns_exec(h.ns["lan"], "ip", "addr", "add", f"{LAN['peer']}/24", "dev", "lan0")
        netns_exec(h.ns["lan"], "ip", "link", "set", "lan0", "up")
        start_vm(da, "vm1", {"kind": "network", "network": "ovl"},
                 {"kind": "network", "network": "br"})
        start_vm(db, "vm2", {"kind": "network", "network": "ovl"})
        h.a, h.b = da, db
        h.mac = {"vm1": card_mac(da, "vm1", 0), "vm1-lan": card_mac(da, "vm1", 1),
                 "vm2": card_mac(db, "vm2", 0)}
        h.con["vm1"], h.con["vm2"] = Console(da, "vm1"), Console(db, "vm2")
        for vm, con in h.con.items():  # nothing serves DHCP on the overlay
            con.check("stty columns 1000")
            con.check("killall udhcpc 2>/dev/null; ip addr flush dev eth0; "
                      f"ip addr add {OVERLAY[vm]}/24 dev eth0")
        h.con["vm1"].check(f"ip addr add {LAN['vm1']}/24 dev eth1 && ip link set eth1 up")
        yield h
    finally:
        for con in h.con.values():
            con.close()
        for d in h.daemons:
            d.cleanup()
        for ns in h.ns.values():
            ip("netns", "del", ns, check=False)


def test_a_bridged_vm_talks_to_a_veth_peer_on_its_bridge(hosts):
    """vm1's second card is a tap hosteld put on BRIDGE; the LAN host's veth is another
    port of it: they ping each other, and each learned the other's MAC."""
    h = hosts
    con, lan = h.con["vm1"], h.ns["lan"]
    assert ping(con, LAN["peer"]) == 3
    assert netns_ping(lan, LAN["vm1"]) == 3
    neigh = netns_exec(lan, "ip", "neigh", "show", LAN["vm1"]).stdout
    assert h.mac["vm1-lan"] in neigh, neigh
    peer_mac = netns_exec(lan, "cat", "/sys/class/net/lan0/address").stdout.strip()
    assert peer_mac in con.check(f"ip neigh show {LAN['peer']}")
    ports = h.a.get_net("br")["ports"]
    stats = ports[0].pop("stats")
    assert ports == [{"name": "hb-vm1-1", "kind": "tap", "vm": "vm1", "card": 1}]
    # the tap's counters, as the VM sees them: 3 pings out and 3 replies, 3 in and 3 answered
    assert stats["rx-frames"] >= 6 and stats["tx-frames"] >= 6, stats
    assert stats["rx-bytes"] >= 3 * 98 and stats["tx-bytes"] >= 3 * 98, stats
    assert stats["drop-queue"] == 0, stats
    r = netns_exec(h.ns["a"], "ip", "-o", "link", "show", "master", BRIDGE)
    assert "hb-vm1-1" in r.stdout and f"lp{h.tag}" in r.stdout, r.stdout


def test_vms_on_two_hosts_share_a_vxlan_segment(hosts):
    """vm1 (host a) and vm2 (host b) ping each other and copy a file over the overlay; each
    switch learned the other VM's MAC behind its vxlan uplink."""
    h = hosts
    c1, c2 = h.con["vm1"], h.con["vm2"]
    assert ping(c1, OVERLAY["vm2"]) == 3
    assert ping(c2, OVERLAY["vm1"]) == 3
    c2.check(f"dd if=/dev/urandom of=/tmp/f bs=1k count={FILE_KIB} 2>/dev/null")
    want = c2.check("sha256sum /tmp/f").split()[0]
    c1.check("(nc -l -p 5000 </dev/null >/tmp/got 2>/dev/null &)")
    c1.check("until grep -q ':1388 00000000:0000 0A' /proc/net/tcp; do usleep 20000; done")
    c2.check(f"nc {OVERLAY['vm1']} 5000 </tmp/f", timeout=120)
    c1.check("i=0; while pidof nc >/dev/null && [ $i -lt 100 ]; do usleep 100000; "
             "i=$((i+1)); done")
    assert c1.check("sha256sum /tmp/got").split()[0] == want
    for d, other in ((h.a, "vm2"), (h.b, "vm1")):
        n = d.get_net("ovl")
        uplink = [p for p in n["ports"] if p["kind"] == "vxlan"]
        assert len(uplink) == 1, n["ports"]
        fdb = {e["mac"]: e["port"] for e in n["fdb"]}
        assert fdb.get(h.mac[other]) == uplink[0]["name"], (other, n["fdb"])
        cnt = uplink[0]["counters"]
        assert cnt["rx-packets"] > FILE_KIB // 2 or cnt["tx-packets"] > FILE_KIB // 2, cnt
        assert cnt["drop-peer"] == 0 and cnt["drop-vni"] == 0 and cnt["drop-malformed"] == 0


def test_a_linux_vxlan_device_sees_and_answers_the_vms(hosts):
    """Host c's vx0 (Linux's own VXLAN, same VNI) answers pings from both VMs and pings
    them; it learned each VM's MAC behind the host that VM runs on."""
    h = hosts
    c = h.ns["c"]
    for vm in ("vm1", "vm2"):
        assert ping(h.con[vm], OVERLAY["linux"]) == 3, vm
        assert netns_ping(c, OVERLAY[vm]) == 3, vm
    fdb = netns_exec(c, "bridge", "fdb", "show", "dev", "vx0").stdout
    for vm, host in (("vm1", "a"), ("vm2", "b")):
        assert re.search(rf"^{h.mac[vm]} dst {UNDERLAY[host]} ", fdb, re.M), (vm, fdb)
    neigh = netns_exec(c, "ip", "neigh", "show", "dev", "vx0").stdout
    assert h.mac["vm1"] in neigh and h.mac["vm2"] in neigh, neigh
