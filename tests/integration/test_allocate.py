"""Allocate: the 401 challenge, the success answer, retransmissions and
allocation mismatch (RFC 8656 7.1, 7.2; RFC 8489 9.2)."""

import pytest

import helpers as h
import turnclient as tc

RT_UDP = [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unauthenticated_allocate_is_challenged(ternd, transport):
    with ternd.client(transport) as c:
        resp = c.request(tc.ALLOCATE, RT_UDP, auth=False)
        assert resp.cls == tc.ERROR
        assert resp.error() == (401, "")
        assert resp.text(tc.REALM) == "tern.test"
        assert resp.get(tc.NONCE)
        assert not resp.has(tc.SOFTWARE)
        assert not resp.has(tc.MESSAGE_INTEGRITY)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("family", [4, 6])
def test_allocate_succeeds(ternd, transport, family):
    with ternd.client(transport, family=family) as c:
        alloc = c.allocate(family=h.FAMILY[family])
        assert len(alloc.relayed) == 1
        host, port = alloc.relay
        assert host == h.PEER_HOST[family]
        assert ternd.in_relay_range(port)
        assert alloc.mapped == c.local()
        assert alloc.lifetime == ternd.config["limits"]["default_lifetime"]
        assert not alloc.response.has(tc.SOFTWARE)
        assert tc.verify_integrity(alloc.response, c.key())


def test_allocate_default_family_is_ipv4(ternd):
    with ternd.client("udp", family=6) as c:
        assert c.allocate().relay[0] == "127.0.0.1"


def test_error_responses_have_empty_reason(ternd):
    with ternd.client("udp") as c:
        resp = c.request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT,
                                        tc.encode_requested_transport(tc.PROTO_TCP))])
        assert resp.error() == (442, "")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_retransmitted_allocate_gets_same_answer(ternd, transport):
    with ternd.client(transport) as c:
        h.first_401(c)
        msg, data = h.signed(c, tc.ALLOCATE, RT_UDP)
        first = c.transact_bytes(data, msg.tid)
        assert first is not None and first.cls == tc.SUCCESS, first
        again = c.transact_bytes(data, msg.tid)
        assert again is not None and again.cls == tc.SUCCESS, again
        assert again.xor_addresses(tc.XOR_RELAYED_ADDRESS) == \
            first.xor_addresses(tc.XOR_RELAYED_ADDRESS)
        assert again.xor_address(tc.XOR_MAPPED_ADDRESS) == first.xor_address(tc.XOR_MAPPED_ADDRESS)
        assert abs(again.lifetime() - first.lifetime()) <= 2
        assert tc.verify_integrity(again, c.key())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_second_allocate_on_same_5tuple_is_437(ternd, transport):
    with ternd.client(transport) as c:
        c.allocate()
        resp = c.request(tc.ALLOCATE, RT_UDP)
        assert resp.error_code() == 437


def test_allocations_get_distinct_relay_ports(ternd):
    clients = [ternd.client("udp", user=f"u{i}") for i in range(5)]
    try:
        relays = {c.allocate().relay for c in clients}
        assert len(relays) == 5
    finally:
        for c in clients:
            c.close()


def test_even_port(ternd):
    with ternd.client("udp") as c:
        alloc = c.allocate(even_port=False)
        assert alloc.relay[1] % 2 == 0
        assert alloc.reservation_token is None


def test_even_port_with_reservation(ternd):
    with ternd.client("udp") as a, ternd.client("udp") as b:
        alloc = a.allocate(even_port=True)
        assert alloc.relay[1] % 2 == 0
        assert alloc.reservation_token is not None and len(alloc.reservation_token) == 8
        second = b.allocate(reservation_token=alloc.reservation_token)
        assert second.relay == (alloc.relay[0], alloc.relay[1] + 1)


def test_dont_fragment_is_accepted(ternd):
    with ternd.client("udp") as c:
        assert c.allocate(dont_fragment=True).relay


@pytest.mark.parametrize("integrity", ["sha256", "both"])
def test_message_integrity_sha256(ternd, integrity):
    # RFC 8489 14.6: MESSAGE-INTEGRITY-SHA256 alone or after MESSAGE-INTEGRITY;
    # the response is protected the same way as the request.
    with ternd.client(integrity=integrity) as c:
        alloc = c.allocate()
        assert tc.verify_integrity(alloc.response, c.key(), tc.MESSAGE_INTEGRITY_SHA256)


def test_password_algorithm_sha256_when_offered(ternd):
    # RFC 8489 9.2.4/18.5: if the 401 offers PASSWORD-ALGORITHMS with SHA-256,
    # a client may pick it; the key is then SHA-256(username:realm:password).
    with ternd.client(password_algorithm=tc.PASSWORD_ALGORITHM_SHA256) as c:
        first = c.request(tc.ALLOCATE, RT_UDP, auth=False)
        offered = first.get(tc.PASSWORD_ALGORITHMS)
        if offered is None:
            pytest.skip("server offers no PASSWORD-ALGORITHMS")
        algs = [a for a, _ in tc.decode_password_algorithms(offered)]
        assert tc.PASSWORD_ALGORITHM_MD5 in algs
        if tc.PASSWORD_ALGORITHM_SHA256 not in algs:
            pytest.skip("server offers no SHA-256 password algorithm")
        c._learn(first)
        assert c.allocate().relay
