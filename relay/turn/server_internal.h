/* What the TURN server's own files share: the request being answered and
 * the helpers that build answers. Not for use outside relay/turn/. */
#ifndef TERN_RELAY_TURN_SERVER_INTERNAL_H
#define TERN_RELAY_TURN_SERVER_INTERNAL_H

#include "relay/turn/server.h"

/* One request being answered. */
struct turn_req {
	const struct turn_client *from;
	struct allocation **alloc_slot;  /* stream connections only */
	struct allocation *alloc;        /* the 5-tuple's allocation, or NULL */
	const struct stun_msg *msg;
	uint16_t method;
	/* Set by turn_auth_request on success. */
	bool authenticated;
	bool use_sha256_mi;              /* answer with MESSAGE-INTEGRITY-SHA256 */
	uint8_t key[32];
	uint8_t key_len;
	const char *username;            /* points into the request */
	size_t username_len;
	struct cred_username cred;
};

/* Starts an answer to req in s->out. */
void turn_answer_start(struct turn_server *s, struct stun_builder *b, const struct turn_req *req,
		       enum stun_class cls);
/* Finishes (SOFTWARE, integrity, fingerprint as apply), sends, and caches
 * the bytes when the request was authenticated. */
void turn_answer_send(struct turn_server *s, struct stun_builder *b, struct turn_req *req);
/* A success answer with no attributes of its own (CreatePermission, ChannelBind). */
void turn_answer_empty_success(struct turn_server *s, struct turn_req *req);
/* An error answer with nothing but ERROR-CODE (and integrity if authenticated). */
void turn_answer_error(struct turn_server *s, struct turn_req *req, int code);
/* An unauthenticated answer may go out only while the source has tokens. */
bool turn_unauth_allowed(struct turn_server *s, const struct turn_client *from);

/* Authenticates req: returns 0 when the request may proceed; otherwise the
 * error answer (401, 438, 400, 441) has been sent or dropped by the rate
 * limiter, and the caller stops. */
int turn_auth_request(struct turn_server *s, struct turn_req *req);

/* Method handlers (methods.c), called after authentication. */
void turn_handle_allocate(struct turn_server *s, struct turn_req *req);
void turn_handle_refresh(struct turn_server *s, struct turn_req *req);
void turn_handle_create_permission(struct turn_server *s, struct turn_req *req);
void turn_handle_channel_bind(struct turn_server *s, struct turn_req *req);

/* Metrics labels of an allocation and of a client (metrics.c). */
enum metrics_transport turn_metrics_transport(const struct turn_client *c);
enum metrics_family turn_metrics_family(const struct allocation *a);
void turn_count_auth_failure(struct turn_server *s, enum metrics_auth_failure why);
void turn_count_outcome(struct turn_server *s, int code);
/* The audit trail (metrics.c): one record into the worker's ring, never
 * blocking (a full ring drops and counts). `reason` is an enum
 * metrics_end_reason for AE_ALLOCATION_DELETED (ME_REVOKED makes it
 * AE_REVOCATION_ENFORCED), the enum conf_media_policy for
 * AE_MEDIA_UNENCRYPTED, ignored otherwise; peer is for AE_PERMISSION_DENIED
 * and AE_MEDIA_UNENCRYPTED. */
void turn_audit(struct turn_server *s, enum audit_event ev, const struct allocation *a,
		int reason, const struct sockaddr_storage *peer);
/* Authentication refused (not the normal first challenge): who tried, from where. */
void turn_audit_refused(struct turn_server *s, const struct turn_req *req,
			enum metrics_auth_failure why);

/* The data path (datapath.c). */
void turn_handle_send_indication(struct turn_server *s, struct allocation *a,
				 const struct stun_msg *msg);
void turn_handle_channel_data(struct turn_server *s, struct allocation *a, const uint8_t *buf,
			      size_t len);

/* Media assurance glue (media_turn.c). turn_media_gate inspects a payload
 * about to be relayed between a and peer; true: drop it (media.policy
 * enforce). turn_media_observe_live rebuilds the live media histograms. */
bool turn_media_gate(struct turn_server *s, struct allocation *a,
		     const struct sockaddr_storage *peer, const uint8_t *data, size_t len,
		     enum metrics_direction dir);
void turn_media_observe_live(struct turn_server *s);
/* Gives an allocation's media state (if any) back to the worker's pool. */
void turn_media_release(struct turn_server *s, struct allocation *a);
/* Frees the pool (server teardown). */
void turn_media_pool_destroy(struct turn_server *s);
void turn_media_figures(const struct turn_server *s, const struct allocation *a,
			struct alloc_figures *f);

/* Allocation lifecycle (server.c). */
int turn_allocation_register(struct turn_server *s, struct allocation *a,
			     struct allocation **alloc_slot);
void turn_allocation_delete(struct turn_server *s, struct allocation *a,
			    enum metrics_end_reason why);
/* Closes the relays and returns ports and quota (also for a half-made allocation). */
void turn_allocation_release(struct turn_server *s, struct allocation *a);

/* Lifetime granted for a requested one (absent: -1), capped by the
 * credential's expiry; 0 if the credential has no time left. */
uint32_t turn_lifetime_for(const struct turn_server *s, int64_t requested, int64_t cred_expiry);

#endif
