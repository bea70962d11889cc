/* systemd integration: readiness, status, reload and stop notifications,
 * the watchdog, and socket activation. The only file that includes
 * <systemd/sd-daemon.h> is sdnotify.c; every function is a harmless no-op
 * when ternd does not run under systemd (no NOTIFY_SOCKET / LISTEN_FDS). */
#ifndef TERN_RELAY_IO_SDNOTIFY_H
#define TERN_RELAY_IO_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/sockaddr.h"

/* READY=1 with a STATUS= line. */
void sdnotify_ready(const char *status);
/* RELOADING=1 plus MONOTONIC_USEC= (systemd >= 253 wants it; 252 ignores it). */
void sdnotify_reloading(void);
void sdnotify_stopping(void);
void sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval in microseconds, 0 when the watchdog is off. */
uint64_t sdnotify_watchdog_usec(void);
/* WATCHDOG=1: call only when every worker loop is known to be responsive. */
void sdnotify_watchdog(void);

/* Socket activation: the passed socket matching this type (SOCK_DGRAM or
 * SOCK_STREAM) and bound address, or -1 when none was passed for it. The
 * first call reads LISTEN_FDS and unsets the variables. */
int sdnotify_listen_fd(int type, const struct sockaddr_storage *addr);
/* How many passed sockets were not claimed by any listener (they are
 * configuration mistakes worth a warning). */
int sdnotify_unclaimed_fds(void);

#endif
