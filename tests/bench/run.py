#!/usr/bin/python3
"""Tern's benchmark: ternd, coturn (Debian's turnserver) and a do-nothing UDP
forwarder, measured alternately in one run on loopback by tests/bench/loadgen.

    tests/bench/run.py [--quick] [--callgrind] [--build DIR] [--repeats N]
                       [--workers N] [--only GROUPS] [--out FILE.jsonl]

For each repeat, each server in turn (forwarder, ternd, coturn) is started
fresh for each group of measurements, measured, and stopped by pid:
  * server CPU time per relayed packet (on-CPU time of all its threads from
    /proc/PID/task/*/schedstat, in ns, before and after the traffic, divided
    by packets relayed in both directions; utime+stime from /proc/PID/stat,
    10 ms ticks, is recorded beside it in the JSON),
    ChannelData 160 B and 1200 B at a fixed offered load, over UDP, and 160 B
    over TCP and TLS;
  * the highest relayed packet rate with <= 0.1 % loss (UDP, 160 B);
  * round trip at light load, p50/p99/p99.9, and the part the server adds:
    the server's figure minus the forwarder's (the forwarder's RTT is the
    baseline: the same two kernel hops, client -> relay -> peer and back);
  * full allocations per second (401, Allocate, CreatePermission, ChannelBind),
    the load generator on a CPU the server is not pinned to (so that it
    never takes the server's CPU), and the server's CPU per allocation;
  * media analysis (ternd only): CPU per relayed packet for RTP payloads
    (loadgen --rtp: per-allocation SSRC, sequence and timestamp) with
    media.policy = "off" and "observe", and for payloads the analysis does
    not look into (--no-media) under "observe"; reported as the ratios
    observe/off and RTP/non-media (medians of per-repeat ratios);
  * memory per allocation at 1,000 and 10,000 allocations: the server's RSS
    delta plus the kernel's (slab delta from /proc/meminfo and UDP socket
    memory from /proc/net/sockstat), measured after the client's own sockets
    are already open, divided by allocations;
  * with --callgrind (included in the full run): ternd under
    valgrind --tool=callgrind, instructions per relayed packet (total Ir
    minus an idle run's Ir, over packets relayed), for the usual payloads,
    for RTP payloads and for non-media payloads: the difference of the last
    two is the media analysis's instructions per packet.
Medians and min/max over the repeats are printed as a table and written as
JSON lines. --quick (what CI runs) takes about a minute with smaller counts
and one repeat; it makes no timing assertion and exits 0 when everything ran.
"""

import argparse
import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECRET = "bench-secret-0123456789abcdef-0123"
REALM = "tern.bench"
RELAY_LO, RELAY_HI = 5000, 17999          # below the ephemeral range (32768-60999)
LISTEN_LO, LISTEN_HI = 3500, 4900
PEER_BASE_LO, PEER_BASE_HI = 18000, 19900  # forwarder peers: base + k
STOP_GRACE = 5.0
TICK = os.sysconf("SC_CLK_TCK")

PROCS = []          # every process started, stopped by pid at exit


# --- processes -----------------------------------------------------------------
def stop(p, grace=STOP_GRACE):
    if p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(grace)
        except ProcessLookupError:
            pass
    if p in PROCS:
        PROCS.remove(p)


def stop_all():
    for p in list(reversed(PROCS)):
        stop(p)


def on_signal(sig, frame):
    stop_all()
    sys.exit(128 + sig)


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# Where the processes run (--pin): left to the scheduler, a server and the
# load generator sometimes share a CPU and sometimes not, and on this VM a
# packet's cost then flips between ~3 and ~11 us (a wake-up across CPUs
# costs the hypervisor an interrupt): one server's repeats differed 3x.
# "same" (the default) puts every process on one CPU, identically for the
# three servers; "split" gives the servers one CPU and the load generator
# the other; "none" leaves it to the scheduler. RESULTS.md compares them.
SERVER_CPUS, CLIENT_CPUS = None, None


def set_pinning(mode):
    global SERVER_CPUS, CLIENT_CPUS
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if mode == "none" or len(cpus) < 2:
        SERVER_CPUS = CLIENT_CPUS = None
    elif mode == "same":
        SERVER_CPUS = CLIENT_CPUS = {cpus[0]}
    else:
        SERVER_CPUS, CLIENT_CPUS = {cpus[1]}, {cpus[0]}


def spawn(argv, stdout=subprocess.DEVNULL, stderr=None, cpus=None):
    def setup():
        raise_nofile()
        if cpus:
            os.sched_setaffinity(0, cpus)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                         stderr=stderr or subprocess.DEVNULL, preexec_fn=setup)
    PROCS.append(p)
    return p


# --- ports ---------------------------------------------------------------------------
def bindable(port, kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM)):
    for k in kinds:
        s = socket.socket(socket.AF_INET, k)
        try:
            if k == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_ports(n, lo=LISTEN_LO, hi=LISTEN_HI, tries=200):
    """n consecutive ports free for UDP and TCP (coturn also takes port+1)."""
    for _ in range(tries):
        p = random.randrange(lo, hi - n)
        if all(bindable(p + i) for i in range(n)):
            return p
    raise RuntimeError("no free listening ports")


def relay_block_ok():
    busy = [p for p in range(RELAY_LO, RELAY_HI + 1)
            if not bindable(p, (socket.SOCK_DGRAM,))]
    return busy


# --- /proc ---------------------------------------------------------------------------
def cpu_user_sys(pid):
    """(utime, stime) of all threads, in clock ticks (10 ms) -> seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds_stat(pid):
    """utime + stime of all threads, in seconds."""
    return sum(cpu_user_sys(pid))


def cpu_seconds(pid):
    """On-CPU time of all threads from /proc/PID/task/*/schedstat, in ns:
    the same quantity as utime + stime without the 10 ms tick granularity,
    which a few seconds of traffic at a light load cannot afford. Falls back
    to /proc/PID/stat where schedstat is missing."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return cpu_seconds_stat(pid)
    return total / 1e9


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sockstat_udp_pages():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("UDP:"):
                m = re.search(r"mem (\d+)", line)
                return int(m.group(1)) if m else 0
    return 0


def mem_sample(pid):
    return {"rss": rss_kib(pid), "slab": meminfo_kib("Slab"),
            "udp_pages": sockstat_udp_pages(), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


# --- STUN readiness probe --------------------------------------------------------------
def wait_binding(port, proc, tries=150, interval=0.1):
    req = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))
    for _ in range(tries):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(interval)
        try:
            s.sendto(req, ("127.0.0.1", port))
            if s.recv(2048)[:2] == b"\x01\x01":
                return
        except OSError:
            time.sleep(interval / 2)
        finally:
            s.close()
    raise RuntimeError(f"no Binding answer on 127.0.0.1:{port}")


# --- servers -----------------------------------------------------------------------------
class Server:
    """One running server: kind 'tern', 'coturn' or 'fwd'."""

    def __init__(self, kind, proc, port, tls_port=None, peer_base=None):
        self.kind, self.proc, self.port = kind, proc, port
        self.tls_port, self.peer_base = tls_port, peer_base

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        stop(self.proc)


def ternd_config(env, port, tls_port, workers, metrics="", media=None):
    tls = ""
    if tls_port:
        tls = (f'tls = {{ listen = [ "127.0.0.1:{tls_port}" ]; '
               f'certificate = "{env.cert}"; private_key = "{env.key}"; }};\n')
    return (f'realm = "{REALM}";\nworkers = {workers};\nsoftware = "";\n'
            f'listen = {{ udp = [ "127.0.0.1:{port}" ]; tcp = [ "127.0.0.1:{port}" ]; }};\n'
            f'relay = {{ addresses = [ "127.0.0.1" ]; port_min = {RELAY_LO}; '
            f'port_max = {RELAY_HI}; }};\n'
            f'auth = {{ secrets_file = "{env.secret}"; hmac = "sha1"; }};\n'
            # The defaults protect a public relay; the benchmark's clients all
            # come from 127.0.0.1 under one user prefix.
            'limits = { allocations_total = 100000; allocations_per_user = 100000; '
            'unauth_rate = 100000; unauth_burst = 100000; unauth_total_rate = 1000000; '
            'connections_per_source = 100000; '
            'max_lifetime = 3600; };\n'
            'peers = { allow = [ "127.0.0.0/8" ]; };\n'
            'log = { level = "warning"; };\n'
            f'metrics = {{ listen = "{metrics}"; }};\n' +
            (f'media = {{ policy = "{media}"; }};\n' if media else "") + tls)


def start_server(env, kind, tls=False, valgrind=None, media=None):
    if kind == "fwd":
        port = free_ports(1)
        base = random.randrange(PEER_BASE_LO, PEER_BASE_HI - 64)
        p = spawn([env.forwarder, "--listen", f"127.0.0.1:{port}", "--peer-port-base", str(base)],
                  stdout=subprocess.PIPE, cpus=SERVER_CPUS)
        line = p.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError("forwarder did not start")
        return Server("fwd", p, port, peer_base=base)
    port = free_ports(4)
    tls_port = port + 2 if tls else None
    if kind == "tern":
        path = os.path.join(env.tmp, f"ternd-{port}.conf")
        with open(path, "w") as f:
            f.write(ternd_config(env, port, tls_port, env.workers, media=media))
        argv = (valgrind or []) + [env.ternd, "-c", path]
        err = open(os.path.join(env.tmp, f"ternd-{port}.stderr"), "wb")
        p = spawn(argv, stderr=err, cpus=SERVER_CPUS)
    else:
        argv = ["turnserver", "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
                "--relay-ip=127.0.0.1", f"--min-port={RELAY_LO}", f"--max-port={RELAY_HI}",
                f"--relay-threads={env.workers}", "--use-auth-secret",
                f"--static-auth-secret={SECRET}", f"--realm={REALM}",
                "--allow-loopback-peers", "--no-cli", "--no-multicast-peers", "--no-dtls",
                "--no-software-attribute", "--log-file=stdout",
                f"--pidfile={env.tmp}/turnserver-{port}.pid", f"--userdb={env.tmp}/turndb-{port}",
                f"--alt-listening-port={port + 1}", f"--alt-tls-listening-port={port + 3}"]
        if tls:
            argv += [f"--tls-listening-port={tls_port}", f"--cert={env.cert}",
                     f"--pkey={env.key}"]
        else:
            argv += ["--no-tls"]
        p = spawn(argv, cpus=SERVER_CPUS)
    wait_binding(port, p, tries=600 if valgrind else 150)
    return Server(kind, p, port, tls_port=tls_port)


# --- loadgen -------------------------------------------------------------------------------
def loadgen(env, srv, args, on_event=None, timeout=300, cpus=None):
    """Runs loadgen against srv (on `cpus`, default the --pin placement);
    on_event(name) is called as event lines arrive (to sample the server).
    Returns the JSON result lines."""
    argv = [env.loadgen, "--server", f"127.0.0.1:{srv.port}"]
    if srv.kind == "fwd":
        argv += ["--kind", "fwd", "--peer-port-base", str(srv.peer_base)]
    else:
        argv += ["--secret-file", env.secret]
    argv += [str(a) for a in args]
    err = open(os.path.join(env.tmp, "loadgen.stderr"), "ab")
    p = spawn(argv, stdout=subprocess.PIPE, stderr=err, cpus=cpus or CLIENT_CPUS)
    out = []
    deadline = time.monotonic() + timeout
    try:
        for raw in p.stdout:
            line = json.loads(raw)
            if "event" in line:
                if on_event:
                    on_event(line["event"])
            else:
                out.append(line)
            if time.monotonic() > deadline:
                raise RuntimeError("loadgen ran past its time limit")
        p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        stop(p)
        err.close()
    return out


def find(lines, mode):
    for x in lines:
        if x.get("mode") == mode:
            return x
    raise RuntimeError(f"loadgen printed no '{mode}' line: {lines}")


# --- measurements --------------------------------------------------------------------------
QUICK = dict(repeats=1, data_allocs=32, cpu_rate=10000, cpu_secs=2, lat_rate=500, lat_secs=2,
             ramp_start=20000, ramp_step=0.5, alloc_n=1000, mem=[1000], stream_rate=5000,
             stream_secs=2, cg_rate=300, cg_secs=5)
FULL = dict(repeats=3, data_allocs=64, cpu_rate=20000, cpu_secs=5, lat_rate=500, lat_secs=5,
            ramp_start=20000, ramp_step=1.0, alloc_n=5000, mem=[1000, 10000],
            stream_rate=10000, stream_secs=4, cg_rate=500, cg_secs=20)
PEERS = 16


def m_traffic(env, srv, p, transport, payload, rate, secs, allocs, port=None, extra=()):
    """Fixed offered rate: server CPU per relayed packet, loss, latency."""
    s = {}

    def ev(name):
        if name == "traffic_start":
            s["c0"], s["t0"] = cpu_seconds(srv.pid), time.monotonic()
            s["s0"] = cpu_user_sys(srv.pid)
        elif name == "traffic_end":
            s["c1"], s["t1"] = cpu_seconds(srv.pid), time.monotonic()
            s["s1"] = cpu_user_sys(srv.pid)

    target = srv if port is None else Server(srv.kind, srv.proc, port, peer_base=srv.peer_base)
    lines = loadgen(env, target, ["--transport", transport, "--allocs", allocs, "--peers", PEERS,
                                  "--payload", payload, "--mode", "rate", "--rate", rate,
                                  "--duration", secs, *extra], ev)
    r = find(lines, "rate")
    cpu = s["c1"] - s["c0"]
    relayed = max(r["relayed"], 1)
    user, system = (b - a for a, b in zip(s["s0"], s["s1"]))
    # The user/kernel split shows where the floor is: the kernel's share
    # (syscalls, loopback delivery) is what no relay in user space avoids.
    return {"cpu_us_per_pkt": cpu / relayed * 1e6,
            "cpu_us_per_pkt_stat": (user + system) / relayed * 1e6,
            "user_us_per_pkt": user / relayed * 1e6, "sys_us_per_pkt": system / relayed * 1e6,
            "server_cpu_share": cpu / (s["t1"] - s["t0"]),
            "client_cpu_share": r["client_cpu_share"], "loss": r["loss"],
            "relayed_pps": r["relayed_pps"], "rtt_p50": r["rtt_us"]["p50"],
            "rtt_p99": r["rtt_us"]["p99"], "rtt_p999": r["rtt_us"]["p999"]}


def m_ramp(env, srv, p):
    lines = loadgen(env, srv, ["--allocs", p["data_allocs"], "--peers", PEERS, "--payload", 160,
                               "--mode", "ramp", "--ramp-start", p["ramp_start"],
                               "--ramp-factor", 1.25, "--step", p["ramp_step"]], timeout=600)
    r = find(lines, "ramp")
    # The load generator's own CPU share at the best step: near 1.0 would
    # mean the client, not the server, set the ceiling.
    share = [x["client_cpu_share"] for x in lines if x.get("mode") == "ramp_step"
             and x["offered_pps"] == r["max_offered_pps"] and x["loss"] <= 0.001]
    return {"max_pps": r["max_relayed_pps"], "ramp_client_limited": r["client_limited"],
            "ramp_client_cpu_share": max(share) if share else None}


def other_cpus():
    """CPUs the servers are not pinned to (None when there is no such CPU)."""
    if not SERVER_CPUS or not hasattr(os, "sched_getaffinity"):
        return None
    rest = set(os.sched_getaffinity(0)) - SERVER_CPUS
    return rest or None


def m_alloc(env, srv, n):
    """Full allocations per second, and the server CPU each one took. The
    load generator runs on a CPU of its own here, whatever --pin says: on
    the server's CPU its own ~30 us per allocation (HMAC, parsing) bounded
    ternd's rate, and the issue asks that the client never be the
    bottleneck. 64 allocations in flight keep cross-CPU wake-ups few
    (each still costs the sending server an interrupt on this VM: perf puts
    ~24 % of ternd's time there; a busy-polling client avoided it but, on
    the sibling vCPU, slowed ternd more). The CPU per allocation
    (allocations per server CPU-second) is the server's own capacity
    whatever the placement."""
    c0 = cpu_seconds(srv.pid)
    lines = loadgen(env, srv, ["--allocs", n, "--peers", PEERS, "--window", 64, "--mode", "alloc"],
                    cpus=other_cpus())
    cpu = cpu_seconds(srv.pid) - c0
    r = find(lines, "setup")
    ok = max(n - r["failed"], 1)
    return {"allocs_per_s": r["allocs_per_s"], "alloc_failed": r["failed"],
            "alloc_cpu_us": cpu / ok * 1e6, "allocs_per_cpu_s": ok / cpu if cpu > 0 else None}


def m_memory(env, srv, n):
    s = {}

    def ev(name):
        if name == "sockets_open":
            time.sleep(0.3)
            s["m0"] = mem_sample(srv.pid)
        elif name == "allocated":
            time.sleep(0.5)
            s["m1"] = mem_sample(srv.pid)

    lines = loadgen(env, srv, ["--allocs", n, "--peers", PEERS, "--window", 64, "--mode", "hold",
                               "--duration", 1], ev, timeout=120 + n / 50)
    r = find(lines, "setup")
    if r["ok"] != n:
        raise RuntimeError(f"{srv.kind}: only {r['ok']} of {n} allocations")
    m0, m1 = s["m0"], s["m1"]
    rss = (m1["rss"] - m0["rss"]) * 1024 / n
    kern = ((m1["slab"] - m0["slab"]) * 1024 + (m1["udp_pages"] - m0["udp_pages"]) * 4096) / n
    return {f"mem{n}_bytes": rss + kern, f"mem{n}_rss": rss, f"mem{n}_kernel": kern,
            f"mem{n}_fds": (m1["fds"] - m0["fds"]) / n}


FAILURES = []
ONLY = None         # --only: the measurement groups to run (None: all)


def guarded(kind, what, fn, log):
    """Runs one measurement; a failure is reported and counted, and the
    benchmark goes on with the next one."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 -- any failure: report, go on
        msg = f"{kind} {what}: {type(e).__name__}: {e}"
        FAILURES.append(msg)
        print(f"run.py: FAILED {msg}", file=sys.stderr, flush=True)
        log({"server": kind, "measure": what, "error": msg})


def run_group(env, kind, p, results, log):
    for what, fn in group_steps(env, kind, p, results, log):
        guarded(kind, what, fn, log)


def group_steps(env, kind, p, results, log):
    """One repeat of every measurement for one server, as (name, callable);
    a fresh server for each group so one measurement's leftovers do not
    colour the next."""
    def record(name, d):
        for k, v in d.items():
            results.setdefault((kind, f"{name}.{k}" if name else k), []).append(v)
        log({"server": kind, "measure": name, **d})

    def udp_group():
        srv = start_server(env, kind)
        try:
            # Warm-up, discarded: first-touch page faults and lazy set-up
            # belong to no packet size in particular.
            m_traffic(env, srv, p, "udp", 160, p["cpu_rate"], 1, p["data_allocs"])
            for payload in (160, 1200):
                record(f"udp{payload}", m_traffic(env, srv, p, "udp", payload, p["cpu_rate"],
                                                  p["cpu_secs"], p["data_allocs"]))
            record("light", m_traffic(env, srv, p, "udp", 160, p["lat_rate"], p["lat_secs"], 16))
            record("", m_ramp(env, srv, p))
        finally:
            srv.stop()

    def fresh(what):
        def run():
            srv = start_server(env, kind)
            try:
                if what == "alloc":
                    record("", m_alloc(env, srv, p["alloc_n"]))
                else:
                    record("", m_memory(env, srv, int(what[3:])))
            finally:
                srv.stop()
        return run

    def stream_group():
        srv = start_server(env, kind, tls=True)
        try:
            for tr, port in (("tcp", srv.port), ("tls", srv.tls_port)):
                record(tr, m_traffic(env, srv, p, tr, 160, p["stream_rate"], p["stream_secs"],
                                     p["data_allocs"], port=port))
                record(f"{tr}_light", m_traffic(env, srv, p, tr, 160, p["lat_rate"],
                                                p["lat_secs"], 16, port=port))
        finally:
            srv.stop()

    def media_group():
        # RTP payloads with media.policy off (RTP figures only) and observe
        # (the flow policy too), and non-media payloads under observe (the
        # first-byte test alone). A fresh ternd per policy, warmed up first.
        got = {}
        for policy, runs in (("off", [("media_off", "--rtp")]),
                             ("observe", [("media_observe", "--rtp"),
                                          ("media_none", "--no-media")])):
            srv = start_server(env, kind, media=policy)
            try:
                m_traffic(env, srv, p, "udp", 160, p["cpu_rate"], 1, p["data_allocs"],
                          extra=["--rtp"])
                for what, flag in runs:
                    got[what] = m_traffic(env, srv, p, "udp", 160, p["cpu_rate"],
                                          p["cpu_secs"], p["data_allocs"], extra=[flag])
                    record(what, got[what])
            finally:
                srv.stop()
        cpu = {k: v["cpu_us_per_pkt"] for k, v in got.items()}
        record("media", {"observe_over_off": cpu["media_observe"] / cpu["media_off"],
                         "observe_over_none": cpu["media_observe"] / cpu["media_none"]})

    steps = [("udp", udp_group)]
    if kind == "tern":
        steps.append(("media", media_group))
    if kind != "fwd":
        steps += [(w, fresh(w)) for w in ["alloc"] + [f"mem{n}" for n in p["mem"]]]
        steps.append(("stream", stream_group))
    if ONLY:
        steps = [(w, fn) for w, fn in steps if w in ONLY or (w.startswith("mem") and "mem" in ONLY)]
    return steps


# --- callgrind -----------------------------------------------------------------------------
def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def callgrind_run(env, rate, secs, extra=(), tag=""):
    out = os.path.join(env.tmp, f"callgrind.{rate}{tag}.out")
    vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    srv = start_server(env, "tern", valgrind=vg)

    def ev(name):
        # Count only the traffic period: zero the counters when it starts,
        # dump them when it ends (startup and allocations are left out).
        flag = {"traffic_start": "-z", "traffic_end": "-d"}.get(name)
        if flag:
            subprocess.run(["callgrind_control", flag, str(srv.pid)], capture_output=True,
                           timeout=60)

    try:
        lines = loadgen(env, srv, ["--allocs", 16, "--peers", PEERS, "--payload", 160,
                                   "--mode", "rate", "--rate", rate, "--duration", secs,
                                   *extra], ev)
        r = find(lines, "rate")
    finally:
        stop(srv.proc, grace=60)
    parts = sorted(f for f in os.listdir(env.tmp)
                   if f.startswith(os.path.basename(out) + ".") and f[-1].isdigit())
    dump = os.path.join(env.tmp, parts[0]) if parts else out
    return callgrind_total(dump), r["relayed"], dump


def m_callgrind(env, p, log):
    idle_ir, _, _ = callgrind_run(env, 0, p["cg_secs"])
    if not shutil.which("callgrind_control"):
        raise RuntimeError("callgrind_control missing")
    load_ir, relayed, out = callgrind_run(env, p["cg_rate"], p["cg_secs"])
    per = (load_ir - idle_ir) / max(relayed, 1)
    # Media analysis on (RTP under media.policy observe, the default: the
    # first-byte test, the flow policy, the RTP figures) and off in effect
    # (payloads the first-byte test sends no further).
    rtp_ir, rtp_relayed, _ = callgrind_run(env, p["cg_rate"], p["cg_secs"], ["--rtp"], "rtp")
    none_ir, none_relayed, _ = callgrind_run(env, p["cg_rate"], p["cg_secs"], ["--no-media"],
                                             "none")
    per_rtp = (rtp_ir - idle_ir) / max(rtp_relayed, 1)
    per_none = (none_ir - idle_ir) / max(none_relayed, 1)
    top = ""
    if shutil.which("callgrind_annotate"):
        r = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no",
                            "--threshold=100", out], capture_output=True, text=True, timeout=120)
        # After a zeroing, the thread's outer frames show as 100 %: skip them.
        rows = [x for x in r.stdout.splitlines()
                if re.match(r"\s*[\d,]+ \(", x) and "100.0%" not in x]
        top = "\n".join(rows[:16])
    d = {"ir_per_pkt": per, "ir_idle": idle_ir, "ir_load": load_ir, "relayed": relayed,
         "ir_per_pkt_rtp": per_rtp, "ir_per_pkt_nomedia": per_none,
         "media_ir_per_pkt": per_rtp - per_none}
    log({"server": "tern", "measure": "callgrind", **d, "top": top})
    return d, top


# --- report --------------------------------------------------------------------------------
ROWS = [
    ("udp160.cpu_us_per_pkt", "CPU us/pkt UDP 160 B", "low"),
    ("udp160.user_us_per_pkt", "  of which user space", "low"),
    ("udp160.sys_us_per_pkt", "  of which kernel", "low"),
    ("udp1200.cpu_us_per_pkt", "CPU us/pkt UDP 1200 B", "low"),
    ("tcp.cpu_us_per_pkt", "CPU us/pkt TCP 160 B", "low"),
    ("tls.cpu_us_per_pkt", "CPU us/pkt TLS 160 B", "low"),
    ("tls.user_us_per_pkt", "  of which user space", "low"),
    ("tls.sys_us_per_pkt", "  of which kernel", "low"),
    ("max_pps", "max relayed pps <=0.1% loss", "high"),
    ("light.rtt_p50", "RTT p50 us (light, UDP)", "low"),
    ("light.rtt_p99", "RTT p99 us (light, UDP)", "low"),
    ("light.rtt_p999", "RTT p99.9 us (light, UDP)", "low"),
    ("tcp_light.rtt_p50", "RTT p50 us (light, TCP)", "low"),
    ("tcp_light.rtt_p99", "RTT p99 us (light, TCP)", "low"),
    ("tls_light.rtt_p50", "RTT p50 us (light, TLS)", "low"),
    ("tls_light.rtt_p99", "RTT p99 us (light, TLS)", "low"),
    ("allocs_per_s", "allocations/s (full)", "high"),
    ("alloc_cpu_us", "server CPU us/allocation", "low"),
    ("allocs_per_cpu_s", "allocations per server CPU-s", "high"),
    ("mem1000_bytes", "bytes/alloc @1k (RSS+kernel)", "low"),
    ("mem1000_rss", "  of which RSS", "low"),
    ("mem1000_kernel", "  of which kernel", "low"),
    ("mem10000_bytes", "bytes/alloc @10k (RSS+kernel)", "low"),
    ("mem10000_rss", "  of which RSS", "low"),
    ("mem10000_kernel", "  of which kernel", "low"),
    ("media_off.cpu_us_per_pkt", "CPU us/pkt RTP, media off", "low"),
    ("media_observe.cpu_us_per_pkt", "CPU us/pkt RTP, media observe", "low"),
    ("media_none.cpu_us_per_pkt", "CPU us/pkt non-media, observe", "low"),
    ("media.observe_over_off", "media CPU ratio observe/off", "low"),
    ("media.observe_over_none", "media CPU ratio RTP/non-media", "low"),
    ("udp160.server_cpu_share", "server CPU share @fixed load", "low"),
    ("udp160.client_cpu_share", "loadgen CPU share @fixed load", "low"),
    ("udp160.loss", "loss @fixed load (160 B)", "low"),
    ("ramp_client_cpu_share", "loadgen CPU share @max rate", "low"),
]


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}"


def cell(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-", None
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med), med
    return f"{fmt(med)} [{fmt(min(vals))}..{fmt(max(vals))}]", med


def report(results, kinds):
    head = f"{'measure':32} " + " ".join(f"{k:>26}" for k in kinds) + \
        f" {'tern/coturn':>11} {'tern/fwd':>9}"
    print(head)
    print("-" * len(head))
    print("(cells: median [min..max] over repeats; ratios: median of per-repeat ratios)")
    summary = {}
    for key, label, _ in ROWS:
        cells, meds = [], {}
        for k in kinds:
            text, med = cell(results.get((k, key), []))
            cells.append(f"{text:>26}")
            meds[k] = med
        def ratio(a, b):
            # Median of per-repeat ratios: servers of one repeat ran minutes
            # apart on the same machine, closer in conditions than repeats.
            xs, ys = results.get((a, key), []), results.get((b, key), [])
            pairs = [x / y for x, y in zip(xs, ys) if x is not None and y]
            return f"{statistics.median(pairs):.2f}" if pairs else "-"
        print(f"{label:32} " + " ".join(cells) + f" {ratio('tern', 'coturn'):>11} "
              f"{ratio('tern', 'fwd'):>9}")
        summary[key] = meds
    # Added latency: the server's RTT minus the forwarder's (same kernel path).
    for pct in ("p50", "p99", "p999"):
        key = f"light.rtt_{pct}"
        base = summary[key].get("fwd")
        if base is None:
            continue
        added = {k: summary[key][k] - base for k in kinds
                 if k != "fwd" and summary[key].get(k) is not None}
        print(f"{'added RTT ' + pct + ' us (vs fwd)':32} " +
              " ".join(f"{fmt(added.get(k)) if k != 'fwd' else '(baseline)':>26}" for k in kinds))
    return summary


def targets(summary):
    t = [("udp160.cpu_us_per_pkt", "coturn", 0.5, "<="), ("udp160.cpu_us_per_pkt", "fwd", 1.3, "<="),
         ("udp1200.cpu_us_per_pkt", "coturn", 0.5, "<="), ("max_pps", "coturn", 2.0, ">="),
         ("mem10000_bytes", "coturn", 0.25, "<="), ("mem1000_bytes", "coturn", 0.25, "<="),
         ("allocs_per_s", "coturn", 5.0, ">="), ("allocs_per_cpu_s", "coturn", 5.0, ">="),
         ("light.rtt_p99", "coturn", 1.0, "<="),
         ("tls.cpu_us_per_pkt", "coturn", 0.6, "<=")]
    print("\ntargets (informational, never asserted; ratio of medians):")
    for key, other, want, op in t:
        m = summary.get(key, {})
        if not m.get("tern") or not m.get(other):
            print(f"  {key} tern/{other}: not measured")
            continue
        r = m["tern"] / m[other]
        ok = r <= want if op == "<=" else r >= want
        print(f"  {key:26} tern/{other:6} = {r:6.2f}  target {op} {want}  "
              f"{'met' if ok else 'NOT met'}")


def report_file(path):
    results, kinds, cg = {}, [], None
    with open(path) as f:
        for raw in f:
            d = json.loads(raw)
            if "machine" in d and "params" in d:
                print(f"machine: {d['machine']}\nparams: {d['params']}\n")
            if d.get("measure") == "callgrind" and "ir_per_pkt" in d:
                cg = d
                continue
            if "server" not in d or "error" in d:
                continue
            if d["server"] not in kinds:
                kinds.append(d["server"])
            name = d["measure"]
            for k, v in d.items():
                if k not in ("server", "measure"):
                    results.setdefault((d["server"], f"{name}.{k}" if name else k), []).append(v)
    order = [k for k in ("fwd", "tern", "coturn") if k in kinds]
    summary = report(results, order)
    if cg:
        print(f"\ncallgrind: ternd {cg['ir_per_pkt']:.0f} instructions per relayed packet "
              f"({cg['relayed']} relayed)")
        print_media_ir(cg)
        print(cg.get("top", ""))
    targets(summary)
    return 0


def print_media_ir(cg):
    if "media_ir_per_pkt" not in cg:
        return
    print(f"callgrind: media analysis on (RTP, policy observe) {cg['ir_per_pkt_rtp']:.0f}, "
          f"off (non-media payloads) {cg['ir_per_pkt_nomedia']:.0f} instructions per relayed "
          f"packet: {cg['media_ir_per_pkt']:+.0f} for the analysis")


# --- main ----------------------------------------------------------------------------------
class Env:
    pass


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    deb = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release, "debian": deb,
            "loadavg": open("/proc/loadavg").read().split()[:3]}


def main():
    global ONLY
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about a minute, 1 repeat (CI smoke)")
    ap.add_argument("--callgrind", action="store_true", help="with --quick: also callgrind")
    ap.add_argument("--no-callgrind", action="store_true", help="skip callgrind in a full run")
    ap.add_argument("--callgrind-only", action="store_true",
                    help="only the callgrind measurement (instructions per relayed packet)")
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--workers", type=int, default=1,
                    help="ternd workers = coturn --relay-threads (default 1: on 2 cores the "
                         "load generator needs the other)")
    ap.add_argument("--servers", default="fwd,tern,coturn")
    ap.add_argument("--pin", choices=("same", "split", "none"), default="same",
                    help="CPU placement: all on one CPU (default), servers and load "
                         "generator on one each, or the scheduler's choice")
    ap.add_argument("--only", metavar="GROUPS",
                    help="comma-separated measurement groups to run (no callgrind unless "
                         "asked): udp (CPU per packet, latency, max rate), media, alloc, "
                         "mem, stream (TCP/TLS)")
    ap.add_argument("--report", metavar="FILE.jsonl",
                    help="print the table of an earlier run's JSON lines, run nothing")
    ap.add_argument("--out", help="JSON lines file (default: in the temporary directory)")
    a = ap.parse_args()
    if a.report:
        return report_file(a.report)
    set_pinning(a.pin)
    if a.only:
        ONLY = set(a.only.split(","))
        bad = ONLY - {"udp", "media", "alloc", "mem", "stream"}
        if bad:
            ap.error(f"--only: unknown group(s) {', '.join(sorted(bad))}")
    p = dict(QUICK if a.quick else FULL)
    if a.repeats:
        p["repeats"] = a.repeats

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    atexit.register(stop_all)

    env = Env()
    env.workers = a.workers
    env.ternd = os.path.join(a.build, "relay", "io", "ternd")
    env.loadgen = os.path.join(a.build, "tests", "bench", "loadgen")
    env.forwarder = os.path.join(a.build, "tests", "bench", "forwarder")
    for b in (env.ternd, env.loadgen, env.forwarder):
        if not os.access(b, os.X_OK):
            sys.exit(f"run.py: {b} not built (meson compile -C {a.build})")
    kinds = [k for k in a.servers.split(",") if k]
    if "coturn" in kinds and not shutil.which("turnserver"):
        print("run.py: turnserver not installed, coturn skipped", file=sys.stderr)
        kinds.remove("coturn")
    busy = relay_block_ok()
    if busy:
        print(f"run.py: warning: {len(busy)} relay ports in {RELAY_LO}-{RELAY_HI} are taken",
              file=sys.stderr)

    env.tmp = tempfile.mkdtemp(prefix="tern-bench-")
    env.secret = os.path.join(env.tmp, "secret")
    fd = os.open(env.secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SECRET + "\n")
    env.cert, env.key = os.path.join(env.tmp, "tls.crt"), os.path.join(env.tmp, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", env.key, "-out",
                    env.cert, "-days", "2", "-subj", "/CN=tern.bench"],
                   check=True, capture_output=True, timeout=30)
    os.chmod(env.key, 0o600)
    out_path = a.out or os.path.join(env.tmp, "results.jsonl")
    out = open(out_path, "w")

    def log(d):
        out.write(json.dumps(d) + "\n")
        out.flush()

    info = machine()
    info["pin"] = {"mode": a.pin, "servers": sorted(SERVER_CPUS or []),
                   "loadgen": sorted(CLIENT_CPUS or [])}
    log({"machine": info, "params": p, "workers": a.workers, "quick": a.quick})
    print(f"machine: {info}\nparams: {p}\nworkers: {a.workers}\n", flush=True)
    t0 = time.monotonic()
    results = {}
    for rep in range(0 if a.callgrind_only else p["repeats"]):
        order = kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]   # alternate who goes first
        for kind in order:
            t = time.monotonic()
            run_group(env, kind, p, results, log)
            print(f"repeat {rep + 1}/{p['repeats']}: {kind} done in {time.monotonic() - t:.0f} s",
                  flush=True)
    cg = None
    if "tern" in kinds and (a.callgrind or a.callgrind_only or
                            (not a.quick and not a.no_callgrind and not a.only)):
        if shutil.which("valgrind"):
            box = {}
            guarded("tern", "callgrind", lambda: box.update(r=m_callgrind(env, p, log)), log)
            if "r" in box:
                cg, top = box["r"]
        else:
            print("run.py: valgrind not installed, callgrind skipped", file=sys.stderr)
    print()
    summary = report(results, kinds)
    if cg:
        print(f"\ncallgrind: ternd {cg['ir_per_pkt']:.0f} instructions per relayed packet "
              f"(ChannelData 160 B, {cg['relayed']} relayed; Ir of an idle period "
              f"as long, {cg['ir_idle']:,}, subtracted)")
        print_media_ir(cg)
        print(f"top functions (self Ir, traffic period of the load run):\n{top}")
    targets(summary)
    info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    log({"summary": {k: v for k, v in summary.items()}, "callgrind": cg, "machine_end": info})
    print(f"\nloadavg at start {info['loadavg']}, at end {info['loadavg_end']}; "
          f"took {time.monotonic() - t0:.0f} s; JSON lines in {out_path}")
    out.close()
    stop_all()
    if FAILURES:
        print(f"{len(FAILURES)} measurement(s) failed:\n  " + "\n  ".join(FAILURES))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
