// The C face of Google Benchmark declared in bench.h, and the benchmarks'
// main(). The only C++ in perf/: everything else is C.
#include "bench.h"

#include <benchmark/benchmark.h>

// What a C benchmark holds: the C++ state plus the data pointer it was
// registered with. Lives on the stack of the lambda below for one run.
struct xb_state {
  benchmark::State *st;
  void *data;
};

// The C handle of a family is the C++ object itself.
struct xb_bench;
static benchmark::internal::Benchmark *family(struct xb_bench *b) {
  return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

extern "C" {

int xb_keep_running(struct xb_state *s) { return s->st->KeepRunning() ? 1 : 0; }

int64_t xb_range(const struct xb_state *s, int i) {
  return s->st->range(static_cast<std::size_t>(i));
}

void *xb_data(const struct xb_state *s) { return s->data; }

int64_t xb_iterations(const struct xb_state *s) {
  return static_cast<int64_t>(s->st->iterations());
}

void xb_set_items(struct xb_state *s, int64_t items) { s->st->SetItemsProcessed(items); }

void xb_counter(struct xb_state *s, const char *name, double value, int flags) {
  int f = benchmark::Counter::kDefaults;
  if (flags & XB_RATE)
    f |= benchmark::Counter::kIsRate;
  if (flags & XB_PER_ITERATION)
    f |= benchmark::Counter::kAvgIterations;
  s->st->counters[name] = benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(f));
}

void xb_set_label(struct xb_state *s, const char *label) { s->st->SetLabel(label); }

void xb_skip_with_error(struct xb_state *s, const char *why) { s->st->SkipWithError(why); }

void xb_pause_timing(struct xb_state *s) { s->st->PauseTiming(); }

void xb_resume_timing(struct xb_state *s) { s->st->ResumeTiming(); }

struct xb_bench *xb_register(const char *name, xb_fn fn, void *data) {
  benchmark::internal::Benchmark *b =
      benchmark::RegisterBenchmark(name, [fn, data](benchmark::State &st) {
        struct xb_state s = {&st, data};
        fn(&s);
      });
  return reinterpret_cast<struct xb_bench *>(b);
}

void xb_arg(struct xb_bench *b, int64_t arg) { family(b)->Arg(arg); }

void xb_arg_name(struct xb_bench *b, const char *name) { family(b)->ArgName(name); }

void xb_fixed_iterations(struct xb_bench *b, int64_t n) {
  family(b)->Iterations(static_cast<benchmark::IterationCount>(n));
}

void xb_use_real_time(struct xb_bench *b) { family(b)->UseRealTime(); }

void xb_unit_us(struct xb_bench *b) { family(b)->Unit(benchmark::kMicrosecond); }

} // extern "C"

// BENCHMARK_MAIN() spelled out: the registrations have already run as
// constructors by now.
int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
