/* libFuzzer target: revocation_set_read on a snapshot file written from the
 * input (what ternd reads at start when Redis is down). A snapshot it
 * accepts must survive a write and a second read with the same entries. */
#include <assert.h>
#include <string.h>
#include "auth/revocation.h"
#include "fuzz_file.h"

static void count(void *arg, enum revocation_kind k, const char *v, size_t len, int64_t until)
{
	assert((k == REVOKE_USER || k == REVOKE_CREDENTIAL) && v && len && len <= REVOCATION_MAX_VALUE);
	(void)until, ++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	struct revocation_set *s = NULL, *s2 = NULL;
	char err[512];
	size_t n = 0, n2 = 0;
	const char *path = fuzz_write("snapshot", d, size, 0600);
	if (revocation_set_read(path, 1700000000, &s, err, sizeof(err)) != 0)
		return 0;
	revocation_set_each(s, count, &n);
	assert(n == s->count && revocation_set_write(s, path, err, sizeof(err)) == 0);
	assert(revocation_set_read(path, 1700000000, &s2, err, sizeof(err)) == 0);
	revocation_set_each(s2, count, &n2);
	assert(n2 == n && strcmp(s->last_id, s2->last_id) == 0 && s->newest_ms == s2->newest_ms);
	revocation_set_release(s), revocation_set_release(s2);
	return 0;
}
