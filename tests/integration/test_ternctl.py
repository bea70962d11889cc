"""ternctl mint: prints a credential and a WebRTC iceServers entry that
ternd accepts; secrets are never accepted on the command line."""

import json
import subprocess

import pytest

import turnclient as tc
from conftest import TERNCTL

RUN_TIMEOUT = 20


def ternctl(*args):
    return subprocess.run([TERNCTL, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT)


def ice_servers(stdout):
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and "iceServers" in line:
            return json.loads(line)["iceServers"]
    raise AssertionError(f"no iceServers JSON in:\n{stdout}")


def test_mint_prints_working_credential(ternd):
    r = ternctl("mint", "--user", "carol", "--ttl", "600", "--config", ternd.config_path)
    assert r.returncode == 0, r.stderr
    servers = ice_servers(r.stdout)
    entry = servers[0]
    username, password = entry["username"], entry["credential"]
    expiry, user = username.split(":", 1)
    assert user == "carol"
    assert int(expiry) - 600 == pytest.approx(__import__("time").time(), abs=5)
    assert password == tc.rest_password(ternd.secrets[0], username)
    assert f"username: {username}" in r.stdout and f"password: {password}" in r.stdout
    urls = entry["urls"]
    assert f"turn:127.0.0.1:{ternd.port}?transport=udp" in urls
    assert f"turn:127.0.0.1:{ternd.port}?transport=tcp" in urls
    for transport in ("udp", "tcp"):
        with tc.TurnClient(ternd.udp4, transport, username, password) as c:
            assert c.allocate().relay


def test_mint_json_only(ternd):
    r = ternctl("mint", "--user", "dave", "--ttl", "60", "--config", ternd.config_path, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["iceServers"][0]["username"].endswith(":dave")


def test_mint_uses_first_secret(ternd_factory):
    d = ternd_factory.start(secrets=("first-secret-0123456789abcdef", "second-secret-0123456789abcd"))
    r = ternctl("mint", "--user", "erin", "--ttl", "60", "--config", d.config_path, "--json")
    entry = json.loads(r.stdout)["iceServers"][0]
    assert entry["credential"] == tc.rest_password("first-secret-0123456789abcdef",
                                                   entry["username"])


def test_mint_refuses_secret_on_command_line(ternd):
    r = ternctl("mint", "--user", "x", "--ttl", "60", "--secret", "abcdefghijklmnopqrstuvwxyz")
    assert r.returncode != 0
    assert "iceServers" not in r.stdout


def test_mint_refuses_ttl_beyond_max(ternd):
    max_ttl = ternd.config["auth"]["max_ttl"]
    r = ternctl("mint", "--user", "x", "--ttl", str(max_ttl + 1), "--config", ternd.config_path)
    assert r.returncode != 0
    assert "iceServers" not in r.stdout


def test_mint_sha256(ternd_factory):
    def edit(cfg):
        cfg["auth"]["hmac"] = "sha256"
    d = ternd_factory.start(edit=edit)
    r = ternctl("mint", "--user", "sha", "--ttl", "600", "--config", d.config_path, "--json")
    assert r.returncode == 0, r.stderr
    entry = json.loads(r.stdout)["iceServers"][0]
    assert entry["credential"] == tc.rest_password(d.secrets[0], entry["username"], "sha256")
    with tc.TurnClient(d.udp4, "udp", entry["username"], entry["credential"]) as c:
        assert c.allocate().relay
