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
#include "pool.h"
#include "queue.h"

#define XFER__MULTI_MAGIC 0x78666d4du /* "xfmM" */

struct xfer_multi {
  uint32_t magic;
  uint64_t id;                 /* unique in the process: never reused */
  struct xfer__backend *be;
  enum xfer__backend_id backend_id;
  unsigned backend_chosen : 1; /* by XFERMOPT_BACKEND or the environment */
  unsigned waited : 1;         /* poll/wait ran since the last perform */
  unsigned in_callback;        /* depth of application callbacks */
  struct xfer__handles conns;  /* token -> connection */
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
  unsigned nmsgs;
  uint64_t now;                 /* monotonic us, read once per turn */
  uint64_t turn;
  uint64_t last_wait;           /* monotonic us when the backend last gathered events */
  unsigned submitted;           /* ops submitted since the last backend wait */
  unsigned nevents;             /* completions seen by the current wait */
  unsigned woken : 1;           /* the wakeup eventfd fired */
  unsigned dns_ready : 1;       /* a resolver thread posted an answer */
  /* Wakeup: an eventfd watched by an internal POLL_IN op. */
  /* The extra fds of a poll/wait beyond what fits on the stack; grown only
   * when a caller passes more than ever before. */
  struct xfer__pollfd *wait_pf;
  unsigned wait_pf_cap;
  int wakeup_fd;
  struct xfer__op wakeup_op;
  atomic_int wakeup_pending;
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
