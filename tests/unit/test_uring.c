/* What only the io_uring backend has: completions that outlive their fd, the
 * provided-buffer ring running dry, setup fallbacks and the setup flags.
 * The seam scenarios every backend shares are in test_backend.c.
 *
 * Like test_backend.c, the test is its own peer over loopback TCP, and every
 * wait is bounded. Built only when the library has io_uring
 * (tests/CMakeLists.txt). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/uring.h"
#include "xtest.h"
#include "xfer/xfer.h"

/* Loopback answers in microseconds; five seconds only bounds a failure
 * (the exhaustion test moves 4 MiB through held buffers). */
#define BOUND_MS 5000

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- sockets (as in test_backend.c) ---- */

static void pair(int *c, int *s) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  cr_assert(l >= 0);
  cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(l, 4), 0);
  cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
  *c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  cr_assert(*c >= 0);
  cr_assert(connect(*c, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
  *s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  cr_assert(*s >= 0);
  close(l);
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7u + (i >> 12)); }

/* ---- what the callback saw ---- */

struct got {
  struct xfer__backend *be;
  uint64_t token; /* the live op; anything else is counted as foreign */
  int hold;       /* keep CF_BUF buffers instead of releasing them */
  void *held[XFER__URING_NBUFS];
  int nheld;
  unsigned char *data; /* the live op's bytes, in delivery order */
  size_t len, cap;
  int calls, foreign, enobufs, ended, bufs;
  int32_t last_res;
  int close_fd; /* >= 0: close it from the first callback */
  int calls_after_close;
  int closed;
};

static void on_complete(void *ctx, uint64_t token, int32_t res, void *buf, unsigned flags) {
  struct got *g = ctx;

  g->calls++;
  if (g->closed)
    g->calls_after_close++;
  if (token != g->token)
    g->foreign++;
  if (res == -ENOBUFS)
    g->enobufs++;
  if (!(flags & XFER__CF_MORE)) {
    g->ended = 1;
    g->last_res = res;
  }
  if (res > 0 && buf != NULL) {
    cr_assert_leq(g->len + (size_t)res, g->cap);
    memcpy(g->data + g->len, buf, (size_t)res);
    g->len += (size_t)res;
  }
  if (flags & XFER__CF_BUF) {
    g->bufs++;
    cr_assert_leq((size_t)res, (size_t)XFER__URING_BUF_SIZE);
    if (g->hold) {
      cr_assert_lt(g->nheld, (int)XFER__URING_NBUFS, "more buffers delivered than the ring has");
      g->held[g->nheld++] = buf;
    } else {
      g->be->vt->release_buf(g->be, buf);
    }
  }
  if (g->close_fd >= 0) {
    g->be->vt->close_fd(g->be, g->close_fd);
    g->close_fd = -1;
    g->closed = 1;
  }
}

static void release_held(struct got *g) {
  for (int i = 0; i < g->nheld; i++)
    g->be->vt->release_buf(g->be, g->held[i]);
  g->nheld = 0;
}

static void open_uring(struct got *g, size_t cap) {
  xt_require_io_uring();
  memset(g, 0, sizeof *g);
  g->close_fd = -1;
  g->cap = cap;
  g->data = malloc(cap);
  cr_assert_not_null(g->data);
  cr_assert_eq(xfer__backend_create(XFER__BACKEND_IO_URING, on_complete, g, &g->be), 0);
  cr_assert_eq(g->be->vt->id, XFER__BACKEND_IO_URING);
}

static void wait_ms(struct got *g, int ms) {
  int nx = -1;
  cr_assert_eq(g->be->vt->wait(g->be, ms, NULL, 0, &nx), 0);
}

static struct xfer__uring_stats stats(const struct got *g) {
  struct xfer__uring_stats st;
  xfer__uring_stats(g->be, &st);
  return st;
}

static void multishot_recv(struct xfer__op *op, uint64_t token, int fd, void *buf, size_t len) {
  memset(op, 0, sizeof *op);
  op->token = token;
  op->fd = fd;
  op->kind = XFER__OP_RECV;
  op->flags = XFER__OPF_MULTISHOT;
  op->buf = buf; /* unused when the backend serves it multishot */
  op->len = len;
}

/* Sends from the peer what its socket takes now; returns the new count. */
static size_t pump(int s, size_t sent, size_t total) {
  static unsigned char chunk[65536];

  while (sent < total) {
    size_t n = total - sent < sizeof chunk ? total - sent : sizeof chunk;
    ssize_t k;
    for (size_t i = 0; i < n; i++)
      chunk[i] = pattern(sent + i);
    k = send(s, chunk, n, MSG_NOSIGNAL);
    if (k <= 0) {
      cr_assert(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "peer send: %s",
                strerror(errno));
      break;
    }
    sent += (size_t)k;
  }
  return sent;
}

/* More than the ring holds (N buffers of 16 KiB), so that holding every
 * buffer delivered leaves bytes in the socket: the multishot receive runs the
 * ring dry. The receive buffers of loopback TCP take the rest. */
#define OVER (XFER__URING_NBUFS * (size_t)XFER__URING_BUF_SIZE + 256 * 1024)

/* Receives OVER bytes on a multishot op while holding every buffer until the
 * ring is dry, then releases them and receives the rest: no -ENOBUFS is ever
 * delivered, the receive is re-armed, and every byte arrives once, in
 * order. */
static void exhaust_and_recover(struct got *g, uint64_t token) {
  struct xfer__op rx;
  size_t sent = 0;
  long long end;
  int c, s;

  pair(&c, &s);
  g->token = token;
  g->hold = 1;
  g->len = 0;
  g->nheld = 0;
  g->ended = 0;
  g->enobufs = 0;
  multishot_recv(&rx, token, c, NULL, 0);
  g->be->vt->submit(g->be, &rx);
  end = now_ms() + BOUND_MS;
  /* Phase 1: hold everything until the ring is dry and the receive parked. */
  while (g->nheld < (int)XFER__URING_NBUFS || stats(g).parked == 0) {
    cr_assert_lt(now_ms(), end, "held %d of %u buffers, %zu bytes, parked %u", g->nheld,
                 XFER__URING_NBUFS, g->len, stats(g).parked);
    sent = pump(s, sent, OVER);
    wait_ms(g, 10);
  }
  /* Every buffer of the ring served once, each a distinct one. */
  cr_assert_eq(g->nheld, (int)XFER__URING_NBUFS);
  for (int i = 0; i < g->nheld; i++)
    for (int j = i + 1; j < g->nheld; j++)
      cr_assert_neq(g->held[i], g->held[j]);
  cr_assert_eq(stats(g).bufs_out, XFER__URING_NBUFS);
  cr_assert_lt(g->len, OVER);
  /* Dry, not failed: the runtime heard nothing, the op is still armed. */
  wait_ms(g, 20);
  cr_assert_eq(g->enobufs, 0);
  cr_assert_eq(g->ended, 0);
  cr_assert_eq(stats(g).parked, 1);
  /* Phase 2: hand the buffers back; the receive is re-armed and the rest
   * arrives, released as it comes. */
  unsigned long rearms = stats(g).rearms;
  release_held(g);
  g->hold = 0;
  cr_assert_eq(stats(g).bufs_out, 0);
  while (g->len < OVER) {
    cr_assert_lt(now_ms(), end, "%zu of %zu bytes", g->len, (size_t)OVER);
    sent = pump(s, sent, OVER);
    wait_ms(g, 10);
  }
  cr_assert_gt(stats(g).rearms, rearms);
  cr_assert_eq(g->len, OVER);
  for (size_t i = 0; i < OVER; i++)
    cr_assert_eq(g->data[i], pattern(i), "byte %zu", i);
  cr_assert_eq(g->enobufs, 0);
  cr_assert_eq(g->ended, 0);
  cr_assert_eq(g->foreign, 0);
  cr_assert_eq(stats(g).bufs_out, 0);
  g->be->vt->close_fd(g->be, c);
  close(s);
}

/* ---- the tests ---- */

Test(uring, ring_set_up_with_defer_taskrun) {
  struct got g;
  unsigned flags;

  open_uring(&g, 1);
  flags = xfer__uring_setup_flags(g.be);
  /* Kernel 6.1 or later (this VM runs 6.18): the first probe succeeds. */
  cr_assert(flags & IORING_SETUP_DEFER_TASKRUN, "setup flags %#x", flags);
  cr_assert(flags & IORING_SETUP_SINGLE_ISSUER, "setup flags %#x", flags);
  cr_assert(stats(&g).multishot);
  g.be->vt->destroy(g.be);
  free(g.data);
}

Test(uring, buffer_ring_exhaustion_rearms, .timeout = 30) {
  struct got g;

  open_uring(&g, OVER);
  exhaust_and_recover(&g, 0x51);
  g.be->vt->destroy(g.be);
  free(g.data);
}

/* A multishot receive whose fd is closed while data is pending and while
 * completions for it sit in the same reap sweep: nothing of the old fd
 * reaches the callback after the close, every buffer comes back, the op
 * table forgets it, and the ring serves all of its buffers again. */
Test(uring, stale_completions_after_close, .timeout = 30) {
  struct got g;
  struct xfer__op rx;
  size_t sent = 0;
  long long end;
  int c, s;

  open_uring(&g, OVER);
  pair(&c, &s);
  g.token = 0x7;
  g.hold = 1;
  multishot_recv(&rx, g.token, c, NULL, 0);
  g.be->vt->submit(g.be, &rx);
  wait_ms(&g, 0); /* armed in the kernel */
  /* 64 KiB waiting: at least four buffers' worth, so one wait reaps several
   * CQEs for the op, and the first callback closes the fd under the rest. */
  sent = pump(s, sent, 65536);
  cr_assert_eq(sent, 65536);
  g.close_fd = c;
  end = now_ms() + BOUND_MS;
  while (!g.closed) {
    cr_assert_lt(now_ms(), end);
    wait_ms(&g, 10);
  }
  cr_assert_eq(g.calls, 1, "%d callbacks", g.calls);
  cr_assert_eq(g.calls_after_close, 0);
  /* More data for the closed connection, and time for anything late. */
  (void)pump(s, 0, 16384);
  for (int i = 0; i < 5; i++)
    wait_ms(&g, 10);
  cr_assert_eq(g.calls_after_close, 0);
  cr_assert_eq(g.foreign, 0);
  cr_assert_eq(g.nheld, 1);
  release_held(&g);
  cr_assert_eq(stats(&g).bufs_out, 0);
  cr_assert_eq(stats(&g).ops, 0, "the closed op is still tracked");
  close(s);

  /* Closed before its SQE ever reached the kernel (submitted and closed in
   * the same turn): no completion either, and nothing left behind. */
  pair(&c, &s);
  multishot_recv(&rx, 0x8, c, NULL, 0);
  g.be->vt->submit(g.be, &rx);
  g.be->vt->close_fd(g.be, c);
  (void)pump(s, 0, 1000);
  wait_ms(&g, 20);
  cr_assert_eq(g.calls, 1);
  cr_assert_eq(stats(&g).ops, 0);
  close(s);

  /* Nothing leaked: every one of the ring's buffers can be filled again. */
  g.calls = 0;
  exhaust_and_recover(&g, 0x9);
  g.be->vt->destroy(g.be);
  free(g.data);
}

/* io_uring refused by the process's seccomp policy, the way container
 * runtimes refuse it: AUTO settles on epoll, an explicit choice reports the
 * error, and the public API carries on. Criterion runs each test in its own
 * process, so the filter stays in this one. */
static void deny_io_uring_setup(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};

  cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
  cr_assert_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog), 0, "seccomp: %s",
               strerror(errno));
}

static void no_complete(void *ctx, uint64_t token, int32_t res, void *buf, unsigned flags) {
  (void)ctx, (void)token, (void)res, (void)buf, (void)flags;
}

Test(uring, setup_refused_falls_back) {
  struct xfer__backend *be;
  xfer_multi *m;

  unsetenv("XFER_BACKEND");
  deny_io_uring_setup();
  cr_assert_eq(xfer__backend_create(XFER__BACKEND_IO_URING, no_complete, NULL, &be), -EPERM);
  cr_assert_null(be);
  /* The test suites' own probe sees the refusal too, and names it: it is
   * what makes them skip io_uring instead of failing. */
  cr_assert_eq(xt_uring_setup_errno(), EPERM);
  cr_assert_eq(xfer__backend_create(XFER__BACKEND_AUTO, no_complete, NULL, &be), 0);
  cr_assert_eq(be->vt->id, XFER__BACKEND_EPOLL);
  be->vt->destroy(be);

  m = xfer_multi_init();
  cr_assert_not_null(m);
  cr_assert_str_eq(xfer_multi_backend(m), "epoll");
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, XFER_BACKEND_IO_URING),
               XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_str_eq(xfer_multi_backend(m), "epoll");
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
}
