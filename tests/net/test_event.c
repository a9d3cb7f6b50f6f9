/* The event API (xfer_multi_socket_action, the socket and timer callbacks,
 * xfer_multi_assign) driven by a host loop written here with raw epoll and a
 * timerfd, as libcurl's ephiperfifo.c example does, on the backend of
 * XFER_BACKEND, in both modes: per-socket (libcurl's) and XFERMOPT_SINGLE_FD.
 * Each test asserts what the host loop observes: bytes, codes, which fds it
 * was asked to watch and when, and what the timer was set to. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;

static void setup(void) {
  srv = ts_start();
  cr_assert_not_null(srv);
}

static void teardown(void) { ts_stop(srv); }

TestSuite(event, .init = setup, .fini = teardown);

#define MAXFD 4096

struct host {
  xfer_multi *m;
  int ep;
  int tfd;
  int single;              /* XFERMOPT_SINGLE_FD */
  unsigned watched[MAXFD]; /* XFER_POLL_IN/OUT bits the multi asked for */
  int marker[MAXFD];       /* what xfer_multi_assign() attached, by address */
  long timer_ms;           /* last value given to the timer callback */
  int timer_armed;
  unsigned nsock_cb, ntimer_cb;
  unsigned ntransfer_cb; /* socket callbacks that a refusal fails transfers for */
  unsigned nremove, nadd;
  unsigned nout;       /* announcements that asked for writability */
  unsigned del_errors; /* EPOLL_CTL_DEL that failed: a REMOVE after close */
  unsigned bad_sockp;  /* socketp not what assign() attached */
  unsigned bad_assign; /* assign(s, NULL) inside REMOVE not XFERM_OK */
  unsigned distinct;   /* fds ever watched */
  unsigned char seen[MAXFD];
  int fail_sock_at;  /* 1-based call of the socket callback to refuse */
  int fail_timer_at; /* same for the timer callback */
  int check_recursion;
  unsigned recursion_ok; /* nested calls that were refused as they must be */
  unsigned recursion_bad;
};

static void check_nested(struct host *h) {
  int running;
  long ms;
  xfer_easy *e = xfer_easy_init();
  xfer_mcode r[5] = {
      xfer_multi_perform(h->m, &running),
      xfer_multi_socket_action(h->m, XFER_SOCKET_TIMEOUT, 0, &running),
      xfer_multi_add_handle(h->m, e),
      xfer_multi_timeout(h->m, &ms),
      xfer_multi_setopt(h->m, XFERMOPT_MAXCONNECTS, 5L),
  };
  for (int i = 0; i < 5; i++) {
    if (r[i] == XFERM_RECURSIVE_API_CALL)
      h->recursion_ok++;
    else
      h->recursion_bad++;
  }
  xfer_easy_cleanup(e);
}

static int on_socket(xfer_easy *easy, xfer_socket_t s, int what, void *clientp, void *sockp) {
  struct host *h = clientp;
  h->nsock_cb++;
  /* Counted over the sockets whose refusal fails transfers: a transfer's
   * own, or the single fd, which serves every transfer. */
  int refusable = easy != NULL || h->single;
  if (refusable)
    h->ntransfer_cb++;
  if (h->check_recursion)
    check_nested(h);
  if (refusable && h->fail_sock_at > 0 && (int)h->ntransfer_cb == h->fail_sock_at)
    return -1;
  cr_assert(s >= 0 && s < MAXFD, "socket %d out of the test's range", s);
  if (h->watched[s] && sockp != &h->marker[s])
    h->bad_sockp++;
  if (what == XFER_POLL_REMOVE) {
    h->nremove++;
    if (epoll_ctl(h->ep, EPOLL_CTL_DEL, s, NULL) != 0)
      h->del_errors++;
    h->watched[s] = 0;
    if (xfer_multi_assign(h->m, s, NULL) != XFERM_OK)
      h->bad_assign++;
    return 0;
  }
  struct epoll_event ev = {.events = 0, .data.fd = s};
  if (what & XFER_POLL_IN)
    ev.events |= EPOLLIN;
  if (what & XFER_POLL_OUT)
    ev.events |= EPOLLOUT;
  int op = h->watched[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  cr_assert_eq(epoll_ctl(h->ep, op, s, &ev), 0, "epoll_ctl(%d, %d): %s", op, s, strerror(errno));
  if (!h->watched[s]) {
    h->nadd++;
    cr_assert_eq(xfer_multi_assign(h->m, s, &h->marker[s]), XFERM_OK);
  }
  if (!h->seen[s]) {
    h->seen[s] = 1;
    h->distinct++;
  }
  if (what & XFER_POLL_OUT)
    h->nout++;
  h->watched[s] = (unsigned)what;
  return 0;
}

static int on_timer(xfer_multi *m, long ms, void *clientp) {
  struct host *h = clientp;
  cr_assert_eq(m, h->m);
  h->ntimer_cb++;
  if (h->check_recursion)
    check_nested(h);
  if (h->fail_timer_at > 0 && (int)h->ntimer_cb == h->fail_timer_at)
    return -1;
  h->timer_ms = ms;
  struct itimerspec its = {{0, 0}, {0, 0}};
  if (ms >= 0) {
    /* 0 would disarm a timerfd: "now" is one nanosecond. */
    its.it_value.tv_sec = ms / 1000;
    its.it_value.tv_nsec = ms % 1000 * 1000000L + (ms == 0);
  }
  cr_assert_eq(timerfd_settime(h->tfd, 0, &its, NULL), 0);
  h->timer_armed = ms >= 0;
  return 0;
}

static void host_init(struct host *h, int single) {
  memset(h, 0, sizeof *h);
  h->single = single;
  h->ep = epoll_create1(EPOLL_CLOEXEC);
  h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  cr_assert(h->ep >= 0 && h->tfd >= 0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->tfd};
  cr_assert_eq(epoll_ctl(h->ep, EPOLL_CTL_ADD, h->tfd, &ev), 0);
  h->timer_ms = -1;
  h->m = xt_multi();
  cr_assert_not_null(h->m);
  if (single) {
    xfer_mcode rc = xfer_multi_setopt(h->m, XFERMOPT_SINGLE_FD, 1L);
    cr_assert_eq(rc, XFERM_OK, "SINGLE_FD refused on %s", xfer_multi_backend(h->m));
  }
  cr_assert_eq(xfer_multi_setopt(h->m, XFERMOPT_SOCKETFUNCTION, on_socket), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(h->m, XFERMOPT_SOCKETDATA, h), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(h->m, XFERMOPT_TIMERFUNCTION, on_timer), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(h->m, XFERMOPT_TIMERDATA, h), XFERM_OK);
}

static void host_fini(struct host *h) {
  cr_assert_eq(xfer_multi_cleanup(h->m), XFERM_OK);
  /* Cleanup closed every connection: each watched fd got its REMOVE first. */
  for (int fd = 0; fd < MAXFD; fd++)
    cr_assert_eq(h->watched[fd], 0u, "fd %d still watched after cleanup", fd);
  cr_assert_eq(h->del_errors, 0u, "a REMOVE came after its socket was closed");
  cr_assert_eq(h->bad_sockp, 0u, "socketp differed from what assign() attached");
  cr_assert_eq(h->bad_assign, 0u, "assign(s, NULL) inside REMOVE failed");
  close(h->ep);
  close(h->tfd);
}

/* Reads every done message, marking its xt_req; returns how many. */
static int read_msgs(struct host *h) {
  int n = 0, left;
  xfer_msg *msg;
  while ((msg = xfer_multi_info_read(h->m, &left))) {
    struct xt_req *r = NULL;
    cr_assert_eq(msg->msg, XFERMSG_DONE);
    xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, (char **)&r);
    cr_assert_not_null(r);
    cr_assert_eq(r->done, 0, "a transfer finished twice");
    r->done = 1;
    r->result = msg->data.result;
    n++;
  }
  return n;
}

/* One turn of the host loop: waits up to 100 ms for its epoll set and hands
 * every event to the multi. Returns the last socket_action code that was not
 * XFERM_OK, or XFERM_OK. */
static xfer_mcode turn(struct host *h, int *running) {
  struct epoll_event evs[64];
  xfer_mcode worst = XFERM_OK;
  int n = epoll_wait(h->ep, evs, 64, 100);
  cr_assert(n >= 0 || errno == EINTR);
  for (int i = 0; i < n; i++) {
    xfer_mcode rc;
    if (evs[i].data.fd == h->tfd) {
      uint64_t x;
      if (read(h->tfd, &x, sizeof x) < 0) {
        /* EAGAIN: re-armed by the callback in the meantime */
      }
      h->timer_armed = 0; /* it fired: one-shot */
      rc = xfer_multi_socket_action(h->m, XFER_SOCKET_TIMEOUT, 0, running);
    } else {
      int mask = (evs[i].events & EPOLLIN ? XFER_CSELECT_IN : 0) |
                 (evs[i].events & EPOLLOUT ? XFER_CSELECT_OUT : 0) |
                 (evs[i].events & (EPOLLERR | EPOLLHUP) ? XFER_CSELECT_ERR : 0);
      rc = xfer_multi_socket_action(h->m, evs[i].data.fd, mask, running);
    }
    cr_assert(rc == XFERM_OK || rc == XFERM_ABORTED_BY_CALLBACK, "socket_action: %d", rc);
    if (rc != XFERM_OK)
      worst = rc;
  }
  return worst;
}

/* Runs the host loop until `want` messages were read, within max_ms. */
static void drive(struct host *h, int want, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  int got = 0, running = -1;
  while (got < want) {
    cr_assert(xt_now_ms() < end, "host loop: %d of %d done after %d ms", got, want, max_ms);
    (void)turn(h, &running);
    got += read_msgs(h);
  }
}

/* Runs the loop until it would end as libevent's does: nothing watched and
 * no timer armed. Asserts that it gets there within max_ms. */
static void drain(struct host *h, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  int running;
  for (;;) {
    int any = h->timer_armed;
    for (int fd = 0; fd < MAXFD && !any; fd++)
      any = h->watched[fd] != 0;
    if (!any)
      return;
    if (xt_now_ms() >= end) {
      for (int fd = 0; fd < MAXFD; fd++)
        if (h->watched[fd])
          cr_log_error("fd %d still watched (%u)", fd, h->watched[fd]);
      cr_assert_fail("the loop never empties: timer %s (%ld ms)", h->timer_armed ? "armed" : "off",
                     h->timer_ms);
    }
    (void)turn(h, &running);
  }
}

static int single_supported(void) {
  xfer_multi *m = xt_multi();
  int ok = xfer_multi_setopt(m, XFERMOPT_SINGLE_FD, 1L) == XFERM_OK;
  xfer_multi_cleanup(m);
  return ok;
}

/* Per-socket mode on every backend, single-fd mode where the backend has the
 * fd (the poll backend refuses it, which poll_refuses_single_fd asserts). */
#define BOTH_MODES(body)                          \
  do {                                            \
    for (int single = 0; single <= 1; single++) { \
      if (single && !single_supported())          \
        continue;                                 \
      body;                                       \
    }                                             \
  } while (0)

static void many_gets(int single) {
  struct host h;
  host_init(&h, single);
  enum { N = 24 };
  static const size_t sizes[] = {0, 1, 13, 1000, 16384, 100000, 1 << 20, 3};
  struct xt_req reqs[N];
  char url[256];
  for (int i = 0; i < N; i++) {
    size_t n = sizes[i % 8];
    /* Half by name, so the resolver's fd is announced and served too. */
    snprintf(url, sizeof url, "http://%s:%u/%s/%zu", i % 2 ? "localhost" : "127.0.0.1",
             ts_port(srv), i % 3 ? "bytes" : "chunked", n);
    xt_req_init(&reqs[i], url);
    unsigned before = h.ntimer_cb;
    cr_assert_eq(xfer_multi_add_handle(h.m, reqs[i].e), XFERM_OK);
    if (i == 0) {
      /* The add itself tells the timer: work is due now. */
      cr_assert_eq(h.ntimer_cb, before + 1);
      cr_assert_eq(h.timer_ms, 0);
    }
  }
  drive(&h, N, 20000);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(reqs[i].result, XFERE_OK, "transfer %d: %d %s", i, reqs[i].result, reqs[i].err);
    xt_assert_pattern(&reqs[i].body, sizes[i % 8]);
  }
  if (single)
    cr_assert_eq(h.distinct, 1u, "single-fd mode announced %u fds", h.distinct);
  else
    cr_assert(h.distinct >= 2, "only %u fds announced for %d transfers", h.distinct, N);
  /* Everything done: the idle connections are let go and the timer
   * deleted, so a loop that ends when empty ends. */
  drain(&h, 5000);
  cr_assert_eq(h.timer_ms, -1);
  for (int i = 0; i < N; i++) {
    xfer_multi_remove_handle(h.m, reqs[i].e);
    xt_req_free(&reqs[i]);
  }
  host_fini(&h);
}

Test(event, many_gets_exact_bytes) { BOTH_MODES(many_gets(single)); }

static void keepalive_quiet(int single) {
  struct host h;
  host_init(&h, single);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/13", ts_port(srv));
  struct xt_req r;
  xt_req_init(&r, url);
  unsigned after_first = 0, adds_after_first = 0;
  for (int i = 0; i < 50; i++) {
    r.done = 0;
    cr_assert_eq(xfer_multi_add_handle(h.m, r.e), XFERM_OK);
    drive(&h, 1, 5000);
    cr_assert_eq(r.result, XFERE_OK, "request %d: %s", i, r.err);
    cr_assert_eq(r.body.len, 13u * (unsigned)(i + 1));
    cr_assert_eq(xfer_multi_remove_handle(h.m, r.e), XFERM_OK);
    if (i == 0) {
      after_first = h.nsock_cb;
      adds_after_first = h.nadd;
    }
  }
  long conns = 0;
  xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &conns);
  cr_assert_eq(conns, 0, "the last request opened a connection");
  /* A warm keep-alive request, added right after the previous one ended,
   * takes the connection in its call of grace: no socket callback at all. */
  cr_assert_eq(h.nsock_cb, after_first, "%u socket callbacks for 49 warm requests",
               h.nsock_cb - after_first);
  cr_assert_eq(h.nadd, adds_after_first);
  drain(&h, 5000);
  xt_req_free(&r);
  host_fini(&h);
}

Test(event, warm_keepalive_costs_no_socket_callback) { BOTH_MODES(keepalive_quiet(single)); }

static void stray_events(int single) {
  struct host h;
  host_init(&h, single);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/100", ts_port(srv));
  struct xt_req a, b;
  xt_req_init(&a, url);
  xt_req_init(&b, url);
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_OK);
  drive(&h, 1, 5000);
  xfer_multi_remove_handle(h.m, a.e);
  drain(&h, 5000); /* every fd REMOVEd now */
  int running = -1;
  int p[2];
  cr_assert_eq(pipe(p), 0);
  /* Events for fds the multi does not watch: a pipe of the host's, the
   * host's own timerfd, and a negative number that is not the timeout. */
  cr_assert_eq(xfer_multi_socket_action(h.m, p[0], XFER_CSELECT_IN, &running), XFERM_OK);
  cr_assert_eq(xfer_multi_socket_action(h.m, h.tfd, XFER_CSELECT_IN, &running), XFERM_OK);
  cr_assert_eq(xfer_multi_socket_action(h.m, -7, XFER_CSELECT_OUT, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  close(p[0]);
  close(p[1]);
  /* And the multi still works. */
  cr_assert_eq(xfer_multi_add_handle(h.m, b.e), XFERM_OK);
  drive(&h, 1, 5000);
  cr_assert_eq(b.result, XFERE_OK);
  xt_assert_pattern(&b.body, 100);
  xfer_multi_remove_handle(h.m, b.e);
  xt_req_free(&a);
  xt_req_free(&b);
  host_fini(&h);
}

Test(event, stray_events_are_harmless) { BOTH_MODES(stray_events(single)); }

static void socket_refused(int single) {
  struct host h;
  host_init(&h, single);
  h.fail_sock_at = 1;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/5000", ts_port(srv));
  struct xt_req a, b;
  xt_req_init(&a, url);
  xt_req_init(&b, url);
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_OK);
  uint64_t end = xt_now_ms() + 5000;
  xfer_mcode seen = XFERM_OK;
  int running = -1;
  while (!a.done) {
    cr_assert(xt_now_ms() < end, "the refused transfer never ended");
    if (turn(&h, &running) == XFERM_ABORTED_BY_CALLBACK)
      seen = XFERM_ABORTED_BY_CALLBACK;
    read_msgs(&h);
  }
  cr_assert_eq(seen, XFERM_ABORTED_BY_CALLBACK);
  cr_assert_eq(a.result, XFERE_ABORTED_BY_CALLBACK);
  cr_assert(strstr(a.err, "socket callback") != NULL, "error buffer: %s", a.err);
  /* The multi is not dead: the next transfer runs to its end. */
  cr_assert_eq(xfer_multi_add_handle(h.m, b.e), XFERM_OK);
  drive(&h, 1, 5000);
  cr_assert_eq(b.result, XFERE_OK, "%s", b.err);
  xt_assert_pattern(&b.body, 5000);
  xfer_multi_remove_handle(h.m, a.e);
  xfer_multi_remove_handle(h.m, b.e);
  drain(&h, 5000);
  xt_req_free(&a);
  xt_req_free(&b);
  host_fini(&h);
}

Test(event, socket_callback_refusal_fails_its_transfer) { BOTH_MODES(socket_refused(single)); }

static void timer_refused_in_add(int single) {
  struct host h;
  host_init(&h, single);
  h.fail_timer_at = 1;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/10", ts_port(srv));
  struct xt_req a;
  xt_req_init(&a, url);
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_ABORTED_BY_CALLBACK);
  /* Not added: a second add is not "added already", and it works. */
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_OK);
  cr_assert_eq(h.timer_ms, 0);
  drive(&h, 1, 5000);
  cr_assert_eq(a.result, XFERE_OK);
  xt_assert_pattern(&a.body, 10);
  xfer_multi_remove_handle(h.m, a.e);
  xt_req_free(&a);
  host_fini(&h);
}

Test(event, timer_refusal_in_add_undoes_the_add) { BOTH_MODES(timer_refused_in_add(single)); }

static void timer_refused_later(int single) {
  struct host h;
  host_init(&h, single);
  char url[128];
  /* The server answers after 3 s: the transfers are still running when the
   * timer callback refuses its 2nd call. */
  snprintf(url, sizeof url, "http://127.0.0.1:%u/delay/3000/10", ts_port(srv));
  struct xt_req a, b, c;
  xt_req_init(&a, url);
  xt_req_init(&b, url);
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_OK);
  cr_assert_eq(xfer_multi_add_handle(h.m, b.e), XFERM_OK);
  h.fail_timer_at = h.ntimer_cb + 1;
  uint64_t t0 = xt_now_ms();
  drive(&h, 2, 2500);
  cr_assert(xt_now_ms() - t0 < 2500, "not failed before the server answered");
  cr_assert_eq(a.result, XFERE_ABORTED_BY_CALLBACK);
  cr_assert_eq(b.result, XFERE_ABORTED_BY_CALLBACK);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/77", ts_port(srv));
  xt_req_init(&c, url);
  cr_assert_eq(xfer_multi_add_handle(h.m, c.e), XFERM_OK);
  drive(&h, 1, 5000);
  cr_assert_eq(c.result, XFERE_OK, "%s", c.err);
  xt_assert_pattern(&c.body, 77);
  xfer_multi_remove_handle(h.m, a.e);
  xfer_multi_remove_handle(h.m, b.e);
  xfer_multi_remove_handle(h.m, c.e);
  xt_req_free(&a);
  xt_req_free(&b);
  xt_req_free(&c);
  host_fini(&h);
}

Test(event, timer_refusal_fails_running_transfers) { BOTH_MODES(timer_refused_later(single)); }

static void timeout_by_timer(int single) {
  struct host h;
  host_init(&h, single);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/delay/5000/10", ts_port(srv));
  struct xt_req a;
  xt_req_init(&a, url);
  xfer_easy_setopt(a.e, XFEROPT_TIMEOUT_MS, 300L);
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_OK);
  uint64_t t0 = xt_now_ms();
  drive(&h, 1, 4000);
  uint64_t took = xt_now_ms() - t0;
  cr_assert_eq(a.result, XFERE_OPERATION_TIMEDOUT);
  /* Only the timer can end it: the server stays silent for 5 s. */
  cr_assert(took >= 290 && took < 3000, "timed out after %llu ms", (unsigned long long)took);
  xfer_multi_remove_handle(h.m, a.e);
  drain(&h, 5000);
  cr_assert_eq(h.timer_ms, -1);
  xt_req_free(&a);
  host_fini(&h);
}

Test(event, timeouts_come_from_the_timer_callback) { BOTH_MODES(timeout_by_timer(single)); }

static void running_counts(int single) {
  struct host h;
  host_init(&h, single);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/2000", ts_port(srv));
  struct xt_req r[3];
  for (int i = 0; i < 3; i++) {
    xt_req_init(&r[i], url);
    cr_assert_eq(xfer_multi_add_handle(h.m, r[i].e), XFERM_OK);
  }
  int running = -1;
  cr_assert_eq(xfer_multi_socket_action(h.m, XFER_SOCKET_TIMEOUT, 0, &running), XFERM_OK);
  cr_assert_eq(running, 3);
  int got = 0, last = 3;
  uint64_t end = xt_now_ms() + 5000;
  while (got < 3) {
    cr_assert(xt_now_ms() < end);
    (void)turn(&h, &running);
    int n = read_msgs(&h);
    got += n;
    /* running falls by one in the call that queues each message. */
    cr_assert_eq(running, 3 - got);
    cr_assert(running <= last);
    last = running;
  }
  for (int i = 0; i < 3; i++) {
    xfer_multi_remove_handle(h.m, r[i].e);
    xt_req_free(&r[i]);
  }
  host_fini(&h);
}

Test(event, running_counts_as_perform_does) { BOTH_MODES(running_counts(single)); }

static void nested_calls(int single) {
  struct host h;
  host_init(&h, single);
  h.check_recursion = 1;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/64", ts_port(srv));
  struct xt_req a;
  xt_req_init(&a, url);
  cr_assert_eq(xfer_multi_add_handle(h.m, a.e), XFERM_OK);
  drive(&h, 1, 5000);
  cr_assert_eq(a.result, XFERE_OK);
  h.check_recursion = 0;
  cr_assert(h.recursion_ok >= 10, "only %u nested calls were made", h.recursion_ok);
  cr_assert_eq(h.recursion_bad, 0u, "%u nested calls were not refused", h.recursion_bad);
  xfer_multi_remove_handle(h.m, a.e);
  xt_req_free(&a);
  host_fini(&h);
}

Test(event, calls_from_callbacks_are_refused) { BOTH_MODES(nested_calls(single)); }

Test(event, single_fd_only_where_the_backend_has_one) {
  xfer_multi *m = xt_multi();
  const char *be = xfer_multi_backend(m);
  xfer_mcode rc = xfer_multi_setopt(m, XFERMOPT_SINGLE_FD, 1L);
  if (strcmp(be, "poll") == 0)
    cr_assert_eq(rc, XFERM_BAD_FUNCTION_ARGUMENT);
  else
    cr_assert_eq(rc, XFERM_OK, "%s refused SINGLE_FD", be);
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_SINGLE_FD, 2L), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_assign(m, 0, NULL), XFERM_BAD_SOCKET);
  xfer_multi_cleanup(m);
}

static void big_upload(int single) {
  struct host h;
  host_init(&h, single);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/echo", ts_port(srv));
  /* Far more than the socket buffers hold: the send comes back short and
   * the transfer must ask for writability before it can go on. */
  enum { LEN = 16 << 20 };
  char *body = malloc(LEN);
  cr_assert_not_null(body);
  for (size_t i = 0; i < LEN; i++)
    body[i] = (char)('a' + i % 26);
  struct xt_req r;
  xt_req_init(&r, url);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)LEN), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, body), XFERE_OK);
  cr_assert_eq(xfer_multi_add_handle(h.m, r.e), XFERM_OK);
  drive(&h, 1, 30000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  /* The echo is the whole request: its head, then the body unchanged. */
  cr_assert(r.body.len > LEN);
  cr_assert_eq(memcmp(r.body.data + r.body.len - LEN, body, LEN), 0);
  if (!single)
    cr_assert(h.nout > 0, "writability was never asked for");
  xfer_multi_remove_handle(h.m, r.e);
  xt_req_free(&r);
  free(body);
  host_fini(&h);
}

Test(event, short_sends_ask_for_writability) { BOTH_MODES(big_upload(single)); }

struct poster {
  xfer_multi *m;
  xfer_easy *e;
  xfer_mcode rc;
};

static void *post_later(void *arg) {
  struct poster *p = arg;
  usleep(20000); /* the host loop is asleep in epoll_wait by then, most likely */
  p->rc = xfer_multi_post(p->m, p->e);
  return NULL;
}

/* With XFERMOPT_ANNOUNCE_WAKEUP the wakeup fd is watched while the multi is
 * idle, so a handle posted from another thread wakes the host loop, which
 * has nothing else to wake it. */
static void post_wakes_idle_loop(int single) {
  struct host h;
  host_init(&h, single);
  cr_assert_eq(xfer_multi_setopt(h.m, XFERMOPT_ANNOUNCE_WAKEUP, 1L), XFERM_OK);
  int running = -1;
  /* One call so that the host learns of the wakeup fd. */
  cr_assert_eq(xfer_multi_socket_action(h.m, XFER_SOCKET_TIMEOUT, 0, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  int watched = 0;
  for (int fd = 0; fd < MAXFD; fd++)
    watched += h.watched[fd] != 0;
  cr_assert_eq(watched, 1, "the idle multi should have its wakeup fd watched, has %d", watched);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/321", ts_port(srv));
  struct xt_req r;
  xt_req_init(&r, url);
  struct poster p = {h.m, r.e, XFERM_INTERNAL_ERROR};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, post_later, &p), 0);
  drive(&h, 1, 5000);
  pthread_join(t, NULL);
  cr_assert_eq(p.rc, XFERM_OK);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 321);
  xfer_multi_remove_handle(h.m, r.e);
  xt_req_free(&r);
  host_fini(&h);
}

Test(event, post_from_another_thread_wakes_an_idle_loop) {
  BOTH_MODES(post_wakes_idle_loop(single));
}

/* Eight connections kept busy, each finished handle added again as soon as
 * its message is read (after the turn's events, as real loops do): once
 * every connection is open, no request costs a socket callback, also when
 * one socket_action of a batch finishes every transfer (io_uring reaps all
 * sockets at once). */
static void busy_pool_quiet(int single) {
  struct host h;
  host_init(&h, single);
  enum { C = 8, ROUNDS = 30 };
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/13", ts_port(srv));
  struct xt_req r[C];
  int finished[C] = {0};
  uint64_t conns0 = ts_connections(srv);
  for (int i = 0; i < C; i++) {
    xt_req_init(&r[i], url);
    cr_assert_eq(xfer_multi_add_handle(h.m, r[i].e), XFERM_OK);
  }
  int done = 0, running, warm = 0, later = 0;
  unsigned warm_cbs = 0, warm_adds = 0, warm_removes = 0;
  uint64_t end = xt_now_ms() + 20000;
  /* Until every handle has finished once (a slow accept can hold one
   * back while the others go round many times), then ROUNDS more rounds. */
  while (!warm || later < C * ROUNDS) {
    cr_assert(xt_now_ms() < end, "%d done, %d after warm-up", done, later);
    (void)turn(&h, &running);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(h.m, &left))) {
      struct xt_req *q = NULL;
      cr_assert_eq(msg->data.result, XFERE_OK);
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, (char **)&q);
      finished[q - r]++;
      done++;
      if (warm)
        later++;
      cr_assert_eq(xfer_multi_remove_handle(h.m, q->e), XFERM_OK);
      cr_assert_eq(xfer_multi_add_handle(h.m, q->e), XFERM_OK);
    }
    /* Warm once every handle has finished a transfer: all eight
     * connections are open and announced (a slow accept can delay one). */
    if (!warm) {
      warm = 1;
      for (int i = 0; i < C; i++)
        warm &= finished[i] > 0;
      if (warm) {
        warm_cbs = h.nsock_cb;
        warm_adds = h.nadd;
        warm_removes = h.nremove;
      }
    }
  }
  uint64_t conns = ts_connections(srv) - conns0;
  cr_assert_eq(conns, (uint64_t)C, "%llu connections for %d handles", (unsigned long long)conns, C);
  /* No connection left the host and came back (no REMOVE, no new IN). A
   * send that cannot complete at once (under load io_uring may hand it to
   * a kernel worker) legitimately asks for writability and back: allowed,
   * but it must stay rare. */
  cr_assert_eq(h.nadd, warm_adds, "%u new registrations after warm-up", h.nadd - warm_adds);
  cr_assert_eq(h.nremove, warm_removes, "%u REMOVEs after warm-up", h.nremove - warm_removes);
  cr_assert_leq(h.nsock_cb - warm_cbs, (unsigned)later / 20,
                "%u socket callbacks for %d warm requests", h.nsock_cb - warm_cbs, later);
  for (int i = 0; i < C; i++)
    xfer_multi_remove_handle(h.m, r[i].e);
  drain(&h, 5000);
  for (int i = 0; i < C; i++)
    xt_req_free(&r[i]);
  host_fini(&h);
}

Test(event, busy_pool_costs_no_socket_callback) { BOTH_MODES(busy_pool_quiet(single)); }
