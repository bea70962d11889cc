"""Hostile: truncated, oversized and otherwise malformed messages over UDP
and TCP, unauthenticated and (for the attribute checks that come after
authentication) signed. ternd must answer 400 (or drop), never relay, never
die, and keep serving: a Binding and a full allocation work afterwards.
"""

import os
import struct

import pytest

import turnclient as tc
from helpers import first_401, signed
from hostile_support import CANARY_PORT, Canaries, Netns, client, start_ternd

CANARY = "10.0.0.1"


@pytest.fixture
def world(procs, tmp_path):
    ns = Netns(procs)
    d = start_ternd(ns, procs, tmp_path)
    canaries = Canaries(ns, [("10.0.0.0/8", CANARY)])
    yield ns, d, canaries
    canaries.close()


def hdr(method, length, tid=None):
    return struct.pack("!HHI", tc.message_type(method, tc.REQUEST), length, tc.MAGIC_COOKIE) + \
        (tid or os.urandom(12))


def raw_messages():
    a = lambda t, v, declared=None: struct.pack("!HH", t, len(v) if declared is None else declared) + v  # noqa: E731
    yield "header only, length says 8", hdr(tc.BINDING, 8)
    yield "attribute overruns message", hdr(tc.ALLOCATE, 8) + a(tc.REQUESTED_TRANSPORT, b"\x11\0\0\0", 400)
    yield "length not a multiple of 4", hdr(tc.BINDING, 6) + b"\0" * 6
    yield "truncated attribute header", hdr(tc.ALLOCATE, 4) + b"\0\x19\0"[:2] + b"\0\0"
    yield "oversized USERNAME", hdr(tc.ALLOCATE, 4 + 2000) + a(tc.USERNAME, b"u" * 2000)
    yield "oversized datagram", hdr(tc.BINDING, 65000) + a(0x8022, b"s" * 64996)
    yield "60 attributes", hdr(tc.BINDING, 60 * 4) + a(0x8022, b"", 0) * 60
    yield "short XOR-PEER-ADDRESS", hdr(tc.CREATE_PERMISSION, 8) + a(tc.XOR_PEER_ADDRESS, b"\0\1\0\0")
    yield "ChannelData shorter than its length", struct.pack("!HH", 0x4001, 500) + b"x" * 10
    yield "garbage", os.urandom(300)


def test_malformed_input_answered_or_dropped(world):
    ns, d, canaries = world
    raw = client(ns, d, auth=False, timeout=0.3)
    tcp = client(ns, d, transport="tcp", auth=False, timeout=0.3)
    try:
        for what, data in raw_messages():
            if len(data) <= 65507:
                raw.send_raw(data)
            for _ in range(3):
                got = raw.recv_raw(0.2)
                if got is None:
                    break
                msg = tc.decode(got)
                assert msg.cls == tc.ERROR and msg.error_code() in (400, 401, 420), (what, msg)
        # Signed requests with malformed attributes (past authentication).
        c = client(ns, d)
        c.allocate()
        bad = {
            "XOR-PEER-ADDRESS of 7 bytes": [(tc.XOR_PEER_ADDRESS, b"\0\1" + b"\0" * 5)],
            "XOR-PEER-ADDRESS family 3": [(tc.XOR_PEER_ADDRESS, b"\0\3\0\0" + b"\0" * 4)],
            "XOR-PEER-ADDRESS IPv6 length with family 1": [(tc.XOR_PEER_ADDRESS, b"\0\1" + b"\0" * 18)],
            "no XOR-PEER-ADDRESS": [],
        }
        for what, attrs in bad.items():
            resp = c.request(tc.CREATE_PERMISSION, attrs)
            assert resp.error_code() == 400, (what, resp)
        for what, attrs in {"CHANNEL-NUMBER of 2 bytes": [(tc.CHANNEL_NUMBER, b"\x40\x01")],
                            "channel 0x3FFF": [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x3FFF))],
                            "channel 0x8000": [(tc.CHANNEL_NUMBER, tc.encode_channel_number(0x8000))]
                            }.items():
            resp = c.request(tc.CHANNEL_BIND, attrs + [tc.peer_attr(CANARY, CANARY_PORT)])
            assert resp.error_code() in (400, 403), (what, resp)
        resp = c.request(tc.REFRESH, [(tc.LIFETIME, b"\0\0\1")])
        assert resp.error_code() == 400, resp
        # A Send indication with a truncated DATA at a canary.
        msg = tc.Message(tc.SEND, tc.INDICATION)
        msg.add(tc.XOR_PEER_ADDRESS, tc.encode_xor_address(CANARY, CANARY_PORT, msg.tid))
        data = bytearray(tc.encode(msg)) + struct.pack("!HH", tc.DATA_ATTR, 100) + b"x" * 8
        struct.pack_into("!H", data, 2, len(data) - tc.HEADER_LEN)
        c.send_raw(bytes(data))
        # Over TCP: a frame declaring more than it carries, then silence.
        tcp.send_raw(hdr(tc.BINDING, 400)[:20] + b"\0" * 40)
        canaries.assert_silent(0.3, "after malformed messages")
        # Still serving.
        probe = client(ns, d, auth=False)
        assert probe.binding() is not None
        probe.close()
        c2 = client(ns, d, user="after")
        c2.allocate()
        c2.close()
        c.close()
    finally:
        raw.close()
        tcp.close()
    assert d.proc.alive()
