/* libFuzzer target: conf_load on a config file written from the input, next
 * to a valid secrets file. Inputs that could name a file outside the scratch
 * directory ('/' not followed by a digit, as in a CIDR; any backslash, which
 * could spell one) are skipped: the target must not open /dev or /proc. */
#include <assert.h>
#include "conf/config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	static const uint8_t secret[] = "fuzz-secret-0123456789abcdef\n";
	struct tern_config *c = NULL;
	char err[512];
	for (size_t i = 0; i < size; i++)
		if (d[i] == '\\' || (d[i] == '/' && (i + 1 == size || d[i + 1] < '0' || d[i + 1] > '9')))
			return 0;
	fuzz_write("secrets", secret, sizeof(secret) - 1, 0600);
	int r = conf_load(fuzz_write("ternd.conf", d, size, 0644), &c, err, sizeof(err));
	assert((r == 0) == (c != NULL) && (r == 0 || err[0]));
	assert(!c || (c->secrets.n >= 1 && c->realm[0] && c->port_min <= c->port_max));
	conf_free(c);
	return 0;
}
