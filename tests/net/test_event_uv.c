/* The event API driven by a real third-party loop, libuv, written the way
 * libcurl's multi-uv.c example is: a uv_poll_t per announced socket (kept
 * with xfer_multi_assign), one uv_timer_t for the timer callback, finished
 * transfers removed and new ones added from inside the loop's callbacks, and
 * uv_run(UV_RUN_DEFAULT) left to return on its own when nothing is watched
 * and no timer is armed. That return is the proof that every socket got its
 * REMOVE and the timer its -1: a leftover registration would keep the loop
 * alive until the watchdog (an unreferenced timer) stops it and the test
 * fails. Runs on the backend of XFER_BACKEND, in per-socket mode and, where
 * the backend has one, in single-fd mode. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;

static void setup(void) {
  srv = ts_start();
  cr_assert_not_null(srv);
}

static void teardown(void) { ts_stop(srv); }

TestSuite(event_uv, .init = setup, .fini = teardown);

enum { TOTAL = 40, AT_ONCE = 8 };

struct app {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_timer_t watchdog;
  xfer_multi *m;
  struct xt_req reqs[TOTAL];
  int added, finished;
  int live_polls; /* uv_poll_t handles open: each REMOVE closes one */
  int timed_out;
};

struct poll_ctx {
  uv_poll_t poll;
  struct app *app;
  xfer_socket_t fd;
};

static void add_next(struct app *a) {
  struct xt_req *r = &a->reqs[a->added];
  char url[128];
  size_t n = (size_t)a->added * 997u;
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/%zu", ts_port(srv), n);
  xt_req_init(r, url);
  cr_assert_eq(xfer_multi_add_handle(a->m, r->e), XFERM_OK);
  a->added++;
}

/* Reads the done messages, and as 10-at-a-time.c does, removes each finished
 * handle and adds the next transfer from inside the loop. */
static void check_multi_info(struct app *a) {
  xfer_msg *msg;
  int left;
  while ((msg = xfer_multi_info_read(a->m, &left))) {
    struct xt_req *r = NULL;
    xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, (char **)&r);
    cr_assert_not_null(r);
    cr_assert_eq(r->done, 0);
    r->done = 1;
    r->result = msg->data.result;
    cr_assert_eq(xfer_multi_remove_handle(a->m, msg->easy_handle), XFERM_OK);
    a->finished++;
    if (a->added < TOTAL)
      add_next(a);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct poll_ctx *c = p->data;
  int mask = 0;
  if (status < 0)
    mask = XFER_CSELECT_ERR;
  if (events & UV_READABLE)
    mask |= XFER_CSELECT_IN;
  if (events & UV_WRITABLE)
    mask |= XFER_CSELECT_OUT;
  int running;
  xfer_mcode rc = xfer_multi_socket_action(c->app->m, c->fd, mask, &running);
  cr_assert_eq(rc, XFERM_OK);
  check_multi_info(c->app);
}

static void on_timeout(uv_timer_t *t) {
  struct app *a = t->data;
  int running;
  cr_assert_eq(xfer_multi_socket_action(a->m, XFER_SOCKET_TIMEOUT, 0, &running), XFERM_OK);
  check_multi_info(a);
}

static int on_timer(xfer_multi *m, long ms, void *clientp) {
  struct app *a = clientp;
  (void)m;
  if (ms < 0)
    uv_timer_stop(&a->timer);
  else
    uv_timer_start(&a->timer, on_timeout, (uint64_t)ms, 0); /* 0 is "next turn" in libuv */
  return 0;
}

static void free_ctx(uv_handle_t *h) { free(h->data); }

static int on_socket(xfer_easy *easy, xfer_socket_t s, int what, void *clientp, void *sockp) {
  struct app *a = clientp;
  struct poll_ctx *c = sockp;
  (void)easy;
  if (what == XFER_POLL_REMOVE) {
    cr_assert_not_null(c, "REMOVE for socket %d that was never assigned", s);
    uv_poll_stop(&c->poll);
    c->poll.data = c;
    uv_close((uv_handle_t *)&c->poll, free_ctx);
    a->live_polls--;
    cr_assert_eq(xfer_multi_assign(a->m, s, NULL), XFERM_OK);
    return 0;
  }
  if (!c) {
    c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    c->app = a;
    c->fd = s;
    cr_assert_eq(uv_poll_init_socket(&a->loop, &c->poll, s), 0);
    c->poll.data = c;
    a->live_polls++;
    cr_assert_eq(xfer_multi_assign(a->m, s, c), XFERM_OK);
  }
  int ev = (what & XFER_POLL_IN ? UV_READABLE : 0) | (what & XFER_POLL_OUT ? UV_WRITABLE : 0);
  cr_assert_eq(uv_poll_start(&c->poll, ev, on_poll), 0);
  return 0;
}

static void on_watchdog(uv_timer_t *t) {
  struct app *a = t->data;
  a->timed_out = 1;
  uv_stop(&a->loop);
}

static void run_with_libuv(int single) {
  struct app a;
  memset(&a, 0, sizeof a);
  cr_assert_eq(uv_loop_init(&a.loop), 0);
  uv_timer_init(&a.loop, &a.timer);
  a.timer.data = &a;
  uv_timer_init(&a.loop, &a.watchdog);
  a.watchdog.data = &a;
  uv_timer_start(&a.watchdog, on_watchdog, 20000, 0);
  uv_unref((uv_handle_t *)&a.watchdog); /* it must not keep the loop alive */

  a.m = xt_multi();
  if (single)
    cr_assert_eq(xfer_multi_setopt(a.m, XFERMOPT_SINGLE_FD, 1L), XFERM_OK);
  xfer_multi_setopt(a.m, XFERMOPT_SOCKETFUNCTION, on_socket);
  xfer_multi_setopt(a.m, XFERMOPT_SOCKETDATA, &a);
  xfer_multi_setopt(a.m, XFERMOPT_TIMERFUNCTION, on_timer);
  xfer_multi_setopt(a.m, XFERMOPT_TIMERDATA, &a);
  /* Never kicked by hand: the adds call the timer callback. */
  for (int i = 0; i < AT_ONCE; i++)
    add_next(&a);

  uv_run(&a.loop, UV_RUN_DEFAULT);

  cr_assert_eq(a.timed_out, 0, "the loop did not end: %d of %d done, %d polls open", a.finished,
               TOTAL, a.live_polls);
  cr_assert_eq(a.finished, TOTAL);
  cr_assert_eq(a.live_polls, 0);
  for (int i = 0; i < TOTAL; i++) {
    cr_assert_eq(a.reqs[i].result, XFERE_OK, "transfer %d: %s", i, a.reqs[i].err);
    xt_assert_pattern(&a.reqs[i].body, (size_t)i * 997u);
    xt_req_free(&a.reqs[i]);
  }
  cr_assert_eq(xfer_multi_cleanup(a.m), XFERM_OK);
  uv_close((uv_handle_t *)&a.timer, NULL);
  uv_close((uv_handle_t *)&a.watchdog, NULL);
  uv_run(&a.loop, UV_RUN_DEFAULT); /* runs the close callbacks */
  cr_assert_eq(uv_loop_close(&a.loop), 0);
}

Test(event_uv, libuv_loop_runs_to_its_end) { run_with_libuv(0); }

Test(event_uv, libuv_loop_single_fd) {
  xfer_multi *m = xt_multi();
  int has_fd = xfer_multi_setopt(m, XFERMOPT_SINGLE_FD, 1L) == XFERM_OK;
  const char *be = xfer_multi_backend(m);
  /* Only poll lacks the fd; test_event asserts its refusal. */
  cr_assert(has_fd || strcmp(be, "poll") == 0, "%s refused SINGLE_FD", be);
  xfer_multi_cleanup(m);
  if (has_fd)
    run_with_libuv(1);
}
