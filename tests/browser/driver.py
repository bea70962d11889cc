#!/usr/bin/python3
"""Drives headless Chromium (Debian's `chromium` + `chromedriver`) through
tests/browser/page.html over the W3C WebDriver HTTP API, standard library only.

    driver.py SPEC.json

It must run inside a network namespace that has nothing but loopback (the
test starts it with nsenter into one it made): it refuses to start Chromium
anywhere else. SPEC.json (written by tests/integration/test_browser.py):

    {"workdir": dir for logs, profile and HOME,
     "page_dir": folder with page.html and page.js,
     "chromium": "/usr/bin/chromium", "chromedriver": "/usr/bin/chromedriver",
     "chromium_args": [...],           flags for Chromium (see README.md)
     "home": HOME for Chromium (holds the NSS db with the test CA),
     "wait_tcp": [["127.0.0.1", port], ...],   listeners to wait for first
     "wait_udp": [["127.0.0.1", port], ...],   STUN Binding must be answered
     "scenarios": [{"name": ..., "iceServers": [...], "timeoutMs": ms}],
     "deadline": seconds for everything,
     "host_netns": inode of the caller's network namespace (must differ),
     "result": path of the JSON result file}

The result file holds {"ok": bool, "error": str|null, "browser": version,
"scenarios": {name: what ternRun() returned}}. Every wait is bounded; at the
end the WebDriver session is closed and chromedriver, Chromium and every other
process started below this one are killed by pid (this process is their child
subreaper, so orphans come back to it).
"""

import ctypes
import http.server
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PR_SET_CHILD_SUBREAPER = 36
HTTP_TIMEOUT = 30.0
STOP_GRACE = 3.0


class DriverError(Exception):
    pass


# --- where we are -----------------------------------------------------------------
def check_isolated_netns(host_inode):
    """Refuses to go on unless this process is in a network namespace other
    than the caller's (host_inode) whose only interface is loopback."""
    mine = os.stat("/proc/self/ns/net").st_ino
    if not host_inode or mine == host_inode:
        raise DriverError("refusing to run Chromium in the caller's network namespace")
    with open("/proc/net/dev") as f:
        names = [line.split(":", 1)[0].strip() for line in f.readlines()[2:]]
    if names != ["lo"]:
        raise DriverError(f"network namespace has interfaces other than lo: {names}")
    # lo must be up: bind and connect to 127.0.0.1.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.connect(s.getsockname())
    except OSError as e:
        raise DriverError(f"loopback is not up in the namespace: {e}") from e
    finally:
        s.close()


# --- readiness --------------------------------------------------------------------
def wait_tcp(addr, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(tuple(addr), timeout=1.0):
                return
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise DriverError(f"nothing accepted on tcp {addr[0]}:{addr[1]}: {last}")


def wait_stun_udp(addr, deadline):
    """A STUN Binding request answered with a success response."""
    tid = os.urandom(12)
    req = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(req, tuple(addr))
            try:
                data, _ = s.recvfrom(2048)
            except (socket.timeout, ConnectionRefusedError):
                time.sleep(0.05)
                continue
            if len(data) >= 20 and data[8:20] == tid and data[:2] == b"\x01\x01":
                return
    finally:
        s.close()
    raise DriverError(f"no STUN Binding answer from udp {addr[0]}:{addr[1]}")


# --- the page ----------------------------------------------------------------------
def serve_pages(page_dir):
    """http.server on 127.0.0.1 (a secure context for WebRTC), in a thread."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=page_dir, **kw)

        def log_message(self, fmt, *args):  # quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.timeout = 5
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True)
    t.start()
    return httpd


# --- WebDriver over HTTP --------------------------------------------------------------
class WebDriver:
    def __init__(self, base, deadline):
        self.base = base
        self.deadline = deadline
        self.session = None

    def call(self, method, path, body=None, timeout=HTTP_TIMEOUT):
        # No request outlives the driver's deadline (closing gets 5 s more).
        timeout = max(1.0, min(timeout, self.deadline + 5 - time.monotonic()))
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                reply = json.loads(r.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            raise DriverError(f"WebDriver {method} {path}: HTTP {e.code}: {text[:2000]}") from e
        except (urllib.error.URLError, OSError) as e:
            raise DriverError(f"WebDriver {method} {path}: {e}") from e
        return reply.get("value")

    def wait_ready(self, deadline):
        last = None
        while time.monotonic() < deadline:
            try:
                v = self.call("GET", "/status", timeout=2)
                if v and v.get("ready"):
                    return
            except DriverError as e:
                last = e
            time.sleep(0.1)
        raise DriverError(f"chromedriver never became ready: {last}")

    def new_session(self, binary, args):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
            "timeouts": {"script": 60000, "pageLoad": 20000, "implicit": 0},
        }}}
        v = self.call("POST", "/session", caps, timeout=60)
        self.session = v["sessionId"]
        return v.get("capabilities", {})

    def s(self, method, path, body=None, timeout=HTTP_TIMEOUT):
        return self.call(method, f"/session/{self.session}{path}", body, timeout)

    def close(self):
        if self.session:
            try:
                self.call("DELETE", f"/session/{self.session}", timeout=10)
            except DriverError:
                pass
            self.session = None


# --- processes -----------------------------------------------------------------------
def descendants(root):
    """Pids of every process whose parent chain leads to root."""
    parent = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            parent[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out = []
    for pid in parent:
        p, hops = pid, 0
        while p in parent and p not in (0, 1) and hops < 64:
            p = parent[p]
            hops += 1
            if p == root:
                out.append(pid)
                break
    return out


def kill_tree(root):
    """SIGTERM then SIGKILL every descendant of root, by pid, and reap them."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = descendants(root)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + STOP_GRACE
        while time.monotonic() < end and descendants(root):
            reap()
            time.sleep(0.05)
    reap()
    return descendants(root)


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def free_local_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- main ---------------------------------------------------------------------------
def run(spec, result):
    deadline = time.monotonic() + spec.get("deadline", 90)
    check_isolated_netns(spec.get("host_netns"))
    for addr in spec.get("wait_tcp", []):
        wait_tcp(addr, min(deadline, time.monotonic() + 10))
    for addr in spec.get("wait_udp", []):
        wait_stun_udp(addr, min(deadline, time.monotonic() + 10))

    httpd = serve_pages(spec["page_dir"])
    page_url = f"http://127.0.0.1:{httpd.server_address[1]}/page.html"
    workdir = spec["workdir"]
    # Chromium puts its singleton socket in TMPDIR; a pytest tmp_path is
    # longer than a unix socket path may be, so a short one of our own.
    short_tmp = tempfile.mkdtemp(prefix="tern-browser-", dir="/tmp")
    env = dict(os.environ, HOME=spec["home"], TMPDIR=short_tmp)
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(k, None)
    cd_port = free_local_port()
    log = open(os.path.join(workdir, "chromedriver.log"), "wb")
    cd = subprocess.Popen([spec["chromedriver"], f"--port={cd_port}", "--allowed-ips=127.0.0.1",
                           "--enable-chrome-logs",
                           f"--log-path={os.path.join(workdir, 'chromedriver-verbose.log')}"],
                          stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                          cwd=workdir)
    wd = WebDriver(f"http://127.0.0.1:{cd_port}", deadline)
    try:
        wd.wait_ready(min(deadline, time.monotonic() + 15))
        caps = wd.new_session(spec["chromium"], spec["chromium_args"])
        result["browser"] = caps.get("browserVersion")
        wd.s("POST", "/url", {"url": page_url}, timeout=30)
        for sc in spec["scenarios"]:
            left = deadline - time.monotonic()
            if left < 5:
                raise DriverError(f"out of time before scenario {sc['name']}")
            timeout_ms = int(min(sc.get("timeoutMs", 20000), (left - 3) * 1000 / 2))
            wd.s("POST", "/timeouts", {"script": timeout_ms * 2 + 2000})
            script = ("const done = arguments[arguments.length - 1];"
                      "ternRun(arguments[0], arguments[1]).then(done,"
                      " (e) => done({ok: false, error: String(e)}));")
            r = wd.s("POST", "/execute/async",
                     {"script": script,
                      "args": [sc["iceServers"], {"timeoutMs": timeout_ms,
                                                  "messages": sc.get("messages", 5)}]},
                     timeout=timeout_ms * 2 / 1000 + 10)
            result["scenarios"][sc["name"]] = r
        result["ok"] = True
    finally:
        wd.close()
        try:
            cd.terminate()
            cd.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            cd.kill()
            cd.wait(STOP_GRACE)
        left_over = kill_tree(os.getpid())
        if left_over:
            result["leftover_pids"] = left_over
        log.close()
        httpd.shutdown()
        httpd.server_close()
        shutil.rmtree(short_tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    result = {"ok": False, "error": None, "browser": None, "scenarios": {}}
    rc = 0
    try:
        run(spec, result)
    except Exception as e:  # reported in the result file, and by the exit code
        result["error"] = f"{type(e).__name__}: {e}"
        rc = 1
    finally:
        # Anything still below us (e.g. after an exception before the
        # cleanup in run()) is killed by pid here.
        kill_tree(os.getpid())
        with open(spec["result"], "w") as f:
            json.dump(result, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
