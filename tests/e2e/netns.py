"""What the root end-to-end tests that build hosts out of network namespaces share:
running `ip` and commands in a namespace, and why the kernel side cannot be built here
(a skip reason, or None).

Tests import the names they use (`from netns import ip, netns_exec, unavailable`).
"""

import os
import subprocess
import uuid


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


def netns_exec(ns, *argv, check=True):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=20, check=check)


def unavailable():
    """Why namespaces, veth pairs and vxlan devices cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces, veth and vxlan devices"
    ns = "hsw-probe-" + uuid.uuid4().hex[:6]
    try:
        r = ip("netns", "add", ns, check=False)
        if r.returncode:
            return f"ip netns add failed: {r.stderr.strip()}"
        r = netns_exec(ns, "ip", "link", "add", "vxp", "type", "vxlan", "id", "1", "dstport",
                       "4789", "local", "127.0.0.1", check=False)
        if r.returncode:
            return f"cannot create a vxlan device: {r.stderr.strip()}"
        r = netns_exec(ns, "ip", "link", "add", "vp0", "type", "veth", "peer", "name", "vp1",
                       check=False)
        if r.returncode:
            return f"cannot create a veth pair: {r.stderr.strip()}"
        return None
    except FileNotFoundError:
        return "the ip command is missing"
    finally:
        ip("netns", "del", ns, check=False)


# ICMP echo from a namespace (the host may have no ping): argv ADDR COUNT TIMEOUT; prints
# the number of replies received.
PING = """
import os, socket, struct, sys, time
addr, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, got = os.getpid() & 0xffff, set()
def csum(b):
    v = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    v = (v & 0xffff) + (v >> 16)
    return ~((v & 0xffff) + (v >> 16)) & 0xffff
for seq in range(count):
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"hostel-ping."
    try:
        s.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], (addr, 0))
    except OSError:  # no route, no neighbour: no reply
        pass
    end = time.monotonic() + (timeout if seq == count - 1 else 0.3)
    while (left := end - time.monotonic()) > 0 and len(got) <= seq:
        s.settimeout(left)
        try:
            pkt, src = s.recvfrom(2048)
        except socket.timeout:
            break
        icmp = pkt[(pkt[0] & 15) * 4:]
        if src[0] == addr and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
            got.add(struct.unpack("!H", icmp[6:8])[0])
print(len(got))
"""


def netns_ping(ns, addr, count=3, timeout=5):
    """Echo replies received from addr by count pings sent from namespace ns."""
    r = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", PING, addr, str(count),
                        str(timeout)], capture_output=True, text=True, timeout=timeout + 30)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)
