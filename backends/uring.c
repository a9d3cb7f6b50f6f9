/* The io_uring backend: the seam's completions, natively.
 *
 * One ring per backend. submit() only prepares SQEs; wait() hands them to
 * the kernel and waits in one io_uring_enter(), then reaps every CQE in one
 * sweep. Receives marked XFER__OPF_MULTISHOT become multishot receives into
 * the provided-buffer ring (uring_bufring.c); what the backend must remember
 * about an op in flight without touching it is in the op table
 * (uring_table.c). docs/internals/backends.md has the reasons. */
#ifdef XFER_HAVE_URING

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring_int.h"
#include "../runtime/alloc.h"
#include "../runtime/clock.h"
#include "../runtime/error.h"

/* 256 SQEs: a turn prepares at most a couple of SQEs per connection that had
 * activity, so 256 covers the benchmarks' 256 connections turning over at
 * once in one submission; a busier turn submits early (one extra enter per
 * 256 SQEs, never a lost op). The CQ is 4x the SQ because multishot receives
 * post many CQEs per SQE; the kernel keeps overflowing CQEs (FEAT_NODROP),
 * but more slowly. */
#define SQ_ENTRIES 256u
#define CQ_ENTRIES (4u * SQ_ENTRIES)

/* user_data values the backend keeps for its own SQEs (cancels, the caller's
 * extra fds), never delivered: top 40 bits set. An op's SQEs carry its
 * op-table key (uring_int.h), whose top bit is always clear, so the two
 * never meet. liburing's own LIBURING_UDATA_TIMEOUT (all ones) falls in the
 * range too and is swallowed like the rest.
 * Below the marker: bits 22..23 the kind, 16..21 a call sequence (extras),
 * 0..15 an index (extras). */
#define UD_RESERVED  UINT64_C(0xffffffffff000000)
#define UD_CANCEL    (UD_RESERVED | (UINT64_C(0) << 22))
#define UD_EXTRA     (UD_RESERVED | (UINT64_C(1) << 22))
#define UD_KIND(ud)  (((ud) >> 22) & 3u)
#define UD_SEQ(ud)   ((unsigned)((ud) >> 16) & 63u)
#define UD_INDEX(ud) ((unsigned)(ud)&0xffffu)
/* Extra fds per wait(): what fits the index bits. poll(2) callers are far
 * below it. */
#define MAX_EXTRA    65536u

/* destroy() waits this long in total for the kernel to hand back cancelled
 * ops (they come back in microseconds; the bound only stops a hang). */
#define DRAIN_TRIES   50
#define DRAIN_STEP_MS 10

struct uring_backend {
  struct xfer__backend base; /* first: the seam hands us this pointer */
  struct io_uring ring;
  unsigned setup_flags;
  uint8_t enabled;   /* an IORING_SETUP_R_DISABLED ring is enabled at first use */
  uint8_t multishot; /* XFER__OPF_MULTISHOT receives are served multishot */
  uint8_t xseq;      /* sequence of the current wait()'s extra polls */
  unsigned nparked;
  unsigned long rearms;
  struct xfer__uring_table t;
  struct xfer__uring_bufring b;
  /* Ops that never reached the ring (bad kind or fd, no memory, no SQE):
   * they complete with that error at the next wait(), like readiness.c's
   * orphans. Only these are reached through the op after submit(), and only
   * until that completion. */
  struct xfer__queue orphans;
  unsigned norphans;
};

static struct uring_backend *to_u(struct xfer__backend *be) { return (struct uring_backend *)be; }

static int is_reserved(uint64_t ud) { return (ud & UD_RESERVED) == UD_RESERVED; }

/* ---- submission queue ---- */

/* A ring set up with IORING_SETUP_R_DISABLED is enabled by the first thread
 * that enters it, not at init: with SINGLE_ISSUER the kernel binds the ring
 * to the enabling task, and a multi may be created on one thread and driven
 * on another. liburing 2.3 declares io_uring_enable_rings() but its shared
 * library does not export it, hence the raw register call. */
static int enable(struct uring_backend *u) {
  if (u->enabled)
    return 0;
  if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
    return -errno;
  u->enabled = 1;
  return 0;
}

/* An SQE for this turn. When the SQ is full, what is in it goes to the
 * kernel now, without waiting, and there is room again. */
static struct io_uring_sqe *get_sqe(struct uring_backend *u) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

  if (sqe == NULL && enable(u) == 0) {
    (void)io_uring_submit(&u->ring);
    sqe = io_uring_get_sqe(&u->ring);
  }
  return sqe;
}

/* Turns the SQEs of key still waiting in the SQ (prepared this turn, not
 * yet seen by the kernel) into NOPs that keep the key: the kernel never
 * performs them, and the NOP's completion is the op's last, which the op
 * table drops or turns into -ECANCELED. Returns whether there was one. The
 * SQ holds at most SQ_ENTRIES, and this runs only for cancels and closes. */
static int nop_queued(struct uring_backend *u, uint64_t key) {
  struct io_uring_sq *sq = &u->ring.sq;
  int found = 0;

  for (unsigned h = sq->sqe_head; h != sq->sqe_tail; h++) {
    struct io_uring_sqe *sqe = &sq->sqes[h & sq->ring_mask];
    if (sqe->user_data == key) {
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(sqe, key);
      found = 1;
    }
  }
  return found;
}

static void prep_multishot(struct io_uring_sqe *sqe, int fd, uint64_t key) {
  /* No buffer of ours: the kernel picks one from the ring per completion. */
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = XFER__URING_BGID;
  io_uring_sqe_set_data64(sqe, key);
}

static void orphan(struct uring_backend *u, struct xfer__op *op, int32_t res) {
  op->res = res;
  u->norphans++;
  xfer__queue_insert_tail(&u->orphans, &op->link);
}

static void uring_submit(struct xfer__backend *be, struct xfer__op *op) {
  struct uring_backend *u = to_u(be);
  struct xfer__uring_ent *e;
  struct io_uring_sqe *sqe;
  uint32_t i;

  op->armed = 1;
  xfer__queue_init(&op->link);
  if (op->kind < XFER__OP_CONNECT || op->kind > XFER__OP_POLL_IN) {
    orphan(u, op, -EINVAL);
    return;
  }
  if (op->fd < 0) {
    orphan(u, op, -EBADF);
    return;
  }
  if (op->kind == XFER__OP_CONNECT && op->addr == NULL) {
    orphan(u, op, -EINVAL); /* the seam's CONNECT always names its address */
    return;
  }
  i = xfer__uring_table_add(&u->t, op->token, op->fd);
  if (i == XFER__URING_NIL) {
    orphan(u, op, XFER__EOPNOMEM); /* the library's, not the kernel's */
    return;
  }
  sqe = get_sqe(u);
  if (sqe == NULL) {
    /* The SQ is full and the kernel refused what is in it (the ring's
     * owner thread is another one, say): the op fails, it does not hang. */
    xfer__uring_table_remove(&u->t, i);
    orphan(u, op, -EBUSY);
    return;
  }
  e = &u->t.ents[i];
  e->kind = op->kind;
  e->opflags = op->flags;
  op->key = xfer__uring_key(&u->t, i);
  switch (op->kind) {
  case XFER__OP_CONNECT:
    /* The kernel copies the address when it takes the SQE. */
    io_uring_prep_connect(sqe, op->fd, op->addr, op->addrlen);
    break;
  case XFER__OP_SEND:
    /* MSG_NOSIGNAL: a peer that reset the connection gives -EPIPE, never
     * SIGPIPE. No MSG_WAITALL: a short send completes with its count and the
     * runtime resubmits the rest, as the seam says. */
    if (op->iovcnt == 1) {
      io_uring_prep_send(sqe, op->fd, op->iov[0].iov_base, op->iov[0].iov_len, MSG_NOSIGNAL);
    } else {
      /* The header lives in the op (priv) until the kernel has read it,
       * which it does when it takes the SQE at the next enter. */
      memset(&op->priv.msg, 0, sizeof op->priv.msg);
      op->priv.msg.msg_iov = (struct iovec *)op->iov;
      op->priv.msg.msg_iovlen = (size_t)(op->iovcnt > 0 ? op->iovcnt : 0);
      io_uring_prep_sendmsg(sqe, op->fd, &op->priv.msg, MSG_NOSIGNAL);
    }
    break;
  case XFER__OP_RECV:
    if ((op->flags & XFER__OPF_MULTISHOT) && u->multishot) {
      prep_multishot(sqe, op->fd, op->key);
      e->multishot = 1;
    } else {
      io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
      e->buf = op->buf;
    }
    break;
  default: /* XFER__OP_POLL_IN */
    io_uring_prep_poll_add(sqe, op->fd, POLLIN);
    break;
  }
  io_uring_sqe_set_data64(sqe, op->key);
}

/* Re-arms the multishot receives that -ENOBUFS stopped, once the runtime
 * holds fewer than all buffers. With DEFER_TASKRUN (the only mode that uses
 * multishot) the kernel fills buffers only inside our own enter, whose
 * completions are all reaped before the next flush, so "the runtime holds
 * fewer than all" means "the ring has one": a re-armed receive never meets an
 * empty ring and spins. The scan is over the table, and only runs while a
 * receive is parked and a buffer has come back: rare, and bounded. */
static void flush(struct uring_backend *u) {
  if (u->nparked == 0 || u->b.out >= XFER__URING_NBUFS)
    return;
  for (uint32_t i = 0; i < u->t.cap && u->nparked > 0; i++) {
    struct xfer__uring_ent *e = &u->t.ents[i];
    struct io_uring_sqe *sqe;

    if (e->state != XFER__URING_PARKED)
      continue;
    sqe = get_sqe(u);
    if (sqe == NULL)
      return; /* tried again at the next flush */
    prep_multishot(sqe, e->fd, xfer__uring_key(&u->t, i));
    e->state = XFER__URING_LIVE;
    u->nparked--;
    u->rearms++;
  }
}

/* ---- cancel and close ---- */

static int cancel_orphan(struct uring_backend *u, struct xfer__op *op) {
  struct xfer__queue *h = &u->orphans;

  for (struct xfer__queue *q = xfer__queue_head(h); q != h; q = q->next) {
    if (q == &op->link) {
      xfer__queue_remove(&op->link);
      u->norphans--;
      op->armed = 0;
      return 1;
    }
  }
  return 0;
}

static int uring_cancel(struct xfer__backend *be, struct xfer__op *op) {
  struct uring_backend *u = to_u(be);
  struct xfer__uring_ent *e;
  struct io_uring_sqe *sqe;
  uint32_t i;

  if (u->norphans > 0 && cancel_orphan(u, op))
    return 0;
  i = xfer__uring_table_find(&u->t, op->key);
  if (i == XFER__URING_NIL || u->t.ents[i].state == XFER__URING_DEAD) {
    /* Not in flight here (already completed, or its fd was closed, which
     * drops its completion): nothing will come. */
    op->armed = 0;
    return 0;
  }
  e = &u->t.ents[i];
  switch (e->state) {
  case XFER__URING_CANCELLED:
    return 1; /* its -ECANCELED is on the way already */
  case XFER__URING_PARKED:
    /* Nothing in the kernel: a NOP under the key brings the completion
     * the contract promises, at the next wait(). */
    sqe = get_sqe(u);
    if (sqe == NULL) {
      u->nparked--;
      xfer__uring_table_remove(&u->t, i);
      op->armed = 0;
      return 0;
    }
    u->nparked--;
    e->state = XFER__URING_CANCELLED;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, op->key);
    return 1;
  default: /* LIVE */
    e->state = XFER__URING_CANCELLED;
    /* Still in the SQ: it never reaches the kernel. Otherwise the kernel
     * cancels it by its user_data; the cancel's own completion is ours. If
     * no SQE can be had, the op's own completion still comes in its time
     * and is delivered as -ECANCELED all the same. */
    if (!nop_queued(u, op->key) && (sqe = get_sqe(u)) != NULL) {
      io_uring_prep_cancel64(sqe, op->key, 0);
      io_uring_sqe_set_data64(sqe, UD_CANCEL);
    }
    return 1;
  }
}

static void uring_close_fd(struct xfer__backend *be, int fd) {
  struct uring_backend *u = to_u(be);
  uint32_t i, next;
  int cancels = 0;

  if (fd < 0)
    return;
  for (i = xfer__uring_table_fd_first(&u->t, fd); i != XFER__URING_NIL; i = next) {
    struct xfer__uring_ent *e = &u->t.ents[i];
    uint64_t key = xfer__uring_key(&u->t, i);
    uint8_t state = e->state;

    next = e->fnext;
    if (state == XFER__URING_PARKED) {
      u->nparked--;
      xfer__uring_table_remove(&u->t, i);
      continue;
    }
    /* From here every completion of the op is dropped (buffers go back to
     * the ring), so nothing of the old fd reaches the runtime, even if the
     * number is reused in this very callback. */
    e->state = XFER__URING_DEAD;
    xfer__uring_table_unlink_fd(&u->t, i);
    if (nop_queued(u, key))
      continue; /* never reached the kernel: holds no file reference */
    if (state == XFER__URING_CANCELLED) {
      cancels++; /* its cancel is queued already; it must go out now too */
      continue;
    }
    /* Cancelled by user_data, not with IORING_ASYNC_CANCEL_FD: the kernel
     * resolves a cancel's fd when it takes the SQE, after the close() below,
     * when the number is free or already another socket's. */
    struct io_uring_sqe *sqe = get_sqe(u);
    if (sqe != NULL) {
      io_uring_prep_cancel64(sqe, key, 0);
      io_uring_sqe_set_data64(sqe, UD_CANCEL);
      cancels++;
    }
  }
  if (u->norphans > 0) {
    struct xfer__queue *h = &u->orphans;
    struct xfer__queue *q = xfer__queue_head(h);
    while (q != h) {
      struct xfer__op *op = xfer__container_of(q, struct xfer__op, link);
      q = q->next;
      if (op->fd == fd) {
        xfer__queue_remove(&op->link);
        u->norphans--;
        op->armed = 0;
      }
    }
  }
  /* The cancels go to the kernel now, with their completion work run
   * (GETEVENTS): an op in flight holds its own reference to the file, so
   * until it is gone the socket stays open and the peer sees no FIN, which
   * xfer_multi_remove_handle() must not leave to the next wait. It also
   * stops a send from going out later from buffers the runtime reuses once
   * this returns. One enter per close of a connection with ops in flight;
   * the completions it posts are dropped by the sweep (DEAD). */
  if (cancels > 0 && enable(u) == 0)
    (void)io_uring_submit_and_get_events(&u->ring);
  /* After the cancels, so that this close() drops the last reference and
   * the socket closes now. Not retried on EINTR (see readiness.c). */
  (void)close(fd);
}

/* ---- completions ---- */

/* Waits for u->base.batch completions, for at most u->base.batch_us, as a
 * network card moderates its interrupts: with many transfers running, each
 * wake-up then serves several answers instead of one, and the sleeps and
 * wake-ups per request fall (with DEFER_TASKRUN the kernel does not even
 * wake us before the count is reached). Returns 1 when completions came
 * (*rc set), 0 when the window passed empty: the caller then waits for the
 * first completion as usual, so an idle multi costs one extra enter per
 * wait and never spins. */
static int batched_wait(struct uring_backend *u, int *rc) {
  struct __kernel_timespec ts = {0, (long long)u->base.batch_us * 1000};
  struct io_uring_cqe *cqe;

  ts.tv_sec = ts.tv_nsec / 1000000000;
  ts.tv_nsec %= 1000000000;
  *rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, u->base.batch, &ts, NULL);
  if (*rc == -ETIME || *rc == -EINTR || *rc == -EAGAIN || *rc == -EBUSY)
    *rc = 0;
  return *rc < 0 || io_uring_cq_ready(&u->ring) > 0;
}

static void put_back(struct uring_backend *u, void *buf) { (void)xfer__uring_buf_put(&u->b, buf); }

/* One CQE. Returns 1 when something was delivered to the runtime. With
 * quiet (destroy), nothing is delivered and every buffer goes back. */
static int handle(struct uring_backend *u, uint64_t ud, int32_t res, uint32_t cflags,
                  struct xfer__pollfd *extra, unsigned nextra, int *nready, int quiet) {
  struct xfer__uring_ent *e;
  void *buf = NULL;
  unsigned flags = 0;
  int more = (cflags & IORING_CQE_F_MORE) != 0;
  uint64_t token;
  uint32_t i;
  uint8_t kind;

  if (cflags & IORING_CQE_F_BUFFER)
    buf = xfer__uring_buf_addr(&u->b, cflags >> IORING_CQE_BUFFER_SHIFT);
  if (is_reserved(ud)) {
    if (UD_KIND(ud) == 1 && UD_SEQ(ud) == u->xseq && UD_INDEX(ud) < nextra && !quiet) {
      struct xfer__pollfd *p = &extra[UD_INDEX(ud)];
      if (p->revents == 0) {
        /* poll(2) says POLLNVAL for a bad fd; io_uring fails the poll. */
        p->revents = res < 0 ? POLLNVAL : (short)res;
        *nready += p->revents != 0;
      }
    }
    if (buf)
      put_back(u, buf);
    return 0;
  }
  i = xfer__uring_table_find(&u->t, ud);
  if (i == XFER__URING_NIL) {
    /* Nothing we know of: dropped, its buffer back in the ring. */
    if (buf)
      put_back(u, buf);
    return 0;
  }
  e = &u->t.ents[i];
  token = e->token;
  kind = e->kind;
  if (quiet || e->state != XFER__URING_LIVE) {
    int32_t last = -ECANCELED;
    int deliver = !quiet && e->state == XFER__URING_CANCELLED && !more;

    /* DEAD: the fd was closed, everything is dropped. CANCELLED: bytes that
     * raced the cancel are dropped too (the runtime withdrew the op), and
     * the last completion tells the runtime the op is disarmed. */
    if (buf)
      put_back(u, buf);
    if (!more)
      xfer__uring_table_remove(&u->t, i);
    if (deliver)
      u->base.complete(u->base.ctx, token, last, NULL, 0);
    return deliver;
  }
  if (res == -ENOBUFS && e->multishot && !more) {
    /* The ring ran dry: the receive stops, the data waits in the socket.
     * Handled by re-arming at a flush once a buffer is back, never by
     * failing the transfer: the runtime does not hear of it, and the op
     * stays armed as far as it knows. */
    e->state = XFER__URING_PARKED;
    u->nparked++;
    return 0;
  }
  if (buf != NULL) {
    if (res > 0) {
      flags |= XFER__CF_BUF;
      xfer__uring_buf_lend(&u->b, buf);
    } else {
      put_back(u, buf); /* end of stream or error: no bytes to hand over */
      buf = NULL;
    }
  } else if (kind == XFER__OP_RECV) {
    buf = e->buf;
  }
  if (kind == XFER__OP_POLL_IN && res != -ECANCELED)
    res = res < 0 ? POLLERR : (int32_t)(res & (POLLIN | POLLHUP | POLLERR));
  if (more)
    flags |= XFER__CF_MORE;
  else
    xfer__uring_table_remove(&u->t, i);
  /* The entry is settled before the callback, which may cancel, close this
   * fd, reuse its number or resubmit under the same token. */
  u->base.complete(u->base.ctx, token, res, buf, flags);
  return 1;
}

/* Delivers the orphans, then every CQE in one sweep, advancing the CQ head
 * once. Callbacks run inside the sweep, so that a close_fd() from one is
 * seen by the CQEs after it (the op table drops them). Returns the number
 * delivered. */
static int reap(struct uring_backend *u, struct xfer__pollfd *extra, unsigned nextra, int *nready,
                int quiet) {
  struct io_uring_cqe *cqe;
  unsigned head, n = 0;
  int delivered = 0;

  while (u->norphans > 0) {
    struct xfer__op *op = xfer__container_of(xfer__queue_head(&u->orphans), struct xfer__op, link);
    uint64_t token = op->token;
    int32_t res = op->res;

    xfer__queue_remove(&op->link);
    u->norphans--;
    op->armed = 0;
    if (!quiet) {
      u->base.complete(u->base.ctx, token, res, NULL, 0);
      delivered++;
    }
  }
  io_uring_for_each_cqe(&u->ring, head, cqe) {
    n++;
    delivered += handle(u, cqe->user_data, cqe->res, cqe->flags, extra, nextra, nready, quiet);
  }
  io_uring_cq_advance(&u->ring, n);
  return delivered;
}

/* One enter: submits the turn's SQEs and waits up to t ms (-1: forever, 0:
 * not at all) for one CQE. Signals and timeouts are not errors. */
static int enter(struct uring_backend *u, int t) {
  struct __kernel_timespec ts;
  struct io_uring_cqe *cqe;
  int rc = enable(u);

  if (rc < 0)
    return rc;
  if (t == 0 || io_uring_cq_ready(&u->ring) > 0) {
    /* GETEVENTS without waiting: with DEFER_TASKRUN that is what runs the
     * completion work and posts its CQEs. */
    rc = io_uring_submit_and_get_events(&u->ring);
  } else if (u->base.batch > 1 && u->base.batch_us > 0 &&
             (t < 0 || (long long)t * 1000 > (long long)u->base.batch_us) && batched_wait(u, &rc)) {
    /* Something came within the batch window. */
  } else if (t < 0) {
    rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, NULL, NULL);
  } else {
    ts.tv_sec = t / 1000;
    ts.tv_nsec = (long long)(t % 1000) * 1000000;
    rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
  }
  if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
    rc = 0; /* EBUSY/EAGAIN: CQ overflow or memory pressure; reaping helps */
  return rc < 0 ? rc : 0;
}

/* The caller's extra fds become one-shot poll SQEs in this turn's
 * submission, under reserved user_data that names this call: they wake the
 * same enter as our own completions. Polling the ring fd with poll(2) would
 * cost two more syscalls per wait, and with DEFER_TASKRUN it does not even
 * wake (the ring fd becomes readable only once the completion work has run,
 * which it does only inside an enter; measured on 6.18). */
static void swap_sqes(struct io_uring_sq *sq, unsigned a, unsigned b) {
  struct io_uring_sqe *x = &sq->sqes[(sq->sqe_head + a) & sq->ring_mask];
  struct io_uring_sqe *y = &sq->sqes[(sq->sqe_head + b) & sq->ring_mask];
  struct io_uring_sqe tmp = *x;

  *x = *y;
  *y = tmp;
}

static void reverse_sqes(struct io_uring_sq *sq, unsigned from, unsigned to) {
  while (from + 1 < to) {
    to--;
    swap_sqes(sq, from, to);
    from++;
  }
}

/* Moves the last n SQEs still queued in front of the others (three
 * reversals: O(queued), no scratch). */
static void move_to_front(struct uring_backend *u, unsigned n) {
  struct io_uring_sq *sq = &u->ring.sq;
  unsigned total = sq->sqe_tail - sq->sqe_head;

  if (n == 0 || n >= total)
    return;
  reverse_sqes(sq, 0, total);
  reverse_sqes(sq, 0, n);
  reverse_sqes(sq, n, total);
}

static int arm_extras(struct uring_backend *u, struct xfer__pollfd *extra, unsigned nextra) {
  unsigned armed = 0;

  u->xseq = (uint8_t)((u->xseq + 1) & 63u);
  for (unsigned k = 0; k < nextra; k++) {
    struct io_uring_sqe *sqe;

    if (extra[k].fd < 0)
      continue; /* poll(2) ignores negative fds; so do we */
    sqe = get_sqe(u);
    if (sqe == NULL)
      return -EBUSY;
    io_uring_prep_poll_add(sqe, extra[k].fd, (unsigned)(uint16_t)extra[k].events);
    io_uring_sqe_set_data64(sqe, UD_EXTRA | ((uint64_t)u->xseq << 16) | k);
    armed++;
  }
  /* The kernel takes SQEs in order, and a RECV on data that is already
   * there completes as it is taken. An extra fd that is also one of ours
   * must see the data before our own receive consumes it, as poll(2) would
   * have: the polls go first. */
  move_to_front(u, armed);
  return 0;
}

/* The extra polls that did not fire are cancelled with the next submission;
 * whatever they still post carries this call's sequence and is dropped. */
static void disarm_extras(struct uring_backend *u, const struct xfer__pollfd *extra,
                          unsigned nextra) {
  for (unsigned k = 0; k < nextra; k++) {
    struct io_uring_sqe *sqe;

    if (extra[k].fd < 0 || extra[k].revents != 0)
      continue;
    sqe = get_sqe(u);
    if (sqe == NULL)
      return;
    io_uring_prep_cancel64(sqe, UD_EXTRA | ((uint64_t)u->xseq << 16) | k, 0);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
  }
}

static int uring_wait(struct xfer__backend *be, int timeout_ms, struct xfer__pollfd *extra,
                      unsigned nextra, int *nextra_ready) {
  struct uring_backend *u = to_u(be);
  int nready = 0;
  int rc = 0;
  int t = timeout_ms;
  uint64_t start = 0;

  if (nextra > MAX_EXTRA)
    return -EINVAL;
  for (unsigned k = 0; k < nextra; k++)
    extra[k].revents = 0;
  if (nextra > 0)
    rc = arm_extras(u, extra, nextra);
  if (t > 0)
    start = xfer__now_us();
  while (rc == 0) {
    int delivered;

    flush(u);
    if (u->norphans > 0)
      t = 0; /* completions to deliver already: ask, do not wait */
    rc = enter(u, t);
    /* Completions gathered before an error are still delivered: their I/O
     * has happened and the runtime must account for it. */
    delivered = reap(u, extra, nextra, &nready, 0);
    if (delivered > 0 || nready > 0 || t == 0)
      break;
    /* Only our own CQEs (cancels, a parked receive), or a signal: wait
     * again for what is left, so callers never return early. */
    if (t > 0) {
      uint64_t spent = xfer__now_us() - start;
      uint64_t total = (uint64_t)timeout_ms * 1000u;
      if (spent >= total)
        break;
      t = (int)((total - spent + 999u) / 1000u); /* rounded up: never early */
    }
  }
  if (nextra > 0)
    disarm_extras(u, extra, nextra);
  if (nextra_ready)
    *nextra_ready = nready;
  return rc;
}

/* The host loop saw one of our sockets ready, or its timer fire: the
 * completion work is the kernel's, so whichever fd it was, one enter that
 * submits and reaps without waiting does it all. */
static int uring_action(struct xfer__backend *be, int fd, unsigned revents) {
  (void)fd;
  (void)revents;
  return uring_wait(be, 0, NULL, 0, NULL);
}

/* Without DEFER_TASKRUN, completions are posted as the work runs and the
 * ring fd wakes a poller while they wait to be reaped. With it, the work is
 * queued for our next enter and a poller already asleep on the ring fd is
 * not woken (measured on Linux 6.18: epoll_wait on the ring fd timed out
 * with a receive's data waiting); the runtime then watches the sockets
 * instead, which stay ready until that enter. */
static int uring_pending(struct xfer__backend *be) {
  struct uring_backend *u = to_u(be);
  return io_uring_sq_ready(&u->ring) > 0 || u->norphans > 0 ||
         (u->nparked > 0 && u->b.out < XFER__URING_NBUFS);
}

static int uring_single_fd(struct xfer__backend *be) {
  struct uring_backend *u = to_u(be);
  return (u->setup_flags & IORING_SETUP_DEFER_TASKRUN) ? -1 : u->ring.ring_fd;
}

/* ---- fdset, buffers, life ---- */

/* The sockets of armed, non-internal ops, as the readiness backends report
 * them; without DEFER_TASKRUN also the ring's own fd, in the read set.
 *
 * With DEFER_TASKRUN the sockets are exact: the kernel runs completion work
 * (the recv that empties the socket, the CQE) only inside our own enter,
 * after which the sweep reaps everything, so whatever a select() caller must
 * wake for still shows as a readable or writable socket. The ring fd would
 * add nothing there (polling it does not even wake on new completion work)
 * and would leak an internal fd to the caller.
 * Without it, completion work runs at the caller's next syscall, select()
 * included: it can consume a socket's data and post the CQE while the caller
 * sleeps in select() on a socket that is no longer readable. The ring fd is
 * readable while CQEs wait to be reaped, so there it is in the read set.
 * A parked receive is left out: it waits for the runtime to release
 * buffers, not for the socket, and its data would wake select() at once,
 * forever. */
static void uring_fdset(struct xfer__backend *be, fd_set *r, fd_set *w, int *max_fd) {
  struct uring_backend *u = to_u(be);
  int n = u->t.nfd < FD_SETSIZE ? u->t.nfd : FD_SETSIZE;
  int any = 0;

  for (int fd = 0; fd < n; fd++) {
    for (uint32_t i = u->t.fd_head[fd]; i != XFER__URING_NIL; i = u->t.ents[i].fnext) {
      const struct xfer__uring_ent *e = &u->t.ents[i];
      if (e->state != XFER__URING_LIVE || (e->opflags & XFER__OPF_INTERNAL))
        continue;
      if (e->kind == XFER__OP_RECV || e->kind == XFER__OP_POLL_IN)
        FD_SET(fd, r);
      else
        FD_SET(fd, w);
      any = 1;
      if (fd > *max_fd)
        *max_fd = fd;
    }
  }
  if (any && !(u->setup_flags & IORING_SETUP_DEFER_TASKRUN) && u->ring.ring_fd < FD_SETSIZE) {
    FD_SET(u->ring.ring_fd, r);
    if (u->ring.ring_fd > *max_fd)
      *max_fd = u->ring.ring_fd;
  }
}

static void uring_release_buf(struct xfer__backend *be, void *buf) {
  struct uring_backend *u = to_u(be);

  if (buf != NULL)
    (void)xfer__uring_buf_return(&u->b, buf);
}

/* Setup flags tried in order; the first the kernel accepts wins. Probed,
 * never inferred from the kernel version (distributions backport, and
 * seccomp policies refuse regardless of version):
 *  - SINGLE_ISSUER | DEFER_TASKRUN (6.1): completion work runs only inside
 *    our enter, no task_work IPIs; measured 3.0 us of CPU per small request
 *    against 4.6 with default flags on the project VM. R_DISABLED defers the
 *    single-issuer binding to the thread that first enters (enable()).
 *    SUBMIT_ALL: one bad SQE does not hold back the rest of the turn.
 *  - COOP_TASKRUN | TASKRUN_FLAG (5.19): no IPIs either, completion work at
 *    the next syscall instead (3.1 us).
 *  - nothing: older kernels.
 * CQSIZE with each (the CQ is sized above). */
static const unsigned setups[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
        IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    0,
};

static int uring_init(struct xfer__backend **out, xfer__complete_fn complete, void *ctx) {
  struct uring_backend *u = xfer__calloc(1, sizeof *u);
  int rc = -EINVAL;

  if (u == NULL)
    return -ENOMEM;
  for (size_t k = 0; k < sizeof setups / sizeof setups[0]; k++) {
    struct io_uring_params p;

    memset(&p, 0, sizeof p);
    p.flags = setups[k] | IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    rc = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
    /* -EINVAL: flags this kernel does not know; try fewer. Anything else
     * (ENOSYS: no io_uring; EPERM: seccomp or kernel.io_uring_disabled;
     * ENOMEM) no flag combination will fix: AUTO moves on to epoll, an
     * explicit choice reports it. */
    if (rc != -EINVAL)
      break;
  }
  if (rc < 0) {
    xfer__free(u);
    return rc;
  }
  u->setup_flags = u->ring.flags;
  u->enabled = !(u->setup_flags & IORING_SETUP_R_DISABLED);
  /* Multishot receive came in 6.0 and DEFER_TASKRUN in 6.1, so a ring that
   * got DEFER_TASKRUN has it. Without DEFER_TASKRUN, receives fill op->buf
   * (the seam allows it), which also keeps the re-arm rule of flush()
   * exact. */
  u->multishot = (u->setup_flags & IORING_SETUP_DEFER_TASKRUN) != 0;
  rc = xfer__uring_bufring_init(&u->ring, &u->b);
  if (rc < 0) {
    io_uring_queue_exit(&u->ring);
    xfer__free(u);
    return rc;
  }
  xfer__uring_table_init(&u->t);
  xfer__queue_init(&u->orphans);
  u->base.vt = &xfer__backend_io_uring;
  u->base.complete = complete;
  u->base.ctx = ctx;
  *out = &u->base;
  return 0;
}

static void uring_destroy(struct xfer__backend *be) {
  struct uring_backend *u = to_u(be);
  int nready = 0;

  if (u == NULL)
    return;
  /* Ops still in the kernel (the runtime closes its fds first, but their
   * cancels may not have gone out yet) are cancelled and waited for, so
   * that no receive writes into the buffers after they are unmapped and no
   * closed socket stays open in the kernel. Never entered: nothing to do. */
  if (u->enabled) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (sqe != NULL) {
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, UD_CANCEL);
    }
    for (int k = 0; k < DRAIN_TRIES && u->t.used > u->nparked; k++) {
      if (enter(u, DRAIN_STEP_MS) < 0)
        break;
      (void)reap(u, NULL, 0, &nready, 1);
    }
  }
  io_uring_queue_exit(&u->ring);
  xfer__uring_bufring_free(&u->ring, &u->b);
  xfer__uring_table_free(&u->t);
  xfer__free(u);
}

/* The runtime flipped an armed op's INTERNAL flag: fdset reads it from the
 * table, which copied the flags at submission. */
static void uring_retag(struct xfer__backend *be, struct xfer__op *op) {
  struct uring_backend *u = (struct uring_backend *)be;
  uint32_t i = xfer__uring_table_find(&u->t, op->key);
  if (i != XFER__URING_NIL)
    u->t.ents[i].opflags = op->flags;
}

unsigned xfer__uring_setup_flags(const struct xfer__backend *be) {
  if (be == NULL || be->vt != &xfer__backend_io_uring)
    return 0;
  return ((const struct uring_backend *)be)->setup_flags;
}

void xfer__uring_stats(const struct xfer__backend *be, struct xfer__uring_stats *st) {
  const struct uring_backend *u = (const struct uring_backend *)be;

  memset(st, 0, sizeof *st);
  if (be == NULL || be->vt != &xfer__backend_io_uring)
    return;
  st->bufs_out = u->b.out;
  st->parked = u->nparked;
  st->rearms = u->rearms;
  st->ops = u->t.used;
  st->multishot = u->multishot;
  st->bad_releases = u->b.bad_releases;
}

const struct xfer__backend_vtable xfer__backend_io_uring = {
    .name = "io_uring",
    .id = XFER__BACKEND_IO_URING,
    .init = uring_init,
    .destroy = uring_destroy,
    .submit = uring_submit,
    .cancel = uring_cancel,
    .close_fd = uring_close_fd,
    .wait = uring_wait,
    .fdset = uring_fdset,
    .release_buf = uring_release_buf,
    .retag = uring_retag,
    .action = uring_action,
    .pending = uring_pending,
    .single_fd = uring_single_fd,
};

#else /* !XFER_HAVE_URING */

#include <string.h>

#include "uring.h"

/* Built without liburing: the introspection answers "nothing", so that
 * tests and tools need no #ifdef. */
unsigned xfer__uring_setup_flags(const struct xfer__backend *be) {
  (void)be;
  return 0;
}

void xfer__uring_stats(const struct xfer__backend *be, struct xfer__uring_stats *st) {
  (void)be;
  memset(st, 0, sizeof *st);
}

#endif /* XFER_HAVE_URING */
