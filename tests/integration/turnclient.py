"""A small STUN/TURN test client, written from RFC 8489 (STUN) and RFC 8656 (TURN).

It is meant for tests: clear rather than fast, strict about what it receives,
and able to send malformed input on purpose. Standard library only.

Layers, bottom up:
  * message codec    -- Message, encode(), decode(), attribute helpers
  * integrity        -- long-term credential keys, MESSAGE-INTEGRITY(-SHA256), FINGERPRINT
  * transports       -- UdpTransport / TcpTransport (TCP frames STUN and ChannelData)
  * TurnClient       -- the 401 dance, Allocate/Refresh/CreatePermission/ChannelBind,
                        Send indications, ChannelData, raw sends
  * helpers          -- REST credentials, UdpPeer (a plain UDP peer socket)

Every socket operation has a timeout and every loop is bounded.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import select
import socket
import struct
import time

MAGIC_COOKIE = 0x2112A442
HEADER_LEN = 20

# --- methods and classes (RFC 8489 5, RFC 8656 17) ---------------------------
BINDING = 0x001
ALLOCATE = 0x003
REFRESH = 0x004
SEND = 0x006
DATA = 0x007
CREATE_PERMISSION = 0x008
CHANNEL_BIND = 0x009

REQUEST = 0
INDICATION = 1
SUCCESS = 2
ERROR = 3

# --- attributes (RFC 8489 18.3, RFC 8656 18) ---------------------------------
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA_ATTR = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
DONT_FRAGMENT = 0x001A
MESSAGE_INTEGRITY_SHA256 = 0x001C
PASSWORD_ALGORITHM = 0x001D
USERHASH = 0x001E
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
ADDITIONAL_ADDRESS_FAMILY = 0x8000
ADDRESS_ERROR_CODE = 0x8001
PASSWORD_ALGORITHMS = 0x8002
ALTERNATE_DOMAIN = 0x8003
ICMP = 0x8004
SOFTWARE = 0x8022
ALTERNATE_SERVER = 0x8023
FINGERPRINT = 0x8028

FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02
PROTO_UDP = 17
PROTO_TCP = 6

PASSWORD_ALGORITHM_MD5 = 0x0001
PASSWORD_ALGORITHM_SHA256 = 0x0002

FINGERPRINT_XOR = 0x5354554E
MAX_AUTH_ROUNDS = 3  # 401 -> authenticated -> one 438 retry


class StunError(Exception):
    """A message that could not be parsed, or a protocol expectation not met."""


class TurnError(Exception):
    """An error response. .code is the STUN error code, .response the Message."""

    def __init__(self, code, reason, response):
        super().__init__(f"{code} {reason!r}")
        self.code = code
        self.reason = reason
        self.response = response


# --- message type encoding (RFC 8489 5, figure 3) ----------------------------
def message_type(method, cls):
    return ((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2)
            | ((cls & 1) << 4) | ((cls & 2) << 7))


def split_message_type(t):
    method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
    cls = ((t >> 4) & 1) | ((t >> 7) & 2)
    return method, cls


def new_tid():
    return os.urandom(12)


def pad4(n):
    return (4 - n % 4) % 4


class Message:
    """A STUN message: method, class, 12-byte transaction id and an ordered
    list of (type, value) attributes. decode() also keeps .raw, the bytes it
    came from, for integrity checks."""

    def __init__(self, method, cls, tid=None, attrs=None):
        self.method = method
        self.cls = cls
        self.tid = tid if tid is not None else new_tid()
        self.attrs = list(attrs or [])
        self.raw = None

    def add(self, atype, value):
        self.attrs.append((atype, bytes(value)))
        return self

    def get(self, atype):
        for t, v in self.attrs:
            if t == atype:
                return v
        return None

    def get_all(self, atype):
        return [v for t, v in self.attrs if t == atype]

    def has(self, atype):
        return self.get(atype) is not None

    # typed accessors ------------------------------------------------------
    def xor_address(self, atype=XOR_MAPPED_ADDRESS):
        v = self.get(atype)
        return None if v is None else decode_xor_address(v, self.tid)

    def xor_addresses(self, atype):
        return [decode_xor_address(v, self.tid) for v in self.get_all(atype)]

    def error(self):
        v = self.get(ERROR_CODE)
        return None if v is None else decode_error_code(v)

    def error_code(self):
        e = self.error()
        return None if e is None else e[0]

    def lifetime(self):
        v = self.get(LIFETIME)
        return None if v is None else struct.unpack("!I", v[:4])[0]

    def text(self, atype):
        v = self.get(atype)
        return None if v is None else v.decode("utf-8", "replace")

    def unknown_attributes(self):
        v = self.get(UNKNOWN_ATTRIBUTES)
        if v is None:
            return None
        return [struct.unpack("!H", v[i:i + 2])[0] for i in range(0, len(v) - 1, 2)]

    def __repr__(self):
        names = ", ".join(f"0x{t:04x}" for t, _ in self.attrs)
        return (f"Message(method=0x{self.method:03x}, cls={self.cls}, "
                f"tid={self.tid.hex()}, attrs=[{names}])")


def encode_attrs(attrs):
    out = bytearray()
    for t, v in attrs:
        out += struct.pack("!HH", t, len(v)) + v + b"\0" * pad4(len(v))
    return bytes(out)


def encode_header(method, cls, length, tid):
    return struct.pack("!HHI", message_type(method, cls), length, MAGIC_COOKIE) + tid


def encode(msg, key=None, integrity="sha1", fingerprint=False):
    """Serialises msg. With a key, appends MESSAGE-INTEGRITY ("sha1"),
    MESSAGE-INTEGRITY-SHA256 ("sha256") or both ("both", SHA-1 first, as
    RFC 8489 14.6 orders them); then FINGERPRINT if asked."""
    body = encode_attrs(msg.attrs)
    if key is not None:
        kinds = {"sha1": ["sha1"], "sha256": ["sha256"], "both": ["sha1", "sha256"]}[integrity]
        for kind in kinds:
            atype, size = ((MESSAGE_INTEGRITY, 20) if kind == "sha1"
                           else (MESSAGE_INTEGRITY_SHA256, 32))
            # The length in the header covers the integrity attribute itself.
            hdr = encode_header(msg.method, msg.cls, len(body) + 4 + size, msg.tid)
            mac = hmac.new(key, hdr + body, getattr(hashlib, kind)).digest()
            body += struct.pack("!HH", atype, size) + mac
    if fingerprint:
        hdr = encode_header(msg.method, msg.cls, len(body) + 8, msg.tid)
        crc = (binascii.crc32(hdr + body) & 0xFFFFFFFF) ^ FINGERPRINT_XOR
        body += struct.pack("!HHI", FINGERPRINT, 4, crc)
    return encode_header(msg.method, msg.cls, len(body), msg.tid) + body


def is_stun(data):
    return (len(data) >= HEADER_LEN and data[0] & 0xC0 == 0
            and struct.unpack("!I", data[4:8])[0] == MAGIC_COOKIE)


def is_channel_data(data):
    return len(data) >= 4 and data[0] & 0xC0 == 0x40


def decode(data):
    """Parses one STUN message; raises StunError on anything malformed."""
    if len(data) < HEADER_LEN:
        raise StunError("short header")
    t, length, cookie = struct.unpack("!HHI", data[:8])
    if t & 0xC000:
        raise StunError("first two bits not zero")
    if cookie != MAGIC_COOKIE:
        raise StunError("bad magic cookie")
    if length % 4 or HEADER_LEN + length != len(data):
        raise StunError(f"bad length {length} for {len(data)} bytes")
    method, cls = split_message_type(t)
    msg = Message(method, cls, bytes(data[8:20]))
    pos, end = HEADER_LEN, HEADER_LEN + length
    for _ in range(length // 4 + 1):
        if pos == end:
            break
        if end - pos < 4:
            raise StunError("truncated attribute header")
        atype, alen = struct.unpack("!HH", data[pos:pos + 4])
        if pos + 4 + alen > end:
            raise StunError(f"attribute 0x{atype:04x} overruns message")
        msg.attrs.append((atype, bytes(data[pos + 4:pos + 4 + alen])))
        pos += 4 + alen + pad4(alen)
    if pos != end:
        raise StunError("padding overruns message")
    msg.raw = bytes(data)
    return msg


# --- attribute value codecs --------------------------------------------------
def encode_xor_address(host, port, tid):
    ip = ipaddress.ip_address(host)
    xport = port ^ (MAGIC_COOKIE >> 16)
    if ip.version == 4:
        xaddr = int(ip) ^ MAGIC_COOKIE
        return struct.pack("!BBHI", 0, FAMILY_IPV4, xport, xaddr)
    mask = int.from_bytes(struct.pack("!I", MAGIC_COOKIE) + tid, "big")
    return struct.pack("!BBH", 0, FAMILY_IPV6, xport) + (int(ip) ^ mask).to_bytes(16, "big")


def decode_xor_address(value, tid):
    if len(value) < 8:
        raise StunError("short address attribute")
    _, family, xport = struct.unpack("!BBH", value[:4])
    port = xport ^ (MAGIC_COOKIE >> 16)
    if family == FAMILY_IPV4 and len(value) == 8:
        addr = struct.unpack("!I", value[4:8])[0] ^ MAGIC_COOKIE
        return (str(ipaddress.IPv4Address(addr)), port)
    if family == FAMILY_IPV6 and len(value) == 20:
        mask = int.from_bytes(struct.pack("!I", MAGIC_COOKIE) + tid, "big")
        addr = int.from_bytes(value[4:20], "big") ^ mask
        return (str(ipaddress.IPv6Address(addr)), port)
    raise StunError(f"bad address family {family} / length {len(value)}")


def encode_error_code(code, reason=""):
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()


def decode_error_code(value):
    if len(value) < 4:
        raise StunError("short ERROR-CODE")
    cls, num = value[2] & 0x07, value[3]
    return cls * 100 + num, value[4:].decode("utf-8", "replace")


def encode_unknown_attributes(types):
    return b"".join(struct.pack("!H", t) for t in types)


def encode_u32(v):
    return struct.pack("!I", v)


def encode_requested_transport(proto=PROTO_UDP):
    return struct.pack("!B3x", proto)


def encode_family(family):
    """REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY value."""
    return struct.pack("!B3x", family)


def encode_even_port(reserve_next=False):
    return bytes([0x80 if reserve_next else 0])


def encode_channel_number(channel):
    return struct.pack("!HH", channel, 0)


def encode_password_algorithms(algs):
    """algs: list of (algorithm, params-bytes)."""
    out = b""
    for alg, params in algs:
        out += struct.pack("!HH", alg, len(params)) + params + b"\0" * pad4(len(params))
    return out


def decode_password_algorithms(value):
    algs, pos = [], 0
    for _ in range(len(value) // 4 + 1):
        if pos + 4 > len(value):
            break
        alg, plen = struct.unpack("!HH", value[pos:pos + 4])
        algs.append((alg, value[pos + 4:pos + 4 + plen]))
        pos += 4 + plen + pad4(plen)
    return algs


def encode_password_algorithm(alg, params=b""):
    return struct.pack("!HH", alg, len(params)) + params + b"\0" * pad4(len(params))


# --- integrity ---------------------------------------------------------------
def long_term_key(username, realm, password, algorithm=PASSWORD_ALGORITHM_MD5):
    """RFC 8489 9.2.2: key = H(username ":" realm ":" password)."""
    material = f"{username}:{realm}:{password}".encode()
    if algorithm == PASSWORD_ALGORITHM_SHA256:
        return hashlib.sha256(material).digest()
    return hashlib.md5(material).digest()


def _integrity_offset(raw, atype):
    pos = HEADER_LEN
    for _ in range(len(raw) // 4 + 1):
        if pos + 4 > len(raw):
            return None
        t, alen = struct.unpack("!HH", raw[pos:pos + 4])
        if t == atype:
            return pos
        pos += 4 + alen + pad4(alen)
    return None


def verify_integrity(msg, key, atype=MESSAGE_INTEGRITY):
    """True if msg (decoded, with .raw) carries a valid integrity attribute
    of the given type under key; False if absent or wrong."""
    raw = msg.raw
    pos = _integrity_offset(raw, atype)
    if pos is None:
        return False
    alen = struct.unpack("!H", raw[pos + 2:pos + 4])[0]
    digest = hashlib.sha1 if atype == MESSAGE_INTEGRITY else hashlib.sha256
    hdr = raw[:2] + struct.pack("!H", pos + 4 + alen - HEADER_LEN) + raw[4:HEADER_LEN]
    mac = hmac.new(key, hdr + raw[HEADER_LEN:pos], digest).digest()
    return hmac.compare_digest(mac[:alen], raw[pos + 4:pos + 4 + alen])


def verify_fingerprint(msg):
    raw = msg.raw
    if len(raw) < HEADER_LEN + 8:
        return False
    t, alen, crc = struct.unpack("!HHI", raw[-8:])
    if t != FINGERPRINT or alen != 4:
        return False
    return (binascii.crc32(raw[:-8]) & 0xFFFFFFFF) ^ FINGERPRINT_XOR == crc


# --- ChannelData (RFC 8656 12.4) ---------------------------------------------
def encode_channel_data(channel, data, pad=False):
    out = struct.pack("!HH", channel, len(data)) + data
    return out + b"\0" * pad4(len(data)) if pad else out


def decode_channel_data(raw):
    if len(raw) < 4:
        raise StunError("short ChannelData")
    channel, length = struct.unpack("!HH", raw[:4])
    if len(raw) < 4 + length:
        raise StunError("ChannelData shorter than its length")
    return channel, bytes(raw[4:4 + length])


# --- REST credentials --------------------------------------------------------
def rest_credentials(secret, user_id, ttl=3600, now=None, algorithm="sha1"):
    """username = "<expiry>:<user_id>", password = base64(HMAC(secret, username))."""
    expiry = int(now if now is not None else time.time()) + int(ttl)
    username = f"{expiry}:{user_id}"
    return username, rest_password(secret, username, algorithm)


def rest_password(secret, username, algorithm="sha1"):
    if isinstance(secret, str):
        secret = secret.encode()
    mac = hmac.new(secret, username.encode(), getattr(hashlib, algorithm)).digest()
    return base64.b64encode(mac).decode()


# --- transports --------------------------------------------------------------
def family_of(host):
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def sockaddr(addr):
    """Normalises a socket address to (host, port)."""
    return (addr[0], addr[1])


class UdpTransport:
    reliable = False

    def __init__(self, server, timeout=2.0):
        self.server = sockaddr(server)
        self.sock = socket.socket(family_of(server[0]), socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.connect(self.server)

    def local(self):
        return sockaddr(self.sock.getsockname())

    def send(self, data):
        self.sock.send(data)

    def recv(self, timeout):
        """One datagram, or None after timeout."""
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return None
        try:
            return self.sock.recv(65536)
        except ConnectionRefusedError:
            return None

    def close(self):
        self.sock.close()


class TcpTransport:
    """Frames a TCP stream into STUN messages and ChannelData messages
    (RFC 8656 12.5: ChannelData is padded to a multiple of four over TCP)."""
    reliable = True

    def __init__(self, server, timeout=2.0):
        self.server = sockaddr(server)
        self.sock = socket.create_connection(self.server, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def local(self):
        return sockaddr(self.sock.getsockname())

    def send(self, data):
        self.sock.sendall(data)

    def _frame(self):
        if len(self.buf) < 4:
            return None
        if self.buf[0] & 0xC0 == 0:
            need = HEADER_LEN + struct.unpack("!H", self.buf[2:4])[0]
        elif self.buf[0] & 0xC0 == 0x40:
            n = struct.unpack("!H", self.buf[2:4])[0]
            need = 4 + n + pad4(n)
        else:
            raise StunError(f"unframeable byte 0x{self.buf[0]:02x} on TCP stream")
        if len(self.buf) < need:
            return None
        frame, self.buf = self.buf[:need], self.buf[need:]
        return frame

    def recv(self, timeout):
        """One framed message, or None after timeout or at EOF."""
        deadline = time.monotonic() + timeout
        for _ in range(10000):
            frame = self._frame()
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk
        raise StunError("too many reads without a frame")

    def close(self):
        self.sock.close()


def make_transport(server, transport="udp", timeout=2.0):
    if transport == "udp":
        return UdpTransport(server, timeout)
    if transport == "tcp":
        return TcpTransport(server, timeout)
    raise ValueError(transport)


# --- the TURN client ---------------------------------------------------------
class Allocation:
    def __init__(self, response):
        self.response = response
        self.relayed = response.xor_addresses(XOR_RELAYED_ADDRESS)
        self.mapped = response.xor_address(XOR_MAPPED_ADDRESS)
        self.lifetime = response.lifetime()
        token = response.get(RESERVATION_TOKEN)
        self.reservation_token = token

    @property
    def relay(self):
        return self.relayed[0]


class TurnClient:
    """One client 5-tuple talking to one server.

    Requests with auth=True go through the long-term credential dance: the
    first one is sent without credentials, the 401 supplies REALM and NONCE,
    and the request is retried (a new transaction) with USERNAME, REALM,
    NONCE and MESSAGE-INTEGRITY; a 438 refreshes the nonce and retries once.
    Indications and data that arrive while waiting for a response are queued
    for recv_data()."""

    def __init__(self, server, transport="udp", username=None, password=None,
                 timeout=2.0, integrity="sha1", password_algorithm=None,
                 fingerprint=False, check_integrity=True):
        self.server = sockaddr(server)
        self.transport_name = transport
        self.timeout = timeout
        self.t = make_transport(server, transport, timeout)
        self.username = username
        self.password = password
        self.integrity = integrity
        self.password_algorithm = password_algorithm  # None = MD5, no PASSWORD-ALGORITHM
        self.fingerprint = fingerprint
        self.check_integrity = check_integrity
        self.realm = None
        self.nonce = None
        self.offered_algorithms = None
        self.pending = []  # non-matching messages received while waiting
        self.allocation = None

    # context manager so tests never leak sockets
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.t.close()

    def local(self):
        return self.t.local()

    # -- raw access --------------------------------------------------------
    def send_raw(self, data):
        self.t.send(data)

    def recv_raw(self, timeout=None):
        if self.pending:
            return self.pending.pop(0)
        return self.t.recv(self.timeout if timeout is None else timeout)

    def key(self):
        alg = self.password_algorithm or PASSWORD_ALGORITHM_MD5
        return long_term_key(self.username, self.realm, self.password, alg)

    # -- transactions ------------------------------------------------------
    def transact_bytes(self, data, tid, timeout=None):
        """Sends data and waits for the response with this tid. Over UDP
        retransmits with a doubling interval (RFC 8489 6.2.1), bounded.
        Returns the decoded response or None on timeout."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        rto = 0.25
        next_send = time.monotonic()
        for _ in range(1000):
            now = time.monotonic()
            if now >= deadline:
                return None
            if next_send is not None and now >= next_send:
                self.t.send(data)
                next_send = None if self.t.reliable else now + rto
                rto *= 2
            wait = deadline - now if next_send is None else min(deadline, next_send) - now
            raw = self.t.recv(max(wait, 0))
            if raw is None:
                if self.t.reliable and getattr(self.t, "eof", False):
                    return None
                continue
            if is_stun(raw):
                msg = decode(raw)
                if msg.tid == tid and msg.cls in (SUCCESS, ERROR):
                    return msg
            self.pending.append(raw)
        return None

    def transact(self, msg, key=None, timeout=None):
        data = encode(msg, key, self.integrity, self.fingerprint)
        resp = self.transact_bytes(data, msg.tid, timeout)
        if resp is None:
            raise TimeoutError(f"no response to method 0x{msg.method:03x}")
        return resp

    def _auth_attrs(self):
        attrs = [(USERNAME, self.username.encode()), (REALM, self.realm.encode()),
                 (NONCE, self.nonce)]
        if self.password_algorithm is not None and self.offered_algorithms is not None:
            attrs.append((PASSWORD_ALGORITHMS, self.offered_algorithms))
            attrs.append((PASSWORD_ALGORITHM,
                          encode_password_algorithm(self.password_algorithm)))
        return attrs

    def build(self, method, attrs, auth, tid=None):
        """A request carrying attrs, with ("__xor__", host, port) placeholders
        encoded against its own transaction id (see peer_attr), plus the
        credential attributes when auth."""
        msg = Message(method, REQUEST, tid)
        for t, v in attrs:
            if isinstance(v, tuple) and v[0] == "__xor__":
                v = encode_xor_address(v[1], v[2], msg.tid)
            msg.add(t, v)
        if auth:
            for t, v in self._auth_attrs():
                msg.add(t, v)
        return msg

    def request(self, method, attrs=(), auth=True, timeout=None):
        """Runs one request to completion and returns the response (an error
        response is returned, not raised). With auth and a username it does
        the credential dance: no credentials until a 401 brings REALM and
        NONCE, then a new transaction with them; a 438 refreshes the nonce."""
        use_auth = auth and self.username is not None
        resp = None
        for _ in range(MAX_AUTH_ROUNDS):
            signed = use_auth and self.nonce is not None
            msg = self.build(method, attrs, signed)
            resp = self.transact(msg, key=self.key() if signed else None, timeout=timeout)
            code = resp.error_code()
            if use_auth and resp.has(NONCE) and (
                    (code == 401 and not signed) or code == 438):
                self._learn(resp)
                continue
            break
        if use_auth:
            self._check_response_integrity(resp)
        return resp

    def _learn(self, resp):
        self.nonce = resp.get(NONCE)
        if resp.has(REALM):
            self.realm = resp.text(REALM)
        self.offered_algorithms = resp.get(PASSWORD_ALGORITHMS)

    def _check_response_integrity(self, resp):
        """RFC 8489 9.2.4: a success response to an authenticated request
        carries MESSAGE-INTEGRITY computed with the same key."""
        if not self.check_integrity or self.nonce is None or resp.cls != SUCCESS:
            return
        # A request carrying MESSAGE-INTEGRITY-SHA256 is answered with it.
        atype = MESSAGE_INTEGRITY if self.integrity == "sha1" else MESSAGE_INTEGRITY_SHA256
        if not verify_integrity(resp, self.key(), atype):
            raise StunError("success response without valid message integrity")

    def checked(self, method, attrs=(), auth=True, timeout=None):
        resp = self.request(method, attrs, auth, timeout)
        if resp.cls == ERROR:
            code, reason = resp.error() or (0, "")
            raise TurnError(code, reason, resp)
        return resp

    # -- STUN / TURN operations ---------------------------------------------
    def binding(self):
        resp = self.checked(BINDING, auth=False)
        return resp.xor_address(XOR_MAPPED_ADDRESS)

    def allocate(self, transport=PROTO_UDP, family=None, additional_family=None,
                 lifetime=None, even_port=None, reservation_token=None,
                 dont_fragment=False, extra=()):
        attrs = [(REQUESTED_TRANSPORT, encode_requested_transport(transport))]
        if family is not None:
            attrs.append((REQUESTED_ADDRESS_FAMILY, encode_family(family)))
        if additional_family is not None:
            attrs.append((ADDITIONAL_ADDRESS_FAMILY, encode_family(additional_family)))
        if lifetime is not None:
            attrs.append((LIFETIME, encode_u32(lifetime)))
        if even_port is not None:
            attrs.append((EVEN_PORT, encode_even_port(even_port)))
        if reservation_token is not None:
            attrs.append((RESERVATION_TOKEN, reservation_token))
        if dont_fragment:
            attrs.append((DONT_FRAGMENT, b""))
        attrs.extend(extra)
        self.allocation = Allocation(self.checked(ALLOCATE, attrs))
        return self.allocation

    def refresh(self, lifetime=None, family=None):
        attrs = []
        if lifetime is not None:
            attrs.append((LIFETIME, encode_u32(lifetime)))
        if family is not None:
            attrs.append((REQUESTED_ADDRESS_FAMILY, encode_family(family)))
        return self.checked(REFRESH, attrs).lifetime()

    def create_permission(self, *peers):
        """peers: (host, port) tuples or bare host strings (port 0)."""
        attrs = [peer_attr(*((p, 0) if isinstance(p, str) else p)) for p in peers]
        return self.checked(CREATE_PERMISSION, attrs)

    def channel_bind(self, channel, peer):
        attrs = [(CHANNEL_NUMBER, encode_channel_number(channel)), peer_attr(*peer)]
        return self.checked(CHANNEL_BIND, attrs)

    def send_indication(self, peer, data, dont_fragment=False):
        msg = Message(SEND, INDICATION)
        msg.add(XOR_PEER_ADDRESS, encode_xor_address(peer[0], peer[1], msg.tid))
        if dont_fragment:
            msg.add(DONT_FRAGMENT, b"")
        msg.add(DATA_ATTR, data)
        self.t.send(encode(msg, fingerprint=self.fingerprint))

    def send_channel_data(self, channel, data):
        # Over TCP the padding is mandatory; over UDP we pad too unless the
        # payload is already aligned, exercising both forms is the test's job.
        self.t.send(encode_channel_data(channel, data, pad=self.t.reliable))

    def recv_data(self, timeout=None):
        """Next relayed payload from a peer: ("data", (host, port), bytes) for
        a Data indication, ("channel", number, bytes) for ChannelData, or None
        on timeout. Other messages are skipped (bounded)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            raw = self.recv_raw(max(deadline - time.monotonic(), 0))
            if raw is None:
                return None
            if is_channel_data(raw):
                ch, payload = decode_channel_data(raw)
                return ("channel", ch, payload)
            if is_stun(raw):
                msg = decode(raw)
                if msg.method == DATA and msg.cls == INDICATION:
                    return ("data", msg.xor_address(XOR_PEER_ADDRESS), msg.get(DATA_ATTR))
            if time.monotonic() >= deadline:
                return None
        return None


def peer_attr(host, port):
    """An XOR-PEER-ADDRESS attribute placeholder that TurnClient.build()
    encodes against the request's own transaction id."""
    return (XOR_PEER_ADDRESS, ("__xor__", host, port))


# --- a plain UDP peer ----------------------------------------------------------
class UdpPeer:
    """A UDP socket on loopback standing in for a remote peer."""

    def __init__(self, host="127.0.0.1", timeout=2.0):
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.bind((host, 0))
        self.timeout = timeout

    @property
    def addr(self):
        return sockaddr(self.sock.getsockname())

    def sendto(self, data, addr):
        self.sock.sendto(data, sockaddr(addr))

    def recvfrom(self, timeout=None):
        """(bytes, (host, port)) or None after timeout."""
        r, _, _ = select.select([self.sock], [], [], self.timeout if timeout is None else timeout)
        if not r:
            return None
        data, addr = self.sock.recvfrom(65536)
        return data, sockaddr(addr)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
