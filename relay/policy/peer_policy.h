/* Which peer addresses a client may relay to. Deny by default: loopback,
 * unspecified, private, shared (CGNAT), link-local (cloud metadata too),
 * multicast, broadcast, documentation, benchmarking and the other
 * non-global ranges of IANA's IPv4 and IPv6 special-purpose registries; IPv6
 * forms that embed an IPv4 address (mapped, compatible, NAT64 64:ff9b::/96
 * and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32) are also judged by
 * the IPv4 address inside; the relay's own listener sockets are never peers.
 * An explicit allow list opens prefixes; an explicit deny list closes more.
 *
 * Order of judgement: own listener -> deny list -> allow list -> built-in
 * special-purpose ranges -> allowed. Pure: no I/O. */
#ifndef TERN_RELAY_PEER_POLICY_H
#define TERN_RELAY_PEER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/sockaddr.h"
#include "conf/cidr.h"

#define PEER_POLICY_MAX_CIDRS 256
#define PEER_POLICY_MAX_OWN   32

struct peer_policy {
	size_t n_allow, n_deny, n_own;
	struct cidr allow[PEER_POLICY_MAX_CIDRS];
	struct cidr deny[PEER_POLICY_MAX_CIDRS];
	/* Own listener sockets; a wildcard address matches any address on that port. */
	struct sockaddr_storage own[PEER_POLICY_MAX_OWN];
};

enum peer_verdict {
	PEER_ALLOWED = 0,
	PEER_DENIED_SPECIAL,    /* built-in special-purpose range */
	PEER_DENIED_LIST,       /* explicit deny list */
	PEER_DENIED_SELF,       /* one of our own listeners */
};

void peer_policy_init(struct peer_policy *p);
int peer_policy_allow(struct peer_policy *p, const struct cidr *c);   /* -ENOSPC when full */
int peer_policy_deny(struct peer_policy *p, const struct cidr *c);
int peer_policy_add_own(struct peer_policy *p, const struct sockaddr_storage *listener);

enum peer_verdict peer_policy_check(const struct peer_policy *p, const struct sockaddr_storage *peer);

/* Cheap per-packet pre-check: true if `port` is the port of one of our own
 * listeners, so the full check must run (permissions are per IP address, and
 * a permitted IP may also carry one of our listeners). */
static inline bool peer_policy_port_is_own(const struct peer_policy *p, uint16_t port)
{
	for (size_t i = 0; i < p->n_own; i++)
		if (sockaddr_port(&p->own[i]) == port)
			return true;
	return false;
}

/* The built-in judgement alone: true if the address (4 or 16 bytes) is in a
 * special-purpose range, after unwrapping embedded IPv4. Exposed for tests. */
bool peer_policy_is_special(int family, const uint8_t *addr);

#endif
