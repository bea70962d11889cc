/* The TURN server of one worker: message dispatch, answers, allocation
 * lifecycle and the expiry sweep. Authentication is in auth.c, the four
 * request methods in methods.c and the relayed-packet path in datapath.c. */
#include "relay/turn/server_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/monotime.h"

int turn_shared_init(struct turn_shared *sh, const struct tern_config *conf, char *err, size_t cap)
{
	memset(sh, 0, sizeof(*sh));
	atomic_init(&sh->draining, false);
	int r = nonce_key_init(&sh->nonce_key);
	if (r < 0) {
		snprintf(err, cap, "cannot make a nonce key: %s", strerror(-r));
		return r;
	}
	sh->initial = turn_snapshot_new(conf, false, err, cap);
	if (!sh->initial)
		return -EINVAL;
	r = port_pool_init(&sh->ports, conf->port_min, conf->port_max);
	if (r == 0)
		r = user_quota_init(&sh->quota, 4096);
	if (r < 0)
		snprintf(err, cap, "cannot set up shared state: %s", strerror(-r));
	return r;
}

void turn_shared_destroy(struct turn_shared *sh)
{
	turn_snapshot_release(sh->initial);
	sh->initial = NULL;
	user_quota_destroy(&sh->quota);
	port_pool_destroy(&sh->ports);
	explicit_bzero(&sh->nonce_key, sizeof(sh->nonce_key));
}

int turn_server_init(struct turn_server *s, struct turn_shared *shared,
		     const struct turn_io_ops *ops, void *io)
{
	memset(s, 0, sizeof(*s));
	s->shared = shared;
	s->snap = shared->initial;
	turn_snapshot_hold(s->snap);
	s->ops = ops;
	s->io = io;
	s->now_us = monotime_us();
	s->now_ms = s->now_us / 1000u;
	int r = alloc_table_init(&s->table, 1024);
	if (r < 0)
		return r;
	const struct tern_config *conf = s->snap->conf;
	token_bucket_init(&s->unauth_total, conf->unauth_total_rate, conf->unauth_total_rate);
	return ratelimit_init(&s->unauth_limit, conf->unauth_rate, conf->unauth_burst);
}

void turn_server_destroy(struct turn_server *s)
{
	while (s->n_allocations)
		turn_allocation_delete(s, s->all[s->n_allocations - 1], ME_SHUTDOWN);
	free(s->all);
	s->all = NULL;
	turn_media_pool_destroy(s);
	alloc_table_destroy(&s->table);
	turn_snapshot_release(s->snap);
	s->snap = NULL;
	revocation_set_release(s->revoked);
	s->revoked = NULL;
}

static bool allocation_revoked(const struct revocation_set *set, const struct allocation *a,
			       int64_t now)
{
	return revocation_set_covers(set, a->username, a->username_len, a->cred_expiry,
				     a->username + a->user_id_off, a->user_id_len, now);
}

void turn_server_set_revocations(struct turn_server *s, struct revocation_set *set)
{
	struct revocation_set *old = s->revoked;
	s->revoked = set;
	revocation_set_release(old);
	int64_t wall = walltime_s();
	/* How long since the newest revocation entered Redis (same host clock
	 * on loopback; across hosts this includes their clock difference). */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	uint64_t latency = set->newest_ms && now_ms > set->newest_ms ? (uint64_t)(now_ms - set->newest_ms) : 0;
	for (size_t i = 0; i < s->n_allocations;) {
		struct allocation *a = s->all[i];
		if (!allocation_revoked(set, a, wall)) {
			i++;
			continue;
		}
		mhist_observe(&s->metrics.revocation_latency_ms, metrics_revocation_bounds, latency);
		turn_allocation_delete(s, a, ME_REVOKED); /* the last one moved into slot i */
	}
}

/* Drops what the new policy no longer allows: a reload that denies a peer
 * range must cut relaying to it at once, not when permissions expire. */
static void prune_denied(struct turn_server *s, struct allocation *a)
{
	const struct peer_policy *policy = &s->snap->policy;
	for (uint16_t i = 0; i < a->n_perms;) {
		struct sockaddr_storage ip;
		sockaddr_from_bytes(&ip, a->perms[i].family, a->perms[i].ip, 0);
		if (peer_policy_check(policy, &ip) == PEER_ALLOWED)
			i++;
		else
			a->perms[i] = a->perms[--a->n_perms];
	}
	for (uint16_t i = 0; i < a->cap_channels; i++) {
		struct turn_channel *c = &a->channels[i];
		if (c->number && peer_policy_check(policy, &c->peer) != PEER_ALLOWED)
			memset(c, 0, sizeof(*c));
	}
}

void turn_server_set_snapshot(struct turn_server *s, struct turn_snapshot *snap)
{
	struct turn_snapshot *old = s->snap;
	s->snap = snap;
	const struct tern_config *conf = snap->conf;
	s->unauth_limit.rate_per_s = conf->unauth_rate;
	s->unauth_limit.burst = conf->unauth_burst;
	s->unauth_total.rate_per_s = s->unauth_total.burst = conf->unauth_total_rate;
	for (size_t i = 0; i < s->n_allocations; i++)
		prune_denied(s, s->all[i]);
	turn_snapshot_release(old);
}

bool turn_unauth_allowed(struct turn_server *s, const struct turn_client *from)
{
	if (ratelimit_take(&s->unauth_limit, &from->addr, s->now_ms) &&
	    token_bucket_take(&s->unauth_total, s->now_ms))
		return true;
	mc_inc(&s->metrics.rate_limited);
	return false;
}

/* ---- answers ---- */

void turn_answer_start(struct turn_server *s, struct stun_builder *b, const struct turn_req *req,
		       enum stun_class cls)
{
	stun_build_init(b, s->out, sizeof(s->out), stun_type(req->method, cls), req->msg->tid);
}

static void cache_response(struct turn_cached_response *c, uint16_t method, const uint8_t *tid,
			   const uint8_t *bytes, size_t len)
{
	if (len > sizeof(c->bytes)) {
		c->len = 0;
		return;
	}
	c->method = method;
	memcpy(c->tid, tid, STUN_TID_LEN);
	memcpy(c->bytes, bytes, len);
	c->len = (uint16_t)len;
}

void turn_answer_send(struct turn_server *s, struct stun_builder *b, struct turn_req *req)
{
	const struct tern_config *conf = s->snap->conf;
	if (req->authenticated) {
		if (conf->software[0])
			stun_build_attr(b, STUN_ATTR_SOFTWARE, conf->software, strlen(conf->software));
		if (req->use_sha256_mi)
			stun_build_integrity_sha256(b, req->key, req->key_len);
		else
			stun_build_integrity(b, req->key, req->key_len);
	}
	if (req->msg->fingerprint_offset)
		stun_build_fingerprint(b);
	int len = stun_build_finish(b);
	if (len < 0)
		return;
	s->ops->send_client(s->io, req->from, b->buf, (size_t)len);
	/* The allocation may be gone (Refresh 0): only cache on a live one. */
	struct allocation *a = req->alloc;
	if (!req->authenticated || !a)
		return;
	/* Only the success that made the allocation is replayed for Allocate;
	 * an error to a later Allocate on the same 5-tuple must not replace
	 * it. Any other request's answer does: a client sends one only once
	 * its Allocate has been answered. */
	if (req->method != TURN_ALLOCATE ||
	    stun_type_class(stun_type(req->method, STUN_SUCCESS)) ==
		    stun_type_class((uint16_t)(b->buf[0] << 8 | b->buf[1])))
		cache_response(&a->response, (uint16_t)req->method, req->msg->tid, b->buf,
			       (size_t)len);
}

void turn_answer_error(struct turn_server *s, struct turn_req *req, int code)
{
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_ERROR);
	stun_build_error(&b, code, NULL);
	turn_answer_send(s, &b, req);
}

void turn_answer_empty_success(struct turn_server *s, struct turn_req *req)
{
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_SUCCESS);
	turn_answer_send(s, &b, req);
}

static void answer_unknown_attributes(struct turn_server *s, struct turn_req *req)
{
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_ERROR);
	stun_build_error(&b, 420, NULL);
	stun_build_unknown_attrs(&b, req->msg->unknown, req->msg->n_unknown);
	turn_answer_send(s, &b, req);
}

/* ---- dispatch ---- */

static void handle_binding(struct turn_server *s, struct turn_req *req)
{
	if (!turn_unauth_allowed(s, req->from))
		return;
	if (req->msg->n_unknown) {
		answer_unknown_attributes(s, req);
		return;
	}
	struct stun_builder b;
	turn_answer_start(s, &b, req, STUN_SUCCESS);
	stun_build_xor_addr(&b, STUN_ATTR_XOR_MAPPED_ADDRESS, &req->from->addr);
	turn_answer_send(s, &b, req);
}

static bool resend_cached(struct turn_server *s, const struct turn_req *req)
{
	struct allocation *a = req->alloc;
	if (!a)
		return false;
	const struct turn_cached_response *c = &a->response;
	if (!c->len || c->method != req->method || memcmp(c->tid, req->msg->tid, STUN_TID_LEN) != 0)
		return false;
	s->ops->send_client(s->io, req->from, c->bytes, c->len);
	return true;
}

static void handle_request(struct turn_server *s, struct turn_req *req)
{
	if (req->method == STUN_BINDING) {
		handle_binding(s, req);
		return;
	}
	if (req->method != TURN_ALLOCATE && req->method != TURN_REFRESH &&
	    req->method != TURN_CREATE_PERMISSION && req->method != TURN_CHANNEL_BIND) {
		if (turn_unauth_allowed(s, req->from))
			turn_answer_error(s, req, 400);
		return;
	}
	/* A retransmission gets the very bytes of the first answer (RFC 8656
	 * section 7.2 for Allocate; the same courtesy for the others). */
	if (resend_cached(s, req))
		return;
	if (turn_auth_request(s, req) < 0)
		return;
	if (req->msg->n_unknown) {
		answer_unknown_attributes(s, req);
		return;
	}
	if (req->method != TURN_ALLOCATE && !req->alloc) {
		turn_answer_error(s, req, 437); /* needs an allocation on this 5-tuple */
		return;
	}
	switch (req->method) {
	case TURN_ALLOCATE: turn_handle_allocate(s, req); break;
	case TURN_REFRESH: turn_handle_refresh(s, req); break;
	case TURN_CREATE_PERMISSION: turn_handle_create_permission(s, req); break;
	case TURN_CHANNEL_BIND: turn_handle_channel_bind(s, req); break;
	}
}

void turn_server_client_input(struct turn_server *s, const struct turn_client *from,
			      struct allocation **alloc_slot, const uint8_t *buf, size_t len)
{
	struct allocation *a = alloc_slot ? *alloc_slot : alloc_table_find(&s->table, from);
	if (turn_is_channel_data(buf, len)) {
		if (a)
			turn_handle_channel_data(s, a, buf, len);
		else
			mc_inc(&s->metrics.no_permission);
		return;
	}
	struct stun_msg msg;
	if (stun_msg_parse(&msg, buf, len) < 0) {
		mc_inc(&s->metrics.malformed);
		return;
	}
	enum stun_class cls = stun_type_class(msg.type);
	uint16_t method = stun_type_method(msg.type);
	if (cls == STUN_INDICATION) {
		if (method == TURN_SEND && a)
			turn_handle_send_indication(s, a, &msg);
		return;
	}
	if (cls != STUN_REQUEST)
		return; /* responses are not for a server */
	struct turn_req req = {
		.from = from, .alloc_slot = alloc_slot, .alloc = a, .msg = &msg, .method = method,
	};
	handle_request(s, &req);
	explicit_bzero(req.key, sizeof(req.key));
}

/* ---- allocation lifecycle ---- */

int turn_allocation_register(struct turn_server *s, struct allocation *a,
			     struct allocation **alloc_slot)
{
	if (s->n_allocations == s->all_cap) {
		size_t cap = s->all_cap ? s->all_cap * 2 : 64;
		struct allocation **all = realloc(s->all, cap * sizeof(*all));
		if (!all)
			return -ENOMEM;
		s->all = all;
		s->all_cap = cap;
	}
	if (getrandom(&a->id, sizeof(a->id), 0) != (ssize_t)sizeof(a->id))
		a->id = (uint64_t)(uintptr_t)a ^ s->now_ms;
	a->all_index = s->n_allocations;
	s->all[s->n_allocations++] = a;
	if (alloc_slot) {
		*alloc_slot = a;
		a->conn_slot = alloc_slot;
	} else {
		alloc_table_insert(&s->table, a);
	}
	mc_inc(&s->metrics.alloc_created[turn_metrics_transport(&a->client)][turn_metrics_family(a)]);
	turn_audit(s, AE_ALLOCATION_CREATED, a, 0, NULL);
	return 0;
}

void turn_allocation_release(struct turn_server *s, struct allocation *a)
{
	struct turn_shared *sh = s->shared;
	for (unsigned i = 0; i < a->n_relay; i++) {
		struct turn_relay *r = &a->relay[i];
		if (r->fd >= 0)
			s->ops->relay_close(s->io, r);
		port_pool_put(&sh->ports, r->addr.ss_family, sockaddr_port(&r->addr));
	}
	a->n_relay = 0;
	if (a->user_id_len)
		user_quota_release(&sh->quota, a->username + a->user_id_off, a->user_id_len);
	a->user_id_len = 0;
}

/* The finished allocation's figures join the cumulative distributions. */
static void observe_ended(struct turn_server *s, const struct allocation *a)
{
	uint64_t v[MH_COUNT] = {
		[MH_LIFETIME_S] = (s->now_ms - a->created_ms) / 1000u,
		[MH_BYTES] = a->bytes_to_peer + a->bytes_to_client,
		[MH_PACKETS] = a->pkts_to_peer + a->pkts_to_client,
		[MH_PEAK_PPS] = a->peak_pps,
	};
	for (int h = 0; h < MH_COUNT; h++)
		mhist_observe(&s->metrics.ended[h], metrics_hist_bounds[h], v[h]);
}

void turn_allocation_delete(struct turn_server *s, struct allocation *a,
			    enum metrics_end_reason why)
{
	turn_audit(s, AE_ALLOCATION_DELETED, a, (int)why, NULL); /* before release clears the user */
	mc_inc(&s->metrics.alloc_ended[turn_metrics_transport(&a->client)][turn_metrics_family(a)]);
	mc_inc(&s->metrics.alloc_end_reason[why]);
	observe_ended(s, a);
	turn_allocation_release(s, a);
	turn_media_release(s, a);
	if (a->conn_slot)
		*a->conn_slot = NULL;
	else
		alloc_table_remove(&s->table, a);
	size_t i = a->all_index;
	s->all[i] = s->all[--s->n_allocations];
	s->all[i]->all_index = i;
	allocation_free(a);
}

void turn_server_conn_closed(struct turn_server *s, struct allocation *a)
{
	if (a)
		turn_allocation_delete(s, a, ME_CONNECTION);
}

/* Rebuilt every tick from the live allocations, so a scrape sees calls in
 * progress, not only finished ones. Also tracks each allocation's peak
 * packet rate (packets since the last tick, ticks are about a second). */
static void observe_live(struct turn_server *s)
{
	struct mhist fresh[MH_COUNT];
	memset(fresh, 0, sizeof(fresh));
	for (size_t i = 0; i < s->n_allocations; i++) {
		struct allocation *a = s->all[i];
		uint64_t pkts = a->pkts_to_peer + a->pkts_to_client;
		uint64_t elapsed = s->now_ms - a->last_tick_ms;
		if (elapsed >= 500) {
			uint64_t pps = (pkts - a->last_tick_pkts) * 1000u / elapsed;
			if (pps > a->peak_pps)
				a->peak_pps = pps;
			a->last_tick_pkts = pkts;
			a->last_tick_ms = s->now_ms;
		}
		uint64_t v[MH_COUNT] = {
			[MH_LIFETIME_S] = (s->now_ms - a->created_ms) / 1000u,
			[MH_BYTES] = a->bytes_to_peer + a->bytes_to_client,
			[MH_PACKETS] = pkts,
			[MH_PEAK_PPS] = a->peak_pps,
		};
		for (int h = 0; h < MH_COUNT; h++)
			mhist_observe(&fresh[h], metrics_hist_bounds[h], v[h]);
	}
	turn_media_observe_live(s);
	for (int h = 0; h < MH_COUNT; h++) {
		for (int b = 0; b <= MHIST_BUCKETS; b++)
			mc_set(&s->metrics.live[h].bucket[b], mc_get(&fresh[h].bucket[b]));
		mc_set(&s->metrics.live[h].sum, mc_get(&fresh[h].sum));
		mc_set(&s->metrics.live[h].count, mc_get(&fresh[h].count));
	}
}

void turn_server_tick(struct turn_server *s)
{
	int64_t wall = walltime_s();
	observe_live(s);
	for (size_t i = 0; i < s->n_allocations;) {
		struct allocation *a = s->all[i];
		if (a->expires_ms <= s->now_ms) {
			turn_allocation_delete(s, a, ME_EXPIRED);
			continue; /* the last one moved into slot i */
		}
		if (wall >= a->cred_expiry) {
			turn_allocation_delete(s, a, ME_CREDENTIAL);
			continue;
		}
		allocation_expire(a, s->now_ms);
		i++;
	}
	port_pool_expire(&s->shared->ports, s->now_ms);
}

uint32_t turn_lifetime_for(const struct turn_server *s, int64_t requested, int64_t cred_expiry)
{
	const struct tern_config *conf = s->snap->conf;
	int64_t lt = requested < 0 ? conf->default_lifetime : requested;
	if (lt > conf->max_lifetime)
		lt = conf->max_lifetime;
	if (lt < conf->default_lifetime)
		lt = conf->default_lifetime;
	/* An allocation never outlives its credential. */
	int64_t left = cred_expiry - walltime_s();
	if (left < lt)
		lt = left > 0 ? left : 0;
	return (uint32_t)lt;
}
