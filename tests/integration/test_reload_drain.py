"""Reload (SIGHUP / ternctl reload) while media flows, and drain (SIGUSR1 /
ternctl drain).

Reload: a valid file is put in force per worker without dropping an
allocation or a packet; an invalid one is refused with file:line and changes
nothing; peers a new deny list covers lose their permissions at once;
settings only a restart can change keep their running values and are named.
Drain: new Allocates get 508 (or 300 with ALTERNATE-SERVER), running calls go
on and can Refresh, and ternd exits 0 at zero allocations or at the deadline.

Traffic is a counted stream: sequence-numbered ChannelData from the client
to a peer and datagrams from the peer back, 200 a second each way, read by
background threads; after a reload the counts must match exactly."""

import ipaddress
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import turnclient as tc
from conftest import (SECRET, SECRET2, TERNCTL, TERND, Ternd, free_port, render_config,
                      wait_for_binding, write_secrets)
from helpers import relay_channel, slowed, wait_until
from test_systemd_notify import NotifyListener, notify_argv

RATE = 200                 # packets per second, each direction
RUN_TIMEOUT = 20
LOG_WAIT = 5.0
SLOWED = os.access(TERND, os.X_OK) and slowed(TERND)   # ASan or valgrind: wider time bounds
PAD = b"m" * 160           # roughly an audio frame


# --- a counted media stream --------------------------------------------------
class Stream:
    """Client <-> peer through a bound channel, counted by sequence number.
    While it runs, the client's socket belongs to the stream's threads: no
    other transaction on that client until stop()."""

    def __init__(self, client, peer, channel=0x4001, rate=RATE):
        client.channel_bind(channel, peer.addr)
        self.c, self.peer, self.ch, self.rate = client, peer, channel, rate
        self.relay = client.allocation.relay
        self.sent_up = self.sent_down = 0
        # Send times (time.monotonic()) by sequence number: judging by when
        # a datagram was sent, not by when a reader thread on a busy machine
        # got to it, keeps "nothing relayed after X" exact.
        self.up_sent_at, self.down_sent_at = [], []
        self.up = {}        # seq -> monotonic time the peer got it
        self.down = {}      # seq -> monotonic time the client got it
        self._stop_tx = threading.Event()
        self._stop_rx = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True)
                         for f in (self._tx, self._rx_peer, self._rx_client)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def _tx(self):
        interval = 1.0 / self.rate
        next_t = time.monotonic()
        for _ in range(self.rate * 600):          # bounded: 10 minutes at most
            if self._stop_tx.is_set():
                return
            self.up_sent_at.append(time.monotonic())
            try:
                self.c.t.sock.send(tc.encode_channel_data(
                    self.ch, b"U" + struct.pack("!I", self.sent_up) + PAD))
            except OSError:
                pass                              # counted as sent: shows up as loss
            self.sent_up += 1
            self.down_sent_at.append(time.monotonic())
            try:
                self.peer.sock.sendto(b"D" + struct.pack("!I", self.sent_down) + PAD,
                                      self.relay)
            except OSError:
                pass
            self.sent_down += 1
            next_t += interval
            time.sleep(max(0.0, next_t - time.monotonic()))

    def _rx(self, sock, handle):
        while not self._stop_rx.is_set():
            r, _, _ = select.select([sock], [], [], 0.05)
            if not r:
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                continue
            handle(data, time.monotonic())

    def _rx_peer(self):
        def handle(data, now):
            if data[:1] == b"U" and len(data) >= 5:
                self.up[struct.unpack("!I", data[1:5])[0]] = now
        self._rx(self.peer.sock, handle)

    def _rx_client(self):
        def handle(data, now):
            if tc.is_channel_data(data):
                ch, payload = tc.decode_channel_data(data)
                if ch == self.ch and payload[:1] == b"D" and len(payload) >= 5:
                    self.down[struct.unpack("!I", payload[1:5])[0]] = now
        self._rx(self.c.t.sock, handle)

    def stop(self, settle=0.5):
        self._stop_tx.set()
        self._threads[0].join(5)
        time.sleep(settle)
        self._stop_rx.set()
        for t in self._threads[1:]:
            t.join(5)

    def last_up(self):
        """When the latest datagram that reached the peer was sent."""
        return max((self.up_sent_at[seq] for seq in self.up), default=0.0)

    def last_down(self):
        """When the latest datagram that reached the client was sent."""
        return max((self.down_sent_at[seq] for seq in self.down), default=0.0)

    def assert_no_loss(self, label=""):
        lost_up = self.sent_up - len(self.up)
        lost_down = self.sent_down - len(self.down)
        assert self.sent_up > self.rate and self.sent_down > self.rate, \
            f"{label}: stream too short ({self.sent_up} up, {self.sent_down} down)"
        assert lost_up == 0 and lost_down == 0, (
            f"{label}: lost {lost_up}/{self.sent_up} client->peer and "
            f"{lost_down}/{self.sent_down} peer->client packets")


# --- ternd with a pid file (and optionally a notify socket) ------------------
class Daemon(Ternd):
    def __init__(self, proc, config, config_path, port, secrets, pidfile):
        super().__init__(proc, config, config_path, port, secrets)
        self.pidfile = pidfile

    def log(self):
        return self.proc.stderr_text()

    def wait_log(self, text, count=1, timeout=LOG_WAIT):
        ok = wait_until(lambda: self.log().count(text) >= count, timeout, 0.05)
        assert ok, f"log never said {text!r} ({count}x):\n{self.log()[-3000:]}"
        return [l for l in self.log().splitlines() if text in l][count - 1]

    def rewrite(self, edit, secrets=None):
        """Writes a new config (edit(cfg) changes a copy) and, if given, new
        secrets; both replace the files atomically. Returns the text."""
        cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.config.items()}
        edit(cfg)
        if secrets is not None:
            write_secrets(cfg["auth"]["secrets_file"] + ".new", list(secrets))
            os.replace(cfg["auth"]["secrets_file"] + ".new", cfg["auth"]["secrets_file"])
        text = render_config(cfg)
        with open(self.config_path + ".new", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".new", self.config_path)
        return text

    def client_for(self, user, secret=None, transport="udp", **kw):
        username, password = tc.rest_credentials(secret or self.secrets[0], user, 3600)
        return tc.TurnClient(self.udp4, transport, username, password, **kw)


def start_daemon(ternd_factory, procs, tmp_path, workers=2, edit=None, notify=None,
                 secrets=(SECRET,)):
    if not os.access(TERND, os.X_OK):
        pytest.fail(f"ternd binary not found at {TERND} (set $TERND)")
    cfg, path, port = ternd_factory.write(workers=workers, edit=edit, secrets=secrets)
    pidfile = str(tmp_path / f"ternd-{port}.pid")
    argv = [TERND, "-c", path, "--pidfile", pidfile]
    if notify is not None:
        argv = notify_argv(notify, argv, watchdog_usec=0)
    proc = procs("ternd", argv)
    proc.check_exit = True
    d = Daemon(proc, cfg, path, port, list(secrets), pidfile)
    wait_for_binding(d.udp4, proc)
    assert wait_until(lambda: os.path.exists(pidfile), 3), "no pid file"
    return d


def ternctl(*args):
    return subprocess.run([TERNCTL, *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def allocate_code(d, user, secret=None, transport="udp"):
    """The Allocate's outcome: 0 for success, else the error code."""
    with d.client_for(user, secret, transport) as c:
        try:
            c.allocate()
            return 0
        except tc.TurnError as e:
            return e.code


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in config")


@pytest.fixture
def notify():
    listener = NotifyListener()
    yield listener
    listener.close()


def streaming(d, user="alice", peer_host="127.0.0.1"):
    c = d.client_for(user)
    peer = tc.UdpPeer(peer_host)
    c.allocate()
    return c, peer, Stream(c, peer)


# --- reload --------------------------------------------------------------------
def test_reload_valid_change_keeps_every_packet(ternd_factory, procs, tmp_path):
    d = start_daemon(ternd_factory, procs, tmp_path)
    assert allocate_code(d, "bob", SECRET2) == 401          # not a secret yet
    c, peer, s = streaming(d)
    try:
        s.start()
        time.sleep(1.0)

        def edit(cfg):
            cfg["log"] = {"level": "debug"}
            cfg["limits"] = dict(cfg["limits"], allocations_per_user=1)
        d.rewrite(edit, secrets=[SECRET, SECRET2])
        r = ternctl("reload", "--pidfile", d.pidfile)
        assert r.returncode == 0, r.stderr
        d.wait_log("reload: new configuration in force")
        # The new secret verifies, the new quota counts alice's running call.
        assert allocate_code(d, "bob", SECRET2) == 0
        assert allocate_code(d, "alice") == 486
        assert allocate_code(d, "carol") == 0                # the old secret still works
        time.sleep(1.0)
    finally:
        s.stop()
        c.close()
        peer.close()
    s.assert_no_loss("valid reload")
    assert "restart" not in d.log()
    assert "keeping the running configuration" not in d.log()


def test_reload_invalid_file_changes_nothing(ternd_factory, procs, tmp_path):
    d = start_daemon(ternd_factory, procs, tmp_path)
    c, peer, s = streaming(d)
    try:
        s.start()
        time.sleep(0.8)
        # A new secret (would be visible) and, on its own line, a bad value.
        other = str(tmp_path / "secrets-new")
        write_secrets(other, [SECRET2])

        def edit(cfg):
            cfg["auth"] = dict(cfg["auth"], secrets_file=other)
            cfg["limits"] = dict(cfg["limits"], allocations_per_user=0)
        text = d.rewrite(edit)
        bad_line = line_of(text, "allocations_per_user")
        os.kill(d.proc.pid, signal.SIGHUP)
        line = d.wait_log("reload: keeping the running configuration")
        assert f"{d.config_path}:{bad_line}:" in line, line
        assert line.startswith("<3>"), line
        # Old behaviour: the old secret works, the new one does not.
        assert allocate_code(d, "carol") == 0
        assert allocate_code(d, "bob", SECRET2) == 401
        time.sleep(0.8)
    finally:
        s.stop()
        c.close()
        peer.close()
    s.assert_no_loss("invalid reload")
    assert "new configuration in force" not in d.log()
    # --check-config agrees on where the file is wrong.
    r = subprocess.run([TERND, "--check-config", "-c", d.config_path], capture_output=True,
                       text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 1 and f"{d.config_path}:{bad_line}:" in r.stderr, r.stderr


def test_reload_deny_cuts_running_peer_only(ternd_factory, procs, tmp_path):
    d = start_daemon(ternd_factory, procs, tmp_path)
    ca, pa, sa = streaming(d, "alice", "127.0.0.2")         # to be denied
    cb, pb, sb = streaming(d, "bob", "127.0.0.3")           # stays allowed
    try:
        sa.start()
        sb.start()
        time.sleep(1.0)
        assert sa.up and sa.down, "stream A did not flow before the reload"

        def edit(cfg):
            cfg["peers"] = dict(cfg["peers"], deny=["127.0.0.2/32"])
        d.rewrite(edit)
        os.kill(d.proc.pid, signal.SIGHUP)
        d.wait_log("reload: new configuration in force")
        t_applied = time.monotonic()
        time.sleep(1.5)
    finally:
        sa.stop()
        sb.stop()
    try:
        # "At once": nothing sent shortly after the log line is relayed to or
        # from the denied peer (the line is written before the workers'
        # mailboxes run; allow them a moment).
        grace = 0.3
        assert sa.last_up() < t_applied + grace, \
            f"peer A still got data sent {sa.last_up() - t_applied:.2f} s after the reload"
        assert sa.last_down() < t_applied + grace, \
            f"client A still got data sent {sa.last_down() - t_applied:.2f} s after the reload"
        assert sa.sent_up - len(sa.up) > RATE, "stream A was not cut"
        sb.assert_no_loss("allowed peer during a deny reload")
        # The permission and the channel are gone, and cannot come back.
        with pytest.raises(tc.TurnError) as e:
            ca.create_permission(pa.addr)
        assert e.value.code == 403
        with pytest.raises(tc.TurnError) as e:
            ca.channel_bind(0x4002, pa.addr)
        assert e.value.code == 403
        # The allocation itself lives on: an allowed peer still works.
        with tc.UdpPeer("127.0.0.4") as pc:
            relay_channel(ca, pc, ca.allocation.relay, channel=0x4003, tag=b"A")
    finally:
        for x in (ca, pa, cb, pb):
            x.close()


def test_reload_restart_only_setting_is_named_and_kept(ternd_factory, procs, tmp_path):
    d = start_daemon(ternd_factory, procs, tmp_path)
    new_port = free_port()
    c, peer, s = streaming(d)
    try:
        s.start()
        time.sleep(0.8)

        def edit(cfg):
            cfg["listen"] = {"udp": [f"127.0.0.1:{new_port}", f"[::1]:{new_port}"],
                             "tcp": [f"127.0.0.1:{new_port}", f"[::1]:{new_port}"]}
        d.rewrite(edit, secrets=[SECRET, SECRET2])
        os.kill(d.proc.pid, signal.SIGHUP)
        line = d.wait_log("reload: these settings need a restart")
        assert "listen.udp" in line and "listen.tcp" in line, line
        assert "workers" not in line and "relay" not in line, line
        d.wait_log("reload: new configuration in force")
        # The rest of the file is in force ...
        assert allocate_code(d, "bob", SECRET2) == 0
        time.sleep(0.8)
    finally:
        s.stop()
        c.close()
        peer.close()
    s.assert_no_loss("restart-only reload")
    # ... the listeners are the running ones.
    for transport in ("udp", "tcp"):
        with tc.TurnClient(d.udp4, transport, timeout=1.0) as b:
            assert b.binding() is not None
    with tc.TurnClient(("127.0.0.1", new_port), "udp", timeout=0.7) as b:
        with pytest.raises((TimeoutError, OSError)):
            b.binding()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", new_port), timeout=1.0).close()


# --- drain ---------------------------------------------------------------------
def decode_address(value):
    """A plain (not XOR'd) STUN address attribute, e.g. ALTERNATE-SERVER."""
    family, port = value[1], struct.unpack("!H", value[2:4])[0]
    size = 4 if family == tc.FAMILY_IPV4 else 16
    return str(ipaddress.ip_address(value[4:4 + size])), port


def allocate_response(d, user, transport="udp"):
    with d.client_for(user, transport=transport) as c:
        return c.request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT,
                                        tc.encode_requested_transport())])


def wait_exit(proc, timeout):
    try:
        proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
    return proc.popen.returncode


def test_drain_refuses_new_keeps_running_exits_at_zero(ternd_factory, procs, tmp_path,
                                                       notify):
    d = start_daemon(ternd_factory, procs, tmp_path, notify=notify)
    c1, c2 = d.client_for("alice"), d.client_for("bob", transport="tcp")
    p1, p2 = tc.UdpPeer(), tc.UdpPeer()
    try:
        c1.allocate()
        c2.allocate()
        r = ternctl("drain", "--pidfile", d.pidfile)
        assert r.returncode == 0, r.stderr
        d.wait_log("drain: refusing new allocations")
        status = notify.next(lambda m: "draining" in m.get("STATUS", ""), LOG_WAIT)
        assert status is not None, notify.messages
        assert "2 allocations left" in status[1]["STATUS"], status[1]
        # New allocations: 508 on both transports.
        for transport in ("udp", "tcp"):
            resp = allocate_response(d, "carol", transport)
            assert resp.error_code() == 508, (transport, resp.error())
            assert not resp.has(tc.ALTERNATE_SERVER)
        # Running ones relay, refresh and bind as before.
        relay_channel(c1, p1, c1.allocation.relay, tag=b"1")
        relay_channel(c2, p2, c2.allocation.relay, tag=b"2")
        assert c1.refresh(600) == 600 and c2.refresh(600) == 600
        # A reload while draining keeps draining.
        os.kill(d.proc.pid, signal.SIGHUP)
        again = notify.next(lambda m: m.get("READY") == "1" and "STATUS" in m, LOG_WAIT)
        assert again is not None and "draining" in again[1]["STATUS"], again
        assert allocate_response(d, "carol").error_code() == 508
        # Ending the calls: one left, then none, then exit 0 promptly.
        c1.refresh(0)
        one = notify.next(lambda m: "1 allocations left" in m.get("STATUS", ""), 3)
        assert one is not None, notify.messages[-5:]
        assert d.proc.alive()
        t0 = time.monotonic()
        c2.refresh(0)
        rc = wait_exit(d.proc, 4)
        elapsed = time.monotonic() - t0
    finally:
        for x in (c1, c2, p1, p2):
            x.close()
    d.proc.check_exit = False
    assert rc == 0, f"exit {rc} after the last allocation ended:\n{d.log()[-3000:]}"
    bound = 5.0 if SLOWED else 2.5      # one drain check (a tick) plus the shutdown
    assert elapsed < bound, f"exited {elapsed:.1f} s after the last allocation ended"
    assert "drain: no allocation left, stopping" in d.log()
    assert notify.next(lambda m: m.get("STOPPING") == "1", 2) is not None
    assert not os.path.exists(d.pidfile), "pid file left behind"


def test_drain_with_alternate_server_answers_300(ternd_factory, procs, tmp_path):
    alt_port = free_port()

    def edit(cfg):
        cfg["drain"] = {"alternate_server": f"127.0.0.1:{alt_port}", "deadline": 3600}
    d = start_daemon(ternd_factory, procs, tmp_path, edit=edit)
    with d.client_for("alice") as c, tc.UdpPeer() as p:
        c.allocate()
        os.kill(d.proc.pid, signal.SIGUSR1)
        d.wait_log("drain: refusing new allocations (300")
        for transport in ("udp", "tcp"):
            resp = allocate_response(d, "carol", transport)
            assert resp.error_code() == 300, (transport, resp.error())
            alt = resp.get(tc.ALTERNATE_SERVER)
            assert alt is not None, resp
            assert decode_address(alt) == ("127.0.0.1", alt_port)
        # A second SIGUSR1 changes nothing; Binding and the running call go on.
        os.kill(d.proc.pid, signal.SIGUSR1)
        assert d.log().count("drain: refusing new allocations") == 1
        with tc.TurnClient(d.udp4, "udp", timeout=1.0) as b:
            assert b.binding() is not None
        relay_channel(c, p, c.allocation.relay)
        assert c.refresh(900) == 900          # (below default_lifetime would get the default)
    # Still running (the allocation ends only when the client deletes it or
    # its lifetime runs out): SIGTERM at teardown must exit 0.
    assert d.proc.alive()


def test_drain_deadline_ends_live_calls(ternd_factory, procs, tmp_path):
    def edit(cfg):
        cfg["drain"] = {"deadline": 2}
    d = start_daemon(ternd_factory, procs, tmp_path, edit=edit)
    with d.client_for("alice") as c, tc.UdpPeer() as p:
        c.allocate()
        t0 = time.monotonic()
        r = ternctl("drain", "--pidfile", d.pidfile)
        assert r.returncode == 0, r.stderr
        relay_channel(c, p, c.allocation.relay)
        rc = wait_exit(d.proc, 12 if SLOWED else 6)
        elapsed = time.monotonic() - t0
    d.proc.check_exit = False
    assert rc == 0, f"exit {rc}:\n{d.log()[-3000:]}"
    assert 1.5 <= elapsed <= (8.0 if SLOWED else 4.0), \
        f"exited {elapsed:.1f} s after the drain began (deadline 2 s)"
    assert "drain: deadline reached, stopping" in d.log()


# --- ternctl without a running ternd --------------------------------------------
@pytest.mark.parametrize("command", ["reload", "drain"])
def test_ternctl_bad_pidfile(tmp_path, command):
    missing = str(tmp_path / "nope.pid")
    r = ternctl(command, "--pidfile", missing)
    assert r.returncode == 1 and missing in r.stderr, (r.returncode, r.stderr)

    garbage = tmp_path / "garbage.pid"
    garbage.write_text("not a pid\n")
    r = ternctl(command, "--pidfile", str(garbage))
    assert r.returncode == 1 and "not a pid file" in r.stderr, (r.returncode, r.stderr)

    # A pid that is no longer running (a child that has exited and been reaped).
    gone = subprocess.Popen(["true"])
    gone.wait(RUN_TIMEOUT)
    stale = tmp_path / "stale.pid"
    stale.write_text(f"{gone.pid}\n")
    r = ternctl(command, "--pidfile", str(stale))
    assert r.returncode == 1 and "cannot signal" in r.stderr, (r.returncode, r.stderr)
