/* What every fuzz harness shares: a reader that takes the harness's choices
 * (split points, sizes, flags) from the fuzzer's input, copies into
 * allocations of exactly the bytes handed over (so ASan sees any read past
 * them), and a check that aborts with a sentence, which libFuzzer and the
 * corpus replay both report as a failure.
 *
 * Each harness defines LLVMFuzzerTestOneInput(). Built with clang and
 * -fsanitize=fuzzer it is a libFuzzer target; built with replay.c it is a
 * plain program that runs every file of its corpus through the same
 * function, so the normal test suite replays the corpus with any compiler. */
#ifndef XFER_TESTS_FUZZ_H
#define XFER_TESTS_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The runtime's error space: negative errnos and the private codes. */
#include "runtime/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* The harness's view of its input: choices are taken from the front, one
 * byte or a little-endian word at a time; once the input is used up every
 * choice is 0, so any input is a valid one. */
struct fuzz_in {
  const uint8_t *p;
  size_t n;
};

static inline unsigned fuzz_u8(struct fuzz_in *in) {
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static inline unsigned fuzz_u16(struct fuzz_in *in) {
  unsigned lo = fuzz_u8(in);
  return lo | fuzz_u8(in) << 8;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in) {
  uint32_t lo = fuzz_u16(in);
  return lo | (uint32_t)fuzz_u16(in) << 16;
}

/* Up to max bytes of the input as a view (fewer when less is left). */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t max, size_t *got) {
  const uint8_t *p = in->p;
  *got = max < in->n ? max : in->n;
  in->p += *got;
  in->n -= *got;
  return p;
}

static inline void *fuzz_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  FUZZ_CHECK(p != NULL, "out of memory in the harness");
  return p;
}

static inline void *fuzz_xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  FUZZ_CHECK(p != NULL, "out of memory in the harness");
  return p;
}

/* A copy of src[0..n) in an allocation of exactly n bytes. */
static inline char *fuzz_exact_copy(const void *src, size_t n) {
  char *p = fuzz_xmalloc(n);
  if (n)
    memcpy(p, src, n);
  return p;
}

/* A copy of src[0..n) plus a NUL, in an allocation of exactly n + 1 bytes. */
static inline char *fuzz_cstr(const void *src, size_t n) {
  char *p = fuzz_xmalloc(n + 1);
  if (n)
    memcpy(p, src, n);
  p[n] = '\0';
  return p;
}

/* A growable byte string for the harnesses' own bookkeeping. */
struct fuzz_buf {
  char *p;
  size_t len, cap;
};

static inline void fuzz_buf_put(struct fuzz_buf *b, const void *s, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->p = fuzz_xrealloc(b->p, b->cap);
  }
  if (n)
    memcpy(b->p + b->len, s, n);
  b->len += n;
}

static inline void fuzz_buf_str(struct fuzz_buf *b, const char *s) {
  fuzz_buf_put(b, s, strlen(s));
}

/* Whether two byte strings are equal (memcmp must not see NULL, even for
 * zero bytes). */
static inline int fuzz_same(const void *a, size_t alen, const void *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static inline int fuzz_cmp_sort(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

/* Reads up to max split points into cuts (sorted, each in 0..len) and
 * returns how many there are. */
static inline size_t fuzz_cuts(struct fuzz_in *in, size_t len, size_t *cuts, size_t max) {
  size_t n = fuzz_u8(in) % (max + 1);
  for (size_t i = 0; i < n; i++)
    cuts[i] = len ? fuzz_u16(in) % (len + 1) : 0;
  qsort(cuts, n, sizeof *cuts, fuzz_cmp_sort);
  return n;
}

#endif
