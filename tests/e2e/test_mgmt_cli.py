"""`hostel create`, `list`, `info`, `delete` against a real hosteld (docs/cli.md):
text and --json output, errors as one line with exit status 1, the socket
given by --socket (global or per verb) or $HOSTEL_SOCKET, and the message
when no daemon answers.  No guest is booted.
"""

import json
import os
import pathlib
import subprocess

import pytest

from mgmtd import REPO, running

HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path)


def hostel(*args, sock=None, env=None):
    e = dict(os.environ)
    e.pop("HOSTEL_SOCKET", None)
    if sock:
        e["HOSTEL_SOCKET"] = sock
    e.update(env or {})
    return subprocess.run([HOSTEL, *args], capture_output=True, text=True, timeout=30, env=e)


def test_create_list_info_delete(daemon):
    s = daemon.sock
    r = hostel("create", "vm1", "--cpus", "2", "--memory", "512M", "--description", "first",
               "--disk", "/d/a.qcow2,ro,format=qcow2", "--net", "user,hostfwd=tcp::2222-:22",
               "--net", "tap,ifname=tap7", sock=s)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("created vm1 (")
    assert hostel("create", "web", "--kernel", "/k/Image", "--cmdline", "console=ttyS0",
                  sock=s).returncode == 0
    r = hostel("list", sock=s)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "CPUS", "MEMORY", "IP", "UPTIME"]
    assert [l.split() for l in lines[1:]] == [["vm1", "stopped", "2", "512M", "-", "-"],
                                             ["web", "stopped", "1", "128M", "-", "-"]]
    r = hostel("info", "vm1", sock=s)
    assert r.returncode == 0, r.stderr
    assert "description: first" in r.stdout and "cpus:        2" in r.stdout
    assert "disk 0:      /d/a.qcow2 (read-only)" in r.stdout
    assert "nic 1:       tap, mac 52:54:00:12:34:57" in r.stdout
    # what the daemon stored is what the flags said
    vm = daemon.request("GET", "/1.0/vms/vm1").json
    (fwd,) = vm["config"]["nics"][0]["hostfwd"]  # as the codec writes it
    assert fwd.startswith("tcp:") and fwd.endswith(":2222-:22")
    assert vm["config"]["nics"][1]["ifname"] == "tap7"
    assert vm["config"]["disks"][0]["format"] == "qcow2"
    assert daemon.request("GET", "/1.0/vms/web").json["config"]["boot"]["kernel"] == "/k/Image"
    r = hostel("delete", "web", sock=s)
    assert r.returncode == 0 and r.stdout == "deleted web\n"
    assert daemon.request("GET", "/1.0/vms").json["vms"] == ["vm1"]


def test_json_output(daemon):
    s = daemon.sock
    made = json.loads(hostel("create", "vm1", "--json", sock=s).stdout)
    assert made["name"] == "vm1" and made["config"]["nics"][0]["kind"] == "user"
    listed = json.loads(hostel("list", "--json", sock=s).stdout)
    assert listed["vms"] == [made] and listed["broken"] == []
    assert json.loads(hostel("info", "vm1", "--json", sock=s).stdout) == made
    assert json.loads(hostel("delete", "vm1", "--json", sock=s).stdout) == {}


def test_errors_are_one_line(daemon):
    s = daemon.sock
    assert hostel("create", "vm1", sock=s).returncode == 0
    for args, message in [
        (("create", "vm1"), "hostel: a VM named 'vm1' exists\n"),
        (("create", "../x"), "hostel: name: '../x' starts with '.'\n"),
        (("create", "a", "--cpus", "9"), "hostel: config.harts: 9 requested, 1 to 8 are supported\n"),
        (("info", "nope"), "hostel: no VM named 'nope'\n"),
        (("delete", "nope"), "hostel: no VM named 'nope'\n"),
    ]:
        r = hostel(*args, sock=s)
        assert r.returncode == 1 and r.stderr == message, (args, r.stderr)
    r = hostel("create", "a", "--net", "bogus", sock=s)
    assert r.returncode == 2 and "--net 'bogus'" in r.stderr


def test_socket_selection(daemon, tmp_path):
    assert hostel("--socket", daemon.sock, "create", "g").returncode == 0
    assert hostel("list", "--socket", daemon.sock).stdout.count("stopped") == 1
    r = hostel("list", sock=daemon.sock)
    assert r.returncode == 0 and "g " in r.stdout
    # --socket wins over HOSTEL_SOCKET
    r = hostel("list", "--socket", daemon.sock, sock=str(tmp_path / "nothing.sock"))
    assert r.returncode == 0


def test_no_daemon_says_how_to_start_it(tmp_path):
    for verb in (["list"], ["create", "x"], ["info", "x"], ["delete", "x"]):
        r = hostel(*verb, sock=str(tmp_path / "none.sock"))
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1, r.stderr
        assert "no hosteld answers on" in r.stderr
        assert "'hosteld'" in r.stderr and "contrib/hosteld.service" in r.stderr


def test_help(tmp_path):
    for verb in ("create", "list", "info", "delete"):
        r = hostel(verb, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: hostel {verb}")
    r = hostel("help")
    assert all(f"  {v} " in r.stdout for v in ("create", "list", "info", "delete"))


def test_create_with_volumes_policies_and_purge(daemon, tmp_path):
    s = daemon.sock
    assert hostel("volume", "create", "shared", "--size", "16M", sock=s).returncode == 0
    assert hostel("volume", "create", "mine", "--size", "16M", sock=s).returncode == 0
    r = hostel("create", "vm1", "--disk", "64M", "--disk", "default/mine", "--disk", "shared,ro",
               "--autostart", "--restart", "on-failure", sock=s)
    assert r.returncode == 0, r.stderr
    vm = json.loads(hostel("info", "vm1", "--json", sock=s).stdout)
    assert vm["autostart"] is True and vm["restart"] == "on-failure"
    disks = vm["config"]["disks"]
    assert [os.path.basename(d["path"]) for d in disks] == ["vm1-disk0.qcow2", "mine.qcow2",
                                                             "shared.qcow2"]
    assert disks[2]["read-only"] is True
    vols = json.loads(hostel("volume", "list", "--json", sock=s).stdout)["volumes"]
    new = [v for v in vols if v["name"] == "vm1-disk0"][0]
    assert new["size"] == 64 << 20 and new["used_by"] == ["vm1"]
    assert hostel("create", "vm2", "--disk", "shared,ro", sock=s).returncode == 0
    # a failed create takes its new volumes back
    r = hostel("create", "vm1", "--disk", "8M", sock=s)
    assert r.returncode == 1 and "exists" in r.stderr
    assert "vm1-disk0" in hostel("volume", "list", sock=s).stdout
    r = hostel("create", "bad", "--disk", "8M", "--restart", "sometimes", sock=s)
    assert r.returncode == 1 and "restart" in r.stderr
    assert "bad-disk0" not in hostel("volume", "list", sock=s).stdout
    # --purge deletes the volumes only vm1 used; 'shared' is still vm2's
    r = hostel("delete", "vm1", "--purge", sock=s)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["deleted vm1", "deleted volume default/mine",
                                             "deleted volume default/vm1-disk0"]
    names = [v["name"] for v in json.loads(hostel("volume", "list", "--json", sock=s).stdout)
             ["volumes"]]
    assert names == ["shared"]
    # without --purge nothing but the definition goes
    assert hostel("delete", "vm2", sock=s).stdout.strip() == "deleted vm2"
    assert "shared" in hostel("volume", "list", sock=s).stdout
    assert daemon.request("DELETE", "/1.0/vms/x?purge=yes").status in (400, 404)


def editor(tmp_path, change):
    """An $EDITOR that applies change (Python over the definition d) to the file it is given."""
    script = tmp_path / f"ed{len(list(tmp_path.iterdir()))}.py"
    script.write_text("import json, sys\np = sys.argv[1]\nd = json.load(open(p))\n"
                      f"{change}\njson.dump(d, open(p, 'w'))\n")
    return {"EDITOR": f"python3 {script}"}


def test_edit_checks_before_it_keeps(daemon, tmp_path):
    s = daemon.sock
    assert hostel("create", "vm1", "--memory", "128M", sock=s).returncode == 0
    r = hostel("edit", "vm1", sock=s, env={"EDITOR": "sed -i s/134217728/268435456/"})
    assert r.returncode == 0 and r.stdout.strip() == "saved", r
    vm = json.loads(hostel("info", "vm1", "--json", sock=s).stdout)
    assert vm["config"]["ram-size"] == 256 << 20
    # a definition the daemon refuses is not kept (no terminal: not offered again)
    r = hostel("edit", "vm1", sock=s, env=editor(tmp_path, "d['config']['harts'] = 99"))
    assert r.returncode == 1 and "harts" in r.stderr, r
    assert json.loads(hostel("info", "vm1", "--json", sock=s).stdout)["config"]["harts"] == 1
    r = hostel("edit", "vm1", sock=s, env={"EDITOR": "sed -i s/{/[/"})
    assert r.returncode == 1 and "line" in r.stderr, r
    r = hostel("edit", "vm1", sock=s, env={"EDITOR": "true"})
    assert r.returncode == 0 and r.stdout.strip() == "unchanged"
    r = hostel("edit", "vm1", sock=s, env={"EDITOR": "false"})
    assert r.returncode == 1 and "editor failed" in r.stderr
    assert hostel("edit", "nope", sock=s).returncode == 1


def test_logs_of_a_vm_without_logs(daemon):
    s = daemon.sock
    assert hostel("create", "vm1", sock=s).returncode == 0
    r = hostel("logs", "vm1", sock=s)
    assert r.returncode == 1 and "no console.log yet" in r.stderr, r
    assert daemon.request("GET", "/1.0/vms/vm1/logs").json == {"logs": []}
    assert daemon.request("GET", "/1.0/vms/vm1/logs/passwd").status == 404
    assert daemon.request("GET", "/1.0/vms/vm1/logs/..").status == 400
    assert daemon.request("GET", "/1.0/vms/vm1/logs/vmm.log?tail=x").status == 400
    assert hostel("logs", "vm1", "--tail", "x", sock=s).returncode == 2


def test_labels(daemon):
    s = daemon.sock
    r = hostel("create", "vm1", "--label", "env=prod", "--label", "team/web=a b", sock=s)
    assert r.returncode == 0, r.stderr
    vm = json.loads(hostel("info", "vm1", "--json", sock=s).stdout)
    assert vm["labels"] == {"env": "prod", "team/web": "a b"}
    assert "label:       env=prod" in hostel("info", "vm1", sock=s).stdout
    r = hostel("create", "vm2", "--label", "Bad Key=x", sock=s)
    assert r.returncode == 1 and "labels" in r.stderr
    assert hostel("create", "vm3", "--label", "novalue", sock=s).returncode == 2
    p = daemon.request("PATCH", "/1.0/vms/vm1", {"labels": {"env": "dev"}})
    assert p.status == 200 and p.json["labels"] == {"env": "dev"}
    for bad in ({"labels": []}, {"labels": {"k": 1}}, {"labels": {"": "x"}},
                {"labels": {f"k{i}": "v" for i in range(65)}}):
        assert daemon.request("PATCH", "/1.0/vms/vm1", bad).status == 400, bad
