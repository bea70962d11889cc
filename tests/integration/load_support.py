"""Helpers for the flood and fault scenarios (test_hostile_flood.py,
test_faults.py): ternd's memory sampled from /proc, its log counted, its
metrics read, percentiles, and one legitimate TURN call cycle timed end to
end (401, Allocate, CreatePermission, ChannelBind, echoes through a peer,
Refresh 0)."""

import threading
import time

import turnclient as tc
from metrics_support import http_get, metric_sum, parse_metrics


def rss_kb(pid):
    """VmRSS of pid in kB, or 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's VmRSS every `interval` s in a thread until stop();
    bounded to `max_samples`."""

    def __init__(self, pid, interval=0.05, max_samples=2000):
        self.pid, self.interval, self.max_samples = pid, interval, max_samples
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for _ in range(self.max_samples):
            kb = rss_kb(self.pid)
            if kb:
                self.samples.append(kb)
            if self._stop.wait(self.interval):
                return

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    @property
    def peak_kb(self):
        return max(self.samples, default=0)


def log_lines(proc):
    """Lines ternd has written to stderr so far."""
    return proc.stderr_text().count("\n")


def metrics(url, tries=3):
    """{'name{labels}': value} from ternd's /metrics; raises AssertionError
    (with the reason) if it does not answer 200 in `tries` attempts."""
    for _ in range(tries):
        status, body = http_get(url + "/metrics")
        if status == 200:
            return parse_metrics(body)
        time.sleep(0.2)
    raise AssertionError(f"{url}/metrics did not answer: {status} {body[:200]}")


def metric(samples, name):
    return metric_sum(samples, name)


def percentile(values, p):
    """The p-th percentile (nearest rank) of values; None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def show(capsys, *lines):
    """Prints measured figures so that they reach the test log even under
    `pytest -q` (capture is suspended for the moment), as run.sh runs it."""
    with capsys.disabled():
        print("\n" + "\n".join(lines), flush=True)


def ms(seconds):
    return "n/a" if seconds is None else f"{seconds * 1000:.2f} ms"


def echo_round_trip(c, peer, channel, relay, payload, timeout):
    """ChannelData client -> relay -> peer, the peer answers, ChannelData back.
    Returns the round-trip time in s, or None if either leg was lost."""
    t0 = time.monotonic()
    c.send_channel_data(channel, payload)
    for _ in range(16):           # skip late datagrams of earlier cycles (bounded)
        got = peer.recvfrom(max(0.0, t0 + timeout - time.monotonic()))
        if got is None or got[0] == payload:
            break
    if got is None or got[0] != payload:
        return None
    peer.sendto(payload[::-1], relay)
    back = c.recv_data(timeout)
    if back != ("channel", channel, payload[::-1]):
        return None
    return time.monotonic() - t0


class CycleResult:
    def __init__(self):
        self.ok = False
        self.step = "connect"
        self.error = None
        self.rtts = []
        self.echoes_sent = 0


def legit_cycle(server, secret, user, peer, echoes=3, timeout=2.0, echo_timeout=1.0,
                channel=0x4000, delete=True):
    """One legitimate call: a fresh client 5-tuple doing the 401 dance,
    Allocate, CreatePermission and ChannelBind to peer, `echoes` ChannelData
    round trips, then Refresh 0. ok is True only if every step and every echo
    succeeded."""
    r = CycleResult()
    username, password = tc.rest_credentials(secret, user, 3600)
    c = tc.TurnClient(server, "udp", username, password, timeout=timeout)
    try:
        r.step = "allocate"
        relay = c.allocate().relay
        r.step = "permission"
        c.create_permission(peer.addr)
        r.step = "channel_bind"
        c.channel_bind(channel, peer.addr)
        r.step = "relay"
        for i in range(echoes):
            r.echoes_sent += 1
            rtt = echo_round_trip(c, peer, channel, relay, b"legit-%06d-%s" % (i, user.encode()),
                                  echo_timeout)
            if rtt is not None:
                r.rtts.append(rtt)
        if len(r.rtts) != echoes:
            r.error = f"{echoes - len(r.rtts)} of {echoes} echoes lost"
            return r
        if delete:
            r.step = "refresh"
            c.refresh(0)
        r.ok = True
        r.step = "done"
    except (TimeoutError, OSError, tc.TurnError, tc.StunError) as e:
        r.error = f"{type(e).__name__}: {e}"
    finally:
        c.close()
    return r
