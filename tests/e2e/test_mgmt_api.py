"""hosteld's REST API over its unix socket (docs/api.md, docs/openapi.json):
every route, every error class and its one shape, the OpenAPI no-drift
check, the caps (body size, connections, idle clients), the audit log, and
the state directory's safety (restart keeps the definitions; kill -9 during
a burst of creates leaves only whole documents).  No guest is booted.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from mgmtd import REPO, Hosteld, UnixHTTPConnection, running

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
OPENAPI = REPO / "docs" / "openapi.json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path, check_exit=True)


def assert_error(r, status, contains=None):
    """r is the one error shape with this status (and a message holding contains)."""
    assert r.status == status, r
    assert r.headers.get("Content-Type") == "application/json"
    assert set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"}, r
    assert r.json["error"]["code"] == status
    msg = r.json["error"]["message"]
    assert msg and "\n" not in msg
    if contains:
        assert contains in msg, msg


def create(d, name, config=None, **members):
    body = {"name": name, **members}
    if config is not None:
        body["config"] = config
    return d.request("POST", "/1.0/vms", body)


# ---- routes ----


def test_versions_and_server(daemon):
    assert daemon.request("GET", "/").json == ["/1.0"]
    r = daemon.request("GET", "/1.0")
    assert r.status == 200
    assert r.json["api_version"] == "1.0" and "vms" in r.json["api_extensions"]
    assert r.json["server"]["name"] == "hosteld"
    assert r.json["auth"] == "unix" and r.json["auth_uid"] == os.getuid()


def test_create_fills_the_defaults_of_hostel_run(daemon):
    r = create(daemon, "vm1")
    assert r.status == 201, r
    assert r.headers["Location"] == "/1.0/vms/vm1"
    vm = r.json
    assert UUID.match(vm["uuid"]) and vm["state"] == "stopped"
    assert vm["description"] == "" and vm["autostart"] is False
    cfg = vm["config"]
    assert cfg["ram-size"] == 128 << 20 and cfg["harts"] == 1
    assert [n["kind"] for n in cfg["nics"]] == ["user"]
    assert cfg["boot"]["kernel"] == str(daemon.guest / "Image")
    assert cfg["boot"]["initrd"] == str(daemon.guest / "initramfs.cpio.gz")
    assert cfg["boot"]["cmdline"] == "console=ttyS0 earlycon=sbi"
    # the stored document is the same definition, versioned
    doc = json.loads((daemon.state / "vms" / "vm1.json").read_text())
    assert doc["version"] == 1 and doc["uuid"] == vm["uuid"] and doc["config"] == cfg


def test_create_with_a_bootable_disk_boots_it_through_firmware(daemon, tmp_path):
    """A definition with just a partitioned disk boots it as `hostel run -d DISK` does."""
    disk = tmp_path / "boot.img"
    sector = bytearray(1 << 20)
    sector[510:512] = b"\x55\xaa"  # the boot signature of an MBR
    disk.write_bytes(bytes(sector))
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(1 << 20))
    r = create(daemon, "pc", {"disks": [{"path": str(disk)}]})
    assert r.status == 201, r
    cfg = r.json["config"]
    assert cfg["boot"]["bios"] == "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
    assert cfg["boot"]["kernel"] == "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
    assert cfg["ram-size"] == 1 << 30
    r = create(daemon, "pc2", {"disks": [{"path": str(disk)}], "ram-size": 256 << 20})
    assert r.json["config"]["ram-size"] == 256 << 20
    for name, disks in (("data", [{"path": str(blank)}]), ("absent", [{"path": "/no/disk"}])):
        r = create(daemon, name, {"disks": disks})
        assert r.status == 201, r
        assert r.json["config"]["boot"]["kernel"] == str(daemon.guest / "Image")


def test_create_keeps_what_is_given(daemon):
    cfg = {"harts": 2, "ram-size": 512 << 20, "boot": {"kernel": "/k/Image"}, "nics": [],
           "disks": [{"path": "/d/a.qcow2", "read-only": True}]}
    r = create(daemon, "web", cfg, description="the web server", autostart=True)
    assert r.status == 201, r
    got = r.json["config"]
    assert got["harts"] == 2 and got["ram-size"] == 512 << 20 and got["nics"] == []
    assert got["boot"] == {"kernel": "/k/Image", "initrd": None, "cmdline": None, "bios": None}
    assert got["disks"][0]["path"] == "/d/a.qcow2" and got["disks"][0]["read-only"] is True
    assert r.json["description"] == "the web server" and r.json["autostart"] is True


def test_list_get_delete(daemon):
    for name in ("b", "a", "c"):
        assert create(daemon, name).status == 201
    r = daemon.request("GET", "/1.0/vms")
    assert r.json == {"vms": ["a", "b", "c"], "broken": []}
    full = daemon.request("GET", "/1.0/vms?recursion=1").json["vms"]
    assert [v["name"] for v in full] == ["a", "b", "c"] and all(UUID.match(v["uuid"]) for v in full)
    assert daemon.request("GET", "/1.0/vms?recursion=0").json["vms"] == ["a", "b", "c"]
    one = daemon.request("GET", "/1.0/vms/b")
    assert one.status == 200 and one.json == full[1]
    assert daemon.request("DELETE", "/1.0/vms/b").status == 200
    assert not (daemon.state / "vms" / "b.json").exists()
    assert_error(daemon.request("GET", "/1.0/vms/b"), 404, "no VM named 'b'")
    assert_error(daemon.request("DELETE", "/1.0/vms/b"), 404)
    assert daemon.request("GET", "/1.0/vms").json["vms"] == ["a", "c"]


def test_patch_merges_members(daemon):
    uuid = create(daemon, "vm1", {"harts": 2}).json["uuid"]
    r = daemon.request("PATCH", "/1.0/vms/vm1", {"description": "x", "config": {"harts": 4}})
    assert r.status == 200, r
    assert r.json["uuid"] == uuid and r.json["description"] == "x"
    assert r.json["config"]["harts"] == 4 and r.json["config"]["nics"][0]["kind"] == "user"
    # disks changed without devices: the slots are laid out afresh
    r = daemon.request("PATCH", "/1.0/vms/vm1", {"config": {"disks": [{"path": "/d.img"}]}})
    assert r.status == 200, r
    assert r.json["config"]["devices"][:2] == ["blk:0", "net:0"]
    assert daemon.request("GET", "/1.0/vms/vm1").json == r.json
    assert_error(daemon.request("PATCH", "/1.0/vms/vm1", {"config": {"harts": 0}}), 422,
                 "config.harts")
    assert daemon.request("GET", "/1.0/vms/vm1").json["config"]["harts"] == 4


def test_put_replaces_the_definition(daemon):
    old = create(daemon, "vm1", {"harts": 2}, description="old").json
    r = daemon.request("PUT", "/1.0/vms/vm1", {"config": {"ram-size": 256 << 20}})
    assert r.status == 200, r
    assert r.json["uuid"] == old["uuid"] and r.json["description"] == ""
    assert r.json["config"]["harts"] == 1 and r.json["config"]["nics"] == []
    assert r.json["config"]["ram-size"] == 256 << 20
    assert_error(daemon.request("PUT", "/1.0/vms/vm1", {"name": "other", "config": {}}), 400,
                 "renamed")
    assert_error(daemon.request("PUT", "/1.0/vms/vm1",
                                {"uuid": "c025de84-4e0f-4eaf-a93b-afcecfb35fae", "config": {}}),
                 400, "uuid")
    assert_error(daemon.request("PUT", "/1.0/vms/vm1", {"description": "no config"}), 400,
                 "config")
    ok = daemon.request("PUT", "/1.0/vms/vm1", {"name": "vm1", "uuid": old["uuid"], "config": {}})
    assert ok.status == 200



# ---- errors ----

BAD_NAMES = ["../x", "/abs", "a/b", ".x", "-x", "a" * 65, "", "a b", "..", "é"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_refused_in_body(daemon, name):
    assert_error(create(daemon, name), 400, "name")
    assert list((daemon.state / "vms").iterdir()) == []


@pytest.mark.parametrize("path", ["/1.0/vms/.x", "/1.0/vms/-x", "/1.0/vms/" + "a" * 65,
                                  "/1.0/vms/a%20b", "/1.0/vms/%2e%2e"])
def test_bad_names_refused_in_path(daemon, path):
    assert_error(daemon.request("GET", path), 400, "name")


@pytest.mark.parametrize("path", ["/1.0/vms/..%2Fx", "/1.0/vms/a/b", "/1.0/vms/", "/2.0",
                                  "/1.0/vms/a/state", "/nothing", "/1.0/", "/1.0/%E1x"])
def test_unknown_paths_404(daemon, path):
    assert_error(daemon.request("GET", path), 404)


def test_method_not_allowed_405(daemon):
    r = daemon.request("PUT", "/1.0/vms", {})
    assert_error(r, 405)
    assert r.headers["Allow"] == "GET, POST"
    r = daemon.request("POST", "/1.0/vms/vm1", {})
    assert_error(r, 405)
    assert r.headers["Allow"] == "GET, PUT, PATCH, DELETE"
    assert_error(daemon.request("DELETE", "/1.0"), 405)


def test_body_errors(daemon):
    post = lambda body, ct="application/json": daemon.request(  # noqa: E731
        "POST", "/1.0/vms", body.encode(), {"Content-Type": ct})
    assert_error(post('{"name": "a",'), 400, "malformed JSON")
    assert_error(post('{"name": "a"} trailing'), 400, "malformed JSON")
    assert_error(post('{"name": "a", "name": "b"}'), 400, "malformed JSON")
    assert_error(post('["a"]'), 400, "not a JSON object")
    assert_error(post(''), 400)
    assert_error(post('{"name": "a", "colour": "red"}'), 400, "colour: unknown member")
    assert_error(post('{"name": 5}'), 400, "name: not a string")
    assert_error(post('{"config": {}}'), 400, "name: missing")
    assert_error(post('{"name": "a", "autostart": "yes"}'), 400, "autostart")
    assert_error(post('{"name": "a", "description": 7}'), 400, "description")
    assert_error(post('{"name": "a"}', "text/plain"), 415)
    assert_error(daemon.request("POST", "/1.0/vms", b'{"name": "a"}'), 415)
    assert post('{"name": "a"}', "application/json; charset=utf-8").status == 201
    assert_error(post('{"name": "a"}'), 409, "exists")
    assert_error(daemon.request("GET", "/1.0/vms?recursion=2"), 400, "recursion")
    assert_error(daemon.request("GET", "/1.0/vms?colour=red"), 400)


@pytest.mark.parametrize("config,member", [
    ({"nics": [{"kind": "user", "mac": "zz"}]}, "config.nics[0].mac"),
    ({"harts": 9}, "config.harts"),
    ({"ram-size": 5}, "config.ram-size"),
    ({"disks": [{"path": "/a", "format": "vmdk"}]}, "config.disks[0].format"),
    ({"speed": 1}, "config.speed: unknown member"),
    ([], "config: not an object"),
])
def test_invalid_definitions_422(daemon, config, member):
    assert_error(create(daemon, "vm1", config), 422, member)
    assert_error(daemon.request("GET", "/1.0/vms/vm1"), 404)


# ---- the contract ----


def _probe_paths():
    return ["/", "/1.0", "/1.0/vms", "/1.0/vms/vm1", "/1.0/openapi.json", "/1.0/vms/vm1/state",
            "/1.0/vms/vm1/snapshots", "/1.0/vms/vm1/snapshots/s1",
            "/1.0/vms/vm1/snapshots/s1/revert", "/1.0/vms/vm1/console", "/1.0/vms/vm1/logs",
            "/1.0/vms/vm1/clones", "/1.0/operations", "/1.0/operations/x",
            "/1.0/operations/x/wait", "/1.0/events", "/1.0/host", "/1.0/storage-pools",
            "/1.0/storage-pools/default", "/1.0/storage-pools/default/volumes",
            "/1.0/storage-pools/default/volumes/v1", "/1.0/certificates", "/1.0/networks",
            "/1.0/networks/n1", "/metrics"]


def _routed(reply):
    """The server has a route for the request: not 405, and not the router's own 404 (a 404
    for a missing VM or operation comes from a handler)."""
    if reply.status == 405:
        return False
    return reply.status != 404 or "no such resource" not in reply.json["error"]["message"]


def _template_of(path, documented):
    """The documented path template that path is an instance of ({x} is one segment), or path."""
    for templ, _ in documented:
        if re.fullmatch(re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(templ)), path):
            return templ
    return path


def test_openapi_no_drift(daemon):
    served = daemon.request("GET", "/1.0/openapi.json")
    assert served.status == 200 and served.raw == OPENAPI.read_bytes()
    doc = json.loads(OPENAPI.read_text())
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops
                  if m.upper() in METHODS}
    assert create(daemon, "vm1").status == 201
    # every operation in the document is answered (not 404/405)
    for path, method in sorted(documented):
        concrete = re.sub(r"\{[a-z_]+\}", "x", path.replace("{name}", "vm1"))
        body = {} if method in ("POST", "PUT", "PATCH") else None
        r = daemon.request(method, concrete, body)
        assert _routed(r), f"{method} {path} is documented but {r}"
        if daemon.request("GET", "/1.0/vms/vm1").status == 404:
            assert create(daemon, "vm1").status == 201
    # everything the server answers is in the document
    for path in _probe_paths():
        for method in METHODS:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            r = daemon.request(method, path, body)
            templ = _template_of(path, documented)
            if _routed(r):
                assert (templ, method) in documented, f"{method} {path} answers {r.status}"
            if daemon.request("GET", "/1.0/vms/vm1").status == 404:
                assert create(daemon, "vm1").status == 201


def test_api_md_covers_the_document():
    """docs/api.md names every operation of the OpenAPI document, and no other."""
    doc = json.loads(OPENAPI.read_text())
    documented = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops
                  if m.upper() in METHODS}
    text = (REPO / "docs" / "api.md").read_text()
    named = set(re.findall(r"^### `((?:GET|POST|PUT|PATCH|DELETE) [^`]+)`", text, re.M))
    assert named == documented


# ---- caps and hostile clients ----


def _raw(daemon):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(daemon.sock)
    return s


def _read_status(s):
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else None


def test_100mib_body_refused_while_others_are_served(daemon):
    s = _raw(daemon)
    s.sendall(b"POST /1.0/vms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (100 << 20))
    sent = 0
    try:
        chunk = b"x" * (1 << 20)
        for _ in range(4):
            s.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    t0 = time.monotonic()
    assert daemon.request("GET", "/1.0", timeout=1).status == 200
    assert time.monotonic() - t0 < 1
    assert _read_status(s) == 413
    s.close()
    assert daemon.audit()[-1]["status"] == 413


def test_chunked_body_over_the_cap_is_413(daemon):
    c = UnixHTTPConnection(daemon.sock)
    c.putrequest("POST", "/1.0/vms")
    c.putheader("Content-Type", "application/json")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    piece = b"x" * 65536
    for _ in range(40):  # 2.5 MiB
        c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    assert r.status == 413
    assert json.loads(r.read())["error"]["code"] == 413
    assert daemon.request("GET", "/1.0/vms").status == 200


def test_huge_header_refused(daemon):
    s = _raw(daemon)
    try:
        s.sendall(b"GET /1.0 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    status = _read_status(s)
    assert status is None or status in (413, 431)
    s.close()
    assert daemon.request("GET", "/1.0", timeout=1).status == 200


def test_connection_limit_and_idle_clients_dropped(tmp_path):
    """Over --max-connections, a client waits in the listen backlog; the slots held by
    idle clients are freed at --timeout, and the waiting client is then served."""
    d = Hosteld(tmp_path, "--timeout", "2", "--max-connections", "4").start()
    try:
        assert d.request("GET", "/1.0", timeout=1).status == 200
        time.sleep(0.2)
        idle = [_raw(d) for _ in range(4)]  # every slot taken
        idle[0].sendall(b"GET /1.0 HTTP/1.1\r\nHost: x\r\n")  # slowloris: never finishes
        time.sleep(0.3)
        t0 = time.monotonic()
        waiting = _raw(d)
        waiting.sendall(b"GET /1.0 HTTP/1.1\r\nHost: x\r\n\r\n")
        waiting.settimeout(1)
        with pytest.raises(TimeoutError):
            waiting.recv(1)  # not served while the four slots are held
        waiting.settimeout(6)
        assert _read_status(waiting) == 200
        waited = time.monotonic() - t0
        assert 1 < waited < 5, f"served after {waited:.1f} s"
        for s in idle:
            s.settimeout(1)
            assert s.recv(1) == b"", "an idle client is dropped after --timeout"
    finally:
        d.stop()


def test_a_thousand_idle_connections_do_not_keep_others_out(daemon):
    """1,000 connections held open (nothing sent) by the default limits: a normal client is
    still served within a second."""
    held = []
    try:
        while len(held) < 1000:
            try:
                held.append(_raw(daemon))
            except BlockingIOError:  # the listen backlog is full for an instant: as a client would
                time.sleep(0.001)
        t0 = time.monotonic()
        assert daemon.request("GET", "/1.0/vms", timeout=2).status == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        for s in held:
            s.close()


def test_trickling_client_dropped_at_the_request_deadline(tmp_path):
    """A client that sends a byte every 0.3 s is never idle, yet is dropped at --timeout."""
    d = Hosteld(tmp_path, "--timeout", "2").start()
    try:
        s = _raw(d)
        request = b"GET /1.0 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        t0, dropped = time.monotonic(), False
        for byte in request:
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            time.sleep(0.3)
            if time.monotonic() - t0 > 1 and not dropped:
                assert d.request("GET", "/1.0", timeout=1).status == 200  # others are served
        else:
            s.settimeout(1)
            dropped = s.recv(1) == b""
        assert dropped and time.monotonic() - t0 < 5, "the trickling client was not dropped"
        # a keep-alive client that asks quickly is served many times on one connection
        c = UnixHTTPConnection(d.sock)
        for _ in range(5):
            c.request("GET", "/1.0")
            r = c.getresponse()
            r.read()
            assert r.status == 200
            time.sleep(0.5)
        c.close()
    finally:
        d.stop()


def test_other_users_cannot_connect(daemon):
    if os.getuid() != 0:
        pytest.skip("needs root to switch to another uid")
    mode = os.stat(daemon.sock).st_mode & 0o777
    assert mode == 0o660
    code = ("import socket,os; os.setgid(65534); os.setuid(65534); s=socket.socket(socket.AF_UNIX);"
            f"\ntry:\n s.connect({daemon.sock!r}); print('connected')\n"
            "except PermissionError: print('refused')")
    out = subprocess.run(["python3", "-c", code], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "refused", out


def test_garbage_does_not_hurt(daemon):
    for junk in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET\r\n\r\n", b"FOO / HTTP/9.9\r\n\r\n",
                 b"GET /1.0/vms/%00 HTTP/1.1\r\nHost: x\r\n\r\n"):
        s = _raw(daemon)
        try:
            s.sendall(junk)
            s.settimeout(3)
            s.recv(4096)
        except OSError:
            pass
        s.close()
    assert daemon.request("GET", "/1.0").status == 200


# ---- the audit log ----


def test_audit_log_records_mutating_calls(daemon):
    create(daemon, "vm1")
    create(daemon, "vm1")
    daemon.request("GET", "/1.0/vms")
    daemon.request("PATCH", "/1.0/vms/vm1", {"description": "d"})
    daemon.request("DELETE", "/1.0/vms/vm1")
    log = daemon.audit()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/1.0/vms", 201), ("POST", "/1.0/vms", 409), ("PATCH", "/1.0/vms/vm1", 200),
        ("DELETE", "/1.0/vms/vm1", 200)]
    assert all(e["uid"] == os.getuid() and e["time"].endswith("Z") for e in log)


# ---- the state directory ----


def test_restart_keeps_the_definitions(tmp_path):
    d = Hosteld(tmp_path).start()
    made = {n: create(d, n, {"harts": i + 1}).json for i, n in enumerate(("a", "b", "c"))}
    d.request("DELETE", "/1.0/vms/b")
    assert d.stop() == 0
    assert not os.path.exists(d.sock)
    d.start()
    try:
        got = d.request("GET", "/1.0/vms?recursion=1").json["vms"]
        assert [v["name"] for v in got] == ["a", "c"]
        assert got[0] == made["a"] and got[1] == made["c"]
    finally:
        d.stop()


def test_one_daemon_per_state_directory(daemon, tmp_path):
    other = Hosteld(tmp_path)
    other.sock = str(tmp_path / "other.sock")
    with pytest.raises(RuntimeError, match="in use by another hosteld"):
        other.start()
    assert daemon.request("GET", "/1.0").status == 200


def test_broken_documents_listed_and_kept(tmp_path):
    vms = tmp_path / "state" / "vms"
    vms.mkdir(parents=True)
    (vms / "bad.json").write_text("{not json")
    (vms / ".old.json.tmp-abcdef").write_text("{")
    d = Hosteld(tmp_path).start()
    try:
        r = d.request("GET", "/1.0/vms").json
        assert r["vms"] == [] and [b["file"] for b in r["broken"]] == ["bad.json"]
        assert not (vms / ".old.json.tmp-abcdef").exists()
        assert_error(create(d, "bad"), 409, "broken")
        assert_error(d.request("DELETE", "/1.0/vms/bad"), 404)
        assert (vms / "bad.json").read_text() == "{not json"
    finally:
        d.stop()


def test_kill9_during_a_burst_leaves_whole_documents(tmp_path):
    d = Hosteld(tmp_path).start()
    acked, stop = [], threading.Event()

    def burst(prefix):
        i = 0
        while not stop.is_set():
            try:
                r = create(d, f"{prefix}{i}", {"harts": 1 + i % 8}, description="x" * (i % 3000))
                if r.status == 201:
                    acked.append(r.json)
            except OSError:
                return
            i += 1

    threads = [threading.Thread(target=burst, args=(p,)) for p in ("a", "b", "c")]
    for t in threads:
        t.start()
    time.sleep(1.0)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 5, "the burst made too few VMs to mean anything"
    vms = tmp_path / "state" / "vms"
    for f in vms.iterdir():
        if f.name.startswith("."):
            continue  # a temporary of the interrupted write: removed at the next start
        json.loads(f.read_text())  # every document is whole
    d.start()
    try:
        r = d.request("GET", "/1.0/vms?recursion=1").json
        assert r["broken"] == []
        assert not [f for f in vms.iterdir() if f.name.startswith(".")]
        got = {v["name"]: v for v in r["vms"]}
        for vm in acked:  # everything acknowledged survived, unchanged
            assert got[vm["name"]] == vm
        assert len(got) - len(acked) <= 3  # at most one unacknowledged write per client
    finally:
        d.stop()


def test_kill9_at_random_points_of_creates_updates_deletes(tmp_path):
    """One client creates, changes and deletes VMs while hosteld is killed with SIGKILL at
    random instants, eight times: after each restart every document reads, and the set of
    VMs is one the client could have observed (every acknowledged change is there; the one
    change in flight when the daemon died is either fully there or not at all)."""
    import random
    rnd = random.Random(11)
    d = Hosteld(tmp_path).start()
    model = {}  # name -> description, as acknowledged
    counter = 0
    try:
        for _ in range(8):
            inflight, stop = [None], threading.Event()

            def client():
                nonlocal counter
                while not stop.is_set():
                    counter += 1
                    names = sorted(model)
                    kind = rnd.choice(["create", "create", "patch", "delete"] if names
                                      else ["create"])
                    name = f"v{counter}" if kind == "create" else rnd.choice(names)
                    desc = f"d{counter}"
                    inflight[0] = (kind, name, desc)
                    try:
                        if kind == "create":
                            r = create(d, name, description=desc)
                            ok = r.status == 201
                        elif kind == "patch":
                            r = d.request("PATCH", f"/1.0/vms/{name}", {"description": desc})
                            ok = r.status == 200
                        else:
                            r = d.request("DELETE", f"/1.0/vms/{name}")
                            ok = r.status == 200
                    except OSError:
                        return  # the daemon died: this change is the one in flight
                    assert ok, r
                    if kind == "delete":
                        model.pop(name)
                    else:
                        model[name] = desc
                    inflight[0] = None

            t = threading.Thread(target=client)
            t.start()
            time.sleep(rnd.uniform(0.05, 0.6))
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            stop.set()
            t.join()
            for f in (tmp_path / "state" / "vms").iterdir():
                if not f.name.startswith("."):
                    json.loads(f.read_text())  # whole
            d.start()
            r = d.request("GET", "/1.0/vms?recursion=1").json
            assert r["broken"] == []
            seen = {v["name"]: v["description"] for v in r["vms"]}
            flight = inflight[0]
            for name in set(model) | set(seen) | ({flight[1]} if flight else set()):
                allowed = {model.get(name)}
                if flight and flight[1] == name:
                    allowed.add(None if flight[0] == "delete" else flight[2])
                assert seen.get(name) in allowed, (name, seen.get(name), allowed, flight)
            model.clear()
            model.update(seen)
        assert counter > 20, "too few changes to mean anything"
    finally:
        d.stop()


def test_rate_limit_on_changes(tmp_path):
    """--rate-limit 2: a burst of 4 changes passes, the 5th is 429 with Retry-After; reads
    are not limited, and the bucket refills."""
    d = Hosteld(tmp_path, "--rate-limit", "2").start()
    try:
        codes = [create(d, f"vm{i}").status for i in range(6)]
        assert codes[:4] == [201] * 4 and 429 in codes[4:], codes
        r = d.request("POST", "/1.0/vms", {"name": "late"})
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1, r
        assert r.json["error"]["code"] == 429 and "too many" in r.json["error"]["message"]
        for _ in range(20):
            assert d.request("GET", "/1.0/vms").status == 200
        time.sleep(1.1)
        assert create(d, "after").status == 201
        assert [a["status"] for a in d.audit()].count(429) >= 2
    finally:
        d.stop()
