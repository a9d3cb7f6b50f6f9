/* The byte-moving half of a transfer: the request going out (head, then a
 * body from memory or from the read callback) and the response coming in
 * (heads parsed in place in the connection's receive buffer, the body
 * decoded straight from it into the write callback). Nothing here
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
  int posting = !e->x.method_get_like && !e->opt.upload &&
                (e->opt.post || memory_body(e));
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
 * xfer_code with the error buffer set. */
static long fill_upload(struct xfer_multi *m, struct xfer_easy *e) {
  /* One read of 16 KiB per send, as libcurl's upload buffer default. The
   * second half of the buffer is where the read lands before framing. */
  const size_t piece = 16384;
  struct xfer__transfer *x = &e->x;
  if (!e->upload_buf) {
    e->upload_cap = 2 * piece + XFER__HTTP_CHUNK_OVERHEAD;
    e->upload_buf = xfer__malloc(e->upload_cap);
    if (!e->upload_buf)
      return -XFERE_OUT_OF_MEMORY;
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
    return -XFERE_ABORTED_BY_CALLBACK;
  }
  if (n == XFER_READFUNC_PAUSE) {
    xfer__easy_error(e, "Pausing from the read callback is not supported yet");
    return -XFERE_READ_ERROR;
  }
  if (n > want) {
    xfer__easy_error(e, "Read callback returned %zu bytes, more than the %zu asked for", n, want);
    return -XFERE_READ_ERROR;
  }
  if (x->body_chunked) {
    if (n == 0)
      x->body_eof = 1;
    return (long)xfer__http_frame_chunk(e->upload_buf, dst, n);
  }
  if (n == 0) {
    xfer__easy_error(e, "Read callback ended the upload %lld bytes short of its declared size",
                     (long long)(x->req_body_len - x->body_sent));
    return -XFERE_READ_ERROR;
  }
  if ((int64_t)(x->body_sent + (int64_t)n) == x->req_body_len)
    x->body_eof = 1;
  return (long)n;
}

static void arm_recv(struct xfer_multi *m, struct xfer_easy *e);
static void start_recv(struct xfer_multi *m, struct xfer_easy *e);

static void submit_send(struct xfer_multi *m, struct xfer__conn *c, int iovcnt) {
  c->tx.kind = XFER__OP_SEND;
  c->tx.iov = c->iov;
  c->tx.iovcnt = iovcnt;
  xfer__multi_submit(m, &c->tx);
}

/* Queues the next piece of a callback body, or goes on to the response. */
static void send_next_piece(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  if (!x->body_from_cb || x->body_eof) {
    start_recv(m, e);
    return;
  }
  long n = fill_upload(m, e);
  if (n < 0) {
    xfer__transfer_finish(m, e, (xfer_code)-n, 0);
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
  arm_recv(m, e);
}

static int call_progress(struct xfer_multi *m, struct xfer_easy *e) {
  if (e->opt.noprogress || !e->opt.xferinfo_cb)
    return 0;
  int64_t dltotal = e->info.content_length_download > 0 ? e->info.content_length_download : 0;
  int64_t ultotal = e->x.req_body_len > 0 ? e->x.req_body_len : 0;
  m->in_callback++;
  int rc = e->opt.xferinfo_cb(e->opt.xferinfo_data, dltotal, e->info.size_download, ultotal,
                              e->info.size_upload);
  m->in_callback--;
  if (rc != 0 && rc != XFER_PROGRESSFUNC_CONTINUE) {
    xfer__transfer_fail(m, e, XFERE_ABORTED_BY_CALLBACK, "Operation aborted by the progress "
                                                         "callback");
    return -1;
  }
  return 0;
}

void xfer__transfer_sent(struct xfer_multi *m, struct xfer_easy *e, int32_t res) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  if (res < 0) {
    if (xfer__transfer_can_retry(e)) {
      xfer__transfer_retry(m, e);
      return;
    }
    xfer__transfer_fail(m, e, XFERE_SEND_ERROR, "Failed sending the request: %s",
                        strerror(-res));
    return;
  }
  size_t done = (size_t)res;
  x->req_sent += done;
  /* Body bytes count toward SIZE_UPLOAD once the head is out. */
  uint64_t before = x->req_sent - done;
  uint64_t head_left = before >= x->req_head_len ? 0 : x->req_head_len - before;
  if (done > head_left)
    e->info.size_upload += (int64_t)(done - head_left);
  int iovcnt = c->tx.iovcnt;
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
  if (x->body_from_cb && call_progress(m, e) < 0)
    return;
  send_next_piece(m, e);
}

/* ---- the response ------------------------------------------------------ */

static void arm_recv(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  /* A receive that completed but is not processed yet (the send's
   * completion of the same batch is handled first) still owns the buffer
   * past rlen: arming another would read over its bytes. */
  if (c->rx.armed || c->rx_done)
    return;
  c->rx.kind = XFER__OP_RECV;
  c->rx.flags = 0; /* no longer the idle watch: fdset reports it again */
  c->rx.buf = c->rbuf + c->rlen;
  c->rx.len = c->rcap - c->rlen;
  xfer__multi_submit(m, &c->rx);
}

/* The whole request is out: from now on only the response matters. */
static void start_recv(struct xfer_multi *m, struct xfer_easy *e) {
  if (e->x.state != XFER__ST_RECEIVING)
    XFER__SET_STATE(m, e, XFER__ST_RECEIVING);
  arm_recv(m, e);
}

static struct xfer__http_limits limits_of(const struct xfer_easy *e) {
  struct xfer__http_limits l = {e->opt.max_head, e->opt.max_line, e->opt.max_headers};
  return l;
}

/* Hands one head's lines to the header callback (libcurl: one call per
 * line, status line and final empty line included, for every response). */
static int deliver_head(struct xfer_multi *m, struct xfer_easy *e, const char *head, size_t len) {
  xfer_write_callback cb = e->opt.header_cb;
  void *data = e->opt.header_data;
  if (!cb && data)
    cb = e->opt.write_cb; /* libcurl: HEADERDATA alone routes headers to the write callback */
  size_t pos = 0;
  const char *line;
  size_t line_len;
  while (xfer__http_next_line(head, len, &pos, &line, &line_len)) {
    if (e->opt.verbose)
      xfer__easy_debug(e, XFERINFO_HEADER_IN, line, line_len);
    if (!cb)
      continue;
    m->in_callback++;
    size_t got = cb((char *)line, 1, line_len, data);
    m->in_callback--;
    if (got != line_len) {
      xfer__easy_error(e, "Failed writing a header: the callback took %zu of %zu bytes", got,
                       line_len);
      return -XFERE_WRITE_ERROR;
    }
  }
  return 0;
}

static int on_body_data(void *ctx, const char *data, size_t len) {
  struct xfer_easy *e = ctx;
  struct xfer_multi *m = e->multi;
  e->info.size_download += (int64_t)len;
  if (!e->x.deliver_body)
    return 0;
  if (e->opt.verbose)
    xfer__easy_debug(e, XFERINFO_DATA_IN, data, len);
  while (len) {
    size_t n = len < XFER_MAX_WRITE_SIZE ? len : XFER_MAX_WRITE_SIZE;
    m->in_callback++;
    size_t got = e->opt.write_cb((char *)data, 1, n, e->opt.write_data);
    m->in_callback--;
    if (got != n) {
      if (got == XFER_WRITEFUNC_PAUSE)
        xfer__easy_error(e, "Pausing from the write callback is not supported yet");
      else
        xfer__easy_error(e, "Failure writing output to destination, passed %zu returned %zu", n,
                         got);
      return -XFERE_WRITE_ERROR;
    }
    data += n;
    len -= n;
  }
  return 0;
}

static int is_followed_redirect(const struct xfer_easy *e) {
  int s = e->x.head.status;
  return e->opt.followlocation && e->x.head.location &&
         (s == 301 || s == 302 || s == 303 || s == 307 || s == 308);
}

/* The response is complete. `clean` says the connection holds nothing
 * beyond it and the server did not ask to close. */
static void response_done(struct xfer_multi *m, struct xfer_easy *e, int clean) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  int reusable = clean && !x->head.conn_close && x->body.framing != XFER__HTTP_BODY_CLOSE;
  c->rlen = c->rpos = 0;
  c->requests++;
  if (call_progress(m, e) < 0)
    return;
  if (!is_followed_redirect(e)) {
    xfer__transfer_finish(m, e, XFERE_OK, reusable);
    return;
  }
  x->conn = NULL;
  c->owner = NULL;
  xfer__pool_release(m, c, reusable && !e->opt.forbid_reuse);
  xfer__transfer_redirect(m, e);
}

/* Parses as many heads as the buffer holds; returns 1 when the final head
 * is in, 0 when more bytes are needed (a recv is armed), -1 when the
 * transfer ended. */
static int process_heads(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  struct xfer__http_limits lim = limits_of(e);
  for (;;) {
    const char *errmsg = NULL;
    int rc = xfer__http_parse_head(&x->head, c->rbuf + c->rpos, c->rlen - c->rpos,
                                   &x->head_scanned, &lim, &errmsg);
    if (rc < 0) {
      xfer__transfer_fail(m, e, (xfer_code)-rc, "%s", errmsg ? errmsg : "Malformed response");
      return -1;
    }
    if (rc == 0) {
      if (c->rlen == c->rcap) {
        if (c->rpos) {
          memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
          c->rlen -= c->rpos;
          c->rpos = 0;
        } else {
          /* A head larger than the buffer: grow it, once per connection. */
          size_t ncap = c->rcap * 2;
          char *nb = xfer__realloc(c->rbuf, ncap);
          if (!nb) {
            xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a response head");
            return -1;
          }
          c->rbuf = nb;
          c->rcap = ncap;
        }
      }
      arm_recv(m, e);
      return 0;
    }
    size_t hlen = (size_t)rc;
    x->head_total += hlen;
    /* All heads of one transfer together (1xx included) stay under 20
     * times the single-head limit, as libcurl's Curl_bump_headersize. */
    if (x->head_total > 20u * lim.max_head) {
      xfer__transfer_fail(m, e, XFERE_RECV_ERROR, "Too much response header data in total");
      return -1;
    }
    e->info.header_size += (long)hlen;
    int drc = deliver_head(m, e, c->rbuf + c->rpos, hlen);
    if (drc < 0) {
      xfer__transfer_finish(m, e, (xfer_code)-drc, 0);
      return -1;
    }
    c->rpos += hlen;
    x->head_scanned = 0;
    if (x->head.status >= 200 || x->head.status < 100)
      break;
    if (x->head.status == 101) {
      xfer__transfer_fail(m, e, XFERE_WEIRD_SERVER_REPLY,
                          "Unexpected 101 Switching Protocols: no upgrade was asked for");
      return -1;
    }
    /* Another 1xx: skip it, as RFC 9110 section 15.2 asks. */
  }
  x->head_done = 1;
  e->info.response_code = x->head.status;
  e->info.t_starttransfer = (int64_t)(m->now - x->t_start);
  enum xfer__http_framing f = xfer__http_framing(&x->head, x->method_head);
  /* The header's value, not the framing's: a HEAD response announces the
   * size it does not send, and that is how libcurl users ask for one. */
  int bodyless = x->head.status == 204 || x->head.status == 304;
  if (!bodyless && !x->head.chunked && x->head.content_length >= 0)
    e->info.content_length_download = x->head.content_length;
  x->deliver_body = !is_followed_redirect(e);
  xfer__http_body_init(&x->body, f, x->head.content_length, &lim);
  return 1;
}

static void process_input(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  if (!x->head_done) {
    int rc = process_heads(m, e);
    if (rc <= 0)
      return;
    if (x->body.framing == XFER__HTTP_BODY_NONE) {
      response_done(m, e, c->rpos == c->rlen);
      return;
    }
  }
  const char *errmsg = NULL;
  size_t used = 0;
  int rc = xfer__http_body_feed(&x->body, c->rbuf + c->rpos, c->rlen - c->rpos, &used,
                                on_body_data, e, &errmsg);
  c->rpos += used;
  if (rc < 0) {
    if (errmsg)
      xfer__transfer_fail(m, e, (xfer_code)-rc, "%s", errmsg);
    else
      xfer__transfer_finish(m, e, (xfer_code)-rc, 0); /* the callback's error, already said */
    return;
  }
  if (rc == 1) {
    /* Bytes beyond the response mean the server and we disagree about
     * framing: never hand that connection to anyone (response-queue
     * poisoning in a proxy otherwise). */
    response_done(m, e, c->rpos == c->rlen);
    return;
  }
  c->rlen = c->rpos = 0;
  if (call_progress(m, e) < 0)
    return;
  arm_recv(m, e);
}

static void on_eof(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__transfer *x = &e->x;
  if (!x->head_done) {
    if (x->resp_bytes == 0) {
      if (xfer__transfer_can_retry(e)) {
        xfer__transfer_retry(m, e);
        return;
      }
      xfer__transfer_fail(m, e, XFERE_GOT_NOTHING, "Empty reply from server");
      return;
    }
    xfer__transfer_fail(m, e, XFERE_PARTIAL_FILE,
                        "Connection closed before the response head was complete");
    return;
  }
  const char *errmsg = NULL;
  int rc = xfer__http_body_eof(&x->body, &errmsg);
  if (rc < 0) {
    xfer__transfer_fail(m, e, (xfer_code)-rc, "%s (%lld bytes received)",
                        errmsg ? errmsg : "Transfer closed early",
                        (long long)e->info.size_download);
    return;
  }
  response_done(m, e, 0);
}

void xfer__transfer_received(struct xfer_multi *m, struct xfer_easy *e, int32_t res) {
  struct xfer__transfer *x = &e->x;
  if (res > 0) {
    x->conn->rlen += (size_t)res;
    x->resp_bytes += (uint64_t)res;
    process_input(m, e);
    return;
  }
  if (res == 0) {
    on_eof(m, e);
    return;
  }
  if (x->resp_bytes == 0 && xfer__transfer_can_retry(e)) {
    xfer__transfer_retry(m, e);
    return;
  }
  xfer__transfer_fail(m, e, XFERE_RECV_ERROR, "Failure when receiving data from the peer: %s",
                      strerror(-res));
}
