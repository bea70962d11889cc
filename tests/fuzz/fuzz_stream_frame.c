/* libFuzzer target: cuts the input into frames as a TCP listener would and
 * parses each as ChannelData or STUN; the whole input is also tried as a UDP
 * ChannelData datagram. No frame or payload may reach past what was read. */
#include <assert.h>
#include "relay/stun/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
	uint16_t ch;
	const uint8_t *p;
	size_t plen;
	struct stun_msg m;
	ssize_t n;

	if (turn_channel_data_parse(d, size, &ch, &p, &plen) == 0)
		assert(p + plen <= d + size);
	while ((n = stun_stream_frame_len(d, size, 4096)) > 0) {
		assert(n >= 4 && n <= 4096 && (size_t)n <= size && n % 4 == 0);
		if (turn_channel_data_parse(d, (size_t)n, &ch, &p, &plen) == 0)
			assert(p + plen <= d + n);
		else
			(void)stun_msg_parse(&m, d, (size_t)n);
		d += n, size -= (size_t)n;
	}
	return 0;
}
