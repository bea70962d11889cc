"""`ternctl probe` keyed by a real DTLS-SRTP handshake through the relay,
against a ternd with media.policy = "enforce": over UDP, TCP and TLS the
probe passes, and the relay itself records the flow as DTLS-keyed (the
per-allocation listing while the probe runs, the DTLS packet count of a
whole handshake, no media_unencrypted audit record) while a --plain probe
is dropped and audited. A relay that loses the first handshake datagram
still passes (the DTLS timers resend it); a relay that allocates but does
not carry the flow, and a TLS listener whose certificate the probe cannot
verify, fail with exit 1 and a message saying why.

The "broken relays" are a small UDP forwarder in front of ternd (a thread
of this test, bounded in time and count) that passes STUN both ways and
drops some or all ChannelData."""

import json
import os
import select
import socket
import subprocess
import threading
import time

import pytest

import conftest
import helpers as h
import metrics_support as ms
import tls_support as ts

RUN_TIMEOUT = 30
# Slowed (ASan, valgrind: helpers.slowed): the probe's own timeout and the
# waits are longer, the checks the same.
SLOWED = os.access(conftest.TERND, os.X_OK) and h.slowed(conftest.TERND)
PROBE_TIMEOUT_MS = 15000 if SLOWED else 1500
KEYED_WAIT_S = 60.0 if SLOWED else 10.0
# The probe sends one DTLS record per datagram. A fake "DTLS-shaped" opening
# was two; a DTLS 1.2 handshake with certificates on both sides has 13 or 14
# (ClientHello; ServerHello, Certificate, ServerKeyExchange,
# CertificateRequest, ServerHelloDone; Certificate, ClientKeyExchange,
# CertificateVerify, ChangeCipherSpec, Finished; [NewSessionTicket,]
# ChangeCipherSpec, Finished).
MIN_HANDSHAKE_RECORDS = 12


@pytest.fixture
def tls_enforce(ternd_factory, tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    cert, key = ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,), ips=("127.0.0.1", "::1"))

    def edit(cfg):
        cfg["media"] = {"policy": "enforce"}
        cfg["metrics"]["per_allocation"] = True
        cfg["audit"] = {"file": str(tmp_path / "audit.jsonl"), "client_address": "full"}
    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, edit=edit)
    d.audit_path = tmp_path / "audit.jsonl"
    return d


def probe_argv(d, *args, count=40, interval=5, timeout_ms=PROBE_TIMEOUT_MS):
    return [conftest.TERNCTL, "probe", "--config", d.config_path, "--count", str(count),
            "--interval", str(interval), "--timeout", str(timeout_ms), "--json"] + list(args)


def run_probe(d, *args, **kw):
    return subprocess.run(probe_argv(d, *args, **kw), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def transport_args(d, transport):
    if transport == "tls":
        return ["--transport", "tls", "--tls-ca", d.cafile, "--tls-name", ts.TURN_NAME]
    return ["--transport", transport]


allocations = ms.allocation_listing
samples = ms.metric_samples


def audit(d, event=None):
    if not d.audit_path.exists():
        return []
    rows = [json.loads(x) for x in d.audit_path.read_text().splitlines() if x.strip()]
    return [r for r in rows if event is None or r["event"] == event]


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_probe_dtls_keyed_under_enforce(tls_enforce, transport):
    d = tls_enforce
    # ~3 s of stream: long enough to read the allocation listing mid-run.
    p = subprocess.Popen(probe_argv(d, *transport_args(d, transport), count=150, interval=20),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = {}
    try:
        def keyed():
            rows = allocations(d)
            media = rows[0]["media"] if len(rows) == 1 else None
            if media and media["to_peer"]["rtp_streams"] >= 1 and \
                    media["to_client"]["rtp_streams"] >= 1:
                seen.update(rows[0]["media"])
                return True
            return False
        assert h.wait_until(keyed, KEYED_WAIT_S, interval=0.1), allocations(d)
        out, err = p.communicate(timeout=RUN_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    # The relay's own view of the flow while it ran: one DTLS flow, no plain one.
    assert seen["dtls_flows"] == 1 and seen["unencrypted_flows"] == 0, seen
    assert seen["to_client"]["rtp_streams"] >= 1, seen
    assert p.returncode == 0, out + err
    j = json.loads(out)
    assert j["passed"] is True and j["transport"] == transport and j["error"] is None
    assert j["keying"] == "dtls-srtp" and 0 < j["dtls_handshake_ms"] < PROBE_TIMEOUT_MS
    assert j["sent"] == 150 and j["received"] == 150 and j["srtp_auth_failures"] == 0
    s = samples(d)
    assert s['tern_media_packets_total{kind="dtls"}'] >= MIN_HANDSHAKE_RECORDS
    assert s['tern_media_packets_total{kind="rtp"}'] >= 300
    assert s["tern_media_unencrypted_flows_total"] == 0
    assert s["tern_media_unencrypted_dropped_total"] == 0
    # The audit trail has the probe's allocation and no unencrypted flow,
    # and the allocation's end record says its one peer flow was DTLS-keyed.
    assert h.wait_until(lambda: audit(d, "allocation_deleted"), 5.0), audit(d)
    assert [r["user"] for r in audit(d, "allocation_created")] == ["tern-probe"]
    assert audit(d, "media_unencrypted") == []
    (end,) = audit(d, "allocation_deleted")
    assert end["dtls_flows"] == 1 and end["unencrypted_flows"] == 0, end


def test_plain_probe_dropped_and_audited(tls_enforce):
    """The contrast: the same probe without the handshake is a plain flow."""
    d = tls_enforce
    r = run_probe(d, "--plain")
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["keying"] == "fixed" and j["received"] == 0 and "loss" in j["failed"]
    assert h.wait_until(lambda: audit(d, "media_unencrypted"), 5.0), audit(d)
    ev = audit(d, "media_unencrypted")
    assert len(ev) == 1 and ev[0]["reason"] == "dropped" and ev[0]["user"] == "tern-probe"
    # The allocation's end record counts the flow as unencrypted.
    alloc_id = ev[0]["allocation"]

    def end_record():
        return [r for r in audit(d, "allocation_deleted") if r["allocation"] == alloc_id]
    assert h.wait_until(end_record, 5.0), audit(d)
    assert end_record()[0]["unencrypted_flows"] == 1 and end_record()[0]["dtls_flows"] == 0
    s = samples(d)
    assert s["tern_media_unencrypted_flows_total"] == 1
    assert s['tern_media_packets_total{kind="dtls"}'] == 0


# --- broken relays --------------------------------------------------------------
class Forwarder:
    """UDP in front of ternd: STUN passes both ways; ChannelData from the
    client is dropped (`drop_data`: all of it, or only the first `drop_first`
    messages). Runs in a thread for at most `lifetime` seconds."""

    def __init__(self, relay, drop_data=False, drop_first=0, lifetime=20.0):
        self.relay = relay
        self.drop_data, self.drop_first = drop_data, drop_first
        self.dropped = 0
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.back.connect(relay)
        self.client = None
        self.stop = threading.Event()
        self.deadline = time.monotonic() + lifetime
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.front.getsockname()[1]

    def _drop(self, data):
        if not data or not 0x40 <= data[0] <= 0x4F:
            return False           # STUN: always passes
        if self.drop_data or self.dropped < self.drop_first:
            self.dropped += 1
            return True
        return False

    def _run(self):
        for _ in range(200000):
            if self.stop.is_set() or time.monotonic() > self.deadline:
                return
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for s in ready:
                if s is self.front:
                    data, self.client = self.front.recvfrom(65536)
                    if not self._drop(data):
                        self.back.send(data)
                elif self.client:
                    self.front.sendto(self.back.recv(65536), self.client)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.front.close()
        self.back.close()


def test_lossy_relay_handshake_resent(tls_enforce):
    """The first ChannelData (the ClientHello) is lost on the way in: the
    client end's DTLS timer resends it and the probe passes."""
    d = tls_enforce
    with Forwarder(d.udp4, drop_first=1) as f:
        r = run_probe(d, "--server", f.addr)
    assert f.dropped == 1
    assert r.returncode == 0, r.stdout + r.stderr
    j = json.loads(r.stdout)
    assert j["passed"] is True and j["keying"] == "dtls-srtp"
    assert j["dtls_handshake_ms"] >= 90        # waited for the 100 ms timer


def test_relay_that_does_not_carry_media_fails(tls_enforce):
    """Allocation, permission and channel all succeed; no ChannelData gets
    through. The probe fails at the handshake, within its timeout."""
    d = tls_enforce
    t0 = time.monotonic()
    with Forwarder(d.udp4, drop_data=True) as f:
        # 1500 ms even when slowed: OpenSSL's DTLS retransmissions give up
        # before a longer timeout, and nothing here depends on speed.
        r = run_probe(d, "--server", f.addr, timeout_ms=1500)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f.dropped >= 2                       # the ClientHello, resent
    j = json.loads(r.stdout)
    assert j["passed"] is False and "error" in j["failed"] and j["sent"] == 0
    assert "DTLS handshake through the relay did not finish within 1500 ms" in j["error"]
    assert "ternctl: probe: DTLS handshake" in r.stderr
    assert time.monotonic() - t0 < 15
    # Human-readable output names it too.
    with Forwarder(d.udp4, drop_data=True) as f2:
        argv = [a for a in probe_argv(d, "--server", f2.addr, timeout_ms=1500) if a != "--json"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 1
    assert "FAILED" in r.stdout and "DTLS handshake through the relay" in r.stdout


def test_tls_certificate_not_trusted_fails(tls_enforce, tmp_path):
    d = tls_enforce
    other = ts.Ca(str(tmp_path / "other-pki"), name="Not the relay's CA")
    r = run_probe(d, "--transport", "tls", "--tls-ca", other.cert, "--tls-name", ts.TURN_NAME)
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["passed"] is False and "TLS handshake failed" in j["error"], j
    assert "certificate" in j["error"]
