/* Completion emulation over readiness: the half of poll.c and epoll.c that is
 * the same in both. See readiness.h for the shape and docs/internals/backends.md
 * for the reasons. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "readiness.h"
#include "../runtime/alloc.h"
#include "../runtime/clock.h"
#include "../runtime/error.h"

/* The slot table starts with room for 64 fds: a fresh process already has
 * stdio and a few library fds, so a smaller start would only buy a second
 * realloc at the first connections. It then doubles, so a process that opens
 * its fds one by one reallocates O(log n) times and never in steady state. */
#define FIRST_NFDS 64

static int is_read_side(const struct xfer__op *op) {
  return op->kind == XFER__OP_RECV || op->kind == XFER__OP_POLL_IN;
}

/* An attached op waits for readiness when it is on no queue: not a SEND still
 * to be tried, not a completion still to be delivered. */
static int waiting(const struct xfer__op *op) { return op != NULL && xfer__queue_empty(&op->link); }

static unsigned interest(const struct xfer__readiness_fd *s) {
  return (waiting(s->rd) ? POLLIN : 0u) | (waiting(s->wr) ? POLLOUT : 0u);
}

static int grow(struct xfer__readiness *r, int fd) {
  struct xfer__readiness_fd *fds;
  int *dirty;
  int n = r->nfds ? r->nfds : FIRST_NFDS;

  while (n <= fd)
    n = n > INT_MAX / 2 ? fd + 1 : n * 2;
  fds = xfer__realloc(r->fds, (size_t)n * sizeof *fds);
  if (fds == NULL)
    return -ENOMEM;
  r->fds = fds;
  /* If this one fails the slot array is merely larger than nfds says, which
   * is harmless: the next growth reuses it. */
  dirty = xfer__realloc(r->dirty, (size_t)n * sizeof *dirty);
  if (dirty == NULL)
    return -ENOMEM;
  r->dirty = dirty;
  for (int i = r->nfds; i < n; i++) {
    fds[i].rd = NULL;
    fds[i].wr = NULL;
    fds[i].registered = 0;
    fds[i].dirty = 0;
    fds[i].index = -1;
  }
  r->nfds = n;
  return 0;
}

/* The dirty list has room for every fd, and a slot is on it at most once, so
 * marking never allocates and never overflows. */
static void mark_dirty(struct xfer__readiness *r, int fd) {
  struct xfer__readiness_fd *s = &r->fds[fd];

  if (!s->dirty) {
    s->dirty = 1;
    r->dirty[r->ndirty++] = fd;
  }
}

static void post(struct xfer__readiness *r, struct xfer__op *op, int32_t res) {
  op->res = res;
  xfer__queue_insert_tail(&r->cq, &op->link);
}

/* An op that cannot be attached still owes the runtime exactly one
 * completion, and submit() may not deliver it: it waits on the orphans list
 * for the next flush. */
static void orphan(struct xfer__readiness *r, struct xfer__op *op, int32_t res) {
  op->res = res;
  r->nloose++;
  xfer__queue_insert_tail(&r->orphans, &op->link);
}

/* Takes op out of its slot. Returns 1 when it was attached there, 0 for an
 * orphan. The slot's interest is recomputed at the next flush: if the runtime
 * resubmits in its callback, as it does for a keep-alive connection, the
 * interest comes out unchanged and the kernel is not told anything. */
static int detach(struct xfer__readiness *r, struct xfer__op *op) {
  struct xfer__readiness_fd *s;

  if (op->fd < 0 || op->fd >= r->nfds)
    return 0;
  s = &r->fds[op->fd];
  if (s->rd == op)
    s->rd = NULL;
  else if (s->wr == op)
    s->wr = NULL;
  else
    return 0;
  mark_dirty(r, op->fd);
  return 1;
}

static int32_t do_send(const struct xfer__op *op) {
  /* MSG_NOSIGNAL because a peer that reset the connection must give -EPIPE,
   * not kill the process; MSG_DONTWAIT because the runtime's sockets should
   * be non-blocking, and a blocking one must still not stall the loop. */
  const int flags = MSG_NOSIGNAL | MSG_DONTWAIT;
  ssize_t n;

  do {
    if (op->iovcnt == 1) {
      n = send(op->fd, op->iov[0].iov_base, op->iov[0].iov_len, flags);
    } else {
      struct msghdr mh = {0};
      mh.msg_iov = (struct iovec *)op->iov;
      mh.msg_iovlen = (size_t)op->iovcnt;
      n = sendmsg(op->fd, &mh, flags);
    }
  } while (n < 0 && errno == EINTR);
  /* Linux moves at most INT_MAX & PAGE_MASK bytes per call (MAX_RW_COUNT),
   * so the count always fits the int32_t result. */
  return n >= 0 ? (int32_t)n : (errno == EWOULDBLOCK ? -EAGAIN : -errno);
}

static int32_t do_recv(const struct xfer__op *op) {
  ssize_t n;

  do
    n = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n >= 0 ? (int32_t)n : (errno == EWOULDBLOCK ? -EAGAIN : -errno);
}

static int32_t connect_result(const struct xfer__op *op, unsigned revents) {
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -errno;
  if (err != 0)
    return -err;
  /* A hang-up without writability and without a pending error means the
   * socket never got connected; do not report that as success. */
  return (revents & POLLOUT) ? 0 : -ENOTCONN;
}

void xfer__readiness_ready(struct xfer__readiness *r, int fd, unsigned revents) {
  struct xfer__readiness_fd *s;
  int32_t res;

  if (fd < 0 || fd >= r->nfds)
    return;
  s = &r->fds[fd];
  if (waiting(s->rd) && (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
    struct xfer__op *op = s->rd;
    if (op->kind == XFER__OP_POLL_IN)
      res =
          (int32_t)(revents & (POLLIN | POLLHUP | POLLERR)) | ((revents & POLLNVAL) ? POLLERR : 0);
    else
      res = (revents & POLLNVAL) ? -EBADF : do_recv(op);
    /* -EAGAIN: the readiness was spurious (another reader, or a checksum
     * failure the kernel found late). The op stays armed. */
    if (res != -EAGAIN)
      post(r, op, res);
  }
  if (waiting(s->wr) && (revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))) {
    struct xfer__op *op = s->wr;
    if (revents & POLLNVAL)
      res = -EBADF;
    else if (op->kind == XFER__OP_CONNECT)
      res = connect_result(op, revents);
    else
      res = do_send(op);
    if (res != -EAGAIN)
      post(r, op, res);
  }
}

/* Turns this turn's submissions into kernel interest: sends first, because a
 * send that succeeds right away needs no interest at all, then one apply()
 * per fd whose interest really changed. */
static void flush(struct xfer__readiness *r) {
  while (!xfer__queue_empty(&r->sendq)) {
    struct xfer__op *op = xfer__container_of(xfer__queue_head(&r->sendq), struct xfer__op, link);
    int32_t res;

    xfer__queue_remove(&op->link);
    /* Optimistic: a socket is almost always writable when the runtime has
     * something to send, so trying now saves a trip through the kernel's
     * wait and an interest change. */
    res = do_send(op);
    if (res != -EAGAIN)
      post(r, op, res);
  }
  while (!xfer__queue_empty(&r->orphans)) {
    struct xfer__queue *q = xfer__queue_head(&r->orphans);
    xfer__queue_remove(q);
    xfer__queue_insert_tail(&r->cq, q);
  }
  for (int i = 0; i < r->ndirty; i++) {
    int fd = r->dirty[i];
    struct xfer__readiness_fd *s = &r->fds[fd];
    unsigned want = interest(s);
    int rc;

    s->dirty = 0;
    if (want == s->registered)
      continue;
    rc = r->ops->apply(r, fd, s, want);
    if (rc == 0) {
      s->registered = (uint16_t)want;
    } else {
      /* The kernel refused to watch the fd: its waiting ops complete with
       * that error rather than hang. */
      if (waiting(s->rd))
        post(r, s->rd, rc);
      if (waiting(s->wr))
        post(r, s->wr, rc);
    }
  }
  r->ndirty = 0;
}

static void dispatch(struct xfer__readiness *r) {
  while (!xfer__queue_empty(&r->cq)) {
    struct xfer__op *op = xfer__container_of(xfer__queue_head(&r->cq), struct xfer__op, link);
    uint64_t token = op->token;
    int32_t res = op->res;
    void *buf = op->kind == XFER__OP_RECV ? op->buf : NULL;

    xfer__queue_remove(&op->link);
    if (!detach(r, op))
      r->nloose--;
    op->armed = 0;
    /* The op is the runtime's again from here: it may resubmit it, cancel
     * others, or close this fd and open a new one under the same number. */
    r->base.complete(r->base.ctx, token, res, buf, 0);
  }
}

void xfer__readiness_init(struct xfer__readiness *r, const struct xfer__backend_vtable *vt,
                          const struct xfer__readiness_ops *ops, xfer__complete_fn complete,
                          void *ctx) {
  r->base.vt = vt;
  r->base.complete = complete;
  r->base.ctx = ctx;
  r->ops = ops;
  r->fds = NULL;
  r->nfds = 0;
  r->dirty = NULL;
  r->ndirty = 0;
  r->nloose = 0;
  r->skipped_poll = 0;
  xfer__queue_init(&r->sendq);
  xfer__queue_init(&r->cq);
  xfer__queue_init(&r->orphans);
}

void xfer__readiness_free(struct xfer__readiness *r) {
  xfer__free(r->fds);
  xfer__free(r->dirty);
  r->fds = NULL;
  r->dirty = NULL;
  r->nfds = 0;
}

void xfer__readiness_submit(struct xfer__backend *be, struct xfer__op *op) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;
  struct xfer__readiness_fd *s;
  struct xfer__op **side;

  op->armed = 1;
  xfer__queue_init(&op->link);
  if (op->kind < XFER__OP_CONNECT || op->kind > XFER__OP_POLL_IN) {
    orphan(r, op, -EINVAL);
    return;
  }
  if (op->fd < 0) {
    orphan(r, op, -EBADF);
    return;
  }
  if (op->kind == XFER__OP_CONNECT && op->addr == NULL) {
    orphan(r, op, -EINVAL); /* the seam's CONNECT always names its address */
    return;
  }
  if (op->fd >= r->nfds && grow(r, op->fd) != 0) {
    orphan(r, op, XFER__EOPNOMEM); /* the library's, not the kernel's */
    return;
  }
  s = &r->fds[op->fd];
  side = is_read_side(op) ? &s->rd : &s->wr;
  if (*side != NULL) {
    /* One op per side and fd is the runtime's promise; breaking it must
     * not silently unhook the op already there. */
    orphan(r, op, -EBUSY);
    return;
  }
  *side = op;
  mark_dirty(r, op->fd);
  if (op->kind == XFER__OP_SEND)
    xfer__queue_insert_tail(&r->sendq, &op->link);
  else if (op->kind == XFER__OP_CONNECT) {
    /* The connect starts now; on loopback it often completes at once, and
     * otherwise the fd waits for writability. Either way the completion is
     * delivered by the next wait(), never from here. */
    if (connect(op->fd, op->addr, op->addrlen) == 0)
      post(r, op, 0);
    else if (errno != EINPROGRESS)
      post(r, op, -errno);
  }
}

int xfer__readiness_cancel(struct xfer__backend *be, struct xfer__op *op) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;

  if (!op->armed)
    return 0;
  xfer__queue_remove(&op->link);
  if (!detach(r, op))
    r->nloose--;
  op->armed = 0;
  return 0;
}

/* Cancels the orphans of fd, which no slot points at. Orphans only come from
 * misuse or a failed allocation, so the scan runs only when there are some. */
static void cancel_loose(struct xfer__readiness *r, int fd, struct xfer__queue *h) {
  struct xfer__queue *q = xfer__queue_head(h);

  while (q != h) {
    struct xfer__op *op = xfer__container_of(q, struct xfer__op, link);
    q = q->next;
    if (op->fd == fd &&
        !(fd >= 0 && fd < r->nfds && (r->fds[fd].rd == op || r->fds[fd].wr == op))) {
      xfer__queue_remove(&op->link);
      op->armed = 0;
      r->nloose--;
    }
  }
}

void xfer__readiness_close_fd(struct xfer__backend *be, int fd) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;

  if (fd < 0)
    return;
  if (fd < r->nfds) {
    struct xfer__readiness_fd *s = &r->fds[fd];
    if (s->rd)
      xfer__readiness_cancel(be, s->rd);
    if (s->wr)
      xfer__readiness_cancel(be, s->wr);
    /* Removed from the kernel's interest before close(), because a dup()
     * or a fork() can keep the file open, and epoll would keep reporting it
     * under a number that may already belong to another socket. */
    if (s->registered) {
      (void)r->ops->apply(r, fd, s, 0);
      s->registered = 0;
    }
  }
  if (r->nloose > 0) {
    cancel_loose(r, fd, &r->orphans);
    cancel_loose(r, fd, &r->cq);
  }
  /* Not retried on EINTR: on Linux the fd is released whatever close()
   * returns, and a retry could close a number another thread just got. */
  (void)close(fd);
}

int xfer__readiness_wait(struct xfer__backend *be, int timeout_ms, struct xfer__pollfd *extra,
                         unsigned nextra, int *nextra_ready) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;
  int nready = 0;
  int rc = 0;
  int t;
  uint64_t start = 0;

  for (unsigned i = 0; i < nextra; i++)
    extra[i].revents = 0;
  flush(r);
  /* Completions already posted (usually sends that went out at once) are
   * delivered without a zero-timeout call into the kernel, which would find
   * nothing new at low concurrency: the response is not back yet. Only once
   * in a row, so that a runtime that always has a send to make still has
   * its other fds looked at every second turn. Extra fds are the caller's
   * question for this very call, so they always get asked. */
  if (!xfer__queue_empty(&r->cq) && nextra == 0 && !r->skipped_poll) {
    r->skipped_poll = 1;
    dispatch(r);
    if (nextra_ready)
      *nextra_ready = 0;
    return 0;
  }
  r->skipped_poll = 0;
  t = xfer__queue_empty(&r->cq) ? timeout_ms : 0;
  if (t > 0)
    start = xfer__now_us();
  for (;;) {
    rc = r->ops->poll(r, t, extra, nextra, &nready);
    if (rc == -EINTR)
      rc = 0;
    else if (rc < 0)
      break;
    if (nready > 0 || !xfer__queue_empty(&r->cq) || t == 0)
      break;
    /* Nothing came of this call: a signal, or readiness that turned out to
     * be spurious. Wait again for what is left of the timeout. */
    if (t > 0) {
      uint64_t spent = xfer__now_us() - start;
      uint64_t total = (uint64_t)timeout_ms * 1000u;
      if (spent >= total)
        break;
      /* Rounded up, so the call never returns before the timeout. */
      t = (int)((total - spent + 999u) / 1000u);
    }
  }
  /* Completions posted before an error are still delivered: their I/O has
   * happened and the runtime must account for it. */
  dispatch(r);
  if (nextra_ready)
    *nextra_ready = nready;
  return rc;
}

int xfer__readiness_pending(struct xfer__backend *be) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;

  if (!xfer__queue_empty(&r->sendq) || !xfer__queue_empty(&r->orphans))
    return 1;
  /* Touched this turn: only a real change of interest needs the kernel. */
  for (int i = 0; i < r->ndirty; i++) {
    const struct xfer__readiness_fd *s = &r->fds[r->dirty[i]];
    if (interest(s) != s->registered)
      return 1;
  }
  return 0;
}

/* The host loop's readiness stands in for the kernel wait: the same flush,
 * the I/O that revents allows, and the same dispatch, with no system call
 * of our own beyond the I/O itself. */
int xfer__readiness_action(struct xfer__backend *be, int fd, unsigned revents) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;

  flush(r);
  if (fd >= 0 && revents != 0)
    xfer__readiness_ready(r, fd, revents);
  dispatch(r);
  return 0;
}

void xfer__readiness_fdset(struct xfer__backend *be, fd_set *rset, fd_set *wset, int *max_fd) {
  struct xfer__readiness *r = (struct xfer__readiness *)be;
  int n = r->nfds < FD_SETSIZE ? r->nfds : FD_SETSIZE;

  for (int fd = 0; fd < n; fd++) {
    const struct xfer__readiness_fd *s = &r->fds[fd];
    int set = 0;

    if (s->rd && !(s->rd->flags & XFER__OPF_INTERNAL)) {
      FD_SET(fd, rset);
      set = 1;
    }
    if (s->wr && !(s->wr->flags & XFER__OPF_INTERNAL)) {
      FD_SET(fd, wset);
      set = 1;
    }
    if (set && fd > *max_fd)
      *max_fd = fd;
  }
}
