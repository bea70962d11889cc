/* Prometheus text format 0.0.4 for the summed worker figures (see
 * expose.h). Pure: builds text in memory, the HTTP glue sends it. Metric
 * families appear once each with HELP and TYPE; histograms print cumulative
 * `le` buckets from metrics_hist_bounds, then _sum and _count. */
#include "metrics/expose.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer ---------------------------------------------------------- */

void mbuf_free(struct mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool mbuf_reserve(struct mbuf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void mbuf_append(struct mbuf *b, const char *s, size_t len)
{
	if (!mbuf_reserve(b, len))
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		mbuf_append(b, small, (size_t)n);
		return;
	}
	if (!mbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- label names ------------------------------------------------------ */

const char *const metrics_transport_names[MT_COUNT] = { "udp", "tcp", "tls" };
const char *const metrics_family_names[MF_COUNT] = { "ipv4", "ipv6" };
const char *const metrics_direction_names[MD_COUNT] = { "to_peer", "to_client" };
const char *const metrics_outcome_names[MO_COUNT] = {
	[MO_CREATED] = "created", [MO_BAD_REQUEST] = "bad_request", [MO_FORBIDDEN] = "forbidden",
	[MO_MISMATCH] = "mismatch", [MO_FAMILY_UNSUPPORTED] = "family_unsupported",
	[MO_TRANSPORT_UNSUPPORTED] = "transport_unsupported", [MO_QUOTA] = "quota",
	[MO_CAPACITY] = "capacity", [MO_DRAINING] = "draining", [MO_OTHER] = "other",
};
const char *const metrics_auth_failure_names[MA_COUNT] = {
	[MA_NO_CREDENTIALS] = "no_credentials", [MA_MALFORMED] = "malformed",
	[MA_STALE_NONCE] = "stale_nonce", [MA_WRONG_REALM] = "wrong_realm",
	[MA_BAD_USERNAME] = "bad_username", [MA_EXPIRED] = "expired", [MA_TOO_FAR] = "too_far",
	[MA_BAD_INTEGRITY] = "bad_integrity", [MA_WRONG_CREDENTIALS] = "wrong_credentials",
	[MA_REVOKED] = "revoked",
};
const char *const metrics_end_reason_names[ME_COUNT] = {
	[ME_CLIENT] = "client", [ME_EXPIRED] = "expired", [ME_CREDENTIAL] = "credential",
	[ME_CONNECTION] = "connection", [ME_REVOKED] = "revoked", [ME_SHUTDOWN] = "shutdown",
};

const char *const metrics_media_kind_names[MK_COUNT] = {
	[MK_STUN] = "stun", [MK_DTLS] = "dtls", [MK_TURN_CHANNEL] = "turn_channel",
	[MK_RTP] = "rtp", [MK_RTCP] = "rtcp", [MK_OTHER] = "other",
};

/* ---- summing ---------------------------------------------------------- */

static void add_all(struct mcounter *into, const struct mcounter *from, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mc_add(&into[i], mc_get(&from[i]));
}

void metrics_sum(struct worker_metrics *into, const struct worker_metrics *from)
{
	/* struct worker_metrics is nothing but mcounters (histograms too), so
	 * it can be walked as an array of them. */
	_Static_assert(sizeof(struct worker_metrics) % sizeof(struct mcounter) == 0,
		       "worker_metrics must hold only mcounters");
	add_all((struct mcounter *)into, (const struct mcounter *)from,
		sizeof(*into) / sizeof(struct mcounter));
}

/* ---- escaping --------------------------------------------------------- */

static void escape(struct mbuf *b, const char *s, bool quotes)
{
	for (; *s; s++) {
		if (*s == '\\')
			mbuf_append(b, "\\\\", 2);
		else if (*s == '\n')
			mbuf_append(b, "\\n", 2);
		else if (*s == '"' && quotes)
			mbuf_append(b, "\\\"", 2);
		else
			mbuf_append(b, s, 1);
	}
}

void metrics_escape_label(struct mbuf *b, const char *s) { escape(b, s, true); }
void metrics_escape_help(struct mbuf *b, const char *s) { escape(b, s, false); }

/* ---- families --------------------------------------------------------- */

static void family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s ", name);
	metrics_escape_help(b, help);
	mbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void plain(struct mbuf *b, const char *name, const char *type, const char *help,
		  uint64_t v)
{
	family(b, name, type, help);
	mbuf_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* One sample per value of a single label. */
static void by_label(struct mbuf *b, const char *name, const char *type, const char *help,
		     const char *label, const char *const *names, const struct mcounter *c,
		     size_t n)
{
	family(b, name, type, help);
	for (size_t i = 0; i < n; i++)
		mbuf_printf(b, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, names[i], mc_get(&c[i]));
}

static void allocations(struct mbuf *b, const struct worker_metrics *m)
{
	family(b, "tern_allocations_active", "gauge",
	       "Allocations alive now (created minus ended), by client transport and relay family.");
	for (int t = 0; t < MT_COUNT; t++)
		for (int f = 0; f < MF_COUNT; f++) {
			uint64_t c = mc_get(&m->alloc_created[t][f]), e = mc_get(&m->alloc_ended[t][f]);
			mbuf_printf(b, "tern_allocations_active{transport=\"%s\",family=\"%s\"} %" PRIu64
				    "\n", metrics_transport_names[t], metrics_family_names[f],
				    c > e ? c - e : 0);
		}
	family(b, "tern_allocations_created_total", "counter",
	       "Allocations made, by client transport and relay family.");
	for (int t = 0; t < MT_COUNT; t++)
		for (int f = 0; f < MF_COUNT; f++)
			mbuf_printf(b, "tern_allocations_created_total{transport=\"%s\",family=\"%s\"} %"
				    PRIu64 "\n", metrics_transport_names[t], metrics_family_names[f],
				    mc_get(&m->alloc_created[t][f]));
	by_label(b, "tern_allocate_requests_total", "counter",
		 "Authenticated Allocate requests by outcome.", "outcome", metrics_outcome_names,
		 m->alloc_outcome, MO_COUNT);
	by_label(b, "tern_allocations_ended_total", "counter", "Allocations ended, by reason.",
		 "reason", metrics_end_reason_names, m->alloc_end_reason, ME_COUNT);
	by_label(b, "tern_auth_failures_total", "counter",
		 "Requests that failed authentication, by reason (no_credentials is the normal "
		 "first challenge).", "reason", metrics_auth_failure_names, m->auth_failures, MA_COUNT);
}

static void relayed(struct mbuf *b, const char *name, const char *help,
		    const struct mcounter c[MD_COUNT][MT_COUNT])
{
	family(b, name, "counter", help);
	for (int d = 0; d < MD_COUNT; d++)
		for (int t = 0; t < MT_COUNT; t++)
			mbuf_printf(b, "%s{direction=\"%s\",transport=\"%s\"} %" PRIu64 "\n", name,
				    metrics_direction_names[d], metrics_transport_names[t],
				    mc_get(&c[d][t]));
}

static void drops(struct mbuf *b, const struct worker_metrics *m)
{
	static const struct { const char *name, *help; size_t off; } list[] = {
#define DROP(n, f, h) { n, h, offsetof(struct worker_metrics, f) }
		DROP("tern_peer_denied_total", peer_denied,
		     "Permissions, channels or sends refused by the peer address policy."),
		DROP("tern_rate_limited_total", rate_limited,
		     "Answers to unauthenticated requests not sent because of the rate limit."),
		DROP("tern_malformed_total", malformed, "Input that did not parse."),
		DROP("tern_no_permission_drops_total", no_permission,
		     "Relayed packets dropped for want of a permission or channel."),
		DROP("tern_send_drops_total", send_dropped,
		     "Packets the kernel or a full stream queue refused."),
		DROP("tern_truncated_datagrams_total", truncated,
		     "Datagrams larger than the receive buffer, dropped."),
		DROP("tern_stream_refused_total", stream_refused,
		     "TCP/TLS connections refused over a limit."),
		DROP("tern_stream_timed_out_total", stream_timed_out,
		     "TCP/TLS connections closed for idleness or a slow start."),
		DROP("tern_tls_rejected_total", tls_rejected,
		     "Connections on a TLS port that did not start with a ClientHello."),
		DROP("tern_tls_proxied_total", tls_proxied,
		     "TLS connections passed through to a backend."),
		DROP("tern_tls_proxy_failures_total", tls_proxy_failed,
		     "TLS passthrough connections whose backend could not be reached."),
#undef DROP
	};
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
		plain(b, list[i].name, "counter", list[i].help,
		      mc_get((const struct mcounter *)((const char *)m + list[i].off)));
}

static void histogram(struct mbuf *b, const char *name, const char *help,
		      const struct mhist *h, const uint64_t *bounds)
{
	family(b, name, "histogram", help);
	uint64_t cum = 0;
	for (int i = 0; i < MHIST_BUCKETS; i++) {
		cum += mc_get(&h->bucket[i]);
		mbuf_printf(b, "%s_bucket{le=\"%" PRIu64 "\"} %" PRIu64 "\n", name, bounds[i], cum);
	}
	cum += mc_get(&h->bucket[MHIST_BUCKETS]);
	/* _count is the +Inf bucket: from the same reads, so they always agree. */
	mbuf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	mbuf_printf(b, "%s_sum %" PRIu64 "\n%s_count %" PRIu64 "\n", name, mc_get(&h->sum), name,
		    cum);
}

/* A histogram kept in milliseconds, shown in seconds (Prometheus's base unit). */
static void histogram_ms(struct mbuf *b, const char *name, const char *help,
			 const struct mhist *h, const uint64_t *bounds_ms)
{
	family(b, name, "histogram", help);
	uint64_t cum = 0;
	for (int i = 0; i < MHIST_BUCKETS; i++) {
		cum += mc_get(&h->bucket[i]);
		mbuf_printf(b, "%s_bucket{le=\"%" PRIu64 ".%03" PRIu64 "\"} %" PRIu64 "\n", name,
			    bounds_ms[i] / 1000u, bounds_ms[i] % 1000u, cum);
	}
	cum += mc_get(&h->bucket[MHIST_BUCKETS]);
	uint64_t sum = mc_get(&h->sum);
	mbuf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	mbuf_printf(b, "%s_sum %" PRIu64 ".%03" PRIu64 "\n%s_count %" PRIu64 "\n", name,
		    sum / 1000u, sum % 1000u, name, cum);
}

/* A histogram kept in integer units of 10^-digits of its base unit. */
static void histogram_scaled(struct mbuf *b, const char *name, const char *help,
			     const struct mhist *h, const uint64_t *bounds, int digits)
{
	uint64_t div = 1;
	for (int i = 0; i < digits; i++)
		div *= 10;
	family(b, name, "histogram", help);
	uint64_t cum = 0;
	for (int i = 0; i < MHIST_BUCKETS; i++) {
		cum += mc_get(&h->bucket[i]);
		mbuf_printf(b, "%s_bucket{le=\"%" PRIu64 ".%0*" PRIu64 "\"} %" PRIu64 "\n", name,
			    bounds[i] / div, digits, bounds[i] % div, cum);
	}
	cum += mc_get(&h->bucket[MHIST_BUCKETS]);
	uint64_t sum = mc_get(&h->sum);
	mbuf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	mbuf_printf(b, "%s_sum %" PRIu64 ".%0*" PRIu64 "\n%s_count %" PRIu64 "\n", name,
		    sum / div, digits, sum % div, name, cum);
}

static void media(struct mbuf *b, const struct worker_metrics *m)
{
	by_label(b, "tern_media_packets_total", "counter",
		 "Relayed payloads by kind, from their first byte (RFC 7983); nothing is decrypted.",
		 "kind", metrics_media_kind_names, m->media_packets, MK_COUNT);
	plain(b, "tern_media_unencrypted_flows_total", "counter",
	      "Flows (allocation and peer address) that carried RTP/RTCP without a DTLS handshake "
	      "first: plain RTP or SDES-keyed SRTP.", mc_get(&m->media_unencrypted_flows));
	plain(b, "tern_media_unencrypted_dropped_total", "counter",
	      "RTP/RTCP packets of unencrypted flows dropped (media.policy = enforce).",
	      mc_get(&m->media_unencrypted_dropped));
	plain(b, "tern_media_untracked_packets_total", "counter",
	      "DTLS/RTP packets of flows beyond an allocation's flow table (passed unjudged).",
	      mc_get(&m->media_untracked));
	static const struct { const char *name, *help; int digits; } hs[MMH_COUNT] = {
		[MMH_LOSS] = { "tern_media_loss_ratio", "Live RTP streams (per allocation, direction "
			       "and SSRC; rebuilt every second): packets lost / expected.", 4 },
		[MMH_JITTER_US] = { "tern_media_jitter_seconds", "Live RTP streams with an estimated "
				    "clock rate: RFC 3550 interarrival jitter.", 6 },
		[MMH_REORDER] = { "tern_media_reorder_ratio",
				  "Live RTP streams: packets arriving out of order / received.", 4 },
		[MMH_DUPLICATE] = { "tern_media_duplicate_ratio",
				    "Live RTP streams: duplicate packets / received.", 4 },
	};
	for (int h = 0; h < MMH_COUNT; h++)
		histogram_scaled(b, hs[h].name, hs[h].help, &m->media_live[h],
				 metrics_media_bounds[h], hs[h].digits);
}

static void revocation(struct mbuf *b, const struct worker_metrics *m)
{
	histogram_ms(b, "tern_revocation_latency_seconds",
		     "From a revocation entering Redis to each allocation it covers torn down.",
		     &m->revocation_latency_ms, metrics_revocation_bounds);
	plain(b, "tern_revocation_refused_total", "counter",
	      "Allocations refused because the revocation feed was stale past its grace period.",
	      mc_get(&m->revocation_refused));
}

static void histograms(struct mbuf *b, const struct worker_metrics *m)
{
	static const struct { const char *name, *what; } hs[MH_COUNT] = {
		[MH_LIFETIME_S] = { "lifetime_seconds", "seconds lived" },
		[MH_BYTES] = { "bytes", "bytes relayed, both directions" },
		[MH_PACKETS] = { "packets", "packets relayed, both directions" },
		[MH_PEAK_PPS] = { "peak_packets_per_second", "highest packets per second in one tick" },
	};
	char name[96], help[160];
	for (int h = 0; h < MH_COUNT; h++) {
		snprintf(name, sizeof(name), "tern_allocation_live_%s", hs[h].name);
		snprintf(help, sizeof(help), "Live allocations (rebuilt every second, may go down): %s "
			 "so far.", hs[h].what);
		histogram(b, name, help, &m->live[h], metrics_hist_bounds[h]);
	}
	for (int h = 0; h < MH_COUNT; h++) {
		snprintf(name, sizeof(name), "tern_allocation_%s", hs[h].name);
		snprintf(help, sizeof(help), "Finished allocations: %s.", hs[h].what);
		histogram(b, name, help, &m->ended[h], metrics_hist_bounds[h]);
	}
}

static void process(struct mbuf *b, const struct metrics_view *v)
{
	family(b, "tern_worker_loop_lag_seconds", "gauge",
	       "How late the last 1-second tick of each worker loop ran.");
	for (unsigned i = 0; i < v->n_workers && i < METRICS_MAX_WORKERS; i++)
		mbuf_printf(b, "tern_worker_loop_lag_seconds{worker=\"%u\"} %" PRIu64 ".%03" PRIu64
			    "\n", i, v->loop_lag_ms[i] / 1000u, v->loop_lag_ms[i] % 1000u);
	plain(b, "tern_workers", "gauge", "Worker threads.", v->n_workers);
	plain(b, "tern_draining", "gauge", "1 while draining (new allocations refused).",
	      v->draining);
	family(b, "tern_relay_ports_in_use", "gauge", "Relay ports taken, by address family.");
	for (int f = 0; f < MF_COUNT; f++)
		if (v->has_family[f])
			mbuf_printf(b, "tern_relay_ports_in_use{family=\"%s\"} %u\n",
				    metrics_family_names[f], v->ports_in_use[f]);
	plain(b, "tern_relay_ports_size", "gauge", "Relay ports in the range, per address family.",
	      v->ports_size);
	plain(b, "tern_revocation_feed_fresh", "gauge",
	      "1 when the revocation feed is fresh or none is configured, 0 when stale.",
	      v->revocation_feed_fresh);
	if (v->revocation_feed_configured) {
		family(b, "tern_revocation_feed_staleness_seconds", "gauge",
		       "Seconds since Redis last answered the revocation feed (-1: never).");
		mbuf_printf(b, "tern_revocation_feed_staleness_seconds %.3f\n",
			    v->revocation_feed_staleness_s);
	}
	plain(b, "tern_audit_enabled", "gauge", "1 when the audit trail is written.",
	      v->audit_enabled);
	plain(b, "tern_audit_records_total", "counter", "Audit records written.", v->audit_records);
	plain(b, "tern_audit_dropped_total", "counter",
	      "Audit records dropped because a worker's queue was full.", v->audit_dropped);
	plain(b, "tern_audit_write_errors_total", "counter",
	      "Audit records that could not be written (disk full, I/O error).",
	      v->audit_write_errors);
	family(b, "tern_build_info", "gauge", "The running build (the value is always 1).");
	mbuf_append(b, "tern_build_info{version=\"", 25);
	metrics_escape_label(b, v->version ? v->version : "unknown");
	mbuf_append(b, "\"} 1\n", 5);
}

int metrics_expose(const struct metrics_view *v, struct mbuf *b)
{
	const struct worker_metrics *m = &v->sum;
	allocations(b, m);
	relayed(b, "tern_relayed_packets_total", "Packets relayed, by direction and client transport.",
		m->relayed_packets);
	relayed(b, "tern_relayed_bytes_total",
		"Payload bytes relayed, by direction and client transport.", m->relayed_bytes);
	drops(b, m);
	histograms(b, m);
	media(b, m);
	revocation(b, m);
	process(b, v);
	return b->failed ? -ENOMEM : 0;
}

/* ---- per-allocation listing ------------------------------------------ */

/* "media":{"dtls_flows":..,"unencrypted_flows":..,"to_peer":{..},"to_client":{..}} */
static void alloc_media_json(struct mbuf *b, const struct alloc_figures *f)
{
	mbuf_printf(b, "\"media\":{\"dtls_flows\":%u,\"unencrypted_flows\":%u", f->dtls_flows,
		    f->unencrypted_flows);
	for (int d = 0; d < MD_COUNT; d++) {
		const struct alloc_media_figures *m = &f->media[d];
		uint64_t loss_e6 = m->expected ? m->lost * 1000000u / m->expected : 0;
		mbuf_printf(b, ",\"%s\":{\"rtp_streams\":%u,\"clock_hz\":%u,\"expected\":%" PRIu64
			    ",\"lost\":%" PRIu64 ",\"loss_ratio\":%" PRIu64 ".%06" PRIu64 ",",
			    metrics_direction_names[d], m->streams, m->clock_hz, m->expected, m->lost,
			    loss_e6 / 1000000u, loss_e6 % 1000000u);
		mbuf_printf(b, "\"jitter_ms\":%u.%03u,\"reordered\":%" PRIu64 ",\"duplicates\":%"
			    PRIu64 "}", m->jitter_us / 1000u, m->jitter_us % 1000u, m->reordered,
			    m->duplicates);
	}
	mbuf_append(b, "}", 1);
}

void metrics_alloc_json(struct mbuf *b, const struct alloc_figures *f, unsigned worker,
			uint64_t as_of_ms)
{
	mbuf_printf(b, "{\"id\":\"%016" PRIx64 "\",\"worker\":%u,\"transport\":\"%s\","
		    "\"family\":\"%s\",\"age_s\":%" PRIu64 ",", f->id, worker,
		    f->transport < MT_COUNT ? metrics_transport_names[f->transport] : "unknown",
		    f->family < MF_COUNT ? metrics_family_names[f->family] : "unknown", f->age_s);
	mbuf_printf(b, "\"packets_to_peer\":%" PRIu64 ",\"bytes_to_peer\":%" PRIu64 ","
		    "\"packets_to_client\":%" PRIu64 ",\"bytes_to_client\":%" PRIu64 ",",
		    f->pkts_to_peer, f->bytes_to_peer, f->pkts_to_client, f->bytes_to_client);
	mbuf_printf(b, "\"peak_pps\":%" PRIu64 ",\"permissions\":%u,\"channels\":%u,",
		    f->peak_pps, f->permissions, f->channels);
	alloc_media_json(b, f);
	mbuf_printf(b, ",\"figures_age_ms\":%" PRIu64 "}\n", as_of_ms);
}
