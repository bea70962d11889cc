/* libFuzzer target: STUN parser, every decoder, both integrity checks, and a
 * rebuild (attributes before the first integrity one, then MI + FINGERPRINT)
 * that the parser must take back and verify. */
#include <assert.h>
#include "relay/stun/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	static const uint8_t k[16] = "fuzz-key-0123456"; /* make_seeds.py signs with it */
	static uint8_t out[1 << 16];
	union { struct sockaddr_storage ss; uint32_t u32; int i; uint16_t u16; uint8_t u8; bool y; } o;
	struct stun_msg m, m2;
	struct stun_builder b;

	if (stun_msg_parse(&m, d, size) < 0)
		return 0;
	stun_msg_check_integrity(&m, k, 16), stun_msg_check_integrity_sha256(&m, k, 16);
	size_t stop = m.mi_offset ? m.mi_offset : m.mi256_offset ? m.mi256_offset :
		      m.fingerprint_offset ? m.fingerprint_offset : m.len;
	unsigned kept = 0;
	stun_build_init(&b, out, sizeof(out), m.type, m.tid);
	for (const struct stun_attr *a = m.attrs; a < m.attrs + m.n_attrs; a++) {
		stun_attr_get_xor_addr(&m, a, &o.ss), stun_attr_get_addr(&m, a, &o.ss);
		stun_attr_get_u32(&m, a, &o.u32), stun_attr_get_error(&m, a, &o.i);
		stun_attr_get_family(&m, a, &o.i), stun_attr_get_channel(&m, a, &o.u16);
		stun_attr_get_password_alg(&m, a, &o.u16), stun_attr_get_transport(&m, a, &o.u8);
		stun_attr_get_even_port(&m, a, &o.y);
		if (a->offset - 4u < stop && ++kept)
			stun_build_attr(&b, a->type, stun_attr_value(&m, a), a->len);
	}
	stun_build_integrity(&b, k, 16), stun_build_fingerprint(&b);
	int n = stun_build_finish(&b);
	assert(n < 0 || kept + 2 > STUN_MAX_ATTRS || (stun_msg_parse(&m2, out, (size_t)n) == 0 &&
	       m2.fingerprint_ok && stun_msg_check_integrity(&m2, k, 16) == 0));
	return 0;
}
