"""The VM definition (VmConfig) end to end: several network cards, --print-config and --config.

- Each --net adds a card: a guest run with two user cards sees eth0 and eth1 with
  their MACs, each on its own user network (a DHCP exchange on eth1 goes through
  the second backend), and query-devices lists both.
- `--print-config` writes the definition the flags give; fed back through
  `--config`, it prints the same definition and builds the same machine (the same
  --dump-dtb); flags after --config override (-m) or add (--net).
- A two-card VM suspends and restores (both backends' state sections), and a
  clone gets two new, distinct MACs.
- A state file whose configuration section has the version-1 form (one "net")
  restores, its card read as nics[0].
Every connection stays on this host (user-mode networking only).
"""

import json
import pathlib
import socket
import subprocess
import sys

import pytest

from vmtest import HOSTEL, PROMPT, TIMEOUT, hostel, spawn, wait_exit

MAC0, MAC1 = "52:54:00:12:34:56", "52:54:00:12:34:57"
CMDLINE = "console=ttyS0"


def guest_argv(guest, *extra):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, *extra]


def run(child, command, timeout=60):
    """Run one shell command on the guest console; return (status, output)."""
    child.sendline(f'{command}; echo "@@""RC=$?@@"')
    child.expect(r"@@RC=(\d+)@@", timeout=timeout)
    before, status = child.before, int(child.match.group(1))
    child.expect(PROMPT, timeout=timeout)
    lines = before.replace("\r", "").split("\n")
    echo_end = next((i for i, line in enumerate(lines) if '"@@""RC=' in line), -1)
    return status, "\n".join(lines[echo_end + 1:]).strip("\n")


def check(child, command, timeout=60):
    status, out = run(child, command, timeout)
    assert status == 0, f"`{command}` exited {status}: {out!r}"
    return out


def lease_on_eth1(child):
    """A DHCP exchange on eth1 only (its own user network; the script changes nothing)."""
    check(child, "ip link set eth1 up")
    out = check(child, "udhcpc -i eth1 -n -q -t 5 -T 2 -s /bin/true 2>&1", timeout=90)
    assert "lease of 10.0.2.15 obtained" in out, out


def query_devices(env, name):
    r = hostel(env, "ctl", name, "query-devices")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_two_cards_are_eth0_and_eth1(guest, vm_env, tmp_path):
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    child = spawn(guest_argv(guest, "--net", "user", "--net", f"user,mac={MAC1}", "--name",
                             "two"), vm_env, log)
    child.expect(PROMPT)
    assert check(child, "cat /sys/class/net/eth0/address") == MAC0
    assert check(child, "cat /sys/class/net/eth1/address") == MAC1
    lease_on_eth1(child)
    dev = query_devices(vm_env, "two")
    assert [(n["backend"], n["mac"], n["slot"]) for n in dev["nics"]] == [
        ("user", MAC0, 0), ("user", MAC1, 1)], dev
    assert dev["net"] == dev["nics"][0]
    assert [v["kind"] for v in dev["virtio"][:4]] == ["virtio-net", "virtio-net", "virtio-rng",
                                                       "virtio-console"]
    child.sendline("poweroff")
    assert wait_exit(child) == 0


def print_config(*args):
    r = subprocess.run([HOSTEL, "run", *args, "--print-config"], capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


def dump_dtb(path, *args):
    r = subprocess.run([HOSTEL, "run", *args, "--dump-dtb", str(path)], capture_output=True,
                       text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return path.read_bytes()


def test_print_config_fed_to_config_is_the_same_machine(guest, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * (1 << 20))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = ["-m", "256M", "-c", "2", "-k", str(guest.kernel), "-i", str(guest.initrd), "-p",
             CMDLINE, "-d", f"{disk},ro", "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:22",
             "--net", f"user,mac={MAC1}"]
    text = print_config(*flags)
    cfg = json.loads(text)
    assert cfg["ram-size"] == 256 << 20 and cfg["harts"] == 2
    assert [n["mac"] for n in cfg["nics"]] == [MAC0, MAC1]
    assert cfg["devices"] == ["blk:0", "net:0", "net:1", "rng", "console", "empty", "empty",
                              "empty"]
    assert cfg["disks"][0]["read-only"] is True
    saved = tmp_path / "vm.json"
    saved.write_text(text)
    assert print_config("--config", str(saved)) == text
    assert dump_dtb(tmp_path / "b.dtb", "--config", str(saved)) == \
        dump_dtb(tmp_path / "a.dtb", *flags)
    # Flags after the file: -m overrides, --net adds a card (laid out after the others).
    more = json.loads(print_config("--config", str(saved), "-m", "512M", "--net", "user"))
    assert more["ram-size"] == 512 << 20 and len(more["nics"]) == 3
    assert more["nics"][2]["mac"] == "52:54:00:12:34:58"
    assert more["devices"][:5] == ["blk:0", "net:0", "net:1", "net:2", "rng"]
    none = json.loads(print_config("--config", str(saved), "--net", "none"))
    assert none["nics"] == [] and "net:0" not in none["devices"]


@pytest.mark.parametrize("doc, message", [
    ({"harts": 9}, "harts: 9 requested, 1 to 8 are supported"),
    ({"nics": [{"kind": "user", "mac": "zz"}]}, "nics[0].mac: 'zz' is not a MAC address"),
    ({"disks": [{"path": 1}]}, "disks[0].path: not a string"),
    ({"memory": 1}, "memory: unknown member"),
])
def test_bad_config_file_is_one_line(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    r = subprocess.run([HOSTEL, "run", "--config", str(path), "-k", "/nonexistent"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0], r.stderr


def test_two_card_vm_suspends_restores_and_clones(guest, vm_env, tmp_path):
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    state = tmp_path / "vm.state"
    child = spawn(guest_argv(guest, "--net", "user", "--net", f"user,mac={MAC1}", "--name",
                             "twos"), vm_env, log)
    child.expect(PROMPT)
    lease_on_eth1(child)
    check(child, "echo before-suspend > /tmp/mark")
    r = hostel(vm_env, "suspend", "twos", str(state))
    assert r.returncode == 0, r.stderr
    assert wait_exit(child) == 0
    show = json.loads(hostel(vm_env, "state", "show", str(state)).stdout)
    assert [n["mac"] for n in show["config"]["nics"]] == [MAC0, MAC1]
    slirp = sorted(s["instance"] for s in show["sections"] if s["tag"] == "slirp")
    assert slirp == [0, 1], show["sections"]
    child = spawn([HOSTEL, "run", "--restore", str(state), "--name", "twos"], vm_env, log)
    child.sendline("")
    child.expect(PROMPT)
    assert check(child, "cat /tmp/mark") == "before-suspend"
    assert check(child, "cat /sys/class/net/eth1/address") == MAC1
    lease_on_eth1(child)  # the second card's network works after the restore
    assert len(query_devices(vm_env, "twos")["nics"]) == 2
    child.sendline("poweroff")
    assert wait_exit(child) == 0
    clone = tmp_path / "clone.state"
    r = hostel(vm_env, "clone", str(state), str(clone))
    assert r.returncode == 0, r.stderr
    macs = [n["mac"] for n in json.loads(
        hostel(vm_env, "state", "show", str(clone)).stdout)["config"]["nics"]]
    assert len(macs) == 2 and len(set(macs)) == 2 and not {MAC0, MAC1} & set(macs), macs


def as_format_1(cfg):
    """A version-2 configuration in the version-1 form (hostel before VmConfig)."""
    names = {"blk": "virtio-blk", "net": "virtio-net", "rng": "virtio-rng",
             "console": "virtio-console", "empty": "virtio-mmio"}
    (nic,) = cfg["nics"]
    return {"ram-size": cfg["ram-size"], "harts": cfg["harts"], "disks": cfg["disks"],
            "net": {"kind": nic["kind"], "mac": nic["mac"], "hostfwd": []},
            "devices": [names[d.split(":")[0]] for d in cfg["devices"]], "boot": cfg["boot"]}


def test_state_file_with_format_1_configuration_restores(guest, vm_env, tmp_path):
    """A state file written before VmConfig (one "net", config section version 1) restores."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fuzz"))
    import gen_state_corpus as stream  # reads and writes stream sections (CRC included)
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    saved, old = tmp_path / "new.state", tmp_path / "old.state"
    child = spawn(guest_argv(guest, "--net", f"user,mac={MAC1}", "--name", "old"), vm_env, log)
    child.expect(PROMPT)
    check(child, "echo saved-state > /tmp/mark")
    r = hostel(vm_env, "ctl", "old", "save", json.dumps({"file": str(saved), "compress": True}))
    assert r.returncode == 0, r.stderr
    child.sendline("poweroff")
    assert wait_exit(child) == 0
    header, secs = stream.sections(saved.read_bytes())
    secs = [(t, i, 1, f, json.dumps(as_format_1(json.loads(p))).encode()) if t == "config"
            else (t, i, v, f, p) for t, i, v, f, p in secs]
    old.write_bytes(stream.stream(header, secs))
    show = json.loads(hostel(vm_env, "state", "show", str(old)).stdout)
    assert "config-error" not in show and show["config"]["nics"][0]["mac"] == MAC1, show
    child = spawn([HOSTEL, "run", "--restore", str(old), "--name", "old"], vm_env, log)
    child.sendline("")
    child.expect(PROMPT)
    assert check(child, "cat /tmp/mark") == "saved-state"
    assert check(child, "cat /sys/class/net/eth0/address") == MAC1
    assert query_devices(vm_env, "old")["net"]["mac"] == MAC1
    child.sendline("poweroff")
    assert wait_exit(child) == 0
