/* A C face for Google Benchmark, so that xfer's benchmarks are written in the
 * library's own language. bench_shim.cc implements it over the C++ API and
 * holds main(); a benchmark file includes only this header.
 *
 *   static void bench_thing(struct xb_state *st)
 *   {
 *     long n = xb_range(st, 0);            // the benchmark's argument
 *     ... set up, untimed ...
 *     while (xb_keep_running(st))          // one call per timed iteration
 *       do_one_thing(n);
 *     xb_counter(st, "things/s", (double)xb_iterations(st), XB_RATE);
 *   }
 *
 *   XB_REGISTRATION(register_thing)
 *   {
 *     struct xb_bench *b = xb_register("thing", bench_thing, NULL);
 *     xb_arg_name(b, "n");
 *     xb_arg(b, 1);
 *     xb_arg(b, 64);
 *   }
 *
 * Registrations run as constructors, before main(), as BENCHMARK() does in
 * C++; any number of files can each carry their own. The usual flags work
 * (--benchmark_filter, --benchmark_repetitions, --benchmark_format=json...).
 *
 * Each xb_keep_running() is a call into the shim, a few nanoseconds that
 * Google Benchmark's inlined range-for would not cost; the loops benchmarked
 * here spend microseconds per iteration, so it does not show. */
#ifndef XFER_PERF_BENCH_H
#define XFER_PERF_BENCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One run of a benchmark (benchmark::State) and one registered benchmark
 * family (benchmark::internal::Benchmark); both are opaque. */
struct xb_state;
struct xb_bench;

typedef void (*xb_fn)(struct xb_state *st);

/* ---- inside a benchmark ---- */

/* True while another timed iteration is due; the timer starts on the first
 * call and stops when it returns false (State::KeepRunning). */
int xb_keep_running(struct xb_state *st);

/* The i-th argument of this run (State::range). */
int64_t xb_range(const struct xb_state *st, int i);

/* The data pointer given to xb_register(). */
void *xb_data(const struct xb_state *st);

/* Iterations run so far; after the loop, how many were timed. */
int64_t xb_iterations(const struct xb_state *st);

/* Items processed in total, reported as items_per_second. */
void xb_set_items(struct xb_state *st, int64_t items);

/* How a counter is reported (benchmark::Counter flags). */
enum xb_counter_flags {
  XB_PLAIN = 0,              /* the value as given */
  XB_RATE = 1 << 0,          /* divided by the run's time: "per second" */
  XB_PER_ITERATION = 1 << 1, /* divided by the iteration count */
};

/* A user counter; with repetitions Google Benchmark reports its mean,
 * median and spread like the timings. */
void xb_counter(struct xb_state *st, const char *name, double value, int flags);

/* A free-text note printed after the numbers of this run. */
void xb_set_label(struct xb_state *st, const char *label);

/* Marks the run failed with a reason; the caller must leave the timed loop
 * (break) and return. */
void xb_skip_with_error(struct xb_state *st, const char *why);

/* Stops and restarts the timer inside the loop, for work that must not be
 * measured. Each pair costs a clock read or two. */
void xb_pause_timing(struct xb_state *st);
void xb_resume_timing(struct xb_state *st);

/* ---- registration ---- */

/* Registers fn under name; data is handed back by xb_data(). Returns the
 * family, to which the setters below add arguments and options. */
struct xb_bench *xb_register(const char *name, xb_fn fn, void *data);

/* One more run with this argument (Benchmark::Arg); several xb_arg calls
 * give several runs. */
void xb_arg(struct xb_bench *b, int64_t arg);

/* Names the first argument in the report ("conns:64" instead of "64"). */
void xb_arg_name(struct xb_bench *b, const char *name);

/* A fixed iteration count instead of Google Benchmark's own estimate, so
 * that every run and every repetition does the same amount of work. */
void xb_fixed_iterations(struct xb_bench *b, int64_t n);

/* Times (and computes rates) in wall-clock time rather than the thread's
 * CPU time: for anything that waits on I/O. */
void xb_use_real_time(struct xb_bench *b);

/* Reports times in microseconds rather than nanoseconds. */
void xb_unit_us(struct xb_bench *b);

/* Declares a function that runs before main() to register benchmarks. */
#define XB_REGISTRATION(fn)                          \
  static void fn(void) __attribute__((constructor)); \
  static void fn(void)

#ifdef __cplusplus
}
#endif

#endif
