"""Hostile: attributes that are not covered by MESSAGE-INTEGRITY, and
duplicates. ternd must act only on what the client authenticated:

  * an XOR-PEER-ADDRESS appended after MESSAGE-INTEGRITY (pointing at a
    canary) while the authenticated one points at an allowed control peer:
    the permission/channel is for the control only, the canary hears nothing;
  * a second XOR-PEER-ADDRESS in ChannelBind (control first, canary second):
    the binding goes to the first, never the canary;
  * CreatePermission listing an allowed and a denied peer: 403, all or
    nothing (the allowed one gets no permission either);
  * the same attribute appended after MI also in Refresh (LIFETIME 0): the
    allocation survives.
"""

import struct

import pytest

import turnclient as tc
from helpers import signed
from hostile_support import (CANARIES4, CANARY_PORT, CONTROL4, Canaries, Netns,
                             dual_allocation, expect_code, start_ternd)

CANARY = "169.254.169.254"


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    d = start_ternd(ns, procs, tmp_path)
    canaries = Canaries(ns, [e for e in CANARIES4 if e[1] in (CANARY, "10.0.0.1")])
    control = ns.udp(CONTROL4, CANARY_PORT)
    control.settimeout(1.0)
    yield ns, d, canaries, control
    canaries.close()
    control.close()


def after_mi(c, method, attrs, extra):
    """An authenticated request whose bytes get `extra` attributes appended
    after MESSAGE-INTEGRITY (header length fixed up, MI left as it was)."""
    msg, data = signed(c, method, attrs)
    tail = b"".join(struct.pack("!HH", t, len(v)) + v + b"\0" * tc.pad4(len(v))
                    for t, v in extra(msg.tid))
    data = bytearray(data + tail)
    struct.pack_into("!H", data, 2, len(data) - tc.HEADER_LEN)
    return msg, bytes(data)


def xor_peer(host, port):
    return lambda tid: [(tc.XOR_PEER_ADDRESS, tc.encode_xor_address(host, port, tid))]


def control_hears(control, c, peer, data):
    c.send_indication(peer, data)
    try:
        got, _ = control.recvfrom(2000)
    except OSError:
        return False
    return got == data


def test_only_authenticated_attributes_count(world):
    ns, d, canaries, control = world
    c = dual_allocation(ns, d)
    try:
        # CreatePermission: control authenticated, canary smuggled after MI.
        msg, data = after_mi(c, tc.CREATE_PERMISSION, [tc.peer_attr(CONTROL4, 0)],
                             xor_peer(CANARY, CANARY_PORT))
        resp = c.transact_bytes(data, msg.tid)
        assert resp is not None and resp.cls == tc.SUCCESS, resp
        c.send_indication((CANARY, CANARY_PORT), b"via smuggled permission")
        assert control_hears(control, c, (CONTROL4, CANARY_PORT), b"control ok")
        canaries.assert_silent(0.3, "after a peer smuggled past MESSAGE-INTEGRITY")

        # ChannelBind: the same trick; the channel must lead to the control.
        msg, data = after_mi(c, tc.CHANNEL_BIND,
                             [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001)),
                              tc.peer_attr(CONTROL4, CANARY_PORT)],
                             xor_peer(CANARY, CANARY_PORT))
        resp = c.transact_bytes(data, msg.tid)
        assert resp is not None and resp.cls == tc.SUCCESS, resp
        c.send_channel_data(0x4001, b"channel 4001")
        assert control.recvfrom(2000)[0] == b"channel 4001"
        canaries.assert_silent(0.3, "after a ChannelBind with a smuggled peer")

        # Duplicate XOR-PEER-ADDRESS inside the signed part of ChannelBind.
        resp = c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4002)),
                                           tc.peer_attr(CONTROL4, CANARY_PORT + 1),
                                           tc.peer_attr(CANARY, CANARY_PORT)])
        if resp.cls == tc.SUCCESS:
            c.send_channel_data(0x4002, b"dup")
        canaries.assert_silent(0.3, "after a ChannelBind with two peers")
        print("ChannelBind with two XOR-PEER-ADDRESS:", resp.error_code() or "success (first used)")

        # Duplicate CHANNEL-NUMBER: the first counts or the request is refused.
        resp = c.request(tc.CHANNEL_BIND, [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4003)),
                                           (tc.CHANNEL_NUMBER, tc.encode_channel_number(0x4001)),
                                           tc.peer_attr(CONTROL4, CANARY_PORT + 2)])
        print("ChannelBind with two CHANNEL-NUMBER:", resp.error_code() or "success")
        c.send_channel_data(0x4001, b"still the control")
        assert control.recvfrom(2000)[0] == b"still the control", "channel 0x4001 was rebound"

        # All or nothing: an allowed and a denied peer in one CreatePermission.
        other = "1.0.0.1"
        expect_code(c.request(tc.CREATE_PERMISSION, [tc.peer_attr(other, 0),
                                                     tc.peer_attr("10.0.0.1", 0)]), 403,
                    "CreatePermission allowed + denied")
        # Refresh with LIFETIME 0 smuggled after MI: the allocation survives.
        msg, data = after_mi(c, tc.REFRESH, [(tc.LIFETIME, tc.encode_u32(600))],
                             lambda tid: [(tc.LIFETIME, tc.encode_u32(0))])
        resp = c.transact_bytes(data, msg.tid)
        assert resp is not None and resp.cls == tc.SUCCESS and resp.lifetime() > 0, resp
        assert control_hears(control, c, (CONTROL4, CANARY_PORT), b"alive after smuggled 0")
        canaries.assert_silent(0.3, "at the end")
    finally:
        c.close()
