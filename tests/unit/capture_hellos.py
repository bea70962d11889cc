#!/usr/bin/env python3
"""Captures real TLS ClientHellos for the tests of relay/tls/clienthello.c.

Each client below connects to a throwaway TCP listener on 127.0.0.1 (port
chosen by the kernel). The listener is not TLS: it reads the records of the
ClientHello (record framing only, independent of the C parser), saves the
bytes and closes, so the client's handshake fails right after sending its
hello. Nothing leaves loopback; every child process is waited for or killed.

Clients: `openssl s_client` (TLS 1.3 only, TLS 1.2 only, default without SNI,
and one whose hello is split into records of 512 bytes by -max_send_frag),
Python's ssl module (TLS 1.3 and 1.2) and `curl --http1.1`.

Writes, from the repository root's point of view:
  tests/unit/tls_hello_samples.h     the bytes as C arrays plus what each
                                     client was asked to offer (the expected
                                     parse), for tests/unit/test_tls_hello.c
  tests/fuzz/corpus/tls_hello/*.bin  the same bytes, the fuzz seed corpus

    python3 tests/unit/capture_hellos.py

Hellos carry fresh random values and key shares, so every run rewrites the
files with different bytes but the same shapes and expectations.
"""
import os
import socket
import ssl
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "tls_hello_samples.h")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus", "tls_hello")
TIMEOUT = 10

LONG_SNI = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 49 + ".example.org"  # 253 bytes
LONG_ALPN = ["p%d" % i for i in range(1, 4)] + ["x" * 40] + ["q%d" % i for i in range(1, 9)]


def read_hello(conn):
    """Reads records until the first handshake message is complete."""
    data = b""
    conn.settimeout(TIMEOUT)
    while True:
        hs, off, need = b"", 0, None
        while off + 5 <= len(data):
            rlen = int.from_bytes(data[off + 3:off + 5], "big")
            hs += data[off + 5:off + 5 + rlen]
            off += 5 + rlen
        if len(hs) >= 4:
            need = 4 + int.from_bytes(hs[1:4], "big")
        if need is not None and len(hs) >= need and off <= len(data):
            return data[:off]
        chunk = conn.recv(65536)
        if not chunk:
            raise RuntimeError("client closed before its hello was complete")
        data += chunk


def capture(run_client):
    """Runs run_client(port) against a one-shot listener; returns the hello."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    port = lst.getsockname()[1]
    got = {}

    def serve():
        try:
            conn, _ = lst.accept()
            with conn:
                got["hello"] = read_hello(conn)
        except Exception as e:  # reported by the caller
            got["error"] = e

    t = threading.Thread(target=serve)
    t.start()
    try:
        run_client(port)
    finally:
        t.join(TIMEOUT)
        lst.close()
    if "hello" not in got:
        raise RuntimeError("no hello captured: %r" % got.get("error"))
    return got["hello"]


def run_proc(argv):
    """Starts a client process; the listener closing ends it."""
    def run(port):
        argv_p = [a.replace("PORT", str(port)) for a in argv]
        p = subprocess.Popen(argv_p, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return run


def run_python(server_hostname, alpn, max_version):
    def run(port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = max_version
        ctx.set_alpn_protocols(alpn)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            try:
                with ctx.wrap_socket(s, server_hostname=server_hostname):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the listener hangs up after the hello
    return run


S_CLIENT = ["openssl", "s_client", "-connect", "127.0.0.1:PORT"]

# name, what it runs (documented in the header), client, expected sni,
# expected kept ALPN names, expected offers_tls13, expected record count.
SAMPLES = [
    ("openssl_tls13_turn",
     S_CLIENT + ["-tls1_3", "-servername", "turn.example.org", "-alpn", "stun.turn"],
     "turn.example.org", ["stun.turn"], True, 1),
    ("openssl_tls12_web",
     S_CLIENT + ["-tls1_2", "-servername", "www.hospital.example", "-alpn", "h2,http/1.1"],
     "www.hospital.example", ["h2", "http/1.1"], False, 1),
    ("openssl_default_nosni",
     S_CLIENT + ["-noservername"],
     None, [], True, 1),
    # 253-byte SNI, 12 protocols (one of 40 bytes), every cipher: > 512 bytes,
    # so -max_send_frag 512 makes OpenSSL split the hello over two records.
    ("openssl_split_records",
     S_CLIENT + ["-servername", LONG_SNI, "-alpn", ",".join(LONG_ALPN),
                 "-cipher", "ALL:@SECLEVEL=0", "-max_send_frag", "512"],
     LONG_SNI, [a for a in LONG_ALPN if len(a) <= 31][:8], True, 2),
    ("python_tls13",
     ("python-ssl", "Turn.Example.ORG", ["stun.turn", "h2"], ssl.TLSVersion.TLSv1_3),
     "turn.example.org", ["stun.turn", "h2"], True, 1),
    ("python_tls12",
     ("python-ssl", "www.hospital.example", ["http/1.1"], ssl.TLSVersion.TLSv1_2),
     "www.hospital.example", ["http/1.1"], False, 1),
    ("curl_http11",
     ["curl", "--http1.1", "-sk", "--max-time", str(TIMEOUT), "--resolve",
      "web.hospital.example:PORT:127.0.0.1", "https://web.hospital.example:PORT/"],
     "web.hospital.example", ["http/1.1"], True, 1),
]


def client_for(how):
    if isinstance(how, tuple):
        return run_python(*how[1:]), "Python %s ssl: server_hostname=%r alpn=%r max=%s" % (
            ssl.OPENSSL_VERSION, how[1], how[2], how[3].name)
    cmd = " ".join(a if len(a) < 60 else a[:24] + "..." for a in how)
    return run_proc(list(how)), cmd


def count_records(data):
    n, off = 0, 0
    while off < len(data):
        off += 5 + int.from_bytes(data[off + 3:off + 5], "big")
        n += 1
    return n


def c_string(s):
    return "NULL" if s is None else '"%s"' % s


def c_array(name, data):
    lines = []
    for i in range(0, len(data), 12):
        lines.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    return "static const uint8_t %s[%d] = {\n%s\n};\n" % (name, len(data), "\n".join(lines))


def main():
    os.makedirs(CORPUS, exist_ok=True)
    out = ['/* Real ClientHellos captured on loopback by tests/unit/capture_hellos.py',
           ' * (run it to regenerate; do not edit). Each entry says which client sent',
           ' * it and what that client was asked to offer. */',
           "#ifndef TERN_TESTS_TLS_HELLO_SAMPLES_H",
           "#define TERN_TESTS_TLS_HELLO_SAMPLES_H",
           "", "#include <stdbool.h>", "#include <stddef.h>", "#include <stdint.h>", "",
           "struct hello_sample {",
           "\tconst char *name;",
           "\tconst uint8_t *bytes;",
           "\tsize_t len;",
           "\tconst char *sni;         /* expected, lower-cased; NULL: none */",
           "\tunsigned n_alpn;",
           "\tconst char *alpn[8];     /* expected kept protocols */",
           "\tbool tls13;",
           "\tunsigned records;        /* TLS records the hello spans */",
           "};", ""]
    table = []
    for name, how, sni, alpn, tls13, records in SAMPLES:
        run, desc = client_for(how)
        data = capture(run)
        got_records = count_records(data)
        if got_records != records:
            raise RuntimeError("%s: %d records, expected %d" % (name, got_records, records))
        with open(os.path.join(CORPUS, name + ".bin"), "wb") as f:
            f.write(data)
        out.append("/* %s: %s */" % (name, desc))
        out.append(c_array("sample_" + name, data))
        table.append("\t{ %s, sample_%s, sizeof(sample_%s), %s, %d, { %s }, %s, %d },"
                     % (c_string(name), name, name, c_string(sni), len(alpn),
                        ", ".join(c_string(a) for a in alpn) or "NULL",
                        "true" if tls13 else "false", records))
        print("%-24s %5d bytes, %d record(s)" % (name, len(data), got_records))
    out.append("static const struct hello_sample hello_samples[] = {")
    out.extend(table)
    out.append("};")
    out.append("")
    out.append("#endif")
    with open(HEADER, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
