/* The timer heap. See runtime/heap.h for the contract and
 * docs/internals/timers.md for how the runtime uses it. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "heap.h"

/* The first allocation holds this many nodes: a multi with a handful of
 * transfers then never reallocates, and 16 pointers are one or two cache
 * lines, a trivial cost for a heap that is never used. */
#define HEAP_MIN_CAP 16u

/* XFER__HEAP_NONE marks "not in a heap", so the largest usable index is one
 * below it and the array may hold at most XFER__HEAP_NONE nodes. */
#define HEAP_MAX_CAP XFER__HEAP_NONE

/* Whether a fires before b: the earlier deadline, and on equal deadlines the
 * one set first, so that equal deadlines fire first-in, first-out. */
static int before(const struct xfer__heap_node *a, const struct xfer__heap_node *b) {
  if (a->when != b->when)
    return a->when < b->when;
  return a->seq < b->seq;
}

static void place(struct xfer__heap *h, uint32_t i, struct xfer__heap_node *n) {
  h->nodes[i] = n;
  n->index = i;
}

/* Moves the node at i towards the root while it fires before its parent.
 * Returns its final index. The node is held aside and written once at the
 * end, rather than swapped at every level. */
static uint32_t sift_up(struct xfer__heap *h, uint32_t i) {
  struct xfer__heap_node *n = h->nodes[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!before(n, h->nodes[parent]))
      break;
    place(h, i, h->nodes[parent]);
    i = parent;
  }
  place(h, i, n);
  return i;
}

/* Moves the node at i towards the leaves while a child fires before it. */
static void sift_down(struct xfer__heap *h, uint32_t i) {
  struct xfer__heap_node *n = h->nodes[i];
  for (;;) {
    /* Computed in 64 bits: 2 * i + 1 overflows 32 bits for the deepest
     * indexes of a heap near HEAP_MAX_CAP. */
    uint64_t child = 2 * (uint64_t)i + 1;
    if (child >= h->len)
      break;
    if (child + 1 < h->len && before(h->nodes[child + 1], h->nodes[child]))
      child++;
    if (!before(h->nodes[child], n))
      break;
    place(h, i, h->nodes[child]);
    i = (uint32_t)child;
  }
  place(h, i, n);
}

/* Restores the heap property around i after the node there changed key or
 * was replaced: it can only need to move one way. */
static void fix(struct xfer__heap *h, uint32_t i) {
  if (sift_up(h, i) == i)
    sift_down(h, i);
}

void xfer__heap_init(struct xfer__heap *h) {
  h->nodes = NULL;
  h->len = 0;
  h->cap = 0;
  h->seq = 0;
}

void xfer__heap_free(struct xfer__heap *h) {
  /* Nodes still in the heap are marked out of it, so that their owners can
   * still call xfer__heap_remove() or xfer__heap_node_active() on them. */
  for (uint32_t i = 0; i < h->len; i++)
    h->nodes[i]->index = XFER__HEAP_NONE;
  xfer__free(h->nodes);
  xfer__heap_init(h);
}

int xfer__heap_reserve(struct xfer__heap *h, uint32_t count) {
  if (count <= h->cap)
    return 0;
  if (count > HEAP_MAX_CAP)
    return -ENOMEM;
  /* Doubling keeps the cost of growth amortised O(1) per insertion. */
  uint64_t cap = h->cap ? h->cap : HEAP_MIN_CAP;
  while (cap < count)
    cap *= 2;
  if (cap > HEAP_MAX_CAP)
    cap = HEAP_MAX_CAP;
  if (cap > SIZE_MAX / sizeof(*h->nodes))
    return -ENOMEM;
  /* realloc() leaves the old block alone when it fails, so the heap is
   * untouched on -ENOMEM. */
  struct xfer__heap_node **nodes = xfer__realloc(h->nodes, (size_t)cap * sizeof(*nodes));
  if (!nodes)
    return -ENOMEM;
  h->nodes = nodes;
  h->cap = (uint32_t)cap;
  return 0;
}

int xfer__heap_set(struct xfer__heap *h, struct xfer__heap_node *n, uint64_t when) {
  if (xfer__heap_node_active(n)) {
    /* A re-key is a new arming of the timer, so it takes a new sequence
     * number: among equal deadlines it now fires after those set earlier. */
    n->when = when;
    n->seq = h->seq++;
    fix(h, n->index);
    return 0;
  }
  if (h->len == h->cap) {
    if (h->len == HEAP_MAX_CAP)
      return -ENOMEM;
    int rc = xfer__heap_reserve(h, h->len + 1);
    if (rc < 0)
      return rc;
  }
  n->when = when;
  n->seq = h->seq++;
  place(h, h->len++, n);
  sift_up(h, n->index);
  return 0;
}

void xfer__heap_remove(struct xfer__heap *h, struct xfer__heap_node *n) {
  uint32_t i = n->index;
  /* The second test also makes a node of another heap harmless here. */
  if (i >= h->len || h->nodes[i] != n)
    return;
  n->index = XFER__HEAP_NONE;
  struct xfer__heap_node *last = h->nodes[--h->len];
  if (i == h->len)
    return;
  /* The last leaf fills the hole; it may belong above or below it. */
  place(h, i, last);
  fix(h, i);
}
