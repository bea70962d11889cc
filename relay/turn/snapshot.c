/* Configuration snapshots; see snapshot.h. */
#include "relay/turn/snapshot.h"

#include <stdio.h>
#include <stdlib.h>

static int build_policy(struct peer_policy *p, const struct tern_config *conf)
{
	int r = 0;
	peer_policy_init(p);
	for (size_t i = 0; i < conf->n_allow && r == 0; i++)
		r = peer_policy_allow(p, &conf->allow[i]);
	for (size_t i = 0; i < conf->n_deny && r == 0; i++)
		r = peer_policy_deny(p, &conf->deny[i]);
	/* Every listener of ours, whatever its transport, is never a peer. */
	for (size_t i = 0; i < conf->n_udp && r == 0; i++)
		r = peer_policy_add_own(p, &conf->udp[i]);
	for (size_t i = 0; i < conf->n_tcp && r == 0; i++)
		r = peer_policy_add_own(p, &conf->tcp[i]);
	for (size_t i = 0; i < conf->n_tls && r == 0; i++)
		r = peer_policy_add_own(p, &conf->tls[i]);
	return r;
}

struct turn_snapshot *turn_snapshot_new(const struct tern_config *conf, bool owns_conf,
					char *err, size_t cap)
{
	struct turn_snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	if (build_policy(&snap->policy, conf) < 0) {
		snprintf(err, cap, "peer policy: too many entries");
		free(snap);
		return NULL;
	}
	atomic_init(&snap->refs, 1);
	snap->conf = conf;
	snap->owns_conf = owns_conf;
	return snap;
}

void turn_snapshot_hold(struct turn_snapshot *snap)
{
	atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
}

void turn_snapshot_release(struct turn_snapshot *snap)
{
	if (!snap || atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (snap->owns_conf)
		conf_free((struct tern_config *)snap->conf);
	free(snap);
}
