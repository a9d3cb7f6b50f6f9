/* GET through the multi interface against the project's test server: exact
 * bytes for every framing, the infos a transfer reports, and keep-alive. */
#include <criterion/criterion.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void setup(void) { xt_env_up(&srv, &multi); }

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(get, .init = setup, .fini = teardown, .timeout = 60);

static void get_exact(const char *path, size_t n) {
  char url[160];
  ts_url(srv, path, url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s: code %d (%s)", path, r.result, r.err);
  xt_assert_pattern(&r.body, n);
  long code = 0;
  xfer_easy_getinfo(r.e, XFERINFO_RESPONSE_CODE, &code);
  cr_assert_eq(code, 200);
  xfer_off_t dl = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_DOWNLOAD_T, &dl);
  cr_assert_eq(dl, (xfer_off_t)n);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
}

Test(get, content_length_bodies) {
  get_exact("/bytes/0", 0);
  get_exact("/bytes/1", 1);
  get_exact("/bytes/16384", 16384);
  get_exact("/bytes/1000000", 1000000);
}

Test(get, chunked_bodies) {
  get_exact("/chunked/0", 0);
  get_exact("/chunked/100000", 100000);
}

Test(get, close_delimited_body) { get_exact("/close/70000", 70000); }

Test(get, infos_after_a_transfer) {
  char url[160];
  ts_url(srv, "/bytes/100", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  long l = 0;
  const char *s = NULL;
  xfer_off_t o = 0;
  xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &l);
  cr_assert_eq(l, 1);
  xfer_easy_getinfo(r.e, XFERINFO_PRIMARY_IP, &s);
  cr_assert_str_eq(s, "127.0.0.1");
  xfer_easy_getinfo(r.e, XFERINFO_PRIMARY_PORT, &l);
  cr_assert_eq(l, ts_port(srv));
  xfer_easy_getinfo(r.e, XFERINFO_LOCAL_PORT, &l);
  cr_assert_gt(l, 0);
  xfer_easy_getinfo(r.e, XFERINFO_EFFECTIVE_URL, &s);
  cr_assert_str_eq(s, url);
  xfer_easy_getinfo(r.e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T, &o);
  cr_assert_eq(o, 100);
  xfer_easy_getinfo(r.e, XFERINFO_HEADER_SIZE, &l);
  cr_assert_eq((size_t)l, r.headers.len);
  xfer_easy_getinfo(r.e, XFERINFO_REQUEST_SIZE, &l);
  char req[4096];
  size_t rl = ts_last_request(srv, req, sizeof req);
  cr_assert_eq((size_t)l, rl);
  xfer_off_t t1, t2, t3, t4, t5;
  xfer_easy_getinfo(r.e, XFERINFO_NAMELOOKUP_TIME_T, &t1);
  xfer_easy_getinfo(r.e, XFERINFO_CONNECT_TIME_T, &t2);
  xfer_easy_getinfo(r.e, XFERINFO_PRETRANSFER_TIME_T, &t3);
  xfer_easy_getinfo(r.e, XFERINFO_STARTTRANSFER_TIME_T, &t4);
  xfer_easy_getinfo(r.e, XFERINFO_TOTAL_TIME_T, &t5);
  cr_assert(t1 >= 0 && t1 <= t2 && t2 <= t3 && t3 <= t4 && t4 <= t5 && t5 > 0,
            "timings out of order: %ld %ld %ld %ld %ld", (long)t1, (long)t2, (long)t3, (long)t4,
            (long)t5);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
}

Test(get, keepalive_reuses_the_connection) {
  char url[160];
  ts_url(srv, "/bytes/10", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  for (int i = 0; i < 5; i++) {
    r.body.len = 0;
    xt_run(multi, &r, 1, 20000);
    cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
    xt_assert_pattern(&r.body, 10);
    long nc = -1;
    xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &nc);
    cr_assert_eq(nc, i == 0 ? 1 : 0, "request %d opened %ld connections", i, nc);
    xfer_multi_remove_handle(multi, r.e);
  }
  cr_assert_eq(ts_connections(srv), 1);
  cr_assert_eq(ts_requests(srv), 5);
  xt_req_free(&r);
}
