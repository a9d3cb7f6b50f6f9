/* The timer heap: order against a sorted reference, FIFO ties, removal and
 * re-keying anywhere in the heap with the invariant checked after every
 * operation, and its allocation behaviour (reserve, doubling, -ENOMEM). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/heap.h"

/* A fixed-seed xorshift64 generator: the same sequence on every libc, so a
 * failure reproduces exactly. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed) { rng_state = seed ? seed : 1; }

static uint64_t rng_next(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return x;
}

static uint32_t rng_below(uint32_t n) { return (uint32_t)(rng_next() % n); }

/* The realloc hook counts calls and can be told to fail, so the tests can see
 * whether the heap allocated and how it copes when it cannot. */
static unsigned realloc_calls;
static int realloc_fail;

static void *counting_realloc(void *ptr, size_t size) {
  realloc_calls++;
  if (realloc_fail)
    return NULL;
  return realloc(ptr, size);
}

static void hooks_install(void) {
  realloc_calls = 0;
  realloc_fail = 0;
  xfer__alloc_set(malloc, free, counting_realloc, strdup, calloc);
}

static void hooks_restore(void) { xfer__alloc_set(malloc, free, realloc, strdup, calloc); }

TestSuite(heap, .init = hooks_install, .fini = hooks_restore);

static int fires_before(const struct xfer__heap_node *a, const struct xfer__heap_node *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* The heap property and the index back-links, over the whole array. */
static void check_invariant(const struct xfer__heap *h) {
  cr_assert_leq(h->len, h->cap);
  for (uint32_t i = 0; i < h->len; i++) {
    cr_assert_not_null(h->nodes[i]);
    cr_assert_eq(h->nodes[i]->index, i, "node at %u records index %u", i, h->nodes[i]->index);
    if (i > 0)
      cr_assert(!fires_before(h->nodes[i], h->nodes[(i - 1) / 2]),
                "node %u fires before its parent", i);
  }
}

/* Removes and returns the earliest node, as the runtime's timer sweep does. */
static struct xfer__heap_node *pop_min(struct xfer__heap *h) {
  struct xfer__heap_node *n = xfer__heap_min(h);
  if (n)
    xfer__heap_remove(h, n);
  return n;
}

/* A node with its insertion number, for a stable sort of the reference. */
struct item {
  struct xfer__heap_node node;
  uint32_t order;
};

static int item_cmp(const void *pa, const void *pb) {
  const struct item *a = *(const struct item *const *)pa;
  const struct item *b = *(const struct item *const *)pb;
  if (a->node.when != b->node.when)
    return a->node.when < b->node.when ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* 2,000 nodes: enough for an 11-level heap, small enough to check the whole
 * invariant after every insertion. */
#define ORDER_N 2000u

static void check_order_against_reference(uint32_t key_range) {
  static struct item items[ORDER_N];
  static struct item *ref[ORDER_N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  for (uint32_t i = 0; i < ORDER_N; i++) {
    xfer__heap_node_init(&items[i].node);
    items[i].order = i;
    cr_assert_eq(xfer__heap_set(&h, &items[i].node, rng_below(key_range)), 0);
    check_invariant(&h);
    ref[i] = &items[i];
  }
  /* A stable sort by deadline is exactly the FIFO order promised for ties. */
  qsort(ref, ORDER_N, sizeof(ref[0]), item_cmp);
  for (uint32_t i = 0; i < ORDER_N; i++) {
    struct xfer__heap_node *n = pop_min(&h);
    cr_assert_eq(n, &ref[i]->node, "pop %u: when %llu, expected when %llu", i,
                 (unsigned long long)n->when, (unsigned long long)ref[i]->node.when);
    cr_assert(!xfer__heap_node_active(n));
    check_invariant(&h);
  }
  cr_assert_null(xfer__heap_min(&h));
  xfer__heap_free(&h);
}

Test(heap, order_matches_sorted_reference_wide_keys) {
  rng_seed(0x5eed0001);
  /* Keys spread over 2^30 values: ties are rare, ordering is by deadline. */
  check_order_against_reference(1u << 30);
}

Test(heap, order_matches_sorted_reference_many_ties) {
  rng_seed(0x5eed0002);
  /* 64 distinct deadlines for 2,000 nodes: about 30 nodes per deadline, so
   * the tie-break is exercised throughout the heap. */
  check_order_against_reference(64);
}

Test(heap, equal_deadlines_fire_first_in_first_out) {
  enum { N = 100 };
  struct xfer__heap_node nodes[N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  for (int i = 0; i < N; i++) {
    xfer__heap_node_init(&nodes[i]);
    cr_assert_eq(xfer__heap_set(&h, &nodes[i], 1000), 0);
  }
  /* Re-arming the first node at the same deadline sends it to the back. */
  cr_assert_eq(xfer__heap_set(&h, &nodes[0], 1000), 0);
  check_invariant(&h);
  for (int i = 1; i < N; i++)
    cr_assert_eq(pop_min(&h), &nodes[i], "pop %d out of FIFO order", i);
  cr_assert_eq(pop_min(&h), &nodes[0]);
  cr_assert_null(pop_min(&h));
  xfer__heap_free(&h);
}

Test(heap, remove_from_the_middle_keeps_the_heap_property) {
  enum { N = 500 };
  static struct item items[N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  rng_seed(0x5eed0003);
  for (uint32_t i = 0; i < N; i++) {
    xfer__heap_node_init(&items[i].node);
    cr_assert_eq(xfer__heap_set(&h, &items[i].node, rng_below(10000)), 0);
  }
  check_invariant(&h);
  /* Remove half the nodes, always from inside the array (never the root or
   * the last leaf while others remain), checking after each removal. */
  for (uint32_t k = 0; k < N / 2; k++) {
    uint32_t i = 1 + rng_below(h.len - 2);
    struct xfer__heap_node *n = h.nodes[i];
    xfer__heap_remove(&h, n);
    cr_assert(!xfer__heap_node_active(n));
    check_invariant(&h);
  }
  cr_assert_eq(h.len, N - N / 2);
  /* What is left still comes out in order. */
  struct xfer__heap_node *prev = pop_min(&h);
  for (uint32_t k = 1; k < N - N / 2; k++) {
    struct xfer__heap_node *n = pop_min(&h);
    cr_assert(fires_before(prev, n));
    check_invariant(&h);
    prev = n;
  }
  cr_assert_eq(h.len, 0);
  xfer__heap_free(&h);
}

Test(heap, rekey_moves_a_node_up_and_down) {
  enum { N = 64 };
  struct xfer__heap_node nodes[N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  for (int i = 0; i < N; i++) {
    xfer__heap_node_init(&nodes[i]);
    cr_assert_eq(xfer__heap_set(&h, &nodes[i], 100 + (uint64_t)i * 10), 0);
  }
  cr_assert_eq(xfer__heap_min(&h), &nodes[0]);

  /* Down: the earliest node moves past every other one. */
  cr_assert_eq(xfer__heap_set(&h, &nodes[0], 100000), 0);
  check_invariant(&h);
  cr_assert_eq(h.len, N, "a re-key must not insert a second copy");
  cr_assert_eq(xfer__heap_min(&h), &nodes[1]);

  /* Up: a leaf becomes the earliest. */
  cr_assert_eq(xfer__heap_set(&h, &nodes[N - 1], 1), 0);
  check_invariant(&h);
  cr_assert_eq(xfer__heap_min(&h), &nodes[N - 1]);

  /* Sideways: a middle node moved between two neighbours. */
  cr_assert_eq(xfer__heap_set(&h, &nodes[30], 105), 0);
  check_invariant(&h);

  cr_assert_eq(pop_min(&h), &nodes[N - 1]);
  cr_assert_eq(pop_min(&h), &nodes[30]);
  cr_assert_eq(pop_min(&h), &nodes[1]);
  struct xfer__heap_node *last = NULL;
  for (int k = 0; k < N - 3; k++)
    last = pop_min(&h);
  cr_assert_eq(last, &nodes[0]);
  xfer__heap_free(&h);
}

/* A random mix of inserts, re-keys and removals, each followed by a full
 * invariant check and a comparison of the minimum with a linear scan. */
Test(heap, random_operations_against_brute_force_minimum) {
  enum { N = 300, OPS = 20000 };
  static struct xfer__heap_node nodes[N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  rng_seed(0x5eed0004);
  for (int i = 0; i < N; i++)
    xfer__heap_node_init(&nodes[i]);
  for (int op = 0; op < OPS; op++) {
    struct xfer__heap_node *n = &nodes[rng_below(N)];
    if (rng_below(4) == 0)
      xfer__heap_remove(&h, n);
    else
      cr_assert_eq(xfer__heap_set(&h, n, rng_below(1000)), 0);
    check_invariant(&h);
    const struct xfer__heap_node *want = NULL;
    uint32_t active = 0;
    for (int i = 0; i < N; i++) {
      if (!xfer__heap_node_active(&nodes[i]))
        continue;
      active++;
      if (!want || fires_before(&nodes[i], want))
        want = &nodes[i];
    }
    cr_assert_eq(active, h.len);
    cr_assert_eq(xfer__heap_min(&h), want, "op %d: wrong minimum", op);
  }
  xfer__heap_free(&h);
}

Test(heap, removing_an_absent_node_is_harmless) {
  struct xfer__heap h, other;
  struct xfer__heap_node a, b, never, foreign;
  xfer__heap_init(&h);
  xfer__heap_init(&other);
  xfer__heap_node_init(&a);
  xfer__heap_node_init(&b);
  xfer__heap_node_init(&never);
  xfer__heap_node_init(&foreign);

  /* On an empty heap. */
  xfer__heap_remove(&h, &never);
  cr_assert_eq(h.len, 0);

  cr_assert_eq(xfer__heap_set(&h, &a, 10), 0);
  cr_assert_eq(xfer__heap_set(&h, &b, 20), 0);
  /* A node never inserted. */
  xfer__heap_remove(&h, &never);
  /* A node removed twice. */
  xfer__heap_remove(&h, &b);
  xfer__heap_remove(&h, &b);
  cr_assert_eq(h.len, 1);
  cr_assert_eq(xfer__heap_min(&h), &a);
  /* A node that lives in another heap, at an index this heap also has. */
  cr_assert_eq(xfer__heap_set(&other, &foreign, 5), 0);
  cr_assert_eq(foreign.index, 0);
  xfer__heap_remove(&h, &foreign);
  cr_assert_eq(h.len, 1);
  cr_assert_eq(xfer__heap_min(&h), &a);
  cr_assert(xfer__heap_node_active(&foreign));
  check_invariant(&h);

  xfer__heap_free(&h);
  xfer__heap_free(&other);
  /* Freeing a heap marks its nodes out of it, so this stays harmless. */
  cr_assert(!xfer__heap_node_active(&a));
  cr_assert(!xfer__heap_node_active(&foreign));
  xfer__heap_remove(&h, &a);
}

Test(heap, reserve_then_no_reallocation) {
  enum { N = 1000 };
  static struct xfer__heap_node nodes[N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  cr_assert_eq(xfer__heap_reserve(&h, N), 0);
  cr_assert_eq(realloc_calls, 1);
  cr_assert_geq(h.cap, N);
  /* A smaller or equal reservation is already satisfied. */
  cr_assert_eq(xfer__heap_reserve(&h, N / 2), 0);
  cr_assert_eq(xfer__heap_reserve(&h, N), 0);
  cr_assert_eq(realloc_calls, 1);

  rng_seed(0x5eed0005);
  for (int i = 0; i < N; i++) {
    xfer__heap_node_init(&nodes[i]);
    cr_assert_eq(xfer__heap_set(&h, &nodes[i], rng_below(5000)), 0);
  }
  /* Steady state: re-arming, cancelling and re-inserting never allocate. */
  for (int round = 0; round < 3 * N; round++) {
    struct xfer__heap_node *n = &nodes[rng_below(N)];
    if (round % 3 == 0)
      xfer__heap_remove(&h, n);
    cr_assert_eq(xfer__heap_set(&h, n, rng_below(5000)), 0);
  }
  check_invariant(&h);
  cr_assert_eq(realloc_calls, 1, "the heap reallocated after reserve()");
  xfer__heap_free(&h);
}

Test(heap, growth_doubles) {
  enum { N = 1000 };
  static struct xfer__heap_node nodes[N];
  struct xfer__heap h;
  xfer__heap_init(&h);
  uint32_t cap = 0;
  unsigned grows = 0;
  for (int i = 0; i < N; i++) {
    xfer__heap_node_init(&nodes[i]);
    cr_assert_eq(xfer__heap_set(&h, &nodes[i], (uint64_t)(N - i)), 0);
    if (h.cap != cap) {
      cr_assert(cap == 0 || h.cap == 2 * cap, "capacity went from %u to %u", cap, h.cap);
      cap = h.cap;
      grows++;
    }
  }
  cr_assert_eq(realloc_calls, grows);
  /* Doubling from any start reaches 1,000 in at most 10 steps (2^10 = 1024). */
  cr_assert_leq(grows, 10);
  check_invariant(&h);
  xfer__heap_free(&h);
}

Test(heap, enomem_leaves_the_heap_intact) {
  struct xfer__heap h;
  xfer__heap_init(&h);
  struct xfer__heap_node first;
  xfer__heap_node_init(&first);

  /* The very first insertion fails: the heap stays empty and usable. */
  realloc_fail = 1;
  cr_assert_eq(xfer__heap_set(&h, &first, 1), -ENOMEM);
  cr_assert(!xfer__heap_node_active(&first));
  cr_assert_eq(h.len, 0);
  cr_assert_null(h.nodes);
  realloc_fail = 0;

  /* Fill the array exactly, so the next insertion must grow it. */
  enum { N = 64 };
  struct xfer__heap_node nodes[N + 1];
  cr_assert_eq(xfer__heap_reserve(&h, N), 0);
  uint32_t cap = h.cap;
  cr_assert_eq(cap, N, "reserve(%d) from empty should double 16 up to exactly %d", N, N);
  rng_seed(0x5eed0006);
  /* Deadlines start at 1, so that the re-key to 0 below is the unique
   * earliest. */
  for (uint32_t i = 0; i < cap; i++) {
    xfer__heap_node_init(&nodes[i]);
    cr_assert_eq(xfer__heap_set(&h, &nodes[i], 1 + rng_below(100)), 0);
  }
  cr_assert_eq(h.len, h.cap);
  struct xfer__heap_node **array = h.nodes;

  realloc_fail = 1;
  struct xfer__heap_node extra;
  xfer__heap_node_init(&extra);
  cr_assert_eq(xfer__heap_set(&h, &extra, 0), -ENOMEM);
  cr_assert(!xfer__heap_node_active(&extra));
  cr_assert_eq(xfer__heap_reserve(&h, 2 * cap), -ENOMEM);
  cr_assert_eq(h.len, cap);
  cr_assert_eq(h.cap, cap);
  cr_assert_eq(h.nodes, array);
  check_invariant(&h);
  /* Re-keys and removals need no memory and still work. */
  cr_assert_eq(xfer__heap_set(&h, &nodes[5], 0), 0);
  cr_assert_eq(xfer__heap_min(&h), &nodes[5]);
  xfer__heap_remove(&h, &nodes[7]);
  check_invariant(&h);
  realloc_fail = 0;

  /* Once memory is back, the failed node goes in and everything pops in
   * order. */
  cr_assert_eq(xfer__heap_set(&h, &extra, 0), 0);
  check_invariant(&h);
  struct xfer__heap_node *prev = pop_min(&h);
  cr_assert_eq(prev, &nodes[5]);
  for (uint32_t k = 1; k < cap; k++) {
    struct xfer__heap_node *n = pop_min(&h);
    cr_assert_not_null(n);
    cr_assert(fires_before(prev, n));
    prev = n;
  }
  cr_assert_null(pop_min(&h));
  xfer__heap_free(&h);
}
