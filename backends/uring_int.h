/* Private to the io_uring backend (uring.c, uring_table.c, uring_bufring.c).
 * See docs/internals/backends.md, "The io_uring backend". */
#ifndef XFER_BACKENDS_URING_INT_H
#define XFER_BACKENDS_URING_INT_H

#ifdef XFER_HAVE_URING

#include <liburing.h>
#include <stdint.h>

#include "backend.h"
#include "uring.h"

/* ---- the op table (uring_table.c) ----
 *
 * A completion carries only the token (user_data), and the backend may not
 * touch an op after submitting it: the op can belong to a recycled connection
 * by the time its completion arrives. What the backend must still know about
 * an op in flight lives here, one entry per submission, with a list per fd:
 *  - its fd, so that close_fd() can find and silence everything on the fd;
 *  - its kind and flags, to interpret the result (a POLL_IN's mask, a
 *    connect emulated with a poll) and to re-arm a multishot receive that
 *    ran out of buffers (fd + token + flags are all that takes);
 *  - a single-shot RECV's buffer, which the completion must name;
 *  - its state (below).
 * Entries sit in one array (stable indexes, a free list) and are chained
 * from a per-fd head array. An entry's *key*, its index and a generation
 * bumped at each reuse, is the user_data of its SQEs: a completion finds its
 * entry by indexing, with no hash, and a completion for an entry that was
 * freed and reused meanwhile no longer matches its generation. All of it
 * grows by doubling and never shrinks, so the steady state allocates
 * nothing. */

#define XFER__URING_NIL UINT32_MAX

enum xfer__uring_state {
  XFER__URING_FREE = 0,
  XFER__URING_LIVE,      /* in the kernel (or its SQE is still queued) */
  XFER__URING_PARKED,    /* multishot receive ended by -ENOBUFS: nothing in the
                          * kernel, re-armed at a flush once buffers are back */
  XFER__URING_CANCELLED, /* cancel() was called: the final completion is
                          * delivered as -ECANCELED, anything before it dropped */
  XFER__URING_DEAD,      /* its fd was closed: every completion is dropped */
};

struct xfer__uring_ent {
  uint64_t token; /* the op's, delivered with each completion */
  void *buf;      /* single-shot RECV: the op's buffer, named by the completion */
  int32_t fd;
  uint32_t gen;   /* bumped at each add: the key's upper half (31 bits) */
  uint32_t fnext; /* next entry of the same fd; next free entry when free */
  uint8_t kind;   /* enum xfer__op_kind */
  uint8_t opflags;
  uint8_t state;     /* enum xfer__uring_state */
  uint8_t multishot; /* really submitted multishot (the kernel has it) */
  uint8_t on_fd;     /* linked on its fd's list (not once DEAD) */
};

struct xfer__uring_table {
  struct xfer__uring_ent *ents;
  uint32_t cap; /* entries in ents[], a power of two (or 0) */
  uint32_t used;
  uint32_t free_head;
  uint32_t *fd_head; /* nfd heads, indexed by fd */
  int nfd;
};

void xfer__uring_table_init(struct xfer__uring_table *t);
void xfer__uring_table_free(struct xfer__uring_table *t);
/* Adds an entry for token on fd (fd >= 0), LIVE. Returns its index, or NIL
 * when growing the table failed. */
uint32_t xfer__uring_table_add(struct xfer__uring_table *t, uint64_t token, int fd);

/* Entry i's key, the user_data of its SQEs: the generation above the index.
 * The generation has 31 bits, so a key never has the top bit set and never
 * falls among the user_data values uring.c reserves for itself. */
static inline uint64_t xfer__uring_key(const struct xfer__uring_table *t, uint32_t i) {
  return ((uint64_t)t->ents[i].gen << 32) | i;
}

/* The entry whose key this is, or NIL when that entry has been freed (and
 * perhaps reused) since. O(1). */
static inline uint32_t xfer__uring_table_find(const struct xfer__uring_table *t, uint64_t key) {
  uint32_t i = (uint32_t)key;
  if (i >= t->cap || t->ents[i].state == XFER__URING_FREE || t->ents[i].gen != (key >> 32))
    return XFER__URING_NIL;
  return i;
}
/* Unlinks entry i from its fd's list (it stays findable by key). */
void xfer__uring_table_unlink_fd(struct xfer__uring_table *t, uint32_t i);
void xfer__uring_table_remove(struct xfer__uring_table *t, uint32_t i);
/* First entry of fd's list, or NIL; follow ents[i].fnext. */
uint32_t xfer__uring_table_fd_first(const struct xfer__uring_table *t, int fd);

/* ---- the provided-buffer ring (uring_bufring.c) ---- */

/* One buffer group per ring. */
#define XFER__URING_BGID 0

struct xfer__uring_bufring {
  struct io_uring_buf_ring *br; /* the descriptor ring shared with the kernel */
  unsigned char *base;          /* NBUFS buffers of BUF_SIZE bytes */
  size_t map_len;               /* the one mapping holding both */
  unsigned out;                 /* delivered to the runtime, not yet returned */
  /* Which buffers the runtime holds: a release of a buffer it does not hold
   * (twice, or never delivered) is refused, since putting one buffer in the
   * ring twice would let two receives fill it at once. */
  uint64_t held[(XFER__URING_NBUFS + 63) / 64];
  unsigned long bad_releases;
};

/* Maps and registers the ring with every buffer in it. -errno on failure
 * (-EINVAL from a kernel without IORING_REGISTER_PBUF_RING). */
int xfer__uring_bufring_init(struct io_uring *ring, struct xfer__uring_bufring *b);
void xfer__uring_bufring_free(struct io_uring *ring, struct xfer__uring_bufring *b);
/* The buffer a completion's IORING_CQE_F_BUFFER id names. */
void *xfer__uring_buf_addr(const struct xfer__uring_bufring *b, unsigned bid);
/* Puts a buffer back in the ring for the kernel to fill again. Returns 0, or
 * -EINVAL for a pointer that is not the start of one of our buffers. */
int xfer__uring_buf_put(struct xfer__uring_bufring *b, void *buf);
/* Hands the buffer of a completion to the runtime (marks it held). */
void xfer__uring_buf_lend(struct xfer__uring_bufring *b, void *buf);
/* The runtime's release_buf(): puts a held buffer back. Returns 0, or
 * -EINVAL (counted in bad_releases) for one the runtime does not hold. */
int xfer__uring_buf_return(struct xfer__uring_bufring *b, void *buf);

#endif /* XFER_HAVE_URING */
#endif
