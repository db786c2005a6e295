"""The lifecycle end to end, as a user types it (issue 11): create -> start -> the
console shows the shell -> snapshot -> stop (graceful: the guest's own shutdown
messages) -> start -> clone -> both run -> delete.  The default guest, with a
qcow2 volume as its disk so that the snapshot and the clone carry a disk."""

import json
import os
import subprocess

import pexpect
import pytest

from test_mgmt_lifecycle import Daemon, console_log, daemon_hostel, wait_for


@pytest.fixture
def daemon(tmp_path, guest):
    d = Daemon(tmp_path, guest).start()
    yield d
    d.cleanup()


def test_create_start_console_snapshot_stop_start_clone_delete(daemon):
    env = dict(os.environ, HOSTEL_SOCKET=daemon.sock)
    hostel = daemon_hostel()

    def run(*args, ok=True):
        r = subprocess.run([hostel, *args], env=env, capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        if ok:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def console(name):
        c = pexpect.spawn(hostel, ["console", name], env=env, encoding="utf-8",
                          codec_errors="replace", timeout=90, dimensions=(50, 200))
        c.expect("attached to")
        return c

    def shell(c, command, answer):
        c.send(command + "\r")
        c.expect(answer)

    run("create", "web", "--disk", "64M", "--memory", "256M")
    assert run("start", "web").stdout.strip() == "web: started"
    c = console("web")
    c.expect("hostel guest ready")
    # the disk is there and takes data
    shell(c, "echo one-$((1+1)) > /dev/vda; head -c 5 /dev/vda", "one-2")
    c.send("\x01d")
    c.expect(pexpect.EOF)

    run("snapshot", "create", "web", "s1")
    snaps = json.loads(run("snapshot", "list", "web").stdout)
    assert [s["name"] for s in snaps["snapshots"]] == ["s1"], snaps

    r = run("stop", "web", "--timeout", "60", "--json")
    assert json.loads(r.stdout)["result"]["forced"] is False
    assert "reboot: Power down" in console_log(daemon, "web")
    assert daemon.vm_state("web")["last_exit"]["reason"] == "guest"

    run("start", "web")
    c = console("web")
    c.send("\r")
    c.expect("# ")
    shell(c, "head -c 5 /dev/vda", "one-2")  # what the guest wrote survived its shutdown
    c.send("\x01d")
    c.expect(pexpect.EOF)

    r = run("clone", "web", "web2")
    assert "cloned web to web2" in r.stdout, r.stdout
    assert daemon.vm_state("web")["status"] == "running"  # the source went on
    run("start", "web2")
    both = {v["name"]: v for v in json.loads(run("list", "--json").stdout)["vms"]}
    assert both["web"]["state"] == both["web2"]["state"] == "running"
    web, web2 = both["web"], both["web2"]
    assert web["uuid"] != web2["uuid"]
    assert web["config"]["nics"][0]["mac"] != web2["config"]["nics"][0]["mac"]
    assert web["config"]["disks"][0]["path"] != web2["config"]["disks"][0]["path"]
    # the clone is the source's machine where it was: same disk content, its own from now on
    c2 = console("web2")
    c2.send("\r")
    shell(c2, "head -c 5 /dev/vda; echo two-$((1+2)) > /dev/vda; sync", "one-2")
    c2.send("\x01d")
    c2.expect(pexpect.EOF)
    c = console("web")
    c.send("\r")
    shell(c, "head -c 5 /dev/vda", "one-2")  # the clone's write did not reach the source
    c.send("\x01d")
    c.expect(pexpect.EOF)

    r = run("delete", "web2", ok=False)
    assert r.returncode == 1 and "stop it first" in r.stderr
    for name in ("web", "web2"):
        run("stop", name, "--force")
        run("delete", name, "--purge")
    assert json.loads(run("list", "--json").stdout)["vms"] == []
    assert not (daemon.state / "vmdata" / "web").exists()
    assert not (daemon.state / "vmdata" / "web2").exists()  # the clone's own disk went too
    assert not list((daemon.state / "pools" / "default").iterdir())
