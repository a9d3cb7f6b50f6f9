/* Connections and the origin-keyed pool. A connection is reused only by a
 * transfer to the same origin key (scheme, host, port and, for https, every
 * TLS setting through its context), never across keys: curl's CVE history
 * shows that mistake is a security hole (CVE-2016-5420, CVE-2021-22924,
 * CVE-2022-27782). TLS sessions are kept per origin for the same reason. */
#ifndef XFER_RUNTIME_POOL_H
#define XFER_RUNTIME_POOL_H

#include <stdint.h>
#include <sys/socket.h>

#include "../backends/backend.h"
#include "../tls/tls.h"
#include "heap.h"
#include "queue.h"

struct xfer_multi;
struct xfer_easy;

/* Receive buffer of a new connection. 16 KiB is libcurl's default and the
 * XFER_MAX_WRITE_SIZE bound of one write callback; a response head bigger
 * than this grows it (up to the head limit), once per connection. */
#define XFER__CONN_RBUF 16384u

/* Receive completions a connection can hold between two turns before they
 * are copied into its own buffer: a multishot receive delivers one per
 * provided buffer, and 8 x 16 KiB covers what a socket usually holds. */
#define XFER__CONN_RXQ 8

struct xfer__rx_entry {
  int32_t res;
  unsigned flags; /* XFER__CF_*; XFER__RX_INBUF: the bytes are in rbuf already */
  void *buf;
};
#define XFER__RX_INBUF (1u << 8)

struct xfer__origin {
  char *host;
  uint16_t port;
  uint8_t https;
  uint32_t hash;
  /* https: the TLS context (it stands for every TLS setting of the key)
   * and the newest resumable session made under this key. */
  struct xfer__tls_ctx *tls;
  void *tls_session;
  unsigned nconns;         /* open: busy and idle */
  struct xfer__queue idle; /* idle connections, most recent first */
  struct xfer__queue link; /* pool's list of origins */
};

struct xfer__conn {
  uint64_t token; /* handle-table token; ops carry it */
  int fd;
  struct xfer__origin *origin;
  struct xfer_easy *owner; /* the transfer using it, NULL when idle */
  struct xfer__op rx;      /* RECV, or POLL_IN while idle */
  struct xfer__op tx;      /* CONNECT or SEND */
  struct iovec iov[2];     /* the request's plaintext being sent */
  int iovcnt;
  struct xfer__tls_conn tls;    /* tls.ssl is NULL on a plain connection */
  struct sockaddr_storage peer; /* the address it was opened to */
  /* Filled once when connected, copied into each transfer's infos: a reused
   * connection costs no getsockname() per request. */
  char peer_ip[46];
  uint16_t peer_port;
  uint16_t local_port;
  char *rbuf;
  size_t rcap;
  size_t rlen;            /* bytes in rbuf */
  size_t rpos;            /* bytes of rbuf already consumed */
  uint64_t idle_since;    /* monotonic us */
  uint64_t idle_turn;     /* the multi's turn counter when it went idle */
  unsigned completed : 1; /* queued on m->completed */
  unsigned tx_done : 1;   /* tx completion waiting to be processed */
  int32_t tx_res;
  /* Receive completions waiting for the next turn, in arrival order. A
   * multishot receive can complete several times per wait; each entry keeps
   * its backend buffer (XFER__CF_BUF) until it is parsed, in place. */
  struct xfer__rx_entry rxq[XFER__CONN_RXQ];
  unsigned rxq_len;
  struct xfer__queue idle_link; /* origin->idle */
  struct xfer__queue lru_link;  /* pool->lru, oldest idle first */
  struct xfer__queue done_link; /* m->completed */
  struct xfer__queue free_link; /* pool->free */
};

struct xfer__pool {
  struct xfer__queue origins;
  struct xfer__queue lru;  /* idle connections, oldest first */
  struct xfer__queue free; /* recycled connection objects */
  unsigned nconns;         /* open connections */
  unsigned nidle;
  long max_total; /* 0: unlimited */
  long max_host;
  long maxconnects; /* 0: auto */
  uint64_t max_idle_us;
  struct xfer__heap_node idle_timer;
};

/* Op kinds in the token: bits 24..31 of the index half, which the handle
 * table never uses (its indexes stay below 2^22). */
#define XFER__TOKEN_KIND_SHIFT 24
#define XFER__TOKEN_KIND_MASK  (0xffull << XFER__TOKEN_KIND_SHIFT)
enum { XFER__TOK_RX = 1, XFER__TOK_TX = 2, XFER__TOK_WAKEUP = 3, XFER__TOK_DNS = 4 };

void xfer__pool_init(struct xfer__pool *p);
/* Closes every connection and frees everything. */
void xfer__pool_destroy(struct xfer_multi *m);
struct xfer__origin *xfer__pool_origin(struct xfer_multi *m, const char *host, uint16_t port,
                                       int https, struct xfer__tls_ctx *tls);
/* An idle, live connection to origin, detached from the idle lists, or NULL. */
struct xfer__conn *xfer__pool_checkout(struct xfer_multi *m, struct xfer__origin *o);
/* Whether a new connection to o is allowed now; may close an idle connection
 * of another origin to make room under the total limit. */
int xfer__pool_can_open(struct xfer_multi *m, struct xfer__origin *o);
/* A connection object for a new socket (recycled when possible). */
int xfer__pool_new_conn(struct xfer_multi *m, struct xfer__origin *o, int fd,
                        struct xfer__conn **out);
/* Gives a finished transfer's connection back: idle when reusable, closed
 * otherwise. Either way a slot may free up for a pending transfer. */
void xfer__pool_release(struct xfer_multi *m, struct xfer__conn *c, int reusable);
void xfer__pool_close(struct xfer_multi *m, struct xfer__conn *c);
/* Closes idle connections past their age; re-arms the pool's timer. */
void xfer__pool_expire(struct xfer_multi *m, uint64_t now);
/* An idle connection's POLL_IN completed: the peer closed it or sent stray
 * bytes. Either way it is dead. */
void xfer__pool_idle_event(struct xfer_multi *m, struct xfer__conn *c);
struct xfer__conn *xfer__pool_lookup(struct xfer_multi *m, uint64_t token);
/* Queues a receive completion on c (copying into rbuf when the queue is
 * full); returns -ENOMEM when rbuf cannot grow for it. */
int xfer__conn_rx_push(struct xfer_multi *m, struct xfer__conn *c, int32_t res, void *buf,
                       unsigned flags);
/* Hands every queued backend buffer back and empties the queue. */
void xfer__conn_rx_drop(struct xfer_multi *m, struct xfer__conn *c);
/* Makes room for `need` more bytes after rlen; -ENOMEM on failure. */
int xfer__conn_reserve(struct xfer__conn *c, size_t need);
/* The same for the TLS ciphertext input (ibuf, after ilen). */
int xfer__conn_tls_reserve(struct xfer__conn *c, size_t need);

#endif
