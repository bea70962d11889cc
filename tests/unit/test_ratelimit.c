/* Unit tests for relay/policy/ratelimit.c: per-source token buckets. The
 * SipHash key is fixed after init so bucket placement is reproducible (the
 * sources used here were checked not to collide under this key). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay/policy/ratelimit.h"

static struct ratelimit *rl;

static int setup(void **state)
{
	(void)state;
	rl = malloc(sizeof(*rl));
	assert_non_null(rl);
	assert_int_equal(ratelimit_init(rl, 10, 5), 0);   /* 10/s, burst 5 */
	rl->key = (struct siphash_key){ 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(rl);
	return 0;
}

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage sa;
	assert_int_equal(sockaddr_parse(text, false, &sa), 0);
	return sa;
}

/* Takes n tokens at now_ms and returns how many were granted. */
static int take_n(const struct sockaddr_storage *sa, int n, uint64_t now_ms)
{
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += ratelimit_take(rl, sa, now_ms);
	return ok;
}

static void test_init_args(void **state)
{
	(void)state;
	struct ratelimit *r = malloc(sizeof(*r));
	assert_non_null(r);
	assert_int_equal(ratelimit_init(r, 0, 5), -EINVAL);
	assert_int_equal(ratelimit_init(r, 5, 0), -EINVAL);
	assert_int_equal(ratelimit_init(r, 5, UINT32_MAX), -ERANGE);
	assert_int_equal(ratelimit_init(r, UINT32_MAX, UINT32_MAX / 1000), 0);
	free(r);
}

static void test_burst_then_refuse(void **state)
{
	(void)state;
	struct sockaddr_storage a = addr("198.51.100.1:1000");
	assert_int_equal(take_n(&a, 5, 1000), 5);
	assert_false(ratelimit_take(rl, &a, 1000));
	/* The port is not part of the source. */
	struct sockaddr_storage a2 = addr("198.51.100.1:2000");
	assert_false(ratelimit_take(rl, &a2, 1000));
}

static void test_refill(void **state)
{
	(void)state;
	struct sockaddr_storage a = addr("198.51.100.2:1000");
	assert_int_equal(take_n(&a, 6, 1000), 5);
	/* 10/s: one token per 100 ms, accumulated exactly across small steps. */
	assert_false(ratelimit_take(rl, &a, 1099));
	assert_true(ratelimit_take(rl, &a, 1100));
	assert_false(ratelimit_take(rl, &a, 1150));
	assert_true(ratelimit_take(rl, &a, 1200));
	/* A long pause refills to the burst, never beyond. */
	assert_int_equal(take_n(&a, 10, 100000), 5);
}

static void test_independent(void **state)
{
	(void)state;
	struct sockaddr_storage a = addr("198.51.100.3:1"), b = addr("203.0.113.9:1");
	assert_int_equal(take_n(&a, 10, 1000), 5);
	assert_int_equal(take_n(&b, 10, 1000), 5);
	/* An IPv4-mapped IPv6 source is its IPv4 address. */
	struct sockaddr_storage m = addr("[::ffff:198.51.100.3]:1");
	assert_false(ratelimit_take(rl, &m, 1000));
	struct sockaddr_storage c = addr("[::ffff:198.51.100.4]:1");
	assert_true(ratelimit_take(rl, &c, 1000));
}

static void test_ipv6_slash64(void **state)
{
	(void)state;
	struct sockaddr_storage a = addr("[2001:db8:1:2::1]:1");
	struct sockaddr_storage same64 = addr("[2001:db8:1:2:ffff:ffff:ffff:ffff]:9");
	struct sockaddr_storage other64 = addr("[2001:db8:1:3::1]:1");
	assert_int_equal(take_n(&a, 3, 1000), 3);
	assert_int_equal(take_n(&same64, 5, 1000), 2);
	assert_int_equal(take_n(&other64, 5, 1000), 5);
}

static void test_clock_wrap(void **state)
{
	(void)state;
	struct sockaddr_storage a = addr("192.0.2.77:1");
	uint64_t before = 0x1FFFFFFF0ull;   /* low 32 bits: 2^32 - 16 */
	assert_int_equal(take_n(&a, 6, before), 5);
	/* 16 ms later the low 32 bits wrapped to 0: still only 16 ms elapsed. */
	assert_false(ratelimit_take(rl, &a, before + 16));
	assert_true(ratelimit_take(rl, &a, before + 100));
	assert_false(ratelimit_take(rl, &a, before + 150));
}

static void test_unknown_family(void **state)
{
	(void)state;
	struct sockaddr_storage u;
	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	assert_false(ratelimit_take(rl, &u, 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_args),
		cmocka_unit_test_setup_teardown(test_burst_then_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_slash64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_family, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
