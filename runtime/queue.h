/* An intrusive circular doubly linked list, shaped after libuv's queue.h:
 * the links live inside the objects, so linking and unlinking never
 * allocate. An empty queue points at itself. */
#ifndef XFER_RUNTIME_QUEUE_H
#define XFER_RUNTIME_QUEUE_H

#include <stddef.h>

struct xfer__queue {
  struct xfer__queue *next;
  struct xfer__queue *prev;
};

#define xfer__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void xfer__queue_init(struct xfer__queue *q) {
  q->next = q;
  q->prev = q;
}

static inline int xfer__queue_empty(const struct xfer__queue *q) { return q->next == q; }

static inline struct xfer__queue *xfer__queue_head(const struct xfer__queue *q) { return q->next; }

/* Append at the tail: FIFO order when consumed from the head. */
static inline void xfer__queue_insert_tail(struct xfer__queue *h, struct xfer__queue *q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

/* Insert at the head: LIFO order when consumed from the head. */
static inline void xfer__queue_insert_head(struct xfer__queue *h, struct xfer__queue *q) {
  q->next = h->next;
  q->prev = h;
  q->next->prev = q;
  h->next = q;
}

/* Unlinks q and leaves it self-linked, so removing twice is harmless and
 * "is it linked?" is just !xfer__queue_empty(q). */
static inline void xfer__queue_remove(struct xfer__queue *q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  q->next = q;
  q->prev = q;
}

#define xfer__queue_foreach(q, h) for ((q) = (h)->next; (q) != (h); (q) = (q)->next)

#endif
