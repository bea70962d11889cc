/* Reload and drain, on the control thread. A reload parses and validates a
 * complete new configuration; only a valid one becomes a snapshot that each
 * worker puts in force on its own thread (no allocation is dropped, denied
 * peers lose their permissions at once). Settings only a restart can change
 * keep their running values and are named in the log. Draining refuses new
 * allocations while the calls in progress finish. */
#include "relay/io/daemon_internal.h"

#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/monotime.h"
#include "relay/io/sdnotify.h"

static void publish(struct daemon *d, struct turn_snapshot *snap)
{
	for (unsigned i = 0; i < d->n_workers; i++) {
		turn_snapshot_hold(snap);
		worker_post_snapshot(&d->workers[i], snap);
	}
	turn_snapshot_release(d->snap);
	d->snap = snap;
}

static void apply_io_settings(struct daemon *d, const struct tern_config *fresh)
{
	log_set_level(fresh->log_level);
	conn_limit_set_max(&d->io.conns, fresh->connections_per_source);
	if (!d->io.has_tls)
		return;
	char err[512];
	if (tls_server_reload(&d->io.tls, fresh, err, sizeof(err)) == 0)
		log_info("control", "reload: TLS certificate loaded");
	else
		log_err("control", "reload: keeping the old TLS certificate: %s", err);
}

void control_reload(struct daemon *d)
{
	char err[1024];
	struct tern_config *fresh;
	sdnotify_reloading();
	if (conf_load(d->config_path, &fresh, err, sizeof(err)) < 0) {
		log_err("control", "reload: keeping the running configuration: %s", err);
		sdnotify_ready("serving (reload failed, see the journal)");
		return;
	}
	char changed[512];
	if (conf_keep_restart_settings(d->snap->conf, fresh, changed, sizeof(changed)) > 0)
		log_warn("control", "reload: these settings need a restart and keep their running "
			 "values: %s", changed);
	struct turn_snapshot *snap = turn_snapshot_new(fresh, true, err, sizeof(err));
	if (!snap) {
		conf_free(fresh);
		log_err("control", "reload: keeping the running configuration: %s", err);
		sdnotify_ready("serving (reload failed, see the journal)");
		return;
	}
	apply_io_settings(d, fresh);
	publish(d, snap);
	log_info("control", "reload: new configuration in force");
	sdnotify_ready(atomic_load(&d->shared.draining) ? "draining" : "serving");
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	uint32_t left = user_quota_total(&d->shared.quota);
	bool late = monotime_ms() >= d->drain_deadline_ms;
	sdnotify_status("draining: %u allocations left", left);
	if (left == 0 || late) {
		log_info("control", "drain: %s, stopping", late ? "deadline reached" : "no allocation left");
		sdnotify_stopping();
		event_base_loopbreak(d->base);
	}
}

void control_drain(struct daemon *d)
{
	if (atomic_exchange(&d->shared.draining, true))
		return;
	const struct tern_config *conf = d->snap->conf;
	d->drain_deadline_ms = monotime_ms() + (uint64_t)conf->drain_deadline * 1000u;
	log_info("control", "drain: refusing new allocations (%s); exiting at zero allocations "
		 "or in %u s", conf->has_alternate ? "300 to the alternate server" : "508",
		 conf->drain_deadline);
	struct timeval second = { .tv_sec = 1 };
	d->drain_timer = event_new(d->base, -1, EV_PERSIST, on_drain_tick, d);
	if (!d->drain_timer || event_add(d->drain_timer, &second) < 0)
		log_err("control", "drain: cannot start the drain timer");
	on_drain_tick(-1, 0, d);
}

void control_destroy(struct daemon *d)
{
	if (d->drain_timer)
		event_free(d->drain_timer);
	d->drain_timer = NULL;
}
