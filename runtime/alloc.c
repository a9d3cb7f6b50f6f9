/* The allocator hooks of xfer_global_init_mem(). They are process-wide and
 * set before any other call, as in libcurl; reading them needs no lock. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "xfer/xfer.h"

static xfer_malloc_callback hook_malloc = malloc;
static xfer_free_callback hook_free = free;
static xfer_realloc_callback hook_realloc = realloc;
static xfer_strdup_callback hook_strdup = strdup;
static xfer_calloc_callback hook_calloc = calloc;

void xfer__alloc_set(xfer_malloc_callback m, xfer_free_callback f, xfer_realloc_callback r,
                     xfer_strdup_callback s, xfer_calloc_callback c) {
  hook_malloc = m;
  hook_free = f;
  hook_realloc = r;
  hook_strdup = s;
  hook_calloc = c;
}

void xfer__alloc_get(xfer_malloc_callback *m, xfer_free_callback *f) {
  *m = hook_malloc;
  *f = hook_free;
}

void *xfer__malloc(size_t size) { return hook_malloc(size); }

void *xfer__calloc(size_t nmemb, size_t size) { return hook_calloc(nmemb, size); }

void *xfer__realloc(void *ptr, size_t size) { return hook_realloc(ptr, size); }

char *xfer__strdup(const char *s) { return hook_strdup(s); }

char *xfer__strndup(const char *s, size_t len) {
  char *p = hook_malloc(len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}

void xfer__free(void *ptr) {
  if (ptr)
    hook_free(ptr);
}
