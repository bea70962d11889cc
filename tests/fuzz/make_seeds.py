#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/).

Seeds are real message shapes: the RFC 5769 test vectors, the RFC 8489 B.1
vector (as corrected by erratum 6268), and TURN requests, responses and
indications built here with an encoder independent of the C codec. Messages
that carry MESSAGE-INTEGRITY use the key of fuzz_stun_msg.c, so the fuzzer
starts from inputs that pass the integrity check. Deterministic: rerunning it
rewrites the same bytes.

    python3 tests/fuzz/make_seeds.py
"""
import hashlib
import hmac
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
COOKIE = 0x2112A442
FUZZ_KEY = b"fuzz-key-0123456"
TID = bytes(range(1, 13))

RFC5769 = {
    "rfc5769_request": "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420"
    "636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a683676"
    "59202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf",
    "rfc5769_response_v4": "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563"
    "746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06b"
    "e7d780280004c07d4c96",
    "rfc5769_response_v6": "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563"
    "746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be6"
    "7bf11784c97c8292c275bfe3ed4180280004c8fb0b4c",
    "rfc5769_long_term": "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aa"
    "e38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c39465354"
    "7679363473410014000b6578616d706c652e6f72670000080014f67024656dd64a3e02b8e0712e"
    "85c9a28ca89666",
    "rfc8489_b1_erratum6268": "000100902112a44278ad3433c6ad72c029da412e001e00204a3cf38fef69"
    "92bda952c6780417da0f24819415569e60b205c46e41407f1704001500296f624d61744a6f7332"
    "41414143662f2f3439396b39353464364f4c33346f4c394653547679363473410000000014000b"
    "6578616d706c652e6f726700001d000400020000001c0020b5c7bf005b6c52a21c51c5e892f819"
    "24136296cb927c43149309278cc6518e65",
}


def attr(atype, value):
    return struct.pack("!HH", atype, len(value)) + value + b"\0" * (-len(value) % 4)


def header(mtype, body_len, tid=TID):
    return struct.pack("!HHI", mtype, body_len, COOKIE) + tid


def with_mi(mtype, body, key=FUZZ_KEY, sha256=False, tid=TID):
    """Appends MESSAGE-INTEGRITY(-SHA256) computed per RFC 8489 s14.5/14.6."""
    atype, digest, size = (0x001C, hashlib.sha256, 32) if sha256 else (0x0008, hashlib.sha1, 20)
    mac = hmac.new(key, header(mtype, len(body) + 4 + size, tid) + body, digest).digest()
    return body + attr(atype, mac)


def message(mtype, body, fingerprint=True, tid=TID):
    if fingerprint:
        crc = zlib.crc32(header(mtype, len(body) + 8, tid) + body) ^ 0x5354554E
        body += attr(0x8028, struct.pack("!I", crc))
    return header(mtype, len(body), tid) + body


def xor_addr(ip, port, tid=TID):
    pad = struct.pack("!I", COOKIE) + tid
    fam = 1 if len(ip) == 4 else 2
    xip = bytes(a ^ b for a, b in zip(ip, pad))
    return struct.pack("!BBH", 0, fam, port ^ (COOKIE >> 16)) + xip


V4 = bytes([203, 0, 113, 7])
V6 = bytes.fromhex("20010db8000000000000000000000042")
U32 = lambda v: struct.pack("!I", v)  # noqa: E731


def turn_messages():
    auth = attr(0x0006, b"1700000000:alice") + attr(0x0014, b"example.org") + \
        attr(0x0015, b"obMatJos2AAACnonce")
    alloc = attr(0x0019, bytes([17, 0, 0, 0])) + attr(0x000D, U32(600)) + attr(0x001A, b"")
    yield "binding_request", message(0x0001, b"")
    yield "binding_request_fp_software", message(0x0001, attr(0x8022, b"tern"))
    yield "allocate_unauth", message(0x0003, alloc, fingerprint=False)
    yield "allocate_auth_mi", message(0x0003, with_mi(0x0003, alloc + auth))
    yield "allocate_auth_mi_mi256", message(
        0x0003, with_mi(0x0003, with_mi(0x0003, alloc + auth), sha256=True))
    yield "allocate_even_port_family", message(0x0003, with_mi(
        0x0003, alloc + attr(0x0018, b"\x80") + attr(0x0017, bytes([2, 0, 0, 0])) +
        attr(0x8000, bytes([1, 0, 0, 0])) + auth))
    yield "allocate_401", message(0x0113, attr(0x0009, bytes([0, 0, 4, 1])) +
                                  attr(0x0014, b"example.org") + attr(0x0015, b"nonce-123") +
                                  attr(0x8002, bytes.fromhex("0002000000010000")))
    yield "allocate_420_unknown", message(0x0113, attr(0x0009, bytes([0, 0, 4, 20])) +
                                          attr(0x000A, bytes.fromhex("003000310032")))
    yield "allocate_success", message(0x0103, with_mi(
        0x0103, attr(0x0016, xor_addr(V4, 49152)) + attr(0x0020, xor_addr(V6, 3478)) +
        attr(0x000D, U32(600)) + attr(0x0022, bytes(8)), sha256=True))
    yield "refresh_zero", message(0x0004, with_mi(0x0004, attr(0x000D, U32(0)) + auth))
    yield "create_permission", message(0x0008, with_mi(
        0x0008, attr(0x0012, xor_addr(V4, 0)) + attr(0x0012, xor_addr(V6, 0)) + auth))
    yield "channel_bind", message(0x0009, with_mi(
        0x0009, attr(0x000C, bytes([0x40, 0x01, 0, 0])) + attr(0x0012, xor_addr(V4, 5000)) + auth))
    yield "send_indication", message(0x0016, attr(0x0012, xor_addr(V4, 5000)) +
                                     attr(0x0013, b"hello peer") + attr(0x001A, b""), False)
    yield "data_indication", message(0x0017, attr(0x0012, xor_addr(V6, 5000)) +
                                     attr(0x0013, bytes(range(37))), False)
    yield "alternate_server_300", message(0x0113, attr(0x0009, bytes([0, 0, 3, 0])) +
                                          attr(0x8023, struct.pack("!BBH", 0, 1, 3478) + V4) +
                                          attr(0x8003, b"relay2.example.org"))
    yield "ice_binding", message(0x0001, with_mi(
        0x0001, attr(0x0006, b"abcd:efgh") + attr(0x0024, U32(0x6E0001FF)) +
        attr(0x802A, bytes(8)) + attr(0x0025, b"") + attr(0x0030, b"x")))


def channel_data(channel, payload, pad=True):
    data = struct.pack("!HH", channel, len(payload)) + payload
    return data + b"\0" * (-len(data) % 4 if pad else 0)


def stream_seeds(msgs):
    yield "cd_udp_unpadded", channel_data(0x4001, b"hello", pad=False)
    yield "cd_tcp_padded", channel_data(0x4FFF, b"hello")
    yield "cd_empty", channel_data(0x4000, b"")
    yield "stun_then_cd", msgs["allocate_auth_mi"] + channel_data(0x4001, bytes(100))
    yield "mixed_stream", (msgs["binding_request"] + channel_data(0x4002, b"abc") +
                           msgs["send_indication"] + channel_data(0x4003, bytes(range(64))) +
                           msgs["refresh_zero"])
    yield "partial_tail", msgs["channel_bind"] + msgs["allocate_unauth"][:13]
    yield "cd_reserved_channel", channel_data(0x5000, b"reserved")
    yield "rfc5769_stream", b"".join(bytes.fromhex(h) for h in RFC5769.values())


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    msg_dir = os.path.join(HERE, "corpus", "stun_msg")
    msgs = {name: bytes.fromhex(h) for name, h in RFC5769.items()}
    msgs.update(turn_messages())
    for name, data in msgs.items():
        write(msg_dir, name, data)
    for name, data in stream_seeds(msgs):
        write(os.path.join(HERE, "corpus", "stream_frame"), name, data)


if __name__ == "__main__":
    main()
