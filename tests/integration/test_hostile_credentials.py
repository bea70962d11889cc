"""Hostile: credential edge cases, each signed correctly for what it claims
(the attacker knows the HMAC scheme, not the secret, except where said):
expired, expiring now, further ahead than max_ttl + clock_skew, malformed
usernames (no colon, sign, 20 digits, control characters, empty user id,
over-long), a wrong password, and a secret rotated out of the secrets file.
Each gets 401 and no allocation; a good credential still works afterwards.
"""

import time

import pytest

import turnclient as tc
from conftest import SECRET, SECRET2
from hostile_support import Netns, client, start_ternd

MAX_TTL, SKEW = 3600, 30


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    d = start_ternd(ns, procs, tmp_path,
                    edit=lambda cfg: cfg["auth"].update(max_ttl=MAX_TTL, clock_skew=SKEW))
    return ns, d


def attempt(ns, d, username, password):
    c = client(ns, d, username=username, password=password, timeout=1.0)
    try:
        return c.request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())])
    finally:
        c.close()


def test_bad_credentials_refused(world):
    ns, d = world
    now = int(time.time())
    pw = lambda u: tc.rest_password(SECRET, u)  # noqa: E731
    cases = {
        "expired": f"{now - 10}:mallory",
        "expires now": f"{now}:mallory",
        "too far ahead": f"{now + MAX_TTL + SKEW + 120}:mallory",
        "year 2286": "9999999999:mallory",
        "int64 max": "9223372036854775807:mallory",
        "20 digits": "99999999999999999999:mallory",
        "no colon": f"{now + 60}mallory",
        "plus sign": f"+{now + 60}:mallory",
        "empty user id": f"{now + 60}:",
        "control char": f"{now + 60}:mall\tory",
        "long user id": f"{now + 60}:" + "m" * 300,
        "not REST": "mallory",
    }
    for what, username in cases.items():
        resp = attempt(ns, d, username, pw(username))
        assert resp.error_code() == 401, f"{what}: {resp}"
    good = f"{now + 600}:mallory"
    resp = attempt(ns, d, good, "d3JvbmcgcGFzc3dvcmQ=")
    assert resp.error_code() == 401, f"wrong password: {resp}"
    resp = attempt(ns, d, good, tc.rest_password(SECRET2, good))
    assert resp.error_code() == 401, f"secret not (or no longer) in the file: {resp}"
    resp = attempt(ns, d, good, pw(good))
    assert resp.cls == tc.SUCCESS, f"good credential after the attempts: {resp}"

