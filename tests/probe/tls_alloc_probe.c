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
 *       STEP, until a run no longer reaches the Nth; checks every run ends
 *       in success or OUT_OF_MEMORY and leaves as many allocations alive as
 *       after the warm-up; prints "allocations=N runs=R". LeakSanitizer
 *       (the ASan build runs this too) also tells memory lost from the
 *       caches both libraries fill for the whole process (OpenSSL's method
 *       store, wolfSSL's FP_ECC table).
 *   tls_alloc_probe torture-pool URL CAFILE STEP
 *       the same for three GETs on two connections, twice (queueing, then
 *       reuse); one refused allocation may cost one transfer, the others
 *       must get their bytes.
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
static int hit;   /* the failing allocation came in this run */
static long live; /* allocations through the hooks not yet freed */

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
  if (calls == fail_at)
    hit = 1;
  return calls == fail_at;
}

static void *counted(void *p) {
  live += p != NULL;
  return p;
}
static void *h_malloc(size_t n) { return should_fail(n) ? NULL : counted(malloc(n)); }
static void *h_calloc(size_t a, size_t b) {
  return should_fail(a * b) ? NULL : counted(calloc(a, b));
}
static void *h_realloc(void *old, size_t n) {
  if (should_fail(n))
    return NULL;
  void *p = realloc(old, n);
  if (!old)
    counted(p);
  else if (!p && n == 0)
    live--; /* glibc's realloc(p, 0) frees p */
  return p;
}
static char *h_strdup(const char *s) { return should_fail(strlen(s)) ? NULL : counted(strdup(s)); }
static void h_free(void *p) {
  live -= p != NULL;
  free(p);
}

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

/* A batch: n GETs on one multi with at most maxhost connections, run waves
 * times (the later waves reuse the pooled connections). Returns 1 when all
 * succeeded, 0 when something failed for lack of memory. One refused
 * allocation may cost one transfer; the others must still get their 1,024
 * bytes, unless a multi-wide call reported out of memory. */
#define MAX_BATCH 8

static int oom_or_ok(int is_ok, int is_oom, const char *what, int code) {
  if (is_ok)
    return 1;
  if (!is_oom)
    fail("%s with allocation %ld failing gave %d", what, fail_at, code);
  if (!hit)
    fail("%s gave out of memory with allocation %ld failing, not reached", what, fail_at);
  return 0;
}
static int code_ok(xfer_code rc, const char *what) {
  return oom_or_ok(rc == XFERE_OK, rc == XFERE_OUT_OF_MEMORY, what, (int)rc);
}
static int mcode_ok(xfer_mcode mc, const char *what) {
  return oom_or_ok(mc == XFERM_OK, mc == XFERM_OUT_OF_MEMORY, what, (int)mc);
}

static int run_batch(const char *url, const char *ca, int n, int waves, long maxhost) {
  xfer_easy *e[MAX_BATCH] = {0};
  size_t got[MAX_BATCH] = {0};
  int lost[MAX_BATCH] = {0}, added[MAX_BATCH] = {0};
  int nlost = 0, multi_oom = 0;
  xfer_multi *m = xfer_multi_init();
  if (!m)
    return oom_or_ok(0, 1, "multi_init", 0);
  if (maxhost && !mcode_ok(xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, maxhost), "setopt"))
    multi_oom = 1;
  for (int i = 0; i < n; i++) {
    e[i] = xfer_easy_init();
    if (!e[i] || !code_ok(xfer_easy_setopt(e[i], XFEROPT_URL, url), "setopt URL") ||
        !code_ok(xfer_easy_setopt(e[i], XFEROPT_CAINFO, ca), "setopt CAINFO")) {
      if (!e[i])
        oom_or_ok(0, 1, "easy_init", 0);
      lost[i] = 1;
      nlost++;
      continue;
    }
    xfer_easy_setopt(e[i], XFEROPT_WRITEFUNCTION, sink);
    xfer_easy_setopt(e[i], XFEROPT_WRITEDATA, &got[i]);
    xfer_easy_setopt(e[i], XFEROPT_PRIVATE, &got[i]);
  }
  for (int w = 0; w < waves && !multi_oom; w++) {
    int pending = 0;
    for (int i = 0; i < n; i++) {
      if (lost[i])
        continue;
      got[i] = 0;
      if (mcode_ok(xfer_multi_add_handle(m, e[i]), "add_handle")) {
        added[i] = 1;
        pending++;
      } else {
        lost[i] = 1;
        nlost++;
      }
    }
    uint64_t end = now_ms() + 10000;
    while (pending > 0) {
      int running;
      if (!mcode_ok(xfer_multi_perform(m, &running), "perform")) {
        multi_oom = 1;
        break;
      }
      xfer_msg *msg;
      int left;
      while ((msg = xfer_multi_info_read(m, &left))) {
        int i;
        for (i = 0; i < n && e[i] != msg->easy_handle; i++)
          ;
        if (i == n || !added[i])
          fail("a done message for no pending transfer");
        pending--;
        if (code_ok(msg->data.result, "a transfer")) {
          if (got[i] != 1024)
            fail("allocation %ld failing: %zu body bytes", fail_at, got[i]);
        } else {
          lost[i] = 1;
          nlost++;
        }
        xfer_multi_remove_handle(m, e[i]);
        added[i] = 0;
      }
      if (pending == 0)
        break;
      if (now_ms() > end)
        fail("run with allocation %ld failing did not finish", fail_at);
      if (!mcode_ok(xfer_multi_poll(m, NULL, 0, 100, NULL), "poll")) {
        multi_oom = 1;
        break;
      }
    }
  }
  if (!multi_oom && nlost > 1)
    fail("allocation %ld failing cost %d transfers, not one", fail_at, nlost);
  for (int i = 0; i < n; i++) {
    if (added[i])
      xfer_multi_remove_handle(m, e[i]);
    xfer_easy_cleanup(e[i]);
  }
  xfer_multi_cleanup(m);
  return !multi_oom && nlost == 0;
}

/* Runs the batch with its Nth allocation failing, N = 1..64 then every
 * step, until a run no longer reaches the failing allocation. After each
 * run the live allocations must be back at what they were after the
 * warm-up, within CACHE_SLACK: what the TLS libraries keep for the whole
 * process is made by then, except that OpenSSL fills some caches of its
 * library context lazily, depending on how the handshakes interleave (seen:
 * 4 allocations of its decoder and EC group caches, under
 * OSSL_DECODER_CTX_new_for_pkey, kept until global cleanup). A leak of the
 * runs themselves grows with the thousands of runs and passes the slack
 * quickly; LeakSanitizer judges what is left at exit. */
#define CACHE_SLACK 64

static int torture(const char *url, const char *ca, long step, int n, int waves, long maxhost) {
  if (xfer_global_init_mem(h_malloc, h_free, h_realloc, h_strdup, h_calloc) != XFERE_OK)
    fail("global_init_mem");
  /* The first runs fill the TLS library's process-wide tables, which live
   * until global cleanup and belong to no scenario: wolfSSL's FP_ECC cache
   * builds the generator's 256-point table on its third use. */
  for (int i = 0; i < 4; i++)
    if (!run_batch(url, ca, n, waves, maxhost))
      fail("warm-up run %d failed", i);
  long base = live;
  long p, runs = 0;
  uint64_t end = now_ms() + 500000;
  for (p = 1; p < 1000000; p += p < 64 ? 1 : step) {
    calls = 0;
    hit = 0;
    fail_at = p;
    int ok = run_batch(url, ca, n, waves, maxhost);
    int reached = hit;
    fail_at = 0;
    runs++;
    if (live > base + CACHE_SLACK || live < base - CACHE_SLACK)
      fail("allocation %ld failing left %ld allocations alive (%ld after the warm-up)", p, live,
           base);
    if (!reached) {
      if (!ok)
        fail("the run without a failure did not succeed");
      break;
    }
    if (now_ms() > end)
      fail("torture did not finish in 500 s (at allocation %ld)", p);
  }
  printf("allocations=%ld runs=%ld\n", p, runs);
  xfer_global_cleanup();
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "steady") == 0)
    return steady(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atol(argv[6]));
  long step = argc == 5 && atol(argv[4]) > 0 ? atol(argv[4]) : 1;
  if (argc == 5 && strcmp(argv[1], "torture") == 0)
    return torture(argv[2], argv[3], step, 1, 1, 0);
  /* Three GETs on two connections, twice: one queued in the first wave,
   * every connection reused in the second. */
  if (argc == 5 && strcmp(argv[1], "torture-pool") == 0)
    return torture(argv[2], argv[3], step, 3, 2, 2);
  fprintf(stderr,
          "usage: %s steady URL CA CONNS WARMUP REQUESTS | torture URL CA STEP"
          " | torture-pool URL CA STEP\n",
          argv[0]);
  return 2;
}
