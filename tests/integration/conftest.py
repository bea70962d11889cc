"""Fixtures for the integration tests: free ports, config files, and the real
daemons (ternd, coturn's turnserver) started on loopback and always stopped by
pid at teardown, pass or fail. On failure a daemon's stderr is printed.

Binaries: $TERND (default <repo>/build/relay/io/ternd) and $TERNCTL (default
<repo>/build/auth/ternctl).

$TERN_WRAP (tests/valgrind.sh), e.g. "valgrind --error-exitcode=99
--log-file=DIR/vg.%p", is put in front of every ternd and ternctl a test
starts, wherever the binary sits in the command line (after unshare,
systemd-socket-activate, ...); valgrind execs in place, so the pid stays the
daemon's. Waits for start and stop are then longer (helpers.slowed()).
"""

import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import turnclient as tc  # noqa: E402
from ports import bindable as _bindable, free_port  # noqa: E402,F401

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TERND = os.environ.get("TERND", os.path.join(REPO, "build", "relay", "io", "ternd"))
TERNCTL = os.environ.get("TERNCTL", os.path.join(REPO, "build", "auth", "ternctl"))

# Relay ports come from a block below the kernel's ephemeral range;
# $TERN_RELAY_BLOCK=LOW-HIGH narrows it, so that two suites running at once
# (tests/run.sh runs the plain and the ASan one together) never cross.
RELAY_BLOCK_LOW, RELAY_BLOCK_HIGH = (
    int(x) for x in os.environ.get("TERN_RELAY_BLOCK", "20000-30000").split("-"))
WRAP = shlex.split(os.environ.get("TERN_WRAP", ""))
SECRET = "integration-secret-0123456789abcdef"
SECRET2 = "rotated-in-secret-fedcba9876543210"
REALM = "tern.test"
# Under $TERN_WRAP a daemon starts slowly and checks for leaks at exit.
STOP_GRACE = 30.0 if WRAP else 5.0
READY_TRIES = 400 if WRAP else 100
READY_INTERVAL = 0.1
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


# --- $TERN_WRAP -------------------------------------------------------------------
def _ours(arg):
    if not isinstance(arg, (str, os.PathLike)):
        return False
    arg = os.fspath(arg)
    return arg in (TERND, TERNCTL) or (
        os.path.isabs(arg) and os.path.realpath(arg) in _OURS_REAL)


def wrap_argv(argv):
    """argv with $TERN_WRAP inserted before the first ternd or ternctl."""
    if not WRAP or isinstance(argv, (str, bytes)):
        return argv
    argv = list(argv)
    for i, arg in enumerate(argv):
        if _ours(arg):
            return argv[:i] + WRAP + argv[i:]
    return argv


if WRAP:
    # Every start goes through Popen (subprocess.run, Proc, helpers of other
    # modules): one patch covers them all, only when $TERN_WRAP is set.
    _OURS_REAL = {os.path.realpath(TERND), os.path.realpath(TERNCTL)}
    _popen_init = subprocess.Popen.__init__

    def _wrapped_popen_init(self, args, *a, **kw):
        _popen_init(self, wrap_argv(args), *a, **kw)

    subprocess.Popen.__init__ = _wrapped_popen_init


# --- ports -------------------------------------------------------------------
def relay_range(size=200, hosts=("127.0.0.1", "::1"), tries=50):
    """A random block of `size` UDP ports inside the relay block (20000-30000
    unless $TERN_RELAY_BLOCK says) with nothing bound on any of them."""
    for _ in range(tries):
        low = random.randrange(RELAY_BLOCK_LOW, RELAY_BLOCK_HIGH - size)
        if all(_bindable(h, p, socket.SOCK_DGRAM) for p in range(low, low + size)
               for h in hosts):
            return low, low + size - 1
    raise RuntimeError("no free relay port block found")


# --- processes -----------------------------------------------------------------
class Proc:
    def __init__(self, name, argv, workdir):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(workdir, f"{name}.stdout")
        self.err_path = os.path.join(workdir, f"{name}.stderr")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=self.out, stderr=self.err)
        self.pid = self.popen.pid
        self.check_exit = False  # teardown fails the test unless SIGTERM exits 0 cleanly
        self.killed = False

    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after the grace period. Returns the exit code."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(STOP_GRACE)
        self.out.close()
        self.err.close()
        return self.popen.returncode

    def stderr_text(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_text(self):
        if not self.out.closed:
            self.out.flush()
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    setup = getattr(request.node, "rep_setup", None)
    return (rep is not None and rep.failed) or (setup is not None and setup.failed)


@pytest.fixture
def procs(request, tmp_path):
    """Starts processes; stops every one by pid at teardown, pass or fail,
    and prints the stderr of each when the test failed."""
    started = []

    def start(name, argv):
        p = Proc(f"{name}{len(started)}", argv, str(tmp_path))
        started.append(p)
        return p

    yield start
    problems = []
    for p in reversed(started):
        alive_at_end = p.alive()
        rc = p.stop()
        if p.check_exit:
            # A daemon that died during the test, needed SIGKILL, or did not
            # exit 0 on SIGTERM (e.g. a sanitizer report at exit) fails it.
            if not alive_at_end:
                problems.append(f"{p.name} exited during the test with {rc}")
            elif p.killed:
                problems.append(f"{p.name} ignored SIGTERM for {STOP_GRACE} s")
            elif rc != 0:
                problems.append(f"{p.name} exited with {rc} on SIGTERM")
        bad = any(m in p.stderr_text() for m in SANITIZER_MARKS)
        if bad:
            problems.append(f"{p.name}: sanitizer report in stderr")
        if _failed(request) or problems:
            sys.stderr.write(f"\n----- {p.name} (pid {p.pid}, exit {rc}) {' '.join(p.argv)}\n")
            sys.stderr.write(p.stderr_text()[-20000:])
            sys.stderr.write("\n-----\n")
    if problems:
        pytest.fail("; ".join(problems))


def wait_for_binding(server, proc, tries=READY_TRIES, interval=READY_INTERVAL):
    """Bounded wait until a UDP STUN Binding to server is answered."""
    for _ in range(tries):
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n"
                               + proc.stderr_text()[-4000:])
        try:
            c = tc.TurnClient(server, "udp", timeout=interval)
            try:
                if c.binding() is not None:
                    return
            finally:
                c.close()
        except (TimeoutError, OSError, tc.StunError, tc.TurnError):
            time.sleep(interval / 2)
    raise RuntimeError(f"{proc.name} never answered a Binding on {server}")


def wait_for_metrics(d, tries=READY_TRIES, interval=READY_INTERVAL):
    """Bounded wait until ternd's HTTP endpoint accepts a connection: it is
    opened after the workers answer (a wide gap under valgrind)."""
    if not d.metrics_url:
        return
    host, port = d.metrics_url[len("http://"):].rsplit(":", 1)
    for _ in range(tries):
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=interval).close()
            return
        except OSError:
            time.sleep(interval)
    raise RuntimeError(f"{d.proc.name}'s HTTP endpoint {d.metrics_url} never accepted")


# --- ternd config --------------------------------------------------------------
def _lc_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_lc_value(x) for x in v) + "]"
    raise TypeError(v)


def render_config(cfg):
    """Renders a dict of {key: scalar | list | dict-of-scalars} as libconfig,
    one setting per line so that errors point at a distinct line."""
    lines = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines.append(f"{k} = {{")
            lines.extend(f"  {ik} = {_lc_value(iv)};" for ik, iv in v.items())
            lines.append("};")
        else:
            lines.append(f"{k} = {_lc_value(v)};")
    return "\n".join(lines) + "\n"


def default_config(port, relay_lo, relay_hi, secrets_file, workers=1):
    return {
        "realm": REALM,
        "workers": workers,
        "software": "",
        "listen": {
            "udp": [f"127.0.0.1:{port}", f"[::1]:{port}"],
            "tcp": [f"127.0.0.1:{port}", f"[::1]:{port}"],
        },
        "relay": {"addresses": ["127.0.0.1", "::1"], "port_min": relay_lo,
                  "port_max": relay_hi},
        "auth": {"secrets_file": secrets_file, "hmac": "sha1", "max_ttl": 86400,
                 "nonce_lifetime": 600, "clock_skew": 30},
        "limits": {"allocations_total": 100000, "allocations_per_user": 20,
                   "permissions_per_allocation": 32, "channels_per_allocation": 32,
                   "default_lifetime": 600, "max_lifetime": 3600,
                   "unauth_rate": 1000, "unauth_burst": 1000},
        "peers": {"allow": ["127.0.0.0/8", "::1/128"], "deny": []},
        "log": {"level": "info"},
        # A port of its own: the default 127.0.0.1:9641 would collide between daemons.
        "metrics": {"listen": f"127.0.0.1:{free_port(('127.0.0.1',))}"},
    }


def write_secrets(path, secrets):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(s + "\n" for s in secrets))
    os.chmod(path, 0o600)


class Ternd:
    """A running ternd: its listener addresses, config and credentials."""

    def __init__(self, proc, config, config_path, port, secrets):
        self.proc = proc
        self.config = config
        self.config_path = config_path
        self.port = port
        self.secrets = secrets
        self.udp4 = self.tcp4 = ("127.0.0.1", port)
        self.udp6 = self.tcp6 = ("::1", port)
        self.relay_range = (config["relay"]["port_min"], config["relay"]["port_max"])
        self.workers = config["workers"]
        listen = config.get("metrics", {}).get("listen", "")
        self.metrics_url = f"http://{listen}" if listen else None

    def creds(self, user="alice", ttl=3600, secret=None, now=None):
        algorithm = self.config["auth"]["hmac"]
        return tc.rest_credentials(secret or self.secrets[0], user, ttl, now,
                                   algorithm=algorithm)

    def client(self, transport="udp", family=4, user="alice", ttl=3600, timeout=2.0, **kw):
        server = self.udp4 if family == 4 else self.udp6
        username, password = self.creds(user, ttl)
        return tc.TurnClient(server, transport, username, password, timeout=timeout, **kw)

    def in_relay_range(self, port):
        return self.relay_range[0] <= port <= self.relay_range[1]


class TerndFactory:
    def __init__(self, procs, tmp_path):
        self.procs = procs
        self.tmp = tmp_path
        self.n = 0

    def write(self, workers=1, relay_ports=200, secrets=(SECRET,), edit=None):
        """Writes a config (and its secrets file) and returns (config, path, port).
        edit(config) may change the dict before it is written."""
        self.n += 1
        port = free_port()
        lo, hi = relay_range(relay_ports)
        secrets_path = str(self.tmp / f"secrets{self.n}")
        write_secrets(secrets_path, list(secrets))
        cfg = default_config(port, lo, hi, secrets_path, workers)
        if edit is not None:
            edit(cfg)
        path = str(self.tmp / f"ternd{self.n}.conf")
        with open(path, "w") as f:
            f.write(render_config(cfg))
        return cfg, path, port

    def start(self, workers=1, relay_ports=200, secrets=(SECRET,), edit=None):
        if not os.access(TERND, os.X_OK):
            pytest.fail(f"ternd binary not found at {TERND} (set $TERND)")
        cfg, path, port = self.write(workers, relay_ports, secrets, edit)
        proc = self.procs("ternd", [TERND, "-c", path])
        proc.check_exit = True
        d = Ternd(proc, cfg, path, port, list(secrets))
        wait_for_binding(d.udp4, proc)
        wait_for_metrics(d)
        return d


@pytest.fixture
def ternd_factory(procs, tmp_path):
    return TerndFactory(procs, tmp_path)


@pytest.fixture
def ternd(ternd_factory):
    """One ternd with the default test config and a single worker."""
    return ternd_factory.start(workers=1)


@pytest.fixture(params=[1, 4], ids=["w1", "w4"])
def ternd_w(request, ternd_factory):
    """ternd with workers=1 and workers=4 (for tests about relaying)."""
    return ternd_factory.start(workers=request.param)


# --- coturn ----------------------------------------------------------------------
class Coturn:
    def __init__(self, proc, port, secret, relay):
        self.proc = proc
        self.port = port
        self.secret = secret
        self.udp4 = self.tcp4 = ("127.0.0.1", port)
        self.udp6 = self.tcp6 = ("::1", port)
        self.relay_range = relay

    def creds(self, user="alice", ttl=3600):
        return tc.rest_credentials(self.secret, user, ttl)

    def client(self, transport="udp", user="alice", family=4, **kw):
        username, password = self.creds(user)
        server = self.udp4 if family == 4 else self.udp6
        return tc.TurnClient(server, transport, username, password, **kw)


@pytest.fixture
def coturn(procs, tmp_path):
    port = free_port()
    lo, hi = relay_range(100)
    argv = ["turnserver", "-n", "--listening-ip=127.0.0.1", "--listening-ip=::1",
            f"--listening-port={port}", "--relay-ip=127.0.0.1", "--relay-ip=::1",
            # Its second ("alternative") port would be port + 1, which
            # nobody checked: name a free one.
            f"--alt-listening-port={free_port()}",
            f"--min-port={lo}", f"--max-port={hi}",
            "--use-auth-secret", f"--static-auth-secret={SECRET}", "--realm=test",
            "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
            "--log-file=stdout", "--simple-log", "--no-software-attribute",
            f"--pidfile={tmp_path}/turnserver.pid", "--no-multicast-peers",
            f"--userdb={tmp_path}/turndb"]
    proc = procs("turnserver", argv)
    wait_for_binding(("127.0.0.1", port), proc)
    return Coturn(proc, port, SECRET, (lo, hi))
