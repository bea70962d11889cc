/* STUN message builder. Writes into a caller's buffer with a sticky error so
 * a response is assembled without a check per attribute; the header length
 * field always matches what has been written, which is what the integrity
 * and fingerprint appenders in integrity.c rely on. */
#include "relay/stun/stun.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

void stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type,
		     const uint8_t tid[STUN_TID_LEN])
{
	*b = (struct stun_builder){ .buf = buf, .cap = cap };
	if (cap < STUN_HEADER_LEN) {
		b->err = -ENOSPC;
		return;
	}
	if (type & 0xC000) {
		b->err = -EINVAL;
		return;
	}
	wr16(buf, type);
	wr16(buf + 2, 0);
	wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, tid, STUN_TID_LEN);
	b->len = STUN_HEADER_LEN;
}

/* Reserves a padded attribute of `len` value bytes, writes its header and
 * zero padding and updates the length field. Returns where the value goes,
 * or NULL once an error is set. */
static uint8_t *stun_build_reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	if (b->err)
		return NULL;
	size_t padded = (len + 3) & ~(size_t)3;
	if (len > UINT16_MAX) {
		b->err = -EINVAL;
		return NULL;
	}
	/* The parser keeps offsets in 16 bits and refuses longer messages, so
	 * the whole message (not only the length field) stays within them. */
	if (padded + 4 > b->cap - b->len || b->len + 4 + padded > UINT16_MAX) {
		b->err = -ENOSPC;
		return NULL;
	}
	uint8_t *p = b->buf + b->len;
	wr16(p, type);
	wr16(p + 2, (uint16_t)len);
	memset(p + 4 + len, 0, padded - len);
	b->len += 4 + padded;
	wr16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p + 4;
}

void stun_build_attr(struct stun_builder *b, uint16_t type, const void *value, size_t len)
{
	uint8_t *v = stun_build_reserve(b, type, len);
	if (v && len)
		memcpy(v, value, len);
}

void stun_build_u32(struct stun_builder *b, uint16_t type, uint32_t value)
{
	uint8_t *v = stun_build_reserve(b, type, 4);
	if (v)
		wr32(v, value);
}

/* Writes family, port and address; `pad` (cookie + transaction id) is
 * xored in for the XOR- forms and all zero for the plain one. */
static void stun_build_addr_common(struct stun_builder *b, uint16_t type,
				   const struct sockaddr_storage *addr, const uint8_t pad[16])
{
	if (!b->err && addr->ss_family != AF_INET && addr->ss_family != AF_INET6)
		b->err = -EINVAL;
	size_t iplen;
	const uint8_t *ip = b->err ? NULL : sockaddr_ip_bytes(addr, &iplen);
	uint8_t *v = ip ? stun_build_reserve(b, type, 4 + iplen) : NULL;
	if (!v)
		return;
	v[0] = 0;
	v[1] = iplen == 16 ? 0x02 : 0x01;
	wr16(v + 2, (uint16_t)(sockaddr_port(addr) ^ (pad[0] << 8 | pad[1])));
	for (size_t i = 0; i < iplen; i++)
		v[4 + i] = ip[i] ^ pad[i];
}

void stun_build_addr(struct stun_builder *b, uint16_t type, const struct sockaddr_storage *addr)
{
	static const uint8_t zero[16];
	stun_build_addr_common(b, type, addr, zero);
}

void stun_build_xor_addr(struct stun_builder *b, uint16_t type, const struct sockaddr_storage *addr)
{
	uint8_t pad[16];
	if (b->err)
		return;
	wr32(pad, STUN_MAGIC_COOKIE);
	memcpy(pad + 4, b->buf + 8, STUN_TID_LEN);
	stun_build_addr_common(b, type, addr, pad);
}

/* RFC 8489 section 14.8: a reason phrase is at most 763 bytes. */
void stun_build_error(struct stun_builder *b, int code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;
	if (!b->err && (code < 300 || code > 699 || rlen > 763))
		b->err = -EINVAL;
	uint8_t *v = stun_build_reserve(b, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!v)
		return;
	v[0] = v[1] = 0;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	if (rlen)
		memcpy(v + 4, reason, rlen);
}

void stun_build_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n)
{
	if (!b->err && n > UINT16_MAX / 2)
		b->err = -EINVAL;
	uint8_t *v = stun_build_reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	for (size_t i = 0; v && i < n; i++)
		wr16(v + 2 * i, types[i]);
}

int stun_build_finish(struct stun_builder *b)
{
	return b->err ? b->err : (int)b->len;
}
