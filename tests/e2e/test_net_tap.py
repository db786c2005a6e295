"""The tap network backend (--net tap,ifname=NAME) and TCP across suspend/restore.

Each booting test makes its own persistent tap interface on the host (a name
unique to the test run, 192.168.X.1/24 on the host side, deleted in teardown)
and configures the guest statically on it (udhcpc is stopped: nothing serves
DHCP on the tap).

- The guest pings the host and downloads a file from an HTTP server on the
  host's tap address (sha256 checked); the control socket reports the card's
  backend as "tap" on that interface.
- A host TCP server streams 200 deterministic chunks of 4 KiB, 20 ms apart,
  to a guest `nc`.  In the middle the VM is suspended to a file, stays down
  for about a second and is restored onto the same tap: the guest's TCP state
  was in its RAM, the server just saw a slow link (it retransmitted), so the
  transfer completes over the same connection with the right sha256, and the
  server accepted exactly one connection.  (Over --net user the same
  connection is cut: its host socket belongs to the VMM process that exits;
  test_state_net.py shows that.)
- The same stream while the VM live-migrates to a VMM on another tap of the same bridge
  (`--incoming ... --net tap,ifname=OTHER`): one connection, the right sha256.
- Bad input: malformed --net tap values are usage errors (exit 2); a tap that
  cannot be attached (missing without CAP_NET_ADMIN, someone else's, in use,
  not a tap) is one line and exit 1.

All but the usage errors need root and /dev/net/tun (CI runs as root); they are
skipped otherwise.
"""

import fcntl
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pexpect
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HOSTEL_BUILD", REPO / "build"))
HOSTEL = os.environ.get("HOSTEL_BIN", str(BUILD / "hostel"))
TIMEOUT = 120
NAME = "tapvm"
CHUNK, NCHUNKS, PACE_S = 4096, 200, 0.02
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000


def tap_unavailable():
    """Why this host cannot run the tap tests, or None."""
    if os.geteuid() != 0:
        return "needs root to create tap interfaces"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    return None


needs_tap = pytest.mark.skipif(tap_unavailable() is not None, reason=str(tap_unavailable()))

_taps = iter(range(1000))


def tap_name():
    """A name of at most 15 characters no other run of these tests uses."""
    return f"hsttap{os.getpid() % 10**7}{next(_taps) % 10}"


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def free_subnet():
    """A 192.168.N.0/24 no host interface has an address in."""
    used = ip("-4", "-o", "addr").stdout
    for n in range(123, 250):
        if f" 192.168.{n}." not in used:
            return f"192.168.{n}"
    pytest.skip("no free 192.168.N.0/24 on this host")


class Tap:
    def __init__(self, name, subnet):
        self.name, self.host, self.guest = name, f"{subnet}.1", f"{subnet}.2"


@pytest.fixture
def tap():
    """A persistent tap with the host at .1 of a free /24; deleted in teardown."""
    t = Tap(tap_name(), free_subnet())
    r = ip("tuntap", "add", "dev", t.name, "mode", "tap", check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create a tap interface: {r.stderr.strip()}")
    try:
        ip("addr", "add", f"{t.host}/24", "dev", t.name)
        ip("link", "set", t.name, "up")
        yield t
    finally:
        ip("link", "del", t.name, check=False)


@pytest.fixture
def runtime_dir(monkeypatch):
    """A private, short $XDG_RUNTIME_DIR for the control sockets (inherited by the VMs)."""
    with tempfile.TemporaryDirectory(prefix="hst") as d:
        monkeypatch.setenv("XDG_RUNTIME_DIR", d)
        yield d


def hostel(*args):
    return subprocess.run([HOSTEL, *args], capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def run_argv(guest, net):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", "--name", NAME, "--net", net]


def configure_guest(g, tap):
    """Stop udhcpc (nothing serves DHCP here) and give eth0 the tap's .2."""
    g.check("kill $(pidof udhcpc) 2>/dev/null; ip -4 addr flush dev eth0; "
            f"ip addr add {tap.guest}/24 dev eth0 && ip link set eth0 up")


def start_http(addr, data):
    """An HTTP server on addr:ephemeral serving data at every path; returns the server."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer((addr, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@needs_tap
def test_ping_and_download(guest, boot, tap, runtime_dir):
    data = os.urandom(256 << 10)
    server = start_http(tap.host, data)
    try:
        g = boot(run_argv(guest, f"tap,ifname={tap.name},mac=52:54:00:7a:90:01"))
        configure_guest(g, tap)
        assert "52:54:00:7a:90:01" in g.check("ip link show eth0")
        out = g.check(f"ping -c 2 -W 5 {tap.host}", timeout=30)
        assert "2 packets received" in out, out
        url = f"http://{tap.host}:{server.server_address[1]}/f"
        out = g.check(f"wget -q -T 20 -O /tmp/f {url} && sha256sum /tmp/f", timeout=60)
        assert out.split()[0] == hashlib.sha256(data).hexdigest()
        # The host saw the guest's address on the tap (ARP) and nowhere else.
        assert "52:54:00:7a:90:01" in ip("neigh", "show", "dev", tap.name).stdout
        r = hostel("ctl", NAME, "query-devices")
        assert r.returncode == 0, r.stderr
        net = json.loads(r.stdout)["net"]
        assert net["backend"] == "tap" and net["ifname"] == tap.name, net
        assert g.poweroff() == 0
    finally:
        server.shutdown()
        server.server_close()


# ---- a TCP stream across suspend/restore ----

def chunk(i):
    return hashlib.sha256(f"hostel tap chunk {i}".encode()).digest() * (CHUNK // 32)


EXPECTED = hashlib.sha256(b"".join(chunk(i) for i in range(NCHUNKS))).hexdigest()


class SlowServer:
    """Accepts connections on addr; streams the chunks, paced, to the first one only."""

    def __init__(self, addr):
        self.sock = socket.create_server((addr, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted, self.sent, self.error, self.done = 0, 0, None, False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.accepted += 1
            if self.accepted == 1:
                threading.Thread(target=self.stream, args=(conn,), daemon=True).start()
            else:
                conn.close()

    def stream(self, conn):
        try:
            with conn:
                for i in range(NCHUNKS):
                    conn.sendall(chunk(i))
                    self.sent = i + 1
                    time.sleep(PACE_S)
                self.done = True
        except OSError as e:
            self.error = e

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def check_stream_received(g, server):
    """The server sent every chunk over its one connection and the guest's nc got them all."""
    wait_until(lambda: server.done or server.error, 60, "the server to send everything")
    assert server.error is None, f"the server's connection broke: {server.error!r}"
    status, out = 1, ""
    for _ in range(100):
        status, out = g.run("cat /tmp/nc.rc")
        if status == 0:
            break
        time.sleep(0.2)
    assert status == 0 and out.strip() == "0", \
        f"nc did not finish well: {out!r} {g.run('cat /tmp/nc.err')[1]!r}"
    out = g.check("stat -c %s /tmp/s; sha256sum /tmp/s")
    size, digest = out.split()[:2]
    assert int(size) == CHUNK * NCHUNKS and digest == EXPECTED
    assert server.accepted == 1, "the guest reconnected"


@needs_tap
def test_tcp_stream_survives_suspend(guest, boot, tap, runtime_dir, tmp_path):
    server = SlowServer(tap.host)
    state = tmp_path / "vm.state"
    try:
        g = boot(run_argv(guest, f"tap,ifname={tap.name}"))
        configure_guest(g, tap)
        g.check(f"{{ nc {tap.host} {server.port} </dev/null >/tmp/s 2>/tmp/nc.err; "
                "echo $? >/tmp/nc.rc; } & true")
        wait_until(lambda: server.sent >= NCHUNKS // 4, 30, "the stream to start")
        r = hostel("suspend", NAME, str(state))
        assert r.returncode == 0, r.stderr
        g.child.expect(pexpect.EOF, timeout=TIMEOUT)
        assert g.close() == 0
        at_suspend = server.sent
        assert at_suspend < NCHUNKS, "the stream ended before the suspend"
        time.sleep(1)
        cfg = json.loads(hostel("state", "show", str(state)).stdout)["config"]["nics"][0]
        assert cfg["kind"] == "tap" and cfg["ifname"] == tap.name, cfg
        g = boot([HOSTEL, "run", "--restore", str(state), "--name", NAME], wait=False)
        check_stream_received(g, server)
        assert g.poweroff() == 0
    finally:
        server.close()


# ---- a TCP stream across a live migration ----

@pytest.fixture
def bridged_taps():
    """A Linux bridge with the host at .1 of a free /24 and two taps on it (the source's and
    the destination's: one tap cannot be held by two VMMs at once); deleted in teardown."""
    subnet = free_subnet()
    br = f"hstbr{os.getpid() % 10**7}"
    names = [tap_name(), tap_name()]
    r = ip("link", "add", br, "type", "bridge", check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create a bridge: {r.stderr.strip()}")
    try:
        ip("addr", "add", f"{subnet}.1/24", "dev", br)
        ip("link", "set", br, "up")
        for n in names:
            ip("tuntap", "add", "dev", n, "mode", "tap")
            ip("link", "set", n, "master", br)
            ip("link", "set", n, "up")
        yield Tap(br, subnet), names
    finally:
        for n in names:
            ip("link", "del", n, check=False)
        ip("link", "del", br, check=False)


@needs_tap
def test_tcp_stream_survives_migration(guest, boot, bridged_taps, runtime_dir, tmp_path):
    """The same paced stream while the VM live-migrates to a VMM on another tap of the same
    bridge (`hostel run --incoming ... --net tap,ifname=OTHER`): the destination announces
    the guest's MAC, the bridge learns its new port, and the transfer completes over the
    one connection with the right sha256."""
    net, taps = bridged_taps
    server = SlowServer(net.host)
    sock = tmp_path / "mig.sock"
    try:
        g = boot(run_argv(guest, f"tap,ifname={taps[0]}"))
        configure_guest(g, net)
        g.check(f"{{ nc {net.host} {server.port} </dev/null >/tmp/s 2>/tmp/nc.err; "
                "echo $? >/tmp/nc.rc; } & true")
        wait_until(lambda: server.sent >= NCHUNKS // 4, 30, "the stream to start")
        dst = boot([HOSTEL, "run", "--incoming", f"unix:{sock}", "--net",
                    f"tap,ifname={taps[1]}", "--name", "tapdst"], wait=False)
        wait_until(sock.exists, 30, "the destination to listen")
        r = hostel("migrate", NAME, f"unix:{sock}")
        assert r.returncode == 0, r.stderr
        g.child.expect(pexpect.EOF, timeout=TIMEOUT)
        assert g.close() == 0
        assert server.sent < NCHUNKS, "the stream ended before the migration"
        r = hostel("ctl", "tapdst", "query-devices")
        assert json.loads(r.stdout)["net"]["ifname"] == taps[1], r.stdout
        check_stream_received(dst, server)
        assert dst.poweroff() == 0
    finally:
        server.close()


# ---- bad input ----

@pytest.mark.parametrize("spec,message", [
    ("tap", "tap needs ifname=NAME"),
    ("tap,ifname=x,colour=blue", "unknown option 'colour=blue' (expected ifname=..., fd=... or mac=...)"),
    ("tap,ifname=abcdefghijklmnop", "ifname 'abcdefghijklmnop': expected 1 to 15 letters"),
    ("tap,ifname=tap%d", "ifname 'tap%d': expected"),
    ("tap,ifname=a/b", "ifname 'a/b': expected"),
    ("tap,ifname=a,ifname=b", "ifname is given twice"),
    ("tap,ifname=a,hostfwd=tcp::2222-:22", "hostfwd is for --net user"),
    ("bridge,ifname=a", "unknown network type 'bridge' (expected none, user, tap, socket or network)"),
])
def test_bad_net_tap_option(spec, message):
    r = hostel("run", "--net", spec)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr


def run_without_net_admin(guest, ifname):
    """hostel run on ifname as root without CAP_NET_ADMIN (exec drops it with the bound)."""
    return subprocess.run(["setpriv", "--bounding-set", "-net_admin", HOSTEL, "run", "-k",
                           str(guest.kernel), "--net", f"tap,ifname={ifname}"],
                          capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def refused(r, message):
    lines = r.stderr.strip().splitlines()
    return r.returncode == 1 and len(lines) == 1 and message in lines[0] and not r.stdout


@needs_tap
def test_missing_tap_without_permission(guest):
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv (util-linux)")
    name = tap_name()
    r = run_without_net_admin(guest, name)
    assert refused(r, f"hostel: tap {name}: permission denied (create it with: ip tuntap add "
                      f"dev {name} mode tap user "), r.stderr
    assert ip("link", "show", name, check=False).returncode != 0


@needs_tap
def test_someone_elses_tap(guest):
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv (util-linux)")
    name = tap_name()
    r = ip("tuntap", "add", "dev", name, "mode", "tap", "user", "65534", check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create a tap interface: {r.stderr.strip()}")
    try:
        r = run_without_net_admin(guest, name)
        assert refused(r, f"tap {name}: permission denied (the interface belongs to another "
                          "user"), r.stderr
    finally:
        ip("link", "del", name, check=False)


@needs_tap
def test_tap_in_use(guest, tap):
    with open("/dev/net/tun", "r+b", buffering=0) as f:
        fcntl.ioctl(f, TUNSETIFF, struct.pack("16sH", tap.name.encode(), IFF_TAP | IFF_NO_PI))
        r = hostel("run", "-k", str(guest.kernel), "--net", f"tap,ifname={tap.name}")
    assert refused(r, f"tap {tap.name}: the interface is in use by another process"), r.stderr


@needs_tap
def test_not_a_tap(guest):
    r = hostel("run", "-k", str(guest.kernel), "--net", "tap,ifname=lo")
    assert refused(r, "tap lo: the interface exists and is not a tap"), r.stderr
