/* The handle table. See runtime/handles.h for the contract and
 * docs/internals/handle-table.md for the reasoning behind each memory order.
 *
 * Who writes what:
 * - chunks[], nchunks: written by the owner when it grows the table, read by
 *   any thread in get().
 * - slot->gen, slot->ptr: written by the owner in add() and remove(), read by
 *   any thread in get().
 * - slot->next_free, free_head: the free-slot stack. Today only the owner
 *   pushes and pops, but the stack is a correct lock-free (Treiber) stack, so
 *   that a later cross-thread release path can push without a lock.
 * - live: the owner's own count; never read by other threads. */
#include <errno.h>
#include <stddef.h>

#include "alloc.h"
#include "handles.h"

/* The index that ends the free stack. A real index never reaches it: the
 * directory holds at most XFER__HANDLES_MAX_CHUNKS * XFER__HANDLES_CHUNK_SIZE
 * (4 Mi) slots. */
#define FREE_END UINT32_MAX

/* A generation counts up by one at each add and each remove, so it is odd
 * while the slot is live and even while it is free. When the live generation
 * UINT32_MAX is removed the counter would wrap to 0 and later repeat a value
 * that an old token may still carry; such a slot is retired instead (kept at
 * generation 0 and never pushed back on the free stack). Generation 0 is even,
 * so no token ever names it. */
#define GEN_LAST UINT32_MAX

static uint32_t token_index(uint64_t token) { return (uint32_t)token; }

static uint32_t token_gen(uint64_t token) { return (uint32_t)(token >> 32); }

static uint64_t head_pack(uint64_t tag, uint32_t index) { return (tag << 32) | index; }

static uint32_t head_index(uint64_t head) { return (uint32_t)head; }

static uint64_t head_tag(uint64_t head) { return head >> 32; }

/* The slot of index, or NULL when no chunk holds it. Safe on any thread: the
 * bound is the fixed size of the directory, so it needs no load, and the
 * acquire load of the chunk pointer pairs with the release store in grow(),
 * which makes the chunk's initialised slots visible before their address. */
static struct xfer__handle_slot *slot_at(struct xfer__handles *t, uint32_t index) {
  uint32_t c = index >> XFER__HANDLES_CHUNK_BITS;
  if (c >= XFER__HANDLES_MAX_CHUNKS)
    return NULL;
  struct xfer__handle_slot *chunk = atomic_load_explicit(&t->chunks[c], memory_order_acquire);
  if (!chunk)
    return NULL;
  return &chunk[index & (XFER__HANDLES_CHUNK_SIZE - 1)];
}

/* Pushes the chain first..last (already linked through next_free) on the
 * free stack. The release half of the CAS publishes the next_free store, so
 * a popper that acquires the new head reads the right successor. The tag is
 * bumped on every change of the head, pushes included, so a popper that
 * loaded the head before this push cannot succeed with a stale successor. */
static void push_chain(struct xfer__handles *t, uint32_t first, struct xfer__handle_slot *last) {
  uint64_t head = atomic_load_explicit(&t->free_head, memory_order_relaxed);
  for (;;) {
    atomic_store_explicit(&last->next_free, head_index(head), memory_order_relaxed);
    uint64_t next = head_pack(head_tag(head) + 1, first);
    if (atomic_compare_exchange_weak_explicit(&t->free_head, &head, next, memory_order_release,
                                              memory_order_relaxed))
      return;
  }
}

/* Pops a free slot index, or FREE_END when the stack is empty. The acquire
 * load pairs with push_chain()'s release so next_free is read as pushed. The
 * tag in the head makes the CAS fail when the head slot was popped and pushed
 * back in between (the ABA case), because next_free read from it may then be
 * out of date. Reading next_free of a slot some other thread has just popped
 * is harmless: chunks are never freed while the table lives, and the CAS
 * discards the value. */
static uint32_t pop(struct xfer__handles *t) {
  uint64_t head = atomic_load_explicit(&t->free_head, memory_order_acquire);
  for (;;) {
    uint32_t index = head_index(head);
    if (index == FREE_END)
      return FREE_END;
    struct xfer__handle_slot *s = slot_at(t, index);
    uint32_t succ = atomic_load_explicit(&s->next_free, memory_order_relaxed);
    uint64_t next = head_pack(head_tag(head) + 1, succ);
    if (atomic_compare_exchange_weak_explicit(&t->free_head, &head, next, memory_order_acquire,
                                              memory_order_acquire))
      return index;
  }
}

/* Adds one chunk and pushes its slots on the free stack. Owner thread only:
 * two concurrent growers would claim the same directory entry. */
static int grow(struct xfer__handles *t) {
  uint32_t c = atomic_load_explicit(&t->nchunks, memory_order_relaxed);
  if (c >= XFER__HANDLES_MAX_CHUNKS)
    return -ENOMEM;
  struct xfer__handle_slot *chunk = xfer__calloc(XFER__HANDLES_CHUNK_SIZE, sizeof(*chunk));
  if (!chunk)
    return -ENOMEM;
  uint32_t base = c << XFER__HANDLES_CHUNK_BITS;
  /* The slots are initialised before the chunk is published, so plain
   * atomic_init is enough: nobody can see them yet. Linking them in index
   * order makes the first add after a grow take the lowest new index. */
  for (uint32_t i = 0; i < XFER__HANDLES_CHUNK_SIZE; i++) {
    atomic_init(&chunk[i].gen, 0);
    atomic_init(&chunk[i].ptr, NULL);
    atomic_init(&chunk[i].next_free, base + i + 1);
  }
  /* Publish the chunk before its slots can be popped or named by a token:
   * a reader's acquire load of chunks[c] then sees the initialised slots. */
  atomic_store_explicit(&t->chunks[c], chunk, memory_order_release);
  atomic_store_explicit(&t->nchunks, c + 1, memory_order_release);
  push_chain(t, base, &chunk[XFER__HANDLES_CHUNK_SIZE - 1]);
  return 0;
}

void xfer__handles_init(struct xfer__handles *t) {
  for (uint32_t c = 0; c < XFER__HANDLES_MAX_CHUNKS; c++)
    atomic_init(&t->chunks[c], NULL);
  atomic_init(&t->nchunks, 0);
  atomic_init(&t->free_head, head_pack(0, FREE_END));
  t->live = 0;
}

void xfer__handles_destroy(struct xfer__handles *t) {
  uint32_t n = atomic_load_explicit(&t->nchunks, memory_order_relaxed);
  for (uint32_t c = 0; c < n; c++) {
    xfer__free(atomic_load_explicit(&t->chunks[c], memory_order_relaxed));
    atomic_store_explicit(&t->chunks[c], NULL, memory_order_relaxed);
  }
  atomic_store_explicit(&t->nchunks, 0, memory_order_relaxed);
  atomic_store_explicit(&t->free_head, head_pack(0, FREE_END), memory_order_relaxed);
  t->live = 0;
}

int xfer__handles_add(struct xfer__handles *t, void *ptr, uint64_t *token) {
  uint32_t index = pop(t);
  if (index == FREE_END) {
    int rc = grow(t);
    if (rc < 0)
      return rc;
    index = pop(t);
    /* Only a second popper could have emptied the stack again; with one
     * owner this never happens, but failing beats indexing past the table. */
    if (index == FREE_END)
      return -ENOMEM;
  }
  struct xfer__handle_slot *s = slot_at(t, index);
  /* Only the owner writes gen, so its own relaxed load is exact. */
  uint32_t gen = atomic_load_explicit(&s->gen, memory_order_relaxed) + 1;
  /* Release on ptr: a reader that loads this ptr with acquire also sees the
   * generation bump of the remove() that freed the slot before (sequenced
   * before this store), so its second look at gen cannot still match an
   * older token. This is what stops get() from handing a stale token the
   * pointer of a later generation. */
  atomic_store_explicit(&s->ptr, ptr, memory_order_release);
  /* Release on gen: a reader whose acquire load sees the new generation also
   * sees ptr as stored above, never the previous occupant's value. */
  atomic_store_explicit(&s->gen, gen, memory_order_release);
  t->live++;
  *token = ((uint64_t)gen << 32) | index;
  return 0;
}

void xfer__handles_remove(struct xfer__handles *t, uint64_t token) {
  uint32_t gen = token_gen(token);
  if (!(gen & 1u))
    return;
  struct xfer__handle_slot *s = slot_at(t, token_index(token));
  if (!s || atomic_load_explicit(&s->gen, memory_order_relaxed) != gen)
    return;
  /* The generation goes first: from this store on, a reader's first or
   * second look at gen rejects the token. Relaxed is enough for the readers'
   * sake, because the next add() orders it with its release store of ptr;
   * release is used anyway so that a reader that sees the even generation
   * also sees everything the owner did before removing the entry. Clearing
   * ptr keeps a dangling pointer out of the table; a reader that loads the
   * NULL returns NULL whatever it then sees in gen. */
  atomic_store_explicit(&s->gen, gen + 1, memory_order_release);
  atomic_store_explicit(&s->ptr, NULL, memory_order_relaxed);
  t->live--;
  if (gen == GEN_LAST)
    return; /* retired: gen is now 0, see GEN_LAST */
  push_chain(t, token_index(token), s);
}

void *xfer__handles_get(struct xfer__handles *t, uint64_t token) {
  uint32_t gen = token_gen(token);
  /* An even generation is never live; this also rejects token 0. */
  if (!(gen & 1u))
    return NULL;
  struct xfer__handle_slot *s = slot_at(t, token_index(token));
  if (!s)
    return NULL;
  /* A seqlock-style read: generation, pointer, generation again. The first
   * acquire pairs with add()'s release of gen, so ptr is at least the value
   * stored for this generation. It may be newer, if the owner removed the
   * entry and re-used the slot meanwhile; the acquire load of ptr then makes
   * the later generation visible, and the second load of gen sees it and
   * rejects the token. The second load needs no ordering of its own: the
   * acquire on ptr already keeps it from moving before that load. */
  if (atomic_load_explicit(&s->gen, memory_order_acquire) != gen)
    return NULL;
  void *ptr = atomic_load_explicit(&s->ptr, memory_order_acquire);
  if (atomic_load_explicit(&s->gen, memory_order_relaxed) != gen)
    return NULL;
  return ptr;
}
