"""Helpers for the hosteld tests: start the daemon in a temporary state
directory, and talk HTTP to it over its unix socket with the standard
library's http.client (a small UnixHTTPConnection subclass).

The daemon comes from $HOSTELD_BIN, else hosteld beside $HOSTEL_BIN, else
$HOSTEL_BUILD/hosteld, else build/hosteld in the repository.
"""

import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def hosteld_bin():
    if os.environ.get("HOSTELD_BIN"):
        return os.environ["HOSTELD_BIN"]
    if os.environ.get("HOSTEL_BIN"):
        return str(pathlib.Path(os.environ["HOSTEL_BIN"]).parent / "hosteld")
    if os.environ.get("HOSTEL_BUILD"):
        return str(pathlib.Path(os.environ["HOSTEL_BUILD"]) / "hosteld")
    return str(REPO / "build" / "hosteld")


def running(tmp, check_exit=False):
    """A fixture's body: hosteld on a state directory under tmp for one test, stopped after it;
    with check_exit, the test also fails unless the daemon then exited with status 0."""
    if not os.path.exists(hosteld_bin()):
        pytest.fail(f"hosteld not found at {hosteld_bin()}: build it or set HOSTELD_BIN")
    d = Hosteld(tmp).start()
    yield d
    d.stop()
    if check_exit:
        assert d.proc.returncode == 0, d.log.read_text()


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the host name is only for the Host header)."""

    def __init__(self, path, timeout=10):
        super().__init__("hosteld", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"Reply({self.status}, {self.raw[:200]!r})"


class Hosteld:
    """One hosteld process on a state directory and socket under tmp."""

    def __init__(self, tmp, *extra):
        self.tmp = pathlib.Path(tmp)
        self.state = self.tmp / "state"
        self.sock = str(self.tmp / "run" / "hosteld.sock")
        self.guest = self.tmp / "guest"
        # no rate limit unless a test asks for one: tests make changes faster than people do
        self.extra = list(extra) if "--rate-limit" in extra else ["--rate-limit", "0", *extra]
        self.log = self.tmp / "hosteld.log"
        self.proc = None

    def start(self):
        argv = [hosteld_bin(), "--state-dir", str(self.state), "--socket", self.sock,
                "--guest-dir", str(self.guest), *self.extra]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hosteld exited {self.proc.returncode}: "
                                   f"{self.log.read_text()}")
            try:
                if self.request("GET", "/1.0").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hosteld did not answer within 10 s")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a fresh connection; body: a dict/list (sent as JSON) or bytes."""
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c = UnixHTTPConnection(self.sock, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Reply(r.status, dict(r.getheaders()), r.read())
        finally:
            c.close()

    def audit(self):
        p = self.state / "audit.log"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


# ---- HTTPS (hosteld --listen) ----


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on now (the daemon binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HosteldTLS(Hosteld):
    """hosteld that also serves HTTPS on 127.0.0.1 (a free port), for the trust tests."""

    def __init__(self, tmp, *extra, port=None):
        self.port = port or free_port()
        super().__init__(tmp, "--listen", f"127.0.0.1:{self.port}", *extra)
        self.tmp.mkdir(parents=True, exist_ok=True)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def https(self, method, path, body=None, cert=None, timeout=10):
        """One request over HTTPS, presenting cert ((crt, key) paths) when given; the server is
        not verified (it is self-signed): compare self.peer_fingerprint() instead."""
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(*cert)
        h = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            der = c.sock.getpeercert(binary_form=True)
            reply = Reply(r.status, dict(r.getheaders()), r.read())
            reply.peer_der = der
            return reply
        finally:
            c.close()
