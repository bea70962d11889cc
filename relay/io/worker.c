/* Worker threads: each opens its own listening sockets, runs its own loop
 * and owns everything it creates. The daemon waits on the startup
 * handshake so "ready" means every worker is listening. */
#include "relay/io/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/monotime.h"
#ifdef TERN_TEST_HOOKS
#include "relay/io/test_hooks.h"
#endif

#define TICK_MS 1000

static _Thread_local struct worker *current_worker;

struct worker *worker_self(void) { return current_worker; }

void worker_touch_clock(struct worker *w)
{
	w->turn.now_us = monotime_us();
	w->turn.now_ms = w->turn.now_us / 1000u;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	worker_touch_clock(w);
	atomic_store_explicit(&w->heartbeat_ms, w->turn.now_ms, memory_order_relaxed);
	/* How late this tick ran: a busy or blocked loop shows here first. */
	uint64_t late = w->last_tick_ms ? w->turn.now_ms - w->last_tick_ms : TICK_MS;
	mc_set(&w->turn.metrics.loop_lag_ms, late > TICK_MS ? late - TICK_MS : 0);
	mc_inc(&w->turn.metrics.ticks);
	w->last_tick_ms = w->turn.now_ms;
	turn_server_tick(&w->turn);
	worker_publish_figures(w);
	tcp_sweep(w, w->turn.now_ms);
	udp_out_flush(w);
#ifdef TERN_TEST_HOOKS
	test_hooks_worker_tick(w);
#endif
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	event_base_loopbreak(w->base);
}

static void on_mail(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	worker_pong(w);
	pthread_mutex_lock(&w->mail_lock);
	struct turn_snapshot *snap = w->pending_snap;
	struct revocation_set *revoked = w->pending_revoked;
	w->pending_snap = NULL;
	w->pending_revoked = NULL;
	pthread_mutex_unlock(&w->mail_lock);
	worker_touch_clock(w);
	if (snap)
		turn_server_set_snapshot(&w->turn, snap);
	if (revoked) {
		turn_server_set_revocations(&w->turn, revoked);
		udp_out_flush(w);
	}
}

void worker_post_revocations(struct worker *w, struct revocation_set *set)
{
	pthread_mutex_lock(&w->mail_lock);
	struct revocation_set *superseded = w->pending_revoked;
	w->pending_revoked = set;
	if (w->mail)
		event_active(w->mail, 0, 0);
	pthread_mutex_unlock(&w->mail_lock);
	revocation_set_release(superseded);
}

void worker_post_snapshot(struct worker *w, struct turn_snapshot *snap)
{
	pthread_mutex_lock(&w->mail_lock);
	struct turn_snapshot *superseded = w->pending_snap;
	w->pending_snap = snap;
	if (w->mail)
		event_active(w->mail, 0, 0);
	pthread_mutex_unlock(&w->mail_lock);
	turn_snapshot_release(superseded); /* two reloads before the worker looked */
}

static void report_start(struct worker *w, int error)
{
	pthread_mutex_lock(w->start_lock);
	w->start_error = error;
	w->started = true;
	pthread_cond_broadcast(w->start_cond);
	pthread_mutex_unlock(w->start_lock);
}

static int worker_setup(struct worker *w)
{
	w->base = event_base_new();
	w->batch = calloc(1, sizeof(*w->batch));
	w->out = calloc(1, sizeof(*w->out));
	if (w->batch)
		udp_batch_init(w->batch);
	if (!w->base || !w->batch || !w->out) {
		snprintf(w->start_msg, sizeof(w->start_msg), "out of memory");
		return -ENOMEM;
	}
	int r = turn_server_init(&w->turn, w->shared, &relay_io_ops, w);
	w->turn.audit = w->audit;
	if (r < 0) {
		snprintf(w->start_msg, sizeof(w->start_msg), "cannot set up: %s", strerror(-r));
		return r;
	}
	r = udp_listeners_open(w, w->start_msg, sizeof(w->start_msg));
	if (r == 0)
		r = tcp_listeners_open(w, w->start_msg, sizeof(w->start_msg));
	if (r < 0)
		return r;
	w->stop = event_new(w->base, -1, 0, on_stop, w);
	w->mail = event_new(w->base, -1, 0, on_mail, w);
	if (!w->stop || !w->mail) {
		snprintf(w->start_msg, sizeof(w->start_msg), "out of memory");
		return -ENOMEM;
	}
	w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
	struct timeval tv = { .tv_sec = TICK_MS / 1000, .tv_usec = (TICK_MS % 1000) * 1000 };
	if (!w->tick || event_add(w->tick, &tv) < 0) {
		snprintf(w->start_msg, sizeof(w->start_msg), "cannot start the timer");
		return -ENOMEM;
	}
	return 0;
}

static void worker_teardown(struct worker *w)
{
	if (w->tick)
		event_free(w->tick);
	if (w->stop)
		event_free(w->stop);
	w->stop = NULL;
	worker_figures_free(w);
	pthread_mutex_lock(&w->mail_lock);
	if (w->mail)
		event_free(w->mail);
	w->mail = NULL;
	turn_snapshot_release(w->pending_snap);
	w->pending_snap = NULL;
	revocation_set_release(w->pending_revoked);
	w->pending_revoked = NULL;
	pthread_mutex_unlock(&w->mail_lock);
	tcp_close_all(w);
	turn_server_destroy(&w->turn);
	udp_listeners_close(w);
	tcp_listeners_close(w);
	if (w->base)
		event_base_free(w->base);
	free(w->batch);
	free(w->out);
	w->out = NULL;
	w->tick = NULL;
	w->base = NULL;
	w->batch = NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	current_worker = w;
	int r = worker_setup(w);
	atomic_store_explicit(&w->heartbeat_ms, monotime_ms(), memory_order_relaxed);
	report_start(w, r);
	if (r == 0)
		event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	worker_teardown(w);
	return NULL;
}

int worker_start(struct worker *w)
{
	int r = pthread_mutex_init(&w->mail_lock, NULL);
	if (r)
		return -r;
	r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r)
		pthread_mutex_destroy(&w->mail_lock);
	return -r;
}

void worker_stop(struct worker *w)
{
	/* An activated event is kept even if the loop has not started yet, so
	 * there is no window in which the request is lost. A worker that failed
	 * to start has already left. */
	if (w->start_error == 0 && w->stop)
		event_active(w->stop, 0, 0);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mail_lock);
}
