"""Network state across suspend/restore (issue 5), with user-mode networking (libslirp).

What libslirp carries in its own state (slirp_state_save, version 4) is the
DHCP lease table, the IP identification counter and the sockets of guestfwd
rules (hostel has none).  A TCP connection through the NAT is not in it: its
host socket belongs to the VMM process, which exits at suspend.  hostfwd
listeners come back from the configuration saved in the state file.

- A download from a throttled HTTP server on 127.0.0.1 is cut by a suspend in
  the middle; after `hostel run --restore` the guest's network works without a
  new DHCP exchange (same address, route, lease) and `wget -c` completes the
  file with the right sha256 (the interrupted connection itself is gone: the
  guest's wget gets a reset or times out).
- A host connection through hostfwd into a guest `nc -l` works after restore.
- The state file has one "slirp" section for the card's slot; a file whose
  slirp section is damaged is refused before anything runs.
"""

import hashlib
import http.server
import json
import os
import pathlib
import re
import socket
import subprocess
import tempfile
import threading
import time
import zlib

import pexpect
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HOSTEL_BUILD", REPO / "build"))
HOSTEL = os.environ.get("HOSTEL_BIN", str(BUILD / "hostel"))
TIMEOUT = 120
PROMPT = re.compile(r"hostel:[^\r\n]*# $")
NAME = "netvm"
FILE_BYTES = 3 << 20
RATE = 512 << 10          # bytes per second: the transfer takes about 6 s
GUEST_PORT = 8080


@pytest.fixture
def env():
    """A private, short $XDG_RUNTIME_DIR for the control sockets."""
    with tempfile.TemporaryDirectory(prefix="hsn") as d:
        yield dict(os.environ, XDG_RUNTIME_DIR=d)


class Console:
    """The guest's serial console through one hostel process after another."""

    def __init__(self, env, log_path):
        self.env = env
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = None

    def start(self, argv):
        self.child = pexpect.spawn(argv[0], argv[1:], env=self.env, encoding="utf-8",
                                   codec_errors="replace", timeout=TIMEOUT,
                                   dimensions=(50, 200))
        self.child.logfile_read = self.log

    def run(self, command, timeout=60):
        """Run one shell command; return (status, output)."""
        self.child.sendline(f'{command}; echo "@@""RC=$?@@"')
        self.child.expect(r"@@RC=(\d+)@@", timeout=timeout)
        before, status = self.child.before, int(self.child.match.group(1))
        self.child.expect(PROMPT, timeout=timeout)
        lines = before.replace("\r", "").split("\n")
        echo_end = next((i for i, line in enumerate(lines) if '"@@""RC=' in line), -1)
        return status, "\n".join(lines[echo_end + 1:]).strip("\n")

    def check(self, command, timeout=60):
        status, out = self.run(command, timeout)
        assert status == 0, f"`{command}` exited {status}: {out!r}"
        return out

    def wait_exit(self):
        self.child.expect(pexpect.EOF, timeout=TIMEOUT)
        self.child.close()
        return self.child.exitstatus

    def close(self):
        if self.child is not None and self.child.isalive():
            self.child.close(force=True)
        self.log.close()


@pytest.fixture
def console(env, tmp_path):
    c = Console(env, tmp_path / "console.log")
    yield c
    c.close()


def hostel(env, *args):
    return subprocess.run([HOSTEL, *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def run_argv(guest, *net):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", "--name", NAME, "--net", ",".join(["user", *net])]


def suspend_and_restore(console, env, state):
    """Suspend the VM to state, wait for the VMM to exit, and restore it."""
    t0 = time.monotonic()
    r = hostel(env, "suspend", NAME, str(state))
    assert r.returncode == 0, f"hostel suspend: {r.stderr}"
    assert console.wait_exit() == 0
    suspended = time.monotonic() - t0
    console.start([HOSTEL, "run", "--restore", str(state), "--name", NAME])
    return suspended


def wait_for_lease(c, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "inet 10.0.2.15/24" in c.check("ip -4 addr show eth0"):
            return
        time.sleep(1)
    pytest.fail("eth0 got no DHCP lease")


class ThrottledHandler(http.server.BaseHTTPRequestHandler):
    """Serves server.data at server.rate bytes/s; honours "Range: bytes=N-" (for wget -c)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        data, start = self.server.data, 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m and int(m.group(1)) < len(data):
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.server.requests.append(start)
        chunk = self.server.rate // 20
        try:
            for off in range(start, len(data), chunk):
                self.wfile.write(data[off:off + chunk])
                time.sleep(0.05)
        except OSError:
            pass  # the VMM went away with the connection


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ThrottledHandler)
    server.daemon_threads = True
    server.data = os.urandom(FILE_BYTES)
    server.rate = RATE
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def guest_file_size(c, path):
    status, out = c.run(f"stat -c %s {path}")
    return int(out) if status == 0 else 0


def slirp_sections(env, state):
    r = hostel(env, "state", "show", str(state))
    assert r.returncode == 0, r.stderr
    return [s for s in json.loads(r.stdout)["sections"] if s["tag"] == "slirp"]


def lease_of(section, mac):
    """True when libslirp's lease table in the blob holds an allocated entry for mac."""
    return ("0001" + mac.replace(":", "")) in section["blob"]


def test_download_across_suspend(guest, env, console, http_server, tmp_path):
    state, again = tmp_path / "vm.state", tmp_path / "again.state"
    mac = "52:54:00:5e:1f:07"
    port = http_server.server_address[1]
    console.start(run_argv(guest, f"mac={mac}"))
    console.child.expect(PROMPT)
    wait_for_lease(console)
    console.check(f"U=http://10.0.2.2:{port}/f")
    console.child.sendline("wget -q -T 5 -O /tmp/f $U; echo WGET1=$?")
    deadline = time.monotonic() + 30
    while not http_server.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(http_server.requests) == 1, "the guest's wget did not reach the server"
    time.sleep(1.5)  # well inside the ~6 s transfer
    suspend_and_restore(console, env, state)
    [sec] = slirp_sections(env, state)
    assert sec["instance"] == 0 and sec["version"] >= 4 and lease_of(sec, mac)
    # The connection through the NAT died with the suspended VMM's host socket: the guest
    # gets no more data and its wget gives up after its 5 s timeout, part of the file in.
    console.child.expect(r"WGET1=(\d+)", timeout=60)
    assert int(console.child.match.group(1)) != 0
    console.child.expect(PROMPT)
    assert 0 < guest_file_size(console, "/tmp/f") < FILE_BYTES
    # No DHCP client runs (udhcpc -q quit after its lease) and none is needed: the guest
    # kept its address and route, and slirp its lease table.
    assert console.run("pidof udhcpc")[0] != 0
    assert "inet 10.0.2.15/24" in console.check("ip -4 addr show eth0")
    assert "default via 10.0.2.2" in console.check("ip route")
    out = console.check("wget -q -T 30 -c -O /tmp/f $U && sha256sum /tmp/f", timeout=60)
    assert out.split()[0] == hashlib.sha256(http_server.data).hexdigest()
    assert len(http_server.requests) == 2 and 0 < http_server.requests[1] < FILE_BYTES
    # slirp's state came back from the file: a save of the restored VM still has the lease.
    r = hostel(env, "ctl", NAME, "save", json.dumps({"file": str(again)}))
    assert r.returncode == 0, r.stderr
    [sec2] = slirp_sections(env, again)
    assert lease_of(sec2, mac)
    console.child.sendline("poweroff")
    assert console.wait_exit() == 0


def wait_guest_listening(c, port):
    pattern = f":{port:04X} 00000000:0000 0A"
    for _ in range(20):
        if c.run(f"grep -q '{pattern}' /proc/net/tcp")[0] == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"nothing listens on guest port {port}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hostfwd_after_restore(guest, env, console, tmp_path):
    """A guest `nc -l` started before the suspend takes a host connection after restore."""
    port = free_port()
    console.start(run_argv(guest, f"hostfwd=tcp:127.0.0.1:{port}-:{GUEST_PORT}"))
    console.child.expect(PROMPT)
    wait_for_lease(console)
    console.check(f"nc -l -p {GUEST_PORT} </dev/null >/tmp/got 2>/dev/null & true")
    wait_guest_listening(console, GUEST_PORT)
    suspend_and_restore(console, env, tmp_path / "vm.state")
    console.check("true")  # the restored VMM runs (and its hostfwd listener is up)
    data = os.urandom(256 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):  # until the guest's nc closes the connection
            pass
    console.check("wait")
    out = console.check("sha256sum /tmp/got")
    assert out.split()[0] == hashlib.sha256(data).hexdigest()
    console.child.sendline("poweroff")
    assert console.wait_exit() == 0


# ---- damaged slirp sections: refused before anything runs ----

def read_sections(data):
    """(offset, tag, instance, version, flags, payload offset, length) up to the slirp section."""
    off = int.from_bytes(data[12:16], "little")
    out = []
    while True:
        tl = data[off]
        tag = data[off + 1:off + 1 + tl].decode()
        h = off + 1 + tl
        inst = int.from_bytes(data[h:h + 4], "little")
        ver = int.from_bytes(data[h + 4:h + 6], "little")
        flags = int.from_bytes(data[h + 6:h + 8], "little")
        length = int.from_bytes(data[h + 8:h + 16], "little")
        out.append((off, tag, inst, ver, flags, h + 16, length))
        if tag == "slirp":
            return out
        off = h + 16 + length


def with_slirp(data, version=None, payload=None, drop=False):
    """data with its slirp section changed (a zstd stream: every byte is in the CRC)."""
    off, tag, inst, ver, flags, pay, length = read_sections(data)[-1]
    blob = data[pay:pay + length] if payload is None else payload
    ver = ver if version is None else version
    sec = b"" if drop else (bytes([len(tag)]) + tag.encode() + inst.to_bytes(4, "little") +
                            ver.to_bytes(2, "little") + flags.to_bytes(2, "little") +
                            len(blob).to_bytes(8, "little") + blob)
    new = data[:off] + sec + data[pay + length:-4]
    return new + zlib.crc32(new).to_bytes(4, "little")


@pytest.fixture(scope="module")
def net_state(guest, tmp_path_factory):
    """A zstd state file of a guest with a DHCP lease."""
    d = tmp_path_factory.mktemp("netstate")
    with tempfile.TemporaryDirectory(prefix="hsn") as run_dir:
        env = dict(os.environ, XDG_RUNTIME_DIR=run_dir)
        c = Console(env, d / "console.log")
        try:
            c.start(run_argv(guest))
            c.child.expect(PROMPT)
            wait_for_lease(c)
            r = hostel(env, "ctl", NAME, "save",
                       json.dumps({"file": str(d / "net.state"), "compress": True}))
            assert r.returncode == 0, r.stderr
            c.child.sendline("poweroff")
            assert c.wait_exit() == 0
        finally:
            c.close()
    return d / "net.state"


def blob_of(data):
    _, _, _, _, _, pay, length = read_sections(data)[-1]
    return data[pay:pay + length]


@pytest.mark.parametrize("how,message", [
    ("sockets", "slirp[0]: net user: saved state holds guestfwd sockets"),
    ("short", "slirp[0]: net user: saved state is 123 bytes"),
    ("long", "slirp[0]: net user: saved state is 139 bytes"),
    ("future", "slirp[0]: net user: saved state version 99 is not supported"),
    ("huge", "slirp[0]: net user: the saved state is 2097152 bytes"),
    ("missing", "has no slirp[0] section"),
])
def test_bad_slirp_section_is_refused(net_state, env, tmp_path, how, message):
    data = net_state.read_bytes()
    blob = blob_of(data)
    assert len(blob) == 131  # libslirp 4.x, state version 4, no sockets
    bad = {
        "sockets": lambda: with_slirp(data, payload=b"\x2a" + blob[1:]),
        "short": lambda: with_slirp(data, payload=blob[:-8]),
        "long": lambda: with_slirp(data, payload=blob + bytes(8)),
        "future": lambda: with_slirp(data, version=99),
        "huge": lambda: with_slirp(data, payload=blob + bytes((2 << 20) - len(blob))),
        "missing": lambda: with_slirp(data, drop=True),
    }[how]()
    path = tmp_path / f"{how}.state"
    path.write_bytes(bad)
    r = hostel(env, "run", "--restore", str(path))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and message in lines[0], r.stderr
    assert "hostel guest ready" not in r.stdout and not r.stdout.strip()
    # Otherwise the file is sound (state show reads it, checksum included): the slirp
    # check refused it.
    assert hostel(env, "state", "show", str(path)).returncode == 0


def test_clone_gets_a_fresh_network(guest, net_state, env, console, tmp_path):
    """A clone has a new MAC and no DHCP lease: rebooted, it gets the first address again."""
    clone = tmp_path / "clone.state"
    r = hostel(env, "clone", str(net_state), str(clone))
    assert r.returncode == 0, r.stderr
    shows = [json.loads(hostel(env, "state", "show", str(s)).stdout) for s in (net_state, clone)]
    macs = [s["config"]["nics"][0]["mac"] for s in shows]
    assert macs[0] != macs[1]
    (src_slirp,) = [s for s in shows[0]["sections"] if s["tag"] == "slirp"]
    (new_slirp,) = [s for s in shows[1]["sections"] if s["tag"] == "slirp"]
    assert lease_of(src_slirp, macs[0]), "the source's lease is gone"
    assert not lease_of(new_slirp, macs[0]), "the clone kept the source's lease"
    assert len(bytes.fromhex(new_slirp["blob"])) == len(bytes.fromhex(src_slirp["blob"]))
    # The restored clone runs on (its kernel still uses the MAC it read at boot); after a
    # reboot it reads the new one and, with the lease table empty, is given 10.0.2.15 again.
    console.start([HOSTEL, "run", "--restore", str(clone), "--name", NAME])
    console.child.sendline("reboot")
    console.child.expect("Restarting system", timeout=TIMEOUT)
    console.child.expect(PROMPT, timeout=TIMEOUT)
    wait_for_lease(console)
    assert macs[1] in console.check("ip link show eth0")
    console.child.sendline("poweroff")
    assert console.wait_exit() == 0
