/* ternd's control thread: start, signals, stop. Reload and drain are in
 * control.c, systemd's protocol in sdnotify.c and watchdog.c; later issues
 * add the Redis revocation feed and the metrics endpoint beside them. */
#include "relay/io/daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/io/daemon_internal.h"
#include "relay/io/observe.h"
#include "relay/io/sdnotify.h"
#ifdef TERN_TEST_HOOKS
#include "relay/io/test_hooks.h"
#endif

static int load_config(const char *path, struct tern_config **out)
{
	char err[1024];
	int r = conf_load(path, out, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "ternd: %s\n", err);
	return r;
}

int daemon_check_config(const char *config_path)
{
	struct tern_config *conf;
	if (load_config(config_path, &conf) < 0)
		return 1;
	printf("%s: configuration is valid\n", config_path);
	conf_free(conf);
	return 0;
}

/* Starts every worker and waits until each has its sockets open. */
static int start_workers(struct daemon *d)
{
	d->n_workers = d->boot_conf->workers;
	d->workers = calloc(d->n_workers, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	unsigned launched = 0;
	int r = 0;
	for (; launched < d->n_workers; launched++) {
		struct worker *w = &d->workers[launched];
		w->index = launched;
		w->shared = &d->shared;
		w->io = &d->io;
		w->start_lock = &d->start_lock;
		w->start_cond = &d->start_cond;
		w->audit = observe_ring(d, launched);
		if ((r = worker_start(w)) < 0)
			break;
	}
	pthread_mutex_lock(&d->start_lock);
	for (unsigned i = 0; i < launched; i++) {
		while (!d->workers[i].started)
			pthread_cond_wait(&d->start_cond, &d->start_lock);
		if (d->workers[i].start_error && r == 0) {
			r = d->workers[i].start_error;
			log_err("daemon", "worker %u: %s", i, d->workers[i].start_msg);
		}
	}
	pthread_mutex_unlock(&d->start_lock);
	d->n_workers = launched;
	return r;
}

static void stop_workers(struct daemon *d)
{
	for (unsigned i = 0; i < d->n_workers; i++)
		worker_stop(&d->workers[i]);
	free(d->workers);
	d->workers = NULL;
	d->n_workers = 0;
}

static void on_terminate(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct daemon *d = arg;
	log_info("daemon", "signal %d: stopping", (int)sig);
	sdnotify_stopping();
	event_base_loopbreak(d->base);
}

static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	control_reload(arg);
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	control_drain(arg);
}

static int io_shared_init(struct io_shared *io, const struct tern_config *conf)
{
	char err[512];
	int r = conn_limit_init(&io->conns, conf->connections_per_source);
	if (r < 0) {
		log_err("daemon", "cannot set up connection limits: %s", strerror(-r));
		return r;
	}
	if (!conf->n_tls)
		return 0;
	r = tls_server_init(&io->tls, conf, err, sizeof(err));
	if (r < 0) {
		log_err("daemon", "TLS: %s", err);
		return r;
	}
	io->has_tls = true;
	return 0;
}

static void io_shared_destroy(struct io_shared *io)
{
	if (io->has_tls)
		tls_server_destroy(&io->tls);
	conn_limit_destroy(&io->conns);
}

static void control_signals_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

static int run_until_signal(struct daemon *d)
{
	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	struct event *term = evsignal_new(d->base, SIGTERM, on_terminate, d);
	struct event *intr = evsignal_new(d->base, SIGINT, on_terminate, d);
	struct event *hup = evsignal_new(d->base, SIGHUP, on_hangup, d);
	struct event *usr1 = evsignal_new(d->base, SIGUSR1, on_usr1, d);
	int r = -ENOMEM;
	/* (r is set by revocations_start when everything before it worked) */
	if (term && intr && hup && usr1 && evsignal_add(term, NULL) == 0 &&
	    evsignal_add(intr, NULL) == 0 && evsignal_add(hup, NULL) == 0 &&
	    evsignal_add(usr1, NULL) == 0 &&
	    watchdog_start(&d->watchdog, d->base, d->workers, d->n_workers) == 0 &&
	    (r = revocations_start(d)) == 0 && (r = observe_start(d)) == 0) {
#ifdef TERN_TEST_HOOKS
		if (test_hooks_install(d->base, d->workers) < 0)
			log_err("daemon", "test hooks: cannot handle SIGUSR2");
#endif
		sdnotify_ready("serving");
		sigset_t control_signals;
		control_signals_set(&control_signals);
		pthread_sigmask(SIG_UNBLOCK, &control_signals, NULL);
		r = event_base_dispatch(d->base) < 0 ? -EIO : 0;
	}
	watchdog_stop(&d->watchdog);
	revocations_stop(d);
	observe_stop(d);
#ifdef TERN_TEST_HOOKS
	test_hooks_uninstall();
#endif
	control_destroy(d);
	if (usr1)
		event_free(usr1);
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	if (hup)
		event_free(hup);
	event_base_free(d->base);
	return r;
}

/* Written after the config is known good, removed at exit. */
static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -EIO;
}

int daemon_run(const char *config_path, const char *pidfile)
{
	struct daemon d = { .config_path = config_path };
	signal(SIGPIPE, SIG_IGN);
	/* Signals wait until the control loop can handle them: a SIGTERM during
	 * startup stops ternd cleanly once it is up, instead of killing it
	 * half-made. Workers inherit the mask and never see them. */
	sigset_t control_signals;
	control_signals_set(&control_signals);
	pthread_sigmask(SIG_BLOCK, &control_signals, NULL);
	if (evthread_use_pthreads() < 0) {
		log_err("daemon", "libevent has no thread support");
		return 1;
	}
	if (load_config(config_path, &d.boot_conf) < 0)
		return 1;
	const struct tern_config *conf = d.boot_conf;
	int r0;
	log_set_level(conf->log_level);
	char err[256];
	if (turn_shared_init(&d.shared, conf, err, sizeof(err)) < 0) {
		log_err("daemon", "%s", err);
		turn_shared_destroy(&d.shared);
		conf_free(d.boot_conf);
		return 1;
	}
	d.snap = d.shared.initial;
	turn_snapshot_hold(d.snap);
	if (io_shared_init(&d.io, conf) < 0 || observe_open(&d) < 0) {
		observe_close(&d);
		io_shared_destroy(&d.io);
		turn_snapshot_release(d.snap);
		turn_shared_destroy(&d.shared);
		conf_free(d.boot_conf);
		return 1;
	}
	if (pidfile && (r0 = write_pidfile(pidfile)) < 0)
		log_warn("daemon", "cannot write the pid file %s: %s", pidfile, strerror(-r0));
	pthread_mutex_init(&d.start_lock, NULL);
	pthread_cond_init(&d.start_cond, NULL);
	int r = start_workers(&d);
	if (r == 0) {
		log_info("daemon", "ready: %u workers, %zu UDP, %zu TCP and %zu TLS listeners, "
			 "relay ports %u-%u", d.n_workers, conf->n_udp, conf->n_tcp,
			 conf->n_tls, conf->port_min, conf->port_max);
		int unclaimed = sdnotify_unclaimed_fds();
		if (unclaimed > 0)
			log_warn("daemon", "%d socket(s) passed by systemd match no listener; compare "
				 "ternd.socket with listen.* and tls.listen", unclaimed);
		r = run_until_signal(&d);
	} else {
		sdnotify_status("failed to start, see the journal");
	}
	stop_workers(&d);
	observe_close(&d); /* after the workers: their last audit records */
	io_shared_destroy(&d.io);
	turn_snapshot_release(d.snap);
	turn_shared_destroy(&d.shared);
	pthread_cond_destroy(&d.start_cond);
	pthread_mutex_destroy(&d.start_lock);
	conf_free(d.boot_conf); /* last: the initial snapshot pointed into it */
	if (pidfile)
		unlink(pidfile);
	libevent_global_shutdown();
	if (r < 0)
		log_err("daemon", "stopped on error: %s", strerror(-r));
	return r < 0 ? 1 : 0;
}
