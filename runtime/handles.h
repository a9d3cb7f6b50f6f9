/* The handle table: maps a 64-bit token to a pointer, lock-free for readers.
 *
 * A token is (generation << 32) | index. Slots live in chunks that never move,
 * found through a fixed directory, so a reader needs no lock: a bounds check,
 * an acquire load of the chunk pointer and of the slot's generation. Removing
 * an entry bumps the slot's generation, so every token handed out for it
 * becomes stale at once, and a completion or a cross-thread call that carries
 * it is recognised and dropped instead of touching a recycled object. Free
 * slots form a stack whose head is tagged against ABA.
 *
 * Threads: add() and remove() are for the owner thread (the multi's); get()
 * may be called from any thread at any time, concurrently with them. A
 * pointer returned by get() is only a hint to another thread that the entry
 * was live at that instant; the owner's data must still be reached through
 * its own synchronisation (as xfer_multi_wakeup does with an eventfd). */
#ifndef XFER_RUNTIME_HANDLES_H
#define XFER_RUNTIME_HANDLES_H

#include <stdatomic.h>
#include <stdint.h>

/* 1024 slots per chunk and 4096 chunks: 4 Mi entries per table, far beyond
 * the 20,000 fds a process may hold here (RLIMIT_NOFILE hard limit). */
#define XFER__HANDLES_CHUNK_BITS 10
#define XFER__HANDLES_CHUNK_SIZE (1u << XFER__HANDLES_CHUNK_BITS)
#define XFER__HANDLES_MAX_CHUNKS 4096u

struct xfer__handle_slot {
  _Atomic uint32_t gen;      /* odd: live; even: free. Never 0 in a token. */
  _Atomic uint32_t next_free;
  _Atomic(void *) ptr;
};

struct xfer__handles {
  _Atomic(struct xfer__handle_slot *) chunks[XFER__HANDLES_MAX_CHUNKS];
  _Atomic uint32_t nchunks;
  /* (tag << 32) | index of the first free slot; index UINT32_MAX: empty. */
  _Atomic uint64_t free_head;
  uint32_t live;
};

void xfer__handles_init(struct xfer__handles *t);
/* Frees the chunks. Owner thread, with no reader left. */
void xfer__handles_destroy(struct xfer__handles *t);
/* Stores ptr in a free slot and returns 0 with its token, or -ENOMEM. */
int xfer__handles_add(struct xfer__handles *t, void *ptr, uint64_t *token);
/* Frees the slot of token; a stale or unknown token is ignored. */
void xfer__handles_remove(struct xfer__handles *t, uint64_t token);
/* The pointer stored under token, or NULL when the token is stale, unknown
 * or 0. Any thread. */
void *xfer__handles_get(struct xfer__handles *t, uint64_t token);

#endif
