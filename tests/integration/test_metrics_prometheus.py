"""ternd's /metrics scraped by a real Prometheus server (Debian's
`prometheus`) while traffic flows: the ingested series are read back through
Prometheus's HTTP API. Also /healthz, /readyz (503 while draining, with the
reason) and `promtool check metrics` on the page."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

import pytest

import turnclient as tc
from conftest import free_port
from helpers import wait_until
from metrics_support import http_get, metric_sum, parse_metrics

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
USERS = 3


def start_prometheus(procs, tmp_path, target):
    port = free_port(("127.0.0.1",))
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: ternd\n    static_configs:\n"
        f"      - targets: ['{target}']\n")
    proc = procs("prometheus", [PROMETHEUS, f"--config.file={cfg}",
                                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: proc.alive() and http_get(url + "/-/ready")[0] == 200, 30), \
        "prometheus did not become ready:\n" + proc.stderr_text()[-3000:]
    return url


def prom_query(url, expr):
    """The value of an instant query's single result, or None."""
    status, body = http_get(url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if status != 200:
        return None
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus is not installed (apt-get install prometheus)")
def test_prometheus_ingests_ternd(ternd_factory, procs, tmp_path):
    d = ternd_factory.start(workers=2)
    prom = start_prometheus(procs, tmp_path, d.metrics_url.removeprefix("http://"))
    clients, peers = [], []
    try:
        for i in range(USERS):
            c = d.client(user=f"metrics-user-{i}")
            relay = c.allocate().relayed[0]
            peer = tc.UdpPeer()
            c.channel_bind(0x4001, peer.addr)
            clients.append((c, relay))
            peers.append(peer)
        # Traffic both ways while Prometheus scrapes.
        for _ in range(20):
            for (c, relay), peer in zip(clients, peers):
                c.send_channel_data(0x4001, b"x" * 100)
                assert peer.recvfrom() is not None
                peer.sendto(b"y" * 50, relay)
                assert c.recv_data() is not None
            time.sleep(0.05)
        got = wait_until(lambda: prom_query(prom, "sum(tern_allocations_active)") == USERS, 30)
        assert got, f"active allocations in Prometheus: {prom_query(prom, 'sum(tern_allocations_active)')}"
        pkts = wait_until(lambda: (prom_query(
            prom, 'sum(tern_relayed_packets_total{direction="to_peer"})') or 0) >= 20 * USERS, 20)
        assert pkts, "relayed packets never reached Prometheus"
        assert prom_query(prom, 'sum(tern_relayed_bytes_total{direction="to_client"})') >= 20 * USERS * 50
        assert prom_query(prom, 'tern_allocations_created_total{transport="udp",family="ipv4"}') == USERS
        assert prom_query(prom, 'tern_build_info') == 1
        assert prom_query(prom, 'count(tern_worker_loop_lag_seconds)') == 2
        assert prom_query(prom, 'up{job="ternd"}') == 1

        status, text = http_get(d.metrics_url + "/metrics")
        assert status == 200
        samples = parse_metrics(text)
        assert metric_sum(samples, "tern_allocations_active") == USERS
        assert samples['tern_allocation_live_lifetime_seconds_count'] == USERS
        assert samples['tern_relay_ports_in_use{family="ipv4"}'] == USERS
        if PROMTOOL:
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=30)
            assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()

        assert http_get(d.metrics_url + "/healthz") == (200, "ok\n")
        assert http_get(d.metrics_url + "/readyz") == (200, "ready\n")
        os.kill(d.proc.pid, signal.SIGUSR1)  # drain: calls in progress keep it running
        assert wait_until(lambda: http_get(d.metrics_url + "/readyz")[0] == 503, 5)
        status, why = http_get(d.metrics_url + "/readyz")
        assert "draining" in why
        assert http_get(d.metrics_url + "/healthz")[0] == 200
        assert wait_until(lambda: prom_query(prom, "tern_draining") == 1, 10)
    finally:
        for c, _ in clients:
            c.close()
        for p in peers:
            p.close()


def test_endpoint_paths(ternd):
    base = ternd.metrics_url
    assert http_get(base + "/nope")[0] == 404
    # per_allocation is off by default: no listing at all.
    assert http_get(base + "/allocations")[0] == 404
    status, text = http_get(base + "/metrics")
    assert status == 200 and "# TYPE tern_allocations_active gauge" in text
    assert 'tern_revocation_feed_fresh 1' in text


def test_metrics_listen_empty_disables(ternd_factory):
    def no_http(cfg):
        cfg["metrics"] = {"listen": ""}
    d = ternd_factory.start(edit=no_http)
    assert d.metrics_url is None


def test_alerts_and_dashboard_name_real_metrics(ternd):
    """Every tern_* series the alert rules and the dashboard use is exported,
    and the rules pass `promtool check rules`."""
    import re
    from conftest import REPO
    status, text = http_get(ternd.metrics_url + "/metrics")
    assert status == 200
    exported = set(re.findall(r"^# TYPE (tern_\w+) (\w+)$", text, re.M))
    names = {n for n, _ in exported}
    names |= {n + s for n, t in exported if t == "histogram" for s in ("_bucket", "_sum", "_count")}
    for f in ("metrics/alerts.yml", "metrics/dashboard.json"):
        with open(os.path.join(REPO, f)) as fh:
            used = set(re.findall(r"\btern_[a-z0-9_]+", fh.read()))
        used.discard("tern_relay")  # the dashboard's uid
        assert used, f
        assert used <= names, f"{f} uses unknown metrics: {sorted(used - names)}"
    json.load(open(os.path.join(REPO, "metrics/dashboard.json")))
    if PROMTOOL:
        r = subprocess.run([PROMTOOL, "check", "rules", os.path.join(REPO, "metrics/alerts.yml")],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
