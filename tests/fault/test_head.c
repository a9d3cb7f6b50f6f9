/* Faults in the response head (docs/internals/faults.md): 10,000 header
 * lines, a 200 KiB header line (each failing under the default limits and
 * passing with the limit raised), and a HEAD answer that carries a body,
 * at once or late, followed by a GET to the same origin that must never
 * read those bytes as its response. Siblings as in test_stream.c.
 *
 * The limits' exact edges (5,000 lines, 100 KiB per line, 300 KiB per head)
 * are tests/net/test_malformed.c's rows; this file checks the sizes a
 * hostile server would pick and the options that lift them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "testserver.h"

#define RUN_MS 20000
#define KIB    1024u

static struct ts_server *srv, *other;
static xfer_multi *multi;

static void setup(void) { ft_env_up(&srv, &other, &multi); }
static void teardown(void) { ft_env_down(srv, other, multi); }

TestSuite(head, .init = setup, .fini = teardown);

static void run_with_siblings(struct ft_req *t, int same_origin_sibling) {
  struct ft_sibs sibs;
  ft_sibs_add(multi, &sibs, same_origin_sibling ? srv : NULL, other);
  ft_add(multi, t);
  ft_drive(multi, RUN_MS);
  ft_sibs_check(multi, &sibs);
}

/* ---- 10,000 header lines ------------------------------------------------- */

/* /headers/10000: 10,000 "X-H-i: i" lines besides Content-Length, about
 * 150 KiB, under the 300 KiB head limit: only the count can refuse it. */
Test(head, ten_thousand_header_lines_exceed_the_default_count) {
  struct ft_req t;
  ft_req_init(&t, srv, "/headers/10000");
  run_with_siblings(&t, 1);
  ft_assert_code(&t, XFERE_TOO_LARGE, "header");
  cr_assert_eq(t.r.body.len, 0);
  ft_free(multi, &t);
}

Test(head, ten_thousand_header_lines_pass_with_the_count_raised) {
  struct ft_req t;
  ft_req_init(&t, srv, "/headers/10000");
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_MAX_HEADER_COUNT, 10010L), XFERE_OK);
  run_with_siblings(&t, 1);
  ft_assert_ok(&t, 200, "headers\n", 8);
  /* Every line reached the header callback. */
  cr_assert(strstr(t.r.headers.data, "\r\nX-H-10000: 10000\r\n"));
  ft_free(multi, &t);
}

/* ---- a 200 KiB header line --------------------------------------------- */

static void route_long_line(size_t line_len) {
  static const char start[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Big: ";
  size_t n = sizeof start - 1;
  /* line_len counts the whole line, "X-Big: " and CRLF included. */
  size_t total = n + (line_len - 9) + 2 + 2 + 5;
  char *raw = malloc(total);
  cr_assert(raw);
  memcpy(raw, start, n);
  memset(raw + n, 'a', line_len - 9);
  n += line_len - 9;
  memcpy(raw + n, "\r\n\r\nhello", 9);
  n += 9;
  cr_assert_eq(n, total);
  struct ts_step steps[] = {{TS_SEND, raw, n, 0}};
  ts_route(srv, "/big", steps, 1);
  free(raw);
}

Test(head, a_200_kib_header_line_exceeds_the_default_line_limit) {
  route_long_line(200 * KIB);
  struct ft_req t;
  ft_req_init(&t, srv, "/big");
  run_with_siblings(&t, 1);
  /* As libcurl's CURL_MAX_HTTP_HEADER (100 KiB): CURLE_TOO_LARGE. */
  ft_assert_code(&t, XFERE_TOO_LARGE, "header");
  ft_free(multi, &t);
}

Test(head, a_200_kib_header_line_passes_with_the_limit_raised) {
  route_long_line(200 * KIB);
  struct ft_req t;
  ft_req_init(&t, srv, "/big");
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_MAX_HEADER_LINE, (long)(256 * KIB)), XFERE_OK);
  run_with_siblings(&t, 1);
  ft_assert_ok(&t, 200, "hello", 5);
  ft_free(multi, &t);
}

/* ---- a HEAD answer with a body ------------------------------------------- */

/* What the server sends after the HEAD head: exactly Content-Length bytes
 * that read as a complete response of their own. A client that reused the
 * connection for the GET below would take them for the GET's answer
 * (response-queue poisoning) and deliver "EVIL!", not the pattern. */
static const char stray[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!";
#define STRAY_LEN ((unsigned)sizeof stray - 1)

static void route_head_with_body(int late_ms) {
  char head[96];
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", STRAY_LEN);
  if (late_ms == 0) {
    char raw[256];
    size_t hl = strlen(head);
    memcpy(raw, head, hl);
    memcpy(raw + hl, stray, STRAY_LEN);
    struct ts_step steps[] = {{TS_SEND, raw, hl + STRAY_LEN, 0}};
    ts_route(srv, "/h", steps, 1);
    return;
  }
  struct ts_step steps[] = {
      {TS_SEND, head, 0, 0}, TS_SLEEP_MS(late_ms), {TS_SEND, stray, STRAY_LEN, 0}};
  ts_route(srv, "/h", steps, 3);
}

/* Drives the multi (its idle-connection watch included) until the server
 * saw the client close a connection. 1 when seen within max_ms. */
static int drive_until_client_closes(uint64_t n, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  while (ts_client_closes(srv) < n) {
    if (xt_now_ms() >= end)
      return 0;
    int running = 0;
    cr_assert_eq(xfer_multi_perform(multi, &running), XFERM_OK);
    cr_assert_eq(xfer_multi_poll(multi, NULL, 0, 20, NULL), XFERM_OK);
  }
  return 1;
}

static void head_then_get(int late_ms) {
  route_head_with_body(late_ms);
  struct ft_req h;
  ft_req_init(&h, srv, "/h");
  cr_assert_eq(xfer_easy_setopt(h.r.e, XFEROPT_NOBODY, 1L), XFERE_OK);
  /* Only the other-origin sibling: a same-origin one would add pooled
   * connections the GET could take, and the check below is about the
   * HEAD's own connection. */
  run_with_siblings(&h, 0);
  /* The HEAD itself is fine: its answer is the head, its body is empty. */
  ft_assert_ok(&h, 200, "", 0);
  xfer_off_t cl = 0;
  xfer_easy_getinfo(h.r.e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
  cr_assert_eq(cl, (xfer_off_t)STRAY_LEN);
  ft_free(multi, &h);

  /* The stray bytes came with the head, or reach the connection while it
   * is idle in the pool; either way the client must let go of it. Waiting
   * for that here keeps the GET from racing the late bytes: sent after
   * the GET, no HTTP/1.1 client could tell them from the GET's answer. */
  cr_assert(drive_until_client_closes(1, 5000),
            "the client kept the connection that carried the stray bytes");

  struct ft_req g;
  ft_req_init(&g, srv, "/bytes/5000");
  ft_add(multi, &g);
  ft_drive(multi, RUN_MS);
  cr_assert_eq(g.r.result, XFERE_OK, "code %d (%s)", g.r.result, g.r.err);
  xt_assert_pattern(&g.r.body, 5000);
  long nconn = -1;
  xfer_easy_getinfo(g.r.e, XFERINFO_NUM_CONNECTS, &nconn);
  cr_assert_eq(nconn, 1, "the GET reused the HEAD's connection");
  cr_assert_eq(ts_requests(srv), 2);
  cr_assert_neq(ts_request_conn(srv, 1), ts_request_conn(srv, 0));
  ft_free(multi, &g);
}

Test(head, head_answer_with_a_body_at_once_then_get) { head_then_get(0); }

Test(head, head_answer_with_a_late_body_then_get) { head_then_get(150); }
