/* Loading the configuration (see config.h). One table lists every key with
 * its type, range, default and field; loading walks the file once to reject
 * anything the table does not know (a misspelt key silently ignored is how a
 * relay ends up open), then applies the table, then checks the rules that
 * span several keys, then loads the secrets. Every error names file:line.
 *
 * The file is read into memory by us (bounded size, no NUL bytes, no
 * @include) and handed to libconfig as a string: the input is untrusted
 * enough to be fuzzed, and an @include of /dev/stdin or of a huge file must
 * not make --check-config hang. */
#include "conf/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_FILE_MAX   (1024 * 1024)
#define CONF_QUOTE_MAX  64
#define FIELD(f)        offsetof(struct tern_config, f)
#define FIELD_SIZE(f)   sizeof(((struct tern_config *)0)->f)

struct loader {
	const char *path;           /* as given, for messages */
	config_t cfg;
	struct tern_config *c;
	char *err;
	size_t err_cap;
};

struct key;
typedef int (*apply_fn)(struct loader *l, const struct key *k, const config_setting_t *s);

/* One configuration key. `apply` is the key's type: it converts and
 * range-checks the setting (or, when s is NULL, stores the default). */
struct key {
	const char *path;           /* "group.name" or "name" */
	apply_fn apply;
	bool required;
	long long min, max, def;    /* integers */
	size_t off;                 /* the field in struct tern_config */
	size_t aux;                 /* integer width, string capacity, or list count field */
	const char *def_str;        /* strings */
	const char *(*check)(const char *value); /* strings: NULL or what is wrong */
	const char *const *choices;  /* apply_choice: the words, NULL-terminated */
};

__attribute__((format(printf, 3, 4)))
static int fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && config_setting_source_line(s) > 0)
		snprintf(l->err, l->err_cap, "%s:%u: %s", l->path, config_setting_source_line(s), msg);
	else
		snprintf(l->err, l->err_cap, "%s: %s", l->path, msg);
	return -EINVAL;
}

/* A value from the file, made safe to echo: printable ASCII only (no
 * terminal escapes from a hostile file), cut at CONF_QUOTE_MAX. */
static const char *quote(const char *v, char buf[CONF_QUOTE_MAX + 4])
{
	size_t i = 0;
	for (; v[i] && i < CONF_QUOTE_MAX; i++)
		buf[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	if (v[i])
		memcpy(buf + i, "...", 3), i += 3;
	buf[i] = '\0';
	return buf;
}

/* ---- value types ------------------------------------------------------ */

static void store_int(struct tern_config *c, const struct key *k, long long v)
{
	char *f = (char *)c + k->off;
	if (k->aux == sizeof(uint16_t)) {
		uint16_t x = (uint16_t)v;
		memcpy(f, &x, sizeof(x));
	} else if (k->aux == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v;
		memcpy(f, &x, sizeof(x));
	} else {
		int64_t x = (int64_t)v;
		memcpy(f, &x, sizeof(x));
	}
}

static int apply_int(struct loader *l, const struct key *k, const config_setting_t *s)
{
	long long v = k->def;
	if (s) {
		int t = config_setting_type(s);
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return fail(l, s, "'%s' must be an integer", k->path);
		v = config_setting_get_int64(s);
		if (v < k->min || v > k->max)
			return fail(l, s, "'%s' must be between %lld and %lld (got %lld)",
				    k->path, k->min, k->max, v);
	}
	store_int(l->c, k, v);
	return 0;
}

static int get_string(struct loader *l, const struct key *k, const config_setting_t *s,
		      const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(l, s, "'%s' must be a string", k->path);
	*out = config_setting_get_string(s);
	return *out ? 0 : fail(l, s, "'%s' must be a string", k->path);
}

static int apply_string(struct loader *l, const struct key *k, const config_setting_t *s)
{
	const char *v = k->def_str;
	if (s) {
		int r = get_string(l, k, s, &v);
		if (r < 0)
			return r;
		if (strlen(v) >= k->aux)
			return fail(l, s, "'%s' is too long (at most %zu characters)",
				    k->path, k->aux - 1);
		const char *why = k->check ? k->check(v) : NULL;
		if (why)
			return fail(l, s, "'%s' %s", k->path, why);
	}
	memcpy((char *)l->c + k->off, v, strlen(v) + 1);
	return 0;
}

/* Lists may be written [ "a", "b" ] (array) or ( "a", "b" ) (list). */
static int get_string_list(struct loader *l, const struct key *k, const config_setting_t *s,
			   size_t max, int *n)
{
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return fail(l, s, "'%s' must be a list of strings", k->path);
	*n = config_setting_length(s);
	if (*n < 0 || (size_t)*n > max)
		return fail(l, s, "'%s' has more than %zu entries", k->path, max);
	for (int i = 0; i < *n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (!e || config_setting_type(e) != CONFIG_TYPE_STRING ||
		    !config_setting_get_string(e))
			return fail(l, e ? e : s, "'%s' must be a list of strings", k->path);
	}
	return 0;
}

static const char *elem_str(const config_setting_t *s, int i)
{
	return config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
}

static const config_setting_t *elem(const config_setting_t *s, int i)
{
	return config_setting_get_elem(s, (unsigned)i);
}

/* A list of strings converted one entry at a time into an array field
 * (k->off), its length stored in the count field (k->aux). */
typedef int (*entry_fn)(struct loader *l, const struct key *k, const config_setting_t *e,
			const char *v, int i);

static int apply_list(struct loader *l, const struct key *k, const config_setting_t *s,
		      size_t max, entry_fn entry)
{
	int n = 0;
	if (!s)
		return 0;
	int r = get_string_list(l, k, s, max, &n);
	for (int i = 0; i < n && r == 0; i++)
		r = entry(l, k, elem(s, i), elem_str(s, i), i);
	if (r < 0)
		return r;
	size_t count = (size_t)n;
	memcpy((char *)l->c + k->aux, &count, sizeof(count));
	return 0;
}

/* "ip:port" / "[v6]:port" listener addresses, no duplicates. */
static int listen_entry(struct loader *l, const struct key *k, const config_setting_t *e,
			const char *v, int i)
{
	struct sockaddr_storage *list = (void *)((char *)l->c + k->off);
	char q[CONF_QUOTE_MAX + 4];
	if (sockaddr_parse(v, false, &list[i]) < 0 || sockaddr_port(&list[i]) == 0)
		return fail(l, e, "'%s' entry '%s' is not an address with a port "
			    "1..65535 like 192.0.2.1:3478 or [2001:db8::1]:3478", k->path, quote(v, q));
	for (int j = 0; j < i; j++) {
		if (sockaddr_equal(&list[i], &list[j]))
			return fail(l, e, "'%s' lists '%s' twice", k->path, quote(v, q));
	}
	return 0;
}

static int cidr_entry(struct loader *l, const struct key *k, const config_setting_t *e,
		      const char *v, int i)
{
	struct cidr *list = (void *)((char *)l->c + k->off);
	char q[CONF_QUOTE_MAX + 4];
	if (cidr_parse(v, &list[i]) < 0)
		return fail(l, e, "'%s' entry '%s' is not a CIDR prefix like "
			    "10.0.0.0/8 or 2001:db8::/32 (host bits must be zero)",
			    k->path, quote(v, q));
	return 0;
}

static int apply_listen(struct loader *l, const struct key *k, const config_setting_t *s)
{
	return apply_list(l, k, s, CONF_MAX_LISTEN, listen_entry);
}

static int apply_cidrs(struct loader *l, const struct key *k, const config_setting_t *s)
{
	return apply_list(l, k, s, CONF_MAX_CIDRS, cidr_entry);
}

/* The relay's own addresses as clients will be told them: one per family,
 * concrete (a wildcard cannot be put in XOR-RELAYED-ADDRESS), no port. */
static int add_relay_address(struct loader *l, const struct key *k, const config_setting_t *e)
{
	const char *v = config_setting_get_string(e);
	char q[CONF_QUOTE_MAX + 4];
	uint8_t ip[16];
	static const uint8_t zero[16];
	int family = inet_pton(AF_INET, v, ip) == 1 ? AF_INET
		   : inet_pton(AF_INET6, v, ip) == 1 ? AF_INET6 : 0;
	if (family == 0)
		return fail(l, e, "'%s' entry '%s' is not an IP address (write it without a port)",
			    k->path, quote(v, q));
	if (memcmp(ip, zero, family == AF_INET ? 4 : 16) == 0)
		return fail(l, e, "'%s' entry '%s' must be a concrete address, not a wildcard",
			    k->path, quote(v, q));
	struct sockaddr_storage sa;
	sockaddr_from_bytes(&sa, family, ip, 0);
	bool v6 = sa.ss_family == AF_INET6;
	bool *has = v6 ? &l->c->has_relay_v6 : &l->c->has_relay_v4;
	if (*has)
		return fail(l, e, "'%s' has more than one %s address", k->path, v6 ? "IPv6" : "IPv4");
	*has = true;
	*(v6 ? &l->c->relay_v6 : &l->c->relay_v4) = sa;
	return 0;
}

static int apply_relay_addresses(struct loader *l, const struct key *k, const config_setting_t *s)
{
	int n = 0;
	int r = get_string_list(l, k, s, 2, &n);
	if (r < 0)
		return r;
	if (n == 0)
		return fail(l, s, "'%s' must name at least one address", k->path);
	for (int i = 0; i < n && r == 0; i++)
		r = add_relay_address(l, k, elem(s, i));
	return r;
}

/* One of a fixed list of words, stored as its index in an enum field
 * whose values are 0, 1, ... in the list's order. k->def is the default's
 * index. */
static int apply_choice(struct loader *l, const struct key *k, const config_setting_t *s)
{
	const char *v = k->choices[k->def];
	char q[CONF_QUOTE_MAX + 4];
	if (s && get_string(l, k, s, &v) < 0)
		return -EINVAL;
	for (int i = 0; k->choices[i]; i++) {
		if (strcmp(v, k->choices[i]) == 0) {
			memcpy((char *)l->c + k->off, &i, sizeof(i));
			return 0;
		}
	}
	char list[160] = "";
	for (int i = 0; k->choices[i]; i++) {
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
			 i == 0 ? "" : k->choices[i + 1] ? ", " : " or ", k->choices[i]);
	}
	return fail(l, s, "'%s' must be %s (got '%s')", k->path, list, quote(v, q));
}

static int apply_log_level(struct loader *l, const struct key *k, const config_setting_t *s)
{
	const char *v = "info";
	char q[CONF_QUOTE_MAX + 4];
	if (s && get_string(l, k, s, &v) < 0)
		return -EINVAL;
	if (log_level_parse(v, &l->c->log_level) < 0)
		return fail(l, s, "'%s' must be one of error, warning, info, debug (got '%s')",
			    k->path, quote(v, q));
	return 0;
}

/* STUN REALM and SOFTWARE are quoted strings on the wire (RFC 8489): keep
 * them to printable ASCII without the characters that need escaping. */
static const char *check_text(const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
			return "must be printable ASCII without quotes or backslashes";
	}
	return NULL;
}

static const char *check_realm(const char *v)
{
	return v[0] == '\0' ? "must not be empty" : check_text(v);
}

static const char *check_nonempty(const char *v)
{
	return v[0] == '\0' ? "must not be empty" : NULL;
}

/* tls.passthrough = ( { sni = "..."; alpn = "..."; backend = "ip:port"; }, ... ) */
static int apply_rule_member(struct loader *l, const config_setting_t *m,
			     struct conf_passthrough *rule)
{
	const char *name = config_setting_name(m);
	const char *v = config_setting_get_string(m);
	char q[CONF_QUOTE_MAX + 4];
	if (!v)
		return fail(l, m, "'tls.passthrough.%s' must be a string", name);
	if (strcmp(name, "sni") == 0) {
		if (strlen(v) >= sizeof(rule->sni) || check_text(v))
			return fail(l, m, "'tls.passthrough.sni' must be a host name like "
				    "www.example.org or *.example.org (got '%s')", quote(v, q));
		for (char *d = rule->sni; *v; v++)
			*d++ = (char)((*v >= 'A' && *v <= 'Z') ? *v + 32 : *v);
	} else if (strcmp(name, "alpn") == 0) {
		if (!v[0] || strlen(v) >= sizeof(rule->alpn) || check_text(v))
			return fail(l, m, "'tls.passthrough.alpn' must be a protocol name like h2 "
				    "(got '%s')", quote(v, q));
		memcpy(rule->alpn, v, strlen(v) + 1);
	} else if (strcmp(name, "backend") == 0) {
		if (sockaddr_parse(v, false, &rule->backend) < 0 || sockaddr_port(&rule->backend) == 0)
			return fail(l, m, "'tls.passthrough.backend' must be an address with a port "
				    "like 127.0.0.1:8443 (got '%s')", quote(v, q));
	} else {
		return fail(l, m, "unknown key 'tls.passthrough.%s'", name);
	}
	return 0;
}

static int apply_passthrough(struct loader *l, const struct key *k, const config_setting_t *s)
{
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(l, s, "'%s' must be a list of groups ( { ... }, ... )", k->path);
	int n = config_setting_length(s);
	if (n > CONF_MAX_PASSTHROUGH)
		return fail(l, s, "'%s' has more than %d entries", k->path, CONF_MAX_PASSTHROUGH);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = elem(s, i);
		struct conf_passthrough *rule = &l->c->passthrough[i];
		if (!config_setting_is_group(g))
			return fail(l, g, "'%s' entries must be groups { ... }", k->path);
		for (int j = 0; j < config_setting_length(g); j++) {
			int r = apply_rule_member(l, elem(g, j), rule);
			if (r < 0)
				return r;
		}
		if (!rule->backend.ss_family)
			return fail(l, g, "'%s' entry needs a 'backend'", k->path);
		if (!rule->sni[0] && !rule->alpn[0])
			return fail(l, g, "'%s' entry needs 'sni' or 'alpn' (or both)", k->path);
	}
	l->c->n_passthrough = (size_t)n;
	return 0;
}

static int apply_redis(struct loader *l, const struct key *k, const config_setting_t *s)
{
	const char *v;
	char q[CONF_QUOTE_MAX + 4];
	if (!s)
		return 0;
	if (get_string(l, k, s, &v) < 0)
		return -EINVAL;
	if (!v[0])
		return 0;
	if (sockaddr_parse(v, false, &l->c->redis) < 0 || sockaddr_port(&l->c->redis) == 0)
		return fail(l, s, "'%s' must be an address with a port like 127.0.0.1:6379 (got '%s')",
			    k->path, quote(v, q));
	l->c->has_redis = true;
	return 0;
}

static int apply_bool(struct loader *l, const struct key *k, const config_setting_t *s)
{
	bool v = k->def != 0;
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return fail(l, s, "'%s' must be true or false", k->path);
		v = config_setting_get_bool(s) != 0;
	}
	memcpy((char *)l->c + k->off, &v, sizeof(v));
	return 0;
}

/* metrics.listen: "ip:port", or "" for no endpoint. */
static int apply_metrics_listen(struct loader *l, const struct key *k, const config_setting_t *s)
{
	const char *v = "127.0.0.1:9641";
	char q[CONF_QUOTE_MAX + 4];
	if (s && get_string(l, k, s, &v) < 0)
		return -EINVAL;
	l->c->has_metrics = v[0] != '\0';
	if (v[0] && (sockaddr_parse(v, false, &l->c->metrics_listen) < 0 ||
		     sockaddr_port(&l->c->metrics_listen) == 0))
		return fail(l, s, "'%s' must be an address with a port like 127.0.0.1:9641, or \"\" "
			    "for none (got '%s')", k->path, quote(v, q));
	return 0;
}


static int apply_alternate(struct loader *l, const struct key *k, const config_setting_t *s)
{
	const char *v;
	char q[CONF_QUOTE_MAX + 4];
	if (!s)
		return 0;
	if (get_string(l, k, s, &v) < 0)
		return -EINVAL;
	if (sockaddr_parse(v, false, &l->c->alternate_server) < 0 ||
	    sockaddr_port(&l->c->alternate_server) == 0)
		return fail(l, s, "'%s' must be an address with a port like 192.0.2.7:3478 (got '%s')",
			    k->path, quote(v, q));
	l->c->has_alternate = true;
	return 0;
}

/* ---- the table -------------------------------------------------------- */

#define INT_KEY(p, f, lo, hi, d) \
	{ .path = p, .apply = apply_int, .min = lo, .max = hi, .def = d, \
	  .off = FIELD(f), .aux = FIELD_SIZE(f) }
#define STR_KEY(p, f, req, d, chk) \
	{ .path = p, .apply = apply_string, .required = req, .def_str = d, \
	  .off = FIELD(f), .aux = FIELD_SIZE(f), .check = chk }
/* The words, in the order of the enum they are stored as. */
static const char *const hmac_names[] = { "sha1", "sha256", NULL };
static const char *const audit_address_names[] = { "full", "truncated", "omit", NULL };
static const char *const media_policy_names[] = { "off", "observe", "enforce", NULL };
_Static_assert(sizeof(enum secrets_hmac) == sizeof(int) && SECRETS_HMAC_SHA256 == 1,
	       "hmac_names follows enum secrets_hmac");
_Static_assert(sizeof(enum conf_audit_address) == sizeof(int) && CONF_AUDIT_OMIT == 2,
	       "audit_address_names follows enum conf_audit_address");
_Static_assert(sizeof(enum conf_media_policy) == sizeof(int) && CONF_MEDIA_ENFORCE == 2,
	       "media_policy_names follows enum conf_media_policy");
#define CHOICE_KEY(p, f, names, d) \
	{ .path = p, .apply = apply_choice, .off = FIELD(f), .choices = names, .def = d }
#define LIST_KEY(p, fn, f, n) \
	{ .path = p, .apply = fn, .off = FIELD(f), .aux = FIELD(n) }

/* Defaults and ranges are the ones documented in config.h and ternd.conf. */
static const struct key keys[] = {
	INT_KEY("workers", workers, 0, 256, 0),
	STR_KEY("realm", realm, true, "", check_realm),
	STR_KEY("software", software, false, "", check_text),

	LIST_KEY("listen.udp", apply_listen, udp, n_udp),
	LIST_KEY("listen.tcp", apply_listen, tcp, n_tcp),

	{ .path = "relay.addresses", .apply = apply_relay_addresses, .required = true },
	INT_KEY("relay.port_min", port_min, 1024, 65535, 49152),
	INT_KEY("relay.port_max", port_max, 1024, 65535, 65535),

	STR_KEY("auth.secrets_file", secrets_file, true, "", check_nonempty),
	CHOICE_KEY("auth.hmac", secrets.hmac, hmac_names, SECRETS_HMAC_SHA1),
	INT_KEY("auth.max_ttl", max_ttl, 60, 31536000, 86400),
	INT_KEY("auth.nonce_lifetime", nonce_lifetime, 10, 86400, 600),
	INT_KEY("auth.clock_skew", clock_skew, 0, 600, 30),

	INT_KEY("limits.allocations_total", allocations_total, 1, 10000000, 100000),
	INT_KEY("limits.allocations_per_user", allocations_per_user, 1, 100000, 20),
	INT_KEY("limits.permissions_per_allocation", permissions_per_allocation, 1, 1024, 32),
	INT_KEY("limits.channels_per_allocation", channels_per_allocation, 1, 4096, 32),
	INT_KEY("limits.default_lifetime", default_lifetime, 30, 86400, 600),
	INT_KEY("limits.max_lifetime", max_lifetime, 30, 86400, 3600),
	INT_KEY("limits.unauth_rate", unauth_rate, 1, 100000, 20),
	INT_KEY("limits.unauth_burst", unauth_burst, 1, 100000, 40),
	INT_KEY("limits.unauth_total_rate", unauth_total_rate, 1, 1000000, 2000),
	INT_KEY("limits.stream_auth_timeout", stream_auth_timeout, 1, 600, 30),
	INT_KEY("limits.stream_idle_timeout", stream_idle_timeout, 5, 86400, 120),
	INT_KEY("limits.stream_buffer", stream_buffer, 65536, 16777216, 524288),
	INT_KEY("limits.connections_per_source", connections_per_source, 1, 100000, 64),

	LIST_KEY("tls.listen", apply_listen, tls, n_tls),
	STR_KEY("tls.certificate", tls_certificate, false, "", NULL),
	STR_KEY("tls.private_key", tls_private_key, false, "", NULL),
	INT_KEY("tls.handshake_timeout", tls_handshake_timeout, 1, 120, 10),
	{ .path = "tls.passthrough", .apply = apply_passthrough },

	LIST_KEY("peers.allow", apply_cidrs, allow, n_allow),
	LIST_KEY("peers.deny", apply_cidrs, deny, n_deny),

	{ .path = "revocation.redis", .apply = apply_redis },
	STR_KEY("revocation.username", redis_username, false, "", check_text),
	STR_KEY("revocation.password_file", redis_password_file, false, "", NULL),
	{ .path = "revocation.tls", .apply = apply_bool, .off = FIELD(redis_tls), .def = 0 },
	STR_KEY("revocation.tls_ca", redis_tls_ca, false, "", NULL),
	STR_KEY("revocation.tls_server_name", redis_tls_server_name, false, "", check_text),
	STR_KEY("revocation.key_prefix", redis_key_prefix, false, "tern:", check_text),
	STR_KEY("revocation.state_dir", state_dir, false, "/var/lib/tern", check_nonempty),
	INT_KEY("revocation.stale_after", revocation_stale_after, 6, 600, 15),
	INT_KEY("revocation.stale_grace", revocation_stale_grace, 0, 86400, 300),

	{ .path = "drain.alternate_server", .apply = apply_alternate },
	INT_KEY("drain.deadline", drain_deadline, 1, 86400, 3600),

	{ .path = "metrics.listen", .apply = apply_metrics_listen },
	{ .path = "metrics.per_allocation", .apply = apply_bool,
	  .off = FIELD(metrics_per_allocation), .def = 0 },

	STR_KEY("audit.file", audit_file, false, "", NULL),
	CHOICE_KEY("audit.client_address", audit_client_address, audit_address_names,
		   CONF_AUDIT_TRUNCATED),

	CHOICE_KEY("media.policy", media_policy, media_policy_names, CONF_MEDIA_OBSERVE),

	{ .path = "log.level", .apply = apply_log_level },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static bool is_key(const char *path)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].path, path) == 0)
			return true;
	}
	return false;
}

/* A group is known when some key lives in it. */
static bool is_group(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strncmp(keys[i].path, name, n) == 0 && keys[i].path[n] == '.')
			return true;
	}
	return false;
}

/* ---- the walk for unknown keys ---------------------------------------- */

static int check_group_members(struct loader *l, const config_setting_t *g)
{
	const char *gname = config_setting_name(g);
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = elem(g, i);
		char path[256];
		snprintf(path, sizeof(path), "%s.%s", gname, config_setting_name(m));
		if (!is_key(path))
			return fail(l, m, "unknown key '%s'", path);
	}
	return 0;
}

static int check_unknown(struct loader *l)
{
	const config_setting_t *root = config_root_setting(&l->cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = elem(root, i);
		const char *name = config_setting_name(s);
		if (is_group(name)) {
			if (!config_setting_is_group(s))
				return fail(l, s, "'%s' must be a group { ... }", name);
			int r = check_group_members(l, s);
			if (r < 0)
				return r;
		} else if (!is_key(name)) {
			return fail(l, s, "unknown key '%s'", name);
		}
	}
	return 0;
}

static int apply_table(struct loader *l)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const config_setting_t *s = config_lookup(&l->cfg, keys[i].path);
		if (!s && keys[i].required)
			return fail(l, NULL, "missing required key '%s'", keys[i].path);
		int r = keys[i].apply(l, &keys[i], s);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- rules across keys ------------------------------------------------ */

/* A lower bound given by another key, reported like any range error. */
static int check_order(struct loader *l, const char *lo_path, long long lo,
		       const char *hi_path, long long hi, long long hi_max)
{
	if (lo <= hi)
		return 0;
	const config_setting_t *s = config_lookup(&l->cfg, hi_path);
	if (!s)
		s = config_lookup(&l->cfg, lo_path);
	return fail(l, s, "'%s' must be between %lld ('%s') and %lld (got %lld)",
		    hi_path, lo, lo_path, hi_max, hi);
}

static int check_cross(struct loader *l)
{
	struct tern_config *c = l->c;
	int r = check_order(l, "relay.port_min", c->port_min, "relay.port_max", c->port_max, 65535);
	if (r == 0)
		r = check_order(l, "limits.default_lifetime", c->default_lifetime,
				"limits.max_lifetime", c->max_lifetime, 86400);
	if (r == 0 && c->n_udp + c->n_tcp + c->n_tls == 0)
		r = fail(l, config_lookup(&l->cfg, "listen"),
			 "at least one listener is needed in 'listen.udp', 'listen.tcp' or 'tls.listen'");
	if (r == 0 && c->n_tls && (!c->tls_certificate[0] || !c->tls_private_key[0]))
		r = fail(l, config_lookup(&l->cfg, "tls.listen"),
			 "'tls.listen' needs 'tls.certificate' and 'tls.private_key'");
	if (r == 0 && c->n_passthrough && !c->n_tls)
		r = fail(l, config_lookup(&l->cfg, "tls.passthrough"),
			 "'tls.passthrough' needs 'tls.listen'");
	return r;
}

static void resolve_workers(struct tern_config *c)
{
	if (c->workers != 0)
		return;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	c->workers = n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

/* ---- paths ------------------------------------------------------------ */

/* Absolute, but with symlinks kept: a reload must follow a symlink that a
 * config manager swapped, not the target it pointed at the first time. */
static int absolute_path(const char *path, char *out, size_t cap)
{
	if (path[0] == '/')
		return (size_t)snprintf(out, cap, "%s", path) < cap ? 0 : -ENAMETOOLONG;
	char cwd[CONF_MAX_PATH];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return (size_t)snprintf(out, cap, "%s/%s", cwd, path) < cap ? 0 : -ENAMETOOLONG;
}

/* A relative file name in the config is relative to the config file's
 * folder (c->path is already absolute). */
static int resolve_relative(struct loader *l, char *field, const char *key)
{
	struct tern_config *c = l->c;
	if (field[0] == '/' || field[0] == '\0')
		return 0;
	char joined[CONF_MAX_PATH];
	const char *slash = strrchr(c->path, '/');
	int dir_len = (int)(slash - c->path);
	if ((size_t)snprintf(joined, sizeof(joined), "%.*s/%s", dir_len, c->path,
			     field) >= sizeof(joined))
		return fail(l, config_lookup(&l->cfg, key), "'%s' is too long once resolved", key);
	memcpy(field, joined, strlen(joined) + 1);
	return 0;
}

static int resolve_secrets_path(struct loader *l)
{
	int r = resolve_relative(l, l->c->secrets_file, "auth.secrets_file");
	if (r == 0)
		r = resolve_relative(l, l->c->tls_certificate, "tls.certificate");
	if (r == 0)
		r = resolve_relative(l, l->c->tls_private_key, "tls.private_key");
	if (r == 0)
		r = resolve_relative(l, l->c->redis_password_file, "revocation.password_file");
	if (r == 0)
		r = resolve_relative(l, l->c->redis_tls_ca, "revocation.tls_ca");
	if (r == 0)
		r = resolve_relative(l, l->c->state_dir, "revocation.state_dir");
	if (r == 0)
		r = resolve_relative(l, l->c->audit_file, "audit.file");
	return r;
}

/* ---- reading ---------------------------------------------------------- */

/* Rejects what libconfig would accept but we must not: NUL bytes (libconfig
 * would silently stop there) and @include (reads any file, even a FIFO). */
static int screen_text(struct loader *l, const char *text, size_t len)
{
	unsigned line = 1;
	bool line_start = true;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (ch == '\0') {
			snprintf(l->err, l->err_cap, "%s:%u: NUL byte in file", l->path, line);
			return -EINVAL;
		}
		if (line_start && ch != ' ' && ch != '\t') {
			line_start = false;
			if (len - i >= 8 && memcmp(text + i, "@include", 8) == 0) {
				snprintf(l->err, l->err_cap, "%s:%u: @include is not supported",
					 l->path, line);
				return -EINVAL;
			}
		}
		if (ch == '\n') {
			line++;
			line_start = true;
		}
	}
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int fail_file(struct loader *l, int r, const char *fmt, ...)
{
	int n = snprintf(l->err, l->err_cap, "%s: ", l->path);
	if (n >= 0 && (size_t)n < l->err_cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(l->err + n, l->err_cap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Reads the whole file into a NUL-terminated buffer of at most
 * CONF_FILE_MAX bytes; reads up to the cap, not st_size, because the file
 * may grow while we read it. */
static int read_bounded(struct loader *l, FILE *f, char **out, size_t *len)
{
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		return fail_file(l, -EINVAL, "not a regular file");
	if (st.st_size > CONF_FILE_MAX)
		return fail_file(l, -EFBIG, "larger than %d bytes", CONF_FILE_MAX);
	char *buf = malloc(CONF_FILE_MAX + 1);
	if (!buf)
		return fail_file(l, -ENOMEM, "out of memory");
	size_t n = fread(buf, 1, CONF_FILE_MAX + 1, f);
	int r = ferror(f) ? fail_file(l, -EIO, "read error")
	      : n > CONF_FILE_MAX ? fail_file(l, -EFBIG, "larger than %d bytes", CONF_FILE_MAX)
	      : 0;
	if (r < 0 || n > CONF_FILE_MAX) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*len = n;
	*out = buf;
	return 0;
}

static int read_text(struct loader *l, char **out)
{
	FILE *f = fopen(l->path, "re");
	if (!f) {
		int e = errno;
		return fail_file(l, -e, "cannot open: %s", strerror(e));
	}
	size_t len = 0;
	int r = read_bounded(l, f, out, &len);
	fclose(f);
	if (r == 0 && (r = screen_text(l, *out, len)) < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

static int parse(struct loader *l)
{
	char *text = NULL;
	int r = read_text(l, &text);
	if (r < 0)
		return r;
	r = config_read_string(&l->cfg, text) == CONFIG_TRUE ? 0 : -EINVAL;
	free(text);
	if (r < 0) {
		const char *why = config_error_text(&l->cfg);
		snprintf(l->err, l->err_cap, "%s:%d: %s", l->path, config_error_line(&l->cfg),
			 why ? why : "syntax error");
	}
	return r;
}

static int load(struct loader *l)
{
	int r = absolute_path(l->path, l->c->path, sizeof(l->c->path));
	if (r < 0)
		return fail_file(l, r, "cannot make the path absolute: %s", strerror(-r));
	r = parse(l);
	if (r == 0)
		r = check_unknown(l);
	if (r == 0)
		r = apply_table(l);
	if (r == 0)
		r = check_cross(l);
	if (r == 0)
		r = resolve_secrets_path(l);
	if (r < 0)
		return r;
	resolve_workers(l->c);
	/* last, so that nothing after it can fail with secrets in memory;
	 * its message already names the secrets file and line */
	return secrets_load(&l->c->secrets, l->c->secrets_file, l->err, l->err_cap);
}

int conf_load(const char *path, struct tern_config **out, char *err, size_t err_cap)
{
	char dummy[1];
	struct loader l = { .path = path, .err = err_cap ? err : dummy,
			    .err_cap = err_cap ? err_cap : sizeof(dummy) };
	l.err[0] = '\0';
	if (!path || !out)
		return -EINVAL;
	l.c = calloc(1, sizeof(*l.c));
	if (!l.c) {
		snprintf(l.err, l.err_cap, "%s: out of memory", path);
		return -ENOMEM;
	}
	config_init(&l.cfg);
	int r = load(&l);
	config_destroy(&l.cfg);
	if (r < 0) {
		conf_free(l.c);
		return r;
	}
	*out = l.c;
	return 0;
}

void conf_free(struct tern_config *c)
{
	if (!c)
		return;
	secrets_wipe(&c->secrets);
	free(c);
}

static bool same_addrs(const struct sockaddr_storage *a, size_t na,
		       const struct sockaddr_storage *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!sockaddr_equal(&a[i], &b[i]))
			return false;
	return true;
}

static void note_change(char *changed, size_t cap, int *n, const char *name)
{
	size_t used = strlen(changed);
	snprintf(changed + used, cap - used, "%s%s", *n ? ", " : "", name);
	(*n)++;
}

static bool revocation_differs(const struct tern_config *a, const struct tern_config *b)
{
	return a->has_redis != b->has_redis ||
	       (a->has_redis && !sockaddr_equal(&a->redis, &b->redis)) ||
	       strcmp(a->redis_username, b->redis_username) != 0 ||
	       strcmp(a->redis_password_file, b->redis_password_file) != 0 ||
	       a->redis_tls != b->redis_tls ||
	       strcmp(a->redis_tls_ca, b->redis_tls_ca) != 0 ||
	       strcmp(a->redis_tls_server_name, b->redis_tls_server_name) != 0 ||
	       strcmp(a->redis_key_prefix, b->redis_key_prefix) != 0 ||
	       strcmp(a->state_dir, b->state_dir) != 0 ||
	       a->revocation_stale_after != b->revocation_stale_after ||
	       a->revocation_stale_grace != b->revocation_stale_grace;
}

static void keep_revocation(const struct tern_config *from, struct tern_config *to)
{
	to->has_redis = from->has_redis;
	to->redis = from->redis;
	memcpy(to->redis_username, from->redis_username, sizeof(to->redis_username));
	memcpy(to->redis_password_file, from->redis_password_file, sizeof(to->redis_password_file));
	to->redis_tls = from->redis_tls;
	memcpy(to->redis_tls_ca, from->redis_tls_ca, sizeof(to->redis_tls_ca));
	memcpy(to->redis_tls_server_name, from->redis_tls_server_name,
	       sizeof(to->redis_tls_server_name));
	memcpy(to->redis_key_prefix, from->redis_key_prefix, sizeof(to->redis_key_prefix));
	memcpy(to->state_dir, from->state_dir, sizeof(to->state_dir));
	to->revocation_stale_after = from->revocation_stale_after;
	to->revocation_stale_grace = from->revocation_stale_grace;
}

int conf_keep_restart_settings(const struct tern_config *running, struct tern_config *fresh,
			       char *changed, size_t cap)
{
	int n = 0;
	changed[0] = '\0';
	if (running->workers != fresh->workers) {
		note_change(changed, cap, &n, "workers");
		fresh->workers = running->workers;
	}
#define KEEP_LIST(name, list, count)                                               \
	if (!same_addrs(running->list, running->count, fresh->list, fresh->count)) {   \
		note_change(changed, cap, &n, name);                                   \
		memcpy(fresh->list, running->list, sizeof(fresh->list));              \
		fresh->count = running->count;                                         \
	}
	KEEP_LIST("listen.udp", udp, n_udp)
	KEEP_LIST("listen.tcp", tcp, n_tcp)
	KEEP_LIST("tls.listen", tls, n_tls)
#undef KEEP_LIST
	bool relay_same = running->has_relay_v4 == fresh->has_relay_v4 &&
			  running->has_relay_v6 == fresh->has_relay_v6 &&
			  (!running->has_relay_v4 || sockaddr_equal(&running->relay_v4, &fresh->relay_v4)) &&
			  (!running->has_relay_v6 || sockaddr_equal(&running->relay_v6, &fresh->relay_v6));
	if (!relay_same) {
		note_change(changed, cap, &n, "relay.addresses");
		fresh->has_relay_v4 = running->has_relay_v4;
		fresh->has_relay_v6 = running->has_relay_v6;
		fresh->relay_v4 = running->relay_v4;
		fresh->relay_v6 = running->relay_v6;
	}
	if (running->has_metrics != fresh->has_metrics ||
	    (running->has_metrics && !sockaddr_equal(&running->metrics_listen, &fresh->metrics_listen))) {
		note_change(changed, cap, &n, "metrics.listen");
		fresh->has_metrics = running->has_metrics;
		fresh->metrics_listen = running->metrics_listen;
	}
	if (strcmp(running->audit_file, fresh->audit_file) != 0 ||
	    running->audit_client_address != fresh->audit_client_address) {
		note_change(changed, cap, &n, "audit.file/client_address");
		memcpy(fresh->audit_file, running->audit_file, sizeof(fresh->audit_file));
		fresh->audit_client_address = running->audit_client_address;
	}
	if (revocation_differs(running, fresh)) {
		/* The feed keeps the connection it started with. */
		note_change(changed, cap, &n, "revocation.*");
		keep_revocation(running, fresh);
	}
	if (running->port_min != fresh->port_min || running->port_max != fresh->port_max) {
		note_change(changed, cap, &n, "relay.port_min/port_max");
		fresh->port_min = running->port_min;
		fresh->port_max = running->port_max;
	}
	return n;
}
