/* Counting for the exporter: the fixed label sets of metrics/counters.h,
 * derived from an allocation or a request, never from who the client is.
 * Also the TURN layer's only door to the audit trail (turn_audit, which
 * writes a record into the worker's ring and does no I/O) and the copy of
 * per-allocation figures for the opt-in listing. */
#include "relay/turn/server_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum metrics_transport turn_metrics_transport(const struct turn_client *c)
{
	return c->transport == TURN_TLS ? MT_TLS : c->transport == TURN_TCP ? MT_TCP : MT_UDP;
}

enum metrics_family turn_metrics_family(const struct allocation *a)
{
	return a->relay[0].addr.ss_family == AF_INET6 ? MF_IPV6 : MF_IPV4;
}

void turn_count_auth_failure(struct turn_server *s, enum metrics_auth_failure why)
{
	mc_inc(&s->metrics.auth_failures[why]);
}

void turn_count_outcome(struct turn_server *s, int code)
{
	enum metrics_alloc_outcome o;
	switch (code) {
	case 0: o = MO_CREATED; break;
	case 300: o = MO_DRAINING; break;
	case 400: o = MO_BAD_REQUEST; break;
	case 403: o = MO_FORBIDDEN; break;
	case 437: o = MO_MISMATCH; break;
	case 440: o = MO_FAMILY_UNSUPPORTED; break;
	case 442: o = MO_TRANSPORT_UNSUPPORTED; break;
	case 486: o = MO_QUOTA; break;
	case 508: o = MO_CAPACITY; break;
	default: o = MO_OTHER; break;
	}
	mc_inc(&s->metrics.alloc_outcome[o]);
}

/* ---- the audit trail --------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void audit_addr_of(struct audit_addr *out, const struct sockaddr_storage *sa)
{
	size_t len = 0;
	const uint8_t *ip = sa ? sockaddr_ip_bytes(sa, &len) : NULL;
	memset(out, 0, sizeof(*out));
	if (!ip || (len != 4 && len != 16))
		return;
	out->family = len == 4 ? 4 : 6;
	memcpy(out->ip, ip, len);
	out->port = sockaddr_port(sa);
}

static void audit_user(struct audit_record *r, const char *user, size_t len)
{
	if (len > AUDIT_USER_MAX)
		len = AUDIT_USER_MAX;
	memcpy(r->user, user, len);
	r->user_len = (uint16_t)len;
}

/* A slot in the ring with the common fields filled, or NULL. */
static struct audit_record *audit_start(struct turn_server *s, enum audit_event ev,
					const struct turn_client *from)
{
	if (!s->audit)
		return NULL;
	struct audit_record *r = audit_ring_claim(s->audit);
	if (!r)
		return NULL;
	memset(r, 0, offsetof(struct audit_record, user));
	r->time_ms = wall_ms();
	r->event = (uint8_t)ev;
	r->transport = (uint8_t)turn_metrics_transport(from);
	audit_addr_of(&r->client, &from->addr);
	return r;
}

void turn_audit(struct turn_server *s, enum audit_event ev, const struct allocation *a,
		int reason, const struct sockaddr_storage *peer)
{
	if (ev == AE_ALLOCATION_DELETED && reason == ME_REVOKED)
		ev = AE_REVOCATION_ENFORCED;
	struct audit_record *r = audit_start(s, ev, &a->client);
	if (!r)
		return;
	r->alloc_id = a->id;
	audit_user(r, a->username + a->user_id_off, a->user_id_len);
	if (ev == AE_ALLOCATION_DELETED || ev == AE_REVOCATION_ENFORCED) {
		snprintf(r->reason, sizeof(r->reason), "%s",
			 reason >= 0 && reason < ME_COUNT ? metrics_end_reason_names[reason] : "other");
		if (s->snap->conf->media_policy != CONF_MEDIA_OFF) {
			r->media_known = true;
			r->dtls_flows = a->media ? a->media->dtls_flows : 0;
			r->unencrypted_flows = a->media ? a->media->unencrypted_flows : 0;
		}
	} else if (ev == AE_PERMISSION_DENIED) {
		snprintf(r->reason, sizeof(r->reason), "peer_policy");
	} else if (ev == AE_MEDIA_UNENCRYPTED) {
		snprintf(r->reason, sizeof(r->reason), "%s",
			 reason == CONF_MEDIA_ENFORCE ? "dropped" : "observed");
	}
	if (peer)
		audit_addr_of(&r->peer, peer);
	audit_ring_commit(s->audit);
}

void turn_audit_refused(struct turn_server *s, const struct turn_req *req,
			enum metrics_auth_failure why)
{
	struct audit_record *r = audit_start(s, AE_AUTH_REFUSED, req->from);
	if (!r)
		return;
	/* The user id when the username parsed, else what the client sent. */
	if (req->cred.user_id && req->cred.user_id_len)
		audit_user(r, req->cred.user_id, req->cred.user_id_len);
	else if (req->username)
		audit_user(r, req->username, req->username_len);
	if (req->alloc)
		r->alloc_id = req->alloc->id;
	snprintf(r->reason, sizeof(r->reason), "%s", metrics_auth_failure_names[why]);
	audit_ring_commit(s->audit);
}

/* ---- per-allocation figures ------------------------------------------- */

static uint16_t live_channels(const struct allocation *a, uint64_t now_ms)
{
	uint16_t n = 0;
	for (uint16_t i = 0; i < a->cap_channels; i++)
		if (a->channels[i].number && a->channels[i].expires_ms > now_ms)
			n++;
	return n;
}

size_t turn_server_figures(const struct turn_server *s, struct alloc_figures *out, size_t cap)
{
	size_t n = 0;
	for (; n < s->n_allocations && n < cap; n++) {
		const struct allocation *a = s->all[n];
		out[n] = (struct alloc_figures){
			.id = a->id,
			.transport = (uint8_t)turn_metrics_transport(&a->client),
			.family = (uint8_t)turn_metrics_family(a),
			.permissions = a->n_perms,
			.channels = live_channels(a, s->now_ms),
			.age_s = (s->now_ms - a->created_ms) / 1000u,
			.pkts_to_peer = a->pkts_to_peer, .bytes_to_peer = a->bytes_to_peer,
			.pkts_to_client = a->pkts_to_client, .bytes_to_client = a->bytes_to_client,
			.peak_pps = a->peak_pps,
		};
		turn_media_figures(s, a, &out[n]);
	}
	return n;
}
