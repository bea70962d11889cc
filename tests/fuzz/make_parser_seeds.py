#!/usr/bin/env python3
"""Writes the committed seed corpora of the parser fuzz targets added for
"hardened under attack": stun_attr, cred, nonce, cidr, conf, secrets,
revocation (tests/fuzz/corpus/<target>/). make_seeds.py keeps writing the
STUN message and stream ones. Deterministic: rerunning it rewrites the same
bytes. Files named crash-* or regress-* in a corpus are regression inputs
kept by hand (a finding's reproducer) and are never touched here.

    python3 tests/fuzz/make_parser_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TID = bytes(range(1, 13))
COOKIE = 0x2112A442
NOW, MAX_TTL, SKEW = 1700000000, 86400, 30


def xor_addr(ip, port):
    pad = struct.pack("!I", COOKIE) + TID
    fam = 1 if len(ip) == 4 else 2
    return struct.pack("!BBH", 0, fam, port ^ (COOKIE >> 16)) + bytes(a ^ b for a, b in zip(ip, pad))


def stun_attr_seeds():
    """selector byte (decoder = byte % 9), transaction id, attribute value."""
    v4, v6 = bytes([203, 0, 113, 7]), bytes.fromhex("20010db8000000000000000000000042")
    values = {
        0: [xor_addr(v4, 5000), xor_addr(v6, 5000), xor_addr(v4, 0)[:7]],
        1: [struct.pack("!BBH", 0, 1, 3478) + v4, struct.pack("!BBH", 0, 2, 3478) + v6,
            struct.pack("!BBH", 0, 3, 1) + v4],
        2: [struct.pack("!I", 600), b"\0\0\0"],
        3: [bytes([0, 0, 4, 1]) + b"Unauthorized", bytes([0, 0, 7, 0]), bytes([0, 0, 4])],
        4: [bytes([0x40, 0x01, 0, 0]), bytes([0x40, 0x01])],
        5: [bytes([17, 0, 0, 0]), bytes([6, 0, 0, 0, 0])],
        6: [bytes([1, 0, 0, 0]), bytes([2, 0, 0, 0]), bytes([3, 0, 0, 0])],
        7: [b"\x80", b"\x00", b"\x80\x00"],
        8: [struct.pack("!HH", 2, 0), struct.pack("!HH", 1, 4) + b"abcd", struct.pack("!HH", 2, 9)],
    }
    for sel, vals in values.items():
        for i, v in enumerate(vals):
            yield f"sel{sel}_{i}", bytes([sel]) + TID + v


def cred_seeds():
    t = struct.pack("<qqq", NOW, MAX_TTL, SKEW)
    names = {
        "ok": f"{NOW + 3600}:alice", "ok_colon_id": f"{NOW + 60}:org:42:bob",
        "expired": f"{NOW - 1}:alice", "now": f"{NOW}:alice",
        "far_future": f"{NOW + MAX_TTL + SKEW + 1}:alice", "edge": f"{NOW + MAX_TTL + SKEW}:alice",
        "no_id": f"{NOW + 60}:", "no_colon": f"{NOW + 60}", "sign": f"+{NOW + 60}:a",
        "minus": "-1:a", "19_digits": "9223372036854775807:a", "20_digits": "99999999999999999999:a",
        "ctrl": f"{NOW + 60}:a\tb", "high_byte": f"{NOW + 60}:\xe9", "leading_zero": "0001700003600:a",
        "long_id": f"{NOW + 60}:" + "u" * 256, "too_long_id": f"{NOW + 60}:" + "u" * 257,
    }
    for name, u in names.items():
        yield name, t + u.encode("latin-1")
    yield "overflow_window", struct.pack("<qqq", -2**63, 2**63 - 1, 2**63 - 1) + b"1:a"


def nonce_seeds():
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    body = "".join(b64[(i * 7) % 64] for i in range(32))
    yield "shape", ("obMatJos2gAAA" + body).encode()
    yield "short", b"obMatJos2gAAA" + body[:31].encode()
    yield "std_base64", ("obMatJos2gAAA" + body.replace("-", "+").replace("_", "/")).encode()
    yield "no_features", ("obMatJos2" + body).encode()
    yield "rfc8489_b1", b"obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"


CIDRS = ["10.0.0.0/8", "0.0.0.0/0", "::/0", "2001:db8::/32", "fd00::1/128", "127.0.0.1",
         "::ffff:10.0.0.0/104", "64:ff9b::/96", "10.0.0.1/8", "10.0.0.0/08", "10.0.0.0/33",
         "fe80::/10", "fe80::1%lo/128", "::/129", "1.2.3.4/", "/8", "1.2.3/24", "a::b::c/64",
         "255.255.255.255/32", "2002::/16"]


def conf_text(extra="", peers='allow = [ "127.0.0.0/8", "::1/128" ];'):
    return f"""realm = "tern.fuzz";
workers = 2;
software = "tern";
listen: {{ udp = [ "127.0.0.1:3478", "[::1]:3478" ]; tcp = [ "127.0.0.1:3478" ]; }};
relay: {{ addresses = [ "127.0.0.1", "::1" ]; port_min = 61000; port_max = 61999; }};
auth: {{ secrets_file = "secrets"; hmac = "sha1"; max_ttl = 86400; nonce_lifetime = 600; clock_skew = 30; }};
limits: {{ allocations_total = 1000; allocations_per_user = 20; permissions_per_allocation = 32;
  channels_per_allocation = 32; default_lifetime = 600; max_lifetime = 3600;
  unauth_rate = 20; unauth_burst = 40; stream_auth_timeout = 30; stream_idle_timeout = 120;
  stream_buffer = 524288; connections_per_source = 64; }};
peers: {{ {peers} deny = [ "10.0.0.0/8" ]; }};
log: {{ level = "info"; }};
{extra}"""


def conf_seeds():
    yield "full", conf_text()
    yield "minimal", 'realm = "r";\nrelay: { addresses = [ "192.0.2.1" ]; };\nauth: { secrets_file = "secrets"; };\n'
    yield "tls", conf_text('tls: { listen = [ "127.0.0.1:5349" ]; certificate = "cert.pem"; '
                           'private_key = "key.pem"; handshake_timeout = 10;\n'
                           '  passthrough = ( { sni = "*.example.org"; alpn = "h2"; backend = "127.0.0.1:8443"; } ); };\n')
    yield "revocation", conf_text('revocation: { redis = "127.0.0.1:6379"; username = "tern"; '
                                  'key_prefix = "tern:"; state_dir = "state"; stale_after = 15; stale_grace = 300; };\n')
    yield "drain_metrics_audit", conf_text('drain: { alternate_server = "192.0.2.2:3478"; deadline = 60; };\n'
                                           'metrics: { listen = "127.0.0.1:9641"; per_allocation = true; };\n'
                                           'audit: { file = "audit.log"; client_address = "truncated"; };\n')
    yield "bad_range", conf_text().replace("port_min = 61000", "port_min = 62000")
    yield "unknown_key", conf_text("bogus = 1;\n")
    yield "syntax_error", conf_text().replace("realm = \"tern.fuzz\";", "realm = \"tern.fuzz\"")
    yield "bad_cidr", conf_text(peers='allow = [ "10.0.0.1/8" ];')
    yield "include", '@include "secrets"\n' + conf_text()


def secrets_seeds():
    yield "one", "fuzz-secret-0123456789abcdef\n"
    yield "rotation", "# new first\nnew-secret-0123456789abcdef\r\n\nold-secret-0123456789abcdef  \n"
    yield "short", "too-short\n"
    yield "leading_space", "  fuzz-secret-0123456789abcdef\n"
    yield "ctrl", "fuzz-secret-\x01123456789abcdef\n"
    yield "nine", "".join(f"secret-number-{i}-0123456789\n" for i in range(9))
    yield "no_newline", "x" * 256
    yield "too_long", "x" * 257 + "\n"
    yield "comments_only", "# nothing\n\n"


def revocation_seeds():
    hx = lambda s: s.encode().hex()  # noqa: E731
    head = "tern-revocations 1\nlast-id 1700000000000-0\nnewest-ms 1700000000000\n"
    yield "empty", head
    yield "none", "tern-revocations 1\nlast-id -\nnewest-ms 0\n"
    yield "entries", (head + f"user 1800000000 {hx('alice')}\n"
                      f"credential 1800000000 {hx('1800000000:bob')}\n"
                      f"user 1600000000 {hx('expired')}\n")
    yield "hostile_id", head + "user 1800000000 " + bytes(range(256))[:200].hex() + "\n"
    yield "max_value", head + "user 1800000000 " + "61" * 512 + "\n"
    yield "over_value", head + "user 1800000000 " + "61" * 513 + "\n"
    yield "uppercase_hex", head + "user 1800000000 4142\n"
    yield "odd_hex", head + "user 1800000000 414\n"
    yield "bad_kind", head + "group 1800000000 4142\n"
    yield "bad_header", "tern-revocations 2\n"
    yield "duplicate", head + f"user 1800000000 {hx('a')}\nuser 1900000000 {hx('a')}\n"


def write_corpus(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data.encode("latin-1") if isinstance(data, str) else data)


def main():
    write_corpus("stun_attr", stun_attr_seeds())
    write_corpus("cred", cred_seeds())
    write_corpus("nonce", nonce_seeds())
    write_corpus("cidr", ((c.replace("/", "_").replace(":", "-") or "empty", c) for c in CIDRS))
    write_corpus("conf", conf_seeds())
    write_corpus("secrets", secrets_seeds())
    write_corpus("revocation", revocation_seeds())


if __name__ == "__main__":
    main()
