/* Completion emulation shared by the two readiness backends, poll and epoll.
 *
 * The seam (backend.h) speaks in completed operations; poll(2) and epoll(7)
 * only say "this fd is ready". This module bridges the two once, so that
 * poll.c and epoll.c hold nothing but what really differs between them: how
 * interest is told to the kernel and how the wait is made.
 *
 * Per fd there is one slot, in an array indexed by the fd and grown only when
 * a higher fd appears (steady state allocates nothing). A slot holds at most
 * one read-side op (RECV or POLL_IN) and one write-side op (SEND or CONNECT).
 * An op is "attached" to its slot from submit() until its completion is
 * delivered or it is cancelled; its link is then in at most one of:
 *  - sendq: a SEND not tried yet (wait() tries it at once, optimistically);
 *  - cq: completed, to be delivered at the end of this wait();
 *  - nothing: waiting for readiness.
 * Ops that could not be attached (no memory to grow the table, or the side
 * already taken) sit on the orphans list and complete with that error.
 *
 * A wait() runs: flush (optimistic sends, then one interest update per
 * touched fd), one blocking call, the I/O of every ready op (posting into cq),
 * and only then the callbacks. Because every gathered event has been turned
 * into a posted completion before the first callback runs, close_fd() from a
 * callback only needs to pull that fd's ops out of cq: nothing else of this
 * wait() can still refer to the fd, even if its number is reused at once. */
#ifndef XFER_BACKENDS_READINESS_H
#define XFER_BACKENDS_READINESS_H

#include <stdint.h>

#include "backend.h"

struct xfer__readiness;

struct xfer__readiness_fd {
  struct xfer__op *rd; /* RECV or POLL_IN */
  struct xfer__op *wr; /* SEND or CONNECT */
  /* Interest (POLLIN, POLLOUT) the kernel has for this fd now, so that the
   * flush only talks to the kernel about fds whose interest really changed. */
  uint16_t registered;
  uint8_t dirty; /* on the dirty list: interest to recompute at the flush */
  int32_t index; /* poll backend: position in its pollfd array, or -1 */
};

/* What a readiness backend provides to the shared code. */
struct xfer__readiness_ops {
  /* Makes the kernel's interest for fd equal to want (POLLIN|POLLOUT, or 0:
   * forget the fd). Returns 0 or -errno; on success the caller records want
   * as the fd's registered interest. */
  int (*apply)(struct xfer__readiness *r, int fd, struct xfer__readiness_fd *s, unsigned want);
  /* Blocks up to timeout_ms (-1: forever) in the kernel, calls
   * xfer__readiness_ready() for every ready fd of ours and sets the revents
   * of extra[], counting the ready ones in *nextra_ready. Returns 0, or
   * -errno (-EINTR included: the caller retries with what is left). */
  int (*poll)(struct xfer__readiness *r, int timeout_ms, struct xfer__pollfd *extra,
              unsigned nextra, int *nextra_ready);
};

struct xfer__readiness {
  struct xfer__backend base; /* first: the seam hands us this pointer */
  const struct xfer__readiness_ops *ops;
  struct xfer__readiness_fd *fds;
  int nfds;   /* slots in fds[], one per fd number below it */
  int *dirty; /* fds to recompute; room for nfds entries */
  int ndirty;
  struct xfer__queue sendq;
  struct xfer__queue cq;
  struct xfer__queue orphans;
  /* Orphans not yet delivered (on orphans or cq): close_fd() scans for them
   * only when there are any. */
  unsigned nloose;
  /* The previous wait() returned posted completions without asking the
   * kernel; the next one must ask, so that no fd starves. */
  uint8_t skipped_poll;
};

void xfer__readiness_init(struct xfer__readiness *r, const struct xfer__backend_vtable *vt,
                          const struct xfer__readiness_ops *ops, xfer__complete_fn complete,
                          void *ctx);
/* Frees the slot table; the backend frees the rest and r itself. */
void xfer__readiness_free(struct xfer__readiness *r);

/* Performs the I/O of fd's waiting ops that revents (poll(2) bits) allows and
 * posts their completions. Called by ops->poll only, before any callback. */
void xfer__readiness_ready(struct xfer__readiness *r, int fd, unsigned revents);

/* The seam's functions, shared by both backends' vtables. */
void xfer__readiness_submit(struct xfer__backend *be, struct xfer__op *op);
int xfer__readiness_cancel(struct xfer__backend *be, struct xfer__op *op);
void xfer__readiness_close_fd(struct xfer__backend *be, int fd);
int xfer__readiness_wait(struct xfer__backend *be, int timeout_ms, struct xfer__pollfd *extra,
                         unsigned nextra, int *nextra_ready);
int xfer__readiness_action(struct xfer__backend *be, int fd, unsigned revents);
int xfer__readiness_pending(struct xfer__backend *be);
void xfer__readiness_fdset(struct xfer__backend *be, fd_set *r, fd_set *w, int *max_fd);

#endif
