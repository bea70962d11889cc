/* CIDR prefixes for the peer allow/deny lists (see cidr.h). Parsing is
 * strict on purpose: an operator's typo in a deny list must be an error at
 * load time, never a silently different prefix. */
#include "conf/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* "0".."128" without sign, spaces or leading zeros, so "/08" or "/ 8" are
 * rejected rather than guessed at. */
static int parse_prefix(const char *s, unsigned max, uint8_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

/* True when any bit after the first `prefix` bits of addr is set. */
static bool host_bits_set(const uint8_t *addr, unsigned len, unsigned prefix)
{
	for (unsigned bit = prefix; bit < len * 8; bit++) {
		if (addr[bit / 8] & (0x80u >> (bit % 8)))
			return true;
	}
	return false;
}

int cidr_parse(const char *text, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';

	struct cidr c = { 0 };
	if (inet_pton(AF_INET, host, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, host, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;

	unsigned len = c.family == AF_INET ? 4 : 16;
	c.prefix = (uint8_t)(len * 8);
	if (slash && parse_prefix(slash + 1, len * 8, &c.prefix) < 0)
		return -EINVAL;
	if (host_bits_set(c.addr, len, c.prefix))
		return -EINVAL;
	*out = c;
	return 0;
}

bool cidr_contains(const struct cidr *c, int family, const uint8_t *addr)
{
	if (c->family != family || (family != AF_INET && family != AF_INET6))
		return false;
	if (c->prefix > (family == AF_INET ? 32 : 128))
		return false; /* a hand-built struct out of range matches nothing */
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}
