/* Test-only hooks, compiled into ternd only with meson -Dtest_hooks=true
 * (which defines TERN_TEST_HOOKS). Production builds contain none of this:
 * every call site sits inside #ifdef TERN_TEST_HOOKS.
 *
 * SIGUSR2 makes worker 0 block in its timer callback for TERND_TEST_STALL_S
 * seconds (environment, default 20), so tests can see the watchdog stop
 * being petted while a worker loop is stuck, and start again afterwards. */
#ifndef TERN_RELAY_IO_TEST_HOOKS_H
#define TERN_RELAY_IO_TEST_HOOKS_H

#ifdef TERN_TEST_HOOKS

struct event_base;
struct worker;

/* Control thread: adds the SIGUSR2 event to base; workers[0] is the worker
 * that stalls. Returns 0 or a negative errno. */
int test_hooks_install(struct event_base *base, struct worker *workers);
/* Control thread, before base is freed. */
void test_hooks_uninstall(void);
/* Worker thread, from its 1-second timer: stalls if asked to. */
void test_hooks_worker_tick(struct worker *w);

#endif
#endif
