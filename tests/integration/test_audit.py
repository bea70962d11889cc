"""The audit trail on disk: `ternctl audit verify` on an intact trail, one
with an edited record, a deleted record and a cut-off last line (each named
by its line); the chain continues across a restart; and a full disk (a tiny
tmpfs in a mount namespace of the test's own) costs audit records, counted
and logged once, never relaying."""

import os
import shutil
import subprocess

import pytest

import turnclient as tc
from conftest import TERNCTL, TERND
from helpers import wait_until
from metrics_support import http_get, parse_metrics


def verify(path):
    r = subprocess.run([TERNCTL, "audit", "verify", str(path)], capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode() + r.stderr.decode()


def stop_ternd(d):
    d.proc.check_exit = False
    assert d.proc.stop() == 0


def audit_config(path):
    def edit(cfg):
        cfg["audit"] = {"file": str(path), "client_address": "truncated"}
    return edit


def some_allocations(d, n=3):
    for i in range(n):
        with d.client(user=f"auditor-{i}") as c:
            c.allocate()
            c.refresh(600)
            c.refresh(0)


@pytest.fixture
def trail(ternd_factory, tmp_path):
    """A trail written by ternd: creation record plus 3 x (created, refreshed, deleted)."""
    path = tmp_path / "audit.jsonl"
    d = ternd_factory.start(edit=audit_config(path))
    some_allocations(d)
    stop_ternd(d)
    return path


def test_intact_and_continued_across_restart(ternd_factory, trail):
    rc, out = verify(trail)
    assert rc == 0, out
    assert out.strip() == "OK: 10 records"
    d = ternd_factory.start(edit=audit_config(trail))
    some_allocations(d, 1)
    stop_ternd(d)
    rc, out = verify(trail)
    assert rc == 0, out
    assert out.strip() == "OK: 13 records"


def rewrite(path, lines):
    path.write_text("".join(lines))


def test_edited_record(trail):
    lines = trail.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace("auditor-1", "auditor-9")
    assert "auditor-9" in lines[4]
    rewrite(trail, lines)
    rc, out = verify(trail)
    assert rc == 1
    assert "line 5:" in out and "edited" in out, out


def test_deleted_record(trail):
    lines = trail.read_text().splitlines(keepends=True)
    del lines[5]
    rewrite(trail, lines)
    rc, out = verify(trail)
    assert rc == 1
    assert "line 6:" in out and "deleted" in out, out


def test_reordered_records(trail):
    lines = trail.read_text().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    rewrite(trail, lines)
    rc, out = verify(trail)
    assert rc == 1
    assert "line 3:" in out, out


def test_truncated_file(trail):
    data = trail.read_bytes()
    trail.write_bytes(data[:-30])
    n_lines = data.count(b"\n")
    rc, out = verify(trail)
    assert rc == 1
    assert f"line {n_lines}:" in out and "cut off" in out, out


def test_ternd_refuses_a_trail_it_cannot_continue(ternd_factory, trail):
    trail.write_bytes(trail.read_bytes()[:-30])
    cfg, path, _ = ternd_factory.write(edit=audit_config(trail))
    r = subprocess.run([TERND, "-c", path], capture_output=True, timeout=30)
    assert r.returncode == 1
    assert b"ternctl audit verify" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare(1) for a private tmpfs")
def test_disk_full_keeps_relaying(ternd_factory, procs, tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    cfg, path, port = ternd_factory.write(edit=audit_config(mnt / "audit.jsonl"))
    # ternd in a mount namespace of its own with an 8 KiB tmpfs for the trail.
    proc = procs("ternd", ["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f'mount -t tmpfs -o size=8k tmpfs "{mnt}" && exec "{TERND}" -c "{path}"'])
    from conftest import Ternd, SECRET, wait_for_binding
    d = Ternd(proc, cfg, path, port, [SECRET])
    wait_for_binding(d.udp4, proc)
    url = d.metrics_url + "/metrics"
    for i in range(40):
        with d.client(user=f"disk-full-user-{i:03d}") as c:
            c.allocate()
            c.refresh(600)
            c.refresh(0)
        samples = parse_metrics(http_get(url)[1])
        if samples.get("tern_audit_write_errors_total", 0) > 0:
            break
    assert wait_until(lambda: parse_metrics(http_get(url)[1]).get(
        "tern_audit_write_errors_total", 0) > 0, 5), "no write error was counted"
    # The relay goes on.
    with d.client(user="after-the-disk-filled") as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        c.create_permission(peer.addr)
        c.send_indication(peer.addr, b"still relaying")
        assert peer.recvfrom() == (b"still relaying", relay)
    assert proc.alive()
    log = proc.stderr_text()
    assert log.count("audit trail cannot be written") == 1, log
    samples = parse_metrics(http_get(url)[1])
    assert samples["tern_audit_records_total"] > 0
