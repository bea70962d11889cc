/* systemd integration (see sdnotify.h): readiness, reload and stop
 * notifications, status lines, the watchdog, and the sockets systemd passes
 * when ternd.socket activates the service. The only file that includes
 * <systemd/sd-daemon.h>; built with -DTERN_WITHOUT_SYSTEMD it keeps the same
 * behaviour as running outside systemd (every call a no-op, no passed
 * sockets), so callers never need an #ifdef.
 *
 * Passed sockets: the first sdnotify_listen_fd() reads LISTEN_FDS once (under
 * pthread_once, since workers open their listeners in parallel) and keeps the
 * descriptors. Each call that matches returns a fresh close-on-exec,
 * non-blocking duplicate, so every worker owns and closes its own descriptor
 * while they all share the one kernel socket systemd bound. */
#include "relay/io/sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TERN_WITHOUT_SYSTEMD
#include <systemd/sd-daemon.h>
#else
static int sd_notify(int unset, const char *state) { (void)unset; (void)state; return 0; }
static int sd_watchdog_enabled(int unset, uint64_t *usec) { (void)unset; *usec = 0; return 0; }
static int sd_listen_fds(int unset) { (void)unset; return 0; }
#define SD_LISTEN_FDS_START 3
static int sd_is_socket_sockaddr(int fd, int type, const struct sockaddr *addr,
				      unsigned addr_len, int listening)
{
	(void)fd; (void)type; (void)addr; (void)addr_len; (void)listening;
	return 0;
}
#endif

/* More listeners than the config can name (16 UDP + 16 TCP) plus TLS later. */
#define SDNOTIFY_MAX_FDS 64
/* A STATUS= line; systemctl status shows one line, longer is cut. */
#define SDNOTIFY_STATUS_MAX 256

static struct {
	int fd[SDNOTIFY_MAX_FDS];
	bool claimed[SDNOTIFY_MAX_FDS];
	int n;
	int overflow;         /* passed beyond SDNOTIFY_MAX_FDS: closed, counted unclaimed */
	pthread_mutex_t lock; /* guards claimed[] */
} passed = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t passed_once = PTHREAD_ONCE_INIT;

/* Copies src into dst (capacity cap) replacing every control character with a
 * space: a newline in a status would start another KEY=VALUE assignment (a
 * stray "READY=1", say) in the notification datagram. */
static void status_sanitize(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; cap && src[i] && i + 1 < cap; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
	if (cap)
		dst[i] = '\0';
}

/* Sends "<head>STATUS=<status>" (status sanitized), or head alone. */
static void notify_with_status(const char *head, const char *status)
{
	char clean[SDNOTIFY_STATUS_MAX];
	char msg[SDNOTIFY_STATUS_MAX + 64];
	if (!status) {
		(void)sd_notify(0, head);
		return;
	}
	status_sanitize(clean, sizeof(clean), status);
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", head, clean);
	/* Failing to notify is not worth stopping the relay for: systemd, if it
	 * is waiting, times out and says so itself. */
	(void)sd_notify(0, msg);
}

void sdnotify_ready(const char *status)
{
	notify_with_status("READY=1\n", status);
}

void sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[64];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	(void)sd_notify(0, msg);
}

void sdnotify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

void sdnotify_status(const char *fmt, ...)
{
	char text[SDNOTIFY_STATUS_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	notify_with_status("", text);
}

uint64_t sdnotify_watchdog_usec(void)
{
	uint64_t usec = 0;
	/* Keeps WATCHDOG_USEC in the environment: harmless, and lets a later
	 * call give the same answer. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

void sdnotify_watchdog(void)
{
	(void)sd_notify(0, "WATCHDOG=1");
}

/* Runs once: takes the passed descriptors (sd_listen_fds marks them
 * close-on-exec and unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES). */
static void passed_read(void)
{
	int n = sd_listen_fds(1);
	if (n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (passed.n < SDNOTIFY_MAX_FDS) {
			passed.fd[passed.n++] = fd;
		} else {
			close(fd);
			passed.overflow++;
		}
	}
}

/* An IPv6 listener must be IPv6-only (BindIPv6Only=ipv6-only in the socket
 * unit), as the ones ternd opens itself are: a dual-stack socket would take
 * the IPv4 wildcard's traffic as mapped addresses. */
static bool passed_family_ok(int fd, int family)
{
	int v6only = 0;
	socklen_t len = sizeof(v6only);
	if (family != AF_INET6)
		return true;
	return getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && v6only;
}

/* A duplicate for one worker: close-on-exec and non-blocking like the sockets
 * sock_open_bound() makes. O_NONBLOCK sits on the shared open file, which is
 * what every user of the socket wants anyway. */
static int passed_dup(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
		return -1;
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int sdnotify_listen_fd(int type, const struct sockaddr_storage *addr)
{
	pthread_once(&passed_once, passed_read);
	/* Stream listeners must already listen; a datagram socket never does. */
	int listening = type == SOCK_STREAM ? 1 : -1;
	int r = -1;
	pthread_mutex_lock(&passed.lock);
	for (int i = 0; i < passed.n; i++) {
		int fd = passed.fd[i];
		if (sd_is_socket_sockaddr(fd, type, (const struct sockaddr *)addr,
					       sockaddr_len(addr), listening) <= 0 ||
		    !passed_family_ok(fd, addr->ss_family))
			continue;
		r = passed_dup(fd);
		if (r >= 0)
			passed.claimed[i] = true;
		break;
	}
	pthread_mutex_unlock(&passed.lock);
	return r;
}

int sdnotify_unclaimed_fds(void)
{
	pthread_once(&passed_once, passed_read);
	pthread_mutex_lock(&passed.lock);
	int n = passed.overflow;
	for (int i = 0; i < passed.n; i++)
		n += !passed.claimed[i];
	pthread_mutex_unlock(&passed.lock);
	return n;
}
