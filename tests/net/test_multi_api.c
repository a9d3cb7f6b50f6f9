/* The multi handle's bookkeeping API, as libcurl's multi interface defines it
 * (libcurl's curl_multi_* man pages, and what libcurl 7.88 was seen to
 * return where they are silent): handle validation, add/remove edge
 * cases, the message queue, the running count, options, strerror,
 * get_handles, the recursion guard and the four cleanup orders of libcurl
 * tests 1502-1505. Waiting and wakeup are in test_multi_wait.c and
 * test_wakeup.c. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void setup(void) { xt_env_up(&srv, &multi); }

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(multi_api, .init = setup, .fini = teardown, .timeout = 60);

/* Stand-ins for a freed or foreign handle that is still mapped: a buffer far
 * larger than either struct, all zeros (what a cleared magic looks like) or
 * garbage. Passing them must be a detected misuse, not a crash; they are
 * never really freed memory, so ASan has nothing to object to. */
static _Alignas(max_align_t) unsigned char zeros[1 << 16];
static _Alignas(max_align_t) unsigned char garbage[1 << 16];

static void fill_garbage(void) { memset(garbage, 0xA5, sizeof garbage); }

static void url_of(const char *path, char *out, size_t outlen) { ts_url(srv, path, out, outlen); }

/* A new handle for path whose body goes to r's buffer (see xt_req_init). */
static void req(struct xt_req *r, const char *path) {
  char url[160];
  url_of(path, url, sizeof url);
  xt_req_init(r, url);
}

/* Performs and polls until nothing runs, without reading any message, so
 * that the queue can be inspected afterwards. Bounded by max_ms. */
static void run_quiet(xfer_multi *m, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  for (;;) {
    int running = -1;
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
    if (running == 0)
      return;
    cr_assert(xt_now_ms() < end, "still %d running after %d ms", running, max_ms);
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 100, NULL), XFERM_OK);
  }
}

/* A TCP port on 127.0.0.1 that refuses connections: a socket bound to an
 * ephemeral port but not listening. It stays bound until the caller closes
 * it, so no other process can take the port meanwhile. */
static int refusing_port(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* A route that reads the request and never answers, watching for the
 * client's close: the server counts that close at once (a /delay route
 * would only notice it when it writes its late answer). */
static void route_idle(const char *path) {
  const struct ts_step steps[] = {TS_STEP(TS_IDLE)};
  ts_route(srv, path, steps, 1);
}

/* Drives m until the server has read n request heads, so the transfers are
 * really on the wire. Bounded. */
static void drive_until_requests(xfer_multi *m, uint64_t n) {
  uint64_t end = xt_now_ms() + 10000;
  while (ts_requests(srv) < n) {
    cr_assert_eq(xfer_multi_perform(m, NULL), XFERM_OK);
    cr_assert(xt_now_ms() < end, "the requests never reached the server");
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 20, NULL), XFERM_OK);
  }
}

/* Whether h is in the NULL-terminated list. */
static int listed(xfer_easy **list, xfer_easy *h) {
  for (size_t i = 0; list[i]; i++)
    if (list[i] == h)
      return 1;
  return 0;
}

static size_t count(xfer_easy **list) {
  size_t n = 0;
  while (list[n])
    n++;
  return n;
}

/* ---- init and handle validation ------------------------------------------ */

Test(multi_api, init_gives_a_working_multi_and_cleanup_frees_it) {
  xt_require_backend();
  xfer_multi *m = xfer_multi_init();
  cr_assert(m);
  struct xt_req r;
  req(&r, "/bytes/64");
  xt_run(m, &r, 1, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 64);
  cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  xt_req_free(&r);
}

Test(multi_api, bad_multi_handle_is_rejected_everywhere) {
  fill_garbage();
  xfer_multi *bad[] = {NULL, (xfer_multi *)zeros, (xfer_multi *)garbage};
  struct xt_req r;
  req(&r, "/bytes/1");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    xfer_multi *m = bad[i];
    int running = 42, numfds = 42, left = 42, max_fd = 42;
    long ms = 42;
    fd_set rs, ws, es;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_ZERO(&es);
    cr_assert_eq(xfer_multi_cleanup(m), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_add_handle(m, r.e), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 0, &numfds), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_wait(m, NULL, 0, 0, &numfds), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_wakeup(m), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_fdset(m, &rs, &ws, &es, &max_fd), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_timeout(m, &ms), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, 1L), XFERM_BAD_HANDLE, "case %zu", i);
    cr_assert_null(xfer_multi_info_read(m, &left), "case %zu", i);
    cr_assert_eq(left, 0, "msgs_in_queue is always written (case %zu)", i);
    cr_assert_null(xfer_multi_get_handles(m), "case %zu", i);
  }
  /* The rejected calls left the easy handle alone: it is still in no multi. */
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  /* The buffers were only read. */
  for (size_t i = 0; i < sizeof zeros; i++)
    cr_assert(zeros[i] == 0 && garbage[i] == 0xA5, "byte %zu of a fake handle was written", i);
  xt_req_free(&r);
}

Test(multi_api, bad_easy_handle_is_rejected) {
  fill_garbage();
  xfer_easy *bad[] = {NULL, (xfer_easy *)zeros, (xfer_easy *)garbage};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(xfer_multi_add_handle(multi, bad[i]), XFERM_BAD_EASY_HANDLE, "case %zu", i);
    cr_assert_eq(xfer_multi_remove_handle(multi, bad[i]), XFERM_BAD_EASY_HANDLE, "case %zu", i);
    /* The easy side rejects them as well, and cleanup ignores them. */
    cr_assert_eq(xfer_easy_setopt(bad[i], XFEROPT_URL, "http://127.0.0.1/"),
                 XFERE_BAD_FUNCTION_ARGUMENT, "case %zu", i);
    long code = -1;
    cr_assert_eq(xfer_easy_getinfo(bad[i], XFERINFO_RESPONSE_CODE, &code),
                 XFERE_BAD_FUNCTION_ARGUMENT, "case %zu", i);
    xfer_easy_cleanup(bad[i]);
  }
  for (size_t i = 0; i < sizeof zeros; i++)
    cr_assert(zeros[i] == 0 && garbage[i] == 0xA5, "byte %zu of a fake handle was written", i);
  /* Nothing was added by the failed calls. */
  xfer_easy **list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_null(list[0]);
  xfer_free(list);
}

/* ---- add and remove -------------------------------------------------------- */

Test(multi_api, add_twice_or_to_a_second_multi_is_added_already) {
  xfer_multi *m2 = xt_multi();
  struct xt_req r;
  req(&r, "/bytes/10");
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_ADDED_ALREADY);
  cr_assert_eq(xfer_multi_add_handle(m2, r.e), XFERM_ADDED_ALREADY);
  /* Removing it from the multi it is not in is refused and changes nothing. */
  cr_assert_eq(xfer_multi_remove_handle(m2, r.e), XFERM_BAD_EASY_HANDLE);
  xfer_easy **list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_eq(count(list), 1);
  cr_assert_eq(list[0], r.e);
  xfer_free(list);
  list = xfer_multi_get_handles(m2);
  cr_assert(list);
  cr_assert_eq(count(list), 0);
  xfer_free(list);
  /* It still runs to completion on the first multi. */
  xt_drive(multi, 20000);
  cr_assert(r.done);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 10);
  /* A finished handle stays added until removed (probe: re-add -> 7). */
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_ADDED_ALREADY);
  cr_assert_eq(xfer_multi_add_handle(m2, r.e), XFERM_ADDED_ALREADY);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  /* Once removed it may go to the other multi. */
  r.body.len = 0;
  r.done = 0;
  xt_run(m2, &r, 1, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 10);
  cr_assert_eq(xfer_multi_remove_handle(m2, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_cleanup(m2), XFERM_OK);
  xt_req_free(&r);
}

Test(multi_api, remove_of_a_handle_in_no_multi_is_ok) {
  struct xt_req r;
  req(&r, "/bytes/10");
  /* Never added (libcurl test 3105). */
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  /* Removed twice. */
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  /* Neither removal started or queued anything. */
  int running = -1, left = -1;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  cr_assert_null(xfer_multi_info_read(multi, &left));
  cr_assert_eq(left, 0);
  cr_assert_eq(ts_connections(srv), 0);
  xt_req_free(&r);
}

Test(multi_api, remove_stops_a_transfer_in_flight_without_a_message) {
  struct xt_req r;
  route_idle("/idle");
  req(&r, "/idle");
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  /* The transfer is really on the wire when it is removed. */
  drive_until_requests(multi, 1);
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  cr_assert_lt(xt_now_ms() - t0, 1000, "remove must not wait for the transfer");
  int running = -1, left = -1;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  cr_assert_null(xfer_multi_info_read(multi, &left), "a removed transfer has no done message");
  cr_assert_eq(left, 0);
  /* Its connection was mid-exchange, so it is closed, not pooled. */
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0, "the connection was not closed");
  cr_assert_eq(r.body.len, 0);
  xt_req_free(&r);
}

/* ---- messages and the running count ------------------------------------------- */

Test(multi_api, info_read_is_fifo_and_counts_down) {
  struct xt_req r[3];
  const size_t sizes[3] = {10, 2000, 70000};
  /* One at a time, so the completion order (and so the queue order) is
   * known; nothing is read until all three are done, so the messages also
   * survive performs that report zero running. */
  for (size_t i = 0; i < 3; i++) {
    char path[32];
    snprintf(path, sizeof path, "/bytes/%zu", sizes[i]);
    req(&r[i], path);
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
    run_quiet(multi, 20000);
  }
  int running = -1;
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    cr_assert_eq(running, 0);
  }
  for (int i = 0; i < 3; i++) {
    int left = -1;
    xfer_msg *msg = xfer_multi_info_read(multi, &left);
    cr_assert(msg, "message %d missing", i);
    cr_assert_eq(msg->msg, XFERMSG_DONE);
    cr_assert_eq(msg->easy_handle, r[i].e, "message %d is not for transfer %d", i, i);
    cr_assert_eq(msg->data.result, XFERE_OK, "%s", r[i].err);
    cr_assert_eq(left, 2 - i);
  }
  int left = -1;
  cr_assert_null(xfer_multi_info_read(multi, &left));
  cr_assert_eq(left, 0);
  for (size_t i = 0; i < 3; i++) {
    xt_assert_pattern(&r[i].body, sizes[i]);
    cr_assert_eq(xfer_multi_remove_handle(multi, r[i].e), XFERM_OK);
    xt_req_free(&r[i]);
  }
}

Test(multi_api, remove_drops_the_unread_message) {
  struct xt_req a, b;
  req(&a, "/bytes/5");
  req(&b, "/bytes/6");
  cr_assert_eq(xfer_multi_add_handle(multi, a.e), XFERM_OK);
  run_quiet(multi, 20000);
  cr_assert_eq(xfer_multi_add_handle(multi, b.e), XFERM_OK);
  run_quiet(multi, 20000);
  /* Two unread messages; removing the first one's handle drops only it. */
  cr_assert_eq(xfer_multi_remove_handle(multi, a.e), XFERM_OK);
  int left = -1;
  xfer_msg *msg = xfer_multi_info_read(multi, &left);
  cr_assert(msg);
  cr_assert_eq(msg->easy_handle, b.e);
  cr_assert_eq(msg->data.result, XFERE_OK, "%s", b.err);
  cr_assert_eq(left, 0);
  cr_assert_null(xfer_multi_info_read(multi, &left));
  /* Removing the last one leaves an empty queue, even after a perform. */
  cr_assert_eq(xfer_multi_remove_handle(multi, b.e), XFERM_OK);
  int running = -1;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  cr_assert_null(xfer_multi_info_read(multi, &left));
  cr_assert_eq(left, 0);
  xt_req_free(&a);
  xt_req_free(&b);
}

Test(multi_api, refused_connection_is_reported_through_info_read) {
  int port = 0;
  int fd = refusing_port(&port);
  char url[80];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
  struct xt_req r;
  xt_req_init(&r, url);
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  /* A fast failure may or may not ever be counted as running; only the
   * message is guaranteed. */
  run_quiet(multi, 10000);
  int left = -1;
  xfer_msg *msg = xfer_multi_info_read(multi, &left);
  cr_assert(msg, "a failed transfer must still have its message");
  cr_assert_eq(msg->msg, XFERMSG_DONE);
  cr_assert_eq(msg->easy_handle, r.e);
  cr_assert_eq(msg->data.result, XFERE_COULDNT_CONNECT, "result %d (%s)", msg->data.result, r.err);
  cr_assert_eq(left, 0);
  cr_assert_neq(r.err[0], '\0', "the error buffer says why");
  cr_assert_null(xfer_multi_info_read(multi, &left));
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  close(fd);
  xt_req_free(&r);
}

Test(multi_api, running_count_drops_with_each_message) {
  struct xt_req r[3];
  const char *paths[3] = {"/delay/300/10", "/delay/500/20", "/delay/700/30"};
  for (int i = 0; i < 3; i++) {
    req(&r[i], paths[i]);
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
  }
  int running = -1;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  /* None can be done yet: the server holds each answer back. */
  cr_assert_eq(running, 3);
  int msgs = 0;
  uint64_t end = xt_now_ms() + 20000;
  for (;;) {
    int left;
    xfer_msg *msg;
    while ((msg = xfer_multi_info_read(multi, &left))) {
      cr_assert_eq(msg->data.result, XFERE_OK);
      msgs++;
    }
    /* running drops in the very call that queues the message. */
    cr_assert_eq(running + msgs, 3, "running %d with %d messages", running, msgs);
    if (running == 0)
      break;
    cr_assert(xt_now_ms() < end);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 100, NULL), XFERM_OK);
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  }
  cr_assert_eq(msgs, 3);
  /* NULL for the count is allowed. */
  cr_assert_eq(xfer_multi_perform(multi, NULL), XFERM_OK);
  for (int i = 0; i < 3; i++) {
    xt_assert_pattern(&r[i].body, (size_t)(10 * (i + 1)));
    xt_req_free(&r[i]);
  }
}

Test(multi_api, handles_added_while_others_run) {
  struct xt_req slow, fast;
  req(&slow, "/delay/1500/100");
  req(&fast, "/bytes/50");
  cr_assert_eq(xfer_multi_add_handle(multi, slow.e), XFERM_OK);
  int running = -1;
  cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
  cr_assert_eq(running, 1);
  drive_until_requests(multi, 1);
  /* Add while the first is on the wire, then drive both. */
  cr_assert_eq(xfer_multi_add_handle(multi, fast.e), XFERM_OK);
  xfer_easy *order[2] = {NULL, NULL};
  int n = 0;
  uint64_t end = xt_now_ms() + 20000;
  for (;;) {
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    int left;
    xfer_msg *msg;
    while ((msg = xfer_multi_info_read(multi, &left))) {
      cr_assert_lt(n, 2);
      cr_assert_eq(msg->data.result, XFERE_OK);
      order[n++] = msg->easy_handle;
    }
    if (running == 0)
      break;
    cr_assert(xt_now_ms() < end);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 100, NULL), XFERM_OK);
  }
  cr_assert_eq(n, 2);
  /* The late one did not wait for the slow one. */
  cr_assert_eq(order[0], fast.e);
  cr_assert_eq(order[1], slow.e);
  xt_assert_pattern(&fast.body, 50);
  xt_assert_pattern(&slow.body, 100);
  xt_req_free(&slow);
  xt_req_free(&fast);
}

/* ---- get_handles ------------------------------------------------------------ */

Test(multi_api, get_handles_lists_exactly_the_added_handles) {
  xfer_easy **list = xfer_multi_get_handles(multi);
  cr_assert(list, "an empty multi gives an empty list, not NULL");
  cr_assert_null(list[0]);
  xfer_free(list);

  struct xt_req r[3];
  for (int i = 0; i < 3; i++)
    req(&r[i], "/bytes/7");
  for (int i = 0; i < 3; i++)
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
  list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_eq(count(list), 3);
  for (int i = 0; i < 3; i++)
    cr_assert(listed(list, r[i].e), "handle %d missing", i);
  xfer_free(list);

  cr_assert_eq(xfer_multi_remove_handle(multi, r[1].e), XFERM_OK);
  list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_eq(count(list), 2);
  cr_assert(listed(list, r[0].e) && listed(list, r[2].e) && !listed(list, r[1].e));
  xfer_free(list);

  /* Finished handles are still added, with or without their message read. */
  xt_drive(multi, 20000);
  cr_assert(r[0].done && r[2].done && !r[1].done);
  list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_eq(count(list), 2);
  cr_assert(listed(list, r[0].e) && listed(list, r[2].e));
  xfer_free(list);
  xfer_free(NULL); /* a no-op */
  for (int i = 0; i < 3; i++)
    xt_req_free(&r[i]);
  list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_null(list[0], "easy_cleanup removed the handles");
  xfer_free(list);
}

/* ---- options ---------------------------------------------------------------- */

Test(multi_api, connection_limits_accept_non_negative_and_reject_negative) {
  const xfer_moption opts[] = {XFERMOPT_MAX_TOTAL_CONNECTIONS, XFERMOPT_MAX_HOST_CONNECTIONS,
                               XFERMOPT_MAXCONNECTS};
  const long good[] = {0L, 1L, 5L, 100000L, LONG_MAX};
  const long bad[] = {-1L, -100L, LONG_MIN};
  for (size_t o = 0; o < 3; o++) {
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
      cr_assert_eq(xfer_multi_setopt(multi, opts[o], good[i]), XFERM_OK, "opt %d value %ld",
                   (int)opts[o], good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
      cr_assert_eq(xfer_multi_setopt(multi, opts[o], bad[i]), XFERM_BAD_FUNCTION_ARGUMENT,
                   "opt %d value %ld", (int)opts[o], bad[i]);
    cr_assert_eq(xfer_multi_setopt(multi, opts[o], 0L), XFERM_OK);
  }
  /* A rejected value left the multi working. */
  struct xt_req r;
  req(&r, "/bytes/3");
  xt_run(multi, &r, 1, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_req_free(&r);
}

Test(multi_api, unknown_option_is_unknown_option) {
  cr_assert_eq(xfer_multi_setopt(multi, (xfer_moption)9999, 1L), XFERM_UNKNOWN_OPTION);
  cr_assert_eq(xfer_multi_setopt(multi, (xfer_moption)0, 1L), XFERM_UNKNOWN_OPTION);
  cr_assert_eq(xfer_multi_setopt(multi, (xfer_moption)40099, 1L), XFERM_UNKNOWN_OPTION);
  cr_assert_eq(
      xfer_multi_setopt(multi, (xfer_moption)(XFEROPTTYPE_OBJECTPOINT + 9999), (void *)NULL),
      XFERM_UNKNOWN_OPTION);
}

Test(multi_api, max_total_connections_serialises_on_one_connection) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_TOTAL_CONNECTIONS, 1L), XFERM_OK);
  struct xt_req r[3];
  for (int i = 0; i < 3; i++)
    req(&r[i], "/delay/100/1000");
  xt_run(multi, r, 3, 20000);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(r[i].result, XFERE_OK, "%d: %s", i, r[i].err);
    xt_assert_pattern(&r[i].body, 1000);
    xt_req_free(&r[i]);
  }
  cr_assert_eq(ts_requests(srv), 3);
  cr_assert_eq(ts_connections(srv), 1, "the limit of one connection was exceeded");
}

Test(multi_api, max_host_connections_serialises_on_one_connection) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, 1L), XFERM_OK);
  struct xt_req r[3];
  for (int i = 0; i < 3; i++)
    req(&r[i], "/delay/100/1000");
  xt_run(multi, r, 3, 20000);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(r[i].result, XFERE_OK, "%d: %s", i, r[i].err);
    xt_req_free(&r[i]);
  }
  cr_assert_eq(ts_requests(srv), 3);
  cr_assert_eq(ts_connections(srv), 1, "the per-host limit of one connection was exceeded");
}

Test(multi_api, maxconnects_bounds_the_pool) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAXCONNECTS, 1L), XFERM_OK);
  struct xt_req r[3];
  for (int i = 0; i < 3; i++)
    req(&r[i], "/delay/300/10");
  xt_run(multi, r, 3, 20000);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(r[i].result, XFERE_OK, "%d: %s", i, r[i].err);
  /* Three connections ran at once; only one may stay pooled. */
  cr_assert_eq(ts_connections(srv), 3);
  cr_assert_eq(ts_wait_open(srv, 1, 5000), 0, "%llu connections still open",
               (unsigned long long)ts_open_connections(srv));
  for (int i = 0; i < 3; i++)
    xt_req_free(&r[i]);
}

/* True when this build lists io_uring among its backends. */
static int io_uring_built_in(void) {
  const char *v = xfer_version();
  cr_assert(v);
  return strstr(v, "io_uring") != NULL;
}

Test(multi_api, backend_option_refuses_what_the_build_lacks) {
  xfer_multi *m = xt_multi();
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, XFER_BACKEND_AUTO), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, XFER_BACKEND_POLL), XFERM_OK);
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, XFER_BACKEND_EPOLL), XFERM_OK);
  if (!io_uring_built_in())
    cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, XFER_BACKEND_IO_URING),
                 XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, 4L), XFERM_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_BACKEND, -1L), XFERM_BAD_FUNCTION_ARGUMENT);
  /* Still a working multi on whatever it has. */
  struct xt_req r;
  req(&r, "/bytes/100");
  xt_run(m, &r, 1, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 100);
  cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  xt_req_free(&r);
}

/* Restores XFER_BACKEND as ctest set it, whatever a test did to it. */
static char *saved_backend;

static void save_backend(void) {
  const char *v = getenv("XFER_BACKEND");
  saved_backend = v ? strdup(v) : NULL;
}

static void restore_backend(void) {
  if (saved_backend) {
    setenv("XFER_BACKEND", saved_backend, 1);
    free(saved_backend);
    saved_backend = NULL;
  } else {
    unsetenv("XFER_BACKEND");
  }
}

Test(multi_api, backend_environment_variable_picks_or_refuses) {
  save_backend();
  /* A name the build cannot provide is an error, never a silent substitute. */
  setenv("XFER_BACKEND", "bogus", 1);
  xfer_multi *m = xfer_multi_init();
  int bogus_refused = m == NULL;
  xfer_multi_cleanup(m); /* NULL is fine */
  int uring_refused = 1;
  if (!io_uring_built_in()) {
    setenv("XFER_BACKEND", "io_uring", 1);
    m = xfer_multi_init();
    uring_refused = m == NULL;
    xfer_multi_cleanup(m);
  }
  /* Each real name works, and overrides an explicit choice on the multi. */
  const char *names[] = {"poll", "epoll"};
  int ok[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    setenv("XFER_BACKEND", names[i], 1);
    m = xfer_multi_init();
    if (!m)
      continue;
    long other = i == 0 ? XFER_BACKEND_EPOLL : XFER_BACKEND_POLL;
    int set_ok = xfer_multi_setopt(m, XFERMOPT_BACKEND, other) == XFERM_OK;
    struct xt_req r;
    req(&r, "/bytes/20");
    xt_run(m, &r, 1, 20000);
    ok[i] = set_ok && r.result == XFERE_OK && r.body.len == 20;
    xfer_multi_cleanup(m);
    xt_req_free(&r);
  }
  /* An empty value means "not set". */
  setenv("XFER_BACKEND", "", 1);
  m = xfer_multi_init();
  int empty_ok = m != NULL;
  xfer_multi_cleanup(m);
  restore_backend();
  cr_assert(bogus_refused, "XFER_BACKEND=bogus must make xfer_multi_init return NULL");
  cr_assert(uring_refused, "XFER_BACKEND=io_uring without io_uring built in must fail");
  cr_assert(ok[0], "XFER_BACKEND=poll");
  cr_assert(ok[1], "XFER_BACKEND=epoll");
  cr_assert(empty_ok, "XFER_BACKEND= (empty)");
}

/* ---- strerror --------------------------------------------------------------- */

Test(multi_api, strerror_has_libcurls_sentence_for_every_code) {
  static const struct {
    xfer_mcode code;
    const char *text;
  } want[] = {
      {XFERM_CALL_MULTI_PERFORM, "Please call curl_multi_perform() soon"},
      {XFERM_OK, "No error"},
      {XFERM_BAD_HANDLE, "Invalid multi handle"},
      {XFERM_BAD_EASY_HANDLE, "Invalid easy handle"},
      {XFERM_OUT_OF_MEMORY, "Out of memory"},
      {XFERM_INTERNAL_ERROR, "Internal error"},
      {XFERM_BAD_SOCKET, "Invalid socket argument"},
      {XFERM_UNKNOWN_OPTION, "Unknown option"},
      {XFERM_ADDED_ALREADY, "The easy handle is already added to a multi handle"},
      {XFERM_RECURSIVE_API_CALL, "API function called from within callback"},
      {XFERM_WAKEUP_FAILURE, "Wakeup is unavailable or failed"},
      {XFERM_BAD_FUNCTION_ARGUMENT, "A libcurl function was given a bad argument"},
      {XFERM_ABORTED_BY_CALLBACK, "Operation was aborted by an application callback"},
      {XFERM_UNRECOVERABLE_POLL, "Unrecoverable error in select/poll"},
      {XFERM_LAST, "Unknown error"},
      {(xfer_mcode)99, "Unknown error"},
      {(xfer_mcode)-2, "Unknown error"},
      {(xfer_mcode)INT_MIN, "Unknown error"},
      {(xfer_mcode)INT_MAX, "Unknown error"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const char *s = xfer_multi_strerror(want[i].code);
    cr_assert(s, "code %d gave NULL", (int)want[i].code);
    cr_assert_str_eq(s, want[i].text, "code %d", (int)want[i].code);
  }
  cr_assert_eq(XFERM_CALL_MULTI_SOCKET, XFERM_CALL_MULTI_PERFORM);
}

/* ---- the recursion guard ------------------------------------------------------ */

struct recursion {
  xfer_multi *m;
  xfer_easy *self;
  xfer_easy *other;
  struct xt_buf body;
  int calls;
  /* Results of the first call's probes. */
  xfer_mcode perform, add, remove_self, remove_other, setopt, timeout, fdset, poll, wait, cleanup,
      wakeup;
  int info_read_null;
  xfer_code getinfo, easy_setopt, easy_perform;
  long code;
};

static size_t recursing_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  struct recursion *c = userdata;
  if (c->calls++ == 0) {
    int running = -1, numfds = -1, max_fd = -1, left = -1;
    long ms = -2;
    fd_set rs, ws, es;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_ZERO(&es);
    c->perform = xfer_multi_perform(c->m, &running);
    c->add = xfer_multi_add_handle(c->m, c->other);
    c->remove_self = xfer_multi_remove_handle(c->m, c->self);
    c->setopt = xfer_multi_setopt(c->m, XFERMOPT_MAXCONNECTS, 1L);
    c->timeout = xfer_multi_timeout(c->m, &ms);
    c->fdset = xfer_multi_fdset(c->m, &rs, &ws, &es, &max_fd);
    c->poll = xfer_multi_poll(c->m, NULL, 0, 0, &numfds);
    c->wait = xfer_multi_wait(c->m, NULL, 0, 0, &numfds);
    c->cleanup = xfer_multi_cleanup(c->m);
    c->info_read_null = xfer_multi_info_read(c->m, &left) == NULL;
    /* Allowed from any callback. */
    c->getinfo = xfer_easy_getinfo(c->self, XFERINFO_RESPONSE_CODE, &c->code);
    c->easy_setopt = xfer_easy_setopt(c->self, XFEROPT_PRIVATE, (void *)c);
    c->easy_perform = xfer_easy_perform(c->self);
    c->wakeup = xfer_multi_wakeup(c->m);
  }
  return xt_buf_write(ptr, size, nmemb, &c->body);
}

Test(multi_api, multi_calls_from_a_callback_are_refused) {
  struct recursion c;
  memset(&c, 0, sizeof c);
  char url[160];
  url_of("/bytes/30000", url, sizeof url);
  c.m = multi;
  c.self = xfer_easy_init();
  c.other = xfer_easy_init();
  cr_assert(c.self && c.other);
  cr_assert_eq(xfer_easy_setopt(c.self, XFEROPT_URL, url), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(c.other, XFEROPT_URL, url), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(c.self, XFEROPT_WRITEFUNCTION, recursing_write), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(c.self, XFEROPT_WRITEDATA, &c), XFERE_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, c.self), XFERM_OK);
  int msgs = xt_drive(multi, 20000);
  cr_assert_geq(c.calls, 1);
  cr_assert_eq(c.perform, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.add, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.remove_self, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.setopt, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.timeout, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.fdset, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.poll, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.wait, XFERM_RECURSIVE_API_CALL);
  cr_assert_eq(c.cleanup, XFERM_RECURSIVE_API_CALL);
  cr_assert(c.info_read_null);
  /* The handle is in a multi, which libcurl checks first. */
  cr_assert_eq(c.easy_perform, XFERE_FAILED_INIT);
  cr_assert_eq(c.wakeup, XFERM_OK, "wakeup is callable from anywhere");
  cr_assert_eq(c.getinfo, XFERE_OK);
  cr_assert_eq(c.code, 200, "the status is known by the first body byte");
  cr_assert_eq(c.easy_setopt, XFERE_OK);
  /* The refused calls changed nothing: the transfer finished whole, the
   * other handle was not added, the multi is alive. */
  cr_assert_eq(msgs, 1);
  xt_assert_pattern(&c.body, 30000);
  xfer_easy **list = xfer_multi_get_handles(multi);
  cr_assert(list);
  cr_assert_eq(count(list), 1);
  cr_assert_eq(list[0], c.self);
  xfer_free(list);
  void *priv = NULL;
  cr_assert_eq(xfer_easy_getinfo(c.self, XFERINFO_PRIVATE, &priv), XFERE_OK);
  cr_assert_eq(priv, &c, "easy_setopt from the callback took effect");
  cr_assert_eq(xfer_multi_remove_handle(multi, c.self), XFERM_OK);
  cr_assert_eq(xfer_multi_remove_handle(multi, c.other), XFERM_OK);
  xfer_easy_cleanup(c.self);
  xfer_easy_cleanup(c.other);
  xt_buf_free(&c.body);
}

/* ---- cleanup orders (libcurl tests 1502-1505) ------------------------------------ */

/* A second multi with one finished transfer still added, its connection in
 * the pool (the state tests 1502-1505 start their cleanups from). */
static xfer_multi *finished_on_new_multi(struct xt_req *r) {
  xfer_multi *m = xt_multi();
  req(r, "/bytes/10");
  xt_run(m, r, 1, 20000);
  cr_assert_eq(r->result, XFERE_OK, "%s", r->err);
  cr_assert_eq(ts_open_connections(srv), 1);
  return m;
}

/* The orphan is a detached, working handle: another multi takes it. */
static void assert_reusable(struct xt_req *r) {
  r->body.len = 0;
  r->done = 0;
  xt_run(multi, r, 1, 20000);
  cr_assert_eq(r->result, XFERE_OK, "%s", r->err);
  xt_assert_pattern(&r->body, 10);
  cr_assert_eq(xfer_multi_remove_handle(multi, r->e), XFERM_OK);
}

Test(multi_api, cleanup_order_remove_multi_easy) { /* 1502 */
  struct xt_req r;
  xfer_multi *m = finished_on_new_multi(&r);
  cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  /* multi_cleanup closed the pooled connection. */
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
  long code = 0;
  cr_assert_eq(xfer_easy_getinfo(r.e, XFERINFO_RESPONSE_CODE, &code), XFERE_OK);
  cr_assert_eq(code, 200);
  assert_reusable(&r);
  xt_req_free(&r);
}

Test(multi_api, cleanup_order_remove_easy_multi) { /* 1503 */
  struct xt_req r;
  xfer_multi *m = finished_on_new_multi(&r);
  cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  xt_req_free(&r);
  xfer_easy **list = xfer_multi_get_handles(m);
  cr_assert(list);
  cr_assert_null(list[0]);
  xfer_free(list);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
}

Test(multi_api, cleanup_order_multi_easy_without_remove) { /* 1504 */
  struct xt_req r;
  xfer_multi *m = finished_on_new_multi(&r);
  /* Still added: cleanup orphans it. */
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
  /* The orphan can be re-added elsewhere and works. */
  assert_reusable(&r);
  xt_req_free(&r);
}

Test(multi_api, cleanup_order_easy_multi_without_remove) { /* 1505 */
  struct xt_req r;
  xfer_multi *m = finished_on_new_multi(&r);
  /* easy_cleanup on an added handle removes it first. */
  xt_req_free(&r);
  xfer_easy **list = xfer_multi_get_handles(m);
  cr_assert(list);
  cr_assert_null(list[0], "easy_cleanup left the handle in the multi");
  xfer_free(list);
  int running = -1, left = -1;
  cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  cr_assert_null(xfer_multi_info_read(m, &left));
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
}

/* The unremoved orders again, with the transfer still in flight: cleanup
 * must stop it at once, close its connection and leave no message behind. */
static xfer_multi *in_flight_on_new_multi(struct xt_req *r) {
  xfer_multi *m = xt_multi();
  route_idle("/idle");
  req(r, "/idle");
  cr_assert_eq(xfer_multi_add_handle(m, r->e), XFERM_OK);
  drive_until_requests(m, 1);
  return m;
}

Test(multi_api, multi_cleanup_with_a_transfer_in_flight) {
  struct xt_req r;
  xfer_multi *m = in_flight_on_new_multi(&r);
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  cr_assert_lt(xt_now_ms() - t0, 1000);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
  cr_assert_eq(r.body.len, 0);
  /* Re-added with a fast URL, the orphan runs normally. */
  char url[160];
  url_of("/bytes/10", url, sizeof url);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_URL, url), XFERE_OK);
  assert_reusable(&r);
  xt_req_free(&r);
}

Test(multi_api, easy_cleanup_with_a_transfer_in_flight) {
  struct xt_req r;
  xfer_multi *m = in_flight_on_new_multi(&r);
  uint64_t t0 = xt_now_ms();
  xt_req_free(&r);
  cr_assert_lt(xt_now_ms() - t0, 1000);
  int running = -1, left = -1;
  cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
  cr_assert_eq(running, 0);
  cr_assert_null(xfer_multi_info_read(m, &left));
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
}

Test(multi_api, easy_perform_refuses_an_added_handle) {
  struct xt_req r;
  req(&r, "/bytes/10");
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_FAILED_INIT);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  /* Fine once removed (libcurl test 3208). */
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 10);
  xt_req_free(&r);
}

/* xfer's own query: the backend a multi runs on is the one XFER_BACKEND
 * names (ctest sets it for every net suite), and NULL gets NULL. */
Test(backend_query, names_the_backend_in_use) {
  const char *env = getenv("XFER_BACKEND");
  xt_require_backend();
  xfer_multi *m = xfer_multi_init();
  cr_assert(m);
  const char *name = xfer_multi_backend(m);
  cr_assert(name);
  if (env && *env)
    cr_assert_str_eq(name, env);
  else
    cr_assert(strstr(xfer_version(), name), "%s is not among the built-in backends", name);
  cr_assert_null(xfer_multi_backend(NULL));
  xfer_multi_cleanup(m);
}
