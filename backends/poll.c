/* The poll backend: completions emulated over poll(2).
 *
 * It is the portability fallback (epoll is preferred where it exists), and
 * poll(2) is O(fds) per call by construction. What this file avoids is
 * paying O(fds) a second time in user space: the pollfd array is compact and
 * kept between waits, each fd knows its index in it (readiness.h, index), so
 * an interest change is an O(1) edit, not a rebuild. The caller's extra fds
 * are appended behind ours for the duration of one call. */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "readiness.h"
#include "../runtime/alloc.h"

/* Room for 64 pollfds at first, doubled as needed: the array only grows when
 * more fds are watched at once (or more extras passed) than ever before. */
#define FIRST_PFDS 64u

struct poll_backend {
  struct xfer__readiness r;
  /* Ours in [0, npfds), the current call's extras right behind them. */
  struct pollfd *pfds;
  unsigned npfds;
  unsigned cap;
};

static int grow_pfds(struct poll_backend *pb, unsigned need) {
  unsigned n = pb->cap ? pb->cap : FIRST_PFDS;
  struct pollfd *p;

  while (n < need)
    n *= 2;
  p = xfer__realloc(pb->pfds, (size_t)n * sizeof *p);
  if (p == NULL)
    return -ENOMEM;
  pb->pfds = p;
  pb->cap = n;
  return 0;
}

/* Removes entry i by moving the last one into its place, so the array stays
 * compact without shifting; the moved fd's slot learns its new index. */
static void remove_at(struct poll_backend *pb, unsigned i) {
  unsigned last = --pb->npfds;

  if (i != last) {
    pb->pfds[i] = pb->pfds[last];
    pb->r.fds[pb->pfds[i].fd].index = (int32_t)i;
  }
}

static int poll_apply(struct xfer__readiness *r, int fd, struct xfer__readiness_fd *s,
                      unsigned want) {
  struct poll_backend *pb = (struct poll_backend *)r;

  if (want == 0) {
    /* Out of the array rather than left with events 0: poll(2) reports
     * POLLHUP and POLLERR whatever the mask, and would wake every wait. */
    if (s->index >= 0)
      remove_at(pb, (unsigned)s->index);
    s->index = -1;
    return 0;
  }
  if (s->index < 0) {
    if (pb->npfds == pb->cap && grow_pfds(pb, pb->npfds + 1) != 0)
      return -ENOMEM;
    s->index = (int32_t)pb->npfds;
    pb->pfds[pb->npfds].fd = fd;
    pb->pfds[pb->npfds].revents = 0;
    pb->npfds++;
  }
  pb->pfds[s->index].events = (short)want;
  return 0;
}

static int poll_poll(struct xfer__readiness *r, int timeout_ms, struct xfer__pollfd *extra,
                     unsigned nextra, int *nextra_ready) {
  struct poll_backend *pb = (struct poll_backend *)r;
  unsigned total = pb->npfds + nextra;
  int n;
  int ready = 0;

  if (total > pb->cap && grow_pfds(pb, total) != 0)
    return -ENOMEM;
  for (unsigned i = 0; i < nextra; i++) {
    struct pollfd *p = &pb->pfds[pb->npfds + i];
    p->fd = extra[i].fd;
    p->events = extra[i].events;
    p->revents = 0;
  }
  n = poll(pb->pfds, total, timeout_ms);
  if (n < 0)
    return -errno;
  for (unsigned i = 0; i < nextra; i++) {
    extra[i].revents = pb->pfds[pb->npfds + i].revents;
    if (extra[i].revents != 0) {
      ready++;
      n--;
    }
  }
  *nextra_ready = ready;
  /* xfer__readiness_ready() performs I/O and posts completions but never
   * changes interest, so the array is stable under this loop. It stops as
   * soon as every ready entry has been seen. */
  for (unsigned i = 0; i < pb->npfds && n > 0; i++) {
    const struct pollfd *p = &pb->pfds[i];
    if (p->revents != 0) {
      n--;
      xfer__readiness_ready(r, p->fd, (unsigned short)p->revents);
    }
  }
  return 0;
}

static const struct xfer__readiness_ops poll_ops = {
    .apply = poll_apply,
    .poll = poll_poll,
};

static int poll_init(struct xfer__backend **out, xfer__complete_fn complete, void *ctx) {
  struct poll_backend *pb = xfer__malloc(sizeof *pb);

  if (pb == NULL)
    return -ENOMEM;
  pb->pfds = NULL;
  pb->npfds = 0;
  pb->cap = 0;
  xfer__readiness_init(&pb->r, &xfer__backend_poll, &poll_ops, complete, ctx);
  *out = &pb->r.base;
  return 0;
}

static void poll_destroy(struct xfer__backend *be) {
  struct poll_backend *pb = (struct poll_backend *)be;

  if (pb == NULL)
    return;
  xfer__readiness_free(&pb->r);
  xfer__free(pb->pfds);
  xfer__free(pb);
}

/* poll(2) keeps no set in the kernel, so there is no fd that stands for
 * all of ours. */
static int no_single_fd(struct xfer__backend *be) {
  (void)be;
  return -1;
}

const struct xfer__backend_vtable xfer__backend_poll = {
    .name = "poll",
    .id = XFER__BACKEND_POLL,
    .init = poll_init,
    .destroy = poll_destroy,
    .submit = xfer__readiness_submit,
    .cancel = xfer__readiness_cancel,
    .close_fd = xfer__readiness_close_fd,
    .wait = xfer__readiness_wait,
    .action = xfer__readiness_action,
    .pending = xfer__readiness_pending,
    .single_fd = no_single_fd,
    .fdset = xfer__readiness_fdset,
};
