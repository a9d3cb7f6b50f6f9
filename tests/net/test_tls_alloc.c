/* Memory over HTTPS, on every backend with each TLS library, measured by
 * tests/probe/tls_alloc_probe.c in a process of its own (OpenSSL takes
 * allocator hooks only before its first allocation, which in a Criterion
 * process has already happened: see the probe).
 *
 * Steady state: after a warm-up, 1,000 keep-alive HTTPS requests over 8
 * connections make zero calls to the allocator hooks of
 * xfer_global_init_mem(), through which the TLS library's allocations go
 * too. Failure: an HTTPS GET is run again and again with its Nth
 * allocation failing (the library's own included), N = 1, 2, ... until a
 * run needs fewer than N; every run ends in success or
 * XFERE_OUT_OF_MEMORY, leaving no more allocations alive than after the
 * warm-up, and in the ASan build LeakSanitizer checks that nothing was
 * lost. The same for three GETs on two connections, twice (queueing, then
 * reuse), where one refused allocation may cost one transfer only: a slice
 * of its points here, all of them under tools/torture.sh. The probe bounds its own time (60 s for the steady
 * run, 500 s for the torture) and ctest the whole file; a Criterion
 * .timeout is not used, as with two jobs Criterion 2.4 leaks a 48-byte
 * timer object per timed test, which LeakSanitizer then reports. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "certs.h"
#include "nginx.h"
#include "xtest.h"

static struct ts_certs *certs;
static struct ts_nginx *ng;
static char ca[512];

static void setup(void) {
  certs = ts_certs_make();
  cr_assert(certs);
  ng = xt_tls_nginx(certs, "ipsan", NULL, ca, sizeof ca);
}

static void teardown(void) {
  ts_nginx_stop(ng);
  ts_certs_free(certs);
}

TestSuite(tls_alloc, .init = setup, .fini = teardown);

/* Runs the probe with args; returns its first line of output and asserts
 * it exited 0. */
static void probe(const char *args, char *out, size_t len) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", XFER_TLS_ALLOC_PROBE, args);
  FILE *p = popen(cmd, "r");
  cr_assert(p, "could not run the probe");
  out[0] = '\0';
  char line[512];
  size_t used = 0;
  while (fgets(line, sizeof line, p)) {
    size_t n = strlen(line);
    if (used + n < len) {
      memcpy(out + used, line, n + 1);
      used += n;
    }
  }
  int st = pclose(p);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "probe %s: status %d: %s", args, st, out);
}

Test(tls_alloc, https_keepalive_requests_allocate_nothing) {
  char url[128], args[1024], out[4096];
  ts_nginx_url(ng, "/small", url, sizeof url);
  snprintf(args, sizeof args, "steady '%s' '%s' 8 64 1000", url, ca);
  probe(args, out, sizeof out);
  long warm = -1, steady = -1, conns = -1;
  cr_assert_eq(sscanf(out, "warmup_allocs=%ld steady_allocs=%ld new_connections=%ld", &warm,
                      &steady, &conns),
               3, "probe said: %s", out);
  /* A handshake alone makes hundreds: fewer means the TLS library's
   * allocations do not reach the hooks and the zero below proves nothing. */
  cr_assert_gt(warm, 8 * 200, "only %ld allocations in the warm-up: %s", warm, out);
  cr_assert_eq(conns, 0, "steady-state requests opened connections: %s", out);
  cr_assert_eq(steady, 0, "%ld allocations in 1000 steady-state HTTPS requests", steady);
}

Test(tls_alloc, every_allocation_of_an_https_get_fails_cleanly) {
  char url[128], args[1024], out[4096];
  ts_nginx_url(ng, "/1k", url, sizeof url);
  snprintf(args, sizeof args, "torture '%s' '%s' 1", url, ca);
  probe(args, out, sizeof out);
  long n = -1, runs = -1;
  cr_assert_eq(sscanf(out, "allocations=%ld runs=%ld", &n, &runs), 2, "probe said: %s", out);
  cr_assert_gt(n, 300, "only %ld allocations: the TLS library is not on the hooks", n);
  cr_assert_eq(runs, n, "%ld runs for %ld allocation points", runs, n);
  /* The line tools/torture.sh collects, in tests/support/torture.h's form. */
  fprintf(stderr, "torture https.%s.%s: allocations=%ld points=%ld runs=%ld full=1\n",
          getenv("XFER_BACKEND") ? getenv("XFER_BACKEND") : "auto",
          getenv("XFER_SSL_BACKEND") ? getenv("XFER_SSL_BACKEND") : "default", n - 1, n, runs);
}

/* Three HTTPS GETs on two connections, twice (one queued, then every
 * connection reused). The probe's first 64 points and then every 40th here
 * (a few seconds); every point with XFER_TORTURE=1 (tools/torture.sh), or
 * every XFER_TORTURE_STEP-th. */
Test(tls_alloc, every_allocation_of_https_pool_reuse_fails_cleanly) {
  char url[128], args[1024], out[4096];
  const char *all = getenv("XFER_TORTURE"), *stride = getenv("XFER_TORTURE_STEP");
  long step = stride && atol(stride) > 0 ? atol(stride) : all && atol(all) ? 1 : 40;
  ts_nginx_url(ng, "/1k", url, sizeof url);
  snprintf(args, sizeof args, "torture-pool '%s' '%s' %ld", url, ca, step);
  probe(args, out, sizeof out);
  long n = -1, runs = -1;
  cr_assert_eq(sscanf(out, "allocations=%ld runs=%ld", &n, &runs), 2, "probe said: %s", out);
  cr_assert_gt(n, 600, "only %ld allocations: two handshakes make more", n);
  fprintf(stderr, "torture https_pool.%s.%s: allocations=%ld points=%ld runs=%ld full=%d\n",
          getenv("XFER_BACKEND") ? getenv("XFER_BACKEND") : "auto",
          getenv("XFER_SSL_BACKEND") ? getenv("XFER_SSL_BACKEND") : "default", n - 1, n, runs,
          step == 1);
}
