"""Faults (issue 7, item 4): ternd killed with SIGKILL under load and
restarted, and jumps of the wall clock during an allocation's life.

SIGKILL: two workers, a relay port range exactly as large as the calls on it
(six UDP calls streaming ChannelData both ways, two TCP calls), so the range
is full. ternd is killed with SIGKILL while the media flows and started again
with the same command line. Measured and printed: time from the restart to
the first answered Binding (asserted within RESTART_BOUND_S). Then no stale
state: the metrics show zero allocations, ports and creations; the pid file
holds the new pid and ternctl reaches the new process through it; no old
stream is relayed any more and the new process logs nothing per stale packet;
old UDP clients' Refreshes get 437; old TCP connections are closed; every
relay port of the old calls can be allocated again, and the new calls relay.

Clock jumps: ternd runs under libfaketime (FAKETIME_TIMESTAMP_FILE, re-read
on every call with FAKETIME_NO_CACHE=1; FAKETIME_DONT_FAKE_MONOTONIC=1 keeps
CLOCK_MONOTONIC real), so only its wall clock jumps. Credential expiry is
wall-clock by design; lifetimes must be monotonic. A call whose credential
outlives both jumps keeps relaying after a jump back by a day and after a
jump forward by a day; a call whose lifetime is a few seconds ends on time
after the jump back (its credential, by then valid for another day in ternd's
eyes, would keep it), counted as "expired". Each jump is shown to have taken
effect (a credential expired in real time is accepted after the jump back, a
fresh one-hour credential is refused after the jump forward), so the test
cannot pass with libfaketime silently not loaded.

Reload under load with many calls: twelve calls on four workers send
ChannelData to a peer about to be denied and to one that stays allowed while
SIGHUP puts a new peers.deny in force: the denied peer hears nothing from
any call shortly after the reload, every call still relays to the allowed
one, no allocation ends, every call Refreshes, and permissions to the denied
peer are refused (test_reload_drain.py covers the same with two counted
streams and exact loss).
"""

import os
import select
import signal
import subprocess
import threading
import time

import pytest

import helpers as h
import turnclient as tc
from conftest import SECRET, TERND, Ternd, relay_range, wait_for_binding
from load_support import log_lines, metric, metrics, show
from test_reload_drain import Stream, start_daemon, ternctl

SANITIZED = h.sanitized_binary(TERND) if os.access(TERND, os.X_OK) else False
SLOWED = SANITIZED or h.under_valgrind()
# "Serving again within seconds"; valgrind (tests/valgrind.sh) starts slowly.
RESTART_BOUND_S = 30.0 if h.under_valgrind() else 10.0 if SANITIZED else 5.0
UDP_CALLS, TCP_CALLS = 6, 2
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DAY = 86400
POLL_S = 0.02             # restart polling: the restart time's resolution
TICK_SLACK = 2.5           # expiry runs on a 1 s timer; allow two ticks and a margin


# --- SIGKILL under load ---------------------------------------------------------
def wait_serving(server, proc, bound):
    """Seconds until a UDP Binding to server is answered (bounded polling)."""
    start = time.monotonic()
    for _ in range(int(bound / POLL_S) + 1):
        if not proc.alive():
            raise AssertionError(f"restarted ternd exited: {proc.stderr_text()[-3000:]}")
        with tc.TurnClient(server, "udp", timeout=POLL_S) as c:
            try:
                if c.binding() is not None:
                    return time.monotonic() - start
            except (TimeoutError, OSError, tc.StunError, tc.TurnError):
                pass
        if time.monotonic() - start > bound:
            break
        time.sleep(POLL_S / 4)
    raise AssertionError(f"ternd not serving {bound} s after the restart")


def refresh_code(c):
    """The Refresh's outcome for an old client: 0 or the error code. The first
    send may meet the ICMP error the dead process left on the socket."""
    for _ in range(2):
        try:
            c.refresh()
            return 0
        except tc.TurnError as e:
            return e.code
        except ConnectionRefusedError:
            continue
    return None


def tcp_closed(c):
    try:
        c.t.sock.settimeout(1.0)
        return c.t.sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, OSError):
        return False


def allocations_state(d):
    m = metrics(d.metrics_url)
    return {name: metric(m, name) for name in (
        "tern_allocations_active", "tern_allocations_created_total", "tern_relay_ports_in_use")}


def test_sigkill_under_load_restarts_clean(ternd_factory, procs, tmp_path, capsys):
    lo, hi = relay_range(UDP_CALLS + TCP_CALLS)

    def edit(cfg):
        cfg["relay"].update(port_min=lo, port_max=hi)
    d = start_daemon(ternd_factory, procs, tmp_path, workers=2, edit=edit)
    old_pid = d.proc.pid
    clients, peers, streams, old_ports = [], [], [], set()
    try:
        for i in range(UDP_CALLS):
            c, p = d.client_for(f"old{i}"), tc.UdpPeer(f"127.0.0.{10 + i}")
            clients.append(c)
            peers.append(p)
            old_ports.add(c.allocate().relay[1])
            streams.append(Stream(c, p).start())
        for i in range(TCP_CALLS):
            c, p = d.client_for(f"oldtcp{i}", transport="tcp"), tc.UdpPeer()
            clients.append(c)
            peers.append(p)
            old_ports.add(c.allocate().relay[1])
            h.relay_send_data(c, p, c.allocation.relay, tag=b"T")
        assert old_ports == set(range(lo, hi + 1)), (old_ports, lo, hi)
        with d.client_for("one-too-many") as extra:
            with pytest.raises(tc.TurnError) as e:
                extra.allocate()
            assert e.value.code == 508, "the relay range should be full"
        assert allocations_state(d)["tern_allocations_active"] == UDP_CALLS + TCP_CALLS
        time.sleep(1.0)
        assert all(s.up and s.down for s in streams), "media did not flow before the kill"

        # Kill under load, restart with the same command line.
        old = d.proc
        os.kill(old.pid, signal.SIGKILL)
        old.popen.wait(5)
        old.check_exit = False          # killed on purpose
        t_kill = time.monotonic()
        new = procs("ternd", old.argv)
        new.check_exit = True
        d.proc = new
        took = wait_serving(d.udp4, new, RESTART_BOUND_S)
        show(capsys, f"SIGKILL with {UDP_CALLS} UDP calls streaming ({streams[0].rate}"
                     f" pps each way) and {TCP_CALLS} TCP calls: serving again "
                     f"{took * 1000:.0f} ms after the restart (polled every "
                     f"{POLL_S * 1000:.0f} ms)")
        assert took <= RESTART_BOUND_S

        # Fresh state, as the metrics endpoint and the pid file show it.
        state = allocations_state(d)
        assert state == {"tern_allocations_active": 0, "tern_allocations_created_total": 0,
                         "tern_relay_ports_in_use": 0}, state
        assert h.wait_until(lambda: open(d.pidfile).read().strip() == str(new.pid), 3), \
            f"pid file still says {open(d.pidfile).read().strip()} (old {old_pid}, new {new.pid})"
        lines_at_start = log_lines(new)

        # The old streams go on sending into the new process for a second:
        # nothing of them is relayed, nothing is logged per packet.
        time.sleep(1.0)
        for s in streams:
            s.stop(settle=0.0)
        # Judged by send time (Stream.last_up/last_down): the old process was
        # dead at t_kill, so anything sent later that arrived was relayed by
        # the new one.
        t_check = t_kill
        late = [(i, s.last_up() - t_check, s.last_down() - t_check)
                for i, s in enumerate(streams)
                if s.last_up() > t_check or s.last_down() > t_check]
        assert not late, f"old streams relayed after the restart (index, up s, down s): {late}"
        quiet = log_lines(new) - lines_at_start
        assert quiet <= 2, f"{quiet} log lines for stale traffic:\n{new.stderr_text()[-2000:]}"

        # Old clients: their allocations are gone.
        codes = [refresh_code(c) for c in clients[:UDP_CALLS]]
        assert codes == [437] * UDP_CALLS, f"old UDP clients' Refresh: {codes}"
        assert all(tcp_closed(c) for c in clients[UDP_CALLS:]), "old TCP connections still open"

        # Every old relay port can be allocated again, and the new calls relay.
        fresh, new_ports = [], set()
        for i in range(UDP_CALLS + TCP_CALLS):
            c = d.client_for(f"new{i}")
            fresh.append(c)
            new_ports.add(c.allocate().relay[1])
        assert new_ports == old_ports, (sorted(new_ports), sorted(old_ports))
        assert allocations_state(d)["tern_allocations_active"] == UDP_CALLS + TCP_CALLS
        with tc.UdpPeer("127.0.0.99") as p:
            for k, c in enumerate(fresh[:3]):
                h.relay_channel(c, p, c.allocation.relay, channel=0x4000 + k, tag=b"N%d" % k)
        # An old peer sending to its old relay port (now a new call's) reaches nobody.
        by_port = {c.allocation.relay[1]: c for c in fresh}
        for s, p in zip(streams, peers):
            p.sendto(b"stale peer", s.relay)
            got = by_port[s.relay[1]].recv_data(0.2)
            assert got is None, f"a stale peer reached a new call: {got!r}"
        # ternctl finds the new process through the pid file.
        r = ternctl("reload", "--pidfile", d.pidfile)
        assert r.returncode == 0, r.stderr
        d.wait_log("reload: new configuration in force")
        for c in fresh:
            c.close()
    finally:
        for s in streams:
            s.stop(settle=0.0)
        for x in clients + peers:
            x.close()


# --- wall-clock jumps ------------------------------------------------------------
def asan_runtime(path):
    """The AddressSanitizer runtime ternd links, which must come first in
    LD_PRELOAD before libfaketime; None if there is none."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) >= 3:
            return parts[2]
    return None


class FakeClock:
    """ternd's wall-clock offset, read by libfaketime from a file on every
    time call; written atomically so it never reads half a line."""

    def __init__(self, path):
        self.path = path
        self.set("+0")

    def set(self, spec):
        with open(self.path + ".new", "w") as f:
            f.write(spec + "\n")
        os.replace(self.path + ".new", self.path)


def start_faketime_ternd(ternd_factory, procs, tmp_path, clock):
    if not os.path.exists(FAKETIME_LIB):
        pytest.fail(f"{FAKETIME_LIB} missing: apt-get install faketime "
                    "(scripts/install-deps.sh test installs it)")
    preload = [FAKETIME_LIB]
    if SANITIZED:
        runtime = asan_runtime(TERND)
        if runtime is None:
            pytest.skip("sanitized ternd without a preloadable libasan: libfaketime cannot go "
                        "after the ASan runtime")
        preload.insert(0, runtime)

    def edit(cfg):
        # Credentials valid for two days must stay acceptable a day back.
        cfg["auth"].update(max_ttl=3 * DAY)
    cfg, path, port = ternd_factory.write(workers=1, edit=edit)
    argv = ["env", "-u", "FAKETIME", f"LD_PRELOAD={':'.join(preload)}",
            f"FAKETIME_TIMESTAMP_FILE={clock.path}", "FAKETIME_NO_CACHE=1",
            "FAKETIME_DONT_FAKE_MONOTONIC=1", TERND, "-c", path]
    proc = procs("ternd", argv)
    proc.check_exit = True
    d = Ternd(proc, cfg, path, port, [SECRET])
    wait_for_binding(d.udp4, proc)
    return d


def client_with(d, ttl, now=None, user="alice"):
    username, password = tc.rest_credentials(SECRET, user, ttl, now)
    return tc.TurnClient(d.udp4, "udp", username, password)


def allocate_code(c):
    try:
        c.allocate()
        return 0
    except tc.TurnError as e:
        return e.code


def ended(d, reason):
    m = metrics(d.metrics_url)
    return m.get(f'tern_allocations_ended_total{{reason="{reason}"}}', 0.0)


def channel_works(c, peer, channel, tag):
    """One ChannelData each way through an already bound channel."""
    c.send_channel_data(channel, b"up " + tag)
    got = peer.recvfrom(1.0)
    if got is None or got[0] != b"up " + tag:
        return False
    peer.sendto(b"down " + tag, c.allocation.relay)
    return c.recv_data(1.0) == ("channel", channel, b"down " + tag)


def test_wall_clock_jumps_neither_expire_nor_extend(ternd_factory, procs, tmp_path, capsys):
    clock = FakeClock(str(tmp_path / "faketime.rc"))
    d = start_faketime_ternd(ternd_factory, procs, tmp_path, clock)
    long_call = client_with(d, ttl=2 * DAY, user="long")
    short_call = client_with(d, ttl=4, user="short")
    pl, ps = tc.UdpPeer(), tc.UdpPeer()
    try:
        assert long_call.allocate().lifetime == d.config["limits"]["default_lifetime"]
        long_call.channel_bind(0x4001, pl.addr)
        t_short = time.monotonic()
        lifetime = short_call.allocate().lifetime
        assert 1 <= lifetime <= 4, lifetime            # capped by its credential
        short_call.channel_bind(0x4002, ps.addr)
        assert channel_works(long_call, pl, 0x4001, b"before")
        assert channel_works(short_call, ps, 0x4002, b"before")

        # Back by a day: ternd's wall clock says the short credential has a
        # day left; its lifetime must end on time anyway.
        clock.set(f"-{DAY}")
        with client_with(d, ttl=3600, now=int(time.time()) - 7200, user="witness") as w:
            assert allocate_code(w) == 0, \
                "a credential expired an hour ago was refused: the clock did not jump back"
            w.refresh(0)
        assert channel_works(short_call, ps, 0x4002, b"after the jump back"), \
            "the jump back ended a call early"
        time.sleep(max(0.0, t_short + lifetime + TICK_SLACK - time.monotonic()))
        assert not channel_works(short_call, ps, 0x4002, b"past its lifetime"), \
            f"a call with a {lifetime} s lifetime still relays after a jump back"
        assert refresh_code(short_call) == 437, "the short call's allocation is not gone"
        assert ended(d, "expired") == 1 and ended(d, "credential") == 0, \
            metrics(d.metrics_url)
        assert channel_works(long_call, pl, 0x4001, b"a day back")

        # Forward by a day (two from the last setting): the long call goes on.
        clock.set(f"+{DAY}")
        with client_with(d, ttl=3600, user="witness2") as w:
            assert allocate_code(w) == 401, \
                "a one-hour credential was accepted: the clock did not jump forward"
        time.sleep(TICK_SLACK)                          # ticks run on the new wall clock
        assert channel_works(long_call, pl, 0x4001, b"a day ahead"), \
            "the jump forward ended a call early"
        assert long_call.refresh() == d.config["limits"]["default_lifetime"]
        assert ended(d, "expired") == 1 and ended(d, "credential") == 0
        show(capsys, f"wall clock -1 day then +1 day: the {lifetime} s call ended on time "
                     f"(monotonic), the {d.config['limits']['default_lifetime']} s call "
                     f"relayed throughout")
    finally:
        for x in (long_call, short_call, pl, ps):
            x.close()


# --- reload under load, many calls -------------------------------------------------
RELOAD_CALLS, RELOAD_PPS = 12, 40      # per call and channel: 960 datagrams/s in all


class Spray:
    """ChannelData from every call to two peers, round robin, paced; each
    peer's receipts recorded as (send time, call index). The send time
    (time.monotonic()) travels in the payload: a receiving thread that falls
    behind on a busy machine must not make an old datagram look new."""

    def __init__(self, calls, peers, channels):
        self.calls, self.peers, self.channels = calls, peers, channels
        self.got = {i: [] for i in range(len(peers))}
        self.sent = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._tx, daemon=True)] + [
            threading.Thread(target=self._rx, args=(i,), daemon=True) for i in range(len(peers))]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def _tx(self):
        interval = 1.0 / RELOAD_PPS
        next_t = time.monotonic()
        for _ in range(RELOAD_PPS * 120):                  # bounded: two minutes
            if self._stop.is_set():
                return
            for k, c in enumerate(self.calls):
                for ch in self.channels:
                    try:
                        payload = b"%d %.6f" % (k, time.monotonic())
                        c.t.sock.send(tc.encode_channel_data(ch, payload))
                        self.sent += 1
                    except OSError:
                        pass
            next_t += interval
            time.sleep(max(0.0, next_t - time.monotonic()))

    def _rx(self, i):
        sock = self.peers[i].sock
        while not self._stop.is_set():
            r, _, _ = select.select([sock], [], [], 0.05)
            if r:
                try:
                    data = sock.recv(65536)
                except OSError:
                    continue
                k, sent = data.split()
                self.got[i].append((float(sent), int(k)))

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)

    def callers_after(self, i, t):
        return {k for when, k in self.got[i] if when > t}


def test_reload_under_load_keeps_every_call_and_cuts_denied_peer(ternd_factory, procs,
                                                                 tmp_path, capsys):
    d = start_daemon(ternd_factory, procs, tmp_path, workers=4)
    denied, allowed = tc.UdpPeer("127.0.0.2"), tc.UdpPeer("127.0.0.3")
    calls = [d.client_for(f"call{k}") for k in range(RELOAD_CALLS)]
    spray = None
    try:
        for c in calls:
            c.allocate()
            c.channel_bind(0x4001, denied.addr)
            c.channel_bind(0x4002, allowed.addr)
        state = allocations_state(d)
        assert state["tern_allocations_active"] == RELOAD_CALLS, state
        spray = Spray(calls, [denied, allowed], [0x4001, 0x4002]).start()
        time.sleep(1.0)
        everyone = set(range(RELOAD_CALLS))
        assert spray.callers_after(0, 0) == everyone and spray.callers_after(1, 0) == everyone, \
            "not every call relayed before the reload"

        d.rewrite(lambda cfg: cfg.update(peers=dict(cfg["peers"], deny=["127.0.0.2/32"])))
        os.kill(d.proc.pid, signal.SIGHUP)
        d.wait_log("reload: new configuration in force")
        t_applied = time.monotonic()
        time.sleep(1.5)
        spray.stop()
        # Datagrams sent this long after the log line must find the new
        # policy: the workers' mailboxes run just after it.
        grace = 1.0 if SLOWED else 0.3
        leaked = spray.callers_after(0, t_applied + grace)
        assert not leaked, f"calls still relayed to the denied peer after the reload: {leaked}"
        alive = spray.callers_after(1, t_applied + grace)
        assert alive == everyone, f"calls that stopped relaying to the allowed peer: " \
            f"{sorted(everyone - alive)}"
        show(capsys, f"reload under load: {spray.sent} datagrams sent by {RELOAD_CALLS} calls "
                     f"on 4 workers; denied peer silent from {grace} s after the reload, "
                     f"all {RELOAD_CALLS} calls still relaying to the allowed one")
        state = allocations_state(d)
        assert state["tern_allocations_active"] == RELOAD_CALLS, state
        m = metrics(d.metrics_url)
        assert metric(m, "tern_allocations_ended_total") == 0, "an allocation ended"
        for c in calls:
            assert c.refresh() > 0
            with pytest.raises(tc.TurnError) as e:
                c.create_permission(denied.addr)
            assert e.value.code == 403
    finally:
        if spray is not None:
            spray.stop()
        for x in calls + [denied, allowed]:
            x.close()
