"""Unauthenticated answers are small and rate limited per source (no
amplification, DESIGN.md "Hardening stance")."""

import time

import turnclient as tc

RT_UDP = [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())]


def limited(cfg):
    cfg["limits"]["unauth_rate"] = 5
    cfg["limits"]["unauth_burst"] = 10


def burst(c, method, n, attrs=RT_UDP):
    """Sends n requests (distinct tids) as fast as possible and counts
    answers over the following second."""
    sent = 0
    for _ in range(n):
        c.send_raw(tc.encode(tc.Message(method, tc.REQUEST, attrs=attrs)))
        sent += 1
    answers, start = 0, time.monotonic()
    for _ in range(n):
        left = 1.0 - (time.monotonic() - start)
        if left <= 0 or c.recv_raw(left) is None:
            break
        answers += 1
    return sent, answers, time.monotonic() - start


def test_unauthenticated_answers_are_rate_limited(ternd_factory):
    d = ternd_factory.start(edit=limited)
    with tc.TurnClient(d.udp4) as c:
        sent, answers, elapsed = burst(c, tc.ALLOCATE, 100)
        assert 1 <= answers <= 10 + 5 * (elapsed + 1), (sent, answers)


def test_rate_limit_refills(ternd_factory):
    d = ternd_factory.start(edit=limited)
    with tc.TurnClient(d.udp4) as c:
        burst(c, tc.ALLOCATE, 50)
        time.sleep(1.5)
        resp = c.request(tc.ALLOCATE, RT_UDP, auth=False)
        assert resp.error_code() == 401


def test_other_source_not_limited(ternd_factory):
    d = ternd_factory.start(edit=limited)
    with tc.TurnClient(d.udp4) as a, tc.TurnClient(d.udp6) as b:
        burst(a, tc.ALLOCATE, 100)
        assert b.request(tc.ALLOCATE, RT_UDP, auth=False).error_code() == 401


def test_authenticated_traffic_not_limited_by_unauth_bucket(ternd_factory):
    d = ternd_factory.start(edit=limited)
    with d.client() as c, tc.UdpPeer() as peer:
        c.allocate()
        for _ in range(30):
            c.create_permission(peer.addr)


def test_401_is_small(ternd):
    with tc.TurnClient(ternd.udp4) as c:
        req = tc.encode(tc.Message(tc.ALLOCATE, tc.REQUEST, attrs=RT_UDP))
        c.send_raw(req)
        resp = c.recv_raw()
        assert resp is not None
        # The challenge carries REALM, NONCE and an empty-reason ERROR-CODE.
        assert len(resp) <= 128, len(resp)
        assert len(resp) <= 4 * len(req), (len(resp), len(req))


def test_binding_answer_is_small(ternd):
    with tc.TurnClient(ternd.udp6) as c:
        req = tc.encode(tc.Message(tc.BINDING, tc.REQUEST))
        c.send_raw(req)
        resp = c.recv_raw()
        assert resp is not None and len(resp) <= 20 + 24 + 8, len(resp)


def test_unknown_attribute_answer_does_not_echo_padding(ternd):
    # A request stuffed with many unknown comprehension-required attributes
    # must not be answered with more than a bounded UNKNOWN-ATTRIBUTES list.
    with tc.TurnClient(ternd.udp4) as c:
        attrs = [(0x7000 + i, b"") for i in range(200)]
        req = tc.encode(tc.Message(tc.BINDING, tc.REQUEST, attrs=attrs))
        c.send_raw(req)
        resp = c.recv_raw()
        if resp is not None:
            assert len(resp) <= len(req), (len(resp), len(req))
