/* libFuzzer target: cidr_parse (peers.allow / peers.deny entries). The
 * input is one C string. A parsed prefix must contain its own network
 * address, have no host bits, and print back to text that parses the same. */
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "conf/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	char text[256], back[INET6_ADDRSTRLEN + 8];
	struct cidr c, c2;
	if (size >= sizeof(text))
		return 0;
	memcpy(text, d, size);
	text[size] = '\0';
	if (cidr_parse(text, &c) != 0)
		return 0;
	assert((c.family == AF_INET && c.prefix <= 32) || (c.family == AF_INET6 && c.prefix <= 128));
	assert(cidr_contains(&c, c.family, c.addr));
	assert(inet_ntop(c.family, c.addr, back, sizeof(back)));
	snprintf(back + strlen(back), 8, "/%u", c.prefix);
	assert(cidr_parse(back, &c2) == 0 && memcmp(&c, &c2, sizeof(c)) == 0);
	return 0;
}
