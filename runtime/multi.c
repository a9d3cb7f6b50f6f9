/* The multi handle's life and its loop turn: add, remove, perform, messages,
 * options. Waiting lives in multi_wait.c. See docs/internals/multi-loop.md. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "alloc.h"
#include "clock.h"
#include "multi.h"
#include "transfer.h"

/* ---- backend and wakeup ------------------------------------------------ */

static void arm_wakeup(struct xfer_multi *m) {
  m->wakeup_op.kind = XFER__OP_POLL_IN;
  m->wakeup_op.fd = m->wakeup_fd;
  m->wakeup_op.flags = XFER__OPF_INTERNAL;
  m->wakeup_op.token = (uint64_t)XFER__TOK_WAKEUP << XFER__TOKEN_KIND_SHIFT;
  xfer__multi_submit(m, &m->wakeup_op);
}

/* Creates the backend `want` and re-arms the multi's own fds on it. */
static int use_backend(struct xfer_multi *m, enum xfer__backend_id want) {
  struct xfer__backend *be;
  int rc = xfer__backend_create(want, xfer__multi_on_complete, m, &be);
  if (rc < 0)
    return rc;
  if (m->be)
    m->be->vt->destroy(m->be);
  m->be = be;
  m->backend_id = be->vt->id;
  arm_wakeup(m);
  if (m->dns.shared)
    xfer__multi_submit(m, &m->dns.op);
  return 0;
}

xfer_multi *xfer_multi_init(void) {
  int env = xfer__backend_from_env();
  if (env < 0)
    return NULL; /* XFER_BACKEND names no backend: an error, not a guess */
  struct xfer_multi *m = xfer__calloc(1, sizeof *m);
  if (!m)
    return NULL;
  xfer__queue_init(&m->easies);
  xfer__queue_init(&m->ready);
  xfer__queue_init(&m->pending);
  xfer__queue_init(&m->completed);
  xfer__queue_init(&m->msgs);
  xfer__queue_init(&m->tls_ctxs);
  xfer__mpsc_init(&m->posts);
  xfer__handles_init(&m->conns);
  xfer__heap_init(&m->timers);
  xfer__pool_init(&m->pool);
  xfer__dns_init(&m->dns);
  m->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->wakeup_fd < 0 || use_backend(m, (enum xfer__backend_id)env) < 0) {
    if (m->wakeup_fd >= 0)
      close(m->wakeup_fd);
    xfer__handles_destroy(&m->conns);
    xfer__heap_free(&m->timers);
    xfer__free(m);
    return NULL;
  }
  m->timer_when = UINT64_MAX; /* nothing told to a timer callback yet */
  m->batch_wait_us = XFER__BATCH_WAIT_US_DEFAULT;
  m->sock_epfd = -1;
  static atomic_uint_fast64_t next_id = 1;
  m->id = atomic_fetch_add(&next_id, 1);
  m->now = xfer__now_us();
  m->magic = XFER__MULTI_MAGIC;
  return m;
}

xfer_mcode xfer_multi_cleanup(xfer_multi *m) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  /* Orphan every handle still added, as libcurl does: they stay valid and
   * must be cleaned up by the application. */
  while (!xfer__queue_empty(&m->easies)) {
    struct xfer_easy *e =
        xfer__container_of(xfer__queue_head(&m->easies), struct xfer_easy, multi_link);
    xfer_multi_remove_handle(m, e);
  }
  xfer__pool_destroy(m);
  /* After the pool: its origins hold sessions the contexts' library frees. */
  xfer__tls_ctxs_destroy(m);
  /* And the small blocks the TLS libraries freed on this thread, kept for
   * reuse while the multi ran. */
  xfer__tls_trim();
  /* The resolver's eventfd may outlive the multi in a resolver thread:
   * the host loop forgets it now. */
  if (m->dns.shared)
    xfer__socks_forget(m, m->dns.op.fd);
  xfer__dns_destroy(m);
  xfer__multi_close_fd(m, m->wakeup_fd);
  xfer__socks_destroy(m);
  m->be->vt->destroy(m->be);
  xfer__handles_destroy(&m->conns);
  xfer__heap_free(&m->timers);
  xfer__free(m->wait_pf);
  m->magic = 0;
  xfer__free(m);
  return XFERM_OK;
}

/* ---- handles ----------------------------------------------------------- */

xfer_mcode xfer_multi_add_handle(xfer_multi *m, xfer_easy *e) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (!xfer__easy_valid(e))
    return XFERM_BAD_EASY_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  return xfer__multi_add(m, e);
}

xfer_mcode xfer__multi_add(struct xfer_multi *m, struct xfer_easy *e) {
  if (e->multi || e->in_perform)
    return XFERM_ADDED_ALREADY;
  /* One timer slot per added transfer plus the pool's, reserved now so that
   * arming a timer later never allocates (the array only ever doubles). */
  if (xfer__heap_reserve(&m->timers, m->nadded + 2) < 0)
    return XFERM_OUT_OF_MEMORY;
  /* The handle now uses this multi's pool: the private one that
   * xfer_easy_perform kept goes, as libcurl's does. */
  xfer__easy_drop_own_multi(e);
  e->multi = m;
  xfer__queue_insert_tail(&m->easies, &e->multi_link);
  m->nadded++;
  if (e->opt.errorbuffer)
    e->opt.errorbuffer[0] = '\0';
  e->msg_queued = 0;
  xfer__transfer_start(m, e);
  /* The timer callback is told that there is work now: event-driven
   * programs never kick the multi by hand. A refusal undoes the add. */
  if (xfer__timer_update(m, 0) < 0) {
    xfer__transfer_abort(m, e);
    xfer__queue_remove(&e->multi_link);
    m->nadded--;
    e->multi = NULL;
    return XFERM_ABORTED_BY_CALLBACK;
  }
  return XFERM_OK;
}

xfer_mcode xfer_multi_remove_handle(xfer_multi *m, xfer_easy *e) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (!xfer__easy_valid(e))
    return XFERM_BAD_EASY_HANDLE;
  if (!e->multi)
    return XFERM_OK; /* never added, or removed already: libcurl test 3105 */
  if (e->multi != m)
    return XFERM_BAD_EASY_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  xfer__transfer_abort(m, e);
  if (e->msg_queued) {
    xfer__queue_remove(&e->msg_link);
    m->nmsgs--;
    e->msg_queued = 0;
  }
  xfer__queue_remove(&e->multi_link);
  m->nadded--;
  e->multi = NULL;
  /* A closed socket was removed from the host before it closed; what is
   * left to tell is the timer and, when this was the last transfer, the
   * start of the idle connections' grace (which only the timer's call
   * ends, so the host keeps them through this call). */
  return xfer__multi_settle(m, 0, 0);
}

xfer_easy **xfer_multi_get_handles(xfer_multi *m) {
  if (!xfer__multi_valid(m))
    return NULL;
  xfer_easy **list = xfer__malloc((m->nadded + 1u) * sizeof *list);
  if (!list)
    return NULL;
  size_t i = 0;
  struct xfer__queue *q;
  xfer__queue_foreach(q, &m->easies) list[i++] =
      xfer__container_of(q, struct xfer_easy, multi_link);
  list[i] = NULL;
  return list;
}

xfer_msg *xfer_multi_info_read(xfer_multi *m, int *msgs_in_queue) {
  if (msgs_in_queue)
    *msgs_in_queue = 0;
  if (!xfer__multi_valid(m) || m->in_callback || xfer__queue_empty(&m->msgs))
    return NULL;
  struct xfer_easy *e = xfer__container_of(xfer__queue_head(&m->msgs), struct xfer_easy, msg_link);
  xfer__queue_remove(&e->msg_link);
  e->msg_queued = 0;
  m->nmsgs--;
  if (msgs_in_queue)
    *msgs_in_queue = (int)m->nmsgs;
  /* The message lives in the easy handle: valid until it is removed. */
  return &e->msg;
}

/* ---- completions and the loop turn ------------------------------------- */

void xfer__multi_retag(struct xfer_multi *m, struct xfer__op *op, int internal) {
  uint8_t flags = internal ? (uint8_t)(op->flags | XFER__OPF_INTERNAL)
                           : (uint8_t)(op->flags & ~XFER__OPF_INTERNAL);
  if (flags == op->flags)
    return;
  op->flags = flags;
  if (m->be->vt->retag)
    m->be->vt->retag(m->be, op);
  xfer__socks_note(m, op);
}

void xfer__multi_submit(struct xfer_multi *m, struct xfer__op *op) {
  m->be->vt->submit(m->be, op);
  m->submitted++;
  xfer__socks_note(m, op);
}

int xfer__multi_cancel(struct xfer_multi *m, struct xfer__op *op) {
  int rc = m->be->vt->cancel(m->be, op);
  xfer__socks_note(m, op);
  return rc;
}

void xfer__multi_close_fd(struct xfer_multi *m, int fd) {
  xfer__socks_forget(m, fd);
  m->be->vt->close_fd(m->be, fd);
}

void xfer__multi_on_complete(void *ctx, uint64_t token, int32_t res, void *buf, unsigned flags) {
  struct xfer_multi *m = ctx;
  unsigned kind = (unsigned)((token & XFER__TOKEN_KIND_MASK) >> XFER__TOKEN_KIND_SHIFT);
  int last = !(flags & XFER__CF_MORE);
  if (kind == XFER__TOK_WAKEUP || kind == XFER__TOK_DNS) {
    struct xfer__op *op = kind == XFER__TOK_WAKEUP ? &m->wakeup_op : &m->dns.op;
    if (last) {
      op->armed = 0;
      xfer__socks_note(m, op);
    }
    if (res != -ECANCELED) {
      if (kind == XFER__TOK_WAKEUP)
        m->woken = 1;
      else
        m->dns_ready = 1;
    }
    return;
  }
  struct xfer__conn *c = xfer__pool_lookup(m, token);
  if (!c) {
    /* Stale: the connection was closed and its slot moved on. A buffer of
     * the backend's still goes back. */
    if (flags & XFER__CF_BUF)
      m->be->vt->release_buf(m->be, buf);
    return;
  }
  struct xfer__op *op = kind == XFER__TOK_RX ? &c->rx : &c->tx;
  if (last) {
    op->armed = 0;
    xfer__socks_note(m, op);
  }
  if (res == -ECANCELED)
    return; /* an op the runtime withdrew: nothing to act on */
  if (kind == XFER__TOK_RX) {
    if (xfer__conn_rx_push(m, c, res, buf, flags) < 0)
      (void)xfer__conn_rx_push(m, c, XFER__EOPNOMEM, NULL, 0); /* fails the transfer */
  } else {
    c->tx_done = 1;
    c->tx_res = res;
  }
  /* Counted per connection: numfds is a count of sockets with activity. */
  if (xfer__queue_empty(&c->done_link)) {
    m->nevents++;
    xfer__queue_insert_tail(&m->completed, &c->done_link);
  }
}

static void run_timers(struct xfer_multi *m) {
  /* Bounded: a timer handler may arm a new timer that is already due. */
  for (unsigned n = 0; n < 100000; n++) {
    struct xfer__heap_node *t = xfer__heap_min(&m->timers);
    if (!t || t->when > m->now)
      return;
    xfer__heap_remove(&m->timers, t);
    if (t == &m->pool.idle_timer) {
      xfer__pool_expire(m, m->now);
      continue;
    }
    xfer__transfer_timeout(m, xfer__container_of(t, struct xfer_easy, x.timer));
  }
}

void xfer__multi_run(struct xfer_multi *m) {
  m->now = xfer__now_us();
  m->turn++;
  if (m->dns_ready) {
    m->dns_ready = 0;
    xfer__dns_process(m);
  }
  /* Completions first: they finish transfers and free connections that new
   * transfers can then reuse in the same turn. Each connection is taken off
   * the list before its handler runs, so a handler may queue it again. */
  while (!xfer__queue_empty(&m->completed)) {
    struct xfer__queue *q = xfer__queue_head(&m->completed);
    xfer__queue_remove(q);
    struct xfer__conn *c = xfer__container_of(q, struct xfer__conn, done_link);
    if (c->owner)
      xfer__transfer_conn_event(m, c);
    else if (c->rxq_len)
      xfer__pool_idle_event(m, c);
  }
  while (!xfer__queue_empty(&m->ready)) {
    struct xfer__queue *q = xfer__queue_head(&m->ready);
    xfer__queue_remove(q);
    xfer__transfer_run(m, xfer__container_of(q, struct xfer_easy, x.ready_link));
  }
  run_timers(m);
}

xfer_mcode xfer_multi_perform(xfer_multi *m, int *running_handles) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  xfer__multi_take_posts(m);
  /* The transfers due and what the last poll gathered run first, so that a
   * new request's send reaches the kernel in the gather below, together
   * with whatever else is ready, instead of costing a wait of its own: on
   * io_uring with one connection that is one io_uring_enter per request
   * fewer (3 to 2, docs/internals/multi-loop.md). The gather is skipped
   * when a poll has just done it and this turn gave the kernel nothing new
   * (a receive re-armed on a registered fd is nothing new): a wasted
   * epoll_wait per turn otherwise. */
  xfer__multi_run(m);
  if (!m->waited || (m->submitted && m->be->vt->pending(m->be))) {
    m->submitted = 0;
    int nready = 0;
    if (m->be->vt->wait(m->be, 0, NULL, 0, &nready) < 0)
      return XFERM_INTERNAL_ERROR;
    xfer__multi_run(m);
    m->last_wait = m->now; /* read right after the wait, in xfer__multi_run */
  }
  m->waited = 0;
  /* perform stands for the timer's call too: it runs everything due. */
  xfer_mcode mc = xfer__multi_settle(m, 1, 0);
  if (running_handles)
    *running_handles = (int)m->nrunning;
  return mc;
}

const char *xfer_multi_backend(xfer_multi *m) {
  if (!xfer__multi_valid(m))
    return NULL;
  return m->be->vt->name;
}

/* ---- options ------------------------------------------------------------ */

static xfer_mcode set_backend(struct xfer_multi *m, long v) {
  if (v < XFER_BACKEND_AUTO || v > XFER_BACKEND_IO_URING)
    return XFERM_BAD_FUNCTION_ARGUMENT;
  if (v != XFER_BACKEND_AUTO && !xfer__backend_built_in((enum xfer__backend_id)v))
    return XFERM_BAD_FUNCTION_ARGUMENT;
  int env = xfer__backend_from_env();
  if (env != XFER__BACKEND_AUTO)
    return XFERM_OK; /* XFER_BACKEND overrides every multi's choice */
  if (v == m->backend_id)
    return XFERM_OK;
  /* Switching moves no live fds: only an idle multi may switch. */
  if (m->nadded || m->pool.nconns || m->dns.shared)
    return XFERM_BAD_FUNCTION_ARGUMENT;
  /* Nor under XFERMOPT_SINGLE_FD, whose fd is the backend's. */
  if (m->single_fd)
    return XFERM_BAD_FUNCTION_ARGUMENT;
  int wakeup_armed = m->wakeup_op.armed;
  if (wakeup_armed)
    m->be->vt->cancel(m->be, &m->wakeup_op);
  if (use_backend(m, (enum xfer__backend_id)v) < 0) {
    if (wakeup_armed)
      arm_wakeup(m);
    return XFERM_BAD_FUNCTION_ARGUMENT;
  }
  return XFERM_OK;
}

xfer_mcode xfer_multi_setopt(xfer_multi *m, xfer_moption opt, ...) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  va_list ap;
  va_start(ap, opt);
  xfer_mcode rc = XFERM_OK;
  switch (opt) {
  case XFERMOPT_MAX_TOTAL_CONNECTIONS:
  case XFERMOPT_MAX_HOST_CONNECTIONS:
  case XFERMOPT_MAXCONNECTS: {
    long v = va_arg(ap, long);
    if (v < 0) {
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
      break;
    }
    if (opt == XFERMOPT_MAX_TOTAL_CONNECTIONS)
      m->pool.max_total = v;
    else if (opt == XFERMOPT_MAX_HOST_CONNECTIONS)
      m->pool.max_host = v;
    else
      m->pool.maxconnects = v;
    /* A raised limit may let a waiting transfer go at the next turn. */
    xfer__transfer_promote(m);
    break;
  }
  case XFERMOPT_BACKEND:
    rc = set_backend(m, va_arg(ap, long));
    break;
  case XFERMOPT_SOCKETFUNCTION: {
    xfer_socket_callback cb = va_arg(ap, xfer_socket_callback);
    /* The fds open now were never noted for a host loop: switching the
     * loop in or out is for a multi with none. */
    if ((cb != NULL) != (m->socket_cb != NULL) && (m->pool.nconns || m->dns.shared)) {
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
      break;
    }
    m->socket_cb = cb;
    m->wakeup_refused = 0;
    /* The wakeup's watch was armed before there was a host to tell. */
    if (cb && m->wakeup_op.armed)
      xfer__socks_note(m, &m->wakeup_op);
    /* An io_uring ring without DEFER_TASKRUN (Linux before 6.1) runs its
     * completion work at any system call of the thread, the host loop's
     * included, so a socket's readiness can vanish into a completion that
     * nothing announces; its ring fd is readable while completions wait.
     * Only that fd is announced then, in both modes. */
    if (cb && m->backend_id == XFER__BACKEND_IO_URING && m->be->vt->single_fd(m->be) >= 0 &&
        xfer__socks_single(m, 1) < 0)
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
    break;
  }
  case XFERMOPT_SOCKETDATA:
    m->socket_data = va_arg(ap, void *);
    break;
  case XFERMOPT_TIMERFUNCTION:
    m->timer_cb = va_arg(ap, xfer_multi_timer_callback);
    m->timer_stale = 1; /* a new callback has been told nothing yet */
    break;
  case XFERMOPT_TIMERDATA:
    m->timer_data = va_arg(ap, void *);
    break;
  case XFERMOPT_ANNOUNCE_WAKEUP: {
    long v = va_arg(ap, long);
    /* Told at the next flush, which re-judges the wakeup fd every time. */
    if (v != 0 && v != 1)
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
    else
      m->announce_wakeup = (unsigned)v;
    break;
  }
  case XFERMOPT_BATCH_WAIT_US: {
    long v = va_arg(ap, long);
    if (v < 0 || v > XFER__BATCH_WAIT_US_MAX)
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
    else
      m->batch_wait_us = (unsigned)v;
    break;
  }
  case XFERMOPT_SINGLE_FD: {
    long v = va_arg(ap, long);
    /* Chosen before any fd exists, as the backend is. */
    if (v != 0 && v != 1)
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
    else if ((unsigned)v != m->single_fd &&
             (m->nadded || m->pool.nconns || m->dns.shared || xfer__socks_single(m, (int)v) < 0))
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
    break;
  }
  default:
    rc = XFERM_UNKNOWN_OPTION;
    break;
  }
  va_end(ap);
  return rc;
}
