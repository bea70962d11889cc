"""Error responses, each where RFC 8656 / RFC 8489 say it applies. Tests that
need their own config start their own ternd through ternd_factory."""

import struct
import time

import pytest

import helpers as h
import turnclient as tc
from conftest import SECRET, SECRET2

RT_UDP = [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport())]


def code_of(resp):
    return resp.error_code() if resp.cls == tc.ERROR else "success"


# --- 400 Bad Request --------------------------------------------------------------
def test_400_allocate_without_requested_transport(ternd):
    with ternd.client() as c:
        assert code_of(c.request(tc.ALLOCATE, [])) == 400


def test_400_malformed_requested_transport(ternd):
    with ternd.client() as c:
        assert code_of(c.request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT, b"\x11")])) == 400


def test_400_even_port_with_reservation_token(ternd):
    # RFC 8656 7.2 step 4/5: both at once is a 400.
    with ternd.client() as c:
        attrs = RT_UDP + [(tc.EVEN_PORT, tc.encode_even_port(False)),
                          (tc.RESERVATION_TOKEN, b"\x01" * 8)]
        assert code_of(c.request(tc.ALLOCATE, attrs)) == 400


def test_400_requested_and_additional_family_together(ternd):
    # RFC 8656 7.2 step 6/8: ADDITIONAL-ADDRESS-FAMILY with
    # REQUESTED-ADDRESS-FAMILY is a 400.
    with ternd.client() as c:
        attrs = RT_UDP + [(tc.REQUESTED_ADDRESS_FAMILY, tc.encode_family(tc.FAMILY_IPV4)),
                          (tc.ADDITIONAL_ADDRESS_FAMILY, tc.encode_family(tc.FAMILY_IPV6))]
        assert code_of(c.request(tc.ALLOCATE, attrs)) == 400


@pytest.mark.parametrize("channel", [0x0000, 0x3FFF, 0x8000, 0xBFFF, 0xFFFF])
def test_400_bad_channel_number(ternd, channel):
    with ternd.client() as c, tc.UdpPeer() as peer:
        c.allocate()
        with pytest.raises(tc.TurnError) as e:
            c.channel_bind(channel, peer.addr)
        assert e.value.code == 400


@pytest.mark.parametrize("channel", [0x5000, 0x7FFF])
def test_rfc5766_channel_numbers_accepted(ternd, channel):
    # Deliberate interop choice (commit b523376): RFC 8656 12 narrows
    # channels to 0x4000-0x4FFF, but deployed RFC 5766 clients (coturn's
    # uclient among them) use up to 0x7FFF; ternd accepts and relays them.
    with ternd.client() as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        c.channel_bind(channel, peer.addr)
        c.send_channel_data(channel, b"old range")
        assert peer.recvfrom() == (b"old range", relay)
        peer.sendto(b"back", relay)
        assert c.recv_data() == ("channel", channel, b"back")


def test_400_channel_rebinding_rules(ternd):
    # RFC 8656 11.2: a channel bound to one peer cannot be bound to another,
    # and a peer bound to one channel cannot get another; rebinding the same
    # pair refreshes.
    with ternd.client() as c, tc.UdpPeer() as a, tc.UdpPeer() as b:
        c.allocate()
        c.channel_bind(0x4001, a.addr)
        c.channel_bind(0x4001, a.addr)
        with pytest.raises(tc.TurnError) as e:
            c.channel_bind(0x4001, b.addr)
        assert e.value.code == 400
        with pytest.raises(tc.TurnError) as e:
            c.channel_bind(0x4002, a.addr)
        assert e.value.code == 400
        c.channel_bind(0x4002, b.addr)


def test_400_channel_bind_without_peer(ternd):
    with ternd.client() as c:
        c.allocate()
        resp = c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001))])
        assert code_of(resp) == 400


def test_400_create_permission_without_peer(ternd):
    with ternd.client() as c:
        c.allocate()
        assert code_of(c.request(tc.CREATE_PERMISSION, [])) == 400


def test_400_credentials_without_integrity_attrs(ternd):
    # RFC 8489 9.2.4: MESSAGE-INTEGRITY present but USERNAME, REALM or NONCE
    # missing is a 400.
    with ternd.client() as c:
        h.first_401(c)
        msg = tc.Message(tc.ALLOCATE, tc.REQUEST, attrs=RT_UDP + [(tc.USERNAME, c.username.encode())])
        resp = c.transact(msg, key=c.key())
        assert code_of(resp) == 400


# --- 401 Unauthenticated ------------------------------------------------------------
def test_401_without_message_integrity(ternd):
    with ternd.client() as c:
        h.first_401(c)
        msg = c.build(tc.ALLOCATE, RT_UDP, True)
        resp = c.transact(msg)  # USERNAME/REALM/NONCE but no MESSAGE-INTEGRITY
        assert code_of(resp) == 401
        assert resp.get(tc.NONCE) and resp.text(tc.REALM) == "tern.test"


def test_401_bad_message_integrity(ternd):
    with ternd.client() as c:
        h.first_401(c)
        msg = c.build(tc.ALLOCATE, RT_UDP, True)
        data = bytearray(tc.encode(msg, c.key()))
        data[-1] ^= 0x01
        resp = c.transact_bytes(bytes(data), msg.tid)
        assert code_of(resp) == 401
        assert not resp.has(tc.MESSAGE_INTEGRITY)


def allocate_code(ternd, username, password, transport="udp"):
    with tc.TurnClient(ternd.udp4, transport, username, password) as c:
        return code_of(c.request(tc.ALLOCATE, RT_UDP))


def test_401_wrong_password(ternd):
    username, _ = ternd.creds()
    assert allocate_code(ternd, username, "not-the-password") == 401


def test_401_expired_credential(ternd):
    skew = ternd.config["auth"]["clock_skew"]
    username, password = ternd.creds(ttl=-(skew + 60))
    assert allocate_code(ternd, username, password) == 401


def test_401_credential_beyond_max_ttl(ternd):
    max_ttl = ternd.config["auth"]["max_ttl"]
    skew = ternd.config["auth"]["clock_skew"]
    username, password = ternd.creds(ttl=max_ttl + skew + 3600)
    assert allocate_code(ternd, username, password) == 401


def test_401_wrong_secret(ternd):
    username, password = ternd.creds(secret="some-other-secret-0123456789")
    assert allocate_code(ternd, username, password) == 401


@pytest.mark.parametrize("username", ["alice", "notanumber:alice", ":alice", "123:", ""])
def test_401_malformed_username(ternd, username):
    password = tc.rest_password(SECRET, username)
    assert allocate_code(ternd, username, password) == 401


def test_rotated_in_second_secret_works(ternd_factory):
    d = ternd_factory.start(secrets=(SECRET, SECRET2))
    for secret in (SECRET, SECRET2):
        username, password = d.creds(secret=secret)
        assert allocate_code(d, username, password) == "success"


def test_credential_checked_on_every_request(ternd):
    # Expiry is enforced on every authenticated request, not only Allocate.
    with ternd.client() as c, tc.UdpPeer() as peer:
        c.allocate()
        c.password = "changed"
        resp = c.request(tc.CREATE_PERMISSION, [tc.peer_attr(*peer.addr)])
        assert code_of(resp) == 401


# --- 403 Forbidden --------------------------------------------------------------------
def no_allow_list(cfg):
    cfg["peers"]["allow"] = []


@pytest.mark.parametrize("peer", ["10.0.0.1", "169.254.169.254", "127.0.0.1", "192.168.1.1",
                                  "172.16.0.1", "100.64.0.1", "224.0.0.1", "0.0.0.0",
                                  "255.255.255.255"])
def test_403_denied_ipv4_peer(ternd_factory, peer):
    d = ternd_factory.start(edit=no_allow_list)
    with d.client() as c:
        c.allocate()
        resp = c.request(tc.CREATE_PERMISSION, [tc.peer_attr(peer, 9)])
        assert code_of(resp) == 403
        resp = c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001)),
                                           tc.peer_attr(peer, 9)])
        assert code_of(resp) == 403


@pytest.mark.parametrize("peer", ["::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "fe80::1",
                                  "fc00::1", "ff02::1", "::", "64:ff9b::a9fe:a9fe",
                                  "2002:a9fe:a9fe::1", "::127.0.0.1"])
def test_403_denied_ipv6_peer(ternd_factory, peer):
    d = ternd_factory.start(edit=no_allow_list)
    with d.client() as c:
        c.allocate(family=tc.FAMILY_IPV6)
        resp = c.request(tc.CREATE_PERMISSION, [tc.peer_attr(peer, 9)])
        assert code_of(resp) == 403


def test_403_relay_own_listener(ternd):
    # Loopback is allowed in the test config, yet the relay's own listener
    # address:port is never a peer.
    with ternd.client() as c:
        c.allocate()
        for peer in (ternd.udp4,):
            resp = c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001)),
                                               tc.peer_attr(*peer)])
            assert code_of(resp) == 403
            resp = c.request(tc.CREATE_PERMISSION, [tc.peer_attr(*peer)])
            assert code_of(resp) == 403
    with ternd.client(family=6) as c:
        c.allocate(family=tc.FAMILY_IPV6)
        resp = c.request(tc.CREATE_PERMISSION, [tc.peer_attr(*ternd.udp6)])
        assert code_of(resp) == 403


def test_403_explicit_deny_beats_allow(ternd_factory):
    def edit(cfg):
        cfg["peers"]["deny"] = ["127.0.0.99/32"]
    d = ternd_factory.start(edit=edit)
    with d.client() as c:
        c.allocate()
        assert code_of(c.request(tc.CREATE_PERMISSION, [tc.peer_attr("127.0.0.99", 1)])) == 403
        assert code_of(c.request(tc.CREATE_PERMISSION, [tc.peer_attr("127.0.0.98", 1)])) == "success"


def test_one_denied_peer_fails_the_whole_create_permission(ternd_factory):
    # RFC 8656 9.2: all or nothing.
    # 8.8.8.8 is a public address: permitted, but no packet is ever sent.
    d = ternd_factory.start(edit=no_allow_list)
    with d.client() as c:
        c.allocate()
        assert code_of(c.request(tc.CREATE_PERMISSION, [tc.peer_attr("8.8.8.8", 1)])) == "success"
        resp = c.request(tc.CREATE_PERMISSION, [tc.peer_attr("8.8.4.4", 1),
                                                tc.peer_attr("10.0.0.1", 1)])
        assert code_of(resp) == 403


# --- 420 Unknown Attribute ------------------------------------------------------------
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_420_unknown_comprehension_required(ternd, transport):
    with ternd.client(transport) as c:
        resp = c.request(tc.ALLOCATE, RT_UDP + [(0x7F31, b"abcd"), (0x0030, b"")])
        assert code_of(resp) == 420
        assert set(resp.unknown_attributes()) == {0x7F31, 0x0030}


def test_420_on_binding(ternd):
    with tc.TurnClient(ternd.udp4) as c:
        resp = c.request(tc.BINDING, [(0x7F32, b"x")], auth=False)
        assert code_of(resp) == 420
        assert resp.unknown_attributes() == [0x7F32]


def test_unknown_comprehension_optional_is_ignored(ternd):
    with ternd.client() as c:
        resp = c.request(tc.ALLOCATE, RT_UDP + [(0xBF31, b"abcd")])
        assert code_of(resp) == "success"


# --- 437 Allocation Mismatch ---------------------------------------------------------
@pytest.mark.parametrize("method", [tc.REFRESH, tc.CREATE_PERMISSION, tc.CHANNEL_BIND])
def test_437_without_allocation(ternd, method):
    attrs = {tc.REFRESH: [],
             tc.CREATE_PERMISSION: [tc.peer_attr("127.0.0.1", 5)],
             tc.CHANNEL_BIND: [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001)),
                               tc.peer_attr("127.0.0.1", 5)]}[method]
    with ternd.client() as c:
        assert code_of(c.request(method, attrs)) == 437


# --- 438 Stale Nonce ---------------------------------------------------------------------
def test_438_stale_nonce(ternd_factory):
    def edit(cfg):
        cfg["auth"]["nonce_lifetime"] = 10
    d = ternd_factory.start(edit=edit)
    with d.client() as c:
        c.allocate()
        old = c.nonce
        deadline = time.monotonic() + 30
        resp = None
        for _ in range(40):
            msg = c.build(tc.REFRESH, [], True)
            resp = c.transact(msg, key=c.key())
            if code_of(resp) == 438 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert code_of(resp) == 438
        assert resp.get(tc.NONCE) and resp.get(tc.NONCE) != old
        assert resp.text(tc.REALM) == "tern.test"
        # The client's normal path takes the new nonce and succeeds.
        assert c.refresh() > 0


def test_nonce_bound_to_client_address(ternd):
    # A nonce issued to one 5-tuple does not authenticate another.
    with ternd.client() as a, ternd.client() as b:
        h.first_401(a)
        b.realm, b.nonce = a.realm, a.nonce
        msg = b.build(tc.ALLOCATE, RT_UDP, True)
        resp = b.transact(msg, key=b.key())
        assert code_of(resp) in (401, 438)


# --- 440 Address Family not Supported ------------------------------------------------
def test_440_ipv6_relay_not_configured(ternd_factory):
    def edit(cfg):
        cfg["relay"]["addresses"] = ["127.0.0.1"]
    d = ternd_factory.start(edit=edit)
    with d.client() as c:
        resp = c.request(tc.ALLOCATE, RT_UDP + [(tc.REQUESTED_ADDRESS_FAMILY,
                                                 tc.encode_family(tc.FAMILY_IPV6))])
        assert code_of(resp) == 440
    with d.client() as c:
        assert c.allocate().relay[0] == "127.0.0.1"


def test_440_unknown_address_family_value(ternd):
    with ternd.client() as c:
        resp = c.request(tc.ALLOCATE, RT_UDP + [(tc.REQUESTED_ADDRESS_FAMILY, tc.encode_family(3))])
        assert code_of(resp) in (400, 440)


def test_dual_stack_without_ipv6_relay_gives_address_error(ternd_factory):
    # RFC 8656 7.2 / 18.12: the IPv4 allocation succeeds and
    # ADDRESS-ERROR-CODE reports 440 for the IPv6 one.
    def edit(cfg):
        cfg["relay"]["addresses"] = ["127.0.0.1"]
    d = ternd_factory.start(edit=edit)
    with d.client() as c:
        alloc = c.allocate(additional_family=tc.FAMILY_IPV6)
        assert [r[0] for r in alloc.relayed] == ["127.0.0.1"]
        v = alloc.response.get(tc.ADDRESS_ERROR_CODE)
        assert v is not None and v[0] == tc.FAMILY_IPV6
        assert v[2] & 7 == 4 and v[3] == 40


# --- 441 Wrong Credentials ---------------------------------------------------------------
def test_441_other_user_on_existing_allocation(ternd):
    with ternd.client(user="alice") as c:
        c.allocate()
        c.username, c.password = ternd.creds("mallory")
        resp = c.request(tc.REFRESH, [])
        assert code_of(resp) == 441


# --- 442 Unsupported Transport Protocol -------------------------------------------------
@pytest.mark.parametrize("proto", [tc.PROTO_TCP, 1, 255])
def test_442_unsupported_transport(ternd, proto):
    with ternd.client() as c:
        resp = c.request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT, tc.encode_requested_transport(proto))])
        assert code_of(resp) == 442


# --- 443 Peer Address Family Mismatch ---------------------------------------------------
@pytest.mark.parametrize("relay_family,peer", [(tc.FAMILY_IPV4, "::1"), (tc.FAMILY_IPV6, "127.0.0.1")])
def test_443_peer_family_mismatch(ternd, relay_family, peer):
    with ternd.client() as c:
        c.allocate(family=relay_family)
        assert code_of(c.request(tc.CREATE_PERMISSION, [tc.peer_attr(peer, 5)])) == 443
        resp = c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001)),
                                           tc.peer_attr(peer, 5)])
        assert code_of(resp) == 443


def test_send_indication_family_mismatch_is_dropped(ternd):
    with ternd.client() as c, tc.UdpPeer("::1") as peer:
        c.allocate()
        c.send_indication(peer.addr, b"wrong family")
        h.assert_peer_nothing(peer)


# --- 486 Allocation Quota Reached ---------------------------------------------------------
def test_486_allocations_per_user(ternd_factory):
    def edit(cfg):
        cfg["limits"]["allocations_per_user"] = 2
    d = ternd_factory.start(edit=edit)
    clients = [d.client(user="quota") for _ in range(4)]
    try:
        codes = [code_of(c.request(tc.ALLOCATE, RT_UDP)) for c in clients[:3]]
        assert codes == ["success", "success", 486]
        # Another user is not affected.
        other = d.client(user="someone-else")
        clients.append(other)
        assert code_of(other.request(tc.ALLOCATE, RT_UDP)) == "success"
        # Freeing one makes room again.
        clients[0].refresh(0)
        assert code_of(clients[3].request(tc.ALLOCATE, RT_UDP)) == "success"
    finally:
        for c in clients:
            c.close()


# --- 508 Insufficient Capacity ------------------------------------------------------------
def test_508_allocations_total(ternd_factory):
    def edit(cfg):
        cfg["limits"]["allocations_total"] = 2
    d = ternd_factory.start(edit=edit)
    clients = [d.client(user=f"user{i}") for i in range(3)]
    try:
        codes = [code_of(c.request(tc.ALLOCATE, RT_UDP)) for c in clients]
        assert codes == ["success", "success", 508]
    finally:
        for c in clients:
            c.close()


def test_508_port_range_exhausted(ternd_factory):
    d = ternd_factory.start(relay_ports=3)
    clients = [d.client(user=f"user{i}") for i in range(4)]
    try:
        codes = [code_of(c.request(tc.ALLOCATE, RT_UDP)) for c in clients]
        assert codes == ["success", "success", "success", 508]
    finally:
        for c in clients:
            c.close()


# --- garbage ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x01\x00\x00", b"\xff" * 40,
                                  b"\x00\x01\x00\x08\x21\x12\xa4\x42" + b"\x00" * 12,
                                  b"\x00\x01\x00\x04\x21\x12\xa4\x42" + b"\x00" * 12 + b"\x00\x19\x00\x08",
                                  b"\x40\x01\x00\x10abc"])
def test_garbage_over_udp_is_dropped_and_daemon_lives(ternd, data):
    # Malformed input is dropped, or at most answered with a 400.
    with tc.TurnClient(ternd.udp4) as c:
        c.send_raw(data)
        answer = c.recv_raw(0.3)
        if answer is not None:
            assert tc.is_stun(answer) and tc.decode(answer).error_code() == 400, answer
        assert c.binding() == c.local()


def test_garbage_over_tcp_closes_connection_not_daemon(ternd):
    with tc.TurnClient(ternd.tcp4, "tcp") as c:
        c.send_raw(b"\xff" * 64)
        assert c.recv_raw(1.0) is None
    with tc.TurnClient(ternd.tcp4, "tcp") as c:
        assert c.binding() == c.local()
    assert ternd.proc.alive()
