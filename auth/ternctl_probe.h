/* ternctl probe: an end-to-end check of a relay with an SRTP stream (see
 * ternctl_probe.c), and the small TURN client it uses
 * (ternctl_probe_turn.c: UDP, TCP or TLS to the relay, the long-term
 * credential dance, Allocate, CreatePermission, ChannelBind, ChannelData)
 * and the DTLS-SRTP keying through the relay (ternctl_probe_keying.c,
 * ternctl_probe_dtls.c).
 * Messages are built and parsed with relay/stun, the relay's own codec. */
#ifndef TERN_AUTH_TERNCTL_PROBE_H
#define TERN_AUTH_TERNCTL_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

enum probe_transport { PROBE_UDP, PROBE_TCP, PROBE_TLS };

struct probe_turn {
	enum probe_transport transport;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint8_t rbuf[65536 + 8];     /* stream transports: bytes not yet framed */
	size_t rlen;
	char username[520], realm[256], nonce[256];
	uint8_t key[16];             /* MD5 long-term key */
	bool have_key;
	struct sockaddr_storage relayed;
	struct sockaddr_storage local; /* our side of the connection to the relay */
};

struct probe_tls_opts {
	const char *ca_file;         /* NULL: the system store */
	const char *server_name;     /* SNI and the name checked; NULL: check the IP */
	bool insecure;               /* no certificate check at all */
};

/* Connects (TCP/TLS handshake included) within timeout_ms. 0 or negative
 * errno with err set. */
int probe_turn_open(struct probe_turn *t, enum probe_transport tr,
		    const struct sockaddr_storage *server, const struct probe_tls_opts *tls,
		    int timeout_ms, char *err, size_t cap);
void probe_turn_close(struct probe_turn *t);

/* Allocate (family of `peer_family`), CreatePermission and ChannelBind to
 * peer on `channel`. 0 or negative errno with err set (STUN error codes are
 * named in err). */
int probe_turn_setup(struct probe_turn *t, const char *username, const char *password,
		     const struct sockaddr_storage *peer, uint16_t channel, char *err, size_t cap);

/* ChannelData out. 0 or negative errno. */
int probe_turn_send_channel(struct probe_turn *t, uint16_t channel, const uint8_t *data,
			    size_t len);
/* Waits up to timeout_ms for one message from the relay; a ChannelData
 * sets *payload and *len (into the internal buffer) and returns 1; other messages
 * and timeouts return 0; errors negative errno. */
int probe_turn_recv_channel(struct probe_turn *t, int timeout_ms, const uint8_t **payload,
			    size_t *len);
/* Frees the allocation (Refresh with lifetime 0); best effort. */
void probe_turn_release(struct probe_turn *t);

/* The DTLS-SRTP handshake between the probe's two ends, carried through
 * the relay on `channel` and the peer's socket (ternctl_probe_keying.c),
 * within timeout_ms; the SRTP keys of each end. 0 or negative errno with
 * err set. */
struct probe_srtp_keys;
int probe_keying(struct probe_turn *t, uint16_t channel, int peer_fd, int timeout_ms,
		 struct probe_srtp_keys *client, struct probe_srtp_keys *peer, char *err,
		 size_t cap);

/* The subcommand (ternctl_probe.c). */
int cmd_probe(int argc, char **argv);
void probe_help(FILE *out);

#endif
