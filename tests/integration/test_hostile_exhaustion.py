"""Hostile: resource floods by an authenticated client, and recovery.

  * permission table flood: CreatePermission for ever more distinct allowed
    peers: the cap (permissions_per_allocation) holds with 508, refreshing an
    existing permission still works;
  * channel table flood: ChannelBind for ever more channels: the cap
    (channels_per_allocation) holds with 508;
  * per-user quota: allocations_per_user + 1 allocations get 486; deleting
    one (Refresh 0) lets the next one in;
  * relay port range exhaustion: a range of PORTS ports; the next Allocate of
    another user gets 508; freeing one recovers;
  * memory: ternd's RSS after repeated rounds of allocate / flood / delete
    stays within a small margin of the first round's.
"""

import pytest

import helpers as h
from conftest import TERND

import turnclient as tc
from hostile_support import Netns, client, expect_code, start_ternd

PERMS, CHANNELS, PER_USER, PORTS = 8, 8, 3, 6


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    ns.add_addrs([f"9.9.8.{i}" for i in range(1, 40)])

    def edit(cfg):
        cfg["limits"].update(permissions_per_allocation=PERMS, channels_per_allocation=CHANNELS,
                             allocations_per_user=PER_USER)
        cfg["relay"].update(port_min=20000, port_max=20000 + PORTS - 1)
    return ns, start_ternd(ns, procs, tmp_path, edit=edit)


def peer(i):
    return (f"1.2.{i // 250}.{i % 250 + 1}", 5000)


def test_tables_quota_and_ports(world):
    ns, d = world
    c = client(ns, d, src="9.9.8.1", user="flooder")
    try:
        c.allocate()
        for i in range(PERMS):
            c.create_permission(peer(i))
        for i in range(PERMS, PERMS + 50):
            expect_code(c.request(tc.CREATE_PERMISSION, [tc.peer_attr(*peer(i))]), 508,
                        f"permission {i + 1}")
        c.create_permission(peer(0))          # refreshing an existing one needs no slot
        c2 = client(ns, d, src="9.9.8.2", user="flooder2")
        c2.allocate()
        for i in range(CHANNELS):
            c2.channel_bind(0x4000 + i, peer(i))
        for i in range(CHANNELS, CHANNELS + 50):
            resp = c2.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4000 + i)),
                                                tc.peer_attr(*peer(i))])
            expect_code(resp, 508, f"channel {i + 1}")
        c2.close()
    finally:
        c.close()

    # Quota: "quota" already has none; PER_USER allocations, then 486.
    quota = [client(ns, d, src=f"9.9.8.{10 + i}", user="quota") for i in range(PER_USER + 1)]
    try:
        for q in quota[:PER_USER]:
            q.allocate()
        resp = quota[PER_USER].request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT,
                                                      tc.encode_requested_transport())])
        expect_code(resp, 486, "allocation over the per-user quota")
        quota[0].refresh(0)
        quota[PER_USER].allocate()
    finally:
        for q in quota:
            q.close()

    # Ports: PORTS relay ports; "flooder", "flooder2" and the 3 quota ones hold 5.
    others = [client(ns, d, src=f"9.9.8.{20 + i}", user=f"port{i}") for i in range(3)]
    try:
        others[0].allocate()                       # the 6th port
        resp = others[1].request(tc.ALLOCATE, [(tc.REQUESTED_TRANSPORT,
                                                tc.encode_requested_transport())])
        expect_code(resp, 508, "allocation with every relay port taken")
        others[0].refresh(0)
        others[2].allocate()                        # recovered
    finally:
        for o in others:
            o.close()


def test_memory_stable_under_churn(world):
    ns, d = world
    rss = []
    for rnd in range(6):
        cs = [client(ns, d, src=f"9.9.8.{30 + i}", user=f"churn{i}") for i in range(PORTS)]
        try:
            for c in cs:
                c.allocate()
                for i in range(PERMS + 4):
                    c.request(tc.CREATE_PERMISSION, [tc.peer_attr(*peer(i))])
                for i in range(CHANNELS + 4):
                    c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4000 + i)),
                                                tc.peer_attr(*peer(i))])
            for c in cs:
                c.refresh(0)
        finally:
            for c in cs:
                c.close()
        rss.append(d.rss_kb())
    print("ternd RSS per round (kB):", rss)
    if not h.sanitized_binary(TERND) and not h.under_valgrind():  # RSS of ASan / valgrind
        assert rss[-1] - rss[1] <= 2048, f"RSS grew under churn: {rss}"
