/* The multi handle: the loop that drives every transfer added to it. */
#ifndef XFER_RUNTIME_MULTI_H
#define XFER_RUNTIME_MULTI_H

#include <stdatomic.h>
#include <stdint.h>

#include "xfer/xfer.h"
#include "../backends/backend.h"
#include "dns.h"
#include "easy.h"
#include "handles.h"
#include "heap.h"
#include "mpsc.h"
#include "pool.h"
#include "queue.h"

#define XFER__MULTI_MAGIC 0x78666d4du /* "xfmM" */

/* Waiting for completions in batches (XFERMOPT_BATCH_WAIT_US, see
 * docs/internals/backends.md "Batched waits"). 50 us: on the 2-vCPU test
 * VM, 50, 100 and 200 us saved the same client CPU per request (13 B
 * bodies, 64 connections, nginx), so the smallest bounds the added latency
 * best; one second bounds a typing mistake. */
#define XFER__BATCH_WAIT_US_DEFAULT 50u
#define XFER__BATCH_WAIT_US_MAX     1000000L
/* One completion is waited for per XFER__BATCH_PER running transfers, so
 * that at most an eighth of the answers due wait in the kernel while the
 * rest keep the server busy; batching starts at two (16 transfers) and
 * stops growing at XFER__BATCH_MAX, past which longer batches save little
 * and only add latency. */
#define XFER__BATCH_PER             8u
#define XFER__BATCH_MAX             16u

struct xfer_multi {
  uint32_t magic;
  uint64_t id; /* unique in the process: never reused */
  struct xfer__backend *be;
  enum xfer__backend_id backend_id;
  unsigned waited : 1;        /* poll/wait ran since the last perform */
  unsigned in_callback;       /* depth of application callbacks */
  struct xfer__handles conns; /* token -> connection */
  struct xfer__pool pool;
  struct xfer__dns dns;
  struct xfer__heap timers;
  struct xfer__queue easies;    /* every added handle */
  struct xfer__queue ready;     /* transfers to run at the next turn */
  struct xfer__queue pending;   /* transfers waiting for a connection, FIFO */
  struct xfer__queue completed; /* connections with completions to process */
  struct xfer__queue msgs;      /* finished transfers whose message is unread */
  struct xfer__queue tls_ctxs;  /* one TLS context per distinct TLS key */
  unsigned nadded;
  unsigned nrunning;
  unsigned npending; /* of them, queued for a connection (m->pending) */
  unsigned nmsgs;
  uint64_t now; /* monotonic us, read once per turn */
  uint64_t turn;
  uint64_t last_wait;     /* monotonic us when the backend last gathered events */
  unsigned submitted;     /* ops submitted since the last backend wait */
  unsigned nevents;       /* completions seen by the current wait */
  unsigned woken : 1;     /* the wakeup eventfd fired */
  unsigned dns_ready : 1; /* a resolver thread posted an answer */
  /* Wakeup: an eventfd watched by an internal POLL_IN op. */
  /* The extra fds of a poll/wait beyond what fits on the stack; grown only
   * when a caller passes more than ever before. */
  struct xfer__pollfd *wait_pf;
  unsigned wait_pf_cap;
  int wakeup_fd;
  struct xfer__op wakeup_op;
  /* Easy handles posted from other threads (multi_post.c). */
  struct xfer__mpsc posts;
  /* The event API (multi_socket.c). */
  xfer_socket_callback socket_cb;
  void *socket_data;
  xfer_multi_timer_callback timer_cb;
  void *timer_data;
  struct xfer__sock *socks; /* by fd number; grown, never shrunk */
  int nsocks;
  int *sock_dirty; /* fds whose interest to recompute at the flush */
  int nsock_dirty;
  unsigned ngrace;                /* idle fds (or the single fd) in their call of grace */
  uint64_t timer_when;            /* the deadline the timer callback was last told */
  unsigned timer_stale : 1;       /* the timer callback refused: tell it again */
  unsigned cb_failed : 1;         /* a socket or timer callback refused in this call */
  unsigned socks_lost : 1;        /* no memory to track an fd: its transfer must fail */
  unsigned socks_had_running : 1; /* transfers ran at the last flush */
  unsigned single_fd : 1;         /* XFERMOPT_SINGLE_FD */
  uint8_t single_grace;           /* as xfer__sock.grace, for the single fd */
  unsigned announce_wakeup : 1;   /* XFERMOPT_ANNOUNCE_WAKEUP */
  unsigned batch_wait_us;         /* XFERMOPT_BATCH_WAIT_US */
  unsigned wakeup_refused : 1;    /* the socket callback refused the wakeup fd */
  uint8_t single_announced;
  void *single_sockp;
  int sock_epfd; /* single-fd mode's own epoll set, or -1 */
};

/* What the host loop was told about one fd. */
struct xfer__sock {
  struct xfer__op *rd; /* the fd's read-side op (RECV, POLL_IN), if any */
  struct xfer__op *wr; /* its write-side op (SEND, CONNECT) */
  void *sockp;         /* xfer_multi_assign() */
  uint8_t announced;   /* XFER_POLL_IN/OUT bits the host watches */
  uint8_t dirty;       /* on sock_dirty */
  uint8_t grace;       /* idle and announced: 1 + the timer calls seen idle */
  uint8_t told;        /* in the multi's own epoll set (single-fd mode) */
};

static inline int xfer__multi_valid(const struct xfer_multi *m) {
  return m && m->magic == XFER__MULTI_MAGIC;
}

/* Marks an armed op internal (an idle watch) or not, and tells the backend. */
void xfer__multi_retag(struct xfer_multi *m, struct xfer__op *op, int internal);
/* Submits an op to the backend and notes it for the next flush. */
void xfer__multi_submit(struct xfer_multi *m, struct xfer__op *op);
/* Backend completion callback: records the result on the connection and
 * queues it for the next turn; runs no transfer code. */
void xfer__multi_on_complete(void *ctx, uint64_t token, int32_t res, void *buf, unsigned flags);
/* One turn of work without waiting: process completions, run ready
 * transfers and expired timers. */
void xfer__multi_run(struct xfer_multi *m);
/* Milliseconds until the multi needs to run again: 0 now, -1 never. */
long xfer__multi_timeout_ms(struct xfer_multi *m);
/* Whether any transfer waits on a socket (for xfer_multi_wait). */
int xfer__multi_has_io(const struct xfer_multi *m);

/* xfer_multi_add_handle without the checks of an API entry: the owner
 * thread's own adds and the take-up of posted handles. */
xfer_mcode xfer__multi_add(struct xfer_multi *m, struct xfer_easy *e);
/* Reads the wakeup eventfd empty and watches it again. */
void xfer__multi_drain_wakeup(struct xfer_multi *m);
/* Adds the handles other threads posted, oldest first (multi_post.c). */
void xfer__multi_take_posts_slow(struct xfer_multi *m);
/* Called at every perform, poll and socket_action: the empty queue (the
 * stub alone, no push under way) is told by two loads, without a call. */
static inline void xfer__multi_take_posts(struct xfer_multi *m) {
  if (m->posts.head != &m->posts.stub ||
      atomic_load_explicit(&m->posts.tail, memory_order_acquire) != &m->posts.stub)
    xfer__multi_take_posts_slow(m);
}

/* Withdraws an armed op (the backend's cancel), noting it for the host loop. */
int xfer__multi_cancel(struct xfer_multi *m, struct xfer__op *op);
/* Closes one of the runtime's fds, telling the host loop first. */
void xfer__multi_close_fd(struct xfer_multi *m, int fd);

/* The event API's bookkeeping (multi_socket.c). */
/* An op was submitted, completed, cancelled or retagged: its fd's interest
 * is recomputed at the next flush. Called for every op of every request:
 * without a socket callback it costs one load, inline. */
void xfer__socks_note_slow(struct xfer_multi *m, struct xfer__op *op);
static inline void xfer__socks_note(struct xfer_multi *m, struct xfer__op *op) {
  if (m->socket_cb)
    xfer__socks_note_slow(m, op);
}
/* fd is about to close: XFER_POLL_REMOVE if the host watches it. */
void xfer__socks_forget(struct xfer_multi *m, int fd);
/* Tells the host what changed. expire: this is the timer's call (or a
 * perform), which ends the grace of idle fds. */
void xfer__socks_flush(struct xfer_multi *m, int expire);
/* XFERMOPT_SINGLE_FD on or off. Returns 0, -ENOTSUP on the poll backend, or
 * -errno when the multi's own epoll set cannot be made. */
int xfer__socks_single(struct xfer_multi *m, int on);
void xfer__socks_destroy(struct xfer_multi *m);
/* Tells the timer callback the multi's next deadline if it changed (or
 * always, with force). Returns 0, or -1 when the callback refused. */
int xfer__timer_update(struct xfer_multi *m, int force);
/* The end of every API call that may change what the host watches: socket
 * and timer callbacks for what changed (expire and force_timer: this is the
 * timer's call, see xfer__socks_flush and xfer__timer_update). XFERM_ABORTED_BY_CALLBACK when one
 * of them refused in this call (the transfers concerned have failed). */
xfer_mcode xfer__multi_settle_slow(struct xfer_multi *m, int expire, int force_timer);
/* Without socket and timer callbacks there is nothing to tell: the
 * perform loop pays two loads, not a call. */
static inline xfer_mcode xfer__multi_settle(struct xfer_multi *m, int expire, int force_timer) {
  if (!m->socket_cb && !m->timer_cb && !m->cb_failed)
    return XFERM_OK;
  return xfer__multi_settle_slow(m, expire, force_timer);
}
/* Fails every running transfer with XFERE_ABORTED_BY_CALLBACK. */
void xfer__multi_fail_all(struct xfer_multi *m, const char *why, ...);

/* Transfer engine (transfer.c). */
void xfer__transfer_start(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_run(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_conn_event(struct xfer_multi *m, struct xfer__conn *c);
void xfer__transfer_timeout(struct xfer_multi *m, struct xfer_easy *e);
void xfer__transfer_resolved(struct xfer_multi *m, struct xfer_easy *e, int err);
/* Stops a transfer where it is, without a message (remove_handle). */
void xfer__transfer_abort(struct xfer_multi *m, struct xfer_easy *e);
/* A pending transfer may go on: a connection slot freed up for it. */
void xfer__transfer_promote(struct xfer_multi *m);
void xfer__transfer_set_timer(struct xfer_multi *m, struct xfer_easy *e);

#endif
