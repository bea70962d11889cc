/* Unit tests for common/sockaddr.c: parsing "addr:port" in its IPv4,
 * bracketed IPv6 and port-less forms, every rejection, formatting with a
 * short buffer, and the equality helpers. The group "leniency" holds what
 * the parser accepts but a strict reading of the format should refuse. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/sockaddr.h"

static void parse_ok(const char *text, bool no_port, int family, const char *host, uint16_t port)
{
	struct sockaddr_storage sa;
	memset(&sa, 0xa5, sizeof(sa));
	assert_int_equal(sockaddr_parse(text, no_port, &sa), 0);
	assert_int_equal(sa.ss_family, family);
	assert_int_equal(sockaddr_port(&sa), port);
	uint8_t want[16];
	assert_int_equal(inet_pton(family, host, want), 1);
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(&sa, &len);
	assert_int_equal(len, family == AF_INET6 ? 16 : 4);
	assert_memory_equal(ip, want, len);
}

static void parse_bad(const char *text, bool no_port)
{
	struct sockaddr_storage sa, before;
	memset(&sa, 0x5a, sizeof(sa));
	before = sa;
	assert_int_equal(sockaddr_parse(text, no_port, &sa), -EINVAL);
	/* Out-parameters are written only on success. */
	assert_memory_equal(&sa, &before, sizeof(sa));
}

static void test_parse_v4(void **state)
{
	(void)state;
	parse_ok("1.2.3.4:5", false, AF_INET, "1.2.3.4", 5);
	parse_ok("0.0.0.0:3478", false, AF_INET, "0.0.0.0", 3478);
	parse_ok("255.255.255.255:65535", false, AF_INET, "255.255.255.255", 65535);
	parse_ok("10.0.0.1:0", false, AF_INET, "10.0.0.1", 0);
	parse_ok("10.0.0.1", true, AF_INET, "10.0.0.1", 0);
	parse_ok("10.0.0.1:443", true, AF_INET, "10.0.0.1", 443);
}

static void test_parse_v6(void **state)
{
	(void)state;
	parse_ok("[::1]:5", false, AF_INET6, "::1", 5);
	parse_ok("[2001:db8::1]:65535", false, AF_INET6, "2001:db8::1", 65535);
	parse_ok("[::]:3478", false, AF_INET6, "::", 3478);
	parse_ok("[::ffff:1.2.3.4]:9", false, AF_INET6, "::ffff:1.2.3.4", 9);
	parse_ok("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1", false, AF_INET6,
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1);
	/* Without a port: bare, or in brackets. */
	parse_ok("::1", true, AF_INET6, "::1", 0);
	parse_ok("2001:db8::1", true, AF_INET6, "2001:db8::1", 0);
	parse_ok("[2001:db8::1]", true, AF_INET6, "2001:db8::1", 0);
	/* A bare address with more than one colon is all address, no port. */
	parse_ok("2001:db8::1:80", true, AF_INET6, "2001:db8::1:80", 0);
}

static void test_parse_missing_port(void **state)
{
	(void)state;
	parse_bad("1.2.3.4", false);
	parse_bad("::1", false);
	parse_bad("2001:db8::1", false);
	parse_bad("[::1]", false);
	parse_bad("1.2.3.4:", false);
	parse_bad("1.2.3.4:", true);
	parse_bad("[::1]:", false);
	parse_bad("[::1]:", true);
}

static void test_parse_bad_ports(void **state)
{
	(void)state;
	parse_bad("1.2.3.4:65536", false);
	parse_bad("1.2.3.4:99999999999999999999", false);
	parse_bad("1.2.3.4:-1", false);
	parse_bad("1.2.3.4:+1", false);
	parse_bad("1.2.3.4:1x", false);
	parse_bad("1.2.3.4:0x10", false);
	parse_bad("1.2.3.4:80\n", false);
	parse_bad("1.2.3.4:80 ", false);
	parse_bad("[::1]:65536", false);
	parse_bad("[::1]:-0", false);
	parse_bad("[::1]:http", false);
}

static void test_parse_junk(void **state)
{
	(void)state;
	static const char *junk[] = {
		"", ":", ":5", "[]", "[]:5", "[", "[::1", "[::1]x", "[::1]5", "[::1]]:5",
		"::1]:5", "1.2.3:5", "1.2.3.4.5:5", "1.2.3.256:5", "01.2.3.4x:5", "host:80",
		"localhost", "1.2.3.4:5:6", "[fe80::1%eth0]:5", "[::g]:5", "1.2.3.4/24",
		" 1.2.3.4:5", "1.2.3.4 :5",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		parse_bad(junk[i], false);
		parse_bad(junk[i], true);
	}
	/* Longer than any address text. */
	char longtext[200];
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	parse_bad(longtext, true);
	char longv6[200] = "[";
	memset(longv6 + 1, ':', 100);
	strcpy(longv6 + 101, "]:5");
	parse_bad(longv6, false);
}

static void format_is(const char *text, const char *want)
{
	struct sockaddr_storage sa;
	assert_int_equal(sockaddr_parse(text, true, &sa), 0);
	char buf[SOCKADDR_STRLEN];
	assert_int_equal(sockaddr_format(&sa, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_format(void **state)
{
	(void)state;
	format_is("1.2.3.4:5", "1.2.3.4:5");
	format_is("1.2.3.4", "1.2.3.4:0");
	format_is("[::1]:5", "[::1]:5");
	format_is("2001:DB8:0:0::1", "[2001:db8::1]:0");
	format_is("[::ffff:1.2.3.4]:9", "[::ffff:1.2.3.4]:9");
	format_is("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
		  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	/* The longest text fits SOCKADDR_STRLEN. */
	format_is("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535",
		  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

static void test_format_short_buffer(void **state)
{
	(void)state;
	struct sockaddr_storage sa;
	assert_int_equal(sockaddr_parse("[2001:db8::1]:3478", false, &sa), 0);
	const char *want = "[2001:db8::1]:3478";
	char buf[SOCKADDR_STRLEN];
	size_t need = strlen(want) + 1;
	assert_int_equal(sockaddr_format(&sa, buf, need), 0);
	assert_string_equal(buf, want);
	assert_int_equal(sockaddr_format(&sa, buf, need - 1), -ENOSPC);
	assert_int_equal(sockaddr_format(&sa, buf, 1), -ENOSPC);

	assert_int_equal(sockaddr_parse("1.2.3.4:5", false, &sa), 0);
	assert_int_equal(sockaddr_format(&sa, buf, 10), 0);
	assert_int_equal(sockaddr_format(&sa, buf, 9), -ENOSPC);
}

static void test_round_trip(void **state)
{
	(void)state;
	static const char *texts[] = { "192.0.2.1:3478", "[2001:db8::8]:49152", "[::]:0",
				       "0.0.0.0:0" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct sockaddr_storage a, b;
		char buf[SOCKADDR_STRLEN];
		assert_int_equal(sockaddr_parse(texts[i], false, &a), 0);
		assert_int_equal(sockaddr_format(&a, buf, sizeof(buf)), 0);
		assert_string_equal(buf, texts[i]);
		assert_int_equal(sockaddr_parse(buf, false, &b), 0);
		assert_true(sockaddr_equal(&a, &b));
	}
}

static void test_equal(void **state)
{
	(void)state;
	struct sockaddr_storage a, b, c, m, v6a, v6b;
	assert_int_equal(sockaddr_parse("1.2.3.4:5", false, &a), 0);
	assert_int_equal(sockaddr_parse("1.2.3.4:5", false, &b), 0);
	assert_int_equal(sockaddr_parse("1.2.3.4:6", false, &c), 0);
	assert_int_equal(sockaddr_parse("[::ffff:1.2.3.4]:5", false, &m), 0);
	assert_int_equal(sockaddr_parse("[2001:db8::1]:5", false, &v6a), 0);
	assert_int_equal(sockaddr_parse("[2001:db8::2]:5", false, &v6b), 0);
	assert_true(sockaddr_equal(&a, &b));
	assert_true(sockaddr_same_ip(&a, &b));
	assert_false(sockaddr_equal(&a, &c));
	assert_true(sockaddr_same_ip(&a, &c));
	/* An IPv4-mapped IPv6 address is another family, so another address. */
	assert_false(sockaddr_equal(&a, &m));
	assert_false(sockaddr_same_ip(&a, &m));
	assert_false(sockaddr_equal(&v6a, &v6b));
	assert_false(sockaddr_same_ip(&v6a, &v6b));
	assert_true(sockaddr_equal(&v6a, &v6a));

	/* Equality looks at the address, not at padding or scope bytes. */
	struct sockaddr_storage d = a;
	memset((uint8_t *)&d + sizeof(struct sockaddr_in), 0x77,
	       sizeof(d) - sizeof(struct sockaddr_in));
	assert_true(sockaddr_equal(&a, &d));
}

static void test_helpers(void **state)
{
	(void)state;
	struct sockaddr_storage sa;
	const uint8_t v4[4] = { 198, 51, 100, 7 };
	sockaddr_from_bytes(&sa, AF_INET, v4, 3478);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(sockaddr_len(&sa), sizeof(struct sockaddr_in));
	assert_int_equal(sockaddr_port(&sa), 3478);
	sockaddr_set_port(&sa, 65535);
	assert_int_equal(sockaddr_port(&sa), 65535);
	char buf[SOCKADDR_STRLEN];
	assert_int_equal(sockaddr_format(&sa, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "198.51.100.7:65535");

	uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	v6[15] = 9;
	sockaddr_from_bytes(&sa, AF_INET6, v6, 1);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(sockaddr_len(&sa), sizeof(struct sockaddr_in6));
	size_t len;
	assert_memory_equal(sockaddr_ip_bytes(&sa, &len), v6, 16);
	assert_int_equal(len, 16);
	sockaddr_set_port(&sa, 0);
	assert_int_equal(sockaddr_format(&sa, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[2001:db8::9]:0");
}

/* Accepted today, though nothing in the "addr:port" format allows them:
 * strtoul() skips leading white space and takes a sign after it, and the
 * bracket form takes an IPv4 address inside. Config files are the input, so
 * these are leniencies, not security holes; kept apart so the suite stays
 * green while they stand. */
static void test_lenient_port_whitespace(void **state)
{
	(void)state;
	parse_bad("1.2.3.4: 80", false);
	parse_bad("1.2.3.4:\t80", false);
	parse_bad("1.2.3.4: -0", false);
}

static void test_lenient_bracketed_v4(void **state)
{
	(void)state;
	parse_bad("[1.2.3.4]:5", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_missing_port),
		cmocka_unit_test(test_parse_bad_ports),
		cmocka_unit_test(test_parse_junk),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_short_buffer),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_lenient_port_whitespace),
		cmocka_unit_test(test_lenient_bracketed_v4),
	};
	return cmocka_run_group_tests_name("sockaddr", tests, NULL, NULL);
}
