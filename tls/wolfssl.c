/* The wolfSSL implementation of the TLS table, the project's default.
 * wolfSSL reads and writes through per-object I/O callbacks that move
 * ciphertext to and from the connection's buffers (tls.c), so it never sees
 * a socket.
 *
 * Debian 12's wolfSSL 5.5.4 is built with OPENSSL_COMPATIBLE_DEFAULTS, which
 * turns peer verification off, allows anonymous (ADH) suites even with
 * verification on, allows TLS 1.1, and resumes a session offered for another
 * host name without complaint. Every one of those is closed here or by the
 * runtime (sessions are offered only under their full pool key), and each
 * has a test. */
#include <errno.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/memory.h>

#include "../runtime/alloc.h"
#include "tls.h"

/* ChaCha20-Poly1305 first: Debian's wolfSSL has no AES-NI, and one core
 * here encrypts 16 KiB records at 0.50 GB/s with ChaCha20-Poly1305 against
 * 0.19 GB/s with AES-128-GCM. AEAD suites with forward secrecy only; an
 * explicit list is what keeps Debian's default (which includes ADH, NULL and
 * RC4 suites) out. */
#define DEFAULT_TLS13 \
  "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384"
#define DEFAULT_TLS12                                          \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define DEFAULT_CIPHERS DEFAULT_TLS13 ":" DEFAULT_TLS12
#define NEVER           ":!aNULL:!eNULL"

/* wolfSSL's TLS 1.3 client can return -1 from wolfSSL_connect() with no
 * error when a small write met a full buffer; calling again completes. A
 * bound keeps a real failure from looping (measured: one retry suffices). */
#define MAX_EMPTY_RETRIES 8

/* ---- allocator hooks -------------------------------------------------- */

static void *w_malloc(size_t n) { return xfer__tls_malloc(n); }

static void w_free(void *p) { xfer__tls_free(p); }

static void *w_realloc(void *p, size_t n) { return xfer__tls_realloc(p, n); }

/* ---- I/O callbacks ------------------------------------------------------ */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl;
  long n = xfer__tls_pull(ctx, buf, (size_t)sz);
  if (n == -EAGAIN)
    return WOLFSSL_CBIO_ERR_WANT_READ;
  if (n == 0)
    return WOLFSSL_CBIO_ERR_CONN_CLOSE;
  return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl;
  long n = xfer__tls_push(ctx, buf, (size_t)sz);
  if (n == -EAGAIN)
    return WOLFSSL_CBIO_ERR_WANT_WRITE;
  return (int)n;
}

/* ---- process ------------------------------------------------------------ */

static int w_init(void) {
  if (wolfSSL_SetAllocators(w_malloc, w_free, w_realloc) != 0)
    return -EINVAL;
  return wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -ENOMEM;
}

static void w_cleanup(void) {
  /* Frees the session cache and the fixed-point ECC cache (FP_ECC) that
   * the first handshake fills; without it leak checkers report them. */
  wolfSSL_Cleanup();
}

static const char *w_version(void) { return "wolfSSL/" LIBWOLFSSL_VERSION_STRING; }

static const char *reason(int e, char *buf, size_t len) {
  wolfSSL_ERR_error_string_n((unsigned long)(e < 0 ? -e : e), buf, len);
  return buf;
}

/* ---- context ------------------------------------------------------------ */

static int new_session(WOLFSSL *ssl, WOLFSSL_SESSION *sess) {
  struct xfer__tls_conn *t = wolfSSL_get_app_data(ssl);
  /* 1 keeps the reference wolfSSL took for the callback. */
  return t ? xfer__tls_session_new(t, sess) : 0;
}

static int password_cb(char *buf, int size, int rw, void *userdata) {
  (void)rw;
  const char *pw = userdata;
  if (!pw)
    return 0;
  size_t n = strlen(pw);
  if (n >= (size_t)size)
    return 0;
  memcpy(buf, pw, n + 1);
  return (int)n;
}

static int load_trust(WOLFSSL_CTX *c, const struct xfer__tls_config *cfg,
                      struct xfer__tls_err *err) {
  if (!cfg->cainfo && !cfg->capath && !cfg->ca_blob) {
    if (wolfSSL_CTX_load_system_CA_certs(c) != WOLFSSL_SUCCESS)
      return xfer__tls_fail(err, XFER__TLS_CACERT, -ENOENT, "error loading the system CA store");
    return 0;
  }
  if ((cfg->cainfo || cfg->capath) &&
      wolfSSL_CTX_load_verify_locations(c, cfg->cainfo, cfg->capath) != WOLFSSL_SUCCESS)
    return xfer__tls_fail(err, XFER__TLS_CACERT, -ENOENT,
                          "error setting certificate file: %s (CApath: %s)",
                          cfg->cainfo ? cfg->cainfo : "none", cfg->capath ? cfg->capath : "none");
  if (cfg->ca_blob && wolfSSL_CTX_load_verify_buffer(c, cfg->ca_blob, (long)cfg->ca_blob_len,
                                                     WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
    return xfer__tls_fail(err, XFER__TLS_CACERT, -EINVAL,
                          "error setting certificate blob: no PEM certificate in it");
  return 0;
}

static int load_client_cert(WOLFSSL_CTX *c, const struct xfer__tls_config *cfg,
                            struct xfer__tls_err *err) {
  if (!cfg->cert)
    return 0;
  const char *key = cfg->key ? cfg->key : cfg->cert;
  wolfSSL_CTX_set_default_passwd_cb(c, password_cb);
  wolfSSL_CTX_set_default_passwd_cb_userdata(c, (void *)cfg->keypasswd);
  int rc = 0;
  if (wolfSSL_CTX_use_certificate_chain_file(c, cfg->cert) != WOLFSSL_SUCCESS)
    rc = xfer__tls_fail(err, XFER__TLS_CERT, -EINVAL, "could not load client certificate %s",
                        cfg->cert);
  else if (wolfSSL_CTX_use_PrivateKey_file(c, key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
           wolfSSL_CTX_check_private_key(c) != WOLFSSL_SUCCESS)
    rc = xfer__tls_fail(err, XFER__TLS_CERT, -EINVAL, "could not load client key %s", key);
  /* The password is needed only while the key is read. */
  wolfSSL_CTX_set_default_passwd_cb_userdata(c, NULL);
  return rc;
}

static int w_ctx_new(struct xfer__tls_ctx *ctx, const struct xfer__tls_config *cfg,
                     struct xfer__tls_err *err) {
  WOLFSSL_CTX *c = wolfSSL_CTX_new(wolfSSLv23_client_method());
  if (!c)
    return xfer__tls_fail(err, XFER__TLS_NOMEM, -ENOMEM, "could not create an SSL context");
  int rc = 0;
  /* Debian's default minimum is SSL 3 (OPENSSL_COMPATIBLE_DEFAULTS). */
  int vmin = cfg->version_min == XFER__TLS_V1_3 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
  if (wolfSSL_CTX_SetMinVersion(c, vmin) != WOLFSSL_SUCCESS ||
      (cfg->version_max == XFER__TLS_V1_2 &&
       wolfSSL_CTX_set_max_proto_version(c, XFER__TLS_V1_2) != WOLFSSL_SUCCESS)) {
    rc = xfer__tls_fail(err, XFER__TLS_CONNECT, -EINVAL, "unsupported TLS version range");
    goto fail;
  }
  /* One list serves TLS 1.2 and 1.3 in wolfSSL: the 1.3 suites lead, and
   * the version the application said nothing about keeps its defaults, as
   * with OpenSSL's two separate lists. */
  char list[1024];
  /* Each list the application gave must stand on its own: wolfSSL skips
   * unknown names as long as one name in the whole list is known, so a
   * misspelt list joined to the defaults would pass unnoticed. */
  const char *mine[2] = {cfg->ciphers, cfg->tls13_ciphers};
  for (int i = 0; i < 2; i++) {
    if (mine[i] && wolfSSL_CTX_set_cipher_list(c, mine[i]) != WOLFSSL_SUCCESS) {
      rc =
          xfer__tls_fail(err, XFER__TLS_CIPHER, -EINVAL, "failed setting cipher list: %s", mine[i]);
      goto fail;
    }
  }
  if (cfg->ciphers || cfg->tls13_ciphers)
    snprintf(list, sizeof list, "%s:%s" NEVER,
             cfg->tls13_ciphers ? cfg->tls13_ciphers : DEFAULT_TLS13,
             cfg->ciphers ? cfg->ciphers : DEFAULT_TLS12);
  else
    snprintf(list, sizeof list, "%s", DEFAULT_CIPHERS);
  if (strlen(list) >= sizeof list - 1 || wolfSSL_CTX_set_cipher_list(c, list) != WOLFSSL_SUCCESS) {
    rc = xfer__tls_fail(err, XFER__TLS_CIPHER, -EINVAL, "failed setting cipher list: %s", list);
    goto fail;
  }
  /* Debian's default is VERIFY_NONE. */
  wolfSSL_CTX_set_verify(c, cfg->verifypeer ? WOLFSSL_VERIFY_PEER : WOLFSSL_VERIFY_NONE, NULL);
  if (cfg->verifypeer && (rc = load_trust(c, cfg, err)) < 0)
    goto fail;
  if ((rc = load_client_cert(c, cfg, err)) < 0)
    goto fail;
  wolfSSL_CTX_sess_set_new_cb(c, new_session);
  ctx->lib = c;
  return 0;
fail:
  wolfSSL_CTX_free(c);
  return rc;
}

static void w_ctx_free(struct xfer__tls_ctx *ctx) {
  wolfSSL_CTX_free(ctx->lib);
  ctx->lib = NULL;
}

/* ---- connection ---------------------------------------------------------- */

static int w_start(struct xfer__tls_conn *t, const char *host, void *session,
                   struct xfer__tls_err *err) {
  WOLFSSL *s = wolfSSL_new(t->ctx->lib);
  if (!s)
    return xfer__tls_fail(err, XFER__TLS_NOMEM, -ENOMEM, "out of memory starting TLS");
  wolfSSL_SSLSetIORecv(s, io_recv);
  wolfSSL_SSLSetIOSend(s, io_send);
  wolfSSL_SetIOReadCtx(s, t);
  wolfSSL_SetIOWriteCtx(s, t);
  wolfSSL_set_app_data(s, t);
  int ok = 1;
  if (!t->ip_host) {
    /* SNI is separate from verification in wolfSSL: both are asked for. */
    ok = wolfSSL_UseSNI(s, WOLFSSL_SNI_HOST_NAME, host, (unsigned short)strlen(host)) ==
         WOLFSSL_SUCCESS;
    if (ok && t->ctx->verifypeer && t->ctx->verifyhost)
      ok = wolfSSL_check_domain_name(s, host) == WOLFSSL_SUCCESS;
  }
  if (ok && session)
    ok = wolfSSL_set_session(s, session) == WOLFSSL_SUCCESS;
  if (!ok) {
    wolfSSL_free(s);
    return xfer__tls_fail(err, XFER__TLS_NOMEM, -ENOMEM, "out of memory setting up TLS");
  }
  t->ssl = s;
  t->retries = 0;
  return 0;
}

/* An IP literal is checked against the certificate's IP SANs once the
 * handshake is done: wolfSSL's domain check covers names only. */
static int check_ip(struct xfer__tls_conn *t, struct xfer__tls_err *err) {
  WOLFSSL_X509 *peer = wolfSSL_get_peer_certificate(t->ssl);
  if (!peer)
    return xfer__tls_fail(err, XFER__TLS_VERIFY, -EKEYREJECTED,
                          "SSL: no peer certificate to check %s against", t->host);
  int ok = wolfSSL_X509_check_ip_asc(peer, t->host, 0) == WOLFSSL_SUCCESS;
  wolfSSL_X509_free(peer);
  if (!ok)
    return xfer__tls_fail(err, XFER__TLS_VERIFY, -EKEYREJECTED,
                          "SSL: certificate subject alt names do not match IP address %s", t->host);
  return 0;
}

static int is_verify_error(int e) {
  switch (e) {
  case DOMAIN_NAME_MISMATCH:
  case IPADDR_MISMATCH:
  case ASN_AFTER_DATE_E:
  case ASN_BEFORE_DATE_E:
  case ASN_SELF_SIGNED_E:
  case ASN_NO_SIGNER_E:
  case ASN_SIG_CONFIRM_E:
  case ASN_PATHLEN_INV_E:
  case VERIFY_CERT_ERROR:
    return 1;
  default:
    return 0;
  }
}

static int w_handshake(struct xfer__tls_conn *t, struct xfer__tls_err *err) {
  WOLFSSL *s = t->ssl;
  char why[96];
  for (;;) {
    int r = wolfSSL_connect(s);
    if (r == WOLFSSL_SUCCESS) {
      t->resumed = wolfSSL_session_reused(s) == 1;
      t->verify_result = wolfSSL_get_verify_result(s);
      if (t->ip_host && t->ctx->verifypeer && t->ctx->verifyhost)
        return check_ip(t, err);
      return 0;
    }
    int e = wolfSSL_get_error(s, r);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
      return -EAGAIN;
    if (e == 0 && t->retries++ < MAX_EMPTY_RETRIES)
      continue;
    t->verify_result = wolfSSL_get_verify_result(s);
    err->verify_result = t->verify_result;
    if (e == MEMORY_E)
      return xfer__tls_fail(err, XFER__TLS_NOMEM, -ENOMEM, "out of memory in the TLS handshake");
    if (is_verify_error(e))
      return xfer__tls_fail(err, XFER__TLS_VERIFY, -EKEYREJECTED, "SSL certificate problem: %s",
                            reason(e, why, sizeof why));
    return xfer__tls_fail(err, XFER__TLS_CONNECT, -EPROTO, "TLS handshake failed: %s (%d)",
                          reason(e, why, sizeof why), e);
  }
}

static long w_read(struct xfer__tls_conn *t, char *buf, size_t len, struct xfer__tls_err *err) {
  char why[96];
  int r = wolfSSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
  if (r > 0)
    return r;
  int e = wolfSSL_get_error(t->ssl, r);
  switch (e) {
  case WOLFSSL_ERROR_WANT_READ:
  case WOLFSSL_ERROR_WANT_WRITE:
    return -EAGAIN;
  case WOLFSSL_ERROR_ZERO_RETURN:
    return 0;
  case SOCKET_PEER_CLOSED_E:
    return -EPIPE;
  case MEMORY_E:
    return xfer__tls_fail(err, XFER__TLS_NOMEM, -ENOMEM, "out of memory in a TLS read");
  default:
    return xfer__tls_fail(err, XFER__TLS_RECV, -EPROTO, "TLS receive failed: %s (%d)",
                          reason(e, why, sizeof why), e);
  }
}

static long w_write(struct xfer__tls_conn *t, const char *buf, size_t len,
                    struct xfer__tls_err *err) {
  char why[96];
  int r = wolfSSL_write(t->ssl, buf, (int)len);
  if (r > 0)
    return r;
  int e = wolfSSL_get_error(t->ssl, r);
  if (e == WOLFSSL_ERROR_WANT_WRITE || e == WOLFSSL_ERROR_WANT_READ)
    return -EAGAIN;
  if (e == MEMORY_E)
    return xfer__tls_fail(err, XFER__TLS_NOMEM, -ENOMEM, "out of memory in a TLS write");
  return xfer__tls_fail(err, XFER__TLS_SEND, -EPROTO, "TLS send failed: %s (%d)",
                        reason(e, why, sizeof why), e);
}

static int w_pending(struct xfer__tls_conn *t) { return wolfSSL_pending(t->ssl) > 0; }

static void w_close_notify(struct xfer__tls_conn *t) { (void)wolfSSL_shutdown(t->ssl); }

static void w_conn_free(struct xfer__tls_conn *t) {
  wolfSSL_free(t->ssl);
  t->ssl = NULL;
}

static void w_session_free(void *s) { wolfSSL_SESSION_free(s); }

static int w_peer_spki_sha256(struct xfer__tls_conn *t, unsigned char out[32]) {
  WOLFSSL_X509 *peer = wolfSSL_get_peer_certificate(t->ssl);
  if (!peer)
    return -ENOENT;
  int rc = -ENOMEM;
  WOLFSSL_EVP_PKEY *pk = wolfSSL_X509_get_pubkey(peer);
  unsigned char *der = NULL;
  int n = pk ? wolfSSL_i2d_PUBKEY(pk, &der) : 0;
  if (n > 0 && wc_Sha256Hash(der, (word32)n, out) == 0)
    rc = 0;
  XFREE(der, NULL, DYNAMIC_TYPE_OPENSSL);
  wolfSSL_EVP_PKEY_free(pk);
  wolfSSL_X509_free(peer);
  return rc;
}

static const char *w_describe(struct xfer__tls_conn *t, char *buf, size_t len) {
  snprintf(buf, len, "%s / %s", wolfSSL_get_version(t->ssl), wolfSSL_get_cipher_name(t->ssl));
  return buf;
}

/* FP_ECC keeps a per-thread table of precomputed points (about 800 KiB
 * once the generator's is built); it must be freed by the thread that
 * made it (wolfSSL issue #1989, curl #3387). */
static void w_thread_cleanup(void) { wc_ecc_fp_free(); }

static int w_sha256(const void *data, size_t len, unsigned char out[32]) {
  return wc_Sha256Hash(data, (word32)len, out) == 0 ? 0 : -ENOMEM;
}

const struct xfer__tls_lib xfer__tls_wolfssl = {
    .name = "wolfssl",
    .id = XFER__TLS_WOLFSSL,
    .init = w_init,
    .cleanup = w_cleanup,
    .version = w_version,
    .ctx_new = w_ctx_new,
    .ctx_free = w_ctx_free,
    .start = w_start,
    .handshake = w_handshake,
    .read = w_read,
    .write = w_write,
    .pending = w_pending,
    .close_notify = w_close_notify,
    .conn_free = w_conn_free,
    .session_free = w_session_free,
    .peer_spki_sha256 = w_peer_spki_sha256,
    .describe = w_describe,
    .thread_cleanup = w_thread_cleanup,
    .sha256 = w_sha256,
};
