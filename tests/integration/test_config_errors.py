"""Configuration errors: `ternd --check-config` names file:line for each
kind of mistake, and ternd refuses to start with a bad config."""

import os
import re
import subprocess

import pytest

from conftest import TERND, render_config

RUN_TIMEOUT = 20


@pytest.fixture
def factory(ternd_factory):
    return ternd_factory


def check(path):
    return subprocess.run([TERND, "--check-config", "-c", path], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def lines_of(path, needles):
    """Line numbers of the lines holding any of the needles."""
    found = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if any(needle in line for needle in needles):
                found.append(n)
    assert found, f"{needles!r} not in {path}"
    return found


def test_good_config_passes(factory):
    _, path, _ = factory.write()
    r = check(path)
    assert r.returncode == 0, r.stdout + r.stderr


def set_key(section, key, value):
    def edit(cfg):
        if section is None:
            cfg[key] = value
        else:
            cfg[section][key] = value
    return edit


BAD = {
    "unknown-top-level-key": (set_key(None, "bogus_key", 1), "bogus_key"),
    "unknown-key-in-section": (set_key("limits", "allocations_per_usr", 3), "allocations_per_usr"),
    "workers-out-of-range": (set_key(None, "workers", 100000), "workers"),
    "nonce-lifetime-too-small": (set_key("auth", "nonce_lifetime", 5), "nonce_lifetime"),
    "zero-unauth-rate": (set_key("limits", "unauth_rate", 0), "unauth_rate"),
    "port-min-above-max": (set_key("relay", "port_min", 65000), ("port_min", "port_max")),
    "bad-cidr-prefix": (set_key("peers", "deny", ["10.0.0.0/33"]), "deny"),
    "bad-cidr-address": (set_key("peers", "allow", ["10.0.0.256/8"]), "allow"),
    "bad-cidr-v6": (set_key("peers", "allow", ["::1/129"]), "allow"),
    "bad-hmac": (set_key("auth", "hmac", "md5"), "hmac"),
    "bad-listen-address": (set_key("listen", "udp", ["127.0.0.1:99999"]), "udp ="),
    "bad-log-level": (set_key("log", "level", "chatty"), "level"),
    "wrong-type": (set_key(None, "realm", 5), "realm"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_config_names_file_and_line(factory, name):
    edit, needle = BAD[name]
    _, path, _ = factory.write(edit=edit)
    r = check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    needles = needle if isinstance(needle, tuple) else (needle,)
    lines = lines_of(path, needles)
    pattern = re.escape(path) + r":(%s):\s*\S" % "|".join(map(str, lines))
    assert re.search(pattern, out), \
        f"want {path}:{lines}: in\n{out}\n--- config:\n{open(path).read()}"


def test_syntax_error_names_line(factory, tmp_path):
    cfg, path, _ = factory.write()
    text = render_config(cfg).splitlines()
    text.insert(3, "oops = { x }")
    with open(path, "w") as f:
        f.write("\n".join(text) + "\n")
    r = check(path)
    assert r.returncode == 1
    assert re.search(re.escape(path) + r":4:", r.stdout + r.stderr), r.stdout + r.stderr


def test_missing_file(tmp_path):
    r = check(str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert "nope.conf" in r.stdout + r.stderr


def test_missing_secrets_file(factory, tmp_path):
    _, path, _ = factory.write(edit=set_key("auth", "secrets_file", str(tmp_path / "absent")))
    r = check(path)
    assert r.returncode == 1
    assert "absent" in r.stdout + r.stderr or re.search(r":\d+:", r.stdout + r.stderr)


def test_short_secret_refused(factory):
    _, path, _ = factory.write(secrets=("tooshort",))
    assert check(path).returncode == 1


def test_world_readable_secrets_refused(factory):
    cfg, path, _ = factory.write()
    os.chmod(cfg["auth"]["secrets_file"], 0o644)
    assert check(path).returncode == 1


@pytest.mark.parametrize("name", ["unknown-top-level-key", "bad-cidr-prefix"])
def test_ternd_refuses_to_start(factory, procs, name):
    edit, _ = BAD[name]
    _, path, _ = factory.write(edit=edit)
    p = procs("ternd", [TERND, "-c", path])
    try:
        rc = p.popen.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("ternd started with a bad config")
    assert rc != 0
    assert path in p.stderr_text() + p.stdout_text()
