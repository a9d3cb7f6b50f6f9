/* Log-linear latency histogram; see histogram.h for the bucket layout. */
#include "histogram.h"

#include <string.h>

#define NS_PER_US UINT64_C(1000)

/* The bucket index of a value in microseconds. */
static unsigned bucket_of(uint64_t us) {
  if (us < LOAD_HIST_LINEAR_US)
    return (unsigned)us;
  unsigned top = 63u - (unsigned)__builtin_clzll(us);
  if (top >= LOAD_HIST_TOP_BITS)
    return LOAD_HIST_BUCKETS - 1;
  /* Within the power-of-two range [2^top, 2^(top+1)) the next SUB_BITS bits
   * below the leading one choose the sub-bucket. */
  unsigned sub = (unsigned)((us >> (top - LOAD_HIST_SUB_BITS)) & (LOAD_HIST_SUB - 1));
  return (unsigned)LOAD_HIST_LINEAR_US + (top - LOAD_HIST_LINEAR_BITS) * (unsigned)LOAD_HIST_SUB +
         sub;
}

/* The first microsecond value of bucket b, and its width in microseconds. */
static void bucket_range(unsigned b, uint64_t *lo_us, uint64_t *width_us) {
  if (b < LOAD_HIST_LINEAR_US) {
    *lo_us = b;
    *width_us = 1;
    return;
  }
  unsigned rel = b - (unsigned)LOAD_HIST_LINEAR_US;
  unsigned top = LOAD_HIST_LINEAR_BITS + rel / (unsigned)LOAD_HIST_SUB;
  uint64_t sub = rel % LOAD_HIST_SUB;
  *width_us = UINT64_C(1) << (top - LOAD_HIST_SUB_BITS);
  *lo_us = (UINT64_C(1) << top) + sub * *width_us;
}

void histogram_init(struct load_histogram *h) {
  memset(h, 0, sizeof *h);
  h->min_ns = UINT64_MAX;
}

void histogram_record(struct load_histogram *h, uint64_t ns) {
  h->buckets[bucket_of(ns / NS_PER_US)]++;
  h->count++;
  h->sum_ns += ns;
  if (ns < h->min_ns)
    h->min_ns = ns;
  if (ns > h->max_ns)
    h->max_ns = ns;
}

uint64_t histogram_percentile(const struct load_histogram *h, double p) {
  if (h->count == 0)
    return 0;
  if (p >= 100.0)
    return h->max_ns;
  /* The rank is rounded up so that p50 of {1, 2} is 1 and p99.9 of 1000
   * samples is the 999th, as with the usual nearest-rank definition. A
   * percentage such as 99.9 has no exact binary form, so the product can come
   * out a few ulps above a whole number; shaving a relative 1e-12 off first
   * keeps such a rank from being rounded up one too far. */
  double want = p * (double)h->count / 100.0 * (1.0 - 1e-12);
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want)
    rank++;
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (unsigned b = 0; b < LOAD_HIST_BUCKETS; b++) {
    seen += h->buckets[b];
    if (seen >= rank) {
      uint64_t lo_us, width_us;
      bucket_range(b, &lo_us, &width_us);
      uint64_t mid = lo_us * NS_PER_US + width_us * NS_PER_US / 2;
      if (mid < h->min_ns)
        mid = h->min_ns;
      if (mid > h->max_ns)
        mid = h->max_ns;
      return mid;
    }
  }
  return h->max_ns;
}

double histogram_mean_ns(const struct load_histogram *h) {
  return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}

uint64_t histogram_resolution_ns(uint64_t ns) {
  uint64_t lo_us, width_us;
  bucket_range(bucket_of(ns / NS_PER_US), &lo_us, &width_us);
  return width_us * NS_PER_US;
}

void histogram_add(struct load_histogram *dst, const struct load_histogram *src) {
  if (src->count == 0)
    return;
  if (dst->count == 0 || src->min_ns < dst->min_ns)
    dst->min_ns = src->min_ns;
  if (src->max_ns > dst->max_ns)
    dst->max_ns = src->max_ns;
  dst->count += src->count;
  dst->sum_ns += src->sum_ns;
  for (unsigned b = 0; b < LOAD_HIST_BUCKETS; b++)
    dst->buckets[b] += src->buckets[b];
}
