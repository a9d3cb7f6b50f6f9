/* Every allocation of the library goes through these wrappers, so that
 * xfer_global_init_mem() can count allocations (the zero-allocation test) and
 * fail the Nth one (the out-of-memory tests). Nothing in runtime/, backends/
 * or tls/ calls malloc() and friends directly. */
#ifndef XFER_RUNTIME_ALLOC_H
#define XFER_RUNTIME_ALLOC_H

#include <stddef.h>

void *xfer__malloc(size_t size);
void *xfer__calloc(size_t nmemb, size_t size);
void *xfer__realloc(void *ptr, size_t size);
char *xfer__strdup(const char *s);
/* Copies exactly len bytes and adds a NUL; for strings that are not
 * NUL-terminated in their source (parser views). */
char *xfer__strndup(const char *s, size_t len);
void xfer__free(void *ptr);

/* Installs the hooks of xfer_global_init_mem(); the types are the public ones. */
#include "xfer/xfer.h"
void xfer__alloc_set(xfer_malloc_callback m, xfer_free_callback f, xfer_realloc_callback r,
                     xfer_strdup_callback s, xfer_calloc_callback c);
/* The hooks in force now: the TLS layer keeps the pair it started with, so
 * that the TLS libraries free with the allocator they allocated with. */
void xfer__alloc_get(xfer_malloc_callback *m, xfer_free_callback *f);

#endif
