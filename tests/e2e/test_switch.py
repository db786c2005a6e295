"""`hostel switch` without guests: the test is every host on the switch.

Each test starts the switch with a control socket in a temporary directory,
makes ports from socketpairs (the far end passed with add-port, as hosteld
does) and exchanges raw Ethernet frames through them: learning (flood,
then unicast only), VLAN access and trunk ports, isolation, anti-spoofing,
counters and the learned IPv4 address, set-port and remove-port, a VM
whose peer hangs up, --listen ports, fairness under a flood, a port whose
peer does not read (no busy loop), refused commands and descriptors, a
hostile port, the address table and its ageing, the slirp uplink's DHCP,
its forwards replaced while it runs (set-forwards: added, replaced, a host
port in use refused with nothing changed), its leases file (kept across a
crash), the configuration's errors,
quit, SIGTERM and the pid file.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from switchtest import (BROADCAST, ETH_IP, FLOODER, HOSTEL, Switch, arp, arp_request, eth,
                        frame_vlan, icmp_echo, mac_of, parse_arp, parse_ipv4, udp, wait_for)

PAYLOAD = 0x88b5  # IEEE local experimental ethertype: frames only this test sends


@pytest.fixture
def sw(tmp_path):
    s = Switch(tmp_path, {"name": "lan"})
    yield s
    assert s.stop() == 0


def frame(dst, src, tag=b"", vlan=None):
    return eth(dst, src, PAYLOAD, b"hostel-test " + tag, vlan=vlan)


def got(port, timeout=0.5):
    """The test frames a port receives until it is quiet."""
    return [f for f in port.recv_all(timeout) if PAYLOAD.to_bytes(2, "big") in f[12:18]]


def test_learning_floods_then_forwards(sw):
    a, b, c = (sw.add_port(n) for n in "abc")
    ma, mb = mac_of(1), mac_of(2)
    a.send(frame(mb, ma, b"1"))
    assert len(got(b)) == 1 and len(got(c)) == 1, "unknown destination: flooded"
    b.send(frame(ma, mb, b"2"))
    assert len(got(a)) == 1, "a's address was learned: b's reply reaches it"
    assert got(c) == [], "and only it"
    a.send(frame(mb, ma, b"3"))
    assert len(got(b)) == 1 and got(c) == [], "b's address learned too: unicast only"
    fdb = {e["mac"]: e for e in sw.ctl.call("query-fdb")["fdb"]}
    assert fdb[ma]["port"] == "a" and fdb[mb]["port"] == "b" and fdb[ma]["vlan"] == 1
    assert fdb[ma]["age"] >= 0
    st = sw.ctl.call("query-status")
    assert st["name"] == "lan" and st["ports"] == 3 and st["forwarded"] == 4
    assert st["uptime"] >= 0


def test_vlans_access_and_trunk(sw):
    a10 = sw.add_port("a10", vlan=10)
    b10 = sw.add_port("b10", vlan=10)
    c20 = sw.add_port("c20", vlan=20)
    t = sw.add_port("t", mode="trunk", allowed=[10, 20])
    a10.send(frame(BROADCAST, mac_of(1), b"from 10"))
    [fb] = got(b10)
    [ft] = got(t)
    assert frame_vlan(fb) is None, "an access port receives untagged"
    assert frame_vlan(ft) == 10, "the trunk receives it tagged with its VLAN"
    assert got(c20) == [], "no leak into VLAN 20"
    t.send(frame(BROADCAST, mac_of(9), b"to 20", vlan=20))
    [fc] = got(c20)
    assert frame_vlan(fc) is None and fc[:12] == ft[:6] + fc[6:12]
    assert got(a10) == [] and got(b10) == [], "a frame tagged 20 stays in VLAN 20"
    t.send(frame(BROADCAST, mac_of(9), b"to 30", vlan=30))
    t.send(frame(BROADCAST, mac_of(9), b"untagged, no native"))
    assert got(a10) == [] and got(b10) == [] and got(c20) == []
    assert sw.stats("t")["drop-vlan"] == 2
    info = sw.port("t")
    assert info["mode"] == "trunk" and info["allowed"] == [10, 20] and info["native"] == 0
    assert sw.port("a10")["vlan"] == 10 and sw.port("a10")["allowed"] == []


def test_trunk_native_and_ranges(sw):
    t = sw.add_port("t", mode="trunk", allowed=["100-102"], native=5)
    n = sw.add_port("n", vlan=5)
    v = sw.add_port("v", vlan=101)
    assert sw.port("t")["allowed"] == [100, 101, 102] and sw.port("t")["native"] == 5
    t.send(frame(BROADCAST, mac_of(1), b"native"))
    assert [frame_vlan(f) for f in got(n)] == [None] and got(v) == []
    n.send(frame(BROADCAST, mac_of(2), b"to trunk native"))
    assert [frame_vlan(f) for f in got(t)] == [None], "the native VLAN leaves untagged"
    v.send(frame(BROADCAST, mac_of(3), b"to trunk 101"))
    assert [frame_vlan(f) for f in got(t)] == [101]


def test_isolation(sw):
    i1 = sw.add_port("i1", isolated=True)
    i2 = sw.add_port("i2", isolated=True)
    n = sw.add_port("n")
    up = sw.add_port("up", uplink=True)
    i1.send(frame(BROADCAST, mac_of(1), b"from i1"))
    assert len(got(up)) == 1, "an isolated port reaches the uplink"
    assert got(i2) == [] and got(n) == [], "and no one else"
    up.send(frame(BROADCAST, mac_of(4), b"from up"))
    assert len(got(i1)) == 1 and len(got(i2)) == 1 and len(got(n)) == 1
    n.send(frame(mac_of(1), mac_of(3), b"n to i1"))
    assert got(i1) == [], "a neighbour cannot reach an isolated port, even by its address"


def test_spoof_check(sw):
    good = mac_of(1)
    s = sw.add_port("s", mac=good)
    o = sw.add_port("o")
    assert sw.port("s")["spoof-check"] is True and sw.port("s")["mac"] == good
    s.send(frame(BROADCAST, mac_of(66), b"spoofed"))
    assert got(o) == []
    assert sw.stats("s")["drop-spoof"] == 1
    s.send(frame(BROADCAST, good, b"genuine"))
    assert len(got(o)) == 1
    free = sw.add_port("free", mac=mac_of(2), **{"spoof-check": False})
    free.send(frame(BROADCAST, mac_of(77), b"allowed"))
    assert len(got(o)) == 1 and sw.stats("free")["drop-spoof"] == 0


def test_counters_and_ipv4(sw):
    a = sw.add_port("a", mac=mac_of(1))
    b = sw.add_port("b")
    a.send(arp_request(mac_of(1), "10.1.2.3", "10.1.2.4"))
    a.send(eth(mac_of(2), mac_of(1), ETH_IP, udp("10.1.2.3", "10.1.2.4", 1, 2, b"x" * 100)))
    assert len(b.recv_all()) == 2
    pa, pb = sw.port("a"), sw.port("b")
    assert pa["ipv4"] == "10.1.2.3", "learned from the port's own ARP and IPv4"
    assert pb["ipv4"] is None
    assert pa["stats"]["rx-frames"] == 2 and pa["stats"]["rx-bytes"] == 60 + 142
    assert pb["stats"]["tx-frames"] == 2 and pb["stats"]["tx-bytes"] == 60 + 142
    assert pa["kind"] == "vm" and pa["link"] == "up" and pa["queue"] == 256
    keys = {"rx-frames", "rx-bytes", "tx-frames", "tx-bytes", "drop-malformed", "drop-vlan",
            "drop-spoof", "drop-rate", "drop-flood", "drop-queue", "drop-gone", "queued"}
    assert set(pa["stats"]) == keys
    assert {"name", "kind", "mode", "vlan", "allowed", "native", "isolated", "uplink",
            "spoof-check", "mac", "rate-mbit", "flood-pps", "queue", "link", "ipv4",
            "stats"} <= set(pa)


def test_set_port_moves_vlan(sw):
    a = sw.add_port("a")
    b = sw.add_port("b", vlan=7)
    a.send(frame(BROADCAST, mac_of(1)))
    assert got(b) == []
    sw.ctl.call("set-port", {"name": "a", "vlan": 7, "rate-mbit": 100, "flood-pps": 50})
    p = sw.port("a")
    assert p["vlan"] == 7 and p["rate-mbit"] == 100 and p["flood-pps"] == 50
    a.send(frame(BROADCAST, mac_of(1)))
    assert len(got(b)) == 1
    assert "no port named" in sw.ctl.error("set-port", {"name": "zz"})


def test_flood_limit(sw):
    f = sw.add_port("f", **{"flood-pps": 10})
    o = sw.add_port("o")
    for i in range(200):
        f.send(frame(BROADCAST, mac_of(1), b"%d" % i))
    n = len(got(o))
    assert 5 <= n <= 40, f"{n} of 200 broadcasts passed a 10/s limit (1 s burst)"
    assert sw.stats("f")["drop-flood"] == 200 - n


def test_remove_port(sw):
    a = sw.add_port("a")
    b = sw.add_port("b")
    sw.ctl.call("remove-port", {"name": "b"})
    assert b.recv(2.0) == b"", "the switch closed its end"
    assert sw.port("b") is None
    a.send(frame(BROADCAST, mac_of(1)))
    assert "no port named b" in sw.ctl.error("remove-port", {"name": "b"})
    assert "required" in sw.ctl.error("remove-port", {})
    b2 = sw.add_port("b")
    a.send(frame(BROADCAST, mac_of(1)))
    assert len(got(b2)) == 1, "the name can be used again"


def test_vm_peer_gone_stays_down(sw):
    a = sw.add_port("a")
    b = sw.add_port("b")
    b.send(frame(BROADCAST, mac_of(2)))
    got(a)
    b.close()
    assert wait_for(lambda: sw.port("b")["link"] == "down")
    a.send(frame(mac_of(2), mac_of(1), b"to the gone"))
    assert wait_for(lambda: sw.stats("b")["drop-gone"] == 1)
    assert sw.port("b") is not None, "the port stays until remove-port"
    sw.ctl.call("remove-port", {"name": "b"})
    assert sw.port("b") is None


def test_listen_ports(tmp_path):
    s = Switch(tmp_path, {"name": "lan"}, listen=True)
    try:
        vm = s.add_port("vm")
        l0 = s.connect_listen()
        assert wait_for(lambda: s.port("listen-0"))
        l1 = s.connect_listen()
        assert wait_for(lambda: s.port("listen-1"))
        assert s.port("listen-0")["kind"] == "listen" and s.port("listen-0")["vlan"] == 1
        l0.send(frame(BROADCAST, mac_of(1)))
        assert len(got(vm)) == 1 and len(got(l1)) == 1
        vm.send(frame(mac_of(1), mac_of(2)))
        assert len(got(l0)) == 1 and got(l1) == []
        l0.close()
        assert wait_for(lambda: s.port("listen-0") is None), "a listen port goes with its peer"
        assert s.port("listen-1") and s.port("vm")
    finally:
        assert s.stop() == 0
    assert not s.listen_path.exists() and not s.control_path.exists()


def test_flood_does_not_starve_others(sw):
    """A port sending as fast as it can (another process), while two others exchange frames."""
    flooder = sw.add_port("flooder")
    sink = sw.add_port("sink")  # never read: its queue fills and drops
    a, b = sw.add_port("a"), sw.add_port("b")
    ms, ma, mb = mac_of(10), mac_of(1), mac_of(2)
    sink.send(frame(BROADCAST, ms))
    a.send(frame(BROADCAST, ma))
    b.send(frame(BROADCAST, mb))
    for p in (flooder, a, b):
        p.recv_all(0.2)
    fd = flooder.sock.fileno()
    child = subprocess.Popen([sys.executable, "-c", FLOODER, str(fd),
                              frame(ms, mac_of(3), b"flood").hex()],
                             pass_fds=[fd], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "go\n"
        time.sleep(0.5)
        rx_before = sw.stats("flooder")["rx-frames"]
        start = time.monotonic()
        rounds = 200
        for i in range(rounds):
            a.send(frame(mb, ma, b"ping %d" % i))
            assert b.recv_match(lambda f: f[6:12] == bytes.fromhex("020000000001"), 5.0), \
                f"ping {i} from a to b did not arrive under the flood"
            b.send(frame(ma, mb, b"pong %d" % i))
            assert a.recv_match(lambda f: f[6:12] == bytes.fromhex("020000000002"), 5.0), \
                f"pong {i} from b to a did not arrive under the flood"
        elapsed = time.monotonic() - start
        flooded = sw.stats("flooder")["rx-frames"] - rx_before
    finally:
        child.kill()
        child.wait()
    # At least 5 flood frames per round trip (a loaded CI machine gives the flooder less CPU)
    assert flooded > 5 * rounds, f"the flood was real: {flooded} frames meanwhile"
    assert elapsed < 30, f"{rounds} round trips took {elapsed:.1f} s"
    assert sw.stats("sink")["drop-queue"] > 0, "the flood filled the sink's queue"


def test_stuck_peer_costs_no_cpu(sw):
    """Frames queue for a port that does not read; the switch waits without spinning."""
    a = sw.add_port("a")
    stuck = sw.add_port("stuck", queue=64)
    stuck.send(frame(BROADCAST, mac_of(2)))
    got(a)
    for i in range(3000):
        a.send(frame(mac_of(2), mac_of(1), b"%d" % i))
    assert wait_for(lambda: sw.stats("stuck")["queued"] == 64)
    st = sw.stats("stuck")
    assert st["drop-queue"] > 0
    cpu = sw.cpu_seconds()
    time.sleep(1.0)
    assert sw.cpu_seconds() - cpu < 0.2, "waiting for a stuck peer must not spin"
    n = len(stuck.recv_all(0.5))
    assert n >= 64, f"the queue is sent once the peer reads ({n} frames)"
    assert wait_for(lambda: sw.stats("stuck")["queued"] == 0)
    cpu = sw.cpu_seconds()
    time.sleep(1.0)
    assert sw.cpu_seconds() - cpu < 0.2, "an empty queue is not watched for writability"


def test_bad_commands_and_descriptors(sw):
    ctl = sw.ctl
    assert "needs a socket" in ctl.error("add-port", {"name": "x"})
    for args, words in [
        ({}, "\"name\" is required"),
        ({"name": "x", "vlan": 5000}, "\"vlan\" must be"),
        ({"name": "x", "mode": "hybrid"}, "\"mode\""),
        ({"name": "x", "bogus": 1}, "unexpected argument \"bogus\""),
        ({"name": "x", "spoof-check": True}, "needs the port's \"mac\""),
        ({"name": "x", "mac": "ff:ff:ff:ff:ff:ff"}, "\"mac\""),
        ({"name": "x", "mode": "trunk", "allowed": [0]}, "\"allowed\""),
        ({"name": "x", "mode": "trunk", "vlan": 3}, "\"native\""),
        ({"name": "x", "allowed": [3]}, "trunk"),
        ({"name": "bad name!"}, "bad name"),
    ]:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        desc = ctl.error("add-port", args, fd=theirs.fileno())
        assert words in desc, f"{args}: {desc}"
        theirs.close()
        assert mine.recv(10) == b"", f"{args}: the refused socket was closed"
        mine.close()
    # Descriptors of the wrong kind.
    r, w = os.pipe()
    assert "not a socket" in ctl.error("add-port", {"name": "p"}, fd=r)
    os.close(r)
    os.close(w)
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        x, y = socket.socketpair(socket.AF_UNIX, kind)
        assert "SOCK_SEQPACKET" in ctl.error("add-port", {"name": "p"}, fd=y.fileno())
        x.close()
        y.close()
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    lsock.bind(str(sw.dir / "l.sock"))
    lsock.listen()
    assert "not connected" in ctl.error("add-port", {"name": "p"}, fd=lsock.fileno())
    lsock.close()
    sw.add_port("dup")
    x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    assert "dup" in ctl.error("add-port", {"name": "dup"}, fd=y.fileno())
    y.close()
    assert x.recv(10) == b""
    x.close()
    assert "unexpected argument \"x\"" in ctl.error("remove-port", {"name": "dup", "x": 1})
    assert ctl.request("nope")["error"]["class"] == "CommandNotFound"
    assert "unexpected argument" in ctl.error("query-ports", {"x": 1})
    assert [p["name"] for p in ctl.call("query-ports")["ports"]] == ["dup"]
    assert sw.alive()


def test_hostile_port(sw):
    h = sw.add_port("h")
    h.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    o = sw.add_port("o")
    junk = [b"\x01", b"\x00" * 13, os.urandom(14), b"\xff" * 6 + b"\x02" * 6 + b"\x81\x00",
            b"\xff" * 6 + b"\x02" * 6 + b"\x81\x00\x0f\xff" + b"\x08\x00" + b"x" * 50]
    junk += [os.urandom(n) for n in (15, 60, 1514, 9000)]
    for j in junk:
        h.send(j)
    h.send(b"\xff" * 6 + b"\x02" + b"\x00" * 5 + b"\x88\xb5" + b"z" * 70000)  # too long
    h.send(b"\xff" * 6 + b"\x02" + b"\x00" * 5 + b"\x88\xb5" + b"z" * 65536)  # the largest
    for _ in range(2000):
        h.send(os.urandom(64))
    want = len(junk) + 2 + 2000
    assert wait_for(lambda: sw.stats("h")["rx-frames"] == want), sw.stats("h")
    st = sw.stats("h")
    assert st["drop-malformed"] >= 5, st  # 1, 13 and 14 bytes, a cut tag, 70000 bytes
    assert sw.alive()
    o.recv_all(0.5)
    h2 = sw.add_port("h2")
    h2.send(frame(BROADCAST, mac_of(5), b"after the storm"))
    assert len(got(o)) == 1, "the switch still switches"


def test_address_ageing(tmp_path):
    s = Switch(tmp_path, {"name": "lan", "ageing": 1})
    try:
        a = s.add_port("a")
        a.send(frame(BROADCAST, mac_of(1)))
        assert wait_for(lambda: s.ctl.call("query-fdb")["fdb"])
        assert wait_for(lambda: not s.ctl.call("query-fdb")["fdb"], timeout=5), \
            "the address is forgotten after the ageing time"
    finally:
        assert s.stop() == 0


def test_quit_and_pid_file(tmp_path):
    s = Switch(tmp_path, {"name": "lan"})
    assert int(s.pid_path.read_text()) == s.proc.pid
    assert s.ctl.greeting["hostel"]["protocol"] == 1
    assert s.ctl.call("quit") == {}
    assert s.proc.wait(10) == 0
    assert not s.pid_path.exists() and not s.control_path.exists()
    s.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops(tmp_path, sig):
    s = Switch(tmp_path, {"name": "lan"})
    s.add_port("a")
    s.proc.send_signal(sig)
    assert s.proc.wait(10) == 0
    assert not s.pid_path.exists() and not s.control_path.exists()
    assert "stopping" in s.log_path.read_text()
    s.stop()


def test_second_switch_on_same_socket(tmp_path, sw):
    (tmp_path / "other").mkdir()
    cfg = tmp_path / "other" / "c.json"
    cfg.write_text('{"name": "b"}')
    p = subprocess.run([HOSTEL, "switch", "--config", str(cfg), "--control", str(sw.control_path)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "already listening" in p.stderr and p.stderr.count("\n") == 1
    assert sw.alive()


CONFIG_ERRORS = [
    ("{", "line 1"),
    ("[]", "a JSON object"),
    ('{"ageing": 3}', '"name" is required'),
    ('{"name": "-x"}', '"name" \'-x\''),
    ('{"name": "a", "extra": 1}', 'unknown member "extra"'),
    ('{"name": "a", "ageing": 0}', '"ageing" must be an integer from 1'),
    ('{"name": "a", "uplinks": {}}', '"uplinks" must be an array'),
    ('{"name": "a", "uplinks": [{"kind": "ppp"}]}', "'ppp' is not slirp, vxlan or tap"),
    ('{"name": "a", "uplinks": [{"kind": "slirp", "subnet": "10.0.0.0/30"}]}', "prefix length"),
    ('{"name": "a", "uplinks": [{"kind": "slirp", "subnet": "10.0.0.1/24"}]}', "host bits"),
    ('{"name": "a", "uplinks": [{"kind": "slirp", "subnet": "nope"}]}', "IPV4/PREFIX"),
    ('{"name": "a", "uplinks": [{"kind": "slirp", "subnet": "10.7.0.0/24", '
     '"hostfwd": ["tcp::80-10.8.0.5:80"]}]}', "must be in 10.7.0.0/24"),
    ('{"name": "a", "uplinks": [{"kind": "slirp", "hostfwd": ["tcp::80-:80", "tcp::80-:81"]}]}',
     "already forwarded"),
    ('{"name": "a", "uplinks": [{"kind": "slirp"}, {"kind": "slirp", "name": "n2"}]}',
     "at most one slirp"),
    ('{"name": "a", "uplinks": [{"kind": "vxlan"}]}', '"vni" is required'),
    ('{"name": "a", "uplinks": [{"kind": "vxlan", "vni": 16777216}]}', '"vni" must be'),
    ('{"name": "a", "uplinks": [{"kind": "vxlan", "vni": 1, "peers": ["fe80::1"]}]}', "IPv6"),
    ('{"name": "a", "uplinks": [{"kind": "vxlan", "vni": 1, "peers": ["1.2.3.4:0"]}]}',
     "IPV4[:PORT]"),
    ('{"name": "a", "uplinks": [{"kind": "vxlan", "vni": 1, "peers": ["1.2.3.4", "1.2.3.4:9"]}]}',
     "listed twice"),
    ('{"name": "a", "uplinks": [{"kind": "vxlan", "vni": 1, "local": "::"}]}', '"local"'),
    ('{"name": "a", "uplinks": [{"kind": "tap"}]}', '"ifname" is required'),
    ('{"name": "a", "uplinks": [{"kind": "tap", "ifname": "a%d"}]}', '"ifname"'),
    ('{"name": "a", "uplinks": [{"kind": "tap", "ifname": "t0", "name": "x"}, '
     '{"kind": "vxlan", "vni": 1, "name": "x"}]}', "is taken"),
]


@pytest.mark.parametrize("text,words", CONFIG_ERRORS)
def test_config_errors(tmp_path, text, words):
    cfg = tmp_path / "c.json"
    cfg.write_text(text)
    p = subprocess.run([HOSTEL, "switch", "--config", str(cfg), "--control",
                        str(tmp_path / "c.sock")], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p.stderr
    assert words in p.stderr and p.stderr.startswith("hostel switch: " + str(cfg)), p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "c.sock").exists()


@pytest.mark.parametrize("argv,words", [
    ([], "--config FILE and --control PATH are required"),
    (["--config"], "--config needs a value"),
    (["--bogus"], "unknown option '--bogus'"),
    (["--config", "x", "--control", "y", "extra"], "unexpected argument 'extra'"),
    (["--config", "/nonexistent.json", "--control", "y"], "/nonexistent.json: No such file"),
])
def test_command_line_errors(argv, words):
    p = subprocess.run([HOSTEL, "switch", *argv], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and words in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_help():
    p = subprocess.run([HOSTEL, "switch", "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "--config FILE" in p.stdout and "--listen PATH" in p.stdout
    p = subprocess.run([HOSTEL, "help"], capture_output=True, text=True, timeout=10)
    assert "switch" in p.stdout


def test_uplink_failure_is_one_line(tmp_path):
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"name": "a", "uplinks": [
        {"kind": "slirp", "name": "nat", "hostfwd": [f"tcp:127.0.0.1:{port}-:80"]}]}))
    p = subprocess.run([HOSTEL, "switch", "--config", str(cfg), "--control",
                        str(tmp_path / "c.sock")], capture_output=True, text=True, timeout=10)
    busy.close()
    assert p.returncode == 1 and "uplink nat: hostfwd" in p.stderr and "in use" in p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "c.sock").exists()


# ---- the slirp uplink ----

def dhcp_message(mac, xid, msg_type, requested=None, server=None):
    """A minimal BOOTP/DHCP client message (RFC 2131) from mac."""
    opts = bytes([53, 1, msg_type])
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    opts += bytes([55, 3, 1, 3, 6, 255])
    chaddr = bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0")
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, chaddr, b"", b"")
    return bootp + b"\x63\x82\x53\x63" + opts


def dhcp_reply(frame, xid):
    """(message type, yiaddr, options) of a DHCP reply to xid in frame, or None."""
    ip = parse_ipv4(frame)
    if not ip or ip[2] != 17:
        return None
    payload = ip[3]
    sport, dport = struct.unpack("!HH", payload[:4])
    bootp = payload[8:]
    if dport != 68 or len(bootp) < 240 or struct.unpack("!I", bootp[4:8])[0] != xid:
        return None
    opts, i = {}, 240
    while i < len(bootp) and bootp[i] != 255:
        if bootp[i] == 0:
            i += 1
            continue
        opts[bootp[i]] = bootp[i + 2:i + 2 + bootp[i + 1]]
        i += 2 + bootp[i + 1]
    return opts.get(53, b"\0")[0], socket.inet_ntoa(bootp[16:20]), opts


def dhcp_send(port, mac, xid, msg_type, **kw):
    port.send(eth(BROADCAST, mac, ETH_IP,
                  udp("0.0.0.0", "255.255.255.255", 68, 67, dhcp_message(mac, xid, msg_type, **kw))))


def dhcp_lease(port, mac, xid):
    """DISCOVER, OFFER, REQUEST, ACK: the leased address and the ACK's options."""
    dhcp_send(port, mac, xid, 1)
    offer = port.recv_match(lambda f: (r := dhcp_reply(f, xid)) and r[0] == 2)
    assert offer, "no DHCPOFFER"
    _, addr, opts = dhcp_reply(offer, xid)
    dhcp_send(port, mac, xid, 3, requested=addr, server=socket.inet_ntoa(opts[54]))
    ack = port.recv_match(lambda f: (r := dhcp_reply(f, xid)) and r[0] == 5)
    assert ack, "no DHCPACK"
    _, acked, opts = dhcp_reply(ack, xid)
    assert acked == addr
    return addr, opts


def test_slirp_uplink_dhcp_and_gateway(tmp_path):
    s = Switch(tmp_path, {"name": "nat", "uplinks": [
        {"kind": "slirp", "name": "nat", "subnet": "10.77.0.0/24"}]})
    try:
        a = s.add_port("a", mac=mac_of(1))
        b = s.add_port("b", mac=mac_of(2))
        addr_a, opts = dhcp_lease(a, mac_of(1), 0x1234)
        addr_b, _ = dhcp_lease(b, mac_of(2), 0x5678)
        assert addr_a == "10.77.0.15" and addr_b == "10.77.0.16"
        assert socket.inet_ntoa(opts[3]) == "10.77.0.2", "router: the gateway .2"
        assert socket.inet_ntoa(opts[6]) == "10.77.0.3", "DNS: .3"
        assert socket.inet_ntoa(opts[1]) == "255.255.255.0"
        assert wait_for(lambda: s.port("a")["ipv4"] == "10.77.0.15"), "learned from the ACK"
        assert s.port("b")["ipv4"] == "10.77.0.16"
        nat = s.port("nat")
        assert nat["kind"] == "slirp" and nat["uplink"] is True and nat["link"] == "up"
        # The gateway answers ARP and ping.
        a.send(arp_request(mac_of(1), addr_a, "10.77.0.2"))
        rep = a.recv_match(lambda f: (r := parse_arp(f)) and r[0] == 2)
        assert rep and parse_arp(rep)[2] == "10.77.0.2"
        gw_mac = parse_arp(rep)[1]
        a.send(eth(gw_mac, mac_of(1), ETH_IP, icmp_echo(addr_a, "10.77.0.2", 7, 1)))
        pong = a.recv_match(lambda f: (p := parse_ipv4(f)) and p[2] == 1 and p[3][0] == 0)
        assert pong and parse_ipv4(pong)[0] == "10.77.0.2"
        # a and b reach each other through the switch, not through the NAT.
        b.recv_all(0.2)
        a.send(arp_request(mac_of(1), addr_a, addr_b))
        req = b.recv_match(lambda f: (r := parse_arp(f)) and r[0] == 1 and r[4] == addr_b)
        assert req, "a's ARP request for b reaches b"
        b.send(eth(mac_of(1), mac_of(2), 0x0806, arp(2, mac_of(2), addr_b, mac_of(1), addr_a)))
        assert a.recv_match(lambda f: (r := parse_arp(f)) and r[0] == 2 and r[2] == addr_b)
        before = s.port("nat")["counters"]["not-for-nat"]
        a.send(eth(mac_of(2), mac_of(1), ETH_IP, udp(addr_a, addr_b, 5, 6, b"direct")))
        assert b.recv_match(lambda f: b"direct" in f)
        assert s.port("nat")["counters"]["not-for-nat"] == before, "b is known: not flooded"
    finally:
        assert s.stop() == 0


# ---- the slirp uplink's forwards, changed while it runs ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """A TCP connection to the host's 127.0.0.1:port is accepted (a forward listens there)."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def forwarded_to(port, host_port, mac, addr):
    """Connect to host_port: the guest port of the NAT's SYN to addr for this connection
    (from its source port; the test's port plays the host at addr, answering the NAT's
    ARP request), or None."""
    with socket.socket() as c:
        c.bind(("127.0.0.1", 0))
        sport = c.getsockname()[1]
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", host_port))
        end = time.monotonic() + 5
        while time.monotonic() < end:
            f = port.recv(0.5)
            if not f:
                continue
            a = parse_arp(f)
            if a and a[0] == 1 and a[4] == addr:
                port.send(eth(a[1], mac, 0x0806, arp(2, mac, addr, a[1], a[2])))
                continue
            ip = parse_ipv4(f)
            if (ip and ip[1] == addr and ip[2] == 6 and ip[3][13] & 0x02 and  # a SYN
                    struct.unpack("!H", ip[3][0:2])[0] == sport):
                return struct.unpack("!H", ip[3][2:4])[0]
    return None


def test_slirp_set_forwards(tmp_path):
    p1, p2, p3, p4, p5 = (free_port() for _ in range(5))
    rule = lambda hp, gp, host=15: f"tcp:127.0.0.1:{hp}-10.77.0.{host}:{gp}"
    s = Switch(tmp_path, {"name": "nat", "uplinks": [
        {"kind": "slirp", "name": "nat", "subnet": "10.77.0.0/24", "hostfwd": [rule(p1, 80)]}]})
    busy = socket.socket()
    try:
        a = s.add_port("a", mac=mac_of(1))
        assert listening(p1) and not listening(p2)
        # add one
        assert s.ctl.call("set-forwards", {"hostfwd": [rule(p1, 80), rule(p2, 80)]}) == {}
        assert listening(p1) and listening(p2)
        assert forwarded_to(a, p1, mac_of(1), "10.77.0.15") == 80
        # replace the set: p1 to another guest port, p2 gone, p3 new (the uplink named)
        assert s.ctl.call("set-forwards", {"uplink": "nat", "hostfwd": [
            rule(p1, 81), rule(p3, 80, 16)]}) == {}
        assert listening(p1) and not listening(p2) and listening(p3)
        assert forwarded_to(a, p1, mac_of(1), "10.77.0.15") == 81
        # a host port in use: refused, naming it, and nothing changed (p5 not bound, p1 to 81)
        busy.bind(("127.0.0.1", p4))
        busy.listen()
        msg = s.ctl.error("set-forwards", {"hostfwd": [
            rule(p1, 82), rule(p5, 80), rule(p4, 80), rule(p3, 80, 16)]})
        assert f"uplink nat: hostfwd {rule(p4, 80)}: cannot use the host port" in msg, msg
        assert "in use" in msg and "\n" not in msg
        assert listening(p1) and listening(p3) and not listening(p5) and not listening(p2)
        assert forwarded_to(a, p1, mac_of(1), "10.77.0.15") == 81
        # the same when the rule that fails needed an old one out of its way first: p1 on
        # every address (someone has 127.0.0.2:p1); p1 on 127.0.0.1 is bound again
        busy2 = socket.socket()
        busy2.bind(("127.0.0.2", p1))
        busy2.listen()
        msg = s.ctl.error("set-forwards", {"hostfwd": [
            f"tcp::{p1}-10.77.0.15:82", rule(p5, 80), rule(p3, 80, 16)]})
        busy2.close()
        assert f":{p1}-10.77.0.15:82: cannot use the host port" in msg, msg
        assert listening(p1) and listening(p3) and not listening(p5)
        assert forwarded_to(a, p1, mac_of(1), "10.77.0.15") == 81
        # none
        assert s.ctl.call("set-forwards", {"hostfwd": []}) == {}
        assert not listening(p1) and not listening(p3)
        # bad requests
        for args, words in [
            ({}, '"hostfwd" is required'),
            ({"hostfwd": [rule(p1, 80)], "x": 1}, 'unexpected argument "x"'),
            ({"hostfwd": "tcp::80-:80"}, '"hostfwd" must be an array'),
            ({"hostfwd": ["tcp::80-10.8.0.5:80"]}, "must be in 10.77.0.0/24"),
            ({"hostfwd": [rule(p1, 80), rule(p1, 81)]}, "is already forwarded"),
            ({"uplink": "wan", "hostfwd": []}, "no uplink named wan"),
            ({"uplink": 7, "hostfwd": []}, '"uplink" must be a string'),
        ]:
            got = s.ctl.error("set-forwards", args)
            assert words in got and "\n" not in got, (args, got)
        assert not listening(p1)
    finally:
        busy.close()
        assert s.stop() == 0


def test_set_forwards_needs_a_slirp_uplink(sw):
    assert "the switch has no slirp uplink" in sw.ctl.error("set-forwards", {"hostfwd": []})


def test_slirp_leases_outlive_the_switch(tmp_path):
    leases = tmp_path / "leases"
    cfg = {"name": "nat", "uplinks": [{"kind": "slirp", "name": "nat", "subnet": "10.77.0.0/24",
                                       "leases": str(leases)}]}

    def first_lease(mac, xid):
        s = Switch(tmp_path, cfg)
        try:
            addr = dhcp_lease(s.add_port("p", mac=mac), mac, xid)[0]
            return addr, wait_for(lambda: (lambda c: c if c["leases-written"] else None)(
                s.port("nat")["counters"]), timeout=5)
        finally:
            assert s.stop() == 0

    s = Switch(tmp_path, cfg)
    try:
        a = s.add_port("a", mac=mac_of(1))
        assert dhcp_lease(a, mac_of(1), 0x11)[0] == "10.77.0.15"
        assert wait_for(lambda: s.port("nat")["counters"]["leases-written"] >= 1, timeout=5)
        assert leases.read_bytes()[:4] == b"hsl1"
    finally:
        s.proc.kill()  # as a crash: nothing written at exit
        assert s.stop() == -signal.SIGKILL
        s.pid_path.unlink()  # (left by the crash: the next one's is waited for)
    # the next switch knows a's lease: b gets the next one, a its own again
    addr, counters = first_lease(mac_of(2), 0x22)
    assert addr == "10.77.0.16", "a's lease is remembered"
    assert counters and counters["leases-written"] >= 1, "written within a second or so"
    assert first_lease(mac_of(1), 0x33)[0] == "10.77.0.15"
    # a file that is not one of ours is not used (and the switch starts)
    leases.write_bytes(b"nonsense")
    assert first_lease(mac_of(2), 0x44)[0] == "10.77.0.15"
    leases.unlink()
    assert first_lease(mac_of(3), 0x55)[0] == "10.77.0.15"
