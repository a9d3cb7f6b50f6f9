/* Waiting: xfer_multi_poll, xfer_multi_wait, xfer_multi_wakeup,
 * xfer_multi_fdset and xfer_multi_timeout, with libcurl's contract
 * (their libcurl man pages, and libcurl 7.88's observed answers where those
 * are silent). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "multi.h"

long xfer__multi_timeout_ms(struct xfer_multi *m) {
  if (!xfer__queue_empty(&m->ready) || !xfer__queue_empty(&m->completed) || m->dns_ready)
    return 0;
  struct xfer__heap_node *t = xfer__heap_min(&m->timers);
  if (!t)
    return -1;
  uint64_t now = xfer__now_us();
  if (t->when <= now)
    return 0;
  uint64_t ms = (t->when - now + 999u) / 1000u; /* rounded up: never wake early */
  return ms > INT32_MAX ? INT32_MAX : (long)ms;
}

int xfer__multi_has_io(const struct xfer_multi *m) {
  /* Transfers that run wait on a socket or on the resolver's eventfd;
   * pending ones wait on other transfers, which are then running too. */
  return m->nrunning > 0;
}

void xfer__multi_drain_wakeup(struct xfer_multi *m) {
  uint64_t v;
  if (read(m->wakeup_fd, &v, sizeof v) < 0) {
    /* EAGAIN: nothing latched. */
  }
  m->woken = 0;
  if (!m->wakeup_op.armed)
    xfer__multi_submit(m, &m->wakeup_op);
}

static xfer_mcode do_wait(struct xfer_multi *m, struct xfer_waitfd *extra, unsigned nextra,
                          int timeout_ms, int *numfds, int is_poll) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  if (timeout_ms < 0)
    return XFERM_BAD_FUNCTION_ARGUMENT;
  /* Handles posted from other threads start now: the poll then sees them
   * as work due at once instead of sleeping past them. */
  xfer__multi_take_posts(m);
  if (numfds)
    *numfds = 0;
  /* Up to 64 extra fds (any real caller) convert into a stack array; more
   * go into the multi's own array, grown once and kept. */
  struct xfer__pollfd pfds[64];
  struct xfer__pollfd *pf = nextra > 64 ? m->wait_pf : pfds;
  if (nextra > 64 && nextra > m->wait_pf_cap) {
    pf = xfer__realloc(m->wait_pf, nextra * sizeof *pf);
    if (!pf)
      return XFERM_OUT_OF_MEMORY;
    m->wait_pf = pf;
    m->wait_pf_cap = nextra;
  }
  /* A wakeup that arrived before this poll (even across a perform, which
   * only records it) makes it return at once: libcurl test 2414. */
  if (is_poll && m->woken) {
    xfer__multi_drain_wakeup(m);
    m->waited = 1;
    return XFERM_OK;
  }
  /* Work due now (a transfer just added, completions not yet run, a due
   * timer): the next perform has it to do, and asking the kernel first
   * would find nothing a perform's own gather does not. No system call. */
  if (nextra == 0 && xfer__multi_timeout_ms(m) == 0)
    return XFERM_OK;
  /* wait() returns at once when there is nothing to wait on (libcurl's
   * documented busy-loop trap, which poll() exists to avoid). */
  if (!is_poll && !xfer__multi_has_io(m) && nextra == 0)
    return XFERM_OK;
  /* wait() is not woken by xfer_multi_wakeup: a wakeup that fires during it
   * is latched (m->woken, its watch left unarmed) and waiting goes on; the
   * next poll returns at once. Nothing is cancelled, so no backend ever has
   * a withdrawn watch still in flight. */
  unsigned np = nextra;
  if (np) {
    for (unsigned i = 0; i < np; i++) {
      pf[i].fd = extra[i].fd;
      pf[i].events = (short)(((extra[i].events & XFER_WAIT_POLLIN) ? POLLIN : 0) |
                             ((extra[i].events & XFER_WAIT_POLLPRI) ? POLLPRI : 0) |
                             ((extra[i].events & XFER_WAIT_POLLOUT) ? POLLOUT : 0));
      pf[i].revents = 0;
    }
  }
  /* Completions worth waiting for together: see XFER__BATCH_PER. Only
   * transfers on a connection can complete; those queued behind a
   * connection limit cannot, however many they are. */
  unsigned batch = m->batch_wait_us ? (m->nrunning - m->npending) / XFER__BATCH_PER : 1;
  m->be->batch = batch < 1 ? 1 : batch > XFER__BATCH_MAX ? XFER__BATCH_MAX : batch;
  m->be->batch_us = m->batch_wait_us;
  uint64_t deadline = xfer__now_us() + (uint64_t)timeout_ms * 1000u;
  int nextra_ready = 0;
  xfer_mcode rc = XFERM_OK;
  m->nevents = 0;
  /* Bounded: each pass either sees an event or uses up the time. */
  for (unsigned pass = 0; pass < 1000; pass++) {
    long t = xfer__multi_timeout_ms(m);
    uint64_t now = xfer__now_us();
    long left = now >= deadline ? 0 : (long)((deadline - now + 999u) / 1000u);
    if (t < 0 || t > left)
      t = left;
    m->submitted = 0;
    if (m->be->vt->wait(m->be, (int)t, np ? pf : NULL, np, &nextra_ready) < 0) {
      rc = XFERM_UNRECOVERABLE_POLL;
      break;
    }
    if (m->nevents || (is_poll && m->woken) || m->dns_ready || nextra_ready || t == 0 ||
        xfer__now_us() >= deadline)
      break;
  }
  if (np) {
    for (unsigned i = 0; i < np; i++) {
      short r = pf[i].revents;
      extra[i].revents =
          (short)(((r & POLLIN) ? XFER_WAIT_POLLIN : 0) | ((r & POLLPRI) ? XFER_WAIT_POLLPRI : 0) |
                  ((r & POLLOUT) ? XFER_WAIT_POLLOUT : 0));
    }
  }
  m->last_wait = xfer__now_us();
  if (is_poll && m->woken)
    xfer__multi_drain_wakeup(m);
  if (numfds)
    *numfds = (int)m->nevents + nextra_ready;
  m->waited = 1;
  return rc;
}

xfer_mcode xfer_multi_poll(xfer_multi *m, struct xfer_waitfd extra_fds[], unsigned extra_nfds,
                           int timeout_ms, int *numfds) {
  return do_wait(m, extra_fds, extra_nfds, timeout_ms, numfds, 1);
}

xfer_mcode xfer_multi_wait(xfer_multi *m, struct xfer_waitfd extra_fds[], unsigned extra_nfds,
                           int timeout_ms, int *numfds) {
  return do_wait(m, extra_fds, extra_nfds, timeout_ms, numfds, 0);
}

xfer_mcode xfer_multi_wakeup(xfer_multi *m) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  /* Any thread, signal-safe: one write(2) to an eventfd. */
  uint64_t one = 1;
  if (write(m->wakeup_fd, &one, sizeof one) != (ssize_t)sizeof one)
    return XFERM_WAKEUP_FAILURE;
  return XFERM_OK;
}

xfer_mcode xfer_multi_fdset(xfer_multi *m, fd_set *r, fd_set *w, fd_set *e, int *max_fd) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  int max = -1;
  fd_set dummy_r, dummy_w;
  if (!r) {
    FD_ZERO(&dummy_r);
    r = &dummy_r;
  }
  if (!w) {
    FD_ZERO(&dummy_w);
    w = &dummy_w;
  }
  (void)e; /* never filled, as libcurl */
  m->be->vt->fdset(m->be, r, w, &max);
  if (max_fd)
    *max_fd = max;
  return XFERM_OK;
}

xfer_mcode xfer_multi_timeout(xfer_multi *m, long *timeout_ms) {
  if (!xfer__multi_valid(m))
    return XFERM_BAD_HANDLE;
  if (m->in_callback)
    return XFERM_RECURSIVE_API_CALL;
  if (!timeout_ms)
    return XFERM_BAD_FUNCTION_ARGUMENT;
  *timeout_ms = xfer__multi_timeout_ms(m);
  return XFERM_OK;
}
