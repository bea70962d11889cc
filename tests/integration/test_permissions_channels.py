"""Permissions and channels (RFC 8656 9, 11, 12): what is relayed without a
permission, permissions by IP address only, channel binds installing a
permission, limits per allocation."""

import pytest

import helpers as h
import turnclient as tc


def test_no_permission_no_relay(ternd_w):
    with ternd_w.client() as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        peer.sendto(b"unsolicited", relay)
        h.assert_nothing(c)
        c.send_indication(peer.addr, b"not permitted")
        h.assert_peer_nothing(peer)


def test_permission_is_per_ip_not_port(ternd_w):
    with ternd_w.client() as c, tc.UdpPeer() as a, tc.UdpPeer() as b:
        relay = c.allocate().relay
        c.create_permission(("127.0.0.1", 1))
        for peer in (a, b):
            peer.sendto(b"hi from %d" % peer.addr[1], relay)
            assert c.recv_data() == ("data", peer.addr, b"hi from %d" % peer.addr[1])
            c.send_indication(peer.addr, b"hello")
            assert peer.recvfrom() == (b"hello", relay)


def test_permission_for_other_ip_does_not_cover(ternd_w):
    with ternd_w.client() as c, tc.UdpPeer("127.0.0.2") as peer:
        relay = c.allocate().relay
        c.create_permission("127.0.0.3")
        peer.sendto(b"x", relay)
        h.assert_nothing(c)


def test_create_permission_with_several_peers(ternd_w):
    with ternd_w.client() as c, tc.UdpPeer("127.0.0.1") as a, tc.UdpPeer("127.0.0.2") as b:
        relay = c.allocate().relay
        c.create_permission(a.addr, b.addr)
        for peer in (a, b):
            peer.sendto(b"ok", relay)
            assert c.recv_data() == ("data", peer.addr, b"ok")


def test_channel_bind_installs_permission(ternd_w):
    with ternd_w.client() as c, tc.UdpPeer() as peer, tc.UdpPeer() as other:
        relay = c.allocate().relay
        c.channel_bind(0x4321, peer.addr)
        peer.sendto(b"via channel", relay)
        assert c.recv_data() == ("channel", 0x4321, b"via channel")
        # Same IP, other port: the permission covers it, the channel does not.
        other.sendto(b"via indication", relay)
        assert c.recv_data() == ("data", other.addr, b"via indication")


def test_channel_data_on_unbound_channel_is_dropped(ternd):
    with ternd.client() as c, tc.UdpPeer() as peer:
        c.allocate()
        c.create_permission(peer.addr)
        c.send_channel_data(0x4555, b"nobody")
        h.assert_peer_nothing(peer)


def test_channel_data_unpadded_over_udp(ternd):
    # Over UDP the padding of ChannelData is optional (RFC 8656 12.5).
    with ternd.client() as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        c.channel_bind(0x4001, peer.addr)
        for data in (b"a", b"ab", b"abc", b"abcde"):
            c.send_raw(tc.encode_channel_data(0x4001, data, pad=False))
            assert peer.recvfrom() == (data, relay)
            c.send_raw(tc.encode_channel_data(0x4001, data, pad=True))
            assert peer.recvfrom() == (data, relay)


def test_channel_data_over_tcp_is_padded(ternd):
    with ternd.client("tcp") as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        c.channel_bind(0x4001, peer.addr)
        for n in (1, 2, 3, 5):
            peer.sendto(b"x" * n, relay)
            raw = c.recv_raw()
            assert raw is not None and len(raw) % 4 == 0
            assert tc.decode_channel_data(raw) == (0x4001, b"x" * n)


def test_permissions_per_allocation_limit(ternd_factory):
    def edit(cfg):
        cfg["limits"]["permissions_per_allocation"] = 3
    d = ternd_factory.start(edit=edit)
    with d.client() as c:
        c.allocate()
        c.create_permission("127.0.0.1", "127.0.0.2", "127.0.0.3")
        c.create_permission("127.0.0.2")  # a refresh, not a new one
        with pytest.raises(tc.TurnError) as e:
            c.create_permission("127.0.0.4")
        assert e.value.code == 508


def test_channels_per_allocation_limit(ternd_factory):
    def edit(cfg):
        cfg["limits"]["channels_per_allocation"] = 2
    d = ternd_factory.start(edit=edit)
    with d.client() as c, tc.UdpPeer() as a, tc.UdpPeer() as b, tc.UdpPeer() as x:
        c.allocate()
        c.channel_bind(0x4001, a.addr)
        c.channel_bind(0x4002, b.addr)
        with pytest.raises(tc.TurnError) as e:
            c.channel_bind(0x4003, x.addr)
        assert e.value.code == 508


def test_send_indication_with_dont_fragment(ternd):
    with ternd.client() as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        c.create_permission(peer.addr)
        c.send_indication(peer.addr, b"df", dont_fragment=True)
        assert peer.recvfrom() == (b"df", relay)


def test_data_from_other_client_relay_via_client_to_client(ternd_w):
    # Client to client through two allocations, as uclient -y does.
    with ternd_w.client() as a, ternd_w.client(user="bob") as b:
        ra, rb = a.allocate().relay, b.allocate().relay
        a.create_permission(rb)
        b.create_permission(ra)
        a.send_indication(rb, b"a to b")
        assert b.recv_data() == ("data", ra, b"a to b")
        b.channel_bind(0x4999, ra)
        b.send_channel_data(0x4999, b"b to a")
        assert a.recv_data() == ("data", rb, b"b to a")
