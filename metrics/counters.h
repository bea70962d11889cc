/* The figures a worker keeps about itself, read by the metrics exporter on
 * the control thread. Each worker owns one struct worker_metrics and is its
 * only writer, so an add is a relaxed load and store (plain moves, no lock
 * prefix: nothing on the relay path serialises on it) and a read from the
 * exporter never tears. The exporter sums the workers' blocks.
 *
 * Labels come from the small fixed enums below: no address, user id,
 * username, realm or allocation id is ever a label. */
#ifndef TERN_METRICS_COUNTERS_H
#define TERN_METRICS_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

struct mcounter {
	_Atomic uint64_t v;
};

static inline void mc_add(struct mcounter *c, uint64_t n)
{
	atomic_store_explicit(&c->v, atomic_load_explicit(&c->v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}
static inline void mc_inc(struct mcounter *c) { mc_add(c, 1); }
static inline void mc_set(struct mcounter *c, uint64_t v)
{
	atomic_store_explicit(&c->v, v, memory_order_relaxed);
}
static inline uint64_t mc_get(const struct mcounter *c)
{
	return atomic_load_explicit(&c->v, memory_order_relaxed);
}

enum metrics_transport { MT_UDP, MT_TCP, MT_TLS, MT_COUNT };
enum metrics_family { MF_IPV4, MF_IPV6, MF_COUNT };
enum metrics_direction { MD_TO_PEER, MD_TO_CLIENT, MD_COUNT };

/* How an Allocate ended. */
enum metrics_alloc_outcome {
	MO_CREATED, MO_BAD_REQUEST, MO_FORBIDDEN, MO_MISMATCH, MO_FAMILY_UNSUPPORTED,
	MO_TRANSPORT_UNSUPPORTED, MO_QUOTA, MO_CAPACITY, MO_DRAINING, MO_OTHER, MO_COUNT
};

/* Why a request failed authentication. */
enum metrics_auth_failure {
	MA_NO_CREDENTIALS,      /* no MESSAGE-INTEGRITY: the normal first 401 */
	MA_MALFORMED,           /* missing USERNAME/REALM/NONCE, bad password algorithm */
	MA_STALE_NONCE,         /* 438 */
	MA_WRONG_REALM,
	MA_BAD_USERNAME,        /* not "<expiry>:<user-id>" */
	MA_EXPIRED,
	MA_TOO_FAR,             /* beyond auth.max_ttl */
	MA_BAD_INTEGRITY,       /* wrong password / secret */
	MA_WRONG_CREDENTIALS,   /* 441: another user's allocation */
	MA_REVOKED,
	MA_COUNT
};

/* Why an allocation ended. */
enum metrics_end_reason {
	ME_CLIENT, ME_EXPIRED, ME_CREDENTIAL, ME_CONNECTION, ME_REVOKED, ME_SHUTDOWN, ME_COUNT
};

/* Relayed payloads by their first byte (RFC 7983 demultiplexing; RTCP by
 * the RFC 5761 rule on the second byte). */
enum metrics_media_kind {
	MK_STUN, MK_DTLS, MK_TURN_CHANNEL, MK_RTP, MK_RTCP, MK_OTHER, MK_COUNT
};

/* A histogram with fixed upper bounds (the last bucket is +Inf). */
#define MHIST_BUCKETS 12
struct mhist {
	struct mcounter bucket[MHIST_BUCKETS + 1];   /* non-cumulative counts */
	struct mcounter sum;
	struct mcounter count;
};

enum metrics_hist {
	MH_LIFETIME_S,          /* seconds the allocation lived (so far) */
	MH_BYTES,               /* bytes relayed, both directions */
	MH_PACKETS,             /* packets relayed, both directions */
	MH_PEAK_PPS,            /* highest packets per second seen in one tick */
	MH_COUNT
};

/* Media quality of live RTP streams (relay/turn/media.c), one observation
 * per stream (allocation, direction, SSRC) per tick. Ratios are kept in
 * units of 1/10000, jitter in microseconds. */
enum metrics_media_hist {
	MMH_LOSS,               /* lost / expected since the stream began */
	MMH_JITTER_US,          /* RFC 3550 interarrival jitter (streams with a known clock) */
	MMH_REORDER,            /* late (out-of-order) packets / received */
	MMH_DUPLICATE,          /* duplicates / received */
	MMH_COUNT
};

/* Bucket upper bounds per histogram (MHIST_BUCKETS each). */
extern const uint64_t metrics_hist_bounds[MH_COUNT][MHIST_BUCKETS];
/* Milliseconds from a revocation entering Redis to its allocations gone. */
extern const uint64_t metrics_revocation_bounds[MHIST_BUCKETS];
extern const uint64_t metrics_media_bounds[MMH_COUNT][MHIST_BUCKETS];

static inline void mhist_observe(struct mhist *h, const uint64_t *bounds, uint64_t v)
{
	unsigned i = 0;
	while (i < MHIST_BUCKETS && v > bounds[i])
		i++;
	mc_inc(&h->bucket[i]);
	mc_add(&h->sum, v);
	mc_inc(&h->count);
}

struct worker_metrics {
	struct mcounter alloc_created[MT_COUNT][MF_COUNT];
	struct mcounter alloc_ended[MT_COUNT][MF_COUNT];
	struct mcounter alloc_outcome[MO_COUNT];
	struct mcounter alloc_end_reason[ME_COUNT];
	struct mcounter auth_failures[MA_COUNT];
	struct mcounter relayed_packets[MD_COUNT][MT_COUNT];
	struct mcounter relayed_bytes[MD_COUNT][MT_COUNT];
	struct mcounter peer_denied;        /* CreatePermission/ChannelBind/Send refused by policy */
	struct mcounter rate_limited;       /* unauthenticated answers not sent */
	struct mcounter malformed;          /* input that did not parse */
	struct mcounter no_permission;      /* relayed packets dropped for want of permission */
	struct mcounter send_dropped;       /* the kernel or a full stream queue refused */
	struct mcounter truncated;          /* datagrams larger than the receive buffer */
	struct mcounter stream_refused;     /* connections over a cap */
	struct mcounter stream_timed_out;
	struct mcounter tls_rejected;       /* not a TLS ClientHello on a TLS port */
	struct mcounter tls_proxied;        /* passed through to a backend */
	struct mcounter tls_proxy_failed;   /* backend could not be reached */
	/* Finished allocations (cumulative) and the live ones (rebuilt each tick). */
	struct mhist ended[MH_COUNT];
	struct mhist live[MH_COUNT];
	struct mhist revocation_latency_ms; /* per torn-down allocation */
	struct mcounter revocation_refused; /* allocations refused: revocation feed stale too long */
	/* Media assurance (relay/turn/media.c): no decryption, headers only. */
	struct mcounter media_packets[MK_COUNT];
	struct mcounter media_unencrypted_flows;   /* RTP/RTCP flows without DTLS first */
	struct mcounter media_unencrypted_dropped; /* their packets dropped (media.policy enforce) */
	struct mcounter media_untracked;           /* DTLS/RTP packets of flows with no table slot */
	struct mhist media_live[MMH_COUNT];
	struct mcounter loop_lag_ms;        /* how late the last 1-second tick ran */
	struct mcounter ticks;
};

#endif
