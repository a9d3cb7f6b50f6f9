/* ThreadSanitizer and Criterion. Criterion (through BoxFort) maps its
 * inheritable arena with MAP_FIXED at 0x2000_0000_0000 + (rand_r() & 0x3fffff)
 * * 16 MiB, which nearly always lands in memory TSan reserves for itself, and
 * the runner aborts with "Could not initialize inheritable arena" before any
 * test starts (Snaipe/Criterion issue #274). Under TSan only, this rand_r()
 * overrides libc's and keeps its results in [0x350000, 0x368000), which puts
 * the arena in 0x5500_0000_0000..0x5680_0000_0000, the application range of
 * TSan's x86_64 layout that the span reaches. It is still a pseudo-random
 * generator over the caller's seed, so any other caller keeps working.
 * Compiled into every test program (tests/CMakeLists.txt), so each gets it. */
#include <stdlib.h>

#if defined(__SANITIZE_THREAD__)
#define XFER_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XFER_TEST_TSAN 1
#endif
#endif

#if defined(XFER_TEST_TSAN) && defined(__x86_64__)
int rand_r(unsigned int *seed) {
  /* The LCG of the C standard's sample rand(). */
  *seed = *seed * 1103515245u + 12345u;
  return (int)(0x350000u + (*seed >> 8) % 0x18000u);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int xfer_tsan_criterion_unused;
#endif
