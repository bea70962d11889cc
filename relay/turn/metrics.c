/* Counting for the exporter: the fixed label sets of metrics/counters.h,
 * derived from an allocation or a request, never from who the client is. */
#include "relay/turn/server_internal.h"

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
