/* The connection pool (docs/internals/pool.md; the P.. and F.. labels below
 * name its cases): reuse per origin, the per-host and total
 * limits with FIFO queueing, MAXCONNECTS, FORBID_REUSE and FRESH_CONNECT,
 * connections that must never be pooled again, the liveness check at
 * checkout and the safe-retry rule. The test server's per-request
 * connection id (ts_request_conn) is the oracle for "reused or not". */
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void setup(void) { xt_env_up(&srv, &multi); }

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(pool, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

/* Runs one request to its end on m and removes it, so the handle can be
 * added again. */
static void run1(xfer_multi *m, struct xt_req *r) {
  r->body.len = 0;
  r->headers.len = 0;
  r->done = 0;
  xt_run(m, r, 1, 20000);
  cr_assert_eq(xfer_multi_remove_handle(m, r->e), XFERM_OK);
}

static long num_connects(struct xt_req *r) {
  long n = -1;
  cr_assert_eq(xfer_easy_getinfo(r->e, XFERINFO_NUM_CONNECTS, &n), XFERE_OK);
  return n;
}

static uint16_t sock_port(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return 0;
}

static int in_ports(uint16_t p, const uint16_t *ports, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ports[i] == p)
      return 1;
  return 0;
}

/* The client connections of this process to any of `ports`, counted from
 * the sockets themselves: the test server only notices a close when it
 * next reads, so its own open count lags behind what the library holds,
 * while a socket the library closed is gone from here at once. A client
 * socket has its peer on one of the ports and its own end elsewhere (the
 * server's accepted sockets are the other way round). Sockets still in
 * SYN_SENT have no peer yet and are not counted. */
static unsigned client_conns(const uint16_t *ports, size_t n) {
  DIR *d = opendir("/proc/self/fd");
  cr_assert(d, "cannot list /proc/self/fd");
  unsigned count = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || end == de->d_name || fd == dirfd(d))
      continue;
    struct sockaddr_storage peer, local;
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (getpeername((int)fd, (struct sockaddr *)&peer, &pl) != 0 ||
        getsockname((int)fd, (struct sockaddr *)&local, &ll) != 0)
      continue;
    if (in_ports(sock_port(&peer), ports, n) && !in_ports(sock_port(&local), ports, n))
      count++;
  }
  closedir(d);
  return count;
}

/* xt_drive, plus after every perform a check that the library never holds
 * more than `limit` connections to `ports`. Returns the most seen. */
static unsigned drive_bounded(xfer_multi *m, int max_ms, const uint16_t *ports, size_t nports,
                              unsigned limit) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  unsigned most = 0;
  for (;;) {
    int running = 0;
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
    unsigned now = client_conns(ports, nports);
    cr_assert_leq(now, limit, "%u connections open, the limit is %u", now, limit);
    if (now > most)
      most = now;
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left))) {
      struct xt_req *r = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &r);
      cr_assert(r);
      r->done = 1;
      r->result = msg->data.result;
    }
    if (running == 0)
      return most;
    cr_assert(xt_now_ms() < end, "transfers still running after %d ms", max_ms);
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 100, NULL), XFERM_OK);
  }
}

/* The request line of the server's request number idx, NUL-terminated. */
static void request_line(struct ts_server *s, size_t idx, char *out, size_t outlen) {
  size_t n = ts_request_log(s, idx, out, outlen - 1);
  cr_assert_gt(n, 0, "no request %zu in the server's log", idx);
  if (n > outlen - 1)
    n = outlen - 1;
  out[n] = 0;
  char *eol = strstr(out, "\r\n");
  if (eol)
    *eol = 0;
}

/* ---- P01: the positive control ------------------------------------------ */

Test(pool, sequential_gets_share_one_connection) {
  char url[160];
  ts_url(srv, "/bytes/100", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  for (int i = 0; i < 100; i++) {
    run1(multi, &r);
    cr_assert_eq(r.result, XFERE_OK, "request %d: %d (%s)", i, r.result, r.err);
    xt_assert_pattern(&r.body, 100);
    cr_assert_eq(num_connects(&r), i == 0 ? 1 : 0, "request %d opened a connection", i);
  }
  cr_assert_eq(ts_requests(srv), 100);
  cr_assert_eq(ts_connections(srv), 1);
  xt_req_free(&r);
}

/* ---- limits and queueing (P14, P15, MAXCONNECTS) ------------------------- */

Test(pool, max_host_one_serves_queued_transfers_in_order) {
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, 1L), XFERM_OK);
  struct xt_req r[3];
  for (int i = 0; i < 3; i++) {
    char path[32], url[160];
    snprintf(path, sizeof path, "/bytes/%d", 11 + i);
    ts_url(srv, path, url, sizeof url);
    xt_req_init(&r[i], url);
  }
  uint16_t port = ts_port(srv);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
  drive_bounded(multi, 20000, &port, 1, 1);
  for (int i = 0; i < 3; i++) {
    cr_assert(r[i].done);
    cr_assert_eq(r[i].result, XFERE_OK, "transfer %d: %d (%s)", i, r[i].result, r[i].err);
    xt_assert_pattern(&r[i].body, (size_t)(11 + i));
  }
  cr_assert_eq(ts_connections(srv), 1);
  /* FIFO: the server saw them in the order they were added. */
  for (int i = 0; i < 3; i++) {
    char line[128], want[64];
    request_line(srv, (size_t)i, line, sizeof line);
    snprintf(want, sizeof want, "GET /bytes/%d HTTP/1.1", 11 + i);
    cr_assert_str_eq(line, want, "request %d out of order", i);
  }
  for (int i = 0; i < 3; i++)
    xt_req_free(&r[i]);
}

Test(pool, max_host_four_never_opens_a_fifth) {
  enum { N = 40 };
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, 4L), XFERM_OK);
  char url[160];
  /* A short delay keeps every connection busy long enough that the queue
   * really fills up. */
  ts_url(srv, "/delay/20/5000", url, sizeof url);
  struct xt_req *r = calloc(N, sizeof *r);
  cr_assert(r);
  for (int i = 0; i < N; i++) {
    xt_req_init(&r[i], url);
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
  }
  uint16_t port = ts_port(srv);
  drive_bounded(multi, 30000, &port, 1, 4);
  long connects = 0;
  for (int i = 0; i < N; i++) {
    cr_assert(r[i].done, "transfer %d never finished", i);
    cr_assert_eq(r[i].result, XFERE_OK, "transfer %d: %d (%s)", i, r[i].result, r[i].err);
    xt_assert_pattern(&r[i].body, 5000);
    connects += num_connects(&r[i]);
  }
  cr_assert_leq(ts_connections(srv), 4, "%llu connections",
                (unsigned long long)ts_connections(srv));
  cr_assert_eq((uint64_t)connects, ts_connections(srv), "NUM_CONNECTS disagrees with the server");
  cr_assert_eq(ts_requests(srv), N);
  for (int i = 0; i < N; i++)
    xt_req_free(&r[i]);
  free(r);
}

Test(pool, max_total_two_across_two_origins) {
  enum { PER = 10 };
  struct ts_server *other = ts_start();
  cr_assert(other);
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_TOTAL_CONNECTIONS, 2L), XFERM_OK);
  char ua[160], ub[160];
  ts_url(srv, "/delay/20/3000", ua, sizeof ua);
  ts_url(other, "/delay/20/3000", ub, sizeof ub);
  struct xt_req r[2 * PER];
  /* All of the first origin's transfers before the second's: once the first
   * origin's queue is empty, its idle connections must be closed to make
   * room for the second origin (P15). */
  for (int i = 0; i < 2 * PER; i++) {
    xt_req_init(&r[i], i < PER ? ua : ub);
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
  }
  uint16_t ports[2] = {ts_port(srv), ts_port(other)};
  drive_bounded(multi, 30000, ports, 2, 2);
  for (int i = 0; i < 2 * PER; i++) {
    cr_assert(r[i].done, "transfer %d never finished", i);
    cr_assert_eq(r[i].result, XFERE_OK, "transfer %d: %d (%s)", i, r[i].result, r[i].err);
    xt_assert_pattern(&r[i].body, 3000);
  }
  cr_assert_eq(ts_requests(srv), PER);
  cr_assert_eq(ts_requests(other), PER);
  /* FIFO order means each origin is served by at most the two connections it
   * gets while it is at the head of the queue: never one per transfer. */
  cr_assert_leq(ts_connections(srv), 2);
  cr_assert_leq(ts_connections(other), 2);
  for (int i = 0; i < 2 * PER; i++)
    xt_req_free(&r[i]);
  ts_stop(other);
}

/* GET /bytes/10 from a, then from b, `rounds` times on m (the servers'
 * connection counters tell what was reused). */
static void alternate(xfer_multi *m, struct ts_server *a, struct ts_server *b, int rounds) {
  char ua[160], ub[160];
  ts_url(a, "/bytes/10", ua, sizeof ua);
  ts_url(b, "/bytes/10", ub, sizeof ub);
  struct xt_req ra, rb;
  xt_req_init(&ra, ua);
  xt_req_init(&rb, ub);
  for (int i = 0; i < rounds; i++) {
    run1(m, &ra);
    cr_assert_eq(ra.result, XFERE_OK, "%s", ra.err);
    xt_assert_pattern(&ra.body, 10);
    run1(m, &rb);
    cr_assert_eq(rb.result, XFERE_OK, "%s", rb.err);
    xt_assert_pattern(&rb.body, 10);
  }
  xt_req_free(&ra);
  xt_req_free(&rb);
}

Test(pool, maxconnects_one_closes_the_other_origins_idle_connection) {
  enum { ROUNDS = 5 };
  struct ts_server *a2 = ts_start(), *b1 = ts_start(), *b2 = ts_start();
  cr_assert(a2 && b1 && b2);
  /* Without a limit: one connection per origin for all rounds. */
  alternate(multi, srv, b1, ROUNDS);
  cr_assert_eq(ts_connections(srv), 1);
  cr_assert_eq(ts_connections(b1), 1);
  /* With MAXCONNECTS 1, keeping one origin's connection means closing the
   * other's: every request opens a new one. */
  xfer_multi *m = xt_multi();
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, 1L), XFERM_OK);
  alternate(m, a2, b2, ROUNDS);
  cr_assert_eq(ts_connections(a2), ROUNDS);
  cr_assert_eq(ts_connections(b2), ROUNDS);
  uint16_t ports[2] = {ts_port(a2), ts_port(b2)};
  cr_assert_eq(client_conns(ports, 2), 1, "the pool keeps more than MAXCONNECTS");
  xfer_multi_cleanup(m);
  ts_stop(a2);
  ts_stop(b1);
  ts_stop(b2);
}

/* ---- the key: P02 ------------------------------------------------------- */

Test(pool, two_host_names_on_one_address_never_share) {
  char ra[64], rb[64], ua[160], ub[160];
  uint16_t port = ts_port(srv);
  snprintf(ra, sizeof ra, "a.test:%u:127.0.0.1", (unsigned)port);
  snprintf(rb, sizeof rb, "b.test:%u:127.0.0.1", (unsigned)port);
  snprintf(ua, sizeof ua, "http://a.test:%u/bytes/5", (unsigned)port);
  snprintf(ub, sizeof ub, "http://b.test:%u/bytes/5", (unsigned)port);
  struct xfer_slist *res = xfer_slist_append(NULL, ra);
  res = xfer_slist_append(res, rb);
  cr_assert(res);
  struct xt_req a, b;
  xt_req_init(&a, ua);
  xt_req_init(&b, ub);
  xfer_easy_setopt(a.e, XFEROPT_RESOLVE, res);
  xfer_easy_setopt(b.e, XFEROPT_RESOLVE, res);
  run1(multi, &a);
  cr_assert_eq(a.result, XFERE_OK, "%s", a.err);
  run1(multi, &b);
  cr_assert_eq(b.result, XFERE_OK, "%s", b.err);
  run1(multi, &a);
  cr_assert_eq(a.result, XFERE_OK, "%s", a.err);
  xt_assert_pattern(&a.body, 5);
  cr_assert_eq(ts_connections(srv), 2, "b.test reused a.test's connection");
  cr_assert_neq(ts_request_conn(srv, 1), ts_request_conn(srv, 0));
  /* The control: a.test's own connection was kept for a.test. */
  cr_assert_eq(ts_request_conn(srv, 2), ts_request_conn(srv, 0));
  char req[2048];
  size_t n = ts_request_log(srv, 1, req, sizeof req - 1);
  req[n < sizeof req - 1 ? n : sizeof req - 1] = 0;
  char host[64];
  snprintf(host, sizeof host, "\r\nHost: b.test:%u\r\n", (unsigned)port);
  cr_assert(strstr(req, host), "no \"%s\" in:\n%s", host + 2, req);
  xt_req_free(&a);
  xt_req_free(&b);
  xfer_slist_free_all(res);
}

/* ---- FORBID_REUSE and FRESH_CONNECT --------------------------------------- */

Test(pool, forbid_reuse_opens_and_closes_a_connection_per_request) {
  char url[160];
  ts_url(srv, "/bytes/10", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xfer_easy_setopt(r.e, XFEROPT_FORBID_REUSE, 1L);
  for (int i = 0; i < 3; i++) {
    run1(multi, &r);
    cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
    xt_assert_pattern(&r.body, 10);
    cr_assert_eq(num_connects(&r), 1);
    /* Closed right after the response, not parked in the pool. */
    cr_assert_eq(ts_wait_client_closes(srv, (uint64_t)i + 1, 5000), 0,
                 "connection %d was not closed", i + 1);
  }
  cr_assert_eq(ts_connections(srv), 3);
  xt_req_free(&r);
}

Test(pool, fresh_connect_opens_a_new_connection) {
  char url[160];
  ts_url(srv, "/bytes/10", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xfer_easy_setopt(r.e, XFEROPT_FRESH_CONNECT, 1L);
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 10);
  cr_assert_eq(num_connects(&r), 1);
  cr_assert_eq(ts_connections(srv), 2);
  cr_assert_neq(ts_request_conn(srv, 1), ts_request_conn(srv, 0));
  /* FRESH_CONNECT is not FORBID_REUSE: both connections stay reusable. */
  xfer_easy_setopt(r.e, XFEROPT_FRESH_CONNECT, 0L);
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  cr_assert_eq(num_connects(&r), 0);
  cr_assert_eq(ts_connections(srv), 2);
  xt_req_free(&r);
}

/* ---- P11: connections that must not be pooled again ----------------------- */

/* After `first` finished (however it did), a GET /bytes/5 must arrive on a
 * new connection: request index `idx` is that GET. */
static void next_request_uses_a_new_connection(size_t idx) {
  char url[160];
  ts_url(srv, "/bytes/5", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 5);
  cr_assert_eq(num_connects(&r), 1, "the connection was reused");
  cr_assert_eq(ts_requests(srv), idx + 1);
  cr_assert_neq(ts_request_conn(srv, idx), ts_request_conn(srv, idx - 1));
  xt_req_free(&r);
}

static void run_path(const char *path, xfer_code want, const char *body) {
  char url[160];
  ts_url(srv, path, url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  run1(multi, &r);
  cr_assert_eq(r.result, want, "%s: %d, expected %d (%s)", path, r.result, want, r.err);
  if (body) {
    cr_assert_eq(r.body.len, strlen(body));
    cr_assert(memcmp(r.body.data, body, r.body.len) == 0);
  }
  xt_req_free(&r);
}

Test(pool, not_reused_after_connection_close) {
  /* The server keeps the connection open: only the header says not to
   * reuse it. */
  static const char raw[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
  ts_route_raw(srv, "/cc", raw, sizeof raw - 1);
  run_path("/cc", XFERE_OK, "hello");
  next_request_uses_a_new_connection(1);
}

Test(pool, not_reused_after_read_to_eof_body) {
  run_path("/close/1000", XFERE_OK, NULL);
  next_request_uses_a_new_connection(1);
}

Test(pool, not_reused_after_http10_response) {
  static const char raw[] = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  ts_route_raw(srv, "/h10", raw, sizeof raw - 1);
  run_path("/h10", XFERE_OK, "hello");
  next_request_uses_a_new_connection(1);
}

Test(pool, not_reused_after_excess_bytes) {
  /* One send: the excess arrives with the response. The transfer itself is
   * fine; the connection is not (response-queue poisoning otherwise). */
  static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n";
  ts_route_raw(srv, "/excess", raw, sizeof raw - 1);
  run_path("/excess", XFERE_OK, "hello");
  next_request_uses_a_new_connection(1);
}

static size_t refuse_write(char *p, size_t s, size_t n, void *u) {
  (void)p, (void)s, (void)n, (void)u;
  return 0;
}

Test(pool, not_reused_after_a_failed_transfer) {
  /* The response arrives whole and clean; only the transfer failed (its
   * write callback refused the body). A failed transfer's connection is
   * closed whatever state it is in. */
  char url[160];
  ts_url(srv, "/bytes/10", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xfer_easy_setopt(r.e, XFEROPT_WRITEFUNCTION, refuse_write);
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_WRITE_ERROR, "%d (%s)", r.result, r.err);
  xt_req_free(&r);
  next_request_uses_a_new_connection(1);
}

Test(pool, removed_mid_body_connection_closed_sibling_unaffected) {
  struct ts_server *other = ts_start();
  cr_assert(other);
  char ua[160], ub[160];
  ts_url(srv, "/slow/100000/5", ua, sizeof ua); /* 500 s if never stopped */
  ts_url(other, "/delay/300/20000", ub, sizeof ub);
  struct xt_req a, b;
  xt_req_init(&a, ua);
  xt_req_init(&b, ub);
  cr_assert_eq(xfer_multi_add_handle(multi, a.e), XFERM_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, b.e), XFERM_OK);
  /* Drive until a's body has started. */
  uint64_t end = xt_now_ms() + 10000;
  while (a.body.len < 10) {
    int running;
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    cr_assert(xt_now_ms() < end, "the slow body never started");
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 50, NULL), XFERM_OK);
  }
  cr_assert_eq(xfer_multi_remove_handle(multi, a.e), XFERM_OK);
  cr_assert(!a.done);
  /* The removal closed the socket: the server's next write sees it. */
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0, "the removed transfer's socket is open");
  xt_drive(multi, 20000);
  cr_assert(!a.done, "a removed transfer got a message");
  cr_assert(b.done);
  cr_assert_eq(b.result, XFERE_OK, "%s", b.err);
  xt_assert_pattern(&b.body, 20000);
  cr_assert_eq(xfer_multi_remove_handle(multi, b.e), XFERM_OK);
  next_request_uses_a_new_connection(1);
  cr_assert_eq(ts_connections(srv), 2);
  xt_req_free(&a);
  xt_req_free(&b);
  ts_stop(other);
}

/* ---- P12, F03, F04, F05: dead connections and the safe retry ------------- */

/* Route `path`: a complete keep-alive response, then FIN on the idle
 * connection (the server timing out an idle keep-alive connection). */
static void route_answer_then_fin(const char *path) {
  struct ts_step steps[] = {
      TS_S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
      TS_STEP(TS_FIN),
  };
  ts_route(srv, path, steps, 2);
}

Test(pool, idle_fin_is_detected_before_the_next_request) {
  route_answer_then_fin("/ka");
  run_path("/ka", XFERE_OK, "hello");
  /* Only go on once the server has closed its side, so the FIN is there to
   * be seen at checkout. */
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0);
  next_request_uses_a_new_connection(1);
  cr_assert_eq(ts_connections(srv), 2);
}

Test(pool, idle_fin_racing_the_next_request) {
  /* No wait: the FIN may be seen at checkout or only after the request was
   * written; either way the GET succeeds on exactly one new connection. */
  route_answer_then_fin("/ka");
  run_path("/ka", XFERE_OK, "hello");
  run_path("/bytes/5", XFERE_OK, NULL);
  cr_assert_eq(ts_connections(srv), 2);
  cr_assert_eq(ts_requests(srv), 2);
}

Test(pool, fresh_connection_closed_at_accept_is_not_retried) {
  /* F03: nothing was reused, so there is nothing to retry. */
  struct ts_step fin[] = {TS_STEP(TS_FIN)};
  ts_on_accept(srv, fin, 1);
  run_path("/bytes/5", XFERE_GOT_NOTHING, NULL);
  cr_assert_eq(ts_connections(srv), 1);
}

/* Route `path` so that its first request is read and answered by a FIN,
 * and any later one gets 200 "ok": a retry would succeed, so a wrong retry
 * shows in the result as well as in the server's counters. */
static void route_fin_once(const char *path) {
  struct ts_step ok[] = {TS_S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")};
  struct ts_step fin[] = {TS_STEP(TS_FIN)};
  ts_route(srv, path, ok, 1);
  ts_route_ex(srv, path, fin, 1, TS_ROUTE_ONCE);
}

Test(pool, get_on_reused_connection_closed_unanswered_is_retried_once) {
  route_fin_once("/flaky");
  run_path("/bytes/5", XFERE_OK, NULL);
  char url[160];
  ts_url(srv, "/flaky", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  cr_assert_eq(r.body.len, 2);
  cr_assert(memcmp(r.body.data, "ok", 2) == 0);
  cr_assert_eq(num_connects(&r), 1, "the retry should have opened one connection");
  cr_assert_eq(ts_requests(srv), 3);
  cr_assert_eq(ts_connections(srv), 2);
  /* The GET went out on the reused connection first, then on the new one. */
  cr_assert_eq(ts_request_conn(srv, 1), ts_request_conn(srv, 0));
  cr_assert_neq(ts_request_conn(srv, 2), ts_request_conn(srv, 1));
  xt_req_free(&r);
}

Test(pool, post_on_reused_connection_closed_unanswered_is_not_retried) {
  route_fin_once("/post");
  run_path("/bytes/5", XFERE_OK, NULL);
  char url[160];
  ts_url(srv, "/post", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "a=1&b=2");
  run1(multi, &r);
  cr_assert_eq(r.result, XFERE_GOT_NOTHING, "%d (%s)", r.result, r.err);
  cr_assert_gt(strlen(r.err), 0, "no error sentence");
  cr_assert_eq(ts_requests(srv), 2, "the POST was sent again");
  cr_assert_eq(ts_connections(srv), 1);
  char line[128];
  request_line(srv, 1, line, sizeof line);
  cr_assert_str_eq(line, "POST /post HTTP/1.1");
  xt_req_free(&r);
}

/* One handle, its URL changed between requests (and back): each request
 * goes to the server its URL names, on that server's own connection, and
 * the first server's connection is reused when the URL comes back. The
 * handle's memory of its origin must follow the URL, never outlive it. */
Test(pool, a_handle_follows_its_new_url) {
  struct ts_server *other = ts_start();
  cr_assert_not_null(other);
  char a[128], b[128];
  ts_url(srv, "/bytes/11", a, sizeof a);
  ts_url(other, "/bytes/12", b, sizeof b);
  struct xt_req r;
  xt_req_init(&r, a);
  const char *seq[] = {a, a, b, b, a};
  const size_t len[] = {11, 11, 12, 12, 11};
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_URL, seq[i]), XFERE_OK);
    r.body.len = 0;
    run1(multi, &r);
    cr_assert_eq(r.result, XFERE_OK, "request %d: %s", i, r.err);
    xt_assert_pattern(&r.body, len[i]);
  }
  cr_assert_eq(ts_requests(srv), 3u);
  cr_assert_eq(ts_requests(other), 2u);
  cr_assert_eq(ts_connections(srv), 1u, "the first server's connection was not reused");
  cr_assert_eq(ts_connections(other), 1u);
  xt_req_free(&r);
  ts_stop(other);
}
