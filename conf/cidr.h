/* CIDR prefixes for the peer allow/deny lists. Pure. */
#ifndef TERN_CONF_CIDR_H
#define TERN_CONF_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t prefix;      /* 0..32 or 0..128 */
	uint8_t addr[16];    /* network address, host bits zero */
};

/* Parses "10.0.0.0/8", "2001:db8::/32", or a bare address (full-length
 * prefix). Host bits set below the prefix are an error (-EINVAL), so that a
 * typo like 10.0.0.1/8 is caught. */
int cidr_parse(const char *text, struct cidr *out);
/* True if the raw address (4 or 16 bytes, per family) lies in the prefix. */
bool cidr_contains(const struct cidr *c, int family, const uint8_t *addr);

#endif
