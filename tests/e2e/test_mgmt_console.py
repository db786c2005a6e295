"""`hostel console NAME` through hosteld (GET /1.0/vms/NAME/console): the history, a
working shell, one typist at a time, read-only watchers, C-a d, a daemon restart
survived, a VM that stops.  The VMs boot the default guest."""

import os
import re
import signal
import time

import pexpect
import pytest

from mgmtd import Hosteld
from test_mgmt_lifecycle import Daemon, console_log, daemon_hostel, wait_for

PROMPT = re.compile(r"# $")


@pytest.fixture
def daemon(tmp_path, guest):
    d = Daemon(tmp_path, guest).start()
    yield d
    d.cleanup()


def attach(daemon, name, *extra):
    env = dict(os.environ, HOSTEL_SOCKET=daemon.sock)
    child = pexpect.spawn(daemon_hostel(), ["console", name, *extra], env=env, encoding="utf-8",
                          codec_errors="replace", timeout=60, dimensions=(50, 200))
    return child


def running_vm(daemon, name="vm1"):
    daemon.create(name)
    assert daemon.act(name, "start")["status"] == "success"
    wait_for(lambda: "hostel guest ready" in console_log(daemon, name), timeout=90)


def test_attach_shows_history_and_a_shell(daemon):
    running_vm(daemon)
    c = attach(daemon, "vm1")
    c.expect("attached to vm1")
    c.expect("hostel guest ready")  # printed before we attached: the history
    c.send("\r")
    c.expect(PROMPT)
    c.send("echo hi-$((6*7))\r")
    c.expect("hi-42")
    c.send("\x01d")  # C-a d
    c.expect("detached from vm1")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0
    assert daemon.vm_state("vm1")["status"] == "running"


def test_one_typist_and_readonly_watchers(daemon):
    running_vm(daemon)
    first = attach(daemon, "vm1")
    first.expect("attached to vm1")
    second = attach(daemon, "vm1")
    second.expect(pexpect.EOF)
    second.close()
    assert second.exitstatus == 1
    assert "held by uid=" in second.before, second.before
    watcher = attach(daemon, "vm1", "--ro")
    watcher.expect("read-only")
    first.send("echo seen-by-$((2+3))\r")
    watcher.expect("seen-by-5")
    watcher.send("echo ignored-$((1+1))\r")  # a watcher's keys go nowhere
    time.sleep(1)
    first.send("\r")
    first.expect(PROMPT)
    assert "ignored-2" not in console_log(daemon, "vm1")
    for c in (watcher, first):
        c.send("\x01d")
        c.expect(pexpect.EOF)
    # the input is free again once the typist detached
    again = attach(daemon, "vm1")
    again.expect("attached to vm1")
    again.send("\x01d")
    again.expect(pexpect.EOF)


def test_a_daemon_restart_is_survived(daemon):
    running_vm(daemon)
    c = attach(daemon, "vm1")
    c.expect("attached to vm1")
    c.send("echo before-$((40+2))\r")
    c.expect("before-42")
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    time.sleep(1)
    d2 = Daemon(daemon.tmp, _guest(daemon)).start()
    daemon.proc = d2.proc  # the fixture's cleanup stops this one
    c.send("echo after-$((50+1))\r")
    c.expect("after-51", timeout=30)
    # what was shown before the restart is not shown again
    assert c.before.count("before-42") == 0, c.before
    c.send("\x01d")
    c.expect(pexpect.EOF)


def test_the_client_ends_when_the_vm_stops(daemon):
    running_vm(daemon)
    c = attach(daemon, "vm1")
    c.expect("attached to vm1")
    daemon.act("vm1", "stop", force=True)
    c.expect("vm1 stopped", timeout=40)
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0


def test_console_errors(daemon):
    daemon.create("vm1")
    c = attach(daemon, "vm1")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 1 and "vm1 is not running" in c.before
    c = attach(daemon, "nope")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 1 and "no VM named 'nope'" in c.before
    r = daemon.request("GET", "/1.0/vms/vm1/console")
    assert r.status == 400 and "websocket" in r.json["error"]["message"]
    assert daemon.request("GET", "/1.0/vms/vm1/console?mode=xx").status == 400


def _guest(daemon):
    class G:
        directory = daemon.guest
    return G()
