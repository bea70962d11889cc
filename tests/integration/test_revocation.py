"""Revocation through Redis: ternd follows the stream <prefix>revocations in a
real redis-server on loopback; `ternctl revoke` (or a raw XADD) revokes a
user id or one credential; live allocations are torn down at once on every
worker and every relay, new requests get 401; the feed's health decides
whether new allocations are served when Redis is away; the snapshot keeps
revocations across a restart without Redis; AUTH, ACL users and TLS.

Needs redis-server (and openssl for the TLS test). Every process is started
through conftest's `procs` and stopped by pid at teardown."""

import json
import os
import shutil
import subprocess
import time

import pytest

import turnclient as tc
from conftest import TERNCTL, TERND
from helpers import slowed, wait_until
from redis_support import (RedisServer, Resp, TcpProxy, make_tls_material, read_snapshot,
                           revocation_group, tls_unsupported, wait_log, write_password_file)

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")

KEY = b"tern:revocations"
CH = 0x4001
FRESH = "revocation feed is fresh"
STALE_SERVING = "revocation feed is stale: serving"
STALE_REFUSING = "beyond the grace period: refusing"


# --- fixtures and helpers -----------------------------------------------------------
@pytest.fixture
def redis_factory(procs, tmp_path):
    n = [0]

    def make(**kw):
        n[0] += 1
        return RedisServer(procs, str(tmp_path / f"redis{n[0]}"), **kw).start()
    return make


@pytest.fixture
def proxies():
    made = []

    def make(target_port):
        p = TcpProxy(target_port)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


def relay_cfg(redis_port, state_dir, rev=None, auth=None, limits=None):
    """An edit() for ternd_factory adding the revocation group."""
    os.makedirs(state_dir, exist_ok=True)

    def edit(cfg):
        cfg["revocation"] = revocation_group(redis_port, state_dir, **(rev or {}))
        cfg["auth"].update(auth or {})
        cfg["limits"]["allocations_per_user"] = 200
        cfg["limits"].update(limits or {})
    return edit


def start_relay(ternd_factory, redis_port, state_dir, workers=1, wait_fresh=True, **kw):
    t = ternd_factory.start(workers=workers, relay_ports=120,
                            edit=relay_cfg(redis_port, state_dir, **kw))
    if wait_fresh:
        assert wait_log(t.proc, FRESH, 8), "the feed never became fresh:\n" + t.proc.stderr_text()
    return t


def stop_relay(t):
    """Stops a ternd mid-test by pid; it must exit 0 on SIGTERM."""
    alive = t.proc.alive()
    rc = t.proc.stop()
    t.proc.check_exit = False
    assert alive and rc == 0, f"ternd exited with {rc}"


def ternctl(t, *args, check=True):
    r = subprocess.run([TERNCTL, *args, "--config", t.config_path], capture_output=True,
                       timeout=15)
    if check:
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def revoke(t, kind, ident):
    r = ternctl(t, "revoke", f"--{kind}", ident)
    assert r.stdout.startswith(b"revoked; stream entry "), r.stdout
    return r.stdout.split()[-1].decode()


def leg(t, peer, user=None, transport="udp", creds=None, ttl=3600):
    """A client with an allocation and CH bound to peer."""
    username, password = creds or t.creds(user, ttl)
    c = tc.TurnClient(t.udp4, transport, username, password, timeout=2.0)
    c.allocate()
    c.channel_bind(CH, peer.addr)
    return c


def heard_from(peer, clients, wait=0.35):
    """Every client sends one ChannelData; the relays the peer heard from."""
    for c in clients:
        try:
            c.send_channel_data(CH, b"probe")
        except OSError:
            pass
    heard = set()
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return heard
        got = peer.recvfrom(left)
        if got:
            heard.add(got[1])


def clients_hearing(peer, clients, wait=0.35):
    """The peer sends to every relay; the clients that got it as ChannelData."""
    for c in clients:
        peer.sendto(b"back", c.allocation.relay)
    time.sleep(wait)
    got = []
    for c in clients:
        for _ in range(20):
            d = c.recv_data(0.02)  # (TCP reads nothing with a zero timeout)
            if d is None:
                break
            if d == ("channel", CH, b"back"):
                got.append(c)
                break
    return got


def relays(clients):
    return {c.allocation.relay for c in clients}


def alive(peer, c, wait=0.35):
    return c.allocation.relay in heard_from(peer, [c], wait)


def allocate_code(t, user=None, creds=None, transport="udp", ttl=3600):
    """0 when an Allocate succeeds, else its error code."""
    username, password = creds or t.creds(user, ttl)
    with tc.TurnClient(t.udp4, transport, username, password, timeout=2.0) as c:
        try:
            c.allocate()
            return 0
        except tc.TurnError as e:
            return e.code


def close_all(clients):
    for c in clients:
        c.close()


# --- (a) teardown on several workers --------------------------------------------------
def test_revoke_user_tears_down_on_every_worker(ternd_factory, redis_factory, tmp_path):
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, str(tmp_path / "state"), workers=4)
    peer = tc.UdpPeer(timeout=1.0)
    # Two credentials of the victim (all credentials of a user are covered).
    victim_creds = [t.creds("victim-42", 3600), t.creds("victim-42", 1800)]
    victims, keepers = [], []
    try:
        for i in range(24):
            victims.append(leg(t, peer, creds=victim_creds[i % 2],
                               transport="udp" if i < 12 else "tcp"))
        for i in range(6):
            keepers.append(leg(t, peer, user="keeper-7", transport="udp" if i < 3 else "tcp"))
        everyone = victims + keepers
        assert heard_from(peer, everyone) == relays(everyone)
        # 30 distinct 5-tuples over 4 SO_REUSEPORT workers: several workers hold some.
        t0 = time.monotonic()
        revoke(t, "user", "victim-42")
        time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
        heard = heard_from(peer, everyone)
        assert heard & relays(victims) == set(), "revoked allocations still relay after 1 s"
        assert heard == relays(keepers)
        assert set(clients_hearing(peer, everyone)) == set(keepers)
        for c in victims[::5]:
            code = c.request(tc.REFRESH).error_code()
            assert code in (401, 437), code
        for c in keepers:
            assert c.refresh() > 0
        assert allocate_code(t, "victim-42") == 401
        assert allocate_code(t, "victim-42", transport="tcp") == 401
        assert allocate_code(t, "keeper-7") == 0
        assert "1 revocation(s) applied" in t.proc.stderr_text()
    finally:
        close_all(victims + keepers)
        peer.close()


# --- (b) one credential --------------------------------------------------------------
def test_revoke_credential_refuses_only_that_username(ternd_factory, redis_factory, tmp_path):
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, str(tmp_path / "state"), workers=2)
    peer = tc.UdpPeer(timeout=1.0)
    bad, good = t.creds("carol", 3600), t.creds("carol", 3500)
    a = leg(t, peer, creds=bad)
    b = leg(t, peer, creds=good, transport="tcp")
    try:
        revoke(t, "credential", bad[0])
        ok = wait_until(lambda: not alive(peer, a, 0.2), 2.0, 0.05)
        assert ok, "the revoked credential's allocation still relays"
        assert alive(peer, b)
        assert b.refresh() > 0
        assert a.request(tc.REFRESH).error_code() in (401, 437)
        assert allocate_code(t, creds=bad) == 401
        assert allocate_code(t, creds=good) == 0
        assert allocate_code(t, "carol", ttl=3400) == 0
    finally:
        close_all([a, b])
        peer.close()


# --- (c) listing and expiry ----------------------------------------------------------
def test_listing_and_expiry(ternd_factory, redis_factory, tmp_path):
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, str(tmp_path / "state"),
                    auth={"max_ttl": 60, "clock_skew": 0})
    # Expires in 4 s (20 s when slowed: it must outlive the two revocations).
    short_ttl = 20 if slowed(TERND) else 4
    short = t.creds("erin", short_ttl)
    other = t.creds("erin", 50)
    t_rev = int(time.time())
    revoke(t, "user", "dave")
    revoke(t, "credential", short[0])
    text = ternctl(t, "revocations").stdout.decode()
    lines = text.splitlines()
    assert len(lines) == 2, text
    assert any(ln.startswith("user") and ln.endswith("dave") for ln in lines), text
    assert any(ln.startswith("credential") and ln.endswith(short[0]) for ln in lines), text
    rows = [json.loads(ln) for ln in ternctl(t, "revocations", "--json").stdout.splitlines()]
    by_kind = {row["kind"]: row for row in rows}
    assert by_kind["user"]["id"] == "dave"
    assert t_rev + 60 <= by_kind["user"]["until"] <= t_rev + 62
    assert by_kind["credential"]["id"] == short[0]
    assert by_kind["credential"]["until"] == int(short[0].split(":")[0])
    for row in rows:
        # (each ternctl takes seconds under valgrind)
        entry_s = int(row["entry"].split("-")[0]) // 1000
        assert t_rev <= entry_s <= t_rev + (6 if slowed(TERND) else 1)

    assert wait_until(lambda: allocate_code(t, creds=short) == 401, 2.0, 0.1)
    assert allocate_code(t, creds=other) == 0
    assert allocate_code(t, "dave", ttl=30) == 401
    # The user entry covers only credentials expiring by revocation + max_ttl
    # (+ skew 0): one minted later that outlives that bound is not covered.
    until = by_kind["user"]["until"]
    time.sleep(max(0.0, until + 1 - 60 - time.time() + 0.1))
    assert allocate_code(t, creds=t.creds("dave", 0, now=until + 1)) == 0
    assert allocate_code(t, creds=t.creds("dave", 0, now=until)) == 401

    # The credential entry lapses with the credential: gone from the listing.
    def listed_credentials():
        out = ternctl(t, "revocations", "--json").stdout.splitlines()
        return [json.loads(ln)["kind"] for ln in out].count("credential")
    assert wait_until(lambda: listed_credentials() == 0, short_ttl + 4.0, 0.25), \
        "expired entry still listed"
    assert [json.loads(ln)["id"] for ln in ternctl(t, "revocations", "--json").stdout
            .splitlines()] == ["dave"]
    assert allocate_code(t, creds=short) == 401  # expired credential: refused as expired
    assert allocate_code(t, creds=other) == 0


# --- (d) cut off from Redis, and Redis killed -------------------------------------------
def test_revocations_made_while_cut_off_are_enforced_on_return(ternd_factory, redis_factory,
                                                               proxies, tmp_path):
    r = redis_factory()
    px = proxies(r.port)
    t = start_relay(ternd_factory, px.port, str(tmp_path / "state"))
    peer = tc.UdpPeer(timeout=1.0)
    a = leg(t, peer, user="frank")
    try:
        px.set_mode("drop")
        assert wait_log(t.proc, "Redis connection failed", 3)
        with r.client() as rc:
            rc.xadd(KEY, "user", "frank")
        time.sleep(1.0)
        assert alive(peer, a), "enforced although ternd cannot see Redis"
        px.set_mode("pass")
        t0 = time.monotonic()
        assert wait_until(lambda: not alive(peer, a, 0.15), 10.0, 0.05), \
            "revocation made during the cut not enforced after the link came back"
        took = time.monotonic() - t0
        assert took < 9.0, took
        assert allocate_code(t, "frank") == 401
    finally:
        a.close()
        peer.close()


def test_silent_network_is_detected_and_recovered(ternd_factory, redis_factory, proxies,
                                                  tmp_path):
    """Packets vanish (no RST, no EOF): the feed must notice within stale_after,
    drop the connection, and pick up what was added meanwhile."""
    r = redis_factory()
    px = proxies(r.port)
    t = start_relay(ternd_factory, px.port, str(tmp_path / "state"))
    px.set_mode("blackhole")
    with r.client() as rc:
        rc.xadd(KEY, "user", "quiet-user")
    assert wait_log(t.proc, STALE_SERVING, 8), "a silent Redis link never made the feed stale"
    px.set_mode("pass")
    assert wait_log(t.proc, FRESH, 12, count=2)
    assert wait_until(lambda: allocate_code(t, "quiet-user") == 401, 3.0, 0.1)


def test_redis_kill9_and_restart_from_aof(ternd_factory, redis_factory, proxies, procs,
                                          tmp_path):
    r = redis_factory()
    px = proxies(r.port)
    t = start_relay(ternd_factory, px.port, str(tmp_path / "state"))
    peer = tc.UdpPeer(timeout=1.0)
    legs = {u: leg(t, peer, user=u) for u in ("gina", "ivy", "hank", "stays")}
    try:
        revoke(t, "user", "gina")
        assert wait_until(lambda: not alive(peer, legs["gina"], 0.15), 2.0, 0.05)
        # ivy is revoked while ternd is cut off, and only the AOF keeps it
        # across the kill -9.
        px.set_mode("drop")
        assert wait_log(t.proc, "Redis connection failed", 3)
        with r.client() as rc:
            rc.xadd(KEY, "user", "ivy")
        r.kill9()
        r2 = RedisServer(procs, r.dir, port=r.port).start()
        with r2.client() as rc:
            ids = [f[b"id"] for _, f in rc.xrange(KEY)]
        assert ids == [b"gina", b"ivy"], ids
        px.set_mode("pass")
        revoke(t, "user", "hank")  # after the restart
        for u in ("ivy", "hank"):
            assert wait_until(lambda: not alive(peer, legs[u], 0.15), 10.0, 0.05), u
        assert alive(peer, legs["stays"])
        for u in ("gina", "ivy", "hank"):
            assert allocate_code(t, u) == 401, u
        assert allocate_code(t, "stays") == 0
    finally:
        close_all(legs.values())
        peer.close()


# --- (e) the snapshot ---------------------------------------------------------------
def test_snapshot_enforced_after_restart_without_redis(ternd_factory, redis_factory, procs,
                                                       tmp_path):
    state = str(tmp_path / "state")
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, state)
    revoke(t, "user", "jack")
    snap = os.path.join(state, "revocations.snapshot")
    assert wait_until(lambda: os.path.exists(snap) and b"jack".hex() in open(snap).read(),
                      2.5, 0.1), "snapshot not saved within ~1 s of the change"
    stop_relay(t)
    r.stop()
    t2 = start_relay(ternd_factory, r.port, state, wait_fresh=False)
    assert "1 revocation(s) in force from the snapshot" in t2.proc.stderr_text()
    assert allocate_code(t2, "jack") == 401
    assert allocate_code(t2, "jill") == 0
    r2 = RedisServer(procs, r.dir, port=r.port).start()
    assert wait_log(t2.proc, FRESH, 20), "ternd did not reconnect when Redis came back"
    del r2
    revoke(t2, "user", "kate")
    assert wait_until(lambda: allocate_code(t2, "kate") == 401, 2.0, 0.1)
    assert allocate_code(t2, "jack") == 401
    assert allocate_code(t2, "jill") == 0


# --- (f) two relays -----------------------------------------------------------------
def test_two_relays_share_one_redis(ternd_factory, redis_factory, tmp_path):
    r = redis_factory()
    t1 = start_relay(ternd_factory, r.port, str(tmp_path / "s1"), workers=2)
    t2 = start_relay(ternd_factory, r.port, str(tmp_path / "s2"), workers=2)
    peer = tc.UdpPeer(timeout=1.0)
    legs = [leg(t, peer, user=u, transport=tr) for t in (t1, t2)
            for u, tr in (("liam", "udp"), ("liam", "tcp"), ("noah", "udp"))]
    try:
        revoke(t1, "user", "liam")
        time.sleep(1.0)
        assert heard_from(peer, legs) == relays([c for c in legs if c.username.endswith(":noah")])
        for t in (t1, t2):
            assert allocate_code(t, "liam") == 401
            assert allocate_code(t, "noah") == 0
        assert os.path.exists(tmp_path / "s1" / "revocations.snapshot")
        assert os.path.exists(tmp_path / "s2" / "revocations.snapshot")
    finally:
        close_all(legs)
        peer.close()


# --- (g) stale-feed policy ----------------------------------------------------------
def test_stale_feed_policy(ternd_factory, redis_factory, procs, tmp_path):
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, str(tmp_path / "state"),
                    rev={"stale_after": 6, "stale_grace": 3})
    peer = tc.UdpPeer(timeout=1.0)
    a = leg(t, peer, user="mia")
    made = []
    try:
        assert alive(peer, a)
        r.stop()
        assert wait_log(t.proc, STALE_SERVING, 8), "never stale"
        assert alive(peer, a)
        assert allocate_code(t, "nora") == 0, "new allocations must be served during the grace"
        assert wait_log(t.proc, STALE_REFUSING, 5), "grace period never ended"
        assert alive(peer, a), "an established allocation must keep relaying while stale"
        assert a.refresh() > 0
        assert allocate_code(t, "nora") == 508
        assert allocate_code(t, "olga", transport="tcp") == 508
        r2 = RedisServer(procs, r.dir, port=r.port).start()
        del r2
        assert wait_log(t.proc, FRESH, 20, count=2), "never fresh again"
        assert alive(peer, a)
        assert allocate_code(t, "nora") == 0
        log = t.proc.stderr_text()
        assert log.count(STALE_SERVING) == 1, log
        assert log.count(STALE_REFUSING) == 1, log
        assert log.count(FRESH) == 2, log
    finally:
        close_all([a] + made)
        peer.close()


# --- (h) hostile strings ------------------------------------------------------------
# Usable in a credential (ternd's user ids: 1..256 bytes, no control bytes) ...
HOSTILE_CRED_IDS = ["with space", "%s%n%x%p", "*?[", "alice*", "ALICE", "x" * 256]
# ... and not (still revocable, stored and snapshotted verbatim).
HOSTILE_RAW = [b"cr\r\nlf", b"\xff\xfe\x00bin\x80", b"nul\x00inside", b"\x1b]0;title\x07",
               b"z" * 500]


def test_hostile_ids_match_exactly_and_survive_the_snapshot(ternd_factory, redis_factory,
                                                            tmp_path):
    state = str(tmp_path / "state")
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, state)
    for ident in HOSTILE_CRED_IDS:
        assert allocate_code(t, ident) == 0, ident  # usable before
    for ident in HOSTILE_CRED_IDS:
        revoke(t, "user", ident)
    revoke(t, "user", "üñï-çødé")                     # UTF-8 through ternctl
    revoke(t, "user", "cr\r\nlf-ctl")                  # control bytes through ternctl
    with r.client() as rc:
        for raw in HOSTILE_RAW:
            rc.xadd(KEY, "user", raw)
        rc.xadd(KEY, "credential", b"\x00\x01" * 256)      # 512 bytes: the limit
        rc.xadd(KEY, "user", b"y" * 513)                     # too long: skipped
        rc.xadd(KEY, "bogus", "alice")                       # not a revocation: skipped
        got = [f[b"id"] for _, f in rc.xrange(KEY)]
    expected = ([i.encode() for i in HOSTILE_CRED_IDS] + ["üñï-çødé".encode(), b"cr\r\nlf-ctl"]
                + HOSTILE_RAW
                + [b"\x00\x01" * 256, b"y" * 513, b"alice"])
    assert got == expected, "Redis did not receive the ids verbatim"

    def check(tt):
        for ident in HOSTILE_CRED_IDS:
            assert allocate_code(tt, ident) == 401, ident
        for ident in ("alice", "Alice", "with", "with  space", "x" * 255, "%s", "y", "z"):
            assert allocate_code(tt, ident) == 0, ident
    assert wait_until(lambda: allocate_code(t, "x" * 256) == 401, 2.0, 0.1)
    check(t)
    assert t.proc.alive()

    snap = os.path.join(state, "revocations.snapshot")
    want = {("user", v) for v in expected[:-3]} | {("credential", b"\x00\x01" * 256)}

    def snapshot_entries():
        try:
            return {(k, v) for k, _, v in read_snapshot(snap)[1]}
        except (OSError, AssertionError, IndexError, ValueError):
            return set()
    assert wait_until(lambda: snapshot_entries() == want, 3.0, 0.1), snapshot_entries() ^ want
    # The listing keeps hostile bytes inert and JSON parses; "id_hex" gives
    # the exact bytes back (and "id" is the text when it is UTF-8).
    text = ternctl(t, "revocations").stdout
    assert b"\r" not in text and b"\x1b" not in text and b"\x00" not in text
    rows = [json.loads(ln) for ln in ternctl(t, "revocations", "--json").stdout.splitlines()]
    listed = {bytes.fromhex(row["id_hex"]) for row in rows}
    for row in rows:
        raw = bytes.fromhex(row["id_hex"])
        try:
            assert row["id"] == raw.decode("utf-8")
        except UnicodeDecodeError:
            assert row["id"] is None
    # Only what ternd enforces is listed (the 513-byte and bogus-kind entries are not).
    assert listed == {v for _, v in want}
    stop_relay(t)
    r.stop()
    t2 = start_relay(ternd_factory, r.port, state, wait_fresh=False)
    assert f"{len(want)} revocation(s) in force from the snapshot" in t2.proc.stderr_text()
    check(t2)


# --- (i) AUTH and ACL users -----------------------------------------------------------
def test_redis_password_and_acl_user(ternd_factory, redis_factory, tmp_path):
    r = redis_factory(password="master-pw-0123")
    with r.client() as rc:
        assert rc.command("ACL", "SETUSER", "tern", "on", ">tern-pw-4567", "~tern:*",
                          "+xread", "+xadd", "+xrange", "+xtrim", "+ping") == b"OK"
    pw_acl = write_password_file(str(tmp_path / "acl.pw"), "tern-pw-4567")
    pw_default = write_password_file(str(tmp_path / "default.pw"), "master-pw-0123")
    pw_wrong = write_password_file(str(tmp_path / "wrong.pw"), "wrong-pw-SECRETVALUE")
    t_acl = start_relay(ternd_factory, r.port, str(tmp_path / "s1"),
                        rev={"username": "tern", "password_file": pw_acl})
    t_def = start_relay(ternd_factory, r.port, str(tmp_path / "s2"),
                        rev={"password_file": pw_default})
    t_bad = start_relay(ternd_factory, r.port, str(tmp_path / "s3"), wait_fresh=False,
                        rev={"username": "tern", "password_file": pw_wrong})
    t_none = start_relay(ternd_factory, r.port, str(tmp_path / "s4"), wait_fresh=False)
    revoke(t_acl, "user", "pam")          # ternctl with the ACL user
    revoke(t_def, "credential", "1:x")    # and with the default user's password
    for t in (t_acl, t_def):
        assert wait_until(lambda: allocate_code(t, "pam") == 401, 2.0, 0.1)
        assert allocate_code(t, "quinn") == 0
    assert wait_log(t_bad.proc, "authentication refused", 3), t_bad.proc.stderr_text()
    assert wait_log(t_none.proc, "NOAUTH", 3), t_none.proc.stderr_text()
    time.sleep(1.5)
    for t in (t_bad, t_none):
        log = t.proc.stderr_text()
        assert FRESH not in log, log
        assert allocate_code(t, "pam") == 0   # stale: serving the last-known (empty) set
    assert "SECRETVALUE" not in t_bad.proc.stderr_text()
    bad = ternctl(t_bad, "revocations", check=False)
    assert bad.returncode == 1 and b"WRONGPASS" in bad.stderr, bad


# --- (j) TLS to Redis ----------------------------------------------------------------
def test_redis_over_tls(ternd_factory, redis_factory, procs, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    m = make_tls_material(str(tmp_path / "pki"))
    try:
        r = redis_factory(tls=m)
    except RuntimeError as e:
        why = tls_unsupported(str(e))
        if why:
            pytest.skip(f"redis-server built without TLS: {why}")
        raise
    by_name = start_relay(ternd_factory, r.port, str(tmp_path / "s1"),
                          rev={"tls": True, "tls_ca": m["ca"], "tls_server_name": m["name"]})
    by_ip = start_relay(ternd_factory, r.port, str(tmp_path / "s2"),
                        rev={"tls": True, "tls_ca": m["ca"]})
    wrong_ca = start_relay(ternd_factory, r.port, str(tmp_path / "s3"), wait_fresh=False,
                           rev={"tls": True, "tls_ca": m["other_ca"],
                                "tls_server_name": m["name"]})
    wrong_name = start_relay(ternd_factory, r.port, str(tmp_path / "s4"), wait_fresh=False,
                             rev={"tls": True, "tls_ca": m["ca"],
                                  "tls_server_name": "other.test"})
    plain = start_relay(ternd_factory, r.port, str(tmp_path / "s5"), wait_fresh=False)
    revoke(by_name, "user", "rita")       # ternctl over TLS too
    for t in (by_name, by_ip):
        assert wait_until(lambda: allocate_code(t, "rita") == 401, 2.0, 0.1)
        assert allocate_code(t, "sam") == 0
    for t in (wrong_ca, wrong_name):
        assert wait_log(t.proc, "Redis connection failed: TLS: certificate verify failed", 3), \
            t.proc.stderr_text()
        assert "connected to Redis" not in t.proc.stderr_text()
    time.sleep(1.0)
    for t in (wrong_ca, wrong_name, plain):
        log = t.proc.stderr_text()
        assert FRESH not in log, log
        assert allocate_code(t, "rita") == 0
    with Resp(r.port, tls_ca=m["ca"], tls_server_name=m["name"]) as rc:
        assert [f[b"id"] for _, f in rc.xrange(KEY)] == [b"rita"]


def test_listing_shows_only_what_ternd_enforces(ternd_factory, redis_factory):
    r = redis_factory()
    _, path, _ = ternd_factory.write(edit=relay_cfg(r.port, str(r.dir) + "-state"))
    with r.client() as rc:
        rc.xadd(KEY, "bogus", "alice")
        rc.xadd(KEY, "user", b"y" * 513)
    out = subprocess.run([TERNCTL, "revocations", "--json", "--config", path],
                         capture_output=True, timeout=15)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"", out.stdout


def test_stale_only_after_stale_after_seconds(ternd_factory, redis_factory, tmp_path):
    r = redis_factory()
    t = start_relay(ternd_factory, r.port, str(tmp_path / "state"),
                    rev={"stale_after": 6, "stale_grace": 0})
    revoke(t, "user", "ursula")                 # ternd's read answers at once
    assert wait_log(t.proc, "1 revocation(s) applied", 2)
    r.stop()                                    # last answer: just now
    assert not wait_log(t.proc, "revocation feed is stale", 3.0) and \
        STALE_REFUSING not in t.proc.stderr_text(), "stale within 3 s of the last answer"
