/* Test-only hooks; see test_hooks.h. Built only with -Dtest_hooks=true. */
#include "relay/io/test_hooks.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "relay/io/worker.h"

#define STALL_DEFAULT_S 20u
#define STALL_MAX_S 3600u

static struct event *usr2;
static struct worker *_Atomic target;   /* the worker that stalls */
static atomic_bool stall_requested;
static unsigned stall_s = STALL_DEFAULT_S;

static unsigned stall_seconds(void)
{
	const char *v = getenv("TERND_TEST_STALL_S");
	if (!v || !*v)
		return STALL_DEFAULT_S;
	char *end;
	unsigned long s = strtoul(v, &end, 10);
	if (*end || s == 0 || s > STALL_MAX_S)
		return STALL_DEFAULT_S;
	return (unsigned)s;
}

static void on_usr2(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_warn("test-hooks", "SIGUSR2: worker 0 will stall for %u s", stall_s);
	atomic_store(&stall_requested, true);
}

int test_hooks_install(struct event_base *base, struct worker *workers)
{
	stall_s = stall_seconds();
	atomic_store(&target, workers);
	usr2 = evsignal_new(base, SIGUSR2, on_usr2, NULL);
	if (!usr2 || evsignal_add(usr2, NULL) < 0) {
		test_hooks_uninstall();
		return -ENOMEM;
	}
	log_warn("test-hooks", "test hooks are compiled in: not a production build");
	return 0;
}

void test_hooks_uninstall(void)
{
	if (usr2)
		event_free(usr2);
	usr2 = NULL;
	atomic_store(&target, NULL);
}

void test_hooks_worker_tick(struct worker *w)
{
	if (w != atomic_load(&target) || !atomic_exchange(&stall_requested, false))
		return;
	log_warn("test-hooks", "worker %u stalls for %u s", w->index, stall_s);
	struct timespec left = { .tv_sec = (time_t)stall_s };
	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
	log_warn("test-hooks", "worker %u runs again", w->index);
}
