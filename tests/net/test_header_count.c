/* XFEROPT_MAX_HEADER_COUNT accepts only what the codec honours (at most
 * 65534 lines, include/xfer/xfer.h): the largest accepted value lets a head
 * of that many lines through, one more line fails with TOO_LARGE, and a
 * larger option value is refused instead of being silently capped. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void up(void) { xt_env_up(&srv, &multi); }
static void down(void) { xt_env_down(srv, multi); }

TestSuite(header_count, .init = up, .fini = down);

#define CAP 65534L /* the codec's 16-bit count, one value kept free */

Test(header_count, setopt_accepts_exactly_what_is_honoured) {
  xfer_easy *e = xfer_easy_init();
  cr_assert(e);
  cr_expect_eq(xfer_easy_setopt(e, XFEROPT_MAX_HEADER_COUNT, CAP), XFERE_OK);
  cr_expect_eq(xfer_easy_setopt(e, XFEROPT_MAX_HEADER_COUNT, CAP + 1), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_expect_eq(xfer_easy_setopt(e, XFEROPT_MAX_HEADER_COUNT, 100000L), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_expect_eq(xfer_easy_setopt(e, XFEROPT_MAX_HEADER_COUNT, 0L), XFERE_BAD_FUNCTION_ARGUMENT);
  cr_expect_eq(xfer_easy_setopt(e, XFEROPT_MAX_HEADER_COUNT, 1L), XFERE_OK);
  xfer_easy_cleanup(e);
}

/* Header lines of a /headers/N answer besides the N (Content-Length...),
 * counted in the header callback's lines of /headers/0. */
static long own_lines(void) {
  char url[160];
  ts_url(srv, "/headers/0", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 5000);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  long lines = 0;
  for (size_t i = 0; i < r.headers.len; i++)
    lines += r.headers.data[i] == '\n';
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
  return lines - 2; /* the status line and the final empty line */
}

static xfer_code fetch_lines(long total, long limit, char *err) {
  char path[64], url[160];
  snprintf(path, sizeof path, "/headers/%ld", total);
  ts_url(srv, path, url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_MAX_HEADER_COUNT, limit), XFERE_OK);
  /* 65,534 lines of about 16 bytes are over the 300 KiB default. */
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_MAX_HEAD_SIZE, 4L * 1024 * 1024), XFERE_OK);
  xt_run(multi, &r, 1, 20000);
  xfer_code rc = r.result;
  if (rc == XFERE_OK)
    cr_expect(r.body.len == 8 && memcmp(r.body.data, "headers\n", 8) == 0);
  strcpy(err, r.err);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
  return rc;
}

Test(header_count, the_largest_accepted_count_is_honoured) {
  long own = own_lines();
  cr_assert(own >= 1 && own < 20, "the server's own header lines: %ld", own);
  char err[XFER_ERROR_SIZE];
  /* Exactly CAP header lines pass; CAP + 1 do not. */
  xfer_code rc = fetch_lines(CAP - own, CAP, err);
  cr_expect_eq(rc, XFERE_OK, "%d lines: %d (%s)", (int)CAP, rc, err);
  rc = fetch_lines(CAP - own + 1, CAP, err);
  cr_expect_eq(rc, XFERE_TOO_LARGE, "%d lines: %d (%s)", (int)CAP + 1, rc, err);
  /* A small limit is honoured the same way on both sides. */
  cr_expect_eq(fetch_lines(10 - own, 10, err), XFERE_OK, "%s", err);
  cr_expect_eq(fetch_lines(11 - own, 10, err), XFERE_TOO_LARGE, "%s", err);
}
