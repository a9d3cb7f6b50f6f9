/* Waiting on a multi: xfer_multi_poll, xfer_multi_wait, xfer_multi_wakeup
 * (same thread and from a signal handler; the cross-thread cases are in
 * test_wakeup.c), xfer_multi_fdset and xfer_multi_timeout, with libcurl's
 * contract (the curl_multi_poll, curl_multi_wait, curl_multi_wakeup,
 * curl_multi_fdset and curl_multi_timeout man pages, and libcurl 7.88's
 * observed answers where they are silent). Timings are asserted by bounds only: a
 * lower bound shows a call really waited, an upper bound that it did not
 * wait for its whole timeout; no sleep is used to order events. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void setup(void) { xt_env_up(&srv, &multi); }

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(multi_wait, .init = setup, .fini = teardown, .timeout = 60);

static void req(struct xt_req *r, const char *path) {
  char url[160];
  ts_url(srv, path, url, sizeof url);
  xt_req_init(r, url);
}

/* A route that reads the request and never answers: the transfer then
 * waits on a quiet socket for as long as the test wants. */
static void route_idle(const char *path) {
  const struct ts_step steps[] = {TS_STEP(TS_IDLE)};
  ts_route(srv, path, steps, 1);
}

/* Milliseconds one poll (is_poll) or wait call takes; asserts it succeeded. */
static uint64_t timed(int is_poll, struct xfer_waitfd *extra, unsigned n, int timeout_ms,
                      int *numfds) {
  uint64_t t0 = xt_now_ms();
  xfer_mcode rc = is_poll ? xfer_multi_poll(multi, extra, n, timeout_ms, numfds)
                          : xfer_multi_wait(multi, extra, n, timeout_ms, numfds);
  uint64_t dt = xt_now_ms() - t0;
  cr_assert_eq(rc, XFERM_OK, "%s: %s", is_poll ? "poll" : "wait", xfer_multi_strerror(rc));
  return dt;
}

/* Adds a transfer to an idle route and drives it until the server holds the
 * request and the multi has nothing left to do but wait on the socket (a
 * poll with no activity). Bounded. */
static void start_quiet_transfer(struct xt_req *r) {
  route_idle("/idle");
  req(r, "/idle");
  cr_assert_eq(xfer_multi_add_handle(multi, r->e), XFERM_OK);
  uint64_t end = xt_now_ms() + 10000;
  while (ts_requests(srv) < 1) {
    cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
    cr_assert(xt_now_ms() < end, "the request never reached the server");
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 20, NULL), XFERM_OK);
  }
  /* The send's completion may still be on its way; settle. */
  for (int i = 0;; i++) {
    int running = -1, numfds = -1;
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    cr_assert_eq(running, 1);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 20, &numfds), XFERM_OK);
    if (numfds == 0)
      break;
    cr_assert_lt(i, 50, "the transfer never went quiet");
  }
  cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
}

static void make_pipe(int p[2]) { cr_assert_eq(pipe(p), 0); }

/* ---- poll and wait on an empty multi --------------------------------------- */

Test(multi_wait, poll_on_an_empty_multi_waits_the_whole_timeout) {
  int numfds = -1;
  uint64_t dt = timed(1, NULL, 0, 300, &numfds);
  cr_assert_geq(dt, 250, "poll(300) returned after %llu ms", (unsigned long long)dt);
  cr_assert_lt(dt, 2000, "poll(300) returned after %llu ms", (unsigned long long)dt);
  cr_assert_eq(numfds, 0);
  /* numfds may be NULL. */
  dt = timed(1, NULL, 0, 100, NULL);
  cr_assert_geq(dt, 80);
}

Test(multi_wait, wait_on_an_empty_multi_returns_at_once) {
  int numfds = -1;
  uint64_t dt = timed(0, NULL, 0, 300, &numfds);
  cr_assert_lt(dt, 100, "wait(300) took %llu ms with nothing to wait on", (unsigned long long)dt);
  cr_assert_eq(numfds, 0);
  /* Also with a handle added but never performed: still nothing to watch. */
  struct xt_req r;
  req(&r, "/bytes/1");
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  dt = timed(0, NULL, 0, 300, &numfds);
  cr_assert_lt(dt, 300);
  xt_req_free(&r);
}

Test(multi_wait, negative_timeout_is_a_bad_argument) {
  int numfds = 42;
  cr_assert_eq(xfer_multi_poll(multi, NULL, 0, -1, &numfds), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_wait(multi, NULL, 0, -1, &numfds), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_poll(multi, NULL, 0, INT_MIN, NULL), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_wait(multi, NULL, 0, INT_MIN, NULL), XFERM_BAD_FUNCTION_ARGUMENT);
  /* Refused at once, not after some wait. */
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_poll(multi, NULL, 0, -1000, NULL), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_lt(xt_now_ms() - t0, 100);
  /* And a zero timeout is a plain check. */
  cr_assert_lt(timed(1, NULL, 0, 0, NULL), 100);
}

Test(multi_wait, null_multi_is_a_bad_handle) {
  long ms = 0;
  int max_fd = 0;
  fd_set r, w, e;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&e);
  cr_assert_eq(xfer_multi_poll(NULL, NULL, 0, 0, NULL), XFERM_BAD_HANDLE);
  cr_assert_eq(xfer_multi_wait(NULL, NULL, 0, 0, NULL), XFERM_BAD_HANDLE);
  cr_assert_eq(xfer_multi_wakeup(NULL), XFERM_BAD_HANDLE);
  cr_assert_eq(xfer_multi_fdset(NULL, &r, &w, &e, &max_fd), XFERM_BAD_HANDLE);
  cr_assert_eq(xfer_multi_timeout(NULL, &ms), XFERM_BAD_HANDLE);
}

/* ---- wakeup, same thread --------------------------------------------------- */

Test(multi_wait, wakeup_makes_the_next_poll_return_once) {
  cr_assert_eq(xfer_multi_wakeup(multi), XFERM_OK);
  int numfds = -1;
  uint64_t dt = timed(1, NULL, 0, 2000, &numfds);
  cr_assert_lt(dt, 1000, "a woken poll took %llu ms", (unsigned long long)dt);
  cr_assert_eq(numfds, 0, "the wakeup is not one of the counted fds");
  /* Consumed: the following poll waits again. */
  dt = timed(1, NULL, 0, 300, &numfds);
  cr_assert_geq(dt, 250, "the wakeup fired twice (%llu ms)", (unsigned long long)dt);
}

Test(multi_wait, ten_wakeups_collapse_into_one_early_return) {
  for (int i = 0; i < 10; i++)
    cr_assert_eq(xfer_multi_wakeup(multi), XFERM_OK);
  uint64_t dt = timed(1, NULL, 0, 2000, NULL);
  cr_assert_lt(dt, 1000);
  dt = timed(1, NULL, 0, 300, NULL);
  cr_assert_geq(dt, 250, "ten wakeups gave more than one early return");
}

Test(multi_wait, wakeup_survives_a_perform) {
  /* libcurl test 2414: wakeup; perform; poll must still return. */
  cr_assert_eq(xfer_multi_wakeup(multi), XFERM_OK);
  int running = -1;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  uint64_t dt = timed(1, NULL, 0, 5000, NULL);
  cr_assert_lt(dt, 1000, "perform swallowed the wakeup (%llu ms)", (unsigned long long)dt);
}

Test(multi_wait, wakeup_survives_a_perform_with_a_transfer) {
  struct xt_req r;
  start_quiet_transfer(&r);
  cr_assert_eq(xfer_multi_wakeup(multi), XFERM_OK);
  cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
  int numfds = -1;
  uint64_t dt = timed(1, NULL, 0, 5000, &numfds);
  cr_assert_lt(dt, 1000, "perform swallowed the wakeup (%llu ms)", (unsigned long long)dt);
  cr_assert_eq(numfds, 0);
  xt_req_free(&r);
}

Test(multi_wait, wait_is_not_woken_by_wakeup) {
  int p[2];
  make_pipe(p);
  /* A quiet extra fd gives wait something to wait on. */
  struct xfer_waitfd x = {.fd = p[0], .events = XFER_WAIT_POLLIN, .revents = 0};
  cr_assert_eq(xfer_multi_wakeup(multi), XFERM_OK);
  uint64_t dt = timed(0, &x, 1, 300, NULL);
  cr_assert_geq(dt, 250, "wait was woken by xfer_multi_wakeup (%llu ms)", (unsigned long long)dt);
  /* The wakeup is kept for the next poll. */
  dt = timed(1, NULL, 0, 2000, NULL);
  cr_assert_lt(dt, 1000, "the wakeup was lost by wait (%llu ms)", (unsigned long long)dt);
  close(p[0]);
  close(p[1]);
}

static xfer_multi *volatile signal_multi;
static volatile sig_atomic_t signal_rc = -100;

static void on_alarm(int sig) {
  (void)sig;
  signal_rc = (sig_atomic_t)xfer_multi_wakeup(signal_multi);
}

Test(multi_wait, wakeup_from_a_signal_handler) {
  signal_multi = multi;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
  /* The alarm may come before or during the poll; either way the poll must
   * return long before its 5 s, and an EINTR must not leak out as an error. */
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_usec = 100000;
  cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
  uint64_t dt = timed(1, NULL, 0, 5000, NULL);
  cr_assert_lt(dt, 1500, "a wakeup from a signal handler took %llu ms", (unsigned long long)dt);
  cr_assert_eq(signal_rc, XFERM_OK);
  signal(SIGALRM, SIG_DFL);
}

/* ---- extra fds ---------------------------------------------------------------- */

Test(multi_wait, readable_extra_fd_wakes_poll_and_wait) {
  int p[2];
  make_pipe(p);
  for (int is_poll = 0; is_poll < 2; is_poll++) {
    /* Quiet: the whole timeout, revents rewritten to 0. */
    struct xfer_waitfd x = {.fd = p[0], .events = XFER_WAIT_POLLIN, .revents = 0x7f};
    int numfds = -1;
    uint64_t dt = timed(is_poll, &x, 1, 200, &numfds);
    cr_assert_geq(dt, 150, "%s returned after %llu ms on a quiet fd", is_poll ? "poll" : "wait",
                  (unsigned long long)dt);
    cr_assert_eq(x.revents, 0);
    cr_assert_eq(numfds, 0);
    /* Readable: at once, reported in revents and counted. */
    cr_assert_eq(write(p[1], "x", 1), 1);
    x.revents = 0;
    dt = timed(is_poll, &x, 1, 5000, &numfds);
    cr_assert_lt(dt, 1000, "%s missed a readable fd", is_poll ? "poll" : "wait");
    cr_assert(x.revents & XFER_WAIT_POLLIN);
    cr_assert_eq(numfds, 1);
    char c;
    cr_assert_eq(read(p[0], &c, 1), 1);
  }
  close(p[0]);
  close(p[1]);
}

Test(multi_wait, several_extra_fds_are_reported_each) {
  int a[2], b[2];
  make_pipe(a);
  make_pipe(b);
  cr_assert_eq(write(b[1], "y", 1), 1);
  struct xfer_waitfd x[3] = {
      {.fd = a[0], .events = XFER_WAIT_POLLIN, .revents = 0x7f},
      {.fd = b[0], .events = XFER_WAIT_POLLIN, .revents = 0x7f},
      {.fd = a[1], .events = XFER_WAIT_POLLOUT, .revents = 0x7f}, /* an empty pipe is writable */
  };
  int numfds = -1;
  uint64_t dt = timed(1, x, 3, 5000, &numfds);
  cr_assert_lt(dt, 1000);
  cr_assert_eq(x[0].revents, 0);
  cr_assert(x[1].revents & XFER_WAIT_POLLIN);
  cr_assert(x[2].revents & XFER_WAIT_POLLOUT);
  cr_assert_eq(numfds, 2);
  for (int i = 0; i < 2; i++) {
    close(a[i]);
    close(b[i]);
  }
}

Test(multi_wait, every_extra_fd_is_watched_however_many) {
  /* libcurl puts no cap on extra_nfds; each entry's revents is rewritten. */
  enum { N = 100 };
  int p[N][2];
  struct xfer_waitfd x[N];
  for (int i = 0; i < N; i++) {
    make_pipe(p[i]);
    x[i].fd = p[i][0];
    x[i].events = XFER_WAIT_POLLIN;
    x[i].revents = 0x7f;
  }
  /* Only the last one is readable. */
  cr_assert_eq(write(p[N - 1][1], "x", 1), 1);
  for (int is_poll = 0; is_poll < 2; is_poll++) {
    int numfds = -1;
    uint64_t dt = timed(is_poll, x, N, 2000, &numfds);
    cr_assert_lt(dt, 1000, "%s ignored extra fd #%d (%llu ms)", is_poll ? "poll" : "wait", N - 1,
                 (unsigned long long)dt);
    cr_assert(x[N - 1].revents & XFER_WAIT_POLLIN, "revents of extra fd #%d: %#x", N - 1,
              (unsigned)x[N - 1].revents);
    cr_assert_eq(numfds, 1);
    for (int i = 0; i < N - 1; i++)
      cr_assert_eq(x[i].revents, 0, "revents of extra fd #%d not rewritten", i);
    for (int i = 0; i < N; i++)
      x[i].revents = 0x7f;
  }
  for (int i = 0; i < N; i++) {
    close(p[i][0]);
    close(p[i][1]);
  }
}

Test(multi_wait, extra_fd_alongside_a_transfer) {
  struct xt_req r;
  start_quiet_transfer(&r);
  int p[2];
  make_pipe(p);
  struct xfer_waitfd x = {.fd = p[0], .events = XFER_WAIT_POLLIN, .revents = 0};
  /* The transfer's socket is quiet and so is the pipe: the whole timeout. */
  int numfds = -1;
  uint64_t dt = timed(1, &x, 1, 300, &numfds);
  cr_assert_geq(dt, 250, "poll returned after %llu ms with nothing happening",
                (unsigned long long)dt);
  cr_assert_eq(numfds, 0);
  /* wait has the transfer to wait on, so it waits too. */
  dt = timed(0, NULL, 0, 300, &numfds);
  cr_assert_geq(dt, 250, "wait returned after %llu ms with a transfer to wait on",
                (unsigned long long)dt);
  cr_assert_eq(numfds, 0);
  /* The pipe alone. */
  cr_assert_eq(write(p[1], "x", 1), 1);
  dt = timed(1, &x, 1, 5000, &numfds);
  cr_assert_lt(dt, 1000);
  cr_assert(x.revents & XFER_WAIT_POLLIN);
  cr_assert_eq(numfds, 1, "only the pipe had activity");
  xt_req_free(&r);
  close(p[0]);
  close(p[1]);
}

Test(multi_wait, numfds_counts_transfer_sockets_and_extra_fds) {
  /* A response that comes after 300 ms: until then the socket is quiet. */
  struct xt_req r;
  req(&r, "/delay/300/10");
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  uint64_t end = xt_now_ms() + 10000;
  while (ts_requests(srv) < 1) {
    cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
    cr_assert(xt_now_ms() < end);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 20, NULL), XFERM_OK);
  }
  /* Settle the send side as start_quiet_transfer does. */
  for (int i = 0;; i++) {
    int numfds = -1;
    cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 10, &numfds), XFERM_OK);
    if (numfds == 0)
      break;
    cr_assert_lt(i, 20);
  }
  cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
  /* Find the transfer's socket with fdset and wait with select() until the
   * response is there, so the poll below sees it and the pipe together. */
  fd_set rs, ws;
  FD_ZERO(&rs);
  FD_ZERO(&ws);
  int max_fd = -1;
  cr_assert_eq(xfer_multi_fdset(multi, &rs, &ws, NULL, &max_fd), XFERM_OK);
  cr_assert_geq(max_fd, 0);
  cr_assert(FD_ISSET(max_fd, &rs), "the transfer waits for its response");
  struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
  int n;
  do
    n = select(max_fd + 1, &rs, NULL, NULL, &tv);
  while (n < 0 && errno == EINTR);
  cr_assert_eq(n, 1, "the response never came");
  int p[2];
  make_pipe(p);
  cr_assert_eq(write(p[1], "x", 1), 1);
  struct xfer_waitfd x = {.fd = p[0], .events = XFER_WAIT_POLLIN, .revents = 0};
  int numfds = -1;
  uint64_t dt = timed(1, &x, 1, 5000, &numfds);
  cr_assert_lt(dt, 1000);
  cr_assert_eq(numfds, 2, "one socket and one extra fd had events, numfds %d", numfds);
  cr_assert(x.revents & XFER_WAIT_POLLIN);
  xt_drive(multi, 10000);
  cr_assert(r.done);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 10);
  xt_req_free(&r);
  close(p[0]);
  close(p[1]);
}

/* ---- fdset ------------------------------------------------------------------ */

/* The number of fds set in either set, up to max_fd. */
static int fds_set(fd_set *r, fd_set *w, int max_fd) {
  int n = 0;
  for (int fd = 0; fd <= max_fd; fd++)
    n += FD_ISSET(fd, r) || FD_ISSET(fd, w);
  return n;
}

Test(multi_wait, fdset_is_empty_before_the_first_perform) {
  fd_set r, w, e;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&e);
  int max_fd = 42;
  cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
  cr_assert_eq(max_fd, -1, "an empty multi exposed fd %d", max_fd);
  /* libcurl test 2412: after add, before perform, still nothing (and never
   * the wakeup fd). */
  struct xt_req q;
  req(&q, "/bytes/1");
  cr_assert_eq(xfer_multi_add_handle(multi, q.e), XFERM_OK);
  max_fd = 42;
  cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
  cr_assert_eq(max_fd, -1, "fd %d exposed before any perform", max_fd);
  cr_assert_eq(fds_set(&r, &w, FD_SETSIZE - 1), 0);
  xt_req_free(&q);
}

Test(multi_wait, fdset_reports_the_socket_of_a_transfer_in_flight) {
  struct xt_req q;
  start_quiet_transfer(&q);
  fd_set r, w, e;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&e);
  int max_fd = -1;
  cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
  cr_assert_geq(max_fd, 0);
  cr_assert(FD_ISSET(max_fd, &r), "a transfer waiting for its response is in the read set");
  /* Exactly the one socket: no internal fd (wakeup, resolver) leaks out. */
  cr_assert_eq(fds_set(&r, &w, max_fd), 1);
  /* NULL sets are tolerated, and the sets are added to, not cleared. */
  FD_ZERO(&r);
  FD_SET(0, &r);
  int max2 = -1;
  cr_assert_eq(xfer_multi_fdset(multi, &r, NULL, NULL, &max2), XFERM_OK);
  cr_assert_eq(max2, max_fd);
  cr_assert(FD_ISSET(0, &r) && FD_ISSET(max_fd, &r));
  xt_req_free(&q);
  /* Removed (by easy_cleanup): nothing left to report. */
  FD_ZERO(&r);
  FD_ZERO(&w);
  cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
  cr_assert_eq(max_fd, -1);
}

Test(multi_wait, fdset_leaves_out_idle_pooled_connections) {
  /* A finished transfer leaves its connection in the pool, watched only for
   * a FIN; no transfer waits on it, so a select() caller must not be told
   * to (libcurl's fdset walks the transfers, never the idle pool). */
  struct xt_req q;
  req(&q, "/bytes/10");
  xt_run(multi, &q, 1, 20000);
  cr_assert_eq(q.result, XFERE_OK, "%s", q.err);
  cr_assert_eq(ts_open_connections(srv), 1, "the connection should be pooled");
  fd_set r, w, e;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&e);
  int max_fd = 42;
  cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
  cr_assert_eq(max_fd, -1, "the idle pooled connection (fd %d) was exposed", max_fd);
  cr_assert_eq(xfer_multi_remove_handle(multi, q.e), XFERM_OK);
  max_fd = 42;
  cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
  cr_assert_eq(max_fd, -1, "the idle pooled connection (fd %d) was exposed", max_fd);
  cr_assert_eq(fds_set(&r, &w, FD_SETSIZE - 1), 0);
  xt_req_free(&q);
}

Test(multi_wait, select_loop_with_fdset_and_timeout_completes_a_transfer) {
  /* libcurl's classic loop (docs/examples/multi-legacy.c). */
  struct xt_req q;
  req(&q, "/chunked/200000");
  cr_assert_eq(xfer_multi_add_handle(multi, q.e), XFERM_OK);
  int running = 1, saw_fd = 0;
  uint64_t end = xt_now_ms() + 20000;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  while (running) {
    cr_assert(xt_now_ms() < end, "the select loop did not finish");
    long ms = -1;
    cr_assert_eq(xfer_multi_timeout(multi, &ms), XFERM_OK);
    /* -1: no timer; the documented advice is to come back soon anyway. */
    if (ms < 0 || ms > 100)
      ms = 100;
    struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)ms * 1000};
    fd_set r, w, e;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&e);
    int max_fd = -1;
    cr_assert_eq(xfer_multi_fdset(multi, &r, &w, &e, &max_fd), XFERM_OK);
    if (max_fd >= 0)
      saw_fd = 1;
    int n = select(max_fd + 1, &r, &w, &e, &tv);
    cr_assert(n >= 0 || errno == EINTR);
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  }
  int left = -1;
  xfer_msg *msg = xfer_multi_info_read(multi, &left);
  cr_assert(msg);
  cr_assert_eq(msg->easy_handle, q.e);
  cr_assert_eq(msg->data.result, XFERE_OK, "%s", q.err);
  cr_assert(saw_fd, "fdset never reported the transfer's socket");
  xt_assert_pattern(&q.body, 200000);
  xt_req_free(&q);
}

/* ---- timeout ---------------------------------------------------------------- */

Test(multi_wait, timeout_is_minus_one_when_empty_and_zero_after_add) {
  long ms = 42;
  cr_assert_eq(xfer_multi_timeout(multi, &ms), XFERM_OK);
  cr_assert_eq(ms, -1);
  struct xt_req q;
  req(&q, "/bytes/10");
  cr_assert_eq(xfer_multi_add_handle(multi, q.e), XFERM_OK);
  ms = 42;
  cr_assert_eq(xfer_multi_timeout(multi, &ms), XFERM_OK);
  cr_assert_eq(ms, 0, "a new transfer must be run at once");
  /* A poll honours that: it does not sleep on a transfer that is due. */
  cr_assert_lt(timed(1, NULL, 0, 2000, NULL), 1000);
  xt_drive(multi, 20000);
  cr_assert_eq(q.result, XFERE_OK, "%s", q.err);
  cr_assert_eq(xfer_multi_remove_handle(multi, q.e), XFERM_OK);
  /* Empty again: no timer a caller must honour (an idle pooled connection's
   * expiry may be reported, but never "now"). */
  ms = 42;
  cr_assert_eq(xfer_multi_timeout(multi, &ms), XFERM_OK);
  cr_assert(ms == -1 || ms > 0, "timeout %ld on a multi with nothing to do", ms);
  xt_req_free(&q);
}

Test(multi_wait, timeout_never_exceeds_the_transfer_timeout) {
  route_idle("/idle");
  struct xt_req q;
  req(&q, "/idle");
  cr_assert_eq(xfer_easy_setopt(q.e, XFEROPT_TIMEOUT_MS, 700L), XFERE_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, q.e), XFERM_OK);
  uint64_t t0 = xt_now_ms();
  int running = 1, polls = 0;
  while (running) {
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    long ms = -2;
    cr_assert_eq(xfer_multi_timeout(multi, &ms), XFERM_OK);
    if (running) {
      cr_assert(ms >= 0 && ms <= 700, "timeout %ld with a 700 ms transfer timeout", ms);
      /* A long poll ends at the multi's own timer, not at 10 s. */
      cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 10000, NULL), XFERM_OK);
      cr_assert_lt(xt_now_ms() - t0, 3000, "poll slept past the transfer's timeout");
      cr_assert_lt(++polls, 1000);
    }
  }
  uint64_t dt = xt_now_ms() - t0;
  int left = -1;
  xfer_msg *msg = xfer_multi_info_read(multi, &left);
  cr_assert(msg);
  cr_assert_eq(msg->data.result, XFERE_OPERATION_TIMEDOUT, "result %d", msg->data.result);
  cr_assert_geq(dt, 650, "timed out after %llu ms of 700", (unsigned long long)dt);
  cr_assert_lt(dt, 3000);
  xt_req_free(&q);
}

/* ---- XFERMOPT_BATCH_WAIT_US ---- */

Test(multi_wait, batch_wait_takes_zero_to_a_second) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_BATCH_WAIT_US, 0L), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_BATCH_WAIT_US, 1000000L), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_BATCH_WAIT_US, -1L), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_BATCH_WAIT_US, 1000001L),
               XFERM_BAD_FUNCTION_ARGUMENT);
}

#define STALLED 31

/* Milliseconds from adding one quick transfer to its done message, while
 * STALLED others wait on a server that does not answer them: 32 running,
 * so io_uring waits for 32 / 8 = 4 completions at a time, for at most the
 * window. */
static uint64_t quick_among_stalled(long window_us) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_BATCH_WAIT_US, window_us), XFERM_OK);
  route_idle("/idle");
  struct xt_req stalled[STALLED], quick;
  for (int i = 0; i < STALLED; i++) {
    req(&stalled[i], "/idle");
    cr_assert_eq(xfer_multi_add_handle(multi, stalled[i].e), XFERM_OK);
  }
  /* Every stalled request at the server first, so that what follows waits
   * only for the quick one's completions. Bounded. */
  uint64_t end = xt_now_ms() + 20000;
  while (ts_requests(srv) < STALLED) {
    cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
    cr_assert(xt_now_ms() < end, "only %u of %d requests reached the server",
              (unsigned)ts_requests(srv), STALLED);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 20, NULL), XFERM_OK);
  }
  req(&quick, "/bytes/5");
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_add_handle(multi, quick.e), XFERM_OK);
  int done = 0;
  while (!done) {
    cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(multi, &left)) != NULL) {
      cr_assert_eq(msg->easy_handle, quick.e, "a stalled transfer ended");
      cr_assert_eq(msg->data.result, XFERE_OK, "%s", quick.err);
      done = 1;
    }
    cr_assert(xt_now_ms() - t0 < 10000, "the quick transfer never finished");
    if (!done)
      cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 1000, NULL), XFERM_OK);
  }
  uint64_t dt = xt_now_ms() - t0;
  xt_assert_pattern(&quick.body, 5);
  xt_req_free(&quick);
  for (int i = 0; i < STALLED; i++)
    xt_req_free(&stalled[i]);
  return dt;
}

/* io_uring holds an answer for at most the window when fewer than a batch
 * come, and the window is the option's: with 300 ms the quick transfer
 * takes at least one window (its answer waits for three more completions
 * that never come) and at most one per completion it has (connect, send,
 * answer) plus slack. With 0, and on the readiness backends, it is quick. */
Test(multi_wait, batch_wait_holds_an_answer_at_most_the_window) {
  uint64_t dt = quick_among_stalled(300000L);
  if (strcmp(xfer_multi_backend(multi), "io_uring") == 0)
    cr_assert(dt >= 290 && dt < 3 * 300 + 2000, "%llu ms with a 300 ms window",
              (unsigned long long)dt);
  else
    cr_assert_lt(dt, 250, "%llu ms on a backend that does not batch", (unsigned long long)dt);
}

Test(multi_wait, batch_wait_zero_takes_each_answer_at_once) {
  uint64_t dt = quick_among_stalled(0L);
  cr_assert_lt(dt, 250, "%llu ms without batching", (unsigned long long)dt);
}

/* Transfers queued behind a connection limit cannot complete, so they do
 * not count towards a batch: 32 transfers through one connection, with a
 * 50 ms window (below xt_drive's poll timeout, so that it applies), run one
 * after the other without waiting out a window each (counting them held
 * each answer for a window: 858 ms where this takes 5). */
Test(multi_wait, batch_wait_ignores_transfers_queued_for_a_connection) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_BATCH_WAIT_US, 50000L), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, 1L), XFERM_OK);
  struct xt_req r[32];
  for (int i = 0; i < 32; i++)
    req(&r[i], "/bytes/5");
  uint64_t t0 = xt_now_ms();
  xt_run(multi, r, 32, 20000);
  uint64_t dt = xt_now_ms() - t0;
  for (int i = 0; i < 32; i++) {
    cr_assert_eq(r[i].result, XFERE_OK, "%s", r[i].err);
    xt_assert_pattern(&r[i].body, 5);
    xt_req_free(&r[i]);
  }
  cr_assert_lt(dt, 400, "%llu ms for 32 queued transfers", (unsigned long long)dt);
  cr_assert_eq(ts_connections(srv), 1);
}
