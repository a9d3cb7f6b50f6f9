/* Allocation failure at every point: a GET (with a redirect, so URL
 * resolution and a second request head are on the path) is run again and
 * again with the Nth allocation failing, N = 1, 2, ... until a run makes
 * fewer than N allocations (the driver is tests/support/torture.c, which
 * tests/net/test_torture.c runs over the other scenarios). Each run must
 * end cleanly: the failing call
 * reports XFERM_OUT_OF_MEMORY / XFERE_OUT_OF_MEMORY (or NULL), or the
 * transfer still succeeds where the failure was tolerated, and once every
 * handle is cleaned up no allocation of the library is left alive. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testserver.h"
#include "torture.h"
#include "xtest.h"

/* One run; returns 1 when the whole scenario succeeded, 0 when it ended in
 * out of memory (torture.h checks the codes and the leak count). */
static int run_once(void *arg) {
  const char *url = arg;
  xfer_multi *m = xfer_multi_init();
  if (!m) {
    cr_assert(xt_torture_hit(), "xfer_multi_init gave NULL with no allocation failing");
    return 0;
  }
  struct xt_buf body = {0};
  int ok = 0;
  xfer_easy *e = xfer_easy_init();
  if (!e) {
    cr_assert(xt_torture_hit(), "xfer_easy_init gave NULL with no allocation failing");
    goto out;
  }
  if (!xt_oom_code(xfer_easy_setopt(e, XFEROPT_URL, url), "setopt URL"))
    goto out;
  xfer_easy_setopt(e, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, xt_buf_write);
  xfer_easy_setopt(e, XFEROPT_WRITEDATA, &body);
  /* add_handle reserves the transfer's timer slot. */
  if (!xt_oom_mcode(xfer_multi_add_handle(m, e), "add_handle"))
    goto out;
  uint64_t end = xt_now_ms() + 10000;
  for (;;) {
    int running = 0;
    if (!xt_oom_mcode(xfer_multi_perform(m, &running), "perform"))
      break;
    int left;
    xfer_msg *msg = xfer_multi_info_read(m, &left);
    if (msg) {
      if (xt_oom_code(msg->data.result, "the transfer")) {
        xt_assert_pattern(&body, 3000);
        ok = 1;
      }
      break;
    }
    cr_assert(xt_now_ms() < end, "run with allocation %ld failing did not finish",
              xt_torture_point());
    if (!xt_oom_mcode(xfer_multi_poll(m, NULL, 0, 100, NULL), "poll"))
      break;
  }
  xfer_multi_remove_handle(m, e);
out:
  xfer_easy_cleanup(e);
  xfer_multi_cleanup(m);
  xt_buf_free(&body);
  return ok;
}

Test(alloc_fail, every_allocation_point_fails_cleanly) {
  xt_require_backend();
  struct ts_server *s = ts_start();
  cr_assert(s);
  char url[160], target[64];
  snprintf(target, sizeof target, "/redirect/302?to=%%2Fbytes%%2F3000");
  ts_url(s, target, url, sizeof url);
  /* Every point, whatever XFER_TORTURE says: this scenario is the small one
   * (a few dozen allocations) that each build checks whole. */
  struct xt_torture_stats st;
  setenv("XFER_TORTURE", "1", 1);
  unsetenv("XFER_TORTURE_MAX");
  unsetenv("XFER_TORTURE_STEP");
  unsetenv("XFER_TORTURE_START");
  char name[64];
  snprintf(name, sizeof name, "get_redirect.%s",
           getenv("XFER_BACKEND") ? getenv("XFER_BACKEND") : "auto");
  xt_torture(name, run_once, url, &st);
  cr_assert(st.full, "the scenario never ran without a failure");
  cr_assert_gt(st.points, 10, "only %ld allocations: the hooks are not on the path", st.points);
  ts_stop(s);
}
