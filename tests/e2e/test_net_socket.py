"""Network cards on unix SEQPACKET sockets (--net socket, --net network), end to end.

- Two VMs joined by a crossover cable: the two ends of one
  `socketpair(AF_UNIX, SOCK_SEQPACKET)`, each handed to its `hostel run` as
  fd 3 (`--net socket,fd=3`).  Each guest gets a static address from its
  shell; they ping each other and one copies a file to the other with
  busybox `nc` (sha256 compared).  When one VM exits, the other's card
  reports its link down (query-stats) and the guest sees no carrier.
- A VM with `--net socket,path=P` started before anything listens at P:
  its link is down (carrier 0, query-stats "link": "down").  Then the test
  listens at P: the VMM connects within its one-second retry, the guest's
  carrier comes up, and the test plays the peer: it answers the guest's ARP
  request and ICMP echo requests, so `ping` in the guest succeeds through
  the test's socket.  When the test hangs up the card goes down and connects
  again to the same listener.
- A VM on a test-held socket (`--net network,name=lan,fd=3`) takes a live
  snapshot and reverts to it (the socket stays), then is suspended and
  restored with a new socket at fd 3: the guest's address survives in its RAM
  and it pings the test's peer again over the new socket.
- A VM on a test-held socket (`--net network,name=lan,fd=3`) whose peer hangs
  up (a switch that died) is given a new socket with the control command
  `set-net-fd` (the descriptor passed with SCM_RIGHTS, as hosteld does): the
  guest's carrier comes back, the same address pings the test's peer on the
  new socket, the card keeps fd 3; what set-net-fd refuses (no socket, no
  such card, a user card, a stream socket) is one error line each.
- Bad input: `--net network` without fd= and bad descriptors (fd < 3, not
  open, not a socket, a stream socket) are one-line errors.

Nothing here needs root.
"""

import fcntl
import json
import os
import socket
import struct
import subprocess
import termios
import threading
import time

import pexpect
import pytest
from pexpect import fdpexpect

from conftest import COMMAND_TIMEOUT_S, PROMPT, GuestShell
from switchtest import Control
from vmtest import HOSTEL

GUEST_MAC = ["52:54:00:5e:00:01", "52:54:00:5e:00:02"]
PEER_MAC = bytes.fromhex("020000000002")
PEER_IP = "192.168.60.2"


def run_argv(guest, net, *extra):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", "console=ttyS0", "--net", net, *extra]


class Vm(GuestShell):
    """`hostel run` on a pty (so the test keeps descriptors of its own in the child:
    pexpect.spawn closes them), with sock dup'ed to fd 3; driven like GuestConsole."""

    def __init__(self, argv, log_path, sock=None, env=None):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        fd = sock.fileno() if sock is not None else None

        def to_fd3():
            if fd == 3:
                os.set_inheritable(3, True)
            elif fd is not None:
                os.dup2(fd, 3)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     close_fds=False, preexec_fn=to_fd3,
                                     start_new_session=True, env=env)
        os.close(slave)
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = fdpexpect.fdspawn(master, encoding="utf-8", codec_errors="replace",
                                       timeout=COMMAND_TIMEOUT_S)
        self.child.logfile_read = self.log
        self.master = master

    def configure(self, addr):
        """No DHCP on a cable: stop udhcpc, give eth0 a static address, bring it up."""
        self.check("kill $(pidof udhcpc) 2>/dev/null; ip -4 addr flush dev eth0; "
                   f"ip addr add {addr}/24 dev eth0 && ip link set eth0 up")
        # lk: the link as the guest's kernel sees it (a short command: the guest's line
        # editor wraps at 80 columns, and check() parses what follows the echoed line)
        self.check("lk() { cd /sys/class/net/eth0 && cat carrier operstate; cd /; }")

    def wait_exit(self, timeout=COMMAND_TIMEOUT_S):
        try:
            self.child.expect(pexpect.EOF, timeout=timeout)
        except OSError:  # the pty's master reads EIO once the child is gone
            pass
        return self.proc.wait(timeout=timeout)

    def poweroff(self):
        self.child.sendline("poweroff")
        return self.wait_exit()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass
        self.log.close()


@pytest.fixture
def vms(tmp_path, vm_env):
    """Factory: vms(argv, sock=None) starts a VM (sock as its fd 3); all closed at the end."""
    started = []

    def start(argv, sock=None, wait=True):
        vm = Vm(argv, tmp_path / f"console{len(started)}.log", sock, vm_env)
        started.append(vm)
        if wait:
            vm.wait_ready()
        return vm

    yield start
    for vm in started:
        vm.close()


def ctl(env, name, command):
    r = subprocess.run([HOSTEL, "ctl", name, command], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


# ---- two VMs, one cable ----

def test_crossover_cable(guest, vms, vm_env):
    a_end, b_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a = vms(run_argv(guest, f"socket,fd=3,mac={GUEST_MAC[0]}", "--name", "vma"), a_end,
            wait=False)
    b = vms(run_argv(guest, f"socket,fd=3,mac={GUEST_MAC[1]}", "--name", "vmb"), b_end,
            wait=False)
    a_end.close()  # the VMMs hold the only ends: one exiting is seen by the other
    b_end.close()
    a.wait_ready()
    b.wait_ready()
    a.configure("192.168.50.1")
    b.configure("192.168.50.2")
    out = a.check("ping -c 3 -W 5 192.168.50.2", timeout=60)
    assert "3 packets received" in out, out
    out = b.check("ping -c 3 -W 5 192.168.50.1", timeout=60)
    assert "3 packets received" in out, out
    assert GUEST_MAC[1] in a.check("ip neigh show dev eth0")

    a.check("dd if=/dev/urandom of=/tmp/f bs=1k count=300 2>/dev/null")
    digest = a.check("sha256sum /tmp/f").split()[0]
    b.check("{ nc -l -p 5000 </dev/null >/tmp/got 2>/tmp/nc.err; echo $? >/tmp/nc.rc; } & true")
    # (until b's listener is up: a refused connection fails at once)
    a.check("for i in 1 2 3 4 5; do nc 192.168.50.2 5000 </tmp/f && break; sleep 1; done",
            timeout=120)
    status, out = 1, ""
    for _ in range(100):
        status, out = b.run("cat /tmp/nc.rc")
        if status == 0:
            break
        time.sleep(0.2)
    assert status == 0, "the receiving nc did not finish"
    assert b.check("sha256sum /tmp/got").split()[0] == digest

    stats = ctl(vm_env, "vma", "query-stats")["nics"][0]
    assert stats["link"] == "up" and stats["tx-packets"] > 200 and stats["tx-dropped"] == 0, stats
    dev = ctl(vm_env, "vma", "query-devices")["nics"][0]
    assert dev["backend"] == "socket" and dev["fd"] == 3, dev

    assert a.poweroff() == 0
    wait_until(lambda: ctl(vm_env, "vmb", "query-stats")["nics"][0]["link"] == "down", 10,
               "b's link to go down")
    assert carrier(b) == "0"
    assert b.poweroff() == 0


# ---- path=: a peer that appears later ----

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


class Peer:
    """Plays a host at PEER_IP on a SEQPACKET socket: answers ARP and ICMP echo requests,
    keeps every frame it got from the guest."""

    def __init__(self, conn):
        self.conn, self.frames, self.answered = conn, [], 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.conn.settimeout(0.2)
        ip = socket.inet_aton(PEER_IP)
        while not self.stop:
            try:
                f = self.conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not f:
                return
            self.frames.append(f)
            reply = None
            if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01" and f[38:42] == ip:
                reply = (f[6:12] + PEER_MAC + b"\x08\x06" + f[14:20] + b"\x00\x02" + PEER_MAC +
                         ip + f[22:28] + f[28:32])
            elif (f[12:14] == b"\x08\x00" and f[23] == 1 and f[30:34] == ip and
                  f[14 + (f[14] & 15) * 4] == 8):
                hl = (f[14] & 15) * 4
                iph = bytearray(f[14:14 + hl])
                iph[12:16], iph[16:20] = f[30:34], f[26:30]
                iph[10:12] = b"\0\0"
                iph[10:12] = struct.pack("!H", checksum(bytes(iph)))
                total = struct.unpack("!H", f[16:18])[0]
                icmp = bytearray(f[14 + hl:14 + total])
                icmp[0], icmp[2:4] = 0, b"\0\0"
                icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
                reply = f[6:12] + PEER_MAC + b"\x08\x00" + bytes(iph) + bytes(icmp)
            if reply:
                self.conn.send(reply)
                self.answered += 1

    def close(self):
        self.stop = True
        self.thread.join()
        self.conn.close()


def listen_seqpacket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.listen(1)
    s.settimeout(5)
    return s


def carrier(vm):
    """'1' once the guest's kernel has the link up (operstate: after its link watch ran and
    the queue is live), '0' while it has no carrier."""
    out = vm.check("lk").split()
    return "1" if out == ["1", "up"] else "0" if out[0] == "0" else "?"


def test_path_connects_when_a_listener_appears(guest, vms, vm_env, tmp_path):
    path = str(tmp_path / "sw.sock")
    vm = vms(run_argv(guest, f"socket,path={path},mac={GUEST_MAC[0]}", "--name", "vmp"))
    vm.configure("192.168.60.1")
    assert carrier(vm) == "0", "no peer yet: the guest sees no carrier"
    stats = ctl(vm_env, "vmp", "query-stats")["nics"][0]
    assert stats["link"] == "down", stats
    status, out = vm.run("ping -c 1 -W 2 " + PEER_IP, timeout=30)
    assert status != 0

    listener = listen_seqpacket(path)
    conn, _ = listener.accept()  # the VMM's retry comes within about a second
    peer = Peer(conn)
    try:
        wait_until(lambda: carrier(vm) == "1", 10, "the carrier")
        vm.check("ip neigh flush dev eth0")  # forget the failed resolution of the first ping
        out = vm.check(f"ping -c 3 -W 5 {PEER_IP}", timeout=60)
        assert "3 packets received" in out, out
        mac = bytes.fromhex(GUEST_MAC[0].replace(":", ""))
        assert any(f[6:12] == mac and f[12:14] == b"\x08\x06" for f in peer.frames), \
            "the test's peer saw the guest's ARP request from its MAC"
        assert peer.answered >= 4
        assert ctl(vm_env, "vmp", "query-stats")["nics"][0]["link"] == "up"
    finally:
        peer.close()  # hang up: the card goes down and tries again

    wait_until(lambda: carrier(vm) == "0", 10, "the carrier to go after the hang-up")
    conn, _ = listener.accept()
    peer = Peer(conn)
    try:
        wait_until(lambda: carrier(vm) == "1", 10, "the carrier after reconnecting")
        out = vm.check(f"ping -c 2 -W 5 {PEER_IP}", timeout=60)
        assert "2 packets received" in out, out
    finally:
        peer.close()
        listener.close()
    assert vm.poweroff() == 0


# ---- suspend and restore with the descriptor open again ----

def test_restore_with_the_same_fd(guest, vms, vm_env, tmp_path):
    state = tmp_path / "vm.state"
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    vm = vms(run_argv(guest, f"network,name=lan,fd=3,vlan=10,mac={GUEST_MAC[0]}",
                      "--name", "vmr"), theirs)
    theirs.close()
    peer = Peer(mine)
    try:
        vm.configure("192.168.60.1")
        out = vm.check(f"ping -c 2 -W 5 {PEER_IP}", timeout=60)
        assert "2 packets received" in out, out
        dev = ctl(vm_env, "vmr", "query-devices")["nics"][0]
        assert dev["backend"] == "network" and dev["network"] == "lan" and dev["fd"] == 3, dev
        # A live snapshot and its revert keep the running socket.
        snap = subprocess.run([HOSTEL, "snapshot", "create", "vmr", "s1"], env=vm_env,
                              capture_output=True, text=True, timeout=60)
        assert snap.returncode == 0, snap.stderr
        vm.check("ip -4 addr flush dev eth0; ip addr add 192.168.60.9/24 dev eth0")
        snap = subprocess.run([HOSTEL, "snapshot", "revert", "vmr", "s1"], env=vm_env,
                              capture_output=True, text=True, timeout=60)
        assert snap.returncode == 0, snap.stderr
        vm.child.sendline("")
        vm.child.expect(PROMPT)
        assert "192.168.60.1/24" in vm.check("ip -4 addr show eth0"), "reverted"
        out = vm.check(f"ping -c 2 -W 5 {PEER_IP}", timeout=60)
        assert "2 packets received" in out, out
        r = subprocess.run([HOSTEL, "suspend", "vmr", str(state)], env=vm_env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert vm.wait_exit() == 0
    finally:
        peer.close()
    shown = subprocess.run([HOSTEL, "state", "show", str(state)], capture_output=True,
                           text=True, timeout=30)
    nic = json.loads(shown.stdout)["config"]["nics"][0]
    assert nic == {"kind": "network", "mac": GUEST_MAC[0], "network": "lan", "fd": 3,
                   "vlan": 10}, nic

    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    vm = vms([HOSTEL, "run", "--restore", str(state), "--name", "vmr"], theirs, wait=False)
    theirs.close()
    peer = Peer(mine)
    try:
        time.sleep(1)
        vm.child.sendline("")
        vm.child.expect(PROMPT, timeout=COMMAND_TIMEOUT_S)
        assert "192.168.60.1/24" in vm.check("ip -4 addr show eth0"), "the address survived"
        out = vm.check(f"ping -c 2 -W 5 {PEER_IP}", timeout=60)
        assert "2 packets received" in out, out
        assert vm.poweroff() == 0
    finally:
        peer.close()

    # Restored without the descriptor: refused, in one line.
    r = subprocess.run([HOSTEL, "run", "--restore", str(state)], env=vm_env,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "network lan (fd=3)" in lines[0], r.stderr


# ---- a new socket for a running card (set-net-fd) ----

def test_set_net_fd_replugs_a_card(guest, vms, vm_env):
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    vm = vms(run_argv(guest, f"network,name=lan,fd=3,mac={GUEST_MAC[0]}", "--net", "user",
                      "--name", "vmf"), theirs)
    theirs.close()
    peer = Peer(mine)
    ctl_path = os.path.join(vm_env["XDG_RUNTIME_DIR"], "hostel", "vmf.sock")
    try:
        vm.configure("192.168.60.1")
        out = vm.check(f"ping -c 2 -W 5 {PEER_IP}", timeout=60)
        assert "2 packets received" in out, out
    finally:
        peer.close()  # the switch dies: the card's peer is gone
    wait_until(lambda: carrier(vm) == "0", 10, "the carrier to go")
    assert ctl(vm_env, "vmf", "query-stats")["nics"][0]["link"] == "down"

    c = Control(ctl_path)
    try:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        assert c.call("set-net-fd", {"card": 0}, theirs.fileno()) == {}
        theirs.close()  # the VMM has its own
        peer = Peer(mine)
        try:
            wait_until(lambda: carrier(vm) == "1", 10, "the carrier on the new socket")
            vm.check("ip neigh flush dev eth0")
            out = vm.check(f"ping -c 3 -W 5 {PEER_IP}", timeout=60)
            assert "3 packets received" in out, out
            assert "192.168.60.1/24" in vm.check("ip -4 addr show eth0"), "same address"
            assert ctl(vm_env, "vmf", "query-stats")["nics"][0]["link"] == "up"
            dev = ctl(vm_env, "vmf", "query-devices")["nics"][0]
            assert dev["fd"] == 3, "the new socket took the card's descriptor number"

            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sa, sb = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            assert "no socket came with the request" in c.error("set-net-fd", {"card": 0})
            assert "no network card 2 (the VM has 2)" in c.error("set-net-fd", {"card": 2},
                                                                 b.fileno())
            assert "card 1 is a user card" in c.error("set-net-fd", {"card": 1}, b.fileno())
            assert 'expected {"card": N}' in c.error("set-net-fd", {"card": "0"}, b.fileno())
            assert "unix stream socket" in c.error("set-net-fd", {"card": 0}, sa.fileno())
            for s in (a, b, sa, sb):
                s.close()
            out = vm.check(f"ping -c 1 -W 5 {PEER_IP}", timeout=60)
            assert "1 packets received" in out, "the card kept its socket: " + out
        finally:
            peer.close()
    finally:
        c.close()
    assert vm.poweroff() == 0


# ---- bad input ----

@pytest.mark.parametrize("spec,status,message", [
    ("network,name=lan", 2, "--net network: a network's port is handed over by hosteld (fd=N); "
                            "without hosteld use --net socket,path=PATH"),
    ("network,name=lan,vlan=10", 2, "--net network: a network's port is handed over by hosteld"),
    ("socket,fd=2", 2, "fd=2: expected a descriptor number of 3 or more"),
    ("socket", 2, "socket needs path=PATH"),
    ("socket,path=/a,fd=5", 2, "not both"),
    ("network,name=lan,fd=3,trunk=20:10", 2, "trunk: list the VLANs in ascending order"),
    ("network,name=lan,fd=3,vlan=4095", 2, "vlan=4095: expected a VLAN number, 1 to 4094"),
    ("socket,fd=3,vlan=5", 2, "vlan is not an option of --net socket"),
    ("socket,fd=77", 1, "socket fd=77: descriptor 77 is not open"),
])
def test_bad_net_socket(guest, vm_env, spec, status, message):
    r = subprocess.run(run_argv(guest, spec), env=vm_env, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == status and len(lines) == 1 and message in lines[0], r.stderr


def test_network_card_print_config_without_fd(guest, vm_env):
    """A definition without fd (as hosteld stores one) is still a definition."""
    r = subprocess.run(run_argv(guest, "network,name=lan,trunk=10:20,native=1,isolated",
                                "--print-config"), env=vm_env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    nic = json.loads(r.stdout)["nics"][0]
    assert nic == {"kind": "network", "mac": "52:54:00:12:34:56", "network": "lan",
                   "trunk": [10, 20], "native": 1, "isolated": True}, nic


@pytest.mark.parametrize("kind,message", [
    ("pipe", "descriptor 3 is not a socket"),
    ("stream", "descriptor 3 is a unix stream socket (expected SOCK_SEQPACKET"),
    ("tcp", "descriptor 3 is not a unix socket"),
])
def test_bad_inherited_descriptor(guest, vm_env, kind, message):
    if kind == "pipe":
        keep, other = os.pipe()
        give = os.fdopen(keep, "rb")
    elif kind == "stream":
        give, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        give, other = socket.socket(), None
    fd = give.fileno()

    def to_fd3():
        os.dup2(fd, 3) if fd != 3 else os.set_inheritable(3, True)

    try:
        r = subprocess.run(run_argv(guest, "socket,fd=3"), env=vm_env, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL, close_fds=False,
                           preexec_fn=to_fd3)
    finally:
        give.close()
        if isinstance(other, int):
            os.close(other)
        elif other is not None:
            other.close()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and message in lines[0], r.stderr
