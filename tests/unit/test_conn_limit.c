/* Unit tests for the per-source stream connection limit (relay/policy/conn_limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "relay/policy/conn_limit.h"

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage sa;
	assert_int_equal(sockaddr_parse(text, false, &sa), 0);
	return sa;
}

static void test_limit_per_source(void **state)
{
	(void)state;
	struct conn_limit cl;
	assert_int_equal(conn_limit_init(&cl, 3), 0);
	struct sockaddr_storage a = addr("192.0.2.1:1000"), a2 = addr("192.0.2.1:2000");
	struct sockaddr_storage b = addr("192.0.2.2:1000");
	assert_true(conn_limit_acquire(&cl, &a));
	assert_true(conn_limit_acquire(&cl, &a2));   /* the port does not matter */
	assert_true(conn_limit_acquire(&cl, &a));
	assert_false(conn_limit_acquire(&cl, &a2));  /* fourth from the same address */
	assert_true(conn_limit_acquire(&cl, &b));    /* others are not affected */
	conn_limit_release(&cl, &a);
	assert_true(conn_limit_acquire(&cl, &a2));   /* a slot came back */
	assert_false(conn_limit_acquire(&cl, &a));
	conn_limit_destroy(&cl);
}

static void test_ipv6_by_prefix(void **state)
{
	(void)state;
	struct conn_limit cl;
	assert_int_equal(conn_limit_init(&cl, 2), 0);
	struct sockaddr_storage x = addr("[2001:db8:1:2::1]:1"), y = addr("[2001:db8:1:2::ffff]:2");
	struct sockaddr_storage other = addr("[2001:db8:1:3::1]:1");
	assert_true(conn_limit_acquire(&cl, &x));
	assert_true(conn_limit_acquire(&cl, &y));
	assert_false(conn_limit_acquire(&cl, &x));   /* same /64 */
	assert_true(conn_limit_acquire(&cl, &other));
	conn_limit_destroy(&cl);
}

static void test_release_frees_slot_and_max_change(void **state)
{
	(void)state;
	struct conn_limit cl;
	assert_int_equal(conn_limit_init(&cl, 1), 0);
	/* Many distinct sources, each acquired and released: nothing is kept. */
	char text[64];
	for (int i = 0; i < 100000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.%d:5", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		struct sockaddr_storage s = addr(text);
		assert_true(conn_limit_acquire(&cl, &s));
		conn_limit_release(&cl, &s);
	}
	struct sockaddr_storage s = addr("10.0.0.1:5");
	assert_true(conn_limit_acquire(&cl, &s));
	assert_false(conn_limit_acquire(&cl, &s));
	conn_limit_set_max(&cl, 2);
	assert_true(conn_limit_acquire(&cl, &s));
	conn_limit_destroy(&cl);
}

static void test_full_bucket_fails_closed(void **state)
{
	(void)state;
	struct conn_limit cl;
	assert_int_equal(conn_limit_init(&cl, 100), 0);
	/* More live sources than the table holds: some are refused, none crash. */
	unsigned refused = 0;
	char text[64];
	for (int i = 0; i < CONN_LIMIT_BUCKETS * CONN_LIMIT_WAYS + 1000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.%d:5", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		struct sockaddr_storage s = addr(text);
		refused += !conn_limit_acquire(&cl, &s);
	}
	assert_true(refused >= 1000);
	conn_limit_destroy(&cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_per_source),
		cmocka_unit_test(test_ipv6_by_prefix),
		cmocka_unit_test(test_release_frees_slot_and_max_change),
		cmocka_unit_test(test_full_bucket_fails_closed),
	};
	return cmocka_run_group_tests_name("conn_limit", tests, NULL, NULL);
}
