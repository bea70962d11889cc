"""The two pipelines never mix: traffic from distinctive user ids and client
addresses (127.13.37.x) leaves no trace of them in /metrics, /allocations or
ternd's debug-level log, while the audit trail records who did what."""

import json
import re

import turnclient as tc
from helpers import wait_until
from metrics_support import bound_udp_client, http_get

USERS = {"dr-zebra-7781": "127.13.37.21", "patient-quokka-4410": "127.13.37.22"}


def configure(tmp_path):
    def edit(cfg):
        cfg["log"] = {"level": "debug"}
        cfg["metrics"]["per_allocation"] = True
        cfg["audit"] = {"file": str(tmp_path / "audit.jsonl"), "client_address": "full"}
    return edit


def make_traffic(d):
    """Allocations with relaying, a refresh, a policy refusal and a failed
    authentication per user; returns the usernames used."""
    usernames, held = [], []
    for user, ip in USERS.items():
        c, username = bound_udp_client(d, user, ip)
        usernames.append(username)
        held.append(c)
        relay = c.allocate().relay
        with tc.UdpPeer() as peer:
            c.create_permission(peer.addr)
            c.send_indication(peer.addr, b"hello")
            assert peer.recvfrom() is not None
            peer.sendto(b"back", relay)
            assert c.recv_data() is not None
        c.refresh(600)
        try:
            c.create_permission(("10.1.2.3", 9))  # private range: denied by policy
        except tc.TurnError as e:
            assert e.code == 403
        # A wrong password from the same address: refused authentication.
        wrong, _ = bound_udp_client(d, user, ip)
        wrong.password = "not-the-password"
        try:
            wrong.allocate()
        except (tc.TurnError, tc.StunError, TimeoutError):
            pass
        wrong.close()
    return usernames, held


def stop_ternd(d):
    """Stops ternd inside the test (its audit records of the shutdown are
    written at exit); it must exit 0."""
    d.proc.check_exit = False
    assert d.proc.stop() == 0


def forbidden_strings(usernames):
    return list(USERS) + usernames + ["127.13.37."]


def test_no_identities_in_metrics_or_logs(ternd_factory, tmp_path):
    d = ternd_factory.start(workers=2, edit=configure(tmp_path))
    usernames, held = make_traffic(d)
    try:
        # Figures are published once a second.
        assert wait_until(lambda: http_get(d.metrics_url + "/allocations")[1].count("\n") == len(USERS), 5)
        status, listing = http_get(d.metrics_url + "/allocations")
        assert status == 200
        rows = [json.loads(line) for line in listing.splitlines()]
        for row in rows:
            assert re.fullmatch(r"[0-9a-f]{16}", row["id"])
            assert set(row) == {"id", "worker", "transport", "family", "age_s", "packets_to_peer",
                                "bytes_to_peer", "packets_to_client", "bytes_to_client",
                                "peak_pps", "permissions", "channels", "media",
                                "figures_age_ms"}
            # media figures: counts and ratios only (no addresses, no SSRCs)
            assert set(row["media"]) == {"dtls_flows", "unencrypted_flows", "to_peer",
                                         "to_client"}
            assert row["packets_to_peer"] == 1 and row["packets_to_client"] == 1
        status, metrics = http_get(d.metrics_url + "/metrics")
        assert status == 200
        audit_path = tmp_path / "audit.jsonl"
        assert wait_until(lambda: audit_path.exists() and
                          audit_path.read_text().count("auth_refused") >= len(USERS), 5)
    finally:
        for c in held:
            c.close()
    stop_ternd(d)
    log = d.proc.stderr_text()
    assert "debug" in d.config["log"]["level"]
    for s in forbidden_strings(usernames):
        assert s not in metrics, f"{s!r} in /metrics"
        assert s not in listing, f"{s!r} in /allocations"
        assert s not in log, f"{s!r} in the log"

    audit = audit_path.read_text()
    records = [json.loads(line) for line in audit.splitlines()]
    for user, ip in USERS.items():
        mine = [r for r in records if r.get("user") == user]
        events = {r["event"] for r in mine}
        assert {"allocation_created", "allocation_refreshed", "permission_denied",
                "auth_refused", "allocation_deleted"} <= events, events
        assert all(r["client"].startswith(ip + ":") for r in mine)
        denied = [r for r in mine if r["event"] == "permission_denied"]
        assert denied[0]["peer"] == "10.1.2.3:9"
        refused = [r for r in mine if r["event"] == "auth_refused"]
        assert refused[0]["reason"] == "bad_integrity"
    # The listing's opaque ids are the audit trail's allocation ids.
    created = {r["allocation"] for r in records if r["event"] == "allocation_created"}
    assert {row["id"] for row in rows} <= created
    ended = [r for r in records if r["event"] == "allocation_deleted"]
    assert {r["reason"] for r in ended} == {"shutdown"}


def test_truncated_and_omitted_addresses(ternd_factory, tmp_path):
    for mode, want in (("truncated", "127.13.37.0/24"), ("omit", None)):
        path = tmp_path / f"audit-{mode}.jsonl"

        def edit(cfg, mode=mode, path=path):
            cfg["audit"] = {"file": str(path), "client_address": mode}
        d = ternd_factory.start(edit=edit)
        c, _ = bound_udp_client(d, "dr-zebra-7781", "127.13.37.30")
        c.allocate()
        c.close()
        stop_ternd(d)
        text = path.read_text()
        assert "127.13.37.30" not in text
        created = [json.loads(x) for x in text.splitlines() if "allocation_created" in x][0]
        assert created.get("client") == want
        assert created["user"] == "dr-zebra-7781"
