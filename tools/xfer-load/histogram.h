/* Fixed-memory latency histogram for xfer-load.
 *
 * The buckets are log-linear in the manner of HdrHistogram: one bucket per
 * microsecond below LOAD_HIST_LINEAR_US, then every power-of-two range is cut
 * into LOAD_HIST_SUB equal sub-buckets, so a bucket is never wider than
 * 1/LOAD_HIST_SUB of the values it holds. Recording is a handful of integer
 * operations and never allocates, which is what lets the tool record every
 * request without disturbing the measurement. This header does not depend on
 * the xfer API so that the unit test can compile histogram.c on its own. */
#ifndef XFER_LOAD_HISTOGRAM_H
#define XFER_LOAD_HISTOGRAM_H

#include <stdint.h>

/* 1 us resolution up to 1.024 ms: loopback latencies of a few microseconds
 * must stay distinguishable, and 1024 is the power of two nearest to 1 ms. */
#define LOAD_HIST_LINEAR_BITS 10
#define LOAD_HIST_LINEAR_US   (UINT64_C(1) << LOAD_HIST_LINEAR_BITS)

/* 128 sub-buckets per power of two bound the relative error by 1/128, just
 * under the 1% that latency percentiles are usually quoted to. */
#define LOAD_HIST_SUB_BITS 7
#define LOAD_HIST_SUB      (UINT64_C(1) << LOAD_HIST_SUB_BITS)

/* 2^26 us is 67.1 s, above the 60 s that the tool promises to resolve;
 * anything slower lands in the last bucket (the exact maximum is kept apart). */
#define LOAD_HIST_TOP_BITS 26

#define LOAD_HIST_BUCKETS \
  (LOAD_HIST_LINEAR_US + (LOAD_HIST_TOP_BITS - LOAD_HIST_LINEAR_BITS) * LOAD_HIST_SUB)

struct load_histogram {
  uint64_t count;
  uint64_t min_ns;
  uint64_t max_ns;
  /* The sum allows the mean; 2^64 ns is 584 years of summed latency. */
  uint64_t sum_ns;
  uint64_t buckets[LOAD_HIST_BUCKETS];
};

void histogram_init(struct load_histogram *h);
void histogram_record(struct load_histogram *h, uint64_t ns);

/* The value at percentile p (0 < p <= 100) in nanoseconds: the smallest
 * recorded value such that at least p% of the samples are at or below it,
 * given to the resolution of its bucket (the bucket's midpoint, clamped to the
 * observed minimum and maximum). 0 when nothing was recorded. */
uint64_t histogram_percentile(const struct load_histogram *h, double p);

double histogram_mean_ns(const struct load_histogram *h);

/* Adds every sample of src into dst, exactly (the buckets are summed). */
void histogram_add(struct load_histogram *dst, const struct load_histogram *src);

/* The width of the bucket that holds ns, in nanoseconds: what the percentile
 * of a value of that size may be off by (tests and documentation use it). */
uint64_t histogram_resolution_ns(uint64_t ns);

#endif
