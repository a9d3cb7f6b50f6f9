/* The handle table: maps a 64-bit token to a pointer, with generations so
 * that a stale token is recognised.
 *
 * A token is (generation << 32) | index. Slots live in chunks that never move,
 * found through a fixed directory, so growing the table never copies an entry.
 * Removing an entry bumps the slot's generation, so every token handed out for
 * it becomes stale at once, and a completion that carries it (io_uring
 * delivers completions for connections already closed) is recognised and
 * dropped instead of touching a recycled object. Free slots form a LIFO list,
 * so a freshly freed, cache-warm slot is reused first.
 *
 * One thread: the multi's. Other threads hand work to a multi through its
 * post queue (mpsc.h) and never look entries up here, which is why the table
 * has no atomics (docs/internals/handle-table.md). */
#ifndef XFER_RUNTIME_HANDLES_H
#define XFER_RUNTIME_HANDLES_H

#include <stdint.h>

/* 1024 slots per chunk and 4096 chunks: 4 Mi entries per table, far beyond
 * the 20,000 fds a process may hold here (RLIMIT_NOFILE hard limit). */
#define XFER__HANDLES_CHUNK_BITS 10
#define XFER__HANDLES_CHUNK_SIZE (1u << XFER__HANDLES_CHUNK_BITS)
#define XFER__HANDLES_MAX_CHUNKS 4096u

struct xfer__handle_slot {
  uint32_t gen;       /* odd: live; even: free. Never 0 in a token. */
  uint32_t next_free; /* the next free slot's index, while this one is free */
  void *ptr;
};

struct xfer__handles {
  struct xfer__handle_slot *chunks[XFER__HANDLES_MAX_CHUNKS];
  uint32_t nchunks;
  uint32_t free_head; /* index of the first free slot; UINT32_MAX: none */
  uint32_t live;
};

void xfer__handles_init(struct xfer__handles *t);
/* Frees the chunks. */
void xfer__handles_destroy(struct xfer__handles *t);
/* Stores ptr in a free slot and returns 0 with its token, or -ENOMEM. */
int xfer__handles_add(struct xfer__handles *t, void *ptr, uint64_t *token);
/* Frees the slot of token; a stale or unknown token is ignored. */
void xfer__handles_remove(struct xfer__handles *t, uint64_t token);
/* The pointer stored under token, or NULL when the token is stale, unknown
 * or 0. */
void *xfer__handles_get(struct xfer__handles *t, uint64_t token);

#endif
