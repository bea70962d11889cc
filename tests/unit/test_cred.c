/* Unit tests for auth/cred.c: REST username parsing, password derivation
 * against independently computed vectors, time-window boundaries, minting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/cred.h"

#define S0 "tern-test-secret-0-abcdefgh"
#define S1 "tern-test-secret-1-ijklmnop"

static void secrets_init(struct secrets *s, enum secrets_hmac hmac)
{
	memset(s, 0, sizeof(*s));
	s->hmac = hmac;
	s->n = 2;
	memcpy(s->s[0].value, S0, strlen(S0));
	s->s[0].len = strlen(S0);
	memcpy(s->s[1].value, S1, strlen(S1));
	s->s[1].len = strlen(S1);
}

static int parse(const char *u, struct cred_username *out)
{
	return cred_username_parse(u, strlen(u), out);
}

static void test_parse_ok(void **state)
{
	(void)state;
	struct cred_username u;
	const char *name = "1700000000:alice";
	assert_int_equal(cred_username_parse(name, strlen(name), &u), 0);
	assert_int_equal(u.expiry, 1700000000);
	assert_ptr_equal(u.user_id, name + 11);
	assert_int_equal(u.user_id_len, 5);

	/* The user id may contain ':' and spaces; the first ':' splits. */
	assert_int_equal(parse("5:a:b c", &u), 0);
	assert_int_equal(u.expiry, 5);
	assert_int_equal(u.user_id_len, 5);
	assert_memory_equal(u.user_id, "a:b c", 5);

	/* Leading zeros are digits like any other (the HMAC covers the text). */
	assert_int_equal(parse("0001:x", &u), 0);
	assert_int_equal(u.expiry, 1);
	assert_int_equal(parse("0:x", &u), 0);
	assert_int_equal(parse("1:~!", &u), 0);
}

static void test_parse_reject(void **state)
{
	(void)state;
	struct cred_username u = { .expiry = 42 };
	static const char *bad[] = {
		"", ":", "1700000000", "1700000000:", ":alice", "alice",
		"-1:alice", "+1:alice", " 1:alice", "1 :alice", "0x10:alice", "1.5:alice",
		"1:tab\there", "1:cr\r", "1:lf\nx", "1:del\x7f", "1:esc\x1b", "1:hi\x80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &u), -EINVAL);
	}
	/* Output untouched on failure. */
	assert_int_equal(u.expiry, 42);

	/* An embedded NUL counts as a control character. */
	assert_int_equal(cred_username_parse("1:a\0b", 5, &u), -EINVAL);
	assert_int_equal(cred_username_parse(NULL, 0, &u), -EINVAL);
}

static void test_parse_digits(void **state)
{
	(void)state;
	struct cred_username u;
	/* 19 digits within int64_t: accepted. */
	assert_int_equal(parse("9223372036854775807:a", &u), 0);
	assert_int_equal(u.expiry, INT64_MAX);
	assert_int_equal(parse("1000000000000000000:a", &u), 0);
	/* 19 digits but above INT64_MAX: overflow. */
	assert_int_equal(parse("9223372036854775808:a", &u), -EINVAL);
	assert_int_equal(parse("9999999999999999999:a", &u), -EINVAL);
	/* 20 digits, even if small in value. */
	assert_int_equal(parse("00000000000000000001:a", &u), -EINVAL);
}

static void test_parse_lengths(void **state)
{
	(void)state;
	struct cred_username u;
	char buf[CRED_MAX_USERNAME + 8];

	memcpy(buf, "1:", 2);
	memset(buf + 2, 'u', CRED_MAX_USER_ID);
	assert_int_equal(cred_username_parse(buf, 2 + CRED_MAX_USER_ID, &u), 0);
	assert_int_equal(u.user_id_len, CRED_MAX_USER_ID);
	buf[2 + CRED_MAX_USER_ID] = 'u';
	assert_int_equal(cred_username_parse(buf, 3 + CRED_MAX_USER_ID, &u), -EINVAL);

	memset(buf, '1', sizeof(buf));
	assert_int_equal(cred_username_parse(buf, CRED_MAX_USERNAME + 1, &u), -EINVAL);
}

/* Expected values made independently with the OpenSSL command line:
 *   printf %s "$user" | openssl dgst -sha1   -hmac "$secret" -binary | base64
 *   printf %s "$user" | openssl dgst -sha256 -hmac "$secret" -binary | base64 */
static const struct {
	const char *user, *sha1_s0, *sha1_s1, *sha256_s0;
} vectors[] = {
	{ "1700000000:alice", "0EcWkht/WiB13nsL1ZzykyZIl0U=", "kmXjoPsRCNFriv3RF48yRPCK8kA=",
	  "okltz7uAr2ZW6GhEeDFTcQQJ4SvoAw/Rm5iSJ/u9L0g=" },
	{ "4102444800:user with space", "XpNIxwik7jsVf5eaxcrPQCshC5I=",
	  "iL4Jdg84n5QAd+30JnpOzCBq3tQ=", "Oe37RApW7eXdwbiF9g2wOJ/lkzkjQw3MA+pIOcswdYI=" },
	{ "1700000000:a:b:c", "8+Yr4VwhePA2pHNVKUyNd+Thsm0=", "wTVQ1kPEmOZkDv/1OioybVRf3vk=",
	  "DG95pv9TUJdXRWWRvU6sXQt0qzZvHj7Gn7UQ+FrlK1A=" },
};

static void expect_password(const struct secrets *s, unsigned idx, const char *user,
			    const char *want)
{
	char pw[CRED_PASSWORD_CAP];
	int n = cred_password(s, idx, user, strlen(user), pw);
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(pw, want);
}

static void test_password_sha1(void **state)
{
	(void)state;
	struct secrets s;
	secrets_init(&s, SECRETS_HMAC_SHA1);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		expect_password(&s, 0, vectors[i].user, vectors[i].sha1_s0);
		/* Rotation: the second secret yields a different password. */
		expect_password(&s, 1, vectors[i].user, vectors[i].sha1_s1);
		assert_string_not_equal(vectors[i].sha1_s0, vectors[i].sha1_s1);
	}
}

static void test_password_sha256(void **state)
{
	(void)state;
	struct secrets s;
	secrets_init(&s, SECRETS_HMAC_SHA256);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		expect_password(&s, 0, vectors[i].user, vectors[i].sha256_s0);
}

static void test_password_bad_index(void **state)
{
	(void)state;
	struct secrets s;
	char pw[CRED_PASSWORD_CAP];
	secrets_init(&s, SECRETS_HMAC_SHA1);
	assert_int_equal(cred_password(&s, 2, "1:a", 3, pw), -EINVAL);
	assert_int_equal(cred_password(&s, SECRETS_MAX, "1:a", 3, pw), -EINVAL);
	s.n = 0;
	assert_int_equal(cred_password(&s, 0, "1:a", 3, pw), -EINVAL);
}

static enum cred_verdict check(const char *u, int64_t now)
{
	return cred_check_time(u, strlen(u), now, 3600, 30, NULL);
}

static void test_check_time(void **state)
{
	(void)state;
	/* Expired: expiry <= now, no skew. */
	assert_int_equal(check("1000:a", 1000), CRED_EXPIRED);
	assert_int_equal(check("1000:a", 1001), CRED_EXPIRED);
	assert_int_equal(check("1000:a", 999), CRED_OK);
	/* Too far: expiry > now + max_ttl + skew. */
	assert_int_equal(check("4630:a", 1000), CRED_OK);       /* 1000 + 3600 + 30 */
	assert_int_equal(check("4631:a", 1000), CRED_TOO_FAR);
	assert_int_equal(check("9223372036854775807:a", 1000), CRED_TOO_FAR);
	assert_int_equal(check("x:a", 1000), CRED_MALFORMED);
	assert_int_equal(check("1000:", 10), CRED_MALFORMED);

	/* Overflowing configured bounds never wrap into acceptance. */
	assert_int_equal(cred_check_time("9223372036854775807:a", 21, -10, INT64_MAX, INT64_MAX,
					 NULL), CRED_TOO_FAR);

	struct cred_username p = { 0 };
	assert_int_equal(cred_check_time("1000:bob", 8, 2000, 3600, 30, &p), CRED_EXPIRED);
	assert_int_equal(p.expiry, 1000);
	assert_int_equal(p.user_id_len, 3);
}

static void test_mint(void **state)
{
	(void)state;
	struct secrets s;
	char user[CRED_MAX_USERNAME + 1], pw[CRED_PASSWORD_CAP];
	secrets_init(&s, SECRETS_HMAC_SHA1);

	assert_int_equal(cred_mint(&s, "alice", 1700000000 - 3600, 3600, user, sizeof(user), pw), 0);
	assert_string_equal(user, "1700000000:alice");
	assert_string_equal(pw, vectors[0].sha1_s0);   /* minted with secrets[0] */
	assert_int_equal(check(user, 1700000000 - 3600), CRED_OK);

	assert_int_equal(cred_mint(&s, "", 0, 10, user, sizeof(user), pw), -EINVAL);
	assert_int_equal(cred_mint(&s, "a\nb", 0, 10, user, sizeof(user), pw), -EINVAL);
	assert_int_equal(cred_mint(&s, "a", 0, 0, user, sizeof(user), pw), -EINVAL);
	assert_int_equal(cred_mint(&s, "a", INT64_MAX, 1, user, sizeof(user), pw), -ERANGE);
	assert_int_equal(cred_mint(&s, "alice", 1, 10, user, 5, pw), -ENOSPC);

	char longid[CRED_MAX_USER_ID + 2];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(cred_mint(&s, longid, 1, 10, user, sizeof(user), pw), -EINVAL);
	longid[CRED_MAX_USER_ID] = '\0';
	assert_int_equal(cred_mint(&s, longid, 1, 10, user, sizeof(user), pw), 0);

	s.n = 0;
	assert_int_equal(cred_mint(&s, "a", 0, 10, user, sizeof(user), pw), -EINVAL);
}

static void test_ct_equal(void **state)
{
	(void)state;
	assert_true(cred_ct_equal("abcd", "abcd", 4));
	assert_false(cred_ct_equal("abcd", "abce", 4));
	assert_true(cred_ct_equal("x", "y", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_reject),
		cmocka_unit_test(test_parse_digits),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_password_sha1),
		cmocka_unit_test(test_password_sha256),
		cmocka_unit_test(test_password_bad_index),
		cmocka_unit_test(test_check_time),
		cmocka_unit_test(test_mint),
		cmocka_unit_test(test_ct_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
