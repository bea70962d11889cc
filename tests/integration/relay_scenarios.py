"""The relay scenarios shared by test_relay_udp.py and test_relay_tcp.py:
only the client transport differs between the two files."""

import threading

import helpers as h
import turnclient as tc


def send_data_both_ways(ternd, transport, client_family, relay_family):
    with ternd.client(transport, family=client_family) as c, \
            tc.UdpPeer(h.PEER_HOST[relay_family]) as peer:
        alloc = c.allocate(family=h.FAMILY[relay_family])
        assert alloc.relay[0] == h.PEER_HOST[relay_family]
        h.relay_send_data(c, peer, alloc.relay)


def channel_both_ways(ternd, transport, client_family, relay_family):
    with ternd.client(transport, family=client_family) as c, \
            tc.UdpPeer(h.PEER_HOST[relay_family]) as peer:
        alloc = c.allocate(family=h.FAMILY[relay_family])
        h.relay_channel(c, peer, alloc.relay, channel=0x4000)
        # After binding, the server sends ChannelData (not Data indications)
        # to this client for this peer; Send indications still work outbound.
        c.send_indication(peer.addr, b"indication after bind")
        assert peer.recvfrom() == (b"indication after bind", alloc.relay)


def dual_stack(ternd, transport):
    with ternd.client(transport) as c, tc.UdpPeer("127.0.0.1") as p4, \
            tc.UdpPeer("::1") as p6:
        alloc = c.allocate(additional_family=tc.FAMILY_IPV6)
        assert len(alloc.relayed) == 2
        r4 = [r for r in alloc.relayed if ":" not in r[0]]
        r6 = [r for r in alloc.relayed if ":" in r[0]]
        assert r4 and r6 and r4[0][0] == "127.0.0.1" and r6[0][0] == "::1"
        assert ternd.in_relay_range(r4[0][1]) and ternd.in_relay_range(r6[0][1])
        c.create_permission(p4.addr, p6.addr)
        c.send_indication(p4.addr, b"to v4")
        c.send_indication(p6.addr, b"to v6")
        assert p4.recvfrom() == (b"to v4", r4[0])
        assert p6.recvfrom() == (b"to v6", r6[0])
        p4.sendto(b"from v4", r4[0])
        assert c.recv_data() == ("data", p4.addr, b"from v4")
        p6.sendto(b"from v6", r6[0])
        assert c.recv_data() == ("data", p6.addr, b"from v6")
        c.channel_bind(0x4100, p4.addr)
        c.channel_bind(0x4101, p6.addr)
        c.send_channel_data(0x4101, b"ch v6")
        assert p6.recvfrom() == (b"ch v6", r6[0])
        p4.sendto(b"ch v4 back", r4[0])
        assert c.recv_data() == ("channel", 0x4100, b"ch v4 back")


def many_clients(ternd, transport, n=8):
    """n clients at once, each with its own peer, in threads; payloads are
    tagged so a crossed wire fails."""
    errors = []

    def one(i):
        try:
            family = 4 if i % 2 == 0 else 6
            with ternd.client(transport, family=family, user=f"user{i % 3}") as c, \
                    tc.UdpPeer(h.PEER_HOST[family]) as peer:
                alloc = c.allocate(family=h.FAMILY[family])
                tag = b"client-%d:" % i
                if i % 4 < 2:
                    h.relay_send_data(c, peer, alloc.relay, tag=tag)
                else:
                    h.relay_channel(c, peer, alloc.relay, channel=0x4000 + i, tag=tag)
        except Exception as e:  # collected and reported by the main thread
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "client thread hung"
    assert not errors, errors


def two_clients_one_peer(ternd, transport):
    """One peer talking to two allocations keeps the streams apart."""
    with ternd.client(transport) as a, ternd.client(transport, user="bob") as b, \
            tc.UdpPeer() as peer:
        ra, rb = a.allocate().relay, b.allocate().relay
        a.create_permission(peer.addr)
        b.channel_bind(0x4aaa, peer.addr)
        for i in range(10):
            peer.sendto(b"to a %d" % i, ra)
            peer.sendto(b"to b %d" % i, rb)
            assert a.recv_data() == ("data", peer.addr, b"to a %d" % i)
            assert b.recv_data() == ("channel", 0x4aaa, b"to b %d" % i)
        h.assert_nothing(a, 0.2)
        h.assert_nothing(b, 0.2)
