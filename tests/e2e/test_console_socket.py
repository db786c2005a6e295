"""The console kept by the VMM (`hostel run --console-socket --console-log`), from a client's side.

Boots the default guest with its console on a unix socket (stdin and stdout
unused) and speaks the protocol of docs/vmm.md "The console socket" with
plain Python sockets: history on attach, a working shell, one rw client at a
time (BUSY names the holder), ro clients see everything and type nothing, a
client that never reads is dropped while the guest and the others go on,
malformed hellos get ERR, the log file holds the same bytes as the history
and rotates at its size, and suspend/restore works with a console socket.
"""

import os
import re
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from vmtest import HOSTEL, TIMEOUT, hostel

CMDLINE = "console=ttyS0 earlycon=sbi"
BANNER = b"hostel guest ready"
PROMPT = re.compile(rb"hostel:[^\r\n]*# $")
WAIT_S = 60
LOG_SIZE = 64 << 10


class Client:
    """One connection to a console socket: the hello, the answer, then a byte stream."""

    def __init__(self, path, mode="rw", who="uid=1000", hello=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT_S)
        self.sock.connect(str(path))
        self.data = b""  # everything received after the answer line (history, then live)
        self.pos = 0     # where the next expect() starts looking
        if hello is None:
            hello = f"HOSTEL-CONSOLE 1 {mode} {who}\n".encode()
        if hello:
            self.sock.sendall(hello)

    def answer(self):
        """The answer line (without its newline); what follows it stays in self.data."""
        buf = b""
        while b"\n" not in buf:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed before a whole answer line: {buf!r}"
            buf += chunk
        line, self.data = buf.split(b"\n", 1)
        return line.decode()

    def attach(self):
        """Expect OK N: the N bytes of history."""
        line = self.answer()
        assert re.fullmatch(r"OK \d+", line), line
        n = int(line.split()[1])
        while len(self.data) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "closed in the middle of the history"
            self.data += chunk
        self.pos = n
        return self.data[:n]

    def expect(self, pattern, timeout=WAIT_S):
        """Read until pattern (bytes regex) appears after self.pos; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.data, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.data[self.pos:][-400:]!r}"
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            assert chunk, f"closed while waiting for {pattern!r}: {self.data[self.pos:][-400:]!r}"
            self.data += chunk

    def send(self, text):
        self.sock.sendall(text.encode())

    def run(self, command, marker):
        """Type a command line; wait for marker (bytes regex: the command's output, not its echo)."""
        self.send(command + "\n")
        return self.expect(marker)

    def read_to_eof(self, timeout=WAIT_S):
        """Everything until the server closes (fails on a timeout)."""
        self.sock.settimeout(timeout)
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return self.data
            self.data += chunk

    def close(self):
        self.sock.close()


@pytest.fixture
def sockdir():
    """A short directory for sockets (paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="hcon") as d:
        yield d


class Vmm:
    """`hostel run` with its console on a socket; stdout and stderr go to files."""

    def __init__(self, argv, tmp_path, env=None):
        self.out_path, self.err_path = tmp_path / "vmm.out", tmp_path / "vmm.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=env)

    def wait_socket(self, path):
        deadline = time.monotonic() + WAIT_S
        while not os.path.exists(path):
            assert self.proc.poll() is None, f"the VMM exited: {self.err_path.read_text()}"
            assert time.monotonic() < deadline, "the console socket never appeared"
            time.sleep(0.05)

    def wait(self):
        return self.proc.wait(timeout=TIMEOUT)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def vmms():
    started = []
    yield started
    for v in started:
        v.kill()


def run_argv(guest, *extra):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--net", "none", *extra]


def attach_ready(path):
    """Attach rw once the guest's shell is up: (client, history)."""
    deadline = time.monotonic() + WAIT_S * 3
    while True:
        c = Client(path, "ro", who="probe")
        history = c.attach()
        c.close()
        if BANNER in history and PROMPT.search(history):
            break
        assert time.monotonic() < deadline, f"the guest never became ready: {history[-400:]!r}"
        time.sleep(0.5)
    c = Client(path, "rw", who="uid=1000")
    return c, c.attach()


def attach_rw_when_free(path, who):
    """Attach rw, retrying while the previous holder's hang-up is being noticed."""
    deadline = time.monotonic() + 10
    while True:
        c = Client(path, "rw", who=who)
        line = c.answer()
        if line.startswith("OK "):
            n = int(line.split()[1])
            while len(c.data) < n:
                c.data += c.sock.recv(65536)
            c.pos = n
            return c
        c.close()
        assert line.startswith("BUSY ") and time.monotonic() < deadline, line
        time.sleep(0.1)


def log_bytes(log):
    old = log.with_name(log.name + ".1")
    return (old.read_bytes() if old.exists() else b"") + log.read_bytes()


def test_console_socket_clients_history_and_log(guest, tmp_path, sockdir, vmms):
    sock, log = os.path.join(sockdir, "c.sock"), tmp_path / "console.log"
    vmm = Vmm(run_argv(guest, "--console-socket", sock, "--console-log", str(log),
                       "--console-log-size", "64K"), tmp_path)
    vmms.append(vmm)
    vmm.wait_socket(sock)
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(log.stat().st_mode) == 0o600

    # Attached after boot: the boot messages as history, then a working shell.
    a, history = attach_ready(sock)
    assert b"Linux version" in history and BANNER in history
    a.run("echo hello-$((6*7))", rb"hello-42")
    a.expect(PROMPT.pattern)

    # A second rw client is refused, naming the holder; the connection then closes.
    b = Client(sock, "rw", who="uid=2000")
    busy = b.answer()
    assert re.fullmatch(r"BUSY the console's input is held by uid=1000 since \d\d:\d\d:\d\d UTC; "
                        r"attach read-only or detach it first", busy), busy
    assert b.read_to_eof(10) == b""
    b.close()

    # A read-only client sees the rw client's command; what it types is dropped.
    c = Client(sock, "ro", who="uid=2000")
    c.attach()
    c.send("echo typed-by-ro-$((1+1))\n")
    a.run("echo ro-$((2+3))", rb"ro-5")
    c.expect(rb"ro-5")
    a.run("echo after-$((4+4))", rb"after-8")
    c.expect(rb"after-8")
    assert b"typed-by-ro" not in a.data and b"typed-by-ro" not in c.data

    # The holder detaches: the input is free for the next client.
    a.close()
    d = attach_rw_when_free(sock, "uid=3000")
    d.run("echo again-$((5*5))", rb"again-25")
    c.expect(rb"again-25")

    # A client that never reads is dropped; the guest and the other clients go on.
    slow = Client(sock, "ro", who="slow", rcvbuf=4096)
    slow.attach()
    reader = threading.Thread(target=c.expect, args=(rb"flood-9",))  # c reads all along
    reader.start()
    d.run("head -c 2500000 /dev/zero | tr '\\0' x; echo; echo flood-$((3*3))", rb"flood-9")
    d.expect(PROMPT.pattern)
    reader.join(WAIT_S)
    assert not reader.is_alive() and b"flood-9" in c.data[:c.pos]
    rest = slow.read_to_eof(30)  # what the socket held: then the server's hang-up
    assert b"flood-9" not in rest, "the slow client was not dropped"
    slow.close()

    # Malformed hellos get ERR and the connection closes; so does a silent client after 5 s.
    for hello in (b"HELLO\n", b"HOSTEL-CONSOLE 2 rw x\n", b"HOSTEL-CONSOLE 1 rx x\n",
                  b"HOSTEL-CONSOLE 1 rw two words\n", b"HOSTEL-CONSOLE 1 ro \x01\n",
                  b"HOSTEL-CONSOLE 1 ro " + b"w" * 65 + b"\n", b"x" * 200):
        bad = Client(sock, hello=hello)
        line = bad.answer()
        assert line.startswith("ERR ") and len(line) > 4, (hello, line)
        assert bad.read_to_eof(10) == b""
        bad.close()
    silent = Client(sock, hello=b"HOSTEL-CON")
    t0 = time.monotonic()
    assert silent.answer() == "ERR no hello within 5 s"
    assert 4 < time.monotonic() - t0 < 15
    silent.close()
    d.run("echo still-$((8*8))", rb"still-64")

    # The log holds the same bytes as the history, and rotated at its size.
    e = Client(sock, "ro", who="late")
    history = e.attach()
    logged = log_bytes(log)
    old = log.with_name(log.name + ".1")
    assert old.stat().st_size == LOG_SIZE and 0 < log.stat().st_size <= LOG_SIZE
    assert len(history) == 1 << 20 and history.endswith(logged)
    assert b"still-64" in logged

    # The guest powers off: clients see the end, the VMM exits 0 and removes its socket.
    d.send("poweroff\n")
    assert vmm.wait() == 0, vmm.err_path.read_text()
    assert b"still-64" in e.read_to_eof()  # then the end of the stream
    for client in (c, d, e):
        client.close()
    assert not os.path.exists(sock)
    assert vmm.out_path.read_bytes() == b"", "stdout got console output"


def test_console_log_alone_keeps_stdout(guest, tmp_path, vmms):
    """--console-log without --console-socket: the terminal still shows it all, the log too."""
    log = tmp_path / "console.log"
    vmm = Vmm(run_argv(guest, "--console-log", str(log), "--max-insns", "30000000"), tmp_path)
    vmms.append(vmm)
    assert vmm.wait() == 124
    out = vmm.out_path.read_bytes()
    assert b"Linux version" in out and log.read_bytes() == out


def test_console_options_refused(guest, tmp_path, sockdir):
    def run(*args):
        return subprocess.run(run_argv(guest, "--max-insns", "1000", *args), capture_output=True,
                              text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)

    for args, status, words in ((["--console-log-size", "0"], 2, "at least 1K"),
                                (["--console-log-size", "1x"], 2, "at least 1K"),
                                (["--console-socket", ""], 2, "expected a path"),
                                (["--console-log", ""], 2, "expected a path"),
                                (["--console-log", str(tmp_path / "no" / "log")], 1,
                                 "console log"),
                                (["--console-log", str(tmp_path)], 1, "console log"),
                                (["--console-socket", "/tmp/" + "s" * 120], 1,
                                 "console socket path")):
        p = run(*args)
        assert p.returncode == status and p.stderr.count("\n") == 1 and words in p.stderr, \
            (args, p.stderr)
    # A plain number is MiB, as for run's other sizes.
    p = run("--console-log-size", "2", "--console-log", str(tmp_path / "ok.log"))
    assert p.returncode == 124, p.stderr
    # A live console socket is not taken over; a stale one is replaced.
    path = os.path.join(sockdir, "live.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    p = run("--console-socket", path)
    listener.close()
    assert p.returncode == 1 and "already listening" in p.stderr, p.stderr
    assert os.path.exists(path)
    p = run("--console-socket", path)
    assert p.returncode == 124 and not os.path.exists(path), p.stderr


def test_suspend_restore_with_console_socket(guest, tmp_path, sockdir, vmms):
    env = dict(os.environ, XDG_RUNTIME_DIR=sockdir, XDG_STATE_HOME=str(tmp_path / "state"))
    sock, state = os.path.join(sockdir, "c.sock"), tmp_path / "vm.state"
    vmm = Vmm(run_argv(guest, "--name", "cs", "--console-socket", sock), tmp_path, env)
    vmms.append(vmm)
    vmm.wait_socket(sock)
    a, _ = attach_ready(sock)
    a.run("echo before-$((1+2))", rb"before-3")
    a.expect(PROMPT.pattern)
    r = hostel(env, "suspend", "cs", str(state))
    assert r.returncode == 0, r.stderr
    assert vmm.wait() == 0
    a.read_to_eof(10)  # the VMM is gone: its clients see the end
    a.close()
    assert not os.path.exists(sock)

    vmm2 = Vmm([HOSTEL, "run", "--restore", str(state), "--name", "cs",
                "--console-socket", sock], tmp_path, env)
    vmms.append(vmm2)
    vmm2.wait_socket(sock)
    b = Client(sock, "rw", who="uid=1000")
    b.attach()
    b.run("echo restored-$((7*6))", rb"restored-42")
    b.send("poweroff\n")
    assert vmm2.wait() == 0, vmm2.err_path.read_text()
    b.close()
