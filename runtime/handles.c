/* The handle table. See runtime/handles.h for the contract and
 * docs/internals/handle-table.md for the reasoning. */
#include <errno.h>
#include <stddef.h>

#include "alloc.h"
#include "handles.h"

/* The index that ends the free list. A real index never reaches it: the
 * directory holds at most XFER__HANDLES_MAX_CHUNKS * XFER__HANDLES_CHUNK_SIZE
 * (4 Mi) slots. */
#define FREE_END UINT32_MAX

/* A generation counts up by one at each add and each remove, so it is odd
 * while the slot is live and even while it is free. When the live generation
 * UINT32_MAX is removed the counter would wrap to 0 and later repeat a value
 * that an old token may still carry; such a slot is retired instead (kept at
 * generation 0 and never put back on the free list). Generation 0 is even,
 * so no token ever names it. */
#define GEN_LAST UINT32_MAX

static uint32_t token_index(uint64_t token) { return (uint32_t)token; }

static uint32_t token_gen(uint64_t token) { return (uint32_t)(token >> 32); }

/* The slot of index, or NULL when no chunk holds it. */
static struct xfer__handle_slot *slot_at(struct xfer__handles *t, uint32_t index) {
  uint32_t c = index >> XFER__HANDLES_CHUNK_BITS;
  if (c >= XFER__HANDLES_MAX_CHUNKS || !t->chunks[c])
    return NULL;
  return &t->chunks[c][index & (XFER__HANDLES_CHUNK_SIZE - 1)];
}

/* Adds one chunk, its slots linked in index order on the free list, so that
 * the first add after a grow takes the lowest new index. */
static int grow(struct xfer__handles *t) {
  uint32_t c = t->nchunks;
  if (c >= XFER__HANDLES_MAX_CHUNKS)
    return -ENOMEM;
  struct xfer__handle_slot *chunk = xfer__calloc(XFER__HANDLES_CHUNK_SIZE, sizeof(*chunk));
  if (!chunk)
    return -ENOMEM;
  uint32_t base = c << XFER__HANDLES_CHUNK_BITS;
  for (uint32_t i = 0; i < XFER__HANDLES_CHUNK_SIZE; i++)
    chunk[i].next_free = base + i + 1;
  chunk[XFER__HANDLES_CHUNK_SIZE - 1].next_free = t->free_head;
  t->chunks[c] = chunk;
  t->nchunks = c + 1;
  t->free_head = base;
  return 0;
}

void xfer__handles_init(struct xfer__handles *t) {
  for (uint32_t c = 0; c < XFER__HANDLES_MAX_CHUNKS; c++)
    t->chunks[c] = NULL;
  t->nchunks = 0;
  t->free_head = FREE_END;
  t->live = 0;
}

void xfer__handles_destroy(struct xfer__handles *t) {
  for (uint32_t c = 0; c < t->nchunks; c++) {
    xfer__free(t->chunks[c]);
    t->chunks[c] = NULL;
  }
  t->nchunks = 0;
  t->free_head = FREE_END;
  t->live = 0;
}

int xfer__handles_add(struct xfer__handles *t, void *ptr, uint64_t *token) {
  if (t->free_head == FREE_END) {
    int rc = grow(t);
    if (rc < 0)
      return rc;
  }
  uint32_t index = t->free_head;
  struct xfer__handle_slot *s = slot_at(t, index);
  t->free_head = s->next_free;
  s->gen++;
  s->ptr = ptr;
  t->live++;
  *token = ((uint64_t)s->gen << 32) | index;
  return 0;
}

void xfer__handles_remove(struct xfer__handles *t, uint64_t token) {
  uint32_t gen = token_gen(token);
  if (!(gen & 1u))
    return;
  struct xfer__handle_slot *s = slot_at(t, token_index(token));
  if (!s || s->gen != gen)
    return;
  s->gen = gen + 1; /* every token of this generation is stale from now on */
  s->ptr = NULL;
  t->live--;
  if (gen == GEN_LAST)
    return; /* retired: gen is now 0, see GEN_LAST */
  s->next_free = t->free_head;
  t->free_head = token_index(token);
}

void *xfer__handles_get(struct xfer__handles *t, uint64_t token) {
  uint32_t gen = token_gen(token);
  /* An even generation is never live; this also rejects token 0. */
  if (!(gen & 1u))
    return NULL;
  struct xfer__handle_slot *s = slot_at(t, token_index(token));
  if (!s || s->gen != gen)
    return NULL;
  return s->ptr;
}
