/* The TURN server's side of media assurance: the gate on the relay path
 * (classify, judge the flow under media.policy, count, audit once per
 * unencrypted flow, drop when enforcing), the live histograms rebuilt every
 * tick, and the per-allocation figures. The header logic itself is in
 * media.c. */
#include "relay/turn/server_internal.h"

#include <stdlib.h>
#include <string.h>

/* A stream silent this long leaves the live histograms (it stays in its
 * table slot until replaced). */
#define MEDIA_QUIET_US     10000000u
/* Streams with fewer packets say nothing reliable about quality yet. */
#define MEDIA_MIN_PACKETS  20
/* Audit records per allocation for unencrypted flows: a client that churns
 * peer ports must not flood the trail (the counter still counts all). */
#define MEDIA_AUDIT_MAX    8
/* Media states a worker keeps for reuse; beyond that they are freed. */
#define MEDIA_POOL_KEEP    256

/* A pooled state: the link lives in the state's own bytes. */
struct media_pool_slot {
	union {
		struct media_pool_slot *next;
		struct media_state state;
	};
};

/* A zeroed media state from the pool, or a new one; NULL on ENOMEM. */
static struct media_state *media_state_take(struct turn_server *s)
{
	struct media_pool_slot *slot = s->media_pool;
	if (slot) {
		s->media_pool = slot->next;
		s->media_pool_len--;
	} else if (!(slot = malloc(sizeof(*slot)))) {
		return NULL;
	}
	memset(&slot->state, 0, sizeof(slot->state));
	return &slot->state;
}

void turn_media_release(struct turn_server *s, struct allocation *a)
{
	if (!a->media)
		return;
	struct media_pool_slot *slot = (struct media_pool_slot *)(void *)a->media;
	a->media = NULL;
	if (s->media_pool_len >= MEDIA_POOL_KEEP) {
		free(slot);
		return;
	}
	slot->next = s->media_pool;
	s->media_pool = slot;
	s->media_pool_len++;
}

void turn_media_pool_destroy(struct turn_server *s)
{
	while (s->media_pool) {
		struct media_pool_slot *slot = s->media_pool;
		s->media_pool = slot->next;
		free(slot);
	}
	s->media_pool_len = 0;
}

bool turn_media_gate(struct turn_server *s, struct allocation *a,
		     const struct sockaddr_storage *peer, const uint8_t *data, size_t len,
		     enum metrics_direction dir)
{
	enum conf_media_policy policy = s->snap->conf->media_policy;
	enum metrics_media_kind kind = media_classify(data, len);
	mc_inc(&s->metrics.media_packets[kind]);
	if (!media_needs_state(kind, policy))
		return false;
	if (!a->media && !(a->media = media_state_take(s))) {
		/* No memory for the state: relayed unjudged, like a flow that finds
		 * no table slot (availability first). */
		mc_inc(&s->metrics.media_untracked);
		return false;
	}
	size_t ip_len = 0;
	const uint8_t *ip = sockaddr_ip_bytes(peer, &ip_len);
	int r = media_inspect_kind(a->media, dir, ip_len == 4 ? 4 : 6, ip, sockaddr_port(peer),
				   data, len, kind, s->now_us, policy);
	if (!r)
		return false;
	if (r & MEDIA_UNTRACKED)
		mc_inc(&s->metrics.media_untracked);
	if (r & MEDIA_NEW_UNENCRYPTED) {
		mc_inc(&s->metrics.media_unencrypted_flows);
		if (a->media->unencrypted_flows <= MEDIA_AUDIT_MAX)
			turn_audit(s, AE_MEDIA_UNENCRYPTED, a, (int)policy, peer);
	}
	if (r & MEDIA_DROP) {
		mc_inc(&s->metrics.media_unencrypted_dropped);
		return true;
	}
	return false;
}

static void observe_stream(struct mhist *fresh, const struct media_stream *st)
{
	struct media_stream_figures f;
	media_stream_figures(st, &f);
	if (f.received < MEDIA_MIN_PACKETS)
		return;
	mhist_observe(&fresh[MMH_LOSS], metrics_media_bounds[MMH_LOSS], f.loss_e4);
	mhist_observe(&fresh[MMH_REORDER], metrics_media_bounds[MMH_REORDER], f.reorder_e4);
	mhist_observe(&fresh[MMH_DUPLICATE], metrics_media_bounds[MMH_DUPLICATE], f.duplicate_e4);
	if (f.rate)
		mhist_observe(&fresh[MMH_JITTER_US], metrics_media_bounds[MMH_JITTER_US], f.jitter_us);
}

void turn_media_observe_live(struct turn_server *s)
{
	struct mhist fresh[MMH_COUNT];
	memset(fresh, 0, sizeof(fresh));
	for (size_t i = 0; i < s->n_allocations; i++) {
		const struct media_state *m = s->all[i]->media;
		if (!m)
			continue;
		for (int d = 0; d < MD_COUNT; d++)
			for (unsigned k = 0; k < MEDIA_SSRCS; k++)
				if (media_stream_live(&m->stream[d][k], s->now_us, MEDIA_QUIET_US))
					observe_stream(fresh, &m->stream[d][k]);
	}
	for (int h = 0; h < MMH_COUNT; h++) {
		struct mhist *live = &s->metrics.media_live[h];
		for (int b = 0; b <= MHIST_BUCKETS; b++)
			mc_set(&live->bucket[b], mc_get(&fresh[h].bucket[b]));
		mc_set(&live->sum, mc_get(&fresh[h].sum));
		mc_set(&live->count, mc_get(&fresh[h].count));
	}
}

static void direction_figures(const struct media_stream *t, uint64_t now_us,
			      struct alloc_media_figures *out)
{
	uint64_t most = 0;
	memset(out, 0, sizeof(*out));
	for (unsigned k = 0; k < MEDIA_SSRCS; k++) {
		if (!media_stream_live(&t[k], now_us, MEDIA_QUIET_US))
			continue;
		struct media_stream_figures f;
		media_stream_figures(&t[k], &f);
		out->streams++;
		out->expected += f.expected;
		out->lost += f.lost;
		out->reordered += f.reordered;
		out->duplicates += f.duplicates;
		if (f.rate && f.jitter_us > out->jitter_us)
			out->jitter_us = f.jitter_us;
		if (f.received > most) {
			most = f.received;
			out->clock_hz = f.rate;
		}
	}
}

void turn_media_figures(const struct turn_server *s, const struct allocation *a,
			struct alloc_figures *f)
{
	if (!a->media) {
		f->dtls_flows = f->unencrypted_flows = 0;
		memset(f->media, 0, sizeof(f->media));
		return;
	}
	f->dtls_flows = a->media->dtls_flows;
	f->unencrypted_flows = a->media->unencrypted_flows;
	for (int d = 0; d < MD_COUNT; d++)
		direction_figures(a->media->stream[d], s->now_us, &f->media[d]);
}
