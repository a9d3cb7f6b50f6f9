/* alloccount.so: counts a process's heap allocations from outside it, so
 * that every client of the comparison (xfer-load, wrk, h2load, a libcurl
 * program) is counted the same way, whatever its own hooks.
 *
 *   LD_PRELOAD=build/perf/perf/alloccount.so ALLOCCOUNT_OUT=/tmp/n prog ...
 *
 * malloc, calloc, realloc, aligned_alloc, posix_memalign and memalign are
 * counted (free is not: an allocation is what costs), in every thread, with
 * one relaxed atomic add each, and the total is written to ALLOCCOUNT_OUT
 * (or stderr) when the process exits. The real functions come from glibc's
 * __libc_* entry points, so there is no dlsym() bootstrap to get wrong. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong count;

void *malloc(size_t n)
{
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_realloc(p, n);
}

void *memalign(size_t al, size_t n)
{
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_memalign(al, n);
}

void *aligned_alloc(size_t al, size_t n)
{
  return memalign(al, n);
}

int posix_memalign(void **out, size_t al, size_t n)
{
  void *p = memalign(al, n);
  if (!p)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}

__attribute__((destructor)) static void report(void)
{
  const char *path = getenv("ALLOCCOUNT_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  unsigned long n = atomic_load(&count);
  fprintf(f ? f : stderr, "allocations %lu\n", n);
  if (f)
    fclose(f);
}
