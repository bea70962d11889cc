/* Unit tests for conf/cidr.c: what parses, what is refused (host bits,
 * bad prefixes, junk), and containment at prefix boundaries. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conf/cidr.h"

static void ip(const char *text, int family, uint8_t out[16])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(family, text, out), 1);
}

static bool contains(const char *prefix, const char *addr)
{
	struct cidr c;
	uint8_t a[16];
	assert_int_equal(cidr_parse(prefix, &c), 0);
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ip(addr, family, a);
	return cidr_contains(&c, family, a);
}

static void test_parse_good(void **state)
{
	(void)state;
	struct cidr c;
	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(c.addr[0], 10);

	assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(c.addr[3], 0xb8);

	assert_int_equal(cidr_parse("192.0.2.7", &c), 0);      /* bare: full length */
	assert_int_equal(c.prefix, 32);
	assert_int_equal(cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(cidr_parse("::/0", &c), 0);
	assert_int_equal(cidr_parse("fe80::/10", &c), 0);
	assert_int_equal(cidr_parse("255.255.255.255/32", &c), 0);
	assert_int_equal(cidr_parse("::ffff:10.0.0.0/104", &c), 0);
	assert_int_equal(c.family, AF_INET6);
}

static void test_parse_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8",
		"10.0.0.0/08", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/ 8", "10.0.0.0 /8",
		"10.0.0.0/8/8", "10.0.0/8", "10.0.0.256/32", "fe80::1/10", "fe80::/10x",
		"2001:db8::/1000", "fe80::%eth0/64", "example.com/8", "1.2.3.4:80",
		"[::1]/128", "10.0.0.0/8 ", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cidr c = { .family = 99 };
		if (cidr_parse(bad[i], &c) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(c.family, 99);   /* untouched on failure */
	}
}

static void test_contains_v4(void **state)
{
	(void)state;
	assert_true(contains("10.0.0.0/8", "10.0.0.0"));
	assert_true(contains("10.0.0.0/8", "10.255.255.255"));
	assert_false(contains("10.0.0.0/8", "9.255.255.255"));
	assert_false(contains("10.0.0.0/8", "11.0.0.0"));
	/* a prefix that does not end on a byte boundary */
	assert_true(contains("100.64.0.0/10", "100.127.255.255"));
	assert_false(contains("100.64.0.0/10", "100.128.0.0"));
	assert_false(contains("100.64.0.0/10", "100.63.255.255"));
	assert_true(contains("0.0.0.0/0", "203.0.113.9"));
	assert_true(contains("192.0.2.7", "192.0.2.7"));
	assert_false(contains("192.0.2.7", "192.0.2.6"));
}

static void test_contains_v6(void **state)
{
	(void)state;
	assert_true(contains("fe80::/10", "fe80::"));
	assert_true(contains("fe80::/10", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(contains("fe80::/10", "fec0::"));
	assert_false(contains("fe80::/10", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(contains("::/0", "2001:db8::1"));
	assert_true(contains("2001:db8::1", "2001:db8::1"));
	assert_false(contains("2001:db8::1", "2001:db8::2"));
}

static void test_contains_family(void **state)
{
	(void)state;
	struct cidr c;
	uint8_t a[16] = { 10, 0, 0, 1 };
	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_false(cidr_contains(&c, AF_INET6, a));   /* never across families */
	assert_int_equal(cidr_parse("::/0", &c), 0);
	assert_false(cidr_contains(&c, AF_INET, a));
	/* a hand-built struct with a bad prefix matches nothing */
	struct cidr wild = { .family = AF_INET, .prefix = 200 };
	assert_false(cidr_contains(&wild, AF_INET, a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_contains_v4),
		cmocka_unit_test(test_contains_v6),
		cmocka_unit_test(test_contains_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
