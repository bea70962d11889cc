/* The TURN server's side of media assurance: the gate on the relay path
 * (classify, judge the flow under media.policy, count, audit once per
 * unencrypted flow, drop when enforcing), the live histograms rebuilt every
 * tick, and the per-allocation figures. The header logic itself is in
 * media.c. */
#include "relay/turn/server_internal.h"

#include <string.h>

/* A stream silent this long leaves the live histograms (it stays in its
 * table slot until replaced). */
#define MEDIA_QUIET_US     10000000u
/* Streams with fewer packets say nothing reliable about quality yet. */
#define MEDIA_MIN_PACKETS  20
/* Audit records per allocation for unencrypted flows: a client that churns
 * peer ports must not flood the trail (the counter still counts all). */
#define MEDIA_AUDIT_MAX    8

bool turn_media_gate(struct turn_server *s, struct allocation *a,
		     const struct sockaddr_storage *peer, const uint8_t *data, size_t len,
		     enum metrics_direction dir)
{
	enum conf_media_policy policy = s->snap->conf->media_policy;
	size_t ip_len = 0;
	const uint8_t *ip = sockaddr_ip_bytes(peer, &ip_len);
	enum metrics_media_kind kind;
	int r = media_inspect(&a->media, dir, ip_len == 4 ? 4 : 6, ip, sockaddr_port(peer), data,
			      len, s->now_us, policy, &kind);
	mc_inc(&s->metrics.media_packets[kind]);
	if (!r)
		return false;
	if (r & MEDIA_UNTRACKED)
		mc_inc(&s->metrics.media_untracked);
	if (r & MEDIA_NEW_UNENCRYPTED) {
		mc_inc(&s->metrics.media_unencrypted_flows);
		if (a->media.unencrypted_flows <= MEDIA_AUDIT_MAX)
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
		const struct media_state *m = &s->all[i]->media;
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
	f->dtls_flows = a->media.dtls_flows;
	f->unencrypted_flows = a->media.unencrypted_flows;
	for (int d = 0; d < MD_COUNT; d++)
		direction_figures(a->media.stream[d], s->now_us, &f->media[d]);
}
