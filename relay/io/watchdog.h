/* Liveness of the worker loops, for systemd's watchdog (and /healthz
 * later): every worker stamps a heartbeat from its 1-second timer; the
 * control thread pets the watchdog only while every stamp is fresh, so a
 * worker stuck in a loop gets the service restarted. */
#ifndef TERN_RELAY_IO_WATCHDOG_H
#define TERN_RELAY_IO_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#include "relay/io/worker.h"

#define WATCHDOG_STALE_MS 5000   /* a heartbeat older than this means a stuck worker */

struct watchdog {
	struct event *timer;
	struct worker *workers;
	unsigned n_workers;
	bool was_healthy;
};

/* Starts petting systemd's watchdog from base if the service has one. */
int watchdog_start(struct watchdog *wd, struct event_base *base, struct worker *workers,
		   unsigned n_workers);
void watchdog_stop(struct watchdog *wd);
/* True if every worker's heartbeat is recent. */
bool workers_responsive(const struct worker *workers, unsigned n, uint64_t now_ms);

#endif
