"""A bounded flood of unauthenticated and malformed traffic against ternd, run
as its own process (so the pytest process's legitimate client does not share
a GIL with it) by test_hostile_flood.py through the procs fixture.

  flood_gen.py udp HOST PORT --sources N --packets N --seconds S --rate PPS
  flood_gen.py tcp HOST PORT --sources N --connections N --seconds S --open N

udp: datagrams from N source addresses 127.77.x.y (all of 127/8 is local on
Linux, so binding there stands in for spoofed sources), cycling through the
kinds below, paced at --rate, stopping at --packets or --seconds, whichever
comes first. Answers are read and counted (never acted on).

tcp: connections from 127.78.x.y, each doing one hostile thing (garbage,
half a header, a ChannelData length that never arrives, an unauthenticated
Allocate, nothing at all), at most --open left open at once (the oldest is
closed first), stopping at --connections or --seconds.

The last stdout line is a JSON summary: what was sent and answered."""

import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time
from collections import deque

COOKIE = 0x2112A442
BINDING, ALLOCATE, REFRESH, SEND, CREATE_PERMISSION, CHANNEL_BIND = 1, 3, 4, 6, 8, 9
REQUEST, INDICATION, SUCCESS = 0x0000, 0x0010, 0x0100
USERNAME, MESSAGE_INTEGRITY, CHANNEL_NUMBER, XOR_PEER_ADDRESS = 0x0006, 0x0008, 0x000C, 0x0012
DATA, REALM, NONCE, REQUESTED_TRANSPORT, FINGERPRINT = 0x0013, 0x0014, 0x0015, 0x0019, 0x8028


def stype(method, cls):
    m = method
    return (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | cls


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\x00" * (-len(v) % 4)


def stun(method, cls, attrs=b"", length=None):
    """Header (with a placeholder tid, replaced per packet) plus attrs."""
    n = len(attrs) if length is None else length
    return struct.pack("!HHI", stype(method, cls), n, COOKIE) + b"T" * 12 + attrs


RT = attr(REQUESTED_TRANSPORT, b"\x11\x00\x00\x00")
PEER = attr(XOR_PEER_ADDRESS, b"\x00\x01" + os.urandom(6))
FORGED = (attr(USERNAME, f"{int(time.time()) + 600}:mallory".encode())
          + attr(REALM, b"tern.test") + attr(NONCE, b"n" * 24))
BAD_MI = attr(MESSAGE_INTEGRITY, bytes(20))

# Each kind: (name, bytes); STUN kinds get a fresh transaction id per packet.
UDP_KINDS = [
    ("binding", stun(BINDING, REQUEST)),
    ("allocate_unauth", stun(ALLOCATE, REQUEST, RT)),
    ("allocate_forged", stun(ALLOCATE, REQUEST, RT + FORGED + BAD_MI)),
    ("refresh_forged", stun(REFRESH, REQUEST, FORGED + BAD_MI)),
    ("permission_unauth", stun(CREATE_PERMISSION, REQUEST, PEER)),
    ("channel_bind_unauth", stun(CHANNEL_BIND, REQUEST,
                                 attr(CHANNEL_NUMBER, b"\x40\x00\x00\x00") + PEER)),
    ("send_no_allocation", stun(SEND, INDICATION, PEER + attr(DATA, b"x" * 100))),
    ("channel_data_unbound", b"\x40\x00\x00\x64" + b"c" * 100),
    ("channel_data_short", b"\x7f\xff\xff\xff" + b"c" * 8),
    ("truncated_header", stun(BINDING, REQUEST)[:13]),
    ("length_beyond_datagram", stun(BINDING, REQUEST, length=400)),
    ("length_not_multiple_of_4", stun(BINDING, REQUEST, b"\x00\x06\x00\x03abc", length=7)),
    ("attr_beyond_message", stun(ALLOCATE, REQUEST, struct.pack("!HH", USERNAME, 200) + b"u" * 8)),
    ("unknown_required_attr", stun(BINDING, REQUEST, attr(0x0030, b"") + attr(0x0031, b"zz"))),
    ("mi_without_username", stun(ALLOCATE, REQUEST, RT + BAD_MI)),
    ("bad_fingerprint", stun(BINDING, REQUEST, attr(FINGERPRINT, b"\xde\xad\xbe\xef"))),
    ("success_class_to_server", stun(BINDING, SUCCESS)),
    ("bad_cookie", struct.pack("!HHI", 1, 0, 0xDEADBEEF) + b"T" * 12),
    ("rtp_like", b"\x80\x60" + os.urandom(170)),
    ("dtls_like", b"\x16\xfe\xfd" + os.urandom(97)),
    ("garbage_small", None),      # random 1..64 bytes
    ("garbage_large", None),      # random 500..4000 bytes
    ("empty", b""),
]


def udp_packet(i, rng):
    name, base = UDP_KINDS[i % len(UDP_KINDS)]
    if base is None:
        n = rng.randint(1, 64) if name == "garbage_small" else rng.randint(500, 4000)
        return rng.randbytes(n)
    if len(base) >= 20 and base[8:20] == b"T" * 12:
        return base[:8] + rng.randbytes(12) + base[20:]
    return base


def source(prefix, i):
    return f"{prefix}.{i // 250}.{i % 250 + 1}"


def drain(socks_by_fd, counts):
    for _ in range(64):
        r, _, _ = select.select(list(socks_by_fd), [], [], 0)
        if not r:
            return
        for fd in r:
            try:
                data = socks_by_fd[fd].recv(65536)
            except OSError:
                continue
            counts["answers"] += 1
            counts["answer_bytes"] += len(data)


def udp_flood(a):
    rng = random.Random(a.seed)
    socks = []
    for i in range(a.sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source("127.77", i), 0))
        s.connect((a.host, a.port))
        s.setblocking(False)
        socks.append(s)
    by_fd = {s.fileno(): s for s in socks}
    counts = {"mode": "udp", "sources": a.sources, "sent": 0, "sent_bytes": 0,
              "send_errors": 0, "answers": 0, "answer_bytes": 0}
    start = time.monotonic()
    batch = 50
    for i in range(a.packets):
        if i % batch == 0:
            now = time.monotonic()
            if now - start >= a.seconds:
                break
            ahead = start + i / a.rate - now      # pacing: i packets by i / rate s
            if ahead > 0:
                time.sleep(ahead)
            drain(by_fd, counts)
        pkt = udp_packet(i, rng)
        try:
            socks[i % len(socks)].send(pkt)
            counts["sent"] += 1
            counts["sent_bytes"] += len(pkt)
        except OSError:
            counts["send_errors"] += 1
    time.sleep(0.2)
    drain(by_fd, counts)
    counts["seconds"] = round(time.monotonic() - start, 2)
    for s in socks:
        s.close()
    return counts


# --- TCP ---------------------------------------------------------------------------
def frame_allocate(rng):
    return stun(ALLOCATE, REQUEST, RT)[:8] + rng.randbytes(12) + RT


TCP_KINDS = [
    ("garbage_then_close", lambda rng: rng.randbytes(rng.randint(1, 2000)), True),
    ("half_header_stall", lambda rng: stun(BINDING, REQUEST)[:10], False),
    ("channel_data_claims_64k", lambda rng: b"\x40\x00\xff\xff" + b"c" * 100, False),
    ("stun_length_claims_64k", lambda rng: stun(ALLOCATE, REQUEST, length=0xfffc), False),
    ("allocate_unauth", frame_allocate, False),
    ("connect_idle", lambda rng: b"", False),
    ("connect_close", lambda rng: b"", True),
]


def tcp_flood(a):
    rng = random.Random(a.seed)
    open_socks = deque()
    counts = {"mode": "tcp", "sources": a.sources, "connections": 0, "connect_errors": 0,
              "sent_bytes": 0, "refused_or_reset": 0, "max_open": 0}
    start = time.monotonic()
    for i in range(a.connections):
        if time.monotonic() - start >= a.seconds:
            break
        if i % 20 == 0:
            ahead = start + i / a.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        name, payload, close = TCP_KINDS[i % len(TCP_KINDS)]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            s.bind((source("127.78", i % a.sources), 0))
            s.settimeout(0.5)
            s.connect((a.host, a.port))
            data = payload(rng)
            if data:
                s.sendall(data)
                counts["sent_bytes"] += len(data)
            counts["connections"] += 1
        except OSError:
            counts["connect_errors"] += 1
            s.close()
            continue
        if close:
            s.close()
            continue
        s.setblocking(False)
        open_socks.append(s)
        while len(open_socks) > a.open:
            open_socks.popleft().close()
        counts["max_open"] = max(counts["max_open"], len(open_socks))
    # How many of the stalled ones ternd has closed by now (bounded look).
    for s in open_socks:
        try:
            if s.recv(1) == b"":
                counts["refused_or_reset"] += 1
        except BlockingIOError:
            pass
        except OSError:
            counts["refused_or_reset"] += 1
        s.close()
    counts["seconds"] = round(time.monotonic() - start, 2)
    return counts


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["udp", "tcp"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--sources", type=int, default=256)
    p.add_argument("--packets", type=int, default=100000)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--open", type=int, default=200)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=10000.0)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    counts = udp_flood(a) if a.mode == "udp" else tcp_flood(a)
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
