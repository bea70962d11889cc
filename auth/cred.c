/* TURN REST API credentials (see cred.h): parsing the "<expiry>:<user-id>"
 * username, deriving its password from a shared secret, and checking its
 * time window. Pure functions over OpenSSL's libcrypto; no I/O, no logging.
 *
 * User id alphabet: printable ASCII 0x20..0x7e (space included, as "printable
 * ASCII" in cred.h says; ':' allowed). Everything else -- control characters,
 * CR/LF, DEL, NUL, bytes >= 0x80 -- is refused so that a user id can never
 * forge extra fields in the audit trail or in a header. */
#include "auth/cred.h"

#include "common/hmac.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define CRED_MAX_EXPIRY_DIGITS 19

static bool user_id_char_ok(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int user_id_check(const char *id, size_t len)
{
	if (len == 0 || len > CRED_MAX_USER_ID)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!user_id_char_ok((unsigned char)id[i]))
			return -EINVAL;
	return 0;
}

/* Digits only, 1..19 of them, value within int64_t; returns the digit count. */
static int parse_expiry(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == CRED_MAX_EXPIRY_DIGITS)
			return -EINVAL;
		int d = s[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (i == 0)
		return -EINVAL;
	*out = v;
	return (int)i;
}

int cred_username_parse(const char *username, size_t len, struct cred_username *out)
{
	if (!username || len > CRED_MAX_USERNAME)
		return -EINVAL;

	int64_t expiry;
	int n = parse_expiry(username, len, &expiry);
	if (n < 0 || (size_t)n >= len || username[n] != ':')
		return -EINVAL;

	const char *id = username + n + 1;
	size_t id_len = len - (size_t)n - 1;
	if (user_id_check(id, id_len) < 0)
		return -EINVAL;

	out->expiry = expiry;
	out->user_id = id;
	out->user_id_len = id_len;
	return 0;
}

int cred_password(const struct secrets *s, unsigned idx, const char *username, size_t ulen,
		  char out[CRED_PASSWORD_CAP])
{
	if (!s || idx >= s->n || idx >= SECRETS_MAX || !username || ulen > CRED_MAX_USERNAME)
		return -EINVAL;

	enum hmac_digest d = s->hmac == SECRETS_HMAC_SHA256 ? HMAC_DIGEST_SHA256 : HMAC_DIGEST_SHA1;
	const struct secret *sec = &s->s[idx];
	const struct hmac_part part = { username, ulen };
	uint8_t mac[HMAC_OUT_MAX];
	int mac_len = hmac_compute(d, sec->value, sec->len, &part, 1, mac);
	if (mac_len < 0)
		return -EIO;
	/* 32 bytes encode to 44 chars + NUL, within CRED_PASSWORD_CAP. */
	int n = EVP_EncodeBlock((unsigned char *)out, mac, mac_len);
	OPENSSL_cleanse(mac, sizeof(mac));
	return n;
}

/* Fills *parsed whenever the form is valid (also for EXPIRED and TOO_FAR), so
 * that a caller can name the user in the audit trail when refusing them. */
enum cred_verdict cred_check_time(const char *username, size_t ulen, int64_t now,
				  int64_t max_ttl, int64_t skew, struct cred_username *parsed)
{
	struct cred_username u;
	if (cred_username_parse(username, ulen, &u) < 0)
		return CRED_MALFORMED;
	if (parsed)
		*parsed = u;

	if (u.expiry <= now)
		return CRED_EXPIRED;
	/* expiry > now here, so the difference is positive; the sum of two
	 * configured bounds is checked for overflow anyway. */
	int64_t ahead, window;
	if (__builtin_sub_overflow(u.expiry, now, &ahead) ||
	    __builtin_add_overflow(max_ttl, skew, &window) || ahead > window)
		return CRED_TOO_FAR;
	return CRED_OK;
}

int cred_mint(const struct secrets *s, const char *user_id, int64_t now, int64_t ttl,
	      char *username, size_t cap, char password[CRED_PASSWORD_CAP])
{
	if (!s || s->n == 0 || !user_id || !username || ttl <= 0)
		return -EINVAL;
	if (user_id_check(user_id, strnlen(user_id, CRED_MAX_USER_ID + 1)) < 0)
		return -EINVAL;

	int64_t expiry;
	if (__builtin_add_overflow(now, ttl, &expiry) || expiry <= 0)
		return -ERANGE;

	int n = snprintf(username, cap, "%" PRId64 ":%s", expiry, user_id);
	if (n < 0 || (size_t)n >= cap || n > CRED_MAX_USERNAME)
		return -ENOSPC;

	int r = cred_password(s, 0, username, (size_t)n, password);
	return r < 0 ? r : 0;
}

bool cred_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
