/* The request half of a transfer: the head serialised once per handle, then
 * sent with a body from memory or from the read callback (chunk-framed when
 * its size is unknown). The response half is transfer_recv.c. Nothing here
 * allocates once the connection and the handle are warm. */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"

/* ---- the request ------------------------------------------------------- */

static const char *request_method(const struct xfer_easy *e) {
  if (e->x.method_get_like)
    return "GET";
  if (e->opt.customrequest)
    return e->opt.customrequest;
  if (e->opt.nobody)
    return "HEAD";
  if (e->opt.upload)
    return "PUT";
  if (e->opt.post || e->opt.postfields || e->opt.copypostfields)
    return "POST";
  return "GET";
}

static const char *memory_body(const struct xfer_easy *e) {
  return e->opt.copypostfields ? e->opt.copypostfields : e->opt.postfields;
}

/* The body the request carries: a size, XFER__HTTP_NO_BODY, or
 * XFER__HTTP_CHUNKED_BODY when a read callback gives an unknown amount. */
static int64_t request_body_len(const struct xfer_easy *e) {
  if (e->x.method_get_like || e->opt.nobody)
    return XFER__HTTP_NO_BODY;
  if (e->opt.upload)
    return e->opt.infilesize >= 0 ? e->opt.infilesize : XFER__HTTP_CHUNKED_BODY;
  const char *body = memory_body(e);
  if (body)
    return e->opt.postfieldsize >= 0 ? e->opt.postfieldsize : (int64_t)strlen(body);
  if (e->opt.post)
    return e->opt.postfieldsize >= 0 ? e->opt.postfieldsize : XFER__HTTP_CHUNKED_BODY;
  return XFER__HTTP_NO_BODY;
}

int xfer__transfer_build_head(struct xfer_easy *e, const struct xfer__url *u, char **buf,
                              size_t *cap, size_t *len, const char **errmsg) {
  int posting = !e->x.method_get_like && !e->opt.upload && (e->opt.post || memory_body(e));
  struct xfer__http_request r = {
      .method = request_method(e),
      .target = u->target,
      .host = u->host_hdr,
      .user_agent = e->opt.useragent,
      .headers = e->opt.httpheader,
      .body_len = request_body_len(e),
      .content_type = posting ? "application/x-www-form-urlencoded" : NULL,
  };
  return xfer__http_build_request(&r, buf, cap, len, errmsg);
}

int xfer__transfer_build_redirect(struct xfer_easy *e) {
  const char *errmsg = NULL;
  size_t len = 0;
  int rc = xfer__transfer_build_head(e, e->x.url, &e->redir_buf, &e->redir_cap, &len, &errmsg);
  if (rc < 0)
    return rc;
  xfer__transfer_set_request(e, e->redir_buf, len);
  return 0;
}

static int method_idempotent(const char *m) {
  static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
    if (strcmp(m, safe[i]) == 0)
      return 1;
  return 0;
}

void xfer__transfer_set_request(struct xfer_easy *e, const char *head, size_t len) {
  struct xfer__transfer *x = &e->x;
  int64_t blen = request_body_len(e);
  const char *method = request_method(e);
  x->req_head = head;
  x->req_head_len = len;
  x->req_body = NULL;
  x->req_body_len = 0;
  x->body_from_cb = 0;
  x->body_chunked = blen == XFER__HTTP_CHUNKED_BODY;
  if (blen != XFER__HTTP_NO_BODY) {
    const char *mem = (e->opt.upload || x->method_get_like) ? NULL : memory_body(e);
    if (mem) {
      x->req_body = mem;
      x->req_body_len = blen;
    } else {
      x->body_from_cb = 1;
      x->req_body_len = blen; /* -2 when chunked */
    }
  }
  x->method_head = e->opt.nobody && !x->method_get_like;
  x->idempotent = (unsigned)method_idempotent(method);
}

/* Fills upload_buf from the read callback: one chunk-framed piece when the
 * size is unknown, raw bytes otherwise. Returns bytes ready, or a negative
 * code (error.h) with the error buffer set. */
static long fill_upload(struct xfer_multi *m, struct xfer_easy *e) {
  /* One read of 16 KiB per send, as libcurl's upload buffer default. The
   * second half of the buffer is where the read lands before framing. */
  const size_t piece = 16384;
  struct xfer__transfer *x = &e->x;
  if (!e->upload_buf) {
    e->upload_cap = 2 * piece + XFER__HTTP_CHUNK_OVERHEAD;
    e->upload_buf = xfer__malloc(e->upload_cap);
    if (!e->upload_buf)
      return -ENOMEM;
  }
  size_t want = piece;
  if (!x->body_chunked) {
    uint64_t left = (uint64_t)(x->req_body_len - x->body_sent);
    if (left < want)
      want = (size_t)left;
  }
  char *dst = x->body_chunked ? e->upload_buf + piece + XFER__HTTP_CHUNK_OVERHEAD : e->upload_buf;
  xfer_read_callback cb = e->opt.read_cb;
  m->in_callback++;
  size_t n = cb(dst, 1, want, e->opt.read_data);
  m->in_callback--;
  if (n == XFER_READFUNC_ABORT) {
    xfer__easy_error(e, "Operation aborted by the read callback");
    return XFER__EABORTED;
  }
  if (n == XFER_READFUNC_PAUSE) {
    xfer__easy_error(e, "Pausing from the read callback is not supported yet");
    return XFER__EREAD;
  }
  if (n > want) {
    xfer__easy_error(e, "Read callback returned %zu bytes, more than the %zu asked for", n, want);
    return XFER__EREAD;
  }
  if (x->body_chunked) {
    if (n == 0)
      x->body_eof = 1;
    return (long)xfer__http_frame_chunk(e->upload_buf, dst, n);
  }
  if (n == 0) {
    xfer__easy_error(e, "Read callback ended the upload %lld bytes short of its declared size",
                     (long long)(x->req_body_len - x->body_sent));
    return XFER__EREAD;
  }
  if ((int64_t)(x->body_sent + (int64_t)n) == x->req_body_len)
    x->body_eof = 1;
  return (long)n;
}

/* Sends c->iov[0..iovcnt): as it is, or encrypted into the connection's
 * TLS output first. */
static void submit_send(struct xfer_multi *m, struct xfer__conn *c, int iovcnt) {
  c->iovcnt = iovcnt;
  if (c->tls.ssl) {
    xfer__tls_send(m, c);
    return;
  }
  c->tx.kind = XFER__OP_SEND;
  c->tx.iov = c->iov;
  c->tx.iovcnt = iovcnt;
  xfer__multi_submit(m, &c->tx);
}

/* Queues the next piece of a callback body, or goes on to the response. */
static void send_next_piece(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  if (!x->body_from_cb || x->body_eof) {
    xfer__transfer_start_recv(m, e);
    return;
  }
  long n = fill_upload(m, e);
  if (n < 0) {
    xfer__transfer_finish(m, e, xfer__code_of((int)n, XFERE_READ_ERROR), 0);
    return;
  }
  struct xfer__conn *c = x->conn;
  c->iov[0].iov_base = e->upload_buf;
  c->iov[0].iov_len = (size_t)n;
  e->upload_off = 0;
  e->upload_len = (size_t)n;
  if (!x->body_chunked)
    x->body_sent += n;
  submit_send(m, c, 1);
}

void xfer__transfer_send(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  XFER__SET_STATE(m, e, XFER__ST_SENDING);
  /* Connected: only the total deadline is left, if there is one. Done
   * here, after the state change, for every way in (a new connection, a
   * handshake, a warm connection, a retry). */
  xfer__transfer_set_timer(m, e);
  e->info.t_pretransfer = (int64_t)(m->now - x->t_start);
  e->info.request_size = (long)x->req_head_len;
  if (e->opt.verbose)
    xfer__easy_debug(e, XFERINFO_HEADER_OUT, x->req_head, x->req_head_len);
  c->iov[0].iov_base = (void *)x->req_head;
  c->iov[0].iov_len = x->req_head_len;
  int n = 1;
  if (x->req_body && x->req_body_len > 0) {
    c->iov[1].iov_base = (void *)x->req_body;
    c->iov[1].iov_len = (size_t)x->req_body_len;
    n = 2;
  }
  submit_send(m, c, n);
  /* The receive goes out with the send: an early answer (a 413 during an
   * upload, a server closing) is seen at once, and with epoll the fd's read
   * interest never drops between requests, so a keep-alive request costs no
   * epoll_ctl at all. */
  xfer__transfer_arm_recv(m, e);
}

void xfer__transfer_sent(struct xfer_multi *m, struct xfer_easy *e, int32_t res) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  if (res < 0) {
    if (xfer__is_errno(res) && xfer__transfer_can_retry(e)) {
      xfer__transfer_retry(m, e);
      return;
    }
    xfer__transfer_fail(m, e, xfer__code_of_call(res, XFERE_SEND_ERROR),
                        "Failed sending the request: %s", xfer__err_text(res));
    return;
  }
  size_t done = (size_t)res;
  x->req_sent += done;
  /* Body bytes count toward SIZE_UPLOAD once the head is out. */
  uint64_t before = x->req_sent - done;
  uint64_t head_left = before >= x->req_head_len ? 0 : x->req_head_len - before;
  if (done > head_left)
    e->info.size_upload += (int64_t)(done - head_left);
  int iovcnt = c->iovcnt;
  struct iovec *iov = c->iov;
  while (iovcnt > 0 && done >= iov[0].iov_len) {
    done -= iov[0].iov_len;
    iov[0] = iov[1];
    iovcnt--;
  }
  if (iovcnt > 0) {
    iov[0].iov_base = (char *)iov[0].iov_base + done;
    iov[0].iov_len -= done;
    submit_send(m, c, iovcnt);
    return;
  }
  if (x->body_from_cb && xfer__transfer_progress(m, e) < 0)
    return;
  send_next_piece(m, e);
}
