/* ternd's observability on the control thread: the HTTP endpoint
 * (/metrics, /healthz, /readyz, /allocations; http.c) and the audit trail's
 * pump from the workers' rings to the file (observe.c). Internal to relay/io;
 * daemon.c calls the five functions below, nothing else. */
#ifndef TERN_RELAY_IO_OBSERVE_H
#define TERN_RELAY_IO_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics/audit.h"

struct daemon;
struct event;
struct evhttp;

struct observe {
	struct daemon *d;
	/* the audit trail */
	struct audit_writer audit;      /* fd -1: no audit trail */
	struct audit_ring *rings;       /* one per worker, or NULL */
	unsigned n_rings;
	struct audit_record *batch;     /* the pump's scratch */
	struct event *pump;
	/* HTTP */
	struct evhttp *http;
	struct event *pinger;
	uint64_t ping_seq;              /* the last ping sent to every worker */
};

/* Before the workers start: the audit file and one ring per worker.
 * 0, or negative errno (logged): ternd does not start. */
int observe_open(struct daemon *d);
/* Worker i's audit ring, or NULL when there is no audit trail. */
struct audit_ring *observe_ring(struct daemon *d, unsigned i);
/* On the control loop once the workers run: the audit pump, the readiness
 * pinger and the HTTP endpoint. 0, or negative errno (logged). */
int observe_start(struct daemon *d);
void observe_stop(struct daemon *d);
/* After the workers stopped: the last records, then the file is closed. */
void observe_close(struct daemon *d);

/* http.c */
int http_start(struct observe *o);
void http_stop(struct observe *o);

/* The revocation feed's freshness for /readyz and tern_revocation_feed_fresh,
 * filled by the revocation code when a feed is configured. NULL: no feed
 * (reported fresh, 1). Called on the control thread. */
extern bool (*revocation_feed_ready)(void);
/* Seconds since the feed last heard from Redis, -1 if never; NULL: no feed. */
extern double (*revocation_feed_staleness)(void);

#endif
