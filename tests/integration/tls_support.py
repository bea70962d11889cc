"""Shared helpers for the TURN-over-TLS scenarios (test_tls_*.py,
test_stream_bounds.py): throw-away certificates made with the openssl CLI, a
TLS transport for our TurnClient, a ternd launcher with a `tls` group
(passthrough rules included, which conftest.render_config cannot render), a
real HTTPS backend process, and small socket probes.

Everything is loopback-only, every wait is bounded, and every process goes
through the `procs` fixture, which stops it by pid at teardown.
"""

import hashlib
import os
import select
import socket
import ssl
import subprocess
import sys
import time

import pytest

from conftest import (TERND, Ternd, free_port, render_config, wait_for_binding,
                      wait_for_metrics, _lc_value)
import turnclient as tc

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND_SCRIPT = os.path.join(HERE, "https_backend.py")
TURN_NAME = "turn.tern.test"
ALPN_TURN = "stun.turn"
RUN_TIMEOUT = 20


# --- certificates ----------------------------------------------------------------
def run(argv, timeout=RUN_TIMEOUT, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
RSA_KEY = ["-newkey", "rsa:2048", "-nodes"]


class Ca:
    """A throw-away certificate authority in directory d."""

    def __init__(self, d, name="Tern test CA"):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.key = os.path.join(d, "ca.key")
        self.cert = os.path.join(d, "ca.pem")
        self.serial = 0x1000
        run(["openssl", "req", "-x509", *EC_KEY, "-keyout", self.key, "-out", self.cert,
             "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        os.chmod(self.key, 0o600)

    def issue(self, stem, cn, dns=(), ips=("127.0.0.1",), key_type="ec"):
        """A server certificate and its own fresh key (P-256, or RSA 2048
        with key_type="rsa"); returns (cert, key). Each one gets a distinct
        serial number."""
        self.serial += 1
        key = os.path.join(self.dir, f"{stem}.key")
        csr = os.path.join(self.dir, f"{stem}.csr")
        cert = os.path.join(self.dir, f"{stem}.pem")
        ext = os.path.join(self.dir, f"{stem}.ext")
        sans = [f"DNS:{n}" for n in dns] + [f"IP:{i}" for i in ips]
        with open(ext, "w") as f:
            f.write(f"subjectAltName={','.join(sans)}\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n")
        newkey = EC_KEY if key_type == "ec" else RSA_KEY
        run(["openssl", "req", *newkey, "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
             "-set_serial", str(self.serial), "-out", cert, "-days", "2", "-extfile", ext])
        os.chmod(key, 0o600)
        return cert, key


def pem_fingerprint(path):
    """SHA-256 of the first certificate (DER) in a PEM file."""
    with open(path) as f:
        pem = f.read()
    end = pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem[:end] + "\n")).hexdigest()


def peer_fingerprint(sslsock):
    return hashlib.sha256(sslsock.getpeercert(binary_form=True)).hexdigest()


def copy_file(src, dst, mode=0o600):
    """Replaces dst atomically (write a temp file, rename) so a reload never
    sees half a file."""
    with open(src, "rb") as f:
        data = f.read()
    write_file(dst, data, mode)


def write_file(dst, data, mode=0o600):
    tmp = dst + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, dst)


def client_context(cafile=None, alpn=None, minimum=None, maximum=None):
    """A client SSLContext: verifying against cafile (hostname checked) or,
    without one, not verifying at all; ALPN list or none."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def client_hello_bytes(server_hostname=TURN_NAME, alpn=(ALPN_TURN,)):
    """The bytes of a real ClientHello from Python's ssl, made in memory
    (nothing is sent): for clients that dribble it byte by byte."""
    ctx = client_context(alpn=alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[:1] == b"\x16" and len(data) > 100, data[:16]
    return data


# --- TURN over TLS with our client ---------------------------------------------------
class TlsTransport(tc.TcpTransport):
    """TcpTransport's framing over an ssl-wrapped socket. Reads use the
    socket timeout instead of select(): OpenSSL may hold decrypted bytes that
    select() cannot see, and a TLS 1.3 session ticket makes the socket
    readable without any application data."""
    reliable = True

    def __init__(self, tcp, ctx, server_hostname, timeout):
        # Takes over the connected TCP socket of a TcpTransport.
        self.server = tcp.server
        self.buf = b""
        self.eof = False
        self.timeout = timeout
        tcp.sock.settimeout(timeout)
        self.sock = ctx.wrap_socket(tcp.sock, server_hostname=server_hostname)

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        for _ in range(10000):
            frame = self._frame()
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if self.eof:
                return None
            if left <= 0 and not self.sock.pending():
                return None
            self.sock.settimeout(max(left, 0.001))
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return None
            except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
                    ssl.SSLZeroReturnError):
                chunk = b""
            finally:
                self.sock.settimeout(self.timeout)
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk
        raise tc.StunError("too many reads without a frame")


class TlsTurnClient(tc.TurnClient):
    """TurnClient over TLS: a TCP connection to the TLS port, wrapped."""

    def __init__(self, server, username=None, password=None, ctx=None,
                 server_hostname=TURN_NAME, alpn=(ALPN_TURN,), timeout=2.0, **kw):
        super().__init__(server, "tcp", username, password, timeout=timeout, **kw)
        self.transport_name = "tls"
        if ctx is None:
            ctx = client_context(alpn=alpn)
        try:
            self.t = TlsTransport(self.t, ctx, server_hostname, timeout)
        except BaseException:
            self.t.close()
            raise

    @property
    def ssl(self):
        return self.t.sock

    def fingerprint_sha256(self):
        return peer_fingerprint(self.t.sock)


# --- ternd with TLS ------------------------------------------------------------------
def render_tls(tls, passthrough):
    lines = ["tls = {"]
    lines += [f"  {k} = {_lc_value(v)};" for k, v in tls.items()]
    if passthrough:
        groups = []
        for rule in passthrough:
            inner = " ".join(f"{k} = {_lc_value(v)};" for k, v in rule.items())
            groups.append("{ " + inner + " }")
        lines.append("  passthrough = ( " + ", ".join(groups) + " );")
    lines.append("};")
    return "\n".join(lines) + "\n"


class TlsTernd(Ternd):
    def __init__(self, proc, config, config_path, port, secrets, tls_port, cert, key, cafile):
        super().__init__(proc, config, config_path, port, secrets)
        self.tls_port = tls_port
        self.tls4 = ("127.0.0.1", tls_port)
        self.tls6 = ("::1", tls_port)
        self.cert = cert
        self.key = key
        self.cafile = cafile

    def tls_client(self, user="alice", family=4, ttl=3600, timeout=2.0, **kw):
        username, password = self.creds(user, ttl)
        server = self.tls4 if family == 4 else self.tls6
        return TlsTurnClient(server, username, password, timeout=timeout, **kw)

    def stderr(self):
        return self.proc.stderr_text()


def start_tls_ternd(ternd_factory, tmp_path, cert, key, cafile=None, workers=1,
                    tls=None, passthrough=(), limits=None, edit=None):
    """ternd with UDP+TCP listeners (conftest defaults) and a TLS listener on
    127.0.0.1 and ::1 at a free port. cert and key are copied into the
    config's folder (tls/cert.pem, tls/key.pem) so a test can replace them."""
    tls_dir = os.path.join(str(tmp_path), f"tls{ternd_factory.n + 1}")
    os.makedirs(tls_dir, exist_ok=True)
    live_cert = os.path.join(tls_dir, "cert.pem")
    live_key = os.path.join(tls_dir, "key.pem")
    copy_file(cert, live_cert, 0o644)
    copy_file(key, live_key, 0o600)
    tls_group = {"listen": [],
                 "certificate": live_cert, "private_key": live_key}
    tls_group.update(tls or {})

    def edit_all(cfg):
        if limits:
            cfg["limits"].update(limits)
        if edit:
            edit(cfg)

    cfg, path, port = ternd_factory.write(workers=workers, edit=edit_all)
    tls_port = free_port()
    for _ in range(20):
        if tls_port != port:
            break
        tls_port = free_port()
    tls_group["listen"] = [f"127.0.0.1:{tls_port}", f"[::1]:{tls_port}"]
    with open(path, "w") as f:
        f.write(render_config(cfg) + render_tls(tls_group, passthrough))
    cfg["tls"] = dict(tls_group, passthrough=list(passthrough))
    if not os.access(TERND, os.X_OK):
        pytest.fail(f"ternd binary not found at {TERND} (set $TERND)")
    proc = ternd_factory.procs("ternd", [TERND, "-c", path])
    proc.check_exit = True
    d = TlsTernd(proc, cfg, path, port, [cfg_secret(cfg)], tls_port, live_cert, live_key,
                 cafile)
    wait_for_binding(d.udp4, proc)
    wait_for_metrics(d)
    assert wait_tcp(d.tls4, 5.0), "TLS listener not accepting"
    return d


def cfg_secret(cfg):
    with open(cfg["auth"]["secrets_file"]) as f:
        return f.readline().strip()


def wait_tcp(addr, timeout):
    """Bounded wait until addr accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(addr, timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_log(proc, text, timeout=5.0, start=0):
    """Bounded wait until proc's stderr (from offset start) contains text;
    returns the matching line or None."""
    deadline = time.monotonic() + timeout
    while True:
        err = proc.stderr_text()[start:]
        for line in err.splitlines():
            if text in line:
                return line
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


# --- socket probes -------------------------------------------------------------------
def connect_from(addr, source=None, timeout=2.0):
    """A plain TCP connection, optionally from a given source address
    (anything in 127.0.0.0/8 works on loopback)."""
    s = socket.socket(tc.family_of(addr[0]), socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_closed(sock, timeout):
    """Reads until the peer closes or timeout. Returns (how, data, seconds):
    how is "eof", "reset" or "open" (still open at the timeout)."""
    start = time.monotonic()
    deadline = start + timeout
    data = b""
    for _ in range(100000):
        left = deadline - time.monotonic()
        if left <= 0:
            return "open", data, time.monotonic() - start
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return "reset", data, time.monotonic() - start
        if not chunk:
            return "eof", data, time.monotonic() - start
        data += chunk
    return "open", data, time.monotonic() - start


def is_closed_now(sock):
    """Non-blocking: True if the peer has closed (EOF or reset)."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(65536, socket.MSG_PEEK) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


# --- a real HTTPS backend ------------------------------------------------------------
class Backend:
    def __init__(self, proc, port, name, cert, key):
        self.proc = proc
        self.port = port
        self.addr = ("127.0.0.1", port)
        self.name = name
        self.cert = cert
        self.key = key


def start_backend(procs, name, cert, key, alpn=("h2", "http/1.1")):
    """Our https_backend.py (Python http.server over TLS with its own
    certificate) on a free loopback port, as a separate process."""
    port = free_port(hosts=("127.0.0.1",))
    argv = [sys.executable, BACKEND_SCRIPT, "--port", str(port), "--name", name,
            "--cert", cert, "--key", key, "--alpn", ",".join(alpn)]
    proc = procs(f"backend-{name}", argv)
    proc.check_exit = False
    b = Backend(proc, port, name, cert, key)
    if not wait_tcp(b.addr, 10.0):
        raise AssertionError(f"backend {name} did not listen:\n{proc.stderr_text()}")
    return b


def start_echo_peer(procs):
    """coturn's turnutils_peer (a UDP echo peer) on a free loopback port."""
    port = free_port(hosts=("127.0.0.1",))
    p = procs("turnutils_peer", ["turnutils_peer", "-L", "127.0.0.1", "-p", str(port)])
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        with open("/proc/net/udp") as f:
            if f":{port:04X} " in f.read():
                return ("127.0.0.1", port)
        time.sleep(0.05)
    raise AssertionError(f"turnutils_peer did not bind:\n{p.stderr_text()}")


# --- a TLS client with control over its ClientHello bytes -----------------------------
def refragment(hello, pieces):
    """The same ClientHello split into `pieces` TLS records (the handshake
    transcript is unchanged: it covers messages, not records)."""
    assert hello[0] == 0x16
    version = hello[1:3]
    n = int.from_bytes(hello[3:5], "big")
    body, rest = hello[5:5 + n], hello[5 + n:]
    step = -(-len(body) // pieces)
    out = b""
    for i in range(0, len(body), step):
        chunk = body[i:i + step]
        out += b"\x16" + version + len(chunk).to_bytes(2, "big") + chunk
    return out + rest


class MemTls:
    """TLS over a plain socket through ssl.MemoryBIO, so a test decides how
    the ClientHello goes on the wire: transform(hello) -> list of byte
    strings, written one by one `gap` seconds apart."""

    def __init__(self, addr, ctx, server_hostname, transform=None, gap=0.0, timeout=5.0):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=server_hostname)
        self.timeout = timeout
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = self.out.read()
        parts = transform(hello) if transform else [hello]
        for i, p in enumerate(parts):
            if i and gap:
                time.sleep(gap)
            self.sock.sendall(p)
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if time.monotonic() > deadline:
                    raise TimeoutError("handshake timed out")
                self._fill()
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed during TLS")
        self.inc.write(chunk)

    def peer_fingerprint(self):
        return hashlib.sha256(self.obj.getpeercert(binary_form=True)).hexdigest()

    def send(self, data):
        self.obj.write(data)
        self._flush()

    def recv_until(self, pred, timeout=None):
        """Reads application data until pred(data) or EOF or timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data = b""
        for _ in range(100000):
            try:
                data += self.obj.read(65536)
                if pred(data):
                    return data
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return data
            left = deadline - time.monotonic()
            if left <= 0:
                return data
            self.sock.settimeout(left)
            try:
                self._fill()
            except (ConnectionError, socket.timeout, OSError):
                return data
        return data

    def close(self):
        self.sock.close()
