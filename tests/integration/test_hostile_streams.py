"""Hostile: TCP and TLS connection floods and stalls, in the namespace, from
many source addresses (test_stream_bounds.py covers the same bounds on
loopback with one source at a time).

  * flood: 12 sources open 3 * connections_per_source TCP connections each;
    at most connections_per_source per source stay open; TLS the same;
  * stalls: every connection left open sends nothing (TLS: no ClientHello;
    TCP: half a STUN header): all are closed within the handshake / auth
    timeouts plus slack, whatever their number;
  * during and after: a legitimate client from a fresh address allocates.
"""

import socket
import time

import pytest

from hostile_support import PORT, SERVER4, Netns, client, start_ternd
from tls_support import Ca, is_closed_now

TLS_PORT = 5349
PER_SOURCE, SOURCES, TIMEOUT = 4, 12, 2
SRCS = [f"9.9.7.{i + 1}" for i in range(SOURCES)]
SLACK = 3.0


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    ns.add_addrs(SRCS + ["9.9.7.200"])
    cert, key = Ca(str(tmp_path / "ca")).issue("server", "turn.tern.test", ips=(SERVER4,))

    def edit(cfg):
        cfg["limits"].update(connections_per_source=PER_SOURCE, stream_auth_timeout=TIMEOUT,
                             stream_idle_timeout=60)
        cfg["tls"] = {"listen": [f"{SERVER4}:{TLS_PORT}"], "certificate": cert,
                      "private_key": key, "handshake_timeout": TIMEOUT}
    return ns, start_ternd(ns, procs, tmp_path, edit=edit, workers=2)


def open_from(ns, src, port):
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.settimeout(2.0)
        try:
            s.connect((SERVER4, port))
        except OSError:
            s.close()
            return None
        return s
    return ns.run(make)


def still_open(socks):
    return [s for s in socks if s is not None and not is_closed_now(s)]


@pytest.mark.parametrize("port", [PORT, TLS_PORT], ids=["tcp", "tls"])
def test_connection_flood_and_stall_bounded(world, port):
    ns, d = world
    socks = {src: [open_from(ns, src, port) for _ in range(3 * PER_SOURCE)] for src in SRCS}
    start = time.monotonic()
    try:
        if port == PORT:
            for conns in socks.values():
                for s in still_open(conns):
                    try:
                        s.send(b"\x00\x01\x00")   # a STUN header cut short
                    except OSError:
                        pass
        time.sleep(0.5)
        open_now = {src: len(still_open(conns)) for src, conns in socks.items()}
        assert max(open_now.values()) <= PER_SOURCE, f"per-source cap broken: {open_now}"
        # A legitimate client during the stall.
        c = client(ns, d, src="9.9.7.200", transport="tcp", user="legit")
        c.allocate()
        c.close()
        # Every stalled connection closed within the timeout plus slack.
        left = []
        for _ in range(int((TIMEOUT + SLACK) / 0.2) + 1):
            left = [s for conns in socks.values() for s in still_open(conns)]
            if not left:
                break
            time.sleep(0.2)
        took = time.monotonic() - start
        assert not left, f"{len(left)} stalled connections still open after {took:.1f}s"
        print(f"{'TLS' if port == TLS_PORT else 'TCP'}: {SOURCES}x{3 * PER_SOURCE} connections, "
              f"open after the cap {sum(open_now.values())}, all stalled closed in {took:.1f}s")
    finally:
        for conns in socks.values():
            for s in conns:
                if s is not None:
                    s.close()
    assert d.proc.alive()
