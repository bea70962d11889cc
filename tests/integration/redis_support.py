"""Redis for the revocation tests and the revocation benchmark: a real
redis-server on loopback (free port, its own directory, append-only file),
a raw RESP client (arguments sent as bulk strings, byte for byte, optionally
over TLS), a loopback TCP proxy that can cut ternd off from Redis, and an
openssl-made CA and server certificate for TLS to Redis.

Standard library only; every wait is bounded; every process is stopped by
pid (the tests pass conftest's `procs` as the spawner, the benchmark uses
SimpleProc below).
"""

import os
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

from ports import free_port

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
STOP_GRACE = 5.0


# --- processes -------------------------------------------------------------------
class SimpleProc:
    """A child process with stdout/stderr in files; stop() by pid (SIGTERM,
    then SIGKILL). Same surface as conftest.Proc for what this module uses."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.argv = argv
        self.err_path = os.path.join(workdir, f"{name}.stderr")
        self.out_path = os.path.join(workdir, f"{name}.stdout")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                      stderr=self.err)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(STOP_GRACE)
        if not self.out.closed:
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


class SimpleSpawner:
    """spawn(name, argv) -> SimpleProc; stop_all() stops every one by pid."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def __call__(self, name, argv):
        p = SimpleProc(f"{name}{len(self.started)}", argv, self.workdir)
        self.started.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.started):
            p.stop()


def free_tcp_port():
    """A free port on 127.0.0.1 from the run's one picker (ports.py)."""
    return free_port(("127.0.0.1",))


# --- RESP ------------------------------------------------------------------------
class RedisError(Exception):
    pass


def _b(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode("utf-8", "surrogateescape")
    return str(x).encode()


def encode_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = _b(a)
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    """A minimal blocking RESP2 client. Replies: bytes, int, list, None;
    error replies raise RedisError (or are returned with raw_errors)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, tls_ca=None,
                 tls_server_name=None, password=None, username=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.check_hostname = tls_server_name is not None
            sock = ctx.wrap_socket(sock, server_hostname=tls_server_name or host)
        self.sock = sock
        self.buf = b""
        if password is not None:
            if username:
                self.command("AUTH", username, password)
            else:
                self.command("AUTH", password)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        self.buf += chunk

    def _line(self):
        for _ in range(100000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()
        raise RedisError("reply line too long")

    def _exact(self, n):
        for _ in range(100000):
            if len(self.buf) >= n + 2:
                data, self.buf = self.buf[:n], self.buf[n + 2:]
                return data
            self._fill()
        raise RedisError("bulk too long")

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return RedisError(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError(f"unexpected reply {line[:40]!r}")

    def command(self, *args, raw_errors=False):
        self.sock.sendall(encode_command(*args))
        r = self._reply()
        if isinstance(r, RedisError) and not raw_errors:
            raise r
        return r

    # stream helpers
    def xadd(self, key, kind, ident, entry_id="*"):
        return self.command("XADD", key, entry_id, "kind", kind, "id", ident).decode()

    def xrange(self, key):
        """[(id, {field: value})] with bytes values, verbatim."""
        out = []
        for eid, fields in self.command("XRANGE", key, "-", "+") or []:
            out.append((eid.decode(), {fields[i]: fields[i + 1]
                                       for i in range(0, len(fields), 2)}))
        return out


# --- redis-server ----------------------------------------------------------------
class RedisServer:
    """redis-server on 127.0.0.1 with its own dir and (by default) an
    append-only file, so a kill -9 and a restart in the same dir keep the
    stream. tls: dict(cert=, key=, ca=) to listen with TLS only."""

    def __init__(self, spawn, workdir, port=None, password=None, tls=None, extra=(),
                 appendonly=True):
        self.spawn = spawn
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = port or free_tcp_port()
        self.password = password
        self.tls = tls
        self.extra = list(extra)
        self.appendonly = appendonly
        self.proc = None

    def argv(self):
        a = [REDIS_SERVER, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no",
             "--appendfsync", "always", "--dir", self.dir, "--protected-mode", "no",
             "--daemonize", "no", "--logfile", "", "--loglevel", "warning"]
        if self.tls:
            a += ["--port", "0", "--tls-port", str(self.port),
                  "--tls-cert-file", self.tls["cert"], "--tls-key-file", self.tls["key"],
                  "--tls-ca-cert-file", self.tls["ca"], "--tls-auth-clients", "no"]
        else:
            a += ["--port", str(self.port)]
        if self.password is not None:
            a += ["--requirepass", self.password]
        return a + self.extra

    def start(self, timeout=10.0):
        self.proc = self.spawn("redis", self.argv())
        self.wait_ready(timeout)
        return self

    def client(self, **kw):
        if self.tls:
            kw.setdefault("tls_ca", self.tls["ca"])
            kw.setdefault("tls_server_name", self.tls.get("name"))
        if self.password is not None and "password" not in kw:
            kw["password"] = self.password
        return Resp(self.port, **kw)

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError("redis-server exited:\n" + self.proc.stderr_text()[-3000:]
                                   + self.proc.stdout_text()[-3000:])
            try:
                with self.client(timeout=1.0) as c:
                    if c.command("PING") == b"PONG":
                        return
            except (OSError, RedisError, ssl.SSLError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} not ready: {last}")

    def stop(self):
        """Graceful stop (SIGTERM) by pid."""
        if self.proc:
            self.proc.stop()

    def kill9(self):
        if self.proc and self.proc.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.popen.wait(STOP_GRACE)


def tls_unsupported(stderr_text):
    """The reason when redis-server was built without TLS, else None."""
    for mark in ("Bad directive", "not supported", "TLS support"):
        if mark in stderr_text:
            return stderr_text.strip().splitlines()[-1][:300]
    return None


# --- a loopback TCP proxy that can cut the link ---------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>. Modes:
    "pass"      forward both ways;
    "drop"      close every connection and refuse new ones (accept + close);
    "blackhole" keep connections open, forward nothing (a silent network).
    Runs in one thread with select; stop() joins it."""

    def __init__(self, target_port, port=None):
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port or 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.mode = "pass"
        self.pairs = {}  # sock -> peer sock
        self.lock = threading.Lock()
        self.running = True
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def set_mode(self, mode):
        assert mode in ("pass", "drop", "blackhole")
        with self.lock:
            self.mode = mode
            if mode == "drop":
                self._close_all()

    def _close_all(self):
        for s in list(self.pairs):
            try:
                s.close()
            except OSError:
                pass
        self.pairs.clear()

    def _run(self):
        while self.running:
            with self.lock:
                socks = [self.lsock] + list(self.pairs)
            try:
                r, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                continue
            with self.lock:
                for s in r:
                    if s is self.lsock:
                        self._accept()
                    elif s in self.pairs:
                        self._forward(s)

    def _accept(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        self.accepted += 1
        if self.mode == "drop":
            c.close()
            return
        try:
            u = socket.create_connection(self.target, timeout=2.0)
        except OSError:
            c.close()
            return
        self.pairs[c] = u
        self.pairs[u] = c

    def _drop_pair(self, s):
        peer = self.pairs.pop(s, None)
        if peer is not None:
            self.pairs.pop(peer, None)
            peer.close()
        s.close()

    def _forward(self, s):
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop_pair(s)
            return
        if self.mode == "blackhole":
            return  # swallowed
        try:
            self.pairs[s].sendall(data)
        except (OSError, KeyError):
            self._drop_pair(s)

    def stop(self):
        self.running = False
        self.thread.join(5)
        with self.lock:
            self._close_all()
        self.lsock.close()


# --- TLS material ------------------------------------------------------------------
def make_tls_material(d, name="redis.test"):
    """A CA and a server certificate for `name` and IP 127.0.0.1, plus a
    second, unrelated CA. Returns dict(ca, cert, key, other_ca, name)."""
    os.makedirs(d, exist_ok=True)

    def run(*argv):
        subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=30)

    p = lambda f: os.path.join(d, f)  # noqa: E731
    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p(f"{ca}.key"), "-out", p(f"{ca}.pem"), "-days", "2",
            "-subj", f"/CN=Tern test {ca}")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", f"/CN={name}")
    with open(p("ext.cnf"), "w") as f:
        f.write(f"subjectAltName=DNS:{name},IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("ext.cnf"))
    os.chmod(p("server.key"), 0o600)
    return {"ca": p("ca.pem"), "cert": p("server.pem"), "key": p("server.key"),
            "other_ca": p("other-ca.pem"), "name": name}


# --- ternd's side ----------------------------------------------------------------
def revocation_group(redis_port, state_dir, **kw):
    """The `revocation` config group for a ternd following Redis on port."""
    g = {"redis": f"127.0.0.1:{redis_port}", "state_dir": state_dir,
         "stale_after": 6, "stale_grace": 300}
    g.update(kw)
    return g


def write_password_file(path, password):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return path


def wait_log(proc, text, timeout, count=1, interval=0.05):
    """Bounded wait until `text` appears `count` times in proc's stderr."""
    deadline = time.monotonic() + timeout
    while True:
        n = proc.stderr_text().count(text)
        if n >= count or time.monotonic() >= deadline:
            return n >= count
        time.sleep(interval)


def read_snapshot(path):
    """Parses ternd's revocation snapshot: (last_id, [(kind, until, bytes)])."""
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0] == "tern-revocations 1", lines[:1]
    last_id = lines[1].split(" ", 1)[1]
    entries = []
    for line in lines[3:]:
        kind, until, hexval = line.split(" ")
        entries.append((kind, int(until), bytes.fromhex(hexval)))
    return last_id, entries
