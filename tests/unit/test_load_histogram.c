/* xfer-load's latency histogram: bucket layout, percentiles against an exact
 * nearest-rank computation, and the edges (empty, one value, overflow).
 * The histogram is part of the tool, not of the library, so its source is
 * compiled into this test directly. */
#include "../../tools/xfer-load/histogram.c"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#define US UINT64_C(1000)
#define MS (UINT64_C(1000) * US)
#define S  (UINT64_C(1000) * MS)

/* The histogram is some 24 KiB, too much for a comfortable stack frame in a
 * test worker; one static instance serves each test (Criterion runs each
 * test in its own process). */
static struct load_histogram hist;

/* A fixed-seed generator, so that a failure reproduces. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng_next(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of sorted values, the percentile given
 * in tenths of a percent so that the rank is computed without rounding. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, unsigned permille) {
  size_t rank = (size_t)(((uint64_t)permille * n + 999) / 1000);
  if (rank == 0)
    rank = 1;
  return sorted[rank - 1];
}

/* The histogram reports the midpoint of the bucket that holds the exact
 * value, so it may be off by half that bucket's width. */
static void check_close(uint64_t got, uint64_t exact, const char *what) {
  uint64_t tolerance = histogram_resolution_ns(exact) / 2;
  uint64_t diff = got > exact ? got - exact : exact - got;
  cr_assert_leq(diff, tolerance, "%s: got %llu ns, exact %llu ns, tolerance %llu ns", what,
                (unsigned long long)got, (unsigned long long)exact, (unsigned long long)tolerance);
}

static void check_against_exact(uint64_t *values, size_t n) {
  static const unsigned permilles[] = {1, 100, 250, 500, 750, 900, 950, 990, 999, 1000};
  histogram_init(&hist);
  for (size_t i = 0; i < n; i++)
    histogram_record(&hist, values[i]);
  qsort(values, n, sizeof values[0], cmp_u64);
  for (size_t i = 0; i < sizeof permilles / sizeof permilles[0]; i++) {
    char what[32];
    snprintf(what, sizeof what, "p%.1f", permilles[i] / 10.0);
    check_close(histogram_percentile(&hist, permilles[i] / 10.0),
                exact_percentile(values, n, permilles[i]), what);
  }
  cr_assert_eq(hist.count, n);
  cr_assert_eq(hist.min_ns, values[0]);
  cr_assert_eq(hist.max_ns, values[n - 1]);
}

Test(load_histogram, empty_reports_zero) {
  histogram_init(&hist);
  cr_assert_eq(histogram_percentile(&hist, 50.0), 0);
  cr_assert_eq(histogram_percentile(&hist, 100.0), 0);
  cr_assert_eq(histogram_mean_ns(&hist), 0.0);
}

Test(load_histogram, one_value_is_every_percentile) {
  histogram_init(&hist);
  histogram_record(&hist, 12345 * US + 678);
  /* Clamping to the observed range makes a single sample exact. */
  cr_assert_eq(histogram_percentile(&hist, 50.0), 12345 * US + 678);
  cr_assert_eq(histogram_percentile(&hist, 99.9), 12345 * US + 678);
  cr_assert_eq(histogram_percentile(&hist, 100.0), 12345 * US + 678);
}

Test(load_histogram, microsecond_resolution_below_one_millisecond) {
  for (uint64_t us = 0; us < 1024; us++)
    cr_assert_eq(histogram_resolution_ns(us * US), US, "at %llu us", (unsigned long long)us);
}

Test(load_histogram, relative_error_stays_under_one_percent_up_to_sixty_seconds) {
  for (uint64_t ns = 1 * MS; ns <= 60 * S; ns += ns / 97 + 1) {
    uint64_t width = histogram_resolution_ns(ns);
    cr_assert_leq(width * 128, ns + 128 * US, "bucket %llu ns wide at %llu ns",
                  (unsigned long long)width, (unsigned long long)ns);
    cr_assert_lt((double)width / (double)ns, 0.01);
  }
}

Test(load_histogram, buckets_tile_the_range_in_order) {
  /* Walking the microseconds up to the top of the range, the bucket index
   * never goes back and never skips one. */
  unsigned prev = bucket_of(0);
  cr_assert_eq(prev, 0);
  for (uint64_t us = 1; us < (UINT64_C(1) << LOAD_HIST_TOP_BITS); us++) {
    unsigned b = bucket_of(us);
    cr_assert(b == prev || b == prev + 1, "at %llu us: bucket %u after %u", (unsigned long long)us,
              b, prev);
    if (b != prev) {
      uint64_t lo, width;
      bucket_range(b, &lo, &width);
      cr_assert_eq(lo, us, "bucket %u should start at %llu us", b, (unsigned long long)us);
    }
    prev = b;
  }
  cr_assert_eq(prev, LOAD_HIST_BUCKETS - 1);
}

Test(load_histogram, uniform_microseconds_match_exact_percentiles) {
  static uint64_t values[1000];
  for (size_t i = 0; i < 1000; i++)
    values[i] = (i + 1) * US;
  check_against_exact(values, 1000);
  cr_assert_eq(histogram_percentile(&hist, 100.0), 1000 * US);
  /* Nearest rank: p99.9 of 1000 samples is the 999th, not the 1000th. */
  check_close(histogram_percentile(&hist, 99.9), 999 * US, "p99.9 rank");
  cr_assert_lt(histogram_percentile(&hist, 99.9), 1000 * US);
}

Test(load_histogram, rank_rounds_up) {
  histogram_init(&hist);
  histogram_record(&hist, 10 * US);
  histogram_record(&hist, 500 * US);
  /* Half of two samples is the first; anything above half is the second. */
  check_close(histogram_percentile(&hist, 50.0), 10 * US, "p50 of two");
  check_close(histogram_percentile(&hist, 50.1), 500 * US, "p50.1 of two");
}

Test(load_histogram, rank_survives_floating_point_rounding) {
  /* 99.9 has no exact binary form: 99.9 * 41000 / 100 comes out a hair
   * above 40959, and a plain ceiling would take the 40960th sample. The
   * 40959 fast samples and the 41 slow ones put the two ranks apart. */
  histogram_init(&hist);
  for (int i = 0; i < 40959; i++)
    histogram_record(&hist, 10 * US);
  for (int i = 0; i < 41; i++)
    histogram_record(&hist, 500 * US);
  check_close(histogram_percentile(&hist, 99.9), 10 * US, "p99.9 of 41000");
}

Test(load_histogram, log_spread_values_match_exact_percentiles) {
  /* Latencies spread over every power of two from 1 us to 60 s, as a run
   * with a few stalls would show them: a random octave, then a random value
   * in it, with nanoseconds (integer arithmetic keeps libm out of the test). */
  enum { N = 200000 };
  static uint64_t values[N];
  for (size_t i = 0; i < N; i++) {
    uint64_t r = rng_next();
    uint64_t octave_us = UINT64_C(1) << (r % LOAD_HIST_TOP_BITS);
    uint64_t ns = octave_us * US + (r >> 8) % (octave_us * US);
    values[i] = ns < 60 * S ? ns : 60 * S;
  }
  check_against_exact(values, N);
}

Test(load_histogram, skewed_values_match_exact_percentiles) {
  /* Mostly tens of microseconds with a thin tail of milliseconds: the shape
   * of a loopback run, where p99.9 sits far from p50. */
  enum { N = 100000 };
  static uint64_t values[N];
  for (size_t i = 0; i < N; i++) {
    uint64_t r = rng_next();
    values[i] = (r % 1000 == 0) ? 1 * MS + (r >> 20) % (50 * MS) : 20 * US + (r >> 20) % (30 * US);
  }
  check_against_exact(values, N);
}

Test(load_histogram, values_past_the_top_are_counted_and_max_is_exact) {
  histogram_init(&hist);
  histogram_record(&hist, 5 * US);
  histogram_record(&hist, 100 * S);
  histogram_record(&hist, 1000 * S);
  cr_assert_eq(hist.count, 3);
  cr_assert_eq(hist.max_ns, 1000 * S);
  cr_assert_eq(histogram_percentile(&hist, 100.0), 1000 * S);
  cr_assert_leq(histogram_percentile(&hist, 99.0), 1000 * S);
  check_close(histogram_percentile(&hist, 33.0), 5 * US, "p33");
}

Test(load_histogram, mean_is_exact) {
  histogram_init(&hist);
  histogram_record(&hist, 1 * US);
  histogram_record(&hist, 2 * US);
  histogram_record(&hist, 6 * US);
  cr_assert_float_eq(histogram_mean_ns(&hist), 3000.0, 1e-9);
}

Test(load_histogram, memory_is_fixed_and_small) {
  /* The whole point: one fixed block, whatever the number of requests. */
  cr_assert_leq(sizeof(struct load_histogram), 32 * 1024);
}
