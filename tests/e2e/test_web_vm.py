"""The web console's websockets on a running VM (docs/web.md): its screen through
GET /1.0/vms/NAME/vnc (an RFB handshake through the bridge up to a framebuffer
update of the default guest's screen) and its serial console through
GET /1.0/vms/NAME/console seen by two browsers (the history for the late one,
the output for both, the keys of the one that types), all with a web session's
cookie.  One VM of the default guest boots for the module."""

import struct
import time

import pytest

from mgmtd import free_port
from test_mgmt_lifecycle import Daemon, console_log, wait_for
from webclient import Browser, WsTLS, web_token


@pytest.fixture(scope="module")
def vm(tmp_path_factory, guest):
    port = free_port()
    d = Daemon(tmp_path_factory.mktemp("webvm"), guest, "--listen", f"127.0.0.1:{port}")
    d.port = port
    d.start()
    try:
        d.create("vm1")
        d.create("plain", config={"display": {"enabled": False}})
        assert d.act("vm1", "start")["status"] == "success"
        assert d.act("plain", "start")["status"] == "success"
        wait_for(lambda: "hostel guest ready" in console_log(d, "vm1"), timeout=180)
        b = Browser(d)
        assert b.login(web_token(d)["token"]).status == 200
        d.browser = b
        yield d
    finally:
        d.cleanup()


def browser_ws(d, path, cookie=True, origin=True, protocol=None):
    h = {}
    if cookie:
        h["Cookie"] = f"hostel_session={d.browser.cookie}"
    if origin:
        h["Origin"] = f"https://127.0.0.1:{d.port}"
    if protocol:
        h["Sec-WebSocket-Protocol"] = protocol
    return WsTLS(d.port, path, h)


class Rfb:
    """The client side of RFB 3.8 over the websocket's binary messages."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""

    def read(self, n, timeout=20):
        while len(self.buf) < n:
            self.buf += self.ws.binary(timeout)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.ws.send(2, data)


def rfb_screen(vm, name):
    """Through GET /1.0/vms/NAME/vnc as noVNC opens it: the RFB 3.8 handshake, then one
    framebuffer update of the whole screen in raw pixels: (width, height, first rectangle's
    pixels)."""
    ws = browser_ws(vm, f"/1.0/vms/{name}/vnc", protocol="binary")
    assert ws.status == 101 and ws.accept_ok()
    assert ws.headers.get("sec-websocket-protocol") == "binary"
    rfb = Rfb(ws)
    assert rfb.read(12) == b"RFB 003.008\n"
    rfb.send(b"RFB 003.008\n")
    n = rfb.read(1)[0]
    types = rfb.read(n)
    assert 1 in types, types  # None: the unix socket is the daemon's own
    rfb.send(b"\x01")
    assert struct.unpack(">I", rfb.read(4))[0] == 0  # SecurityResult OK
    rfb.send(b"\x01")  # ClientInit, shared
    width, height = struct.unpack(">HH", rfb.read(4))
    pixel_format = rfb.read(16)
    rfb.read(struct.unpack(">I", rfb.read(4))[0])  # the desktop's name
    bpp = pixel_format[0]
    rfb.send(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: raw
    rfb.send(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))  # the whole screen, please
    while True:
        kind = rfb.read(1)[0]
        if kind == 0:  # FramebufferUpdate
            break
        assert kind in (1, 2, 3), kind  # colour map, bell, cut text: not for us
    nrects = struct.unpack(">xH", rfb.read(3))[0]
    assert nrects >= 1
    x, y, w, h, enc = struct.unpack(">HHHHi", rfb.read(12))
    assert enc == 0 and w * h > 0 and x + w <= width and y + h <= height, (x, y, w, h, enc)
    pixels = rfb.read(w * h * bpp // 8, timeout=60)
    ws.close()
    return width, height, pixels


def test_the_screen_through_the_vnc_websocket(vm):
    vmdef = vm.request("GET", "/1.0/vms/vm1").json
    assert vmdef["config"]["display"] == {"width": 1024, "height": 768}
    assert {"gpu", "keyboard", "tablet"} <= set(vmdef["config"]["devices"]), vmdef["config"]
    width, height, pixels = rfb_screen(vm, "vm1")
    assert (width, height) == (1024, 768)
    assert any(pixels), "the default guest's screen is not black"
    # two viewers at once share the screen
    assert rfb_screen(vm, "vm1")[:2] == (1024, 768)


def test_the_vnc_websocket_refusals(vm):
    for kw in ({"cookie": False}, {"origin": False}):
        ws = browser_ws(vm, "/1.0/vms/vm1/vnc", **kw)
        assert ws.status == 403, kw
        ws.close()
    ws = browser_ws(vm, "/1.0/vms/plain/vnc")
    assert ws.status == 409 and "has no display" in str(ws.body())
    ws.close()
    ws = browser_ws(vm, "/1.0/vms/nosuch/vnc")
    assert ws.status == 404
    ws.close()
    r = vm.browser.request("GET", "/1.0/vms/vm1/vnc")
    assert r.status == 400  # not a websocket
    vm.create("stopped")
    ws = browser_ws(vm, "/1.0/vms/stopped/vnc")
    assert ws.status == 409 and "not running" in str(ws.body())
    ws.close()


def test_a_hostile_vnc_client_harms_nobody(vm):
    """Garbage instead of RFB, a text message, an abrupt end: the VM runs on, the next
    viewer gets its screen."""
    ws = browser_ws(vm, "/1.0/vms/vm1/vnc")
    assert ws.status == 101
    ws.send(1, b"a text message is not RFB")  # dropped by the bridge
    ws.send(2, b"RFB 999.999\n" + bytes(range(256)) * 64)
    ws.s.close()
    ws = browser_ws(vm, "/1.0/vms/vm1/vnc")
    assert ws.status == 101
    Rfb(ws).read(12)
    ws.send(2, b"\xff" * 4096)  # a handshake gone wrong: the server ends the connection
    t0 = time.monotonic()
    with pytest.raises(EOFError):
        for _ in range(100):
            ws.binary(timeout=10)
    assert time.monotonic() - t0 < 10
    ws.close()
    assert vm.vm_state("vm1")["status"] == "running"
    assert rfb_screen(vm, "vm1")[:2] == (1024, 768)


def read_until(ws, text, timeout=30):
    """Binary messages until text shows up in what was read; all of it."""
    seen = b""
    while text.encode() not in seen:
        seen += ws.binary(timeout)
    return seen.decode(errors="replace")


def test_two_browsers_on_the_console(vm):
    typist = browser_ws(vm, "/1.0/vms/vm1/console")
    assert typist.status == 101
    read_until(typist, "hostel guest ready")  # the history, from before anyone attached
    typist.send(2, b"echo web-$((6*7))\r")
    read_until(typist, "web-42")
    # a late viewer gets the history (what was typed before it came) and the live output
    watcher = browser_ws(vm, "/1.0/vms/vm1/console?mode=ro", protocol="binary")
    assert watcher.status == 101 and watcher.headers["sec-websocket-protocol"] == "binary"
    assert "sec-websocket-protocol" not in typist.headers  # only when asked
    read_until(watcher, "web-42")
    typist.send(2, b"echo both-$((40+2))\r")
    read_until(typist, "both-42")
    read_until(watcher, "both-42")
    # a second typist is refused while the first types; a watcher's keys go nowhere
    second = browser_ws(vm, "/1.0/vms/vm1/console")
    assert second.status == 409 and "held by web-session=1" in str(second.body())
    second.close()
    watcher.send(2, b"echo ignored-$((1+1))\r")
    typist.send(2, b"echo after-$((2+2))\r")
    read_until(watcher, "after-4")
    assert "ignored-2" not in console_log(vm, "vm1")
    typist.close()
    watcher.close()
    # without the session's Origin the console is refused
    ws = browser_ws(vm, "/1.0/vms/vm1/console", origin=False)
    assert ws.status == 403
    ws.close()


def test_the_screen_after_a_suspend_and_resume(vm):
    """hosteld resumes a suspended VM with --restore: its VNC server comes back too."""
    assert vm.act("vm1", "suspend")["status"] == "success"
    ws = browser_ws(vm, "/1.0/vms/vm1/vnc")
    assert ws.status == 409  # not running: nothing to see
    ws.close()
    assert vm.request("GET", "/1.0/vms/vm1").json["state"] == "suspended"
    assert vm.act("vm1", "start")["status"] == "success"  # a resume, from the saved state
    width, height, pixels = wait_for(lambda: _screen_or_none(vm), timeout=30, step=0.5)
    assert (width, height) == (1024, 768) and any(pixels)


def _screen_or_none(vm):
    try:
        return rfb_screen(vm, "vm1")
    except (AssertionError, EOFError, OSError):
        return None
