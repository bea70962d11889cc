/* ternd: the Tern TURN/STUN relay daemon. Parses the command line and hands
 * over to the daemon. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "relay/io/daemon.h"

#define DEFAULT_CONFIG "/etc/tern/ternd.conf"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ternd [-c FILE] [--check-config] [--pidfile FILE]\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
		"      --check-config  validate the configuration and exit (0 valid, 1 not)\n"
		"      --pidfile FILE  write the pid here while running (for ternctl reload/drain)\n"
		"  -V, --version       print the version\n"
		"  -h, --help          this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = DEFAULT_CONFIG, *pidfile = NULL;
	int check = 0, c;
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'k': check = 1; break;
		case 'p': pidfile = optarg; break;
		case 'V': puts("ternd " TERN_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return check ? daemon_check_config(config) : daemon_run(config, pidfile);
}
