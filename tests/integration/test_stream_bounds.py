"""Time and space bounds on TCP and TLS client connections.

- Stalls (one worker, tls.handshake_timeout = 2, limits.stream_auth_timeout
  = 2): a TLS client dribbling its ClientHello one byte a second is closed
  after the handshake timeout; TCP and TLS clients that never allocate are
  closed after the auth timeout; allocated TCP and TLS clients that send half
  a STUN header, or dribble a ChannelData frame a byte a second, are closed
  10 s (plus the 1 s sweep) after the frame's first byte. All of that at
  once, while another client on the same worker allocates and relays every
  quarter second: it must keep working; its latency is printed, not judged.
- Idle: with stream_idle_timeout = 5 an allocated client that says nothing
  is closed after 5-6.5 s, one sending a frame a second is not.
- connections_per_source = 5 (four workers): the 6th and later concurrent
  connections from 127.0.0.1, on the TCP and the TLS port, are closed right
  after accept and get no answer; 127.0.0.2 and ::1 are other sources and
  are served; closing one connection frees a slot.
- A TLS and a TCP client that never read while a peer floods them: ternd's
  VmRSS stays bounded (stream_buffer = 64 KiB), other clients keep working,
  and what the stalled reader finally reads is whole frames.
"""

import os
import select
import socket
import ssl
import statistics
import time

import pytest

import helpers as h
import tls_support as ts
import turnclient as tc

SWEEP = 1.0          # ternd's sweep period
SLACK = 1.0          # scheduling slack on top of it
PARTIAL_S = 10.0     # STREAM_PARTIAL_MS


@pytest.fixture
def pki(tmp_path):
    ca = ts.Ca(str(tmp_path / "pki"))
    cert, key = ca.issue("turn", ts.TURN_NAME, dns=(ts.TURN_NAME,), ips=("127.0.0.1", "::1"))
    return ca, cert, key


def tls_closed_now(sslsock):
    """Non-blocking check on a TLS socket: True once the peer has closed."""
    r, _, _ = select.select([sslsock], [], [], 0)
    if not r and not sslsock.pending():
        return False
    sslsock.settimeout(0)
    try:
        for _ in range(100):
            data = sslsock.recv(65536)
            if not data:
                return True
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return True
    return False


class Stall:
    """One stalled connection: how to check it and when it should close."""

    def __init__(self, name, closed_fn, lo, hi, start):
        self.name, self.closed_fn, self.lo, self.hi = name, closed_fn, lo, hi
        self.start = start          # the moment the bound counts from
        self.closed_at = None

    def poll(self, now):
        if self.closed_at is None and self.closed_fn():
            self.closed_at = now

    def verdict(self):
        if self.closed_at is None:
            return f"{self.name}: still open (expected closed {self.lo:.1f}-{self.hi:.1f} s)"
        age = self.closed_at - self.start
        if not self.lo <= age <= self.hi:
            return f"{self.name}: closed after {age:.2f} s, expected {self.lo:.1f}-{self.hi:.1f} s"
        return None


def test_stalled_clients_are_closed_and_others_unaffected(ternd_factory, tmp_path, pki):
    ca, cert, key = pki
    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, workers=1,
                           tls={"handshake_timeout": 2},
                           limits={"stream_auth_timeout": 2, "stream_idle_timeout": 60})
    hello = ts.client_hello_bytes()
    opened = []
    stalls = []
    try:
        # The relay user whose service must not suffer, over TLS and TCP.
        good_tls = d.tls_client(user="good-tls")
        good_tcp = d.client("tcp", user="good-tcp")
        peer = tc.UdpPeer()
        opened += [good_tls, good_tcp, peer]
        for c, ch in ((good_tls, 0x4001), (good_tcp, 0x4002)):
            c.relay = c.allocate().relay
            c.channel_bind(ch, peer.addr)
            c.ch = ch

        # Partial frames from allocated clients (the auth timeout does not
        # apply to them): half a STUN header; a ChannelData frame a byte a second.
        half_tcp = d.client("tcp", user="half-tcp")
        half_tls = d.tls_client(user="half-tls")
        drip_tls = d.tls_client(user="drip-tls")
        opened += [half_tcp, half_tls, drip_tls]
        for c in (half_tcp, half_tls, drip_tls):
            c.allocate()
        drip_tls.channel_bind(0x4003, peer.addr)
        drip_frame = tc.encode_channel_data(0x4003, b"d" * 96, pad=True)
        half_header = tc.encode(tc.Message(tc.BINDING, tc.REQUEST))[:10]

        # Never allocating: a plain TCP connection that asks a Binding, a TLS
        # one that finishes its handshake and asks Bindings.
        t0 = time.monotonic()
        noalloc_tcp = d.client("tcp", user="noalloc-tcp")
        noalloc_tls = d.tls_client(user="noalloc-tls")
        opened += [noalloc_tcp, noalloc_tls]
        assert noalloc_tcp.binding() and noalloc_tls.binding()
        # Slowloris: the ClientHello one byte a second.
        slow = ts.connect_from(d.tls4)
        opened.append(slow)
        slow_t0 = time.monotonic()
        slow.send(hello[:1])
        slow_sent = 1

        half_t0 = time.monotonic()
        half_tcp.send_raw(half_header)
        half_tls.send_raw(half_header)
        drip_tls.send_raw(drip_frame[:1])
        drip_sent = 1
        auth_lo, auth_hi = 2.0 - 0.5, 2.0 + SWEEP + SLACK
        stalls = [
            Stall("slowloris ClientHello", lambda: ts.is_closed_now(slow), 1.5,
                  2.0 + SWEEP + SLACK, slow_t0),
            Stall("TCP without allocation", lambda: ts.is_closed_now(noalloc_tcp.t.sock),
                  auth_lo, auth_hi, t0),
            Stall("TLS without allocation", lambda: tls_closed_now(noalloc_tls.ssl),
                  auth_lo, auth_hi, t0),
            Stall("TCP half STUN header", lambda: ts.is_closed_now(half_tcp.t.sock),
                  PARTIAL_S - 0.5, PARTIAL_S + SWEEP + SLACK + 0.5, half_t0),
            Stall("TLS half STUN header", lambda: tls_closed_now(half_tls.ssl),
                  PARTIAL_S - 0.5, PARTIAL_S + SWEEP + SLACK + 0.5, half_t0),
            Stall("TLS ChannelData a byte a second", lambda: tls_closed_now(drip_tls.ssl),
                  PARTIAL_S - 0.5, PARTIAL_S + SWEEP + SLACK + 0.5, half_t0),
        ]

        latencies = []
        failures = []
        next_byte = time.monotonic() + 1.0
        next_trip = time.monotonic()
        deadline = half_t0 + PARTIAL_S + SWEEP + SLACK + 1.5
        fresh_done = False
        seq = 0
        for _ in range(100000):
            now = time.monotonic()
            if now > deadline or all(s.closed_at for s in stalls):
                break
            for s in stalls:
                s.poll(now)
            if now >= next_byte:
                next_byte += 1.0
                if stalls[0].closed_at is None and slow_sent < len(hello):
                    try:
                        slow.send(hello[slow_sent:slow_sent + 1])
                        slow_sent += 1
                    except OSError:
                        stalls[0].poll(now)
                if stalls[5].closed_at is None and drip_sent < len(drip_frame):
                    try:
                        drip_tls.send_raw(drip_frame[drip_sent:drip_sent + 1])
                        drip_sent += 1
                    except OSError:
                        pass
                # Keep the no-allocation TLS client talking: talk is no allocation.
                if stalls[2].closed_at is None:
                    try:
                        noalloc_tls.send_raw(tc.encode(tc.Message(tc.BINDING, tc.REQUEST)))
                    except OSError:
                        pass
            if now >= next_trip:
                next_trip = now + 0.25
                for c in (good_tls, good_tcp):
                    seq += 1
                    data = b"good %d" % seq
                    t = time.monotonic()
                    c.send_channel_data(c.ch, data)
                    up = peer.recvfrom(2.0)
                    peer.sendto(data + b" back", c.relay)
                    down = c.recv_data(2.0)
                    latencies.append(time.monotonic() - t)
                    if up != (data, c.relay) or down != ("channel", c.ch, data + b" back"):
                        failures.append((c.transport_name, seq, up, down))
            if not fresh_done and now - half_t0 > 5.0:
                # A brand-new client in the middle of it all.
                with d.tls_client(user="fresh") as f, tc.UdpPeer() as p2:
                    h.relay_channel(f, p2, f.allocate().relay, channel=0x4100)
                fresh_done = True
            time.sleep(0.02)

        verdicts = [v for v in (s.verdict() for s in stalls) if v]
        summary = ", ".join(f"{s.name} {s.closed_at - s.start:.2f}s" if s.closed_at
                            else f"{s.name} open" for s in stalls)
        print(f"\nstalls: {summary}")
        if latencies:
            print(f"good clients: {len(latencies)} round trips, median "
                  f"{statistics.median(latencies) * 1000:.1f} ms, max "
                  f"{max(latencies) * 1000:.1f} ms")
        assert not failures, f"relaying suffered during the stalls: {failures[:5]}"
        assert fresh_done, "no fresh client was tried"
        assert len(latencies) >= 40, len(latencies)
        assert not verdicts, "; ".join(verdicts) + f"\n{d.stderr()[-2000:]}"
        # The good clients are still fine after all the stalled ones went.
        for c in (good_tls, good_tcp):
            c.send_channel_data(c.ch, b"last")
            assert peer.recvfrom() == (b"last", c.relay)
    finally:
        for o in opened:
            o.close()


def test_idle_connection_is_closed(ternd_factory, tmp_path, pki):
    ca, cert, key = pki
    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, workers=1,
                           limits={"stream_idle_timeout": 5, "stream_auth_timeout": 30})
    with d.tls_client(user="idle") as idle, d.client("tcp", user="idle-tcp") as idle_tcp, \
            d.tls_client(user="chatty") as chatty:
        for c in (idle, idle_tcp, chatty):
            c.allocate()
        t0 = time.monotonic()
        closed = {}
        for _ in range(200):
            now = time.monotonic() - t0
            if now > 7.5:
                break
            if "tls" not in closed and tls_closed_now(idle.ssl):
                closed["tls"] = now
            if "tcp" not in closed and ts.is_closed_now(idle_tcp.t.sock):
                closed["tcp"] = now
            chatty.refresh(600)      # a complete frame (and answer) each turn
            time.sleep(0.5)
        assert set(closed) == {"tls", "tcp"}, f"idle connections not closed: {closed}"
        for k, v in closed.items():
            assert 4.5 <= v <= 5 + SWEEP + SLACK, f"idle {k} closed after {v:.2f} s"
        assert chatty.refresh(600) == 600, "a talking connection was closed as idle"


def test_connections_per_source(ternd_factory, tmp_path, pki):
    ca, cert, key = pki
    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, workers=4,
                           limits={"connections_per_source": 5})
    held = []
    try:
        for i in range(3):
            c = d.client("tcp", user=f"tcp{i}")
            assert c.binding() is not None
            held.append(c)
        for i in range(2):
            c = d.tls_client(user=f"tls{i}")
            assert c.binding() is not None
            held.append(c)

        # The 6th and later from 127.0.0.1: accepted by the kernel, closed by
        # ternd at once, no answer. Several tries, to meet several workers.
        binding = tc.encode(tc.Message(tc.BINDING, tc.REQUEST))
        for i in range(6):
            addr = d.tcp4 if i % 2 == 0 else d.tls4
            s = ts.connect_from(addr)
            try:
                try:
                    s.sendall(binding if addr == d.tcp4 else ts.client_hello_bytes())
                except OSError:
                    pass
                how, data, secs = ts.read_until_closed(s, 2.0)
            finally:
                s.close()
            assert how in ("eof", "reset") and data == b"" and secs < 1.0, \
                f"excess connection {i} to {addr}: {how} after {secs:.2f} s, got {data[:40]!r}"

        # Other sources are not affected: 127.0.0.2 and ::1.
        s = ts.connect_from(d.tcp4, source="127.0.0.2")
        try:
            s.sendall(binding)
            r, _, _ = select.select([s], [], [], 2.0)
            data = s.recv(1000) if r else b""
            assert tc.is_stun(data) and tc.decode(data).cls == tc.SUCCESS, data
            m = tc.decode(data).xor_address(tc.XOR_MAPPED_ADDRESS)
            assert m[0] == "127.0.0.2", m
        finally:
            s.close()
        raw = ts.connect_from(d.tls4, source="127.0.0.2")
        try:
            tls = ts.client_context(alpn=(ts.ALPN_TURN,)).wrap_socket(
                raw, server_hostname=ts.TURN_NAME)
            tls.sendall(binding)
            tls.settimeout(2.0)
            data = tls.recv(1000)
            assert tc.is_stun(data) and tc.decode(data).cls == tc.SUCCESS
            tls.close()
        finally:
            raw.close()
        with d.tls_client(family=6, user="v6") as c6:
            assert c6.allocate().relay

        # Closing one of the five frees its slot (bounded wait: the close
        # reaches ternd's worker asynchronously).
        held.pop(0).close()

        def new_ok():
            try:
                with d.client("tcp", user="again", timeout=0.5) as c:
                    return c.binding() is not None
            except (OSError, TimeoutError, tc.StunError):
                return False
        assert h.wait_until(new_ok, 3.0, 0.2), "a freed slot was not given back"
    finally:
        for c in held:
            c.close()


def test_non_reading_clients_do_not_grow_memory(ternd_factory, tmp_path, pki):
    ca, cert, key = pki
    d = ts.start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=ca.cert, workers=1,
                           limits={"stream_buffer": 65536})
    flooder = tc.UdpPeer()
    opened = [flooder]
    try:
        stuck = []
        for make in (lambda: d.tls_client(user="stuck-tls"),
                     lambda: d.client("tcp", user="stuck-tcp")):
            c = make()
            opened.append(c)
            # (Its receive buffer stays at the default: a tiny window makes
            # the final drain crawl past the 120 s idle timeout.)
            c.relay = c.allocate().relay
            c.channel_bind(0x4001, flooder.addr)
            stuck.append(c)
        good = d.tls_client(user="good")
        opened.append(good)
        gpeer = tc.UdpPeer()
        opened.append(gpeer)
        grelay = good.allocate().relay
        good.channel_bind(0x4002, gpeer.addr)

        payload = os.urandom(1000)
        for c in stuck:          # warm-up: buffers at their cap once
            for _ in range(300):
                flooder.sendto(payload, c.relay)
        time.sleep(0.3)
        base = ts.vm_rss_kib(d.proc.pid)
        peak = base
        sent = 0
        trips = []
        flood_bytes = 60 * 1024 * 1024
        for i in range(flood_bytes // len(payload) // 2):
            for c in stuck:
                flooder.sendto(payload, c.relay)
                sent += len(payload)
            if i % 2000 == 0:
                peak = max(peak, ts.vm_rss_kib(d.proc.pid))
                t = time.monotonic()
                good.send_channel_data(0x4002, b"ping %d" % i)
                assert gpeer.recvfrom() == (b"ping %d" % i, grelay)
                gpeer.sendto(b"pong %d" % i, grelay)
                assert good.recv_data() == ("channel", 0x4002, b"pong %d" % i)
                trips.append(time.monotonic() - t)
        time.sleep(0.3)
        peak = max(peak, ts.vm_rss_kib(d.proc.pid))
        growth = peak - base
        print(f"\nflood: {sent // (1024 * 1024)} MiB toward 2 non-reading clients, VmRSS "
              f"{base} KiB -> peak {peak} KiB (+{growth} KiB); good client "
              f"{len(trips)} round trips, max {max(trips) * 1000:.1f} ms")
        # AddressSanitizer keeps freed memory in quarantine (256 MiB by
        # default), so RSS says nothing about our bound under it.
        with open(d.proc.argv[0], "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if not sanitized:
            assert growth < 16 * 1024, f"ternd grew {growth} KiB while clients did not read"
        assert d.proc.alive()

        # The stalled readers wake up: what they get is whole frames.
        for c in stuck:
            frames = 0
            for _ in range(5000):
                got = c.recv_data(0.5)
                if got is None:
                    break
                assert got == ("channel", 0x4001, payload), got[:2]
                frames += 1
            assert frames > 0
            # And they are still connected and allocated.
            flooder.sendto(b"after", c.relay)
            for _ in range(5000):
                got = c.recv_data(2.0)
                if got is None or got[2] == b"after":
                    break
            assert got == ("channel", 0x4001, b"after"), f"{c.transport_name}: {got!r:.80}"
    finally:
        for o in opened:
            o.close()
