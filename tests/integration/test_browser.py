"""A real browser through Tern: headless Chromium (Debian's `chromium` and
`chromium-driver`) connects two RTCPeerConnections in one page, both with
iceTransportPolicy "relay" and one iceServers entry pointing at ternd, once
over TURN/UDP, TURN/TCP and TURN/TLS. Data-channel messages must arrive both
ways, and getStats() must show a selected pair of two relay candidates whose
local one has the expected relayProtocol ("udp", "tcp", "tls").

Recipe (tests/browser/README.md explains each step):

- Network safety: Chromium and chromedriver run only inside a network
  namespace that this test creates (`unshare --net`, a `sleep` holds it) and
  that has nothing but `lo`; ternd runs in the same namespace
  (`nsenter --net=/proc/PID/ns/net`). tests/browser/driver.py refuses to start
  Chromium unless its namespace is not the host's and `lo` is its only
  interface. At the end every process in that namespace is killed by pid; the
  namespace goes away with its last process.
- Chromium flags: --headless --no-sandbox --disable-gpu --disable-quic
  --no-first-run --disable-background-networking --disable-component-update
  --disable-sync --user-data-dir=<fresh temp dir>, plus
  --allow-loopback-in-peer-connection (without it WebRTC ignores the loopback
  interface, so with only `lo` it has no network to gather on at all) and
  --host-resolver-rules="MAP turn.tern.test 127.0.0.1, EXCLUDE localhost"
  (the TLS server name resolves without DNS).
- TLS: a throw-away CA and a server certificate (SAN DNS:turn.tern.test,
  IP:127.0.0.1) made with openssl in the temp dir; the CA is trusted through an
  NSS database in a temp HOME ($HOME/.pki/nssdb, certutil from libnss3-tools),
  so Chromium verifies ternd's certificate for real: no
  --ignore-certificate-errors.
- ternd: UDP, TCP and TLS listeners on 127.0.0.1, relay address 127.0.0.1,
  peers.allow 127.0.0.0/8 (both relayed addresses are loopback).
  Credentials come from `ternctl mint --json`; its urls give the UDP and TCP
  entries, the turns: URL is built from the same credential.

Needs root (unshare/nsenter) and the Debian packages chromium,
chromium-driver, libnss3-tools, openssl, util-linux, iproute2. A missing
browser fails the test: it is never skipped.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import TERND, TERNCTL, default_config, render_config, write_secrets, SECRET

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BROWSER_DIR = os.path.join(REPO, "tests", "browser")
DRIVER = os.path.join(BROWSER_DIR, "driver.py")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DEBS = "chromium chromium-driver libnss3-tools openssl util-linux iproute2"

TLS_NAME = "turn.tern.test"
# Ports inside the test's own network namespace, where nothing else listens;
# the relay range sits below the kernel's ephemeral range.
PORT, TLS_PORT = 3478, 5349
RELAY_LO, RELAY_HI = 20000, 20199

# Bounds: a passing case takes about 2 s; a failing one about 12 s (the
# scenario timeout); a hung driver is killed after DRIVER_TIMEOUT.
DRIVER_DEADLINE = 30     # seconds for the driver: browser start + one scenario
DRIVER_TIMEOUT = DRIVER_DEADLINE + 10
SCENARIO_TIMEOUT_MS = 10000
NETNS_WAIT = 5.0
RUN_TIMEOUT = 20

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--no-default-browser-check",
    "--disable-extensions", "--mute-audio",
    # WebRTC on loopback: without this flag the loopback interface is not a
    # network for ICE, and the namespace has no other.
    "--allow-loopback-in-peer-connection",
    # The turns: URL names turn.tern.test; no DNS in the namespace.
    f"--host-resolver-rules=MAP {TLS_NAME} 127.0.0.1, EXCLUDE localhost",
]

TRANSPORTS = {
    # name: (iceServers url, expected relayProtocol of the local candidate)
    "udp": (f"turn:127.0.0.1:{PORT}?transport=udp", "udp"),
    "tcp": (f"turn:127.0.0.1:{PORT}?transport=tcp", "tcp"),
    "tls": (f"turns:{TLS_NAME}:{TLS_PORT}?transport=tcp", "tls"),
}


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def require_tools():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    missing += [t for t in ("certutil", "openssl", "unshare", "nsenter", "ip")
                if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: apt-get install {DEBS} "
                    "(tests/run.sh installs them)")
    if os.geteuid() != 0:
        pytest.fail("the browser test needs root for its network namespace (unshare --net)")


# --- TLS material ---------------------------------------------------------------
def make_certificates(d):
    """A throw-away CA and a server certificate for turn.tern.test and
    127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in ("key.pem", "server.csr", "cert.pem"))
    ext = os.path.join(d, "server.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=Tern browser test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={TLS_NAME}"])
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{TLS_NAME},IP:127.0.0.1\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext])
    os.chmod(key, 0o600)
    os.chmod(ca_key, 0o600)
    return ca, cert, key


def trust_ca_for_chromium(home, ca):
    """Chromium on Linux trusts the roots of the NSS db in $HOME/.pki/nssdb."""
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db, mode=0o700)
    run(["certutil", "-d", f"sql:{db}", "-N", "--empty-password"])
    run(["certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "Tern browser test CA",
         "-i", ca])


# --- the namespace ----------------------------------------------------------------
def netns_inode(pid):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def pids_in_netns(inode, exclude=()):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            if os.stat(f"/proc/{name}/ns/net").st_ino == inode:
                out.append(int(name))
        except OSError:
            continue
    return out


def kill_netns_pids(inode, exclude):
    """Kills by pid every process in the test's namespace but those in exclude
    (which the procs fixture stops itself)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = pids_in_netns(inode, exclude)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 3
        while pids and time.monotonic() < end:
            pids = pids_in_netns(inode, exclude)
            time.sleep(0.05)
    return pids_in_netns(inode, exclude)


def start_netns(procs):
    """A `sleep` in a new network namespace with only lo, up; returns the Proc."""
    holder = procs("netns", ["unshare", "--net", "--", "/bin/sh", "-c",
                             "ip link set lo up && exec sleep 600"])
    host = netns_inode(os.getpid())
    end = time.monotonic() + NETNS_WAIT
    while time.monotonic() < end:
        try:
            with open(f"/proc/{holder.pid}/comm") as f:
                comm = f.read().strip()
            if comm == "sleep" and netns_inode(holder.pid) != host:
                return holder
        except OSError:
            pass
        if not holder.alive():
            break
        time.sleep(0.02)
    raise AssertionError(f"network namespace did not come up:\n{holder.stderr_text()}")


def in_netns(holder, argv):
    return ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--", *argv]


# --- ternd --------------------------------------------------------------------------
def ternd_config(tmp, cert, key):
    secrets = str(tmp / "secrets")
    write_secrets(secrets, [SECRET])
    cfg = default_config(PORT, RELAY_LO, RELAY_HI, secrets, workers=2)
    cfg["listen"] = {"udp": [f"127.0.0.1:{PORT}"], "tcp": [f"127.0.0.1:{PORT}"]}
    cfg["relay"]["addresses"] = ["127.0.0.1"]
    cfg["peers"] = {"allow": ["127.0.0.0/8"], "deny": []}
    cfg["tls"] = {"listen": [f"127.0.0.1:{TLS_PORT}"], "certificate": cert,
                  "private_key": key}
    path = str(tmp / "ternd.conf")
    with open(path, "w") as f:
        f.write(render_config(cfg))
    return path


def mint(config_path):
    r = run([TERNCTL, "mint", "--user", "browser", "--ttl", "900", "--config", config_path,
             "--json"])
    entry = json.loads(r.stdout)["iceServers"][0]
    return entry["urls"], entry["username"], entry["credential"]


# --- the test ------------------------------------------------------------------------
def check_side(name, sel, want_proto):
    assert sel and sel.get("found"), f"{name}: no selected candidate pair in getStats(): {sel}"
    local, remote = sel["local"], sel["remote"]
    assert local and local["candidateType"] == "relay", f"{name}: local candidate {local}"
    assert remote and remote["candidateType"] == "relay", f"{name}: remote candidate {remote}"
    assert local["relayProtocol"] == want_proto, \
        f"{name}: local relayProtocol {local['relayProtocol']!r}, wanted {want_proto!r}"
    for c in (local, remote):
        assert c["address"] == "127.0.0.1" and RELAY_LO <= c["port"] <= RELAY_HI, \
            f"{name}: candidate {c} is not a ternd relayed address"


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_chromium_data_channel_through_relay(procs, tmp_path, transport):
    require_tools()
    if not os.access(TERND, os.X_OK):
        pytest.fail(f"ternd binary not found at {TERND} (set $TERND)")
    url, want_proto = TRANSPORTS[transport]
    home = tmp_path / "home"
    work = tmp_path / "browser"
    os.makedirs(work)
    ca, cert, key = make_certificates(str(tmp_path))
    trust_ca_for_chromium(str(home), ca)
    config_path = ternd_config(tmp_path, cert, key)

    urls, username, credential = mint(config_path)
    if transport != "tls":
        assert url in urls, f"ternctl mint printed {urls}, wanted {url}"

    holder = start_netns(procs)
    ns = netns_inode(holder.pid)
    ternd = procs("ternd", in_netns(holder, [TERND, "-c", config_path]))
    ternd.check_exit = True
    try:
        spec = {
            "workdir": str(work), "page_dir": BROWSER_DIR, "home": str(home),
            "chromium": CHROMIUM, "chromedriver": CHROMEDRIVER,
            "chromium_args": CHROMIUM_ARGS + [f"--user-data-dir={work / 'profile'}"],
            "wait_tcp": [["127.0.0.1", PORT], ["127.0.0.1", TLS_PORT]],
            "wait_udp": [["127.0.0.1", PORT]],
            "scenarios": [{"name": transport, "timeoutMs": SCENARIO_TIMEOUT_MS,
                           "iceServers": [{"urls": [url], "username": username,
                                           "credential": credential}]}],
            "deadline": DRIVER_DEADLINE,
            "host_netns": netns_inode(os.getpid()),
            "result": str(work / "result.json"),
        }
        spec_path = str(tmp_path / "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        out_path = work / "driver.out"
        with open(out_path, "wb") as out:
            try:
                subprocess.run(in_netns(holder, [sys.executable, DRIVER, spec_path]),
                               stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                               timeout=DRIVER_TIMEOUT)
                driver_out = ""
            except subprocess.TimeoutExpired:
                driver_out = f"driver killed after {DRIVER_TIMEOUT} s\n"
        driver_out += out_path.read_text(errors="replace")[-6000:]
        result = {}
        if os.path.exists(spec["result"]):
            with open(spec["result"]) as f:
                result = json.load(f)
        if not result.get("ok"):
            logs = ""
            for n in ("chromedriver.log",):
                p = work / n
                if p.exists():
                    logs += f"--- {n}\n" + p.read_text(errors="replace")[-6000:]
            pytest.fail(f"browser driver failed: {result.get('error')}\n{driver_out}\n{logs}")
        r = result["scenarios"][transport]
        detail = json.dumps({k: r.get(k) for k in ("phase", "error", "candidates",
                                                    "candidateErrors", "iceState", "gathering",
                                                    "selected")}, indent=1)
        assert r.get("ok"), f"{transport}: {r.get('error')}\n{detail}"
        # Messages both ways, all of them, in order, byte for byte.
        assert r["received"]["b"] == r["sent"]["a"], f"a->b differs\n{detail}"
        assert r["received"]["a"] == r["sent"]["b"], f"b->a differs\n{detail}"
        assert len(r["sent"]["a"]) >= 5 and len(r["sent"]["b"]) >= 5
        for c in r["candidates"]["a"] + r["candidates"]["b"]:
            assert " typ relay " in c, f"a non-relay candidate was gathered: {c}\n{detail}"
        check_side("pc a", r["selected"]["a"], want_proto)
        check_side("pc b", r["selected"]["b"], want_proto)
        # Each side's remote candidate is one of the other side's relayed
        # addresses. (With a host name in a turn(s): URL Chromium may
        # allocate twice per connection, and the two ends may then nominate
        # different relays of the same peer: both are relays of the other side.)
        sa, sb = r["selected"]["a"], r["selected"]["b"]
        ports = {side: {int(c.split()[5]) for c in r["candidates"][side]} for side in ("a", "b")}
        assert sa["remote"]["port"] in ports["b"] and sb["remote"]["port"] in ports["a"], \
            f"a selected remote candidate is not the other side's relay\n{detail}"
        assert sa["local"]["port"] in ports["a"] and sb["local"]["port"] in ports["b"], \
            f"a selected local candidate is not this side's relay\n{detail}"
    finally:
        # Chromium, chromedriver and anything else but ternd and the holder
        # (the procs fixture stops those two by pid at teardown).
        left = kill_netns_pids(ns, exclude=(holder.pid, ternd.pid))
    assert not left, f"processes left in the test namespace: {left}"
