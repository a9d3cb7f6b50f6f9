/* The TLS layer: one small table of functions with two implementations,
 * wolfssl.c (the default) and openssl.c, chosen once per process as
 * libcurl's multi-SSL builds choose (xfer_global_sslset, XFER_SSL_BACKEND).
 *
 * Neither library ever touches a socket. Each connection's library object
 * reads ciphertext through xfer__tls_pull() (from a backend's receive buffer
 * in place, or from the connection's own input buffer) and writes it
 * through xfer__tls_push() (appended to the connection's output buffer,
 * which the runtime sends with the backend's ordinary SEND op). So one TLS
 * path serves poll, epoll and io_uring alike. See docs/internals/tls.md.
 *
 * Errors are data: every function returns 0 (or a byte count) or a negative
 * errno, and where a TLS cause needs its own libcurl code the function also
 * fills a struct xfer__tls_err, which the transfer's edge maps. */
#ifndef XFER_TLS_TLS_H
#define XFER_TLS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../runtime/queue.h"

/* libcurl's curl_sslbackend numbers for the two libraries xfer has. */
enum { XFER__TLS_OPENSSL = 1, XFER__TLS_WOLFSSL = 7 };

/* Protocol versions as the TLS record layer numbers them. */
enum { XFER__TLS_V1_2 = 0x0303, XFER__TLS_V1_3 = 0x0304 };

/* Every TLS setting that changes what a connection is. Its fields point
 * into the easy handle's options; xfer__tls_config_key() turns them into the
 * string that joins the pool key, so two transfers share a connection or a
 * session only when every field is equal. */
struct xfer__tls_config {
  unsigned verifypeer : 1;
  unsigned verifyhost : 1;
  unsigned sessions : 1; /* XFEROPT_SSL_SESSIONID_CACHE */
  uint16_t version_min;  /* XFER__TLS_V1_2 or _V1_3 */
  uint16_t version_max;  /* 0: the newest the library has */
  const char *cainfo;
  const char *capath;
  const void *ca_blob;
  size_t ca_blob_len;
  const char *cert;
  const char *key;
  const char *keypasswd;
  const char *ciphers;       /* TLS 1.2 list, in the library's syntax */
  const char *tls13_ciphers; /* TLS 1.3 suites */
  const char *pinned;        /* "sha256//BASE64[;sha256//...]" */
};

/* Why a TLS step failed, for the edge to map onto a libcurl code. */
enum xfer__tls_cause {
  XFER__TLS_OK = 0,
  XFER__TLS_CONNECT, /* handshake failed: 35 SSL_CONNECT_ERROR */
  XFER__TLS_VERIFY,  /* peer certificate rejected: 60 PEER_FAILED_VERIFICATION */
  XFER__TLS_PINNED,  /* public key pin mismatch: 90 SSL_PINNEDPUBKEYNOTMATCH */
  XFER__TLS_CACERT,  /* CA file, path or blob unusable: 77 SSL_CACERT_BADFILE */
  XFER__TLS_CERT,    /* client certificate or key unusable: 58 SSL_CERTPROBLEM */
  XFER__TLS_CIPHER,  /* cipher list refused: 59 SSL_CIPHER */
  XFER__TLS_RECV,    /* after the handshake: 56 RECV_ERROR */
  XFER__TLS_SEND,    /* after the handshake: 55 SEND_ERROR */
  XFER__TLS_NOMEM,   /* 27 OUT_OF_MEMORY */
};

struct xfer__tls_err {
  enum xfer__tls_cause cause;
  long verify_result; /* the library's X509 verification code, 0 when none */
  char msg[192];      /* a sentence for the error buffer */
};

/* A configured library context (SSL_CTX, WOLFSSL_CTX), shared by every
 * connection of a multi whose TLS settings give the same key. */
struct xfer__tls_ctx {
  struct xfer__queue link; /* the multi's list */
  char *key;
  uint32_t hash;
  const struct xfer__tls_lib *vt;
  void *lib; /* the library's context */
  unsigned verifypeer : 1;
  unsigned verifyhost : 1;
  unsigned sessions : 1;
  char *pinned; /* copy of the pin list, NULL when none */
};

/* One connection's TLS state. Its buffers live as long as the connection
 * object, which the pool recycles, so a warm connection allocates nothing
 * per request. */
struct xfer__tls_conn {
  void *ssl; /* the library's object, NULL when not TLS */
  struct xfer__tls_ctx *ctx;
  /* Where a session the library hands over is kept (the origin's slot),
   * and whether to keep it. */
  void **session_slot;
  /* Ciphertext in: ibuf[ipos..ilen) first, then the view (a backend
   * buffer being decrypted where it lies). */
  char *ibuf;
  size_t icap, ilen, ipos;
  const char *view;
  size_t vlen, vpos;
  /* Ciphertext out: obuf[opos..olen) waits or, while `sending`, is being
   * sent; records written meanwhile go after olen and leave with the next
   * send. */
  char *obuf;
  size_t ocap, olen, opos;
  struct iovec oiov; /* the SEND op's view of obuf */
  size_t plain_out;  /* plaintext bytes behind the records in obuf */
  long verify_result;
  void *pending_session; /* handed over during the handshake, not yet trusted */
  unsigned eof : 1;      /* the peer's FIN was seen: pull() says end */
  unsigned handshaken : 1;
  unsigned resumed : 1;
  unsigned ip_host : 1; /* the host is an IP literal */
  unsigned sending : 1; /* a SEND of obuf is with the backend */
  /* An allocation failed inside the library during one of this
   * connection's calls, even if the call went on: a later failure of the
   * connection is then reported as out of memory. */
  unsigned oom : 1;
  unsigned retries; /* wolfSSL TLS 1.3's "call again" quirk */
  const char *host; /* for the post-handshake checks */
};

struct xfer__tls_lib {
  const char *name; /* "wolfssl", "openssl": XFER_SSL_BACKEND's values */
  int id;           /* XFER__TLS_* */
  /* Once per process, before anything else of the library. */
  int (*init)(void);
  void (*cleanup)(void);
  /* "wolfSSL/5.5.4", "OpenSSL/3.0.19" for xfer_version(). */
  const char *(*version)(void);
  /* Builds ctx->lib from cfg. 0, or -errno with err filled. */
  int (*ctx_new)(struct xfer__tls_ctx *ctx, const struct xfer__tls_config *cfg,
                 struct xfer__tls_err *err);
  void (*ctx_free)(struct xfer__tls_ctx *ctx);
  /* Creates t->ssl for a handshake with host (SNI for names, never for an
   * IP literal), offering session when not NULL. */
  int (*start)(struct xfer__tls_conn *t, const char *host, void *session,
               struct xfer__tls_err *err);
  /* One step: 0 when done, -EAGAIN when it needs more ciphertext (or room
   * to write: the caller flushes obuf and calls again), else -errno. */
  int (*handshake)(struct xfer__tls_conn *t, struct xfer__tls_err *err);
  /* Plaintext out of the ciphertext pulled so far: a byte count, 0 at the
   * peer's close_notify, -EAGAIN when a record is incomplete, -EPIPE when
   * the stream ended without close_notify (a possible truncation), else
   * -errno. */
  long (*read)(struct xfer__tls_conn *t, char *buf, size_t len, struct xfer__tls_err *err);
  /* Encrypts len bytes (at most one record's worth) into obuf; the caller
   * leaves room for them. len, or -errno. */
  long (*write)(struct xfer__tls_conn *t, const char *buf, size_t len, struct xfer__tls_err *err);
  /* Whether the library holds decrypted bytes not yet read. */
  int (*pending)(struct xfer__tls_conn *t);
  /* Queues close_notify into obuf, best effort. */
  void (*close_notify)(struct xfer__tls_conn *t);
  void (*conn_free)(struct xfer__tls_conn *t);
  void (*session_free)(void *session);
  /* SHA-256 of the peer certificate's SubjectPublicKeyInfo (for pins). */
  int (*peer_spki_sha256)(struct xfer__tls_conn *t, unsigned char out[32]);
  /* The protocol and cipher, for verbose output. */
  const char *(*describe)(struct xfer__tls_conn *t, char *buf, size_t len);
  /* Frees what the library keeps per thread between calls (wolfSSL's
   * FP_ECC table, OpenSSL's error queue): called when a multi is cleaned
   * up, so a thread that ends after its multi leaves nothing behind. */
  void (*thread_cleanup)(void);
  /* SHA-256 of any bytes (the CA blob's part of the pool key). */
  int (*sha256)(const void *data, size_t len, unsigned char out[32]);
};

#ifdef XFER_HAVE_WOLFSSL
extern const struct xfer__tls_lib xfer__tls_wolfssl;
#endif
#ifdef XFER_HAVE_OPENSSL
extern const struct xfer__tls_lib xfer__tls_openssl;
#endif

/* The process's library: chosen by xfer_global_sslset(), else by the
 * XFER_SSL_BACKEND variable, else the default (wolfSSL). Initialised on
 * first use. NULL when the build has none or the choice names a library the
 * build lacks; then *why says so. */
const struct xfer__tls_lib *xfer__tls_get(const char **why);
/* The libraries compiled in, "wolfSSL/5.5.4, OpenSSL/3.0.19", or "none". */
const char *xfer__tls_list(void);
/* Process teardown (xfer_global_cleanup). */
void xfer__tls_global_cleanup(void);

/* The I/O the libraries' callbacks perform. pull() copies up to len bytes
 * of ciphertext: a count, 0 at the peer's end of stream, -EAGAIN when none
 * is there yet. push() appends to obuf: a count (maybe short), -EAGAIN when
 * obuf is full. */
long xfer__tls_pull(struct xfer__tls_conn *t, char *buf, size_t len);
long xfer__tls_push(struct xfer__tls_conn *t, const char *buf, size_t len);
/* The library handed over a resumable session (a TLS 1.3 ticket arrives
 * after the handshake): keep it in the connection's slot, replacing the old
 * one, or free it. Returns 1 when kept. */
int xfer__tls_session_new(struct xfer__tls_conn *t, void *session);

/* The allocator the libraries are given: xfer's hooks behind a per-thread
 * cache of small blocks, which the libraries allocate and free per record.
 * xfer__tls_trim() hands the calling thread's cached blocks back. */
void *xfer__tls_malloc(size_t n);
void *xfer__tls_realloc(void *p, size_t n);
void xfer__tls_free(void *p);
void xfer__tls_trim(void);

/* Allocation failures counted by the library's allocator hooks, so that a
 * failed step can be told apart from a protocol error (out of memory). */
unsigned long xfer__tls_alloc_failures(void);

/* The canonical key of cfg, every field length-prefixed so that no two
 * configurations spell the same key; a CA blob joins it by its SHA-256.
 * 0, or -ENOMEM. */
int xfer__tls_config_key(const struct xfer__tls_lib *lib, const struct xfer__tls_config *cfg,
                         char **out);
/* Checks the peer against a pin list: 0 when one matches, -EKEYREJECTED
 * when none does (err filled), -EINVAL for a malformed list. */
int xfer__tls_check_pin(struct xfer__tls_conn *t, const char *pins, struct xfer__tls_err *err);
/* Whether s is an IPv4 or IPv6 literal. */
int xfer__tls_is_ip(const char *s);
/* Fills err (cause and a printf-style sentence) and returns rc. */
int xfer__tls_fail(struct xfer__tls_err *err, enum xfer__tls_cause cause, int rc, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

#endif
