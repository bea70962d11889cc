/* The control thread's state, shared by daemon.c (start and stop) and
 * control.c (reload and drain). Internal to relay/io. */
#ifndef TERN_RELAY_IO_DAEMON_INTERNAL_H
#define TERN_RELAY_IO_DAEMON_INTERNAL_H

#include <pthread.h>

#include "auth/revocation_feed.h"
#include "relay/io/watchdog.h"
#include "relay/io/worker.h"

struct daemon {
	const char *config_path;
	struct tern_config *boot_conf;  /* owned: the workers' first snapshot points into it */
	struct turn_snapshot *snap;     /* in force; this thread holds one reference */
	struct turn_shared shared;
	struct io_shared io;
	struct worker *workers;
	unsigned n_workers;
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	struct event_base *base;
	struct watchdog watchdog;
	struct event *drain_timer;
	uint64_t drain_deadline_ms;
	struct revocation_feed *feed;   /* NULL without revocation.redis */
	SSL_CTX *redis_tls;
	char redis_password[256];
	struct observe *observe;        /* metrics endpoint and audit trail (observe.h) */
};

/* SIGHUP: a complete new configuration, or the old one and the reason. */
void control_reload(struct daemon *d);
/* SIGUSR1: refuse new allocations, exit when the last one ends or at the deadline. */
void control_drain(struct daemon *d);
void control_destroy(struct daemon *d);

/* revocations.c: the Redis revocation feed, when configured. */
int revocations_start(struct daemon *d);
void revocations_stop(struct daemon *d);

#endif
