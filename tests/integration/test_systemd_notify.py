"""ternd speaks systemd's notify protocol (sd_notify(3)) to the socket in
$NOTIFY_SOCKET: READY=1 once it serves, RELOADING=1 ... READY=1 around a
SIGHUP, WATCHDOG=1 while every worker loop responds, STOPPING=1 on SIGTERM.

The test plays systemd: it binds its own AF_UNIX datagram socket and starts
ternd with NOTIFY_SOCKET and WATCHDOG_USEC set (WATCHDOG_PID unset:
sd_watchdog_enabled() accepts an absent WATCHDOG_PID, and a set one must be
ternd's own pid, which is not known before the start). The stuck-worker case
needs ternd built with -Dtest_hooks=true (SIGUSR2 stalls worker 0)."""

import os
import shutil
import signal
import socket
import tempfile
import time

import pytest

import turnclient as tc
from conftest import TERND, wait_for_binding
from helpers import wait_until

WATCHDOG_USEC = 1000000          # ternd pets every 250 ms
STALL_S = 8                      # worker 0's stall (TERND_TEST_STALL_S)
HOOKS_BANNER = "test hooks are compiled in"


class NotifyListener:
    """The systemd side of sd_notify: an AF_UNIX datagram socket in a fresh
    private directory (short path: sun_path holds 108 bytes). Every
    datagram is kept as (monotonic time, {key: value}) in arrival order."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []
        self.cursor = 0           # next message next() looks at

    def _pump(self, timeout):
        """Reads what arrives within timeout (at least one wait)."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except (socket.timeout, BlockingIOError):
            return False
        fields = {}
        for line in data.decode("utf-8", "replace").split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        self.messages.append((time.monotonic(), fields))
        return True

    def drain(self, seconds):
        """Collects everything that arrives during the next `seconds`."""
        deadline = time.monotonic() + seconds
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pump(left)

    def next(self, pred, timeout):
        """The first message from the cursor on satisfying pred, waiting up
        to timeout; moves the cursor past it. None on timeout."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            while self.cursor < len(self.messages):
                when, fields = self.messages[self.cursor]
                self.cursor += 1
                if pred(fields):
                    return when, fields
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._pump(left)
        return None

    def since(self, t0, key=None):
        return [(t, m) for t, m in self.messages if t >= t0 and (key is None or key in m)]

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def is_watchdog(m):
    return m.get("WATCHDOG") == "1"


def notify_argv(listener, argv, watchdog_usec=WATCHDOG_USEC, extra_env=()):
    """argv run under env(1), which execs: the pid stays ternd's."""
    env = ["env", "-u", "WATCHDOG_PID", "-u", "LISTEN_FDS", "-u", "LISTEN_PID",
           f"NOTIFY_SOCKET={listener.path}"]
    if watchdog_usec:
        env.append(f"WATCHDOG_USEC={watchdog_usec}")
    env.extend(extra_env)
    return env + list(argv)


@pytest.fixture
def notify():
    listener = NotifyListener()
    yield listener
    listener.close()


def start_notified(ternd_factory, procs, notify, workers=1, edit=None, **kw):
    cfg, path, port = ternd_factory.write(workers=workers, edit=edit)
    if not os.access(TERND, os.X_OK):
        pytest.fail(f"ternd binary not found at {TERND} (set $TERND)")
    proc = procs("ternd", notify_argv(notify, [TERND, "-c", path], **kw))
    return proc, cfg, path, port


def wait_ready(notify, proc, timeout=10):
    """The first READY=1 (bounded); fails at once if ternd exits."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 2):
        ready = notify.next(lambda m: m.get("READY") == "1", 0.1)
        if ready is not None:
            return ready
        assert proc.alive(), (f"ternd exited with {proc.popen.returncode} before READY=1:\n"
                              + proc.stderr_text()[-3000:])
        if time.monotonic() >= deadline:
            break
    raise AssertionError(f"no READY=1 within {timeout} s:\n" + proc.stderr_text()[-3000:])


def sigterm_stops(notify, proc):
    """SIGTERM: STOPPING=1, then exit 0."""
    notify.cursor = len(notify.messages)
    os.kill(proc.pid, signal.SIGTERM)
    stopping = notify.next(lambda m: m.get("STOPPING") == "1", 5)
    assert stopping is not None, "no STOPPING=1 after SIGTERM"
    proc.popen.wait(10)
    assert proc.popen.returncode == 0, proc.stderr_text()[-3000:]


def test_ready_watchdog_reload_stop(ternd_factory, procs, notify):
    proc, cfg, path, port = start_notified(ternd_factory, procs, notify, workers=2)
    server = ("127.0.0.1", port)

    # READY=1 with a STATUS= line; from then on the listeners answer at once
    # (one short transaction each, no waiting for the daemon to come up).
    ready = wait_ready(notify, proc)
    assert ready[1].get("STATUS"), f"READY=1 without STATUS=: {ready[1]}"
    for transport in ("udp", "tcp"):
        with tc.TurnClient(server, transport, timeout=1.0) as c:
            assert c.binding() is not None, f"no Binding answer over {transport} after READY"
    early = [m for t, m in notify.messages if t < ready[0]]
    assert not any("STOPPING" in m or "RELOADING" in m for m in early), early

    # WATCHDOG=1 every WATCHDOG_USEC/4 while the workers run.
    t0 = time.monotonic()
    notify.drain(1.6)
    pets = notify.since(t0, "WATCHDOG")
    assert len(pets) >= 4, f"{len(pets)} WATCHDOG=1 in 1.6 s with WatchdogSec=1s"
    assert all(is_watchdog(m) for _, m in pets)

    # SIGHUP: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC), then READY=1.
    notify.cursor = len(notify.messages)
    os.kill(proc.pid, signal.SIGHUP)
    reloading = notify.next(lambda m: m.get("RELOADING") == "1", 5)
    assert reloading is not None, "no RELOADING=1 after SIGHUP"
    assert reloading[1].get("MONOTONIC_USEC", "").isdigit(), reloading[1]
    usec = int(reloading[1]["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 5
    again = notify.next(lambda m: m.get("READY") == "1", 5)
    assert again is not None, "no READY=1 after RELOADING=1"
    with tc.TurnClient(server, "udp", timeout=1.0) as c:
        assert c.binding() is not None
    t1 = time.monotonic()
    notify.drain(0.8)
    assert len(notify.since(t1, "WATCHDOG")) >= 2, "watchdog not petted after the reload"

    sigterm_stops(notify, proc)


def test_watchdog_stops_while_a_worker_is_stuck(ternd_factory, procs, notify):
    """With the test hook, SIGUSR2 blocks worker 0 for STALL_S seconds: its
    heartbeat goes stale after 5 s, WATCHDOG=1 stops, and resumes once the
    worker runs again (systemd would have restarted the service)."""
    proc, cfg, path, port = start_notified(
        ternd_factory, procs, notify, workers=2,
        extra_env=(f"TERND_TEST_STALL_S={STALL_S}",))
    wait_ready(notify, proc)
    if HOOKS_BANNER not in proc.stderr_text():
        proc.check_exit = True
        pytest.skip("ternd built without -Dtest_hooks=true (meson -Dtest_hooks=true)")
    notify.drain(0.6)
    assert notify.since(0, "WATCHDOG"), "no WATCHDOG=1 before the stall"

    t_sig = time.monotonic()
    os.kill(proc.pid, signal.SIGUSR2)
    notify.drain(STALL_S + 3.5)
    pets = [t for t, _ in notify.since(t_sig, "WATCHDOG")]
    assert pets, "no WATCHDOG=1 at all after SIGUSR2"
    gaps = [(b - a, a) for a, b in zip([t_sig] + pets, pets)]
    longest, gap_start = max(gaps)
    gap_end = gap_start + longest
    # Petting goes on until the heartbeat is 5 s old, then stops ...
    assert longest >= 2.0, (
        f"WATCHDOG=1 kept coming while worker 0 was stuck (longest gap {longest:.2f} s)")
    assert 3.0 <= gap_start - t_sig <= 5 + 1.5, (
        f"watchdog stopped {gap_start - t_sig:.1f} s after the stall began (want ~5 s)")
    # ... and resumes within about a tick of the worker running again.
    assert gap_end - t_sig <= STALL_S + 2.5, f"WATCHDOG=1 resumed {gap_end - t_sig:.1f} s in"
    assert pets[-1] >= gap_end and len([t for t in pets if t >= gap_end]) >= 2, \
        "WATCHDOG=1 did not keep coming after the stall"
    log = proc.stderr_text()
    assert "a worker loop stopped responding" in log, log[-3000:]
    assert "every worker responds again" in log, log[-3000:]
    wait_for_binding(("127.0.0.1", port), proc)

    sigterm_stops(notify, proc)


def test_no_watchdog_without_watchdog_usec(ternd_factory, procs, notify):
    """Without WATCHDOG_USEC (WatchdogSec= unset) ternd sends READY=1 but no
    WATCHDOG=1; STATUS lines carry no control characters."""
    proc, cfg, path, port = start_notified(ternd_factory, procs, notify, watchdog_usec=0)
    proc.check_exit = True
    wait_ready(notify, proc)
    notify.drain(1.2)
    assert not [m for _, m in notify.messages if is_watchdog(m)]


def test_watchdog_pid_of_another_process_is_ignored(ternd_factory, procs, notify):
    """WATCHDOG_PID names the process the watchdog is meant for; another
    pid (here: pid 1) means ternd must not pet it."""
    proc, cfg, path, port = start_notified(ternd_factory, procs, notify,
                                           extra_env=("WATCHDOG_PID=1",))
    proc.check_exit = True
    wait_ready(notify, proc)
    notify.drain(1.2)
    assert not [m for _, m in notify.messages if is_watchdog(m)]


def test_status_while_running(ternd_factory, procs, notify):
    """READY=1's STATUS says it serves; the daemon stays up."""
    proc, cfg, path, port = start_notified(ternd_factory, procs, notify)
    proc.check_exit = True
    ready = wait_ready(notify, proc)
    assert "serving" in ready[1]["STATUS"]
    assert wait_until(lambda: proc.alive(), 0.5)
