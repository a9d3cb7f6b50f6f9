/* An intrusive multi-producer, single-consumer queue without locks
 * (D. Vyukov's, as used by many runtimes): producers on any thread push with
 * one atomic exchange and one store, the single consumer pops with plain
 * loads. Order is FIFO per producer; pushes by different producers are
 * taken in the order their exchanges happened.
 *
 * A push is two steps (swing the tail, then link the previous node to the
 * new one); a consumer that comes between them sees the queue end early and
 * returns NULL. Nothing is lost: the node is linked a moment later, and the
 * producer's wakeup, sent after the push, brings the consumer back. */
#ifndef XFER_RUNTIME_MPSC_H
#define XFER_RUNTIME_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

struct xfer__mpsc_node {
  _Atomic(struct xfer__mpsc_node *) next;
};

struct xfer__mpsc {
  _Atomic(struct xfer__mpsc_node *) tail; /* producers swing it */
  struct xfer__mpsc_node *head;           /* the consumer's own */
  struct xfer__mpsc_node stub;            /* keeps the queue non-empty */
};

static inline void xfer__mpsc_init(struct xfer__mpsc *q) {
  atomic_init(&q->stub.next, NULL);
  atomic_init(&q->tail, &q->stub);
  q->head = &q->stub;
}

/* Any thread. The release half of the exchange publishes what the producer
 * wrote before it (the node, and the object around it) to the consumer,
 * whose acquire load of the link pairs with the store that follows. */
static inline void xfer__mpsc_push(struct xfer__mpsc *q, struct xfer__mpsc_node *n) {
  atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
  struct xfer__mpsc_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_acq_rel);
  atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* The consumer thread only. The oldest node, or NULL when the queue is
 * empty or a push is half done (see above). */
static inline struct xfer__mpsc_node *xfer__mpsc_pop(struct xfer__mpsc *q) {
  struct xfer__mpsc_node *head = q->head;
  struct xfer__mpsc_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
  if (head == &q->stub) {
    if (!next)
      return NULL;
    q->head = next;
    head = next;
    next = atomic_load_explicit(&next->next, memory_order_acquire);
  }
  if (next) {
    q->head = next;
    return head;
  }
  /* head is the last node: it can be taken only with the stub behind it,
   * so that the queue never becomes truly empty for the producers. */
  if (head != atomic_load_explicit(&q->tail, memory_order_acquire))
    return NULL; /* a producer is between its two steps */
  xfer__mpsc_push(q, &q->stub);
  next = atomic_load_explicit(&head->next, memory_order_acquire);
  if (next) {
    q->head = next;
    return head;
  }
  return NULL;
}

#endif
