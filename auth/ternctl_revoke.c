/* ternctl revoke / ternctl revocations: writes to and reads the durable
 * revocation stream in Redis that every ternd follows (see
 * auth/revocation_feed.h for the layout). The user id or username goes to
 * Redis as one verbatim argument, never formatted into a command string. */
#include "auth/ternctl_revoke.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/cred.h"
#include "auth/redis_link.h"
#include "auth/revocation.h"
#include "common/monotime.h"
#include "conf/config.h"

#define DEFAULT_CONFIG "/etc/tern/ternd.conf"

struct session {
	struct event_base *base;
	struct redis_link *link;
	SSL_CTX *tls;
	char password[256];
	char key[256];
	const struct tern_config *conf;
	/* What to do with the answer; runs inside the reply callback, while
	 * the reply is alive. */
	void (*handle)(struct session *s, const redisReply *reply);
	bool json;
	bool done, failed;
	char why[256];
};

static void on_reply(void *arg, redisReply *reply)
{
	struct session *s = arg;
	s->done = true;
	if (!reply) {
		s->failed = true;
		snprintf(s->why, sizeof(s->why), "no answer");
	} else if (reply->type == REDIS_REPLY_ERROR) {
		s->failed = true;
		snprintf(s->why, sizeof(s->why), "%.200s", reply->str ? reply->str : "error");
	} else if (s->handle) {
		s->handle(s, reply);
	}
}

static void on_state(void *arg, bool up, const char *why)
{
	struct session *s = arg;
	if (!up) {
		s->failed = s->done = true;
		snprintf(s->why, sizeof(s->why), "%s", why ? why : "connection failed");
	}
	event_base_loopbreak(s->base);
}

static int session_open(struct session *s, const char *config_path)
{
	char err[1024];
	struct tern_config *conf;
	if (conf_load(config_path, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "ternctl: %s\n", err);
		return 1;
	}
	s->conf = conf;
	if (!conf->has_redis) {
		fprintf(stderr, "ternctl: %s has no revocation.redis\n", config_path);
		return 1;
	}
	struct redis_link_opts o = { .addr = conf->redis, .timeout_ms = 5000 };
	if (conf->redis_username[0])
		o.username = conf->redis_username;
	if (conf->redis_password_file[0]) {
		if (secrets_read_password(conf->redis_password_file, s->password, sizeof(s->password),
					  err, sizeof(err)) < 0) {
			fprintf(stderr, "ternctl: %s\n", err);
			return 1;
		}
		o.password = s->password;
	}
	if (conf->redis_tls) {
		s->tls = redis_tls_context(conf->redis_tls_ca, err, sizeof(err));
		if (!s->tls) {
			fprintf(stderr, "ternctl: %s\n", err);
			return 1;
		}
		o.tls = true;
		o.tls_ctx = s->tls;
		o.tls_server_name = conf->redis_tls_server_name[0] ? conf->redis_tls_server_name : NULL;
	}
	snprintf(s->key, sizeof(s->key), "%srevocations", conf->redis_key_prefix);
	s->base = event_base_new();
	s->link = s->base ? redis_link_new(s->base, &o, on_state, s) : NULL;
	if (!s->link || redis_link_connect(s->link) < 0) {
		fprintf(stderr, "ternctl: cannot connect to Redis\n");
		return 1;
	}
	event_base_dispatch(s->base); /* until connected (or not) */
	if (s->failed) {
		fprintf(stderr, "ternctl: Redis: %s\n", s->why);
		return 1;
	}
	return 0;
}

static void session_close(struct session *s)
{
	redis_link_free(s->link);
	if (s->base)
		event_base_free(s->base);
	if (s->tls)
		SSL_CTX_free(s->tls);
	conf_free((struct tern_config *)s->conf);
	explicit_bzero(s->password, sizeof(s->password));
}

/* Sends one command and waits (bounded by the link's timeout) for its
 * answer, which s->handle sees. Returns an exit code. */
static int run_command(struct session *s, int argc, const char **argv)
{
	size_t lens[16];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redis_link_send(s->link, argc, argv, lens, 0, on_reply, s) < 0) {
		fprintf(stderr, "ternctl: Redis: not connected\n");
		return 1;
	}
	while (!s->done)
		if (event_base_loop(s->base, EVLOOP_ONCE) < 0)
			break;
	if (s->failed || !s->done) {
		fprintf(stderr, "ternctl: Redis: %s\n", s->why[0] ? s->why : "failed");
		return 1;
	}
	return 0;
}

/* ---- revoke ---- */

void revoke_help(FILE *out)
{
	fprintf(out,
		"Usage: ternctl revoke (--user ID | --credential USERNAME) [--config FILE]\n"
		"\n"
		"Revokes every credential of a user id, or one credential, on every relay\n"
		"that follows the same Redis (revocation.redis). Live allocations are torn\n"
		"down within a second; the revocation lasts as long as a credential it\n"
		"covers can still be valid (auth.max_ttl), then expires on its own.\n"
		"\n"
		"  --user ID              the user id part of \"<expiry>:<user-id>\"\n"
		"  --credential USERNAME  one whole username \"<expiry>:<user-id>\"\n"
		"  --config FILE          ternd's config (default " DEFAULT_CONFIG ")\n"
		"Exit status: 0 revoked, 1 Redis or config error, 2 usage error.\n");
}

static void report_added(struct session *s, const redisReply *reply)
{
	(void)s;
	printf("revoked; stream entry %s\n", reply->type == REDIS_REPLY_STRING ? reply->str : "?");
}

int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "credential", required_argument, NULL, 'c' },
		{ "config", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *user = NULL, *credential = NULL, *config = DEFAULT_CONFIG;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'c': credential = optarg; break;
		case 'f': config = optarg; break;
		case 'h': revoke_help(stdout); return 0;
		default: revoke_help(stderr); return 2;
		}
	}
	const char *value = user ? user : credential;
	if (optind != argc || !user == !credential || !value[0] ||
	    strlen(value) > REVOCATION_MAX_VALUE) {
		fprintf(stderr, "ternctl revoke: give exactly one of --user ID or --credential "
			"USERNAME (1..%d bytes)\n", REVOCATION_MAX_VALUE);
		return 2;
	}
	struct session s = { 0 };
	int rc = session_open(&s, config);
	if (rc == 0) {
		/* Trim what can no longer matter while adding (XADD ... MINID ~). */
		char minid[32];
		long long keep_ms = ((long long)walltime_s() - s.conf->max_ttl - s.conf->clock_skew) * 1000;
		snprintf(minid, sizeof(minid), "%lld", keep_ms > 0 ? keep_ms : 0);
		const char *cmd[] = { "XADD", s.key, "MINID", "~", minid, "*",
				      "kind", user ? "user" : "credential", "id", value };
		s.handle = report_added;
		rc = run_command(&s, 10, cmd);
	}
	session_close(&s);
	return rc;
}

/* ---- revocations ---- */

void revocations_help(FILE *out)
{
	fprintf(out,
		"Usage: ternctl revocations [--config FILE] [--json]\n"
		"\n"
		"Lists the revocations in force (from Redis), with when each expires.\n"
		"\n"
		"  --config FILE  ternd's config (default " DEFAULT_CONFIG ")\n"
		"  --json         one JSON object per line\n"
		"Exit status: 0 listed, 1 Redis or config error, 2 usage error.\n");
}

/* Well-formed UTF-8 (no overlongs or surrogates checked beyond the shape:
 * enough to decide whether the bytes can go into JSON as text). */
static bool is_utf8(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (!n || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += n;
	}
	return true;
}

/* A JSON string of the id: text when it is UTF-8 (control characters
 * escaped), else null, with the exact bytes in "id_hex" beside it. */
static void print_json_id(const char *s, size_t len)
{
	if (!is_utf8((const unsigned char *)s, len)) {
		fputs("null", stdout);
	} else {
		putchar('"');
		for (size_t i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)s[i];
			if (ch == '"' || ch == '\\')
				printf("\\%c", ch);
			else if (ch < 0x20 || ch == 0x7f)
				printf("\\u%04x", ch);
			else
				putchar(ch);
		}
		putchar('"');
	}
	fputs(",\"id_hex\":\"", stdout);
	for (size_t i = 0; i < len; i++)
		printf("%02x", (unsigned char)s[i]);
	putchar('"');
}

static void print_entry(const struct tern_config *conf, const redisReply *e, bool json, int64_t now)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	const redisReply *f = e->element[1], *kind = NULL, *id = NULL;
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		if (f->element[i]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->element[i]->str, "kind") == 0)
			kind = f->element[i + 1];
		else if (strcmp(f->element[i]->str, "id") == 0)
			id = f->element[i + 1];
	}
	if (!kind || !id || kind->type != REDIS_REPLY_STRING || id->type != REDIS_REPLY_STRING)
		return;
	/* Only what ternd itself applies (see revocation_feed.c). */
	enum revocation_kind k = strcmp(kind->str, "user") == 0 ? REVOKE_USER
			       : strcmp(kind->str, "credential") == 0 ? REVOKE_CREDENTIAL : 0;
	if (!k || id->len == 0 || id->len > REVOCATION_MAX_VALUE)
		return;
	int64_t until = revocation_until(k, id->str, id->len, strtoll(e->element[0]->str, NULL, 10),
					 conf->max_ttl, conf->clock_skew);
	if (until < now)
		return;
	if (json) {
		printf("{\"entry\":\"%s\",\"kind\":\"%s\",\"id\":", e->element[0]->str,
		       k == REVOKE_USER ? "user" : "credential");
		print_json_id(id->str, id->len);
		printf(",\"until\":%lld}\n", (long long)until);
		return;
	}
	char when[32];
	time_t t = (time_t)until;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	printf("%-10s until %s  ", k == REVOKE_USER ? "user" : "credential", when);
	/* Printable as is; anything else escaped so a terminal is safe. */
	for (size_t i = 0; i < id->len; i++) {
		unsigned char ch = (unsigned char)id->str[i];
		if (ch >= 0x20 && ch < 0x7f)
			putchar(ch);
		else
			printf("\\x%02x", ch);
	}
	putchar('\n');
}

static void list_entries(struct session *s, const redisReply *reply)
{
	if (reply->type != REDIS_REPLY_ARRAY)
		return;
	int64_t now = walltime_s();
	for (size_t i = 0; i < reply->elements; i++)
		print_entry(s->conf, reply->element[i], s->json, now);
}

int cmd_revocations(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = DEFAULT_CONFIG;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': config = optarg; break;
		case 'j': json = true; break;
		case 'h': revocations_help(stdout); return 0;
		default: revocations_help(stderr); return 2;
		}
	}
	if (optind != argc) {
		revocations_help(stderr);
		return 2;
	}
	struct session s = { 0 };
	int rc = session_open(&s, config);
	if (rc == 0) {
		const char *cmd[] = { "XRANGE", s.key, "-", "+" };
		s.handle = list_entries;
		s.json = json;
		rc = run_command(&s, 4, cmd);
	}
	session_close(&s);
	return rc;
}
