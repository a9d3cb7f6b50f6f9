/* The one seam between the runtime and the I/O mechanism.
 *
 * The seam is shaped for completions, not readiness (see
 * docs/internals/backends.md): the runtime *submits* operations that are
 * embedded in its connection objects and is told, in batches, when each one
 * *completed* and with what result. io_uring maps onto this directly; poll and
 * epoll emulate it by performing the recv()/send()/connect() themselves when
 * the fd is ready and then posting the completion.
 *
 * Rules every backend keeps:
 *  - submit() never performs a completion callback: completions are delivered
 *    only from inside wait(), so the runtime never re-enters itself.
 *  - Submissions and interest changes are batched and flushed once per wait().
 *  - close_fd() in the middle of a dispatch is safe: events already gathered
 *    for that fd are dropped, even if the fd number is reused at once.
 *  - An op is owned by the backend from submit() until its last completion
 *    or until cancel() returns 0; the runtime must not touch its buffers then.
 *  - A completion names its op only by the token (io_uring's user_data), so
 *    the backend never touches an op's memory after submission: the runtime
 *    clears op->armed itself when it takes a completion without
 *    XFER__CF_MORE. (Readiness backends also clear it; that is harmless.)
 *  - After close_fd() nothing more is delivered for ops on that fd; after
 *    cancel() returns 1 exactly one completion, with -ECANCELED, follows.
 *  - A token is not reused while an older op under it is outstanding (the
 *    handle table's generations guarantee it), and user_data values with
 *    any of the top 40 bits set are the backend's own.
 */
#ifndef XFER_BACKENDS_BACKEND_H
#define XFER_BACKENDS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "../runtime/queue.h"

/* Backend identifiers: the same numbers as the public XFER_BACKEND_* values. */
enum xfer__backend_id {
  XFER__BACKEND_AUTO = 0,
  XFER__BACKEND_POLL = 1,
  XFER__BACKEND_EPOLL = 2,
  XFER__BACKEND_IO_URING = 3,
};

enum xfer__op_kind {
  XFER__OP_NONE = 0,
  /* Connects op->fd (a non-blocking socket) to op->addr: res is 0 or
   * -errno. The backend starts the connect itself (io_uring's
   * IORING_OP_CONNECT; connect(2) and a wait for writability otherwise). */
  XFER__OP_CONNECT = 1,
  /* Sends op->iov[0..iovcnt): res is the number of bytes written (it may be
   * fewer than asked; the runtime resubmits the rest) or -errno. Never raises
   * SIGPIPE. */
  XFER__OP_SEND = 2,
  /* Receives at most op->len bytes into op->buf: res is the byte count, 0 at
   * end of stream, or -errno. */
  XFER__OP_RECV = 3,
  /* Completes when the fd is readable, has hung up or has an error: res is a
   * poll(2) revents mask (POLLIN, POLLHUP, POLLERR). Used for idle pooled
   * connections (a FIN or stray bytes on them means they are dead) and for
   * the runtime's own eventfds. */
  XFER__OP_POLL_IN = 4,
};

/* Op flags set by the runtime. */
enum {
  /* Not one of the transfers' fds: left out of fdset() and of the count of
   * fds that xfer_multi_wait() waits on (the wakeup eventfd, idle watches). */
  XFER__OPF_INTERNAL = 1u << 0,
  /* For a RECV: the runtime accepts completions in buffers of the backend's
   * own (a provided-buffer ring) and more than one completion per
   * submission (multishot). A backend may ignore it and fill op->buf. */
  XFER__OPF_MULTISHOT = 1u << 1,
};

/* Flags of a completion. */
enum {
  /* The op stays armed: more completions of it will come (multishot). */
  XFER__CF_MORE = 1u << 0,
  /* buf is a buffer of the backend's, valid until the runtime hands it back
   * with release_buf(); it must be handed back even when the completion is
   * stale or the transfer is gone. */
  XFER__CF_BUF = 1u << 1,
};

struct xfer__op {
  /* Returned untouched with the completion. The runtime packs the op kind, a
   * handle-table slot and its generation into it, so that a completion for a
   * connection that has since been freed and recycled is recognised as stale
   * (io_uring delivers such completions; see handles.h). */
  uint64_t token;
  int fd;
  uint8_t kind;  /* enum xfer__op_kind */
  uint8_t flags; /* XFER__OPF_* */
  /* Set by the backend from submit() to completion or cancellation. */
  uint8_t armed;
  /* XFER__OP_SEND */
  const struct iovec *iov;
  int iovcnt;
  /* XFER__OP_RECV */
  void *buf;
  size_t len;
  /* XFER__OP_CONNECT: required (a CONNECT without one fails with -EINVAL) */
  const struct sockaddr *addr;
  socklen_t addrlen;
  /* Private to the backend: its submission and ready lists, and scratch
   * that lives as long as the op (io_uring keeps a sendmsg header here). */
  struct xfer__queue link;
  int32_t res;
  /* io_uring: the key of its op-table entry, so that cancel() and retag()
   * find it without a search. */
  uint64_t key;
  union {
    struct msghdr msg;
    uint64_t words[8];
  } priv;
};

/* Called by wait() once per completion. buf is where a RECV completion's
 * bytes are: op->buf for readiness backends; with XFER__CF_BUF a buffer of
 * the backend's (io_uring's provided-buffer ring), handed back with
 * release_buf(). flags: XFER__CF_*. */
typedef void (*xfer__complete_fn)(void *ctx, uint64_t token, int32_t res, void *buf,
                                  unsigned flags);

/* A caller's extra fd for xfer_multi_poll/wait: events and revents use the
 * poll(2) bits. */
struct xfer__pollfd {
  int fd;
  short events;
  short revents;
};

struct xfer__backend;

struct xfer__backend_vtable {
  const char *name; /* "poll", "epoll", "io_uring" */
  enum xfer__backend_id id;
  /* Creates a backend instance. Returns 0, or -errno when this kernel or
   * process cannot provide it (the registry then tries the next one). */
  int (*init)(struct xfer__backend **out, xfer__complete_fn complete, void *ctx);
  /* Frees the instance. Does not close the fds it still knows about: the
   * runtime closes its own fds through close_fd() first. */
  void (*destroy)(struct xfer__backend *be);
  /* Queues op; it takes effect at the next wait(). */
  void (*submit)(struct xfer__backend *be, struct xfer__op *op);
  /* Withdraws an armed op. Returns 0 when the op is disarmed now and no
   * completion will come, 1 when a completion (with -ECANCELED) will still be
   * delivered by a later wait() (io_uring). */
  int (*cancel)(struct xfer__backend *be, struct xfer__op *op);
  /* Cancels every op on fd (no completions for them) and closes it. */
  void (*close_fd)(struct xfer__backend *be, int fd);
  /* Flushes submissions, waits up to timeout_ms (-1: forever, 0: no wait)
   * for completions or for one of extra[] to become ready, and delivers the
   * completions. *nextra_ready gets the number of extra fds with revents.
   * Returns 0 or -errno (EINTR is handled inside). */
  int (*wait)(struct xfer__backend *be, int timeout_ms, struct xfer__pollfd *extra, unsigned nextra,
              int *nextra_ready);
  /* Adds the fds of armed non-internal ops to r (RECV, POLL_IN) and w
   * (SEND, CONNECT) and raises *max_fd. */
  void (*fdset)(struct xfer__backend *be, fd_set *r, fd_set *w, int *max_fd);
  /* Hands back a buffer a completion delivered with XFER__CF_BUF. NULL for
   * backends that never deliver one. */
  void (*release_buf)(struct xfer__backend *be, void *buf);
  /* The runtime changed op->flags (XFER__OPF_INTERNAL) of an op that stays
   * armed: a multishot receive that becomes, or stops being, an idle
   * connection's watch. NULL for backends that read op->flags when they
   * need them. */
  void (*retag)(struct xfer__backend *be, struct xfer__op *op);
  /* For a host event loop (xfer_multi_socket_action): flushes submissions
   * and delivers every completion that is ready now, never blocking. fd >= 0
   * with revents (poll(2) bits) is readiness the host loop saw on one of
   * the runtime's fds, which a readiness backend turns into the I/O of the
   * ops waiting there; -1 when there is none. Returns 0 or -errno. */
  int (*action)(struct xfer__backend *be, int fd, unsigned revents);
  /* Whether a wait(0) now would have something to hand the kernel: sends,
   * submissions, interest changes, errors to post. A re-armed receive whose
   * interest is already registered is not: the perform loop then skips the
   * kernel call altogether. */
  int (*pending)(struct xfer__backend *be);
  /* The one fd a host loop can watch for all of this backend's work
   * (XFERMOPT_SINGLE_FD): it wakes a poller whenever wait(0) would find
   * something. -1 when the backend has none (poll), or none that wakes
   * (io_uring with DEFER_TASKRUN, whose sockets are watched instead). */
  int (*single_fd)(struct xfer__backend *be);
};

struct xfer__backend {
  const struct xfer__backend_vtable *vt;
  xfer__complete_fn complete;
  void *ctx;
  /* Set by the runtime before each wait(): how many completions are worth
   * waiting for together (1: the first), and for how long at most, in
   * microseconds (XFERMOPT_BATCH_WAIT_US). A backend that cannot wait for
   * several at once ignores both. */
  unsigned batch;
  unsigned batch_us;
};

extern const struct xfer__backend_vtable xfer__backend_poll;
extern const struct xfer__backend_vtable xfer__backend_epoll;
#ifdef XFER_HAVE_URING
extern const struct xfer__backend_vtable xfer__backend_io_uring;
#endif

/* The registry (backend.c). Creates the backend `want` (XFER__BACKEND_AUTO
 * picks the first one that initialises, in preference order). An explicit
 * choice that cannot be provided is an error, never a silent substitute:
 * -ENOTSUP when not built in, or the init error. */
int xfer__backend_create(enum xfer__backend_id want, xfer__complete_fn complete, void *ctx,
                         struct xfer__backend **out);
/* The XFER_BACKEND environment variable as a backend id: AUTO when unset,
 * -EINVAL when set to an unknown name. */
int xfer__backend_from_env(void);
/* Whether this build has the backend compiled in. */
int xfer__backend_built_in(enum xfer__backend_id id);
const char *xfer__backend_name(enum xfer__backend_id id);
/* "poll,epoll" etc.: the backends compiled in, for xfer_version(). */
const char *xfer__backend_list(void);

#endif
