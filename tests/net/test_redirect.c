/* FOLLOWLOCATION against the test server: every redirect status, relative
 * and absolute targets, the redirect limits, how a POST changes across each
 * status (checked on the wire through /echo as the final target), which
 * bytes of the intermediate responses reach the callbacks, and which
 * connections the hops use. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;
static char host[64]; /* "127.0.0.1:PORT" of srv */

static void setup(void) {
  xt_env_up(&srv, &multi);
  snprintf(host, sizeof host, "127.0.0.1:%u", (unsigned)ts_port(srv));
}

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(redirect, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers --------------------------------------------------------------- */

static void init_req(struct xt_req *r, const char *path, int follow) {
  char url[512];
  ts_url(srv, path, url, sizeof url);
  xt_req_init(r, url);
  if (follow)
    cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_FOLLOWLOCATION, 1L), XFERE_OK);
}

static void run1(struct xt_req *r) {
  xt_run(multi, r, 1, 20000);
  cr_assert_eq(xfer_multi_remove_handle(multi, r->e), XFERM_OK);
}

static void run_ok(struct xt_req *r) {
  run1(r);
  cr_assert_eq(r->result, XFERE_OK, "transfer failed: code %d (%s)", r->result, r->err);
}

static long info_long(xfer_easy *e, xfer_info i) {
  long v = -12345;
  cr_assert_eq(xfer_easy_getinfo(e, i, &v), XFERE_OK);
  return v;
}

static void assert_effective_url(xfer_easy *e, const struct ts_server *s, const char *path) {
  char want[512];
  ts_url(s, path, want, sizeof want);
  const char *got = NULL;
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_EFFECTIVE_URL, &got), XFERE_OK);
  cr_assert(got, "no effective URL");
  cr_assert_str_eq(got, want);
}

/* Percent-encodes s for the server's ?to= parameter. */
static void encode(const char *s, char *out, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *s && o + 4 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_') {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  cr_assert(!*s, "encode: output too small");
  out[o] = 0;
}

/* "/redirect/CODE/HOPS?to=<encoded target>" */
static void redirect_path(char *out, size_t n, int code, int hops, const char *target) {
  char enc[400];
  encode(target, enc, sizeof enc);
  snprintf(out, n, "/redirect/%d/%d?to=%s", code, hops, enc);
}

static void assert_str_bytes(const struct xt_buf *b, const char *want) {
  size_t wlen = strlen(want);
  cr_assert(b->len == wlen && memcmp(b->data ? b->data : "", want, wlen) == 0,
            "got %zu bytes:\n[%.*s]\nwanted %zu bytes:\n[%s]", b->len, (int)b->len,
            b->data ? b->data : "", wlen, want);
}

/* ---- each status, relative and absolute Location -------------------------- */

static void follow_one(int code, int absolute) {
  char target[256], path[512];
  if (absolute)
    ts_url(srv, "/bytes/5", target, sizeof target);
  else
    snprintf(target, sizeof target, "/bytes/5");
  redirect_path(path, sizeof path, code, 1, target);
  struct xt_req r;
  init_req(&r, path, 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 5);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 200, "after a %d", code);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 1, "after a %d", code);
  assert_effective_url(r.e, srv, "/bytes/5");
  xt_req_free(&r);
}

Test(redirect, every_status_with_an_absolute_path_location) {
  static const int codes[] = {301, 302, 303, 307, 308};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    follow_one(codes[i], 0);
}

Test(redirect, every_status_with_an_absolute_url_location) {
  static const int codes[] = {301, 302, 303, 307, 308};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    follow_one(codes[i], 1);
}

/* Relative references resolve against the URL that answered (RFC 3986 5.2):
 * a bare segment replaces the last one, and dot segments are removed. */
Test(redirect, relative_locations) {
  static const char r1[] = "HTTP/1.1 302 Found\r\nLocation: 9\r\nContent-Length: 0\r\n\r\n";
  static const char r2[] =
      "HTTP/1.1 301 Moved Permanently\r\nLocation: ../../bytes/./11\r\nContent-Length: 0\r\n\r\n";
  static const char r3[] = "HTTP/1.1 307 Temporary Redirect\r\nLocation: ?q=1\r\n"
                           "Content-Length: 0\r\n\r\n";
  static const char r4[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nq=1";
  ts_route_raw(srv, "/bytes/go", r1, sizeof r1 - 1);
  ts_route_raw(srv, "/a/b/c", r2, sizeof r2 - 1);
  ts_route_raw(srv, "/query/page", r3, sizeof r3 - 1);
  ts_route_raw(srv, "/query/page?q=1", r4, sizeof r4 - 1);

  struct xt_req r;
  init_req(&r, "/bytes/go", 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 9);
  assert_effective_url(r.e, srv, "/bytes/9");
  xt_req_free(&r);

  init_req(&r, "/a/b/c", 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 11);
  assert_effective_url(r.e, srv, "/bytes/11");
  xt_req_free(&r);

  init_req(&r, "/query/page", 1);
  run_ok(&r);
  assert_str_bytes(&r.body, "q=1");
  assert_effective_url(r.e, srv, "/query/page?q=1");
  xt_req_free(&r);
}

/* ---- counts and limits ----------------------------------------------------- */

Test(redirect, count_and_effective_url_after_several_hops) {
  char path[512];
  redirect_path(path, sizeof path, 302, 5, "/bytes/20");
  struct xt_req r;
  init_req(&r, path, 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 20);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 5);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 200);
  assert_effective_url(r.e, srv, "/bytes/20");
  cr_assert_eq(ts_requests(srv), 6);
  xt_req_free(&r);
}

Test(redirect, maxredirs_exceeded) {
  char path[512];
  redirect_path(path, sizeof path, 302, 3, "/bytes/5");
  struct xt_req r;
  init_req(&r, path, 1);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_MAXREDIRS, 2L), XFERE_OK);
  run1(&r);
  cr_assert_eq(r.result, XFERE_TOO_MANY_REDIRECTS, "code %d (%s)", r.result, r.err);
  cr_assert(r.err[0] != '\0', "no sentence in the error buffer");
  cr_assert_eq(r.body.len, 0);
  /* Two redirects were followed, the third was refused without a request. */
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 2);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 302);
  cr_assert_eq(ts_requests(srv), 3);
  xt_req_free(&r);
}

Test(redirect, maxredirs_zero_refuses_the_first) {
  char path[512];
  redirect_path(path, sizeof path, 301, 1, "/bytes/5");
  struct xt_req r;
  init_req(&r, path, 1);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_MAXREDIRS, 0L), XFERE_OK);
  run1(&r);
  cr_assert_eq(r.result, XFERE_TOO_MANY_REDIRECTS, "code %d (%s)", r.result, r.err);
  cr_assert(r.err[0] != '\0');
  cr_assert_eq(ts_requests(srv), 1);
  xt_req_free(&r);
}

Test(redirect, default_limit_is_thirty) {
  char path[512];
  redirect_path(path, sizeof path, 302, 31, "/bytes/5");
  struct xt_req r;
  init_req(&r, path, 1);
  run1(&r);
  cr_assert_eq(r.result, XFERE_TOO_MANY_REDIRECTS, "code %d (%s)", r.result, r.err);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 30);
  xt_req_free(&r);

  redirect_path(path, sizeof path, 302, 30, "/bytes/5");
  init_req(&r, path, 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 5);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 30);
  xt_req_free(&r);
}

Test(redirect, maxredirs_minus_one_is_unlimited) {
  char path[512];
  redirect_path(path, sizeof path, 307, 40, "/bytes/7");
  struct xt_req r;
  init_req(&r, path, 1);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_MAXREDIRS, -1L), XFERE_OK);
  run_ok(&r);
  xt_assert_pattern(&r.body, 7);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 40);
  cr_assert_eq(ts_requests(srv), 41);
  /* All 41 requests went over one kept-alive connection. */
  cr_assert_eq(ts_connections(srv), 1);
  xt_req_free(&r);
}

/* ---- not following ------------------------------------------------------- */

Test(redirect, without_followlocation_the_3xx_is_the_answer) {
  static const char raw[] = "HTTP/1.1 302 Found\r\nLocation: /bytes/5\r\nContent-Length: 6\r\n"
                            "\r\nmoved\n";
  ts_route_raw(srv, "/moved", raw, sizeof raw - 1);
  struct xt_req r;
  init_req(&r, "/moved", 0);
  run_ok(&r);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 302);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 0);
  assert_str_bytes(&r.body, "moved\n");
  assert_effective_url(r.e, srv, "/moved");
  cr_assert_eq(ts_requests(srv), 1);
  xt_req_free(&r);
}

/* ---- what a POST becomes ------------------------------------------------- */

/* POSTs "a=1&b=2" to a CODE redirect whose target is /echo, and returns in
 * r the echoed final request. The handle is run twice, so state left over
 * from the first run (the switch to GET) must not leak into the second. */
static void post_through(int code, const char *want) {
  char path[512];
  redirect_path(path, sizeof path, code, 1, "/echo");
  struct xt_req r;
  init_req(&r, path, 1);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "a=1&b=2"), XFERE_OK);
  for (int round = 0; round < 2; round++) {
    r.body.len = 0;
    run_ok(&r);
    assert_str_bytes(&r.body, want);
    cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 1);
    /* The first request of each round was the POST itself. */
    char first[512];
    size_t n = ts_request_log(srv, (size_t)round * 2, first, sizeof first - 1);
    first[n < sizeof first ? n : sizeof first - 1] = 0;
    cr_assert(strncmp(first, "POST /redirect/", 15) == 0, "first request:\n%s", first);
    cr_assert(n > 7 && memcmp(first + n - 7, "a=1&b=2", 7) == 0, "first request:\n%s", first);
  }
  xt_req_free(&r);
}

static void want_get(char *out, size_t n) {
  snprintf(out, n, "GET /echo HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n", host);
}

static void want_post(char *out, size_t n) {
  snprintf(out, n,
           "POST /echo HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nContent-Length: 7\r\n"
           "Content-Type: application/x-www-form-urlencoded\r\n\r\na=1&b=2",
           host);
}

Test(redirect, post_303_becomes_get_without_body) {
  char want[512];
  want_get(want, sizeof want);
  post_through(303, want);
}

Test(redirect, post_301_becomes_get) {
  char want[512];
  want_get(want, sizeof want);
  post_through(301, want);
}

Test(redirect, post_302_becomes_get) {
  char want[512];
  want_get(want, sizeof want);
  post_through(302, want);
}

Test(redirect, post_307_keeps_post_and_body) {
  char want[512];
  want_post(want, sizeof want);
  post_through(307, want);
}

Test(redirect, post_308_keeps_post_and_body) {
  char want[512];
  want_post(want, sizeof want);
  post_through(308, want);
}

/* ---- intermediate responses ------------------------------------------------ */

Test(redirect, intermediate_bodies_skipped_headers_delivered) {
  /* A 302 with a Content-Length body and a 301 with a chunked one: neither
   * body may reach the write callback, every head line reaches the header
   * callback, and the connection stays usable (bodies read to their end). */
  static const char a[] = "HTTP/1.1 302 Found\r\nLocation: /hop2\r\nX-Hop: 1\r\n"
                          "Content-Length: 12\r\n\r\nfirst body\r\n";
  static const char b[] = "HTTP/1.1 301 Moved Permanently\r\nLocation: /bytes/5\r\n"
                          "X-Hop: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nsecon\r\n6\r\nd body\r\n0\r\n\r\n";
  ts_route_raw(srv, "/hop1", a, sizeof a - 1);
  ts_route_raw(srv, "/hop2", b, sizeof b - 1);
  struct xt_req r;
  init_req(&r, "/hop1", 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 5);
  cr_assert(r.headers.data, "no headers delivered");
  const char *h = r.headers.data;
  const char *p1 = strstr(h, "HTTP/1.1 302 Found\r\n");
  const char *p2 = strstr(h, "HTTP/1.1 301 Moved Permanently\r\n");
  const char *p3 = strstr(h, "HTTP/1.1 200 OK\r\n");
  cr_assert(p1 && p2 && p3 && p1 < p2 && p2 < p3, "status lines missing or out of order:\n%s", h);
  cr_assert(strstr(h, "X-Hop: 1\r\n") && strstr(h, "X-Hop: 2\r\n"), "hop headers:\n%s", h);
  cr_assert(strstr(h, "Location: /hop2\r\n") && strstr(h, "Location: /bytes/5\r\n"));
  cr_assert_null(strstr(h, "first body"));
  /* Each head ends with its empty line, so three "\r\n\r\n". */
  int ends = 0;
  for (const char *q = h; (q = strstr(q, "\r\n\r\n")) != NULL; q += 4)
    ends++;
  cr_assert_eq(ends, 3, "%d head ends in:\n%s", ends, h);
  cr_assert_eq(info_long(r.e, XFERINFO_REDIRECT_COUNT), 2);
  cr_assert_eq(ts_connections(srv), 1, "the hops did not reuse the connection");
  /* Only the final response's body counts (curl 7.88 -L over a 302 with a
   * 12-byte body and a 5-byte final body reports size_download 5). */
  xfer_off_t dl = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_DOWNLOAD_T, &dl);
  cr_assert_eq(dl, 5, "SIZE_DOWNLOAD_T %ld for a 5-byte final body", (long)dl);
  xt_req_free(&r);
}

/* ---- connections ----------------------------------------------------------- */

Test(redirect, same_origin_hops_reuse_the_connection) {
  char path[512];
  redirect_path(path, sizeof path, 302, 3, "/bytes/5");
  struct xt_req r;
  init_req(&r, path, 1);
  run_ok(&r);
  xt_assert_pattern(&r.body, 5);
  cr_assert_eq(ts_requests(srv), 4);
  cr_assert_eq(ts_connections(srv), 1);
  for (size_t i = 0; i < 4; i++)
    cr_assert_eq(ts_request_conn(srv, i), 1, "request %zu on connection %lu", i,
                 (unsigned long)ts_request_conn(srv, i));
  cr_assert_eq(info_long(r.e, XFERINFO_NUM_CONNECTS), 1);
  xt_req_free(&r);
}

Test(redirect, to_another_origin) {
  struct ts_server *other = ts_start();
  cr_assert(other);
  char target[256], path[512];
  ts_url(other, "/echo", target, sizeof target);
  redirect_path(path, sizeof path, 302, 1, target);
  struct xt_req r;
  init_req(&r, path, 1);
  run_ok(&r);
  /* The Host header names the new origin. */
  char want[256];
  snprintf(want, sizeof want, "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: */*\r\n\r\n",
           (unsigned)ts_port(other));
  assert_str_bytes(&r.body, want);
  assert_effective_url(r.e, other, "/echo");
  cr_assert_eq(info_long(r.e, XFERINFO_PRIMARY_PORT), ts_port(other));
  cr_assert_eq(ts_connections(other), 1);
  cr_assert_eq(ts_requests(other), 1);
  cr_assert_eq(ts_requests(srv), 1);
  xt_req_free(&r);
  xfer_multi_cleanup(multi); /* close its pooled connection before stopping */
  multi = xt_multi();
  ts_stop(other);
}

/* ---- memory ---------------------------------------------------------------- */

/* Live allocations made through xfer_global_init_mem()'s hooks. The test
 * server in the same process uses libc directly, so only the library's own
 * blocks are counted; the hooks go in before the library allocates
 * anything, so every block they see freed is one they saw allocated. */
static long live_blocks;

static void *live_malloc(size_t n) {
  void *p = malloc(n);
  if (p)
    __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  return p;
}
static void *live_calloc(size_t a, size_t b) {
  void *p = calloc(a, b);
  if (p)
    __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  return p;
}
static void *live_realloc(void *old, size_t n) {
  void *p = realloc(old, n);
  if (p && !old)
    __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  return p;
}
static char *live_strdup(const char *s) {
  char *p = strdup(s);
  if (p)
    __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  return p;
}
static void live_free(void *p) {
  if (p)
    __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
  free(p);
}

/* A handle that followed a redirect and is run again keeps nothing of the
 * first run's redirect target once it is cleaned up. No .init here: the
 * hooks must be installed before the first library allocation. */
Test(redirect_memory, rerun_after_a_redirect_frees_everything, .timeout = 60) {
  cr_assert_eq(xfer_global_init_mem(live_malloc, live_free, live_realloc, live_strdup, live_calloc),
               XFERE_OK);
  struct ts_server *s = ts_start();
  cr_assert(s);
  xfer_multi *m = xt_multi();
  char url[256];
  ts_url(s, "/redirect/302/2?to=%2Fbytes%2F5", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_FOLLOWLOCATION, 1L), XFERE_OK);
  for (int round = 0; round < 3; round++) {
    r.body.len = 0;
    xt_run(m, &r, 1, 20000);
    cr_assert_eq(r.result, XFERE_OK, "round %d: %s", round, r.err);
    xt_assert_pattern(&r.body, 5);
    cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  }
  xt_req_free(&r);
  xfer_multi_cleanup(m);
  xfer_global_cleanup();
  long left = __atomic_load_n(&live_blocks, __ATOMIC_RELAXED);
  cr_assert_eq(left, 0, "%ld library block(s) still allocated after every cleanup", left);
  ts_stop(s);
}
