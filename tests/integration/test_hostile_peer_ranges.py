"""Hostile: a client tries to reach every denied peer range, and every IPv6
form embedding a denied IPv4 address, through CreatePermission, ChannelBind
and Send indications; ternd has no peers.allow. Each attempt must be refused
(403 for the requests; Send indications are dropped) and no canary may ever
receive a byte. A control peer on an allowed address must receive what is
relayed to it, so the canaries' silence means something. Also: ternd's own
listener is never a peer (a Binding smuggled at it as relayed data would come
back as a Data indication).

See hostile_support.py for the namespace layout.
"""

import pytest

import turnclient as tc
from hostile_support import (CANARIES4, CANARIES6, CANARY_PORT, CLIENT4, CLIENT6, CONTROL4,
                             CONTROL6, PORT,
                             SERVER4, Canaries, Netns, client, dual_allocation, embeddings,
                             enable_multicast, expect_code, start_ternd)


def targets(canaries):
    """(label, address) of every peer to try: each canary, and for each IPv4
    canary every IPv6 embedding (those also bound as canaries when the
    kernel let us add them, else reaching them is judged by the answer)."""
    out = []
    for name, addr in CANARIES4:
        out.append((name, addr))
        for kind, v6 in embeddings(addr).items():
            out.append((f"{name} as {kind}", v6))
    out += list(CANARIES6)
    return out


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    enable_multicast(ns)
    d = start_ternd(ns, procs, tmp_path)
    entries = list(CANARIES4) + list(CANARIES6)
    # Embedded forms that can be assigned (all but mapped/translated) become canaries too.
    for name, addr in CANARIES4:
        for kind, v6 in embeddings(addr).items():
            if kind not in ("mapped", "translated"):
                entries.append((f"{name} as {kind}", v6))
    canaries = Canaries(ns, entries)
    canaries.assert_reachable(ns, CLIENT4, CLIENT6)
    control4, control6 = ns.udp(CONTROL4, CANARY_PORT), ns.udp(CONTROL6, CANARY_PORT)
    yield ns, d, canaries, control4, control6
    canaries.close()
    control4.close()
    control6.close()


def test_every_denied_range_and_encoding_refused(world):
    ns, d, canaries, control4, control6 = world
    # Most canaries must exist; the few the kernel refuses are named.
    assert len(canaries.socks) >= len(CANARIES4) + len(CANARIES6) - 4, canaries.skipped
    for reason in canaries.skipped.values():
        print("canary skipped:", reason)
    c = dual_allocation(ns, d)
    try:
        tried = 0
        channel = 0x4000
        for label, addr in targets(canaries):
            peer = (addr, CANARY_PORT)
            expect_code(c.request(tc.CREATE_PERMISSION, [tc.peer_attr(*peer)]), 403,
                        f"CreatePermission {label} {addr}")
            channel += 1
            expect_code(c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER,
                                                     tc.encode_channel_number(channel)),
                                                    tc.peer_attr(*peer)]), 403,
                        f"ChannelBind {label} {addr}")
            c.send_indication(peer, b"canary-probe " + addr.encode())
            c.send_channel_data(channel, b"canary-probe via unbound channel")
            tried += 1
        canaries.assert_silent(0.5, "after every denied range and encoding")
        print(f"{tried} denied targets tried; {len(canaries.socks)} canaries silent")

        # Control: the same client reaches allowed peers on both families.
        for ctl, host in ((control4, CONTROL4), (control6, CONTROL6)):
            c.create_permission((host, CANARY_PORT))
            c.send_indication((host, CANARY_PORT), b"control")
            ctl.settimeout(2)
            data, _ = ctl.recvfrom(100)
            assert data == b"control"

        # ternd's own listener is never a peer: the IP may be permitted (other
        # allocations live there) but nothing is relayed to the listener port.
        c.create_permission((SERVER4, 0))
        expect_code(c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4FFF)),
                                                tc.peer_attr(SERVER4, PORT)]), 403,
                    "ChannelBind to ternd's own listener")
        probe = tc.encode(tc.Message(tc.BINDING, tc.REQUEST))
        c.send_indication((SERVER4, PORT), probe)
        got = c.recv_data(0.5)
        assert got is None, f"ternd relayed to its own listener and got {got!r}"
        canaries.assert_silent(0.2, "at the end")
    finally:
        c.close()


def test_denied_peers_over_tcp_allocation(world):
    """The same refusals for a client on TCP (a second code path for Send)."""
    ns, d, canaries, _, _ = world
    c = client(ns, d, transport="tcp")
    try:
        c.allocate()
        for name, addr in CANARIES4:
            if addr not in canaries.socks:
                continue
            expect_code(c.request(tc.CREATE_PERMISSION, [tc.peer_attr(addr, CANARY_PORT)]), 403,
                        f"TCP CreatePermission {name}")
            c.send_indication((addr, CANARY_PORT), b"tcp canary probe")
        canaries.assert_silent(0.5, "over TCP")
    finally:
        c.close()
