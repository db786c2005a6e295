"""hosteld's events (docs/mgmt.md "Events", docs/api.md GET /1.0/events):
the websocket stream seen by a raw client written here (handshake and
frames by hand over the unix socket: no websocket package), the kept events
as plain JSON and their replay, a subscriber that never reads dropped while
the API and another subscriber go on, hostile frames closed with the right
code, a stream that outlives the request deadline, the daemon's stop, and
`hostel events`.  No guest is booted.
"""

import base64
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import time

import pytest

from mgmtd import REPO, Hosteld, UnixHTTPConnection, running

HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path, check_exit=True)


class Closed(Exception):
    def __init__(self, code):
        super().__init__(f"closed with {code}")
        self.code = code


class Ws:
    """A websocket client over the daemon's unix socket, written from RFC 6455."""

    def __init__(self, sock_path, path="/1.0/events", version="13", key=None, timeout=5):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock_path)
        self.key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        self.handshake(path, "hosteld", version)

    def handshake(self, path, host, version="13", headers=None):
        """Send the upgrade request on self.s; read the answer's status and headers (what
        follows them stays in self.buf)."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
                        f"Sec-WebSocket-Version: {version}\r\n{extra}\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            assert chunk, f"connection closed during the handshake: {buf!r}"
            buf += chunk
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in
                        (line.split(":", 1) for line in lines[1:])}

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def body(self):
        n = int(self.headers.get("content-length", "0"))
        while len(self.buf) < n:
            self.buf += self.s.recv(4096)
        return json.loads(self.buf[:n])

    def send(self, op, payload=b"", mask=True, fin=True, length=None):
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | op])
        m = 0x80 if mask else 0
        if n < 126:
            head += bytes([m | n])
        elif n < 65536:
            head += bytes([m | 126]) + struct.pack(">H", n)
        else:
            head += bytes([m | 127]) + struct.pack(">Q", n)
        if mask:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.s.sendall(head + payload)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the daemon closed the socket")
            self.buf += chunk

    def frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame is masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def event(self):
        """The next event (pongs skipped); Closed when a close frame comes."""
        while True:
            op, payload = self.frame()
            if op == CLOSE:
                raise Closed(struct.unpack(">H", payload[:2])[0] if payload else None)
            if op == TEXT:
                return json.loads(payload)

    def close_code(self):
        """Read until the close frame; its code (the socket must then end)."""
        try:
            while True:
                self.event()
        except Closed as c:
            try:
                self._need(len(self.buf) + 1)
                raise AssertionError("data after the close frame")
            except EOFError:
                pass
            return c.code

    def close(self):
        self.s.close()


def create(d, name):
    return d.request("POST", "/1.0/vms", {"name": name})


def test_stream_gets_create_patch_delete_in_order(daemon):
    ws = Ws(daemon.sock)
    assert ws.status == 101 and ws.accept_ok(), ws.headers
    assert ws.headers["upgrade"].lower() == "websocket"
    assert create(daemon, "vm1").status == 201
    assert daemon.request("PATCH", "/1.0/vms/vm1", {"description": "x"}).status == 200
    assert daemon.request("DELETE", "/1.0/vms/vm1").status == 200
    got = [ws.event() for _ in range(3)]
    assert [e["metadata"]["action"] for e in got] == ["vm-created", "vm-updated", "vm-deleted"]
    assert [e["id"] for e in got] == [1, 2, 3]
    for e in got:
        assert set(e) == {"id", "time", "type", "resource", "uid", "metadata"}
        assert e["type"] == "lifecycle" and e["resource"] == "/1.0/vms/vm1"
        assert e["uid"] == os.getuid() and TIME.match(e["time"]), e
    # a failed call is no event
    assert create(daemon, "bad/name").status == 400
    assert create(daemon, "vm2").status == 201
    assert ws.event()["metadata"] == {"action": "vm-created", "name": "vm2"}
    ws.send(PING, b"hi")
    assert ws.frame() == (PONG, b"hi")
    ws.send(CLOSE, struct.pack(">H", 1000))
    assert ws.close_code() == 1000


def test_kept_events_and_since_replay(daemon):
    for name in ("a", "b", "c"):
        assert create(daemon, name).status == 201
    r = daemon.request("GET", "/1.0/events")
    assert r.status == 200 and [e["id"] for e in r.json] == [1, 2, 3]
    assert [e["resource"] for e in r.json] == ["/1.0/vms/a", "/1.0/vms/b", "/1.0/vms/c"]
    assert [e["id"] for e in daemon.request("GET", "/1.0/events?since=2").json] == [3]
    assert daemon.request("GET", "/1.0/events?since=3").json == []
    assert daemon.request("GET", "/1.0/events?type=operation").json == []
    assert len(daemon.request("GET", "/1.0/events?type=lifecycle,operation").json) == 3
    for bad in ("type=bogus", "since=abc", "since=-1", "color=red"):
        r = daemon.request("GET", "/1.0/events?" + bad)
        assert r.status == 400 and r.json["error"]["code"] == 400, (bad, r)
    # a stream with since: the kept ones after it, then the new ones, no gap, no repeat
    ws = Ws(daemon.sock, "/1.0/events?since=1")
    assert ws.status == 101
    assert create(daemon, "d").status == 201
    assert [ws.event()["id"] for _ in range(3)] == [2, 3, 4]
    # a filtered stream sees only its types
    ops = Ws(daemon.sock, "/1.0/events?type=operation&since=0")
    life = Ws(daemon.sock, "/1.0/events?type=lifecycle")
    assert create(daemon, "e").status == 201
    assert life.event()["id"] == 5
    ops.s.settimeout(0.5)
    with pytest.raises(socket.timeout):
        ops.event()
    # a bad query on an upgrade is a plain error, not a stream
    bad = Ws(daemon.sock, "/1.0/events?type=bogus")
    assert bad.status == 400 and "bogus" in bad.body()["error"]["message"]


def test_bad_handshakes_refused(daemon):
    for kw in ({"version": "8"}, {"key": "short"}, {"key": ""}):
        ws = Ws(daemon.sock, **kw)
        assert ws.status == 400, kw
        assert ws.body()["error"]["message"].startswith("websocket:"), kw
    # not a websocket route: the upgrade is ignored and the answer is the resource's
    ws = Ws(daemon.sock, "/1.0/vms")
    assert ws.status == 200 and ws.body() == {"vms": [], "broken": []}


@pytest.mark.parametrize("frame,code", [
    (lambda ws: ws.send(TEXT, b"hello", mask=False), 1002),           # a client must mask
    (lambda ws: ws.send(BINARY, b"", length=2 << 20), 1009),          # over the 1 MiB cap
    (lambda ws: ws.send(3, b"x"), 1002),                              # an unknown opcode
    (lambda ws: ws.send(PING, b"x", fin=False), 1002),                # a fragmented ping
    (lambda ws: ws.send(0, b"x"), 1002),                              # a stray continuation
    (lambda ws: ws.send(TEXT, b"\xff\xfe"), 1007),                    # text that is not UTF-8
    (lambda ws: ws.s.sendall(bytes([0xC1, 0x80, 1, 2, 3, 4])), 1002),  # a reserved bit
])
def test_hostile_frames_closed_with_their_code(daemon, frame, code):
    ws = Ws(daemon.sock)
    assert ws.status == 101
    frame(ws)
    assert ws.close_code() == code
    # the daemon goes on: the API answers and a new subscriber is served
    t0 = time.monotonic()
    assert daemon.request("GET", "/1.0").status == 200
    other = Ws(daemon.sock)
    assert create(daemon, "vm1").status == 201
    assert other.event()["metadata"]["action"] == "vm-created"
    assert time.monotonic() - t0 < 2
    assert daemon.alive()


def test_a_subscriber_that_never_reads_is_dropped(tmp_path):
    d = Hosteld(tmp_path, "--stream-queue", "16", "--rate-limit", "0").start()
    try:
        slow = Ws(d.sock)
        reader = Ws(d.sock)
        assert slow.status == 101 and reader.status == 101
        assert create(d, "vm1").status == 201
        c = UnixHTTPConnection(d.sock, timeout=10)
        sent, got = 1, [reader.event()["id"]]
        for i in range(2000):
            c.request("PATCH", "/1.0/vms/vm1", body=json.dumps({"description": "x" * (i % 7)}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
            sent += 1
            got.append(reader.event()["id"])  # the reading subscriber keeps up
            if sent % 100 == 0 and "does not read" in d.log.read_text():
                break
        c.close()
        assert "does not read what it is sent: dropped" in d.log.read_text(), \
            f"not dropped after {sent} events"
        assert got == list(range(1, sent + 1))
        # the API still answers at once
        t0 = time.monotonic()
        assert d.request("GET", "/1.0/vms").status == 200
        assert time.monotonic() - t0 < 1
        # the slow one gets a prefix of the events, then the end of its socket
        ids = []
        with pytest.raises((EOFError, ConnectionResetError)):
            while True:
                ids.append(slow.event()["id"])
        assert 0 < len(ids) < sent and ids == list(range(1, len(ids) + 1))
        # and the reader still gets what comes next
        assert create(d, "vm2").status == 201
        assert reader.event()["id"] == sent + 1
    finally:
        d.stop()
    assert d.proc.returncode == 0


def test_stream_outlives_the_request_deadline(tmp_path):
    d = Hosteld(tmp_path, "--timeout", "1").start()
    try:
        ws = Ws(d.sock)
        time.sleep(2.5)  # the watchdog drops HTTP requests slower than 1 s, not streams
        assert create(d, "vm1").status == 201
        assert ws.event()["metadata"]["action"] == "vm-created"
    finally:
        d.stop()
    assert d.proc.returncode == 0


def test_daemon_stop_closes_streams_with_1001(tmp_path):
    d = Hosteld(tmp_path).start()
    ws = Ws(d.sock)
    assert ws.status == 101
    assert d.stop() == 0
    assert ws.close_code() == 1001


def hostel_events(sock, *args):
    env = dict(os.environ)
    env.pop("HOSTEL_SOCKET", None)
    return subprocess.Popen([HOSTEL, "--socket", sock, "events", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_hostel_events_json_and_text(tmp_path):
    d = Hosteld(tmp_path).start()
    try:
        # --since 0: the create is replayed if it came before the subscription, else streamed
        pj = hostel_events(d.sock, "--json", "--since", "0")
        pt = hostel_events(d.sock, "--since", "0", "--type", "lifecycle")
        assert create(d, "vm1").status == 201
        e = json.loads(pj.stdout.readline())
        assert e["metadata"]["action"] == "vm-created" and e["resource"] == "/1.0/vms/vm1"
        assert e["uid"] == os.getuid()
        line = pt.stdout.readline()
        assert re.match(r"^\S+Z  lifecycle  vm-created +/1.0/vms/vm1  uid=%d$" % os.getuid(),
                        line), line
    finally:
        d.stop()
    # the daemon went away: one line and exit status 1
    for p in (pj, pt):
        out, err = p.communicate(timeout=10)
        assert p.returncode == 1 and err.count("\n") == 1, err
        assert "the event stream ended" in err and "1001" in err


def test_hostel_events_errors(tmp_path):
    d = Hosteld(tmp_path).start()
    try:
        r = subprocess.run([HOSTEL, "--socket", d.sock, "events", "--type", "bogus"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "'bogus' is not an event type" in r.stderr
        r = subprocess.run([HOSTEL, "events", "--frobnicate"], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2
    finally:
        d.stop()
    r = subprocess.run([HOSTEL, "--socket", d.sock, "events"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "no hosteld answers" in r.stderr
    assert r.stderr.count("\n") == 1



def test_operation_events_of_a_start(tmp_path):
    """The operations' events reach the stream: a start that fails at once (no kernel), seen
    by a subscriber, from operation-created to operation-finished."""
    d = Hosteld(tmp_path).start()
    try:
        ws = Ws(d.sock, "/1.0/events?since=0", timeout=30)
        r = d.request("POST", "/1.0/vms", {"name": "vm1", "config": {
            "boot": {"kernel": str(tmp_path / "missing-Image")}}})
        assert r.status == 201, r
        r = d.request("PUT", "/1.0/vms/vm1/state", {"action": "start"})
        assert r.status == 202, r
        op_id = r.json["id"]
        events = [ws.event()]
        while events[-1]["metadata"].get("action") != "operation-finished":
            events.append(ws.event())
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert (events[0]["type"], events[0]["metadata"]["action"]) == ("lifecycle", "vm-created")
        mine = [e for e in events if e["resource"] == f"/1.0/operations/{op_id}"]
        assert mine[0]["metadata"]["action"] == "operation-created"
        assert mine[-1] is events[-1]
        assert all(e["type"] == "operation" and e["uid"] == -1 for e in mine)
        done = mine[-1]["metadata"]["operation"]
        assert done["id"] == op_id and done["status"] == "failure"
        assert done["err"]  # why it failed, one line
        # a type filter keeps them apart
        life = d.request("GET", "/1.0/events?type=lifecycle").json
        assert life and all(e["type"] == "lifecycle" for e in life)
    finally:
        d.stop()
    assert d.proc.returncode == 0


def test_hostel_events_from_a_remote_over_https(tmp_path):
    """`hostel --remote R events`: the websocket over HTTPS (MHD proxies the upgraded TLS
    connection), the client's certificate named in the events of its own changes."""
    from mgmtd import HosteldTLS
    there = HosteldTLS(tmp_path / "there").start()
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    env.pop("HOSTEL_SOCKET", None)
    env.pop("HOSTEL_REMOTE", None)

    def hostel_run(*args):
        r = subprocess.run([HOSTEL, *args], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r
        return r.stdout

    try:
        token = hostel_run("--socket", there.sock, "trust", "token", "laptop").strip()
        hostel_run("remote", "add", "host2", there.url, "--token", token)
        p = subprocess.Popen([HOSTEL, "--remote", "host2", "events", "--json", "--since", "0"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert there.request("POST", "/1.0/vms", {"name": "vm1"}).status == 201
        e = json.loads(p.stdout.readline())
        assert e["metadata"]["action"] == "vm-created" and e["uid"] == os.getuid()
        hostel_run("--remote", "host2", "create", "vm2")
        e = json.loads(p.stdout.readline())
        assert e["resource"] == "/1.0/vms/vm2" and e["uid"] == -1
        assert e["metadata"]["certificate_name"] == "laptop"
        assert len(e["metadata"]["certificate"]) == 64
    finally:
        there.stop()
    # the daemon went away: one line and status 1 (over HTTPS the 1001 may not make it out:
    # libmicrohttpd stops its TLS proxying with the daemon)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 1 and "the event stream ended" in err and err.count("\n") == 1, err


def test_lifecycle_events_of_a_running_vm(tmp_path, guest):
    """The runtime's events reach the stream: the default guest started and stopped, seen by
    a subscriber, with the operations that did it."""
    from test_mgmt_lifecycle import Daemon
    d = Daemon(tmp_path, guest).start()
    try:
        ws = Ws(d.sock, "/1.0/events?since=0", timeout=60)
        d.create("vm1")
        start = d.act("vm1", "start")
        assert start["status"] == "success", start
        stop = d.act("vm1", "stop", force=True)
        assert stop["status"] == "success", stop
        events = []
        while not events or events[-1]["metadata"].get("action") != "vm-stopped":
            events.append(ws.event())
        seen = [(e["type"], e["metadata"]["action"]) for e in events]
        assert seen[0] == ("lifecycle", "vm-created") and events[0]["uid"] == os.getuid()
        assert seen.index(("lifecycle", "vm-started")) < len(seen) - 1, seen
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        started = next(e for e in events if e["metadata"]["action"] == "vm-started")
        assert started["resource"] == "/1.0/vms/vm1" and started["metadata"]["name"] == "vm1"
        assert started["uid"] == -1
        ops = [e for e in events if e["resource"] == f"/1.0/operations/{start['id']}"]
        assert ops[0]["metadata"]["action"] == "operation-created"
    finally:
        d.cleanup()
