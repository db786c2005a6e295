"""What the `hostel switch` end-to-end tests share: starting the switch, its
control socket (with descriptors passed by SCM_RIGHTS), ports made of
socketpairs, and Ethernet frames built by hand.

Tests import the names they use (`from switchtest import Switch, eth, ...`).
"""

import json
import os
import pathlib
import select
import socket
import struct
import subprocess
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HOSTEL_BUILD", REPO / "build"))
HOSTEL = os.environ.get("HOSTEL_BIN", str(BUILD / "hostel"))
TIMEOUT = 10

BROADCAST = "ff:ff:ff:ff:ff:ff"
ETH_IP, ETH_ARP, ETH_VLAN = 0x0800, 0x0806, 0x8100

# A port's far end that sends one frame as fast as the switch takes it: run it as
# `python3 -c FLOODER FD FRAME_HEX` with the port's socket inherited as FD; it prints
# "go" once it starts sending.
FLOODER = """
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
frame = bytes.fromhex(sys.argv[2])
sys.stdout.write("go\\n")
sys.stdout.flush()
while True:
    s.send(frame)
"""


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_text(b):
    return ":".join(f"{x:02x}" for x in b)


def mac_of(n):
    """A locally administered unicast address for host number n."""
    return f"02:00:00:00:{n >> 8 & 0xff:02x}:{n & 0xff:02x}"


def eth(dst, src, ethertype, payload=b"", vlan=None):
    """An Ethernet frame, 802.1Q-tagged when vlan is given, padded to 60 bytes."""
    tag = struct.pack("!HH", ETH_VLAN, vlan) if vlan is not None else b""
    frame = mac_bytes(dst) + mac_bytes(src) + tag + struct.pack("!H", ethertype) + payload
    return frame.ljust(60, b"\0")


def frame_vlan(frame):
    """The 802.1Q VLAN of a frame, or None if untagged."""
    if struct.unpack("!H", frame[12:14])[0] == ETH_VLAN:
        return struct.unpack("!H", frame[14:16])[0] & 0xfff
    return None


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(src, dst, proto, payload, ttl=64):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, 0, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def udp(src, dst, sport, dport, payload):
    """An IPv4 UDP packet (checksum 0: none, which IPv4 allows)."""
    return ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def icmp_echo(src, dst, ident, seq, data=b"hostel"):
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(src, dst, 1, body)


def arp(op, sha, spa, tha, tpa):
    """An ARP payload (op 1 request, 2 reply) for Ethernet/IPv4."""
    return struct.pack("!HHBBH6s4s6s4s", 1, ETH_IP, 6, 4, op, mac_bytes(sha),
                       socket.inet_aton(spa), mac_bytes(tha), socket.inet_aton(tpa))


def arp_request(sha, spa, tpa, vlan=None):
    return eth(BROADCAST, sha, ETH_ARP, arp(1, sha, spa, "00:00:00:00:00:00", tpa), vlan=vlan)


def parse_arp(frame):
    """(op, sha, spa, tha, tpa) of an untagged ARP frame, or None."""
    if len(frame) < 42 or struct.unpack("!H", frame[12:14])[0] != ETH_ARP:
        return None
    _, _, _, _, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s", frame[14:42])
    return op, mac_text(sha), socket.inet_ntoa(spa), mac_text(tha), socket.inet_ntoa(tpa)


def parse_ipv4(frame):
    """(src, dst, proto, payload) of an untagged IPv4 frame, or None."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_IP:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    return socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), ip[9], ip[ihl:total]


class Port:
    """The test's end of a port: a SOCK_SEQPACKET socket, one frame per message."""

    def __init__(self, sock, name):
        self.sock = sock
        self.name = name

    def send(self, frame):
        self.sock.send(frame)

    def recv(self, timeout=2.0):
        """The next frame, or None if none comes within timeout seconds."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        return self.sock.recv(70000)

    def recv_all(self, timeout=0.3):
        """Every frame that arrives until none has for timeout seconds."""
        frames = []
        while (f := self.recv(timeout)) is not None:
            if f == b"":
                break
            frames.append(f)
        return frames

    def recv_match(self, pred, timeout=5.0):
        """The first frame for which pred is true (others are skipped), or None."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            f = self.recv(left)
            if f is None or f == b"":
                return None
            if pred(f):
                return f
        return None

    def close(self):
        self.sock.close()


class Control:
    """A connection to a control socket: requests with an optional descriptor."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(str(path))
        self.buf = b""
        self.greeting = self.read()
        self.next_id = 1

    def read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("the switch closed the control connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, command, arguments=None, fd=None):
        """The whole reply object ({"return": ...} or {"error": ...})."""
        req = {"execute": command, "id": self.next_id}
        self.next_id += 1
        if arguments is not None:
            req["arguments"] = arguments
        line = json.dumps(req).encode() + b"\n"
        if fd is None:
            self.sock.sendall(line)
        else:
            socket.send_fds(self.sock, [line], [fd])
        while True:
            reply = self.read()
            if reply.get("id") == req["id"] or ("error" in reply and "id" not in reply):
                return reply

    def call(self, command, arguments=None, fd=None):
        """The return value; fails the test on an error reply."""
        reply = self.request(command, arguments, fd)
        assert "return" in reply, f"{command} {arguments}: {reply}"
        return reply["return"]

    def error(self, command, arguments=None, fd=None):
        """The error's desc; fails the test if the command succeeded."""
        reply = self.request(command, arguments, fd)
        assert "error" in reply, f"{command} {arguments} succeeded: {reply}"
        return reply["error"]["desc"]

    def close(self):
        self.sock.close()


class Switch:
    """A `hostel switch` process with its control socket in directory d."""

    def __init__(self, d, config, listen=False, extra=(), netns=None):
        self.dir = pathlib.Path(d)
        self.config_path = self.dir / "switch.json"
        self.config_path.write_text(json.dumps(config))
        self.control_path = self.dir / "ctl.sock"
        self.listen_path = self.dir / "ports.sock" if listen else None
        self.pid_path = self.dir / "switch.pid"
        self.log_path = self.dir / "switch.log"
        argv = [HOSTEL, "switch", "--config", str(self.config_path), "--control",
                str(self.control_path), "--pid-file", str(self.pid_path), *extra]
        if listen:
            argv += ["--listen", str(self.listen_path)]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + TIMEOUT
        while not self.pid_path.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"hostel switch exited {self.proc.returncode}: "
                                     f"{self.log_path.read_text()}")
            assert time.monotonic() < end, "the switch did not write its pid file"
            time.sleep(0.02)
        self.ctl = Control(self.control_path)
        self.ports = []

    def add_port(self, name, **options):
        """A VM port: a socketpair whose far end is passed with add-port."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.ctl.call("add-port", {"name": name, **options}, fd=theirs.fileno())
        finally:
            theirs.close()
        port = Port(mine, name)
        self.ports.append(port)
        return port

    def connect_listen(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(str(self.listen_path))
        port = Port(s, None)
        self.ports.append(port)
        return port

    def port(self, name):
        """query-ports' entry for name, or None."""
        for p in self.ctl.call("query-ports")["ports"]:
            if p["name"] == name:
                return p
        return None

    def stats(self, name):
        return self.port(name)["stats"]

    def cpu_seconds(self):
        """User + system CPU time the switch process has used."""
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """quit, and wait: the exit status."""
        if self.alive():
            try:
                self.ctl.call("quit")
            except (OSError, EOFError):
                pass
        try:
            rc = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.ctl.close()
        for p in self.ports:
            p.close()
        self.log.close()
        return rc


def wait_for(pred, timeout=TIMEOUT, step=0.05):
    """Poll pred until it returns a true value (returned), or None after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)
