"""Soak with allocation churn (issue 7, item 4): ternd (2 workers, UDP, TCP
and TLS listeners) goes through repeated cycles of many allocations, each
with a permission, a channel and data relayed both ways, which then end
every way an allocation can end:

- Refresh with lifetime 0 (UDP, TCP, TLS),
- the client closing its TCP or TLS connection,
- UDP clients that vanish without a word: credentials valid for VANISH_TTL
  seconds cap the allocation's lifetime, so it expires on the server,
- TCP clients that vanish but leave the connection open: their allocation
  expires with the credential and the server closes the connection left
  without one (stream_auth_timeout; stream_idle_timeout as a backstop).

After each cycle, once every allocation of the cycle is gone, ternd's open
file descriptors (/proc/PID/fd) and VmRSS are sampled and printed. After
WARMUP cycles the fd count must equal the baseline taken before any churn,
exactly, and RSS must stay within RSS_SLACK_KIB of the first sample after
warm-up (under ASan, whose quarantine holds freed memory, RSS is printed but
not judged).

CI runs CYCLES cycles (about 30 s). The long soak (scripts/soak.sh) sets
TERN_SOAK_SECONDS: cycles then run until that many seconds have passed, with
the same checks. Skipped under valgrind: RSS there is valgrind's own and the
churn is timed."""

import os
import time

import pytest

import helpers as h
import metrics_support as ms
import tls_support as ts
import turnclient as tc
from conftest import TERND

CYCLES = 8
WARMUP = 2
SOAK_SECONDS = float(os.environ.get("TERN_SOAK_SECONDS", "0") or 0)
MAX_CYCLES_LONG = 1_000_000         # a bound even for the long soak
RSS_SLACK_KIB = 2048                # growth allowed after warm-up
UDP_CLIENTS = 72                    # per cycle, ended by Refresh 0
UDP_VANISH = 24                     # per cycle, left to expire
TCP_CLIENTS = 32                    # per cycle: half Refresh 0, half close
TCP_VANISH = 6                      # per cycle, silent open connections
TLS_CLIENTS = 10                    # per cycle: half Refresh 0, half close
VANISH_TTL = 2                      # seconds of credential for vanishing clients
AUTH_TIMEOUT = 3                    # stream_auth_timeout: a connection without
                                    # an allocation (it expired) is closed
IDLE_TIMEOUT = 5                    # stream_idle_timeout (its minimum), a backstop
QUIET_TIMEOUT = 15.0                # wait for a cycle's allocations to go
CLIENT_TIMEOUT = 3.0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid, readings=4, interval=0.2, tries=30):
    """The fd count once it has not changed for `readings` readings: the
    readiness probes of the start (a TCP connect to the TLS listener) may
    still be closing."""
    last, same = fd_count(pid), 1
    for _ in range(tries):
        if same >= readings:
            break
        time.sleep(interval)
        now = fd_count(pid)
        same = same + 1 if now == last else 1
        last = now
    return last


@pytest.fixture
def soak_ternd(ternd_factory, tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    cert, key = ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,), ips=("127.0.0.1",))

    def edit(cfg):
        cfg["limits"].update({"stream_idle_timeout": IDLE_TIMEOUT,
                              "stream_auth_timeout": AUTH_TIMEOUT})

    return ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert,
                              workers=2, edit=edit)


def exercise(c, peer, channel, tag):
    """Allocate, permission, channel, one datagram each way by Send/Data and
    by ChannelData. Returns the relayed address."""
    relay = c.allocate().relay
    c.create_permission(peer.addr)
    c.channel_bind(channel, peer.addr)
    c.send_indication(peer.addr, tag + b"/send")
    assert peer.recvfrom() == (tag + b"/send", relay)
    c.send_channel_data(channel, tag + b"/chan")
    assert peer.recvfrom() == (tag + b"/chan", relay)
    peer.sendto(tag + b"/back", relay)
    assert c.recv_data() == ("channel", channel, tag + b"/back")
    return relay


def one_cycle(d, n, peer, ctx):
    """One churn cycle; returns (allocations made, the silent TCP clients the
    server must drop, the silent UDP clients)."""
    made = 0
    kept_tcp, kept_udp = [], []
    plan = ([("udp", "refresh0")] * UDP_CLIENTS + [("udp", "vanish")] * UDP_VANISH
            + [("tcp", "refresh0"), ("tcp", "close")] * (TCP_CLIENTS // 2)
            + [("tcp", "vanish")] * TCP_VANISH
            + [("tls", "refresh0"), ("tls", "close")] * (TLS_CLIENTS // 2))
    for i, (transport, end) in enumerate(plan):
        ttl = VANISH_TTL if end == "vanish" else 600
        user = f"soak-{n}-{i}"
        if transport == "tls":
            c = d.tls_client(user=user, ttl=ttl, ctx=ctx, timeout=CLIENT_TIMEOUT)
        else:
            c = d.client(transport, user=user, ttl=ttl, timeout=CLIENT_TIMEOUT)
        try:
            exercise(c, peer, 0x4000 + i, f"{n}:{i}:{transport}".encode())
            made += 1
            if end == "refresh0":
                assert c.refresh(0) == 0
        except BaseException:
            c.close()
            raise
        if end == "vanish":
            # Silent from now on. The socket stays open until the sample so
            # that no later client gets its port (a 5-tuple whose allocation
            # is still alive would rightly get 441).
            (kept_tcp if transport == "tcp" else kept_udp).append(c)
        else:
            c.close()
    return made, kept_tcp, kept_udp


def server_closed(c):
    """True once the server has closed a silent TCP client's connection."""
    return c.recv_raw(0.01) is None and c.t.eof


def sample(d, baseline_fds, kept):
    """Waits (bounded) until the server has dropped the silent connections and
    its fd count is back to the baseline; returns (fds, rss KiB, seconds)."""
    pid = d.proc.pid
    start = time.monotonic()

    def quiet():
        for c in [c for c in kept if server_closed(c)]:
            c.close()
            kept.remove(c)
        return not kept and fd_count(pid) == baseline_fds

    h.wait_until(quiet, QUIET_TIMEOUT, 0.1)
    for c in kept:
        c.close()
    return fd_count(pid), ts.vm_rss_kib(pid), time.monotonic() - start


def say(capsys, line):
    """A figure for the log, shown under pytest -q too."""
    with capsys.disabled():
        print(line, flush=True)


def metrics(d):
    status, body = ms.http_get(d.metrics_url + "/metrics")
    assert status == 200, body
    return ms.parse_metrics(body)


@pytest.mark.skipif(h.under_valgrind(),
                    reason="RSS under valgrind is valgrind's; the churn is timed")
def test_soak_allocation_churn(soak_ternd, capsys):
    d = soak_ternd
    judge_rss = not h.sanitized_binary(TERND)
    pid = d.proc.pid
    ctx = ts.client_context(cafile=d.cafile)
    # Baseline: listeners, relay state and the TLS context loaded, no client.
    baseline_fds, baseline_rss = settled_fd_count(pid), ts.vm_rss_kib(pid)
    samples = []
    made = 0
    start = time.monotonic()
    cycles = MAX_CYCLES_LONG if SOAK_SECONDS else CYCLES
    say(capsys, f"\nsoak: baseline {baseline_fds} fds, {baseline_rss} KiB; "
                f"{'%.0f s' % SOAK_SECONDS if SOAK_SECONDS else '%d cycles' % CYCLES}")
    with tc.UdpPeer("127.0.0.1", timeout=CLIENT_TIMEOUT) as peer:
        for n in range(cycles):
            got, kept_tcp, kept_udp = one_cycle(d, n, peer, ctx)
            made += got
            fds, rss, waited = sample(d, baseline_fds, kept_tcp)
            for c in kept_udp:
                c.close()
            samples.append((n, fds, rss))
            say(capsys, f"soak: cycle {n:4d}  {time.monotonic() - start:7.1f} s  "
                f"{made:7d} allocations  fds {fds}  rss {rss} KiB  (quiet after {waited:.1f} s)")
            assert d.proc.alive(), "ternd died during the soak"
            if SOAK_SECONDS and time.monotonic() - start >= SOAK_SECONDS:
                break

    table = "\n".join(f"  cycle {n}: fds {f}, rss {r} KiB" for n, f, r in samples)
    assert len(samples) > WARMUP, table
    after = samples[WARMUP:]
    assert all(f == baseline_fds for _, f, _ in after), \
        f"fd count left the baseline {baseline_fds} after warm-up:\n{table}"
    rss_ref = after[0][2]
    growth = max(r for _, _, r in after) - rss_ref
    say(capsys, f"soak: {len(samples)} cycles, {made} allocations, fds {baseline_fds} "
                f"throughout after warm-up, RSS {rss_ref} -> {after[-1][2]} KiB (max growth "
                f"{growth} KiB, bound {RSS_SLACK_KIB}"
                + ("" if judge_rss else ", not judged under ASan") + ")")
    if judge_rss:
        assert growth <= RSS_SLACK_KIB, f"RSS grew {growth} KiB after warm-up:\n{table}"

    # Every allocation made was counted, and every one has ended, each way.
    m = metrics(d)
    assert ms.metric_sum(m, "tern_allocations_active") == 0
    assert ms.metric_sum(m, "tern_allocations_created_total") == made
    ended = {k: v for k, v in m.items() if k.startswith("tern_allocations_ended_total")}
    assert sum(ended.values()) == made, ended
    by_reason = {k.split('reason="')[1].split('"')[0]: v for k, v in ended.items()}
    assert by_reason.get("client", 0) >= len(samples) * (UDP_CLIENTS + TCP_CLIENTS // 2), by_reason
    assert by_reason.get("connection", 0) >= len(samples) * (TCP_CLIENTS // 2), by_reason
    vanished = by_reason.get("expired", 0) + by_reason.get("credential", 0)
    assert vanished >= len(samples) * UDP_VANISH, by_reason
