/* HTTPS end to end: nginx with certificates made at test time, every
 * verification outcome, the four traps of Debian's wolfSSL defaults, SNI,
 * sessions resumed only under their own key, and the pool key's TLS part.
 * ctest runs this file on every backend and with each TLS library
 * (XFER_BACKEND, XFER_SSL_BACKEND). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "nginx.h"
#include "testserver.h"
#include "xtest.h"

static struct ts_certs *certs;
static struct ts_nginx *ng;
static xfer_multi *multi;
static struct xfer_slist *resolve;
static char ca[512];

static void up(const char *leaf, const char *extra) {
  certs = ts_certs_make();
  cr_assert(certs, "could not make the test certificates");
  ng = xt_tls_nginx(certs, leaf, extra, ca, sizeof ca);
  /* Every name the certificates carry goes to the server's address. */
  static const char *const names[] = {"localhost", "good.example.test", "wrong.example.test",
                                      "a.example.test", "a.b.example.test"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char line[128];
    snprintf(line, sizeof line, "%s:%u:127.0.0.1", names[i], (unsigned)ts_nginx_port(ng));
    resolve = xfer_slist_append(resolve, line);
  }
  multi = xt_multi();
}

static void down(void) {
  xfer_multi_cleanup(multi);
  xfer_slist_free_all(resolve);
  resolve = NULL;
  ts_nginx_stop(ng);
  ts_certs_free(certs);
}

static void url_for(const char *host, const char *path, char *out, size_t len) {
  ts_nginx_url_host(ng, host, path, out, len);
}

/* A request to host/path that trusts the test CA. */
static void req(struct xt_req *r, const char *host, const char *path) {
  char url[256];
  url_for(host, path, url, sizeof url);
  xt_req_init(r, url);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_CAINFO, ca), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_RESOLVE, resolve), XFERE_OK);
}

static void run1(struct xt_req *r) { xt_run(multi, r, 1, 20000); }

static void done1(struct xt_req *r) {
  xfer_multi_remove_handle(multi, r->e);
  xt_req_free(r);
}

static int expected_backend(void) {
  const char *env = getenv("XFER_SSL_BACKEND");
  return env && strcmp(env, "openssl") == 0 ? XFERSSLBACKEND_OPENSSL : XFERSSLBACKEND_WOLFSSL;
}

static long info_long(xfer_easy *e, xfer_info i) {
  long v = -1;
  cr_assert_eq(xfer_easy_getinfo(e, i, &v), XFERE_OK);
  return v;
}

/* ---- the plain path ------------------------------------------------------ */

Test(tls, get_over_https_with_the_test_ca) {
  up("good", NULL);
  struct xt_req r;
  req(&r, "localhost", "/small");
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "code %d: %s", r.result, r.err);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 200);
  cr_assert_eq(r.body.len, 13);
  cr_assert(memcmp(r.body.data, "Hello, world!", 13) == 0);
  cr_assert_eq(info_long(r.e, XFERINFO_SSL_VERIFYRESULT), 0);
  xfer_off_t app = 0, conn = 0, pre = 0;
  xfer_easy_getinfo(r.e, XFERINFO_APPCONNECT_TIME_T, &app);
  xfer_easy_getinfo(r.e, XFERINFO_CONNECT_TIME_T, &conn);
  xfer_easy_getinfo(r.e, XFERINFO_PRETRANSFER_TIME_T, &pre);
  cr_assert(app > 0 && app >= conn && pre >= app, "connect %lld appconnect %lld pretransfer %lld",
            (long long)conn, (long long)app, (long long)pre);
  struct xfer_tlssessioninfo *ti = NULL;
  cr_assert_eq(xfer_easy_getinfo(r.e, XFERINFO_TLS_SSL_PTR, &ti), XFERE_OK);
  cr_assert(ti);
  cr_assert_eq(ti->backend, expected_backend(), "the transfer used TLS library %d", ti->backend);
  done1(&r);
  down();
}

Test(tls, keepalive_requests_share_one_connection_and_bodies_are_exact) {
  up("good", NULL);
  struct xt_req r;
  req(&r, "localhost", "/1m");
  long connects = 0;
  for (int i = 0; i < 20; i++) {
    r.body.len = 0;
    run1(&r);
    cr_assert_eq(r.result, XFERE_OK, "request %d: code %d: %s", i, r.result, r.err);
    xt_assert_pattern(&r.body, 1048576);
    connects += info_long(r.e, XFERINFO_NUM_CONNECTS);
    xfer_multi_remove_handle(multi, r.e);
  }
  cr_assert_eq(connects, 1, "%ld connections for 20 keep-alive requests", connects);
  xt_req_free(&r);
  down();
}

Test(tls, parallel_transfers_on_one_multi) {
  up("good", NULL);
  enum { N = 8 };
  struct xt_req r[N];
  for (int i = 0; i < N; i++)
    req(&r[i], "localhost", i % 2 ? "/64k" : "/1k");
  xt_run(multi, r, N, 20000);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(r[i].result, XFERE_OK, "request %d: code %d: %s", i, r[i].result, r[i].err);
    xt_assert_pattern(&r[i].body, i % 2 ? 65536 : 1024);
    done1(&r[i]);
  }
  down();
}

/* A POST body goes out encrypted and arrives whole: nginx terminates TLS
 * and hands the request to the test server's /echo, which returns what it
 * got. 200 KB is many records and more than the output buffer holds. */
Test(tls, post_body_arrives_whole) {
  struct ts_server *srv = ts_start();
  cr_assert(srv);
  char extra[256];
  snprintf(extra, sizeof extra,
           "location = /echo { client_max_body_size 4m; proxy_pass http://127.0.0.1:%u/echo; }",
           (unsigned)ts_port(srv));
  up("good", extra);
  struct xt_req r;
  req(&r, "localhost", "/echo");
  enum { LEN = 200000 };
  static char body[LEN];
  ts_pattern(0, body, LEN);
  xfer_easy_setopt(r.e, XFEROPT_POSTFIELDS, body);
  xfer_easy_setopt(r.e, XFEROPT_POSTFIELDSIZE, (long)LEN);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "code %d: %s", r.result, r.err);
  cr_assert_eq(info_long(r.e, XFERINFO_RESPONSE_CODE), 200);
  cr_assert(r.body.len > LEN, "echo of %zu bytes", r.body.len);
  cr_assert(memcmp(r.body.data + r.body.len - LEN, body, LEN) == 0, "the body arrived changed");
  xfer_off_t up_bytes = 0;
  xfer_easy_getinfo(r.e, XFERINFO_SIZE_UPLOAD_T, &up_bytes);
  cr_assert_eq(up_bytes, (xfer_off_t)LEN);
  done1(&r);
  down();
  ts_stop(srv);
}

/* ---- verification ----------------------------------------------------------- */

/* Serves `leaf`, fetches it as `host` with the test CA, expects `code`; a
 * sibling transfer to a good server on the same multi must be unharmed. */
static void expect_verdict(const char *leaf, const char *host, xfer_code code, const char *reason) {
  up(leaf, NULL);
  struct ts_nginx *good = xt_tls_nginx(certs, "good", NULL, NULL, 0);
  struct xt_req r[2];
  req(&r[0], host, "/small");
  char url[256];
  ts_nginx_url_host(good, NULL, "/1k", url, sizeof url);
  xt_req_init(&r[1], url);
  xfer_easy_setopt(r[1].e, XFEROPT_CAINFO, ca);
  xfer_easy_setopt(r[1].e, XFEROPT_SSL_VERIFYHOST, 0L); /* good.pem names no IP */
  xt_run(multi, r, 2, 20000);
  cr_assert_eq(r[0].result, code, "%s as %s: code %d (%s)", leaf, host, r[0].result, r[0].err);
  if (reason)
    cr_assert(strstr(r[0].err, reason), "%s: the error says \"%s\"", leaf, r[0].err);
  if (code != XFERE_OK) {
    cr_assert_eq(r[0].body.len, 0);
    cr_assert(r[0].err[0], "%s: no error sentence", leaf);
  } else {
    cr_assert_eq(r[0].body.len, 13);
  }
  cr_assert_eq(r[1].result, XFERE_OK, "sibling: code %d (%s)", r[1].result, r[1].err);
  xt_assert_pattern(&r[1].body, 1024);
  done1(&r[0]);
  done1(&r[1]);
  ts_nginx_stop(good);
  down();
}

Test(tls, wrong_host_is_refused) {
  expect_verdict("wronghost", "localhost", XFERE_PEER_FAILED_VERIFICATION, NULL);
}

Test(tls, expired_certificate_is_refused) {
  /* wolfSSL: "ASN date error, current date after"; OpenSSL: "certificate
   * has expired". */
  expect_verdict("expired", "localhost", XFERE_PEER_FAILED_VERIFICATION, "ate");
}

Test(tls, not_yet_valid_certificate_is_refused) {
  expect_verdict("notyet", "localhost", XFERE_PEER_FAILED_VERIFICATION, NULL);
}

Test(tls, unknown_ca_is_refused) {
  expect_verdict("otherca", "localhost", XFERE_PEER_FAILED_VERIFICATION, NULL);
}

Test(tls, self_signed_is_refused) {
  expect_verdict("selfsigned", "localhost", XFERE_PEER_FAILED_VERIFICATION, "elf");
}

Test(tls, wildcard_matches_one_label_only) {
  expect_verdict("wildcard", "a.example.test", XFERE_OK, NULL);
}

Test(tls, wildcard_does_not_match_two_labels) {
  expect_verdict("wildcard", "a.b.example.test", XFERE_PEER_FAILED_VERIFICATION, NULL);
}

Test(tls, ip_literal_is_checked_against_ip_sans) {
  expect_verdict("ipsan", "127.0.0.1", XFERE_OK, NULL);
}

Test(tls, ip_literal_without_ip_san_is_refused) {
  expect_verdict("good", "127.0.0.1", XFERE_PEER_FAILED_VERIFICATION, NULL);
}

/* libcurl's rule, kept: a certificate with no DNS name at all is matched
 * on its common name (RFC 9525 would refuse; both libraries and libcurl
 * accept). Written down in docs/internals/tls.md. */
Test(tls, common_name_only_certificate_is_accepted_as_libcurl_does) {
  expect_verdict("cnonly", "localhost", XFERE_OK, NULL);
}

/* Trap 1: Debian's wolfSSL verifies nothing by default. Without any TLS
 * option the test CA is unknown (the system store is used), so the
 * transfer must fail; with verification off it goes through. */
Test(tls, verification_is_on_by_default) {
  up("good", NULL);
  char url[256];
  url_for("localhost", "/small", url, sizeof url);
  struct xt_req r[2];
  for (int i = 0; i < 2; i++) {
    xt_req_init(&r[i], url);
    xfer_easy_setopt(r[i].e, XFEROPT_RESOLVE, resolve);
  }
  xfer_easy_setopt(r[1].e, XFEROPT_SSL_VERIFYPEER, 0L);
  xfer_easy_setopt(r[1].e, XFEROPT_SSL_VERIFYHOST, 0L);
  xt_run(multi, r, 2, 20000);
  cr_assert_eq(r[0].result, XFERE_PEER_FAILED_VERIFICATION, "default: code %d (%s)", r[0].result,
               r[0].err);
  cr_assert_eq(r[1].result, XFERE_OK, "insecure: code %d (%s)", r[1].result, r[1].err);
  cr_assert_eq(r[1].body.len, 13);
  done1(&r[0]);
  done1(&r[1]);
  down();
}

/* ---- SNI ---------------------------------------------------------------------- */

Test(tls, sni_is_sent_for_names_and_never_for_ip_literals) {
  up("ipsan", "location = /sni { return 200 \"[$ssl_server_name]\"; }");
  struct xt_req r[2];
  req(&r[0], "localhost", "/sni");
  req(&r[1], "127.0.0.1", "/sni");
  xfer_easy_setopt(r[0].e, XFEROPT_SSL_VERIFYHOST, 0L); /* ipsan.pem names no host */
  xt_run(multi, r, 2, 20000);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(r[i].result, XFERE_OK, "request %d: code %d (%s)", i, r[i].result, r[i].err);
  cr_assert_eq(r[0].body.len, strlen("[localhost]"));
  cr_assert(memcmp(r[0].body.data, "[localhost]", r[0].body.len) == 0);
  cr_assert_eq(r[1].body.len, 2, "SNI sent for an IP literal: %.*s", (int)r[1].body.len,
               r[1].body.data);
  done1(&r[0]);
  done1(&r[1]);
  down();
}

/* ---- sessions ------------------------------------------------------------------ */

static char fetch_reused(const char *host, long *resumed_info) {
  struct xt_req r;
  req(&r, host, "/reused");
  /* A new connection each time: only then is there a handshake to resume. */
  xfer_easy_setopt(r.e, XFEROPT_FRESH_CONNECT, 1L);
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "%s: code %d (%s)", host, r.result, r.err);
  cr_assert_eq(r.body.len, 1);
  char c = r.body.data[0];
  *resumed_info = info_long(r.e, XFERINFO_TLS_SESSION_RESUMED);
  done1(&r);
  return c;
}

/* Trap 4: wolfSSL resumes a session offered for another host name. The
 * server's own view ($ssl_session_reused) is the judge: a session made
 * with localhost resumes for localhost (the positive control), and is never
 * offered to good.example.test, though the same certificate and address
 * serve both. */
Test(tls, session_is_resumed_for_its_host_and_never_offered_to_another) {
  up("good", NULL);
  long info;
  cr_assert_eq(fetch_reused("localhost", &info), '.');
  cr_assert_eq(info, 0);
  cr_assert_eq(fetch_reused("localhost", &info), 'r', "the session was not resumed at all");
  cr_assert_eq(info, 1);
  cr_assert_eq(fetch_reused("good.example.test", &info), '.',
               "a session made for localhost was resumed for good.example.test");
  cr_assert_eq(info, 0);
  down();
}

Test(tls, session_cache_off_means_full_handshakes) {
  up("good", NULL);
  for (int i = 0; i < 2; i++) {
    struct xt_req r;
    req(&r, "localhost", "/reused");
    xfer_easy_setopt(r.e, XFEROPT_FRESH_CONNECT, 1L);
    xfer_easy_setopt(r.e, XFEROPT_SSL_SESSIONID_CACHE, 0L);
    run1(&r);
    cr_assert_eq(r.result, XFERE_OK);
    cr_assert_eq(r.body.data[0], '.', "request %d resumed with the cache off", i);
    done1(&r);
  }
  down();
}

/* ---- the pool key ---------------------------------------------------------------- */

/* Two sequential requests, the second with one TLS option changed: a new
 * connection must carry it. */
static void expect_new_connection(void (*change)(xfer_easy *)) {
  up("good", NULL);
  struct xt_req r;
  req(&r, "localhost", "/small");
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "first: %d (%s)", r.result, r.err);
  cr_assert_eq(info_long(r.e, XFERINFO_NUM_CONNECTS), 1);
  xfer_multi_remove_handle(multi, r.e);
  change(r.e);
  r.body.len = 0;
  run1(&r);
  cr_assert_eq(r.result, XFERE_OK, "second: %d (%s)", r.result, r.err);
  cr_assert_eq(info_long(r.e, XFERINFO_NUM_CONNECTS), 1,
               "a connection made under other TLS settings was reused");
  /* And the positive control: unchanged, it is reused. */
  xfer_multi_remove_handle(multi, r.e);
  run1(&r);
  cr_assert_eq(info_long(r.e, XFERINFO_NUM_CONNECTS), 0, "an identical request was not reused");
  done1(&r);
  down();
}

static void no_verify(xfer_easy *e) { xfer_easy_setopt(e, XFEROPT_SSL_VERIFYPEER, 0L); }
static void no_verifyhost(xfer_easy *e) { xfer_easy_setopt(e, XFEROPT_SSL_VERIFYHOST, 0L); }
/* One suite less than the default, in each library's syntax (wolfSSL takes
 * its TLS 1.3 suites in the same list). */
static void other_ciphers(xfer_easy *e) {
  xfer_easy_setopt(e, XFEROPT_SSL_CIPHER_LIST,
                   expected_backend() == XFERSSLBACKEND_WOLFSSL
                       ? "TLS13-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384"
                       : "ECDHE-ECDSA-AES256-GCM-SHA384");
}
static void max_tls12(xfer_easy *e) {
  xfer_easy_setopt(e, XFEROPT_SSLVERSION,
                   (long)(XFER_SSLVERSION_TLSv1_2 | XFER_SSLVERSION_MAX_TLSv1_2));
}
static void ca_as_blob(xfer_easy *e) {
  FILE *f = fopen(ca, "rb");
  cr_assert(f);
  static char pem[8192];
  size_t n = fread(pem, 1, sizeof pem, f);
  fclose(f);
  struct xfer_blob b = {pem, n, XFER_BLOB_COPY};
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_CAINFO_BLOB, &b), XFERE_OK);
  xfer_easy_setopt(e, XFEROPT_CAINFO, NULL);
}

/* The same CA under another file name: the key compares settings, not
 * what they happen to contain (curl's CVE-2021-22924 was a case-blind
 * comparison of such paths). */
static void ca_copy(xfer_easy *e) {
  char copy[600], cmd[1400];
  snprintf(copy, sizeof copy, "%s/ca-copy.pem", ts_certs_dir(certs));
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", ca, copy);
  cr_assert_eq(system(cmd), 0);
  xfer_easy_setopt(e, XFEROPT_CAINFO, copy);
}
static void ca_path(xfer_easy *e) {
  char dir[600], cmd[2600];
  snprintf(dir, sizeof dir, "%s/capath", ts_certs_dir(certs));
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/' && openssl rehash '%s'", dir, ca, dir,
           dir);
  cr_assert_eq(system(cmd), 0);
  xfer_easy_setopt(e, XFEROPT_CAINFO, NULL);
  xfer_easy_setopt(e, XFEROPT_CAPATH, dir);
}
static void pinned(xfer_easy *e) {
  char leaf[512], pin[128];
  ts_certs_path(certs, "good.pem", leaf, sizeof leaf);
  cr_assert_eq(ts_certs_spki_sha256(certs, leaf, pin, sizeof pin), 0);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_PINNEDPUBLICKEY, pin), XFERE_OK);
}
static void tls13_suites(xfer_easy *e) {
  xfer_easy_setopt(e, XFEROPT_TLS13_CIPHERS,
                   expected_backend() == XFERSSLBACKEND_WOLFSSL ? "TLS13-AES256-GCM-SHA384"
                                                                : "TLS_AES_256_GCM_SHA384");
}
/* The server does not ask for it, so the connection works either way. */
static void client_cert(xfer_easy *e) {
  char cert[512], key[512];
  ts_certs_path(certs, "client.pem", cert, sizeof cert);
  ts_certs_path(certs, "client-enc.key", key, sizeof key);
  xfer_easy_setopt(e, XFEROPT_SSLCERT, cert);
  xfer_easy_setopt(e, XFEROPT_SSLKEY, key);
  xfer_easy_setopt(e, XFEROPT_KEYPASSWD, TS_CERTS_CLIENT_PASS);
}
static void no_sessions(xfer_easy *e) { xfer_easy_setopt(e, XFEROPT_SSL_SESSIONID_CACHE, 0L); }

Test(tls, pool_key_verifypeer) { expect_new_connection(no_verify); }
Test(tls, pool_key_ca_file) { expect_new_connection(ca_copy); }
Test(tls, pool_key_ca_path) { expect_new_connection(ca_path); }
Test(tls, pool_key_pinned_key) { expect_new_connection(pinned); }
Test(tls, pool_key_tls13_suites) { expect_new_connection(tls13_suites); }
Test(tls, pool_key_client_certificate) { expect_new_connection(client_cert); }
Test(tls, pool_key_session_cache) { expect_new_connection(no_sessions); }
Test(tls, pool_key_verifyhost) { expect_new_connection(no_verifyhost); }
Test(tls, pool_key_cipher_list) { expect_new_connection(other_ciphers); }
Test(tls, pool_key_version) { expect_new_connection(max_tls12); }
Test(tls, pool_key_ca_blob) { expect_new_connection(ca_as_blob); }

/* ---- options ----------------------------------------------------------------------- */

Test(tls, version_range_is_honoured) {
  up("good", NULL);
  struct xt_req r[2];
  req(&r[0], "localhost", "/proto");
  req(&r[1], "localhost", "/proto");
  max_tls12(r[0].e);
  xfer_easy_setopt(r[1].e, XFEROPT_SSLVERSION, (long)XFER_SSLVERSION_TLSv1_3);
  xt_run(multi, r, 2, 20000);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(r[i].result, XFERE_OK, "request %d: %d (%s)", i, r[i].result, r[i].err);
  cr_assert(r[0].body.len > 8 && memcmp(r[0].body.data, "TLSv1.2 ", 8) == 0, "%.*s",
            (int)r[0].body.len, r[0].body.data);
  cr_assert(r[1].body.len > 8 && memcmp(r[1].body.data, "TLSv1.3 ", 8) == 0, "%.*s",
            (int)r[1].body.len, r[1].body.data);
  done1(&r[0]);
  done1(&r[1]);
  down();
}

Test(tls, pinned_public_key_matches_or_fails_with_90) {
  up("good", NULL);
  char leaf[512], pin[128];
  ts_certs_path(certs, "good.pem", leaf, sizeof leaf);
  cr_assert_eq(ts_certs_spki_sha256(certs, leaf, pin, sizeof pin), 0);
  struct xt_req r[2];
  req(&r[0], "localhost", "/small");
  req(&r[1], "localhost", "/small");
  cr_assert_eq(xfer_easy_setopt(r[0].e, XFEROPT_PINNEDPUBLICKEY, pin), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r[1].e, XFEROPT_PINNEDPUBLICKEY,
                                "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
               XFERE_OK);
  xt_run(multi, r, 2, 20000);
  cr_assert_eq(r[0].result, XFERE_OK, "right pin: %d (%s)", r[0].result, r[0].err);
  cr_assert_eq(r[1].result, XFERE_SSL_PINNEDPUBKEYNOTMATCH, "wrong pin: %d (%s)", r[1].result,
               r[1].err);
  done1(&r[0]);
  done1(&r[1]);
  down();
}

Test(tls, client_certificate_with_encrypted_key) {
  char extra[1024];
  struct ts_certs *c = ts_certs_make();
  cr_assert(c);
  char cca[512];
  ts_certs_path(c, "ca.pem", cca, sizeof cca);
  /* The certificates up() makes are new ones: this server trusts the CA of
   * c, so the client presents c's client certificate. */
  snprintf(extra, sizeof extra,
           "ssl_client_certificate %s; ssl_verify_client optional; "
           "location = /who { return 200 \"$ssl_client_verify\"; }",
           cca);
  up("good", extra);
  char cert[512], key[512];
  ts_certs_path(c, "client.pem", cert, sizeof cert);
  ts_certs_path(c, "client-enc.key", key, sizeof key);
  struct xt_req r[2];
  req(&r[0], "localhost", "/who");
  req(&r[1], "localhost", "/who");
  cr_assert_eq(xfer_easy_setopt(r[0].e, XFEROPT_SSLCERT, cert), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r[0].e, XFEROPT_SSLKEY, key), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r[0].e, XFEROPT_KEYPASSWD, TS_CERTS_CLIENT_PASS), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r[0].e, XFEROPT_SSLCERTTYPE, "PEM"), XFERE_OK);
  xt_run(multi, r, 2, 20000);
  cr_assert_eq(r[0].result, XFERE_OK, "with cert: %d (%s)", r[0].result, r[0].err);
  cr_assert_eq(r[0].body.len, 7, "%.*s", (int)r[0].body.len, r[0].body.data);
  cr_assert(memcmp(r[0].body.data, "SUCCESS", 7) == 0);
  cr_assert_eq(r[1].result, XFERE_OK);
  cr_assert(r[1].body.len == 4 && memcmp(r[1].body.data, "NONE", 4) == 0, "%.*s",
            (int)r[1].body.len, r[1].body.data);
  done1(&r[0]);
  done1(&r[1]);
  down();
  ts_certs_free(c);
}

Test(tls, bad_tls_options_fail_with_their_codes) {
  up("good", NULL);
  struct xt_req r[4];
  for (int i = 0; i < 4; i++)
    req(&r[i], "localhost", "/small");
  cr_assert_eq(xfer_easy_setopt(r[0].e, XFEROPT_CAINFO, "/nonexistent/ca.pem"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r[1].e, XFEROPT_SSL_CIPHER_LIST, "NO-SUCH-CIPHER"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r[2].e, XFEROPT_SSLCERT, "/nonexistent/client.pem"), XFERE_OK);
  xt_run(multi, r, 4, 20000);
  cr_assert_eq(r[0].result, XFERE_SSL_CACERT_BADFILE, "CA: %d (%s)", r[0].result, r[0].err);
  cr_assert_eq(r[1].result, XFERE_SSL_CIPHER, "cipher: %d (%s)", r[1].result, r[1].err);
  cr_assert_eq(r[2].result, XFERE_SSL_CERTPROBLEM, "cert: %d (%s)", r[2].result, r[2].err);
  for (int i = 0; i < 3; i++)
    cr_assert(r[i].err[0], "request %d has no error sentence", i);
  cr_assert_eq(r[3].result, XFERE_OK, "sibling: %d (%s)", r[3].result, r[3].err);
  for (int i = 0; i < 4; i++)
    done1(&r[i]);
  down();
}

Test(tls, option_values_below_tls12_or_not_pem_are_refused) {
  xfer_easy *e = xfer_easy_init();
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSLVERSION, (long)XFER_SSLVERSION_TLSv1_1),
               XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSLVERSION, (long)XFER_SSLVERSION_SSLv3),
               XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSLVERSION,
                                (long)(XFER_SSLVERSION_TLSv1_2 | XFER_SSLVERSION_MAX_TLSv1_1)),
               XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSLVERSION, (long)XFER_SSLVERSION_TLSv1_3), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSLCERTTYPE, "DER"), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSLKEYTYPE, "pem"), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSL_VERIFYHOST, 3L), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_PINNEDPUBLICKEY, "/etc/pinned.pem"),
               XFERE_BAD_FUNCTION_ARGUMENT);
  /* TLS options xfer does not implement say so. */
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_CRLFILE, "/x"), XFERE_UNKNOWN_OPTION);
  cr_assert_eq(xfer_easy_setopt(e, XFEROPT_SSL_OPTIONS, 0L), XFERE_UNKNOWN_OPTION);
  xfer_easy_cleanup(e);
}
