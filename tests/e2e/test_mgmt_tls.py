"""hosteld over HTTPS (--listen) with TLS client certificates, the trust store,
join tokens, and the client's remotes (docs/mgmt.md "Trust", docs/api.md).

The test clients' certificates are made with the openssl command (Debian's
openssl package, scripts/deps.sh): a fresh self-signed one per client, and
an expired one through `openssl ca` with dates in the past.  Every refusal
over TLS is asserted as what it is: the TLS handshake succeeds (the server
asks for a certificate but does not require one) and the request gets 403
with the API's error shape.
"""

import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

from mgmtd import HosteldTLS, REPO
from test_mgmt_cli import HOSTEL

OPENAPI = REPO / "docs" / "openapi.json"


def make_cert(d, name, expired=False):
    """A self-signed ECDSA client certificate under d: (crt, key) paths."""
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    if not expired:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "30", "-subj", f"/CN={name}"], check=True, capture_output=True)
        return str(crt), str(key)
    ca = d / f"{name}-ca"
    ca.mkdir()
    (ca / "index.txt").write_text("")
    (ca / "serial").write_text("01\n")
    (ca / "ca.cnf").write_text("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\n"
                               "new_certs_dir = .\nserial = serial\ndefault_md = sha256\n"
                               "policy = p\n[p]\ncommonName = supplied\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                    ca / "req.csr", "-subj", f"/CN={name}"], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-selfsign", "-notext", "-config", "ca.cnf",
                    "-keyfile", key, "-in", "req.csr", "-out", crt, "-startdate",
                    "20200101000000Z", "-enddate", "20200102000000Z"], cwd=ca, check=True,
                   capture_output=True)
    return str(crt), str(key)


def fingerprint(crt):
    out = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def trust(daemon, name, crt):
    """Trust crt under name through the unix socket."""
    r = daemon.request("POST", "/1.0/certificates",
                       {"name": name, "certificate": open(crt).read()})
    assert r.status == 201, r
    return r.json


def assert_403(r):
    assert r.status == 403, r
    assert r.json["error"]["code"] == 403 and "\n" not in r.json["error"]["message"]


@pytest.fixture
def tls(tmp_path):
    d = HosteldTLS(tmp_path / "d").start()
    yield d
    d.stop()
    assert d.proc.returncode == 0, d.log.read_text()


# ---- the server's identity ----


def test_server_key_and_certificate_made_on_first_start_and_kept(tmp_path):
    d = HosteldTLS(tmp_path / "d").start()
    key, crt = d.state / "server.key", d.state / "server.crt"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    text = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    assert "prime256v1" in text or "P-256" in text
    assert f"CN = {socket.gethostname()}" in text
    dates = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-enddate"], check=True,
                           capture_output=True, text=True).stdout
    assert int(dates.split()[-2]) >= time.gmtime().tm_year + 9
    fp = fingerprint(str(crt))
    r = d.https("GET", "/1.0")
    assert hashlib.sha256(r.peer_der).hexdigest() == fp  # the one the server presents
    assert r.json["certificate_fingerprint"] == fp
    d.stop()
    d.start()  # a restart keeps the identity
    assert fingerprint(str(crt)) == fp
    assert hashlib.sha256(d.https("GET", "/1.0").peer_der).hexdigest() == fp
    d.stop()


def test_only_tls_1_2_and_up(tls):
    import ssl
    for version, served in ((ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True),
                            (ssl.TLSVersion.TLSv1_3, True)):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = ctx.maximum_version = version
            if version == ssl.TLSVersion.TLSv1_1:
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            continue  # this OpenSSL cannot even offer it
        try:
            with socket.create_connection(("127.0.0.1", tls.port), timeout=5) as raw:
                with ctx.wrap_socket(raw) as s:
                    ok = s.version() is not None
        except (ssl.SSLError, ConnectionResetError):
            ok = False
        assert ok == served, version


def test_plain_http_on_the_tls_port_gets_no_http_answer(tls):
    with socket.create_connection(("127.0.0.1", tls.port), timeout=5) as s:
        s.sendall(b"GET /1.0/vms HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert not data.startswith(b"HTTP/")
    assert tls.request("GET", "/1.0").status == 200  # and the daemon goes on


def test_bad_listen_address_is_one_line_and_exit_1(tmp_path):
    from mgmtd import Hosteld, hosteld_bin
    for addr in ("nocolon", "256.1.1.1:1", "127.0.0.1:notaport"):
        (tmp_path / addr).mkdir()
        d = Hosteld(tmp_path / addr)
        r = subprocess.run([hosteld_bin(), "--state-dir", str(d.state), "--socket", d.sock,
                            "--listen", addr], capture_output=True, text=True, timeout=10)
        assert r.returncode in (1, 2), r
        assert r.stderr.startswith("hosteld: ") and r.stderr.count("\n") == 1, r.stderr
        assert addr in r.stderr
        assert not (d.state / "server.key").exists()  # nothing made for nothing


# ---- who is served ----


def test_trusted_client_is_served(tls, tmp_path):
    cert = make_cert(tmp_path / "c", "alice")
    assert tls.request("POST", "/1.0/vms", {"name": "vm1"}).status == 201
    entry = trust(tls, "alice", cert[0])
    assert entry["fingerprint"] == fingerprint(cert[0]) and entry["by"] == f"uid {os.getuid()}"
    r = tls.https("GET", "/1.0", cert=cert)
    assert r.status == 200 and r.json["auth"] == "trusted"
    assert r.json["addresses"] == [f"127.0.0.1:{tls.port}"]
    assert tls.https("GET", "/1.0/vms", cert=cert).json["vms"] == ["vm1"]
    r = tls.https("POST", "/1.0/vms", {"name": "vm2"}, cert=cert)
    assert r.status == 201, r
    # the audit log names the certificate behind a call over HTTPS
    line = [a for a in tls.audit() if a["path"] == "/1.0/vms" and a["status"] == 201][-1]
    assert line["cert"] == {"fingerprint": entry["fingerprint"], "name": "alice"}
    assert line["uid"] is None  # no uid over TCP
    # an untrusted caller's refused change is audited with its certificate too
    mallory = make_cert(tmp_path / "c", "mallory")
    assert_403(tls.https("DELETE", "/1.0/vms/vm1", cert=mallory))
    line = tls.audit()[-1]
    assert line["status"] == 403 and line["cert"] == {"fingerprint": fingerprint(mallory[0]),
                                                      "name": ""}


ROUTES = [("GET", "/"), ("GET", "/1.0/vms"), ("POST", "/1.0/vms"), ("GET", "/1.0/vms/vm1"),
          ("DELETE", "/1.0/vms/vm1"), ("PATCH", "/1.0/vms/vm1"), ("GET", "/1.0/openapi.json"),
          ("GET", "/1.0/certificates"), ("GET", "/1.0/certificates/tokens"),
          ("POST", "/1.0/certificates/tokens"), ("DELETE", "/1.0/certificates/" + "0" * 64),
          ("GET", "/1.0/nosuch")]


def _assert_refused_everywhere(tls, cert):
    for method, path in ROUTES:
        body = {"name": "x"} if method in ("POST", "PATCH") else None
        assert_403(tls.https(method, path, body, cert=cert))
    r = tls.https("POST", "/1.0/certificates", {"name": "me", "certificate": "x"}, cert=cert)
    assert_403(r)  # trusting oneself takes a token
    r = tls.https("GET", "/1.0", cert=cert)
    assert r.status == 200 and set(r.json) == {"api_version", "auth", "certificate_fingerprint"}
    assert r.json["auth"] == "untrusted"
    assert tls.request("GET", "/1.0/vms/vm1").status == 200  # nothing was changed


def test_no_client_certificate_is_refused(tls):
    assert tls.request("POST", "/1.0/vms", {"name": "vm1"}).status == 201
    _assert_refused_everywhere(tls, None)
    assert "certificate is required" in tls.https("GET", "/1.0/vms").json["error"]["message"]


def test_untrusted_client_certificate_is_refused(tls, tmp_path):
    assert tls.request("POST", "/1.0/vms", {"name": "vm1"}).status == 201
    trust(tls, "alice", make_cert(tmp_path / "c", "alice")[0])
    mallory = make_cert(tmp_path / "c", "mallory")
    _assert_refused_everywhere(tls, mallory)
    assert "not trusted" in tls.https("GET", "/1.0/vms", cert=mallory).json["error"]["message"]


def test_expired_certificate_is_refused_even_if_trusted(tmp_path):
    old = make_cert(tmp_path / "c", "old", expired=True)
    d = HosteldTLS(tmp_path / "d")
    # the admin cannot add it (not valid now) ...
    d.start()
    r = d.request("POST", "/1.0/certificates", {"name": "old", "certificate": open(old[0]).read()})
    assert r.status == 400 and "not valid now" in r.json["error"]["message"]
    d.stop()
    # ... and one that was trusted before it expired is refused all the same
    fp = fingerprint(old[0])
    (d.state / "trust" / f"{fp}.json").write_text(json.dumps(
        {"version": 1, "name": "old", "fingerprint": fp, "certificate": open(old[0]).read(),
         "added": "2020-01-01T00:00:00Z", "by": "uid 0"}))
    d.start()
    assert [c["name"] for c in d.request("GET", "/1.0/certificates").json] == ["old"]
    assert d.request("POST", "/1.0/vms", {"name": "vm1"}).status == 201
    _assert_refused_everywhere(d, old)
    r = d.https("GET", "/1.0/vms", cert=old)
    assert "not valid now" in r.json["error"]["message"]
    d.stop()
    assert d.proc.returncode == 0


def test_removed_certificate_is_refused_from_the_next_request(tls, tmp_path):
    cert = make_cert(tmp_path / "c", "alice")
    fp = trust(tls, "alice", cert[0])["fingerprint"]
    assert tls.https("GET", "/1.0/vms", cert=cert).status == 200
    assert tls.request("DELETE", f"/1.0/certificates/{fp}").status == 200
    assert not (tls.state / "trust" / f"{fp}.json").exists()
    assert_403(tls.https("GET", "/1.0/vms", cert=cert))
    assert tls.request("DELETE", f"/1.0/certificates/{fp}").status == 404


def test_trust_survives_a_restart_and_broken_documents_are_skipped(tmp_path):
    d = HosteldTLS(tmp_path / "d").start()
    cert = make_cert(tmp_path / "c", "alice")
    trust(d, "alice", cert[0])
    d.stop()
    (d.state / "trust" / ("f" * 64 + ".json")).write_text("{not json")
    (d.state / "trust" / ".x.json.tmp-abc").write_text("half")
    d.start()
    assert d.https("GET", "/1.0/vms", cert=cert).status == 200
    assert [c["name"] for c in d.request("GET", "/1.0/certificates").json] == ["alice"]
    assert (d.state / "trust" / ("f" * 64 + ".json")).exists()  # kept, not deleted
    assert not (d.state / "trust" / ".x.json.tmp-abc").exists()
    d.stop()


# ---- managing trust ----


def test_certificate_routes_errors(tls, tmp_path):
    crt = make_cert(tmp_path / "c", "alice")[0]
    pem = open(crt).read()
    fp = trust(tls, "alice", crt)["fingerprint"]
    assert tls.request("GET", f"/1.0/certificates/{fp}").json["name"] == "alice"
    assert tls.request("GET", "/1.0/certificates/" + "a" * 64).status == 404
    other = open(make_cert(tmp_path / "c", "bob")[0]).read()
    cases = [({"name": "alice2", "certificate": pem}, 409),  # the same certificate
             ({"name": "alice", "certificate": other}, 409),  # the same name
             ({"name": "bob", "certificate": "not a pem"}, 400),
             ({"name": "bob"}, 400),
             ({"name": "bob", "certificate": other, "extra": 1}, 400),
             ({"name": 5, "certificate": other}, 400),
             ({"token": "x", "name": "bob"}, 400)]
    for body, status in cases:
        r = tls.request("POST", "/1.0/certificates", body)
        assert r.status == status and r.json["error"]["code"] == status, (body, r)


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "/etc/passwd", ".hidden", "-rf", "",
                                  "x" * 65, "a b", "é"])
def test_names_that_escape_are_refused(tls, tmp_path, name):
    crt = make_cert(tmp_path / "c", "n")[0]
    before = sorted(p.name for p in tls.state.rglob("*"))
    r = tls.request("POST", "/1.0/certificates", {"name": name, "certificate": open(crt).read()})
    assert r.status == 400 and r.json["error"]["code"] == 400, r
    r = tls.request("POST", "/1.0/certificates/tokens", {"name": name})
    assert r.status == 400, r
    assert sorted(p.name for p in tls.state.rglob("*")) == before
    assert tls.request("GET", "/1.0/certificates").json == []


def test_path_escapes_in_certificate_routes_are_refused(tls):
    for path in ("/1.0/certificates/..", "/1.0/certificates/%2E%2E%2Fvms",
                 "/1.0/certificates/tokens/..", "/1.0/certificates/" + "a" * 200):
        r = tls.request("DELETE", path)
        assert r.status in (400, 404) and r.json["error"]["code"] == r.status, (path, r)
    assert (tls.state / "vms").is_dir()


def test_certificate_routes_are_in_the_openapi_document(tls):
    doc = json.loads(OPENAPI.read_text())
    ops = {(p, m.upper()) for p, o in doc["paths"].items() for m in o if m != "parameters"}
    mine = {op for op in ops if op[0].startswith("/1.0/certificates")}
    assert mine == {("/1.0/certificates", "GET"), ("/1.0/certificates", "POST"),
                    ("/1.0/certificates/{fingerprint}", "GET"),
                    ("/1.0/certificates/{fingerprint}", "DELETE"),
                    ("/1.0/certificates/tokens", "GET"), ("/1.0/certificates/tokens", "POST"),
                    ("/1.0/certificates/tokens/{id}", "DELETE")}
    concrete = {"{fingerprint}": "0" * 64, "{id}": "0" * 16}
    for path, method in mine:  # each is answered (not 404 for the route, never 405)
        for k, v in concrete.items():
            path = path.replace(k, v)
        r = tls.request(method, path, {} if method == "POST" else None)
        assert r.status != 405 and (r.status != 404 or "no such resource" not in r.raw.decode())
    for method in ("PUT", "PATCH"):  # and nothing else
        for path in ("/1.0/certificates", "/1.0/certificates/tokens", "/1.0/certificates/" + "0" * 64):
            assert tls.request(method, path, {}).status == 405


# ---- join tokens ----


def _token(daemon, name):
    r = daemon.request("POST", "/1.0/certificates/tokens", {"name": name})
    assert r.status == 201, r
    return r.json


def test_join_token_works_once(tls, tmp_path):
    import base64
    r = tls.request("POST", "/1.0/certificates/tokens", {"name": "laptop"})
    assert r.status == 201 and len(r.json["id"]) == 16
    assert r.headers["Location"] == f"/1.0/certificates/tokens/{r.json['id']}"
    k = r.json
    blob = json.loads(base64.urlsafe_b64decode(k["token"] + "=" * (-len(k["token"]) % 4)))
    assert blob["fingerprint"] == fingerprint(str(tls.state / "server.crt"))
    assert blob["addresses"] == [f"127.0.0.1:{tls.port}"] and blob["name"] == "laptop"
    assert len(base64.urlsafe_b64decode(blob["secret"] + "=")) == 32
    assert [t["id"] for t in tls.request("GET", "/1.0/certificates/tokens").json] == [k["id"]]
    cert = make_cert(tmp_path / "c", "laptop")
    assert_403(tls.https("GET", "/1.0/vms", cert=cert))
    r = tls.https("POST", "/1.0/certificates", {"token": k["token"]}, cert=cert)
    assert r.status == 201, r
    assert r.json["name"] == "laptop" and r.json["fingerprint"] == fingerprint(cert[0])
    assert r.json["by"] == "token"
    assert tls.https("GET", "/1.0/vms", cert=cert).status == 200
    assert tls.request("GET", "/1.0/certificates/tokens").json == []
    # not twice, not for another certificate
    other = make_cert(tmp_path / "c", "other")
    assert_403(tls.https("POST", "/1.0/certificates", {"token": k["token"]}, cert=other))
    assert_403(tls.https("GET", "/1.0/vms", cert=other))


def test_join_token_needs_a_client_certificate_and_a_real_token(tls, tmp_path):
    k = _token(tls, "laptop")
    r = tls.https("POST", "/1.0/certificates", {"token": k["token"]})
    assert r.status == 400 and "certificate" in r.json["error"]["message"]
    cert = make_cert(tmp_path / "c", "laptop")
    # garbage, a well-formed blob with a wrong secret, a truncated token, an oversized one
    for bad in ("", "x", "eyJzZWNyZXQiOiJ4In0", k["token"][:-3] + "AAA", "!" * 5000):
        assert_403(tls.https("POST", "/1.0/certificates", {"token": bad}, cert=cert))
    assert tls.request("GET", "/1.0/certificates").json == []
    # the real one still works (a failed guess does not spend it)
    assert tls.https("POST", "/1.0/certificates", {"token": k["token"]}, cert=cert).status == 201


def test_join_token_expires(tmp_path):
    d = HosteldTLS(tmp_path / "d", "--token-ttl", "1").start()
    k = _token(d, "laptop")
    time.sleep(2.2)
    cert = make_cert(tmp_path / "c", "laptop")
    r = d.https("POST", "/1.0/certificates", {"token": k["token"]}, cert=cert)
    assert_403(r)
    assert "expired" in r.json["error"]["message"]
    assert d.request("GET", "/1.0/certificates").json == []
    assert d.request("GET", "/1.0/certificates/tokens").json == []
    d.stop()


def test_revoked_join_token_is_refused(tls, tmp_path):
    k = _token(tls, "laptop")
    assert tls.request("DELETE", f"/1.0/certificates/tokens/{k['id']}").status == 200
    assert tls.request("DELETE", f"/1.0/certificates/tokens/{k['id']}").status == 404
    cert = make_cert(tmp_path / "c", "laptop")
    assert_403(tls.https("POST", "/1.0/certificates", {"token": k["token"]}, cert=cert))


def test_token_for_a_trusted_name_is_409(tls, tmp_path):
    trust(tls, "alice", make_cert(tmp_path / "c", "alice")[0])
    assert tls.request("POST", "/1.0/certificates/tokens", {"name": "alice"}).status == 409


# ---- the client: remotes ----


def run(env, *args, ok=True):
    r = subprocess.run([HOSTEL, *args], env=env, capture_output=True, text=True, timeout=60)
    if ok is not None:
        assert (r.returncode == 0) == ok, r
    return r


@pytest.fixture
def client_env(tmp_path):
    env = dict(os.environ)
    env.pop("HOSTEL_SOCKET", None)
    env.pop("HOSTEL_REMOTE", None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    return env


def test_remote_add_with_token_then_remote_verbs(tmp_path, client_env):
    from mgmtd import Hosteld
    (tmp_path / "here").mkdir()
    here = Hosteld(tmp_path / "here").start()  # the local daemon
    there = HosteldTLS(tmp_path / "there").start()  # the second host, on TCP
    try:
        env = dict(client_env, HOSTEL_SOCKET=here.sock)
        run(env, "--socket", there.sock, "create", "vm1")
        run(env, "create", "local1")
        token = run(env, "--socket", there.sock, "trust", "token", "laptop").stdout.strip()
        r = run(client_env, "remote", "add", "host2", there.url, "--token", token)
        assert fingerprint(str(there.state / "server.crt")) in r.stdout
        cfg = tmp_path / "cfg" / "hostel"
        assert oct((cfg / "client.key").stat().st_mode & 0o777) == "0o600"
        remotes = json.loads((cfg / "remotes.json").read_text())
        assert remotes["remotes"]["host2"]["url"] == there.url
        # the client's certificate is now trusted on host2 under the token's name
        names = [c["name"] for c in there.request("GET", "/1.0/certificates").json]
        assert names == ["laptop"]
        r = run(env, "--remote", "host2", "list")
        assert "vm1" in r.stdout and "local1" not in r.stdout
        assert "local1" in run(env, "list").stdout  # the socket is still the default
        r = run(env, "info", "host2:vm1")
        assert "name:        vm1" in r.stdout
        r = run(env, "--remote", "host2", "info", "vm1", "--json")
        assert json.loads(r.stdout)["name"] == "vm1"
        run(env, "create", "host2:vm3")
        assert there.request("GET", "/1.0/vms/vm3").status == 200
        run(env, "delete", "host2:vm3")
        assert there.request("GET", "/1.0/vms/vm3").status == 404
        r = run(env, "info", "host2:nosuch", ok=False)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "nosuch" in r.stderr
        r = run(env, "--remote", "host2", "trust", "list")
        assert "laptop" in r.stdout
        # the token was spent: another client (its own certificate) cannot use it
        other = dict(client_env, XDG_CONFIG_HOME=str(tmp_path / "cfg2"))
        r = run(other, "remote", "add", "host2", there.url, "--token", token, ok=False)
        assert "already used" in r.stderr and r.stderr.splitlines()[-1].startswith("hostel: ")
        assert not (tmp_path / "cfg2" / "hostel" / "remotes.json").exists()
        # remote list / switch / remove
        r = run(client_env, "remote", "list")
        assert "host2" in r.stdout and there.url in r.stdout
        run(client_env, "remote", "switch", "host2")
        assert "vm1" in run(client_env, "list").stdout  # the default is now host2
        run(client_env, "remote", "switch", "local")
        run(client_env, "remote", "remove", "host2")
        r = run(env, "--remote", "host2", "list", ok=False)
        assert r.returncode == 1 and "no remote named 'host2'" in r.stderr
    finally:
        here.stop()
        there.stop()


def test_remote_pins_the_server(tmp_path, client_env):
    a = HosteldTLS(tmp_path / "a").start()
    try:
        token = run(dict(client_env, HOSTEL_SOCKET=a.sock), "trust", "token", "me").stdout.strip()
        run(client_env, "remote", "add", "r", a.url, "--token", token)
        assert run(client_env, "--remote", "r", "list").returncode == 0
    finally:
        a.stop()
    # another server (another key) on the same address is refused before anything is sent
    b = HosteldTLS(tmp_path / "b", port=a.port).start()
    try:
        r = run(client_env, "--remote", "r", "list", ok=False)
        assert r.returncode == 1 and "pinned" in r.stderr and r.stderr.count("\n") == 1
        # a token that names another server is refused too
        token_b = run(dict(client_env, HOSTEL_SOCKET=b.sock), "trust", "token", "me").stdout
        c = HosteldTLS(tmp_path / "c").start()
        try:
            r = run(client_env, "remote", "add", "r2", c.url, "--token", token_b.strip(), ok=False)
            assert "not" in r.stderr and "token" in r.stderr, r.stderr
            assert b.request("GET", "/1.0/certificates/tokens").json != []  # not spent
        finally:
            c.stop()
    finally:
        b.stop()


def test_remote_add_without_token_then_trust_add(tmp_path, client_env):
    d = HosteldTLS(tmp_path / "d").start()
    try:
        fp = fingerprint(str(d.state / "server.crt"))
        r = run(client_env, "remote", "add", "r", d.url, ok=False)
        assert r.returncode == 1 and fp in r.stderr and "--accept-certificate" in r.stderr
        assert not (tmp_path / "cfg" / "hostel" / "remotes.json").exists()
        run(client_env, "remote", "add", "r", d.url, "--accept-certificate")
        r = run(client_env, "--remote", "r", "list", ok=False)
        assert r.returncode == 1 and "not trusted" in r.stderr
        crt = str(tmp_path / "cfg" / "hostel" / "client.crt")
        local = dict(client_env, HOSTEL_SOCKET=d.sock)
        run(local, "trust", "add", "laptop", crt)
        run(client_env, "--remote", "r", "list")
        assert "laptop" in run(local, "trust", "list").stdout
        # adding it again with a token: already trusted, so the token is left unspent
        run(client_env, "remote", "remove", "r")
        token = run(local, "trust", "token", "again").stdout.strip()
        r = run(client_env, "remote", "add", "r", d.url, "--token", token)
        assert "already" in r.stdout
        assert [k["name"] for k in d.request("GET", "/1.0/certificates/tokens").json] == ["again"]
        run(local, "trust", "remove", "laptop")
        r = run(client_env, "--remote", "r", "list", ok=False)
        assert "not trusted" in r.stderr
        r = run(local, "trust", "remove", "laptop", ok=False)
        assert r.returncode == 1
    finally:
        d.stop()


def test_trust_and_remote_usage_errors(tmp_path, client_env):
    for args in (["remote"], ["remote", "frob"], ["remote", "add", "x"],
                 ["remote", "add", "../x", "https://127.0.0.1:1"],
                 ["remote", "add", "local", "https://127.0.0.1:1"],
                 ["trust"], ["trust", "add", "x"], ["trust", "token"]):
        r = run(client_env, *args, ok=False)
        assert r.returncode == 2 and r.stderr.startswith(("hostel", "usage: hostel")), (args, r)
    r = run(client_env, "remote", "add", "x", "http://127.0.0.1:1", "--accept-certificate",
            ok=False)
    assert r.returncode == 1 and "https://" in r.stderr
    r = run(client_env, "remote", "add", "x", f"https://127.0.0.1:{free_port_()}",
            "--accept-certificate", ok=False)
    assert r.returncode == 1 and r.stderr.splitlines()[-1].startswith("hostel: no hosteld answers")
    r = run(client_env, "remote", "add", "x", "https://127.0.0.1:1", "--token", "garbage",
            ok=False)
    assert r.returncode == 1 and "not a hostel join token" in r.stderr
    r = run(client_env, "trust", "add", "x", str(tmp_path / "missing.crt"), ok=False)
    assert r.returncode == 1 and "missing.crt" in r.stderr
    for args in (["remote", "--help"], ["trust", "--help"]):
        assert "usage: hostel" in run(client_env, *args).stdout


def free_port_():
    from mgmtd import free_port
    return free_port()


def test_join_tokens_are_capped(tls):
    ids = [_token(tls, f"n{i}")["id"] for i in range(64)]
    r = tls.request("POST", "/1.0/certificates/tokens", {"name": "one-more"})
    assert r.status == 429 and r.json["error"]["code"] == 429, r
    assert tls.request("DELETE", f"/1.0/certificates/tokens/{ids[0]}").status == 200
    assert tls.request("POST", "/1.0/certificates/tokens", {"name": "one-more"}).status == 201


# ---- hostile TLS clients ----


def test_silent_and_trickling_tls_clients_are_dropped_others_served(tmp_path):
    d = HosteldTLS(tmp_path / "d", "--timeout", "2").start()
    try:
        cert = make_cert(tmp_path / "c", "alice")
        trust(d, "alice", cert[0])
        silent = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        trickle = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        trickle.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing more
        t0 = time.monotonic()
        r = d.https("GET", "/1.0/vms", cert=cert, timeout=5)
        assert r.status == 200 and time.monotonic() - t0 < 1.0
        for s in (silent, trickle):
            try:
                data = s.recv(4096)
                while data and time.monotonic() - t0 < 8:
                    data = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                data = b""
            assert data == b"" and time.monotonic() - t0 < 8  # closed by the daemon
            s.close()
        assert d.https("GET", "/1.0/vms", cert=cert).status == 200
    finally:
        d.stop()
    assert d.proc.returncode == 0
