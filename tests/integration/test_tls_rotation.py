"""Certificate rotation under live traffic (SIGHUP reloads tls.certificate
and tls.private_key from the same paths).

Client A connects while ternd serves certificate 1, allocates, binds a
channel and keeps a steady numbered stream going both ways through a UDP
echo peer for the whole test. Meanwhile the files are replaced with
certificate 2 (new key, new serial, new CN) and ternd gets SIGHUP: a new
client B's handshake sees certificate 2 (fingerprint compared), A's
connection and allocation carry on without losing a single packet (every
sequence number counted both ways). Then a key that does not match the
certificate, and then a key file of garbage, are each followed by SIGHUP:
new handshakes still get certificate 2 and the log says why the new files
were refused. Finally a good pair (certificate 3) loads again."""

import os
import signal
import threading
import time

import pytest

import helpers as h
import tls_support as ts
import turnclient as tc

CHANNEL = 0x4001
SEND_INTERVAL = 0.01
TRAFFIC_LIMIT_S = 30          # the stream thread stops by itself after this
DRAIN_S = 3.0


class Stream:
    """Client A's traffic: one thread owns A's TLS socket (sends "up<n>" as
    ChannelData and reads the echoes), one thread is the peer (answers each
    "up<n>" with "dn<n>" to the relayed address)."""

    def __init__(self, client, peer, relay):
        self.c, self.peer, self.relay = client, peer, relay
        self.stop = threading.Event()
        self.sent_up = 0
        self.peer_got = []
        self.client_got = []
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True),
                        threading.Thread(target=self._peer, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def _drain(self, timeout):
        for _ in range(1000):
            got = self.c.recv_data(timeout)
            if got is None:
                return
            kind, ch, data = got
            if kind != "channel" or ch != CHANNEL or not data.startswith(b"dn"):
                self.errors.append(f"client got {got!r}")
                return
            with self.lock:
                self.client_got.append(int(data[2:]))
            timeout = 0

    def _client(self):
        try:
            end = time.monotonic() + TRAFFIC_LIMIT_S
            while not self.stop.is_set() and time.monotonic() < end:
                self.c.send_channel_data(CHANNEL, b"up%06d" % self.sent_up)
                with self.lock:
                    self.sent_up += 1
                self._drain(SEND_INTERVAL)
            deadline = time.monotonic() + DRAIN_S
            while time.monotonic() < deadline:
                with self.lock:
                    if len(self.client_got) >= self.sent_up:
                        break
                self._drain(0.1)
        except Exception as e:  # reported by the main thread
            self.errors.append(f"client thread: {e!r}")

    def _peer(self):
        try:
            idle_end = None
            for _ in range(100000):
                got = self.peer.recvfrom(0.1)
                if got is None:
                    if self.stop.is_set():
                        idle_end = idle_end or time.monotonic() + DRAIN_S
                        if time.monotonic() > idle_end:
                            return
                    continue
                data, src = got
                if src != self.relay or not data.startswith(b"up"):
                    self.errors.append(f"peer got {got!r}")
                    continue
                n = int(data[2:])
                with self.lock:
                    self.peer_got.append(n)
                self.peer.sendto(b"dn%06d" % n, self.relay)
        except Exception as e:
            self.errors.append(f"peer thread: {e!r}")

    def counts(self):
        with self.lock:
            return self.sent_up, len(self.peer_got), len(self.client_got)

    def wait_more(self, n, timeout=5.0):
        """Bounded wait until n more round trips than now have completed."""
        base = self.counts()[2]
        return h.wait_until(lambda: self.counts()[2] >= base + n, timeout, 0.02)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(TRAFFIC_LIMIT_S + 2 * DRAIN_S)
        assert not any(t.is_alive() for t in self.threads), "traffic thread hung"


def handshake_fingerprint(d, ca_file):
    """A fresh client's view: the certificate ternd serves now (verified
    against the CA for turn.tern.test), and that it still does TURN."""
    ctx = ts.client_context(cafile=ca_file, alpn=(ts.ALPN_TURN,))
    with d.tls_client(user="newcomer", ctx=ctx) as c:
        fp = c.fingerprint_sha256()
        assert c.binding() is not None
    return fp


# What ternd logs when a reload took the new certificate (the wording
# changed when SIGHUP became a full configuration reload; either is fine).
RELOADED = ("TLS certificate loaded", "TLS certificate reloaded")
KEPT = ("keeping the old TLS certificate",)


def sighup(d, expect, start):
    """SIGHUP, then a bounded wait for one of the expected log lines."""
    os.kill(d.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5.0
    for _ in range(200):
        for text in expect:
            line = ts.wait_log(d.proc, text, 0, start)
            if line:
                return line
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise AssertionError(f"none of {expect} in ternd's log after SIGHUP:\n"
                         f"{d.stderr()[start:][-3000:]}")


def test_rotation_under_live_traffic(ternd_factory, tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    names = dict(dns=(ts.TURN_NAME,), ips=("127.0.0.1",))
    cert1, key1 = ca.issue("cert1", "turn.tern.test gen 1", **names)
    cert2, key2 = ca.issue("cert2", "turn.tern.test gen 2", **names)
    cert3, key3 = ca.issue("cert3", "turn.tern.test gen 3", **names)
    fp1, fp2, fp3 = (ts.pem_fingerprint(c) for c in (cert1, cert2, cert3))
    assert len({fp1, fp2, fp3}) == 3

    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert1, key1, cafile=ca.cert, workers=2)
    assert handshake_fingerprint(d, ca.cert) == fp1

    ctx = ts.client_context(cafile=ca.cert, alpn=(ts.ALPN_TURN,))
    a = d.tls_client(user="client-a", ctx=ctx, timeout=3.0)
    peer = tc.UdpPeer("127.0.0.1")
    stream = None
    try:
        assert a.fingerprint_sha256() == fp1
        alloc = a.allocate()
        a.channel_bind(CHANNEL, peer.addr)
        stream = Stream(a, peer, alloc.relay)
        stream.start()
        assert stream.wait_more(30), f"A's stream did not start: {stream.counts()}"

        # --- certificate 2 ---------------------------------------------------------
        ts.copy_file(cert2, d.cert, 0o644)
        ts.copy_file(key2, d.key, 0o600)
        sent_before_reload = stream.counts()[0]
        mark = len(d.stderr())
        sighup(d, RELOADED, mark)
        fp_b = handshake_fingerprint(d, ca.cert)
        assert fp_b == fp2, "a new handshake after SIGHUP did not get certificate 2"
        # B keeps its connection and relays too.
        b = d.tls_client(user="client-b", ctx=ctx)
        with b, tc.UdpPeer("127.0.0.1") as peer_b:
            assert b.fingerprint_sha256() == fp2
            alloc_b = b.allocate()
            h.relay_channel(b, peer_b, alloc_b.relay, channel=0x4002, tag=b"B:")
            assert stream.wait_more(30), f"A stalled after the reload: {stream.counts()}"

            # --- a key that does not match certificate 2 ------------------------------
            ts.copy_file(key3, d.key, 0o600)
            mark = len(d.stderr())
            line = sighup(d, KEPT, mark)
            assert d.key in line and ("does not match" in line or "mismatch" in line), \
                f"the log does not say why the key was refused: {line!r}"
            assert handshake_fingerprint(d, ca.cert) == fp2
            assert stream.wait_more(20), f"A stalled after the failed reload: {stream.counts()}"

            # --- a key file of garbage ------------------------------------------------
            ts.write_file(d.key, b"-----BEGIN PRIVATE KEY-----\nnot a key\n"
                          b"-----END PRIVATE KEY-----\n" + os.urandom(64), 0o600)
            mark = len(d.stderr())
            line = sighup(d, KEPT, mark)
            assert d.key in line and "private key" in line, \
                f"the log does not say why the key was refused: {line!r}"
            assert handshake_fingerprint(d, ca.cert) == fp2

            # --- the certificate file gone missing --------------------------------------
            os.rename(d.cert, d.cert + ".away")
            mark = len(d.stderr())
            line = sighup(d, KEPT, mark)
            assert d.cert in line, f"the log does not name the certificate: {line!r}"
            assert handshake_fingerprint(d, ca.cert) == fp2

            # --- a good pair again: certificate 3 ---------------------------------------
            ts.copy_file(cert3, d.cert, 0o644)
            ts.copy_file(key3, d.key, 0o600)
            mark = len(d.stderr())
            sighup(d, RELOADED, mark)
            assert handshake_fingerprint(d, ca.cert) == fp3
            assert stream.wait_more(20), f"A stalled after the last reload: {stream.counts()}"

            # B, connected under certificate 2, still relays.
            peer_b.sendto(b"still there", alloc_b.relay)
            assert b.recv_data() == ("channel", 0x4002, b"still there")

        stream.finish()
        assert not stream.errors, stream.errors[:5]
        sent, peer_got, client_got = stream.counts()
        assert sent > sent_before_reload + 50, (sent, sent_before_reload)
        # No loss and no duplicates across four reloads, both ways.
        assert sorted(stream.peer_got) == list(range(sent)), \
            f"peer got {peer_got} of {sent} sent (missing " \
            f"{sorted(set(range(sent)) - set(stream.peer_got))[:10]})"
        assert sorted(stream.client_got) == list(range(sent)), \
            f"A got {client_got} of {sent} echoed (missing " \
            f"{sorted(set(range(sent)) - set(stream.client_got))[:10]})"
        # A's connection is the one it started with, on certificate 1, and
        # its allocation still answers requests.
        assert a.fingerprint_sha256() == fp1
        assert a.refresh(lifetime=900) == 900
        peer.sendto(b"after all reloads", alloc.relay)
        assert a.recv_data() == ("channel", CHANNEL, b"after all reloads")
        print(f"\nrotation: {sent} packets each way across 4 SIGHUPs, none lost")
    finally:
        if stream is not None:
            stream.finish()
        a.close()
        peer.close()
