/* Internal introspection of the io_uring backend, for tests and benchmarks.
 *
 * Declared whether or not the build has io_uring, so that callers need no
 * #ifdef: without it (or for a backend that is not io_uring) every function
 * answers "nothing" (0). Owner thread only. */
#ifndef XFER_BACKENDS_URING_H
#define XFER_BACKENDS_URING_H

#include "backend.h"

/* Provided-buffer ring geometry (see uring_bufring.c for the reasons). */
#define XFER__URING_NBUFS    256u
#define XFER__URING_BUF_SIZE 16384u

/* The IORING_SETUP_* flags the ring was created with: what the kernel
 * accepted of the probe sequence (DEFER_TASKRUN first). */
unsigned xfer__uring_setup_flags(const struct xfer__backend *be);

struct xfer__uring_stats {
  unsigned bufs_out;          /* buffers delivered with XFER__CF_BUF, not yet released */
  unsigned parked;            /* multishot receives stopped by -ENOBUFS, waiting to re-arm */
  unsigned long rearms;       /* multishot receives re-armed after -ENOBUFS, in total */
  unsigned ops;               /* ops the backend still tracks (armed, cancelled, or
                        * closed with a completion still to come) */
  int multishot;              /* whether XFER__OPF_MULTISHOT receives are served multishot */
  unsigned long bad_releases; /* release_buf() of a buffer the runtime did not
                               * hold (a double release): refused */
};

/* Fills *st; all zero for a backend that is not io_uring. */
void xfer__uring_stats(const struct xfer__backend *be, struct xfer__uring_stats *st);

#endif
