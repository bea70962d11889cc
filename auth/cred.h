/* TURN REST API credentials: username = "<unix-expiry>:<user-id>",
 * password = base64(HMAC(secret, username)), HMAC-SHA1 by default or
 * HMAC-SHA256. Several secrets are valid at once so they can be rotated.
 *
 * Pure credential math: no I/O, no logging. Wall-clock time is passed in. */
#ifndef TERN_AUTH_CRED_H
#define TERN_AUTH_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/secrets.h"

#define CRED_MAX_USERNAME    512   /* STUN USERNAME is < 513 bytes */
#define CRED_MAX_USER_ID     256
#define CRED_PASSWORD_CAP    48    /* base64 of 32 bytes is 44 chars, + NUL */


struct cred_username {
	int64_t expiry;             /* unix seconds */
	const char *user_id;        /* points into the username; not NUL-terminated */
	size_t user_id_len;
};

/* Splits "<expiry>:<user-id>". The expiry is decimal digits only (no sign,
 * no leading '+', at most 19 digits); the user id is 1..CRED_MAX_USER_ID
 * bytes of printable ASCII without control characters (it may contain ':').
 * Returns 0 or -EINVAL. */
int cred_username_parse(const char *username, size_t len, struct cred_username *out);

/* The REST password for `username` under secret `idx`: base64 text,
 * NUL-terminated, written to out (CRED_PASSWORD_CAP bytes). Returns its length
 * or negative errno. */
int cred_password(const struct secrets *s, unsigned idx, const char *username, size_t ulen,
		  char out[CRED_PASSWORD_CAP]);

enum cred_verdict {
	CRED_OK = 0,
	CRED_MALFORMED,     /* username not of the REST form */
	CRED_EXPIRED,       /* expiry <= now (minus no skew: expiry is a hard limit) */
	CRED_TOO_FAR,       /* expiry > now + max_ttl + skew */
};

/* Checks a username's form and time window (no HMAC involved). */
enum cred_verdict cred_check_time(const char *username, size_t ulen, int64_t now,
				  int64_t max_ttl, int64_t skew, struct cred_username *parsed);

/* Mints: writes "<now+ttl>:<user_id>" to username (cap bytes) and its
 * password. Returns 0 or negative errno (-EINVAL for a bad user id). */
int cred_mint(const struct secrets *s, const char *user_id, int64_t now, int64_t ttl,
	      char *username, size_t cap, char password[CRED_PASSWORD_CAP]);

/* Constant-time equality of two byte strings of the same length. */
bool cred_ct_equal(const void *a, const void *b, size_t len);

#endif
