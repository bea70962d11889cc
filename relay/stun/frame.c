/* Framing of the two kinds of message a TURN client sends: ChannelData
 * parsing (RFC 8656 section 12.4) and cutting a TCP/TLS byte stream into
 * STUN and ChannelData frames (RFC 8656 section 12.5, RFC 8489 section
 * 6.2.2). Pure functions over the caller's buffer; the listener owns it. */
#include "relay/stun/stun.h"

#include <errno.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int turn_channel_data_parse(const uint8_t *buf, size_t len, uint16_t *channel,
			    const uint8_t **payload, size_t *payload_len)
{
	if (len < 4)
		return -EINVAL;
	uint16_t ch = rd16(buf), dlen = rd16(buf + 2);
	/* The RFC 5766 range; see TURN_CHANNEL_MAX. */
	if (ch < TURN_CHANNEL_MIN || ch > TURN_CHANNEL_MAX || dlen > len - 4)
		return -EINVAL;
	*channel = ch;
	*payload = buf + 4;
	*payload_len = dlen;
	return 0;
}

ssize_t stun_stream_frame_len(const uint8_t *buf, size_t len, size_t max_frame)
{
	if (len == 0)
		return 0;
	/* 10 and 11 are neither STUN nor ChannelData: the stream is lost. */
	if (buf[0] & 0x80)
		return -EINVAL;
	if (len < 4)
		return 0;

	size_t body = rd16(buf + 2), frame;
	if ((buf[0] & 0x40) == 0) {
		if (body % 4)
			return -EINVAL;
		frame = STUN_HEADER_LEN + body;
	} else {
		/* Over streams ChannelData is padded to a multiple of 4 (s12.5). */
		frame = 4 + ((body + 3) & ~(size_t)3);
	}
	if (frame > max_frame)
		return -EINVAL;
	return len < frame ? 0 : (ssize_t)frame;
}
