/* The transfer's TLS edge: the context a transfer's TLS options select, the
 * handshake as a transfer state, the request encrypted into the
 * connection's output buffer, the response decrypted into its receive
 * buffer, and every TLS failure mapped to its libcurl code and a sentence.
 * The libraries sit behind tls/tls.h and never see a socket. See
 * docs/internals/tls.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"

/* Ciphertext buffers of a TLS connection, allocated once per connection
 * object (which the pool recycles). The input holds one whole record at
 * most plus a partial one in practice: a TLS 1.2 record is at most
 * 5 + 16384 + 2048 bytes. The output holds the client's handshake flight
 * and one full record of plaintext. */
#define TLS_IBUF        (32u * 1024u)
#define TLS_OBUF        (16384u + 4096u)
/* What one record adds to its plaintext, with room to spare: 5 bytes of
 * header, an 8-byte explicit nonce and a 16-byte tag (TLS 1.2 GCM), the
 * TLS 1.3 content type; a CBC suite an application asks for adds up to 85
 * (IV, HMAC-SHA384, padding). */
#define RECORD_OVERHEAD 256u
#define RECORD_MAX      16384u

/* ---- contexts ----------------------------------------------------------- */

static uint32_t hash_key(const char *k) {
  uint32_t h = 2166136261u;
  for (; *k; k++)
    h = (h ^ (uint8_t)*k) * 16777619u;
  return h;
}

static void config_of(const struct xfer_easy *e, struct xfer__tls_config *cfg) {
  const struct xfer__options *o = &e->opt;
  memset(cfg, 0, sizeof *cfg);
  cfg->verifypeer = o->ssl_verifypeer;
  cfg->verifyhost = o->ssl_verifyhost;
  cfg->sessions = o->ssl_sessions;
  cfg->version_min = o->ssl_version_min;
  cfg->version_max = o->ssl_version_max;
  cfg->cainfo = o->cainfo;
  cfg->capath = o->capath;
  cfg->ca_blob = o->ca_blob;
  cfg->ca_blob_len = o->ca_blob_len;
  cfg->cert = o->sslcert;
  cfg->key = o->sslkey;
  cfg->keypasswd = o->keypasswd;
  cfg->ciphers = o->cipher_list;
  cfg->tls13_ciphers = o->tls13_ciphers;
  cfg->pinned = o->pinnedpubkey;
}

static xfer_code code_of(enum xfer__tls_cause cause) {
  switch (cause) {
  case XFER__TLS_VERIFY:
    return XFERE_PEER_FAILED_VERIFICATION;
  case XFER__TLS_PINNED:
    return XFERE_SSL_PINNEDPUBKEYNOTMATCH;
  case XFER__TLS_CACERT:
    return XFERE_SSL_CACERT_BADFILE;
  case XFER__TLS_CERT:
    return XFERE_SSL_CERTPROBLEM;
  case XFER__TLS_CIPHER:
    return XFERE_SSL_CIPHER;
  case XFER__TLS_RECV:
    return XFERE_RECV_ERROR;
  case XFER__TLS_SEND:
    return XFERE_SEND_ERROR;
  case XFER__TLS_NOMEM:
    return XFERE_OUT_OF_MEMORY;
  default:
    return XFERE_SSL_CONNECT_ERROR;
  }
}

/* Ends the transfer for a TLS failure. An allocation that failed inside
 * the library during the step makes it out of memory, whatever the library
 * said about the consequence. */
static void fail(struct xfer_multi *m, struct xfer_easy *e, int rc, struct xfer__tls_err *err,
                 unsigned long fails_before) {
  int conn_oom = e->x.conn && e->x.conn->tls.oom;
  if (rc == -ENOMEM || err->cause == XFER__TLS_NOMEM || conn_oom ||
      xfer__tls_alloc_failures() != fails_before) {
    xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory in TLS%s%s",
                        err->msg[0] ? ": " : "", err->msg);
    return;
  }
  if (err->verify_result)
    e->info.ssl_verifyresult = err->verify_result;
  xfer__transfer_fail(m, e, code_of(err->cause), "%s",
                      err->msg[0] ? err->msg : "TLS failure with no further detail");
}

/* Frees a context object; its library context, if made, is freed first. */
static void ctx_destroy(struct xfer__tls_ctx *ctx) {
  if (ctx->lib)
    ctx->vt->ctx_free(ctx);
  xfer__free(ctx->key);
  xfer__free(ctx->pinned);
  xfer__free(ctx);
}

void xfer__tls_ctxs_destroy(struct xfer_multi *m) {
  while (!xfer__queue_empty(&m->tls_ctxs)) {
    struct xfer__tls_ctx *ctx =
        xfer__container_of(xfer__queue_head(&m->tls_ctxs), struct xfer__tls_ctx, link);
    xfer__queue_remove(&ctx->link);
    ctx_destroy(ctx);
  }
}

/* The context for the transfer's TLS options: looked up by the key string
 * the options give (rebuilt only after a TLS option changed), created on
 * first use. Returns 0, or -1 when the transfer failed. */
int xfer__tls_select_cached(struct xfer_multi *m, struct xfer_easy *e) {
  /* The common case, a handle re-added to the multi it ran on with its
   * options untouched: the context it used last time, no key compared. A
   * multi's contexts live as long as it does, and its id is never reused. */
  if (!e->tls_dirty && e->tls_last && e->tls_last_multi == m->id) {
    e->x.tls = e->tls_last;
    return 1;
  }
  return 0;
}

int xfer__tls_select(struct xfer_multi *m, struct xfer_easy *e) {
  if (xfer__tls_select_cached(m, e))
    return 0;
  const char *why = NULL;
  unsigned long fails = xfer__tls_alloc_failures();
  struct xfer__tls_err err = {0};
  const struct xfer__tls_lib *lib = xfer__tls_get(&why);
  if (!lib) {
    xfer__transfer_fail(m, e, XFERE_SSL_ENGINE_INITFAILED, "HTTPS unavailable: %s",
                        why ? why : "no TLS library");
    return -1;
  }
  struct xfer__tls_config cfg;
  config_of(e, &cfg);
  if (e->tls_dirty || !e->tls_key) {
    char *key = NULL;
    if (xfer__tls_config_key(lib, &cfg, &key) < 0) {
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for the TLS settings");
      return -1;
    }
    xfer__free(e->tls_key);
    e->tls_key = key;
    e->tls_hash = hash_key(key);
    e->tls_dirty = 0;
  }
  struct xfer__queue *q;
  xfer__queue_foreach(q, &m->tls_ctxs) {
    struct xfer__tls_ctx *ctx = xfer__container_of(q, struct xfer__tls_ctx, link);
    if (ctx->hash == e->tls_hash && ctx->vt == lib && strcmp(ctx->key, e->tls_key) == 0) {
      e->x.tls = e->tls_last = ctx;
      e->tls_last_multi = m->id;
      return 0;
    }
  }
  struct xfer__tls_ctx *ctx = xfer__calloc(1, sizeof *ctx);
  if (!ctx || !(ctx->key = xfer__strdup(e->tls_key)) ||
      (cfg.pinned && !(ctx->pinned = xfer__strdup(cfg.pinned)))) {
    if (ctx)
      ctx_destroy(ctx);
    xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a TLS context");
    return -1;
  }
  ctx->hash = e->tls_hash;
  ctx->vt = lib;
  ctx->verifypeer = cfg.verifypeer;
  ctx->verifyhost = cfg.verifyhost;
  ctx->sessions = cfg.sessions;
  int rc = lib->ctx_new(ctx, &cfg, &err);
  /* A library that went on without what it could not allocate (a cipher,
   * a certificate) made a context other than the one asked for: no
   * context. */
  if (rc == 0 && xfer__tls_alloc_failures() != fails)
    rc = -ENOMEM;
  if (rc < 0) {
    ctx_destroy(ctx);
    fail(m, e, rc, &err, fails);
    return -1;
  }
  xfer__queue_insert_head(&m->tls_ctxs, &ctx->link);
  e->x.tls = e->tls_last = ctx;
  e->tls_last_multi = m->id;
  return 0;
}

/* ---- connection state ------------------------------------------------------ */

/* Remembers an allocation that failed inside the library during a call
 * that itself went on. */
static void note_oom(struct xfer__conn *c, unsigned long fails_before) {
  if (xfer__tls_alloc_failures() != fails_before)
    c->tls.oom = 1;
}

void xfer__conn_tls_reset(struct xfer__conn *c) {
  struct xfer__tls_conn *t = &c->tls;
  t->ssl = NULL;
  t->ctx = NULL;
  t->session_slot = NULL;
  t->ilen = t->ipos = 0;
  t->view = NULL;
  t->vlen = t->vpos = 0;
  t->olen = t->opos = 0;
  t->plain_out = 0;
  t->verify_result = 0;
  t->pending_session = NULL;
  t->eof = t->handshaken = t->resumed = t->ip_host = t->sending = t->oom = 0;
  t->retries = 0;
  t->host = NULL;
}

int xfer__conn_tls_busy(const struct xfer__conn *c) {
  struct xfer__tls_conn *t = (struct xfer__tls_conn *)&c->tls;
  if (!t->ssl)
    return 0;
  /* Bytes past the response, ciphertext or already decrypted inside the
   * library, or bytes still to send: the exchange is not over, and the
   * next request would read them as its answer. */
  return t->ipos < t->ilen || (t->view && t->vpos < t->vlen) || t->opos < t->olen ||
         !t->handshaken || t->ctx->vt->pending(t);
}

void xfer__conn_tls_close(struct xfer_multi *m, struct xfer__conn *c) {
  struct xfer__tls_conn *t = &c->tls;
  (void)m;
  if (!t->ssl)
    return;
  const struct xfer__tls_lib *vt = t->ctx->vt;
  /* A clean connection says goodbye with close_notify, as libcurl does; a
   * best-effort send straight on the socket, since it is closed right
   * after and nothing else is in flight on it. */
  if (t->handshaken && !c->tx.armed && !t->sending && t->opos == t->olen) {
    t->olen = t->opos = 0;
    vt->close_notify(t);
    if (t->olen)
      (void)send(c->fd, t->obuf, t->olen, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  vt->conn_free(t);
  if (t->pending_session)
    vt->session_free(t->pending_session);
  xfer__conn_tls_reset(c);
}

/* Sends what waits in obuf unless a send of it is already out. */
static void flush(struct xfer_multi *m, struct xfer__conn *c) {
  struct xfer__tls_conn *t = &c->tls;
  if (t->sending || t->opos == t->olen)
    return;
  t->oiov.iov_base = t->obuf + t->opos;
  t->oiov.iov_len = t->olen - t->opos;
  t->sending = 1;
  c->tx.kind = XFER__OP_SEND;
  c->tx.iov = &t->oiov;
  c->tx.iovcnt = 1;
  xfer__multi_submit(m, &c->tx);
}

void xfer__tls_arm_recv(struct xfer_multi *m, struct xfer__conn *c) {
  struct xfer__tls_conn *t = &c->tls;
  if (c->rx.armed || c->rxq_len)
    return;
  /* Nothing is armed, so the input may move: compact it, and make sure a
   * receive has room (the buffer holds one partial record at most). */
  if (xfer__conn_tls_reserve(c, t->icap - t->ilen > 4096 ? 1 : 4096) < 0) {
    /* No receive could be armed: end the transfer now rather than let it
     * wait for bytes it cannot take. */
    if (c->owner)
      xfer__transfer_fail(m, c->owner, XFERE_OUT_OF_MEMORY, "Out of memory for TLS input");
    return;
  }
  c->rx.kind = XFER__OP_RECV;
  c->rx.flags = XFER__OPF_MULTISHOT;
  c->rx.buf = t->ibuf + t->ilen;
  c->rx.len = t->icap - t->ilen;
  xfer__multi_submit(m, &c->rx);
}

/* ---- the handshake ----------------------------------------------------------- */

static void step(struct xfer_multi *m, struct xfer_easy *e);

/* The TCP connection to an https origin is up: start the handshake. */
void xfer__tls_begin(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  struct xfer__tls_conn *t = &c->tls;
  struct xfer__tls_ctx *ctx = e->x.tls;
  unsigned long fails = xfer__tls_alloc_failures();
  struct xfer__tls_err err = {0};
  XFER__SET_STATE(m, e, XFER__ST_TLS);
  if (!t->obuf) {
    t->obuf = xfer__malloc(TLS_OBUF);
    if (!t->obuf) {
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a TLS connection");
      return;
    }
    t->ocap = TLS_OBUF;
  }
  if (!t->ibuf && xfer__conn_tls_reserve(c, TLS_IBUF) < 0) {
    xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a TLS connection");
    return;
  }
  t->ctx = ctx;
  t->host = e->x.url->host;
  t->ip_host = (unsigned)xfer__tls_is_ip(t->host);
  t->session_slot = &c->origin->tls_session;
  void *session = ctx->sessions ? c->origin->tls_session : NULL;
  int rc = ctx->vt->start(t, t->host, session, &err);
  if (rc < 0) {
    fail(m, e, rc, &err, fails);
    return;
  }
  note_oom(c, fails);
  step(m, e);
}

static void handshake_done(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  struct xfer__tls_conn *t = &c->tls;
  struct xfer__tls_err err = {0};
  unsigned long fails = xfer__tls_alloc_failures();
  if (t->ctx->pinned) {
    int rc = xfer__tls_check_pin(t, t->ctx->pinned, &err);
    if (rc < 0) {
      fail(m, e, rc, &err, fails);
      return;
    }
  }
  if (t->oom) {
    /* A handshake that lost an allocation on the way may have lost a
     * check with it: never trust it. */
    err.cause = XFER__TLS_NOMEM;
    fail(m, e, -ENOMEM, &err, fails);
    return;
  }
  t->handshaken = 1;
  t->host = NULL; /* it points into the transfer's URL, which the connection outlives */
  if (t->pending_session) {
    /* Every check passed: the session may now be offered again. */
    void *s = t->pending_session;
    t->pending_session = NULL;
    if (!xfer__tls_session_new(t, s))
      t->ctx->vt->session_free(s);
  }
  e->info.t_appconnect = (int64_t)(m->now - e->x.t_start);
  e->info.ssl_verifyresult = t->verify_result;
  e->info.tls_backend = t->ctx->vt->id;
  e->info.tls_resumed = t->resumed;
  if (e->opt.verbose) {
    char d[96];
    xfer__easy_verbose(e, "SSL connection using %s%s", t->ctx->vt->describe(t, d, sizeof d),
                       t->resumed ? " (session resumed)" : "");
  }
  xfer__transfer_send(m, e);
}

static void step(struct xfer_multi *m, struct xfer_easy *e) {
  struct xfer__conn *c = e->x.conn;
  struct xfer__tls_conn *t = &c->tls;
  unsigned long fails = xfer__tls_alloc_failures();
  struct xfer__tls_err err = {0};
  int rc = t->ctx->vt->handshake(t, &err);
  if (rc >= 0 || rc == -EAGAIN)
    note_oom(c, fails);
  flush(m, c);
  if (rc == -EAGAIN) {
    /* Either more ciphertext is needed (the receive is armed) or obuf was
     * full (the send completion calls step() again). */
    xfer__tls_arm_recv(m, c);
    return;
  }
  if (rc < 0) {
    fail(m, e, rc, &err, fails);
    return;
  }
  handshake_done(m, e);
}

/* ---- sending ------------------------------------------------------------------ */

void xfer__tls_send(struct xfer_multi *m, struct xfer__conn *c) {
  struct xfer__tls_conn *t = &c->tls;
  struct xfer_easy *e = c->owner;
  unsigned long fails = xfer__tls_alloc_failures();
  struct xfer__tls_err err = {0};
  size_t plain = 0;
  /* One record per write, each with room guaranteed in obuf, so that the
   * library never meets a full buffer in the middle of a record. What does
   * not fit goes in the next round: the transfer resubmits what the
   * completion does not account for. */
  for (int i = 0; i < c->iovcnt; i++) {
    const char *p = c->iov[i].iov_base;
    size_t left = c->iov[i].iov_len;
    while (left) {
      size_t room = t->ocap - t->olen;
      if (room <= RECORD_OVERHEAD * 2)
        goto out;
      size_t n = left < RECORD_MAX ? left : RECORD_MAX;
      if (n > room - RECORD_OVERHEAD)
        n = room - RECORD_OVERHEAD;
      long w = t->ctx->vt->write(t, p, n, &err);
      if (w == -EAGAIN)
        goto out;
      if (w < 0) {
        fail(m, e, (int)w, &err, fails);
        return;
      }
      note_oom(c, fails);
      p += w;
      left -= (size_t)w;
      plain += (size_t)w;
    }
  }
out:
  t->plain_out += plain;
  if (t->sending)
    return; /* the completion of the bytes ahead sends these after them */
  if (t->opos == t->olen) {
    /* Nothing fit and nothing is on its way: report a zero-byte send so
     * the transfer retries; cannot happen with obuf's size, but stays
     * safe. */
    c->tx_res = 0;
    c->tx_done = 1;
    if (xfer__queue_empty(&c->done_link))
      xfer__queue_insert_tail(&m->completed, &c->done_link);
    return;
  }
  flush(m, c);
}

/* A SEND of obuf completed with res. Returns the plaintext bytes now on
 * the wire (0 or more), -EINPROGRESS while more of obuf is being sent, or
 * the send's -errno. */
static long sent(struct xfer_multi *m, struct xfer__conn *c, int32_t res) {
  struct xfer__tls_conn *t = &c->tls;
  t->sending = 0;
  if (res < 0)
    return res;
  /* Records of the request may be on the wire before the whole of obuf
   * is: from here a replay is no longer safe for every method. */
  if (res > 0 && t->plain_out && c->owner)
    c->owner->x.req_on_wire = 1;
  t->opos += (size_t)res;
  if (t->opos < t->olen) {
    flush(m, c);
    return -EINPROGRESS;
  }
  t->opos = t->olen = 0;
  long plain = (long)t->plain_out;
  t->plain_out = 0;
  return plain;
}

void xfer__tls_tx_done(struct xfer_multi *m, struct xfer_easy *e, int32_t res) {
  struct xfer__conn *c = e->x.conn;
  long r = sent(m, c, res);
  if (r == -EINPROGRESS)
    return;
  switch (e->x.state) {
  case XFER__ST_TLS:
    if (r < 0) {
      xfer__transfer_fail(m, e, xfer__code_of_call((int)r, XFERE_SSL_CONNECT_ERROR),
                          "Failed sending the TLS handshake to %s: %s", e->x.url->host,
                          xfer__err_text((int)r));
      return;
    }
    step(m, e);
    return;
  case XFER__ST_SENDING:
    xfer__transfer_sent(m, e, (int32_t)r);
    return;
  default:
    /* Records written while receiving (a key update's answer): a failure
     * shows on the next read. */
    return;
  }
}

/* ---- receiving ------------------------------------------------------------------ */

/* Decrypts what has arrived into rbuf and hands it to the HTTP parser,
 * record by record, until a record is incomplete or the transfer no longer
 * uses this connection. */
static void pump(struct xfer_multi *m, struct xfer_easy *e, struct xfer__conn *c) {
  struct xfer__tls_conn *t = &c->tls;
  /* Bounded: each round consumes input or ends the transfer. */
  for (unsigned rounds = 0; rounds < 1u << 20; rounds++) {
    if (e->x.conn != c)
      return;
    if (e->x.state == XFER__ST_TLS) {
      step(m, e);
      return;
    }
    if (e->x.state != XFER__ST_RECEIVING && e->x.state != XFER__ST_SENDING)
      return;
    if (c->rlen == c->rcap && xfer__conn_reserve(c, 1) < 0) {
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for a response");
      return;
    }
    unsigned long fails = xfer__tls_alloc_failures();
    struct xfer__tls_err err = {0};
    long n = t->ctx->vt->read(t, c->rbuf + c->rlen, c->rcap - c->rlen, &err);
    if (n > 0 || n == -EAGAIN)
      note_oom(c, fails);
    if (n > 0) {
      e->x.resp_bytes += (uint64_t)n;
      c->rlen += (size_t)n;
      xfer__transfer_parse(m, e);
      continue;
    }
    flush(m, c); /* anything the library had to say while reading */
    if (n == -EAGAIN) {
      xfer__tls_arm_recv(m, c);
      return;
    }
    if (n == 0) {
      xfer__transfer_eof(m, e, 0);
      return;
    }
    if (n == -EPIPE) {
      xfer__transfer_eof(m, e, 1);
      return;
    }
    fail(m, e, (int)n, &err, fails);
    return;
  }
}

void xfer__tls_received(struct xfer_multi *m, struct xfer_easy *e,
                        const struct xfer__rx_entry *en) {
  struct xfer__conn *c = e->x.conn;
  struct xfer__tls_conn *t = &c->tls;
  int32_t res = en->res;
  if (res < 0) {
    if (en->flags & XFER__CF_BUF)
      m->be->vt->release_buf(m->be, en->buf);
    if (e->x.state == XFER__ST_TLS && res == XFER__EOPNOMEM) {
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory receiving the TLS handshake");
      return;
    }
    if (e->x.state == XFER__ST_TLS) {
      xfer__transfer_fail(m, e, XFERE_SSL_CONNECT_ERROR,
                          "Connection to %s lost during the TLS handshake: %s", e->x.url->host,
                          xfer__err_text(res));
      return;
    }
    xfer__transfer_recv_error(m, e, res);
    return;
  }
  if (res == 0) {
    t->eof = 1;
    pump(m, e, c);
    return;
  }
  if (en->flags & XFER__CF_BUF) {
    /* Decrypted where it lies; only an incomplete record's tail is kept. */
    t->view = en->buf;
    t->vlen = (size_t)res;
    t->vpos = 0;
    pump(m, e, c);
    /* The connection may have been closed or recycled meanwhile: the view
     * is still set only if this connection is the same and still open. */
    if (t->view == en->buf) {
      size_t left = t->vlen - t->vpos;
      t->view = NULL;
      if (left && e->x.conn == c) {
        if (xfer__conn_tls_reserve(c, left) < 0) {
          m->be->vt->release_buf(m->be, en->buf);
          xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY, "Out of memory for TLS input");
          return;
        }
        memcpy(t->ibuf + t->ilen, (const char *)en->buf + t->vpos, left);
        t->ilen += left;
      }
    }
    m->be->vt->release_buf(m->be, en->buf);
    return;
  }
  if (!(en->flags & XFER__RX_INBUF)) {
    /* Received into ibuf where the receive was armed; reading since may
     * have emptied the buffer and moved its end back. */
    char *at = en->buf ? en->buf : t->ibuf + t->ilen;
    if (at != t->ibuf + t->ilen)
      memmove(t->ibuf + t->ilen, at, (size_t)res);
    t->ilen += (size_t)res;
  }
  pump(m, e, c);
}
