/* ternctl reload / drain: signal the running ternd, found through the pid
 * file it writes when started with --pidfile (the systemd unit passes
 * /run/tern/ternd.pid). The same as `systemctl reload ternd` and
 * `systemctl kill -s USR1 ternd`, for hosts without systemd. */
#include "auth/ternctl_signal.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PIDFILE "/run/tern/ternd.pid"

void signal_help(FILE *out, const char *cmd, const char *what)
{
	fprintf(out,
		"Usage: ternctl %s [--pidfile FILE]\n"
		"\n"
		"%s\n"
		"\n"
		"  --pidfile FILE  ternd's pid file (default " DEFAULT_PIDFILE ")\n"
		"  -h, --help      this text\n"
		"Exit status: 0 signal sent, 1 no running ternd, 2 usage error.\n", cmd, what);
}

static int read_pid(const char *path, pid_t *pid)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	long v = 0;
	int n = fscanf(f, "%ld", &v);
	fclose(f);
	if (n != 1 || v <= 1 || v > 4194304)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int signal_daemon(int argc, char **argv, int sig, void (*help)(FILE *))
{
	static const struct option opts[] = {
		{ "pidfile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *pidfile = DEFAULT_PIDFILE;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'p') {
			pidfile = optarg;
		} else if (c == 'h') {
			help(stdout);
			return 0;
		} else {
			help(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		help(stderr);
		return 2;
	}
	pid_t pid = 0;
	int r = read_pid(pidfile, &pid);
	if (r < 0) {
		fprintf(stderr, "ternctl: %s: %s\n", pidfile,
			r == -EINVAL ? "not a pid file" : strerror(-r));
		return 1;
	}
	if (kill(pid, sig) < 0) {
		fprintf(stderr, "ternctl: cannot signal ternd (pid %ld): %s\n", (long)pid,
			strerror(errno));
		return 1;
	}
	return 0;
}
