/* Timeouts and refused connections: XFEROPT_TIMEOUT(_MS) ends a transfer
 * with 28 and a sentence wherever it is (waiting for the head, mid-body,
 * queued behind a connection limit),
 * siblings on the same multi go on, the connect timeout stops applying
 * once connected, and a refused connection is 7 at once. Every time bound
 * is measured on the test's own clock, from the add to the done message. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void setup(void) { xt_env_up(&srv, &multi); }

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(timeout, .init = setup, .fini = teardown, .timeout = 60);

/* Requests are tests/support/fault.h's: an xt_req with the milliseconds
 * from its add to its done message, stamped by ft_drive(). */

static void assert_timed_out(const struct ft_req *t, uint64_t lo, uint64_t hi) {
  cr_assert(t->r.done);
  cr_assert_eq(t->r.result, XFERE_OPERATION_TIMEDOUT, "code %d (%s)", t->r.result, t->r.err);
  cr_assert(t->elapsed >= lo && t->elapsed <= hi, "timed out after %llu ms, expected %llu..%llu",
            (unsigned long long)t->elapsed, (unsigned long long)lo, (unsigned long long)hi);
  cr_assert(strstr(t->r.err, "timed out"), "error sentence: \"%s\"", t->r.err);
}

Test(timeout, total_timeout_while_waiting_for_the_head) {
  struct ft_req slow, sib;
  ft_req_init(&slow, srv, "/delay/5000/10");
  ft_req_init(&sib, srv, "/delay/400/1000");
  xfer_easy_setopt(slow.r.e, XFEROPT_TIMEOUT_MS, 200L);
  ft_add(multi, &slow);
  ft_add(multi, &sib);
  ft_drive(multi, 10000);
  assert_timed_out(&slow, 150, 2000);
  cr_assert_eq(slow.r.body.len, 0);
  /* The sibling outlives the timeout and is not disturbed by it. */
  cr_assert(sib.r.done);
  cr_assert_eq(sib.r.result, XFERE_OK, "%s", sib.r.err);
  xt_assert_pattern(&sib.r.body, 1000);
  ft_free(multi, &slow);
  ft_free(multi, &sib);
}

Test(timeout, total_timeout_mid_body_keeps_the_bytes_received) {
  struct ft_req t;
  ft_req_init(&t, srv, "/slow/100000"); /* 10 ms per byte: 1,000 s in all */
  xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT_MS, 500L);
  ft_add(multi, &t);
  ft_drive(multi, 10000);
  assert_timed_out(&t, 400, 3000);
  xfer_off_t got = -1;
  xfer_easy_getinfo(t.r.e, XFERINFO_SIZE_DOWNLOAD_T, &got);
  cr_assert_gt(got, 0, "no byte arrived before the timeout");
  cr_assert_lt(got, 100000);
  cr_assert_eq((size_t)got, t.r.body.len);
  cr_assert(ts_pattern_check(0, t.r.body.data, t.r.body.len), "the partial body is wrong");
  long code = 0;
  xfer_easy_getinfo(t.r.e, XFERINFO_RESPONSE_CODE, &code);
  cr_assert_eq(code, 200);
  ft_free(multi, &t);
}

Test(timeout, timeout_in_seconds) {
  struct ft_req t;
  ft_req_init(&t, srv, "/delay/5000/10");
  xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT, 1L);
  ft_add(multi, &t);
  ft_drive(multi, 10000);
  assert_timed_out(&t, 900, 3000);
  ft_free(multi, &t);
}

Test(timeout, silent_server_times_out) {
  struct ts_step idle[] = {TS_STEP(TS_IDLE)};
  ts_route(srv, "/idle", idle, 1);
  struct ft_req t;
  ft_req_init(&t, srv, "/idle");
  xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT_MS, 300L);
  ft_add(multi, &t);
  ft_drive(multi, 10000);
  assert_timed_out(&t, 250, 2000);
  cr_assert_eq(ts_requests(srv), 1, "the request never reached the server");
  ft_free(multi, &t);
}

Test(timeout, connection_refused_is_7_at_once) {
  char url[160];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/5", (unsigned)ft_closed_port());
  struct ft_req t;
  xt_req_init(&t.r, url);
  xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT_MS, 5000L); /* must not be what ends it */
  ft_add(multi, &t);
  ft_drive(multi, 10000);
  cr_assert_eq(t.r.result, XFERE_COULDNT_CONNECT, "code %d (%s)", t.r.result, t.r.err);
  cr_assert_lt(t.elapsed, 1000, "refused after %llu ms", (unsigned long long)t.elapsed);
  cr_assert(strstr(t.r.err, "refused"), "error sentence: \"%s\"", t.r.err);
  ft_free(multi, &t);
}

Test(timeout, connect_timeout_does_not_apply_after_connecting) {
  /* The response takes longer than the connect timeout; the connection
   * itself is up at once, so the timeout must not fire. */
  struct ft_req t;
  ft_req_init(&t, srv, "/delay/400/100");
  xfer_easy_setopt(t.r.e, XFEROPT_CONNECTTIMEOUT_MS, 150L);
  ft_add(multi, &t);
  ft_drive(multi, 10000);
  cr_assert_eq(t.r.result, XFERE_OK, "code %d (%s)", t.r.result, t.r.err);
  xt_assert_pattern(&t.r.body, 100);
  cr_assert_geq(t.elapsed, 350);
  ft_free(multi, &t);
}

Test(timeout, connect_timeout_with_a_fast_transfer) {
  struct ft_req t;
  ft_req_init(&t, srv, "/bytes/1000");
  xfer_easy_setopt(t.r.e, XFEROPT_CONNECTTIMEOUT_MS, 100L);
  ft_add(multi, &t);
  ft_drive(multi, 10000);
  cr_assert_eq(t.r.result, XFERE_OK, "code %d (%s)", t.r.result, t.r.err);
  xt_assert_pattern(&t.r.body, 1000);
  ft_free(multi, &t);
}

Test(timeout, queued_transfer_times_out_by_its_own_timeout) {
  /* libcurl's rule: the total timeout counts from the add, time spent
   * waiting for a connection slot included. b waits behind a, which holds
   * the only connection for 1.5 s, and must fail at its own 300 ms. */
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, 1L), XFERM_OK);
  struct ft_req a, b;
  ft_req_init(&a, srv, "/delay/1500/10");
  ft_req_init(&b, srv, "/bytes/10");
  xfer_easy_setopt(b.r.e, XFEROPT_TIMEOUT_MS, 300L);
  ft_add(multi, &a);
  ft_add(multi, &b);
  ft_drive(multi, 10000);
  assert_timed_out(&b, 250, 1200);
  cr_assert(a.r.done);
  cr_assert_eq(a.r.result, XFERE_OK, "%s", a.r.err);
  xt_assert_pattern(&a.r.body, 10);
  cr_assert_geq(a.elapsed, 1400);
  /* b never reached the wire. */
  cr_assert_eq(ts_requests(srv), 1);
  cr_assert_eq(ts_connections(srv), 1);
  ft_free(multi, &a);
  ft_free(multi, &b);
}
