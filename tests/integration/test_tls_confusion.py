"""Protocol confusion on the TLS port: whatever is not a TLS ClientHello
(plain HTTP, plaintext STUN, garbage, an SSLv2-style hello, a "hello" that
is malformed inside a TLS record) is closed at once with no answer; a TLS
client offering only other ALPN protocols (no passthrough configured) fails
its handshake with a no_application_protocol alert. ternd serves a normal
TURN-over-TLS client afterwards, on the same worker.

handshake_timeout stays at its default of 10 s, so "closed within 2 s"
shows that ternd recognised the junk, rather than timing it out."""

import os
import socket
import ssl
import struct

import pytest

import helpers as h
import tls_support as ts
import turnclient as tc

CLOSE_WITHIN = 2.0


@pytest.fixture
def d(ternd_factory, tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    cert, key = ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,))
    return ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, workers=1)


def stun_binding():
    return tc.encode(tc.Message(tc.BINDING, tc.REQUEST), fingerprint=True)


def random_garbage():
    junk = bytearray(os.urandom(600))
    if junk[0] in (0x16, 0x80):
        junk[0] ^= 0x01
    return bytes(junk)


def tls_record_with_junk():
    """A TLS handshake record header whose body is not a ClientHello."""
    body = bytes([0x02]) + os.urandom(300)        # handshake type 2: ServerHello
    return struct.pack("!BHH", 0x16, 0x0301, len(body)) + body


def sslv2_hello():
    """An SSLv2-compatible ClientHello (RFC 5246 appendix E.2)."""
    suites = bytes.fromhex("00002f000035")
    challenge = os.urandom(16)
    body = (struct.pack("!BHHHH", 1, 0x0301, len(suites), 0, len(challenge))
            + suites + challenge)
    return struct.pack("!H", 0x8000 | len(body)) + body


def oversized_hello():
    """A handshake header announcing a ClientHello larger than ternd reads."""
    return struct.pack("!BHH", 0x16, 0x0301, 16384) + bytes([0x01, 0x01, 0x00, 0x00]) + \
        b"\0" * 100


JUNK = {
    "http": lambda: (b"GET / HTTP/1.1\r\nHost: turn.tern.test\r\nUser-Agent: test\r\n"
                     b"Accept: */*\r\n\r\n"),
    "http-connect": lambda: b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n",
    "stun-binding": stun_binding,
    "channeldata": lambda: tc.encode_channel_data(0x4001, b"hello", pad=True),
    "garbage": random_garbage,
    "tls-record-not-a-hello": tls_record_with_junk,
    "sslv2-hello": sslv2_hello,
    "oversized-hello": oversized_hello,
}


def test_non_tls_input_is_closed_without_answer(d):
    results = {}
    for name, make in JUNK.items():
        s = ts.connect_from(d.tls4)
        try:
            s.sendall(make())
            how, data, secs = ts.read_until_closed(s, CLOSE_WITHIN + 1)
        finally:
            s.close()
        results[name] = (how, data[:80], round(secs, 2))
    bad = {n: r for n, r in results.items()
           if r[0] == "open" or r[1] != b"" or r[2] > CLOSE_WITHIN}
    assert not bad, f"not closed at once without an answer: {bad}\nall: {results}"
    # Not a byte of HTTP (or anything else) came back, and ternd still works.
    with d.tls_client() as c:
        assert c.allocate().relay[0] == "127.0.0.1"


def test_plain_http_gets_no_http_reply(d):
    s = ts.connect_from(d.tls4)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        how, data, secs = ts.read_until_closed(s, CLOSE_WITHIN + 1)
    finally:
        s.close()
    assert how in ("eof", "reset") and secs <= CLOSE_WITHIN, (how, secs)
    assert not data.startswith(b"HTTP/"), data[:200]
    assert data == b"", data[:200]


@pytest.mark.parametrize("alpn", [["h2"], ["h2", "http/1.1"], ["xmpp-client"]])
def test_foreign_alpn_without_passthrough_fails_handshake(d, alpn):
    ctx = ts.client_context(alpn=alpn)
    raw = socket.create_connection(d.tls4, timeout=5)
    try:
        with pytest.raises(ssl.SSLError) as e:
            ctx.wrap_socket(raw, server_hostname=ts.TURN_NAME).close()
        assert "NO_APPLICATION_PROTOCOL" in str(e.value).upper() or \
            "no application protocol" in str(e.value).lower(), str(e.value)
    finally:
        raw.close()


def test_ternd_serves_tls_turn_after_all_of_it(d):
    """Everything above in a burst, then TURN over TLS and TCP as usual."""
    for make in JUNK.values():
        s = ts.connect_from(d.tls4)
        s.sendall(make())
        s.close()
    for _ in range(3):
        raw = socket.create_connection(d.tls4, timeout=5)
        with pytest.raises(ssl.SSLError):
            ts.client_context(alpn=["h2"]).wrap_socket(raw, server_hostname=ts.TURN_NAME)
        raw.close()
    for alpn in ((ts.ALPN_TURN,), None):
        ctx = ts.client_context(cafile=d.cafile, alpn=alpn)
        with d.tls_client(ctx=ctx) as c, tc.UdpPeer() as peer:
            alloc = c.allocate()
            h.relay_channel(c, peer, alloc.relay, tag=b"after-junk")
    with d.client("tcp") as c, tc.UdpPeer() as peer:
        h.relay_send_data(c, peer, c.allocate().relay)
