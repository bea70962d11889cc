/* STUN message parser (RFC 8489 section 5 and 14). Walks a caller's buffer
 * with a bounded cursor, records where each attribute that counts sits and
 * verifies FINGERPRINT. Integrity is checked later, by integrity.c, once the
 * TURN layer knows which key applies. No allocation: the result is a view. */
#include "relay/stun/stun.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool stun_is_message(const uint8_t *buf, size_t len)
{
	return len >= STUN_HEADER_LEN && (buf[0] & 0xC0) == 0 &&
	       rd32(buf + 4) == STUN_MAGIC_COOKIE && (rd16(buf + 2) & 3) == 0;
}

/* Types this codec understands; anything else below 0x8000 needs a 420. */
static bool stun_attr_known(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS: case STUN_ATTR_USERNAME:
	case STUN_ATTR_MESSAGE_INTEGRITY: case STUN_ATTR_ERROR_CODE:
	case STUN_ATTR_UNKNOWN_ATTRIBUTES: case TURN_ATTR_CHANNEL_NUMBER:
	case TURN_ATTR_LIFETIME: case TURN_ATTR_XOR_PEER_ADDRESS: case TURN_ATTR_DATA:
	case STUN_ATTR_REALM: case STUN_ATTR_NONCE: case TURN_ATTR_XOR_RELAYED_ADDRESS:
	case TURN_ATTR_REQUESTED_ADDRESS_FAMILY: case TURN_ATTR_EVEN_PORT:
	case TURN_ATTR_REQUESTED_TRANSPORT: case TURN_ATTR_DONT_FRAGMENT:
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256: case STUN_ATTR_PASSWORD_ALGORITHM:
	case STUN_ATTR_USERHASH: case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case TURN_ATTR_RESERVATION_TOKEN: case STUN_ATTR_PRIORITY: case STUN_ATTR_USE_CANDIDATE:
	case STUN_ATTR_PASSWORD_ALGORITHMS: case STUN_ATTR_ALTERNATE_DOMAIN:
	case STUN_ATTR_SOFTWARE: case STUN_ATTR_ALTERNATE_SERVER:
	case TURN_ATTR_ADDITIONAL_ADDRESS_FAMILY: case TURN_ATTR_ADDRESS_ERROR_CODE:
	case STUN_ATTR_FINGERPRINT: case STUN_ATTR_ICE_CONTROLLED: case STUN_ATTR_ICE_CONTROLLING:
		return true;
	default:
		return false;
	}
}

/* Where the walk stands relative to the integrity attributes (RFC 8489 s14):
 * each stage narrows what still counts. */
enum stun_stage { STAGE_OPEN, STAGE_AFTER_MI, STAGE_AFTER_MI256, STAGE_DONE };

static bool stun_attr_counts(enum stun_stage stage, uint16_t type)
{
	switch (stage) {
	case STAGE_OPEN:
		return true;
	case STAGE_AFTER_MI:
		return type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 || type == STUN_ATTR_FINGERPRINT;
	case STAGE_AFTER_MI256:
		return type == STUN_ATTR_FINGERPRINT;
	default:
		return false;
	}
}

static void stun_note_unknown(struct stun_msg *m, uint16_t type)
{
	if (type >= 0x8000 || stun_attr_known(type))
		return;
	for (uint16_t i = 0; i < m->n_unknown; i++)
		if (m->unknown[i] == type)
			return; /* one entry per type is enough for a 420 */
	if (m->n_unknown < STUN_MAX_UNKNOWN)
		m->unknown[m->n_unknown++] = type;
}

/* Records an attribute that counts and advances the stage. Returns 0 or
 * -EINVAL for a FINGERPRINT that is malformed or wrong. */
static int stun_record(struct stun_msg *m, enum stun_stage *stage, uint16_t type,
		       uint16_t vlen, size_t hdr_off)
{
	m->attrs[m->n_attrs++] = (struct stun_attr){
		.type = type, .len = vlen, .offset = (uint16_t)(hdr_off + 4) };
	switch (type) {
	case STUN_ATTR_MESSAGE_INTEGRITY:
		m->mi_offset = (uint16_t)hdr_off;
		*stage = STAGE_AFTER_MI;
		return 0;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		m->mi256_offset = (uint16_t)hdr_off;
		*stage = STAGE_AFTER_MI256;
		return 0;
	case STUN_ATTR_FINGERPRINT:
		m->fingerprint_offset = (uint16_t)hdr_off;
		*stage = STAGE_DONE;
		if (vlen != 4 || rd32(m->buf + hdr_off + 4) != stun_fingerprint(m->buf, hdr_off))
			return -EINVAL;
		m->fingerprint_ok = true;
		return 0;
	default:
		stun_note_unknown(m, type);
		return 0;
	}
}

/* Walks the attributes of a message whose header has been checked. */
static int stun_walk(struct stun_msg *m)
{
	enum stun_stage stage = STAGE_OPEN;
	unsigned seen = 0;
	size_t off = STUN_HEADER_LEN;

	/* The length field is a multiple of 4 and attributes are padded, so a
	 * whole 4-byte attribute header always fits when off < len. */
	while (off < m->len && stage != STAGE_DONE) {
		uint16_t type = rd16(m->buf + off), vlen = rd16(m->buf + off + 2);
		if (vlen > m->len - off - 4 || ++seen > STUN_MAX_ATTRS)
			return -EINVAL;
		if (stun_attr_counts(stage, type)) {
			int r = stun_record(m, &stage, type, vlen, off);
			if (r < 0)
				return r;
		}
		off += 4 + (((size_t)vlen + 3) & ~(size_t)3);
	}
	return 0;
}

int stun_msg_parse(struct stun_msg *msg, const uint8_t *buf, size_t len)
{
	/* Offsets are kept in 16 bits; no UDP datagram and no sane TCP frame is
	 * larger, so a longer message is refused rather than mis-recorded. */
	if (!stun_is_message(buf, len) || len > UINT16_MAX ||
	    rd16(buf + 2) != len - STUN_HEADER_LEN)
		return -EINVAL;

	struct stun_msg m;
	memset(&m, 0, sizeof(m));
	m.buf = buf;
	m.len = len;
	m.type = rd16(buf);
	memcpy(m.tid, buf + 8, STUN_TID_LEN);
	int r = stun_walk(&m);
	if (r < 0)
		return r;
	*msg = m;
	return 0;
}

const struct stun_attr *stun_msg_find(const struct stun_msg *msg, uint16_t type)
{
	for (uint16_t i = 0; i < msg->n_attrs; i++)
		if (msg->attrs[i].type == type)
			return &msg->attrs[i];
	return NULL;
}
