/* Unit tests for relay/policy/peer_policy.c. Two halves: hand-written cases
 * (every range's first and last address inside, one below and one above
 * judged correctly; every IPv6 form that embeds IPv4; own listeners;
 * allow/deny precedence), and randomised agreement with a reference written
 * here independently as plain integer ranges, sampled densely around every
 * boundary with a fixed seed so a failure reproduces. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "relay/policy/peer_policy.h"

typedef unsigned __int128 u128;

/* ---- the reference ---------------------------------------------------- */

/* Non-global IPv4, as inclusive integer ranges. Kept deliberately in a
 * different shape from the implementation's prefix table. */
static const struct { uint32_t first, last; } ref_v4[] = {
	{ 0x00000000, 0x00ffffff },   /* 0.0.0.0/8 */
	{ 0x0a000000, 0x0affffff },   /* 10.0.0.0/8 */
	{ 0x64400000, 0x647fffff },   /* 100.64.0.0/10 */
	{ 0x7f000000, 0x7fffffff },   /* 127.0.0.0/8 */
	{ 0xa9fe0000, 0xa9feffff },   /* 169.254.0.0/16 */
	{ 0xac100000, 0xac1fffff },   /* 172.16.0.0/12 */
	{ 0xc0000000, 0xc00000ff },   /* 192.0.0.0/24 */
	{ 0xc0000200, 0xc00002ff },   /* 192.0.2.0/24 */
	{ 0xc01fc400, 0xc01fc4ff },   /* 192.31.196.0/24 */
	{ 0xc034c100, 0xc034c1ff },   /* 192.52.193.0/24 */
	{ 0xc0586300, 0xc05863ff },   /* 192.88.99.0/24 */
	{ 0xc0a80000, 0xc0a8ffff },   /* 192.168.0.0/16 */
	{ 0xc0af3000, 0xc0af30ff },   /* 192.175.48.0/24 */
	{ 0xc6120000, 0xc613ffff },   /* 198.18.0.0/15 */
	{ 0xc6336400, 0xc63364ff },   /* 198.51.100.0/24 */
	{ 0xcb007100, 0xcb0071ff },   /* 203.0.113.0/24 */
	{ 0xe0000000, 0xefffffff },   /* 224.0.0.0/4 */
	{ 0xf0000000, 0xffffffff },   /* 240.0.0.0/4 incl. broadcast */
};
#define N_REF_V4 (sizeof(ref_v4) / sizeof(ref_v4[0]))

/* IPv6 denied outright, as inclusive ranges of text (first, last). */
static const struct { const char *first, *last; } ref_v6[] = {
	{ "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff" },
	{ "100::", "100::ffff:ffff:ffff:ffff" },
	{ "100:0:0:1::", "100:0:0:1:ffff:ffff:ffff:ffff" },
	{ "2001:1::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff" },   /* 2001::/23 minus Teredo */
	{ "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "2620:4f:8000::", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff" },
	{ "3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
};
#define N_REF_V6 (sizeof(ref_v6) / sizeof(ref_v6[0]))

static u128 v6_int(const char *text)
{
	uint8_t b[16];
	if (inet_pton(AF_INET6, text, b) != 1)
		fail_msg("bad test address %s", text);
	u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = (v << 8) | b[i];
	return v;
}

static void v6_bytes(u128 v, uint8_t b[16])
{
	for (int i = 15; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static void v4_bytes(uint32_t v, uint8_t b[4])
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

static bool ref4(uint32_t a)
{
	for (size_t i = 0; i < N_REF_V4; i++) {
		if (a >= ref_v4[i].first && a <= ref_v4[i].last)
			return true;
	}
	return false;
}

static bool in6(u128 a, const char *first, const char *last)
{
	return a >= v6_int(first) && a <= v6_int(last);
}

/* The IPv6 judgement: embedded forms by the IPv4 inside, others by range. */
static bool ref6(u128 a)
{
	uint32_t low = (uint32_t)a;
	if (in6(a, "::", "::ffff:ffff") ||                       /* compatible */
	    in6(a, "::ffff:0:0", "::ffff:ffff:ffff") ||          /* mapped */
	    in6(a, "::ffff:0:0:0", "::ffff:0:ffff:ffff") ||      /* translated */
	    in6(a, "64:ff9b::", "64:ff9b::ffff:ffff"))           /* NAT64 */
		return ref4(low);
	if (in6(a, "2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
		return ref4((uint32_t)(a >> 80));
	if (in6(a, "2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"))
		return ref4(~low) || ref4((uint32_t)(a >> 64));
	if (!in6(a, "2000::", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
		return true;                                     /* not global unicast */
	for (size_t i = 0; i < N_REF_V6; i++) {
		if (in6(a, ref_v6[i].first, ref_v6[i].last))
			return true;
	}
	return false;
}

/* ---- helpers ---------------------------------------------------------- */

static bool special4(uint32_t a)
{
	uint8_t b[4];
	v4_bytes(a, b);
	return peer_policy_is_special(AF_INET, b);
}

static bool special6(u128 a)
{
	uint8_t b[16];
	v6_bytes(a, b);
	return peer_policy_is_special(AF_INET6, b);
}

static bool special_text(const char *text)
{
	return strchr(text, ':') ? special6(v6_int(text)) : special4(ntohl(inet_addr(text)));
}

static struct sockaddr_storage sa(const char *text)
{
	struct sockaddr_storage s;
	assert_int_equal(sockaddr_parse(text, false, &s), 0);
	return s;
}

static enum peer_verdict check(const struct peer_policy *p, const char *text)
{
	struct sockaddr_storage s = sa(text);
	return peer_policy_check(p, &s);
}

static void add(struct peer_policy *p, int (*fn)(struct peer_policy *, const struct cidr *),
		const char *text)
{
	struct cidr c;
	assert_int_equal(cidr_parse(text, &c), 0);
	assert_int_equal(fn(p, &c), 0);
}

/* xorshift64*: fixed seed, so a failing sample is the same on every run */
static uint64_t rng = 0x7465726e2d706f6cULL;
static uint64_t next_rand(void)
{
	rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* ---- hand-written boundaries ------------------------------------------ */

static void test_v4_boundaries(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_REF_V4; i++) {
		uint32_t f = ref_v4[i].first, l = ref_v4[i].last;
		if (!special4(f) || !special4(l))
			fail_msg("range %zu: first/last not special", i);
		if (f > 0 && special4(f - 1) != ref4(f - 1))
			fail_msg("range %zu: one below is wrong", i);
		if (l < UINT32_MAX && special4(l + 1) != ref4(l + 1))
			fail_msg("range %zu: one above is wrong", i);
	}
	/* the neighbours by name, so the reference is not the only witness */
	static const char *const global[] = {
		"1.0.0.0", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
		"126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0",
		"172.15.255.255", "172.32.0.0", "191.255.255.255", "192.0.1.0", "192.0.1.255",
		"192.0.3.0", "192.31.195.255", "192.31.197.0", "192.52.192.255", "192.52.194.0",
		"192.88.98.255", "192.88.100.0", "192.167.255.255", "192.169.0.0",
		"192.175.47.255", "192.175.49.0", "198.17.255.255", "198.20.0.0",
		"198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0",
		"223.255.255.255", "8.8.8.8", "1.1.1.1",
	};
	for (size_t i = 0; i < sizeof(global) / sizeof(global[0]); i++) {
		if (special_text(global[i]))
			fail_msg("%s should be global", global[i]);
	}
	static const char *const special[] = {
		"0.0.0.0", "127.0.0.1", "169.254.169.254", "192.0.0.9", "192.0.0.10",
		"192.88.99.2", "255.255.255.255", "239.255.255.250", "224.0.0.1",
	};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (!special_text(special[i]))
			fail_msg("%s should be special", special[i]);
	}
}

static void test_v6_boundaries(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_REF_V6; i++) {
		u128 f = v6_int(ref_v6[i].first), l = v6_int(ref_v6[i].last);
		if (!special6(f) || !special6(l))
			fail_msg("%s: first/last not special", ref_v6[i].first);
		if (special6(f - 1) != ref6(f - 1))
			fail_msg("%s: one below is wrong", ref_v6[i].first);
		if (l != ~(u128)0 && special6(l + 1) != ref6(l + 1))
			fail_msg("%s: one above is wrong", ref_v6[i].first);
	}
	static const char *const ok[] = {
		"2001:200::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::",
		"2000::", "2001:4860:4860::8888", "2606:4700:4700::1111", "2620:4f:7fff:ffff:ffff:ffff:ffff:ffff",
		"2620:4f:8001::", "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::",
		"64:ff9b::808:808", "::ffff:8.8.8.8",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (special_text(ok[i]))
			fail_msg("%s should be global", ok[i]);
	}
	static const char *const denied[] = {
		"::", "::1", "2001:1::1", "2001:1::2", "2001:1::3", "2001:2::1", "2001:3::1",
		"2001:4:112::1", "2001:10::1", "2001:20::1", "2001:30::1", "fe80::1", "fd00::1",
		"ff02::1", "fec0::1", "64:ff9b:1::808:808", "100:0:0:1::1", "3fff::1", "5f00::1",
		/* outside 2000::/3 global unicast, reserved by the IETF */
		"5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "5f01::", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"64:ff9b:0:1::", "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", "64:ff9b:2::",
		"100:0:0:2::", "ff::ffff:ffff:ffff:ffff", "4000::1", "1fff:ffff::1", "0:0:0:ffff:0:0:1:203",
	};
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		if (!special_text(denied[i]))
			fail_msg("%s should be special", denied[i]);
	}
}

/* ---- embedded IPv4 ---------------------------------------------------- */

static void test_embedded_forms(void **state)
{
	(void)state;
	static const struct { const char *addr; bool special; } cases[] = {
		{ "::ffff:127.0.0.1", true }, { "::ffff:8.8.8.8", false },
		{ "::ffff:169.254.169.254", true }, { "::ffff:0:0", true },
		{ "::127.0.0.1", true }, { "::8.8.8.8", false }, { "::10.1.2.3", true },
		{ "::ffff:0:10.0.0.1", true }, { "::ffff:0:8.8.8.8", false },
		{ "64:ff9b::10.0.0.1", true }, { "64:ff9b::8.8.8.8", false },
		{ "64:ff9b::192.168.1.1", true },
		{ "2002:a00:1::", true }, { "2002:7f00:1:1::1", true }, { "2002:808:808::1", false },
		{ "2002:c000:204::", true },
		/* RFC 4380 section 4 example: server 65.54.227.120, client
		 * 192.0.2.45 (documentation) stored inverted */
		{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", true },
		/* same server, client 8.8.8.8 (inverted f7f7:f7f7) */
		{ "2001:0:4136:e378:8000:63bf:f7f7:f7f7", false },
		/* client 127.0.0.1 inverted */
		{ "2001:0:4136:e378:8000:63bf:80ff:fffe", true },
		/* global client but a private Teredo server: bogus, denied */
		{ "2001:0:a00:1:8000:63bf:f7f7:f7f7", true },
		/* 7f00:0001 un-inverted is 128.255.255.254: global */
		{ "2001:0:4136:e378:8000:63bf:7f00:1", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (special_text(cases[i].addr) != cases[i].special)
			fail_msg("%s: expected %s", cases[i].addr, cases[i].special ? "special" : "global");
	}
}

/* ---- own listeners ---------------------------------------------------- */

static void test_own_listeners(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	struct sockaddr_storage l1 = sa("198.51.100.7:3478"), l2 = sa("1.2.3.4:3478"),
				l3 = sa("[2001:4860::1]:5349");
	assert_int_equal(peer_policy_add_own(&p, &l1), 0);
	assert_int_equal(peer_policy_add_own(&p, &l2), 0);
	assert_int_equal(peer_policy_add_own(&p, &l3), 0);

	assert_int_equal(check(&p, "198.51.100.7:3478"), PEER_DENIED_SELF);   /* before special */
	assert_int_equal(check(&p, "198.51.100.7:3479"), PEER_DENIED_SPECIAL);
	assert_int_equal(check(&p, "1.2.3.4:3478"), PEER_DENIED_SELF);
	assert_int_equal(check(&p, "1.2.3.4:3479"), PEER_ALLOWED);
	assert_int_equal(check(&p, "1.2.3.5:3478"), PEER_ALLOWED);
	assert_int_equal(check(&p, "[::ffff:1.2.3.4]:3478"), PEER_DENIED_SELF);  /* via mapped */
	assert_int_equal(check(&p, "[64:ff9b::102:304]:3478"), PEER_DENIED_SELF); /* via NAT64 */
	assert_int_equal(check(&p, "[2001:4860::1]:5349"), PEER_DENIED_SELF);
	assert_int_equal(check(&p, "[2001:4860::1]:5350"), PEER_ALLOWED);
	assert_int_equal(check(&p, "[2001:4860::2]:5349"), PEER_ALLOWED);

	/* neither the allow list nor anything else reopens our own sockets */
	add(&p, peer_policy_allow, "1.2.3.4/32");
	assert_int_equal(check(&p, "1.2.3.4:3478"), PEER_DENIED_SELF);
}

static void test_wildcard_listeners(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	struct sockaddr_storage w4 = sa("0.0.0.0:3478"), w6 = sa("[::]:5349");
	assert_int_equal(peer_policy_add_own(&p, &w4), 0);
	assert_int_equal(peer_policy_add_own(&p, &w6), 0);
	assert_int_equal(check(&p, "8.8.8.8:3478"), PEER_DENIED_SELF);
	assert_int_equal(check(&p, "[2001:4860::8888]:3478"), PEER_DENIED_SELF);
	assert_int_equal(check(&p, "8.8.8.8:5349"), PEER_DENIED_SELF);
	assert_int_equal(check(&p, "[2001:4860::8888]:5349"), PEER_DENIED_SELF);
	assert_int_equal(check(&p, "8.8.8.8:3477"), PEER_ALLOWED);
	assert_int_equal(check(&p, "[2001:4860::8888]:5350"), PEER_ALLOWED);
}

static void test_own_limits(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	struct sockaddr_storage l = sa("1.2.3.4:1");
	for (int i = 0; i < PEER_POLICY_MAX_OWN; i++)
		assert_int_equal(peer_policy_add_own(&p, &l), 0);
	assert_int_equal(peer_policy_add_own(&p, &l), -ENOSPC);
	struct sockaddr_storage unix_sa = { .ss_family = AF_UNIX };
	peer_policy_init(&p);
	assert_int_equal(peer_policy_add_own(&p, &unix_sa), -EAFNOSUPPORT);
	assert_int_equal(peer_policy_check(&p, &unix_sa), PEER_DENIED_SPECIAL);
}

/* ---- allow and deny lists --------------------------------------------- */

static void test_deny_list(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	add(&p, peer_policy_deny, "8.8.8.0/24");
	add(&p, peer_policy_deny, "2606:4700::/32");
	assert_int_equal(check(&p, "8.8.8.8:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "8.8.4.4:1"), PEER_ALLOWED);
	/* the deny list sees through every embedding */
	assert_int_equal(check(&p, "[::ffff:8.8.8.8]:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "[::8.8.8.8]:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "[64:ff9b::8.8.8.8]:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "[2002:808:808::1]:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "[2001:0:4136:e378:8000:63bf:f7f7:f7f7]:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "[2606:4700::1111]:1"), PEER_DENIED_LIST);
	assert_int_equal(check(&p, "[2606:4701::1]:1"), PEER_ALLOWED);
}

static void test_allow_list(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	add(&p, peer_policy_allow, "10.0.0.0/8");
	add(&p, peer_policy_allow, "fd00::/8");
	assert_int_equal(check(&p, "10.1.2.3:1"), PEER_ALLOWED);
	assert_int_equal(check(&p, "11.1.2.3:1"), PEER_ALLOWED);
	assert_int_equal(check(&p, "192.168.1.1:1"), PEER_DENIED_SPECIAL);
	assert_int_equal(check(&p, "[fd12::1]:1"), PEER_ALLOWED);
	assert_int_equal(check(&p, "[fc00::1]:1"), PEER_DENIED_SPECIAL);
	/* the allow list opens the address as written, never an embedding */
	assert_int_equal(check(&p, "[::ffff:10.0.0.1]:1"), PEER_DENIED_SPECIAL);
	assert_int_equal(check(&p, "[64:ff9b::10.0.0.1]:1"), PEER_DENIED_SPECIAL);
	assert_int_equal(check(&p, "[2002:a00:1::1]:1"), PEER_DENIED_SPECIAL);
	/* ...unless the operator names the embedded form itself */
	add(&p, peer_policy_allow, "::ffff:10.0.0.0/104");
	assert_int_equal(check(&p, "[::ffff:10.0.0.1]:1"), PEER_ALLOWED);
}

static void test_precedence(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	add(&p, peer_policy_allow, "127.0.0.0/8");
	add(&p, peer_policy_deny, "127.0.0.2/32");
	add(&p, peer_policy_allow, "8.8.8.8/32");
	add(&p, peer_policy_deny, "8.8.8.8/32");
	assert_int_equal(check(&p, "127.0.0.1:1"), PEER_ALLOWED);
	assert_int_equal(check(&p, "127.0.0.2:1"), PEER_DENIED_LIST);    /* deny beats allow */
	assert_int_equal(check(&p, "8.8.8.8:1"), PEER_DENIED_LIST);
	struct sockaddr_storage own = sa("127.0.0.1:3478");
	assert_int_equal(peer_policy_add_own(&p, &own), 0);
	assert_int_equal(check(&p, "127.0.0.1:3478"), PEER_DENIED_SELF); /* self beats all */
	assert_int_equal(check(&p, "127.0.0.1:3479"), PEER_ALLOWED);
}

static void test_list_limits(void **state)
{
	(void)state;
	static struct peer_policy p;
	peer_policy_init(&p);
	struct cidr c;
	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	for (int i = 0; i < PEER_POLICY_MAX_CIDRS; i++) {
		assert_int_equal(peer_policy_allow(&p, &c), 0);
		assert_int_equal(peer_policy_deny(&p, &c), 0);
	}
	assert_int_equal(peer_policy_allow(&p, &c), -ENOSPC);
	assert_int_equal(peer_policy_deny(&p, &c), -ENOSPC);
	peer_policy_init(&p);
	struct cidr bad = { .family = AF_INET, .prefix = 33 };
	assert_int_equal(peer_policy_allow(&p, &bad), -EINVAL);
	bad.family = AF_UNIX;
	bad.prefix = 0;
	assert_int_equal(peer_policy_deny(&p, &bad), -EINVAL);
}

/* ---- randomised agreement with the reference -------------------------- */

#define SAMPLES_PER_EDGE 200

/* An address close to an edge: edge plus or minus up to 2^k for a random k,
 * so both the immediate neighbours and the wider surroundings get hit. */
static uint32_t near4(uint32_t edge)
{
	uint64_t r = next_rand();
	uint32_t span = 1u << (r % 12);
	uint32_t off = (uint32_t)(r >> 8) % span;
	return (r >> 40) & 1 ? edge + off : edge - off;
}

static void test_random_v4(void **state)
{
	(void)state;
	static struct peer_policy empty;
	peer_policy_init(&empty);
	unsigned n = 0;
	for (size_t i = 0; i < N_REF_V4; i++) {
		uint32_t edges[2] = { ref_v4[i].first, ref_v4[i].last };
		for (int e = 0; e < 2; e++) {
			for (int k = 0; k < SAMPLES_PER_EDGE; k++, n++) {
				uint32_t a = near4(edges[e]);
				if (special4(a) != ref4(a))
					fail_msg("v4 %08x: policy and reference disagree", a);
				uint8_t b[4];
				struct sockaddr_storage s;
				v4_bytes(a, b);
				sockaddr_from_bytes(&s, AF_INET, b, 40000);
				bool allowed = peer_policy_check(&empty, &s) == PEER_ALLOWED;
				if (allowed == ref4(a))
					fail_msg("v4 %08x: verdict disagrees", a);
			}
		}
	}
	for (int k = 0; k < 20000; k++, n++) {
		uint32_t a = (uint32_t)next_rand();
		if (special4(a) != ref4(a))
			fail_msg("v4 %08x: policy and reference disagree", a);
	}
	assert_true(n > 20000);
}

/* Wraps a v4 address in each IPv6 form; Teredo uses a global server. */
static int wrap(int form, uint32_t v4, uint8_t out[16])
{
	u128 a;
	switch (form) {
	case 0: a = v6_int("::ffff:0:0") | v4; break;
	case 1: a = v6_int("::") | v4; break;
	case 2: a = v6_int("64:ff9b::") | v4; break;
	case 3: a = v6_int("::ffff:0:0:0") | v4; break;
	case 4: a = v6_int("2002::") | ((u128)v4 << 80) | (next_rand() & 0xffff); break;
	case 5: a = v6_int("2001:0:4136:e378:8000:63bf::") | (uint32_t)~v4; break;
	default: return -1;
	}
	v6_bytes(a, out);
	return 0;
}

static void test_random_embedded(void **state)
{
	(void)state;
	unsigned n = 0;
	for (int form = 0; form < 6; form++) {
		for (size_t i = 0; i < N_REF_V4; i++) {
			for (int k = 0; k < SAMPLES_PER_EDGE; k++, n++) {
				uint32_t a = near4(k & 1 ? ref_v4[i].last : ref_v4[i].first);
				uint8_t b[16];
				assert_int_equal(wrap(form, a, b), 0);
				if (peer_policy_is_special(AF_INET6, b) != ref4(a))
					fail_msg("form %d v4 %08x: policy and reference disagree", form, a);
			}
		}
	}
	assert_true(n > 20000);
}

static void test_random_v6(void **state)
{
	(void)state;
	static const char *const extra_edges[] = {
		"::", "::ffff:ffff", "::ffff:0:0", "::ffff:ffff:ffff", "::ffff:0:0:0",
		"::ffff:0:ffff:ffff", "64:ff9b::", "64:ff9b::ffff:ffff", "2001::",
		"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	unsigned n = 0;
	for (size_t i = 0; i < N_REF_V6 * 2 + 12; i++) {
		const char *edge = i < N_REF_V6 * 2
			? (i & 1 ? ref_v6[i / 2].last : ref_v6[i / 2].first)
			: extra_edges[i - N_REF_V6 * 2];
		u128 base = v6_int(edge);
		for (int k = 0; k < SAMPLES_PER_EDGE; k++, n++) {
			uint64_t r = next_rand();
			u128 span = (u128)1 << (r % 100);
			u128 off = (((u128)next_rand() << 64) | next_rand()) % span;
			u128 a = (r >> 63) ? base + off : base - off;
			if (special6(a) != ref6(a))
				fail_msg("v6 sample %u near %s: policy and reference disagree", n, edge);
		}
	}
	assert_true(n > 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_boundaries),
		cmocka_unit_test(test_v6_boundaries),
		cmocka_unit_test(test_embedded_forms),
		cmocka_unit_test(test_own_listeners),
		cmocka_unit_test(test_wildcard_listeners),
		cmocka_unit_test(test_own_limits),
		cmocka_unit_test(test_deny_list),
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_random_v4),
		cmocka_unit_test(test_random_embedded),
		cmocka_unit_test(test_random_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
