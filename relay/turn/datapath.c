/* The relayed-packet path (RFC 8656 sections 10-12): Send and Data
 * indications, ChannelData both ways. It takes no lock and allocates
 * nothing: lookups are in the worker's own tables and answers are built in
 * the worker's scratch buffer. */
#include "relay/turn/server_internal.h"

#include <string.h>

static void to_peer(struct turn_server *s, struct allocation *a,
		    const struct sockaddr_storage *peer, const uint8_t *data, size_t len)
{
	struct turn_relay *r = allocation_relay(a, peer->ss_family);
	if (!r || !allocation_permitted(a, peer, s->now_ms)) {
		mc_inc(&s->metrics.no_permission);
		return;
	}
	/* A permission covers every port of an address, one of which may be
	 * our own listener: never relay into ourselves. */
	const struct peer_policy *policy = &s->snap->policy;
	if (peer_policy_port_is_own(policy, sockaddr_port(peer)) &&
	    peer_policy_check(policy, peer) == PEER_DENIED_SELF) {
		mc_inc(&s->metrics.peer_denied);
		return;
	}
	if (turn_media_gate(s, a, peer, data, len, MD_TO_PEER))
		return;
	s->ops->send_peer(s->io, r, peer, data, len);
	a->pkts_to_peer++;
	a->bytes_to_peer += len;
	enum metrics_transport t = turn_metrics_transport(&a->client);
	mc_inc(&s->metrics.relayed_packets[MD_TO_PEER][t]);
	mc_add(&s->metrics.relayed_bytes[MD_TO_PEER][t], len);
}

void turn_handle_send_indication(struct turn_server *s, struct allocation *a,
				 const struct stun_msg *msg)
{
	const struct stun_attr *pa = stun_msg_find(msg, TURN_ATTR_XOR_PEER_ADDRESS);
	const struct stun_attr *data = stun_msg_find(msg, TURN_ATTR_DATA);
	struct sockaddr_storage peer;
	if (!pa || !data || stun_attr_get_xor_addr(msg, pa, &peer) < 0) {
		mc_inc(&s->metrics.malformed);
		return;
	}
	to_peer(s, a, &peer, stun_attr_value(msg, data), data->len);
}

void turn_handle_channel_data(struct turn_server *s, struct allocation *a, const uint8_t *buf,
			      size_t len)
{
	uint16_t number;
	const uint8_t *payload;
	size_t plen;
	if (turn_channel_data_parse(buf, len, &number, &payload, &plen) < 0) {
		mc_inc(&s->metrics.malformed);
		return;
	}
	const struct turn_channel *ch = allocation_channel_by_number(a, number, s->now_ms);
	if (!ch) {
		mc_inc(&s->metrics.no_permission);
		return;
	}
	to_peer(s, a, &ch->peer, payload, plen);
}

/* ChannelData toward the client; padded to 4 bytes on streams (RFC 8656 section 12.5). */
static size_t build_channel_data(struct turn_server *s, const struct allocation *a,
				 uint16_t number, const uint8_t *data, size_t len)
{
	uint8_t *out = s->out;
	out[0] = (uint8_t)(number >> 8);
	out[1] = (uint8_t)number;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 4, data, len);
	size_t total = 4 + len;
	if (a->client.transport != TURN_UDP) {
		while (total & 3)
			out[total++] = 0;
	}
	return total;
}

void turn_server_peer_input(struct turn_server *s, struct turn_relay *r,
			    const struct sockaddr_storage *peer, const uint8_t *buf, size_t len)
{
	struct allocation *a = r->owner;
	if (!allocation_permitted(a, peer, s->now_ms)) {
		mc_inc(&s->metrics.no_permission);
		return;
	}
	if (turn_media_gate(s, a, peer, buf, len, MD_TO_CLIENT))
		return;
	const struct turn_channel *ch = allocation_channel_by_peer(a, peer, s->now_ms);
	size_t out_len;
	if (ch && len <= 0xffff) {
		out_len = build_channel_data(s, a, ch->number, buf, len);
	} else {
		static const uint8_t no_tid[STUN_TID_LEN] = { 0 };
		uint8_t tid[STUN_TID_LEN];
		/* Indications need a transaction id but nothing matches on it;
		 * derive one cheaply from the allocation instead of the CSPRNG. */
		memcpy(tid, no_tid, sizeof(tid));
		memcpy(tid, &a->pkts_to_client, sizeof(uint64_t));
		memcpy(tid + 8, &a->id, 4);
		struct stun_builder b;
		stun_build_init(&b, s->out, sizeof(s->out), stun_type(TURN_DATA, STUN_INDICATION), tid);
		stun_build_xor_addr(&b, TURN_ATTR_XOR_PEER_ADDRESS, peer);
		stun_build_attr(&b, TURN_ATTR_DATA, buf, len);
		int n = stun_build_finish(&b);
		if (n < 0) {
			mc_inc(&s->metrics.malformed);
			return;
		}
		out_len = (size_t)n;
	}
	s->ops->send_client(s->io, &a->client, s->out, out_len);
	a->pkts_to_client++;
	a->bytes_to_client += len;
	enum metrics_transport t = turn_metrics_transport(&a->client);
	mc_inc(&s->metrics.relayed_packets[MD_TO_CLIENT][t]);
	mc_add(&s->metrics.relayed_bytes[MD_TO_CLIENT][t], len);
}
