/* The connection pool: origins, idle connections, limits, the idle timeout
 * and the liveness rules. See docs/internals/pool.md. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "multi.h"
#include "transfer.h"

/* libcurl's CURLOPT_MAXAGE_CONN default: an idle connection older than
 * 118 s is not reused (servers commonly time out idle ones at 120 s). */
#define DEFAULT_MAX_IDLE_US (118ull * 1000000u)
/* How long the backend's last look at an idle connection is trusted. A
 * millisecond is many loop turns under load and far below any server's
 * keep-alive timeout; the safe retry rule covers the race that remains. */
#define LIVENESS_TRUST_US   1000u

void xfer__pool_init(struct xfer__pool *p) {
  memset(p, 0, sizeof *p);
  xfer__queue_init(&p->origins);
  xfer__queue_init(&p->lru);
  xfer__queue_init(&p->free);
  p->max_idle_us = DEFAULT_MAX_IDLE_US;
  xfer__heap_node_init(&p->idle_timer);
}

static uint32_t hash_origin(const char *host, uint16_t port, int https,
                            const struct xfer__tls_ctx *tls) {
  uint32_t h = 2166136261u; /* FNV-1a: short keys, no need for more */
  for (const char *s = host; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  h = (h ^ port) * 16777619u;
  h = (h ^ (uint32_t)https) * 16777619u;
  return (h ^ (tls ? tls->hash : 0)) * 16777619u;
}

/* Origins are few (one per scheme, host and port a multi talks to) and
 * looked up once per request: a list with the last hit moved to the front
 * keeps the common single-origin case at one comparison. */
struct xfer__origin *xfer__pool_origin(struct xfer_multi *m, const char *host, uint16_t port,
                                       int https, struct xfer__tls_ctx *tls) {
  struct xfer__pool *p = &m->pool;
  uint32_t h = hash_origin(host, port, https, tls);
  struct xfer__queue *q;
  xfer__queue_foreach(q, &p->origins) {
    struct xfer__origin *o = xfer__container_of(q, struct xfer__origin, link);
    /* One context per distinct TLS key in a multi: comparing the pointer
     * compares every TLS setting. */
    if (o->hash == h && o->port == port && o->https == https && o->tls == tls &&
        strcmp(o->host, host) == 0) {
      if (q != xfer__queue_head(&p->origins)) {
        xfer__queue_remove(q);
        xfer__queue_insert_head(&p->origins, q);
      }
      return o;
    }
  }
  struct xfer__origin *o = xfer__calloc(1, sizeof *o);
  if (!o)
    return NULL;
  o->host = xfer__strdup(host);
  if (!o->host) {
    xfer__free(o);
    return NULL;
  }
  o->port = port;
  o->https = (uint8_t)https;
  o->tls = tls;
  o->hash = h;
  xfer__queue_init(&o->idle);
  xfer__queue_insert_head(&p->origins, &o->link);
  return o;
}

struct xfer__conn *xfer__pool_lookup(struct xfer_multi *m, uint64_t token) {
  return xfer__handles_get(&m->conns, token & ~XFER__TOKEN_KIND_MASK);
}

static void unlink_idle(struct xfer__pool *p, struct xfer__conn *c) {
  if (!xfer__queue_empty(&c->idle_link)) {
    xfer__queue_remove(&c->idle_link);
    xfer__queue_remove(&c->lru_link);
    p->nidle--;
  }
}

/* Makes room for need more bytes after *len in a buffer whose bytes before
 * *pos are consumed: compacts first, then doubles (from `initial` when the
 * buffer is not there yet). */
static int reserve(char **buf, size_t *cap, size_t *len, size_t *pos, size_t need, size_t initial) {
  if (*cap - *len >= need)
    return 0;
  if (*pos) {
    memmove(*buf, *buf + *pos, *len - *pos);
    *len -= *pos;
    *pos = 0;
    if (*cap - *len >= need)
      return 0;
  }
  size_t ncap = *cap ? *cap : initial;
  while (ncap - *len < need)
    ncap *= 2;
  char *nb = xfer__realloc(*buf, ncap);
  if (!nb)
    return -ENOMEM;
  *buf = nb;
  *cap = ncap;
  return 0;
}

int xfer__conn_reserve(struct xfer__conn *c, size_t need) {
  return reserve(&c->rbuf, &c->rcap, &c->rlen, &c->rpos, need, XFER__CONN_RBUF);
}

int xfer__conn_tls_reserve(struct xfer__conn *c, size_t need) {
  struct xfer__tls_conn *t = &c->tls;
  return reserve(&t->ibuf, &t->icap, &t->ilen, &t->ipos, need, XFER__CONN_RBUF);
}

/* Copies a backend buffer's bytes into the connection's own input (rbuf,
 * or ibuf for TLS ciphertext) and hands the buffer back. */
static int absorb(struct xfer_multi *m, struct xfer__conn *c, struct xfer__rx_entry *en) {
  int rc = 0;
  if (en->res > 0 && c->tls.ssl) {
    rc = xfer__conn_tls_reserve(c, (size_t)en->res);
    if (rc == 0) {
      memcpy(c->tls.ibuf + c->tls.ilen, en->buf, (size_t)en->res);
      c->tls.ilen += (size_t)en->res;
    }
  } else if (en->res > 0) {
    rc = xfer__conn_reserve(c, (size_t)en->res);
    if (rc == 0) {
      memcpy(c->rbuf + c->rlen, en->buf, (size_t)en->res);
      c->rlen += (size_t)en->res;
    }
  }
  m->be->vt->release_buf(m->be, en->buf);
  en->buf = NULL;
  en->flags = (en->flags & ~(unsigned)XFER__CF_BUF) | XFER__RX_INBUF;
  return rc;
}

int xfer__conn_rx_push(struct xfer_multi *m, struct xfer__conn *c, int32_t res, void *buf,
                       unsigned flags) {
  struct xfer__rx_entry en = {res, flags, buf};
  if (c->rxq_len == XFER__CONN_RXQ) {
    /* Full: fold everything queued into rbuf, in arrival order, as one
     * entry, so the new one still fits behind it. The peer is sending
     * faster than turns come; copying is the price. */
    int32_t total = 0;
    int rc = 0;
    for (unsigned i = 0; i < c->rxq_len; i++) {
      struct xfer__rx_entry *q = &c->rxq[i];
      if ((q->flags & XFER__CF_BUF) && absorb(m, c, q) < 0)
        rc = -ENOMEM;
      total += q->res > 0 ? q->res : 0;
    }
    c->rxq[0] = (struct xfer__rx_entry){total, XFER__RX_INBUF, NULL};
    c->rxq_len = 1;
    if (rc < 0) {
      if (flags & XFER__CF_BUF)
        m->be->vt->release_buf(m->be, buf);
      return rc;
    }
  }
  c->rxq[c->rxq_len++] = en;
  return 0;
}

void xfer__conn_rx_drop(struct xfer_multi *m, struct xfer__conn *c) {
  for (unsigned i = 0; i < c->rxq_len; i++)
    if (c->rxq[i].flags & XFER__CF_BUF)
      m->be->vt->release_buf(m->be, c->rxq[i].buf);
  c->rxq_len = 0;
}

void xfer__pool_close(struct xfer_multi *m, struct xfer__conn *c) {
  struct xfer__pool *p = &m->pool;
  xfer__conn_tls_close(m, c);
  xfer__conn_rx_drop(m, c);
  unlink_idle(p, c);
  xfer__queue_remove(&c->done_link);
  xfer__multi_close_fd(m, c->fd);
  xfer__handles_remove(&m->conns, c->token);
  c->fd = -1;
  c->token = 0;
  c->owner = NULL;
  c->origin->nconns--;
  p->nconns--;
  /* The object and its receive buffer are kept for the next connection:
   * opening one should not cost an allocation either. */
  xfer__queue_insert_head(&p->free, &c->free_link);
}

/* The peer may have closed an idle connection or sent it stray bytes since
 * it went idle. A non-blocking peek tells: EAGAIN means alive and quiet. */
static int seems_alive(int fd) {
  char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct xfer__conn *xfer__pool_checkout(struct xfer_multi *m, struct xfer__origin *o) {
  struct xfer__pool *p = &m->pool;
  while (!xfer__queue_empty(&o->idle)) {
    struct xfer__conn *c =
        xfer__container_of(xfer__queue_head(&o->idle), struct xfer__conn, idle_link);
    unlink_idle(p, c);
    /* Withdraw a POLL_IN idle watch (with readiness backends this only
     * clears a flag; the fd stays registered for reading). A multishot
     * receive that watched the idle connection stays armed for the next
     * request. */
    if (c->rx.armed && c->rx.kind == XFER__OP_POLL_IN)
      xfer__multi_cancel(m, &c->rx);
    else if (c->rx.armed)
      xfer__multi_retag(m, &c->rx, 0); /* the transfer's socket again for fdset */
    int dead = c->rxq_len > 0;         /* anything that arrived while idle */
    /* The idle watch (POLL_IN) reports a FIN or stray bytes at every
     * backend wait. If the connection went idle in this turn, or the
     * backend looked less than a millisecond ago, nothing can have been
     * missed but a race the retry rule covers: skip the peek syscall, which
     * the remove-and-re-add pattern of load generators would otherwise pay
     * on every request. After a longer gap (an application that slept
     * between performs), peek. */
    int fresh = c->idle_turn == m->turn || m->now - m->last_wait < LIVENESS_TRUST_US;
    if (!dead && !fresh && !seems_alive(c->fd))
      dead = 1;
    if (dead || m->now - c->idle_since > p->max_idle_us) {
      xfer__pool_close(m, c);
      continue;
    }
    return c;
  }
  return NULL;
}

static void close_oldest_idle(struct xfer_multi *m) {
  struct xfer__conn *c =
      xfer__container_of(xfer__queue_head(&m->pool.lru), struct xfer__conn, lru_link);
  xfer__pool_close(m, c);
}

int xfer__pool_can_open(struct xfer_multi *m, struct xfer__origin *o) {
  struct xfer__pool *p = &m->pool;
  if (p->max_host > 0 && o->nconns >= (unsigned long)p->max_host) {
    /* Idle connections of this origin would have been checked out first,
     * so every one of them is busy. */
    return 0;
  }
  if (p->max_total > 0 && p->nconns >= (unsigned long)p->max_total) {
    if (p->nidle == 0)
      return 0;
    close_oldest_idle(m); /* an idle connection elsewhere makes room */
  }
  return 1;
}

int xfer__pool_new_conn(struct xfer_multi *m, struct xfer__origin *o, int fd,
                        struct xfer__conn **out) {
  struct xfer__pool *p = &m->pool;
  struct xfer__conn *c;
  if (!xfer__queue_empty(&p->free)) {
    c = xfer__container_of(xfer__queue_head(&p->free), struct xfer__conn, free_link);
    xfer__queue_remove(&c->free_link);
  } else {
    c = xfer__calloc(1, sizeof *c);
    if (!c)
      return -ENOMEM;
    c->rcap = XFER__CONN_RBUF;
    c->rbuf = xfer__malloc(c->rcap);
    if (!c->rbuf) {
      xfer__free(c);
      return -ENOMEM;
    }
    xfer__queue_init(&c->free_link);
  }
  uint64_t token;
  if (xfer__handles_add(&m->conns, c, &token) < 0) {
    xfer__queue_insert_head(&p->free, &c->free_link);
    return -ENOMEM;
  }
  c->token = token;
  c->fd = fd;
  c->origin = o;
  c->owner = NULL;
  c->rlen = c->rpos = 0;
  xfer__conn_tls_reset(c);
  c->rxq_len = 0;
  c->tx_done = 0;
  memset(&c->rx, 0, sizeof c->rx);
  memset(&c->tx, 0, sizeof c->tx);
  c->rx.fd = c->tx.fd = fd;
  c->rx.token = token | ((uint64_t)XFER__TOK_RX << XFER__TOKEN_KIND_SHIFT);
  c->tx.token = token | ((uint64_t)XFER__TOK_TX << XFER__TOKEN_KIND_SHIFT);
  xfer__queue_init(&c->idle_link);
  xfer__queue_init(&c->lru_link);
  xfer__queue_init(&c->done_link);
  o->nconns++;
  p->nconns++;
  *out = c;
  return 0;
}

/* The automatic pool size when MAXCONNECTS is 0: sized from the number of
 * added transfers, never from the instantaneous running count, whose dips
 * evict warm connections (libcurl's own rule: 4 x the added easy handles,
 * its curl_multi_setopt(3) CURLMOPT_MAXCONNECTS default). */
static unsigned long max_pooled(const struct xfer_multi *m) {
  if (m->pool.maxconnects > 0)
    return (unsigned long)m->pool.maxconnects;
  unsigned long n = 4ul * m->nadded;
  return n < 16 ? 16 : n;
}

static void arm_idle_timer(struct xfer_multi *m) {
  struct xfer__pool *p = &m->pool;
  /* No idle connection: a timer still armed stays, fires once, finds none
   * and is not re-armed (xfer__pool_expire). Removing it here cost a heap
   * operation every time all connections were busy at once, which under
   * load is every turn. */
  if (xfer__queue_empty(&p->lru))
    return;
  struct xfer__conn *oldest =
      xfer__container_of(xfer__queue_head(&p->lru), struct xfer__conn, lru_link);
  uint64_t when = oldest->idle_since + p->max_idle_us;
  /* A timer already due no later than this may stay: if it fires early it
   * closes nothing and re-arms. Re-keying it on every release (the oldest
   * idle connection changes with each request) was a heap sift per
   * request. */
  if (xfer__heap_node_active(&p->idle_timer) && p->idle_timer.when <= when)
    return;
  (void)xfer__heap_set(&m->timers, &p->idle_timer, when); /* on failure: checked at checkout */
}

void xfer__pool_release(struct xfer_multi *m, struct xfer__conn *c, int reusable) {
  struct xfer__pool *p = &m->pool;
  c->owner = NULL;
  /* The caller promotes a pending transfer afterwards, whichever way this
   * goes. A multishot receive still armed is fine: it becomes the idle
   * watch. Anything else in flight, or a send completion not taken yet (an
   * answer read before its failed send: transfer.c), means the exchange
   * is not over. */
  int rx_busy = c->rx.armed && !(c->rx.flags & XFER__OPF_MULTISHOT);
  if (!reusable || rx_busy || c->tx.armed || c->tx_done || c->rxq_len || xfer__conn_tls_busy(c)) {
    xfer__pool_close(m, c);
    return;
  }
  c->rlen = c->rpos = 0;
  c->idle_since = m->now;
  c->idle_turn = m->turn;
  xfer__queue_insert_head(&c->origin->idle, &c->idle_link);
  xfer__queue_insert_tail(&p->lru, &c->lru_link);
  p->nidle++;
  /* Watch the idle connection for a FIN or stray bytes; with epoll this
   * costs nothing, the fd is already registered for reading. A live
   * multishot receive already is such a watch. */
  if (!c->rx.armed) {
    c->rx.kind = XFER__OP_POLL_IN;
    c->rx.flags = XFER__OPF_INTERNAL;
    xfer__multi_submit(m, &c->rx);
  } else {
    xfer__multi_retag(m, &c->rx, 1); /* idle: not a transfer's fd in fdset */
  }
  while (p->nconns > max_pooled(m) && p->nidle > 0)
    close_oldest_idle(m);
  arm_idle_timer(m);
}

void xfer__pool_expire(struct xfer_multi *m, uint64_t now) {
  struct xfer__pool *p = &m->pool;
  while (!xfer__queue_empty(&p->lru)) {
    struct xfer__conn *c =
        xfer__container_of(xfer__queue_head(&p->lru), struct xfer__conn, lru_link);
    if (now - c->idle_since < p->max_idle_us)
      break;
    xfer__pool_close(m, c);
  }
  arm_idle_timer(m);
  xfer__transfer_promote(m);
}

void xfer__pool_idle_event(struct xfer_multi *m, struct xfer__conn *c) {
  c->tx_done = 0;
  xfer__pool_close(m, c);
  arm_idle_timer(m);
  xfer__transfer_promote(m);
}

void xfer__pool_destroy(struct xfer_multi *m) {
  struct xfer__pool *p = &m->pool;
  /* Idle connections; busy ones were closed with their transfers. */
  while (!xfer__queue_empty(&p->lru))
    close_oldest_idle(m);
  while (!xfer__queue_empty(&p->free)) {
    struct xfer__conn *c =
        xfer__container_of(xfer__queue_head(&p->free), struct xfer__conn, free_link);
    xfer__queue_remove(&c->free_link);
    xfer__free(c->rbuf);
    xfer__free(c->tls.ibuf);
    xfer__free(c->tls.obuf);
    xfer__free(c);
  }
  while (!xfer__queue_empty(&p->origins)) {
    struct xfer__origin *o =
        xfer__container_of(xfer__queue_head(&p->origins), struct xfer__origin, link);
    xfer__queue_remove(&o->link);
    if (o->tls_session)
      o->tls->vt->session_free(o->tls_session);
    xfer__free(o->host);
    xfer__free(o);
  }
  xfer__heap_remove(&m->timers, &p->idle_timer);
}
