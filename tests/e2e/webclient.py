"""Helpers for the web console's tests: a browser's side of hosteld over HTTPS
(no client certificate; a cookie jar of one cookie), the login, and a
websocket client over TLS (test_mgmt_events.Ws's frames, its handshake here)."""

import base64
import http.client
import json
import os
import socket
import ssl

from mgmtd import Reply
from test_mgmt_events import Ws


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Browser:
    """What a browser does against hosteld's HTTPS port: requests with the session cookie
    once logged in, and the CSRF header when asked to."""

    def __init__(self, daemon):
        self.d = daemon
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, cookie=True, csrf=False):
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if cookie and self.cookie:
            h["Cookie"] = f"hostel_session={self.cookie}"
        if csrf and self.csrf:
            h["X-Hostel-CSRF"] = self.csrf
        c = http.client.HTTPSConnection("127.0.0.1", self.d.port, timeout=10,
                                        context=tls_context())
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            c.close()

    def login(self, token):
        r = self.request("POST", "/1.0/web/login", {"token": token})
        if r.status == 200:
            cookie = r.headers["set-cookie"]
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1]
            self.csrf = r.json["csrf_token"]
        return r


def web_token(daemon, ttl=None):
    """A login token asked over the unix socket (a trusted client)."""
    r = daemon.request("POST", "/1.0/web/tokens", {} if ttl is None else {"ttl": ttl})
    assert r.status == 201, r
    return r.json


class WsTLS(Ws):
    """A websocket over hosteld's HTTPS port with the headers a browser sends."""

    def __init__(self, port, path, headers=None, timeout=10):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s = tls_context().wrap_socket(raw)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.handshake(path, f"127.0.0.1:{port}", headers=headers)

    def binary(self, timeout=10):
        """The next binary message's payload (pings and texts skipped); EOFError at a close."""
        self.s.settimeout(timeout)
        while True:
            op, payload = self.frame()
            if op == 8:
                raise EOFError(f"closed: {payload!r}")
            if op == 2:
                return payload
