/* A plain program (no Criterion) that measures xfer's HTTPS allocations
 * through xfer_global_init_mem(), for tests/net/test_tls_alloc.c.
 *
 * Why a separate process: Criterion links libgit2 and through it libssh2,
 * whose constructor starts OpenSSL before main(), and OpenSSL accepts
 * allocator hooks (CRYPTO_set_mem_functions) only before its first
 * allocation. A program of an application's shape, which this is, gets the
 * hooks; a Criterion process never would.
 *
 *   tls_alloc_probe steady URL CAFILE CONNS WARMUP REQUESTS
 *       runs WARMUP then REQUESTS keep-alive requests over CONNS handles;
 *       prints "warmup_allocs=A steady_allocs=S new_connections=C"
 *   tls_alloc_probe torture URL CAFILE STEP
 *       runs the GET with its Nth allocation failing, N = 1..64 then every
 *       STEP, until a run needs fewer than N; checks every run ends in
 *       success or OUT_OF_MEMORY; prints "allocations=N runs=R". Leaks are
 *       LeakSanitizer's to find (the ASan build runs this too): it tells
 *       memory that is lost from the caches both libraries fill for the
 *       whole process (OpenSSL's method store, wolfSSL's FP_ECC table),
 *       which a count of allocations cannot.
 * Exit status 0 when the scenario ran and every check held, 1 with a
 * "FAIL: ..." line otherwise. Every loop is bounded in time. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xfer/xfer.h"

static long calls;
static long fail_at;

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  exit(1);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int should_fail(size_t n) {
  ++calls;
  if (fail_at < 0 && getenv("XFER_PROBE_LOG_SIZES"))
    fprintf(stderr, "alloc %zu\n", n);
  return calls == fail_at;
}

static void *h_malloc(size_t n) { return should_fail(n) ? NULL : malloc(n); }
static void *h_calloc(size_t a, size_t b) { return should_fail(a * b) ? NULL : calloc(a, b); }
static void *h_realloc(void *old, size_t n) { return should_fail(n) ? NULL : realloc(old, n); }
static char *h_strdup(const char *s) { return should_fail(strlen(s)) ? NULL : strdup(s); }
static void h_free(void *p) { free(p); }

static size_t sink(char *p, size_t s, size_t n, void *u) {
  (void)p;
  *(size_t *)u += s * n;
  return s * n;
}

/* ---- steady ------------------------------------------------------------------ */

struct slot {
  xfer_easy *e;
  size_t got;
};

static long run_requests(xfer_multi *m, struct slot *s, long conns, long total, long *connects) {
  long started = 0, done = 0;
  for (long i = 0; i < conns && started < total; i++, started++)
    if (xfer_multi_add_handle(m, s[i].e) != XFERM_OK)
      fail("add_handle");
  uint64_t end = now_ms() + 60000;
  while (done < total) {
    int running;
    if (xfer_multi_perform(m, &running) != XFERM_OK)
      fail("perform");
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left))) {
      struct slot *sl;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &sl);
      if (msg->data.result != XFERE_OK)
        fail("request failed with %d", msg->data.result);
      if (sl->got != 13)
        fail("body of %zu bytes, not 13", sl->got);
      sl->got = 0;
      long n = 0;
      xfer_easy_getinfo(sl->e, XFERINFO_NUM_CONNECTS, &n);
      *connects += n;
      done++;
      xfer_multi_remove_handle(m, sl->e);
      if (started < total) {
        if (xfer_multi_add_handle(m, sl->e) != XFERM_OK)
          fail("add_handle");
        started++;
      }
    }
    if (now_ms() > end)
      fail("only %ld of %ld requests in 60 s", done, total);
    if (done < total && xfer_multi_poll(m, NULL, 0, 100, NULL) != XFERM_OK)
      fail("poll");
  }
  return done;
}

static int steady(const char *url, const char *ca, long conns, long warm, long total) {
  if (xfer_global_init_mem(h_malloc, h_free, h_realloc, h_strdup, h_calloc) != XFERE_OK)
    fail("global_init_mem");
  xfer_multi *m = xfer_multi_init();
  if (!m)
    fail("multi_init");
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, conns);
  struct slot *s = calloc((size_t)conns, sizeof *s);
  for (long i = 0; i < conns; i++) {
    s[i].e = xfer_easy_init();
    xfer_easy_setopt(s[i].e, XFEROPT_URL, url);
    xfer_easy_setopt(s[i].e, XFEROPT_CAINFO, ca);
    xfer_easy_setopt(s[i].e, XFEROPT_WRITEFUNCTION, sink);
    xfer_easy_setopt(s[i].e, XFEROPT_WRITEDATA, &s[i].got);
    xfer_easy_setopt(s[i].e, XFEROPT_PRIVATE, &s[i]);
  }
  long connects = 0;
  run_requests(m, s, conns, warm, &connects);
  long before = calls;
  fail_at = -1; /* from here, XFER_PROBE_LOG_SIZES names what is allocated */
  connects = 0;
  run_requests(m, s, conns, total, &connects);
  long steady_allocs = calls - before;
  fail_at = 0;
  printf("warmup_allocs=%ld steady_allocs=%ld new_connections=%ld\n", before, steady_allocs,
         connects);
  for (long i = 0; i < conns; i++)
    xfer_easy_cleanup(s[i].e);
  free(s);
  xfer_multi_cleanup(m);
  xfer_global_cleanup();
  return 0;
}

/* ---- torture ------------------------------------------------------------------- */

/* One GET; 1 when it succeeded, 0 when something failed for lack of memory. */
static int run_once(const char *url, const char *ca) {
  int ok = 0;
  size_t got = 0;
  xfer_multi *m = xfer_multi_init();
  xfer_easy *e = xfer_easy_init();
  if (!m || !e)
    goto out;
  xfer_code rc = xfer_easy_setopt(e, XFEROPT_URL, url);
  if (rc == XFERE_OK)
    rc = xfer_easy_setopt(e, XFEROPT_CAINFO, ca);
  if (rc != XFERE_OK) {
    if (rc != XFERE_OUT_OF_MEMORY)
      fail("setopt with allocation %ld failing gave %d", fail_at, rc);
    goto out;
  }
  xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, sink);
  xfer_easy_setopt(e, XFEROPT_WRITEDATA, &got);
  xfer_mcode mc = xfer_multi_add_handle(m, e);
  if (mc != XFERM_OK) {
    if (mc != XFERM_OUT_OF_MEMORY)
      fail("add with allocation %ld failing gave %d", fail_at, mc);
    goto out;
  }
  uint64_t end = now_ms() + 10000;
  for (;;) {
    int running;
    mc = xfer_multi_perform(m, &running);
    if (mc != XFERM_OK) {
      if (mc != XFERM_OUT_OF_MEMORY)
        fail("perform with allocation %ld failing gave %d", fail_at, mc);
      break;
    }
    int left;
    xfer_msg *msg = xfer_multi_info_read(m, &left);
    if (msg) {
      if (msg->data.result == XFERE_OK) {
        if (got != 1024)
          fail("allocation %ld failing: %zu body bytes", fail_at, got);
        ok = 1;
      } else if (msg->data.result != XFERE_OUT_OF_MEMORY) {
        char err[XFER_ERROR_SIZE] = "";
        fail("allocation %ld failing gave code %d", fail_at, msg->data.result);
        (void)err;
      }
      break;
    }
    if (now_ms() > end)
      fail("run with allocation %ld failing did not finish", fail_at);
    mc = xfer_multi_poll(m, NULL, 0, 100, NULL);
    if (mc != XFERM_OK && mc != XFERM_OUT_OF_MEMORY)
      fail("poll with allocation %ld failing gave %d", fail_at, mc);
  }
  xfer_multi_remove_handle(m, e);
out:
  xfer_easy_cleanup(e);
  xfer_multi_cleanup(m);
  return ok;
}

static int torture(const char *url, const char *ca, long step) {
  if (xfer_global_init_mem(h_malloc, h_free, h_realloc, h_strdup, h_calloc) != XFERE_OK)
    fail("global_init_mem");
  /* The first runs fill the TLS library's process-wide tables, which live
   * until global cleanup and belong to no scenario: wolfSSL's FP_ECC cache
   * builds the generator's 256-point table on its third use. */
  for (int i = 0; i < 4; i++)
    if (!run_once(url, ca))
      fail("warm-up run %d failed", i);
  long n, runs = 0;
  uint64_t end = now_ms() + 500000;
  for (n = 1; n < 1000000; n += n < 64 ? 1 : step) {
    calls = 0;
    fail_at = n;
    int ok = run_once(url, ca);
    runs++;
    if (calls < n) {
      if (!ok)
        fail("the run without a failure did not succeed");
      break;
    }
    if (now_ms() > end)
      fail("torture did not finish in 500 s (at allocation %ld)", n);
  }
  fail_at = 0;
  printf("allocations=%ld runs=%ld\n", n, runs);
  xfer_global_cleanup();
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "steady") == 0)
    return steady(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atol(argv[6]));
  if (argc == 5 && strcmp(argv[1], "torture") == 0)
    return torture(argv[2], argv[3], atol(argv[4]) > 0 ? atol(argv[4]) : 1);
  fprintf(stderr, "usage: %s steady URL CA CONNS WARMUP REQUESTS | torture URL CA STEP\n",
          argv[0]);
  return 2;
}
