/* Against a real server: nginx (tests/support/nginx.h) on an ephemeral
 * port, so that xfer is checked against an HTTP/1.1 implementation it was
 * not written alongside. nginx not starting is a failure, not a skip: CI
 * installs it, and a silently skipped suite proves nothing. Each test
 * starts its own nginx from its own thread (nginx.h: the parent-death
 * signal is tied to the thread that forks). */
#include <criterion/criterion.h>
#include <string.h>

#include "nginx.h"
#include "xtest.h"

static xfer_multi *multi;
static struct ts_nginx *ngx;

static void setup(void) { multi = xt_multi(); }

static void teardown(void) {
  xfer_multi_cleanup(multi);
  if (ngx)
    ts_nginx_stop(ngx);
  ngx = NULL;
}

TestSuite(nginx, .init = setup, .fini = teardown, .timeout = 120);

static void start_nginx(void) {
  ngx = ts_nginx_start();
  cr_assert(ngx, "nginx did not start (XFER_NGINX or /usr/sbin/nginx); see stderr");
}

static void get(struct xt_req *r, const char *path) {
  char url[160];
  ts_nginx_url(ngx, path, url, sizeof url);
  xt_req_init(r, url);
}

static long response_code(struct xt_req *r) {
  long code = 0;
  cr_assert_eq(xfer_easy_getinfo(r->e, XFERINFO_RESPONSE_CODE, &code), XFERE_OK);
  return code;
}

static void run1(struct xt_req *r) {
  xt_run(multi, r, 1, 20000);
  cr_assert_eq(xfer_multi_remove_handle(multi, r->e), XFERM_OK);
}

Test(nginx, small_text) {
  start_nginx();
  struct xt_req r;
  get(&r, "/small");
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  cr_assert_eq(response_code(&r), 200);
  cr_assert_eq(r.body.len, 13);
  cr_assert(memcmp(r.body.data, "Hello, world!", 13) == 0);
  xfer_off_t cl = -1;
  xfer_easy_getinfo(r.e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
  cr_assert_eq(cl, 13);
  xt_req_free(&r);
}

Test(nginx, static_files_exact_bytes) {
  start_nginx();
  static const struct {
    const char *path;
    size_t size;
  } files[] = {{"/1k", 1024}, {"/64k", 65536}, {"/1m", 1048576}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    struct xt_req r;
    get(&r, files[i].path);
    run1(&r);
    cr_assert_eq(r.result, XFERE_OK, "%s: %d (%s)", files[i].path, r.result, r.err);
    cr_assert_eq(response_code(&r), 200);
    xt_assert_pattern(&r.body, files[i].size);
    xfer_off_t dl = -1;
    xfer_easy_getinfo(r.e, XFERINFO_SIZE_DOWNLOAD_T, &dl);
    cr_assert_eq(dl, (xfer_off_t)files[i].size);
    xt_req_free(&r);
  }
}

Test(nginx, head_has_no_body_but_a_length) {
  start_nginx();
  struct xt_req r;
  get(&r, "/64k");
  xfer_easy_setopt(r.e, XFEROPT_NOBODY, 1L);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  cr_assert_eq(response_code(&r), 200);
  cr_assert_eq(r.body.len, 0);
  xfer_off_t cl = -1;
  xfer_easy_getinfo(r.e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
  cr_assert_eq(cl, 65536, "CONTENT_LENGTH_DOWNLOAD_T %lld", (long long)cl);
  /* The connection is still in step after a HEAD: a GET on it gets its
   * own body, not stray bytes. */
  xfer_easy_setopt(r.e, XFEROPT_NOBODY, 0L);
  xfer_easy_setopt(r.e, XFEROPT_HTTPGET, 1L);
  r.body.len = 0;
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 65536);
  long nc = -1;
  xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &nc);
  cr_assert_eq(nc, 0, "the GET after the HEAD did not reuse the connection");
  xt_req_free(&r);
}

Test(nginx, thousand_keepalive_requests_over_sixteen_connections) {
  enum { HANDLES = 16, TOTAL = 1000 };
  start_nginx();
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, (long)HANDLES), XFERM_OK);
  struct xt_req r[HANDLES];
  for (int i = 0; i < HANDLES; i++) {
    get(&r[i], "/1k");
    cr_assert_eq(xfer_multi_add_handle(multi, r[i].e), XFERM_OK);
  }
  int started = HANDLES, done = 0;
  long connects = 0;
  uint64_t end = xt_now_ms() + 60000;
  while (done < TOTAL) {
    int running;
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(multi, &left))) {
      xfer_easy *e = msg->easy_handle;
      struct xt_req *p = NULL;
      xfer_easy_getinfo(e, XFERINFO_PRIVATE, &p);
      cr_assert_eq(msg->data.result, XFERE_OK, "request %d: %d (%s)", done, msg->data.result,
                   p->err);
      cr_assert_eq(response_code(p), 200);
      xt_assert_pattern(&p->body, 1024);
      long nc = -1;
      xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &nc);
      connects += nc;
      p->body.len = 0;
      done++;
      /* Removing invalidates msg: nothing of it is used after this. */
      cr_assert_eq(xfer_multi_remove_handle(multi, e), XFERM_OK);
      if (started < TOTAL) {
        cr_assert_eq(xfer_multi_add_handle(multi, e), XFERM_OK);
        started++;
      }
    }
    cr_assert(xt_now_ms() < end, "only %d of %d requests done", done, TOTAL);
    if (done < TOTAL)
      cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 100, NULL), XFERM_OK);
  }
  /* The first 16 opened a connection each; every later one reused one. */
  cr_assert_eq(connects, HANDLES, "%ld connections for %d requests", connects, TOTAL);
  for (int i = 0; i < HANDLES; i++)
    xt_req_free(&r[i]);
}

Test(nginx, post_gets_the_fixed_status) {
  start_nginx();
  struct xt_req r;
  get(&r, "/echo_status/x");
  xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "name=xfer&value=1");
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  cr_assert_eq(response_code(&r), 204);
  cr_assert_eq(r.body.len, 0);
  /* The whole body went out with the request. */
  xfer_off_t up = -1;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, (xfer_off_t)strlen("name=xfer&value=1"), "SIZE_UPLOAD_T %lld", (long long)up);
  xt_req_free(&r);
}
