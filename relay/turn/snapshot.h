/* An immutable configuration snapshot as the workers use it: the parsed
 * config and the peer policy built from it. A reload builds a new snapshot
 * and hands it to each worker by message; a worker swaps pointers on its
 * own thread, so the data path reads its snapshot without locks. The last
 * worker to let go of an old snapshot frees it (reference count). */
#ifndef TERN_RELAY_TURN_SNAPSHOT_H
#define TERN_RELAY_TURN_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "relay/policy/peer_policy.h"

struct turn_snapshot {
	atomic_uint refs;
	bool owns_conf;
	const struct tern_config *conf;
	struct peer_policy policy;
};

/* One reference, held by the caller. With owns_conf the snapshot frees the
 * config (conf_free) when the last reference goes. NULL on failure, with
 * the reason in err. */
struct turn_snapshot *turn_snapshot_new(const struct tern_config *conf, bool owns_conf,
					char *err, size_t cap);
void turn_snapshot_hold(struct turn_snapshot *snap);
void turn_snapshot_release(struct turn_snapshot *snap);

#endif
