/* Steady state allocates nothing per request: after a warm-up, 1,000
 * keep-alive requests over 16 connections make zero calls to the allocator
 * hooks of xfer_global_init_mem(). The test server in the same process uses
 * libc directly, so only the library's own allocations are counted. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "testserver.h"
#include "xtest.h"

static atomic_long allocs;

static void *count_malloc(size_t n) {
  atomic_fetch_add(&allocs, 1);
  return malloc(n);
}
static void *count_calloc(size_t a, size_t b) {
  atomic_fetch_add(&allocs, 1);
  return calloc(a, b);
}
static void *count_realloc(void *p, size_t n) {
  atomic_fetch_add(&allocs, 1);
  return realloc(p, n);
}
static char *count_strdup(const char *s) {
  atomic_fetch_add(&allocs, 1);
  return strdup(s);
}

#define CONNS 16

/* Runs `total` requests over the CONNS handles, re-adding each finished one
 * (the pattern of load generators and proxies). Returns the number done. */
static int run_requests(xfer_multi *m, struct xt_req *reqs, int total) {
  int started = 0, done = 0;
  for (int i = 0; i < CONNS && started < total; i++, started++)
    cr_assert_eq(xfer_multi_add_handle(m, reqs[i].e), XFERM_OK);
  uint64_t end = xt_now_ms() + 30000;
  while (done < total) {
    int running;
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left))) {
      xfer_easy *e = msg->easy_handle;
      cr_assert_eq(msg->data.result, XFERE_OK);
      struct xt_req *r;
      xfer_easy_getinfo(e, XFERINFO_PRIVATE, &r);
      cr_assert_eq(r->body.len, 13);
      r->body.len = 0;
      done++;
      cr_assert_eq(xfer_multi_remove_handle(m, e), XFERM_OK);
      if (started < total) {
        cr_assert_eq(xfer_multi_add_handle(m, e), XFERM_OK);
        started++;
      }
    }
    cr_assert(xt_now_ms() < end, "only %d of %d requests done", done, total);
    if (done < total)
      cr_assert_eq(xfer_multi_poll(m, NULL, 0, 100, NULL), XFERM_OK);
  }
  return done;
}

Test(alloc, keepalive_requests_allocate_nothing) {
  cr_assert_eq(xfer_global_init_mem(count_malloc, free, count_realloc, count_strdup, count_calloc),
               XFERE_OK);
  struct ts_server *s = ts_start();
  cr_assert(s);
  char url[128];
  ts_url(s, "/bytes/13", url, sizeof url);
  xfer_multi *m = xt_multi();
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, (long)CONNS), XFERM_OK);
  struct xt_req reqs[CONNS];
  for (int i = 0; i < CONNS; i++) {
    xt_req_init(&reqs[i], url);
    /* The header buffer is the test's own realloc: keep it out. */
    xfer_easy_setopt(reqs[i].e, XFEROPT_HEADERFUNCTION, NULL);
    /* The body buffer grows once during warm-up and is reused after. */
  }
  cr_assert_eq(run_requests(m, reqs, CONNS * 8), CONNS * 8);
  long before = atomic_load(&allocs);
  cr_assert_gt(before, 0, "the hooks were never called: the test would prove nothing");
  cr_assert_eq(run_requests(m, reqs, 1000), 1000);
  long during = atomic_load(&allocs) - before;
  cr_assert_eq(during, 0, "%ld allocations in 1000 steady-state requests", during);
  cr_assert_eq(ts_connections(s), CONNS, "requests should reuse %d connections", CONNS);
  for (int i = 0; i < CONNS; i++) {
    xfer_multi_remove_handle(m, reqs[i].e);
    xt_req_free(&reqs[i]);
  }
  xfer_multi_cleanup(m);
  ts_stop(s);
  xfer_global_cleanup();
}
