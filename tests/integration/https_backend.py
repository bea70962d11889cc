"""A small real HTTPS server for the passthrough tests (test_tls_passthrough.py):
Python's http.server over TLS with its own certificate, on loopback.

  GET /          -> "backend <name>\n"
  GET /big?n=N   -> N bytes of a deterministic pattern (see pattern())
  POST /echo-sha -> the SHA-256 hex of the request body
  any response carries "X-Backend: <name>" and "X-ALPN: <negotiated>".

Run: https_backend.py --port P --name N --cert C --key K [--alpn h2,http/1.1]
It serves until SIGTERM (the test stops it by pid).
"""

import argparse
import hashlib
import http.server
import signal
import ssl
import sys
import urllib.parse

MAX_BODY = 16 * 1024 * 1024


def pattern(n):
    """n bytes, the same on both sides: SHA-256 blocks of a counter."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"block %d" % i).digest()
        i += 1
    return bytes(out[:n])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--alpn", default="")
    a = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 20

        def log_message(self, fmt, *args):
            sys.stderr.write("backend %s: %s\n" % (a.name, fmt % args))

        def reply(self, body, ctype="text/plain"):
            alpn = self.connection.selected_alpn_protocol() or ""
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", a.name)
            self.send_header("X-ALPN", alpn)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path == "/big":
                q = urllib.parse.parse_qs(url.query)
                n = min(int(q.get("n", ["1048576"])[0]), MAX_BODY)
                self.reply(pattern(n), "application/octet-stream")
            else:
                self.reply(f"backend {a.name}\n".encode())

        def do_POST(self):
            n = min(int(self.headers.get("Content-Length", "0")), MAX_BODY)
            body = self.rfile.read(n)
            self.reply(hashlib.sha256(body).hexdigest().encode())

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.alpn:
        ctx.set_alpn_protocols(a.alpn.split(","))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    # The handshake runs in the handler's thread (first read), not in accept().
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
