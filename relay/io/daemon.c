/* ternd's control thread: configuration, worker start and stop, signals.
 * Later issues add here the config reload, the Redis revocation feed, the
 * metrics endpoint and systemd notification, each in its own file. */
#include "relay/io/daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "relay/io/sdnotify.h"
#include "relay/io/watchdog.h"
#include "relay/io/worker.h"

struct daemon {
	struct tern_config *conf;
	struct turn_shared shared;
	struct io_shared io;
	struct worker *workers;
	unsigned n_workers;
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	struct event_base *base;
	struct watchdog watchdog;
};

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
	d->n_workers = d->conf->workers;
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

/* SIGHUP: renewed TLS certificates are loaded without dropping anything;
 * sessions already up keep the certificate they started with. */
static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct daemon *d = arg;
	sdnotify_reloading();
	if (d->io.has_tls) {
		char err[512];
		if (tls_server_reload(&d->io.tls, d->conf, err, sizeof(err)) == 0)
			log_info("daemon", "SIGHUP: TLS certificate reloaded");
		else
			log_err("daemon", "SIGHUP: keeping the old TLS certificate: %s", err);
	}
	/* The rest of the configuration is reloaded with the appliance issue. */
	sdnotify_ready("serving"); /* after a failed reload too: the old one serves */
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

static int run_until_signal(struct daemon *d)
{
	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	struct event *term = evsignal_new(d->base, SIGTERM, on_terminate, d);
	struct event *intr = evsignal_new(d->base, SIGINT, on_terminate, d);
	struct event *hup = evsignal_new(d->base, SIGHUP, on_hangup, d);
	int r = -ENOMEM;
	if (term && intr && hup && evsignal_add(term, NULL) == 0 && evsignal_add(intr, NULL) == 0 &&
	    evsignal_add(hup, NULL) == 0 &&
	    watchdog_start(&d->watchdog, d->base, d->workers, d->n_workers) == 0) {
		sdnotify_ready("serving");
		r = event_base_dispatch(d->base) < 0 ? -EIO : 0;
	}
	watchdog_stop(&d->watchdog);
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	if (hup)
		event_free(hup);
	event_base_free(d->base);
	return r;
}

int daemon_run(const char *config_path)
{
	struct daemon d = { 0 };
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		log_err("daemon", "libevent has no thread support");
		return 1;
	}
	if (load_config(config_path, &d.conf) < 0)
		return 1;
	log_set_level(d.conf->log_level);
	char err[256];
	if (turn_shared_init(&d.shared, d.conf, err, sizeof(err)) < 0) {
		log_err("daemon", "%s", err);
		conf_free(d.conf);
		return 1;
	}
	if (io_shared_init(&d.io, d.conf) < 0) {
		io_shared_destroy(&d.io);
		turn_shared_destroy(&d.shared);
		conf_free(d.conf);
		return 1;
	}
	pthread_mutex_init(&d.start_lock, NULL);
	pthread_cond_init(&d.start_cond, NULL);
	int r = start_workers(&d);
	if (r == 0) {
		log_info("daemon", "ready: %u workers, %zu UDP, %zu TCP and %zu TLS listeners, "
			 "relay ports %u-%u", d.n_workers, d.conf->n_udp, d.conf->n_tcp,
			 d.conf->n_tls, d.conf->port_min, d.conf->port_max);
		int unclaimed = sdnotify_unclaimed_fds();
		if (unclaimed > 0)
			log_warn("daemon", "%d socket(s) passed by systemd match no listener; compare "
				 "ternd.socket with listen.* and tls.listen", unclaimed);
		r = run_until_signal(&d);
	} else {
		sdnotify_status("failed to start, see the journal");
	}
	stop_workers(&d);
	io_shared_destroy(&d.io);
	turn_shared_destroy(&d.shared);
	pthread_cond_destroy(&d.start_cond);
	pthread_mutex_destroy(&d.start_lock);
	conf_free(d.conf);
	libevent_global_shutdown();
	if (r < 0)
		log_err("daemon", "stopped on error: %s", strerror(-r));
	return r < 0 ? 1 : 0;
}
