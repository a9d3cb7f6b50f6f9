/* Name resolution (docs/internals/dns.md): real names go through the resolver threads into the multi's cache,
 * XFEROPT_RESOLVE entries skip resolution (and can be removed again), a
 * name under .invalid fails fast with 6, and a lookup in flight never holds
 * up a removal or xfer_multi_cleanup. CI also runs this file under TSan
 * ("dns" in the name), so the resolver threads' hand-over is checked for
 * data races. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void setup(void) { xt_env_up(&srv, &multi); }

static void teardown(void) { xt_env_down(srv, multi); }

TestSuite(dns, .init = setup, .fini = teardown, .timeout = 60);

/* "http://HOST:PORT/path" for the test server's port. */
static void url_for(const char *host, const char *path, char *out, size_t len) {
  snprintf(out, len, "http://%s:%u%s", host, (unsigned)ts_port(srv), path);
}

static void run1(struct xt_req *r) {
  r->body.len = 0;
  r->done = 0;
  xt_run(multi, r, 1, 20000);
  cr_assert_eq(xfer_multi_remove_handle(multi, r->e), XFERM_OK);
}

/* The last request the server read, NUL-terminated. */
static void last_request(char *out, size_t len) {
  size_t n = ts_last_request(srv, out, len - 1);
  out[n < len - 1 ? n : len - 1] = 0;
}

static void assert_host_header(const char *host) {
  char req[4096], want[128];
  last_request(req, sizeof req);
  snprintf(want, sizeof want, "\r\nHost: %s:%u\r\n", host, (unsigned)ts_port(srv));
  cr_assert(strstr(req, want), "no \"%s\" in the request:\n%s", want + 2, req);
}

static const char *primary_ip(struct xt_req *r) {
  const char *ip = NULL;
  cr_assert_eq(xfer_easy_getinfo(r->e, XFERINFO_PRIMARY_IP, &ip), XFERE_OK);
  cr_assert(ip);
  return ip;
}

/* A RESOLVE list of one line "HOST:PORT:ADDRS" for the test server's port
 * (prefix "-" and NULL addrs for a removal). */
static struct xfer_slist *resolve_line(const char *prefix, const char *host, const char *addrs) {
  char line[256];
  if (addrs)
    snprintf(line, sizeof line, "%s%s:%u:%s", prefix, host, (unsigned)ts_port(srv), addrs);
  else
    snprintf(line, sizeof line, "%s%s:%u", prefix, host, (unsigned)ts_port(srv));
  struct xfer_slist *l = xfer_slist_append(NULL, line);
  cr_assert(l);
  return l;
}

Test(dns, localhost_resolves_and_the_answer_is_cached) {
  char url[160];
  url_for("localhost", "/bytes/5", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 5);
  assert_host_header("localhost");
  xfer_off_t first = -1, second = -1;
  xfer_easy_getinfo(r.e, XFERINFO_NAMELOOKUP_TIME_T, &first);
  cr_assert_geq(first, 0);
  /* The second lookup is answered from the multi's cache without a trip
   * through a resolver thread. */
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 5);
  xfer_easy_getinfo(r.e, XFERINFO_NAMELOOKUP_TIME_T, &second);
  cr_assert(second >= 0 && second <= first && second < 2000,
            "cached lookup took %lld us (first: %lld us)", (long long)second, (long long)first);
  xt_req_free(&r);
}

Test(dns, resolve_entry_skips_resolution_and_keeps_the_host_name) {
  char url[160];
  url_for("fake.test", "/bytes/5", url, sizeof url);
  struct xfer_slist *res = resolve_line("", "fake.test", "127.0.0.1");
  struct xt_req r;
  xt_req_init(&r, url);
  xfer_easy_setopt(r.e, XFEROPT_RESOLVE, res);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 5);
  assert_host_header("fake.test");
  cr_assert_str_eq(primary_ip(&r), "127.0.0.1");
  xt_req_free(&r);
  xfer_slist_free_all(res);
}

Test(dns, resolve_entry_second_address_after_a_refusal) {
  /* Nothing listens on 127.0.0.2 at the server's port (it is bound to
   * 127.0.0.1 only), so the first address refuses and the second works. */
  char url[160];
  url_for("fake.test", "/bytes/5", url, sizeof url);
  struct xfer_slist *res = resolve_line("", "fake.test", "127.0.0.2,127.0.0.1");
  struct xt_req r;
  xt_req_init(&r, url);
  xfer_easy_setopt(r.e, XFEROPT_RESOLVE, res);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 5);
  cr_assert_str_eq(primary_ip(&r), "127.0.0.1");
  cr_assert_eq(ts_connections(srv), 1);
  /* libcurl counts one connection for the whole attempt over the address
   * list (Curl_connecthost), not one per address tried. */
  long nc = -1;
  xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &nc);
  cr_assert_eq(nc, 1, "NUM_CONNECTS %ld after one refused address and one connection", nc);
  xt_req_free(&r);
  xfer_slist_free_all(res);
}

Test(dns, resolve_entry_is_kept_by_the_multi_until_removed) {
  /* A name under .invalid, so that once the entry is gone the real lookup
   * fails at once instead of depending on the network. */
  char url[160];
  url_for("gone.invalid", "/bytes/5", url, sizeof url);
  struct xfer_slist *add = resolve_line("", "gone.invalid", "127.0.0.1");
  struct xfer_slist *del = resolve_line("-", "gone.invalid", NULL);
  struct xt_req a, b, c;
  xt_req_init(&a, url);
  xt_req_init(&b, url);
  xt_req_init(&c, url);
  /* No pooled connection may answer for the name: each transfer has to
   * resolve. */
  xfer_easy_setopt(a.e, XFEROPT_FORBID_REUSE, 1L);
  xfer_easy_setopt(b.e, XFEROPT_FORBID_REUSE, 1L);
  xfer_easy_setopt(a.e, XFEROPT_RESOLVE, add);
  run1(&a);
  cr_assert_eq(a.result, XFERE_OK, "%d (%s)", a.result, a.err);
  /* As in libcurl, the entry went into the multi's DNS cache: another handle
   * without the option finds it there. */
  run1(&b);
  cr_assert_eq(b.result, XFERE_OK, "%d (%s)", b.result, b.err);
  xt_assert_pattern(&b.body, 5);
  xfer_easy_setopt(c.e, XFEROPT_RESOLVE, del);
  run1(&c);
  cr_assert_eq(c.result, XFERE_COULDNT_RESOLVE_HOST, "%d (%s)", c.result, c.err);
  cr_assert_eq(ts_requests(srv), 2);
  xt_req_free(&a);
  xt_req_free(&b);
  xt_req_free(&c);
  xfer_slist_free_all(add);
  xfer_slist_free_all(del);
}

/* The pool is asked before the resolver, as libcurl's is: a warm request
 * on a pooled connection of the origin looks up nothing, so it goes on
 * even once the name's entry is gone, and only a fresh connection needs
 * the name again. */
Test(dns, pooled_connection_is_reused_without_a_lookup) {
  char url[160];
  url_for("pooled.invalid", "/bytes/5", url, sizeof url);
  struct xfer_slist *add = resolve_line("", "pooled.invalid", "127.0.0.1");
  struct xfer_slist *del = resolve_line("-", "pooled.invalid", NULL);
  struct xt_req a, b;
  xt_req_init(&a, url);
  xt_req_init(&b, url);
  xfer_easy_setopt(a.e, XFEROPT_RESOLVE, add);
  run1(&a);
  cr_assert_eq(a.result, XFERE_OK, "%d (%s)", a.result, a.err);
  xfer_easy_setopt(b.e, XFEROPT_RESOLVE, del);
  run1(&b);
  cr_assert_eq(b.result, XFERE_OK, "%d (%s)", b.result, b.err);
  xt_assert_pattern(&b.body, 5);
  cr_assert_eq(ts_connections(srv), 1);
  cr_assert_str_eq(primary_ip(&b), "127.0.0.1");
  xfer_easy_setopt(b.e, XFEROPT_FRESH_CONNECT, 1L);
  run1(&b);
  cr_assert_eq(b.result, XFERE_COULDNT_RESOLVE_HOST, "%d (%s)", b.result, b.err);
  cr_assert_eq(ts_requests(srv), 2);
  xt_req_free(&a);
  xt_req_free(&b);
  xfer_slist_free_all(add);
  xfer_slist_free_all(del);
}

Test(dns, bad_resolve_entry_fails_the_transfer) {
  static const char *const bad[] = {
      "no-colons-at-all", "fake.test:notaport:127.0.0.1", "fake.test:80:not-an-address",
      "fake.test:80:",    "fake.test:70000:127.0.0.1",
  };
  char url[160];
  url_for("fake.test", "/bytes/5", url, sizeof url);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct xfer_slist *res = xfer_slist_append(NULL, bad[i]);
    cr_assert(res);
    struct xt_req r;
    xt_req_init(&r, url);
    xfer_easy_setopt(r.e, XFEROPT_RESOLVE, res);
    run1(&r);
    /* libcurl: CURLE_SETOPT_OPTION_SYNTAX, "Couldn't parse CURLOPT_RESOLVE
     * entry". */
    cr_assert_eq(r.result, XFERE_SETOPT_OPTION_SYNTAX, "\"%s\": %d (%s)", bad[i], r.result, r.err);
    cr_assert(strstr(r.err, bad[i]), "\"%s\": the sentence does not name it: \"%s\"", bad[i],
              r.err);
    xt_req_free(&r);
    xfer_slist_free_all(res);
  }
  cr_assert_eq(ts_connections(srv), 0);
}

Test(dns, nxdomain_fails_fast_and_the_sibling_goes_on) {
  char bad_url[160], good_url[160];
  url_for("nonexistent.invalid", "/bytes/5", bad_url, sizeof bad_url);
  url_for("127.0.0.1", "/delay/200/1000", good_url, sizeof good_url);
  struct xt_req r[2];
  xt_req_init(&r[0], bad_url);
  xt_req_init(&r[1], good_url);
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_add_handle(multi, r[0].e), XFERM_OK);
  cr_assert_eq(xfer_multi_add_handle(multi, r[1].e), XFERM_OK);
  /* Drive until the failure shows up, timing it on the test's clock. */
  uint64_t failed_after = 0;
  while (!r[0].done) {
    int running;
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(multi, &left))) {
      struct xt_req *p = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &p);
      p->done = 1;
      p->result = msg->data.result;
    }
    failed_after = xt_now_ms() - t0;
    cr_assert_lt(failed_after, 2000, "the lookup of a .invalid name is still running");
    if (!r[0].done)
      cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 20, NULL), XFERM_OK);
  }
  cr_assert_eq(r[0].result, XFERE_COULDNT_RESOLVE_HOST, "%d (%s)", r[0].result, r[0].err);
  cr_assert(strstr(r[0].err, "nonexistent.invalid"), "sentence: \"%s\"", r[0].err);
  xt_drive(multi, 10000);
  cr_assert(r[1].done);
  cr_assert_eq(r[1].result, XFERE_OK, "%d (%s)", r[1].result, r[1].err);
  xt_assert_pattern(&r[1].body, 1000);
  for (int i = 0; i < 2; i++) {
    xfer_multi_remove_handle(multi, r[i].e);
    xt_req_free(&r[i]);
  }
}

/* Adds r and performs once, so that its lookup is handed to a resolver
 * thread; the answer cannot have been taken yet (that needs another turn). */
static void start_lookup(xfer_multi *m, struct xt_req *r) {
  cr_assert_eq(xfer_multi_add_handle(m, r->e), XFERM_OK);
  int running;
  cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
  cr_assert_eq(running, 1, "the lookup was answered at once");
}

Test(dns, remove_while_resolving_returns_at_once_and_drops_the_answer) {
  char bad_url[160], good_url[160];
  url_for("nonexistent.invalid", "/bytes/5", bad_url, sizeof bad_url);
  url_for("localhost", "/bytes/7", good_url, sizeof good_url);
  struct xt_req r;
  xt_req_init(&r, bad_url);
  start_lookup(multi, &r);
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_remove_handle(multi, r.e), XFERM_OK);
  cr_assert_lt(xt_now_ms() - t0, 500, "remove waited for the lookup");
  /* Re-added at once for another name: the old lookup's answer (a
   * failure) must reach nobody, and this transfer gets only its own. */
  xfer_easy_setopt(r.e, XFEROPT_URL, good_url);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 7);
  /* A removed handle freed while its lookup is still out: the resolver
   * must not touch it (ASan), and the multi goes on. */
  struct xt_req gone, next;
  xt_req_init(&gone, bad_url);
  start_lookup(multi, &gone);
  cr_assert_eq(xfer_multi_remove_handle(multi, gone.e), XFERM_OK);
  xt_req_free(&gone);
  xt_req_init(&next, good_url);
  run1(&next);
  cr_assert_eq(next.result, XFERE_OK, "%d (%s)", next.result, next.err);
  xt_req_free(&next);
  xt_req_free(&r);
}

Test(dns, multi_cleanup_while_resolving_returns_at_once) {
  char bad_url[160], good_url[160];
  url_for("nonexistent.invalid", "/bytes/5", bad_url, sizeof bad_url);
  url_for("localhost", "/bytes/9", good_url, sizeof good_url);
  xfer_multi *m = xt_multi();
  struct xt_req a, b;
  xt_req_init(&a, bad_url);
  xt_req_init(&b, good_url);
  start_lookup(m, &a);
  cr_assert_eq(xfer_multi_add_handle(m, b.e), XFERM_OK);
  int running;
  cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
  uint64_t t0 = xt_now_ms();
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  cr_assert_lt(xt_now_ms() - t0, 500, "cleanup waited for the lookups");
  /* The handles are detached and valid: b runs on another multi. */
  run1(&b);
  cr_assert_eq(b.result, XFERE_OK, "%d (%s)", b.result, b.err);
  xt_assert_pattern(&b.body, 9);
  xt_req_free(&a);
  xt_req_free(&b);
}
