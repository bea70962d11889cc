"""Allocation lifetimes (RFC 8656 7.2, 7.3): defaults, the maximum, Refresh,
deletion with lifetime 0, and an allocation never outliving its credential."""

import time

import pytest

import helpers as h
import turnclient as tc


def test_requested_lifetime_is_used(ternd):
    with ternd.client() as c:
        assert c.allocate(lifetime=1200).lifetime == 1200


def test_lifetime_below_default_gets_default(ternd):
    with ternd.client() as c:
        assert c.allocate(lifetime=5).lifetime == ternd.config["limits"]["default_lifetime"]


def test_lifetime_capped_by_max_lifetime(ternd):
    max_lifetime = ternd.config["limits"]["max_lifetime"]
    # The credential outlives max_lifetime, so the cap is max_lifetime's even
    # when a second passes before the Refresh.
    with ternd.client(ttl=2 * max_lifetime) as c:
        assert c.allocate(lifetime=10 * max_lifetime).lifetime == max_lifetime
        assert c.refresh(10 * max_lifetime) == max_lifetime


def test_lifetime_capped_by_credential_expiry(ternd):
    with ternd.client(ttl=120) as c:
        lifetime = c.allocate(lifetime=3000).lifetime
        assert 100 <= lifetime <= 120
        assert c.refresh(3000) <= 120


def test_refresh_sets_lifetime(ternd):
    with ternd.client() as c:
        c.allocate()
        assert c.refresh(900) == 900
        assert c.refresh() == ternd.config["limits"]["default_lifetime"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_refresh_zero_deletes(ternd, transport):
    with ternd.client(transport) as c, tc.UdpPeer() as peer:
        relay = c.allocate().relay
        c.create_permission(peer.addr)
        assert c.refresh(0) == 0
        peer.sendto(b"after delete", relay)
        h.assert_nothing(c)
        with pytest.raises(tc.TurnError) as e:
            c.refresh()
        assert e.value.code == 437
        # The 5-tuple is free again.
        assert c.allocate().relay


def test_refresh_zero_twice_is_437(ternd):
    with ternd.client() as c:
        c.allocate()
        assert c.refresh(0) == 0
        with pytest.raises(tc.TurnError) as e:
            c.refresh(0)
        assert e.value.code == 437


def test_allocation_ends_with_its_credential(ternd):
    # A credential valid for 4 more seconds: the allocation must not relay
    # after that, whatever the clock skew allowance for authenticating.
    with ternd.client(ttl=4) as c, tc.UdpPeer() as peer:
        alloc = c.allocate()
        assert alloc.lifetime <= 4
        c.create_permission(peer.addr)
        peer.sendto(b"before", alloc.relay)
        assert c.recv_data() == ("data", peer.addr, b"before")
        time.sleep(alloc.lifetime + 2)
        peer.sendto(b"after", alloc.relay)
        h.assert_nothing(c, 1.0)


def test_tcp_close_deletes_allocation(ternd):
    # RFC 8656 7: an allocation over TCP ends with its connection. The
    # relayed port is then free for a new allocation; we check the old
    # relay no longer delivers.
    with tc.UdpPeer() as peer:
        c = ternd.client("tcp")
        relay = c.allocate().relay
        c.create_permission(peer.addr)
        c.close()
        with ternd.client("tcp") as d:
            d.allocate()
            d.create_permission(peer.addr)
            time.sleep(0.3)
            peer.sendto(b"to a dead allocation", relay)
            got = d.recv_data(0.5)
            # Only acceptable if the new allocation happens to reuse the port.
            assert got is None or d.allocation.relay == relay
