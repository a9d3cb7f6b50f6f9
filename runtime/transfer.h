/* Internal interface between the transfer state machine (transfer.c) and
 * its byte-moving halves (transfer_send.c, transfer_recv.c, transfer_tls.c). */
#ifndef XFER_RUNTIME_TRANSFER_H
#define XFER_RUNTIME_TRANSFER_H

#include "error.h"
#include "multi.h"

#define XFER__SET_STATE(m, e, st) xfer__set_state((m), (e), (st), __LINE__)
void xfer__set_state(struct xfer_multi *m, struct xfer_easy *e, enum xfer__state st, int line);

void xfer__transfer_finish(struct xfer_multi *m, struct xfer_easy *e, xfer_code code, int reusable);
void xfer__transfer_fail(struct xfer_multi *m, struct xfer_easy *e, xfer_code code, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
void xfer__transfer_resolve(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_connect_done(struct xfer_multi *m, struct xfer_easy *e, int32_t res);
void xfer__transfer_redirect(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_retry(struct xfer_multi *m, struct xfer_easy *e);
int xfer__transfer_can_retry(const struct xfer_easy *e);

/* transfer_send.c */
/* Serialises the request head for URL u from the handle's options. */
int xfer__transfer_build_head(struct xfer_easy *e, const struct xfer__url *u, char **buf,
                              size_t *cap, size_t *len, const char **errmsg);
/* Points the transfer at a serialised request head and works out its body
 * from the options. */
void xfer__transfer_set_request(struct xfer_easy *e, const char *head, size_t len);
/* Serialises the head for the current (redirected) URL. */
int xfer__transfer_build_redirect(struct xfer_easy *e);
void xfer__transfer_send(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_sent(struct xfer_multi *m, struct xfer_easy *e, int32_t res);

/* transfer_recv.c */
/* Arms the receive (multishot where the backend has it) unless it is armed
 * or a completion waits; the response may come while the request is out. */
void xfer__transfer_arm_recv(struct xfer_multi *m, struct xfer_easy *e);
/* The whole request is out: from now on only the response matters. */
void xfer__transfer_start_recv(struct xfer_multi *m, struct xfer_easy *e);
/* Calls the progress callback; -1 when it aborted the transfer. */
int xfer__transfer_progress(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_received(struct xfer_multi *m, struct xfer_easy *e,
                             const struct xfer__rx_entry *en);
/* Parses what rbuf holds (the TLS layer decrypts into it). */
void xfer__transfer_parse(struct xfer_multi *m, struct xfer_easy *e);
/* The response stream ended; truncated: a TLS stream ended without
 * close_notify. */
void xfer__transfer_eof(struct xfer_multi *m, struct xfer_easy *e, int truncated);
/* A receive failed with -errno: retried when safe, else RECV_ERROR. */
void xfer__transfer_recv_error(struct xfer_multi *m, struct xfer_easy *e, int32_t res);

/* transfer_tls.c */
/* Picks (or creates) the TLS context of the transfer's options into
 * e->x.tls; 0, or -1 when the transfer failed. */
int xfer__tls_select(struct xfer_multi *m, struct xfer_easy *e);
/* Only the common case of xfer__tls_select, which can neither fail nor
 * create a context: the handle's last context on this multi, options
 * untouched. 1 when it set e->x.tls, else 0. */
int xfer__tls_select_cached(struct xfer_multi *m, struct xfer_easy *e);
void xfer__tls_ctxs_destroy(struct xfer_multi *m);
/* The TCP connection is up: handshake, then the request. */
void xfer__tls_begin(struct xfer_multi *m, struct xfer_easy *e);
/* Encrypts c->iov[0..c->iovcnt) into the TLS output and sends it. */
void xfer__tls_send(struct xfer_multi *m, struct xfer__conn *c);
/* A SEND of the TLS output completed. */
void xfer__tls_tx_done(struct xfer_multi *m, struct xfer_easy *e, int32_t res);
void xfer__tls_received(struct xfer_multi *m, struct xfer_easy *e, const struct xfer__rx_entry *en);
void xfer__tls_arm_recv(struct xfer_multi *m, struct xfer__conn *c);
/* Connection life (pool.c): fresh state, whether an exchange is still
 * unfinished, and the close (close_notify, library object freed). */
void xfer__conn_tls_reset(struct xfer__conn *c);
int xfer__conn_tls_busy(const struct xfer__conn *c);
void xfer__conn_tls_close(struct xfer_multi *m, struct xfer__conn *c);

#endif
