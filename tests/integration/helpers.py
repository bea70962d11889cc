"""Shared checks for the ternd integration scenarios."""

import os
import time

import turnclient as tc

PEER_HOST = {4: "127.0.0.1", 6: "::1"}
FAMILY = {4: tc.FAMILY_IPV4, 6: tc.FAMILY_IPV6}


def payloads(tag=b""):
    """Payloads around the 4-byte padding boundary plus a large datagram;
    each is tagged so crossed wires between clients would show."""
    return [tag + os.urandom(n) for n in (0, 1, 2, 3, 4, 5, 63, 100, 1200)]


def relay_send_data(c, peer, relay, tag=b""):
    """Both ways via Send and Data indications; byte for byte."""
    c.create_permission(peer.addr)
    for data in payloads(tag):
        c.send_indication(peer.addr, data)
        got = peer.recvfrom()
        assert got == (data, relay), f"peer got {got!r}, wanted {len(data)} bytes from {relay}"
        back = data[::-1] + b"<"
        peer.sendto(back, relay)
        assert c.recv_data() == ("data", peer.addr, back)


def relay_channel(c, peer, relay, channel=0x4001, tag=b""):
    """Both ways via ChannelData; byte for byte."""
    c.channel_bind(channel, peer.addr)
    for data in payloads(tag):
        c.send_channel_data(channel, data)
        got = peer.recvfrom()
        assert got == (data, relay), f"peer got {got!r}, wanted {len(data)} bytes from {relay}"
        back = data[::-1] + b">"
        peer.sendto(back, relay)
        assert c.recv_data() == ("channel", channel, back)


def assert_nothing(c, timeout=0.5):
    got = c.recv_data(timeout)
    assert got is None, f"unexpected relayed data {got!r}"


def assert_peer_nothing(peer, timeout=0.5):
    got = peer.recvfrom(timeout)
    assert got is None, f"peer unexpectedly received {got!r}"


def wait_until(pred, timeout, interval=0.2):
    """Polls pred() until true or timeout (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    value = pred()
    for _ in range(int(timeout / interval) + 2):
        if value or time.monotonic() >= deadline:
            break
        time.sleep(interval)
        value = pred()
    return value


def first_401(c, method=tc.ALLOCATE, attrs=None):
    """Sends an unauthenticated request and learns REALM/NONCE from the 401."""
    if attrs is None:
        attrs = [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())]
    resp = c.request(method, attrs, auth=False)
    assert resp.error_code() == 401, resp
    c._learn(resp)
    return resp


def signed(c, method, attrs, tid=None):
    """Bytes of an authenticated request (the client must know the nonce)."""
    msg = c.build(method, attrs, True, tid)
    return msg, tc.encode(msg, c.key(), c.integrity, c.fingerprint)


def sanitized_binary(path):
    """True for an AddressSanitizer build. Its RSS says nothing about our
    memory bounds (freed memory sits in ASan's quarantine) and it runs
    several times slower, so tests relax those two kinds of checks."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def under_valgrind():
    """True when the daemons run under valgrind ($TERN_WRAP, see conftest
    and tests/valgrind.sh): some 20-50 times slower, and their RSS is
    valgrind's, not ours."""
    return "valgrind" in os.environ.get("TERN_WRAP", "")


def slowed(path):
    """True when ternd at path runs slowed down (ASan build or valgrind):
    tests relax timing bounds then, never correctness checks."""
    return under_valgrind() or sanitized_binary(path)
