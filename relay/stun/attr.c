/* Attribute value decoders (RFC 8489 section 14, RFC 8656 section 18). Each
 * checks the value's exact shape and writes its out-parameter only on
 * success, so a TURN handler can map any failure straight to a 400. */
#include "relay/stun/stun.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define STUN_FAMILY_IPV4 0x01
#define STUN_FAMILY_IPV6 0x02

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Shared by the plain and XOR forms: family, port, address bytes. The
 * first byte is reserved and ignored on receipt. */
static int stun_addr_decode(const uint8_t *v, size_t len, int *family, uint16_t *port,
			    uint8_t ip[16])
{
	if (len < 4)
		return -EINVAL;
	if (v[1] == STUN_FAMILY_IPV4 && len == 8)
		*family = AF_INET;
	else if (v[1] == STUN_FAMILY_IPV6 && len == 20)
		*family = AF_INET6;
	else
		return -EINVAL;
	*port = rd16(v + 2);
	memcpy(ip, v + 4, len - 4);
	return 0;
}

int stun_attr_get_addr(const struct stun_msg *msg, const struct stun_attr *a,
		       struct sockaddr_storage *out)
{
	int family;
	uint16_t port;
	uint8_t ip[16];

	if (stun_addr_decode(stun_attr_value(msg, a), a->len, &family, &port, ip) < 0)
		return -EINVAL;
	sockaddr_from_bytes(out, family, ip, port);
	return 0;
}

/* RFC 8489 section 14.2: the port is xored with the cookie's top half, the
 * address with the cookie (IPv4) or cookie followed by the transaction id. */
int stun_attr_get_xor_addr(const struct stun_msg *msg, const struct stun_attr *a,
			   struct sockaddr_storage *out)
{
	int family;
	uint16_t port;
	uint8_t ip[16], pad[16] = { 0x21, 0x12, 0xA4, 0x42 };

	if (stun_addr_decode(stun_attr_value(msg, a), a->len, &family, &port, ip) < 0)
		return -EINVAL;
	memcpy(pad + 4, msg->tid, STUN_TID_LEN);
	for (size_t i = 0; i < (family == AF_INET6 ? 16u : 4u); i++)
		ip[i] ^= pad[i];
	sockaddr_from_bytes(out, family, ip, (uint16_t)(port ^ (STUN_MAGIC_COOKIE >> 16)));
	return 0;
}

int stun_attr_get_u32(const struct stun_msg *msg, const struct stun_attr *a, uint32_t *out)
{
	if (a->len != 4)
		return -EINVAL;
	const uint8_t *v = stun_attr_value(msg, a);
	*out = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
	return 0;
}

/* ERROR-CODE: 21 reserved bits, class (3..6), number (0..99), reason. */
int stun_attr_get_error(const struct stun_msg *msg, const struct stun_attr *a, int *code)
{
	if (a->len < 4)
		return -EINVAL;
	const uint8_t *v = stun_attr_value(msg, a);
	int cls = v[2] & 0x07, num = v[3];
	if (cls < 3 || cls > 6 || num > 99)
		return -EINVAL;
	*code = cls * 100 + num;
	return 0;
}

int stun_attr_get_channel(const struct stun_msg *msg, const struct stun_attr *a, uint16_t *out)
{
	if (a->len != 4)
		return -EINVAL;
	*out = rd16(stun_attr_value(msg, a));
	return 0;
}

int stun_attr_get_transport(const struct stun_msg *msg, const struct stun_attr *a, uint8_t *proto)
{
	if (a->len != 4)
		return -EINVAL;
	*proto = stun_attr_value(msg, a)[0];
	return 0;
}

int stun_attr_get_family(const struct stun_msg *msg, const struct stun_attr *a, int *family)
{
	if (a->len != 4)
		return -EINVAL;
	switch (stun_attr_value(msg, a)[0]) {
	case STUN_FAMILY_IPV4:
		*family = AF_INET;
		return 0;
	case STUN_FAMILY_IPV6:
		*family = AF_INET6;
		return 0;
	default:
		return -EINVAL;
	}
}

/* EVEN-PORT is a single byte (RFC 8656 section 18.9); R is its top bit. */
int stun_attr_get_even_port(const struct stun_msg *msg, const struct stun_attr *a, bool *reserve)
{
	if (a->len != 1)
		return -EINVAL;
	*reserve = (stun_attr_value(msg, a)[0] & 0x80) != 0;
	return 0;
}

/* PASSWORD-ALGORITHM: algorithm (16), parameters length (16), parameters.
 * MD5 and SHA-256 take no parameters (RFC 8489 section 18.5). */
int stun_attr_get_password_alg(const struct stun_msg *msg, const struct stun_attr *a, uint16_t *alg)
{
	if (a->len < 4)
		return -EINVAL;
	const uint8_t *v = stun_attr_value(msg, a);
	uint16_t id = rd16(v), plen = rd16(v + 2);
	if ((size_t)plen + 4 != a->len)
		return -EINVAL;
	if ((id == STUN_PWALG_MD5 || id == STUN_PWALG_SHA256) && plen != 0)
		return -EINVAL;
	*alg = id;
	return 0;
}
