"""The root variant of hosteld's networks (docs/mgmt.md "Networks"): a nat network in
host mode (a host tap with the gateway .1, dnsmasq for DHCP and DNS, an nftables table of
its own for the masquerade and the port forwards, net.ipv4.ip_forward), and DHCP on an
internal network.

Everything runs as root in network namespaces the tests make: hosteld (and so its
switches, dnsmasq, taps, nft tables and VMMs) in one, started with `ip netns exec`; the
guest tests add a second namespace joined by a veth pair that plays "the internet", with
an HTTP server on an address outside the VMs' subnet and no route back to that subnet
(so only the masquerade lets the VMs' connections be answered). Skipped with the reason
when not root or without ip/nft/dnsmasq.
"""

import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from test_mgmt_lifecycle import alive, wait_for
from test_mgmt_networks import (NETS, nobody_hosteld, BOOT_TIMEOUT, Console, NetDaemon, NsDaemon, assert_error,
                                have_root_netns, hostel_bin, restart, start_vm)

OUT_HOST = "203.0.113.1"  # the hosteld namespace's outside address (TEST-NET-3, our veth)
OUT_INET = "203.0.113.2"  # "the internet"'s end of the veth
SERVER = "198.51.100.80"  # the HTTP server "on the internet" (TEST-NET-2, in our namespace)


def need_root_tools():
    if not have_root_netns():
        pytest.skip("needs root and ip netns (host-mode NAT makes a tap, nft tables, dnsmasq)")
    for tool in ("nft", "dnsmasq"):
        if not shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin"):
            pytest.skip(f"needs {tool} (scripts/deps.sh installs it)")


def ns_run(ns, *argv, check=True, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          check=check, timeout=60, **kw)


def nft_tables(ns):
    return ns_run(ns, "nft", "list", "tables").stdout.split("\n")


def ip_forward(ns):
    return ns_run(ns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()


class HostNsDaemon(NsDaemon):
    """hosteld in a namespace; its dnsmasq processes are ended with it too."""

    def cleanup(self):
        pids = [f.read_text().strip() for f in self.net_dir().glob("*/dnsmasq.pid")]
        super().cleanup()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def dnsmasq_pid(self, name):
        return self.get_net(name)["host"]["dnsmasq"].get("pid")


@pytest.fixture
def hostns(tmp_path, guest):
    need_root_tools()
    ns = f"hostelnat{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    ns_run(ns, "ip", "link", "set", "lo", "up")
    # a new namespace inherits the host's ip_forward: start from "off", whatever the host has
    ns_run(ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    d = HostNsDaemon(tmp_path, guest, ns).start()
    yield d
    d.cleanup()
    subprocess.run(["ip", "netns", "del", ns])


class Internet:
    """A second namespace joined to ns by a veth pair: an HTTP server on SERVER, and no route
    to anything but the veth's own /24 (the VMs' subnet is reached only through the NAT)."""

    def __init__(self, ns, tmp):
        self.ns, self.name = ns, f"hostelinet{os.getpid()}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "link", "add", "hv-out", "netns", ns, "type", "veth", "peer",
                        "name", "hv-in", "netns", self.name], check=True)
        for args in (["ip", "addr", "add", f"{OUT_HOST}/24", "dev", "hv-out"],
                     ["ip", "link", "set", "hv-out", "up"],
                     ["ip", "route", "add", "default", "via", OUT_INET]):
            ns_run(ns, *args)
        for args in (["ip", "link", "set", "lo", "up"],
                     ["ip", "addr", "add", f"{OUT_INET}/24", "dev", "hv-in"],
                     ["ip", "link", "set", "hv-in", "up"],
                     ["ip", "addr", "add", f"{SERVER}/32", "dev", "lo"]):
            ns_run(self.name, *args)
        self.www = tmp / "www"
        self.www.mkdir()
        self.data = os.urandom(300 * 1024)
        (self.www / "file").write_bytes(self.data)
        self.log = open(tmp / "http.log", "w+")
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.name, "python3", "-m", "http.server", "8000", "--bind",
             SERVER, "--directory", str(self.www)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: ns_run(self.name, "python3", "-c",
                                f"import socket; socket.create_connection(('{SERVER}', 8000), 1)",
                                check=False).returncode == 0, timeout=20, step=0.2)

    def clients(self):
        """The client addresses the server logged."""
        self.log.flush()
        return {line.split()[0] for line in pathlib.Path(self.log.name).read_text().splitlines()
                if '"GET ' in line}

    def close(self):
        self.server.kill()
        self.server.wait()
        self.log.close()
        subprocess.run(["ip", "netns", "del", self.name])


def leases_of(d, net, macs):
    """The API's leases for macs, once dnsmasq has given one to each."""
    def got():
        leases = {lease["mac"]: lease for lease in d.get_net(net)["leases"]}
        return leases if all(m in leases for m in macs) else None
    return wait_for(got, timeout=BOOT_TIMEOUT, step=1)


def dnsmasq_events(d, since=0):
    """The events about dnsmasq (of the network wan) after since."""
    return [e for e in d.events(since) if e["resource"] == f"{NETS}/wan"
            and e["metadata"].get("action", "").startswith("network-dnsmasq-")]


def card_mac(d, vm):
    return d.request("GET", f"/1.0/vms/{vm}").json["config"]["nics"][0]["mac"]


# ---- no guest ----


def test_host_nat_brings_up_tap_table_dnsmasq_and_takes_them_down(hostns):
    d = hostns
    n = d.network("wan", subnet="10.213.20.0/24", nat={"mode": "host"},
                  forwards=["tcp:8080-10.213.20.20:80"])
    assert n["nat"] == {"mode": "host"} and n["dhcp"] is True and n["state"] == "running", n
    tap = d.link("hn-wan")
    assert tap and tap["linkinfo"]["info_kind"] == "tun" and "UP" in tap["flags"], tap
    assert [a["local"] for a in tap["addr_info"] if a["family"] == "inet"] == ["10.213.20.1"]
    cfg = json.loads((d.net_dir() / "wan" / "switch.json").read_text())
    assert cfg["uplinks"] == [{"kind": "tap", "name": "nat", "ifname": "hn-wan"}]
    full = d.get_net("wan")
    host = full["host"]
    assert host["interface"] == "hn-wan" and host["address"] == "10.213.20.1/24"
    assert host["nft_table"] == "hostel-wan" and full["leases"] == []
    # a fresh namespace forwards nothing: hosteld turned it on, and says so
    assert ip_forward(d.ns) == "1"
    assert host["ip_forward"] == {"enabled": True, "set_by_hosteld": True}
    assert (d.state / "netdata" / "ip_forward.hosteld").exists()
    assert "table ip hostel-wan" in nft_tables(d.ns)
    rules = ns_run(d.ns, "nft", "list", "table", "ip", "hostel-wan").stdout
    assert 'oifname != "hn-wan" masquerade' in rules
    assert "tcp dport 8080 dnat to 10.213.20.20:80" in rules
    pid = host["dnsmasq"]["pid"]
    argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"--interface=hn-wan" in argv and b"--bind-interfaces" in argv
    assert b"--dhcp-range=10.213.20.2,10.213.20.254,255.255.255.0,1h" in argv
    assert (b"--dhcp-leasefile=" + str(d.state / "netdata" / "wan" / "leases").encode()) in argv
    # the switch's uplink is the tap
    ports = d.ports("wan")
    assert ports["nat"]["kind"] == "tap" and ports["nat"]["link"] == "up"
    # a change of forwards is applied live: the table is rewritten, the switch is the same one
    switch = full["pid"]
    r = d.request("PATCH", f"{NETS}/wan", {"forwards": ["udp:5353-10.213.20.30:53"]})
    assert r.status == 200 and r.json["pid"] == switch and r.json["pending"] is False, r
    rules = ns_run(d.ns, "nft", "list", "table", "ip", "hostel-wan").stdout
    assert "udp dport 5353 dnat to 10.213.20.30:53" in rules and "8080" not in rules
    # deleted: the table, the tap and dnsmasq go; the other tables are not touched
    ns_run(d.ns, "nft", "add", "table", "ip", "someone-else")
    assert d.request("DELETE", f"{NETS}/wan").status == 200
    wait_for(lambda: not alive(pid), timeout=10)
    tables = nft_tables(d.ns)
    assert "table ip hostel-wan" not in tables and "table ip someone-else" in tables
    assert d.link("hn-wan") is None
    assert not (d.state / "netdata" / "wan").exists() and not (d.net_dir() / "wan").exists()


def test_dnsmasq_is_restarted_and_found_again_after_a_daemon_restart(hostns):
    d = hostns
    d.network("wan", subnet="10.213.21.0/24", nat={"mode": "host"})
    pid = d.dnsmasq_pid("wan")
    os.kill(pid, signal.SIGKILL)
    st = wait_for(lambda: (lambda s: s if s.get("pid") not in (None, pid) else None)(
        d.get_net("wan")["host"]["dnsmasq"]), timeout=15)
    assert st["status"] == "running" and st["restarts"] == 1 and "signal 9" in st["message"], st
    # the crash and the restart are events of the network, in that order
    events = wait_for(lambda: (lambda ev: ev if len(ev) >= 2 else None)(dnsmasq_events(d)),
                      timeout=10)
    assert [e["metadata"]["action"] for e in events] == [
        "network-dnsmasq-crashed", "network-dnsmasq-restarted"], events
    crashed, restarted = events[0]["metadata"], events[1]["metadata"]
    assert crashed["pid"] == pid and "signal 9" in crashed["message"], crashed
    assert crashed["restart_in_s"] == 1 and crashed["name"] == "wan", crashed
    assert restarted["pid"] == st["pid"] and restarted["restarts"] == 1, restarted
    assert events[0]["type"] == "lifecycle" and events[0]["uid"] == -1, events[0]
    pid = st["pid"]
    # a daemon restart finds dnsmasq again and writes the table anew (removed meanwhile here)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)
    ns_run(d.ns, "nft", "delete", "table", "ip", "hostel-wan")
    d.start()
    n = d.get_net("wan")
    assert n["host"]["dnsmasq"]["pid"] == pid and n["host"]["dnsmasq"]["restarts"] == 0, n
    assert "table ip hostel-wan" in nft_tables(d.ns)
    # a dnsmasq the daemon did not start that dies is restarted too (its status is unknown)
    os.kill(pid, signal.SIGTERM)
    pid = wait_for(lambda: (lambda p: p if p not in (None, pid) else None)(d.dnsmasq_pid("wan")),
                   timeout=15)
    events = wait_for(lambda: (lambda ev: ev if len(ev) >= 2 else None)(dnsmasq_events(d)),
                      timeout=10)
    actions = [e["metadata"]["action"] for e in events]
    assert actions == ["network-dnsmasq-crashed", "network-dnsmasq-restarted"], actions
    assert "ended" in events[0]["metadata"]["message"], events[0]
    # deleting the network ends its dnsmasq on purpose: no crash is told
    since = d.events()[-1]["id"]
    assert d.request("DELETE", f"{NETS}/wan").status == 200
    wait_for(lambda: not alive(pid), timeout=10)
    time.sleep(0.5)
    assert dnsmasq_events(d, since) == [], d.events(since)


def test_a_dnsmasq_that_cannot_start_fails_the_create_with_its_reason(hostns):
    d = hostns
    # something else holds the DNS port on the address the network's tap would get: dnsmasq
    # cannot bind there (the loopback has the address first)
    ns_run(d.ns, "ip", "addr", "add", "10.213.22.1/32", "dev", "lo")
    blocker = subprocess.Popen(["ip", "netns", "exec", d.ns, "python3", "-c",
                                "import socket,time; s=socket.socket(socket.AF_INET, "
                                "socket.SOCK_DGRAM); s.bind(('10.213.22.1', 53)); "
                                "print('bound', flush=True); time.sleep(60)"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert blocker.stdout.readline() == "bound\n"
        r = d.request("POST", NETS, {"name": "wan", "subnet": "10.213.22.0/24",
                                     "nat": {"mode": "host"}})
        assert_error(r, 422, "network 'wan' cannot start: dnsmasq ended at once")
        assert d.request("GET", NETS).json["networks"] == []
        assert d.link("hn-wan") is None and "table ip hostel-wan" not in nft_tables(d.ns)
    finally:
        blocker.kill()
        blocker.wait()


def test_internal_network_with_dhcp(hostns):
    d = hostns
    n = d.network("inside", kind="internal", subnet="192.168.78.0/24", dhcp=True)
    assert n["dhcp"] is True and "nat" not in n
    host = d.get_net("inside")["host"]
    assert "nft_table" not in host and "ip_forward" not in host
    argv = pathlib.Path(f"/proc/{host['dnsmasq']['pid']}/cmdline").read_bytes().split(b"\0")
    assert b"--interface=hn-inside" in argv and b"--dhcp-option=3" in argv  # no gateway offered
    assert not [t for t in nft_tables(d.ns) if "hostel-" in t]
    # dhcp off: dnsmasq goes (a change of shape: nothing runs on it)
    pid = host["dnsmasq"]["pid"]
    r = d.request("PATCH", f"{NETS}/inside", {"dhcp": False})
    assert r.status == 200 and r.json["dhcp"] is False, r
    wait_for(lambda: not alive(pid), timeout=10)
    assert "dnsmasq" not in d.get_net("inside")["host"] and "leases" not in d.get_net("inside")
    assert_error(d.request("POST", NETS, {"name": "u", "dhcp": True}), 422, "dhcp: only internal")


def test_cli_nat_mode_host_and_dhcp(hostns):
    d = hostns
    env = dict(os.environ, HOSTEL_SOCKET=d.sock)

    def hostel(*args):
        return subprocess.run([hostel_bin(), *args], env=env, capture_output=True, text=True,
                              timeout=30)

    r = hostel("network", "create", "wan", "--nat-mode", "host", "--subnet", "10.213.24.0/24",
               "--forward", "8080-10.213.24.20:80")
    assert r.returncode == 0 and "created network wan (nat, 10.213.24.0/24), running" in r.stdout, r
    n = d.get_net("wan")
    assert n["nat"] == {"mode": "host"} and n["dhcp"] is True
    r = hostel("network", "info", "wan")
    assert r.returncode == 0, r
    assert "nat:         host mode" in r.stdout
    assert "host:        hn-wan 10.213.24.1/24, nft table hostel-wan" in r.stdout
    assert f"dnsmasq:     running (pid {n['host']['dnsmasq']['pid']})" in r.stdout, r.stdout
    r = hostel("network", "create", "in", "--kind", "internal", "--dhcp", "--subnet",
               "10.213.25.0/24")
    assert r.returncode == 0 and d.get_net("in")["dhcp"] is True, r
    r = hostel("network", "create", "quiet", "--nat-mode", "host", "--no-dhcp", "--subnet",
               "10.213.26.0/24")
    assert r.returncode == 0 and "dnsmasq" not in d.get_net("quiet")["host"], r
    r = hostel("network", "create", "bad", "--nat-mode", "hostile")
    assert r.returncode == 1 and r.stderr.strip() == (
        "hostel: nat.mode: 'hostile' is not 'user' or 'host'"), r
    r = hostel("network", "--help")
    assert "--nat-mode MODE" in r.stdout and "--dhcp, --no-dhcp" in r.stdout
    for name in ("wan", "in", "quiet"):
        assert hostel("network", "delete", name).returncode == 0
    assert not [t for t in nft_tables(d.ns) if "hostel-" in t]


def test_host_mode_is_refused_without_root(tmp_path):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root (to start hosteld as another user) and setpriv")
    wrapper, home = nobody_hosteld(tmp_path)
    old = os.environ.get("HOSTELD_BIN")
    os.environ["HOSTELD_BIN"] = str(wrapper)
    try:
        d = NetDaemon(home).start()
    finally:
        if old is None:
            del os.environ["HOSTELD_BIN"]
        else:
            os.environ["HOSTELD_BIN"] = old
    try:
        assert_error(d.request("POST", NETS, {"name": "wan", "nat": {"mode": "host"}}), 422,
                     "a nat network in host mode (a host tap, dnsmasq and nftables) needs "
                     "hosteld to run as root")
        assert d.request("GET", NETS).json["networks"] == []
    finally:
        d.cleanup()
        shutil.rmtree(home, ignore_errors=True)


# ---- with guests ----


def test_host_nat_two_vms_lease_ping_reach_the_internet_and_a_forward(hostns, tmp_path):
    d = hostns
    inet = Internet(d.ns, tmp_path)
    try:
        d.network("wan", subnet="10.213.23.0/24", nat={"mode": "host"})
        start_vm(d, "vm1", {"kind": "network", "network": "wan"})
        start_vm(d, "vm2", {"kind": "network", "network": "wan"})
        mac1, mac2 = card_mac(d, "vm1"), card_mac(d, "vm2")
        leases = leases_of(d, "wan", [mac1, mac2])
        ip1, ip2 = leases[mac1]["ipv4"], leases[mac2]["ipv4"]
        assert ip1 != ip2 and all(ip.startswith("10.213.23.") for ip in (ip1, ip2))
        assert leases[mac1]["expires"].endswith("Z") and leases[mac1]["hostname"] is None
        # the ports show the leased addresses (learned by the switch, or from the leases)
        ports = d.ports("wan")
        assert ports["vm1.0"]["ipv4"] == ip1 and ports["vm2.0"]["ipv4"] == ip2
        c1, c2 = Console(d, "vm1"), Console(d, "vm2")
        assert f"inet {ip1}/24" in c1.check("ip -4 addr show eth0")
        assert f"inet {ip2}/24" in c2.check("ip -4 addr show eth0")
        assert "default via 10.213.23.1" in c1.check("ip route")
        assert "nameserver 10.213.23.1" in c1.check("cat /etc/resolv.conf")
        assert " 0% packet loss" in c1.check(f"ping -c 3 -W 5 {ip2}")
        assert " 0% packet loss" in c2.check(f"ping -c 3 -W 5 {ip1}")
        # both download from "the internet", which sees only the host's outside address
        want = hashlib.sha256(inet.data).hexdigest()
        for con in (c1, c2):
            out = con.check(f"wget -q -O /tmp/f http://{SERVER}:8000/file && sha256sum /tmp/f",
                            timeout=120)
            assert out.split()[0] == want, out
        assert inet.clients() == {OUT_HOST}, inet.clients()
        # a port forward, added live, from the outside address to vm1's busybox httpd
        c1.check("mkdir -p /www && echo hello-from-vm1 > /www/index.html && httpd -p 80 -h /www")
        switch = d.get_net("wan")["pid"]
        r = d.request("PATCH", f"{NETS}/wan", {"forwards": [f"tcp:18080-{ip1}:80"]})
        assert r.status == 200 and r.json["pid"] == switch and r.json["pending"] is False, r
        url = f"http://{OUT_HOST}:18080/"
        got = ns_run(inet.name, "curl", "-s", "-m", "20", url).stdout
        assert got == "hello-from-vm1\n", got
        # and from the host itself (the output chain)
        got = ns_run(d.ns, "curl", "-s", "-m", "20", url).stdout
        assert got == "hello-from-vm1\n", got
        # from outside, nothing else in the subnet is reachable (no route, and no forward)
        r = ns_run(inet.name, "curl", "-s", "-m", "3", f"http://{ip1}:80/", check=False)
        assert r.returncode != 0
        c1.close()
        c2.close()
        # a daemon restart keeps dnsmasq and the leases
        pid = d.dnsmasq_pid("wan")
        restart(d)
        n = d.get_net("wan")
        assert n["host"]["dnsmasq"]["pid"] == pid and {x["mac"] for x in n["leases"]} >= {mac1,
                                                                                         mac2}
        for vm in ("vm1", "vm2"):
            assert d.act(vm, "stop", force=True)["status"] == "success"
            assert d.request("DELETE", f"/1.0/vms/{vm}").status == 200
        assert d.request("DELETE", f"{NETS}/wan").status == 200
        wait_for(lambda: not alive(pid), timeout=10)
        assert "table ip hostel-wan" not in nft_tables(d.ns) and d.link("hn-wan") is None
    finally:
        inet.close()
