/* libFuzzer target: each STUN attribute decoder on its own. The first byte
 * picks the decoder, the next 12 are the transaction id (the XOR forms use
 * it), the rest is the attribute value, exactly as long as the input so any
 * read past the value is a read past the buffer. */
#include <assert.h>
#include <string.h>
#include "relay/stun/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	union { struct sockaddr_storage ss; uint32_t u32; int i; uint16_t u16; uint8_t u8; bool y; } o;
	struct stun_msg m = { .buf = d, .len = size };
	if (size < 1 + STUN_TID_LEN || size > 0xffff)
		return 0;
	memcpy(m.tid, d + 1, STUN_TID_LEN);
	struct stun_attr a = { .offset = 1 + STUN_TID_LEN, .len = (uint16_t)(size - 1 - STUN_TID_LEN) };
	switch (d[0] % 9) {
	case 0: if (stun_attr_get_xor_addr(&m, &a, &o.ss) == 0) assert(a.len == 8 || a.len == 20); break;
	case 1: if (stun_attr_get_addr(&m, &a, &o.ss) == 0) assert(a.len == 8 || a.len == 20); break;
	case 2: if (stun_attr_get_u32(&m, &a, &o.u32) == 0) assert(a.len == 4); break;
	case 3: if (stun_attr_get_error(&m, &a, &o.i) == 0) assert(o.i >= 300 && o.i <= 699); break;
	case 4: if (stun_attr_get_channel(&m, &a, &o.u16) == 0) assert(a.len == 4); break;
	case 5: if (stun_attr_get_transport(&m, &a, &o.u8) == 0) assert(a.len == 4); break;
	case 6: if (stun_attr_get_family(&m, &a, &o.i) == 0) assert(o.i == AF_INET || o.i == AF_INET6); break;
	case 7: if (stun_attr_get_even_port(&m, &a, &o.y) == 0) assert(a.len == 1); break;
	default: if (stun_attr_get_password_alg(&m, &a, &o.u16) == 0) assert(a.len >= 4); break;
	}
	return 0;
}
