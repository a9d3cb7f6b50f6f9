/* Internal introspection of the epoll backend, for tests and benchmarks. */
#ifndef XFER_BACKENDS_EPOLL_H
#define XFER_BACKENDS_EPOLL_H

#include "backend.h"

/* The number of epoll_ctl() calls this backend instance has made, every kind
 * included (interest changes, extra fds, removals at close_fd()). The test of
 * the zero-epoll_ctl steady state reads it; 0 for a backend that is not
 * epoll. Owner thread only. */
unsigned long xfer__backend_epoll_ctl_count(const struct xfer__backend *be);

#endif
