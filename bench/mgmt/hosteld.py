"""Helpers of the management benchmark (bench/mgmt/run.py): one hosteld on a
state directory of its own, HTTP over its unix socket on one keep-alive
connection, and the VMs' console sockets (docs/vmm.md "The console socket").

Nothing here prints; failures raise BenchError with one line saying what.
"""

import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import time

START_TIMEOUT_S = 10


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and how."""


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the host name is only for the Host header)."""

    def __init__(self, path, timeout=30):
        super().__init__("hosteld", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Daemon:
    """One hosteld process; its state under tmp/state, its socket tmp/run/hosteld.sock."""

    def __init__(self, binary, tmp, guest_dir):
        self.binary = binary
        self.tmp = pathlib.Path(tmp)
        self.state = self.tmp / "state"
        self.sock = str(self.tmp / "run" / "hosteld.sock")
        self.run_dir = self.tmp / "run" / "vms"
        self.guest_dir = guest_dir
        self.log = self.tmp / "hosteld.log"
        self.proc = None
        self.conn = None
        self.seen_pids = set()  # every VMM pid ever seen, killed at the end

    # ---- the process

    def spawn(self):
        """Start hosteld (no rate limit: the benchmark makes hundreds of changes a second)."""
        argv = [self.binary, "--state-dir", str(self.state), "--socket", self.sock,
                "--guest-dir", str(self.guest_dir), "--rate-limit", "0"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        self.conn = None

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Wait until GET /1.0 answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"hosteld exited with status {self.proc.returncode}: "
                                 f"{self.log_tail()}")
            try:
                if self.get("/1.0")[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                self.drop_connection()
            time.sleep(0.002)
        raise BenchError(f"hosteld did not answer within {timeout} s")

    def start(self):
        self.spawn()
        self.wait_ready()
        return self

    def stop(self, sig=signal.SIGTERM):
        """Stop hosteld (the VMs go on running); return its exit status."""
        self.drop_connection()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def log_tail(self):
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def rss_kib(self):
        """VmRSS of hosteld in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BenchError(f"no VmRSS in /proc/{self.proc.pid}/status")

    # ---- HTTP on one keep-alive connection

    def drop_connection(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, timeout=30):
        """(status, raw body) on the kept connection; opens it when needed."""
        if self.conn is None:
            self.conn = UnixHTTPConnection(self.sock, timeout=timeout)
        headers = {}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.drop_connection()
            raise
        if r.will_close:
            self.drop_connection()
        return r.status, data

    def get(self, path, timeout=30):
        return self.request("GET", path, timeout=timeout)

    def call(self, method, path, body=None, expect=200, timeout=30):
        """A request whose status must be expect; its JSON answer."""
        status, data = self.request(method, path, body, timeout)
        if status != expect:
            raise BenchError(f"{method} {path}: {status} {data[:200]!r}")
        return json.loads(data) if data else None

    # ---- VMs

    def create(self, name, **members):
        return self.call("POST", "/1.0/vms", {"name": name, **members}, expect=201)

    def act(self, name, action, **options):
        """Ask for an action; return the operation's id (not waited for)."""
        op = self.call("PUT", f"/1.0/vms/{name}/state", {"action": action, **options},
                       expect=202)
        return op["id"]

    def wait(self, op_id, timeout=120):
        op = self.call("GET", f"/1.0/operations/{op_id}/wait?timeout={timeout}",
                       timeout=timeout + 10)
        if op["status"] != "success":
            raise BenchError(f"operation {op.get('description')}: {op['status']}: "
                             f"{op.get('err')}")
        return op

    def vm_state(self, name):
        st = self.call("GET", f"/1.0/vms/{name}/state")
        if st.get("pid"):
            self.seen_pids.add(st["pid"])
        return st

    def states(self):
        """{name: state} of every VM (one GET /1.0/vms?recursion=1)."""
        return {vm["name"]: vm["state"] for vm in self.call("GET", "/1.0/vms?recursion=1")["vms"]}

    def console_path(self, name):
        return self.run_dir / name / "console.sock"

    def pid_files(self):
        """{name: pid} from RUN/*/pid."""
        pids = {}
        for f in self.run_dir.glob("*/pid"):
            try:
                pids[f.parent.name] = int(f.read_text())
            except (OSError, ValueError):
                pass
        self.seen_pids.update(pids.values())
        return pids

    def kill_vmms(self):
        """SIGKILL every VMM this daemon ran (RUN/*/pid and every pid seen)."""
        for pid in set(self.pid_files().values()) | self.seen_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Console:
    """A non-blocking rw client of one VM's console socket, driven by the caller's loop.

    The stages: connect (once the socket exists), the first byte of output
    (history or live), the shell prompt, then `echo bench-$((6*7))` typed and
    `bench-42` seen.  Each stage's time (time.perf_counter) is kept.
    """

    HELLO = b"HOSTEL-CONSOLE 1 rw bench\n"
    ANSWER = b"bench-42"

    def __init__(self, name, path, prompt_re):
        self.name, self.path, self.prompt_re = name, str(path), prompt_re
        self.sock = None
        self.header = b""
        self.history = None   # bytes of history the VMM had at connect
        self.out = b""        # console output after the header
        self.typed = False
        self.t_connect = self.t_first = self.t_prompt = self.t_answer = None

    def try_connect(self):
        """Connect if the socket is there; True once connected."""
        if self.sock:
            return True
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            return False
        s.sendall(self.HELLO)
        s.setblocking(False)
        self.sock, self.t_connect = s, time.perf_counter()
        return True

    def fileno(self):
        return self.sock.fileno()

    def on_readable(self):
        """Read what is there and move through the stages; False when the VMM hung up."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            return False
        now = time.perf_counter()
        if self.history is None:
            self.header += data
            if b"\n" not in self.header:
                return True
            line, _, data = self.header.partition(b"\n")
            if not line.startswith(b"OK "):
                raise BenchError(f"{self.name}: console refused: {line.decode(errors='replace')}")
            self.history = int(line[3:])
        if data and self.t_first is None:
            self.t_first = now
        self.out += data
        self._advance(now)
        return True

    def _advance(self, now):
        if self.t_prompt is None and self.prompt_re.search(self.out.decode(errors="replace")):
            self.t_prompt = now
            self.mark = len(self.out)
            self.sock.setblocking(True)
            self.sock.sendall(b"echo bench-$((6*7))\n")
            self.sock.setblocking(False)
            self.typed = True
        elif self.typed and self.t_answer is None and self.ANSWER in self.out[self.mark:]:
            self.t_answer = now

    def done(self):
        return self.t_answer is not None

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
