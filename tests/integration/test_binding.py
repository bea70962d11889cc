"""Binding over UDP and TCP, IPv4 and IPv6: XOR-MAPPED-ADDRESS is the
client's own transport address (RFC 8489 14.2); no SOFTWARE when the
config's software is empty."""

import pytest

import turnclient as tc


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("family", [4, 6])
def test_binding_reflects_client_address(ternd, transport, family):
    server = ternd.udp4 if family == 4 else ternd.udp6
    with tc.TurnClient(server, transport) as c:
        resp = c.checked(tc.BINDING, auth=False)
        assert resp.xor_address(tc.XOR_MAPPED_ADDRESS) == c.local()
        assert not resp.has(tc.SOFTWARE)


def test_binding_with_fingerprint_is_answered(ternd):
    with tc.TurnClient(ternd.udp4, "udp", fingerprint=True) as c:
        assert c.binding() == c.local()


def test_binding_indication_gets_no_answer(ternd):
    with tc.TurnClient(ternd.udp4, "udp") as c:
        c.send_raw(tc.encode(tc.Message(tc.BINDING, tc.INDICATION)))
        assert c.recv_raw(0.5) is None
        assert c.binding() == c.local()


def test_many_bindings_over_one_tcp_connection(ternd):
    with tc.TurnClient(ternd.tcp4, "tcp") as c:
        for _ in range(20):
            assert c.binding() == c.local()
