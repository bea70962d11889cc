/* The shared secrets that REST credentials are minted and verified with,
 * read from a file of their own (never the command line, never the main
 * config, so the config can be world-readable and the secrets not). */
#ifndef TERN_CONF_SECRETS_H
#define TERN_CONF_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRETS_MAX      8
#define SECRETS_MAX_LEN  256

enum secrets_hmac { SECRETS_HMAC_SHA1 = 0, SECRETS_HMAC_SHA256 = 1 };

struct secret {
	uint8_t value[SECRETS_MAX_LEN];
	size_t len;
};

/* The set in force: secrets[0] mints; all verify (rotation: add the new one
 * first, keep the old one until every credential minted with it expired). */
struct secrets {
	enum secrets_hmac hmac;
	unsigned n;
	struct secret s[SECRETS_MAX];
};

/* Reads one secret per line; blank lines and lines starting with '#' are
 * skipped, trailing whitespace (incl. CR) trimmed. At least one secret, at
 * most SECRETS_MAX, each 16..SECRETS_MAX_LEN bytes. The file must not be
 * readable or writable by others (-EPERM otherwise). On failure writes
 * "path:line: what" or "path: what" to err and returns negative errno;
 * out->hmac is left as the caller set it. */
int secrets_load(struct secrets *out, const char *path, char *err, size_t err_cap);
/* Reads a single-password file (e.g. the Redis password): same mode rule,
 * first line, trailing whitespace trimmed. 0 or negative errno with why. */
int secrets_read_password(const char *path, char *out, size_t out_cap, char *err, size_t err_cap);
/* Wipes secret material (explicit_bzero). */
void secrets_wipe(struct secrets *s);

#endif
