/* Fuzz target: the TLS I/O glue (tls/tls.c's xfer__tls_pull() and
 * xfer__tls_push() under the wolfSSL and OpenSSL tables), fed the server's
 * records at random boundaries.
 *
 * A client connection (struct xfer__tls_conn, no socket) goes through the
 * project's TLS table as runtime/transfer_tls.c drives it: start, handshake
 * steps, the request written one record at a time, the response read into
 * buffers of an input-chosen size, close_notify. Its peer is an OpenSSL
 * server in the same process on memory BIOs, with a self-signed
 * certificate made in memory once at start-up. The input chooses the
 * client's library (first byte), TLS 1.2 or 1.3, verification, session
 * keeping, a KeyUpdate in the middle of the response, whether the server
 * ends with close_notify, the sizes of request, response, server writes and
 * client reads, how the server's ciphertext is cut into deliveries (from
 * one byte to many records each, each either appended to the connection's
 * input buffer `ibuf` as a poll or epoll receive lands, or handed over as
 * the `view` as an io_uring provided buffer is), and up to four damaged
 * bytes and a cut-off point. Every delivery, `ibuf` and every read buffer
 * is an allocation of exactly its size, so ASan sees any read or write past
 * one.
 *
 * The client's calls to xfer__tls_pull() and xfer__tls_push() are wrapped
 * (the linker's --wrap, see CMakeLists.txt) to check, at every call: the
 * count is at most what was asked for and what was there; the bytes handed
 * to the library are the next bytes of the stream, in order (ibuf first,
 * then the view); 0 comes only at the end of the stream with nothing left,
 * -EAGAIN only with nothing left before it; so the bytes the glue reports
 * consumed never exceed the bytes it was given. What must hold at the end:
 *   - every byte the client reads is the next byte of the server's
 *     plaintext (whatever was damaged), and a clean end (close_notify)
 *     comes only after all of it;
 *   - with nothing damaged or cut, the handshake completes, the server
 *     reads exactly the request and the client exactly the response, ending
 *     with close_notify (read as 0) or, when the server sent none, with
 *     -EPIPE at the end of the stream, having consumed every byte;
 *   - a failure happens only when something was damaged or cut, and is
 *     clean: a negative errno the edge knows, a cause of its phase (the
 *     handshake: connect, verify; a read: receive) that transfer_tls.c
 *     maps to its libcurl code, a sentence, and out of memory only when an
 *     allocation failed;
 *   - the client never waits for more bytes once the stream has ended, and
 *     nothing leaks (LSan). */
#include <errno.h>

#include "fuzz.h"
#include "tls/tls.h"

#ifdef XFER_HAVE_OPENSSL
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

/* The runtime's output buffer, one full record and the handshake flight
 * (runtime/transfer_tls.c, TLS_OBUF), and its rule for one record's room. */
#define CLIENT_OBUF       (16384u + 4096u)
#define RECORD_OVERHEAD   256u
#define RECORD_MAX        16384u
/* Sizes the input can ask for, kept so that a run stays short (a 64 KiB
 * response in one-byte deliveries still ends in well under a second). */
#define MAX_REQUEST_BODY  32767u
#define MAX_RESPONSE_BODY 65535u
/* A 64 KiB response in one-byte records took 30 ms, in 3-byte reads 10 ms:
 * these bounds keep a run at a few milliseconds under ASan. */
#define MAX_SMALL_WRITES  256u
#define MAX_SMALL_READS   2048u
#define MAX_FLIPS         4
/* Bounds on the loops: each round delivers bytes or ends the stream once,
 * and each client step consumes input or returns. */
#define MAX_ROUNDS        (1u << 22)
#define MAX_STEPS         (1u << 22)

#if defined(XFER_HAVE_OPENSSL)

/* ---- what lives across runs --------------------------------------------- */

static const struct xfer__tls_lib *const libs[] = {
#ifdef XFER_HAVE_WOLFSSL
    &xfer__tls_wolfssl,
#endif
    &xfer__tls_openssl,
};
#define NLIBS (sizeof libs / sizeof libs[0])

struct globals {
  int ready;
  SSL_CTX *server;
  char *ca_pem; /* the server's certificate, the client's only trust anchor */
  size_t ca_len;
  /* Client contexts, made on first use: library x TLS 1.2 only x verify. */
  struct xfer__tls_ctx ctx[NLIBS][2][2];
};

static struct globals g;

static void cleanup(void) {
  for (size_t l = 0; l < NLIBS; l++)
    for (int v = 0; v < 2; v++)
      for (int p = 0; p < 2; p++)
        if (g.ctx[l][v][p].lib)
          libs[l]->ctx_free(&g.ctx[l][v][p]);
  SSL_CTX_free(g.server);
  free(g.ca_pem);
  for (size_t l = 0; l < NLIBS; l++) {
    libs[l]->thread_cleanup();
    if (libs[l] != &xfer__tls_openssl)
      libs[l]->cleanup();
  }
  xfer__tls_trim();
}

/* A self-signed EC P-256 certificate for localhost, as tests/support/certs.c
 * makes its "selfsigned" one (CA:FALSE, SAN DNS:localhost, valid from a day
 * ago), but in memory. */
static void make_server(void) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  FUZZ_CHECK(key && x, "could not make a key");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  /* A day of margin each side of now; a fuzzing run lasts minutes. */
  X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400L);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  const char *exts[][2] = {{"subjectAltName", "DNS:localhost"},
                           {"basicConstraints", "critical,CA:FALSE"}};
  for (size_t i = 0; i < 2; i++) {
    X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
    FUZZ_CHECK(e && X509_add_ext(x, e, -1) == 1, "could not add %s", exts[i][0]);
    X509_EXTENSION_free(e);
  }
  FUZZ_CHECK(X509_sign(x, key, EVP_sha256()) > 0, "could not sign the certificate");

  BIO *b = BIO_new(BIO_s_mem());
  FUZZ_CHECK(b && PEM_write_bio_X509(b, x) == 1, "could not write the certificate");
  char *p;
  long n = BIO_get_mem_data(b, &p);
  g.ca_pem = fuzz_exact_copy(p, (size_t)n);
  g.ca_len = (size_t)n;
  BIO_free(b);

  g.server = SSL_CTX_new(TLS_server_method());
  FUZZ_CHECK(g.server, "SSL_CTX_new failed");
  FUZZ_CHECK(SSL_CTX_use_certificate(g.server, x) == 1 &&
                 SSL_CTX_use_PrivateKey(g.server, key) == 1,
             "the server refused its certificate");
  SSL_CTX_set_min_proto_version(g.server, TLS1_2_VERSION);
  /* No server-side session cache: every run starts from the same state.
   * TLS 1.3 tickets (stateless) are still sent, so the client's session
   * path runs. */
  SSL_CTX_set_session_cache_mode(g.server, SSL_SESS_CACHE_OFF);
  X509_free(x);
  EVP_PKEY_free(key);
}

static void setup(void) {
  /* OpenSSL first: its allocator hooks only take before its first
   * allocation, and the server's objects must come from the same
   * allocator as the client's. */
  FUZZ_CHECK(xfer__tls_openssl.init() == 0, "OpenSSL init failed");
  for (size_t l = 0; l < NLIBS; l++)
    if (libs[l] != &xfer__tls_openssl)
      FUZZ_CHECK(libs[l]->init() == 0, "%s init failed", libs[l]->name);
  make_server();
  atexit(cleanup);
  g.ready = 1;
}

static struct xfer__tls_ctx *client_ctx(size_t l, int tls12, int verify) {
  struct xfer__tls_ctx *ctx = &g.ctx[l][tls12][verify];
  if (ctx->lib)
    return ctx;
  struct xfer__tls_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.verifypeer = cfg.verifyhost = (unsigned)verify;
  cfg.sessions = 1;
  cfg.version_min = XFER__TLS_V1_2;
  cfg.version_max = tls12 ? XFER__TLS_V1_2 : 0;
  if (verify) {
    cfg.ca_blob = g.ca_pem;
    cfg.ca_blob_len = g.ca_len;
  }
  struct xfer__tls_err err = {0};
  ctx->vt = libs[l];
  ctx->verifypeer = ctx->verifyhost = (unsigned)verify;
  int rc = libs[l]->ctx_new(ctx, &cfg, &err);
  FUZZ_CHECK(rc == 0, "%s: no client context: %s", libs[l]->name, err.msg);
  return ctx;
}

/* ---- one run ------------------------------------------------------------- */

enum client_phase { C_HANDSHAKE, C_SEND, C_READ, C_CLOSED, C_EOF, C_FAILED };
enum server_phase { S_HANDSHAKE, S_READ, S_DONE, S_FAILED };

struct flip {
  size_t at;
  unsigned char x;
};

struct run {
  struct fuzz_in *in;
  const struct xfer__tls_lib *vt;
  struct xfer__tls_conn t;
  void *session; /* the origin's slot */
  enum client_phase phase;
  int rc;                   /* the failing call's result */
  struct xfer__tls_err err; /* and its cause */
  int failed_in_handshake;
  unsigned long alloc_failures;

  /* The plaintext each way, and how far each side got. */
  struct fuzz_buf request, response;
  size_t req_sent;     /* by the client */
  struct fuzz_buf got; /* the response as the client read it */
  char *read_buf;      /* the client's read buffer, of exactly read_len bytes */
  size_t read_len;

  /* The server. */
  SSL *srv;
  BIO *srv_in, *srv_out;
  enum server_phase sphase;
  struct fuzz_buf req_got;
  size_t write_len;
  int close_notify, key_update;

  /* The server's ciphertext as delivered (after damage), how much of it
   * was handed to the client, and how much the client pulled. */
  struct fuzz_buf wire;
  size_t delivered, consumed;
  struct flip flips[MAX_FLIPS];
  size_t nflips;
  size_t cut_at; /* 0: no cut */
  int damaged, cut;
};

/* The run the wrapped glue calls belong to. */
static struct run *cur;

long __real_xfer__tls_pull(struct xfer__tls_conn *t, char *buf, size_t len);
long __real_xfer__tls_push(struct xfer__tls_conn *t, const char *buf, size_t len);
long __wrap_xfer__tls_pull(struct xfer__tls_conn *t, char *buf, size_t len);
long __wrap_xfer__tls_push(struct xfer__tls_conn *t, const char *buf, size_t len);

static size_t left_in(const struct xfer__tls_conn *t) {
  return (t->ilen - t->ipos) + (t->view ? t->vlen - t->vpos : 0);
}

static void check_conn(const struct run *r) {
  const struct xfer__tls_conn *t = &r->t;
  FUZZ_CHECK(t->ipos <= t->ilen && t->ilen <= t->icap, "ibuf %zu/%zu/%zu", t->ipos, t->ilen,
             t->icap);
  FUZZ_CHECK(!t->view || t->vpos <= t->vlen, "view %zu/%zu", t->vpos, t->vlen);
  FUZZ_CHECK(t->opos <= t->olen && t->olen <= t->ocap, "obuf %zu/%zu/%zu", t->opos, t->olen,
             t->ocap);
  FUZZ_CHECK(r->consumed + left_in(t) == r->delivered,
             "consumed %zu + left %zu is not the %zu bytes delivered", r->consumed, left_in(t),
             r->delivered);
}

long __wrap_xfer__tls_pull(struct xfer__tls_conn *t, char *buf, size_t len) {
  struct run *r = cur;
  FUZZ_CHECK(r && t == &r->t, "a pull for an unknown connection");
  check_conn(r);
  size_t avail = left_in(t);
  long n = __real_xfer__tls_pull(t, buf, len);
  if (n > 0) {
    FUZZ_CHECK((size_t)n <= len && (size_t)n <= avail, "pull gave %ld for %zu with %zu there", n,
               len, avail);
    FUZZ_CHECK(memcmp(buf, r->wire.p + r->consumed, (size_t)n) == 0,
               "pull gave bytes out of order at stream offset %zu", r->consumed);
    r->consumed += (size_t)n;
  } else if (n == 0) {
    FUZZ_CHECK(t->eof && avail == 0, "pull said end with %zu bytes there", avail);
  } else {
    FUZZ_CHECK(n == -EAGAIN && !t->eof && avail == 0, "pull gave %ld with %zu there", n, avail);
  }
  check_conn(r);
  return n;
}

long __wrap_xfer__tls_push(struct xfer__tls_conn *t, const char *buf, size_t len) {
  struct run *r = cur;
  FUZZ_CHECK(r && t == &r->t, "a push for an unknown connection");
  size_t before = t->olen;
  long n = __real_xfer__tls_push(t, buf, len);
  FUZZ_CHECK(n == -EAGAIN || (n >= 0 && (size_t)n <= len), "push gave %ld for %zu", n, len);
  if (n > 0)
    FUZZ_CHECK(t->olen == before + (size_t)n && memcmp(t->obuf + before, buf, (size_t)n) == 0,
               "push did not append what it said");
  check_conn(r);
  return n;
}

/* Room for n more bytes at once, so that a run's buffers grow once
 * rather than by doubling. */
static void reserve(struct fuzz_buf *b, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = b->len + n;
    b->p = fuzz_xrealloc(b->p, b->cap);
  }
}

/* The xorshift32 stream the plaintext bodies are made of. */
static void put_body(struct fuzz_buf *b, size_t n, uint32_t seed) {
  uint32_t x = seed | 1;
  reserve(b, n);
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b->p[b->len++] = (char)(x >> 24);
  }
}

/* The server's ciphertext so far, damaged where the input says and cut
 * where it says, appended to the stream. */
static void collect(struct run *r) {
  char chunk[4096];
  int n;
  while ((n = BIO_read(r->srv_out, chunk, sizeof chunk)) > 0) {
    size_t at = r->wire.len, keep = (size_t)n;
    if (r->cut_at && at + keep > r->cut_at) {
      keep = r->cut_at > at ? r->cut_at - at : 0;
      r->cut = 1;
    }
    for (size_t i = 0; i < r->nflips; i++)
      if (r->flips[i].at >= at && r->flips[i].at < at + keep) {
        chunk[r->flips[i].at - at] ^= (char)r->flips[i].x;
        r->damaged = 1;
      }
    fuzz_buf_put(&r->wire, chunk, keep);
  }
}

/* The server's turn: it answers whatever the client sent. */
static void server_step(struct run *r) {
  SSL *s = r->srv;
  char buf[4096];
  ERR_clear_error();
  if (r->sphase == S_HANDSHAKE) {
    int rc = SSL_do_handshake(s);
    if (rc == 1) {
      r->sphase = S_READ;
    } else {
      int e = SSL_get_error(s, rc);
      if (e != SSL_ERROR_WANT_READ)
        r->sphase = S_FAILED;
    }
  }
  if (r->sphase == S_READ) {
    while (r->req_got.len < r->request.len) {
      int n = SSL_read(s, buf, sizeof buf);
      if (n <= 0) {
        if (SSL_get_error(s, n) != SSL_ERROR_WANT_READ)
          r->sphase = S_FAILED;
        break;
      }
      fuzz_buf_put(&r->req_got, buf, (size_t)n);
    }
    if (r->req_got.len >= r->request.len) {
      FUZZ_CHECK(fuzz_same(r->req_got.p, r->req_got.len, r->request.p, r->request.len),
                 "the server read another request (%zu bytes of %zu)", r->req_got.len,
                 r->request.len);
      /* The whole response now, in writes of the chosen size, a KeyUpdate
       * halfway when asked for (TLS 1.3 only), then close_notify. */
      size_t off = 0, half = r->response.len / 2;
      int updated = 0;
      while (off < r->response.len) {
        if (r->key_update && !updated && off >= half && SSL_version(s) == TLS1_3_VERSION) {
          FUZZ_CHECK(SSL_key_update(s, SSL_KEY_UPDATE_REQUESTED) == 1, "SSL_key_update failed");
          updated = 1;
        }
        size_t n = r->response.len - off < r->write_len ? r->response.len - off : r->write_len;
        int w = SSL_write(s, r->response.p + off, (int)n);
        FUZZ_CHECK(w > 0, "the server's write failed");
        off += (size_t)w;
      }
      if (r->close_notify)
        (void)SSL_shutdown(s);
      r->sphase = S_DONE;
    }
  } else if (r->sphase == S_DONE) {
    /* The client's KeyUpdate answer and close_notify: read and dropped. */
    while (SSL_read(s, buf, sizeof buf) > 0) {
    }
  }
  ERR_clear_error();
  collect(r);
}

/* The client's output goes to the server at once, as a SEND that
 * completes whole would take it. */
static void drain(struct run *r) {
  struct xfer__tls_conn *t = &r->t;
  check_conn(r);
  if (t->opos < t->olen) {
    int n = BIO_write(r->srv_in, t->obuf + t->opos, (int)(t->olen - t->opos));
    FUZZ_CHECK(n == (int)(t->olen - t->opos), "BIO_write failed");
  }
  t->opos = t->olen = 0;
}

static void client_fail(struct run *r, int rc, const struct xfer__tls_err *err, int handshake) {
  r->phase = C_FAILED;
  r->rc = rc;
  r->err = *err;
  r->failed_in_handshake = handshake;
}

/* What transfer_tls.c's handshake_done() does to the connection. */
static void handshake_done(struct run *r) {
  struct xfer__tls_conn *t = &r->t;
  t->handshaken = 1;
  t->host = NULL;
  if (t->pending_session) {
    void *s = t->pending_session;
    t->pending_session = NULL;
    if (!xfer__tls_session_new(t, s))
      r->vt->session_free(s);
  }
}

/* The client's turn, as transfer_tls.c's pump() and step() take it: until
 * it needs more ciphertext or is done. */
static void client_step(struct run *r) {
  struct xfer__tls_conn *t = &r->t;
  for (unsigned steps = 0;; steps++) {
    FUZZ_CHECK(steps < MAX_STEPS, "the client does not settle");
    struct xfer__tls_err err = {0};
    switch (r->phase) {
    case C_HANDSHAKE: {
      int rc = r->vt->handshake(t, &err);
      drain(r);
      if (rc == -EAGAIN)
        return;
      if (rc < 0) {
        client_fail(r, rc, &err, 1);
        return;
      }
      handshake_done(r);
      r->phase = C_SEND;
      break;
    }
    case C_SEND: {
      /* One record per write, with room for it, as xfer__tls_send(). */
      size_t left = r->request.len - r->req_sent;
      size_t room = t->ocap - t->olen;
      FUZZ_CHECK(room > RECORD_OVERHEAD * 2, "no room in a drained obuf");
      size_t n = left < RECORD_MAX ? left : RECORD_MAX;
      if (n > room - RECORD_OVERHEAD)
        n = room - RECORD_OVERHEAD;
      long w = r->vt->write(t, r->request.p + r->req_sent, n, &err);
      drain(r);
      FUZZ_CHECK(w > 0 && (size_t)w <= n, "the request's write gave %ld for %zu: %s", w, n,
                 err.msg);
      r->req_sent += (size_t)w;
      if (r->req_sent == r->request.len)
        r->phase = C_READ;
      break;
    }
    case C_READ: {
      char *buf = r->read_buf;
      long n = r->vt->read(t, buf, r->read_len, &err);
      if (n > 0) {
        FUZZ_CHECK((size_t)n <= r->read_len, "read %ld into %zu", n, r->read_len);
        FUZZ_CHECK(r->got.len + (size_t)n <= r->response.len &&
                       memcmp(buf, r->response.p + r->got.len, (size_t)n) == 0,
                   "the client read bytes the server did not write, at %zu", r->got.len);
        fuzz_buf_put(&r->got, buf, (size_t)n);
      }
      drain(r); /* a KeyUpdate's answer */
      if (n > 0)
        break;
      if (n == -EAGAIN)
        return;
      if (n == 0) {
        r->phase = C_CLOSED;
      } else if (n == -EPIPE) {
        FUZZ_CHECK(t->eof, "-EPIPE before the end of the stream");
        r->phase = C_EOF;
      } else {
        client_fail(r, (int)n, &err, 0);
      }
      return;
    }
    default:
      return;
    }
  }
}

/* Appends n bytes to the exact-size ibuf, after what is left in it, as a
 * receive into ibuf (or the kept tail of a view) does. */
static void ibuf_append(struct xfer__tls_conn *t, const char *p, size_t n) {
  size_t left = t->ilen - t->ipos;
  char *nb = fuzz_xmalloc(left + n);
  if (left)
    memcpy(nb, t->ibuf + t->ipos, left);
  memcpy(nb + left, p, n);
  free(t->ibuf);
  t->ibuf = nb;
  t->icap = t->ilen = left + n;
  t->ipos = 0;
}

/* Hands the client its next piece of the stream. The control byte: bit 7,
 * as the view (else into ibuf); below 0x70, that many bytes plus one; else
 * a 16-bit length plus one follows, which spans many records. Once the
 * input is used up, the rest in one view. */
static void deliver(struct run *r) {
  struct xfer__tls_conn *t = &r->t;
  size_t avail = r->wire.len - r->delivered, n;
  int view;
  if (r->in->n == 0) {
    n = avail;
    view = 1;
  } else {
    unsigned c = fuzz_u8(r->in);
    view = (c & 0x80) != 0;
    n = (c & 0x7f) < 0x70 ? (c & 0x7f) + 1u : fuzz_u16(r->in) + 1u;
    if (n > avail)
      n = avail;
  }
  char *piece = fuzz_exact_copy(r->wire.p + r->delivered, n);
  r->delivered += n;
  if (!view) {
    ibuf_append(t, piece, n);
    free(piece);
    client_step(r);
    return;
  }
  t->view = piece;
  t->vlen = n;
  t->vpos = 0;
  client_step(r);
  /* What the library did not take waits in ibuf for the next receive. */
  size_t left = t->vlen - t->vpos;
  const char *tail = piece + t->vpos;
  t->view = NULL;
  t->vlen = t->vpos = 0;
  if (left)
    ibuf_append(t, tail, left);
  free(piece);
  check_conn(r);
}

static int allowed_cause(const struct run *r) {
  enum xfer__tls_cause c = r->err.cause;
  if (c == XFER__TLS_NOMEM)
    return r->rc == -ENOMEM && xfer__tls_alloc_failures() != r->alloc_failures;
  if (r->failed_in_handshake)
    return (c == XFER__TLS_CONNECT && r->rc == -EPROTO) ||
           (c == XFER__TLS_VERIFY && r->rc == -EKEYREJECTED);
  return c == XFER__TLS_RECV && r->rc == -EPROTO;
}

static void run_free(struct run *r) {
  struct xfer__tls_conn *t = &r->t;
  if (t->ssl)
    r->vt->conn_free(t);
  if (t->pending_session)
    r->vt->session_free(t->pending_session);
  if (r->session)
    r->vt->session_free(r->session);
  SSL_free(r->srv); /* and its BIOs */
  free(t->ibuf);
  free(t->obuf);
  free(r->request.p);
  free(r->response.p);
  free(r->got.p);
  free(r->read_buf);
  free(r->req_got.p);
  free(r->wire.p);
  cur = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g.ready)
    setup();
  struct fuzz_in in = {data, size};
  struct run *r = fuzz_xmalloc(sizeof *r);
  memset(r, 0, sizeof *r);
  r->in = &in;

  /* The choices: library u8; flags u8 (1 TLS 1.2 only, 2 verify the
   * server, 4 keep sessions, 8 close_notify at the end, 16 KeyUpdate
   * halfway); request and response body sizes u16; server write and client
   * read size classes u8; flips u8 and each (offset u16, xor u8); cut u16
   * (0: none); then the deliveries. */
  size_t l = fuzz_u8(&in) % NLIBS;
  unsigned flags = fuzz_u8(&in);
  size_t req_body = fuzz_u16(&in) % (MAX_REQUEST_BODY + 1);
  size_t resp_body = fuzz_u16(&in) % (MAX_RESPONSE_BODY + 1);
  unsigned wc = fuzz_u8(&in), rc = fuzz_u8(&in);
  /* 0: full records; below 128: that many bytes; above: steps of 512. */
  r->write_len = wc == 0 ? RECORD_MAX : wc < 128 ? wc : (wc - 127u) * 512u;
  r->read_len = rc == 0 ? RECORD_MAX : rc < 128 ? rc : (rc - 127u) * 512u;
  r->nflips = fuzz_u8(&in) % (MAX_FLIPS + 1);
  for (size_t i = 0; i < r->nflips; i++) {
    r->flips[i].at = fuzz_u16(&in);
    r->flips[i].x = (unsigned char)fuzz_u8(&in);
    if (r->flips[i].x == 0)
      r->flips[i].x = 0x01; /* a flip always changes its byte */
  }
  r->cut_at = fuzz_u16(&in);
  /* Small writes make a record each, and small reads a library call each:
   * the response is capped so that neither count passes its bound. */
  if (resp_body > r->write_len * MAX_SMALL_WRITES)
    resp_body = r->write_len * MAX_SMALL_WRITES;
  if (resp_body > r->read_len * MAX_SMALL_READS)
    resp_body = r->read_len * MAX_SMALL_READS;
  r->close_notify = (flags & 8) != 0;
  r->key_update = (flags & 16) != 0;

  char head[160];
  int hn =
      snprintf(head, sizeof head,
               "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", req_body);
  fuzz_buf_put(&r->request, head, (size_t)hn);
  put_body(&r->request, req_body, (uint32_t)req_body * 2654435761u);
  hn = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", resp_body);
  fuzz_buf_put(&r->response, head, (size_t)hn);
  put_body(&r->response, resp_body, (uint32_t)resp_body * 40503u + 7u);

  /* The ciphertext is the plaintext and a few KiB of handshake and
   * record overhead (at most 256 small records). */
  reserve(&r->got, r->response.len);
  reserve(&r->req_got, r->request.len);
  reserve(&r->wire, r->response.len + 16384);

  /* The server. */
  r->srv = SSL_new(g.server);
  r->srv_in = BIO_new(BIO_s_mem());
  r->srv_out = BIO_new(BIO_s_mem());
  FUZZ_CHECK(r->srv && r->srv_in && r->srv_out, "no server object");
  SSL_set_bio(r->srv, r->srv_in, r->srv_out);
  SSL_set_accept_state(r->srv);

  /* The client, as xfer__tls_begin() sets it up. */
  r->vt = libs[l];
  struct xfer__tls_ctx *ctx = client_ctx(l, (flags & 1) != 0, (flags & 2) != 0);
  ctx->sessions = (flags & 4) != 0;
  struct xfer__tls_conn *t = &r->t;
  r->read_buf = fuzz_xmalloc(r->read_len);
  t->obuf = fuzz_xmalloc(CLIENT_OBUF);
  t->ocap = CLIENT_OBUF;
  t->ctx = ctx;
  t->host = "localhost";
  t->session_slot = &r->session;
  cur = r;
  r->alloc_failures = xfer__tls_alloc_failures();
  struct xfer__tls_err err = {0};
  int src = r->vt->start(t, t->host, NULL, &err);
  FUZZ_CHECK(src == 0, "%s: start failed: %s", r->vt->name, err.msg);

  client_step(r); /* the ClientHello */
  for (unsigned rounds = 0; r->phase < C_CLOSED; rounds++) {
    FUZZ_CHECK(rounds < MAX_ROUNDS, "the exchange does not end");
    server_step(r);
    if (r->delivered < r->wire.len) {
      deliver(r);
      continue;
    }
    /* Nothing more will come: the peer's FIN. */
    FUZZ_CHECK(!t->eof, "the client waits for bytes after the end of the stream (phase %d)",
               r->phase);
    t->eof = 1;
    client_step(r);
  }

  int intact = !r->damaged && !r->cut;
  if (r->phase == C_FAILED) {
    FUZZ_CHECK(!intact, "%s: the exchange failed with nothing damaged (%s, rc %d, cause %d): %s",
               r->vt->name, r->failed_in_handshake ? "handshake" : "read", r->rc, r->err.cause,
               r->err.msg);
    FUZZ_CHECK(allowed_cause(r), "%s: a %s failure with rc %d and cause %d: %s", r->vt->name,
               r->failed_in_handshake ? "handshake" : "read", r->rc, r->err.cause, r->err.msg);
    FUZZ_CHECK(r->err.msg[0], "a failure with no sentence");
  } else {
    FUZZ_CHECK(r->phase == C_CLOSED || r->phase == C_EOF, "phase %d at the end", r->phase);
    if (r->phase == C_CLOSED)
      FUZZ_CHECK(fuzz_same(r->got.p, r->got.len, r->response.p, r->response.len),
                 "close_notify after %zu bytes of %zu", r->got.len, r->response.len);
    if (intact) {
      FUZZ_CHECK(r->sphase == S_DONE, "the server did not finish (phase %d)", r->sphase);
      FUZZ_CHECK(fuzz_same(r->got.p, r->got.len, r->response.p, r->response.len),
                 "%s: the client read %zu bytes of %zu", r->vt->name, r->got.len, r->response.len);
      FUZZ_CHECK(r->phase == (r->close_notify ? C_CLOSED : C_EOF), "%s: ended in phase %d",
                 r->vt->name, r->phase);
      FUZZ_CHECK(r->consumed == r->wire.len, "%s: %zu of %zu ciphertext bytes consumed",
                 r->vt->name, r->consumed, r->wire.len);
    }
    /* Goodbye, as xfer__conn_tls_close() says it. */
    r->vt->close_notify(t);
    drain(r);
    server_step(r);
  }
  run_free(r);
  free(r);
  return 0;
}

#else /* no OpenSSL: no in-process server to talk to */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int said;
  (void)data, (void)size;
  if (!said) {
    fprintf(stderr, "fuzz_tls_glue: this build has no OpenSSL, which the harness's server uses; "
                    "nothing is checked\n");
    said = 1;
  }
  return 0;
}

#endif
