/* The response half of a transfer: heads parsed in place, the body decoded
 * straight into the write callback. The bytes come either from the
 * connection's own receive buffer (readiness backends receive into it) or
 * from a backend buffer (io_uring's provided-buffer ring), which is parsed
 * where it lies and handed back after; only a head cut across two receives
 * is copied, into the connection's buffer, to be completed there. */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"

/* The bytes being parsed: a view into rbuf or into a backend buffer. */
struct input {
  const char *p;
  size_t len;
  size_t pos;
  int in_rbuf;
};

void xfer__transfer_arm_recv(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  if (c->tls.ssl) {
    xfer__tls_arm_recv(m, c); /* ciphertext goes to the TLS input */
    return;
  }
  /* A receive that completed but is not processed yet still owns the
   * buffer past rlen: arming another would read over its bytes. A live
   * multishot receive needs nothing. */
  if (c->rx.armed || c->rxq_len)
    return;
  c->rx.kind = XFER__OP_RECV;
  /* Multishot where the backend has it: one submission serves every
   * response on the connection, and watches it while idle. No longer the
   * internal idle watch either, so fdset reports it again. */
  c->rx.flags = XFER__OPF_MULTISHOT;
  c->rx.buf = c->rbuf + c->rlen;
  c->rx.len = c->rcap - c->rlen;
  xfer__multi_submit(m, &c->rx);
}

/* The whole request is out: from now on only the response matters. */
void xfer__transfer_start_recv(struct xfer_multi *m, struct xfer_easy *e) {
  if (e->x.state != XFER__ST_RECEIVING)
    XFER__SET_STATE(m, e, XFER__ST_RECEIVING);
  xfer__transfer_arm_recv(m, e);
}

int xfer__transfer_progress(struct xfer_multi *m, struct xfer_easy *e) {
  if (e->opt.noprogress || !e->opt.xferinfo_cb)
    return 0;
  int64_t dltotal = e->info.content_length_download > 0 ? e->info.content_length_download : 0;
  int64_t ultotal = e->x.req_body_len > 0 ? e->x.req_body_len : 0;
  m->in_callback++;
  int rc = e->opt.xferinfo_cb(e->opt.xferinfo_data, dltotal, e->info.size_download, ultotal,
                              e->info.size_upload);
  m->in_callback--;
  if (rc != 0 && rc != XFER_PROGRESSFUNC_CONTINUE) {
    xfer__transfer_fail(m, e, XFERE_ABORTED_BY_CALLBACK,
                        "Operation aborted by the progress "
                        "callback");
    return -1;
  }
  return 0;
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
      return XFER__EWRITE;
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
      return XFER__EWRITE;
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
  if (xfer__transfer_progress(m, e) < 0)
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

/* A head is incomplete at the end of the input: keep its bytes in rbuf
 * (moved to the front, or copied there from a backend buffer) with room to
 * receive more. The scan cursor stays valid: it counts from the head's
 * start, which is where the bytes begin after this. Returns 0 or -1 when
 * the transfer ended (out of memory). */
static int keep_partial_head(struct xfer_multi *m, struct xfer_easy *e, struct input *in) {
  struct xfer__conn *c = e->x.conn;
  size_t left = in->len - in->pos;
  if (in->in_rbuf) {
    c->rpos = in->pos;
    /* No room left to receive the rest: compact, or grow once per
     * connection (the head limit bounds it). */
    if (c->rlen == c->rcap && xfer__conn_reserve(c, 1) < 0)
      goto oom;
    return 0;
  }
  c->rlen = c->rpos = 0;
  if (xfer__conn_reserve(c, left) < 0)
    goto oom;
  memcpy(c->rbuf, in->p + in->pos, left);
  c->rlen = left;
  return 0;
oom:
  xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a response head");
  return -1;
}

/* Parses as many heads as the input holds; returns 1 when the final head
 * is in, 0 when more bytes are needed, -1 when the transfer ended. */
static int process_heads(struct xfer_multi *m, struct xfer_easy *e, struct input *in) {
  struct xfer__transfer *x = &e->x;
  struct xfer__http_limits lim = limits_of(e);
  for (;;) {
    const char *errmsg = NULL;
    int rc = xfer__http_parse_head(&x->head, in->p + in->pos, in->len - in->pos, &x->head_scanned,
                                   &lim, &errmsg);
    if (rc < 0) {
      xfer__transfer_fail(m, e, xfer__code_of(rc, XFERE_RECV_ERROR), "%s",
                          errmsg ? errmsg : xfer__err_text(rc));
      return -1;
    }
    if (rc == 0)
      return keep_partial_head(m, e, in) < 0 ? -1 : 0;
    size_t hlen = (size_t)rc;
    x->head_total += hlen;
    /* All heads of one transfer together (1xx included) stay under 20
     * times the single-head limit, as libcurl's Curl_bump_headersize. */
    if (x->head_total > 20u * lim.max_head) {
      xfer__transfer_fail(m, e, XFERE_RECV_ERROR, "Too much response header data in total");
      return -1;
    }
    e->info.header_size += (long)hlen;
    int drc = deliver_head(m, e, in->p + in->pos, hlen);
    if (drc < 0) {
      xfer__transfer_finish(m, e, xfer__code_of(drc, XFERE_WRITE_ERROR), 0);
      return -1;
    }
    in->pos += hlen;
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

static void process_input(struct xfer_multi *m, struct xfer_easy *e, struct input *in) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  if (!x->head_done) {
    int rc = process_heads(m, e, in);
    if (rc < 0)
      return;
    if (rc == 0) {
      xfer__transfer_arm_recv(m, e);
      return;
    }
    if (x->body.framing == XFER__HTTP_BODY_NONE) {
      response_done(m, e, in->pos == in->len);
      return;
    }
  }
  const char *errmsg = NULL;
  size_t used = 0;
  int rc = xfer__http_body_feed(&x->body, in->p + in->pos, in->len - in->pos, &used, on_body_data,
                                e, &errmsg);
  in->pos += used;
  if (rc < 0) {
    if (errmsg)
      xfer__transfer_fail(m, e, xfer__code_of(rc, XFERE_RECV_ERROR), "%s", errmsg);
    else /* the callback's error, already said */
      xfer__transfer_finish(m, e, xfer__code_of(rc, XFERE_WRITE_ERROR), 0);
    return;
  }
  if (rc == 1) {
    /* Bytes beyond the response mean the server and we disagree about
     * framing: never hand that connection to anyone (response-queue
     * poisoning in a proxy otherwise). */
    response_done(m, e, in->pos == in->len);
    return;
  }
  c->rlen = c->rpos = 0;
  if (xfer__transfer_progress(m, e) < 0)
    return;
  xfer__transfer_arm_recv(m, e);
}

void xfer__transfer_parse(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  struct input in = {c->rbuf, c->rlen, c->rpos, 1};
  process_input(m, e, &in);
}

void xfer__transfer_eof(struct xfer_multi *m, struct xfer_easy *e, int truncated) {
  struct xfer__transfer *x = &e->x;
  /* A TLS stream that ended with a FIN but no close_notify may have been
   * cut by anyone on the path (RFC 8446 section 6.1): a body delimited by
   * the close cannot be trusted to be whole. A Content-Length or chunked
   * body knows its own end, and a complete one never gets here. */
  if (truncated && x->head_done && x->body.framing == XFER__HTTP_BODY_CLOSE) {
    xfer__transfer_fail(m, e, XFERE_PARTIAL_FILE,
                        "TLS connection closed without close_notify: the response body, "
                        "delimited by the close, may be truncated (%lld bytes received)",
                        (long long)e->info.size_download);
    return;
  }
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
    xfer__transfer_fail(m, e, xfer__code_of(rc, XFERE_PARTIAL_FILE), "%s (%lld bytes received)",
                        errmsg ? errmsg : xfer__err_text(rc), (long long)e->info.size_download);
    return;
  }
  response_done(m, e, 0);
}

/* Bytes arrived in a backend buffer: parse them where they lie unless
 * earlier bytes wait in rbuf, in which case they join those. */
static void received_in_buffer(struct xfer_multi *m, struct xfer_easy *e, const char *buf,
                               size_t n) {
  struct xfer__conn *c = e->x.conn;
  if (c->rlen > c->rpos) {
    if (xfer__conn_reserve(c, n) < 0) {
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a response");
      return;
    }
    memcpy(c->rbuf + c->rlen, buf, n);
    c->rlen += n;
    struct input in = {c->rbuf, c->rlen, c->rpos, 1};
    process_input(m, e, &in);
    return;
  }
  struct input in = {buf, n, 0, 0};
  process_input(m, e, &in);
}

void xfer__transfer_received(struct xfer_multi *m, struct xfer_easy *e,
                             const struct xfer__rx_entry *en) {
  struct xfer__transfer *x = &e->x;
  struct xfer__conn *c = x->conn;
  int32_t res = en->res;
  if (c->tls.ssl) {
    xfer__tls_received(m, e, en);
    return;
  }
  if (res > 0) {
    x->resp_bytes += (uint64_t)res;
    if (en->flags & XFER__CF_BUF) {
      received_in_buffer(m, e, en->buf, (size_t)res);
      m->be->vt->release_buf(m->be, en->buf);
      return;
    }
    /* Readiness backends received into rbuf at rlen; folded entries were
     * appended there already. */
    if (!(en->flags & XFER__RX_INBUF))
      c->rlen += (size_t)res;
    struct input in = {c->rbuf, c->rlen, c->rpos, 1};
    process_input(m, e, &in);
    return;
  }
  if (res == 0) {
    xfer__transfer_eof(m, e, 0);
    return;
  }
  xfer__transfer_recv_error(m, e, res);
}

void xfer__transfer_recv_error(struct xfer_multi *m, struct xfer_easy *e, int32_t res) {
  struct xfer__transfer *x = &e->x;
  /* The library's own allocation failure, not the kernel's answer to the
   * receive: a kernel -ENOMEM is a receive error like the others. */
  if (!xfer__is_errno(res)) {
    xfer__transfer_fail(m, e, xfer__code_of_call(res, XFERE_RECV_ERROR), "%s",
                        res == XFER__EOPNOMEM ? "Out of memory for received data"
                                              : xfer__err_text(res));
    return;
  }
  if (x->resp_bytes == 0 && xfer__transfer_can_retry(e)) {
    xfer__transfer_retry(m, e);
    return;
  }
  xfer__transfer_fail(m, e, XFERE_RECV_ERROR, "Failure when receiving data from the peer: %s",
                      xfer__err_text(res));
}
