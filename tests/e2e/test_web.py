"""The web console's daemon side (docs/web.md): its files served at / and /ui/ with
their types, caching and security headers; paths that escape refused; the login
(a one-time token for a session cookie), the CSRF header, the Origin of websockets,
expiry, logout, the rate limit and `hostel web-login`.  No guest is booted."""

import os
import re
import subprocess
import time

import pytest

from mgmtd import HosteldTLS, REPO
from webclient import Browser, WsTLS, web_token

HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}

FILES = {
    "index.html": ("text/html; charset=utf-8", b"<!doctype html><title>hostel</title>"),
    "app.js": ("text/javascript; charset=utf-8", b"console.log(1)"),
    "lib/mod.mjs": ("text/javascript; charset=utf-8", b"export const x = 1;"),
    "style.css": ("text/css; charset=utf-8", b"body{}"),
    "logo.svg": ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    "logo.png": ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00binary\x00bytes"),
    "font.woff2": ("font/woff2", b"wOF2\x00\x01\x00\x00"),
    "data.json": ("application/json", b'{"a": 1}'),
    "app.js.map": ("application/json", b'{"version": 3}'),
    "blob.bin": ("application/octet-stream", b"\x00\x01"),
}


def make_web_dir(root):
    web = root / "web"
    for name, (_, data) in FILES.items():
        (web / name).parent.mkdir(parents=True, exist_ok=True)
        (web / name).write_bytes(data)
    return web


@pytest.fixture
def web(tmp_path):
    webdir = make_web_dir(tmp_path)
    (tmp_path / "secret.txt").write_text("not for the web\n")
    d = HosteldTLS(tmp_path / "d", "--web-dir", str(webdir)).start()
    d.webdir = webdir
    yield d
    d.stop()
    assert d.proc.returncode == 0, d.log.read_text()


def assert_page_headers(r):
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


# ---- the files ----


def test_files_with_their_types_etag_and_headers_over_https(web):
    b = Browser(web)
    r = b.request("GET", "/", headers=HTML)
    assert r.status == 200 and r.raw == FILES["index.html"][1]
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert_page_headers(r)
    for name, (ctype, data) in FILES.items():
        r = b.request("GET", "/ui/" + name)
        assert r.status == 200, (name, r)
        assert r.raw == data and r.headers["content-type"] == ctype, name
        assert r.headers["cache-control"] == "no-cache" and r.headers["etag"], name
        assert_page_headers(r)
        again = b.request("GET", "/ui/" + name, headers={"If-None-Match": r.headers["etag"]})
        assert again.status == 304 and again.raw == b"", name
        assert again.headers["etag"] == r.headers["etag"]
    # a changed file has another ETag: the old one gets the new bytes
    etag = b.request("GET", "/ui/app.js").headers["etag"]
    (web.webdir / "app.js").write_bytes(b"console.log(2) // longer")
    r = b.request("GET", "/ui/app.js", headers={"If-None-Match": etag})
    assert r.status == 200 and r.raw == b"console.log(2) // longer" and r.headers["etag"] != etag
    # the API's answers carry the headers too, and are not cached
    r = b.request("GET", "/1.0")
    assert r.status == 200 and r.headers["cache-control"] == "no-store"
    assert_page_headers(r)


def test_files_over_the_unix_socket_and_get_root_for_api_clients(web):
    r = web.request("GET", "/", headers=HTML)
    assert r.status == 200 and r.raw == FILES["index.html"][1]
    assert r.headers["Content-Security-Policy"] == CSP
    r = web.request("GET", "/ui/logo.png")
    assert r.status == 200 and r.raw == FILES["logo.png"][1]
    # a client that does not ask for HTML still gets the API's versions at /
    assert web.request("GET", "/").json == ["/1.0"]
    assert web.request("GET", "/", headers={"Accept": "application/json"}).json == ["/1.0"]
    # without a certificate nor a session, / is the page but the API is refused
    b = Browser(web)
    assert b.request("GET", "/").status == 403
    assert b.request("GET", "/1.0/vms").status == 403


ESCAPES = [
    "/ui/../secret.txt", "/ui/../../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/..%2fsecret.txt",
    "/ui/lib/../../secret.txt", "/ui/./index.html", "/ui//index.html", "/ui/.hidden",
    "/ui/lib", "/ui/lib/", "/ui/nosuch.js", "/ui/index.html%00.png", "/ui/a%0ab",
    "/ui/" + "a/" * 300 + "x.js", "/ui/" + "b" * 4000, "/ui/lib\\mod.mjs", "/ui/out",
    "/ui/outdir/secret.txt",
]


def test_paths_that_escape_or_name_no_file_are_404(web, tmp_path):
    (web.webdir / ".hidden").write_text("hidden\n")
    (web.webdir / "out").symlink_to(tmp_path / "secret.txt")
    (web.webdir / "outdir").symlink_to(tmp_path)
    (web.webdir / "inside.js").symlink_to(web.webdir / "app.js")
    b = Browser(web)
    for path in ESCAPES:
        r = b.request("GET", path)
        assert r.status in (400, 404, 414), (path, r)  # MHD itself may refuse a malformed URL
        assert b"not for the web" not in r.raw and b"hidden" not in r.raw, path
        r = web.request("GET", path)
        assert r.status in (400, 404, 414) and b"not for the web" not in r.raw, path
    # a link that stays inside the directory is served
    r = b.request("GET", "/ui/inside.js")
    assert r.status == 200 and r.raw == FILES["app.js"][1]
    assert web.alive()


def test_no_web_directory_is_a_clear_answer(tmp_path):
    d = HosteldTLS(tmp_path, "--web-dir", str(tmp_path / "nosuch")).start()
    try:
        r = Browser(d).request("GET", "/", headers=HTML)
        assert r.status == 503 and b"web console is not installed" in r.raw, r
        assert r.headers["content-type"].startswith("text/plain")
        r = Browser(d).request("GET", "/ui/app.js")
        assert r.status == 404 and b"not installed" in r.raw
        (tmp_path / "empty").mkdir()
    finally:
        d.stop()
    d = HosteldTLS(tmp_path / "2", "--web-dir", str(tmp_path / "empty")).start()
    try:
        r = Browser(d).request("GET", "/", headers=HTML)
        assert r.status == 503 and b"has no index.html" in r.raw, r
        assert d.request("GET", "/1.0").status == 200
    finally:
        d.stop()


# ---- the login ----


def test_login_flow_cookie_csrf_and_logout(web):
    tok = web_token(web)
    assert re.fullmatch(r"[0-9a-f]{64}", tok["token"])
    assert tok["urls"] == [f"https://127.0.0.1:{web.port}/#token={tok['token']}"]
    b = Browser(web)
    assert b.request("GET", "/1.0/web/session").status == 401
    r = b.login(tok["token"])
    assert r.status == 200, r
    cookie = r.headers["set-cookie"]
    assert re.fullmatch(r"hostel_session=[0-9a-f]{64}; Path=/; HttpOnly; Secure; "
                        r"SameSite=Strict", cookie), cookie
    assert re.fullmatch(r"[0-9a-f]{64}", b.csrf) and b.csrf not in cookie
    # the cookie is trusted like a certificate
    r = b.request("GET", "/1.0/vms")
    assert r.status == 200 and r.json["vms"] == []
    assert b.request("GET", "/1.0/vms", cookie=False).status == 403
    r = b.request("GET", "/1.0/web/session")
    assert r.status == 200 and r.json["csrf_token"] == b.csrf and r.json["expires_at"]
    r = b.request("GET", "/1.0")
    assert r.json["auth"] == "trusted" and "web-console" in r.json["api_extensions"]
    # changes need the CSRF header
    r = b.request("POST", "/1.0/vms", {"name": "vm1"})
    assert r.status == 403 and "csrf" in r.json["error"]["message"], r
    r = b.request("POST", "/1.0/vms", {"name": "vm1"}, headers={"X-Hostel-CSRF": "0" * 64})
    assert r.status == 403
    assert web.request("GET", "/1.0/vms/vm1").status == 404  # nothing was made
    r = b.request("POST", "/1.0/vms", {"name": "vm1"}, csrf=True)
    assert r.status == 201, r
    assert b.request("DELETE", "/1.0/vms/vm1").status == 403
    assert b.request("DELETE", "/1.0/vms/vm1", csrf=True).status == 200
    # the token worked once
    again = Browser(web)
    r = again.login(tok["token"])
    assert r.status == 401 and "set-cookie" not in r.headers
    assert again.login("0" * 64).status == 401 and again.login("").status == 401
    assert again.request("POST", "/1.0/web/login", {"token": 5}).status == 400
    assert again.request("POST", "/1.0/web/login", {"token": "x", "more": 1}).status == 400
    # logout: the cookie is cleared and the session is gone
    assert b.request("POST", "/1.0/web/logout").status == 403  # a change: CSRF needed
    r = b.request("POST", "/1.0/web/logout", csrf=True)
    assert r.status == 200 and "Max-Age=0" in r.headers["set-cookie"]
    assert r.headers["set-cookie"].startswith("hostel_session=;")
    r = b.request("GET", "/1.0/vms")  # 401, not 403: the page knows to show its login
    assert r.status == 401 and "log in again" in r.json["error"]["message"], r
    assert b.request("GET", "/1.0/web/session").status == 401
    # the audit log names the sessions, never a secret; nor does the daemon's log
    for text in ((web.state / "audit.log").read_text(), web.log.read_text()):
        for secret in (tok["token"], b.cookie, b.csrf):
            assert secret not in text
    assert "web: session 1 opened from 127.0.0.1" in web.log.read_text()
    lines = web.audit()
    logins = [x for x in lines if x["path"] == "/1.0/web/login"]
    assert logins[0]["status"] == 200 and logins[0]["web_session"] == 1
    assert logins[0]["address"] == "127.0.0.1"
    assert [x["status"] for x in logins[1:]] == [401, 401, 401, 400, 400]
    made = [x for x in lines if x["path"] == "/1.0/vms" and x["status"] == 201][0]
    assert made["web_session"] == 1
    logout = [x for x in lines if x["path"] == "/1.0/web/logout" and x["status"] == 200][0]
    assert logout["web_session"] == 1


def test_websocket_with_the_cookie_needs_our_origin(web):
    b = Browser(web)
    assert b.login(web_token(web)["token"]).status == 200
    cookie = {"Cookie": f"hostel_session={b.cookie}"}
    ours = f"https://127.0.0.1:{web.port}"
    for origin in (None, "https://evil.example", f"http://127.0.0.1:{web.port}",
                   "https://127.0.0.1", ours + ".evil"):
        h = dict(cookie, **({"Origin": origin} if origin else {}))
        ws = WsTLS(web.port, "/1.0/events", h)
        assert ws.status == 403, origin
        ws.close()
    ws = WsTLS(web.port, "/1.0/events", dict(cookie, Origin=ours))
    assert ws.status == 101 and ws.accept_ok()
    web.request("POST", "/1.0/vms", {"name": "seen"})
    ev = ws.event()
    assert ev["metadata"]["name"] == "seen"
    ws.close()
    # without a cookie nor a certificate: refused whatever the Origin
    ws = WsTLS(web.port, "/1.0/events", {"Origin": ours})
    assert ws.status == 403
    ws.close()


def test_token_ttl_expiry_and_who_may_ask(web):
    tok = web_token(web, ttl=1)
    time.sleep(1.5)
    assert Browser(web).login(tok["token"]).status == 401
    for bad in ({"ttl": 0}, {"ttl": 3601}, {"ttl": "5"}, {"ttl": 1.5}, {"other": 1}):
        assert web.request("POST", "/1.0/web/tokens", bad).status == 400, bad
    assert web.request("POST", "/1.0/web/tokens").status == 201  # no body: the default ttl
    # a browser without a session may not ask for tokens
    assert Browser(web).request("POST", "/1.0/web/tokens", {}).status == 403
    # a browser with one may (it is trusted), with its CSRF header
    b = Browser(web)
    b.login(web_token(web)["token"])
    assert b.request("POST", "/1.0/web/tokens", {}).status == 403
    assert b.request("POST", "/1.0/web/tokens", {}, csrf=True).status == 201


def test_login_attempts_are_rate_limited(web):
    b = Browser(web)
    codes = [b.login("f" * 64).status for _ in range(15)]
    assert codes[:10] == [401] * 10 and 429 in codes, codes
    r = b.login(web_token(web)["token"])
    assert r.status == 429 and int(r.headers["retry-after"]) >= 1
    # the unix socket's clients have their own bucket
    r = web.request("POST", "/1.0/web/login", {"token": web_token(web)["token"]})
    assert r.status == 200


def test_sessions_end_with_the_daemon(web):
    b = Browser(web)
    b.login(web_token(web)["token"])
    assert b.request("GET", "/1.0/vms").status == 200
    web.stop()
    web.start()
    assert b.request("GET", "/1.0/vms").status == 401
    assert b.request("GET", "/1.0/web/session").status == 401


# ---- hostel web-login ----


def hostel(daemon, *args):
    env = dict(os.environ, HOSTEL_SOCKET=daemon.sock)
    return subprocess.run([HOSTEL, *args], env=env, capture_output=True, text=True, timeout=30)


def test_hostel_web_login(web):
    p = hostel(web, "web-login", "--ttl", "60")
    assert p.returncode == 0, p.stderr
    url = p.stdout.strip()
    m = re.fullmatch(rf"https://127\.0\.0\.1:{web.port}/#token=([0-9a-f]{{64}})", url)
    assert m, p.stdout
    assert "one use" in p.stderr
    assert Browser(web).login(m.group(1)).status == 200
    p = hostel(web, "web-login", "--json")
    assert p.returncode == 0 and '"expires_at"' in p.stdout
    for bad in (["--ttl", "0"], ["--ttl", "x"], ["--ttl", "3601"], ["--nope"], ["extra"]):
        p = hostel(web, "web-login", *bad)
        assert p.returncode == 2 and "web-login" in p.stderr, (bad, p.stderr)
    p = hostel(web, "web-login", "--help")
    assert p.returncode == 0 and "--ttl" in p.stdout
    assert "web-login" in hostel(web, "--help").stdout
    from mgmtd import hosteld_bin
    p = subprocess.run([hosteld_bin(), "--help"], capture_output=True, text=True, timeout=30)
    assert "--web-dir" in p.stdout


# ---- the display of VMs made through hosteld ----


def test_vms_get_a_display_by_default_and_can_go_without(web):
    r = web.request("POST", "/1.0/vms", {"name": "a"})
    assert r.status == 201
    cfg = r.json["config"]
    assert cfg["display"] == {"width": 1024, "height": 768}
    assert cfg["devices"][:6] == ["net:0", "rng", "console", "gpu", "keyboard", "tablet"], cfg
    for name, display in (("b", {"enabled": False}), ("c", None)):
        r = web.request("POST", "/1.0/vms", {"name": name, "config": {"display": display}})
        assert r.status == 201 and "display" not in r.json["config"], r
        assert "gpu" not in r.json["config"]["devices"]
    r = web.request("POST", "/1.0/vms", {"name": "d", "config": {
        "display": {"enabled": True, "width": 1280, "height": 800}}})
    assert r.status == 201 and r.json["config"]["display"] == {"width": 1280, "height": 800}
    for bad in ({"enabled": "no"}, {"width": 5, "height": 5}, {"depth": 3}, 7):
        r = web.request("POST", "/1.0/vms", {"name": "e", "config": {"display": bad}})
        assert r.status == 422 and "display" in r.json["error"]["message"], (bad, r)
    # disks and cards that leave no room for the screen: no default one, an asked one is 422
    disks = [{"path": f"/nonexistent/d{i}.img"} for i in range(4)]
    r = web.request("POST", "/1.0/vms", {"name": "f", "config": {"disks": disks}})
    assert r.status == 201 and "display" not in r.json["config"], r
    r = web.request("POST", "/1.0/vms", {"name": "g", "config": {
        "disks": disks, "display": {"width": 640, "height": 480}}})
    assert r.status == 422 and "config.display: no room" in r.json["error"]["message"], r
    disks = disks[:2]  # two disks, a card, the screen, its keyboard and tablet: six
    r = web.request("POST", "/1.0/vms", {"name": "g", "config": {"disks": disks}})
    assert r.status == 201 and r.json["config"]["display"], r
    # a display given later by PATCH brings its keyboard and tablet
    r = web.request("PATCH", "/1.0/vms/b", {"config": {"display": {"width": 800, "height": 600}}})
    assert r.status == 200, r
    assert {"gpu", "keyboard", "tablet"} <= set(r.json["config"]["devices"])
    r = web.request("PATCH", "/1.0/vms/b", {"config": {"display": {"enabled": False}}})
    assert r.status == 200 and "display" not in r.json["config"], r
    assert not {"gpu", "keyboard", "tablet"} & set(r.json["config"]["devices"])


def test_hostel_create_display_option(web):
    p = hostel(web, "create", "x1", "--display", "none")
    assert p.returncode == 0, p.stderr
    assert "display" not in web.request("GET", "/1.0/vms/x1").json["config"]
    p = hostel(web, "create", "x2", "--display", "800x600")
    assert p.returncode == 0, p.stderr
    assert web.request("GET", "/1.0/vms/x2").json["config"]["display"] == {"width": 800,
                                                                          "height": 600}
    for bad in ("big", "800x", "x600", "-1x5", "800x600x2"):
        p = hostel(web, "create", "x3", "--display", bad)
        assert p.returncode == 2 and "--display" in p.stderr, (bad, p.stderr)
    p = hostel(web, "create", "x3", "--display", "5x5")
    assert p.returncode == 1 and "display" in p.stderr
    assert "--display" in hostel(web, "create", "--help").stdout


def test_hostel_run_vnc_option_errors(tmp_path):
    for bad, msg in ((["--vnc", "unix:/x,width=5"], "size is the machine's"),
                     (["--vnc", "unix:/nonexistent/vnc.sock"], "has no display")):
        p = subprocess.run([HOSTEL, "run", *bad], capture_output=True, text=True, timeout=30)
        assert p.returncode in (1, 2) and msg in p.stderr, (bad, p.stderr)
    assert "--vnc" in subprocess.run([HOSTEL, "run", "--help"], capture_output=True,
                                     text=True).stdout


def test_the_session_cookie_among_others(web):
    b = Browser(web)
    assert b.login(web_token(web)["token"]).status == 200
    for header in (f"theme=dark; hostel_session={b.cookie}; lang=en",
                   f"hostel_session={b.cookie}", f"a=1;hostel_session={b.cookie}  "):
        r = b.request("GET", "/1.0/vms", headers={"Cookie": header}, cookie=False)
        assert r.status == 200, header
    # a cookie that names no session is 401 (log in again); no cookie of ours, 403
    for header in (f"hostel_session={b.cookie[:-1]}", "hostel_session=",
                   f"hostel_session={b.csrf}", f"a=1; hostel_session={'0' * 64}"):
        r = b.request("GET", "/1.0/vms", headers={"Cookie": header}, cookie=False)
        assert r.status == 401, header
    for header in (f"xhostel_session={b.cookie}", f"hostel_session={b.cookie}0",
                   "hostel_session", "a" * 5000):
        r = b.request("GET", "/1.0/vms", headers={"Cookie": header}, cookie=False)
        assert r.status in (401, 403), header  # an over-long value is no cookie of ours
        assert r.status == 403 or "hostel_session=" in header, header


def test_a_sessions_streams_end_with_it(web):
    """A logout closes the websockets its session opened (1008); another session's live on."""
    ours = f"https://127.0.0.1:{web.port}"
    a, b = Browser(web), Browser(web)
    streams = []
    for br in (a, b):
        assert br.login(web_token(web)["token"]).status == 200
        ws = WsTLS(web.port, "/1.0/events",
                   {"Cookie": f"hostel_session={br.cookie}", "Origin": ours})
        assert ws.status == 101
        streams.append(ws)
    t0 = time.monotonic()
    assert a.request("POST", "/1.0/web/logout", csrf=True).status == 200
    assert streams[0].close_code() == 1008 and time.monotonic() - t0 < 5
    web.request("POST", "/1.0/vms", {"name": "after"})
    assert streams[1].event()["metadata"]["name"] == "after"
    streams[1].close()
