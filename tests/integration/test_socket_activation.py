"""Socket activation: sockets bound by someone else (systemd with
ternd.socket; here systemd-socket-activate(1)) and passed in LISTEN_FDS are
taken for the listen.udp / listen.tcp entries of the same type and address.

systemd-socket-activate passes one socket type per invocation (--datagram
for all or none), so two are chained: the first binds the UDP socket, the
second passes it through and adds the TCP ones. Without --accept each waits
for the first datagram or connection and then execs the next: the pid is
ternd's, and the request that woke it is queued on the passed socket for
ternd to answer. The passed sockets have no SO_REUSEPORT, so a ternd that
bound its own listener on the same address instead would fail to start:
a served request proves the passed socket is used.

Only IPv4 loopback: systemd-socket-activate's IPv6 sockets are dual-stack,
which ternd rightly refuses (ternd.socket sets BindIPv6Only=ipv6-only)."""

import os
import shutil
import time

import pytest

import turnclient as tc
from conftest import SECRET, TERND, free_port
from helpers import relay_channel, relay_send_data, under_valgrind, wait_until

SSA = shutil.which("systemd-socket-activate")
pytestmark = pytest.mark.skipif(SSA is None, reason="systemd-socket-activate not installed "
                                "(package systemd)")
ACTIVATE_TRIES = 40
UNCLAIMED = "match no listener"


def ipv4_only(cfg):
    """Listeners on 127.0.0.1 only, at the port the factory picked."""
    port = cfg["listen"]["udp"][0].rsplit(":", 1)[1]
    cfg["listen"]["udp"] = [f"127.0.0.1:{port}"]
    cfg["listen"]["tcp"] = [f"127.0.0.1:{port}"]
    cfg["relay"]["addresses"] = ["127.0.0.1"]


def activation_argv(path, udp=(), tcp=()):
    """systemd-socket-activate binding `udp` (datagram) and `tcp` (stream)
    addresses, then exec'ing ternd -c path."""
    argv = []
    if udp:
        argv += [SSA, "--datagram"] + [a for addr in udp for a in ("-l", addr)] + ["--"]
    if tcp:
        argv += [SSA] + [a for addr in tcp for a in ("-l", addr)] + ["--"]
    return argv + [TERND, "-c", path]


def activate(server, proc, transport="udp"):
    """Sends Bindings until ternd (started by the first one) answers; bounded."""
    for _ in range(ACTIVATE_TRIES):
        assert proc.alive(), (f"exited with {proc.popen.returncode}:\n"
                              + proc.stderr_text()[-4000:])
        try:
            with tc.TurnClient(server, transport, timeout=0.5) as c:
                if c.binding() is not None:
                    return
        except (TimeoutError, OSError, tc.StunError):
            time.sleep(0.1)
    raise AssertionError("ternd never answered after activation:\n" + proc.stderr_text()[-4000:])


def is_ternd(pid):
    try:
        exe = os.path.realpath(f"/proc/{pid}/exe")
        if exe == os.path.realpath(TERND):
            return True
        if not under_valgrind() or not os.path.basename(exe).startswith("memcheck"):
            return False
        # tests/valgrind.sh: valgrind's tool running ternd in place.
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return TERND.encode() in f.read().split(b"\0")
    except OSError:
        return False


def start_activated(ternd_factory, procs, workers, udp=True, tcp=True, extra_tcp=(),
                    extra_udp=(), trigger="udp"):
    cfg, path, port = ternd_factory.write(workers=workers, edit=ipv4_only)
    addr = f"127.0.0.1:{port}"
    argv = activation_argv(path, udp=([addr] if udp else []) + list(extra_udp),
                           tcp=([addr] if tcp else []) + list(extra_tcp))
    if not os.access(TERND, os.X_OK):
        pytest.fail(f"ternd binary not found at {TERND} (set $TERND)")
    proc = procs("ternd", argv)
    proc.check_exit = True
    server = ("127.0.0.1", port)
    activate(server, proc, trigger)
    assert wait_until(lambda: is_ternd(proc.pid), 5), "the activated process is not ternd"
    return proc, cfg, server


def relay_over(server, transport, user, tag):
    username, password = tc.rest_credentials(SECRET, user, 3600)
    # Two peers: once a channel is bound, that peer's data comes as ChannelData.
    with tc.TurnClient(server, transport, username, password) as c, \
            tc.UdpPeer("127.0.0.1") as p1, tc.UdpPeer("127.0.0.1") as p2:
        relay = c.allocate().relay
        relay_channel(c, p1, relay, tag=tag)
        relay_send_data(c, p2, relay, tag=tag)


def test_passed_udp_and_tcp_sockets_serve(ternd_factory, procs):
    proc, cfg, server = start_activated(ternd_factory, procs, workers=3)
    log = proc.stderr_text()
    assert UNCLAIMED not in log, log[-3000:]
    for transport in ("udp", "tcp"):
        with tc.TurnClient(server, transport) as c:
            assert c.binding() is not None, transport
    # UDP: the passed socket is read by worker 0 alone; every allocation works.
    for i in range(3):
        relay_over(server, "udp", f"u{i}", tag=f"u{i}".encode())
    # TCP: every worker accepts from the passed socket; several connections
    # at once land on different workers.
    for i in range(6):
        relay_over(server, "tcp", f"t{i}", tag=f"t{i}".encode())
    clients = []
    try:
        for i in range(6):
            username, password = tc.rest_credentials(SECRET, f"p{i}", 3600)
            c = tc.TurnClient(server, "tcp", username, password)
            clients.append(c)
            c.allocate()
        with tc.UdpPeer("127.0.0.1") as peer:
            for i, c in enumerate(clients):
                relay_channel(c, peer, c.allocation.relay, tag=b"par%d" % i)
    finally:
        for c in clients:
            c.close()


def test_unclaimed_passed_socket_is_reported(ternd_factory, procs):
    """A passed socket whose address is in no listener list is a
    configuration mistake (ternd.socket and ternd.conf disagree): ternd
    says so and serves the rest."""
    other = free_port(hosts=("127.0.0.1",))
    proc, cfg, server = start_activated(ternd_factory, procs, workers=2,
                                        extra_tcp=[f"127.0.0.1:{other}"])
    assert wait_until(lambda: UNCLAIMED in proc.stderr_text(), 3), proc.stderr_text()[-3000:]
    line = next(l for l in proc.stderr_text().splitlines() if UNCLAIMED in l)
    assert "1 socket(s)" in line and line.startswith("<4>"), line
    relay_over(server, "udp", "a", b"a")
    relay_over(server, "tcp", "b", b"b")


def test_listener_without_passed_socket_is_bound_by_ternd(ternd_factory, procs):
    """Only the TCP socket is passed (activation by a TCP connection); ternd
    binds its UDP listener itself."""
    proc, cfg, server = start_activated(ternd_factory, procs, workers=2, udp=False,
                                        trigger="tcp")
    assert UNCLAIMED not in proc.stderr_text()
    relay_over(server, "udp", "a", b"a")
    relay_over(server, "tcp", "b", b"b")
