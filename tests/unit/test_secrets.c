/* Unit tests for conf/secrets.c: file format, limits, permissions, and the
 * "path:line: what" error messages. Each test writes its own temp file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/secrets.h"

#define GOOD "0123456789abcdef"   /* exactly 16 bytes, the minimum */

static char path[64];

/* Writes content to a fresh mkstemp file with the given mode. */
static const char *temp_file(const char *content, size_t len, mode_t mode)
{
	strcpy(path, "/tmp/tern-secrets-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static int load_str(const char *content, mode_t mode, struct secrets *s, char *err, size_t cap)
{
	const char *p = temp_file(content, strlen(content), mode);
	int r = secrets_load(s, p, err, cap);
	unlink(p);
	return r;
}

static void expect_error(const char *content, mode_t mode, int want_r, const char *want_msg)
{
	struct secrets s = { .hmac = SECRETS_HMAC_SHA1, .n = 7 };
	char err[256] = "";
	assert_int_equal(load_str(content, mode, &s, err, sizeof(err)), want_r);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, want_msg));
	assert_int_equal(s.n, 7);   /* untouched on failure */
}

static void test_good(void **state)
{
	(void)state;
	struct secrets s = { .hmac = SECRETS_HMAC_SHA256 };
	char err[256] = "";
	const char *text =
		"# rotation: new first\r\n"
		"\n"
		"   \r\n"
		"second-secret-with spaces inside  \t\r\n"
		"#" GOOD "\n"
		GOOD;   /* no final newline */
	assert_int_equal(load_str(text, 0600, &s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(s.hmac, SECRETS_HMAC_SHA256);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.s[0].len, strlen("second-secret-with spaces inside"));
	assert_memory_equal(s.s[0].value, "second-secret-with spaces inside", s.s[0].len);
	assert_int_equal(s.s[1].len, 16);
	assert_memory_equal(s.s[1].value, GOOD, 16);

	secrets_wipe(&s);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.s[1].value[0], 0);
	secrets_wipe(NULL);
}

static void test_modes(void **state)
{
	(void)state;
	struct secrets s = { 0 };
	char err[256];
	assert_int_equal(load_str(GOOD "\n", 0400, &s, err, sizeof(err)), 0);
	expect_error(GOOD "\n", 0644, -EPERM, "chmod 600");
	expect_error(GOOD "\n", 0640, -EPERM, "mode 0640");
	expect_error(GOOD "\n", 0620, -EPERM, "group or others");
	expect_error(GOOD "\n", 0602, -EPERM, "group or others");
}

static void test_empty(void **state)
{
	(void)state;
	expect_error("", 0600, -EINVAL, ": no secrets");
	expect_error("# only a comment\n\n\r\n", 0600, -EINVAL, ": no secrets");
}

static void test_too_many(void **state)
{
	(void)state;
	char text[1024] = "";
	for (int i = 0; i <= SECRETS_MAX; i++)
		strcat(text, GOOD "\n");
	char want[32];
	snprintf(want, sizeof(want), ":%d: more than %d", SECRETS_MAX + 1, SECRETS_MAX);
	expect_error(text, 0600, -E2BIG, want);

	/* Exactly SECRETS_MAX is fine. */
	text[strlen(text) - 17] = '\0';
	struct secrets s = { 0 };
	char err[256];
	assert_int_equal(load_str(text, 0600, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, SECRETS_MAX);
}

static void test_lengths(void **state)
{
	(void)state;
	expect_error("# c\n0123456789abcde\n", 0600, -EINVAL, ":2: secret is 15 bytes");

	char text[SECRETS_MAX_LEN + 3];
	memset(text, 'k', SECRETS_MAX_LEN + 1);
	strcpy(text + SECRETS_MAX_LEN + 1, "\n");
	expect_error(text, 0600, -EINVAL, ":1: secret is 257 bytes");

	strcpy(text + SECRETS_MAX_LEN, "\n");
	struct secrets s = { 0 };
	char err[256];
	assert_int_equal(load_str(text, 0600, &s, err, sizeof(err)), 0);
	assert_int_equal(s.s[0].len, SECRETS_MAX_LEN);
}

static void test_bad_chars(void **state)
{
	(void)state;
	expect_error(" " GOOD "\n", 0600, -EINVAL, ":1: leading whitespace");
	expect_error(GOOD "\n01234567\x01" "89abcdef\n", 0600, -EINVAL, ":2: control character");

	/* A NUL byte is a control character too. */
	struct secrets s = { 0 };
	char err[256] = "";
	const char *p = temp_file(GOOD "\0" GOOD "\n", 34, 0600);
	assert_int_equal(secrets_load(&s, p, err, sizeof(err)), -EINVAL);
	unlink(p);
	assert_non_null(strstr(err, ":1: control character"));
}

static void test_missing(void **state)
{
	(void)state;
	struct secrets s = { 0 };
	char err[256] = "";
	assert_int_equal(secrets_load(&s, "/nonexistent/tern/secrets", err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/tern/secrets: cannot open"));
	assert_int_equal(secrets_load(&s, "/tmp", err, sizeof(err)), -EINVAL);
	/* A NULL error buffer is allowed. */
	assert_int_equal(secrets_load(&s, "/nonexistent/tern/secrets", NULL, 0), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
