/* The handle table: tokens, staleness, bounds, slot reuse, growth across
 * chunks, allocation failure, generation exhaustion, and churn. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/handles.h"

static uint64_t make_token(uint32_t gen, uint32_t index) { return ((uint64_t)gen << 32) | index; }

static uint32_t tok_index(uint64_t token) { return (uint32_t)token; }

static uint32_t tok_gen(uint64_t token) { return (uint32_t)(token >> 32); }

/* The table is 32 KiB of directory; tests keep theirs in static storage
 * rather than on the stack. Each Criterion test runs in its own process, so
 * sharing one object between tests is safe. */
static struct xfer__handles table;

static void *calloc_fail(size_t nmemb, size_t size) {
  (void)nmemb;
  (void)size;
  return NULL;
}

static void hooks_default(void) { xfer__alloc_set(malloc, free, realloc, strdup, calloc); }

static void hooks_failing_calloc(void) {
  xfer__alloc_set(malloc, free, realloc, strdup, calloc_fail);
}

TestSuite(handles, .init = hooks_default, .fini = hooks_default);

Test(handles, add_get_remove) {
  int a, b, c;
  uint64_t ta, tb, tc;
  xfer__handles_init(&table);
  cr_assert_eq(xfer__handles_add(&table, &a, &ta), 0);
  cr_assert_eq(xfer__handles_add(&table, &b, &tb), 0);
  cr_assert_eq(xfer__handles_add(&table, &c, &tc), 0);
  cr_assert_eq(table.live, 3);
  cr_assert(ta != tb && tb != tc && ta != tc);
  const uint64_t all[] = {ta, tb, tc};
  for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
    cr_assert_neq(all[k], 0);
    cr_assert(tok_gen(all[k]) & 1u, "a live token has an odd generation");
  }
  cr_assert_eq(xfer__handles_get(&table, ta), &a);
  cr_assert_eq(xfer__handles_get(&table, tb), &b);
  cr_assert_eq(xfer__handles_get(&table, tc), &c);

  xfer__handles_remove(&table, tb);
  cr_assert_eq(table.live, 2);
  cr_assert_null(xfer__handles_get(&table, tb));
  cr_assert_eq(xfer__handles_get(&table, ta), &a);
  cr_assert_eq(xfer__handles_get(&table, tc), &c);
  xfer__handles_remove(&table, ta);
  xfer__handles_remove(&table, tc);
  cr_assert_eq(table.live, 0);
  cr_assert_null(xfer__handles_get(&table, ta));
  cr_assert_null(xfer__handles_get(&table, tc));
  xfer__handles_destroy(&table);
}

Test(handles, stale_token_after_remove_and_reuse) {
  int a, b;
  uint64_t ta, tb;
  xfer__handles_init(&table);
  cr_assert_eq(xfer__handles_add(&table, &a, &ta), 0);
  xfer__handles_remove(&table, ta);
  cr_assert_null(xfer__handles_get(&table, ta));

  /* The free stack is LIFO, so the slot comes straight back; the token must
   * differ by its generation alone. */
  cr_assert_eq(xfer__handles_add(&table, &b, &tb), 0);
  cr_assert_eq(tok_index(tb), tok_index(ta));
  cr_assert_neq(tb, ta);
  cr_assert(tok_gen(tb) & 1u);
  cr_assert_null(xfer__handles_get(&table, ta), "a stale token reached the new entry");
  cr_assert_eq(xfer__handles_get(&table, tb), &b);

  /* Removing through the stale token must not touch the new entry, and a
   * second remove of the same token is a no-op. */
  xfer__handles_remove(&table, ta);
  cr_assert_eq(xfer__handles_get(&table, tb), &b);
  cr_assert_eq(table.live, 1);
  xfer__handles_remove(&table, tb);
  xfer__handles_remove(&table, tb);
  cr_assert_eq(table.live, 0);
  cr_assert_null(xfer__handles_get(&table, tb));
  xfer__handles_destroy(&table);
}

Test(handles, token_zero_and_out_of_range_indexes) {
  int a;
  uint64_t ta;
  xfer__handles_init(&table);
  /* Before the first chunk exists. */
  cr_assert_null(xfer__handles_get(&table, 0));
  cr_assert_null(xfer__handles_get(&table, make_token(1, 0)));
  xfer__handles_remove(&table, make_token(1, 0));

  cr_assert_eq(xfer__handles_add(&table, &a, &ta), 0);
  uint32_t gen = tok_gen(ta), index = tok_index(ta);
  const uint64_t bad[] = {
      0,
      make_token(0, index),       /* generation 0 is never in a token */
      make_token(gen + 1, index), /* even: the free state */
      make_token(gen + 2, index), /* a future generation */
      make_token(gen, index + 1), /* a free slot of the same chunk */
      make_token(gen, XFER__HANDLES_CHUNK_SIZE - 1),
      make_token(gen, XFER__HANDLES_CHUNK_SIZE), /* a chunk not allocated yet */
      make_token(gen, XFER__HANDLES_MAX_CHUNKS * XFER__HANDLES_CHUNK_SIZE - 1),
      make_token(gen, XFER__HANDLES_MAX_CHUNKS * XFER__HANDLES_CHUNK_SIZE), /* past the directory */
      make_token(gen, UINT32_MAX),
      make_token(UINT32_MAX, UINT32_MAX),
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cr_assert_null(xfer__handles_get(&table, bad[i]), "token %zu (%#llx) resolved", i,
                   (unsigned long long)bad[i]);
    xfer__handles_remove(&table, bad[i]);
    cr_assert_eq(table.live, 1, "removing bad token %zu changed the table", i);
  }
  cr_assert_eq(xfer__handles_get(&table, ta), &a);
  xfer__handles_destroy(&table);
}

/* 5,000 entries span five chunks of 1,024: growth past several chunks, with
 * every earlier entry still reachable after each new chunk appears. */
#define GROW_N 5000u

Test(handles, growth_past_several_chunks) {
  static char objs[GROW_N];
  static uint64_t toks[GROW_N];
  xfer__handles_init(&table);
  for (uint32_t i = 0; i < GROW_N; i++) {
    cr_assert_eq(xfer__handles_add(&table, &objs[i], &toks[i]), 0);
    /* Spot-check the oldest entries while later chunks are being added. */
    cr_assert_eq(xfer__handles_get(&table, toks[i / 2]), &objs[i / 2]);
  }
  uint32_t chunks = (GROW_N + XFER__HANDLES_CHUNK_SIZE - 1) / XFER__HANDLES_CHUNK_SIZE;
  cr_assert_eq(table.nchunks, chunks);
  cr_assert_eq(table.live, GROW_N);
  for (uint32_t i = 0; i < GROW_N; i++) {
    cr_assert_eq(xfer__handles_get(&table, toks[i]), &objs[i], "entry %u", i);
    for (uint32_t j = 0; j < i && j < 8; j++)
      cr_assert_neq(toks[i], toks[j]);
  }

  /* Free every other entry and fill the holes again: no new chunk, new
   * tokens, old ones stale. */
  for (uint32_t i = 0; i < GROW_N; i += 2)
    xfer__handles_remove(&table, toks[i]);
  cr_assert_eq(table.live, GROW_N / 2);
  for (uint32_t i = 0; i < GROW_N; i += 2) {
    uint64_t old = toks[i];
    cr_assert_null(xfer__handles_get(&table, old));
    cr_assert_eq(xfer__handles_add(&table, &objs[i], &toks[i]), 0);
    cr_assert_neq(toks[i], old);
  }
  cr_assert_eq(table.nchunks, chunks, "re-adding into holes grew the table");
  for (uint32_t i = 0; i < GROW_N; i++)
    cr_assert_eq(xfer__handles_get(&table, toks[i]), &objs[i], "entry %u after refill", i);
  xfer__handles_destroy(&table);
}

Test(handles, enomem_when_a_chunk_cannot_be_allocated) {
  static char objs[XFER__HANDLES_CHUNK_SIZE];
  static uint64_t toks[XFER__HANDLES_CHUNK_SIZE];
  uint64_t tok = 0;
  xfer__handles_init(&table);

  /* The first add allocates the first chunk. */
  hooks_failing_calloc();
  cr_assert_eq(xfer__handles_add(&table, &objs[0], &tok), -ENOMEM);
  cr_assert_eq(table.live, 0);
  hooks_default();

  /* Fill one chunk exactly; the next add needs a second one. */
  for (uint32_t i = 0; i < XFER__HANDLES_CHUNK_SIZE; i++)
    cr_assert_eq(xfer__handles_add(&table, &objs[i], &toks[i]), 0);
  hooks_failing_calloc();
  cr_assert_eq(xfer__handles_add(&table, &objs[0], &tok), -ENOMEM);
  cr_assert_eq(table.live, XFER__HANDLES_CHUNK_SIZE);
  cr_assert_eq(table.nchunks, 1);
  for (uint32_t i = 0; i < XFER__HANDLES_CHUNK_SIZE; i++)
    cr_assert_eq(xfer__handles_get(&table, toks[i]), &objs[i]);
  /* A freed slot is reused without allocating. */
  xfer__handles_remove(&table, toks[7]);
  cr_assert_eq(xfer__handles_add(&table, &objs[7], &toks[7]), 0);
  cr_assert_eq(xfer__handles_get(&table, toks[7]), &objs[7]);
  hooks_default();
  cr_assert_eq(xfer__handles_add(&table, &objs[0], &tok), 0);
  cr_assert_eq(table.nchunks, 2);
  xfer__handles_destroy(&table);
}

/* A slot whose generation would wrap is retired, so no old token can ever
 * match it again. Reaching UINT32_MAX by counting would take 2^31 reuses; the
 * test sets the free slot's generation directly instead. */
Test(handles, exhausted_generation_retires_the_slot) {
  int a, b, c;
  uint64_t ta, tb, tc;
  xfer__handles_init(&table);
  cr_assert_eq(xfer__handles_add(&table, &a, &ta), 0);
  xfer__handles_remove(&table, ta);
  struct xfer__handle_slot *s = &table.chunks[0][tok_index(ta)];
  s->gen = UINT32_MAX - 1; /* even: still free */

  cr_assert_eq(xfer__handles_add(&table, &b, &tb), 0);
  cr_assert_eq(tok_index(tb), tok_index(ta));
  cr_assert_eq(tok_gen(tb), UINT32_MAX);
  cr_assert_eq(xfer__handles_get(&table, tb), &b);
  xfer__handles_remove(&table, tb);
  cr_assert_null(xfer__handles_get(&table, tb));
  cr_assert_eq(table.live, 0);

  cr_assert_eq(xfer__handles_add(&table, &c, &tc), 0);
  cr_assert_neq(tok_index(tc), tok_index(tb), "a retired slot was reused");
  cr_assert_eq(xfer__handles_get(&table, tc), &c);
  /* Generations 1 and 3 of the retired slot, as issued at its beginning. */
  cr_assert_null(xfer__handles_get(&table, make_token(1, tok_index(tb))));
  cr_assert_null(xfer__handles_get(&table, make_token(3, tok_index(tb))));
  xfer__handles_destroy(&table);
}

/* Churn: many connections opened and closed in a random order, as a busy
 * multi does. Every live token keeps its pointer, every removed one is stale
 * for good, and the table never grows past what was live at once. */
Test(handles, churn_keeps_live_tokens_and_rejects_dead_ones) {
  enum { N = 3000, ROUNDS = 200000 };
  static uint64_t tok[N];
  static int obj[N];
  static uint64_t dead[ROUNDS];
  size_t ndead = 0;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  xfer__handles_init(&table);
  for (int i = 0; i < N; i++)
    tok[i] = 0;
  for (int r = 0; r < ROUNDS; r++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    int i = (int)(rng % N);
    if (tok[i]) {
      cr_assert_eq(xfer__handles_get(&table, tok[i]), &obj[i]);
      xfer__handles_remove(&table, tok[i]);
      dead[ndead++] = tok[i];
      tok[i] = 0;
    } else {
      cr_assert_eq(xfer__handles_add(&table, &obj[i], &tok[i]), 0);
    }
  }
  for (size_t k = 0; k < ndead; k++)
    cr_assert_null(xfer__handles_get(&table, dead[k]), "dead token %zu answered", k);
  uint32_t live = 0;
  for (int i = 0; i < N; i++)
    if (tok[i]) {
      live++;
      cr_assert_eq(xfer__handles_get(&table, tok[i]), &obj[i]);
    }
  cr_assert_eq(table.live, live);
  cr_assert_leq(table.nchunks, (N + XFER__HANDLES_CHUNK_SIZE - 1) / XFER__HANDLES_CHUNK_SIZE);
  xfer__handles_destroy(&table);
}
