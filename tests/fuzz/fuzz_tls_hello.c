/* libFuzzer target: the TLS ClientHello reader under several max_len bounds.
 * Checks the contract: NEED_MORE only below max_len, *out untouched unless
 * OK, an OK result well-formed and the same whatever bound admitted it. */
#include <assert.h>
#include <string.h>
#include "relay/tls/clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	const size_t bounds[] = { SIZE_MAX, size, 5 + HELLO_MAX_RECORD, 512, 64, 4 };
	struct hello_info h, first, blank;
	memset(&blank, 0xa5, sizeof(blank));
	first = blank;   /* SIZE_MAX is the loosest bound: any OK is OK there first */
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		h = blank;
		enum hello_status st = hello_parse(d, size, bounds[i], &h);
		assert(st != HELLO_NEED_MORE || size < bounds[i]);
		assert(st == HELLO_OK || memcmp(&h, &blank, sizeof(h)) == 0);
		if (st != HELLO_OK)
			continue;
		assert(h.n_alpn <= HELLO_MAX_ALPN && strlen(h.sni) == h.sni_len && h.sni_len <= 253);
		if (i == 0)
			first = h;
		assert(memcmp(&h, &first, sizeof(h)) == 0);
		hello_offers_alpn(&h, "stun.turn");
	}
	return 0;
}
