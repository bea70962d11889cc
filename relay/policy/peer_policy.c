/* Peer address policy (see peer_policy.h): decides whether a client may have
 * its allocation send to a peer address. This is the relay's main defence
 * against being used as a proxy into the networks behind it (loopback, cloud
 * metadata at 169.254.169.254, RFC 1918 back ends), so it denies by default
 * and looks through every IPv6 form that carries an IPv4 address inside.
 *
 * The built-in ranges follow IANA's special-purpose registries as published
 * (IPv4: iana-ipv4-special-registry, RFC 6890 + updates; IPv6:
 * iana-ipv6-special-registry, last rows RFC 9602, 9637, 9780). Every block
 * whose "Globally Reachable" column is False, N/A or blank (deprecated) is
 * denied. Where the registry says True we still deny a few blocks that are
 * anycast protocol infrastructure (AS112, AMT, PCP/TURN anycast) or
 * identifiers rather than hosts: they are never a WebRTC media peer, and
 * relaying to them only serves reflection. The embedded-IPv4 forms that the
 * registry lists as True or N/A (64:ff9b::/96, Teredo, 6to4) are judged by
 * the IPv4 address inside instead. Pure: no I/O. */
#include "relay/policy/peer_policy.h"

#include <errno.h>
#include <string.h>

#define V4(a, b, c, d, len) { AF_INET, len, { a, b, c, d } }
#define V6(len, ...)        { AF_INET6, len, { __VA_ARGS__ } }

/* IPv4: IANA IPv4 Special-Purpose Address Registry, plus multicast (RFC
 * 5771), which that registry does not list but is never a unicast peer. */
static const struct cidr special_v4[] = {
	V4(0, 0, 0, 0, 8),          /* "this network", RFC 791 / 1122 */
	V4(10, 0, 0, 0, 8),         /* private use, RFC 1918 */
	V4(100, 64, 0, 0, 10),      /* shared address space (CGNAT), RFC 6598 */
	V4(127, 0, 0, 0, 8),        /* loopback, RFC 1122 */
	V4(169, 254, 0, 0, 16),     /* link local incl. cloud metadata, RFC 3927 */
	V4(172, 16, 0, 0, 12),      /* private use, RFC 1918 */
	/* IETF protocol assignments, RFC 6890: not global. Its more specific
	 * 192.0.0.9 (PCP anycast) and 192.0.0.10 (TURN anycast) are global in
	 * the registry but are infrastructure, not peers: denied with the /24. */
	V4(192, 0, 0, 0, 24),
	V4(192, 0, 2, 0, 24),       /* documentation TEST-NET-1, RFC 5737 */
	V4(192, 31, 196, 0, 24),    /* AS112-v4 anycast, RFC 7535 (infrastructure) */
	V4(192, 52, 193, 0, 24),    /* AMT relay anycast, RFC 7450 (infrastructure) */
	V4(192, 88, 99, 0, 24),     /* deprecated 6to4 relay anycast, RFC 7526 */
	V4(192, 168, 0, 0, 16),     /* private use, RFC 1918 */
	V4(192, 175, 48, 0, 24),    /* AS112 direct delegation, RFC 7534 (infrastructure) */
	V4(198, 18, 0, 0, 15),      /* benchmarking, RFC 2544 */
	V4(198, 51, 100, 0, 24),    /* documentation TEST-NET-2, RFC 5737 */
	V4(203, 0, 113, 0, 24),     /* documentation TEST-NET-3, RFC 5737 */
	V4(224, 0, 0, 0, 4),        /* multicast, RFC 5771 */
	V4(240, 0, 0, 0, 4),        /* reserved, RFC 1112; includes 255.255.255.255 */
};

/* IPv6 blocks denied outright (forms that embed IPv4 are handled first, see
 * embedded_v4()): IANA IPv6 Special-Purpose Address Registry plus the
 * deprecated site-local block and multicast from the addressing architecture. */
static const struct cidr special_v6[] = {
	V6(128, 0),                                    /* ::/128 unspecified, RFC 4291 */
	V6(128, [15] = 1),                             /* ::1/128 loopback, RFC 4291 */
	V6(48, 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01),    /* 64:ff9b:1::/48 local-use NAT64, RFC 8215 */
	V6(64, 0x01, 0x00),                            /* 100::/64 discard-only, RFC 6666 */
	V6(64, 0x01, 0x00, 0, 0, 0, 0, 0, 0x01),       /* 100:0:0:1::/64 dummy prefix, RFC 9780 */
	/* IETF protocol assignments, RFC 2928: not global. Teredo (2001::/32)
	 * never reaches this table. The more specific global rows (PCP, TURN
	 * and DNS-SD anycast, AMT, AS112-v6, ORCHIDv2, drone DETs) are
	 * infrastructure or identifiers: denied with the /23. */
	V6(23, 0x20, 0x01),
	V6(32, 0x20, 0x01, 0x0d, 0xb8),                /* 2001:db8::/32 documentation, RFC 3849 */
	V6(48, 0x26, 0x20, 0x00, 0x4f, 0x80, 0x00),    /* 2620:4f:8000::/48 AS112 direct delegation, RFC 7534 */
	V6(20, 0x3f, 0xff),                            /* 3fff::/20 documentation, RFC 9637 */
	V6(16, 0x5f, 0x00),                            /* 5f00::/16 SRv6 SIDs, RFC 9602 */
	V6(7, 0xfc),                                   /* fc00::/7 unique local, RFC 4193 */
	V6(10, 0xfe, 0x80),                            /* fe80::/10 link local, RFC 4291 */
	V6(10, 0xfe, 0xc0),                            /* fec0::/10 site local, deprecated by RFC 3879 */
	V6(8, 0xff),                                   /* ff00::/8 multicast, RFC 4291 */
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static bool in_table(const struct cidr *t, size_t n, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++) {
		if (cidr_contains(&t[i], family, addr))
			return true;
	}
	return false;
}

static bool has_prefix(const uint8_t *addr, const uint8_t *prefix, size_t len)
{
	return memcmp(addr, prefix, len) == 0;
}

/* The IPv4 addresses an IPv6 address carries, if it is one of the forms
 * that tunnels or translates to IPv4. Returns how many were written (0..2).
 * Teredo (RFC 4380) carries two: the client's public address, stored
 * inverted in the last 32 bits, and the Teredo server's in bits 32..63. */
static size_t embedded_v4(const uint8_t *a, uint8_t out[2][4])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };      /* ::ffff:0:0/96, RFC 4291 */
	static const uint8_t translated[12] = { [8] = 0xff, [9] = 0xff };    /* ::ffff:0:0:0/96, RFC 2765 */
	static const uint8_t compatible[12] = { 0 };                          /* ::/96, RFC 4291 (deprecated) */
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };          /* 64:ff9b::/96, RFC 6052 */
	static const uint8_t sixtofour[2] = { 0x20, 0x02 };                   /* 2002::/16, RFC 3056 */
	static const uint8_t teredo[4] = { 0x20, 0x01, 0x00, 0x00 };          /* 2001::/32, RFC 4380 */

	if (has_prefix(a, mapped, 12) || has_prefix(a, translated, 12) ||
	    has_prefix(a, compatible, 12) || has_prefix(a, nat64, 12)) {
		memcpy(out[0], a + 12, 4);
		return 1;
	}
	if (has_prefix(a, sixtofour, 2)) {
		memcpy(out[0], a + 2, 4);
		return 1;
	}
	if (has_prefix(a, teredo, 4)) {
		for (int i = 0; i < 4; i++)
			out[0][i] = (uint8_t)(a[12 + i] ^ 0xff);
		memcpy(out[1], a + 4, 4);
		return 2;
	}
	return 0;
}

bool peer_policy_is_special(int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return in_table(special_v4, N_ELEMS(special_v4), AF_INET, addr);
	if (family != AF_INET6)
		return true; /* not an IP address we know how to judge */

	uint8_t v4[2][4];
	size_t n = embedded_v4(addr, v4);
	if (n > 0) {
		/* judged by what it reaches, not by the IPv6 wrapper */
		for (size_t i = 0; i < n; i++) {
			if (in_table(special_v4, N_ELEMS(special_v4), AF_INET, v4[i]))
				return true;
		}
		return false;
	}
	/* Only global unicast (2000::/3, RFC 4291) can be a media peer; the
	 * rest of the space is reserved by the IETF and not routed. */
	if ((addr[0] & 0xe0) != 0x20)
		return true;
	return in_table(special_v6, N_ELEMS(special_v6), AF_INET6, addr);
}

void peer_policy_init(struct peer_policy *p)
{
	memset(p, 0, sizeof(*p));
}

static bool cidr_valid(const struct cidr *c)
{
	return (c->family == AF_INET && c->prefix <= 32) ||
	       (c->family == AF_INET6 && c->prefix <= 128);
}

static int add_cidr(struct cidr *list, size_t *n, const struct cidr *c)
{
	if (!cidr_valid(c))
		return -EINVAL;
	if (*n >= PEER_POLICY_MAX_CIDRS)
		return -ENOSPC;
	list[(*n)++] = *c;
	return 0;
}

int peer_policy_allow(struct peer_policy *p, const struct cidr *c)
{
	return add_cidr(p->allow, &p->n_allow, c);
}

int peer_policy_deny(struct peer_policy *p, const struct cidr *c)
{
	return add_cidr(p->deny, &p->n_deny, c);
}

int peer_policy_add_own(struct peer_policy *p, const struct sockaddr_storage *listener)
{
	if (listener->ss_family != AF_INET && listener->ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (p->n_own >= PEER_POLICY_MAX_OWN)
		return -ENOSPC;
	p->own[p->n_own++] = *listener;
	return 0;
}

static bool is_wildcard(const struct sockaddr_storage *sa)
{
	static const uint8_t zero[16];
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(sa, &len);
	return memcmp(ip, zero, len) == 0;
}

/* Does one of our listeners receive what is sent to (family, ip, port)? */
static bool hits_own(const struct peer_policy *p, int family, const uint8_t *ip, uint16_t port)
{
	for (size_t i = 0; i < p->n_own; i++) {
		const struct sockaddr_storage *own = &p->own[i];
		if (sockaddr_port(own) != port)
			continue;
		/* A wildcard listener answers on every local address, and we
		 * cannot know them all here (nor which ones a dual-stack
		 * socket covers), so the port alone decides. */
		if (is_wildcard(own))
			return true;
		size_t len;
		const uint8_t *own_ip = sockaddr_ip_bytes(own, &len);
		if (own->ss_family == family && memcmp(own_ip, ip, len) == 0)
			return true;
	}
	return false;
}

/* Judges the address itself and every IPv4 address it embeds. */
static bool any_form(const struct peer_policy *p, int family, const uint8_t *ip, uint16_t port,
		     bool (*test)(const struct peer_policy *, int, const uint8_t *, uint16_t))
{
	if (test(p, family, ip, port))
		return true;
	uint8_t v4[2][4];
	size_t n = family == AF_INET6 ? embedded_v4(ip, v4) : 0;
	for (size_t i = 0; i < n; i++) {
		if (test(p, AF_INET, v4[i], port))
			return true;
	}
	return false;
}

static bool in_deny(const struct peer_policy *p, int family, const uint8_t *ip, uint16_t port)
{
	(void)port;
	return in_table(p->deny, p->n_deny, family, ip);
}

enum peer_verdict peer_policy_check(const struct peer_policy *p, const struct sockaddr_storage *peer)
{
	int family = peer->ss_family;
	if (family != AF_INET && family != AF_INET6)
		return PEER_DENIED_SPECIAL;
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(peer, &len);
	uint16_t port = sockaddr_port(peer);

	if (any_form(p, family, ip, port, hits_own))
		return PEER_DENIED_SELF;
	if (any_form(p, family, ip, port, in_deny))
		return PEER_DENIED_LIST;
	/* The allow list opens exactly what it names: allowing 10.0.0.0/8 must
	 * not also open ::ffff:10.0.0.1 or 2002:a00:1::, whose reachability
	 * depends on translators the operator did not think about. */
	if (in_table(p->allow, p->n_allow, family, ip))
		return PEER_ALLOWED;
	if (peer_policy_is_special(family, ip))
		return PEER_DENIED_SPECIAL;
	return PEER_ALLOWED;
}
