/* The epoll backend: completions emulated over level-triggered epoll.
 *
 * readiness.c does the emulation; this file only keeps the kernel's interest
 * set equal to what the waiting ops need, and waits. Interest is level-
 * triggered and kept across requests: a keep-alive connection always has a
 * RECV or an idle POLL_IN armed, so its EPOLLIN registration never changes
 * and a request costs no epoll_ctl() at all once the connection is up (wrk
 * and libcurl pay two per request toggling interest). EPOLLOUT is added only
 * when an optimistic send came back short. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "epoll.h"
#include "readiness.h"
#include "../runtime/alloc.h"

/* Linux gives epoll the same bit values as poll(2), so masks pass between
 * the two untranslated. Checked, not assumed. */
_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLPRI == POLLPRI &&
                   EPOLLERR == POLLERR && EPOLLHUP == POLLHUP && EPOLLRDHUP == POLLRDHUP,
               "epoll and poll event bits differ");

/* Events taken per epoll_wait(): 1024 covers every connection of a busy
 * multi in one call (the benchmarks run up to 256), at 12 KiB that live in
 * the backend object rather than on the stack. More ready fds than this are
 * not lost: interest is level-triggered, so the rest come at the next wait. */
#define MAX_EVENTS 1024

/* An extra fd's registration carries this bit and its index in extra[] in
 * data.u64, so that a caller's fd is never mistaken for one of ours, whose
 * data.u64 is the bare fd number. */
#define EXTRA_TAG (UINT64_C(1) << 32)

struct epoll_backend {
  struct xfer__readiness r;
  int epfd;
  unsigned long nctl;
  /* The fd registered for each extra of the current call: its own number,
   * a dup() of it, or -1. Grown only when a caller passes more extras. */
  int *xfds;
  unsigned nxfds;
  struct epoll_event events[MAX_EVENTS];
};

static int ctl(struct epoll_backend *eb, int op, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev;

  ev.events = events;
  ev.data.u64 = data;
  eb->nctl++;
  return epoll_ctl(eb->epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

static int epoll_apply(struct xfer__readiness *r, int fd, struct xfer__readiness_fd *s,
                       unsigned want) {
  struct epoll_backend *eb = (struct epoll_backend *)r;
  uint64_t data = (uint32_t)fd;
  int rc;

  if (want == 0) {
    /* Dropped rather than modified to an empty mask: EPOLLERR and EPOLLHUP
     * are reported whatever the mask, and level-triggered they would wake
     * every wait for an fd that nobody listens to. */
    rc = ctl(eb, EPOLL_CTL_DEL, fd, 0, data);
    return rc == -ENOENT || rc == -EBADF ? 0 : rc;
  }
  if (s->registered == 0) {
    rc = ctl(eb, EPOLL_CTL_ADD, fd, want, data);
    /* Our record said "not registered" but the kernel has it: repair. */
    if (rc == -EEXIST)
      rc = ctl(eb, EPOLL_CTL_MOD, fd, want, data);
  } else {
    rc = ctl(eb, EPOLL_CTL_MOD, fd, want, data);
    /* The registration went away with a close() that bypassed close_fd();
     * the number now names another file, which gets a fresh one. */
    if (rc == -ENOENT)
      rc = ctl(eb, EPOLL_CTL_ADD, fd, want, data);
  }
  return rc;
}

/* Registers the caller's extra fds for this one call. Returns the number
 * that are ready without waiting (as poll(2) would report them), or -ENOMEM. */
static int add_extras(struct epoll_backend *eb, struct xfer__pollfd *extra, unsigned nextra) {
  int now = 0;

  if (nextra > eb->nxfds) {
    int *x = xfer__realloc(eb->xfds, nextra * sizeof *x);
    if (x == NULL)
      return -ENOMEM;
    eb->xfds = x;
    eb->nxfds = nextra;
  }
  for (unsigned i = 0; i < nextra; i++) {
    struct xfer__pollfd *p = &extra[i];
    uint32_t events = (uint16_t)p->events;
    int fd = p->fd;
    int rc;

    eb->xfds[i] = -1;
    if (fd < 0)
      continue; /* poll(2) ignores negative fds; so do we */
    rc = ctl(eb, EPOLL_CTL_ADD, fd, events, EXTRA_TAG | i);
    if (rc == -EEXIST) {
      /* The fd is one of ours, or listed twice. epoll keys registrations
       * by (file, fd number), so a duplicate number is a fresh key. */
      fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
      rc = fd < 0 ? -errno : ctl(eb, EPOLL_CTL_ADD, fd, events, EXTRA_TAG | i);
      if (rc != 0 && fd >= 0)
        close(fd);
    }
    if (rc == 0) {
      eb->xfds[i] = fd;
    } else {
      /* epoll refuses regular files (EPERM), which poll(2) reports as
       * always ready; anything else is a bad fd, as POLLNVAL says. */
      p->revents = rc == -EPERM ? (short)(p->events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM))
                                : POLLNVAL;
      now += p->revents != 0;
    }
  }
  return now;
}

static void del_extras(struct epoll_backend *eb, const struct xfer__pollfd *extra,
                       unsigned nextra) {
  for (unsigned i = 0; i < nextra; i++) {
    int fd = eb->xfds[i];
    if (fd < 0)
      continue;
    (void)ctl(eb, EPOLL_CTL_DEL, fd, 0, 0);
    if (fd != extra[i].fd)
      close(fd);
  }
}

static int epoll_poll(struct xfer__readiness *r, int timeout_ms, struct xfer__pollfd *extra,
                      unsigned nextra, int *nextra_ready) {
  struct epoll_backend *eb = (struct epoll_backend *)r;
  int rc = 0;
  int n;
  int now = 0;

  if (nextra > 0) {
    now = add_extras(eb, extra, nextra);
    if (now < 0)
      return now;
    if (now > 0)
      timeout_ms = 0;
  }
  n = epoll_wait(eb->epfd, eb->events, MAX_EVENTS, timeout_ms);
  if (n < 0)
    rc = -errno;
  for (int i = 0; i < n; i++) {
    const struct epoll_event *ev = &eb->events[i];
    if (ev->data.u64 & EXTRA_TAG) {
      struct xfer__pollfd *p = &extra[(uint32_t)ev->data.u64];
      p->revents = (short)(p->revents | (short)ev->events);
    } else {
      xfer__readiness_ready(r, (int)ev->data.u64, ev->events);
    }
  }
  if (nextra > 0) {
    del_extras(eb, extra, nextra);
    now = 0;
    for (unsigned i = 0; i < nextra; i++)
      now += extra[i].revents != 0;
  }
  *nextra_ready = now;
  return rc;
}

static const struct xfer__readiness_ops epoll_ops = {
    .apply = epoll_apply,
    .poll = epoll_poll,
};

static int epoll_init(struct xfer__backend **out, xfer__complete_fn complete, void *ctx) {
  struct epoll_backend *eb = xfer__malloc(sizeof *eb);
  int rc;

  if (eb == NULL)
    return -ENOMEM;
  eb->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (eb->epfd < 0) {
    rc = -errno;
    xfer__free(eb);
    return rc;
  }
  eb->nctl = 0;
  eb->xfds = NULL;
  eb->nxfds = 0;
  xfer__readiness_init(&eb->r, &xfer__backend_epoll, &epoll_ops, complete, ctx);
  *out = &eb->r.base;
  return 0;
}

static void epoll_destroy(struct xfer__backend *be) {
  struct epoll_backend *eb = (struct epoll_backend *)be;

  if (eb == NULL)
    return;
  close(eb->epfd);
  xfer__readiness_free(&eb->r);
  xfer__free(eb->xfds);
  xfer__free(eb);
}

unsigned long xfer__backend_epoll_ctl_count(const struct xfer__backend *be) {
  if (be == NULL || be->vt != &xfer__backend_epoll)
    return 0;
  return ((const struct epoll_backend *)be)->nctl;
}

/* An epoll fd is itself pollable: readable while one of its fds is ready. */
static int epoll_single_fd(struct xfer__backend *be) { return ((struct epoll_backend *)be)->epfd; }

const struct xfer__backend_vtable xfer__backend_epoll = {
    .name = "epoll",
    .id = XFER__BACKEND_EPOLL,
    .init = epoll_init,
    .destroy = epoll_destroy,
    .submit = xfer__readiness_submit,
    .cancel = xfer__readiness_cancel,
    .close_fd = xfer__readiness_close_fd,
    .wait = xfer__readiness_wait,
    .action = xfer__readiness_action,
    .pending = xfer__readiness_pending,
    .single_fd = epoll_single_fd,
    .fdset = xfer__readiness_fdset,
};
