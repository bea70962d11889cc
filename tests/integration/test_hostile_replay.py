"""Hostile: replayed and forged authentication.

  * the exact bytes of a signed Allocate and CreatePermission, replayed from
    another source address: the nonce is bound to the first client's address,
    so the replay gets 438 (or 401) and changes nothing (no allocation for the
    second address: its own Refresh gets 437);
  * forged nonces (a flipped character, another client's nonce, a nonce of
    another length, the RFC 8489 example nonce): 401/438, no allocation;
  * a stale nonce (nonce_lifetime = 10 s, waited out): 438 with a fresh nonce,
    and the fresh one works.
"""

import time

import pytest

import turnclient as tc
from helpers import first_401, signed
from hostile_support import CLIENT4, Netns, client, start_ternd

REPLAYER = "9.9.9.10"
NONCE_LIFETIME = 10


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    ns.add_addrs([REPLAYER])
    d = start_ternd(ns, procs, tmp_path,
                    edit=lambda cfg: cfg["auth"].update(nonce_lifetime=NONCE_LIFETIME))
    return ns, d


def alloc_attrs():
    return [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())]


def test_replay_from_another_address_has_no_effect(world):
    ns, d = world
    a = client(ns, d, src=CLIENT4)
    b = client(ns, d, src=REPLAYER)
    try:
        first_401(a)
        msg, data = signed(a, tc.ALLOCATE, alloc_attrs())
        resp = b.transact_bytes(data, msg.tid)          # replayed before the owner uses it
        assert resp is not None and resp.error_code() in (401, 438), resp
        resp = a.transact_bytes(data, msg.tid)
        assert resp is not None and resp.cls == tc.SUCCESS, resp
        msg, data = signed(a, tc.CREATE_PERMISSION, [tc.peer_attr("1.1.1.1", 0)])
        resp = b.transact_bytes(data, msg.tid)
        assert resp is not None and resp.error_code() in (401, 437, 438), resp
        # The replayer has no allocation of its own.
        b.username, b.password = a.username, a.password
        resp = b.request(tc.REFRESH, [(tc.LIFETIME, tc.encode_u32(600))])
        assert resp.error_code() == 437, resp
    finally:
        a.close()
        b.close()


def test_forged_nonces_refused(world):
    ns, d = world
    a = client(ns, d)
    other = client(ns, d, src=REPLAYER)
    try:
        first_401(a)
        first_401(other)
        good = a.nonce
        flipped = bytearray(good)
        flipped[-3] = ord("A") if flipped[-3] != ord("A") else ord("B")
        forged = [bytes(flipped), other.nonce, good[:-1], good + b"A",
                  b"obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA", b""]
        for nonce in forged:
            a.nonce = nonce
            msg, data = signed(a, tc.ALLOCATE, alloc_attrs())
            resp = a.transact_bytes(data, msg.tid)
            assert resp is not None and resp.error_code() in (400, 401, 438), (nonce, resp)
        a.nonce = good
        resp = a.request(tc.REFRESH, [(tc.LIFETIME, tc.encode_u32(600))])
        assert resp.error_code() == 437, "a forged nonce made an allocation"
    finally:
        a.close()
        other.close()


def test_stale_nonce_gets_438_then_works(world):
    ns, d = world
    a = client(ns, d)
    try:
        first_401(a)
        time.sleep(NONCE_LIFETIME + 1.5)
        msg, data = signed(a, tc.ALLOCATE, alloc_attrs())
        resp = a.transact_bytes(data, msg.tid)
        assert resp is not None and resp.error_code() == 438 and resp.has(tc.NONCE), resp
        assert resp.get(tc.NONCE) != a.nonce
        a._learn(resp)
        a.allocate()
    finally:
        a.close()
