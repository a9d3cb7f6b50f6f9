/* What both TLS libraries share: the choice of library for the process
 * (xfer_global_sslset, XFER_SSL_BACKEND), the ciphertext I/O their
 * callbacks perform on the connection's buffers, the session slot, the
 * pool key of a configuration and the public-key pin check. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../runtime/alloc.h"
#include "tls.h"
#include "xfer/xfer.h"

/* The libraries built in, in order of preference: wolfSSL is the project's
 * default (the build's first choice, as libcurl's multi-SSL builds have one), OpenSSL the one to choose for bulk speed (AES-NI). */
static const struct xfer__tls_lib *const libs[] = {
#ifdef XFER_HAVE_WOLFSSL
    &xfer__tls_wolfssl,
#endif
#ifdef XFER_HAVE_OPENSSL
    &xfer__tls_openssl,
#endif
    NULL,
};
#define NLIBS (sizeof libs / sizeof libs[0] - 1)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* The library chosen by xfer_global_sslset, kept across a cleanup. */
static const struct xfer__tls_lib *wanted;
/* The library in use (initialised), NULL before the first use; and the
 * same for readers that take no lock. */
static const struct xfer__tls_lib *active;
static const struct xfer__tls_lib *_Atomic active_fast;
/* Why there is no library, when the choice failed. */
static const char *no_lib_why;
/* The allocator the library was started with. */
static xfer_malloc_callback lib_malloc = malloc;
static xfer_free_callback lib_free = free;
/* Per thread: a library allocates on the thread that calls it, so another
 * thread's failure never taints this thread's step. */
static _Thread_local unsigned long alloc_failures;

static const struct xfer__tls_lib *by_name(const char *name) {
  for (size_t i = 0; i < NLIBS; i++)
    if (strcasecmp(libs[i]->name, name) == 0)
      return libs[i];
  return NULL;
}

static const struct xfer__tls_lib *by_id(int id) {
  for (size_t i = 0; i < NLIBS; i++)
    if (libs[i]->id == id)
      return libs[i];
  return NULL;
}

/* Picks and starts the library under the lock. */
static const struct xfer__tls_lib *choose_locked(void) {
  if (active)
    return active;
  const struct xfer__tls_lib *lib = wanted;
  if (!lib) {
    const char *env = getenv("XFER_SSL_BACKEND");
    if (env && *env) {
      lib = by_name(env);
      if (!lib) {
        /* An explicit choice the build cannot honour is an error: falling
         * back to another library would measure or trust the wrong one. */
        no_lib_why = "XFER_SSL_BACKEND names a TLS library this build of xfer does not have";
        return NULL;
      }
    } else {
      lib = libs[0];
    }
  }
  if (!lib) {
    no_lib_why = "this build of xfer has no TLS library";
    return NULL;
  }
  /* The library allocates with the hooks in force now, for as long as it
   * lives (OpenSSL frees its globals at exit, after any global cleanup). */
  xfer__alloc_get(&lib_malloc, &lib_free);
  if (lib->init() < 0) {
    no_lib_why = "the TLS library failed to initialise";
    return NULL;
  }
  active = lib;
  atomic_store_explicit(&active_fast, lib, memory_order_release);
  no_lib_why = NULL;
  return active;
}

const struct xfer__tls_lib *xfer__tls_get(const char **why) {
  /* Once chosen, the library stays until global cleanup: every request
   * after the first reads it without the lock. */
  const struct xfer__tls_lib *fast = atomic_load_explicit(&active_fast, memory_order_acquire);
  if (fast)
    return fast;
  pthread_mutex_lock(&lock);
  const struct xfer__tls_lib *lib = choose_locked();
  if (!lib && why)
    *why = no_lib_why;
  pthread_mutex_unlock(&lock);
  return lib;
}

void xfer__tls_global_cleanup(void) {
  xfer__tls_trim();
  pthread_mutex_lock(&lock);
  if (active)
    active->cleanup();
  active = NULL;
  atomic_store_explicit(&active_fast, NULL, memory_order_release);
  pthread_mutex_unlock(&lock);
  xfer__tls_trim(); /* what the library's cleanup freed into the cache */
}

static char lib_list[96];

/* Version strings come from the headers the libraries were built with, so
 * listing them needs no initialisation. */
static void make_list(void) {
  size_t n = 0;
  for (size_t i = 0; i < NLIBS && n < sizeof lib_list; i++)
    n += (size_t)snprintf(lib_list + n, sizeof lib_list - n, "%s%s", i ? ", " : "",
                          libs[i]->version());
}

const char *xfer__tls_list(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_list);
  return lib_list[0] ? lib_list : "none";
}

xfer_sslset xfer_global_sslset(xfer_sslbackend id, const char *name,
                               const xfer_ssl_backend ***avail) {
  /* Constant: any thread may ask at any time. */
#ifdef XFER_HAVE_WOLFSSL
  static const xfer_ssl_backend wolf = {XFERSSLBACKEND_WOLFSSL, "wolfssl"};
#endif
#ifdef XFER_HAVE_OPENSSL
  static const xfer_ssl_backend ossl = {XFERSSLBACKEND_OPENSSL, "openssl"};
#endif
  static const xfer_ssl_backend *list[] = {
#ifdef XFER_HAVE_WOLFSSL
      &wolf,
#endif
#ifdef XFER_HAVE_OPENSSL
      &ossl,
#endif
      NULL,
  };
  if (avail)
    *avail = list;
  if (NLIBS == 0)
    return XFERSSLSET_NO_BACKENDS;
  const struct xfer__tls_lib *lib = (int)id == -1 ? (name ? by_name(name) : NULL) : by_id((int)id);
  pthread_mutex_lock(&lock);
  xfer_sslset rc;
  const struct xfer__tls_lib *current = active ? active : wanted;
  if (current)
    rc = lib == current ? XFERSSLSET_OK : XFERSSLSET_TOO_LATE;
  else if (!lib)
    rc = XFERSSLSET_UNKNOWN_BACKEND;
  else {
    wanted = lib;
    rc = XFERSSLSET_OK;
  }
  /* Unknown is the answer to a name that matches nothing, even late. */
  if (!lib)
    rc = XFERSSLSET_UNKNOWN_BACKEND;
  pthread_mutex_unlock(&lock);
  return rc;
}

/* ---- ciphertext I/O ------------------------------------------------------ */

long xfer__tls_pull(struct xfer__tls_conn *t, char *buf, size_t len) {
  size_t n = 0;
  if (t->ipos < t->ilen) {
    n = t->ilen - t->ipos;
    if (n > len)
      n = len;
    memcpy(buf, t->ibuf + t->ipos, n);
    t->ipos += n;
    if (t->ipos == t->ilen)
      t->ipos = t->ilen = 0;
  }
  if (n < len && t->view && t->vpos < t->vlen) {
    size_t m = t->vlen - t->vpos;
    if (m > len - n)
      m = len - n;
    memcpy(buf + n, t->view + t->vpos, m);
    t->vpos += m;
    n += m;
  }
  if (n)
    return (long)n;
  return t->eof ? 0 : -EAGAIN;
}

long xfer__tls_push(struct xfer__tls_conn *t, const char *buf, size_t len) {
  size_t room = t->ocap - t->olen;
  if (room == 0)
    return -EAGAIN;
  if (len > room)
    len = room;
  memcpy(t->obuf + t->olen, buf, len);
  t->olen += len;
  return (long)len;
}

int xfer__tls_session_new(struct xfer__tls_conn *t, void *session) {
  if (!t->session_slot || !t->ctx || !t->ctx->sessions)
    return 0;
  /* A TLS 1.2 session is handed over inside the handshake, before xfer's
   * own checks (pin, allocation failures) have passed: it waits on the
   * connection and joins the origin only once they have. */
  void **slot = t->handshaken ? t->session_slot : &t->pending_session;
  void *old = *slot;
  *slot = session;
  if (old)
    t->ctx->vt->session_free(old);
  return 1;
}

unsigned long xfer__tls_alloc_failures(void) { return alloc_failures; }

int xfer__tls_fail(struct xfer__tls_err *err, enum xfer__tls_cause cause, int rc, const char *fmt,
                   ...) {
  err->cause = cause;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return rc;
}

int xfer__tls_is_ip(const char *s) {
  unsigned char b[16];
  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* ---- the pool key ------------------------------------------------------ */

struct keybuf {
  char *p;
  size_t len, cap;
  int oom;
};

static void put(struct keybuf *k, const char *tag, const char *v, size_t n) {
  size_t need = strlen(tag) + n + 24;
  if (k->oom)
    return;
  if (k->cap - k->len < need) {
    size_t ncap = k->cap ? k->cap : 256;
    while (ncap - k->len < need)
      ncap *= 2;
    char *np = xfer__realloc(k->p, ncap);
    if (!np) {
      k->oom = 1;
      return;
    }
    k->p = np;
    k->cap = ncap;
  }
  /* Length-prefixed, so that no value can imitate the next field. */
  k->len += (size_t)snprintf(k->p + k->len, k->cap - k->len, "%s%zu:", tag, n);
  memcpy(k->p + k->len, v, n);
  k->len += n;
  k->p[k->len] = '\0';
}

static void put_str(struct keybuf *k, const char *tag, const char *v) {
  if (v)
    put(k, tag, v, strlen(v));
  else
    put(k, tag, "-", 1); /* unset differs from the empty string "0:" */
}

int xfer__tls_config_key(const struct xfer__tls_lib *lib, const struct xfer__tls_config *cfg,
                         char **out) {
  struct keybuf k = {0};
  char num[48];
  snprintf(num, sizeof num, "%u%u%u/%x/%x", cfg->verifypeer, cfg->verifyhost, cfg->sessions,
           cfg->version_min, cfg->version_max);
  put_str(&k, "v", num);
  put_str(&k, "ca", cfg->cainfo);
  put_str(&k, "cp", cfg->capath);
  if (cfg->ca_blob) {
    unsigned char d[32];
    char hex[65];
    if (lib->sha256(cfg->ca_blob, cfg->ca_blob_len, d) < 0) {
      xfer__free(k.p);
      return -ENOMEM;
    }
    for (int i = 0; i < 32; i++)
      snprintf(hex + 2 * i, 3, "%02x", d[i]);
    put_str(&k, "cb", hex);
  } else {
    put_str(&k, "cb", NULL);
  }
  put_str(&k, "ce", cfg->cert);
  put_str(&k, "ke", cfg->key);
  put_str(&k, "pw", cfg->keypasswd);
  put_str(&k, "ci", cfg->ciphers);
  put_str(&k, "13", cfg->tls13_ciphers);
  put_str(&k, "pi", cfg->pinned);
  if (k.oom) {
    xfer__free(k.p);
    return -ENOMEM;
  }
  *out = k.p;
  return 0;
}

/* ---- public key pins ------------------------------------------------------ */

static void base64(const unsigned char *in, size_t n, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < n)
      v |= in[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = '\0';
}

int xfer__tls_check_pin(struct xfer__tls_conn *t, const char *pins, struct xfer__tls_err *err) {
  unsigned char d[32];
  char have[48];
  if (!active || active->peer_spki_sha256(t, d) < 0)
    return xfer__tls_fail(err, XFER__TLS_PINNED, -EKEYREJECTED,
                          "SSL: public key does not match pinned public key: no peer key");
  base64(d, sizeof d, have);
  /* libcurl's form: "sha256//BASE64", several joined by ';'. */
  const char *p = pins;
  while (*p) {
    const char *end = strchr(p, ';');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n > 8 && strncmp(p, "sha256//", 8) == 0 && n - 8 == strlen(have) &&
        memcmp(p + 8, have, n - 8) == 0)
      return 0;
    p += n;
    if (*p == ';')
      p++;
  }
  return xfer__tls_fail(err, XFER__TLS_PINNED, -EKEYREJECTED,
                        "SSL: public key does not match pinned public key (peer has sha256//%s)",
                        have);
}

/* ---- the libraries' allocator ----------------------------------------------
 *
 * Both libraries allocate small blocks for every record they write or
 * read, and free them right after: OpenSSL 3.0 two to four 40-byte packet
 * headers per SSL_write, wolfSSL 5.5.4 an 88-byte and a 266-byte buffer per
 * request (measured here through the hooks of xfer_global_init_mem). A
 * per-thread cache of freed small blocks, by size class, serves them again,
 * so a warm keep-alive request makes no allocation at all. A 16-byte header
 * before each block names its class (or its size when it is not cached). */

#define CLASSES   4
#define PER_CLASS 64 /* bounds what a thread keeps: 64 * (64+128+256+512) B */
#define HEADER    16u
/* In the header's first word with the class: a block freed to us that
 * lacks it was not allocated by us (a library used before xfer started it),
 * and goes back to libc. */
#define MAGIC     ((size_t)0x78746c7300000000ull)

static const size_t class_size[CLASSES] = {64, 128, 256, 512};

struct block_cache {
  void *blocks[CLASSES][PER_CLASS];
  unsigned n[CLASSES];
  unsigned registered : 1;
};

static _Thread_local struct block_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(struct block_cache *bc) {
  for (int c = 0; c < CLASSES; c++) {
    while (bc->n[c])
      lib_free(bc->blocks[c][--bc->n[c]]);
  }
}

static void cache_thread_exit(void *p) { cache_drop(p); }

static void make_key(void) { (void)pthread_key_create(&cache_key, cache_thread_exit); }

static int class_of(size_t n) {
  for (int c = 0; c < CLASSES; c++)
    if (n <= class_size[c])
      return c;
  return -1;
}

void *xfer__tls_malloc(size_t n) {
  int c = class_of(n);
  char *b;
  if (c >= 0 && cache.n[c]) {
    b = cache.blocks[c][--cache.n[c]];
  } else {
    b = lib_malloc(HEADER + (c >= 0 ? class_size[c] : n));
    if (!b) {
      alloc_failures++;
      return NULL;
    }
  }
  /* The class, or CLASSES and the size for a block that is not cached. */
  ((size_t *)(void *)b)[0] = MAGIC | (c >= 0 ? (size_t)c : CLASSES);
  ((size_t *)(void *)b)[1] = n;
  return b + HEADER;
}

void xfer__tls_free(void *p) {
  if (!p)
    return;
  char *b = (char *)p - HEADER;
  size_t w = ((size_t *)(void *)b)[0];
  if ((w & ~(size_t)0xff) != MAGIC) {
    free(p);
    return;
  }
  size_t c = w & 0xff;
  if (c < CLASSES && cache.n[c] < PER_CLASS) {
    if (!cache.registered) {
      /* Blocks kept by a thread go back when it exits. */
      pthread_once(&cache_once, make_key);
      (void)pthread_setspecific(cache_key, &cache);
      cache.registered = 1;
    }
    cache.blocks[c][cache.n[c]++] = b;
    return;
  }
  lib_free(b);
}

void *xfer__tls_realloc(void *p, size_t n) {
  if (!p)
    return xfer__tls_malloc(n);
  char *b = (char *)p - HEADER;
  size_t c = ((size_t *)(void *)b)[0] & 0xff;
  size_t old = ((size_t *)(void *)b)[1];
  if (c < CLASSES && n <= class_size[c]) {
    ((size_t *)(void *)b)[1] = n;
    return p;
  }
  void *q = xfer__tls_malloc(n);
  if (!q)
    return NULL;
  memcpy(q, p, old < n ? old : n);
  xfer__tls_free(p);
  return q;
}

void xfer__tls_trim(void) {
  pthread_mutex_lock(&lock);
  const struct xfer__tls_lib *lib = active;
  pthread_mutex_unlock(&lock);
  if (lib)
    lib->thread_cleanup();
  cache_drop(&cache);
}
