/* The revocation set and its snapshot file; see revocation.h. */
#include "auth/revocation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/cred.h"

#define SNAPSHOT_HEADER "tern-revocations 1"

struct revocation_node {
	struct revocation_node *next;
	enum revocation_kind kind;
	int64_t until;
	size_t len;
	char value[];
};

static size_t bucket_of(const struct revocation_set *s, enum revocation_kind kind,
			const char *value, size_t len)
{
	uint64_t h = siphash24(&s->key, value, len) ^ (uint64_t)kind;
	return (size_t)(h & (s->n_buckets - 1));
}

static struct revocation_set *set_alloc(size_t n_buckets)
{
	struct revocation_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->buckets = calloc(n_buckets, sizeof(*s->buckets));
	if (!s->buckets) {
		free(s);
		return NULL;
	}
	s->n_buckets = n_buckets;
	atomic_init(&s->refs, 1);
	return s;
}

struct revocation_set *revocation_set_new(void)
{
	struct revocation_set *s = set_alloc(64);
	if (s && siphash_key_random(&s->key) < 0) {
		revocation_set_release(s);
		return NULL;
	}
	return s;
}

static void free_nodes(struct revocation_set *s)
{
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct revocation_node *n = s->buckets[i];
		while (n) {
			struct revocation_node *next = n->next;
			free(n);
			n = next;
		}
	}
}

void revocation_set_hold(struct revocation_set *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void revocation_set_release(struct revocation_set *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free_nodes(s);
	free(s->buckets);
	free(s);
}

static struct revocation_node *find(const struct revocation_set *s, enum revocation_kind kind,
				    const char *value, size_t len)
{
	for (struct revocation_node *n = s->buckets[bucket_of(s, kind, value, len)]; n; n = n->next)
		if (n->kind == kind && n->len == len && memcmp(n->value, value, len) == 0)
			return n;
	return NULL;
}

static void insert(struct revocation_set *s, struct revocation_node *n)
{
	size_t b = bucket_of(s, n->kind, n->value, n->len);
	n->next = s->buckets[b];
	s->buckets[b] = n;
	s->count++;
}

/* Doubles the table; on ENOMEM the chains just get longer. */
static void grow(struct revocation_set *s)
{
	struct revocation_set *bigger = set_alloc(s->n_buckets * 2);
	if (!bigger)
		return;
	bigger->key = s->key;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct revocation_node *n = s->buckets[i];
		while (n) {
			struct revocation_node *next = n->next;
			insert(bigger, n);
			n = next;
		}
	}
	free(s->buckets);
	s->buckets = bigger->buckets;
	s->n_buckets = bigger->n_buckets;
	free(bigger);
}

int revocation_set_add(struct revocation_set *s, enum revocation_kind kind, const char *value,
		       size_t len, int64_t until)
{
	if ((kind != REVOKE_USER && kind != REVOKE_CREDENTIAL) || len == 0 ||
	    len > REVOCATION_MAX_VALUE)
		return -EINVAL;
	struct revocation_node *n = find(s, kind, value, len);
	if (n) {
		if (until > n->until)
			n->until = until;
		return 0;
	}
	if (s->count >= REVOCATION_MAX_ENTRIES)
		return -ENOSPC;
	n = malloc(sizeof(*n) + len);
	if (!n)
		return -ENOMEM;
	n->kind = kind;
	n->until = until;
	n->len = len;
	memcpy(n->value, value, len);
	if (s->count + 1 > s->n_buckets)
		grow(s);
	insert(s, n);
	return 0;
}

struct revocation_set *revocation_set_clone(const struct revocation_set *s)
{
	struct revocation_set *c = set_alloc(s->n_buckets);
	if (!c)
		return NULL;
	c->key = s->key;
	memcpy(c->last_id, s->last_id, sizeof(c->last_id));
	c->newest_ms = s->newest_ms;
	for (size_t i = 0; i < s->n_buckets; i++) {
		for (const struct revocation_node *n = s->buckets[i]; n; n = n->next) {
			if (revocation_set_add(c, n->kind, n->value, n->len, n->until) < 0) {
				revocation_set_release(c);
				return NULL;
			}
		}
	}
	return c;
}

size_t revocation_set_expire(struct revocation_set *s, int64_t now)
{
	size_t dropped = 0;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct revocation_node **pp = &s->buckets[i];
		while (*pp) {
			struct revocation_node *n = *pp;
			if (n->until < now) {
				*pp = n->next;
				free(n);
				s->count--;
				dropped++;
			} else {
				pp = &n->next;
			}
		}
	}
	return dropped;
}

bool revocation_set_covers(const struct revocation_set *s, const char *username, size_t ulen,
			   int64_t cred_expiry, const char *user_id, size_t uid_len, int64_t now)
{
	if (!s || !s->count)
		return false;
	const struct revocation_node *n = find(s, REVOKE_CREDENTIAL, username, ulen);
	if (n && n->until >= now)
		return true;
	n = find(s, REVOKE_USER, user_id, uid_len);
	return n && n->until >= now && cred_expiry <= n->until;
}

void revocation_set_each(const struct revocation_set *s,
			 void (*fn)(void *arg, enum revocation_kind kind, const char *value,
				    size_t len, int64_t until),
			 void *arg)
{
	for (size_t i = 0; i < s->n_buckets; i++)
		for (const struct revocation_node *n = s->buckets[i]; n; n = n->next)
			fn(arg, n->kind, n->value, n->len, n->until);
}

int64_t revocation_until(enum revocation_kind kind, const char *value, size_t len,
			 int64_t entry_ms, int64_t max_ttl, int64_t skew)
{
	int64_t bound = entry_ms / 1000 + max_ttl + skew;
	struct cred_username cred;
	if (kind == REVOKE_CREDENTIAL && cred_username_parse(value, len, &cred) == 0)
		return cred.expiry + skew;
	return bound;
}

/* ---- the snapshot file ---- */

static void write_entry(void *arg, enum revocation_kind kind, const char *value, size_t len,
			int64_t until)
{
	FILE *f = arg;
	fprintf(f, "%s %lld ", kind == REVOKE_USER ? "user" : "credential", (long long)until);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", (unsigned char)value[i]);
	fputc('\n', f);
}

int revocation_set_write(const struct revocation_set *s, const char *path, char *err, size_t cap)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, cap, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	FILE *f = fopen(tmp, "we");
	if (!f) {
		int e = errno;
		snprintf(err, cap, "%s: %s", tmp, strerror(e));
		return -e;
	}
	fprintf(f, SNAPSHOT_HEADER "\nlast-id %s\nnewest-ms %lld\n", s->last_id[0] ? s->last_id : "-",
		(long long)s->newest_ms);
	revocation_set_each(s, write_entry, f);
	/* Written completely and on disk before it replaces the old one. */
	int r = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(err, cap, "%s: %s", path, strerror(-r));
		unlink(tmp);
	}
	return r;
}

static int unhex(const char *hex, size_t hlen, char *out, size_t *len)
{
	if (hlen % 2 || hlen / 2 > REVOCATION_MAX_VALUE || hlen == 0)
		return -EINVAL;
	for (size_t i = 0; i < hlen; i += 2) {
		unsigned v;
		if (sscanf(hex + i, "%2x", &v) != 1 || !strchr("0123456789abcdef", hex[i]) ||
		    !strchr("0123456789abcdef", hex[i + 1]))
			return -EINVAL;
		out[i / 2] = (char)v;
	}
	*len = hlen / 2;
	return 0;
}

static int read_entry(struct revocation_set *s, char *line, int64_t now)
{
	char kind[16], hex[2 * REVOCATION_MAX_VALUE + 2];
	long long until;
	if (sscanf(line, "%15s %lld %1025s", kind, &until, hex) != 3)
		return -EINVAL;
	enum revocation_kind k = strcmp(kind, "user") == 0 ? REVOKE_USER
			       : strcmp(kind, "credential") == 0 ? REVOKE_CREDENTIAL : 0;
	char value[REVOCATION_MAX_VALUE];
	size_t len;
	if (!k || unhex(hex, strlen(hex), value, &len) < 0)
		return -EINVAL;
	return until < now ? 0 : revocation_set_add(s, k, value, len, until);
}

int revocation_set_read(const char *path, int64_t now, struct revocation_set **out, char *err,
			size_t cap)
{
	struct revocation_set *s = revocation_set_new();
	if (!s) {
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		if (e == ENOENT) {
			*out = s;
			return 0;
		}
		revocation_set_release(s);
		snprintf(err, cap, "%s: %s", path, strerror(e));
		return -e;
	}
	char line[2 * REVOCATION_MAX_VALUE + 128];
	unsigned lineno = 0;
	int r = 0;
	long long newest = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (lineno == 1)
			r = strcmp(line, SNAPSHOT_HEADER) == 0 ? 0 : -EINVAL;
		else if (lineno == 2)
			r = sscanf(line, "last-id %47s", s->last_id) == 1 ? 0 : -EINVAL;
		else if (lineno == 3)
			r = sscanf(line, "newest-ms %lld", &newest) == 1 ? 0 : -EINVAL;
		else
			r = read_entry(s, line, now);
	}
	fclose(f);
	if (strcmp(s->last_id, "-") == 0)
		s->last_id[0] = '\0';
	s->newest_ms = newest;
	if (r < 0) {
		snprintf(err, cap, "%s:%u: not a revocation snapshot line", path, lineno);
		revocation_set_release(s);
		return r;
	}
	*out = s;
	return 0;
}
