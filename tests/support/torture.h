/* Allocation-failure torture for the net suites (prefix xt_torture, xt_oom).
 *
 * A scenario is one function that sets up its own multi and handles, runs
 * its transfers to the end and cleans everything up. xt_torture() installs
 * counting allocator hooks (the library's, runtime/alloc.h, which the TLS
 * libraries' allocations reach too where the library accepted them), runs
 * the scenario once untouched to count its allocations, then again and again
 * with its Nth allocation failing, until a run completes without reaching
 * the failing allocation. Each run must
 *   - end in success, or in the out-of-memory code of a call or a transfer
 *     (the scenario checks that with xt_oom_code() / xt_oom_mcode(), which
 *     also refuse an out-of-memory code when no allocation was failed);
 *   - leave no allocation of the library alive once the scenario has cleaned
 *     up (resolver threads that outlive their multi by design get a bounded
 *     wait to drop theirs);
 *   - not crash (Criterion reports a signal).
 *
 * Which points run, from the environment:
 *   XFER_TORTURE=1        every point (tools/torture.sh); without it, a slice:
 *                         at most XT_TORTURE_SLICE points spread evenly over
 *                         the untouched run's allocations (always point 1);
 *   XFER_TORTURE_MAX=N    at most N points per scenario (either mode);
 *   XFER_TORTURE_STEP=S   every Sth point (S >= 1), overriding the spread;
 *   XFER_TORTURE_START=F  the first point (default 1), so that S jobs with
 *                         STEP=S and START=1..S share the points out;
 *   XFER_TORTURE_TRACE=1  print the call stack of each refused allocation.
 * One line per scenario on stderr names its points and runs:
 *   "torture NAME: allocations=A points=P runs=R failed=F tolerated=T full=0|1"
 * where A is the untouched run's allocations, P the largest point reached,
 * F the runs that ended in out of memory and T the runs where the library
 * absorbed the failure and still succeeded. */
#ifndef XFER_TESTS_TORTURE_H
#define XFER_TESTS_TORTURE_H

#include "xfer/xfer.h"

/* Points of the default slice: enough to cross every phase of a scenario
 * (set-up, connect, head, body, done, cleanup) at a few allocations' stride
 * while keeping a scenario's slice to a second or two on every backend. */
#define XT_TORTURE_SLICE 40

/* Returns 1 when the scenario succeeded, 0 when it ended in out of memory;
 * asserts (cr_assert) on anything else. */
typedef int (*xt_torture_fn)(void *arg);

struct xt_torture_stats {
  long allocations; /* in the untouched run */
  long points;      /* largest point failed */
  long runs;        /* runs with a point failing */
  long failed;      /* ... that ended in out of memory */
  long tolerated;   /* ... that still succeeded */
  int full;         /* every point up to the end was run */
};

/* Runs fn(arg) under the driver above; stats may be NULL. */
void xt_torture(const char *name, xt_torture_fn fn, void *arg, struct xt_torture_stats *stats);

/* For scenarios: the point failing in this run (0 in the untouched run), and
 * whether its allocation has been refused yet. */
long xt_torture_point(void);
int xt_torture_hit(void);

/* Check a result inside a scenario: 1 for OK, 0 for the out-of-memory code
 * when an allocation was refused; any other code fails the test, naming
 * what and the point. */
int xt_oom_code(xfer_code rc, const char *what);
int xt_oom_mcode(xfer_mcode mc, const char *what);

/* The counting hooks alone, for tests that drive the points themselves:
 * install, then per run reset (fail_at 0: none) and read. */
void xt_torture_hooks_install(void);
void xt_torture_hooks_remove(void);
void xt_torture_reset(long fail_at);
long xt_torture_calls(void);
long xt_torture_live(void);
/* Waits up to ms for the live count to reach 0; returns it. */
long xt_torture_settle(int ms);

#endif
