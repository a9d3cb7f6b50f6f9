/* Faults of the connection (docs/internals/faults.md): a keep-alive
 * connection the server closes and the client then reuses, and a server
 * that never reads a large POST. Siblings on another server share the
 * multi and must finish with their exact bytes.
 *
 * tests/net/test_pool.c proves the retry rule alone (one transfer at a
 * time, FIN only); here the same rule holds with siblings in flight, for a
 * reset as well as a FIN, and for a POST whose dead connection was seen
 * before any byte of it was written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fault.h"
#include "testserver.h"

#define RUN_MS 20000

static struct ts_server *srv, *other;
static xfer_multi *multi;

static void setup(void) { ft_env_up(&srv, &other, &multi); }
static void teardown(void) { ft_env_down(srv, other, multi); }

TestSuite(conn, .init = setup, .fini = teardown);

static void run_with_sibling(struct ft_req *t) {
  struct ft_sibs sibs;
  ft_sibs_add(multi, &sibs, NULL, other);
  ft_add(multi, t);
  ft_drive(multi, RUN_MS);
  ft_sibs_check(multi, &sibs);
}

/* A first GET leaves one idle keep-alive connection in the pool. */
static void warm_up(void) {
  struct ft_req w;
  ft_req_init(&w, srv, "/bytes/100");
  ft_add(multi, &w);
  ft_drive(multi, RUN_MS);
  cr_assert_eq(w.r.result, XFERE_OK, "%s", w.r.err);
  xt_assert_pattern(&w.r.body, 100);
  ft_free(multi, &w);
  cr_assert_eq(ts_connections(srv), 1);
}

static long num_connects(const struct ft_req *t) {
  long n = -1;
  xfer_easy_getinfo(t->r.e, XFERINFO_NUM_CONNECTS, &n);
  return n;
}

/* The first request for path is read and answered by `end` (the server
 * closing its idle connection just as the request arrives); later ones get
 * the pattern, so a retry succeeds and a wrong retry shows. */
static void route_close_once(const char *path, enum ts_op end) {
  size_t len;
  char *raw = ft_response("HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n", 3000, &len);
  struct ts_step ok[] = {{TS_SEND, raw, len, 0}};
  struct ts_step close_it[] = {TS_STEP(end)};
  ts_route(srv, path, ok, 1);
  ts_route_ex(srv, path, close_it, 1, TS_ROUTE_ONCE);
  free(raw);
}

/* ---- GET on a reused connection the server closed: retried once -------- */

static void get_retried(enum ts_op end) {
  warm_up();
  route_close_once("/ka", end);
  struct ft_req t;
  ft_req_init(&t, srv, "/ka");
  run_with_sibling(&t);
  cr_assert_eq(t.r.result, XFERE_OK, "code %d (%s)", t.r.result, t.r.err);
  xt_assert_pattern(&t.r.body, 3000);
  cr_assert_eq(num_connects(&t), 1, "the retry opens exactly one connection");
  /* The GET went out twice: on the reused connection, then on a new one. */
  cr_assert_eq(ts_requests(srv), 3);
  cr_assert_eq(ts_connections(srv), 2);
  cr_assert_eq(ts_request_conn(srv, 1), ts_request_conn(srv, 0));
  cr_assert_neq(ts_request_conn(srv, 2), ts_request_conn(srv, 1));
  ft_free(multi, &t);
}

Test(conn, get_on_reused_connection_closed_by_fin_is_retried) { get_retried(TS_FIN); }

Test(conn, get_on_reused_connection_closed_by_rst_is_retried) { get_retried(TS_RST); }

/* ---- POST on it: never retried once written -------------------------- */

static void post_not_retried(enum ts_op end, xfer_code code) {
  warm_up();
  route_close_once("/ka", end);
  struct ft_req t;
  ft_req_init(&t, srv, "/ka");
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_POSTFIELDS, "a=1&b=2"), XFERE_OK);
  run_with_sibling(&t);
  ft_assert_code(&t, code, NULL);
  cr_assert_eq(t.r.body.len, 0);
  cr_assert_eq(ts_requests(srv), 2, "the POST was sent again");
  cr_assert_eq(ts_connections(srv), 1);
  char line[32];
  ts_request_log(srv, 1, line, sizeof line);
  cr_assert(memcmp(line, "POST /ka HTTP/1.1\r\n", 19) == 0);
  ft_free(multi, &t);
}

/* libcurl would replay the POST (it retries any request whose reused
 * connection gave nothing back); RFC 9110 section 9.2.2 says a proxy must
 * not, and xfer lives in proxies: the stricter rule. */
Test(conn, post_on_reused_connection_closed_by_fin_is_52) {
  post_not_retried(TS_FIN, XFERE_GOT_NOTHING);
}

Test(conn, post_on_reused_connection_closed_by_rst_is_56) {
  post_not_retried(TS_RST, XFERE_RECV_ERROR);
}

/* ---- the close seen while idle: nothing was written, nothing lost ------- */

Test(conn, post_after_an_idle_close_goes_on_a_fresh_connection) {
  static const struct ts_step steps[] = {TS_S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
                                         TS_STEP(TS_FIN)};
  ts_route(srv, "/first", steps, 2);
  struct ft_req w;
  ft_req_init(&w, srv, "/first");
  ft_add(multi, &w);
  ft_drive(multi, RUN_MS);
  ft_assert_ok(&w, 200, "hello", 5);
  ft_free(multi, &w);
  /* The server closed its idle connection; the pool's watch sees the FIN
   * (or the checkout's peek does), so the POST never touches it. */
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0);
  struct ft_req t;
  ft_req_init(&t, srv, "/echo");
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_POSTFIELDS, "a=1&b=2"), XFERE_OK);
  run_with_sibling(&t);
  cr_assert_eq(t.r.result, XFERE_OK, "code %d (%s)", t.r.result, t.r.err);
  cr_assert(t.r.body.len > 7 && memcmp(t.r.body.data + t.r.body.len - 7, "a=1&b=2", 7) == 0);
  cr_assert_eq(num_connects(&t), 1);
  cr_assert_eq(ts_requests(srv), 2, "the POST was written to the dead connection");
  cr_assert_eq(ts_connections(srv), 2);
  ft_free(multi, &t);
}

/* ---- a server that never reads a large POST ------------------------------ */

#define BIG_POST (8u << 20) /* far beyond both ends' socket buffers */

static char *big_body(void) {
  char *b = malloc(BIG_POST);
  cr_assert(b);
  memset(b, 'p', BIG_POST);
  return b;
}

static void set_big_post(struct ft_req *t, const char *body) {
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_POSTFIELDS, body), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_POSTFIELDSIZE, (long)BIG_POST), XFERE_OK);
}

/* Runs t beside a sibling that does not keep its connection, and asserts
 * that the client let go of t's socket. The server may not see that close:
 * the client's FIN waits behind whatever of its body is still unsent, which
 * a server that does not read never takes. So the oracle is the process's
 * descriptor count: before, `base`; after, `base` plus the server's ends
 * still open (the sibling's two ends are closed, client first, then
 * server). */
static void run_and_let_go(struct ft_req *t) {
  int base = ft_fd_count();
  struct ft_req sib;
  ft_req_init(&sib, other, "/delay/150/300000");
  cr_assert_eq(xfer_easy_setopt(sib.r.e, XFEROPT_FORBID_REUSE, 1L), XFERE_OK);
  ft_add(multi, &sib);
  ft_add(multi, t);
  ft_drive(multi, RUN_MS);
  cr_assert_eq(sib.r.result, XFERE_OK, "the sibling: code %d (%s)", sib.r.result, sib.r.err);
  xt_assert_pattern(&sib.r.body, 300000);
  ft_free(multi, &sib);
  cr_assert_eq(ts_wait_open(other, 0, 5000), 0, "the sibling's connection stayed open");
  /* Bounded: until the count settles at base plus the server's open ends
   * (a server thread closes its descriptor just before it counts it). */
  uint64_t end = xt_now_ms() + 5000;
  int n = ft_fd_count();
  uint64_t open = ts_open_connections(srv);
  while (n != base + (int)open && xt_now_ms() < end) {
    ft_wait_fds(multi, base + (int)open, 10);
    n = ft_fd_count();
    open = ts_open_connections(srv);
  }
  cr_assert_eq(n, base + (int)open,
               "%d descriptors, %d before, %llu server ends open: the client kept the socket", n,
               base, (unsigned long long)open);
}

static xfer_off_t uploaded(const struct ft_req *t) {
  xfer_off_t up = -1;
  xfer_easy_getinfo(t->r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  return up;
}

/* CPU time of the whole process (xfer, the servers' threads, the test),
 * in milliseconds. */
static uint64_t cpu_ms(void) {
  struct rusage ru;
  cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000u +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000u;
}

Test(conn, never_read_post_times_out_in_bounds) {
  /* The head is read; the body never is, and no answer comes. */
  static const struct ts_step steps[] = {TS_STEP(TS_STOP_READING)};
  ts_route_ex(srv, "/sink", steps, 1, TS_ROUTE_HEAD_ONLY);
  char *body = big_body();
  struct ft_req t;
  ft_req_init(&t, srv, "/sink");
  set_big_post(&t, body);
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT_MS, 1000L), XFERE_OK);
  uint64_t cpu0 = cpu_ms();
  run_and_let_go(&t);
  uint64_t cpu = cpu_ms() - cpu0;
  /* The wait on a full send window is a pending operation, not a loop:
   * the process stays mostly idle (a busy loop would burn the whole
   * second, and then some). */
  cr_assert_lt(cpu, t.elapsed / 2, "%llu ms of CPU in %llu ms waiting", (unsigned long long)cpu,
               (unsigned long long)t.elapsed);
  ft_assert_code(&t, XFERE_OPERATION_TIMEDOUT, "timed out");
  cr_assert(t.elapsed >= 1000 && t.elapsed <= 4000, "timed out after %llu ms",
            (unsigned long long)t.elapsed);
  cr_assert_lt(uploaded(&t), (xfer_off_t)BIG_POST, "the whole body went out");
  ft_free(multi, &t);
  free(body);
}

/* After t's connection was given up, the next GET opens a new one (one
 * connect of its own) and gets its exact bytes. */
static void next_get_on_a_new_connection(const char *why) {
  struct ft_req g;
  ft_req_init(&g, srv, "/bytes/10");
  ft_add(multi, &g);
  ft_drive(multi, RUN_MS);
  cr_assert_eq(g.r.result, XFERE_OK, "%s", g.r.err);
  xt_assert_pattern(&g.r.body, 10);
  cr_assert_eq(num_connects(&g), 1, "%s", why);
  ft_free(multi, &g);
}

/* The server answers before reading the body, then stops reading: the
 * transfer ends with that answer (libcurl's test 1517: 0 and the status),
 * stops sending, and the connection, with a request half sent, is closed. */
static void early_answer(const char *answer, size_t len) {
  struct ts_step steps[] = {{TS_SEND, answer, len, 0}, TS_STEP(TS_STOP_READING)};
  ts_route_ex(srv, "/sink", steps, 2, TS_ROUTE_HEAD_ONLY);
  char *body = big_body();
  struct ft_req t;
  ft_req_init(&t, srv, "/sink");
  set_big_post(&t, body);
  run_and_let_go(&t);
  ft_assert_ok(&t, 413, "too big\n", 8);
  cr_assert_lt(uploaded(&t), (xfer_off_t)BIG_POST, "the whole body went out");
  /* The next request never lands on that connection. */
  next_get_on_a_new_connection("the half-sent connection was pooled");
  cr_assert_eq(ts_connections(srv), 2);
  ft_free(multi, &t);
  free(body);
}

Test(conn, never_read_post_gets_the_early_answer) {
  static const char raw[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big\n";
  early_answer(raw, sizeof raw - 1);
}

Test(conn, never_read_post_gets_the_early_answer_with_close) {
  static const char raw[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n"
                            "Connection: close\r\n\r\ntoo big\n";
  early_answer(raw, sizeof raw - 1);
}

/* ---- the same with a body from the read callback ----------------------- */

struct feed {
  size_t left;
};

static size_t feed_read(char *buf, size_t size, size_t nmemb, void *userdata) {
  struct feed *f = userdata;
  size_t n = size * nmemb;
  if (n > f->left)
    n = f->left;
  memset(buf, 'r', n);
  f->left -= n;
  return n;
}

static void set_callback_post(struct ft_req *t, struct feed *f) {
  f->left = BIG_POST;
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_POST, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_POSTFIELDSIZE, (long)BIG_POST), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_READFUNCTION, feed_read), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_READDATA, f), XFERE_OK);
}

Test(conn, never_read_callback_post_times_out) {
  static const struct ts_step steps[] = {TS_STEP(TS_STOP_READING)};
  ts_route_ex(srv, "/sink", steps, 1, TS_ROUTE_HEAD_ONLY);
  struct feed f;
  struct ft_req t;
  ft_req_init(&t, srv, "/sink");
  set_callback_post(&t, &f);
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT_MS, 500L), XFERE_OK);
  run_and_let_go(&t);
  ft_assert_code(&t, XFERE_OPERATION_TIMEDOUT, "timed out");
  cr_assert(t.elapsed >= 500 && t.elapsed <= 3000, "timed out after %llu ms",
            (unsigned long long)t.elapsed);
  cr_assert_gt(f.left, 0, "the whole body was read");
  ft_free(multi, &t);
}

Test(conn, never_read_callback_post_gets_the_early_answer) {
  static const struct ts_step steps[] = {
      TS_S("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big\n"),
      TS_STEP(TS_STOP_READING)};
  ts_route_ex(srv, "/sink", steps, 2, TS_ROUTE_HEAD_ONLY);
  struct feed f;
  struct ft_req t;
  ft_req_init(&t, srv, "/sink");
  set_callback_post(&t, &f);
  run_and_let_go(&t);
  ft_assert_ok(&t, 413, "too big\n", 8);
  cr_assert_gt(f.left, 0, "the whole body was read");
  ft_free(multi, &t);
}

/* A server that answers early and then closes with the body unread makes
 * its kernel reset the connection (the common case: close() with unread
 * input sends an RST). The answer came before the reset and is what the
 * transfer reports, as it would have without the reset, and the
 * connection is never pooled. */
static void early_answer_then_reset(const char *answer) {
  struct ts_step steps[] = {{TS_SEND, answer, 0, 0}, TS_STEP(TS_RST)};
  ts_route_ex(srv, "/sink", steps, 2, TS_ROUTE_HEAD_ONLY);
  char *body = big_body();
  struct ft_req t;
  ft_req_init(&t, srv, "/sink");
  set_big_post(&t, body);
  run_with_sibling(&t);
  ft_assert_ok(&t, 413, "too big\n", 8);
  cr_assert_lt(uploaded(&t), (xfer_off_t)BIG_POST, "the whole body went out");
  next_get_on_a_new_connection("the reset connection was pooled");
  ft_free(multi, &t);
  free(body);
}

Test(conn, early_answer_then_reset_reports_the_answer) {
  early_answer_then_reset("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big\n");
}

Test(conn, early_answer_with_close_then_reset_reports_the_answer) {
  early_answer_then_reset("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n"
                          "Connection: close\r\n\r\ntoo big\n");
}
