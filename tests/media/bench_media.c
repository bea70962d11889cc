/* Micro-benchmark of the media assurance on the relay path: the cost of
 * media_inspect per relayed packet, in ns (wall clock) and, run under
 * `valgrind --tool=callgrind`, in instructions (the difference between a
 * mode and "none" is the per-packet cost).
 *
 *   bench_media [MODE] [PACKETS]
 *   MODE: none (the loop alone), rtp (one flow, one SSRC, in order, policy
 *         observe), rtp4 (4 flows x 1 SSRC each, round robin), other (a
 *         non-media payload: classification only), off (rtp with policy off)
 *
 * Prints one JSON line. Test tool: never installed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/turn/media.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_rtp(uint8_t *p, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "rtp";
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000000u;
	static struct media_state m;
	uint8_t p[172] = { 0x80, 111 };
	uint8_t ip[4] = { 192, 0, 2, 1 };
	enum metrics_media_kind kind;
	bool none = !strcmp(mode, "none"), four = !strcmp(mode, "rtp4");
	enum conf_media_policy pol = !strcmp(mode, "off") ? CONF_MEDIA_OFF : CONF_MEDIA_OBSERVE;
	if (!strcmp(mode, "other"))
		p[0] = 0x17 + 200;
	uint64_t sink = 0, t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		unsigned flow = four ? (unsigned)(i & 3) : 0;
		uint64_t k = four ? i >> 2 : i;
		set_rtp(p, (uint16_t)k, (uint32_t)k * 960u, 0x1000u + flow);
		uint64_t us = 1000000u + i * (four ? 5000u : 20000u);
		if (none) {
			sink += p[3] + us;
			__asm__ volatile("" ::: "memory");
			continue;
		}
		sink += (uint64_t)media_inspect(&m, MD_TO_PEER, 4, ip, (uint16_t)(5000 + flow), p,
						sizeof(p), us, pol, &kind);
	}
	uint64_t t1 = now_ns();
	struct media_stream_figures f;
	media_stream_figures(&m.stream[MD_TO_PEER][0], &f);
	printf("{\"mode\":\"%s\",\"packets\":%" PRIu64 ",\"ns_per_packet\":%.2f,\"state_bytes\":%zu,"
	       "\"check\":%" PRIu64 ",\"lost\":%" PRIu64 "}\n", mode, n, (double)(t1 - t0) / (double)n,
	       sizeof(struct media_state), sink & 1, f.lost);
	return 0;
}
