/* The backend seam (backends/backend.h), driven directly over loopback TCP.
 *
 * Every scenario runs once per backend built in (a Criterion parameterized
 * test per scenario), so a backend added to the registry is covered without
 * touching this file. The test is its own peer: the far end of each
 * connection is a plain socket this thread reads and writes, which keeps
 * every step deterministic without threads or sleeps. Every wait is bounded,
 * so a broken backend fails a test instead of hanging it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "xtest.h"
#include "backends/epoll.h"
#include "runtime/alloc.h"

/* Loopback answers in microseconds; two seconds only bounds a failure. */
#define BOUND_MS 2000

static const char *be_name = "?";

#define expect(cond) cr_assert((cond), "[%s] %s", be_name, #cond)
#define expect_eq(a, b)                                                                       \
  cr_assert((long long)(a) == (long long)(b), "[%s] %s == %s: %lld vs %lld", be_name, #a, #b, \
            (long long)(a), (long long)(b))

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU time of this thread: a wait that should sleep but spins on a
 * level-triggered event lasts as long as one that sleeps, but burns it. */
static long long cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- completions, as the callback saw them ---- */

/* More than any scenario produces: the large send's partial completions are
 * counted, not stored. */
#define MAX_DONE 32

struct done {
  uint64_t token;
  int32_t res;
  char data[64]; /* a RECV's first bytes, copied while the buffer is valid */
};

/* Ops submitted through submit(), by token: the callback clears an op's
 * armed flag on its last completion, as the runtime does (a completion
 * backend never touches the op after submitting it). */
#define MAX_OPS 16

struct rec {
  struct xfer__backend *be;
  struct done done[MAX_DONE];
  int n;
  struct xfer__op *ops[MAX_OPS];
  int nops;
  /* Runs inside the completion callback, as the runtime's code would. */
  void (*hook)(struct rec *rec, const struct done *d);
  int hook_fd; /* scratch for hooks */
  int hook_port;
  struct xfer__op *hook_op;
};

static void on_complete(void *ctx, uint64_t token, int32_t res, void *buf, unsigned flags) {
  (void)flags;
  struct rec *rec = ctx;
  struct done *d;

  cr_assert_lt(rec->n, MAX_DONE, "[%s] too many completions", be_name);
  if (!(flags & XFER__CF_MORE))
    for (int i = 0; i < rec->nops; i++)
      if (rec->ops[i]->token == token)
        rec->ops[i]->armed = 0;
  d = &rec->done[rec->n++];
  d->token = token;
  d->res = res;
  memset(d->data, 0, sizeof d->data);
  if (buf != NULL && res > 0)
    memcpy(d->data, buf, (size_t)res < sizeof d->data ? (size_t)res : sizeof d->data - 1);
  if (rec->hook)
    rec->hook(rec, d);
}

static const struct done *find_token(const struct rec *rec, uint64_t token) {
  for (int i = 0; i < rec->n; i++)
    if (rec->done[i].token == token)
      return &rec->done[i];
  return NULL;
}

/* ---- the backend under test ---- */

static enum xfer__backend_id built[3];

static struct criterion_test_params backend_params(void) {
  /* In registry order, io_uring included, so each new backend joins the
   * suite by being built in. */
  static const enum xfer__backend_id ids[] = {XFER__BACKEND_IO_URING, XFER__BACKEND_EPOLL,
                                              XFER__BACKEND_POLL};
  size_t n = 0;

  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (xfer__backend_built_in(ids[i]))
      built[n++] = ids[i];
  return cr_make_param_array(enum xfer__backend_id, built, n);
}

#define BACKEND_TEST(name)                                                \
  ParameterizedTestParameters(backend, name) { return backend_params(); } \
  ParameterizedTest(enum xfer__backend_id *id, backend, name, .timeout = 20)

static void open_backend(struct rec *rec, enum xfer__backend_id id) {
  if (id == XFER__BACKEND_IO_URING)
    xt_require_io_uring();
  memset(rec, 0, sizeof *rec);
  be_name = xfer__backend_name(id);
  expect_eq(xfer__backend_create(id, on_complete, rec, &rec->be), 0);
  expect(rec->be->vt->id == id);
}

static void do_wait(struct rec *rec, int timeout_ms) {
  int nx = -1;

  expect_eq(rec->be->vt->wait(rec->be, timeout_ms, NULL, 0, &nx), 0);
  expect_eq(nx, 0);
}

/* Waits until at least n completions have arrived in total. */
static void wait_until(struct rec *rec, int n) {
  long long end = now_ms() + BOUND_MS;

  while (rec->n < n) {
    long long left = end - now_ms();
    expect(left > 0);
    do_wait(rec, (int)left);
  }
}

/* A 50 ms wait must sleep it, not spin it: at least 40 ms of wall time (the
 * timeout is honoured), at most 500 (generous for a loaded machine), and
 * under 25 ms of CPU (a sleeping wait uses microseconds). */
static void expect_sleeps_50ms(struct rec *rec) {
  long long t0 = now_ms();
  long long c0 = cpu_ms();
  long long spent;

  do_wait(rec, 50);
  spent = now_ms() - t0;
  expect(spent >= 40 && spent <= 500);
  expect(cpu_ms() - c0 < 25);
}

static void op_init(struct xfer__op *op, uint64_t token, int fd, enum xfer__op_kind kind) {
  memset(op, 0, sizeof *op);
  op->token = token;
  op->fd = fd;
  op->kind = (uint8_t)kind;
}

/* Addresses of the CONNECT ops in flight, indexed by token: the kernel reads
 * one when it takes the SQE, after submit() returned. */
static struct sockaddr_in connect_addr[16];

/* A CONNECT of a new non-blocking socket (or of fd when fd >= 0) to
 * 127.0.0.1:port; the backend starts the connect. */
static void connect_op(struct xfer__op *op, uint64_t token, int fd, int port) {
  cr_assert(token < 16);
  if (fd < 0)
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  cr_assert(fd >= 0);
  op_init(op, token, fd, XFER__OP_CONNECT);
  connect_addr[token] = (struct sockaddr_in){.sin_family = AF_INET,
                                             .sin_port = htons((uint16_t)port),
                                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  op->addr = (const struct sockaddr *)&connect_addr[token];
  op->addrlen = sizeof connect_addr[token];
}

static void recv_op(struct xfer__op *op, uint64_t token, int fd, void *buf, size_t len) {
  op_init(op, token, fd, XFER__OP_RECV);
  op->buf = buf;
  op->len = len;
}

static void send_op(struct xfer__op *op, uint64_t token, int fd, const struct iovec *iov,
                    int iovcnt) {
  op_init(op, token, fd, XFER__OP_SEND);
  op->iov = iov;
  op->iovcnt = iovcnt;
}

static void submit(struct rec *rec, struct xfer__op *op) {
  int i;

  for (i = 0; i < rec->nops && rec->ops[i] != op; i++)
    ;
  if (i == rec->nops) {
    cr_assert_lt(rec->nops, MAX_OPS);
    rec->ops[rec->nops++] = op;
  }
  rec->be->vt->submit(rec->be, op);
}

/* Closes the backend's fd c through it, the backend, and the peer fd s. */
static void finish(struct rec *rec, int c, int s) {
  rec->be->vt->close_fd(rec->be, c);
  rec->be->vt->destroy(rec->be);
  close(s);
}

/* ---- sockets ---- */

static int listener(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  cr_assert(fd >= 0);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0); /* port 0: ephemeral */
  cr_assert_eq(listen(fd, 16), 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* A non-blocking socket whose connect() to 127.0.0.1:port has been started
 * by the test itself (one end of pair()). */
static int connect_start(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc;

  cr_assert(fd >= 0);
  rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  cr_assert(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
  return fd;
}

/* A port nothing listens on: bound, read and released again. The kernel
 * hands out ephemeral ports in sequence, so it is not reused at once. */
static int closed_port(void) {
  int port;
  close(listener(&port));
  return port;
}

/* A connected pair: *c non-blocking (the backend's side), *s blocking (the
 * test's peer). The loopback handshake completes inside connect(), so the
 * accept() does not block. */
static void pair(int *c, int *s) {
  int port;
  int l = listener(&port);

  *c = connect_start(port);
  *s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  cr_assert(*s >= 0);
  close(l);
}

/* ---- scenarios ---- */

BACKEND_TEST(connect_outcomes) {
  struct rec rec;
  struct xfer__op ok, refused, nowhere;
  int port;
  int l = listener(&port);

  open_backend(&rec, *id);
  connect_op(&ok, 7, -1, port);
  connect_op(&refused, 8, -1, closed_port());
  /* A CONNECT must name its address: without one it fails, never waits. */
  connect_op(&nowhere, 9, -1, port);
  nowhere.addr = NULL;
  submit(&rec, &ok);
  submit(&rec, &refused);
  submit(&rec, &nowhere);
  wait_until(&rec, 3);
  expect_eq(find_token(&rec, 7)->res, 0);
  expect_eq(find_token(&rec, 8)->res, -ECONNREFUSED);
  expect_eq(find_token(&rec, 9)->res, -EINVAL);
  expect(!ok.armed && !refused.armed && !nowhere.armed);
  rec.be->vt->close_fd(rec.be, refused.fd);
  rec.be->vt->close_fd(rec.be, nowhere.fd);
  finish(&rec, ok.fd, l);
}

BACKEND_TEST(send_recv_round_trip) {
  struct rec rec;
  struct xfer__op tx, rx;
  struct iovec iov[2] = {{"hello, ", 7}, {"world", 5}}; /* two: the sendmsg path */
  char got[16] = {0};
  char buf[64];
  int c, s;

  open_backend(&rec, *id);
  pair(&c, &s);
  send_op(&tx, 1, c, iov, 2);
  recv_op(&rx, 2, c, buf, sizeof buf);
  submit(&rec, &tx);
  submit(&rec, &rx);
  wait_until(&rec, 1);
  expect_eq(rec.done[0].token, 1);
  expect_eq(rec.done[0].res, 12);
  expect_eq(recv(s, got, 12, MSG_WAITALL), 12);
  expect(memcmp(got, "hello, world", 12) == 0);
  expect_eq(send(s, "pong!", 5, 0), 5);
  wait_until(&rec, 2);
  expect_eq(rec.done[1].token, 2);
  expect_eq(rec.done[1].res, 5);
  expect(memcmp(rec.done[1].data, "pong!", 5) == 0);
  finish(&rec, c, s);
}

/* A peer's FIN: a RECV gets 0, an idle watch (POLL_IN) fires. */
BACKEND_TEST(peer_fin) {
  struct rec rec;
  struct xfer__op rx, w;
  char buf[16];
  int c, s, c2, s2;

  open_backend(&rec, *id);
  pair(&c, &s);
  pair(&c2, &s2);
  recv_op(&rx, 3, c, buf, sizeof buf);
  op_init(&w, 4, c2, XFER__OP_POLL_IN);
  w.flags = XFER__OPF_INTERNAL;
  submit(&rec, &rx);
  submit(&rec, &w);
  /* Idle connections do not fire... */
  expect_sleeps_50ms(&rec);
  expect_eq(rec.n, 0);
  /* ...a FIN does. */
  close(s);
  expect_eq(shutdown(s2, SHUT_WR), 0);
  wait_until(&rec, 2);
  expect_eq(find_token(&rec, 3)->res, 0);
  expect(find_token(&rec, 4)->res & (POLLIN | POLLHUP));
  rec.be->vt->close_fd(rec.be, c);
  finish(&rec, c2, s2);
}

BACKEND_TEST(cancel_gives_no_completion) {
  struct rec rec;
  struct xfer__op rx, early;
  char buf[16];
  int c, s, rc;

  open_backend(&rec, *id);
  pair(&c, &s);
  /* Cancelled before any wait()... */
  op_init(&early, 5, c, XFER__OP_POLL_IN);
  submit(&rec, &early);
  rc = rec.be->vt->cancel(rec.be, &early);
  expect(rc == 0 || rc == 1);
  /* ...and after a wait() has armed it in the kernel. */
  recv_op(&rx, 6, c, buf, sizeof buf);
  submit(&rec, &rx);
  do_wait(&rec, 0);
  rc += rec.be->vt->cancel(rec.be, &rx);
  /* A backend that cancels asynchronously (rc 1) owes one -ECANCELED per
   * cancel; they may come at once, so they are collected before the quiet
   * period below. */
  wait_until(&rec, rc);
  expect_eq(send(s, "data", 4, 0), 4);
  /* Readable data and no op: the fd must neither complete anything nor
   * wake the wait over and over (level-triggered interest left behind). */
  expect_sleeps_50ms(&rec);
  expect_eq(rec.n, rc);
  for (int i = 0; i < rec.n; i++)
    expect_eq(rec.done[i].res, -ECANCELED);
  expect_eq(recv(c, buf, sizeof buf, 0), 4); /* the bytes are still there */
  finish(&rec, c, s);
}

/* The hook of close_during_dispatch: the first completion for the old fd
 * closes it and opens a new socket that gets the same number. */
static void close_and_reopen(struct rec *rec, const struct done *d) {
  int fd;

  if (d->token != 1 && d->token != 2)
    return;
  rec->be->vt->close_fd(rec->be, rec->hook_fd);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  expect(fd >= 0);
  /* socket() returns the lowest free number, usually the one just closed;
   * a lower hole elsewhere in the process would hide the case under test,
   * so the number is forced. */
  if (fd != rec->hook_fd) {
    expect_eq(dup3(fd, rec->hook_fd, O_CLOEXEC), rec->hook_fd);
    close(fd);
  }
  connect_op(rec->hook_op, 3, rec->hook_fd, rec->hook_port);
  submit(rec, rec->hook_op);
  rec->hook = NULL;
}

BACKEND_TEST(close_during_dispatch) {
  struct rec rec;
  struct xfer__op rx, tx, fresh;
  struct iovec iov = {"x", 1};
  static char filler[1 << 16];
  char buf[16];
  struct pollfd p;
  int c, s, l, port;
  long long end;

  open_backend(&rec, *id);
  l = listener(&port);
  pair(&c, &s);
  /* Fill c's send path so that the SEND below must wait for writability
   * and is not completed by an optimistic send: then one wait() gathers a
   * readable and a writable event for c at once. */
  while (send(c, filler, sizeof filler, MSG_DONTWAIT) > 0)
    ;
  recv_op(&rx, 1, c, buf, sizeof buf);
  send_op(&tx, 2, c, &iov, 1);
  submit(&rec, &rx);
  submit(&rec, &tx);
  do_wait(&rec, 0);
  expect_eq(rec.n, 0);
  /* The peer drains everything and answers; c is then both readable and
   * writable, which poll() itself confirms before the backend looks. */
  expect(fcntl(s, F_SETFL, O_NONBLOCK) == 0);
  expect_eq(send(s, "r", 1, 0), 1);
  p.fd = c;
  p.events = POLLIN | POLLOUT;
  end = now_ms() + BOUND_MS;
  do {
    while (recv(s, filler, sizeof filler, 0) > 0)
      ;
    expect(now_ms() < end);
    p.revents = 0;
    expect(poll(&p, 1, 10) >= 0);
  } while ((p.revents & (POLLIN | POLLOUT)) != (POLLIN | POLLOUT));

  rec.hook = close_and_reopen;
  rec.hook_fd = c;
  rec.hook_port = port;
  rec.hook_op = &fresh;
  do_wait(&rec, BOUND_MS);
  /* One completion for the old fd, the other dropped with the close; the
   * new socket's CONNECT only takes effect at the next wait(). */
  expect_eq(rec.n, 1);
  expect(rec.hook == NULL);
  wait_until(&rec, 2);
  expect_eq(rec.done[1].token, 3);
  expect_eq(rec.done[1].res, 0);
  /* And nothing more ever comes for the old fd. */
  do_wait(&rec, 20);
  expect_eq(rec.n, 2);
  finish(&rec, fresh.fd, s);
  close(l);
}

BACKEND_TEST(extra_fds_wake_the_wait) {
  struct rec rec;
  struct xfer__pollfd x[2];
  struct xfer__op rx;
  char buf[8];
  long long t0;
  int p[2], c, s, nx;

  open_backend(&rec, *id);
  expect(pipe2(p, O_CLOEXEC) == 0);
  x[0] = (struct xfer__pollfd){.fd = p[0], .events = POLLIN};
  t0 = now_ms();
  expect_eq(rec.be->vt->wait(rec.be, 50, x, 1, &nx), 0);
  expect(now_ms() - t0 >= 40);
  expect_eq(nx, 0);
  expect_eq(x[0].revents, 0);

  expect_eq(write(p[1], "!", 1), 1);
  t0 = now_ms();
  expect_eq(rec.be->vt->wait(rec.be, BOUND_MS, x, 1, &nx), 0);
  expect(now_ms() - t0 < BOUND_MS / 2);
  expect_eq(nx, 1);
  expect(x[0].revents & POLLIN);
  /* The pipe is still readable, but no longer part of the wait. */
  expect_sleeps_50ms(&rec);

  /* An extra fd that is also one of ours (its RECV armed) serves both. */
  pair(&c, &s);
  recv_op(&rx, 10, c, buf, sizeof buf);
  submit(&rec, &rx);
  x[0] = (struct xfer__pollfd){.fd = c, .events = POLLIN};
  x[1] = (struct xfer__pollfd){.fd = -1, .events = POLLIN}; /* ignored, as by poll(2) */
  expect_eq(send(s, "ab", 2, 0), 2);
  expect_eq(rec.be->vt->wait(rec.be, BOUND_MS, x, 2, &nx), 0);
  expect_eq(nx, 1);
  expect_eq(x[1].revents, 0);
  wait_until(&rec, 1);
  expect_eq(rec.done[0].res, 2);
  finish(&rec, c, s);
  close(p[0]);
  close(p[1]);
}

static int fdset_of(struct rec *rec, fd_set *r, fd_set *w) {
  int max_fd = -1;

  FD_ZERO(r);
  FD_ZERO(w);
  rec->be->vt->fdset(rec->be, r, w, &max_fd);
  return max_fd;
}

BACKEND_TEST(fdset_reports_transfer_fds) {
  struct rec rec;
  struct xfer__op rx, conn, wake;
  char buf[8];
  fd_set r, w;
  int p[2], a, s, l, port, max_fd;

  open_backend(&rec, *id);
  expect(pipe2(p, O_CLOEXEC) == 0);
  l = listener(&port);
  pair(&a, &s);
  recv_op(&rx, 1, a, buf, sizeof buf);
  connect_op(&conn, 2, -1, port);
  op_init(&wake, 3, p[0], XFER__OP_POLL_IN);
  wake.flags = XFER__OPF_INTERNAL;
  submit(&rec, &rx);
  submit(&rec, &conn);
  submit(&rec, &wake);
  /* Armed ops count from submit(), before any wait() flushed them. */
  max_fd = fdset_of(&rec, &r, &w);
  expect(FD_ISSET(a, &r) && !FD_ISSET(a, &w));
  expect(FD_ISSET(conn.fd, &w) && !FD_ISSET(conn.fd, &r));
  expect(!FD_ISSET(p[0], &r) && !FD_ISSET(p[0], &w));
  expect_eq(max_fd, a > conn.fd ? a : conn.fd);
  /* Once the CONNECT has completed, only the RECV is left. */
  wait_until(&rec, 1);
  expect_eq(rec.done[0].token, 2);
  max_fd = fdset_of(&rec, &r, &w);
  expect(FD_ISSET(a, &r) && !FD_ISSET(conn.fd, &w));
  expect_eq(max_fd, a);
  rec.be->vt->close_fd(rec.be, a);
  rec.be->vt->close_fd(rec.be, conn.fd);
  finish(&rec, p[0], p[1]);
  close(s);
  close(l);
}

/* 8 MiB: far more than loopback buffers hold, so the send must come back
 * short many times while the peer drains 64 KiB per turn. */
#define BIG   (8u << 20)
#define DRAIN 65536u

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7u + (i >> 12)); }

BACKEND_TEST(large_send_in_partial_completions) {
  struct rec rec;
  struct xfer__op tx;
  struct xfer__pollfd x;
  struct iovec iov[2];
  unsigned char *big = malloc(BIG);
  static unsigned char chunk[DRAIN];
  const size_t split = (1u << 20) + 17; /* an iovec boundary inside the data */
  size_t sent = 0, got = 0;
  int sends = 0, c, s, nx;

  cr_assert(big != NULL);
  for (size_t i = 0; i < BIG; i++)
    big[i] = pattern(i);
  open_backend(&rec, *id);
  pair(&c, &s);
  expect(fcntl(s, F_SETFL, O_NONBLOCK) == 0);
  send_op(&tx, 11, c, iov, 0); /* the iovecs are set at each submit */
  /* The peer is an extra fd of the wait: it wakes when there is something
   * to drain, so the loop never spins and never sleeps. */
  x = (struct xfer__pollfd){.fd = s, .events = POLLIN};
  for (int turn = 0; got < BIG; turn++) {
    ssize_t n;

    expect(turn < 100000);
    if (sent < BIG && !tx.armed) {
      int k = 0;
      if (sent < split)
        iov[k++] = (struct iovec){big + sent, split - sent};
      iov[k].iov_base = big + (sent > split ? sent : split);
      iov[k].iov_len = BIG - (sent > split ? sent : split);
      tx.iovcnt = k + 1;
      rec.n = 0;
      submit(&rec, &tx);
    }
    expect_eq(rec.be->vt->wait(rec.be, BOUND_MS, &x, 1, &nx), 0);
    if (rec.n > 0) {
      expect_eq(rec.n, 1);
      expect(rec.done[0].res > 0);
      sent += (size_t)rec.done[0].res;
      sends++;
      rec.n = 0;
    }
    n = recv(s, chunk, sizeof chunk, 0);
    expect(n > 0 || errno == EAGAIN);
    for (ssize_t i = 0; i < n; i++)
      cr_assert_eq(chunk[i], pattern(got + (size_t)i), "[%s] byte %zu", be_name, got + (size_t)i);
    if (n > 0)
      got += (size_t)n;
  }
  expect_eq(sent, BIG);
  expect(sends >= 2);
  finish(&rec, c, s);
  free(big);
}

/* With nothing armed a wait sleeps its full timeout (an idle armed fd is
 * covered by peer_fin), and a signal that interrupts the kernel's wait does
 * not cut it short: the backend retries with what is left. */
static void on_alarm(int sig) { (void)sig; }

BACKEND_TEST(timeout_honoured_through_signals) {
  struct rec rec;
  struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: EINTR */
  struct itimerval it = {.it_value = {.tv_usec = 20000}};
  long long t0, spent;

  open_backend(&rec, *id);
  expect_sleeps_50ms(&rec);
  expect(sigaction(SIGALRM, &sa, NULL) == 0);
  expect(setitimer(ITIMER_REAL, &it, NULL) == 0);
  t0 = now_ms();
  do_wait(&rec, 100);
  spent = now_ms() - t0;
  expect(spent >= 90 && spent <= 1000);
  rec.be->vt->destroy(rec.be);
}

/* Interest churn over several fds: ops cancelled, completed and resubmitted
 * in an order that moves entries around inside the backend's tables (the
 * poll backend's compact array and its fd-to-index map), checking that each
 * completion still belongs to the right fd. */
#define NCONN 6

BACKEND_TEST(interest_churn_over_many_fds) {
  struct rec rec;
  struct xfer__op rx[NCONN];
  char buf[NCONN][8];
  int c[NCONN], s[NCONN];
  static const int order[] = {0, 5, 2, 3, 1, 4};

  open_backend(&rec, *id);
  for (int i = 0; i < NCONN; i++) {
    pair(&c[i], &s[i]);
    recv_op(&rx[i], (uint64_t)(100 + i), c[i], buf[i], sizeof buf[i]);
    submit(&rec, &rx[i]);
  }
  do_wait(&rec, 0);
  for (int round = 0; round < 3; round++) {
    int async = 0;

    /* Withdraw the even ones, then the peers of all of them speak: only
     * the odd ones complete, each with its own peer's byte. An asynchronous
     * cancel's -ECANCELED may come as soon as the next wait: counted from
     * here. */
    rec.n = 0;
    for (int i = 0; i < NCONN; i += 2)
      async += rec.be->vt->cancel(rec.be, &rx[i]);
    do_wait(&rec, 0);
    for (int i = 0; i < NCONN; i++)
      expect_eq(send(s[i], &"abcdef"[i], 1, 0), 1);
    wait_until(&rec, NCONN / 2 + async);
    expect_sleeps_50ms(&rec);
    expect_eq(rec.n, NCONN / 2 + async);
    for (int k = 0; k < rec.n; k++) {
      int i = (int)rec.done[k].token - 100;
      if (rec.done[k].res == -ECANCELED && i % 2 == 0)
        continue; /* an asynchronous cancel's own completion */
      expect(i % 2 == 1);
      expect_eq(rec.done[k].res, 1);
      expect_eq(rec.done[k].data[0], "abcdef"[i]);
    }
    /* Resubmit all in a scrambled order: the even ones find their byte
     * waiting, the odd ones wait for the next round. */
    rec.n = 0;
    for (int k = 0; k < NCONN; k++)
      submit(&rec, &rx[order[k]]);
    wait_until(&rec, NCONN / 2);
    for (int k = 0; k < rec.n; k++) {
      int i = (int)rec.done[k].token - 100;
      expect(i % 2 == 0);
      expect_eq(rec.done[k].data[0], "abcdef"[i]);
      submit(&rec, &rx[i]);
    }
  }
  for (int i = 0; i < NCONN; i++) {
    rec.be->vt->close_fd(rec.be, c[i]);
    close(s[i]);
  }
  rec.be->vt->destroy(rec.be);
}

/* A runtime that has a send to make every turn (each completing at once)
 * must not starve its other fds: a ready RECV elsewhere still completes
 * within a couple of turns. */
BACKEND_TEST(busy_sender_does_not_starve_readers) {
  struct rec rec;
  struct xfer__op tx, rx;
  struct iovec iov = {"z", 1};
  char buf[8];
  int a, sa, b, sb, turn;

  open_backend(&rec, *id);
  pair(&a, &sa);
  pair(&b, &sb);
  recv_op(&rx, 2, b, buf, sizeof buf);
  submit(&rec, &rx);
  do_wait(&rec, 0);
  expect_eq(send(sb, "q", 1, 0), 1);
  send_op(&tx, 1, a, &iov, 1);
  /* Ten turns: the bound is "soon", the expectation two. */
  for (turn = 0; turn < 10 && (rx.armed || turn == 0); turn++) {
    submit(&rec, &tx);
    do_wait(&rec, 0);
    expect(!tx.armed);
  }
  expect(!rx.armed && find_token(&rec, 2) != NULL);
  rec.be->vt->close_fd(rec.be, a);
  finish(&rec, b, sa);
  close(sb);
}

/* ---- steady state: no epoll_ctl, no allocation ---- */

static unsigned long nallocs;

static void *count_malloc(size_t n) {
  nallocs++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
  nallocs++;
  return realloc(p, n);
}
static void *count_calloc(size_t m, size_t n) {
  nallocs++;
  return calloc(m, n);
}
static char *count_strdup(const char *s) {
  nallocs++;
  return strdup(s);
}

/* One request/response the way the runtime drives a keep-alive connection:
 * SEND and RECV submitted together, the peer answers once the request is
 * in, the RECV completes; the ops are resubmitted next time. */
static void round_trip(struct rec *rec, struct xfer__op *tx, struct xfer__op *rx, int s) {
  char req[16];

  rec->n = 0;
  submit(rec, tx);
  submit(rec, rx);
  wait_until(rec, 1);
  expect_eq(rec->done[0].token, 1);
  expect_eq(rec->done[0].res, 16);
  expect_eq(recv(s, req, sizeof req, MSG_WAITALL), 16);
  expect_eq(send(s, "HTTP/1.1 200 OK\r\n\r\n", 19, 0), 19);
  wait_until(rec, 2);
  expect_eq(rec->done[1].token, 2);
  expect_eq(rec->done[1].res, 19);
}

BACKEND_TEST(keep_alive_steady_state) {
  struct rec rec;
  struct xfer__op tx, rx;
  struct iovec iov = {"GET / HTTP/1.1\r\n", 16};
  char buf[256];
  unsigned long ctl_after_first;
  int c, s;

  open_backend(&rec, *id);
  pair(&c, &s);
  send_op(&tx, 1, c, &iov, 1);
  recv_op(&rx, 2, c, buf, sizeof buf);
  round_trip(&rec, &tx, &rx, s);
  ctl_after_first = xfer__backend_epoll_ctl_count(rec.be);
  if (*id == XFER__BACKEND_EPOLL)
    expect(ctl_after_first >= 1); /* the counter does count */
  xfer__alloc_set(count_malloc, free, count_realloc, count_strdup, count_calloc);
  /* 100 round trips: enough to show a per-request cost, quick to run. */
  for (int i = 0; i < 100; i++)
    round_trip(&rec, &tx, &rx, s);
  xfer__alloc_set(malloc, free, realloc, strdup, calloc);
  expect_eq(xfer__backend_epoll_ctl_count(rec.be), ctl_after_first);
  expect_eq(nallocs, 0);
  finish(&rec, c, s);
}

/* ---- the registry ---- */

static void no_complete(void *ctx, uint64_t token, int32_t res, void *buf, unsigned flags) {
  (void)flags;
  (void)ctx, (void)token, (void)res, (void)buf;
}

/* AUTO takes the first backend that works; an explicit choice is honoured
 * or refused, never substituted. */
Test(registry, create) {
  static const struct xfer__backend_vtable *const want[] = {
      [XFER__BACKEND_POLL] = &xfer__backend_poll, [XFER__BACKEND_EPOLL] = &xfer__backend_epoll};
  struct xfer__backend *be;

  cr_assert_eq(xfer__backend_create(XFER__BACKEND_AUTO, no_complete, NULL, &be), 0);
  cr_assert_str_eq(be->vt->name,
                   xfer__backend_built_in(XFER__BACKEND_IO_URING) ? "io_uring" : "epoll");
  be->vt->destroy(be);
  for (int id = XFER__BACKEND_POLL; id <= XFER__BACKEND_EPOLL; id++) {
    cr_assert_eq(xfer__backend_create((enum xfer__backend_id)id, no_complete, NULL, &be), 0);
    cr_assert_eq(be->vt, want[id]);
    be->vt->destroy(be);
  }
  if (!xfer__backend_built_in(XFER__BACKEND_IO_URING)) {
    cr_assert_eq(xfer__backend_create(XFER__BACKEND_IO_URING, no_complete, NULL, &be), -ENOTSUP);
    cr_assert_null(be);
  }
  cr_assert_eq(xfer__backend_create((enum xfer__backend_id)99, no_complete, NULL, &be), -EINVAL);
}

Test(registry, environment_override) {
  static const struct {
    const char *value;
    int id;
  } cases[] = {{"", XFER__BACKEND_AUTO},
               {"poll", XFER__BACKEND_POLL},
               {"epoll", XFER__BACKEND_EPOLL},
               {"io_uring", XFER__BACKEND_IO_URING},
               {"auto", XFER__BACKEND_AUTO},
               {"kqueue", -EINVAL},
               {"EPOLL", -EINVAL}};

  unsetenv("XFER_BACKEND");
  cr_assert_eq(xfer__backend_from_env(), XFER__BACKEND_AUTO);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv("XFER_BACKEND", cases[i].value, 1);
    cr_assert_eq(xfer__backend_from_env(), cases[i].id, "XFER_BACKEND=%s", cases[i].value);
  }
  unsetenv("XFER_BACKEND");
}

Test(registry, names_and_list) {
  cr_assert_str_eq(xfer__backend_name(XFER__BACKEND_POLL), "poll");
  cr_assert_str_eq(xfer__backend_name(XFER__BACKEND_EPOLL), "epoll");
  cr_assert_str_eq(xfer__backend_name(XFER__BACKEND_IO_URING), "io_uring");
  cr_assert_str_eq(xfer__backend_name((enum xfer__backend_id)42), "unknown");
  cr_assert(xfer__backend_built_in(XFER__BACKEND_POLL));
  cr_assert(xfer__backend_built_in(XFER__BACKEND_EPOLL));
  cr_assert(!xfer__backend_built_in(XFER__BACKEND_AUTO));
  /* The list names exactly the built-in backends. */
  cr_assert_str_eq(xfer__backend_list(), xfer__backend_built_in(XFER__BACKEND_IO_URING)
                                             ? "io_uring,epoll,poll"
                                             : "epoll,poll");
}
