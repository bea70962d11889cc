/* A worker's side of observability, kept out of worker.c's loop code:
 *
 * - Readiness ping. The control thread cannot reach a chosen worker with a
 *   STUN Binding (SO_REUSEPORT hashes the source port to whichever worker
 *   the kernel picks), so the per-worker proof is a round trip through the
 *   worker's mailbox: the control thread stores a sequence number and wakes
 *   the worker's loop, the worker copies it to pong_seq. An answer means the
 *   loop that serves the worker's sockets runs and takes messages (the path
 *   reloads and revocations use).
 *
 * - Per-allocation figures (opt-in). Workers own their allocations, so the
 *   control thread never walks them. Each worker copies its allocations'
 *   figures into a compact array once per tick, under mail_lock; the control
 *   thread copies the array out under the same lock. Chosen over a
 *   request/response by message because it needs no cross-thread lifetime
 *   (no pending request to free when a client goes away or a worker is
 *   stuck), a stuck worker only makes its figures stale (their age is
 *   shown), and the tick already walks every allocation. Nothing is copied
 *   while metrics.per_allocation is off. */
#include <stdlib.h>

#include <event2/event.h>

#include "relay/io/worker.h"

void worker_ping(struct worker *w, uint64_t seq)
{
	pthread_mutex_lock(&w->mail_lock);
	atomic_store_explicit(&w->ping_seq, seq, memory_order_relaxed);
	if (w->mail)
		event_active(w->mail, 0, 0);
	pthread_mutex_unlock(&w->mail_lock);
}

void worker_pong(struct worker *w)
{
	atomic_store_explicit(&w->pong_seq, atomic_load_explicit(&w->ping_seq, memory_order_relaxed),
			      memory_order_relaxed);
}

void worker_publish_figures(struct worker *w)
{
	const struct turn_server *s = &w->turn;
	bool on = s->snap->conf->metrics_per_allocation;
	if (!on && !w->figures)
		return;
	pthread_mutex_lock(&w->mail_lock);
	if (!on) {
		free(w->figures);
		w->figures = NULL;
		w->n_figures = w->figures_cap = 0;
	} else {
		if (w->figures_cap < s->n_allocations) {
			size_t cap = s->n_allocations + s->n_allocations / 2 + 16;
			struct alloc_figures *f = realloc(w->figures, cap * sizeof(*f));
			if (f) {
				w->figures = f;
				w->figures_cap = cap;
			}
		}
		w->n_figures = turn_server_figures(s, w->figures, w->figures_cap);
		w->figures_ms = s->now_ms;
	}
	pthread_mutex_unlock(&w->mail_lock);
}

void worker_figures_free(struct worker *w)
{
	pthread_mutex_lock(&w->mail_lock);
	free(w->figures);
	w->figures = NULL;
	w->n_figures = w->figures_cap = 0;
	pthread_mutex_unlock(&w->mail_lock);
}
