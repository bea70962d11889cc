"""TURN over TLS (RFC 8656 3.1, ALPN "stun.turn" per RFC 7443) against the
real ternd: our Python client wrapped in ssl allocates, installs
permissions and channels, and relays byte for byte both ways to a UDP peer
with Send/Data indications and ChannelData; with 1 and 4 workers, with and
without ALPN, over IPv4 and IPv6; the server's certificate chain verifies
against the test CA for its name. coturn's turnutils_uclient over TLS (-t -S)
with a REST secret (-W) reports zero loss."""

import re
import ssl
import subprocess
import threading

import pytest

import helpers as h
import tls_support as ts
import turnclient as tc

UCLIENT_MESSAGES = 10
UCLIENT_CLIENTS = 2
UCLIENT_TIMEOUT = 60


@pytest.fixture
def pki(tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    cert, key = ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,), ips=("127.0.0.1", "::1"))
    return ca, cert, key


@pytest.fixture(params=[1, 4], ids=["w1", "w4"])
def tls_ternd(request, ternd_factory, tmp_path, pki):
    ca, cert, key = pki
    return ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert,
                              workers=request.param)


@pytest.mark.parametrize("alpn", [(ts.ALPN_TURN,), None], ids=["alpn-stun.turn", "no-alpn"])
def test_tls_relay_both_ways(tls_ternd, alpn):
    d = tls_ternd
    ctx = ts.client_context(cafile=d.cafile, alpn=alpn)
    with d.tls_client(ctx=ctx) as c, tc.UdpPeer("127.0.0.1") as peer:
        s = c.ssl
        assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
        assert s.selected_alpn_protocol() == (ts.ALPN_TURN if alpn else None)
        assert c.fingerprint_sha256() == ts.pem_fingerprint(d.cert)
        alloc = c.allocate()
        assert alloc.relay[0] == "127.0.0.1" and d.in_relay_range(alloc.relay[1])
        # The mapped address is the client's own TCP source (host and port).
        assert alloc.mapped == c.local(), (alloc.mapped, c.local())
        h.relay_send_data(c, peer, alloc.relay, tag=b"tls-send:")
        h.relay_channel(c, peer, alloc.relay, channel=0x4001, tag=b"tls-chan:")
        # Larger payloads than helpers.payloads, still one frame and one TLS
        # record or more each; up to WORKER_DGRAM_MAX (8192), the largest
        # datagram ternd reads from a peer.
        for n in (1400, 4000, 8192):
            data = bytes(range(256)) * (n // 256) + b"x" * (n % 256)
            c.send_channel_data(0x4001, data)
            assert peer.recvfrom() == (data, alloc.relay)
            peer.sendto(data[::-1], alloc.relay)
            assert c.recv_data() == ("channel", 0x4001, data[::-1])
        assert c.refresh(lifetime=600) == 600


def test_tls_relay_ipv6_client_and_relay(tls_ternd):
    d = tls_ternd
    ctx = ts.client_context(cafile=d.cafile, alpn=(ts.ALPN_TURN,))
    with d.tls_client(family=6, ctx=ctx) as c, tc.UdpPeer("::1") as peer:
        alloc = c.allocate(family=tc.FAMILY_IPV6)
        assert alloc.relay[0] == "::1"
        h.relay_send_data(c, peer, alloc.relay)
        h.relay_channel(c, peer, alloc.relay, channel=0x4abc)


def test_tls_many_clients_at_once(tls_ternd):
    """Eight TLS clients in threads, tagged payloads: no crossed wires
    between connections that the workers split among themselves."""
    d = tls_ternd
    errors = []

    def one(i):
        try:
            alpn = (ts.ALPN_TURN,) if i % 2 else None
            with d.tls_client(user=f"user{i % 3}", alpn=alpn) as c, \
                    tc.UdpPeer("127.0.0.1") as peer:
                alloc = c.allocate()
                tag = b"tls-client-%d:" % i
                if i % 4 < 2:
                    h.relay_send_data(c, peer, alloc.relay, tag=tag)
                else:
                    h.relay_channel(c, peer, alloc.relay, channel=0x4000 + i, tag=tag)
        except Exception as e:  # reported by the main thread
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "client thread hung"
    assert not errors, errors


def test_tls_wrong_password_gets_401_not_a_relay(tls_ternd):
    d = tls_ternd
    username, _ = d.creds("mallory")
    with ts.TlsTurnClient(d.tls4, username, "not-the-password") as c:
        with pytest.raises(tc.TurnError) as e:
            c.allocate()
        assert e.value.code == 401


# --- coturn's client ----------------------------------------------------------------
def uclient_summary(out):
    sent = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
    lost = re.findall(r"Total lost packets (\d+)", out)
    assert sent and lost, f"no summary in uclient output:\n{out[-3000:]}"
    return int(sent[-1][0]), int(sent[-1][1]), int(lost[-1])


@pytest.mark.parametrize("workers,mode", [(1, "channel"), (4, "send")],
                         ids=["w1-channel", "w4-send"])
def test_uclient_over_tls(procs, ternd_factory, tmp_path, pki, workers, mode):
    ca, cert, key = pki
    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert,
                           workers=workers)
    peer = ts.start_echo_peer(procs)
    flags = ["-t", "-S"] + (["-s"] if mode == "send" else [])
    argv = ["turnutils_uclient", *flags, "-n", str(UCLIENT_MESSAGES),
            "-m", str(UCLIENT_CLIENTS), "-l", "120", "-c", "-p", str(d.tls_port),
            "-W", d.secrets[0], "-u", "uclient-tls", "-e", peer[0], "-r", str(peer[1]),
            "127.0.0.1"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=UCLIENT_TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert uclient_summary(out) == (UCLIENT_MESSAGES * UCLIENT_CLIENTS,
                                    UCLIENT_MESSAGES * UCLIENT_CLIENTS, 0), out[-3000:]
    # It really spoke TLS to the TLS port (the only listener on that port).
    assert "TLS" in out or "tls" in out.lower(), out[-3000:]
