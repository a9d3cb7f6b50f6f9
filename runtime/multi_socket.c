/* The event-driven interface: xfer_multi_socket_action, xfer_multi_assign and
 * the socket and timer callbacks, with libcurl's contract
 * (docs/internals/event-api.md).
 *
 * The runtime tells a host loop which fds to watch by watching its own op
 * submissions: every op that is submitted, completed, cancelled or retagged
 * marks its fd dirty, and at the end of each API call one flush compares each
 * dirty fd's interest (an armed read-side op: IN; an armed write-side op:
 * OUT) with what the host was last told, and calls the socket callback only
 * where the two differ. A keep-alive connection keeps a receive (or its idle
 * watch) armed across requests and its sends complete inside the call that
 * made them, so a warm request changes nothing and costs no callback.
 *
 * Idle pooled connections are the exception that libcurl programs lean on:
 * a loop such as libevent's ends when nothing is registered. So once no
 * transfer runs, a connection that stays idle for a whole call is removed
 * from the host (XFER_POLL_REMOVE, the fd stays open) and announced again
 * when a transfer takes it. While transfers run, idle connections stay
 * announced. The grace lasts two of the timer's calls (the timer asks for
 * them at once, 0 ms, so the grace always ends): a program reads its
 * messages and adds the next transfers between its socket events and its
 * timer, so a transfer added right after the last one finished takes the
 * connection without a REMOVE and an IN in between, even when one
 * socket_action of an event batch (io_uring reaps every socket at once)
 * finished them all. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "multi.h"
#include "transfer.h"

/* Deadlines as the timer callback was last told them: monotonic us, with
 * two values no real deadline takes. A new multi starts at NONE, so that
 * "no timer" is not announced before anything was, as libcurl's initial
 * last_timeout of -1 does. */
#define TIMER_NONE UINT64_MAX
#define TIMER_NOW  0

/* Timer calls an idle fd's grace lasts. One is not enough: a host's timer
 * that was armed before the grace began can fire in the very batch of
 * events whose first socket_action finished every transfer (io_uring
 * reaps all sockets in one call), before the program has read its
 * messages and added the next transfers. The second call is one the grace
 * itself asked for, at 0 ms. */
#define GRACE_TIMER_CALLS 2

static int event_mode(const struct xfer_multi *m) { return m->socket_cb != NULL; }

/* Whether fds are tracked one by one: for the host in per-socket mode, for
 * the multi's own epoll set in single-fd mode over io_uring. */
static int tracking(const struct xfer_multi *m) {
  return event_mode(m) && (!m->single_fd || m->sock_epfd >= 0);
}

/* The fd the host watches in single-fd mode. */
static int the_single_fd(struct xfer_multi *m) {
  return m->sock_epfd >= 0 ? m->sock_epfd : m->be->vt->single_fd(m->be);
}

/* The connection an op belongs to, or NULL for the resolver's op. */
static struct xfer__conn *op_conn(struct xfer_multi *m, struct xfer__op *op) {
  unsigned kind = (unsigned)((op->token & XFER__TOKEN_KIND_MASK) >> XFER__TOKEN_KIND_SHIFT);
  if (op == &m->dns.op)
    return NULL;
  if (kind == XFER__TOK_RX)
    return xfer__container_of(op, struct xfer__conn, rx);
  if (kind == XFER__TOK_TX)
    return xfer__container_of(op, struct xfer__conn, tx);
  return NULL;
}

static int grow(struct xfer_multi *m, int fd) {
  int n = m->nsocks ? m->nsocks : 64;
  while (n <= fd)
    n *= 2;
  struct xfer__sock *s = xfer__realloc(m->socks, (size_t)n * sizeof *s);
  if (!s)
    return -ENOMEM;
  memset(s + m->nsocks, 0, (size_t)(n - m->nsocks) * sizeof *s);
  m->socks = s;
  int *d = xfer__realloc(m->sock_dirty, (size_t)n * sizeof *d);
  if (!d)
    return -ENOMEM; /* socks grew and is kept; the next grow retries this */
  m->sock_dirty = d;
  m->nsocks = n;
  return 0;
}

static void mark(struct xfer_multi *m, int fd) {
  struct xfer__sock *s = &m->socks[fd];
  if (!s->dirty) {
    s->dirty = 1;
    m->sock_dirty[m->nsock_dirty++] = fd;
  }
}

void xfer__socks_note_slow(struct xfer_multi *m, struct xfer__op *op) {
  if (!tracking(m) || op->fd < 0)
    return;
  if (op->fd >= m->nsocks && grow(m, op->fd) < 0) {
    /* Not watched, so the transfer would hang: the flush fails it. */
    m->socks_lost = 1;
    return;
  }
  struct xfer__sock *s = &m->socks[op->fd];
  if (op->kind == XFER__OP_RECV || op->kind == XFER__OP_POLL_IN)
    s->rd = op;
  else
    s->wr = op;
  mark(m, op->fd);
}

static void call_socket_cb(struct xfer_multi *m, struct xfer_easy *e, int fd, int what, void *sockp,
                           int *failed) {
  m->in_callback++;
  int rc = m->socket_cb(e, fd, what, m->socket_data, sockp);
  m->in_callback--;
  *failed = rc != 0;
}

/* Tells whoever watches fd one by one: the host's socket callback, or in
 * single-fd mode the multi's own epoll set, which the host watches whole. */
static void tell(struct xfer_multi *m, struct xfer_easy *e, int fd, unsigned want, void *sockp,
                 int *failed) {
  if (!m->single_fd) {
    call_socket_cb(m, e, fd, want ? (int)want : XFER_POLL_REMOVE, sockp, failed);
    return;
  }
  struct epoll_event ev;
  ev.events = (want & XFER_POLL_IN ? EPOLLIN : 0u) | (want & XFER_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  int op = want == 0 ? EPOLL_CTL_DEL : m->socks[fd].told ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  *failed = epoll_ctl(m->sock_epfd, op, fd, &ev) != 0 && want != 0;
  m->socks[fd].told = want != 0;
}

void xfer__socks_forget(struct xfer_multi *m, int fd) {
  if (!tracking(m) || fd < 0 || fd >= m->nsocks)
    return;
  struct xfer__sock *s = &m->socks[fd];
  if (s->announced) {
    int failed;
    /* Before the close, so that the host can still unregister the fd; a
     * refusal changes nothing, the fd goes either way. */
    tell(m, NULL, fd, 0, s->sockp, &failed);
  }
  if (s->grace)
    m->ngrace--;
  s->rd = s->wr = NULL;
  s->sockp = NULL;
  s->announced = 0;
  s->grace = 0;
}

/* A host that refused to watch fd: the transfers waiting on it fail, since
 * nothing would ever tell the multi that their socket is ready. */
static void refused(struct xfer_multi *m, int fd, struct xfer__op *op, struct xfer__conn *c) {
  m->cb_failed = 1;
  if (op == &m->wakeup_op) {
    /* No transfer needs it: the host just will not hear of wakeups. */
    m->wakeup_refused = 1;
  } else if (c && c->owner) {
    xfer__transfer_fail(m, c->owner, XFERE_ABORTED_BY_CALLBACK,
                        "The socket callback refused to watch socket %d", fd);
  } else if (c) {
    xfer__pool_close(m, c);
  } else {
    struct xfer__queue *q;
    xfer__queue_foreach(q, &m->easies) {
      struct xfer_easy *e = xfer__container_of(q, struct xfer_easy, multi_link);
      if (e->x.state == XFER__ST_RESOLVING)
        xfer__transfer_fail(m, e, XFERE_ABORTED_BY_CALLBACK,
                            "The socket callback refused to watch the resolver's fd %d", fd);
    }
  }
}

/* Tells the host what fd needs now. Returns 1 when fd must be looked at
 * again at the next flush (an idle connection in its call of grace). */
static int announce(struct xfer_multi *m, int fd, int expire) {
  struct xfer__sock *s = &m->socks[fd];
  struct xfer__op *rd = s->rd && s->rd->armed && s->rd->fd == fd ? s->rd : NULL;
  struct xfer__op *wr = s->wr && s->wr->armed && s->wr->fd == fd ? s->wr : NULL;
  struct xfer__op *any = rd ? rd : wr;
  struct xfer__conn *c = any ? op_conn(m, any) : NULL;
  unsigned want = (rd ? XFER_POLL_IN : 0u) | (wr ? XFER_POLL_OUT : 0u);
  /* An idle connection stays announced while any transfer runs: a load
   * client's next request takes one at once, and an event on it (the peer
   * closed it) is worth seeing. */
  int idle = rd && !wr && (rd->flags & XFER__OPF_INTERNAL) && m->nrunning == 0;

  if (rd == &m->dns.op || rd == &m->wakeup_op) {
    /* The resolver's fd matters only while some transfer may wait on it;
     * the wakeup's too (libcurl 8 announces its own that way), unless the
     * program asked for it at all times (XFERMOPT_ANNOUNCE_WAKEUP). With
     * nothing running they are idle, with the same call of grace. */
    idle = m->nrunning == 0 && !(rd == &m->wakeup_op && m->announce_wakeup);
    if (rd == &m->wakeup_op && m->wakeup_refused)
      want = 0;
  }
  if (idle) {
    if (!s->announced) {
      want = 0;
    } else if (!s->grace) {
      s->grace = 1;
      m->ngrace++;
      return 1;
    } else if (!expire || s->grace++ < GRACE_TIMER_CALLS) {
      return 1; /* still in grace: only the timer's calls end it */
    } else {
      want = 0; /* idle through the timer's calls: the host may forget it */
    }
  }
  if (s->grace && (!idle || want == 0)) {
    s->grace = 0;
    m->ngrace--;
  }
  if (want == s->announced)
    return 0;
  /* Recorded before the call, so that xfer_multi_assign() inside it knows
   * the socket, as libcurl's does. */
  uint8_t was = s->announced;
  if (want)
    s->announced = (uint8_t)want;
  int failed;
  tell(m, c ? c->owner : NULL, fd, want, s->sockp, &failed);
  if (!want) {
    /* Only now: assign(s, NULL) inside the REMOVE must still find s. */
    s->announced = 0;
    s->sockp = NULL; /* libcurl forgets the assignment with the REMOVE */
  } else if (failed) {
    s->announced = was;
    refused(m, fd, any, c);
  }
  return 0;
}

static void lost(struct xfer_multi *m) {
  m->socks_lost = 0;
  /* Under XFERMOPT_SINGLE_FD without a set of the multi's own, no
   * transfer's fd is tracked one by one: a note that failed before the
   * mode was switched on (the wakeup fd's, when the socket callback was
   * set first) concerns none of the transfers, which must not fail. */
  if (!tracking(m))
    return;
  struct xfer__queue *q, *next;
  for (q = m->easies.next; q != &m->easies; q = next) {
    next = q->next;
    struct xfer_easy *e = xfer__container_of(q, struct xfer_easy, multi_link);
    struct xfer__conn *c = e->x.conn;
    if (c && c->fd >= m->nsocks)
      xfer__transfer_fail(m, e, XFERE_OUT_OF_MEMORY,
                          "Out of memory tracking socket %d for the event loop", c->fd);
  }
}

/* One fd for everything: wanted while a transfer runs, with the same call
 * of grace as an idle connection once none does. */
static void announce_single(struct xfer_multi *m, int expire) {
  int fd = the_single_fd(m);
  unsigned want = m->nrunning > 0 || m->announce_wakeup ? XFER_POLL_IN : 0u;
  if (!want && m->single_announced) {
    if (!m->single_grace) {
      m->single_grace = 1;
      m->ngrace++;
      return;
    }
    if (!expire || m->single_grace++ < GRACE_TIMER_CALLS)
      return;
  }
  if (m->single_grace) {
    m->single_grace = 0;
    m->ngrace--;
  }
  if (want == m->single_announced)
    return;
  uint8_t was = m->single_announced;
  if (want)
    m->single_announced = (uint8_t)want;
  int failed;
  call_socket_cb(m, NULL, fd, want ? (int)want : XFER_POLL_REMOVE, m->single_sockp, &failed);
  if (!want) {
    m->single_announced = 0;
    m->single_sockp = NULL;
  } else if (failed) {
    m->single_announced = was;
    m->cb_failed = 1;
    xfer__multi_fail_all(m, "The socket callback refused to watch the multi's fd %d", fd);
  }
}

void xfer__socks_flush(struct xfer_multi *m, int expire) {
  if (!event_mode(m))
    return;
  if (m->socks_lost)
    lost(m);
  if (m->single_fd) {
    announce_single(m, expire);
    if (!tracking(m))
      return;
  }
  /* The resolver's fd is re-judged at every flush: its interest follows the
   * number of running transfers, which no op event announces. */
  if (m->dns.shared && m->dns.op.fd >= 0 && m->dns.op.fd < m->nsocks)
    mark(m, m->dns.op.fd);
  if (m->wakeup_fd < m->nsocks)
    mark(m, m->wakeup_fd);
  /* The last transfer ended: the idle connections, which no op event
   * marks, start their call of grace now. */
  if (m->nrunning == 0 && m->socks_had_running) {
    struct xfer__queue *q;
    xfer__queue_foreach(q, &m->pool.lru) {
      struct xfer__conn *c = xfer__container_of(q, struct xfer__conn, lru_link);
      if (c->fd >= 0 && c->fd < m->nsocks)
        mark(m, c->fd);
    }
  }
  m->socks_had_running = m->nrunning > 0;
  /* Callbacks may close connections (a refusal fails a transfer), which
   * appends to the list behind us; kept fds are compacted to the front. */
  int kept = 0;
  for (int i = 0; i < m->nsock_dirty; i++) {
    int fd = m->sock_dirty[i];
    m->socks[fd].dirty = 0;
    if (announce(m, fd, expire))
      m->sock_dirty[kept++] = fd;
  }
  m->nsock_dirty = kept;
  for (int i = 0; i < kept; i++)
    m->socks[m->sock_dirty[i]].dirty = 1;
}

/* ---- the timer ---------------------------------------------------------- */

static uint64_t deadline(struct xfer_multi *m) {
  if (!xfer__queue_empty(&m->ready) || !xfer__queue_empty(&m->completed) || m->dns_ready ||
      m->ngrace > 0)
    return TIMER_NOW;
  struct xfer__heap_node *t = xfer__heap_min(&m->timers);
  /* With nothing running, the pool's expiry of idle connections is not
   * worth keeping a host loop alive for (libcurl keeps no such timer): it
   * runs at the next call that runs anything, and a connection too old by
   * then is closed before it is used. */
  if (!t || (t == &m->pool.idle_timer && m->nrunning == 0))
    return TIMER_NONE;
  /* A monotonic clock read at 0 us would pass for NOW; both mean "due". */
  return t->when;
}

int xfer__timer_update(struct xfer_multi *m, int force) {
  if (!m->timer_cb)
    return 0;
  uint64_t when = deadline(m);
  if (!force && !m->timer_stale && when == m->timer_when)
    return 0;
  long ms;
  if (when == TIMER_NONE) {
    ms = -1;
  } else {
    uint64_t now = xfer__now_us();
    uint64_t us = when > now ? when - now : 0;
    uint64_t r = (us + 999u) / 1000u; /* rounded up: never fire early */
    ms = r > INT32_MAX ? INT32_MAX : (long)r;
  }
  m->timer_when = when;
  m->timer_stale = 0;
  m->in_callback++;
  int rc = m->timer_cb(m, ms, m->timer_data);
  m->in_callback--;
  if (rc != 0) {
    /* The host has no timer now: the next announcement must be made even
     * if the deadline is the same. */
    m->timer_stale = 1;
    return -1;
  }
  return 0;
}

void xfer__multi_fail_all(struct xfer_multi *m, const char *why, ...) {
  char msg[XFER_ERROR_SIZE];
  va_list ap;
  va_start(ap, why);
  vsnprintf(msg, sizeof msg, why, ap);
  va_end(ap);
  struct xfer__queue *q, *next;
  for (q = m->easies.next; q != &m->easies; q = next) {
    next = q->next;
    struct xfer_easy *e = xfer__container_of(q, struct xfer_easy, multi_link);
    if (e->x.state != XFER__ST_DONE && e->x.state != XFER__ST_IDLE)
      xfer__transfer_fail(m, e, XFERE_ABORTED_BY_CALLBACK, "%s", msg);
  }
}

xfer_mcode xfer__multi_settle_slow(struct xfer_multi *m, int expire, int force_timer) {
  xfer__socks_flush(m, expire);
  if (xfer__timer_update(m, force_timer) < 0) {
    /* Every transfer served by the refused timer fails; what that changes
     * is told to the host, but a second refusal is not acted on again. */
    xfer__multi_fail_all(m, "The timer callback refused the multi's timer");
    xfer__socks_flush(m, 0);
    (void)xfer__timer_update(m, 0);
    m->cb_failed = 1;
  }
  if (m->cb_failed) {
    m->cb_failed = 0;
    return XFERM_ABORTED_BY_CALLBACK;
  }
  return XFERM_OK;
}

/* ---- the two public functions ------------------------------------------- */

xfer_mcode xfer_multi_socket_action(xfer_multi *m, xfer_socket_t s, int ev_bitmask,
                                    int *running_handles) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  int rc;
  if (m->single_fd) {
    /* Whatever fd the host names, the single fd's readiness means "ask
     * the kernel", which one wait without blocking does for everything. */
    rc = m->be->vt->wait(m->be, 0, NULL, 0, NULL);
  } else {
    int fd = -1;
    unsigned revents = 0;
    if (s != XFER_SOCKET_TIMEOUT && s >= 0 && s < m->nsocks && m->socks[s].announced) {
      fd = s;
      /* An unknown mask means "look at both": a readiness backend's I/O is
       * non-blocking, so a wrong guess only costs an EAGAIN. */
      revents = (ev_bitmask & XFER_CSELECT_IN ? POLLIN : 0u) |
                (ev_bitmask & XFER_CSELECT_OUT ? POLLOUT : 0u) |
                (ev_bitmask & XFER_CSELECT_ERR ? POLLERR : 0u);
      if (!revents)
        revents = POLLIN | POLLOUT;
    }
    /* A stray fd (removed already, or never ours) is ignored, as libcurl
     * does: it still runs what is due. */
    rc = m->be->vt->action(m->be, fd, revents);
  }
  if (rc < 0)
    return XFERM_UNRECOVERABLE_POLL;
  if (m->woken)
    xfer__multi_drain_wakeup(m);
  xfer__multi_take_posts(m);
  m->submitted = 0;
  /* Run, then flush what the run submitted (sends go out at once and their
   * completions come back in the same flush), until nothing new happens.
   * Bounded: anything left is due now, and the timer says so. */
  for (unsigned pass = 0; pass < 16; pass++) {
    xfer__multi_run(m);
    if (!m->submitted && xfer__queue_empty(&m->completed))
      break;
    m->submitted = 0;
    if (m->be->vt->action(m->be, -1, 0) < 0)
      return XFERM_UNRECOVERABLE_POLL;
  }
  m->last_wait = m->now;
  xfer_mcode mc = xfer__multi_settle(m, s == XFER_SOCKET_TIMEOUT, s == XFER_SOCKET_TIMEOUT);
  if (running_handles)
    *running_handles = (int)m->nrunning;
  return mc;
}

int xfer__socks_single(struct xfer_multi *m, int on) {
  if (!on) {
    if (m->sock_epfd >= 0)
      close(m->sock_epfd);
    m->sock_epfd = -1;
    m->single_fd = 0;
    return 0;
  }
  /* The poll backend keeps no set in the kernel that could stand for all
   * of its fds: refused rather than emulated. */
  if (m->backend_id == XFER__BACKEND_POLL)
    return -ENOTSUP;
  if (m->be->vt->single_fd(m->be) < 0 && m->sock_epfd < 0) {
    /* io_uring with DEFER_TASKRUN: its ring fd does not wake a waiting
     * poller (the completion work is queued for our next enter, and that
     * wakes no poll queue; seen on Linux 6.18), but the sockets stay ready
     * until that enter, so an epoll set of them is exact. */
    m->sock_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (m->sock_epfd < 0)
      return -errno;
  }
  m->single_fd = 1;
  return 0;
}

xfer_mcode xfer_multi_assign(xfer_multi *m, xfer_socket_t s, void *sockp) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->single_fd) {
    if (!m->single_announced || s != the_single_fd(m))
      return XFERM_BAD_SOCKET;
    m->single_sockp = sockp;
    return XFERM_OK;
  }
  if (s < 0 || s >= m->nsocks || !m->socks[s].announced)
    return XFERM_BAD_SOCKET;
  m->socks[s].sockp = sockp;
  return XFERM_OK;
}

void xfer__socks_destroy(struct xfer_multi *m) {
  if (m->single_fd && m->single_announced && event_mode(m)) {
    int failed;
    call_socket_cb(m, NULL, the_single_fd(m), XFER_POLL_REMOVE, m->single_sockp, &failed);
    m->single_announced = 0;
  }
  if (m->sock_epfd >= 0)
    close(m->sock_epfd);
  m->sock_epfd = -1;
  xfer__free(m->socks);
  xfer__free(m->sock_dirty);
  m->socks = NULL;
  m->sock_dirty = NULL;
  m->nsocks = m->nsock_dirty = 0;
}
