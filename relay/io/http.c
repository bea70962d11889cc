/* The HTTP endpoint on the control thread (libevent evhttp), loopback by
 * default (metrics.listen):
 *
 *   /metrics      Prometheus text 0.0.4 (metrics/expose.c) of the workers'
 *                 counters, summed here; scraping only reads them.
 *   /healthz      200 while every worker loop stamps its heartbeat.
 *   /readyz       200 only when serving makes sense: listeners bound, every
 *                 worker answered the last readiness ping (worker_observe.c
 *                 says why a ping and not a STUN Binding), relay ports left,
 *                 not draining, revocation feed fresh; else 503 and reasons.
 *   /allocations  opt-in (metrics.per_allocation): JSON lines of the live
 *                 allocations by opaque id, no addresses, no user ids.
 *
 * Nothing here touches a worker's data: counters are relaxed atomic reads,
 * figures are copied under the worker's mail_lock. */
#include "relay/io/observe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/monotime.h"
#include "metrics/expose.h"
#include "relay/io/daemon_internal.h"

#ifndef TERN_VERSION
#define TERN_VERSION "unknown"
#endif

#define PING_MS          500
#define HTTP_TIMEOUT_S   5

bool (*revocation_feed_ready)(void);
double (*revocation_feed_staleness)(void);

static bool feed_fresh(void)
{
	return !revocation_feed_ready || revocation_feed_ready();
}

static void reply(struct evhttp_request *req, int code, const char *type, const char *body,
		  size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	struct evbuffer *out = evbuffer_new();
	if (out && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found"
				     : code == 503 ? "Service Unavailable" : "Error", out);
	if (out)
		evbuffer_free(out);
}

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
	reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* ---- /metrics ---------------------------------------------------------- */

static void port_figures(struct daemon *d, struct metrics_view *v)
{
	struct port_pool *p = &d->shared.ports;
	pthread_mutex_lock(&p->lock);
	v->ports_in_use[MF_IPV4] = p->in_use[0];
	v->ports_in_use[MF_IPV6] = p->in_use[1];
	pthread_mutex_unlock(&p->lock);
	v->ports_size = port_pool_size(p);
	v->has_family[MF_IPV4] = d->boot_conf->has_relay_v4;
	v->has_family[MF_IPV6] = d->boot_conf->has_relay_v6;
}

static void fill_view(struct observe *o, struct metrics_view *v)
{
	struct daemon *d = o->d;
	v->n_workers = d->n_workers;
	for (unsigned i = 0; i < d->n_workers; i++) {
		const struct worker_metrics *m = &d->workers[i].turn.metrics;
		metrics_sum(&v->sum, m);
		if (i < METRICS_MAX_WORKERS)
			v->loop_lag_ms[i] = mc_get(&m->loop_lag_ms);
	}
	v->draining = atomic_load(&d->shared.draining);
	port_figures(d, v);
	v->audit_enabled = o->audit.fd >= 0;
	v->audit_records = o->audit.records;
	v->audit_write_errors = o->audit.write_errors;
	for (unsigned i = 0; i < o->n_rings; i++)
		v->audit_dropped += mc_get(&o->rings[i].dropped);
	v->revocation_feed_fresh = feed_fresh();
	v->revocation_feed_configured = revocation_feed_staleness != NULL;
	v->revocation_feed_staleness_s = revocation_feed_staleness ? revocation_feed_staleness() : 0;
	v->version = TERN_VERSION;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct metrics_view *v = calloc(1, sizeof(*v));
	struct mbuf b = { 0 };
	if (!v) {
		reply_text(req, 500, "out of memory\n");
		return;
	}
	fill_view(arg, v);
	if (metrics_expose(v, &b) < 0)
		reply_text(req, 500, "out of memory\n");
	else
		reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	mbuf_free(&b);
	free(v);
}

/* ---- /healthz and /readyz --------------------------------------------- */

static void on_healthz(struct evhttp_request *req, void *arg)
{
	struct daemon *d = ((struct observe *)arg)->d;
	if (workers_responsive(d->workers, d->n_workers, monotime_ms()))
		reply_text(req, 200, "ok\n");
	else
		reply_text(req, 503, "a worker loop is not responding\n");
}

/* Every worker answers each ping within PING_MS; one that has not answered
 * the previous ping by the time the next goes out is stuck. */
static void on_ping(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct observe *o = arg;
	o->ping_seq++;
	for (unsigned i = 0; i < o->d->n_workers; i++)
		worker_ping(&o->d->workers[i], o->ping_seq);
}

static bool worker_answers(const struct observe *o, const struct worker *w)
{
	uint64_t pong = atomic_load_explicit(&w->pong_seq, memory_order_relaxed);
	return pong > 0 && pong + 1 >= o->ping_seq;
}

static void readiness(struct observe *o, struct mbuf *why)
{
	struct daemon *d = o->d;
	if (d->n_workers == 0 || d->n_workers != d->boot_conf->workers)
		mbuf_printf(why, "listeners not bound (workers not all running)\n");
	for (unsigned i = 0; i < d->n_workers; i++)
		if (!worker_answers(o, &d->workers[i]))
			mbuf_printf(why, "worker %u does not answer\n", i);
	struct metrics_view v = { 0 };
	port_figures(d, &v);
	for (int f = 0; f < MF_COUNT; f++)
		if (v.has_family[f] && v.ports_in_use[f] >= v.ports_size)
			mbuf_printf(why, "relay port pool exhausted (%s)\n", metrics_family_names[f]);
	if (atomic_load(&d->shared.draining))
		mbuf_printf(why, "draining\n");
	if (!feed_fresh())
		mbuf_printf(why, "revocation feed stale\n");
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
	struct mbuf why = { 0 };
	readiness(arg, &why);
	if (why.failed)
		reply_text(req, 500, "out of memory\n");
	else if (why.len)
		reply(req, 503, "text/plain; charset=utf-8", why.p, why.len);
	else
		reply_text(req, 200, "ready\n");
	mbuf_free(&why);
}

/* ---- /allocations ------------------------------------------------------ */

/* Copies worker w's published figures out (the lock is held for a memcpy). */
static struct alloc_figures *take_figures(struct worker *w, size_t *n, uint64_t *at_ms)
{
	pthread_mutex_lock(&w->mail_lock);
	*n = w->n_figures;
	*at_ms = w->figures_ms;
	struct alloc_figures *copy = *n ? malloc(*n * sizeof(*copy)) : NULL;
	if (copy)
		memcpy(copy, w->figures, *n * sizeof(*copy));
	else
		*n = 0;
	pthread_mutex_unlock(&w->mail_lock);
	return copy;
}

static void on_allocations(struct evhttp_request *req, void *arg)
{
	struct daemon *d = ((struct observe *)arg)->d;
	if (!d->snap->conf->metrics_per_allocation) {
		reply_text(req, 404, "per-allocation figures are off (metrics.per_allocation)\n");
		return;
	}
	struct mbuf b = { 0 };
	mbuf_append(&b, "", 0);
	uint64_t now = monotime_ms();
	for (unsigned i = 0; i < d->n_workers; i++) {
		size_t n;
		uint64_t at;
		struct alloc_figures *f = take_figures(&d->workers[i], &n, &at);
		for (size_t k = 0; k < n; k++)
			metrics_alloc_json(&b, &f[k], i, now > at ? now - at : 0);
		free(f);
	}
	if (b.failed)
		reply_text(req, 500, "out of memory\n");
	else
		reply(req, 200, "application/x-ndjson", b.p ? b.p : "", b.len);
	mbuf_free(&b);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	reply_text(req, 404, "not found: try /metrics, /healthz, /readyz, /allocations\n");
}

/* ---- start and stop ---------------------------------------------------- */

static int start_pinger(struct observe *o)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = PING_MS * 1000 };
	o->pinger = event_new(o->d->base, -1, EV_PERSIST, on_ping, o);
	if (!o->pinger || event_add(o->pinger, &tv) < 0)
		return -ENOMEM;
	on_ping(-1, 0, o);
	return 0;
}

int http_start(struct observe *o)
{
	const struct tern_config *conf = o->d->boot_conf;
	if (!conf->has_metrics)
		return 0;
	if (start_pinger(o) < 0 || !(o->http = evhttp_new(o->d->base))) {
		log_err("metrics", "cannot set up the HTTP endpoint");
		return -ENOMEM;
	}
	char host[INET6_ADDRSTRLEN];
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(&conf->metrics_listen, &len);
	inet_ntop(len == 4 ? AF_INET : AF_INET6, ip, host, sizeof(host));
	uint16_t port = sockaddr_port(&conf->metrics_listen);
	if (evhttp_bind_socket(o->http, host, port) < 0) {
		log_err("metrics", "cannot listen on %s port %u for HTTP (metrics.listen): %s", host,
			port, strerror(errno));
		return -EADDRINUSE;
	}
	evhttp_set_allowed_methods(o->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(o->http, HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(o->http, 8192);
	evhttp_set_max_body_size(o->http, 0);
	evhttp_set_cb(o->http, "/metrics", on_metrics, o);
	evhttp_set_cb(o->http, "/healthz", on_healthz, o);
	evhttp_set_cb(o->http, "/readyz", on_readyz, o);
	evhttp_set_cb(o->http, "/allocations", on_allocations, o);
	evhttp_set_gencb(o->http, on_other, o);
	log_info("metrics", "HTTP endpoint on %s port %u", host, port);
	return 0;
}

void http_stop(struct observe *o)
{
	if (o->http)
		evhttp_free(o->http);
	o->http = NULL;
	if (o->pinger)
		event_free(o->pinger);
	o->pinger = NULL;
}
