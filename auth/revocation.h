/* The revocation set: which user ids and which single credentials are
 * refused, and until when. Pure (no I/O): the Redis feed (relay/io) fills
 * it, the TURN layer asks it, and it reads and writes its own snapshot
 * format so a restart without Redis still knows who is revoked.
 *
 * Sets are copy-on-write and reference counted: the control thread builds a
 * new set for each change and hands it to every worker, which swaps its
 * pointer on its own thread; nothing is locked on lookup.
 *
 * Meaning of an entry, and when it stops mattering:
 *  - user U until T: every credential of U whose expiry is <= T is refused.
 *    T = time of the revocation + auth.max_ttl + auth.clock_skew, the latest
 *    expiry a credential minted before the revocation can have; after T the
 *    entry covers nothing and is dropped (a user id re-issued later works).
 *  - credential C until T: exactly that username is refused; T is its own
 *    expiry. */
#ifndef TERN_AUTH_REVOCATION_H
#define TERN_AUTH_REVOCATION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"

#define REVOCATION_MAX_ENTRIES 1000000
#define REVOCATION_MAX_VALUE   512      /* a STUN USERNAME is < 513 bytes */
#define REVOCATION_ID_MAX      48       /* a Redis stream id "ms-seq" */

enum revocation_kind { REVOKE_USER = 1, REVOKE_CREDENTIAL = 2 };

struct revocation_node;

struct revocation_set {
	atomic_uint refs;
	struct siphash_key key;
	struct revocation_node **buckets;
	size_t n_buckets;
	size_t count;
	char last_id[REVOCATION_ID_MAX];    /* last stream entry applied ("" = none) */
	int64_t newest_ms;                  /* time of the newest entry applied (its stream id) */
};

/* An empty set with one reference. NULL on ENOMEM. */
struct revocation_set *revocation_set_new(void);
/* A deep copy with one reference (same hash key). NULL on ENOMEM. */
struct revocation_set *revocation_set_clone(const struct revocation_set *s);
void revocation_set_hold(struct revocation_set *s);
void revocation_set_release(struct revocation_set *s);

/* Adds or extends an entry. 0, -EINVAL (empty or too long value, bad
 * kind), -ENOSPC (REVOCATION_MAX_ENTRIES), -ENOMEM. */
int revocation_set_add(struct revocation_set *s, enum revocation_kind kind, const char *value,
		       size_t len, int64_t until);
/* Drops entries whose time has passed. Returns how many. */
size_t revocation_set_expire(struct revocation_set *s, int64_t now);

/* True if a credential (username "<expiry>:<user-id>", already parsed) is
 * revoked at time now. */
bool revocation_set_covers(const struct revocation_set *s, const char *username, size_t ulen,
			   int64_t cred_expiry, const char *user_id, size_t uid_len, int64_t now);

/* Calls fn for every entry (for listings and the snapshot). */
void revocation_set_each(const struct revocation_set *s,
			 void (*fn)(void *arg, enum revocation_kind kind, const char *value,
				    size_t len, int64_t until),
			 void *arg);

/* The snapshot file: a header line, the last stream id, then one entry per
 * line with the value hex-encoded (hostile bytes stay inert). */
int revocation_set_write(const struct revocation_set *s, const char *path, char *err, size_t cap);
/* Reads a snapshot written by revocation_set_write; a missing file gives an
 * empty set. Expired entries are dropped while reading. */
int revocation_set_read(const char *path, int64_t now, struct revocation_set **out, char *err,
			size_t cap);

/* The until of an entry made at entry_ms (its stream id time), following
 * the rules above. For a credential whose username does not parse, the
 * user rule's bound is used. */
int64_t revocation_until(enum revocation_kind kind, const char *value, size_t len,
			 int64_t entry_ms, int64_t max_ttl, int64_t skew);

#endif
