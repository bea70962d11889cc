/* Unit tests for conf/config.c: defaults, every kind of error with its
 * file:line and key, secrets path resolution, and the two shipped configs.
 * Everything is written into one mkdtemp folder per run. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/config.h"

#define SECRET "0123456789abcdef-test-secret"

static char dir[64];
static char conf_path[PATH_MAX];
static char err[1024];

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static const char *in_dir(const char *name)
{
	static char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tern-config-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	write_file(in_dir("secrets"), SECRET "\n", 0600);
	snprintf(conf_path, sizeof(conf_path), "%s/tern.conf", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads text as tern.conf in the temp folder. */
static int load(const char *text, struct tern_config **c)
{
	write_file(conf_path, text, 0644);
	err[0] = '\0';
	return conf_load(conf_path, c, err, sizeof(err));
}

/* The text must fail, and the message must start with "<path>:<line>: "
 * (line 0: "<path>: ") and contain want. */
static void expect_error(const char *text, int line, const char *want)
{
	struct tern_config *c = (struct tern_config *)(uintptr_t)0x1;
	int r = load(text, &c);
	if (r >= 0)
		fail_msg("accepted:\n%s", text);
	assert_ptr_equal(c, (struct tern_config *)(uintptr_t)0x1);   /* untouched */
	char prefix[PATH_MAX + 32];
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", conf_path);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want))
		fail_msg("got \"%s\", want \"%s...%s\"", err, prefix, want);
}

/* Required keys only, one per line so that errors appended below have
 * known line numbers (this block is lines 1..4). */
#define MIN_CONF \
	"realm = \"example.org\";\n" \
	"listen: { udp = [ \"127.0.0.1:3478\" ]; };\n" \
	"relay: { addresses = [ \"192.0.2.1\" ]; };\n" \
	"auth: { secrets_file = \"secrets\"; };\n"

/* ---- success ---------------------------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	struct tern_config *c = NULL;
	assert_int_equal(load(MIN_CONF, &c), 0);
	assert_string_equal(err, "");
	assert_string_equal(c->path, conf_path);
	assert_true(c->workers >= 1 && c->workers <= 256);   /* 0 resolved to the CPU count */
	assert_string_equal(c->realm, "example.org");
	assert_string_equal(c->software, "");
	assert_int_equal(c->n_udp, 1);
	assert_int_equal(c->n_tcp, 0);
	assert_int_equal(c->udp[0].ss_family, AF_INET);
	assert_int_equal(sockaddr_port(&c->udp[0]), 3478);
	assert_true(c->has_relay_v4);
	assert_false(c->has_relay_v6);
	assert_int_equal(sockaddr_port(&c->relay_v4), 0);
	assert_int_equal(c->port_min, 49152);
	assert_int_equal(c->port_max, 65535);
	assert_string_equal(c->secrets_file, in_dir("secrets"));
	assert_int_equal(c->secrets.hmac, SECRETS_HMAC_SHA1);
	assert_int_equal(c->secrets.n, 1);
	assert_memory_equal(c->secrets.s[0].value, SECRET, strlen(SECRET));
	assert_int_equal(c->max_ttl, 86400);
	assert_int_equal(c->nonce_lifetime, 600);
	assert_int_equal(c->clock_skew, 30);
	assert_int_equal(c->allocations_total, 100000);
	assert_int_equal(c->allocations_per_user, 20);
	assert_int_equal(c->permissions_per_allocation, 32);
	assert_int_equal(c->channels_per_allocation, 32);
	assert_int_equal(c->default_lifetime, 600);
	assert_int_equal(c->max_lifetime, 3600);
	assert_int_equal(c->unauth_rate, 20);
	assert_int_equal(c->unauth_burst, 40);
	assert_int_equal(c->n_allow, 0);
	assert_int_equal(c->n_deny, 0);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	conf_free(c);
	conf_free(NULL);
}

static void test_every_key(void **state)
{
	(void)state;
	struct tern_config *c = NULL;
	const char *text =
		"workers = 3;\n"
		"realm = \"Example Realm-1\";\n"
		"software = \"tern 0.1\";\n"
		"listen: {\n"
		"  udp = ( \"0.0.0.0:3478\", \"[::]:3478\" );\n"   /* list syntax too */
		"  tcp = [ \"[2001:db8::1]:443\" ];\n"
		"};\n"
		"relay: { addresses = [ \"2001:db8::7\", \"198.51.100.7\" ];\n"
		"  port_min = 50000; port_max = 50000; };\n"   /* one-port range is fine */
		"auth: { secrets_file = \"secrets\"; hmac = \"sha256\"; max_ttl = 60L;\n"
		"  nonce_lifetime = 10; clock_skew = 0; };\n"
		"limits: { allocations_total = 10000000; allocations_per_user = 1;\n"
		"  permissions_per_allocation = 1024; channels_per_allocation = 4096;\n"
		"  default_lifetime = 86400; max_lifetime = 86400; unauth_rate = 0x10;\n"
		"  unauth_burst = 100000; };\n"
		"peers: { allow = [ \"10.0.0.0/8\", \"fd00::/8\" ]; deny = [ \"10.1.0.0/16\" ]; };\n"
		"log: { level = \"debug\"; };\n";
	assert_int_equal(load(text, &c), 0);
	assert_int_equal(c->workers, 3);
	assert_string_equal(c->realm, "Example Realm-1");
	assert_string_equal(c->software, "tern 0.1");
	assert_int_equal(c->n_udp, 2);
	assert_int_equal(c->udp[1].ss_family, AF_INET6);
	assert_int_equal(c->n_tcp, 1);
	assert_int_equal(sockaddr_port(&c->tcp[0]), 443);
	assert_true(c->has_relay_v4 && c->has_relay_v6);
	assert_int_equal(c->relay_v6.ss_family, AF_INET6);
	assert_int_equal(c->relay_v4.ss_family, AF_INET);
	assert_int_equal(c->port_min, 50000);
	assert_int_equal(c->port_max, 50000);
	assert_int_equal(c->secrets.hmac, SECRETS_HMAC_SHA256);
	assert_int_equal(c->max_ttl, 60);
	assert_int_equal(c->nonce_lifetime, 10);
	assert_int_equal(c->clock_skew, 0);
	assert_int_equal(c->allocations_total, 10000000);
	assert_int_equal(c->allocations_per_user, 1);
	assert_int_equal(c->permissions_per_allocation, 1024);
	assert_int_equal(c->channels_per_allocation, 4096);
	assert_int_equal(c->default_lifetime, 86400);
	assert_int_equal(c->max_lifetime, 86400);
	assert_int_equal(c->unauth_rate, 16);
	assert_int_equal(c->unauth_burst, 100000);
	assert_int_equal(c->n_allow, 2);
	assert_int_equal(c->allow[1].family, AF_INET6);
	assert_int_equal(c->n_deny, 1);
	assert_int_equal(c->deny[0].prefix, 16);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	conf_free(c);
}

/* ---- unknown keys ----------------------------------------------------- */

static void test_unknown_key(void **state)
{
	(void)state;
	expect_error(MIN_CONF "limits: {\n  max_lifetme = 600;\n};\n", 6,
		     "unknown key 'limits.max_lifetme'");
	expect_error(MIN_CONF "relam = \"x\";\n", 5, "unknown key 'relam'");
	/* a group nested where only keys belong */
	expect_error(MIN_CONF "log: {\n  level = \"info\";\n  sub: { a = 1; };\n};\n", 7,
		     "unknown key 'log.sub'");
}

static void test_unknown_group(void **state)
{
	(void)state;
	expect_error(MIN_CONF "\nredis: { host = \"x\"; };\n", 6, "unknown key 'redis'");
	/* a known group written as a value */
	expect_error(MIN_CONF "limits = 5;\n", 5, "'limits' must be a group");
}

/* ---- types and ranges ------------------------------------------------- */

static void test_wrong_type(void **state)
{
	(void)state;
	expect_error("realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\";\n  max_ttl = \"3600\"; };\n",
		     5, "'auth.max_ttl' must be an integer");
	expect_error(MIN_CONF "workers = 1.5;\n", 5, "'workers' must be an integer");
	expect_error(MIN_CONF "workers = true;\n", 5, "'workers' must be an integer");
	expect_error(MIN_CONF "software = 7;\n", 5, "'software' must be a string");
	expect_error(MIN_CONF "log: { level = [ \"info\" ]; };\n", 5, "'log.level' must be a string");
	expect_error(MIN_CONF "peers: { deny = \"10.0.0.0/8\"; };\n", 5,
		     "'peers.deny' must be a list of strings");
	expect_error(MIN_CONF "peers: {\n  deny = ( \"10.0.0.0/8\",\n    8 );\n};\n", 7,
		     "'peers.deny' must be a list of strings");
}

static void test_out_of_range(void **state)
{
	(void)state;
	expect_error(MIN_CONF "limits: { max_lifetime = 100000; };\n", 5,
		     "'limits.max_lifetime' must be between 30 and 86400 (got 100000)");
	expect_error(MIN_CONF "workers = 257;\n", 5, "'workers' must be between 0 and 256 (got 257)");
	expect_error(MIN_CONF "workers = -1;\n", 5, "'workers' must be between 0 and 256 (got -1)");
	expect_error(MIN_CONF "limits: { unauth_rate = 9999999999999L; };\n", 5,
		     "'limits.unauth_rate' must be between 1 and 100000 (got 9999999999999)");
	expect_error(MIN_CONF "\nlimits: { allocations_total = 0; };\n", 6,
		     "'limits.allocations_total' must be between 1 and 10000000 (got 0)");
}

static void test_cross_checks(void **state)
{
	(void)state;
	const char *head = "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
			   "auth: { secrets_file = \"secrets\"; };\n";
	char text[1024];
	snprintf(text, sizeof(text), "%srelay: {\n  addresses = [ \"192.0.2.1\" ];\n"
		 "  port_min = 50000;\n  port_max = 40000;\n};\n", head);
	expect_error(text, 7, "'relay.port_max' must be between 50000 ('relay.port_min') "
		     "and 65535 (got 40000)");
	snprintf(text, sizeof(text), "%srelay: {\n  addresses = [ \"192.0.2.1\" ];\n"
		 "  port_min = 1023;\n};\n", head);
	expect_error(text, 6, "'relay.port_min' must be between 1024 and 65535 (got 1023)");
	expect_error(MIN_CONF "limits: {\n  default_lifetime = 4000;\n};\n", 6,
		     "'limits.max_lifetime' must be between 4000 ('limits.default_lifetime') "
		     "and 86400 (got 3600)");
	expect_error("realm = \"r\";\nlisten: {\n  udp = [];\n};\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n",
		     2, "at least one listener");
	expect_error("realm = \"r\";\nrelay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n", 0, "at least one listener");
}

/* ---- strings with rules ----------------------------------------------- */

static void test_strings(void **state)
{
	(void)state;
	expect_error(MIN_CONF "\n" "log: { level = \"verbose\"; };\n", 6,
		     "'log.level' must be one of error, warning, info, debug (got 'verbose')");
	expect_error("realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: {\n  secrets_file = \"secrets\";\n  hmac = \"md5\";\n};\n",
		     6, "'auth.hmac' must be \"sha1\" or \"sha256\" (got 'md5')");
	expect_error(MIN_CONF "\n" "media: { policy = \"strict\"; };\n", 6,
		     "'media.policy' must be \"off\", \"observe\" or \"enforce\" (got 'strict')");
	expect_error(MIN_CONF "\n" "audit: { client_address = \"hashed\"; };\n", 6,
		     "'audit.client_address' must be \"full\", \"truncated\" or \"omit\" (got 'hashed')");
	expect_error("realm = \"\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n", 1, "'realm' must not be empty");
	expect_error("realm = \"a\\tb\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n", 1, "'realm' must be printable");
	char text[1024];
	snprintf(text, sizeof(text), "realm = \"%0128d\";\n%s", 0, strchr(MIN_CONF, '\n') + 1);
	expect_error(text, 1, "'realm' is too long (at most 127 characters)");
	/* hostile bytes are not echoed back raw */
	expect_error(MIN_CONF "log: { level = \"\\x1b[31m\"; };\n", 5, "(got '?[31m')");
}

/* ---- addresses -------------------------------------------------------- */

static void test_bad_listen(void **state)
{
	(void)state;
	static const struct { const char *value, *want; } cases[] = {
		{ "127.0.0.1", "'listen.tcp' entry '127.0.0.1' is not an address with a port" },
		{ "127.0.0.1:0", "entry '127.0.0.1:0' is not" },
		{ "127.0.0.1:65536", "entry '127.0.0.1:65536' is not" },
		{ "[::1]", "entry '[::1]' is not" },
		{ "::1:3478", "entry '::1:3478' is not" },
		{ "localhost:3478", "entry 'localhost:3478' is not" },
		{ "", "entry '' is not" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "realm = \"r\";\nrelay: { addresses = [ \"192.0.2.1\" ]; };\n"
			 "auth: { secrets_file = \"secrets\"; };\nlisten: {\n  tcp = [\n  \"%s\" ];\n};\n",
			 cases[i].value);
		expect_error(text, 6, cases[i].want);
	}
	expect_error("realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\",\n  \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n", 3, "'listen.udp' lists '127.0.0.1:1' twice");
	char text[2048] = "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\"";
	for (int i = 2; i <= CONF_MAX_LISTEN + 1; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), ", \"127.0.0.1:%d\"", i);
	strcat(text, " ]; };\nrelay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n");
	expect_error(text, 2, "'listen.udp' has more than 16 entries");
}

static void test_relay_addresses(void **state)
{
	(void)state;
	static const struct { const char *list, *want; } cases[] = {
		{ "\"192.0.2.1\", \"192.0.2.2\"", "'relay.addresses' has more than one IPv4 address" },
		{ "\"::1\", \"::2\"", "has more than one IPv6 address" },
		{ "\"192.0.2.1:3478\"", "entry '192.0.2.1:3478' is not an IP address" },
		{ "\"[::1]\"", "entry '[::1]' is not an IP address" },
		{ "\"0.0.0.0\"", "entry '0.0.0.0' must be a concrete address, not a wildcard" },
		{ "\"::\"", "entry '::' must be a concrete address" },
		{ "", "'relay.addresses' must name at least one address" },
		{ "\"192.0.2.1\", \"::1\", \"::2\"", "'relay.addresses' has more than 2 entries" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
			 "auth: { secrets_file = \"secrets\"; };\nrelay: { addresses = [ %s ]; };\n",
			 cases[i].list);
		expect_error(text, 4, cases[i].want);
	}
}

static void test_bad_cidr(void **state)
{
	(void)state;
	expect_error(MIN_CONF "peers: {\n  allow = [ \"10.0.0.0/8\" ];\n  deny = [ \"::1/128\",\n"
		     "    \"10.0.0.1/8\" ];\n};\n", 8,
		     "'peers.deny' entry '10.0.0.1/8' is not a CIDR prefix");
	expect_error(MIN_CONF "peers: { allow = [ \"10.0.0.0/33\" ]; };\n", 5,
		     "'peers.allow' entry '10.0.0.0/33' is not a CIDR prefix");
	expect_error(MIN_CONF "peers: { allow = [ \"bogus\" ]; };\n", 5, "entry 'bogus'");
}

/* ---- required keys, files, syntax ------------------------------------- */

static void test_missing_required(void **state)
{
	(void)state;
	expect_error("listen: { udp = [ \"127.0.0.1:1\" ]; };\nrelay: { addresses = [ \"192.0.2.1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n", 0, "missing required key 'realm'");
	expect_error("realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "auth: { secrets_file = \"secrets\"; };\n", 0,
		     "missing required key 'relay.addresses'");
	expect_error("realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\n", 0,
		     "missing required key 'auth.secrets_file'");
	expect_error("realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		     "relay: { addresses = [ \"192.0.2.1\" ]; };\nauth: { secrets_file = \"\"; };\n",
		     4, "'auth.secrets_file' must not be empty");
}

static void test_missing_secrets(void **state)
{
	(void)state;
	struct tern_config *c = NULL;
	const char *text = "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
			   "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
			   "auth: { secrets_file = \"no-such-secrets\"; };\n";
	assert_true(load(text, &c) < 0);
	assert_null(c);
	/* secrets_load's own message, naming the resolved path */
	assert_non_null(strstr(err, in_dir("no-such-secrets")));

	write_file(in_dir("open-secrets"), SECRET "\n", 0644);
	text = "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
	       "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
	       "auth: { secrets_file = \"open-secrets\"; };\n";
	assert_int_equal(load(text, &c), -EPERM);
	assert_non_null(strstr(err, in_dir("open-secrets")));
	unlink(in_dir("open-secrets"));
}

static void test_relative_secrets(void **state)
{
	(void)state;
	char sub[PATH_MAX], sub_conf[PATH_MAX], sub_secrets[PATH_MAX], cwd[PATH_MAX];
	snprintf(sub, sizeof(sub), "%s/etc", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub_secrets, sizeof(sub_secrets), "%s/etc/keys", dir);
	assert_int_equal(mkdir(sub_secrets, 0700), 0);
	strcat(sub_secrets, "/s");
	write_file(sub_secrets, SECRET "\n", 0600);
	snprintf(sub_conf, sizeof(sub_conf), "%s/etc/t.conf", dir);
	write_file(sub_conf, "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		   "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		   "auth: { secrets_file = \"keys/s\"; };\n", 0644);

	/* relative to the config file's folder, not to the working directory */
	struct tern_config *c = NULL;
	assert_int_equal(conf_load(sub_conf, &c, err, sizeof(err)), 0);
	assert_string_equal(c->secrets_file, sub_secrets);
	conf_free(c);

	/* a relative config path is made absolute, so a reload after chdir works */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	c = NULL;
	int r = conf_load("etc/t.conf", &c, err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(r, 0);
	assert_string_equal(c->path, sub_conf);
	assert_string_equal(c->secrets_file, sub_secrets);
	conf_free(c);

	/* an absolute secrets path is used as written */
	char text[PATH_MAX + 256];
	snprintf(text, sizeof(text), "realm = \"r\";\nlisten: { udp = [ \"127.0.0.1:1\" ]; };\n"
		 "relay: { addresses = [ \"192.0.2.1\" ]; };\n"
		 "auth: { secrets_file = \"%s\"; };\n", sub_secrets);
	assert_int_equal(load(text, &c), 0);
	assert_string_equal(c->secrets_file, sub_secrets);
	conf_free(c);

	unlink(sub_secrets);
	unlink(sub_conf);
	*strrchr(sub_secrets, '/') = '\0';
	rmdir(sub_secrets);
	rmdir(sub);
}

static void test_syntax_and_file_errors(void **state)
{
	(void)state;
	expect_error(MIN_CONF "\nworkers = ;\n", 6, "syntax error");
	expect_error("realm = \"r\";\nrealm = \"s\";\n", 2, "duplicate setting name");
	expect_error("realm = \"unterminated;\n", 2, "syntax error");   /* at end of file */
	expect_error(MIN_CONF "  @include \"/etc/passwd\"\n", 5, "@include is not supported");

	/* NUL bytes would hide the rest of the file from libconfig */
	FILE *f = fopen(conf_path, "w");
	assert_non_null(f);
	fwrite("realm = \"r\";\n\0x", 1, 15, f);
	fclose(f);
	struct tern_config *c = NULL;
	assert_int_equal(conf_load(conf_path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: NUL byte"));

	assert_int_equal(conf_load(in_dir("absent.conf"), &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "absent.conf: cannot open"));
	assert_int_equal(conf_load(dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_null(c);

	/* a tiny error buffer truncates, never overflows */
	char small[8];
	assert_true(conf_load(in_dir("absent.conf"), &c, small, sizeof(small)) < 0);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_true(conf_load(in_dir("absent.conf"), &c, NULL, 0) < 0);
}

/* ---- the shipped files ------------------------------------------------ */

/* Copies src into the temp folder as name, replacing the line containing
 * `match` (if any) with `replacement`. */
static void copy_conf(const char *src, const char *name, const char *match, const char *replacement)
{
	FILE *in = fopen(src, "r");
	assert_non_null(in);
	FILE *out = fopen(in_dir(name), "w");
	assert_non_null(out);
	char line[1024];
	bool replaced = match == NULL;
	while (fgets(line, sizeof(line), in)) {
		if (match && strstr(line, match)) {
			fputs(replacement, out);
			replaced = true;
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	fclose(out);
	assert_true(replaced);
}

static void test_dev_conf(void **state)
{
	(void)state;
	copy_conf(TEST_SOURCE_DIR "/conf/dev.conf", "dev.conf", NULL, NULL);
	write_file(in_dir("dev.secrets"), SECRET "\n", 0600);
	struct tern_config *c = NULL;
	if (conf_load(in_dir("dev.conf"), &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(c->realm, "tern.dev");
	assert_int_equal(c->n_udp, 2);
	assert_int_equal(c->n_tcp, 2);
	assert_int_equal(c->udp[1].ss_family, AF_INET6);
	assert_true(c->has_relay_v4 && c->has_relay_v6);
	assert_int_equal(c->port_min, 61000);
	assert_int_equal(c->port_max, 61999);
	assert_int_equal(c->n_allow, 2);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	conf_free(c);
	unlink(in_dir("dev.conf"));
	unlink(in_dir("dev.secrets"));
}

static void test_ternd_conf(void **state)
{
	(void)state;
	/* its secrets live in /etc/tern; point it at ours, change nothing else */
	copy_conf(TEST_SOURCE_DIR "/conf/ternd.conf", "ternd.conf", "secrets_file =",
		  "  secrets_file = \"secrets\";\n");
	struct tern_config *c = NULL;
	if (conf_load(in_dir("ternd.conf"), &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(c->n_udp, 2);
	assert_int_equal(c->n_tcp, 2);
	assert_int_equal(sockaddr_port(&c->tcp[1]), 3478);
	assert_true(c->has_relay_v4 && c->has_relay_v6);
	/* the shipped values equal the documented defaults */
	assert_int_equal(c->port_min, 49152);
	assert_int_equal(c->max_ttl, 86400);
	assert_int_equal(c->max_lifetime, 3600);
	assert_int_equal(c->unauth_burst, 40);
	assert_int_equal(c->secrets.hmac, SECRETS_HMAC_SHA1);
	conf_free(c);
	unlink(in_dir("ternd.conf"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_unknown_group),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_relay_addresses),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_missing_secrets),
		cmocka_unit_test(test_relative_secrets),
		cmocka_unit_test(test_syntax_and_file_errors),
		cmocka_unit_test(test_dev_conf),
		cmocka_unit_test(test_ternd_conf),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
