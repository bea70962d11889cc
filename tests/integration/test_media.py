"""Media assurance: ternd's header-only figures for real SRTP streams (made
with libsrtp2 by tests/media/srtp_gen) with known loss, reordering,
duplicates and jitter; the encrypted-media policy (off / observe / enforce)
with a DTLS-first flow and a plain one; and `ternctl probe` against a live
relay, a relay that is not running and one whose peer policy denies the
probe's peer.

Tolerances: loss, reordering and duplicates are counted exactly (the test
decides every packet); jitter is timed by Python's scheduler on loopback,
so 10 ms of injected jitter is accepted as 7..13 ms.

Binaries: $SRTP_GEN (default: tests/media/srtp_gen of $TERND's build dir)
besides $TERND and $TERNCTL."""

import json
import os
import select
import struct
import subprocess
import time

import pytest

from conftest import TERND

import conftest
import helpers as h
import metrics_support as ms
import turnclient as tc

# Beside the ternd under test: <builddir>/relay/io/ternd -> <builddir>/tests/media/srtp_gen.
SRTP_GEN = os.environ.get("SRTP_GEN", os.path.join(os.path.dirname(conftest.TERND), "..", "..",
                                                   "tests", "media", "srtp_gen"))
DTLS_HELLO = bytes([22, 0xFE, 0xFD]) + bytes(8) + struct.pack("!H", 12) + bytes([1]) + bytes(11)
RUN_TIMEOUT = 30
# Slowed (ASan, valgrind: helpers.slowed) ternd and ternctl take longer and
# time less evenly: wider timing bounds then, the same checks otherwise.
SLOWED = os.access(TERND, os.X_OK) and h.slowed(TERND)
PROBE_TIMEOUT_MS = "15000" if SLOWED else "1000"
PROBE_RTT_MAX_MS = 2500 if SLOWED else 250
PROBE_JITTER_MAX_MS = 300 if SLOWED else 30
# ternd's estimate against the jitter of the times the test really sent at
# (what is left is ternd's own reading delay).
JITTER_SLACK_MS = 4.0 if SLOWED else 2.0


def srtp_stream(count, ssrc=0x5EED0001, ts_step=960, plain=False):
    """Packets from srtp_gen: SRTP (or plain RTP) with seq 0.., ts 0, step.."""
    if not os.access(SRTP_GEN, os.X_OK):
        pytest.fail(f"srtp_gen not found at {SRTP_GEN} (set $SRTP_GEN)")
    argv = [SRTP_GEN, "--count", str(count), "--ssrc", str(ssrc), "--ts-step", str(ts_step)]
    out = subprocess.run(argv + (["--plain"] if plain else []), capture_output=True,
                         timeout=RUN_TIMEOUT, check=True).stdout
    pkts, pos = [], 0
    while pos < len(out):
        (n,) = struct.unpack("!H", out[pos:pos + 2])
        pkts.append(out[pos + 2:pos + 2 + n])
        pos += 2 + n
    assert len(pkts) == count
    return pkts


def start(ternd_factory, tmp_path, policy="observe", audit=False, deny=None):
    def edit(cfg):
        cfg["media"] = {"policy": policy}
        cfg["metrics"]["per_allocation"] = True
        if audit:
            cfg["audit"] = {"file": str(tmp_path / "audit.jsonl"), "client_address": "full"}
        if deny:
            cfg["peers"]["deny"] = deny
    return ternd_factory.start(workers=1, edit=edit)


allocations = ms.allocation_listing
samples = ms.metric_samples


def media_of(d, direction, want=lambda m: m["rtp_streams"] > 0, timeout=5.0):
    """The only allocation's media figures for one direction, once `want`
    holds (figures are published every tick, about a second)."""
    got = {}

    def ready():
        allocs = allocations(d)
        if len(allocs) == 1 and want(allocs[0]["media"][direction]):
            got.update(allocs[0]["media"])
            return True
        return False
    assert h.wait_until(ready, timeout), allocations(d)
    return got


def paced(send, pkts, interval, late=None, sink=None, sent_at=None):
    """Sends pkts every `interval` s; late(i) adds a delay to packet i
    without reordering (the next packet waits for it). sink: a socket read
    empty between packets (its buffer would overflow otherwise). sent_at:
    a list that gets each packet's actual send time (time.monotonic())."""
    t0 = time.monotonic()
    got = 0
    for i, p in enumerate(pkts):
        due = t0 + i * interval + (late(i) if late else 0)
        for _ in range(1000):
            got += _read_ready(sink)
            left = due - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.002) if left > 0.003 else 0)
        if sent_at is not None:
            sent_at.append(time.monotonic())
        send(p)
    return got


def rfc3550_jitter_ms(times, ts_step, clock):
    """RFC 3550 A.8 interarrival jitter of packets sent at `times` (s) with
    RTP timestamps 0, ts_step, ...: the figure a receiver with no delay of
    its own would compute."""
    j = 0.0
    for i in range(1, len(times)):
        d = (times[i] - times[i - 1]) - ts_step / clock
        j += (abs(d) - j) / 16
    return j * 1000


def _read_ready(sock):
    """Datagrams read from sock without waiting."""
    n = 0
    while sock is not None and n < 1000 and select.select([sock], [], [], 0)[0]:
        sock.recv(65536)
        n += 1
    return n


def drain(peer, n_max, timeout=0.3):
    got = []
    for _ in range(n_max + 1):
        r = peer.recvfrom(timeout)
        if r is None:
            break
        got.append(r[0])
    return got


# --- figures ------------------------------------------------------------------
def test_loss_reordering_duplicates(ternd_factory, tmp_path):
    """400 SRTP packets toward the peer: every 20th lost (20), 8 pairs
    swapped, 8 sent twice; counted exactly."""
    d = start(ternd_factory, tmp_path)
    pkts = srtp_stream(400)
    order = []
    i = 0
    while i < 400:
        if i % 20 == 10:
            i += 1
            continue
        if i % 50 == 25:
            order += [i + 1, i]
            i += 2
            continue
        order.append(i)
        if i % 50 == 42:
            order.append(i)
        i += 1
    with d.client() as c, tc.UdpPeer() as peer:
        c.allocate()
        c.channel_bind(0x4001, peer.addr)
        # (slower under ASan or valgrind, whose ternd would otherwise drop a datagram)
        got = paced(lambda p: c.send_channel_data(0x4001, p), [pkts[k] for k in order],
                    0.006 if h.slowed(TERND) else 0.002,
                    sink=peer.sock)
        assert got + len(drain(peer, len(order))) == len(order)
        m = media_of(d, "to_peer", want=lambda f: f["expected"] >= 400)
        f = m["to_peer"]
        assert f["rtp_streams"] == 1
        assert f["expected"] == 400 and f["lost"] == 20
        assert abs(f["loss_ratio"] - 0.05) < 1e-6
        assert f["reordered"] == 8 and f["duplicates"] == 8
        assert m["to_client"]["rtp_streams"] == 0
        assert m["unencrypted_flows"] == 1 and m["dtls_flows"] == 0

        s = samples(d)
        assert s["tern_media_loss_ratio_count"] == 1
        assert abs(s["tern_media_loss_ratio_sum"] - 0.05) < 1e-3
        assert abs(s["tern_media_reorder_ratio_sum"] - 8 / 380) < 1e-3
        assert abs(s["tern_media_duplicate_ratio_sum"] - 8 / 380) < 1e-3
        assert s['tern_media_packets_total{kind="rtp"}'] == len(order)
        # never an address, user or SSRC in a label
        text = ms.http_get(d.metrics_url + "/metrics")[1]
        for bad in ("127.0.0.1", "alice", str(0x5EED0001), "5eed0001"):
            assert bad not in text


@pytest.mark.parametrize("ts_step,clock", [(960, 48000), (1800, 90000)], ids=["48k", "90k"])
def test_jitter_toward_client(ternd_factory, tmp_path, ts_step, clock):
    """250 packets every 20 ms from the peer, every other one 10 ms late:
    RFC 3550 jitter converges to about 10 ms; the clock rate is inferred.
    ternd's figure is checked against the jitter of the times the packets
    were really sent at, so a test process delayed by a busy machine moves
    the expected figure with it instead of failing the test."""
    d = start(ternd_factory, tmp_path)
    pkts = srtp_stream(250, ssrc=0x5EED0002, ts_step=ts_step)
    sent_at = []
    with d.client() as c, tc.UdpPeer() as peer:
        alloc = c.allocate()
        c.channel_bind(0x4002, peer.addr)
        paced(lambda p: peer.sendto(p, alloc.relay), pkts, 0.020,
              late=lambda i: 0.010 if i % 2 else 0.0, sink=c.t.sock, sent_at=sent_at)
        m = media_of(d, "to_client", want=lambda f: f["expected"] == 250)
        f = m["to_client"]
        assert f["clock_hz"] == clock
        assert f["lost"] == 0 and f["reordered"] == 0
        sent_jitter = rfc3550_jitter_ms(sent_at, ts_step, clock)
        # The injected pattern dominates what was sent (else the run says
        # nothing about 10 ms of jitter), and ternd's estimate follows it.
        assert 7.0 <= sent_jitter <= 13.0, sent_jitter
        assert abs(f["jitter_ms"] - sent_jitter) <= JITTER_SLACK_MS, (f, sent_jitter)
        s = samples(d)
        assert s["tern_media_jitter_seconds_count"] == 1
        assert abs(s["tern_media_jitter_seconds_sum"] - sent_jitter / 1000) \
            <= JITTER_SLACK_MS / 1000
        assert s['tern_media_jitter_seconds_bucket{le="0.005000"}'] == 0
        assert s['tern_media_jitter_seconds_bucket{le="0.020000"}'] == 1


# --- policy -------------------------------------------------------------------
def audit_events(tmp_path, event="media_unencrypted"):
    path = tmp_path / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()
            if f'"event":"{event}"' in line]


@pytest.mark.parametrize("policy", ["off", "observe", "enforce"])
def test_policy(ternd_factory, tmp_path, policy):
    """A DTLS-first flow relays in every mode; a plain one is counted and
    audited (observe), also dropped both ways (enforce), or ignored (off)."""
    d = start(ternd_factory, tmp_path, policy=policy, audit=True)
    srtp = srtp_stream(10, ssrc=0x11)
    plain = srtp_stream(10, ssrc=0x22, plain=True)
    back = srtp_stream(5, ssrc=0x33)
    with d.client() as c, tc.UdpPeer() as pd, tc.UdpPeer() as pp:
        alloc = c.allocate()
        c.channel_bind(0x4010, pd.addr)
        c.channel_bind(0x4011, pp.addr)
        # DTLS-keyed: a ClientHello-looking record first, then SRTP, both ways.
        c.send_channel_data(0x4010, DTLS_HELLO)
        for p in srtp:
            c.send_channel_data(0x4010, p)
        assert drain(pd, 11) == [DTLS_HELLO] + srtp
        for p in back:
            pd.sendto(p, alloc.relay)
        assert [c.recv_data(1.0) for _ in back] == [("channel", 0x4010, p) for p in back]
        # Plain RTP straight away, both ways.
        for p in plain:
            c.send_channel_data(0x4011, p)
        for p in back:
            pp.sendto(p, alloc.relay)
        got_peer = drain(pp, 10)
        got_client = [x for x in (c.recv_data(0.3) for _ in range(6)) if x]
        if policy == "enforce":
            assert got_peer == [] and got_client == []
        else:
            assert got_peer == plain
            assert got_client == [("channel", 0x4011, p) for p in back]
        s = samples(d)
        flows = 0 if policy == "off" else 1
        assert s["tern_media_unencrypted_flows_total"] == flows
        assert s["tern_media_unencrypted_dropped_total"] == (15 if policy == "enforce" else 0)
        assert s['tern_media_packets_total{kind="dtls"}'] == 1
        if policy == "off":
            time.sleep(0.5)
            assert audit_events(tmp_path) == []
        else:
            assert h.wait_until(lambda: audit_events(tmp_path), 5.0)
            ev = audit_events(tmp_path)
            assert len(ev) == 1
            assert ev[0]["reason"] == ("dropped" if policy == "enforce" else "observed")
            assert ev[0]["peer"].startswith("127.0.0.1:") and ev[0]["user"] == "alice"
        c.refresh(0)
    # The allocation's end record: one DTLS-keyed and one unencrypted flow,
    # or nothing about media when the policy is off (nothing is tracked).
    assert h.wait_until(lambda: audit_events(tmp_path, "allocation_deleted"), 5.0)
    (end,) = audit_events(tmp_path, "allocation_deleted")
    if policy == "off":
        assert "dtls_flows" not in end and "unencrypted_flows" not in end, end
    else:
        assert end["dtls_flows"] == 1 and end["unencrypted_flows"] == 1, end


# --- the probe ----------------------------------------------------------------
def probe(d, *args, config=None, timeout=RUN_TIMEOUT):
    argv = [conftest.TERNCTL, "probe", "--config", config or d.config_path, "--count", "40",
            "--interval", "5", "--timeout", PROBE_TIMEOUT_MS] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_probe_live(ternd_factory, tmp_path, transport):
    d = start(ternd_factory, tmp_path, policy="enforce")
    r = probe(d, "--transport", transport, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    j = json.loads(r.stdout)
    assert j["passed"] is True and j["transport"] == transport and j["error"] is None
    assert j["sent"] == 40 and j["received"] == 40 and j["loss_ratio"] == 0
    assert 0 < j["rtt_ms"]["p50"] <= j["rtt_ms"]["p95"] <= j["rtt_ms"]["max"] < PROBE_RTT_MAX_MS
    assert 0 <= j["jitter_ms"] < PROBE_JITTER_MAX_MS and j["srtp_auth_failures"] == 0
    # The relay saw a DTLS-first flow: nothing dropped under enforce.
    s = samples(d)
    assert s["tern_media_unencrypted_dropped_total"] == 0
    assert s['tern_media_packets_total{kind="rtp"}'] >= 80


def test_probe_textfile_and_plain_under_enforce(ternd_factory, tmp_path):
    d = start(ternd_factory, tmp_path, policy="enforce")
    out = tmp_path / "tern_probe.prom"
    r = probe(d, "--prometheus", "--output", str(out))
    assert r.returncode == 0, r.stderr
    prom = ms.parse_metrics(out.read_text())
    assert prom['tern_probe_success{transport="udp"}'] == 1
    assert prom['tern_probe_packets{transport="udp",what="received"}'] == 40
    assert not list(tmp_path.glob("tern_probe.prom.tmp*"))
    # Without the DTLS-SRTP handshake the enforcing relay drops the stream.
    r = probe(d, "--plain", "--prometheus", "--output", str(out))
    assert r.returncode == 1
    prom = ms.parse_metrics(out.read_text())
    assert prom['tern_probe_success{transport="udp"}'] == 0
    assert prom['tern_probe_loss_ratio{transport="udp"}'] == 1


def test_probe_relay_not_running(ternd_factory, tmp_path):
    d = start(ternd_factory, tmp_path)
    d.proc.stop()
    d.proc.check_exit = False
    t0 = time.monotonic()
    r = probe(d, "--json")
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["passed"] is False and j["error"] and "error" in j["failed"]
    assert time.monotonic() - t0 < 15


def test_probe_peer_denied(ternd_factory, tmp_path):
    d = start(ternd_factory, tmp_path, deny=["127.0.0.0/8"])
    r = probe(d, "--json")
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["passed"] is False and "403" in j["error"], j


def test_probe_usage(ternd_factory, tmp_path):
    d = start(ternd_factory, tmp_path)
    assert probe(d, "--transport", "sctp").returncode == 2
    assert probe(d, "--max-loss", "2").returncode == 2
