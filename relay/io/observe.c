/* The audit trail's side of the control thread: opens the file before the
 * workers start (a trail that cannot be opened stops ternd), gives each
 * worker a ring, and drains the rings every AUDIT_PUMP_MS into the file.
 * The control thread writes (not a thread of its own): appends are small and
 * sequential, a slow disk delays only scrapes and reloads, never a worker,
 * and a worker's ring absorbs AUDIT_RING_SLOTS records meanwhile. Also
 * starts and stops the HTTP endpoint (http.c). */
#include "relay/io/observe.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/io/daemon_internal.h"

#define AUDIT_PUMP_MS    100
#define AUDIT_BATCH      256     /* records per write */
#define AUDIT_MAX_ROUNDS 16      /* batches per pass, so HTTP is not starved */

static enum audit_addr_mode addr_mode(enum conf_audit_address a)
{
	return a == CONF_AUDIT_FULL ? AUDIT_ADDR_FULL
	     : a == CONF_AUDIT_OMIT ? AUDIT_ADDR_OMIT : AUDIT_ADDR_TRUNCATED;
}

int observe_open(struct daemon *d)
{
	const struct tern_config *conf = d->boot_conf;
	struct observe *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	d->observe = o;
	o->d = d;
	o->audit.fd = -1;
	if (!conf->audit_file[0])
		return 0;
	char err[512];
	int r = audit_writer_open(&o->audit, conf->audit_file,
				  addr_mode(conf->audit_client_address), err, sizeof(err));
	if (r < 0) {
		log_err("audit", "cannot open the audit trail %s", err);
		return r;
	}
	o->rings = calloc(conf->workers, sizeof(*o->rings));
	o->batch = calloc(AUDIT_BATCH, sizeof(*o->batch));
	if (!o->rings || !o->batch)
		return -ENOMEM;
	for (; o->n_rings < conf->workers; o->n_rings++)
		if ((r = audit_ring_init(&o->rings[o->n_rings], AUDIT_RING_SLOTS)) < 0)
			return r;
	return 0;
}

struct audit_ring *observe_ring(struct daemon *d, unsigned i)
{
	struct observe *o = d->observe;
	return o && i < o->n_rings ? &o->rings[i] : NULL;
}

/* Moves what the rings hold into the file, a batch at a time. */
static void pump(struct observe *o)
{
	for (int round = 0; round < AUDIT_MAX_ROUNDS; round++) {
		size_t n = 0;
		for (unsigned i = 0; i < o->n_rings && n < AUDIT_BATCH; i++)
			while (n < AUDIT_BATCH && audit_ring_pop(&o->rings[i], &o->batch[n]))
				n++;
		if (n == 0)
			return;
		audit_writer_append(&o->audit, o->batch, n);
	}
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

int observe_start(struct daemon *d)
{
	struct observe *o = d->observe;
	if (o->n_rings) {
		struct timeval tv = { .tv_sec = 0, .tv_usec = AUDIT_PUMP_MS * 1000 };
		o->pump = event_new(d->base, -1, EV_PERSIST, on_pump, o);
		if (!o->pump || event_add(o->pump, &tv) < 0) {
			log_err("audit", "cannot start the audit pump");
			return -ENOMEM;
		}
	}
	return http_start(o);
}

void observe_stop(struct daemon *d)
{
	struct observe *o = d->observe;
	if (!o)
		return;
	http_stop(o);
	if (o->pump)
		event_free(o->pump);
	o->pump = NULL;
}

void observe_close(struct daemon *d)
{
	struct observe *o = d->observe;
	if (!o)
		return;
	/* The workers are gone: what they recorded last (shutdown ends) is in
	 * the rings and nobody writes to them any more. */
	for (int guard = 0; guard < 1024 && o->n_rings; guard++) {
		uint64_t before = o->audit.records + o->audit.write_errors;
		pump(o);
		if (o->audit.records + o->audit.write_errors == before)
			break;
	}
	for (unsigned i = 0; i < o->n_rings; i++)
		audit_ring_destroy(&o->rings[i]);
	free(o->rings);
	free(o->batch);
	audit_writer_close(&o->audit);
	free(o);
	d->observe = NULL;
}
