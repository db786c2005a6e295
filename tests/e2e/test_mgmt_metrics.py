"""hosteld's metrics: a running VM's counters in its state ("stats"), the host's
capacity and what the VMs commit (GET /1.0/host, checked against /proc), the
Prometheus text at GET /metrics (parsed: every sample line is `name{labels}
value`, every family has HELP and TYPE, a running VM's counters are there and
grow once the guest has done I/O: the kernel reads its disk's partition table,
udhcpc leases an address), a VMM that does not answer (SIGSTOP) costing a
bounded time, and `hostel stats`.

Until `hostel run` has --console-socket and --console-log (another branch of
issue 11), the daemon is given a --vmm wrapper that drops those two options.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from test_mgmt_lifecycle import Daemon, daemon_hostel, wait_for

MIB = 1 << 20
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def hostel_bin():
    return daemon_hostel()


def vmm_wrapper(tmp):
    """The extra hosteld arguments: a --vmm wrapper when hostel run lacks --console-socket."""
    helptext = subprocess.run([hostel_bin(), "run", "--help"], capture_output=True,
                              text=True).stdout
    if "--console-socket" in helptext:
        return []
    w = tmp / "vmm-wrapper.sh"
    w.write_text("#!/bin/sh\n"
                 "# drop --console-socket X and --console-log X (not in this hostel run yet)\n"
                 "n=$#; i=0; skip=0\n"
                 "for a in \"$@\"; do\n"
                 "  i=$((i + 1))\n"
                 "  if [ $skip = 1 ]; then skip=0; continue; fi\n"
                 "  case \"$a\" in --console-socket|--console-log) skip=1; continue;; esac\n"
                 "  set -- \"$@\" \"$a\"\n"
                 "done\n"
                 "shift $n\n"
                 f"exec {hostel_bin()} \"$@\"\n")
    w.chmod(0o755)
    return ["--vmm", str(w)]


@pytest.fixture
def daemon(tmp_path, guest):
    d = Daemon(tmp_path, guest, *vmm_wrapper(tmp_path)).start()
    yield d
    d.cleanup()


def create(d, name, harts=1, ram=128 * MIB, disk=None):
    config = {"harts": harts, "ram-size": ram}
    if disk:
        config["disks"] = [{"path": str(disk)}]
    r = d.request("POST", "/1.0/vms", {"name": name, "config": config})
    assert r.status == 201, r


def start(d, name):
    op = d.act(name, "start")
    assert op["status"] == "success", op


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}, checking the format on the way."""
    helps, types, samples = set(), {}, {}
    family = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split()[2]
            helps.add(family)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == family and kind in ("counter", "gauge"), line
            types[name] = kind
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, _, labels, value = m.groups()
            assert name == family, f"{name} outside its family's block"
            pairs = dict((k, v) for k, v, _ in LABEL.findall(labels or ""))
            if labels:
                assert ",".join(f'{k}="{v}"' for k, v in pairs.items()) == labels, line
            samples[(name, frozenset(pairs.items()))] = float(value)
    assert helps == set(types), "every family has HELP and TYPE"
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(d, timeout=10):
    r = d.request("GET", "/metrics", timeout=timeout)
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(r.raw.decode())


def meminfo(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def test_host_is_consistent_with_proc(daemon):
    create(daemon, "a", harts=2, ram=256 * MIB)
    create(daemon, "b", harts=1, ram=128 * MIB)
    create(daemon, "c", harts=3, ram=64 * MIB)
    start(daemon, "b")
    r = daemon.request("GET", "/1.0/host")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json", r
    h = r.json
    assert h["cpus"] == os.sysconf("SC_NPROCESSORS_ONLN")
    assert h["memory"]["total"] == meminfo("MemTotal")
    assert abs(h["memory"]["available"] - meminfo("MemAvailable")) < meminfo("MemTotal") // 10
    assert len(h["load"]) == 3
    for got, want in zip(h["load"], os.getloadavg()):
        assert abs(got - want) < 2
    assert h["vms"]["defined"] == 3
    assert h["vms"]["by_state"]["running"] == 1 and h["vms"]["by_state"]["stopped"] == 2
    assert sum(h["vms"]["by_state"].values()) == 3
    assert h["committed"]["defined"] == {"cpus": 6, "memory": 448 * MIB}
    assert h["committed"]["running"] == {"cpus": 1, "memory": 128 * MIB}
    assert h["hosteld"]["pid"] == daemon.proc.pid
    rss = int(re.search(r"VmRSS:\s+(\d+) kB",
                        open(f"/proc/{daemon.proc.pid}/status").read()).group(1)) * 1024
    assert rss / 2 < h["hosteld"]["memory_rss"] < rss * 2
    assert daemon.request("POST", "/1.0/host", {}).status == 405


def test_state_stats_and_metrics_grow_with_guest_io(daemon, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * (4 * MIB))
    create(daemon, "vm1", disk=disk)
    create(daemon, 'idle')
    early = scrape(daemon)
    assert value(early, "hostel_vm_up", vm="vm1") == 0
    assert value(early, "hostel_vms", state="stopped") == 2
    start(daemon, "vm1")

    st = daemon.vm_state("vm1")
    stats = st["stats"]
    assert stats["disks"][0]["path"] == str(disk) and len(stats["nics"]) == 1
    assert 0 < stats["ram-touched"] <= 128 * MIB and stats["instructions"] > 0
    assert "stats" not in daemon.vm_state("idle")
    first = scrape(daemon)
    mac = stats["nics"][0]["mac"]

    def io_done():  # the kernel read the partition table; udhcpc got its lease
        s = daemon.vm_state("vm1")["stats"]
        return (s["disks"][0]["read-bytes"] > 0 and s["nics"][0]["rx-packets"] >= 2
                and s["nics"][0]["tx-packets"] >= 2)
    wait_for(io_done, timeout=60, step=0.5)
    later = scrape(daemon)

    assert value(later, "hostel_vm_up", vm="vm1") == 1
    assert value(later, "hostel_vm_up", vm="idle") == 0
    assert value(later, "hostel_vms", state="running") == 1
    assert value(later, "hostel_host_cpus") == os.sysconf("SC_NPROCESSORS_ONLN")
    assert value(later, "hostel_host_memory_bytes") == meminfo("MemTotal")
    assert value(later, "hostel_vm_restarts_total", vm="vm1") == 0
    assert value(later, "hostel_vm_memory_rss_bytes", vm="vm1") > 0
    assert value(later, "hostel_vm_ram_touched_bytes", vm="vm1") > 0
    for name in ("hostel_vm_instructions_total", "hostel_vm_cpu_seconds_total"):
        assert value(later, name, vm="vm1") > value(first, name, vm="vm1"), name
    disk_read = value(later, "hostel_vm_disk_read_bytes_total", vm="vm1", disk="vda")
    assert disk_read > (value(first, "hostel_vm_disk_read_bytes_total", vm="vm1", disk="vda") or 0)
    assert value(later, "hostel_vm_disk_read_ops_total", vm="vm1", disk="vda") > 0
    assert value(later, "hostel_vm_disk_write_bytes_total", vm="vm1", disk="vda") is not None
    for d in ("rx", "tx"):
        assert value(later, f"hostel_vm_net_{d}_packets_total", vm="vm1", nic=mac) >= 2
        assert value(later, f"hostel_vm_net_{d}_bytes_total", vm="vm1", nic=mac) >= 2 * 64
    assert value(later, "hostel_vm_instructions_total", vm="idle") is None


def test_a_vmm_that_does_not_answer_costs_a_bounded_time(daemon):
    create(daemon, "vm1")
    start(daemon, "vm1")
    pid = daemon.vm_state("vm1")["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        st = daemon.vm_state("vm1")
        took = time.monotonic() - t
        assert st["status"] == "running" and "stats" not in st and took < 3, (st, took)
        t = time.monotonic()
        samples = scrape(daemon)
        took = time.monotonic() - t
        assert took < 3 and value(samples, "hostel_vm_up", vm="vm1") == 1
        assert value(samples, "hostel_vm_instructions_total", vm="vm1") is None
        assert daemon.request("GET", "/1.0").status == 200
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "stats" in daemon.vm_state("vm1")



def test_hostel_stats(daemon, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * (4 * MIB))
    create(daemon, "vm1", disk=disk)
    create(daemon, "vm2")
    start(daemon, "vm1")
    env = dict(os.environ, HOSTEL_SOCKET=daemon.sock)

    def run(*args):
        return subprocess.run([hostel_bin(), "stats", *args], env=env, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)

    wait_for(lambda: daemon.vm_state("vm1")["stats"]["disks"][0]["read-bytes"] > 0, timeout=60)
    t = time.monotonic()
    r = run()
    assert r.returncode == 0 and time.monotonic() - t >= 1, r  # two samples a second apart
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "CPU%", "RSS", "TOUCHED", "DISK-RD", "DISK-WR",
                                "NET-RX", "NET-TX", "UPTIME"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"vm1", "vm2"}
    vm1 = rows["vm1"]
    assert vm1[1] == "running" and 0 <= float(vm1[2]) <= 100 * os.cpu_count()
    assert re.fullmatch(r"[\d.]+[KMG]", vm1[3]) and re.fullmatch(r"[\d.]+[KMG]", vm1[4])
    assert vm1[5] != "0B" and re.fullmatch(r"\d+s|\d+m\d\ds", vm1[9]), vm1
    assert rows["vm2"][1:] == ["stopped", "-", "-", "-", "-", "-", "-", "-", "-"]

    r = run("vm1")
    assert r.returncode == 0, r
    assert r.stdout.startswith("vm1: running, pid ")
    assert re.search(r"^  CPU +[\d.]+% ", r.stdout, re.M)
    assert re.search(r"^  memory +RSS [\d.]+[KMG], guest RAM touched [\d.]+[KMG] of 128M$",
                     r.stdout, re.M)
    assert re.search(rf"^  disk vda +{re.escape(str(disk))}: read [\d.]+[BKM] in [1-9]\d* ops",
                     r.stdout, re.M), r.stdout
    assert re.search(r"^  nic 52:54:00:[0-9a-f:]+: rx ", r.stdout, re.M), r.stdout
    assert run("vm2").stdout == "vm2: stopped\n"

    r = run("vm1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["stats"]["disks"][0]["path"] == str(disk)
    r = run("--json")
    j = json.loads(r.stdout)
    assert j["host"]["vms"]["defined"] == 2
    assert [v["name"] for v in j["vms"]] == ["vm1", "vm2"]
    assert "stats" in j["vms"][0]["state"] and "stats" not in j["vms"][1]["state"]

    r = run("nosuch")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "nosuch" in r.stderr, r
    assert run("a", "b").returncode == 2
    assert run("--bogus").returncode == 2
