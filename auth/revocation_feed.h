/* The revocation feed: follows the durable, ordered revocation record in
 * Redis and turns it into revocation sets for the workers.
 *
 * The record is a Redis stream, KEY = <prefix>revocations, one entry per
 * revocation with the fields  kind = "user" | "credential"  and  id = the
 * user id or the whole username. A platform backend revokes with
 *     XADD tern:revocations * kind user id clinician-42
 * Entries are kept (XTRIM MINID) as long as a credential they cover can
 * still be valid. The feed reads with XREAD BLOCK from the last entry it
 * applied, so nothing is lost while it is away: after a disconnect, a Redis
 * restart (with persistence) or a ternd restart it continues where it
 * stopped; the last-known set and position live in a snapshot file in the
 * state directory, so a restart while Redis is down still enforces them.
 *
 * Health: fresh while a read answers at least every few seconds. When
 * stale, established allocations are never touched; new ones are served on
 * the last-known set for a grace period, then refused until the feed is back.
 * Reconnects back off exponentially with jitter and run on the control
 * thread's loop, never on a worker. */
#ifndef TERN_AUTH_REVOCATION_FEED_H
#define TERN_AUTH_REVOCATION_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/redis_link.h"
#include "auth/revocation.h"

enum feed_health {
	FEED_FRESH,             /* following the stream */
	FEED_STALE_SERVING,     /* lost it, within the grace period */
	FEED_STALE_REFUSING,    /* lost it for longer: new allocations refused */
};

struct revocation_feed_opts {
	struct redis_link_opts link;
	char key[256];                  /* the stream's key */
	char snapshot_path[4096];       /* "" = no snapshot */
	int64_t max_ttl, clock_skew;    /* auth.max_ttl and auth.clock_skew */
	unsigned stale_after_ms;        /* no answer this long = stale */
	unsigned grace_s;               /* serve new allocations this long when stale */
	/* A new set is in force: takes over one reference. */
	void (*publish)(void *arg, struct revocation_set *set);
	/* The health changed. */
	void (*health_changed)(void *arg, enum feed_health health);
	void *arg;
};

struct revocation_feed;

/* Loads the snapshot (publishing it at once) and starts following Redis. */
struct revocation_feed *revocation_feed_start(struct event_base *base,
					      const struct revocation_feed_opts *o,
					      char *err, size_t cap);
void revocation_feed_stop(struct revocation_feed *f);
enum feed_health revocation_feed_health(const struct revocation_feed *f);
/* Milliseconds since the feed last heard from Redis. */
uint64_t revocation_feed_staleness_ms(const struct revocation_feed *f);
/* Entries in the current set. */
size_t revocation_feed_entries(const struct revocation_feed *f);

#endif
