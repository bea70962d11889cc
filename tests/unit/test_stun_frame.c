/* Unit tests of TCP/TLS stream framing and ChannelData parsing
 * (relay/stun/frame.c, RFC 8656 sections 12.4-12.5, RFC 8489 section 6.2.2). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/stun/stun.h"

static const uint8_t tid0[STUN_TID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

/* A STUN message with one 5-byte attribute: 20 + 12 = 32 bytes. */
static size_t stun_frame(uint8_t *buf, size_t cap)
{
	struct stun_builder b;
	stun_build_init(&b, buf, cap, stun_type(TURN_REFRESH, STUN_REQUEST), tid0);
	stun_build_attr(&b, STUN_ATTR_USERNAME, "alice", 5);
	return (size_t)stun_build_finish(&b);
}

static void test_stun_frames(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t len = stun_frame(buf, sizeof(buf));

	assert_int_equal(len, 32);
	assert_int_equal(stun_stream_frame_len(buf, len, 1500), 32);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(stun_stream_frame_len(buf, n, 1500), 0);
	/* Extra bytes of the next frame do not change the first frame's size. */
	memcpy(buf + 32, buf, 32);
	assert_int_equal(stun_stream_frame_len(buf, 64, 1500), 32);
	assert_int_equal(stun_stream_frame_len(buf, 40, 1500), 32);
}

static void test_stun_frame_bad_length(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t len = stun_frame(buf, sizeof(buf));

	buf[3] = 13;
	assert_int_equal(stun_stream_frame_len(buf, len, 1500), -EINVAL);
	assert_int_equal(stun_stream_frame_len(buf, 4, 1500), -EINVAL); /* known from the header */
	buf[3] = 12;
	assert_int_equal(stun_stream_frame_len(buf, len, 1500), 32);
}

static void test_bad_first_bits(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t len = stun_frame(buf, sizeof(buf));

	buf[0] = 0x80;
	assert_int_equal(stun_stream_frame_len(buf, len, 1500), -EINVAL);
	assert_int_equal(stun_stream_frame_len(buf, 1, 1500), -EINVAL);
	buf[0] = 0xC0;
	assert_int_equal(stun_stream_frame_len(buf, 1, 1500), -EINVAL);
	buf[0] = 0x16; /* a TLS record on a plain TCP listener is "STUN" to the framer */
	assert_int_equal(stun_stream_frame_len(buf, 3, 1500), 0);
}

static void test_max_frame(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t len = stun_frame(buf, sizeof(buf));

	assert_int_equal(stun_stream_frame_len(buf, len, 32), 32);
	assert_int_equal(stun_stream_frame_len(buf, len, 31), -EINVAL);
	/* Refused as soon as the header says so, before the body arrives. */
	assert_int_equal(stun_stream_frame_len(buf, 4, 31), -EINVAL);

	static const uint8_t cd[] = { 0x40, 0x00, 0x00, 0x1d }; /* 29 -> 4 + 32 */
	assert_int_equal(stun_stream_frame_len(cd, 4, 35), -EINVAL);
	assert_int_equal(stun_stream_frame_len(cd, 4, 36), 0);
}

static void test_channel_data_frames(void **state)
{
	(void)state;
	uint8_t buf[64] = { 0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0 };

	/* Over streams the payload is padded to 4: 4 + 5 + 3 = 12. */
	assert_int_equal(stun_stream_frame_len(buf, 12, 1500), 12);
	for (size_t n = 0; n < 12; n++)
		assert_int_equal(stun_stream_frame_len(buf, n, 1500), 0);
	assert_int_equal(stun_stream_frame_len(buf, 40, 1500), 12);

	buf[3] = 8; /* already a multiple of 4: no padding */
	assert_int_equal(stun_stream_frame_len(buf, 40, 1500), 12);
	buf[3] = 0;
	assert_int_equal(stun_stream_frame_len(buf, 40, 1500), 4);
	/* Framing does not judge the channel number; parsing does. */
	buf[0] = 0x7f;
	assert_int_equal(stun_stream_frame_len(buf, 40, 1500), 4);
}

/* A stream holding STUN, ChannelData and STUN back to back. */
static void test_mixed_stream(void **state)
{
	(void)state;
	uint8_t buf[128];
	size_t a = stun_frame(buf, sizeof(buf));
	static const uint8_t cd[] = { 0x4f, 0xff, 0x00, 0x02, 0xab, 0xcd, 0, 0 };
	memcpy(buf + a, cd, sizeof(cd));
	size_t c = stun_frame(buf + a + sizeof(cd), sizeof(buf) - a - sizeof(cd));
	size_t total = a + sizeof(cd) + c, off = 0, frames = 0;
	ssize_t n;

	while ((n = stun_stream_frame_len(buf + off, total - off, 1500)) > 0) {
		off += (size_t)n;
		frames++;
	}
	assert_int_equal(n, 0);
	assert_int_equal(off, total);
	assert_int_equal(frames, 3);
}

static void test_channel_data_parse(void **state)
{
	(void)state;
	uint8_t buf[16] = { 0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0 };
	uint16_t ch = 0;
	const uint8_t *p = NULL;
	size_t plen = 0;

	assert_true(turn_is_channel_data(buf, 12));
	assert_int_equal(turn_channel_data_parse(buf, 9, &ch, &p, &plen), 0);
	assert_int_equal(ch, 0x4000);
	assert_ptr_equal(p, buf + 4);
	assert_int_equal(plen, 5);
	/* Padding (or any extra bytes) after the payload is allowed. */
	assert_int_equal(turn_channel_data_parse(buf, 12, &ch, &p, &plen), 0);
	assert_int_equal(turn_channel_data_parse(buf, 16, &ch, &p, &plen), 0);
	assert_int_equal(plen, 5);
	buf[0] = 0x4f;
	buf[1] = 0xff;
	assert_int_equal(turn_channel_data_parse(buf, 9, &ch, &p, &plen), 0);
	assert_int_equal(ch, 0x4fff);
	/* RFC 5766 clients use up to 0x7FFF; accepted (see TURN_CHANNEL_MAX). */
	buf[0] = 0x7f;
	assert_int_equal(turn_channel_data_parse(buf, 9, &ch, &p, &plen), 0);
	assert_int_equal(ch, 0x7fff);
	/* An empty payload is legal. */
	buf[3] = 0;
	assert_int_equal(turn_channel_data_parse(buf, 4, &ch, &p, &plen), 0);
	assert_int_equal(plen, 0);
}

static void test_channel_data_parse_errors(void **state)
{
	(void)state;
	uint8_t buf[12] = { 0x40, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0, 0, 0 };
	uint16_t ch = 0x1234;
	const uint8_t *p = NULL;
	size_t plen = 77;

	assert_int_equal(turn_channel_data_parse(buf, 8, &ch, &p, &plen), -EINVAL); /* short */
	assert_int_equal(turn_channel_data_parse(buf, 3, &ch, &p, &plen), -EINVAL);
	assert_int_equal(turn_channel_data_parse(buf, 0, &ch, &p, &plen), -EINVAL);
	static const uint16_t bad[] = { 0x3fff, 0x8000, 0x0000, 0xffff, 0xbfff };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf[0] = (uint8_t)(bad[i] >> 8);
		buf[1] = (uint8_t)bad[i];
		assert_int_equal(turn_channel_data_parse(buf, 12, &ch, &p, &plen), -EINVAL);
	}
	/* Out-parameters untouched on failure. */
	assert_int_equal(ch, 0x1234);
	assert_null(p);
	assert_int_equal(plen, 77);
	assert_false(turn_is_channel_data(buf, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stun_frames),
		cmocka_unit_test(test_stun_frame_bad_length),
		cmocka_unit_test(test_bad_first_bits),
		cmocka_unit_test(test_max_frame),
		cmocka_unit_test(test_channel_data_frames),
		cmocka_unit_test(test_mixed_stream),
		cmocka_unit_test(test_channel_data_parse),
		cmocka_unit_test(test_channel_data_parse_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
