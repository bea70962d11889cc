/* The audit trail's hand-off from a worker to the writer: a bounded,
 * lock-free, single-producer/single-consumer ring of fixed-size records.
 * The producer is one worker (its TURN layer, through turn_audit); the
 * consumer is the control thread's audit pump. Pushing never blocks and
 * never allocates: a full ring drops the record and counts it.
 *
 * head is written only by the producer, tail only by the consumer; the
 * release store of head publishes the slot's contents, the release store
 * of tail hands the slot back. */
#ifndef TERN_METRICS_AUDIT_RING_H
#define TERN_METRICS_AUDIT_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/counters.h"

#define AUDIT_USER_MAX   256     /* as auth/cred.h's CRED_MAX_USER_ID */
#define AUDIT_REASON_MAX 24
#define AUDIT_RING_SLOTS 1024    /* per worker; a power of two */

enum audit_event {
	AE_TRAIL_CREATED,            /* the first record of a file (the writer's own) */
	AE_ALLOCATION_CREATED,
	AE_ALLOCATION_REFRESHED,
	AE_ALLOCATION_DELETED,
	AE_AUTH_REFUSED,
	AE_PERMISSION_DENIED,
	AE_REVOCATION_ENFORCED,      /* an allocation ended because its user was revoked */
	AE_MEDIA_UNENCRYPTED,        /* RTP/RTCP on a flow without DTLS first (media.policy) */
	AE_COUNT
};

/* An address as the audit trail keeps it: family 0 = none. */
struct audit_addr {
	uint8_t family;              /* 0, 4 or 6 */
	uint8_t ip[16];
	uint16_t port;
};

struct audit_record {
	int64_t time_ms;             /* unix time, milliseconds */
	uint64_t alloc_id;           /* 0 = none */
	uint8_t event;               /* enum audit_event */
	uint8_t transport;           /* enum metrics_transport, or MT_COUNT = unknown */
	uint16_t user_len;           /* 0 = no user known */
	/* An allocation's end under media.policy observe/enforce: the peer flows
	 * it relayed that were DTLS-keyed and that were unencrypted, the
	 * positive evidence compliance asks for beside the per-flow
	 * media_unencrypted records. */
	bool media_known;
	uint16_t dtls_flows, unencrypted_flows;
	char reason[AUDIT_REASON_MAX]; /* NUL-terminated, "" = none */
	struct audit_addr client, peer;
	char user[AUDIT_USER_MAX];   /* not NUL-terminated; any bytes (escaped when written) */
};

struct audit_ring {
	_Alignas(64) _Atomic size_t head;
	_Alignas(64) _Atomic size_t tail;
	struct mcounter dropped;     /* producer's: records not pushed for want of room */
	size_t mask;
	struct audit_record *slots;
};

/* slots must be a power of two. 0 or -ENOMEM / -EINVAL. */
int audit_ring_init(struct audit_ring *r, size_t slots);
void audit_ring_destroy(struct audit_ring *r);

/* Producer: a free slot to fill, or NULL (full: counted as dropped). */
static inline struct audit_record *audit_ring_claim(struct audit_ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail > r->mask) {
		mc_inc(&r->dropped);
		return NULL;
	}
	return &r->slots[head & r->mask];
}

/* Producer: publishes the slot audit_ring_claim returned. */
static inline void audit_ring_commit(struct audit_ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

/* Consumer: copies the oldest record out; false when empty. */
static inline bool audit_ring_pop(struct audit_ring *r, struct audit_record *out)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (tail == head)
		return false;
	*out = r->slots[tail & r->mask];
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

#endif
