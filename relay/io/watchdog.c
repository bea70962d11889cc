/* Worker liveness and systemd's watchdog; see watchdog.h. */
#include "relay/io/watchdog.h"

#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>

#include "common/log.h"
#include "common/monotime.h"
#include "relay/io/sdnotify.h"

bool workers_responsive(const struct worker *workers, unsigned n, uint64_t now_ms)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t beat = atomic_load_explicit(&workers[i].heartbeat_ms, memory_order_relaxed);
		if (now_ms - beat > WATCHDOG_STALE_MS)
			return false;
	}
	return true;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct watchdog *wd = arg;
	bool healthy = workers_responsive(wd->workers, wd->n_workers, monotime_ms());
	if (healthy)
		sdnotify_watchdog();
	if (healthy != wd->was_healthy)
		log_msg(healthy ? LOG_LVL_INFO : LOG_LVL_ERR, "watchdog", healthy
			? "every worker responds again"
			: "a worker loop stopped responding: no longer petting the watchdog");
	wd->was_healthy = healthy;
}

int watchdog_start(struct watchdog *wd, struct event_base *base, struct worker *workers,
		   unsigned n_workers)
{
	wd->workers = workers;
	wd->n_workers = n_workers;
	wd->was_healthy = true;
	wd->timer = NULL;
	uint64_t usec = sdnotify_watchdog_usec();
	if (!usec)
		return 0;
	/* Pet at a quarter of the interval: two misses still leave margin. */
	uint64_t every = usec / 4;
	struct timeval tv = { .tv_sec = (time_t)(every / 1000000u),
			      .tv_usec = (suseconds_t)(every % 1000000u) };
	wd->timer = event_new(base, -1, EV_PERSIST, on_watchdog, wd);
	if (!wd->timer || event_add(wd->timer, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void watchdog_stop(struct watchdog *wd)
{
	if (wd->timer)
		event_free(wd->timer);
	wd->timer = NULL;
}
