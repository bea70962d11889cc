/* libFuzzer target: the REST username "<expiry>:<user-id>" (what a client
 * sends in USERNAME) through cred_username_parse and cred_check_time. The
 * first 24 bytes are now, max_ttl and skew (any int64: overflow must be
 * caught); the rest is the username, no NUL terminator. */
#include <assert.h>
#include <string.h>
#include "auth/cred.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	int64_t t[3];
	struct cred_username u, v;
	if (size < sizeof(t))
		return 0;
	memcpy(t, d, sizeof(t));
	const char *name = (const char *)d + sizeof(t);
	size_t len = size - sizeof(t);
	int r = cred_username_parse(name, len, &u);
	if (r == 0)
		assert(u.expiry >= 0 && u.user_id_len >= 1 && u.user_id_len <= CRED_MAX_USER_ID &&
		       u.user_id > name && u.user_id + u.user_id_len == name + len && u.user_id[-1] == ':');
	enum cred_verdict cv = cred_check_time(name, len, t[0], t[1], t[2], &v);
	assert((cv == CRED_MALFORMED) == (r != 0));
	assert(cv != CRED_OK || (v.expiry > t[0] && v.expiry - t[0] <= t[1] + t[2]));
	return 0;
}
