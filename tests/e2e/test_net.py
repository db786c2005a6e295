"""virtio-net with user-mode networking (libslirp), end to end.

The default guest's /init runs udhcpc on eth0; with `--net user` it must
lease 10.0.2.15, fetch a file from an HTTP server on the host's loopback
(reached as 10.0.2.2) with the right sha256, and receive data the host sends
to a forwarded port.  Bad --net values are one-line usage errors (exit 2), a
forwarded port already in use is a one-line error (exit 1).  Without --net the
guest has the same card on user networking (the default, as QEMU's); `--net
none` gives it no eth0.  Every connection stays on 127.0.0.1.
"""

import functools
import hashlib
import http.server
import os
import pathlib
import socket
import subprocess
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN", str(REPO / "build" / "hostel"))
DHCP_TIMEOUT_S = 20
GUEST_PORT = 8080
MAC = "52:54:00:ab:cd:ef"


def argv(guest, *extra):
    return [HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", *extra]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_lease(g):
    """Poll eth0 until udhcpc has configured 10.0.2.15 (DHCP_TIMEOUT_S at most)."""
    deadline = time.monotonic() + DHCP_TIMEOUT_S
    out = ""
    while time.monotonic() < deadline:
        out = g.check("ip -4 addr show eth0")
        if "inet 10.0.2.15/24" in out:
            return
        time.sleep(1)
    pytest.fail(f"eth0 got no DHCP lease in {DHCP_TIMEOUT_S} s: {out!r}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """An HTTP server on 127.0.0.1 serving a directory; yields (directory, port)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_dhcp_mac_and_fetch_from_host(guest, boot, http_root):
    root, http_port = http_root
    data = os.urandom(300 * 1024)
    (root / "file").write_bytes(data)
    g = boot(argv(guest, "--net", f"user,mac={MAC}"))
    wait_for_lease(g)
    assert g.check("cat /sys/class/net/eth0/address") == MAC
    assert "default via 10.0.2.2" in g.check("ip route")
    g.check(f"U=http://10.0.2.2:{http_port}")  # keeps commands within one console line
    out = g.check("wget -q -T 30 -O - $U/file | sha256sum", timeout=120)
    assert out.split()[0] == hashlib.sha256(data).hexdigest()
    status, _ = g.run("wget -q -T 30 -O /dev/null $U/missing")
    assert status != 0  # the server's 404 reached the guest
    assert g.poweroff() == 0


def test_default_run_has_a_card_on_user_networking(guest, boot, http_root):
    # No --net at all: one virtio-net card on user networking, as QEMU gives by default.
    root, http_port = http_root
    (root / "hello").write_text("hello from the host\n")
    g = boot(argv(guest))
    cards = [n for n in g.check("ls /sys/class/net | cat").split() if n.startswith("eth")]
    assert cards == ["eth0"], f"one network card by default, not {cards}"
    wait_for_lease(g)
    assert "default via 10.0.2.2" in g.check("ip route")
    out = g.check(f"wget -q -T 30 -O - http://10.0.2.2:{http_port}/hello", timeout=120)
    assert out == "hello from the host", "the default card does not reach the host (10.0.2.2)"
    assert g.poweroff() == 0


def wait_guest_listening(g, port):
    """Wait until a socket listens on port in the guest (/proc/net/tcp state 0A)."""
    pattern = f":{port:04X} 00000000:0000 0A"
    for _ in range(20):
        status, _ = g.run(f"grep -q '{pattern}' /proc/net/tcp")
        if status == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"nothing listens on guest port {port}")


def test_hostfwd_into_guest(guest, boot):
    port = free_port()
    g = boot(argv(guest, "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:{GUEST_PORT}"))
    wait_for_lease(g)
    g.check(f"nc -l -p {GUEST_PORT} </dev/null >/tmp/got 2>/dev/null & true")
    wait_guest_listening(g, GUEST_PORT)
    data = os.urandom(200 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):  # until the guest's nc closes the connection
            pass
    g.check("wait")
    out = g.check("sha256sum /tmp/got")
    assert out.split()[0] == hashlib.sha256(data).hexdigest()
    assert g.poweroff() == 0


@pytest.mark.parametrize("spec, hint", [
    ("bridge", "unknown network type 'bridge'"),
    ("user,hostfwd=tcp:127.0.0.1:80", "expected [tcp|udp]"),
    ("user,hostfwd=tcp:127.0.0.1:70000-:80", "ports 1-65535"),
    ("user,hostfwd=sctp::2222-:22", "protocol 'sctp'"),
    ("user,hostfwd=tcp:localhost:2222-:22", "IPv4 addresses"),
    ("user,hostfwd=tcp::2222-192.168.1.5:22", "10.0.2.0/24"),
    ("user,mac=52:54:00:12:34", "six hex bytes"),
    ("user,mac=01:00:5e:00:00:01", "unicast"),
    ("user,speed=10", "unknown option 'speed=10'"),
    ("none,mac=52:54:00:12:34:56", "'none' takes no options"),
    ("user,,mac=52:54:00:12:34:56", "empty option"),
])
def test_bad_net_option_is_one_line(spec, hint):
    r = subprocess.run([HOSTEL, "run", "-k", "/nonexistent", "--net", spec],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--net" in lines[0] and hint in lines[0], r.stderr


def test_net_none_with_another_net_is_refused():
    """Each --net adds a card (test_two_cards below), but 'none' and a card contradict."""
    r = subprocess.run([HOSTEL, "run", "-k", "/nonexistent", "--net", "user", "--net", "none"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "'--net none' (no card) cannot be given with another --net" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_card_leaves_room_for_five_disks():
    disks = [arg for i in range(6) for arg in ("-d", f"/nonexistent/{i}.img")]
    r = subprocess.run([HOSTEL, "run", "-k", "/nonexistent", "--net", "user", *disks],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "at most 5 disks with a network card" in r.stderr, r.stderr


def test_forwarded_port_in_use_is_one_line(guest):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run(argv(guest, "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:22"),
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "Address already in use" in lines[0], r.stderr


def test_net_none_has_no_card(guest, boot):
    g = boot(argv(guest, "--net", "none"))
    status, _ = g.run("test -e /sys/class/net/eth0")
    assert status != 0
    assert "lo" in g.check("ls /sys/class/net")
    assert g.poweroff() == 0
