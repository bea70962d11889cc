/* ternd's side of revocation: starts the Redis feed (auth/revocation_feed.c)
 * on the control thread from the configuration, hands every new revocation
 * set to all workers (which tear down what it covers), and turns the feed's
 * health into the "refuse new allocations" switch the workers read. */
#include "relay/io/daemon_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "relay/io/observe.h"

static void publish_to_workers(void *arg, struct revocation_set *set)
{
	struct daemon *d = arg;
	for (unsigned i = 0; i < d->n_workers; i++) {
		revocation_set_hold(set);
		worker_post_revocations(&d->workers[i], set);
	}
	revocation_set_release(set);
}

/* The feed's health as /readyz and tern_revocation_feed_fresh see it
 * (both are read on the control thread, where the feed runs). */
static enum feed_health current_health = FEED_FRESH;

static bool feed_is_fresh(void)
{
	return current_health == FEED_FRESH;
}

static struct revocation_feed *running_feed;

static double feed_staleness(void)
{
	uint64_t ms = running_feed ? revocation_feed_staleness_ms(running_feed) : UINT64_MAX;
	return ms == UINT64_MAX ? -1.0 : (double)ms / 1000.0;
}

static void health_changed(void *arg, enum feed_health health)
{
	struct daemon *d = arg;
	current_health = health;
	atomic_store(&d->shared.revocation_refusing, health == FEED_STALE_REFUSING);
}

static int fill_opts(struct daemon *d, const struct tern_config *c,
		     struct revocation_feed_opts *o, char *err, size_t cap)
{
	memset(o, 0, sizeof(*o));
	o->link.addr = c->redis;
	o->link.timeout_ms = 3000;
	o->link.username = c->redis_username[0] ? c->redis_username : NULL;
	if (c->redis_password_file[0]) {
		int r = secrets_read_password(c->redis_password_file, d->redis_password,
					      sizeof(d->redis_password), err, cap);
		if (r < 0)
			return r;
		o->link.password = d->redis_password;
	}
	if (c->redis_tls) {
		d->redis_tls = redis_tls_context(c->redis_tls_ca, err, cap);
		if (!d->redis_tls)
			return -EINVAL;
		o->link.tls = true;
		o->link.tls_ctx = d->redis_tls;
		o->link.tls_server_name = c->redis_tls_server_name[0] ? c->redis_tls_server_name : NULL;
	}
	if ((size_t)snprintf(o->key, sizeof(o->key), "%srevocations", c->redis_key_prefix) >=
		    sizeof(o->key) ||
	    (size_t)snprintf(o->snapshot_path, sizeof(o->snapshot_path), "%s/revocations.snapshot",
			     c->state_dir) >= sizeof(o->snapshot_path)) {
		snprintf(err, cap, "revocation key prefix or state directory too long");
		return -ENAMETOOLONG;
	}
	o->max_ttl = c->max_ttl;
	o->clock_skew = c->clock_skew;
	o->stale_after_ms = c->revocation_stale_after * 1000u;
	o->grace_s = c->revocation_stale_grace;
	o->publish = publish_to_workers;
	o->health_changed = health_changed;
	o->arg = d;
	return 0;
}

int revocations_start(struct daemon *d)
{
	const struct tern_config *c = d->snap->conf;
	if (!c->has_redis)
		return 0;
	char err[512];
	struct revocation_feed_opts o;
	int r = fill_opts(d, c, &o, err, sizeof(err));
	if (r == 0) {
		d->feed = revocation_feed_start(d->base, &o, err, sizeof(err));
		r = d->feed ? 0 : -EINVAL;
	}
	if (r < 0)
		log_err("revocation", "cannot start the revocation feed: %s", err);
	else {
		running_feed = d->feed;
		revocation_feed_ready = feed_is_fresh;
		revocation_feed_staleness = feed_staleness;
	}
	return r;
}

void revocations_stop(struct daemon *d)
{
	revocation_feed_ready = NULL;
	revocation_feed_staleness = NULL;
	running_feed = NULL;
	revocation_feed_stop(d->feed);
	d->feed = NULL;
	if (d->redis_tls)
		SSL_CTX_free(d->redis_tls);
	d->redis_tls = NULL;
	explicit_bzero(d->redis_password, sizeof(d->redis_password));
}
