"""Hostile: spoofed-source floods. Inside the namespace a "victim" can be any
source address added to lo, which is what a spoofer achieves on the
Internet: every answer ternd sends goes to the victim. Measured here:

  * the amplification factor (answer bytes / request bytes) of every
    unauthenticated answer: Binding success, 401 challenge, 400, 420, 438,
    each from a minimal request (the attacker's best case); printed, and
    bounded (a regression past the bound fails);
  * the per-source rate limit: a burst of requests from one victim address
    gets at most unauth_burst + unauth_rate * elapsed answers;
  * many victims at once (64 source addresses): each is limited on its own,
    and the total answer bytes stay bounded by the same rule.
"""

import os
import select
import socket
import struct
import time

import pytest

import turnclient as tc
from hostile_support import PORT, SERVER4, Netns, start_ternd

RATE, BURST = 20, 40
VICTIMS = [f"9.9.{i // 250}.{i % 250 + 2}" for i in range(64)]
# Bounds on the factor: ternd answers unauthenticated requests with short
# messages (empty ERROR-CODE reason); a 401 carries REALM, NONCE and
# PASSWORD-ALGORITHMS, so it is the largest.
MAX_FACTOR = {"binding": 2.5, "401": 6.0, "400": 2.0, "420": 2.5, "438": 2.0}


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    ns.add_addrs(VICTIMS)
    d = start_ternd(ns, procs, tmp_path,
                    edit=lambda cfg: cfg["limits"].update(unauth_rate=RATE, unauth_burst=BURST))
    return ns, d


def header(method, cls, length, tid):
    return struct.pack("!HHI", tc.message_type(method, cls), length, tc.MAGIC_COOKIE) + tid


def requests():
    """Minimal request bytes per answer kind."""
    tid = os.urandom(12)
    out = {"binding": header(tc.BINDING, tc.REQUEST, 0, tid)}
    out["401"] = header(tc.ALLOCATE, tc.REQUEST, 8, tid) + tc.encode_attrs(
        [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())])
    # An unknown comprehension-required attribute: 420.
    out["420"] = header(tc.BINDING, tc.REQUEST, 4, tid) + struct.pack("!HH", 0x0030, 0)
    # MESSAGE-INTEGRITY without USERNAME: 400 (RFC 8489 section 9.2.4).
    out["400"] = header(tc.ALLOCATE, tc.REQUEST, 24, tid) + struct.pack(
        "!HH", tc.MESSAGE_INTEGRITY, 20) + bytes(20)
    # USERNAME, REALM, a nonce that is not ours, MESSAGE-INTEGRITY: 438 (or 401).
    body = tc.encode_attrs([(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport()),
                            (tc.USERNAME, b"1:a"), (tc.REALM, b"r"), (tc.NONCE, b"n" * 4)])
    mi = struct.pack("!HH", tc.MESSAGE_INTEGRITY, 20) + bytes(20)
    out["438"] = header(tc.ALLOCATE, tc.REQUEST, len(body) + len(mi), tid) + body + mi
    return out


def victim_socket(ns, src):
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.connect((SERVER4, PORT))
        s.setblocking(False)
        return s
    return ns.run(make)


def drain(s, wait):
    n = size = 0
    end = time.monotonic() + wait
    for _ in range(100000):
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        try:
            data = s.recv(65536)
        except (BlockingIOError, ConnectionRefusedError):
            continue
        n += 1
        size += len(data)
    return n, size


def test_amplification_and_rate_limits(world):
    ns, d = world
    report = []
    for i, (kind, req) in enumerate(requests().items()):
        s = victim_socket(ns, VICTIMS[i])
        s.send(req)
        s.setblocking(True)
        s.settimeout(1.0)
        answer = s.recv(65536)
        n, size = drain(s, 0.3)
        s.close()
        assert n == 0, f"{kind}: {n + 1} answers to one request"
        got = tc.decode(answer)
        code = got.error_code() if got.cls == tc.ERROR else "success"
        factor = len(answer) / len(req)
        report.append(f"{kind} (answered {code}): {len(req)} B in -> {len(answer)} B out, "
                      f"factor {factor:.2f}")
        assert str(code) == kind or (kind == "binding" and code == "success") or \
            (kind == "438" and code == 401), report[-1]
        assert factor <= MAX_FACTOR[kind], report[-1]
    print("amplification:", "; ".join(report))

    # One victim, a burst of 400 Bindings as fast as we can send.
    s = victim_socket(ns, VICTIMS[10])
    req = requests()["401"]
    start = time.monotonic()
    for _ in range(400):
        try:
            s.send(req)
        except BlockingIOError:
            time.sleep(0.001)
    n, size = drain(s, 1.0)
    elapsed = time.monotonic() - start
    s.close()
    allowed = BURST + RATE * elapsed + 2
    print(f"one source: 400 requests ({400 * len(req)} B) in {elapsed:.2f}s -> {n} answers "
          f"({size} B, {size / (400 * len(req)):.2f} B out per B in); limit {allowed:.0f}")
    assert n <= allowed

    # 64 victims at once, 100 requests each.
    socks = [victim_socket(ns, v) for v in VICTIMS[:64]]
    start = time.monotonic()
    for _ in range(100):
        for s in socks:
            try:
                s.send(req)
            except BlockingIOError:
                pass
    elapsed = time.monotonic() - start
    time.sleep(1.0)   # every answer is queued on its socket by now
    counts = [drain(s, 0.02) for s in socks]
    elapsed_all = time.monotonic() - start
    for s in socks:
        s.close()
    total_in = 64 * 100 * len(req)
    total_out = sum(sz for _, sz in counts)
    worst = max(n for n, _ in counts)
    print(f"64 sources x 100 requests in {elapsed:.2f}s: {total_in} B in -> {total_out} B out "
          f"({total_out / total_in:.2f}); worst source {worst} answers")
    assert worst <= BURST + RATE * elapsed_all + 2
