/* The easy API around a transfer: the blocking xfer_easy_perform and how it
 * coexists with the multi interface, reset and duphandle, what setopt and
 * getinfo answer for options they do not know or a NULL handle, bad URLs
 * that must fail alone, and the per-handle callbacks (debug, progress,
 * write) with their error paths. */
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

TestSuite(easy, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers --------------------------------------------------------------- */

static void url_of(const char *path, char *out, size_t n) { ts_url(srv, path, out, n); }

static void init_req(struct xt_req *r, const char *path) {
  char url[160];
  url_of(path, url, sizeof url);
  xt_req_init(r, url);
}

static void run1(struct xt_req *r) {
  xt_run(multi, r, 1, 20000);
  cr_assert_eq(xfer_multi_remove_handle(multi, r->e), XFERM_OK);
}

static long info_long(xfer_easy *e, xfer_info i) {
  long v = -12345;
  cr_assert_eq(xfer_easy_getinfo(e, i, &v), XFERE_OK);
  return v;
}

static void assert_str_bytes(const struct xt_buf *b, const char *want) {
  size_t wlen = strlen(want);
  cr_assert(b->len == wlen && memcmp(b->data ? b->data : "", want, wlen) == 0,
            "got %zu bytes:\n[%.*s]\nwanted %zu bytes:\n[%s]", b->len, (int)b->len,
            b->data ? b->data : "", wlen, want);
}

static void default_get(char *out, size_t n, const char *path) {
  snprintf(out, n, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n", path, host);
}

/* ---- xfer_easy_perform ----------------------------------------------------- */

Test(easy, perform_blocking_exact_bytes) {
  struct xt_req r;
  init_req(&r, "/bytes/100000");
  xfer_code rc = xfer_easy_perform(r.e);
  cr_assert_eq(rc, XFERE_OK, "code %d (%s)", rc, r.err);
  xt_assert_pattern(&r.body, 100000);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 200);
  xt_req_free(&r);
}

Test(easy, perform_on_a_handle_in_a_multi_fails_init) {
  struct xt_req r;
  init_req(&r, "/bytes/10");
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_FAILED_INIT);
  /* The refused perform left the multi's transfer alone. */
  xt_drive(multi, 20000);
  cr_assert(r.done);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 10);
  /* Finished but not removed: still in the multi, so still refused. */
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_FAILED_INIT);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  xt_req_free(&r);
}

/* libcurl test 3208: one handle goes easy -> multi -> easy. */
Test(easy, perform_then_multi_then_perform) {
  struct xt_req r;
  init_req(&r, "/bytes/300");
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 300);
  r.body.len = 0;
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 300);
  r.body.len = 0;
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 300);
  cr_assert_eq(ts_requests(srv), 3);
  xt_req_free(&r);
}

/* libcurl keeps the connection pool with the easy handle between performs:
 * a loop of performs on one handle is one keep-alive connection. */
Test(easy, perform_loop_reuses_one_connection) {
  struct xt_req r;
  init_req(&r, "/bytes/13");
  uint64_t before = ts_connections(srv);
  for (int i = 0; i < 1000; i++) {
    r.body.len = 0;
    xfer_code rc = xfer_easy_perform(r.e);
    cr_assert_eq(rc, XFERE_OK, "perform %d: %d (%s)", i, rc, r.err);
    xt_assert_pattern(&r.body, 13);
    if (i > 0)
      cr_assert_eq(info_long(r.e, XFERINFO_NUM_CONNECTS), 0, "perform %d opened one", i);
  }
  cr_assert_eq(ts_connections(srv) - before, 1);
  cr_assert_eq(ts_requests(srv), 1000);
  /* The connection closes with the handle, not before. */
  cr_assert_eq(ts_open_connections(srv), 1);
  xt_req_free(&r);
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0, "the connection outlived its handle");
}

/* Added to a multi, the handle uses that multi's pool; its private one is
 * closed (libcurl does the same), and a later perform builds a new one. */
Test(easy, joining_a_multi_closes_the_private_pool) {
  struct xt_req r;
  init_req(&r, "/bytes/20");
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  cr_assert_eq(ts_open_connections(srv), 1);
  r.body.len = 0;
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(ts_wait_client_closes(srv, 1, 5000), 0, "the private pool's connection stayed open");
  xt_drive(multi, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 20);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  r.body.len = 0;
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 20);
  xt_req_free(&r);
}

/* ---- reset and duphandle ----------------------------------------------------- */

Test(easy, reset_clears_every_option) {
  struct xt_req r;
  init_req(&r, "/echo");
  int marker;
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_USERAGENT, "before-reset"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, "x=1"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_PRIVATE, &marker), XFERE_OK);
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);

  xfer_easy_reset(r.e);
  void *p = &marker;
  cr_assert_eq(xfer_easy_getinfo(r.e, XFERINFO_PRIVATE, &p), XFERE_OK);
  cr_assert_null(p, "PRIVATE survived the reset");
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 0, "infos survived the reset");

  /* The URL is gone: the transfer fails with a sentence. */
  memset(r.err, 'J', sizeof r.err - 1);
  r.err[sizeof r.err - 1] = 0;
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_ERRORBUFFER, r.err), XFERE_OK);
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_URL_MALFORMAT);
  cr_assert(r.err[0] != '\0' && r.err[0] != 'J', "no sentence: [%s]", r.err);

  /* New options make it work again, with none of the old ones left: a GET
   * without a body and without a User-Agent. */
  char url[160];
  url_of("/echo", url, sizeof url);
  xt_buf_free(&r.body);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_URL, url), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_WRITEFUNCTION, xt_buf_write), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_WRITEDATA, &r.body), XFERE_OK);
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  char want[256];
  default_get(want, sizeof want, "/echo");
  assert_str_bytes(&r.body, want);
  xt_req_free(&r);
}

Test(easy, duphandle_copies_strings_and_is_in_no_multi) {
  struct xt_req r;
  init_req(&r, "/echo");
  char ua[] = "dup-agent";
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_USERAGENT, ua), XFERE_OK);
  /* The original sits in a multi; the copy must not. */
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  xfer_easy *d = xfer_easy_duphandle(r.e);
  cr_assert(d);
  cr_assert_eq(xfer_multi_remove_handle(multi, d), XFERM_OK); /* in no multi: a no-op */
  cr_assert_eq(xfer_multi_add_handle(multi, d), XFERM_OK, "the copy looked added already");
  cr_assert_eq(xfer_multi_remove_handle(multi, d), XFERM_OK);
  xt_drive(multi, 20000);
  cr_assert(r.done);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  char want[256];
  snprintf(want, sizeof want,
           "GET /echo HTTP/1.1\r\nHost: %s\r\nUser-Agent: dup-agent\r\nAccept: */*\r\n\r\n", host);
  assert_str_bytes(&r.body, want);

  /* Changing the original (and the caller's buffer) after the dup leaves
   * the copy alone: its strings are its own. */
  char other[160];
  url_of("/bytes/7", other, sizeof other);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_URL, other), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_USERAGENT, "changed"), XFERE_OK);
  memset(ua, 'Z', sizeof ua - 1);

  struct xt_buf dbody = {0};
  cr_assert_eq(xfer_easy_setopt(d, XFEROPT_WRITEDATA, &dbody), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(d, XFEROPT_PRIVATE, NULL), XFERE_OK);
  xfer_code rc = xfer_easy_perform(d);
  cr_assert_eq(rc, XFERE_OK, "copy failed: %d", rc);
  assert_str_bytes(&dbody, want);

  r.body.len = 0;
  cr_assert_eq(xfer_easy_perform(r.e), XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 7);
  xt_buf_free(&dbody);
  xfer_easy_cleanup(d);
  xt_req_free(&r);
}

/* ---- unknown options and NULL handles ---------------------------------------- */

Test(easy, unimplemented_options_are_unknown_never_ok) {
  struct xt_req r;
  init_req(&r, "/bytes/3");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_COOKIE, "a=b"), XFERE_UNKNOWN_OPTION);
  /* Numbers no option has, in every type range. */
  cr_assert_eq(xfer_easy_setopt(r.e, (xfer_option)(XFEROPTTYPE_LONG + 999), 1L),
               XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_setopt(r.e, (xfer_option)(XFEROPTTYPE_OBJECTPOINT + 999), "x"),
               XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_setopt(r.e, (xfer_option)(XFEROPTTYPE_FUNCTIONPOINT + 999), NULL),
               XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_setopt(r.e, (xfer_option)(XFEROPTTYPE_OFF_T + 999), (xfer_off_t)1),
               XFERE_UNKNOWN_OPTION);
  /* A refused option changes nothing: the handle still works. */
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 3);
  char req[512];
  size_t n = ts_last_request(srv, req, sizeof req - 1);
  req[n < sizeof req ? n : sizeof req - 1] = 0;
  cr_assert_null(strstr(req, "Cookie"), "an unknown option reached the wire:\n%s", req);
  xt_req_free(&r);
}

Test(easy, unimplemented_infos_are_unknown) {
  xfer_easy *e = xfer_easy_init();
  cr_assert(e);
  struct xfer_slist *sl = NULL;
  char *s = NULL;
  long l = 0;
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_COOKIELIST, &sl), XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_RTSP_SESSION_ID, &s), XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_getinfo(e, (xfer_info)(XFERINFO_LONG + 999), &l), XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_NONE, &l), XFERE_UNKNOWN_OPTION);
  xfer_easy_cleanup(e);
}

Test(easy, null_handle_is_a_bad_argument) {
  long l = 0;
  cr_assert_eq(xfer_easy_setopt(NULL, XFEROPT_URL, "http://127.0.0.1/"),
               XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_setopt(NULL, XFEROPT_VERBOSE, 1L), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_getinfo(NULL, XFERINFO_RESPONSE_CODE, &l), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_perform(NULL), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_null(xfer_easy_duphandle(NULL));
  xfer_easy_reset(NULL);
  xfer_easy_cleanup(NULL);
}

/* ---- URLs ------------------------------------------------------------------ */

Test(easy, malformed_urls_fail_alone) {
  static const struct {
    const char *url;
    xfer_code want;
  } bad[] = {
      {"", XFERE_URL_MALFORMAT},
      {"http://", XFERE_URL_MALFORMAT},
      {"http://exa mple.com/", XFERE_URL_MALFORMAT},
      {"http://host:99999/", XFERE_URL_MALFORMAT},
      {"ftp://x/", XFERE_UNSUPPORTED_PROTOCOL},
  };
  enum { NBAD = sizeof bad / sizeof bad[0] };
  struct xt_req r[NBAD + 1];
  for (size_t i = 0; i < NBAD; i++)
    xt_req_init(&r[i], bad[i].url);
  init_req(&r[NBAD], "/bytes/4096");
  xt_run(multi, r, NBAD + 1, 20000);
  for (size_t i = 0; i < NBAD; i++) {
    cr_assert_eq(r[i].result, bad[i].want, "\"%s\": code %d, wanted %d (%s)", bad[i].url,
                 r[i].result, bad[i].want, r[i].err);
    cr_assert(r[i].err[0] != '\0', "\"%s\": no sentence in the error buffer", bad[i].url);
    cr_assert_eq(r[i].body.len, 0);
  }
  cr_assert_eq(r[NBAD].result, XFERE_OK, "sibling: %s", r[NBAD].err);
  xt_assert_pattern(&r[NBAD].body, 4096);
  cr_assert_eq(ts_requests(srv), 1, "a malformed URL reached the server");
  for (size_t i = 0; i <= NBAD; i++) {
    xfer_multi_remove_handle(multi, r[i].e);
    xt_req_free(&r[i]);
  }
}

/* An https URL (direct, or reached by a redirect) pointed at a plaintext
 * server must never fall back to plaintext: the handshake fails or times
 * out, and not one request reaches the server beyond the redirect itself.
 * The test server never answers a ClientHello, so the connect timeout
 * (which covers the handshake, as libcurl's) ends both. */
Test(easy, https_to_plaintext_server_never_sends_plaintext) {
  char url[200];
  snprintf(url, sizeof url, "https://127.0.0.1:%u/bytes/5", (unsigned)ts_port(srv));
  /* ERRORBUFFER and PRIVATE point into each xt_req: they stay in place. */
  struct xt_req both[2];
  xt_req_init(&both[0], url);
  char target[200];
  snprintf(target, sizeof target, "/redirect/302?to=https%%3A%%2F%%2F127.0.0.1%%3A%u%%2Fbytes%%2F5",
           (unsigned)ts_port(srv));
  init_req(&both[1], target);
  cr_assert_eq(xfer_easy_setopt(both[1].e, XFEROPT_FOLLOWLOCATION, 1L), XFERE_OK);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(xfer_easy_setopt(both[i].e, XFEROPT_CONNECTTIMEOUT_MS, 1000L), XFERE_OK);
  xt_run(multi, both, 2, 20000);
  for (int i = 0; i < 2; i++) {
    cr_assert(both[i].result == XFERE_OPERATION_TIMEDOUT ||
                  both[i].result == XFERE_SSL_CONNECT_ERROR,
              "request %d: code %d (%s)", i, both[i].result, both[i].err);
    cr_assert_eq(both[i].body.len, 0);
  }
  cr_assert_eq(ts_requests(srv), 1, "only the redirect itself may reach the server");
  for (int i = 0; i < 2; i++) {
    xfer_multi_remove_handle(multi, both[i].e);
    xt_req_free(&both[i]);
  }
}

Test(easy, url_without_scheme_is_http) {
  char url[160];
  snprintf(url, sizeof url, "127.0.0.1:%u/bytes/5", (unsigned)ts_port(srv));
  struct xt_req r;
  xt_req_init(&r, url);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 5);
  const char *eff = NULL;
  xfer_easy_getinfo(r.e, XFERINFO_EFFECTIVE_URL, &eff);
  char want[160];
  url_of("/bytes/5", want, sizeof want);
  cr_assert(eff);
  cr_assert_str_eq(eff, want);
  xt_req_free(&r);
}

/* ---- PRIVATE and ERRORBUFFER ---------------------------------------------- */

Test(easy, private_round_trips) {
  xfer_easy *e = xfer_easy_init();
  cr_assert(e);
  void *p = (void *)1;
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_PRIVATE, &p), XFERE_OK);
  cr_assert_null(p, "PRIVATE is not NULL by default");
  int a, b;
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_PRIVATE, &a), XFERE_OK);
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_PRIVATE, &p), XFERE_OK);
  cr_assert_eq(p, &a);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_PRIVATE, &b), XFERE_OK);
  cr_assert_eq(xfer_easy_getinfo(e, XFERINFO_PRIVATE, &p), XFERE_OK);
  cr_assert_eq(p, &b);
  xfer_easy_cleanup(e);
}

Test(easy, errorbuffer_cleared_on_add) {
  struct xt_req r;
  xt_req_init(&r, "http://");
  run1(&r);
  cr_assert_eq(r.result, XFERE_URL_MALFORMAT);
  cr_assert(r.err[0] != '\0');
  char url[160];
  url_of("/bytes/8", url, sizeof url);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_URL, url), XFERE_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  cr_assert_eq(r.err[0], '\0', "stale error after add: [%s]", r.err);
  xt_drive(multi, 20000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  cr_assert_eq(r.err[0], '\0', "error text after a success: [%s]", r.err);
  xt_assert_pattern(&r.body, 8);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
}

/* ---- VERBOSE and DEBUGFUNCTION --------------------------------------------- */

struct trace {
  xfer_easy *e;
  int wrong_handle;
  struct xt_buf out; /* HEADER_OUT bytes */
  struct xt_buf in;  /* HEADER_IN bytes */
  int in_calls;
  int in_not_a_line; /* HEADER_IN calls that were not one CRLF-ended line */
  char first_in[64];
};

static int on_debug(xfer_easy *e, xfer_infotype type, char *data, size_t size, void *ud) {
  struct trace *t = ud;
  if (e != t->e)
    t->wrong_handle++;
  if (type == XFERINFO_HEADER_OUT) {
    xt_buf_write(data, 1, size, &t->out);
  } else if (type == XFERINFO_HEADER_IN) {
    if (t->in_calls++ == 0)
      snprintf(t->first_in, sizeof t->first_in, "%.*s", (int)size, data);
    if (size < 2 || data[size - 2] != '\r' || data[size - 1] != '\n' ||
        memchr(data, '\n', size - 1))
      t->in_not_a_line++;
    xt_buf_write(data, 1, size, &t->in);
  }
  return 0;
}

Test(easy, verbose_debugfunction_sees_the_heads) {
  struct xt_req r;
  init_req(&r, "/bytes/50");
  struct trace t = {.e = r.e};
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_VERBOSE, 1L), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_DEBUGFUNCTION, on_debug), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_DEBUGDATA, &t), XFERE_OK);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 50);
  cr_assert_eq(t.wrong_handle, 0);
  char want[256];
  default_get(want, sizeof want, "/bytes/50");
  assert_str_bytes(&t.out, want);
  /* The response head comes line by line, the same bytes the header
   * callback got. */
  cr_assert_str_eq(t.first_in, "HTTP/1.1 200 OK\r\n");
  cr_assert_eq(t.in_not_a_line, 0);
  cr_assert_geq(t.in_calls, 3);
  cr_assert(t.in.len == r.headers.len && memcmp(t.in.data, r.headers.data, t.in.len) == 0,
            "debug HEADER_IN [%s] differs from the header callback [%s]", t.in.data,
            r.headers.data);
  xt_buf_free(&t.out);
  xt_buf_free(&t.in);
  xt_req_free(&r);
}

/* ---- progress -------------------------------------------------------------- */

struct progress {
  int calls;
  int went_back;
  xfer_off_t last_dlnow;
  xfer_off_t last_dltotal;
  int abort_after; /* return non-zero from this call on; 0 = never */
};

static int on_progress(void *ud, xfer_off_t dltotal, xfer_off_t dlnow, xfer_off_t ultotal,
                       xfer_off_t ulnow) {
  struct progress *p = ud;
  (void)ultotal, (void)ulnow;
  p->calls++;
  if (dlnow < p->last_dlnow)
    p->went_back++;
  p->last_dlnow = dlnow;
  p->last_dltotal = dltotal;
  return p->abort_after && p->calls >= p->abort_after ? 1 : 0;
}

static void set_progress(struct xt_req *r, struct progress *p, long noprogress) {
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_XFERINFOFUNCTION, on_progress), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_XFERINFODATA, p), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_NOPROGRESS, noprogress), XFERE_OK);
}

Test(easy, xferinfo_dlnow_grows_to_the_size) {
  const size_t n = 500000;
  struct xt_req r;
  init_req(&r, "/bytes/500000");
  struct progress p = {0};
  set_progress(&r, &p, 0L);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, n);
  cr_assert_geq(p.calls, 1);
  cr_assert_eq(p.went_back, 0, "dlnow decreased");
  cr_assert_eq(p.last_dlnow, (xfer_off_t)n);
  cr_assert_eq(p.last_dltotal, (xfer_off_t)n);
  xt_req_free(&r);
}

Test(easy, xferinfo_not_called_while_noprogress) {
  struct xt_req r;
  init_req(&r, "/bytes/50000");
  struct progress p = {0};
  set_progress(&r, &p, 1L);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  cr_assert_eq(p.calls, 0);
  xt_req_free(&r);
}

Test(easy, xferinfo_abort_fails_only_that_transfer) {
  struct xt_req r[2];
  init_req(&r[0], "/bytes/200000");
  init_req(&r[1], "/bytes/200000");
  struct progress p = {.abort_after = 1};
  set_progress(&r[0], &p, 0L);
  xt_run(multi, r, 2, 20000);
  cr_assert_eq(r[0].result, XFERE_ABORTED_BY_CALLBACK, "code %d (%s)", r[0].result, r[0].err);
  cr_assert(r[0].err[0] != '\0');
  cr_assert_eq(p.calls, 1, "called %d times after aborting", p.calls);
  cr_assert_eq(r[1].result, XFERE_OK, "sibling: %s", r[1].err);
  xt_assert_pattern(&r[1].body, 200000);
  for (int i = 0; i < 2; i++) {
    xfer_multi_remove_handle(multi, r[i].e);
    xt_req_free(&r[i]);
  }
}

/* ---- write callback -------------------------------------------------------- */

static size_t write_short(char *ptr, size_t size, size_t nmemb, void *ud) {
  (void)ptr, (void)ud;
  return size * nmemb > 0 ? size * nmemb - 1 : 0;
}

Test(easy, short_write_is_a_write_error) {
  struct xt_req r;
  init_req(&r, "/bytes/1000");
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_WRITEFUNCTION, write_short), XFERE_OK);
  run1(&r);
  cr_assert_eq(r.result, XFERE_WRITE_ERROR, "code %d (%s)", r.result, r.err);
  cr_assert(r.err[0] != '\0', "no sentence in the error buffer");
  xt_req_free(&r);
}

Test(easy, default_write_function_writes_to_a_file) {
  FILE *f = tmpfile();
  cr_assert(f);
  char url[160];
  url_of("/bytes/40000", url, sizeof url);
  xfer_easy *e = xfer_easy_init();
  cr_assert(e);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_URL, url), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_WRITEDATA, f), XFERE_OK);
  cr_assert_eq(xfer_easy_perform(e), XFERE_OK);
  cr_assert_eq(fflush(f), 0);
  long size = ftell(f);
  cr_assert_eq(size, 40000);
  rewind(f);
  struct xt_buf b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    xt_buf_write(chunk, 1, n, &b);
  xt_assert_pattern(&b, 40000);
  xt_buf_free(&b);
  fclose(f);
  xfer_easy_cleanup(e);
}

/* ---- strerror -------------------------------------------------------------- */

Test(easy, strerror_never_null) {
  for (int c = -2; c <= XFER_LAST + 5; c++) {
    const char *s = xfer_easy_strerror((xfer_code)c);
    cr_assert(s && s[0], "xfer_easy_strerror(%d) is empty", c);
  }
  for (int c = -3; c <= XFERM_LAST + 5; c++) {
    const char *s = xfer_multi_strerror((xfer_mcode)c);
    cr_assert(s && s[0], "xfer_multi_strerror(%d) is empty", c);
  }
  cr_assert_str_neq(xfer_easy_strerror(XFERE_OK), xfer_easy_strerror(XFERE_URL_MALFORMAT));
}
