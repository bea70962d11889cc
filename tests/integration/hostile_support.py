"""Helpers for the hostile suite (tests/integration/test_hostile_*.py).

Every scenario runs in a network namespace it creates (`unshare --net`, a
`sleep` holds it, only `lo`, up) and destroys (the holder and ternd are
stopped by pid by the procs fixture). Inside it:

  * ternd listens on 8.8.8.8 and 2001:4860:4860::8888 (public-looking
    addresses added to the namespace's lo; no packet ever leaves it), which are
    also its relay addresses, with NO peers.allow: the built-in deny policy
    alone decides;
  * clients send from 9.9.9.9 / 2620:fe::fe (or any address a test adds);
  * "canaries" are UDP sockets bound on an address in every denied peer range,
    and on the IPv6 forms embedding each IPv4 canary that can be assigned to
    an interface (compatible, NAT64, local-use NAT64, 6to4, Teredo); a test
    fails if any canary ever receives a byte, whatever ternd answered;
  * "controls" are UDP sockets on allowed public-looking addresses (1.1.1.1,
    2606:4700:4700::1111) that MUST receive what is relayed to them, proving
    that the canaries' silence is meaningful.

The pytest process itself makes its sockets inside the namespace: a short
thread calls setns(2) (per-thread for network namespaces), creates the
sockets and ends; a socket stays in the namespace it was created in.

Needs root (unshare, nsenter, setns).
"""

import ctypes
import ipaddress
import os
import select
import socket
import struct
import subprocess
import threading
import time

import pytest

import turnclient as tc
from conftest import TERND, SECRET, default_config, render_config, write_secrets

CLONE_NEWNET = 0x40000000
NETNS_WAIT = 5.0
RUN_TIMEOUT = 20

SERVER4, SERVER6 = "8.8.8.8", "2001:4860:4860::8888"
CLIENT4, CLIENT6 = "9.9.9.9", "2620:fe::fe"
CONTROL4, CONTROL6 = "1.1.1.1", "2606:4700:4700::1111"
PORT = 3478
CANARY_PORT = 40000
RELAY_LO, RELAY_HI = 20000, 20099

# One canary per denied IPv4 range (peer_policy.c's special_v4), each with the
# range it stands for. 0.0.0.0/8 and 255.255.255.255 are tried and skipped
# with a reason when the kernel refuses them.
CANARIES4 = [
    ("0.0.0.0/8", "0.1.2.3"),
    ("10.0.0.0/8", "10.0.0.1"),
    ("100.64.0.0/10", "100.64.0.1"),
    ("127.0.0.0/8", "127.0.0.2"),
    ("169.254.0.0/16", "169.254.1.1"),
    ("169.254.169.254 (metadata)", "169.254.169.254"),
    ("172.16.0.0/12", "172.16.0.1"),
    ("192.0.0.0/24", "192.0.0.1"),
    ("192.0.0.0/24 (TURN anycast)", "192.0.0.10"),
    ("192.0.2.0/24", "192.0.2.1"),
    ("192.31.196.0/24", "192.31.196.1"),
    ("192.52.193.0/24", "192.52.193.1"),
    ("192.88.99.0/24", "192.88.99.1"),
    ("192.168.0.0/16", "192.168.0.1"),
    ("192.175.48.0/24", "192.175.48.1"),
    ("198.18.0.0/15", "198.18.0.1"),
    ("198.51.100.0/24", "198.51.100.1"),
    ("203.0.113.0/24", "203.0.113.1"),
    ("224.0.0.0/4", "239.1.2.3"),
    ("240.0.0.0/4", "240.0.0.1"),
]
CANARIES6 = [
    ("::1/128", "::1"),
    ("64:ff9b:1::/48", "64:ff9b:1::1"),
    ("100::/64", "100::1"),
    ("2001::/23", "2001:2::1"),
    ("2001:db8::/32", "2001:db8::1"),
    ("2620:4f:8000::/48", "2620:4f:8000::1"),
    ("3fff::/20", "3fff::1"),
    ("5f00::/16", "5f00::1"),
    ("fc00::/7", "fd00::1"),
    ("fe80::/10", "fe80::1"),
    ("fec0::/10", "fec0::1"),
    ("ff00::/8", "ff05::1:3"),
]


def embeddings(v4):
    """The IPv6 forms embedding IPv4 address v4: name -> IPv6 text."""
    n = int(ipaddress.IPv4Address(v4))
    return {
        "mapped": f"::ffff:{v4}",
        "compatible": str(ipaddress.IPv6Address(n)),
        "translated": str(ipaddress.IPv6Address((0xffff << 48) | n)),   # ::ffff:0:a.b.c.d
        "nat64": str(ipaddress.IPv6Address((0x64ff9b << 96) | n)),
        # RFC 6052 /48: v4 in bits 48..63 and 72..103 (bit 64..71 is u = 0)
        "nat64_local": str(ipaddress.IPv6Address(
            (0x0064ff9b0001 << 80) | ((n >> 16) << 64) | ((n & 0xffff) << 40))),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
        # Teredo: 2001:0:<server v4>:<flags>:<port ^ ffff>:<client v4 ^ ffffffff>
        "teredo": str(ipaddress.IPv6Address(
            (0x20010000 << 96) | (0x01020304 << 64) | (0x8000 << 48) | (0xffff << 32)
            | (n ^ 0xffffffff))),
    }


# --- the namespace ------------------------------------------------------------------
libc = ctypes.CDLL(None, use_errno=True)


def netns_inode(pid):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


class Netns:
    """A network namespace held by a `sleep` started through procs."""

    def __init__(self, procs):
        if os.geteuid() != 0:
            pytest.fail("the hostile suite needs root for its network namespace (unshare --net)")
        self.holder = procs("netns", ["unshare", "--net", "--", "/bin/sh", "-c",
                                      "ip link set lo up && exec sleep 600"])
        host = netns_inode(os.getpid())
        end = time.monotonic() + NETNS_WAIT
        while time.monotonic() < end:
            try:
                with open(f"/proc/{self.holder.pid}/comm") as f:
                    if f.read().strip() == "sleep" and netns_inode(self.holder.pid) != host:
                        break
            except OSError:
                pass
            if not self.holder.alive():
                break
            time.sleep(0.02)
        else:
            raise AssertionError("network namespace did not come up")
        if not self.holder.alive():
            raise AssertionError(f"namespace holder died: {self.holder.stderr_text()}")
        self.path = f"/proc/{self.holder.pid}/ns/net"
        self.inode = netns_inode(self.holder.pid)

    def argv(self, argv):
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def ip(self, lines, check=True):
        """Runs `ip -batch` lines in the namespace; returns the CompletedProcess."""
        r = subprocess.run(self.argv(["ip", "-force", "-batch", "-"]), input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        if check and r.returncode != 0:
            raise AssertionError(f"ip -batch failed: {r.stderr}")
        return r

    def add_addrs(self, addrs):
        """Adds each address (v4 /32, v6 /128 nodad) to lo; returns {addr: error or None}."""
        out = {}
        for a in addrs:
            v6 = ":" in a
            cmd = f"addr add {a}/128 dev lo nodad" if v6 else f"addr add {a}/32 dev lo"
            r = self.ip([cmd], check=False)
            out[a] = None if r.returncode == 0 else (r.stderr.strip() or "failed")
        return out

    def run(self, fn, *args, **kw):
        """Calls fn in a thread that entered the namespace; returns its result."""
        box = {}

        def body():
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                if netns_inode("thread-self") != self.inode:
                    raise AssertionError("setns did not move the thread")
                box["value"] = fn(*args, **kw)
            except BaseException as e:  # handed back to the caller
                box["error"] = e
            finally:
                os.close(fd)

        t = threading.Thread(target=body)
        t.start()
        t.join(RUN_TIMEOUT)
        if t.is_alive():
            raise AssertionError("namespace thread hung")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def udp(self, src, port=0, family=None):
        """A UDP socket in the namespace bound to (src, port)."""
        def make():
            s = socket.socket(family or tc.family_of(src), socket.SOCK_DGRAM)
            s.bind(bind_addr(src, port))
            return s
        return self.run(make)


def bind_addr(host, port):
    if ":" in host:
        scope = socket.if_nametoindex("lo") if host.lower().startswith("fe80") else 0
        return (host, port, 0, scope)
    return (host, port)


# --- transports bound to a chosen source ------------------------------------------------
class BoundUdp(tc.UdpTransport):
    def __init__(self, server, src, timeout=2.0):  # noqa: super() would not bind
        self.server = tc.sockaddr(server)
        self.sock = socket.socket(tc.family_of(server[0]), socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.bind((src, 0))
        self.sock.connect(self.server)


class BoundTcp(tc.TcpTransport):
    def __init__(self, server, src, timeout=2.0):  # noqa: super() would not bind
        self.server = tc.sockaddr(server)
        self.sock = socket.create_connection(self.server, timeout=timeout, source_address=(src, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False


# --- canaries -------------------------------------------------------------------------
class Canaries:
    """UDP sockets on denied addresses; .skipped names those the kernel refused."""

    def __init__(self, ns, entries, port=CANARY_PORT):
        self.ns = ns
        self.port = port
        self.socks = {}     # addr -> (range name, socket)
        self.skipped = {}   # addr -> reason
        errors = ns.add_addrs([a for _, a in entries if not is_multicast(a) and a != "::1"
                               and not a.startswith("127.")])
        for name, addr in entries:
            if errors.get(addr):
                self.skipped[addr] = f"{name}: cannot add {addr} to lo: {errors[addr]}"
                continue
            try:
                self.socks[addr] = (name, ns.run(self._open, addr))
            except OSError as e:
                self.skipped[addr] = f"{name}: cannot bind {addr}: {e}"

    def _open(self, addr):
        fam = tc.family_of(addr)
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(bind_addr(addr, self.port))
        if is_multicast(addr):
            idx = socket.if_nametoindex("lo")
            if fam == socket.AF_INET:
                # struct ip_mreqn: group, local address (any), interface index
                mreq = socket.inet_aton(addr) + struct.pack("=II", 0, idx)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                             socket.inet_pton(socket.AF_INET6, addr) + struct.pack("=I", idx))
        s.setblocking(False)
        return s

    def received(self, wait=0.0):
        """{addr: total bytes} read from every canary (after waiting `wait` s)."""
        if wait:
            time.sleep(wait)
        got = {}
        for addr, (_, s) in self.socks.items():
            for _ in range(10000):
                r, _, _ = select.select([s], [], [], 0)
                if not r:
                    break
                try:
                    data = s.recv(65536)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                got[addr] = got.get(addr, 0) + len(data)
        return got

    def assert_reachable(self, ns, src4, src6):
        """Sends one datagram straight to every canary from src4 / src6 and
        checks each arrived: a silent canary must be one that could hear."""
        def probe():
            s4, s6 = (socket.socket(f, socket.SOCK_DGRAM) for f in (socket.AF_INET, socket.AF_INET6))
            s4.bind((src4, 0))
            s6.bind((src6, 0))
            s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src4))
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("lo"))
            for addr in self.socks:
                (s6 if ":" in addr else s4).sendto(b"?", bind_addr(addr, self.port))
            s4.close()
            s6.close()
        self.ns.run(probe)
        got = self.received(0.2)
        deaf = [a for a in self.socks if got.get(a) != 1]
        for a in [a for a in deaf if ":" in a and is_multicast(a)]:
            # The kernel does not loop IPv6 multicast back on lo inside a bare
            # namespace; ff00::/8 is then judged by ternd's 403 answer alone.
            name, sock = self.socks.pop(a)
            sock.close()
            self.skipped[a] = f"{name}: IPv6 multicast not delivered on lo here"
            deaf.remove(a)
        assert not deaf, f"canaries that cannot hear a direct packet: {deaf}"

    def assert_silent(self, wait=0.3, what=""):
        got = self.received(wait)
        assert not got, f"canaries received bytes {what}: " + ", ".join(
            f"{a} ({self.socks[a][0]}): {n} B" for a, n in got.items())

    def close(self):
        for _, s in self.socks.values():
            s.close()


def is_multicast(addr):
    return ipaddress.ip_address(addr).is_multicast


def enable_multicast(ns):
    """Multicast on lo with routes for 224/4 and ff00::/8, so that a packet to
    a multicast canary would really be delivered to it."""
    ns.ip(["link set lo multicast on", "route add 224.0.0.0/4 dev lo",
           "route add ff00::/8 dev lo table local"], check=False)


# --- ternd ------------------------------------------------------------------------------
class HostileTernd:
    def __init__(self, proc, cfg, path):
        self.proc = proc
        self.config = cfg
        self.path = path
        self.udp4 = self.tcp4 = (SERVER4, PORT)
        self.udp6 = self.tcp6 = (SERVER6, PORT)

    def creds(self, user="mallory", ttl=3600, secret=SECRET, now=None):
        return tc.rest_credentials(secret, user, ttl, now)

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def start_ternd(ns, procs, tmp_path, edit=None, workers=1):
    """ternd in the namespace on 8.8.8.8 / 2001:4860:4860::8888 (listeners and
    relay addresses), no peers.allow; waits for a Binding answer."""
    ns.add_addrs([SERVER4, SERVER6, CLIENT4, CLIENT6, CONTROL4, CONTROL6])
    secrets = str(tmp_path / "secrets")
    write_secrets(secrets, [SECRET])
    cfg = default_config(PORT, RELAY_LO, RELAY_HI, secrets, workers)
    cfg["listen"] = {"udp": [f"{SERVER4}:{PORT}", f"[{SERVER6}]:{PORT}"],
                     "tcp": [f"{SERVER4}:{PORT}", f"[{SERVER6}]:{PORT}"]}
    cfg["relay"]["addresses"] = [SERVER4, SERVER6]
    cfg["peers"] = {"allow": [], "deny": []}
    cfg["metrics"] = {"listen": ""}
    if edit:
        edit(cfg)
    path = str(tmp_path / "ternd.conf")
    with open(path, "w") as f:
        f.write(render_config(cfg))
    proc = procs("ternd", ns.argv([TERND, "-c", path]))
    proc.check_exit = True
    d = HostileTernd(proc, cfg, path)
    for _ in range(100):
        if not proc.alive():
            raise AssertionError(f"ternd exited: {proc.stderr_text()[-3000:]}")
        try:
            c = client(ns, d, src=CLIENT4, timeout=0.2, auth=False)
            try:
                if c.binding():
                    return d
            finally:
                c.close()
        except (TimeoutError, OSError, tc.StunError, tc.TurnError):
            time.sleep(0.05)
    raise AssertionError("ternd never answered a Binding in the namespace")


def client(ns, d, src=CLIENT4, transport="udp", user="mallory", ttl=3600, timeout=2.0,
           auth=True, username=None, password=None, **kw):
    """A TurnClient whose socket lives in the namespace, bound to src."""
    server = d.udp6 if ":" in src else d.udp4
    if auth and username is None:
        username, password = d.creds(user, ttl)

    def make():
        if transport == "udp":
            return BoundUdp(server, src, timeout)
        return BoundTcp(server, src, timeout)

    t = ns.run(make)
    # TurnClient.__init__ would open its own unbound socket in the host's
    # namespace: fill in the same fields around the bound transport instead.
    c = object.__new__(tc.TurnClient)
    c.server, c.transport_name, c.timeout, c.t = tc.sockaddr(server), transport, timeout, t
    c.username, c.password = (username, password) if auth else (None, None)
    c.integrity, c.password_algorithm = kw.get("integrity", "sha1"), None
    c.fingerprint, c.check_integrity = kw.get("fingerprint", False), True
    c.realm = c.nonce = c.offered_algorithms = c.allocation = None
    c.pending = []
    return c


def dual_allocation(ns, d, src=CLIENT4, **kw):
    """A client with a dual-stack allocation (IPv4 + IPv6 relayed addresses)."""
    c = client(ns, d, src=src, **kw)
    c.allocate(additional_family=tc.FAMILY_IPV6)  # IPv4 + IPv6 (RFC 8656 7.2)
    assert len(c.allocation.relayed) == 2, c.allocation.relayed
    return c


def expect_code(resp, code, what=""):
    got = resp.error_code() if resp.cls == tc.ERROR else 0
    assert got == code, f"{what}: wanted {code}, got {got or 'success'} ({resp})"
