/* The timer heap: an array-backed binary min-heap whose nodes know their own
 * index, so cancelling a timer is O(log n) (libevent's min_heap_idx). Ties
 * break on insertion order, so equal deadlines fire first-in, first-out. The
 * nodes are embedded in the objects they time; the array grows by doubling
 * and never shrinks, so a steady state allocates nothing. */
#ifndef XFER_RUNTIME_HEAP_H
#define XFER_RUNTIME_HEAP_H

#include <stdint.h>

#define XFER__HEAP_NONE UINT32_MAX

struct xfer__heap_node {
  uint64_t when;  /* deadline, in the runtime's monotonic microseconds */
  uint64_t seq;   /* insertion order, for ties */
  uint32_t index; /* position in the array, XFER__HEAP_NONE when not in it */
};

struct xfer__heap {
  struct xfer__heap_node **nodes;
  uint32_t len;
  uint32_t cap;
  uint64_t seq;
};

void xfer__heap_init(struct xfer__heap *h);
void xfer__heap_free(struct xfer__heap *h);
static inline void xfer__heap_node_init(struct xfer__heap_node *n) { n->index = XFER__HEAP_NONE; }
static inline int xfer__heap_node_active(const struct xfer__heap_node *n) {
  return n->index != XFER__HEAP_NONE;
}
/* Inserts n with deadline `when`, or moves it there if already in the heap.
 * Returns 0 or -ENOMEM. */
int xfer__heap_set(struct xfer__heap *h, struct xfer__heap_node *n, uint64_t when);
/* Removes n if it is in the heap; harmless otherwise. */
void xfer__heap_remove(struct xfer__heap *h, struct xfer__heap_node *n);
/* The earliest node, or NULL. */
static inline struct xfer__heap_node *xfer__heap_min(const struct xfer__heap *h) {
  return h->len ? h->nodes[0] : (struct xfer__heap_node *)0;
}
/* Grows the array so that `count` nodes fit without allocating later. */
int xfer__heap_reserve(struct xfer__heap *h, uint32_t count);

#endif
