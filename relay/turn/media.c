/* Media assurance from headers (see media.h): payload classification, the
 * per-allocation flow table behind the encrypted-media policy, and the
 * RTP sequence and timing figures of each stream (RFC 3550 appendix A.1,
 * A.3 and A.8, adapted to a relay that does not know the clock rate). Runs
 * on the relay path: fixed tables, no allocation, no clock reads. */
#include "relay/turn/media.h"

#include <string.h>

enum metrics_media_kind media_classify(const uint8_t *p, size_t len)
{
	if (len == 0)
		return MK_OTHER;
	uint8_t b = p[0];
	if (b <= 3)
		return MK_STUN;
	if (b >= 20 && b <= 63)
		return MK_DTLS;
	if (b >= 64 && b <= 79)
		return MK_TURN_CHANNEL;
	if (b >= 128 && b <= 191) {
		if (len < 2)
			return MK_OTHER;
		/* RFC 5761 section 4: RTCP packet types 192-223 sit where RTP's
		 * marker bit and payload types 64-95 would. */
		return p[1] >= 192 && p[1] <= 223 ? MK_RTCP : MK_RTP;
	}
	return MK_OTHER;
}

/* ---- flows --------------------------------------------------------------- */

static bool flow_is(const struct media_flow *f, int fam, const uint8_t *ip, uint16_t port)
{
	if (f->state == MEDIA_FLOW_FREE || f->family != fam || f->port != port)
		return false;
	if (fam == 4) {
		/* fixed-size copies compile to plain loads: no libc call per packet */
		uint32_t x, y;
		memcpy(&x, f->ip, 4);
		memcpy(&y, ip, 4);
		return x == y;
	}
	uint64_t x[2], y[2];
	memcpy(x, f->ip, 16);
	memcpy(y, ip, 16);
	return x[0] == y[0] && x[1] == y[1];
}

/* A slot for a new flow: a free one, else the least recently used
 * non-DTLS one. DTLS flows are never evicted (their exemption must not be
 * forgotten); with all slots DTLS, NULL. */
static struct media_flow *flow_slot(struct media_state *m)
{
	struct media_flow *victim = NULL;
	for (unsigned i = 0; i < MEDIA_FLOWS; i++) {
		struct media_flow *f = &m->flow[i];
		if (f->state == MEDIA_FLOW_FREE)
			return f;
		if (f->state != MEDIA_FLOW_DTLS && (!victim || f->last_us < victim->last_us))
			victim = f;
	}
	return victim;
}

static struct media_flow *flow_find(struct media_state *m, int fam, const uint8_t *ip,
				    uint16_t port, uint64_t now_us)
{
	struct media_flow *f = &m->flow[m->last_flow];
	if (!flow_is(f, fam, ip, port)) {
		f = NULL;
		for (unsigned i = 0; i < MEDIA_FLOWS && !f; i++)
			if (flow_is(&m->flow[i], fam, ip, port))
				f = &m->flow[i];
		if (!f) {
			f = flow_slot(m);
			if (!f)
				return NULL;
			memset(f, 0, sizeof(*f));
			memcpy(f->ip, ip, fam == 4 ? 4 : 16);
			f->family = (uint8_t)fam;
			f->port = port;
			f->state = MEDIA_FLOW_NEW;
		}
		m->last_flow = (uint8_t)(f - m->flow);
	}
	f->last_us = now_us;
	return f;
}

/* The policy part: returns MEDIA_* flags for this packet. */
static int flow_judge(struct media_state *m, struct media_flow *f, enum metrics_media_kind k,
		      enum conf_media_policy policy)
{
	if (k == MK_DTLS) {
		if (f->state == MEDIA_FLOW_NEW) {
			f->state = MEDIA_FLOW_DTLS;
			m->dtls_flows++;
		}
		return 0;
	}
	/* RTP or RTCP. A flow that was plain stays plain: a DTLS packet after
	 * the media started does not make the media before it encrypted. */
	int r = 0;
	if (f->state == MEDIA_FLOW_NEW) {
		f->state = MEDIA_FLOW_PLAIN;
		m->unencrypted_flows++;
		r |= MEDIA_NEW_UNENCRYPTED;
	}
	if (f->state == MEDIA_FLOW_PLAIN && policy == CONF_MEDIA_ENFORCE)
		r |= MEDIA_DROP;
	return r;
}

/* ---- RTP streams ---------------------------------------------------------- */

static struct media_stream *stream_find(struct media_stream *t, uint32_t ssrc)
{
	struct media_stream *lru = NULL;
	for (unsigned i = 0; i < MEDIA_SSRCS; i++) {
		if (t[i].used && t[i].ssrc == ssrc)
			return &t[i];
		/* the first free slot, else the least recently used */
		if (!lru || (lru->used && (!t[i].used || t[i].last_us < lru->last_us)))
			lru = &t[i];
	}
	return lru;
}

static uint64_t stream_expected(const struct media_stream *s)
{
	uint64_t ext_max = (uint64_t)s->cycles + s->max_seq;
	return s->expected_before + (ext_max >= s->base_ext ? ext_max - s->base_ext + 1 : 0);
}

/* (Re)starts sequence tracking at this packet; counts so far are kept. */
static void stream_restart(struct media_stream *s, uint16_t seq, uint32_t ts, uint64_t now_us)
{
	s->expected_before = s->used ? stream_expected(s) : 0;
	s->received_before += s->received;
	s->received = 1;
	s->max_seq = seq;
	s->bad_seq = (uint16_t)(seq + 1) == 0 ? 1 : 0; /* any value but seq + 1 */
	s->cycles = 0;
	s->base_ext = seq;
	s->window = 1;
	s->last_ts = s->win_ts = ts;
	s->last_us = s->win_us = now_us;
}

/* Sequence bookkeeping. Returns false for a packet that must not count
 * further (a duplicate, or the first of a suspected restart). */
static bool stream_seq(struct media_stream *s, uint16_t seq, uint32_t ts, uint64_t now_us)
{
	uint16_t delta = (uint16_t)(seq - s->max_seq);
	if (delta == 0) {
		s->duplicates++;
		return false;
	}
	if (delta < MEDIA_MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += 65536;
		s->window = delta >= 64 ? 1 : (s->window << delta) | 1;
		s->max_seq = seq;
		s->received++;
		return true;
	}
	if (delta > 65536 - MEDIA_MAX_MISORDER) {
		uint16_t back = (uint16_t)(s->max_seq - seq);
		if (back < 64) {
			if (s->window & (1ull << back)) {
				s->duplicates++;
				return false;
			}
			s->window |= 1ull << back;
		}
		/* Older than the first packet seen: the stream began earlier. */
		uint64_t ext = (uint64_t)s->cycles + s->max_seq - back;
		if ((uint64_t)s->cycles + s->max_seq >= back && ext < s->base_ext)
			s->base_ext = (uint32_t)ext;
		s->reordered++;
		s->received++;
		return true;
	}
	/* A big jump: the sender restarted, or junk. Two in sequence restart
	 * the tracking (RFC 3550 A.1's bad_seq). */
	if (seq == s->bad_seq) {
		stream_restart(s, seq, ts, now_us);
		return true;
	}
	s->bad_seq = (uint16_t)(seq + 1);
	return false;
}

static const uint32_t common_rates[] = { 8000, 16000, 24000, 32000, 48000, 90000 };

/* ticks per second over the window, snapped; 0 when nothing fits. */
static uint32_t snap_rate(uint64_t ticks, uint64_t us)
{
	uint64_t est = ticks * 1000000u / us;
	for (size_t i = 0; i < sizeof(common_rates) / sizeof(common_rates[0]); i++) {
		uint64_t c = common_rates[i];
		if (est + c / 8 >= c && est <= c + c / 8)
			return (uint32_t)c;
	}
	return 0;
}

static void stream_rate(struct media_stream *s, uint32_t ts, uint64_t now_us)
{
	uint64_t us = now_us - s->win_us;
	if (us < MEDIA_RATE_WINDOW_US)
		return;
	int32_t ticks = (int32_t)(ts - s->win_ts);
	uint32_t rate = ticks > 0 ? snap_rate((uint64_t)ticks, us) : 0;
	if (rate && rate != s->rate) {
		s->rate = rate;
		s->us_per_tick_q16 = (uint32_t)((1000000ull << 16) / rate);
		s->jitter_q4 = 0;
	}
	s->win_ts = ts;
	s->win_us = now_us;
}

/* RFC 3550 A.8 with D in microseconds: J += (|D| - J) / 16, kept as 16 J. */
static void stream_jitter(struct media_stream *s, uint32_t ts, uint64_t now_us)
{
	if (s->rate) {
		int64_t dts_us = (int64_t)(int32_t)(ts - s->last_ts) * s->us_per_tick_q16 / 65536;
		int64_t d = (int64_t)(now_us - s->last_us) - dts_us;
		if (d < 0)
			d = -d;
		if (d > 10000000)
			d = 10000000;  /* a 10 s stall is not jitter worth more than that */
		int64_t j = (int64_t)s->jitter_q4 + d - (((int64_t)s->jitter_q4 + 8) >> 4);
		s->jitter_q4 = (uint32_t)(j < 0 ? 0 : j);
	}
	s->last_ts = ts;
	s->last_us = now_us;
}

static void stream_packet(struct media_stream *t, const uint8_t *p, size_t len, uint64_t now_us)
{
	if (len < 12)
		return;
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	uint32_t ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	uint8_t pt = p[1] & 0x7f;
	struct media_stream *s = stream_find(t, ssrc);
	if (!s->used || s->ssrc != ssrc) {
		memset(s, 0, sizeof(*s));
		stream_restart(s, seq, ts, now_us);
		s->used = true;
		s->ssrc = ssrc;
		s->pt = pt;
		return;
	}
	if (!stream_seq(s, seq, ts, now_us))
		return;
	if (pt != s->pt) {
		/* Another codec on the same SSRC: its clock may differ. */
		s->pt = pt;
		s->rate = 0;
		s->win_ts = ts;
		s->win_us = now_us;
	}
	stream_jitter(s, ts, now_us);
	stream_rate(s, ts, now_us);
}

int media_inspect(struct media_state *m, enum metrics_direction dir, int family,
		  const uint8_t *ip, uint16_t port, const uint8_t *p, size_t len, uint64_t now_us,
		  enum conf_media_policy policy, enum metrics_media_kind *kind)
{
	*kind = media_classify(p, len);
	return media_inspect_kind(m, dir, family, ip, port, p, len, *kind, now_us, policy);
}

int media_inspect_kind(struct media_state *m, enum metrics_direction dir, int family,
		       const uint8_t *ip, uint16_t port, const uint8_t *p, size_t len,
		       enum metrics_media_kind k, uint64_t now_us, enum conf_media_policy policy)
{
	if (k != MK_DTLS && k != MK_RTP && k != MK_RTCP)
		return 0;
	int r = 0;
	if (policy != CONF_MEDIA_OFF) {
		struct media_flow *f = flow_find(m, family, ip, port, now_us);
		if (!f)
			return MEDIA_UNTRACKED;
		r = flow_judge(m, f, k, policy);
		if (r & MEDIA_DROP)
			return r;
	}
	if (k == MK_RTP)
		stream_packet(m->stream[dir], p, len, now_us);
	return r;
}

static uint32_t ratio_e4(uint64_t part, uint64_t whole)
{
	if (!whole)
		return 0;
	uint64_t v = part * 10000u / whole;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void media_stream_figures(const struct media_stream *s, struct media_stream_figures *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->used)
		return;
	out->expected = stream_expected(s);
	out->received = s->received_before + s->received;
	out->lost = out->expected > out->received ? out->expected - out->received : 0;
	out->reordered = s->reordered;
	out->duplicates = s->duplicates;
	out->loss_e4 = ratio_e4(out->lost, out->expected);
	out->reorder_e4 = ratio_e4(s->reordered, out->received);
	out->duplicate_e4 = ratio_e4(s->duplicates, out->received);
	out->rate = s->rate;
	out->jitter_us = s->rate ? s->jitter_q4 >> 4 : 0;
}
