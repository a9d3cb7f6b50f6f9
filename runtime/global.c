/* Process-wide set-up: the allocator hooks, the version string, xfer_free. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "xfer/xfer.h"
#include "../backends/backend.h"
#include "../tls/tls.h"

static int init_count;

xfer_code xfer_global_init(long flags) {
  (void)flags; /* TLS is always set up, as libcurl does whatever the flags */
  if (init_count++ == 0) {
    /* Starts the chosen TLS library now, with the allocator hooks just
     * installed, and makes the choice final (xfer_global_sslset is too
     * late from here, as curl_global_sslset after curl_global_init). A
     * library that fails to start fails the HTTPS transfers that need it,
     * each with the reason. */
    (void)xfer__tls_get(NULL);
  }
  return XFERE_OK;
}

xfer_code xfer_global_init_mem(xfer_malloc_callback m, xfer_free_callback f,
                               xfer_realloc_callback r, xfer_strdup_callback s,
                               xfer_calloc_callback c) {
  if (!m || !f || !r || !s || !c)
    return XFERE_FAILED_INIT;
  /* As libcurl: the hooks only take effect on the first init, before any
   * handle exists, so nothing allocated by one allocator is freed by
   * another. */
  if (init_count)
    return XFERE_OK;
  xfer__alloc_set(m, f, r, s, c);
  return xfer_global_init(XFER_GLOBAL_DEFAULT);
}

void xfer_global_cleanup(void) {
  if (init_count > 0 && --init_count == 0) {
    xfer__tls_global_cleanup();
    xfer__alloc_set(malloc, free, realloc, strdup, calloc);
  }
}

static char version[160];

static void make_version(void) {
  snprintf(version, sizeof version, "xfer/" XFER_VERSION_TEXT " (backends: %s; TLS: %s)",
           xfer__backend_list(), xfer__tls_list());
}

const char *xfer_version(void) {
  /* Any thread may ask first: build the string exactly once. */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_version);
  return version;
}

void xfer_free(void *p) { xfer__free(p); }
