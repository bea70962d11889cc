#!/usr/bin/env python3
"""Revocation latency benchmark (a measurement, not a pass/fail test).

Starts redis-server and ternd (workers=2) on loopback, opens live
allocations with our own TURN client (UDP and TCP clients, a channel bound
to a UDP peer), revokes with an XADD to the stream (the same command
`ternctl revoke` sends) and measures, from outside, when each covered
allocation stops relaying:

  * every covered client sends a small ChannelData to the peer each sweep
    (a sweep goes through all of them, then waits for the next tick);
  * a receiver process records, per allocation, the last sweep that reached
    the peer; the allocation was gone by the end of the next sweep.
    "gone" = end of that next sweep (an upper bound; the resolution is the
    sweep period, printed).

Latency is taken from the client-side time just before the XADD is sent,
and also from the stream entry id's milliseconds (Redis's clock; same host).
When ternd has a metrics endpoint (metrics.listen) its own histogram
tern_revocation_latency_seconds is read before and after each repeat.

Scenarios:
  one-user    N allocations all of the revoked user id (a new id per
              repeat, so N new allocations each time); plus 10 allocations
              of another user that must survive.
  many-users  N allocations of N distinct user ids, opened once; each repeat
              revokes K of them one XADD at a time (100 ms apart).

Usage:
  tests/bench/revocation_latency.py [--quick] [--allocs N] [--repeats R]
      [--ternd PATH] [--ternctl PATH] [--workers W] [--scenario one-user|many-users|both]
--quick: 200 allocations, 2 repeats (CI smoke). Target: p99 < 100 ms.
"""

import argparse
import bisect
import fcntl
import multiprocessing
import os
import re
import select
import socket
import statistics
import struct
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import turnclient as tc  # noqa: E402
from redis_support import (RedisServer, Resp, SimpleSpawner, free_tcp_port,  # noqa: E402
                           revocation_group, wait_log)

SECRET = "bench-secret-0123456789abcdef0123"
REALM = "tern.bench"
CH = 0x4001
KEY = "tern:revocations"
N_PEERS = 8
SWEEP_MIN_S = 0.002


# --- setup -------------------------------------------------------------------------
def free_udp_tcp_port():
    for _ in range(50):
        p = free_tcp_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port")


def relay_block(size):
    import random
    for _ in range(50):
        lo = random.randrange(20000, 30000 - size)
        ok = True
        for p in range(lo, lo + size):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return lo, lo + size - 1
    raise RuntimeError("no free relay block")


def lc(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(lc(x) for x in v) + "]"


def render(cfg):
    out = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.append(f"{k} = {{")
            out += [f"  {ik} = {lc(iv)};" for ik, iv in v.items()]
            out.append("};")
        else:
            out.append(f"{k} = {lc(v)};")
    return "\n".join(out) + "\n"


def ternd_config(tmp, port, relay, redis_port, workers, metrics_port):
    secrets = os.path.join(tmp, "secrets")
    fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SECRET + "\n")
    state = os.path.join(tmp, "state")
    os.makedirs(state, exist_ok=True)
    cfg = {
        "realm": REALM, "workers": workers, "software": "",
        "listen": {"udp": [f"127.0.0.1:{port}"], "tcp": [f"127.0.0.1:{port}"]},
        "relay": {"addresses": ["127.0.0.1"], "port_min": relay[0], "port_max": relay[1]},
        "auth": {"secrets_file": secrets, "hmac": "sha1", "max_ttl": 86400,
                 "nonce_lifetime": 600, "clock_skew": 30},
        "limits": {"allocations_total": 100000, "allocations_per_user": 100000,
                   "permissions_per_allocation": 8, "channels_per_allocation": 8,
                   "default_lifetime": 600, "max_lifetime": 3600,
                   "unauth_rate": 100000, "unauth_burst": 100000,
                   "connections_per_source": 100000},
        "peers": {"allow": ["127.0.0.0/8"], "deny": []},
        "revocation": revocation_group(redis_port, state, stale_after=15, stale_grace=300),
        "log": {"level": "info"},
    }
    if metrics_port:
        cfg["metrics"] = {"listen": f"127.0.0.1:{metrics_port}"}
    return cfg


def check_config(ternd, path):
    import subprocess
    r = subprocess.run([ternd, "--check-config", "-c", path], capture_output=True, timeout=10)
    return r.returncode == 0


# --- ternd's own figure --------------------------------------------------------------
HIST = "tern_revocation_latency_seconds"


def scrape(metrics_port):
    """{le: cumulative count} plus sum and count, summed over label sets; None
    when there is no endpoint or no such histogram."""
    if not metrics_port:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    buckets, total, count, seen = {}, 0.0, 0, False
    for line in text.splitlines():
        if not line.startswith(HIST):
            continue
        seen = True
        m = re.match(HIST + r'_bucket\{(?:.*,)?le="([^"]+)"(?:,.*)?\} (\S+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets[le] = buckets.get(le, 0) + float(m.group(2))
        elif re.match(HIST + r"_sum(\{.*\})? ", line):
            total += float(line.split()[-1])
        elif re.match(HIST + r"_count(\{.*\})? ", line):
            count += int(float(line.split()[-1]))
    return {"buckets": buckets, "sum": total, "count": count} if seen else None


def hist_delta(a, b):
    if a is None or b is None:
        return None
    buckets = {le: b["buckets"].get(le, 0) - a["buckets"].get(le, 0) for le in b["buckets"]}
    return {"buckets": buckets, "sum": b["sum"] - a["sum"], "count": b["count"] - a["count"]}


def hist_quantile(h, q):
    """The upper bound (le) of the bucket holding quantile q, in ms."""
    if not h or h["count"] <= 0:
        return None
    want = q * h["count"]
    for le in sorted(h["buckets"]):
        if h["buckets"][le] >= want:
            return le * 1000.0
    return float("inf")


# --- clients, the peer, the receiver ---------------------------------------------------
class Peers:
    def __init__(self, n=N_PEERS):
        self.socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            self.socks.append(s)

    def addr(self, i):
        return self.socks[i % len(self.socks)].getsockname()

    def drain(self):
        for s in self.socks:
            for _ in range(100000):
                try:
                    s.recv(2048)
                except BlockingIOError:
                    break

    def close(self):
        for s in self.socks:
            s.close()


def receiver(socks, conn):
    """Child process: per client index, the highest sweep that arrived."""
    last = {}
    stop = False
    while True:
        r, _, _ = select.select(socks + [conn], [], [], 0.05)
        for s in r:
            if s is conn:
                conn.recv()
                stop = True
                continue
            for _ in range(4096):
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                if len(data) >= 8:
                    idx, sweep = struct.unpack("!II", data[:8])
                    if sweep > last.get(idx, -1):
                        last[idx] = sweep
        if stop and not r:
            break
        if stop:
            # one more pass to drain, then out
            stop_deadline = time.monotonic() + 0.05
            while time.monotonic() < stop_deadline:
                rr, _, _ = select.select(socks, [], [], 0.01)
                for s in rr:
                    for _ in range(4096):
                        try:
                            data = s.recv(2048)
                        except BlockingIOError:
                            break
                        if len(data) >= 8:
                            idx, sweep = struct.unpack("!II", data[:8])
                            last[idx] = max(last.get(idx, -1), sweep)
            break
    conn.send(last)
    conn.close()


def open_allocation(server, user, transport, peers, i, ttl=3600):
    username, password = tc.rest_credentials(SECRET, user, ttl)
    c = tc.TurnClient(server, transport, username, password, timeout=3.0)
    c.allocate()
    c.channel_bind(CH, peers.addr(i))
    # Our client waits with select(), which takes fds below 1024 only: park
    # the socket on a high fd (the sweeps only send on it).
    old = c.t.sock
    c.t.sock = socket.socket(fileno=fcntl.fcntl(old.fileno(), fcntl.F_DUPFD_CLOEXEC, 1100))
    old.close()
    return c


def open_many(server, specs, peers, base=0):
    """specs: [(user, transport)]; returns clients in the same order."""
    out = []
    for i, (user, transport) in enumerate(specs):
        try:
            out.append(open_allocation(server, user, transport, peers, base + i))
        except (OSError, tc.TurnError, tc.StunError) as e:
            for c in out:
                c.close()
            raise RuntimeError(f"allocation {i + 1} of {len(specs)} ({transport}) failed: "
                               f"{e!r}") from e
    return out


def measure(clients, indices, redis, victims_by_xadd, window_s, pre_s=0.1, gap_s=0.0):
    """Sweeps `clients` (index -> client) sending ChannelData; does the XADDs
    (one per victim user, gap_s apart) after pre_s; returns per client index
    (latency from the XADD send in ms, latency from the stream id ms) and the
    sweep period statistics."""
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=receiver, args=(PEERS.socks, child), daemon=True)
    proc.start()
    # 8-byte payloads: ChannelData needs no padding over TCP either
    send = {i: (clients[i].t.sock, None, struct.pack("!I", i)) for i in indices}
    sweep_end = []
    xadds = []  # (t_send_mono, id_ms, user)
    pending = list(victims_by_xadd)
    t_start = time.monotonic()
    t_next_xadd = t_start + pre_s
    deadline = None
    sweep = 0
    wall_minus_mono = time.time() - time.monotonic()
    with redis.client() as rc:
        while True:
            t0 = time.monotonic()
            for i in indices:
                sock, pad, idx = send[i]
                payload = idx + struct.pack("!I", sweep)
                msg = struct.pack("!HH", CH, len(payload)) + payload
                try:
                    sock.send(msg)
                except OSError:
                    pass
            sweep_end.append(time.monotonic())
            sweep += 1
            now = time.monotonic()
            if pending and now >= t_next_xadd:
                user = pending.pop(0)
                t_send = time.monotonic()
                eid = rc.xadd(KEY, "user", user)
                xadds.append((t_send, int(eid.split("-")[0]), user))
                t_next_xadd = time.monotonic() + gap_s
                if not pending:
                    deadline = time.monotonic() + window_s
            if deadline is not None and now >= deadline:
                break
            # ~10 us of sweep period per target keeps the packet rate within
            # what ternd and the receiver take on a small box (no loss)
            left = max(SWEEP_MIN_S, 10e-6 * len(indices)) - (time.monotonic() - t0)
            if left > 0:
                time.sleep(left)
    time.sleep(0.05)
    parent.send("stop")
    last = parent.recv() if parent.poll(10) else {}
    proc.join(5)
    periods = [b - a for a, b in zip(sweep_end, sweep_end[1:])]
    return last, sweep_end, xadds, periods, wall_minus_mono


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q * (len(v) - 1)))))
    return v[k]


# --- scenarios ---------------------------------------------------------------------
def run_one_user(args, server, redis, metrics_port, results):
    n = args.allocs
    keepers = open_many(server, [("bench-keeper", "udp" if k % 2 else "tcp") for k in range(10)],
                        PEERS, base=n)
    for rep in range(args.repeats):
        user = f"bench-one-{rep}-{os.getpid()}"
        t0 = time.monotonic()
        specs = [(user, "tcp" if k % 5 == 0 else "udp") for k in range(n)]
        clients = open_many(server, specs, PEERS)
        opened = time.monotonic() - t0
        PEERS.drain()
        allc = {i: c for i, c in enumerate(clients)}
        allc.update({n + k: c for k, c in enumerate(keepers)})
        before = scrape(metrics_port)
        last, sweep_end, xadds, periods, w2m = measure(allc, list(allc), redis, [user],
                                                       args.window)
        after = scrape(metrics_port)
        record(results, "one-user", rep, range(n), last, sweep_end, xadds, periods, w2m,
               hist_delta(before, after), opened, n)
        alive_keepers = sum(1 for k in range(10) if last.get(n + k, -1) >= len(sweep_end) - 3)
        results[-1]["keepers_alive"] = f"{alive_keepers}/10"
        for c in clients:
            c.close()
    for c in keepers:
        c.close()


def run_many_users(args, server, redis, metrics_port, results):
    n = args.allocs
    k = args.per_repeat
    t0 = time.monotonic()
    users = [f"bench-many-{j}-{os.getpid()}" for j in range(n)]
    clients = open_many(server, [(u, "tcp" if j % 5 == 0 else "udp")
                                 for j, u in enumerate(users)], PEERS)
    opened = time.monotonic() - t0
    for rep in range(args.repeats):
        victims = list(range(rep * k, rep * k + k))
        controls = list(range(n - 10, n))
        PEERS.drain()
        allc = {i: clients[i] for i in victims + controls}
        before = scrape(metrics_port)
        last, sweep_end, xadds, periods, w2m = measure(allc, list(allc), redis,
                                                       [users[i] for i in victims],
                                                       args.window, gap_s=0.1)
        after = scrape(metrics_port)
        # each victim's latency is from its own XADD
        per_victim = {i: xadds[j] for j, i in enumerate(victims)}
        record(results, "many-users", rep, victims, last, sweep_end, xadds, periods, w2m,
               hist_delta(before, after), opened if rep == 0 else None, n,
               per_victim=per_victim)
        alive = sum(1 for c in controls if last.get(c, -1) >= len(sweep_end) - 3)
        results[-1]["keepers_alive"] = f"{alive}/{len(controls)}"
    for c in clients:
        c.close()


def record(results, scenario, rep, victims, last, sweep_end, xadds, periods, w2m, hist, opened,
           live, per_victim=None):
    lat_send, lat_id, missing = [], [], 0
    for i in victims:
        t_send, id_ms, _ = per_victim[i] if per_victim else xadds[0]
        k = last.get(i)
        if k is None:
            missing += 1
            continue
        if k + 1 >= len(sweep_end):
            missing += 1  # still relaying at the end of the window
            continue
        # Gone by the end of the first sweep after its last packet that
        # also ended after the XADD (packets queued in ternd when it tore
        # the allocation down are dropped with it).
        j = max(k + 1, bisect.bisect_left(sweep_end, t_send))
        if j >= len(sweep_end):
            missing += 1
            continue
        gone = sweep_end[j]
        lat_send.append((gone - t_send) * 1000.0)
        lat_id.append(((gone + w2m) * 1000.0) - id_ms)
    results.append({
        "scenario": scenario, "repeat": rep, "live": live, "affected": len(list(victims)),
        "measured": len(lat_send), "not_gone": missing, "lat_send": lat_send, "lat_id": lat_id,
        "sweep_ms": statistics.median(periods) * 1000.0 if periods else float("nan"),
        "hist": hist, "opened_s": opened,
    })


def fmt(x):
    return "-" if x is None else ("inf" if x == float("inf") else f"{x:.1f}")


def print_table(results):
    print()
    hdr = ("scenario", "rep", "live", "affected", "gone", "p50 ms", "p99 ms", "max ms",
           "p99 (id) ms", "sweep ms", "ternd n", "ternd mean", "ternd p99<=", "others")
    print(" | ".join(f"{h:>11}" for h in hdr))
    print("-" * (14 * len(hdr)))
    for r in results:
        h = r["hist"]
        mean = h["sum"] / h["count"] * 1000.0 if h and h["count"] else None
        print(" | ".join(f"{str(x):>11}" for x in (
            r["scenario"], r["repeat"], r["live"], r["affected"], r["measured"],
            fmt(pct(r["lat_send"], 0.5)), fmt(pct(r["lat_send"], 0.99)),
            fmt(max(r["lat_send"]) if r["lat_send"] else None), fmt(pct(r["lat_id"], 0.99)),
            fmt(r["sweep_ms"]), h["count"] if h else "n/a", fmt(mean),
            fmt(hist_quantile(h, 0.99)) if h else "n/a", r.get("keepers_alive", "-"))))
    print()
    for scen in sorted({r["scenario"] for r in results}):
        rs = [r for r in results if r["scenario"] == scen]
        allv = [v for r in rs for v in r["lat_send"]]
        ids = [v for r in rs for v in r["lat_id"]]
        notgone = sum(r["not_gone"] for r in rs)
        verdict = "meets" if allv and pct(allv, 0.99) < 100 else "MISSES"
        print(f"{scen}: {len(allv)} allocations over {len(rs)} repeats: from XADD send "
              f"p50 {fmt(pct(allv, 0.5))} ms, p99 {fmt(pct(allv, 0.99))} ms, "
              f"max {fmt(max(allv) if allv else None)} ms; from the stream id p50 "
              f"{fmt(pct(ids, 0.5))} ms, p99 {fmt(pct(ids, 0.99))} ms; not gone: {notgone}; "
              f"{verdict} the p99 < 100 ms target")
    opened = [r for r in results if r["opened_s"]]
    for r in opened:
        print(f"{r['scenario']} rep {r['repeat']}: opened {r['live']} allocations in "
              f"{r['opened_s']:.1f} s")


PEERS = None


def main():
    global PEERS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 allocations, 2 repeats")
    ap.add_argument("--allocs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--per-repeat", type=int, default=20,
                    help="many-users: user ids revoked per repeat")
    ap.add_argument("--window", type=float, default=1.0,
                    help="seconds to keep sweeping after the (last) XADD")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenario", choices=("one-user", "many-users", "both"), default="both")
    ap.add_argument("--ternd", default=os.environ.get(
        "TERND", os.path.join(REPO, "build-rv", "relay", "io", "ternd")))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.quick:
        args.allocs, args.repeats = 200, 2
    args.repeats = max(1, args.repeats)
    if args.scenario in ("many-users", "both") and args.per_repeat * args.repeats > args.allocs - 10:
        args.per_repeat = max(1, (args.allocs - 10) // args.repeats)
    multiprocessing.set_start_method("fork")
    tmp = tempfile.mkdtemp(prefix="tern-revbench-")
    spawn = SimpleSpawner(tmp)
    results = []
    ternd = None
    try:
        redis = RedisServer(spawn, os.path.join(tmp, "redis")).start()
        port = free_udp_tcp_port()
        relay = relay_block(args.allocs + 60)
        metrics_port = free_tcp_port()
        cfg = ternd_config(tmp, port, relay, redis.port, args.workers, metrics_port)
        path = os.path.join(tmp, "ternd.conf")
        with open(path, "w") as f:
            f.write(render(cfg))
        if not check_config(args.ternd, path):
            del cfg["metrics"]
            metrics_port = None
            with open(path, "w") as f:
                f.write(render(cfg))
        ternd = spawn("ternd", [args.ternd, "-c", path])
        if not wait_log(ternd, "revocation feed is fresh", 10):
            raise RuntimeError("ternd's feed never became fresh:\n" + ternd.stderr_text())
        if metrics_port and scrape(metrics_port) is None:
            print(f"ternd metrics endpoint has no {HIST}; ternd's own figure skipped")
            metrics_port = None
        PEERS = Peers()
        server = ("127.0.0.1", port)
        print(f"ternd {args.ternd} workers={args.workers}; redis-server on {redis.port}; "
              f"{args.allocs} allocations (1 in 5 over TCP), {args.repeats} repeats; "
              f"ternd metrics: {'yes' if metrics_port else 'not present'}")
        if args.scenario in ("one-user", "both"):
            run_one_user(args, server, redis, metrics_port, results)
        if args.scenario in ("many-users", "both"):
            run_many_users(args, server, redis, metrics_port, results)
        print_table(results)
        if not ternd.alive():
            print("ternd exited during the benchmark!")
            return 1
        return 0
    finally:
        if PEERS:
            PEERS.close()
        rc = ternd.stop() if ternd else None
        spawn.stop_all()
        if ternd is not None and rc not in (0, None):
            print(f"ternd exited with {rc}:\n{ternd.stderr_text()[-3000:]}")
        if not args.keep:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"work directory: {tmp}")


if __name__ == "__main__":
    sys.exit(main())
