/* The handle table: tokens, staleness, bounds, slot reuse, growth across
 * chunks, allocation failure, generation exhaustion, and lookups from other
 * threads while the owner adds and removes (run under ThreadSanitizer in CI). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void hooks_failing_calloc(void) { xfer__alloc_set(malloc, free, realloc, strdup, calloc_fail); }

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
      make_token(0, index),                 /* generation 0 is never in a token */
      make_token(gen + 1, index),           /* even: the free state */
      make_token(gen + 2, index),           /* a future generation */
      make_token(gen, index + 1),           /* a free slot of the same chunk */
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
  cr_assert_eq(atomic_load(&table.nchunks), chunks);
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
  cr_assert_eq(atomic_load(&table.nchunks), chunks, "re-adding into holes grew the table");
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
  cr_assert_eq(atomic_load(&table.nchunks), 1);
  for (uint32_t i = 0; i < XFER__HANDLES_CHUNK_SIZE; i++)
    cr_assert_eq(xfer__handles_get(&table, toks[i]), &objs[i]);
  /* A freed slot is reused without allocating. */
  xfer__handles_remove(&table, toks[7]);
  cr_assert_eq(xfer__handles_add(&table, &objs[7], &toks[7]), 0);
  cr_assert_eq(xfer__handles_get(&table, toks[7]), &objs[7]);
  hooks_default();
  cr_assert_eq(xfer__handles_add(&table, &objs[0], &tok), 0);
  cr_assert_eq(atomic_load(&table.nchunks), 2);
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
  struct xfer__handle_slot *s = &atomic_load(&table.chunks[0])[tok_index(ta)];
  atomic_store(&s->gen, UINT32_MAX - 1); /* even: still free */

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

/* ---- Concurrent readers ----
 *
 * The owner adds and removes entries; each entry's pointer is a record that
 * holds the token the entry was given. Tokens are published through an
 * atomic array; readers pick one, hold it while the owner may remove and
 * reuse its slot, and look it up repeatedly. A non-NULL result must be the
 * record of that very token: a record of a later generation in the same slot
 * would hold a different token. */

#define READERS 4
/* 4,096 published cells fill four chunks, so chunk growth happens while the
 * readers run. */
#define PUB_CELLS 4096u
/* Enough owner operations for many thousands of slot reuses under each
 * reader's held tokens, yet a few seconds under TSan. */
#define OWNER_ITERS 150000u
/* The records: one per add, never reused, so a record's token is written
 * once. The fill phase adds PUB_CELLS, each later iteration adds two. */
#define RECORDS (PUB_CELLS + 2u * OWNER_ITERS)
/* A reader's own bound, should the owner stall. */
#define READER_MAX_ROUNDS 4000000u
/* Lookups of one held token: long enough for the owner to retire and reuse
 * its slot meanwhile. */
#define READS_PER_TOKEN 16u
/* The wall-clock cap on both sides: far above the normal run, far below
 * the CI test timeout (300 s). */
#define DEADLINE_SEC 60

struct record {
  _Atomic uint64_t token;
};

static struct record records[RECORDS];
static _Atomic uint64_t published[PUB_CELLS];
static atomic_bool owner_done;
static _Atomic uint64_t bad_results;
static _Atomic uint64_t first_bad_token;
static _Atomic uint64_t hits;
static _Atomic uint64_t misses;
static pthread_barrier_t start;

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

static void *reader(void *arg) {
  uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
  uint64_t my_hits = 0, my_misses = 0;
  pthread_barrier_wait(&start);
  double deadline = now_sec() + DEADLINE_SEC;
  for (uint32_t round = 0; round < READER_MAX_ROUNDS; round++) {
    if (atomic_load_explicit(&owner_done, memory_order_acquire))
      break;
    /* Checking the clock every 1,024 rounds keeps its cost out of the loop. */
    if ((round & 1023u) == 0 && now_sec() > deadline)
      break;
    uint64_t tok = atomic_load_explicit(&published[xorshift(&rng) % PUB_CELLS], memory_order_acquire);
    for (uint32_t k = 0; k < READS_PER_TOKEN; k++) {
      struct record *r = xfer__handles_get(&table, tok);
      if (!r) {
        my_misses++;
        continue;
      }
      my_hits++;
      /* The acquire load of the published cell ordered this record's token
       * store before tok, so the right record always shows tok here. */
      if (atomic_load_explicit(&r->token, memory_order_acquire) != tok) {
        uint64_t none = 0;
        atomic_compare_exchange_strong(&first_bad_token, &none, tok);
        atomic_fetch_add(&bad_results, 1);
      }
    }
  }
  atomic_fetch_add(&hits, my_hits);
  atomic_fetch_add(&misses, my_misses);
  return NULL;
}

/* One add, with its record filled in before the token is published. */
static void owner_add(uint32_t *next_record, uint32_t cell) {
  uint64_t tok;
  struct record *r = &records[(*next_record)++];
  cr_assert_eq(xfer__handles_add(&table, r, &tok), 0);
  atomic_store_explicit(&r->token, tok, memory_order_relaxed);
  /* Release: a reader that picks tok up also sees r->token above. */
  atomic_store_explicit(&published[cell], tok, memory_order_release);
}

Test(handles, concurrent_readers_never_see_another_generation, .timeout = 240) {
  pthread_t th[READERS];
  xfer__handles_init(&table);
  cr_assert_eq(pthread_barrier_init(&start, NULL, READERS + 1), 0);
  for (uintptr_t i = 0; i < READERS; i++)
    cr_assert_eq(pthread_create(&th[i], NULL, reader, (void *)i), 0);
  pthread_barrier_wait(&start);

  double deadline = now_sec() + DEADLINE_SEC;
  uint64_t rng = 0x5eed0007;
  uint32_t next_record = 0;
  /* Fill phase: the table grows chunk by chunk under the readers. */
  for (uint32_t cell = 0; cell < PUB_CELLS; cell++)
    owner_add(&next_record, cell);
  /* Churn phase: remove two entries and add two, crossing them over, so a
   * held token's slot is reused both by its own cell and by another. */
  uint32_t iters = 0;
  for (; iters < OWNER_ITERS; iters++) {
    if ((iters & 1023u) == 0 && now_sec() > deadline)
      break;
    uint32_t c1 = (uint32_t)(xorshift(&rng) % PUB_CELLS);
    uint32_t c2 = (uint32_t)(xorshift(&rng) % PUB_CELLS);
    if (c1 == c2)
      c2 = (c2 + 1) % PUB_CELLS;
    xfer__handles_remove(&table, atomic_load_explicit(&published[c1], memory_order_relaxed));
    xfer__handles_remove(&table, atomic_load_explicit(&published[c2], memory_order_relaxed));
    owner_add(&next_record, c2);
    owner_add(&next_record, c1);
  }
  atomic_store_explicit(&owner_done, 1, memory_order_release);
  for (int i = 0; i < READERS; i++)
    cr_assert_eq(pthread_join(th[i], NULL), 0);
  pthread_barrier_destroy(&start);

  cr_assert_eq(atomic_load(&bad_results), 0,
               "%llu lookups returned another generation's pointer (first token %#llx)",
               (unsigned long long)atomic_load(&bad_results),
               (unsigned long long)atomic_load(&first_bad_token));
  cr_assert_eq(table.live, PUB_CELLS);
  for (uint32_t cell = 0; cell < PUB_CELLS; cell++) {
    uint64_t tok = atomic_load(&published[cell]);
    struct record *r = xfer__handles_get(&table, tok);
    cr_assert_not_null(r);
    cr_assert_eq(atomic_load(&r->token), tok);
  }
  cr_log_info("owner iterations %u, reader hits %llu, misses %llu", iters,
              (unsigned long long)atomic_load(&hits), (unsigned long long)atomic_load(&misses));
  xfer__handles_destroy(&table);
}
