/* Following the revocation stream in Redis; see revocation_feed.h. */
#include "auth/revocation_feed.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/monotime.h"

#define READ_BLOCK_MS     5000      /* XREAD BLOCK: Redis answers at least this often */
#define READ_COUNT        "512"
#define BACKOFF_MIN_MS    250
#define BACKOFF_MAX_MS    30000
#define TRIM_EVERY_MS     60000
#define EXPIRE_EVERY_MS   60000

struct revocation_feed {
	struct event_base *base;
	struct revocation_feed_opts o;
	struct redis_link *link;
	struct revocation_set *set;     /* the current set (one reference held here) */
	struct event *tick;             /* once a second: health, snapshot, trim, expiry */
	struct event *reconnect;
	unsigned backoff_ms;
	uint64_t last_ok_ms, stale_since_ms, last_trim_ms, last_expire_ms;
	uint64_t last_answer_ms;        /* last answered read, on any connection (0 = never) */
	enum feed_health health;
	bool dirty;                     /* the snapshot file lags the set */
	bool reading;                   /* an XREAD is outstanding */
	bool answered;                  /* a read succeeded on this connection */
};

static void publish(struct revocation_feed *f, struct revocation_set *set)
{
	revocation_set_release(f->set);
	f->set = set;
	f->dirty = true;
	revocation_set_hold(set);
	f->o.publish(f->o.arg, set);
}

/* ---- reading the stream ---- */

static void issue_read(struct revocation_feed *f);

static const redisReply *field(const redisReply *fields, const char *name)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i];
		if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
			return fields->element[i + 1];
	}
	return NULL;
}

/* Applies one stream entry [id, [field, value, ...]] to s. */
static void apply_entry(struct revocation_feed *f, struct revocation_set *s, const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	const char *id = e->element[0]->str;
	const redisReply *kind = field(e->element[1], "kind");
	const redisReply *value = field(e->element[1], "id");
	int64_t entry_ms = strtoll(id, NULL, 10);
	snprintf(s->last_id, sizeof(s->last_id), "%s", id);
	if (entry_ms > s->newest_ms)
		s->newest_ms = entry_ms;
	enum revocation_kind k = 0;
	if (kind && kind->type == REDIS_REPLY_STRING)
		k = strcmp(kind->str, "user") == 0 ? REVOKE_USER
		  : strcmp(kind->str, "credential") == 0 ? REVOKE_CREDENTIAL : 0;
	if (!k || !value || value->type != REDIS_REPLY_STRING) {
		log_limited(LOG_LVL_WARN, "revocation", "stream entry %s is not a revocation; skipped", id);
		return;
	}
	int64_t until = revocation_until(k, value->str, value->len, entry_ms, f->o.max_ttl,
					 f->o.clock_skew);
	int r = revocation_set_add(s, k, value->str, value->len, until);
	if (r < 0)
		log_limited(LOG_LVL_ERR, "revocation", "stream entry %s not applied: %s", id, strerror(-r));
}

static void apply_reply(struct revocation_feed *f, const redisReply *reply)
{
	/* [[key, [entry, ...]]] */
	if (reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
	    reply->element[0]->elements != 2)
		return;
	const redisReply *entries = reply->element[0]->element[1];
	if (entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
		return;
	struct revocation_set *next = revocation_set_clone(f->set);
	if (!next) {
		log_err("revocation", "out of memory applying revocations; will retry");
		return;
	}
	for (size_t i = 0; i < entries->elements; i++)
		apply_entry(f, next, entries->element[i]);
	publish(f, next);
	log_info("revocation", "%zu revocation(s) applied, %zu in force", entries->elements,
		 next->count);
}

static void on_read(void *arg, redisReply *reply)
{
	struct revocation_feed *f = arg;
	f->reading = false;
	if (!reply)
		return; /* the link failed: on_link_state reconnects */
	if (reply->type == REDIS_REPLY_ERROR) {
		log_limited(LOG_LVL_ERR, "revocation", "reading the stream failed: %.200s", reply->str);
		return; /* no new read: the feed turns stale and the tick reconnects */
	}
	f->last_ok_ms = f->last_answer_ms = monotime_ms();
	if (!f->answered) {
		/* Only an answered read proves the feed works (AUTH, ACL, key). */
		f->answered = true;
		f->backoff_ms = BACKOFF_MIN_MS;
	}
	if (reply->type == REDIS_REPLY_ARRAY)
		apply_reply(f, reply);
	issue_read(f);
}

static void issue_read(struct revocation_feed *f)
{
	if (f->reading || !redis_link_is_up(f->link))
		return;
	const char *last = f->set->last_id[0] ? f->set->last_id : "0-0";
	/* The first read on a connection does not block, so it proves at once
	 * that the feed can read; later ones block. */
	const char *argv[] = { "XREAD", "COUNT", READ_COUNT, "BLOCK", "5000", "STREAMS", f->o.key, last };
	const char *first[] = { "XREAD", "COUNT", READ_COUNT, "STREAMS", f->o.key, last };
	const char **cmd = f->answered ? argv : first;
	int argc = f->answered ? 8 : 6;
	size_t lens[8];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(cmd[i]);
	if (redis_link_send(f->link, argc, cmd, lens, f->answered ? READ_BLOCK_MS : 0, on_read,
			    f) == 0)
		f->reading = true;
}

/* ---- connection ---- */

static void schedule_reconnect(struct revocation_feed *f)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)monotime_ms();
	/* Full jitter over [backoff/2, backoff): a fleet does not reconnect in step. */
	unsigned delay = f->backoff_ms / 2 + r % (f->backoff_ms / 2 + 1);
	f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
	struct timeval tv = { .tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000 };
	event_add(f->reconnect, &tv);
}

static void on_link_state(void *arg, bool up, const char *why)
{
	struct revocation_feed *f = arg;
	if (up) {
		log_info("revocation", "connected to Redis; following the revocation stream");
		/* Not fresh yet: until a read answers (the backoff is reset then,
		 * so a link that connects but cannot read does not spin). This
		 * time only bounds how long the tick waits for that answer. */
		f->answered = false;
		f->last_ok_ms = monotime_ms();
		issue_read(f);
		return;
	}
	f->reading = false;
	f->answered = false;
	log_limited(LOG_LVL_WARN, "revocation", "Redis connection failed: %s", why ? why : "?");
	schedule_reconnect(f);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct revocation_feed *f = arg;
	redis_link_connect(f->link);
}

/* ---- housekeeping ---- */

static void save_snapshot(struct revocation_feed *f)
{
	if (!f->dirty || !f->o.snapshot_path[0])
		return;
	char err[512];
	if (revocation_set_write(f->set, f->o.snapshot_path, err, sizeof(err)) < 0)
		log_limited(LOG_LVL_ERR, "revocation", "cannot save the snapshot: %s", err);
	else
		f->dirty = false;
}

static void trim_stream(struct revocation_feed *f, uint64_t now)
{
	if (now - f->last_trim_ms < TRIM_EVERY_MS || !redis_link_is_up(f->link))
		return;
	f->last_trim_ms = now;
	/* Nothing older than max_ttl + skew can cover a credential still valid. */
	char minid[32];
	int64_t keep_ms = (walltime_s() - f->o.max_ttl - f->o.clock_skew) * 1000;
	snprintf(minid, sizeof(minid), "%lld", (long long)(keep_ms > 0 ? keep_ms : 0));
	const char *argv[] = { "XTRIM", f->o.key, "MINID", "~", minid };
	size_t lens[5];
	for (int i = 0; i < 5; i++)
		lens[i] = strlen(argv[i]);
	redis_link_send(f->link, 5, argv, lens, 0, NULL, NULL);
}

static void expire_entries(struct revocation_feed *f, uint64_t now)
{
	if (now - f->last_expire_ms < EXPIRE_EVERY_MS)
		return;
	f->last_expire_ms = now;
	struct revocation_set *next = revocation_set_clone(f->set);
	if (next && revocation_set_expire(next, walltime_s()) > 0)
		publish(f, next);
	else
		revocation_set_release(next);
}

static enum feed_health judge(struct revocation_feed *f, uint64_t now)
{
	/* Stale means no answer for stale_after: a short drop of the
	 * connection (a Redis restart) is not stale by itself. */
	bool fresh = f->last_answer_ms && now - f->last_answer_ms <= f->o.stale_after_ms;
	if (fresh) {
		f->stale_since_ms = 0;
		return FEED_FRESH;
	}
	if (!f->stale_since_ms)
		f->stale_since_ms = now;
	return now - f->stale_since_ms < (uint64_t)f->o.grace_s * 1000u ? FEED_STALE_SERVING
									   : FEED_STALE_REFUSING;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct revocation_feed *f = arg;
	uint64_t now = monotime_ms();
	enum feed_health h = judge(f, now);
	if (h != f->health) {
		static const char *const says[] = {
			[FEED_FRESH] = "revocation feed is fresh",
			[FEED_STALE_SERVING] = "revocation feed is stale: serving new allocations on the "
					       "last-known revocations for the grace period",
			[FEED_STALE_REFUSING] = "revocation feed stale beyond the grace period: refusing "
						"new allocations until it is back",
		};
		log_msg(h == FEED_FRESH ? LOG_LVL_INFO : LOG_LVL_WARN, "revocation", "%s", says[h]);
		f->health = h;
		f->o.health_changed(f->o.arg, h);
	}
	/* A connection that stopped answering is torn down and made again. */
	if (redis_link_is_up(f->link) && now - f->last_ok_ms > f->o.stale_after_ms) {
		redis_link_free(f->link);
		f->link = redis_link_new(f->base, &f->o.link, on_link_state, f);
		f->reading = false;
		f->answered = false;
		if (f->link)
			schedule_reconnect(f);
	}
	expire_entries(f, now);
	trim_stream(f, now);
	save_snapshot(f);
}

struct revocation_feed *revocation_feed_start(struct event_base *base,
					      const struct revocation_feed_opts *o,
					      char *err, size_t cap)
{
	struct revocation_feed *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	f->base = base;
	f->o = *o;
	f->backoff_ms = BACKOFF_MIN_MS;
	/* Stale until Redis answers; the grace period starts now. */
	f->health = FEED_STALE_SERVING;
	f->stale_since_ms = monotime_ms();
	int r = o->snapshot_path[0] ? revocation_set_read(o->snapshot_path, walltime_s(), &f->set,
							  err, cap)
				    : ((f->set = revocation_set_new()) ? 0 : -ENOMEM);
	if (r < 0)
		goto fail;
	f->link = redis_link_new(base, &o->link, on_link_state, f);
	f->tick = event_new(base, -1, EV_PERSIST, on_tick, f);
	f->reconnect = event_new(base, -1, 0, on_reconnect, f);
	struct timeval second = { .tv_sec = 1 };
	if (!f->link || !f->tick || !f->reconnect || event_add(f->tick, &second) < 0) {
		snprintf(err, cap, "out of memory");
		goto fail;
	}
	revocation_set_hold(f->set);
	f->o.publish(f->o.arg, f->set);
	f->o.health_changed(f->o.arg, f->health);
	if (f->set->count)
		log_info("revocation", "%zu revocation(s) in force from the snapshot", f->set->count);
	redis_link_connect(f->link);
	return f;
fail:
	revocation_feed_stop(f);
	return NULL;
}

void revocation_feed_stop(struct revocation_feed *f)
{
	if (!f)
		return;
	if (f->set)
		save_snapshot(f);
	if (f->tick)
		event_free(f->tick);
	if (f->reconnect)
		event_free(f->reconnect);
	redis_link_free(f->link);
	revocation_set_release(f->set);
	free(f);
}

enum feed_health revocation_feed_health(const struct revocation_feed *f) { return f->health; }

uint64_t revocation_feed_staleness_ms(const struct revocation_feed *f)
{
	return f->last_answer_ms ? monotime_ms() - f->last_answer_ms : UINT64_MAX;
}

size_t revocation_feed_entries(const struct revocation_feed *f) { return f->set->count; }
