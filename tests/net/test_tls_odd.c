/* HTTPS against peers that misbehave or are too weak, each run beside a
 * sibling transfer on the same multi that must finish with its exact
 * bytes: framing over TLS (close_notify or not), a plaintext or garbage
 * answer on a TLS port, a reset in the handshake, and two of the traps of
 * Debian's wolfSSL defaults (TLS 1.1 and anonymous suites accepted). The
 * peers are tests/support/tls_odd.py; the sibling is nginx. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "certs.h"
#include "nginx.h"
#include "tls_odd.h"
#include "xtest.h"

static struct ts_certs *certs;
static struct ts_nginx *ng;
static xfer_multi *multi;
static char ca[512];

static void setup(void) {
  certs = ts_certs_make();
  cr_assert(certs);
  ng = xt_tls_nginx(certs, "good", NULL, ca, sizeof ca);
  multi = xt_multi();
}

static void teardown(void) {
  xfer_multi_cleanup(multi);
  ts_nginx_stop(ng);
  ts_certs_free(certs);
}

TestSuite(tls_odd, .init = setup, .fini = teardown);

/* Runs one transfer against the odd server in `mode` (with the cipher
 * list `ciphers` when not NULL) beside a sibling GET of nginx's /64k, and
 * checks the odd transfer's code and body length. */
static void run_odd_with(const char *mode, const char *ciphers, xfer_code want, size_t want_len) {
  cr_assert(ts_odd_available(), "python3 is needed for the odd TLS servers");
  struct ts_odd *odd = ts_odd_start(mode, ts_certs_dir(certs));
  cr_assert(odd, "could not start the %s server", mode);
  char url[128], resolve_line[64];
  snprintf(url, sizeof url, "https://localhost:%u/x", (unsigned)ts_odd_port(odd));
  snprintf(resolve_line, sizeof resolve_line, "localhost:%u:127.0.0.1", (unsigned)ts_odd_port(odd));
  struct xfer_slist *resolve = xfer_slist_append(NULL, resolve_line);
  struct xt_req r[2];
  xt_req_init(&r[0], url);
  xfer_easy_setopt(r[0].e, XFEROPT_CAINFO, ca);
  xfer_easy_setopt(r[0].e, XFEROPT_RESOLVE, resolve);
  if (ciphers)
    xfer_easy_setopt(r[0].e, XFEROPT_SSL_CIPHER_LIST, ciphers);
  ts_nginx_url_host(ng, NULL, "/64k", url, sizeof url);
  xt_req_init(&r[1], url);
  xfer_easy_setopt(r[1].e, XFEROPT_CAINFO, ca);
  xfer_easy_setopt(r[1].e, XFEROPT_SSL_VERIFYHOST, 0L); /* good.pem names no IP */
  xt_run(multi, r, 2, 20000);
  cr_assert_eq(r[0].result, want, "%s: code %d (%s)", mode, r[0].result, r[0].err);
  if (want != XFERE_OK)
    cr_assert(r[0].err[0], "%s: no error sentence", mode);
  cr_assert_eq(r[0].body.len, want_len, "%s: %zu body bytes", mode, r[0].body.len);
  cr_assert_eq(r[1].result, XFERE_OK, "sibling: code %d (%s)", r[1].result, r[1].err);
  xt_assert_pattern(&r[1].body, 65536);
  for (int i = 0; i < 2; i++) {
    xfer_multi_remove_handle(multi, r[i].e);
    xt_req_free(&r[i]);
  }
  xfer_slist_free_all(resolve);
  ts_odd_stop(odd);
}

static void run_odd(const char *mode, xfer_code want, size_t want_len) {
  run_odd_with(mode, NULL, want, want_len);
}

/* RFC 8446 section 6.1: without close_notify, the end of a body that only
 * the close delimits cannot be told from a cut by an attacker. libcurl 7.88
 * accepts it (it ignores an unexpected EOF); xfer reports the truncation,
 * which is the safe answer (docs/internals/tls.md). */
Test(tls_odd, close_delimited_body_without_close_notify_is_partial) {
  run_odd("close_nonotify", XFERE_PARTIAL_FILE, 1000);
}

Test(tls_odd, close_delimited_body_with_close_notify_is_whole) {
  run_odd("close_notify", XFERE_OK, 1000);
}

Test(tls_odd, content_length_body_then_bare_fin_is_success) {
  run_odd("cl_nonotify", XFERE_OK, 1000);
}

Test(tls_odd, chunked_body_then_bare_fin_is_success) {
  run_odd("chunked_nonotify", XFERE_OK, 1000);
}

Test(tls_odd, short_content_length_body_is_partial) {
  run_odd("short_nonotify", XFERE_PARTIAL_FILE, 1000);
}

Test(tls_odd, plaintext_answer_on_a_tls_port_fails_the_handshake) {
  run_odd("plain", XFERE_SSL_CONNECT_ERROR, 0);
}

Test(tls_odd, garbage_record_fails_the_handshake) {
  run_odd("garbage", XFERE_SSL_CONNECT_ERROR, 0);
}

Test(tls_odd, reset_mid_handshake_fails_the_handshake) {
  run_odd("reset", XFERE_SSL_CONNECT_ERROR, 0);
}

/* Trap 2: Debian's wolfSSL negotiates TLS 1.1 unless told not to. */
Test(tls_odd, tls11_only_server_is_refused) { run_odd("tls11", XFERE_SSL_CONNECT_ERROR, 0); }

/* Trap 3: Debian's wolfSSL offers anonymous (unauthenticated) suites even
 * with verification on, unless the cipher list leaves them out. */
Test(tls_odd, anonymous_cipher_server_is_refused) { run_odd("anon", XFERE_SSL_CONNECT_ERROR, 0); }

/* The same with the application's own cipher list: anonymous suites stay
 * out whatever it says. */
Test(tls_odd, anonymous_cipher_refused_even_when_the_list_asks_for_all) {
  run_odd_with("anon", "ALL", XFERE_SSL_CONNECT_ERROR, 0);
}

/* Bytes past a response that the TLS library has already decrypted but
 * not handed over (the response ended exactly where the receive buffer
 * did) must keep the connection out of the pool: the next request would
 * read them as its answer (response-queue poisoning). The server answers
 * every request so; each request must get "hello" on a connection of its
 * own. */
Test(tls_odd, bytes_held_inside_the_tls_library_keep_the_connection_out_of_the_pool) {
  cr_assert(ts_odd_available());
  struct ts_odd *odd = ts_odd_start("pending_poison", ts_certs_dir(certs));
  cr_assert(odd);
  char url[128], line[64];
  snprintf(url, sizeof url, "https://localhost:%u/x", (unsigned)ts_odd_port(odd));
  snprintf(line, sizeof line, "localhost:%u:127.0.0.1", (unsigned)ts_odd_port(odd));
  struct xfer_slist *resolve = xfer_slist_append(NULL, line);
  struct xt_req r;
  xt_req_init(&r, url);
  xfer_easy_setopt(r.e, XFEROPT_CAINFO, ca);
  xfer_easy_setopt(r.e, XFEROPT_RESOLVE, resolve);
  for (int i = 0; i < 3; i++) {
    r.body.len = 0;
    xt_run(multi, &r, 1, 20000);
    cr_assert_eq(r.result, XFERE_OK, "request %d: code %d (%s)", i, r.result, r.err);
    cr_assert(r.body.len == 5 && memcmp(r.body.data, "hello", 5) == 0,
              "request %d read %zu bytes: %.*s", i, r.body.len, (int)r.body.len, r.body.data);
    long n = 0;
    xfer_easy_getinfo(r.e, XFERINFO_NUM_CONNECTS, &n);
    cr_assert_eq(n, 1, "request %d reused a connection with bytes left in it", i);
    xfer_multi_remove_handle(multi, r.e);
  }
  xt_req_free(&r);
  xfer_slist_free_all(resolve);
  ts_odd_stop(odd);
}
