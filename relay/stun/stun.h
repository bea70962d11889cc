/* STUN message codec (RFC 8489) with the TURN (RFC 8656) attributes.
 *
 * Pure: no I/O, no allocation, no logging. The parser walks a caller's buffer
 * with a bounded cursor and records where each attribute sits; the builder
 * writes into a caller's buffer and keeps a sticky error, so callers check
 * once at the end. Both are what the fuzz targets in tests/fuzz exercise. */
#ifndef TERN_RELAY_STUN_H
#define TERN_RELAY_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/sockaddr.h"

#define STUN_HEADER_LEN     20
#define STUN_MAGIC_COOKIE   0x2112A442u
#define STUN_TID_LEN        12
#define STUN_MAX_ATTRS      48  /* more than this and the message is rejected (400) */
#define STUN_MAX_UNKNOWN    8   /* unknown comprehension-required types reported in 420 */

/* Message classes, as the two class bits of the type. */
enum stun_class {
	STUN_REQUEST = 0x0000,
	STUN_INDICATION = 0x0010,
	STUN_SUCCESS = 0x0100,
	STUN_ERROR = 0x0110,
};

/* Methods. */
enum stun_method {
	STUN_BINDING = 0x001,
	TURN_ALLOCATE = 0x003,
	TURN_REFRESH = 0x004,
	TURN_SEND = 0x006,
	TURN_DATA = 0x007,
	TURN_CREATE_PERMISSION = 0x008,
	TURN_CHANNEL_BIND = 0x009,
};

/* Attribute types. */
enum stun_attr_type {
	STUN_ATTR_MAPPED_ADDRESS = 0x0001,
	STUN_ATTR_USERNAME = 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
	STUN_ATTR_ERROR_CODE = 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
	TURN_ATTR_CHANNEL_NUMBER = 0x000C,
	TURN_ATTR_LIFETIME = 0x000D,
	TURN_ATTR_XOR_PEER_ADDRESS = 0x0012,
	TURN_ATTR_DATA = 0x0013,
	STUN_ATTR_REALM = 0x0014,
	STUN_ATTR_NONCE = 0x0015,
	TURN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
	TURN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
	TURN_ATTR_EVEN_PORT = 0x0018,
	TURN_ATTR_REQUESTED_TRANSPORT = 0x0019,
	TURN_ATTR_DONT_FRAGMENT = 0x001A,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
	STUN_ATTR_USERHASH = 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	TURN_ATTR_RESERVATION_TOKEN = 0x0022,
	STUN_ATTR_PRIORITY = 0x0024,        /* ICE, passed over */
	STUN_ATTR_USE_CANDIDATE = 0x0025,   /* ICE, passed over */
	STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
	STUN_ATTR_SOFTWARE = 0x8022,
	STUN_ATTR_ALTERNATE_SERVER = 0x8023,
	TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	TURN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
	STUN_ATTR_FINGERPRINT = 0x8028,
	STUN_ATTR_ICE_CONTROLLED = 0x8029,  /* ICE, passed over */
	STUN_ATTR_ICE_CONTROLLING = 0x802A, /* ICE, passed over */
};

/* Password algorithm numbers (RFC 8489 section 18.5). */
enum stun_password_alg { STUN_PWALG_MD5 = 0x0001, STUN_PWALG_SHA256 = 0x0002 };

static inline uint16_t stun_type(uint16_t method, enum stun_class cls)
{
	return (uint16_t)(((method & 0x0f80) << 2) | ((method & 0x0070) << 1) |
			  (method & 0x000f) | (uint16_t)cls);
}
static inline uint16_t stun_type_method(uint16_t type)
{
	return (uint16_t)(((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f));
}
static inline enum stun_class stun_type_class(uint16_t type)
{
	return (enum stun_class)(type & 0x0110);
}

struct stun_attr {
	uint16_t type;
	uint16_t len;       /* value length, without padding */
	uint16_t offset;    /* of the value, from the start of the message */
};

/* A parsed message: a view into the caller's buffer, which must outlive it. */
struct stun_msg {
	const uint8_t *buf;
	size_t len;                 /* 20 + header length field */
	uint16_t type;
	uint8_t tid[STUN_TID_LEN];
	uint16_t n_attrs;
	struct stun_attr attrs[STUN_MAX_ATTRS];
	/* Offsets (from message start) of the integrity attributes' headers, 0 if absent. */
	uint16_t mi_offset, mi256_offset, fingerprint_offset;
	/* Comprehension-required (type < 0x8000) attributes this codec does not
	 * know, in order of appearance, for a 420 answer. */
	uint16_t n_unknown;
	uint16_t unknown[STUN_MAX_UNKNOWN];
	bool fingerprint_ok;        /* present and correct */
};

/* Returns true if buf starts like a STUN message (first two bits 0, magic
 * cookie present, length a multiple of 4). Cheap first-byte demultiplexing. */
bool stun_is_message(const uint8_t *buf, size_t len);

/* Parses a complete STUN message of exactly `len` bytes (UDP datagram or one
 * framed TCP message). Attributes after MESSAGE-INTEGRITY are ignored except
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; nothing after FINGERPRINT counts.
 * A FINGERPRINT present but wrong makes the parse fail. Returns 0, or
 * -EINVAL for a malformed message (wrong length fields, too many attributes,
 * counting those ignored after MESSAGE-INTEGRITY, attribute overrunning the
 * message, wrong cookie, or longer than 65535 bytes: offsets are 16-bit). */
int stun_msg_parse(struct stun_msg *msg, const uint8_t *buf, size_t len);

/* First attribute of this type that counts, or NULL. */
const struct stun_attr *stun_msg_find(const struct stun_msg *msg, uint16_t type);
static inline const uint8_t *stun_attr_value(const struct stun_msg *msg, const struct stun_attr *a)
{
	return msg->buf + a->offset;
}

/* Attribute decoders: 0 on success, -EINVAL if the value is malformed.
 * Out-parameters are written only on success. */
int stun_attr_get_xor_addr(const struct stun_msg *msg, const struct stun_attr *a,
			   struct sockaddr_storage *out);
int stun_attr_get_addr(const struct stun_msg *msg, const struct stun_attr *a,
		       struct sockaddr_storage *out);   /* plain MAPPED-ADDRESS form */
int stun_attr_get_u32(const struct stun_msg *msg, const struct stun_attr *a, uint32_t *out);
int stun_attr_get_error(const struct stun_msg *msg, const struct stun_attr *a, int *code);
/* CHANNEL-NUMBER: the 16-bit number (RFFU bytes ignored). */
int stun_attr_get_channel(const struct stun_msg *msg, const struct stun_attr *a, uint16_t *out);
/* REQUESTED-TRANSPORT: protocol number (17 for UDP). */
int stun_attr_get_transport(const struct stun_msg *msg, const struct stun_attr *a, uint8_t *proto);
/* REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY: 0x01 IPv4 -> AF_INET, 0x02 IPv6 -> AF_INET6. */
int stun_attr_get_family(const struct stun_msg *msg, const struct stun_attr *a, int *family);
/* EVEN-PORT: the R bit. */
int stun_attr_get_even_port(const struct stun_msg *msg, const struct stun_attr *a, bool *reserve);
/* PASSWORD-ALGORITHM: algorithm number (parameters must be empty for MD5/SHA256). */
int stun_attr_get_password_alg(const struct stun_msg *msg, const struct stun_attr *a, uint16_t *alg);

/* Integrity. key is the long-term key: MD5(username ":" realm ":" password)
 * for MESSAGE-INTEGRITY, SHA-256 of the same for MESSAGE-INTEGRITY-SHA256
 * (RFC 8489 section 9.2.2). Comparisons are constant-time.
 * Return 0 when the attribute is present and correct, -ENOENT when absent,
 * -EBADMSG when wrong (or of an invalid length), -ENOMEM if libcrypto fails. */
int stun_msg_check_integrity(const struct stun_msg *msg, const uint8_t *key, size_t key_len);
int stun_msg_check_integrity_sha256(const struct stun_msg *msg, const uint8_t *key, size_t key_len);

/* FINGERPRINT value (CRC-32 xor 0x5354554e) of the message in buf whose
 * FINGERPRINT attribute header sits at fp_offset: the CRC covers the bytes
 * before it, with the header length field taken as ending after that
 * attribute. Shared by the parser and the builder. */
uint32_t stun_fingerprint(const uint8_t *buf, size_t fp_offset);

/* Long-term keys: out must hold 16 bytes (MD5) or 32 bytes (SHA-256). */
void stun_long_term_key_md5(const char *username, size_t ulen, const char *realm, size_t rlen,
			    const char *password, size_t plen, uint8_t out[16]);
void stun_long_term_key_sha256(const char *username, size_t ulen, const char *realm, size_t rlen,
			       const char *password, size_t plen, uint8_t out[32]);

/* Builder. All functions are no-ops once an error is set; check b->err (or
 * the return of stun_build_finish) once at the end. */
struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;            /* 0 or -ENOSPC (also past 65535 bytes) / -EINVAL, sticky */
};

void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type,
		     const uint8_t tid[STUN_TID_LEN]);
void stun_build_attr(struct stun_builder *b, uint16_t type, const void *value, size_t len);
void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t value);
void stun_build_xor_addr(struct stun_builder *b, uint16_t type, const struct sockaddr_storage *addr);
void stun_build_addr(struct stun_builder *b, uint16_t type, const struct sockaddr_storage *addr);
/* ERROR-CODE with an empty reason phrase (short answers, no amplification)
 * unless `reason` is given. */
void stun_build_error(struct stun_builder *b, int code, const char *reason);
void stun_build_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n);
/* Appends MESSAGE-INTEGRITY (HMAC-SHA1) / MESSAGE-INTEGRITY-SHA256 over the message so far. */
void stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t key_len);
void stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t key_len);
/* Appends FINGERPRINT; call last. */
void stun_build_fingerprint(struct stun_builder *b);
/* Returns the message length, or the sticky negative error. */
int stun_build_finish(struct stun_builder *b);

/* ChannelData (RFC 8656 section 12.4): 4-byte header. RFC 8656 narrowed
 * channel numbers to 0x4000-0x4FFF, but RFC 5766 clients still in the field
 * (coturn's among them) pick from 0x4000-0x7FFF; on the client-to-server link
 * the wider range collides with nothing, so Tern accepts it. */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x7FFF
static inline bool turn_is_channel_data(const uint8_t *buf, size_t len)
{
	return len >= 4 && (buf[0] & 0xC0) == 0x40;
}
/* Parses a ChannelData message of `len` bytes (UDP: the datagram; the
 * length field may be smaller than the datagram, padding follows).
 * Returns 0 and sets channel/payload/payload_len, or -EINVAL. */
int turn_channel_data_parse(const uint8_t *buf, size_t len, uint16_t *channel,
			    const uint8_t **payload, size_t *payload_len);

/* Stream framing for TCP/TLS (RFC 8656 section 12.4 and RFC 8489 section 6.2.2):
 * given the bytes buffered so far, returns the size of the first complete
 * frame (STUN: 20 + length; ChannelData: 4 + length rounded up to 4), 0 if
 * more bytes are needed, or -EINVAL if the stream cannot be framed (first
 * bits neither 00 nor 01, or a STUN length not a multiple of 4), after which
 * the connection must be closed. `max_frame` bounds a frame's size. */
ssize_t stun_stream_frame_len(const uint8_t *buf, size_t len, size_t max_frame);

#endif
