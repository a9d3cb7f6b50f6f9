/* alloccount.so: counts a process's heap allocations from outside it, so
 * that every client of the comparison (xfer-load, wrk, h2load, a libcurl
 * program) is counted the same way, whatever its own hooks.
 *
 *   LD_PRELOAD=build/perf/perf/alloccount.so ALLOCCOUNT_OUT=/tmp/n prog ...
 *
 * malloc, calloc, realloc, aligned_alloc, posix_memalign and memalign are
 * counted (free is not: an allocation is what costs), in every thread, with
 * one relaxed atomic add each, and the total is written to ALLOCCOUNT_OUT
 * (or stderr) when the process exits. Each call goes on to the next
 * definition (dlsym RTLD_NEXT): glibc's, or the program's own allocator
 * when it links one (h2load links jemalloc, and memory from one allocator
 * must never reach the other's free). dlsym itself may allocate before the
 * real functions are known; those few blocks come from a static arena that
 * free() recognises and ignores. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong count;

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static void *(*next_memalign)(size_t, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);

/* For dlsym's own needs while the functions above are being looked up. */
static _Alignas(16) char arena[16384];
static size_t arena_used;
static int resolving;

static void *arena_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (arena_used + n > sizeof arena)
    return NULL;
  void *p = arena + arena_used;
  arena_used += n;
  return p;
}

static int in_arena(const void *p) {
  return (const char *)p >= arena && (const char *)p < arena + sizeof arena;
}

static void resolve(void) {
  if (next_malloc || resolving)
    return;
  resolving = 1;
  next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
  next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
  next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
  next_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
  next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
  resolving = 0;
}

void *malloc(size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  resolve();
  return next_malloc ? next_malloc(n) : arena_alloc(n);
}

void *calloc(size_t a, size_t b) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  resolve();
  if (next_calloc)
    return next_calloc(a, b);
  if (b && a > SIZE_MAX / b)
    return NULL;
  return arena_alloc(a * b); /* static storage: already zero */
}

void *realloc(void *p, size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  resolve();
  if (p && in_arena(p)) {
    void *q = next_malloc ? next_malloc(n) : arena_alloc(n);
    size_t avail = (size_t)(arena + sizeof arena - (char *)p);
    if (q)
      memcpy(q, p, n < avail ? n : avail);
    return q;
  }
  return next_realloc ? next_realloc(p, n) : arena_alloc(n);
}

void free(void *p) {
  if (!p || in_arena(p))
    return;
  resolve();
  if (next_free)
    next_free(p);
}

void *memalign(size_t al, size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  resolve();
  return next_memalign ? next_memalign(al, n) : NULL;
}

int posix_memalign(void **out, size_t al, size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  resolve();
  return next_posix_memalign ? next_posix_memalign(out, al, n) : 12; /* ENOMEM */
}

void *aligned_alloc(size_t al, size_t n) { return memalign(al, n); }

__attribute__((destructor)) static void report(void) {
  unsigned long n = atomic_load(&count);
  const char *path = getenv("ALLOCCOUNT_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  fprintf(f ? f : stderr, "allocations %lu\n", n);
  if (f)
    fclose(f);
}
