/* The runtime's one clock: monotonic microseconds. Read once per loop turn
 * where possible (libcurl spends ~30 clock reads per request; we want 2). */
#ifndef XFER_RUNTIME_CLOCK_H
#define XFER_RUNTIME_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t xfer__now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
