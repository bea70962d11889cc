"""Sharing the TLS port with a web site: tls.passthrough.

Real HTTPS backends (tests/integration/https_backend.py: Python's
http.server over TLS, each with its own certificate from its own CA) listen
on free loopback ports. ternd's TLS port has rules

  1. sni "www.hospital.test"           -> backend "www"
  2. sni "*.hospital.test"             -> backend "wild"
  3. alpn "h2"                         -> backend "apps"
  4. alpn "http/1.1"                   -> backend "apps"
  5. sni "down.test"                   -> a port where nothing listens

An HTTPS client going through ternd must see the BACKEND's certificate
(verified against the backend CA for the name it asked for) and get the
backend's page, byte for byte also for 1 MB each way: proof that ternd
passed the bytes on untouched and never terminated TLS. A client with SNI
turn.tern.test (or no SNI, or the bare hospital.test that the wildcard does
not cover, or ALPN stun.turn whatever its SNI) gets ternd's certificate
and can allocate.
"""

import hashlib
import http.client
import socket
import ssl

import pytest

import helpers as h
import tls_support as ts
import turnclient as tc

BIG = 1024 * 1024


@pytest.fixture
def site(procs, ternd_factory, tmp_path):
    turn_ca = ts.Ca(str(tmp_path / "turn-pki"), "Tern relay CA")
    web_ca = ts.Ca(str(tmp_path / "web-pki"), "Hospital web CA")
    turn_cert, turn_key = turn_ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,))
    www = ts.start_backend(procs, "www", *web_ca.issue("www", "www.hospital.test",
                                                       dns=("www.hospital.test",)))
    wild = ts.start_backend(procs, "wild", *web_ca.issue("wild", "*.hospital.test",
                                                         dns=("*.hospital.test", "*.b.hospital.test")))
    apps = ts.start_backend(procs, "apps", *web_ca.issue(
        "apps", "apps.example.test", dns=("apps.example.test",)))
    down_port = ts.free_port(hosts=("127.0.0.1",))
    rules = [
        {"sni": "www.hospital.test", "backend": f"127.0.0.1:{www.port}"},
        {"sni": "*.hospital.test", "backend": f"127.0.0.1:{wild.port}"},
        {"alpn": "h2", "backend": f"127.0.0.1:{apps.port}"},
        {"alpn": "http/1.1", "backend": f"127.0.0.1:{apps.port}"},
        {"sni": "down.test", "backend": f"127.0.0.1:{down_port}"},
    ]
    d = ts.start_tls_ternd(ternd_factory, tmp_path, turn_cert, turn_key, cafile=turn_ca.cert,
                           workers=2, passthrough=rules)

    class Site:
        pass
    s = Site()
    s.ternd, s.turn_ca, s.web_ca = d, turn_ca, web_ca
    s.www, s.wild, s.apps = www, wild, apps
    return s


def https(addr, name, cafile, path="/", alpn=None, method="GET", body=None, timeout=10):
    """One HTTPS request to addr with SNI name, verifying the server's
    certificate against cafile for that name. Returns (status, headers,
    body, peer certificate fingerprint, negotiated ALPN)."""
    ctx = ts.client_context(cafile=cafile, alpn=alpn)
    conn = http.client.HTTPSConnection(addr[0], addr[1], context=ctx, timeout=timeout)
    # http.client uses the host it connects to as SNI; ask for `name`.
    raw = socket.create_connection(addr, timeout=timeout)
    conn.sock = ctx.wrap_socket(raw, server_hostname=name)
    try:
        headers = {"Host": name}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return (resp.status, dict(resp.getheaders()), data,
                ts.peer_fingerprint(conn.sock), conn.sock.selected_alpn_protocol())
    finally:
        conn.close()


def test_sni_passthrough_reaches_backend_untouched(site):
    d = site.ternd
    status, hdrs, body, fp, _ = https(d.tls4, "www.hospital.test", site.web_ca.cert)
    assert status == 200 and body == b"backend www\n", (status, body)
    assert hdrs.get("X-Backend") == "www"
    # The certificate is the backend's, not ternd's: ternd did not terminate.
    assert fp == ts.pem_fingerprint(site.www.cert)
    assert fp != ts.pem_fingerprint(d.cert)
    # Verifying against ternd's CA instead must fail: it is not ternd talking.
    with pytest.raises(ssl.SSLCertVerificationError):
        https(d.tls4, "www.hospital.test", site.turn_ca.cert)


def test_passthrough_over_ipv6_listener(site):
    d = site.ternd
    status, _, body, fp, _ = https(d.tls6, "www.hospital.test", site.web_ca.cert)
    assert (status, body) == (200, b"backend www\n")
    assert fp == ts.pem_fingerprint(site.www.cert)


def test_large_bodies_both_ways_intact(site):
    d = site.ternd
    status, _, body, fp, _ = https(d.tls4, "www.hospital.test", site.web_ca.cert,
                                   path=f"/big?n={BIG}")
    assert status == 200 and len(body) == BIG
    want = hashlib.sha256(ts_pattern(BIG)).hexdigest()
    assert hashlib.sha256(body).hexdigest() == want, "1 MB response corrupted in passthrough"
    upload = bytes(range(256)) * (BIG // 256)
    status, _, body, _, _ = https(d.tls4, "www.hospital.test", site.web_ca.cert,
                                  path="/echo-sha", method="POST", body=upload)
    assert status == 200 and body.decode() == hashlib.sha256(upload).hexdigest(), \
        "1 MB upload corrupted in passthrough"


def ts_pattern(n):
    import https_backend
    return https_backend.pattern(n)


def test_wildcard_rule(site):
    """"*.hospital.test" covers one or more labels, in any case (Python sends
    the SNI as given, upper case included)."""
    d = site.ternd
    for name in ("portal.hospital.test", "a.b.hospital.test", "PORTAL.Hospital.Test"):
        status, hdrs, body, fp, _ = https(d.tls4, name, site.web_ca.cert)
        assert (status, body) == (200, b"backend wild\n"), (name, status, body)
        assert fp == ts.pem_fingerprint(site.wild.cert), name


def test_exact_rule_wins_over_later_wildcard(site):
    _, hdrs, _, fp, _ = https(site.ternd.tls4, "www.hospital.test", site.web_ca.cert)
    assert hdrs.get("X-Backend") == "www" and fp == ts.pem_fingerprint(site.www.cert)


def test_alpn_rules(site):
    """No SNI rule matches apps.example.test; the offered ALPN routes it, and
    the backend (not ternd, which only speaks stun.turn) chooses it."""
    d = site.ternd
    for alpn, want in ((["h2"], "h2"), (["h2", "http/1.1"], "h2"),
                       (["http/1.1"], "http/1.1")):
        status, hdrs, body, fp, got = https(d.tls4, "apps.example.test", site.web_ca.cert,
                                            alpn=alpn)
        assert (status, body) == (200, b"backend apps\n"), alpn
        assert got == want and hdrs.get("X-ALPN") == want, (alpn, got)
        assert fp == ts.pem_fingerprint(site.apps.cert), alpn


def test_other_names_get_ternd_and_turn(site):
    """turn.tern.test (verified against ternd's CA), the bare hospital.test
    that "*.hospital.test" does not cover, and no SNI at all: TURN."""
    d = site.ternd
    for name in (ts.TURN_NAME, "hospital.test", None):
        ctx = ts.client_context(cafile=d.cafile if name == ts.TURN_NAME else None)
        with d.tls_client(ctx=ctx, server_hostname=name) as c, tc.UdpPeer() as peer:
            assert c.fingerprint_sha256() == ts.pem_fingerprint(d.cert), name
            alloc = c.allocate()
            h.relay_channel(c, peer, alloc.relay)


def test_alpn_stun_turn_is_turn_whatever_the_sni(site):
    d = site.ternd
    ctx = ts.client_context(alpn=(ts.ALPN_TURN, "h2"))
    with d.tls_client(ctx=ctx, server_hostname="www.hospital.test") as c, \
            tc.UdpPeer() as peer:
        assert c.ssl.selected_alpn_protocol() == ts.ALPN_TURN
        assert c.fingerprint_sha256() == ts.pem_fingerprint(d.cert)
        alloc = c.allocate()
        h.relay_send_data(c, peer, alloc.relay)


def test_unreachable_backend_closes_and_ternd_serves_on(site):
    d = site.ternd
    ctx = ts.client_context()
    raw = socket.create_connection(d.tls4, timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        s = ctx.wrap_socket(raw, server_hostname="down.test")
        s.close()
    raw.close()
    status, _, body, _, _ = https(d.tls4, "www.hospital.test", site.web_ca.cert)
    assert (status, body) == (200, b"backend www\n")


def test_many_passthrough_and_turn_connections_interleaved(site):
    """Web and TURN clients alternate on the same port and workers."""
    d = site.ternd
    for i in range(6):
        status, _, body, _, _ = https(d.tls4, f"n{i}.hospital.test", site.web_ca.cert)
        assert (status, body) == (200, b"backend wild\n")
        with d.tls_client(user=f"u{i}") as c:
            assert c.allocate().relay[0] == "127.0.0.1"


SPLITS = {
    "3-records": lambda hello: [ts.refragment(hello, 3)],
    "3-records-3-writes": lambda hello: split_writes(ts.refragment(hello, 3), 3),
    "1-record-4-writes": lambda hello: split_writes(hello, 4),
}


def split_writes(data, n):
    step = -(-len(data) // n)
    return [data[i:i + step] for i in range(0, len(data), step)]


@pytest.mark.parametrize("split", list(SPLITS))
def test_fragmented_client_hello_routes_and_passes_untouched(site, split):
    """A ClientHello in several TLS records and/or TCP writes (0.2 s apart):
    routed by its SNI as a whole; a passthrough backend gets the very
    records (its OpenSSL reassembles them), ternd's own OpenSSL too."""
    d = site.ternd
    ctx = ts.client_context(cafile=site.web_ca.cert, alpn=["http/1.1"])
    t = ts.MemTls(d.tls4, ctx, "www.hospital.test", SPLITS[split], gap=0.2)
    try:
        assert t.peer_fingerprint() == ts.pem_fingerprint(site.www.cert)
        t.send(b"GET / HTTP/1.1\r\nHost: www.hospital.test\r\nConnection: close\r\n\r\n")
        reply = t.recv_until(lambda b: b.endswith(b"backend www\n"))
        assert reply.startswith(b"HTTP/1.") and reply.endswith(b"backend www\n"), reply[-200:]
    finally:
        t.close()
    ctx = ts.client_context(cafile=d.cafile, alpn=[ts.ALPN_TURN])
    t = ts.MemTls(d.tls4, ctx, ts.TURN_NAME, SPLITS[split], gap=0.2)
    try:
        assert t.peer_fingerprint() == ts.pem_fingerprint(d.cert)
        t.send(tc.encode(tc.Message(tc.BINDING, tc.REQUEST)))
        reply = t.recv_until(lambda b: len(b) >= 20 and len(b) >= 20 + int.from_bytes(b[2:4], "big"))
        assert tc.decode(reply).cls == tc.SUCCESS
    finally:
        t.close()


def test_client_half_close_still_gets_the_answer(site):
    """A client that sends its request and then shuts down its sending half
    (TCP FIN, as HTTP/1.0-style clients and `openssl s_client` do) still
    gets the whole response: ternd passes the FIN on only after what came
    before it, and keeps the other direction open."""
    d = site.ternd
    ctx = ts.client_context(cafile=site.web_ca.cert)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="www.hospital.test")
    raw = socket.create_connection(d.tls4, timeout=5)
    try:
        def pump(deadline_rounds=200):
            for _ in range(deadline_rounds):   # bounded
                done = False
                try:
                    tls.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    pass
                data = outgoing.read()
                if data:
                    raw.sendall(data)
                if done:
                    return
                chunk = raw.recv(65536)
                assert chunk, "closed during the handshake"
                incoming.write(chunk)
            raise AssertionError("handshake did not finish")
        pump()
        tls.write(b"GET / HTTP/1.1\r\nHost: www.hospital.test\r\nConnection: close\r\n\r\n")
        raw.sendall(outgoing.read())
        raw.shutdown(socket.SHUT_WR)           # our FIN, right after the request
        body = b""
        for _ in range(1000):                  # bounded
            chunk = raw.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
            try:
                while True:
                    body += tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
        assert b"200" in body.split(b"\r\n", 1)[0], body[:200]
        assert body.endswith(b"backend www\n"), body[-200:]
    finally:
        raw.close()
