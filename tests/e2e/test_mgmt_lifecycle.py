"""hosteld runs VMs: start, pause, resume, suspend, stop; a VMM outlives the daemon
and is found again; restart policies; operations that are waited for or
interrupted.  The VMs boot the default guest (the `guest` fixture)."""

import json
import os
import pathlib
import signal
import stat
import subprocess
import time

import pytest

from mgmtd import Hosteld, REPO

ACTION_TIMEOUT = 60


class Daemon(Hosteld):
    """A hosteld whose VMs are all ended when the test ends, whatever happened to it."""

    def __init__(self, tmp, guest, *extra):
        super().__init__(tmp, *extra)
        self.guest = guest.directory

    def create(self, name, **members):
        r = self.request("POST", "/1.0/vms", {"name": name, **members})
        assert r.status == 201, r
        return r.json

    def act(self, name, action, wait=True, **options):
        r = self.request("PUT", f"/1.0/vms/{name}/state", {"action": action, **options})
        assert r.status == 202, r
        assert r.headers["Location"] == f"/1.0/operations/{r.json['id']}"
        return self.wait(r.json["id"]) if wait else r.json

    def wait(self, op_id, timeout=ACTION_TIMEOUT):
        r = self.request("GET", f"/1.0/operations/{op_id}/wait?timeout={timeout}",
                         timeout=timeout + 10)
        assert r.status == 200, r
        return r.json

    def vm_state(self, name):
        r = self.request("GET", f"/1.0/vms/{name}/state")
        assert r.status == 200, r
        return r.json

    def run_dir(self):
        return pathlib.Path(self.sock).parent / "vms"

    def vmm_pids(self):
        pids = []
        for f in self.run_dir().glob("*/pid"):
            try:
                pids.append(int(f.read_text()))
            except (OSError, ValueError):
                pass
        return pids

    def cleanup(self):
        self.stop()
        for pid in self.vmm_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def daemon(tmp_path, guest):
    d = Daemon(tmp_path, guest).start()
    yield d
    d.cleanup()


def wait_for(predicate, timeout=20, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def alive(pid):
    """pid runs (a zombie nobody reaped yet has ended)."""
    try:
        stat_line = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def control(daemon, name, cmd):
    """One command on the VM's control socket, bypassing the daemon."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(daemon.run_dir() / name / "control.sock"))
    f = s.makefile("rw")
    f.readline()  # the greeting
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    reply = json.loads(f.readline())
    s.close()
    return reply


def test_start_pause_resume_stop(daemon):
    daemon.create("vm1")
    op = daemon.act("vm1", "start")
    assert op["status"] == "success", op
    st = daemon.vm_state("vm1")
    assert st["status"] == "running" and alive(st["pid"])
    assert daemon.request("GET", "/1.0/vms/vm1").json["state"] == "running"
    # the VMM is in a session of its own, not the daemon's
    assert os.getsid(st["pid"]) == st["pid"]
    assert daemon.act("vm1", "pause")["status"] == "success"
    assert daemon.vm_state("vm1")["status"] == "paused"
    assert control(daemon, "vm1", "status")["return"]["status"] == "paused"
    assert daemon.act("vm1", "resume")["status"] == "success"
    assert daemon.vm_state("vm1")["status"] == "running"
    # refused at once when they make no sense
    for action, why in (("start", "already running"), ("resume", "not paused")):
        r = daemon.request("PUT", "/1.0/vms/vm1/state", {"action": action})
        assert r.status == 409 and why in r.json["error"]["message"], r
    r = daemon.request("DELETE", "/1.0/vms/vm1")
    assert r.status == 409 and "stop it first" in r.json["error"]["message"]
    pid = st["pid"]
    op = daemon.act("vm1", "stop", force=True)
    assert op["status"] == "success" and op["result"]["forced"] is True
    st = daemon.vm_state("vm1")
    assert st["status"] == "stopped" and "pid" not in st
    assert st["last_exit"]["clean"] is True
    assert not alive(pid)
    assert daemon.request("DELETE", "/1.0/vms/vm1").status == 200
    assert not (daemon.state / "vmdata" / "vm1").exists()


def test_bad_actions(daemon):
    daemon.create("vm1")
    for body, code in (({"action": "fly"}, 400), ({"action": "stop", "force": 1}, 400),
                       ({"action": "stop", "timeout": -1}, 400), ({"actio": "stop"}, 400),
                       ({"action": "stop"}, 409), ({"action": "pause"}, 409)):
        r = daemon.request("PUT", "/1.0/vms/vm1/state", body)
        assert r.status == code, (body, r)
        assert r.json["error"]["code"] == code
    assert daemon.request("PUT", "/1.0/vms/nope/state", {"action": "start"}).status == 404
    assert daemon.request("GET", "/1.0/vms/nope/state").status == 404
    assert daemon.request("GET", "/1.0/operations/nope").status == 404
    assert daemon.request("GET", "/1.0/operations/x/wait?timeout=abc").status == 400


def test_a_vmm_that_fails_at_once_fails_the_start(daemon, tmp_path):
    daemon.create("bad", config={"boot": {"kernel": str(tmp_path / "missing-Image")}})
    op = daemon.act("bad", "start")
    assert op["status"] == "failure"
    assert "missing-Image" in op["err"], op
    assert daemon.vm_state("bad")["status"] == "stopped"


def test_suspend_then_start_resumes(daemon):
    daemon.create("vm1")
    daemon.act("vm1", "start")
    time.sleep(1)
    before = control(daemon, "vm1", "query-stats")["return"]["instructions"]
    op = daemon.act("vm1", "suspend")
    assert op["status"] == "success", op
    assert daemon.vm_state("vm1")["status"] == "stopped"
    assert daemon.vm_state("vm1")["suspended"] is True
    assert daemon.request("GET", "/1.0/vms/vm1").json["state"] == "suspended"
    saved = daemon.state / "vmdata" / "vm1" / "suspended.hstate"
    assert saved.exists()
    assert daemon.act("vm1", "start")["status"] == "success"
    # the restored machine goes on from its count, it did not boot afresh
    assert control(daemon, "vm1", "query-stats")["return"]["instructions"] >= before
    assert not saved.exists(), "the state file is consumed by the resume"
    assert daemon.vm_state("vm1")["suspended"] is False


def test_wait_parks_without_blocking_others(daemon):
    """A wait that times out answers with the running operation; others are served meanwhile."""
    slow = daemon.tmp / "slow-vmm"
    slow.write_text(f"#!/bin/sh\nsleep 3\nexec {daemon_hostel()} \"$@\"\n")
    slow.chmod(0o755)
    daemon.cleanup()
    d = Daemon(daemon.tmp, _guest_of(daemon), "--vmm", str(slow)).start()
    try:
        d.create("vm1")
        op = d.act("vm1", "start", wait=False)
        t0 = time.monotonic()
        r = d.request("GET", f"/1.0/operations/{op['id']}/wait?timeout=0.5")
        assert r.status == 200 and r.json["status"] == "running"
        assert 0.4 < time.monotonic() - t0 < 2
        t0 = time.monotonic()
        assert d.request("GET", "/1.0", timeout=1).status == 200
        assert time.monotonic() - t0 < 0.5
        listed = d.request("GET", "/1.0/operations?recursion=1").json["operations"]
        assert [o["id"] for o in listed if o["status"] == "running"] == [op["id"]]
        done = d.wait(op["id"])
        assert done["status"] == "success"
        r = d.request("DELETE", f"/1.0/operations/{op['id']}")
        assert r.status == 409  # ended: nothing to cancel
    finally:
        d.cleanup()


def daemon_hostel():
    from mgmtd import hosteld_bin
    return str(pathlib.Path(hosteld_bin()).parent / "hostel")


def _guest_of(daemon):
    class G:
        directory = daemon.guest
    return G()


def test_kill9_daemon_keeps_vms_and_reports_the_interrupted_operation(tmp_path, guest):
    slow = tmp_path / "slow-vmm"
    slow.write_text(f"#!/bin/sh\n[ -e {tmp_path}/slow ] && sleep 30\nexec {daemon_hostel()} \"$@\"\n")
    slow.chmod(0o755)
    d = Daemon(tmp_path, guest, "--vmm", str(slow)).start()
    try:
        for n in ("a", "b", "c", "d"):
            d.create(n)
        pids = {}
        for n in ("a", "b", "c"):
            assert d.act(n, "start")["status"] == "success"
            pids[n] = d.vm_state(n)["pid"]
        (tmp_path / "slow").touch()
        op = d.act("d", "start", wait=False)  # in progress when the daemon dies
        time.sleep(0.5)
        d.proc.kill()
        d.proc.wait()
        d2 = d = Daemon(tmp_path, guest, "--vmm", str(slow))  # cleaned up whatever happens
        t0 = time.monotonic()
        d2.start()
        for n in ("a", "b", "c"):
            st = d2.vm_state(n)
            assert st["status"] == "running" and st["pid"] == pids[n], st
            assert alive(pids[n])
        print(f"re-attached 3 VMs in {time.monotonic() - t0:.2f} s")
        names = [v["name"] for v in d2.request("GET", "/1.0/vms?recursion=1").json["vms"]]
        assert names == ["a", "b", "c", "d"]
        r = d2.request("GET", f"/1.0/operations/{op['id']}")
        assert r.status == 200 and r.json["status"] == "failure", r
        assert "interrupted" in r.json["err"]
        # the re-attached VMs are managed as before
        assert d2.act("a", "pause")["status"] == "success"
        assert d2.act("b", "stop", force=True)["status"] == "success"
        assert not alive(pids["b"])
        for f in (tmp_path / "state" / "vms").iterdir():
            json.loads(f.read_text())  # nothing torn
        d = d2
    finally:
        d.cleanup()
        for pid in (pids if "pids" in dir() else {}).values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_restart_policies(daemon):
    daemon.create("fail", restart="on-failure")
    daemon.create("never")
    daemon.act("fail", "start")
    daemon.act("never", "start")
    first = daemon.vm_state("fail")["pid"]
    os.kill(first, signal.SIGKILL)
    os.kill(daemon.vm_state("never")["pid"], signal.SIGKILL)
    st = wait_for(lambda: (s := daemon.vm_state("fail"))["last_exit"] and s)
    assert st["last_exit"]["reason"] == "crashed" and "signal 9" in st["last_exit"]["message"]
    second = wait_for(lambda: (s := daemon.vm_state("fail"))["status"] == "running" and s["pid"],
                      timeout=10)
    assert second != first and daemon.vm_state("fail")["restarts"] == 1
    t_kill = time.monotonic()
    os.kill(second, signal.SIGKILL)
    third = wait_for(lambda: (s := daemon.vm_state("fail"))["status"] == "running" and
                     s["pid"] != second and s["pid"], timeout=10)
    assert time.monotonic() - t_kill >= 1.5, "the back-off doubles (1 s, then 2 s)"
    assert third and daemon.vm_state("fail")["restarts"] == 2
    assert daemon.vm_state("never")["status"] == "stopped"  # policy "no"
    assert daemon.vm_state("never")["last_exit"]["reason"] == "crashed"
    # a clean end (the VMM quits) is not a failure: on-failure does not restart it
    control(daemon, "fail", "quit")
    st = wait_for(lambda: (s := daemon.vm_state("fail"))["status"] == "stopped" and s)
    assert st["last_exit"]["clean"] is True
    time.sleep(2.5)
    assert daemon.vm_state("fail")["status"] == "stopped" and "restart_in_s" not in st
    # a user's stop is never undone by the policy
    daemon.request("PATCH", "/1.0/vms/never", {"restart": "always"})
    daemon.act("never", "start")
    daemon.act("never", "stop", force=True)
    time.sleep(2)
    assert daemon.vm_state("never")["status"] == "stopped"


def test_autostart_at_daemon_start(tmp_path, guest):
    d = Daemon(tmp_path, guest).start()
    try:
        d.create("auto", autostart=True)
        d.create("manual")
        d.stop()
        d = Daemon(tmp_path, guest).start()
        wait_for(lambda: d.vm_state("auto")["status"] == "running", timeout=30)
        assert d.vm_state("manual")["status"] == "stopped"
    finally:
        d.cleanup()


def test_cli_start_stop(daemon):
    env = dict(os.environ, HOSTEL_SOCKET=daemon.sock)
    hostel = daemon_hostel()

    def run(*args):
        return subprocess.run([hostel, *args], env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    assert run("create", "vm1").returncode == 0
    r = run("start", "vm1")
    assert r.returncode == 0 and r.stdout.strip() == "vm1: started", r
    r = run("list")
    assert r.stdout.splitlines()[1].split()[:2] == ["vm1", "running"]
    assert run("pause", "vm1").returncode == 0
    assert daemon.vm_state("vm1")["status"] == "paused"
    assert run("resume", "vm1").returncode == 0
    r = run("start", "vm1")
    assert r.returncode == 1 and r.stderr.strip() == "hostel: vm1 is already running", r
    r = run("stop", "vm1", "--force", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "success", r
    r = run("stop", "vm1", "--timeout", "x")
    assert r.returncode == 2


def console_log(daemon, name):
    p = daemon.state / "vmdata" / name / "console.log"
    return p.read_text(errors="replace") if p.exists() else ""


def test_graceful_stop_lets_the_guest_shut_down(daemon):
    """stop presses the power button: the default guest's own shutdown runs, nothing forced."""
    daemon.create("vm1")
    daemon.act("vm1", "start")
    wait_for(lambda: "hostel guest ready" in console_log(daemon, "vm1"), timeout=60)
    t0 = time.monotonic()
    op = daemon.act("vm1", "stop", timeout=30)
    took = time.monotonic() - t0
    assert op["status"] == "success" and op["result"]["forced"] is False, op
    log = console_log(daemon, "vm1")
    assert "power button" in log.lower() and "reboot: Power down" in log, log[-2000:]
    st = daemon.vm_state("vm1")
    assert st["last_exit"]["reason"] == "guest" and st["last_exit"]["clean"] is True
    print(f"graceful stop took {took:.2f} s")


def test_stop_forces_a_guest_that_ignores_the_button(daemon):
    daemon.create("deaf", config={"boot": {"cmdline": "console=ttyS0 rdinit=/bin/sh"}})
    daemon.act("deaf", "start")
    time.sleep(3)  # the kernel is up and its shell runs: nobody listens to the button
    t0 = time.monotonic()
    op = daemon.act("deaf", "stop", timeout=2)
    assert op["status"] == "success" and op["result"]["forced"] is True, op
    assert 2 <= time.monotonic() - t0 < 15
    assert daemon.vm_state("deaf")["status"] == "stopped"


def test_linked_clone_of_a_stopped_vm(daemon):
    """A linked clone: both VMs on overlays over the old disk, which neither writes any more;
    deleting the source with purge keeps the base the clone still needs."""
    r = daemon.request("POST", "/1.0/storage-pools/default/volumes",
                       {"name": "base", "size": 1 << 20})
    assert r.status == 201, r
    daemon.create("src", config={"disks": [{"volume": "base"}]})
    r = daemon.request("POST", "/1.0/vms/src/clones", {"name": "dst", "linked": True})
    assert r.status == 202, r
    op = daemon.wait(r.json["id"])
    assert op["status"] == "success" and op["result"]["suspended"] is False, op
    src = daemon.request("GET", "/1.0/vms/src").json
    dst = daemon.request("GET", "/1.0/vms/dst").json
    base = src["config"]["disks"][0]["path"]
    assert base.startswith(str(daemon.state / "vmdata" / "src")), base
    assert dst["config"]["disks"][0]["path"].startswith(str(daemon.state / "vmdata" / "dst"))
    assert src["config"]["nics"][0]["mac"] != dst["config"]["nics"][0]["mac"]
    assert dst["uuid"] != src["uuid"] and dst["autostart"] is False
    for bad, code in (({"name": "dst"}, 409), ({"name": "../x"}, 400), ({}, 400),
                      ({"name": "z", "linked": "yes"}, 400), ({"name": "z", "full": 1}, 400)):
        assert daemon.request("POST", "/1.0/vms/src/clones", bad).status == code, bad
    assert daemon.request("POST", "/1.0/vms/nope/clones", {"name": "z"}).status == 404
    r = daemon.request("DELETE", "/1.0/vms/src?purge=1")
    assert r.status == 200, r
    # the base volume is the clone's backing file: kept
    names = [v["name"] for v in
             daemon.request("GET", "/1.0/storage-pools/default/volumes").json["volumes"]]
    assert names == ["base"], names
    assert daemon.act("dst", "start")["status"] == "success"


def test_logs_keep_the_console_and_the_vmm(daemon):
    daemon.create("vm1")
    daemon.act("vm1", "start")
    wait_for(lambda: "hostel guest ready" in console_log(daemon, "vm1"), timeout=90)
    listed = {l["name"] for l in daemon.request("GET", "/1.0/vms/vm1/logs").json["logs"]}
    assert {"console.log", "vmm.log"} <= listed
    r = daemon.request("GET", "/1.0/vms/vm1/logs/console.log?tail=2000")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert len(r.raw) <= 2000 and b"hostel guest ready" in r.raw
    env = dict(os.environ, HOSTEL_SOCKET=daemon.sock)
    out = subprocess.run([daemon_hostel(), "logs", "vm1", "--vmm"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "hosteld starts:" in out.stdout, out
    # the guest's address, as its VMM learned it from its frames (DHCP on user networking)
    def listed_ip():
        r = subprocess.run([daemon_hostel(), "list"], env=env, capture_output=True, text=True,
                           timeout=30)
        row = r.stdout.splitlines()[1].split()
        return row[4] if row[4] != "-" else None
    assert wait_for(listed_ip, timeout=30) == "10.0.2.15"
    st = daemon.vm_state("vm1")
    assert st["stats"]["nics"][0]["ipv4"] == "10.0.2.15"


def test_changes_to_a_running_vm_say_what_waits_for_a_restart(daemon):
    daemon.create("vm1")
    daemon.act("vm1", "start")
    r = daemon.request("PATCH", "/1.0/vms/vm1", {"description": "now", "restart": "always"})
    assert r.status == 200 and "restart_required" not in r.json and "pending" not in r.json
    assert daemon.vm_state("vm1")["restart_policy"] == "always"  # applied at once
    r = daemon.request("PATCH", "/1.0/vms/vm1", {"config": {"harts": 2, "ram-size": 256 << 20}})
    assert r.status == 200 and r.json["restart_required"] is True, r
    assert sorted(r.json["pending"]) == ["config.harts", "config.ram-size"]
    op = daemon.act("vm1", "reboot", force=True)
    assert op["status"] == "success", op
    r = daemon.request("PATCH", "/1.0/vms/vm1", {"description": "again"})
    assert "pending" not in r.json  # the reboot took the new machine
    assert control(daemon, "vm1", "status")["return"]["harts"] == 2
