/* ternctl: the operator's control tool. One table of subcommands, each a
 * function taking its own argv; today only "mint", which issues a REST TURN
 * credential from the secrets file and prints it with a ready-to-paste
 * WebRTC iceServers entry. Later: revoke, reload, drain, audit verify.
 *
 * Secrets never come from the command line (they would show in ps and in
 * shell history): only from the secrets file, named directly or through the
 * daemon's config. Exit codes: 0 ok, 1 runtime error, 2 usage error. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/cred.h"
#include "auth/ternctl_audit.h"
#include "auth/ternctl_probe.h"
#include "auth/ternctl_revoke.h"
#include "auth/ternctl_signal.h"
#include "common/monotime.h"
#include "common/sockaddr.h"
#include "conf/config.h"
#include "conf/secrets.h"

#define TERNCTL_DEFAULT_CONFIG "/etc/tern/ternd.conf"
#define TERNCTL_DEFAULT_PORT   3478
#define TERNCTL_TTL_CEILING    31536000   /* a year: the config's own upper bound */
#define TERNCTL_HOST_MAX       255

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct ternctl_cmd {
	const char *name;
	const char *prog;           /* argv[0] for the command, for getopt's messages */
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*help)(FILE *out);
};

/* ---- mint ---------------------------------------------------------------- */

struct mint_opts {
	const char *user;
	int64_t ttl;
	const char *config;         /* NULL: default path, unless secret_file */
	const char *secret_file;
	const char *host;
	uint16_t port;              /* 0: from the config, else 3478 */
	enum secrets_hmac hmac;
	bool hmac_set;
	bool json;
};

/* What minting needs, from the config or from the secrets file alone. */
struct mint_ctx {
	struct tern_config *cfg;
	struct secrets secrets;     /* used when there is no cfg */
	int64_t max_ttl;
	char host[TERNCTL_HOST_MAX + 3];   /* "[v6]" brackets + NUL */
	uint16_t udp_port, tcp_port, tls_port; /* 0: no such listener */
};

static void mint_help(FILE *out)
{
	fprintf(out,
		"Usage: ternctl mint --user ID --ttl SECONDS [options]\n"
		"\n"
		"Mints a TURN REST credential: username \"<expiry>:<ID>\", password\n"
		"base64(HMAC(secret, username)) with the newest secret (the first line of\n"
		"the secrets file). Prints them and a WebRTC iceServers JSON entry.\n"
		"\n"
		"  --user ID           user id: 1..%d printable ASCII characters (0x20..0x7e)\n"
		"  --ttl SECONDS       lifetime, 1..auth.max_ttl of the config (1..%d\n"
		"                      without a config)\n"
		"  --config FILE       daemon config; its auth.secrets_file, auth.hmac,\n"
		"                      auth.max_ttl and first UDP/TCP/TLS listeners are used\n"
		"                      (default %s)\n"
		"  --secret-file FILE  read the secrets file directly instead of a config\n"
		"                      (must be mode 0600 or 0400)\n"
		"  --hmac sha1|sha256  with --secret-file: the HMAC (default sha1)\n"
		"  --host HOST         host name or address clients reach the relay at\n"
		"                      (default: the config's first listener, if not a\n"
		"                      wildcard address)\n"
		"  --port PORT         port for UDP and TCP (default: the config's\n"
		"                      listeners, else %d); TLS uses tls.listen's port\n"
		"  --json              print only the iceServers JSON\n"
		"  -h, --help          this text\n"
		"\n"
		"Secrets are never accepted on the command line.\n"
		"Exit status: 0 ok, 1 runtime error, 2 usage error.\n",
		CRED_MAX_USER_ID, TERNCTL_TTL_CEILING, TERNCTL_DEFAULT_CONFIG,
		TERNCTL_DEFAULT_PORT);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ternctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* Strict decimal: digits only, no sign, within [min, max]. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	int64_t v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A DNS name (letters, digits, '.', '-') or an IPv4 address, or an IPv6
 * address with or without brackets. "host:port" is refused: --port says that. */
static bool host_ok(const char *h)
{
	size_t len = strlen(h);
	if (len == 0 || len > TERNCTL_HOST_MAX)
		return false;
	if (strchr(h, ':') || h[0] == '[') {
		char v6[TERNCTL_HOST_MAX + 1];
		struct in6_addr a;
		bool br = h[0] == '[';
		if (br && (len < 3 || h[len - 1] != ']'))
			return false;
		snprintf(v6, sizeof(v6), "%.*s", (int)(len - 2 * br), h + br);
		return inet_pton(AF_INET6, v6, &a) == 1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = h[i];
		if (!(c == '.' || c == '-' || (c >= '0' && c <= '9') ||
		      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

enum { OPT_USER = 256, OPT_TTL, OPT_CONFIG, OPT_SECRET_FILE, OPT_HOST, OPT_PORT, OPT_HMAC,
       OPT_JSON };

static const struct option mint_longopts[] = {
	{ "user", required_argument, NULL, OPT_USER },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "hmac", required_argument, NULL, OPT_HMAC },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Returns -1 to continue, or an exit code (help printed or a usage error). */
static int mint_opt(struct mint_opts *o, int c, const char *arg)
{
	int64_t v;
	switch (c) {
	case OPT_USER:        o->user = arg; return -1;
	case OPT_CONFIG:      o->config = arg; return -1;
	case OPT_SECRET_FILE: o->secret_file = arg; return -1;
	case OPT_HOST:        o->host = arg; return -1;
	case OPT_JSON:        o->json = true; return -1;
	case 'h':             mint_help(stdout); return EXIT_OK;
	case OPT_TTL:
		if (parse_int(arg, 1, TERNCTL_TTL_CEILING, &v) < 0)
			return usage_error("--ttl: '%s' is not a number of seconds in 1..%d",
					   arg, TERNCTL_TTL_CEILING);
		o->ttl = v;
		return -1;
	case OPT_PORT:
		if (parse_int(arg, 1, 65535, &v) < 0)
			return usage_error("--port: '%s' is not a port in 1..65535", arg);
		o->port = (uint16_t)v;
		return -1;
	case OPT_HMAC:
		if (strcmp(arg, "sha1") && strcmp(arg, "sha256"))
			return usage_error("--hmac: '%s' is neither sha1 nor sha256", arg);
		o->hmac = strcmp(arg, "sha1") ? SECRETS_HMAC_SHA256 : SECRETS_HMAC_SHA1;
		o->hmac_set = true;
		return -1;
	default:
		return usage_error("try 'ternctl mint --help'");
	}
}

static int mint_check_opts(const struct mint_opts *o)
{
	if (!o->user)
		return usage_error("mint: --user is required");
	if (o->ttl == 0)
		return usage_error("mint: --ttl is required");
	if (o->config && o->secret_file)
		return usage_error("mint: --config and --secret-file are mutually exclusive");
	if (o->hmac_set && !o->secret_file)
		return usage_error("mint: --hmac applies to --secret-file; with a config, "
				   "auth.hmac decides");
	if (o->host && !host_ok(o->host))
		return usage_error("mint: --host '%s' is not a host name or address", o->host);

	/* Same rules as a minted username's user id: check them via the parser. */
	char probe[CRED_MAX_USER_ID + 3] = "1:";
	size_t len = strnlen(o->user, CRED_MAX_USER_ID + 1);
	struct cred_username u;
	if (len <= CRED_MAX_USER_ID)
		memcpy(probe + 2, o->user, len);
	if (len > CRED_MAX_USER_ID || cred_username_parse(probe, len + 2, &u) < 0)
		return usage_error("mint: --user must be 1..%d printable ASCII characters "
				   "(0x20..0x7e)", CRED_MAX_USER_ID);
	return -1;
}

static int mint_parse(int argc, char **argv, struct mint_opts *o)
{
	int c;
	optind = 0;   /* glibc: full re-initialisation for a subcommand's argv */
	opterr = 1;
	while ((c = getopt_long(argc, argv, "h", mint_longopts, NULL)) != -1) {
		int r = mint_opt(o, c, optarg);
		if (r >= 0)
			return r;
	}
	if (optind < argc)
		return usage_error("mint: unexpected argument '%s'", argv[optind]);
	return mint_check_opts(o);
}

/* The host part of a listener, unless it is a wildcard clients cannot use. */
static void host_from_listener(const struct sockaddr_storage *sa, char *out, size_t cap)
{
	size_t len;
	const uint8_t *ip = sockaddr_ip_bytes(sa, &len);
	static const uint8_t zero[16];
	char text[INET6_ADDRSTRLEN];

	if (memcmp(ip, zero, len) == 0 ||
	    !inet_ntop(sa->ss_family, ip, text, sizeof(text)))
		return;
	snprintf(out, cap, sa->ss_family == AF_INET6 ? "[%s]" : "%s", text);
}

static void ctx_from_config(struct mint_ctx *ctx)
{
	const struct tern_config *c = ctx->cfg;
	ctx->max_ttl = c->max_ttl;
	ctx->udp_port = c->n_udp ? sockaddr_port(&c->udp[0]) : 0;
	ctx->tcp_port = c->n_tcp ? sockaddr_port(&c->tcp[0]) : 0;
	ctx->tls_port = c->n_tls ? sockaddr_port(&c->tls[0]) : 0;
	if (c->n_udp)
		host_from_listener(&c->udp[0], ctx->host, sizeof(ctx->host));
	else if (c->n_tcp)
		host_from_listener(&c->tcp[0], ctx->host, sizeof(ctx->host));
	else if (c->n_tls)
		host_from_listener(&c->tls[0], ctx->host, sizeof(ctx->host));
}

/* Loads the secrets (and the config, if used). Returns an exit code or -1. */
static int mint_load(const struct mint_opts *o, struct mint_ctx *ctx)
{
	char err[512];
	int r;

	ctx->max_ttl = TERNCTL_TTL_CEILING;
	ctx->udp_port = ctx->tcp_port = TERNCTL_DEFAULT_PORT;
	if (o->secret_file) {
		ctx->secrets.hmac = o->hmac;
		r = secrets_load(&ctx->secrets, o->secret_file, err, sizeof(err));
	} else {
		const char *path = o->config ? o->config : TERNCTL_DEFAULT_CONFIG;
		r = conf_load(path, &ctx->cfg, err, sizeof(err));
		if (r == 0)
			ctx_from_config(ctx);
	}
	if (r < 0) {
		fprintf(stderr, "ternctl: %s\n", err);
		if (r == -ENOENT && !o->config && !o->secret_file)
			fprintf(stderr, "ternctl: use --config FILE or --secret-file FILE\n");
		return EXIT_RUNTIME;
	}
	return -1;
}

/* Applies --host/--port over the config and checks what minting needs. */
static int mint_resolve(const struct mint_opts *o, struct mint_ctx *ctx)
{
	if (o->ttl > ctx->max_ttl)
		return usage_error("mint: --ttl %" PRId64 " exceeds the maximum of %" PRId64
				   " seconds (auth.max_ttl)", o->ttl, ctx->max_ttl);
	if (o->port) {
		/* Overrides the port of the transports the relay listens on. */
		ctx->udp_port = ctx->udp_port ? o->port : 0;
		ctx->tcp_port = ctx->tcp_port ? o->port : 0;
	}
	if (o->host) {
		bool bare_v6 = strchr(o->host, ':') && o->host[0] != '[';
		snprintf(ctx->host, sizeof(ctx->host), bare_v6 ? "[%s]" : "%s", o->host);
	}
	if (!ctx->host[0])
		return usage_error("mint: --host is required (no config listener with a "
				   "specific address)");
	if (!ctx->udp_port && !ctx->tcp_port && !ctx->tls_port)
		return usage_error("mint: the config has no listener");
	return -1;
}

/* Prints s as a JSON string; s is printable ASCII (checked before). */
static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void print_ice_servers(FILE *out, const struct mint_ctx *ctx, const char *user,
			      const char *pass)
{
	const char *sep = "";
	fputs("{\"iceServers\":[{\"urls\":[", out);
	if (ctx->udp_port) {
		fprintf(out, "\"turn:%s:%u?transport=udp\"", ctx->host, ctx->udp_port);
		sep = ",";
	}
	if (ctx->tcp_port) {
		fprintf(out, "%s\"turn:%s:%u?transport=tcp\"", sep, ctx->host, ctx->tcp_port);
		sep = ",";
	}
	/* Browsers check the certificate against this host: with TLS, pass
	 * --host with the certificate's name. */
	if (ctx->tls_port)
		fprintf(out, "%s\"turns:%s:%u?transport=tcp\"", sep, ctx->host, ctx->tls_port);
	fputs("],\"username\":", out);
	json_string(out, user);
	fputs(",\"credential\":", out);
	json_string(out, pass);
	fputs("}]}\n", out);
}

static void print_human(const struct mint_ctx *ctx, const char *user, const char *pass,
			int64_t now, int64_t ttl)
{
	time_t expiry = (time_t)(now + ttl);
	struct tm tm;
	char when[32] = "?";
	if (gmtime_r(&expiry, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

	printf("username: %s\npassword: %s\nexpires:  %s (in %" PRId64 " s)\n\n", user, pass,
	       when, ttl);
	print_ice_servers(stdout, ctx, user, pass);
}

static int mint_emit(const struct mint_opts *o, const struct mint_ctx *ctx)
{
	const struct secrets *s = ctx->cfg ? &ctx->cfg->secrets : &ctx->secrets;
	char user[CRED_MAX_USERNAME + 1], pass[CRED_PASSWORD_CAP];
	int64_t now = walltime_s();

	int r = cred_mint(s, o->user, now, o->ttl, user, sizeof(user), pass);
	if (r < 0) {
		fprintf(stderr, "ternctl: cannot mint: %s\n", strerror(-r));
		return EXIT_RUNTIME;
	}
	if (o->json)
		print_ice_servers(stdout, ctx, user, pass);
	else
		print_human(ctx, user, pass, now, o->ttl);
	explicit_bzero(pass, sizeof(pass));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ternctl: cannot write output: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

static int cmd_mint(int argc, char **argv)
{
	struct mint_opts o = { .hmac = SECRETS_HMAC_SHA1 };
	struct mint_ctx ctx = { 0 };

	int r = mint_parse(argc, argv, &o);
	if (r < 0)
		r = mint_load(&o, &ctx);
	if (r < 0)
		r = mint_resolve(&o, &ctx);
	if (r < 0)
		r = mint_emit(&o, &ctx);
	conf_free(ctx.cfg);
	secrets_wipe(&ctx.secrets);
	return r;
}

/* ---- reload, drain -------------------------------------------------------- */

static void reload_help(FILE *out)
{
	signal_help(out, "reload", "Makes ternd load its configuration again (SIGHUP): a valid file\n"
		    "takes effect without dropping allocations; an invalid one is refused\n"
		    "and the reason logged. Certificates are read again too.");
}

static void drain_help(FILE *out)
{
	signal_help(out, "drain", "Makes ternd drain (SIGUSR1): new allocations are refused (300 to\n"
		    "drain.alternate_server when set, else 508) while existing ones run\n"
		    "on; ternd exits at zero allocations or after drain.deadline.");
}

static int cmd_reload(int argc, char **argv) { return signal_daemon(argc, argv, SIGHUP, reload_help); }
static int cmd_drain(int argc, char **argv) { return signal_daemon(argc, argv, SIGUSR1, drain_help); }

/* ---- dispatch ------------------------------------------------------------ */

static const struct ternctl_cmd commands[] = {
	{ "mint", "ternctl mint", "mint a time-limited TURN credential (REST API scheme)", cmd_mint, mint_help },
	{ "reload", "ternctl reload", "make ternd reload its configuration and certificates", cmd_reload, reload_help },
	{ "drain", "ternctl drain", "make ternd refuse new allocations and exit when calls end", cmd_drain, drain_help },
	{ "revoke", "ternctl revoke", "revoke a user id or one credential on every relay", cmd_revoke, revoke_help },
	{ "revocations", "ternctl revocations", "list the revocations in force", cmd_revocations, revocations_help },
	{ "audit", "ternctl audit", "verify the audit trail's hash chain (audit verify FILE)", cmd_audit, audit_help },
	{ "probe", "ternctl probe", "check a relay end to end with an SRTP stream (RTT, loss, jitter)", cmd_probe, probe_help },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_help(FILE *out)
{
	fputs("Usage: ternctl COMMAND [OPTIONS]\n"
	      "       ternctl help [COMMAND]\n"
	      "\n"
	      "Control tool for the Tern TURN relay.\n"
	      "\n"
	      "Commands:\n", out);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'ternctl COMMAND --help' for a command's options.\n"
	      "Exit status: 0 ok, 1 runtime error, 2 usage error.\n", out);
}

static const struct ternctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stdout);
		return EXIT_OK;
	}
	const struct ternctl_cmd *c = find_command(argv[1]);
	if (!c)
		return usage_error("unknown command '%s'; try 'ternctl --help'", argv[1]);
	c->help(stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h"))
		return cmd_help(argc - 1, argv + 1);

	const struct ternctl_cmd *c = find_command(name);
	if (!c)
		return usage_error("unknown command '%s'; try 'ternctl --help'", name);
	argv[1] = (char *)c->prog;
	return c->run(argc - 1, argv + 1);
}
