"""Helpers of the network benchmark (bench/net/run.py): what it starts and
must undo whatever happens (processes, network namespaces), `hostel switch`
processes and their control socket (docs/net.md), and a host HTTP server.

Nothing here prints; failures raise BenchError with one line saying what.
"""

import http.server
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

START_TIMEOUT_S = 15


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and how."""


def tail(path, lines=5):
    """The last lines of a log file, on one line (for an error message)."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------- what must be undone

class Resources:
    """Every process and network namespace the benchmark made, undone by close()
    in reverse order: processes first (by their pid, never by name), then the
    namespaces (their bridges, taps, veths and vxlan devices go with them)."""

    def __init__(self, tag):
        self.tag = tag  # in every namespace name: bench-net's pid, so runs never collide
        self.procs = []
        self.namespaces = []
        self.count = 0

    def popen(self, argv, log_path):
        """Start argv, stdout and stderr to log_path, stdin closed."""
        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            raise BenchError(f"cannot start {argv[0]}: {e}") from None
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc, grace=5.0):
        """SIGTERM proc (a Popen of ours), SIGKILL after grace seconds; reap it."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def netns(self, role):
        """A new network namespace, loopback up; its name."""
        self.count += 1
        name = f"hnb{self.tag}-{role}{self.count}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def delete_netns(self, name):
        if name in self.namespaces:
            self.namespaces.remove(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)

    def close(self):
        for proc in reversed(list(self.procs)):
            self.stop(proc, grace=2.0)
        for name in reversed(list(self.namespaces)):
            self.delete_netns(name)


def ip(*args):
    """Run `ip ARGS`; raise BenchError with its message if it fails."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise BenchError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


def veth_between(ns_a, ns_b, addr_a, addr_b, mtu):
    """A veth pair from ns_a (va, addr_a/24) to ns_b (vb, addr_b/24), both up."""
    ip("link", "add", "va", "netns", ns_a, "type", "veth", "peer", "name", "vb", "netns", ns_b)
    for ns, dev, addr in ((ns_a, "va", addr_a), (ns_b, "vb", addr_b)):
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        ip("-n", ns, "link", "set", dev, "mtu", str(mtu), "up")


def bridge_with_taps(ns, taps, vxlan=None):
    """In ns: a Linux bridge br0 with the persistent taps `taps` (and a vxlan
    device vx0 when vxlan = dict(vni, local, remote, port, dev)), all up."""
    ip("-n", ns, "link", "add", "br0", "type", "bridge")
    for tap in taps:
        ip("-n", ns, "tuntap", "add", "dev", tap, "mode", "tap")
        ip("-n", ns, "link", "set", tap, "master", "br0", "up")
    if vxlan:
        ip("-n", ns, "link", "add", "vx0", "type", "vxlan", "id", str(vxlan["vni"]),
           "local", vxlan["local"], "remote", vxlan["remote"], "dstport", str(vxlan["port"]),
           "dev", vxlan["dev"])
        ip("-n", ns, "link", "set", "vx0", "master", "br0", "up")
    ip("-n", ns, "link", "set", "br0", "up")


# ---------------------------------------------------------------- the switch

class Control:
    """A client of a control socket (line-delimited JSON, docs/control.md)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.next_id = 0
        try:
            self.sock.connect(str(path))
            greeting = json.loads(self._line())
        except (OSError, ValueError) as e:
            self.sock.close()
            raise BenchError(f"control socket {path}: {e}") from None
        if "hostel" not in greeting:
            self.sock.close()
            raise BenchError(f"control socket {path}: unexpected greeting {greeting!r}")

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("the switch closed its control connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def call(self, command, args=None, fd=None):
        """Run one command (with one fd passed by SCM_RIGHTS when fd is given);
        return its "return" object; raise BenchError on an error reply."""
        self.next_id += 1
        request = {"execute": command, "id": self.next_id}
        if args:
            request["arguments"] = args
        data = (json.dumps(request) + "\n").encode()
        try:
            if fd is None:
                self.sock.sendall(data)
            else:
                sent = socket.send_fds(self.sock, [data], [fd])
                self.sock.sendall(data[sent:])
            while True:
                reply = json.loads(self._line())
                if reply.get("id") == self.next_id:
                    break
        except (OSError, ValueError) as e:
            raise BenchError(f"switch control, {command}: {e}") from None
        if "error" in reply:
            raise BenchError(f"switch control, {command}: {reply['error'].get('desc')}")
        return reply.get("return", {})

    def close(self):
        self.sock.close()


class Switch:
    """One `hostel switch` process (in a network namespace when netns is given),
    its files in work/NAME: config.json, ctl.sock, port.sock (--listen), switch.log."""

    def __init__(self, res, hostel, work, name, config, netns=None, listen=True):
        self.res = res
        self.dir = pathlib.Path(work) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "config.json"
        self.config.write_text(json.dumps(dict(config, name=name)))
        self.control_path = self.dir / "ctl.sock"
        self.listen_path = self.dir / "port.sock" if listen else None
        self.log = self.dir / "switch.log"
        argv = [hostel, "switch", "--config", str(self.config), "--control",
                str(self.control_path), "--pid-file", str(self.dir / "pid")]
        if listen:
            argv += ["--listen", str(self.listen_path)]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv  # ip execs it: the pid is the switch's
        self.name = name
        self.proc = res.popen(argv, self.log)
        self.pid = self.proc.pid
        self.control = None
        try:
            self._wait_ready()
        except BenchError:
            res.stop(self.proc)
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"hostel switch {self.name} exited {self.proc.returncode}: "
                                 f"{tail(self.log)}")
            ready = self.control_path.exists() and (self.listen_path is None or
                                                    self.listen_path.exists())
            if ready:
                try:
                    self.control = Control(self.control_path)
                    return
                except BenchError:
                    pass
            time.sleep(0.02)
        raise BenchError(f"hostel switch {self.name}: no control socket after "
                         f"{START_TIMEOUT_S} s ({tail(self.log)})")

    def cpu_seconds(self):
        """utime + stime of the switch process so far (/proc/PID/stat)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(self, command, args=None, fd=None):
        return self.control.call(command, args, fd)

    def close(self):
        """quit over the control socket; SIGTERM/SIGKILL if it does not end."""
        if self.control:
            try:
                self.control.call("quit")
            except BenchError:
                pass
            self.control.close()
            self.control = None
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.res.stop(self.proc)


# ---------------------------------------------------------------- the host's web server

class BigFile(http.server.BaseHTTPRequestHandler):
    """GET /big: `size` bytes from memory (a repeated random MiB)."""

    chunk = os.urandom(1 << 20)

    def do_GET(self):
        if self.path != "/big":
            self.send_error(404)
            return
        size = self.server.size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        view = memoryview(self.chunk)
        while left > 0:
            n = min(left, len(view))
            self.wfile.write(view[:n])
            left -= n
        self.server.served.append(size)

    def log_message(self, *args):
        pass


class HostServer:
    """An HTTP server on 127.0.0.1 (a thread of this process) serving /big."""

    def __init__(self, size):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BigFile)
        self.httpd.size = size
        self.httpd.served = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def served(self):
        return list(self.httpd.served)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
