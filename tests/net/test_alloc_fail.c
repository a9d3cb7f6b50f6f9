/* Allocation failure at every point: a GET (with a redirect, so URL
 * resolution and a second request head are on the path) is run again and
 * again with the Nth allocation failing, N = 1, 2, ... until a run makes
 * fewer than N allocations. Each run must end cleanly: the failing call
 * reports XFERM_OUT_OF_MEMORY / XFERE_OUT_OF_MEMORY (or NULL), or the
 * transfer still succeeds where the failure was tolerated, and once every
 * handle is cleaned up no allocation of the library is left alive. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "testserver.h"
#include "xtest.h"

static long calls;   /* allocation calls in this run */
static long fail_at; /* the call that fails; 0: none */
static long live;    /* allocations not yet freed */

static int should_fail(void) { return ++calls == fail_at; }

static void *t_malloc(size_t n) {
  if (should_fail())
    return NULL;
  void *p = malloc(n);
  live += p != NULL;
  return p;
}
static void *t_calloc(size_t a, size_t b) {
  if (should_fail())
    return NULL;
  void *p = calloc(a, b);
  live += p != NULL;
  return p;
}
static void *t_realloc(void *old, size_t n) {
  if (should_fail())
    return NULL;
  void *p = realloc(old, n);
  live += p != NULL && old == NULL;
  return p;
}
static char *t_strdup(const char *s) {
  if (should_fail())
    return NULL;
  char *p = strdup(s);
  live += p != NULL;
  return p;
}
static void t_free(void *p) {
  live -= p != NULL;
  free(p);
}

/* One run; returns 1 when the whole scenario succeeded. */
static int run_once(const char *url, int *oom_seen) {
  xfer_multi *m = xfer_multi_init();
  if (!m) {
    *oom_seen = 1;
    return 0;
  }
  struct xt_buf body = {0};
  int ok = 0;
  xfer_easy *e = xfer_easy_init();
  if (!e) {
    *oom_seen = 1;
    goto out;
  }
  xfer_code rc = xfer_easy_setopt(e, XFEROPT_URL, url);
  if (rc != XFERE_OK) {
    cr_assert_eq(rc, XFERE_OUT_OF_MEMORY, "setopt URL failed with %d", rc);
    *oom_seen = 1;
    goto out;
  }
  xfer_easy_setopt(e, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, xt_buf_write);
  xfer_easy_setopt(e, XFEROPT_WRITEDATA, &body);
  xfer_mcode mc = xfer_multi_add_handle(m, e);
  if (mc != XFERM_OK) {
    /* add_handle reserves the transfer's timer slot. */
    cr_assert_eq(mc, XFERM_OUT_OF_MEMORY, "add failed with %d", mc);
    *oom_seen = 1;
    goto out;
  }
  uint64_t end = xt_now_ms() + 10000;
  xfer_code result = (xfer_code)-1;
  for (;;) {
    int running = 0;
    mc = xfer_multi_perform(m, &running);
    if (mc != XFERM_OK) {
      cr_assert_eq(mc, XFERM_OUT_OF_MEMORY, "perform failed with %d", mc);
      *oom_seen = 1;
      break;
    }
    int left;
    xfer_msg *msg = xfer_multi_info_read(m, &left);
    if (msg) {
      result = msg->data.result;
      break;
    }
    cr_assert(xt_now_ms() < end, "run with allocation %ld failing did not finish", fail_at);
    mc = xfer_multi_poll(m, NULL, 0, 100, NULL);
    if (mc != XFERM_OK) {
      cr_assert_eq(mc, XFERM_OUT_OF_MEMORY, "poll failed with %d", mc);
      *oom_seen = 1;
      break;
    }
  }
  if (result == XFERE_OK) {
    xt_assert_pattern(&body, 3000);
    ok = 1;
  } else if (result != (xfer_code)-1) {
    cr_assert_eq(result, XFERE_OUT_OF_MEMORY, "allocation %ld failing gave code %d", fail_at,
                 result);
    *oom_seen = 1;
  }
  xfer_multi_remove_handle(m, e);
out:
  xfer_easy_cleanup(e);
  xfer_multi_cleanup(m);
  xt_buf_free(&body);
  return ok;
}

Test(alloc_fail, every_allocation_point_fails_cleanly, .timeout = 240) {
  xt_require_backend();
  struct ts_server *s = ts_start();
  cr_assert(s);
  char url[160], target[64];
  snprintf(target, sizeof target, "/redirect/302?to=%%2Fbytes%%2F3000");
  ts_url(s, target, url, sizeof url);
  xfer__alloc_set(t_malloc, t_free, t_realloc, t_strdup, t_calloc);
  long n;
  /* Bounded: a GET with a redirect makes a few dozen allocations. */
  for (n = 1; n < 2000; n++) {
    calls = 0;
    live = 0;
    fail_at = n;
    int oom = 0;
    int ok = run_once(url, &oom);
    cr_assert_eq(live, 0, "allocation %ld failing leaked %ld allocations", n, live);
    if (calls < n) {
      cr_assert(ok, "the run without a failure did not succeed");
      break;
    }
    cr_assert(ok || oom, "allocation %ld failing gave neither success nor OUT_OF_MEMORY", n);
  }
  xfer__alloc_set(malloc, free, realloc, strdup, calloc);
  cr_assert_lt(n, 2000, "the scenario never ran without a failure");
  cr_assert_gt(n, 10, "only %ld allocations: the hooks are not on the path", n);
  ts_stop(s);
}
