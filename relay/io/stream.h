/* Stream client connections (TCP and TLS), shared by stream.c (framing,
 * plain TCP, timeouts), stream_tls.c (ClientHello routing and TLS through
 * memory BIOs) and proxy.c (passthrough to a web backend on port 443).
 * Internal to relay/io. */
#ifndef TERN_RELAY_IO_STREAM_H
#define TERN_RELAY_IO_STREAM_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "relay/io/worker.h"

#define STREAM_IN_INITIAL   4096
#define STREAM_MAX_FRAME    (65535 + STUN_HEADER_LEN)
#define STREAM_HELLO_MAX    16384    /* a ClientHello must fit in this */
#define STREAM_PARTIAL_MS   10000    /* a frame must complete this soon after its first byte */

enum stream_phase {
	STREAM_HELLO,       /* TLS port: reading the ClientHello to decide */
	STREAM_HANDSHAKE,   /* TLS handshake running */
	STREAM_OPEN,        /* STUN/TURN frames flow */
};

struct tcp_conn {
	struct worker *w;
	struct tcp_conn *prev, *next;
	int fd;
	bool dead;                      /* close at the next loop pass, not mid-callback */
	bool counted;                   /* holds a conn_limit slot */
	enum stream_phase phase;
	struct event *rev, *wev;
	struct turn_client client;
	struct allocation *alloc;
	/* Plaintext input being framed (for TLS: the ClientHello while routing). */
	uint8_t *in;
	size_t in_len, in_cap;
	/* Bytes for the socket that it did not take yet (ciphertext for TLS). */
	struct evbuffer *out;
	SSL *ssl;                       /* TLS only */
	BIO *rbio, *wbio;               /* memory BIOs: we do the socket I/O */
	uint64_t opened_ms, last_frame_ms, partial_since_ms;
};

/* stream.c */
void stream_close(struct tcp_conn *c);
/* Closes from a safe place (the write event), not inside the current callback. */
void stream_kill(struct tcp_conn *c);
/* Puts bytes on the wire, queueing what the socket does not take. */
void stream_write_raw(struct tcp_conn *c, const uint8_t *buf, size_t len);
/* Frames and hands to the TURN server every complete frame in c->in. */
bool stream_consume(struct tcp_conn *c);
/* Makes sure c->in has room to read into; false when the frame is too large. */
bool stream_make_room(struct tcp_conn *c);
/* Removes c from the worker's lists and frees it, leaving the socket open
 * and the per-source slot taken (both now belong to a passthrough proxy). */
int stream_detach(struct tcp_conn *c);

/* stream_tls.c */
/* New ciphertext arrived on a TLS connection. */
void stream_tls_input(struct tcp_conn *c, const uint8_t *buf, size_t len);
/* Plaintext toward the client. */
void stream_tls_send(struct tcp_conn *c, const uint8_t *buf, size_t len);
void stream_tls_free(struct tcp_conn *c);

/* proxy.c */
/* Passes the connection to backend untouched, starting with the bytes
 * already read. Takes ownership of fd and of source's conn_limit slot. */
void proxy_start(struct worker *w, int fd, const struct sockaddr_storage *source,
		 const struct sockaddr_storage *backend, const uint8_t *first, size_t first_len);
void proxy_close_all(struct worker *w);

#endif
