/* The easy handle: one transfer's options, its cached request, and the state
 * of the transfer while it runs. Everything a request needs lives in here or
 * in its connection, so running one allocates nothing once warm. */
#ifndef XFER_RUNTIME_EASY_H
#define XFER_RUNTIME_EASY_H

#include <netinet/in.h>
#include <stdint.h>

#include "mpsc.h"
#include <sys/socket.h>

#include "xfer/xfer.h"
#include "dns.h"
#include "heap.h"
#include "http.h"
#include "queue.h"
#include "url.h"

#define XFER__EASY_MAGIC 0x78666541u /* "xfeA" */

struct xfer__options {
  char *url;
  xfer_write_callback write_cb;
  void *write_data;
  xfer_write_callback header_cb;
  void *header_data;
  xfer_read_callback read_cb;
  void *read_data;
  const char *postfields; /* not copied, as libcurl */
  char *copypostfields;   /* owned copy from XFEROPT_COPYPOSTFIELDS */
  int64_t postfieldsize;  /* -1: strlen(postfields) */
  int64_t infilesize;     /* -1: unknown */
  char *customrequest;
  char *useragent;
  struct xfer_slist *httpheader; /* not copied */
  struct xfer_slist *resolve;    /* not copied */
  long timeout_ms;
  long connecttimeout_ms;
  long maxredirs;
  void *private_data;
  char *errorbuffer;
  xfer_debug_callback debug_cb;
  void *debug_data;
  xfer_xferinfo_callback xferinfo_cb;
  void *xferinfo_data;
  size_t max_head;
  size_t max_line;
  unsigned max_headers;
  /* TLS: strings are owned copies, as libcurl copies them. */
  char *cainfo;
  char *capath;
  char *sslcert;
  char *sslkey;
  char *keypasswd;
  char *cipher_list;
  char *tls13_ciphers;
  char *pinnedpubkey;
  void *ca_blob; /* owned when ca_blob_owned (XFER_BLOB_COPY) */
  size_t ca_blob_len;
  uint16_t ssl_version_min; /* XFER__TLS_V1_2 or _V1_3 */
  uint16_t ssl_version_max; /* 0: the newest */
  unsigned ca_blob_owned : 1;
  unsigned ssl_verifypeer : 1;
  unsigned ssl_verifyhost : 1;
  unsigned ssl_sessions : 1;
  unsigned post : 1;
  unsigned nobody : 1;
  unsigned upload : 1;
  unsigned followlocation : 1;
  unsigned forbid_reuse : 1;
  unsigned fresh_connect : 1;
  unsigned tcp_nodelay : 1;
  unsigned verbose : 1;
  unsigned noprogress : 1;
};

enum xfer__state {
  XFER__ST_IDLE = 0,   /* not in a multi, or removed */
  XFER__ST_INIT,       /* added, waiting for its first run */
  XFER__ST_RESOLVING,  /* name lookup in a resolver thread */
  XFER__ST_PENDING,    /* waiting for a connection slot (limits) */
  XFER__ST_CONNECTING, /* TCP connect in flight */
  XFER__ST_TLS,        /* TLS handshake in flight (https) */
  XFER__ST_SENDING,    /* request head and body going out */
  XFER__ST_RECEIVING,  /* response head and body coming in */
  XFER__ST_DONE,       /* finished, message queued or read */
  XFER__ST_COUNT
};

struct xfer__conn;
struct xfer__dns_req;
struct xfer__tls_ctx;

/* What getinfo reports about the latest transfer. */
struct xfer__info {
  long response_code;
  long num_connects;
  long redirect_count;
  int64_t size_download;
  int64_t size_upload;
  int64_t content_length_download; /* -1 when unknown */
  long header_size;
  long request_size;
  char primary_ip[INET6_ADDRSTRLEN];
  long primary_port;
  long local_port;
  /* Microseconds from the start, as the _TIME_T infos. */
  int64_t t_namelookup, t_connect, t_appconnect, t_pretransfer, t_starttransfer, t_total;
  long ssl_verifyresult;
  int tls_backend; /* XFERSSLBACKEND_* of the connection, 0 when plain */
  unsigned tls_resumed : 1;
};

struct xfer__transfer {
  enum xfer__state state;
  xfer_code result;
  uint64_t t_start;             /* monotonic us */
  struct xfer__heap_node timer; /* nearest of the total and connect deadlines */
  struct xfer__conn *conn;
  struct xfer__dns_req *dns; /* in-flight lookup, while RESOLVING */
  struct xfer__tls_ctx *tls; /* the TLS context of an https origin, else NULL */
  struct xfer__url *url;     /* the URL being fetched: &easy->url or redirect_url */
  struct xfer__url redirect_url;
  struct sockaddr_storage addrs[XFER__DNS_MAX_ADDRS];
  unsigned naddrs;
  unsigned next_addr;
  /* Request being sent. */
  const char *req_head;
  size_t req_head_len;
  const char *req_body; /* in-memory body (POSTFIELDS) */
  int64_t req_body_len; /* -1 read callback with unknown size */
  int64_t body_sent;
  uint64_t req_sent; /* bytes of the request written so far */
  unsigned body_from_cb : 1;
  unsigned body_chunked : 1;
  unsigned body_eof : 1;
  unsigned method_head : 1;
  unsigned method_get_like : 1; /* a redirect turned it into a GET */
  unsigned idempotent : 1;
  unsigned retried : 1;
  unsigned reused_conn : 1;
  unsigned req_on_wire : 1; /* some ciphertext of the request was sent */
  unsigned want_fresh : 1;
  unsigned head_done : 1;
  unsigned deliver_body : 1; /* 0 for a 3xx that is being followed */
  unsigned progress_due : 1;
  /* Response parsing. */
  size_t head_scanned;
  size_t head_total; /* bytes of all heads (1xx included), capped */
  struct xfer__http_head head;
  struct xfer__http_body body;
  uint64_t resp_bytes; /* any response byte seen: no silent retry after it */
  /* Links. */
  struct xfer__queue ready_link;   /* m->ready: runs at the next turn */
  struct xfer__queue pending_link; /* m->pending: waits for a connection */
};

struct xfer_easy {
  uint32_t magic;
  struct xfer_multi *multi;
  struct xfer__options opt;
  /* Cached from the options; rebuilt when an option that feeds it changes. */
  struct xfer__url url;
  unsigned url_ok : 1;
  unsigned req_dirty : 1;
  unsigned tls_dirty : 1; /* a TLS option changed: rebuild tls_key */
  /* The pool key of the TLS options (tls/tls.h), built when first needed. */
  char *tls_key;
  uint32_t tls_hash;
  /* The context the key selected last time, and in which multi (its id). */
  struct xfer__tls_ctx *tls_last;
  uint64_t tls_last_multi;
  /* The pool origin of the handle's own URL last time, in which multi (its
   * id; a multi frees its origins only when it goes) and for which TLS
   * context: a keep-alive request finds its origin without hashing the host
   * or walking the origin list. Cleared when the URL changes. */
  /* XFEROPT_RESOLVE is loaded into the DNS cache of a multi once per
   * setopt, as libcurl loads its host pairs, not parsed at every request:
   * loaded already in the multi of this id unless resolve_dirty. */
  uint64_t resolve_multi;
  unsigned resolve_dirty : 1;
  struct xfer__origin *origin_last;
  uint64_t origin_last_multi;
  struct xfer__tls_ctx *origin_last_tls;
  unsigned in_perform : 1;
  /* xfer_easy_perform's private multi, kept with its pool, DNS cache and
   * TLS sessions until xfer_easy_cleanup (or until the handle joins another
   * multi), so that a loop of performs reuses one connection, as libcurl's
   * does. */
  struct xfer_multi *own_multi;
  /* xfer_multi_post(): the link in the multi's queue, and whether the
   * handle is on its way (set by the posting thread, cleared by the owner
   * when it takes the handle up). */
  struct xfer__mpsc_node post_node;
  _Atomic uint8_t posted;
  xfer_code url_err;
  const char *url_errmsg;
  char *req_buf;
  size_t req_cap;
  size_t req_len;
  /* The head of a redirected request, kept apart from the cached one. */
  char *redir_buf;
  size_t redir_cap;
  struct xfer__transfer x;
  struct xfer__info info;
  struct xfer_tlssessioninfo tls_info; /* what XFERINFO_TLS_SSL_PTR points to */
  xfer_msg msg;
  unsigned msg_queued : 1;
  /* Scratch for the chunk-framed body of a read callback upload. */
  char *upload_buf;
  size_t upload_cap;
  size_t upload_len;
  size_t upload_off;
  struct xfer__queue multi_link; /* m->easies */
  struct xfer__queue msg_link;   /* m->msgs */
};

/* Sets the defaults of a new or reset handle. */
void xfer__options_init(struct xfer__options *o);
void xfer__options_free(struct xfer__options *o);
/* Deep-copies what libcurl copies (strings), shares the rest. */
int xfer__options_copy(struct xfer__options *dst, const struct xfer__options *src);

/* Closes the private multi of xfer_easy_perform, if the handle has one. */
void xfer__easy_drop_own_multi(struct xfer_easy *e);
/* Writes a sentence into the handle's error buffer, if it has one. */
void xfer__easy_error(struct xfer_easy *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes sure the URL is parsed and the request head serialised. Returns 0
 * or a negative xfer_code, with the error buffer filled. */
int xfer__easy_prepare(struct xfer_easy *e);
/* VERBOSE output: to the DEBUGFUNCTION, else stderr as libcurl prints it. */
void xfer__easy_debug(struct xfer_easy *e, xfer_infotype type, const char *data, size_t len);
void xfer__easy_verbose(struct xfer_easy *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int xfer__easy_valid(const struct xfer_easy *e) {
  return e && e->magic == XFER__EASY_MAGIC;
}

#endif
