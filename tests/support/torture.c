/* See torture.h. */
#include "torture.h"

#include <criterion/criterion.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/alloc.h"
#include "xtest.h"

/* Atomic: the resolver threads free through the hooks, and may do so after
 * their multi is gone. */
static atomic_long calls;   /* allocation calls in this run */
static atomic_long fail_at; /* the call that fails; 0: none */
static atomic_long live;    /* allocations not yet freed */
static atomic_int hit;      /* the failing call came */

static int should_fail(void) {
  long n = atomic_fetch_add(&calls, 1) + 1;
  if (n == atomic_load(&fail_at)) {
    atomic_store(&hit, 1);
    if (getenv("XFER_TORTURE_TRACE")) {
      /* Where the refused allocation was asked for, to find the code that
       * mishandled it (build with frame pointers or debug info). */
      void *frames[16];
      fprintf(stderr, "torture: allocation %ld refused here:\n", n);
      backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
    }
    return 1;
  }
  return 0;
}

static void *t_malloc(size_t n) {
  if (should_fail())
    return NULL;
  void *p = malloc(n);
  if (p)
    atomic_fetch_add(&live, 1);
  return p;
}

static void *t_calloc(size_t a, size_t b) {
  if (should_fail())
    return NULL;
  void *p = calloc(a, b);
  if (p)
    atomic_fetch_add(&live, 1);
  return p;
}

static void *t_realloc(void *old, size_t n) {
  if (should_fail())
    return NULL;
  void *p = realloc(old, n);
  if (p && !old)
    atomic_fetch_add(&live, 1);
  else if (!p && old && n == 0)
    atomic_fetch_sub(&live, 1); /* glibc's realloc(p, 0) frees p */
  return p;
}

static char *t_strdup(const char *s) {
  if (should_fail())
    return NULL;
  char *p = strdup(s);
  if (p)
    atomic_fetch_add(&live, 1);
  return p;
}

static void t_free(void *p) {
  if (p)
    atomic_fetch_sub(&live, 1);
  free(p);
}

void xt_torture_hooks_install(void) {
  xfer__alloc_set(t_malloc, t_free, t_realloc, t_strdup, t_calloc);
}

void xt_torture_hooks_remove(void) { xfer__alloc_set(malloc, free, realloc, strdup, calloc); }

void xt_torture_reset(long n) {
  atomic_store(&calls, 0);
  atomic_store(&live, 0);
  atomic_store(&hit, 0);
  atomic_store(&fail_at, n);
}

long xt_torture_calls(void) { return atomic_load(&calls); }
long xt_torture_live(void) { return atomic_load(&live); }
long xt_torture_point(void) { return atomic_load(&fail_at); }
int xt_torture_hit(void) { return atomic_load(&hit); }

long xt_torture_settle(int ms) {
  uint64_t end = xt_now_ms() + (uint64_t)ms;
  while (atomic_load(&live) != 0 && xt_now_ms() < end) {
    struct timespec ts = {0, 1000000}; /* 1 ms: a resolver thread's exit */
    nanosleep(&ts, NULL);
  }
  return atomic_load(&live);
}

int xt_oom_code(xfer_code rc, const char *what) {
  if (rc == XFERE_OK)
    return 1;
  cr_assert_eq(rc, XFERE_OUT_OF_MEMORY, "%s with allocation %ld failing gave %d (%s)", what,
               xt_torture_point(), rc, xfer_easy_strerror(rc));
  cr_assert(xt_torture_hit(), "%s gave out of memory with allocation %ld failing, not reached",
            what, xt_torture_point());
  return 0;
}

int xt_oom_mcode(xfer_mcode mc, const char *what) {
  if (mc == XFERM_OK)
    return 1;
  cr_assert_eq(mc, XFERM_OUT_OF_MEMORY, "%s with allocation %ld failing gave %d (%s)", what,
               xt_torture_point(), mc, xfer_multi_strerror(mc));
  cr_assert(xt_torture_hit(), "%s gave out of memory with allocation %ld failing, not reached",
            what, xt_torture_point());
  return 0;
}

static long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  if (!v || !*v)
    return dflt;
  char *end;
  long n = strtol(v, &end, 10);
  cr_assert(*end == 0 && n >= 0, "%s=%s is not a number", name, v);
  return n;
}

/* Resolver threads exit on their own after their multi's cleanup; this is
 * how long their last free may take on a loaded two-core machine. */
#define SETTLE_MS 5000

/* A bound on points so that a scenario whose allocations never end still
 * stops: far above any scenario's count (the largest has a few thousand). */
#define POINTS_CAP 1000000L

void xt_torture(const char *name, xt_torture_fn fn, void *arg, struct xt_torture_stats *stats) {
  int full = env_long("XFER_TORTURE", 0) != 0;
  long max = env_long("XFER_TORTURE_MAX", full ? POINTS_CAP : XT_TORTURE_SLICE);
  long step = env_long("XFER_TORTURE_STEP", 0);
  long start = env_long("XFER_TORTURE_START", 1);
  if (start < 1)
    start = 1;
  struct xt_torture_stats st = {0};

  xt_torture_hooks_install();
  xt_torture_reset(0);
  cr_assert(fn(arg), "torture %s: the run without a failure did not succeed", name);
  st.allocations = xt_torture_calls();
  cr_assert_eq(xt_torture_settle(SETTLE_MS), 0, "torture %s: the untouched run leaked %ld", name,
               xt_torture_live());
  cr_assert_gt(st.allocations, 0, "torture %s: no allocation reached the hooks", name);
  if (step == 0)
    step = full ? 1 : (st.allocations + max - 1) / (max ? max : 1);
  if (step < 1)
    step = 1;

  long n, count = 0;
  for (n = start; count < max && n < POINTS_CAP; n += step, count++) {
    xt_torture_reset(n);
    int ok = fn(arg);
    int reached = xt_torture_hit();
    atomic_store(&fail_at, 0); /* the count of live allocations goes on */
    long left = xt_torture_settle(SETTLE_MS);
    cr_assert_eq(left, 0, "torture %s: allocation %ld failing leaked %ld allocations", name, n,
                 left);
    st.runs++;
    st.points = n;
    if (!reached) {
      /* Past the scenario's last allocation: the run was untouched. */
      cr_assert(ok, "torture %s: the run past the last allocation (%ld) failed", name, n);
      st.full = step == 1 && start == 1;
      break;
    }
    if (ok)
      st.tolerated++;
    else
      st.failed++;
  }
  xt_torture_hooks_remove();
  fprintf(stderr,
          "torture %s: allocations=%ld points=%ld runs=%ld failed=%ld tolerated=%ld full=%d\n",
          name, st.allocations, st.points, st.runs, st.failed, st.tolerated, st.full);
  if (full && max == POINTS_CAP && step == 1 && start == 1)
    cr_assert(st.full, "torture %s: runs still reached the failing allocation at %ld", name, n);
  if (stats)
    *stats = st;
}
