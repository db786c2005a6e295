#!/usr/bin/python3
"""Network benchmark: hostel's virtual switch beside QEMU 7.2 TCG on Linux bridges.

In one run, with the default guest (busybox + Linux 6.1, virtio-net) under
both emulators, the same kernel and initramfs, RAM and harts, one pair of
guests at a time:

1. VM to VM on one switch: two `hostel run --net socket,path=L` guests on
   one `hostel switch --listen L` (no uplink), beside two QEMU guests
   (`-netdev tap` + `-device virtio-net-device`) whose taps are on a Linux
   bridge in a network namespace the benchmark makes (root only). Static
   addresses 10.99.0.1 and .2 (the guests' udhcpc is stopped first).
   - ping: `ping -c N -i 0.2` from A to B once the path is up (one ping
     before, untimed, resolves ARP); busybox's avg, and the p50 of the
     per-reply times;
   - TCP throughput: B runs `nc -l -p 5001 </dev/null | (dd bs=1 count=1;
     dd bs=64k)` to /dev/null, A sends `dd if=/dev/zero bs=64k count=N |
     nc B 5001`. The time is taken inside B by the second dd: from the
     arrival of the first byte to the end of the stream (the sender closed
     and everything arrived), with the guest's clock, which is the host's
     monotonic clock under both emulators (hostel: src/hw/clock.h; QEMU
     TCG's virtual clock). Timing the sender instead would be unsound:
     busybox nc exits once the last bytes are in its socket buffer, not
     when they arrive. The byte count is checked. Printed on stderr beside
     it, as a cross-check and to read the figure: the host's wall time
     around the exchange, the TCP segments the sender retransmitted
     (/proc/net/snmp), the CPU both VMMs and the switch used over it, the
     switch's drop counters and (hostel, from `query-stats` on the VMs'
     control sockets) the cards' rx-dropped / tx-dropped.
2. VM to host through NAT: one guest with its DHCP lease downloads
   `wget -q -O /dev/null http://GATEWAY:PORT/big` (N MiB from an HTTP server
   of this process on 127.0.0.1), timed by the guest's busybox `time`:
   hostel's switch with a slirp uplink beside QEMU's `-netdev user` (both
   libslirp).
3. VXLAN overlay: two namespaces joined by a veth pair (MTU 1600, so the
   50 bytes of VXLAN fit without fragments), each with a `hostel switch`
   whose vxlan uplink names the other, one guest on each: ping and
   throughput as in 1. QEMU has no VXLAN of its own; its column is two QEMU
   guests on Linux bridges joined by Linux vxlan devices (same VNI, same
   veth), i.e. the kernel's overlay.
4. The switch's own cost: a `hostel switch` with --ports ports added through
   its control socket (add-port with the switch's end of a socketpair by
   SCM_RIGHTS, a fresh pair of ports for each run); bench/net/swload (C)
   asks for shared-memory rings on both ports, as a VMM does (net/ring.h),
   and blasts unicast frames of 60 bytes
   (a minimum Ethernet frame, 64 with its FCS) and then 1514 bytes from one
   port to another for --load-seconds and counts what arrives; the switch
   process's CPU (utime + stime in /proc/PID/stat) over the same window
   gives frames per second per core of switch CPU, and the share of a core
   1 Gbit/s of 64-byte frames (1,488,095 frames/s) would need. One run of
   60-byte frames over the sockets (one message per frame, no rings) shows
   what the rings save. A last run paces 60-byte frames at --load-pps,
   by default exactly 1 Gbit/s of them (1,488,095/s, sent in bursts of 32
   with a doorbell each): the switch's CPU at that rate, sleeping between
   bursts, as a VM's traffic makes it.

Targets (issue 16): VM-to-VM throughput >= QEMU's; the switch's CPU < 10 %
of a core at 1 Gbit/s of small frames. See docs/bench.md ("Networks
(bench/net)").

Everything it starts is stopped by pid, and every namespace it made (with
its bridges, taps, veths and vxlan devices) is deleted, also on Ctrl-C,
SIGTERM, SIGHUP or an exception. Exit status: 0 = every step succeeded;
1 = one failed (the table is still printed, its cells read FAIL); 2 = usage
error; 3 = with --check, a target was missed.
"""

import argparse
import json
import math
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from netlab import (BenchError, Control, HostServer, Resources, Switch,  # noqa: E402
                    bridge_with_taps, veth_between)

sys.path.insert(0, str(HERE.parent))
import benchlib  # noqa: E402  (bench/benchlib.py)

boot = benchlib.load("bench_boot", "bench/boot/run.py")

CMDLINE = "console=ttyS0"
IP_A, IP_B = "10.99.0.1", "10.99.0.2"
MAC_A, MAC_B = "52:54:00:99:00:01", "52:54:00:99:00:02"
UNDERLAY_A, UNDERLAY_B = "10.98.0.1", "10.98.0.2"
UNDERLAY_MTU = 1600
VNI, VXLAN_PORT = 42, 4789
NAT_SUBNET, NAT_GATEWAY = "10.77.0.0/24", "10.77.0.2"
QEMU_NAT_GATEWAY = "10.0.2.2"
TCP_PORT = 5001
PING_INTERVAL = "0.2"
LEASE_TIMEOUT_S = 60
GBIT_64B_PPS = 1e9 / ((64 + 20) * 8)  # 1,488,095: with preamble and inter-frame gap
GBIT_1518B_PPS = 1e9 / ((1518 + 20) * 8)  # 81,274
SWITCH_CPU_TARGET = 10.0  # % of a core at 1 Gbit/s of 64-byte frames
FRAME_SIZES = (60, 1514)  # as on the socket: no FCS

STATIC = ("killall -q udhcpc; ip -4 addr flush dev eth0; ip addr add {ip}/24 dev eth0; "
          "ip link set eth0 up")
WAIT_PEER = ("(for i in $(seq 60); do ping -c 1 -W 1 {ip} >/dev/null 2>&1 && exit 0; "
             "sleep 0.5; done; exit 1)")
RECEIVER = (f"(nc -l -p {TCP_PORT} </dev/null | (dd bs=1 count=1 of=/dev/null 2>/dev/null; "
            "dd bs=64k of=/dev/null)) 2>/tmp/rx & true")
LISTENING = (f"(for i in $(seq 100); do grep -q ':{TCP_PORT:04X} 00000000:0000 0A' "
             "/proc/net/tcp && exit 0; sleep 0.1; done; exit 1)")
SENDER = "dd if=/dev/zero bs=64k count={count} 2>/dev/null | nc {ip} " + str(TCP_PORT)
DD_LINE = re.compile(r"(\d+) bytes \([^)]*\) copied, ([\d.]+) seconds")
PING_REPLY = re.compile(r"seq=\d+ ttl=\d+ time=([\d.]+) ms")
PING_SUMMARY = re.compile(r"round-trip min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+) ms")


def progress(text):
    print(text, file=sys.stderr, flush=True)


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100.0 * len(ordered))))
    return ordered[rank - 1]


# ---------------------------------------------------------------- guests

def hostel_argv(opts, net):
    return [opts.hostel, "run", "-m", f"{opts.mem}M", "-c", str(opts.harts),
            "-k", str(opts.guest / "Image"), "-i", str(opts.guest / "initramfs.cpio.gz"),
            "-p", CMDLINE, "--net", net]


def qemu_argv(opts, netdev, mac, netns=None):
    argv = [opts.qemu, "-M", "virt", "-smp", str(opts.harts), "-m", f"{opts.mem}M",
            "-nographic", "-kernel", str(opts.guest / "Image"),
            "-initrd", str(opts.guest / "initramfs.cpio.gz"), "-append", CMDLINE,
            "-netdev", f"{netdev},id=n0", "-device", f"virtio-net-device,netdev=n0,mac={mac}"]
    return ["ip", "netns", "exec", netns] + argv if netns else argv


def tap_netdev(tap):
    return f"tap,ifname={tap},script=no,downscript=no"


def start_guests(opts, specs):
    """Boot (name, argv) guests one after the other; return them at their prompts.
    A hostel guest is named, so its control socket (g.control) gives its card's counters."""
    guests = []
    for name, argv in specs:
        opts.boots += 1
        log = opts.work / f"{opts.boots:02d}-{name}.log"
        control = None
        if argv[0] == opts.hostel:
            argv = argv + ["--name", name]
            control = pathlib.Path(os.environ["XDG_RUNTIME_DIR"]) / "hostel" / f"{name}.sock"
        g = boot.Guest(name, argv, log, opts.boot_timeout)
        g.control = control
        guests.append(g)
        g.wait_prompt()
    return guests


def card_drops(guests):
    """'; VMM card drops: NAME rx R tx T, ...' from hostel guests' query-stats ('' for QEMU)."""
    parts = []
    for g in guests:
        if g.control is None:
            continue
        try:
            c = Control(g.control)
            nics = c.call("query-stats").get("nics", [])
            c.close()
        except BenchError as e:
            parts.append(f"{g.name} ({e})")
            continue
        for nic in nics:
            parts.append(f"{g.name} rx {nic.get('rx-dropped')} tx {nic.get('tx-dropped')}")
    return "; VMM card drops: " + ", ".join(parts) if parts else ""


def power_off(guests):
    for g in guests:
        try:
            g.poweroff()
        except boot.BenchError:
            g.close()


# ---------------------------------------------------------------- measurements in the guests

def parse_ping(name, out):
    times = [float(t) for t in PING_REPLY.findall(out)]
    summary = PING_SUMMARY.search(out)
    if not times or not summary:
        raise BenchError(f"{name}: no ping replies or summary in {out[-300:]!r}")
    return float(summary.group(2)), percentile(times, 50)


def measure_ping(opts, a, peer):
    a.run(WAIT_PEER.format(ip=peer), timeout=60)
    cmd = f"ping -c {opts.pings} -i {PING_INTERVAL} {peer}"
    return parse_ping(a.name, a.run(cmd, timeout=opts.pings * 5 + 30))


def retransmits(g):
    """The guest's TCP RetransSegs so far (/proc/net/snmp)."""
    out = g.run("grep Tcp: /proc/net/snmp")
    head, values = [line.split() for line in out.splitlines()[-2:]]
    return int(values[head.index("RetransSegs")])


def measure_tcp(opts, a, b, peer, switch=None):
    """A sends opts.mib MiB to B over TCP; return {tput: MB/s by B's clock, host_s,
    vmm and cpu: both VMMs' and the switch's CPU in % of a core over host_s (cpu None
    without a switch), retrans: segments A retransmitted}."""
    count = opts.mib * 16
    b.run(RECEIVER)
    b.run(LISTENING, timeout=30)
    cpu0 = switch.cpu_seconds() if switch else None
    vmm0 = boot.cpu_seconds(a.pid) + boot.cpu_seconds(b.pid)
    retrans0 = retransmits(a)
    t0 = time.perf_counter()
    a.run(SENDER.format(count=count, ip=peer), timeout=opts.timeout)
    b.run("wait", timeout=opts.timeout)
    host_s = time.perf_counter() - t0
    got = {"host_s": host_s,
           "vmm": 100.0 * (boot.cpu_seconds(a.pid) + boot.cpu_seconds(b.pid) - vmm0) / host_s,
           "cpu": 100.0 * (switch.cpu_seconds() - cpu0) / host_s if switch else None,
           "retrans": retransmits(a) - retrans0}
    out = b.run("cat /tmp/rx")
    m = DD_LINE.search(out)
    if not m:
        raise BenchError(f"{b.name}: no dd summary from the receiver: {out[-300:]!r}")
    nbytes, seconds = int(m.group(1)), float(m.group(2))
    if nbytes != count * 65536 - 1:
        raise BenchError(f"{b.name}: received {nbytes + 1} bytes, {count * 65536} were sent")
    got["tput"] = nbytes / seconds / 1e6
    return got


def measure_pair(opts, name, a, b, results, prefix, switch=None):
    """Static addresses, then ping and TCP from a to b; results[prefix + ...]."""
    a.run(STATIC.format(ip=IP_A))
    b.run(STATIC.format(ip=IP_B))
    avg, p50 = measure_ping(opts, a, IP_B)
    got = measure_tcp(opts, a, b, IP_B, switch)
    results.update({f"{prefix}_ping_avg": avg, f"{prefix}_ping_p50": p50,
                    f"{prefix}_tput": got["tput"], f"{prefix}_vmm": got["vmm"],
                    f"{prefix}_retrans": float(got["retrans"])})
    if got["cpu"] is not None:
        results[f"{prefix}_cpu"] = got["cpu"]
    implied = opts.mib * 1.048576 / got["host_s"]
    drops = (switch_drops(switch) if switch else "") + card_drops([a, b])
    progress(f"{name}: ping avg {avg:.3f} ms, p50 {p50:.3f} ms; TCP {got['tput']:.1f} MB/s "
             f"(host wall time around the exchange: {got['host_s']:.2f} s, {implied:.1f} "
             f"MB/s); {got['retrans']} segments retransmitted; CPU over it, % of a core: "
             f"both VMMs {got['vmm']:.0f}"
             + (f", switch {got['cpu']:.1f}" if got["cpu"] is not None else "") + drops)


def switch_drops(switch):
    """The switch's non-zero drop counters, summed over its ports: '; switch drops: ...'."""
    total = {}
    for port in switch.call("query-ports").get("ports", []):
        for key, value in port.get("stats", {}).items():
            if key.startswith("drop-") and value:
                total[key] = total.get(key, 0) + value
    return "; switch drops: " + (", ".join(f"{k} {v}" for k, v in total.items()) or "none")


def wait_lease(opts, g, prefix):
    """Wait until eth0 has a DHCP address starting with prefix."""
    deadline = time.monotonic() + LEASE_TIMEOUT_S
    out = ""
    while time.monotonic() < deadline:
        out = g.run("ip -4 addr show eth0")
        if f"inet {prefix}" in out:
            return
        time.sleep(1)
    raise BenchError(f"{g.name}: no DHCP lease in {LEASE_TIMEOUT_S} s: {out!r}")


def measure_wget(opts, g, gateway, server, results):
    before = len(server.served())
    out = g.run(f"time wget -q -O /dev/null http://{gateway}:{server.port}/big",
                timeout=opts.timeout)
    seconds = boot.parse_real(g.name, "wget", out)
    if len(server.served()) != before + 1:
        raise BenchError(f"{g.name}: the host server did not finish sending /big")
    results["nat_tput"] = opts.nat_mib * 1048576 / seconds / 1e6
    progress(f"{g.name}: wget {opts.nat_mib} MiB in {seconds:.2f} s: "
             f"{results['nat_tput']:.1f} MB/s")


# ---------------------------------------------------------------- scenarios

def hostel_switch(opts, res, results):
    sw = Switch(res, opts.hostel, opts.work, "one", {})
    try:
        net = f"socket,path={sw.listen_path}"
        a, b = start_guests(opts, [("hostel-A", hostel_argv(opts, f"{net},mac={MAC_A}")),
                                   ("hostel-B", hostel_argv(opts, f"{net},mac={MAC_B}"))])
        measure_pair(opts, "hostel, one switch", a, b, results, "sw", sw)
        power_off([a, b])
    finally:
        boot.Guest.close_all()
        sw.close()


def qemu_bridge(opts, res, results):
    ns = res.netns("q")
    try:
        bridge_with_taps(ns, ["qa", "qb"])
        a, b = start_guests(opts, [("qemu-A", qemu_argv(opts, tap_netdev("qa"), MAC_A, ns)),
                                   ("qemu-B", qemu_argv(opts, tap_netdev("qb"), MAC_B, ns))])
        measure_pair(opts, "qemu, Linux bridge", a, b, results, "sw")
        power_off([a, b])
    finally:
        boot.Guest.close_all()
        res.delete_netns(ns)


def hostel_nat(opts, res, results, server):
    uplink = {"kind": "slirp", "name": "nat", "subnet": NAT_SUBNET}
    sw = Switch(res, opts.hostel, opts.work, "nat", {"uplinks": [uplink]})
    try:
        g, = start_guests(opts, [("hostel-nat", hostel_argv(
            opts, f"socket,path={sw.listen_path},mac={MAC_A}"))])
        wait_lease(opts, g, NAT_SUBNET.rsplit(".", 1)[0] + ".")
        measure_wget(opts, g, NAT_GATEWAY, server, results)
        power_off([g])
    finally:
        boot.Guest.close_all()
        sw.close()


def qemu_nat(opts, res, results, server):
    try:
        g, = start_guests(opts, [("qemu-nat", qemu_argv(opts, "user", MAC_A))])
        wait_lease(opts, g, "10.0.2.")
        measure_wget(opts, g, QEMU_NAT_GATEWAY, server, results)
        power_off([g])
    finally:
        boot.Guest.close_all()


def underlay(res):
    ns_a, ns_b = res.netns("a"), res.netns("b")
    veth_between(ns_a, ns_b, UNDERLAY_A, UNDERLAY_B, UNDERLAY_MTU)
    return ns_a, ns_b


def vxlan_uplink(local, peer):
    return {"uplinks": [{"kind": "vxlan", "name": "vxlan", "vni": VNI, "local": local,
                         "port": VXLAN_PORT, "peers": [peer]}]}


def hostel_vxlan(opts, res, results):
    ns_a, ns_b = underlay(res)
    switches = []
    try:
        switches.append(Switch(res, opts.hostel, opts.work, "vx-a",
                               vxlan_uplink(UNDERLAY_A, UNDERLAY_B), netns=ns_a))
        switches.append(Switch(res, opts.hostel, opts.work, "vx-b",
                               vxlan_uplink(UNDERLAY_B, UNDERLAY_A), netns=ns_b))
        a, b = start_guests(opts, [
            ("hostel-vxA", hostel_argv(opts, f"socket,path={switches[0].listen_path},"
                                             f"mac={MAC_A}")),
            ("hostel-vxB", hostel_argv(opts, f"socket,path={switches[1].listen_path},"
                                             f"mac={MAC_B}"))])
        measure_pair(opts, "hostel, VXLAN", a, b, results, "vx", switches[0])
        power_off([a, b])
    finally:
        boot.Guest.close_all()
        for sw in switches:
            sw.close()
        res.delete_netns(ns_a)
        res.delete_netns(ns_b)


def qemu_vxlan(opts, res, results):
    ns_a, ns_b = underlay(res)
    try:
        for ns, local, remote, dev in ((ns_a, UNDERLAY_A, UNDERLAY_B, "va"),
                                       (ns_b, UNDERLAY_B, UNDERLAY_A, "vb")):
            bridge_with_taps(ns, ["qa"], {"vni": VNI, "local": local, "remote": remote,
                                          "port": VXLAN_PORT, "dev": dev})
        a, b = start_guests(opts, [("qemu-vxA", qemu_argv(opts, tap_netdev("qa"), MAC_A, ns_a)),
                                   ("qemu-vxB", qemu_argv(opts, tap_netdev("qa"), MAC_B, ns_b))])
        measure_pair(opts, "qemu, Linux vxlan", a, b, results, "vx")
        power_off([a, b])
    finally:
        boot.Guest.close_all()
        res.delete_netns(ns_a)
        res.delete_netns(ns_b)


# ---------------------------------------------------------------- the switch's own cost

def add_load_ports(sw, count, base):
    """count ports base-0, base-1... on sw, each the switch's end of a socketpair; our ends."""
    ends = []
    for i in range(count):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sw.call("add-port", {"name": f"{base}-{i}", "mode": "access", "vlan": 1},
                    fd=theirs.fileno())
        finally:
            theirs.close()
        ends.append(ours)
    return ends


def announce_idle(ends):
    """Each idle port sends one broadcast from an address of its own (the table fills)."""
    for i, s in enumerate(ends):
        frame = b"\xff" * 6 + bytes([0x02, 0x00, 0x5e, 0x20, i >> 8, i & 0xff]) + b"\x88\xb5"
        s.send(frame + bytes(60 - len(frame)))


def run_swload(opts, sw, tx, rx, size, pps, transport):
    argv = [str(opts.swload), "--tx", str(tx.fileno()), "--rx", str(rx.fileno()),
            "--pid", str(sw.pid), "--size", str(size), "--seconds", str(opts.load_seconds),
            "--warmup", "1", "--pps", str(pps), "--transport", transport]
    r = subprocess.run(argv, pass_fds=(tx.fileno(), rx.fileno()), capture_output=True,
                       text=True, timeout=opts.load_seconds + 60)
    if r.returncode != 0:
        raise BenchError(f"swload --size {size}: {r.stderr.strip() or r.returncode}")
    return json.loads(r.stdout)


def load_figures(opts, size, transport, got, results, prefix):
    """Fill results[prefix + ...] from one swload result; return a progress line."""
    fps = got["received"] / got["seconds"]
    cpu = got["switch-cpu-s"] / got["seconds"]
    per_core = got["received"] / got["switch-cpu-s"] if got["switch-cpu-s"] else None
    results[f"{prefix}_fps"] = fps
    results[f"{prefix}_cpu"] = 100.0 * cpu
    results[f"{prefix}_gbits"] = got["received-bytes"] * 8 / got["seconds"] / 1e9
    if per_core:
        results[f"{prefix}_per_core"] = per_core
        gbit_pps = GBIT_64B_PPS if size == 60 else GBIT_1518B_PPS
        results[f"{prefix}_gbit_cpu"] = 100.0 * gbit_pps / per_core
    rate = f"paced at {got['pps-asked']:,}/s" if got["pps-asked"] else "as fast as it goes"
    return (f"switch load over {transport}s, {size}-byte frames {rate}, {opts.ports} ports: sent "
            f"{got['sent'] / got['seconds']:,.0f}/s, forwarded {fps:,.0f}/s "
            f"({got['sent'] - got['received']:+,} not arrived in the window), switch CPU "
            f"{100 * cpu:.1f} % of a core" +
            (f" -> {per_core:,.0f} frames/s per core" if per_core else ""))


def switch_load(opts, res, results):
    sw = Switch(res, opts.hostel, opts.work, "load", {}, listen=False)
    idle = []
    try:
        idle = add_load_ports(sw, opts.ports - 2, "idle")
        announce_idle(idle)
        # rings as the VMMs use them; one run over sockets (a message per frame) beside them
        runs = [(size, 0, f"load{size}", "ring") for size in FRAME_SIZES]
        runs.append((60, 0, "sock60", "socket"))
        if opts.load_pps:
            runs.append((60, opts.load_pps, "paced60", "ring"))
        for size, pps, prefix, transport in runs:
            load_one(opts, sw, size, pps, prefix, transport, results)
    finally:
        for s in idle:
            s.close()
        sw.close()


def load_one(opts, sw, size, pps, prefix, transport, results):
    """One swload run on a fresh pair of ports (a port on rings stays on them)."""
    tx, rx = add_load_ports(sw, 2, prefix)
    try:
        got = run_swload(opts, sw, tx, rx, size, pps, transport)
        progress(load_figures(opts, size, transport, got, results, prefix))
        ports = {p.get("name"): p for p in sw.call("query-ports")["ports"]}
        took, gave = ports.get(f"{prefix}-0", {}), ports.get(f"{prefix}-1", {})
        progress(f"  the sending port ({took.get('transport')}) gave the switch "
                 f"{took.get('stats', {}).get('rx-frames', 0):,} frames; the receiving port "
                 f"was handed {gave.get('stats', {}).get('tx-frames', 0):,} and dropped "
                 f"{gave.get('stats', {}).get('drop-queue', 0):,} (its queue full: swload's "
                 "receiver shares the CPU with the sender)")
    finally:
        for s in (tx, rx):
            s.close()
        for i in (0, 1):
            sw.call("remove-port", {"name": f"{prefix}-{i}"})


# ---------------------------------------------------------------- the table

# (key, label, unit, how runs combine, target kind): the best of the runs, or (a key's
# name) the value of the run where that key was best (a transfer's CPU beside its throughput)
ROWS = [
    ("sw_tput", "VM-to-VM TCP, one switch", "MB/s", max, "ge_qemu"),
    ("sw_ping_avg", "VM-to-VM ping avg", "ms", min, None),
    ("sw_ping_p50", "VM-to-VM ping p50", "ms", min, None),
    ("sw_retrans", "  TCP segments retransmitted", "segments", "sw_tput", None),
    ("sw_vmm", "  both VMMs' CPU over the transfer", "% core", "sw_tput", None),
    ("sw_cpu", "  switch CPU over the transfer", "% core", "sw_tput", None),
    ("nat_tput", "VM to host via NAT (wget)", "MB/s", max, None),
    ("vx_tput", "VXLAN overlay TCP", "MB/s", max, None),
    ("vx_ping_avg", "VXLAN overlay ping avg", "ms", min, None),
    ("vx_ping_p50", "VXLAN overlay ping p50", "ms", min, None),
    ("vx_retrans", "  TCP segments retransmitted", "segments", "vx_tput", None),
    ("vx_vmm", "  both VMMs' CPU over the transfer", "% core", "vx_tput", None),
    ("vx_cpu", "  one switch's CPU over the transfer", "% core", "vx_tput", None),
    ("load60_fps", "switch on rings, 60 B frames forwarded", "frames/s", max, None),
    ("load60_cpu", "  switch CPU", "% core", max, None),
    ("load60_per_core", "  frames/s per core of switch CPU", "frames/s", max, None),
    ("load60_gbit_cpu", "  CPU for 1 Gbit/s of 64 B frames", "% core", min, "switch_cpu"),
    ("load1514_fps", "switch on rings, 1514 B frames forwarded", "frames/s", max, None),
    ("load1514_gbits", "  forwarded", "Gbit/s", max, None),
    ("load1514_per_core", "  frames/s per core of switch CPU", "frames/s", max, None),
    ("load1514_gbit_cpu", "  CPU for 1 Gbit/s of 1518 B frames", "% core", min, None),
    ("sock60_fps", "switch over sockets, 60 B frames", "frames/s", max, None),
    ("sock60_cpu", "  switch CPU", "% core", max, None),
    ("sock60_per_core", "  frames/s per core of switch CPU", "frames/s", max, None),
    ("sock60_gbit_cpu", "  CPU for 1 Gbit/s of 64 B frames", "% core", min, None),
    ("paced60_fps", "switch, 60 B frames paced (--load-pps)", "frames/s", max, None),
    ("paced60_cpu", "  switch CPU", "% core", min, None),
    ("paced60_gbit_cpu", "  CPU for 1 Gbit/s of 64 B frames", "% core", min, None),
]
TARGET_TEXT = {"ge_qemu": ">= qemu", "switch_cpu": f"< {SWITCH_CPU_TARGET:.0f} %", None: ""}
NO_QEMU = {
    "sw_cpu": "a Linux bridge forwards in the kernel: no process to measure",
    "vx_cpu": "Linux's bridge and vxlan device work in the kernel",
    "load": "QEMU has no switch process: its taps are on a Linux bridge, in the kernel",
}


def fmt(value, unit):
    if isinstance(value, str):
        return value
    if unit in ("frames/s", "segments"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.3f}"
    if unit == "Gbit/s":
        return f"{value:.2f}"
    return f"{value:.1f}"


def verdict(kind, hostel, qemu):
    if kind is None:
        return ""
    if not isinstance(hostel, float):
        return "FAIL" if hostel == "FAIL" else "n/a"
    if kind == "switch_cpu":
        return "PASS" if hostel < SWITCH_CPU_TARGET else "MISS"
    if not isinstance(qemu, float):
        return "n/a"
    return "PASS" if hostel >= qemu else "MISS"


def cell(opts, samples, status, emu, key, combine):
    """The figure of (emu, key), or the word that replaces it: FAIL, skip, n/a."""
    got = samples.get((emu, key))
    if got and isinstance(combine, str):
        ref = samples.get((emu, combine), [])
        return float(got[ref.index(max(ref))] if len(ref) == len(got) else min(got))
    if got:
        return float(combine(got))
    scenario = scenario_of(key)
    if emu == "qemu" and (key in NO_QEMU or scenario == "load"):
        return "n/a"
    return status.get((emu, scenario), "FAIL")


def scenario_of(key):
    return {"sw": "switch", "nat": "nat", "vx": "vxlan"}.get(key.split("_")[0], "load")


def print_table(opts, samples, status):
    head = ["metric", "hostel", "qemu", "hostel/qemu", "target", "verdict"]
    rows, verdicts = [], []
    for key, label, unit, combine, kind in ROWS:
        if scenario_of(key) not in opts.only:
            continue
        hostel = cell(opts, samples, status, "hostel", key, combine)
        qemu = cell(opts, samples, status, "qemu", key, combine)
        ratio = (f"{hostel / qemu:.2f}" if isinstance(hostel, float) and isinstance(qemu, float)
                 and qemu else "-")
        mark = verdict(kind, hostel, qemu)
        verdicts.append(mark)
        rows.append([f"{label} ({unit})", fmt(hostel, unit), fmt(qemu, unit), ratio,
                     TARGET_TEXT[kind], mark])
    benchlib.print_table(head, rows)
    return verdicts


def print_notes(opts, status):
    notes = []
    if "load" in opts.only:
        notes.append(f"qemu n/a (switch rows): {NO_QEMU['load']}")
    if "switch" in opts.only or "vxlan" in opts.only:
        notes.append(f"qemu n/a (switch CPU rows): {NO_QEMU['sw_cpu']}")
    if "vxlan" in opts.only:
        notes.append("qemu VXLAN column: QEMU has no VXLAN backend; two QEMU guests on Linux "
                     "bridges joined by Linux vxlan devices (VNI 42, UDP 4789, the same veth)")
    for (emu, scenario), why in sorted(status.items()):
        if why == "skip":
            notes.append(f"{emu} {scenario}: skipped, {opts.skip_reason[(emu, scenario)]}")
    for note in notes:
        print(f"note: {note}")


def print_header(opts):
    qemu_version = subprocess.run([opts.qemu, "--version"], capture_output=True, text=True,
                                  timeout=60).stdout.splitlines()[:1]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench/net: {opts.hostel} vs {' '.join(qemu_version) or opts.qemu}")
    if opts.guest:
        print(f"guest: {opts.guest} (Image + initramfs), {opts.mem} MiB RAM, {opts.harts} "
              f"hart(s), busybox nc/dd/ping/wget; TCP {opts.mib} MiB, NAT {opts.nat_mib} MiB, "
              f"{opts.pings} pings; best of {opts.runs}")
    print(f"switch load: {opts.ports} ports, {opts.load_seconds} s per frame size; "
          f"host: {os.cpu_count()} CPUs, load average {load}")


# ---------------------------------------------------------------- the run

SCENARIOS = [
    ("switch", hostel_switch, qemu_bridge),
    ("nat", hostel_nat, qemu_nat),
    ("vxlan", hostel_vxlan, qemu_vxlan),
]


def plan_skips(opts):
    """(emu, scenario) -> reason it cannot run here."""
    skip = {}
    root = os.geteuid() == 0 and shutil.which("ip")
    why = ("not root (or no `ip`): needs network namespaces, a bridge and taps"
           if not root else None)
    if why:
        skip[("qemu", "switch")] = why
        skip[("qemu", "vxlan")] = why
        skip[("hostel", "vxlan")] = why.replace("a bridge and taps", "a veth pair")
    if opts.no_qemu_vxlan:
        skip[("qemu", "vxlan")] = "--no-qemu-vxlan"
    if opts.no_qemu:
        for scenario, _, _ in SCENARIOS:
            skip[("qemu", scenario)] = "--no-qemu"
    return skip


def one_scenario(opts, res, samples, status, failures, emu, scenario, fn, *args):
    if (emu, scenario) in opts.skip_reason:
        status[(emu, scenario)] = "skip"
        return
    results = {}
    try:
        fn(opts, res, results, *args)
    except (BenchError, boot.BenchError) as e:
        failures.append(f"{emu} {scenario}: {e}")
        progress(f"FAILED: {emu} {scenario}: {e}")
    for key, value in results.items():
        samples.setdefault((emu, key), []).append(value)


def run_all(opts, res):
    samples, status, failures = {}, {}, []
    server = HostServer(opts.nat_mib << 20) if "nat" in opts.only else None
    try:
        for run in range(1, opts.runs + 1):
            for scenario, hostel_fn, qemu_fn in SCENARIOS:
                if scenario not in opts.only:
                    continue
                extra = (server,) if scenario == "nat" else ()
                for emu, fn in (("hostel", hostel_fn), ("qemu", qemu_fn)):
                    one_scenario(opts, res, samples, status, failures, emu, scenario, fn,
                                 *extra)
        if "load" in opts.only:
            one_scenario(opts, res, samples, status, failures, "hostel", "load", switch_load)
    finally:
        if server:
            server.close()
    return samples, status, failures


# ---------------------------------------------------------------- options

def positive(kind):
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
        return value
    return check


def parse_only(text):
    names = [x for x in text.split(",") if x]
    known = ("switch", "nat", "vxlan", "load")
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--only takes {','.join(known)}, not {text!r}")
    return names


def parse_options(argv):
    p = argparse.ArgumentParser(
        prog="bench/net/run.py",
        description="VM-to-VM, VM-to-host (NAT) and VXLAN throughput and latency under "
                    "hostel's switch and QEMU on Linux bridges; the switch's own CPU cost.")
    p.add_argument("build_dir", nargs="?", default="build",
                   help="meson build directory holding hostel and bench/net/swload "
                        "(default: build); $HOSTEL_BIN overrides the binary")
    p.add_argument("--runs", "-n", type=positive(int), default=3,
                   help="boots of each pair; the best figure is shown (default 3)")
    p.add_argument("--mib", type=positive(int), default=64,
                   help="MiB sent VM to VM over TCP (default 64)")
    p.add_argument("--nat-mib", type=positive(int), default=32,
                   help="MiB downloaded through NAT (default 32)")
    p.add_argument("--pings", type=positive(int), default=20, help="pings (default 20)")
    p.add_argument("--ports", type=int, default=16,
                   help="ports on the loaded switch, 2 of them busy (default 16, at least 2)")
    p.add_argument("--load-seconds", type=positive(float), default=5.0,
                   help="measured window of each frame size (default 5)")
    p.add_argument("--load-pps", type=int, default=round(GBIT_64B_PPS),
                   help="a last load run of 60-byte frames paced at this rate (default "
                        f"{round(GBIT_64B_PPS)}: 1 Gbit/s of them; 0 = none)")
    p.add_argument("--mem", type=positive(int), default=256, help="guest RAM in MiB (256)")
    p.add_argument("--harts", type=positive(int), default=1, help="harts per guest (1)")
    p.add_argument("--only", type=parse_only, default=["switch", "nat", "vxlan", "load"],
                   help="comma-separated parts: switch,nat,vxlan,load (default all)")
    p.add_argument("--no-qemu", action="store_true", help="hostel only")
    p.add_argument("--no-qemu-vxlan", action="store_true",
                   help="leave QEMU's VXLAN column out (Linux bridges + vxlan devices)")
    p.add_argument("--quick", action="store_true",
                   help="one run, 16 MiB, 10 pings, 2 s of switch load")
    p.add_argument("--guest", help="guest directory with Image and initramfs.cpio.gz "
                   "(default: $HOSTEL_GUEST_DIR, else what guest/build.sh prints)")
    p.add_argument("--boot-timeout", type=positive(int), default=300,
                   help="seconds allowed for a boot to reach its prompt (300)")
    p.add_argument("--timeout", type=positive(int), default=600,
                   help="seconds allowed for one transfer (600)")
    p.add_argument("--check", action="store_true", help="exit 3 if a target is missed")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the console and switch logs")
    opts = p.parse_args(argv)
    if opts.quick:
        opts.runs, opts.mib, opts.nat_mib, opts.pings, opts.load_seconds = 1, 16, 16, 10, 2.0
    if opts.ports < 2 or opts.ports > 1000:
        p.error("--ports must be 2 to 1000")
    if opts.load_pps < 0:
        p.error("--load-pps must be 0 or more")
    return opts, p


def resolve_tools(opts, parser):
    build = pathlib.Path(opts.build_dir)
    opts.hostel = os.environ.get("HOSTEL_BIN") or str(build / "hostel")
    if not os.access(opts.hostel, os.X_OK):
        parser.error(f"{opts.hostel}: not an executable (build hostel or set HOSTEL_BIN)")
    opts.swload = build / "bench" / "net" / "swload"
    if "load" in opts.only and not os.access(opts.swload, os.X_OK):
        parser.error(f"{opts.swload}: not an executable (ninja -C {build})")
    opts.qemu = os.environ.get("QEMU_BIN") or shutil.which("qemu-system-riscv64")
    if not opts.qemu:
        if not opts.no_qemu:
            parser.error("qemu-system-riscv64 not found (install it, set QEMU_BIN, "
                         "or use --no-qemu)")
        opts.qemu = "qemu-system-riscv64"


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv):
    opts, parser = parse_options(argv)
    resolve_tools(opts, parser)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    opts.work = pathlib.Path(tempfile.mkdtemp(prefix="bench-net-"))
    os.environ["XDG_RUNTIME_DIR"] = str(opts.work)  # the named VMs' control sockets
    opts.skip_reason = plan_skips(opts)
    opts.boots = 0
    res = Resources(os.getpid())
    failures, verdicts = [], []
    try:
        opts.guest = boot.find_guest(opts) if opts.only != ["load"] else None
        print_header(opts)
        sys.stdout.flush()
        samples, status, failures = run_all(opts, res)
        print()
        verdicts = print_table(opts, samples, status)
        print_notes(opts, status)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except (BenchError, boot.BenchError) as e:
        print(f"bench/net: {e}", file=sys.stderr)
        failures = failures or [str(e)]
    except KeyboardInterrupt:
        failures = failures or ["interrupted"]
    finally:
        boot.Guest.close_all()
        res.close()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    if failures or opts.keep_logs:
        print(f"logs: {opts.work}", file=sys.stderr)
    else:
        shutil.rmtree(opts.work, ignore_errors=True)
    if failures:
        return 1
    return 3 if opts.check and "MISS" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
