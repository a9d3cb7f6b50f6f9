/* Faults in the response stream (docs/internals/faults.md): a reset in the
 * middle of a body, a close right after the status line, a stall after the
 * head, one byte every few milliseconds, 100-continue before the answer,
 * and a huge Content-Length cut short. Each runs beside two siblings on the
 * same multi (one sharing the faulty server, one on another server) that
 * must finish with their exact bytes.
 *
 * Byte-level variants of these responses (each delivered whole and one
 * byte per write) are tests/net/test_malformed.c's table; the timeout
 * rules themselves (while waiting for the head, mid-body, queued) are
 * tests/net/test_timeout.c. This file adds the large, slow and partial
 * bodies those leave out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "testserver.h"

#define RUN_MS 20000

static struct ts_server *srv, *other;
static xfer_multi *multi;

static void setup(void) { ft_env_up(&srv, &other, &multi); }
static void teardown(void) { ft_env_down(srv, other, multi); }

TestSuite(stream, .init = setup, .fini = teardown);

/* Routes path to head + the pattern's first n bytes, then the end step. */
static void route_body(const char *path, const char *head, size_t n, struct ts_step end,
                       int pause_ms) {
  size_t len;
  char *raw = ft_response(head, n, &len);
  struct ts_step steps[3] = {{TS_SEND, raw, len, 0}};
  size_t k = 1;
  if (pause_ms > 0)
    steps[k++] = (struct ts_step)TS_SLEEP_MS(pause_ms);
  steps[k++] = end;
  ts_route(srv, path, steps, k);
  free(raw);
}

/* Runs the faulty transfer t (already set up) with the siblings. */
static void run_with_siblings(struct ft_req *t) {
  struct ft_sibs sibs;
  ft_sibs_add(multi, &sibs, srv, other);
  ft_add(multi, t);
  ft_drive(multi, RUN_MS);
  ft_sibs_check(multi, &sibs);
}

/* ---- reset mid-body --------------------------------------------------- */

Test(stream, reset_mid_body_is_56_with_the_exact_prefix) {
  /* 100,000 of 1,000,000 bytes, then a pause so that they reach the client
   * before the RST (an RST drops whatever the server has not sent yet). */
  route_body("/rst", "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", 100000,
             (struct ts_step)TS_STEP(TS_RST), 200);
  struct ft_req t;
  ft_req_init(&t, srv, "/rst");
  run_with_siblings(&t);
  ft_assert_code(&t, XFERE_RECV_ERROR, NULL);
  long status = 0;
  xfer_easy_getinfo(t.r.e, XFERINFO_RESPONSE_CODE, &status);
  cr_assert_eq(status, 200);
  cr_assert_gt(t.r.body.len, 0, "no body byte arrived before the reset");
  ft_assert_pattern_prefix(&t, 100000);
  ft_free(multi, &t);
}

/* ---- close right after the status line ------------------------------- */

Test(stream, fin_after_the_status_line_is_18) {
  static const struct ts_step steps[] = {TS_S("HTTP/1.1 200 OK\r\n"), TS_STEP(TS_FIN)};
  ts_route(srv, "/cut", steps, 2);
  struct ft_req t;
  ft_req_init(&t, srv, "/cut");
  run_with_siblings(&t);
  /* Some bytes of a response came, so it is not an empty reply (52), and
   * it was a fresh connection, so there is nothing to retry. */
  ft_assert_code(&t, XFERE_PARTIAL_FILE, "head");
  cr_assert_eq(t.r.body.len, 0);
  cr_assert_eq(ts_requests(srv), 2, "the cut request was retried");
  ft_free(multi, &t);
}

Test(stream, rst_after_the_status_line_is_56) {
  static const struct ts_step steps[] = {TS_S("HTTP/1.1 200 OK\r\n"), TS_SLEEP_MS(100),
                                         TS_STEP(TS_RST)};
  ts_route(srv, "/cut", steps, 3);
  struct ft_req t;
  ft_req_init(&t, srv, "/cut");
  run_with_siblings(&t);
  ft_assert_code(&t, XFERE_RECV_ERROR, NULL);
  cr_assert_eq(t.r.body.len, 0);
  cr_assert_eq(ts_requests(srv), 2, "the cut request was retried");
  ft_free(multi, &t);
}

Test(stream, rst_before_any_byte_is_56) {
  /* The request is read, then reset unanswered: on a fresh connection
   * nothing was reused, so nothing is retried (an FIN here is 52,
   * test_malformed's empty_reply). */
  static const struct ts_step steps[] = {TS_STEP(TS_RST)};
  ts_route(srv, "/gone", steps, 1);
  struct ft_req t;
  ft_req_init(&t, srv, "/gone");
  run_with_siblings(&t);
  ft_assert_code(&t, XFERE_RECV_ERROR, NULL);
  cr_assert_eq(ts_requests(srv), 2, "the request was retried");
  ft_free(multi, &t);
}

/* ---- stall after the head ---------------------------------------------- */

Test(stream, stall_after_the_head_times_out_in_bounds) {
  static const struct ts_step steps[] = {TS_S("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
                                         TS_STEP(TS_IDLE)};
  ts_route(srv, "/stall", steps, 2);
  struct ft_req t;
  ft_req_init(&t, srv, "/stall");
  cr_assert_eq(xfer_easy_setopt(t.r.e, XFEROPT_TIMEOUT_MS, 300L), XFERE_OK);
  run_with_siblings(&t);
  ft_assert_code(&t, XFERE_OPERATION_TIMEDOUT, "timed out");
  /* Never before the deadline; the upper bound leaves room for a loaded
   * machine, not for a missed timer (which would be the 20 s RUN_MS). */
  cr_assert(t.elapsed >= 300 && t.elapsed <= 3000, "timed out after %llu ms",
            (unsigned long long)t.elapsed);
  long status = 0;
  xfer_easy_getinfo(t.r.e, XFERINFO_RESPONSE_CODE, &status);
  cr_assert_eq(status, 200, "the head had arrived");
  cr_assert_eq(t.r.body.len, 0);
  ft_free(multi, &t);
}

/* ---- one byte every few milliseconds ------------------------------------ */

/* The whole response, head included, one byte per write with gap_ms
 * between bytes: every parser state is entered with one byte in hand. */
static void drip_case(const char *head, const char *tail, size_t n, int gap_ms) {
  size_t hl = strlen(head), tl = strlen(tail);
  size_t len;
  char *raw = ft_response(head, n, &len);
  raw = realloc(raw, len + tl);
  cr_assert(raw);
  memcpy(raw + len, tail, tl);
  len += tl;
  struct ts_step steps[] = {{TS_DRIP, raw, len, gap_ms}};
  ts_route(srv, "/drip", steps, 1);
  free(raw);
  struct ft_req t;
  ft_req_init(&t, srv, "/drip");
  run_with_siblings(&t);
  cr_assert_eq(t.r.result, XFERE_OK, "code %d (%s)", t.r.result, t.r.err);
  xt_assert_pattern(&t.r.body, n);
  /* The server slept between bytes, so this bounds the time from below and
   * shows the response really came byte by byte. */
  cr_assert_geq(t.elapsed, (uint64_t)(hl + n - 1) * (uint64_t)gap_ms);
  ft_free(multi, &t);
}

Test(stream, drip_content_length_to_the_end) {
  drip_case("HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", "", 200, 2);
}

Test(stream, drip_chunked_to_the_end) {
  /* One chunk of 200 bytes (c8 in hex), then the last chunk and a trailer. */
  drip_case("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nc8\r\n",
            "\r\n0\r\nX-T: 1\r\n\r\n", 200, 2);
}

Test(stream, drip_interim_then_final_to_the_end) {
  /* A 100 and a 103 before the answer, all of it a byte at a time. */
  drip_case("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            "", 100, 1);
}

/* ---- 100-continue, then the answer ---------------------------------------- */

#define POST_BYTES (100u * 1024u)

static char *post_body(void) {
  char *b = malloc(POST_BYTES);
  cr_assert(b);
  ts_pattern(0, b, POST_BYTES);
  return b;
}

static void set_expect_post(struct ft_req *t, const char *body, struct xfer_slist **hdrs) {
  *hdrs = xfer_slist_append(NULL, "Expect: 100-continue");
  cr_assert(*hdrs);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_HTTPHEADER, *hdrs), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_POSTFIELDS, body), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(t->r.e, XFEROPT_POSTFIELDSIZE, (long)POST_BYTES), XFERE_OK);
}

Test(stream, continue_then_the_echo) {
  /* /echo answers "100 Continue" first (the server does that for every
   * request with Expect: 100-continue and a body), reads the body, then
   * sends back the request it got: the final response is the body, the
   * interim one never is. */
  char *body = post_body();
  struct xfer_slist *hdrs;
  struct ft_req t;
  ft_req_init(&t, srv, "/echo");
  set_expect_post(&t, body, &hdrs);
  run_with_siblings(&t);
  cr_assert_eq(t.r.result, XFERE_OK, "code %d (%s)", t.r.result, t.r.err);
  long status = 0;
  xfer_easy_getinfo(t.r.e, XFERINFO_RESPONSE_CODE, &status);
  cr_assert_eq(status, 200);
  cr_assert_gt(t.r.body.len, POST_BYTES);
  cr_assert(memcmp(t.r.body.data, "POST /echo HTTP/1.1\r\n", 21) == 0, "echo: %.40s",
            t.r.body.data);
  cr_assert(memcmp(t.r.body.data + t.r.body.len - POST_BYTES, body, POST_BYTES) == 0,
            "the echoed request body differs");
  /* libcurl hands the interim head to the header callback too. */
  cr_assert(strstr(t.r.headers.data, "HTTP/1.1 100 Continue\r\n"));
  cr_assert(strstr(t.r.headers.data, "HTTP/1.1 200 OK\r\n"));
  ft_free(multi, &t);
  xfer_slist_free_all(hdrs);
  free(body);
}

Test(stream, continue_pause_then_the_answer) {
  /* Scripted: the interim response, a pause, the body read, a 201. */
  static const struct ts_step steps[] = {
      TS_S("HTTP/1.1 100 Continue\r\n\r\n"), TS_SLEEP_MS(100), TS_STEP(TS_READ_BODY),
      TS_S("HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade")};
  ts_route_ex(srv, "/up", steps, 4, TS_ROUTE_HEAD_ONLY);
  char *body = post_body();
  struct xfer_slist *hdrs;
  struct ft_req t;
  ft_req_init(&t, srv, "/up");
  set_expect_post(&t, body, &hdrs);
  run_with_siblings(&t);
  ft_assert_ok(&t, 201, "made", 4);
  char raw[256];
  size_t n = 0;
  for (uint64_t i = 0; i < ts_requests(srv); i++) {
    n = ts_request_log(srv, (size_t)i, raw, sizeof raw);
    if (n >= 9 && memcmp(raw, "POST /up ", 9) == 0)
      break;
  }
  cr_assert_gt(n, POST_BYTES, "the server got %zu bytes of the POST", n);
  xfer_off_t up = 0;
  xfer_easy_getinfo(t.r.e, XFERINFO_SIZE_UPLOAD_T, &up);
  cr_assert_eq(up, (xfer_off_t)POST_BYTES);
  ft_free(multi, &t);
  xfer_slist_free_all(hdrs);
  free(body);
}

/* ---- a huge Content-Length cut short ------------------------------------- */

static void huge_cl_case(const char *cl, int64_t want_cl) {
  char head[128];
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n", cl);
  route_body("/huge", head, 50000, (struct ts_step)TS_STEP(TS_FIN), 0);
  struct ft_req t;
  ft_req_init(&t, srv, "/huge");
  run_with_siblings(&t);
  ft_assert_code(&t, XFERE_PARTIAL_FILE, NULL);
  /* The FIN follows the bytes: all of them arrive before it. */
  cr_assert_eq(t.r.body.len, 50000);
  ft_assert_pattern_prefix(&t, 50000);
  xfer_off_t got = 0;
  xfer_easy_getinfo(t.r.e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T, &got);
  cr_assert_eq((int64_t)got, want_cl);
  ft_free(multi, &t);
}

Test(stream, huge_content_length_cut_short_is_18) {
  huge_cl_case("1000000000000", 1000000000000); /* 1 TB */
}

Test(stream, largest_content_length_cut_short_is_18) {
  /* INT64_MAX, the largest length the codec accepts (one more is 8:
   * test_malformed's cl_2_63). */
  huge_cl_case("9223372036854775807", INT64_MAX);
}
