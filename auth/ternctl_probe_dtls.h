/* One end of the probe's DTLS-SRTP handshake (RFC 5764), over memory BIOs:
 * the caller carries each datagram (one DTLS record) to the other end by
 * whatever path it is testing (for `ternctl probe`: through the relay) and
 * hands what arrives back in. Each end has an ephemeral self-signed P-256
 * certificate and accepts only the certificate it was pinned to, as a
 * WebRTC endpoint accepts only the fingerprint from the SDP. Knows nothing
 * of TURN or sockets; ternctl_probe.c drives it. */
#ifndef TERN_AUTH_TERNCTL_PROBE_DTLS_H
#define TERN_AUTH_TERNCTL_PROBE_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_DTLS_MTU        1200    /* below any real path's MTU, with TURN's overhead */
#define PROBE_SRTP_KEY_LEN    16      /* SRTP_AES128_CM_SHA1_80 master key */
#define PROBE_SRTP_SALT_LEN   14      /* ... and master salt */
#define PROBE_SRTP_KEYSALT    (PROBE_SRTP_KEY_LEN + PROBE_SRTP_SALT_LEN)
#define PROBE_DTLS_KM_LEN     (2 * PROBE_SRTP_KEYSALT)
#define PROBE_DTLS_PROFILE    "SRTP_AES128_CM_SHA1_80"

struct probe_dtls;

/* libsrtp2's layout: master key followed by master salt, for the stream
 * this end protects (`out`) and the one it unprotects (`in`). */
struct probe_srtp_keys {
	uint8_t out[PROBE_SRTP_KEYSALT];
	uint8_t in[PROBE_SRTP_KEYSALT];
};

/* A new end: the DTLS client or server, with its own key and certificate.
 * NULL with err set on failure. Free with probe_dtls_free (NULL is fine). */
struct probe_dtls *probe_dtls_new(bool server, char *err, size_t cap);
void probe_dtls_free(struct probe_dtls *d);

/* Accept only `peer`'s certificate from the other side. 0 or -ENOMEM. */
int probe_dtls_pin(struct probe_dtls *d, const struct probe_dtls *peer);

/* Advances the handshake. 1 done, 0 waiting for input or a timer, negative
 * errno on failure with err set (alert, wrong certificate, no SRTP
 * profile agreed). */
int probe_dtls_step(struct probe_dtls *d, char *err, size_t cap);
bool probe_dtls_done(const struct probe_dtls *d);

/* A datagram that arrived for this end. 0, or -EMSGSIZE when it is not a
 * sequence of whole DTLS records (it is then ignored). */
int probe_dtls_input(struct probe_dtls *d, const uint8_t *p, size_t len);
/* The next datagram to send: its length (one record, at most
 * PROBE_DTLS_MTU), 0 when nothing is pending. */
size_t probe_dtls_output(struct probe_dtls *d, uint8_t *buf, size_t cap);

/* Milliseconds until a retransmission is due, -1 when no timer runs.
 * probe_dtls_tick retransmits the last flight when it is due (the
 * datagrams then come out of probe_dtls_output); 0 or -EPROTO. */
int probe_dtls_timeout_ms(struct probe_dtls *d);
int probe_dtls_tick(struct probe_dtls *d);

/* After the handshake: the SRTP keys of this end, from the exported keying
 * material ("EXTRACTOR-dtls_srtp", RFC 5764 section 4.2). 0 or -EPROTO. */
int probe_dtls_srtp_keys(struct probe_dtls *d, struct probe_srtp_keys *k);

/* RFC 5764 section 4.2's split of the keying material:
 * client_write_SRTP_master_key[16], server_write_SRTP_master_key[16],
 * client_write_SRTP_master_salt[14], server_write_SRTP_master_salt[14].
 * The client writes with the client's key and salt, the server with the
 * server's. */
void probe_dtls_split(const uint8_t km[PROBE_DTLS_KM_LEN], bool server,
		      struct probe_srtp_keys *k);

#endif
