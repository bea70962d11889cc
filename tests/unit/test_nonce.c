/* Unit tests for auth/nonce.c: stateless nonces bound to the client's
 * address and port, with a lifetime and the RFC 8489 cookie and features. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/nonce.h"

static struct nonce_key key;
static struct sockaddr_storage v4, v6;

static int setup(void **state)
{
	(void)state;
	/* A fixed key keeps failures reproducible. */
	for (size_t i = 0; i < sizeof(key.key); i++)
		key.key[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(sockaddr_parse("192.0.2.10:40000", false, &v4), 0);
	assert_int_equal(sockaddr_parse("[2001:db8::10]:40000", false, &v6), 0);
	return 0;
}

static int make(const struct sockaddr_storage *c, uint64_t now, char buf[NONCE_MAX_LEN])
{
	int n = nonce_make(&key, now, c, buf, NONCE_MAX_LEN);
	assert_true(n > 0 && n <= NONCE_MAX_LEN);
	return n;
}

static void test_roundtrip(void **state)
{
	(void)state;
	char n4[NONCE_MAX_LEN], n6[NONCE_MAX_LEN];
	int l4 = make(&v4, 1000, n4), l6 = make(&v6, 1000, n6);

	assert_memory_equal(n4, "obMatJos2", 9);
	assert_int_equal(nonce_check(&key, n4, (size_t)l4, 1000, 600, &v4), 0);
	assert_int_equal(nonce_check(&key, n4, (size_t)l4, 1600, 600, &v4), 0);
	assert_int_equal(nonce_check(&key, n6, (size_t)l6, 1000, 600, &v6), 0);

	/* Only qdtext characters: no quote, backslash or control. */
	for (int i = 0; i < l4; i++)
		assert_true(n4[i] > 0x20 && n4[i] < 0x7f && n4[i] != '"' && n4[i] != '\\');

	struct nonce_key fresh;
	assert_int_equal(nonce_key_init(&fresh), 0);
	assert_int_equal(nonce_check(&fresh, n4, (size_t)l4, 1000, 600, &v4), -EINVAL);
}

static void test_other_address(void **state)
{
	(void)state;
	char n[NONCE_MAX_LEN];
	int l = make(&v4, 1000, n);
	struct sockaddr_storage c;

	assert_int_equal(sockaddr_parse("192.0.2.11:40000", false, &c), 0);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 1000, 600, &c), -EINVAL);
	assert_int_equal(sockaddr_parse("192.0.2.10:40001", false, &c), 0);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 1000, 600, &c), -EINVAL);
	/* Same bytes in the other family. */
	assert_int_equal(sockaddr_parse("[::ffff:192.0.2.10]:40000", false, &c), 0);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 1000, 600, &c), -EINVAL);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 1000, 600, &v6), -EINVAL);

	memset(&c, 0, sizeof(c));
	c.ss_family = AF_UNIX;
	assert_int_equal(nonce_check(&key, n, (size_t)l, 1000, 600, &c), -EINVAL);
	assert_true(nonce_make(&key, 1000, &c, n, sizeof(n)) < 0);
}

static void test_tampered(void **state)
{
	(void)state;
	char n[NONCE_MAX_LEN], t[NONCE_MAX_LEN];
	int l = make(&v4, 1000, n);

	/* Any changed character, in cookie, features, time or MAC, is refused. */
	for (int i = 0; i < l; i++) {
		memcpy(t, n, (size_t)l);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_equal(nonce_check(&key, t, (size_t)l, 1000, 600, &v4), -EINVAL);
	}
	memcpy(t, n, (size_t)l);
	t[l - 1] = '=';
	assert_int_equal(nonce_check(&key, t, (size_t)l, 1000, 600, &v4), -EINVAL);
	t[l - 1] = '\0';
	assert_int_equal(nonce_check(&key, t, (size_t)l, 1000, 600, &v4), -EINVAL);
}

static void test_truncated(void **state)
{
	(void)state;
	char n[NONCE_MAX_LEN + 1];
	int l = make(&v4, 1000, n);
	for (int len = 0; len < l; len++)
		assert_int_equal(nonce_check(&key, n, (size_t)len, 1000, 600, &v4), -EINVAL);
	n[l] = 'A';
	assert_int_equal(nonce_check(&key, n, (size_t)l + 1, 1000, 600, &v4), -EINVAL);
	assert_int_equal(nonce_check(&key, NULL, 0, 1000, 600, &v4), -EINVAL);
	assert_int_equal(nonce_make(&key, 1000, &v4, n, (size_t)l - 1), -ENOSPC);
}

static void test_stale(void **state)
{
	(void)state;
	char n[NONCE_MAX_LEN];
	int l = make(&v6, 5000, n);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 5600, 600, &v6), 0);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 5601, 600, &v6), -ESTALE);
	assert_int_equal(nonce_check(&key, n, (size_t)l, 4999, 600, &v6), -ESTALE);
	/* Staleness is only reported for our own nonces. */
	assert_int_equal(nonce_check(&key, n, (size_t)l, 9999, 600, &v4), -EINVAL);

	l = make(&v6, UINT64_MAX, n);
	assert_int_equal(nonce_check(&key, n, (size_t)l, UINT64_MAX, 600, &v6), 0);
	l = make(&v6, 0, n);
	assert_int_equal(nonce_check(&key, n, (size_t)l, UINT64_MAX, 600, &v6), -ESTALE);
}

static void test_features(void **state)
{
	(void)state;
	char n[NONCE_MAX_LEN];
	int l = make(&v4, 1, n);
	/* RFC 8489 section 18.1: bit 0 (most significant) is "Password
	 * algorithms", bit 1 "Username anonymity": 0x800000 is "gAAA". */
	assert_memory_equal(n, "obMatJos2gAAA", 13);
	assert_true(nonce_has_password_algorithms(n, (size_t)l));
	assert_false(nonce_has_password_algorithms("obMatJos2QAAA", 13));  /* anonymity only */
	assert_true(nonce_has_password_algorithms("obMatJos2/AAA", 13));   /* standard alphabet */
	assert_false(nonce_has_password_algorithms("obMatJos2AAAA", 13));
	assert_false(nonce_has_password_algorithms("obMatJos2gAA", 12));
	assert_false(nonce_has_password_algorithms("xbMatJos2gAAA", 13));
	assert_false(nonce_has_password_algorithms("obMatJos2g*AA", 13));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_other_address),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_features),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
