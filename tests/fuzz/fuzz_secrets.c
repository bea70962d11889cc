/* libFuzzer target: the secrets file reader (secrets_load) and the
 * one-password reader (secrets_read_password, the Redis password file) on a
 * 0600 file written from the input. Every loaded secret is 16..256 bytes
 * without control characters; the password is one clean line. */
#include <assert.h>
#include <string.h>
#include "conf/secrets.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	struct secrets s = { .hmac = SECRETS_HMAC_SHA1 };
	char err[512], pw[128];
	const char *path = fuzz_write("secrets", d, size, 0600);
	if (secrets_load(&s, path, err, sizeof(err)) == 0)
		for (unsigned i = 0; i < s.n; i++) {
			assert(s.n <= SECRETS_MAX && s.s[i].len >= 16 && s.s[i].len <= SECRETS_MAX_LEN);
			for (size_t j = 0; j < s.s[i].len; j++)
				assert(s.s[i].value[j] >= 0x20 && s.s[i].value[j] != 0x7f);
		}
	secrets_wipe(&s);
	if (secrets_read_password(path, pw, sizeof(pw), err, sizeof(err)) == 0)
		assert(pw[0] && strlen(pw) < sizeof(pw) && !strchr(pw, '\n'));
	return 0;
}
