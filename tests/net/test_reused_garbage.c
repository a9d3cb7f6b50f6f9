/* Bytes that are not HTTP on a reused connection (docs/internals/
 * http-codec.md, M15): the transfer fails with XFERE_UNSUPPORTED_PROTOCOL
 * (1), libcurl's answer ("Received HTTP/0.9 when not allowed"), and is never
 * retried: the request may have been acted on, and the peer is not an HTTP
 * server whose answer a retry could trust. */
#include <criterion/criterion.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void up(void) { xt_env_up(&srv, &multi); }
static void down(void) { xt_env_down(srv, multi); }

TestSuite(reused_garbage, .init = up, .fini = down);

Test(reused_garbage, non_http_bytes_on_a_reused_connection_are_code_1_never_retried) {
  static const struct ts_step junk[] = {TS_S("SSH-2.0-OpenSSH_9.6\r\n"), TS_STEP(TS_IDLE)};
  ts_route(srv, "/junk", junk, sizeof junk / sizeof junk[0]);
  char url[160];
  ts_url(srv, "/bytes/10", url, sizeof url);
  struct xt_req first;
  xt_req_init(&first, url);
  xt_run(multi, &first, 1, 5000);
  cr_assert_eq(first.result, XFERE_OK, "%s", first.err);
  xt_assert_pattern(&first.body, 10);
  xfer_multi_remove_handle(multi, first.e);
  xt_req_free(&first);

  ts_url(srv, "/junk", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 5000);
  long connects = -1;
  xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &connects);
  cr_expect_eq(connects, 0, "the second request did not reuse the connection");
  cr_expect_eq(r.result, XFERE_UNSUPPORTED_PROTOCOL, "result %d (%s)", r.result, r.err);
  cr_expect(strstr(r.err, "HTTP/1.x") != NULL, "\"%s\"", r.err);
  cr_expect_eq(r.body.len, 0);
  /* Not retried: one connection and two request heads in all. */
  cr_expect_eq(ts_connections(srv), 1);
  cr_expect_eq(ts_requests(srv), 2);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
}
