"""Live migration (issue 13), first slice: pre-copy between two VMMs on one host.

- A running guest prints a sha256 chain while it is migrated over a unix socket: the
  destination's console continues the chain with no gap and no repeat, a file in the
  guest's tmpfs survives, the source exits 0 after the destination confirmed.
- A destination that dies mid-stream, closes without confirming, or refuses the stream:
  the source reports an error and its guest keeps running.
- migrate-cancel while the destination does not read: the source goes on.
- Garbage, truncated and corrupted streams given to `hostel run --incoming`: one line on
  stderr, exit status 1.
- Auto-converge: a guest rewriting 64 MiB in place over a 32 MB/s link converges (throttled)
  and its data survive; with --no-auto-converge it reaches the round cap.
- announce-self: a switch learns the guest's MAC on the destination's port.
- A real destination SIGKILLed in round 0, then a migration over tcp:127.0.0.1; a real
  destination SIGKILLed in round 2 of a throttled migration; the source SIGKILLed in round 0
  (the destination refuses the cut stream and never opens the disk).
- --compress zstd sends fewer bytes; TLS with mutual certificates, and its refusals.
- Ten migrations in a row at random points while the guest prints the chain and writes its
  disk: the chain is whole, every block holds what was written, qemu-img check passes.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time

import pexpect
import pytest

from vmtest import HOSTEL, PROMPT, spawn, hostel, wait_exit
from test_state import CHAIN, expected_chain

CMDLINE = "console=ttyS0"
JOB = ("(h=hostel; i=0; while [ ! -e /tmp/stop ]; do "
       "h=$(echo $h | sha256sum | cut -c1-64); i=$((i+1)); echo \"chain $i $h\"; done; "
       "echo chain-fin\"\"ished) &")


def start_source(guest, vm_env, tmp_path, name="msrc", mem="256M", net="none"):
    log = open(tmp_path / f"{name}.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "-m", mem, "-k", str(guest.kernel), "-i", str(guest.initrd),
                   "-p", CMDLINE, "--net", net, "--name", name], vm_env, log)
    child.expect(PROMPT)
    return child, log


def start_destination(vm_env, tmp_path, uri, name="mdst"):
    log = open(tmp_path / f"{name}.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "--incoming", uri, "--name", name], vm_env, log)
    return child, log


def wait_path(path, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def still_answers(child):
    child.sendline("echo alive-$((40+2))")
    child.expect("alive-42", timeout=30)


def test_migrate_running_guest_continues_at_destination(guest, vm_env, tmp_path):
    src, src_log = start_source(guest, vm_env, tmp_path)
    src.sendline("echo kept > /tmp/keep && echo wrote-keep")
    src.expect("wrote-keep")
    src.expect(PROMPT)
    src.sendline(JOB)
    for _ in range(20):  # the chain is running
        src.expect(CHAIN)
    sock = str(tmp_path / "mig.sock")
    dst, dst_log = start_destination(vm_env, tmp_path, f"unix:{sock}")
    wait_path(sock)
    r = hostel(vm_env, "migrate", "--json", "msrc", f"unix:{sock}")
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout)
    print("migration figures:", figures)
    assert figures["rounds"] >= 1 and figures["bytes"] > 1 << 20
    assert 0 < figures["downtime-ms"] < figures["total-ms"]
    assert wait_exit(src) == 0
    for _ in range(20):  # the chain goes on at the destination
        dst.expect(CHAIN)
    dst.sendline("touch /tmp/stop")
    dst.expect("chain-finished")
    dst.sendline("cat /tmp/keep")
    dst.expect("kept")
    src_log.flush()
    dst_log.flush()
    text = (tmp_path / "msrc.log").read_text(errors="replace").replace("\r", "")
    text = text.replace("\nhostel: migrated (the VM runs at the destination)\n", "")
    text += (tmp_path / "mdst.log").read_text(errors="replace").replace("\r", "")
    seen = [(int(n), h) for n, h in CHAIN.findall(text)]
    assert len(seen) >= 40
    assert seen == expected_chain(len(seen)), "chain lines lost, repeated or wrong"
    dst.sendline("poweroff")
    assert wait_exit(dst) == 0


class FakeDestination:
    """A listener that misbehaves: how='close-mid' reads 1 MiB and hangs up; 'no-confirm'
    reads until the source goes quiet and hangs up; 'refuse' does that, then answers an
    error line; 'stall' accepts and never reads."""

    def __init__(self, path, how):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.how, self.data = how, bytearray()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.srv.accept()
        if self.how == "stall":
            self.conn = conn
            return
        conn.settimeout(1.0)
        try:
            while True:
                b = conn.recv(1 << 16)
                if not b:
                    break
                self.data += b
                if self.how == "close-mid" and len(self.data) >= 1 << 20:
                    break
        except socket.timeout:
            pass
        if self.how == "refuse":
            conn.sendall(b'{"migrate": "error", "desc": "no thanks"}\n')
        conn.close()


@pytest.mark.parametrize("how", ["close-mid", "no-confirm", "refuse"])
def test_failed_destination_leaves_source_running(guest, vm_env, tmp_path, how):
    src, _ = start_source(guest, vm_env, tmp_path, mem="128M")
    path = str(tmp_path / "fake.sock")
    fake = FakeDestination(path, how)
    r = hostel(vm_env, "migrate", "msrc", f"unix:{path}")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "migration failed" in lines[0], r.stderr
    if how == "refuse":
        assert "no thanks" in lines[0]
    still_answers(src)
    q = json.loads(hostel(vm_env, "ctl", "msrc", "query-migrate").stdout)
    assert q["state"] == "failed"
    st = json.loads(hostel(vm_env, "ctl", "msrc", "status").stdout)
    assert st["status"] == "running"
    if how == "no-confirm":
        # What the source sent is a whole stream; feed it back to --incoming, cut and flipped.
        data = bytes(fake.data)
        assert data[:8] == b"HOSTELVM"
        for bad in (data[: len(data) // 2], data[:-3] + bytes([data[-3] ^ 1]) + data[-2:]):
            refused_incoming(vm_env, tmp_path, bad)
    src.sendline("poweroff")
    assert wait_exit(src) == 0


def test_cancel_leaves_source_running(guest, vm_env, tmp_path):
    src, _ = start_source(guest, vm_env, tmp_path, mem="128M")
    path = str(tmp_path / "stall.sock")
    fake = FakeDestination(path, "stall")  # keeps the connection open, unread
    proc = subprocess.Popen([HOSTEL, "migrate", "msrc", f"unix:{path}"], env=vm_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while True:
        q = json.loads(hostel(vm_env, "ctl", "msrc", "query-migrate").stdout)
        if q["state"] == "active":  # blocked in its first write: the peer reads nothing
            break
        assert time.time() < deadline, (q, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(0.05)
    r = hostel(vm_env, "ctl", "msrc", "migrate-cancel")
    assert r.returncode == 0, r.stderr
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "cancelled" in err, err
    q = json.loads(hostel(vm_env, "ctl", "msrc", "query-migrate").stdout)
    assert q["state"] == "cancelled"
    r = hostel(vm_env, "ctl", "msrc", "migrate-cancel")
    assert r.returncode == 1 and "no migration" in r.stderr
    fake.conn.close()
    still_answers(src)
    src.sendline("poweroff")
    assert wait_exit(src) == 0


def refused_incoming(vm_env, tmp_path, data):
    sock = str(tmp_path / "in.sock")
    proc = subprocess.Popen([HOSTEL, "run", "--incoming", f"unix:{sock}"], env=vm_env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_path(sock)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    out, err = proc.communicate(timeout=60)
    reply = c.recv(4096)
    c.close()
    assert proc.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert reply.startswith(b'{"migrate":"error"'), reply
    return err


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, b"HOSTELVM" + b"\0" * 20,
                                  b"HOSTELVM\1\0\0\0\x1c\0\0\0" + b"\0" * 12 + b"\xff" * 64])
def test_incoming_refuses_bad_streams(vm_env, tmp_path, data):
    err = refused_incoming(vm_env, tmp_path, data)
    assert "hostel" in err


def test_incoming_usage_errors(vm_env):
    r = hostel(vm_env, "run", "--incoming", "bogus:1")
    assert r.returncode != 0 and "unix:PATH" in r.stderr
    r = hostel(vm_env, "run", "--incoming", "unix:/tmp/x.sock", "-m", "64M")
    assert r.returncode == 2 and "migration stream" in r.stderr
    r = hostel(vm_env, "run", "--incoming", "unix:/tmp/x.sock", "--net", "none")
    assert r.returncode == 2 and "keeps its cards" in r.stderr
    r = hostel(vm_env, "migrate", "only-one-arg")
    assert r.returncode == 2
    r = hostel(vm_env, "migrate", "novm", "unix:/tmp/none.sock")
    assert r.returncode == 1 and "no VM named" in r.stderr


REWRITE_MIB = 64
REWRITE_LINK_MBS = "32"  # the cap below what the guest rewrites (~40-80 MB/s here)


def start_rewriting_guest(guest, vm_env, tmp_path):
    """A 256 MiB guest rewriting a 64 MiB file of random bytes in place, as fast as it can
    (every page of it dirtied again every ~1-2 s): the source, and the file's md5."""
    src, log = start_source(guest, vm_env, tmp_path)
    src.sendline("dd if=/dev/urandom of=/tmp/r1 bs=64k count=16 2>/dev/null; "
                 f"for i in $(seq {REWRITE_MIB}); do cat /tmp/r1; done > /tmp/big; "
                 "md5sum /tmp/big")
    src.expect(r"([0-9a-f]{32})  /tmp/big", timeout=120)
    md5 = src.match.group(1)
    src.expect(PROMPT)
    src.sendline("(n=0; while :; do dd if=/tmp/big of=/tmp/big bs=1M conv=notrunc 2>/dev/null; "
                 "n=$((n+1)); echo $n > /tmp/passes; done) &")
    src.expect(PROMPT)
    time.sleep(2)
    return src, md5


def migrate_rewriting(vm_env, tmp_path, *extra):
    sock = str(tmp_path / "mig.sock")
    dst, _ = start_destination(vm_env, tmp_path, f"unix:{sock}")
    wait_path(sock)
    t0 = time.time()
    r = subprocess.run([HOSTEL, "migrate", "--json", "--bandwidth", REWRITE_LINK_MBS,
                        "--max-rounds", "20", *extra, "msrc", f"unix:{sock}"], env=vm_env,
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout)
    print("rewriting guest", extra, "figures:", figures, f"wall {time.time() - t0:.1f} s")
    return dst, figures


def check_rewriting_intact(dst, md5):
    dst.sendline("a=$(cat /tmp/passes); md5sum /tmp/big; b=$(cat /tmp/passes); "
                 "echo passes $a $b")
    dst.expect(r"([0-9a-f]{32})  /tmp/big", timeout=120)
    got = dst.match.group(1)
    dst.expect(r"passes (\d+) (\d+)")
    assert int(dst.match.group(2)) > int(dst.match.group(1)), "the rewriting loop stopped"
    assert got == md5, "the rewritten file changed in the move"
    dst.sendline("poweroff")
    assert wait_exit(dst) == 0


def test_auto_converge_moves_a_rewriting_guest(guest, vm_env, tmp_path):
    """The guest dirties faster than the (capped) link carries: auto-converge, on by
    default, throttles it until the rest fits 10 ms; the data and the loop survive."""
    src, md5 = start_rewriting_guest(guest, vm_env, tmp_path)
    dst, f = migrate_rewriting(vm_env, tmp_path)
    assert f["converged"] is True and f["throttle-pct"] >= 20
    assert f["total-ms"] < 60000 and f["downtime-ms"] < 1000
    assert wait_exit(src) == 0
    check_rewriting_intact(dst, md5)


def test_rewriting_guest_does_not_converge_without_auto_converge(guest, vm_env, tmp_path):
    """The same guest and link with --no-auto-converge: every round is as large as the
    last, the round cap forces the switch-over, and the pause is seconds, not ms."""
    src, md5 = start_rewriting_guest(guest, vm_env, tmp_path)
    dst, f = migrate_rewriting(vm_env, tmp_path, "--no-auto-converge")
    assert f["converged"] is False and f["throttle-pct"] == 0 and f["rounds"] == 20
    assert f["downtime-ms"] > 500
    assert wait_exit(src) == 0
    check_rewriting_intact(dst, md5)


def test_destination_announces_the_guest_mac(guest, vm_env, tmp_path):
    """After the switch-over the destination sends RARP frames with the card's MAC
    (announce-self): the switch learns the VM's new port while the guest, its eth0
    down, sends nothing."""
    from switchtest import Switch, wait_for
    mac = "52:54:00:13:00:01"
    sw = Switch(tmp_path / "sw" if (tmp_path / "sw").mkdir() is None else None,
                {"name": "lan"}, listen=True)
    try:
        src, _ = start_source(guest, vm_env, tmp_path, mem="128M",
                              net=f"socket,path={sw.listen_path},mac={mac}")
        src.sendline("ip link set eth0 down; echo eth0-$((1+1))down")
        src.expect("eth0-2down")
        sock = str(tmp_path / "mig.sock")
        dst, _ = start_destination(vm_env, tmp_path, f"unix:{sock}")
        wait_path(sock)
        r = hostel(vm_env, "migrate", "msrc", f"unix:{sock}")
        assert r.returncode == 0, r.stderr
        assert wait_exit(src) == 0

        def dst_port():
            ports = [p for p in sw.ctl.call("query-ports")["ports"] if p["kind"] == "listen"]
            return ports[0] if len(ports) == 1 else None
        port = wait_for(dst_port)
        assert port, "the source's port did not go or the destination's did not come"

        def learned():
            fdb = {e["mac"]: e for e in sw.ctl.call("query-fdb")["fdb"]}
            return fdb.get(mac, {}).get("port") == port["name"]
        assert wait_for(learned, timeout=5), sw.ctl.call("query-fdb")
        assert wait_for(lambda: dst_port()["stats"]["rx-frames"] >= 5, timeout=5), dst_port()
        time.sleep(1)
        assert dst_port()["stats"]["rx-frames"] == 5, "five frames, then quiet"
        still_answers(dst)
        dst.sendline("poweroff")
        assert wait_exit(dst) == 0
    finally:
        assert sw.stop() == 0


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_killed_destination_then_tcp_migration(guest, vm_env, tmp_path):
    """A real `hostel run --incoming` SIGKILLed in the middle of round 0 (a capped link
    makes round 0 last ~2 s): the source keeps running and says failed; then the same VM
    migrates over tcp:127.0.0.1:PORT to a new destination."""
    src, _ = start_source(guest, vm_env, tmp_path)
    sock = str(tmp_path / "mig.sock")
    dst, _ = start_destination(vm_env, tmp_path, f"unix:{sock}", name="mdst1")
    wait_path(sock)
    proc = subprocess.Popen([HOSTEL, "migrate", "--bandwidth", "8", "msrc", f"unix:{sock}"],
                            env=vm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while True:
        q = json.loads(hostel(vm_env, "ctl", "msrc", "query-migrate").stdout)
        if q["state"] == "active" and q["round"] == 0 and q["bytes"] > 4 << 20:
            break
        assert time.time() < deadline, q
        time.sleep(0.05)
    os.kill(dst.pid, 9)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "migration failed" in err, err
    q = json.loads(hostel(vm_env, "ctl", "msrc", "query-migrate").stdout)
    assert q["state"] == "failed" and q["round"] == 0 and q["throttle-pct"] == 0, q
    still_answers(src)

    port = free_tcp_port()
    dst2, _ = start_destination(vm_env, tmp_path, f"tcp:127.0.0.1:{port}", name="mdst2")
    deadline = time.time() + 30
    while subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                         text=True).stdout.strip() == "":
        assert time.time() < deadline, "the destination never listened"
        time.sleep(0.05)
    r = hostel(vm_env, "migrate", "msrc", f"tcp:127.0.0.1:{port}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("migrated: total"), r.stdout
    assert wait_exit(src) == 0
    still_answers(dst2)
    dst2.sendline("poweroff")
    assert wait_exit(dst2) == 0


def test_compressed_migration_sends_fewer_bytes(guest, vm_env, tmp_path):
    """--compress zstd: the guest moves on (its tmpfs file and its shell intact) in fewer
    bytes than the same guest's plain migration just before; a bad level is refused."""
    src, _ = start_source(guest, vm_env, tmp_path)
    src.sendline("echo kept-$((6*7)) > /tmp/keep && echo wrote-keep")
    src.expect("wrote-keep")
    r = hostel(vm_env, "migrate", "--compress", "zstd", "--compress-level", "25", "msrc",
               "unix:/nonexistent")
    assert r.returncode == 2 and "--compress-level" in r.stderr
    r = hostel(vm_env, "migrate", "--compress", "lz4", "msrc", "unix:/nonexistent")
    assert r.returncode == 1 and "compress" in r.stderr
    still_answers(src)
    sizes = {}
    for how, frm, to in (("plain", "msrc", "mid"), ("zstd", "mid", "mdst")):
        sock = str(tmp_path / f"{to}.sock")
        dst, _ = start_destination(vm_env, tmp_path, f"unix:{sock}", name=to)
        wait_path(sock)
        extra = ["--compress", "zstd"] if how == "zstd" else []
        r = hostel(vm_env, "migrate", "--json", *extra, frm, f"unix:{sock}")
        assert r.returncode == 0, r.stderr
        sizes[how] = json.loads(r.stdout)["bytes"]
        assert wait_exit(src) == 0
        src = dst
    print("migration bytes:", sizes)
    assert sizes["zstd"] < 0.6 * sizes["plain"]
    src.sendline("cat /tmp/keep")
    src.expect("kept-42")
    still_answers(src)
    src.sendline("poweroff")
    assert wait_exit(src) == 0


def make_ca(d, name):
    """A CA (d/ca-cert.pem, d/ca-key.pem) made with openssl."""
    d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-keyout", str(d / "ca-key.pem"), "-out", str(d / "ca-cert.pem")],
                   check=True, capture_output=True)


def make_cert(d, ca, who, san):
    """d/WHO-cert.pem and d/WHO-key.pem signed by the CA in directory ca, with ca's CA cert."""
    d.mkdir(parents=True, exist_ok=True)
    ext = d / f"{who}.ext"
    usage = "serverAuth" if who == "server" else "clientAuth"
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n"
                   "keyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", f"/CN={who}", "-keyout", str(d / f"{who}-key.pem"),
                    "-out", str(d / f"{who}.csr")], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(d / f"{who}.csr"), "-days", "2",
                    "-CA", str(ca / "ca-cert.pem"), "-CAkey", str(ca / "ca-key.pem"),
                    "-CAcreateserial", "-extfile", str(ext), "-out", str(d / f"{who}-cert.pem")],
                   check=True, capture_output=True)
    (d / "ca-cert.pem").write_bytes((ca / "ca-cert.pem").read_bytes())


def start_tls_destination(vm_env, tmp_path, creds, name):
    """`hostel run --incoming tcp:127.0.0.1:PORT --tls-creds CREDS`, once it listens."""
    port = free_tcp_port()
    log = open(tmp_path / f"{name}.log", "w", encoding="utf-8", errors="replace")
    child = spawn([HOSTEL, "run", "--incoming", f"tcp:127.0.0.1:{port}", "--tls-creds",
                   str(creds), "--name", name], vm_env, log)
    deadline = time.time() + 30
    while subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                         text=True).stdout.strip() == "":
        assert time.time() < deadline, "the destination never listened"
        time.sleep(0.05)
    return child, f"tcp:127.0.0.1:{port}"


def test_tls_migration_with_mutual_certificates(guest, vm_env, tmp_path):
    """--tls-creds on both sides: a source whose certificate another CA signed, a
    destination whose certificate does not hold the name asked for, and a plain stream to a
    TLS destination are refused (the guest goes on at the source); with the right
    certificates the guest moves over TLS."""
    ca, rogue = tmp_path / "ca", tmp_path / "rogue"
    make_ca(ca, "hostel test CA")
    make_ca(rogue, "someone else")
    make_cert(tmp_path / "dst", ca, "server", "IP:127.0.0.1,DNS:localhost")
    make_cert(tmp_path / "src", ca, "client", "DNS:source")
    make_cert(tmp_path / "bad", rogue, "client", "DNS:source")
    # It trusts the right CA (it accepts the destination); only its own certificate is wrong.
    (tmp_path / "bad" / "ca-cert.pem").write_bytes((ca / "ca-cert.pem").read_bytes())
    src, _ = start_source(guest, vm_env, tmp_path)
    src.sendline("echo kept-$((6*7)) > /tmp/keep && echo wrote-keep")
    src.expect("wrote-keep")
    r = hostel(vm_env, "migrate", "--tls-creds", str(tmp_path / "missing"), "msrc", "tcp:x:1")
    assert r.returncode == 2 and "missing" in r.stderr
    r = hostel(vm_env, "run", "--tls-creds", str(tmp_path / "dst"), "-k", "x")
    assert r.returncode == 2 and "--tls-creds" in r.stderr

    dst, uri = start_tls_destination(vm_env, tmp_path, tmp_path / "dst", "d1")
    r = hostel(vm_env, "migrate", "--tls-creds", str(tmp_path / "bad"), "msrc", uri)
    assert r.returncode == 1 and "migration failed" in r.stderr, r.stderr
    assert wait_exit(dst) == 1
    assert "the source's certificate is refused" in (tmp_path / "d1.log").read_text()
    still_answers(src)

    dst, uri = start_tls_destination(vm_env, tmp_path, tmp_path / "dst", "d2")
    r = hostel(vm_env, "migrate", "--tls-creds", str(tmp_path / "src"), "--tls-hostname",
               "not-the-destination", "msrc", uri)
    assert r.returncode == 1 and "certificate" in r.stderr, r.stderr
    assert wait_exit(dst) == 1
    still_answers(src)

    dst, uri = start_tls_destination(vm_env, tmp_path, tmp_path / "dst", "d0")
    r = hostel(vm_env, "migrate", "msrc", uri)  # a plain stream to a TLS destination
    assert r.returncode == 1, r.stderr
    assert wait_exit(dst) == 1
    still_answers(src)

    dst, uri = start_tls_destination(vm_env, tmp_path, tmp_path / "dst", "d3")
    r = hostel(vm_env, "migrate", "--json", "--tls-creds", str(tmp_path / "src"), "msrc", uri)
    assert r.returncode == 0, r.stderr
    assert wait_exit(src) == 0
    dst.sendline("cat /tmp/keep")
    dst.expect("kept-42")
    still_answers(dst)
    dst.sendline("poweroff")
    assert wait_exit(dst) == 0


def wait_migration(vm_env, name, pred, timeout=60):
    deadline = time.time() + timeout
    while True:
        q = json.loads(hostel(vm_env, "ctl", name, "query-migrate").stdout)
        if pred(q):
            return q
        assert time.time() < deadline, q
        time.sleep(0.05)


def test_destination_killed_in_a_later_round(guest, vm_env, tmp_path):
    """A real destination SIGKILLed once the source is in its third round (a rewriting
    guest, a capped link, throttled by auto-converge): the source says failed, lifts the
    throttle, and its guest goes on rewriting with its data intact."""
    src, md5 = start_rewriting_guest(guest, vm_env, tmp_path)
    sock = str(tmp_path / "mig.sock")
    dst, _ = start_destination(vm_env, tmp_path, f"unix:{sock}")
    wait_path(sock)
    proc = subprocess.Popen([HOSTEL, "migrate", "--bandwidth", REWRITE_LINK_MBS, "msrc",
                             f"unix:{sock}"], env=vm_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    wait_migration(vm_env, "msrc", lambda q: q["state"] == "active" and q["round"] >= 2)
    os.kill(dst.pid, 9)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "migration failed" in err, err
    q = json.loads(hostel(vm_env, "ctl", "msrc", "query-migrate").stdout)
    assert q["state"] == "failed" and q["round"] >= 2 and q["throttle-pct"] == 0, q
    st = json.loads(hostel(vm_env, "ctl", "msrc", "status").stdout)
    assert st["status"] == "running"
    check_rewriting_intact(src, md5)


def test_source_killed_mid_stream(guest, vm_env, tmp_path):
    """The source VMM SIGKILLed in round 0: the destination refuses the cut stream with one
    line and exits 1 without opening the VM's disk, which the source's death leaves free and
    consistent (qemu-img check)."""
    disk = tmp_path / "d.qcow2"
    assert hostel(vm_env, "img", "create", "-f", "qcow2", str(disk), "64M").returncode == 0
    log = open(tmp_path / "msrc.log", "w", encoding="utf-8", errors="replace")
    src = spawn([HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                 "-p", CMDLINE, "--net", "none", "-d", str(disk), "--name", "msrc"], vm_env, log)
    src.expect(PROMPT)
    src.sendline("dd if=/dev/urandom of=/tmp/r bs=1M count=24 2>/dev/null; echo filled")
    src.expect("filled", timeout=60)
    sock = str(tmp_path / "mig.sock")
    dst, dst_log = start_destination(vm_env, tmp_path, f"unix:{sock}")
    wait_path(sock)
    proc = subprocess.Popen([HOSTEL, "migrate", "--bandwidth", "8", "msrc", f"unix:{sock}"],
                            env=vm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    wait_migration(vm_env, "msrc", lambda q: q["state"] == "active" and q["bytes"] > 4 << 20)
    os.kill(src.pid, 9)
    proc.communicate(timeout=60)
    assert wait_exit(dst) == 1
    dst_log.flush()
    lines = [ln for ln in (tmp_path / "mdst.log").read_text(errors="replace").splitlines()
             if ln.startswith("hostel")]
    assert len(lines) == 1 and "truncated" in lines[0], lines
    r = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = hostel(vm_env, "img", "info", str(disk))  # the lock went with the source
    assert r.returncode == 0, r.stderr


DISK_JOB = ("(i=0; while [ ! -e /tmp/stop ]; do echo \"blk $i\" | "
            "dd of=/dev/vda bs=512 seek=$i conv=notrunc,fsync 2>/dev/null; i=$((i+1)); "
            "echo $i > /tmp/blocks; done) &")


def test_ten_migrations_back_and_forth(guest, vm_env, tmp_path):
    """The determinism chain and a disk writer running while the VM is migrated ten times
    between VMMs, at random points: the console's chain equals an uninterrupted run's, every
    block the guest wrote holds what it wrote, and the image passes qemu-img check."""
    import random
    rnd = random.Random(1307)
    disk = tmp_path / "d.qcow2"
    assert hostel(vm_env, "img", "create", "-f", "qcow2", str(disk), "64M").returncode == 0
    logs = []
    log = open(tmp_path / "m0.log", "w", encoding="utf-8", errors="replace")
    logs.append(tmp_path / "m0.log")
    vm = spawn([HOSTEL, "run", "-m", "256M", "-k", str(guest.kernel), "-i", str(guest.initrd),
                "-p", CMDLINE, "--net", "none", "-d", str(disk), "--name", "m0"], vm_env, log)
    vm.expect(PROMPT)
    vm.sendline(DISK_JOB)
    vm.expect(PROMPT)
    vm.sendline(JOB)
    vm.expect(CHAIN)
    for n in range(1, 11):
        time.sleep(rnd.uniform(0.05, 1.0))
        sock = str(tmp_path / f"m{n}.sock")
        dst, _ = start_destination(vm_env, tmp_path, f"unix:{sock}", name=f"m{n}")
        logs.append(tmp_path / f"m{n}.log")
        wait_path(sock)
        r = hostel(vm_env, "migrate", f"m{n - 1}", f"unix:{sock}")
        assert r.returncode == 0, f"migration {n}: {r.stderr}"
        assert wait_exit(vm) == 0
        vm = dst
        vm.expect(CHAIN)  # it goes on at every stop
    vm.sendline("touch /tmp/stop")
    vm.expect("chain-finished")
    time.sleep(0.5)
    vm.sendline("echo blocks=$(cat /tmp/blocks)")
    vm.expect(r"blocks=(\d+)")
    blocks = int(vm.match.group(1))
    vm.sendline("poweroff")
    assert wait_exit(vm) == 0
    text = ""
    for p in logs:
        t = p.read_text(errors="replace").replace("\r", "")
        text += t.replace("\nhostel: migrated (the VM runs at the destination)\n", "")
    seen = [(int(i), h) for i, h in CHAIN.findall(text)]
    assert len(seen) >= 20
    assert seen == expected_chain(len(seen)), "chain lines lost, repeated or wrong"
    r = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk), str(tmp_path / "d.raw")],
                   check=True)
    raw = (tmp_path / "d.raw").read_bytes()
    assert blocks > 10
    for i in range(blocks):
        assert raw[i * 512:i * 512 + len(f"blk {i}\n")] == f"blk {i}\n".encode(), f"block {i}"


def test_destination_overrides_beyond_the_stream_are_refused(guest, vm_env, tmp_path):
    """`--incoming` with more -d than the migrating VM has disks: the destination refuses
    with one line saying what the VM has, the source goes on."""
    src, _ = start_source(guest, vm_env, tmp_path, mem="128M")
    sock = str(tmp_path / "mig.sock")
    log = open(tmp_path / "mdst.log", "w", encoding="utf-8", errors="replace")
    dst = spawn([HOSTEL, "run", "--incoming", f"unix:{sock}", "-d", str(tmp_path / "x.img"),
                 "--name", "mdst"], vm_env, log)
    wait_path(sock)
    r = hostel(vm_env, "migrate", "msrc", f"unix:{sock}")
    assert r.returncode == 1 and "0 disk(s)" in r.stderr, r.stderr
    assert wait_exit(dst) == 1
    assert not (tmp_path / "x.img").exists()
    still_answers(src)
