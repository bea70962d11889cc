"""Helpers for the observability scenarios: HTTP GETs to ternd's endpoint,
Prometheus text parsing, clients bound to a chosen loopback address."""

import json
import socket
import urllib.error
import urllib.request

import turnclient as tc


# Loopback only: never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=3.0):
    """(status, body text); HTTP errors are answers too; (None, why) when
    nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def parse_metrics(text):
    """{'name{labels}': value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def metric_samples(d):
    """The parsed /metrics of a ternd started with a metrics endpoint."""
    status, body = http_get(d.metrics_url + "/metrics")
    assert status == 200, body
    return parse_metrics(body)


def allocation_listing(d):
    """The /allocations listing (one JSON object per allocation)."""
    status, body = http_get(d.metrics_url + "/allocations")
    assert status == 200, body
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def metric_sum(samples, name):
    """Sum of a metric's samples over all label sets."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def bound_udp_client(ternd, user, local_ip, timeout=2.0):
    """A UDP TurnClient whose socket is bound to local_ip (e.g. 127.13.37.5)."""
    username, password = ternd.creds(user)
    c = tc.TurnClient(ternd.udp4, "udp", username, password, timeout=timeout)
    c.t.sock.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.bind((local_ip, 0))
    s.connect(ternd.udp4)
    c.t.sock = s
    return c, username
