/* Media assurance from packet headers alone: what a relayed payload is
 * (RFC 7983 first-byte demultiplexing), whether a flow started with DTLS
 * (WebRTC's DTLS-SRTP) or went straight to RTP (plain RTP or SDES-keyed
 * SRTP, which look the same on the wire), and per-SSRC quality figures of
 * RTP streams: loss, reordering, duplicates and RFC 3550 interarrival
 * jitter. SRTP leaves the RTP header in clear, so nothing is decrypted.
 *
 * Pure and bounded: a struct media_state lives inside its allocation, holds
 * MEDIA_FLOWS flows and MEDIA_SSRCS streams per direction, replaces the
 * least recently used entry when full, and media_inspect allocates nothing
 * and reads no clock (the caller passes the loop's cached time).
 *
 * The codec clock rate is not signalled to a relay. It is estimated per
 * stream as RTP-timestamp ticks per second of arrival time over a window of
 * at least MEDIA_RATE_WINDOW_US, snapped to the nearest common rate (8, 16,
 * 24, 32, 48 or 90 kHz) when within 1/8 of it; jitter is computed only once
 * a rate is known, in microseconds of arrival time. */
#ifndef TERN_RELAY_TURN_MEDIA_H
#define TERN_RELAY_TURN_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "metrics/counters.h"

#define MEDIA_FLOWS          8
#define MEDIA_SSRCS          4          /* per direction */
#define MEDIA_RATE_WINDOW_US 1000000u
#define MEDIA_MAX_DROPOUT    3000       /* RFC 3550 A.1 */
#define MEDIA_MAX_MISORDER   100

enum media_flow_state {
	MEDIA_FLOW_FREE, MEDIA_FLOW_NEW, MEDIA_FLOW_DTLS, MEDIA_FLOW_PLAIN
};

/* One peer transport address of the allocation (the relay<->peer 5-tuple),
 * both directions: a DTLS packet either way makes it a DTLS flow. */
struct media_flow {
	uint8_t ip[16];
	uint16_t port;
	uint8_t family;                 /* 4 or 6 */
	uint8_t state;                  /* enum media_flow_state */
	uint64_t last_us;
};

/* One RTP stream (one SSRC in one direction). */
struct media_stream {
	uint32_t ssrc;
	bool used;
	uint8_t pt;                     /* payload type: a change restarts the rate estimate */
	uint16_t max_seq, bad_seq;
	uint32_t cycles;                /* sequence wraps, times 65536 */
	uint32_t base_ext;              /* extended first sequence number */
	uint64_t window;                /* bit i: max_seq - i was received */
	uint64_t received;              /* unique packets */
	uint64_t expected_before, received_before; /* carried over a resync */
	uint64_t reordered, duplicates;
	uint32_t last_ts;
	uint64_t last_us;
	uint32_t win_ts;                /* clock-rate window start */
	uint64_t win_us;
	uint32_t rate;                  /* Hz, 0 = not known yet */
	uint32_t us_per_tick_q16;       /* 1e6 / rate, fixed point 16.16 */
	uint32_t jitter_q4;             /* jitter in us, times 16 (RFC 3550 A.8) */
};

struct media_state {
	struct media_flow flow[MEDIA_FLOWS];
	uint8_t last_flow;              /* the one used last: checked first */
	uint16_t unencrypted_flows;     /* flows found unencrypted (for audit bounds) */
	uint16_t dtls_flows;
	struct media_stream stream[MD_COUNT][MEDIA_SSRCS];
};

/* What media_inspect decided. */
enum {
	MEDIA_DROP = 1,                 /* enforce: do not relay */
	MEDIA_NEW_UNENCRYPTED = 2,      /* this packet made its flow unencrypted */
	MEDIA_UNTRACKED = 4,            /* no table slot for the flow (all DTLS): passed */
};

enum metrics_media_kind media_classify(const uint8_t *p, size_t len);

/* Inspects one relayed payload between the allocation and `peer` (family
 * AF_INET/AF_INET6, raw address bytes). Returns a mask of the flags above
 * and sets *kind. */
int media_inspect(struct media_state *m, enum metrics_direction dir, int family,
		  const uint8_t *ip, uint16_t port, const uint8_t *p, size_t len, uint64_t now_us,
		  enum conf_media_policy policy, enum metrics_media_kind *kind);
/* The same for a payload already classified as `kind`. */
int media_inspect_kind(struct media_state *m, enum metrics_direction dir, int family,
		       const uint8_t *ip, uint16_t port, const uint8_t *p, size_t len,
		       enum metrics_media_kind kind, uint64_t now_us, enum conf_media_policy policy);

/* A stream's figures. */
struct media_stream_figures {
	uint64_t expected, received, lost, reordered, duplicates;
	uint32_t loss_e4;               /* lost / expected, in 1/10000 */
	uint32_t reorder_e4, duplicate_e4;
	uint32_t rate;                  /* estimated clock rate, 0 = unknown */
	uint32_t jitter_us;             /* valid when rate != 0 */
};

void media_stream_figures(const struct media_stream *s, struct media_stream_figures *out);

/* Whether a payload of this kind needs the allocation's media state: RTP
 * for the stream figures, and DTLS/RTP/RTCP for the flow policy. */
static inline bool media_needs_state(enum metrics_media_kind k, enum conf_media_policy policy)
{
	return k == MK_RTP || (policy != CONF_MEDIA_OFF && (k == MK_DTLS || k == MK_RTCP));
}

/* Streams with a packet in the last `quiet_us` count as live. */
static inline bool media_stream_live(const struct media_stream *s, uint64_t now_us,
				     uint64_t quiet_us)
{
	return s->used && now_us - s->last_us <= quiet_us;
}

#endif
