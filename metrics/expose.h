/* Prometheus text exposition (format 0.0.4) of the relay's figures: pure
 * text building, no I/O. The relay sums its workers' blocks into one struct
 * worker_metrics (metrics_sum), adds the few process-wide figures in a
 * struct metrics_view, and metrics_expose writes the page into a growable
 * buffer that the HTTP glue sends. Also the JSON listing of per-allocation
 * figures (opt-in, no addresses, no user ids).
 *
 * Every label value comes from a fixed table here; nothing a client sends
 * can become a label. */
#ifndef TERN_METRICS_EXPOSE_H
#define TERN_METRICS_EXPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/counters.h"

/* A growable text buffer; after an allocation failure `failed` sticks and
 * further appends do nothing. */
struct mbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

void mbuf_free(struct mbuf *b);
void mbuf_append(struct mbuf *b, const char *s, size_t len);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Label value names of the fixed sets in counters.h. */
extern const char *const metrics_transport_names[MT_COUNT];
extern const char *const metrics_family_names[MF_COUNT];
extern const char *const metrics_direction_names[MD_COUNT];
extern const char *const metrics_outcome_names[MO_COUNT];
extern const char *const metrics_auth_failure_names[MA_COUNT];
extern const char *const metrics_end_reason_names[ME_COUNT];
extern const char *const metrics_media_kind_names[MK_COUNT];

/* Adds every counter and histogram of `from` into `into` (the exporter's
 * private sum; reading `from` is relaxed loads only). Gauges (loop lag) are
 * summed too; the caller reports them per worker instead. */
void metrics_sum(struct worker_metrics *into, const struct worker_metrics *from);

#define METRICS_MAX_WORKERS 256

/* Everything one scrape shows. */
struct metrics_view {
	struct worker_metrics sum;       /* the workers' blocks, summed */
	unsigned n_workers;
	uint64_t loop_lag_ms[METRICS_MAX_WORKERS];
	bool draining;
	uint32_t ports_in_use[MF_COUNT];
	uint32_t ports_size;             /* per family */
	bool has_family[MF_COUNT];       /* relay addresses configured */
	bool audit_enabled;
	uint64_t audit_records, audit_dropped, audit_write_errors;
	bool revocation_feed_fresh;      /* 1 also when no feed is configured */
	bool revocation_feed_configured;
	double revocation_feed_staleness_s; /* since Redis last answered (-1: never) */
	const char *version;
};

/* Writes the whole page. Returns 0, or -ENOMEM (b->failed). */
int metrics_expose(const struct metrics_view *v, struct mbuf *b);

/* Writes s as a label value: backslash, double quote and newline escaped. */
void metrics_escape_label(struct mbuf *b, const char *s);
/* Writes s as HELP text: backslash and newline escaped. */
void metrics_escape_help(struct mbuf *b, const char *s);

/* One live allocation as the opt-in listing shows it: an opaque id and
 * figures, never an address or a user id. */
struct alloc_figures {
	uint64_t id;
	uint8_t transport;               /* enum metrics_transport */
	uint8_t family;                  /* enum metrics_family */
	uint16_t permissions, channels;
	uint64_t age_s;
	uint64_t pkts_to_peer, bytes_to_peer, pkts_to_client, bytes_to_client;
	uint64_t peak_pps;
	/* Media assurance (no addresses, no SSRCs): flows by kind, and per
	 * direction the live RTP streams' figures summed (jitter: the worst). */
	uint16_t dtls_flows, unencrypted_flows;
	struct alloc_media_figures {
		uint16_t streams;
		uint32_t clock_hz;           /* of the stream with most packets, 0 = unknown */
		uint32_t jitter_us;          /* highest among streams with a known clock */
		uint64_t expected, lost, reordered, duplicates;
	} media[MD_COUNT];
};

/* Appends one JSON object (one line, with '\n') for f; `worker` and
 * `as_of_ms` (age of the figures) say where and how fresh. */
void metrics_alloc_json(struct mbuf *b, const struct alloc_figures *f, unsigned worker,
			uint64_t as_of_ms);

#endif
