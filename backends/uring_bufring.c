/* The io_uring backend's provided-buffer ring: the buffers a multishot
 * receive fills, handed to the runtime with the completion and back with
 * release_buf().
 *
 * Sizes: 256 buffers of 16 KiB (XFER__URING_NBUFS, XFER__URING_BUF_SIZE).
 * 16 KiB is XFER_MAX_WRITE_SIZE, the most the runtime hands a write callback
 * at once, so a buffer is delivered as one chunk; it also holds a whole small
 * response (the common keep-alive case) in one completion. 256 covers the
 * benchmarks' 256 connections with one buffer in flight each, and a 4 MiB
 * burst on one connection; the ring's size must be a power of two. When the
 * runtime holds them all, the kernel ends a multishot receive with -ENOBUFS
 * and the backend re-arms it once buffers come back (uring.c): running dry
 * costs a pause, never a transfer. 4 MiB per multi is the price; the pages
 * are touched only as the kernel walks through the ring.
 *
 * liburing 2.3 has no io_uring_setup_buf_ring() (2.4): the ring is mapped and
 * registered here by hand. */
#ifdef XFER_HAVE_URING

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "uring_int.h"
#include "xfer/xfer.h"

_Static_assert((XFER__URING_NBUFS & (XFER__URING_NBUFS - 1)) == 0,
               "a provided-buffer ring has a power-of-two size");
_Static_assert(XFER__URING_NBUFS <= 32768, "the kernel's limit on buffer ring entries");
_Static_assert(XFER__URING_BUF_SIZE == XFER_MAX_WRITE_SIZE,
               "a buffer is what one write callback gets at most");

int xfer__uring_bufring_init(struct io_uring *ring, struct xfer__uring_bufring *b) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t ring_len = XFER__URING_NBUFS * sizeof(struct io_uring_buf);
  struct io_uring_buf_reg reg = {0};
  void *p;
  int rc;

  /* mmap, not the allocator hooks: the kernel wants the descriptor ring
   * page-aligned, the 4 MiB of buffers are better off as their own mapping
   * (returned to the system whole at destroy), and neither is an allocation
   * the runtime's per-request accounting should see: both are made once per
   * backend. One mapping holds the ring, then the buffers. */
  ring_len = (ring_len + page - 1) & ~(page - 1);
  b->map_len = ring_len + (size_t)XFER__URING_NBUFS * XFER__URING_BUF_SIZE;
  p = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return -errno;
  b->br = p;
  b->base = (unsigned char *)p + ring_len;
  b->out = 0;
  b->bad_releases = 0;
  memset(b->held, 0, sizeof b->held);
  io_uring_buf_ring_init(b->br);
  for (unsigned i = 0; i < XFER__URING_NBUFS; i++)
    io_uring_buf_ring_add(b->br, b->base + (size_t)i * XFER__URING_BUF_SIZE, XFER__URING_BUF_SIZE,
                          (unsigned short)i, io_uring_buf_ring_mask(XFER__URING_NBUFS), (int)i);
  io_uring_buf_ring_advance(b->br, XFER__URING_NBUFS);
  reg.ring_addr = (uint64_t)(uintptr_t)b->br;
  reg.ring_entries = XFER__URING_NBUFS;
  reg.bgid = XFER__URING_BGID;
  /* -EINVAL on kernels before 5.19, which lack IORING_REGISTER_PBUF_RING:
   * the caller fails init and AUTO moves on to epoll. */
  rc = io_uring_register_buf_ring(ring, &reg, 0);
  if (rc < 0) {
    munmap(p, b->map_len);
    b->br = NULL;
    b->base = NULL;
    return rc;
  }
  return 0;
}

void xfer__uring_bufring_free(struct io_uring *ring, struct xfer__uring_bufring *b) {
  if (b->br == NULL)
    return;
  (void)ring; /* the registration goes with the ring (queue_exit) */
  munmap(b->br, b->map_len);
  b->br = NULL;
  b->base = NULL;
}

void *xfer__uring_buf_addr(const struct xfer__uring_bufring *b, unsigned bid) {
  return b->base + (size_t)(bid % XFER__URING_NBUFS) * XFER__URING_BUF_SIZE;
}

/* The id is the buffer's index in the mapping: no lookup table needed.
 * Returns the id, or -EINVAL when buf does not start one of our buffers. */
static int bid_of(const struct xfer__uring_bufring *b, const void *buf) {
  uintptr_t off = (uintptr_t)buf - (uintptr_t)b->base;

  if ((uintptr_t)buf < (uintptr_t)b->base || off % XFER__URING_BUF_SIZE != 0 ||
      off / XFER__URING_BUF_SIZE >= XFER__URING_NBUFS)
    return -EINVAL;
  return (int)(off / XFER__URING_BUF_SIZE);
}

void xfer__uring_buf_lend(struct xfer__uring_bufring *b, void *buf) {
  int bid = bid_of(b, buf);

  if (bid >= 0) {
    b->held[bid / 64] |= UINT64_C(1) << (bid % 64);
    b->out++;
  }
}

int xfer__uring_buf_return(struct xfer__uring_bufring *b, void *buf) {
  int bid = bid_of(b, buf);
  uint64_t bit;

  if (bid < 0 || !(b->held[bid / 64] & (bit = UINT64_C(1) << (bid % 64)))) {
    b->bad_releases++;
    return -EINVAL;
  }
  b->held[bid / 64] &= ~bit;
  b->out--;
  return xfer__uring_buf_put(b, buf);
}

int xfer__uring_buf_put(struct xfer__uring_bufring *b, void *buf) {
  int bid = bid_of(b, buf);

  if (bid < 0)
    return -EINVAL;
  io_uring_buf_ring_add(b->br, buf, XFER__URING_BUF_SIZE, (unsigned short)bid,
                        io_uring_buf_ring_mask(XFER__URING_NBUFS), 0);
  /* Published at once (one release store): a receive parked on -ENOBUFS
   * is re-armed at the next flush and must find the buffer there. */
  io_uring_buf_ring_advance(b->br, 1);
  return 0;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int xfer_uring_bufring_unused;
#endif /* XFER_HAVE_URING */
