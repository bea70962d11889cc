/* ternctl audit verify FILE: walks the audit trail (metrics/audit.h) and
 * recomputes every record's hash and link. Prints "OK: N records" and exits
 * 0, or names the first broken line and why (edited, deleted/reordered,
 * cut off) and exits 1. Reading needs no secret: tamper evidence comes from
 * the chain, so anyone holding a copy can check it. */
#include "auth/ternctl_audit.h"

#include <errno.h>
#include <string.h>

#include "metrics/audit.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

void audit_help(FILE *out)
{
	fputs("Usage: ternctl audit verify FILE\n"
	      "\n"
	      "Checks an audit trail written by ternd (audit.file): every record's hash\n"
	      "must match its contents, every record's prev the record before it, and\n"
	      "the first record must be the trail's creation record. Prints\n"
	      "\"OK: N records\", or the first broken line and why.\n"
	      "\n"
	      "Exit status: 0 intact, 1 broken or unreadable, 2 usage error.\n", out);
}

static int verify(const char *path)
{
	unsigned long records = 0, line = 0;
	char why[200];
	int r = audit_verify_file(path, &records, &line, why, sizeof(why));
	if (r == -EBADMSG) {
		printf("%s: line %lu: %s\n", path, line, why);
		printf("BROKEN: %lu records verified before line %lu\n", records, line);
		return EXIT_RUNTIME;
	}
	if (r < 0) {
		fprintf(stderr, "ternctl: %s: %s\n", path, strerror(-r));
		return EXIT_RUNTIME;
	}
	printf("OK: %lu records\n", records);
	return EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		audit_help(stdout);
		return EXIT_OK;
	}
	if (argc != 3 || strcmp(argv[1], "verify") != 0) {
		audit_help(stderr);
		return EXIT_USAGE;
	}
	return verify(argv[2]);
}
