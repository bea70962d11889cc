/* The configuration model: one immutable snapshot, built from a libconfig
 * file by a table of keys (type, range, default), validated completely before
 * anyone sees it. Errors name file and line. Reload (a later issue) builds a
 * new snapshot and publishes it only if valid.
 *
 * Every key is documented in conf/ternd.conf. */
#ifndef TERN_CONF_CONFIG_H
#define TERN_CONF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "common/sockaddr.h"
#include "conf/cidr.h"
#include "conf/secrets.h"

#define CONF_MAX_LISTEN 16
#define CONF_MAX_CIDRS  256
#define CONF_MAX_PATH   4096
#define CONF_MAX_REALM  128
#define CONF_MAX_SOFTWARE 128
#define CONF_MAX_PASSTHROUGH 16

struct tern_config {
	char path[CONF_MAX_PATH];                 /* the file this came from */

	/* top level */
	unsigned workers;                         /* "workers", 0 = one per CPU (resolved at load) */
	char realm[CONF_MAX_REALM];               /* "realm", required, 1..127 printable chars */
	char software[CONF_MAX_SOFTWARE];         /* "software", "" = no SOFTWARE attribute */

	/* listen { udp = [...]; tcp = [...]; } -- "addr:port" strings */
	size_t n_udp, n_tcp;
	struct sockaddr_storage udp[CONF_MAX_LISTEN];
	struct sockaddr_storage tcp[CONF_MAX_LISTEN];

	/* relay { addresses = [...]; port_min; port_max; } -- at most one address per family */
	bool has_relay_v4, has_relay_v6;
	struct sockaddr_storage relay_v4, relay_v6; /* port 0 */
	uint16_t port_min, port_max;              /* default 49152..65535, min <= max */

	/* auth { secrets_file; hmac; max_ttl; nonce_lifetime; clock_skew; } */
	char secrets_file[CONF_MAX_PATH];         /* resolved relative to the config file's folder */
	struct secrets secrets;                    /* loaded from secrets_file; hmac from "hmac" */
	int64_t max_ttl;                          /* seconds, default 86400, 60..31536000 */
	uint32_t nonce_lifetime;                  /* seconds, default 600, 10..86400 */
	int64_t clock_skew;                       /* seconds, default 30, 0..600 */

	/* limits { ... } */
	uint32_t allocations_total;               /* default 100000, 1..10000000 */
	uint32_t allocations_per_user;            /* default 20, 1..100000 */
	uint32_t permissions_per_allocation;      /* default 32, 1..1024 */
	uint32_t channels_per_allocation;         /* default 32, 1..4096 */
	uint32_t default_lifetime;                /* seconds, default 600, 30..86400 */
	uint32_t max_lifetime;                    /* seconds, default 3600, default_lifetime..86400 */
	uint32_t unauth_rate;                     /* answers/s per source bucket, default 20, 1..100000 */
	uint32_t unauth_burst;                    /* default 40, 1..100000 */
	uint32_t unauth_total_rate;               /* answers/s per worker, all sources, default 2000, 1..1000000 */

	/* peers { allow = [...]; deny = [...]; } */
	size_t n_allow, n_deny;
	struct cidr allow[CONF_MAX_CIDRS];
	struct cidr deny[CONF_MAX_CIDRS];

	/* tls { listen; certificate; private_key; handshake_timeout; passthrough; } */
	size_t n_tls;
	struct sockaddr_storage tls[CONF_MAX_LISTEN];
	char tls_certificate[CONF_MAX_PATH];      /* PEM chain; required with listeners; resolved like secrets_file */
	char tls_private_key[CONF_MAX_PATH];      /* PEM key, mode 0600 advised */
	uint32_t tls_handshake_timeout;           /* seconds, default 10, 1..120 */
	/* passthrough rules, first match wins: connections whose ClientHello
	 * matches go untouched to backend (e.g. the hospital's web server). */
	size_t n_passthrough;
	struct conf_passthrough {
		char sni[256];                    /* "" = any; "*.example.org" matches subdomains */
		char alpn[32];                    /* "" = any; else one protocol the client must offer */
		struct sockaddr_storage backend;
	} passthrough[CONF_MAX_PASSTHROUGH];

	/* stream limits (TCP and TLS), in limits { ... } */
	uint32_t stream_auth_timeout;             /* s to make an allocation on a new connection, default 30, 1..600 */
	uint32_t stream_idle_timeout;             /* s without a complete frame, default 120, 5..86400 */
	uint32_t stream_buffer;                   /* bytes queued toward one client, default 524288, 65536..16777216 */
	uint32_t connections_per_source;          /* per client IP address, default 64, 1..100000 */

	/* revocation { redis; username; password_file; tls; tls_ca; tls_server_name;
	 *              key_prefix; state_dir; stale_after; stale_grace; } */
	bool has_redis;                           /* "redis" set: the feed is on */
	struct sockaddr_storage redis;            /* "ip:port" */
	char redis_username[128];                 /* ACL user, "" = default user */
	char redis_password_file[CONF_MAX_PATH];  /* "" = no AUTH; mode 0600 like the secrets */
	bool redis_tls;
	char redis_tls_ca[CONF_MAX_PATH];         /* "" = the system's CA store */
	char redis_tls_server_name[256];          /* "" = verify the address */
	char redis_key_prefix[128];               /* default "tern:" */
	char state_dir[CONF_MAX_PATH];            /* revocation snapshot; default /var/lib/tern */
	uint32_t revocation_stale_after;          /* s without an answer = stale, default 15, 6..600 */
	uint32_t revocation_stale_grace;          /* s new allocations still served when stale, default 300, 0..86400 */

	/* drain { alternate_server; deadline; } -- SIGUSR1 starts draining */
	bool has_alternate;
	struct sockaddr_storage alternate_server; /* 300 Try Alternate points here */
	uint32_t drain_deadline;                  /* s until ternd exits anyway, default 3600, 1..86400 */

	/* metrics { listen; per_allocation; } -- the HTTP endpoint on the control thread */
	bool has_metrics;                         /* listen "" disables */
	struct sockaddr_storage metrics_listen;   /* default 127.0.0.1:9641 */
	bool metrics_per_allocation;              /* serve /allocations, default false */

	/* audit { file; client_address; } -- the audit trail (who did what) */
	char audit_file[CONF_MAX_PATH];           /* "" (default) = none; resolved like secrets_file */
	enum conf_audit_address {
		CONF_AUDIT_FULL, CONF_AUDIT_TRUNCATED, CONF_AUDIT_OMIT
	} audit_client_address;                  /* "full", "truncated" (default: IPv4 /24, IPv6 /48), "omit" */

	/* media { policy; } -- RTP/RTCP flows without a DTLS handshake first
	 * (plain RTP or SDES-keyed SRTP): "off", "observe" (count and audit,
	 * the default) or "enforce" (also drop them). Reloadable. */
	enum conf_media_policy {
		CONF_MEDIA_OFF, CONF_MEDIA_OBSERVE, CONF_MEDIA_ENFORCE
	} media_policy;

	/* log { level = "info"; } */
	enum log_level log_level;
};

/* Loads and validates. On failure writes "file:line: message" (or
 * "file: message" when no line applies) to err and returns negative errno;
 * *out is untouched. On success *out is a new heap snapshot that
 * conf_free() releases (it wipes the secrets). */
int conf_load(const char *path, struct tern_config **out, char *err, size_t err_cap);
void conf_free(struct tern_config *c);

/* For a reload: settings that only a restart can change (workers,
 * listeners, relay addresses and ports) are copied from `running` into
 * `fresh`, and the names of those that differed are written to `changed`
 * (comma-separated). Returns how many differed. */
int conf_keep_restart_settings(const struct tern_config *running, struct tern_config *fresh,
			       char *changed, size_t cap);

#endif
